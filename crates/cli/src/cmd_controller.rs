//! `strata controller`: the GitOps controller as a long-running process.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use strata_core::state::StateStore;
use strata_gitops::app::Application;
use strata_gitops::controller::ControllerConfig;
use strata_gitops::notify::{Notifier, NotifyConfig};
use strata_gitops::roots::GitRoot;
use strata_gitops::server::WebhookSecrets;
use strata_gitops::service::{self, ServiceConfig};
use strata_k8s::controller::leader::LeaseConfig;

use crate::args::{ControllerArgs, StateStoreKind};

/// The Lease replicas elect a leader on.
const LEASE_NAME: &str = "strata-controller";

/// Reads a notification secret file: an `argocd-notifications-secret` Secret (`data` base64,
/// `stringData` plain) or a plain map.
fn secrets(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    use base64::Engine as _;
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let value: serde_json::Value =
        strata_core::yaml::from_str(&text).with_context(|| format!("{}", path.display()))?;
    let mut out = BTreeMap::new();
    let is_secret = value.get("kind").and_then(serde_json::Value::as_str) == Some("Secret");
    let entries = |field: &str| {
        value
            .get(field)
            .and_then(serde_json::Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    if is_secret {
        for (key, v) in entries("data") {
            let encoded = v.as_str().unwrap_or_default();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .with_context(|| format!("{}: data.{key} is not base64 text", path.display()))?;
            out.insert(key, decoded);
        }
        for (key, v) in entries("stringData") {
            out.insert(key, v.as_str().unwrap_or_default().to_owned());
        }
    } else if let Some(map) = value.as_object() {
        for (key, v) in map {
            let text = v
                .as_str()
                .with_context(|| format!("{}: {key} is not a string", path.display()))?;
            out.insert(key.clone(), text.to_owned());
        }
    }
    Ok(out)
}

fn identity() -> String {
    std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| format!("strata-{}", std::process::id()))
}

/// Runs the controller until SIGINT or SIGTERM.
pub async fn run(args: ControllerArgs) -> anyhow::Result<i32> {
    let client = strata_k8s::client::connect(
        &strata_k8s::ConnectOptions::new(args.context.clone()).kubeconfig(args.kubeconfig.clone()),
    )
    .await
    .context("connecting to the cluster")?;
    let cache = args
        .repo_cache
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("strata-controller").join("repos"));
    let mut config = ControllerConfig::new(&cache)
        .with_namespace(&args.namespace)
        .with_poll_interval(args.poll_interval)
        .with_workers(args.workers);
    if args.health_customizations.lua_dir.is_some()
        || args.health_customizations.argocd_cm.is_some()
    {
        config.health = Arc::new(crate::cmd_health::registry(&args.health_customizations)?);
    }
    if let Some(url) = &args.git_root {
        config = config.with_git_root(GitRoot {
            repo_url: url.clone(),
            revision: args.git_root_revision.clone(),
            path: args.git_root_path.clone(),
        });
    }
    if args.state_store == StateStoreKind::Kubernetes {
        let state_client = client.clone();
        let namespace = args.namespace.clone();
        config = config.with_state_stores(Arc::new(move |app: &Application| {
            match strata_k8s::KubeStateStore::new(state_client.clone(), &namespace, &app.name) {
                Ok(store) => Arc::new(store) as Arc<dyn StateStore>,
                // A name that cannot name a Secret (too long): kept locally instead.
                Err(error) => {
                    tracing::warn!(application = %app.name, %error, "keeping the state in a local file");
                    Arc::new(strata_core::LocalStateStore::new(
                        std::env::temp_dir()
                            .join("strata-controller")
                            .join("states")
                            .join(format!("{}.json", app.name)),
                    ))
                }
            }
        }));
    }
    let notifier = match &args.notifications {
        None => None,
        Some(file) => {
            let secrets = match &args.notifications_secret {
                Some(path) => secrets(path)?,
                None => BTreeMap::new(),
            };
            let config = NotifyConfig::from_yaml_file(file, &secrets)
                .with_context(|| format!("--notifications {}", file.display()))?;
            Some(Notifier::new(config).context("notifications")?)
        }
    };
    let mut webhook = WebhookSecrets::new();
    if let Some(secret) = &args.webhook_secret_github {
        webhook = webhook.with_github(secret);
    }
    if let Some(secret) = &args.webhook_secret_gitlab {
        webhook = webhook.with_gitlab(secret);
    }
    if let Some(secret) = &args.webhook_secret_harbor {
        webhook = webhook.with_harbor(secret);
    }
    let mut service_config = ServiceConfig::new(Some(args.listen)).with_webhook_secrets(webhook);
    if args.leader_elect {
        service_config = service_config.with_leader_election(
            LeaseConfig::new(LEASE_NAME, args.namespace.clone(), identity())
                .with_lease_duration(std::time::Duration::from_secs(15))
                .with_renew_interval(std::time::Duration::from_secs(5)),
        );
    }
    eprintln!(
        "strata controller: namespace {}, listening on {}, polling every {}",
        args.namespace,
        args.listen,
        humantime::format_duration(args.poll_interval)
    );
    service::run(client, config, service_config, notifier, shutdown_signal())
        .await
        .context("the controller")?;
    Ok(0)
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
