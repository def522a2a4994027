//! KEDA (`keda.sh`): ScaledObject and ScaledJob.
//!
//! KEDA reports `Ready`, `Active`, `Fallback` and `Paused` conditions. A ScaledObject is
//! Degraded when not ready or when it runs on its fallback replicas (the scaler is failing);
//! Suspended when ready but paused (`autoscaling.keda.sh/paused*` annotations). A ScaledJob is
//! Degraded when `Ready` is False or Unknown. The message is that of the last condition that
//! counted.

use serde_json::Value;

use super::support::{HealthStatusCodeExt as _, status_conds};
use crate::status::{HealthStatus, HealthStatusCode};

fn assess(obj: &Value, job: bool) -> HealthStatus {
    let (mut healthy, mut degraded, mut paused) = (false, false, false);
    let mut message = "";
    for c in status_conds(obj) {
        let counted = if c.is("Ready", "False") || (job && c.is("Ready", "Unknown")) {
            degraded = true;
            true
        } else if c.is("Ready", "True") {
            healthy = true;
            true
        } else if c.is("Paused", "True") {
            paused = true;
            true
        } else if !job && c.is("Fallback", "True") {
            degraded = true;
            true
        } else {
            false
        };
        if counted {
            message = c.msg();
        }
    }
    if degraded {
        return HealthStatus::degraded(message);
    }
    if healthy {
        let code = if paused {
            HealthStatusCode::Suspended
        } else {
            HealthStatusCode::Healthy
        };
        return code.with(message);
    }
    HealthStatus::progressing(if job {
        "Waiting for ScaledJob"
    } else {
        "Creating HorizontalPodAutoscaler Object"
    })
}

/// Health of a ScaledObject.
pub fn scaled_object(obj: &Value) -> HealthStatus {
    assess(obj, false)
}

/// Health of a ScaledJob.
pub fn scaled_job(obj: &Value) -> HealthStatus {
    assess(obj, true)
}

/// The rule for a KEDA kind, if there is one.
pub fn rule(kind: &str, obj: &Value) -> Option<HealthStatus> {
    Some(match kind {
        "ScaledObject" => scaled_object(obj),
        "ScaledJob" => scaled_job(obj),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paused_is_suspended_and_fallback_degraded() {
        let paused = json!({"status": {"conditions": [
            {"type": "Ready", "status": "True", "message": "ready"},
            {"type": "Paused", "status": "True", "message": "paused by annotation"}]}});
        assert_eq!(
            scaled_object(&paused),
            HealthStatus::suspended("paused by annotation")
        );
        let fallback = json!({"status": {"conditions": [
            {"type": "Ready", "status": "True", "message": "ready"},
            {"type": "Fallback", "status": "True", "message": "using fallback"}]}});
        assert_eq!(
            scaled_object(&fallback),
            HealthStatus::degraded("using fallback")
        );
        let unknown = json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown", "message": "?"}]}});
        assert_eq!(scaled_job(&unknown), HealthStatus::degraded("?"));
    }
}
