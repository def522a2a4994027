//! The `convert` transform: all `toType`/`format` pairs of function-patch-and-transform.

use super::quantity::parse_quantity;
use crate::error::{Error, Phase, Result};
use crate::value::{GoNumber, float_value, floatify, go_number, go_type_name};
use serde_json::Value;

/// A `convert.toType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConvertType {
    /// `string`.
    String,
    /// `int` / `int64`.
    Int64,
    /// `bool`.
    Bool,
    /// `float64`.
    Float64,
    /// `object`.
    Object,
    /// `array`.
    Array,
}

impl ConvertType {
    /// Parses a `toType` value (`int` means `int64`).
    pub fn parse(s: &str) -> Option<ConvertType> {
        Some(match s {
            "string" => ConvertType::String,
            "int" | "int64" => ConvertType::Int64,
            "bool" => ConvertType::Bool,
            "float64" => ConvertType::Float64,
            "object" => ConvertType::Object,
            "array" => ConvertType::Array,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            ConvertType::String => "string",
            ConvertType::Int64 => "int64",
            ConvertType::Bool => "bool",
            ConvertType::Float64 => "float64",
            ConvertType::Object => "object",
            ConvertType::Array => "array",
        }
    }
}

/// A `convert.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConvertFormat {
    /// No format (default).
    None,
    /// Kubernetes quantity.
    Quantity,
    /// JSON text.
    Json,
}

impl ConvertFormat {
    /// Parses a `format` value.
    pub fn parse(s: &str) -> Option<ConvertFormat> {
        Some(match s {
            "" | "none" => ConvertFormat::None,
            "quantity" => ConvertFormat::Quantity,
            "json" => ConvertFormat::Json,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            ConvertFormat::None => "none",
            ConvertFormat::Quantity => "quantity",
            ConvertFormat::Json => "json",
        }
    }
}

fn rt(msg: String) -> Error {
    Error::Runtime(format!("convert transform could not resolve: {msg}"))
}

/// [`rt`] of an underlying error, kept as the source.
fn caused(source: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::caused(
        Phase::Runtime,
        "convert transform could not resolve: ",
        source,
    )
}

fn float(f: f64) -> Result<Value> {
    float_value(f).ok_or_else(|| rt(format!("json: unsupported value: {f}")))
}

fn parse_go_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok()
}

fn parse_go_float(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() || body.contains('_') {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    if lower.starts_with("0x") {
        return parse_hex_float(s);
    }
    if !matches!(lower.as_str(), "inf" | "infinity" | "nan")
        && lower.chars().any(|c| c.is_ascii_alphabetic() && c != 'e')
    {
        return None;
    }
    s.parse::<f64>().ok()
}

fn parse_hex_float(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let body = &body[2..];
    // Go syntax: a hexadecimal float needs a `p` exponent.
    let i = body.find(['p', 'P'])?;
    let (mant, exp) = (&body[..i], body[i + 1..].parse::<i32>().ok()?);
    if mant.is_empty() || mant == "." {
        return None;
    }
    let (int_part, frac_part) = mant.split_once('.').unwrap_or((mant, ""));
    let mut v = 0f64;
    for c in int_part.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac_part.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    let v = v * 2f64.powi(exp);
    Some(if neg { -v } else { v })
}

/// Runs a `convert` transform.
pub fn resolve_convert(to: ConvertType, format: ConvertFormat, input: &Value) -> Result<Value> {
    let from = match input {
        Value::String(_) => ConvertType::String,
        Value::Bool(_) => ConvertType::Bool,
        Value::Number(n) => match go_number(n) {
            GoNumber::Int(_) => ConvertType::Int64,
            GoNumber::Float(_) => ConvertType::Float64,
        },
        other => return Err(rt(format!("invalid input type {}", go_type_name(other)))),
    };
    if from == to {
        return Ok(input.clone());
    }
    let unsupported = || {
        rt(format!(
            "conversion from {} to {} is not supported with format {}",
            from.name(),
            to.name(),
            format.name()
        ))
    };
    match (input, to, format) {
        (Value::String(s), ConvertType::Int64, ConvertFormat::None) => parse_go_int(s)
            .map(Value::from)
            .ok_or_else(|| rt(format!("strconv.ParseInt: parsing {s:?}: invalid syntax"))),
        (Value::String(s), ConvertType::Bool, ConvertFormat::None) => match s.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(Value::Bool(true)),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(Value::Bool(false)),
            _ => Err(rt(format!(
                "strconv.ParseBool: parsing {s:?}: invalid syntax"
            ))),
        },
        (Value::String(s), ConvertType::Float64, ConvertFormat::None) => {
            let f = parse_go_float(s)
                .ok_or_else(|| rt(format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")))?;
            float(f)
        }
        (Value::String(s), ConvertType::Float64, ConvertFormat::Quantity) => {
            float(parse_quantity(s).map_err(caused)?)
        }
        (Value::String(s), ConvertType::Object | ConvertType::Array, ConvertFormat::Json) => {
            let mut v: Value = serde_json::from_str(s).map_err(caused)?;
            let ok = match to {
                ConvertType::Object => v.is_object(),
                _ => v.is_array(),
            };
            if !ok {
                return Err(rt(format!(
                    "cannot unmarshal {} into {}",
                    go_type_name(&v),
                    to.name()
                )));
            }
            floatify(&mut v);
            Ok(v)
        }
        (Value::Number(n), _, ConvertFormat::None) => match (go_number(n), to) {
            (GoNumber::Int(i), ConvertType::String) => Ok(Value::String(i.to_string())),
            (GoNumber::Int(i), ConvertType::Bool) => Ok(Value::Bool(i == 1)),
            (GoNumber::Int(i), ConvertType::Float64) => float(i as f64),
            (GoNumber::Float(f), ConvertType::String) => {
                Ok(Value::String(crate::gofmt::format_float(f, 'f', -1)))
            }
            (GoNumber::Float(f), ConvertType::Int64) => Ok(Value::from(f as i64)),
            (GoNumber::Float(f), ConvertType::Bool) => Ok(Value::Bool(f == 1.0)),
            _ => Err(unsupported()),
        },
        (Value::Bool(b), ConvertType::String, ConvertFormat::None) => {
            Ok(Value::String(b.to_string()))
        }
        (Value::Bool(b), ConvertType::Int64, ConvertFormat::None) => Ok(Value::from(i64::from(*b))),
        (Value::Bool(b), ConvertType::Float64, ConvertFormat::None) => {
            float(if *b { 1.0 } else { 0.0 })
        }
        _ => Err(unsupported()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conv(to: ConvertType, format: ConvertFormat, v: Value) -> Result<Value> {
        resolve_convert(to, format, &v)
    }

    #[test]
    fn a_json_text_that_does_not_decode_keeps_the_decoder_error_as_source() {
        let err = conv(ConvertType::Object, ConvertFormat::Json, json!("{nope")).unwrap_err();
        assert_eq!(err.phase(), crate::Phase::Runtime);
        let source = std::error::Error::source(&err).expect("a source");
        let json = source
            .downcast_ref::<serde_json::Error>()
            .expect("the decoder's error");
        assert_eq!(
            err.to_string(),
            format!("convert transform could not resolve: {json}")
        );
        let wrapped = err.wrap("transform at index 0 returned error");
        assert!(
            std::error::Error::source(&wrapped)
                .and_then(|s| s.downcast_ref::<serde_json::Error>())
                .is_some(),
            "{wrapped:?}"
        );
        let fatal = wrapped.into_fatal();
        assert_eq!(fatal.phase(), crate::Phase::Fatal);
        assert!(fatal.to_string().starts_with(
            "transform at index 0 returned error: convert transform could not resolve: "
        ));
        assert!(
            std::error::Error::source(&fatal)
                .and_then(|s| s.downcast_ref::<serde_json::Error>())
                .is_some(),
            "{fatal:?}"
        );
    }

    #[test]
    fn string_parsing_follows_go() {
        use ConvertFormat::None as N;
        assert_eq!(
            conv(ConvertType::Int64, N, json!("+42")).ok(),
            Some(json!(42))
        );
        assert!(conv(ConvertType::Int64, N, json!("4.0")).is_err());
        assert!(conv(ConvertType::Int64, N, json!(" 4")).is_err());
        assert_eq!(
            conv(ConvertType::Float64, N, json!("1e3")).ok(),
            Some(json!(1000.0))
        );
        assert_eq!(
            conv(ConvertType::Float64, N, json!("0x1p-2")).ok(),
            Some(json!(0.25))
        );
        assert!(conv(ConvertType::Float64, N, json!("0x10")).is_err());
        assert!(conv(ConvertType::Float64, N, json!("1_000")).is_err());
        assert_eq!(
            conv(ConvertType::String, N, json!(1e21)).ok(),
            Some(json!("1000000000000000000000"))
        );
        assert_eq!(
            conv(ConvertType::String, N, json!(0.1)).ok(),
            Some(json!("0.1"))
        );
        assert!(conv(ConvertType::String, ConvertFormat::Quantity, json!(5)).is_err());
        assert_eq!(
            conv(ConvertType::Int64, N, json!(-2.9)).ok(),
            Some(json!(-2))
        );
    }
}
