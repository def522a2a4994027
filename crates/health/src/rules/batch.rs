//! Job (batch/v1) and CronJob health.

use serde_json::Value;

use crate::status::HealthStatus;
use strata_core::object::{array_at, at, bool_at, conditions, str_at};

/// Health of a batch/v1 Job, from its conditions.
///
/// As in gitops-engine, conditions are scanned without looking at their status except that
/// `Suspended` only suspends when it is `True` (so a resumed Job reads as complete).
pub fn job(obj: &Value) -> HealthStatus {
    let mut failed = false;
    let mut complete = false;
    let mut suspended = false;
    let mut message = "";
    let mut fail_message = "";
    for condition in conditions(obj) {
        match condition.kind {
            "Failed" => {
                failed = true;
                complete = true;
                fail_message = condition.message;
            }
            "Complete" => {
                complete = true;
                message = condition.message;
            }
            "Suspended" => {
                complete = true;
                message = condition.message;
                if condition.is_true() {
                    suspended = true;
                }
            }
            _ => {}
        }
    }
    if !complete {
        HealthStatus::progressing(message)
    } else if failed {
        HealthStatus::degraded(fail_message)
    } else if suspended {
        HealthStatus::suspended(message)
    } else {
        HealthStatus::healthy(message)
    }
}

/// Health of a CronJob, with the rules of ArgoCD's bundled check.
///
/// A suspended CronJob is deliberately Healthy (argo-cd#24428).
pub fn cron_job(obj: &Value) -> HealthStatus {
    if bool_at(obj, &["spec", "suspend"]) {
        return HealthStatus::healthy("CronJob is Suspended");
    }
    if at(obj, &["status"]).is_none() {
        return HealthStatus::progressing("Waiting for CronJob");
    }
    let Some(last_schedule) = str_at(obj, &["status", "lastScheduleTime"]) else {
        return HealthStatus::healthy("CronJob has not been scheduled yet");
    };
    let Some(last_success) = str_at(obj, &["status", "lastSuccessfulTime"]) else {
        return HealthStatus::healthy(
            "The CronJob never completed successfully. It may not be healthy",
        );
    };
    if !array_at(obj, &["status", "active"]).is_empty() {
        return HealthStatus::healthy(
            "The job is running. Its last execution may not have been successful",
        );
    }
    // RFC 3339 timestamps in UTC compare correctly as strings, as the Lua check compares them.
    if last_success < last_schedule {
        return HealthStatus::degraded("CronJob has not completed its last execution successfully");
    }
    HealthStatus::healthy("CronJob has completed its last execution successfully")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::HealthStatusCode;
    use serde_json::json;

    #[test]
    fn job_states() {
        let running = json!({"status": {"active": 1}});
        assert_eq!(job(&running).status, HealthStatusCode::Progressing);
        let suspended = json!({"status": {"conditions": [{"type": "Suspended", "status": "True", "message": "Job suspended"}]}});
        assert_eq!(job(&suspended), HealthStatus::suspended("Job suspended"));
        let resumed = json!({"status": {"conditions": [{"type": "Suspended", "status": "False"}]}});
        assert_eq!(job(&resumed).status, HealthStatusCode::Healthy);
    }

    #[test]
    fn cron_job_failed_last_run_is_degraded() {
        let obj = json!({"status": {"lastScheduleTime": "2025-07-30T13:46:00Z", "lastSuccessfulTime": "2025-07-30T13:44:19Z"}});
        assert_eq!(cron_job(&obj).status, HealthStatusCode::Degraded);
        assert_eq!(
            cron_job(&json!({"spec": {"suspend": true}})).message,
            "CronJob is Suspended"
        );
        assert_eq!(cron_job(&json!({})).status, HealthStatusCode::Progressing);
    }
}
