//! An Application's sync policy, as the child set carries it.

use serde_json::Value;

/// `spec.syncPolicy` and `spec.ignoreDifferences` of an Application.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SyncPolicy {
    /// `syncPolicy.automated` is set.
    pub automated: bool,
    /// `automated.prune`: resources removed from Git are deleted.
    pub prune: bool,
    /// `automated.selfHeal`: changes made outside Git are reverted.
    pub self_heal: bool,
    /// `CreateNamespace=true`: the destination namespace is created with the set.
    pub create_namespace: bool,
    /// Every entry of `syncPolicy.syncOptions`, as written.
    pub options: Vec<String>,
    /// `spec.ignoreDifferences`, as written.
    pub ignore_differences: Vec<Value>,
    /// `syncPolicy.retry`, as written.
    pub retry: Option<Value>,
}

impl SyncPolicy {
    /// Reads the policy of an Application manifest.
    pub fn of(app: &Value) -> Self {
        let spec = app.get("spec").unwrap_or(&Value::Null);
        let sp = spec.get("syncPolicy").unwrap_or(&Value::Null);
        let automated = sp.get("automated").filter(|v| !v.is_null());
        let flag = |k: &str| {
            automated
                .and_then(|a| a.get(k))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let options: Vec<String> = sp
            .get("syncOptions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        SyncPolicy {
            automated: automated.is_some(),
            prune: flag("prune"),
            self_heal: flag("selfHeal"),
            create_namespace: options
                .iter()
                .any(|o| o.replace(' ', "") == "CreateNamespace=true"),
            ignore_differences: spec
                .get("ignoreDifferences")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            retry: sp.get("retry").filter(|v| !v.is_null()).cloned(),
            options,
        }
    }

    /// Whether a sync option is set (`Prune=false`, `ServerSideApply=true`, …).
    pub fn has_option(&self, option: &str) -> bool {
        self.options.iter().any(|o| o.replace(' ', "") == option)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_automated_options_retry_and_ignores() {
        let p = SyncPolicy::of(&json!({"spec": {
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true},
                           "syncOptions": ["CreateNamespace=true", "ServerSideApply=true"],
                           "retry": {"limit": 5}},
            "ignoreDifferences": [{"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}]}}));
        assert!(p.automated && p.prune && p.self_heal && p.create_namespace);
        assert!(p.has_option("ServerSideApply=true"));
        assert_eq!(p.retry, Some(json!({"limit": 5})));
        assert_eq!(p.ignore_differences.len(), 1);
        let manual = SyncPolicy::of(&json!({"spec": {}}));
        assert!(!manual.automated && !manual.prune && !manual.create_namespace);
    }
}
