//! Known Kubernetes types: the "remarshal" of built-in kinds and `knownTypeFields` for CRDs.
//!
//! Going through client-go's typed structs canonicalises quantities (`2000m` → `2`), drops
//! `omitempty` zero values (`readOnly: false`, `imagePullSecrets: []`, empty label maps) and
//! makes integral floats integers. When the typed decode would fail (a string in an integer
//! field, a malformed quantity), the raw object is kept unchanged, so invalid fields are never
//! silently dropped.

use serde_json::{Number, Value};

use crate::duration::{format_go_duration, parse_go_duration};
use crate::error::DriftError;
use crate::quantity::canonical_quantity;

/// Integer fields of built-in types: a non-number there makes the typed decode fail.
pub fn is_int_field(key: &str) -> bool {
    matches!(
        key,
        "replicas"
            | "revisionHistoryLimit"
            | "minReadySeconds"
            | "progressDeadlineSeconds"
            | "containerPort"
            | "hostPort"
            | "terminationGracePeriodSeconds"
            | "activeDeadlineSeconds"
            | "initialDelaySeconds"
            | "periodSeconds"
            | "timeoutSeconds"
            | "successThreshold"
            | "failureThreshold"
            | "defaultMode"
            | "runAsUser"
            | "runAsGroup"
            | "fsGroup"
            | "backoffLimit"
            | "completions"
            | "parallelism"
            | "ttlSecondsAfterFinished"
            | "successfulJobsHistoryLimit"
            | "failedJobsHistoryLimit"
            | "nodePort"
    )
}

/// Map-typed fields whose empty value `omitempty` drops.
fn is_map_field(key: &str) -> bool {
    matches!(
        key,
        "labels"
            | "annotations"
            | "nodeSelector"
            | "matchLabels"
            | "data"
            | "binaryData"
            | "stringData"
            | "requests"
            | "limits"
            | "hard"
            | "capacity"
    )
}

/// Non-pointer booleans with `omitempty`: `false` is dropped.
pub(crate) fn is_omitempty_bool(key: &str) -> bool {
    matches!(
        key,
        "readOnly" | "stdin" | "stdinOnce" | "tty" | "hostNetwork" | "hostPID" | "hostIPC"
    )
}

/// Lists that are not `omitempty` in their Go type (kept even when empty).
fn is_kept_empty_list(key: &str) -> bool {
    matches!(key, "rules")
}

/// Keys whose map values are quantities.
pub fn is_quantity_map(key: &str) -> bool {
    matches!(
        key,
        "requests" | "limits" | "hard" | "capacity" | "allocatable" | "overhead"
    )
}

/// Makes integral floats integers everywhere (Go's unstructured decode does the same).
pub fn normalize_numbers(value: &mut Value) {
    match value {
        Value::Number(n) => {
            if n.is_f64()
                && let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() < 9_007_199_254_740_992.0
            {
                *n = Number::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_numbers),
        Value::Object(map) => map.values_mut().for_each(normalize_numbers),
        _ => {}
    }
}

/// Remarshals a built-in object (or a subtree of a known type): returns `None` when the typed
/// decode would fail, in which case the caller keeps the raw value.
pub fn remarshal_typed(value: &Value) -> Option<Value> {
    let mut out = value.clone();
    if remarshal_node(&mut out, None) {
        Some(out)
    } else {
        None
    }
}

/// Remarshals in place (integral floats become integers on the way); returns false (leaving
/// the value partly rewritten) when the typed decode would fail, in which case the caller must
/// restore the raw value.
pub fn remarshal_in_place(value: &mut Value) -> bool {
    remarshal_node(value, None)
}

/// Rewrites in place; returns false when the value does not fit the typed structs.
fn remarshal_node(value: &mut Value, key: Option<&str>) -> bool {
    match value {
        Value::Object(map) => {
            let quantities = key.is_some_and(is_quantity_map);
            let mut drop = Vec::new();
            for (k, v) in map.iter_mut() {
                if v.is_number() {
                    normalize_numbers(v);
                }
                if quantities {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Object(_) | Value::Array(_) => {
                            return false;
                        }
                        _ => return false,
                    };
                    match canonical_quantity(&text) {
                        Some(c) => *v = Value::String(c),
                        None => return false,
                    }
                    continue;
                }
                if k == "sizeLimit" {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        _ => return false,
                    };
                    match canonical_quantity(&text) {
                        Some(c) => *v = Value::String(c),
                        None => return false,
                    }
                    continue;
                }
                if !(v.is_number() || v.is_null()) && is_int_field(k) {
                    return false;
                }
                if !remarshal_node(v, Some(k)) {
                    return false;
                }
                if is_omitted(k, v) {
                    drop.push(k.clone());
                }
            }
            for k in drop {
                map.shift_remove(&k);
            }
            true
        }
        Value::Array(items) => items.iter_mut().all(|v| remarshal_node(v, None)),
        Value::Number(_) => {
            normalize_numbers(value);
            true
        }
        _ => true,
    }
}

fn is_omitted(key: &str, value: &Value) -> bool {
    match value {
        Value::String(_) | Value::Number(_) | Value::Null | Value::Bool(true) => false,
        Value::Bool(false) => is_omitempty_bool(key),
        Value::Array(a) => a.is_empty() && !is_kept_empty_list(key),
        Value::Object(m) => m.is_empty() && is_map_field(key),
    }
}

/// A `knownTypeFields` type a field is re-encoded through.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KnownType {
    /// `core/Quantity`.
    Quantity,
    /// `meta/v1/Duration`.
    Duration,
    /// `core/v1/<Type>`: a core/v1 struct (PodSpec, Container, …).
    CoreV1(String),
}

impl KnownType {
    /// Parses a type name as ArgoCD spells it; unknown names are a configuration error.
    pub fn parse(name: &str) -> Result<Self, DriftError> {
        match name {
            "core/Quantity" => Ok(Self::Quantity),
            "meta/v1/Duration" => Ok(Self::Duration),
            _ => match name.strip_prefix("core/v1/") {
                Some(t)
                    if t.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                        && t.chars().all(|c| c.is_ascii_alphanumeric()) =>
                {
                    Ok(Self::CoreV1(t.to_string()))
                }
                _ => Err(DriftError::UnsupportedKnownType(name.to_string())),
            },
        }
    }

    fn apply(&self, value: &mut Value) {
        match self {
            Self::Quantity => {
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return,
                };
                if let Some(c) = canonical_quantity(&text) {
                    *value = Value::String(c);
                }
            }
            Self::Duration => {
                if let Some(s) = value.as_str()
                    && let Some(n) = parse_go_duration(s)
                {
                    *value = Value::String(format_go_duration(n));
                }
            }
            Self::CoreV1(_) => {
                if let Some(typed) = remarshal_typed(value) {
                    *value = typed;
                }
            }
        }
    }
}

/// Applies a known type at a dotted field path; list segments apply the rest to each element.
pub fn apply_known_type(doc: &mut Value, field: &[&str], ty: &KnownType) {
    match field.split_first() {
        None => match doc {
            Value::Array(items) => {
                for item in items {
                    ty.apply(item);
                }
            }
            _ => ty.apply(doc),
        },
        Some((head, rest)) => match doc {
            Value::Object(map) => {
                if let Some(child) = map.get_mut(*head) {
                    apply_known_type(child, rest, ty);
                }
            }
            Value::Array(items) => {
                for item in items {
                    apply_known_type(item, field, ty);
                }
            }
            _ => {}
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn remarshal_canonicalises_and_drops() {
        let pod = json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": 0.2, "memory": "1024Mi"}},
            "volumeMounts": [{"name": "v", "mountPath": "/x", "readOnly": false}], "ports": []}]}});
        let out = remarshal_typed(&pod).expect("valid");
        assert_eq!(
            out,
            json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "200m", "memory": "1Gi"}},
                "volumeMounts": [{"name": "v", "mountPath": "/x"}]}]}})
        );
    }

    #[test]
    fn invalid_types_keep_raw() {
        assert!(remarshal_typed(&json!({"spec": {"replicas": "two"}})).is_none());
        assert!(remarshal_typed(&json!({"resources": {"limits": {"cpu": "lots"}}})).is_none());
    }

    #[test]
    fn known_type_names() {
        assert!(KnownType::parse("core/v1/PodSpec").is_ok());
        assert!(KnownType::parse("core/v2/Nope").is_err());
    }
}
