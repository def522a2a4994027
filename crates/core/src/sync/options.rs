//! `argocd.argoproj.io/sync-options` on a resource.

use serde_json::Value;

use crate::sync::hooks::annotation_csv;

/// Per-resource sync options annotation (comma-separated `Key=value`).
pub const SYNC_OPTIONS_ANNOTATION: &str = "argocd.argoproj.io/sync-options";

/// True when the object's sync options contain exactly `option` (for example `PruneLast=true`).
pub fn has_sync_option(obj: &Value, option: &str) -> bool {
    annotation_csv(obj, SYNC_OPTIONS_ANNOTATION).contains(&option)
}

/// The value of `key=` in the object's sync options.
pub fn sync_option_value<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    annotation_csv(obj, SYNC_OPTIONS_ANNOTATION)
        .into_iter()
        .find_map(|item| item.strip_prefix(key)?.strip_prefix('='))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_options() {
        let obj = json!({"metadata": {"annotations": {SYNC_OPTIONS_ANNOTATION: "Prune=false, PruneLast=true"}}});
        assert!(has_sync_option(&obj, "PruneLast=true"));
        assert_eq!(sync_option_value(&obj, "Prune"), Some("false"));
        assert_eq!(sync_option_value(&obj, "Replace"), None);
    }
}
