//! Service, Ingress and PersistentVolumeClaim health.

use serde_json::Value;

use crate::status::{HealthStatus, HealthStatusCode};
use strata_core::object::{array_at, str_at};

/// Health of a v1 Service: a LoadBalancer needs an ingress address.
pub fn service(obj: &Value) -> HealthStatus {
    if str_at(obj, &["spec", "type"]) == Some("LoadBalancer") {
        return load_balancer(obj);
    }
    HealthStatus::healthy("")
}

/// Health of an Ingress (extensions or networking.k8s.io, any version).
pub fn ingress(obj: &Value) -> HealthStatus {
    load_balancer(obj)
}

fn load_balancer(obj: &Value) -> HealthStatus {
    if array_at(obj, &["status", "loadBalancer", "ingress"]).is_empty() {
        HealthStatus::progressing("")
    } else {
        HealthStatus::healthy("")
    }
}

/// Health of a v1 PersistentVolumeClaim, from its phase.
pub fn persistent_volume_claim(obj: &Value) -> HealthStatus {
    let status = match str_at(obj, &["status", "phase"]).unwrap_or("") {
        "Lost" => HealthStatusCode::Degraded,
        "Pending" => HealthStatusCode::Progressing,
        "Bound" => HealthStatusCode::Healthy,
        _ => HealthStatusCode::Unknown,
    };
    HealthStatus::new(status, "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn load_balancer_without_address_is_progressing() {
        let obj = json!({"spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {}}});
        assert_eq!(service(&obj).status, HealthStatusCode::Progressing);
        assert_eq!(ingress(&json!({})).status, HealthStatusCode::Progressing);
    }

    #[test]
    fn pvc_phases() {
        let phase = |p: &str| persistent_volume_claim(&json!({"status": {"phase": p}})).status;
        assert_eq!(phase("Bound"), HealthStatusCode::Healthy);
        assert_eq!(phase("Lost"), HealthStatusCode::Degraded);
        assert_eq!(phase(""), HealthStatusCode::Unknown);
    }
}
