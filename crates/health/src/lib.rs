//! Health assessment of live objects, mirroring ArgoCD's health checks (`gitops-engine`'s
//! built-in rules and `argocd-cm` Lua customizations). Pure: usable without a cluster.
//!
//! [`health_of`] assesses one live object with Strata's built-in rules; a [`HealthRegistry`] adds
//! user rules (Rust closures or ArgoCD-compatible Lua scripts, see [`lua`]) by group/kind;
//! [`aggregate`] computes an application's health from its resources.
//!
//! ```
//! use serde_json::json;
//! use strata_health::{HealthRegistry, HealthStatusCode, health_of};
//!
//! let deployment = json!({
//!     "apiVersion": "apps/v1", "kind": "Deployment",
//!     "metadata": {"name": "web", "generation": 2},
//!     "spec": {"replicas": 3},
//!     "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1},
//! });
//! let health = health_of(&deployment).expect("Deployments have a check");
//! assert_eq!(health.status, HealthStatusCode::Progressing);
//! assert_eq!(health.message, "Waiting for rollout to finish: 1 out of 3 new replicas have been updated...");
//!
//! // A user rule in ArgoCD's Lua dialect, without recompiling.
//! let mut registry = HealthRegistry::new();
//! registry.add_argocd_health_entry(
//!     "resource.customizations.health.example.org_Widget",
//!     r#"hs = {}
//!        if obj.status ~= nil and obj.status.ready then
//!          hs.status = "Healthy"; hs.message = "widget is ready"
//!        else
//!          hs.status = "Progressing"; hs.message = "waiting for widget"
//!        end
//!        return hs"#,
//! )?;
//! let widget = json!({"apiVersion": "example.org/v1", "kind": "Widget", "status": {"ready": true}});
//! assert_eq!(registry.assess(&widget).map(|h| h.message), Some("widget is ready".to_string()));
//! # Ok::<(), strata_health::lua::LuaHealthError>(())
//! ```

pub mod aggregate;
pub mod customizations;
pub mod lua;
pub use strata_core::object;
pub mod registry;
pub mod rules;
pub mod status;

use serde_json::Value;

pub use aggregate::{AggregateHealth, ResourceHealth, aggregate_health};
pub use customizations::{CustomizationError, Loaded};
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
