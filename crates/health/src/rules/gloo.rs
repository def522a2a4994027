//! Gloo Edge (`gateway.solo.io`, `gloo.solo.io`): every Gloo resource reports a validation
//! `state` (`Pending`/0, `Accepted`/1, `Rejected`/2, `Warning`/3), per watching namespace under
//! `status.statuses` or, in older versions, directly in `status`.

use serde_json::Value;

use super::support::{degraded, get, healthy, progressing, suspended, text_or_empty};
use crate::status::{HealthStatus, HealthStatusCode};

fn state_is(status: &Value, name: &str, number: u64) -> bool {
    match status.get("state") {
        Some(Value::String(s)) => s == name,
        Some(Value::Number(n)) => n.as_f64() == Some(number as f64),
        _ => false,
    }
}

fn assess_state(status: &Value) -> Option<HealthStatus> {
    let reason = || text_or_empty(status, &["reason"]);
    if state_is(status, "Accepted", 1) {
        return Some(healthy("The resource has been validated"));
    }
    if state_is(status, "Warning", 3) || state_is(status, "Rejected", 2) {
        return Some(degraded(reason()));
    }
    if state_is(status, "Pending", 0) {
        return Some(suspended("The resource has not yet been validated"));
    }
    None
}

/// Health of a Gloo resource: the first namespace whose state is not in progress decides.
pub fn resource(obj: &Value) -> HealthStatus {
    let mut health = progressing("Update in progress");
    if let Some(Value::Object(statuses)) = get(obj, &["status", "statuses"]) {
        for status in statuses.values() {
            if let Some(assessed) = assess_state(status) {
                health = assessed;
            }
            if health.status != HealthStatusCode::Progressing {
                return health;
            }
        }
    }
    if let Some(status) = get(obj, &["status"])
        && get(status, &["state"]).is_some()
        && let Some(assessed) = assess_state(status)
    {
        health = assessed;
    }
    health
}

/// The rule for a Gloo kind, if there is one.
pub fn rule(group: &str, kind: &str, obj: &Value) -> Option<HealthStatus> {
    let known = match group {
        "gateway.solo.io" => matches!(
            kind,
            "Gateway"
                | "MatchableHttpGateway"
                | "MatchableTcpGateway"
                | "RouteTable"
                | "VirtualService"
                | "RouteOption"
                | "VirtualHostOption"
        ),
        "gloo.solo.io" => matches!(kind, "Settings" | "Upstream" | "UpstreamGroup" | "Proxy"),
        _ => false,
    };
    known.then(|| resource(obj))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn namespaced_and_legacy_states() {
        let obj = json!({"status": {"statuses": {"gloo-system": {"state": "Rejected", "reason": "bad route"}}}});
        assert_eq!(resource(&obj), HealthStatus::degraded("bad route"));
        assert_eq!(
            resource(&json!({"status": {"state": 1}})),
            HealthStatus::healthy("The resource has been validated")
        );
        assert_eq!(
            resource(&json!({"status": {"state": 0}})).status,
            HealthStatusCode::Suspended
        );
    }
}
