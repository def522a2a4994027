//! Predicting the live object after an apply: three-way merge (client-side apply semantics),
//! list merge keys, pruning, and the scheme defaults applied to both sides.

use serde_json::{Map, Value};

use crate::lookup::{self, values_equal};

use crate::object::ResourceKey;

/// The merge key of a list field of a built-in kind (strategic merge), if it has one.
///
/// `ports` uses `containerPort` for container ports and `port` for Service ports.
pub fn merge_key(field: &str, sample: Option<&Value>) -> Option<&'static [&'static str]> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "webhooks" => &["name"],
        "volumeMounts" => &["mountPath"],
        "volumeDevices" => &["devicePath"],
        "hostAliases" => &["ip"],
        "conditions" => &["type"],
        "ports" => {
            if sample.is_some_and(|s| s.get("containerPort").is_some()) {
                &["containerPort"]
            } else {
                &["port"]
            }
        }
        _ => return None,
    })
}

/// Structured-merge list keys (server-side apply): like [`merge_key`] but Service and
/// container ports are keyed by port and protocol.
pub fn smd_list_key(field: &str, sample: Option<&Value>) -> Option<&'static [&'static str]> {
    match field {
        "ports" => {
            if sample.is_some_and(|s| s.get("containerPort").is_some()) {
                Some(&["containerPort", "protocol"])
            } else {
                Some(&["port", "protocol"])
            }
        }
        other => merge_key(other, sample),
    }
}

/// The value of a key field, with Kubernetes' defaulted `protocol: TCP`.
pub fn key_value<'a>(item: &'a Value, field: &str) -> Option<&'a Value> {
    static TCP: std::sync::LazyLock<Value> =
        std::sync::LazyLock::new(|| Value::String("TCP".into()));
    match crate::lookup::member(item, field) {
        Some(v) => Some(v),
        None if field == "protocol" => Some(&TCP),
        None => None,
    }
}

/// Whether two list items have the same key.
pub fn same_key(a: &Value, b: &Value, key: &[&str]) -> bool {
    key.iter().all(|k| {
        let (x, y) = (key_value(a, k), key_value(b, k));
        x.is_some() && x == y
    })
}

/// How lists are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMode {
    /// Built-in kinds: lists with a merge key are merged by key, others replaced (strategic merge).
    Strategic,
    /// Server-side apply: lists keyed by structured-merge keys.
    Structured,
    /// Custom resources: every list is atomic (JSON merge patch).
    Atomic,
}

impl ListMode {
    fn key(self, field: &str, sample: Option<&Value>) -> Option<&'static [&'static str]> {
        match self {
            Self::Strategic => merge_key(field, sample),
            Self::Structured => smd_list_key(field, sample),
            Self::Atomic => None,
        }
    }
}

/// Prunes `live` to the fields present in `shape` (maps recursively, lists index by index,
/// extra tail elements kept).
pub fn prune_to(live: &Value, shape: &Value) -> Value {
    match (live, shape) {
        (Value::Object(l), Value::Object(s)) => Value::Object(
            l.iter()
                .filter_map(|(k, v)| s.get(k).map(|sv| (k.clone(), prune_to(v, sv))))
                .collect(),
        ),
        (Value::Array(l), Value::Array(s)) => Value::Array(
            l.iter()
                .enumerate()
                .map(|(i, v)| match s.get(i) {
                    Some(sv) => prune_to(v, sv),
                    None => v.clone(),
                })
                .collect(),
        ),
        _ => live.clone(),
    }
}

/// Whether `prune_to(live, shape) == desired`, without building the pruned copy.
pub fn pruned_equal(live: &Value, shape: &Value, desired: &Value) -> bool {
    match (live, shape) {
        (Value::Object(l), Value::Object(s)) => {
            let Value::Object(d) = desired else {
                return false;
            };
            let mut kept = 0usize;
            for (k, lv) in l {
                if let Some(sv) = lookup::field(s, k) {
                    kept += 1;
                    match lookup::field(d, k) {
                        Some(dv) if pruned_equal(lv, sv, dv) => {}
                        _ => return false,
                    }
                }
            }
            kept == d.len()
        }
        (Value::Array(l), Value::Array(s)) => {
            let Value::Array(d) = desired else {
                return false;
            };
            l.len() == d.len()
                && l.iter()
                    .zip(d)
                    .enumerate()
                    .all(|(i, (lv, dv))| match s.get(i) {
                        Some(sv) => pruned_equal(lv, sv, dv),
                        None => values_equal(lv, dv),
                    })
        }
        _ => values_equal(live, desired),
    }
}

/// Predicts live after applying `desired` with `orig` as the last applied configuration:
/// fields in desired are set (maps merged, keyed lists merged by key, other lists replaced when
/// they differ), fields in orig but not in desired are removed, and fields only in live stay.
pub fn three_way_merge(
    orig: Option<&Value>,
    desired: &Value,
    live: &Value,
    mode: ListMode,
) -> Value {
    merge_value(orig, desired, live, None, mode)
}

fn merge_value(
    orig: Option<&Value>,
    desired: &Value,
    live: &Value,
    field: Option<&str>,
    mode: ListMode,
) -> Value {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => {
            let mut out = l.clone();
            for (k, dv) in d {
                if dv.is_null() {
                    // a null in desired deletes the field; a null or absent live value already matches
                    if l.get(k).is_some_and(|lv| !lv.is_null()) {
                        out.shift_remove(k);
                    }
                    continue;
                }
                let ov = orig.and_then(|o| o.get(k));
                let merged = match l.get(k) {
                    Some(lv) => merge_value(ov, dv, lv, Some(k), mode),
                    None => dv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            if let Some(Value::Object(o)) = orig {
                for k in o.keys() {
                    if !d.contains_key(k) {
                        out.shift_remove(k);
                    }
                }
            }
            Value::Object(out)
        }
        (Value::Array(d), Value::Array(l)) => {
            let key = field.and_then(|f| mode.key(f, d.first().or(l.first())));
            match key {
                Some(key)
                    if d.iter()
                        .chain(l.iter())
                        .all(|v| key.iter().all(|k| key_value(v, k).is_some())) =>
                {
                    let o_items = orig.and_then(Value::as_array);
                    let mut out = Vec::new();
                    for li in l {
                        if let Some(di) = d.iter().find(|di| same_key(di, li, key)) {
                            let oi =
                                o_items.and_then(|o| o.iter().find(|oi| same_key(oi, li, key)));
                            out.push(merge_value(oi, di, li, None, mode));
                        } else if o_items.is_some_and(|o| o.iter().any(|oi| same_key(oi, li, key)))
                        {
                            // removed from desired since the last apply
                        } else {
                            out.push(li.clone());
                        }
                    }
                    for di in d {
                        if !l.iter().any(|li| same_key(di, li, key)) {
                            out.push(di.clone());
                        }
                    }
                    Value::Array(out)
                }
                _ => {
                    let shape = orig.filter(|o| o.is_array()).unwrap_or(desired);
                    if pruned_equal(live, shape, desired) {
                        live.clone()
                    } else {
                        desired.clone()
                    }
                }
            }
        }
        _ => desired.clone(),
    }
}

/// Removes `metadata.namespace` and empty or null annotations (done to orig and desired before
/// the three-way merge, never to live).
pub fn strip_for_merge(obj: &mut Value) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.shift_remove("namespace");
        let empty = meta
            .get("annotations")
            .is_some_and(|a| a.is_null() || a.as_object().is_some_and(Map::is_empty));
        if empty {
            meta.shift_remove("annotations");
        }
    }
}

/// Scheme defaults applied to both predicted and live objects of built-in kinds.
pub fn apply_scheme_defaults(obj: &mut Value, res: &ResourceKey) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let set = |spec: &mut Map<String, Value>, k: &str, v: Value| {
        if !spec.contains_key(k) {
            spec.insert(k.to_string(), v);
        }
    };
    match (res.group.as_str(), res.kind.as_str()) {
        ("apps" | "extensions", "Deployment" | "StatefulSet" | "ReplicaSet")
        | ("", "ReplicationController") => {
            set(spec, "replicas", Value::from(1));
        }
        ("", "Service") => {
            set(spec, "type", Value::from("ClusterIP"));
            set(spec, "sessionAffinity", Value::from("None"));
            set(spec, "internalTrafficPolicy", Value::from("Cluster"));
            if let Some(Value::Array(ports)) = spec.get_mut("ports") {
                for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                    if !p.contains_key("protocol") {
                        p.insert("protocol".into(), Value::from("TCP"));
                    }
                    if !p.contains_key("targetPort")
                        && let Some(port) = p.get("port").cloned()
                    {
                        p.insert("targetPort".into(), port);
                    }
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
    fn keyed_lists_merge_and_removals_apply() {
        let orig = json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}], "x": 1}});
        let desired = json!({"spec": {"containers": [{"name": "a", "image": "2"}]}});
        let live = json!({"spec": {"containers": [{"name": "a", "image": "1", "tty": true}, {"name": "b", "image": "1"}, {"name": "c"}], "x": 1, "y": 2}});
        let out = three_way_merge(Some(&orig), &desired, &live, ListMode::Strategic);
        assert_eq!(
            out,
            json!({"spec": {"containers": [{"name": "a", "image": "2", "tty": true}, {"name": "c"}], "y": 2}})
        );
    }

    #[test]
    fn atomic_lists_compare_pruned() {
        let desired = json!({"l": [{"a": 1}]});
        let live = json!({"l": [{"a": 1, "b": 2}]});
        assert_eq!(
            three_way_merge(None, &desired, &live, ListMode::Atomic),
            live
        );
        let changed = json!({"l": [{"a": 3}]});
        assert_eq!(
            three_way_merge(None, &changed, &live, ListMode::Atomic),
            changed
        );
    }
}
