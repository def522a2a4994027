//! Strategic-merge patches as kustomize applies them (kyaml's `merge2`, lists growing at the
//! front): maps merge, `null` deletes, scalars replace, and a list merges element by element
//! only where the built-in kind's schema gives it merge keys ([`super::schema`]); every other
//! list — including every list of a custom resource — is replaced by the patch's.
//!
//! `$patch: delete|replace|merge` directives are honoured on maps, list elements, lists and
//! whole resources; the other directives (`$setElementOrder`, `$retainKeys`,
//! `$deleteFromPrimitiveList`) are errors naming them.

use serde_json::{Map, Value};

use super::patch::PatchError;
use super::schema::{ListStrategy, list_strategy};
use super::str_at;

/// What a strategic-merge patch left of its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Merged {
    /// The target, patched.
    Kept,
    /// The patch deleted the whole resource (`$patch: delete` at its top).
    Deleted,
}

const DIRECTIVE: &str = "$patch";

struct Kind<'a> {
    group: &'a str,
    kind: &'a str,
}

/// Applies a strategic-merge patch to `target` as `kustomize build` does. Lists merge only
/// where the target's built-in kind has merge keys for them (containers and env by `name`,
/// `volumeMounts` by `mountPath`, container ports by `containerPort` and protocol, Service
/// ports by `port` and protocol, …); elements the patch names come first, in its order, then
/// the target's other elements. Lists of custom resources are replaced.
pub fn merge_patch(target: &mut Value, patch: &Value) -> Result<Merged, PatchError> {
    let api = str_at(target, &["apiVersion"]).to_string();
    let kind = str_at(target, &["kind"]).to_string();
    let ctx = Kind {
        group: strata_core::model::group_of(&api),
        kind: &kind,
    };
    let current = target.clone();
    match merge_value(&ctx, &mut Vec::new(), Some(current), patch)? {
        Some(v) => {
            *target = v;
            Ok(Merged::Kept)
        }
        None => Ok(Merged::Deleted),
    }
}

fn directive(v: &str) -> Result<&str, PatchError> {
    match v {
        "delete" | "replace" | "merge" => Ok(v),
        other => Err(PatchError::UnsupportedDirective(format!(
            "{DIRECTIVE}: {other}"
        ))),
    }
}

/// Merges `patch` into `target` (absent when `None`); `None` back means the field goes.
fn merge_value<'p>(
    ctx: &Kind<'_>,
    path: &mut Vec<&'p str>,
    target: Option<Value>,
    patch: &'p Value,
) -> Result<Option<Value>, PatchError> {
    match patch {
        Value::Object(p) => merge_map(ctx, path, target, p),
        Value::Array(p) => merge_list(ctx, path, target, p),
        Value::Null => Ok(None),
        scalar => Ok(Some(scalar.clone())),
    }
}

fn merge_map<'p>(
    ctx: &Kind<'_>,
    path: &mut Vec<&'p str>,
    target: Option<Value>,
    patch: &'p Map<String, Value>,
) -> Result<Option<Value>, PatchError> {
    let mode = match patch.get(DIRECTIVE) {
        None => "merge",
        Some(Value::String(s)) => directive(s)?,
        Some(other) => {
            return Err(PatchError::UnsupportedDirective(format!(
                "{DIRECTIVE}: {other}"
            )));
        }
    };
    let mut t = match (mode, target) {
        ("delete", _) => return Ok(None),
        ("merge", Some(Value::Object(m))) => m,
        _ => Map::new(),
    };
    for (k, v) in patch {
        if k == DIRECTIVE {
            continue;
        }
        if k.starts_with('$') {
            return Err(PatchError::UnsupportedDirective(k.clone()));
        }
        path.push(k);
        let merged = merge_value(ctx, path, t.get(k).cloned(), v);
        path.pop();
        match merged? {
            Some(v) => {
                t.insert(k.clone(), v);
            }
            None => {
                t.shift_remove(k);
            }
        }
    }
    Ok(Some(Value::Object(t)))
}

/// A list element that is only a directive (`- $patch: replace`).
fn list_directive(e: &Value) -> Option<&str> {
    let m = e.as_object()?;
    if m.len() != 1 {
        return None;
    }
    m.get(DIRECTIVE)?.as_str()
}

fn key_values(e: &Value, keys: &[&str]) -> Vec<Option<String>> {
    keys.iter()
        .map(|k| match e.get(*k) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
        })
        .collect()
}

/// kyaml's matching of list-map keys: no key differs, and at least one is equal.
fn same_element(a: &[Option<String>], b: &[Option<String>]) -> bool {
    let mut common = false;
    for (x, y) in a.iter().zip(b) {
        match (x, y) {
            (Some(x), Some(y)) if x == y => common = true,
            (Some(_), Some(_)) => return false,
            _ => {}
        }
    }
    common
}

fn merge_list<'p>(
    ctx: &Kind<'_>,
    path: &mut Vec<&'p str>,
    target: Option<Value>,
    patch: &'p [Value],
) -> Result<Option<Value>, PatchError> {
    let strategy = list_strategy(ctx.group, ctx.kind, path);
    let keys = match strategy {
        ListStrategy::Replace => return Ok(Some(Value::Array(patch.to_vec()))),
        ListStrategy::Primitive => {
            let mut out: Vec<Value> = Vec::new();
            let old = match target {
                Some(Value::Array(t)) => t,
                _ => Vec::new(),
            };
            for v in patch.iter().chain(old.iter()) {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            return Ok(Some(Value::Array(out)));
        }
        ListStrategy::Keys(keys) => keys,
    };
    let mut mode = "merge";
    let mut elements: Vec<&'p Value> = Vec::with_capacity(patch.len());
    for e in patch {
        match list_directive(e) {
            Some(d) => mode = directive(d)?,
            None => elements.push(e),
        }
    }
    let old = match (mode, target) {
        ("delete", _) => return Ok(None),
        ("merge", Some(Value::Array(t))) => t,
        _ => Vec::new(),
    };
    let old_keys: Vec<Vec<Option<String>>> = old.iter().map(|e| key_values(e, keys)).collect();
    let mut used = vec![false; old.len()];
    let mut out = Vec::with_capacity(old.len() + elements.len());
    let mut keyless = Vec::new();
    for pe in elements {
        let pk = key_values(pe, keys);
        if pk.iter().all(Option::is_none) {
            keyless.push(pe);
            continue;
        }
        let at = (0..old.len()).find(|&i| !used[i] && same_element(&old_keys[i], &pk));
        let base = at.map(|i| {
            used[i] = true;
            old[i].clone()
        });
        if let Some(v) = merge_value(ctx, path, base, pe)? {
            out.push(v);
        }
    }
    for (i, e) in old.into_iter().enumerate() {
        if !used[i] {
            out.push(e);
        }
    }
    for pe in keyless {
        if let Some(v) = merge_value(ctx, path, None, pe)? {
            out.push(v);
        }
    }
    Ok(Some(Value::Array(out)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn custom_resource_lists_are_replaced_not_merged_by_name() {
        let mut t = json!({"apiVersion": "example.org/v1", "kind": "Pipeline",
            "metadata": {"name": "p"},
            "spec": {"steps": [{"name": "a", "v": 1}, {"name": "b", "v": 2}]}});
        merge_patch(
            &mut t,
            &json!({"spec": {"steps": [{"name": "a", "v": 10}]}}),
        )
        .unwrap();
        assert_eq!(t["spec"]["steps"], json!([{"name": "a", "v": 10}]));
    }

    #[test]
    fn built_in_lists_merge_by_key_with_patch_elements_first() {
        let mut t = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"template": {"spec": {
                "containers": [{"name": "a", "image": "x", "args": ["1"],
                                "env": [{"name": "A", "value": "1"}]},
                               {"name": "b", "image": "y"}],
                "tolerations": [{"key": "k"}]}}}});
        merge_patch(
            &mut t,
            &json!({"spec": {"template": {"spec": {
                "containers": [{"name": "b", "image": "z"},
                               {"name": "a", "args": ["2"], "env": [{"name": "B", "value": "2"}]}],
                "tolerations": [{"key": "z"}]}}}}),
        )
        .unwrap();
        let spec = &t["spec"]["template"]["spec"];
        assert_eq!(
            spec["containers"],
            json!([{"name": "b", "image": "z"},
                   {"name": "a", "image": "x", "args": ["2"],
                    "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]}])
        );
        assert_eq!(spec["tolerations"], json!([{"key": "z"}]));
    }

    #[test]
    fn directives_delete_and_replace() {
        let mut t = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"a": "1", "b": "2"}},
            "spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}});
        merge_patch(
            &mut t,
            &json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}},
                    "spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}}}),
        )
        .unwrap();
        assert_eq!(t["metadata"]["labels"], json!({"c": "3"}));
        assert_eq!(
            t["spec"]["template"]["spec"]["containers"],
            json!([{"name": "b"}])
        );
        let merged = merge_patch(&mut t, &json!({"$patch": "delete"})).unwrap();
        assert_eq!(merged, Merged::Deleted);
        let mut t = json!({"kind": "ConfigMap"});
        assert!(merge_patch(&mut t, &json!({"$setElementOrder/x": []})).is_err());
    }
}
