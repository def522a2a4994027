//! Deployment, StatefulSet, DaemonSet and ReplicaSet (apps/v1), as gitops-engine assesses them.

use serde_json::Value;

use crate::status::HealthStatus;
use strata_core::object::{bool_at, condition, int_at, int_or_zero, str_at};

/// Health of an apps/v1 Deployment.
pub fn deployment(obj: &Value) -> HealthStatus {
    if bool_at(obj, &["spec", "paused"]) {
        return HealthStatus::suspended("Deployment is paused");
    }
    let generation = int_or_zero(obj, &["metadata", "generation"]);
    let observed = int_or_zero(obj, &["status", "observedGeneration"]);
    if generation > observed {
        return HealthStatus::progressing(
            "Waiting for rollout to finish: observed deployment generation less than desired generation",
        );
    }
    let updated = int_or_zero(obj, &["status", "updatedReplicas"]);
    let replicas = int_or_zero(obj, &["status", "replicas"]);
    let available = int_or_zero(obj, &["status", "availableReplicas"]);
    let progressing = condition(obj, "Progressing");
    if progressing.is_some_and(|c| c.reason == "ProgressDeadlineExceeded") {
        let name = str_at(obj, &["metadata", "name"]).unwrap_or("");
        return HealthStatus::degraded(format!(
            "Deployment \"{name}\" exceeded its progress deadline"
        ));
    }
    if let Some(desired) = int_at(obj, &["spec", "replicas"])
        && updated < desired
    {
        return HealthStatus::progressing(format!(
            "Waiting for rollout to finish: {updated} out of {desired} new replicas have been updated..."
        ));
    }
    if replicas > updated {
        return HealthStatus::progressing(format!(
            "Waiting for rollout to finish: {} old replicas are pending termination...",
            replicas - updated
        ));
    }
    if available < updated {
        return HealthStatus::progressing(format!(
            "Waiting for rollout to finish: {available} of {updated} updated replicas are available..."
        ));
    }
    HealthStatus::healthy("")
}

/// Health of an apps/v1 StatefulSet.
pub fn stateful_set(obj: &Value) -> HealthStatus {
    let generation = int_or_zero(obj, &["metadata", "generation"]);
    let observed = int_or_zero(obj, &["status", "observedGeneration"]);
    if observed == 0 || generation > observed {
        return HealthStatus::progressing("Waiting for statefulset spec update to be observed...");
    }
    let desired = int_at(obj, &["spec", "replicas"]);
    let ready = int_or_zero(obj, &["status", "readyReplicas"]);
    if let Some(desired) = desired
        && ready < desired
    {
        return HealthStatus::progressing(format!(
            "Waiting for {} pods to be ready...",
            desired - ready
        ));
    }
    let updated = int_or_zero(obj, &["status", "updatedReplicas"]);
    let strategy = str_at(obj, &["spec", "updateStrategy", "type"]).unwrap_or("");
    let rolling = obj
        .pointer("/spec/updateStrategy/rollingUpdate")
        .filter(|v| !v.is_null());
    if strategy == "RollingUpdate"
        && let Some(rolling) = rolling
    {
        if let (Some(desired), Some(partition)) = (desired, int_at(rolling, &["partition"]))
            && updated < desired - partition
        {
            return HealthStatus::progressing(format!(
                "Waiting for partitioned roll out to finish: {updated} out of {} new pods have been updated...",
                desired - partition
            ));
        }
        return HealthStatus::healthy(format!(
            "partitioned roll out complete: {updated} new pods have been updated..."
        ));
    }
    if strategy == "OnDelete" {
        return HealthStatus::healthy(format!("statefulset has {ready} ready pods"));
    }
    let update_revision = str_at(obj, &["status", "updateRevision"]).unwrap_or("");
    let current_revision = str_at(obj, &["status", "currentRevision"]).unwrap_or("");
    if update_revision != current_revision {
        return HealthStatus::progressing(format!(
            "waiting for statefulset rolling update to complete {updated} pods at revision {update_revision}..."
        ));
    }
    let current = int_or_zero(obj, &["status", "currentReplicas"]);
    HealthStatus::healthy(format!(
        "statefulset rolling update complete {current} pods at revision {current_revision}..."
    ))
}

/// Health of an apps/v1 DaemonSet.
pub fn daemon_set(obj: &Value) -> HealthStatus {
    let generation = int_or_zero(obj, &["metadata", "generation"]);
    let observed = int_or_zero(obj, &["status", "observedGeneration"]);
    if generation > observed {
        return HealthStatus::progressing(
            "Waiting for rollout to finish: observed daemon set generation less than desired generation",
        );
    }
    let updated = int_or_zero(obj, &["status", "updatedNumberScheduled"]);
    let desired = int_or_zero(obj, &["status", "desiredNumberScheduled"]);
    if str_at(obj, &["spec", "updateStrategy", "type"]) == Some("OnDelete") {
        return HealthStatus::healthy(format!(
            "daemon set {updated} out of {desired} new pods have been updated"
        ));
    }
    let name = str_at(obj, &["metadata", "name"]).unwrap_or("");
    if updated < desired {
        return HealthStatus::progressing(format!(
            "Waiting for daemon set \"{name}\" rollout to finish: {updated} out of {desired} new pods have been updated..."
        ));
    }
    let available = int_or_zero(obj, &["status", "numberAvailable"]);
    if available < desired {
        return HealthStatus::progressing(format!(
            "Waiting for daemon set \"{name}\" rollout to finish: {available} of {desired} updated pods are available..."
        ));
    }
    HealthStatus::healthy("")
}

/// Health of an apps/v1 ReplicaSet.
pub fn replica_set(obj: &Value) -> HealthStatus {
    let generation = int_or_zero(obj, &["metadata", "generation"]);
    let observed = int_or_zero(obj, &["status", "observedGeneration"]);
    if generation > observed {
        return HealthStatus::progressing(
            "Waiting for rollout to finish: observed replica set generation less than desired generation",
        );
    }
    if let Some(failure) = condition(obj, "ReplicaFailure")
        && failure.is_true()
    {
        return HealthStatus::degraded(failure.message);
    }
    let available = int_or_zero(obj, &["status", "availableReplicas"]);
    if let Some(desired) = int_at(obj, &["spec", "replicas"])
        && available < desired
    {
        return HealthStatus::progressing(format!(
            "Waiting for rollout to finish: {available} out of {desired} new replicas are available..."
        ));
    }
    HealthStatus::healthy("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::HealthStatusCode;
    use serde_json::json;

    #[test]
    fn deployment_waits_for_updated_replicas() {
        let obj = json!({"metadata": {"generation": 2}, "spec": {"replicas": 3},
            "status": {"observedGeneration": 2, "updatedReplicas": 1, "replicas": 3}});
        let health = deployment(&obj);
        assert_eq!(health.status, HealthStatusCode::Progressing);
        assert_eq!(
            health.message,
            "Waiting for rollout to finish: 1 out of 3 new replicas have been updated..."
        );
    }

    #[test]
    fn deployment_past_deadline_is_degraded() {
        let obj = json!({"metadata": {"name": "web"}, "status": {"conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}});
        let health = deployment(&obj);
        assert_eq!(health.status, HealthStatusCode::Degraded);
        assert_eq!(
            health.message,
            "Deployment \"web\" exceeded its progress deadline"
        );
    }

    #[test]
    fn statefulset_partition_and_revision() {
        let partitioned = json!({"metadata": {"generation": 1}, "spec": {"replicas": 3,
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}},
            "status": {"observedGeneration": 1, "readyReplicas": 3, "updatedReplicas": 1}});
        assert_eq!(
            stateful_set(&partitioned).status,
            HealthStatusCode::Progressing
        );
        let rolling = json!({"metadata": {"generation": 1}, "spec": {"replicas": 1},
            "status": {"observedGeneration": 1, "readyReplicas": 1, "updateRevision": "b", "currentRevision": "a"}});
        assert_eq!(stateful_set(&rolling).status, HealthStatusCode::Progressing);
    }

    #[test]
    fn daemonset_and_replicaset() {
        let ds = json!({"metadata": {"name": "d"}, "status": {"desiredNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 1}});
        assert_eq!(
            daemon_set(&ds).message,
            "Waiting for daemon set \"d\" rollout to finish: 1 of 2 updated pods are available..."
        );
        let rs = json!({"status": {"conditions": [{"type": "ReplicaFailure", "status": "True", "message": "quota"}]}});
        assert_eq!(replica_set(&rs), HealthStatus::degraded("quota"));
    }
}
