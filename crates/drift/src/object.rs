//! Identity of a manifest and the last-applied annotation.
//!
//! A manifest's identity is core's [`ResourceKey`] (group, kind, namespace, name), read
//! leniently with [`ResourceKey::of_partial`] because drift compares objects that may be
//! incomplete; the group comes from [`strata_core::model::group_of`].

use serde_json::Value;

use crate::lookup::member;

pub use strata_core::ResourceKey;
pub use strata_core::model::group_of;

/// The identity of a manifest, read leniently (missing fields are empty), as
/// [`ResourceKey::of_partial`] reads it but with drift's small-map key lookups: drift reads the
/// identity of every object it compares, and hashing each key with serde_json's ordered maps
/// showed up in the diff benchmark.
pub fn key_of(manifest: &Value) -> ResourceKey {
    fn text(value: Option<&Value>) -> &str {
        value.and_then(Value::as_str).unwrap_or_default()
    }
    let metadata = member(manifest, "metadata");
    let namespace = text(metadata.and_then(|m| member(m, "namespace")));
    ResourceKey {
        group: group_of(text(member(manifest, "apiVersion"))).into(),
        kind: text(member(manifest, "kind")).into(),
        namespace: (!namespace.is_empty()).then(|| namespace.into()),
        name: text(metadata.and_then(|m| member(m, "name"))).into(),
    }
}

/// The annotation `kubectl apply` writes with the last applied configuration.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Whether the group is one of Kubernetes' built-in API groups (kinds known to the client-go scheme).
pub fn is_builtin_group(group: &str) -> bool {
    matches!(
        group,
        "" | "apps"
            | "batch"
            | "extensions"
            | "policy"
            | "autoscaling"
            | "networking.k8s.io"
            | "rbac.authorization.k8s.io"
            | "storage.k8s.io"
            | "admissionregistration.k8s.io"
            | "apiextensions.k8s.io"
            | "scheduling.k8s.io"
            | "coordination.k8s.io"
            | "discovery.k8s.io"
            | "node.k8s.io"
            | "certificates.k8s.io"
            | "apiregistration.k8s.io"
    )
}

/// The last-applied configuration stored in the live object's annotation, if any and if it parses.
pub fn last_applied_of(live: &Value) -> Option<Value> {
    let text = live
        .get("metadata")?
        .get("annotations")?
        .get(LAST_APPLIED_ANNOTATION)?
        .as_str()?;
    serde_json::from_str(text).ok()
}
