//! Velero (`velero.io`): Backup, Restore, Schedule, BackupStorageLocation,
//! VolumeSnapshotLocation, and the data-mover and file-system backup kinds (DataUpload,
//! DataDownload, PodVolumeBackup, PodVolumeRestore).
//!
//! ArgoCD ships no check for Velero; these follow Velero's documented `status.phase` values.
//! A Backup or Restore is Progressing while `New`, `InProgress`, `WaitingForPluginOperations*`
//! or `Finalizing*`, Healthy when `Completed`, and Degraded when `PartiallyFailed`, `Failed` or
//! `FailedValidation` (with the validation errors or failure reason). A Schedule is Suspended
//! when `spec.paused`. Storage locations are Healthy while `Available`.

use serde_json::Value;

use super::support::{degraded, healthy, is_true, list, progressing, suspended, text};
use crate::status::HealthStatus;

fn failure_message(obj: &Value, phase: &str) -> String {
    let errors: Vec<&str> = list(obj, &["status", "validationErrors"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if !errors.is_empty() {
        return format!("{phase}: {}", errors.join("; "));
    }
    if let Some(reason) = text(obj, &["status", "failureReason"]).filter(|r| !r.is_empty()) {
        return format!("{phase}: {reason}");
    }
    if let Some(message) = text(obj, &["status", "message"]).filter(|r| !r.is_empty()) {
        return format!("{phase}: {message}");
    }
    phase.to_string()
}

/// Health of a Backup or a Restore.
pub fn backup_or_restore(obj: &Value, kind: &str) -> HealthStatus {
    let Some(phase) = text(obj, &["status", "phase"]) else {
        return progressing(format!("Waiting for the {} to start", kind.to_lowercase()));
    };
    match phase {
        "Completed" => healthy(format!("{kind} completed")),
        "PartiallyFailed" | "Failed" | "FailedValidation" => degraded(failure_message(obj, phase)),
        "Deleting" => progressing(format!("{kind} is being deleted")),
        _ => progressing(format!("{kind} is {phase}")),
    }
}

/// Health of a Schedule.
pub fn schedule(obj: &Value) -> HealthStatus {
    if is_true(obj, &["spec", "paused"]) {
        return suspended("Schedule is paused");
    }
    match text(obj, &["status", "phase"]) {
        Some("Enabled") => healthy("Schedule is enabled"),
        Some("FailedValidation") => degraded(failure_message(obj, "FailedValidation")),
        _ => progressing("Waiting for the schedule to be validated"),
    }
}

/// Health of a BackupStorageLocation or VolumeSnapshotLocation.
pub fn location(obj: &Value, kind: &str) -> HealthStatus {
    match text(obj, &["status", "phase"]) {
        Some("Available") => healthy(format!("{kind} is available")),
        Some("Unavailable") => degraded(
            text(obj, &["status", "message"])
                .filter(|m| !m.is_empty())
                .map_or_else(|| format!("{kind} is unavailable"), str::to_string),
        ),
        _ => progressing(format!("Waiting for the {kind} to be validated")),
    }
}

/// Health of a DataUpload, DataDownload, PodVolumeBackup or PodVolumeRestore.
pub fn data_mover(obj: &Value, kind: &str) -> HealthStatus {
    let Some(phase) = text(obj, &["status", "phase"]) else {
        return progressing(format!("Waiting for the {kind} to start"));
    };
    match phase {
        "Completed" => healthy(format!("{kind} completed")),
        "Failed" => degraded(failure_message(obj, phase)),
        "Canceled" => degraded(format!("{kind} was canceled")),
        _ => progressing(format!("{kind} is {phase}")),
    }
}

/// The rule for a Velero kind, if there is one.
pub fn rule(kind: &str, obj: &Value) -> Option<HealthStatus> {
    Some(match kind {
        "Backup" | "Restore" => backup_or_restore(obj, kind),
        "Schedule" => schedule(obj),
        "BackupStorageLocation" | "VolumeSnapshotLocation" => location(obj, kind),
        "DataUpload" | "DataDownload" | "PodVolumeBackup" | "PodVolumeRestore" => {
            data_mover(obj, kind)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::HealthStatusCode;
    use serde_json::json;

    #[test]
    fn backup_phases() {
        let phase = |p: &str| backup_or_restore(&json!({"status": {"phase": p}}), "Backup").status;
        assert_eq!(phase("Completed"), HealthStatusCode::Healthy);
        assert_eq!(
            phase("WaitingForPluginOperations"),
            HealthStatusCode::Progressing
        );
        assert_eq!(phase("PartiallyFailed"), HealthStatusCode::Degraded);
        let invalid =
            json!({"status": {"phase": "FailedValidation", "validationErrors": ["no location"]}});
        assert_eq!(
            backup_or_restore(&invalid, "Backup").message,
            "FailedValidation: no location"
        );
        assert_eq!(
            schedule(&json!({"spec": {"paused": true}})).status,
            HealthStatusCode::Suspended
        );
    }
}
