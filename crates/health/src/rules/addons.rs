//! Kubernetes kinds ArgoCD assesses with bundled checks: CustomResourceDefinition and
//! PodDisruptionBudget.

use serde_json::Value;

use crate::rules::crossplane::pending_deletion;
use crate::status::HealthStatus;
use strata_core::object::{array_at, at, conditions};

/// Health of an apiextensions.k8s.io CustomResourceDefinition.
///
/// Conditions are read in order and the first decisive one wins: Terminating, names not
/// accepted, a non-structural schema, or Established=False while installing.
pub fn custom_resource_definition(obj: &Value) -> HealthStatus {
    if at(obj, &["metadata", "deletionTimestamp"]).is_some() {
        return HealthStatus::progressing("CRD is terminating");
    }
    if array_at(obj, &["status", "conditions"]).is_empty() {
        return HealthStatus::progressing("Status conditions not found");
    }
    let mut established = false;
    for c in conditions(obj) {
        match (c.kind, c.status) {
            ("Terminating", "True") => {
                return HealthStatus::progressing(format!("CRD is terminating: {}", c.message));
            }
            ("NamesAccepted", "False") => {
                return HealthStatus::degraded(format!(
                    "CRD names have not been accepted: {}",
                    c.message
                ));
            }
            ("NonStructuralSchema", "True") => {
                return HealthStatus::degraded(format!("Schema violations found: {}", c.message));
            }
            ("Established", "True") => established = true,
            ("Established", _) if c.reason == "Installing" => {
                return HealthStatus::progressing("CRD is being installed");
            }
            _ => {}
        }
    }
    if established {
        HealthStatus::healthy("CRD is healthy")
    } else {
        HealthStatus::degraded("CRD is not established")
    }
}

/// Health of a policy PodDisruptionBudget (InsufficientPods is not a failure, argo-cd#20171).
pub fn pod_disruption_budget(obj: &Value) -> HealthStatus {
    if let Some(pending) = pending_deletion(obj) {
        return pending;
    }
    let mut health = HealthStatus::progressing("Waiting for status");
    for c in conditions(obj) {
        let message = format!("PodDisruptionBudget has {}", c.reason);
        if c.is_false() && c.reason != "InsufficientPods" {
            return HealthStatus::degraded(message);
        }
        health = HealthStatus::healthy(message);
    }
    health
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::HealthStatusCode;
    use serde_json::json;

    #[test]
    fn crd_with_violations_is_degraded() {
        let obj = json!({"status": {"conditions": [
            {"type": "Established", "status": "True", "message": "ok"},
            {"type": "NonStructuralSchema", "status": "True", "message": "bad schema"}]}});
        assert_eq!(
            custom_resource_definition(&obj),
            HealthStatus::degraded("Schema violations found: bad schema")
        );
        assert_eq!(
            custom_resource_definition(&json!({})).message,
            "Status conditions not found"
        );
    }

    #[test]
    fn pdb_insufficient_pods_is_healthy() {
        let obj = json!({"status": {"conditions": [{"type": "DisruptionAllowed", "status": "False", "reason": "InsufficientPods"}]}});
        assert_eq!(
            pod_disruption_budget(&obj),
            HealthStatus::healthy("PodDisruptionBudget has InsufficientPods")
        );
        let other = json!({"status": {"conditions": [{"type": "DisruptionAllowed", "status": "False", "reason": "SyncFailed"}]}});
        assert_eq!(
            pod_disruption_budget(&other).status,
            HealthStatusCode::Degraded
        );
    }
}
