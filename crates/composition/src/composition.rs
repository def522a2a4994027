//! Compositions: `mode: Pipeline` (patch-and-transform, go-templating, environment-configs and
//! auto-ready steps run; other functions are refused or, on request, skipped) and legacy
//! `mode: Resources` (converted the way `crossplane beta convert` does, with the legacy
//! CRD defaults), composition selection, and rendering a composite through one.

use crate::environment_configs::{self, EnvironmentConfigs};
use crate::error::{Error, Result};
use crate::function::FunctionInput;
use crate::gotemplating::{self, GoTemplating};
use crate::render::{
    DesiredComposed, ENVIRONMENT_KEY, RenderOptions, RenderOutput, RenderRequest, RenderedResource,
    SkippedStep, render,
};
use serde_json::{Map, Value, json};

/// The function name a legacy `mode: Resources` composition runs as.
pub const PATCH_AND_TRANSFORM: &str = "function-patch-and-transform";
/// The function a legacy `mode: Resources` composition's `spec.environment.environmentConfigs`
/// runs as (before the patch-and-transform step), as `crossplane beta convert` migrates it.
pub const ENVIRONMENT_CONFIGS: &str = "function-environment-configs";

/// One step of a composition's pipeline.
#[derive(Debug, Clone)]
pub struct PipelineStep {
    /// `step`.
    pub name: String,
    /// `functionRef.name`.
    pub function: String,
    /// What Strata runs for it.
    pub run: StepFunction,
}

/// The function a pipeline step runs, as Strata understands it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StepFunction {
    /// function-patch-and-transform (input `pt.fn.crossplane.io Resources`).
    PatchAndTransform(FunctionInput),
    /// function-go-templating (input `gotemplating.fn.crossplane.io GoTemplate`).
    GoTemplating(GoTemplating),
    /// function-environment-configs (input `environmentconfigs.fn.crossplane.io Input`):
    /// selects among [`RenderRequest::environment_configs`].
    EnvironmentConfigs(EnvironmentConfigs),
    /// function-auto-ready (a function named `*auto-ready*`, without input).
    AutoReady,
    /// A function Strata cannot run.
    Unsupported,
}

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
    /// The pipeline steps, in order (a legacy `mode: Resources` composition is one
    /// patch-and-transform step).
    pub steps: Vec<PipelineStep>,
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
        match mode {
            "Pipeline" => {
                for step in spec
                    .get("pipeline")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let input = step.get("input").cloned().unwrap_or(Value::Null);
                    let name = str_at(step, &["step"]).to_string();
                    let function = str_at(step, &["functionRef", "name"]).to_string();
                    let run = if is_pt_input(&input) {
                        StepFunction::PatchAndTransform(FunctionInput::parse(&input)?)
                    } else if gotemplating::is_input(&input) {
                        StepFunction::GoTemplating(
                            GoTemplating::parse(&input)
                                .map_err(|e| e.wrap(&format!("pipeline step {name:?}")))?,
                        )
                    } else if environment_configs::is_input(&input) {
                        StepFunction::EnvironmentConfigs(
                            EnvironmentConfigs::parse(&input)
                                .map_err(|e| e.wrap(&format!("pipeline step {name:?}")))?,
                        )
                    } else if input.is_null() && function.contains("auto-ready") {
                        StepFunction::AutoReady
                    } else {
                        StepFunction::Unsupported
                    };
                    steps.push(PipelineStep {
                        name,
                        function,
                        run,
                    });
                }
            }
            "Resources" => {
                if let Some(input) = legacy_environment_input(&spec) {
                    steps.push(PipelineStep {
                        name: "environment-configs".into(),
                        function: ENVIRONMENT_CONFIGS.into(),
                        run: StepFunction::EnvironmentConfigs(
                            EnvironmentConfigs::parse(&input)
                                .map_err(|e| e.wrap("spec.environment"))?,
                        ),
                    });
                }
                steps.push(PipelineStep {
                    name: "resources".into(),
                    function: PATCH_AND_TRANSFORM.into(),
                    run: StepFunction::PatchAndTransform(FunctionInput::parse(
                        &legacy_to_function_input(&spec),
                    )?),
                });
            }
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
        })
    }

    /// Reads the template directories of its `source: FileSystem` go-templating steps
    /// through `files` (errors name the step).
    pub fn read_template_files(&mut self, files: &dyn gotemplating::TemplateFiles) -> Result<()> {
        for step in &mut self.steps {
            if let StepFunction::GoTemplating(t) = &mut step.run {
                t.read_files(files)
                    .map_err(|e| e.wrap(&format!("pipeline step {:?}", step.name)))?;
            }
        }
        Ok(())
    }

    /// Whether the composition is for this composite's type.
    pub fn matches_type(&self, composite: &Value) -> bool {
        str_at(composite, &["apiVersion"]) == self.composite_api_version
            && str_at(composite, &["kind"]) == self.composite_kind
    }

    /// Whether a step selects EnvironmentConfigs (a function-environment-configs step), so the
    /// render needs the EnvironmentConfigs there are ([`RenderRequest::environment_configs`]).
    pub fn uses_environment_configs(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s.run, StepFunction::EnvironmentConfigs(_)))
    }

    /// The steps whose function Strata cannot run.
    pub fn unsupported_steps(&self) -> impl Iterator<Item = &PipelineStep> {
        self.steps
            .iter()
            .filter(|s| matches!(s.run, StepFunction::Unsupported))
    }

    /// Renders a request through every step in order, each step's desired state and context
    /// feeding the next. A step whose function Strata cannot run fails the render before any
    /// step runs, unless [`RenderOptions::skip_unsupported_steps`] is set (then it is listed in
    /// [`RenderOutput::skipped_steps`]). Errors are fatal.
    pub fn render(&self, req: &RenderRequest, opts: RenderOptions) -> Result<RenderOutput> {
        if !opts.skip_unsupported_steps
            && let Some(step) = self.unsupported_steps().next()
        {
            return Err(Error::UnsupportedStep {
                composition: self.name.clone(),
                step: step.name.clone(),
                function: step.function.clone(),
            });
        }
        let mut state = Pipeline::new(req);
        for step in &self.steps {
            match &step.run {
                StepFunction::PatchAndTransform(input) => {
                    let out = render(input, &state.request, opts).map_err(Error::into_fatal)?;
                    state.take_patch_and_transform(out);
                }
                StepFunction::GoTemplating(t) => t
                    .run(
                        &mut state.request,
                        &mut state.conditions,
                        &mut state.warnings,
                    )
                    .map_err(|e| Error::Step {
                        composition: self.name.clone(),
                        step: step.name.clone(),
                        function: step.function.clone(),
                        source: Box::new(e),
                    })?,
                StepFunction::EnvironmentConfigs(e) => e
                    .run(&mut state.request, &req.environment_configs)
                    .map_err(|e| Error::Step {
                        composition: self.name.clone(),
                        step: step.name.clone(),
                        function: step.function.clone(),
                        source: Box::new(e),
                    })?,
                StepFunction::AutoReady => gotemplating::auto_ready(&mut state.request),
                StepFunction::Unsupported => state.skipped.push(SkippedStep {
                    step: step.name.clone(),
                    function: step.function.clone(),
                }),
            }
        }
        Ok(state.finish())
    }
}

/// The state a pipeline passes from step to step.
struct Pipeline {
    /// What the next step reads (observed state, desired state so far, environment).
    request: RenderRequest,
    marked_unready: bool,
    warnings: Vec<String>,
    explain: Vec<crate::explain::FieldWrite>,
    conditions: Vec<Value>,
    skipped: Vec<SkippedStep>,
}

impl Pipeline {
    fn new(req: &RenderRequest) -> Self {
        Pipeline {
            request: req.clone(),
            marked_unready: false,
            warnings: Vec::new(),
            explain: Vec::new(),
            conditions: Vec::new(),
            skipped: Vec::new(),
        }
    }

    fn take_patch_and_transform(&mut self, out: RenderOutput) {
        let current = &mut self.request;
        current.desired = out
            .resources
            .into_iter()
            .map(|r| {
                // P&T says ready or leaves readiness unspecified; an earlier step's explicit
                // "not ready" stands.
                let before = current.desired.get(&r.name).and_then(|d| d.ready);
                let ready = if r.ready {
                    Some(true)
                } else {
                    before.filter(|b| !b)
                };
                (
                    r.name,
                    DesiredComposed {
                        resource: r.resource,
                        ready,
                    },
                )
            })
            .collect();
        current.desired_composite = out.composite;
        current.desired_connection_details = out.composite_connection_details;
        current.environment = Some(out.environment);
        self.marked_unready |= out.composite_marked_unready;
        self.warnings.extend(out.warnings);
        self.explain.extend(out.explain);
    }

    fn finish(self) -> RenderOutput {
        let req = self.request;
        let resources: Vec<RenderedResource> = req
            .desired
            .into_iter()
            .map(|(name, d)| RenderedResource {
                name,
                resource: d.resource,
                ready: d.ready == Some(true),
            })
            .collect();
        let composite_ready = !self.marked_unready && resources.iter().all(|r| r.ready);
        let mut context = req.context;
        // The environment is in the context once a step put it there (as the functions do:
        // function-go-templating alone leaves the key out).
        if let Some(environment) = &req.environment {
            context.insert(ENVIRONMENT_KEY.to_owned(), environment.clone());
        }
        let environment = req.environment.unwrap_or_else(|| Value::Object(Map::new()));
        // No step desired anything of the composite (no patch-and-transform step; a
        // function-go-templating template that wrote no status): as the functions, an empty
        // desired composite.
        let composite = match req.desired_composite {
            Value::Object(m) => Value::Object(m),
            _ => Value::Object(Map::new()),
        };
        RenderOutput {
            resources,
            composite,
            composite_connection_details: req.desired_connection_details,
            composite_marked_unready: self.marked_unready,
            composite_ready,
            environment,
            warnings: self.warnings,
            explain: self.explain,
            context,
            conditions: self.conditions,
            skipped_steps: self.skipped,
        }
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

/// The function-environment-configs input of a legacy `mode: Resources` composition's
/// `spec.environment` (`environmentConfigs`, `defaultData`, `policy`), as `crossplane beta
/// convert` moves them; `None` when it sets none of them.
pub fn legacy_environment_input(spec: &Value) -> Option<Value> {
    let env = spec.get("environment")?;
    let mut input_spec = Map::new();
    for key in ["environmentConfigs", "defaultData", "policy"] {
        if let Some(v) = env.get(key).filter(|v| !v.is_null()) {
            input_spec.insert(key.to_owned(), v.clone());
        }
    }
    if input_spec.is_empty() {
        return None;
    }
    Some(json!({
        "apiVersion": format!("{}/v1beta1", environment_configs::INPUT_GROUP),
        "kind": "Input",
        "spec": input_spec,
    }))
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

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A P&T step making a Bucket, then a step of `function`.
    pub(crate) fn pipeline(step: &str, function: &str, input: Value) -> Value {
        json!({
            "apiVersion": "apiextensions.crossplane.io/v1",
            "kind": "Composition",
            "metadata": {"name": "xbuckets.example.org"},
            "spec": {
                "compositeTypeRef": {"apiVersion": "example.org/v1", "kind": "XBucket"},
                "mode": "Pipeline",
                "pipeline": [
                    {
                        "step": "bucket",
                        "functionRef": {"name": "function-patch-and-transform"},
                        "input": {
                            "apiVersion": "pt.fn.crossplane.io/v1beta1",
                            "kind": "Resources",
                            "resources": [{
                                "name": "bucket",
                                "base": {"apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "Bucket", "spec": {"forProvider": {}}},
                                "patches": [{"type": "FromCompositeFieldPath", "fromFieldPath": "spec.region", "toFieldPath": "spec.forProvider.region"}],
                            }],
                        },
                    },
                    {"step": step, "functionRef": {"name": function}, "input": input},
                ],
            },
        })
    }

    pub(crate) fn request() -> RenderRequest {
        RenderRequest {
            composite: json!({
                "apiVersion": "example.org/v1",
                "kind": "XBucket",
                "metadata": {"name": "logs"},
                "spec": {"region": "eu-west-1"},
            }),
            ..RenderRequest::default()
        }
    }

    fn kcl() -> Composition {
        Composition::parse(&pipeline(
            "acl",
            "function-kcl",
            json!({"apiVersion": "krm.kcl.dev/v1alpha1", "kind": "KCLInput", "spec": {"source": "items = []"}}),
        ))
        .unwrap()
    }

    #[test]
    fn a_step_strata_cannot_run_fails_the_render_naming_step_and_function() {
        let composition = kcl();
        let err = composition
            .render(&request(), RenderOptions::new())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "composition xbuckets.example.org: pipeline step \"acl\" uses function \"function-kcl\", which Strata cannot run"
        );
        assert!(matches!(
            &err,
            Error::UnsupportedStep { step, function, .. } if step == "acl" && function == "function-kcl"
        ));
        assert_eq!(err.phase(), crate::error::Phase::Fatal);
    }

    #[test]
    fn skipping_unsupported_steps_renders_the_rest_and_lists_what_was_skipped() {
        let out = kcl()
            .render(
                &request(),
                RenderOptions::new().with_skip_unsupported_steps(true),
            )
            .unwrap();
        let names: Vec<&str> = out.resources.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["bucket"]);
        assert_eq!(
            out.resources[0].resource["spec"]["forProvider"]["region"],
            json!("eu-west-1")
        );
        assert_eq!(
            out.skipped_steps,
            [SkippedStep {
                step: "acl".into(),
                function: "function-kcl".into()
            }]
        );
        assert_eq!(
            out.to_json()["skippedSteps"],
            json!([{"step": "acl", "function": "function-kcl"}])
        );
    }

    #[test]
    fn a_composite_without_an_xrd_renders_without_schema() {
        let composition = kcl();
        let mut xr = request().composite;
        xr["spec"]["unknownField"] = json!(1);
        let out = crate::engine::render_object(
            &xr,
            &[],
            std::slice::from_ref(&composition),
            &RenderRequest::default(),
            RenderOptions::new().with_skip_unsupported_steps(true),
        )
        .unwrap();
        assert!(out.without_xrd);
        assert_eq!(out.composite, xr);
        assert_eq!(out.composed.len(), 1);
        let other = json!({"apiVersion": "example.org/v1", "kind": "Other"});
        let err = crate::engine::render_object(
            &other,
            &[],
            &[composition],
            &RenderRequest::default(),
            RenderOptions::new(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("no CompositeResourceDefinition defines"),
            "{err}"
        );
    }

    #[test]
    fn a_step_without_input_of_an_unknown_function_is_unsupported() {
        let mut c = pipeline("x", "function-environment-configs", Value::Null);
        c["spec"]["pipeline"][1]
            .as_object_mut()
            .unwrap()
            .shift_remove("input");
        let composition = Composition::parse(&c).unwrap();
        let names: Vec<&str> = composition
            .unsupported_steps()
            .map(|s| s.function.as_str())
            .collect();
        assert_eq!(names, ["function-environment-configs"]);
    }

    fn environment_pipeline() -> Value {
        json!({
            "apiVersion": "apiextensions.crossplane.io/v1",
            "kind": "Composition",
            "metadata": {"name": "xbuckets.example.org"},
            "spec": {
                "compositeTypeRef": {"apiVersion": "example.org/v1", "kind": "XBucket"},
                "mode": "Pipeline",
                "pipeline": [
                    {
                        "step": "environment",
                        "functionRef": {"name": "function-environment-configs"},
                        "input": {
                            "apiVersion": "environmentconfigs.fn.crossplane.io/v1beta1",
                            "kind": "Input",
                            "spec": {"environmentConfigs": [
                                {"type": "Reference", "ref": {"name": "shared"}},
                                {"type": "Selector", "selector": {"matchLabels": [{"key": "region", "valueFromFieldPath": "spec.region"}]}},
                            ]},
                        },
                    },
                    {
                        "step": "bucket",
                        "functionRef": {"name": "function-patch-and-transform"},
                        "input": {
                            "apiVersion": "pt.fn.crossplane.io/v1beta1",
                            "kind": "Resources",
                            "environment": {"patches": [{"type": "ToCompositeFieldPath", "fromFieldPath": "team", "toFieldPath": "status.team"}]},
                            "resources": [{
                                "name": "bucket",
                                "base": {"apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "Bucket", "spec": {"forProvider": {}}},
                                "patches": [{"type": "FromEnvironmentFieldPath", "fromFieldPath": "kms.keyId", "toFieldPath": "spec.forProvider.kmsKeyId"}],
                            }],
                        },
                    },
                    {
                        "step": "acl",
                        "functionRef": {"name": "function-go-templating"},
                        "input": {
                            "apiVersion": "gotemplating.fn.crossplane.io/v1beta1",
                            "kind": "GoTemplate",
                            "source": "Inline",
                            "inline": {"template": "apiVersion: s3.aws.upbound.io/v1beta1\nkind: BucketACL\nmetadata:\n  annotations:\n    gotemplating.fn.crossplane.io/composition-resource-name: acl\nspec:\n  forProvider:\n    acl: {{ index .context \"apiextensions.crossplane.io/environment\" \"acl\" }}\n"},
                        },
                    },
                ],
            },
        })
    }

    fn environment_configs() -> Vec<Value> {
        vec![
            json!({"apiVersion": "apiextensions.crossplane.io/v1beta1", "kind": "EnvironmentConfig", "metadata": {"name": "shared"}, "data": {"team": "storage", "acl": "private", "kms": {"keyId": "shared-key"}}}),
            json!({"apiVersion": "apiextensions.crossplane.io/v1beta1", "kind": "EnvironmentConfig", "metadata": {"name": "eu", "labels": {"region": "eu-west-1"}}, "data": {"kms": {"keyId": "eu-key"}}}),
        ]
    }

    #[test]
    fn an_environment_config_feeds_environment_patches_and_templates() {
        let composition = Composition::parse(&environment_pipeline()).unwrap();
        assert!(composition.unsupported_steps().next().is_none());
        let req = RenderRequest {
            environment_configs: environment_configs(),
            ..request()
        };
        let out = composition.render(&req, RenderOptions::new()).unwrap();
        let bucket = out.resources.iter().find(|r| r.name == "bucket").unwrap();
        assert_eq!(
            bucket.resource["spec"]["forProvider"]["kmsKeyId"],
            json!("eu-key")
        );
        let acl = out.resources.iter().find(|r| r.name == "acl").unwrap();
        assert_eq!(acl.resource["spec"]["forProvider"]["acl"], json!("private"));
        assert_eq!(out.composite["status"]["team"], json!("storage"));
        assert_eq!(
            out.context[ENVIRONMENT_KEY]["kms"],
            json!({"keyId": "eu-key"})
        );
    }

    #[test]
    fn a_missing_required_environment_config_fails_naming_the_step_and_the_config() {
        let composition = Composition::parse(&environment_pipeline()).unwrap();
        let req = RenderRequest {
            environment_configs: environment_configs().split_off(1),
            ..request()
        };
        let err = composition.render(&req, RenderOptions::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "composition xbuckets.example.org: pipeline step \"environment\" (function-environment-configs): cannot get selected environment configs: cannot process environment config \"shared\" by reference, \"environment-config-0\": Required environment config \"shared\" not found"
        );
        let mut bad = environment_pipeline();
        bad["spec"]["pipeline"][0]["input"]["spec"]["environmentConfigs"][1]["selector"]["mode"] =
            json!("All");
        let err = Composition::parse(&bad).unwrap_err();
        assert_eq!(
            err.to_string(),
            "pipeline step \"environment\": invalid function input: spec.environmentConfigs[1].selector.mode: Unsupported value: \"All\": supported values: \"Single\", \"Multiple\""
        );
    }

    #[test]
    fn a_legacy_composition_environment_runs_as_an_environment_configs_step() {
        let legacy = json!({
            "apiVersion": "apiextensions.crossplane.io/v1",
            "kind": "Composition",
            "metadata": {"name": "legacy"},
            "spec": {
                "compositeTypeRef": {"apiVersion": "example.org/v1", "kind": "XBucket"},
                "environment": {
                    "environmentConfigs": [{"type": "Reference", "ref": {"name": "shared"}}],
                    "defaultData": {"team": "default"},
                },
                "resources": [{
                    "name": "bucket",
                    "base": {"apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "Bucket", "spec": {"forProvider": {}}},
                    "patches": [{"type": "FromEnvironmentFieldPath", "fromFieldPath": "team", "toFieldPath": "spec.forProvider.team"}],
                }],
            },
        });
        let composition = Composition::parse(&legacy).unwrap();
        let names: Vec<&str> = composition
            .steps
            .iter()
            .map(|s| s.function.as_str())
            .collect();
        assert_eq!(names, [ENVIRONMENT_CONFIGS, PATCH_AND_TRANSFORM]);
        let req = RenderRequest {
            environment_configs: environment_configs(),
            ..request()
        };
        let out = composition.render(&req, RenderOptions::new()).unwrap();
        assert_eq!(
            out.resources[0].resource["spec"]["forProvider"]["team"],
            json!("storage")
        );
    }
}
