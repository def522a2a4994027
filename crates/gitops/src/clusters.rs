//! Destinations: the cluster each Application deploys to, as ArgoCD names them.
//!
//! - The in-cluster destination (`server: https://kubernetes.default.svc`, `name: in-cluster`,
//!   or neither) is the cluster the controller's own client talks to.
//! - Any other `server` or `name` is looked up among ArgoCD cluster Secrets in the
//!   controller's namespace (label `argocd.argoproj.io/secret-type: cluster`; data `name`,
//!   `server`, `config` = `{bearerToken, username, password, tlsClientConfig: {caData,
//!   certData, keyData, insecure, serverName}}`). A destination no Secret names is an error
//!   for its Application only. Credentials are never logged or shown in errors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use strata_k8s::{KubeProvider, KubeProviderOptions};
use tokio::sync::OnceCell;

use crate::app::{Destination, IN_CLUSTER_SERVER};

/// The label marking ArgoCD cluster Secrets.
pub const SECRET_TYPE_LABEL: &str = "argocd.argoproj.io/secret-type";

/// Why a destination has no provider. Credentials are never part of it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DestinationError {
    /// The destination's kinds could not be discovered.
    #[error("destination {destination}: {source}")]
    Provider {
        /// The destination.
        destination: String,
        /// Why.
        #[source]
        source: strata_core::ProviderError,
    },
    /// The cluster Secrets could not be listed.
    #[error("listing cluster Secrets in {namespace}: {source}")]
    ListSecrets {
        /// The controller's namespace.
        namespace: String,
        /// The API server's answer.
        #[source]
        source: kube::Error,
    },
    /// No cluster Secret names the destination.
    #[error(
        "destination {destination}: no cluster Secret (label {label}=cluster) in namespace {namespace} names it",
        label = SECRET_TYPE_LABEL
    )]
    Unknown {
        /// The destination.
        destination: String,
        /// The controller's namespace.
        namespace: String,
    },
    /// The cluster Secret that names the destination cannot be used.
    #[error("cluster Secret {secret}: {problem}")]
    Secret {
        /// The Secret's name.
        secret: String,
        /// What is wrong with it.
        #[source]
        problem: ClusterSecretError,
    },
    /// No client could be built from the cluster Secret.
    #[error("cluster Secret {secret}: building a client: {source}")]
    Client {
        /// The Secret's name.
        secret: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
}

/// What is wrong with an ArgoCD cluster Secret (never its values).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterSecretError {
    /// `data.server` is missing.
    #[error("data.server is missing")]
    MissingServer,
    /// `data.config` is not JSON (only where: the parser's message could quote a value).
    #[error("data.config is not JSON (line {line}, column {column})")]
    ConfigNotJson {
        /// The line.
        line: usize,
        /// The column.
        column: usize,
    },
    /// `data.config` has fields of the wrong type.
    #[error("data.config has fields of the wrong type")]
    ConfigFieldTypes,
    /// `data.config` does not make a client configuration.
    #[error("data.config: {0}")]
    Config(#[source] kube::config::KubeconfigError),
}

/// The Kubernetes providers of the destinations, created on first use.
pub struct Clusters {
    client: kube::Client,
    namespace: String,
    in_cluster: OnceCell<Arc<KubeProvider>>,
    remote: Mutex<HashMap<String, Arc<KubeProvider>>>,
}

impl std::fmt::Debug for Clusters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clusters")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// The text of a Secret's `key` (`data` decoded, or `stringData`); an empty value is none.
pub(crate) fn secret_text(secret: &Secret, key: &str) -> Option<String> {
    let text = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .and_then(|b| String::from_utf8(b.0.clone()).ok())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key).cloned())
        });
    text.filter(|t| !t.is_empty())
}

/// The provider options of every destination: Git is the source of truth, so a sync takes
/// back fields another manager changed (`force=true` server-side apply, as ArgoCD's
/// server-side sync does), which is what reverting an edit means.
pub fn provider_options() -> KubeProviderOptions {
    KubeProviderOptions::default().with_force_conflicts(true)
}

async fn provider(client: kube::Client) -> Result<Arc<KubeProvider>, strata_core::ProviderError> {
    let provider = Arc::new(KubeProvider::new(client, provider_options()));
    provider.discover().await?;
    Ok(provider)
}

impl Clusters {
    /// The destinations reachable with `client` (in-cluster) and the cluster Secrets of
    /// `namespace`.
    pub fn new(client: kube::Client, namespace: String) -> Self {
        Self {
            client,
            namespace,
            in_cluster: OnceCell::new(),
            remote: Mutex::new(HashMap::new()),
        }
    }

    /// The in-cluster provider (discovered once).
    pub async fn in_cluster(&self) -> Result<Arc<KubeProvider>, strata_core::ProviderError> {
        self.in_cluster
            .get_or_try_init(|| provider(self.client.clone()))
            .await
            .cloned()
    }

    /// Discovers every known destination's kinds again (CRDs installed since).
    pub async fn rediscover(&self) {
        let mut all: Vec<Arc<KubeProvider>> = self.in_cluster.get().cloned().into_iter().collect();
        all.extend(
            self.remote
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .values()
                .cloned(),
        );
        for p in all {
            if let Err(error) = p.discover().await {
                tracing::warn!(%error, "discovering a destination's kinds");
            }
        }
    }

    /// The provider of `destination` and a key naming the cluster.
    pub async fn provider_for(
        &self,
        destination: &Destination,
    ) -> Result<(String, Arc<KubeProvider>), DestinationError> {
        let provider_error = |source| DestinationError::Provider {
            destination: destination.to_string(),
            source,
        };
        if destination.is_in_cluster() {
            return self
                .in_cluster()
                .await
                .map(|p| (IN_CLUSTER_SERVER.to_owned(), p))
                .map_err(provider_error);
        }
        let wanted = destination
            .server
            .clone()
            .or_else(|| destination.name.clone().map(|n| format!("name:{n}")))
            .unwrap_or_default();
        if let Some(found) = self
            .remote
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&wanted)
        {
            return Ok((wanted, Arc::clone(found)));
        }
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        let list = secrets
            .list(&ListParams::default().labels(&format!("{SECRET_TYPE_LABEL}=cluster")))
            .await
            .map_err(|source| DestinationError::ListSecrets {
                namespace: self.namespace.clone(),
                source,
            })?;
        let secret = list
            .items
            .iter()
            .find(|s| match (&destination.server, &destination.name) {
                (Some(server), _) => secret_text(s, "server").as_deref() == Some(server.as_str()),
                (None, Some(name)) => secret_text(s, "name").as_deref() == Some(name.as_str()),
                (None, None) => false,
            })
            .ok_or_else(|| DestinationError::Unknown {
                destination: destination.to_string(),
                namespace: self.namespace.clone(),
            })?;
        let secret_name = secret.metadata.name.clone().unwrap_or_default();
        let config = kube_config(secret)
            .await
            .map_err(|problem| DestinationError::Secret {
                secret: secret_name.clone(),
                problem,
            })?;
        let client = kube::Client::try_from(config).map_err(|source| DestinationError::Client {
            secret: secret_name.clone(),
            source,
        })?;
        let provider = provider(client).await.map_err(provider_error)?;
        self.remote
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(wanted.clone(), Arc::clone(&provider));
        Ok((wanted, provider))
    }
}

/// The client configuration an ArgoCD cluster Secret describes.
async fn kube_config(secret: &Secret) -> Result<kube::Config, ClusterSecretError> {
    let server = secret_text(secret, "server").ok_or(ClusterSecretError::MissingServer)?;
    let config: Value = match secret_text(secret, "config") {
        Some(text) => {
            serde_json::from_str(&text).map_err(|e| ClusterSecretError::ConfigNotJson {
                line: e.line(),
                column: e.column(),
            })?
        }
        None => json!({}),
    };
    let tls = config
        .get("tlsClientConfig")
        .cloned()
        .unwrap_or(Value::Null);
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let mut cluster = json!({"server": server});
    if let Some(ca) = text(&tls, "caData") {
        cluster["certificate-authority-data"] = json!(ca);
    }
    if tls.get("insecure").and_then(Value::as_bool) == Some(true) {
        cluster["insecure-skip-tls-verify"] = json!(true);
    }
    if let Some(name) = text(&tls, "serverName") {
        cluster["tls-server-name"] = json!(name);
    }
    let mut user = json!({});
    if let Some(token) = text(&config, "bearerToken") {
        user["token"] = json!(token);
    }
    if let (Some(u), Some(p)) = (text(&config, "username"), text(&config, "password")) {
        user["username"] = json!(u);
        user["password"] = json!(p);
    }
    if let Some(cert) = text(&tls, "certData") {
        user["client-certificate-data"] = json!(cert);
    }
    if let Some(key) = text(&tls, "keyData") {
        user["client-key-data"] = json!(key);
    }
    let kubeconfig = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "destination", "cluster": cluster}],
        "users": [{"name": "destination", "user": user}],
        "contexts": [{"name": "destination", "context": {"cluster": "destination", "user": "destination"}}],
        "current-context": "destination",
    });
    let kubeconfig: kube::config::Kubeconfig =
        serde_json::from_value(kubeconfig).map_err(|_| ClusterSecretError::ConfigFieldTypes)?;
    kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(ClusterSecretError::Config)
}
