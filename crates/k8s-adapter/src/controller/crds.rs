//! Installing the CRDs of the controller's XRDs. With no Crossplane running, nothing else turns
//! an XRD into the composite and claim kinds the controller watches: [`install_crds`] applies
//! the CRDs strata-composition derives ([`strata_composition::crd::crds_for`]) with server-side
//! apply and waits until the server has established and serves each, so that watches and
//! claims can follow at once.

use strata_core::{Provider, Resource};

use super::{ControllerConfig, ControllerError};
use crate::{KubeProvider, KubeProviderOptions};

/// Applies the composite and claim CRDs of every XRD of `config` through the Kubernetes
/// provider over `client` (field manager [`ControllerConfig::field_manager`]), each waited for
/// until established and served. Returns the names of the CRDs, in the order applied.
pub async fn install_crds(
    client: &kube::Client,
    config: &ControllerConfig,
) -> Result<Vec<String>, ControllerError> {
    let provider = KubeProvider::new(
        client.clone(),
        KubeProviderOptions {
            field_manager: config.field_manager.clone(),
            ..KubeProviderOptions::default()
        },
    );
    let mut installed = Vec::new();
    for binding in &config.bindings {
        for crd in binding.crds.all() {
            let resource = Resource::from_manifest(crd.clone()).map_err(|source| {
                ControllerError::CrdManifest {
                    xrd: binding.xrd.name.clone(),
                    source,
                }
            })?;
            let name = resource.key.name.to_string();
            provider
                .create(&resource)
                .await
                .map_err(|source| ControllerError::InstallCrd {
                    name: name.clone(),
                    source,
                })?;
            tracing::info!(crd = %name, xrd = %binding.xrd.name, "CRD established");
            installed.push(name);
        }
    }
    Ok(installed)
}
