//! `configMapGenerator` and `secretGenerator`, with kustomize's content-hash name suffix.

use base64::Engine;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use strata_core::source::SourceTree;

use super::{
    Item, KustomizeError, check_fields, file_in_root, invalid, str_at, string_list, string_map,
};

/// The hash kustomize appends to a generated ConfigMap or Secret's name: the first ten hex
/// characters of SHA-256 over the object's canonical JSON (`kind`, an empty `name`, `data`,
/// and `type` for Secrets, keys sorted), with `0 1 3 a e` replaced by `g h k m t` so the suffix never
/// looks like a number or a word.
pub fn name_hash(manifest: &Value) -> String {
    let kind = str_at(manifest, &["kind"]);
    let mut m = std::collections::BTreeMap::new();
    m.insert("kind", Value::String(kind.into()));
    // kustomize hashes with an empty name: only the content counts.
    m.insert("name", Value::String(String::new()));
    let sorted = |v: Option<&Value>| -> Value {
        let mut out = std::collections::BTreeMap::new();
        if let Some(Value::Object(o)) = v {
            for (k, v) in o {
                out.insert(k.clone(), v.clone());
            }
        }
        serde_json::to_value(out).unwrap_or(Value::Null)
    };
    m.insert("data", sorted(manifest.get("data")));
    if kind == "Secret" {
        m.insert("type", Value::String(str_at(manifest, &["type"]).into()));
    } else if manifest
        .get("binaryData")
        .is_some_and(|b| b.as_object().is_some_and(|o| !o.is_empty()))
    {
        m.insert("binaryData", sorted(manifest.get("binaryData")));
    }
    let text = serde_json::to_string(&m)
        .unwrap_or_default()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    hash_suffix(&hex::encode(Sha256::digest(text.as_bytes())))
}

/// Base64 as kustomize writes Secret data: an encoding of 70 characters or more is broken
/// into lines of 70, each ending with a newline; a shorter one is a single line without one.
/// The name hash covers the text as written.
pub fn encode_base64(bytes: &[u8]) -> String {
    const LINE: usize = 70;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    if encoded.len() < LINE {
        return encoded;
    }
    let mut out = String::with_capacity(encoded.len() + encoded.len() / LINE + 1);
    for chunk in encoded.as_bytes().chunks(LINE) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out
}

/// Turns a hex digest into kustomize's ten-character suffix.
pub fn hash_suffix(hex_digest: &str) -> String {
    hex_digest
        .chars()
        .take(10)
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

/// Appends the content hash to every generated object that still needs it.
pub(crate) fn finish_hashes(items: &mut [Item]) {
    for item in items.iter_mut().filter(|i| i.needs_hash) {
        let hash = name_hash(&item.manifest);
        item.store_previous_id();
        let name = format!("{}-{hash}", str_at(&item.manifest, &["metadata", "name"]));
        item.manifest["metadata"]["name"] = Value::String(name);
        item.needs_hash = false;
    }
}

fn unquote(v: &str) -> &str {
    let b = v.as_bytes();
    if b.len() >= 2
        && ((b[0] == b'"' && b[b.len() - 1] == b'"') || (b[0] == b'\'' && b[b.len() - 1] == b'\''))
    {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

const GENERATOR_FIELDS: &[&str] = &[
    "name",
    "namespace",
    "behavior",
    "literals",
    "files",
    "envs",
    "env",
    "type",
    "options",
];
const OPTION_FIELDS: &[&str] = &["labels", "annotations", "disableNameSuffixHash"];

/// What a generated object does to one of the same name from the resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behavior {
    /// A new object (an error when one exists).
    Create,
    /// Merged into the existing one: its data and metadata kept where the new one has none.
    Merge,
    /// Replaces the existing one's data, keeping its metadata where the new one has none.
    Replace,
}

/// One generated object and what it does.
pub(crate) struct Generated {
    pub item: Item,
    pub behavior: Behavior,
    /// Where it is declared (`configMapGenerator[0]`).
    pub at: String,
}

/// Combines a generated object with the existing one it merges into or replaces.
pub(crate) fn combine(existing: &mut Item, new: Item, behavior: Behavior) {
    let old = std::mem::replace(&mut existing.manifest, new.manifest);
    let m = &mut existing.manifest;
    let keys: &[&str] = if behavior == Behavior::Merge {
        &["data", "binaryData"]
    } else {
        &[]
    };
    for key in keys.iter().copied() {
        if let Some(Value::Object(old_data)) = old.get(key) {
            let mut merged = old_data.clone();
            if let Some(Value::Object(new_data)) = m.get(key) {
                for (k, v) in new_data {
                    merged.insert(k.clone(), v.clone());
                }
            }
            m[key] = Value::Object(merged);
        }
    }
    for key in ["labels", "annotations"] {
        if let Some(Value::Object(old_meta)) = old.pointer(&format!("/metadata/{key}")) {
            let mut merged = old_meta.clone();
            if let Some(Value::Object(new_meta)) = m["metadata"].get(key) {
                for (k, v) in new_meta {
                    merged.insert(k.clone(), v.clone());
                }
            }
            m["metadata"][key] = Value::Object(merged);
        }
    }
    existing.needs_hash = new.needs_hash;
}

/// Runs both generators of a kustomization.
pub(crate) fn generate(
    tree: &dyn SourceTree,
    dir: &str,
    file: &str,
    k: &Map<String, Value>,
) -> Result<Vec<Generated>, KustomizeError> {
    let global = match k.get("generatorOptions") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => return Err(invalid(file, "generatorOptions must be a mapping")),
    };
    check_fields(&global, OPTION_FIELDS, file, "generatorOptions")?;
    let mut out = Vec::new();
    for (field, kind) in [
        ("configMapGenerator", "ConfigMap"),
        ("secretGenerator", "Secret"),
    ] {
        let Some(list) = k.get(field) else { continue };
        let list = list
            .as_array()
            .ok_or_else(|| invalid(file, format!("{field} must be a list")))?;
        for (i, g) in list.iter().enumerate() {
            let g = g
                .as_object()
                .ok_or_else(|| invalid(file, format!("{field}[{i}] must be a mapping")))?;
            let at = format!("{field}[{i}]");
            check_fields(g, GENERATOR_FIELDS, file, &at)?;
            let behavior = match g.get("behavior").and_then(Value::as_str) {
                None | Some("create" | "") => Behavior::Create,
                Some("merge") => Behavior::Merge,
                Some("replace") => Behavior::Replace,
                Some(other) => {
                    return Err(invalid(
                        file,
                        format!("{at}.behavior: {other:?} is not create, merge or replace"),
                    ));
                }
            };
            let item = one(tree, dir, file, kind, g, &global, &at)?;
            out.push(Generated { item, behavior, at });
        }
    }
    Ok(out)
}

fn one(
    tree: &dyn SourceTree,
    dir: &str,
    file: &str,
    kind: &str,
    g: &Map<String, Value>,
    global: &Map<String, Value>,
    at: &str,
) -> Result<Item, KustomizeError> {
    let name = g
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(file, format!("{at}: name is required")))?;
    let mut data: Vec<(String, String)> = Vec::new();
    for lit in string_list(g, "literals", file)? {
        let (k, v) = lit
            .split_once('=')
            .ok_or_else(|| invalid(file, format!("{at}: literal {lit:?} is not KEY=VALUE")))?;
        data.push((k.to_string(), unquote(v).to_string()));
    }
    let mut envs = string_list(g, "envs", file)?;
    if let Some(Value::String(e)) = g.get("env") {
        envs.push(e.clone());
    }
    for env in envs {
        let text = tree.read_to_string(&file_in_root(dir, &env, file, &format!("{at}.envs"))?)?;
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once('=') {
                Some((k, v)) => data.push((k.trim_end().to_string(), v.to_string())),
                // A bare KEY takes its value from the environment, as kustomize does (empty
                // when unset).
                None => {
                    let key = line.trim_end();
                    data.push((key.to_string(), std::env::var(key).unwrap_or_default()));
                }
            }
        }
    }
    for f in string_list(g, "files", file)? {
        let (key, path) = match f.split_once('=') {
            Some((k, p)) => (k.to_string(), p.to_string()),
            None => (f.rsplit('/').next().unwrap_or(&f).to_string(), f.clone()),
        };
        let content =
            tree.read_to_string(&file_in_root(dir, &path, file, &format!("{at}.files"))?)?;
        data.push((key, content));
    }
    let mut seen = std::collections::HashSet::new();
    for (k, _) in &data {
        if !seen.insert(k.clone()) {
            return Err(invalid(file, format!("{at}: key {k} is defined twice")));
        }
    }
    let options = match g.get("options") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => return Err(invalid(file, format!("{at}.options must be a mapping"))),
    };
    check_fields(&options, OPTION_FIELDS, file, &format!("{at}.options"))?;
    let mut metadata = Map::new();
    metadata.insert("name".into(), Value::String(name.into()));
    if let Some(ns) = g.get("namespace").and_then(Value::as_str) {
        metadata.insert("namespace".into(), Value::String(ns.into()));
    }
    for key in ["labels", "annotations"] {
        let mut merged = Map::new();
        for src in [global.get(key), options.get(key)].into_iter().flatten() {
            for (k, v) in string_map(src, file, key)? {
                merged.insert(k, Value::String(v));
            }
        }
        if !merged.is_empty() {
            metadata.insert(key.into(), Value::Object(merged));
        }
    }
    let disable = options
        .get("disableNameSuffixHash")
        .or_else(|| global.get("disableNameSuffixHash"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut sorted = data;
    sorted.sort();
    let manifest = if kind == "Secret" {
        let d: Map<String, Value> = sorted
            .into_iter()
            .map(|(k, v)| (k, Value::String(encode_base64(v.as_bytes()))))
            .collect();
        let ty = g.get("type").and_then(Value::as_str).unwrap_or("Opaque");
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": ty, "data": d})
    } else {
        let d: Map<String, Value> = sorted
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": d})
    };
    Ok(Item::new(manifest, tree.location(file, 0, 1), !disable))
}
