//! A fallback for custom resources that follow the Kubernetes condition conventions
//! (`Ready`, `Synced`, `Stalled`), such as Crossplane claims and composites in user groups.
//!
//! ArgoCD reports no health for such resources unless a check is configured; Strata assesses them
//! when they carry a `Ready` condition, and reports no health otherwise.

use serde_json::Value;

use crate::status::HealthStatus;
use strata_core::object::{condition, conditions};

/// Health from conventional conditions, or `None` when the object has no `Ready` condition.
pub fn ready_condition(obj: &Value) -> Option<HealthStatus> {
    let ready = condition(obj, "Ready")?;
    if let Some(failing) = conditions(obj)
        .find(|c| (c.kind == "Synced" && c.is_false()) || (c.kind == "Stalled" && c.is_true()))
    {
        return Some(HealthStatus::degraded(failing.message));
    }
    let message = if ready.message.is_empty() {
        ready.reason
    } else {
        ready.message
    };
    Some(match ready.status {
        "True" => HealthStatus::healthy(message),
        "False" if is_failure_reason(ready.reason) => HealthStatus::degraded(message),
        _ => HealthStatus::progressing(message),
    })
}

fn is_failure_reason(reason: &str) -> bool {
    ["Error", "Failed", "Failure"]
        .iter()
        .any(|suffix| reason.ends_with(suffix))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::HealthStatusCode;
    use serde_json::json;

    #[test]
    fn claims_follow_ready_and_synced() {
        let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Available"}]}});
        assert_eq!(
            ready_condition(&ready),
            Some(HealthStatus::healthy("Available"))
        );
        let creating = json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Creating"}]}});
        assert_eq!(
            ready_condition(&creating).map(|h| h.status),
            Some(HealthStatusCode::Progressing)
        );
        let failing = json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "ReconcileError", "message": "denied"}]}});
        assert_eq!(
            ready_condition(&failing),
            Some(HealthStatus::degraded("denied"))
        );
        let unsynced = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "False", "message": "cannot compose"}]}});
        assert_eq!(
            ready_condition(&unsynced),
            Some(HealthStatus::degraded("cannot compose"))
        );
        assert_eq!(ready_condition(&json!({"status": {}})), None);
    }
}
