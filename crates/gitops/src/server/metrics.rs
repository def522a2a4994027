//! The controller's Prometheus metrics, under Argo CD's names and labels so that existing
//! dashboards and alerts work unchanged.
//!
//! - `argocd_app_info{name,namespace,project,repo,dest_server,dest_namespace,sync_status,health_status}`:
//!   a gauge of 1 per Application, recomputed from the [`StatusStore`] at every scrape;
//! - `argocd_app_sync_total{name,namespace,project,phase}`: syncs by outcome;
//! - `argocd_app_reconcile{namespace,dest_server}`: reconciliation time in seconds;
//! - `argocd_git_request_duration_seconds{repo,request_type}` and
//!   `argocd_git_request_total{repo,request_type}`: Git fetches and ls-remotes;
//! - `argocd_app_k8s_request_total{name,verb,response_code}`: Kubernetes API requests.
//!
//! And Strata's own, per Application, from its planner's statistics
//! ([`PlannerStats`](crate::planning::PlannerStats)):
//! - `strata_app_plans_total{name,kind}`: plans made, `kind` `incremental` (the
//!   Application's incremental planner) or `full` (`Engine::plan`: resyncs, hard refreshes,
//!   fallbacks);
//! - `strata_app_plan_compared_resources_total{name}`: desired resources the plans compared
//!   with their live object;
//! - `strata_app_plan_cross_checks_total{name}` and `strata_app_plan_mismatches_total{name}`:
//!   resyncs that compared the incremental plan with `Engine::plan`'s, and those whose plans
//!   differed;
//! - `strata_app_plan_last_duration_seconds{name}`, `strata_app_plan_last_compared_resources{name}`,
//!   `strata_app_plan_last_api_reads{name}` and `strata_app_plan_last_cache_reads{name}`: the
//!   last plan's time (observing included), resources compared, objects read from the API
//!   server and from the watch caches.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::planning::PlannerStats;
use crate::status::{AppRecord, OperationPhase, StatusStore};

/// Argo CD's buckets for `argocd_app_reconcile`.
pub const RECONCILE_BUCKETS: [f64; 7] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];

/// Argo CD's buckets for `argocd_git_request_duration_seconds`.
pub const GIT_REQUEST_BUCKETS: [f64; 8] = [0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 10.0, 20.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AppInfoLabels {
    name: String,
    namespace: String,
    project: String,
    repo: String,
    dest_server: String,
    dest_namespace: String,
    sync_status: String,
    health_status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SyncLabels {
    name: String,
    namespace: String,
    project: String,
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconcileLabels {
    namespace: String,
    dest_server: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GitLabels {
    repo: String,
    request_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AppLabels {
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PlanLabels {
    name: String,
    kind: String,
}

/// The planner metrics.
#[derive(Default)]
struct PlanMetrics {
    plans: Family<PlanLabels, Counter>,
    compared: Family<AppLabels, Counter>,
    cross_checks: Family<AppLabels, Counter>,
    mismatches: Family<AppLabels, Counter>,
    last_duration: Family<AppLabels, Gauge<f64, AtomicU64>>,
    last_compared: Family<AppLabels, Gauge>,
    last_api_reads: Family<AppLabels, Gauge>,
    last_cache_reads: Family<AppLabels, Gauge>,
    /// The statistics last recorded per Application (the counters grow by the difference).
    seen: Mutex<HashMap<String, PlannerStats>>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct K8sLabels {
    name: String,
    verb: String,
    response_code: String,
}

/// A kind of Git request (`request_type` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GitRequest {
    /// Fetching commits.
    Fetch,
    /// Resolving a revision without fetching.
    LsRemote,
}

impl GitRequest {
    /// Argo CD's label value.
    pub fn as_str(self) -> &'static str {
        match self {
            GitRequest::Fetch => "fetch",
            GitRequest::LsRemote => "ls-remote",
        }
    }
}

struct Inner {
    registry: Registry,
    app_info: Family<AppInfoLabels, Gauge>,
    sync_total: Family<SyncLabels, Counter>,
    reconcile: Family<ReconcileLabels, Histogram>,
    git_duration: Family<GitLabels, Histogram>,
    git_total: Family<GitLabels, Counter>,
    k8s_total: Family<K8sLabels, Counter>,
    plans: PlanMetrics,
    /// Serialises scrapes: each one refills `app_info`.
    scrape: Mutex<()>,
}

/// The controller's metrics. Cheap to clone; clones share the counters.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// `spec.destination.<field>` of an Application record.
fn destination(app: &AppRecord, field: &str) -> String {
    app.spec
        .pointer(&format!("/destination/{field}"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// `spec.source.repoURL` (or the first of `spec.sources`).
fn repo(app: &AppRecord) -> String {
    app.spec
        .pointer("/source/repoURL")
        .or_else(|| app.spec.pointer("/sources/0/repoURL"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_string()
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let app_info = Family::<AppInfoLabels, Gauge>::default();
        let sync_total = Family::<SyncLabels, Counter>::default();
        let reconcile = Family::<ReconcileLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(RECONCILE_BUCKETS)
        });
        let git_duration = Family::<GitLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(GIT_REQUEST_BUCKETS)
        });
        let git_total = Family::<GitLabels, Counter>::default();
        let k8s_total = Family::<K8sLabels, Counter>::default();
        registry.register(
            "argocd_app_info",
            "Information about application",
            app_info.clone(),
        );
        registry.register(
            "argocd_app_sync",
            "Number of application syncs",
            sync_total.clone(),
        );
        registry.register(
            "argocd_app_reconcile",
            "Application reconciliation performance in seconds",
            reconcile.clone(),
        );
        registry.register(
            "argocd_git_request_duration_seconds",
            "Git requests duration seconds",
            git_duration.clone(),
        );
        registry.register(
            "argocd_git_request",
            "Number of git requests performed by repo server",
            git_total.clone(),
        );
        registry.register(
            "argocd_app_k8s_request",
            "Number of kubernetes requests executed during application reconciliation",
            k8s_total.clone(),
        );
        let plans = PlanMetrics::default();
        registry.register(
            "strata_app_plans",
            "Plans made per application, incremental or full (Engine::plan)",
            plans.plans.clone(),
        );
        registry.register(
            "strata_app_plan_compared_resources",
            "Desired resources the plans of an application compared with their live object",
            plans.compared.clone(),
        );
        registry.register(
            "strata_app_plan_cross_checks",
            "Resyncs that compared the incremental plan with the full plan",
            plans.cross_checks.clone(),
        );
        registry.register(
            "strata_app_plan_mismatches",
            "Resyncs whose incremental plan differed from the full plan",
            plans.mismatches.clone(),
        );
        registry.register(
            "strata_app_plan_last_duration_seconds",
            "How long the last plan of an application took, observing included",
            plans.last_duration.clone(),
        );
        registry.register(
            "strata_app_plan_last_compared_resources",
            "Desired resources the last plan compared with their live object",
            plans.last_compared.clone(),
        );
        registry.register(
            "strata_app_plan_last_api_reads",
            "Objects the last plan read from the API server",
            plans.last_api_reads.clone(),
        );
        registry.register(
            "strata_app_plan_last_cache_reads",
            "Objects the last plan read from the watch caches",
            plans.last_cache_reads.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                plans,
                registry,
                app_info,
                sync_total,
                reconcile,
                git_duration,
                git_total,
                k8s_total,
                scrape: Mutex::new(()),
            }),
        }
    }

    /// Counts a sync of `app` that ended (or started) in `phase`.
    pub fn record_sync(&self, app: &AppRecord, phase: OperationPhase) {
        self.inner
            .sync_total
            .get_or_create(&SyncLabels {
                name: app.name.clone(),
                namespace: app.namespace.clone(),
                project: app.project.clone(),
                phase: phase.as_str().to_string(),
            })
            .inc();
    }

    /// Records how long a reconciliation of `app` took.
    pub fn observe_reconcile(&self, app: &AppRecord, seconds: f64) {
        self.inner
            .reconcile
            .get_or_create(&ReconcileLabels {
                namespace: app.namespace.clone(),
                dest_server: destination(app, "server"),
            })
            .observe(seconds);
    }

    /// Records a Git fetch of `repo` and how long it took.
    pub fn observe_git_fetch(&self, repo: &str, seconds: f64) {
        self.observe_git_request(repo, GitRequest::Fetch, seconds);
    }

    /// Records a Git request of `repo` and how long it took.
    pub fn observe_git_request(&self, repo: &str, request: GitRequest, seconds: f64) {
        let labels = GitLabels {
            repo: repo.to_string(),
            request_type: request.as_str().to_string(),
        };
        self.inner.git_total.get_or_create(&labels).inc();
        self.inner
            .git_duration
            .get_or_create(&labels)
            .observe(seconds);
    }

    /// Counts a Kubernetes API request made for the Application `app`: `verb` as the client
    /// sent it (`GET`, `PATCH` … or `WATCH`), `response_code` the HTTP status, `None` (label
    /// `none`) when no response came.
    pub fn record_k8s_request(&self, app: &str, verb: &str, response_code: Option<u16>) {
        self.inner
            .k8s_total
            .get_or_create(&K8sLabels {
                name: app.to_string(),
                verb: verb.to_string(),
                response_code: response_code.map_or_else(|| "none".to_string(), |c| c.to_string()),
            })
            .inc();
    }

    /// Records what the planner of the Application `app` did, from its statistics so far
    /// (cumulative: the counters grow by what changed since the last call).
    pub fn record_planner(&self, app: &str, stats: &PlannerStats) {
        let plans = &self.inner.plans;
        let mut seen = plans
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = seen.get(app).cloned().unwrap_or_default();
        // Statistics that went back started again (the Application was recreated).
        let grown = |now: u64, then: u64| if now >= then { now - then } else { now };
        let labels = AppLabels {
            name: app.to_owned(),
        };
        for (kind, now, then) in [
            (
                "incremental",
                stats.incremental_plans,
                before.incremental_plans,
            ),
            ("full", stats.full_plans, before.full_plans),
        ] {
            plans
                .plans
                .get_or_create(&PlanLabels {
                    name: app.to_owned(),
                    kind: kind.to_owned(),
                })
                .inc_by(grown(now, then));
        }
        plans
            .compared
            .get_or_create(&labels)
            .inc_by(grown(stats.compared_total, before.compared_total));
        plans
            .cross_checks
            .get_or_create(&labels)
            .inc_by(grown(stats.cross_checks, before.cross_checks));
        plans
            .mismatches
            .get_or_create(&labels)
            .inc_by(grown(stats.mismatches, before.mismatches));
        plans
            .last_duration
            .get_or_create(&labels)
            .set(stats.last_plan_micros as f64 / 1e6);
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        plans
            .last_compared
            .get_or_create(&labels)
            .set(gauge(stats.last_compared));
        plans
            .last_api_reads
            .get_or_create(&labels)
            .set(gauge(stats.last_provider_observations));
        plans
            .last_cache_reads
            .get_or_create(&labels)
            .set(gauge(stats.last_watched_observations));
        seen.insert(app.to_owned(), stats.clone());
    }

    /// The metrics in the OpenMetrics text format, `argocd_app_info` taken from `store`.
    pub fn render(&self, store: &StatusStore) -> String {
        let _scrape = match self.inner.scrape.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        self.inner.app_info.clear();
        for app in store.list() {
            self.inner
                .app_info
                .get_or_create(&AppInfoLabels {
                    repo: repo(&app),
                    dest_server: destination(&app, "server"),
                    dest_namespace: destination(&app, "namespace"),
                    sync_status: app.status.sync.status.as_str().to_string(),
                    health_status: app.status.health.status.clone(),
                    name: app.name,
                    namespace: app.namespace,
                    project: app.project,
                })
                .set(1);
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.inner.registry);
        text
    }
}
