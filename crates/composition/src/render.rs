//! One deterministic run of function-patch-and-transform: observed XR and composed
//! resources in, desired composed resources, desired XR, connection details, readiness,
//! environment, warnings and an explain trace out.

use crate::connection;
use crate::error::{Error, Phase, Result};
use crate::explain::{FieldWrite, Target};
use crate::function::{FunctionInput, Template};
use crate::patch::{Patch, PatchType};
use crate::readiness;
use crate::value::normalize;
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// An observed composed resource and its connection secret data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedComposed {
    /// The live object.
    pub resource: Value,
    /// Connection secret values (plain strings).
    pub connection_details: BTreeMap<String, String>,
}

/// A desired composed resource (from an earlier step, or rendered).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesiredComposed {
    /// The desired object.
    pub resource: Value,
    /// Readiness (`None` = unspecified).
    pub ready: Option<bool>,
}

/// Everything a render reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RenderRequest {
    /// The observed composite resource.
    pub composite: Value,
    /// Observed composed resources by composition resource name.
    pub observed: BTreeMap<String, ObservedComposed>,
    /// The desired composite from earlier steps (`Null` = none).
    pub desired_composite: Value,
    /// The desired composite's connection details from earlier steps.
    pub desired_connection_details: BTreeMap<String, String>,
    /// Desired composed resources from earlier steps.
    pub desired: BTreeMap<String, DesiredComposed>,
    /// The environment from the pipeline context (`None` = empty environment).
    pub environment: Option<Value>,
    /// The rest of the pipeline context (keys other than [`ENVIRONMENT_KEY`]).
    pub context: Map<String, Value>,
    /// Extra resources Crossplane fetched for the functions, by requirement name (what
    /// go-templating templates see as `.extraResources`).
    pub extra_resources: Map<String, Value>,
    /// The `EnvironmentConfig` objects the cluster holds (what function-environment-configs
    /// steps select from; other objects are ignored).
    pub environment_configs: Vec<Value>,
}

/// The pipeline context key holding the environment.
pub const ENVIRONMENT_KEY: &str = "apiextensions.crossplane.io/environment";

/// Render switches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RenderOptions {
    /// Record which patch and transforms produced each written field.
    pub explain: bool,
    /// Skip pipeline steps whose function Strata cannot run (reported in
    /// [`RenderOutput::skipped_steps`]) instead of failing the render.
    pub skip_unsupported_steps: bool,
}

impl RenderOptions {
    /// The defaults: no explain trace, unsupported steps are an error.
    pub fn new() -> Self {
        Self::default()
    }

    /// With (or without) the explain trace.
    #[must_use]
    pub fn with_explain(mut self, explain: bool) -> Self {
        self.explain = explain;
        self
    }

    /// Skipping (or refusing) pipeline steps whose function Strata cannot run.
    #[must_use]
    pub fn with_skip_unsupported_steps(mut self, skip: bool) -> Self {
        self.skip_unsupported_steps = skip;
        self
    }
}

/// A pipeline step that was not run because Strata cannot run its function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedStep {
    /// The step's name.
    pub step: String,
    /// The function it names.
    pub function: String,
}

impl SkippedStep {
    /// JSON form: `{"step": .., "function": ..}`.
    pub fn to_json(&self) -> Value {
        json!({"step": self.step, "function": self.function})
    }
}

/// One desired composed resource in the output.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedResource {
    /// Composition resource name.
    pub name: String,
    /// The desired object (before Crossplane core adds metadata).
    pub resource: Value,
    /// Whether it is ready.
    pub ready: bool,
}

/// The result of a render.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderOutput {
    /// Desired composed resources, sorted by name.
    pub resources: Vec<RenderedResource>,
    /// The desired composite: what the steps desired of it (patch-and-transform sets apiVersion
    /// and kind; function-go-templating only the status it writes). Only `status` is persisted.
    pub composite: Value,
    /// The composite's connection details.
    pub composite_connection_details: BTreeMap<String, String>,
    /// Whether the function marked the composite not ready (a Required patch skipped a resource).
    pub composite_marked_unready: bool,
    /// Crossplane's derived readiness: every resource ready and not marked unready.
    pub composite_ready: bool,
    /// The environment after all patches.
    pub environment: Value,
    /// Warnings (the function's warning results).
    pub warnings: Vec<String>,
    /// Which patch and transforms produced each written field (with `explain`).
    pub explain: Vec<FieldWrite>,
    /// The pipeline context after every step (the environment under [`ENVIRONMENT_KEY`], once a
    /// step set one).
    pub context: Map<String, Value>,
    /// Conditions the functions set on the composite (and claim), as they wrote them.
    pub conditions: Vec<Value>,
    /// Pipeline steps not run (only with [`RenderOptions::skip_unsupported_steps`]).
    pub skipped_steps: Vec<SkippedStep>,
}

impl RenderOutput {
    /// The output as JSON, in the shape of the conformance corpus' render expectations.
    pub fn to_json(&self) -> Value {
        json!({
            "resources": self.resources.iter().map(|r| json!({"name": r.name, "resource": r.resource, "ready": r.ready})).collect::<Vec<_>>(),
            "composite": self.composite,
            "compositeConnectionDetails": self.composite_connection_details,
            "compositeReady": self.composite_ready,
            "environment": self.environment,
            "warnings": self.warnings,
            "explain": self.explain.iter().map(FieldWrite::to_json).collect::<Vec<_>>(),
            "conditions": self.conditions,
            "skippedSteps": self.skipped_steps.iter().map(SkippedStep::to_json).collect::<Vec<_>>(),
        })
    }
}

fn has_whole_float(v: &Value) -> bool {
    match v {
        Value::Number(n) => {
            !n.is_i64() && !n.is_u64() && n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        Value::Array(a) => a.iter().any(has_whole_float),
        Value::Object(m) => m.values().any(has_whole_float),
        _ => false,
    }
}

/// Borrows `v` unless whole floats must be normalised into integers.
fn norm(v: &Value) -> Cow<'_, Value> {
    if has_whole_float(v) {
        let mut o = v.clone();
        normalize(&mut o);
        Cow::Owned(o)
    } else {
        Cow::Borrowed(v)
    }
}

struct Recorder {
    on: bool,
    writes: Vec<FieldWrite>,
}

impl Recorder {
    fn record(
        &mut self,
        target: Target,
        paths: Vec<String>,
        patch: &Patch,
        index: usize,
        environment_patch: bool,
    ) {
        if !self.on {
            return;
        }
        for path in paths {
            self.writes.push(FieldWrite::new(
                target.clone(),
                path,
                patch,
                index,
                environment_patch,
            ));
        }
    }
}

/// Runs function-patch-and-transform over one request. Every error is fatal for the run.
pub fn render(
    input: &FunctionInput,
    req: &RenderRequest,
    opts: RenderOptions,
) -> Result<RenderOutput> {
    let oxr = norm(&req.composite);
    let oxr: &Value = &oxr;
    let mut dxr = match &req.desired_composite {
        Value::Object(m) => Value::Object(m.clone()),
        _ => Value::Object(Map::new()),
    };
    if let Value::Object(m) = &mut dxr {
        for k in ["apiVersion", "kind"] {
            if let Some(v) = oxr.get(k) {
                m.insert(k.to_string(), v.clone());
            }
        }
    }
    let mut env = match &req.environment {
        Some(Value::Object(m)) => Value::Object(m.clone()),
        _ => Value::Object(Map::new()),
    };
    normalize(&mut env);
    if env.get("apiVersion").is_none_or(Value::is_null)
        && env.get("kind").is_none_or(Value::is_null)
        && let Value::Object(m) = &mut env
    {
        m.insert(
            "apiVersion".into(),
            json!("internal.crossplane.io/v1alpha1"),
        );
        m.insert("kind".into(), json!("Environment"));
    }
    let mut rec = Recorder {
        on: opts.explain,
        writes: Vec::new(),
    };
    let mut warnings = Vec::new();

    // Environment patches.
    for (i, p) in input.environment_patches.iter().enumerate() {
        let result = match p.ty {
            PatchType::ToCompositeFieldPath
            | PatchType::FromEnvironmentFieldPath
            | PatchType::CombineToComposite => p
                .apply_with(&env, &mut dxr, opts.explain)
                .map(|w| (Target::Composite, w)),
            _ => p
                .apply_with(oxr, &mut env, opts.explain)
                .map(|w| (Target::Environment, w)),
        };
        match result {
            Ok((target, written)) => rec.record(target, written, p, i, true),
            Err(e) if e.is_not_found() && !p.required => {}
            Err(e) => {
                return Err(Error::caused(
                    Phase::Fatal,
                    format!(
                        "cannot apply the {:?} environment patch at index {i}: ",
                        p.ty.as_str()
                    ),
                    e,
                ));
            }
        }
    }

    let mut desired: BTreeMap<String, DesiredComposed> = req.desired.clone();
    let mut conn = req.desired_connection_details.clone();
    let mut marked_unready = false;

    for t in &input.resources {
        let observed = req.observed.get(&t.name);
        let ocd = observed.map(|o| norm(&o.resource));
        let ocd_ref: Option<&Value> = ocd.as_deref();
        let mut dcd = start_desired(t, &desired)?;
        let mut ready = None;
        if let (Some(o), Some(obs)) = (ocd_ref, observed) {
            copy_identity(o, &mut dcd);
            conn.extend(connection::extract(
                o,
                &obs.connection_details,
                &t.connection_details,
            ));
            match readiness::is_ready(o, &t.readiness_checks) {
                Ok(true) => ready = Some(true),
                Ok(false) => {}
                Err(e) => warnings.push(format!(
                    "cannot check readiness of composed resource {:?}: {e}",
                    t.name
                )),
            }
        }
        let mut skip = false;
        for (i, p) in t.patches.iter().enumerate() {
            let result =
                apply_composed_patch(p, ocd_ref, &mut dcd, oxr, &mut dxr, &mut env, opts.explain);
            match result {
                Ok(Some((target, written))) if rec.on => {
                    let target = match target {
                        Target::Composed(_) => Target::Composed(t.name.clone()),
                        other => other,
                    };
                    rec.record(target, written, p, i, false);
                }
                Ok(_) => {}
                Err(e) if e.is_not_found() => {
                    if p.required {
                        let to_composed = !p.ty.reads_composed();
                        if to_composed && ocd_ref.is_none() {
                            warnings.push(format!(
                                "not adding new composed resource {:?} to desired state because {:?} patch at index {i} has 'policy.fromFieldPath: Required': {e}",
                                t.name,
                                p.ty.as_str()
                            ));
                            skip = true;
                            break;
                        }
                        warnings.push(format!(
                            "cannot render composed resource {:?} {:?} patch at index {i}: ignoring 'policy.fromFieldPath: Required' because 'to' resource already exists: {e}",
                            t.name,
                            p.ty.as_str()
                        ));
                    }
                }
                Err(e) => {
                    return Err(Error::caused(
                        Phase::Fatal,
                        format!(
                            "cannot render composed resource {:?} {:?} patch at index {i}: ",
                            t.name,
                            p.ty.as_str()
                        ),
                        e,
                    ));
                }
            }
        }
        if skip {
            marked_unready = true;
        } else {
            desired.insert(
                t.name.clone(),
                DesiredComposed {
                    resource: dcd,
                    ready,
                },
            );
        }
    }

    // v2 composites compose their own connection secret.
    if oxr.get("spec").and_then(|s| s.get("crossplane")).is_some() && !conn.is_empty() {
        let (name, secret) = connection_secret(input, oxr, &conn)?;
        desired.insert(
            name,
            DesiredComposed {
                resource: secret,
                ready: Some(true),
            },
        );
    }

    let resources: Vec<RenderedResource> = desired
        .into_iter()
        .map(|(name, d)| RenderedResource {
            name,
            resource: d.resource,
            ready: d.ready == Some(true),
        })
        .collect();
    let composite_ready = !marked_unready && resources.iter().all(|r| r.ready);
    Ok(RenderOutput {
        resources,
        composite: dxr,
        composite_connection_details: conn,
        composite_marked_unready: marked_unready,
        composite_ready,
        context: Map::from_iter([(ENVIRONMENT_KEY.to_owned(), env.clone())]),
        environment: env,
        warnings,
        explain: rec.writes,
        conditions: Vec::new(),
        skipped_steps: Vec::new(),
    })
}

fn start_desired(t: &Template, desired: &BTreeMap<String, DesiredComposed>) -> Result<Value> {
    let dcd = match &t.base {
        // Bases are normalised when the input is parsed.
        Some(base) => return Ok(base.clone()),
        None => match desired.get(&t.name) {
            Some(d) => d.resource.clone(),
            None => {
                return Err(Error::Fatal(format!(
                    "composed resource {:?} has no base template, and was not produced by a previous Function in the pipeline",
                    t.name
                )));
            }
        },
    };
    Ok(norm(&dcd).into_owned())
}

/// Copies the observed resource's name and namespace onto the desired one (an empty
/// value removes the key).
fn copy_identity(observed: &Value, desired: &mut Value) {
    for key in ["name", "namespace"] {
        let v = observed
            .get("metadata")
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .unwrap_or("");
        let Value::Object(top) = desired else { return };
        if v.is_empty() {
            if let Some(Value::Object(meta)) = top.get_mut("metadata") {
                meta.shift_remove(key);
            }
            continue;
        }
        let meta = top
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(meta) = meta {
            meta.insert(key.to_string(), Value::String(v.to_string()));
        }
    }
}

type PatchWrites = Option<(Target, Vec<String>)>;

/// `ApplyComposedPatch`: dispatches a resource patch by type.
fn apply_composed_patch(
    p: &Patch,
    ocd: Option<&Value>,
    dcd: &mut Value,
    oxr: &Value,
    dxr: &mut Value,
    env: &mut Value,
    record: bool,
) -> Result<PatchWrites> {
    if p.ty.reads_composed() && ocd.is_none() {
        return Ok(None);
    }
    let composed = Target::Composed(String::new());
    let out = match p.ty {
        PatchType::FromCompositeFieldPath | PatchType::CombineFromComposite => {
            (composed, p.apply_with(oxr, dcd, record)?)
        }
        PatchType::FromEnvironmentFieldPath | PatchType::CombineFromEnvironment => {
            (composed, p.apply_with(env, dcd, record)?)
        }
        PatchType::ToCompositeFieldPath | PatchType::CombineToComposite => match ocd {
            Some(o) => (Target::Composite, p.apply_with(o, dxr, record)?),
            None => return Ok(None),
        },
        PatchType::ToEnvironmentFieldPath | PatchType::CombineToEnvironment => match ocd {
            Some(o) => (Target::Environment, p.apply_with(o, env, record)?),
            None => return Ok(None),
        },
        PatchType::PatchSet => return Ok(None),
    };
    Ok(Some(out))
}

fn connection_secret(
    input: &FunctionInput,
    oxr: &Value,
    conn: &BTreeMap<String, String>,
) -> Result<(String, Value)> {
    use base64::Engine;
    let xr_name = oxr
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let xr_ns = oxr
        .get("metadata")
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let str_at = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut reference = json!({"name": format!("{xr_name}-connection"), "namespace": xr_ns});
    if let Some(r) = oxr
        .get("spec")
        .and_then(|s| s.get("writeConnectionSecretToRef"))
        .filter(|r| r.is_object())
    {
        reference = json!({"name": str_at(r, "name"), "namespace": str_at(r, "namespace")});
    } else if let Some(r) = &input.write_connection_secret_to_ref {
        let (n, ns) = (str_at(r, "name"), str_at(r, "namespace"));
        if !n.is_empty() || !ns.is_empty() {
            reference = json!({"name": n, "namespace": ns});
        }
        for p in r
            .get("patches")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let patch = Patch::parse(p)?;
            match patch.apply(oxr, &mut reference) {
                Ok(_) => {}
                Err(e) if patch.combine.is_none() && !patch.required => {
                    let _ = e;
                }
                Err(e) => {
                    return Err(Error::caused(
                        Phase::Fatal,
                        "cannot patch connection secret reference: ",
                        e,
                    ));
                }
            }
        }
    }
    let data: Map<String, Value> = conn
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                Value::String(base64::engine::general_purpose::STANDARD.encode(v)),
            )
        })
        .collect();
    let mut metadata = Map::new();
    metadata.insert("name".into(), reference["name"].clone());
    if reference["namespace"]
        .as_str()
        .is_some_and(|s| !s.is_empty())
    {
        metadata.insert("namespace".into(), reference["namespace"].clone());
    }
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "connection.crossplane.io/v1alpha1",
        "data": data,
    });
    Ok((format!("{xr_name}-connection-secret"), secret))
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let s = match v {
                        Value::String(s) => s.clone(),
                        other => crate::value::go_json(other),
                    };
                    (k.clone(), s)
                })
                .collect()
        })
        .unwrap_or_default()
}

impl RenderRequest {
    /// Reads a request from JSON. Accepts the conformance shape (`composite`,
    /// `observed.resources`, `desired`, `environment`) and the function request shape
    /// (`observed.composite.resource`, `desired.composite`, `context` with the
    /// `apiextensions.crossplane.io/environment` key); `environmentConfigs` lists the
    /// `EnvironmentConfig` objects environment-configs steps select from.
    pub fn from_json(v: &Value) -> RenderRequest {
        let observed = v.get("observed");
        let composite = v
            .get("composite")
            .or_else(|| {
                observed
                    .and_then(|o| o.get("composite"))
                    .and_then(|c| c.get("resource"))
            })
            .cloned()
            .unwrap_or(Value::Null);
        let observed_resources = observed
            .and_then(|o| o.get("resources"))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(name, r)| {
                        (
                            name.clone(),
                            ObservedComposed {
                                resource: r.get("resource").cloned().unwrap_or(Value::Null),
                                connection_details: string_map(r.get("connectionDetails")),
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let desired_v = v.get("desired");
        let desired = desired_v
            .and_then(|d| d.get("resources"))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(name, r)| {
                        let ready = match r.get("ready") {
                            Some(Value::Bool(b)) => Some(*b),
                            Some(Value::String(s)) if s == "READY_TRUE" => Some(true),
                            Some(Value::String(s)) if s == "READY_FALSE" => Some(false),
                            _ => None,
                        };
                        (
                            name.clone(),
                            DesiredComposed {
                                resource: r.get("resource").cloned().unwrap_or(Value::Null),
                                ready,
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let desired_composite = desired_v.and_then(|d| d.get("composite"));
        let environment = v.get("environment").cloned().or_else(|| {
            v.get("context")
                .and_then(|c| c.get(ENVIRONMENT_KEY))
                .cloned()
        });
        let mut context = v
            .get("context")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        context.shift_remove(ENVIRONMENT_KEY);
        RenderRequest {
            composite,
            observed: observed_resources,
            desired_composite: desired_composite
                .and_then(|c| c.get("resource"))
                .cloned()
                .unwrap_or(Value::Null),
            desired_connection_details: string_map(
                desired_composite.and_then(|c| c.get("connectionDetails")),
            ),
            desired,
            environment,
            context,
            extra_resources: v
                .get("extraResources")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            environment_configs: v
                .get("environmentConfigs")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        }
    }
}

/// Runs a function-patch-and-transform request (`input`, `observed`, `desired`, `context`)
/// and answers in the function's response shape: `desired.composite.resource`,
/// `desired.resources.<name>.{resource, ready}` and `context`.
pub fn run_function_request(request: &Value, opts: RenderOptions) -> Result<Value> {
    let input = FunctionInput::parse(request.get("input").unwrap_or(&Value::Null))
        .map_err(Error::into_fatal)?;
    let req = RenderRequest::from_json(request);
    let out = render(&input, &req, opts)?;
    let mut resources = Map::new();
    for r in &out.resources {
        let mut entry = Map::new();
        entry.insert("resource".into(), r.resource.clone());
        if r.ready {
            entry.insert("ready".into(), json!("READY_TRUE"));
        }
        resources.insert(r.name.clone(), Value::Object(entry));
    }
    let mut composite = Map::new();
    composite.insert("resource".into(), out.composite.clone());
    if !out.composite_connection_details.is_empty() {
        composite.insert(
            "connectionDetails".into(),
            json!(out.composite_connection_details),
        );
    }
    if out.composite_marked_unready {
        composite.insert("ready".into(), json!("READY_FALSE"));
    }
    Ok(json!({
        "desired": {"composite": composite, "resources": resources},
        "context": {"apiextensions.crossplane.io/environment": out.environment},
        "warnings": out.warnings,
    }))
}
