//! An application's health from the health of its resources (ArgoCD's `setApplicationHealth`).

use serde_json::Value;

use crate::registry::HealthRegistry;
use crate::status::HealthStatusCode;
use strata_core::object::{Gvk, annotation, str_at};
use strata_core::sync::hooks;

/// Annotation that keeps a live object out of the application's health.
pub const IGNORE_HEALTHCHECK: &str = "argocd.argoproj.io/ignore-healthcheck";

/// At most this many causes are named before "and N more".
pub const MAX_CAUSES_SHOWN: usize = 3;

/// One resource of an application, as the aggregate needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceHealth {
    /// API group (`""` for core).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace (`""` for cluster-scoped).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The desired object says `hook: Skip` (not applied, not counted).
    pub target_skipped: bool,
    /// A live object exists.
    pub has_live: bool,
    /// The live object is a hook (hooks never count towards the app health).
    pub live_is_hook: bool,
    /// The live object carries `argocd.argoproj.io/ignore-healthcheck: "true"`.
    pub ignore_healthcheck: bool,
    /// The live object is the application itself (an app managing itself).
    pub self_reference: bool,
    /// The live object's health, `None` when its kind has no check.
    pub health: Option<HealthStatusCode>,
    /// What the health check said about it (ArgoCD's `health.message`), when it said anything.
    pub message: Option<String>,
}

impl ResourceHealth {
    /// Builds the entry for a desired/live pair, assessing the live object with `registry`.
    /// At least one of the two objects must be given for the identity to be known.
    pub fn from_objects(
        target: Option<&Value>,
        live: Option<&Value>,
        registry: &HealthRegistry,
    ) -> Self {
        let identity = live.or(target).unwrap_or(&Value::Null);
        let gvk = Gvk::of(identity);
        let assessed = live.and_then(|l| registry.assess(l));
        Self {
            group: gvk.group.to_string(),
            kind: gvk.kind.to_string(),
            namespace: str_at(identity, &["metadata", "namespace"])
                .unwrap_or("")
                .to_string(),
            name: str_at(identity, &["metadata", "name"])
                .unwrap_or("")
                .to_string(),
            target_skipped: target.is_some_and(hooks::is_skipped),
            has_live: live.is_some(),
            live_is_hook: live.is_some_and(hooks::is_hook),
            ignore_healthcheck: live
                .is_some_and(|l| annotation(l, IGNORE_HEALTHCHECK) == Some("true")),
            self_reference: false,
            message: assessed
                .as_ref()
                .map(|h| h.message.clone())
                .filter(|m| !m.is_empty()),
            health: assessed.map(|h| h.status),
        }
    }

    fn cause_label(&self) -> String {
        let group_kind = if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}/{}", self.group, self.kind)
        };
        let name = if self.namespace.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.namespace, self.name)
        };
        format!("{group_kind}:{name}")
    }
}

/// An application's aggregated health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregateHealth {
    /// The worst status that counts.
    pub status: HealthStatusCode,
    /// Indexes (into the input) of the resources at that status.
    pub causes: Vec<usize>,
    /// "Caused by g/K:ns/name, …" (at most three named, then "and N more"); empty when none.
    pub causes_message: String,
}

/// Aggregates resource health as ArgoCD does.
///
/// Hooks, skipped targets, ignored and self-referencing objects do not count; a resource without
/// a live object is Missing but does not worsen the app; a child Application that is Missing or
/// Unknown is ignored; the app is the worst of the rest, and Missing when it has resources but
/// none of them is live.
pub fn aggregate_health(resources: &[ResourceHealth]) -> AggregateHealth {
    let mut status = HealthStatusCode::Healthy;
    let mut causes: Vec<usize> = Vec::new();
    let mut contains_resources = false;
    let mut contains_live = false;
    for (index, resource) in resources.iter().enumerate() {
        if resource.target_skipped || (resource.has_live && resource.live_is_hook) {
            continue;
        }
        contains_resources = true;
        if resource.has_live {
            contains_live = true;
        }
        if resource.has_live && (resource.ignore_healthcheck || resource.self_reference) {
            continue;
        }
        if !resource.has_live {
            continue; // Missing: recorded on the resource, never worsens the app.
        }
        let Some(health) = resource.health else {
            continue;
        };
        let is_child_app = resource.group == "argoproj.io" && resource.kind == "Application";
        if is_child_app
            && matches!(
                health,
                HealthStatusCode::Missing | HealthStatusCode::Unknown
            )
        {
            continue;
        }
        if status.is_worse(health) {
            status = health;
            causes = vec![index];
        } else if status == health && status != HealthStatusCode::Healthy {
            causes.push(index);
        }
    }
    if contains_resources && !contains_live && status.is_worse(HealthStatusCode::Missing) {
        status = HealthStatusCode::Missing;
        causes.clear();
    }
    let causes_message = format_causes(resources, &causes);
    AggregateHealth {
        status,
        causes,
        causes_message,
    }
}

fn format_causes(resources: &[ResourceHealth], causes: &[usize]) -> String {
    if causes.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = causes
        .iter()
        .take(MAX_CAUSES_SHOWN)
        .map(|&i| resources[i].cause_label())
        .collect();
    let mut summary = shown.join(", ");
    if causes.len() > MAX_CAUSES_SHOWN {
        summary = format!("{summary} and {} more", causes.len() - MAX_CAUSES_SHOWN);
    }
    format!("Caused by {summary}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live(name: &str, health: HealthStatusCode) -> ResourceHealth {
        ResourceHealth {
            group: "apps".into(),
            kind: "Deployment".into(),
            name: name.into(),
            has_live: true,
            health: Some(health),
            ..Default::default()
        }
    }

    #[test]
    fn more_than_three_causes_are_summarised() {
        let resources: Vec<_> = (0..5)
            .map(|i| live(&format!("d{i}"), HealthStatusCode::Degraded))
            .collect();
        let health = aggregate_health(&resources);
        assert_eq!(health.status, HealthStatusCode::Degraded);
        assert_eq!(
            health.causes_message,
            "Caused by apps/Deployment:d0, apps/Deployment:d1, apps/Deployment:d2 and 2 more"
        );
    }

    #[test]
    fn ignore_healthcheck_still_counts_as_live() {
        let mut ignored = live("a", HealthStatusCode::Degraded);
        ignored.ignore_healthcheck = true;
        let missing = ResourceHealth {
            name: "b".into(),
            ..Default::default()
        };
        assert_eq!(
            aggregate_health(&[ignored, missing]).status,
            HealthStatusCode::Healthy
        );
    }

    #[test]
    fn builds_entries_from_objects() {
        let live_obj = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "ns"},
            "status": {"conditions": [{"type": "Failed", "status": "True", "message": "boom"}]}});
        let entry = ResourceHealth::from_objects(None, Some(&live_obj), HealthRegistry::builtin());
        assert_eq!(entry.health, Some(HealthStatusCode::Degraded));
        let health = aggregate_health(&[entry]);
        assert_eq!(health.causes_message, "Caused by batch/Job:ns/j");
    }
}
