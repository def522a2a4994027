//! The high-level flow used by the CLI and by embedding programs: load, plan, apply, with the
//! state locked and saved after every change.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::compact::CompactValue;
use crate::executor::{self, Cancellation, EventSink, ExecutorConfig, Recorder, Report};
use crate::graph::{Graph, GraphError};
use crate::live::LiveObject;
use crate::model::{Resource, ResourceKey};
use crate::normalize::Normalizer;
use crate::plan::{self, Observations, Observed, Plan, PlanOptions, ResourceChange};
use crate::provider::{Applied, Observation, ProviderError, ProviderRegistry};
use crate::references::{self, LiveLookup, ReferenceError, ReferenceSource};
use crate::sensitive::Sensitivity;
use crate::state::{
    LockInfo, ResourceState, ResourceStatus, State, StateChange, StateError, StateStore,
};

/// Errors of the high-level flow.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The desired set's graph is invalid.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// A reference of the desired set cannot be resolved.
    #[error(transparent)]
    Reference(#[from] Box<ReferenceError>),
    /// The state could not be read, locked or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// Observing a resource failed.
    #[error("observing {key}: {error}")]
    Observe {
        /// The resource.
        key: ResourceKey,
        /// The provider's error.
        #[source]
        error: ProviderError,
    },
    /// A provider failed to list the objects it holds.
    #[error("listing the objects {provider} holds: {error}")]
    List {
        /// The provider.
        provider: String,
        /// Its error.
        #[source]
        error: ProviderError,
    },
    /// The plan has guard violations.
    #[error("the plan cannot be applied: {0}")]
    Refused(String),
    /// A `targets` or `replace` address names no resource of the desired set or the state.
    #[error("{option} {key}: no such resource in the desired set{}{}", if *.in_state_too { " or the state" } else { "" }, .suggestion.as_ref().map(|s| format!("; did you mean {s}?")).unwrap_or_default())]
    UnknownAddress {
        /// The option naming it (`--target`, `--replace`).
        option: &'static str,
        /// The address given.
        key: ResourceKey,
        /// Whether the state was searched too.
        in_state_too: bool,
        /// The closest known address, when one is close.
        suggestion: Option<String>,
    },
    /// The desired set has problems a real server or provider would refuse (see
    /// [`crate::validate`]); nothing was planned.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<crate::validate::Problem>),
    /// An import was refused.
    #[error(transparent)]
    Import(#[from] crate::import::ImportError),
    /// Names the target systems would refuse (see [`crate::names`]); nothing was planned.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    InvalidNames(Vec<crate::names::NameError>),
}

/// Plans and applies desired sets through a provider registry and a state store.
#[derive(Debug, Clone)]
pub struct Engine {
    /// Routes resources to providers.
    pub registry: ProviderRegistry,
    /// Prepares objects for comparison.
    pub normalizer: Arc<dyn Normalizer>,
    /// Keeps the state.
    pub store: Arc<dyn StateStore>,
    /// Parallelism and retries.
    pub config: ExecutorConfig,
}

/// Checks that every `--target` names a desired or recorded resource and every `--replace` a
/// desired one, suggesting the closest address for a typo.
pub(crate) fn check_addresses(
    desired: &[Resource],
    state: &State,
    options: &PlanOptions,
) -> Option<EngineError> {
    let desired_keys: std::collections::HashSet<&ResourceKey> =
        desired.iter().map(|r| &r.key).collect();
    let unknown = |option, key: &ResourceKey, with_state: bool| {
        let candidates = desired_keys
            .iter()
            .copied()
            .chain(
                state
                    .resources
                    .values()
                    .map(|r| &r.key)
                    .filter(|_| with_state),
            )
            .map(ToString::to_string)
            .collect::<Vec<_>>();
        let suggestion =
            crate::validate::nearest(&key.to_string(), candidates.iter().map(String::as_str))
                .map(str::to_owned);
        EngineError::UnknownAddress {
            option,
            key: key.clone(),
            in_state_too: with_state,
            suggestion,
        }
    };
    for key in &options.targets {
        if !desired_keys.contains(key) && state.get(key).is_none() {
            return Some(unknown("--target", key, true));
        }
    }
    options
        .replace
        .iter()
        .find(|key| !desired_keys.contains(key))
        .map(|key| unknown("--replace", key, false))
}

impl Engine {
    /// Loads the state (empty when there is none), resolves references, observes and plans.
    /// Pass the desired set by value to spare a copy (the plan keeps the manifests it will
    /// apply), or a slice.
    pub async fn plan(
        &self,
        desired: impl Into<Vec<Resource>>,
        options: &PlanOptions,
    ) -> Result<(Plan, State), EngineError> {
        let mut desired = desired.into();
        let problems = crate::validate::Validator::for_registry(&self.registry).check(&desired);
        if !problems.is_empty() {
            return Err(EngineError::Invalid(problems));
        }
        let invalid = crate::names::check_names(&desired);
        if !invalid.is_empty() {
            return Err(EngineError::InvalidNames(invalid));
        }
        let graph = Graph::build(&desired)?;
        let state = self.store.load().await?.unwrap_or_default();
        state.check_stack(&options.stack, &self.store.location())?;
        if let Some(unknown) = check_addresses(&desired, &state, options) {
            return Err(unknown);
        }
        let observations = self
            .resolve_and_observe(&mut desired, &graph, &state)
            .await?;
        let plan = plan::compute_plan(
            desired,
            &graph,
            &state,
            &observations,
            &self.registry,
            self.normalizer.as_ref(),
            options,
        );
        Ok((plan, state))
    }

    /// Fills the fields the references of `desired` stand for (see [`crate::references`]) and
    /// observes every desired and recorded resource. `graph` is the graph of `desired`.
    ///
    /// References whose value is the target's external name are resolved before anything is
    /// observed, so providers observe with the real values. References to a live field of
    /// another resource are resolved in rounds: everything else is observed first, then those
    /// resources, once their targets' live objects are known.
    pub async fn resolve_and_observe(
        &self,
        desired: &mut [Resource],
        graph: &Graph,
        state: &State,
    ) -> Result<Observations, EngineError> {
        // One observation per desired or recorded resource: sized once, not grown by doubling.
        let mut observations =
            Observations::with_capacity(desired.len().max(state.resources.len()));
        self.resolve_and_observe_each(desired, graph, state, |observed, observation| {
            observations.insert(observed.key().clone(), observation);
        })
        .await?;
        Ok(observations)
    }

    /// [`Engine::resolve_and_observe`] without gathering the observations: each one is handed
    /// to `sink` as it arrives (in completion order, at most the configured parallelism in
    /// flight), with the resource it is of, so a caller can compare and drop each live object.
    ///
    /// The only live objects kept here are those a reference of another resource reads (its
    /// value is a live field of the target, see [`references::live_targets`]), until every
    /// reference is resolved. A desired resource whose references wait for such an object is
    /// observed (and handed over) only once they are resolved, so `sink` sees every desired
    /// resource with its references filled. Each desired resource a provider serves is handed
    /// over once, then each recorded one the desired set no longer declares.
    pub async fn resolve_and_observe_each<F>(
        &self,
        desired: &mut [Resource],
        graph: &Graph,
        state: &State,
        mut sink: F,
    ) -> Result<Streamed, EngineError>
    where
        F: FnMut(Observed<'_>, Observation) + Send,
    {
        let registry = &self.registry;
        let source_of = |target: &Resource, value_field: &str| {
            registry
                .route(target)
                .map(|provider| provider.reference_value(&target.key, value_field))
                .unwrap_or(ReferenceSource::ExternalName)
        };
        let not_observed = |_: &ResourceKey| LiveLookup::NotObserved;
        let mut waiting =
            references::resolve_references(desired, graph, None, &source_of, &not_observed)?;
        let positions: Vec<usize> = waiting.iter().map(|w| w.position).collect();
        let mut keeper = Keeper {
            needed: references::live_targets(desired, graph, &positions, &source_of),
            kept: HashMap::new(),
            streamed: Streamed::default(),
        };
        let is_waiting: HashSet<usize> = positions.into_iter().collect();
        let ready: Vec<usize> = (0..desired.len())
            .filter(|position| !is_waiting.contains(position))
            .collect();
        // A waiting resource the state records is not observed through its last-applied
        // manifest: it is observed once resolved.
        self.observe_each(desired, &ready, state, &mut keeper, &mut sink)
            .await?;
        while !waiting.is_empty() {
            let positions: Vec<usize> = waiting.iter().map(|w| w.position).collect();
            let kept = &keeper.kept;
            let live_of = |key: &ResourceKey| match kept.get(key) {
                Some(live) => LiveLookup::Observed(live.as_ref()),
                None => LiveLookup::NotObserved,
            };
            let still = references::resolve_references(
                desired,
                graph,
                Some(&positions),
                &source_of,
                &live_of,
            )?;
            let still_waiting: HashSet<usize> = still.iter().map(|w| w.position).collect();
            let resolved: Vec<usize> = positions
                .into_iter()
                .filter(|p| !still_waiting.contains(p))
                .collect();
            if resolved.is_empty() {
                // Nothing moved: what they wait for is never observed.
                return match still.into_iter().next().map(|w| w.unresolved) {
                    Some(error) => Err(EngineError::Reference(Box::new(error))),
                    None => Ok(keeper.streamed),
                };
            }
            self.observe_each(
                desired,
                &resolved,
                &State::default(),
                &mut keeper,
                &mut sink,
            )
            .await?;
            waiting = still;
        }
        Ok(keeper.streamed)
    }

    /// Observes the desired resources at `positions` and the recorded resources of `state`
    /// that `desired` does not declare, keeping what `keeper` needs and handing everything to
    /// `sink`.
    async fn observe_each<F>(
        &self,
        desired: &[Resource],
        positions: &[usize],
        state: &State,
        keeper: &mut Keeper,
        sink: &mut F,
    ) -> Result<(), EngineError>
    where
        F: FnMut(Observed<'_>, Observation) + Send,
    {
        plan::observe_each(
            desired,
            Some(positions),
            state,
            &self.registry,
            self.config.parallelism,
            |observed, observation| {
                keeper.note(observed.key(), &observation);
                sink(observed, observation);
            },
        )
        .await
        .map_err(|(key, error)| EngineError::Observe { key, error })
    }

    /// A refresh-only plan (Terraform's `-refresh-only`): every recorded resource observed
    /// through its recorded provider and compared with what was last applied. Nothing is
    /// written; see [`Engine::save_refresh`].
    pub async fn refresh(
        &self,
        options: &PlanOptions,
    ) -> Result<(plan::refresh::Refresh, State), EngineError> {
        let state = self.store.load().await?.unwrap_or_default();
        state.check_stack(&options.stack, &self.store.location())?;
        let observations = self.observe(&[], &state).await?;
        let refresh = plan::refresh::compute_refresh(
            &state,
            &observations,
            &self.registry,
            self.normalizer.as_ref(),
        );
        Ok((refresh, state))
    }

    /// Records a refresh in the state read with it (compare-and-swap: refused if the state
    /// changed since); no provider is called.
    pub async fn save_refresh(
        &self,
        refresh: &plan::refresh::Refresh,
        mut state: State,
    ) -> Result<State, EngineError> {
        if refresh.has_changes() {
            refresh.apply_to(&mut state);
            self.store.save(&mut state).await?;
        }
        Ok(state)
    }

    async fn observe(
        &self,
        desired: &[Resource],
        state: &State,
    ) -> Result<Observations, EngineError> {
        plan::observe_all(desired, state, &self.registry, self.config.parallelism)
            .await
            .map_err(|(key, error)| EngineError::Observe { key, error })
    }

    /// Takes the state's operation lock for `operation`, waiting up to `timeout` for another
    /// holder to release it (checking every second and calling `waiting` with the holder
    /// first). Terraform's behaviour: `apply` and `destroy` hold it across plan, confirmation
    /// and apply; `plan` takes it too.
    pub async fn lock(
        &self,
        operation: &str,
        timeout: std::time::Duration,
        waiting: impl Fn(&LockInfo),
    ) -> Result<HeldLock, EngineError> {
        let info = LockInfo::new(operation);
        let deadline = tokio::time::Instant::now() + timeout;
        let mut told = false;
        loop {
            match self.store.lock(&info).await {
                Ok(()) => return Ok(HeldLock { info }),
                Err(StateError::Locked { holder, .. })
                    if tokio::time::Instant::now() < deadline =>
                {
                    if !told {
                        waiting(&holder);
                        told = true;
                    }
                    tokio::time::sleep(
                        std::time::Duration::from_secs(1)
                            .min(deadline - tokio::time::Instant::now()),
                    )
                    .await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Releases a lock taken with [`Engine::lock`].
    pub async fn unlock(&self, held: HeldLock) -> Result<(), EngineError> {
        Ok(self.store.unlock(&held.info.id).await?)
    }

    /// Applies `plan` (made against `state`) taking the state lock for the duration, saving
    /// the state as it goes. Refuses a plan with guard violations before doing anything.
    pub async fn apply(
        &self,
        plan: &Plan,
        state: State,
        operation: &str,
        events: Arc<dyn EventSink>,
        cancel: Cancellation,
    ) -> Result<Report, EngineError> {
        if !plan.is_applyable() {
            return Err(refused(plan));
        }
        let held = self
            .lock(operation, std::time::Duration::ZERO, |_| {})
            .await?;
        let report = self.apply_locked(plan, state, &held, events, cancel).await;
        let unlocked = self.unlock(held).await;
        let report = report?;
        unlocked?;
        Ok(report)
    }

    /// Applies `plan` under a lock the caller holds (see [`Engine::lock`]), saving the state
    /// as it goes: intents are durable before their provider call, results are group-committed
    /// and the state is compacted at the end. Refuses a plan with guard violations.
    pub async fn apply_locked(
        &self,
        plan: &Plan,
        state: State,
        held: &HeldLock,
        events: Arc<dyn EventSink>,
        cancel: Cancellation,
    ) -> Result<Report, EngineError> {
        let _ = held;
        if !plan.is_applyable() {
            return Err(refused(plan));
        }
        let mut state = state;
        if state.stack.is_empty() {
            state.stack = plan.stack.clone();
        }
        let intents = confirmed_intents(plan, &state);
        let recorder = Arc::new(StateRecorder::new(self, state));
        for change in &intents {
            // An interrupted apply's intent whose object is there and as desired: applied.
            recorder.applied(change, &Applied::default()).await?;
        }
        let report = executor::execute(
            plan,
            &self.registry,
            self.config.clone(),
            Arc::clone(&recorder) as Arc<dyn Recorder>,
            events,
            cancel,
        )
        .await;
        recorder.finish().await?;
        Ok(report)
    }
}

/// What [`Engine::resolve_and_observe_each`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Streamed {
    /// Observations handed over.
    pub observed: usize,
    /// Live objects kept for references (the live-field targets observed): the most the
    /// streaming held at once besides the observations in flight.
    pub kept: usize,
}

/// Keeps the live objects references read while observations stream by.
struct Keeper {
    /// The resources whose live objects a waiting reference reads.
    needed: HashSet<ResourceKey>,
    /// Their live objects, as observed (`None`: absent).
    kept: HashMap<ResourceKey, Option<LiveObject>>,
    streamed: Streamed,
}

impl Keeper {
    fn note(&mut self, key: &ResourceKey, observation: &Observation) {
        self.streamed.observed += 1;
        if self.needed.contains(key) {
            self.kept.insert(key.clone(), observation.live.clone());
            self.streamed.kept = self.kept.len();
        }
    }
}

/// The state's operation lock, held by this process until given to [`Engine::unlock`].
#[derive(Debug)]
#[must_use = "a held lock must be released with Engine::unlock"]
pub struct HeldLock {
    info: LockInfo,
}

impl HeldLock {
    /// Who holds it and why.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }
}

fn refused(plan: &Plan) -> EngineError {
    let reasons: Vec<&str> = plan.violations.iter().map(|v| v.message.as_str()).collect();
    EngineError::Refused(reasons.join("; "))
}

/// The no-op changes whose state record is still an intent (`creating`, `updating`): the
/// object exists and matches, so the next write records it applied.
fn confirmed_intents<'a>(plan: &'a Plan, state: &State) -> Vec<&'a ResourceChange> {
    plan.changes
        .iter()
        .filter(|c| c.action == crate::plan::Action::NoOp)
        .filter(|c| {
            state
                .get(&c.key)
                .is_some_and(|r| r.status != ResourceStatus::Applied)
        })
        .collect()
}

/// Records apply effects into the state with group commit: an intent (a create about to be
/// sent) is durable before its provider call, and the intents, results and deletions that
/// arrive together go out in one write ([`StateStore::save_changes`]); results and deletions
/// do not wait for their write (a crash before it leaves an intent the next apply confirms).
/// [`StateRecorder::finish`] writes what is left and compacts the state.
struct StateRecorder {
    normalizer: Arc<dyn Normalizer>,
    store: Arc<dyn StateStore>,
    registry: ProviderRegistry,
    /// The state as written so far; held by the one writer of a batch.
    state: Mutex<State>,
    /// Changes queued but not written yet, with their tickets.
    queue: std::sync::Mutex<Queue>,
    /// The records updates in flight replaced with their intents, to put back when the
    /// provider refuses the update.
    before_update: std::sync::Mutex<std::collections::HashMap<ResourceKey, ResourceState>>,
}

#[derive(Default)]
struct Queue {
    changes: Vec<StateChange>,
    /// Tickets handed out (the ticket of a change is the count after queueing it).
    issued: u64,
    /// Every ticket up to this one is durable.
    written: u64,
}

impl StateRecorder {
    fn new(engine: &Engine, state: State) -> Self {
        Self {
            normalizer: Arc::clone(&engine.normalizer),
            store: Arc::clone(&engine.store),
            registry: engine.registry.clone(),
            state: Mutex::new(state),
            queue: std::sync::Mutex::new(Queue::default()),
            before_update: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn record_for(
        &self,
        change: &ResourceChange,
        status: ResourceStatus,
        outputs: Value,
    ) -> Option<ResourceState> {
        let resource = change.resource.as_ref()?;
        let sensitivity = Sensitivity::with_paths(
            self.registry
                .by_name(&change.provider)
                .map(|p| p.sensitive_fields(&change.key))
                .unwrap_or_default(),
        );
        Some(ResourceState {
            key: change.key.clone(),
            api_version: change.api_version.clone(),
            provider: change.provider.clone(),
            status,
            last_applied: CompactValue::from_value(
                &sensitivity.digested(&change.key, &self.last_applied_form(&resource.manifest)),
            ),
            dependencies: change.dependencies.clone(),
            outputs: sensitivity.redact(&change.key, &outputs),
            protect: resource.is_protected(),
        })
    }

    /// The form the state keeps: normalized the way plans compare, so later plans compare
    /// like with like.
    fn last_applied_form<'a>(&self, manifest: &'a Value) -> std::borrow::Cow<'a, Value> {
        if self.normalizer.is_identity() {
            std::borrow::Cow::Borrowed(manifest)
        } else {
            std::borrow::Cow::Owned(self.normalizer.normalize(manifest, &Value::Null).0)
        }
    }

    fn queue(&self) -> Result<std::sync::MutexGuard<'_, Queue>, StateError> {
        self.queue.lock().map_err(|_| {
            StateError::io_message(
                self.store.location(),
                "the state recorder's queue was poisoned by a panic",
            )
        })
    }

    /// Queues `change`; returns its ticket.
    fn enqueue(&self, change: StateChange) -> Result<u64, StateError> {
        let mut queue = self.queue()?;
        queue.changes.push(change);
        queue.issued += 1;
        Ok(queue.issued)
    }

    /// Returns once the change with `ticket` is durable, writing it (with everything queued
    /// with it) unless another writer already has.
    async fn write_through(&self, ticket: u64) -> Result<(), StateError> {
        let mut state = self.state.lock().await;
        let (batch, last) = {
            let mut queue = self.queue()?;
            if queue.written >= ticket {
                return Ok(());
            }
            (std::mem::take(&mut queue.changes), queue.issued)
        };
        for change in &batch {
            change.apply_to(&mut state);
        }
        match self.store.save_changes(&mut state, &batch).await {
            Ok(()) => {
                self.queue()?.written = last;
                Ok(())
            }
            Err(e) => {
                // Put the batch back in front, for the next writer to try again.
                let mut queue = self.queue()?;
                let later = std::mem::replace(&mut queue.changes, batch);
                queue.changes.extend(later);
                Err(e)
            }
        }
    }

    /// Writes what is still queued and folds the journal into the stored state.
    async fn finish(&self) -> Result<(), StateError> {
        let last = self.queue()?.issued;
        self.write_through(last).await?;
        let mut state = self.state.lock().await;
        self.store.compact(&mut state).await
    }
}

#[async_trait]
impl Recorder for StateRecorder {
    async fn creating(&self, change: &ResourceChange) -> Result<(), StateError> {
        let Some(mut record) = self.record_for(change, ResourceStatus::Creating, Value::Null)
        else {
            return Ok(());
        };
        // Keep protection that was recorded before (removing the annotation together with a
        // replacement must not lift it silently).
        if let Some(previous) = self.state.lock().await.get(&change.key) {
            record.protect |= previous.protect;
        }
        crate::crash::reached("intent-before-write");
        let ticket = self.enqueue(StateChange::Put(Box::new(record)))?;
        // Write-ahead: the intent is durable before the provider is called.
        self.write_through(ticket).await
    }

    async fn updating(&self, change: &ResourceChange) -> Result<(), StateError> {
        let Some(mut record) = self.record_for(change, ResourceStatus::Updating, Value::Null)
        else {
            return Ok(());
        };
        if let Some(previous) = self.state.lock().await.get(&change.key) {
            record.protect |= previous.protect;
            record.outputs = previous.outputs.clone();
            if let Ok(mut before) = self.before_update.lock() {
                before.insert(change.key.clone(), previous.clone());
            }
        }
        crate::crash::reached("intent-before-write");
        let ticket = self.enqueue(StateChange::Put(Box::new(record)))?;
        // Write-ahead: the intent is durable before the provider is called, so a crash after
        // the update leaves a record the next apply confirms rather than a stale one.
        self.write_through(ticket).await
    }

    async fn update_failed(&self, change: &ResourceChange) -> Result<(), StateError> {
        let previous = self
            .before_update
            .lock()
            .ok()
            .and_then(|mut before| before.remove(&change.key));
        match previous {
            // The provider refused: the object is as it was, and so is its record.
            Some(previous) => self.enqueue(StateChange::Put(Box::new(previous))).map(drop),
            None => Ok(()),
        }
    }

    async fn applied(&self, change: &ResourceChange, applied: &Applied) -> Result<(), StateError> {
        if let Ok(mut before) = self.before_update.lock() {
            before.remove(&change.key);
        }
        let Some(record) =
            self.record_for(change, ResourceStatus::Applied, applied.outputs.clone())
        else {
            return Ok(());
        };
        self.enqueue(StateChange::Put(Box::new(record))).map(drop)
    }

    async fn deleted(&self, change: &ResourceChange) -> Result<(), StateError> {
        self.enqueue(StateChange::Remove(change.key.clone()))
            .map(drop)
    }
}
