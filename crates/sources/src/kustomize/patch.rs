//! Patches: which resources a patch applies to, JSON 6902 operations, and the kustomization
//! fields that list patches; strategic merges themselves are [`super::smp`].

use regex::Regex;
use serde_json::{Map, Value};
use strata_core::source::SourceTree;

use super::smp::{Merged, merge_patch};
use super::{Item, KustomizeError, invalid, str_at};

/// Why a patch could not be applied. Messages name the path or operation at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PatchError {
    /// A merge patch merged an object into something else.
    #[error("not an object")]
    NotAnObject,
    /// A strategic-merge directive (`$patch`, `$setElementOrder`, …) was used.
    #[error("strategic-merge directive {0} is not supported")]
    UnsupportedDirective(String),
    /// A JSON pointer does not start with `/`.
    #[error("path {0:?} must start with /")]
    RelativePath(String),
    /// A path does not exist in the document.
    #[error("path {0:?} not found")]
    NotFound(String),
    /// A `replace` names a path that does not exist.
    #[error("replace: path {0:?} not found")]
    ReplaceMissing(String),
    /// A `remove` names a path that does not exist.
    #[error("remove: path {0:?} not found")]
    RemoveMissing(String),
    /// A path segment into a list is not an index.
    #[error("path {path:?}: {segment:?} is not an index")]
    NotAnIndex {
        /// The whole path.
        path: String,
        /// The segment that is not an index.
        segment: String,
    },
    /// An `add` index is past the end of the list.
    #[error("path {0:?}: index out of range")]
    IndexOutOfRange(String),
    /// A path goes through a scalar.
    #[error("path {0:?}: parent is not a container")]
    NotAContainer(String),
    /// A `remove` of the whole document.
    #[error("cannot remove the whole document")]
    RemoveWholeDocument,
    /// An operation has no `path`.
    #[error("operation {index}: no path")]
    NoPath {
        /// The operation's index.
        index: usize,
    },
    /// An operation lacks a field its op needs (`value`, `from`).
    #[error("operation {index} ({op}): no {field}")]
    MissingField {
        /// The operation's index.
        index: usize,
        /// The op (`add`, `move`, …).
        op: String,
        /// The missing field.
        field: &'static str,
    },
    /// A `test` operation found another value.
    #[error("test failed at {0:?}")]
    TestFailed(String),
    /// An operation's `op` is not a JSON 6902 op.
    #[error("operation {index}: unknown op {op:?}")]
    UnknownOp {
        /// The operation's index.
        index: usize,
        /// The op as written.
        op: String,
    },
    /// A label or annotation selector term is not `key=value`.
    #[error("selector {0:?}: only key=value terms are supported")]
    Selector(String),
    /// A patch's `target` is not a mapping.
    #[error("target must be a mapping")]
    TargetNotAMapping,
    /// A patch's `target.name` is not a valid regular expression.
    #[error("target.name: {0}")]
    TargetName(#[source] strata_core::user_regex::RegexLimitError),
    /// A patch's `target` has a field Strata does not support.
    #[error("unsupported target field `{0}`")]
    TargetField(String),
    /// A JSON 6902 patch has no `target`.
    #[error("a JSON 6902 patch needs a target")]
    NoTarget,
    /// No resource matches a JSON 6902 patch's target.
    #[error("no resource matches the patch target")]
    NoTargetMatch,
    /// No resource matches a strategic-merge patch.
    #[error("no resource matches the patch ({kind} {name})")]
    NoMatch {
        /// The patch's `kind`.
        kind: String,
        /// The patch's `metadata.name`.
        name: String,
    },
}

fn unescape(seg: &str) -> String {
    seg.replace("~1", "/").replace("~0", "~")
}

fn pointer_parts(path: &str) -> Result<Vec<String>, PatchError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| PatchError::RelativePath(path.to_owned()))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn parent_of<'a>(
    doc: &'a mut Value,
    parts: &[String],
    path: &str,
) -> Result<&'a mut Value, PatchError> {
    let mut cur = doc;
    for p in parts {
        cur = match cur {
            Value::Object(m) => m.get_mut(p),
            Value::Array(a) => p.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| PatchError::NotFound(path.to_owned()))?;
    }
    Ok(cur)
}

fn get_at(doc: &Value, path: &str) -> Result<Value, PatchError> {
    doc.pointer(path)
        .cloned()
        .ok_or_else(|| PatchError::NotFound(path.to_owned()))
}

fn add_at(doc: &mut Value, path: &str, value: Value, replace: bool) -> Result<(), PatchError> {
    let parts = pointer_parts(path)?;
    let Some((last, init)) = parts.split_last() else {
        *doc = value;
        return Ok(());
    };
    let parent = parent_of(doc, init, path)?;
    match parent {
        Value::Object(m) => {
            if replace && !m.contains_key(last) {
                return Err(PatchError::ReplaceMissing(path.to_owned()));
            }
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            if last == "-" && !replace {
                a.push(value);
            } else {
                let i: usize = last.parse().map_err(|_| not_an_index(path, last))?;
                if replace {
                    *a.get_mut(i)
                        .ok_or_else(|| PatchError::NotFound(path.to_owned()))? = value;
                } else if i <= a.len() {
                    a.insert(i, value);
                } else {
                    return Err(PatchError::IndexOutOfRange(path.to_owned()));
                }
            }
        }
        _ => return Err(PatchError::NotAContainer(path.to_owned())),
    }
    Ok(())
}

fn remove_at(doc: &mut Value, path: &str) -> Result<Value, PatchError> {
    let parts = pointer_parts(path)?;
    let (last, init) = parts.split_last().ok_or(PatchError::RemoveWholeDocument)?;
    match parent_of(doc, init, path)? {
        Value::Object(m) => m
            .shift_remove(last)
            .ok_or_else(|| PatchError::RemoveMissing(path.to_owned())),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| not_an_index(path, last))?;
            if i < a.len() {
                Ok(a.remove(i))
            } else {
                Err(PatchError::RemoveMissing(path.to_owned()))
            }
        }
        _ => Err(PatchError::NotAContainer(path.to_owned())),
    }
}

fn not_an_index(path: &str, segment: &str) -> PatchError {
    PatchError::NotAnIndex {
        path: path.to_owned(),
        segment: segment.to_owned(),
    }
}

/// Applies a JSON 6902 patch (a list of operations) to `doc`.
pub fn apply_json6902(doc: &mut Value, ops: &[Value]) -> Result<(), PatchError> {
    for (i, op) in ops.iter().enumerate() {
        let name = op.get("op").and_then(Value::as_str).unwrap_or("");
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or(PatchError::NoPath { index: i })?;
        let missing = |field| PatchError::MissingField {
            index: i,
            op: name.to_owned(),
            field,
        };
        let value = || op.get("value").cloned().ok_or_else(|| missing("value"));
        let from = || {
            op.get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| missing("from"))
        };
        match name {
            "add" => add_at(doc, path, value()?, false)?,
            "replace" => add_at(doc, path, value()?, true)?,
            "remove" => {
                remove_at(doc, path)?;
            }
            "move" => {
                let v = remove_at(doc, from()?)?;
                add_at(doc, path, v, false)?;
            }
            "copy" => {
                let v = get_at(doc, from()?)?;
                add_at(doc, path, v, false)?;
            }
            "test" => {
                if get_at(doc, path)? != value()? {
                    return Err(PatchError::TestFailed(path.to_owned()));
                }
            }
            other => {
                return Err(PatchError::UnknownOp {
                    index: i,
                    op: other.to_owned(),
                });
            }
        }
    }
    Ok(())
}

/// Which resources a patch applies to.
#[derive(Debug, Default)]
struct Target {
    group: Option<String>,
    version: Option<String>,
    kind: Option<String>,
    name: Option<Regex>,
    namespace: Option<String>,
    labels: Vec<(String, String)>,
    annotations: Vec<(String, String)>,
}

pub(crate) fn selector_pairs(s: &str) -> Result<Vec<(String, String)>, PatchError> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (k, v) = p
                .split_once("==")
                .or_else(|| p.split_once('='))
                .ok_or_else(|| PatchError::Selector(p.to_owned()))?;
            if k.ends_with('!') {
                return Err(PatchError::Selector(p.to_owned()));
            }
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

impl Target {
    fn parse(v: &Value) -> Result<Self, PatchError> {
        let obj = v.as_object().ok_or(PatchError::TargetNotAMapping)?;
        let mut t = Target::default();
        for (k, val) in obj {
            let s = val.as_str().map(String::from);
            match k.as_str() {
                "group" => t.group = s,
                "version" => t.version = s,
                "kind" => t.kind = s,
                "namespace" => t.namespace = s,
                "name" => {
                    if let Some(n) = s {
                        t.name = Some(
                            strata_core::user_regex::check_length(&n)
                                .and_then(|()| {
                                    strata_core::user_regex::compile_within_size(&format!(
                                        "^(?:{n})$"
                                    ))
                                })
                                .map_err(PatchError::TargetName)?,
                        );
                    }
                }
                "labelSelector" => t.labels = selector_pairs(&s.unwrap_or_default())?,
                "annotationSelector" => t.annotations = selector_pairs(&s.unwrap_or_default())?,
                other => return Err(PatchError::TargetField(other.to_owned())),
            }
        }
        Ok(t)
    }

    fn matches(&self, m: &Value) -> bool {
        let api = str_at(m, &["apiVersion"]);
        let (group, version) = strata_core::object::split_api_version(api);
        let meta_map = |key: &str, pairs: &[(String, String)]| {
            pairs.iter().all(|(k, v)| {
                m["metadata"]
                    .get(key)
                    .and_then(|l| l.get(k))
                    .and_then(Value::as_str)
                    == Some(v)
            })
        };
        self.group.as_deref().is_none_or(|g| g == group)
            && self.version.as_deref().is_none_or(|v| v == version)
            && self
                .kind
                .as_deref()
                .is_none_or(|k| k == str_at(m, &["kind"]))
            && self
                .namespace
                .as_deref()
                .is_none_or(|n| n == str_at(m, &["metadata", "namespace"]))
            && self
                .name
                .as_ref()
                .is_none_or(|r| r.is_match(str_at(m, &["metadata", "name"])))
            && meta_map("labels", &self.labels)
            && meta_map("annotations", &self.annotations)
    }
}

enum PatchBody {
    Json(Vec<Value>),
    Merge(Value),
}

fn load_body(
    tree: &dyn SourceTree,
    dir: &str,
    file: &str,
    entry: &Map<String, Value>,
) -> Result<Vec<PatchBody>, KustomizeError> {
    let (text, from) = match (entry.get("patch"), entry.get("path")) {
        (Some(Value::String(p)), None) => (p.clone(), file.to_string()),
        (None, Some(Value::String(path))) => {
            let at = super::file_in_root(dir, path, file, "patches.path")?;
            (tree.read_to_string(&at)?, at)
        }
        (Some(Value::Object(_)), None) | (Some(Value::Array(_)), None) => (
            serde_json::to_string(&entry["patch"]).map_err(|source| KustomizeError::Json {
                file: file.to_string(),
                source,
            })?,
            file.to_string(),
        ),
        _ => {
            return Err(invalid(
                file,
                "a patch needs exactly one of `patch` and `path`",
            ));
        }
    };
    let docs: Vec<Value> = strata_core::yaml::from_str_multiple(&text).map_err(|source| {
        KustomizeError::PatchYaml {
            file: from.clone(),
            source,
        }
    })?;
    Ok(docs
        .into_iter()
        .filter(|d| !d.is_null())
        .map(|d| match d {
            Value::Array(ops) => PatchBody::Json(ops),
            v => PatchBody::Merge(v),
        })
        .collect())
}

/// Applies `patches`, `patchesStrategicMerge` and `patchesJson6902` of a kustomization.
pub(crate) fn apply_all(
    tree: &dyn SourceTree,
    dir: &str,
    file: &str,
    k: &Map<String, Value>,
    items: &mut Vec<Item>,
) -> Result<(), KustomizeError> {
    let mut entries: Vec<Map<String, Value>> = Vec::new();
    if let Some(list) = k.get("patchesStrategicMerge") {
        for v in list
            .as_array()
            .ok_or_else(|| invalid(file, "patchesStrategicMerge must be a list"))?
        {
            let s = v
                .as_str()
                .ok_or_else(|| invalid(file, "patchesStrategicMerge entries must be strings"))?;
            let mut m = Map::new();
            // A file name, or an inline patch.
            if s.contains('\n') {
                m.insert("patch".into(), Value::String(s.into()));
            } else {
                m.insert("path".into(), Value::String(s.into()));
            }
            entries.push(m);
        }
    }
    if let Some(list) = k.get("patches") {
        for v in list
            .as_array()
            .ok_or_else(|| invalid(file, "patches must be a list"))?
        {
            entries.push(
                v.as_object()
                    .cloned()
                    .ok_or_else(|| invalid(file, "patches entries must be mappings"))?,
            );
        }
    }
    // kustomize records a rename by the `patches` transformer's JSON patches only.
    let legacy_json_from = entries.len();
    if let Some(list) = k.get("patchesJson6902") {
        for v in list
            .as_array()
            .ok_or_else(|| invalid(file, "patchesJson6902 must be a list"))?
        {
            entries.push(
                v.as_object()
                    .cloned()
                    .ok_or_else(|| invalid(file, "patchesJson6902 entries must be mappings"))?,
            );
        }
    }
    for (index, entry) in entries.iter().enumerate() {
        let perr = |error: PatchError| KustomizeError::Patch {
            file: file.into(),
            index,
            error,
        };
        for key in entry.keys() {
            if !["patch", "path", "target", "options"].contains(&key.as_str()) {
                return Err(KustomizeError::Unsupported {
                    file: file.into(),
                    field: format!("patches[{index}].{key}"),
                });
            }
        }
        if entry.contains_key("options") {
            return Err(KustomizeError::Unsupported {
                file: file.into(),
                field: format!("patches[{index}].options"),
            });
        }
        let target = match entry.get("target") {
            Some(t) => Some(Target::parse(t).map_err(perr)?),
            None => None,
        };
        for body in load_body(tree, dir, file, entry)? {
            match body {
                PatchBody::Json(ops) => {
                    let target = target.as_ref().ok_or_else(|| perr(PatchError::NoTarget))?;
                    let mut hit = false;
                    for item in items.iter_mut().filter(|i| target.matches(&i.manifest)) {
                        hit = true;
                        if index < legacy_json_from {
                            item.store_previous_id();
                        }
                        apply_json6902(&mut item.manifest, &ops).map_err(perr)?;
                    }
                    if !hit {
                        return Err(perr(PatchError::NoTargetMatch));
                    }
                }
                PatchBody::Merge(patch) => {
                    let mut hit = false;
                    let mut deleted = Vec::new();
                    for (at, item) in items.iter_mut().enumerate() {
                        let matches = match &target {
                            Some(t) => t.matches(&item.manifest),
                            None => same_object(&item.manifest, &patch),
                        };
                        if !matches {
                            continue;
                        }
                        hit = true;
                        let mut p = patch.clone();
                        if target.is_some()
                            && let Some(meta) = p.get_mut("metadata").and_then(Value::as_object_mut)
                        {
                            // With an explicit target, the patch's own name and namespace are
                            // only placeholders.
                            meta.shift_remove("name");
                            meta.shift_remove("namespace");
                        }
                        if merge_patch(&mut item.manifest, &p).map_err(perr)? == Merged::Deleted {
                            deleted.push(at);
                        }
                    }
                    for at in deleted.into_iter().rev() {
                        items.remove(at);
                    }
                    if !hit {
                        return Err(perr(PatchError::NoMatch {
                            kind: str_at(&patch, &["kind"]).to_owned(),
                            name: str_at(&patch, &["metadata", "name"]).to_owned(),
                        }));
                    }
                }
            }
        }
    }
    Ok(())
}

fn same_object(m: &Value, patch: &Value) -> bool {
    let group = |v: &Value| strata_core::model::group_of(str_at(v, &["apiVersion"])).to_string();
    let ns = str_at(patch, &["metadata", "namespace"]);
    str_at(m, &["kind"]) == str_at(patch, &["kind"])
        && group(m) == group(patch)
        && str_at(m, &["metadata", "name"]) == str_at(patch, &["metadata", "name"])
        && (ns.is_empty() || ns == str_at(m, &["metadata", "namespace"]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json6902_operations() {
        let mut d = json!({"spec": {"replicas": 1, "list": [1, 2]}});
        apply_json6902(
            &mut d,
            &[
                json!({"op": "replace", "path": "/spec/replicas", "value": 3}),
                json!({"op": "add", "path": "/spec/list/-", "value": 3}),
                json!({"op": "add", "path": "/spec/list/0", "value": 0}),
                json!({"op": "remove", "path": "/spec/list/1"}),
                json!({"op": "copy", "from": "/spec/replicas", "path": "/spec/copy"}),
                json!({"op": "move", "from": "/spec/copy", "path": "/spec/moved"}),
                json!({"op": "test", "path": "/spec/moved", "value": 3}),
                json!({"op": "add", "path": "/metadata~1x", "value": "s"}),
            ],
        )
        .unwrap();
        assert_eq!(
            d,
            json!({"spec": {"replicas": 3, "list": [0, 2, 3], "moved": 3}, "metadata/x": "s"})
        );
        assert!(
            apply_json6902(
                &mut d,
                &[json!({"op": "replace", "path": "/nope", "value": 1})]
            )
            .is_err()
        );
        assert!(
            apply_json6902(
                &mut d,
                &[json!({"op": "test", "path": "/spec/moved", "value": 4})]
            )
            .is_err()
        );
    }
}
