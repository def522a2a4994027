//! The resource model: manifests, their identity and where they came from.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::object::{field, member};

/// Annotation listing explicit dependencies: `[group/]Kind/[namespace/]name`, comma-separated.
pub const ANNOTATION_DEPENDS_ON: &str = "strata.dev/depends-on";
/// Label naming the stack that owns a live object.
pub const LABEL_STACK: &str = "strata.dev/stack";
/// Standard label naming the manager of a live object.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Value of [`LABEL_MANAGED_BY`] on objects Strata manages.
pub const MANAGED_BY_STRATA: &str = "strata";
/// Annotation that protects a resource from deletion and replacement.
pub const ANNOTATION_PROTECT: &str = "strata.dev/protect";
/// Annotation that allows adopting a live object Strata does not own.
pub const ANNOTATION_ADOPT: &str = "strata.dev/adopt";
/// Annotation that asks for create-then-delete replacement.
pub const ANNOTATION_CREATE_BEFORE_DESTROY: &str = "strata.dev/create-before-destroy";
/// Annotation carrying a cloud resource's external name or id.
pub const ANNOTATION_EXTERNAL_NAME: &str = "crossplane.io/external-name";
/// ArgoCD's sync-wave annotation, honoured as a wave barrier.
pub const ANNOTATION_SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";

/// The text of one part of a [`ResourceKey`]: a string held inline up to 24 bytes, so that
/// copying a key (plans, graphs, state and observations each hold keys) seldom allocates. It
/// dereferences to `str` and compares with `str` and `String`.
pub type KeyText = compact_str::CompactString;

/// The identity of a resource: group, kind, namespace and name (the version is not part of it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResourceKey {
    /// API group (`""` for the Kubernetes core group).
    pub group: KeyText,
    /// Kind, e.g. `Bucket`.
    pub kind: KeyText,
    /// Namespace, for namespaced resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<KeyText>,
    /// Name.
    pub name: KeyText,
}

impl ResourceKey {
    /// Builds a key from its parts.
    pub fn new(
        group: impl Into<KeyText>,
        kind: impl Into<KeyText>,
        namespace: Option<&str>,
        name: impl Into<KeyText>,
    ) -> Self {
        Self {
            group: group.into(),
            kind: kind.into(),
            namespace: namespace.map(KeyText::from),
            name: name.into(),
        }
    }

    /// Reads the key of a manifest, naming the first missing or malformed field.
    pub fn from_manifest(manifest: &Value) -> Result<Self, FieldError> {
        let object = manifest
            .as_object()
            .ok_or_else(|| FieldError::new("", "a manifest must be an object"))?;
        let api_version = required_str(object, "apiVersion")?;
        let kind = required_str(object, "kind")?;
        let metadata = field(object, "metadata")
            .ok_or_else(|| FieldError::new("metadata", "is required"))?
            .as_object()
            .ok_or_else(|| FieldError::new("metadata", "must be an object"))?;
        let name = match field(metadata, "name") {
            Some(Value::String(name)) if !name.is_empty() => KeyText::from(name.as_str()),
            Some(Value::String(_)) => return Err(FieldError::new("metadata.name", "is empty")),
            Some(_) => return Err(FieldError::new("metadata.name", "must be a string")),
            None => return Err(FieldError::new("metadata.name", "is required")),
        };
        let namespace = match field(metadata, "namespace") {
            None | Some(Value::Null) => None,
            Some(Value::String(ns)) if ns.is_empty() => None,
            Some(Value::String(ns)) => Some(KeyText::from(ns.as_str())),
            Some(_) => return Err(FieldError::new("metadata.namespace", "must be a string")),
        };
        Ok(Self {
            group: group_of(api_version).into(),
            kind: kind.into(),
            namespace,
            name,
        })
    }

    /// Reads the key of a manifest that may be incomplete (a live object, a document under
    /// diff): missing or non-string fields read as empty and an empty namespace as none. Use
    /// [`ResourceKey::from_manifest`] where a malformed manifest is an error.
    pub fn of_partial(manifest: &Value) -> Self {
        fn text(value: Option<&Value>) -> &str {
            value.and_then(Value::as_str).unwrap_or_default()
        }
        let metadata = member(manifest, "metadata");
        let namespace = text(metadata.and_then(|m| member(m, "namespace")));
        Self {
            group: group_of(text(member(manifest, "apiVersion"))).into(),
            kind: text(member(manifest, "kind")).into(),
            namespace: (!namespace.is_empty()).then(|| namespace.into()),
            name: text(metadata.and_then(|m| member(m, "name"))).into(),
        }
    }

    /// The namespace, or `""` for a cluster-scoped resource.
    pub fn namespace_or_empty(&self) -> &str {
        self.namespace.as_deref().unwrap_or_default()
    }

    /// The form used in `strata.dev/depends-on` and in plans: `[group/]Kind/[namespace/]name`.
    pub fn address(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.group.is_empty() {
            write!(f, "{}/", self.group)?;
        }
        write!(f, "{}/", self.kind)?;
        if let Some(ns) = &self.namespace {
            write!(f, "{ns}/")?;
        }
        f.write_str(&self.name)
    }
}

/// Why an address is not `[group/]Kind/[namespace/]name`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{address}` is not an address of the form [group/]Kind/[namespace/]name: {reason}")]
pub struct AddressError {
    /// The text given.
    pub address: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl std::str::FromStr for ResourceKey {
    type Err = AddressError;

    /// Parses an address as [`ResourceKey`]'s `Display` writes it: `Kind/name`,
    /// `Kind/namespace/name`, `group/Kind/name` or `group/Kind/namespace/name`. Kinds start
    /// with an upper-case letter and groups do not, which tells the three-part forms apart.
    fn from_str(address: &str) -> Result<Self, Self::Err> {
        let error = |reason| AddressError {
            address: address.to_owned(),
            reason,
        };
        let parts: Vec<&str> = address.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(error("a part is empty"));
        }
        let is_kind = |s: &str| s.chars().next().is_some_and(|c| c.is_ascii_uppercase());
        let (group, kind, namespace, name) = match parts.as_slice() {
            [kind, name] => ("", *kind, None, *name),
            [first, second, name] if is_kind(first) => ("", *first, Some(*second), *name),
            [group, kind, name] => (*group, *kind, None, *name),
            [group, kind, namespace, name] => (*group, *kind, Some(*namespace), *name),
            _ => return Err(error("it has 2 to 4 parts separated by `/`")),
        };
        if !is_kind(kind) || is_kind(group) {
            return Err(error(
                "the kind must start with an upper-case letter, the group must not",
            ));
        }
        Ok(ResourceKey::new(group, kind, namespace, name))
    }
}

fn required_str<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a str, FieldError> {
    match field(object, name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(FieldError::new(name, "is empty")),
        Some(_) => Err(FieldError::new(name, "must be a string")),
        None => Err(FieldError::new(name, "is required")),
    }
}

/// The group part of an `apiVersion` (`apps/v1` → `apps`, `v1` → ``).
///
/// The one place the group is read from an `apiVersion`; see also
/// [`crate::object::split_api_version`] for the group and the version together.
pub fn group_of(api_version: &str) -> &str {
    crate::object::split_api_version(api_version).0
}

/// A problem with one field of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{path}`: {message}")]
pub struct FieldError {
    /// Dotted path of the field (empty for the whole document).
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Where a manifest came from: file and document index (0-based), plus the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLocation {
    /// The file the manifest was read from.
    pub file: PathBuf,
    /// Index of the document within the file (0-based).
    pub document: usize,
    /// Line (1-based) where the document starts.
    pub line: usize,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (document {}, line {})",
            self.file.display(),
            self.document,
            self.line
        )
    }
}

/// A desired resource: its manifest, identity and origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// The identity read from the manifest.
    pub key: ResourceKey,
    /// The full manifest.
    pub manifest: Value,
    /// Where it was read from, when it came from a file.
    pub source: Option<SourceLocation>,
}

impl Resource {
    /// Wraps a manifest, reading its key.
    pub fn from_manifest(manifest: Value) -> Result<Self, FieldError> {
        let key = ResourceKey::from_manifest(&manifest)?;
        Ok(Self {
            key,
            manifest,
            source: None,
        })
    }

    /// The `apiVersion` of the manifest.
    pub fn api_version(&self) -> &str {
        member(&self.manifest, "apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// An annotation's value.
    pub fn annotation(&self, name: &str) -> Option<&str> {
        annotation(&self.manifest, name)
    }

    /// A label's value.
    pub fn label(&self, name: &str) -> Option<&str> {
        label(&self.manifest, name)
    }

    /// Whether the manifest asks for protection (`strata.dev/protect: "true"`).
    pub fn is_protected(&self) -> bool {
        self.annotation(ANNOTATION_PROTECT) == Some("true")
    }
}

/// Reads an annotation from any manifest.
pub fn annotation<'a>(manifest: &'a Value, name: &str) -> Option<&'a str> {
    let metadata = member(manifest, "metadata")?;
    member(member(metadata, "annotations")?, name)?.as_str()
}

/// Reads a label from any manifest.
pub fn label<'a>(manifest: &'a Value, name: &str) -> Option<&'a str> {
    member(member(member(manifest, "metadata")?, "labels")?, name)?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_from_manifest_reads_group_and_namespace() {
        let key = ResourceKey::from_manifest(&json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod"}
        }))
        .unwrap();
        assert_eq!(key.to_string(), "apps/Deployment/prod/web");
        let core = ResourceKey::from_manifest(&json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}
        }))
        .unwrap();
        assert_eq!(core.to_string(), "ConfigMap/c");
    }

    #[test]
    fn partial_manifests_read_with_empty_parts() {
        let key = ResourceKey::of_partial(&json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": ""}}));
        assert_eq!(key, ResourceKey::new("apps", "Deployment", None, "web"));
        assert_eq!(key.namespace_or_empty(), "");
        let nothing = ResourceKey::of_partial(&Value::Null);
        assert_eq!(nothing, ResourceKey::new("", "", None, ""));
        assert_eq!(group_of("v1"), "");
        assert_eq!(group_of("rds.aws.upbound.io/v1beta1"), "rds.aws.upbound.io");
    }

    #[test]
    fn key_errors_name_the_field() {
        let err =
            ResourceKey::from_manifest(&json!({"apiVersion": "v1", "metadata": {}})).unwrap_err();
        assert_eq!(err.path, "kind");
        let err = ResourceKey::from_manifest(
            &json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": 3}}),
        )
        .unwrap_err();
        assert_eq!(err.path, "metadata.name");
    }
}
