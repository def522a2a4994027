//! 3scale API management operator (`capabilities.3scale.net`).
//!
//! Each capability object reports conditions whose type names its state: `Ready` or `Synced`
//! when it is in place, `Invalid`, `Orphan` or `Failed` when it cannot be, `Waiting` when an
//! administrator must approve it. The first True condition of a known type decides.

use serde_json::Value;

use super::support::{degraded, get, healthy, progressing, status_conds, suspended, text};
use crate::status::{HealthStatus, HealthStatusCode};

/// How one condition type maps to a health: its status and the message when the condition has
/// none (Healthy ones always use the fixed message).
struct Mapping {
    kind: &'static str,
    status: HealthStatusCode,
    message: &'static str,
}

const fn m(kind: &'static str, status: HealthStatusCode, message: &'static str) -> Mapping {
    Mapping {
        kind,
        status,
        message,
    }
}

fn first_true(obj: &Value, mappings: &[Mapping], subject: &str) -> HealthStatus {
    for c in status_conds(obj).filter(|c| c.status == Some("True")) {
        let Some(mapping) = mappings.iter().find(|m| c.is_type(m.kind)) else {
            continue;
        };
        let message = if mapping.status == HealthStatusCode::Healthy {
            format!("3scale {subject} {}", mapping.message)
        } else {
            c.msg_or(&format!("3scale {subject} {}", mapping.message))
                .to_string()
        };
        return HealthStatus::new(mapping.status, message);
    }
    progressing(format!("Waiting for 3scale {subject} status..."))
}

use HealthStatusCode::{Degraded, Healthy, Suspended};

/// Health of a capability kind.
pub fn capability(obj: &Value, kind: &str) -> Option<HealthStatus> {
    let invalid = m("Invalid", Degraded, "configuration is invalid");
    let orphan = m("Orphan", Degraded, "references non-existing resources");
    let failed_sync = m("Failed", Degraded, "synchronization failed");
    Some(match kind {
        "Application" => return Some(application(obj)),
        "Tenant" => return Some(tenant(obj)),
        "DeveloperUser" => {
            if text(obj, &["status", "developerUserState"]) == Some("suspended") {
                return Some(suspended(
                    "3scale Developer user is waiting for admin approval",
                ));
            }
            first_true(
                obj,
                &[
                    m("Ready", Healthy, "is ready"),
                    invalid,
                    orphan,
                    failed_sync,
                ],
                kind,
            )
        }
        "Backend" | "Product" => first_true(
            obj,
            &[
                m("Synced", Healthy, "is synced"),
                invalid,
                orphan,
                failed_sync,
            ],
            kind,
        ),
        "ActiveDoc" => first_true(
            obj,
            &[
                m("Ready", Healthy, "is ready"),
                invalid,
                orphan,
                failed_sync,
            ],
            kind,
        ),
        "CustomPolicyDefinition" => first_true(
            obj,
            &[m("Ready", Healthy, "is ready"), invalid, failed_sync],
            kind,
        ),
        "DeveloperAccount" => first_true(
            obj,
            &[
                m("Ready", Healthy, "is ready"),
                invalid,
                failed_sync,
                m("Waiting", Suspended, "is waiting for approval"),
            ],
            kind,
        ),
        "OpenAPI" => first_true(
            obj,
            &[
                m("Ready", Healthy, "is ready"),
                invalid,
                m("Failed", Degraded, "reconciliation failed"),
            ],
            kind,
        ),
        "ApplicationAuth" => first_true(
            obj,
            &[
                m("Ready", Healthy, "is ready"),
                m("Failed", Degraded, "failed"),
            ],
            kind,
        ),
        "ProxyConfigPromote" => {
            for c in status_conds(obj).filter(|c| c.status == Some("True")) {
                match c.kind {
                    Some("Ready") => return Some(healthy("3scale ProxyConfigPromote is ready")),
                    Some("In-progress") => {
                        return Some(progressing(
                            c.msg_or("3scale ProxyConfigPromote is in progress"),
                        ));
                    }
                    // ArgoCD's default message, spelling included.
                    Some("Failed") => {
                        return Some(degraded(c.msg_or("3cale ProxyConfigPromote failed")));
                    }
                    _ => {}
                }
            }
            progressing("Waiting for 3scale ProxyConfigPromote status...")
        }
        _ => return None,
    })
}

/// An APIManager: its deployments all ready, or its `Available` condition.
fn api_manager(obj: &Value) -> HealthStatus {
    let waiting = "Waiting for 3scale APIManager status...";
    if !super::support::has_status(obj) {
        return progressing(waiting);
    }
    if get(obj, &["status", "deployments"]).is_some() {
        let has = |key: &str| get(obj, &["status", "deployments", key]).is_some();
        if has("ready") && !has("starting") && !has("stopped") {
            return healthy("3scale APIManager is available");
        }
    }
    for c in status_conds(obj).filter(|c| c.is_type("Available")) {
        if c.status == Some("True") {
            return healthy("3scale APIManager is available");
        }
        if let Some(reason) = c.reason.filter(|r| !r.is_empty()) {
            return degraded(format!("3scale APIManager is degraded: {reason}"));
        }
    }
    progressing(waiting)
}

/// The rule for the `apps.3scale.net` APIManager.
pub fn apps_rule(kind: &str, obj: &Value) -> Option<HealthStatus> {
    (kind == "APIManager").then(|| api_manager(obj))
}

/// An Application: suspended state first; `Ready=False` only degrades before the application
/// has an id in 3scale.
fn application(obj: &Value) -> HealthStatus {
    if super::support::has_status(obj) {
        if text(obj, &["status", "state"]) == Some("suspended") {
            return suspended("3scale Application is suspended");
        }
        let has_id = get(obj, &["status", "adminId"])
            .and_then(Value::as_f64)
            .is_some_and(|id| id > 0.0);
        for c in status_conds(obj).filter(|c| c.is_type("Ready")) {
            if c.status == Some("True") {
                return healthy("3scale Application is ready");
            }
            if !has_id {
                return degraded(c.msg_or("3scale Application is not ready"));
            }
        }
    }
    progressing("Waiting for 3scale Application status...")
}

/// A Tenant: ready with both a tenant id and an admin id.
fn tenant(obj: &Value) -> HealthStatus {
    if super::support::has_status(obj) {
        let positive = |key: &str| {
            get(obj, &["status", key])
                .and_then(Value::as_f64)
                .is_some_and(|id| id > 0.0)
        };
        let ready = status_conds(obj).any(|c| c.is("Ready", "True"));
        if ready && positive("tenantId") && positive("adminId") {
            return healthy("3scale Tenant is ready");
        }
        if let Some(c) = status_conds(obj).find(|c| c.is_type("Ready") && c.status != Some("True"))
        {
            return degraded(c.msg_or("3scale Tenant is degraded"));
        }
    }
    progressing("Waiting for 3scale Tenant status...")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn first_true_condition_decides() {
        let obj = json!({"status": {"conditions": [
            {"type": "Failed", "status": "False"},
            {"type": "Waiting", "status": "True"}]}});
        assert_eq!(
            capability(&obj, "DeveloperAccount"),
            Some(HealthStatus::suspended(
                "3scale DeveloperAccount is waiting for approval"
            ))
        );
        assert_eq!(
            capability(&json!({}), "Backend"),
            Some(HealthStatus::progressing(
                "Waiting for 3scale Backend status..."
            ))
        );
    }
}
