//! Cluster API: `cluster.x-k8s.io` Cluster, MachineDeployment, MachinePool, Machine and
//! MachineHealthCheck; `addons.cluster.x-k8s.io` ClusterResourceSet; `controlplane.cluster.x-k8s.io`
//! AWSManagedControlPlane and KubeadmControlPlane.
//!
//! Cluster API objects carry a `status.phase` and conditions with a `severity`: a `Ready=False`
//! condition of severity `Info` is normal provisioning, any other severity is a failure.
//! `spec.paused` stops reconciliation (Suspended).

use serde_json::Value;

use super::support::{
    degraded, get, has_conditions, has_status, healthy, lua_eq, progressing, status_conds,
    suspended, text, truthy,
};
use crate::status::{HealthStatus, HealthStatusCode};

fn paused(obj: &Value) -> bool {
    truthy(get(obj, &["spec", "paused"]))
}

/// Health of a Cluster: its phase, overridden by a failing `Ready` condition.
pub fn cluster(obj: &Value) -> HealthStatus {
    if paused(obj) {
        return suspended("Cluster is paused");
    }
    let mut health = match text(obj, &["status", "phase"]) {
        Some("Provisioned") => healthy("Cluster is running"),
        Some("Failed") => degraded(""),
        _ => progressing("Waiting for clusters"),
    };
    if let Some(c) = status_conds(obj)
        .find(|c| c.is("Ready", "False") && text(c.value, &["severity"]) != Some("Info"))
    {
        health = degraded(c.msg());
    }
    health
}

/// Health of a MachineDeployment, from its phase.
pub fn machine_deployment(obj: &Value) -> HealthStatus {
    if paused(obj) {
        return suspended("MachineDeployment is paused");
    }
    match text(obj, &["status", "phase"]) {
        Some("Running") => healthy("Machines are running under this deployment"),
        Some("ScalingUp") => progressing("Cluster is spawning machines"),
        Some("ScalingDown") => progressing("Cluster is stopping machines"),
        Some("Failed") => degraded("MachineDeployment is failed"),
        _ => progressing("Waiting for machines"),
    }
}

/// Health of a MachinePool: its phase, with the conditions that are False listed.
pub fn machine_pool(obj: &Value) -> HealthStatus {
    let mut status = HealthStatusCode::Progressing;
    let mut message = String::new();
    if let Some(phase) = text(obj, &["status", "phase"]) {
        message = format!("MachinePool is {phase}");
        status = match phase {
            "Running" | "Scaling" => HealthStatusCode::Healthy,
            "Failed" | "Unknown" => HealthStatusCode::Degraded,
            _ => HealthStatusCode::Progressing,
        };
    }
    let not_ready: Vec<String> = status_conds(obj)
        .filter(|c| c.kind.is_some() && c.status == Some("False"))
        .map(|c| match c.reason {
            Some(reason) => format!("Not {} ({reason})", c.kind.unwrap_or("")),
            None => format!("Not {}", c.kind.unwrap_or("")),
        })
        .collect();
    if !not_ready.is_empty() {
        message = format!("{message}: {}", not_ready.join(", "));
    }
    HealthStatus::new(status, message)
}

/// Health of a Machine: Running is Healthy; otherwise the `Ready=False` message.
pub fn machine(obj: &Value) -> HealthStatus {
    let status = match text(obj, &["status", "phase"]) {
        Some("Running") => return healthy("Machine is running"),
        Some("Failed") => HealthStatusCode::Degraded,
        _ => HealthStatusCode::Progressing,
    };
    let message = status_conds(obj)
        .find(|c| c.is("Ready", "False"))
        .map_or("Condition is unknown", |c| c.msg());
    HealthStatus::new(status, message)
}

/// Health of a MachineHealthCheck: all expected machines healthy.
pub fn machine_health_check(obj: &Value) -> HealthStatus {
    let current = get(obj, &["status", "currentHealthy"]);
    if current.is_none() {
        return progressing("");
    }
    if lua_eq(get(obj, &["status", "expectedMachines"]), current) {
        healthy("")
    } else {
        degraded("")
    }
}

/// Health of a ClusterResourceSet, from `ResourcesApplied`.
pub fn cluster_resource_set(obj: &Value) -> HealthStatus {
    for c in status_conds(obj) {
        if c.is("ResourcesApplied", "True") {
            return healthy("cluster resource set is applied");
        }
        if c.is("ResourcesApplied", "False") {
            return degraded(c.msg());
        }
    }
    progressing("Initializing cluster resource set")
}

/// Health of an AWSManagedControlPlane (EKS): a stale status or an update in progress is
/// Progressing, a `failureMessage` or an Error-severity condition is Degraded.
pub fn aws_managed_control_plane(obj: &Value) -> HealthStatus {
    if !has_status(obj) {
        return progressing("Provisioning...");
    }
    let generation = get(obj, &["metadata", "generation"]);
    let observed = get(obj, &["status", "observedGeneration"]);
    if generation.is_some() && observed.is_some() && !lua_eq(observed, generation) {
        return progressing("Waiting for the control plane spec to be reconciled");
    }
    if let Some(failure) = text(obj, &["status", "failureMessage"]).filter(|m| !m.is_empty()) {
        return degraded(failure);
    }
    if !has_conditions(obj) {
        return progressing("Provisioning...");
    }
    if status_conds(obj).any(|c| c.is("EKSControlPlaneUpdating", "True")) {
        return progressing("EKS control plane is updating");
    }
    let mut errors = String::new();
    for c in status_conds(obj) {
        if c.is("Ready", "True") {
            return healthy("Control plane is ready");
        }
        if c.status == Some("False") && text(c.value, &["severity"]) == Some("Error") {
            errors.push_str(c.msg());
            errors.push(' ');
        }
    }
    if !errors.is_empty() {
        return degraded(errors);
    }
    if get(obj, &["status", "ready"]) == Some(&Value::Bool(false)) {
        return progressing("Control plane is not ready (.status.ready is false)");
    }
    progressing("Control plane is not ready")
}

/// Health of a KubeadmControlPlane (or any control plane following the Cluster API contract):
/// `Ready=True` is Healthy, `Ready=False` with severity Error is Degraded, otherwise Progressing.
pub fn control_plane(obj: &Value) -> HealthStatus {
    if paused(obj) {
        return suspended("Control plane is paused");
    }
    if let Some(failure) = text(obj, &["status", "failureMessage"]).filter(|m| !m.is_empty()) {
        return degraded(failure);
    }
    for c in status_conds(obj) {
        if c.is("Ready", "True") {
            return healthy("Control plane is ready");
        }
        if c.is("Ready", "False") && text(c.value, &["severity"]) == Some("Error") {
            return degraded(c.msg());
        }
    }
    progressing("Control plane is not ready")
}

/// The rule for a Cluster API kind, if there is one.
pub fn rule(group: &str, kind: &str, obj: &Value) -> Option<HealthStatus> {
    Some(match (group, kind) {
        ("cluster.x-k8s.io", "Cluster") => cluster(obj),
        ("cluster.x-k8s.io", "MachineDeployment") => machine_deployment(obj),
        ("cluster.x-k8s.io", "MachinePool") => machine_pool(obj),
        ("cluster.x-k8s.io", "Machine") => machine(obj),
        ("cluster.x-k8s.io", "MachineHealthCheck") => machine_health_check(obj),
        ("addons.cluster.x-k8s.io", "ClusterResourceSet") => cluster_resource_set(obj),
        ("controlplane.cluster.x-k8s.io", "AWSManagedControlPlane") => {
            aws_managed_control_plane(obj)
        }
        ("controlplane.cluster.x-k8s.io", "KubeadmControlPlane") => control_plane(obj),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cluster_in_error_is_degraded() {
        let obj = json!({"spec": {}, "status": {"phase": "Provisioning", "conditions": [
            {"type": "Ready", "status": "False", "severity": "Error", "message": "boom"}]}});
        assert_eq!(cluster(&obj), HealthStatus::degraded("boom"));
        let info = json!({"spec": {}, "status": {"phase": "Provisioning", "conditions": [
            {"type": "Ready", "status": "False", "severity": "Info", "message": "waiting"}]}});
        assert_eq!(
            cluster(&info),
            HealthStatus::progressing("Waiting for clusters")
        );
    }

    #[test]
    fn machine_pool_lists_false_conditions() {
        let obj = json!({"status": {"phase": "Provisioning", "conditions": [
            {"type": "Ready", "status": "False", "reason": "WaitingForInfra"}]}});
        assert_eq!(
            machine_pool(&obj),
            HealthStatus::progressing("MachinePool is Provisioning: Not Ready (WaitingForInfra)")
        );
    }
}
