//! The matrix generator: the cartesian product of two children, the second re-rendered with
//! each param set of the first.

use serde_json::Value;

use super::child_params;
use crate::appset::context::GeneratorContext;
use crate::appset::error::AppSetError;
use crate::appset::params::ParamSet;
use crate::appset::render::RenderMode;
use crate::appset::template::deep_merge_fill;

/// Params of a `matrix` generator spec (exactly two children). Flat mode fails when both
/// children set the same key to different values; goTemplate deep-merges with the first child
/// winning.
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
            "found less than two generators, Matrix support only two",
        ));
    }
    if children.len() > 2 {
        return Err(AppSetError::invalid(
            "found more than two generators, Matrix support only two",
        ));
    }
    let first = child_params(&children[0], ctx, mode, None, "matrix")?;
    let mut out = Vec::new();
    for prev in &first {
        let second = child_params(&children[1], ctx, mode, Some(prev), "matrix").map_err(|e| {
            e.context("failed to get params for generator 1 in the matrix generator")
        })?;
        for cur in second {
            if mode.go_template {
                let mut merged = Value::Object(prev.clone());
                deep_merge_fill(&mut merged, &Value::Object(cur));
                out.push(merged.as_object().cloned().unwrap_or_default());
            } else {
                out.push(combine_string_maps(prev, &cur).map_err(|e| {
                    e.context("failed to combine string maps with merging params for the matrix generator")
                })?);
            }
        }
    }
    Ok(out)
}

/// ArgoCD's `CombineStringMaps`: the union of two flat param sets; the same key with different
/// values is an error.
pub fn combine_string_maps(a: &ParamSet, b: &ParamSet) -> Result<ParamSet, AppSetError> {
    let mut out = a.clone();
    for (k, bv) in b {
        match a.get(k) {
            Some(av) if av != bv => {
                let show = |v: &Value| {
                    v.as_str()
                        .map(String::from)
                        .unwrap_or_else(|| v.to_string())
                };
                return Err(AppSetError::invalid(format!(
                    "found duplicate key {k} with different value, a: {} ,b: {}",
                    show(av),
                    show(bv)
                )));
            }
            _ => {
                out.insert(k.clone(), bv.clone());
            }
        }
    }
    Ok(out)
}
