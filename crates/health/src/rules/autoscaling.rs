//! HorizontalPodAutoscaler and APIService health.

use serde_json::Value;

use crate::status::HealthStatus;
use strata_core::object::{Condition, annotation, array_at};

const WAITING_TO_AUTOSCALE: &str = "Waiting to Autoscale";
const V1_CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";

const DEGRADED_REASONS: [(&str, &str); 8] = [
    ("AbleToScale", "FailedGetScale"),
    ("AbleToScale", "FailedUpdateScale"),
    ("ScalingActive", "FailedGetResourceMetric"),
    ("ScalingActive", "FailedGetObjectMetric"),
    ("ScalingActive", "FailedGetPodsMetric"),
    ("ScalingActive", "FailedGetExternalMetric"),
    ("ScalingActive", "FailedComputeMetricsReplicas"),
    ("ScalingActive", "InvalidSelector"),
];

/// Health of an autoscaling/v1 HPA (conditions in an annotation).
pub fn hpa_v1(obj: &Value) -> HealthStatus {
    let Some(text) = annotation(obj, V1_CONDITIONS_ANNOTATION) else {
        return HealthStatus::progressing(WAITING_TO_AUTOSCALE);
    };
    let parsed: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(err) => {
            return HealthStatus::unknown(format!(
                "failed to convert conditions annotation to typed: {err}"
            ));
        }
    };
    let conditions: Vec<Condition<'_>> = parsed
        .as_array()
        .map(|list| list.iter().map(Condition::from_value).collect())
        .unwrap_or_default();
    check_conditions(&conditions)
}

/// Health of an autoscaling/v2 (or v2beta1/v2beta2) HPA (conditions in the status).
pub fn hpa_v2(obj: &Value) -> HealthStatus {
    let conditions: Vec<Condition<'_>> = array_at(obj, &["status", "conditions"])
        .iter()
        .map(Condition::from_value)
        .collect();
    check_conditions(&conditions)
}

fn check_conditions(conditions: &[Condition<'_>]) -> HealthStatus {
    if let Some(degraded) = conditions
        .iter()
        .find(|c| DEGRADED_REASONS.contains(&(c.kind, c.reason)))
    {
        return HealthStatus::degraded(degraded.message);
    }
    if let Some(healthy) = conditions
        .iter()
        .find(|c| (c.kind == "AbleToScale" || c.kind == "ScalingLimited") && c.is_true())
    {
        return HealthStatus::healthy(healthy.message);
    }
    HealthStatus::progressing(WAITING_TO_AUTOSCALE)
}

/// Health of an APIService (apiregistration.k8s.io v1 or v1beta1).
pub fn api_service(obj: &Value) -> HealthStatus {
    let available = array_at(obj, &["status", "conditions"])
        .iter()
        .map(Condition::from_value)
        .find(|c| c.kind == "Available");
    match available {
        Some(c) if c.is_true() => HealthStatus::healthy(format!("{}: {}", c.reason, c.message)),
        Some(c) => HealthStatus::progressing(format!("{}: {}", c.reason, c.message)),
        None => HealthStatus::progressing("Waiting to be processed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::HealthStatusCode;
    use serde_json::json;

    #[test]
    fn degraded_reason_wins_over_healthy_condition() {
        let obj = json!({"status": {"conditions": [
            {"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale", "message": "ok"},
            {"type": "ScalingActive", "status": "False", "reason": "InvalidSelector", "message": "bad selector"}]}});
        assert_eq!(hpa_v2(&obj), HealthStatus::degraded("bad selector"));
    }

    #[test]
    fn broken_v1_annotation_is_unknown() {
        let obj = json!({"metadata": {"annotations": {V1_CONDITIONS_ANNOTATION: "not json"}}});
        assert_eq!(hpa_v1(&obj).status, HealthStatusCode::Unknown);
        let empty = json!({"metadata": {"annotations": {V1_CONDITIONS_ANNOTATION: "[]"}}});
        assert_eq!(
            hpa_v1(&empty),
            HealthStatus::progressing(WAITING_TO_AUTOSCALE)
        );
    }

    #[test]
    fn api_service_without_condition_waits() {
        assert_eq!(
            api_service(&json!({})),
            HealthStatus::progressing("Waiting to be processed")
        );
    }
}
