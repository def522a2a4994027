//! kubeconform's "standalone strict" JSON schemas, generated from a real API server's
//! `/openapi/v2`.
//!
//! One file per definition that carries `x-kubernetes-group-version-kind`, once per group,
//! version and kind it lists, named as kubeconform's `{{ .ResourceKind }}{{ .KindSuffix }}.json`
//! template expects: the kind lowercased, then `-` and the first dot-separated segment of the
//! group (when there is a group), then `-` and the version (`deployment-apps-v1.json`,
//! `service-v1.json`, `ingress-networking-v1.json`). Each file stands alone:
//!
//! * every `$ref` is inlined, except references to definitions on a reference cycle (only
//!   `JSONSchemaProps` among the built-in kinds), which go to the file's own `definitions`;
//! * strict: an object schema that declares `properties` (and no `additionalProperties`, nor
//!   `x-kubernetes-preserve-unknown-fields`) gets `additionalProperties: false`;
//! * `format: int-or-string` accepts a string or an integer, and `Quantity` a string or a number
//!   (the API server decodes both; OpenAPI v2 can only say `string`);
//! * a property not listed in its object's `required` also accepts `null`, which the API server
//!   decodes as "not set";
//! * descriptions, defaults and the other `x-kubernetes-*` extensions are left out; `type`,
//!   `format`, `enum`, `required`, `items` and the numeric and string bounds are kept.
//!
//! [`ensure`] caches a generated set under the Cargo target directory, keyed by the Kubernetes
//! version and [`SCHEMA_FORMAT`], behind a file lock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::ControlPlane;
use crate::binaries::io_error;
use crate::error::TestKubeError;

/// The version of this generator's output; part of the cache key, raised when the output changes.
pub const SCHEMA_FORMAT: u32 = 1;

/// The `-schema-location` template file name kubeconform fills in for each resource.
pub const LOCATION_TEMPLATE: &str = "{{ .ResourceKind }}{{ .KindSuffix }}.json";

const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const GVK: &str = "x-kubernetes-group-version-kind";
const PRESERVE_UNKNOWN: &str = "x-kubernetes-preserve-unknown-fields";

/// Keywords copied from the OpenAPI document as they are (after conversion of sub-schemas).
const KEPT: &[&str] = &[
    "type",
    "format",
    "enum",
    "required",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    PRESERVE_UNKNOWN,
];

/// A generated set of schemas on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaSet {
    /// The directory holding the schema files.
    pub dir: PathBuf,
    /// The `/openapi/v2` document they were generated from.
    pub openapi: PathBuf,
    /// The Kubernetes version of the API server that served it (`v1.34.4`).
    pub kubernetes_version: String,
    /// How many schema files there are.
    pub files: usize,
}

impl SchemaSet {
    /// kubeconform's `-schema-location` for this set: `<dir>/{{ .ResourceKind }}{{ .KindSuffix }}.json`.
    pub fn location(&self) -> String {
        location(&self.dir)
    }
}

/// kubeconform's `-schema-location` for schemas written to `dir` by [`write()`].
pub fn location(dir: &Path) -> String {
    format!("{}/{LOCATION_TEMPLATE}", dir.display())
}

/// The schema file name kubeconform looks up for a kind and `apiVersion` (see the module docs).
pub fn file_name(kind: &str, api_version: &str) -> String {
    let (group, version) = match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    };
    let kind = kind.to_lowercase();
    let version = version.to_lowercase();
    match group.split('.').next() {
        Some(first) if !group.is_empty() => {
            format!("{kind}-{}-{version}.json", first.to_lowercase())
        }
        _ => format!("{kind}-{version}.json"),
    }
}

/// Fetches the API server's `/openapi/v2` document.
pub async fn fetch_openapi_v2(plane: &ControlPlane) -> Result<Value, TestKubeError> {
    let client = plane.client().await?;
    let request = http::Request::get("/openapi/v2")
        .header("Accept", "application/json")
        .body(Vec::new())
        .map_err(kube::Error::HttpError)?;
    let text = client.request_text(request).await?;
    serde_json::from_str(&text).map_err(|source| TestKubeError::OpenApiJson { source })
}

/// [`fetch_openapi_v2`] from synchronous code, on a thread of its own (so it also works inside
/// a test's tokio runtime).
pub fn fetch_openapi_v2_blocking(plane: &ControlPlane) -> Result<Value, TestKubeError> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(TestKubeError::Runtime)?
                    .block_on(fetch_openapi_v2(plane))
            })
            .join()
            .unwrap_or_else(|_| {
                Err(TestKubeError::OpenApi {
                    reason: "fetching /openapi/v2 panicked".to_owned(),
                })
            })
    })
}

/// Converts an OpenAPI v2 document into schema files: file name → schema, sorted by name.
pub fn convert(openapi: &Value) -> Result<BTreeMap<String, Value>, TestKubeError> {
    let definitions = openapi
        .get("definitions")
        .and_then(Value::as_object)
        .ok_or_else(|| TestKubeError::OpenApi {
            reason: "the document has no `definitions` object".to_owned(),
        })?;
    let cyclic = cyclic_definitions(definitions);
    let mut files: BTreeMap<String, Value> = BTreeMap::new();
    let mut owners: HashMap<String, String> = HashMap::new();
    for (name, definition) in definitions {
        let Some(gvks) = definition.get(GVK).and_then(Value::as_array) else {
            continue;
        };
        let mut converter = Converter {
            definitions,
            cyclic: &cyclic,
            local: BTreeMap::new(),
            pending: Vec::new(),
        };
        let mut schema = converter.definition(name)?;
        let mut local = Map::new();
        while let Some(next) = converter.pending.pop() {
            if converter.local.contains_key(&next) {
                continue;
            }
            converter.local.insert(next.clone(), Value::Null);
            let converted = converter.definition(&next)?;
            converter.local.insert(next, converted);
        }
        for (local_name, local_schema) in std::mem::take(&mut converter.local) {
            local.insert(local_name, local_schema);
        }
        if let Value::Object(object) = &mut schema {
            object.insert(GVK.to_owned(), Value::Array(gvks.clone()));
            if !local.is_empty() {
                object.insert("definitions".to_owned(), Value::Object(local));
            }
            object.insert(
                "$schema".to_owned(),
                json!("http://json-schema.org/draft-04/schema#"),
            );
        }
        for gvk in gvks {
            let field = |key: &str| gvk.get(key).and_then(Value::as_str).unwrap_or_default();
            let (group, version, kind) = (field("group"), field("version"), field("kind"));
            if kind.is_empty() || version.is_empty() {
                return Err(TestKubeError::OpenApi {
                    reason: format!("{name} has an incomplete {GVK} entry: {gvk}"),
                });
            }
            let api_version = if group.is_empty() {
                version.to_owned()
            } else {
                format!("{group}/{version}")
            };
            let file = file_name(kind, &api_version);
            match owners.get(&file) {
                Some(owner) if owner != name => {
                    return Err(TestKubeError::SchemaCollision {
                        file,
                        first: owner.clone(),
                        second: name.clone(),
                    });
                }
                Some(_) => continue,
                None => {
                    owners.insert(file.clone(), name.clone());
                    files.insert(file, schema.clone());
                }
            }
        }
    }
    Ok(files)
}

/// Writes the schema files of `openapi` into `dir` (created when missing); returns how many.
pub fn write(openapi: &Value, dir: &Path) -> Result<usize, TestKubeError> {
    let files = convert(openapi)?;
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    for (name, schema) in &files {
        let path = dir.join(name);
        let bytes = serde_json::to_vec(schema).map_err(|source| TestKubeError::Json {
            path: path.clone(),
            source,
        })?;
        std::fs::write(&path, bytes).map_err(io_error(&path))?;
    }
    Ok(files.len())
}

/// The cache directory for a Kubernetes version: `<target>/kubeconform-schemas-<version>-f<format>`.
pub fn cache_dir(target_dir: &Path, kubernetes_version: &str) -> PathBuf {
    target_dir.join(format!(
        "kubeconform-schemas-{kubernetes_version}-f{SCHEMA_FORMAT}"
    ))
}

/// The schemas of the control plane's Kubernetes version, generated once into the target
/// directory: the version comes from `kube-apiserver --version`; when no set is cached yet, a
/// control plane is started ([`ControlPlane::start`]), its `/openapi/v2` fetched and converted,
/// and the control plane stopped again.
pub fn ensure(target_dir: &Path) -> Result<SchemaSet, TestKubeError> {
    let binaries = crate::binaries::ensure(target_dir)?;
    let kubernetes_version = apiserver_version(&binaries.kube_apiserver)?;
    let root = cache_dir(target_dir, &kubernetes_version);
    let dir = root.join("schemas");
    let openapi = root.join("openapi-v2.json");
    let ready = root.join(".ready");
    let done = |files: usize| SchemaSet {
        dir: dir.clone(),
        openapi: openapi.clone(),
        kubernetes_version: kubernetes_version.clone(),
        files,
    };
    if let Some(files) = ready_count(&ready) {
        return Ok(done(files));
    }
    std::fs::create_dir_all(target_dir).map_err(io_error(target_dir))?;
    let _lock = crate::binaries::lock_beside(&root)?;
    if let Some(files) = ready_count(&ready) {
        return Ok(done(files));
    }
    let started = Instant::now();
    let document = {
        let plane = ControlPlane::start()?;
        fetch_openapi_v2_blocking(&plane)?
    };
    if root.exists() {
        std::fs::remove_dir_all(&root).map_err(io_error(&root))?;
    }
    std::fs::create_dir_all(&root).map_err(io_error(&root))?;
    let text = serde_json::to_vec(&document).map_err(|source| TestKubeError::Json {
        path: openapi.clone(),
        source,
    })?;
    std::fs::write(&openapi, text).map_err(io_error(&openapi))?;
    let files = write(&document, &dir)?;
    let seconds = started.elapsed().as_secs_f64();
    std::fs::write(
        &ready,
        format!("{files}\nkube-apiserver {kubernetes_version}, schema format {SCHEMA_FORMAT}, generated in {seconds:.1} s (control plane start included)\n"),
    )
    .map_err(io_error(&ready))?;
    let _ = writeln!(
        std::io::stderr(),
        "testkube: generated {files} kubeconform schemas from kube-apiserver {kubernetes_version}'s /openapi/v2 into {} in {seconds:.1} s",
        dir.display()
    );
    Ok(done(files))
}

fn ready_count(ready: &Path) -> Option<usize> {
    std::fs::read_to_string(ready)
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// `kube-apiserver --version` prints `Kubernetes v1.34.4`.
fn apiserver_version(program: &Path) -> Result<String, TestKubeError> {
    let out = std::process::Command::new(program)
        .arg("--version")
        .output()
        .map_err(|source| TestKubeError::Spawn {
            program: program.display().to_string(),
            source,
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .last()
        .filter(|version| out.status.success() && version.starts_with('v'))
        .map(str::to_owned)
        .ok_or_else(|| TestKubeError::OpenApi {
            reason: format!(
                "`{} --version` printed no version: {text}",
                program.display()
            ),
        })
}

/// The definition a `$ref` names (`#/definitions/<name>`).
fn ref_target(schema: &Value) -> Option<&str> {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/definitions/"))
}

/// Every `$ref` target inside a schema.
fn refs_of<'a>(schema: &'a Value, out: &mut Vec<&'a str>) {
    match schema {
        Value::Object(object) => {
            if let Some(target) = ref_target(schema) {
                out.push(target);
            }
            for value in object.values() {
                refs_of(value, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| refs_of(item, out)),
        _ => {}
    }
}

/// The definitions that can reach themselves through `$ref`s.
fn cyclic_definitions(definitions: &Map<String, Value>) -> BTreeSet<String> {
    let edges: HashMap<&str, Vec<&str>> = definitions
        .iter()
        .map(|(name, schema)| {
            let mut out = Vec::new();
            refs_of(schema, &mut out);
            (name.as_str(), out)
        })
        .collect();
    let mut cyclic = BTreeSet::new();
    for start in edges.keys() {
        // Depth-first search for a path back to `start`.
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = edges.get(start).cloned().unwrap_or_default();
        while let Some(next) = stack.pop() {
            if next == *start {
                cyclic.insert((*start).to_owned());
                break;
            }
            if seen.insert(next) {
                stack.extend(edges.get(next).into_iter().flatten().copied());
            }
        }
    }
    cyclic
}

struct Converter<'a> {
    definitions: &'a Map<String, Value>,
    cyclic: &'a BTreeSet<String>,
    /// Cyclic definitions already placed in the file's `definitions`.
    local: BTreeMap<String, Value>,
    /// Cyclic definitions referenced but not placed yet.
    pending: Vec<String>,
}

impl Converter<'_> {
    fn definition(&mut self, name: &str) -> Result<Value, TestKubeError> {
        if name == QUANTITY {
            return Ok(json!({"oneOf": [{"type": "string"}, {"type": "number"}]}));
        }
        let schema = self
            .definitions
            .get(name)
            .ok_or_else(|| TestKubeError::OpenApi {
                reason: format!("a $ref names {name}, which is not defined"),
            })?;
        self.schema(schema)
    }

    fn schema(&mut self, schema: &Value) -> Result<Value, TestKubeError> {
        let Some(object) = schema.as_object() else {
            return Err(TestKubeError::OpenApi {
                reason: format!("a schema is not an object: {schema}"),
            });
        };
        if let Some(target) = ref_target(schema) {
            if self.cyclic.contains(target) {
                self.pending.push(target.to_owned());
                return Ok(json!({"$ref": format!("#/definitions/{target}")}));
            }
            return self.definition(target);
        }
        // `allOf` with a single member is how a `$ref` with a default or description is written.
        if let Some([only]) = object
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            return self.schema(only);
        }
        if object.get("format").and_then(Value::as_str) == Some("int-or-string") {
            return Ok(json!({"oneOf": [{"type": "string"}, {"type": "integer"}]}));
        }
        let mut out = Map::new();
        for key in KEPT {
            if let Some(value) = object.get(*key) {
                out.insert((*key).to_owned(), value.clone());
            }
        }
        if let Some(items) = object.get("items") {
            out.insert("items".to_owned(), self.schema(items)?);
        }
        match object.get("additionalProperties") {
            Some(Value::Bool(allowed)) => {
                out.insert("additionalProperties".to_owned(), Value::Bool(*allowed));
            }
            Some(values) => {
                out.insert("additionalProperties".to_owned(), self.schema(values)?);
            }
            None => {}
        }
        if let Some(properties) = object.get("properties").and_then(Value::as_object) {
            let required: BTreeSet<&str> = object
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let mut converted = Map::new();
            for (property, property_schema) in properties {
                let mut value = self.schema(property_schema)?;
                if !required.contains(property.as_str()) {
                    value = nullable(value);
                }
                converted.insert(property.clone(), value);
            }
            out.insert("properties".to_owned(), Value::Object(converted));
            let preserves = object.get(PRESERVE_UNKNOWN).and_then(Value::as_bool) == Some(true);
            if !out.contains_key("additionalProperties") && !preserves {
                out.insert("additionalProperties".to_owned(), Value::Bool(false));
            }
        }
        Ok(Value::Object(out))
    }
}

/// The schema, also accepting `null`.
fn nullable(schema: Value) -> Value {
    let Value::Object(mut object) = schema else {
        return schema;
    };
    if let Some(Value::Array(alternatives)) = object.get_mut("oneOf") {
        alternatives.push(json!({"type": "null"}));
        return Value::Object(object);
    }
    if object.contains_key("$ref") {
        return json!({"oneOf": [Value::Object(object), {"type": "null"}]});
    }
    match object.get_mut("type") {
        Some(Value::String(single)) => {
            let single = std::mem::take(single);
            object.insert("type".to_owned(), json!([single, "null"]));
        }
        Some(Value::Array(types)) if !types.iter().any(|t| t == "null") => {
            types.push(json!("null"));
        }
        _ => {}
    }
    if let Some(Value::Array(values)) = object.get_mut("enum")
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Value {
        json!({"swagger": "2.0", "definitions": {
            "io.k8s.api.apps.v1.Deployment": {
                "type": "object",
                "description": "dropped",
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "metadata": {"default": {}, "allOf": [{"$ref": "#/definitions/meta.ObjectMeta"}]},
                    "spec": {"$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"}
                },
                "x-kubernetes-group-version-kind": [{"group": "apps", "version": "v1", "kind": "Deployment"}]
            },
            "io.k8s.api.apps.v1.DeploymentSpec": {
                "type": "object", "required": ["selector"],
                "properties": {
                    "replicas": {"type": "integer", "format": "int32"},
                    "selector": {"type": "object", "additionalProperties": {"type": "string"}},
                    "maxSurge": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
                    "cpu": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"},
                    "policy": {"type": "string", "enum": ["Always", "Never"]},
                    "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                            "properties": {"a": {"type": "string"}}}
                }
            },
            "meta.ObjectMeta": {"type": "object", "properties": {"name": {"type": "string"}}},
            "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
            "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
            "io.k8s.api.core.v1.Service": {
                "type": "object", "properties": {"props": {"$ref": "#/definitions/Props"}},
                "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Service"}]
            },
            "Props": {"type": "object", "properties": {
                "not": {"$ref": "#/definitions/Props"},
                "items": {"type": "array", "items": {"$ref": "#/definitions/Props"}}
            }}
        }})
    }

    #[test]
    fn file_names_follow_kubeconforms_kind_suffix() {
        assert_eq!(
            file_name("Deployment", "apps/v1"),
            "deployment-apps-v1.json"
        );
        assert_eq!(file_name("Service", "v1"), "service-v1.json");
        assert_eq!(
            file_name("Ingress", "networking.k8s.io/v1"),
            "ingress-networking-v1.json"
        );
        assert_eq!(
            file_name("HorizontalPodAutoscaler", "autoscaling/v2"),
            "horizontalpodautoscaler-autoscaling-v2.json"
        );
    }

    #[test]
    fn refs_are_inlined_and_objects_are_strict() {
        let files = convert(&document()).expect("converted");
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            ["deployment-apps-v1.json", "service-v1.json"]
        );
        let deployment = &files["deployment-apps-v1.json"];
        assert_eq!(deployment["additionalProperties"], json!(false));
        assert!(deployment.get("description").is_none());
        assert_eq!(
            deployment["properties"]["metadata"],
            json!({"type": ["object", "null"],
                   "properties": {"name": {"type": ["string", "null"]}},
                   "additionalProperties": false})
        );
        let spec = &deployment["properties"]["spec"];
        assert_eq!(spec["required"], json!(["selector"]));
        assert_eq!(spec["properties"]["selector"]["type"], json!("object"));
        assert_eq!(
            spec["properties"]["replicas"],
            json!({"type": ["integer", "null"], "format": "int32"})
        );
        assert_eq!(
            spec["properties"]["maxSurge"],
            json!({"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]})
        );
        assert_eq!(
            spec["properties"]["cpu"],
            json!({"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}]})
        );
        assert_eq!(
            spec["properties"]["policy"]["enum"],
            json!(["Always", "Never", null])
        );
        assert!(
            spec["properties"]["raw"]
                .get("additionalProperties")
                .is_none()
        );
        assert_eq!(
            deployment["x-kubernetes-group-version-kind"][0]["kind"],
            json!("Deployment")
        );
    }

    #[test]
    fn cycles_go_to_the_files_own_definitions() {
        let files = convert(&document()).expect("converted");
        let service = &files["service-v1.json"];
        assert_eq!(
            service["properties"]["props"],
            json!({"oneOf": [{"$ref": "#/definitions/Props"}, {"type": "null"}]})
        );
        let props = &service["definitions"]["Props"];
        assert_eq!(props["additionalProperties"], json!(false));
        assert_eq!(
            props["properties"]["items"]["items"],
            json!({"$ref": "#/definitions/Props"})
        );
    }

    #[test]
    fn two_definitions_for_one_file_are_refused() {
        let mut doc = document();
        doc["definitions"]["other.Deployment"] = json!({"type": "object",
            "x-kubernetes-group-version-kind": [{"group": "apps.example.com", "version": "v1", "kind": "Deployment"}]});
        let error = convert(&doc).expect_err("collision");
        assert!(
            error.to_string().contains("deployment-apps-v1.json"),
            "{error}"
        );
    }
}
