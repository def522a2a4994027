//! The Go value model of decoded JSON: int64 versus float64 numbers, Go type names (with
//! integers typed as Go `int` or `int64`, see [`IntKind`]), normalisation of whole floats and
//! Go's `encoding/json` output ([`go_json`], [`go_json_with`]).

use serde_json::{Map, Number, Value};

/// A JSON number as Go sees it after decoding: `int64` or `float64`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GoNumber {
    /// A Go `int64`.
    Int(i64),
    /// A Go `float64`.
    Float(f64),
}

/// The Go view of a JSON number: integers that fit `int64` are `Int`, everything else `Float`.
pub fn go_number(n: &Number) -> GoNumber {
    match n.as_i64() {
        Some(i) => GoNumber::Int(i),
        None => GoNumber::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

/// How the Go program that decoded the JSON typed its integers.
///
/// Crossplane's patch-and-transform function decodes numbers as `int64` or `float64`; the
/// template engine (ArgoCD ApplicationSets, Helm-style templates) treats JSON integers as Go
/// `int`s. The choice shows only in type names: `%T`, and fmt's mismatch markers such as
/// `%!s(int=5)` versus `%!s(int64=5)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntKind {
    /// Integers are Go `int` (templates).
    Int,
    /// Integers are Go `int64` (Crossplane's decoded values).
    Int64,
}

impl IntKind {
    /// The Go name of the integer type (`int` or `int64`).
    pub const fn name(self) -> &'static str {
        match self {
            IntKind::Int => "int",
            IntKind::Int64 => "int64",
        }
    }

    /// The Go type name of a decoded JSON value (`reflect.TypeOf(v).String()`), with integers
    /// typed as `self`.
    pub fn type_name(self, v: &Value) -> &'static str {
        if let Some(view) = crate::helm::go_view(v) {
            return view.type_name();
        }
        match v {
            Value::Null => "<nil>",
            Value::Bool(_) => "bool",
            Value::Number(n) => match go_number(n) {
                GoNumber::Int(_) => self.name(),
                GoNumber::Float(_) => "float64",
            },
            Value::String(_) => "string",
            Value::Array(_) => "[]interface {}",
            Value::Object(_) => "map[string]interface {}",
        }
    }
}

/// The Go type name of a decoded JSON value as Crossplane sees it (integers are `int64`).
pub fn go_type_name(v: &Value) -> &'static str {
    IntKind::Int64.type_name(v)
}

/// Builds a JSON value from a float, or `None` for NaN and infinities (which JSON cannot hold).
pub fn float_value(f: f64) -> Option<Value> {
    Number::from_f64(f).map(Value::Number)
}

/// Turns every whole float (that fits `int64`) into an integer, recursively, as a JSON
/// round trip through Kubernetes' decoder does.
pub fn normalize(v: &mut Value) {
    match v {
        Value::Number(n) => {
            if let GoNumber::Float(f) = go_number(n)
                && f.fract() == 0.0
                && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f)
            {
                *v = Value::Number(Number::from(f as i64));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        Value::Object(map) => map.values_mut().for_each(normalize),
        _ => {}
    }
}

/// Returns a normalised copy (see [`normalize`]).
pub fn normalized(v: &Value) -> Value {
    let mut out = v.clone();
    normalize(&mut out);
    out
}

/// Turns every number into a float, recursively, as Go's plain `encoding/json` decoding does.
pub fn floatify(v: &mut Value) {
    match v {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().and_then(float_value) {
                *v = f;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(floatify),
        Value::Object(map) => map.values_mut().for_each(floatify),
        _ => {}
    }
}

/// Whether a value is Go's zero value for its type (`""`, `0`, `false`, nil, empty map or slice).
pub fn is_go_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
    }
}

/// Layout of Go's `encoding/json` output: `json.Marshal`, `json.MarshalIndent` and
/// `Encoder.SetEscapeHTML(false)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonOptions<'a> {
    /// Escape `<`, `>` and `&` as `\u003c`, `\u003e` and `\u0026` (Go's default).
    pub escape_html: bool,
    /// Indentation per nesting level, as `json.MarshalIndent(v, "", indent)` writes it; `None`
    /// writes no whitespace at all.
    pub indent: Option<&'a str>,
}

impl Default for JsonOptions<'_> {
    /// `json.Marshal`: HTML escaping, no whitespace.
    fn default() -> Self {
        JsonOptions {
            escape_html: true,
            indent: None,
        }
    }
}

/// Go `encoding/json` encoding (`json.Marshal`): sorted keys, no whitespace, HTML escaping,
/// Go float format.
pub fn go_json(v: &Value) -> String {
    go_json_with(v, JsonOptions::default())
}

/// Go `encoding/json` encoding with the given layout (see [`JsonOptions`]).
pub fn go_json_with(v: &Value, options: JsonOptions<'_>) -> String {
    let mut out = String::new();
    write_go_json(v, options, 0, &mut out);
    out
}

fn write_json_newline(options: JsonOptions<'_>, level: usize, out: &mut String) {
    if let Some(indent) = options.indent {
        out.push('\n');
        for _ in 0..level {
            out.push_str(indent);
        }
    }
}

fn write_go_json(v: &Value, options: JsonOptions<'_>, level: usize, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match go_number(n) {
            GoNumber::Int(i) => out.push_str(&i.to_string()),
            GoNumber::Float(f) => out.push_str(&go_json_float(f)),
        },
        Value::String(s) => write_go_json_string(s, options.escape_html, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_newline(options, level + 1, out);
                write_go_json(item, options, level + 1, out);
            }
            if !items.is_empty() {
                write_json_newline(options, level, out);
            }
            out.push(']');
        }
        Value::Object(_) if crate::helm::go_view(v).is_some() => {
            write_go_view_json(v, options, level, out);
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, val)) in sorted_entries(map).into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_newline(options, level + 1, out);
                write_go_json_string(k, options.escape_html, out);
                out.push(':');
                if options.indent.is_some() {
                    out.push(' ');
                }
                write_go_json(val, options, level + 1, out);
            }
            if !map.is_empty() {
                write_json_newline(options, level, out);
            }
            out.push('}');
        }
    }
}

/// A Helm object as `encoding/json` writes its Go type: a struct's fields in declaration
/// order, a slice as an array, a `[]byte` as base64 text.
fn write_go_view_json(v: &Value, options: JsonOptions<'_>, level: usize, out: &mut String) {
    let Some(view) = crate::helm::go_view(v) else {
        return;
    };
    match &view {
        crate::helm::GoView::Struct { fields, .. } => {
            out.push('{');
            let mut any = false;
            for (i, field) in view.json_fields(fields).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                any = true;
                write_json_newline(options, level + 1, out);
                write_go_json_string(field.json, options.escape_html, out);
                out.push(':');
                if options.indent.is_some() {
                    out.push(' ');
                }
                write_go_json(field.value, options, level + 1, out);
            }
            if any {
                write_json_newline(options, level, out);
            }
            out.push('}');
        }
        other => write_go_json(&other.json_value(), options, level, out),
    }
}

/// `v` with every Helm object replaced by what `encoding/json` makes of it (for the YAML
/// writers, which go through JSON as `sigs.k8s.io/yaml` does).
pub(crate) fn plain(v: &Value) -> std::borrow::Cow<'_, Value> {
    use std::borrow::Cow;
    if let Some(view) = crate::helm::go_view(v) {
        return Cow::Owned(plain(&view.json_value()).into_owned());
    }
    match v {
        Value::Array(items) if items.iter().any(|i| matches!(plain(i), Cow::Owned(_))) => {
            Cow::Owned(Value::Array(
                items.iter().map(|i| plain(i).into_owned()).collect(),
            ))
        }
        Value::Object(map) if map.values().any(|i| matches!(plain(i), Cow::Owned(_))) => {
            Cow::Owned(Value::Object(
                map.iter()
                    .map(|(k, i)| (k.clone(), plain(i).into_owned()))
                    .collect(),
            ))
        }
        other => Cow::Borrowed(other),
    }
}

/// Map entries sorted by key (Go prints and encodes maps in key order).
pub fn sorted_entries(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

fn write_go_json_string(s: &str, escape_html: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' if escape_html => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go `encoding/json` float format: plain decimal unless the magnitude is below 1e-6 or
/// at least 1e21, then the shortest exponent form with the exponent's leading zero removed.
pub fn go_json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = crate::gofmt::format_float(f, 'e', -1);
        // Go cleans e-09 to e-9.
        if let Some(pos) = s.find("e-0") {
            let mut cleaned = s[..pos + 2].to_string();
            cleaned.push_str(&s[pos + 3..]);
            return cleaned;
        }
        return s;
    }
    crate::gofmt::format_float(f, 'f', -1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_encoding_matches_go() {
        assert_eq!(go_json(&json!({"b": 2, "a": 1})), r#"{"a":1,"b":2}"#);
        assert_eq!(go_json(&json!({"q": "a&b"})), r#"{"q":"a\u0026b"}"#);
        assert_eq!(go_json(&json!(1e21)), "1e+21");
        assert_eq!(go_json(&json!(1e-7)), "1e-7");
        assert_eq!(go_json(&json!(2.5)), "2.5");
        assert_eq!(go_json(&json!(5.0)), "5");
    }

    #[test]
    fn json_layout_options() {
        let v = json!({"b": [1, "<x>"], "a": {}, "c": []});
        let raw = JsonOptions {
            escape_html: false,
            indent: None,
        };
        assert_eq!(go_json_with(&v, raw), r#"{"a":{},"b":[1,"<x>"],"c":[]}"#);
        let pretty = JsonOptions {
            escape_html: true,
            indent: Some("  "),
        };
        assert_eq!(
            go_json_with(&v, pretty),
            "{\n  \"a\": {},\n  \"b\": [\n    1,\n    \"\\u003cx\\u003e\"\n  ],\n  \"c\": []\n}"
        );
    }

    #[test]
    fn normalize_turns_whole_floats_into_ints() {
        let mut v = json!({"a": 3.0, "b": [2.5, 4.0]});
        normalize(&mut v);
        assert_eq!(v, json!({"a": 3, "b": [2.5, 4]}));
        assert!(v["a"].is_i64());
    }
}
