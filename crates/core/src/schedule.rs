//! The schedule of an apply: ArgoCD's sync ordering laid over a [`Plan`].
//!
//! [`Schedule::of`] runs [`plan_sync`](crate::sync::plan_sync) over the plan's changes and turns
//! its groups into [`Step`]s that the one executor ([`crate::executor`]) runs in order:
//!
//! - phases PreSync → Sync → PostSync, waves ascending inside each phase; SyncFail hooks are kept
//!   apart ([`Schedule::on_failure`]) and run only when a step fails;
//! - inside a step, prunes run first (deletion waves mirrored, `PruneLast` honoured), then the
//!   applies in kind order: each run of equally-ranked kinds (Namespaces, then Secrets and
//!   ConfigMaps, …, then every kind Kubernetes does not rank, together) starts when the previous
//!   run has finished, and the plan's dependency edges order the changes inside a run;
//! - gates after a step: wait until its pruned objects are gone, and until the objects it
//!   created or changed are healthy (hooks: complete) when ArgoCD would wait
//!   ([`SyncGroup::health_gate`](crate::sync::SyncGroup)).
//!
//! Hooks (`argocd.argoproj.io/hook`) run only when the plan changes something else, as an
//! automated ArgoCD sync runs them only when the application is out of sync; an existing hook
//! whose delete policies include `BeforeHookCreation` (the default when none is given) is
//! deleted and created again so that it runs; `HookSucceeded` / `HookFailed` delete it after
//! its step.
//!
//! Changes the ordering leaves alone (`Prune=false`, `hook: Skip`, hooks when nothing else
//! changes, SyncFail hooks of a sync that did not fail) are listed in [`Schedule::left_alone`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::plan::{Action, Plan};
use crate::sync::{
    HookDeletePolicy, SyncGroup, SyncPhase, SyncPlanOptions, SyncResource, TaskAction,
};

/// One hook run by a step, with its delete policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookRun {
    /// Index of the hook's change in the plan.
    pub change: usize,
    /// When to delete the hook (`BeforeHookCreation` when none was given).
    pub delete_policies: Vec<HookDeletePolicy>,
}

impl HookRun {
    /// Whether the hook is deleted and created again when it already exists.
    pub fn recreates(&self) -> bool {
        self.delete_policies
            .contains(&HookDeletePolicy::BeforeHookCreation)
    }
}

/// A phase and wave of the sync: runs of changes, then the gates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The sync phase.
    pub phase: SyncPhase,
    /// The sync wave.
    pub wave: i64,
    /// Runs of change indices, in order: prunes first, then applies by kind rank. A run starts
    /// when the previous one has finished; inside a run the plan's dependencies order changes.
    pub runs: Vec<Vec<usize>>,
    /// The hooks among the step's changes.
    pub hooks: Vec<HookRun>,
    /// Wait until the objects the step created or changed are healthy (hooks: complete).
    pub health_gate: bool,
    /// Wait until the objects the step pruned are gone.
    pub deletion_gate: bool,
}

impl Step {
    /// Every change of the step, in run order.
    pub fn changes(&self) -> impl Iterator<Item = usize> + '_ {
        self.runs.iter().flatten().copied()
    }

    /// The hook run of change `index`, if it is a hook of this step.
    pub fn hook(&self, index: usize) -> Option<&HookRun> {
        self.hooks.iter().find(|h| h.change == index)
    }
}

/// The ordered steps of an apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Steps in execution order.
    pub steps: Vec<Step>,
    /// SyncFail hooks: run, in order, only when a step fails.
    pub on_failure: Vec<Step>,
    /// Changes not run, with the reason.
    pub left_alone: Vec<(usize, String)>,
}

impl Schedule {
    /// Orders `plan` as ArgoCD orders a sync, with `options` (prune, PruneLast, hooks).
    pub fn of(plan: &Plan, options: &SyncPlanOptions) -> Self {
        let empty = Value::Null;
        let manifest = |i: usize| {
            plan.changes[i]
                .resource
                .as_ref()
                .map_or(&empty, |r| &r.manifest)
        };
        let pairs: Vec<SyncResource<'_>> = plan
            .changes
            .iter()
            .enumerate()
            .map(|(i, change)| {
                if change.action == Action::Delete {
                    SyncResource::prune(change.live.as_deref().unwrap_or(manifest(i)))
                } else {
                    SyncResource {
                        target: Some(manifest(i)),
                        live: change.live.as_deref(),
                    }
                }
            })
            .collect();
        let run_hooks = plan.has_changes();
        let sync = crate::sync::plan_sync(
            &pairs,
            &SyncPlanOptions {
                skip_hooks: options.skip_hooks || !run_hooks,
                ..options.clone()
            },
        );
        let mut left_alone: Vec<(usize, String)> = sync
            .skipped
            .iter()
            .map(|s| {
                let reason = if !run_hooks && s.reason == "hooks skipped" {
                    "hook: runs only when the sync changes something".to_owned()
                } else {
                    s.reason.clone()
                };
                (s.index, reason)
            })
            .collect();
        let steps = sync.groups.iter().map(step_of).collect();
        let on_failure: Vec<Step> = sync.sync_fail.iter().map(step_of).collect();
        left_alone.extend(
            on_failure
                .iter()
                .flat_map(Step::changes)
                .map(|i| (i, "SyncFail hook: runs only when the sync fails".to_owned())),
        );
        left_alone.sort();
        left_alone.dedup_by_key(|(i, _)| *i);
        Schedule {
            steps,
            on_failure,
            left_alone,
        }
    }
}

fn step_of(group: &SyncGroup) -> Step {
    let mut runs: Vec<Vec<usize>> = Vec::new();
    let prunes: Vec<usize> = group.prunes().map(|t| t.index).collect();
    if !prunes.is_empty() {
        runs.push(prunes);
    }
    let mut current_rank = None;
    for task in group.applies() {
        let rank = crate::sync::kind_rank(&task.id.kind);
        match runs.last_mut() {
            Some(run) if current_rank == Some(rank) => run.push(task.index),
            _ => runs.push(vec![task.index]),
        }
        current_rank = Some(rank);
    }
    let hooks = group
        .tasks
        .iter()
        .filter(|t| t.hook && t.action == TaskAction::Apply)
        .map(|t| HookRun {
            change: t.index,
            delete_policies: if t.delete_policies.is_empty() {
                vec![HookDeletePolicy::BeforeHookCreation]
            } else {
                t.delete_policies.clone()
            },
        })
        .collect();
    Step {
        phase: group.phase,
        wave: group.wave,
        runs,
        hooks,
        health_gate: group.health_gate,
        deletion_gate: group.deletion_gate,
    }
}
