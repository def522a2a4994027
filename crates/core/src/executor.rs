//! Carrying out a plan: bounded parallelism, dependency order, retries, events, cancellation.
//!
//! Each change starts the moment everything it waits for has finished (not level by level), and
//! at most `parallelism` provider calls run at once. Creates and updates follow dependency order;
//! a delete waits for the deletes of everything that depended on the deleted resource. When a
//! change fails, every change waiting on it (transitively) is skipped while independent work goes
//! on. Retryable provider errors are retried with exponential backoff. Before each create the
//! intent is recorded in the state, so a crash cannot leak a duplicate.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::model::ResourceKey;
use crate::plan::{Action, Plan, ResourceChange};
use crate::provider::{Applied, Provider, ProviderError, ProviderRegistry};

pub mod report;

/// Retry policy for retryable provider errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Delay before the second attempt.
    pub initial_delay: Duration,
    /// Multiplier between delays.
    pub factor: u32,
    /// Cap on a single delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_delay: Duration::from_secs(1),
            factor: 2,
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let mut delay = self.initial_delay;
        for _ in 1..attempt {
            delay = delay.saturating_mul(self.factor).min(self.max_delay);
        }
        delay.min(self.max_delay)
    }
}

/// How long and how often to check health where the plan waits for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Executor settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutorConfig {
    /// Provider calls in flight at once (default 10, as Terraform).
    pub parallelism: usize,
    /// Retries of retryable errors.
    pub retry: RetryPolicy,
    /// Health checks between sync waves.
    pub health: HealthWait,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            parallelism: 10,
            retry: RetryPolicy::default(),
            health: HealthWait::default(),
        }
    }
}

/// Progress of an apply, for display.
#[derive(Debug, Clone, PartialEq)]
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
    async fn creating(&self, change: &ResourceChange) -> Result<(), String>;
    /// Called after a create or update succeeded.
    async fn applied(&self, change: &ResourceChange, applied: &Applied) -> Result<(), String>;
    /// Called after a delete succeeded.
    async fn deleted(&self, change: &ResourceChange) -> Result<(), String>;
}

/// A recorder that records nothing (for dry runs and benchmarks).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoRecorder;

#[async_trait]
impl Recorder for NoRecorder {
    async fn creating(&self, _: &ResourceChange) -> Result<(), String> {
        Ok(())
    }
    async fn applied(&self, _: &ResourceChange, _: &Applied) -> Result<(), String> {
        Ok(())
    }
    async fn deleted(&self, _: &ResourceChange) -> Result<(), String> {
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
}

impl Report {
    /// Whether every change succeeded.
    pub fn is_success(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && !self.cancelled
    }
}

struct Node {
    change: Arc<ResourceChange>,
    waits_for: usize,
    unblocks: Vec<usize>,
    blocked_by: Option<String>,
}

/// The waits between changes: a create or update waits for its dependencies; a delete must
/// finish before anything is done to what it depended on.
fn build_nodes(plan: &Plan) -> Vec<Node> {
    let index: HashMap<&ResourceKey, usize> = plan
        .changes
        .iter()
        .enumerate()
        .map(|(i, c)| (&c.key, i))
        .collect();
    let mut nodes: Vec<Node> = plan
        .changes
        .iter()
        .map(|c| Node {
            change: Arc::new(c.clone()),
            waits_for: 0,
            unblocks: Vec::new(),
            blocked_by: None,
        })
        .collect();
    for (b, change) in plan.changes.iter().enumerate() {
        for dep in &change.dependencies {
            let Some(&a) = index.get(dep) else { continue };
            let (first, then) = if change.action == Action::Delete {
                (b, a)
            } else if plan.changes[a].action == Action::Delete {
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

type Outcome = (usize, Result<(), ProviderError>);

/// Applies `plan` through the providers in `registry`.
pub async fn execute(
    plan: &Plan,
    registry: &ProviderRegistry,
    config: ExecutorConfig,
    recorder: Arc<dyn Recorder>,
    events: Arc<dyn EventSink>,
    cancel: Cancellation,
) -> Report {
    let mut nodes = build_nodes(plan);
    let heights = heights(&nodes);
    let mut report = Report::default();
    let mut ready = ReadyQueue::new(heights);
    for i in (0..nodes.len()).filter(|&i| nodes[i].waits_for == 0) {
        ready.push(i);
    }
    let mut in_flight: JoinSet<Outcome> = JoinSet::new();
    let mut cancel_rx = cancel.0.clone();
    let parallelism = config.parallelism.max(1);
    let mut done = 0usize;

    loop {
        while in_flight.len() < parallelism {
            let Some(i) = ready.pop() else { break };
            let change = Arc::clone(&nodes[i].change);
            let skip_reason = if let Some(failed) = &nodes[i].blocked_by {
                Some(format!("dependency {failed} did not succeed"))
            } else if cancel.is_cancelled() && change.action != Action::NoOp {
                report.cancelled = true;
                Some("the apply was cancelled".to_owned())
            } else {
                None
            };
            if let Some(reason) = skip_reason {
                events.emit(Event::Skipped {
                    key: change.key.clone(),
                    action: change.action,
                    reason: reason.clone(),
                });
                report.skipped.push((change.key.clone(), reason));
                let name = change.key.to_string();
                done += 1;
                release(&mut nodes, i, Some(&name), &mut ready);
                continue;
            }
            if change.action == Action::NoOp {
                report.succeeded.push(change.key.clone());
                done += 1;
                release(&mut nodes, i, None, &mut ready);
                continue;
            }
            let provider = registry.by_name(&change.provider);
            let recorder = Arc::clone(&recorder);
            let events = Arc::clone(&events);
            let (retry, health) = (config.retry, config.health);
            in_flight.spawn(async move {
                let result = match provider {
                    Some(p) => {
                        run_change(
                            &change,
                            p,
                            recorder.as_ref(),
                            events.as_ref(),
                            retry,
                            health,
                        )
                        .await
                    }
                    None => Err(ProviderError::final_error(format!(
                        "provider `{}` is not enabled",
                        change.provider
                    ))),
                };
                (i, result)
            });
        }
        if in_flight.is_empty() {
            if ready.is_empty() {
                break;
            }
            continue;
        }
        tokio::select! {
            joined = in_flight.join_next() => {
                let Some(joined) = joined else { continue };
                let (i, result) = match joined {
                    Ok(outcome) => outcome,
                    Err(e) => {
                        // A panicking provider: nothing tells which node it was, so stop cleanly.
                        report.failed.push((ResourceKey::new("", "Task", None, "panic"), e.to_string()));
                        continue;
                    }
                };
                done += 1;
                let change = Arc::clone(&nodes[i].change);
                match result {
                    Ok(()) => {
                        report.succeeded.push(change.key.clone());
                        release(&mut nodes, i, None, &mut ready);
                    }
                    Err(e) => {
                        events.emit(Event::Failed { key: change.key.clone(), action: change.action, error: e.message.clone() });
                        report.failed.push((change.key.clone(), e.message));
                        let name = change.key.to_string();
                        release(&mut nodes, i, Some(&name), &mut ready);
                    }
                }
            }
            changed = cancel_rx.changed() => {
                if changed.is_err() {
                    // The handle was dropped: nothing can cancel any more.
                    cancel_rx = Cancellation::never().0;
                }
            }
        }
    }
    debug_assert!(done <= nodes.len());
    report
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
    provider: Arc<dyn Provider>,
    recorder: &dyn Recorder,
    events: &dyn EventSink,
    retry: RetryPolicy,
    health: HealthWait,
) -> Result<(), ProviderError> {
    let started = tokio::time::Instant::now();
    events.emit(Event::Started {
        key: change.key.clone(),
        action: change.action,
    });
    let resource = change.resource.as_ref().ok_or_else(|| {
        ProviderError::final_error("the plan carries no manifest for this change")
    })?;
    let record_err = |e: String| ProviderError::final_error(format!("recording state: {e}"));
    match change.action {
        Action::NoOp => {}
        Action::Create => {
            recorder.creating(change).await.map_err(record_err)?;
            let applied = with_retry(change, events, retry, || provider.create(resource)).await?;
            recorder
                .applied(change, &applied)
                .await
                .map_err(record_err)?;
        }
        Action::Update => {
            let live = change.live.clone().unwrap_or_default();
            let applied =
                with_retry(change, events, retry, || provider.update(resource, &live)).await?;
            recorder
                .applied(change, &applied)
                .await
                .map_err(record_err)?;
        }
        Action::DeleteThenCreate => {
            with_retry(change, events, retry, || provider.delete(resource)).await?;
            recorder.creating(change).await.map_err(record_err)?;
            let applied = with_retry(change, events, retry, || provider.create(resource)).await?;
            recorder
                .applied(change, &applied)
                .await
                .map_err(record_err)?;
        }
        Action::CreateThenDelete => {
            recorder.creating(change).await.map_err(record_err)?;
            let applied = with_retry(change, events, retry, || provider.create(resource)).await?;
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
                    manifest: old.clone(),
                    source: None,
                };
                with_retry(change, events, retry, || provider.delete(&old)).await?;
            }
        }
        Action::Delete => {
            with_retry(change, events, retry, || provider.delete(resource)).await?;
            recorder.deleted(change).await.map_err(record_err)?;
        }
    }
    if change.wait_for_health && change.action != Action::Delete {
        wait_until_healthy(change, resource, provider.as_ref(), events, retry, health).await?;
    }
    events.emit(Event::Succeeded {
        key: change.key.clone(),
        action: change.action,
        elapsed: started.elapsed(),
    });
    Ok(())
}

/// Observes the object until the provider calls it healthy; degraded or too slow is a failure.
async fn wait_until_healthy(
    change: &ResourceChange,
    resource: &crate::model::Resource,
    provider: &dyn Provider,
    events: &dyn EventSink,
    retry: RetryPolicy,
    wait: HealthWait,
) -> Result<(), ProviderError> {
    let deadline = tokio::time::Instant::now() + wait.timeout;
    loop {
        let observed = with_retry(change, events, retry, || provider.observe(resource)).await?;
        let health = observed
            .live
            .as_ref()
            .map_or(crate::provider::Health::Progressing, |live| {
                provider.health(live)
            });
        match health {
            crate::provider::Health::Healthy => return Ok(()),
            crate::provider::Health::Degraded => {
                return Err(ProviderError::final_error(format!(
                    "{} is degraded; the next sync wave does not start",
                    change.key
                )));
            }
            _ if tokio::time::Instant::now() >= deadline => {
                return Err(ProviderError::final_error(format!(
                    "{} was not healthy after {:?}; the next sync wave does not start",
                    change.key, wait.timeout
                )));
            }
            _ => tokio::time::sleep(wait.poll_interval).await,
        }
    }
}

async fn with_retry<T, F, Fut>(
    change: &ResourceChange,
    events: &dyn EventSink,
    retry: RetryPolicy,
    mut op: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retryable() && attempt < retry.max_attempts => {
                let delay = retry.delay(attempt);
                events.emit(Event::Retrying {
                    key: change.key.clone(),
                    attempt,
                    delay,
                    error: e.message.clone(),
                });
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
