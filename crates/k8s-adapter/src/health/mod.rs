//! Health assessment of live objects, as ArgoCD assesses them.
//!
//! [`health_of`] assesses one live object with Strata's built-in rules; a [`HealthRegistry`] adds
//! user rules (Rust closures or ArgoCD-compatible Lua scripts) by group/kind; [`aggregate`]
//! computes an application's health from its resources.

pub mod aggregate;
pub mod object;
pub mod registry;
pub mod rules;
pub mod status;

use serde_json::Value;

pub use aggregate::{AggregateHealth, ResourceHealth, aggregate_health};
pub use registry::{HealthRegistry, HealthRule, HealthRuleError};
pub use status::{HealthStatus, HealthStatusCode};

/// Finalizer ArgoCD puts on hooks; a hook being deleted keeps its own health.
pub const HOOK_FINALIZER: &str = "argocd.argoproj.io/hook-finalizer";

/// The health of one live object with the built-in rules, or `None` when Strata has no check for
/// its kind (ConfigMap, Secret, an Argo Application…).
///
/// Order, as ArgoCD's `GetResourceHealth`: an object being deleted (and not a hook) is Progressing
/// "Pending deletion"; then the rule for its group/kind; then the conventional `Ready`-condition
/// fallback for custom resources.
pub fn health_of(obj: &Value) -> Option<HealthStatus> {
    HealthRegistry::builtin().assess(obj)
}

/// The "Pending deletion" health of an object being deleted, if it is (hooks excepted).
pub fn pending_deletion(obj: &Value) -> Option<HealthStatus> {
    let deleting = object::at(obj, &["metadata", "deletionTimestamp"]).is_some();
    (deleting && !object::has_finalizer(obj, HOOK_FINALIZER))
        .then(|| HealthStatus::progressing("Pending deletion"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deletion_comes_first_except_for_hooks() {
        let deleting = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}, "status": {"phase": "Failed"}});
        assert_eq!(
            health_of(&deleting),
            Some(HealthStatus::progressing("Pending deletion"))
        );
        let hook = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {
            "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": [HOOK_FINALIZER]}, "status": {"phase": "Succeeded"}});
        assert_eq!(
            health_of(&hook).map(|h| h.status),
            Some(HealthStatusCode::Healthy)
        );
    }

    #[test]
    fn custom_resources_with_ready_condition_are_assessed() {
        let claim = json!({"apiVersion": "platform.example.org/v1alpha1", "kind": "PostgresInstance",
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Available"}]}});
        assert_eq!(
            health_of(&claim).map(|h| h.status),
            Some(HealthStatusCode::Healthy)
        );
        let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap"});
        assert_eq!(health_of(&config_map), None);
    }
}
