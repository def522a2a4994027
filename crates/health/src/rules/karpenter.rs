//! Karpenter: `karpenter.sh` NodePool and NodeClaim, `karpenter.k8s.aws` EC2NodeClass.
//!
//! Karpenter's objects report a `Ready` condition. A NodeClaim also walks through `Launched`,
//! `Registered` and `Initialized`, and is `Disrupting` while it is being consolidated, expired or
//! drifted (Suspended: the node is leaving on purpose).

use serde_json::Value;

use super::support::{degraded, get, healthy, lua_eq, progressing, status_conds, suspended};
use crate::status::HealthStatus;

/// Health of a NodePool or EC2NodeClass, from `Ready`.
pub fn ready(obj: &Value, kind: &str) -> HealthStatus {
    for c in status_conds(obj) {
        if c.is("Ready", "False") {
            return degraded(c.msg());
        }
        if c.is("Ready", "True") {
            return healthy(if kind == "EC2NodeClass" {
                "EC2NodeClass is ready"
            } else {
                c.msg()
            });
        }
    }
    progressing(format!("Waiting for {kind} to be ready"))
}

/// Health of a NodeClaim.
pub fn node_claim(obj: &Value) -> HealthStatus {
    let generation = get(obj, &["metadata", "generation"]);
    let observed = get(obj, &["status", "observedGeneration"]);
    if generation.is_some() && observed.is_some() && !lua_eq(generation, observed) {
        return progressing("Waiting for NodeClaim spec to be reconciled");
    }
    if let Some(c) = status_conds(obj).find(|c| c.is("Disrupting", "True")) {
        return suspended(c.msg());
    }
    for c in status_conds(obj) {
        if c.is("Ready", "True") {
            return healthy(c.msg());
        }
        if c.is("Ready", "False") {
            return degraded(c.msg());
        }
    }
    for (kind, message) in [
        ("Initialized", "Node initialized, waiting for Ready"),
        ("Registered", "Node registered, waiting for initialization"),
        ("Launched", "Node launched, waiting for registration"),
    ] {
        if status_conds(obj).any(|c| c.is(kind, "True")) {
            return progressing(message);
        }
    }
    progressing("Waiting for NodeClaim to be launched")
}

/// The rule for a Karpenter kind, if there is one.
pub fn rule(group: &str, kind: &str, obj: &Value) -> Option<HealthStatus> {
    Some(match (group, kind) {
        ("karpenter.sh", "NodePool") | ("karpenter.k8s.aws", "EC2NodeClass") => ready(obj, kind),
        ("karpenter.sh", "NodeClaim") => node_claim(obj),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn node_claim_phases() {
        let obj = json!({"status": {"conditions": [{"type": "Launched", "status": "True"}, {"type": "Ready", "status": "Unknown"}]}});
        assert_eq!(
            node_claim(&obj),
            HealthStatus::progressing("Node launched, waiting for registration")
        );
        let leaving = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Disrupting", "status": "True", "message": "drifted"}]}});
        assert_eq!(node_claim(&leaving), HealthStatus::suspended("drifted"));
    }
}
