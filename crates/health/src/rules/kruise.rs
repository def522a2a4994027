//! OpenKruise: `apps.kruise.io` CloneSet, Advanced StatefulSet, Advanced DaemonSet,
//! AdvancedCronJob and BroadcastJob; `rollouts.kruise.io` Rollout; `game.kruise.io` GameServer
//! and GameServerSet.
//!
//! Kruise workloads extend the built-in ones with in-place updates, `paused` and `partition`:
//! a paused update is Suspended, and so is a partitioned one that has updated every pod it may
//! (it waits for someone to lower the partition). Status is only trusted once
//! `observedGeneration` has caught up with the spec.

use serde_json::Value;

use super::support::{
    degraded, format_number, generation_observed, get, has_status, healthy, is_true, list, lua_eq,
    num, progressing, suspended, text, truthy, unknown,
};
use crate::status::HealthStatus;

fn n(obj: &Value, path: &[&str]) -> Option<f64> {
    num(obj, path)
}

/// `value ~= 0` in Lua: true for anything but the number 0 (nil and strings included).
fn not_zero(value: Option<&Value>) -> bool {
    !matches!(value, Some(Value::Number(n)) if n.as_f64() == Some(0.0))
}

/// Health of a CloneSet or an Advanced StatefulSet.
pub fn clone_set_or_stateful_set(obj: &Value, kind: &str) -> HealthStatus {
    let waiting = progressing("Waiting for initialization");
    if !has_status(obj) || !generation_observed(obj) {
        return waiting;
    }
    let (name, strategy): (&str, &[&str]) = if kind == "CloneSet" {
        ("Cloneset", &["spec", "updateStrategy"])
    } else {
        ("Statefulset", &["spec", "updateStrategy", "rollingUpdate"])
    };
    let field = |key: &str| {
        let mut path = strategy.to_vec();
        path.push(key);
        get(obj, &path).cloned()
    };
    if field("paused") == Some(Value::Bool(true))
        || !truthy(get(obj, &["status", "updatedAvailableReplicas"]))
    {
        return suspended(format!("{name} is paused"));
    }
    let generation = n(obj, &["metadata", "generation"]).unwrap_or(0.0);
    let partition = field("partition");
    if not_zero(partition.as_ref()) && generation > 1.0 {
        let updated = n(obj, &["status", "updatedReplicas"]);
        let manual = if kind == "CloneSet" {
            updated
                .zip(n(obj, &["status", "expectedUpdatedReplicas"]))
                .is_some_and(|(u, e)| u >= e)
        } else {
            let partition = partition.as_ref().and_then(Value::as_f64);
            match (updated, n(obj, &["status", "replicas"]), partition) {
                (Some(u), Some(r), Some(p)) => u > r - p,
                _ => false,
            }
        };
        if manual {
            return suspended(format!("{name} needs manual intervention"));
        }
        return waiting;
    }
    if lua_eq(
        get(obj, &["status", "updatedAvailableReplicas"]),
        get(obj, &["status", "replicas"]),
    ) {
        return healthy(format!("All {name} workloads are ready and updated"));
    }
    degraded("Some replicas are not ready or available")
}

/// Health of an Advanced DaemonSet.
pub fn daemon_set(obj: &Value) -> HealthStatus {
    let waiting = progressing("Waiting for initialization");
    if !has_status(obj) || !generation_observed(obj) {
        return waiting;
    }
    let rolling = |key: &str| get(obj, &["spec", "updateStrategy", "rollingUpdate", key]);
    if rolling("paused") == Some(&Value::Bool(true))
        || !truthy(get(obj, &["status", "updatedNumberScheduled"]))
    {
        return suspended("Daemonset is paused");
    }
    let generation = n(obj, &["metadata", "generation"]).unwrap_or(0.0);
    let status = |key: &str| get(obj, &["status", key]);
    if rolling("partition").is_some() && not_zero(rolling("partition")) && generation > 1.0 {
        let manual = match (
            n(obj, &["status", "updatedNumberScheduled"]),
            n(obj, &["status", "desiredNumberScheduled"]),
            rolling("partition").and_then(Value::as_f64),
        ) {
            (Some(u), Some(d), Some(p)) => u > d - p,
            _ => false,
        };
        if manual {
            return suspended("Daemonset needs manual intervention");
        }
        return waiting;
    }
    let all_updated = lua_eq(
        status("updatedNumberScheduled"),
        status("desiredNumberScheduled"),
    );
    if all_updated && lua_eq(status("numberAvailable"), status("desiredNumberScheduled")) {
        return healthy("All Daemonset workloads are ready and updated");
    }
    if all_updated
        && lua_eq(
            status("numberUnavailable"),
            status("desiredNumberScheduled"),
        )
    {
        return degraded("Some pods are not ready or available");
    }
    waiting
}

/// Health of an AdvancedCronJob: paused before its first run is Suspended, active jobs are
/// Progressing, a schedule that has run is Healthy and one that never did is Degraded.
pub fn advanced_cron_job(obj: &Value) -> HealthStatus {
    let scheduled = get(obj, &["status", "lastScheduleTime"]).is_some();
    if !scheduled && is_true(obj, &["spec", "paused"]) {
        return suspended("AdvancedCronJob is Paused");
    }
    if !list(obj, &["status", "active"]).is_empty() {
        return progressing("AdvancedCronJobs has active jobs");
    }
    if !scheduled {
        return degraded("AdvancedCronJobs has not run successfully");
    }
    healthy("AdvancedCronJobs has run successfully")
}

/// Health of a BroadcastJob, from its phase and counters.
pub fn broadcast_job(obj: &Value) -> HealthStatus {
    if has_status(obj) {
        let status = |key: &str| get(obj, &["status", key]);
        let phase = text(obj, &["status", "phase"]);
        if lua_eq(status("desired"), status("succeeded")) && phase == Some("completed") {
            return healthy("BroadcastJob is completed successfully");
        }
        if not_zero(status("active")) && phase == Some("running") {
            return progressing("BroadcastJob is still running");
        }
        if not_zero(status("failed")) && phase == Some("failed") {
            return degraded("BroadcastJob failed");
        }
        if phase == Some("paused") && is_true(obj, &["spec", "paused"]) {
            return suspended("BroadcastJob is Paused");
        }
    }
    progressing("BroadcastJob is still running")
}

/// Health of a Kruise Rollout, from its canary step state and phase.
pub fn rollout(obj: &Value) -> HealthStatus {
    let still = progressing("Rollout is still progressing");
    if !generation_observed(obj) {
        return still;
    }
    let step = text(obj, &["status", "canaryStatus", "currentStepState"]);
    let phase = text(obj, &["status", "phase"]);
    match (step, phase) {
        (Some("StepPaused"), Some("Progressing")) => {
            suspended("Rollout is Paused need manual intervention")
        }
        (Some("Completed"), Some("Healthy")) => healthy("Rollout is Completed"),
        (Some("StepPaused"), Some("Terminating" | "Disabled")) => {
            degraded("Rollout is Disabled or Terminating")
        }
        _ => still,
    }
}

/// Health of a GameServer: a state change is Progressing, a pod that is not ready Degraded.
pub fn game_server(obj: &Value) -> HealthStatus {
    if has_status(obj) {
        let current = get(obj, &["status", "currentState"]);
        let desired = get(obj, &["status", "desiredState"]);
        if !lua_eq(current, desired) {
            let name = |v: Option<&Value>| {
                super::support::lua_text(v).unwrap_or_else(|| "Unknown".to_string())
            };
            return progressing(format!(
                "State change: {} → {}",
                name(current),
                name(desired)
            ));
        }
        let pod_conditions = list(obj, &["status", "podStatus", "conditions"]);
        if super::support::conds(pod_conditions)
            .any(|c| c.is_type("KruisePodReady") && c.status != Some("True"))
        {
            return degraded("Pod is not ready: KruisePodReady");
        }
        if text(obj, &["status", "currentState"]) == Some("Ready")
            && text(obj, &["status", "desiredState"]) == Some("Ready")
        {
            return healthy("GameServer is Ready");
        }
    }
    unknown("Waiting for GameServer to be ready")
}

/// Health of a GameServerSet.
pub fn game_server_set(obj: &Value) -> HealthStatus {
    if !has_status(obj) || !generation_observed(obj) {
        return progressing("Waiting for GameServerSet initialization");
    }
    let rolling = |key: &str| get(obj, &["spec", "updateStrategy", "rollingUpdate", key]);
    if rolling("paused") == Some(&Value::Bool(true)) {
        return suspended("GameServerSet is paused");
    }
    let count = |key: &str| n(obj, &["status", key]).unwrap_or(0.0);
    let partition = rolling("partition").and_then(Value::as_f64).unwrap_or(0.0);
    if partition != 0.0 && count("updatedReplicas") >= count("replicas") - partition {
        return suspended(format!(
            "Partition={}, waiting for manual intervention",
            format_number(partition)
        ));
    }
    if count("updatedReadyReplicas") == count("replicas") {
        return healthy("All GameServerSet replicas are updated and ready");
    }
    if count("readyReplicas") < count("replicas") {
        return progressing(format!(
            "ReadyReplicas {}/{}, still progressing",
            format_number(count("readyReplicas")),
            format_number(count("replicas"))
        ));
    }
    progressing("Waiting for GameServerSet initialization")
}

/// The rule for an OpenKruise kind, if there is one.
pub fn rule(group: &str, kind: &str, obj: &Value) -> Option<HealthStatus> {
    Some(match (group, kind) {
        ("apps.kruise.io", "CloneSet" | "StatefulSet") => clone_set_or_stateful_set(obj, kind),
        ("apps.kruise.io", "DaemonSet") => daemon_set(obj),
        ("apps.kruise.io", "AdvancedCronJob") => advanced_cron_job(obj),
        ("apps.kruise.io", "BroadcastJob") => broadcast_job(obj),
        ("rollouts.kruise.io", "Rollout") => rollout(obj),
        ("game.kruise.io", "GameServer") => game_server(obj),
        ("game.kruise.io", "GameServerSet") => game_server_set(obj),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::HealthStatusCode;
    use serde_json::json;

    #[test]
    fn clone_set_partition_needs_intervention() {
        let obj = json!({"metadata": {"generation": 2}, "spec": {"updateStrategy": {"partition": 2}},
            "status": {"observedGeneration": 2, "updatedAvailableReplicas": 1, "updatedReplicas": 1, "expectedUpdatedReplicas": 1, "replicas": 3}});
        assert_eq!(
            clone_set_or_stateful_set(&obj, "CloneSet"),
            HealthStatus::suspended("Cloneset needs manual intervention")
        );
        let done = json!({"metadata": {"generation": 1}, "spec": {"updateStrategy": {}},
            "status": {"observedGeneration": 1, "updatedAvailableReplicas": 3, "replicas": 3}});
        assert_eq!(
            clone_set_or_stateful_set(&done, "CloneSet").status,
            HealthStatusCode::Healthy
        );
    }
}
