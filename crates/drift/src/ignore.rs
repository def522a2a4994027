//! ignoreDifferences: application entries and system overrides, their matching, and the
//! compiled normaliser that removes ignored fields (JSON pointers and jq path expressions).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::DriftError;
use crate::glob::glob_match;
use crate::jq::JqDelete;
use crate::knowntypes::KnownType;
use crate::object::ResourceKey;
use crate::path::{parse_pointer, remove_pointer};

/// One `spec.ignoreDifferences[]` entry of an application.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IgnoreDifference {
    /// API group, glob-matched (`*` works; `""` is the core group).
    pub group: String,
    /// Kind, glob-matched.
    pub kind: String,
    /// Exact name; empty matches any.
    pub name: String,
    /// Exact namespace; empty matches any.
    pub namespace: String,
    /// JSON pointers to remove before comparing.
    pub json_pointers: Vec<String>,
    /// jq path expressions to delete before comparing.
    pub jq_path_expressions: Vec<String>,
    /// Field managers whose owned fields are ignored when they differ.
    pub managed_fields_managers: Vec<String>,
}

impl IgnoreDifference {
    /// Whether this entry applies to the resource (glob on group/kind, exact-or-empty name/namespace).
    pub fn matches(&self, res: &ResourceKey) -> bool {
        glob_match(&self.group, &res.group)
            && glob_match(&self.kind, &res.kind)
            && (self.name.is_empty() || self.name == res.name)
            && (self.namespace.is_empty() || self.namespace == res.namespace_or_empty())
    }
}

/// The ignore part of a system resource override (`resource.customizations`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OverrideIgnoreDiff {
    /// JSON pointers to remove.
    pub json_pointers: Vec<String>,
    /// jq path expressions to delete.
    pub jq_path_expressions: Vec<String>,
    /// Trusted field managers.
    pub managed_fields_managers: Vec<String>,
}

/// A `knownTypeFields` entry: re-encode `field` (dotted) through `type`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownTypeField {
    /// Dotted field path, such as `spec.template.spec`.
    pub field: String,
    /// Type name: `core/v1/<Type>`, `core/Quantity` or `meta/v1/Duration`.
    #[serde(rename = "type")]
    pub type_name: String,
}

/// A system-level override for a `group/Kind` key (`*/*` for all kinds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResourceOverride {
    /// Ignored differences for this key.
    pub ignore_differences: OverrideIgnoreDiff,
    /// Fields normalised through known types.
    pub known_type_fields: Vec<KnownTypeField>,
}

/// Splits an override key into `(group, kind)`: `apps/Deployment`, `*/*`, or a core `Kind`.
pub fn split_override_key(key: &str) -> (&str, &str) {
    match key.rsplit_once('/') {
        Some((g, k)) => (g, k),
        None => ("", key),
    }
}

/// The ignore configuration of one application: its entries plus the system overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct IgnoreConfig {
    /// Application-level entries.
    pub ignore_differences: Vec<IgnoreDifference>,
    /// System-level overrides keyed by `group/Kind`.
    pub resource_overrides: BTreeMap<String, ResourceOverride>,
}

impl IgnoreConfig {
    /// A configuration of application-level entries and no system overrides.
    pub fn new(ignore_differences: Vec<IgnoreDifference>) -> Self {
        Self {
            ignore_differences,
            resource_overrides: BTreeMap::new(),
        }
    }

    /// Sets [`resource_overrides`](Self::resource_overrides).
    pub fn with_resource_overrides(
        mut self,
        resource_overrides: BTreeMap<String, ResourceOverride>,
    ) -> Self {
        self.resource_overrides = resource_overrides;
        self
    }

    /// ArgoCD's `HasIgnoreDifference`: the merged ignore settings for one resource.
    ///
    /// System overrides are looked up by the exact key `group/Kind` and by `*/*`, then every
    /// matching application entry; lists are merged in that order without duplicates. Note the
    /// reference's quirk: a core kind is looked up as `/Kind`, so a core-group override stored
    /// under `Kind` is only seen through `*/*`.
    pub fn lookup(&self, res: &ResourceKey) -> Option<OverrideIgnoreDiff> {
        if self.resource_overrides.is_empty() && self.ignore_differences.is_empty() {
            return None;
        }
        let mut merged = OverrideIgnoreDiff::default();
        let mut found = false;
        let key = format!("{}/{}", res.group, res.kind);
        let mut add = |src: &OverrideIgnoreDiff| {
            found = true;
            extend_unique(&mut merged.json_pointers, &src.json_pointers);
            extend_unique(&mut merged.jq_path_expressions, &src.jq_path_expressions);
            extend_unique(
                &mut merged.managed_fields_managers,
                &src.managed_fields_managers,
            );
        };
        for k in [key.as_str(), "*/*"] {
            if let Some(o) = self.resource_overrides.get(k) {
                add(&o.ignore_differences);
            }
        }
        for entry in self.ignore_differences.iter().filter(|e| e.matches(res)) {
            add(&OverrideIgnoreDiff {
                json_pointers: entry.json_pointers.clone(),
                jq_path_expressions: entry.jq_path_expressions.clone(),
                managed_fields_managers: entry.managed_fields_managers.clone(),
            });
        }
        found.then_some(merged)
    }

    /// Whether any entry or override names trusted field managers.
    pub fn has_managers(&self) -> bool {
        self.ignore_differences
            .iter()
            .any(|e| !e.managed_fields_managers.is_empty())
            || self
                .resource_overrides
                .values()
                .any(|o| !o.ignore_differences.managed_fields_managers.is_empty())
    }

    /// The trusted field managers for a resource (see [`IgnoreConfig::lookup`]).
    pub fn managers_for(&self, res: &ResourceKey) -> Vec<String> {
        self.lookup(res)
            .map(|m| m.managed_fields_managers)
            .unwrap_or_default()
    }
}

fn extend_unique(into: &mut Vec<String>, from: &[String]) {
    for item in from {
        if !into.contains(item) {
            into.push(item.clone());
        }
    }
}

/// One compiled ignore entry: which resources it matches and what it removes.
#[derive(Debug, Clone)]
struct CompiledIgnore {
    group: String,
    kind: String,
    name: String,
    namespace: String,
    pointers: Vec<String>,
    /// The pointers split into unescaped tokens (pointers that can never match left out).
    tokens: Vec<Vec<String>>,
    jq: Vec<JqDelete>,
}

/// One compiled known-type field.
#[derive(Debug, Clone)]
struct CompiledKnownType {
    group: String,
    kind: String,
    field: Vec<String>,
    ty: KnownType,
}

/// The compiled normaliser for ignoreDifferences and knownTypeFields.
#[derive(Debug, Clone, Default)]
pub struct IgnoreNormalizer {
    entries: Vec<CompiledIgnore>,
    known: Vec<CompiledKnownType>,
}

impl IgnoreNormalizer {
    /// Compiles the configuration; a jq expression that does not parse or an unknown known type
    /// is a configuration error. `Rollout`'s pod template is always normalised as a PodSpec
    /// unless an override for `argoproj.io/Rollout` sets its own known types.
    pub fn new(config: &IgnoreConfig) -> Result<Self, DriftError> {
        let mut entries = Vec::new();
        for (key, o) in &config.resource_overrides {
            let (group, kind) = split_override_key(key);
            entries.push(compile_entry(
                group,
                kind,
                "",
                "",
                &o.ignore_differences.json_pointers,
                &o.ignore_differences.jq_path_expressions,
            )?);
        }
        for e in &config.ignore_differences {
            entries.push(compile_entry(
                &e.group,
                &e.kind,
                &e.name,
                &e.namespace,
                &e.json_pointers,
                &e.jq_path_expressions,
            )?);
        }
        let mut known = Vec::new();
        let mut rollout_overridden = false;
        for (key, o) in &config.resource_overrides {
            let (group, kind) = split_override_key(key);
            if group == "argoproj.io" && kind == "Rollout" && !o.known_type_fields.is_empty() {
                rollout_overridden = true;
            }
            for f in &o.known_type_fields {
                known.push(CompiledKnownType {
                    group: group.to_string(),
                    kind: kind.to_string(),
                    field: f.field.split('.').map(str::to_string).collect(),
                    ty: KnownType::parse(&f.type_name)?,
                });
            }
        }
        if !rollout_overridden {
            known.push(CompiledKnownType {
                group: "argoproj.io".to_string(),
                kind: "Rollout".to_string(),
                field: vec!["spec".into(), "template".into(), "spec".into()],
                ty: KnownType::CoreV1("PodSpec".to_string()),
            });
        }
        Ok(Self { entries, known })
    }

    /// Adds a pointer removed from every kind (`*/*`), as the status-field setting does.
    pub fn push_global_pointer(&mut self, group: &str, kind: &str, pointer: &str) {
        self.entries.push(CompiledIgnore {
            group: group.to_string(),
            kind: kind.to_string(),
            name: String::new(),
            namespace: String::new(),
            pointers: vec![pointer.to_string()],
            tokens: pointer_tokens(&[pointer.to_string()]),
            jq: Vec::new(),
        });
    }

    /// Whether any ignore entry applies to the resource.
    pub fn has_ignores_for(&self, res: &ResourceKey) -> bool {
        self.entries.iter().any(|e| entry_matches(e, res))
    }

    /// Removes ignored fields. Failures of single patches (missing path, jq run-time error) are
    /// logged at debug level and skipped; the other patches still apply.
    pub fn apply_ignores(&self, doc: &mut Value, res: &ResourceKey) {
        for entry in self.entries.iter().filter(|e| entry_matches(e, res)) {
            for p in &entry.pointers {
                if !remove_pointer(doc, p) {
                    tracing::debug!(pointer = %p, resource = %res.address(), "ignoreDifferences: pointer not found, skipped");
                }
            }
            for jq in &entry.jq {
                match jq.apply(doc) {
                    Ok(v) => *doc = v,
                    // Reaching a limit is worth an operator's attention; other failures are
                    // as ArgoCD treats them (debug level).
                    Err(reason @ crate::jq::JqError::Limit(_)) => {
                        tracing::warn!(expression = %jq.expression(), %reason, resource = %res.address(), "ignoreDifferences: jq stopped at a limit, skipped")
                    }
                    Err(reason) => {
                        tracing::debug!(expression = %jq.expression(), %reason, resource = %res.address(), "ignoreDifferences: jq failed, skipped")
                    }
                }
            }
        }
    }

    /// The JSON pointers (as unescaped tokens, in the order they apply) of the entries matching
    /// the resource, or `None` when a matching entry also has jq expressions.
    pub fn pointer_only_ignores(&self, res: &ResourceKey) -> Option<Vec<&[String]>> {
        let mut out = Vec::new();
        for entry in self.entries.iter().filter(|e| entry_matches(e, res)) {
            if !entry.jq.is_empty() {
                return None;
            }
            out.extend(entry.tokens.iter().map(Vec::as_slice));
        }
        Some(out)
    }

    /// Whether a known-type normalisation applies to the resource.
    pub fn has_known_types_for(&self, res: &ResourceKey) -> bool {
        self.known
            .iter()
            .any(|k| glob_match(&k.group, &res.group) && glob_match(&k.kind, &res.kind))
    }

    /// Applies the known-type normalisations that match the resource.
    pub fn apply_known_types(&self, doc: &mut Value, res: &ResourceKey) {
        for k in &self.known {
            if glob_match(&k.group, &res.group) && glob_match(&k.kind, &res.kind) {
                let field: Vec<&str> = k.field.iter().map(String::as_str).collect();
                crate::knowntypes::apply_known_type(doc, &field, &k.ty);
            }
        }
    }
}

/// Pointers as token lists, leaving out those removal never applies (`""` and pointers not
/// starting with `/`).
fn pointer_tokens(pointers: &[String]) -> Vec<Vec<String>> {
    pointers
        .iter()
        .filter_map(|p| parse_pointer(p))
        .filter(|tokens| !tokens.is_empty())
        .collect()
}

fn entry_matches(e: &CompiledIgnore, res: &ResourceKey) -> bool {
    glob_match(&e.group, &res.group)
        && glob_match(&e.kind, &res.kind)
        && (e.name.is_empty() || e.name == res.name)
        && (e.namespace.is_empty() || e.namespace == res.namespace_or_empty())
}

fn compile_entry(
    group: &str,
    kind: &str,
    name: &str,
    namespace: &str,
    pointers: &[String],
    jq: &[String],
) -> Result<CompiledIgnore, DriftError> {
    for p in pointers {
        if !p.is_empty() && !p.starts_with('/') {
            tracing::debug!(pointer = %p, "ignoreDifferences: pointer does not start with '/', it will never match");
        }
    }
    Ok(CompiledIgnore {
        group: group.to_string(),
        kind: kind.to_string(),
        name: name.to_string(),
        namespace: namespace.to_string(),
        pointers: pointers.to_vec(),
        tokens: pointer_tokens(pointers),
        jq: jq
            .iter()
            .map(|e| JqDelete::new(e))
            .collect::<Result<_, _>>()?,
    })
}
