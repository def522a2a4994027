//! Identity of a manifest: group, version, kind, name and namespace read from plain JSON.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::lookup::member;

/// The annotation `kubectl apply` writes with the last applied configuration.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Who a manifest is: its group, kind, namespace and name (the version is not identity).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    /// API group (`""` for the core group).
    pub group: String,
    /// Kind, such as `Deployment`.
    pub kind: String,
    /// Namespace (`""` when cluster-scoped or not set).
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectRef {
    /// Reads the reference from a manifest; missing fields are empty strings.
    pub fn of(manifest: &Value) -> Self {
        let api_version = member(manifest, "apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let meta = member(manifest, "metadata");
        let text = |k: &str| {
            meta.and_then(|m| member(m, k))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        Self {
            group: group_of(api_version).to_string(),
            kind: member(manifest, "kind")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            namespace: text("namespace"),
            name: text("name"),
        }
    }

    /// `group/Kind/namespace/name`, with empty parts left out (`Kind/name` for a core cluster object).
    pub fn address(&self) -> String {
        let mut parts = Vec::new();
        if !self.group.is_empty() {
            parts.push(self.group.as_str());
        }
        parts.push(self.kind.as_str());
        if !self.namespace.is_empty() {
            parts.push(self.namespace.as_str());
        }
        parts.push(self.name.as_str());
        parts.join("/")
    }
}

/// The group part of an `apiVersion` (`apps/v1` → `apps`, `v1` → `""`).
pub fn group_of(api_version: &str) -> &str {
    match api_version.split_once('/') {
        Some((group, _)) => group,
        None => "",
    }
}

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
