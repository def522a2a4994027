//! Turning a template plus one param set into an Application.

use serde_json::{Map, Value};

use super::error::AppSetError;
use super::params::ParamSet;
use super::render::{RenderMode, render_string, render_value};

/// Finalizer ArgoCD adds so that deleting an Application deletes its resources.
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
    }
}

/// mergo's `Merge` without override: empty fields of `dst` are filled from `src`, maps recursively.
pub fn deep_merge_fill(dst: &mut Value, src: &Value) {
    match (dst, src) {
        (Value::Object(d), Value::Object(s)) => {
            for (k, sv) in s {
                match d.get_mut(k) {
                    Some(dv) if dv.is_object() && sv.is_object() => deep_merge_fill(dv, sv),
                    Some(dv) if !is_empty(dv) => {}
                    _ => {
                        d.insert(k.clone(), sv.clone());
                    }
                }
            }
        }
        (d, s) => {
            if is_empty(d) {
                *d = s.clone();
            }
        }
    }
}

/// mergo's `Merge` with override: non-empty fields of `src` replace those of `dst`, maps recursively.
pub fn deep_merge_override(dst: &mut Value, src: &Value) {
    if let (Value::Object(d), Value::Object(s)) = (dst, src) {
        for (k, sv) in s {
            match d.get_mut(k) {
                Some(dv) if dv.is_object() && sv.is_object() => deep_merge_override(dv, sv),
                Some(_) if is_empty(sv) => {}
                _ => {
                    d.insert(k.clone(), sv.clone());
                }
            }
        }
    }
}

/// A generator's own template merged over the ApplicationSet template (the generator wins).
pub fn merge_template(generator_template: Option<&Value>, base: &Value) -> Value {
    let mut t = generator_template.cloned().unwrap_or(Value::Null);
    if t.is_null() {
        t = Value::Object(Map::new());
    }
    deep_merge_fill(&mut t, base);
    t
}

/// RFC 7386 JSON merge patch (`null` deletes; lists are replaced).
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Renders an ApplicationSet template (`metadata`, `spec`) with one param set into an
/// Application. With an empty param set the template is returned verbatim (as ArgoCD does).
/// Otherwise every string and map key is rendered, and the `resources-finalizer` is added when
/// the template has no finalizers and `syncPolicy.preserveResourcesOnDeletion` is not true.
pub fn render_application(
    template: &Value,
    params: &ParamSet,
    mode: RenderMode,
    sync_policy: Option<&Value>,
) -> Result<Value, AppSetError> {
    let mut app = Map::new();
    app.insert("apiVersion".into(), "argoproj.io/v1alpha1".into());
    app.insert("kind".into(), "Application".into());
    app.insert(
        "metadata".into(),
        template
            .get("metadata")
            .cloned()
            .filter(|v| !v.is_null())
            .unwrap_or(Value::Object(Map::new())),
    );
    app.insert(
        "spec".into(),
        template
            .get("spec")
            .cloned()
            .filter(|v| !v.is_null())
            .unwrap_or(Value::Object(Map::new())),
    );
    let app = Value::Object(app);
    if params.is_empty() {
        return Ok(app);
    }
    let mut rendered = render_value(&app, params, mode)?;
    let preserve = sync_policy
        .and_then(|p| p.get("preserveResourcesOnDeletion"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let has_finalizers = rendered["metadata"]
        .get("finalizers")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if !preserve
        && !has_finalizers
        && let Some(meta) = rendered.get_mut("metadata").and_then(Value::as_object_mut)
    {
        meta.insert(
            "finalizers".into(),
            Value::Array(vec![RESOURCES_FINALIZER.into()]),
        );
    }
    Ok(rendered)
}

/// Renders `templatePatch` with the param set and merges the resulting YAML/JSON into `app`.
pub fn apply_template_patch(
    app: &mut Value,
    patch: &str,
    params: &ParamSet,
    mode: RenderMode,
) -> Result<(), AppSetError> {
    let rendered = render_string(patch, params, mode)?;
    if rendered.trim().is_empty() {
        return Ok(());
    }
    let value: Value = strata_core::yaml::from_str(&rendered)
        .map_err(|source| AppSetError::TemplatePatch { source })?;
    merge_patch(app, &value);
    Ok(())
}
