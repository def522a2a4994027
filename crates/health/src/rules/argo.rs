//! Argo kinds: Workflow (built into gitops-engine); Rollout, AnalysisRun, Experiment,
//! ApplicationSet, CronWorkflow and EventBus (checks ArgoCD bundles); and the opt-in Application
//! check from ArgoCD's documentation.

use serde_json::Value;

use super::support::status_conds;
use crate::status::{HealthStatus, HealthStatusCode};
use strata_core::object::{annotation, array_at, at, bool_at, conditions, int_at, str_at};

/// Health of an argoproj.io Workflow, from `status.phase`.
pub fn workflow(obj: &Value) -> HealthStatus {
    let message = str_at(obj, &["status", "message"]).unwrap_or("");
    let status = match str_at(obj, &["status", "phase"]).unwrap_or("") {
        "" | "Pending" | "Running" => HealthStatusCode::Progressing,
        "Succeeded" => HealthStatusCode::Healthy,
        "Failed" | "Error" => HealthStatusCode::Degraded,
        _ => HealthStatusCode::Unknown,
    };
    HealthStatus::new(status, message)
}

/// Health of an Argo Rollouts AnalysisRun, from `status.phase` (its message when set); `None`
/// for a status without a known phase (ArgoCD's check returns no health then).
pub fn analysis_run(obj: &Value) -> Option<HealthStatus> {
    if at(obj, &["status"]).is_none() {
        return Some(HealthStatus::progressing(
            "Waiting for analysis run to finish: status has not been reconciled.",
        ));
    }
    let message = |default: &str| {
        str_at(obj, &["status", "message"])
            .unwrap_or(default)
            .to_string()
    };
    Some(match str_at(obj, &["status", "phase"]).unwrap_or("") {
        "Pending" | "Running" => HealthStatus::progressing("Analysis run is running"),
        "Successful" => HealthStatus::healthy(message("Analysis run completed successfully")),
        "Failed" => HealthStatus::degraded(message("Analysis run failed")),
        "Error" => HealthStatus::degraded(message("Analysis run had an error")),
        "Inconclusive" => HealthStatus::unknown(message("Analysis run was inconclusive")),
        _ => return None,
    })
}

/// Health of an Argo Rollouts Experiment, from `status.phase`; `None` for a status without a
/// known phase.
pub fn experiment(obj: &Value) -> Option<HealthStatus> {
    if at(obj, &["status"]).is_none() {
        return Some(HealthStatus::progressing(
            "Waiting for experiment to finish: status has not been reconciled.",
        ));
    }
    Some(match str_at(obj, &["status", "phase"]).unwrap_or("") {
        "Pending" => HealthStatus::progressing("Experiment is pending"),
        "Running" => HealthStatus::progressing("Experiment is running"),
        "Successful" => HealthStatus::healthy("Experiment is successful"),
        "Failed" => HealthStatus::degraded("Experiment has failed"),
        "Error" => HealthStatus::degraded("Experiment had an error"),
        _ => return None,
    })
}

/// Health of an Argo Workflows CronWorkflow: spec or submission errors degrade it.
pub fn cron_workflow(obj: &Value) -> HealthStatus {
    for c in conditions(obj) {
        if (c.kind == "SpecError" || c.kind == "SubmissionError") && c.is_true() {
            return HealthStatus::degraded(c.message);
        }
        if c.kind == "Completed" && c.is_true() {
            return HealthStatus::healthy(c.message);
        }
    }
    HealthStatus::healthy("CronWorkflow is healthy.")
}

/// Health of an Argo Events EventBus, from its `Deployed` condition.
pub fn event_bus(obj: &Value) -> HealthStatus {
    for c in status_conds(obj) {
        let message = c.message.or(c.reason).unwrap_or("");
        if c.is("Deployed", "False") {
            return HealthStatus::degraded(message);
        }
        if c.is("Deployed", "True") {
            return HealthStatus::healthy(message);
        }
    }
    HealthStatus::progressing("Waiting for initialization")
}

/// Health of an Argo Events EventSource or Sensor: a `False` condition (`SourcesProvided`,
/// `DependenciesProvided`, `TriggersProvided`, `Deployed`) degrades it; `Deployed=True` is
/// healthy.
pub fn event_source_or_sensor(obj: &Value) -> HealthStatus {
    if let Some(c) = status_conds(obj).find(|c| c.status == Some("False")) {
        return HealthStatus::degraded(c.message.or(c.reason).unwrap_or(""));
    }
    if let Some(c) = status_conds(obj).find(|c| c.is("Deployed", "True")) {
        return HealthStatus::healthy(c.message.or(c.reason).unwrap_or(""));
    }
    HealthStatus::progressing("Waiting for initialization")
}

/// Health of an argoproj.io ApplicationSet, from its conditions.
pub fn application_set(obj: &Value) -> HealthStatus {
    let first =
        |kind: &str, status: &str| conditions(obj).find(|c| c.kind == kind && c.status == status);
    if let Some(c) = first("ErrorOccurred", "True") {
        return HealthStatus::degraded(c.message);
    }
    if let Some(c) = first("ResourcesUpToDate", "False") {
        return HealthStatus::degraded(c.message);
    }
    if let Some(c) = first("RolloutProgressing", "True") {
        return HealthStatus::progressing(c.message);
    }
    if let Some(c) = first("ResourcesUpToDate", "True") {
        return HealthStatus::healthy(c.message);
    }
    HealthStatus::progressing("Waiting for the status to be reported")
}

/// Health of an argoproj.io Application as reported by its own `status.health`.
///
/// ArgoCD has no built-in check for Applications since 1.8; this is the check its documentation
/// suggests for app-of-apps, enabled with
/// [`HealthRegistry::with_application_health`](crate::HealthRegistry::with_application_health).
pub fn application(obj: &Value) -> Option<HealthStatus> {
    let status = str_at(obj, &["status", "health", "status"])?;
    let message = str_at(obj, &["status", "health", "message"]).unwrap_or("");
    Some(match HealthStatusCode::parse(status) {
        Some(code) => HealthStatus::new(code, message),
        None => HealthStatus::unknown(format!("invalid health status {status:?}")),
    })
}

const WAITING_FOR_SPEC: &str = "Waiting for rollout spec update to be observed";

/// Health of an argoproj.io Rollout, with the rules of ArgoCD's bundled check.
pub fn rollout(obj: &Value) -> HealthStatus {
    if !generation_observed(obj) || !workload_generation_observed(obj) {
        return HealthStatus::progressing(WAITING_FOR_SPEC);
    }
    let message = str_at(obj, &["status", "message"]).unwrap_or("");
    if let Some(phase) = str_at(obj, &["status", "phase"]) {
        if phase == "Paused" {
            return HealthStatus::suspended(message);
        }
        return match HealthStatusCode::parse(phase) {
            Some(code) => HealthStatus::new(code, message),
            None => HealthStatus::unknown("Lua returned an invalid health status"),
        };
    }
    for c in conditions(obj) {
        let aborted = c.kind == "Progressing"
            && (c.reason == "RolloutAborted" || c.reason == "ProgressDeadlineExceeded");
        if c.kind == "InvalidSpec" || aborted {
            return HealthStatus::degraded(c.message);
        }
    }
    if !array_at(obj, &["status", "pauseConditions"]).is_empty()
        || bool_at(obj, &["spec", "paused"])
    {
        return HealthStatus::suspended("Rollout is paused");
    }
    let Some(pod_hash) = str_at(obj, &["status", "currentPodHash"]) else {
        return HealthStatus::progressing(
            "Waiting for rollout to finish: status has not been reconciled.",
        );
    };
    let desired = int_at(obj, &["spec", "replicas"]).unwrap_or(1);
    let replicas = int_at(obj, &["status", "replicas"]).unwrap_or(0);
    let updated = int_at(obj, &["status", "updatedReplicas"]).unwrap_or(0);
    let available = int_at(obj, &["status", "availableReplicas"]).unwrap_or(0);
    if updated < desired {
        return HealthStatus::progressing(
            "Waiting for roll out to finish: More replicas need to be updated",
        );
    }
    if available < updated {
        return HealthStatus::progressing(
            "Waiting for roll out to finish: updated replicas are still becoming available",
        );
    }
    let stable = str_at(obj, &["status", "stableRS"])
        .or_else(|| str_at(obj, &["status", "canary", "stableRS"]))
        .unwrap_or("");
    if at(obj, &["spec", "strategy", "blueGreen"]).is_some() {
        if str_at(obj, &["status", "blueGreen", "activeSelector"]) != Some(pod_hash) {
            return HealthStatus::progressing("active service cutover pending");
        }
        if !stable.is_empty() && stable != pod_hash {
            return HealthStatus::progressing("waiting for analysis to complete");
        }
    } else if at(obj, &["spec", "strategy", "canary"]).is_some() {
        if replicas > updated {
            return HealthStatus::progressing(
                "Waiting for roll out to finish: old replicas are pending termination",
            );
        }
        if stable.is_empty() || stable != pod_hash {
            return HealthStatus::progressing("Waiting for rollout to finish steps");
        }
    }
    HealthStatus::healthy("")
}

/// Reads a number that a Rollout may store as a string or a number (Lua's `tonumber`).
fn lenient_number(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn generation_observed(obj: &Value) -> bool {
    if at(obj, &["status"]).is_none() {
        return false;
    }
    let generation = int_at(obj, &["metadata", "generation"]).unwrap_or(0);
    match lenient_number(at(obj, &["status", "observedGeneration"])) {
        // A missing or hash-like observedGeneration is a v0.9 rollout: treated as observed.
        None => true,
        Some(observed) if observed > generation => true,
        Some(observed) => observed == generation,
    }
}

fn workload_generation_observed(obj: &Value) -> bool {
    if at(obj, &["spec", "workloadRef"]).is_none()
        || at(obj, &["metadata", "annotations"]).is_none()
    {
        return true;
    }
    let wanted = annotation(obj, "rollout.argoproj.io/workload-generation")
        .and_then(|s| s.trim().parse::<i64>().ok());
    let observed = lenient_number(at(obj, &["status", "workloadObservedGeneration"]));
    wanted == observed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rollout_waits_for_observed_generation() {
        let obj = json!({"metadata": {"generation": 4}, "status": {"observedGeneration": "3"}});
        assert_eq!(rollout(&obj), HealthStatus::progressing(WAITING_FOR_SPEC));
        assert_eq!(
            rollout(&json!({})),
            HealthStatus::progressing(WAITING_FOR_SPEC)
        );
    }

    #[test]
    fn rollout_paused_phase_is_suspended() {
        let obj = json!({"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "phase": "Paused", "message": "CanaryPauseStep"}});
        assert_eq!(rollout(&obj), HealthStatus::suspended("CanaryPauseStep"));
    }

    #[test]
    fn rollout_canary_waits_for_stable() {
        let obj = json!({"metadata": {"generation": 1}, "spec": {"replicas": 1, "strategy": {"canary": {}}},
            "status": {"observedGeneration": 1, "currentPodHash": "b", "stableRS": "a", "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}});
        assert_eq!(
            rollout(&obj),
            HealthStatus::progressing("Waiting for rollout to finish steps")
        );
    }

    #[test]
    fn workflow_and_application() {
        assert_eq!(
            workflow(&json!({"status": {"phase": "Error"}})).status,
            HealthStatusCode::Degraded
        );
        let app = json!({"status": {"health": {"status": "Degraded", "message": "x"}}});
        assert_eq!(application(&app), Some(HealthStatus::degraded("x")));
        assert_eq!(application(&json!({})), None);
    }
}
