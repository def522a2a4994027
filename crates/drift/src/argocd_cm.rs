//! Reading ArgoCD's system settings (`argocd-cm` data) so existing configurations work as-is:
//! `resource.customizations` (YAML keyed by `group/Kind`), the split keys
//! `resource.customizations.ignoreDifferences.<group>_<kind>` and
//! `resource.customizations.knownTypeFields.<group>_<kind>` (`all` means every kind; split keys
//! override the YAML form), and `resource.compareoptions`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::error::DriftError;
use crate::ignore::{
    IgnoreConfig, IgnoreDifference, KnownTypeField, OverrideIgnoreDiff, ResourceOverride,
};
use crate::normalize::{DriftRules, StatusPolicy};

const CUSTOMIZATIONS: &str = "resource.customizations";
const IGNORE_PREFIX: &str = "resource.customizations.ignoreDifferences.";
const KNOWN_TYPES_PREFIX: &str = "resource.customizations.knownTypeFields.";
const COMPARE_OPTIONS: &str = "resource.compareoptions";

/// The diff-related settings of an `argocd-cm` ConfigMap.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ArgoCdSettings {
    /// System-level overrides keyed by `group/Kind` (`*/*` for all).
    pub resource_overrides: BTreeMap<String, ResourceOverride>,
    /// `ignoreResourceStatusField`.
    pub status: StatusPolicy,
    /// `ignoreAggregatedRoles`.
    pub ignore_aggregated_roles: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct CompareOptions {
    ignore_resource_status_field: String,
    ignore_aggregated_roles: bool,
}

impl ArgoCdSettings {
    /// Parses the ConfigMap's `data`. Malformed YAML in a setting is an error naming the key.
    pub fn from_config_map_data(data: &BTreeMap<String, String>) -> Result<Self, DriftError> {
        let mut settings = Self::default();
        if let Some(text) = data.get(CUSTOMIZATIONS) {
            let parsed: BTreeMap<String, Value> = yaml(CUSTOMIZATIONS, text)?;
            for (key, entry) in parsed {
                let mut o = ResourceOverride::default();
                if let Some(ign) = entry.get("ignoreDifferences") {
                    o.ignore_differences = match ign {
                        Value::String(s) => yaml(CUSTOMIZATIONS, s)?,
                        other => json(CUSTOMIZATIONS, other)?,
                    };
                }
                if let Some(k) = entry.get("knownTypeFields") {
                    o.known_type_fields = json(CUSTOMIZATIONS, k)?;
                }
                settings.resource_overrides.insert(key, o);
            }
        }
        for (key, text) in data {
            if let Some(gk) = key.strip_prefix(IGNORE_PREFIX) {
                let ign: OverrideIgnoreDiff = yaml(key, text)?;
                settings
                    .resource_overrides
                    .entry(override_key(gk))
                    .or_default()
                    .ignore_differences = ign;
            } else if let Some(gk) = key.strip_prefix(KNOWN_TYPES_PREFIX) {
                let fields: Vec<KnownTypeField> = yaml(key, text)?;
                settings
                    .resource_overrides
                    .entry(override_key(gk))
                    .or_default()
                    .known_type_fields = fields;
            }
        }
        if let Some(text) = data.get(COMPARE_OPTIONS) {
            let opts: CompareOptions = yaml(COMPARE_OPTIONS, text)?;
            settings.status = StatusPolicy::parse(&opts.ignore_resource_status_field);
            settings.ignore_aggregated_roles = opts.ignore_aggregated_roles;
        }
        Ok(settings)
    }

    /// Compiles these settings together with an application's `spec.ignoreDifferences`.
    pub fn into_rules(self, app_entries: Vec<IgnoreDifference>) -> Result<DriftRules, DriftError> {
        Ok(DriftRules::new(IgnoreConfig {
            ignore_differences: app_entries,
            resource_overrides: self.resource_overrides,
        })?
        .with_status_policy(self.status)
        .with_ignore_aggregated_roles(self.ignore_aggregated_roles))
    }
}

/// `apps_Deployment` → `apps/Deployment`, `Service` → `Service`, `all` → `*/*`.
fn override_key(group_kind: &str) -> String {
    if group_kind == "all" {
        return "*/*".to_string();
    }
    match group_kind.rsplit_once('_') {
        Some((group, kind)) => format!("{group}/{kind}"),
        None => group_kind.to_string(),
    }
}

fn yaml<T: serde::de::DeserializeOwned>(key: &str, text: &str) -> Result<T, DriftError> {
    strata_core::yaml::from_str(text).map_err(|e| DriftError::InvalidSetting {
        key: key.to_string(),
        source: e.into(),
    })
}

fn json<T: serde::de::DeserializeOwned>(key: &str, value: &Value) -> Result<T, DriftError> {
    serde_json::from_value(value.clone()).map_err(|e| DriftError::InvalidSetting {
        key: key.to_string(),
        source: e.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_forms_and_split_keys_win() {
        let mut data = BTreeMap::new();
        data.insert(
            "resource.customizations".to_string(),
            "apps/Deployment:\n  ignoreDifferences: |\n    jsonPointers:\n    - /spec/replicas\n"
                .to_string(),
        );
        data.insert(
            "resource.customizations.ignoreDifferences.apps_Deployment".to_string(),
            "jqPathExpressions:\n- .spec.template.spec.containers[].image\n".to_string(),
        );
        data.insert(
            "resource.customizations.ignoreDifferences.all".to_string(),
            "managedFieldsManagers:\n- kube-controller-manager\n".to_string(),
        );
        data.insert(
            "resource.customizations.knownTypeFields.cert-manager.io_Certificate".to_string(),
            "- field: spec.duration\n  type: meta/v1/Duration\n".to_string(),
        );
        data.insert(
            "resource.compareoptions".to_string(),
            "ignoreResourceStatusField: crd\n".to_string(),
        );
        let s = ArgoCdSettings::from_config_map_data(&data).expect("parses");
        let deploy = &s.resource_overrides["apps/Deployment"].ignore_differences;
        assert!(
            deploy.json_pointers.is_empty(),
            "the split key replaces the YAML form"
        );
        assert_eq!(
            deploy.jq_path_expressions,
            vec![".spec.template.spec.containers[].image"]
        );
        assert_eq!(
            s.resource_overrides["*/*"]
                .ignore_differences
                .managed_fields_managers,
            vec!["kube-controller-manager"]
        );
        assert_eq!(
            s.resource_overrides["cert-manager.io/Certificate"].known_type_fields[0].type_name,
            "meta/v1/Duration"
        );
        assert_eq!(s.status, StatusPolicy::Crd);
        assert!(s.into_rules(Vec::new()).is_ok());
    }

    #[test]
    fn malformed_yaml_names_the_key() {
        let mut data = BTreeMap::new();
        data.insert(
            "resource.compareoptions".to_string(),
            "ignoreAggregatedRoles: [".to_string(),
        );
        let err = ArgoCdSettings::from_config_map_data(&data).expect_err("malformed");
        assert!(err.to_string().contains("resource.compareoptions"));
    }
}
