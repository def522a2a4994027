//! Field paths as JSON pointers (RFC 6901): parsing, lookup and removal.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::Value;

/// One step in a field path: a map key or a list index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// A map key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// A borrowed path step (keys borrowed from the compared documents).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    /// A map key.
    Key(&'a str),
    /// A list index.
    Index(usize),
}

impl<'a> From<&'a Segment> for Step<'a> {
    fn from(segment: &'a Segment) -> Self {
        match segment {
            Segment::Key(k) => Step::Key(k),
            Segment::Index(i) => Step::Index(*i),
        }
    }
}

/// Formats borrowed path steps as a JSON pointer (`""` for the root).
pub fn pointer_of(path: &[Step<'_>]) -> String {
    pointer_from(path.iter().copied())
}

fn pointer_from<'a>(steps: impl Iterator<Item = Step<'a>>) -> String {
    let mut out = String::new();
    for step in steps {
        out.push('/');
        match step {
            Step::Key(k) => out.push_str(&escape_token(k)),
            Step::Index(i) => {
                let _ = write!(out, "{i}");
            }
        }
    }
    out
}

/// The readable form of borrowed path steps ([`strata_core::field_path`]'s notation): a map key
/// of digits stays a key (`data["80"]`), a list index is an index (`ports[0]`).
pub fn readable_of(path: &[Step<'_>]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) => strata_core::field_path::push_key(&mut out, k),
            Step::Index(i) => strata_core::field_path::push_index(&mut out, *i),
        }
    }
    out
}

/// Escapes one token for a JSON pointer (`~` → `~0`, `/` → `~1`); borrows when nothing needs
/// escaping.
pub fn escape_token(token: &str) -> Cow<'_, str> {
    if token.contains(['~', '/']) {
        Cow::Owned(token.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(token)
    }
}

/// Formats path segments as a JSON pointer (`""` for the root).
pub fn to_pointer(path: &[Segment]) -> String {
    pointer_from(path.iter().map(Step::from))
}

/// Splits a JSON pointer into unescaped tokens; `None` when it does not start with `/` (and is not empty).
pub fn parse_pointer(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

/// Removes the value at a JSON pointer; returns whether something was removed.
pub fn remove_pointer(doc: &mut Value, pointer: &str) -> bool {
    let Some(tokens) = parse_pointer(pointer) else {
        return false;
    };
    let Some((last, parents)) = tokens.split_last() else {
        return false;
    };
    let mut cur = doc;
    for tok in parents {
        cur = match cur {
            Value::Object(map) => match map.get_mut(tok.as_str()) {
                Some(v) => v,
                None => return false,
            },
            Value::Array(items) => match tok.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match cur {
        Value::Object(map) => map.shift_remove(last.as_str()).is_some(),
        Value::Array(items) => match last.parse::<usize>() {
            Ok(i) if i < items.len() => {
                items.remove(i);
                true
            }
            _ => false,
        },
        _ => false,
    }
}

/// Removes a dotted path of map keys (`metadata.managedFields`); returns whether something was removed.
pub fn remove_dotted(doc: &mut Value, keys: &[&str]) -> bool {
    let Some((last, parents)) = keys.split_last() else {
        return false;
    };
    let mut cur = doc;
    for k in parents {
        match cur.get_mut(*k) {
            Some(v) => cur = v,
            None => return false,
        }
    }
    cur.as_object_mut()
        .is_some_and(|m| m.shift_remove(*last).is_some())
}
