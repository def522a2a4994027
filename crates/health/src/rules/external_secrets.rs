//! External Secrets Operator (`external-secrets.io`) and the older Kubernetes External Secrets
//! (`kubernetes-client.io`).
//!
//! ESO kinds report a `Ready` condition; a ClusterExternalSecret appends conditions, so only
//! the last one counts. Kubernetes External Secrets writes a `status.status` text that is
//! `SUCCESS` or starts with `ERROR`.

use serde_json::Value;

use super::support::{Cond, degraded, healthy, list, progressing, ready_condition_or, text};
use crate::status::HealthStatus;

/// Health of an ESO kind reporting a `Ready` condition.
pub fn ready_kind(obj: &Value, kind: &str) -> HealthStatus {
    ready_condition_or(obj, &format!("Waiting for {kind}"))
}

/// Health of a ClusterExternalSecret: its last condition decides.
pub fn cluster_external_secret(obj: &Value) -> HealthStatus {
    if let Some(last) = list(obj, &["status", "conditions"]).last().map(Cond::of) {
        if last.is("Ready", "True") {
            return healthy(last.msg());
        }
        if last.is("PartiallyReady", "True") || last.is("NotReady", "True") {
            return degraded(last.msg());
        }
    }
    progressing("Waiting for ClusterExternalSecret")
}

/// Health of a kubernetes-client.io ExternalSecret.
pub fn kes_external_secret(obj: &Value) -> HealthStatus {
    const WAITING: &str = "Waiting for ExternalSecret.";
    if super::support::has_status(obj) {
        let status = text(obj, &["status", "status"]).unwrap_or("");
        if status == "SUCCESS" {
            return healthy("Fetched ExternalSecret.");
        }
        if status.starts_with("ERROR") {
            return degraded(status.replace("ERROR, ", ""));
        }
    }
    progressing(WAITING)
}

/// The rule for an external-secrets kind, if there is one.
pub fn rule(group: &str, kind: &str, obj: &Value) -> Option<HealthStatus> {
    Some(match (group, kind) {
        ("external-secrets.io", "ClusterExternalSecret") => cluster_external_secret(obj),
        (
            "external-secrets.io",
            "ExternalSecret" | "SecretStore" | "ClusterSecretStore" | "PushSecret"
            | "ClusterPushSecret",
        ) => ready_kind(obj, kind),
        ("kubernetes-client.io", "ExternalSecret") => kes_external_secret(obj),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn eso_kinds() {
        let obj = json!({"status": {"conditions": [{"type": "Ready", "status": "False", "message": "auth failed"}]}});
        assert_eq!(
            ready_kind(&obj, "ExternalSecret"),
            HealthStatus::degraded("auth failed")
        );
        let partial = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "PartiallyReady", "status": "True", "message": "2 of 3"}]}});
        assert_eq!(
            cluster_external_secret(&partial),
            HealthStatus::degraded("2 of 3")
        );
        let kes = json!({"status": {"status": "ERROR, no such key"}});
        assert_eq!(
            kes_external_secret(&kes),
            HealthStatus::degraded("no such key")
        );
    }
}
