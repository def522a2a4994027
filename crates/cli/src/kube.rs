//! The Kubernetes provider for `--kube` (`--kubeconfig`, `--context`, `-n`), and the
//! Kubernetes state backend for `--state kubernetes://namespace/name`.

use std::sync::Arc;

use strata_core::state::StateStore;
use strata_k8s::{ConnectOptions, KubeProvider, KubeProviderOptions, KubeStateStore};

/// A Kubernetes provider that connects on first use, as `connect` says (by default through
/// the kubeconfig's current context, or the in-cluster service account).
pub fn provider(connect: ConnectOptions) -> Arc<KubeProvider> {
    Arc::new(KubeProvider::lazy(connect, KubeProviderOptions::default()))
}

/// The state store of state `name` in `namespace`, connecting on first use as `connect` says.
pub fn state_store(
    connect: ConnectOptions,
    namespace: &str,
    name: &str,
) -> Result<Arc<dyn StateStore>, strata_k8s::state::KubeStateError> {
    Ok(Arc::new(KubeStateStore::lazy(connect, namespace, name)?))
}
