//! Crossplane's function-go-templating, run in-process: the `gotemplating.fn.crossplane.io`
//! `GoTemplate` input (`source: Inline`), its template run over the function request
//! (`.observed`, `.desired`, `.context`, `.extraResources`) with the function's template
//! functions (`strata_gotemplate`'s Crossplane dialect), and its YAML output turned into
//! desired composed resources, composite status, connection details, context and conditions.

use crate::error::{Error, Result};
use crate::render::{DesiredComposed, ENVIRONMENT_KEY, RenderRequest};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use strata_gotemplate::{FunctionSet, MissingKey, TemplateSet};

/// The annotation naming a desired composed resource.
pub const RESOURCE_NAME_ANNOTATION: &str =
    "gotemplating.fn.crossplane.io/composition-resource-name";
/// The annotation setting a desired composed resource's readiness (`True`, `False`,
/// `Unspecified`).
pub const READY_ANNOTATION: &str = "gotemplating.fn.crossplane.io/ready";
/// The apiVersion of the function's meta-kinds (`CompositeConnectionDetails`, `Context`,
/// `ClaimConditions`, `ExtraResources`).
pub const META_API_VERSION: &str = "meta.gotemplating.fn.crossplane.io/v1alpha1";
/// The name the function gives its template (it appears in template errors).
pub const TEMPLATE_NAME: &str = "manifests";

/// Condition types Crossplane reserves: `ClaimConditions` may not set them.
const RESERVED_CONDITIONS: [&str; 3] = ["Ready", "Synced", "Healthy"];

/// A parsed function-go-templating input.
#[derive(Debug, Clone)]
pub struct GoTemplating {
    /// The template source, as written.
    pub source: String,
    templates: TemplateSet,
}

/// Whether a step input is function-go-templating's.
pub fn is_input(input: &Value) -> bool {
    input.get("kind").and_then(Value::as_str) == Some("GoTemplate")
        && input
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with("gotemplating.fn.crossplane.io/"))
}

fn invalid(msg: impl std::fmt::Display) -> Error {
    Error::Validation(format!("invalid function input: {msg}"))
}

impl GoTemplating {
    /// Parses the input and its template. Sources other than `Inline`, and custom delimiters,
    /// are validation errors naming them; so is a template that does not parse.
    pub fn parse(input: &Value) -> Result<GoTemplating> {
        let source = input.get("source").and_then(Value::as_str).unwrap_or("");
        match source {
            "Inline" => {}
            "" => return Err(invalid("source: Required value")),
            other => {
                return Err(invalid(format!(
                    "source {other:?} is not supported by Strata (only Inline templates are)"
                )));
            }
        }
        if input.get("delims").is_some_and(|d| !d.is_null()) {
            return Err(invalid(
                "delims: custom template delimiters are not supported by Strata",
            ));
        }
        let Some(text) = input
            .get("inline")
            .and_then(|i| i.get("template"))
            .and_then(Value::as_str)
        else {
            return Err(invalid("inline.template: Required value"));
        };
        let mut templates = TemplateSet::new(FunctionSet::Crossplane, MissingKey::Default);
        templates
            .add(TEMPLATE_NAME, text)
            .map_err(|e| invalid(format!("cannot parse the provided templates: {e}")))?;
        Ok(GoTemplating {
            source: text.to_owned(),
            templates,
        })
    }

    /// Runs the template over `req` and applies its output to `req`'s desired state and
    /// context. Conditions set through `ClaimConditions` are appended to `conditions`,
    /// anything Strata does not act on to `warnings`.
    pub fn run(
        &self,
        req: &mut RenderRequest,
        conditions: &mut Vec<Value>,
        warnings: &mut Vec<String>,
    ) -> Result<()> {
        let data = request_data(req);
        let text = self
            .templates
            .execute(TEMPLATE_NAME, &data)
            .map_err(|e| Error::Fatal(format!("cannot execute template: {e}")))?;
        let objects: Vec<Value> = strata_core::yaml::from_str_multiple(&text)
            .map_err(|e| Error::Fatal(format!("cannot decode manifest: {e}")))?;
        for obj in objects {
            if obj.is_null() {
                continue;
            }
            apply_object(obj, req, conditions, warnings)?;
        }
        Ok(())
    }
}

fn b64(s: &str) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(s))
}

/// The function request as the template sees it (the `RunFunctionRequest` in JSON form).
pub fn request_data(req: &RenderRequest) -> Value {
    let observed: Map<String, Value> = req
        .observed
        .iter()
        .map(|(name, o)| {
            let details: Map<String, Value> = o
                .connection_details
                .iter()
                .map(|(k, v)| (k.clone(), b64(v)))
                .collect();
            (
                name.clone(),
                json!({"resource": o.resource, "connectionDetails": details}),
            )
        })
        .collect();
    let desired: Map<String, Value> = req
        .desired
        .iter()
        .map(|(name, d)| {
            let mut entry = Map::new();
            entry.insert("resource".into(), d.resource.clone());
            match d.ready {
                Some(true) => {
                    entry.insert("ready".into(), json!("READY_TRUE"));
                }
                Some(false) => {
                    entry.insert("ready".into(), json!("READY_FALSE"));
                }
                None => {}
            }
            (name.clone(), Value::Object(entry))
        })
        .collect();
    let composite_details: Map<String, Value> = req
        .desired_connection_details
        .iter()
        .map(|(k, v)| (k.clone(), b64(v)))
        .collect();
    let desired_composite = match &req.desired_composite {
        Value::Null => json!({}),
        other => other.clone(),
    };
    json!({
        "observed": {
            "composite": {"resource": req.composite},
            "resources": observed,
        },
        "desired": {
            "composite": {"resource": desired_composite, "connectionDetails": composite_details},
            "resources": desired,
        },
        "context": context_of(req),
        "extraResources": req.extra_resources,
    })
}

/// The pipeline context: the environment under its key, and the other keys.
fn context_of(req: &RenderRequest) -> Value {
    let mut context = req.context.clone();
    if let Some(env) = &req.environment {
        context.insert(ENVIRONMENT_KEY.to_owned(), env.clone());
    }
    Value::Object(context)
}

fn text_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// What one rendered document does.
fn apply_object(
    mut obj: Value,
    req: &mut RenderRequest,
    conditions: &mut Vec<Value>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let kind = text_at(&obj, "kind").to_owned();
    let api_version = text_at(&obj, "apiVersion").to_owned();
    let annotations = match obj.pointer("/metadata/annotations") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) if m.values().all(Value::is_string) => m.clone(),
        Some(_) => {
            return Err(Error::Fatal(format!(
                "invalid annotations in resource '{api_version}, Kind={kind}': annotation values must be strings"
            )));
        }
    };
    let name = annotations
        .get(RESOURCE_NAME_ANNOTATION)
        .and_then(Value::as_str)
        .map(str::to_owned);
    // The composite's own type without a resource name: only its status is desired.
    if name.is_none()
        && api_version == text_at(&req.composite, "apiVersion")
        && kind == text_at(&req.composite, "kind")
    {
        let status = obj.get("status").cloned().unwrap_or(Value::Null);
        // As the function: the desired composite gets the status, not apiVersion and kind.
        if !req.desired_composite.is_object() {
            req.desired_composite = Value::Object(Map::new());
        }
        if let Value::Object(dxr) = &mut req.desired_composite {
            let dst = dxr.entry("status").or_insert_with(|| json!({}));
            merge_override(dst, &status);
        }
        return Ok(());
    }
    if api_version == META_API_VERSION {
        return apply_meta(&kind, &obj, req, conditions, warnings);
    }
    let mut ready = None;
    if let Some(v) = annotations.get(READY_ANNOTATION).and_then(Value::as_str) {
        ready = match v {
            "True" => Some(true),
            "False" => Some(false),
            "Unspecified" => None,
            other => {
                return Err(Error::Fatal(format!(
                    "invalid function input: invalid {READY_ANNOTATION:?} annotation value {other:?}: must be True, False, or Unspecified"
                )));
            }
        };
    }
    let Some(name) = name else {
        return Err(Error::Fatal(format!(
            "{kind:?} template is missing required {RESOURCE_NAME_ANNOTATION:?} annotation"
        )));
    };
    // As the function: its annotations go, an emptied `annotations` map stays.
    if let Some(Value::Object(a)) = obj.pointer_mut("/metadata/annotations") {
        a.shift_remove(READY_ANNOTATION);
        a.shift_remove(RESOURCE_NAME_ANNOTATION);
    }
    crate::value::normalize(&mut obj);
    req.desired.insert(
        name,
        DesiredComposed {
            resource: obj,
            ready,
        },
    );
    Ok(())
}

/// The meta-kinds: connection details, context, claim conditions, extra-resource requirements.
fn apply_meta(
    kind: &str,
    obj: &Value,
    req: &mut RenderRequest,
    conditions: &mut Vec<Value>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    match kind {
        "CompositeConnectionDetails" => {
            for (k, v) in obj.get("data").and_then(Value::as_object).into_iter().flatten() {
                let Some(encoded) = v.as_str() else { continue };
                // As the function: values are base64; what does not decode is empty.
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .unwrap_or_default();
                req.desired_connection_details
                    .insert(k.clone(), String::from_utf8_lossy(&decoded).into_owned());
            }
        }
        "Context" => {
            let Some(data) = obj.get("data").and_then(Value::as_object) else {
                return Err(Error::Fatal(
                    "cannot get Contexts from input: data must be an object".into(),
                ));
            };
            for (key, value) in data {
                let slot = if key == ENVIRONMENT_KEY {
                    req.environment.get_or_insert_with(|| json!({}))
                } else {
                    req.context.entry(key.clone()).or_insert(Value::Null)
                };
                if slot.is_object() && value.is_object() {
                    merge_override(slot, value);
                } else {
                    *slot = value.clone();
                }
            }
        }
        "ClaimConditions" => {
            for c in obj
                .get("conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let ty = text_at(c, "type");
                if RESERVED_CONDITIONS.contains(&ty) {
                    return Err(Error::Fatal(format!(
                        "cannot set ClaimCondition type: {ty} is a reserved Crossplane Condition"
                    )));
                }
                let status = match text_at(c, "status") {
                    s @ ("True" | "False") => s,
                    _ => "Unknown",
                };
                let target = match text_at(c, "target") {
                    "CompositeAndClaim" => "CompositeAndClaim",
                    _ => "Composite",
                };
                let mut condition = json!({
                    "type": ty,
                    "status": status,
                    "reason": text_at(c, "reason"),
                    "target": target,
                });
                if !text_at(c, "message").is_empty() {
                    condition["message"] = json!(text_at(c, "message"));
                }
                conditions.push(condition);
            }
        }
        "ExtraResources" => warnings.push(
            "extra resources were requested (ExtraResources); Strata does not fetch them, so templates see only the extra resources given to the render".into(),
        ),
        other => {
            return Err(Error::Fatal(format!(
                "invalid kind {other:?} for apiVersion {META_API_VERSION:?} - must be one of CompositeConnectionDetails, Context, ExtraResources or ClaimConditions"
            )));
        }
    }
    Ok(())
}

/// Whether a value is Go's zero value for its kind (mergo does not override with those).
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

/// mergo's `Merge(dst, src, WithOverride)` over maps: maps merge key by key, other non-empty
/// values of `src` replace those of `dst`.
fn merge_override(dst: &mut Value, src: &Value) {
    match (dst, src) {
        (Value::Object(d), Value::Object(s)) => {
            for (k, sv) in s {
                match d.get_mut(k) {
                    Some(dv) if dv.is_object() && sv.is_object() => merge_override(dv, sv),
                    Some(dv) => {
                        if !is_empty(sv) {
                            *dv = sv.clone();
                        }
                    }
                    None => {
                        d.insert(k.clone(), sv.clone());
                    }
                }
            }
        }
        (d, s) => {
            if !is_empty(s) {
                *d = s.clone();
            }
        }
    }
}

/// function-auto-ready: desired composed resources whose readiness no step set are ready when
/// their observed counterpart's `Ready` condition is `True`.
pub fn auto_ready(req: &mut RenderRequest) {
    for (name, desired) in &mut req.desired {
        if desired.ready.is_some() {
            continue;
        }
        if let Some(observed) = req.observed.get(name)
            && crate::readiness::condition_status(&observed.resource, "Ready") == "True"
        {
            desired.ready = Some(true);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::composition::Composition;
    use crate::render::{ObservedComposed, RenderOptions, RenderOutput};

    fn input(template: &str) -> Value {
        json!({
            "apiVersion": "gotemplating.fn.crossplane.io/v1beta1",
            "kind": "GoTemplate",
            "source": "Inline",
            "inline": {"template": template},
        })
    }

    /// A P&T step making a Bucket, then go-templating step `acl` with `template`.
    fn composition(template: &str) -> Composition {
        Composition::parse(&crate::composition::tests::pipeline(
            "acl",
            "function-go-templating",
            input(template),
        ))
        .unwrap()
    }

    fn render(template: &str, req: &RenderRequest) -> Result<RenderOutput> {
        composition(template).render(req, RenderOptions::new())
    }

    fn request() -> RenderRequest {
        crate::composition::tests::request()
    }

    fn resource<'a>(out: &'a RenderOutput, name: &str) -> &'a crate::render::RenderedResource {
        out.resources
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no resource {name} in {:?}", out.resources))
    }

    const TWO: &str = r#"
apiVersion: s3.aws.upbound.io/v1beta1
kind: BucketACL
metadata:
  annotations:
    gotemplating.fn.crossplane.io/composition-resource-name: acl
spec:
  forProvider:
    acl: private
    region: {{ .observed.composite.resource.spec.region }}
    bucket: {{ (index .desired.resources "bucket").resource.spec.forProvider.region }}
---
apiVersion: s3.aws.upbound.io/v1beta1
kind: BucketVersioning
metadata:
  annotations:
    {{ setResourceNameAnnotation "versioning" }}
    keep: me
spec: {}
"#;

    #[test]
    fn an_inline_template_adds_named_resources_after_patch_and_transform() {
        let out = render(TWO, &request()).unwrap();
        let names: Vec<&str> = out.resources.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["acl", "bucket", "versioning"]);
        let acl = &resource(&out, "acl").resource;
        assert_eq!(acl["kind"], json!("BucketACL"));
        assert_eq!(acl["spec"]["forProvider"]["region"], json!("eu-west-1"));
        assert_eq!(
            acl["spec"]["forProvider"]["bucket"],
            json!("eu-west-1"),
            "the template sees what P&T desired"
        );
        assert_eq!(
            acl["metadata"]["annotations"],
            json!({}),
            "the function's annotations are removed, the emptied map stays (as the function): {acl}"
        );
        assert_eq!(
            resource(&out, "versioning").resource["metadata"]["annotations"],
            json!({"keep": "me"})
        );
        assert!(!resource(&out, "acl").ready);
    }

    #[test]
    fn the_ready_annotation_sets_readiness() {
        let t = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  annotations:\n    gotemplating.fn.crossplane.io/composition-resource-name: cm\n    gotemplating.fn.crossplane.io/ready: \"True\"\n";
        let out = render(t, &request()).unwrap();
        assert!(resource(&out, "cm").ready);
        assert_eq!(
            resource(&out, "cm").resource["metadata"],
            json!({"annotations": {}})
        );
        let bad = t.replace("\"True\"", "\"Yes\"");
        let err = render(&bad, &request()).unwrap_err().to_string();
        assert!(err.contains("must be True, False, or Unspecified"), "{err}");
    }

    #[test]
    fn a_resource_without_a_name_is_an_error_and_the_composite_type_sets_status() {
        let err = render("apiVersion: v1\nkind: ConfigMap\n", &request())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"ConfigMap\" template is missing required \"gotemplating.fn.crossplane.io/composition-resource-name\" annotation"),
            "{err}"
        );
        let out = render(
            "apiVersion: example.org/v1\nkind: XBucket\nstatus:\n  arn: arn:{{ .observed.composite.resource.metadata.name }}\n",
            &request(),
        )
        .unwrap();
        assert_eq!(out.composite["status"]["arn"], json!("arn:logs"));
        assert_eq!(out.resources.len(), 1, "no composed resource added");
    }

    #[test]
    fn a_go_templating_only_pipeline_desires_only_the_status_and_leaves_the_environment_out() {
        let c = json!({
            "apiVersion": "apiextensions.crossplane.io/v1",
            "kind": "Composition",
            "metadata": {"name": "xbuckets.example.org"},
            "spec": {
                "compositeTypeRef": {"apiVersion": "example.org/v1", "kind": "XBucket"},
                "mode": "Pipeline",
                "pipeline": [{"step": "t", "functionRef": {"name": "function-go-templating"}, "input": input(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  annotations:\n    gotemplating.fn.crossplane.io/composition-resource-name: cm\n"
                )}],
            },
        });
        let composition = Composition::parse(&c).unwrap();
        let out = composition
            .render(&request(), RenderOptions::new())
            .unwrap();
        assert_eq!(
            out.composite,
            json!({}),
            "no apiVersion and kind of its own"
        );
        assert!(out.context.is_empty(), "{:?}", out.context);
        let mut status = c.clone();
        status["spec"]["pipeline"][0]["input"] =
            input("apiVersion: example.org/v1\nkind: XBucket\nstatus:\n  phase: ok\n");
        let out = Composition::parse(&status)
            .unwrap()
            .render(&request(), RenderOptions::new())
            .unwrap();
        assert_eq!(out.composite, json!({"status": {"phase": "ok"}}));
    }

    #[test]
    fn connection_details_come_from_the_meta_kind_base64_decoded() {
        let t = "apiVersion: meta.gotemplating.fn.crossplane.io/v1alpha1\nkind: CompositeConnectionDetails\ndata:\n  user: {{ \"admin\" | b64enc }}\n  raw: {{ .observed.composite.resource.spec.region | b64enc }}\n";
        let out = render(t, &request()).unwrap();
        assert_eq!(
            out.composite_connection_details,
            [
                ("raw".to_owned(), "eu-west-1".to_owned()),
                ("user".to_owned(), "admin".to_owned())
            ]
            .into_iter()
            .collect()
        );
    }

    #[test]
    fn the_context_meta_kind_merges_into_the_pipeline_context() {
        let mut req = request();
        req.environment = Some(json!({"keep": "x", "update": "old", "nested": {"a": 1}}));
        req.context.insert("other".into(), json!({"before": true}));
        let t = r#"apiVersion: meta.gotemplating.fn.crossplane.io/v1alpha1
kind: Context
data:
  "apiextensions.crossplane.io/environment":
    update: new
    nested:
      b: 2
  other:
    region: {{ index .context "other" "before" }}
  fresh: value
"#;
        let out = render(t, &req).unwrap();
        let env = &out.context[ENVIRONMENT_KEY];
        assert_eq!(env["keep"], json!("x"));
        assert_eq!(env["update"], json!("new"));
        assert_eq!(env["nested"], json!({"a": 1, "b": 2}));
        assert_eq!(out.environment, out.context[ENVIRONMENT_KEY]);
        assert_eq!(
            out.context["other"],
            json!({"before": true, "region": true})
        );
        assert_eq!(out.context["fresh"], json!("value"));
    }

    #[test]
    fn claim_conditions_are_recorded_and_reserved_types_refused() {
        let t = "apiVersion: meta.gotemplating.fn.crossplane.io/v1alpha1\nkind: ClaimConditions\nconditions:\n- type: DatabaseReady\n  status: \"True\"\n  reason: Ready\n  message: done\n  target: CompositeAndClaim\n";
        let out = render(t, &request()).unwrap();
        assert_eq!(
            out.conditions,
            [
                json!({"type": "DatabaseReady", "status": "True", "reason": "Ready", "message": "done", "target": "CompositeAndClaim"})
            ]
        );
        let err = render(&t.replace("DatabaseReady", "Synced"), &request())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Synced is a reserved Crossplane Condition"),
            "{err}"
        );
    }

    fn observed_request() -> RenderRequest {
        let mut req = request();
        req.observed.insert(
            "bucket".into(),
            ObservedComposed {
                resource: json!({
                    "apiVersion": "s3.aws.upbound.io/v1beta1",
                    "kind": "Bucket",
                    "metadata": {"name": "logs-abcde"},
                    "status": {"conditions": [
                        {"type": "Ready", "status": "True", "reason": "Available"},
                        {"type": "Synced", "status": "False", "reason": "ReconcileError", "message": "boom"},
                    ]},
                }),
                ..ObservedComposed::default()
            },
        );
        req
    }

    /// Runs `template` (a value expression) in a ConfigMap's `data.v` and returns what it wrote.
    fn eval(expr: &str, req: &RenderRequest) -> Value {
        let t = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  annotations:\n    {{{{ setResourceNameAnnotation \"out\" }}}}\ndata:\n  v: {expr}\n"
        );
        let out = render(&t, req).unwrap();
        resource(&out, "out").resource["data"]["v"].clone()
    }

    #[test]
    fn the_functions_extra_template_functions() {
        let req = observed_request();
        // getResourceCondition: the condition as Go's struct, Unknown when absent.
        assert_eq!(
            eval(
                r#"{{ (getResourceCondition "Synced" (index .observed.resources "bucket")).Message }}"#,
                &req
            ),
            json!("boom")
        );
        assert_eq!(
            eval(
                r#"{{ (getResourceCondition "Ready" (index .observed.resources "bucket")).Status }}"#,
                &req
            ),
            json!(true),
            "the YAML reads True as a boolean"
        );
        assert_eq!(
            eval(
                r#"{{ (getResourceCondition "Ready" (getComposedResource . "missing")).Status }}"#,
                &req
            ),
            json!("Unknown")
        );
        // getComposedResource / getCompositeResource.
        assert_eq!(
            eval(
                r#"{{ (getComposedResource . "bucket").metadata.name }}"#,
                &req
            ),
            json!("logs-abcde")
        );
        assert_eq!(
            eval(r#"{{ (getCompositeResource .).spec.region }}"#, &req),
            json!("eu-west-1")
        );
        // toYaml (yaml.v3: four-space indentation, final newline) and fromYaml.
        assert_eq!(
            eval(
                r#"{{ dict "a" (dict "b" (list 1 2)) | toYaml | quote }}"#,
                &req
            ),
            json!("a:\n    b:\n        - 1\n        - 2\n")
        );
        assert_eq!(
            eval(
                r#"{{ (fromYaml "x:\n  y: [1, 2]").x.y | toJson | quote }}"#,
                &req
            ),
            json!("[1,2]")
        );
        // include: a defined template's output as a string.
        let t = "{{- define \"labels\" }}app: {{ . }}{{ end -}}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  annotations:\n    {{ setResourceNameAnnotation \"inc\" }}\ndata:\n  v: {{ include \"labels\" \"web\" | upper | quote }}\n";
        let out = render(t, &req).unwrap();
        assert_eq!(
            resource(&out, "inc").resource["data"]["v"],
            json!("APP: WEB")
        );
        // randomChoice: one of its arguments.
        for _ in 0..8 {
            let v = eval(r#"{{ randomChoice "a" "b" "c" }}"#, &req);
            assert!(["a", "b", "c"].contains(&v.as_str().unwrap()), "{v}");
        }
        // setResourceNameAnnotation.
        assert_eq!(
            eval(r#"{{ setResourceNameAnnotation "x" | quote }}"#, &req),
            json!("gotemplating.fn.crossplane.io/composition-resource-name: x")
        );
    }

    #[test]
    fn a_failing_template_names_the_step_the_template_and_the_line() {
        let t = "apiVersion: v1\nkind: ConfigMap\ndata:\n  v: {{ fail_here }}\n";
        let err = Composition::parse(&crate::composition::tests::pipeline(
            "acl",
            "function-go-templating",
            input(t),
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("pipeline step \"acl\""), "{err}");
        assert!(err.contains("manifests:4"), "{err}");

        let t = "apiVersion: v1\nkind: ConfigMap\n\ndata:\n  v: {{ index .observed.composite.resource.spec 1 }}\n";
        let err = render(t, &request()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "composition xbuckets.example.org: pipeline step \"acl\" (function-go-templating): cannot execute template: template: manifests:5:"
            ),
            "{text}"
        );
        assert!(matches!(err, Error::Step { ref step, .. } if step == "acl"));
    }

    #[test]
    fn only_inline_templates_are_supported() {
        let mut i = input("x");
        i["source"] = json!("FileSystem");
        let err = GoTemplating::parse(&i).unwrap_err().to_string();
        assert!(err.contains("\"FileSystem\" is not supported"), "{err}");
    }

    #[test]
    fn auto_ready_marks_resources_whose_observed_ready_condition_is_true() {
        let mut c = crate::composition::tests::pipeline(
            "acl",
            "function-go-templating",
            input(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  annotations:\n    gotemplating.fn.crossplane.io/composition-resource-name: cm\n",
            ),
        );
        c["spec"]["pipeline"]
            .as_array_mut()
            .unwrap()
            .push(json!({"step": "ready", "functionRef": {"name": "function-auto-ready"}}));
        let composition = Composition::parse(&c).unwrap();
        assert!(composition.unsupported_steps().next().is_none());
        let mut req = observed_request();
        req.observed.insert(
            "cm".into(),
            ObservedComposed {
                resource: json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
                ..ObservedComposed::default()
            },
        );
        let out = composition.render(&req, RenderOptions::new()).unwrap();
        assert!(resource(&out, "bucket").ready, "observed Ready=True");
        assert!(!resource(&out, "cm").ready, "observed Ready=False");
        assert!(!out.composite_ready);
    }
}
