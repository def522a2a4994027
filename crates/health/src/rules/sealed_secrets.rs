//! Sealed Secrets (`bitnami.com`): SealedSecret.
//!
//! The controller sets a `Synced` condition once it has (or has failed to) decrypt the secret.

use serde_json::Value;

use super::support::{degraded, healthy, progressing, status_conds};
use crate::status::HealthStatus;

/// Health of a SealedSecret.
pub fn sealed_secret(obj: &Value) -> HealthStatus {
    for c in status_conds(obj) {
        if c.is("Synced", "False") {
            return degraded(c.msg());
        }
        if c.is("Synced", "True") {
            return healthy(c.msg());
        }
    }
    progressing("Waiting for Sealed Secret to be decrypted")
}

/// The rule for a Sealed Secrets kind, if there is one.
pub fn rule(kind: &str, obj: &Value) -> Option<HealthStatus> {
    (kind == "SealedSecret").then(|| sealed_secret(obj))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn synced_condition_decides() {
        let obj = json!({"status": {"conditions": [{"type": "Synced", "status": "False", "message": "no key could decrypt secret"}]}});
        assert_eq!(
            sealed_secret(&obj),
            HealthStatus::degraded("no key could decrypt secret")
        );
        assert_eq!(
            sealed_secret(&json!({})),
            HealthStatus::progressing("Waiting for Sealed Secret to be decrypted")
        );
    }
}
