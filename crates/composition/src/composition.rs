//! Compositions: `mode: Pipeline` with patch-and-transform steps and legacy
//! `mode: Resources` (converted the way `crossplane beta convert` does, with the legacy
//! CRD defaults), composition selection, and rendering a composite through one.

use crate::error::{Error, Result};
use crate::function::FunctionInput;
use crate::render::{DesiredComposed, RenderOptions, RenderOutput, RenderRequest, render};
use serde_json::{Map, Value, json};

/// A parsed composition.
#[derive(Debug, Clone)]
pub struct Composition {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`.
    pub labels: Map<String, Value>,
    /// `spec.compositeTypeRef.apiVersion`.
    pub composite_api_version: String,
    /// `spec.compositeTypeRef.kind`.
    pub composite_kind: String,
    /// The patch-and-transform steps, in pipeline order.
    pub steps: Vec<FunctionInput>,
    /// Names of pipeline steps that are not patch-and-transform (not run).
    pub skipped_steps: Vec<String>,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        match cur.get(*p) {
            Some(n) => cur = n,
            None => return "",
        }
    }
    cur.as_str().unwrap_or("")
}

fn is_pt_input(input: &Value) -> bool {
    str_at(input, &["kind"]) == "Resources"
        && str_at(input, &["apiVersion"]).starts_with("pt.fn.crossplane.io/")
}

impl Composition {
    /// Parses a Composition (either mode). Invalid inputs are `validation` errors.
    pub fn parse(v: &Value) -> Result<Composition> {
        if str_at(v, &["kind"]) != "Composition" {
            return Err(Error::Validation("not a Composition".into()));
        }
        let spec = v.get("spec").cloned().unwrap_or_else(|| json!({}));
        let mode = match str_at(&spec, &["mode"]) {
            "" => {
                if spec.get("pipeline").is_some() {
                    "Pipeline"
                } else {
                    "Resources"
                }
            }
            m => m,
        };
        let mut steps = Vec::new();
        let mut skipped_steps = Vec::new();
        match mode {
            "Pipeline" => {
                for step in spec
                    .get("pipeline")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let input = step.get("input").cloned().unwrap_or(Value::Null);
                    if is_pt_input(&input) {
                        steps.push(FunctionInput::parse(&input)?);
                    } else {
                        skipped_steps.push(str_at(step, &["step"]).to_string());
                    }
                }
            }
            "Resources" => steps.push(FunctionInput::parse(&legacy_to_function_input(&spec))?),
            other => {
                return Err(Error::Validation(format!(
                    "spec.mode: Unsupported value: {other:?}"
                )));
            }
        }
        Ok(Composition {
            name: str_at(v, &["metadata", "name"]).to_string(),
            labels: v
                .get("metadata")
                .and_then(|m| m.get("labels"))
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            composite_api_version: str_at(&spec, &["compositeTypeRef", "apiVersion"]).to_string(),
            composite_kind: str_at(&spec, &["compositeTypeRef", "kind"]).to_string(),
            steps,
            skipped_steps,
        })
    }

    /// Whether the composition is for this composite's type.
    pub fn matches_type(&self, composite: &Value) -> bool {
        str_at(composite, &["apiVersion"]) == self.composite_api_version
            && str_at(composite, &["kind"]) == self.composite_kind
    }

    /// Renders a request through every patch-and-transform step in order, each step's
    /// desired state feeding the next. Errors are fatal.
    pub fn render(&self, req: &RenderRequest, opts: RenderOptions) -> Result<RenderOutput> {
        let mut current = req.clone();
        let mut last: Option<RenderOutput> = None;
        let mut warnings = Vec::new();
        let mut explain = Vec::new();
        for step in &self.steps {
            let out = render(step, &current, opts).map_err(Error::into_fatal)?;
            current.desired = out
                .resources
                .iter()
                .map(|r| {
                    (
                        r.name.clone(),
                        DesiredComposed {
                            resource: r.resource.clone(),
                            ready: Some(r.ready),
                        },
                    )
                })
                .collect();
            current.desired_composite = out.composite.clone();
            current.desired_connection_details = out.composite_connection_details.clone();
            current.environment = Some(out.environment.clone());
            warnings.extend(out.warnings.iter().cloned());
            explain.extend(out.explain.iter().cloned());
            last = Some(out);
        }
        let Some(mut out) = last else {
            return Err(Error::Fatal(format!(
                "composition {} has no patch-and-transform step",
                self.name
            )));
        };
        out.warnings = warnings;
        out.explain = explain;
        Ok(out)
    }
}

/// Chooses the composition for a composite: `spec.compositionRef.name`, else
/// `spec.compositionSelector.matchLabels` (first match by name), else the default name.
pub fn select_composition<'a>(
    composite: &Value,
    compositions: &'a [Composition],
    default_composition: Option<&str>,
) -> Result<&'a Composition> {
    let candidates: Vec<&Composition> = compositions
        .iter()
        .filter(|c| c.matches_type(composite))
        .collect();
    let by_name = |name: &str| -> Result<&'a Composition> {
        candidates
            .iter()
            .copied()
            .find(|c| c.name == name)
            .ok_or_else(|| {
                Error::Runtime(format!(
                    "composition {name:?} not found for this composite type"
                ))
            })
    };
    let reference = str_at(composite, &["spec", "compositionRef", "name"]);
    if !reference.is_empty() {
        return by_name(reference);
    }
    if let Some(labels) = composite
        .get("spec")
        .and_then(|s| s.get("compositionSelector"))
        .and_then(|s| s.get("matchLabels"))
        .and_then(Value::as_object)
    {
        let mut matching: Vec<&Composition> = candidates
            .iter()
            .copied()
            .filter(|c| labels.iter().all(|(k, v)| c.labels.get(k) == Some(v)))
            .collect();
        matching.sort_by(|a, b| a.name.cmp(&b.name));
        return matching.first().copied().ok_or_else(|| {
            Error::Runtime("no composition matches the composition selector".into())
        });
    }
    if let Some(d) = default_composition {
        return by_name(d);
    }
    match candidates.as_slice() {
        [only] => Ok(only),
        [] => Err(Error::Runtime(
            "no composition for this composite type".into(),
        )),
        _ => Err(Error::Runtime(
            "several compositions match: set compositionRef or compositionSelector".into(),
        )),
    }
}

fn default_transform(t: &Value) -> Value {
    let mut t = t.clone();
    if let Some(Value::Object(s)) = t.get_mut("string")
        && !s.contains_key("type")
    {
        let ty = if s.contains_key("convert") {
            "Convert"
        } else if s.contains_key("trim") {
            "TrimPrefix"
        } else if s.contains_key("regexp") {
            "Regexp"
        } else {
            "Format"
        };
        s.insert("type".into(), json!(ty));
    }
    if let Some(Value::Object(m)) = t.get_mut("math")
        && !m.contains_key("type")
    {
        let ty = if m.contains_key("clampMin") {
            "ClampMin"
        } else if m.contains_key("clampMax") {
            "ClampMax"
        } else {
            "Multiply"
        };
        m.insert("type".into(), json!(ty));
    }
    if let Some(Value::Array(ps)) = t.get_mut("match").and_then(|m| m.get_mut("patterns")) {
        for p in ps {
            if let Value::Object(p) = p {
                p.entry("type").or_insert(json!("literal"));
            }
        }
    }
    t
}

fn default_patch(p: &Value) -> Value {
    let mut p = p.clone();
    if let Some(Value::Array(ts)) = p.get_mut("transforms") {
        for t in ts.iter_mut() {
            *t = default_transform(t);
        }
    }
    p
}

fn default_patches(list: Option<&Value>) -> Value {
    Value::Array(
        list.and_then(Value::as_array)
            .map(|l| l.iter().map(default_patch).collect())
            .unwrap_or_default(),
    )
}

/// Converts a legacy `mode: Resources` composition spec into a function input, applying the
/// legacy CRD defaults (string `Format`, math `Multiply`, literal patterns, readiness
/// `MatchCondition Ready=True`, connection detail types inferred, names defaulted).
pub fn legacy_to_function_input(spec: &Value) -> Value {
    let patch_sets: Vec<Value> = spec
        .get("patchSets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|ps| json!({"name": ps.get("name").cloned().unwrap_or(json!("")), "patches": default_patches(ps.get("patches"))}))
        .collect();
    let resources: Vec<Value> = spec
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, r)| {
            let mut out = Map::new();
            out.insert(
                "name".into(),
                r.get("name")
                    .cloned()
                    .unwrap_or_else(|| json!(format!("resource-{i}"))),
            );
            if let Some(b) = r.get("base") {
                out.insert("base".into(), b.clone());
            }
            out.insert("patches".into(), default_patches(r.get("patches")));
            let details: Vec<Value> = r
                .get("connectionDetails")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|d| {
                    let mut d = d.as_object().cloned().unwrap_or_default();
                    if !d.contains_key("type") {
                        let ty = if d.contains_key("fromConnectionSecretKey") {
                            "FromConnectionSecretKey"
                        } else if d.contains_key("fromFieldPath") {
                            "FromFieldPath"
                        } else {
                            "FromValue"
                        };
                        d.insert("type".into(), json!(ty));
                    }
                    if !d.contains_key("name")
                        && let Some(k) = d.get("fromConnectionSecretKey").cloned()
                    {
                        d.insert("name".into(), k);
                    }
                    Value::Object(d)
                })
                .collect();
            out.insert("connectionDetails".into(), Value::Array(details));
            let checks: Vec<Value> = r
                .get("readinessChecks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| {
                    let mut c = c.as_object().cloned().unwrap_or_default();
                    c.entry("type").or_insert(json!("MatchCondition"));
                    if c.get("type") == Some(&json!("MatchCondition"))
                        && !c.contains_key("matchCondition")
                    {
                        c.insert(
                            "matchCondition".into(),
                            json!({"type": "Ready", "status": "True"}),
                        );
                    }
                    Value::Object(c)
                })
                .collect();
            out.insert("readinessChecks".into(), Value::Array(checks));
            Value::Object(out)
        })
        .collect();
    let mut input = json!({
        "apiVersion": "pt.fn.crossplane.io/v1beta1",
        "kind": "Resources",
        "patchSets": patch_sets,
        "resources": resources,
    });
    if let Some(env) = spec.get("environment").and_then(|e| e.get("patches")) {
        input["environment"] = json!({"patches": default_patches(Some(env))});
    }
    input
}
