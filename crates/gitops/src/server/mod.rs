//! The controller's HTTP endpoints.
//!
//! | route | what |
//! |---|---|
//! | `POST /api/webhook` | GitHub and GitLab push webhooks ⇒ [`Command::RepoChanged`]; GHCR package events ⇒ [`Command::RegistryChanged`] ([`webhook`]) |
//! | `GET /metrics` | Prometheus metrics under Argo CD's names ([`metrics`]) |
//! | `GET /healthz` | 200 while the process runs |
//! | `GET /readyz` | 200 once the [`ReadyFlag`] is set, 503 before |
//! | `GET /api/v1/applications` | every Application (`{"items": [...]}`) from the [`StatusStore`] |
//! | `GET /api/v1/applications/{name}` | one Application, 404 naming it when unknown |
//! | `POST /api/v1/applications/{name}/refresh?hard=true` | [`Command::Refresh`] |
//! | `POST /api/v1/applications/{name}/sync` | [`Command::Sync`] with a [`SyncRequest`] body; answers the operation state |
//! | `POST /api/v1/applications/{name}/rollback` | [`Command::Rollback`] with `{"id": n}`; answers the operation state |
//!
//! The endpoints talk to the controller only through [`Command`]s on an mpsc channel; bodies
//! are limited to [`ServerState::body_limit`] bytes.

pub mod metrics;
pub mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::controller::RequestError;
use crate::status::StatusStore;
pub use metrics::Metrics;
pub use webhook::{WebhookError, WebhookEvent, WebhookSecrets};

/// What the endpoints ask the controller to do.
#[derive(Debug)]
#[non_exhaustive]
pub enum Command {
    /// Compare again now: one Application, or all of them. `hard` also drops cached renders.
    Refresh {
        /// The Application, or `None` for all.
        app: Option<String>,
        /// Re-render from Git instead of using the cache.
        hard: bool,
    },
    /// A repository received a push: refresh the Applications that use it.
    RepoChanged {
        /// The repository (compare with [`webhook::same_repo`]).
        repo_url: String,
        /// The branch or tag pushed, when the push named one.
        revision: Option<String>,
    },
    /// A tag was pushed to an OCI registry: refresh the Applications whose sources are that
    /// repository (a Helm chart of it) at a revision the tag is.
    RegistryChanged(webhook::RegistryEvent),
    /// Sync an Application now.
    Sync {
        /// The Application.
        app: String,
        /// How.
        options: SyncRequest,
        /// Answered with the operation state (`status.operationState`) or why not.
        reply: oneshot::Sender<Result<Value, RequestError>>,
    },
    /// Sync an Application to a previous deployment of its history.
    Rollback {
        /// The Application.
        app: String,
        /// The `status.history[].id` to go back to.
        id: u64,
        /// Answered with the operation state or why not.
        reply: oneshot::Sender<Result<Value, RequestError>>,
    },
}

/// The body of `POST /api/v1/applications/{name}/sync` (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SyncRequest {
    /// Delete resources no longer in Git.
    pub prune: bool,
    /// Plan only.
    pub dry_run: bool,
    /// Only these resources (`group/kind/namespace/name`); all when empty.
    pub resources: Vec<String>,
    /// Sync this revision instead of `targetRevision`.
    pub revision: Option<String>,
}

/// Set once the controller is ready (caches warm, first comparison done).
#[derive(Debug, Clone, Default)]
pub struct ReadyFlag(Arc<AtomicBool>);

impl ReadyFlag {
    /// A flag that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the controller ready.
    pub fn set_ready(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Marks the controller not ready (shutting down).
    pub fn set_not_ready(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    /// Whether it is ready.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What the endpoints share.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerState {
    /// The Applications' status.
    pub store: StatusStore,
    /// Where commands go.
    pub commands: mpsc::Sender<Command>,
    /// The metrics `/metrics` renders.
    pub metrics: Metrics,
    /// What `/readyz` reports.
    pub ready: ReadyFlag,
    /// How webhooks are verified.
    pub webhook_secrets: WebhookSecrets,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long a sync or rollback may take to be answered.
    pub reply_timeout: Duration,
}

/// Largest request body accepted by default (GitHub sends at most 25 MiB, pushes are far
/// smaller).
pub const DEFAULT_BODY_LIMIT: usize = 2 << 20;

/// How long a command may wait for room in the channel.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

impl ServerState {
    /// State over `store` sending to `commands`, with fresh metrics, a ready flag not set, no
    /// webhook secrets, a 2 MiB body limit and a 10 minute reply timeout.
    pub fn new(store: StatusStore, commands: mpsc::Sender<Command>) -> Self {
        Self {
            store,
            commands,
            metrics: Metrics::new(),
            ready: ReadyFlag::new(),
            webhook_secrets: WebhookSecrets::new(),
            body_limit: DEFAULT_BODY_LIMIT,
            reply_timeout: Duration::from_secs(600),
        }
    }

    /// Uses `metrics` (shared with the controller).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Uses `ready` (shared with the controller).
    pub fn with_ready(mut self, ready: ReadyFlag) -> Self {
        self.ready = ready;
        self
    }

    /// Verifies webhooks with `secrets`.
    pub fn with_webhook_secrets(mut self, secrets: WebhookSecrets) -> Self {
        self.webhook_secrets = secrets;
        self
    }

    /// Accepts bodies up to `bytes`.
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Waits at most `timeout` for a sync or rollback to be answered.
    pub fn with_reply_timeout(mut self, timeout: Duration) -> Self {
        self.reply_timeout = timeout;
        self
    }
}

/// The server could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The address cannot be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the HTTP server failed")]
    Serve {
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The endpoints.
pub fn router(state: ServerState) -> Router {
    let limit = state.body_limit;
    Router::new()
        .route("/api/webhook", post(receive_webhook))
        .route("/metrics", get(render_metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readiness))
        .route("/api/v1/applications", get(list_applications))
        .route("/api/v1/applications/{name}", get(get_application))
        .route(
            "/api/v1/applications/{name}/refresh",
            post(refresh_application),
        )
        .route("/api/v1/applications/{name}/sync", post(sync_application))
        .route(
            "/api/v1/applications/{name}/rollback",
            post(rollback_application),
        )
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Serves the endpoints on `addr` until `shutdown` completes.
pub async fn serve(
    addr: SocketAddr,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    serve_on(listener, state, shutdown).await
}

/// Serves the endpoints on a bound listener until `shutdown` completes.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "controller endpoints listening");
    }
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| ServerError::Serve { source })
}

/// An error answer: a status and `{"error": message}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.message}))).into_response()
    }
}

fn api_error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        message: message.into(),
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    api_error(status, message).into_response()
}

/// Sends `command`, or answers why it could not be.
async fn send(state: &ServerState, command: Command) -> Result<(), ApiError> {
    match tokio::time::timeout(SEND_TIMEOUT, state.commands.send(command)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the controller is not running",
        )),
        Err(_) => Err(api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the controller is busy; try again",
        )),
    }
}

async fn receive_webhook(
    State(state): State<ServerState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match webhook::parse_webhook(&headers, &body, &state.webhook_secrets) {
        Ok(WebhookEvent::Ping) => (StatusCode::OK, "pong").into_response(),
        Ok(WebhookEvent::Push(push)) => {
            tracing::info!(repo = %push.repo_url, revision = ?push.revision, "push webhook received");
            let repo_url = push.repo_url.clone();
            let command = Command::RepoChanged {
                repo_url: push.repo_url,
                revision: push.revision,
            };
            match send(&state, command).await {
                Ok(()) => (StatusCode::OK, Json(json!({"refreshing": repo_url}))).into_response(),
                Err(refused) => refused.into_response(),
            }
        }
        Ok(WebhookEvent::Registry(event)) => {
            tracing::info!(repo = %event.repo_url, tag = %event.tag, "registry webhook received");
            let repo_url = event.repo_url.clone();
            match send(&state, Command::RegistryChanged(event)).await {
                Ok(()) => (StatusCode::OK, Json(json!({"refreshing": repo_url}))).into_response(),
                Err(refused) => refused.into_response(),
            }
        }
        Ok(WebhookEvent::Ignored(why)) => {
            (StatusCode::OK, Json(json!({"ignored": why}))).into_response()
        }
        Err(refused) => {
            tracing::warn!(error = %refused, "webhook refused");
            error(refused.status(), refused.to_string())
        }
    }
}

async fn render_metrics(State(state): State<ServerState>) -> Response {
    let text = state.metrics.render(&state.store);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn readiness(State(state): State<ServerState>) -> Response {
    if state.ready.is_ready() {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

async fn list_applications(State(state): State<ServerState>) -> Response {
    let items: Vec<Value> = state.store.list().iter().map(|r| r.to_object()).collect();
    Json(json!({"items": items})).into_response()
}

fn not_found(name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("application {name} not found"),
    )
}

async fn get_application(State(state): State<ServerState>, Path(name): Path<String>) -> Response {
    match state.store.get(&name) {
        Some(record) => Json(record.to_object()).into_response(),
        None => not_found(&name),
    }
}

/// `?hard=true`.
#[derive(Debug, Default, Deserialize)]
struct RefreshQuery {
    #[serde(default)]
    hard: bool,
}

async fn refresh_application(
    State(state): State<ServerState>,
    Path(name): Path<String>,
    Query(query): Query<RefreshQuery>,
) -> Response {
    if state.store.get(&name).is_none() {
        return not_found(&name);
    }
    let command = Command::Refresh {
        app: Some(name.clone()),
        hard: query.hard,
    };
    match send(&state, command).await {
        Ok(()) => (
            StatusCode::ACCEPTED,
            Json(json!({"refreshing": name, "hard": query.hard})),
        )
            .into_response(),
        Err(refused) => refused.into_response(),
    }
}

/// Reads an optional JSON body (empty means the default).
fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        api_error(
            StatusCode::BAD_REQUEST,
            format!("invalid request body: {e}"),
        )
    })
}

/// Sends a command carrying a reply channel and answers with the reply.
async fn round_trip(
    state: &ServerState,
    command: impl FnOnce(oneshot::Sender<Result<Value, RequestError>>) -> Command,
) -> Response {
    let (reply, answer) = oneshot::channel();
    if let Err(refused) = send(state, command(reply)).await {
        return refused.into_response();
    }
    match tokio::time::timeout(state.reply_timeout, answer).await {
        Ok(Ok(Ok(operation))) => Json(operation).into_response(),
        Ok(Ok(Err(refused))) => error(StatusCode::CONFLICT, refused.to_string()),
        Ok(Err(_)) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the controller dropped the request",
        ),
        Err(_) => error(
            StatusCode::GATEWAY_TIMEOUT,
            "the controller did not answer in time",
        ),
    }
}

async fn sync_application(
    State(state): State<ServerState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    if state.store.get(&name).is_none() {
        return not_found(&name);
    }
    let options: SyncRequest = match optional_json(&body) {
        Ok(options) => options,
        Err(refused) => return refused.into_response(),
    };
    round_trip(&state, |reply| Command::Sync {
        app: name,
        options,
        reply,
    })
    .await
}

/// The body of `POST /api/v1/applications/{name}/rollback`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackRequest {
    id: u64,
}

async fn rollback_application(
    State(state): State<ServerState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    if state.store.get(&name).is_none() {
        return not_found(&name);
    }
    let request: RollbackRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid request body: {e}"),
            );
        }
    };
    round_trip(&state, |reply| Command::Rollback {
        app: name,
        id: request.id,
        reply,
    })
    .await
}
