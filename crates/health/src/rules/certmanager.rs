//! cert-manager: `Certificate`, `Issuer` and `ClusterIssuer` in `cert-manager.io` and in the
//! legacy `certmanager.k8s.io` group.
//!
//! cert-manager reports readiness with a `Ready` condition; a Certificate being (re)issued also
//! has `Issuing=True`, which takes precedence so that a renewal shows as Progressing.

use serde_json::Value;

use super::support::{progressing, ready_condition_or, status_conds};
use crate::status::HealthStatus;

/// Health of a cert-manager.io Certificate: issuing first, then `Ready`.
pub fn certificate(obj: &Value) -> HealthStatus {
    if let Some(issuing) = status_conds(obj).find(|c| c.is("Issuing", "True")) {
        return progressing(issuing.msg());
    }
    ready_condition_or(obj, "Waiting for certificate")
}

/// Health of a legacy certmanager.k8s.io Certificate (no `Issuing` condition).
pub fn legacy_certificate(obj: &Value) -> HealthStatus {
    ready_condition_or(obj, "Waiting for certificate")
}

/// Health of an Issuer or ClusterIssuer.
pub fn issuer(obj: &Value, kind: &str) -> HealthStatus {
    let waiting = if kind == "ClusterIssuer" {
        "Initializing ClusterIssuer"
    } else {
        "Initializing issuer"
    };
    ready_condition_or(obj, waiting)
}

/// The rule for a cert-manager kind, if there is one.
pub fn rule(group: &str, kind: &str, obj: &Value) -> Option<HealthStatus> {
    Some(match (group, kind) {
        ("cert-manager.io", "Certificate") => certificate(obj),
        ("certmanager.k8s.io", "Certificate") => legacy_certificate(obj),
        ("cert-manager.io" | "certmanager.k8s.io", "Issuer" | "ClusterIssuer") => issuer(obj, kind),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::HealthStatusCode;
    use serde_json::json;

    #[test]
    fn issuing_wins_over_ready() {
        let obj = json!({"status": {"conditions": [
            {"type": "Ready", "status": "True", "message": "valid"},
            {"type": "Issuing", "status": "True", "message": "renewing"}]}});
        assert_eq!(certificate(&obj), HealthStatus::progressing("renewing"));
        assert_eq!(legacy_certificate(&obj).status, HealthStatusCode::Healthy);
        assert_eq!(
            issuer(&json!({}), "ClusterIssuer"),
            HealthStatus::progressing("Initializing ClusterIssuer")
        );
    }
}
