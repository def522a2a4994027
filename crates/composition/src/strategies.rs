//! Proptest strategies that generate objects valid for an XRD's OpenAPI v3 schema, so users
//! can property-test their compositions with arbitrary valid claims and composites.
//! Available with the `proptest` feature.

use crate::xrd::Xrd;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn int_of(schema: &Value, key: &str) -> Option<i64> {
    schema.get(key).and_then(Value::as_i64)
}

fn arb_string(schema: &Value) -> BoxedStrategy<Value> {
    let min = int_of(schema, "minLength").unwrap_or(1).max(0) as usize;
    let max = int_of(schema, "maxLength")
        .map_or(min.max(1) + 11, |m| m.max(0) as usize)
        .max(min);
    proptest::collection::vec(
        proptest::sample::select(b"abcdefghijklmnopqrstuvwxyz0123456789-".to_vec()),
        min..=max,
    )
    .prop_map(|bytes| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    .boxed()
}

fn arb_integer(schema: &Value) -> BoxedStrategy<Value> {
    let min = int_of(schema, "minimum").unwrap_or(-1000);
    let max = int_of(schema, "maximum")
        .unwrap_or(min.saturating_add(2000))
        .max(min);
    (min..=max).prop_map(|i| json!(i)).boxed()
}

/// A strategy for values valid under an OpenAPI v3 (structural) schema: enums, strings with
/// length bounds, integers and numbers with bounds, booleans, arrays (up to three items) and
/// objects (required properties always, optional ones sometimes).
pub fn arb_value(schema: &Value) -> BoxedStrategy<Value> {
    if let Some(options) = schema
        .get("enum")
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty())
    {
        return proptest::sample::select(options.clone()).boxed();
    }
    match schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("object")
    {
        "string" => arb_string(schema),
        "integer" => arb_integer(schema),
        "number" => arb_integer(schema)
            .prop_map(|v| json!(v.as_f64().unwrap_or(0.0) / 4.0))
            .boxed(),
        "boolean" => any::<bool>().prop_map(Value::Bool).boxed(),
        "array" => {
            let item = schema
                .get("items")
                .cloned()
                .unwrap_or_else(|| json!({"type": "string"}));
            let min = int_of(schema, "minItems").unwrap_or(0).max(0) as usize;
            let max = int_of(schema, "maxItems")
                .map_or(min + 3, |m| m.max(0) as usize)
                .max(min);
            proptest::collection::vec(arb_value(&item), min..=max)
                .prop_map(Value::Array)
                .boxed()
        }
        _ => arb_object(schema),
    }
}

fn arb_object(schema: &Value) -> BoxedStrategy<Value> {
    let required: Vec<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let props: Vec<(String, Value)> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let mut strategy: BoxedStrategy<Map<String, Value>> = Just(Map::new()).boxed();
    for (key, prop) in props {
        let value = arb_value(&prop);
        let is_required = required.contains(&key);
        strategy = (strategy, value, any::<bool>())
            .prop_map(move |(mut m, v, include)| {
                if is_required || include {
                    m.insert(key.clone(), v);
                }
                m
            })
            .boxed();
    }
    strategy.prop_map(Value::Object).boxed()
}

/// A strategy for claims (or, without claim names, composites) of an XRD's referenceable
/// version, valid for its schema, with a generated name and (for claims) namespace.
pub fn arb_claim(xrd: &Xrd) -> BoxedStrategy<Value> {
    let version = xrd
        .versions
        .iter()
        .find(|v| v.referenceable)
        .or_else(|| xrd.versions.first())
        .map(|v| (v.name.clone(), v.schema.clone()))
        .unwrap_or_else(|| ("v1".into(), json!({"type": "object"})));
    let spec_schema = version
        .1
        .get("properties")
        .and_then(|p| p.get("spec"))
        .cloned()
        .unwrap_or(json!({"type": "object"}));
    let api_version = format!("{}/{}", xrd.group, version.0);
    let (kind, namespaced) = match &xrd.claim_kind {
        Some(k) => (k.clone(), true),
        None => (xrd.kind.clone(), false),
    };
    ("[a-z][a-z0-9]{2,10}", arb_value(&spec_schema))
        .prop_map(move |(name, spec)| {
            let mut metadata = json!({"name": name});
            if namespaced {
                metadata["namespace"] = json!("default");
            }
            json!({"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec})
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xrd() -> Xrd {
        Xrd::parse(&json!({
            "apiVersion": "apiextensions.crossplane.io/v1", "kind": "CompositeResourceDefinition",
            "metadata": {"name": "xdbs.example.org"},
            "spec": {"group": "example.org", "names": {"kind": "XDb", "plural": "xdbs"},
                "claimNames": {"kind": "Db", "plural": "dbs"},
                "versions": [{"name": "v1", "served": true, "referenceable": true, "schema": {"openAPIV3Schema": {
                    "type": "object", "properties": {"spec": {"type": "object", "required": ["size"], "properties": {
                        "size": {"type": "string", "enum": ["small", "large"]},
                        "storageGB": {"type": "integer", "minimum": 10, "maximum": 100},
                        "tags": {"type": "array", "maxItems": 2, "items": {"type": "string", "maxLength": 5}}}}}}}}]}
        }))
        .expect("xrd parses")
    }

    proptest! {
        #[test]
        fn generated_claims_validate(claim in arb_claim(&xrd())) {
            let violations = xrd().validate(&claim).expect("schema compiles");
            prop_assert!(violations.is_empty(), "{:?}", violations);
            prop_assert!(claim["spec"]["size"].is_string());
        }
    }
}
