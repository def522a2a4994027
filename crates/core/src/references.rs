//! Reference resolution: filling the field a Crossplane reference stands for.
//!
//! A managed resource may name another one instead of spelling out its identifier:
//! `bucketRef: {name: payments-assets}` stands for `bucket: <that Bucket's external name>`. As
//! Crossplane's reference resolver does, resolution writes the referenced resource's value into
//! the referencing field before anything else reads the manifest, so plans show (and providers
//! apply) the real value:
//!
//! | reference field | filled field |
//! | --- | --- |
//! | `bucketRef: {name}` | `bucket` |
//! | `dbSubnetGroupNameRef: {name}` | `dbSubnetGroupName` |
//! | `subnetIdRefs: [{name}, …]` | `subnetIds` (one value per entry, in order) |
//! | `vpcIdSelector: {matchLabels}` | `vpcId` (the first match by name) |
//! | `vpcSecurityGroupIdSelector: {matchLabels}` | `vpcSecurityGroupIds` (every match, by name) when the list form is in use: a sibling `vpcSecurityGroupIdRefs` or a `vpcSecurityGroupIds` list |
//!
//! Only references under `spec.forProvider` and `spec.initProvider` are filled; secret and
//! connection references (`passwordSecretRef`, `writeConnectionSecretToRef`) are not (they name
//! Kubernetes objects, read by the provider). Which references exist and what they point at is
//! read once, by [`Graph::build`]: ordering and resolution share that one reading.
//!
//! The value is the referenced resource's external name (its `crossplane.io/external-name`
//! annotation, else `metadata.name`), unless the provider serving the referenced resource says
//! otherwise through [`Provider::reference_value`](crate::Provider::reference_value), for
//! instance a field of its observed live object such as `status.atProvider.arn`.
//!
//! A selector is used only when no `xRef` / `xRefs` beside it names the resources (as in
//! Crossplane); unlike Crossplane, the selected names are not written back into the `xRef(s)`
//! field, since the filled value is what providers read.
//!
//! Explicit values win, as in Crossplane (whose default resolve policy is `IfNotPresent`): a
//! field that is already set (a non-empty string, a non-empty list, any other value) is kept
//! and its reference only orders. A reference with `policy: {resolve: Always}` overwrites it.
//! A reference that cannot be resolved (nothing in the desired set has that name or matches
//! that selector, or several resources with different values do) is an error naming the file,
//! the document and the field, unless it says `policy: {resolution: Optional}`.

use std::fmt;

use serde_json::{Map, Value};

use crate::graph::{Graph, ReferenceField, ReferenceForm, ReferenceItem};
use crate::live::LiveObject;
use crate::model::{ANNOTATION_EXTERNAL_NAME, Resource, ResourceKey};

/// Where the value of a reference to a resource comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReferenceSource {
    /// The referenced resource's `crossplane.io/external-name` annotation, else its
    /// `metadata.name`: known at plan time from the desired set.
    #[default]
    ExternalName,
    /// A dotted field of the referenced resource's observed live object
    /// (`status.atProvider.arn`): known once that resource exists.
    LiveField(String),
}

/// What is known of a referenced resource's live object while resolving.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum LiveLookup<'a> {
    /// It has not been observed yet: references needing its live fields wait.
    NotObserved,
    /// It was observed: the live object, or `None` when it does not exist.
    Observed(Option<&'a LiveObject>),
}

/// Why a reference cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReferenceProblem {
    /// No resource of the desired set has the referenced name (and a kind the field points at).
    NotFound {
        /// The name in the reference.
        name: String,
    },
    /// No resource of the desired set matches the selector.
    NoMatch,
    /// The reference names several resources whose values differ (listed).
    Ambiguous {
        /// The candidates.
        candidates: String,
    },
    /// The value is a live field of a resource that does not exist yet.
    NotYetCreated {
        /// The referenced resource.
        target: ResourceKey,
        /// The live field.
        live_field: String,
    },
    /// The referenced resource exists but its live object has no value at that field.
    EmptyLiveField {
        /// The referenced resource.
        target: ResourceKey,
        /// The live field.
        live_field: String,
    },
    /// The referenced resource was never observed (no provider serves it).
    NotObservable {
        /// The referenced resource.
        target: ResourceKey,
    },
}

/// A reference that cannot be resolved, with the resource, file and field it is in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ReferenceError {
    /// The referencing resource.
    pub key: ResourceKey,
    /// Where it was declared (`file (document n, line m): `), empty when unknown.
    pub location: String,
    /// Dotted path of the reference field (`spec.forProvider.bucketRef`).
    pub field: String,
    /// What is wrong.
    pub problem: ReferenceProblem,
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}: reference `{}`: ",
            self.location, self.key, self.field
        )?;
        match &self.problem {
            ReferenceProblem::NotFound { name } => write!(
                f,
                "nothing named `{name}` of a kind this field points at is in the desired set; add it, set the referenced value directly, or mark the reference `policy: {{resolution: Optional}}`"
            ),
            ReferenceProblem::NoMatch => write!(
                f,
                "no resource of the desired set matches the selector; set the value directly or mark the selector `policy: {{resolution: Optional}}`"
            ),
            ReferenceProblem::Ambiguous { candidates } => write!(
                f,
                "names several resources with different values ({candidates}); add `kind` or `namespace` to the reference"
            ),
            ReferenceProblem::NotYetCreated { target, live_field } => write!(
                f,
                "the value is `{live_field}` of {target}, which does not exist yet; apply {target} first or set the value directly"
            ),
            ReferenceProblem::EmptyLiveField { target, live_field } => write!(
                f,
                "{target} exists but has no `{live_field}` yet (it may not be ready)"
            ),
            ReferenceProblem::NotObservable { target } => write!(
                f,
                "the value is a live field of {target}, which no provider can observe"
            ),
        }
    }
}

/// The value a reference field resolves to, written into the manifest at the end.
struct Write {
    parent_pointer: String,
    value_field: String,
    value: Value,
}

/// What resolving one resource's references gave.
enum Outcome {
    /// Values to write (possibly none).
    Resolved(Vec<Write>),
    /// Some value is a live field of a resource not observed yet: try again once it is.
    Waiting(Box<ReferenceError>),
}

/// A resource whose references wait for a live object that was not observed yet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitingReference {
    /// Its position in the desired slice.
    pub position: usize,
    /// The error to report if the awaited object is never observed
    /// ([`ReferenceProblem::NotObservable`]).
    pub unresolved: ReferenceError,
}

/// Resolves the references of `desired` (the slice `graph` was built from) in place.
///
/// `only` limits the work to those positions (`None`: every resource with references).
/// `source_of(target, value_field)` says where a reference's value comes from (normally the
/// target's provider's [`Provider::reference_value`](crate::Provider::reference_value));
/// `live_of` gives what is known of a target's live object. Returns the resources, in
/// ascending position order, whose references wait for a live object not yet observed; their
/// manifests are left untouched.
///
/// Cost: linear in the number of reference fields (targets are positions the graph already
/// found; nothing scans the desired set).
pub fn resolve_references<'a>(
    desired: &mut [Resource],
    graph: &Graph,
    only: Option<&[usize]>,
    source_of: &(dyn Fn(&Resource, &str) -> ReferenceSource + Sync),
    live_of: &(dyn Fn(&ResourceKey) -> LiveLookup<'a> + Sync),
) -> Result<Vec<WaitingReference>, Box<ReferenceError>> {
    let fields = graph.reference_fields();
    let selected: Vec<&(usize, Vec<ReferenceField>)> = match only {
        None => fields.iter().collect(),
        Some(positions) => positions
            .iter()
            .filter_map(|p| {
                fields
                    .binary_search_by_key(p, |(position, _)| *position)
                    .ok()
                    .map(|at| &fields[at])
            })
            .collect(),
    };
    if selected.is_empty() {
        return Ok(Vec::new());
    }
    let outcomes = {
        let desired: &[Resource] = desired;
        crate::par::map(selected, |(position, fields)| {
            let outcome = resolve_one(desired, *position, fields, source_of, live_of);
            (*position, outcome)
        })
    };
    let mut waiting = Vec::new();
    for (position, outcome) in outcomes {
        match outcome? {
            Outcome::Waiting(unresolved) => waiting.push(WaitingReference {
                position,
                unresolved: *unresolved,
            }),
            Outcome::Resolved(writes) => apply_writes(&mut desired[position], writes),
        }
    }
    Ok(waiting)
}

/// The resource at `position` of `desired` (the slice `graph` was built from) with its
/// references resolved, leaving `desired` untouched: what [`resolve_references`] would write
/// there, for a caller re-resolving a few resources of a large set. `Ok(Err(waiting))` when a
/// reference waits for a live object not observed yet.
pub fn resolved_copy<'a>(
    desired: &[Resource],
    graph: &Graph,
    position: usize,
    source_of: &(dyn Fn(&Resource, &str) -> ReferenceSource + Sync),
    live_of: &(dyn Fn(&ResourceKey) -> LiveLookup<'a> + Sync),
) -> Result<Result<Resource, WaitingReference>, Box<ReferenceError>> {
    let mut resource = desired[position].clone();
    let fields = graph.reference_fields();
    let Ok(at) = fields.binary_search_by_key(&position, |(p, _)| *p) else {
        return Ok(Ok(resource));
    };
    match resolve_one(desired, position, &fields[at].1, source_of, live_of)? {
        Outcome::Waiting(unresolved) => Ok(Err(WaitingReference {
            position,
            unresolved: *unresolved,
        })),
        Outcome::Resolved(writes) => {
            apply_writes(&mut resource, writes);
            Ok(Ok(resource))
        }
    }
}

/// Writes resolved values into `resource`'s manifest (a parent object that is gone is skipped).
fn apply_writes(resource: &mut Resource, writes: Vec<Write>) {
    for write in writes {
        if let Some(parent) = resource
            .manifest
            .pointer_mut(&write.parent_pointer)
            .and_then(Value::as_object_mut)
        {
            parent.insert(write.value_field, write.value);
        }
    }
}

/// Every reference of `desired` that cannot be resolved against the set itself (the
/// referenced resource missing, a selector matching nothing, several candidates with
/// different values), each once: what `strata validate` reports offline. References to live
/// fields are not judged here (their targets may not exist yet), and nothing is written.
pub fn check_references(desired: &[Resource], graph: &Graph) -> Vec<ReferenceError> {
    fn external_names(_: &Resource, _: &str) -> ReferenceSource {
        ReferenceSource::ExternalName
    }
    fn not_observed(_: &ResourceKey) -> LiveLookup<'static> {
        LiveLookup::NotObserved
    }
    graph
        .reference_fields()
        .iter()
        .filter_map(|(position, fields)| {
            resolve_one(desired, *position, fields, &external_names, &not_observed).err()
        })
        .map(|error| *error)
        .collect()
}

fn resolve_one<'a>(
    desired: &[Resource],
    position: usize,
    fields: &[ReferenceField],
    source_of: &(dyn Fn(&Resource, &str) -> ReferenceSource + Sync),
    live_of: &(dyn Fn(&ResourceKey) -> LiveLookup<'a> + Sync),
) -> Result<Outcome, Box<ReferenceError>> {
    let resource = &desired[position];
    let mut writes = Vec::new();
    for field in fields {
        let Some((list, value_field)) = to_fill(resource, field) else {
            continue;
        };
        let context = FieldContext {
            desired,
            resource,
            field,
            value_field: &value_field,
            source_of,
            live_of,
        };
        let mut values = Vec::new();
        for item in &field.items {
            match context.item_values(item, list)? {
                ItemValues::Waiting(target) => {
                    return Ok(Outcome::Waiting(
                        context.error(ReferenceProblem::NotObservable { target }),
                    ));
                }
                ItemValues::Values(found) => values.extend(found),
            }
        }
        // An optional reference that resolved to nothing leaves the field unset.
        let value = if list && !values.is_empty() {
            Value::Array(values)
        } else if let Some(first) = values.into_iter().next().filter(|_| !list) {
            first
        } else {
            continue;
        };
        writes.push(Write {
            parent_pointer: field.parent_pointer.clone(),
            value_field,
            value,
        });
    }
    Ok(Outcome::Resolved(writes))
}

/// Whether `resource`'s reference `field` is to be filled, and into which field (with whether
/// it takes a list): not when its parent is missing, when it is a selector beside a named
/// reference (as in Crossplane, a selector is only used when no reference names the
/// resources), or when the value is set already and the reference does not say `resolve:
/// Always`.
fn to_fill(resource: &Resource, field: &ReferenceField) -> Option<(bool, String)> {
    let parent = resource
        .manifest
        .pointer(&field.parent_pointer)
        .and_then(Value::as_object)?;
    let named_beside = ["Ref", "Refs"]
        .iter()
        .any(|suffix| parent.contains_key(&format!("{}{suffix}", field.base)));
    if field.form == ReferenceForm::Selector && named_beside {
        return None;
    }
    let list = is_list(field, parent);
    let value_field = if list {
        format!("{}s", field.base)
    } else {
        field.base.clone()
    };
    let always = field
        .items
        .iter()
        .any(|item| policy(item, "resolve") == Some("Always"));
    if !always && parent.get(&value_field).is_some_and(is_set) {
        return None;
    }
    Some((list, value_field))
}

/// The resources whose live objects the references of the resources at `positions` (of the
/// slice `graph` was built from) read: the targets whose value is a live field
/// ([`ReferenceSource::LiveField`]) of a reference still to be filled. A caller observing
/// resources one at a time keeps these live objects (and only these) until the references
/// that read them are resolved; every `live_of` call [`resolve_references`] makes for those
/// positions asks for one of them.
pub fn live_targets(
    desired: &[Resource],
    graph: &Graph,
    positions: &[usize],
    source_of: &(dyn Fn(&Resource, &str) -> ReferenceSource + Sync),
) -> std::collections::HashSet<ResourceKey> {
    let fields = graph.reference_fields();
    let mut targets = std::collections::HashSet::new();
    for position in positions {
        let Ok(at) = fields.binary_search_by_key(position, |(p, _)| *p) else {
            continue;
        };
        let Some(resource) = desired.get(*position) else {
            continue;
        };
        for field in &fields[at].1 {
            let Some((_, value_field)) = to_fill(resource, field) else {
                continue;
            };
            for &target in field.items.iter().flat_map(|item| &item.matches) {
                let Some(target) = desired.get(target) else {
                    continue;
                };
                if matches!(
                    source_of(target, &value_field),
                    ReferenceSource::LiveField(_)
                ) {
                    targets.insert(target.key.clone());
                }
            }
        }
    }
    targets
}

/// Whether the field takes a list: `xRefs` always, a selector when the list form is in use.
fn is_list(field: &ReferenceField, parent: &Map<String, Value>) -> bool {
    match field.form {
        ReferenceForm::List => true,
        ReferenceForm::Single => false,
        ReferenceForm::Selector => {
            parent.contains_key(&format!("{}Refs", field.base))
                || parent
                    .get(&format!("{}s", field.base))
                    .is_some_and(Value::is_array)
        }
    }
}

/// Whether a field counts as set by the user (Crossplane resolves only empty fields).
fn is_set(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        _ => true,
    }
}

/// `policy.<name>` of a reference or selector.
fn policy<'v>(item: &'v ReferenceItem, name: &str) -> Option<&'v str> {
    item.reference.get("policy")?.get(name)?.as_str()
}

/// The values one reference item resolved to.
enum ItemValues {
    Values(Vec<Value>),
    /// Waiting for this resource's live object.
    Waiting(ResourceKey),
}

struct FieldContext<'c, 'a> {
    desired: &'c [Resource],
    resource: &'c Resource,
    field: &'c ReferenceField,
    value_field: &'c str,
    source_of: &'c (dyn Fn(&Resource, &str) -> ReferenceSource + Sync),
    live_of: &'c (dyn Fn(&ResourceKey) -> LiveLookup<'a> + Sync),
}

impl FieldContext<'_, '_> {
    fn error(&self, problem: ReferenceProblem) -> Box<ReferenceError> {
        Box::new(ReferenceError {
            key: self.resource.key.clone(),
            location: self
                .resource
                .source
                .as_ref()
                .map(|s| format!("{s}: "))
                .unwrap_or_default(),
            field: self.field.path.clone(),
            problem,
        })
    }

    fn item_values(
        &self,
        item: &ReferenceItem,
        list: bool,
    ) -> Result<ItemValues, Box<ReferenceError>> {
        let optional = policy(item, "resolution") == Some("Optional");
        if item.matches.is_empty() {
            if optional {
                return Ok(ItemValues::Values(Vec::new()));
            }
            return Err(self.error(match &item.name {
                Some(name) => ReferenceProblem::NotFound { name: name.clone() },
                None => ReferenceProblem::NoMatch,
            }));
        }
        let mut targets: Vec<&Resource> = item.matches.iter().map(|&i| &self.desired[i]).collect();
        if item.name.is_none() {
            // Selector matches are taken in name order, as Crossplane lists them.
            targets.sort_by(|a, b| a.key.name.cmp(&b.key.name).then(a.key.cmp(&b.key)));
        }
        let mut values: Vec<Value> = Vec::with_capacity(targets.len());
        for target in &targets {
            match self.target_value(target, optional)? {
                TargetValue::Known(value) => values.push(value),
                TargetValue::Skipped => {}
                TargetValue::Waiting => return Ok(ItemValues::Waiting(target.key.clone())),
            }
        }
        let selector_takes_all = item.name.is_none() && list;
        if !selector_takes_all && item.name.is_some() {
            values.dedup();
            if values.len() > 1 {
                let candidates = targets
                    .iter()
                    .map(|t| t.key.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(self.error(ReferenceProblem::Ambiguous { candidates }));
            }
        }
        if !selector_takes_all {
            values.truncate(1);
        }
        Ok(ItemValues::Values(values))
    }

    /// The value `target` gives this field.
    fn target_value(
        &self,
        target: &Resource,
        optional: bool,
    ) -> Result<TargetValue, Box<ReferenceError>> {
        let live_field = match (self.source_of)(target, self.value_field) {
            ReferenceSource::ExternalName => {
                return Ok(TargetValue::Known(Value::String(external_name(target))));
            }
            ReferenceSource::LiveField(live_field) => live_field,
        };
        let problem = match (self.live_of)(&target.key) {
            LiveLookup::NotObserved => return Ok(TargetValue::Waiting),
            LiveLookup::Observed(Some(live)) => {
                if let Some(value) = dotted(&live.value(), &live_field).filter(|v| is_set(v)) {
                    return Ok(TargetValue::Known(value.clone()));
                }
                ReferenceProblem::EmptyLiveField {
                    target: target.key.clone(),
                    live_field,
                }
            }
            LiveLookup::Observed(None) => ReferenceProblem::NotYetCreated {
                target: target.key.clone(),
                live_field,
            },
        };
        if optional {
            Ok(TargetValue::Skipped)
        } else {
            Err(self.error(problem))
        }
    }
}

/// The value one referenced resource gives a field.
enum TargetValue {
    /// The value.
    Known(Value),
    /// None, and the reference is optional.
    Skipped,
    /// Its live object has not been observed yet.
    Waiting,
}

/// A resource's external name: its `crossplane.io/external-name` annotation, else its name.
pub fn external_name(resource: &Resource) -> String {
    resource
        .annotation(ANNOTATION_EXTERNAL_NAME)
        .filter(|name| !name.is_empty())
        .unwrap_or(&resource.key.name)
        .to_owned()
}

fn dotted<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.')
        .filter(|segment| !segment.is_empty())
        .try_fold(value, |v, segment| v.get(segment))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

    use serde_json::json;

    use super::*;
    use crate::model::SourceLocation;

    fn resource(manifest: Value) -> Resource {
        Resource::from_manifest(manifest).unwrap()
    }

    fn bucket(name: &str, external_name: Option<&str>) -> Resource {
        let mut manifest = json!({
            "apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "Bucket",
            "metadata": {"name": name, "labels": {"tier": "assets"}},
            "spec": {"forProvider": {"region": "eu-west-1"}}
        });
        if let Some(external) = external_name {
            manifest["metadata"]["annotations"] = json!({ANNOTATION_EXTERNAL_NAME: external});
        }
        resource(manifest)
    }

    fn versioning(for_provider: Value) -> Resource {
        resource(json!({
            "apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "BucketVersioning",
            "metadata": {"name": "assets-versioning"},
            "spec": {"forProvider": for_provider}
        }))
    }

    fn external_names(_: &Resource, _: &str) -> ReferenceSource {
        ReferenceSource::ExternalName
    }

    fn nothing_observed(_: &ResourceKey) -> LiveLookup<'static> {
        LiveLookup::NotObserved
    }

    /// Builds the graph and resolves with external names; returns the resolved set.
    fn resolve(mut desired: Vec<Resource>) -> Result<Vec<Resource>, Box<ReferenceError>> {
        let graph = Graph::build(&desired).unwrap();
        let waiting = resolve_references(
            &mut desired,
            &graph,
            None,
            &external_names,
            &nothing_observed,
        )?;
        assert!(waiting.is_empty());
        Ok(desired)
    }

    fn for_provider(resource: &Resource) -> &Value {
        &resource.manifest["spec"]["forProvider"]
    }

    #[test]
    fn a_reference_takes_the_external_name_of_the_referenced_resource() {
        let resolved = resolve(vec![
            bucket("payments-assets", Some("payments-assets-eu")),
            versioning(json!({"bucketRef": {"name": "payments-assets"}})),
        ])
        .unwrap();
        assert_eq!(for_provider(&resolved[1])["bucket"], "payments-assets-eu");
        assert_eq!(
            for_provider(&resolved[1])["bucketRef"],
            json!({"name": "payments-assets"}),
            "the reference itself stays"
        );
    }

    #[test]
    fn without_an_external_name_the_metadata_name_is_used() {
        let resolved = resolve(vec![
            bucket("payments-assets", None),
            versioning(json!({"bucketRef": {"name": "payments-assets"}})),
        ])
        .unwrap();
        assert_eq!(for_provider(&resolved[1])["bucket"], "payments-assets");
    }

    fn rds(kind: &str, name: &str, labels: Value, for_provider: Value) -> Resource {
        resource(json!({
            "apiVersion": "rds.aws.upbound.io/v1beta1", "kind": kind,
            "metadata": {"name": name, "labels": labels,
                         "annotations": {ANNOTATION_EXTERNAL_NAME: format!("ext-{name}")}},
            "spec": {"forProvider": for_provider}
        }))
    }

    fn ec2(kind: &str, name: &str, labels: Value) -> Resource {
        resource(json!({
            "apiVersion": "ec2.aws.upbound.io/v1beta1", "kind": kind,
            "metadata": {"name": name, "labels": labels,
                         "annotations": {ANNOTATION_EXTERNAL_NAME: format!("id-{name}")}},
            "spec": {"forProvider": {}}
        }))
    }

    #[test]
    fn refs_lists_resolve_to_lists_in_order() {
        let resolved = resolve(vec![
            ec2("Subnet", "b", json!({})),
            ec2("Subnet", "a", json!({})),
            rds(
                "SubnetGroup",
                "db",
                json!({}),
                json!({"subnetIdRefs": [{"name": "b"}, {"name": "a"}]}),
            ),
        ])
        .unwrap();
        assert_eq!(
            for_provider(&resolved[2])["subnetIds"],
            json!(["id-b", "id-a"])
        );
    }

    #[test]
    fn selectors_match_labels_singly_or_as_a_list() {
        let resolved = resolve(vec![
            ec2("SecurityGroup", "web", json!({"app": "db"})),
            ec2("SecurityGroup", "admin", json!({"app": "db"})),
            ec2("SecurityGroup", "other", json!({"app": "web"})),
            ec2("Vpc", "main", json!({"net": "main"})),
            rds(
                "Instance",
                "db",
                json!({}),
                json!({
                    "vpcSecurityGroupIds": [],
                    "vpcSecurityGroupIdSelector": {"matchLabels": {"app": "db"}},
                    "vpcIdSelector": {"matchLabels": {"net": "main"}}
                }),
            ),
        ])
        .unwrap();
        let fp = for_provider(&resolved[4]);
        assert_eq!(
            fp["vpcSecurityGroupIds"],
            json!(["id-admin", "id-web"]),
            "every match, in name order"
        );
        assert_eq!(fp["vpcId"], "id-main");
    }

    #[test]
    fn a_selector_beside_refs_fills_the_list_field() {
        let resolved = resolve(vec![
            ec2("SecurityGroup", "web", json!({"app": "db"})),
            rds(
                "Instance",
                "db",
                json!({}),
                json!({
                    "vpcSecurityGroupIdRefs": [{"name": "web"}],
                    "vpcSecurityGroupIdSelector": {"matchLabels": {"app": "nothing"},
                                                   "policy": {"resolution": "Optional"}}
                }),
            ),
        ])
        .unwrap();
        assert_eq!(
            for_provider(&resolved[1])["vpcSecurityGroupIds"],
            json!(["id-web"])
        );
    }

    #[test]
    fn an_explicit_value_wins_unless_the_policy_says_always() {
        let resolved = resolve(vec![
            bucket("payments-assets", Some("payments-assets-eu")),
            versioning(json!({"bucket": "chosen", "bucketRef": {"name": "payments-assets"}})),
        ])
        .unwrap();
        assert_eq!(for_provider(&resolved[1])["bucket"], "chosen");

        let resolved = resolve(vec![
            bucket("payments-assets", Some("payments-assets-eu")),
            versioning(json!({
                "bucket": "chosen",
                "bucketRef": {"name": "payments-assets", "policy": {"resolve": "Always"}}
            })),
        ])
        .unwrap();
        assert_eq!(for_provider(&resolved[1])["bucket"], "payments-assets-eu");
    }

    #[test]
    fn an_unresolvable_reference_is_an_error_naming_file_document_and_field() {
        let mut referencing = versioning(json!({"bucketRef": {"name": "missing"}}));
        referencing.source = Some(SourceLocation {
            file: "stack/storage.yaml".into(),
            document: 2,
            line: 14,
        });
        let error = resolve(vec![bucket("payments-assets", None), referencing]).unwrap_err();
        assert_eq!(error.field, "spec.forProvider.bucketRef");
        assert_eq!(
            error.problem,
            ReferenceProblem::NotFound {
                name: "missing".into()
            }
        );
        let message = error.to_string();
        assert!(
            message.contains("stack/storage.yaml")
                && message.contains("document 2")
                && message.contains("spec.forProvider.bucketRef")
                && message.contains("`missing`"),
            "{message}"
        );

        let error = resolve(vec![rds(
            "Instance",
            "db",
            json!({}),
            json!({"vpcIdSelector": {"matchLabels": {"net": "none"}}}),
        )])
        .unwrap_err();
        assert_eq!(error.problem, ReferenceProblem::NoMatch);
    }

    #[test]
    fn an_optional_reference_that_resolves_to_nothing_leaves_the_field_unset() {
        let resolved = resolve(vec![versioning(json!({
            "bucketRef": {"name": "missing", "policy": {"resolution": "Optional"}}
        }))])
        .unwrap();
        assert!(for_provider(&resolved[0]).get("bucket").is_none());
    }

    #[test]
    fn secret_and_connection_references_are_not_filled() {
        let resolved = resolve(vec![
            resource(json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "db-pass", "namespace": "default"}
            })),
            rds(
                "Instance",
                "db",
                json!({}),
                json!({"passwordSecretRef": {"name": "db-pass", "namespace": "default", "key": "password"}}),
            ),
        ])
        .unwrap();
        let fp = for_provider(&resolved[1]);
        assert!(fp.get("passwordSecret").is_none(), "{fp}");
        assert!(fp.get("password").is_none(), "{fp}");
    }

    #[test]
    fn references_outside_the_provider_parameters_only_order() {
        let resolved = resolve(vec![
            bucket("payments-assets", None),
            resource(json!({
                "apiVersion": "example.org/v1", "kind": "Report",
                "metadata": {"name": "r"},
                "spec": {"bucketRef": {"name": "payments-assets"}}
            })),
        ])
        .unwrap();
        assert!(resolved[1].manifest["spec"].get("bucket").is_none());
    }

    #[test]
    fn a_live_field_waits_for_the_observation_then_resolves() {
        let mut desired = vec![
            bucket("payments-assets", None),
            versioning(json!({"bucketArnRef": {"name": "payments-assets"}})),
        ];
        let graph = Graph::build(&desired).unwrap();
        let arn = |_: &Resource, field: &str| {
            if field.ends_with("Arn") {
                ReferenceSource::LiveField("status.atProvider.arn".into())
            } else {
                ReferenceSource::ExternalName
            }
        };
        let waiting =
            resolve_references(&mut desired, &graph, None, &arn, &nothing_observed).unwrap();
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].position, 1);
        assert!(for_provider(&desired[1]).get("bucketArn").is_none());

        let absent = |_: &ResourceKey| LiveLookup::Observed(None);
        let error =
            resolve_references(&mut desired, &graph, Some(&[1]), &arn, &absent).unwrap_err();
        assert!(matches!(
            error.problem,
            ReferenceProblem::NotYetCreated { .. }
        ));

        // Kept as text, as the sandbox and a watch cache keep live objects.
        let live = LiveObject::compact(
            &json!({"status": {"atProvider": {"arn": "arn:aws:s3:::payments-assets"}}}),
        );
        let observed = |_: &ResourceKey| LiveLookup::Observed(Some(&live));
        let waiting =
            resolve_references(&mut desired, &graph, Some(&[1]), &arn, &observed).unwrap();
        assert!(waiting.is_empty());
        assert_eq!(
            for_provider(&desired[1])["bucketArn"],
            "arn:aws:s3:::payments-assets"
        );
    }

    #[test]
    fn ordering_and_resolution_read_the_same_fields() {
        let desired = vec![
            bucket("payments-assets", None),
            versioning(json!({"bucketRef": {"name": "payments-assets"}})),
        ];
        let graph = Graph::build(&desired).unwrap();
        assert_eq!(
            graph.dependencies(&desired[1].key),
            vec![desired[0].key.clone()]
        );
        let fields = graph.reference_fields();
        assert_eq!(fields.len(), 1);
        assert_eq!(fields[0].0, 1);
        assert_eq!(fields[0].1[0].path, "spec.forProvider.bucketRef");
        assert_eq!(fields[0].1[0].items[0].matches, vec![0]);
    }

    #[test]
    fn live_targets_are_the_targets_whose_live_field_a_reference_still_to_fill_reads() {
        let policy = |name: &str, for_provider: Value| {
            resource(json!({
                "apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "BucketPolicy",
                "metadata": {"name": name},
                "spec": {"forProvider": for_provider}
            }))
        };
        let desired = vec![
            bucket("by-name", None),
            bucket("by-arn", None),
            bucket("arn-given", None),
            // Named (external name) and read through a live field (ARN).
            policy(
                "reads",
                json!({"bucketRef": {"name": "by-name"}, "bucketArnRef": {"name": "by-arn"}}),
            ),
            // The ARN is set already: the reference only orders, nothing is read.
            policy(
                "given",
                json!({"bucketArn": "arn:given", "bucketArnRef": {"name": "arn-given"}}),
            ),
        ];
        let graph = Graph::build(&desired).unwrap();
        let arns = |_: &Resource, value_field: &str| {
            if value_field.ends_with("Arn") {
                ReferenceSource::LiveField("status.atProvider.arn".into())
            } else {
                ReferenceSource::ExternalName
            }
        };
        let targets = live_targets(&desired, &graph, &[3, 4], &arns);
        assert_eq!(
            targets,
            std::collections::HashSet::from([desired[1].key.clone()])
        );
        // Only the positions asked about count.
        assert!(live_targets(&desired, &graph, &[4], &arns).is_empty());
    }
}
