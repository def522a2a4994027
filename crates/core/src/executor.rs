//! Carrying out a plan — the one apply path of Strata: the CLI, the controllers and embedding
//! programs all hand a plan (and its [`Schedule`]) to [`execute`] / [`execute_schedule`].
//!
//! The schedule gives ArgoCD's order (phases, waves, kind order, hooks, prune waves, gates; see
//! [`crate::schedule`]); inside each run of a step, each change starts the moment everything it
//! waits for has finished (not level by level), and at most `parallelism` provider calls run at
//! once. Creates and updates follow dependency order; a delete waits for the deletes of
//! everything that depended on the deleted resource. When a change fails, every change waiting
//! on it (transitively) is skipped while independent work of the run goes on; the later runs
//! and steps are skipped and the SyncFail hooks run. Retryable provider errors are retried with
//! exponential backoff. Before each create the intent is recorded in the state, so a crash
//! cannot leak a duplicate.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::model::ResourceKey;
use crate::plan::{Action, Plan, ResourceChange};
use crate::provider::{Applied, Health, Provider, ProviderError, ProviderRegistry};
pub use crate::retry::RetryPolicy;
use crate::schedule::{HookRun, Schedule, Step};
use crate::state::StateError;
use crate::sync::{HookDeletePolicy, SyncPlanOptions};

pub mod report;

/// How long and how often to check health (and deletion) at a step's gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthWait {
    /// Time between checks.
    pub poll_interval: Duration,
    /// Give up (the change fails) when the object is not healthy after this long.
    pub timeout: Duration,
}

impl Default for HealthWait {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(2),
            timeout: Duration::from_secs(600),
        }
    }
}

impl HealthWait {
    /// Sets [`poll_interval`](Self::poll_interval).
    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// Sets [`timeout`](Self::timeout).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Executor settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecutorConfig {
    /// Provider calls in flight at once (default 10, as Terraform).
    pub parallelism: usize,
    /// Retries of retryable errors.
    pub retry: RetryPolicy,
    /// Health and deletion checks at the gates between sync steps.
    pub health: HealthWait,
    /// ArgoCD's sync options that shape the schedule (prune, PruneLast, hooks).
    pub sync: SyncPlanOptions,
}

impl ExecutorConfig {
    /// Sets [`parallelism`](Self::parallelism).
    pub fn with_parallelism(mut self, parallelism: usize) -> Self {
        self.parallelism = parallelism;
        self
    }

    /// Sets [`retry`](Self::retry).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets [`health`](Self::health).
    pub fn with_health(mut self, health: HealthWait) -> Self {
        self.health = health;
        self
    }

    /// Sets [`sync`](Self::sync).
    pub fn with_sync(mut self, sync: SyncPlanOptions) -> Self {
        self.sync = sync;
        self
    }
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            parallelism: 10,
            retry: RetryPolicy::default(),
            health: HealthWait::default(),
            sync: SyncPlanOptions::default(),
        }
    }
}

/// Progress of an apply, for display.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A change began.
    Started {
        /// The resource.
        key: ResourceKey,
        /// What is being done.
        action: Action,
    },
    /// A change finished.
    Succeeded {
        /// The resource.
        key: ResourceKey,
        /// What was done.
        action: Action,
        /// How long it took.
        elapsed: Duration,
    },
    /// A change failed for good.
    Failed {
        /// The resource.
        key: ResourceKey,
        /// What was attempted.
        action: Action,
        /// Why it failed.
        error: String,
    },
    /// A change was not attempted.
    Skipped {
        /// The resource.
        key: ResourceKey,
        /// What was planned.
        action: Action,
        /// Why it was not attempted.
        reason: String,
    },
    /// A retryable error; the change is tried again after `delay`.
    Retrying {
        /// The resource.
        key: ResourceKey,
        /// The attempt that failed (1-based).
        attempt: u32,
        /// Wait before the next attempt.
        delay: Duration,
        /// The error.
        error: String,
    },
}

/// Receives events; the CLI draws progress from them.
pub trait EventSink: Send + Sync {
    /// Called for every event.
    fn emit(&self, event: Event);
}

impl EventSink for tokio::sync::mpsc::UnboundedSender<Event> {
    fn emit(&self, event: Event) {
        let _ = self.send(event);
    }
}

impl<F: Fn(Event) + Send + Sync> EventSink for F {
    fn emit(&self, event: Event) {
        self(event)
    }
}

/// Records the effects of an apply (in practice: into the state, saved after every change).
#[async_trait]
pub trait Recorder: Send + Sync {
    /// Called just before a create is sent: record the intent.
    async fn creating(&self, change: &ResourceChange) -> Result<(), StateError>;
    /// Called just before an update is sent: record the intent. The default records nothing.
    async fn updating(&self, change: &ResourceChange) -> Result<(), StateError> {
        let _ = change;
        Ok(())
    }
    /// Called when the provider refused an update recorded by [`Recorder::updating`]: put
    /// the record back as it was. The default does nothing.
    async fn update_failed(&self, change: &ResourceChange) -> Result<(), StateError> {
        let _ = change;
        Ok(())
    }
    /// Called after a create or update succeeded.
    async fn applied(&self, change: &ResourceChange, applied: &Applied) -> Result<(), StateError>;
    /// Called after a delete succeeded.
    async fn deleted(&self, change: &ResourceChange) -> Result<(), StateError>;
}

/// A recorder that records nothing (for dry runs and benchmarks).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoRecorder;

#[async_trait]
impl Recorder for NoRecorder {
    async fn creating(&self, _: &ResourceChange) -> Result<(), StateError> {
        Ok(())
    }
    async fn applied(&self, _: &ResourceChange, _: &Applied) -> Result<(), StateError> {
        Ok(())
    }
    async fn deleted(&self, _: &ResourceChange) -> Result<(), StateError> {
        Ok(())
    }
}

/// Asks a running apply to stop starting new changes.
#[derive(Debug, Clone)]
pub struct CancelHandle(Arc<watch::Sender<bool>>);

/// The receiving side of a [`CancelHandle`], given to [`execute`].
#[derive(Debug, Clone)]
pub struct Cancellation(watch::Receiver<bool>);

/// A connected cancel handle and cancellation.
pub fn cancellation() -> (CancelHandle, Cancellation) {
    let (tx, rx) = watch::channel(false);
    (CancelHandle(Arc::new(tx)), Cancellation(rx))
}

impl CancelHandle {
    /// Stops starting new changes; changes in flight finish.
    pub fn cancel(&self) {
        let _ = self.0.send(true);
    }
}

impl Cancellation {
    /// A cancellation that never fires.
    pub fn never() -> Self {
        let (tx, rx) = watch::channel(false);
        std::mem::forget(tx);
        Self(rx)
    }

    fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }
}

/// How an apply ended, per resource.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Changes that finished (no-ops included).
    pub succeeded: Vec<ResourceKey>,
    /// Changes that failed, with the error.
    pub failed: Vec<(ResourceKey, String)>,
    /// Changes not attempted, with the reason.
    pub skipped: Vec<(ResourceKey, String)>,
    /// Whether the apply was cancelled.
    pub cancelled: bool,
    /// Changes the schedule did not run, with the reason (`Prune=false`, hooks when nothing
    /// else changed, SyncFail hooks of a sync that succeeded); they do not make it fail.
    pub left_alone: Vec<(ResourceKey, String)>,
}

impl Report {
    /// Whether every change succeeded.
    pub fn is_success(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && !self.cancelled
    }
}

struct Node {
    /// Index of the change in the plan.
    change: usize,
    /// What is done to it (a hook that runs again is deleted and created).
    action: Action,
    waits_for: usize,
    unblocks: Vec<usize>,
    blocked_by: Option<String>,
}

/// The waits between the changes of one run: a create or update waits for its dependencies; a
/// delete must finish before anything is done to what it depended on. Dependencies outside the
/// run are finished already (earlier steps) or ordered by the schedule.
fn build_nodes(plan: &Plan, run: &[usize], step: &Step) -> Vec<Node> {
    let index: HashMap<&ResourceKey, usize> = run
        .iter()
        .enumerate()
        .map(|(local, &i)| (&plan.changes[i].key, local))
        .collect();
    let mut nodes: Vec<Node> = run
        .iter()
        .map(|&i| Node {
            change: i,
            action: effective_action(&plan.changes[i], step.hook(i)),
            waits_for: 0,
            unblocks: Vec::new(),
            blocked_by: None,
        })
        .collect();
    for (b, &i) in run.iter().enumerate() {
        let change = &plan.changes[i];
        for dep in &change.dependencies {
            let Some(&a) = index.get(dep) else { continue };
            if a == b {
                continue;
            }
            let (first, then) = if change.action == Action::Delete {
                (b, a)
            } else if plan.changes[run[a]].action == Action::Delete {
                continue;
            } else {
                (a, b)
            };
            nodes[first].unblocks.push(then);
            nodes[then].waits_for += 1;
        }
    }
    nodes
}

/// What the executor does for a change: the planned action, except that an existing hook whose
/// delete policies include `BeforeHookCreation` is deleted and created again, so it runs.
fn effective_action(change: &ResourceChange, hook: Option<&HookRun>) -> Action {
    match (hook, change.action) {
        (Some(hook), Action::NoOp | Action::Update) if hook.recreates() => Action::DeleteThenCreate,
        (_, action) => action,
    }
}

type Outcome = (usize, Result<(), ProviderError>);

/// What the executor shares with every change it runs.
struct Context<'a> {
    plan: &'a Plan,
    registry: &'a ProviderRegistry,
    config: &'a ExecutorConfig,
    recorder: Arc<dyn Recorder>,
    events: Arc<dyn EventSink>,
}

/// Applies `plan` through the providers in `registry`, in the order of its [`Schedule`]
/// (ArgoCD's phases, waves, kind order and hooks, with `config.sync`'s options).
pub async fn execute(
    plan: &Plan,
    registry: &ProviderRegistry,
    config: ExecutorConfig,
    recorder: Arc<dyn Recorder>,
    events: Arc<dyn EventSink>,
    cancel: Cancellation,
) -> Report {
    let schedule = Schedule::of(plan, &config.sync);
    execute_schedule(plan, &schedule, registry, config, recorder, events, cancel).await
}

/// Applies `plan` step by step in the order `schedule` gives (see [`Schedule::of`]).
///
/// Steps run one after another; a step's runs one after another; the changes of a run start
/// the moment what they depend on has finished, at most `config.parallelism` at once. When a
/// change or a gate fails, the rest of its step and every later step are skipped and the
/// schedule's SyncFail hooks run.
pub async fn execute_schedule(
    plan: &Plan,
    schedule: &Schedule,
    registry: &ProviderRegistry,
    config: ExecutorConfig,
    recorder: Arc<dyn Recorder>,
    events: Arc<dyn EventSink>,
    cancel: Cancellation,
) -> Report {
    let context = Context {
        plan,
        registry,
        config: &config,
        recorder,
        events,
    };
    let mut report = Report::default();
    let mut failure: Option<String> = None;
    for step in &schedule.steps {
        let skip_reason = match &failure {
            Some(reason) => Some(reason.clone()),
            None if cancel.is_cancelled() => {
                report.cancelled = true;
                Some("the apply was cancelled".to_owned())
            }
            None => None,
        };
        if let Some(reason) = skip_reason {
            for i in step.changes() {
                skip(&context, &mut report, i, &reason);
            }
            continue;
        }
        if let Err(failed) = run_step(&context, step, &mut report, &cancel).await {
            failure = Some(failed.to_string());
        }
    }
    let mut ran_on_failure = Vec::new();
    if failure.is_some() && !schedule.on_failure.is_empty() {
        for step in &schedule.on_failure {
            ran_on_failure.extend(step.changes());
            // A failing SyncFail hook is reported; the remaining ones still run.
            let _ = run_step(&context, step, &mut report, &cancel).await;
        }
    }
    report.left_alone = schedule
        .left_alone
        .iter()
        .filter(|(i, _)| !ran_on_failure.contains(i))
        .map(|(i, reason)| (plan.changes[*i].key.clone(), reason.clone()))
        .collect();
    report
}

fn skip(context: &Context<'_>, report: &mut Report, i: usize, reason: &str) {
    let change = &context.plan.changes[i];
    if change.action == Action::NoOp {
        report.succeeded.push(change.key.clone());
        return;
    }
    context.events.emit(Event::Skipped {
        key: change.key.clone(),
        action: change.action,
        reason: reason.to_owned(),
    });
    report.skipped.push((change.key.clone(), reason.to_owned()));
}

/// A step that did not succeed: the reason every later step is skipped.
#[derive(Debug, thiserror::Error)]
#[error("{step} did not succeed")]
struct StepFailed {
    /// The step, as `sync phase <phase> wave <wave>`.
    step: String,
}

/// Runs one step: its runs in order, then its gates and its hooks' delete policies. `Err`
/// carries the reason later steps are skipped.
async fn run_step(
    context: &Context<'_>,
    step: &Step,
    report: &mut Report,
    cancel: &Cancellation,
) -> Result<(), StepFailed> {
    let step_name = format!("sync phase {} wave {}", step.phase.as_str(), step.wave);
    let mut failed = false;
    let mut changed: Vec<usize> = Vec::new();
    let mut pruned: Vec<usize> = Vec::new();
    let mut failed_hooks: Vec<usize> = Vec::new();
    for run in &step.runs {
        if failed {
            let reason = format!("an earlier change of {step_name} failed");
            for &i in run {
                skip(context, report, i, &reason);
            }
            continue;
        }
        let outcome = run_dag(context, run, step, report, cancel).await;
        failed |= !outcome.failed.is_empty();
        failed_hooks.extend(outcome.failed.iter().filter(|i| step.hook(**i).is_some()));
        for (i, action) in outcome.succeeded {
            match action {
                Action::Delete => pruned.push(i),
                Action::NoOp if step.hook(i).is_none() => {}
                _ => changed.push(i),
            }
        }
    }
    if !failed && step.deletion_gate {
        for &i in &pruned {
            if let Err(e) = wait_until_gone(context, i).await {
                gate_failed(context, report, i, e);
                failed = true;
            }
        }
    }
    let mut completed_hooks = Vec::new();
    if !failed && step.health_gate {
        for &i in &changed {
            match wait_until_healthy(context, i).await {
                Ok(()) => completed_hooks.extend(step.hook(i).map(|h| h.change)),
                Err(e) => {
                    gate_failed(context, report, i, e);
                    failed_hooks.extend(step.hook(i).map(|h| h.change));
                    failed = true;
                }
            }
        }
    } else if !failed {
        completed_hooks.extend(changed.iter().filter(|i| step.hook(**i).is_some()));
    }
    for hook in &step.hooks {
        let delete = (completed_hooks.contains(&hook.change)
            && hook
                .delete_policies
                .contains(&HookDeletePolicy::HookSucceeded))
            || (failed_hooks.contains(&hook.change)
                && hook.delete_policies.contains(&HookDeletePolicy::HookFailed));
        if delete && let Err(e) = delete_hook(context, hook.change).await {
            gate_failed(context, report, hook.change, e);
            failed = true;
        }
    }
    if failed {
        Err(StepFailed { step: step_name })
    } else {
        Ok(())
    }
}

/// A change that was applied but whose gate failed: reported failed, not succeeded.
fn gate_failed(context: &Context<'_>, report: &mut Report, i: usize, error: ProviderError) {
    let change = &context.plan.changes[i];
    report.succeeded.retain(|k| k != &change.key);
    context.events.emit(Event::Failed {
        key: change.key.clone(),
        action: change.action,
        error: error.message.clone(),
    });
    report.failed.push((change.key.clone(), error.message));
}

/// The changes of one run that succeeded (with what was done) and failed.
#[derive(Default)]
struct RunOutcome {
    succeeded: Vec<(usize, Action)>,
    failed: Vec<usize>,
}

/// Runs the changes of one run in dependency order with bounded parallelism, starting each the
/// moment what it waits for has finished, highest first.
async fn run_dag(
    context: &Context<'_>,
    run: &[usize],
    step: &Step,
    report: &mut Report,
    cancel: &Cancellation,
) -> RunOutcome {
    let plan = context.plan;
    let mut nodes = build_nodes(plan, run, step);
    let heights = heights(&nodes);
    let mut outcome = RunOutcome::default();
    let mut ready = ReadyQueue::new(heights);
    for i in (0..nodes.len()).filter(|&i| nodes[i].waits_for == 0) {
        ready.push(i);
    }
    let mut in_flight: JoinSet<Outcome> = JoinSet::new();
    let parallelism = context.config.parallelism.max(1);

    loop {
        while in_flight.len() < parallelism {
            let Some(local) = ready.pop() else { break };
            let i = nodes[local].change;
            let action = nodes[local].action;
            let change = &plan.changes[i];
            let skip_reason = if let Some(failed) = &nodes[local].blocked_by {
                Some(format!("dependency {failed} did not succeed"))
            } else if cancel.is_cancelled() && action != Action::NoOp {
                report.cancelled = true;
                Some("the apply was cancelled".to_owned())
            } else {
                None
            };
            if let Some(reason) = skip_reason {
                skip(context, report, i, &reason);
                let name = change.key.to_string();
                release(&mut nodes, local, Some(&name), &mut ready);
                continue;
            }
            if action == Action::NoOp {
                report.succeeded.push(change.key.clone());
                outcome.succeeded.push((i, action));
                release(&mut nodes, local, None, &mut ready);
                continue;
            }
            let provider = context.registry.by_name(&change.provider);
            let change = Arc::new(change.clone());
            let recorder = Arc::clone(&context.recorder);
            let events = Arc::clone(&context.events);
            let retry = context.config.retry;
            in_flight.spawn(async move {
                let result = match provider {
                    Some(p) => {
                        run_change(
                            &change,
                            action,
                            p,
                            recorder.as_ref(),
                            events.as_ref(),
                            retry,
                        )
                        .await
                    }
                    None => Err(ProviderError::final_error(format!(
                        "provider `{}` is not enabled",
                        change.provider
                    ))),
                };
                (local, result)
            });
        }
        if in_flight.is_empty() {
            if ready.is_empty() {
                break;
            }
            continue;
        }
        // Cancellation is looked at whenever a change finishes: changes in flight always run
        // to completion, and nothing new starts once it is set.
        let Some(joined) = in_flight.join_next().await else {
            continue;
        };
        let (local, result) = match joined {
            Ok(outcome) => outcome,
            Err(e) => {
                // A panicking provider: nothing tells which node it was, so stop cleanly.
                report
                    .failed
                    .push((ResourceKey::new("", "Task", None, "panic"), e.to_string()));
                continue;
            }
        };
        let i = nodes[local].change;
        let change = &plan.changes[i];
        match result {
            Ok(()) => {
                report.succeeded.push(change.key.clone());
                outcome.succeeded.push((i, nodes[local].action));
                release(&mut nodes, local, None, &mut ready);
            }
            Err(e) => {
                context.events.emit(Event::Failed {
                    key: change.key.clone(),
                    action: change.action,
                    error: e.message.clone(),
                });
                report.failed.push((change.key.clone(), e.message));
                outcome.failed.push(i);
                let name = change.key.to_string();
                release(&mut nodes, local, Some(&name), &mut ready);
            }
        }
    }
    outcome
}

/// For each node, the number of changes on the longest chain that starts with it: starting the
/// highest nodes first keeps the critical path moving (list scheduling by height).
fn heights(nodes: &[Node]) -> Vec<usize> {
    let mut height = vec![0usize; nodes.len()];
    // Reverse topological order: Kahn's algorithm on the `unblocks` edges, then walk backwards.
    let mut waits: Vec<usize> = nodes.iter().map(|n| n.waits_for).collect();
    let mut queue: VecDeque<usize> = (0..nodes.len()).filter(|&i| waits[i] == 0).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(i) = queue.pop_front() {
        order.push(i);
        for &j in &nodes[i].unblocks {
            waits[j] -= 1;
            if waits[j] == 0 {
                queue.push_back(j);
            }
        }
    }
    for &i in order.iter().rev() {
        height[i] = 1 + nodes[i]
            .unblocks
            .iter()
            .map(|&j| height[j])
            .max()
            .unwrap_or(0);
    }
    height
}

/// Ready changes, highest first; ties go to the earlier change in the plan.
struct ReadyQueue {
    heights: Vec<usize>,
    heap: BinaryHeap<(usize, Reverse<usize>)>,
}

impl ReadyQueue {
    fn new(heights: Vec<usize>) -> Self {
        Self {
            heights,
            heap: BinaryHeap::new(),
        }
    }

    fn push(&mut self, i: usize) {
        self.heap.push((self.heights[i], Reverse(i)));
    }

    fn pop(&mut self) -> Option<usize> {
        self.heap.pop().map(|(_, Reverse(i))| i)
    }

    fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

/// Marks node `i` finished; its dependents that have nothing else to wait for become ready.
fn release(nodes: &mut [Node], i: usize, failed: Option<&str>, ready: &mut ReadyQueue) {
    let unblocks = std::mem::take(&mut nodes[i].unblocks);
    let inherited = nodes[i].blocked_by.clone();
    for j in unblocks {
        if let Some(name) = failed.map(str::to_owned).or_else(|| inherited.clone()) {
            nodes[j].blocked_by.get_or_insert(name);
        }
        nodes[j].waits_for -= 1;
        if nodes[j].waits_for == 0 {
            ready.push(j);
        }
    }
}

async fn run_change(
    change: &ResourceChange,
    action: Action,
    provider: Arc<dyn Provider>,
    recorder: &dyn Recorder,
    events: &dyn EventSink,
    retry: RetryPolicy,
) -> Result<(), ProviderError> {
    let started = tokio::time::Instant::now();
    events.emit(Event::Started {
        key: change.key.clone(),
        action,
    });
    let resource = change.resource.as_ref().ok_or_else(|| {
        ProviderError::final_error("the plan carries no manifest for this change")
    })?;
    let record_err =
        |e: StateError| ProviderError::final_error(format!("recording state: {e}")).with_source(e);
    match action {
        Action::NoOp => {}
        Action::Create => {
            recorder.creating(change).await.map_err(record_err)?;
            crate::crash::reached("intent-written");
            let applied = with_retry(change, events, retry, || provider.create(resource)).await?;
            crate::crash::reached("provider-applied");
            recorder
                .applied(change, &applied)
                .await
                .map_err(record_err)?;
        }
        Action::Update => {
            let live = change.live.clone().unwrap_or_default();
            recorder.updating(change).await.map_err(record_err)?;
            crate::crash::reached("intent-written");
            let applied = match with_retry(change, events, retry, || {
                provider.update(resource, &live)
            })
            .await
            {
                Ok(applied) => applied,
                Err(error) => {
                    recorder.update_failed(change).await.map_err(record_err)?;
                    return Err(error);
                }
            };
            crate::crash::reached("provider-applied");
            recorder
                .applied(change, &applied)
                .await
                .map_err(record_err)?;
        }
        Action::DeleteThenCreate => {
            with_retry(change, events, retry, || provider.delete(resource)).await?;
            crate::crash::reached("provider-deleted");
            recorder.creating(change).await.map_err(record_err)?;
            crate::crash::reached("intent-written");
            let applied = with_retry(change, events, retry, || provider.create(resource)).await?;
            crate::crash::reached("provider-applied");
            recorder
                .applied(change, &applied)
                .await
                .map_err(record_err)?;
        }
        Action::CreateThenDelete => {
            recorder.creating(change).await.map_err(record_err)?;
            crate::crash::reached("intent-written");
            let applied = with_retry(change, events, retry, || provider.create(resource)).await?;
            crate::crash::reached("provider-applied");
            recorder
                .applied(change, &applied)
                .await
                .map_err(record_err)?;
            // The old object is deleted only when it has an identity of its own (a different
            // external name); otherwise the create already took its place.
            if let Some(old) = change.live.as_ref().filter(|old| {
                crate::model::annotation(old, crate::model::ANNOTATION_EXTERNAL_NAME)
                    != crate::model::annotation(
                        &applied.live,
                        crate::model::ANNOTATION_EXTERNAL_NAME,
                    )
            }) {
                let old = crate::model::Resource {
                    key: change.key.clone(),
                    manifest: serde_json::Value::clone(old),
                    source: None,
                };
                with_retry(change, events, retry, || provider.delete(&old)).await?;
            }
        }
        Action::Delete => {
            with_retry(change, events, retry, || provider.delete(resource)).await?;
            crate::crash::reached("provider-deleted");
            recorder.deleted(change).await.map_err(record_err)?;
        }
    }
    events.emit(Event::Succeeded {
        key: change.key.clone(),
        action,
        elapsed: started.elapsed(),
    });
    Ok(())
}

/// The provider of change `i` and its manifest, or why there is none.
fn provider_and_resource<'a>(
    context: &'a Context<'_>,
    i: usize,
) -> Result<(Arc<dyn Provider>, &'a crate::model::Resource), ProviderError> {
    let change = &context.plan.changes[i];
    let provider = context.registry.by_name(&change.provider).ok_or_else(|| {
        ProviderError::final_error(format!("provider `{}` is not enabled", change.provider))
    })?;
    let resource = change.resource.as_ref().ok_or_else(|| {
        ProviderError::final_error("the plan carries no manifest for this change")
    })?;
    Ok((provider, resource))
}

/// Deletes a hook after its step (its `HookSucceeded` / `HookFailed` policy) and forgets it.
async fn delete_hook(context: &Context<'_>, i: usize) -> Result<(), ProviderError> {
    let change = &context.plan.changes[i];
    let (provider, resource) = provider_and_resource(context, i)?;
    with_retry(
        change,
        context.events.as_ref(),
        context.config.retry,
        || provider.delete(resource),
    )
    .await?;
    context
        .recorder
        .deleted(change)
        .await
        .map_err(|e| ProviderError::final_error(format!("recording state: {e}")).with_source(e))
}

/// Observes a pruned object until the provider no longer finds it.
async fn wait_until_gone(context: &Context<'_>, i: usize) -> Result<(), ProviderError> {
    let key = &context.plan.changes[i].key;
    poll_gate(context, i, |live, _| match live {
        None => Gate::Passed,
        Some(_) => Gate::Waiting,
    })
    .await
    .map_err(|failure| match failure {
        GateFailure::Provider(e) => e,
        GateFailure::Failed => ProviderError::final_error(format!("{key} could not be deleted")),
        GateFailure::TimedOut(after) => ProviderError::final_error(format!(
            "{key} was still there {after:?} after its deletion; the next sync step does not start"
        )),
    })
}

/// Observes the object until the provider calls it healthy; degraded or too slow is a failure.
async fn wait_until_healthy(context: &Context<'_>, i: usize) -> Result<(), ProviderError> {
    let key = &context.plan.changes[i].key;
    poll_gate(context, i, |live, provider| {
        match live.map_or(Health::Progressing, |live| provider.health(live)) {
            Health::Healthy => Gate::Passed,
            Health::Degraded => Gate::Failed,
            _ => Gate::Waiting,
        }
    })
    .await
    .map_err(|failure| match failure {
        GateFailure::Provider(e) => e,
        GateFailure::Failed => ProviderError::final_error(format!(
            "{key} is degraded; the next sync step does not start"
        )),
        GateFailure::TimedOut(after) => ProviderError::final_error(format!(
            "{key} was not healthy after {after:?}; the next sync step does not start"
        )),
    })
}

/// What one observation says about a gate.
enum Gate {
    Passed,
    Waiting,
    Failed,
}

/// Why a gate did not pass.
enum GateFailure {
    Failed,
    TimedOut(std::time::Duration),
    Provider(ProviderError),
}

/// Observes change `i`'s object every `config.health.poll_interval` until `check` says the
/// gate passed or failed, or `config.health.timeout` runs out. Observation errors are retried
/// like any provider call, then returned as they are.
async fn poll_gate(
    context: &Context<'_>,
    i: usize,
    check: impl Fn(Option<&serde_json::Value>, &dyn Provider) -> Gate,
) -> Result<(), GateFailure> {
    let change = &context.plan.changes[i];
    let (provider, resource) = provider_and_resource(context, i).map_err(GateFailure::Provider)?;
    let wait = context.config.health;
    let deadline = tokio::time::Instant::now() + wait.timeout;
    loop {
        let observed = with_retry(
            change,
            context.events.as_ref(),
            context.config.retry,
            || provider.observe(resource),
        )
        .await
        .map_err(GateFailure::Provider)?;
        match check(
            observed.live.as_ref().map(|l| l.value()).as_deref(),
            provider.as_ref(),
        ) {
            Gate::Passed => return Ok(()),
            Gate::Failed => return Err(GateFailure::Failed),
            Gate::Waiting if tokio::time::Instant::now() >= deadline => {
                return Err(GateFailure::TimedOut(wait.timeout));
            }
            Gate::Waiting => tokio::time::sleep(wait.poll_interval).await,
        }
    }
}

async fn with_retry<T, F, Fut>(
    change: &ResourceChange,
    events: &dyn EventSink,
    retry: RetryPolicy,
    op: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    crate::retry::retrying(retry, op, |attempt, delay, error| {
        events.emit(Event::Retrying {
            key: change.key.clone(),
            attempt,
            delay,
            error: error.message.clone(),
        });
    })
    .await
}
