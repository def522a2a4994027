//! The Kubernetes provider for `--kube` / `--context`, and the Kubernetes state backend for
//! `--state kubernetes://namespace/name`.

use std::sync::Arc;

use strata_core::state::StateStore;
use strata_k8s::{ConnectOptions, KubeProvider, KubeProviderOptions, KubeStateStore};

/// A Kubernetes provider that connects on first use, through the kubeconfig's `context` (or
/// its current context, or the in-cluster service account).
pub fn provider(context: Option<&str>) -> Arc<KubeProvider> {
    let connect = ConnectOptions::new(context.map(str::to_owned));
    Arc::new(KubeProvider::lazy(connect, KubeProviderOptions::default()))
}

/// The state store of state `name` in `namespace`, connecting on first use through the
/// kubeconfig's `context` (or its current context, or the in-cluster service account).
pub fn state_store(
    context: Option<&str>,
    namespace: &str,
    name: &str,
) -> Result<Arc<dyn StateStore>, strata_k8s::state::KubeStateError> {
    let connect = ConnectOptions::new(context.map(str::to_owned));
    Ok(Arc::new(KubeStateStore::lazy(connect, namespace, name)?))
}
