//! Crossplane's function-go-templating dialect ([`crate::FunctionSet::Crossplane`]): Sprig's
//! functions as Helm charts have them (without Helm's own), `include`, and the function's own
//! helpers over the `RunFunctionRequest` the templates see.
//!
//! - `toYaml v`: `gopkg.in/yaml.v3` `Marshal` ([`crate::goyaml::to_yaml_v3`]), final newline
//!   kept; `fromYaml s`: any YAML value (an error fails the template).
//! - `getResourceCondition TYPE RESOURCE`: the condition of that type in `RESOURCE.resource.status`
//!   or `RESOURCE.status`, as a Go `Condition` struct (fields `Type`, `Status`, `Reason`,
//!   `Message`, `LastTransitionTime`, `ObservedGeneration`); status `Unknown` when absent.
//! - `setResourceNameAnnotation NAME`: the `gotemplating.fn.crossplane.io/composition-resource-name`
//!   annotation line for `NAME`.
//! - `getComposedResource REQ NAME` / `getCompositeResource REQ`: the observed composed resource
//!   `NAME` / the observed composite of the request (an empty map when absent, as Go's nil map).
//! - `getExtraResources REQ NAME`: the items fetched for the extra-resource requirement `NAME`.
//! - `randomChoice CHOICES...`: one of the strings, at random on every run (as the function).

use std::hash::{BuildHasher, Hasher};

use serde_json::{Map, Value, json};

use crate::error::{CallFailure, FuncError};
use crate::exec::Val;
use crate::funcs::{any, s, want, want_min};

/// The annotation naming a desired composed resource.
pub const RESOURCE_NAME_ANNOTATION: &str =
    "gotemplating.fn.crossplane.io/composition-resource-name";

/// The functions of [`crate::FunctionSet::Crossplane`] beyond Sprig's and `include`.
pub const CROSSPLANE_FUNCTION_NAMES: &[&str] = &[
    "include",
    "randomChoice",
    "toYaml",
    "fromYaml",
    "getResourceCondition",
    "setResourceNameAnnotation",
    "getComposedResource",
    "getCompositeResource",
    "getExtraResources",
];

/// Helm's functions that are Helm's own, not Sprig's: not in this dialect.
pub(crate) const HELM_ONLY: &[&str] = &[
    "tpl",
    "required",
    "fail",
    "lookup",
    "toToml",
    "fromToml",
    "mustToYaml",
    "toYamlPretty",
    "mustToJson",
    "fromJsonArray",
    "mustFromJson",
];

/// Calls one of the dialect's own functions (`include` aside); `None` for any other name.
pub(crate) fn call(name: &str, a: &[Val]) -> Option<Result<Value, FuncError>> {
    Some(match name {
        "toYaml" => {
            want(name, a, 1).map(|()| Value::String(crate::goyaml::to_yaml_v3(&any(&a[0]))))
        }
        "fromYaml" => want(name, a, 1).and_then(|()| {
            let text = s(&a[0])?;
            strata_core::yaml::from_str::<Value>(&text)
                .map(|v| crate::value::normalized(&v))
                .map_err(|source| FuncError::Failed {
                    func: name.to_string(),
                    failure: CallFailure::Yaml(crate::SharedCause::new(source)),
                })
        }),
        "getResourceCondition" => {
            want(name, a, 2).and_then(|()| Ok(resource_condition(&s(&a[0])?, &any(&a[1]))))
        }
        "setResourceNameAnnotation" => want(name, a, 1).and_then(|()| {
            Ok(Value::String(format!(
                "{RESOURCE_NAME_ANNOTATION}: {}",
                s(&a[0])?
            )))
        }),
        "getComposedResource" => want(name, a, 2).and_then(|()| {
            let wanted = s(&a[1])?;
            Ok(object_at(
                &any(&a[0]),
                &["observed", "resources", wanted.as_str(), "resource"],
            ))
        }),
        "getCompositeResource" => want(name, a, 1)
            .map(|()| object_at(&any(&a[0]), &["observed", "composite", "resource"])),
        "getExtraResources" => want(name, a, 2).and_then(|()| {
            let wanted = s(&a[1])?;
            let mut cur = any(&a[0]);
            for key in ["extraResources", wanted.as_str(), "items"] {
                cur = cur.get(key).cloned().unwrap_or(Value::Null);
            }
            Ok(match cur {
                Value::Array(items) => Value::Array(items),
                _ => Value::Array(Vec::new()),
            })
        }),
        "randomChoice" => want_min(name, a, 1).and_then(|()| {
            let choices = a.iter().map(s).collect::<Result<Vec<_>, _>>()?;
            Ok(Value::String(choices[random_below(choices.len())].clone()))
        }),
        _ => return None,
    })
}

/// The object at `path`, or an empty map (Go's nil map) when there is none.
fn object_at(v: &Value, path: &[&str]) -> Value {
    let mut cur = v;
    for key in path {
        match cur.get(key) {
            Some(next) => cur = next,
            None => return Value::Object(Map::new()),
        }
    }
    match cur {
        Value::Object(m) => Value::Object(m.clone()),
        _ => Value::Object(Map::new()),
    }
}

/// The condition of type `ty` of a resource (a `{resource: ...}` entry of the request, or the
/// object itself), as crossplane-runtime's `Condition` struct.
fn resource_condition(ty: &str, res: &Value) -> Value {
    let conditions = res
        .pointer("/resource/status/conditions")
        .or_else(|| res.pointer("/status/conditions"))
        .and_then(Value::as_array);
    let found = conditions.and_then(|cs| {
        cs.iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))
    });
    let text = |c: &Value, k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    match found {
        Some(c) => json!({
            "Type": ty,
            "Status": text(c, "status"),
            "LastTransitionTime": text(c, "lastTransitionTime"),
            "Reason": text(c, "reason"),
            "Message": text(c, "message"),
            "ObservedGeneration": c.get("observedGeneration").and_then(Value::as_i64).unwrap_or(0),
        }),
        None => json!({
            "Type": ty,
            "Status": "Unknown",
            "LastTransitionTime": "0001-01-01 00:00:00 +0000 UTC",
            "Reason": "",
            "Message": "",
            "ObservedGeneration": 0,
        }),
    }
}

/// A random index below `n` (`n > 0`), from the standard library's per-process random keys and
/// the clock.
fn random_below(n: usize) -> usize {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (h.finish() % n as u64) as usize
}
