//! An AppProject-like allow-list of kinds and namespaces a stack may change.

use serde::{Deserialize, Serialize};

use crate::model::ResourceKey;

/// Which kinds and namespaces a stack may touch. Empty lists allow everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Policy {
    /// Allowed `group/Kind` patterns (`*` matches any group or kind, e.g. `apps/*`, `*/Secret`;
    /// the core group is written as an empty group: `/ConfigMap`).
    #[serde(default)]
    pub allowed_kinds: Vec<String>,
    /// Allowed namespaces (`*` for all); cluster-scoped resources are always checked against
    /// `allowed_kinds` only.
    #[serde(default)]
    pub allowed_namespaces: Vec<String>,
}

impl Policy {
    /// Sets [`allowed_kinds`](Self::allowed_kinds).
    pub fn with_allowed_kinds(mut self, allowed_kinds: Vec<String>) -> Self {
        self.allowed_kinds = allowed_kinds;
        self
    }

    /// Sets [`allowed_namespaces`](Self::allowed_namespaces).
    pub fn with_allowed_namespaces(mut self, allowed_namespaces: Vec<String>) -> Self {
        self.allowed_namespaces = allowed_namespaces;
        self
    }

    /// Why `key` is not allowed, or `None` when it is.
    pub fn check(&self, key: &ResourceKey) -> Option<String> {
        if !self.allowed_kinds.is_empty()
            && !self
                .allowed_kinds
                .iter()
                .any(|p| kind_matches(p, &key.group, &key.kind))
        {
            return Some(format!(
                "kind {}/{} is not in the allowed kinds ({})",
                key.group,
                key.kind,
                self.allowed_kinds.join(", ")
            ));
        }
        if let Some(ns) = &key.namespace
            && !self.allowed_namespaces.is_empty()
            && !self.allowed_namespaces.iter().any(|a| a == "*" || a == ns)
        {
            return Some(format!(
                "namespace {ns} is not in the allowed namespaces ({})",
                self.allowed_namespaces.join(", ")
            ));
        }
        None
    }
}

fn kind_matches(pattern: &str, group: &str, kind: &str) -> bool {
    let (pg, pk) = pattern.rsplit_once('/').unwrap_or(("*", pattern));
    (pg == "*" || pg == group) && (pk == "*" || pk == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_match_group_kind_and_namespace() {
        let p = Policy {
            allowed_kinds: vec!["apps/*".into(), "/ConfigMap".into()],
            allowed_namespaces: vec!["team-a".into()],
        };
        assert!(
            p.check(&ResourceKey::new("apps", "Deployment", Some("team-a"), "x"))
                .is_none()
        );
        assert!(
            p.check(&ResourceKey::new("", "ConfigMap", Some("team-a"), "x"))
                .is_none()
        );
        assert!(
            p.check(&ResourceKey::new("", "Secret", Some("team-a"), "x"))
                .is_some()
        );
        assert!(
            p.check(&ResourceKey::new(
                "apps",
                "Deployment",
                Some("kube-system"),
                "x"
            ))
            .is_some()
        );
        assert!(
            Policy::default()
                .check(&ResourceKey::new("x", "Y", None, "z"))
                .is_none()
        );
    }
}
