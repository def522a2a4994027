//! The controller as a service: the reconcile loop, the HTTP endpoints (Git webhooks, the
//! Application API, `/metrics`, `/healthz`, `/readyz`), notifications and metrics wired
//! together, optionally behind leader election so several replicas can run and one works.
//!
//! This is what `strata controller` runs; an embedder may run it as it is or assemble the
//! parts ([`Controller`], [`server`], [`Notifier`]) differently.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use strata_k8s::controller::leader::{LeaseConfig, LeaseLock};
use tokio::sync::{mpsc, watch};

use crate::controller::{Controller, ControllerConfig, ControllerError, Observer};
use crate::notify::Notifier;
use crate::reconcile::{Outcome, SyncRequest};
use crate::server::{self, Command, Metrics, ReadyFlag, ServerState, WebhookSecrets};
use crate::status::AppRecord;

/// How the service runs, beyond the controller's own configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServiceConfig {
    /// Where the HTTP endpoints listen; `None`: no endpoints.
    pub listen: Option<SocketAddr>,
    /// How Git webhooks are verified.
    pub webhook_secrets: WebhookSecrets,
    /// Leader election; `None`: this replica always works.
    pub leader: Option<LeaseConfig>,
}

impl ServiceConfig {
    /// Endpoints on `listen`, no webhook secrets, no leader election.
    pub fn new(listen: Option<SocketAddr>) -> Self {
        Self {
            listen,
            webhook_secrets: WebhookSecrets::new(),
            leader: None,
        }
    }

    /// Verifies webhooks with `secrets`.
    pub fn with_webhook_secrets(mut self, secrets: WebhookSecrets) -> Self {
        self.webhook_secrets = secrets;
        self
    }

    /// Elects a leader on the Lease `config` names.
    pub fn with_leader_election(mut self, config: LeaseConfig) -> Self {
        self.leader = Some(config);
        self
    }
}

/// Errors that stop the service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The controller stopped with an error.
    #[error(transparent)]
    Controller(#[from] ControllerError),
    /// The HTTP endpoints could not run.
    #[error(transparent)]
    Server(#[from] server::ServerError),
    /// Another replica took the lease while this one worked.
    #[error(transparent)]
    Leadership(#[from] strata_k8s::controller::leader::LeadershipLost),
}

/// Sends notifications for every status written.
struct NotifyObserver(Arc<Notifier>);

#[async_trait::async_trait]
impl Observer for NotifyObserver {
    async fn status_written(&self, record: &AppRecord) {
        for delivery in self.0.notify(&record.to_object()).await {
            match &delivery.outcome {
                Ok(done) => tracing::info!(
                    application = %delivery.app, trigger = %delivery.trigger,
                    service = %delivery.service, status = done.status, "notification sent"
                ),
                Err(error) => tracing::warn!(
                    application = %delivery.app, trigger = %delivery.trigger,
                    service = %delivery.service, %error, "notification failed"
                ),
            }
        }
    }
}

/// Records reconciles, syncs, fetches, Kubernetes requests and plans in the metrics (what
/// [`run`] observes the controller with; an embedder assembling the parts adds it itself).
#[derive(Debug, Clone)]
pub struct MetricsObserver(Metrics);

impl MetricsObserver {
    /// An observer recording into `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        Self(metrics)
    }
}

#[async_trait::async_trait]
impl Observer for MetricsObserver {
    async fn status_written(&self, _record: &AppRecord) {}

    fn reconciled(&self, record: &AppRecord, took: Duration, outcome: &Outcome) {
        self.0.observe_reconcile(record, took.as_secs_f64());
        if outcome.synced
            && let Some(operation) = &outcome.status.operation_state
        {
            self.0.record_sync(record, operation.phase);
        }
        if let Some(fetch) = outcome.fetch_duration {
            let repo = record
                .spec
                .pointer("/source/repoURL")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default();
            self.0.observe_git_fetch(repo, fetch.as_secs_f64());
        }
    }

    fn kubernetes_request(&self, app: &str, verb: &str, status: Option<u16>) {
        self.0.record_k8s_request(app, verb, status);
    }

    fn planned(&self, app: &str, stats: &crate::planning::PlannerStats) {
        self.0.record_planner(app, stats);
    }
}

fn operation_json(status: &crate::status::AppStatus) -> serde_json::Value {
    serde_json::to_value(&status.operation_state).unwrap_or(serde_json::Value::Null)
}

/// Carries the endpoints' commands out on the controller.
async fn serve_commands(controller: Arc<Controller>, mut commands: mpsc::Receiver<Command>) {
    while let Some(command) = commands.recv().await {
        let controller = Arc::clone(&controller);
        match command {
            Command::Refresh { app, hard: _ } => controller.refresh(app.as_deref(), true),
            Command::RepoChanged { repo_url, revision } => {
                controller.repository_changed(&repo_url, revision.as_deref());
            }
            Command::RegistryChanged(event) => controller.registry_changed(&event),
            Command::Sync {
                app,
                options,
                reply,
            } => {
                tokio::spawn(async move {
                    let mut request = SyncRequest::new(options.prune, options.dry_run);
                    request.resources = options.resources;
                    request.revision = options.revision;
                    let result = controller.sync(&app, request).await;
                    let _ = reply.send(result.map(|s| operation_json(&s)));
                });
            }
            Command::Rollback { app, id, reply } => {
                tokio::spawn(async move {
                    let result = controller.rollback(&app, id).await;
                    let _ = reply.send(result.map(|s| operation_json(&s)));
                });
            }
        }
    }
}

/// Runs the controller, its endpoints and its observers until `shutdown` completes (then
/// running syncs finish and it returns). With leader election, the endpoints serve at once
/// (`/readyz` fails until this replica leads) and the controller works only while this
/// replica holds the lease; losing it stops the service with an error (the process should
/// exit and be restarted).
pub async fn run(
    client: kube::Client,
    config: ControllerConfig,
    service: ServiceConfig,
    notifier: Option<Notifier>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServiceError> {
    let controller = Arc::new(Controller::new(client.clone(), config));
    let metrics = Metrics::new();
    controller.observe(Arc::new(MetricsObserver(metrics.clone())));
    if let Some(notifier) = notifier {
        controller.observe(Arc::new(NotifyObserver(Arc::new(notifier))));
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    {
        let stop_tx = Arc::clone(&stop_tx);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
    }

    let ready = ReadyFlag::new();
    let (commands_tx, commands_rx) = mpsc::channel(64);
    tokio::spawn(serve_commands(Arc::clone(&controller), commands_rx));
    {
        let controller = Arc::clone(&controller);
        let ready = ready.clone();
        tokio::spawn(async move {
            loop {
                if controller.is_ready() {
                    ready.set_ready();
                } else {
                    ready.set_not_ready();
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
    }
    let server = service.listen.map(|addr| {
        let state = ServerState::new(controller.status().clone(), commands_tx)
            .with_metrics(metrics.clone())
            .with_ready(ready.clone())
            .with_webhook_secrets(service.webhook_secrets.clone());
        tokio::spawn(server::serve(addr, state, stopped()))
    });

    let work = {
        let controller = Arc::clone(&controller);
        let stopped = stopped();
        async move { controller.run(stopped).await }
    };
    let result: Result<(), ServiceError> = match &service.leader {
        None => work.await.map_err(ServiceError::from),
        Some(lease) => {
            let lock = LeaseLock::new(client, lease.clone());
            let mut outcome: Result<(), ControllerError> = Ok(());
            let led = tokio::select! {
                led = lock.run_as_leader(async { outcome = work.await; }) => Some(led),
                () = stopped() => None,
            };
            match led {
                None => Ok(()),
                Some(Ok(())) => outcome.map_err(ServiceError::from),
                Some(Err(lost)) => Err(ServiceError::from(lost)),
            }
        }
    };
    let _ = stop_tx.send(true);
    ready.set_not_ready();
    if let Some(server) = server {
        match server.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(error.into()),
            Err(error) => tracing::warn!(%error, "the HTTP endpoints stopped"),
        }
    }
    result
}
