//! CompositeResourceDefinitions: parsing, OpenAPI v3 schema validation of composites and
//! claims (with the `jsonschema` crate), and Kubernetes structural-schema defaulting.

use crate::error::{Error, Phase, Result};
use serde_json::{Map, Value};

/// A parsed XRD.
#[derive(Debug, Clone, PartialEq)]
pub struct Xrd {
    /// `metadata.name`.
    pub name: String,
    /// API group.
    pub group: String,
    /// Composite kind.
    pub kind: String,
    /// Claim kind, when claims are offered.
    pub claim_kind: Option<String>,
    /// Versions in declaration order.
    pub versions: Vec<XrdVersion>,
    /// `spec.enforcedCompositionRef.name`.
    pub enforced_composition: Option<String>,
    /// `spec.defaultCompositionRef.name`.
    pub default_composition: Option<String>,
    /// `spec.connectionSecretKeys`.
    pub connection_secret_keys: Vec<String>,
}

/// One XRD version.
#[derive(Debug, Clone, PartialEq)]
pub struct XrdVersion {
    /// Version name (`v1alpha1`).
    pub name: String,
    /// Whether it is served.
    pub served: bool,
    /// Whether compositions may reference it.
    pub referenceable: bool,
    /// `schema.openAPIV3Schema` (an empty object when absent).
    pub schema: Value,
}

/// One schema violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaViolation {
    /// The field path (`spec.parameters.size`; empty for the root).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for SchemaViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str()
}

impl Xrd {
    /// Parses an XRD object.
    pub fn parse(v: &Value) -> Result<Xrd> {
        if s(v, &["kind"]) != Some("CompositeResourceDefinition") {
            return Err(Error::Validation(
                "not a CompositeResourceDefinition".into(),
            ));
        }
        let group = s(v, &["spec", "group"]).unwrap_or("").to_string();
        let kind = s(v, &["spec", "names", "kind"]).unwrap_or("").to_string();
        if group.is_empty() || kind.is_empty() {
            return Err(Error::Validation(
                "spec.group and spec.names.kind are required".into(),
            ));
        }
        let versions = v
            .get("spec")
            .and_then(|sp| sp.get("versions"))
            .and_then(Value::as_array)
            .map(|vs| {
                vs.iter()
                    .map(|ver| XrdVersion {
                        name: s(ver, &["name"]).unwrap_or("").to_string(),
                        served: ver.get("served").and_then(Value::as_bool).unwrap_or(false),
                        referenceable: ver
                            .get("referenceable")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                        schema: ver
                            .get("schema")
                            .and_then(|sc| sc.get("openAPIV3Schema"))
                            .cloned()
                            .unwrap_or_else(|| Value::Object(Map::new())),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Xrd {
            name: s(v, &["metadata", "name"]).unwrap_or("").to_string(),
            group,
            kind,
            claim_kind: s(v, &["spec", "claimNames", "kind"]).map(str::to_string),
            versions,
            enforced_composition: s(v, &["spec", "enforcedCompositionRef", "name"])
                .map(str::to_string),
            default_composition: s(v, &["spec", "defaultCompositionRef", "name"])
                .map(str::to_string),
            connection_secret_keys: v
                .get("spec")
                .and_then(|sp| sp.get("connectionSecretKeys"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// The version an object's `apiVersion` names, else the referenceable one, else the first.
    pub fn version_for(&self, object: &Value) -> Option<&XrdVersion> {
        let api = s(object, &["apiVersion"]).unwrap_or("");
        let (_, ver) = strata_core::object::split_api_version(api);
        self.versions
            .iter()
            .find(|v| v.name == ver)
            .or_else(|| self.versions.iter().find(|v| v.referenceable))
            .or_else(|| self.versions.first())
    }

    /// Whether the object is this XRD's composite (`Some(false)`) or claim (`Some(true)`).
    pub fn is_claim(&self, object: &Value) -> Option<bool> {
        let kind = s(object, &["kind"]).unwrap_or("");
        if kind == self.kind {
            Some(false)
        } else if self.claim_kind.as_deref() == Some(kind) {
            Some(true)
        } else {
            None
        }
    }

    /// Validates a composite or claim against its version's schema. Returns every
    /// violation, each naming the field path.
    pub fn validate(&self, object: &Value) -> Result<Vec<SchemaViolation>> {
        let Some(version) = self.version_for(object) else {
            return Err(Error::Validation(format!(
                "XRD {} has no versions",
                self.name
            )));
        };
        validate_against(&version.schema, object)
    }

    /// Applies the version's schema defaults to an object.
    pub fn apply_defaults(&self, object: &Value) -> Value {
        let mut out = object.clone();
        if let Some(version) = self.version_for(object) {
            apply_defaults(&version.schema, &mut out);
        }
        out
    }
}

/// Converts an OpenAPI v3 (Kubernetes structural) schema to JSON Schema draft 4.
pub fn openapi_to_json_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(m) => {
            let mut out = Map::new();
            let nullable = m.get("nullable").and_then(Value::as_bool).unwrap_or(false);
            for (k, v) in m {
                if k == "nullable" || k.starts_with("x-kubernetes-") || k == "default" {
                    continue;
                }
                let converted = match k.as_str() {
                    "properties" | "patternProperties" | "definitions" => match v {
                        Value::Object(props) => Value::Object(
                            props
                                .iter()
                                .map(|(pk, pv)| (pk.clone(), openapi_to_json_schema(pv)))
                                .collect(),
                        ),
                        other => other.clone(),
                    },
                    "items" | "additionalProperties" | "not" => openapi_to_json_schema(v),
                    "allOf" | "anyOf" | "oneOf" => match v {
                        Value::Array(list) => {
                            Value::Array(list.iter().map(openapi_to_json_schema).collect())
                        }
                        other => other.clone(),
                    },
                    _ => v.clone(),
                };
                out.insert(k.clone(), converted);
            }
            if nullable {
                if let Some(Value::String(t)) = out.get("type").cloned() {
                    out.insert(
                        "type".into(),
                        Value::Array(vec![Value::String(t), Value::String("null".into())]),
                    );
                }
                if let Some(Value::Array(e)) = out.get_mut("enum") {
                    e.push(Value::Null);
                }
            }
            if m.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true) {
                out.insert("type".into(), serde_json::json!(["integer", "string"]));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn pointer_to_field_path(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        let is_index = !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit());
        if is_index || seg.contains('.') || seg.contains('/') {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

/// Validates `object` against an OpenAPI v3 schema, naming each violating field.
pub fn validate_against(schema: &Value, object: &Value) -> Result<Vec<SchemaViolation>> {
    let js = openapi_to_json_schema(schema);
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&js)
        .map_err(|source| Error::caused(Phase::Validation, "invalid openAPIV3Schema: ", source))?;
    let mut out: Vec<SchemaViolation> = validator
        .iter_errors(object)
        .map(|e| SchemaViolation {
            field: pointer_to_field_path(&e.instance_path().to_string()),
            message: e.to_string(),
        })
        .collect();
    out.sort_by(|a, b| a.field.cmp(&b.field).then(a.message.cmp(&b.message)));
    Ok(out)
}

/// Kubernetes structural-schema defaulting: a default applies only where the field is
/// absent and its parent exists; a parent defaulted to `{}` gets its children defaulted in
/// the same pass; array items are defaulted element by element; an explicit null on a
/// non-nullable field is dropped and then defaulted.
pub fn apply_defaults(schema: &Value, object: &mut Value) {
    match object {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = schema.get("properties") {
                for (key, prop) in props {
                    let nullable = prop
                        .get("nullable")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    if map.get(key).is_some_and(Value::is_null) && !nullable {
                        map.shift_remove(key);
                    }
                    if !map.contains_key(key)
                        && let Some(d) = prop.get("default")
                    {
                        map.insert(key.clone(), d.clone());
                    }
                    if let Some(child) = map.get_mut(key) {
                        apply_defaults(prop, child);
                    }
                }
            }
            if let Some(ap) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                let known: Vec<String> = schema
                    .get("properties")
                    .and_then(Value::as_object)
                    .map(|p| p.keys().cloned().collect())
                    .unwrap_or_default();
                for (k, v) in map.iter_mut() {
                    if !known.contains(k) {
                        apply_defaults(ap, v);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    apply_defaults(item_schema, item);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn violations_name_the_field() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "size": {"type": "string", "enum": ["small", "large"]}}}}});
        let v =
            validate_against(&schema, &json!({"spec": {"size": "huge"}})).expect("schema compiles");
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].field, "spec.size");
        assert!(
            validate_against(&schema, &json!({"spec": {"size": "small"}}))
                .expect("ok")
                .is_empty()
        );
    }
}
