//! An Application's status, in ArgoCD's shape (`status.sync`, `status.health`,
//! `status.operationState`, `status.history`, `status.resources`, `status.conditions`), and the
//! store the controller keeps it in.
//!
//! The same value is written into the `status` of in-cluster Application objects (so
//! `kubectl get applications` shows sync and health), served by the controller's API and read
//! by `strata app`, and handed to notification templates as `.app.status`.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

/// `status.sync.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub enum SyncStatusCode {
    /// Not compared yet, or the comparison failed.
    #[default]
    Unknown,
    /// The cluster equals the source.
    Synced,
    /// Something differs.
    OutOfSync,
}

impl SyncStatusCode {
    /// ArgoCD's name.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatusCode::Unknown => "Unknown",
            SyncStatusCode::Synced => "Synced",
            SyncStatusCode::OutOfSync => "OutOfSync",
        }
    }
}

/// `status.operationState.phase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum OperationPhase {
    /// The sync is in progress.
    Running,
    /// The sync finished and every task succeeded.
    Succeeded,
    /// A task failed.
    Failed,
    /// The sync could not be run at all.
    Error,
    /// The sync is being stopped.
    Terminating,
}

impl OperationPhase {
    /// ArgoCD's name.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationPhase::Running => "Running",
            OperationPhase::Succeeded => "Succeeded",
            OperationPhase::Failed => "Failed",
            OperationPhase::Error => "Error",
            OperationPhase::Terminating => "Terminating",
        }
    }
}

/// `status.sync`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncState {
    /// Synced, OutOfSync or Unknown.
    pub status: SyncStatusCode,
    /// The commit compared with (single-source Applications).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The commits compared with, one per entry of `spec.sources` (multi-source
    /// Applications).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<String>,
}

/// `status.health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthState {
    /// Healthy, Progressing, Degraded, Suspended, Missing or Unknown.
    pub status: String,
    /// Why, when not Healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Default for HealthState {
    fn default() -> Self {
        Self {
            status: "Unknown".into(),
            message: None,
        }
    }
}

/// One resource's result in a sync (`status.operationState.syncResult.resources[]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceResult {
    /// API group (empty for the core group).
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Namespace (empty for cluster-scoped).
    #[serde(default)]
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Synced, SyncFailed, Pruned or PruneSkipped.
    pub status: String,
    /// What happened (`configured`, `created`, `pruned`, an error).
    #[serde(default)]
    pub message: String,
    /// `PreSync`, `Sync`, `PostSync` or `SyncFail`.
    #[serde(default)]
    pub sync_phase: String,
    /// Set for hooks: the hook's type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_type: Option<String>,
}

/// `status.operationState.syncResult`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncResult {
    /// The commit synced (single-source Applications; empty for multi-source ones).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub revision: String,
    /// The commits synced, one per entry of `spec.sources` (multi-source Applications).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<String>,
    /// Per-resource results, in the order they ran.
    #[serde(default)]
    pub resources: Vec<ResourceResult>,
}

/// `status.operationState`: the last (or running) sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationState {
    /// Running, Succeeded, Failed, Error or Terminating.
    pub phase: OperationPhase,
    /// What happened, in one line.
    #[serde(default)]
    pub message: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it ended (RFC 3339), once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// How many times it was retried.
    #[serde(default)]
    pub retry_count: u32,
    /// The result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_result: Option<SyncResult>,
}

/// One entry of `status.history`: a sync that succeeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// Increasing per Application.
    pub id: u64,
    /// The commit deployed (single-source Applications; empty for multi-source ones).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub revision: String,
    /// The commits deployed, one per entry of `spec.sources` (multi-source Applications).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<String>,
    /// When (RFC 3339).
    pub deployed_at: String,
    /// The source deployed: `repoURL`, `path`, `targetRevision` (single-source
    /// Applications; null for multi-source ones).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub source: serde_json::Value,
    /// The sources deployed (multi-source Applications).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<serde_json::Value>,
}

/// One entry of `status.resources`: a resource the Application manages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    /// API group.
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Synced or OutOfSync.
    pub status: SyncStatusCode,
    /// The resource's health, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthState>,
    /// In the cluster but no longer in Git.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requires_pruning: bool,
}

/// One entry of `status.conditions` (`ComparisonError`, `SyncError`, `InvalidSpecError`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// The condition's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// What is wrong.
    pub message: String,
    /// When it was last seen (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

/// An Application's status, as ArgoCD writes it into `Application.status`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppStatus {
    /// Compared with Git.
    pub sync: SyncState,
    /// Aggregated health of its resources.
    pub health: HealthState,
    /// The last or running sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_state: Option<OperationState>,
    /// Successful syncs, oldest first (at most [`HISTORY_LIMIT`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryEntry>,
    /// The resources it manages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceStatus>,
    /// Problems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// When it was last compared (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciled_at: Option<String>,
    /// The source type (`Directory`, `Kustomize`, `Helm`) of a single-source Application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    /// The type of each entry of `spec.sources`, in order, of a multi-source Application (`""`
    /// for a source that is only a `ref`), as ArgoCD writes `status.sourceTypes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_types: Vec<String>,
}

/// How many history entries are kept (ArgoCD's default `revisionHistoryLimit`).
pub const HISTORY_LIMIT: usize = 10;

/// Where an Application is defined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
#[non_exhaustive]
pub enum AppOrigin {
    /// An `argoproj.io/v1alpha1` Application object in the cluster; its status is written back.
    Cluster,
    /// A manifest in Git (a root directory the controller was given); its status lives in the
    /// status store only.
    Git {
        /// Where the manifest is (`file:line`).
        location: String,
    },
}

/// One Application as the status store shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRecord {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (the controller's namespace for Git-defined Applications).
    pub namespace: String,
    /// `spec.project`.
    pub project: String,
    /// Where it is defined.
    pub origin: AppOrigin,
    /// `metadata.labels` (notification subscriptions select on them).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub labels: serde_json::Map<String, serde_json::Value>,
    /// `metadata.annotations` (notification subscriptions are annotations).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub annotations: serde_json::Map<String, serde_json::Value>,
    /// The Application's `spec`.
    pub spec: serde_json::Value,
    /// Its status.
    pub status: AppStatus,
}

impl AppRecord {
    /// The Application as an object (`apiVersion`, `kind`, `metadata`, `spec`, `status`): what
    /// notification templates see as `.app`.
    pub fn to_object(&self) -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": self.name, "namespace": self.namespace,
                         "labels": self.labels, "annotations": self.annotations},
            "spec": self.spec,
            "status": self.status,
        })
    }
}

/// The controller's status store: the last status of every Application, shared between the
/// reconcilers, the HTTP API and the metrics.
#[derive(Debug, Clone, Default)]
pub struct StatusStore {
    inner: Arc<RwLock<BTreeMap<String, AppRecord>>>,
}

impl StatusStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every Application, by name.
    pub fn list(&self) -> Vec<AppRecord> {
        self.read(|map| map.values().cloned().collect())
    }

    /// One Application.
    pub fn get(&self, name: &str) -> Option<AppRecord> {
        self.read(|map| map.get(name).cloned())
    }

    /// Records (or replaces) an Application.
    pub fn put(&self, record: AppRecord) {
        let mut map = match self.inner.write() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.insert(record.name.clone(), record);
    }

    /// Forgets an Application (it was deleted).
    pub fn remove(&self, name: &str) -> Option<AppRecord> {
        let mut map = match self.inner.write() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.remove(name)
    }

    fn read<T>(&self, f: impl FnOnce(&BTreeMap<String, AppRecord>) -> T) -> T {
        match self.inner.read() {
            Ok(map) => f(&map),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }
}

/// Now, as RFC 3339 with seconds (what ArgoCD writes).
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string())
}
