//! Numaflow (`numaflow.numaproj.io`: InterStepBufferService, Pipeline, MonoVertex, Vertex) and
//! Numaplane (`numaplane.numaproj.io`: ISBServiceRollout, NumaflowControllerRollout,
//! MonoVertexRollout, PipelineRollout).
//!
//! Numaflow objects have a `status.phase` and conditions that are False while a subresource is
//! unhealthy; they are trusted once `observedGeneration` matches. Numaplane rollouts report an
//! upgrade in progress, a `ChildResourcesHealthy` condition (reason `Progressing` while the child
//! rolls out) and, for progressive upgrades, `ProgressiveUpgradeSucceeded`.

use serde_json::Value;

use super::support::{
    degraded, generation_observed, get, has_status, healthy, progressing, status_conds, text,
    text_or_empty, unknown,
};
use crate::status::HealthStatus;

const PROGRESSIVE_LABEL: &str = "numaplane.numaproj.io/progressive-result-state";

/// Health of a Numaflow object.
pub fn numaflow(obj: &Value, kind: &str) -> HealthStatus {
    if has_status(obj) {
        let mut unhealthy = false;
        let mut unhealthy_message = "";
        for c in status_conds(obj).filter(|c| c.status == Some("False")) {
            unhealthy = true;
            unhealthy_message = c.msg();
        }
        let progressive_failure = kind != "Vertex"
            && text(obj, &["metadata", "labels", PROGRESSIVE_LABEL]) == Some("failed");
        let phase = text(obj, &["status", "phase"]);
        if generation_observed(obj) {
            if unhealthy || phase == Some("Failed") || progressive_failure {
                let message = if phase == Some("Failed") {
                    text_or_empty(obj, &["status", "message"])
                } else if progressive_failure {
                    "Failed progressive upgrade".to_string()
                } else if matches!(kind, "Pipeline" | "MonoVertex") {
                    "Subresources are unhealthy".to_string()
                } else {
                    unhealthy_message.to_string()
                };
                return degraded(message);
            }
            let paused = match kind {
                "Pipeline" => matches!(phase, Some("Paused" | "Pausing")),
                "MonoVertex" | "Vertex" => phase == Some("Paused"),
                _ => false,
            };
            if paused {
                return healthy(format!("{kind} is paused"));
            }
            if phase == Some("Running") {
                return healthy(format!("{kind} is healthy"));
            }
        }
    }
    progressing(format!("Waiting for {kind} status"))
}

/// Health of a Numaplane rollout.
pub fn numaplane(obj: &Value, kind: &str) -> HealthStatus {
    let controller = kind == "NumaflowControllerRollout";
    let (failed_reason, paused_type, unknown_message) = match kind {
        "ISBServiceRollout" => ("ISBSvcFailed", None, "Unknown status"),
        "MonoVertexRollout" => (
            "MonoVertexFailed",
            Some("MonoVertexPausingOrPaused"),
            "Unknown MonoVertex status",
        ),
        "PipelineRollout" => (
            "PipelineFailed",
            Some("PipelinePausingOrPaused"),
            "Unknown Pipeline status",
        ),
        _ => ("", None, "Unknown status"),
    };
    if !has_status(obj) || !generation_observed(obj) {
        return progressing("Not yet reconciled");
    }
    let upgrading = text(obj, &["status", "upgradeInProgress"]).is_some_and(|s| !s.is_empty())
        || get(obj, &["status", "upgradeInProgress"]).is_some_and(|v| !v.is_string())
        || text(obj, &["status", "phase"]) == Some("Pending");
    let progressive_failed =
        status_conds(obj).any(|c| c.is("ProgressiveUpgradeSucceeded", "False"));
    if upgrading && (controller || !progressive_failed) {
        return progressing("Update in progress");
    }
    if status_conds(obj)
        .any(|c| c.is("ChildResourcesHealthy", "False") && c.reason == Some("Progressing"))
    {
        return progressing("Child Progressing");
    }
    if text(obj, &["status", "phase"]) == Some("Failed") {
        return degraded(text_or_empty(obj, &["status", "message"]));
    }
    for c in status_conds(obj) {
        let child_failed = c.is("ChildResourcesHealthy", "False")
            && if controller {
                c.reason != Some("Progressing")
            } else {
                c.reason == Some(failed_reason)
            };
        if child_failed {
            return degraded(c.msg());
        }
        if !controller && c.is("ProgressiveUpgradeSucceeded", "False") {
            return degraded("Progressive upgrade failed");
        }
    }
    if let Some(paused_type) = paused_type
        && let Some(c) = status_conds(obj).find(|c| c.is(paused_type, "True"))
    {
        return healthy(c.msg());
    }
    if status_conds(obj).any(|c| c.is("ChildResourcesHealthy", "True")) {
        return healthy("Healthy");
    }
    unknown(unknown_message)
}

/// The rule for a Numaflow or Numaplane kind, if there is one.
pub fn rule(group: &str, kind: &str, obj: &Value) -> Option<HealthStatus> {
    Some(match (group, kind) {
        (
            "numaflow.numaproj.io",
            "InterStepBufferService" | "Pipeline" | "MonoVertex" | "Vertex",
        ) => numaflow(obj, kind),
        (
            "numaplane.numaproj.io",
            "ISBServiceRollout"
            | "NumaflowControllerRollout"
            | "MonoVertexRollout"
            | "PipelineRollout",
        ) => numaplane(obj, kind),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::HealthStatusCode;
    use serde_json::json;

    #[test]
    fn pipeline_and_rollout() {
        let obj = json!({"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "phase": "Running",
            "conditions": [{"type": "DaemonServiceHealthy", "status": "False"}]}});
        assert_eq!(
            numaflow(&obj, "Pipeline"),
            HealthStatus::degraded("Subresources are unhealthy")
        );
        let rollout = json!({"metadata": {"generation": 2}, "status": {"observedGeneration": 1}});
        assert_eq!(
            numaplane(&rollout, "PipelineRollout"),
            HealthStatus::progressing("Not yet reconciled")
        );
        let ok = json!({"metadata": {"generation": 1}, "status": {"observedGeneration": 1,
            "conditions": [{"type": "ChildResourcesHealthy", "status": "True"}]}});
        assert_eq!(
            numaplane(&ok, "ISBServiceRollout").status,
            HealthStatusCode::Healthy
        );
    }
}
