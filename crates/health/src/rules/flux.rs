//! Flux: `source.toolkit.fluxcd.io` (GitRepository, HelmRepository, HelmChart, Bucket,
//! OCIRepository), `helm.toolkit.fluxcd.io` HelmRelease, `kustomize.toolkit.fluxcd.io`
//! Kustomization, `image.toolkit.fluxcd.io` (ImageRepository, ImagePolicy,
//! ImageUpdateAutomation) and `notification.toolkit.fluxcd.io` Receiver.
//!
//! Flux objects follow kstatus: `spec.suspend` stops reconciliation (Suspended); `Ready` and
//! `Reconciling` conditions say whether the last reconciliation succeeded or is under way. As in
//! ArgoCD, an object is Progressing when both say it is still working, Healthy when the
//! success conditions of its kind all hold (for a source: `Ready` and `ArtifactInStorage`; for a
//! HelmRelease: `Ready` and `Released`/`TestSuccess`), and Degraded otherwise (a failed
//! reconciliation, a rolled-back release…). The message is the `Ready` condition's reason.

use serde_json::Value;

use super::support::{
    Cond, degraded, has_conditions, healthy, is_true, progressing, status_conds, suspended, text,
};
use crate::status::HealthStatus;

#[derive(Default)]
struct Tally {
    working: u32,
    succeeded: u32,
    message: String,
}

/// Which conditions count, by kind.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Sources: `Ready`, `Reconciling`, `ArtifactInStorage`, `ArtifactOutdated`.
    Source,
    /// HelmRelease: `Ready`, `Reconciling`, `Released`, `TestSuccess`.
    HelmRelease,
    /// Kustomization and ImageUpdateAutomation: `Ready` and `Reconciling`.
    Plain,
    /// ImageRepository: a `Ready=False` counts as working while it scans.
    ImageRepository,
    /// ImagePolicy: as ImageRepository, with its own reconciling reasons.
    ImagePolicy,
    /// Receiver: `Ready=False` and `Reconciling=True` both count as failing.
    Receiver,
}

fn count(shape: Shape, c: &Cond<'_>, tally: &mut Tally) {
    let status = c.status.unwrap_or("");
    match c.kind.unwrap_or("") {
        "Ready" => {
            match (shape, status) {
                (_, "True") => tally.succeeded += 1,
                (Shape::Source | Shape::HelmRelease | Shape::Plain, "Unknown") => {
                    tally.working += 1;
                }
                (Shape::ImageRepository | Shape::ImagePolicy | Shape::Receiver, "False") => {
                    tally.working += 1;
                }
                _ => {}
            }
            tally.message = c.reason().to_string();
        }
        "Reconciling" if status == "True" => {
            let reason = c.reason();
            let counts = match shape {
                Shape::ImageRepository => matches!(reason, "NewGeneration" | "Scanning"),
                Shape::ImagePolicy => matches!(
                    reason,
                    "NewGeneration" | "AccessingRepository" | "ApplyingPolicy"
                ),
                _ => true,
            };
            if counts {
                tally.working += 1;
            }
        }
        "ArtifactOutdated" if shape == Shape::Source && status == "True" => {
            tally.message = format!("{} {}", tally.message, c.reason());
        }
        "ArtifactInStorage" if shape == Shape::Source && status == "True" => {
            tally.succeeded += 1;
        }
        "Released" | "TestSuccess" if shape == Shape::HelmRelease && status == "True" => {
            tally.succeeded += 1;
        }
        _ => {}
    }
}

fn assess(obj: &Value, shape: Shape, suspendable: bool) -> HealthStatus {
    if suspendable && is_true(obj, &["spec", "suspend"]) {
        let kind = text(obj, &["kind"]).unwrap_or("");
        return suspended(format!("{kind} is suspended"));
    }
    if !has_conditions(obj) {
        return progressing("Status unknown");
    }
    let mut tally = Tally::default();
    for c in status_conds(obj) {
        count(shape, &c, &mut tally);
    }
    let needed = match shape {
        Shape::Source | Shape::HelmRelease => 2,
        _ => 1,
    };
    if tally.working == 2 {
        if shape == Shape::Receiver {
            return degraded(tally.message);
        }
        return progressing(tally.message);
    }
    if tally.succeeded == needed {
        return healthy(tally.message);
    }
    degraded(tally.message)
}

/// Health of a Flux source (GitRepository, HelmRepository, HelmChart, Bucket, OCIRepository).
/// A HelmRepository of type `oci` keeps no status and is always Healthy.
pub fn source(obj: &Value) -> HealthStatus {
    if is_true(obj, &["spec", "suspend"]) {
        return assess(obj, Shape::Source, true);
    }
    if text(obj, &["kind"]) == Some("HelmRepository") && text(obj, &["spec", "type"]) == Some("oci")
    {
        return healthy(
            "Helm repositories of type 'oci' do not contain any information in the status.",
        );
    }
    assess(obj, Shape::Source, true)
}

/// Health of a HelmRelease.
pub fn helm_release(obj: &Value) -> HealthStatus {
    assess(obj, Shape::HelmRelease, true)
}

/// Health of a Kustomization or an ImageUpdateAutomation.
pub fn kustomization(obj: &Value) -> HealthStatus {
    assess(obj, Shape::Plain, true)
}

/// The rule for a Flux kind, if there is one.
pub fn rule(group: &str, kind: &str, obj: &Value) -> Option<HealthStatus> {
    Some(match (group, kind) {
        (
            "source.toolkit.fluxcd.io",
            "GitRepository" | "HelmRepository" | "HelmChart" | "Bucket" | "OCIRepository",
        ) => source(obj),
        ("helm.toolkit.fluxcd.io", "HelmRelease") => helm_release(obj),
        ("kustomize.toolkit.fluxcd.io", "Kustomization") => kustomization(obj),
        ("image.toolkit.fluxcd.io", "ImageUpdateAutomation") => kustomization(obj),
        ("image.toolkit.fluxcd.io", "ImageRepository") => assess(obj, Shape::ImageRepository, true),
        ("image.toolkit.fluxcd.io", "ImagePolicy") => assess(obj, Shape::ImagePolicy, false),
        ("notification.toolkit.fluxcd.io", "Receiver") => assess(obj, Shape::Receiver, true),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::HealthStatusCode;
    use serde_json::json;

    #[test]
    fn rolled_back_release_is_degraded() {
        let obj = json!({"kind": "HelmRelease", "spec": {}, "status": {"conditions": [
            {"type": "Ready", "status": "False", "reason": "RollbackSucceeded"},
            {"type": "Released", "status": "False", "reason": "UpgradeFailed"}]}});
        assert_eq!(
            helm_release(&obj),
            HealthStatus::degraded("RollbackSucceeded")
        );
        let ok = json!({"kind": "HelmRelease", "spec": {}, "status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "UpgradeSucceeded"},
            {"type": "Released", "status": "True", "reason": "UpgradeSucceeded"}]}});
        assert_eq!(helm_release(&ok).status, HealthStatusCode::Healthy);
    }

    #[test]
    fn suspended_and_oci() {
        let obj = json!({"kind": "Kustomization", "spec": {"suspend": true}});
        assert_eq!(
            kustomization(&obj),
            HealthStatus::suspended("Kustomization is suspended")
        );
        let oci = json!({"kind": "HelmRepository", "spec": {"type": "oci"}});
        assert_eq!(source(&oci).status, HealthStatusCode::Healthy);
    }
}
