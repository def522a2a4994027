//! One Application, reconciled once: fetch its source at `targetRevision`, render it, compare
//! it with its destination through the one engine (plan), and — when its sync policy or a
//! user asks — sync it through the one executor, retrying as its `retry` says. The result is
//! the Application's new status.
//!
//! Nothing of an Application whose source does not render, whose project forbids it, or whose
//! destination is unknown is applied: its status carries a `ComparisonError` (or
//! `InvalidSpecError`) condition naming the file, document and field, and other Applications
//! are unaffected.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use strata_core::executor::{Cancellation, ExecutorConfig, Report};
use strata_core::plan::{Action, Plan, PlanOptions};
use strata_core::source::SourceTree;
use strata_core::state::StateStore;
use strata_core::{Engine, ProviderRegistry, Resource, SourceLocation, State};
use strata_drift::{ArgoCdSettings, DriftNormalizer, DriftRules};
use strata_health::HealthRegistry;
use strata_health::aggregate::{ResourceHealth, aggregate_health};
use strata_k8s::KubeProvider;
use strata_sources::application::{ChildSet, ExpandOptions, Repository};
use strata_sources::helm::repository::ChartRepositories;
use strata_sources::repo::{
    RepoError, RepoSource, RepoUrl, RepositoryCache, RepositoryResolver, redact,
};

use crate::app::{Application, retry_wait};
use crate::checkout::{self, CheckoutError, short};
use crate::planning::{Fingerprint, Planning};
use crate::project::Project;
use crate::status::{
    AppStatus, Condition, HISTORY_LIMIT, HealthState, HistoryEntry, OperationPhase, OperationState,
    ResourceResult, ResourceStatus, SyncResult, SyncState, SyncStatusCode, now_rfc3339,
};

/// Why an Application could not be rendered, compared or have its resources deleted; the
/// text is the `ComparisonError` (or `DeletionError`) condition's message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReconcileError {
    /// `spec.source.repoURL` is not a repository URL.
    #[error("spec.source.repoURL: {0}")]
    RepoUrl(#[source] RepoError),
    /// `spec.sources[index].repoURL` is not a repository URL.
    #[error("spec.sources[{index}].repoURL: {source}")]
    SourceRepoUrl {
        /// The entry of `spec.sources`.
        index: usize,
        /// Why.
        #[source]
        source: RepoError,
    },
    /// A sync of a chosen revision (rollback, `--revision`) of a multi-source Application.
    #[error(
        "spec.sources: syncing a chosen revision (rollback or --revision) of a multi-source Application is not supported"
    )]
    MultiSourceRevision,
    /// Every entry of `spec.sources` is a `ref`: nothing to render.
    #[error("spec.sources: no source to render: every source is a ref")]
    OnlyRefSources,
    /// The repository could not be fetched, its revision resolved or its tree read.
    #[error(transparent)]
    Checkout(Box<CheckoutError>),
    /// A chart's version could not be picked or its archive fetched from its Helm repository
    /// or OCI registry.
    #[error("{field}: chart {chart}: {source}")]
    Chart {
        /// `spec.source` or `spec.sources[i]`.
        field: String,
        /// The chart.
        chart: String,
        /// Why.
        #[source]
        source: Box<strata_sources::helm::repository::ChartRepoError>,
    },
    /// The OCI artifact of an `oci://` repoURL could not be fetched, and the source also gives
    /// a `chart`, which ArgoCD 3 ignores for such a repoURL.
    #[error("{field}: {source}")]
    OciChart {
        /// `spec.source` or `spec.sources[i]`.
        field: String,
        /// Why, with what to write instead.
        #[source]
        source: Box<strata_sources::helm::HelmError>,
    },
    /// The source could not be rendered (or its XRDs and Compositions read).
    #[error(transparent)]
    Render(#[from] strata_sources::application::ExpandError),
    /// An Application's `ignoreDifferences` could not be read.
    #[error(transparent)]
    IgnoreRules(#[from] strata_sources::stack::StackError),
    /// The ignore rules could not be compiled.
    #[error("spec.ignoreDifferences: {0}")]
    IgnoreDifferences(#[source] strata_drift::DriftError),
    /// The cluster's `argocd-cm` settings cannot be used.
    #[error(transparent)]
    Settings(Arc<crate::settings::SettingsError>),
    /// The rendering task stopped before it finished.
    #[error("rendering stopped: {0}")]
    Stopped(#[source] tokio::task::JoinError),
    /// Planning or applying failed.
    #[error(transparent)]
    Engine(Box<strata_core::EngineError>),
    /// A resource of a deleted Application could not be deleted.
    #[error("deleting {key}: {error}")]
    Delete {
        /// The resource.
        key: strata_core::ResourceKey,
        /// The provider's error.
        error: String,
    },
}

impl From<CheckoutError> for ReconcileError {
    fn from(error: CheckoutError) -> Self {
        ReconcileError::Checkout(Box::new(error))
    }
}

impl From<strata_core::EngineError> for ReconcileError {
    fn from(error: strata_core::EngineError) -> Self {
        Self::Engine(Box::new(error))
    }
}

/// Gives the state store an Application's records are kept in (by Application name).
pub type StateStores = Arc<dyn Fn(&Application) -> Arc<dyn StateStore> + Send + Sync>;

/// What one reconcile may do beyond comparing.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Request {
    /// Fetch the repository before resolving the revision (poll, webhook, hard refresh).
    pub fetch: bool,
    /// A sync asked for by a user (`strata app sync`), whatever the policy says.
    pub sync: Option<SyncRequest>,
    /// When the fetch was asked for: a fetch of the same repository that started later
    /// serves it (one fetch per repository per refresh, however many Applications use it).
    pub requested_at: Option<Instant>,
    /// How the reconcile plans (the controller's planner, a resync, a hard refresh).
    pub replan: crate::planning::Replan,
}

/// A sync asked for by a user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncRequest {
    /// Delete what left Git (even without `prune: true`).
    pub prune: bool,
    /// Plan only; change nothing.
    pub dry_run: bool,
    /// Only these resources (`group/Kind:namespace/name` or `Kind/name`); empty: all.
    pub resources: Vec<String>,
    /// Sync this revision instead of `targetRevision` (rollback).
    pub revision: Option<String>,
}

impl SyncRequest {
    /// A sync of everything, pruning as asked.
    pub fn new(prune: bool, dry_run: bool) -> Self {
        Self {
            prune,
            dry_run,
            ..Self::default()
        }
    }
}

/// What a reconcile did, beside the status.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The Application's new status.
    pub status: AppStatus,
    /// A sync ran (or was attempted) in this reconcile.
    pub synced: bool,
    /// How long fetching the repository took, when it was fetched.
    pub fetch_duration: Option<Duration>,
    /// The kinds (apiVersion, kind) the Application manages: the controller watches them for
    /// self-heal.
    pub kinds: Vec<(String, String)>,
    /// Why a sync a user asked for did not run (a sync window), when it did not.
    pub sync_refused: Option<String>,
}

/// Reconciles Applications. Shared by the controller's workers.
#[derive(Clone)]
pub struct Reconciler {
    /// The repository mirrors.
    pub repos: Arc<RepositoryCache>,
    /// The state store of each Application.
    pub stores: StateStores,
    /// ArgoCD's settings (health customizations, diff settings) as the cluster's `argocd-cm`
    /// says now.
    pub settings: Arc<crate::settings::SettingsCell>,
    /// Provider calls in flight per sync.
    pub parallelism: usize,
    /// When each repository's last fetch started, and the scanned catalogs of recent commits.
    pub caches: Arc<RenderCaches>,
    /// When this controller started: a state lock a controller took before it (one that
    /// stopped mid-sync) is stale and released.
    pub started: jiff::Timestamp,
}

/// The operation name prefix of the state locks the controller takes.
pub const OPERATION_PREFIX: &str = "gitops ";

/// What renders share: when each repository was last fetched, and the XRD/Composition
/// catalog of recently rendered commits (scanning a commit once, not once per Application).
#[derive(Debug, Default)]
pub struct RenderCaches {
    fetched: std::sync::Mutex<std::collections::HashMap<String, Instant>>,
    /// The version last picked for each chart source (repository, chart, `targetRevision`):
    /// a range is read from its repository's index again only when a fetch is asked for.
    chart_versions: std::sync::Mutex<std::collections::HashMap<String, String>>,
    /// What the repository Secrets and `argocd-tls-certs-cm` say (chart downloads' settings).
    repo_secrets: std::sync::Mutex<Arc<crate::repo_secrets::RepoSecrets>>,
    catalogs: std::sync::Mutex<
        std::collections::VecDeque<(String, strata_sources::application::Catalog)>,
    >,
}

/// How many commits' catalogs are kept.
const CATALOGS_KEPT: usize = 32;

impl RenderCaches {
    fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a fetch of `repo` started after `since`.
    fn fetched_since(&self, repo: &str, since: Instant) -> bool {
        Self::lock(&self.fetched)
            .get(repo)
            .is_some_and(|started| *started >= since)
    }

    fn record_fetch(&self, repo: &str, started: Instant) {
        Self::lock(&self.fetched).insert(repo.to_owned(), started);
    }

    /// Replaces what the repository Secrets say (the controller reads them at start and at
    /// every poll).
    pub fn set_repo_secrets(&self, secrets: crate::repo_secrets::RepoSecrets) {
        *Self::lock(&self.repo_secrets) = Arc::new(secrets);
    }

    /// What the repository Secrets say now.
    pub fn repo_secrets(&self) -> Arc<crate::repo_secrets::RepoSecrets> {
        Arc::clone(&Self::lock(&self.repo_secrets))
    }

    fn catalog(
        &self,
        key: &str,
        tree: &dyn SourceTree,
    ) -> Result<strata_sources::application::Catalog, ReconcileError> {
        if let Some((_, found)) = Self::lock(&self.catalogs).iter().find(|(k, _)| k == key) {
            return Ok(found.clone());
        }
        let scanned = strata_sources::application::Catalog::scan_tree(tree)
            .map_err(strata_sources::application::ExpandError::from)?;
        let mut kept = Self::lock(&self.catalogs);
        kept.push_back((key.to_owned(), scanned.clone()));
        while kept.len() > CATALOGS_KEPT {
            kept.pop_front();
        }
        Ok(scanned)
    }
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("repos", &self.repos)
            .field("parallelism", &self.parallelism)
            .finish_non_exhaustive()
    }
}

/// A rendered and compared Application.
struct Comparison {
    revision: String,
    revisions: Vec<String>,
    engine: Engine,
    /// Shared with the Application's planner (copied only if a sync changes it).
    plan: Arc<Plan>,
    /// Shared with the Application's planner.
    state: Arc<State>,
    source_types: SourceTypes,
    resources: Vec<ResourceStatus>,
    health: HealthState,
    out_of_sync: bool,
    empty: bool,
    kinds: Vec<(String, String)>,
}

fn condition(kind: &str, message: impl Into<String>) -> Condition {
    Condition {
        kind: kind.to_owned(),
        message: message.into(),
        last_transition_time: Some(now_rfc3339()),
    }
}

fn error_status(previous: &AppStatus, cond: Condition) -> AppStatus {
    AppStatus {
        sync: SyncState {
            status: SyncStatusCode::Unknown,
            revision: previous.sync.revision.clone(),
            revisions: previous.sync.revisions.clone(),
        },
        health: previous.health.clone(),
        operation_state: previous.operation_state.clone(),
        history: previous.history.clone(),
        resources: previous.resources.clone(),
        conditions: vec![cond],
        reconciled_at: Some(now_rfc3339()),
        source_type: previous.source_type.clone(),
        source_types: previous.source_types.clone(),
    }
}

fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

/// Told of the status an Application has when a sync starts (OutOfSync, operation Running),
/// before the sync runs: so users, notifications and the Application object see the drift
/// and the running operation while it runs, even when the sync then repairs it.
#[async_trait::async_trait]
pub trait Progress: Send + Sync {
    /// A sync is about to start; `status` is what the Application is now.
    async fn sync_started(&self, status: &AppStatus);
}

/// A [`Progress`] that is told nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

#[async_trait::async_trait]
impl Progress for NoProgress {
    async fn sync_started(&self, _status: &AppStatus) {}
}

impl Reconciler {
    /// Reconciles `app` once against its destination `provider`, within `project`, starting
    /// from its `previous` status; `progress` is told when a sync starts. Every plan goes
    /// through `Engine::plan` (the controller keeps a planner per Application instead).
    pub async fn reconcile(
        &self,
        app: &Application,
        project: &Project,
        provider: Arc<KubeProvider>,
        previous: &AppStatus,
        request: &Request,
        progress: &dyn Progress,
    ) -> Outcome {
        let mut planning = Planning::default();
        self.reconcile_with(
            app,
            project,
            provider,
            previous,
            request,
            progress,
            &mut planning,
        )
        .await
    }

    /// [`reconcile`](Self::reconcile), planning as `planning` says.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn reconcile_with(
        &self,
        app: &Application,
        project: &Project,
        provider: Arc<KubeProvider>,
        previous: &AppStatus,
        request: &Request,
        progress: &dyn Progress,
        planning: &mut Planning,
    ) -> Outcome {
        if let Err(denied) = project.check_application(app) {
            return Outcome {
                status: error_status(previous, condition("InvalidSpecError", denied.to_string())),
                ..Outcome::default()
            };
        }
        let windows = match crate::windows::parse_windows(&project.sync_windows) {
            Ok(w) => w,
            Err(e) => {
                return Outcome {
                    status: error_status(
                        previous,
                        condition("InvalidSpecError", format!("project {}: {e}", project.name)),
                    ),
                    ..Outcome::default()
                };
            }
        };
        let settings = match self.settings.current() {
            Ok(settings) => settings,
            Err(invalid) => {
                return Outcome {
                    status: error_status(
                        previous,
                        condition(
                            "ComparisonError",
                            ReconcileError::Settings(invalid).to_string(),
                        ),
                    ),
                    ..Outcome::default()
                };
            }
        };
        let revision_override = request.sync.as_ref().and_then(|s| s.revision.clone());
        let started = Instant::now();
        let fetch = request
            .fetch
            .then(|| request.requested_at.unwrap_or_else(Instant::now));
        let fetched = self
            .fetch_and_render(app, fetch, revision_override.as_deref(), &settings)
            .await;
        let fetch_duration = request.fetch.then(|| started.elapsed());
        let Rendered {
            revision,
            revisions,
            resources: desired,
            source_types,
            rules,
            ignore,
        } = match fetched {
            Ok(found) => found,
            Err(message) => {
                return Outcome {
                    status: error_status(
                        previous,
                        condition("ComparisonError", message.to_string()),
                    ),
                    fetch_duration,
                    ..Outcome::default()
                };
            }
        };
        let is_cluster_scoped =
            |group: &str, kind: &str| strata_sources::application::is_cluster_scoped(group, kind);
        if let Err(denied) = project.check_resources(app, &desired, is_cluster_scoped) {
            return Outcome {
                status: error_status(previous, condition("InvalidSpecError", denied.to_string())),
                fetch_duration,
                ..Outcome::default()
            };
        }
        provider.serve_kinds_of_crds(&desired);
        let fingerprint = Fingerprint {
            spec: app.manifest.get("spec").cloned().unwrap_or(Value::Null),
            destination: planning.destination.clone(),
            diff: settings.diff.clone(),
            ignore,
            crds: desired
                .iter()
                .filter(|r| {
                    r.key.group == "apiextensions.k8s.io"
                        && r.key.kind == "CustomResourceDefinition"
                })
                .map(|r| r.manifest.clone())
                .collect(),
        };
        let comparison = match self
            .compare(
                app,
                &provider,
                &desired,
                (&revision, &revisions),
                &source_types,
                (&rules, &settings.health),
                (planning, &fingerprint),
            )
            .await
        {
            Ok(c) => c,
            Err(message) => {
                return Outcome {
                    status: error_status(
                        previous,
                        condition("ComparisonError", message.to_string()),
                    ),
                    fetch_duration,
                    ..Outcome::default()
                };
            }
        };
        let compared = self.status_of(previous, &comparison, Vec::new());
        let kinds = comparison.kinds.clone();
        let decision = decide(app, previous, &comparison, request.sync.as_ref());
        let sync = match decision {
            Decision::Sync(sync) => {
                let manual = request.sync.is_some();
                if let Some(why) =
                    crate::windows::blocked(&windows, app, manual, jiff::Timestamp::now())
                {
                    let message = format!("sync blocked: {why}");
                    let mut status = compared;
                    status.conditions = vec![condition("SyncError", message.clone())];
                    return Outcome {
                        status,
                        fetch_duration,
                        kinds,
                        sync_refused: manual.then_some(message),
                        ..Outcome::default()
                    };
                }
                sync
            }
            Decision::Skip(conditions) => {
                let mut status = compared;
                status.conditions = conditions;
                return Outcome {
                    status,
                    fetch_duration,
                    kinds,
                    ..Outcome::default()
                };
            }
        };
        let mut running = compared;
        let started_at = now_rfc3339();
        running.operation_state = Some(OperationState {
            phase: OperationPhase::Running,
            message: "one or more tasks are running".into(),
            started_at: started_at.clone(),
            finished_at: None,
            retry_count: 0,
            sync_result: None,
        });
        progress.sync_started(&running).await;
        let operation = self
            .sync(
                app,
                &provider,
                comparison,
                &desired,
                &sync,
                &rules,
                &settings.health,
                &started_at,
                (planning, &fingerprint),
            )
            .await;
        // Compare again (the same rendered set): the status shows the cluster as the sync
        // left it.
        let after = self
            .compare(
                app,
                &provider,
                &desired,
                (&operation.revision, &operation.revisions),
                &source_types,
                (&rules, &settings.health),
                (planning, &fingerprint),
            )
            .await;
        let mut status = match &after {
            Ok(c) => self.status_of(previous, c, Vec::new()),
            Err(message) => {
                error_status(previous, condition("ComparisonError", message.to_string()))
            }
        };
        let succeeded = operation.state.phase == OperationPhase::Succeeded;
        if succeeded && !sync.dry_run {
            let id = previous.history.last().map_or(0, |h| h.id + 1);
            status.history.push(HistoryEntry {
                id,
                revision: operation.revision.clone(),
                revisions: operation.revisions.clone(),
                deployed_at: operation
                    .state
                    .finished_at
                    .clone()
                    .unwrap_or_else(now_rfc3339),
                source: if app.is_multi_source() {
                    Value::Null
                } else {
                    app.source_summary()
                },
                sources: app.sources_summary(),
            });
            let excess = status.history.len().saturating_sub(HISTORY_LIMIT);
            status.history.drain(..excess);
        }
        if !succeeded {
            status
                .conditions
                .push(condition("SyncError", operation.state.message.clone()));
        }
        status.operation_state = Some(operation.state);
        Outcome {
            status,
            synced: true,
            fetch_duration,
            kinds,
            sync_refused: None,
        }
    }

    /// Deletes everything `app` manages (its state's resources), as ArgoCD does for an
    /// Application deleted with the resources finalizer: dependents first, hooks left alone.
    pub async fn delete_resources(
        &self,
        app: &Application,
        provider: Arc<KubeProvider>,
    ) -> Result<usize, ReconcileError> {
        let engine = self.engine(app, &provider, &DriftRules::default());
        let options = PlanOptions::new(app.stack_name().to_owned()).with_destroy(true);
        let (plan, state) = engine.plan(Vec::<Resource>::new(), &options).await?;
        let deletions = plan
            .changes
            .iter()
            .filter(|c| c.action == Action::Delete)
            .count();
        if deletions == 0 {
            return Ok(0);
        }
        self.release_stale_lock(&engine, app).await;
        let report = engine
            .apply(
                &plan,
                state,
                &format!("{OPERATION_PREFIX}delete {}", app.name),
                Arc::new(|_event| {}),
                Cancellation::never(),
            )
            .await?;
        if let Some((key, error)) = report.failed.first() {
            return Err(ReconcileError::Delete {
                key: key.clone(),
                error: error.clone(),
            });
        }
        Ok(deletions)
    }

    /// Releases the state lock a controller left when it stopped mid-sync: one taken by a
    /// controller operation before this controller started (only one controller works at a
    /// time, by leader election). Any other lock is left to the apply to report.
    async fn release_stale_lock(&self, engine: &Engine, app: &Application) {
        let Ok(Some(holder)) = engine.store.lock_info().await else {
            return;
        };
        let stale = holder.operation.starts_with(OPERATION_PREFIX)
            && holder
                .created
                .parse::<jiff::Timestamp>()
                .is_ok_and(|created| created < self.started);
        if stale {
            tracing::warn!(application = %app.name, operation = %holder.operation, taken = %holder.created,
                "releasing the state lock a stopped controller left");
            if let Err(error) = engine.store.force_unlock(&holder.id).await {
                tracing::warn!(application = %app.name, %error, "releasing a stale state lock");
            }
        }
    }

    /// Fetches (when asked), resolves the revision and renders the source.
    async fn fetch_and_render(
        &self,
        app: &Application,
        fetch: Option<Instant>,
        revision: Option<&str>,
        settings: &Arc<crate::settings::Settings>,
    ) -> Result<Rendered, ReconcileError> {
        let repos = Arc::clone(&self.repos);
        let caches = Arc::clone(&self.caches);
        let app = app.clone();
        let revision = revision.map(str::to_owned);
        let settings = Arc::clone(settings);
        tokio::task::spawn_blocking(move || {
            render(
                &repos,
                &caches,
                &app,
                fetch,
                revision.as_deref(),
                &settings.diff,
            )
        })
        .await
        .map_err(ReconcileError::Stopped)?
    }

    fn engine(
        &self,
        app: &Application,
        provider: &Arc<KubeProvider>,
        rules: &DriftRules,
    ) -> Engine {
        Engine {
            registry: ProviderRegistry::new()
                .with_provider(Arc::clone(provider) as Arc<dyn strata_core::Provider>),
            normalizer: Arc::new(DriftNormalizer::new(rules.clone())),
            store: (self.stores)(app),
            config: ExecutorConfig::default()
                .with_parallelism(self.parallelism.max(1))
                .with_sync(
                    strata_core::sync::SyncPlanOptions::default()
                        .with_prune_last(app.sync.has_option("PruneLast=true")),
                ),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn compare(
        &self,
        app: &Application,
        provider: &Arc<KubeProvider>,
        desired: &[Resource],
        (revision, revisions): (&str, &[String]),
        source_types: &SourceTypes,
        (rules, health): (&DriftRules, &HealthRegistry),
        (planning, fingerprint): (&mut Planning, &Fingerprint),
    ) -> Result<Comparison, ReconcileError> {
        let engine = self.engine(app, provider, rules);
        let empty = desired
            .iter()
            .all(|r| strata_core::sync::is_hook(&r.manifest));
        let options = PlanOptions::new(app.stack_name().to_owned()).with_keep_live(true);
        let (plan, state) = planning
            .plan(&engine, desired, &options, fingerprint.clone())
            .await?;
        let mut resources = Vec::new();
        let mut healths = Vec::new();
        let mut kinds: Vec<(String, String)> = Vec::new();
        for change in &plan.changes {
            let manifest = change.resource.as_ref().map(|r| &r.manifest);
            if manifest.is_some_and(strata_core::sync::is_hook) {
                continue;
            }
            let kind_pair = (change.api_version.clone(), change.key.kind.to_string());
            if !kinds.contains(&kind_pair) {
                kinds.push(kind_pair);
            }
            let entry = ResourceHealth::from_objects(manifest, change.live.as_deref(), health);
            let health = entry.health.map(|h| HealthState {
                status: h.to_string(),
                message: entry.message.clone(),
            });
            healths.push(entry);
            let (_, version) = split_api_version(&change.api_version);
            resources.push(ResourceStatus {
                group: change.key.group.to_string(),
                version: version.to_owned(),
                kind: change.key.kind.to_string(),
                namespace: change
                    .key
                    .namespace
                    .as_deref()
                    .unwrap_or_default()
                    .to_owned(),
                name: change.key.name.to_string(),
                status: if change.action == Action::NoOp {
                    SyncStatusCode::Synced
                } else {
                    SyncStatusCode::OutOfSync
                },
                health,
                requires_pruning: change.action == Action::Delete,
            });
        }
        let aggregate = aggregate_health(&healths);
        let health = HealthState {
            status: aggregate.status.to_string(),
            message: (!aggregate.causes_message.is_empty()).then_some(aggregate.causes_message),
        };
        let out_of_sync = plan.has_changes();
        Ok(Comparison {
            revision: revision.to_owned(),
            revisions: revisions.to_vec(),
            engine,
            plan,
            state,
            source_types: source_types.clone(),
            resources,
            health,
            out_of_sync,
            empty,
            kinds,
        })
    }

    fn status_of(
        &self,
        previous: &AppStatus,
        comparison: &Comparison,
        conditions: Vec<Condition>,
    ) -> AppStatus {
        AppStatus {
            sync: SyncState {
                status: if comparison.out_of_sync {
                    SyncStatusCode::OutOfSync
                } else {
                    SyncStatusCode::Synced
                },
                revision: (!comparison.revision.is_empty()).then(|| comparison.revision.clone()),
                revisions: comparison.revisions.clone(),
            },
            health: comparison.health.clone(),
            operation_state: previous.operation_state.clone(),
            history: previous.history.clone(),
            resources: comparison.resources.clone(),
            conditions,
            reconciled_at: Some(now_rfc3339()),
            source_type: comparison.source_types.source_type.clone(),
            source_types: comparison.source_types.per_source.clone(),
        }
    }

    /// Applies the comparison's plan, retrying as the Application's `retry` says.
    #[allow(clippy::too_many_arguments)]
    async fn sync(
        &self,
        app: &Application,
        provider: &Arc<KubeProvider>,
        comparison: Comparison,
        desired: &[Resource],
        sync: &SyncRequest,
        rules: &DriftRules,
        health: &HealthRegistry,
        started_at: &str,
        (planning, fingerprint): (&mut Planning, &Fingerprint),
    ) -> Operation {
        let revision = comparison.revision.clone();
        let revisions = comparison.revisions.clone();
        let prune = sync.prune || app.sync.prune;
        let mut comparison = comparison;
        let mut retries = 0u32;
        let mut creations_checked = false;
        loop {
            let mut plan = sync_plan(&comparison.plan, prune, &sync.resources);
            if app.sync.has_option("RespectIgnoreDifferences=true") {
                respect_ignored(&mut plan, rules);
            }
            // A plan may take an object as missing from the watch cache, which sees only
            // labelled objects: one created since without the label would be taken over by
            // the apply. Each object to be created is read first; any that exists is planned
            // again from what the API server returns (the ownership guard then speaks).
            let mut existing = Vec::new();
            if !sync.dry_run && !creations_checked {
                creations_checked = true;
                existing = match existing_creations(&comparison.engine, &plan).await {
                    Ok(existing) => existing,
                    Err(e) => {
                        return Operation {
                            state: finished(
                                OperationPhase::Error,
                                e.to_string(),
                                started_at,
                                retries,
                                Vec::new(),
                                (&comparison.revision, &comparison.revisions),
                            ),
                            revision,
                            revisions,
                        };
                    }
                };
            }
            if existing.is_empty() {
                if sync.dry_run {
                    return Operation {
                        state: finished(
                            OperationPhase::Succeeded,
                            "successfully synced (dry run)".into(),
                            started_at,
                            retries,
                            results_of_plan(&plan),
                            (&comparison.revision, &comparison.revisions),
                        ),
                        revision,
                        revisions,
                    };
                }
                self.release_stale_lock(&comparison.engine, app).await;
                let applied = comparison
                    .engine
                    .apply(
                        &plan,
                        State::clone(&comparison.state),
                        &format!("{OPERATION_PREFIX}sync {}", app.name),
                        Arc::new(|_event| {}),
                        Cancellation::never(),
                    )
                    .await;
                planning.applied(
                    plan.changes
                        .iter()
                        .filter(|c| c.action != Action::NoOp)
                        .map(|c| &c.key),
                );
                let (phase, message, results) = match applied {
                    Ok(report) => outcome_of(&plan, &report),
                    Err(e) => (OperationPhase::Error, e.to_string(), Vec::new()),
                };
                let retry = app.retry.filter(|r| {
                    phase != OperationPhase::Succeeded
                        && strata_drift::backoff::retry_allowed(r.limit, retries)
                });
                let Some(retry) = retry else {
                    return Operation {
                        state: finished(
                            phase,
                            message,
                            started_at,
                            retries,
                            results,
                            (&comparison.revision, &comparison.revisions),
                        ),
                        revision,
                        revisions,
                    };
                };
                retries += 1;
                tracing::info!(application = %app.name, retry = retries, "sync failed: {message}; retrying");
                tokio::time::sleep(retry_wait(&retry, retries)).await;
            } else {
                tracing::info!(
                    application = %app.name,
                    objects = existing.len(),
                    "objects planned for creation exist on the cluster; planning again"
                );
                planning.read_again(existing.iter());
            }
            let again = async {
                provider.serve_kinds_of_crds(desired);
                self.compare(
                    app,
                    provider,
                    desired,
                    (&revision, &revisions),
                    &comparison.source_types,
                    (rules, health),
                    (&mut *planning, fingerprint),
                )
                .await
            };
            comparison = match again.await {
                Ok(c) => c,
                Err(e) => {
                    return Operation {
                        revision,
                        revisions,
                        state: finished(
                            OperationPhase::Error,
                            e.to_string(),
                            started_at,
                            retries,
                            Vec::new(),
                            ("", &[]),
                        ),
                    };
                }
            };
        }
    }
}

/// The objects `plan` would create that exist on the cluster now, read through the provider
/// each is routed to (at most the engine's parallelism at a time).
async fn existing_creations(
    engine: &Engine,
    plan: &Plan,
) -> Result<Vec<strata_core::ResourceKey>, ExistingCheckError> {
    use futures::StreamExt as _;
    let mut creations: Vec<(&Resource, Arc<dyn strata_core::provider::Provider>)> = Vec::new();
    for change in &plan.changes {
        if change.action != Action::Create {
            continue;
        }
        // A resource no provider serves is not created: the plan reports it.
        if let Some(resource) = change.resource.as_ref()
            && let Ok(provider) = engine.registry.route(resource)
        {
            creations.push((resource, provider));
        }
    }
    let limit = engine.config.parallelism.max(1);
    let mut creations = creations.into_iter();
    // A loop rather than stream combinators: closures returning futures that borrow would not
    // be `Send` for every lifetime, which the controller's spawned workers need.
    let mut running = futures::stream::FuturesUnordered::new();
    let mut existing = Vec::new();
    loop {
        while running.len() < limit {
            let Some((resource, provider)) = creations.next() else {
                break;
            };
            running.push(read_before_creating(resource, provider));
        }
        let Some((key, observed)) = running.next().await else {
            break;
        };
        match observed {
            Ok(observation) if observation.live.is_some() => existing.push(key),
            Ok(_) => {}
            Err(source) => return Err(ExistingCheckError { key, source }),
        }
    }
    existing.sort();
    Ok(existing)
}

async fn read_before_creating(
    resource: &Resource,
    provider: Arc<dyn strata_core::provider::Provider>,
) -> (
    strata_core::ResourceKey,
    Result<strata_core::provider::Observation, strata_core::provider::ProviderError>,
) {
    (resource.key.clone(), provider.observe(resource).await)
}

/// An object to be created could not be read before the sync.
#[derive(Debug, thiserror::Error)]
#[error("reading {key} before creating it: {source}")]
struct ExistingCheckError {
    key: strata_core::ResourceKey,
    #[source]
    source: strata_core::provider::ProviderError,
}

/// A finished sync.
struct Operation {
    revision: String,
    revisions: Vec<String>,
    state: OperationState,
}

fn finished(
    phase: OperationPhase,
    message: String,
    started_at: &str,
    retry_count: u32,
    resources: Vec<ResourceResult>,
    (revision, revisions): (&str, &[String]),
) -> OperationState {
    OperationState {
        phase,
        message,
        started_at: started_at.to_owned(),
        finished_at: Some(now_rfc3339()),
        retry_count,
        sync_result: Some(SyncResult {
            revision: revision.to_owned(),
            revisions: revisions.to_vec(),
            resources,
        }),
    }
}

/// The plan a sync applies: deletions only when pruning, and only the resources asked for.
fn sync_plan(plan: &Plan, prune: bool, only: &[String]) -> Plan {
    let mut plan = plan.clone();
    plan.changes.retain(|c| {
        (prune || c.action != Action::Delete)
            && (only.is_empty() || only.iter().any(|o| resource_matches(o, &c.key)))
    });
    plan
}

/// `RespectIgnoreDifferences=true`: the fields the ignore rules hide keep their live values.
fn respect_ignored(plan: &mut Plan, rules: &DriftRules) {
    for change in &mut plan.changes {
        if change.action != Action::Update {
            continue;
        }
        if let (Some(resource), Some(live)) = (change.resource.as_mut(), change.live.as_ref()) {
            resource.manifest =
                strata_drift::respect_ignore_differences(&resource.manifest, Some(live), rules);
        }
    }
}

/// Whether `pattern` (`group/Kind:namespace/name`, `Kind:namespace/name`, `Kind/name` or the
/// key's own text) names `key`.
fn resource_matches(pattern: &str, key: &strata_core::ResourceKey) -> bool {
    if pattern == key.to_string() {
        return true;
    }
    let namespace = key.namespace.as_deref().unwrap_or("");
    let forms = [
        format!("{}/{}:{}/{}", key.group, key.kind, namespace, key.name),
        format!("{}/{}/{}/{}", key.group, key.kind, namespace, key.name),
        format!("{}:{}/{}", key.kind, namespace, key.name),
        format!("{}/{}", key.kind, key.name),
    ];
    forms.iter().any(|f| f == pattern)
}

fn result_of(
    change: &strata_core::plan::ResourceChange,
    status: &str,
    message: String,
) -> ResourceResult {
    let (_, version) = split_api_version(&change.api_version);
    let manifest = change.resource.as_ref().map(|r| &r.manifest);
    let hook_type = manifest
        .filter(|m| strata_core::sync::is_hook(m))
        .and_then(|m| {
            m.pointer("/metadata/annotations/argocd.argoproj.io~1hook")
                .or_else(|| m.pointer("/metadata/annotations/helm.sh~1hook"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
    let sync_phase = hook_type
        .as_deref()
        .map(|h| h.split(',').next().unwrap_or("Sync").trim().to_owned())
        .filter(|p| ["PreSync", "Sync", "PostSync", "SyncFail"].contains(&p.as_str()))
        .unwrap_or_else(|| "Sync".into());
    ResourceResult {
        group: change.key.group.to_string(),
        version: version.to_owned(),
        kind: change.key.kind.to_string(),
        namespace: change
            .key
            .namespace
            .as_deref()
            .unwrap_or_default()
            .to_owned(),
        name: change.key.name.to_string(),
        status: status.to_owned(),
        message,
        sync_phase,
        hook_type,
    }
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::NoOp => "unchanged",
        Action::Create => "created",
        Action::Update => "configured",
        Action::Delete => "pruned",
        _ => "replaced",
    }
}

fn results_of_plan(plan: &Plan) -> Vec<ResourceResult> {
    plan.changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| {
            let status = if c.action == Action::Delete {
                "Pruned"
            } else {
                "Synced"
            };
            result_of(c, status, format!("{} (dry run)", verb(c.action)))
        })
        .collect()
}

fn outcome_of(plan: &Plan, report: &Report) -> (OperationPhase, String, Vec<ResourceResult>) {
    let mut results = Vec::new();
    for change in &plan.changes {
        let key = &change.key;
        if let Some((_, error)) = report.failed.iter().find(|(k, _)| k == key) {
            results.push(result_of(change, "SyncFailed", error.clone()));
        } else if let Some((_, why)) = report.skipped.iter().find(|(k, _)| k == key) {
            results.push(result_of(change, "Skipped", why.clone()));
        } else if let Some((_, why)) = report.left_alone.iter().find(|(k, _)| k == key) {
            let status = if change.action == Action::Delete {
                "PruneSkipped"
            } else {
                "Skipped"
            };
            results.push(result_of(change, status, why.clone()));
        } else if report.succeeded.contains(key) && change.action != Action::NoOp {
            let status = if change.action == Action::Delete {
                "Pruned"
            } else {
                "Synced"
            };
            results.push(result_of(change, status, verb(change.action).to_owned()));
        }
    }
    if report.is_success() {
        (
            OperationPhase::Succeeded,
            "successfully synced (all tasks run)".into(),
            results,
        )
    } else {
        let first = report
            .failed
            .first()
            .map(|(k, e)| format!(", reason: {k}: {e}"))
            .unwrap_or_default();
        (
            OperationPhase::Failed,
            format!("one or more synchronization tasks completed unsuccessfully{first}"),
            results,
        )
    }
}

/// Whether to sync now.
enum Decision {
    Sync(SyncRequest),
    Skip(Vec<Condition>),
}

/// ArgoCD's automated-sync rules: a user's sync always runs; otherwise only automated
/// Applications sync, only when out of sync, once per revision unless `selfHeal`, never to
/// an empty set unless `allowEmpty`.
fn decide(
    app: &Application,
    previous: &AppStatus,
    comparison: &Comparison,
    asked: Option<&SyncRequest>,
) -> Decision {
    if let Some(asked) = asked {
        return Decision::Sync(asked.clone());
    }
    if !app.sync.automated || !comparison.out_of_sync {
        return Decision::Skip(Vec::new());
    }
    let last = previous.operation_state.as_ref();
    let already_attempted = last
        .and_then(|o| o.sync_result.as_ref())
        .is_some_and(|r| r.revision == comparison.revision && r.revisions == comparison.revisions);
    if already_attempted {
        let failed = last.is_some_and(|o| o.phase != OperationPhase::Succeeded);
        if failed {
            // The failed attempt was retried as `retry` allows; a new commit tries again.
            return Decision::Skip(vec![condition(
                "SyncError",
                format!(
                    "the last sync of {} failed; waiting for a new revision or a manual sync",
                    shown_revisions(&comparison.revision, &comparison.revisions)
                ),
            )]);
        }
        if !app.sync.self_heal {
            // Changed in the cluster after a successful sync: reported, not reverted.
            return Decision::Skip(Vec::new());
        }
    }
    if comparison.empty && !app.allow_empty {
        return Decision::Skip(vec![condition(
            "SyncError",
            "skipping the automated sync: it would delete every resource (set syncPolicy.automated.allowEmpty)",
        )]);
    }
    Decision::Sync(SyncRequest::new(app.sync.prune, false))
}

/// A rendered Application.
struct Rendered {
    /// The commit rendered (single source; empty for a multi-source Application).
    revision: String,
    /// The commits rendered, one per entry of `spec.sources` (multi-source Applications).
    revisions: Vec<String>,
    resources: Vec<Resource>,
    source_types: SourceTypes,
    rules: DriftRules,
    /// The ignore rules the rendered Applications carry (what `rules` was compiled from,
    /// beside the diff settings).
    ignore: Vec<strata_drift::IgnoreDifference>,
}

/// The type of what was rendered, as ArgoCD reports it: `status.sourceType` for a single
/// source, `status.sourceTypes` (one per entry of `spec.sources`, `""` for a source that is only
/// a `ref`) for a multi-source Application.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct SourceTypes {
    /// `status.sourceType` (single source).
    source_type: Option<String>,
    /// `status.sourceTypes` (multi-source).
    per_source: Vec<String>,
}

/// A revision (or the revisions of a multi-source Application) as messages show it.
fn shown_revisions(revision: &str, revisions: &[String]) -> String {
    if revisions.is_empty() {
        short(revision).to_owned()
    } else {
        revisions
            .iter()
            .map(|r| short(r))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The trees the entries of `spec.sources` were checked out at: the expander reads each
/// source's `repoURL` at its `targetRevision` from here, never from the network; and the chart
/// downloads of its `chart:` sources.
struct CheckedOut {
    /// `repoURL`, `targetRevision` as written (`""` when none) and the tree.
    trees: Vec<(String, String, Arc<dyn SourceTree>)>,
    /// Where `chart:` sources are read from (each version already picked and cached).
    charts: ChartRepositories,
}

impl std::fmt::Debug for CheckedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.trees
                    .iter()
                    .map(|(url, revision, _)| format!("{} at {revision}", redact(url))),
            )
            .finish()
    }
}

impl RepositoryResolver for CheckedOut {
    fn resolve(&self, repo_url: &str, revision: &str) -> Result<RepoSource, RepoError> {
        let wanted = |written: &str| {
            written == revision
                || (revision.is_empty() && written == "HEAD")
                || (written.is_empty() && revision == "HEAD")
        };
        self.trees
            .iter()
            .find(|(url, written, _)| url == repo_url && wanted(written))
            .map(|(_, _, tree)| RepoSource::Tree(Arc::clone(tree)))
            .ok_or_else(|| RepoError::Unresolvable {
                url: redact(repo_url),
            })
    }

    fn chart_cache_dir(&self) -> Option<std::path::PathBuf> {
        Some(self.charts.cache_dir.clone())
    }

    fn chart_repositories(&self) -> Option<ChartRepositories> {
        Some(self.charts.clone())
    }
}

/// Fetches `url` when asked and no fetch of it started since.
fn fetch_if_asked(
    repos: &RepositoryCache,
    caches: &RenderCaches,
    url: &RepoUrl,
    shown: &str,
    fetch: Option<Instant>,
) -> Result<(), ReconcileError> {
    if let Some(since) = fetch
        && !caches.fetched_since(url.key(), since)
    {
        let started = Instant::now();
        checkout::fetch(repos, url, shown)?;
        caches.record_fetch(url.key(), started);
    }
    Ok(())
}

fn source_type_of(tree: &dyn SourceTree, source: &crate::app::Source) -> &'static str {
    let path = source.path.trim_start_matches("./");
    if source.is_chart()
        || strata_sources::helm::application::is_helm_source(tree, path, &source.raw)
    {
        "Helm"
    } else if strata_sources::kustomize::is_kustomization_dir(tree, path) {
        "Kustomize"
    } else {
        "Directory"
    }
}

/// `targetRevision` as written (`""` when none): for a chart, the version or range.
fn written_revision(source: &crate::app::Source) -> &str {
    source
        .raw
        .get("targetRevision")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The chart downloads of `app`'s `chart:` sources: archives kept (by digest) in
/// `<repository cache>/helm-charts`, each repository reached as the repository Secrets and
/// `argocd-tls-certs-cm` say.
fn chart_repositories(
    repos: &RepositoryCache,
    caches: &RenderCaches,
    app: &Application,
) -> ChartRepositories {
    let secrets = caches.repo_secrets();
    let mut charts = ChartRepositories::new(repos.dir().join("helm-charts"));
    for source in app.all_sources().iter().filter(|s| s.is_chart()) {
        charts = charts.with_settings(&source.repo_url, secrets.chart_settings(&source.repo_url));
    }
    charts
}

/// The version of `source`'s chart to render (the revision reported): an exact version is
/// read from the cache once fetched (released versions do not change); a range is matched
/// against the repository's index (or the registry's tags) when a fetch is asked for (poll,
/// hard refresh, a changed spec) or none was picked yet, else the version last picked stays.
fn chart_version(
    charts: &ChartRepositories,
    caches: &RenderCaches,
    source: &crate::app::Source,
    field: &str,
    fetch: Option<Instant>,
) -> Result<String, ReconcileError> {
    let (repo_url, chart) = strata_sources::helm::application::chart_location(
        &source.repo_url,
        source.chart.as_deref(),
    );
    let chart = chart.as_str();
    let wanted = written_revision(source);
    let key = format!("chart\0{repo_url}\0{chart}\0{wanted}");
    let stale = fetch.is_some_and(|since| !caches.fetched_since(&key, since));
    let known = RenderCaches::lock(&caches.chart_versions)
        .get(&key)
        .cloned();
    if let (Some(version), false) = (known, stale) {
        return Ok(version);
    }
    let started = Instant::now();
    let fetched = charts
        .fetch(&repo_url, chart, wanted)
        .map_err(|error| match &source.chart {
            Some(written) if source.repo_url.starts_with("oci://") => ReconcileError::OciChart {
                field: field.to_owned(),
                source: Box::new(strata_sources::helm::HelmError::OciChartIgnored {
                    repo_url: redact(&source.repo_url),
                    chart: written.clone(),
                    source: Box::new(error),
                }),
            },
            _ => ReconcileError::Chart {
                field: field.to_owned(),
                chart: chart.to_owned(),
                source: Box::new(error),
            },
        })?;
    caches.record_fetch(&key, started);
    RenderCaches::lock(&caches.chart_versions).insert(key, fetched.version.clone());
    Ok(fetched.version)
}

/// `app`'s manifest with the chart source at `pointer` (`/spec/source`, `/spec/sources/0`)
/// pinned to `version`: the expander then reads the archive picked from the cache.
fn pin_chart_version(manifest: &mut Value, pointer: &str, version: &str) {
    if let Some(source) = manifest.pointer_mut(pointer).and_then(Value::as_object_mut) {
        source.insert("targetRevision".into(), Value::from(version));
    }
}

/// Fetches, resolves and renders `app`'s source (blocking: git, chart downloads and file
/// reads).
fn render(
    repos: &RepositoryCache,
    caches: &RenderCaches,
    app: &Application,
    fetch: Option<Instant>,
    revision: Option<&str>,
    diff_settings: &ArgoCdSettings,
) -> Result<Rendered, ReconcileError> {
    if app.is_multi_source() {
        return render_multi_source(repos, caches, app, fetch, revision, diff_settings);
    }
    if app.source.is_chart() {
        return render_chart(repos, caches, app, fetch, revision, diff_settings);
    }
    let shown = redact(&app.source.repo_url);
    let url = RepoUrl::parse(&app.source.repo_url).map_err(ReconcileError::RepoUrl)?;
    fetch_if_asked(repos, caches, &url, &shown, fetch)?;
    let wanted = revision.unwrap_or(&app.source.target_revision);
    let (commit, tree) = checkout::resolve_tree(repos, &url, &shown, wanted)?;
    let options = ExpandOptions::default()
        .with_namespace(app.namespace.clone())
        .with_repository(Some(Repository {
            tree: Arc::clone(&tree),
            prefix: String::new(),
        }));
    let source_type = source_type_of(tree.as_ref(), &app.source);
    let catalog = caches.catalog(&format!("{}@{commit}", url.key()), tree.as_ref())?;
    let (resources, rules, ignore) =
        expand(app, &app.manifest, tree, &options, catalog, diff_settings)?;
    Ok(Rendered {
        revision: commit,
        revisions: Vec::new(),
        resources,
        source_types: SourceTypes {
            source_type: Some(source_type.to_owned()),
            per_source: Vec::new(),
        },
        rules,
        ignore,
    })
}

/// Renders a single-source Application whose source is a chart of a Helm repository or an OCI
/// registry; the revision is the chart version (as ArgoCD reports it). A chosen revision
/// (rollback) is a chart version.
fn render_chart(
    repos: &RepositoryCache,
    caches: &RenderCaches,
    app: &Application,
    fetch: Option<Instant>,
    revision: Option<&str>,
    diff_settings: &ArgoCdSettings,
) -> Result<Rendered, ReconcileError> {
    let charts = chart_repositories(repos, caches, app);
    let mut source = app.source.clone();
    if let Some(chosen) = revision {
        source.raw["targetRevision"] = Value::from(chosen);
    }
    let version = chart_version(&charts, caches, &source, "spec.source", fetch)?;
    let mut manifest = app.manifest.clone();
    pin_chart_version(&mut manifest, "/spec/source", &version);
    let tree: Arc<dyn SourceTree> = Arc::new(strata_core::source::MemoryTree::new());
    let options = ExpandOptions::default()
        .with_namespace(app.namespace.clone())
        .with_repositories(Some(Arc::new(CheckedOut {
            trees: Vec::new(),
            charts,
        })));
    let catalog = caches.catalog("", tree.as_ref())?;
    let (resources, rules, ignore) =
        expand(app, &manifest, tree, &options, catalog, diff_settings)?;
    Ok(Rendered {
        revision: version,
        revisions: Vec::new(),
        resources,
        source_types: SourceTypes {
            source_type: Some("Helm".to_owned()),
            per_source: Vec::new(),
        },
        rules,
        ignore,
    })
}

/// Renders a multi-source Application: every entry of `spec.sources` checked out at its
/// `targetRevision` (each repository fetched once) or, for a chart, its version picked, then
/// rendered as the plan path renders it (`$ref/...` value files read from the `ref` sources'
/// trees).
fn render_multi_source(
    repos: &RepositoryCache,
    caches: &RenderCaches,
    app: &Application,
    fetch: Option<Instant>,
    revision: Option<&str>,
    diff_settings: &ArgoCdSettings,
) -> Result<Rendered, ReconcileError> {
    if revision.is_some() {
        return Err(ReconcileError::MultiSourceRevision);
    }
    let charts = chart_repositories(repos, caches, app);
    let mut manifest = app.manifest.clone();
    let mut trees = Vec::with_capacity(app.sources.len());
    let mut revisions = Vec::with_capacity(app.sources.len());
    let mut types = Vec::with_capacity(app.sources.len());
    let mut primary = None;
    for (index, source) in app.sources.iter().enumerate() {
        if source.is_chart() {
            let field = format!("spec.sources[{index}]");
            let version = chart_version(&charts, caches, source, &field, fetch)?;
            pin_chart_version(&mut manifest, &format!("/spec/sources/{index}"), &version);
            if primary.is_none() {
                primary = Some(None);
            }
            revisions.push(version);
            types.push("Helm".to_owned());
            continue;
        }
        let shown = redact(&source.repo_url);
        let url = RepoUrl::parse(&source.repo_url)
            .map_err(|source| ReconcileError::SourceRepoUrl { index, source })?;
        fetch_if_asked(repos, caches, &url, &shown, fetch)?;
        let (commit, tree) = checkout::resolve_tree(repos, &url, &shown, &source.target_revision)?;
        if source.path.is_empty() {
            // Only a `ref`: ArgoCD renders nothing of it and reports no type.
            types.push(String::new());
        } else {
            types.push(source_type_of(tree.as_ref(), source).to_owned());
            if primary.is_none() {
                primary = Some(Some((
                    url.key().to_owned(),
                    commit.clone(),
                    Arc::clone(&tree),
                )));
            }
        }
        trees.push((
            source.repo_url.clone(),
            written_revision(source).to_owned(),
            tree,
        ));
        revisions.push(commit);
    }
    // Parsing refuses an Application whose every source is a ref.
    let primary = primary.ok_or(ReconcileError::OnlyRefSources)?;
    let (catalog_key, tree): (String, Arc<dyn SourceTree>) = match primary {
        Some((key, commit, tree)) => (format!("{key}@{commit}"), tree),
        None => (
            String::new(),
            Arc::new(strata_core::source::MemoryTree::new()),
        ),
    };
    let options = ExpandOptions::default()
        .with_namespace(app.namespace.clone())
        .with_repository(Some(Repository {
            tree: Arc::clone(&tree),
            prefix: String::new(),
        }))
        .with_repositories(Some(Arc::new(CheckedOut { trees, charts })));
    let catalog = caches.catalog(&catalog_key, tree.as_ref())?;
    let (resources, rules, ignore) =
        expand(app, &manifest, tree, &options, catalog, diff_settings)?;
    Ok(Rendered {
        revision: String::new(),
        revisions,
        resources,
        source_types: SourceTypes {
            source_type: None,
            per_source: types,
        },
        rules,
        ignore,
    })
}

/// Renders `app` from `tree` through the sources crate; its resources and ignore rules.
fn expand(
    app: &Application,
    manifest: &Value,
    tree: Arc<dyn SourceTree>,
    options: &ExpandOptions,
    catalog: strata_sources::application::Catalog,
    diff_settings: &ArgoCdSettings,
) -> Result<
    (
        Vec<Resource>,
        DriftRules,
        Vec<strata_drift::IgnoreDifference>,
    ),
    ReconcileError,
> {
    let location = SourceLocation {
        file: format!("Application {}/{}", app.namespace, app.name).into(),
        document: 0,
        line: 1,
    };
    let expansion = strata_sources::application::render_application_with(
        tree, manifest, location, options, catalog,
    )?;
    let mut rules = Vec::new();
    for child in &expansion.applications {
        rules.extend(ignore_rules(child)?);
    }
    let ignore = rules.clone();
    let rules = diff_settings
        .clone()
        .into_rules(rules)
        .map_err(ReconcileError::IgnoreDifferences)?;
    Ok((expansion.resources, rules, ignore))
}

fn ignore_rules(
    child: &ChildSet,
) -> Result<Vec<strata_drift::IgnoreDifference>, strata_sources::stack::StackError> {
    strata_sources::stack::ignore_rules_of(child)
}
