//! Crossplane field paths (`crossplane-runtime/pkg/fieldpath`): parsing, reading, writing
//! with creation of intermediate objects and arrays, wildcard expansion and merging.

use serde_json::{Map, Value};
use std::fmt;

/// Largest array index a write may use.
pub const MAX_INDEX: u32 = 1024;

/// One segment of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// An object key (`*` is a wildcard only during expansion).
    Field(String),
    /// An array index.
    Index(u32),
}

/// A parsed field path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldPath(pub Vec<Segment>);

/// Field path errors; `NotFound` is the only one `policy.fromFieldPath: Optional` forgives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path does not parse.
    #[error("cannot parse path {path:?}: {reason}")]
    Parse {
        /// The path text.
        path: String,
        /// What is wrong, with the byte position.
        reason: String,
    },
    /// A key, element or wildcard parent is missing.
    #[error("{0}")]
    NotFound(String),
    /// A field segment met a non-object.
    #[error("{0}")]
    NotAnObject(String),
    /// An index segment met a non-array.
    #[error("{0}")]
    NotAnArray(String),
    /// An index above [`MAX_INDEX`] in a write.
    #[error("index {0} is greater than max allowed index 1024")]
    IndexTooLarge(u32),
    /// A wildcard applied to a scalar.
    #[error("{0}: unexpected wildcard usage")]
    UnexpectedWildcard(String),
    /// A merge could not be done (e.g. appending a slice to a scalar).
    #[error("failed to merge values: {0}")]
    Merge(String),
    /// A typed read found another type.
    #[error("{path}: not a {expected}")]
    WrongType {
        /// The path read.
        path: String,
        /// The expected Go type description.
        expected: &'static str,
    },
}

impl PathError {
    /// Whether this is a not-found error (forgiven by `Optional`).
    pub fn is_not_found(&self) -> bool {
        matches!(self, PathError::NotFound(_))
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&segments_string(&self.0))
    }
}

/// Renders segments the way crossplane-runtime does (`a.b[0][key.with.dots]`).
pub fn segments_string(segs: &[Segment]) -> String {
    let mut out = String::new();
    for s in segs {
        match s {
            Segment::Field(name) => {
                if name == "*" || name.contains('.') {
                    out.push('[');
                    out.push_str(name);
                    out.push(']');
                } else {
                    out.push('.');
                    out.push_str(name);
                }
            }
            Segment::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    match out.strip_prefix('.') {
        Some(rest) => rest.to_string(),
        None => out,
    }
}

fn field(name: &str) -> Segment {
    Segment::Field(name.trim_matches(|c| c == '\'' || c == '"').to_string())
}

fn field_or_index(s: &str) -> Segment {
    if !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit())
        && let Ok(i) = s.parse::<u32>()
    {
        return Segment::Index(i);
    }
    field(s)
}

impl FieldPath {
    /// Parses a path with crossplane-runtime's grammar and error positions.
    pub fn parse(path: &str) -> Result<FieldPath, PathError> {
        let b = path.as_bytes();
        let err = |pos: usize, what: String| PathError::Parse {
            path: path.to_string(),
            reason: format!("{what} at position {pos}"),
        };
        let mut segs = Vec::new();
        let mut pos = 0usize;
        let mut start = 0usize;
        // State machine: in a field name.
        loop {
            // lexField
            let mut i = pos;
            let mut next: Option<u8> = None;
            while i < b.len() {
                match b[i] {
                    b']' => return Err(err(i, "unexpected ']'".into())),
                    b'[' | b'.' => {
                        next = Some(b[i]);
                        break;
                    }
                    _ => i += 1,
                }
            }
            if i > start {
                segs.push(field(&path[start..i]));
            }
            pos = i;
            match next {
                None => return Ok(FieldPath(segs)),
                Some(b'.') => {
                    if pos == 0 || pos == b.len() - 1 {
                        return Err(err(pos, "unexpected '.'".into()));
                    }
                    pos += 1;
                    match b[pos] {
                        b'.' => return Err(err(pos, "unexpected '.'".into())),
                        b'[' => return Err(err(pos, "unexpected '['".into())),
                        _ => {}
                    }
                    start = pos;
                }
                Some(_) => {
                    // lexLeftBracket
                    if !path[pos..].contains(']') {
                        return Err(err(pos, "unterminated '['".into()));
                    }
                    pos += 1;
                    let rbi = path[pos..].find(']').unwrap_or(0);
                    if rbi == 0 {
                        return Err(err(pos, "unexpected ']'".into()));
                    }
                    if let Some(lbi) = path[pos..pos + rbi].find('[') {
                        return Err(err(pos + lbi, "unexpected '['".into()));
                    }
                    segs.push(field_or_index(&path[pos..pos + rbi]));
                    pos += rbi + 1;
                    start = pos;
                }
            }
        }
    }

    /// Whether the path has no segments.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Reads the value at `path`.
pub fn get<'a>(obj: &'a Value, path: &str) -> Result<&'a Value, PathError> {
    let fp = FieldPath::parse(path)?;
    get_segments(obj, &fp.0)
}

static NULL: Value = Value::Null;

/// Reads the value at parsed segments.
pub fn get_segments<'a>(obj: &'a Value, segs: &[Segment]) -> Result<&'a Value, PathError> {
    let mut it = obj;
    for (i, seg) in segs.iter().enumerate() {
        match seg {
            Segment::Index(idx) => match it {
                Value::Array(items) => match items.get(*idx as usize) {
                    Some(v) => it = v,
                    None => {
                        return Err(PathError::NotFound(format!(
                            "{}: no such element",
                            segments_string(&segs[..=i])
                        )));
                    }
                },
                _ => {
                    return Err(PathError::NotAnArray(format!(
                        "{}: not an array",
                        segments_string(&segs[..i])
                    )));
                }
            },
            Segment::Field(name) => match it {
                Value::Object(map) => match map.get(name) {
                    Some(v) => it = v,
                    None => {
                        return Err(PathError::NotFound(format!(
                            "{}: no such field",
                            segments_string(&segs[..=i])
                        )));
                    }
                },
                Value::Null => {
                    return Err(PathError::NotFound(format!(
                        "{}: expected map, got nil",
                        segments_string(&segs[..i])
                    )));
                }
                _ => {
                    return Err(PathError::NotAnObject(format!(
                        "{}: not an object",
                        segments_string(&segs[..i])
                    )));
                }
            },
        }
    }
    if segs.is_empty() {
        return Ok(&NULL);
    }
    Ok(it)
}

/// Reads a string (`GetString`).
pub fn get_string<'a>(obj: &'a Value, path: &str) -> Result<&'a str, PathError> {
    match get(obj, path)? {
        Value::String(s) => Ok(s),
        _ => Err(PathError::WrongType {
            path: path.into(),
            expected: "string",
        }),
    }
}

/// Reads a bool (`GetBool`).
pub fn get_bool(obj: &Value, path: &str) -> Result<bool, PathError> {
    match get(obj, path)? {
        Value::Bool(b) => Ok(*b),
        _ => Err(PathError::WrongType {
            path: path.into(),
            expected: "bool",
        }),
    }
}

/// Reads an int64 (`GetInteger`).
pub fn get_integer(obj: &Value, path: &str) -> Result<i64, PathError> {
    match get(obj, path)? {
        Value::Number(n) if n.is_i64() => n.as_i64().ok_or(PathError::WrongType {
            path: path.into(),
            expected: "(int64) number",
        }),
        _ => Err(PathError::WrongType {
            path: path.into(),
            expected: "(int64) number",
        }),
    }
}

/// Writes `value` at `path`, creating missing objects and arrays.
pub fn set(obj: &mut Value, path: &str, value: Value) -> Result<(), PathError> {
    let fp = FieldPath::parse(path)?;
    set_segments(obj, &fp.0, value)
}

fn empty_for(next: &Segment) -> Value {
    match next {
        Segment::Index(i) => Value::Array(vec![Value::Null; *i as usize + 1]),
        Segment::Field(_) => Value::Object(Map::new()),
    }
}

fn grow(v: &mut Value, next: &Segment) {
    if let (Value::Array(items), Segment::Index(i)) = (v, next)
        && *i as usize >= items.len()
    {
        items.resize(*i as usize + 1, Value::Null);
    }
}

/// Writes `value` at parsed segments.
pub fn set_segments(obj: &mut Value, segs: &[Segment], value: Value) -> Result<(), PathError> {
    for s in segs {
        if let Segment::Index(i) = s
            && *i > MAX_INDEX
        {
            return Err(PathError::IndexTooLarge(*i));
        }
    }
    if segs.is_empty() {
        return Ok(());
    }
    set_from(obj, segs, 0, value)
}

/// Writes `value` at `segs[i..]` below `cur` (recursive, so an existing key is looked up once).
fn set_from(cur: &mut Value, segs: &[Segment], i: usize, value: Value) -> Result<(), PathError> {
    let last = i + 1 == segs.len();
    match &segs[i] {
        Segment::Index(idx) => {
            let Value::Array(items) = cur else {
                return Err(PathError::NotAnArray(format!(
                    "{} is not an array",
                    segments_string(&segs[..i])
                )));
            };
            let idx = *idx as usize;
            if idx >= items.len() {
                items.resize(idx + 1, Value::Null);
            }
            if last {
                items[idx] = value;
                return Ok(());
            }
            let slot = &mut items[idx];
            // Unlike object keys, a null array element is replaced by what the next segment needs.
            if slot.is_null() {
                *slot = empty_for(&segs[i + 1]);
            }
            grow(slot, &segs[i + 1]);
            set_from(slot, segs, i + 1, value)
        }
        Segment::Field(name) => {
            let Value::Object(map) = cur else {
                return Err(PathError::NotAnObject(format!(
                    "{} is not an object",
                    segments_string(&segs[..i])
                )));
            };
            if let Some(slot) = map.get_mut(name) {
                if last {
                    *slot = value;
                    return Ok(());
                }
                grow(slot, &segs[i + 1]);
                return set_from(slot, segs, i + 1, value);
            }
            if last {
                map.insert(name.clone(), value);
                return Ok(());
            }
            // A missing key: build the rest of the path, then insert it whole.
            let mut child = empty_for(&segs[i + 1]);
            set_from(&mut child, segs, i + 1, value)?;
            map.insert(name.clone(), child);
            Ok(())
        }
    }
}

/// Removes the value at `path` if present (used for empty observed names).
pub fn delete(obj: &mut Value, path: &str) -> Result<(), PathError> {
    let fp = FieldPath::parse(path)?;
    let Some((last, parent)) = fp.0.split_last() else {
        return Ok(());
    };
    let mut cur = obj;
    for seg in parent {
        cur = match (seg, cur) {
            (Segment::Field(n), Value::Object(m)) => match m.get_mut(n) {
                Some(v) => v,
                None => return Ok(()),
            },
            (Segment::Index(i), Value::Array(a)) => match a.get_mut(*i as usize) {
                Some(v) => v,
                None => return Ok(()),
            },
            _ => return Ok(()),
        };
    }
    match (last, cur) {
        (Segment::Field(n), Value::Object(m)) => {
            m.shift_remove(n);
        }
        (Segment::Index(i), Value::Array(a)) if (*i as usize) < a.len() => {
            a.remove(*i as usize);
        }
        _ => {}
    }
    Ok(())
}

/// Expands `[*]` wildcards against existing data into sorted concrete paths.
pub fn expand_wildcards(obj: &Value, path: &str) -> Result<Vec<String>, PathError> {
    let fp = FieldPath::parse(path)?;
    let mut out = Vec::new();
    expand(obj, fp.0, &mut out)?;
    let mut paths: Vec<String> = out.iter().map(|s| segments_string(s)).collect();
    paths.sort();
    Ok(paths)
}

fn expand(data: &Value, segs: Vec<Segment>, out: &mut Vec<Vec<Segment>>) -> Result<(), PathError> {
    for i in 0..segs.len() {
        if segs[i] == Segment::Field("*".into()) {
            let it = if i == 0 {
                data
            } else {
                get_segments(data, &segs[..i])?
            };
            match it {
                Value::Array(items) => {
                    for ix in 0..items.len() {
                        let mut expanded = segs.clone();
                        expanded[i] = Segment::Index(ix as u32);
                        expand(data, expanded, out)?;
                    }
                }
                Value::Object(map) => {
                    let mut keys: Vec<&String> = map.keys().collect();
                    keys.sort();
                    for k in keys {
                        let mut expanded = segs.clone();
                        expanded[i] = Segment::Field(k.clone());
                        expand(data, expanded, out)?;
                    }
                }
                Value::Null => {
                    return Err(PathError::NotFound(format!(
                        "wildcard field {:?} is not found in the path",
                        segments_string(&segs[..i])
                    )));
                }
                _ => return Err(PathError::UnexpectedWildcard(segments_string(&segs[..i]))),
            }
            return Ok(());
        }
        match get_segments(data, &segs[..=i]) {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    out.push(segs);
    Ok(())
}

/// crossplane-runtime merge options (`keepMapValues`, `appendSlice`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeOptions {
    /// Keep existing map values (no override).
    pub keep_map_values: bool,
    /// Append arrays instead of replacing them.
    pub append_slice: bool,
}

/// Writes `value` at `path`, merging with the existing value when `opts` is given
/// (`Paved.MergeValue`).
pub fn merge_value(
    obj: &mut Value,
    path: &str,
    value: Value,
    opts: Option<MergeOptions>,
) -> Result<(), PathError> {
    let fp = FieldPath::parse(path)?;
    merge_value_segments(obj, &fp.0, value, opts)
}

/// [`merge_value`] over parsed segments.
pub fn merge_value_segments(
    obj: &mut Value,
    segs: &[Segment],
    value: Value,
    opts: Option<MergeOptions>,
) -> Result<(), PathError> {
    let merged = match opts {
        None => value,
        Some(mo) => {
            let dst = match get_segments(obj, segs) {
                Ok(v) => v.clone(),
                Err(e) if e.is_not_found() => Value::Null,
                Err(e) => return Err(e),
            };
            merge(dst, value, mo)?
        }
    };
    set_segments(obj, segs, merged)
}

/// Merges `src` onto `dst` with mergo semantics (see the reference, §5).
pub fn merge(dst: Value, src: Value, mo: MergeOptions) -> Result<Value, PathError> {
    if dst.is_null() || src.is_null() {
        return Ok(src);
    }
    let src = if mo.append_slice {
        remove_source_duplicates(&dst, src)
    } else {
        src
    };
    let mut d = Map::new();
    d.insert("arg".into(), dst);
    let mut s = Map::new();
    s.insert("arg".into(), src);
    merge_map(&mut d, &s, !mo.keep_map_values, mo.append_slice)?;
    Ok(d.shift_remove("arg").unwrap_or(Value::Null))
}

fn remove_source_duplicates(dst: &Value, src: Value) -> Value {
    match (dst, src) {
        (Value::Array(d), Value::Array(s)) => {
            Value::Array(s.into_iter().filter(|item| !d.contains(item)).collect())
        }
        (_, src) => src,
    }
}

fn merge_map(
    dst: &mut Map<String, Value>,
    src: &Map<String, Value>,
    overwrite: bool,
    append: bool,
) -> Result<(), PathError> {
    for (key, sv) in src {
        let de = dst.get(key).cloned();
        if sv.is_null() {
            if overwrite {
                dst.insert(key.clone(), Value::Null);
            }
            continue;
        }
        match sv {
            Value::Object(sm) => {
                if let Some(Value::Object(dm)) = dst.get_mut(key) {
                    merge_map(dm, sm, overwrite, append)?;
                }
            }
            Value::Array(sa) => {
                let dst_slice = match &de {
                    None | Some(Value::Null) => Value::Array(Vec::new()),
                    Some(v) => v.clone(),
                };
                let new = if (overwrite || dst.is_empty()) && !append {
                    sv.clone()
                } else if append {
                    match dst_slice {
                        Value::Array(mut d) => {
                            d.extend(sa.iter().cloned());
                            Value::Array(d)
                        }
                        other => {
                            return Err(PathError::Merge(format!(
                                "cannot append two slices with different type ([]interface {{}}, {})",
                                crate::value::go_type_name(&other)
                            )));
                        }
                    }
                } else {
                    dst_slice
                };
                dst.insert(key.clone(), new);
            }
            _ => {}
        }
        if let Some(d) = &de
            && !crate::value::is_go_zero(d)
            && (sv.is_array() || (sv.is_object() && d.is_object()))
        {
            continue;
        }
        let dst_empty = de.as_ref().is_none_or(crate::value::is_go_zero);
        if overwrite || dst_empty {
            dst.insert(key.clone(), sv.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_grammar() {
        let p =
            FieldPath::parse("metadata.annotations[crossplane.io/external-name]").expect("parses");
        assert_eq!(p.0.len(), 3);
        assert_eq!(p.0[2], Segment::Field("crossplane.io/external-name".into()));
        assert_eq!(
            FieldPath::parse("m['0']").expect("parses").0[1],
            Segment::Field("0".into())
        );
        assert_eq!(
            FieldPath::parse("a[1]").expect("parses").0[1],
            Segment::Index(1)
        );
        assert!(FieldPath::parse(".a").is_err());
        assert!(FieldPath::parse("a[").is_err());
        assert!(FieldPath::parse("a]").is_err());
        assert!(FieldPath::parse("").expect("empty").is_empty());
    }

    #[test]
    fn set_creates_and_pads() {
        let mut o = json!({});
        set(&mut o, "spec.list[2].name", json!("x")).expect("set");
        assert_eq!(o, json!({"spec": {"list": [null, null, {"name": "x"}]}}));
    }

    #[test]
    fn delete_removes() {
        let mut o = json!({"metadata": {"name": "a", "namespace": "b"}});
        delete(&mut o, "metadata.name").expect("delete");
        assert_eq!(o, json!({"metadata": {"namespace": "b"}}));
    }
}
