//! Readiness checks of composed resources.

use crate::error::{Error, Result};
use crate::fieldpath;
use serde_json::Value;

/// A validated readiness check.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ReadinessCheck {
    /// Always ready.
    None,
    /// Ready when the path exists.
    NonEmpty(String),
    /// Ready when the string at the path equals.
    MatchString(String, String),
    /// Ready when the integer at the path equals.
    MatchInteger(String, i64),
    /// Ready when the bool at the path is true.
    MatchTrue(String),
    /// Ready when the bool at the path is false.
    MatchFalse(String),
    /// Ready when the condition of that type has that status.
    MatchCondition {
        /// Condition type.
        ty: String,
        /// Expected status.
        status: String,
    },
}

fn v_err(i: usize, msg: String) -> Error {
    Error::Validation(format!("readinessChecks[{i}]: {msg}"))
}

impl ReadinessCheck {
    /// Parses and validates one check (`i` is its index, for messages).
    pub fn parse(i: usize, v: &Value) -> Result<ReadinessCheck> {
        let ty = v.get("type").and_then(Value::as_str).unwrap_or("");
        let field_path = v.get("fieldPath").and_then(Value::as_str).unwrap_or("");
        let need_path = || -> Result<String> {
            if field_path.is_empty() {
                Err(v_err(
                    i,
                    "fieldPath: Required value: cannot be empty".into(),
                ))
            } else {
                Ok(field_path.to_string())
            }
        };
        Ok(match ty {
            "None" => ReadinessCheck::None,
            "NonEmpty" => ReadinessCheck::NonEmpty(need_path()?),
            "MatchString" => {
                let p = need_path()?;
                let Some(s) = v.get("matchString").and_then(Value::as_str) else {
                    return Err(v_err(
                        i,
                        "matchString: Required value: cannot be nil for type MatchString".into(),
                    ));
                };
                ReadinessCheck::MatchString(p, s.to_string())
            }
            "MatchInteger" => {
                let p = need_path()?;
                let Some(n) = v.get("matchInteger").and_then(|n| {
                    n.as_i64()
                        .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                }) else {
                    return Err(v_err(
                        i,
                        "matchInteger: Required value: cannot be nil for type MatchInteger".into(),
                    ));
                };
                ReadinessCheck::MatchInteger(p, n)
            }
            "MatchTrue" => ReadinessCheck::MatchTrue(need_path()?),
            "MatchFalse" => ReadinessCheck::MatchFalse(need_path()?),
            "MatchCondition" => match v.get("matchCondition").filter(|m| !m.is_null()) {
                None => ReadinessCheck::MatchCondition {
                    ty: "Ready".into(),
                    status: "True".into(),
                },
                Some(m) => {
                    let ty = m.get("type").and_then(Value::as_str).unwrap_or("");
                    let status = m.get("status").and_then(Value::as_str).unwrap_or("");
                    if ty.is_empty() {
                        return Err(v_err(
                            i,
                            "matchCondition.type: Required value: cannot be empty".into(),
                        ));
                    }
                    if status.is_empty() {
                        return Err(v_err(
                            i,
                            "matchCondition.status: Required value: cannot be empty".into(),
                        ));
                    }
                    ReadinessCheck::MatchCondition {
                        ty: ty.into(),
                        status: status.into(),
                    }
                }
            },
            other => {
                return Err(v_err(
                    i,
                    format!("type: Invalid value: {other:?}: unknown readiness check type"),
                ));
            }
        })
    }

    /// Parses a list of checks.
    pub fn parse_all(list: &[Value]) -> Result<Vec<ReadinessCheck>> {
        list.iter()
            .enumerate()
            .map(|(i, c)| ReadinessCheck::parse(i, c))
            .collect()
    }

    fn run(&self, o: &Value) -> Result<bool> {
        let forgive = |e: fieldpath::PathError| -> Result<bool> {
            if e.is_not_found() {
                Ok(false)
            } else {
                Err(e.into())
            }
        };
        match self {
            ReadinessCheck::None => Ok(true),
            ReadinessCheck::NonEmpty(p) => match fieldpath::get(o, p) {
                Ok(_) => Ok(true),
                Err(e) => forgive(e),
            },
            ReadinessCheck::MatchString(p, want) => match fieldpath::get_string(o, p) {
                Ok(s) => Ok(s == want),
                Err(e) => forgive(e),
            },
            ReadinessCheck::MatchInteger(p, want) => match fieldpath::get_integer(o, p) {
                Ok(n) => Ok(n == *want),
                Err(e) => forgive(e),
            },
            ReadinessCheck::MatchTrue(p) => match fieldpath::get_bool(o, p) {
                Ok(b) => Ok(b),
                Err(e) => forgive(e),
            },
            ReadinessCheck::MatchFalse(p) => match fieldpath::get_bool(o, p) {
                Ok(b) => Ok(!b),
                Err(e) => forgive(e),
            },
            ReadinessCheck::MatchCondition { ty, status } => Ok(condition_status(o, ty) == status),
        }
    }
}

/// The status of the condition of type `ty` (`Unknown` when absent).
pub fn condition_status<'a>(o: &'a Value, ty: &str) -> &'a str {
    o.get("status")
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))
        })
        .map_or("Unknown", |c| {
            c.get("status").and_then(Value::as_str).unwrap_or("")
        })
}

/// Whether an observed resource is ready: no checks means its `Ready` condition is `True`;
/// otherwise every check must pass.
pub fn is_ready(o: &Value, checks: &[ReadinessCheck]) -> Result<bool> {
    if checks.is_empty() {
        return Ok(condition_status(o, "Ready") == "True");
    }
    for (i, c) in checks.iter().enumerate() {
        let ready = c
            .run(o)
            .map_err(|e| e.wrap(&format!("cannot run readiness check at index {i}")))?;
        if !ready {
            return Ok(false);
        }
    }
    Ok(true)
}
