//! The generators (list, clusters, git, matrix, merge) and the per-generator pipeline
//! (`Transform`): merge the generator's template into the ApplicationSet's, interpolate the
//! generator with a parent's params (matrix), generate, then filter with the `selector`.

pub mod clusters;
pub mod git;
pub mod list;
pub mod matrix;
pub mod merge;

use serde_json::Value;

use super::context::GeneratorContext;
use super::error::AppSetError;
use super::params::{ParamSet, string_values};
use super::render::{RenderMode, render_string};
use super::selector::LabelSelector;
use super::template::merge_template;
use strata_gotemplate::MissingKey;

/// Generator kinds ArgoCD knows, in its field order.
const KNOWN_KINDS: &[&str] = &[
    "list",
    "clusters",
    "git",
    "scmProvider",
    "clusterDecisionResource",
    "pullRequest",
    "matrix",
    "merge",
    "plugin",
];

/// Output of one generator: its param sets and the template it renders them into.
#[derive(Debug, Clone, PartialEq)]
pub struct Transformed {
    /// Which generator produced this (`list`, `git`, ...).
    pub kind: String,
    /// The param sets, after the selector.
    pub params: Vec<ParamSet>,
    /// The ApplicationSet template with the generator's own template merged over it.
    pub template: Value,
}

/// The generator kinds set in one generator entry.
pub fn generator_kinds(generator: &Value) -> Result<Vec<&'static str>, AppSetError> {
    let Some(obj) = generator.as_object() else {
        return Err(AppSetError::invalid("generator must be an object"));
    };
    for key in obj.keys() {
        if key != "selector" && !KNOWN_KINDS.contains(&key.as_str()) {
            return Err(AppSetError::invalid(format!("unknown generator {key:?}")));
        }
    }
    Ok(KNOWN_KINDS
        .iter()
        .copied()
        .filter(|k| obj.get(*k).is_some_and(|v| !v.is_null()))
        .collect())
}

/// Runs every generator kind set in `generator` (normally one).
pub fn transform(
    generator: &Value,
    ctx: &GeneratorContext,
    mode: RenderMode,
    base_template: &Value,
    parent: Option<&ParamSet>,
) -> Result<Vec<Transformed>, AppSetError> {
    let kinds = generator_kinds(generator)?;
    let selector_value = generator.get("selector").filter(|v| !v.is_null());
    let selector = LabelSelector::from_value(selector_value)?;
    let interpolated = match parent {
        Some(p) if !p.is_empty() => interpolate_generator(generator, p, mode)?,
        _ => generator.clone(),
    };
    let mut out = Vec::new();
    for kind in kinds {
        let spec = &interpolated[kind];
        let template = merge_template(spec.get("template"), base_template);
        let params = match kind {
            "list" => list::generate(spec, mode)?,
            "clusters" => clusters::generate(spec, ctx, mode)?,
            "git" => git::generate(spec, ctx, mode)
                .map_err(|e| e.context("error generating params from git"))?,
            "matrix" => matrix::generate(spec, ctx, mode)?,
            "merge" => merge::generate(spec, ctx, mode)?,
            other => {
                return Err(AppSetError::invalid(format!(
                    "generator {other:?} is not supported by Strata"
                )));
            }
        };
        let params = match selector_value {
            Some(_) => params
                .into_iter()
                .filter(|p| selector.matches(&string_values(p)))
                .collect(),
            None => params,
        };
        out.push(Transformed {
            kind: kind.to_string(),
            params,
            template,
        });
    }
    Ok(out)
}

/// Params of one child of a matrix or merge generator: it must hold exactly one generator.
pub(crate) fn child_params(
    child: &Value,
    ctx: &GeneratorContext,
    mode: RenderMode,
    parent: Option<&ParamSet>,
    owner: &str,
) -> Result<Vec<ParamSet>, AppSetError> {
    let kinds = generator_kinds(child)?;
    if kinds.is_empty() {
        return Err(AppSetError::invalid(
            "child generator generated no parameters",
        ));
    }
    if kinds.len() > 1 {
        return Err(AppSetError::invalid(format!(
            "found more than one generator in {owner}.Generators"
        )));
    }
    let mut t = transform(child, ctx, mode, &Value::Null, parent)
        .map_err(|e| e.context("child generator returned an error on parameter generation"))?;
    Ok(t.pop().map(|t| t.params).unwrap_or_default())
}

/// Renders a (matrix second child) generator with the first child's params. In goTemplate mode a
/// missing key is an error, except inside `values` and the child's own `template`, which keep
/// their literal text (values are rendered later against the child's own params).
fn interpolate_generator(
    generator: &Value,
    params: &ParamSet,
    mode: RenderMode,
) -> Result<Value, AppSetError> {
    let strict = RenderMode {
        go_template: mode.go_template,
        missing_key: if mode.go_template {
            MissingKey::Error
        } else {
            mode.missing_key
        },
    };
    fn walk(
        v: &Value,
        params: &ParamSet,
        mode: RenderMode,
        in_values: bool,
    ) -> Result<Value, AppSetError> {
        Ok(match v {
            Value::String(s) => match render_string(s, params, mode) {
                Ok(r) => Value::String(r),
                Err(_) if in_values => Value::String(s.clone()),
                Err(e) => return Err(e.context("failed to replace parameters in generator")),
            },
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|e| walk(e, params, mode, in_values))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => {
                let mut out = serde_json::Map::new();
                for (k, e) in m {
                    let key = if in_values {
                        k.clone()
                    } else {
                        render_string(k, params, mode)?
                    };
                    out.insert(
                        key,
                        walk(
                            e,
                            params,
                            mode,
                            in_values || k == "values" || k == "template",
                        )?,
                    );
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
    walk(generator, params, strict, false)
}
