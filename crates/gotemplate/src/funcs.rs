//! Built-in template functions (Go's `text/template` builtins) and the Sprig functions that
//! ApplicationSet templates use, plus ArgoCD's `normalize` and `slugify`.

use serde_json::{Map, Value};

use super::exec::{FMT, Val, truth};
use crate::error::{CallFailure, FuncError, InvalidBase64};
use crate::gofmt::go_quote;
use crate::limits::{LimitExceeded, Limits};
use crate::names::sanitize_name;
use crate::value::{JsonOptions, go_json_with};

/// Every function name a template may call.
pub const FUNCTION_NAMES: &[&str] = &[
    // text/template builtins
    "and",
    "or",
    "not",
    "len",
    "index",
    "slice",
    "print",
    "printf",
    "println",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "html",
    "js",
    "urlquery",
    // sprig: strings
    "default",
    "empty",
    "coalesce",
    "ternary",
    "lower",
    "upper",
    "title",
    "untitle",
    "trim",
    "trimAll",
    "trimall",
    "trimPrefix",
    "trimSuffix",
    "replace",
    "trunc",
    "quote",
    "squote",
    "join",
    "split",
    "splitList",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "repeat",
    "substr",
    "nospace",
    "indent",
    "nindent",
    "cat",
    "toString",
    "abbrev",
    // sprig: data
    "toJson",
    "toPrettyJson",
    "toRawJson",
    "fromJson",
    "list",
    "dict",
    "get",
    "set",
    "hasKey",
    "keys",
    "first",
    "last",
    "has",
    "uniq",
    "compact",
    "pluck",
    "merge",
    // sprig: numbers and conversion
    "add",
    "sub",
    "mul",
    "div",
    "mod",
    "max",
    "min",
    "atoi",
    "int",
    "int64",
    "float64",
    "add1",
    "until",
    "untilStep",
    // sprig: encoding and regex
    "b64enc",
    "b64dec",
    "regexMatch",
    "regexFind",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    // ArgoCD additions
    "normalize",
    "slugify",
    "toYaml",
    "fromYaml",
    "fromYamlArray",
];

/// Functions whose result is no larger than their largest argument (or is small): they may
/// take arguments that together pass the per-value limit.
const OBSERVERS: &[&str] = &[
    // A template's output is bounded by the output limits, not by a copy of its data: Helm's
    // `include` and `tpl` are called with the whole root context, which is not measured again
    // on every call.
    "include",
    "tpl",
    "not",
    "len",
    "index",
    "slice",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "default",
    "empty",
    "coalesce",
    "ternary",
    "first",
    "last",
    "has",
    "hasKey",
    "get",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "trunc",
    "substr",
    "abbrev",
    "regexMatch",
    "regexFind",
    "kindOf",
    "kindIs",
    "typeOf",
    "typeIs",
    "typeIsLike",
    "sha256sum",
    "sha1sum",
    "adler32sum",
    "deepCopy",
    "mustDeepCopy",
    "mustFirst",
    "mustLast",
    "mustHas",
    "rest",
    "initial",
    "uniq",
    "compact",
    "mustUniq",
    "mustCompact",
    "keys",
    "values",
    "dig",
    "pick",
    "omit",
    "without",
    "unset",
    "semverCompare",
    "atoi",
    "int",
    "int64",
    "float64",
    "trim",
    "trimAll",
    "trimall",
    "trimPrefix",
    "trimSuffix",
    "nospace",
    "toString",
    "fromJson",
    "fromYaml",
    "fromYamlArray",
    "mustFromJson",
    "fromJsonArray",
    "b64dec",
    "required",
    "fail",
    "lookup",
    "include",
    "tpl",
    "repeat",
    "replace",
    "join",
    "indent",
    "nindent",
    "until",
    "untilStep",
    "seq",
    "printf",
];

/// Whether the function `name` never builds a result larger than its largest argument, or
/// checks its result's size itself before building it.
pub(crate) fn is_observer(name: &str) -> bool {
    OBSERVERS.contains(&name)
}

/// Whether `name` is a defined function.
pub fn is_function(name: &str) -> bool {
    FUNCTION_NAMES.contains(&name)
}

pub(crate) fn want(name: &str, args: &[Val], n: usize) -> Result<(), FuncError> {
    if args.len() != n {
        return Err(FuncError::ArgCount {
            func: name.to_string(),
            want: n,
            got: args.len(),
        });
    }
    Ok(())
}

pub(crate) fn want_min(name: &str, args: &[Val], n: usize) -> Result<(), FuncError> {
    if args.len() < n {
        return Err(FuncError::TooFewArgs {
            func: name.to_string(),
            min: n,
            got: args.len(),
        });
    }
    Ok(())
}

/// A parameter of Go type `expected` got the argument `v`, which does not fit.
pub(crate) fn wrong_type(expected: &'static str, v: &Value) -> FuncError {
    FuncError::WrongType {
        expected,
        got: match v {
            Value::Null => "interface {}",
            other => FMT.type_name(other),
        },
    }
}

/// A `string` parameter, checked as Go's template engine checks argument types.
pub(crate) fn s(v: &Val) -> Result<String, FuncError> {
    match v {
        Some(Value::String(s)) => Ok(s.clone()),
        None => Err(FuncError::MissingValue { expected: "string" }),
        Some(other) => Err(wrong_type("string", other)),
    }
}

/// An `int` parameter.
pub(crate) fn int(v: &Val) -> Result<i64, FuncError> {
    match v {
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => Ok(i),
            None => match n.as_f64() {
                Some(f) if f.fract() == 0.0 => Ok(f as i64),
                _ => Err(FuncError::WrongType {
                    expected: "int",
                    got: FMT.type_name(&Value::Number(n.clone())),
                }),
            },
        },
        None => Err(FuncError::MissingValue { expected: "int" }),
        Some(other) => Err(FuncError::WrongType {
            expected: "int",
            got: FMT.type_name(other),
        }),
    }
}

/// A `map[string]interface {}` parameter.
pub(crate) fn map_arg(v: &Val) -> Result<Map<String, Value>, FuncError> {
    match any(v) {
        Value::Object(m) => Ok(m),
        other => Err(FuncError::WrongType {
            expected: "map[string]interface {}",
            got: FMT.type_name(&other),
        }),
    }
}

/// An `interface{}` parameter (missing values become nil).
pub(crate) fn any(v: &Val) -> Value {
    v.clone().unwrap_or(Value::Null)
}

/// Sprig's `strval`: strings as-is, everything else via `%v`.
pub(crate) fn strval(v: &Value) -> String {
    if let Some(crate::helm::GoView::Bytes(text)) = crate::helm::go_view(v) {
        return text.to_string();
    }
    match v {
        Value::String(s) => s.clone(),
        other => FMT.sprint_v(other),
    }
}

/// Sprig's `strslice`.
pub(crate) fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().filter(|e| !e.is_null()).map(strval).collect(),
        Value::Null => Vec::new(),
        other => vec![strval(other)],
    }
}

/// Sprig's `toInt64`-style conversion, lenient like Sprig's cast.
pub(crate) fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Number(n) => n
            .as_i64()
            .unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as i64),
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .or_else(|_| s.trim().parse::<f64>().map(|f| f as i64))
            .unwrap_or(0),
        Value::Bool(b) => i64::from(*b),
        _ => 0,
    }
}

pub(crate) fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => s.trim().parse().unwrap_or(0.0),
        Value::Bool(b) => f64::from(u8::from(*b)),
        _ => 0.0,
    }
}

fn basic_kind(v: &Value) -> Result<u8, CallFailure> {
    match v {
        Value::Bool(_) => Ok(0),
        Value::Number(_) => Ok(1),
        Value::String(_) => Ok(2),
        Value::Null => Ok(3),
        _ => Err(CallFailure::InvalidComparison),
    }
}

pub(crate) fn equal(a: &Value, b: &Value) -> Result<bool, CallFailure> {
    let (ka, kb) = (basic_kind(a)?, basic_kind(b)?);
    if ka == 3 || kb == 3 {
        return Ok(ka == kb);
    }
    if ka != kb {
        return Err(CallFailure::IncompatibleTypes);
    }
    Ok(match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        _ => a == b,
    })
}

fn less(a: &Value, b: &Value) -> Result<bool, CallFailure> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => Ok(match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i < j,
            _ => x.as_f64().unwrap_or(0.0) < y.as_f64().unwrap_or(0.0),
        }),
        (Value::String(x), Value::String(y)) => Ok(x < y),
        (Value::Number(_), Value::String(_)) | (Value::String(_), Value::Number(_)) => {
            Err(CallFailure::IncompatibleTypes)
        }
        _ => Err(CallFailure::InvalidComparison),
    }
}

/// Sprig's `empty`.
pub(crate) fn is_empty(v: &Value) -> bool {
    !truth(&Some(v.clone()))
}

/// ArgoCD's `slugify [maxSize [smartTruncate]] name`: lower-case, `[^a-z0-9_-]` runs become `-`,
/// trimmed of `-`/`_`, and truncated to `maxSize` (default 50), at the last `-` when smart
/// truncation is on (default). Non-ASCII letters are replaced, not transliterated.
pub fn slugify(name: &str, max_size: usize, smart: bool) -> String {
    let mut slug = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
            if c == '-' && slug.ends_with('-') {
                continue;
            }
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches(|c| c == '-' || c == '_').to_string();
    if max_size == 0 || slug.len() <= max_size {
        return slug;
    }
    if smart {
        let bytes = slug.as_bytes();
        for i in (0..=max_size).rev() {
            if bytes.get(i) == Some(&b'-') {
                return slug[..i].to_string();
            }
        }
    }
    slug[..max_size].to_string()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub(crate) fn b64enc(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub(crate) fn b64dec(s: &str) -> Result<Vec<u8>, InvalidBase64> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for (offset, c) in s.bytes().enumerate().filter(|(_, c)| *c != b'=') {
        let v = B64
            .iter()
            .position(|b| *b == c)
            .ok_or(InvalidBase64 { offset })? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

pub(crate) fn to_yaml(v: &Value) -> String {
    serde_saphyr::to_string(v)
        .map(|s| s.trim_end_matches('\n').to_string())
        .unwrap_or_default()
}

/// A user pattern, compiled within the limits of [`strata_core::user_regex`].
pub(crate) fn regex(pat: &str) -> Result<regex::Regex, FuncError> {
    strata_core::user_regex::compile(pat).map_err(FuncError::Regex)
}

/// Calls the function `name`, building no value past `limits`. Errors are worded as Go's
/// template engine words them.
pub(crate) fn call(name: &str, args: Vec<Val>, limits: &Limits) -> Result<Val, FuncError> {
    // An `int64` given as a number to a parameter that refuses numbers is named as Go names
    // it, when no other argument is an integer the refusal could be about.
    let int64_given = args
        .iter()
        .flatten()
        .any(|v| crate::helm::as_int64(v).is_some());
    let int_given = args
        .iter()
        .flatten()
        .any(|v| matches!(v, Value::Number(n) if n.is_i64() || n.is_u64()));
    let args = crate::helm::int64_arguments(name, args)?;
    // A `[]byte` reaches only the functions that take any value and treat it as Go does;
    // the others take strings in Go, which refuse it.
    if !BYTES_TAKEN_BY.contains(&name)
        && args
            .iter()
            .flatten()
            .any(|v| matches!(crate::helm::go_view(v), Some(crate::helm::GoView::Bytes(_))))
    {
        return Err(FuncError::WrongType {
            expected: "string",
            got: "[]uint8",
        });
    }
    match call_inner(name, &args, limits) {
        Ok(r) => Ok(Some(r)),
        Err(FuncError::WrongType {
            expected,
            got: "int",
        }) if int64_given && !int_given => Err(FuncError::WrongType {
            expected,
            got: "int64",
        }),
        Err(e) => Err(e),
    }
}

/// The functions given a `[]byte` (`.Files.GetBytes`) that see it as Go does.
const BYTES_TAKEN_BY: &[&str] = &[
    "toString",
    "quote",
    "printf",
    "print",
    "println",
    "len",
    "kindOf",
    "kindIs",
    "typeOf",
    "typeIs",
    "typeIsLike",
    "toJson",
    "mustToJson",
    "toPrettyJson",
    "mustToPrettyJson",
    "toRawJson",
    "mustToRawJson",
    "toYaml",
    "mustToYaml",
    "toYamlPretty",
    "list",
    "dict",
    "set",
    "deepCopy",
    "mustDeepCopy",
];

/// The error of a call of `func` that would build a value past a limit.
pub(crate) fn over(func: &str) -> impl Fn(LimitExceeded) -> FuncError + '_ {
    move |limit| FuncError::Limit {
        func: func.to_string(),
        limit,
    }
}

/// Sprig's `untilStep`: `start`, `start+step`, ... up to `stop` exclusive, counting down when
/// `stop < start` and `step` is negative; empty when the step goes the wrong way or is zero.
pub(crate) fn until_step(
    start: i64,
    stop: i64,
    step: i64,
    limits: &Limits,
) -> Result<Vec<Value>, LimitExceeded> {
    let (start, stop, step) = (i128::from(start), i128::from(stop), i128::from(step));
    let count = if stop < start {
        if step >= 0 {
            0
        } else {
            (start - stop - step - 1) / -step
        }
    } else if step <= 0 {
        0
    } else {
        (stop - start + step - 1) / step
    };
    limits.check_len(count as u128)?;
    // Every element lies between start and stop, so it fits an i64.
    Ok((0..count)
        .map(|k| Value::from((start + k * step) as i64))
        .collect())
}

pub(crate) fn call_inner(name: &str, a: &[Val], limits: &Limits) -> Result<Value, FuncError> {
    let calling = |failure: CallFailure| FuncError::Failed {
        func: name.to_string(),
        failure,
    };
    let over = over(name);
    Ok(match name {
        "not" => {
            want(name, a, 1)?;
            Value::Bool(!truth(&a[0]))
        }
        "len" => {
            want(name, a, 1)?;
            let arg = any(&a[0]);
            if let Some(files) = crate::helm::files_of(&arg) {
                return Ok(Value::from(files.len()));
            }
            if let Some(view) = crate::helm::go_view(&arg) {
                return match view.elements() {
                    Some(elements) => Ok(Value::from(elements.len())),
                    None => Err(calling(CallFailure::LenOfType(view.type_name()))),
                };
            }
            match arg {
                Value::String(s) => Value::from(s.len()),
                Value::Array(v) => Value::from(v.len()),
                Value::Object(m) => Value::from(m.len()),
                Value::Null => return Err(calling(CallFailure::LenOfNil)),
                other => return Err(calling(CallFailure::LenOfType(FMT.type_name(&other)))),
            }
        }
        "index" => {
            want_min(name, a, 1)?;
            let mut cur = any(&a[0]);
            for k in &a[1..] {
                let k = any(k);
                cur = match (&cur, &k) {
                    (Value::Object(m), Value::String(key)) => {
                        m.get(key).cloned().unwrap_or(Value::Null)
                    }
                    (Value::Object(_), other) => {
                        return Err(calling(CallFailure::MapKeyType(FMT.type_name(other))));
                    }
                    (Value::Array(v), Value::Number(_)) => {
                        let i = to_i64(&k);
                        if i < 0 || i as usize >= v.len() {
                            return Err(calling(CallFailure::IndexOutOfRange(i)));
                        }
                        v[i as usize].clone()
                    }
                    (Value::String(s), Value::Number(_)) => {
                        let i = to_i64(&k);
                        if i < 0 || i as usize >= s.len() {
                            return Err(calling(CallFailure::IndexOutOfRange(i)));
                        }
                        Value::from(s.as_bytes()[i as usize])
                    }
                    (Value::Null, _) => return Err(calling(CallFailure::IndexOfNil)),
                    (other, _) => {
                        return Err(calling(CallFailure::NotIndexable(FMT.type_name(other))));
                    }
                };
            }
            cur
        }
        "slice" => {
            want_min(name, a, 1)?;
            let idx: Vec<i64> = a[1..].iter().map(int).collect::<Result<_, _>>()?;
            match any(&a[0]) {
                Value::String(s) => {
                    let (i, j) = (
                        idx.first().copied().unwrap_or(0),
                        idx.get(1).copied().unwrap_or(s.len() as i64),
                    );
                    if i < 0 || j < i || j as usize > s.len() {
                        return Err(calling(CallFailure::IndexOutOfRange(j)));
                    }
                    Value::String(
                        s.get(i as usize..j as usize)
                            .unwrap_or_default()
                            .to_string(),
                    )
                }
                Value::Array(v) => {
                    let (i, j) = (
                        idx.first().copied().unwrap_or(0),
                        idx.get(1).copied().unwrap_or(v.len() as i64),
                    );
                    if i < 0 || j < i || j as usize > v.len() {
                        return Err(calling(CallFailure::IndexOutOfRange(j)));
                    }
                    Value::Array(v[i as usize..j as usize].to_vec())
                }
                other => {
                    return Err(calling(CallFailure::NotSliceable(FMT.type_name(&other))));
                }
            }
        }
        "print" => Value::String(FMT.sprint(&a.iter().map(any).collect::<Vec<_>>())),
        "println" => Value::String(FMT.sprintln(&a.iter().map(any).collect::<Vec<_>>())),
        "printf" => {
            want_min(name, a, 1)?;
            let f = s(&a[0])?;
            let args = a[1..].iter().map(any).collect::<Vec<_>>();
            match FMT.sprintf_capped(&f, &args, limits.max_value_bytes) {
                Some(text) => Value::String(text),
                None => {
                    return Err(over(LimitExceeded::ValueBytes {
                        size: limits.max_value_bytes as u64 + 1,
                        limit: limits.max_value_bytes,
                    }));
                }
            }
        }
        "eq" => {
            want_min(name, a, 2)?;
            let first = any(&a[0]);
            let mut res = false;
            for b in &a[1..] {
                if equal(&first, &any(b)).map_err(calling)? {
                    res = true;
                    break;
                }
            }
            Value::Bool(res)
        }
        "ne" => {
            want(name, a, 2)?;
            Value::Bool(!equal(&any(&a[0]), &any(&a[1])).map_err(calling)?)
        }
        "lt" | "le" | "gt" | "ge" => {
            want(name, a, 2)?;
            let (x, y) = (any(&a[0]), any(&a[1]));
            let lt = less(&x, &y).map_err(calling)?;
            let eq = equal(&x, &y).map_err(calling)?;
            Value::Bool(match name {
                "lt" => lt,
                "le" => lt || eq,
                "gt" => !lt && !eq,
                _ => !lt,
            })
        }
        "html" => Value::String(
            FMT.sprint(&a.iter().map(any).collect::<Vec<_>>())
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&#34;")
                .replace('\'', "&#39;"),
        ),
        "js" => Value::String(
            FMT.sprint(&a.iter().map(any).collect::<Vec<_>>())
                .replace('\\', "\\\\")
                .replace('\'', "\\'")
                .replace('"', "\\\"")
                .replace('<', "\\u003C")
                .replace('>', "\\u003E"),
        ),
        "urlquery" => {
            let raw = FMT.sprint(&a.iter().map(any).collect::<Vec<_>>());
            let mut out = String::new();
            for b in raw.bytes() {
                match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        out.push(b as char)
                    }
                    b' ' => out.push('+'),
                    other => out.push_str(&format!("%{other:02X}")),
                }
            }
            Value::String(out)
        }
        // ---- sprig ----
        "default" => {
            want_min(name, a, 1)?;
            if a.len() > 2 {
                return Err(FuncError::TooManyArgs {
                    func: name.to_string(),
                    max: 2,
                    got: a.len(),
                });
            }
            match a.get(1) {
                Some(g) if !is_empty(&any(g)) => any(g),
                _ => any(&a[0]),
            }
        }
        "empty" => {
            want(name, a, 1)?;
            Value::Bool(is_empty(&any(&a[0])))
        }
        "coalesce" => a
            .iter()
            .map(any)
            .find(|v| !is_empty(v))
            .unwrap_or(Value::Null),
        "ternary" => {
            want(name, a, 3)?;
            if truth(&a[2]) { any(&a[0]) } else { any(&a[1]) }
        }
        "lower" => {
            want(name, a, 1)?;
            Value::String(s(&a[0])?.to_lowercase())
        }
        "upper" => {
            want(name, a, 1)?;
            Value::String(s(&a[0])?.to_uppercase())
        }
        "title" => {
            want(name, a, 1)?;
            let mut out = String::new();
            let mut prev_letter = false;
            for c in s(&a[0])?.chars() {
                if !prev_letter && c.is_alphabetic() {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
            }
            Value::String(out)
        }
        "untitle" => {
            want(name, a, 1)?;
            let mut out = String::new();
            let mut prev_space = true;
            for c in s(&a[0])?.chars() {
                if prev_space {
                    out.extend(c.to_lowercase())
                } else {
                    out.push(c)
                }
                prev_space = c.is_whitespace();
            }
            Value::String(out)
        }
        "trim" => {
            want(name, a, 1)?;
            Value::String(s(&a[0])?.trim().to_string())
        }
        "trimAll" | "trimall" => {
            want(name, a, 2)?;
            let cut: Vec<char> = s(&a[0])?.chars().collect();
            Value::String(s(&a[1])?.trim_matches(|c| cut.contains(&c)).to_string())
        }
        "trimPrefix" => {
            want(name, a, 2)?;
            let (p, v) = (s(&a[0])?, s(&a[1])?);
            Value::String(v.strip_prefix(p.as_str()).unwrap_or(&v).to_string())
        }
        "trimSuffix" => {
            want(name, a, 2)?;
            let (p, v) = (s(&a[0])?, s(&a[1])?);
            Value::String(v.strip_suffix(p.as_str()).unwrap_or(&v).to_string())
        }
        "replace" => {
            want(name, a, 3)?;
            let (old, new, src) = (s(&a[0])?, s(&a[1])?, s(&a[2])?);
            let inserts = if old.is_empty() {
                src.chars().count() + 1
            } else {
                src.matches(old.as_str()).count()
            };
            limits
                .check_bytes(src.len() as u128 + inserts as u128 * new.len() as u128)
                .map_err(&over)?;
            Value::String(if old.is_empty() {
                // Go's strings.Replace with an empty old inserts `new` around every rune.
                let mut out = new.clone();
                for c in src.chars() {
                    out.push(c);
                    out.push_str(&new);
                }
                out
            } else {
                src.replace(&old, &new)
            })
        }
        "trunc" => {
            want(name, a, 2)?;
            let (c, v) = (int(&a[0])?, s(&a[1])?);
            let chars: Vec<char> = v.chars().collect();
            let n = chars.len() as i64;
            Value::String(if c >= 0 && n > c {
                chars[..c as usize].iter().collect()
            } else if c < 0 && n + c > 0 {
                chars[(n + c) as usize..].iter().collect()
            } else {
                v
            })
        }
        "abbrev" => {
            want(name, a, 2)?;
            let (w, v) = (int(&a[0])?, s(&a[1])?);
            if w < 4 {
                Value::String(v)
            } else {
                // goutils cuts bytes, as Go slices strings.
                Value::String(crate::sprig_more::abbreviate_full(&v, 0, w).ok_or_else(|| {
                    FuncError::Unsupported {
                        func: name.to_string(),
                        reason: "the cut falls inside a multi-byte character, where Go's result is not valid UTF-8",
                    }
                })?)
            }
        }
        "quote" => Value::String(
            a.iter()
                .map(any)
                .filter(|v| !v.is_null())
                .map(|v| go_quote(&strval(&v), '"', false))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "squote" => Value::String(
            a.iter()
                .map(any)
                .filter(|v| !v.is_null())
                .map(|v| format!("'{}'", strval(&v)))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "cat" => Value::String(
            a.iter()
                .map(any)
                .filter(|v| !v.is_null())
                .map(|v| strval(&v))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "join" => {
            want(name, a, 2)?;
            let (sep, parts) = (s(&a[0])?, strslice(&any(&a[1])));
            let joined = parts.iter().map(|p| p.len() as u128).sum::<u128>()
                + parts.len().saturating_sub(1) as u128 * sep.len() as u128;
            limits.check_bytes(joined).map_err(&over)?;
            Value::String(parts.join(&sep))
        }
        "split" => {
            want(name, a, 2)?;
            let (sep, v) = (s(&a[0])?, s(&a[1])?);
            let mut m = Map::new();
            for (i, part) in go_split(&v, &sep).into_iter().enumerate() {
                m.insert(format!("_{i}"), Value::String(part));
            }
            Value::Object(m)
        }
        "splitList" => {
            want(name, a, 2)?;
            let (sep, v) = (s(&a[0])?, s(&a[1])?);
            Value::Array(go_split(&v, &sep).into_iter().map(Value::String).collect())
        }
        "contains" => {
            want(name, a, 2)?;
            Value::Bool(s(&a[1])?.contains(&s(&a[0])?))
        }
        "hasPrefix" => {
            want(name, a, 2)?;
            Value::Bool(s(&a[1])?.starts_with(&s(&a[0])?))
        }
        "hasSuffix" => {
            want(name, a, 2)?;
            Value::Bool(s(&a[1])?.ends_with(&s(&a[0])?))
        }
        "repeat" => {
            want(name, a, 2)?;
            let (count, text) = (int(&a[0])?.max(0), s(&a[1])?);
            limits
                .check_bytes(count as u128 * text.len() as u128)
                .map_err(&over)?;
            Value::String(text.repeat(count as usize))
        }
        "substr" => {
            want(name, a, 3)?;
            let (st, en, v) = (int(&a[0])?, int(&a[1])?, s(&a[2])?);
            let chars: Vec<char> = v.chars().collect();
            let n = chars.len() as i64;
            let st = st.clamp(0, n);
            let en = if en < 0 || en > n { n } else { en };
            Value::String(if st >= en {
                String::new()
            } else {
                chars[st as usize..en as usize].iter().collect()
            })
        }
        "nospace" => {
            want(name, a, 1)?;
            Value::String(s(&a[0])?.chars().filter(|c| !c.is_whitespace()).collect())
        }
        "indent" | "nindent" => {
            want(name, a, 2)?;
            let (width, text) = (int(&a[0])?.max(0), s(&a[1])?);
            let lines = text.matches('\n').count() as u128 + 1;
            limits
                .check_bytes(text.len() as u128 + lines * width as u128 + 1)
                .map_err(&over)?;
            let pad = " ".repeat(width as usize);
            let body = format!("{pad}{}", text.replace('\n', &format!("\n{pad}")));
            Value::String(if name == "nindent" {
                format!("\n{body}")
            } else {
                body
            })
        }
        "toString" => {
            want(name, a, 1)?;
            Value::String(strval(&any(&a[0])))
        }
        "toJson" | "toRawJson" => {
            want(name, a, 1)?;
            Value::String(go_json_with(
                &any(&a[0]),
                JsonOptions {
                    escape_html: name == "toJson",
                    indent: None,
                },
            ))
        }
        "toPrettyJson" => {
            want(name, a, 1)?;
            Value::String(go_json_with(
                &any(&a[0]),
                JsonOptions {
                    escape_html: true,
                    indent: Some("  "),
                },
            ))
        }
        "fromJson" => {
            want(name, a, 1)?;
            serde_json::from_str(&s(&a[0])?).unwrap_or(Value::Null)
        }
        "toYaml" => {
            want(name, a, 1)?;
            Value::String(to_yaml(&any(&a[0])))
        }
        "fromYaml" => {
            want(name, a, 1)?;
            match strata_core::yaml::from_str::<Value>(&s(&a[0])?) {
                Ok(Value::Object(m)) => Value::Object(m),
                Ok(Value::Null) => Value::Object(Map::new()),
                Ok(_) => serde_json::json!({"Error": "cannot unmarshal into a map"}),
                Err(e) => serde_json::json!({"Error": e.to_string()}),
            }
        }
        "fromYamlArray" => {
            want(name, a, 1)?;
            match strata_core::yaml::from_str::<Value>(&s(&a[0])?) {
                Ok(Value::Array(v)) => Value::Array(v),
                Ok(Value::Null) => Value::Array(Vec::new()),
                Ok(_) => Value::Array(vec![Value::String(
                    "cannot unmarshal into an array".to_string(),
                )]),
                Err(e) => Value::Array(vec![Value::String(e.to_string())]),
            }
        }
        "list" => Value::Array(a.iter().map(any).collect()),
        "dict" => {
            let mut m = Map::new();
            let vals: Vec<Value> = a.iter().map(any).collect();
            for pair in vals.chunks(2) {
                let v = pair.get(1).cloned().unwrap_or(Value::String(String::new()));
                m.insert(strval(&pair[0]), v);
            }
            Value::Object(m)
        }
        "get" => {
            want(name, a, 2)?;
            map_arg(&a[0])?
                .get(&s(&a[1])?)
                .cloned()
                .unwrap_or(Value::String(String::new()))
        }
        "set" => {
            want(name, a, 3)?;
            let mut m = map_arg(&a[0])?;
            m.insert(s(&a[1])?, any(&a[2]));
            Value::Object(m)
        }
        "hasKey" => {
            want(name, a, 2)?;
            Value::Bool(map_arg(&a[0])?.contains_key(&s(&a[1])?))
        }
        "keys" => {
            let mut ks = Vec::new();
            for m in a.iter().map(any) {
                if let Value::Object(m) = m {
                    ks.extend(m.keys().cloned());
                }
            }
            Value::Array(ks.into_iter().map(Value::String).collect())
        }
        "merge" => {
            want_min(name, a, 1)?;
            let mut dst = match any(&a[0]) {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            for src in a[1..].iter().map(any) {
                if let Value::Object(src) = src {
                    let mut d = Value::Object(dst);
                    deep_fill(&mut d, &Value::Object(src));
                    dst = match d {
                        Value::Object(m) => m,
                        _ => Map::new(),
                    };
                }
            }
            Value::Object(dst)
        }
        "pluck" => {
            want_min(name, a, 1)?;
            let key = s(&a[0])?;
            Value::Array(
                a[1..]
                    .iter()
                    .map(any)
                    .filter_map(|m| m.as_object().and_then(|m| m.get(&key).cloned()))
                    .collect(),
            )
        }
        "first" | "last" => {
            want(name, a, 1)?;
            match any(&a[0]) {
                Value::Array(v) => if name == "first" {
                    v.first().cloned()
                } else {
                    v.last().cloned()
                }
                .unwrap_or(Value::Null),
                Value::Null => Value::Null,
                other => {
                    return Err(calling(CallFailure::NoListEnd {
                        func: if name == "first" { "first" } else { "last" },
                        type_name: FMT.type_name(&other),
                    }));
                }
            }
        }
        "has" => {
            want(name, a, 2)?;
            let needle = any(&a[0]);
            match any(&a[1]) {
                Value::Array(v) => Value::Bool(v.contains(&needle)),
                _ => Value::Bool(false),
            }
        }
        "uniq" | "compact" => {
            want(name, a, 1)?;
            match any(&a[0]) {
                Value::Array(v) => {
                    let mut out: Vec<Value> = Vec::new();
                    for e in v {
                        let keep = if name == "uniq" {
                            !out.contains(&e)
                        } else {
                            !is_empty(&e)
                        };
                        if keep {
                            out.push(e);
                        }
                    }
                    Value::Array(out)
                }
                other => {
                    return Err(calling(CallFailure::NotAList {
                        func: if name == "uniq" { "uniq" } else { "compact" },
                        type_name: FMT.type_name(&other),
                    }));
                }
            }
        }
        "add" | "mul" | "max" | "min" => {
            let nums: Vec<i64> = a.iter().map(|v| to_i64(&any(v))).collect();
            let r = match name {
                "add" => nums.iter().sum(),
                "mul" => nums.iter().product(),
                "max" => nums.iter().copied().max().unwrap_or(0),
                _ => nums.iter().copied().min().unwrap_or(0),
            };
            crate::helm::int64_object(r)
        }
        "until" => {
            want(name, a, 1)?;
            let count = int(&a[0])?;
            let step = if count < 0 { -1 } else { 1 };
            Value::Array(until_step(0, count, step, limits).map_err(&over)?)
        }
        "untilStep" => {
            want(name, a, 3)?;
            let (start, stop, step) = (int(&a[0])?, int(&a[1])?, int(&a[2])?);
            Value::Array(until_step(start, stop, step, limits).map_err(&over)?)
        }
        "add1" => {
            want(name, a, 1)?;
            crate::helm::int64_object(to_i64(&any(&a[0])) + 1)
        }
        "sub" | "div" | "mod" => {
            want(name, a, 2)?;
            let (x, y) = (to_i64(&any(&a[0])), to_i64(&any(&a[1])));
            crate::helm::int64_object(match name {
                "sub" => x - y,
                _ if y == 0 => {
                    return Err(calling(CallFailure::DivideByZero));
                }
                "div" => x / y,
                _ => x % y,
            })
        }
        "atoi" => {
            want(name, a, 1)?;
            Value::from(s(&a[0])?.trim().parse::<i64>().unwrap_or(0))
        }
        "int" => {
            want(name, a, 1)?;
            Value::from(to_i64(&any(&a[0])))
        }
        "int64" => {
            want(name, a, 1)?;
            crate::helm::int64_object(to_i64(&any(&a[0])))
        }
        "float64" => {
            want(name, a, 1)?;
            serde_json::Number::from_f64(to_f64(&any(&a[0])))
                .map(Value::Number)
                .unwrap_or(Value::Null)
        }
        "b64enc" => {
            want(name, a, 1)?;
            Value::String(b64enc(strval(&any(&a[0])).as_bytes()))
        }
        "b64dec" => {
            want(name, a, 1)?;
            match b64dec(&s(&a[0])?) {
                Ok(b) => Value::String(String::from_utf8_lossy(&b).into_owned()),
                Err(e) => Value::String(e.to_string()),
            }
        }
        "regexMatch" => {
            want(name, a, 2)?;
            Value::Bool(regex(&s(&a[0])?)?.is_match(&s(&a[1])?))
        }
        "regexFind" => {
            want(name, a, 2)?;
            let v = s(&a[1])?;
            Value::String(
                regex(&s(&a[0])?)?
                    .find(&v)
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_default(),
            )
        }
        "regexReplaceAll" => {
            want(name, a, 3)?;
            Value::String(
                regex(&s(&a[0])?)?
                    .replace_all(&s(&a[1])?, s(&a[2])?.as_str())
                    .into_owned(),
            )
        }
        "regexReplaceAllLiteral" => {
            want(name, a, 3)?;
            Value::String(
                regex(&s(&a[0])?)?
                    .replace_all(&s(&a[1])?, regex::NoExpand(&s(&a[2])?))
                    .into_owned(),
            )
        }
        "normalize" => {
            want(name, a, 1)?;
            Value::String(sanitize_name(&s(&a[0])?))
        }
        "slugify" => {
            want_min(name, a, 1)?;
            let text = s(&a[a.len() - 1])?;
            let max = if a.len() >= 2 {
                int(&a[0])?.max(0) as usize
            } else {
                50
            };
            let smart = if a.len() >= 3 { truth(&a[1]) } else { true };
            Value::String(slugify(&text, max, smart))
        }
        other => return crate::helm::call(other, a, limits),
    })
}

/// Go's `strings.Split`.
fn go_split(s: &str, sep: &str) -> Vec<String> {
    if sep.is_empty() {
        return s.chars().map(String::from).collect();
    }
    s.split(sep).map(String::from).collect()
}

/// Fills keys missing from `dst` with those of `src`, recursively (Sprig `merge`, mergo semantics).
pub(crate) fn deep_fill(dst: &mut Value, src: &Value) {
    if let (Value::Object(d), Value::Object(s)) = (dst, src) {
        for (k, sv) in s {
            match d.get_mut(k) {
                Some(dv) if dv.is_object() && sv.is_object() => deep_fill(dv, sv),
                Some(dv) if !is_empty(dv) => {}
                _ => {
                    d.insert(k.clone(), sv.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugify_truncates_at_dash() {
        assert_eq!(slugify("Hello World_Foo!", 50, true), "hello-world_foo");
        assert_eq!(slugify("aaaa-bbbb-cccc", 10, true), "aaaa-bbbb");
        assert_eq!(slugify("aaaabbbbcccc", 5, true), "aaaab");
    }

    #[test]
    fn base64_round_trip() {
        assert_eq!(b64enc(b"hello"), "aGVsbG8=");
        assert_eq!(b64dec("aGVsbG8=").expect("valid"), b"hello");
    }
}
