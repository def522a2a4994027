//! Applying a core plan in ArgoCD's sync order: [`plan_sync`]'s groups (phases, waves, kind
//! order, prunes last in reverse waves) run one after another through core's engine, and
//! after each group with a health gate the executor waits until its resources are healthy
//! (hooks: completed) before the next starts, as ArgoCD does between waves.
//!
//! Core's executor has no hook between groups, so each group is applied as its own sub-plan
//! with [`Engine::apply`] (which takes and releases the state lock around it) and the state is
//! reloaded in between.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use strata_core::executor::{Cancellation, EventSink, Report};
use strata_core::plan::{Action, Plan, ResourceChange};
use strata_core::{Engine, EngineError, Health, ResourceKey};

use strata_core::sync::{SyncPlan, SyncPlanOptions, SyncResource, plan_sync};

/// How long and how often to wait for health between groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaveOptions {
    /// Give up on a group that is not healthy after this long.
    pub health_timeout: Duration,
    /// Time between health checks.
    pub poll_interval: Duration,
    /// ArgoCD's sync settings (prune, PruneLast …).
    pub sync: SyncFlags,
}

/// The sync settings that matter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncFlags {
    /// Every prune after the last wave.
    pub prune_last: bool,
}

impl Default for WaveOptions {
    fn default() -> Self {
        Self {
            health_timeout: Duration::from_secs(300),
            poll_interval: Duration::from_secs(2),
            sync: SyncFlags::default(),
        }
    }
}

/// A plan cut into ordered groups.
#[derive(Debug, Clone, PartialEq)]
pub struct WavePlan {
    /// The sync ordering.
    pub sync: SyncPlan,
    /// One sub-plan per group of `sync.groups`, in order.
    pub steps: Vec<Plan>,
    /// Changes the ordering leaves alone (`Prune=false`, `hook: Skip` …), with the reason.
    pub skipped: Vec<(ResourceKey, String)>,
}

/// Cuts `plan` into sub-plans following ArgoCD's ordering. Pure.
pub fn split_plan(plan: &Plan, options: &WaveOptions) -> WavePlan {
    let empty = serde_json::Value::Null;
    let pairs: Vec<SyncResource<'_>> = plan
        .changes
        .iter()
        .map(|c| {
            let manifest = c.resource.as_ref().map_or(&empty, |r| &r.manifest);
            if c.action == Action::Delete {
                SyncResource::prune(c.live.as_ref().unwrap_or(manifest))
            } else {
                SyncResource {
                    target: Some(manifest),
                    live: c.live.as_ref(),
                }
            }
        })
        .collect();
    let sync = plan_sync(
        &pairs,
        &SyncPlanOptions {
            prune_last: options.sync.prune_last,
            ..SyncPlanOptions::default()
        },
    );
    let mut used = BTreeSet::new();
    let steps = sync
        .groups
        .iter()
        .map(|group| Plan {
            stack: plan.stack.clone(),
            changes: group
                .tasks
                .iter()
                .filter(|t| used.insert(t.index))
                .map(|t| {
                    // This module gates groups itself, with ArgoCD's grouping; the executor's
                    // own wave gate would check the same objects twice.
                    let mut change = plan.changes[t.index].clone();
                    change.wait_for_health = false;
                    change
                })
                .collect(),
            violations: Vec::new(),
        })
        .collect();
    let skipped = sync
        .skipped
        .iter()
        .map(|s| (plan.changes[s.index].key.clone(), s.reason.clone()))
        .collect();
    WavePlan {
        sync,
        steps,
        skipped,
    }
}

/// The outcome of a wave-ordered apply.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WaveReport {
    /// All changes, merged over the groups; resources the ordering skipped and groups never
    /// reached are in `skipped`.
    pub report: Report,
    /// How many groups ran.
    pub groups_run: usize,
    /// Why the apply stopped early, if it did.
    pub stopped: Option<String>,
}

/// Applies `plan` group by group through `engine`, waiting for health after each gated group.
pub async fn apply_in_waves(
    engine: &Engine,
    plan: &Plan,
    operation: &str,
    events: Arc<dyn EventSink>,
    cancel: Cancellation,
    options: &WaveOptions,
) -> Result<WaveReport, EngineError> {
    if !plan.is_applyable() {
        let reasons: Vec<&str> = plan.violations.iter().map(|v| v.message.as_str()).collect();
        return Err(EngineError::Refused(reasons.join("; ")));
    }
    let waves = split_plan(plan, options);
    let mut out = WaveReport::default();
    out.report.skipped.extend(waves.skipped.iter().cloned());
    for (position, (group, step)) in waves.sync.groups.iter().zip(&waves.steps).enumerate() {
        if step.changes.is_empty() {
            continue;
        }
        let state = engine.store.load().await?.unwrap_or_default();
        let report = engine
            .apply(step, state, operation, Arc::clone(&events), cancel.clone())
            .await?;
        let success = report.is_success();
        out.report.succeeded.extend(report.succeeded);
        out.report.failed.extend(report.failed);
        out.report.skipped.extend(report.skipped);
        out.report.cancelled |= report.cancelled;
        out.groups_run += 1;
        let mut stop = (!success).then(|| {
            format!(
                "{} wave {} did not apply cleanly",
                group.phase.as_str(),
                group.wave
            )
        });
        if stop.is_none() && group.health_gate {
            stop = wait_healthy(engine, &step.changes, options).await.err();
        }
        if let Some(reason) = stop {
            for later in &waves.steps[position + 1..] {
                for change in &later.changes {
                    out.report
                        .skipped
                        .push((change.key.clone(), format!("not reached: {reason}")));
                }
            }
            out.stopped = Some(reason);
            break;
        }
    }
    Ok(out)
}

/// Polls the group's applied resources until every one is healthy. Degraded fails at once; a
/// timeout fails with the resources still waiting.
pub async fn wait_healthy(
    engine: &Engine,
    changes: &[ResourceChange],
    options: &WaveOptions,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + options.health_timeout;
    loop {
        let mut waiting = Vec::new();
        for change in changes.iter().filter(|c| c.action != Action::Delete) {
            let Some(resource) = change.resource.as_ref() else {
                continue;
            };
            let Some(provider) = engine.registry.by_name(&change.provider) else {
                continue;
            };
            let observed = provider
                .observe(resource)
                .await
                .map_err(|e| format!("checking the health of {}: {e}", change.key))?;
            match observed.live.as_ref().map(|live| provider.health(live)) {
                Some(Health::Healthy) => {}
                Some(Health::Degraded) => return Err(format!("{} is Degraded", change.key)),
                Some(other) => waiting.push(format!("{} ({other:?})", change.key)),
                None => waiting.push(format!("{} (missing)", change.key)),
            }
        }
        if waiting.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "timed out waiting for healthy state of {}",
                waiting.join(", ")
            ));
        }
        tokio::time::sleep(options.poll_interval).await;
    }
}
