//! KubeVirt (`kubevirt.io` VirtualMachine and VirtualMachineInstance) and CDI
//! (`cdi.kubevirt.io` DataVolume).
//!
//! A VirtualMachineInstance follows its phase (Pending, Scheduling, Scheduled, Running,
//! Succeeded, Failed, Unknown) and its `Ready`/`Paused` conditions; a stopped or succeeded VM is
//! Suspended, not failed.

use serde_json::Value;

use super::support::{get, has_status, status_conds, text, text_or_empty, truthy};
use crate::status::{HealthStatus, HealthStatusCode};

/// Health of a VirtualMachineInstance.
pub fn virtual_machine_instance(obj: &Value) -> HealthStatus {
    let mut status = HealthStatusCode::Progressing;
    let mut message = "No status available".to_string();
    if !has_status(obj) {
        return HealthStatus::new(status, message);
    }
    if let Some(phase) = text(obj, &["status", "phase"]) {
        message = phase.to_string();
        match phase {
            "Failed" => return HealthStatus::degraded(message),
            "Pending" | "Scheduling" | "Scheduled" => return HealthStatus::progressing(message),
            "Succeeded" => return HealthStatus::suspended(message),
            "Unknown" => return HealthStatus::unknown(message),
            _ => {}
        }
    }
    for c in status_conds(obj) {
        if c.is_type("Ready") {
            if c.status == Some("True") {
                status = HealthStatusCode::Healthy;
                message = "Running".to_string();
            } else {
                status = HealthStatusCode::Degraded;
                message = c.msg().to_string();
            }
        } else if c.is("Paused", "True") {
            return HealthStatus::suspended(c.msg());
        }
    }
    HealthStatus::new(status, message)
}

/// Health of a VirtualMachine: paused or stopped VMs are Suspended.
pub fn virtual_machine(obj: &Value) -> HealthStatus {
    let mut status = HealthStatusCode::Progressing;
    let mut message = "No status available".to_string();
    if !has_status(obj) {
        return HealthStatus::new(status, message);
    }
    for c in status_conds(obj) {
        if c.is("Paused", "True") {
            return HealthStatus::suspended("Paused");
        }
        if c.is_type("Ready") {
            if c.status == Some("True") {
                status = HealthStatusCode::Healthy;
                message = "Running".to_string();
            } else if truthy(get(obj, &["status", "created"])) {
                message = "Starting".to_string();
            } else {
                status = HealthStatusCode::Suspended;
                message = "Stopped".to_string();
            }
        }
    }
    if get(obj, &["status", "printableStatus"]).is_some() {
        message = text_or_empty(obj, &["status", "printableStatus"]);
    }
    HealthStatus::new(status, message)
}

/// Health of a CDI DataVolume, from its phase and `Running` condition.
pub fn data_volume(obj: &Value) -> HealthStatus {
    let mut status = HealthStatusCode::Progressing;
    let mut message = "No status available".to_string();
    if !has_status(obj) {
        return HealthStatus::new(status, message);
    }
    if let Some(phase) = text(obj, &["status", "phase"]) {
        message = phase.to_string();
        match phase {
            "Succeeded" => return HealthStatus::healthy(message),
            "Failed" | "Unknown" => status = HealthStatusCode::Degraded,
            "Paused" => return HealthStatus::suspended(message),
            _ => {}
        }
    }
    if let Some(c) =
        status_conds(obj).find(|c| c.is("Running", "False") && c.reason == Some("Error"))
    {
        return HealthStatus::degraded(c.msg());
    }
    HealthStatus::new(status, message)
}

/// The rule for a KubeVirt kind, if there is one.
pub fn rule(group: &str, kind: &str, obj: &Value) -> Option<HealthStatus> {
    Some(match (group, kind) {
        ("kubevirt.io", "VirtualMachineInstance") => virtual_machine_instance(obj),
        ("kubevirt.io", "VirtualMachine") => virtual_machine(obj),
        ("cdi.kubevirt.io", "DataVolume") => data_volume(obj),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn vmi_phases() {
        assert_eq!(
            virtual_machine_instance(&json!({"status": {"phase": "Succeeded"}})),
            HealthStatus::suspended("Succeeded")
        );
        let running = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(
            virtual_machine_instance(&running),
            HealthStatus::healthy("Running")
        );
        let stopped = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}], "printableStatus": "Stopped"}});
        assert_eq!(
            virtual_machine(&stopped),
            HealthStatus::suspended("Stopped")
        );
    }
}
