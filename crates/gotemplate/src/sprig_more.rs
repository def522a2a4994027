//! Sprig's path, URL, base32, duration and predicate functions, and its `must…` and `os…`
//! spellings of functions defined elsewhere, with Go's results.

use serde_json::{Map, Value};

use crate::exec::Val;
use crate::funcs::{any, int, s, want};
use crate::{CallFailure, FuncError};

/// The functions this module defines.
pub(crate) const NAMES: &[&str] = &[
    "hello",
    "base",
    "dir",
    "ext",
    "clean",
    "isAbs",
    "osBase",
    "osDir",
    "osExt",
    "osClean",
    "osIsAbs",
    "urlParse",
    "regexQuoteMeta",
    "b32enc",
    "b32dec",
    "all",
    "any",
    "deepEqual",
    "duration",
    "durationRound",
    "abbrevboth",
    "add1f",
    "chunk",
    "mustChunk",
];

/// The `must…` and other spellings Sprig defines for a function of another name, which
/// behaves the same (its errors name the function called).
pub(crate) fn alias(name: &str) -> Option<&'static str> {
    Some(match name {
        "mustToPrettyJson" => "toPrettyJson",
        "mustToRawJson" => "toRawJson",
        "mustInitial" => "initial",
        "mustRest" => "rest",
        "mustReverse" => "reverse",
        "mustSlice" => "slice",
        "mustWithout" => "without",
        "mustPush" => "push",
        "mustRegexFind" => "regexFind",
        "mustRegexFindAll" => "regexFindAll",
        "mustRegexReplaceAll" => "regexReplaceAll",
        "mustRegexReplaceAllLiteral" => "regexReplaceAllLiteral",
        "mustRegexSplit" => "regexSplit",
        "biggest" => "max",
        _ => return None,
    })
}

/// Calls `name` if this module defines it.
pub(crate) fn call(name: &str, a: &[Val]) -> Option<Result<Value, FuncError>> {
    Some(match name {
        "hello" => want(name, a, 0).map(|()| Value::String("Hello!".to_string())),
        "base" | "osBase" => text(name, a).map(|p| Value::String(base(&p))),
        "dir" | "osDir" => text(name, a).map(|p| Value::String(dir(&p))),
        "ext" | "osExt" => text(name, a).map(|p| Value::String(ext(&p).to_string())),
        "clean" | "osClean" => text(name, a).map(|p| Value::String(clean(&p))),
        "isAbs" | "osIsAbs" => text(name, a).map(|p| Value::Bool(p.starts_with('/'))),
        "urlParse" => text(name, a).and_then(|u| url_parse(&u)),
        "regexQuoteMeta" => text(name, a).map(|t| Value::String(quote_meta(&t))),
        "b32enc" => text(name, a).map(|t| Value::String(b32enc(t.as_bytes()))),
        "b32dec" => text(name, a).map(|t| {
            Value::String(match b32dec(&t) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                // Sprig returns the error's text.
                Err(at) => format!("illegal base32 data at input byte {at}"),
            })
        }),
        "all" => Ok(Value::Bool(
            a.iter().all(|v| !crate::funcs::is_empty(&any(v))),
        )),
        "any" => Ok(Value::Bool(
            a.iter().any(|v| !crate::funcs::is_empty(&any(v))),
        )),
        "deepEqual" => want(name, a, 2).map(|()| Value::Bool(any(&a[0]) == any(&a[1]))),
        // Sprig reads a string or an `int64`; anything else (a template's `int`, a value's
        // `float64`) is 0 seconds.
        "duration" => want(name, a, 1).map(|()| {
            Value::String(duration(match &a[0] {
                Some(Value::String(text)) => text.parse().unwrap_or(0),
                Some(v) => crate::helm::as_int64(v).unwrap_or(0),
                None => 0,
            }))
        }),
        // Likewise a string parsed as Go's `time.ParseDuration` (0 when it does not parse).
        "durationRound" => want(name, a, 1).map(|()| {
            Value::String(duration_round(match &a[0] {
                Some(Value::String(text)) => parse_go_duration(text).unwrap_or(0),
                _ => 0,
            }))
        }),
        "abbrevboth" => abbrevboth(name, a),
        "add1f" => want(name, a, 1).map(|()| {
            crate::value::float_value(crate::funcs::to_f64(&any(&a[0])) + 1.0)
                .unwrap_or(Value::Null)
        }),
        "chunk" | "mustChunk" => chunk(name, a),
        _ => return None,
    })
}

fn text(name: &str, a: &[Val]) -> Result<String, FuncError> {
    want(name, a, 1)?;
    s(&a[0])
}

/// Go's `path.Clean`: the shortest path equal to `p` (`.` and `..` resolved lexically,
/// slashes collapsed, no trailing slash), `.` for an empty result.
pub fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".to_string();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Go's `path.Base`: the last element (trailing slashes removed), `.` for an empty path, `/`
/// for slashes only.
pub fn base(p: &str) -> String {
    if p.is_empty() {
        return ".".to_string();
    }
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".to_string();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// Go's `path.Dir`: everything but the last element, cleaned.
pub fn dir(p: &str) -> String {
    let cut = p.rfind('/').map_or(0, |i| i + 1);
    clean(&p[..cut])
}

/// Go's `path.Ext`: the suffix from the last `.` of the last element, or empty.
pub fn ext(p: &str) -> &str {
    for (i, c) in p.char_indices().rev() {
        match c {
            '/' => return "",
            '.' => return &p[i..],
            _ => {}
        }
    }
    ""
}

/// Go's `regexp.QuoteMeta`.
fn quote_meta(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    for c in t.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Standard base32 with padding (Go's `base32.StdEncoding`).
fn b32enc(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    for chunk in data.chunks(5) {
        let mut block = [0_u8; 5];
        block[..chunk.len()].copy_from_slice(chunk);
        let bits = block
            .iter()
            .fold(0_u64, |acc, &b| (acc << 8) | u64::from(b));
        let symbols = match chunk.len() {
            1 => 2,
            2 => 4,
            3 => 5,
            4 => 7,
            _ => 8,
        };
        for i in 0..8 {
            if i < symbols {
                out.push(char::from(B32[((bits >> (35 - i * 5)) & 31) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base32 (Go's `base32.StdEncoding.DecodeString`, which skips line breaks);
/// `Err` gives the offset of the first illegal byte, as Go reports it.
fn b32dec(text: &str) -> Result<Vec<u8>, usize> {
    let input: Vec<(usize, u8)> = text
        .bytes()
        .enumerate()
        .filter(|(_, b)| *b != b'\n' && *b != b'\r')
        .collect();
    if !input.len().is_multiple_of(8) {
        return Err(input.len() / 8 * 8);
    }
    let mut out = Vec::with_capacity(input.len() / 8 * 5);
    for (block_index, block) in input.chunks(8).enumerate() {
        let mut bits: u64 = 0;
        let mut symbols = 8;
        for (i, &(at, b)) in block.iter().enumerate() {
            if b == b'=' {
                // Padding only at the end of the last block, in the lengths Go accepts.
                let last = block_index == input.len() / 8 - 1;
                if !last
                    || !matches!(i, 2 | 4 | 5 | 7)
                    || block[i..].iter().any(|(_, p)| *p != b'=')
                {
                    return Err(at);
                }
                symbols = i;
                break;
            }
            let Some(value) = B32.iter().position(|&c| c == b) else {
                return Err(at);
            };
            bits |= (value as u64) << (35 - i * 5);
        }
        let bytes = match symbols {
            2 => 1,
            4 => 2,
            5 => 3,
            7 => 4,
            _ => 5,
        };
        out.extend((0..bytes).map(|i| (bits >> (32 - i * 8)) as u8));
    }
    Ok(out)
}

/// Go's `time.Duration(seconds * time.Second).String()`.
fn duration(seconds: i64) -> String {
    if seconds == 0 {
        return "0s".to_string();
    }
    let sign = if seconds < 0 { "-" } else { "" };
    let total = seconds.unsigned_abs();
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{sign}{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{sign}{m}m{s}s")
    } else {
        format!("{sign}{s}s")
    }
}

/// Go's `time.ParseDuration` in nanoseconds: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+` or `0`;
/// `None` where Go returns an error (no unit, an unknown unit, beyond an `int64`).
pub(crate) fn parse_go_duration(text: &str) -> Option<i64> {
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    const LIMIT: u64 = 1 << 63;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let first = rest.as_bytes()[0];
        if !(first == b'.' || first.is_ascii_digit()) {
            return None;
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (whole_text, after) = rest.split_at(digits);
        let mut whole: u64 = 0;
        for d in whole_text.bytes() {
            if whole > (LIMIT - 1) / 10 {
                return None;
            }
            whole = whole * 10 + u64::from(d - b'0');
            if whole > LIMIT {
                return None;
            }
        }
        let mut rest_after = after;
        let (mut fraction, mut scale, mut fraction_digits) = (0u64, 1f64, 0usize);
        if let Some(tail) = after.strip_prefix('.') {
            fraction_digits = tail.bytes().take_while(u8::is_ascii_digit).count();
            let mut overflow = false;
            for d in tail[..fraction_digits].bytes() {
                if overflow || fraction > (LIMIT - 1) / 10 {
                    // Go drops the digits past what an int64 holds.
                    overflow = true;
                    continue;
                }
                let next = fraction * 10 + u64::from(d - b'0');
                if next > LIMIT {
                    overflow = true;
                    continue;
                }
                fraction = next;
                scale *= 10.0;
            }
            rest_after = &tail[fraction_digits..];
        }
        if digits == 0 && fraction_digits == 0 {
            return None;
        }
        let unit_len = rest_after
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest_after.len());
        let (unit_text, next) = rest_after.split_at(unit_len);
        let unit: u64 = match unit_text {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        if whole > LIMIT / unit {
            return None;
        }
        whole *= unit;
        if fraction > 0 {
            whole += (fraction as f64 * (unit as f64 / scale)) as u64;
            if whole > LIMIT {
                return None;
            }
        }
        total = total.checked_add(whole).filter(|t| *t <= LIMIT)?;
        rest = next;
    }
    if negative {
        Some(0i64.wrapping_sub_unsigned(total))
    } else if total > LIMIT - 1 {
        None
    } else {
        Some(total as i64)
    }
}

/// Sprig's `durationRound`: the duration's largest unit, rounded down, without its sign
/// (`2h`, `3d`, `1mo`, `2y`; a unit is used only for more than one of it, so one hour is `60m`).
fn duration_round(nanos: i64) -> String {
    const SECOND: u64 = 1_000_000_000;
    let n = nanos.unsigned_abs();
    let units: [(u64, &str); 6] = [
        (SECOND * 3600 * 24 * 365, "y"),
        (SECOND * 3600 * 24 * 30, "mo"),
        (SECOND * 3600 * 24, "d"),
        (SECOND * 3600, "h"),
        (SECOND * 60, "m"),
        (SECOND, "s"),
    ];
    units.iter().find(|(size, _)| n > *size).map_or_else(
        || "0s".to_string(),
        |(size, unit)| format!("{}{unit}", n / size),
    )
}

/// Sprig's `abbrevboth LEFT RIGHT TEXT`: the text as is when `RIGHT` is under 4 (or under 7
/// with an offset), else goutils' `AbbreviateFull`.
fn abbrevboth(name: &str, a: &[Val]) -> Result<Value, FuncError> {
    want(name, a, 3)?;
    let (left, right, text) = (int(&a[0])?, int(&a[1])?, s(&a[2])?);
    if right < 4 || left > 0 && right < 7 {
        return Ok(Value::String(text));
    }
    abbreviate_full(&text, left, right)
        .map(Value::String)
        .ok_or_else(|| FuncError::Unsupported {
            func: name.to_string(),
            reason: "the cut falls inside a multi-byte character, where Go's result is not valid UTF-8",
        })
}

/// goutils' `AbbreviateFull` (what Sprig's `abbrev` and `abbrevboth` call): `text` cut to
/// `width` bytes with `...` at the cut ends, starting near byte `offset`; `""` where goutils
/// returns an error. `None` where a cut falls inside a character (Go cuts bytes).
pub(crate) fn abbreviate_full(text: &str, offset: i64, width: i64) -> Option<String> {
    let len = text.len() as i64;
    if text.is_empty() {
        return Some(String::new());
    }
    if width < 4 {
        return Some(String::new());
    }
    if len <= width {
        return Some(text.to_string());
    }
    let mut offset = offset.min(len);
    if len - offset < width - 3 {
        offset = len - (width - 3);
    }
    let cut = |from: i64, to: i64| text.get(from as usize..to as usize);
    if offset <= 4 {
        return cut(0, width - 3).map(|t| format!("{t}..."));
    }
    if width < 7 {
        return Some(String::new());
    }
    if offset + width - 3 < len {
        let tail = cut(offset, len)?;
        return abbreviate_full(tail, 0, width - 3).map(|t| format!("...{t}"));
    }
    cut(len - (width - 3), len).map(|t| format!("...{t}"))
}

/// Sprig's `chunk SIZE LIST`: the list in lists of `SIZE` (the last shorter).
fn chunk(name: &str, a: &[Val]) -> Result<Value, FuncError> {
    want(name, a, 2)?;
    let size = int(&a[0])?;
    let items = match any(&a[1]) {
        Value::Array(items) => items,
        other => {
            return Err(FuncError::Failed {
                func: name.to_string(),
                failure: CallFailure::NotAList {
                    func: "chunk",
                    type_name: crate::exec::FMT.type_name(&other),
                },
            });
        }
    };
    let size = usize::try_from(size).unwrap_or(0).max(1);
    Ok(Value::Array(
        items
            .chunks(size)
            .map(|c| Value::Array(c.to_vec()))
            .collect(),
    ))
}

/// Sprig's `urlParse`: Go's `url.Parse` as a map (`scheme`, `host`, `hostname`, `path` (decoded),
/// `query`, `opaque`, `fragment`, `userinfo`).
fn url_parse(u: &str) -> Result<Value, FuncError> {
    let failed = |reason: &'static str| FuncError::Unsupported {
        func: "urlParse".to_string(),
        reason,
    };
    let (rest, fragment) = match u.split_once('#') {
        Some((r, f)) => (
            r,
            percent_decode(f).ok_or_else(|| failed("an invalid escape in the fragment"))?,
        ),
        None => (u, String::new()),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, q.to_string()),
        None => (rest, String::new()),
    };
    let mut scheme = String::new();
    let mut rest = rest;
    if let Some(colon) = rest.find(':') {
        let candidate = &rest[..colon];
        let valid = candidate
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && candidate
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if valid {
            scheme = candidate.to_ascii_lowercase();
            rest = &rest[colon + 1..];
        } else if !candidate.contains('/') && colon == 0 {
            return Err(failed("missing protocol scheme"));
        }
    }
    let (mut host, mut userinfo, mut opaque) = (String::new(), String::new(), String::new());
    let path;
    if !scheme.is_empty() && !rest.starts_with('/') {
        opaque = rest.to_string();
        path = String::new();
    } else if let Some(after) = rest.strip_prefix("//") {
        let end = after.find('/').unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rsplit_once('@') {
            Some((user, h)) => {
                userinfo = user.to_string();
                host = h.to_string();
            }
            None => host = authority.to_string(),
        }
        path =
            percent_decode(&after[end..]).ok_or_else(|| failed("an invalid escape in the path"))?;
    } else {
        path = percent_decode(rest).ok_or_else(|| failed("an invalid escape in the path"))?;
    }
    let hostname = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or("").to_string(),
        None => host
            .rsplit_once(':')
            .map_or(host.clone(), |(h, _)| h.to_string()),
    };
    let mut m = Map::new();
    for (k, v) in [
        ("scheme", scheme),
        ("host", host),
        ("hostname", hostname),
        ("path", path),
        ("query", query),
        ("opaque", opaque),
        ("fragment", fragment),
        ("userinfo", userinfo),
    ] {
        m.insert(k.to_string(), Value::String(v));
    }
    Ok(Value::Object(m))
}

/// Percent-decoding; `None` for a malformed escape.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_gos() {
        assert_eq!(clean("a//b/../c/."), "a/c");
        assert_eq!(clean("/../x"), "/x");
        assert_eq!(clean("../../x"), "../../x");
        assert_eq!(clean(""), ".");
        assert_eq!(base("/a/b.tar.gz/"), "b.tar.gz");
        assert_eq!(base("///"), "/");
        assert_eq!(dir("/a/b/c"), "/a/b");
        assert_eq!(dir("c"), ".");
        assert_eq!(ext("a/b.tar.gz"), ".gz");
        assert_eq!(ext("a.d/b"), "");
    }

    #[test]
    fn base32_round_trips() {
        for text in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            let encoded = b32enc(text.as_bytes());
            assert_eq!(
                b32dec(&encoded).as_deref(),
                Ok(text.as_bytes()),
                "{encoded}"
            );
        }
        assert_eq!(b32enc(b"foobar"), "MZXW6YTBOI======");
        assert_eq!(b32dec("MZXW6!=="), Err(5));
    }

    #[test]
    fn durations_print_as_go_prints_them() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(95), "1m35s");
        assert_eq!(duration(7200), "2h0m0s");
        assert_eq!(duration(-61), "-1m1s");
    }

    #[test]
    fn go_durations_parse_and_round() {
        let h = 3_600_000_000_000i64;
        assert_eq!(parse_go_duration("1h30m"), Some(h + h / 2));
        assert_eq!(parse_go_duration("-1.5h"), Some(-(h + h / 2)));
        assert_eq!(parse_go_duration("300ms"), Some(300_000_000));
        assert_eq!(parse_go_duration(".5s"), Some(500_000_000));
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(parse_go_duration("1"), None);
        assert_eq!(parse_go_duration("1d"), None);
        assert_eq!(parse_go_duration(""), None);
        assert_eq!(parse_go_duration("3000000h"), None);
        assert_eq!(duration_round(h), "60m");
        assert_eq!(duration_round(h + 1), "1h");
        assert_eq!(duration_round(-h * 50), "2d");
        assert_eq!(duration_round(h * 24 * 400), "1y");
        assert_eq!(duration_round(999_999_999), "0s");
    }

    #[test]
    fn abbreviations_are_goutils() {
        let text = "abcdefghijklmno";
        assert_eq!(abbreviate_full(text, 5, 10).as_deref(), Some("...fghi..."));
        assert_eq!(abbreviate_full(text, 0, 10).as_deref(), Some("abcdefg..."));
        assert_eq!(abbreviate_full(text, 12, 10).as_deref(), Some("...ijklmno"));
        assert_eq!(abbreviate_full(text, 10, 6).as_deref(), Some(""));
        assert_eq!(abbreviate_full("héllo wörld", 0, 5), None);
    }
}
