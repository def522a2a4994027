//! Composed-resource metadata and names, as Crossplane core adds them to the function's
//! output: `generateName`, deterministic names, the `crossplane.io/composition-resource-name`
//! annotation, composite and claim labels, and the controller owner reference.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Annotation naming the template a composed resource came from.
pub const ANNOTATION_RESOURCE_NAME: &str = "crossplane.io/composition-resource-name";
/// Label naming the top-level composite.
pub const LABEL_COMPOSITE: &str = "crossplane.io/composite";
/// Label naming the claim.
pub const LABEL_CLAIM_NAME: &str = "crossplane.io/claim-name";
/// Label naming the claim's namespace.
pub const LABEL_CLAIM_NAMESPACE: &str = "crossplane.io/claim-namespace";

/// Which Crossplane behaviour to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CrossplaneVersion {
    /// Crossplane v2 core (the default): deterministic names.
    #[default]
    V2,
    /// Crossplane v1 core: `generateName` always set from the composite label.
    V1,
    /// The v1 `crossplane render` CLI.
    RenderCliV1,
}

impl CrossplaneVersion {
    /// Reads a version description such as `v2.1+`, `v1.20` or `crossplane render (v1.x CLI)`.
    pub fn parse(s: &str) -> CrossplaneVersion {
        if s.contains("render") {
            CrossplaneVersion::RenderCliV1
        } else if s.trim_start_matches('v').starts_with('1') {
            CrossplaneVersion::V1
        } else {
            CrossplaneVersion::V2
        }
    }
}

/// Crossplane v2's deterministic child name: `generateName` (plus `-` if missing) followed
/// by the first 12 hex characters of SHA-256(owner UID + composition resource name); the
/// prefix is truncated so the name stays within 63 characters.
pub fn child_name(generate_name: &str, owner_uid: &str, composition_resource_name: &str) -> String {
    let digest = Sha256::digest(format!("{owner_uid}{composition_resource_name}").as_bytes());
    let suffix = &hex::encode(digest)[..12];
    let mut prefix = generate_name.to_string();
    if !prefix.is_empty() && !prefix.ends_with('-') {
        prefix.push('-');
    }
    if prefix.len() + suffix.len() > 63 {
        let mut cut = 50;
        while !prefix.is_char_boundary(cut) {
            cut -= 1;
        }
        prefix.truncate(cut);
        prefix.push('-');
    }
    format!("{prefix}{suffix}")
}

fn meta_str<'a>(o: &'a Value, key: &str) -> &'a str {
    o.get("metadata")
        .and_then(|m| m.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn label<'a>(o: &'a Value, key: &str) -> &'a str {
    o.get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn metadata_mut(o: &mut Value) -> &mut Map<String, Value> {
    if !o.is_object() {
        *o = Value::Object(Map::new());
    }
    let Value::Object(top) = o else {
        unreachable!("just made an object")
    };
    let meta = top
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    match meta {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

fn add_string_map(meta: &mut Map<String, Value>, field: &str, entries: &[(&str, &str)]) {
    let m = meta
        .entry(field)
        .or_insert_with(|| Value::Object(Map::new()));
    if !m.is_object() {
        *m = Value::Object(Map::new());
    }
    if let Value::Object(m) = m {
        for (k, v) in entries {
            m.insert((*k).to_string(), Value::String((*v).to_string()));
        }
    }
}

/// Adds Crossplane core's metadata to a desired composed resource.
pub fn composed_metadata(
    version: CrossplaneVersion,
    composite: &Value,
    composition_resource_name: &str,
    desired: &Value,
) -> Value {
    let mut cd = desired.clone();
    let xr_name = meta_str(composite, "name").to_string();
    let xr_ns = meta_str(composite, "namespace").to_string();
    let xr_uid = meta_str(composite, "uid").to_string();
    let composite_label = match label(composite, LABEL_COMPOSITE) {
        "" => xr_name.clone(),
        l => l.to_string(),
    };
    let owner = json!({
        "apiVersion": composite.get("apiVersion").cloned().unwrap_or(json!("")),
        "kind": composite.get("kind").cloned().unwrap_or(json!("")),
        "name": xr_name,
        "uid": xr_uid,
        "controller": true,
        "blockOwnerDeletion": true,
    });
    let has_name = !meta_str(&cd, "name").is_empty();
    let has_generate_name = !meta_str(&cd, "generateName").is_empty();
    let meta = metadata_mut(&mut cd);
    match version {
        CrossplaneVersion::V2 => {
            if !has_name && !has_generate_name {
                meta.insert("generateName".into(), json!(format!("{composite_label}-")));
            }
            if !xr_ns.is_empty() {
                meta.insert("namespace".into(), json!(xr_ns));
            }
            add_string_map(
                meta,
                "annotations",
                &[(ANNOTATION_RESOURCE_NAME, composition_resource_name)],
            );
            add_string_map(meta, "labels", &[(LABEL_COMPOSITE, &composite_label)]);
            let (claim, claim_ns) = (
                label(composite, LABEL_CLAIM_NAME),
                label(composite, LABEL_CLAIM_NAMESPACE),
            );
            if !claim.is_empty() && !claim_ns.is_empty() {
                add_string_map(
                    meta,
                    "labels",
                    &[(LABEL_CLAIM_NAME, claim), (LABEL_CLAIM_NAMESPACE, claim_ns)],
                );
            }
            if !has_name {
                let generate = meta
                    .get("generateName")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                meta.insert(
                    "name".into(),
                    json!(child_name(&generate, &xr_uid, composition_resource_name)),
                );
            }
        }
        CrossplaneVersion::V1 => {
            meta.insert("generateName".into(), json!(format!("{composite_label}-")));
            add_string_map(
                meta,
                "annotations",
                &[(ANNOTATION_RESOURCE_NAME, composition_resource_name)],
            );
            add_string_map(
                meta,
                "labels",
                &[
                    (LABEL_COMPOSITE, &composite_label),
                    (LABEL_CLAIM_NAME, label(composite, LABEL_CLAIM_NAME)),
                    (
                        LABEL_CLAIM_NAMESPACE,
                        label(composite, LABEL_CLAIM_NAMESPACE),
                    ),
                ],
            );
        }
        CrossplaneVersion::RenderCliV1 => {
            meta.insert("generateName".into(), json!(format!("{xr_name}-")));
            add_string_map(
                meta,
                "annotations",
                &[(ANNOTATION_RESOURCE_NAME, composition_resource_name)],
            );
            add_string_map(meta, "labels", &[(LABEL_COMPOSITE, &xr_name)]);
            if let Some(r) = composite
                .get("spec")
                .and_then(|s| s.get("claimRef"))
                .filter(|r| r.is_object())
            {
                let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                let (n, ns) = (s("name"), s("namespace"));
                add_string_map(
                    meta,
                    "labels",
                    &[(LABEL_CLAIM_NAMESPACE, &ns), (LABEL_CLAIM_NAME, &n)],
                );
            }
        }
    }
    set_controller_reference(meta, owner);
    cd
}

fn set_controller_reference(meta: &mut Map<String, Value>, owner: Value) {
    let refs = meta
        .entry("ownerReferences")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !refs.is_array() {
        *refs = Value::Array(Vec::new());
    }
    if let Value::Array(list) = refs {
        let uid = owner.get("uid").cloned();
        list.retain(|r| {
            r.get("uid") != uid.as_ref() && r.get("controller") != Some(&Value::Bool(true))
        });
        list.push(owner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_names_are_deterministic() {
        assert_eq!(
            child_name("parent-", "uid-456", "database"),
            "parent-bd4f105d0576"
        );
        assert_eq!(
            child_name("", "75e4a668-035f-4ce8-8c45-f4d3ac850155", "database"),
            "38ce86992a27"
        );
    }
}
