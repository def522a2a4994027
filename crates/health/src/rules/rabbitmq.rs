//! RabbitMQ cluster and topology operators (`rabbitmq.com`): RabbitmqCluster and the topology
//! kinds (Exchange, Queue, Binding, Policy, User, Permission, Vhost, Shovel, Federation…).
//!
//! The topology operator sets `Ready=True` with reason `SuccessfulCreateOrUpdate` once the
//! object exists in RabbitMQ and `Ready=False` with `FailedCreateOrUpdate` when it could not be
//! written. A cluster is Healthy when `ClusterAvailable` and `AllReplicasReady` are True;
//! `ReconcileSuccess=False` degrades it.

use serde_json::Value;

use super::support::{degraded, healthy, progressing, status_conds, unknown};
use crate::status::HealthStatus;

/// Health of a topology object; `noun` names it in messages (`exchange`, `queue`…).
pub fn topology(obj: &Value, noun: &str) -> HealthStatus {
    for c in status_conds(obj).filter(|c| c.is_type("Ready")) {
        if c.status == Some("True") && c.reason == Some("SuccessfulCreateOrUpdate") {
            return healthy(format!("RabbitMQ {noun} ready"));
        }
        if c.status == Some("False") && c.reason == Some("FailedCreateOrUpdate") {
            return degraded(format!("RabbitMQ {noun} failed to be created or updated"));
        }
    }
    unknown(format!("RabbitMQ {noun} status is unknown"))
}

/// Health of a RabbitmqCluster.
pub fn cluster(obj: &Value) -> HealthStatus {
    if super::support::has_conditions(obj) {
        let mut available = None;
        let mut replicas = None;
        for c in status_conds(obj) {
            if c.is("ReconcileSuccess", "False") {
                return degraded(c.msg());
            }
            if c.is_type("ClusterAvailable") {
                available = c.status;
            }
            if c.is_type("AllReplicasReady") {
                replicas = c.status;
            }
        }
        if available == Some("Unknown") || replicas == Some("Unknown") {
            return progressing("Waiting for RabbitMQ cluster readiness (conditions unknown)");
        }
        if available == Some("False") {
            return progressing("Waiting for RabbitMQ cluster formation");
        }
        if replicas == Some("False") {
            return progressing("Waiting for RabbitMQ instances ready");
        }
        if available == Some("True") && replicas == Some("True") {
            return healthy("RabbitMQ cluster ready");
        }
    }
    progressing("Waiting for RabbitMQ Operator")
}

/// The rule for a RabbitMQ kind, if there is one.
pub fn rule(kind: &str, obj: &Value) -> Option<HealthStatus> {
    Some(match kind {
        "RabbitmqCluster" => cluster(obj),
        "Exchange" | "Queue" | "Binding" | "Policy" | "OperatorPolicy" | "User" | "Permission"
        | "TopicPermission" | "Vhost" | "Shovel" | "Federation" | "SchemaReplication"
        | "SuperStream" => {
            let noun = match kind {
                "OperatorPolicy" => "operator policy".to_string(),
                "TopicPermission" => "topic permission".to_string(),
                "SchemaReplication" => "schema replication".to_string(),
                "SuperStream" => "super stream".to_string(),
                other => other.to_lowercase(),
            };
            topology(obj, &noun)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::HealthStatusCode;
    use serde_json::json;

    #[test]
    fn topology_and_cluster() {
        let obj = json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "FailedCreateOrUpdate"}]}});
        assert_eq!(
            topology(&obj, "queue"),
            HealthStatus::degraded("RabbitMQ queue failed to be created or updated")
        );
        assert_eq!(
            rule("Exchange", &json!({})).map(|h| h.status),
            Some(HealthStatusCode::Unknown)
        );
        let forming =
            json!({"status": {"conditions": [{"type": "ClusterAvailable", "status": "False"}]}});
        assert_eq!(
            cluster(&forming),
            HealthStatus::progressing("Waiting for RabbitMQ cluster formation")
        );
    }
}
