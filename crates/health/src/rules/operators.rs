//! Smaller operators with a documented status field each: Humio/LogScale (`core.humio.com`),
//! NetApp Astra and Trident, Keptn (`lifecycle.keptn.sh`, `metrics.keptn.sh`), Open Cluster
//! Management policies, SAP BTP service operator, Gardener shoots, keikoproj iam-manager, AWS
//! ACK and Google Config Connector wildcards.

use serde_json::Value;

use super::support::{
    HealthStatusCodeExt as _, degraded, get, has_conditions, has_status, healthy, is_true,
    label_of, list, lua_eq, lua_text, missing, progressing, status_conds, suspended, text,
    text_or_empty, truthy, unknown,
};
use crate::status::{HealthStatus, HealthStatusCode};

// ---------------------------------------------------------------- Humio / LogScale

/// Health of a Humio object with a `status.state` of Exists/NotFound/ConfigError/Unknown.
pub fn humio_resource(obj: &Value) -> HealthStatus {
    let mut health = progressing("Update in progress");
    if has_status(obj) {
        match text(obj, &["status", "state"]) {
            Some("Exists") => health = healthy("Component state: Exists."),
            Some("NotFound") => health = missing("Component state: NotFound."),
            Some("ConfigError") => health = degraded("Component state: ConfigError."),
            Some("Unknown") => health = unknown("Component state: Unknown."),
            _ => {}
        }
    }
    health
}

/// Health of a HumioCluster, from its state (the status message when set).
pub fn humio_cluster(obj: &Value) -> HealthStatus {
    let message = |default: &str| {
        text(obj, &["status", "message"])
            .unwrap_or(default)
            .to_string()
    };
    match text(obj, &["status", "state"]) {
        Some("Running") => healthy(message("Cluster is in a healthy running state")),
        Some("Restarting") => progressing(message("Cluster pods are being restarted")),
        Some("Upgrading") => progressing(message("Cluster pods are being upgraded")),
        Some("ConfigError") => degraded(message(
            "User-provided cluster specification resulted in a configuration error",
        )),
        Some("Pending") => {
            progressing(message("Cluster is waiting on resources to be provisioned"))
        }
        Some("Unknown") => unknown(message("Component state: Unknown.")),
        _ => progressing("Update in progress"),
    }
}

// ---------------------------------------------------------------- NetApp

/// Health of an Astra job kind (Backup, Snapshot, ExecHooksRun, ResticVolumeBackup,
/// ResourceBackup…), from `status.state`.
pub fn astra_run(obj: &Value) -> HealthStatus {
    let kind = text_or_empty(obj, &["kind"]);
    match get(obj, &["status", "state"]) {
        None => progressing("No status available"),
        Some(Value::String(s)) if s == "Completed" => healthy(format!("{kind} Completed")),
        Some(Value::String(s)) if s == "Running" => progressing(format!("{kind} Running")),
        Some(other) => degraded(lua_text(Some(other)).unwrap_or_default()),
    }
}

/// Health of an Astra AppVault.
pub fn astra_app_vault(obj: &Value) -> HealthStatus {
    let kind = text_or_empty(obj, &["kind"]);
    match text(obj, &["status", "state"]) {
        Some("available" | "Available") => healthy(format!("{kind} Available")),
        Some("failed" | "Failed") => degraded(format!("{kind} Failed")),
        _ => progressing("No status available"),
    }
}

/// Health of an Astra Application, from `Ready`.
pub fn astra_application(obj: &Value) -> HealthStatus {
    for c in status_conds(obj) {
        if c.is("Ready", "True") {
            return healthy(format!(
                "Astra Application Ready, protectionState: {}",
                text_or_empty(obj, &["status", "protectionState"])
            ));
        }
        if c.is("Ready", "False") {
            return degraded(format!("Astra Application Degraded, message: {}", c.msg()));
        }
    }
    progressing("No status available")
}

/// Health of an Astra ExecHook: enabled or not.
pub fn astra_exec_hook(obj: &Value) -> HealthStatus {
    let kind = text_or_empty(obj, &["kind"]);
    match get(obj, &["spec", "enabled"]) {
        Some(Value::Bool(true)) => healthy(format!("{kind} enabled")),
        Some(Value::Bool(false)) => suspended(format!("{kind} disabled")),
        _ => progressing("No status available"),
    }
}

/// Health of an Astra Schedule: always Healthy, with the last run.
pub fn astra_schedule(obj: &Value) -> HealthStatus {
    match lua_text(get(obj, &["status", "lastScheduleTime"])) {
        Some(time) => healthy(format!("Protection policy lastScheduleTime: {time}")),
        None => healthy("Protection policy not yet executed"),
    }
}

/// Health of a Trident backend config.
pub fn trident_backend_config(obj: &Value) -> HealthStatus {
    let message = text_or_empty(obj, &["status", "message"]);
    if text(obj, &["status", "phase"]) == Some("Bound")
        && text(obj, &["status", "lastOperationStatus"]) == Some("Success")
    {
        return healthy(message);
    }
    if text(obj, &["status", "lastOperationStatus"]) == Some("Failed") {
        return degraded(message);
    }
    progressing("Waiting for backend creation")
}

/// Health of a TridentOrchestrator.
pub fn trident_orchestrator(obj: &Value) -> HealthStatus {
    let message = text_or_empty(obj, &["status", "message"]);
    match text(obj, &["status", "status"]) {
        Some("Installed") => healthy(message),
        Some("Failed" | "Error") => degraded(message),
        _ => progressing("Waiting for trident installation"),
    }
}

// ---------------------------------------------------------------- Keptn

/// Health of a Keptn lifecycle object, from `status.status` (or `status.overallStatus`).
pub fn keptn_lifecycle(obj: &Value, kind: &str) -> HealthStatus {
    let field = if kind == "KeptnEvaluation" {
        "overallStatus"
    } else {
        "status"
    };
    match text(obj, &["status", field]) {
        Some("Succeeded") => healthy(format!("{kind} is healthy")),
        Some("Failed") => degraded(format!("{kind} is degraded")),
        _ => progressing(format!("{kind} is progressing")),
    }
}

/// Health of a Keptn metrics Analysis.
pub fn keptn_analysis(obj: &Value) -> HealthStatus {
    match get(obj, &["status", "pass"]) {
        Some(Value::Bool(true)) => return healthy("Analysis is healthy"),
        _ if is_true(obj, &["status", "warning"]) => {
            return healthy("Analysis is healthy with warnings");
        }
        Some(Value::Bool(false)) => return degraded("Analysis is degraded"),
        _ => {}
    }
    progressing("Analysis is progressing")
}

/// Health of a KeptnMetric: a value without an error is Healthy.
pub fn keptn_metric(obj: &Value) -> HealthStatus {
    let error = text(obj, &["status", "errMsg"]).filter(|e| !e.is_empty());
    let has_error =
        error.is_some() || get(obj, &["status", "errMsg"]).is_some_and(|v| !v.is_string());
    if !has_error && get(obj, &["status", "value"]).is_some() {
        return healthy("KeptnMetric is healthy");
    }
    if has_error {
        return degraded("KeptnMetric is degraded");
    }
    progressing("KeptnMetric is progressing")
}

// ---------------------------------------------------------------- Open Cluster Management

/// Health of a CertificatePolicy.
pub fn ocm_certificate_policy(obj: &Value) -> HealthStatus {
    match get(obj, &["status", "compliant"]) {
        None => progressing("Waiting for the status to be reported"),
        Some(Value::String(s)) if s == "Compliant" => {
            healthy("All certificates found comply with the policy")
        }
        Some(_) => degraded("At least once certificate does not comply with the policy"),
    }
}

/// Health of an OperatorPolicy, from its current `Compliant` condition.
pub fn ocm_operator_policy(obj: &Value) -> HealthStatus {
    if !has_conditions(obj) {
        return progressing("Waiting for the status to be reported");
    }
    let observed = get(obj, &["status", "observedGeneration"]);
    if observed.is_some() && !lua_eq(observed, get(obj, &["metadata", "generation"])) {
        return progressing("Waiting for the status to be updated");
    }
    if let Some(c) = status_conds(obj).find(|c| c.is_type("Compliant")) {
        return if c.status == Some("True") {
            healthy(c.msg())
        } else {
            degraded(c.msg())
        };
    }
    progressing("Waiting for the compliance condition")
}

/// Health of a ConfigurationPolicy.
pub fn ocm_configuration_policy(obj: &Value) -> HealthStatus {
    let Some(compliant) = get(obj, &["status", "compliant"]) else {
        return progressing("Waiting for the status to be reported");
    };
    if !lua_eq(
        get(obj, &["status", "lastEvaluatedGeneration"]),
        get(obj, &["metadata", "generation"]),
    ) {
        return progressing("Waiting for the status to be updated");
    }
    let code = if compliant.as_str() == Some("Compliant") {
        HealthStatusCode::Healthy
    } else {
        HealthStatusCode::Degraded
    };
    if get(obj, &["status", "compliancyDetails"]).is_none() {
        return progressing("Waiting for compliance");
    }
    let mut messages = Vec::new();
    for detail in list(obj, &["status", "compliancyDetails"]) {
        for c in super::support::conds(list(detail, &["conditions"])) {
            if let (Some(kind), Some(message)) = (c.kind, c.message) {
                messages.push(format!("{kind} - {message}"));
            }
        }
    }
    code.with(messages.join("; "))
}

/// Health of a Policy (root or replicated), listing non-compliant clusters or templates.
pub fn ocm_policy(obj: &Value) -> HealthStatus {
    if truthy(get(obj, &["spec", "disabled"])) {
        return healthy("Policy is disabled");
    }
    if !has_status(obj) {
        return progressing("Waiting for the status to be reported");
    }
    let compliant = get(obj, &["status", "compliant"]);
    if compliant.is_none()
        && get(obj, &["status", "status"]).is_none()
        && !list(obj, &["status", "placement"]).is_empty()
    {
        return healthy("No clusters match this policy");
    }
    let Some(compliant) = compliant else {
        return progressing("Waiting for the status to be reported");
    };
    let code = if compliant.as_str() == Some("Compliant") {
        HealthStatusCode::Healthy
    } else {
        HealthStatusCode::Degraded
    };
    let noncompliant = |entries: &[Value], name: &[&str]| -> Vec<String> {
        entries
            .iter()
            .filter(|e| text(e, &["compliant"]) != Some("Compliant"))
            .map(|e| text_or_empty(e, name))
            .collect()
    };
    let message = if get(obj, &["status", "status"]).is_some() {
        let names = noncompliant(list(obj, &["status", "status"]), &["clustername"]);
        if names.is_empty() {
            "All clusters are compliant".to_string()
        } else {
            format!("NonCompliant clusters: {}", names.join(", "))
        }
    } else if get(obj, &["status", "details"]).is_some() {
        let names = noncompliant(list(obj, &["status", "details"]), &["templateMeta", "name"]);
        if names.is_empty() {
            "All templates are compliant".to_string()
        } else {
            format!("NonCompliant templates: {}", names.join(", "))
        }
    } else {
        String::new()
    };
    code.with(message)
}

// ---------------------------------------------------------------- SAP BTP service operator

/// Health of a ServiceInstance or ServiceBinding.
pub fn sap_service(obj: &Value) -> HealthStatus {
    if truthy(get(obj, &["metadata", "deletionTimestamp"])) {
        return progressing("Resource is being deleted");
    }
    if matches!(
        get(obj, &["status", "conditions"]),
        Some(Value::Array(_) | Value::Object(_))
    ) {
        let generation = get(obj, &["metadata", "generation"]);
        for c in status_conds(obj) {
            let observed = c.field("observedGeneration");
            if truthy(observed) && truthy(generation) && !lua_eq(observed, generation) {
                return progressing("Waiting for spec update to be observed");
            }
            if c.is("Succeeded", "False") || c.is("Failed", "True") {
                return degraded(c.msg());
            }
        }
        return healthy("Ready to use");
    }
    progressing("Waiting for status")
}

// ---------------------------------------------------------------- Gardener, iam-manager

/// Health of a Gardener Shoot, from its `shoot.gardener.cloud/status` label.
pub fn gardener_shoot(obj: &Value) -> HealthStatus {
    match label_of(obj, "shoot.gardener.cloud/status") {
        Some("healthy") => healthy("Component state: Healthy"),
        Some("progressing") => progressing("Component state: Update in progress"),
        Some("unhealthy") => degraded("Component state: Unhealthy"),
        Some("unknown") => unknown("Component state: Unknown"),
        _ => progressing("Update in progress"),
    }
}

/// Health of a keikoproj iam-manager Iamrole.
pub fn iam_role(obj: &Value) -> HealthStatus {
    if has_status(obj) {
        let field = |key: &str| lua_text(get(obj, &["status", key])).unwrap_or("<none>".into());
        let (name, arn, id) = (field("roleName"), field("roleARN"), field("roleID"));
        let state = text(obj, &["status", "state"]);
        if state == Some("Ready") {
            return healthy(format!(
                "Role '{name}' exists with ARN '{arn}' and ID '{id}'."
            ));
        }
        if matches!(
            state,
            Some("Error" | "RolesMaxLimitReached" | "PolicyNotAllowed" | "RoleNameNotAvailable")
        ) {
            let mut message = "Failed to reconcile the Iamrole ".to_string();
            if let Some(retries) = super::support::num(obj, &["status", "retryCount"])
                && retries > 0.0
            {
                message.push_str(&format!(
                    "(retry {}) ",
                    super::support::format_number(retries)
                ));
            }
            message.push_str(&format!(
                "for role '{name}' with ARN '{arn}' and ID '{id}'."
            ));
            if let Some(error) = lua_text(get(obj, &["status", "errorDescription"])) {
                message.push_str(&format!(" Reconciliation error was: {error}"));
            }
            return degraded(message);
        }
    }
    progressing("Waiting for Iamrole to be reconciled")
}

// ---------------------------------------------------------------- cloud controllers

/// Health of an AWS Controllers for Kubernetes resource (`*.services.k8s.aws`): a terminal
/// condition degrades it; `Ready` decides otherwise.
pub fn aws_ack(obj: &Value) -> HealthStatus {
    for c in status_conds(obj) {
        if c.is("ACK.Terminal", "True") {
            return degraded(c.msg());
        }
        if c.is_type("Ready") {
            match c.status {
                Some("False") => return progressing(c.msg()),
                Some("True") => return healthy(""),
                _ => {}
            }
        }
    }
    progressing("Waiting for resource to be ready")
}

/// Health of a Google Config Connector resource (`*.cnrm.cloud.google.com`): stale status is
/// Progressing; the `Ready` condition's reason decides (`UpToDate`, `UpdateFailed`,
/// `DependencyNotFound`, `DependencyNotReady`).
pub fn gcp_config_connector(obj: &Value) -> HealthStatus {
    let mut health = progressing("Update in progress");
    if !has_status(obj) {
        return health;
    }
    let observed = get(obj, &["status", "observedGeneration"]);
    let current = observed.is_none() || lua_eq(observed, get(obj, &["metadata", "generation"]));
    let kind = text_or_empty(obj, &["kind"]);
    if (kind == "ConfigConnector" || kind == "ConfigConnectorContext")
        && let Some(flag) = get(obj, &["status", "healthy"])
        && current
    {
        return if flag == &Value::Bool(true) {
            healthy(format!("{kind} is healthy"))
        } else {
            degraded(format!("{kind} is not healthy"))
        };
    }
    if has_conditions(obj) && current {
        for c in status_conds(obj) {
            match c.reason {
                Some("UpToDate") if c.status == Some("True") => return healthy(c.msg()),
                Some("UpdateFailed" | "DependencyNotFound") => return degraded(c.msg()),
                Some("DependencyNotReady") => {
                    health = suspended(c.msg());
                    return health;
                }
                _ => {}
            }
        }
    }
    health
}

/// The rule for one of these operators' kinds, if there is one.
pub fn rule(group: &str, kind: &str, obj: &Value) -> Option<HealthStatus> {
    Some(match (group, kind) {
        ("core.humio.com", "HumioCluster") => humio_cluster(obj),
        (
            "core.humio.com",
            "HumioAlert" | "HumioIngestToken" | "HumioRepository" | "HumioView" | "HumioAction"
            | "HumioParser",
        ) => humio_resource(obj),
        ("astra.netapp.io", "AppVault") => astra_app_vault(obj),
        ("astra.netapp.io", "Application") => astra_application(obj),
        ("astra.netapp.io", "ExecHook") => astra_exec_hook(obj),
        ("astra.netapp.io", "Schedule") => astra_schedule(obj),
        (
            "astra.netapp.io",
            "Backup" | "Snapshot" | "ExecHooksRun" | "ResticVolumeBackup" | "ResourceBackup",
        ) => astra_run(obj),
        ("trident.netapp.io", "TridentBackendConfig") => trident_backend_config(obj),
        ("trident.netapp.io", "TridentOrchestrator") => trident_orchestrator(obj),
        (
            "lifecycle.keptn.sh",
            "KeptnEvaluation"
            | "KeptnWorkloadInstance"
            | "KeptnAppVersion"
            | "KeptnTask"
            | "KeptnWorkloadVersion",
        ) => keptn_lifecycle(obj, kind),
        ("metrics.keptn.sh", "Analysis") => keptn_analysis(obj),
        ("metrics.keptn.sh", "KeptnMetric") => keptn_metric(obj),
        ("policy.open-cluster-management.io", "CertificatePolicy") => ocm_certificate_policy(obj),
        ("policy.open-cluster-management.io", "OperatorPolicy") => ocm_operator_policy(obj),
        ("policy.open-cluster-management.io", "ConfigurationPolicy") => {
            ocm_configuration_policy(obj)
        }
        ("policy.open-cluster-management.io", "Policy") => ocm_policy(obj),
        ("services.cloud.sap.com", "ServiceInstance" | "ServiceBinding") => sap_service(obj),
        ("core.gardener.cloud", "Shoot") => gardener_shoot(obj),
        ("iammanager.keikoproj.io", "Iamrole") => iam_role(obj),
        (group, _) if group.ends_with(".services.k8s.aws") => aws_ack(obj),
        (group, _) if group.ends_with(".cnrm.cloud.google.com") => gcp_config_connector(obj),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ack_and_config_connector() {
        let ack = json!({"status": {"conditions": [{"type": "ACK.Terminal", "status": "True", "message": "bad"}]}});
        assert_eq!(aws_ack(&ack), HealthStatus::degraded("bad"));
        let kcc = json!({"metadata": {"generation": 2}, "status": {"observedGeneration": 2, "conditions": [
            {"type": "Ready", "status": "False", "reason": "DependencyNotReady", "message": "waiting on network"}]}});
        assert_eq!(
            gcp_config_connector(&kcc),
            HealthStatus::suspended("waiting on network")
        );
        let policy = json!({"spec": {}, "status": {"compliant": "NonCompliant", "status": [
            {"clustername": "a", "compliant": "NonCompliant"}, {"clustername": "b", "compliant": "Compliant"}]}});
        assert_eq!(
            ocm_policy(&policy),
            HealthStatus::degraded("NonCompliant clusters: a")
        );
    }
}
