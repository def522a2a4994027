//! Rendering strings and whole JSON documents against a parameter set, in either templating mode.

use serde_json::{Map, Value};

use super::error::AppSetError;
use super::fasttemplate;
use super::params::ParamSet;
use strata_gotemplate::{MissingKey, Template};

/// Which templating an ApplicationSet uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RenderMode {
    /// `spec.goTemplate: true`: Go text/template with Sprig; otherwise fasttemplate `{{key}}`.
    pub go_template: bool,
    /// `spec.goTemplateOptions` (`missingkey=...`).
    pub missing_key: MissingKey,
}

impl RenderMode {
    /// Reads `goTemplate` and `goTemplateOptions` from an ApplicationSet `spec`.
    pub fn from_spec(spec: &Value) -> Result<Self, AppSetError> {
        let go_template = spec
            .get("goTemplate")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let options: Vec<String> = spec
            .get("goTemplateOptions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let missing_key = MissingKey::from_options(&options)
            .map_err(|source| AppSetError::TemplateOption { source })?;
        Ok(RenderMode {
            go_template,
            missing_key,
        })
    }
}

/// Renders one string. In goTemplate mode the template is named `base`, and failures read
/// `failed to parse template T: ...` / `failed to execute go template T: ...` as in ArgoCD.
pub fn render_string(
    tmpl: &str,
    params: &ParamSet,
    mode: RenderMode,
) -> Result<String, AppSetError> {
    if !mode.go_template {
        return Ok(fasttemplate::replace(tmpl, params));
    }
    let t = Template::parse("base", tmpl).map_err(|source| AppSetError::TemplateParse {
        template: tmpl.to_owned(),
        source,
    })?;
    t.execute(&Value::Object(params.clone()), mode.missing_key)
        .map_err(|source| AppSetError::TemplateExecute {
            template: tmpl.to_owned(),
            source,
        })
}

/// Renders every string (and every map key) inside `v`. Other values are kept as they are.
pub fn render_value(v: &Value, params: &ParamSet, mode: RenderMode) -> Result<Value, AppSetError> {
    Ok(match v {
        Value::String(s) => Value::String(render_string(s, params, mode)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|e| render_value(e, params, mode))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, e) in m {
                out.insert(
                    render_string(k, params, mode)?,
                    render_value(e, params, mode)?,
                );
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// Adds a generator's `values` to its parameter set: each value is rendered once against the
/// params generated so far (so values cannot refer to other values), then stored as
/// `values.<key>` (flat) or under a `values` map (goTemplate).
pub fn append_values(
    values: Option<&Value>,
    params: &mut ParamSet,
    mode: RenderMode,
) -> Result<(), AppSetError> {
    let Some(Value::Object(values)) = values else {
        return Ok(());
    };
    let mut rendered = Vec::with_capacity(values.len());
    for (k, v) in values {
        let s = match v {
            Value::String(s) => s.clone(),
            other => {
                return Err(AppSetError::invalid(format!(
                    "values.{k} must be a string, got {other}"
                )));
            }
        };
        let r = render_string(&s, params, mode)
            .map_err(|e| e.context("failed to append templated values"))?;
        rendered.push((k.clone(), r));
    }
    if mode.go_template {
        let mut map = Map::new();
        for (k, v) in rendered {
            map.insert(k, Value::String(v));
        }
        params.insert("values".to_string(), Value::Object(map));
    } else {
        for (k, v) in rendered {
            params.insert(format!("values.{k}"), Value::String(v));
        }
    }
    Ok(())
}
