//! Normalisation before comparison: remarshal of built-in kinds, Secret/Role/Endpoints rules,
//! ignoreDifferences, known types, the status field, and server-owned metadata.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use strata_core::sensitive::Sensitivity;

use crate::error::DriftError;
use crate::glob::glob_match;
use crate::ignore::{IgnoreConfig, IgnoreNormalizer};
use crate::knowntypes::normalize_numbers;
use crate::object::{LAST_APPLIED_ANNOTATION, ResourceKey, is_builtin_group};

/// Which kinds have their `status` ignored (ArgoCD's `ignoreResourceStatusField`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum StatusPolicy {
    /// Every kind (the default).
    #[default]
    All,
    /// Only CustomResourceDefinitions.
    Crd,
    /// No kind.
    None,
}

impl StatusPolicy {
    /// Parses ArgoCD's setting: `""`/`all` → All, `crd` → Crd, `none`/`off`/`false` → None,
    /// anything else → All.
    pub fn parse(setting: &str) -> Self {
        match setting {
            "crd" => Self::Crd,
            "none" | "off" | "false" => Self::None,
            _ => Self::All,
        }
    }
}

/// Metadata fields the server owns; they are never desired state.
pub const SERVER_OWNED_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "selfLink",
];

/// The normalisation rules: ignore configuration, status policy and per-kind options.
#[derive(Debug, Clone, Default)]
pub struct DriftRules {
    no_fast_path: bool,
    config: IgnoreConfig,
    compiled: IgnoreNormalizer,
    status: StatusPolicy,
    status_compared: Vec<(String, String)>,
    ignore_aggregated_roles: bool,
    sensitivity: Sensitivity,
}

impl DriftRules {
    /// Compiles the rules; invalid jq expressions and unknown known types are errors.
    pub fn new(config: IgnoreConfig) -> Result<Self, DriftError> {
        let compiled = IgnoreNormalizer::new(&config)?;
        Ok(Self {
            config,
            compiled,
            ..Self::default()
        })
    }

    /// Rules from application entries only.
    pub fn from_ignore_differences(
        entries: Vec<crate::ignore::IgnoreDifference>,
    ) -> Result<Self, DriftError> {
        Self::new(IgnoreConfig {
            ignore_differences: entries,
            ..IgnoreConfig::default()
        })
    }

    /// Sets which kinds have their status ignored.
    pub fn with_status_policy(mut self, status: StatusPolicy) -> Self {
        self.status = status;
        self
    }

    /// Hides, beyond core's built-in rules, the fields `sensitivity` declares sensitive (such as
    /// the paths the providers declare) in drift reports.
    pub fn with_sensitivity(mut self, sensitivity: Sensitivity) -> Self {
        self.sensitivity = sensitivity;
        self
    }

    /// The sensitivity rules drift reports are redacted with (core's rule set).
    pub fn sensitivity(&self) -> &Sensitivity {
        &self.sensitivity
    }

    /// Opts a kind (group and kind globs) into comparing its `status`.
    pub fn compare_status_of(mut self, group: &str, kind: &str) -> Self {
        self.status_compared
            .push((group.to_string(), kind.to_string()));
        self
    }

    /// With ArgoCD's `ignoreAggregatedRoles`: an aggregated role's `rules` are ignored.
    pub fn with_ignore_aggregated_roles(mut self, on: bool) -> Self {
        self.ignore_aggregated_roles = on;
        self
    }

    /// The ignore configuration these rules were built from.
    pub fn config(&self) -> &IgnoreConfig {
        &self.config
    }

    /// Trusted field managers for a resource.
    pub fn managers_for(&self, res: &ResourceKey) -> Vec<String> {
        self.config.managers_for(res)
    }

    /// Whether any ignore entry applies to the resource.
    pub fn has_ignores_for(&self, res: &ResourceKey) -> bool {
        self.compiled.has_ignores_for(res)
    }

    /// Turns off the copy-free in-sync check, so every resource takes the full normalising
    /// path (for tests and measurements; results are the same on well-typed objects).
    pub fn without_fast_path(mut self) -> Self {
        self.no_fast_path = true;
        self
    }

    /// Whether only the generic normalisations apply to this resource: no ignore entry, no
    /// trusted manager, no known-type field, and not a kind with its own rules (Secret, Role,
    /// ClusterRole, Endpoints). Such resources can be compared without copying them.
    pub fn is_plain(&self, res: &ResourceKey) -> bool {
        !self.no_fast_path
            && !has_own_rules(res)
            && !self.compiled.has_ignores_for(res)
            && !self.compiled.has_known_types_for(res)
            && self.config.lookup(res).is_none()
    }

    /// The ignored JSON pointers (as tokens) when they are the only rules beyond the generic
    /// normalisations that apply to this resource: the copy-free walk can then skip the ignored
    /// fields itself. `None` when the resource needs the full path (see [`DriftRules::is_plain`];
    /// jq expressions and trusted managers need it too).
    pub fn copy_free_ignores(&self, res: &ResourceKey) -> Option<Vec<&[String]>> {
        if self.no_fast_path
            || has_own_rules(res)
            || self.compiled.has_known_types_for(res)
            || self.config.has_managers() && !self.config.managers_for(res).is_empty()
        {
            return None;
        }
        self.compiled.pointer_only_ignores(res)
    }

    /// Whether the `status` of this resource is ignored.
    pub fn status_ignored(&self, res: &ResourceKey) -> bool {
        if self
            .status_compared
            .iter()
            .any(|(g, k)| glob_match(g, &res.group) && glob_match(k, &res.kind))
        {
            return false;
        }
        match self.status {
            StatusPolicy::All => true,
            StatusPolicy::Crd => {
                res.group == "apiextensions.k8s.io" && res.kind == "CustomResourceDefinition"
            }
            StatusPolicy::None => false,
        }
    }

    /// Remarshal and the built-in normalisations (everything except ignore rules).
    pub fn normalize_base(&self, obj: &Value) -> Value {
        self.normalize_base_for(obj, &crate::object::key_of(obj))
    }

    /// [`DriftRules::normalize_base`] for an object whose identity is already read.
    fn normalize_base_for(&self, obj: &Value, res: &ResourceKey) -> Value {
        let mut out = remarshal(obj, res);
        normalize_builtin_kinds(&mut out, res, self.ignore_aggregated_roles);
        out
    }

    /// For drift: a copy without server-owned metadata (and without `status` when it is
    /// ignored), remarshalled and with the built-in normalisations, ignore rules not applied.
    pub fn prepare_for_drift(&self, obj: &Value, res: &ResourceKey) -> Value {
        let skip_status = self.status_ignored(res);
        let mut out = copy_without_server_fields(obj, skip_status);
        if !is_builtin_group(&res.group) {
            normalize_numbers(&mut out);
        } else if !crate::knowntypes::remarshal_in_place(&mut out) {
            // the typed decode fails: keep the raw object
            out = copy_without_server_fields(obj, skip_status);
            normalize_numbers(&mut out);
        }
        normalize_builtin_kinds(&mut out, res, self.ignore_aggregated_roles);
        out
    }

    /// Removes ignored fields, the status (unless the kind opts in) and applies known types.
    pub fn apply_ignores(&self, obj: &mut Value) {
        let res = crate::object::key_of(obj);
        self.apply_ignores_for(obj, &res);
    }

    /// [`DriftRules::apply_ignores`] for a resource whose reference is already known.
    pub fn apply_ignores_for(&self, obj: &mut Value, res: &ResourceKey) {
        self.compiled.apply_ignores(obj, res);
        if self.status_ignored(res)
            && let Some(m) = obj.as_object_mut()
        {
            m.shift_remove("status");
        }
        self.compiled.apply_known_types(obj, res);
    }

    /// Applies only the ignore entries (JSON pointers and jq expressions) matching the object.
    pub fn apply_ignore_entries(&self, obj: &mut Value) {
        let res = crate::object::key_of(obj);
        self.compiled.apply_ignores(obj, &res);
    }

    /// The full normalisation of one object for comparison.
    pub fn normalize(&self, obj: &Value) -> Value {
        // Remarshalling and the built-in rules keep the identity fields, so it is read once.
        let res = crate::object::key_of(obj);
        let mut out = self.normalize_base_for(obj, &res);
        self.apply_ignores_for(&mut out, &res);
        out
    }
}

/// Kinds with normalisation rules of their own (Secret, Role, ClusterRole, Endpoints).
fn has_own_rules(res: &ResourceKey) -> bool {
    matches!(
        (res.group.as_str(), res.kind.as_str()),
        ("", "Secret" | "Endpoints") | ("rbac.authorization.k8s.io", "Role" | "ClusterRole")
    )
}

/// Remarshal: numbers made canonical, and built-in kinds re-encoded through their types
/// (the raw object is kept when that fails).
pub fn remarshal(obj: &Value, res: &ResourceKey) -> Value {
    let mut out = obj.clone();
    normalize_numbers(&mut out);
    // Rewritten in the one copy; the rare object the typed decode refuses is copied again.
    if is_builtin_group(&res.group) && !crate::knowntypes::remarshal_in_place(&mut out) {
        out = obj.clone();
        normalize_numbers(&mut out);
    }
    out
}

/// ArgoCD's `Normalize`: creationTimestamp, Secret stringData, Role rules, Endpoints.
pub fn normalize_builtin_kinds(obj: &mut Value, res: &ResourceKey, ignore_aggregated_roles: bool) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.shift_remove("creationTimestamp");
    }
    match (res.group.as_str(), res.kind.as_str()) {
        ("", "Secret") => normalize_secret(obj),
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => {
            if let Some(m) = obj.as_object_mut() {
                let aggregated = m.get("aggregationRule").is_some_and(Value::is_object);
                let empty = m
                    .get("rules")
                    .is_some_and(|r| r.as_array().is_some_and(Vec::is_empty));
                if empty || (ignore_aggregated_roles && aggregated) {
                    m.insert("rules".to_string(), Value::Null);
                }
            }
        }
        ("", "Endpoints") => normalize_endpoints(obj),
        _ => {}
    }
}

/// Folds `stringData` into base64 `data` (stringData wins), and makes null data values `""`.
pub fn normalize_secret(obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(string_data)) = map.shift_remove("stringData") {
        let data = map
            .entry("data")
            .or_insert_with(|| Value::Object(Map::new()));
        if !data.is_object() {
            *data = Value::Object(Map::new());
        }
        if let Some(data) = data.as_object_mut() {
            for (k, v) in string_data {
                let encoded = match v {
                    Value::String(s) => {
                        Value::String(base64::engine::general_purpose::STANDARD.encode(s))
                    }
                    other => other,
                };
                data.insert(k, encoded);
            }
        }
    }
    if let Some(Value::Object(data)) = map.get_mut("data") {
        for v in data.values_mut() {
            if v.is_null() {
                *v = Value::String(String::new());
            }
        }
    }
}

fn normalize_endpoints(obj: &mut Value) {
    let Some(Value::Array(subsets)) = obj.get_mut("subsets") else {
        return;
    };
    for subset in subsets.iter_mut() {
        if let Some(Value::Array(ports)) = subset.get_mut("ports") {
            for p in ports.iter_mut() {
                if let Some(pm) = p.as_object_mut() {
                    let empty = pm
                        .get("protocol")
                        .is_none_or(|v| v.as_str().is_some_and(str::is_empty) || v.is_null());
                    if empty {
                        pm.insert("protocol".to_string(), Value::String("TCP".to_string()));
                    }
                }
            }
            ports.sort_by_key(|p| p.to_string());
        }
        for key in ["addresses", "notReadyAddresses"] {
            if let Some(Value::Array(addrs)) = subset.get_mut(key) {
                addrs.sort_by_key(|a| a.to_string());
            }
        }
    }
    subsets.sort_by_key(|s| s.to_string());
}

/// Copies an object, leaving out server-owned metadata, the last-applied annotation and,
/// when asked, the top-level `status`.
pub fn copy_without_server_fields(obj: &Value, skip_status: bool) -> Value {
    let Value::Object(map) = obj else {
        return obj.clone();
    };
    let mut out = Map::with_capacity(map.len());
    for (k, v) in map {
        match k.as_str() {
            "status" if skip_status => {}
            "metadata" => {
                let Value::Object(meta) = v else {
                    out.insert(k.clone(), v.clone());
                    continue;
                };
                let mut m = Map::with_capacity(meta.len());
                for (mk, mv) in meta {
                    if SERVER_OWNED_METADATA.contains(&mk.as_str()) {
                        continue;
                    }
                    if mk == "annotations" {
                        if let Value::Object(ann) = mv {
                            let kept: Map<String, Value> = ann
                                .iter()
                                .filter(|(ak, _)| ak.as_str() != LAST_APPLIED_ANNOTATION)
                                .map(|(ak, av)| (ak.clone(), av.clone()))
                                .collect();
                            if !kept.is_empty() {
                                m.insert(mk.clone(), Value::Object(kept));
                            }
                        }
                        continue;
                    }
                    m.insert(mk.clone(), mv.clone());
                }
                out.insert(k.clone(), Value::Object(m));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// Removes server-owned metadata (`managedFields`, `resourceVersion`, `uid`, `generation`,
/// `creationTimestamp`, `selfLink`) and the last-applied annotation.
pub fn strip_server_fields(obj: &mut Value) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    for f in SERVER_OWNED_METADATA {
        meta.shift_remove(*f);
    }
    let mut drop_annotations = false;
    if let Some(Value::Object(ann)) = meta.get_mut("annotations") {
        ann.shift_remove(LAST_APPLIED_ANNOTATION);
        drop_annotations = ann.is_empty();
    }
    if drop_annotations || meta.get("annotations").is_some_and(Value::is_null) {
        meta.shift_remove("annotations");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_string_data_folds_into_data() {
        let mut s = json!({"kind": "Secret", "stringData": {"a": "b", "n": 1}, "data": {"a": "eA==", "z": null}});
        normalize_secret(&mut s);
        assert_eq!(
            s,
            json!({"kind": "Secret", "data": {"a": "Yg==", "z": "", "n": 1}})
        );
    }

    #[test]
    fn status_policy_parse() {
        assert_eq!(StatusPolicy::parse(""), StatusPolicy::All);
        assert_eq!(StatusPolicy::parse("crd"), StatusPolicy::Crd);
        assert_eq!(StatusPolicy::parse("off"), StatusPolicy::None);
        assert_eq!(StatusPolicy::parse("bogus"), StatusPolicy::All);
    }
}
