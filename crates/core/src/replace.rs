//! Replace rules: the fields of a kind that cannot change in place.
//!
//! A change to such a field is planned as a replacement (delete and create) instead of an
//! update. Each provider declares the rules of the kinds it serves once, as a [`ReplaceRules`]
//! table keyed by API group and kind; the provider answers
//! [`crate::Provider::replace_fields`] from that table, and the sandbox is given the same
//! tables ([`crate::SandboxProvider::with_mirrored_rules`]) so that a plan made against the
//! sandbox shows the replacements the real provider would make. The table is plain data, so
//! core reads it without depending on any provider's SDK.

use std::collections::BTreeMap;

use crate::model::ResourceKey;

/// Fields whose change forces replacement, declared per `(group, kind)` as dotted paths
/// (`spec.forProvider.engine`; a change anywhere below a path counts too).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaceRules {
    kinds: BTreeMap<(String, String), Vec<String>>,
}

impl ReplaceRules {
    /// An empty table: no field forces replacement.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares the replace-forcing `fields` of `group`/`kind` (`""` is the core group). A kind
    /// declared again keeps the fields of both declarations.
    pub fn with_kind<I, S>(mut self, group: &str, kind: &str, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.declare(group, kind, fields);
        self
    }

    /// Like [`ReplaceRules::with_kind`], in place.
    pub fn declare<I, S>(&mut self, group: &str, kind: &str, fields: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let declared = self
            .kinds
            .entry((group.to_owned(), kind.to_owned()))
            .or_default();
        for field in fields {
            let field = field.into();
            if !declared.contains(&field) {
                declared.push(field);
            }
        }
    }

    /// The table with every declaration of `other` added.
    pub fn merged(mut self, other: &ReplaceRules) -> Self {
        for ((group, kind), fields) in &other.kinds {
            self.declare(group, kind, fields.iter().cloned());
        }
        self
    }

    /// The replace-forcing fields of `group`/`kind` (empty when the kind declares none).
    pub fn fields_of(&self, group: &str, kind: &str) -> &[String] {
        self.kinds
            .get(&(group.to_owned(), kind.to_owned()))
            .map_or(&[], Vec::as_slice)
    }

    /// The replace-forcing fields of the resource `key`'s kind.
    pub fn fields_for(&self, key: &ResourceKey) -> &[String] {
        self.fields_of(&key.group, &key.kind)
    }

    /// Every declared `(group, kind)`, in order.
    pub fn kinds(&self) -> impl Iterator<Item = (&str, &str)> {
        self.kinds
            .keys()
            .map(|(group, kind)| (group.as_str(), kind.as_str()))
    }

    /// Whether nothing is declared.
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_are_read_back_by_kind_and_merged_without_duplicates() {
        let aws = ReplaceRules::new().with_kind(
            "rds.aws.upbound.io",
            "Instance",
            ["spec.forProvider.engine", "spec.forProvider.dbName"],
        );
        let kube = ReplaceRules::new().with_kind("apps", "Deployment", ["spec.selector"]);
        let both = aws.clone().merged(&kube).merged(&aws).with_kind(
            "apps",
            "Deployment",
            ["spec.selector"],
        );
        let db = ResourceKey::new("rds.aws.upbound.io", "Instance", None, "db");
        assert_eq!(
            both.fields_for(&db),
            ["spec.forProvider.engine", "spec.forProvider.dbName"]
        );
        assert_eq!(both.fields_of("apps", "Deployment"), ["spec.selector"]);
        assert!(both.fields_of("", "ConfigMap").is_empty());
        assert_eq!(both.kinds().count(), 2);
        assert!(ReplaceRules::new().is_empty());
    }
}
