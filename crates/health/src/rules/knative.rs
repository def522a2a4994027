//! Knative: `serving.knative.dev` Service, and the operator's `KnativeServing` and
//! `KnativeEventing` (`operator.knative.dev`).
//!
//! A Knative Service is Healthy when `ConfigurationsReady`, `RoutesReady` and `Ready` are all
//! True; any False condition degrades it, Unknown ones keep it Progressing, and the message lists
//! the conditions that are not True. The operator's kinds are Healthy when their install
//! conditions are all True.

use serde_json::Value;

use super::support::{degraded, has_conditions, healthy, progressing, status_conds};
use crate::status::HealthStatus;

/// Health of a serving.knative.dev Service.
pub fn service(obj: &Value) -> HealthStatus {
    if !has_conditions(obj) {
        return progressing("Waiting for status update.");
    }
    let (mut ready, mut failed, mut waiting) = (0, 0, 0);
    let mut message = String::new();
    for c in status_conds(obj) {
        let status = c.status.unwrap_or("");
        let kind = c.kind.unwrap_or("");
        if status == "True" && matches!(kind, "ConfigurationsReady" | "RoutesReady" | "Ready") {
            ready += 1;
        } else if status == "False" || status == "Unknown" {
            message.push_str(&format!("{kind} is {status}"));
            if let Some(reason) = c.reason.filter(|r| !r.is_empty()) {
                message.push_str(&format!(", since {reason}."));
            }
            if let Some(text) = c.message.filter(|m| !m.is_empty()) {
                message.push_str(&format!(" {text}"));
            }
            message.push('\n');
            if status == "False" {
                failed += 1;
            } else {
                waiting += 1;
            }
        }
    }
    if ready == 3 && failed == 0 && waiting == 0 {
        return healthy("Knative Service is healthy.");
    }
    if failed > 0 {
        return degraded(message);
    }
    progressing(message)
}

/// Health of a KnativeServing or KnativeEventing: Healthy when all its install conditions are
/// True; Progressing while any is False or Unknown (the message lists every condition).
pub fn operator(obj: &Value, kind: &str) -> HealthStatus {
    let serving = kind == "KnativeServing";
    if !has_conditions(obj) {
        return progressing(format!("Waiting for {kind}"));
    }
    let (mut ready, mut failing) = (0, 0);
    let mut message = String::new();
    for (i, c) in status_conds(obj).enumerate() {
        let kind = c.kind.unwrap_or("");
        let status = c.status.unwrap_or("");
        message.push_str(&format!("{}: {kind} | {status}\n", i + 1));
        let counts_true = match kind {
            "Ready" | "InstallSucceeded" => true,
            "DependenciesInstalled" | "DeploymentsAvailable" => serving,
            _ => false,
        };
        let counts_false = match kind {
            "Ready" => true,
            "DeploymentsAvailable" => serving,
            _ => false,
        };
        if counts_true && status == "True" {
            ready += 1;
        } else if (counts_false && status == "False") || status == "Unknown" {
            failing += 1;
        }
    }
    let needed = if serving { 4 } else { 2 };
    if failing > 0 {
        return progressing(message);
    }
    if ready == needed {
        return healthy(format!("{kind} is healthy."));
    }
    degraded(message)
}

/// The rule for a Knative kind, if there is one.
pub fn rule(group: &str, kind: &str, obj: &Value) -> Option<HealthStatus> {
    Some(match (group, kind) {
        ("serving.knative.dev", "Service") => service(obj),
        ("operator.knative.dev", "KnativeServing" | "KnativeEventing") => operator(obj, kind),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn service_lists_failing_conditions() {
        let obj = json!({"status": {"conditions": [
            {"type": "ConfigurationsReady", "status": "False", "reason": "RevisionFailed", "message": "boom"},
            {"type": "Ready", "status": "Unknown"}]}});
        assert_eq!(
            service(&obj),
            HealthStatus::degraded(
                "ConfigurationsReady is False, since RevisionFailed. boom\nReady is Unknown\n"
            )
        );
    }
}
