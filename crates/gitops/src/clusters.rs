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
    KubeProviderOptions {
        force_conflicts: true,
        ..KubeProviderOptions::default()
    }
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
    ) -> Result<(String, Arc<KubeProvider>), String> {
        if destination.is_in_cluster() {
            return self
                .in_cluster()
                .await
                .map(|p| (IN_CLUSTER_SERVER.to_owned(), p))
                .map_err(|e| format!("destination {destination}: {e}"));
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
            .map_err(|e| format!("listing cluster Secrets in {}: {e}", self.namespace))?;
        let secret = list
            .items
            .iter()
            .find(|s| match (&destination.server, &destination.name) {
                (Some(server), _) => secret_text(s, "server").as_deref() == Some(server.as_str()),
                (None, Some(name)) => secret_text(s, "name").as_deref() == Some(name.as_str()),
                (None, None) => false,
            })
            .ok_or_else(|| {
                format!(
                    "destination {destination}: no cluster Secret (label {SECRET_TYPE_LABEL}=cluster) in namespace {} names it",
                    self.namespace
                )
            })?;
        let secret_name = secret.metadata.name.clone().unwrap_or_default();
        let config = kube_config(secret)
            .await
            .map_err(|m| format!("cluster Secret {secret_name}: {m}"))?;
        let client = kube::Client::try_from(config)
            .map_err(|e| format!("cluster Secret {secret_name}: building a client: {e}"))?;
        let provider = provider(client)
            .await
            .map_err(|e| format!("destination {destination}: {e}"))?;
        self.remote
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(wanted.clone(), Arc::clone(&provider));
        Ok((wanted, provider))
    }
}

/// The client configuration an ArgoCD cluster Secret describes.
async fn kube_config(secret: &Secret) -> Result<kube::Config, String> {
    let server = secret_text(secret, "server").ok_or("data.server is missing")?;
    let config: Value = match secret_text(secret, "config") {
        Some(text) => serde_json::from_str(&text).map_err(|e| {
            format!(
                "data.config is not JSON (line {}, column {})",
                e.line(),
                e.column()
            )
        })?,
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
    let kubeconfig: kube::config::Kubeconfig = serde_json::from_value(kubeconfig)
        .map_err(|_| "data.config has fields of the wrong type".to_owned())?;
    kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(|e| format!("data.config: {e}"))
}
