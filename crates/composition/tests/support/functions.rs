//! Test support for comparing Strata's in-process composition pipelines with the real
//! Crossplane functions: the `apiextensions.fn.proto.v1` messages (written by hand, with the
//! field numbers of the published `run_function.proto`; the parts these tests do not use —
//! credentials, extra resources, requirements — are left out, which protobuf readers skip),
//! a `RunFunction` client over plain HTTP/2 on 127.0.0.1, the functions themselves (built or
//! named by `strata_testkube::functions`), a pipeline driver that runs every step through its
//! real function as Crossplane does, Strata's render of the same composite, and a comparison.
//!
//! Both sides are brought to one JSON shape ([`Rendered`]) before they are compared. The only
//! normalisation is of numbers: `google.protobuf.Struct` carries every number as a double, so
//! a whole number reads back as the integer it stands for (Crossplane's own JSON round trip
//! does the same); Strata's values are normalised the same way.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use prost_types::value::Kind;
use serde_json::{Map, Value, json};
use strata_composition::render::{ObservedComposed, RenderOptions, RenderRequest};
use strata_composition::{Composition, value::normalize};
use strata_testkube::functions::{
    AUTO_READY, FunctionSpec, GO_TEMPLATING, PATCH_AND_TRANSFORM, RunningFunction,
};

// --- apiextensions.fn.proto.v1 -------------------------------------------------------------

/// `RunFunctionRequest` (fields 6 `extra_resources` and 7 `credentials` left out).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RunFunctionRequest {
    /// Request metadata.
    #[prost(message, optional, tag = "1")]
    pub meta: Option<RequestMeta>,
    /// Observed state.
    #[prost(message, optional, tag = "2")]
    pub observed: Option<State>,
    /// Desired state so far.
    #[prost(message, optional, tag = "3")]
    pub desired: Option<State>,
    /// The step's input.
    #[prost(message, optional, tag = "4")]
    pub input: Option<prost_types::Struct>,
    /// The pipeline context.
    #[prost(message, optional, tag = "5")]
    pub context: Option<prost_types::Struct>,
}

/// `RunFunctionResponse` (field 5 `requirements` left out).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RunFunctionResponse {
    /// Response metadata.
    #[prost(message, optional, tag = "1")]
    pub meta: Option<ResponseMeta>,
    /// The desired state after the function.
    #[prost(message, optional, tag = "2")]
    pub desired: Option<State>,
    /// Results (fatal, warning, normal).
    #[prost(message, repeated, tag = "3")]
    pub results: Vec<FnResult>,
    /// The pipeline context after the function.
    #[prost(message, optional, tag = "4")]
    pub context: Option<prost_types::Struct>,
    /// Conditions for the composite (and claim).
    #[prost(message, repeated, tag = "6")]
    pub conditions: Vec<Condition>,
}

/// `RequestMeta`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RequestMeta {
    /// An opaque tag.
    #[prost(string, tag = "1")]
    pub tag: String,
}

/// `ResponseMeta`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResponseMeta {
    /// The request's tag.
    #[prost(string, tag = "1")]
    pub tag: String,
    /// How long the response may be cached.
    #[prost(message, optional, tag = "2")]
    pub ttl: Option<prost_types::Duration>,
}

/// `State`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct State {
    /// The composite resource.
    #[prost(message, optional, tag = "1")]
    pub composite: Option<Resource>,
    /// Composed resources by composition resource name.
    #[prost(btree_map = "string, message", tag = "2")]
    pub resources: BTreeMap<String, Resource>,
}

/// `Resource`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    /// The object.
    #[prost(message, optional, tag = "1")]
    pub resource: Option<prost_types::Struct>,
    /// Connection details.
    #[prost(btree_map = "string, bytes", tag = "2")]
    pub connection_details: BTreeMap<String, Vec<u8>>,
    /// Readiness.
    #[prost(enumeration = "Ready", tag = "3")]
    pub ready: i32,
}

/// `Ready`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Ready {
    /// Not said.
    Unspecified = 0,
    /// Ready.
    True = 1,
    /// Not ready.
    False = 2,
}

/// `Result`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FnResult {
    /// Severity.
    #[prost(enumeration = "Severity", tag = "1")]
    pub severity: i32,
    /// The message.
    #[prost(string, tag = "2")]
    pub message: String,
    /// A reason.
    #[prost(string, optional, tag = "3")]
    pub reason: Option<String>,
    /// Composite, or composite and claim.
    #[prost(enumeration = "Target", optional, tag = "4")]
    pub target: Option<i32>,
}

/// `Severity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Severity {
    /// Not said.
    Unspecified = 0,
    /// The pipeline fails.
    Fatal = 1,
    /// A warning.
    Warning = 2,
    /// An event.
    Normal = 3,
}

/// `Target`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Target {
    /// Not said.
    Unspecified = 0,
    /// The composite.
    Composite = 1,
    /// The composite and its claim.
    CompositeAndClaim = 2,
}

/// `Condition`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Condition {
    /// Its type.
    #[prost(string, tag = "1")]
    pub r#type: String,
    /// Its status.
    #[prost(enumeration = "Status", tag = "2")]
    pub status: i32,
    /// Its reason.
    #[prost(string, tag = "3")]
    pub reason: String,
    /// Its message.
    #[prost(string, optional, tag = "4")]
    pub message: Option<String>,
    /// Composite, or composite and claim.
    #[prost(enumeration = "Target", optional, tag = "5")]
    pub target: Option<i32>,
}

/// `Status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Status {
    /// Not said (`STATUS_CONDITION_UNSPECIFIED`).
    Unspecified = 0,
    /// Unknown.
    Unknown = 1,
    /// True.
    True = 2,
    /// False.
    False = 3,
}

// --- google.protobuf.Struct <-> JSON ---------------------------------------------------------

/// A JSON object as a `Struct` (`None` for anything but an object).
pub fn to_struct(v: &Value) -> Option<prost_types::Struct> {
    match v {
        Value::Object(m) => Some(prost_types::Struct {
            fields: m.iter().map(|(k, v)| (k.clone(), to_value(v))).collect(),
        }),
        _ => None,
    }
}

fn to_value(v: &Value) -> prost_types::Value {
    let kind = match v {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(a) => Kind::ListValue(prost_types::ListValue {
            values: a.iter().map(to_value).collect(),
        }),
        Value::Object(_) => Kind::StructValue(to_struct(v).unwrap_or_default()),
    };
    prost_types::Value { kind: Some(kind) }
}

/// A `Struct` as JSON; whole numbers read back as integers.
pub fn from_struct(s: &prost_types::Struct) -> Value {
    Value::Object(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), from_value(v)))
            .collect(),
    )
}

fn from_value(v: &prost_types::Value) -> Value {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::NumberValue(f)) => {
            if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
                json!(*f as i64)
            } else {
                json!(f)
            }
        }
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::ListValue(l)) => Value::Array(l.values.iter().map(from_value).collect()),
        Some(Kind::StructValue(s)) => from_struct(s),
    }
}

// --- the client ---------------------------------------------------------------------------------

const RUN_FUNCTION: &str = "/apiextensions.fn.proto.v1.FunctionRunnerService/RunFunction";

/// A `RunFunction` client of one function, with its own single-thread runtime.
pub struct FunctionClient {
    runtime: tokio::runtime::Runtime,
    grpc: tonic::client::Grpc<tonic::transport::Channel>,
}

impl FunctionClient {
    /// Connects to `uri` (`http://127.0.0.1:<port>`).
    pub fn connect(uri: &str) -> FunctionClient {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let channel = runtime
            .block_on(
                tonic::transport::Channel::from_shared(uri.to_owned())
                    .expect("a valid URI")
                    .connect(),
            )
            .unwrap_or_else(|e| panic!("connecting to the function at {uri}: {e}"));
        FunctionClient {
            runtime,
            grpc: tonic::client::Grpc::new(channel),
        }
    }

    /// One `RunFunction` call.
    pub fn run(
        &mut self,
        request: RunFunctionRequest,
    ) -> Result<RunFunctionResponse, tonic::Status> {
        let grpc = &mut self.grpc;
        self.runtime.block_on(async move {
            grpc.ready()
                .await
                .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
            let codec =
                tonic_prost::ProstCodec::<RunFunctionRequest, RunFunctionResponse>::default();
            grpc.unary(
                tonic::Request::new(request),
                http::uri::PathAndQuery::from_static(RUN_FUNCTION),
                codec,
            )
            .await
            .map(tonic::Response::into_inner)
        })
    }
}

/// A running function and a client of it.
pub struct Function {
    /// Which function.
    pub spec: FunctionSpec,
    /// Its client.
    pub client: FunctionClient,
    // Dropped after the client: the process is killed last.
    _process: RunningFunction,
}

/// The real functions, started on 127.0.0.1 (each built on first use, see
/// `strata_testkube::functions`); they are killed when this is dropped.
pub struct Functions {
    functions: Vec<Function>,
}

impl Functions {
    /// Builds (or finds) and starts function-patch-and-transform, function-go-templating and
    /// function-auto-ready.
    ///
    /// # Panics
    ///
    /// When a function cannot be provided or started (no Go, a proxy refusing the module, a
    /// program that exits): the message says how to provide it. These tests never skip.
    pub fn start() -> Functions {
        let target = strata_testkube::target_dir();
        let functions = [PATCH_AND_TRANSFORM, GO_TEMPLATING, AUTO_READY]
            .into_iter()
            .map(|spec| {
                let program = strata_testkube::functions::ensure(&spec, &target)
                    .unwrap_or_else(|e| panic!("\n\n!!!!!! {e}\n\n"));
                let process = RunningFunction::start(&spec, &program)
                    .unwrap_or_else(|e| panic!("\n\n!!!!!! starting {}: {e}\n\n", spec.name));
                Function {
                    spec,
                    client: FunctionClient::connect(&process.uri()),
                    _process: process,
                }
            })
            .collect();
        Functions { functions }
    }

    /// The function a pipeline step's `functionRef.name` names.
    ///
    /// # Panics
    ///
    /// For a function these tests do not run.
    pub fn for_step(&mut self, function_ref: &str) -> &mut Function {
        let spec = spec_for(function_ref);
        self.functions
            .iter_mut()
            .find(|f| f.spec == spec)
            .expect("every spec is started")
    }
}

/// The function a `functionRef.name` stands for.
pub fn spec_for(function_ref: &str) -> FunctionSpec {
    match function_ref {
        n if n.contains("patch-and-transform") => PATCH_AND_TRANSFORM,
        n if n.contains("go-templating") => GO_TEMPLATING,
        n if n.contains("auto-ready") => AUTO_READY,
        other => panic!("no real function for functionRef {other:?}"),
    }
}

// --- cases ------------------------------------------------------------------------------------

/// A composite and the composition rendering it.
#[derive(Debug, Clone)]
pub struct Case {
    /// A name for messages (the directory's).
    pub name: String,
    /// The Composition (`mode: Pipeline`).
    pub composition: Value,
    /// The observed composite resource.
    pub xr: Value,
    /// Observed composed resources.
    pub observed: BTreeMap<String, ObservedComposed>,
}

fn read_yaml(path: &Path) -> Vec<Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    strata_core::yaml::from_str_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

impl Case {
    /// Reads `composition.yaml`, `xr.yaml` and, when present, `observed.yaml` (documents of
    /// `name`, `resource` and `connectionDetails`, plain strings) from `dir`.
    pub fn load(dir: &Path) -> Case {
        let one = |file: &str| {
            let mut docs = read_yaml(&dir.join(file));
            assert_eq!(
                docs.len(),
                1,
                "{} holds one document",
                dir.join(file).display()
            );
            docs.remove(0)
        };
        let observed_path = dir.join("observed.yaml");
        let observed = if observed_path.is_file() {
            read_yaml(&observed_path)
                .into_iter()
                .map(|d| {
                    let name = d["name"].as_str().expect("observed: name").to_owned();
                    let details = d
                        .get("connectionDetails")
                        .and_then(Value::as_object)
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| (k.clone(), v.as_str().expect("a string").to_owned()))
                                .collect()
                        })
                        .unwrap_or_default();
                    (
                        name,
                        ObservedComposed {
                            resource: d["resource"].clone(),
                            connection_details: details,
                        },
                    )
                })
                .collect()
        } else {
            BTreeMap::new()
        };
        Case {
            name: dir.file_name().unwrap().to_string_lossy().into_owned(),
            composition: one("composition.yaml"),
            xr: one("xr.yaml"),
            observed,
        }
    }

    /// The pipeline's steps.
    pub fn steps(&self) -> &[Value] {
        self.composition["spec"]["pipeline"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The composition cut after its first `steps` steps.
    pub fn composition_prefix(&self, steps: usize) -> Value {
        let mut c = self.composition.clone();
        let kept: Vec<Value> = self.steps()[..steps].to_vec();
        c["spec"]["pipeline"] = Value::Array(kept);
        c
    }

    /// Strata's render request for this case (nothing desired yet, no context).
    pub fn render_request(&self) -> RenderRequest {
        RenderRequest {
            composite: self.xr.clone(),
            observed: self.observed.clone(),
            ..RenderRequest::default()
        }
    }

    /// The observed state as the functions receive it.
    pub fn observed_state(&self) -> State {
        State {
            composite: Some(Resource {
                resource: to_struct(&self.xr),
                ..Resource::default()
            }),
            resources: self
                .observed
                .iter()
                .map(|(name, o)| {
                    (
                        name.clone(),
                        Resource {
                            resource: to_struct(&o.resource),
                            connection_details: o
                                .connection_details
                                .iter()
                                .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
                                .collect(),
                            ready: 0,
                        },
                    )
                })
                .collect(),
        }
    }
}

/// The case directories under `dir`, sorted.
pub fn case_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.join("composition.yaml").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// Every composition compared: the shared corpus' two (`../shared/corpora/crossplane/`, named
/// `shared-crossplane` and `shared-crossplane-multistep`) and `tests/data/functions/*`.
pub fn all_cases() -> Vec<Case> {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/crossplane");
    let mut cases = vec![Case::load(&shared), Case::load(&shared.join("multistep"))];
    cases[0].name = "shared-crossplane".into();
    cases[1].name = "shared-crossplane-multistep".into();
    let own = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/functions");
    cases.extend(case_dirs(&own).iter().map(|d| Case::load(d)));
    cases
}

/// A request in the function's JSON shape (`observed`, `desired`, `context`), as
/// [`RenderRequest::from_json`] reads it: Strata's input for the same step.
pub fn request_json(request: &RunFunctionRequest) -> Value {
    fn resource(r: &Resource) -> Value {
        let details: Map<String, Value> = r
            .connection_details
            .iter()
            .map(|(k, v)| (k.clone(), json!(String::from_utf8_lossy(v))))
            .collect();
        let mut v = json!({
            "resource": r.resource.as_ref().map(from_struct).unwrap_or(Value::Null),
            "connectionDetails": details,
        });
        match Ready::try_from(r.ready) {
            Ok(Ready::True) => v["ready"] = json!("READY_TRUE"),
            Ok(Ready::False) => v["ready"] = json!("READY_FALSE"),
            _ => {}
        }
        v
    }
    fn state(s: Option<&State>) -> Value {
        let s = s.cloned().unwrap_or_default();
        let resources: Map<String, Value> = s
            .resources
            .iter()
            .map(|(k, r)| (k.clone(), resource(r)))
            .collect();
        let mut v = json!({"resources": resources});
        if let Some(c) = &s.composite {
            v["composite"] = resource(c);
        }
        v
    }
    json!({
        "observed": state(request.observed.as_ref()),
        "desired": state(request.desired.as_ref()),
        "context": request.context.as_ref().map(from_struct).unwrap_or_else(|| json!({})),
    })
}

// --- running both ---------------------------------------------------------------------------

/// What a pipeline produced, in one shape for both sides.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered(pub Value);

/// The request for one step, as Crossplane sends it.
pub fn step_request(
    case: &Case,
    step: &Value,
    desired: &State,
    context: Option<&prost_types::Struct>,
) -> RunFunctionRequest {
    RunFunctionRequest {
        meta: Some(RequestMeta {
            tag: format!("{}/{}", case.name, step["step"].as_str().unwrap_or("")),
        }),
        observed: Some(case.observed_state()),
        desired: Some(desired.clone()),
        input: to_struct(&step["input"]),
        context: context.cloned(),
    }
}

/// A run of the real pipeline.
#[derive(Debug, Clone, Default)]
pub struct RealRun {
    /// The request each step got.
    pub requests: Vec<RunFunctionRequest>,
    /// The last step's response.
    pub last: RunFunctionResponse,
    /// Every step's results.
    pub results: Vec<FnResult>,
    /// Every step's conditions.
    pub conditions: Vec<Condition>,
}

/// Runs the first `steps` steps through the real functions as Crossplane does: each step gets
/// the observed state, the previous response's desired state and context, and its input.
pub fn run_real_pipeline(
    functions: &mut Functions,
    case: &Case,
    steps: usize,
) -> Result<RealRun, String> {
    // Crossplane starts a pipeline with empty desired state and no context.
    let mut desired = State::default();
    let mut context: Option<prost_types::Struct> = None;
    let mut requests = Vec::new();
    let mut results = Vec::new();
    let mut conditions = Vec::new();
    let mut last = RunFunctionResponse::default();
    for step in &case.steps()[..steps] {
        let request = step_request(case, step, &desired, context.as_ref());
        requests.push(request.clone());
        let function_ref = step["functionRef"]["name"].as_str().unwrap_or("");
        let response = functions
            .for_step(function_ref)
            .client
            .run(request)
            .map_err(|s| format!("step {}: RunFunction failed: {s}", step["step"]))?;
        for r in &response.results {
            if r.severity == Severity::Fatal as i32 {
                return Err(format!(
                    "step {}: fatal result: {}",
                    step["step"], r.message
                ));
            }
        }
        results.extend(response.results.iter().cloned());
        conditions.extend(response.conditions.iter().cloned());
        desired = response.desired.clone().unwrap_or_default();
        context = response.context.clone();
        last = response;
    }
    Ok(RealRun {
        requests,
        last,
        results,
        conditions,
    })
}

fn condition_json(c: &Condition) -> Value {
    let status = match Status::try_from(c.status) {
        Ok(Status::True) => "True",
        Ok(Status::False) => "False",
        _ => "Unknown",
    };
    let target = match c.target.map(Target::try_from) {
        Some(Ok(Target::CompositeAndClaim)) => "CompositeAndClaim",
        _ => "Composite",
    };
    let mut v = json!({"type": c.r#type, "status": status, "reason": c.reason, "target": target});
    if let Some(m) = c.message.as_ref().filter(|m| !m.is_empty()) {
        v["message"] = json!(m);
    }
    v
}

/// The real functions' pipeline output in the compared shape.
pub fn real(functions: &mut Functions, case: &Case, steps: usize) -> Result<Rendered, String> {
    let RealRun {
        last,
        results,
        conditions,
        ..
    } = run_real_pipeline(functions, case, steps)?;
    let desired = last.desired.unwrap_or_default();
    let resources: Map<String, Value> = desired
        .resources
        .iter()
        .map(|(name, r)| {
            (
                name.clone(),
                json!({
                    "resource": r.resource.as_ref().map(from_struct).unwrap_or(Value::Null),
                    "ready": r.ready == Ready::True as i32,
                }),
            )
        })
        .collect();
    let composite = desired.composite.unwrap_or_default();
    let details: BTreeMap<String, String> = composite
        .connection_details
        .iter()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
        .collect();
    let warnings: Vec<Value> = results
        .iter()
        .filter(|r| r.severity == Severity::Warning as i32)
        .map(|r| json!(r.message))
        .collect();
    Ok(Rendered(json!({
        "resources": resources,
        "composite": composite.resource.as_ref().map(from_struct).unwrap_or_else(|| json!({})),
        "compositeMarkedUnready": composite.ready == Ready::False as i32,
        "connectionDetails": details,
        "context": last.context.as_ref().map(from_struct).unwrap_or_else(|| json!({})),
        "conditions": conditions.iter().map(condition_json).collect::<Vec<_>>(),
        "warnings": warnings,
    })))
}

/// Strata's render of the first `steps` steps in the compared shape.
pub fn strata(case: &Case, steps: usize) -> Result<Rendered, String> {
    let composition =
        Composition::parse(&case.composition_prefix(steps)).map_err(|e| e.to_string())?;
    let out = composition
        .render(&case.render_request(), RenderOptions::new())
        .map_err(|e| e.to_string())?;
    let resources: Map<String, Value> = out
        .resources
        .iter()
        .map(|r| {
            (
                r.name.clone(),
                json!({"resource": r.resource, "ready": r.ready}),
            )
        })
        .collect();
    let mut v = json!({
        "resources": resources,
        "composite": out.composite,
        "compositeMarkedUnready": out.composite_marked_unready,
        "connectionDetails": out.composite_connection_details,
        "context": out.context,
        "conditions": out.conditions,
        "warnings": out.warnings,
    });
    normalize(&mut v);
    Ok(Rendered(v))
}

// --- comparing ----------------------------------------------------------------------------

/// Where two JSON values differ: one line per differing path (`/a/b: real … strata …`).
pub fn differences(real: &Value, strata: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_at("", real, strata, &mut out);
    out
}

fn diff_at(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = format!("{path}/{}", k.replace('~', "~0").replace('/', "~1"));
                match (x.get(k), y.get(k)) {
                    (Some(va), Some(vb)) => diff_at(&p, va, vb, out),
                    (Some(va), None) => out.push(format!("{p}: real {va}, strata absent")),
                    (None, Some(vb)) => out.push(format!("{p}: real absent, strata {vb}")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                diff_at(&format!("{path}/{i}"), va, vb, out);
            }
        }
        _ if a == b => {}
        _ => out.push(format!("{path}: real {a}, strata {b}")),
    }
}
