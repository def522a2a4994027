//! Loading desired resources from directories of YAML and JSON files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::model::{FieldError, Resource, ResourceKey, SourceLocation};
use crate::yaml::{Document, YamlError};

/// An error while loading manifests, naming the file, document and field.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A document is not valid YAML or JSON, or was refused by the YAML limits (an alias bomb,
    /// nesting too deep, an alias cycle: see [`crate::yaml`]).
    #[error("{location}: {source}")]
    Syntax {
        /// Where the bad document is.
        location: Box<SourceLocation>,
        /// The parser's error.
        source: SyntaxError,
    },
    /// A document parsed but a field is missing or malformed.
    #[error("{location}: {error}")]
    Field {
        /// Where the document is.
        location: Box<SourceLocation>,
        /// The field problem.
        #[source]
        error: FieldError,
    },
    /// Two documents declare the same resource.
    #[error("{} is declared twice: {} and {}", .0.key, .0.first, .0.second)]
    Duplicate(Box<Duplicate>),
}

/// Why a document did not parse.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyntaxError {
    /// A YAML document is invalid or was refused by the limits.
    #[error(transparent)]
    Yaml(#[from] YamlError),
    /// A `.json` file is invalid.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// The two declarations of a resource declared twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The duplicated identity.
    pub key: ResourceKey,
    /// The first declaration.
    pub first: SourceLocation,
    /// The second declaration.
    pub second: SourceLocation,
}

/// Directory names never descended into (Strata's own data and VCS metadata).
const SKIPPED_DIRS: &[&str] = &[".strata", ".git"];

/// Loads every `*.yaml`, `*.yml` and `*.json` file below `path` (or the file itself),
/// in sorted path order. Documents that are empty or `null` are skipped; every other
/// document must be a manifest with `apiVersion`, `kind` and `metadata.name`. A stack's
/// configuration (`strata.yaml`) met in a directory is not a manifest and is passed over.
pub fn load_path(path: &Path) -> Result<Vec<Resource>, LoadError> {
    let mut files = Vec::new();
    collect_files(path, &mut files)?;
    files.sort();
    let mut resources = Vec::new();
    let mut seen: BTreeMap<ResourceKey, SourceLocation> = BTreeMap::new();
    for file in files {
        for resource in load_file(&file)? {
            let location = resource
                .source
                .clone()
                .expect("the loader always records a source");
            if let Some(first) = seen.get(&resource.key) {
                return Err(LoadError::Duplicate(Box::new(Duplicate {
                    key: resource.key,
                    first: first.clone(),
                    second: location,
                })));
            }
            seen.insert(resource.key.clone(), location);
            resources.push(resource);
        }
    }
    Ok(resources)
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(path).map_err(io)? {
        let entry = entry.map_err(io)?;
        let child = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.file_type().map_err(io)?.is_dir() {
            if !SKIPPED_DIRS.contains(&name.as_ref()) {
                collect_files(&child, out)?;
            }
        } else if is_manifest_file(&child) && name != crate::config::STACK_CONFIG_FILE {
            out.push(child);
        }
    }
    Ok(())
}

fn is_manifest_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// Loads the manifests of one file.
pub fn load_file(file: &Path) -> Result<Vec<Resource>, LoadError> {
    let text = std::fs::read_to_string(file).map_err(|source| LoadError::Io {
        path: file.to_path_buf(),
        source,
    })?;
    parse_documents(file, &text)
}

/// Parses the manifests in `text`, attributing errors to `file`.
pub fn parse_documents(file: &Path, text: &str) -> Result<Vec<Resource>, LoadError> {
    parse_documents_with(file, text, None)
}

/// The content digest a [`ParsedFiles`] store is keyed by: SHA-256 of whether the file is
/// read as JSON and of its text. The path is not part of it: the same text parses to the same
/// documents wherever it is, and each resource's location is rebuilt from the path given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentDigest(pub [u8; 32]);

impl ContentDigest {
    /// The digest of `text` read from `file` (its extension says whether it is JSON).
    pub fn of(file: &Path, text: &str) -> Self {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update([u8::from(is_json_file(file))]);
        hasher.update(text.as_bytes());
        Self(hasher.finalize().into())
    }
}

/// One parsed manifest as a [`ParsedFiles`] store keeps it: its document's index and first
/// line in the file, and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedDocument {
    /// The document's index in the file (0-based, as [`SourceLocation::document`]).
    pub document: usize,
    /// The document's first line (1-based, as [`SourceLocation::line`]).
    pub line: usize,
    /// The manifest.
    pub value: Value,
}

/// A store of parsed files keyed by content (an optimisation only: what it returns must be
/// what parsing the same text returns). [`parse_documents_with`] asks it before parsing and
/// offers it what parsed, unless a manifest holds a sensitive field (see
/// [`crate::sensitive`]): those files are parsed every time, so no copy of a secret is kept.
pub trait ParsedFiles: Send + Sync + std::fmt::Debug {
    /// The manifests of the file whose content digest is `digest`, when stored.
    fn get(&self, digest: &ContentDigest) -> Option<Vec<ParsedDocument>>;
    /// Offers the manifests `resources` parsed from the file whose digest is `digest` (each
    /// with its source location, in file order).
    fn put(&self, digest: &ContentDigest, resources: &[Resource]);

    /// Told of every file parsed through this store, cached or not, with the digest of the
    /// very text parsed (a store that records what a load read; nothing by default).
    fn seen(&self, _file: &Path, _digest: &ContentDigest) {}
}

fn is_json_file(file: &Path) -> bool {
    file.extension().and_then(|e| e.to_str()) == Some("json")
}

/// [`parse_documents`], asking `parsed` first (see [`ParsedFiles`]); the resources, their
/// locations and any error are the same with or without it.
pub fn parse_documents_with(
    file: &Path,
    text: &str,
    parsed: Option<&dyn ParsedFiles>,
) -> Result<Vec<Resource>, LoadError> {
    let Some(store) = parsed else {
        return parse_uncached(file, text);
    };
    let digest = ContentDigest::of(file, text);
    store.seen(file, &digest);
    if let Some(documents) = store.get(&digest) {
        let mut resources = Vec::with_capacity(documents.len());
        for ParsedDocument {
            document,
            line,
            value,
        } in documents
        {
            let location = SourceLocation {
                file: file.to_path_buf(),
                document,
                line,
            };
            let mut resource =
                Resource::from_manifest(value).map_err(|error| LoadError::Field {
                    location: Box::new(location.clone()),
                    error,
                })?;
            resource.source = Some(location);
            resources.push(resource);
        }
        return Ok(resources);
    }
    let resources = parse_uncached(file, text)?;
    let sensitivity = crate::sensitive::Sensitivity::default();
    if !resources
        .iter()
        .any(|r| sensitivity.touches(&r.key, &r.manifest))
    {
        store.put(&digest, &resources);
    }
    Ok(resources)
}

fn parse_uncached(file: &Path, text: &str) -> Result<Vec<Resource>, LoadError> {
    let mut resources = Vec::new();
    for (location, value) in parse_values(file, text)? {
        if value.is_null() {
            continue;
        }
        let mut resource = Resource::from_manifest(value).map_err(|error| LoadError::Field {
            location: Box::new(location.clone()),
            error,
        })?;
        resource.source = Some(location);
        resources.push(resource);
    }
    Ok(resources)
}

/// The documents of `text` as JSON values with where each starts: one for a `.json` file,
/// one per non-blank YAML document otherwise, each parsed under the limits of [`crate::yaml`].
/// Syntax errors and refusals name file, document and line.
pub fn parse_values(file: &Path, text: &str) -> Result<Vec<(SourceLocation, Value)>, LoadError> {
    let is_json = is_json_file(file);
    let documents = if is_json {
        vec![Document {
            index: 0,
            line: 1,
            text: std::borrow::Cow::Borrowed(text),
        }]
    } else {
        crate::yaml::documents(text)
    };
    let mut values = Vec::with_capacity(documents.len());
    for doc in documents {
        if !is_json && doc.is_blank() {
            continue;
        }
        let location = SourceLocation {
            file: file.to_path_buf(),
            document: doc.index,
            line: doc.line,
        };
        let parsed = if is_json {
            serde_json::from_str::<Value>(&doc.text).map_err(SyntaxError::from)
        } else {
            crate::yaml::value_from_str(&doc.text).map_err(SyntaxError::from)
        };
        match parsed {
            Ok(value) => values.push((location, value)),
            Err(source) => {
                return Err(LoadError::Syntax {
                    location: Box::new(location),
                    source,
                });
            }
        }
    }
    Ok(values)
}

/// Loads every object below `path` (or in the file itself) as it is, in sorted path order:
/// live objects as saved by `kubectl get -o yaml|json`, which need not carry the fields a
/// manifest must. The items of a `…List` are unpacked; documents that are empty, `null` or
/// not objects are skipped.
pub fn load_objects(path: &Path) -> Result<Vec<Value>, LoadError> {
    let mut files = Vec::new();
    collect_files(path, &mut files)?;
    files.sort();
    let mut objects = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| LoadError::Io {
            path: file.clone(),
            source,
        })?;
        objects.extend(parse_objects(&file, &text)?);
    }
    Ok(objects)
}

/// Parses the objects in `text` (see [`load_objects`]), attributing errors to `file`.
pub fn parse_objects(file: &Path, text: &str) -> Result<Vec<Value>, LoadError> {
    let mut objects = Vec::new();
    for (_, value) in parse_values(file, text)? {
        push_object(&mut objects, value);
    }
    Ok(objects)
}

/// Adds a parsed document's objects: the items of a `…List`, the document itself when it is an
/// object, nothing otherwise.
fn push_object(objects: &mut Vec<Value>, value: Value) {
    let is_list = value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|kind| kind.ends_with("List"));
    match value {
        Value::Object(mut object)
            if is_list && object.get("items").is_some_and(Value::is_array) =>
        {
            if let Some(Value::Array(items)) = object.remove("items") {
                objects.extend(items);
            }
        }
        Value::Object(_) => objects.push(value),
        _ => {}
    }
}

/// A duplicate mapping key in a live object, read the way Go's YAML reads it: the last value
/// was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKeyWarning {
    /// The file.
    pub file: PathBuf,
    /// The line (1-based, in the file) of the occurrence whose value was kept.
    pub line: usize,
    /// The key.
    pub key: String,
}

impl std::fmt::Display for DuplicateKeyWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: duplicate key `{}`: the last value is used, as Go's YAML reads it",
            self.file.display(),
            self.line,
            self.key
        )
    }
}

/// Objects read with Go's YAML leniency, and the duplicate keys they had.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LenientObjects {
    /// The objects, as [`load_objects`] returns them.
    pub objects: Vec<Value>,
    /// Each duplicate mapping key met (the last value was kept).
    pub warnings: Vec<DuplicateKeyWarning>,
}

/// Loads live objects as [`load_objects`] does, but reading YAML as Go's YAML library does
/// ([`crate::yaml_go`]): a duplicate mapping key keeps its last value (with a warning naming
/// file, line and key) and multi-line quoted scalars may have under-indented continuation lines.
/// Meant for objects Strata did not write (saved from a cluster, other tools' test data), such
/// as `strata health` reads; manifests keep going through [`load_path`], which refuses both.
pub fn load_objects_lenient(path: &Path) -> Result<LenientObjects, LoadError> {
    let mut files = Vec::new();
    collect_files(path, &mut files)?;
    files.sort();
    let mut loaded = LenientObjects::default();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| LoadError::Io {
            path: file.clone(),
            source,
        })?;
        let more = parse_objects_lenient(&file, &text)?;
        loaded.objects.extend(more.objects);
        loaded.warnings.extend(more.warnings);
    }
    Ok(loaded)
}

/// Parses the objects in `text` with Go's YAML leniency (see [`load_objects_lenient`]),
/// attributing errors and warnings to `file`.
pub fn parse_objects_lenient(file: &Path, text: &str) -> Result<LenientObjects, LoadError> {
    let is_json = file.extension().and_then(|e| e.to_str()) == Some("json");
    if is_json {
        return Ok(LenientObjects {
            objects: parse_objects(file, text)?,
            warnings: Vec::new(),
        });
    }
    let mut loaded = LenientObjects::default();
    for doc in crate::yaml::documents(text) {
        if doc.is_blank() {
            continue;
        }
        let location = SourceLocation {
            file: file.to_path_buf(),
            document: doc.index,
            line: doc.line,
        };
        let read =
            crate::yaml_go::from_str::<Value>(&doc.text).map_err(|source| LoadError::Syntax {
                location: Box::new(location.clone()),
                source: SyntaxError::from(source),
            })?;
        // The document's text may start with blank or comment lines before `doc.line`.
        let first_content = doc
            .text
            .lines()
            .position(|line| {
                let t = line.trim();
                !(t.is_empty() || t.starts_with('#') || t.starts_with('%'))
            })
            .unwrap_or(0)
            + 1;
        loaded.warnings.extend(
            read.duplicate_keys
                .into_iter()
                .map(|d| DuplicateKeyWarning {
                    file: file.to_path_buf(),
                    line: doc.line + d.line.saturating_sub(first_content),
                    key: d.key,
                }),
        );
        push_object(&mut loaded.objects, read.value);
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_yaml_keeps_indices() {
        let text = "# header\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n";
        let resources = parse_documents(Path::new("x.yaml"), text).unwrap();
        assert_eq!(resources.len(), 2);
        assert_eq!(resources[0].source.as_ref().unwrap().document, 0);
        assert_eq!(resources[1].source.as_ref().unwrap().document, 2);
        assert_eq!(resources[1].source.as_ref().unwrap().line, 9);
    }

    #[test]
    fn missing_field_names_file_document_and_field() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nmetadata:\n  name: b\n";
        let err = parse_documents(Path::new("stack/cm.yaml"), text).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("stack/cm.yaml"), "{msg}");
        assert!(msg.contains("document 1"), "{msg}");
        assert!(msg.contains("`kind`"), "{msg}");
    }

    #[test]
    fn syntax_error_is_reported_with_location() {
        let err = parse_documents(Path::new("bad.yaml"), "a: [1, 2\n").unwrap_err();
        assert!(matches!(err, LoadError::Syntax { .. }), "{err}");
    }

    /// A ConfigMap document, then `bad` as the second document of the file.
    fn second_document(bad: &str) -> String {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n{bad}")
    }

    fn refusal_in_second_document(bad: &str) -> (crate::yaml::Refusal, String) {
        let err = parse_documents(Path::new("stack/bomb.yaml"), &second_document(bad)).unwrap_err();
        let message = err.to_string();
        match err {
            LoadError::Syntax {
                location,
                source: SyntaxError::Yaml(YamlError::Refused { refusal, .. }),
            } => {
                assert_eq!(location.file, Path::new("stack/bomb.yaml"));
                assert_eq!((location.document, location.line), (1, 6));
                assert!(
                    message.starts_with("stack/bomb.yaml (document 1, line 6): refused: "),
                    "{message}"
                );
                (refusal, message)
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn billion_laughs_is_refused_naming_file_and_document() {
        let mut bomb = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\n");
        bomb.push_str("data:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let refs = vec![format!("*l{}", i - 1); 10].join(", ");
            bomb.push_str(&format!("  l{i}: &l{i} [{refs}]\n"));
        }
        let (refusal, message) = refusal_in_second_document(&bomb);
        assert_eq!(refusal, crate::yaml::Refusal::AliasExpansion);
        assert!(message.contains("alias bomb"), "{message}");
    }

    #[test]
    fn nesting_bomb_is_refused_naming_file_and_document() {
        let depth = 1_000_000;
        let bomb = format!("a: {}{}\n", "[".repeat(depth), "]".repeat(depth));
        let (refusal, _) = refusal_in_second_document(&bomb);
        assert_eq!(refusal, crate::yaml::Refusal::TooDeep);
    }

    #[test]
    fn merge_key_cycle_is_refused_naming_file_and_document() {
        let (refusal, message) = refusal_in_second_document("metadata: &m\n  name: b\n  <<: *m\n");
        assert_eq!(refusal, crate::yaml::Refusal::AliasCycle);
        assert!(message.contains("merge-key cycle"), "{message}");
    }

    #[test]
    fn anchors_aliases_and_merge_keys_load_as_kubectl_reads_them() {
        let text = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: &labels {app: web, tier: front}
spec:
  selector:
    matchLabels: *labels
  template:
    metadata:
      labels:
        <<: *labels
        version: v2
    spec:
      containers:
        - &container
          name: web
          image: nginx:1.27
          resources: {limits: {cpu: 500m}}
        - <<: *container
          name: sidecar
";
        let resources = parse_documents(Path::new("web.yaml"), text).unwrap();
        let m = &resources[0].manifest;
        assert_eq!(
            m["spec"]["selector"]["matchLabels"],
            serde_json::json!({"app": "web", "tier": "front"})
        );
        assert_eq!(
            m["spec"]["template"]["metadata"]["labels"],
            serde_json::json!({"app": "web", "tier": "front", "version": "v2"})
        );
        assert_eq!(
            m["spec"]["template"]["spec"]["containers"][1],
            serde_json::json!({"name": "sidecar", "image": "nginx:1.27", "resources": {"limits": {"cpu": "500m"}}})
        );
    }

    #[test]
    fn a_ten_megabyte_file_of_thousands_of_documents_loads() {
        let mut text = String::with_capacity(11 << 20);
        let mut count = 0;
        while text.len() < 10 << 20 {
            text.push_str(&format!(
                "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{count}\n  labels: &l {{app: web}}\n  annotations: *l\ndata:\n"
            ));
            for k in 0..40 {
                text.push_str(&format!(
                    "  key{k}: \"value {k} of config map {count}, padded to a line\"\n"
                ));
            }
            count += 1;
        }
        assert!(count > 2000, "{count}");
        let resources = parse_documents(Path::new("big.yaml"), &text).unwrap();
        assert_eq!(resources.len(), count);
        assert_eq!(
            resources[count - 1].manifest["metadata"]["annotations"]["app"],
            "web"
        );
    }

    #[test]
    fn duplicates_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n";
        std::fs::write(dir.path().join("a.yaml"), doc).unwrap();
        std::fs::write(dir.path().join("b.yaml"), doc).unwrap();
        let err = load_path(dir.path()).unwrap_err();
        assert!(matches!(err, LoadError::Duplicate(_)), "{err}");
    }

    #[test]
    fn objects_load_as_they_are_with_lists_unpacked() {
        let text = "apiVersion: v1\nkind: PodList\nitems:\n  - kind: Pod\n    metadata: {name: a}\n  - kind: Pod\n    metadata: {name: b}\n---\nkind: Service\nstatus: {}\n---\n";
        let objects = parse_objects(Path::new("live.yaml"), text).unwrap();
        let kinds: Vec<_> = objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["Pod", "Pod", "Service"]);
        let err = parse_objects(Path::new("live.yaml"), "a: [1\n").unwrap_err();
        assert!(err.to_string().contains("live.yaml"), "{err}");
    }

    #[test]
    fn json_files_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.json"),
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}"#,
        )
        .unwrap();
        std::fs::create_dir(dir.path().join(".strata")).unwrap();
        std::fs::write(dir.path().join(".strata/state.json"), "{}").unwrap();
        let resources = load_path(dir.path()).unwrap();
        assert_eq!(resources.len(), 1);
    }

    #[test]
    fn live_objects_read_leniently_keep_the_last_duplicate_and_say_where() {
        let text = "# saved with kubectl\n---\n\n# a comment\napiVersion: rabbitmq.com/v1beta1\nkind: User\nstatus:\n  ready: false\nstatus: {}\n";
        let loaded = parse_objects_lenient(Path::new("live/user.yaml"), text).unwrap();
        assert_eq!(loaded.objects.len(), 1);
        assert_eq!(loaded.objects[0]["status"], serde_json::json!({}));
        assert_eq!(loaded.warnings.len(), 1);
        let warning = &loaded.warnings[0];
        assert_eq!((warning.line, warning.key.as_str()), (9, "status"));
        assert_eq!(
            warning.to_string(),
            "live/user.yaml:9: duplicate key `status`: the last value is used, as Go's YAML reads it"
        );
        // Live objects read strictly, and manifests, keep refusing duplicate keys.
        assert!(parse_objects(Path::new("live/user.yaml"), text).is_err());
        let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n";
        let err = parse_documents(Path::new("stack/cm.yaml"), manifest).unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{err}");
    }

    #[test]
    fn live_objects_read_leniently_accept_under_indented_quoted_continuations() {
        let text = "kind: ClusterResourceBinding\nstatus:\n  conditions:\n    - message: '0/3 clusters didn''t match\n      cluster affinity constraint.'\n      reason: BindingFailedScheduling\n";
        assert!(parse_objects(Path::new("b.yaml"), text).is_err());
        let loaded = parse_objects_lenient(Path::new("b.yaml"), text).unwrap();
        assert_eq!(
            loaded.objects[0]["status"]["conditions"][0]["message"],
            "0/3 clusters didn't match cluster affinity constraint."
        );
        assert!(loaded.warnings.is_empty());
    }
}
