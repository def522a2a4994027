//! ArgoCD's system settings, read from the cluster as ArgoCD reads them: the `argocd-cm`
//! ConfigMap in the controller's namespace.
//!
//! Two parts of it matter to a reconcile:
//! - **Health customizations** (`resource.customizations.health.<group>_<kind>` and the older
//!   `resource.customizations` map), added on top of the controller's own health registry
//!   (built-in rules plus the `--lua-dir`/`--argocd-cm` files it was started with), as the
//!   user's rules; a script that does not compile gives its kind `Unknown` with the script's
//!   message, and is logged once per change of the ConfigMap.
//! - **Diff settings** (`resource.customizations.ignoreDifferences.*`, `knownTypeFields`,
//!   `resource.compareoptions`), compiled together with each Application's own
//!   `spec.ignoreDifferences`.
//!
//! The controller reads the ConfigMap when it starts and at every poll (like the repository
//! Secrets), so an edit takes effect within one poll interval without a restart; a changed
//! `resourceVersion` is what triggers a rebuild. No ConfigMap means ArgoCD's defaults. A
//! ConfigMap whose diff settings do not parse fails every comparison with an error naming the
//! key (as ArgoCD's `ComparisonError` does), until it is fixed: a silent fallback to defaults
//! would show drift the user has said to ignore, or hide drift they care about.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use strata_drift::{ArgoCdSettings, DriftError};
use strata_health::HealthRegistry;

/// The name of ArgoCD's settings ConfigMap.
pub const ARGOCD_CM: &str = "argocd-cm";

/// Why the settings could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// Reading the ConfigMap failed (other than it being absent).
    #[error("reading ConfigMap {namespace}/{ARGOCD_CM}: {source}")]
    Read {
        /// The controller's namespace.
        namespace: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// A diff setting does not parse.
    #[error("ConfigMap {namespace}/{ARGOCD_CM}: {source}")]
    Invalid {
        /// The controller's namespace.
        namespace: String,
        /// The setting and why (it names the key).
        #[source]
        source: DriftError,
    },
}

/// The settings one reconcile uses.
#[derive(Clone)]
#[non_exhaustive]
pub struct Settings {
    /// Health rules: the controller's own plus the ConfigMap's customizations.
    pub health: Arc<HealthRegistry>,
    /// The ConfigMap's diff settings (defaults without a ConfigMap).
    pub diff: ArgoCdSettings,
    /// The ConfigMap's `resourceVersion` these settings were built from (`None`: no ConfigMap).
    pub resource_version: Option<String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("diff", &self.diff)
            .field("resource_version", &self.resource_version)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// ArgoCD's defaults over `health`: what applies without an `argocd-cm`.
    pub fn defaults(health: Arc<HealthRegistry>) -> Self {
        Self {
            health,
            diff: ArgoCdSettings::default(),
            resource_version: None,
        }
    }
}

/// The current settings, shared by the controller's workers and replaced when the ConfigMap
/// changes.
pub struct SettingsCell {
    base_health: Arc<HealthRegistry>,
    current: RwLock<Result<Arc<Settings>, Arc<SettingsError>>>,
}

impl std::fmt::Debug for SettingsCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettingsCell").finish_non_exhaustive()
    }
}

impl SettingsCell {
    /// ArgoCD's defaults over `base_health` until [`SettingsCell::load`] reads the cluster.
    pub fn new(base_health: Arc<HealthRegistry>) -> Self {
        Self {
            current: RwLock::new(Ok(Arc::new(Settings::defaults(Arc::clone(&base_health))))),
            base_health,
        }
    }

    /// The settings to use now, or why there are none.
    pub fn current(&self) -> Result<Arc<Settings>, Arc<SettingsError>> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set(&self, value: Result<Arc<Settings>, Arc<SettingsError>>) {
        match self.current.write() {
            Ok(mut guard) => *guard = value,
            Err(poisoned) => *poisoned.into_inner() = value,
        }
    }

    /// Reads `argocd-cm` in `namespace` and rebuilds the settings when its `resourceVersion`
    /// changed (or it appeared or went away). Returns whether anything changed. A read error
    /// keeps the settings in use (the next poll tries again) and is returned; invalid diff
    /// settings replace them with the error, which every comparison then reports.
    pub async fn load(
        &self,
        client: &kube::Client,
        namespace: &str,
    ) -> Result<bool, SettingsError> {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
        let found = api
            .get_opt(ARGOCD_CM)
            .await
            .map_err(|source| SettingsError::Read {
                namespace: namespace.to_owned(),
                source,
            })?;
        let version = found
            .as_ref()
            .and_then(|cm| cm.metadata.resource_version.clone());
        // An invalid ConfigMap is parsed again at every poll (it is small); a valid one only
        // when it changed.
        if matches!(self.current(), Ok(settings) if settings.resource_version == version) {
            return Ok(false);
        }
        let Some(config_map) = found else {
            self.set(Ok(Arc::new(Settings::defaults(Arc::clone(
                &self.base_health,
            )))));
            return Ok(true);
        };
        self.set(build(&self.base_health, namespace, config_map, version).map_err(Arc::new));
        Ok(true)
    }
}

/// The settings of one `argocd-cm` over `base_health`.
fn build(
    base_health: &HealthRegistry,
    namespace: &str,
    config_map: ConfigMap,
    resource_version: Option<String>,
) -> Result<Arc<Settings>, SettingsError> {
    let data: BTreeMap<String, String> = config_map.data.unwrap_or_default();
    let diff =
        ArgoCdSettings::from_config_map_data(&data).map_err(|source| SettingsError::Invalid {
            namespace: namespace.to_owned(),
            source,
        })?;
    let mut health = base_health.clone();
    let loaded = health.add_argocd_cm(&data);
    for problem in &loaded.problems {
        tracing::warn!("ConfigMap {namespace}/{ARGOCD_CM}: {problem}");
    }
    Ok(Arc::new(Settings {
        health: Arc::new(health),
        diff,
        resource_version,
    }))
}
