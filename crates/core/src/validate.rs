//! Validation before anything is planned: problems a real API server or provider would refuse,
//! or that would silently plan something other than what was meant, found for the whole desired
//! set at once (every problem, not only the first), each naming file, document, resource and
//! field.
//!
//! Checked:
//! - **Every object against the schema of its kind** ([`crate::schema`]): the schemas the
//!   providers declare ([`Provider::schemas`]: the Kubernetes
//!   built-in types, a cluster's CRDs, a cloud provider's kinds; the sandbox mirrors those of
//!   the providers it stands in for) and those of the CustomResourceDefinitions in the desired
//!   set itself (which win: they are what the API server will check once they are applied).
//!   Unknown fields, wrong types, missing required fields, enums and bounds are problems named
//!   by field path, with the nearest field name when one is close; `metadata` is checked as
//!   Kubernetes' `ObjectMeta`. A version the schema's declarer does not serve is a problem.
//! - **Kinds nothing knows**: a kind with no schema, that no provider declares and that no
//!   enabled provider serves, is refused with the nearest known kind (`BucketVersoning` →
//!   "did you mean BucketVersioning?") rather than handed to the sandbox, which would plan
//!   the typo as a new resource and its correctly spelt twin as a deletion. Kinds the sandbox
//!   may take unchecked are listed in `sandbox.allowKinds` in `strata.yaml`.
//! - **CustomResourceDefinitions**: a served version without a schema, or with a schema the
//!   API server would refuse.
//! - **Managed-resource specs** (Crossplane provider kinds, groups under `upbound.io`) that
//!   no schema covers: `spec` holds `forProvider` (an object) and only the fields
//!   Crossplane's managed resources have.
//! - **Metadata**: label and annotation values are strings (Kubernetes' `map[string]string`);
//!   Strata's switches (`strata.dev/protect`, `strata.dev/adopt`,
//!   `strata.dev/create-before-destroy`) are `"true"` or `"false"`; `strata.dev/depends-on`
//!   lists addresses.
//!
//! References (`*Ref`, `*Refs`, `*Selector` fields) that resolve to nothing are problems too,
//! found by [`crate::references::check_references`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::model::{
    ANNOTATION_ADOPT, ANNOTATION_CREATE_BEFORE_DESTROY, ANNOTATION_DEPENDS_ON, ANNOTATION_PROTECT,
    Resource, ResourceKey, SourceLocation,
};
use crate::provider::{Provider, ProviderRegistry};
use crate::schema::{KindSchema, PathSegment, Schema};

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
    /// The same field as segments (`metadata`, `annotations`, `strata.dev/protect`): names may
    /// hold dots, so this is the form to look a field up by.
    pub path: Vec<PathSegment>,
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

/// The schemas of one kind, by version, and who declares them.
#[derive(Debug, Clone)]
struct KindEntry {
    versions: BTreeMap<String, Schema>,
    declared_by: String,
}

type GroupKind = (String, String);

/// Checks desired sets against what the providers declare, the schemas registered, and the
/// CustomResourceDefinitions found in the set itself. Built by [`Validator::for_registry`]
/// (what the engine uses), or by hand, and extended with [`Validator::register`],
/// [`Validator::declare`] and [`Validator::with_object_meta`].
#[derive(Debug, Clone, Default)]
pub struct Validator {
    /// Kinds known without a schema, by group (`*` stands for any group or any kind).
    declared: BTreeMap<String, BTreeSet<String>>,
    /// Schemas by group and kind.
    schemas: HashMap<GroupKind, KindEntry>,
    /// The schema every object's `metadata` is checked against.
    object_meta: Option<Schema>,
    /// The providers routed to before the fallback: a kind one of them serves is known.
    enabled: Vec<Arc<dyn Provider>>,
    /// Whether kinds nothing knows pass (off by default).
    unknown_kinds_allowed: bool,
    /// Built for a registry without a fallback: a kind no enabled provider serves is then
    /// left to routing, which names it as unserved (the sandbox is off, so "add it to the
    /// sandbox's allow-list" would be the wrong advice).
    without_fallback: bool,
}

impl Validator {
    /// A validator knowing what the providers of `registry` (the fallback included) declare
    /// and serve. `metadata` is checked against the `ObjectMeta` of the built-in schemas when
    /// a provider declares them (the `metadata` of core `v1` `ConfigMap`).
    pub fn for_registry(registry: &ProviderRegistry) -> Self {
        let mut validator = Self::default();
        for provider in registry.providers() {
            for (group, kind) in provider.declared_kinds() {
                validator.declare(&group, &kind);
            }
            for schema in provider.schemas() {
                validator.register(schema);
            }
        }
        validator.enabled = registry.enabled().cloned().collect();
        validator.without_fallback = registry.fallback().is_none();
        if validator.object_meta.is_none()
            && let Some(meta) = validator
                .schemas
                .get(&(String::new(), "ConfigMap".to_owned()))
                .and_then(|entry| entry.versions.get("v1"))
                .and_then(|schema| schema.property("metadata"))
        {
            validator.object_meta = Some(meta);
        }
        validator
    }

    /// Declares `group`/`kind` as known without a schema (`*` for any group or any kind).
    pub fn declare(&mut self, group: &str, kind: &str) {
        self.declared
            .entry(group.to_owned())
            .or_default()
            .insert(kind.to_owned());
    }

    /// Registers a kind's schema at one version; the first registration of a version wins
    /// (providers are asked in routing order).
    pub fn register(&mut self, schema: KindSchema) {
        let entry = self
            .schemas
            .entry((schema.group.clone(), schema.kind.clone()))
            .or_insert_with(|| KindEntry {
                versions: BTreeMap::new(),
                declared_by: schema.declared_by.clone(),
            });
        entry
            .versions
            .entry(schema.version.clone())
            .or_insert(schema.schema);
    }

    /// Checks every object's `metadata` against `object_meta` (Kubernetes' `ObjectMeta`).
    pub fn with_object_meta(mut self, object_meta: Schema) -> Self {
        self.object_meta = Some(object_meta);
        self
    }

    /// Lets kinds nothing knows pass unchecked (for offline tools that see partial sets).
    pub fn allowing_unknown_kinds(mut self) -> Self {
        self.unknown_kinds_allowed = true;
        self
    }

    /// Every problem of `resources`, in their order.
    pub fn check(&self, resources: &[Resource]) -> Vec<Problem> {
        let mut problems = Vec::new();
        let defined = self.defined_by_crds(resources, &mut problems);
        // Each resource is checked on its own: a large set on every core, in order.
        problems.extend(crate::par::flat_map_slices(resources, |run| {
            let mut found = Vec::new();
            for resource in run {
                self.check_one(resource, &defined, &mut found);
            }
            found
        }));
        problems
    }

    /// The problems of the resources at `positions` of `resources` only, with the kinds the
    /// whole set's CustomResourceDefinitions define (their own problems are not reported): what
    /// [`Validator::check`] would report for those resources, for a caller re-checking the few
    /// resources of a large set that changed.
    pub fn check_positions(&self, resources: &[Resource], positions: &[usize]) -> Vec<Problem> {
        let mut problems = Vec::new();
        let defined = self.defined_by_crds(resources, &mut Vec::new());
        for &position in positions {
            if let Some(resource) = resources.get(position) {
                self.check_one(resource, &defined, &mut problems);
            }
        }
        problems
    }

    fn check_one(
        &self,
        resource: &Resource,
        defined: &HashMap<GroupKind, KindEntry>,
        problems: &mut Vec<Problem>,
    ) {
        let mut problem = |path: Vec<PathSegment>, message: String| {
            problems.push(Problem {
                location: resource.source.clone(),
                key: resource.key.clone(),
                field: crate::schema::format_path(&path),
                path,
                message,
            });
        };
        let key = (
            resource.key.group.to_string(),
            resource.key.kind.to_string(),
        );
        let entry = defined.get(&key).or_else(|| self.schemas.get(&key));
        match entry {
            Some(entry) => self.check_schema(resource, entry, &mut problem),
            None => self.check_kind(resource, defined, &mut problem),
        }
        check_metadata(resource, &mut problem);
        if entry.is_none() && resource.key.group.ends_with(".upbound.io") {
            check_managed_spec(resource, &mut problem);
        }
    }

    /// The schemas of the CustomResourceDefinitions among `resources`; their problems are
    /// added to `problems`.
    fn defined_by_crds(
        &self,
        resources: &[Resource],
        problems: &mut Vec<Problem>,
    ) -> HashMap<GroupKind, KindEntry> {
        let mut defined: HashMap<GroupKind, KindEntry> = HashMap::new();
        for resource in resources {
            if resource.key.group != "apiextensions.k8s.io"
                || resource.key.kind != "CustomResourceDefinition"
            {
                continue;
            }
            match crate::schema::crd_schemas(&resource.manifest) {
                Ok(schemas) => {
                    for schema in schemas {
                        let entry = defined
                            .entry((schema.group.clone(), schema.kind.clone()))
                            .or_insert_with(|| KindEntry {
                                versions: BTreeMap::new(),
                                declared_by: schema.declared_by.clone(),
                            });
                        entry.versions.insert(schema.version, schema.schema);
                    }
                }
                Err(found) => {
                    for p in found {
                        problems.push(Problem {
                            location: resource.source.clone(),
                            key: resource.key.clone(),
                            field: p.field(),
                            path: p.path,
                            message: p.message,
                        });
                    }
                }
            }
        }
        defined
    }

    fn check_schema(
        &self,
        resource: &Resource,
        entry: &KindEntry,
        problem: &mut impl FnMut(Vec<PathSegment>, String),
    ) {
        let api_version = resource.api_version();
        let version = api_version.rsplit('/').next().unwrap_or(api_version);
        let Some(schema) = entry.versions.get(version) else {
            let served: Vec<&str> = entry.versions.keys().map(String::as_str).collect();
            problem(
                vec![PathSegment::Key("apiVersion".to_owned())],
                format!(
                    "{} does not serve version {version} of {} (it serves {})",
                    entry.declared_by,
                    resource.key.kind,
                    served.join(", ")
                ),
            );
            return;
        };
        for found in schema.check_object(&resource.manifest, self.object_meta.as_ref()) {
            let message = format!("{} (schema of {})", found.message, entry.declared_by);
            problem(found.path, message);
        }
    }

    fn is_declared(&self, group: &str, kind: &str) -> bool {
        [group, "*"].iter().any(|g| {
            self.declared
                .get(*g)
                .is_some_and(|kinds| kinds.contains(kind) || kinds.contains("*"))
        })
    }

    fn check_kind(
        &self,
        resource: &Resource,
        defined: &HashMap<GroupKind, KindEntry>,
        problem: &mut impl FnMut(Vec<PathSegment>, String),
    ) {
        let key = &resource.key;
        if self.unknown_kinds_allowed
            || self.without_fallback
            || self.is_declared(&key.group, &key.kind)
            || self
                .enabled
                .iter()
                .any(|p| p.serves(resource.api_version(), &key.kind))
        {
            return;
        }
        let known: BTreeSet<(&str, &str)> = defined
            .keys()
            .chain(self.schemas.keys())
            .map(|(g, k)| (g.as_str(), k.as_str()))
            .chain(self.declared.iter().flat_map(|(g, kinds)| {
                kinds
                    .iter()
                    .filter(|k| *k != "*")
                    .map(move |k| (g.as_str(), k.as_str()))
            }))
            .collect();
        let same_group = nearest(
            &key.kind,
            known
                .iter()
                .filter(|(g, _)| *g == key.group)
                .map(|(_, k)| *k),
        );
        let hint = match same_group {
            Some(kind) => format!("; did you mean {kind}?"),
            None => {
                let named: Vec<String> = known
                    .iter()
                    .filter(|(_, k)| *k == key.kind)
                    .map(|(g, k)| group_kind(g, k))
                    .collect();
                if named.is_empty() {
                    nearest(&key.kind, known.iter().map(|(_, k)| *k))
                        .and_then(|kind| known.iter().find(|(_, k)| *k == kind))
                        .map(|(g, k)| format!("; did you mean {}?", group_kind(g, k)))
                        .unwrap_or_default()
                } else {
                    format!("; {} is known in {}", key.kind, named.join(", "))
                }
            }
        };
        let group = if key.group.is_empty() {
            "the core group".to_owned()
        } else {
            format!("group {}", key.group)
        };
        problem(
            vec![PathSegment::Key("kind".to_owned())],
            format!(
                "no schema and no provider for kind {} in {group}{hint} (to let the sandbox take it unchecked, add `{}` to sandbox.allowKinds in strata.yaml)",
                key.kind,
                group_kind(&key.group, &key.kind)
            ),
        );
    }
}

/// `group/Kind`, or `Kind` for the core group.
fn group_kind(group: &str, kind: &str) -> String {
    if group.is_empty() {
        kind.to_owned()
    } else {
        format!("{group}/{kind}")
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

fn key_path(keys: &[&str]) -> Vec<PathSegment> {
    keys.iter()
        .map(|k| PathSegment::Key((*k).to_owned()))
        .collect()
}

fn check_metadata(resource: &Resource, problem: &mut impl FnMut(Vec<PathSegment>, String)) {
    let Some(metadata) = crate::object::member(&resource.manifest, "metadata") else {
        return;
    };
    for map in ["labels", "annotations"] {
        let Some(entries) = metadata.get(map).and_then(Value::as_object) else {
            continue;
        };
        for (name, value) in entries {
            // The path is built only for a problem (most entries have none).
            let field = || key_path(&["metadata", map, name]);
            let Some(text) = value.as_str() else {
                problem(
                    field(),
                    format!("must be a string (quote it), found {value}"),
                );
                continue;
            };
            if map != "annotations" {
                continue;
            }
            if SWITCH_ANNOTATIONS.contains(&name.as_str()) && !matches!(text, "true" | "false") {
                problem(
                    field(),
                    format!("must be \"true\" or \"false\", found {text:?}"),
                );
            } else if name == ANNOTATION_DEPENDS_ON {
                for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                    if let Err(e) = entry.parse::<ResourceKey>() {
                        problem(field(), e.to_string());
                    }
                }
            }
        }
    }
}

fn check_managed_spec(resource: &Resource, problem: &mut impl FnMut(Vec<PathSegment>, String)) {
    let Some(spec) = resource.manifest.get("spec").and_then(Value::as_object) else {
        problem(
            key_path(&["spec"]),
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
                key_path(&["spec", name]),
                format!("unknown field of a managed resource's spec{hint}"),
            );
        }
    }
    match spec.get("forProvider") {
        Some(Value::Object(_)) => {}
        Some(other) => problem(
            key_path(&["spec", "forProvider"]),
            format!("must be an object, found {other}"),
        ),
        None => problem(
            key_path(&["spec", "forProvider"]),
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
    fn a_misspelt_kind_is_refused_with_a_suggestion() {
        let found = problems(
            &aws_like(),
            json!({"apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "BucketVersoning",
                   "metadata": {"name": "v"}, "spec": {"forProvider": {}}}),
        );
        assert_eq!(
            found,
            [
                "kind: no schema and no provider for kind BucketVersoning in group s3.aws.upbound.io; did you mean BucketVersioning? (to let the sandbox take it unchecked, add `s3.aws.upbound.io/BucketVersoning` to sandbox.allowKinds in strata.yaml)"
            ]
        );
        // A kind of another group is named with its group.
        let found = problems(
            &aws_like(),
            json!({"apiVersion": "s4.aws.upbound.io/v1beta1", "kind": "Buckets",
                   "metadata": {"name": "v"}, "spec": {"forProvider": {}}}),
        );
        assert!(
            found[0].contains("did you mean s3.aws.upbound.io/Bucket?"),
            "{found:?}"
        );
        // Kinds nothing knows are refused too, unless allowed.
        let vpc = json!({"apiVersion": "ec2.aws.upbound.io/v1beta1", "kind": "VPC", "metadata": {"name": "v"}, "spec": {"forProvider": {}}});
        assert_eq!(problems(&aws_like(), vpc.clone()).len(), 1);
        let mut allowing = aws_like();
        allowing.declare("ec2.aws.upbound.io", "*");
        assert!(problems(&allowing, vpc.clone()).is_empty());
        assert!(problems(&aws_like().allowing_unknown_kinds(), vpc).is_empty());
    }

    fn widget_crd(schema: Value) -> Value {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
               "metadata": {"name": "widgets.example.org"},
               "spec": {"group": "example.org", "scope": "Namespaced",
                        "names": {"kind": "Widget", "plural": "widgets"},
                        "versions": [{"name": "v1", "served": true, "storage": true,
                                      "schema": {"openAPIV3Schema": schema}}]}})
    }

    #[test]
    fn custom_resources_are_checked_against_the_crds_of_the_set() {
        let crd = resource(widget_crd(json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["size"], "properties": {
                "size": {"type": "integer"}, "colour": {"type": "string", "enum": ["red", "blue"]}}}}})));
        let widget = |spec: Value, version: &str| {
            resource(
                json!({"apiVersion": format!("example.org/{version}"), "kind": "Widget",
                            "metadata": {"name": "w", "namespace": "default"}, "spec": spec}),
            )
        };
        let validator = Validator::default();
        let found = |resources: &[Resource]| -> Vec<String> {
            validator
                .check(resources)
                .iter()
                .map(|p| format!("{}: {}", p.field, p.message))
                .collect()
        };
        let crd_problems = found(std::slice::from_ref(&crd));
        assert_eq!(crd_problems.len(), 1, "{crd_problems:?}");
        assert!(
            crd_problems[0].starts_with("kind: no schema"),
            "{crd_problems:?}"
        );
        let mut validator = Validator::default();
        validator.declare("apiextensions.k8s.io", "CustomResourceDefinition");
        let found = |resources: &[Resource]| -> Vec<String> {
            validator
                .check(resources)
                .iter()
                .map(|p| format!("{}: {}", p.field, p.message))
                .collect()
        };
        assert!(
            found(&[
                crd.clone(),
                widget(json!({"size": 2, "colour": "red"}), "v1")
            ])
            .is_empty()
        );
        assert_eq!(
            found(&[
                crd.clone(),
                widget(json!({"sise": 2, "colour": "green"}), "v1")
            ]),
            [
                "spec.sise: unknown field; did you mean size? (schema of CustomResourceDefinition widgets.example.org)",
                "spec.colour: must be one of \"red\", \"blue\", found \"green\" (schema of CustomResourceDefinition widgets.example.org)",
                "spec.size: required field is missing (schema of CustomResourceDefinition widgets.example.org)",
            ]
        );
        assert_eq!(
            found(&[crd, widget(json!({"size": 2}), "v2")]),
            [
                "apiVersion: CustomResourceDefinition widgets.example.org does not serve version v2 of Widget (it serves v1)"
            ]
        );
    }

    #[test]
    fn a_crd_without_a_schema_or_with_an_invalid_one_is_refused() {
        let mut validator = Validator::default();
        validator.declare("apiextensions.k8s.io", "CustomResourceDefinition");
        let mut crd = widget_crd(json!({}));
        crd["spec"]["versions"][0]
            .as_object_mut()
            .unwrap()
            .remove("schema");
        let found: Vec<String> = validator
            .check(&[resource(crd)])
            .iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect();
        assert_eq!(
            found,
            [
                "spec.versions[0].schema.openAPIV3Schema: version v1 has no schema; apiextensions.k8s.io/v1 requires a structural openAPIV3Schema for every version"
            ]
        );
        let crd = widget_crd(json!({"type": "object", "properties": {"spec": {"type": "obejct"}}}));
        let found: Vec<String> = validator
            .check(&[resource(crd)])
            .iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect();
        assert_eq!(
            found,
            [
                "spec.versions[0].schema.openAPIV3Schema.properties.spec.type: unknown type \"obejct\"; did you mean object?"
            ]
        );
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
            &Validator::default().allowing_unknown_kinds(),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "c", "labels": {"tier": 3},
                     "annotations": {"strata.dev/depends-on": 5, "strata.dev/protect": "yes",
                                     "other": "free text"}}}),
        );
        assert_eq!(
            found,
            [
                "metadata.labels.tier: must be a string (quote it), found 3",
                r#"metadata.annotations["strata.dev/depends-on"]: must be a string (quote it), found 5"#,
                r#"metadata.annotations["strata.dev/protect"]: must be "true" or "false", found "yes""#,
            ]
        );
        let found = problems(
            &Validator::default().allowing_unknown_kinds(),
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
