//! Refresh-only plans (Terraform's `-refresh-only`): what changed in the world since the last
//! apply, accepted into the state without any provider write.
//!
//! For each recorded resource, the live object (read through the recorded provider) is
//! compared with the last-applied object on the fields Strata set; a field that differs takes
//! the live value, a resource whose live object is gone leaves the state. The next ordinary
//! plan then compares Git with that accepted world.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Observations;
use super::compute::redact_change;
use super::fields::{self, FieldChange};
use crate::compact::CompactValue;
use crate::model::ResourceKey;
use crate::normalize::Normalizer;
use crate::provider::ProviderRegistry;
use crate::sensitive::Sensitivity;
use crate::state::{ResourceStatus, State};

/// What a refresh would accept into the state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Refresh {
    /// One entry per recorded resource the world changed, in address order.
    pub changes: Vec<RefreshChange>,
}

impl Refresh {
    /// Whether the world changed anything the state records.
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// The refresh as text.
    pub fn render_human(&self) -> String {
        use std::fmt::Write as _;
        if self.changes.is_empty() {
            return "No changes. The state matches the live resources.\n".to_owned();
        }
        let mut out = String::from(
            "Strata detected the following changes made outside Strata since the last apply:\n",
        );
        for change in &self.changes {
            match &change.outcome {
                RefreshOutcome::Deleted => {
                    let _ = writeln!(out, "\n  # {} was deleted outside Strata", change.key);
                }
                RefreshOutcome::Changed { fields } => {
                    let _ = writeln!(out, "\n  # {} was changed outside Strata", change.key);
                    for f in fields {
                        let _ = writeln!(
                            out,
                            "      ~ {} = {} -> {}",
                            f.path,
                            shown(&f.after),
                            shown(&f.before)
                        );
                    }
                }
            }
        }
        let _ = writeln!(
            out,
            "\nThis is a refresh-only plan: applying it records these changes in the state and changes no resource ({} to update in the state, {} to forget).",
            self.changes
                .iter()
                .filter(|c| matches!(c.outcome, RefreshOutcome::Changed { .. }))
                .count(),
            self.changes
                .iter()
                .filter(|c| c.outcome == RefreshOutcome::Deleted)
                .count(),
        );
        out
    }

    /// Records the refresh in `state` (the caller saves it).
    pub fn apply_to(&self, state: &mut State) {
        for change in &self.changes {
            match &change.outcome {
                RefreshOutcome::Deleted => {
                    state.remove(&change.key);
                }
                RefreshOutcome::Changed { .. } => {
                    if let (Some(record), Some(accepted)) =
                        (state.get(&change.key).cloned(), &change.accepted)
                    {
                        let mut record = record;
                        record.last_applied = CompactValue::from_value(accepted);
                        state.put(record);
                    }
                }
            }
        }
    }
}

fn shown(value: &Option<Value>) -> String {
    value
        .as_ref()
        .map_or_else(|| "(absent)".to_owned(), ToString::to_string)
}

/// One recorded resource the world changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RefreshChange {
    /// The resource.
    pub key: ResourceKey,
    /// What happened to it.
    pub outcome: RefreshOutcome,
    /// The last-applied object to record (sensitive values as digests); `None` when deleted.
    #[serde(skip)]
    pub accepted: Option<Value>,
}

/// What the world did to a recorded resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RefreshOutcome {
    /// Fields Strata set have other values now (`before`: live; `after`: last applied;
    /// sensitive values redacted).
    Changed {
        /// The fields.
        fields: Vec<FieldChange>,
    },
    /// The live object is gone.
    Deleted,
}

/// Compares every applied record of `state` with its observation.
pub fn compute_refresh(
    state: &State,
    observations: &Observations,
    registry: &ProviderRegistry,
    normalizer: &dyn Normalizer,
) -> Refresh {
    let mut changes = Vec::new();
    let mut sensitive: HashMap<&str, Vec<String>> = HashMap::new();
    for record in state.resources.values() {
        if record.status != ResourceStatus::Applied {
            continue;
        }
        let Some(observation) = observations.get(&record.key) else {
            continue;
        };
        let Some(live) = &observation.live else {
            changes.push(RefreshChange {
                key: record.key.clone(),
                outcome: RefreshOutcome::Deleted,
                accepted: None,
            });
            continue;
        };
        let paths = sensitive
            .entry(record.provider.as_str())
            .or_insert_with(|| {
                registry
                    .by_name(&record.provider)
                    .map(|p| p.sensitive_fields(&record.key))
                    .unwrap_or_default()
            })
            .clone();
        let sensitivity = Sensitivity::with_paths(&paths);
        let last = &record.last_applied.to_value();
        let live_on_last = normalizer.normalize(last, &live.value()).1;
        let live_digested = sensitivity.digested(&record.key, &live_on_last);
        let mut fields = fields::desired_vs_live(last, &live_digested);
        if fields.is_empty() {
            continue;
        }
        for f in &mut fields {
            redact_change(&sensitivity, &record.key, f);
        }
        changes.push(RefreshChange {
            key: record.key.clone(),
            outcome: RefreshOutcome::Changed { fields },
            accepted: Some(project(last, &live_digested)),
        });
    }
    changes.sort_by(|a, b| a.key.cmp(&b.key));
    Refresh { changes }
}

/// `live` seen through the shape of `last`: the fields `last` sets, with the values `live`
/// has (fields `live` lacks are dropped; lists of another length are taken whole).
pub(crate) fn project(last: &Value, live: &Value) -> Value {
    match (last, live) {
        (Value::Object(last), Value::Object(live)) => Value::Object(
            last.iter()
                .filter_map(|(k, v)| live.get(k).map(|l| (k.clone(), project(v, l))))
                .collect(),
        ),
        (Value::Array(last), Value::Array(live)) if last.len() == live.len() => {
            Value::Array(last.iter().zip(live).map(|(a, b)| project(a, b)).collect())
        }
        (_, live) => live.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn projection_keeps_the_shape_of_the_last_applied_object() {
        let last = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v", "gone": "g"}, "list": [1, 2]});
        let live = json!({"metadata": {"name": "a", "labels": {"x": "2", "y": "3"}, "uid": "u"}, "data": {"k": "w"}, "list": [1, 2, 3], "status": {}});
        assert_eq!(
            project(&last, &live),
            json!({"metadata": {"name": "a", "labels": {"x": "2"}}, "data": {"k": "w"}, "list": [1, 2, 3]})
        );
    }
}
