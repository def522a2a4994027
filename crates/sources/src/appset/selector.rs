//! Kubernetes label selectors (`matchLabels`, `matchExpressions`) over string maps. Values are
//! not restricted to label syntax, so selectors can match any parameter (a cluster URL, say).

use std::collections::BTreeMap;

use serde_json::Value;

use super::error::AppSetError;

/// A parsed label selector.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {
    /// `matchLabels`: every key must be present with exactly this value.
    pub match_labels: BTreeMap<String, String>,
    /// `matchExpressions`.
    pub match_expressions: Vec<Requirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Requirement {
    /// The key tested.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// The values for `In` / `NotIn`.
    pub values: Vec<String>,
}

impl LabelSelector {
    /// Reads a selector object; `null` or absent is the empty selector.
    pub fn from_value(v: Option<&Value>) -> Result<Self, AppSetError> {
        let mut sel = LabelSelector::default();
        let Some(Value::Object(obj)) = v else {
            return Ok(sel);
        };
        if let Some(Value::Object(labels)) = obj.get("matchLabels") {
            for (k, v) in labels {
                let v = v.as_str().ok_or_else(|| {
                    AppSetError::invalid(format!("matchLabels value for {k} is not a string"))
                })?;
                sel.match_labels.insert(k.clone(), v.to_string());
            }
        }
        if let Some(Value::Array(exprs)) = obj.get("matchExpressions") {
            for e in exprs {
                let key = e
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let operator = e
                    .get("operator")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                match operator.as_str() {
                    "In" | "NotIn" if values.is_empty() => {
                        return Err(AppSetError::invalid(format!(
                            "error parsing label selector: values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty (key {key})"
                        )));
                    }
                    "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
                    other => {
                        return Err(AppSetError::invalid(format!(
                            "error parsing label selector: {other:?} is not a valid label selector operator"
                        )));
                    }
                }
                sel.match_expressions.push(Requirement {
                    key,
                    operator,
                    values,
                });
            }
        }
        Ok(sel)
    }

    /// Whether the selector has no requirement at all.
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Whether `labels` satisfies every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| {
                let got = labels.get(&r.key);
                match r.operator.as_str() {
                    "In" => got.is_some_and(|g| r.values.contains(g)),
                    "NotIn" => got.is_none_or(|g| !r.values.contains(g)),
                    "Exists" => got.is_some(),
                    "DoesNotExist" => got.is_none(),
                    _ => false,
                }
            })
    }
}
