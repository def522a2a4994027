//! Connecting to a cluster: kubeconfig (with a selectable context) or in-cluster configuration,
//! through kube's standard inference.

use kube::config::{Config, KubeConfigOptions};

/// How to reach the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// The kubeconfig context to use; `None` means the current context, or the in-cluster
    /// service account when there is no kubeconfig (kube's `Config::infer`).
    pub context: Option<String>,
}

impl ConnectOptions {
    /// Options selecting the kubeconfig context `context`.
    pub fn with_context(context: impl Into<String>) -> Self {
        Self {
            context: Some(context.into()),
        }
    }
}

/// The cluster could not be reached or configured.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No kubeconfig and no in-cluster environment.
    #[error("no Kubernetes configuration found (kubeconfig or in-cluster): {0}")]
    Infer(#[from] kube::config::InferConfigError),
    /// The kubeconfig or the context could not be read.
    #[error("reading the kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    /// The client could not be built from the configuration.
    #[error("building the Kubernetes client: {0}")]
    Client(#[from] kube::Error),
}

/// The client configuration for `options`.
pub async fn config(options: &ConnectOptions) -> Result<Config, ConnectError> {
    Ok(match &options.context {
        Some(context) => {
            Config::from_kubeconfig(&KubeConfigOptions {
                context: Some(context.clone()),
                ..KubeConfigOptions::default()
            })
            .await?
        }
        None => Config::infer().await?,
    })
}

/// A client for the cluster `options` select.
pub async fn connect(options: &ConnectOptions) -> Result<kube::Client, ConnectError> {
    Ok(kube::Client::try_from(config(options).await?)?)
}
