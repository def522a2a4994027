//! `metadata.managedFields`: which field manager owns which field of a live object.
//!
//! A `fieldsV1` set is a tree of `f:<name>` (map field), `k:<json key>` (list item by key),
//! `v:<json value>` (set item), `i:<index>` entries; `.` marks the node itself as owned.

use serde_json::{Map, Value};

use crate::lookup::{field, member, values_equal};
use crate::merge::key_value;
use crate::path::{Segment, parse_pointer, to_pointer};

/// One step of a managed-fields path.
#[derive(Debug, Clone, PartialEq)]
pub enum PathElement {
    /// A map field.
    Field(String),
    /// A list item identified by its key fields.
    Key(Map<String, Value>),
    /// A set item identified by its value.
    Value(Value),
    /// A list item by index.
    Index(usize),
}

/// A path a manager owns; `node` is true for a `.` entry (the map or list item itself).
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedPath {
    /// The steps from the object root.
    pub path: Vec<PathElement>,
    /// Whether this entry owns the node itself rather than a leaf value.
    pub node: bool,
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagerEntry {
    /// The manager's name.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// The fields it owns.
    pub owned: Vec<OwnedPath>,
}

/// Reads every `metadata.managedFields` entry of a live object.
pub fn manager_entries(live: &Value) -> Vec<ManagerEntry> {
    let Some(Value::Array(entries)) = live.get("metadata").and_then(|m| m.get("managedFields"))
    else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|e| {
            let manager = e.get("manager")?.as_str()?.to_string();
            let operation = e
                .get("operation")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let mut owned = Vec::new();
            if let Some(fields) = e.get("fieldsV1") {
                collect(fields, &mut Vec::new(), &mut owned);
            }
            Some(ManagerEntry {
                manager,
                operation,
                owned,
            })
        })
        .collect()
}

fn parse_element(key: &str) -> Option<PathElement> {
    let (prefix, rest) = key.split_once(':')?;
    match prefix {
        "f" => Some(PathElement::Field(rest.to_string())),
        "k" => match serde_json::from_str(rest).ok()? {
            Value::Object(m) => Some(PathElement::Key(m)),
            _ => None,
        },
        "v" => serde_json::from_str(rest).ok().map(PathElement::Value),
        "i" => rest.parse().ok().map(PathElement::Index),
        _ => None,
    }
}

fn collect(node: &Value, prefix: &mut Vec<PathElement>, out: &mut Vec<OwnedPath>) {
    let Some(map) = node.as_object() else {
        return;
    };
    for (k, child) in map {
        if k == "." {
            out.push(OwnedPath {
                path: prefix.clone(),
                node: true,
            });
            continue;
        }
        let Some(elem) = parse_element(k) else {
            continue;
        };
        prefix.push(elem);
        let is_leaf = child.as_object().is_none_or(|m| m.is_empty());
        if is_leaf {
            out.push(OwnedPath {
                path: prefix.clone(),
                node: false,
            });
        } else {
            collect(child, prefix, out);
        }
        prefix.pop();
    }
}

/// Resolves a managed-fields path to concrete segments in `obj` (None when absent).
pub fn resolve(obj: &Value, path: &[PathElement]) -> Option<Vec<Segment>> {
    let mut cur = obj;
    let mut out = Vec::with_capacity(path.len());
    for elem in path {
        match elem {
            PathElement::Field(name) => {
                cur = cur.get(name.as_str())?;
                out.push(Segment::Key(name.clone()));
            }
            PathElement::Key(key) => {
                let items = cur.as_array()?;
                let i = items
                    .iter()
                    .position(|item| key.iter().all(|(kf, kv)| key_value(item, kf) == Some(kv)))?;
                cur = &items[i];
                out.push(Segment::Index(i));
            }
            PathElement::Value(v) => {
                let items = cur.as_array()?;
                let i = items.iter().position(|item| item == v)?;
                cur = &items[i];
                out.push(Segment::Index(i));
            }
            PathElement::Index(i) => {
                cur = cur.as_array()?.get(*i)?;
                out.push(Segment::Index(*i));
            }
        }
    }
    Some(out)
}

/// The value at concrete segments.
pub fn get_at<'a>(obj: &'a Value, path: &[Segment]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |cur, seg| match seg {
        Segment::Key(k) => cur.get(k.as_str()),
        Segment::Index(i) => cur.get(*i),
    })
}

/// Removes the value at concrete segments.
pub fn remove_at(obj: &mut Value, path: &[Segment]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for seg in parents {
        let next = match seg {
            Segment::Key(k) => cur.get_mut(k.as_str()),
            Segment::Index(i) => cur.get_mut(*i),
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match (cur, last) {
        (Value::Object(m), Segment::Key(k)) => {
            m.shift_remove(k);
        }
        (Value::Array(a), Segment::Index(i)) if *i < a.len() => {
            a.remove(*i);
        }
        _ => {}
    }
}

/// For every field owned by one of `managers` whose live value differs from the desired value,
/// removes the field from both objects (ArgoCD's `managedFieldsManagers`). Fields only added or
/// only removed are left alone. Returns `(live pointer, manager)` for every removed field.
pub fn remove_trusted_manager_fields(
    desired: &mut Value,
    live: &mut Value,
    managers: &[String],
) -> Vec<(String, String)> {
    if managers.is_empty() {
        return Vec::new();
    }
    let entries = manager_entries(live);
    let mut removals: Vec<(Vec<Segment>, Vec<Segment>)> = Vec::new();
    let mut removed = Vec::new();
    for e in entries.iter().filter(|e| managers.contains(&e.manager)) {
        for owned in e.owned.iter().filter(|o| !o.node) {
            let (Some(lp), Some(dp)) = (resolve(live, &owned.path), resolve(desired, &owned.path))
            else {
                continue;
            };
            if get_at(live, &lp) != get_at(desired, &dp) {
                removed.push((to_pointer(&lp), e.manager.clone()));
                removals.push((dp, lp));
            }
        }
    }
    removals.sort_by(|a, b| b.1.cmp(&a.1));
    for (dp, lp) in removals {
        remove_at(desired, &dp);
        remove_at(live, &lp);
    }
    removed
}

/// Removes from `predicted` the fields and list items `manager` owned in `live` that `desired`
/// no longer sets (what a server-side apply by that manager would drop).
pub fn remove_dropped_owned_fields(
    predicted: &mut Value,
    live: &Value,
    desired: &Value,
    manager: &str,
) {
    let entries = manager_entries(live);
    let mut removals: Vec<Vec<Segment>> = Vec::new();
    for e in entries
        .iter()
        .filter(|e| e.manager == manager && e.operation == "Apply")
    {
        for owned in &e.owned {
            if owned.path.is_empty() || resolve(desired, &owned.path).is_some() {
                continue;
            }
            if let Some(p) = resolve(predicted, &owned.path) {
                removals.push(p);
            }
        }
    }
    removals.sort();
    removals.dedup();
    removals.sort_by(|a, b| b.cmp(a));
    for p in removals {
        remove_at(predicted, &p);
    }
}

/// Which manager owns each leaf field of a live object, as `(JSON pointer, manager)` pairs.
pub fn owners(live: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in manager_entries(live) {
        for owned in e.owned.iter().filter(|o| !o.node) {
            if let Some(p) = resolve(live, &owned.path) {
                out.push((to_pointer(&p), e.manager.clone()));
            }
        }
    }
    out
}

/// The manager owning the field at `pointer` of `live`, or the closest owned ancestor of it,
/// as [`owner_of`] over [`owners`] tells, but following only that one path through each
/// manager's field set (nothing else is parsed or resolved). When several managers own the
/// same depth, the later entry wins.
pub fn owner_at<'a>(live: &'a Value, pointer: &str) -> Option<&'a str> {
    let tokens = parse_pointer(pointer)?;
    let entries = member(member(live, "metadata")?, "managedFields")?.as_array()?;
    let mut best: Option<(usize, &str)> = None;
    for entry in entries {
        let Some(manager) = member(entry, "manager").and_then(Value::as_str) else {
            continue;
        };
        let Some(fields) = member(entry, "fieldsV1") else {
            continue;
        };
        if let Some(depth) = owned_depth(fields, live, &tokens)
            && best.is_none_or(|(d, _)| depth >= d)
        {
            best = Some((depth, manager));
        }
    }
    best.map(|(_, manager)| manager)
}

/// How many leading tokens of the path lead to a leaf of the field set `fields` (`None` when no
/// prefix of the path is owned as a leaf).
fn owned_depth(fields: &Value, live: &Value, tokens: &[String]) -> Option<usize> {
    let mut node = fields.as_object()?;
    let mut cur = live;
    for (depth, token) in tokens.iter().enumerate() {
        let (child, next) = match cur {
            Value::Object(map) => {
                let next = field(map, token)?;
                let child = node
                    .iter()
                    .find(|(k, _)| k.strip_prefix("f:") == Some(token.as_str()))?
                    .1;
                (child, next)
            }
            Value::Array(items) => {
                let index: usize = token.parse().ok()?;
                let next = items.get(index)?;
                let child = node.iter().find(|(k, _)| names_item(k, items, index))?.1;
                (child, next)
            }
            _ => return None,
        };
        match child.as_object() {
            Some(children) if !children.is_empty() => node = children,
            _ => return Some(depth + 1),
        }
        cur = next;
    }
    None
}

/// Whether a field-set key (`k:`, `v:` or `i:`) resolves to item `index` of `items`.
fn names_item(key: &str, items: &[Value], index: usize) -> bool {
    let position = match parse_element(key) {
        Some(PathElement::Key(k)) => items
            .iter()
            .position(|item| k.iter().all(|(kf, kv)| key_value(item, kf) == Some(kv))),
        Some(PathElement::Value(v)) => items.iter().position(|item| values_equal(item, &v)),
        Some(PathElement::Index(i)) => Some(i),
        _ => None,
    };
    position == Some(index)
}

/// The manager owning `pointer` (or the closest owned ancestor of it).
pub fn owner_of<'a>(owners: &'a [(String, String)], pointer: &str) -> Option<&'a str> {
    owners
        .iter()
        .filter(|(p, _)| pointer == p || pointer.starts_with(&format!("{p}/")))
        .max_by_key(|(p, _)| p.len())
        .map(|(_, m)| m.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn trusted_manager_fields_removed_when_different() {
        let mut live = json!({"metadata": {"managedFields": [{"manager": "hpa", "operation": "Update",
            "fieldsV1": {"f:spec": {"f:replicas": {}, "f:paused": {}}}}]}, "spec": {"replicas": 5, "paused": false}});
        let mut desired = json!({"spec": {"replicas": 2, "paused": false}});
        remove_trusted_manager_fields(&mut desired, &mut live, &["hpa".to_string()]);
        assert_eq!(desired, json!({"spec": {"paused": false}}));
        assert!(live["spec"].get("replicas").is_none());
        assert_eq!(owner_of(&owners(&live), "/spec/paused"), Some("hpa"));
        assert_eq!(owner_at(&live, "/spec/paused"), Some("hpa"));
    }

    fn deployment() -> Value {
        json!({"metadata": {"labels": {"a/b": "x"}, "managedFields": [
            {"manager": "strata", "operation": "Apply", "fieldsV1": {
                "f:metadata": {"f:labels": {"f:a/b": {}}},
                "f:spec": {"f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:env": {}}}}}}}},
            {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {
                "f:spec": {"f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"app\"}": {"f:image": {}}}}}}}},
            {"manager": "hpa", "operation": "Update", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
         "spec": {"replicas": 3, "template": {"spec": {"containers": [
            {"name": "side", "image": "s"},
            {"name": "app", "image": "i", "env": [{"name": "A", "value": "1"}]}]}}}})
    }

    #[test]
    fn owner_at_follows_one_path_and_agrees_with_owners() {
        let live = deployment();
        let all = owners(&live);
        for pointer in [
            "/spec/replicas",
            "/spec/template/spec/containers/1/image",
            "/spec/template/spec/containers/1/env/0/value",
            "/spec/template/spec/containers/0/image",
            "/metadata/labels/a~1b",
            "/spec/template",
            "/nothing/here",
        ] {
            assert_eq!(
                owner_at(&live, pointer),
                owner_of(&all, pointer),
                "{pointer}"
            );
        }
        assert_eq!(
            owner_at(&live, "/spec/template/spec/containers/1/image"),
            Some("kubectl-edit")
        );
        assert_eq!(
            owner_at(&live, "/spec/template/spec/containers/1/env/0/value"),
            Some("strata")
        );
        assert_eq!(
            owner_at(&live, "/spec/template/spec/containers/0/image"),
            None
        );
    }
}
