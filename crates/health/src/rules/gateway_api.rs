//! Gateway API (`gateway.networking.k8s.io`): GatewayClass, Gateway, HTTPRoute, GRPCRoute, the
//! experimental TLSRoute/TCPRoute/UDPRoute, BackendTLSPolicy; and policies attached the same
//! way by other projects (Airlock Microgateway's `*Policy` kinds).
//!
//! Gateway API conditions carry their own `observedGeneration`; a condition written for an older
//! generation says nothing about the current spec. `Accepted` and `ResolvedRefs` False are
//! failures, `Programmed` not True is work in progress.

use serde_json::Value;

use super::support::{
    Cond, conds, degraded, get, healthy, list, lua_eq, progressing, status_conds, text,
};
use crate::status::HealthStatus;

/// The first condition of a type whose status is False.
fn false_condition<'a>(list: &'a [Value], kind: &str) -> Option<Cond<'a>> {
    conds(list).find(|c| c.is(kind, "False"))
}

fn failed_message(c: &Cond<'_>, kind: &str) -> String {
    c.message
        .map_or_else(|| format!("Failed condition: {kind}"), str::to_string)
}

/// The failures and progress of one set of conditions: `Err` when they decide.
fn check(list: &[Value], prefix: &str, programming: &str) -> Result<(), HealthStatus> {
    for kind in ["ResolvedRefs", "Accepted"] {
        if let Some(c) = false_condition(list, kind) {
            return Err(degraded(format!("{prefix}{}", failed_message(&c, kind))));
        }
    }
    if let Some(c) = conds(list).find(|c| c.is_type("Programmed") && c.status != Some("True")) {
        return Err(progressing(format!("{prefix}{}", c.msg_or(programming))));
    }
    Ok(())
}

/// Health of a Gateway: its own conditions, then each listener's.
pub fn gateway(obj: &Value) -> HealthStatus {
    if get(obj, &["status"]).is_some() {
        let conditions = get(obj, &["status", "conditions"]);
        if conditions.is_some()
            && let Err(health) = check(
                list(obj, &["status", "conditions"]),
                "",
                "Gateway is still being programmed",
            )
        {
            return health;
        }
        let listeners = list(obj, &["status", "listeners"]);
        for listener in listeners {
            if get(listener, &["conditions"]).is_some()
                && let Err(health) = check(
                    list(listener, &["conditions"]),
                    "Listener: ",
                    "Listener is still being programmed",
                )
            {
                return health;
            }
        }
        if conditions.is_some() || !listeners.is_empty() {
            return healthy("Gateway is healthy");
        }
    }
    progressing("Waiting for Gateway status")
}

fn parent_observed(obj: &Value, parent: &Value) -> bool {
    let Some(generation) = get(obj, &["metadata", "generation"]) else {
        return true;
    };
    let conditions = list(parent, &["conditions"]);
    if conditions.is_empty() {
        return false;
    }
    conds(conditions).all(|c| {
        c.field("observedGeneration")
            .is_none_or(|observed| lua_eq(Some(observed), Some(generation)))
    })
}

/// Health of a route (HTTPRoute, GRPCRoute, TLSRoute, TCPRoute, UDPRoute) from its parents'
/// conditions. With `generation_aware`, parents whose conditions were written for an older
/// generation are skipped.
pub fn route(obj: &Value, kind: &str, generation_aware: bool) -> HealthStatus {
    let parents = list(obj, &["status", "parents"]);
    for parent in parents {
        if get(parent, &["conditions"]).is_none() {
            continue;
        }
        if generation_aware && !parent_observed(obj, parent) {
            continue;
        }
        let name = text(parent, &["parentRef", "name"]).unwrap_or("");
        if let Err(health) = check(
            list(parent, &["conditions"]),
            &format!("Parent {name}: "),
            "Route is still being programmed",
        ) {
            return health;
        }
    }
    let observed_parent = parents.iter().any(|parent| {
        !list(parent, &["conditions"]).is_empty()
            && (!generation_aware || parent_observed(obj, parent))
    });
    if observed_parent {
        return healthy(format!("{kind} is healthy"));
    }
    progressing(format!("Waiting for {kind} status"))
}

/// Health of a GatewayClass, from its current `Accepted` condition.
pub fn gateway_class(obj: &Value) -> HealthStatus {
    let generation = get(obj, &["metadata", "generation"]);
    for c in status_conds(obj) {
        if !c.is_type("Accepted") {
            continue;
        }
        if let (Some(generation), Some(observed)) = (generation, c.field("observedGeneration"))
            && !lua_eq(Some(observed), Some(generation))
        {
            continue;
        }
        return match c.status {
            Some("True") => healthy(c.msg_or("GatewayClass is accepted")),
            Some("False") => degraded(c.msg_or("GatewayClass is not accepted")),
            _ => progressing(c.msg_or("Waiting for GatewayClass status")),
        };
    }
    progressing("Waiting for GatewayClass status")
}

/// Health of a BackendTLSPolicy from its ancestors' conditions.
pub fn backend_tls_policy(obj: &Value) -> HealthStatus {
    let mut health = progressing("Waiting for BackendTLSPolicy status");
    let ancestors = list(obj, &["status", "ancestors"]);
    if let Some(generation) = get(obj, &["metadata", "generation"]) {
        for ancestor in ancestors {
            let stale = conds(list(ancestor, &["conditions"])).any(|c| {
                c.field("observedGeneration")
                    .is_some_and(|observed| !lua_eq(Some(observed), Some(generation)))
            });
            if stale {
                let name = text(ancestor, &["ancestorRef", "name"]).unwrap_or("");
                return progressing(format!(
                    "Waiting for Ancestor {name} to update BackendTLSPolicy status"
                ));
            }
        }
    }
    for ancestor in ancestors {
        let name = text(ancestor, &["ancestorRef", "name"]).unwrap_or("");
        for c in conds(list(ancestor, &["conditions"])) {
            let ok = c.status == Some("True");
            if c.is_type("Accepted") {
                if !ok {
                    return degraded(format!("Ancestor {name}: {}", c.msg()));
                }
                health = healthy("BackendTLSPolicy is healthy");
            }
            if c.is_type("ResolvedRefs") && !ok {
                return degraded(format!("Ancestor {name}: {}", c.msg()));
            }
        }
    }
    health
}

/// Health of a policy attached to Gateway API ancestors (Airlock Microgateway's `*Policy` kinds;
/// its other kinds are plain configuration and always Healthy).
pub fn ancestor_policy(obj: &Value) -> HealthStatus {
    let kind = text(obj, &["kind"]);
    let name_of_kind = kind.unwrap_or("Policy");
    if !kind.is_some_and(|k| k.ends_with("Policy")) {
        return healthy(format!("{} is healthy", kind.unwrap_or("")));
    }
    let mut health = progressing(format!("Waiting for {name_of_kind} status"));
    let ancestors = list(obj, &["status", "ancestors"]);
    if let Some(generation) = get(obj, &["metadata", "generation"]) {
        for ancestor in ancestors {
            let stale = conds(list(ancestor, &["conditions"]))
                .any(|c| !lua_eq(c.field("observedGeneration"), Some(generation)));
            if stale {
                let name = text(ancestor, &["ancestorRef", "name"]).unwrap_or("");
                return progressing(format!(
                    "Waiting for Ancestor {name} to update {name_of_kind} status"
                ));
            }
        }
    }
    for ancestor in ancestors {
        let name = text(ancestor, &["ancestorRef", "name"]).unwrap_or("");
        let mut accepted_seen = false;
        for c in conds(list(ancestor, &["conditions"])) {
            let ok = c.status == Some("True");
            if c.is_type("Accepted") {
                accepted_seen = true;
                if !ok {
                    return degraded(format!("Ancestor {name}: {}", c.msg()));
                }
                health = healthy(format!("{name_of_kind} is healthy"));
            }
            if c.is_type("ResolvedRefs") && !ok {
                return degraded(format!("Ancestor {name}: {}", c.msg()));
            }
        }
        if !accepted_seen {
            health = degraded(format!("Ancestor {name}: {name_of_kind} is not accepted"));
        }
    }
    health
}

/// The rule for a Gateway API kind, if there is one.
pub fn rule(kind: &str, obj: &Value) -> Option<HealthStatus> {
    Some(match kind {
        "GatewayClass" => gateway_class(obj),
        "Gateway" => gateway(obj),
        "HTTPRoute" | "TLSRoute" | "TCPRoute" | "UDPRoute" => route(obj, kind, true),
        "GRPCRoute" => route(obj, kind, false),
        "BackendTLSPolicy" => backend_tls_policy(obj),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::HealthStatusCode;
    use serde_json::json;

    #[test]
    fn stale_route_parents_are_skipped() {
        let obj = json!({"metadata": {"generation": 2}, "status": {"parents": [{"parentRef": {"name": "gw"},
            "conditions": [{"type": "Accepted", "status": "False", "observedGeneration": 1, "message": "old"}]}]}});
        assert_eq!(
            route(&obj, "HTTPRoute", true),
            HealthStatus::progressing("Waiting for HTTPRoute status")
        );
        assert_eq!(
            route(&obj, "GRPCRoute", false),
            HealthStatus::degraded("Parent gw: old")
        );
    }

    #[test]
    fn gateway_listener_failures() {
        let obj = json!({"status": {"conditions": [{"type": "Programmed", "status": "True"}],
            "listeners": [{"conditions": [{"type": "ResolvedRefs", "status": "False"}]}]}});
        assert_eq!(
            gateway(&obj),
            HealthStatus::degraded("Listener: Failed condition: ResolvedRefs")
        );
        assert_eq!(
            gateway_class(&json!({})).status,
            HealthStatusCode::Progressing
        );
    }
}
