//! The one notation for field paths: JSON pointers (RFC 6901) for programs, and a readable
//! form for people that is just as unambiguous.
//!
//! The readable form joins plain keys with dots and writes list indices in brackets
//! (`spec.template.spec.containers[0].image`); a key holding anything but letters, digits,
//! `_` and `-` (or of digits only, which would read as an index) is written in brackets as a
//! JSON string, so that dots and slashes inside label names never read as nesting and a map
//! key never as a list index: `metadata.labels["app.kubernetes.io/managed-by"]`,
//! `data["80"]`.
//! [`parse_readable`] reads that form back exactly, and [`pointer()`] turns either into
//! `/metadata/labels/app.kubernetes.io~1managed-by`.

use std::fmt::Write as _;

use serde_json::Value;

/// One step of a field path: a mapping key or a list index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(untagged)]
pub enum PathSegment {
    /// A mapping key (a field name, or a key of a map such as a label name).
    Key(String),
    /// A list index.
    Index(usize),
}

/// Whether `key` is written bare in the readable form: letters, digits, `_` and `-`, and not
/// digits only, which would read as a list index (`data["80"]`, `ports[0]`).
fn is_plain(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !key.chars().all(|c| c.is_ascii_digit())
}

/// Appends `key` to a readable path.
pub fn push_key(path: &mut String, key: &str) {
    if is_plain(key) {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push('[');
        // A string always serialises as JSON.
        path.push_str(&serde_json::to_string(key).unwrap_or_default());
        path.push(']');
    }
}

/// Appends a list index to a readable path.
pub fn push_index(path: &mut String, index: usize) {
    let _ = write!(path, "[{index}]");
}

/// The readable form of `path` (`""` for the root).
pub fn readable(path: &[PathSegment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            PathSegment::Key(key) => push_key(&mut out, key),
            PathSegment::Index(index) => push_index(&mut out, *index),
        }
    }
    out
}

/// The JSON pointer of `path` (`""` for the root; `~` and `/` escaped as `~0` and `~1`).
pub fn pointer(path: &[PathSegment]) -> String {
    let mut out = String::new();
    for segment in path {
        out.push('/');
        match segment {
            PathSegment::Key(key) => out.push_str(&key.replace('~', "~0").replace('/', "~1")),
            PathSegment::Index(index) => {
                let _ = write!(out, "{index}");
            }
        }
    }
    out
}

/// A path that is not in the readable form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a field path: {problem} at byte {at}")]
pub struct PathSyntaxError {
    /// The text read.
    pub text: String,
    /// Where reading stopped.
    pub at: usize,
    /// What was wrong there.
    pub problem: &'static str,
}

/// Reads a readable path back into its segments (the inverse of [`readable`]).
pub fn parse_readable(text: &str) -> Result<Vec<PathSegment>, PathSyntaxError> {
    let error = |at: usize, problem: &'static str| PathSyntaxError {
        text: text.to_owned(),
        at,
        problem,
    };
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'[' if bytes.get(i + 1) == Some(&b'"') => {
                // A JSON string up to its closing quote, then `]`.
                let mut end = i + 2;
                while end < bytes.len() && bytes[end] != b'"' {
                    end += if bytes[end] == b'\\' { 2 } else { 1 };
                }
                let quoted = text
                    .get(i + 1..=end)
                    .ok_or_else(|| error(i, "an unterminated quoted key"))?;
                let key: String = serde_json::from_str(quoted)
                    .map_err(|_| error(i, "a quoted key that is no JSON string"))?;
                if bytes.get(end + 1) != Some(&b']') {
                    return Err(error(end + 1, "a quoted key not closed by `]`"));
                }
                out.push(PathSegment::Key(key));
                i = end + 2;
            }
            b'[' => {
                let end = text[i..]
                    .find(']')
                    .map(|n| i + n)
                    .ok_or_else(|| error(i, "an index not closed by `]`"))?;
                let index = text[i + 1..end]
                    .parse()
                    .map_err(|_| error(i + 1, "an index that is no number"))?;
                out.push(PathSegment::Index(index));
                i = end + 1;
            }
            b'.' if i > 0 => {
                let start = i + 1;
                let end = text[start..]
                    .find(['.', '['])
                    .map_or(text.len(), |n| start + n);
                if end == start {
                    return Err(error(start, "an empty key"));
                }
                out.push(PathSegment::Key(text[start..end].to_owned()));
                i = end;
            }
            _ if i == 0 => {
                let end = text.find(['.', '[']).unwrap_or(text.len());
                if end == 0 {
                    return Err(error(0, "an empty key"));
                }
                out.push(PathSegment::Key(text[..end].to_owned()));
                i = end;
            }
            _ => return Err(error(i, "a key neither after `.` nor in brackets")),
        }
    }
    Ok(out)
}

/// The JSON pointer of a readable path.
pub fn pointer_of_readable(text: &str) -> Result<String, PathSyntaxError> {
    parse_readable(text).map(|path| pointer(&path))
}

/// The segments of a JSON pointer, `None` when it does not start with `/` (and is not empty).
/// A token is a list index where `doc` holds a list at that point; without a document (or
/// past where it ends), a token of digits only is taken for an index.
pub fn parse_pointer(pointer: &str, doc: Option<&Value>) -> Option<Vec<PathSegment>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    let mut at = doc;
    let mut out = Vec::new();
    for token in rest.split('/') {
        let token = token.replace("~1", "/").replace("~0", "~");
        let index = token
            .parse::<usize>()
            .ok()
            .filter(|_| !token.starts_with('+') && (token == "0" || !token.starts_with('0')));
        let segment = match (at, index) {
            (Some(Value::Array(items)), Some(index)) => {
                at = items.get(index);
                PathSegment::Index(index)
            }
            (Some(Value::Object(map)), _) => {
                at = map.get(&token);
                PathSegment::Key(token)
            }
            (_, Some(index)) => {
                at = None;
                PathSegment::Index(index)
            }
            (_, None) => {
                at = None;
                PathSegment::Key(token)
            }
        };
        out.push(segment);
    }
    Some(out)
}

/// The readable form of a JSON pointer (read against `doc` as [`parse_pointer`] does); the
/// pointer itself when it is not one.
pub fn readable_of_pointer(pointer: &str, doc: Option<&Value>) -> String {
    match parse_pointer(pointer, doc) {
        Some(path) => readable(&path),
        None => pointer.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(k: &str) -> PathSegment {
        PathSegment::Key(k.to_owned())
    }

    #[test]
    fn keys_with_dots_slashes_and_tildes_are_quoted_and_escaped() {
        let path = vec![
            key("metadata"),
            key("labels"),
            key("app.kubernetes.io/managed-by"),
        ];
        assert_eq!(
            readable(&path),
            r#"metadata.labels["app.kubernetes.io/managed-by"]"#
        );
        assert_eq!(
            pointer(&path),
            "/metadata/labels/app.kubernetes.io~1managed-by"
        );
        let tilde = vec![key("data"), key("a~b"), PathSegment::Index(3), key("x")];
        assert_eq!(readable(&tilde), r#"data["a~b"][3].x"#);
        assert_eq!(pointer(&tilde), "/data/a~0b/3/x");
    }

    #[test]
    fn the_readable_form_reads_back_exactly() {
        for path in [
            vec![
                key("spec"),
                key("containers"),
                PathSegment::Index(0),
                key("image"),
            ],
            vec![key("a.b"), key("c")],
            vec![key(r#"we"ird\]"#), PathSegment::Index(12)],
            vec![
                key("metadata"),
                key("annotations"),
                key("strata.dev/protect"),
            ],
            vec![key("8080")],
            vec![key("")],
        ] {
            let text = readable(&path);
            assert_eq!(parse_readable(&text).unwrap(), path, "{text}");
        }
        assert_eq!(
            pointer_of_readable(r#"metadata.labels["a/b~c"]"#).unwrap(),
            "/metadata/labels/a~1b~0c"
        );
        assert!(parse_readable("a..b").is_err());
        assert!(parse_readable(r#"a["b"#).is_err());
        assert!(parse_readable("a[x]").is_err());
    }

    #[test]
    fn pointers_read_indices_from_the_document() {
        let doc = json!({"spec": {"ports": [{"port": 80}], "8080": {"on": true}}});
        assert_eq!(
            readable_of_pointer("/spec/ports/0/port", Some(&doc)),
            "spec.ports[0].port"
        );
        // A map key of digits stays a key where the document says so, written so that it
        // never reads as an index.
        assert_eq!(
            readable_of_pointer("/spec/8080/on", Some(&doc)),
            r#"spec["8080"].on"#
        );
        assert_eq!(
            readable(&[key("spec"), key("8080"), key("80a")]),
            r#"spec["8080"].80a"#
        );
        assert_eq!(
            parse_pointer("/spec/8080/on", Some(&doc)).unwrap()[1],
            key("8080")
        );
        assert_eq!(
            readable_of_pointer("/metadata/labels/a.b~1c", None),
            r#"metadata.labels["a.b/c"]"#
        );
        assert_eq!(readable_of_pointer("no-slash", None), "no-slash");
    }
}
