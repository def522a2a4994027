//! Transforms (`map`, `match`, `math`, `string`, `convert`): parsed and validated up front,
//! run as a pipeline where each output is the next input.

mod convert;
mod gostring;
pub mod quantity;

use crate::error::{Error, Result};
use crate::gofmt;
use crate::value::{GoNumber, float_value, floatify, go_number, go_type_name};
use regex::Regex;
use serde_json::Value;

pub use convert::{ConvertFormat, ConvertType};
pub use gostring::go_regex;

/// A validated transform.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Transform {
    /// Look the (string) input up in a map.
    Map(Vec<(String, Value)>),
    /// Match the input against patterns.
    Match(MatchTransform),
    /// Arithmetic on numbers.
    Math(MathTransform),
    /// String operations.
    String(StringTransform),
    /// Type conversion.
    Convert(ConvertType, ConvertFormat),
}

/// A `match` transform.
#[derive(Debug, Clone)]
pub struct MatchTransform {
    /// The patterns, tried in order.
    pub patterns: Vec<MatchPattern>,
    /// Value returned when nothing matches (`None` = absent or null).
    pub fallback_value: Option<Value>,
    /// `fallbackTo: Input`.
    pub fallback_to_input: bool,
}

/// One `match` pattern.
#[derive(Debug, Clone)]
pub struct MatchPattern {
    /// The pattern kind.
    pub kind: PatternKind,
    /// The result (null when absent).
    pub result: Value,
}

/// What a `match` pattern compares.
#[derive(Debug, Clone)]
pub enum PatternKind {
    /// Exact string equality.
    Literal(String),
    /// Unanchored regular expression.
    Regexp(Regex),
    /// Type omitted: validates as literal, fails when evaluated.
    Untyped,
}

/// A `math` transform.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum MathTransform {
    /// Multiply by the operand.
    Multiply(i64),
    /// Raise to at least the bound.
    ClampMin(i64),
    /// Lower to at most the bound.
    ClampMax(i64),
}

/// A `string` transform.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StringTransform {
    /// `fmt.Sprintf(fmt, input)`.
    Format(String),
    /// A named conversion (unknown names fail at runtime).
    Convert(String),
    /// Remove a prefix once.
    TrimPrefix(String),
    /// Remove a suffix once.
    TrimSuffix(String),
    /// Return a regexp group.
    Regexp {
        /// The source pattern (for messages).
        pattern: String,
        /// The compiled pattern.
        regex: Regex,
        /// The group to return.
        group: i64,
    },
    /// Join an array.
    Join(String),
    /// Replace all occurrences.
    Replace {
        /// Searched text.
        search: String,
        /// Replacement.
        replace: String,
    },
}

fn v_err(msg: impl Into<String>) -> Error {
    Error::Validation(msg.into())
}

fn str_field<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

fn int_operand(v: Option<&Value>) -> Option<Option<i64>> {
    match v {
        None | Some(Value::Null) => Some(None),
        Some(Value::Number(n)) => match go_number(n) {
            GoNumber::Int(i) => Some(Some(i)),
            GoNumber::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Some(Some(f as i64)),
            GoNumber::Float(_) => None,
        },
        Some(_) => None,
    }
}

impl Transform {
    /// Parses and validates a transform object (errors are `validation`).
    pub fn parse(v: &Value) -> Result<Transform> {
        let ty = str_field(v, "type").unwrap_or("");
        let cfg = |key: &str| -> Result<&Value> {
            match v.get(key) {
                Some(c) if !c.is_null() => Ok(c),
                _ => Err(v_err(format!(
                    "{key}: Required value: given transform type {key} requires configuration"
                ))),
            }
        };
        match ty {
            "map" => {
                let m = cfg("map")?;
                let Some(obj) = m.as_object() else {
                    return Err(v_err("map: Invalid value: map must be an object"));
                };
                if obj.is_empty() {
                    return Err(v_err(
                        "map.pairs: Required value: at least one pair must be specified if a map transform is specified",
                    ));
                }
                Ok(Transform::Map(
                    obj.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                ))
            }
            "match" => parse_match(cfg("match")?),
            "math" => parse_math(cfg("math")?),
            "string" => parse_string(cfg("string")?),
            "convert" => {
                let c = cfg("convert")?;
                let to = str_field(c, "toType").unwrap_or("");
                let to = ConvertType::parse(to).ok_or_else(|| {
                    v_err(format!(
                        "convert.toType: Invalid value: {to:?}: invalid type"
                    ))
                })?;
                let format = match c.get("format") {
                    None | Some(Value::Null) => ConvertFormat::None,
                    Some(f) => {
                        let s = f.as_str().unwrap_or("?");
                        ConvertFormat::parse(s).ok_or_else(|| {
                            v_err(format!(
                                "convert.format: Invalid value: {s:?}: invalid format"
                            ))
                        })?
                    }
                };
                Ok(Transform::Convert(to, format))
            }
            "" => Err(v_err("type: Required value: transform type is required")),
            other => Err(v_err(format!(
                "type: Invalid value: {other:?}: unknown transform type"
            ))),
        }
    }

    /// The transform's type name (`map`, `match`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Transform::Map(_) => "map",
            Transform::Match(_) => "match",
            Transform::Math(_) => "math",
            Transform::String(_) => "string",
            Transform::Convert(..) => "convert",
        }
    }

    /// Runs the transform on one input (errors are `runtime`).
    pub fn apply(&self, input: &Value) -> Result<Value> {
        match self {
            Transform::Map(pairs) => resolve_map(pairs, input),
            Transform::Match(m) => resolve_match(m, input),
            Transform::Math(m) => resolve_math(*m, input),
            Transform::String(s) => gostring::resolve_string(s, input).map(Value::String),
            Transform::Convert(to, format) => convert::resolve_convert(*to, *format, input),
        }
    }
}

fn parse_match(m: &Value) -> Result<Transform> {
    let patterns = m
        .get("patterns")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if patterns.is_empty() {
        return Err(v_err(
            "match.patterns: Required value: at least one pattern must be specified",
        ));
    }
    let mut out = Vec::with_capacity(patterns.len());
    for (i, p) in patterns.iter().enumerate() {
        let ty = str_field(p, "type").unwrap_or("");
        let kind = match ty {
            "" | "literal" => {
                let Some(lit) = str_field(p, "literal") else {
                    return Err(v_err(format!(
                        "match.patterns[{i}].literal: Required value: literal pattern type requires a literal"
                    )));
                };
                if ty.is_empty() {
                    PatternKind::Untyped
                } else {
                    PatternKind::Literal(lit.to_string())
                }
            }
            "regexp" => {
                let Some(re) = str_field(p, "regexp") else {
                    return Err(v_err(format!(
                        "match.patterns[{i}].regexp: Required value: regexp pattern type requires a regexp"
                    )));
                };
                let regex = go_regex(re).map_err(|e| {
                    gostring::regex_error(&format!("match.patterns[{i}].regexp"), re, e)
                })?;
                PatternKind::Regexp(regex)
            }
            other => {
                return Err(v_err(format!(
                    "match.patterns[{i}].type: Invalid value: {other:?}: unknown pattern type"
                )));
            }
        };
        out.push(MatchPattern {
            kind,
            result: p.get("result").cloned().unwrap_or(Value::Null),
        });
    }
    let fallback_value = match m.get("fallbackValue") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.clone()),
    };
    let fallback_to_input = str_field(m, "fallbackTo") == Some("Input");
    Ok(Transform::Match(MatchTransform {
        patterns: out,
        fallback_value,
        fallback_to_input,
    }))
}

fn parse_math(m: &Value) -> Result<Transform> {
    let ty = str_field(m, "type").unwrap_or("");
    let operand = |key: &str, msg: &str| -> Result<i64> {
        match int_operand(m.get(key)) {
            Some(Some(i)) => Ok(i),
            Some(None) => Err(v_err(format!("math.{key}: Required value: {msg}"))),
            None => Err(v_err(format!(
                "math.{key}: Invalid value: must be an integer"
            ))),
        }
    };
    match ty {
        "Multiply" => Ok(Transform::Math(MathTransform::Multiply(operand(
            "multiply",
            "must specify a value if a multiply math transform is specified",
        )?))),
        "ClampMin" => Ok(Transform::Math(MathTransform::ClampMin(operand(
            "clampMin",
            "must specify a value if a clamp min math transform is specified",
        )?))),
        "ClampMax" => Ok(Transform::Math(MathTransform::ClampMax(operand(
            "clampMax",
            "must specify a value if a clamp max math transform is specified",
        )?))),
        "" => Err(v_err(
            "math.type: Required value: math transform type is required",
        )),
        other => Err(v_err(format!(
            "math.type: Invalid value: {other:?}: unknown math transform type"
        ))),
    }
}

fn parse_string(s: &Value) -> Result<Transform> {
    let ty = str_field(s, "type").unwrap_or("");
    let required = |key: &str, msg: &str| -> Result<String> {
        match s.get(key) {
            Some(Value::String(v)) => Ok(v.clone()),
            _ => Err(v_err(format!("string.{key}: Required value: {msg}"))),
        }
    };
    let t = match ty {
        "Format" => StringTransform::Format(required("fmt", "format transform requires a format")?),
        "Convert" => StringTransform::Convert(required(
            "convert",
            "convert transform requires a conversion type",
        )?),
        "TrimPrefix" | "TrimSuffix" => {
            let trim = required("trim", "trim transform requires a trim value")?;
            if ty == "TrimPrefix" {
                StringTransform::TrimPrefix(trim)
            } else {
                StringTransform::TrimSuffix(trim)
            }
        }
        "Regexp" => {
            let r = s.get("regexp").filter(|r| !r.is_null());
            let Some(r) = r else {
                return Err(v_err(
                    "string.regexp: Required value: regexp transform requires a regexp",
                ));
            };
            let pattern = str_field(r, "match").unwrap_or("");
            if pattern.is_empty() {
                return Err(v_err(
                    "string.regexp.match: Required value: regexp transform requires a match",
                ));
            }
            let regex = go_regex(pattern)
                .map_err(|e| gostring::regex_error("string.regexp.match", pattern, e))?;
            let group = match int_operand(r.get("group")) {
                Some(g) => g.unwrap_or(0),
                None => {
                    return Err(v_err(
                        "string.regexp.group: Invalid value: must be an integer",
                    ));
                }
            };
            StringTransform::Regexp {
                pattern: pattern.to_string(),
                regex,
                group,
            }
        }
        "Join" => {
            let Some(j) = s.get("join").filter(|j| !j.is_null()) else {
                return Err(v_err(
                    "string.join: Required value: join transform requires a join",
                ));
            };
            StringTransform::Join(str_field(j, "separator").unwrap_or("").to_string())
        }
        "Replace" => {
            let Some(r) = s.get("replace").filter(|r| !r.is_null()) else {
                return Err(v_err(
                    "string.replace: Required value: replace transform requires a replace",
                ));
            };
            let search = str_field(r, "search").unwrap_or("");
            if search.is_empty() {
                return Err(v_err(
                    "string.replace.search: Required value: replace transform requires a search",
                ));
            }
            StringTransform::Replace {
                search: search.to_string(),
                replace: str_field(r, "replace").unwrap_or("").to_string(),
            }
        }
        "" => {
            return Err(v_err(
                "string.type: Required value: string transform type is required",
            ));
        }
        other => {
            return Err(v_err(format!(
                "string.type: Invalid value: {other:?}: unknown string transform type"
            )));
        }
    };
    Ok(Transform::String(t))
}

fn resolve_map(pairs: &[(String, Value)], input: &Value) -> Result<Value> {
    let Value::String(key) = input else {
        return Err(Error::Runtime(format!(
            "map transform could not resolve: input must be a string, got {}",
            go_type_name(input)
        )));
    };
    match pairs.iter().find(|(k, _)| k == key) {
        None => Err(Error::Runtime(format!(
            "map transform could not resolve: key {key} is not found in map"
        ))),
        Some((_, Value::Null)) => Err(Error::Runtime(format!(
            "map transform could not resolve: value for key {key} is not valid JSON: unexpected end of JSON input"
        ))),
        Some((_, v)) => {
            let mut out = v.clone();
            floatify(&mut out);
            Ok(out)
        }
    }
}

fn resolve_match(m: &MatchTransform, input: &Value) -> Result<Value> {
    for (i, p) in m.patterns.iter().enumerate() {
        let Value::String(s) = input else {
            return Err(Error::Runtime(format!(
                "match transform could not resolve: cannot match pattern at index {i}: input is required to be a string, got {}",
                go_type_name(input)
            )));
        };
        let matched = match &p.kind {
            PatternKind::Literal(l) => l == s,
            PatternKind::Regexp(r) => r.is_match(s),
            PatternKind::Untyped => {
                return Err(Error::Runtime(format!(
                    "match transform could not resolve: cannot match pattern at index {i}: unsupported pattern type ''"
                )));
            }
        };
        if matched {
            let mut out = p.result.clone();
            floatify(&mut out);
            return Ok(out);
        }
    }
    if m.fallback_to_input {
        if m.fallback_value.is_some() {
            return Err(Error::Runtime(
                "match transform could not resolve: cannot set both a fallback value and the fallback to input flag".into(),
            ));
        }
        return Ok(input.clone());
    }
    let mut out = m.fallback_value.clone().unwrap_or(Value::Null);
    floatify(&mut out);
    Ok(out)
}

fn resolve_math(m: MathTransform, input: &Value) -> Result<Value> {
    let Value::Number(n) = input else {
        return Err(Error::Runtime(format!(
            "math transform could not resolve: input is required to be a number for math transformer, got {}",
            go_type_name(input)
        )));
    };
    let num = go_number(n);
    let float = |f: f64| {
        float_value(f).ok_or_else(|| {
            Error::Runtime("math transform could not resolve: result is not a finite number".into())
        })
    };
    match m {
        MathTransform::Multiply(k) => match num {
            GoNumber::Int(i) => Ok(Value::from(i.wrapping_mul(k))),
            GoNumber::Float(f) => float(f * k as f64),
        },
        MathTransform::ClampMin(b) | MathTransform::ClampMax(b) => {
            let truncated = match num {
                GoNumber::Int(i) => i,
                GoNumber::Float(f) => f as i64,
            };
            let clamp = match m {
                MathTransform::ClampMin(_) => truncated < b,
                _ => truncated > b,
            };
            if clamp {
                Ok(Value::from(b))
            } else {
                Ok(input.clone())
            }
        }
    }
}

/// Runs transforms in order; the first failure aborts with "transform at index N".
pub fn run_all(transforms: &[Transform], input: &Value) -> Result<Value> {
    run_all_owned(transforms, input.clone())
}

/// [`run_all`] taking its input by value (no copy when there are no transforms).
pub fn run_all_owned(transforms: &[Transform], input: Value) -> Result<Value> {
    run_all_from(transforms, 0, input)
}

/// Runs transforms whose first one has index `offset` in the patch (for error messages).
pub fn run_all_from(transforms: &[Transform], offset: usize, input: Value) -> Result<Value> {
    let mut current = input;
    for (i, t) in transforms.iter().enumerate() {
        current = t
            .apply(&current)
            .map_err(|e| e.wrap(&format!("transform at index {} returned error", i + offset)))?;
    }
    Ok(current)
}

/// Parses a list of transform objects, naming the failing index.
pub fn parse_all(list: &[Value]) -> Result<Vec<Transform>> {
    list.iter()
        .enumerate()
        .map(|(i, t)| Transform::parse(t).map_err(|e| e.wrap(&format!("transforms[{i}]"))))
        .collect()
}

/// `fmt.Sprintf("%v", v)`, re-exported for transforms that render their input.
pub fn go_v(v: &Value) -> String {
    gofmt::sprint_v(v)
}
