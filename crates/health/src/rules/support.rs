//! Reading live objects the way ArgoCD's health checks read them.
//!
//! ArgoCD's bundled checks are Lua scripts over the decoded object: a missing field and a JSON
//! `null` are both `nil`, numbers are doubles, `==` between values of different types is false,
//! `nil == nil` is true, and concatenating a number prints it with `%.14g`. These helpers give
//! the Rust rules the same reading, so that a rule written from a project's status semantics
//! behaves like ArgoCD's check on the odd objects too (stale generations, numbers stored as
//! strings, conditions without a message).

use serde_json::Value;

pub use strata_core::object::at as get;

use crate::status::{HealthStatus, HealthStatusCode};

/// The string at a path, if it is a string.
pub fn text<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(obj, path).and_then(Value::as_str)
}

/// The number at a path, if it is a number.
pub fn num(obj: &Value, path: &[&str]) -> Option<f64> {
    get(obj, path).and_then(Value::as_f64)
}

/// The list at a path, or an empty slice.
pub fn list<'a>(obj: &'a Value, path: &[&str]) -> &'a [Value] {
    get(obj, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// True when the value at a path is the boolean `true`.
pub fn is_true(obj: &Value, path: &[&str]) -> bool {
    matches!(get(obj, path), Some(Value::Bool(true)))
}

/// Lua truthiness: anything but nil (absent, null) and `false`.
pub fn truthy(value: Option<&Value>) -> bool {
    !matches!(value, None | Some(Value::Null) | Some(Value::Bool(false)))
}

/// Lua's `==` on two decoded values: nil equals nil, numbers compare as doubles, strings and
/// booleans by value, tables never (two decoded tables are distinct).
pub fn lua_eq(a: Option<&Value>, b: Option<&Value>) -> bool {
    let a = a.filter(|v| !v.is_null());
    let b = b.filter(|v| !v.is_null());
    match (a, b) {
        (None, None) => true,
        (Some(Value::Number(x)), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        (Some(Value::String(x)), Some(Value::String(y))) => x == y,
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x == y,
        _ => false,
    }
}

/// `obj.metadata.generation == obj.status.observedGeneration`, as Lua compares them.
pub fn generation_observed(obj: &Value) -> bool {
    lua_eq(
        get(obj, &["metadata", "generation"]),
        get(obj, &["status", "observedGeneration"]),
    )
}

/// A value as Lua's `..` renders it: strings as they are, numbers with `%.14g`; `None` for
/// anything else (where the script would raise an error).
pub fn lua_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => n.as_f64().map(format_number),
        _ => None,
    }
}

/// The text at a path as Lua's `..` renders it, or `""` when it is absent or not a scalar.
pub fn text_or_empty(obj: &Value, path: &[&str]) -> String {
    lua_text(get(obj, path)).unwrap_or_default()
}

/// A number as Lua 5.1 prints it (`%.14g`): `3`, `2.5`, `1e+20`.
pub fn format_number(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // %.14g: 14 significant digits, trailing zeros removed, scientific outside 1e-4..1e14.
    let scientific = format!("{value:.13e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..14).contains(&exponent) {
        let mantissa = trim_fraction(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    let decimals = usize::try_from(13 - exponent).unwrap_or(0);
    trim_fraction(&format!("{value:.decimals$}")).to_string()
}

fn trim_fraction(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

/// An annotation value, if it is a string.
pub fn annotation_of<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    get(obj, &["metadata", "annotations"])
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

/// A label value, if it is a string.
pub fn label_of<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    get(obj, &["metadata", "labels"])
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

/// One condition as a Lua check sees it: each field may be absent.
#[derive(Debug, Clone, Copy)]
pub struct Cond<'a> {
    /// `type`.
    pub kind: Option<&'a str>,
    /// `status`.
    pub status: Option<&'a str>,
    /// `reason`.
    pub reason: Option<&'a str>,
    /// `message`.
    pub message: Option<&'a str>,
    /// The whole condition.
    pub value: &'a Value,
}

impl<'a> Cond<'a> {
    /// Reads a condition object.
    pub fn of(value: &'a Value) -> Self {
        let field = |name: &str| value.get(name).and_then(Value::as_str);
        Self {
            kind: field("type"),
            status: field("status"),
            reason: field("reason"),
            message: field("message"),
            value,
        }
    }

    /// True when the condition has this type and status.
    pub fn is(&self, kind: &str, status: &str) -> bool {
        self.kind == Some(kind) && self.status == Some(status)
    }

    /// True when the condition has this type.
    pub fn is_type(&self, kind: &str) -> bool {
        self.kind == Some(kind)
    }

    /// The message, or `""` (a Lua check assigning a nil message leaves it empty).
    pub fn msg(&self) -> &'a str {
        self.message.unwrap_or("")
    }

    /// `condition.message or default`.
    pub fn msg_or(&self, default: &'a str) -> &'a str {
        self.message.unwrap_or(default)
    }

    /// The reason, or `""`.
    pub fn reason(&self) -> &'a str {
        self.reason.unwrap_or("")
    }

    /// A numeric field of the condition (`observedGeneration`).
    pub fn field(&self, name: &str) -> Option<&'a Value> {
        self.value.get(name).filter(|v| !v.is_null())
    }
}

/// The conditions in a list.
pub fn conds(list: &[Value]) -> impl Iterator<Item = Cond<'_>> {
    list.iter().map(Cond::of)
}

/// The conditions at `status.conditions`.
pub fn status_conds(obj: &Value) -> impl Iterator<Item = Cond<'_>> {
    conds(list(obj, &["status", "conditions"]))
}

/// True when `status.conditions` is present (not nil).
pub fn has_conditions(obj: &Value) -> bool {
    get(obj, &["status", "conditions"]).is_some()
}

/// True when `status` is present (not nil).
pub fn has_status(obj: &Value) -> bool {
    get(obj, &["status"]).is_some()
}

/// `code.with(message)`: a health value from a status code.
pub trait HealthStatusCodeExt {
    /// The health with this status and message.
    fn with(self, message: impl Into<String>) -> HealthStatus;
}

impl HealthStatusCodeExt for HealthStatusCode {
    fn with(self, message: impl Into<String>) -> HealthStatus {
        HealthStatus::new(self, message)
    }
}

/// A health value.
pub fn hs(status: HealthStatusCode, message: impl Into<String>) -> HealthStatus {
    HealthStatus::new(status, message)
}

/// Healthy.
pub fn healthy(message: impl Into<String>) -> HealthStatus {
    HealthStatus::healthy(message)
}

/// Progressing.
pub fn progressing(message: impl Into<String>) -> HealthStatus {
    HealthStatus::progressing(message)
}

/// Degraded.
pub fn degraded(message: impl Into<String>) -> HealthStatus {
    HealthStatus::degraded(message)
}

/// Suspended.
pub fn suspended(message: impl Into<String>) -> HealthStatus {
    HealthStatus::suspended(message)
}

/// Unknown.
pub fn unknown(message: impl Into<String>) -> HealthStatus {
    HealthStatus::unknown(message)
}

/// Missing.
pub fn missing(message: impl Into<String>) -> HealthStatus {
    HealthStatus::new(HealthStatusCode::Missing, message)
}

/// The most common check: the first `Ready` condition that is `False` (Degraded) or `True`
/// (Healthy) decides, with its message; otherwise Progressing with `waiting`.
pub fn ready_condition_or(obj: &Value, waiting: &str) -> HealthStatus {
    for c in status_conds(obj) {
        if c.is("Ready", "False") {
            return degraded(c.msg());
        }
        if c.is("Ready", "True") {
            return healthy(c.msg());
        }
    }
    progressing(waiting)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_print_as_lua_51() {
        assert_eq!(format_number(3.0), "3");
        assert_eq!(format_number(-2.5), "-2.5");
        assert_eq!(format_number(0.1), "0.1");
        assert_eq!(format_number(1e20), "1e+20");
        assert_eq!(format_number(123_456_789_012_345.0), "1.2345678901234e+14");
        assert_eq!(format_number(0.000_01), "1e-05");
        assert_eq!(format_number(1.0 / 3.0), "0.33333333333333");
    }

    #[test]
    fn equality_is_luas() {
        let obj = json!({"a": 1, "b": 1.0, "c": "1", "n": null});
        assert!(lua_eq(get(&obj, &["a"]), get(&obj, &["b"])));
        assert!(!lua_eq(get(&obj, &["a"]), get(&obj, &["c"])));
        assert!(lua_eq(get(&obj, &["n"]), get(&obj, &["missing"])));
        assert!(!truthy(get(&obj, &["n"])));
    }
}
