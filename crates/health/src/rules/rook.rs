//! Rook (`ceph.rook.io` CephCluster and CephObjectStore, `cassandra.rook.io` Cluster) and the
//! object bucket provisioner (`objectbucket.io` ObjectBucketClaim).

use serde_json::Value;

use super::support::{get, has_status, healthy, progressing, text};
use crate::status::{HealthStatus, HealthStatusCode};

/// Health of a CephCluster: Ceph's own health (`HEALTH_OK`, `HEALTH_WARN`, `HEALTH_ERR`, with
/// the details' messages), then the cluster state, then the status message.
pub fn ceph_cluster(obj: &Value) -> HealthStatus {
    let mut status = HealthStatusCode::Progressing;
    let mut message = String::new();
    let append = |message: &mut String, part: &str| {
        if part.is_empty() {
            return;
        }
        if !message.is_empty() {
            message.push_str(" - ");
        }
        message.push_str(part);
    };
    if !has_status(obj) {
        append(&mut message, "Waiting for status to be reported");
        return HealthStatus::new(status, message);
    }
    if let Some(health) = text(obj, &["status", "ceph", "health"]) {
        let mut details = String::new();
        if let Some(Value::Object(map)) = get(obj, &["status", "ceph", "details"]) {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<&str> = keys
                .iter()
                .filter_map(|k| map[k.as_str()].get("message").and_then(Value::as_str))
                .collect();
            if !parts.is_empty() {
                details = format!(" ({})", parts.join("; "));
            }
        }
        status = match health {
            "HEALTH_ERR" | "HEALTH_WARN" => HealthStatusCode::Degraded,
            "HEALTH_OK" => HealthStatusCode::Healthy,
            _ => status,
        };
        append(&mut message, &format!("Ceph health is {health}{details}"));
    }
    if let Some(state) = text(obj, &["status", "state"])
        && status == HealthStatusCode::Healthy
    {
        append(&mut message, &format!("Ceph cluster state is {state}"));
        status = match state {
            "Created" | "Connected" => HealthStatusCode::Healthy,
            "Error" => HealthStatusCode::Degraded,
            _ => HealthStatusCode::Progressing,
        };
    }
    if let Some(extra) = text(obj, &["status", "message"]) {
        append(&mut message, extra);
    }
    HealthStatus::new(status, message)
}

/// Health of a CephObjectStore, from its phase (with the endpoint when known).
pub fn ceph_object_store(obj: &Value) -> HealthStatus {
    if !has_status(obj) {
        return progressing("Waiting for status to be reported");
    }
    let mut status = HealthStatusCode::Progressing;
    let mut message = "Waiting for status to be reported".to_string();
    if let Some(phase) = text(obj, &["status", "phase"]) {
        message = format!("Ceph object store phase is {phase}");
        status = match phase {
            "Ready" => HealthStatusCode::Healthy,
            "Failure" => HealthStatusCode::Degraded,
            _ => status,
        };
    }
    if let Some(endpoint) = text(obj, &["status", "info", "endpoint"]).filter(|e| !e.is_empty()) {
        message = format!("{message} - endpoint: {endpoint}");
    }
    HealthStatus::new(status, message)
}

/// Health of a Rook Cassandra Cluster: every rack has all its members ready.
pub fn cassandra_cluster(obj: &Value) -> HealthStatus {
    if let Some(Value::Object(racks)) = get(obj, &["status", "racks"]) {
        let all_ready =
            racks.values().all(
                |rack| match (rack.get("members"), rack.get("readyMembers")) {
                    (Some(m), Some(r)) if !m.is_null() && !r.is_null() => m == r,
                    _ => true,
                },
            );
        return if all_ready {
            healthy("")
        } else {
            progressing("Waiting for Cassandra Cluster")
        };
    }
    progressing("Waiting for Cassandra Cluster")
}

/// Health of an ObjectBucketClaim, from its phase.
pub fn object_bucket_claim(obj: &Value) -> HealthStatus {
    if !has_status(obj) {
        return progressing("Waiting for status to be reported");
    }
    let Some(phase) = text(obj, &["status", "phase"]) else {
        return progressing("Waiting for phase to be reported");
    };
    let status = match phase {
        "Bound" => HealthStatusCode::Healthy,
        "Failed" => HealthStatusCode::Degraded,
        _ => HealthStatusCode::Progressing,
    };
    HealthStatus::new(status, format!("Object bucket claim phase is {phase}"))
}

/// The rule for a Rook or object-bucket kind, if there is one.
pub fn rule(group: &str, kind: &str, obj: &Value) -> Option<HealthStatus> {
    Some(match (group, kind) {
        ("ceph.rook.io", "CephCluster") => ceph_cluster(obj),
        ("ceph.rook.io", "CephObjectStore") => ceph_object_store(obj),
        ("cassandra.rook.io", "Cluster") => cassandra_cluster(obj),
        ("objectbucket.io", "ObjectBucketClaim") => object_bucket_claim(obj),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ceph_health_then_state() {
        let obj = json!({"status": {"ceph": {"health": "HEALTH_OK"}, "state": "Updating", "message": "upgrading"}});
        assert_eq!(
            ceph_cluster(&obj),
            HealthStatus::progressing(
                "Ceph health is HEALTH_OK - Ceph cluster state is Updating - upgrading"
            )
        );
        let warn = json!({"status": {"ceph": {"health": "HEALTH_WARN", "details": {"b": {"message": "two"}, "a": {"message": "one"}}}}});
        assert_eq!(
            ceph_cluster(&warn),
            HealthStatus::degraded("Ceph health is HEALTH_WARN (one; two)")
        );
    }
}
