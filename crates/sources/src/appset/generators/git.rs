//! The git generators: directories (Go `path.Match` with excludes) and files (doublestar globs,
//! JSON/YAML contents as params), reading the core [`SourceTree`](strata_core::source::SourceTree)
//! the [`TreeResolver`](crate::appset::TreeResolver) finds for the generator's repository.

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use strata_gotemplate::gopath;

use crate::appset::context::GeneratorContext;
use crate::appset::error::{AppSetError, TreeRead};
use crate::appset::glob::{doublestar_match, path_match};
use crate::appset::params::{ParamSet, flatten_to_strings, sanitize_name};
use crate::appset::render::{RenderMode, append_values};

struct Item {
    path: String,
    exclude: bool,
}

fn items(spec: &Value, key: &str) -> Vec<Item> {
    spec.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|i| Item {
                    path: i
                        .get("path")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    exclude: i.get("exclude").and_then(Value::as_bool).unwrap_or(false),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Params of a `git` generator spec (`directories` or `files`).
pub fn generate(
    spec: &Value,
    ctx: &GeneratorContext,
    mode: RenderMode,
) -> Result<Vec<ParamSet>, AppSetError> {
    let repo = spec
        .get("repoURL")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let revision = spec
        .get("revision")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let prefix = spec
        .get("pathParamPrefix")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let values = spec.get("values");
    let has = |k: &str| spec.get(k).is_some_and(|v| !v.is_null());
    if !has("directories") && !has("files") {
        return Err(AppSetError::invalid(
            "git generator needs directories or files",
        ));
    }
    let tree = ctx.trees.resolve(repo, revision)?;
    if has("directories") {
        let requested = items(spec, "directories");
        let mut out = Vec::new();
        let dirs = tree.dirs().map_err(|source| AppSetError::Source {
            read: TreeRead::Directories {
                repo: repo.to_owned(),
            },
            source,
        })?;
        for dir in dirs {
            let mut include = false;
            let mut exclude = false;
            for it in &requested {
                // A malformed pattern is skipped, as ArgoCD logs and continues.
                if path_match(&it.path, &dir).unwrap_or(false) {
                    if it.exclude {
                        exclude = true;
                    } else {
                        include = true;
                    }
                }
            }
            if include && !exclude {
                let mut p = dir_params(&dir, prefix, mode);
                append_values(values, &mut p, mode)?;
                out.push(p);
            }
        }
        return Ok(out);
    }
    let requested = items(spec, "files");
    let all = tree.files().map_err(|source| AppSetError::Source {
        read: TreeRead::Files {
            repo: repo.to_owned(),
        },
        source,
    })?;
    let mut chosen = BTreeSet::new();
    for it in requested.iter().filter(|i| !i.exclude) {
        for f in &all {
            if doublestar_match(&it.path, f).map_err(|_| {
                AppSetError::invalid(format!("syntax error in pattern {:?}", it.path))
            })? {
                chosen.insert(f.clone());
            }
        }
    }
    for it in requested.iter().filter(|i| i.exclude) {
        chosen.retain(|f| !doublestar_match(&it.path, f).unwrap_or(false));
    }
    let mut out = Vec::new();
    for file in chosen {
        let content = tree.read(&file).map_err(|source| AppSetError::Source {
            read: TreeRead::File { path: file.clone() },
            source,
        })?;
        let objects = parse_file(&content).map_err(|source| AppSetError::File {
            file: file.clone(),
            source,
        })?;
        for obj in objects {
            let mut p = file_params(&file, obj, prefix, mode);
            append_values(values, &mut p, mode)?;
            out.push(p);
        }
    }
    Ok(out)
}

/// Why a git files generator's file is not one object or an array of objects.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitFileError {
    /// The file is not UTF-8.
    #[error("unable to parse file: {0}")]
    Utf8(#[source] std::str::Utf8Error),
    /// The file is not YAML or JSON.
    #[error("unable to parse file: {0}")]
    Yaml(#[source] strata_core::yaml::YamlError),
    /// An element of the file's array is not an object.
    #[error("unable to parse file: array element {0} is not an object")]
    ElementNotObject(Value),
    /// The file is neither an object nor an array.
    #[error("unable to parse file: {0} is not an object or an array")]
    NotObjectOrArray(Value),
}

/// Parses a file as one YAML/JSON object (an empty file is `{}`) or an array of objects.
fn parse_file(content: &[u8]) -> Result<Vec<Map<String, Value>>, GitFileError> {
    let text = std::str::from_utf8(content).map_err(GitFileError::Utf8)?;
    if text.trim().is_empty() {
        return Ok(vec![Map::new()]);
    }
    let v: Value = strata_core::yaml::from_str(text).map_err(GitFileError::Yaml)?;
    match v {
        Value::Null => Ok(vec![Map::new()]),
        Value::Object(m) => Ok(vec![m]),
        Value::Array(a) => a
            .into_iter()
            .map(|e| match e {
                Value::Object(m) => Ok(m),
                other => Err(GitFileError::ElementNotObject(other)),
            })
            .collect(),
        other => Err(GitFileError::NotObjectOrArray(other)),
    }
}

fn segments(path: &str) -> Value {
    Value::Array(
        path.split('/')
            .map(|s| Value::String(s.to_string()))
            .collect(),
    )
}

fn flat_segments(p: &mut ParamSet, name: &str, path: &str) {
    for (i, seg) in path.split('/').enumerate() {
        if !seg.is_empty() {
            p.insert(format!("{name}[{i}]"), seg.into());
        }
    }
}

fn nest(p: &mut ParamSet, prefix: &str, path_map: Map<String, Value>) {
    if prefix.is_empty() {
        p.insert("path".into(), Value::Object(path_map));
    } else {
        let mut outer = Map::new();
        outer.insert("path".into(), Value::Object(path_map));
        p.insert(prefix.to_string(), Value::Object(outer));
    }
}

fn dir_params(dir: &str, prefix: &str, mode: RenderMode) -> ParamSet {
    let mut p = ParamSet::new();
    let base = gopath::base(dir);
    if mode.go_template {
        let mut m = Map::new();
        m.insert("path".into(), dir.into());
        m.insert("basename".into(), base.clone().into());
        m.insert("basenameNormalized".into(), sanitize_name(&base).into());
        m.insert("segments".into(), segments(dir));
        nest(&mut p, prefix, m);
    } else {
        let name = if prefix.is_empty() {
            "path".to_string()
        } else {
            format!("{prefix}.path")
        };
        p.insert(name.clone(), dir.into());
        p.insert(format!("{name}.basename"), base.clone().into());
        p.insert(
            format!("{name}.basenameNormalized"),
            sanitize_name(&base).into(),
        );
        flat_segments(&mut p, &name, dir);
    }
    p
}

fn file_params(file: &str, obj: Map<String, Value>, prefix: &str, mode: RenderMode) -> ParamSet {
    let dir = gopath::dir(file);
    let base = gopath::base(&dir);
    let filename = gopath::base(file);
    if mode.go_template {
        let mut p = obj;
        let mut m = Map::new();
        m.insert("path".into(), dir.clone().into());
        m.insert("basename".into(), base.clone().into());
        m.insert("filename".into(), filename.clone().into());
        m.insert("basenameNormalized".into(), sanitize_name(&base).into());
        m.insert("filenameNormalized".into(), sanitize_name(&filename).into());
        m.insert("segments".into(), segments(&dir));
        nest(&mut p, prefix, m);
        p
    } else {
        let mut p = flatten_to_strings(&Value::Object(obj));
        let name = if prefix.is_empty() {
            "path".to_string()
        } else {
            format!("{prefix}.path")
        };
        p.insert(name.clone(), dir.clone().into());
        p.insert(format!("{name}.basename"), base.clone().into());
        p.insert(format!("{name}.filename"), filename.clone().into());
        p.insert(
            format!("{name}.basenameNormalized"),
            sanitize_name(&base).into(),
        );
        p.insert(
            format!("{name}.filenameNormalized"),
            sanitize_name(&filename).into(),
        );
        flat_segments(&mut p, &name, &dir);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_path_helpers() {
        assert_eq!(gopath::base("a/b"), "b");
        assert_eq!(gopath::base("a"), "a");
        assert_eq!(gopath::dir("a/b/c.yaml"), "a/b");
        assert_eq!(gopath::dir("c.yaml"), ".");
    }
}
