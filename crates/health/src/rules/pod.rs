//! Pod (v1) health, as gitops-engine assesses it.

use serde_json::Value;

use crate::status::HealthStatus;
use strata_core::object::{annotation, array_at, at, condition, str_at};
use strata_core::sync::hooks::is_hook;

/// Annotation that makes a finite pod be assessed like a long-running one.
pub const IGNORE_RESTART_POLICY: &str = "argocd.argoproj.io/ignore-restart-policy";

/// Health of a v1 Pod.
pub fn pod(obj: &Value) -> HealthStatus {
    let restart_policy = str_at(obj, &["spec", "restartPolicy"]).unwrap_or("");
    let ignore_restart_policy = annotation(obj, IGNORE_RESTART_POLICY) == Some("true");
    let long_running = restart_policy == "Always" || (ignore_restart_policy && !is_hook(obj));
    let message = str_at(obj, &["status", "message"]).unwrap_or("");
    let statuses = array_at(obj, &["status", "containerStatuses"]);

    if long_running {
        let waiting_errors: Vec<&str> = statuses
            .iter()
            .filter_map(|s| at(s, &["state", "waiting"]))
            .filter(|w| {
                let reason = str_at(w, &["reason"]).unwrap_or("");
                reason.starts_with("Err")
                    || reason.ends_with("Error")
                    || reason.ends_with("BackOff")
            })
            .map(|w| str_at(w, &["message"]).unwrap_or(""))
            .collect();
        if !waiting_errors.is_empty() {
            return HealthStatus::degraded(waiting_errors.join(", "));
        }
    }

    match str_at(obj, &["status", "phase"]).unwrap_or("") {
        "Pending" => HealthStatus::progressing(message),
        "Succeeded" => HealthStatus::healthy(message),
        "Failed" => {
            if !message.is_empty() {
                return HealthStatus::degraded(message);
            }
            let init = array_at(obj, &["status", "initContainerStatuses"]);
            let failure = init
                .iter()
                .chain(statuses)
                .map(container_failure)
                .find(|m| !m.is_empty())
                .unwrap_or_default();
            HealthStatus::degraded(failure)
        }
        "Running" if long_running => {
            if condition(obj, "Ready").is_some_and(|c| c.is_true()) {
                return HealthStatus::healthy(message);
            }
            if statuses
                .iter()
                .any(|s| at(s, &["lastState", "terminated"]).is_some())
            {
                return HealthStatus::degraded(message);
            }
            HealthStatus::progressing(message)
        }
        "Running" if restart_policy == "OnFailure" || restart_policy == "Never" => {
            HealthStatus::progressing(message)
        }
        _ => HealthStatus::unknown(message),
    }
}

fn container_failure(status: &Value) -> String {
    let Some(terminated) = at(status, &["state", "terminated"]) else {
        return String::new();
    };
    if let Some(message) = str_at(terminated, &["message"]).filter(|m| !m.is_empty()) {
        return message.to_string();
    }
    if str_at(terminated, &["reason"]) == Some("OOMKilled") {
        return "OOMKilled".to_string();
    }
    let exit_code = terminated
        .get("exitCode")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if exit_code != 0 {
        let name = str_at(status, &["name"]).unwrap_or("");
        return format!("container \"{name}\" failed with exit code {exit_code}");
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::HealthStatusCode;
    use serde_json::json;

    #[test]
    fn image_pull_errors_degrade_long_running_pods_only() {
        let waiting = json!([{"name": "c", "state": {"waiting": {"reason": "ErrImagePull", "message": "no image"}}}]);
        let always = json!({"spec": {"restartPolicy": "Always"}, "status": {"phase": "Pending", "containerStatuses": waiting}});
        assert_eq!(pod(&always), HealthStatus::degraded("no image"));
        let never = json!({"spec": {"restartPolicy": "Never"}, "status": {"phase": "Pending", "containerStatuses": waiting}});
        assert_eq!(pod(&never).status, HealthStatusCode::Progressing);
    }

    #[test]
    fn running_pod_without_restart_policy_is_unknown() {
        let obj = json!({"status": {"phase": "Running"}});
        assert_eq!(pod(&obj).status, HealthStatusCode::Unknown);
    }

    #[test]
    fn oom_killed_message() {
        let obj = json!({"spec": {"restartPolicy": "Never"}, "status": {"phase": "Failed",
            "containerStatuses": [{"name": "c", "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]}});
        assert_eq!(pod(&obj), HealthStatus::degraded("OOMKilled"));
    }
}
