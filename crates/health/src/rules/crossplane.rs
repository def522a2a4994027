//! Crossplane and Upbound resources (managed resources, claims, composites, providers,
//! provider configs), with the rules of ArgoCD's bundled `*.crossplane.io` and `*.upbound.io`
//! checks and its `pkg.crossplane.io/Provider` check.

use serde_json::Value;

use crate::status::HealthStatus;
use strata_core::object::{array_at, at, conditions, status_is_empty, str_at};

const UP_TO_DATE: &str = "Resource is up-to-date.";
const PROVISIONING: &str = "Provisioning ...";

const CROSSPLANE_NO_STATUS_KINDS: [&str; 7] = [
    "Composition",
    "CompositionRevision",
    "DeploymentRuntimeConfig",
    "ClusterProviderConfig",
    "ProviderConfig",
    "ProviderConfigUsage",
    "ControllerConfig",
];
const CROSSPLANE_HEALTHY_TYPES: [&str; 6] = [
    "Ready",
    "Healthy",
    "Offered",
    "Established",
    "ValidPipeline",
    "RevisionHealthy",
];
const UPBOUND_NO_STATUS_KINDS: [&str; 3] = [
    "ClusterProviderConfig",
    "ProviderConfig",
    "ProviderConfigUsage",
];

/// True for groups ArgoCD's `_.crossplane.io/_` check covers.
pub fn is_crossplane_group(group: &str) -> bool {
    group.ends_with(".crossplane.io")
}

/// True for groups ArgoCD's `_.upbound.io/_` check covers.
pub fn is_upbound_group(group: &str) -> bool {
    group.ends_with(".upbound.io")
}

/// Health of any `*.crossplane.io` resource.
pub fn crossplane(obj: &Value) -> HealthStatus {
    wildcard(obj, &CROSSPLANE_NO_STATUS_KINDS, &CROSSPLANE_HEALTHY_TYPES)
}

/// Health of any `*.upbound.io` resource (only `Ready` marks it healthy).
pub fn upbound(obj: &Value) -> HealthStatus {
    wildcard(obj, &UPBOUND_NO_STATUS_KINDS, &["Ready"])
}

fn wildcard(obj: &Value, no_status_kinds: &[&str], healthy_types: &[&str]) -> HealthStatus {
    let kind = str_at(obj, &["kind"]).unwrap_or("");
    // As in the bundled check (Lua operator precedence): no status at all is always healthy; an
    // empty status only for kinds that never have one.
    if at(obj, &["status"]).is_none() || (status_is_empty(obj) && no_status_kinds.contains(&kind)) {
        return HealthStatus::healthy(UP_TO_DATE);
    }
    if status_is_empty(obj) || at(obj, &["status", "conditions"]).is_none() {
        let is_provider_config = kind == "ProviderConfig" || kind == "ClusterProviderConfig";
        if is_provider_config && at(obj, &["status", "users"]).is_some() {
            return HealthStatus::healthy("Resource is in use.");
        }
        return HealthStatus::progressing(PROVISIONING);
    }
    let mut health = HealthStatus::progressing(PROVISIONING);
    for c in conditions(obj) {
        if (c.kind == "LastAsyncOperation" || c.kind == "Synced") && c.is_false() {
            return HealthStatus::degraded(c.message);
        }
        if healthy_types.contains(&c.kind) && c.is_true() {
            health = HealthStatus::healthy(UP_TO_DATE);
        }
    }
    health
}

/// Health of a `pkg.crossplane.io` Provider: installed and healthy, with both reasons.
pub fn provider(obj: &Value) -> HealthStatus {
    if let Some(pending) = pending_deletion(obj) {
        return pending;
    }
    if at(obj, &["status", "conditions"]).is_none() {
        return HealthStatus::progressing("Waiting for provider to be installed");
    }
    let mut installed = (false, "");
    let mut healthy = (false, "");
    for c in conditions(obj) {
        match c.kind {
            "Installed" => installed = (c.is_true(), c.reason),
            "Healthy" => healthy = (c.is_true(), c.reason),
            _ => {}
        }
    }
    let message = format!("{} {}", installed.1, healthy.1);
    if installed.0 && healthy.0 {
        HealthStatus::healthy(message)
    } else {
        HealthStatus::degraded(message)
    }
}

/// The bundled checks' deletion block: Progressing "Pending deletion", naming blocking finalizers.
pub fn pending_deletion(obj: &Value) -> Option<HealthStatus> {
    at(obj, &["metadata", "deletionTimestamp"])?;
    let finalizers: Vec<&str> = array_at(obj, &["metadata", "finalizers"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    Some(if finalizers.is_empty() {
        HealthStatus::progressing("Pending deletion")
    } else {
        HealthStatus::progressing(format!(
            "Pending deletion; blocked by finalizers: {}",
            finalizers.join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::HealthStatusCode;
    use serde_json::json;

    #[test]
    fn any_object_without_status_is_healthy() {
        assert_eq!(
            crossplane(&json!({"kind": "Bucket"})),
            HealthStatus::healthy(UP_TO_DATE)
        );
    }

    #[test]
    fn empty_status_is_provisioning_for_kinds_with_status() {
        let obj = json!({"kind": "Bucket", "status": {}});
        assert_eq!(crossplane(&obj), HealthStatus::progressing(PROVISIONING));
        let pc = json!({"kind": "ProviderConfig", "status": {"users": 2}});
        assert_eq!(upbound(&pc), HealthStatus::healthy("Resource is in use."));
    }

    #[test]
    fn later_synced_false_overrides_ready() {
        let obj = json!({"kind": "Bucket", "status": {"conditions": [
            {"type": "Ready", "status": "True"}, {"type": "Synced", "status": "False", "message": "boom"}]}});
        assert_eq!(upbound(&obj), HealthStatus::degraded("boom"));
        let not_ready = json!({"kind": "Bucket", "status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        assert_eq!(crossplane(&not_ready).status, HealthStatusCode::Progressing);
    }

    #[test]
    fn provider_deletion_names_finalizers() {
        let obj = json!({"metadata": {"deletionTimestamp": "2025-01-01T00:00:00Z", "finalizers": ["a", "b"]}});
        assert_eq!(
            provider(&obj).message,
            "Pending deletion; blocked by finalizers: a, b"
        );
    }
}
