//! The Kubernetes provider for `--kube` / `--context`.

use std::sync::Arc;

use strata_k8s::{ConnectOptions, KubeProvider, KubeProviderOptions};

/// A Kubernetes provider that connects on first use, through the kubeconfig's `context` (or
/// its current context, or the in-cluster service account).
pub fn provider(context: Option<&str>) -> Arc<KubeProvider> {
    let connect = ConnectOptions {
        context: context.map(str::to_owned),
    };
    Arc::new(KubeProvider::lazy(connect, KubeProviderOptions::default()))
}
