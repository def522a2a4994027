//! The long-running controller: finds Applications (in the cluster and in Git), queues their
//! reconciles (poll interval, webhooks, watch events of the objects they manage, users), runs
//! them on a bounded set of workers — one reconcile per Application at a time — and writes
//! their status where users look.
//!
//! ```no_run
//! # async fn run(client: kube::Client) -> Result<(), strata_gitops::controller::ControllerError> {
//! use std::sync::Arc;
//! use strata_gitops::controller::{Controller, ControllerConfig};
//!
//! let config = ControllerConfig::new("/var/cache/strata/repos");
//! let controller = Arc::new(Controller::new(client, config));
//! controller.run(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::{Value, json};
use strata_core::model::{LABEL_MANAGED_BY, LABEL_STACK, MANAGED_BY_STRATA};
use strata_core::state::StateStore;
use strata_health::HealthRegistry;
use strata_k8s::KubeProvider;
use strata_sources::repo::{RepositoryCache, same_repository};
use tokio::sync::{Notify, oneshot};

use crate::app::{ARGO_GROUP, Application, REFRESH_ANNOTATION};
use crate::clusters::Clusters;
use crate::planning::{AppPlanner, LiveCache, PlannerStats, Planning, Replan, WatchEvent};
use crate::project::Project;
use crate::reconcile::{Outcome, Reconciler, Request, StateStores, SyncRequest};
use crate::roots::GitRoot;
use crate::status::{AppOrigin, AppRecord, AppStatus, Condition, StatusStore, now_rfc3339};

/// ArgoCD's default reconciliation period.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(180);

/// Errors that stop the controller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControllerError {
    /// The API server could not be reached or refused a setup step.
    #[error("{what}: {source}")]
    Kube {
        /// The step.
        what: String,
        /// The cause.
        #[source]
        source: strata_core::ProviderError,
    },
}

/// Why a sync or rollback asked of the controller was not carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No Application has this name.
    #[error("application {0} not found")]
    NotFound(String),
    /// The controller stopped before it answered.
    #[error("application {0}: the controller stopped")]
    Stopped(String),
    /// The controller is stopping and takes no more requests.
    #[error("the controller is stopping")]
    Stopping,
    /// A rollback of an Application with automated sync.
    #[error(
        "application {0}: rollback cannot be run on an Application with automated sync enabled"
    )]
    Automated(String),
    /// A rollback of an Application that was never synced.
    #[error("application {0} has no history yet")]
    NoHistory(String),
    /// A rollback to a history entry the Application does not have.
    #[error("application {app}: no history entry {id}")]
    NoHistoryEntry {
        /// The Application.
        app: String,
        /// The entry asked for.
        id: u64,
    },
    /// The sync may not run now (a sync window).
    #[error("application {app}: {reason}")]
    Refused {
        /// The Application.
        app: String,
        /// Why (`sync blocked: ...`).
        reason: String,
    },
}

/// Why an AppProject cannot be used.
#[derive(Debug, thiserror::Error)]
enum ProjectError {
    /// It does not exist (and is not `default`).
    #[error("AppProject {name} does not exist in namespace {namespace}")]
    Missing { name: String, namespace: String },
    /// It could not be read.
    #[error("reading AppProject {name}: {source}")]
    Read {
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// Why the resources of a deleted Application could not be deleted.
#[derive(Debug, thiserror::Error)]
enum DeletionError {
    /// The Application cannot be read.
    #[error(transparent)]
    Spec(#[from] crate::app::SpecError),
    /// Its destination cannot be reached.
    #[error(transparent)]
    Destination(#[from] crate::clusters::DestinationError),
    /// Deleting failed.
    #[error(transparent)]
    Reconcile(#[from] crate::reconcile::ReconcileError),
}

/// How the controller runs.
#[derive(Clone)]
#[non_exhaustive]
pub struct ControllerConfig {
    /// The namespace of Application and AppProject objects, cluster Secrets and states
    /// (ArgoCD's `argocd`).
    pub namespace: String,
    /// How often every Application is refreshed (fetch, compare, and sync by policy).
    pub poll_interval: Duration,
    /// Applications reconciled at once.
    pub workers: usize,
    /// Provider calls in flight per sync.
    pub parallelism: usize,
    /// Where repository mirrors are kept.
    pub repo_cache: PathBuf,
    /// Create the Application and AppProject CRDs when the cluster lacks them.
    pub create_crds: bool,
    /// Read Application objects from the cluster.
    pub cluster_applications: bool,
    /// Applications kept in Git.
    pub git_root: Option<GitRoot>,
    /// The state store of each Application; `None`: one local state file per Application
    /// under `<repo_cache>/../states/`.
    pub stores: Option<StateStores>,
    /// Health rules (built-ins plus customizations).
    pub health: Arc<HealthRegistry>,
    /// How long a stopping controller lets running syncs finish before it abandons them (the
    /// state keeps their intents; the next start compares and continues).
    pub shutdown_grace: Duration,
    /// Keep a planner per Application between reconciles, fed by the watches of the kinds it
    /// manages, so a reconcile re-plans what changed (see [`crate::planning`]); `false`: every
    /// reconcile plans through `Engine::plan`, observing every resource.
    pub incremental_planning: bool,
    /// How often an Application's plan is made in full through `Engine::plan` (and compared
    /// with the incremental planner's), counted from when its planner was made.
    pub resync_interval: Duration,
}

impl std::fmt::Debug for ControllerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerConfig")
            .field("namespace", &self.namespace)
            .field("poll_interval", &self.poll_interval)
            .field("workers", &self.workers)
            .field("repo_cache", &self.repo_cache)
            .field("git_root", &self.git_root)
            .finish_non_exhaustive()
    }
}

impl ControllerConfig {
    /// ArgoCD's defaults: namespace `argocd`, a 3-minute poll, 10 workers; mirrors in
    /// `repo_cache`.
    pub fn new(repo_cache: impl Into<PathBuf>) -> Self {
        Self {
            namespace: "argocd".into(),
            poll_interval: DEFAULT_POLL_INTERVAL,
            workers: 10,
            parallelism: 10,
            repo_cache: repo_cache.into(),
            create_crds: true,
            cluster_applications: true,
            git_root: None,
            stores: None,
            health: Arc::new(HealthRegistry::default()),
            shutdown_grace: Duration::from_secs(30),
            incremental_planning: true,
            resync_interval: DEFAULT_POLL_INTERVAL,
        }
    }

    /// Turns the per-Application incremental planner on (the default) or off.
    pub fn with_incremental_planning(mut self, incremental: bool) -> Self {
        self.incremental_planning = incremental;
        self
    }

    /// Sets how often plans are made in full (the resync).
    pub fn with_resync_interval(mut self, interval: Duration) -> Self {
        self.resync_interval = interval;
        self
    }

    /// Sets how long running syncs may take to finish once the controller is stopping.
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Sets the namespace.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Sets the poll interval.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Reads Applications from `root` too.
    pub fn with_git_root(mut self, root: GitRoot) -> Self {
        self.git_root = Some(root);
        self
    }

    /// Keeps each Application's state where `stores` says.
    pub fn with_state_stores(mut self, stores: StateStores) -> Self {
        self.stores = Some(stores);
        self
    }

    /// Sets the number of workers.
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }
}

/// Told of every status the controller writes and every reconcile it finishes (notifications
/// and metrics plug in here; so can an embedder's own code).
#[async_trait::async_trait]
pub trait Observer: Send + Sync {
    /// A status was written (called in order, per Application).
    async fn status_written(&self, record: &AppRecord);
    /// A reconcile finished.
    fn reconciled(&self, _record: &AppRecord, _took: Duration, _outcome: &Outcome) {}
    /// The reconcile of the Application `app` made a Kubernetes API request (`verb` is the
    /// HTTP method, or `WATCH`); `status` is the response code, `None` when no response came.
    fn kubernetes_request(&self, _app: &str, _verb: &str, _status: Option<u16>) {}
    /// The reconcile of the Application `app` planned: what its planner did so far
    /// (cumulative statistics).
    fn planned(&self, _app: &str, _stats: &PlannerStats) {}
}

/// One known Application.
#[derive(Debug, Clone)]
struct Entry {
    manifest: Value,
    origin: AppOrigin,
    parsed: Result<Application, crate::app::SpecError>,
}

#[derive(Default)]
struct Job {
    request: Request,
    waiters: Vec<oneshot::Sender<Result<AppStatus, RequestError>>>,
}

#[derive(Default)]
struct Queue {
    pending: BTreeMap<String, Job>,
    order: std::collections::VecDeque<String>,
    in_flight: HashSet<String>,
    stopping: bool,
}

/// The controller. Cheap to share (`Arc`); [`Controller::run`] runs it.
pub struct Controller {
    client: kube::Client,
    config: ControllerConfig,
    reconciler: Reconciler,
    status: StatusStore,
    observers: Mutex<Vec<Arc<dyn Observer>>>,
    apps: Mutex<BTreeMap<String, Entry>>,
    queue: Mutex<Queue>,
    wake: Notify,
    idle: Notify,
    clusters: Clusters,
    watched: Mutex<HashSet<(String, String, String)>>,
    ready: std::sync::atomic::AtomicBool,
    failures: Mutex<std::collections::HashMap<String, u32>>,
    appsets: Mutex<BTreeMap<String, Value>>,
    appset_runs: tokio::sync::Mutex<()>,
    finalizing: Mutex<HashSet<String>>,
    /// The AppProjects of the namespace, from a watch; `None` until its first list is in.
    projects: Mutex<Option<BTreeMap<String, Value>>>,
    /// The live objects the watches of managed kinds saw.
    live: Arc<LiveCache>,
    /// Each Application's planner between reconciles.
    planners: Mutex<std::collections::HashMap<String, AppPlanner>>,
    /// What each Application's planner did.
    plan_stats: Mutex<std::collections::HashMap<String, PlannerStats>>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The ApiResource of `argoproj.io/v1alpha1` `kind`.
pub fn argo_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: ARGO_GROUP.into(),
        version: "v1alpha1".into(),
        api_version: format!("{ARGO_GROUP}/v1alpha1"),
        kind: kind.into(),
        plural: plural.into(),
    }
}

fn metadata_map(manifest: &Value, field: &str) -> serde_json::Map<String, Value> {
    manifest
        .pointer(&format!("/metadata/{field}"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn to_value(object: &DynamicObject) -> Value {
    let mut value = serde_json::to_value(object).unwrap_or(Value::Null);
    if let (Some(types), Some(map)) = (&object.types, value.as_object_mut()) {
        map.entry("apiVersion")
            .or_insert_with(|| Value::String(types.api_version.clone()));
        map.entry("kind")
            .or_insert_with(|| Value::String(types.kind.clone()));
    }
    value
}

impl Controller {
    /// A controller over the cluster `client` talks to (its in-cluster destination).
    pub fn new(client: kube::Client, config: ControllerConfig) -> Self {
        let repos = Arc::new(RepositoryCache::new(&config.repo_cache));
        let states_dir = config
            .repo_cache
            .parent()
            .map_or_else(|| PathBuf::from("states"), |p| p.join("states"));
        let stores: StateStores = config.stores.clone().unwrap_or_else(|| {
            Arc::new(move |app: &Application| {
                Arc::new(strata_core::LocalStateStore::new(
                    states_dir.join(format!("{}.json", app.name)),
                )) as Arc<dyn StateStore>
            })
        });
        let reconciler = Reconciler {
            repos,
            stores,
            settings: Arc::new(crate::settings::SettingsCell::new(Arc::clone(
                &config.health,
            ))),
            parallelism: config.parallelism,
            caches: Arc::default(),
            started: jiff::Timestamp::now(),
        };
        let clusters = Clusters::new(client.clone(), config.namespace.clone());
        Self {
            client,
            reconciler,
            status: StatusStore::new(),
            observers: Mutex::new(Vec::new()),
            apps: Mutex::new(BTreeMap::new()),
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
            idle: Notify::new(),
            clusters,
            watched: Mutex::new(HashSet::new()),
            ready: std::sync::atomic::AtomicBool::new(false),
            failures: Mutex::new(std::collections::HashMap::new()),
            appsets: Mutex::new(BTreeMap::new()),
            appset_runs: tokio::sync::Mutex::new(()),
            finalizing: Mutex::new(HashSet::new()),
            projects: Mutex::new(None),
            live: Arc::default(),
            planners: Mutex::new(std::collections::HashMap::new()),
            plan_stats: Mutex::new(std::collections::HashMap::new()),
            config,
        }
    }

    /// The `argoproj.io` objects of `kind` in the controller's namespace.
    fn argo_api(&self, kind: &str, plural: &str) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            &self.config.namespace,
            &argo_resource(kind, plural),
        )
    }

    /// Adds an observer (notifications, metrics, an embedder's hook).
    pub fn observe(&self, observer: Arc<dyn Observer>) {
        lock(&self.observers).push(observer);
    }

    /// `provider` with a client that tells the observers of every request it makes for the
    /// Application `app` (sharing the provider's connections and discovered kinds).
    async fn counted(&self, provider: &Arc<KubeProvider>, app: &str) -> Arc<KubeProvider> {
        let observers = lock(&self.observers).clone();
        let client = match provider.client().await {
            Ok(client) if !observers.is_empty() => client.clone(),
            _ => return Arc::clone(provider),
        };
        let app = app.to_string();
        let observe: strata_k8s::client::RequestObserver =
            Arc::new(move |request: &strata_k8s::client::RequestSummary<'_>| {
                for observer in &observers {
                    observer.kubernetes_request(&app, request.verb, request.status);
                }
            });
        Arc::new(provider.with_client(strata_k8s::client::observed(client, observe)))
    }

    /// The status store (what `strata app` and the HTTP API read).
    pub fn status(&self) -> &StatusStore {
        &self.status
    }

    /// Whether the controller has read its Applications and started reconciling.
    pub fn is_ready(&self) -> bool {
        self.ready.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The repository cache.
    pub fn repositories(&self) -> &Arc<RepositoryCache> {
        &self.reconciler.repos
    }

    /// What the planner of `app` did (`None` before its first reconcile).
    pub fn planner_stats(&self, app: &str) -> Option<PlannerStats> {
        lock(&self.plan_stats).get(app).cloned()
    }

    /// Queues a reconcile of `app` that plans in full through `Engine::plan`: `Resync`
    /// compares the incremental planner's plan with it first, `Hard` (a hard refresh) only
    /// starts a fresh planner; both fetch.
    pub fn replan(&self, app: &str, how: Replan) {
        self.enqueue(
            app,
            Request {
                fetch: true,
                sync: None,
                replan: how,
                ..Request::default()
            },
            None,
        );
    }

    /// Forgets the planner of `app` (it is gone, or its spec changed).
    fn drop_planner(&self, app: &str) {
        if lock(&self.planners).remove(app).is_some()
            && let Some(stats) = lock(&self.plan_stats).get_mut(app)
        {
            stats.resets += 1;
        }
        self.live.forget_stack(app);
    }

    /// Queues a refresh of `app` (every Application when `None`); `fetch` fetches the
    /// repositories first.
    pub fn refresh(&self, app: Option<&str>, fetch: bool) {
        let names: Vec<String> = match app {
            Some(name) => vec![name.to_owned()],
            None => lock(&self.apps).keys().cloned().collect(),
        };
        for name in names {
            self.enqueue(
                &name,
                Request {
                    fetch,
                    sync: None,
                    ..Request::default()
                },
                None,
            );
        }
    }

    /// A push to `repo_url` (on `branch`, when known): refreshes, with a fetch, the
    /// Applications whose source (or the Git root) is that repository and whose
    /// `targetRevision` is that branch, `HEAD`, or a commit.
    pub fn repository_changed(self: &Arc<Self>, repo_url: &str, branch: Option<&str>) {
        if let Some(root) = &self.config.git_root
            && (same_repository(&root.repo_url, repo_url)
                || crate::server::webhook::same_repo(&root.repo_url, repo_url))
        {
            self.enqueue(
                ROOT_JOB,
                Request {
                    fetch: true,
                    sync: None,
                    ..Request::default()
                },
                None,
            );
        }
        let matching: Vec<String> = lock(&self.apps)
            .iter()
            .filter_map(|(name, entry)| {
                let app = entry.parsed.as_ref().ok()?;
                let changed = app.all_sources().iter().any(|source| {
                    let same = same_repository(&source.repo_url, repo_url)
                        || crate::server::webhook::same_repo(&source.repo_url, repo_url);
                    let revision = source.target_revision.as_str();
                    let on_branch = match branch {
                        None => true,
                        Some(b) => revision == b || revision == "HEAD" || revision.is_empty(),
                    };
                    same && on_branch
                });
                changed.then(|| name.clone())
            })
            .collect();
        tracing::info!(repository = %strata_sources::repo::redact(repo_url), applications = matching.len(), "repository changed");
        // Git generators may read this repository.
        self.spawn_appsets(None);
        self.refetch(matching);
    }

    /// A tag was pushed to an OCI registry (a GHCR webhook): re-renders, fetching again, the
    /// Applications with a source that is that repository (or a Helm chart of it) at a
    /// revision the tag is (see [`RegistryEvent::matches`](crate::server::webhook::RegistryEvent::matches)).
    pub fn registry_changed(self: &Arc<Self>, event: &crate::server::webhook::RegistryEvent) {
        let matching: Vec<String> = lock(&self.apps)
            .iter()
            .filter_map(|(name, entry)| {
                let app = entry.parsed.as_ref().ok()?;
                app.all_sources()
                    .iter()
                    .any(|s| event.matches(&s.repo_url, s.chart.as_deref(), &s.target_revision))
                    .then(|| name.clone())
            })
            .collect();
        tracing::info!(repository = %strata_sources::repo::redact(&event.repo_url), tag = %event.tag, applications = matching.len(), "registry changed");
        self.refetch(matching);
    }

    /// Re-renders the Applications `names`, fetching their sources again.
    fn refetch(&self, names: Vec<String>) {
        for name in names {
            self.enqueue(
                &name,
                Request {
                    fetch: true,
                    sync: None,
                    ..Request::default()
                },
                None,
            );
        }
    }

    /// Syncs `app` now, as a user asks (`strata app sync`), and waits for the result.
    pub async fn sync(&self, app: &str, request: SyncRequest) -> Result<AppStatus, RequestError> {
        if !lock(&self.apps).contains_key(app) {
            return Err(RequestError::NotFound(app.to_owned()));
        }
        let (tx, rx) = oneshot::channel();
        self.enqueue(
            app,
            Request {
                fetch: true,
                sync: Some(request),
                ..Request::default()
            },
            Some(tx),
        );
        rx.await
            .map_err(|_| RequestError::Stopped(app.to_owned()))?
    }

    /// Rolls `app` back to the revision of history entry `id` (a sync of that revision; an
    /// automated Application would move forward again, so ArgoCD refuses it too).
    pub async fn rollback(&self, app: &str, id: u64) -> Result<AppStatus, RequestError> {
        let automated = lock(&self.apps)
            .get(app)
            .and_then(|e| e.parsed.as_ref().ok().map(|a| a.sync.automated))
            .ok_or_else(|| RequestError::NotFound(app.to_owned()))?;
        if automated {
            return Err(RequestError::Automated(app.to_owned()));
        }
        let record = self
            .status
            .get(app)
            .ok_or_else(|| RequestError::NoHistory(app.to_owned()))?;
        let entry = record
            .status
            .history
            .iter()
            .find(|h| h.id == id)
            .ok_or_else(|| RequestError::NoHistoryEntry {
                app: app.to_owned(),
                id,
            })?;
        let mut request = SyncRequest::new(false, false);
        request.revision = Some(entry.revision.clone());
        self.sync(app, request).await
    }

    fn enqueue(
        &self,
        name: &str,
        request: Request,
        waiter: Option<oneshot::Sender<Result<AppStatus, RequestError>>>,
    ) {
        let mut queue = lock(&self.queue);
        if queue.stopping {
            if let Some(w) = waiter {
                let _ = w.send(Err(RequestError::Stopping));
            }
            return;
        }
        let fresh = !queue.pending.contains_key(name);
        let job = queue.pending.entry(name.to_owned()).or_default();
        if request.fetch {
            job.request.fetch = true;
            job.request.requested_at = Some(Instant::now());
        }
        if request.sync.is_some() {
            job.request.sync = request.sync;
        }
        job.request.replan = job.request.replan.max(request.replan);
        job.waiters.extend(waiter);
        if fresh {
            queue.order.push_back(name.to_owned());
        }
        drop(queue);
        self.wake.notify_one();
    }

    /// The next job no worker runs yet, waiting for one.
    async fn next_job(&self) -> Option<(String, Job)> {
        loop {
            let notified = self.wake.notified();
            {
                let mut queue = lock(&self.queue);
                if queue.stopping {
                    return None;
                }
                let position = queue
                    .order
                    .iter()
                    .position(|n| !queue.in_flight.contains(n));
                if let Some(i) = position
                    && let Some(name) = queue.order.remove(i)
                    && let Some(job) = queue.pending.remove(&name)
                {
                    queue.in_flight.insert(name.clone());
                    // Others may be runnable too.
                    if !queue.order.is_empty() {
                        self.wake.notify_one();
                    }
                    return Some((name, job));
                }
            }
            notified.await;
        }
    }

    fn finish_job(&self, name: &str) {
        let mut queue = lock(&self.queue);
        queue.in_flight.remove(name);
        let idle = queue.in_flight.is_empty();
        drop(queue);
        self.wake.notify_one();
        if idle {
            self.idle.notify_waiters();
        }
    }

    /// Runs until `shutdown` completes; then stops taking work, lets running reconciles (and
    /// their syncs) finish, and returns.
    pub async fn run(
        self: Arc<Self>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ControllerError> {
        let in_cluster =
            self.clusters
                .in_cluster()
                .await
                .map_err(|source| ControllerError::Kube {
                    what: "discovering the API server".into(),
                    source,
                })?;
        if self.config.create_crds {
            crate::crds::ensure_argo_crds(&in_cluster)
                .await
                .map_err(|source| ControllerError::Kube {
                    what: "creating the Application and AppProject CRDs".into(),
                    source,
                })?;
        }
        let mut tasks = tokio::task::JoinSet::new();
        self.load_repository_credentials().await;
        self.load_settings().await;
        if self.config.git_root.is_some() {
            self.load_git_root(true).await;
        }
        if self.config.cluster_applications {
            let me = Arc::clone(&self);
            tasks.spawn(async move { me.watch_applications().await });
            let me = Arc::clone(&self);
            tasks.spawn(async move { me.watch_appsets().await });
        }
        {
            let me = Arc::clone(&self);
            tasks.spawn(async move { me.watch_projects().await });
            let me = Arc::clone(&self);
            tasks.spawn(async move { me.poll().await });
        }
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..self.config.workers.max(1) {
            let me = Arc::clone(&self);
            workers.spawn(async move { me.work().await });
        }
        self.ready.store(true, std::sync::atomic::Ordering::SeqCst);
        tracing::info!(namespace = %self.config.namespace, "controller started");
        shutdown.await;
        tracing::info!("stopping: letting running syncs finish");
        self.ready.store(false, std::sync::atomic::Ordering::SeqCst);
        tasks.abort_all();
        {
            let mut queue = lock(&self.queue);
            queue.stopping = true;
            for (_, job) in std::mem::take(&mut queue.pending) {
                for w in job.waiters {
                    let _ = w.send(Err(RequestError::Stopping));
                }
            }
            queue.order.clear();
        }
        self.wake.notify_waiters();
        let drained = tokio::time::timeout(self.config.shutdown_grace, async {
            while workers.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                grace = ?self.config.shutdown_grace,
                "running syncs did not finish in time: abandoned (the next start continues them)"
            );
            workers.abort_all();
        }
        Ok(())
    }

    async fn work(self: Arc<Self>) {
        while let Some((name, job)) = self.next_job().await {
            if name == ROOT_JOB {
                self.load_git_root(job.request.fetch).await;
            } else {
                let result = self.reconcile_one(&name, &job.request).await;
                for waiter in job.waiters {
                    let _ = waiter.send(result.clone());
                }
            }
            self.finish_job(&name);
        }
    }

    /// Reads the repository Secrets again now (credentials of private repositories); the
    /// controller does so when it starts and at every poll.
    pub async fn reload_repository_credentials(&self) {
        self.load_repository_credentials().await;
    }

    /// Reads the cluster's `argocd-cm` again now (health customizations and diff settings);
    /// the controller does so when it starts and at every poll.
    pub async fn reload_settings(&self) {
        self.load_settings().await;
    }

    /// Reads `argocd-cm` (see [`crate::settings`]); a change is logged.
    async fn load_settings(&self) {
        match self
            .reconciler
            .settings
            .load(&self.client, &self.config.namespace)
            .await
        {
            Ok(false) => {}
            Ok(true) => match self.reconciler.settings.current() {
                Ok(settings) => tracing::info!(
                    resource_version = ?settings.resource_version,
                    "ArgoCD settings (argocd-cm) loaded"
                ),
                Err(error) => tracing::error!("{error}"),
            },
            Err(error) => tracing::warn!("{error}"),
        }
    }

    /// Reads the repository Secrets and `argocd-tls-certs-cm` (credentials and TLS of private
    /// Git repositories, Helm repositories and OCI registries).
    async fn load_repository_credentials(&self) {
        match crate::repo_secrets::load(&self.client, &self.config.namespace).await {
            Ok(found) => {
                self.reconciler
                    .repos
                    .set_runtime_credentials(found.git_credentials());
                self.reconciler.caches.set_repo_secrets(found);
            }
            Err(error) => tracing::warn!("repository credentials: {error}"),
        }
    }

    /// Every poll interval: a refresh (with fetch) of every Application, and of the Git root.
    async fn poll(self: Arc<Self>) {
        loop {
            self.load_repository_credentials().await;
            self.load_settings().await;
            if self.config.git_root.is_some() {
                self.enqueue(
                    ROOT_JOB,
                    Request {
                        fetch: true,
                        sync: None,
                        ..Request::default()
                    },
                    None,
                );
            }
            self.clusters.rediscover().await;
            self.spawn_appsets(None);
            self.refresh(None, true);
            tokio::time::sleep(self.config.poll_interval).await;
        }
    }

    async fn load_git_root(&self, fetch: bool) {
        let Some(root) = self.config.git_root.clone() else {
            return;
        };
        let repos = Arc::clone(&self.reconciler.repos);
        let namespace = self.config.namespace.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            crate::roots::load(&repos, &root, &namespace, fetch)
        })
        .await;
        let apps = match loaded {
            Ok(Ok((_, apps))) => apps,
            Ok(Err(error)) => {
                tracing::error!("Git root: {error}");
                return;
            }
            Err(stopped) => {
                tracing::error!("Git root: reading the Git root stopped: {stopped}");
                return;
            }
        };
        let mut seen = HashSet::new();
        for found in apps {
            let Some(name) = found
                .manifest
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                continue;
            };
            seen.insert(name.clone());
            let changed = self.upsert(
                &name,
                found.manifest,
                AppOrigin::Git {
                    location: found.location,
                },
            );
            if changed {
                self.enqueue(
                    &name,
                    Request {
                        fetch: false,
                        sync: None,
                        ..Request::default()
                    },
                    None,
                );
            }
        }
        let gone: Vec<String> = lock(&self.apps)
            .iter()
            .filter(|(n, e)| matches!(e.origin, AppOrigin::Git { .. }) && !seen.contains(*n))
            .map(|(n, _)| n.clone())
            .collect();
        for name in gone {
            lock(&self.apps).remove(&name);
            self.status.remove(&name);
            self.drop_planner(&name);
        }
    }

    /// Records an Application; true when it is new or its spec changed.
    fn upsert(&self, name: &str, manifest: Value, origin: AppOrigin) -> bool {
        let parsed = Application::parse(&manifest, &self.config.namespace);
        let mut apps = lock(&self.apps);
        let changed = apps.get(name).is_none_or(|old| {
            old.manifest.get("spec") != manifest.get("spec") || old.origin != origin
        });
        if changed && let (Ok(app), None) = (&parsed, self.status.get(name)) {
            // A restarted controller continues from the status the object carries: the
            // revision already synced is not synced again.
            let status: AppStatus = manifest
                .get("status")
                .cloned()
                .and_then(|s| serde_json::from_value(s).ok())
                .unwrap_or_default();
            self.status.put(AppRecord {
                name: name.to_owned(),
                namespace: app.namespace.clone(),
                project: app.project.clone(),
                origin: origin.clone(),
                labels: metadata_map(&manifest, "labels"),
                annotations: metadata_map(&manifest, "annotations"),
                spec: manifest.get("spec").cloned().unwrap_or(Value::Null),
                status,
            });
        }
        apps.insert(
            name.to_owned(),
            Entry {
                manifest,
                origin,
                parsed,
            },
        );
        drop(apps);
        if changed {
            self.drop_planner(name);
        }
        changed
    }

    /// Watches the Application objects of the namespace.
    async fn watch_applications(self: Arc<Self>) {
        let api: Api<DynamicObject> = self.argo_api("Application", "applications");
        let mut events = watcher::watcher(api, watcher::Config::default()).boxed();
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => {
                    let value = to_value(&object);
                    let Some(name) = object.metadata.name.clone() else {
                        continue;
                    };
                    if object.metadata.deletion_timestamp.is_some() {
                        self.finalize(&name, value);
                        continue;
                    }
                    let refresh = object
                        .metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(REFRESH_ANNOTATION))
                        .cloned();
                    let changed = self.upsert(&name, value, AppOrigin::Cluster);
                    if changed || refresh.is_some() {
                        self.enqueue(
                            &name,
                            Request {
                                fetch: refresh.is_some() || changed,
                                sync: None,
                                ..Request::default()
                            },
                            None,
                        );
                    }
                }
                Ok(watcher::Event::Delete(object)) => {
                    if let Some(name) = object.metadata.name {
                        lock(&self.apps).remove(&name);
                        self.status.remove(&name);
                        self.drop_planner(&name);
                        tracing::info!(application = %name, "deleted");
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "watching Applications");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// An Application being deleted: with ArgoCD's resources finalizer, everything it manages
    /// is deleted first, then the finalizer removed (the object goes); without it, the
    /// resources stay. Either way the controller forgets it.
    fn finalize(self: &Arc<Self>, name: &str, object: Value) {
        let finalizers: Vec<String> = object
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let ours: Vec<&String> = finalizers
            .iter()
            .filter(|f| f.starts_with(RESOURCES_FINALIZER))
            .collect();
        lock(&self.apps).remove(name);
        self.status.remove(name);
        self.drop_planner(name);
        if ours.is_empty() || !lock(&self.finalizing).insert(name.to_owned()) {
            return;
        }
        let me = Arc::clone(self);
        let name = name.to_owned();
        tokio::spawn(async move {
            let outcome = async {
                let app = Application::parse(&object, &me.config.namespace)?;
                let (_, provider) = me.clusters.provider_for(&app.destination).await?;
                Ok::<_, DeletionError>(me.reconciler.delete_resources(&app, provider).await?)
            }
            .await;
            let api: Api<DynamicObject> = Api::namespaced_with(
                me.client.clone(),
                &me.config.namespace,
                &argo_resource("Application", "applications"),
            );
            match outcome {
                Ok(deleted) => {
                    tracing::info!(application = %name, deleted, "deleted with its resources");
                    let removed =
                        strata_k8s::finalizers::update_finalizers(&api, &name, None, |held| {
                            let before = held.len();
                            held.retain(|f| !f.starts_with(RESOURCES_FINALIZER));
                            held.len() != before
                        })
                        .await;
                    if let Err(error) = removed {
                        tracing::warn!(application = %name, %error, "removing the resources finalizer");
                    }
                }
                Err(error) => {
                    // The finalizer stays: the deletion is tried again on the next event.
                    tracing::warn!(application = %name, %error, "deleting the Application's resources");
                    let body = json!({"status": {"conditions": [{
                        "type": "DeletionError", "message": error.to_string(),
                        "lastTransitionTime": now_rfc3339()}]}});
                    let _ = api
                        .patch(&name, &PatchParams::default(), &Patch::Merge(&body))
                        .await;
                }
            }
            lock(&me.finalizing).remove(&name);
        });
    }

    /// Generates the ApplicationSets named (all when `None`) in the background, one run at a
    /// time; each writes its Applications and its status.
    fn spawn_appsets(self: &Arc<Self>, only: Option<String>) {
        if !self.config.cluster_applications {
            return;
        }
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let _running = me.appset_runs.lock().await;
            let appsets: Vec<(String, Value)> = lock(&me.appsets)
                .iter()
                .filter(|(name, _)| only.as_ref().is_none_or(|o| o == *name))
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect();
            for (name, manifest) in appsets {
                let outcome = crate::appsets::reconcile(
                    &me.client,
                    &me.reconciler.repos,
                    &me.config.namespace,
                    &manifest,
                )
                .await;
                match &outcome {
                    Ok(apps) => {
                        tracing::info!(applicationset = %name, applications = apps.len(), "generated")
                    }
                    Err(error) => tracing::warn!(applicationset = %name, %error, "generating"),
                }
                crate::appsets::write_status(&me.client, &me.config.namespace, &name, &outcome)
                    .await;
            }
        });
    }

    /// Watches the ApplicationSet objects of the namespace.
    async fn watch_appsets(self: Arc<Self>) {
        let api: Api<DynamicObject> = self.argo_api("ApplicationSet", "applicationsets");
        let mut events = watcher::watcher(api, watcher::Config::default()).boxed();
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => {
                    let Some(name) = object.metadata.name.clone() else {
                        continue;
                    };
                    let value = to_value(&object);
                    let changed = lock(&self.appsets)
                        .insert(name.clone(), value.clone())
                        .is_none_or(|old| old.get("spec") != value.get("spec"));
                    if changed {
                        self.spawn_appsets(Some(name));
                    }
                }
                Ok(watcher::Event::Delete(object)) => {
                    if let Some(name) = object.metadata.name {
                        lock(&self.appsets).remove(&name);
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "watching ApplicationSets");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Watches the objects of `kind` this controller labelled in a destination, to refresh
    /// the Application that owns them when they change (self-heal and drift reports).
    fn watch_kind(
        self: &Arc<Self>,
        provider: Arc<KubeProvider>,
        destination: String,
        api_version: String,
        kind: String,
    ) {
        let key = (destination, api_version.clone(), kind.clone());
        if !lock(&self.watched).insert(key.clone()) {
            return;
        }
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let resolved = match provider.resolve(&api_version, &kind).await {
                Ok(r) => r,
                Err(error) => {
                    tracing::warn!(%error, %kind, "cannot watch");
                    lock(&me.watched).remove(&key);
                    return;
                }
            };
            let Ok(client) = provider.client().await.cloned() else {
                lock(&me.watched).remove(&key);
                return;
            };
            let api: Api<DynamicObject> = Api::all_with(client, &resolved.resource);
            let config = watcher::Config::default()
                .labels(&format!("{LABEL_MANAGED_BY}={MANAGED_BY_STRATA}"));
            let cached = me.config.incremental_planning;
            if cached {
                me.live
                    .watching(&key, &resolved.resource, resolved.namespaced);
            }
            let mut events = watcher::watcher(api, config).boxed();
            while let Some(event) = events.next().await {
                let (object, event) = match event {
                    Ok(watcher::Event::Apply(o)) => (o.clone(), WatchEvent::Applied(o)),
                    Ok(watcher::Event::Delete(o)) => (o.clone(), WatchEvent::Deleted(o)),
                    Ok(watcher::Event::Init) => {
                        if cached {
                            me.live.event(&key, WatchEvent::Listing);
                        }
                        continue;
                    }
                    Ok(watcher::Event::InitApply(o)) => {
                        if cached {
                            me.live.event(&key, WatchEvent::Listed(o));
                        }
                        continue;
                    }
                    Ok(watcher::Event::InitDone) => {
                        // Objects that changed while the watch was down.
                        let changed = if cached {
                            me.live.event(&key, WatchEvent::ListDone)
                        } else {
                            Vec::new()
                        };
                        for app in changed {
                            if lock(&me.apps).contains_key(&app) {
                                me.enqueue(&app, Request::default(), None);
                            }
                        }
                        continue;
                    }
                    Err(error) => {
                        tracing::debug!(%error, %kind, "watch");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                if cached {
                    // The Application the object was labelled with before hears of it too.
                    for app in me.live.event(&key, event) {
                        if lock(&me.apps).contains_key(&app) {
                            me.enqueue(&app, Request::default(), None);
                        }
                    }
                }
                let Some(app) = object
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(LABEL_STACK))
                    .cloned()
                else {
                    continue;
                };
                if lock(&me.apps).contains_key(&app) {
                    tracing::debug!(application = %app, %kind, "managed object changed");
                    me.enqueue(
                        &app,
                        Request {
                            fetch: false,
                            sync: None,
                            ..Request::default()
                        },
                        None,
                    );
                }
            }
        });
    }

    /// Keeps the namespace's AppProjects from a watch (no read per reconcile); a changed
    /// project refreshes its Applications.
    async fn watch_projects(self: Arc<Self>) {
        let api: Api<DynamicObject> = self.argo_api("AppProject", "appprojects");
        let mut events = watcher::watcher(api, watcher::Config::default()).boxed();
        let mut listing: BTreeMap<String, Value> = BTreeMap::new();
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::Init) => listing.clear(),
                Ok(watcher::Event::InitApply(object)) => {
                    if let Some(name) = object.metadata.name.clone() {
                        listing.insert(name, to_value(&object));
                    }
                }
                Ok(watcher::Event::InitDone) => {
                    *lock(&self.projects) = Some(std::mem::take(&mut listing));
                }
                Ok(watcher::Event::Apply(object)) => {
                    let Some(name) = object.metadata.name.clone() else {
                        continue;
                    };
                    if let Some(projects) = lock(&self.projects).as_mut() {
                        projects.insert(name.clone(), to_value(&object));
                    }
                    self.refresh_project(&name);
                }
                Ok(watcher::Event::Delete(object)) => {
                    let Some(name) = object.metadata.name.clone() else {
                        continue;
                    };
                    if let Some(projects) = lock(&self.projects).as_mut() {
                        projects.remove(&name);
                    }
                    self.refresh_project(&name);
                }
                Err(error) => {
                    tracing::warn!(%error, "watching AppProjects");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Refreshes (without fetching) the Applications of project `name`.
    fn refresh_project(&self, name: &str) {
        let members: Vec<String> = lock(&self.apps)
            .iter()
            .filter(|(_, e)| e.parsed.as_ref().is_ok_and(|a| a.project == name))
            .map(|(n, _)| n.clone())
            .collect();
        for app in members {
            self.enqueue(&app, Request::default(), None);
        }
    }

    async fn project(&self, name: &str) -> Result<Project, ProjectError> {
        let cached = lock(&self.projects)
            .as_ref()
            .map(|projects| projects.get(name).cloned());
        match cached {
            Some(Some(object)) => return Ok(Project::from_object(&object)),
            Some(None) if name == "default" => return Ok(Project::allow_all("default")),
            Some(None) => {
                return Err(ProjectError::Missing {
                    name: name.to_owned(),
                    namespace: self.config.namespace.clone(),
                });
            }
            None => {}
        }
        let api: Api<DynamicObject> = self.argo_api("AppProject", "appprojects");
        match api.get_opt(name).await {
            Ok(Some(object)) => Ok(Project::from_object(&to_value(&object))),
            Ok(None) if name == "default" => Ok(Project::allow_all("default")),
            Ok(None) => Err(ProjectError::Missing {
                name: name.to_owned(),
                namespace: self.config.namespace.clone(),
            }),
            Err(source) => Err(ProjectError::Read {
                name: name.to_owned(),
                source,
            }),
        }
    }

    async fn reconcile_one(
        self: &Arc<Self>,
        name: &str,
        request: &Request,
    ) -> Result<AppStatus, RequestError> {
        let Some(entry) = lock(&self.apps).get(name).cloned() else {
            return Err(RequestError::NotFound(name.to_owned()));
        };
        let started = Instant::now();
        let previous = self.status.get(name);
        let previous_status = previous
            .as_ref()
            .map(|r| r.status.clone())
            .unwrap_or_default();
        let app = match &entry.parsed {
            Ok(app) => app.clone(),
            Err(error) => {
                let status = AppStatus {
                    conditions: vec![Condition {
                        kind: "InvalidSpecError".into(),
                        message: error.to_string(),
                        last_transition_time: Some(now_rfc3339()),
                    }],
                    reconciled_at: Some(now_rfc3339()),
                    ..previous_status
                };
                let record = AppRecord {
                    name: name.to_owned(),
                    namespace: self.config.namespace.clone(),
                    project: String::new(),
                    origin: entry.origin.clone(),
                    labels: metadata_map(&entry.manifest, "labels"),
                    annotations: metadata_map(&entry.manifest, "annotations"),
                    spec: entry.manifest.get("spec").cloned().unwrap_or(Value::Null),
                    status: status.clone(),
                };
                self.write_status(&record, false).await;
                return Ok(status);
            }
        };
        let record_of = |status: AppStatus| AppRecord {
            name: app.name.clone(),
            namespace: app.namespace.clone(),
            project: app.project.clone(),
            origin: entry.origin.clone(),
            labels: metadata_map(&entry.manifest, "labels"),
            annotations: metadata_map(&entry.manifest, "annotations"),
            spec: entry.manifest.get("spec").cloned().unwrap_or(Value::Null),
            status,
        };
        let outcome = match self.project(&app.project).await {
            Err(message) => Outcome {
                status: AppStatus {
                    conditions: vec![Condition {
                        kind: "InvalidSpecError".into(),
                        message: message.to_string(),
                        last_transition_time: Some(now_rfc3339()),
                    }],
                    reconciled_at: Some(now_rfc3339()),
                    ..previous_status.clone()
                },
                ..Outcome::default()
            },
            Ok(project) => match self.clusters.provider_for(&app.destination).await {
                Err(message) => Outcome {
                    status: AppStatus {
                        conditions: vec![Condition {
                            kind: "ComparisonError".into(),
                            message: message.to_string(),
                            last_transition_time: Some(now_rfc3339()),
                        }],
                        reconciled_at: Some(now_rfc3339()),
                        sync: crate::status::SyncState::default(),
                        ..previous_status.clone()
                    },
                    ..Outcome::default()
                },
                Ok((destination, provider)) => {
                    let progress = WriteOnStart {
                        controller: self,
                        record: record_of(AppStatus::default()),
                    };
                    let mut planning = self.planning(name, &app, &entry, &destination, request);
                    let outcome = self
                        .reconciler
                        .reconcile_with(
                            &app,
                            &project,
                            self.counted(&provider, &app.name).await,
                            &previous_status,
                            request,
                            &progress,
                            &mut planning,
                        )
                        .await;
                    self.keep_planner(name, planning);
                    for (api_version, kind) in &outcome.kinds {
                        self.watch_kind(
                            Arc::clone(&provider),
                            destination.clone(),
                            api_version.clone(),
                            kind.clone(),
                        );
                    }
                    outcome
                }
            },
        };
        let record = record_of(outcome.status.clone());
        self.write_status(
            &record,
            entry
                .manifest
                .pointer(&format!(
                    "/metadata/annotations/{}",
                    REFRESH_ANNOTATION.replace('/', "~1")
                ))
                .is_some(),
        )
        .await;
        let took = started.elapsed();
        self.retry_failed_comparison(&app.name, &outcome.status);
        if let Some(refused) = &outcome.sync_refused {
            return Err(RequestError::Refused {
                app: app.name.clone(),
                reason: refused.clone(),
            });
        }
        let observers = lock(&self.observers).clone();
        for observer in observers {
            observer.reconciled(&record, took, &outcome);
        }
        tracing::info!(
            application = %app.name,
            sync = outcome.status.sync.status.as_str(),
            health = %outcome.status.health.status,
            synced = outcome.synced,
            took_ms = took.as_millis() as u64,
            "reconciled"
        );
        Ok(outcome.status)
    }

    /// How the reconcile of `name` plans: with its planner, unless the request, a hard refresh
    /// annotation or the resync interval asks for a full plan.
    fn planning(
        &self,
        name: &str,
        app: &Application,
        entry: &Entry,
        destination: &str,
        request: &Request,
    ) -> Planning {
        let planner = lock(&self.planners).remove(name);
        let hard = entry
            .manifest
            .pointer(&format!(
                "/metadata/annotations/{}",
                REFRESH_ANNOTATION.replace('/', "~1")
            ))
            .and_then(Value::as_str)
            == Some("hard");
        let mut mode = request.replan;
        if hard {
            mode = mode.max(Replan::Hard);
        }
        if planner
            .as_ref()
            .is_some_and(|p| p.created.elapsed() >= self.config.resync_interval)
        {
            mode = mode.max(Replan::Resync);
        }
        Planning {
            cache: self
                .config
                .incremental_planning
                .then(|| Arc::clone(&self.live)),
            planner,
            mode,
            stack: app.stack_name().to_owned(),
            destination: destination.to_owned(),
            stats: lock(&self.plan_stats)
                .get(name)
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// Keeps the planner of `name` for its next reconcile (unless it went meanwhile).
    fn keep_planner(&self, name: &str, mut planning: Planning) {
        let observers = lock(&self.observers).clone();
        for observer in observers {
            observer.planned(name, &planning.stats);
        }
        lock(&self.plan_stats).insert(name.to_owned(), planning.stats.clone());
        if let Some(planner) = planning.planner.take() {
            let apps = lock(&self.apps);
            if apps.contains_key(name) {
                lock(&self.planners).insert(name.to_owned(), planner);
            }
        }
    }

    /// An Application whose comparison failed (a repository that cannot be fetched, a source
    /// that does not render) is tried again with a fetch after 5 s, 10 s, 20 s … up to the
    /// poll interval, instead of waiting for the next poll.
    fn retry_failed_comparison(self: &Arc<Self>, name: &str, status: &AppStatus) {
        let failed = status
            .conditions
            .iter()
            .any(|c| c.kind == "ComparisonError");
        let mut failures = lock(&self.failures);
        if !failed {
            failures.remove(name);
            return;
        }
        let count = failures.entry(name.to_owned()).or_insert(0);
        *count = count.saturating_add(1);
        let delay = Duration::from_secs(5)
            .saturating_mul(1u32 << (*count - 1).min(16))
            .min(self.config.poll_interval);
        drop(failures);
        let me = Arc::clone(self);
        let name = name.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if lock(&me.apps).contains_key(&name) {
                me.enqueue(
                    &name,
                    Request {
                        fetch: true,
                        sync: None,
                        ..Request::default()
                    },
                    None,
                );
            }
        });
    }

    /// Records a status: in the store, on the Application object (cluster-defined ones), and
    /// to the observers.
    async fn write_status(&self, record: &AppRecord, clear_refresh: bool) {
        let written_before = self
            .status
            .get(&record.name)
            .and_then(|r| serde_json::to_value(r.status).ok());
        self.status.put(record.clone());
        if record.origin == AppOrigin::Cluster {
            let api: Api<DynamicObject> = Api::namespaced_with(
                self.client.clone(),
                &record.namespace,
                &argo_resource("Application", "applications"),
            );
            // A merge patch, never a create: an Application deleted meanwhile stays deleted.
            // Fields the new status no longer has are removed (set to null), whether the
            // object showed them or this controller wrote them last.
            let seen = lock(&self.apps)
                .get(&record.name)
                .and_then(|e| e.manifest.get("status").cloned());
            let mut old = seen.unwrap_or(Value::Null);
            if let Some(before) = written_before {
                old = union(&old, &before);
            }
            let new = serde_json::to_value(&record.status).unwrap_or(Value::Null);
            let mut body = json!({"status": merge_patch(&old, &new)});
            if clear_refresh {
                body["metadata"] = json!({"annotations": {REFRESH_ANNOTATION: null}});
            }
            if let Err(error) = api
                .patch(&record.name, &PatchParams::default(), &Patch::Merge(&body))
                .await
            {
                tracing::warn!(application = %record.name, %error, "writing the status");
            }
        }
        let observers = lock(&self.observers).clone();
        for observer in observers {
            observer.status_written(record).await;
        }
    }

    /// Waits until no reconcile is running and none is queued (tests, graceful handovers).
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            {
                let queue = lock(&self.queue);
                if queue.in_flight.is_empty() && queue.pending.is_empty() {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Every known Application's name.
    pub fn applications(&self) -> Vec<String> {
        lock(&self.apps).keys().cloned().collect()
    }
}

/// The JSON merge patch turning `old` into `new`: `new` with every key only `old` has set to
/// `null`, objects compared key by key (arrays are replaced whole).
fn merge_patch(old: &Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let mut patch = new.clone();
            for (key, old_value) in old {
                match new.get(key) {
                    None => {
                        patch.insert(key.clone(), Value::Null);
                    }
                    Some(new_value) => {
                        patch.insert(key.clone(), merge_patch(old_value, new_value));
                    }
                }
            }
            Value::Object(patch)
        }
        _ => new.clone(),
    }
}

/// Every key of `a` and `b` (objects merged key by key, `b` winning elsewhere).
fn union(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            let mut out = a.clone();
            for (key, b_value) in b {
                let merged = match a.get(key) {
                    Some(a_value) => union(a_value, b_value),
                    None => b_value.clone(),
                };
                out.insert(key.clone(), merged);
            }
            Value::Object(out)
        }
        (_, Value::Null) => a.clone(),
        _ => b.clone(),
    }
}

/// Writes the status a sync starts from (OutOfSync, operation Running) before it runs.
struct WriteOnStart<'c> {
    controller: &'c Controller,
    record: AppRecord,
}

#[async_trait::async_trait]
impl crate::reconcile::Progress for WriteOnStart<'_> {
    async fn sync_started(&self, status: &AppStatus) {
        let mut record = self.record.clone();
        record.status = status.clone();
        self.controller.write_status(&record, false).await;
    }
}

/// ArgoCD's finalizer asking that an Application's resources be deleted with it (also with a
/// `/foreground` or `/background` suffix).
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

/// The queue key of the Git root's own refresh.
const ROOT_JOB: &str = "\u{0}git-root";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_patch_removes_what_the_new_status_lacks() {
        let old = json!({"sync": {"status": "Synced", "revision": "a"},
                         "operationState": {"phase": "Succeeded", "finishedAt": "t"},
                         "conditions": [{"type": "X"}]});
        let new = json!({"sync": {"status": "OutOfSync"},
                         "operationState": {"phase": "Running"}});
        assert_eq!(
            merge_patch(&old, &new),
            json!({"sync": {"status": "OutOfSync", "revision": null},
                   "operationState": {"phase": "Running", "finishedAt": null},
                   "conditions": null})
        );
        assert_eq!(
            union(
                &json!({"a": 1, "b": {"c": 1}}),
                &json!({"b": {"d": 2}, "e": 3})
            ),
            json!({"a": 1, "b": {"c": 1, "d": 2}, "e": 3})
        );
    }
}
