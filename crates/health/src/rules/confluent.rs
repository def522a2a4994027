//! Confluent for Kubernetes (`platform.confluent.io`): Kafka, Connect, Connector,
//! SchemaRegistry, KsqlDB, ControlCenter, Zookeeper and KRaftController.
//!
//! The platform components report `status.phase` (`PROVISIONING`, then `RUNNING`); a Connector
//! reports its own `state` and `connectorState`, and the number of failed tasks.

use serde_json::Value;

use super::support::{Cond, degraded, get, healthy, list, num, progressing, text};
use crate::status::HealthStatus;

/// Health of a platform component, from `status.phase`.
pub fn component(obj: &Value, kind: &str) -> HealthStatus {
    match text(obj, &["status", "phase"]) {
        Some("RUNNING") => healthy(format!("{kind} running")),
        Some("PROVISIONING") => progressing(format!("{kind} provisioning")),
        _ => progressing(format!("Waiting for {kind}")),
    }
}

/// Health of a Connector.
pub fn connector(obj: &Value) -> HealthStatus {
    if let Some(state) = text(obj, &["status", "state"]) {
        let failed_tasks = get(obj, &["status", "failedTasksCount"]);
        if state == "CREATED"
            && text(obj, &["status", "connectorState"]) == Some("RUNNING")
            && failed_tasks.is_none()
        {
            return healthy("Connector running");
        }
        if state == "ERROR" {
            return degraded(
                list(obj, &["status", "conditions"])
                    .first()
                    .map_or("No conditions available", |c| Cond::of(c).msg()),
            );
        }
        if num(obj, &["status", "failedTasksCount"]).is_some_and(|n| n > 0.0) {
            return degraded("Connector has failed tasks");
        }
    }
    progressing("Waiting for Kafka Connector")
}

/// The rule for a Confluent kind, if there is one.
pub fn rule(kind: &str, obj: &Value) -> Option<HealthStatus> {
    Some(match kind {
        "Connector" => connector(obj),
        "Kafka" | "Connect" | "SchemaRegistry" | "KsqlDB" | "ControlCenter" | "Zookeeper"
        | "KRaftController" | "KafkaRestProxy" => component(obj, kind),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn connector_states() {
        let obj = json!({"status": {"state": "ERROR", "conditions": [{"message": "task failed"}]}});
        assert_eq!(connector(&obj), HealthStatus::degraded("task failed"));
        assert_eq!(
            component(&json!({"status": {"phase": "RUNNING"}}), "Kafka"),
            HealthStatus::healthy("Kafka running")
        );
    }
}
