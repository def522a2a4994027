//! Reading desired manifests and building live objects in the same shape.
//!
//! Plans compare the desired manifest with the live object field by field (fields only in live
//! are ignored), so a live object here has the desired object's apiVersion, kind and metadata,
//! `spec.forProvider` holding the live value of every field AWS reports (late-initialized ones
//! included), `status.atProvider` with the full observation and `status.conditions`.
//!
//! Labels travel as AWS tags under their own keys, so ownership
//! (`app.kubernetes.io/managed-by`, `strata.dev/stack`) is read back from the cloud.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use strata_core::Resource;
use strata_core::model::{ANNOTATION_EXTERNAL_NAME, LABEL_MANAGED_BY, LABEL_STACK};

use crate::error::AwsError;

/// Tag keys that always map back to labels (ownership markers).
pub const OWNERSHIP_TAGS: &[&str] = &[LABEL_MANAGED_BY, LABEL_STACK];

/// `spec.forProvider` of a manifest (empty when absent).
pub fn for_provider(manifest: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    manifest
        .get("spec")
        .and_then(|s| s.get("forProvider"))
        .and_then(Value::as_object)
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

/// A string field of `spec.forProvider`.
pub fn str_field<'a>(manifest: &'a Value, field: &str) -> Option<&'a str> {
    for_provider(manifest).get(field).and_then(Value::as_str)
}

/// A boolean field of `spec.forProvider`.
pub fn bool_field(manifest: &Value, field: &str) -> Option<bool> {
    for_provider(manifest).get(field).and_then(Value::as_bool)
}

/// An integer field of `spec.forProvider` (JSON numbers, or strings holding one).
pub fn int_field(manifest: &Value, field: &str) -> Option<i64> {
    match for_provider(manifest).get(field)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A string field of `spec.forProvider` that a Crossplane reference may stand for
/// (`bucket` ← `bucketRef`/`bucketSelector`). Core's reference resolution writes the referenced
/// resource's value into the field before providers see the manifest, so the field is all that
/// is read here; a reference left unresolved (the field absent, a `…Ref` or `…Selector` present)
/// is a final error naming the field, never a guess from the reference's name.
pub fn referenced_field(resource: &Resource, field: &str) -> Result<Option<String>, AwsError> {
    let parameters = for_provider(&resource.manifest);
    if let Some(value) = parameters
        .get(field)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
    {
        return Ok(Some(value.to_owned()));
    }
    for suffix in ["Ref", "Selector"] {
        let reference = format!("{field}{suffix}");
        if parameters.get(&reference).is_some_and(|r| !r.is_null()) {
            return Err(AwsError::invalid(format!(
                "{}: spec.forProvider.{reference} was not resolved into spec.forProvider.{field}; references are resolved when planning through the engine (is the referenced resource in the desired set?), or set spec.forProvider.{field} directly",
                resource.key
            )));
        }
    }
    Ok(None)
}

/// A list field of `spec.forProvider` that Crossplane references may stand for
/// (`vpcSecurityGroupIds` ← `vpcSecurityGroupIdRefs` / `vpcSecurityGroupIdSelector`), read as
/// [`referenced_field`] reads a string field: an unresolved reference is a final error.
pub fn referenced_list<'m>(
    resource: &'m Resource,
    field: &str,
    singular: &str,
) -> Result<Option<&'m Vec<Value>>, AwsError> {
    let parameters = for_provider(&resource.manifest);
    if let Some(values) = parameters.get(field).and_then(Value::as_array) {
        return Ok(Some(values));
    }
    for suffix in ["Refs", "Selector"] {
        let reference = format!("{singular}{suffix}");
        if parameters.get(&reference).is_some_and(|r| !r.is_null()) {
            return Err(AwsError::invalid(format!(
                "{}: spec.forProvider.{reference} was not resolved into spec.forProvider.{field}; references are resolved when planning through the engine (are the referenced resources in the desired set?), or set spec.forProvider.{field} directly",
                resource.key
            )));
        }
    }
    Ok(None)
}

/// The external name: the `crossplane.io/external-name` annotation, else the `field` of
/// `spec.forProvider` (e.g. `identifier`), else `metadata.name`.
pub fn external_name(resource: &Resource, field: Option<&str>) -> String {
    resource
        .annotation(ANNOTATION_EXTERNAL_NAME)
        .filter(|n| !n.is_empty())
        .or_else(|| field.and_then(|f| str_field(&resource.manifest, f)))
        .unwrap_or(&resource.key.name)
        .to_owned()
}

/// The region of a resource: `spec.forProvider.region`, if set.
pub fn region(manifest: &Value) -> Option<&str> {
    str_field(manifest, "region").filter(|r| !r.is_empty())
}

/// A string map from a JSON object (non-string values are written as JSON).
fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The labels of a manifest.
pub fn labels(manifest: &Value) -> BTreeMap<String, String> {
    string_map(manifest.get("metadata").and_then(|m| m.get("labels")))
}

/// The tags Strata writes for a manifest: `spec.forProvider.tags` plus every label under its own
/// key (so ownership is visible in the cloud and read back on observe).
pub fn desired_tags(manifest: &Value) -> BTreeMap<String, String> {
    let mut tags = string_map(for_provider(manifest).get("tags"));
    for (k, v) in labels(manifest) {
        tags.entry(k).or_insert(v);
    }
    tags
}

/// Whether `tags` carry `stack`'s ownership labels.
pub fn owned_by(tags: &BTreeMap<String, String>, stack: &str) -> bool {
    tags.get(LABEL_MANAGED_BY).map(String::as_str) == Some(strata_core::model::MANAGED_BY_STRATA)
        && tags.get(LABEL_STACK).map(String::as_str) == Some(stack)
}

/// The manifest a listing reports for an object named `name` in AWS with ownership `tags`:
/// `apiVersion`, `kind`, `metadata.name`, the external-name annotation and the ownership
/// labels.
pub fn listed_object(
    api_version: &str,
    kind: &str,
    name: &str,
    tags: &BTreeMap<String, String>,
) -> Value {
    let labels: Map<String, Value> = OWNERSHIP_TAGS
        .iter()
        .filter_map(|k| {
            tags.get(*k)
                .map(|v| ((*k).to_owned(), Value::String(v.clone())))
        })
        .collect();
    serde_json::json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": name,
            "annotations": {ANNOTATION_EXTERNAL_NAME: name},
            "labels": labels,
        }
    })
}

/// Splits live tags into `(labels, tags)`: tags whose keys are ownership markers or labels of
/// the desired manifest become labels; the rest (and tags the user also set in
/// `spec.forProvider.tags`) are tags.
pub fn split_tags(
    desired: &Value,
    live: &BTreeMap<String, String>,
) -> (Map<String, Value>, Map<String, Value>) {
    let desired_labels = labels(desired);
    let desired_user_tags = string_map(for_provider(desired).get("tags"));
    let mut label_out = Map::new();
    let mut tag_out = Map::new();
    for (k, v) in live {
        let is_label = OWNERSHIP_TAGS.contains(&k.as_str()) || desired_labels.contains_key(k);
        if is_label {
            label_out.insert(k.clone(), Value::String(v.clone()));
        }
        if !is_label || desired_user_tags.contains_key(k) {
            tag_out.insert(k.clone(), Value::String(v.clone()));
        }
    }
    (label_out, tag_out)
}

/// Projects `live` onto the shape of `desired`: objects keep only the keys `desired` has, arrays
/// are projected item by item. Used for block lists (`rule: [{…}]`) that plans compare as a
/// whole, so keys AWS adds inside them do not show as changes.
pub fn project_like(live: &Value, desired: Option<&Value>) -> Value {
    match (live, desired) {
        (Value::Object(l), Some(Value::Object(d))) => Value::Object(
            l.iter()
                .filter(|(k, _)| d.contains_key(*k))
                .map(|(k, v)| (k.clone(), project_like(v, d.get(k))))
                .collect(),
        ),
        (Value::Array(l), Some(Value::Array(d))) => Value::Array(
            l.iter()
                .enumerate()
                .map(|(i, v)| project_like(v, d.get(i)))
                .collect(),
        ),
        (other, _) => other.clone(),
    }
}

/// What a provider observed of one resource.
#[derive(Debug, Clone, Default)]
pub struct LiveParts {
    /// The name or id the resource has in AWS.
    pub external_name: String,
    /// Observed `spec.forProvider` fields (every field AWS reports).
    pub for_provider: Map<String, Value>,
    /// Keys of `spec.forProvider` AWS is authoritative for: desired values of these keys are
    /// never echoed, even when AWS reports nothing for them.
    pub observable: &'static [&'static str],
    /// Extra `status.atProvider` fields (ids, ARNs, endpoints, status).
    pub at_provider: Map<String, Value>,
    /// Labels read back from tags.
    pub labels: Map<String, Value>,
    /// Whether the resource is ready for use.
    pub ready: bool,
    /// The reason shown in the Ready condition (`Available`, `Creating` …).
    pub reason: String,
}

/// Builds the live object for `desired` from what was observed. Fields of `spec.forProvider`
/// AWS cannot report (a password reference, `skipFinalSnapshot` …) are echoed from `desired`.
pub fn live_object(desired: &Value, parts: LiveParts) -> Value {
    let mut live = Map::new();
    for key in ["apiVersion", "kind"] {
        if let Some(v) = desired.get(key) {
            live.insert(key.to_owned(), v.clone());
        }
    }
    let mut metadata = desired
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut annotations = metadata
        .get("annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    annotations.insert(
        ANNOTATION_EXTERNAL_NAME.to_owned(),
        Value::String(parts.external_name.clone()),
    );
    metadata.insert("annotations".to_owned(), Value::Object(annotations));
    if parts.labels.is_empty() {
        metadata.remove("labels");
    } else {
        metadata.insert("labels".to_owned(), Value::Object(parts.labels));
    }
    live.insert("metadata".to_owned(), Value::Object(metadata));

    let mut spec = desired
        .get("spec")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut for_provider: Map<String, Value> = for_provider(desired)
        .iter()
        .filter(|(k, _)| !parts.observable.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut at_provider = parts.for_provider.clone();
    for (k, v) in parts.for_provider {
        let v = match (&v, for_provider_get(desired, &k)) {
            (Value::Array(_), Some(d)) => project_like(&v, Some(d)),
            _ => v,
        };
        for_provider.insert(k, v);
    }
    spec.insert("forProvider".to_owned(), Value::Object(for_provider));
    live.insert("spec".to_owned(), Value::Object(spec));

    at_provider.insert("id".to_owned(), Value::String(parts.external_name));
    at_provider.extend(parts.at_provider);
    let (ready, reason) = if parts.ready {
        ("True", parts.reason.as_str())
    } else {
        ("False", parts.reason.as_str())
    };
    live.insert(
        "status".to_owned(),
        json!({
            "atProvider": at_provider,
            "conditions": [
                {"type": "Ready", "status": ready, "reason": reason},
                {"type": "Synced", "status": "True", "reason": "ReconcileSuccess"}
            ]
        }),
    );
    Value::Object(live)
}

fn for_provider_get<'a>(desired: &'a Value, key: &str) -> Option<&'a Value> {
    for_provider(desired).get(key)
}

/// Reads the Ready condition of a live object built by [`live_object`].
pub fn ready_reason(live: &Value) -> Option<(&str, &str)> {
    live.get("status")?
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        .map(|c| {
            (
                c.get("status").and_then(Value::as_str).unwrap_or("Unknown"),
                c.get("reason").and_then(Value::as_str).unwrap_or(""),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket() -> Resource {
        Resource::from_manifest(json!({
            "apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "Bucket",
            "metadata": {"name": "logs", "labels": {"team": "a", "strata.dev/stack": "s", "app.kubernetes.io/managed-by": "strata"},
                         "annotations": {"strata.dev/depends-on": "X/y"}},
            "spec": {"forProvider": {"region": "eu-west-1", "tags": {"env": "prod"}, "forceDestroy": true},
                     "providerConfigRef": {"name": "default"}}
        }))
        .unwrap()
    }

    #[test]
    fn external_name_prefers_the_annotation() {
        let mut r = bucket();
        assert_eq!(external_name(&r, None), "logs");
        r.manifest["metadata"]["annotations"]["crossplane.io/external-name"] = json!("real");
        assert_eq!(external_name(&r, None), "real");
    }

    #[test]
    fn tags_carry_labels_and_split_back() {
        let r = bucket();
        let tags = desired_tags(&r.manifest);
        assert_eq!(tags["env"], "prod");
        assert_eq!(tags["strata.dev/stack"], "s");
        assert_eq!(tags["team"], "a");
        let mut live = tags.clone();
        live.insert("extra".into(), "x".into());
        let (labels, user) = split_tags(&r.manifest, &live);
        assert_eq!(labels.len(), 3);
        assert_eq!(
            user,
            json!({"env": "prod", "extra": "x"})
                .as_object()
                .unwrap()
                .clone()
        );
    }

    #[test]
    fn live_object_echoes_unobservable_fields_and_records_late_init() {
        let r = bucket();
        let mut fp = Map::new();
        fp.insert("region".into(), json!("eu-west-1"));
        fp.insert("objectLockEnabled".into(), json!(false));
        let live = live_object(
            &r.manifest,
            LiveParts {
                external_name: "logs".into(),
                for_provider: fp,
                observable: &["region", "tags", "objectLockEnabled"],
                labels: Map::new(),
                ready: true,
                reason: "Available".into(),
                ..LiveParts::default()
            },
        );
        let fp = &live["spec"]["forProvider"];
        assert_eq!(fp["forceDestroy"], true, "unobservable field echoed");
        assert!(fp.get("tags").is_none(), "observable field not echoed");
        assert_eq!(
            fp["objectLockEnabled"], false,
            "late-initialized field recorded"
        );
        assert_eq!(live["spec"]["providerConfigRef"]["name"], "default");
        assert_eq!(
            live["metadata"]["annotations"]["crossplane.io/external-name"],
            "logs"
        );
        assert!(live["metadata"].get("labels").is_none());
        assert_eq!(live["status"]["atProvider"]["id"], "logs");
        assert_eq!(ready_reason(&live), Some(("True", "Available")));
    }

    #[test]
    fn projection_drops_keys_aws_adds_inside_blocks() {
        let desired = json!([{"status": "Enabled"}]);
        let live = json!([{"status": "Enabled", "mfaDelete": "Disabled"}]);
        assert_eq!(project_like(&live, Some(&desired)), desired);
        let longer = json!([{"status": "Enabled"}, {"status": "x"}]);
        assert_eq!(
            project_like(&longer, Some(&desired))
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
}
