//! The merge generator: a left join of later children onto the first, by merge keys.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::child_params;
use crate::appset::context::GeneratorContext;
use crate::appset::error::AppSetError;
use crate::appset::params::ParamSet;
use crate::appset::render::RenderMode;
use crate::appset::template::deep_merge_override;

/// Params of a `merge` generator spec: at least two children and one merge key; each child must
/// be unique on the merge keys (a missing key counts as null). Sets of later children override
/// the matching set of the first child (deep merge in goTemplate, shallow in flat mode); sets
/// with no match are dropped. The output keeps the first child's order (ArgoCD's is unspecified).
pub fn generate(
    spec: &Value,
    ctx: &GeneratorContext,
    mode: RenderMode,
) -> Result<Vec<ParamSet>, AppSetError> {
    let children = spec
        .get("generators")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if children.len() < 2 {
        return Err(AppSetError::invalid(
            "found less than two generators, Merge requires two or more",
        ));
    }
    let mut sets = Vec::with_capacity(children.len());
    for child in &children {
        sets.push(child_params(child, ctx, mode, None, "merge")?);
    }
    let keys: Vec<String> = spec
        .get("mergeKeys")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if keys.is_empty() {
        return Err(AppSetError::invalid(
            "no merge keys were specified, Merge requires at least one",
        ));
    }
    let mut base: Vec<(String, ParamSet)> = Vec::new();
    for p in &sets[0] {
        base.push((merge_key(&keys, p, mode)?, p.clone()));
    }
    check_unique(base.iter().map(|(k, _)| k))?;
    for later in &sets[1..] {
        let mut by_key: HashMap<String, &ParamSet> = HashMap::new();
        for p in later {
            let k = merge_key(&keys, p, mode)?;
            if by_key.insert(k.clone(), p).is_some() {
                return Err(not_unique(&k));
            }
        }
        for (k, set) in base.iter_mut() {
            if let Some(over) = by_key.get(k) {
                if mode.go_template {
                    let mut v = Value::Object(std::mem::take(set));
                    deep_merge_override(&mut v, &Value::Object((*over).clone()));
                    *set = v.as_object().cloned().unwrap_or_default();
                } else {
                    for (ok, ov) in over.iter() {
                        set.insert(ok.clone(), ov.clone());
                    }
                }
            }
        }
    }
    Ok(base.into_iter().map(|(_, p)| p).collect())
}

fn not_unique(key: &str) -> AppSetError {
    AppSetError::invalid(format!(
        "the parameters from a generator were not unique by the given mergeKeys, Merge requires all param sets to be unique. Duplicate key was {key}"
    ))
}

fn check_unique<'a>(keys: impl Iterator<Item = &'a String>) -> Result<(), AppSetError> {
    let mut seen = std::collections::HashSet::new();
    for k in keys {
        if !seen.insert(k) {
            return Err(not_unique(k));
        }
    }
    Ok(())
}

/// The JSON of `{key: value-or-null}` over the merge keys, with sorted keys (as Go marshals maps).
fn merge_key(keys: &[String], p: &ParamSet, mode: RenderMode) -> Result<String, AppSetError> {
    let mut m: BTreeMap<&str, Value> = BTreeMap::new();
    for k in keys {
        let v = match p.get(k) {
            Some(v) => v.clone(),
            None if mode.go_template => lookup_dotted(p, k).unwrap_or(Value::Null),
            None => Value::Null,
        };
        m.insert(k, v);
    }
    serde_json::to_string(&m).map_err(|source| AppSetError::MergeKey { source })
}

/// In goTemplate mode a merge key may name a nested param (`path.basename`).
fn lookup_dotted(p: &ParamSet, key: &str) -> Option<Value> {
    let mut parts = key.split('.');
    let mut cur = p.get(parts.next()?)?;
    for part in parts {
        cur = cur.get(part)?;
    }
    Some(cur.clone())
}
