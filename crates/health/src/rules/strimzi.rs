//! Strimzi (`kafka.strimzi.io`): Kafka, KafkaConnect, KafkaTopic, KafkaUser, KafkaBridge,
//! KafkaConnector and KafkaMirrorMaker2.
//!
//! Every Strimzi custom resource reports a `Ready` condition when reconciled and a `NotReady`
//! condition when reconciliation failed (for a Kafka cluster, reason `Creating` is the normal
//! first deployment and is not a failure).

use serde_json::Value;

use super::support::{degraded, healthy, progressing, status_conds};
use crate::status::HealthStatus;

/// Health of a Strimzi resource; `waiting` is the message while it is not reconciled yet.
pub fn resource(obj: &Value, kind: &str) -> HealthStatus {
    for c in status_conds(obj) {
        if c.is("NotReady", "True") && !(kind == "Kafka" && c.reason == Some("Creating")) {
            return degraded(c.msg());
        }
        if c.is("Ready", "True") {
            return healthy("");
        }
    }
    progressing(match kind {
        "Kafka" => "Waiting for Kafka Cluster".to_string(),
        "KafkaConnect" => "Waiting for Kafka Connect".to_string(),
        "KafkaTopic" => "Waiting for Kafka Topic".to_string(),
        "KafkaUser" => "Waiting for Kafka User".to_string(),
        other => format!("Waiting for {other}"),
    })
}

/// The rule for a Strimzi kind, if there is one.
pub fn rule(kind: &str, obj: &Value) -> Option<HealthStatus> {
    match kind {
        "Kafka" | "KafkaConnect" | "KafkaTopic" | "KafkaUser" | "KafkaBridge"
        | "KafkaConnector" | "KafkaMirrorMaker2" => Some(resource(obj, kind)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn creating_kafka_is_not_a_failure() {
        let obj = json!({"status": {"conditions": [{"type": "NotReady", "status": "True", "reason": "Creating", "message": "creating"}]}});
        assert_eq!(
            resource(&obj, "Kafka"),
            HealthStatus::progressing("Waiting for Kafka Cluster")
        );
        assert_eq!(
            resource(&obj, "KafkaTopic"),
            HealthStatus::degraded("creating")
        );
    }
}
