//! A registry of health rules: user rules by group/kind (Rust closures or ArgoCD-compatible Lua
//! scripts), in front of Strata's built-in rules.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::lua::{LuaHealthError, LuaHealthScript, LuaLimits};
use crate::rules;
use crate::status::HealthStatus;
use strata_core::object::Gvk;

/// Prefix of ArgoCD's `argocd-cm` keys holding a health script for one group/kind.
pub const ARGOCD_HEALTH_KEY_PREFIX: &str = "resource.customizations.health.";

/// Why a user rule could not assess an object. The object's health is then Unknown with this text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HealthRuleError {
    /// A Lua script failed, looped past its limits or touched something outside its sandbox.
    #[error(transparent)]
    Lua(#[from] LuaHealthError),
    /// A Rust rule failed.
    #[error("{0}")]
    Rule(String),
    /// A user script (named by where it came from) that does not compile.
    #[error("{script}: {source}")]
    Script {
        /// Where the script came from (an `argocd-cm` key, a file).
        script: String,
        /// Why it cannot run.
        source: LuaHealthError,
    },
}

/// A user health rule. `Ok(None)` means "no opinion": the built-in rules are used instead.
pub trait HealthRule: Send + Sync {
    /// Assesses one live object.
    fn assess(&self, obj: &Value) -> Result<Option<HealthStatus>, HealthRuleError>;
}

impl<F> HealthRule for F
where
    F: Fn(&Value) -> Option<HealthStatus> + Send + Sync,
{
    fn assess(&self, obj: &Value) -> Result<Option<HealthStatus>, HealthRuleError> {
        Ok(self(obj))
    }
}

impl HealthRule for LuaHealthScript {
    fn assess(&self, obj: &Value) -> Result<Option<HealthStatus>, HealthRuleError> {
        Ok(self.evaluate(obj)?)
    }
}

#[derive(Clone)]
struct PatternRule {
    group: String,
    kind: String,
    rule: Arc<dyn HealthRule>,
}

/// Rules by exact group/kind and by glob, in the order globs were added.
#[derive(Clone, Default)]
struct RuleSet {
    exact: HashMap<(String, String), Arc<dyn HealthRule>>,
    patterns: Vec<PatternRule>,
}

impl RuleSet {
    fn add(&mut self, group: &str, kind: &str, rule: Arc<dyn HealthRule>) {
        if group.contains('*') || kind.contains('*') {
            // A later rule for the same pattern replaces the earlier one, in place.
            if let Some(existing) = self
                .patterns
                .iter_mut()
                .find(|p| p.group == group && p.kind == kind)
            {
                existing.rule = rule;
                return;
            }
            self.patterns.push(PatternRule {
                group: group.to_string(),
                kind: kind.to_string(),
                rule,
            });
        } else {
            self.exact
                .insert((group.to_string(), kind.to_string()), rule);
        }
    }

    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.patterns.is_empty()
    }

    fn find(&self, group: &str, kind: &str) -> Option<&Arc<dyn HealthRule>> {
        if self.is_empty() {
            return None;
        }
        self.exact
            .get(&(group.to_string(), kind.to_string()))
            .or_else(|| {
                self.patterns
                    .iter()
                    .find(|p| glob_match(&p.group, group) && glob_match(&p.kind, kind))
                    .map(|p| &p.rule)
            })
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .exact
            .keys()
            .map(|(g, k)| format!("{g}/{k}"))
            .chain(
                self.patterns
                    .iter()
                    .map(|p| format!("{}/{}", p.group, p.kind)),
            )
            .collect();
        names.sort();
        names
    }
}

/// Health rules by group/kind, consulted before the built-in rules.
///
/// Lookup follows ArgoCD: the user's rules (`argocd-cm` customizations, Rust closures) for the
/// exact group/kind first, then theirs whose group/kind are globs (`*` matches any run of
/// characters) in the order they were added; then the script library (a
/// `resource_customizations` directory, which stands where ArgoCD's bundled scripts stand), exact
/// then globs; then Strata's built-in rules. A rule's non-empty answer wins; a failing rule makes
/// the object Unknown with the error text.
#[derive(Clone)]
pub struct HealthRegistry {
    overrides: RuleSet,
    library: RuleSet,
    application_health: bool,
    ready_condition_fallback: bool,
    lua_limits: LuaLimits,
}

impl Default for HealthRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for HealthRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthRegistry")
            .field("overrides", &self.overrides.names())
            .field("library", &self.library.names())
            .field("application_health", &self.application_health)
            .field("ready_condition_fallback", &self.ready_condition_fallback)
            .finish()
    }
}

impl HealthRegistry {
    /// A registry with only the built-in rules (and the `Ready`-condition fallback).
    pub fn new() -> Self {
        Self {
            overrides: RuleSet::default(),
            library: RuleSet::default(),
            application_health: false,
            ready_condition_fallback: true,
            lua_limits: LuaLimits::default(),
        }
    }

    /// The shared registry of built-in rules used by [`health_of`](crate::health_of).
    pub fn builtin() -> &'static HealthRegistry {
        static BUILTIN: OnceLock<HealthRegistry> = OnceLock::new();
        BUILTIN.get_or_init(HealthRegistry::new)
    }

    /// Assesses child Argo Applications by their own `status.health` (the check ArgoCD's docs give
    /// for app-of-apps; ArgoCD has no built-in one).
    pub fn with_application_health(mut self) -> Self {
        self.application_health = true;
        self
    }

    /// Turns off the `Ready`-condition fallback for custom resources without a rule, so that they
    /// have no health, exactly as in ArgoCD.
    pub fn without_ready_condition_fallback(mut self) -> Self {
        self.ready_condition_fallback = false;
        self
    }

    /// Limits applied to Lua scripts added after this call.
    pub fn with_lua_limits(mut self, limits: LuaLimits) -> Self {
        self.lua_limits = limits;
        self
    }

    /// Adds a rule for a group (`""` for the core group) and kind; either may be a `*` glob.
    pub fn add_rule(&mut self, group: &str, kind: &str, rule: impl HealthRule + 'static) {
        self.overrides.add(group, kind, Arc::new(rule));
    }

    /// Adds a rule to the script library tier, consulted after the user's rules and before the
    /// built-in ones (where ArgoCD's bundled scripts stand).
    pub fn add_library_rule(&mut self, group: &str, kind: &str, rule: impl HealthRule + 'static) {
        self.library.add(group, kind, Arc::new(rule));
    }

    /// The limits Lua scripts added from now on run with.
    pub fn lua_limits(&self) -> &LuaLimits {
        &self.lua_limits
    }

    /// The group/kind patterns of the user's rules and of the script library, sorted.
    pub fn customized_kinds(&self) -> (Vec<String>, Vec<String>) {
        (self.overrides.names(), self.library.names())
    }

    /// Builder form of [`add_rule`](Self::add_rule).
    pub fn with_rule(mut self, group: &str, kind: &str, rule: impl HealthRule + 'static) -> Self {
        self.add_rule(group, kind, rule);
        self
    }

    /// Adds an ArgoCD-compatible Lua health script for a group/kind. The script is checked for
    /// syntax now and runs sandboxed, within the registry's [`LuaLimits`], on every assessment.
    pub fn add_lua_rule(
        &mut self,
        group: &str,
        kind: &str,
        script: &str,
    ) -> Result<(), LuaHealthError> {
        let script = LuaHealthScript::with_limits(script, self.lua_limits.clone())?;
        self.add_rule(group, kind, script);
        Ok(())
    }

    /// Adds a Lua script given as an `argocd-cm` entry:
    /// `resource.customizations.health.<group>_<kind>` (the core group is just `<kind>`; `all`
    /// is every kind; `*` globs as ArgoCD allows them).
    pub fn add_argocd_health_entry(
        &mut self,
        key: &str,
        script: &str,
    ) -> Result<(), LuaHealthError> {
        let group_kind = key.strip_prefix(ARGOCD_HEALTH_KEY_PREFIX).unwrap_or(key);
        let (group, kind) =
            crate::customizations::split_group_kind(group_kind).map_err(LuaHealthError::syntax)?;
        self.add_lua_rule(&group, &kind, script)
    }

    /// The health of one live object by the user's rules and the script library alone (no
    /// "Pending deletion" step, no built-in rules), as ArgoCD's tests run a health script; `None`
    /// when no rule answers.
    pub fn assess_with_rules_only(&self, obj: &Value) -> Option<HealthStatus> {
        let gvk = Gvk::of(obj);
        for tier in [&self.overrides, &self.library] {
            if let Some(rule) = tier.find(gvk.group, gvk.kind) {
                match rule.assess(obj) {
                    Ok(Some(health)) => return Some(health),
                    Ok(None) => {}
                    Err(err) => return Some(HealthStatus::unknown(err.to_string())),
                }
            }
        }
        None
    }

    /// The health of one live object, or `None` when nothing assesses its kind.
    pub fn assess(&self, obj: &Value) -> Option<HealthStatus> {
        if let Some(pending) = crate::pending_deletion(obj) {
            return Some(pending);
        }
        let gvk = Gvk::of(obj);
        for tier in [&self.overrides, &self.library] {
            if let Some(rule) = tier.find(gvk.group, gvk.kind) {
                match rule.assess(obj) {
                    Ok(Some(health)) => return Some(health),
                    Ok(None) => {}
                    Err(err) => return Some(HealthStatus::unknown(err.to_string())),
                }
            }
        }
        if let Some(health) = rules::builtin(obj) {
            return Some(health);
        }
        if self.application_health && gvk.group == "argoproj.io" && gvk.kind == "Application" {
            return rules::argo::application(obj);
        }
        if self.ready_condition_fallback {
            return rules::generic::ready_condition(obj);
        }
        None
    }
}

/// Matches `text` against a pattern where `*` stands for any run of characters.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = rest.split('*').collect();
    let last = parts.pop().unwrap_or("");
    for part in parts {
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::HealthStatusCode;
    use serde_json::json;

    #[test]
    fn globs() {
        assert!(glob_match("*.crossplane.io", "s3.aws.crossplane.io"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b", "ab-c"));
        assert!(!glob_match("Pod", "Pods"));
    }

    #[test]
    fn user_rule_wins_over_builtin_and_none_falls_through() {
        let registry = HealthRegistry::new()
            .with_rule("", "Service", |_: &Value| {
                Some(HealthStatus::degraded("custom"))
            })
            .with_rule("apps", "*", |_: &Value| None);
        let svc = json!({"apiVersion": "v1", "kind": "Service"});
        assert_eq!(
            registry.assess(&svc),
            Some(HealthStatus::degraded("custom"))
        );
        let deploy =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"paused": true}});
        assert_eq!(
            registry.assess(&deploy).map(|h| h.status),
            Some(HealthStatusCode::Suspended)
        );
    }

    #[test]
    fn argocd_config_keys_name_group_and_kind() {
        let mut registry = HealthRegistry::new();
        registry
            .add_argocd_health_entry(
                "resource.customizations.health.cert-manager.io_Certificate",
                "return {status = 'Suspended', message = 'from lua'}",
            )
            .expect("valid script");
        registry
            .add_argocd_health_entry(
                "resource.customizations.health.ConfigMap",
                "return {status = 'Healthy'}",
            )
            .expect("valid script");
        let cert = json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate"});
        assert_eq!(
            registry.assess(&cert),
            Some(HealthStatus::suspended("from lua"))
        );
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap"});
        assert_eq!(
            registry.assess(&cm).map(|h| h.status),
            Some(HealthStatusCode::Healthy)
        );
    }

    #[test]
    fn application_health_is_opt_in() {
        let app = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "status": {"health": {"status": "Degraded"}}});
        assert_eq!(HealthRegistry::new().assess(&app), None);
        let registry = HealthRegistry::new().with_application_health();
        assert_eq!(
            registry.assess(&app).map(|h| h.status),
            Some(HealthStatusCode::Degraded)
        );
    }
}
