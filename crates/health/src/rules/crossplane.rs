//! Crossplane and Upbound resources (managed resources, claims, composites, providers,
//! provider configs), with the rules of ArgoCD's bundled `*.crossplane.io` and `*.upbound.io`
//! checks, its `pkg.crossplane.io/Provider` check, the checks of the classic AWS provider's
//! kinds (`Ready` and `Synced`, with `ReconcilePaused` as Suspended) and the v0 stacks.

use serde_json::Value;

use super::support::{Cond, list, status_conds};
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

/// The kinds of the classic AWS provider (`*.aws.crossplane.io`) that ArgoCD checks with
/// `Ready`/`Synced` and the name its messages use for them.
pub fn aws_kind_name(group: &str, kind: &str) -> Option<&'static str> {
    Some(match (group, kind) {
        ("iam.aws.crossplane.io", "Role") => "Role",
        ("iam.aws.crossplane.io", "Policy") => "Policy",
        ("iam.aws.crossplane.io", "RolePolicyAttachment") => "RolePolicyAttachment",
        ("rds.aws.crossplane.io", "DBCluster") => "DBCluster",
        ("rds.aws.crossplane.io", "DBInstance") => "DBInstance",
        ("route53.aws.crossplane.io", "ResourceRecordSet") => "resourcrecordset",
        ("s3.aws.crossplane.io", "Bucket") => "Bucket",
        ("cloudfront.aws.crossplane.io", "Distribution") => "distribution",
        _ => return None,
    })
}

/// Health of a classic AWS provider managed resource: Ready and Synced is Healthy (with the
/// Ready reason); Synced=False with `ReconcilePaused` is Suspended; Synced but not Ready is
/// Progressing; anything else is Degraded with the `ReconcileError` message.
pub fn aws_managed(obj: &Value, name: &str) -> HealthStatus {
    if at(obj, &["status", "conditions"]).is_none() {
        return HealthStatus::progressing(format!("Waiting for {name} to be created"));
    }
    let (mut ready, mut synced, mut paused) = (false, false, false);
    let (mut ready_message, mut synced_message, mut paused_message) = ("", "", "");
    for c in status_conds(obj) {
        match c.kind {
            Some("Ready") => {
                ready = c.status == Some("True");
                ready_message = c.reason();
            }
            Some("Synced") => {
                synced = c.status == Some("True");
                match c.reason {
                    Some("ReconcileError") => synced_message = c.msg(),
                    Some("ReconcilePaused") => {
                        paused = true;
                        paused_message = c.reason();
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if ready && synced {
        HealthStatus::healthy(ready_message)
    } else if !synced && paused {
        HealthStatus::suspended(paused_message)
    } else if !ready && synced && !paused {
        HealthStatus::progressing(format!("Waiting for {name} to be available"))
    } else {
        HealthStatus::degraded(synced_message)
    }
}

/// Health of a Crossplane v0 `stacks.crossplane.io` stack install: its `Ready` condition under
/// `status.conditionedStatus`.
pub fn stack_install(obj: &Value) -> HealthStatus {
    let mut message = "Waiting for stack to be installed";
    for c in list(obj, &["status", "conditionedStatus", "conditions"])
        .iter()
        .map(Cond::of)
    {
        if c.is_type("Ready") {
            message = c.reason();
            if c.status == Some("True") {
                return HealthStatus::healthy(message);
            }
        }
    }
    HealthStatus::progressing(message)
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
