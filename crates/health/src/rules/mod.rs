//! Strata's built-in health rules, one module per family of kinds.
//!
//! [`bundled`] covers the kinds ArgoCD assesses with Lua scripts it ships (re-implemented in
//! Rust), [`core`](fn@core) the kinds gitops-engine assesses in Go; [`builtin`] tries them in
//! ArgoCD's order (bundled first).

pub mod addons;
pub mod argo;
pub mod autoscaling;
pub mod batch;
pub mod core;
pub mod crossplane;
pub mod generic;
pub mod pod;
pub mod workloads;

use serde_json::Value;

use crate::status::HealthStatus;
use strata_core::object::Gvk;

/// The built-in health of an object: the bundled rule for its group/kind, else gitops-engine's
/// built-in check, else `None` (no health). The `deletionTimestamp` check is not applied here.
pub fn builtin(obj: &Value) -> Option<HealthStatus> {
    let gvk = Gvk::of(obj);
    bundled(gvk, obj).or_else(|| core(gvk, obj))
}

/// The rules ArgoCD ships as Lua scripts, by exact group/kind first, then by wildcard group.
pub fn bundled(gvk: Gvk<'_>, obj: &Value) -> Option<HealthStatus> {
    let health = match (gvk.group, gvk.kind) {
        ("batch", "CronJob") => batch::cron_job(obj),
        ("policy", "PodDisruptionBudget") => addons::pod_disruption_budget(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            addons::custom_resource_definition(obj)
        }
        ("argoproj.io", "Rollout") => argo::rollout(obj),
        ("argoproj.io", "ApplicationSet") => argo::application_set(obj),
        ("pkg.crossplane.io", "Provider") => crossplane::provider(obj),
        ("cert-manager.io", "Certificate") => addons::certificate(obj),
        ("cert-manager.io", kind @ ("Issuer" | "ClusterIssuer")) => addons::issuer(obj, kind),
        (
            "external-secrets.io",
            kind @ ("ExternalSecret"
            | "SecretStore"
            | "ClusterSecretStore"
            | "PushSecret"
            | "ClusterExternalSecret"),
        ) => addons::external_secrets(obj, kind),
        (group, _) if crossplane::is_crossplane_group(group) => crossplane::crossplane(obj),
        (group, _) if crossplane::is_upbound_group(group) => crossplane::upbound(obj),
        _ => return None,
    };
    Some(health)
}

/// gitops-engine's Go built-in checks. Only the versions gitops-engine decodes are supported; any
/// other version of a checked kind is Unknown "unsupported … GVK".
pub fn core(gvk: Gvk<'_>, obj: &Value) -> Option<HealthStatus> {
    let supported = |versions: &[&str], check: fn(&Value) -> HealthStatus| {
        if versions.contains(&gvk.version) {
            check(obj)
        } else {
            HealthStatus::unknown(format!(
                "unsupported {} GVK: {}/{}, Kind={}",
                gvk.kind, gvk.group, gvk.version, gvk.kind
            ))
        }
    };
    let health = match (gvk.group, gvk.kind) {
        ("apps", "Deployment") => supported(&["v1"], workloads::deployment),
        ("apps", "StatefulSet") => supported(&["v1"], workloads::stateful_set),
        ("apps", "ReplicaSet") => supported(&["v1"], workloads::replica_set),
        ("apps", "DaemonSet") => supported(&["v1"], workloads::daemon_set),
        ("extensions" | "networking.k8s.io", "Ingress") => core::ingress(obj),
        ("argoproj.io", "Workflow") => argo::workflow(obj),
        ("apiregistration.k8s.io", "APIService") => {
            supported(&["v1", "v1beta1"], autoscaling::api_service)
        }
        ("", "Service") => supported(&["v1"], core::service),
        ("", "PersistentVolumeClaim") => supported(&["v1"], core::persistent_volume_claim),
        ("", "Pod") => supported(&["v1"], pod::pod),
        ("batch", "Job") => supported(&["v1"], batch::job),
        // v2beta1/v2beta2 are assessed like v2, as the standalone gitops-engine does.
        ("autoscaling", "HorizontalPodAutoscaler") if gvk.version == "v1" => {
            autoscaling::hpa_v1(obj)
        }
        ("autoscaling", "HorizontalPodAutoscaler") => {
            supported(&["v2", "v2beta1", "v2beta2"], autoscaling::hpa_v2)
        }
        _ => return None,
    };
    Some(health)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::HealthStatusCode;
    use serde_json::json;

    #[test]
    fn unsupported_versions_are_unknown() {
        let obj = json!({"apiVersion": "apps/v1beta2", "kind": "Deployment"});
        let health = builtin(&obj).expect("Deployment has a check");
        assert_eq!(health.status, HealthStatusCode::Unknown);
        assert_eq!(
            health.message,
            "unsupported Deployment GVK: apps/v1beta2, Kind=Deployment"
        );
    }

    #[test]
    fn kinds_without_checks_have_no_health() {
        assert_eq!(
            builtin(&json!({"apiVersion": "v1", "kind": "ConfigMap"})),
            None
        );
        assert_eq!(
            builtin(&json!({"apiVersion": "example.org/v1", "kind": "Widget"})),
            None
        );
    }

    #[test]
    fn specific_provider_rule_beats_crossplane_wildcard() {
        let obj = json!({"apiVersion": "pkg.crossplane.io/v1", "kind": "Provider", "status": {"conditions": [
            {"type": "Installed", "status": "True", "reason": "ActivePackageRevision"},
            {"type": "Healthy", "status": "True", "reason": "HealthyPackageRevision"}]}});
        assert_eq!(
            builtin(&obj),
            Some(HealthStatus::healthy(
                "ActivePackageRevision HealthyPackageRevision"
            ))
        );
    }
}
