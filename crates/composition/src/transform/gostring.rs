//! The `string` transform and Go (RE2) regular expressions on Rust's `regex`.

use super::StringTransform;
use crate::error::{Error, Phase, Result};
use crate::gofmt::{sprint_v, sprintf};
use crate::value::go_json;
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use regex::Regex;
use serde_json::Value;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use strata_core::user_regex::{self, RegexLimitError};

/// Compiles a Go RE2 pattern, keeping Go's ASCII-only `\d \w \s \b` classes, within the
/// limits of [`strata_core::user_regex`] (pattern length, compiled size).
pub fn go_regex(pattern: &str) -> std::result::Result<Regex, RegexLimitError> {
    user_regex::check_length(pattern)?;
    user_regex::compile_within_size(&translate_classes(pattern))
}

/// The error for a pattern at `field` that [`go_regex`] refused: a limit names the limit, an
/// invalid pattern reads as Crossplane's `invalid regexp`.
pub(crate) fn regex_error(field: &str, pattern: &str, error: RegexLimitError) -> Error {
    if error.is_limit() {
        Error::RegexLimit {
            context: String::new(),
            field: field.to_string(),
            source: error,
        }
    } else {
        Error::InvalidRegex {
            context: String::new(),
            field: field.to_string(),
            pattern: pattern.to_string(),
            source: error,
        }
    }
}

fn translate_classes(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 8);
    let mut chars = p.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        if c == '\\' {
            let Some(n) = chars.next() else {
                out.push('\\');
                break;
            };
            let (outside, inside) = match n {
                'd' => ("[0-9]", "0-9"),
                'D' => ("[^0-9]", "[^0-9]"),
                'w' => ("[0-9A-Za-z_]", "0-9A-Za-z_"),
                'W' => ("[^0-9A-Za-z_]", "[^0-9A-Za-z_]"),
                's' => ("[\\t\\n\\f\\r ]", "\\t\\n\\f\\r "),
                'S' => ("[^\\t\\n\\f\\r ]", "[^\\t\\n\\f\\r ]"),
                'b' if !in_class => ("(?-u:\\b)", ""),
                'B' if !in_class => ("(?-u:\\B)", ""),
                _ => {
                    out.push('\\');
                    out.push(n);
                    continue;
                }
            };
            out.push_str(if in_class { inside } else { outside });
            continue;
        }
        if in_class {
            if c == ']' {
                in_class = false;
            }
            out.push(c);
            continue;
        }
        if c == '[' {
            in_class = true;
            out.push(c);
            // A leading ^ and/or ] belong to the class.
            if chars.peek() == Some(&'^') {
                out.push('^');
                chars.next();
            }
            if chars.peek() == Some(&']') {
                out.push_str("\\]");
                chars.next();
            }
            continue;
        }
        out.push(c);
    }
    out
}

fn rt(msg: String) -> Error {
    Error::Runtime(format!("string transform could not resolve: {msg}"))
}

fn simple_upper(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}

fn simple_lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut low = c.to_lowercase();
            match (low.next(), low.next()) {
                (Some(l), None) => l,
                _ => c,
            }
        })
        .collect()
}

fn hash_input(input: &Value) -> Vec<u8> {
    match input {
        Value::String(s) => s.as_bytes().to_vec(),
        other => go_json(other).into_bytes(),
    }
}

fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

const GO_STD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

fn convert(kind: &str, input: &Value) -> Result<String> {
    let s = || sprint_v(input);
    Ok(match kind {
        "ToUpper" => simple_upper(&s()),
        "ToLower" => simple_lower(&s()),
        "ToJson" => crate::value::go_json(input),
        "ToBase64" => GO_STD.encode(s().as_bytes()),
        "FromBase64" => {
            let cleaned: String = s().chars().filter(|c| *c != '\r' && *c != '\n').collect();
            let bytes = GO_STD
                .decode(cleaned.as_bytes())
                .map_err(|e| {
                    Error::caused(
                        Phase::Runtime,
                        "string transform could not resolve: cannot decode string: illegal base64 data: ",
                        e,
                    )
                })?;
            String::from_utf8_lossy(&bytes).into_owned()
        }
        "ToSha1" => hex::encode(Sha1::digest(hash_input(input))),
        "ToSha256" => hex::encode(Sha256::digest(hash_input(input))),
        "ToSha512" => hex::encode(Sha512::digest(hash_input(input))),
        "ToAdler32" => adler32(&hash_input(input)).to_string(),
        other => {
            return Err(rt(format!(
                "type {other} is not supported for string convert"
            )));
        }
    })
}

/// Runs a `string` transform; the output is always a string.
pub fn resolve_string(t: &StringTransform, input: &Value) -> Result<String> {
    match t {
        StringTransform::Format(f) => Ok(sprintf(f, std::slice::from_ref(input))),
        StringTransform::Convert(kind) => convert(kind, input),
        StringTransform::TrimPrefix(p) => {
            let s = sprint_v(input);
            Ok(s.strip_prefix(p.as_str()).map(str::to_string).unwrap_or(s))
        }
        StringTransform::TrimSuffix(p) => {
            let s = sprint_v(input);
            Ok(s.strip_suffix(p.as_str()).map(str::to_string).unwrap_or(s))
        }
        StringTransform::Regexp {
            pattern,
            regex,
            group,
        } => {
            let s = sprint_v(input);
            let no_match = || {
                rt(format!(
                    "regexp {pattern:?} had no matches for group {group}"
                ))
            };
            let caps = regex.captures(&s).ok_or_else(no_match)?;
            if *group < 0 || *group as usize >= caps.len() {
                return Err(no_match());
            }
            Ok(caps
                .get(*group as usize)
                .map(|m| m.as_str().to_string())
                .unwrap_or_default())
        }
        StringTransform::Join(sep) => match input {
            Value::Array(items) => Ok(items.iter().map(sprint_v).collect::<Vec<_>>().join(sep)),
            other => Err(rt(format!(
                "input is required to be an array for join, got {}",
                crate::value::go_type_name(other)
            ))),
        },
        StringTransform::Replace { search, replace } => {
            Ok(sprint_v(input).replace(search.as_str(), replace))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_ascii_like_go() {
        let re = go_regex(r"^\d+$").expect("compiles");
        assert!(re.is_match("123"));
        assert!(!re.is_match("١٢٣"));
        let re = go_regex(r"[\d_]+").expect("compiles");
        assert!(re.is_match("1_2"));
        let re = go_regex(r"[]a]").expect("compiles");
        assert!(re.is_match("]"));
    }

    #[test]
    fn adler_matches_known_value() {
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    }
}
