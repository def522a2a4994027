//! Prometheus operator (`monitoring.coreos.com`): Prometheus, PrometheusAgent, Alertmanager and
//! ThanosRuler.
//!
//! The operator reports an `Available` condition on each of these workloads: True when every
//! replica is available, False with reason `SomePodsNotReady` while a rollout or scale-up is under
//! way (Progressing) and False with another reason when they are not (`NoPodReady`, Degraded).
//! The last `Available` condition in the list decides, as in ArgoCD's check.

use serde_json::Value;

use super::support::{degraded, healthy, progressing, status_conds};
use crate::status::HealthStatus;

/// Health of a Prometheus-operator workload.
pub fn workload(obj: &Value) -> HealthStatus {
    let mut health = progressing("Waiting for initialization");
    for c in status_conds(obj) {
        if !c.is_type("Available") {
            continue;
        }
        if c.status == Some("True") {
            health = healthy("All instances are available");
        } else {
            let message = c.message.or(c.reason).unwrap_or("");
            health = if c.reason == Some("SomePodsNotReady") {
                progressing(message)
            } else {
                degraded(message)
            };
        }
    }
    health
}

/// The rule for a Prometheus-operator kind, if there is one.
pub fn rule(kind: &str, obj: &Value) -> Option<HealthStatus> {
    match kind {
        "Prometheus" | "PrometheusAgent" | "Alertmanager" | "ThanosRuler" => Some(workload(obj)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::HealthStatusCode;
    use serde_json::json;

    #[test]
    fn some_pods_not_ready_is_progressing() {
        let obj = json!({"status": {"conditions": [{"type": "Available", "status": "False", "reason": "SomePodsNotReady", "message": "1/2"}]}});
        assert_eq!(workload(&obj), HealthStatus::progressing("1/2"));
        let down = json!({"status": {"conditions": [{"type": "Available", "status": "False", "reason": "NoPodReady"}]}});
        assert_eq!(workload(&down), HealthStatus::degraded("NoPodReady"));
        assert_eq!(workload(&json!({})).status, HealthStatusCode::Progressing);
    }
}
