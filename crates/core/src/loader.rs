//! Loading desired resources from directories of YAML and JSON files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::model::{FieldError, Resource, ResourceKey, SourceLocation};

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
    /// A document is not valid YAML or JSON.
    #[error("{location}: {message}")]
    Syntax {
        /// Where the bad document is.
        location: Box<SourceLocation>,
        /// The parser's message.
        message: String,
    },
    /// A document parsed but a field is missing or malformed.
    #[error("{location}: {error}")]
    Field {
        /// Where the document is.
        location: Box<SourceLocation>,
        /// The field problem.
        error: FieldError,
    },
    /// Two documents declare the same resource.
    #[error("{} is declared twice: {} and {}", .0.key, .0.first, .0.second)]
    Duplicate(Box<Duplicate>),
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
/// one per non-blank YAML document otherwise. Syntax errors name file, document and line.
pub fn parse_values(file: &Path, text: &str) -> Result<Vec<(SourceLocation, Value)>, LoadError> {
    let is_json = file.extension().and_then(|e| e.to_str()) == Some("json");
    let documents = if is_json {
        vec![Document {
            index: 0,
            line: 1,
            text: text.to_owned(),
        }]
    } else {
        split_yaml_documents(text)
    };
    let mut values = Vec::with_capacity(documents.len());
    for doc in documents {
        if !is_json && is_blank_yaml(&doc.text) {
            continue;
        }
        let location = SourceLocation {
            file: file.to_path_buf(),
            document: doc.index,
            line: doc.line,
        };
        let parsed = if is_json {
            serde_json::from_str::<Value>(&doc.text).map_err(|e| e.to_string())
        } else {
            serde_saphyr::from_str::<Value>(&doc.text).map_err(|e| e.to_string())
        };
        match parsed {
            Ok(value) => values.push((location, value)),
            Err(message) => {
                return Err(LoadError::Syntax {
                    location: Box::new(location),
                    message,
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
    Ok(objects)
}

struct Document {
    index: usize,
    line: usize,
    text: String,
}

/// Splits a YAML stream on `---` / `...` markers at column 0, keeping document indices and
/// start lines exact (empty documents keep their index, so errors point at the right one).
fn split_yaml_documents(text: &str) -> Vec<Document> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut start_line = 1;
    let mut index = 0;
    let mut seen_content_or_marker = false;
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        let trimmed_end = line.trim_end();
        let is_start = trimmed_end == "---" || line.starts_with("--- ");
        let is_end = trimmed_end == "...";
        if is_start || is_end {
            if seen_content_or_marker || !is_blank_yaml(&current) {
                docs.push(Document {
                    index,
                    line: start_line,
                    text: std::mem::take(&mut current),
                });
                index += 1;
            }
            current.clear();
            start_line = line_no + usize::from(is_end);
            seen_content_or_marker = is_start;
            if let Some(rest) = line.strip_prefix("--- ") {
                current.push_str(rest);
                current.push('\n');
                start_line = line_no;
            }
            continue;
        }
        if is_blank_yaml(&current) && !is_blank_yaml(line) {
            start_line = line_no;
        }
        current.push_str(line);
        current.push('\n');
    }
    if !is_blank_yaml(&current) || seen_content_or_marker {
        docs.push(Document {
            index,
            line: start_line,
            text: current,
        });
    }
    docs
}

fn is_blank_yaml(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t.starts_with('%')
    })
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
}
