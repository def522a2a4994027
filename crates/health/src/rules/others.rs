//! Other operators with a documented status each: Apache Camel K, Coralogix, SpinKube, Flagger,
//! Keycloak, nmstate, 1Password, OpenTelemetry, VictoriaMetrics, proclaim, Contour, CSI volume
//! snapshots, the Spark operator, Karmada, Datadog, Flink, Jaeger, Kiali, Koperator, MinIO, GKE
//! managed certificates, OpenFaaS, Pulumi, KServe, Spot and the AWX/Ansible operator.

use std::cmp::Ordering;

use serde_json::Value;

use super::support::{
    HealthStatusCodeExt as _, degraded, get, has_conditions, has_status, healthy, list, lua_eq,
    lua_text, missing, num, progressing, ready_condition_or, status_conds, suspended, text,
    text_or_empty, truthy, unknown,
};
use crate::status::{HealthStatus, HealthStatusCode};

/// Health of a Camel K Integration, from `Ready`.
pub fn camel_integration(obj: &Value) -> HealthStatus {
    ready_condition_or(obj, "Waiting for Integration")
}

/// Health of a 1Password OnePasswordItem, from `Ready`.
pub fn one_password_item(obj: &Value) -> HealthStatus {
    ready_condition_or(obj, "Waiting for controller to report status")
}

/// Health of a Coralogix Alert, from `RemoteSynced`.
pub fn coralogix_alert(obj: &Value) -> HealthStatus {
    for c in status_conds(obj).filter(|c| c.is_type("RemoteSynced")) {
        match c.status {
            Some("True") => return healthy("Resource is ready"),
            Some("False") => return degraded(c.msg()),
            _ => {}
        }
    }
    progressing("Waiting for status to be updated")
}

/// Health of a SpinKube SpinApp: a deployment that timed out or failed is Degraded, an
/// unavailable app Degraded, missing replicas or a rollout Progressing.
pub fn spin_app(obj: &Value) -> HealthStatus {
    if !truthy(get(obj, &["status"])) {
        return progressing("Waiting for status to be available");
    }
    let (mut available, mut rolling) = (false, false);
    let (mut available_message, mut rolling_message) = (String::new(), String::new());
    for c in status_conds(obj) {
        if c.is_type("Progressing") {
            let text = c.msg().to_lowercase();
            if c.status == Some("False")
                && (c.reason == Some("ProgressDeadlineExceeded")
                    || text.contains("timeout")
                    || text.contains("failed"))
            {
                return degraded(c.msg_or("Application deployment has failed"));
            }
            if c.status == Some("True") {
                rolling = true;
                rolling_message = c.msg_or("Application progress status").to_string();
            }
        } else if c.is_type("Available") {
            available = c.status == Some("True");
            available_message = if available {
                c.msg_or("Application availability status")
            } else {
                c.msg_or("Application is not available")
            }
            .to_string();
        }
    }
    let ready = num(obj, &["status", "readyReplicas"]).unwrap_or(0.0);
    let desired = num(obj, &["spec", "replicas"]).unwrap_or(1.0);
    if !available {
        return degraded(available_message);
    }
    if ready < desired {
        return progressing(format!(
            "Waiting for replicas to be ready ({}/{})",
            ready as i64, desired as i64
        ));
    }
    if rolling {
        return progressing(rolling_message);
    }
    healthy(format!(
        "Application is healthy with {}/{} replicas ready",
        ready as i64, desired as i64
    ))
}

/// Health of a Flagger Canary, from its phase; the message lists the canary weight and the
/// conditions' messages.
pub fn flagger_canary(obj: &Value) -> HealthStatus {
    const SEP: &str = " --- ";
    if !has_status(obj) {
        return unknown("No status");
    }
    let mut message = String::new();
    let weight = get(obj, &["status", "canaryWeight"]);
    let weight_number = match weight {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    if weight_number.is_some_and(|w| w > 0.0) {
        message = format!("Canary Weight: {} %", lua_text(weight).unwrap_or_default());
    }
    for c in status_conds(obj) {
        if !message.is_empty() {
            message.push_str(SEP);
        }
        message.push_str(c.msg());
    }
    let phase = text_or_empty(obj, &["status", "phase"]);
    let status = match phase.as_str() {
        "Failed" => HealthStatusCode::Degraded,
        "Progressing" | "Finalising" | "Promoting" => HealthStatusCode::Progressing,
        "Succeeded" | "Initialized" => HealthStatusCode::Healthy,
        _ => HealthStatusCode::Unknown,
    };
    status.with(format!("{phase}{SEP}{message}"))
}

/// Health of a Keycloak: the conditions from oldest to newest; `Ready=True` is Healthy,
/// `HasErrors=True` Degraded.
pub fn keycloak(obj: &Value) -> HealthStatus {
    if !has_conditions(obj) {
        return progressing("Waiting for Keycloak status conditions to exist");
    }
    let mut conditions: Vec<_> = status_conds(obj).collect();
    conditions.sort_by(|a, b| {
        match (
            text(a.value, &["lastTransitionTime"]),
            text(b.value, &["lastTransitionTime"]),
        ) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => x.cmp(y),
        }
    });
    for c in conditions {
        if c.is("Ready", "True") {
            return healthy("");
        }
        if c.is("HasErrors", "True") {
            return degraded(format!("Has Errors: {}", c.msg()));
        }
    }
    progressing("")
}

/// Health of an nmstate NodeNetworkConfigurationPolicy: the first True condition among
/// `Available`, `Degraded`, `Progressing` and `Ignored` (a policy matching no node: Suspended).
pub fn nncp(obj: &Value) -> HealthStatus {
    for c in status_conds(obj).filter(|c| c.status == Some("True")) {
        let message = match c.message.filter(|m| !m.is_empty()) {
            Some(text) => format!("{}: {text}", c.reason()),
            None => c.reason().to_string(),
        };
        let status = match c.kind {
            Some("Available") => HealthStatusCode::Healthy,
            Some("Degraded") => HealthStatusCode::Degraded,
            Some("Progressing") => HealthStatusCode::Progressing,
            Some("Ignored") => HealthStatusCode::Suspended,
            _ => continue,
        };
        return status.with(message);
    }
    progressing("Waiting for policy to be applied")
}

/// The first `<ready>/<total>` in a text, as Lua's `(%d+)/(%d+)` finds it.
fn ready_of_total(text: &str) -> Option<(u64, u64)> {
    let bytes = text.as_bytes();
    let digits = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    for start in 0..bytes.len() {
        let first = digits(start);
        if first == 0 || bytes.get(start + first) != Some(&b'/') {
            continue;
        }
        let second = digits(start + first + 1);
        if second == 0 {
            continue;
        }
        let ready = text[start..start + first].parse().ok()?;
        let total = text[start + first + 1..start + first + 1 + second]
            .parse()
            .ok()?;
        return Some((ready, total));
    }
    None
}

/// Health of an OpenTelemetryCollector, from `status.scale.statusReplicas` (`ready/total`).
pub fn otel_collector(obj: &Value) -> HealthStatus {
    if !has_status(obj) {
        return progressing("Waiting for OpenTelemetry Collector status");
    }
    let Some(replicas) = get(obj, &["status", "scale", "statusReplicas"]) else {
        if text(obj, &["spec", "mode"]) == Some("sidecar") {
            return healthy("Collector is running in sidecar mode");
        }
        return progressing("Scale status not available");
    };
    let shown = lua_text(Some(replicas)).unwrap_or_default();
    match ready_of_total(&shown) {
        Some((0, total)) => {
            if text(obj, &["spec", "mode"]) == Some("daemonset") && total == 0 {
                healthy("DaemonSet has no eligible nodes (0/0)")
            } else {
                degraded("No replicas are ready")
            }
        }
        Some((ready, total)) if ready == total => healthy("All replicas are ready"),
        Some(_) => progressing("Replicas are starting up"),
        None => progressing(format!("Unable to parse replica status: {shown}")),
    }
}

/// Health of a VictoriaMetrics operator object, from `status.updateStatus`.
pub fn victoria_metrics(obj: &Value) -> HealthStatus {
    let waiting = progressing("Waiting for the operator to reconcile");
    if !has_status(obj) {
        return waiting;
    }
    let generation = get(obj, &["metadata", "generation"]);
    let observed = get(obj, &["status", "observedGeneration"]);
    if generation.is_some() && observed.is_some() && !lua_eq(generation, observed) {
        return waiting;
    }
    let reason = text(obj, &["status", "reason"]).filter(|r| !r.is_empty());
    match text(obj, &["status", "updateStatus"]) {
        Some("operational") => healthy("All components are operational"),
        Some("expanding") => progressing(reason.unwrap_or("Reconciliation in progress")),
        Some("paused") => suspended(reason.unwrap_or("Reconciliation is paused")),
        Some("failed") => degraded(reason.unwrap_or("Reconciliation failed")),
        _ => progressing("Waiting for the operator to report status"),
    }
}

/// Health of a proclaim DNSSDServiceInstance: adoption, advertisement, then discovery.
pub fn dnssd_service_instance(obj: &Value) -> HealthStatus {
    let find = |kind: &str| status_conds(obj).filter(|c| c.is_type(kind)).last();
    let adopted = find("Adopted");
    let advertised = find("Advertised");
    let discovered = find("Discoverable");
    let msg = |c: Option<super::support::Cond<'_>>| c.map_or("", |c| c.msg()).to_string();
    if adopted.is_some_and(|c| c.status == Some("False")) {
        return degraded(msg(adopted));
    }
    if advertised.is_some_and(|c| matches!(c.reason, Some("AdvertiseError" | "UnadvertiseError"))) {
        return degraded(msg(advertised));
    }
    if discovered.is_some_and(|c| c.reason == Some("DiscoveryError")) {
        return unknown(msg(discovered));
    }
    if discovered.is_some_and(|c| c.status == Some("True")) {
        return healthy(msg(discovered));
    }
    progressing(msg(discovered))
}

/// Health of a Contour HTTPProxy, from its current `Valid` condition. A proxy that includes
/// others cannot be checked on its own and is reported Healthy.
pub fn http_proxy(obj: &Value) -> HealthStatus {
    let mut health = progressing("Waiting for status");
    if !truthy(get(obj, &["status"])) {
        return health;
    }
    let description = || text_or_empty(obj, &["status", "description"]);
    if truthy(get(obj, &["status", "conditions"])) {
        let generation = get(obj, &["metadata", "generation"]);
        for c in status_conds(obj) {
            if !lua_eq(generation, c.field("observedGeneration")) {
                continue;
            }
            if c.is("Valid", "True") {
                return healthy(description());
            }
            if get(obj, &["spec", "includes"]).is_some() && c.status == Some("False") {
                health = healthy("HTTPProxy inclusions cannot be health checked");
            } else if c.is("Valid", "False") {
                return degraded(description());
            }
        }
    } else if truthy(get(obj, &["status", "currentStatus"])) {
        health.message = description();
    }
    health
}

/// Health of a VolumeSnapshot or VolumeSnapshotContent.
pub fn volume_snapshot(obj: &Value) -> HealthStatus {
    if truthy(get(obj, &["status", "readyToUse"])) {
        return healthy("Ready to use");
    }
    if get(obj, &["status", "error"]).is_some() {
        return degraded(text_or_empty(obj, &["status", "error", "message"]));
    }
    progressing("Waiting for status")
}

const SPARK_SUCCEEDING: &str = "The driver pod has been completed successfully. The executor pods terminate and are cleaned up.\n                                Under this circumstances, we assume the executor pod are completed.";

/// The executor range a SparkApplication allows with dynamic allocation, if it uses it.
fn spark_executor_range(obj: &Value) -> Option<(f64, f64)> {
    let spec = get(obj, &["spec"])?;
    if truthy(get(spec, &["dynamicAllocation"]))
        && truthy(get(spec, &["dynamicAllocation", "enabled"]))
    {
        let min = num(spec, &["dynamicAllocation", "minExecutors"]).unwrap_or(0.0);
        let max = num(spec, &["dynamicAllocation", "maxExecutors"]).unwrap_or(f64::INFINITY);
        return Some((min, max));
    }
    let conf = get(spec, &["sparkConf"])?;
    let setting = |key: &str| conf.get(key).and_then(Value::as_str);
    let parse = |key: &str, default: f64| {
        setting(key).map_or(Some(default), |s| s.trim().parse::<f64>().ok())
    };
    for prefix in [
        "spark.streaming.dynamicAllocation",
        "spark.dynamicAllocation",
    ] {
        if setting(&format!("{prefix}.enabled")) == Some("true") {
            let max = parse(&format!("{prefix}.maxExecutors"), f64::INFINITY)?;
            let min = parse(&format!("{prefix}.minExecutors"), 0.0)?;
            return Some((min, max));
        }
    }
    None
}

/// Health of a Spark operator SparkApplication, from its application state and, while
/// running, the number of running executors against what the spec asks for.
pub fn spark_application(obj: &Value) -> HealthStatus {
    let waiting = progressing("Waiting for Executor pods");
    let Some(state) = get(obj, &["status", "applicationState", "state"]) else {
        return waiting;
    };
    let error = || text_or_empty(obj, &["status", "applicationState", "errorMessage"]);
    match state.as_str().unwrap_or("\u{0}") {
        "" => progressing("SparkApplication was added, enqueuing it for submission"),
        "RUNNING" => {
            let Some(Value::Object(executors)) = get(obj, &["status", "executorState"]) else {
                return waiting;
            };
            let running = executors
                .values()
                .filter(|s| s.as_str() == Some("RUNNING"))
                .count() as f64;
            let instances = num(obj, &["spec", "executor", "instances"]);
            let running_msg = || healthy("SparkApplication is Running");
            if instances == Some(running) {
                return running_msg();
            }
            if let Some((min, max)) = spark_executor_range(obj) {
                if running >= min && running <= max {
                    return running_msg();
                }
            } else if get(obj, &["spec", "dynamicAllocation"]).is_none()
                && get(obj, &["spec", "executor", "instances"]).is_none()
                && running >= 1.0
            {
                return running_msg();
            }
            waiting
        }
        "SUBMITTED" => progressing("SparkApplication was submitted successfully"),
        "COMPLETED" => healthy("SparkApplication was Completed"),
        "FAILED" | "SUBMISSION_FAILED" | "FAILING" => degraded(error()),
        "PENDING_RERUN" => progressing("SparkApplication is Pending Rerun"),
        "INVALIDATING" => missing("SparkApplication is in InvalidatingState"),
        "SUCCEEDING" => progressing(SPARK_SUCCEEDING),
        "UNKNOWN" => progressing(
            "SparkApplication is in UnknownState because either driver pod or one or all executor pods in unknown state  ",
        ),
        _ => waiting,
    }
}

/// Health of a Karmada ResourceBinding or ClusterResourceBinding: every scheduled cluster has
/// reported, and none reports the resource unhealthy (or unknown without having applied it).
pub fn karmada_binding(obj: &Value, cluster_scoped: bool) -> HealthStatus {
    let insufficient = || progressing("Current resource status is insufficient");
    if !has_status(obj) {
        return insufficient();
    }
    let clusters = get(obj, &["spec", "clusters"]);
    let cluster_count = list(obj, &["spec", "clusters"]).len();
    let aggregated = get(obj, &["status", "aggregatedStatus"]);
    let aggregated_list = list(obj, &["status", "aggregatedStatus"]);
    if cluster_scoped {
        if cluster_count == 0 || aggregated.is_none() || cluster_count != aggregated_list.len() {
            return insufficient();
        }
    } else {
        if clusters.is_some() && cluster_count == 0 {
            return insufficient();
        }
        if aggregated_list.is_empty() {
            return insufficient();
        }
        if clusters.is_some() && cluster_count != aggregated_list.len() {
            return insufficient();
        }
    }
    for status in aggregated_list {
        let health = text(status, &["health"]);
        let unhealthy = health == Some("Unhealthy")
            || (health == Some("Unknown") && get(status, &["applied"]) != Some(&Value::Bool(true)));
        if unhealthy {
            return degraded("Current resource status is unhealthy");
        }
    }
    healthy("")
}

/// Health of a DatadogMetric: an `Error` or invalid metric is Degraded, anything else Healthy.
pub fn datadog_metric(obj: &Value) -> HealthStatus {
    if let Some(c) = status_conds(obj).find(|c| c.is("Error", "True")) {
        let message = c.msg_or("DatadogMetric reported an error");
        return degraded(match c.reason.filter(|r| !r.is_empty()) {
            Some(reason) => format!("{reason}: {message}"),
            None => message.to_string(),
        });
    }
    if let Some(c) = status_conds(obj).find(|c| c.is("Valid", "False")) {
        return degraded(c.msg_or("DatadogMetric is not valid"));
    }
    healthy("DatadogMetric is healthy")
}

/// Health of a Flink operator FlinkDeployment.
pub fn flink_deployment(obj: &Value) -> HealthStatus {
    if get(obj, &["status", "reconciliationStatus"]).is_some() {
        if truthy(get(obj, &["status", "reconciliationStatus", "success"]))
            || text(obj, &["status", "reconciliationStatus", "state"]) == Some("DEPLOYED")
        {
            return healthy("");
        }
        match text(obj, &["status", "jobManagerDeploymentStatus"]) {
            Some("DEPLOYED_NOT_READY" | "DEPLOYING") => {
                return progressing("Waiting for deploying");
            }
            Some("ERROR") => {
                return degraded(text_or_empty(
                    obj,
                    &["status", "reconciliationStatus", "error"],
                ));
            }
            _ => {}
        }
    }
    progressing("Waiting for Flink operator")
}

/// Health of a Jaeger instance, from its phase.
pub fn jaeger(obj: &Value) -> HealthStatus {
    match text(obj, &["status", "phase"]) {
        Some("Running") => healthy("Jaeger is Running"),
        Some("Failed") => degraded("Jaeger Failed For Some Reason"),
        _ => progressing("Waiting for Jaeger"),
    }
}

/// Health of a Koperator (Banzai Cloud) KafkaCluster: brokers in sync and Cruise Control ready.
pub fn koperator_kafka_cluster(obj: &Value) -> HealthStatus {
    let waiting = progressing("Waiting for KafkaCluster");
    if !has_status(obj) {
        return waiting;
    }
    let state = text(obj, &["status", "state"]);
    if state == Some("ClusterRollingUpgrading") {
        return progressing("Kafka Cluster is Rolling Upgrading.");
    }
    let Some(Value::Object(brokers)) = get(obj, &["status", "brokersState"]) else {
        return waiting;
    };
    let healthy_brokers = brokers
        .values()
        .filter(|broker| {
            text(broker, &["configurationState"]) == Some("ConfigInSync")
                && matches!(
                    text(broker, &["gracefulActionState", "cruiseControlState"]),
                    Some("GracefulUpscaleSucceeded" | "GracefulDownscaleSucceeded")
                )
        })
        .count();
    if healthy_brokers != brokers.len() {
        return degraded("Broker Config is out of Sync or CruiseControlState is not Ready");
    }
    let topic = text(obj, &["status", "cruiseControlTopicStatus"]);
    if topic == Some("CruiseControlTopicReady") && state == Some("ClusterRunning") {
        return healthy("Kafka Brokers, CruiseControl and cluster are in Healthy State.");
    }
    if matches!(topic, None | Some("CruiseControlTopicNotReady"))
        && state == Some("ClusterReconciling")
    {
        return progressing("Kafka Cluster is Reconciling.");
    }
    waiting
}

/// Health of a Kiali instance: the message is that of the last condition read.
pub fn kiali(obj: &Value) -> HealthStatus {
    for c in status_conds(obj) {
        if c.is("Successful", "True") {
            return healthy(c.msg());
        }
        if c.is("Failure", "True") {
            return degraded(c.msg());
        }
        if c.is_type("Running") && c.reason == Some("Running") {
            return progressing(c.msg());
        }
    }
    progressing("Waiting for Kiali")
}

/// Health of a MinIO Tenant, from `status.currentState`.
pub fn minio_tenant(obj: &Value) -> HealthStatus {
    let Some(state) = get(obj, &["status", "currentState"]) else {
        return progressing("No status info available");
    };
    let state = lua_text(Some(state)).unwrap_or_default();
    match state.as_str() {
        "Initialized" => healthy(state),
        "Statefulset not controlled by operator"
        | "Another MinIO Tenant already exists in the namespace"
        | "Tenant credentials are not set properly"
        | "Different versions across MinIO Pools"
        | "Pool Decommissioning Not Allowed" => degraded(state),
        _ => progressing(state),
    }
}

/// Health of a GKE ManagedCertificate.
pub fn gke_managed_certificate(obj: &Value) -> HealthStatus {
    if list(obj, &["status", "domainStatus"])
        .iter()
        .any(|d| text(d, &["status"]) == Some("FailedNotVisible"))
    {
        return degraded("At least one certificate has failed to be provisioned");
    }
    if text(obj, &["status", "certificateStatus"]) == Some("Active") {
        return healthy("All certificates are active");
    }
    progressing("At least one certificate is still being provisioned")
}

/// Health of an OpenFaaS Function: ready with replicas, or scaled to zero (Suspended).
pub fn openfaas_function(obj: &Value) -> HealthStatus {
    for c in status_conds(obj) {
        if c.is("Ready", "False") || c.is("Stalled", "True") {
            return degraded(c.msg());
        }
        if c.is("Ready", "True") {
            if num(obj, &["status", "replicas"]).is_some_and(|r| r > 0.0) {
                return healthy(c.msg());
            }
            return suspended("No replicas available");
        }
    }
    progressing("Waiting for Function")
}

/// Health of a Contour ExtensionService, from its current `Valid` condition.
pub fn extension_service(obj: &Value) -> HealthStatus {
    let generation = get(obj, &["metadata", "generation"]);
    for c in status_conds(obj) {
        if !lua_eq(generation, c.field("observedGeneration")) {
            continue;
        }
        if c.is("Valid", "True") {
            return healthy(c.msg());
        }
        if c.is("Valid", "False") {
            return degraded(c.msg());
        }
    }
    progressing("Waiting for status")
}

/// Health of a Pulumi Stack, once the operator has observed its spec.
pub fn pulumi_stack(obj: &Value) -> HealthStatus {
    if !has_status(obj)
        || !lua_eq(
            get(obj, &["status", "observedGeneration"]),
            get(obj, &["metadata", "generation"]),
        )
    {
        return progressing("Waiting for the operator to observe the latest spec change");
    }
    for c in status_conds(obj) {
        if c.is("Stalled", "True") {
            return degraded(c.msg());
        }
        if c.is("Reconciling", "True") {
            return progressing(c.msg());
        }
        if c.is("Ready", "True") {
            return healthy(c.msg());
        }
    }
    progressing("Waiting for the stack to be reconciled")
}

/// Health of a KServe InferenceService: a stopped service is Suspended; a model whose
/// transition failed is Degraded; any condition not True keeps it Progressing.
pub fn inference_service(obj: &Value) -> HealthStatus {
    let waiting = progressing("Waiting for InferenceService to report status...");
    if !has_status(obj) {
        return waiting;
    }
    let (mut in_progress, mut failed) = (false, false);
    let mut message = String::new();
    if get(obj, &["status", "modelStatus"]).is_some() {
        let transition = text(obj, &["status", "modelStatus", "transitionStatus"]);
        if transition != Some("UpToDate") {
            if transition == Some("InProgress") {
                in_progress = true;
            } else {
                failed = true;
            }
            message.push_str(&format!(
                "0: transitionStatus | {}",
                transition.unwrap_or("")
            ));
        }
    }
    if !has_conditions(obj) {
        return waiting;
    }
    let (mut unknown_count, mut false_count) = (0, 0);
    for (i, c) in status_conds(obj).enumerate() {
        if c.is("Stopped", "True") {
            return suspended("InferenceService is Stopped");
        }
        let stopped = c.is_type("Stopped");
        if c.status == Some("Unknown") {
            unknown_count += 1;
        } else if c.status == Some("False") && !stopped {
            false_count += 1;
        }
        if c.status != Some("True") && !stopped {
            message.push_str(&format!(
                " | {}: {} | {}",
                i + 1,
                c.kind.unwrap_or(""),
                c.status.unwrap_or("")
            ));
            if let Some(reason) = c.reason.filter(|r| !r.is_empty()) {
                message.push_str(&format!(" | {reason}"));
            }
            if let Some(text) = c.message.filter(|m| !m.is_empty()) {
                message.push_str(&format!(" | {text}"));
            }
        }
    }
    if !in_progress && !failed && unknown_count == 0 && false_count == 0 {
        return healthy("InferenceService is healthy.");
    }
    if !failed {
        return progressing(message);
    }
    degraded(message)
}

/// Health of a Spot (Ocean) SpotDeployment; `None` before it has conditions.
pub fn spot_deployment(obj: &Value) -> Option<HealthStatus> {
    if !has_conditions(obj) {
        return None;
    }
    for c in status_conds(obj) {
        let aborted = c.is_type("Progressing")
            && matches!(
                c.reason,
                Some("RolloutAborted" | "ProgressDeadlineExceeded")
            );
        if c.is_type("InvalidSpec") || aborted {
            return Some(degraded(c.msg()));
        }
        if c.is("Paused", "True") {
            return Some(suspended("Rollout is paused"));
        }
    }
    if text(obj, &["status", "phase"]) == Some("Progressing") {
        return Some(progressing("Waiting for rollout to finish steps"));
    }
    Some(healthy(""))
}

/// Health of an AWX/Ansible operator AnsibleJob, from the job result.
pub fn ansible_job(obj: &Value) -> HealthStatus {
    if let Some(status) = text(obj, &["status", "ansibleJobResult", "status"]) {
        let message = || {
            format!(
                "{status} job - {}",
                text_or_empty(obj, &["status", "ansibleJobResult", "url"])
            )
        };
        match status {
            "successful" => return healthy(message()),
            "failed" | "error" | "canceled" => return degraded(message()),
            "new" | "pending" | "waiting" | "running" => return progressing(message()),
            _ => {}
        }
    }
    progressing("Waiting for AnsibleJob")
}

/// The rule for one of these operators' kinds, if there is one.
pub fn rule(group: &str, kind: &str, obj: &Value) -> Option<HealthStatus> {
    Some(match (group, kind) {
        ("camel.apache.org", "Integration") => camel_integration(obj),
        ("onepassword.com", "OnePasswordItem") => one_password_item(obj),
        ("coralogix.com", "Alert" | "RecordingRuleGroupSet") => coralogix_alert(obj),
        ("datadoghq.com", "DatadogMetric") => datadog_metric(obj),
        ("flink.apache.org", "FlinkDeployment") => flink_deployment(obj),
        ("jaegertracing.io", "Jaeger") => jaeger(obj),
        ("kafka.banzaicloud.io", "KafkaCluster") => koperator_kafka_cluster(obj),
        ("kiali.io", "Kiali") => kiali(obj),
        ("minio.min.io", "Tenant") => minio_tenant(obj),
        ("networking.gke.io", "ManagedCertificate") => gke_managed_certificate(obj),
        ("openfaas.com", "Function") => openfaas_function(obj),
        ("projectcontour.io", "ExtensionService") => extension_service(obj),
        ("pulumi.com", "Stack") => pulumi_stack(obj),
        ("serving.kserve.io", "InferenceService") => inference_service(obj),
        ("spot.io", "SpotDeployment") => return spot_deployment(obj),
        ("tower.ansible.com", "AnsibleJob") => ansible_job(obj),
        ("core.spinkube.dev", "SpinApp") => spin_app(obj),
        ("flagger.app", "Canary") => flagger_canary(obj),
        ("k8s.keycloak.org", "Keycloak") => keycloak(obj),
        ("nmstate.io", "NodeNetworkConfigurationPolicy") => nncp(obj),
        ("opentelemetry.io", "OpenTelemetryCollector") => otel_collector(obj),
        ("operator.victoriametrics.com", _) => victoria_metrics(obj),
        ("proclaim.dogmatiq.io", "DNSSDServiceInstance") => dnssd_service_instance(obj),
        ("projectcontour.io", "HTTPProxy") => http_proxy(obj),
        ("snapshot.storage.k8s.io", "VolumeSnapshot" | "VolumeSnapshotContent") => {
            volume_snapshot(obj)
        }
        ("sparkoperator.k8s.io", "SparkApplication") => spark_application(obj),
        ("work.karmada.io", "ClusterResourceBinding") => karmada_binding(obj, true),
        ("work.karmada.io", "ResourceBinding") => karmada_binding(obj, false),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flagger_message_lists_weight_and_conditions() {
        let obj = json!({"status": {"phase": "Progressing", "canaryWeight": 10, "conditions": [{"message": "New revision"}]}});
        assert_eq!(
            flagger_canary(&obj),
            HealthStatus::progressing("Progressing --- Canary Weight: 10 % --- New revision")
        );
    }

    #[test]
    fn otel_replicas() {
        assert_eq!(ready_of_total("ready 2/3"), Some((2, 3)));
        let obj =
            json!({"spec": {"mode": "deployment"}, "status": {"scale": {"statusReplicas": "0/2"}}});
        assert_eq!(
            otel_collector(&obj),
            HealthStatus::degraded("No replicas are ready")
        );
    }

    #[test]
    fn spark_dynamic_allocation() {
        let obj = json!({"spec": {"dynamicAllocation": {"enabled": true, "minExecutors": 1, "maxExecutors": 3}, "executor": {}},
            "status": {"applicationState": {"state": "RUNNING"}, "executorState": {"a": "RUNNING", "b": "RUNNING"}}});
        assert_eq!(
            spark_application(&obj),
            HealthStatus::healthy("SparkApplication is Running")
        );
    }
}
