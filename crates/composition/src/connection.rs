//! Connection details extracted from observed composed resources.

use crate::error::{Error, Result};
use crate::fieldpath;
use crate::value::go_json;
use serde_json::Value;
use std::collections::BTreeMap;

/// A validated connection detail.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionDetail {
    /// The key written into the composite's connection details.
    pub name: String,
    /// Where the value comes from.
    pub source: ConnectionSource,
}

/// Where a connection detail's value comes from.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConnectionSource {
    /// A key of the observed resource's connection secret.
    FromConnectionSecretKey(String),
    /// A field of the observed resource.
    FromFieldPath(String),
    /// A literal value.
    FromValue(String),
}

fn v_err(msg: &str) -> Error {
    Error::Validation(format!("invalid: {msg}"))
}

impl ConnectionDetail {
    /// Parses and validates a function-style detail (type required).
    pub fn parse(v: &Value) -> Result<ConnectionDetail> {
        let name = v.get("name").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() {
            return Err(v_err("name: Required value: name is required"));
        }
        let field = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let ty = v.get("type").and_then(Value::as_str).unwrap_or("");
        let source = match ty {
            "FromConnectionSecretKey" => ConnectionSource::FromConnectionSecretKey(
                field("fromConnectionSecretKey")
                    .ok_or_else(|| v_err("fromConnectionSecretKey: Required value"))?,
            ),
            "FromFieldPath" => ConnectionSource::FromFieldPath(
                field("fromFieldPath").ok_or_else(|| v_err("fromFieldPath: Required value"))?,
            ),
            "FromValue" => ConnectionSource::FromValue(
                field("value").ok_or_else(|| v_err("value: Required value"))?,
            ),
            "" => {
                return Err(v_err(
                    "type: Required value: connection detail type is required",
                ));
            }
            other => {
                return Err(v_err(&format!(
                    "type: Invalid value: {other:?}: unknown connection detail type"
                )));
            }
        };
        Ok(ConnectionDetail {
            name: name.to_string(),
            source,
        })
    }

    /// Parses a list of details.
    pub fn parse_all(list: &[Value]) -> Result<Vec<ConnectionDetail>> {
        list.iter().map(ConnectionDetail::parse).collect()
    }
}

/// Extracts connection details from an observed resource and its connection secret.
/// Missing secret keys and unreadable paths are skipped silently.
pub fn extract(
    resource: &Value,
    secret: &BTreeMap<String, String>,
    details: &[ConnectionDetail],
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for d in details {
        match &d.source {
            ConnectionSource::FromValue(v) => {
                out.insert(d.name.clone(), v.clone());
            }
            ConnectionSource::FromConnectionSecretKey(k) => {
                if let Some(v) = secret.get(k) {
                    out.insert(d.name.clone(), v.clone());
                }
            }
            ConnectionSource::FromFieldPath(p) => {
                if let Ok(v) = fieldpath::get(resource, p) {
                    let s = match v {
                        Value::String(s) => s.clone(),
                        other => go_json(other),
                    };
                    out.insert(d.name.clone(), s);
                }
            }
        }
    }
    out
}
