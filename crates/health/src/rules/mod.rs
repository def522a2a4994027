//! Strata's built-in health rules, one module per ecosystem.
//!
//! [`bundled`] covers the kinds ArgoCD assesses with the Lua scripts it ships (re-implemented in
//! Rust from each project's documented status semantics, and checked against ArgoCD's own test
//! cases) and a few kinds of the same ecosystems ArgoCD has no check for (Velero, Kyverno
//! ClusterPolicy, Prometheus-operator workloads besides Prometheus…); [`core`](fn@core) the kinds
//! gitops-engine assesses in Go; [`builtin`] tries them in ArgoCD's order (bundled first).
//!
//! Within [`bundled`], a rule for the exact group and kind comes before a rule for a wildcard
//! group (`*.crossplane.io`, `*.upbound.io`, `*.services.k8s.aws`, `*.cnrm.cloud.google.com`),
//! as ArgoCD looks up its scripts.

pub mod addons;
pub mod argo;
pub mod autoscaling;
pub mod batch;
pub mod certmanager;
pub mod cluster_api;
pub mod confluent;
pub mod core;
pub mod crossplane;
pub mod databases;
pub mod elastic;
pub mod external_secrets;
pub mod flux;
pub mod gateway_api;
pub mod generic;
pub mod gloo;
pub mod grafana;
pub mod istio;
pub mod karpenter;
pub mod keda;
pub mod knative;
pub mod kruise;
pub mod kubevirt;
pub mod kyverno;
pub mod numaflow;
pub mod openshift;
pub mod operators;
pub mod others;
pub mod pod;
pub mod prometheus;
pub mod promoter;
pub mod rabbitmq;
pub mod rook;
pub mod sealed_secrets;
pub mod strimzi;
pub mod support;
pub mod threescale;
pub mod velero;
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

/// The rules ArgoCD ships as Lua scripts (and their ecosystems' other kinds), by exact
/// group/kind first, then by wildcard group.
pub fn bundled(gvk: Gvk<'_>, obj: &Value) -> Option<HealthStatus> {
    let (group, kind) = (gvk.group, gvk.kind);
    let exact = match group {
        "batch" if kind == "CronJob" => Some(batch::cron_job(obj)),
        "policy" if kind == "PodDisruptionBudget" => Some(addons::pod_disruption_budget(obj)),
        "apiextensions.k8s.io" if kind == "CustomResourceDefinition" => {
            Some(addons::custom_resource_definition(obj))
        }
        "argoproj.io" => match kind {
            "Rollout" => Some(argo::rollout(obj)),
            "AnalysisRun" => argo::analysis_run(obj),
            "Experiment" => argo::experiment(obj),
            "ApplicationSet" => Some(argo::application_set(obj)),
            "CronWorkflow" => Some(argo::cron_workflow(obj)),
            "EventBus" => Some(argo::event_bus(obj)),
            "EventSource" | "Sensor" => Some(argo::event_source_or_sensor(obj)),
            _ => None,
        },
        "promoter.argoproj.io" => promoter::rule(kind, obj),
        "cert-manager.io" | "certmanager.k8s.io" => certmanager::rule(group, kind, obj),
        "external-secrets.io" | "kubernetes-client.io" => external_secrets::rule(group, kind, obj),
        "bitnami.com" => sealed_secrets::rule(kind, obj),
        "keda.sh" => keda::rule(kind, obj),
        "kyverno.io" => kyverno::rule(kind, obj),
        "velero.io" => velero::rule(kind, obj),
        "monitoring.coreos.com" => prometheus::rule(kind, obj),
        "kafka.strimzi.io" => strimzi::rule(kind, obj),
        "gateway.networking.k8s.io" => gateway_api::rule(kind, obj),
        "microgateway.airlock.com" => Some(gateway_api::ancestor_policy(obj)),
        "rabbitmq.com" => rabbitmq::rule(kind, obj),
        "platform.confluent.io" => confluent::rule(kind, obj),
        "capabilities.3scale.net" => threescale::capability(obj, kind),
        "apps.3scale.net" => threescale::apps_rule(kind, obj),
        "apps.openshift.io"
        | "route.openshift.io"
        | "operator.openshift.io"
        | "operators.coreos.com"
        | "ocs.openshift.io" => openshift::rule(group, kind, obj),
        "pkg.crossplane.io" if kind == "Provider" => Some(crossplane::provider(obj)),
        "stacks.crossplane.io" if kind == "ClusterStackInstall" => {
            Some(crossplane::stack_install(obj))
        }
        _ => None,
    };
    if exact.is_some() {
        return exact;
    }
    if let Some(name) = crossplane::aws_kind_name(group, kind) {
        return Some(crossplane::aws_managed(obj, name));
    }
    let by_ecosystem = flux::rule(group, kind, obj)
        .or_else(|| cluster_api::rule(group, kind, obj))
        .or_else(|| karpenter::rule(group, kind, obj))
        .or_else(|| istio::rule(group, kind, obj))
        .or_else(|| knative::rule(group, kind, obj))
        .or_else(|| kruise::rule(group, kind, obj))
        .or_else(|| numaflow::rule(group, kind, obj))
        .or_else(|| gloo::rule(group, kind, obj))
        .or_else(|| elastic::rule(group, kind, obj))
        .or_else(|| databases::rule(group, kind, obj))
        .or_else(|| rook::rule(group, kind, obj))
        .or_else(|| grafana::rule(group, kind, obj))
        .or_else(|| kubevirt::rule(group, kind, obj))
        .or_else(|| others::rule(group, kind, obj))
        .or_else(|| operators::rule(group, kind, obj));
    if by_ecosystem.is_some() {
        return by_ecosystem;
    }
    if crossplane::is_crossplane_group(group) {
        return Some(crossplane::crossplane(obj));
    }
    if crossplane::is_upbound_group(group) {
        return Some(crossplane::upbound(obj));
    }
    None
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
