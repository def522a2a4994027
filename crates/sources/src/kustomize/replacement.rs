//! `replacements`: a value read from one resource (`source`: its id, `fieldPath`, and
//! `options.delimiter`/`index` to take one part of it) written into fields of others
//! (`targets`: `select`, `reject`, `fieldPaths` with `[key=value]` list selectors, indices
//! and `*` wildcards, `options.delimiter`/`index` and `options.create`), inline or from
//! `path:` files, as kustomize's ReplacementTransformer does.

use serde_json::{Map, Value};
use strata_core::source::SourceTree;

use super::patch::selector_pairs;
use super::{
    Item, KustomizeError, check_fields, effective_namespace, file_in_root, group_version, invalid,
    str_at,
};

/// A resource id selector (empty fields match anything).
#[derive(Debug, Default, Clone)]
struct IdSelector {
    group: String,
    version: String,
    kind: String,
    name: String,
    namespace: String,
    labels: Vec<(String, String)>,
    annotations: Vec<(String, String)>,
}

#[derive(Debug, Default, Clone)]
struct Options {
    delimiter: String,
    index: i64,
    create: bool,
}

#[derive(Debug)]
struct Target {
    select: IdSelector,
    reject: Vec<IdSelector>,
    field_paths: Vec<String>,
    options: Options,
}

#[derive(Debug)]
struct Replacement {
    source: IdSelector,
    field_path: String,
    source_options: Options,
    targets: Vec<Target>,
    /// The file it was read from.
    file: String,
}

const ID_FIELDS: &[&str] = &["group", "version", "kind", "name", "namespace"];
const OPTION_FIELDS: &[&str] = &["delimiter", "index", "create", "encoding"];

fn text(m: &Map<String, Value>, key: &str) -> String {
    match m.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

fn mapping<'a>(
    v: &'a Value,
    file: &str,
    at: &str,
) -> Result<&'a Map<String, Value>, KustomizeError> {
    v.as_object()
        .ok_or_else(|| invalid(file, format!("{at} must be a mapping")))
}

fn parse_selector(
    v: &Value,
    file: &str,
    at: &str,
    with_labels: bool,
) -> Result<IdSelector, KustomizeError> {
    let m = mapping(v, file, at)?;
    let mut allowed = ID_FIELDS.to_vec();
    if with_labels {
        allowed.extend(["labelSelector", "annotationSelector"]);
    }
    check_fields(m, &allowed, file, at)?;
    let pairs = |key: &str| -> Result<Vec<(String, String)>, KustomizeError> {
        selector_pairs(&text(m, key)).map_err(|_| KustomizeError::Unsupported {
            file: file.into(),
            field: format!("{at}.{key} (only key=value terms are supported)"),
        })
    };
    Ok(IdSelector {
        group: text(m, "group"),
        version: text(m, "version"),
        kind: text(m, "kind"),
        name: text(m, "name"),
        namespace: text(m, "namespace"),
        labels: pairs("labelSelector")?,
        annotations: pairs("annotationSelector")?,
    })
}

fn parse_options(v: Option<&Value>, file: &str, at: &str) -> Result<Options, KustomizeError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Options::default());
    };
    let m = mapping(v, file, at)?;
    check_fields(m, OPTION_FIELDS, file, at)?;
    let index = match m.get("index") {
        None | Some(Value::Null) => 0,
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| invalid(file, format!("{at}.index must be a whole number")))?,
        Some(_) => return Err(invalid(file, format!("{at}.index must be a whole number"))),
    };
    Ok(Options {
        delimiter: text(m, "delimiter"),
        index,
        create: m.get("create").and_then(Value::as_bool).unwrap_or(false),
    })
}

fn parse_one(v: &Value, file: &str, at: &str) -> Result<Replacement, KustomizeError> {
    let m = mapping(v, file, at)?;
    check_fields(m, &["source", "targets"], file, at)?;
    let (Some(source), Some(targets)) = (m.get("source"), m.get("targets")) else {
        return Err(invalid(
            file,
            format!("{at}: replacements must specify a source and at least one target"),
        ));
    };
    let sm = mapping(source, file, &format!("{at}.source"))?;
    let mut allowed = ID_FIELDS.to_vec();
    allowed.extend(["fieldPath", "options"]);
    check_fields(sm, &allowed, file, &format!("{at}.source"))?;
    let mut id_only = sm.clone();
    id_only.shift_remove("fieldPath");
    id_only.shift_remove("options");
    let source_sel = parse_selector(
        &Value::Object(id_only),
        file,
        &format!("{at}.source"),
        false,
    )?;
    let field_path = match text(sm, "fieldPath") {
        p if p.is_empty() => "metadata.name".to_string(),
        p => p,
    };
    let source_options = parse_options(sm.get("options"), file, &format!("{at}.source.options"))?;
    let list = targets
        .as_array()
        .ok_or_else(|| invalid(file, format!("{at}.targets must be a list")))?;
    let mut out = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let tat = format!("{at}.targets[{i}]");
        let tm = mapping(t, file, &tat)?;
        check_fields(
            tm,
            &["select", "reject", "fieldPaths", "options"],
            file,
            &tat,
        )?;
        let select = match tm.get("select") {
            Some(s) if !s.is_null() => parse_selector(s, file, &format!("{tat}.select"), true)?,
            _ => {
                return Err(invalid(
                    file,
                    format!("{tat}: target must specify resources to select"),
                ));
            }
        };
        let reject = match tm.get("reject") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(r)) => r
                .iter()
                .enumerate()
                .map(|(j, s)| parse_selector(s, file, &format!("{tat}.reject[{j}]"), true))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid(file, format!("{tat}.reject must be a list"))),
        };
        let mut field_paths = super::string_list(tm, "fieldPaths", file)?;
        if field_paths.is_empty() {
            field_paths.push("metadata.name".into());
        }
        out.push(Target {
            select,
            reject,
            field_paths,
            options: parse_options(tm.get("options"), file, &format!("{tat}.options"))?,
        });
    }
    Ok(Replacement {
        source: source_sel,
        field_path,
        source_options,
        targets: out,
        file: file.to_string(),
    })
}

/// Reads a kustomization's `replacements` (inline, or `path:` files holding one replacement
/// or a list of them).
fn parse(
    tree: &dyn SourceTree,
    dir: &str,
    file: &str,
    list: &Value,
) -> Result<Vec<Replacement>, KustomizeError> {
    let list = list
        .as_array()
        .ok_or_else(|| invalid(file, "replacements must be a list"))?;
    let mut out = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let at = format!("replacements[{i}]");
        let m = mapping(entry, file, &at)?;
        match m.get("path") {
            Some(Value::String(path)) => {
                if m.len() > 1 {
                    return Err(invalid(
                        file,
                        format!("{at}: cannot specify both path and inline replacement"),
                    ));
                }
                let p = file_in_root(dir, path, file, &format!("{at}.path"))?;
                let doc = super::parse_yaml(&p, &tree.read_to_string(&p)?)?;
                match doc {
                    Value::Array(items) => {
                        for (j, r) in items.iter().enumerate() {
                            out.push(parse_one(r, &p, &format!("[{j}]"))?);
                        }
                    }
                    Value::Object(_) => out.push(parse_one(&doc, &p, "replacement")?),
                    _ => {
                        return Err(invalid(
                            &p,
                            "a replacement file holds a replacement or a list of them",
                        ));
                    }
                }
            }
            Some(_) => return Err(invalid(file, format!("{at}.path must be a string"))),
            None => out.push(parse_one(entry, file, &at)?),
        }
    }
    Ok(out)
}

fn labels_match(m: &Value, key: &str, pairs: &[(String, String)]) -> bool {
    pairs.iter().all(|(k, v)| {
        m.get("metadata")
            .and_then(|md| md.get(key))
            .and_then(|l| l.get(k))
            .and_then(Value::as_str)
            == Some(v)
    })
}

impl IdSelector {
    fn has_id(&self) -> bool {
        !(self.group.is_empty()
            && self.version.is_empty()
            && self.kind.is_empty()
            && self.name.is_empty()
            && self.namespace.is_empty())
    }

    /// kustomize's `IsSelectedBy` on the item's current or any previous id.
    fn selects_id(&self, item: &Item) -> bool {
        let (group, version) = group_version(str_at(&item.manifest, &["apiVersion"]));
        item.ids().iter().any(|id| {
            (self.name.is_empty() || self.name == id.name)
                && (self.namespace.is_empty()
                    || effective_namespace(&id.kind, &self.namespace) == id.namespace)
                && (self.group.is_empty() || self.group == group)
                && (self.version.is_empty() || self.version == version)
                && (self.kind.is_empty() || self.kind == id.kind)
        })
    }

    fn selects_labels(&self, item: &Item) -> bool {
        labels_match(&item.manifest, "labels", &self.labels)
            && labels_match(&item.manifest, "annotations", &self.annotations)
    }

    fn describe(&self) -> String {
        format!(
            "{}/{}/{} {}/{}",
            self.group, self.version, self.kind, self.namespace, self.name
        )
    }
}

/// Splits a field path on `.`, keeping `[a.b=c]` together (kustomize's smarter splitter).
fn split_path(path: &str) -> Vec<String> {
    let parts: Vec<&str> = path.split('.').collect();
    let parts = if parts.len() > 1 && parts[0].is_empty() {
        &parts[1..]
    } else {
        &parts[..]
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < parts.len() {
        let p = parts[i];
        if p.starts_with('[') && !p.ends_with(']') {
            let mut joined = vec![p];
            while i < parts.len() - 1 {
                i += 1;
                joined.push(parts[i]);
                if parts[i].ends_with(']') {
                    break;
                }
            }
            let s = joined.join(".");
            if s.contains('=') {
                out.push(s);
            } else {
                out.push(s.trim_matches(|c| c == '[' || c == ']').to_string());
            }
        } else {
            out.push(p.to_string());
        }
        i += 1;
    }
    out
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("null".into()),
        _ => None,
    }
}

/// Why a replacement's field path cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// A source index is negative.
    #[error("array index {0} cannot be negative")]
    NegativeIndex(i64),
    /// A source path has a `*`.
    #[error("wildcard is not supported in a replacement source")]
    SourceWildcard,
    /// A `[...]` segment of a source path has no `=`.
    #[error("{0}: list selectors are [field=value]")]
    ListSelector(String),
    /// An index or list selector meets something other than a list.
    #[error("{0}: not a list")]
    NotAList(String),
    /// An index is past the end of the list.
    #[error("index {index} specified but only {len} elements found")]
    IndexOutOfRange {
        /// The index.
        index: usize,
        /// The list's length.
        len: usize,
    },
    /// The value of a `[key=value]` selector is not a regular expression.
    #[error("{segment}: {source}")]
    Regex {
        /// The path segment.
        segment: String,
        /// Why it does not compile.
        #[source]
        source: strata_core::user_regex::RegexLimitError,
    },
    /// A `*` meets something other than a list.
    #[error("{0}: wildcards match list elements only")]
    WildcardNotList(String),
    /// A field would be created in a scalar or a list.
    #[error("{0}: cannot create a field in a non-mapping")]
    NotAMapping(String),
    /// `options.delimiter` is given for a mapping or a list.
    #[error("delimiter option can only be used with scalar nodes")]
    DelimiterNotScalar,
}

/// The source value at `path` (indices, `-` for the last element, `[key=value]` exact
/// matches, fields).
fn lookup<'a>(v: &'a Value, path: &[String]) -> Result<Option<&'a Value>, PathError> {
    let Some((p, rest)) = path.split_first() else {
        return Ok(Some(v));
    };
    let next = if let Ok(i) = p.parse::<i64>() {
        if i < 0 {
            return Err(PathError::NegativeIndex(i));
        }
        v.as_array().and_then(|a| a.get(i as usize))
    } else if p == "-" {
        v.as_array().and_then(|a| a.last())
    } else if p == "*" {
        return Err(PathError::SourceWildcard);
    } else if let Some(inner) = p.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        let (key, want) = inner
            .split_once('=')
            .ok_or_else(|| PathError::ListSelector(p.clone()))?;
        v.as_array().and_then(|a| {
            a.iter().find(|e| {
                if key.is_empty() {
                    scalar_text(e).as_deref() == Some(want)
                } else {
                    e.get(key).and_then(scalar_text).as_deref() == Some(want)
                }
            })
        })
    } else {
        v.get(p.as_str())
    };
    match next {
        Some(n) => lookup(n, rest),
        None => Ok(None),
    }
}

/// One step into a value.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// kustomize's `PathMatcher`: the paths of every field `path` matches in `v` (creating
/// missing ones when `create`; `leaf` is what a created leaf starts as).
fn matches(
    v: &mut Value,
    path: &[String],
    create: Option<&Value>,
    at: &mut Vec<Step>,
    out: &mut Vec<Vec<Step>>,
) -> Result<(), PathError> {
    let Some((p, rest)) = path.split_first() else {
        out.push(at.clone());
        return Ok(());
    };
    let new_node = |rest: &[String], leaf: &Value| -> Value {
        match rest.first() {
            None => match leaf {
                Value::Object(_) => Value::Object(Map::new()),
                Value::Array(_) => Value::Array(Vec::new()),
                _ => Value::Null,
            },
            Some(n) if n.parse::<usize>().is_ok() || n.starts_with('[') => Value::Array(Vec::new()),
            Some(_) => Value::Object(Map::new()),
        }
    };
    if let Ok(idx) = p.parse::<usize>() {
        let Value::Array(list) = v else {
            return Err(PathError::NotAList(p.clone()));
        };
        if list.len() == idx
            && let Some(leaf) = create
        {
            list.push(new_node(rest, leaf));
        }
        if list.len() < idx + 1 {
            return Err(PathError::IndexOutOfRange {
                index: idx,
                len: list.len(),
            });
        }
        at.push(Step::Index(idx));
        let r = matches(&mut list[idx], rest, create, at, out);
        at.pop();
        return r;
    }
    if let Some(inner) = p.strip_prefix('[').and_then(|s| s.strip_suffix(']'))
        && let Some((key, want)) = inner.split_once('=')
    {
        let re = strata_core::user_regex::compile(want).map_err(|source| PathError::Regex {
            segment: p.clone(),
            source,
        })?;
        let Value::Array(list) = v else {
            return Err(PathError::NotAList(p.clone()));
        };
        let before = out.len();
        for (i, e) in list.iter_mut().enumerate() {
            if key.is_empty() {
                if scalar_text(e).is_some_and(|s| re.is_match(s.trim())) {
                    at.push(Step::Index(i));
                    out.push(at.clone());
                    at.pop();
                }
                continue;
            }
            let Some(field) = e.get(key).and_then(scalar_text) else {
                continue;
            };
            if re.is_match(field.trim()) {
                at.push(Step::Index(i));
                matches(e, rest, create, at, out)?;
                at.pop();
            }
        }
        if out.len() == before && create.is_some() {
            let elem = if key.is_empty() {
                Value::String(want.to_string())
            } else {
                let mut m = Map::new();
                m.insert(key.to_string(), Value::String(want.to_string()));
                Value::Object(m)
            };
            list.push(elem);
            return matches(v, path, create, at, out);
        }
        return Ok(());
    }
    if p == "*" {
        let Value::Array(list) = v else {
            return Err(PathError::WildcardNotList(p.clone()));
        };
        for (i, e) in list.iter_mut().enumerate() {
            at.push(Step::Index(i));
            matches(e, rest, create, at, out)?;
            at.pop();
        }
        return Ok(());
    }
    if v.is_null()
        && let Some(_) = create
    {
        *v = Value::Object(Map::new());
    }
    let Value::Object(m) = v else {
        if create.is_some() {
            return Err(PathError::NotAMapping(p.clone()));
        }
        return Ok(());
    };
    if !m.contains_key(p.as_str()) {
        let Some(leaf) = create else {
            return Ok(());
        };
        m.insert(p.clone(), new_node(rest, leaf));
    }
    let Some(child) = m.get_mut(p.as_str()) else {
        return Ok(());
    };
    at.push(Step::Key(p.clone()));
    let r = matches(child, rest, create, at, out);
    at.pop();
    r
}

fn at_path<'a>(v: &'a mut Value, steps: &[Step]) -> Option<&'a mut Value> {
    let mut cur = v;
    for s in steps {
        cur = match s {
            Step::Key(k) => cur.get_mut(k.as_str())?,
            Step::Index(i) => cur.get_mut(*i)?,
        };
    }
    Some(cur)
}

/// A string as a plain YAML scalar resolves (the type of a newly created field).
fn implicit(s: &str) -> Value {
    match s {
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        "null" | "Null" | "NULL" | "~" | "" => return Value::Null,
        _ => {}
    }
    if let Ok(i) = s.parse::<i64>() {
        return Value::from(i);
    }
    if s.contains('.')
        && let Ok(f) = s.parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return Value::Number(n);
    }
    Value::String(s.to_string())
}

/// Writes `value` into an existing scalar keeping the scalar's type, as kustomize copies
/// only the text into a scalar node.
fn typed_like(target: &Value, text: &str) -> Value {
    match target {
        Value::Number(_) => match implicit(text) {
            n @ Value::Number(_) => n,
            _ => Value::String(text.into()),
        },
        Value::Bool(_) => match implicit(text) {
            b @ Value::Bool(_) => b,
            _ => Value::String(text.into()),
        },
        _ => Value::String(text.into()),
    }
}

fn set_field(
    slot: &mut Value,
    created: bool,
    value: &Value,
    options: &Options,
) -> Result<(), PathError> {
    let mut value = value.clone();
    if !options.delimiter.is_empty() {
        let cur = match &*slot {
            Value::Object(_) | Value::Array(_) => {
                return Err(PathError::DelimiterNotScalar);
            }
            Value::Null if created => String::new(),
            other => scalar_text(other).unwrap_or_default(),
        };
        let mut parts: Vec<String> = cur.split(&options.delimiter).map(String::from).collect();
        let v = scalar_text(&value).unwrap_or_default();
        if options.index < 0 {
            parts.insert(0, v);
        } else if options.index as usize >= parts.len() {
            parts.push(v);
        } else {
            parts[options.index as usize] = v;
        }
        value = Value::String(parts.join(&options.delimiter));
    }
    let scalar_target = !matches!(slot, Value::Object(_) | Value::Array(_));
    let value_text = scalar_text(&value);
    *slot = match (scalar_target, value_text) {
        (true, Some(text)) if created => implicit(&text),
        (true, Some(_)) if slot.is_null() => value,
        (true, Some(text)) => typed_like(slot, &text),
        _ => value,
    };
    Ok(())
}

fn err(r: &Replacement, message: String) -> KustomizeError {
    invalid(&r.file, format!("replacement: {message}"))
}

fn apply_one(items: &mut [Item], r: &Replacement) -> Result<(), KustomizeError> {
    let found: Vec<usize> = (0..items.len())
        .filter(|&i| r.source.selects_id(&items[i]))
        .collect();
    let source = match found.as_slice() {
        [one] => *one,
        [] => {
            return Err(err(
                r,
                format!("nothing selected by {}", r.source.describe()),
            ));
        }
        _ => {
            return Err(err(
                r,
                format!("multiple matches for selector {}", r.source.describe()),
            ));
        }
    };
    let path = split_path(&r.field_path);
    let value = lookup(&items[source].manifest, &path).map_err(|source| {
        KustomizeError::ReplacementSource {
            file: r.file.clone(),
            field_path: r.field_path.clone(),
            source,
        }
    })?;
    let value = match value {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) if m.is_empty() => None,
        Some(Value::Array(a)) if a.is_empty() => None,
        Some(v) => Some(v.clone()),
    }
    .ok_or_else(|| {
        err(
            r,
            format!(
                "fieldPath `{}` is missing for replacement source {}",
                r.field_path,
                r.source.describe()
            ),
        )
    })?;
    let value = if r.source_options.delimiter.is_empty() {
        value
    } else {
        let text = match &value {
            Value::Object(_) | Value::Array(_) => {
                return Err(err(
                    r,
                    "delimiter option can only be used with scalar nodes".into(),
                ));
            }
            v => scalar_text(v).unwrap_or_default(),
        };
        let parts: Vec<&str> = text.split(&r.source_options.delimiter).collect();
        let i = r.source_options.index;
        if i < 0 || i as usize >= parts.len() {
            return Err(err(
                r,
                format!("options.index {i} is out of bounds for value {text}"),
            ));
        }
        Value::String(parts[i as usize].to_string())
    };
    for t in &r.targets {
        for item in items.iter_mut() {
            if !t.select.selects_labels(item)
                || t.reject.iter().any(|rj| {
                    (!rj.labels.is_empty() || !rj.annotations.is_empty()) && rj.selects_labels(item)
                })
            {
                continue;
            }
            if !t.select.selects_id(item)
                || t.reject.iter().any(|rj| rj.has_id() && rj.selects_id(item))
            {
                continue;
            }
            for fp in &t.field_paths {
                let create = t.options.create.then_some(&value);
                let mut found = Vec::new();
                let before = item.manifest.clone();
                matches(
                    &mut item.manifest,
                    &split_path(fp),
                    create,
                    &mut Vec::new(),
                    &mut found,
                )
                .map_err(|source| KustomizeError::ReplacementTarget {
                    file: r.file.clone(),
                    field_path: fp.clone(),
                    source,
                })?;
                if found.is_empty() {
                    return Err(err(
                        r,
                        format!(
                            "unable to find {}field {fp:?} in replacement target {} {}",
                            if t.options.create { "or create " } else { "" },
                            str_at(&item.manifest, &["kind"]),
                            str_at(&item.manifest, &["metadata", "name"])
                        ),
                    ));
                }
                for steps in found {
                    let created = at_path(&mut before.clone(), &steps).is_none();
                    if let Some(slot) = at_path(&mut item.manifest, &steps) {
                        set_field(slot, created, &value, &t.options).map_err(|source| {
                            KustomizeError::ReplacementTarget {
                                file: r.file.clone(),
                                field_path: fp.clone(),
                                source,
                            }
                        })?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Applies a kustomization's `replacements`, in order.
pub(crate) fn apply(
    tree: &dyn SourceTree,
    dir: &str,
    file: &str,
    list: &Value,
    items: &mut [Item],
) -> Result<(), KustomizeError> {
    for r in parse(tree, dir, file, list)? {
        apply_one(items, &r)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_keep_dotted_list_selectors_together() {
        assert_eq!(
            split_path("spec.template.metadata.annotations.[a.b/c=d].x"),
            vec![
                "spec",
                "template",
                "metadata",
                "annotations",
                "[a.b/c=d]",
                "x"
            ]
        );
        assert_eq!(split_path("a.[b.c].d"), vec!["a", "b.c", "d"]);
    }

    #[test]
    fn list_selectors_wildcards_and_creation() {
        let mut v = json!({"spec": {"containers": [{"name": "app", "image": "a"},
                                                   {"name": "app-sidecar", "image": "b"},
                                                   {"name": "other", "image": "c"}]}});
        let mut out = Vec::new();
        let path = split_path("spec.containers.[name=app].image");
        matches(&mut v, &path, None, &mut Vec::new(), &mut out).unwrap();
        // kustomize matches list selectors as unanchored regular expressions.
        assert_eq!(out.len(), 2);
        let mut out = Vec::new();
        matches(
            &mut v,
            &split_path("spec.containers.*.image"),
            None,
            &mut Vec::new(),
            &mut out,
        )
        .unwrap();
        assert_eq!(out.len(), 3);
        let mut out = Vec::new();
        let leaf = json!("x");
        matches(
            &mut v,
            &split_path("spec.extra.[name=new].value"),
            Some(&leaf),
            &mut Vec::new(),
            &mut out,
        )
        .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(v["spec"]["extra"], json!([{"name": "new", "value": null}]));
    }

    #[test]
    fn scalars_keep_their_type_and_created_fields_resolve_plainly() {
        let mut slot = json!(1);
        set_field(&mut slot, false, &json!("3"), &Options::default()).unwrap();
        assert_eq!(slot, json!(3));
        let mut slot = json!("x");
        set_field(&mut slot, false, &json!(3), &Options::default()).unwrap();
        assert_eq!(slot, json!("3"));
        let mut slot = Value::Null;
        set_field(&mut slot, true, &json!("4"), &Options::default()).unwrap();
        assert_eq!(slot, json!(4));
        let mut slot = json!("a-b-c");
        let opts = Options {
            delimiter: "-".into(),
            index: 1,
            create: false,
        };
        set_field(&mut slot, false, &json!("z"), &opts).unwrap();
        assert_eq!(slot, json!("a-z-c"));
    }
}
