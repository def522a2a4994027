//! Istio: `install.istio.io` IstioOperator.
//!
//! The operator reports the control plane's state in `status.status`, as the enum name or its
//! number: NONE (0), UPDATING (1), RECONCILING (2), HEALTHY (3), ERROR (4).

use serde_json::Value;

use super::support::{degraded, get, healthy, progressing, unknown};
use crate::status::HealthStatus;

/// Health of an IstioOperator.
pub fn istio_operator(obj: &Value) -> HealthStatus {
    let state = get(obj, &["status", "status"]);
    let is = |number: u64, name: &str| match state {
        Some(Value::Number(n)) => n.as_f64() == Some(number as f64),
        Some(Value::String(s)) => s == name,
        _ => false,
    };
    if is(0, "NONE") {
        return unknown("Component is not present.");
    }
    if is(1, "UPDATING") {
        return progressing("Component is being updated to a different version.");
    }
    if is(2, "RECONCILING") {
        return progressing(
            "Controller has started but not yet completed reconciliation loop for the component.",
        );
    }
    if is(3, "HEALTHY") {
        return healthy("Component is healthy.");
    }
    if is(4, "ERROR") {
        return degraded("Component is in an error state.");
    }
    progressing("Waiting for Istio Control Plane")
}

/// The rule for an Istio kind, if there is one.
pub fn rule(group: &str, kind: &str, obj: &Value) -> Option<HealthStatus> {
    match (group, kind) {
        ("install.istio.io", "IstioOperator") => Some(istio_operator(obj)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::HealthStatusCode;
    use serde_json::json;

    #[test]
    fn numbers_and_names() {
        assert_eq!(
            istio_operator(&json!({"status": {"status": 3}})).status,
            HealthStatusCode::Healthy
        );
        assert_eq!(
            istio_operator(&json!({"status": {"status": "ERROR"}})).status,
            HealthStatusCode::Degraded
        );
        assert_eq!(
            istio_operator(&json!({})).status,
            HealthStatusCode::Progressing
        );
    }
}
