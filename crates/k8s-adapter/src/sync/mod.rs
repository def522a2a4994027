//! Sync ordering, as ArgoCD orders a sync: phases (PreSync, Sync, PostSync, SyncFail), waves,
//! kind order within a wave, hooks and their delete policies, Namespaces and CRDs before their
//! users, prunes in reverse wave order, and per-resource sync options.
//!
//! [`plan_sync`] is a pure function from desired/live pairs to a [`SyncPlan`]: ordered groups of
//! tasks with the gates (wait for health, wait for deletion) an executor honours between them.

pub mod hooks;
pub mod options;
pub mod plan;
pub mod waves;

pub use hooks::{HookDeletePolicy, SyncPhase, hook_delete_policies, is_hook, sync_phases};
pub use plan::{
    ResourceId, SkippedResource, SyncGroup, SyncPlan, SyncPlanOptions, SyncResource, SyncTask,
    TaskAction, plan_sync,
};
pub use waves::{kind_rank, sync_wave};
