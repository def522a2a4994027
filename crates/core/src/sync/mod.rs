//! Sync ordering, as ArgoCD orders a sync: phases (PreSync, Sync, PostSync, SyncFail), waves,
//! kind order within a wave, hooks and their delete policies, Namespaces and CRDs before their
//! users, prunes in reverse wave order, and per-resource sync options.
//!
//! [`plan_sync`] is a pure function from desired/live pairs to a [`SyncPlan`]: ordered groups of
//! tasks with the gates (wait for health, wait for deletion) an executor honours between them.
//!
//! ```
//! use serde_json::json;
//! use strata_core::sync::{SyncPlanOptions, SyncResource, plan_sync};
//!
//! // A PreSync hook, then the wave-0 resources by kind, then wave 1.
//! let migrate = json!({"apiVersion": "batch/v1", "kind": "Job",
//!     "metadata": {"name": "migrate", "annotations": {"argocd.argoproj.io/hook": "PreSync"}}});
//! let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
//! let api = json!({"apiVersion": "apps/v1", "kind": "Deployment",
//!     "metadata": {"name": "api", "namespace": "shop", "annotations": {"argocd.argoproj.io/sync-wave": "1"}}});
//! let resources = [SyncResource::target(&migrate), SyncResource::target(&api), SyncResource::target(&ns)];
//! let plan = plan_sync(&resources, &SyncPlanOptions::default());
//! let order: Vec<Vec<&str>> = plan.groups.iter()
//!     .map(|g| g.resources().map(|r| r.name.as_str()).collect())
//!     .collect();
//! assert_eq!(order, vec![vec!["migrate"], vec!["shop"], vec!["api"]]);
//! assert!(plan.groups.iter().all(|g| g.health_gate));
//! ```

pub mod hooks;
pub mod options;
pub mod plan;
pub mod waves;

pub use hooks::{HookDeletePolicy, SyncPhase, hook_delete_policies, is_hook, sync_phases};
pub use plan::{
    SkippedResource, SyncGroup, SyncPlan, SyncPlanOptions, SyncResource, SyncTask, TaskAction,
    plan_sync,
};
pub use waves::{kind_rank, sync_wave};
