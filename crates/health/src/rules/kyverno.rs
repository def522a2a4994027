//! Kyverno (`kyverno.io`): Policy and ClusterPolicy.
//!
//! Kyverno marks a policy ready for admission with a `Ready` condition (reason `Succeeded`,
//! message `Ready`); Kyverno 1.6–1.8 used a `status.ready` boolean instead.

use serde_json::Value;

use super::support::{has_conditions, healthy, is_true, progressing, status_conds};
use crate::status::HealthStatus;

/// Health of a Policy or ClusterPolicy.
pub fn policy(obj: &Value, kind: &str) -> HealthStatus {
    let ready = status_conds(obj).any(|c| {
        c.is("Ready", "True") && c.reason == Some("Succeeded") && c.message == Some("Ready")
    });
    if ready || (!has_conditions(obj) && is_true(obj, &["status", "ready"])) {
        return healthy(format!("{kind} is ready"));
    }
    progressing(format!("Waiting for {kind} to be ready"))
}

/// The rule for a Kyverno kind, if there is one.
pub fn rule(kind: &str, obj: &Value) -> Option<HealthStatus> {
    matches!(kind, "Policy" | "ClusterPolicy").then(|| policy(obj, kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::HealthStatusCode;
    use serde_json::json;

    #[test]
    fn ready_condition() {
        let obj = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "Ready"}]}});
        assert_eq!(
            policy(&obj, "ClusterPolicy"),
            HealthStatus::healthy("ClusterPolicy is ready")
        );
        assert_eq!(
            policy(&json!({"status": {"ready": true}}), "Policy").status,
            HealthStatusCode::Healthy
        );
        assert_eq!(
            policy(&json!({}), "Policy"),
            HealthStatus::progressing("Waiting for Policy to be ready")
        );
    }
}
