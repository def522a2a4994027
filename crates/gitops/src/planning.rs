//! Incremental planning in the controller: one [`IncrementalPlanner`] per Application, kept
//! between reconciles and fed by the watches of the kinds the Application manages, so that a
//! re-plan costs what changed rather than what exists.
//!
//! - A reconcile hands the planner its new render ([`IncrementalPlanner::set_desired`]) and,
//!   after a sync, the state records the sync left.
//! - A render is handed over by reference: each manifest's content digest is compared with
//!   the held one's, and only what changed is copied and re-planned (a new revision's source
//!   locations are written into the held plan). The plan and the state are shared with the
//!   reconcile (`Arc`), not copied out.
//! - Live objects come from the controller's watches ([`LiveCache`]): a watch event marks the
//!   resource of the Application its object is labelled with (and was labelled with) as
//!   changed, and the next plan reads it from the cache. What the cache cannot answer is
//!   observed through the provider, as `Engine::plan` observes it: a kind not watched (yet), a
//!   resource a sync just changed (its events may not have come), an object the watch has not
//!   seen (it may exist without the label the watch selects) — read again at every plan while
//!   the provider finds it, once when it does not: after that, the cache's absence agrees
//!   until the watch sees something of it. (An object created without the label after that
//!   is seen at the next resync, whose cross-check counts the difference.)
//! - The observation held is the object the provider's `observe` returns (the API object as
//!   JSON, with its `apiVersion` and `kind`), so the plan equals `Engine::plan` of the same
//!   inputs. A resync ([`Replan::Resync`]) plans through `Engine::plan`, compares the
//!   incremental plan with it, and starts a fresh planner; a hard refresh ([`Replan::Hard`])
//!   only resets it. A spec, destination, diff-settings or ignore-rule change, and any error,
//!   also start afresh.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use kube::api::{ApiResource, DynamicObject};
use serde_json::Value;
use strata_core::model::LABEL_STACK;
use strata_core::plan::incremental::IncrementalPlanner;
use strata_core::plan::{Plan, PlanOptions};
use strata_core::provider::Observation;
use strata_core::{Engine, EngineError, LiveObject, Resource, ResourceKey, State};

/// How a reconcile plans.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Replan {
    /// Re-plan what changed since the last reconcile (the Application's planner).
    #[default]
    Incremental,
    /// Plan everything through `Engine::plan`, compare the incremental planner's plan with it
    /// and start a fresh planner (the periodic resync).
    Resync,
    /// Plan everything through `Engine::plan` and start a fresh planner (hard refresh).
    Hard,
}

/// What the planner of one Application did, for metrics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlannerStats {
    /// Plans made by the incremental planner.
    pub incremental_plans: u64,
    /// Plans made through `Engine::plan` (resyncs, hard refreshes, fallbacks after errors).
    pub full_plans: u64,
    /// Resources the last plan observed through the provider (API requests).
    pub last_provider_observations: usize,
    /// Resources the last plan read from the watch caches.
    pub last_watched_observations: usize,
    /// Desired resources the last plan compared with their live object.
    pub last_compared: usize,
    /// Desired resources compared, summed over every plan.
    pub compared_total: u64,
    /// Whether the last plan was made from all its inputs (a first plan, `Engine::plan`, or a
    /// change the incremental planner cannot follow).
    pub last_rebuilt: bool,
    /// How long the last plan took, observing included (microseconds).
    pub last_plan_micros: u64,
    /// Resyncs that compared the incremental plan with `Engine::plan`'s.
    pub cross_checks: u64,
    /// Cross-checks whose plans differed (logged; the planner is replaced either way).
    pub mismatches: u64,
    /// Planners dropped (Application gone, spec changed, hard refresh, resync, error).
    pub resets: u64,
}

/// Where a kind is watched: destination, apiVersion, kind.
pub(crate) type WatchedKind = (String, String, String);

/// An object's namespace (`None` for cluster-scoped kinds) and name.
type ObjectName = (Option<String>, String);

/// A watched object, shared by the cache and the planners that observe it: kept as compact
/// text (about a tenth of the parsed object's memory; a planner reads it from the text and
/// parses it only when it changed, see `LiveObject`), with what the cache itself reads of it.
#[derive(Clone, Debug, PartialEq)]
struct Shared {
    live: LiveObject,
    /// `metadata.resourceVersion`, as a number.
    version: Option<u64>,
    /// The stack its label names.
    stack: Option<String>,
}

impl Shared {
    fn new(value: &Value) -> Self {
        Self {
            live: LiveObject::compact(value),
            version: resource_version(value),
            stack: stack_of(value).map(str::to_owned),
        }
    }
}

struct KindCache {
    resource: ApiResource,
    namespaced: bool,
    /// The first list is complete.
    synced: bool,
    /// The objects, shared with the planners that observe them (one copy of each).
    objects: HashMap<ObjectName, Shared>,
    /// A list in progress (the watch started or restarted).
    listing: Option<HashMap<ObjectName, Shared>>,
}

#[derive(Default)]
struct CacheInner {
    kinds: HashMap<WatchedKind, KindCache>,
    /// By stack: resources whose live object changed since its planner last read them.
    dirty: HashMap<String, HashSet<ResourceKey>>,
}

/// One event of a watch of managed objects.
#[derive(Debug)]
pub(crate) enum WatchEvent {
    /// A (re)list starts.
    Listing,
    /// An object of the list.
    Listed(DynamicObject),
    /// The list is complete.
    ListDone,
    /// An object was created or changed.
    Applied(DynamicObject),
    /// An object was deleted (or lost the label the watch selects).
    Deleted(DynamicObject),
}

/// What the cache says of one resource.
enum Lookup {
    /// Its kind is not watched in the destination, or not listed yet.
    NotWatched,
    /// No watched object has its name: it does not exist, or it exists without the label the
    /// watch selects (the watch reports an object that lost it as deleted, as it reports a
    /// deletion).
    Absent,
    /// The watched object.
    Present(Shared),
}

/// The live objects of the kinds the controller watches, per destination, as the watches last
/// saw them; and, per stack, which of them changed since its planner read them.
#[derive(Default)]
pub(crate) struct LiveCache {
    inner: Mutex<CacheInner>,
}

impl std::fmt::Debug for LiveCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCache").finish_non_exhaustive()
    }
}

/// The object as the provider's `observe` returns it: the API object as JSON, with the
/// `apiVersion` and `kind` a list's items lack.
fn object_value(object: &DynamicObject, resource: &ApiResource) -> Option<Value> {
    let mut value = serde_json::to_value(object).ok()?;
    let map = value.as_object_mut()?;
    map.entry("apiVersion")
        .or_insert_with(|| Value::String(resource.api_version.clone()));
    map.entry("kind")
        .or_insert_with(|| Value::String(resource.kind.clone()));
    Some(value)
}

fn stack_of(value: &Value) -> Option<&str> {
    value
        .pointer("/metadata/labels")
        .and_then(|l| l.get(LABEL_STACK))
        .and_then(Value::as_str)
}

fn resource_version(value: &Value) -> Option<u64> {
    value
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.parse().ok())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl CacheInner {
    /// Marks the object `name` dirty for the stacks it belonged to before and after a change.
    fn mark(&mut self, resource: &ApiResource, name: &ObjectName, stacks: [Option<&str>; 2]) {
        let key = ResourceKey::new(
            resource.group.as_str(),
            resource.kind.as_str(),
            name.0.as_deref(),
            name.1.as_str(),
        );
        let mut stacks: Vec<&str> = stacks.into_iter().flatten().collect();
        stacks.dedup();
        for stack in stacks {
            self.dirty
                .entry(stack.to_owned())
                .or_default()
                .insert(key.clone());
        }
    }
}

impl LiveCache {
    /// A watch of `id` starts (its kind resolved as `resource`).
    pub(crate) fn watching(&self, id: &WatchedKind, resource: &ApiResource, namespaced: bool) {
        lock(&self.inner)
            .kinds
            .entry(id.clone())
            .or_insert_with(|| KindCache {
                resource: resource.clone(),
                namespaced,
                synced: false,
                objects: HashMap::new(),
                listing: None,
            });
    }

    /// Records a watch event of `id`; the stacks whose objects a re-list found changed (the
    /// watch missed their events while it was down).
    pub(crate) fn event(&self, id: &WatchedKind, event: WatchEvent) -> Vec<String> {
        let mut inner = lock(&self.inner);
        let inner = &mut *inner;
        let Some(kind) = inner.kinds.get_mut(id) else {
            return Vec::new();
        };
        let resource = kind.resource.clone();
        let name_of = |o: &DynamicObject| -> Option<ObjectName> {
            Some((o.metadata.namespace.clone(), o.metadata.name.clone()?))
        };
        match event {
            WatchEvent::Listing => {
                kind.listing = Some(HashMap::new());
                Vec::new()
            }
            WatchEvent::Listed(object) => {
                if let (Some(name), Some(value), Some(listing)) = (
                    name_of(&object),
                    object_value(&object, &resource),
                    kind.listing.as_mut(),
                ) {
                    listing.insert(name, Shared::new(&value));
                }
                Vec::new()
            }
            WatchEvent::ListDone => {
                let listed = kind.listing.take().unwrap_or_default();
                let old = std::mem::replace(&mut kind.objects, listed);
                let was_synced = std::mem::replace(&mut kind.synced, true);
                let objects = &kind.objects;
                // (name, before, after)
                let mut changed: Vec<(ObjectName, Option<Shared>, Option<Shared>)> = Vec::new();
                for (name, value) in objects {
                    if old.get(name) != Some(value) {
                        changed.push((name.clone(), old.get(name).cloned(), Some(value.clone())));
                    }
                }
                for (name, value) in &old {
                    if !objects.contains_key(name) {
                        changed.push((name.clone(), Some(value.clone()), None));
                    }
                }
                let mut stacks = Vec::new();
                for (name, before, after) in &changed {
                    let [before, after] = [before, after].map(|s| s.as_ref()?.stack.as_deref());
                    inner.mark(&resource, name, [before, after]);
                    if was_synced {
                        stacks.extend([before, after].into_iter().flatten().map(str::to_owned));
                    }
                }
                stacks.sort();
                stacks.dedup();
                stacks
            }
            WatchEvent::Applied(object) => {
                if let (Some(name), Some(value)) =
                    (name_of(&object), object_value(&object, &resource))
                {
                    let value = Shared::new(&value);
                    let stack = value.stack.clone();
                    let old = kind.objects.insert(name.clone(), value.clone());
                    if old.as_ref() != Some(&value) {
                        let before = old.as_ref().and_then(|o| o.stack.as_deref());
                        inner.mark(&resource, &name, [before, stack.as_deref()]);
                    }
                }
                Vec::new()
            }
            WatchEvent::Deleted(object) => {
                if let Some(name) = name_of(&object) {
                    let old = kind.objects.remove(&name);
                    let last = object_value(&object, &resource);
                    let before = old.as_ref().and_then(|o| o.stack.as_deref());
                    inner.mark(&resource, &name, [before, last.as_ref().and_then(stack_of)]);
                }
                Vec::new()
            }
        }
    }

    /// The resources of `stack` whose objects changed since the last call.
    fn take_dirty(&self, stack: &str) -> HashSet<ResourceKey> {
        lock(&self.inner).dirty.remove(stack).unwrap_or_default()
    }

    /// Forgets what changed for `stack` (its planner is gone).
    pub(crate) fn forget_stack(&self, stack: &str) {
        lock(&self.inner).dirty.remove(stack);
    }

    fn lookup(&self, destination: &str, api_version: &str, key: &ResourceKey) -> Lookup {
        let inner = lock(&self.inner);
        let id = (
            destination.to_owned(),
            api_version.to_owned(),
            key.kind.to_string(),
        );
        let Some(kind) = inner.kinds.get(&id) else {
            return Lookup::NotWatched;
        };
        if !kind.synced || kind.resource.group != key.group.as_str() {
            return Lookup::NotWatched;
        }
        let namespace = key.namespace.as_deref().map(str::to_owned);
        if kind.namespaced && namespace.is_none() {
            // The provider reads it in the client's default namespace.
            return Lookup::NotWatched;
        }
        match kind.objects.get(&(namespace, key.name.to_string())) {
            Some(value) => Lookup::Present(value.clone()),
            None => Lookup::Absent,
        }
    }
}

/// What a planner is only valid for: a change of any of it starts a fresh planner.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fingerprint {
    /// The Application's spec.
    pub(crate) spec: Value,
    /// The destination the provider reaches.
    pub(crate) destination: String,
    /// The diff settings of `argocd-cm` (the normalizer's rules).
    pub(crate) diff: strata_drift::ArgoCdSettings,
    /// The ignore rules the rendered Applications carry.
    pub(crate) ignore: Vec<strata_drift::IgnoreDifference>,
    /// The CustomResourceDefinitions of the render (they change what the provider serves).
    pub(crate) crds: Vec<Value>,
}

/// A resource a plan may observe.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Track {
    /// The apiVersion it is observed at.
    api_version: String,
    /// It is desired (else recorded and leaving).
    desired: bool,
    /// A provider serves it (else `Engine::plan` does not observe it).
    observed: bool,
}

/// One Application's planner, kept between reconciles.
pub(crate) struct AppPlanner {
    planner: IncrementalPlanner,
    fingerprint: Fingerprint,
    /// The resources a plan observes (desired, or recorded and leaving).
    tracked: HashMap<ResourceKey, Track>,
    /// Resources observed through the provider, looked up again at every plan (in the watch
    /// cache first).
    volatile: HashSet<ResourceKey>,
    /// Resources a sync changed: observed through the provider at the next plan, whatever
    /// the watch cache holds (its events may not have come yet).
    just_applied: HashSet<ResourceKey>,
    /// What the provider last answered for objects it was asked about: the object's
    /// resourceVersion (a cached object older than that is not taken: its watch event is
    /// late), or `None` when it did not exist (the cache's absence then agrees).
    fetched: HashMap<ResourceKey, Option<u64>>,
    /// The state as last read from the store (the planner holds its records; a sync applies
    /// from this one, serial and lineage included).
    state: Arc<State>,
    /// A sync changed the state: read it again before planning.
    state_stale: bool,
    /// When it was made (the resync interval counts from there).
    pub(crate) created: Instant,
}

impl std::fmt::Debug for AppPlanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppPlanner")
            .field("planner", &self.planner)
            .field("tracked", &self.tracked.len())
            .field("volatile", &self.volatile.len())
            .finish_non_exhaustive()
    }
}

/// Why an incremental plan was not made (the reconcile then plans through `Engine::plan`,
/// which reports the same error in its own words when the inputs are at fault).
#[derive(Debug, thiserror::Error)]
enum IncrementalFailure {
    #[error(transparent)]
    State(#[from] strata_core::state::StateError),
    #[error(transparent)]
    Planner(#[from] strata_core::plan::incremental::IncrementalError),
    #[error("observing {key}: {source}")]
    Observe {
        key: ResourceKey,
        #[source]
        source: strata_core::ProviderError,
    },
}

/// How one reconcile plans, with the Application's planner when it has one.
#[derive(Debug, Default)]
pub(crate) struct Planning {
    /// The controller's watch caches; `None`: every plan goes through `Engine::plan`.
    pub(crate) cache: Option<Arc<LiveCache>>,
    /// The planner, taken for the reconcile and handed back after it.
    pub(crate) planner: Option<AppPlanner>,
    /// How this reconcile plans.
    pub(crate) mode: Replan,
    /// The stack the Application's objects are labelled with.
    pub(crate) stack: String,
    /// The destination its provider reaches (the watch caches are per destination).
    pub(crate) destination: String,
    /// What the plans did.
    pub(crate) stats: PlannerStats,
}

/// The plan and the state it was made from, shared with the planner.
pub(crate) type Planned = (Arc<Plan>, Arc<State>);

impl Planning {
    /// Plans `desired` with `engine`'s store and providers: incrementally when this reconcile
    /// may, through `Engine::plan` otherwise. The result is `Engine::plan`'s.
    pub(crate) async fn plan(
        &mut self,
        engine: &Engine,
        desired: &[Resource],
        options: &PlanOptions,
        fingerprint: Fingerprint,
    ) -> Result<Planned, EngineError> {
        let started = Instant::now();
        let incremental = self.cache.is_some() && self.mode == Replan::Incremental;
        if incremental {
            match self
                .incremental(engine, desired, options, fingerprint)
                .await
            {
                Ok(planned) => {
                    self.stats.incremental_plans += 1;
                    self.stats.last_plan_micros = micros(started.elapsed());
                    return Ok(planned);
                }
                Err(error) => {
                    tracing::debug!(stack = %self.stack, %error, "incremental plan failed: planning in full");
                    self.reset();
                }
            }
        } else if self.mode == Replan::Resync && self.planner.is_some() && self.cache.is_some() {
            let checked = self
                .incremental(engine, desired, options, fingerprint)
                .await;
            let (plan, state) = engine.plan(desired.to_vec(), options).await?;
            self.stats.cross_checks += 1;
            if let Ok((incremental, _)) = &checked
                && **incremental != plan
            {
                self.stats.mismatches += 1;
                tracing::warn!(stack = %self.stack, "resync: the incremental plan differs from the full plan; starting afresh");
            }
            drop(checked);
            self.reset();
            self.full_stats(&plan, started);
            return Ok((Arc::new(plan), Arc::new(state)));
        }
        self.reset();
        let (plan, state) = engine.plan(desired.to_vec(), options).await?;
        self.full_stats(&plan, started);
        Ok((Arc::new(plan), Arc::new(state)))
    }

    fn full_stats(&mut self, plan: &Plan, started: Instant) {
        self.stats.full_plans += 1;
        self.stats.last_provider_observations = plan.changes.len();
        self.stats.last_watched_observations = 0;
        self.stats.last_compared = plan.changes.len();
        self.stats.compared_total += plan.changes.len() as u64;
        self.stats.last_rebuilt = true;
        self.stats.last_plan_micros = micros(started.elapsed());
    }

    /// Drops the planner (the next plan starts from all inputs).
    pub(crate) fn reset(&mut self) {
        if self.planner.take().is_some() {
            self.stats.resets += 1;
        }
    }

    /// A sync applied `changed` (and wrote the state): the next plan reads them through the
    /// provider, and the state, again.
    pub(crate) fn applied<'k>(&mut self, changed: impl IntoIterator<Item = &'k ResourceKey>) {
        if let Some(planner) = self.planner.as_mut() {
            planner.state_stale = true;
            for key in changed {
                planner.volatile.insert(key.clone());
                planner.just_applied.insert(key.clone());
            }
        }
    }

    /// Objects the last plan took as missing turned out to exist (a sync's check before
    /// creating): the next plan reads them through the provider.
    pub(crate) fn read_again<'k>(&mut self, keys: impl IntoIterator<Item = &'k ResourceKey>) {
        if let Some(planner) = self.planner.as_mut() {
            for key in keys {
                planner.volatile.insert(key.clone());
                planner.just_applied.insert(key.clone());
            }
        }
    }

    async fn incremental(
        &mut self,
        engine: &Engine,
        desired: &[Resource],
        options: &PlanOptions,
        fingerprint: Fingerprint,
    ) -> Result<Planned, IncrementalFailure> {
        let Some(cache) = self.cache.clone() else {
            return Err(IncrementalFailure::Planner(
                strata_core::plan::incremental::IncrementalError::Unsupported(
                    "planning without watches",
                ),
            ));
        };
        let mut held = match self.planner.take() {
            Some(planner) if planner.fingerprint == fingerprint => planner,
            other => {
                if other.is_some() {
                    self.stats.resets += 1;
                }
                let state = engine.store.load().await?.unwrap_or_default();
                cache.forget_stack(&self.stack);
                AppPlanner {
                    planner: IncrementalPlanner::new(engine, options.clone(), state.clone())?,
                    state: Arc::new(state),
                    fingerprint,
                    tracked: HashMap::new(),
                    volatile: HashSet::new(),
                    just_applied: HashSet::new(),
                    fetched: HashMap::new(),
                    state_stale: false,
                    created: Instant::now(),
                }
            }
        };
        // The keys whose track may have moved (all of them when nothing is tracked yet).
        let mut retrack: Vec<ResourceKey> = Vec::new();
        if held.state_stale {
            let state = engine.store.load().await?.unwrap_or_default();
            let gone: Vec<ResourceKey> = held
                .planner
                .state()
                .resources
                .values()
                .filter(|r| state.get(&r.key).is_none())
                .map(|r| r.key.clone())
                .collect();
            for key in &gone {
                held.planner.forget(key);
            }
            retrack.extend(gone);
            for record in state.resources.values() {
                if held.planner.state().get(&record.key) != Some(record) {
                    retrack.push(record.key.clone());
                    held.planner.record(record.clone());
                }
            }
            held.state = Arc::new(state);
            held.state_stale = false;
        }
        // Only what the render changed is copied and compared (a content digest of each
        // manifest against the held one's); source locations alone move into the plan.
        let changes = held.planner.set_desired_from(desired);
        let registry = &engine.registry;
        let mut again: HashSet<ResourceKey> = std::mem::take(&mut held.volatile);
        // What the watches saw change since the last plan.
        let dirty = cache.take_dirty(&self.stack);
        again.extend(dirty.iter().cloned());
        if changes.all || held.tracked.is_empty() {
            retrack = held
                .planner
                .desired()
                .iter()
                .map(|r| r.key.clone())
                .chain(
                    held.planner
                        .state()
                        .resources
                        .values()
                        .map(|r| r.key.clone()),
                )
                .chain(held.tracked.keys().cloned())
                .collect();
        } else {
            retrack.extend(changes.changed);
            retrack.extend(changes.removed);
        }
        // What is tracked now (what Engine::plan observes), and what must be observed again.
        for key in retrack {
            let track = track_of(&held.planner, registry, &key);
            let old = held.tracked.get(&key);
            if old == track.as_ref() {
                continue;
            }
            let was_observed = old.is_some_and(|t| t.observed);
            match track {
                Some(track) => {
                    if track.observed {
                        again.insert(key.clone());
                    } else if was_observed {
                        held.planner.forget_observation(&key);
                        held.fetched.remove(&key);
                    }
                    held.tracked.insert(key, track);
                }
                None => {
                    if was_observed {
                        held.planner.forget_observation(&key);
                        held.fetched.remove(&key);
                    }
                    held.tracked.remove(&key);
                }
            }
        }

        let destination = held.fingerprint.destination.clone();
        let mut fetch: Vec<ResourceKey> = Vec::new();
        let mut watched = 0usize;
        for key in again {
            let Some(track) = held.tracked.get(&key).filter(|t| t.observed) else {
                held.just_applied.remove(&key);
                continue;
            };
            if held.just_applied.contains(&key) {
                fetch.push(key);
                continue;
            }
            match cache.lookup(&destination, &track.api_version, &key) {
                Lookup::Present(value) => {
                    let late = match held.fetched.get(&key) {
                        Some(Some(at)) => value.version.is_none_or(|rv| rv < *at),
                        // The provider found none since: a late deletion, or a new object.
                        Some(None) => true,
                        None => false,
                    };
                    if late {
                        fetch.push(key);
                        continue;
                    }
                    held.fetched.remove(&key);
                    if value.stack.as_deref() != Some(self.stack.as_str()) {
                        // Its events reach another stack: read it again next time.
                        held.volatile.insert(key.clone());
                    }
                    watched += 1;
                    held.planner.observe(key, Observation::present(value.live));
                }
                // The provider found none and the watch has seen nothing of it since: it
                // does not exist (the watch would have seen it created or labelled).
                Lookup::Absent
                    if !dirty.contains(&key) && matches!(held.fetched.get(&key), Some(None)) =>
                {
                    held.fetched.insert(key.clone(), None);
                    watched += 1;
                    held.planner.observe(key, Observation::absent());
                }
                // It may exist without the label the watches select (never read, read as
                // present, or gone from the watch): the provider answers, once when it does
                // not exist.
                Lookup::Absent | Lookup::NotWatched => fetch.push(key),
            }
        }

        // Through the provider, as Engine::plan observes.
        let fetched = fetch.len();
        if !fetch.is_empty() {
            let wanted: HashSet<&ResourceKey> = fetch.iter().collect();
            let positions: Vec<usize> = held
                .planner
                .desired()
                .iter()
                .enumerate()
                .filter(|(_, r)| wanted.contains(&r.key))
                .map(|(i, _)| i)
                .collect();
            let mut leaving = State::new();
            for key in &fetch {
                if held.tracked.get(key).is_some_and(|t| !t.desired)
                    && let Some(record) = held.planner.state().get(key)
                {
                    leaving.put(record.clone());
                }
            }
            let mut observed: Vec<(ResourceKey, Observation)> = Vec::with_capacity(fetch.len());
            strata_core::plan::observe_each(
                held.planner.desired(),
                Some(&positions),
                &leaving,
                registry,
                engine.config.parallelism,
                |what, observation| observed.push((what.key().clone(), observation)),
            )
            .await
            .map_err(|(key, source)| IncrementalFailure::Observe { key, source })?;
            for (key, observation) in observed {
                let version = observation
                    .live
                    .as_ref()
                    .map(|live| resource_version(&live.value()).unwrap_or(0));
                held.fetched.insert(key.clone(), version);
                held.just_applied.remove(&key);
                held.volatile.insert(key.clone());
                held.planner.observe(key, observation);
            }
        }

        let plan = match held.planner.plan_shared() {
            Ok(plan) => plan,
            Err(error) => {
                self.stats.resets += 1;
                return Err(error.into());
            }
        };
        let last = held.planner.last_stats();
        self.stats.last_provider_observations = fetched;
        self.stats.last_watched_observations = watched;
        self.stats.last_compared = last.compared;
        self.stats.compared_total += last.compared as u64;
        self.stats.last_rebuilt = last.rebuilt;
        let state = Arc::clone(&held.state);
        self.planner = Some(held);
        Ok((plan, state))
    }
}

/// What a plan observes of `key`: a desired resource at its apiVersion, else a recorded one
/// (leaving the stack) at the apiVersion it was applied with; `None` when it is neither.
fn track_of(
    planner: &IncrementalPlanner,
    registry: &strata_core::ProviderRegistry,
    key: &ResourceKey,
) -> Option<Track> {
    if let Some(resource) = planner.desired_of(key) {
        return Some(Track {
            api_version: resource.api_version().to_owned(),
            desired: true,
            observed: registry.route(resource).is_ok(),
        });
    }
    let record = planner.state().get(key)?;
    Some(Track {
        api_version: record.api_version.clone(),
        desired: false,
        observed: registry.by_name(&record.provider).is_some(),
    })
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn config_maps() -> ApiResource {
        ApiResource {
            group: String::new(),
            version: "v1".into(),
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            plural: "configmaps".into(),
        }
    }

    fn labelled(name: &str, resource: &ApiResource) -> DynamicObject {
        let mut object = DynamicObject::new(name, resource).within("team");
        object.metadata.labels = Some([(LABEL_STACK.to_owned(), "demo".to_owned())].into());
        object.metadata.resource_version = Some("7".into());
        object
    }

    fn present(lookup: Lookup) -> LiveObject {
        match lookup {
            Lookup::Present(value) => value.live,
            Lookup::NotWatched => panic!("not watched"),
            Lookup::Absent => panic!("absent"),
        }
    }

    #[test]
    fn planners_share_the_watched_object_instead_of_copying_it() {
        let cache = LiveCache {
            inner: Mutex::new(CacheInner::default()),
        };
        let resource = config_maps();
        let id: WatchedKind = ("in-cluster".into(), "v1".into(), "ConfigMap".into());
        cache.watching(&id, &resource, true);
        cache.event(&id, WatchEvent::Listing);
        cache.event(&id, WatchEvent::Listed(labelled("a", &resource)));
        cache.event(&id, WatchEvent::ListDone);
        let key = ResourceKey::new("", "ConfigMap", Some("team"), "a");
        let first = present(cache.lookup("in-cluster", "v1", &key));
        let second = present(cache.lookup("in-cluster", "v1", &key));
        assert!(
            LiveObject::ptr_eq(&first, &second),
            "one copy of the object"
        );
        assert!(first.is_compact(), "kept as text");
        assert_eq!(first.value()["metadata"]["name"], "a");
        assert_eq!(first.value()["kind"], "ConfigMap");
        assert_eq!(cache.take_dirty("demo"), HashSet::from([key.clone()]));

        // A change replaces the cached object; what a planner already holds stays as it was.
        let mut changed = labelled("a", &resource);
        changed.data = serde_json::json!({"data": {"k": "v"}});
        cache.event(&id, WatchEvent::Applied(changed));
        let third = present(cache.lookup("in-cluster", "v1", &key));
        assert!(!LiveObject::ptr_eq(&first, &third));
        assert_eq!(third.value()["data"]["k"], "v");
        assert!(first.value().get("data").is_none());
        assert_eq!(cache.take_dirty("demo"), HashSet::from([key]));
    }
}
