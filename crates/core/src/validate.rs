//! Validation before anything is planned: problems a real API server or provider would refuse,
//! or that would silently plan something other than what was meant, found for the whole desired
//! set at once (every problem, not only the first), each naming file, document, resource and
//! field.
//!
//! Checked today:
//! - **Kinds of provider-owned groups**: a provider declares the kinds it serves
//!   ([`Provider::declared_kinds`](crate::Provider::declared_kinds)); in a group where
//!   some provider declares kinds, any other kind is refused with the nearest declared name
//!   (`BucketVersoning` → "did you mean BucketVersioning?"), so a typo is never sent to the
//!   sandbox and its misspelt twin planned as a deletion. Kinds the sandbox may take
//!   unchecked are declared by its allow-list (`sandbox.allowKinds` in `strata.yaml`).
//! - **Managed-resource specs** (Crossplane provider kinds, groups under `upbound.io`): `spec`
//!   holds `forProvider` (an object) and only the fields Crossplane's managed resources have;
//!   a misspelt `forProvidr` is refused with a suggestion instead of being planned as the
//!   removal of `spec.forProvider`.
//! - **Metadata**: label and annotation values are strings (Kubernetes' `map[string]string`);
//!   Strata's switches (`strata.dev/protect`, `strata.dev/adopt`,
//!   `strata.dev/create-before-destroy`) are `"true"` or `"false"`; `strata.dev/depends-on`
//!   lists addresses.
//!
//! Unresolvable references are refused when they are resolved (see [`crate::references`]).
//! Schemas of built-in kinds and of CRDs are not checked yet.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

use crate::model::{
    ANNOTATION_ADOPT, ANNOTATION_CREATE_BEFORE_DESTROY, ANNOTATION_DEPENDS_ON, ANNOTATION_PROTECT,
    Resource, ResourceKey, SourceLocation,
};
use crate::provider::ProviderRegistry;

/// One problem found in one resource.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Problem {
    /// Where the resource was read, when known.
    pub location: Option<SourceLocation>,
    /// The resource.
    pub key: ResourceKey,
    /// The field at fault (`kind`, `spec.forProvidr`, `metadata.annotations.strata.dev/protect`).
    pub field: String,
    /// What is wrong, and what would be right.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        write!(f, "{}: {}: {}", self.key, self.field, self.message)
    }
}

/// The fields of a Crossplane managed resource's `spec`.
const MANAGED_SPEC_FIELDS: &[&str] = &[
    "forProvider",
    "initProvider",
    "providerConfigRef",
    "providerRef",
    "deletionPolicy",
    "managementPolicies",
    "writeConnectionSecretToRef",
    "publishConnectionDetailsTo",
];

/// Strata's annotations that are switches.
const SWITCH_ANNOTATIONS: &[&str] = &[
    ANNOTATION_PROTECT,
    ANNOTATION_ADOPT,
    ANNOTATION_CREATE_BEFORE_DESTROY,
];

/// Checks desired sets; built from what the providers declare.
#[derive(Debug, Clone, Default)]
pub struct Validator {
    /// Declared kinds by group.
    declared: BTreeMap<String, BTreeSet<String>>,
}

impl Validator {
    /// A validator knowing what the providers of `registry` (the fallback included) declare.
    pub fn for_registry(registry: &ProviderRegistry) -> Self {
        let mut validator = Self::default();
        for (group, kind) in registry.declared_kinds() {
            validator.declare(&group, &kind);
        }
        validator
    }

    /// Declares `group`/`kind` as served.
    pub fn declare(&mut self, group: &str, kind: &str) {
        self.declared
            .entry(group.to_owned())
            .or_default()
            .insert(kind.to_owned());
    }

    /// Every problem of `resources`, in their order.
    pub fn check(&self, resources: &[Resource]) -> Vec<Problem> {
        let mut problems = Vec::new();
        for resource in resources {
            let mut problem = |field: String, message: String| {
                problems.push(Problem {
                    location: resource.source.clone(),
                    key: resource.key.clone(),
                    field,
                    message,
                });
            };
            self.check_kind(resource, &mut problem);
            check_metadata(resource, &mut problem);
            if resource.key.group.ends_with(".upbound.io") {
                check_managed_spec(resource, &mut problem);
            }
        }
        problems
    }

    fn check_kind(&self, resource: &Resource, problem: &mut impl FnMut(String, String)) {
        let key = &resource.key;
        let Some(kinds) = self.declared.get(&key.group) else {
            return;
        };
        if kinds.contains(&key.kind) {
            return;
        }
        let listed: Vec<&str> = kinds.iter().map(String::as_str).collect();
        let hint = nearest(&key.kind, listed.iter().copied())
            .map(|k| format!("did you mean {k}? "))
            .unwrap_or_default();
        problem(
            "kind".into(),
            format!(
                "no provider serves kind {} of group {} ({hint}the group's served kinds are {}); to let the sandbox take it unchecked, add `{}/{}` to sandbox.allowKinds in strata.yaml",
                key.kind,
                key.group,
                listed.join(", "),
                key.group,
                key.kind
            ),
        );
    }
}

/// The closest of `candidates` to `wanted` (Damerau–Levenshtein), when close enough to be a
/// typo: at most a third of the candidate's length, and at least two edits, away. Shared by
/// every "did you mean …?" Strata prints.
pub fn nearest<'a>(wanted: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (strsim::damerau_levenshtein(wanted, c), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min()
        .map(|(_, c)| c)
}

fn check_metadata(resource: &Resource, problem: &mut impl FnMut(String, String)) {
    for map in ["labels", "annotations"] {
        let Some(entries) = resource
            .manifest
            .pointer(&format!("/metadata/{map}"))
            .and_then(Value::as_object)
        else {
            continue;
        };
        for (name, value) in entries {
            let field = format!("metadata.{map}.{name}");
            let Some(text) = value.as_str() else {
                problem(field, format!("must be a string (quote it), found {value}"));
                continue;
            };
            if map != "annotations" {
                continue;
            }
            if SWITCH_ANNOTATIONS.contains(&name.as_str()) && !matches!(text, "true" | "false") {
                problem(
                    field,
                    format!("must be \"true\" or \"false\", found {text:?}"),
                );
            } else if name == ANNOTATION_DEPENDS_ON {
                for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                    if let Err(e) = entry.parse::<ResourceKey>() {
                        problem(field.clone(), e.to_string());
                    }
                }
            }
        }
    }
}

fn check_managed_spec(resource: &Resource, problem: &mut impl FnMut(String, String)) {
    let Some(spec) = resource.manifest.get("spec").and_then(Value::as_object) else {
        problem(
            "spec".into(),
            "a managed resource needs spec.forProvider".into(),
        );
        return;
    };
    for name in spec.keys() {
        if !MANAGED_SPEC_FIELDS.contains(&name.as_str()) {
            let hint = nearest(name, MANAGED_SPEC_FIELDS.iter().copied())
                .map(|f| format!("; did you mean {f}?"))
                .unwrap_or_default();
            problem(
                format!("spec.{name}"),
                format!("unknown field of a managed resource's spec{hint}"),
            );
        }
    }
    match spec.get("forProvider") {
        Some(Value::Object(_)) => {}
        Some(other) => problem(
            "spec.forProvider".into(),
            format!("must be an object, found {other}"),
        ),
        None => problem(
            "spec.forProvider".into(),
            "is required for a managed resource".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resource(manifest: Value) -> Resource {
        Resource::from_manifest(manifest).unwrap()
    }

    fn problems(validator: &Validator, manifest: Value) -> Vec<String> {
        validator
            .check(&[resource(manifest)])
            .iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect()
    }

    fn aws_like() -> Validator {
        let mut v = Validator::default();
        for kind in ["Bucket", "BucketVersioning", "BucketPublicAccessBlock"] {
            v.declare("s3.aws.upbound.io", kind);
        }
        v
    }

    #[test]
    fn a_misspelt_kind_of_a_served_group_is_refused_with_a_suggestion() {
        let found = problems(
            &aws_like(),
            json!({"apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "BucketVersoning",
                   "metadata": {"name": "v"}, "spec": {"forProvider": {}}}),
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("kind: no provider serves kind BucketVersoning of group s3.aws.upbound.io (did you mean BucketVersioning? the group's served kinds are Bucket, BucketPublicAccessBlock, BucketVersioning)"), "{found:?}");
        assert!(found[0].contains("add `s3.aws.upbound.io/BucketVersoning` to sandbox.allowKinds"));
        // Groups nobody declares are not judged here.
        assert!(problems(&aws_like(), json!({"apiVersion": "ec2.aws.upbound.io/v1beta1", "kind": "VPC", "metadata": {"name": "v"}, "spec": {"forProvider": {}}})).is_empty());
    }

    #[test]
    fn a_misspelt_spec_field_of_a_managed_resource_is_refused() {
        let found = problems(
            &aws_like(),
            json!({"apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "Bucket",
                   "metadata": {"name": "b"}, "spec": {"forProvidr": {"region": "eu-west-1"}}}),
        );
        assert_eq!(
            found,
            [
                "spec.forProvidr: unknown field of a managed resource's spec; did you mean forProvider?",
                "spec.forProvider: is required for a managed resource",
            ]
        );
    }

    #[test]
    fn annotations_of_the_wrong_type_are_refused() {
        let found = problems(
            &Validator::default(),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "c", "labels": {"tier": 3},
                     "annotations": {"strata.dev/depends-on": 5, "strata.dev/protect": "yes",
                                     "other": "free text"}}}),
        );
        assert_eq!(
            found,
            [
                "metadata.labels.tier: must be a string (quote it), found 3",
                "metadata.annotations.strata.dev/depends-on: must be a string (quote it), found 5",
                "metadata.annotations.strata.dev/protect: must be \"true\" or \"false\", found \"yes\"",
            ]
        );
        let found = problems(
            &Validator::default(),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "c", "annotations": {"strata.dev/depends-on": "ConfigMap/a, nonsense"}}}),
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("`nonsense` is not an address"),
            "{found:?}"
        );
    }

    #[test]
    fn valid_resources_have_no_problem() {
        assert!(problems(&aws_like(), json!({"apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "Bucket",
            "metadata": {"name": "b", "annotations": {"strata.dev/protect": "true", "strata.dev/depends-on": "ConfigMap/default/a"}},
            "spec": {"forProvider": {"region": "eu-west-1"}, "providerConfigRef": {"name": "default"}}})).is_empty());
    }
}
