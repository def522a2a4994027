//! The list generator: each element is one param set.

use serde_json::Value;

use crate::appset::error::AppSetError;
use crate::appset::params::ParamSet;
use crate::appset::render::RenderMode;

/// Params of a `list` generator spec. In flat mode every value must be a string and
/// `values: {k: v}` becomes `values.k`; in goTemplate mode elements are used as they are.
/// `elementsYaml` elements are appended after `elements`.
pub fn generate(spec: &Value, mode: RenderMode) -> Result<Vec<ParamSet>, AppSetError> {
    let mut out = Vec::new();
    let elements = spec
        .get("elements")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for el in &elements {
        let Value::Object(obj) = el else {
            return Err(AppSetError::invalid(format!(
                "error unmarshling list element: not an object: {el}"
            )));
        };
        if mode.go_template {
            out.push(obj.clone());
            continue;
        }
        let mut params = ParamSet::new();
        for (k, v) in obj {
            if k == "values" {
                let Value::Object(values) = v else {
                    return Err(AppSetError::invalid("error parsing values map"));
                };
                for (vk, vv) in values {
                    let Value::String(s) = vv else {
                        return Err(AppSetError::invalid(format!(
                            "error parsing value as string: values.{vk} is {vv}"
                        )));
                    };
                    params.insert(format!("values.{vk}"), Value::String(s.clone()));
                }
            } else {
                let Value::String(s) = v else {
                    return Err(AppSetError::invalid(format!(
                        "error parsing value as string: {k} is {v}"
                    )));
                };
                params.insert(k.clone(), Value::String(s.clone()));
            }
        }
        out.push(params);
    }
    if let Some(yaml) = spec
        .get("elementsYaml")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
    {
        let parsed: Value = strata_core::yaml::from_str(yaml)
            .map_err(|source| AppSetError::ElementsYaml { source })?;
        match parsed {
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::Object(m) => out.push(m),
                        other => {
                            return Err(AppSetError::invalid(format!(
                                "error unmarshling decoded ElementsYaml: element {other} is not an object"
                            )));
                        }
                    }
                }
            }
            Value::Null => {}
            _ => {
                return Err(AppSetError::invalid(
                    "error unmarshling decoded ElementsYaml: not a list",
                ));
            }
        }
    }
    Ok(out)
}
