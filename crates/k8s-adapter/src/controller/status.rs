//! Status conditions as Crossplane writes them (`Ready`, `Synced`), as pure functions.

use serde_json::{Value, json};

/// Condition type: the resource is ready for use.
pub const READY: &str = "Ready";
/// Condition type: the last reconcile succeeded.
pub const SYNCED: &str = "Synced";

/// One status condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// `Ready` or `Synced`.
    pub kind: &'static str,
    /// Whether the condition holds.
    pub status: bool,
    /// Crossplane's reason (`Available`, `Creating`, `Deleting`, `ReconcileSuccess`, `ReconcileError`).
    pub reason: &'static str,
    /// A sentence for people (empty when there is nothing to add).
    pub message: String,
}

impl Condition {
    /// `Ready=True`, reason `Available`.
    pub fn available() -> Self {
        Self {
            kind: READY,
            status: true,
            reason: "Available",
            message: String::new(),
        }
    }

    /// `Ready=False`, reason `Creating`.
    pub fn creating(message: impl Into<String>) -> Self {
        Self {
            kind: READY,
            status: false,
            reason: "Creating",
            message: message.into(),
        }
    }

    /// `Synced=True`, reason `ReconcileSuccess`.
    pub fn reconcile_success(message: impl Into<String>) -> Self {
        Self {
            kind: SYNCED,
            status: true,
            reason: "ReconcileSuccess",
            message: message.into(),
        }
    }

    /// `Synced=False`, reason `ReconcileError`.
    pub fn reconcile_error(message: impl Into<String>) -> Self {
        Self {
            kind: SYNCED,
            status: false,
            reason: "ReconcileError",
            message: message.into(),
        }
    }

    /// The condition as JSON, keeping `previous`'s transition time when the status is unchanged.
    pub fn to_json(&self, previous: &Value, now: &str) -> Value {
        let status = if self.status { "True" } else { "False" };
        let earlier = previous
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.get("type").and_then(Value::as_str) == Some(self.kind))
            });
        let since = match earlier {
            Some(c) if c.get("status").and_then(Value::as_str) == Some(status) => c
                .get("lastTransitionTime")
                .and_then(Value::as_str)
                .unwrap_or(now),
            _ => now,
        };
        let mut out = json!({"type": self.kind, "status": status, "reason": self.reason,
            "lastTransitionTime": since});
        if !self.message.is_empty() {
            out["message"] = Value::String(self.message.clone());
        }
        out
    }
}

/// The current time in RFC 3339 at second precision, as Kubernetes writes times.
pub fn now_rfc3339() -> String {
    let now = k8s_openapi::jiff::Timestamp::now();
    k8s_openapi::jiff::Timestamp::from_second(now.as_second())
        .map(|t| t.to_string())
        .unwrap_or_else(|_| now.to_string())
}

/// Whether an object's condition `kind` is `True`.
pub fn condition_is_true(object: &Value, kind: &str) -> bool {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some(kind)
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_is_kept_while_the_status_holds() {
        let previous = json!({"status": {"conditions": [
            {"type": "Ready", "status": "False", "reason": "Creating", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
        let still = Condition::creating("waiting").to_json(&previous, "2026-01-02T00:00:00Z");
        assert_eq!(still["lastTransitionTime"], "2026-01-01T00:00:00Z");
        assert_eq!(still["message"], "waiting");
        let flipped = Condition::available().to_json(&previous, "2026-01-02T00:00:00Z");
        assert_eq!(flipped["lastTransitionTime"], "2026-01-02T00:00:00Z");
        assert_eq!(flipped["status"], "True");
        assert!(flipped.get("message").is_none());
        assert!(now_rfc3339().ends_with('Z'));
    }
}
