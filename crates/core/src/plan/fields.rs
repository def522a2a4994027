//! Field-level comparison of a desired object with a live one.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One field that differs between desired and live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The field's path in the readable form of [`crate::field_path`]
    /// (`spec.forProvider.region`, `spec.ports[0].port`,
    /// `metadata.labels["app.kubernetes.io/name"]`); the plan's JSON gives its pointer.
    pub path: String,
    /// The live value (`None` when absent).
    pub before: Option<Value>,
    /// The desired value (`None` when the field is removed).
    pub after: Option<Value>,
    /// Whether changing this field forces replacement.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forces_replacement: bool,
}

/// Fields set in `desired` whose live value differs (fields only in `live` are not changes:
/// the server and other managers own them).
pub fn desired_vs_live(desired: &Value, live: &Value) -> Vec<FieldChange> {
    // The common case, nothing to change, is answered without building any path.
    if covers(desired, live, true) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut path = String::new();
    walk_desired(desired, Some(live), &mut path, &mut out, true);
    out
}

/// Fields present in `last_applied` but no longer in `desired`, that still exist in `live`:
/// removing them from Git is a change to apply.
pub fn removed_fields(last_applied: &Value, desired: &Value, live: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let mut path = String::new();
    walk_removed(
        last_applied,
        Some(desired),
        Some(live),
        &mut path,
        &mut out,
        true,
    );
    out
}

fn push_segment(path: &mut String, key: &str) {
    crate::field_path::push_key(path, key);
}

fn walk_desired(
    desired: &Value,
    live: Option<&Value>,
    path: &mut String,
    out: &mut Vec<FieldChange>,
    top: bool,
) {
    match (desired, live) {
        (Value::Object(d), Some(Value::Object(l))) => {
            for (k, v) in d {
                if top && k == "status" {
                    continue;
                }
                let len = path.len();
                push_segment(path, k);
                walk_desired(v, l.get(k), path, out, false);
                path.truncate(len);
            }
        }
        (d, Some(l)) if values_equal(d, l) => {}
        (Value::Null, None) => {}
        (d, l) => out.push(FieldChange {
            path: path.clone(),
            before: l.cloned(),
            after: Some(d.clone()),
            forces_replacement: false,
        }),
    }
}

/// Whether every field set in `desired` has its value in `live` ([`walk_desired`] would find
/// no change), without building paths.
pub(crate) fn covers(desired: &Value, live: &Value, top: bool) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => {
            let mut aligned = l.iter();
            d.iter().all(|(k, v)| {
                let found = field_of(&mut aligned, l, k);
                if top && k == "status" {
                    return true;
                }
                match found {
                    Some(w) => covers(v, w, false),
                    None => v.is_null(),
                }
            })
        }
        (d, l) => values_equal(d, l),
    }
}

/// The value of `key` in `map`, read first from `aligned`, an iterator over `map` kept in step
/// with the other object's fields: objects made from one another (a live object from its
/// manifest, a record from what was applied) mostly keep one field order, which spares the
/// hashing of a lookup.
#[inline]
fn field_of<'a>(
    aligned: &mut serde_json::map::Iter<'a>,
    map: &'a serde_json::Map<String, Value>,
    key: &str,
) -> Option<&'a Value> {
    match aligned.next() {
        Some((k, v)) if k == key => Some(v),
        _ => crate::object::field(map, key),
    }
}

fn walk_removed(
    last: &Value,
    desired: Option<&Value>,
    live: Option<&Value>,
    path: &mut String,
    out: &mut Vec<FieldChange>,
    top: bool,
) {
    let Some(live) = live else {
        return;
    };
    match (last, desired) {
        (Value::Object(last_map), Some(Value::Object(d))) => {
            for (k, v) in last_map {
                if top && k == "status" {
                    continue;
                }
                let len = path.len();
                push_segment(path, k);
                walk_removed(v, d.get(k), live.get(k), path, out, false);
                path.truncate(len);
            }
        }
        (Value::Array(last_items), Some(Value::Array(desired_items)))
            if drops_elements(last_items, desired_items) =>
        {
            // Elements Git dropped from a list: the live list (seen through the last applied
            // one, so it still holds them) becomes the desired one.
            out.push(FieldChange {
                path: path.clone(),
                before: Some(live.clone()),
                after: Some(Value::Array(desired_items.clone())),
                forces_replacement: false,
            });
        }
        (_, Some(_)) => {}
        (_, None) => out.push(FieldChange {
            path: path.clone(),
            before: Some(live.clone()),
            after: None,
            forces_replacement: false,
        }),
    }
}

/// Adds to `change`'s `before` list the elements of `removal`'s `before` it lacks (matched by
/// `name`, else by position): a list change computed against live seen in Git's shape shows
/// the elements Git dropped too.
pub fn add_dropped_elements(change: &mut FieldChange, removal: &FieldChange) {
    let (Some(Value::Array(before)), Some(Value::Array(dropped))) =
        (change.before.as_mut(), removal.before.as_ref())
    else {
        return;
    };
    let name = |v: &Value| v.get("name").and_then(Value::as_str).map(str::to_owned);
    for (index, element) in dropped.iter().enumerate() {
        let present = match name(element) {
            Some(n) => before
                .iter()
                .any(|b| name(b).as_deref() == Some(n.as_str())),
            None => index < before.len(),
        };
        if !present {
            before.push(element.clone());
        }
    }
}

/// Whether going from the `last` applied list to the `desired` one drops elements: for lists
/// of named objects (containers, ports, volumes, env …) a name that is no longer there;
/// otherwise fewer elements.
fn drops_elements(last: &[Value], desired: &[Value]) -> bool {
    let name = |v: &Value| v.get("name").and_then(Value::as_str).map(str::to_owned);
    let last_names: Option<Vec<String>> = last.iter().map(name).collect();
    let desired_names: Option<Vec<String>> = desired.iter().map(name).collect();
    match (last_names, desired_names) {
        (Some(last_names), Some(desired_names)) if !last.is_empty() => last_names
            .iter()
            .any(|n| !desired_names.iter().any(|d| d == n)),
        _ => last.len() > desired.len(),
    }
}

/// JSON equality where numbers compare by value (`4` equals `4.0`).
pub fn values_equal(a: &Value, b: &Value) -> bool {
    if std::ptr::eq(a, b) {
        return true;
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            if x.len() != y.len() {
                return false;
            }
            let mut aligned = y.iter();
            x.iter()
                .all(|(k, v)| field_of(&mut aligned, y, k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

/// Numbers are equal when they are the same number, whatever their representation (`1` and
/// `1.0`).
pub(crate) fn numbers_equal(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    a == b || matches!((a.as_f64(), b.as_f64()), (Some(p), Some(q)) if p == q)
}

/// Whether `path` is `prefix` or lies below it.
pub fn path_within(path: &str, prefix: &str) -> bool {
    path == prefix
        || (path.starts_with(prefix)
            && matches!(path.as_bytes().get(prefix.len()), Some(b'.' | b'[')))
}

/// Every leaf of `value` as `(path, value)` pairs, for showing a whole object being created or
/// destroyed.
pub fn leaves(value: &Value) -> Vec<(String, Value)> {
    fn walk(v: &Value, path: &mut String, out: &mut Vec<(String, Value)>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, child) in m {
                    let len = path.len();
                    push_segment(path, k);
                    walk(child, path, out);
                    path.truncate(len);
                }
            }
            other => out.push((path.clone(), other.clone())),
        }
    }
    let mut out = Vec::new();
    walk(value, &mut String::new(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_desired_fields_count() {
        let d = json!({"spec": {"a": 1, "b": {"c": "x"}}});
        let l = json!({"spec": {"a": 1.0, "b": {"c": "y"}, "extra": true}, "status": {}});
        let changes = desired_vs_live(&d, &l);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path, "spec.b.c");
        assert_eq!(changes[0].before, Some(json!("y")));
    }

    #[test]
    fn field_order_does_not_matter() {
        // Same fields, another order (as an API server returns them), and a top-level status
        // only in live: nothing changes.
        let d = json!({"metadata": {"name": "a", "labels": {"x": "1", "y": "2"}},
            "data": {"k": "v", "n": 4}});
        let l = json!({"status": {"phase": "Bound"}, "data": {"n": 4.0, "k": "v"},
            "metadata": {"labels": {"y": "2", "x": "1"}, "name": "a", "uid": "u"}});
        assert!(desired_vs_live(&d, &l).is_empty());
        assert!(values_equal(
            &d["metadata"]["labels"],
            &l["metadata"]["labels"]
        ));
        // A difference after a reordered field is still found, with its path.
        let l2 = json!({"data": {"n": 4, "k": "w"}, "metadata": {"labels": {"y": "2", "x": "1"},
            "name": "a"}});
        let changes = desired_vs_live(&d, &l2);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path, "data.k");
        assert!(!values_equal(&d["data"], &l2["data"]));
        // A desired null matches a missing field; a desired value does not.
        assert!(desired_vs_live(&json!({"a": null}), &json!({})).is_empty());
        assert_eq!(desired_vs_live(&json!({"a": 1}), &json!({})).len(), 1);
    }

    #[test]
    fn removed_fields_are_found_three_way() {
        let last = json!({"spec": {"a": 1, "gone": 2}});
        let d = json!({"spec": {"a": 1}});
        let l = json!({"spec": {"a": 1, "gone": 2}});
        let r = removed_fields(&last, &d, &l);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].path, "spec.gone");
        assert_eq!(r[0].after, None);
    }

    #[test]
    fn list_elements_git_dropped_are_removals() {
        let last = json!({"spec": {"containers": [
            {"name": "web", "image": "nginx:1"}, {"name": "sidecar", "image": "envoy:1"}],
            "args": ["a", "b"]}});
        let d = json!({"spec": {"containers": [{"name": "web", "image": "nginx:1"}],
            "args": ["a"]}});
        let r = removed_fields(&last, &d, &last);
        let paths: Vec<&str> = r.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["spec.containers", "spec.args"]);
        assert_eq!(r[0].before, Some(last["spec"]["containers"].clone()));
        assert_eq!(r[0].after, Some(d["spec"]["containers"].clone()));
        // Renamed, reordered or grown lists drop nothing by name or length.
        let grown = json!({"spec": {"containers": [
            {"name": "sidecar", "image": "envoy:2"}, {"name": "web", "image": "nginx:1"},
            {"name": "extra"}], "args": ["b", "a"]}});
        assert!(removed_fields(&last, &grown, &last).is_empty());
        let renamed = json!({"spec": {"containers": [
            {"name": "web"}, {"name": "proxy"}], "args": ["a", "b"]}});
        let r = removed_fields(&last, &renamed, &last);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].path, "spec.containers");
    }

    #[test]
    fn path_prefixes() {
        assert!(path_within(
            "spec.selector.matchLabels.app",
            "spec.selector"
        ));
        assert!(!path_within("spec.selectorX", "spec.selector"));
        assert!(path_within("spec.selector", "spec.selector"));
    }
}
