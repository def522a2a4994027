//! Ownership: every resource has exactly one manager.
//!
//! Strata marks what it applies with `app.kubernetes.io/managed-by: strata` and
//! `strata.dev/stack: <stack>`. A live object is Strata's to change when the state records it,
//! or when it carries those labels for this stack. Anything else (another stack, Helm, ArgoCD,
//! Crossplane, Terraform, or no marker at all) is only touched when adopted explicitly.

pub mod terraform;

use serde_json::{Map, Value};

use crate::model::{LABEL_MANAGED_BY, LABEL_STACK, MANAGED_BY_STRATA, annotation, label};

/// Who manages a live object, as far as its markers tell.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Manager {
    /// This stack.
    ThisStack,
    /// Another Strata stack.
    OtherStack(String),
    /// Another tool, named by its marker.
    OtherTool(String),
    /// No marker: an object created by hand or by an unknown tool.
    Unmanaged,
}

impl std::fmt::Display for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Manager::ThisStack => f.write_str("this stack"),
            Manager::OtherStack(s) => write!(f, "Strata stack `{s}`"),
            Manager::OtherTool(t) => f.write_str(t),
            Manager::Unmanaged => f.write_str("nobody (created outside Strata)"),
        }
    }
}

/// Reads the manager of a live object from its labels and annotations.
pub fn manager_of(live: &Value, stack: &str) -> Manager {
    match label(live, LABEL_MANAGED_BY) {
        Some(MANAGED_BY_STRATA) => match label(live, LABEL_STACK) {
            Some(s) if s == stack => Manager::ThisStack,
            Some(s) => Manager::OtherStack(s.to_owned()),
            None => Manager::OtherStack("(unnamed)".to_owned()),
        },
        Some(other) => Manager::OtherTool(format!("{other} (label {LABEL_MANAGED_BY})")),
        None => {
            if annotation(live, "argocd.argoproj.io/tracking-id").is_some()
                || label(live, "app.kubernetes.io/instance").is_some()
            {
                Manager::OtherTool("ArgoCD".to_owned())
            } else if annotation(live, "crossplane.io/composition-resource-name").is_some()
                || label(live, "crossplane.io/composite").is_some()
            {
                Manager::OtherTool("Crossplane".to_owned())
            } else if annotation(live, "meta.helm.sh/release-name").is_some() {
                Manager::OtherTool("Helm".to_owned())
            } else {
                Manager::Unmanaged
            }
        }
    }
}

/// Returns a manifest with Strata's ownership labels for `stack` added.
pub fn stamp(manifest: &Value, stack: &str) -> Value {
    let mut out = manifest.clone();
    stamp_in_place(&mut out, stack);
    out
}

/// Adds Strata's ownership labels for `stack` to a manifest.
pub fn stamp_in_place(manifest: &mut Value, stack: &str) {
    if let Some(object) = manifest.as_object_mut() {
        let metadata = object
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(metadata) = metadata.as_object_mut() {
            if !metadata.contains_key("labels") {
                // Rebuilt with room for one more entry: inserting into a full map would
                // double its room, and a large stack holds one such map per resource.
                let mut grown = Map::with_capacity(metadata.len() + 1);
                grown.extend(std::mem::take(metadata));
                grown.insert("labels".to_owned(), Value::Object(Map::with_capacity(2)));
                *metadata = grown;
            }
            let labels = metadata
                .entry("labels")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(labels) = labels.as_object_mut() {
                labels.insert(
                    LABEL_MANAGED_BY.to_owned(),
                    Value::String(MANAGED_BY_STRATA.to_owned()),
                );
                labels.insert(LABEL_STACK.to_owned(), Value::String(stack.to_owned()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stamped_objects_belong_to_their_stack() {
        let m = stamp(&json!({"metadata": {"name": "a"}}), "prod");
        assert_eq!(manager_of(&m, "prod"), Manager::ThisStack);
        assert_eq!(manager_of(&m, "dev"), Manager::OtherStack("prod".into()));
        assert_eq!(
            manager_of(&json!({"metadata": {}}), "prod"),
            Manager::Unmanaged
        );
        let helm = json!({"metadata": {"labels": {"app.kubernetes.io/managed-by": "Helm"}}});
        assert!(matches!(manager_of(&helm, "prod"), Manager::OtherTool(_)));
    }
}
