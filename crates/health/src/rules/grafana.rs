//! Grafana operator (`grafana.integreatly.org`: Grafana, GrafanaDatasource, GrafanaDashboard,
//! GrafanaFolder) and the kubitus Grafana organisation operator.

use serde_json::Value;

use super::support::{
    degraded, get, has_status, healthy, progressing, status_conds, text, text_or_empty, truthy,
};
use crate::status::{HealthStatus, HealthStatusCode};

/// Health of a Grafana instance, from its reconciliation stage.
pub fn grafana(obj: &Value) -> HealthStatus {
    let Some(stage_status) = get(obj, &["status", "stageStatus"]) else {
        return progressing("Waiting for Grafana status info");
    };
    let stage = text_or_empty(obj, &["status", "stage"]);
    match stage_status.as_str() {
        Some("failed") => degraded(format!("Failed at stage {stage}")),
        Some("success") if stage == "complete" => healthy(""),
        _ => progressing(stage),
    }
}

/// Health of a GrafanaDatasource: created (has a uid) and matched to an instance.
pub fn datasource(obj: &Value) -> HealthStatus {
    if !has_status(obj) || text(obj, &["status", "uid"]) == Some("") {
        return progressing("");
    }
    if truthy(get(obj, &["status", "NoMatchingInstances"])) {
        return degraded("can't find matching grafana instance");
    }
    healthy("")
}

/// Health of a GrafanaDashboard or GrafanaFolder: any False condition degrades it; the message
/// lists every condition's reason, type and message.
pub fn synced_resource(obj: &Value) -> HealthStatus {
    let mut status = HealthStatusCode::Progressing;
    let mut message = String::new();
    for c in status_conds(obj).filter(|c| c.status.is_some()) {
        if !message.is_empty() {
            message.push_str(", ");
        }
        if let Some(reason) = c.reason {
            message.push_str(reason);
            if let Some(kind) = c.kind {
                message.push_str(&format!(" for {kind}"));
                if let Some(text) = c.message {
                    message.push_str(&format!(" because {text}"));
                }
            }
        }
        match c.status {
            Some("False") => return degraded(message),
            Some("True") => status = HealthStatusCode::Healthy,
            _ => {}
        }
    }
    HealthStatus::new(status, message)
}

/// Health of a kubitus Grafana organisation operator object, from `Ready`.
pub fn org_operator(obj: &Value) -> HealthStatus {
    if let Some(c) = status_conds(obj).find(|c| c.is_type("Ready")) {
        let status = match c.status {
            Some("False") => HealthStatusCode::Degraded,
            Some("True") => HealthStatusCode::Healthy,
            _ => HealthStatusCode::Progressing,
        };
        return HealthStatus::new(status, c.msg());
    }
    progressing("Waiting ...")
}

/// The rule for a Grafana kind, if there is one.
pub fn rule(group: &str, kind: &str, obj: &Value) -> Option<HealthStatus> {
    Some(match (group, kind) {
        ("grafana.integreatly.org", "Grafana") => grafana(obj),
        ("grafana.integreatly.org", "GrafanaDatasource") => datasource(obj),
        ("grafana.integreatly.org", "GrafanaDashboard" | "GrafanaFolder") => synced_resource(obj),
        ("grafana-org-operator.kubitus-project.gitlab.io", _) => org_operator(obj),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn grafana_stages() {
        assert_eq!(
            grafana(&json!({"status": {"stage": "deployment", "stageStatus": "failed"}})),
            HealthStatus::degraded("Failed at stage deployment")
        );
        let dash = json!({"status": {"conditions": [{"type": "DashboardSynchronized", "status": "True", "reason": "ApplySuccessful", "message": "ok"}]}});
        assert_eq!(
            synced_resource(&dash),
            HealthStatus::healthy("ApplySuccessful for DashboardSynchronized because ok")
        );
    }
}
