//! Crossplane's function-go-templating, run in-process: the `gotemplating.fn.crossplane.io`
//! `GoTemplate` input (`source: Inline`, `FileSystem` read relative to the composition's file,
//! `Environment` read from the pipeline's environment; `options`), its template run over the function request
//! (`.observed`, `.desired`, `.context`, `.extraResources`) with the function's template
//! functions (`strata_gotemplate`'s Crossplane dialect), and its YAML output turned into
//! desired composed resources, composite status, connection details, context and conditions.

use crate::error::{Error, Phase, Result};
use crate::render::{DesiredComposed, ENVIRONMENT_KEY, RenderRequest};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use strata_core::source::{EntryKind, SourceError, SourceTree};
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

/// Where a go-templating step's template text comes from (`source`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TemplateSource {
    /// `Inline`: `inline.template`, or `inline.templates` joined with `---` documents.
    Inline,
    /// `FileSystem`: every file below `fileSystem.dirPath`. The function reads the directory
    /// mounted into its pod; Strata reads it relative to the composition's file when the
    /// composition is loaded from a directory or a stack ([`TemplateFiles`]).
    FileSystem {
        /// `fileSystem.dirPath`, as written.
        dir_path: String,
    },
    /// `Environment`: the string at `environment.key` of the pipeline's environment, read
    /// when the step runs.
    Environment {
        /// `environment.key`.
        key: String,
    },
}

/// A parsed function-go-templating input.
#[derive(Debug, Clone)]
pub struct GoTemplating {
    /// Where the template text comes from.
    pub source: TemplateSource,
    /// The template text: as written for `Inline`, the files joined once read for
    /// `FileSystem`, `None` for `Environment` (read when the step runs) and for a
    /// `FileSystem` directory not read yet.
    pub text: Option<String>,
    missing: MissingKey,
    /// `delims.left` and `delims.right` (empty: Go's `{{` and `}}`).
    delims: (String, String),
    templates: Option<TemplateSet>,
}

/// Reads the directories of `source: FileSystem` steps.
pub trait TemplateFiles {
    /// The template text of directory `dir_path` (as the step names it): every file below it
    /// as the function reads them (see [`read_template_dir`]).
    fn read_dir(&self, dir_path: &str) -> Result<String>;
}

/// Template directories inside a source tree, relative to directory `base` of the tree (the
/// composition's directory). A path leaving the tree is an error.
pub struct TreeTemplateFiles<'a> {
    /// The tree.
    pub tree: &'a dyn SourceTree,
    /// The directory relative paths start from.
    pub base: String,
}

impl TemplateFiles for TreeTemplateFiles<'_> {
    fn read_dir(&self, dir_path: &str) -> Result<String> {
        refuse_absolute(dir_path)?;
        let dir =
            strata_core::source::join(&self.base, dir_path).map_err(|e| read_error(dir_path, e))?;
        read_template_dir(self.tree, &dir).map_err(|e| read_error(dir_path, e))
    }
}

/// Template directories on disk, relative to `base` (the composition file's directory).
pub struct DiskTemplateFiles {
    /// The directory relative paths start from.
    pub base: std::path::PathBuf,
}

impl TemplateFiles for DiskTemplateFiles {
    fn read_dir(&self, dir_path: &str) -> Result<String> {
        refuse_absolute(dir_path)?;
        let tree = strata_core::source::FsTree::new(self.base.join(dir_path));
        read_template_dir(&tree, "").map_err(|e| read_error(dir_path, e))
    }
}

fn refuse_absolute(dir_path: &str) -> Result<()> {
    if dir_path.starts_with('/') {
        return Err(invalid(format!(
            "fileSystem.dirPath {dir_path:?} is absolute (a directory mounted into the function's pod): Strata reads template directories relative to the composition's file"
        )));
    }
    Ok(())
}

fn read_error(dir_path: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::caused(
        Phase::Validation,
        format!("invalid function input: cannot read tmpl from the folder {{{dir_path}}}: "),
        e,
    )
}

/// The function's `readTemplates`: every file below `dir` of `tree`, in name order at each
/// level, each followed by a `---` line; files and directories whose name starts with `.` are
/// skipped (a Kubernetes ConfigMap volume's `..data` directory among them), and so is a `dir`
/// whose own name starts with `.` (Strata refuses that, as nothing would be read).
pub fn read_template_dir(
    tree: &dyn SourceTree,
    dir: &str,
) -> std::result::Result<String, SourceError> {
    let mut out = String::new();
    walk_templates(tree, dir, &mut out)?;
    Ok(out)
}

fn walk_templates(
    tree: &dyn SourceTree,
    dir: &str,
    out: &mut String,
) -> std::result::Result<(), SourceError> {
    for entry in tree.list(dir)? {
        if entry.name.starts_with('.') {
            continue;
        }
        let path = strata_core::source::join(dir, &entry.name)?;
        match entry.kind {
            EntryKind::Dir => walk_templates(tree, &path, out)?,
            EntryKind::File => {
                out.push_str(&tree.read_to_string(&path)?);
                out.push_str("\n---\n");
            }
        }
    }
    Ok(())
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

fn nonempty<'a>(input: &'a Value, pointer: &str) -> Option<&'a str> {
    input
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

impl GoTemplating {
    /// Parses the input (and, for `Inline`, its template), with the function's messages for a
    /// missing or unknown source. `options` (`missingkey=...`) are applied; custom
    /// delimiters are a validation error naming them; so is a template that does not parse.
    pub fn parse(input: &Value) -> Result<GoTemplating> {
        let missing = match input.get("options") {
            None | Some(Value::Null) => MissingKey::Default,
            Some(Value::Array(items)) => {
                let options: Vec<&str> = items
                    .iter()
                    .map(|o| {
                        o.as_str()
                            .ok_or_else(|| invalid("options: must be a list of strings"))
                    })
                    .collect::<Result<_>>()?;
                MissingKey::from_options(&options).map_err(|e| {
                    Error::caused(Phase::Validation, "cannot apply template options: ", e)
                })?
            }
            Some(_) => return Err(invalid("options: must be a list of strings")),
        };
        let delims = match input.get("delims") {
            None | Some(Value::Null) => (String::new(), String::new()),
            Some(Value::Object(d)) => {
                let side = |key: &str| match d.get(key) {
                    None | Some(Value::Null) => Ok(String::new()),
                    Some(Value::String(text)) => Ok(text.clone()),
                    Some(_) => Err(invalid(format!("delims.{key}: must be a string"))),
                };
                (side("left")?, side("right")?)
            }
            Some(_) => return Err(invalid("delims: must be an object with left and right")),
        };
        let source = input.get("source").and_then(Value::as_str).unwrap_or("");
        let (source, text) = match source {
            "Inline" => {
                let text = match nonempty(input, "/inline/template") {
                    Some(t) => t.to_owned(),
                    None => {
                        let list: Vec<&str> = input
                            .pointer("/inline/templates")
                            .and_then(Value::as_array)
                            .map(|l| l.iter().filter_map(Value::as_str).collect())
                            .unwrap_or_default();
                        if list.is_empty() {
                            return Err(invalid(
                                "inline.template or inline.templates should be provided",
                            ));
                        }
                        list.join("\n---\n")
                    }
                };
                (TemplateSource::Inline, Some(text))
            }
            "FileSystem" => {
                let Some(dir_path) = nonempty(input, "/fileSystem/dirPath") else {
                    return Err(invalid("fileSystem.dirPath should be provided"));
                };
                if dir_path
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .is_some_and(|name| name.starts_with('.'))
                {
                    return Err(invalid(format!(
                        "fileSystem.dirPath {dir_path:?}: the function skips a directory whose name starts with '.', so no template would be read"
                    )));
                }
                let dir_path = dir_path.to_owned();
                (TemplateSource::FileSystem { dir_path }, None)
            }
            "Environment" => {
                let Some(key) = nonempty(input, "/environment/key") else {
                    return Err(invalid("environment.key should be provided"));
                };
                let key = key.to_owned();
                (TemplateSource::Environment { key }, None)
            }
            "" => return Err(invalid("source is required")),
            other => return Err(invalid(format!("invalid source: {other}"))),
        };
        let mut step = GoTemplating {
            source,
            text: None,
            missing,
            delims,
            templates: None,
        };
        if let Some(text) = text {
            step.set_text(text)?;
        }
        Ok(step)
    }

    fn set_text(&mut self, text: String) -> Result<()> {
        self.templates = Some(parse_templates(&text, self.missing, &self.delims)?);
        self.text = Some(text);
        Ok(())
    }

    /// Reads a `source: FileSystem` step's directory through `files` and parses it (other
    /// sources are left as they are).
    pub fn read_files(&mut self, files: &dyn TemplateFiles) -> Result<()> {
        if let TemplateSource::FileSystem { dir_path } = &self.source {
            let text = files.read_dir(dir_path)?;
            self.set_text(text)?;
        }
        Ok(())
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
        let from_environment;
        let templates = match (&self.source, &self.templates) {
            (TemplateSource::Environment { key }, _) => {
                from_environment =
                    parse_templates(environment_template(req, key)?, self.missing, &self.delims)?;
                &from_environment
            }
            (_, Some(t)) => t,
            (TemplateSource::FileSystem { dir_path }, None) => {
                return Err(invalid(format!(
                    "fileSystem.dirPath {dir_path:?}: the template files were not read (Strata reads them relative to the composition's file when it loads a directory or a stack)"
                )));
            }
            (TemplateSource::Inline, None) => {
                return Err(invalid(
                    "inline.template or inline.templates should be provided",
                ));
            }
        };
        let data = request_data(req);
        let text = templates
            .execute(TEMPLATE_NAME, &data)
            .map_err(|source| Error::caused(Phase::Fatal, "cannot execute template: ", source))?;
        let objects: Vec<Value> = strata_core::yaml::from_str_multiple(&text)
            .map_err(|source| Error::caused(Phase::Fatal, "cannot decode manifest: ", source))?;
        for obj in objects {
            if obj.is_null() {
                continue;
            }
            apply_object(obj, req, conditions, warnings)?;
        }
        Ok(())
    }
}

fn parse_templates(
    text: &str,
    missing: MissingKey,
    (left, right): &(String, String),
) -> Result<TemplateSet> {
    let mut templates = TemplateSet::new(FunctionSet::Crossplane, missing).with_delims(left, right);
    templates.add(TEMPLATE_NAME, text).map_err(|e| {
        Error::caused(
            Phase::Validation,
            "invalid function input: cannot parse the provided templates: ",
            e,
        )
    })?;
    Ok(templates)
}

/// The template text of a `source: Environment` step, with the function's errors.
fn environment_template<'a>(req: &'a RenderRequest, key: &str) -> Result<&'a str> {
    let fail = |msg: String| {
        Err(Error::Fatal(format!(
            "invalid function input: cannot read tmpl from the environment: {msg}"
        )))
    };
    let Some(Value::Object(env)) = &req.environment else {
        return fail(format!("{ENVIRONMENT_KEY} key does not exist in context"));
    };
    match env.get(key) {
        None => fail(format!("key: {key} does not exist")),
        Some(Value::String(text)) => Ok(text),
        Some(_) => fail(format!("key: {key} value is not a string")),
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

    #[test]
    fn a_template_that_does_not_parse_keeps_the_parser_error_as_source() {
        let err = GoTemplating::parse(&input("{{ if }}")).unwrap_err();
        assert_eq!(err.phase(), crate::Phase::Validation);
        let source = std::error::Error::source(&err).unwrap();
        let parse = source
            .downcast_ref::<strata_gotemplate::TemplateError>()
            .unwrap();
        assert!(parse.parse, "{parse:?}");
        assert_eq!(
            err.to_string(),
            format!("invalid function input: cannot parse the provided templates: {parse}")
        );
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
    fn missing_and_unknown_sources_fail_with_the_functions_messages() {
        let cases = [
            (
                json!({"source": ""}),
                "invalid function input: source is required",
            ),
            (
                json!({"source": "Git"}),
                "invalid function input: invalid source: Git",
            ),
            (
                json!({"source": "Inline", "inline": {"template": ""}}),
                "invalid function input: inline.template or inline.templates should be provided",
            ),
            (
                json!({"source": "FileSystem"}),
                "invalid function input: fileSystem.dirPath should be provided",
            ),
            (
                json!({"source": "Environment", "environment": {}}),
                "invalid function input: environment.key should be provided",
            ),
            (
                json!({"source": "Inline", "inline": {"template": "x"}, "options": ["missingkey=maybe"]}),
                "cannot apply template options: ",
            ),
        ];
        for (fields, want) in cases {
            let mut i = json!({"apiVersion": "gotemplating.fn.crossplane.io/v1beta1", "kind": "GoTemplate"});
            for (k, v) in fields.as_object().unwrap() {
                i[k] = v.clone();
            }
            let err = GoTemplating::parse(&i).unwrap_err();
            assert!(err.to_string().starts_with(want), "{err} (want {want})");
            assert_eq!(err.phase(), crate::error::Phase::Validation);
        }
    }

    #[test]
    fn custom_delimiters_are_the_templates_action_markers() {
        let mut i = input(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  annotations:\n    gotemplating.fn.crossplane.io/composition-resource-name: cm\ndata:\n  region: [[ .observed.composite.resource.spec.region ]]\n  literal: \"{{ kept }}\"\n",
        );
        i["delims"] = json!({"left": "[[", "right": "]]"});
        let t = GoTemplating::parse(&i).unwrap();
        let mut req = request();
        t.run(&mut req, &mut Vec::new(), &mut Vec::new()).unwrap();
        let data = &req.desired["cm"].resource["data"];
        assert_eq!(data["literal"], "{{ kept }}");
        assert_eq!(data["region"], req.composite["spec"]["region"]);
        i["delims"] = json!({"left": 1});
        let e = GoTemplating::parse(&i).unwrap_err().to_string();
        assert!(e.contains("delims.left: must be a string"), "{e}");
    }

    #[test]
    fn inline_templates_are_joined_as_documents() {
        let mut i = input("");
        i["inline"] = json!({"templates": [
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  annotations:\n    gotemplating.fn.crossplane.io/composition-resource-name: one\n",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  annotations:\n    gotemplating.fn.crossplane.io/composition-resource-name: two\n",
        ]});
        let t = GoTemplating::parse(&i).unwrap();
        let mut req = request();
        t.run(&mut req, &mut Vec::new(), &mut Vec::new()).unwrap();
        assert_eq!(req.desired.keys().collect::<Vec<_>>(), ["one", "two"]);
    }

    fn cm(name: &str) -> String {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  annotations:\n    gotemplating.fn.crossplane.io/composition-resource-name: {name}\ndata:\n  region: {{{{ .observed.composite.resource.spec.region }}}}\n"
        )
    }

    #[test]
    fn file_system_templates_are_every_file_below_the_directory_but_hidden_ones() {
        let tree = strata_core::source::MemoryTree::new()
            .with_file("platform/composition.yaml", "kind: Composition\n")
            .with_file("platform/templates/b.yaml", cm("b"))
            .with_file("platform/templates/a/nested.yaml", cm("nested"))
            .with_file("platform/templates/.hidden.yaml", cm("hidden"))
            .with_file("platform/templates/..data/skipped.yaml", cm("skipped"))
            .with_file("platform/templates/c.tpl", "{{ define \"x\" }}{{ end }}");
        let files = TreeTemplateFiles {
            tree: &tree,
            base: "platform".into(),
        };
        let mut i = input("");
        i["source"] = json!("FileSystem");
        i["fileSystem"] = json!({"dirPath": "templates"});
        let mut t = GoTemplating::parse(&i).unwrap();
        // Not read yet: running says so.
        let err = t
            .run(&mut request(), &mut Vec::new(), &mut Vec::new())
            .unwrap_err();
        assert!(
            err.to_string().contains("the template files were not read"),
            "{err}"
        );
        t.read_files(&files).unwrap();
        let text = t.text.clone().unwrap();
        assert!(text.starts_with(&cm("nested")), "{text}");
        assert!(
            text.ends_with("{{ define \"x\" }}{{ end }}\n---\n"),
            "{text}"
        );
        let mut req = request();
        t.run(&mut req, &mut Vec::new(), &mut Vec::new()).unwrap();
        assert_eq!(req.desired.keys().collect::<Vec<_>>(), ["b", "nested"]);
        assert_eq!(
            req.desired["b"].resource["data"]["region"],
            json!("eu-west-1")
        );

        i["fileSystem"] = json!({"dirPath": "missing"});
        let err = GoTemplating::parse(&i)
            .unwrap()
            .read_files(&files)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid function input: cannot read tmpl from the folder {missing}: memory: platform/missing: no such file or directory"
        );
        i["fileSystem"] = json!({"dirPath": "../../outside"});
        let err = GoTemplating::parse(&i)
            .unwrap()
            .read_files(&files)
            .unwrap_err();
        assert!(err.to_string().contains("leaves the source tree"), "{err}");
        i["fileSystem"] = json!({"dirPath": "/templates"});
        let err = GoTemplating::parse(&i)
            .unwrap()
            .read_files(&files)
            .unwrap_err();
        assert!(err.to_string().contains("is absolute"), "{err}");
        i["fileSystem"] = json!({"dirPath": "templates/.."});
        let err = GoTemplating::parse(&i).unwrap_err();
        assert!(
            err.to_string().contains("whose name starts with '.'"),
            "{err}"
        );
    }

    #[test]
    fn environment_templates_are_read_from_the_pipeline_environment_when_the_step_runs() {
        let mut i = input("");
        i["source"] = json!("Environment");
        i["environment"] = json!({"key": "template"});
        let t = GoTemplating::parse(&i).unwrap();
        let run = |env: Option<Value>| {
            let mut req = request();
            req.environment = env;
            t.run(&mut req, &mut Vec::new(), &mut Vec::new())
                .map(|()| req)
        };
        let req = run(Some(json!({"template": cm("from-env")}))).unwrap();
        assert_eq!(
            req.desired["from-env"].resource["data"]["region"],
            json!("eu-west-1")
        );
        let prefix = "invalid function input: cannot read tmpl from the environment: ";
        for (env, want) in [
            (
                None,
                "apiextensions.crossplane.io/environment key does not exist in context",
            ),
            (Some(json!({})), "key: template does not exist"),
            (
                Some(json!({"template": 1})),
                "key: template value is not a string",
            ),
        ] {
            let err = run(env).unwrap_err();
            assert_eq!(err.to_string(), format!("{prefix}{want}"));
        }
        let err = run(Some(json!({"template": "{{ .x "}))).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid function input: cannot parse the provided templates: "),
            "{err}"
        );
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
