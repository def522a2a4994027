//! Reading YAML as Go's YAML library (`sigs.k8s.io/yaml` over `go-yaml`) reads it, for texts
//! Strata did not write: live objects saved from a cluster or taken from another tool's test
//! data, as `strata health` reads them.
//!
//! Go's parser accepts two things the YAML specification (and Strata's manifest loader) refuses:
//!
//! - **duplicate mapping keys**: the last value wins. Each one is reported as a
//!   [`DuplicateKey`] (line and key), so a caller can warn about it;
//! - **multi-line quoted scalars whose continuation lines are not indented past their key**
//!   (`message: 'first line` followed by `second line'` at the key's column): the continuation
//!   lines are folded as if they were indented.
//!
//! Plain scalars are typed as YAML 1.1 types them (Go's library reads YAML 1.1): `yes`/`on`
//! are booleans and `017` is octal (15); a plain scalar starting with a digit or a sign is a
//! number when it is one without its underscores, wherever they are (`1__0` is 10, `1_` is 1),
//! as go-yaml v2 reads it.
//!
//! Everything else (the limits of [`crate::yaml`] included) is as for any user YAML. Manifests
//! keep going through [`crate::yaml::from_str`], which refuses both.
//!
//! ```
//! use serde_json::{json, Value};
//! use strata_core::yaml_go;
//!
//! let text = "kind: User\nstatus:\n  ready: false\nstatus: {}\n";
//! let read = yaml_go::from_str::<Value>(text).unwrap();
//! assert_eq!(read.value, json!({"kind": "User", "status": {}}));
//! assert_eq!(read.duplicate_keys[0].line, 4);
//! assert_eq!(read.duplicate_keys[0].key, "status");
//! assert!(strata_core::yaml::from_str::<Value>(text).is_err());
//! ```

use std::collections::HashSet;

use granit_parser::{Event, Parser};
use serde::de::DeserializeOwned;

use crate::yaml::YamlError;

/// A key written twice in the same mapping; the later value was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    /// The line (1-based, in the parsed text) of the later occurrence.
    pub line: usize,
    /// The key.
    pub key: String,
}

/// A value read with Go's leniency, with the duplicate keys it had.
#[derive(Debug, Clone, PartialEq)]
pub struct Lenient<T> {
    /// The value.
    pub value: T,
    /// The keys written more than once (the last value was kept for each).
    pub duplicate_keys: Vec<DuplicateKey>,
}

/// Parses one YAML document as Go's YAML library would (see the [module](self) docs), under
/// the limits of [`crate::yaml`].
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<Lenient<T>, YamlError> {
    read(text, true)
}

/// Parses one YAML document as [`from_str`] does, with the same value and the same errors,
/// without looking for its duplicate keys: for a caller that would drop them (a second pass
/// over the text's events is saved).
pub fn value_from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    read(text, false).map(|read| read.value)
}

/// [`from_str`], the duplicate keys looked for only when `report_duplicates` is set.
fn read<T: DeserializeOwned>(text: &str, report_duplicates: bool) -> Result<Lenient<T>, YamlError> {
    let repaired = reindent_quoted_continuations(text);
    let text = repaired.as_deref().unwrap_or(text);
    let respelled = respell_underscored_scalars(text);
    let text = respelled.as_deref().unwrap_or(text);
    let mut options = crate::yaml::options(text);
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    options.legacy_octal_numbers = true;
    match serde_saphyr::from_str_with_options(text, options) {
        Ok(value) => Ok(Lenient {
            value,
            duplicate_keys: if report_duplicates {
                duplicate_keys(text)
            } else {
                Vec::new()
            },
        }),
        // Whatever the leniency does not cover is reported as the strict parser reports it.
        Err(_) => crate::yaml::from_str::<T>(text).map(|value| Lenient {
            value,
            duplicate_keys: Vec::new(),
        }),
    }
}

/// A plain, untagged scalar holding `_` that starts as a number may start, as go-yaml v2
/// resolves it: its underscores removed, an integer as Go's `strconv.ParseInt(.., 0, 64)` (or
/// `ParseUint`) reads it, else a float of YAML's style; otherwise a string.
#[derive(Debug, Clone, PartialEq)]
enum GoScalar {
    Int(i64),
    Uint(u64),
    Float(f64),
    Text,
}

/// Go's `strconv.ParseUint(text, 0, 64)` without underscores or sign: `0x`, `0o`, `0b` and a
/// leading `0` (octal) prefixes, else decimal.
fn go_parse_uint_base0(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let (digits, radix) = if let Some(rest) = lower.strip_prefix("0x") {
        (rest, 16)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (rest, 8)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (rest, 2)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (&lower[1..], 8)
    } else {
        (lower.as_str(), 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Go's `strconv.ParseInt(text, base, 64)` over [`go_parse_uint_base0`] (or a fixed radix).
fn go_parse_int(text: &str, radix: Option<u32>) -> Option<i64> {
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = match radix {
        None => go_parse_uint_base0(rest)?,
        Some(radix) => {
            if rest.is_empty() || !rest.chars().all(|c| c.is_digit(radix)) {
                return None;
            }
            u64::from_str_radix(rest, radix).ok()?
        }
    };
    if negative {
        (magnitude <= 1 << 63).then(|| 0i64.wrapping_sub_unsigned(magnitude))
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// go-yaml v2's resolution of a plain scalar holding `_` (see [`GoScalar`]).
fn go_underscored(text: &str) -> GoScalar {
    if !matches!(text.as_bytes().first(), Some(b'0'..=b'9' | b'+' | b'-')) {
        // A leading `.` is read by `ParseFloat`, which takes no underscores here; anything
        // else is a word.
        return GoScalar::Text;
    }
    let plain: String = text.chars().filter(|c| *c != '_').collect();
    if let Some(i) = go_parse_int(&plain, None) {
        return GoScalar::Int(i);
    }
    if !plain.starts_with(['+', '-'])
        && let Some(u) = go_parse_uint_base0(&plain)
    {
        return GoScalar::Uint(u);
    }
    if yaml_style_float(&plain)
        && let Ok(f) = plain.parse::<f64>()
        && f.is_finite()
    {
        return GoScalar::Float(f);
    }
    if let Some(rest) = plain.strip_prefix("0b") {
        if let Some(i) = go_parse_int(rest, Some(2)) {
            return GoScalar::Int(i);
        }
        if let Some(u) = (!rest.starts_with(['+', '-']))
            .then(|| u64::from_str_radix(rest, 2).ok())
            .flatten()
        {
            return GoScalar::Uint(u);
        }
    } else if let Some(rest) = plain.strip_prefix("-0b")
        && let Some(i) = go_parse_int(&format!("-{rest}"), Some(2))
    {
        return GoScalar::Int(i);
    }
    GoScalar::Text
}

/// go-yaml v2's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn yaml_style_float(text: &str) -> bool {
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(at) => (&t[..at], Some(&t[at + 1..])),
        None => (t, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((int, frac)) => digits(int) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    mantissa_ok && exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)))
}

/// `text` with every plain, untagged, one-line scalar holding `_` that starts with a digit or a
/// sign written as go-yaml v2 reads it: its number in a spelling every YAML reader reads alike,
/// or its text quoted. `None` when there is none (or the text does not parse; the parser
/// reports that).
fn respell_underscored_scalars(text: &str) -> Option<String> {
    if !text.contains('_') {
        return None;
    }
    let options = granit_parser::options! {
        emit_comments: false,
    };
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    for item in Parser::new_from_str_with_options(text, options) {
        let Ok((event, span)) = item else {
            return None;
        };
        let Event::Scalar(value, granit_parser::ScalarStyle::Plain, _, None) = event else {
            continue;
        };
        if !value.contains('_')
            || !value.starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '-')
        {
            continue;
        }
        let (Some(start), Some(end)) = (span.start.byte_offset(), span.end.byte_offset()) else {
            continue;
        };
        if text.get(start..end) != Some(value.as_ref()) {
            continue;
        }
        let spelling = match go_underscored(&value) {
            GoScalar::Int(i) => i.to_string(),
            GoScalar::Uint(u) => u.to_string(),
            GoScalar::Float(f) => format!("{f:e}"),
            GoScalar::Text => serde_json::Value::String(value.to_string()).to_string(),
        };
        edits.push((start, end, spelling));
    }
    if edits.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end, spelling) in edits {
        out.push_str(&text[at..start]);
        out.push_str(&spelling);
        at = end;
    }
    out.push_str(&text[at..]);
    Some(out)
}

/// The keys written more than once in a mapping of `text` (one YAML document), in text order.
/// Merge keys (`<<`) and keys that are not scalars are not counted. Empty when the text does
/// not parse.
pub fn duplicate_keys(text: &str) -> Vec<DuplicateKey> {
    enum Frame {
        Mapping {
            seen: HashSet<String>,
            expecting_key: bool,
        },
        Sequence,
    }
    let options = granit_parser::options! {
        emit_comments: false,
    };
    let mut stack: Vec<Frame> = Vec::new();
    let mut found = Vec::new();
    // A node is starting: if it is a key of the enclosing mapping, the mapping now expects its
    // value (returns true when the node is a key).
    fn node_starts(stack: &mut [Frame]) -> bool {
        if let Some(Frame::Mapping { expecting_key, .. }) = stack.last_mut() {
            let is_key = *expecting_key;
            *expecting_key = !*expecting_key;
            return is_key;
        }
        false
    }
    for item in Parser::new_from_str_with_options(text, options) {
        let Ok((event, span)) = item else {
            return Vec::new();
        };
        match event {
            Event::Scalar(value, ..) => {
                let is_key = node_starts(&mut stack);
                if is_key
                    && value != "<<"
                    && let Some(Frame::Mapping { seen, .. }) = stack.last_mut()
                    && !seen.insert(value.to_string())
                {
                    found.push(DuplicateKey {
                        line: span.start.line(),
                        key: value.to_string(),
                    });
                }
            }
            Event::Alias(_) | Event::UnresolvedAlias(_) => {
                node_starts(&mut stack);
            }
            Event::MappingStart(..) => {
                node_starts(&mut stack);
                stack.push(Frame::Mapping {
                    seen: HashSet::new(),
                    expecting_key: true,
                });
            }
            Event::SequenceStart(..) => {
                node_starts(&mut stack);
                stack.push(Frame::Sequence);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
            }
            _ => {}
        }
    }
    found
}

/// The text with the continuation lines of multi-line quoted scalars indented past the line
/// their scalar starts on, when some are not; `None` when nothing needs it. Leading white space
/// of a continuation line is folded away, so the scalar's value does not change.
pub fn reindent_quoted_continuations(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 64);
    let mut changed = false;
    // While inside a quoted scalar: its quote and the smallest indentation its lines need.
    let mut open: Option<(char, usize)> = None;
    for line in text.split_inclusive('\n') {
        match open {
            Some((quote, needed)) => {
                let indent = line.len() - line.trim_start_matches(' ').len();
                let blank = line.trim().is_empty();
                if !blank && indent < needed {
                    out.push_str(&" ".repeat(needed - indent));
                    changed = true;
                }
                out.push_str(line);
                if !blank && closes(line, quote) {
                    open = None;
                }
            }
            None => {
                out.push_str(line);
                open = opens_quoted_scalar(line);
            }
        }
    }
    changed.then_some(out)
}

/// When `line` starts a quoted scalar as a block mapping value or sequence item that does not
/// close on the line: its quote character and the indentation its continuation lines need (past
/// the column of the key, or of the item).
fn opens_quoted_scalar(line: &str) -> Option<(char, usize)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let mut rest = &line[indent..];
    // Sequence entries (`- `, possibly several) before the node.
    while let Some(after) = rest.strip_prefix("- ") {
        rest = after.trim_start_matches(' ');
    }
    if rest.starts_with('#') {
        return None;
    }
    // The column the node (or its key) starts at: continuation lines go past it.
    let column = line.len() - rest.len();
    let value = if rest.starts_with('\'') || rest.starts_with('"') {
        rest
    } else {
        // A plain key followed by `: ` and the value.
        let colon = plain_key_end(rest)?;
        rest[colon + 1..].trim_start_matches(' ')
    };
    let quote = value.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    if closes(&value[1..], quote) {
        return None;
    }
    Some((quote, column + 1))
}

/// The position of the `:` ending a plain (unquoted) mapping key at the start of `text`.
fn plain_key_end(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    for (i, byte) in bytes.iter().enumerate() {
        match byte {
            b'#' if i > 0 && bytes[i - 1] == b' ' => return None,
            b':' if matches!(bytes.get(i + 1), None | Some(b' ' | b'\n' | b'\r')) => {
                return Some(i);
            }
            b'\'' | b'"' | b'{' | b'[' if i == 0 => return None,
            _ => {}
        }
    }
    None
}

/// Whether `text` (inside a quoted scalar) holds its closing quote.
fn closes(text: &str, quote: char) -> bool {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            ('"', '\\') => {
                chars.next();
            }
            ('\'', '\'') if chars.peek() == Some(&'\'') => {
                chars.next();
            }
            (q, c) if q == c => return true,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn value_from_str_reads_as_from_str_does() {
        for text in [
            "a: 1\na: 2\nb: {c: 017}\n",
            "message: 'first\nsecond'\n",
            "a: [1\n",
            "",
        ] {
            let full = from_str::<Value>(text).map(|read| read.value);
            let quick = value_from_str::<Value>(text);
            match (full, quick) {
                (Ok(full), Ok(quick)) => assert_eq!(full, quick, "{text:?}"),
                (Err(full), Err(quick)) => {
                    assert_eq!(full.to_string(), quick.to_string(), "{text:?}")
                }
                (full, quick) => panic!("{text:?}: {full:?} against {quick:?}"),
            }
        }
    }

    #[test]
    fn last_duplicate_wins_and_is_reported() {
        let text = "a: 1\nb:\n  c: 1\n  c: 2\na: 3\nlist:\n  - k: x\n    k: z\n";
        let read = from_str::<Value>(text).expect("lenient");
        assert_eq!(
            read.value,
            json!({"a": 3, "b": {"c": 2}, "list": [{"k": "z"}]})
        );
        let keys: Vec<(usize, &str)> = read
            .duplicate_keys
            .iter()
            .map(|d| (d.line, d.key.as_str()))
            .collect();
        assert_eq!(keys, [(4, "c"), (5, "a"), (8, "k")]);
        assert!(crate::yaml::from_str::<Value>(text).is_err());
    }

    #[test]
    fn same_key_in_sibling_mappings_is_not_a_duplicate() {
        let text = "- name: a\n- name: b\nx:\n  name: c\n";
        assert!(duplicate_keys(text).is_empty());
    }

    #[test]
    fn under_indented_quoted_continuations_fold() {
        let text = "status:\n  conditions:\n    - message: '0/3 clusters didn''t match\n      cluster affinity.'\n      reason: Failed\n";
        assert!(crate::yaml::from_str::<Value>(text).is_err());
        let read = from_str::<Value>(text).expect("lenient");
        assert_eq!(
            read.value["status"]["conditions"][0],
            json!({"message": "0/3 clusters didn't match cluster affinity.", "reason": "Failed"})
        );
        let double = "a:\n  m: \"one \\\" two\n  three\"\n  n: 1\n";
        let read = from_str::<Value>(double).expect("lenient");
        assert_eq!(read.value, json!({"a": {"m": "one \" two three", "n": 1}}));
    }

    #[test]
    fn well_formed_texts_are_left_alone() {
        let text = "a: 'one\n  two'\nb: \"x\"\nc: it's # 'not a quote\n";
        assert_eq!(reindent_quoted_continuations(text), None);
        assert_eq!(
            from_str::<Value>(text).expect("parses").value,
            json!({"a": "one two", "b": "x", "c": "it's"})
        );
    }

    #[test]
    fn underscores_are_read_as_go_yaml_v2_reads_them() {
        let text = "a: 1__0\nb: 1_\nc: +1_0\nd: -0x_1F\ne: 1_0.5\nf: 1_e3\ng: 0_8\nh: 0b1_1\ni: \"1__0\"\nj: _1\nk: 1_0 apples\nl: [1__0, x_1]\nm: 0_17\nn: 1_8446744073709551615\n";
        let read = from_str::<Value>(text).expect("parses").value;
        assert_eq!(
            read,
            json!({"a": 10, "b": 1, "c": 10, "d": -31, "e": 10.5, "f": 1000.0, "g": 8.0,
                   "h": 3, "i": "1__0", "j": "_1", "k": "1_0 apples",
                   "l": [10, "x_1"], "m": 15, "n": 18446744073709551615u64})
        );
        assert_eq!(respell_underscored_scalars("a: b_c\n"), None);
    }

    #[test]
    fn other_errors_are_reported_as_the_strict_parser_reports_them() {
        assert!(from_str::<Value>("a: [1, 2\n").is_err());
    }
}
