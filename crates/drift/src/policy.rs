//! Drift policies: per resource (by selector) detect only, self-heal, or ignore; and the
//! decision whether to heal now, later (self-heal backoff), or only report.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::backoff::{Backoff, self_heal_remaining};
use crate::glob::glob_match;

/// What to do about a resource's drift.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum PolicyMode {
    /// Report drift, never correct it (the default).
    #[default]
    DetectOnly,
    /// Report drift and re-apply desired state, with the self-heal backoff.
    SelfHeal,
    /// Do not report drift for this resource.
    Ignore,
}

impl PolicyMode {
    /// The name used in reports and configuration (`detect-only`, `self-heal`, `ignore`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DetectOnly => "detect-only",
            Self::SelfHeal => "self-heal",
            Self::Ignore => "ignore",
        }
    }
}

/// Which resources a policy rule applies to. Empty fields match anything; group, kind, name
/// and namespace are globs; every listed label must be present with that value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Selector {
    /// API group glob.
    pub group: String,
    /// Kind glob.
    pub kind: String,
    /// Namespace glob.
    pub namespace: String,
    /// Name glob.
    pub name: String,
    /// Labels that must match exactly.
    pub labels: BTreeMap<String, String>,
}

impl Selector {
    /// Whether the selector matches a manifest.
    pub fn matches(&self, manifest: &Value) -> bool {
        let res = crate::object::key_of(manifest);
        let glob = |p: &str, t: &str| p.is_empty() || glob_match(p, t);
        glob(&self.group, &res.group)
            && glob(&self.kind, &res.kind)
            && glob(&self.namespace, res.namespace_or_empty())
            && glob(&self.name, &res.name)
            && self.labels.iter().all(|(k, v)| {
                manifest
                    .get("metadata")
                    .and_then(|m| m.get("labels"))
                    .and_then(|l| l.get(k))
                    .and_then(Value::as_str)
                    == Some(v.as_str())
            })
    }
}

/// One rule: resources matching the selector get the mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRule {
    /// Which resources.
    pub selector: Selector,
    /// What to do with their drift.
    pub mode: PolicyMode,
}

/// Drift policy: ordered rules (the first match wins), a default mode and the self-heal backoff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DriftPolicy {
    /// Rules in priority order.
    pub rules: Vec<PolicyRule>,
    /// Mode for resources no rule matches.
    pub default_mode: PolicyMode,
    /// Backoff between self-heal attempts.
    pub self_heal_backoff: Backoff,
}

impl Default for DriftPolicy {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            default_mode: PolicyMode::DetectOnly,
            self_heal_backoff: Backoff::SELF_HEAL_DEFAULT,
        }
    }
}

/// What the reconciler should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Decision {
    /// No drift (or drift ignored by policy): nothing to do.
    Nothing,
    /// Report the drift only.
    Report,
    /// Re-apply desired state now.
    HealNow,
    /// Self-heal is due, but only after this much time (the backoff is still running).
    HealAfter {
        /// Time left before healing.
        wait: Duration,
    },
}

impl DriftPolicy {
    /// A policy with one default mode and no rules.
    pub fn with_default(mode: PolicyMode) -> Self {
        Self {
            default_mode: mode,
            ..Self::default()
        }
    }

    /// Adds a rule (evaluated after the ones already added).
    pub fn rule(mut self, selector: Selector, mode: PolicyMode) -> Self {
        self.rules.push(PolicyRule { selector, mode });
        self
    }

    /// The mode for a manifest: the first matching rule's, else the default.
    pub fn mode_for(&self, manifest: &Value) -> PolicyMode {
        self.rules
            .iter()
            .find(|r| r.selector.matches(manifest))
            .map_or(self.default_mode, |r| r.mode)
    }

    /// Decides what to do about a resource given its drift, how many self-heal attempts were
    /// made, and how long ago the last operation finished (`None` if it has no finish time).
    pub fn decide(
        &self,
        mode: PolicyMode,
        drifted: bool,
        self_heal_attempts: u32,
        since_last_operation: Option<Duration>,
    ) -> Decision {
        if !drifted || mode == PolicyMode::Ignore {
            return Decision::Nothing;
        }
        if mode == PolicyMode::DetectOnly {
            return Decision::Report;
        }
        let timing = self_heal_remaining(
            &self.self_heal_backoff,
            self_heal_attempts,
            since_last_operation,
        );
        if timing.heal_now {
            Decision::HealNow
        } else {
            Decision::HealAfter {
                wait: timing.remaining,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn first_matching_rule_wins() {
        let policy = DriftPolicy::with_default(PolicyMode::DetectOnly)
            .rule(
                Selector {
                    kind: "Secret".into(),
                    ..Selector::default()
                },
                PolicyMode::Ignore,
            )
            .rule(
                Selector {
                    namespace: "prod-*".into(),
                    ..Selector::default()
                },
                PolicyMode::SelfHeal,
            );
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "prod-eu"}});
        let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "prod-eu"}});
        let dev = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "dev"}});
        assert_eq!(policy.mode_for(&secret), PolicyMode::Ignore);
        assert_eq!(policy.mode_for(&deploy), PolicyMode::SelfHeal);
        assert_eq!(policy.mode_for(&dev), PolicyMode::DetectOnly);
    }

    #[test]
    fn self_heal_waits_for_backoff() {
        let policy = DriftPolicy::with_default(PolicyMode::SelfHeal);
        assert_eq!(
            policy.decide(PolicyMode::SelfHeal, true, 0, Some(Duration::ZERO)),
            Decision::HealNow
        );
        assert_eq!(
            policy.decide(PolicyMode::SelfHeal, true, 2, Some(Duration::from_secs(1))),
            Decision::HealAfter {
                wait: Duration::from_secs(5)
            }
        );
        assert_eq!(
            policy.decide(PolicyMode::SelfHeal, true, 2, Some(Duration::from_secs(7))),
            Decision::HealNow
        );
        assert_eq!(
            policy.decide(PolicyMode::DetectOnly, true, 0, None),
            Decision::Report
        );
        assert_eq!(
            policy.decide(PolicyMode::SelfHeal, false, 0, None),
            Decision::Nothing
        );
    }
}
