//! OpenShift and OLM: `apps.openshift.io` DeploymentConfig, `route.openshift.io` Route,
//! `operator.openshift.io` IngressController, `operators.coreos.com` Subscription and
//! `ocs.openshift.io` StorageCluster.

use serde_json::Value;

use super::support::{
    HealthStatusCodeExt as _, degraded, get, has_conditions, healthy, list, lua_eq, progressing,
    status_conds, text, unknown,
};
use crate::status::{HealthStatus, HealthStatusCode};

/// Health of a DeploymentConfig: `Available` and a new replication controller rolled out.
pub fn deployment_config(obj: &Value) -> HealthStatus {
    let replicas = get(obj, &["status", "replicas"]);
    if has_conditions(obj) && replicas.is_some() {
        let rolled_out = status_conds(obj)
            .filter(|c| {
                c.status == Some("True")
                    && (c.is_type("Available")
                        || (c.is_type("Progressing")
                            && c.reason == Some("NewReplicationControllerAvailable")))
            })
            .count();
        if rolled_out == 2 || lua_eq(replicas, Some(&serde_json::json!(0))) {
            return healthy("replication controller successfully rolled out");
        }
        if rolled_out == 1 {
            return progressing("replication controller is waiting for pods to run");
        }
        return degraded("Deployment config is degraded");
    }
    progressing("replication controller is waiting for pods to run")
}

/// Health of a Route: every router has admitted it.
pub fn route(obj: &Value) -> HealthStatus {
    if get(obj, &["status", "ingress"]).is_some() {
        let ingresses = list(obj, &["status", "ingress"]);
        let (mut admitted, mut refused) = (0, 0);
        for ingress in ingresses {
            for c in super::support::conds(list(ingress, &["conditions"])) {
                if c.is("Admitted", "True") {
                    admitted += 1;
                } else if c.is("Admitted", "False") {
                    refused += 1;
                }
            }
        }
        if admitted == ingresses.len() {
            return healthy("Route is healthy");
        }
        if refused > 0 {
            return degraded("Route is degraded");
        }
    }
    progressing("Route is still getting admitted")
}

/// Health of an IngressController: the first decisive condition.
pub fn ingress_controller(obj: &Value) -> HealthStatus {
    for c in status_conds(obj) {
        if c.is("Degraded", "True") {
            return degraded(c.msg());
        }
        if c.is("DeploymentReplicasAllAvailable", "False") {
            return progressing(c.msg());
        }
        if c.is("Progressing", "True") {
            return progressing(c.reason());
        }
        if c.is("Available", "True") {
            return healthy("IngressController is available");
        }
    }
    progressing("Status of IngressController is not known yet")
}

/// Health of an OLM Subscription: pending install plans and unknown states are Progressing,
/// failed resolution, install plans or catalog sources Degraded. An upgrade waiting for manual
/// approval of an operator already installed is Healthy. The message lists every condition.
pub fn subscription(obj: &Value) -> HealthStatus {
    if !has_conditions(obj) {
        return progressing("An install plan for a subscription is pending installation");
    }
    let manual_pending = text(obj, &["spec", "installPlanApproval"]) == Some("Manual")
        && status_conds(obj)
            .find(|c| c.is("InstallPlanPending", "True") && c.reason == Some("RequiresApproval"))
            .is_some()
        && get(obj, &["status", "installedCSV"]).is_some();
    let (mut degraded_count, mut pending_count) = (0, 0);
    let mut message = String::new();
    for (i, c) in status_conds(obj).enumerate() {
        if manual_pending && c.is_type("InstallPlanPending") {
            continue;
        }
        message.push_str(&format!(
            "{}: {} | {}\n",
            i + 1,
            c.kind.unwrap_or(""),
            c.status.unwrap_or("")
        ));
        if c.is("InstallPlanPending", "True") {
            pending_count += 1;
        } else if (c.is_type("InstallPlanMissing")
            && c.reason != Some("ReferencedInstallPlanNotFound"))
            || (c.status == Some("True")
                && matches!(
                    c.kind,
                    Some("CatalogSourcesUnhealthy" | "InstallPlanFailed" | "ResolutionFailed")
                ))
        {
            degraded_count += 1;
        }
    }
    match text(obj, &["status", "state"]) {
        None => {
            pending_count += 1;
            message.push_str(".status.state not yet known\n");
        }
        Some(state @ ("" | "UpgradeAvailable")) => {
            pending_count += 1;
            message.push_str(&format!(".status.state is '{state}'\n"));
        }
        Some("UpgradePending") if manual_pending => message.push_str(
            ".status.state is 'UpgradePending' (manual InstallPlan approval pending; treated as healthy)\n",
        ),
        Some("UpgradePending") => {
            pending_count += 1;
            message.push_str(".status.state is 'UpgradePending'\n");
        }
        Some("UpgradeFailed") => {
            degraded_count += 1;
            message.push_str(".status.state is 'UpgradeFailed'\n");
        }
        Some(state) => message.push_str(&format!(".status.state is '{state}'\n")),
    }
    let status = if degraded_count == 0 && pending_count == 0 {
        HealthStatusCode::Healthy
    } else if degraded_count == 0 {
        HealthStatusCode::Progressing
    } else {
        HealthStatusCode::Degraded
    };
    status.with(message)
}

/// Health of an OpenShift Data Foundation StorageCluster: Degraded, then Progressing, then
/// Available conditions (the last of each kind gives the message).
pub fn storage_cluster(obj: &Value) -> HealthStatus {
    let last = |kind: &str| status_conds(obj).filter(|c| c.is(kind, "True")).last();
    if let Some(c) = last("Degraded") {
        return degraded(c.msg());
    }
    if let Some(c) = last("Progressing") {
        return progressing(c.msg());
    }
    if let Some(c) = last("Available") {
        return healthy(c.msg());
    }
    unknown("StorageCluster is in an unknown state.")
}

/// The rule for an OpenShift or OLM kind, if there is one.
pub fn rule(group: &str, kind: &str, obj: &Value) -> Option<HealthStatus> {
    Some(match (group, kind) {
        ("apps.openshift.io", "DeploymentConfig") => deployment_config(obj),
        ("route.openshift.io", "Route") => route(obj),
        ("operator.openshift.io", "IngressController") => ingress_controller(obj),
        ("operators.coreos.com", "Subscription") => subscription(obj),
        ("ocs.openshift.io", "StorageCluster") => storage_cluster(obj),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subscription_states() {
        let obj = json!({"spec": {}, "status": {"state": "AtLatestKnown", "conditions": [
            {"type": "CatalogSourcesUnhealthy", "status": "False"}]}});
        assert_eq!(
            subscription(&obj),
            HealthStatus::healthy(
                "1: CatalogSourcesUnhealthy | False\n.status.state is 'AtLatestKnown'\n"
            )
        );
        let route_ = json!({"status": {"ingress": [{"conditions": [{"type": "Admitted", "status": "False"}]}]}});
        assert_eq!(route(&route_), HealthStatus::degraded("Route is degraded"));
    }
}
