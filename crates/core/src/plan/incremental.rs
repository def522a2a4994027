//! Re-planning only what changed, for a controller that keeps a stack's desired set, state and
//! live objects in memory and plans again whenever one of them moves.
//!
//! [`IncrementalPlanner`] holds the three inputs of a plan — the desired set, the state and the
//! observations (fed from a watch cache) — and the last plan made from them. Callers report
//! what changed (a whole new render with [`set_desired`](IncrementalPlanner::set_desired), which
//! finds what differs, or single resources with [`upsert`](IncrementalPlanner::upsert) and
//! [`remove`](IncrementalPlanner::remove),
//! [`observe`](IncrementalPlanner::observe), [`record`](IncrementalPlanner::record),
//! [`forget`](IncrementalPlanner::forget)); [`plan`](IncrementalPlanner::plan) then re-validates,
//! re-resolves and re-compares only the resources those changes reach, and patches the last plan
//! in place. The result is the plan [`Engine::plan`](crate::engine::Engine::plan) makes from the
//! same inputs — the same changes in the same order, the same guard violations, the same errors —
//! which the property tests check for random edits.
//!
//! What a change reaches:
//! - a desired resource whose content changed, but not what the dependency graph reads from it
//!   (key, `depends-on` and sync-wave annotations, labels, reference fields), is re-checked and
//!   re-planned, with the resources whose references take a value from it;
//! - a resource added or removed, or changed in what the graph reads: the graph is built again
//!   and the resource is planned with its direct neighbours in the old and the new graph (and
//!   every replacement, whose blast radius is transitive); the other changes move to the new
//!   order unchanged;
//! - a changed observation or state record re-plans its resource and those referring to it;
//! - a record change, or an observation of a resource leaving the stack, re-plans the deletions
//!   (a cost in the number of leaving resources);
//! - anything else — an edited CustomResourceDefinition (it changes other resources' schemas),
//!   a structural change in a set with sync waves (waves link whole waves together), an invalid
//!   input, an earlier error — rebuilds the plan from all inputs, as a first plan does, and so
//!   reports errors exactly as [`Engine::plan`](crate::engine::Engine::plan) does.
//!
//! Cost: a re-plan after `k` edited resources is O(k) comparisons (plus, while some resource has
//! guard violations, an O(n) pass gathering them); one that adds or removes resources also
//! builds the graph and orders the plan again (O(n), without comparing or copying manifests);
//! a rebuild is a full plan without observing (see BENCHMARKS.md, "Incremental re-plans").

use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::Value;

use super::compute::{DesiredContext, input_order, plan_all_desired, plan_deletions, reordered};
use super::{Observations, Plan, PlanOptions, ResourceChange, Violation};
use crate::engine::{Engine, EngineError};
use crate::graph::{Graph, GraphEdit};
use crate::model::{Resource, ResourceKey};
use crate::normalize::Normalizer;
use crate::provider::{Observation, ProviderRegistry};
use crate::references::{self, LiveLookup, ReferenceSource};
use crate::state::{ResourceState, State};
use crate::validate::Validator;

/// Why an incremental planner cannot be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IncrementalError {
    /// A plan option the incremental planner does not support (one-off CLI operations).
    #[error("incremental planning does not support {0}; plan with Engine::plan instead")]
    Unsupported(&'static str),
    /// The state belongs to another stack.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    /// Planning failed, as [`Engine::plan`] fails on the same inputs.
    #[error(transparent)]
    Plan(Box<EngineError>),
}

impl From<EngineError> for IncrementalError {
    fn from(error: EngineError) -> Self {
        Self::Plan(Box::new(error))
    }
}

/// Keeps a stack's plan up to date as its inputs change, re-planning only what changed (see
/// the [module documentation](self)).
///
/// ```
/// use std::sync::Arc;
/// use serde_json::json;
/// use strata_core::engine::Engine;
/// use strata_core::model::Resource;
/// use strata_core::plan::incremental::IncrementalPlanner;
/// use strata_core::plan::{Action, PlanOptions};
/// use strata_core::provider::{Observation, ProviderRegistry};
/// use strata_core::sandbox::SandboxProvider;
/// use strata_core::state::{LocalStateStore, State};
///
/// let dir = tempfile::tempdir()?;
/// let engine = Engine {
///     registry: ProviderRegistry::new().with_fallback(Arc::new(SandboxProvider::new(dir.path()))),
///     normalizer: Arc::new(strata_core::normalize::IdentityNormalizer),
///     store: Arc::new(LocalStateStore::new(dir.path().join("state.json"))),
///     config: Default::default(),
/// };
/// let mut planner = IncrementalPlanner::new(&engine, PlanOptions::new("demo"), State::new())?;
/// let config = json!({"apiVersion": "v1", "kind": "ConfigMap",
///     "metadata": {"name": "settings", "namespace": "default"}, "data": {"level": "info"}});
/// planner.upsert(Resource::from_manifest(config.clone())?);
/// let plan = planner.plan()?;
/// assert_eq!(plan.changes[0].action, Action::Create);
///
/// // The object now exists as desired (a watch reported it): nothing to do.
/// let live = strata_core::ownership::stamp(&config, "demo");
/// let key = plan.changes[0].key.clone();
/// planner.observe(key, Observation::present(live));
/// assert_eq!(planner.plan()?.changes[0].action, Action::NoOp);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct IncrementalPlanner {
    registry: ProviderRegistry,
    normalizer: Arc<dyn Normalizer>,
    validator: Validator,
    options: PlanOptions,
    /// The desired set, unresolved, in the caller's order (new resources go last).
    desired: Vec<Resource>,
    /// The content digest of each desired manifest, by position.
    digests: Vec<Digest>,
    position: FxHashMap<ResourceKey, usize>,
    state: State,
    observations: Observations,
    /// For each key, the recorded resources whose dependencies include it (unsorted, with
    /// repeats as the records have them): a deletion's blast radius.
    record_dependents: FxHashMap<ResourceKey, Vec<ResourceKey>>,
    /// The recorded resources not in the desired set (the deletions), kept as records and the
    /// desired set change so that planning them does not look at every record.
    leaving: FxHashSet<ResourceKey>,
    /// What the last plan was made of; `None` until the first plan and after an error.
    current: Option<Current>,
    pending: Pending,
    /// What the last call to [`plan`](Self::plan) did.
    stats: PlanStats,
}

/// What one [`IncrementalPlanner::plan`] did: how far the reported changes reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlanStats {
    /// It planned everything again (a first plan, or changes a patch cannot follow).
    pub rebuilt: bool,
    /// How many desired resources it re-planned (compared with their observation): all of
    /// them on a rebuild, those the changes reached otherwise.
    pub compared: usize,
}

impl std::fmt::Debug for IncrementalPlanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncrementalPlanner")
            .field("stack", &self.options.stack)
            .field("desired", &self.desired.len())
            .field("records", &self.state.resources.len())
            .field("observations", &self.observations.len())
            .field("planned", &self.current.is_some())
            .finish_non_exhaustive()
    }
}

/// What [`IncrementalPlanner::set_desired_from`] found changed in a new render.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DesiredChanges {
    /// Everything is planned again (a first plan, a render with duplicate keys): the other
    /// fields are empty.
    pub all: bool,
    /// Resources added or whose manifest changed, in the render's order.
    pub changed: Vec<ResourceKey>,
    /// Resources no longer desired.
    pub removed: Vec<ResourceKey>,
    /// Resources unchanged but for their source location (written into the plan, not
    /// re-planned).
    pub moved: usize,
}

impl DesiredChanges {
    /// Whether the desired set is what it was (source locations aside).
    pub fn is_empty(&self) -> bool {
        !self.all && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// A 128-bit content digest of a manifest ([`crate::object::content_digest`]): manifests with
/// equal digests plan alike. Manifests equal but for their keys' order differ here, as they do
/// in a plan (its field changes follow the manifest's order), so they are planned again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Digest(u128);

fn digest(value: &Value) -> Digest {
    Digest(crate::object::content_digest(value))
}

/// The last plan and what it was derived with.
struct Current {
    /// Every desired resource has a change (none failed routing), so the plan can be patched.
    complete: bool,
    graph: Graph,
    /// For each desired position, the positions whose references take a value from it.
    referrers: FxHashMap<usize, Vec<usize>>,
    /// Shared with callers of [`IncrementalPlanner::plan_shared`]; patched in place when they
    /// dropped it (copied otherwise).
    plan: Arc<Plan>,
    /// For each desired position, its change's index in `plan.changes`.
    at: Vec<usize>,
    /// The guard violations of each desired change, by index in `plan.changes`.
    desired_violations: Vec<Vec<Violation>>,
    /// How many of those are not empty (usually none: then gathering the plan's violations
    /// costs nothing).
    violating: usize,
    deletion_violations: Vec<Violation>,
}

/// Changes reported since the last plan.
#[derive(Default)]
struct Pending {
    /// Plan everything again.
    rebuild: bool,
    /// Desired resources whose content changed, but not what the graph reads from them.
    edited: FxHashSet<ResourceKey>,
    /// Desired resources added, or changed in what the graph reads from them.
    reshaped: FxHashSet<ResourceKey>,
    /// Desired resources removed.
    removed: Vec<ResourceKey>,
    /// The desired set's order changed other than by resources added or removed (ties in the
    /// plan's order follow it): the graph is built again.
    reordered: bool,
    /// Keys whose observation or record changed.
    touched: FxHashSet<ResourceKey>,
    /// The deletions must be planned again.
    deletions: bool,
}

impl Pending {
    /// Whether the graph may have changed.
    fn structural(&self) -> bool {
        self.reordered || !self.reshaped.is_empty() || !self.removed.is_empty()
    }
}

/// What the fast path found it cannot do.
enum Patched {
    /// Patched, re-planning this many desired resources.
    Done(usize),
    Rebuild,
}

impl IncrementalPlanner {
    /// A planner for `engine`'s providers and normalizer, starting from `state` and an empty
    /// desired set. `options.destroy` and `options.targets` are refused: they make one-off plans.
    pub fn new(
        engine: &Engine,
        options: PlanOptions,
        state: State,
    ) -> Result<Self, IncrementalError> {
        if options.destroy {
            return Err(IncrementalError::Unsupported("destroy plans"));
        }
        if !options.targets.is_empty() {
            return Err(IncrementalError::Unsupported("targets"));
        }
        state.check_stack(&options.stack, &engine.store.location())?;
        let mut record_dependents: FxHashMap<ResourceKey, Vec<ResourceKey>> = FxHashMap::default();
        for record in state.resources.values() {
            add_dependents(&mut record_dependents, record);
        }
        // Nothing is desired yet: every record is leaving.
        let leaving = state.resources.values().map(|r| r.key.clone()).collect();
        Ok(Self {
            registry: engine.registry.clone(),
            normalizer: engine.normalizer.clone(),
            validator: Validator::for_registry(&engine.registry),
            options,
            desired: Vec::new(),
            digests: Vec::new(),
            position: FxHashMap::default(),
            state,
            observations: Observations::default(),
            leaving,
            record_dependents,
            current: None,
            pending: Pending {
                rebuild: true,
                ..Pending::default()
            },
            stats: PlanStats::default(),
        })
    }

    /// What the last call to [`plan`](Self::plan) did (the default before the first one).
    pub fn last_stats(&self) -> PlanStats {
        self.stats
    }

    /// The desired set, in planning input order.
    pub fn desired(&self) -> &[Resource] {
        &self.desired
    }

    /// The desired resource with `key`, if any.
    pub fn desired_of(&self, key: &ResourceKey) -> Option<&Resource> {
        self.position.get(key).map(|&p| &self.desired[p])
    }

    /// The state the planner holds.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Replaces the whole desired set with `desired` (a new render of the stack), in its
    /// order, as [`set_desired_from`](Self::set_desired_from) does.
    pub fn set_desired(&mut self, desired: Vec<Resource>) -> DesiredChanges {
        if self.current.is_none() {
            // The next plan is a full one: nothing to compare.
            self.digests = desired.iter().map(|r| digest(&r.manifest)).collect();
            self.desired = desired;
            self.reindex();
            self.pending.rebuild = true;
            return DesiredChanges {
                all: true,
                ..DesiredChanges::default()
            };
        }
        self.set_desired_from(&desired)
    }

    /// Replaces the whole desired set with `desired` (a new render of the stack), in its
    /// order. Only what differs is re-planned: a resource whose manifest is unchanged keeps its
    /// change (a new order moves it; a new source location is written into it); edited, added
    /// and removed resources are followed as [`upsert`](Self::upsert) and
    /// [`remove`](Self::remove) follow them, and only they are copied.
    ///
    /// Cost: one content digest of each manifest, compared with the held manifest's (no
    /// manifest is compared), plus, when resources were added, removed or moved, re-indexing
    /// the set. An unchanged render copies nothing.
    pub fn set_desired_from(&mut self, desired: &[Resource]) -> DesiredChanges {
        let digests: Vec<Digest> = desired.iter().map(|r| digest(&r.manifest)).collect();
        // Whether the held plan's positions still match the held set (a source location can
        // then be written into the change; otherwise the resource is re-planned).
        let aligned = self.current.is_some() && !self.pending.rebuild && !self.pending.structural();
        let same_keys = self.current.is_some()
            && desired.len() == self.desired.len()
            && desired
                .iter()
                .zip(&self.desired)
                .all(|(new, old)| new.key == old.key);
        let mut changes = DesiredChanges::default();
        if same_keys {
            for (p, (resource, d)) in desired.iter().zip(digests).enumerate() {
                let old = &self.desired[p];
                if self.digests[p] == d {
                    if old.source != resource.source {
                        self.relocate(p, p, resource, aligned);
                        changes.moved += 1;
                    }
                    continue;
                }
                self.classify(p, resource);
                self.desired[p] = resource.clone();
                self.digests[p] = d;
                changes.changed.push(resource.key.clone());
            }
            return changes;
        }

        let mut new_keys: FxHashSet<&ResourceKey> =
            FxHashSet::with_capacity_and_hasher(desired.len(), Default::default());
        let duplicate = desired.iter().any(|r| !new_keys.insert(&r.key));
        if duplicate || self.current.is_none() {
            // The next plan is a full one (and reports the duplicate).
            drop(new_keys);
            self.desired = desired.to_vec();
            self.digests = digests;
            self.reindex();
            self.pending.rebuild = true;
            changes.all = true;
            return changes;
        }
        // The held resources a digest finds unchanged move over; the others are copied.
        let mut old: Vec<Option<Resource>> = std::mem::take(&mut self.desired)
            .into_iter()
            .map(Some)
            .collect();
        let old_digests = std::mem::take(&mut self.digests);
        let mut kept = Vec::with_capacity(desired.len());
        let mut kept_digests = Vec::with_capacity(desired.len());
        // Whether the resources kept are still in the same relative order (added ones may go
        // anywhere): the graph then follows the change without being built again.
        let mut last_kept: Option<usize> = None;
        let mut same_order = true;
        for (resource, d) in desired.iter().zip(digests) {
            match self.position.get(&resource.key).copied() {
                Some(p) => {
                    same_order &= last_kept.is_none_or(|last| last < p);
                    last_kept = Some(p);
                    if old_digests[p] == d
                        && let Some(mut held) = old[p].take()
                    {
                        if held.source != resource.source {
                            self.relocate_change(p, resource, aligned);
                            held.source.clone_from(&resource.source);
                            changes.moved += 1;
                        }
                        kept.push(held);
                        kept_digests.push(old_digests[p]);
                        continue;
                    }
                    match old[p].as_ref() {
                        Some(o) if is_crd(&resource.key) || !Graph::same_inputs(o, resource) => {
                            self.pending.rebuild |= is_crd(&resource.key);
                            self.pending.reshaped.insert(resource.key.clone());
                        }
                        Some(_) => {
                            self.pending.edited.insert(resource.key.clone());
                        }
                        None => {
                            self.pending.reshaped.insert(resource.key.clone());
                        }
                    }
                }
                None => {
                    self.pending.rebuild |= is_crd(&resource.key);
                    self.pending.reshaped.insert(resource.key.clone());
                }
            }
            changes.changed.push(resource.key.clone());
            kept.push(resource.clone());
            kept_digests.push(d);
        }
        for gone in old.iter().flatten() {
            if !new_keys.contains(&gone.key) {
                self.pending.rebuild |= is_crd(&gone.key);
                self.pending.edited.remove(&gone.key);
                self.pending.reshaped.remove(&gone.key);
                self.pending.removed.push(gone.key.clone());
                changes.removed.push(gone.key.clone());
            }
        }
        self.pending.reordered |= !same_order;
        drop(new_keys);
        self.desired = kept;
        self.digests = kept_digests;
        self.reindex();
        changes
    }

    /// Follows an edit of the held resource at `p` to `resource` (same key).
    fn classify(&mut self, p: usize, resource: &Resource) {
        let old = &self.desired[p];
        if is_crd(&resource.key) {
            self.pending.rebuild = true;
        } else if Graph::same_inputs(old, resource) {
            self.pending.edited.insert(resource.key.clone());
        } else {
            self.pending.reshaped.insert(resource.key.clone());
        }
    }

    /// The held resource at `p`, unchanged but for its source location, moves to
    /// `resource`'s.
    fn relocate(&mut self, p: usize, old_position: usize, resource: &Resource, aligned: bool) {
        self.relocate_change(old_position, resource, aligned);
        self.desired[p].source.clone_from(&resource.source);
    }

    /// Writes `resource`'s source location into the held plan's change of the resource at
    /// `old_position` (a source location changes nothing else in a plan); when the plan's
    /// positions do not match the held set, the resource is re-planned instead.
    fn relocate_change(&mut self, old_position: usize, resource: &Resource, aligned: bool) {
        let written = aligned
            && self.current.as_mut().is_some_and(|current| {
                let Some(&i) = current.at.get(old_position) else {
                    return false;
                };
                if i >= current.plan.changes.len() {
                    return false;
                }
                let plan = Arc::make_mut(&mut current.plan);
                match plan.changes[i].resource.as_mut() {
                    Some(planned) if planned.key == resource.key => {
                        planned.source.clone_from(&resource.source);
                        true
                    }
                    _ => false,
                }
            });
        if !written {
            self.pending.edited.insert(resource.key.clone());
        }
    }

    /// Adds a desired resource, or replaces the one with its key (keeping its place).
    pub fn upsert(&mut self, resource: Resource) {
        self.leaving.remove(&resource.key);
        let d = digest(&resource.manifest);
        match self.position.get(&resource.key) {
            Some(&p) => {
                let old = &self.desired[p];
                if self.digests[p] == d && old.source == resource.source {
                    return;
                }
                self.digests[p] = d;
                if is_crd(&resource.key) {
                    self.pending.rebuild = true;
                } else if Graph::same_inputs(old, &resource) {
                    self.pending.edited.insert(resource.key.clone());
                } else {
                    self.pending.reshaped.insert(resource.key.clone());
                }
                self.desired[p] = resource;
            }
            None => {
                if is_crd(&resource.key) {
                    self.pending.rebuild = true;
                }
                self.pending.reshaped.insert(resource.key.clone());
                self.position
                    .insert(resource.key.clone(), self.desired.len());
                self.desired.push(resource);
                self.digests.push(d);
            }
        }
    }

    /// Removes a desired resource; `false` when there was none with that key.
    pub fn remove(&mut self, key: &ResourceKey) -> bool {
        let Some(p) = self.position.remove(key) else {
            return false;
        };
        if is_crd(key) {
            self.pending.rebuild = true;
        }
        self.desired.remove(p);
        self.digests.remove(p);
        for position in self.position.values_mut() {
            if *position > p {
                *position -= 1;
            }
        }
        self.pending.edited.remove(key);
        self.pending.reshaped.remove(key);
        self.pending.removed.push(key.clone());
        if self.state.get(key).is_some() {
            self.leaving.insert(key.clone());
        }
        true
    }

    /// Records what a watch saw of a resource (an absent object is an observation too).
    pub fn observe(&mut self, key: ResourceKey, observation: Observation) {
        if self.observations.get(&key) == Some(&observation) {
            return;
        }
        self.observations.insert(key.clone(), observation);
        self.touch(key);
    }

    /// Forgets what was observed of a resource (planned as not existing, as an absent one).
    pub fn forget_observation(&mut self, key: &ResourceKey) {
        if self.observations.remove(key).is_some() {
            self.touch(key.clone());
        }
    }

    /// Records a resource in the state (after an apply), replacing its earlier record.
    pub fn record(&mut self, record: ResourceState) {
        if self.state.get(&record.key) == Some(&record) {
            return;
        }
        if let Some(old) = self.state.remove(&record.key) {
            remove_dependents(&mut self.record_dependents, &old);
        }
        add_dependents(&mut self.record_dependents, &record);
        let key = record.key.clone();
        if !self.position.contains_key(&key) {
            self.leaving.insert(key.clone());
        }
        self.state.put(record);
        self.pending.deletions = true;
        self.touch(key);
    }

    /// Removes a resource's record from the state (after it was deleted).
    pub fn forget(&mut self, key: &ResourceKey) {
        if let Some(old) = self.state.remove(key) {
            remove_dependents(&mut self.record_dependents, &old);
            self.leaving.remove(key);
            self.pending.deletions = true;
            self.touch(key.clone());
        }
    }

    /// The plan of the current inputs, re-planning what changed since the last call. On an
    /// error the inputs are kept and the next call plans everything again.
    pub fn plan(&mut self) -> Result<&Plan, IncrementalError> {
        let patchable = self.current.as_ref().is_some_and(|c| c.complete);
        let patched = if self.pending.rebuild || !patchable {
            Patched::Rebuild
        } else {
            self.patch()
        };
        self.stats = match patched {
            Patched::Done(compared) => PlanStats {
                rebuilt: false,
                compared,
            },
            Patched::Rebuild => PlanStats {
                rebuilt: true,
                compared: self.desired.len(),
            },
        };
        if let Patched::Rebuild = patched
            && let Err(e) = self.rebuild()
        {
            self.current = None;
            self.pending = Pending {
                rebuild: true,
                ..Pending::default()
            };
            return Err(e);
        }
        self.pending = Pending::default();
        match &self.current {
            Some(current) => Ok(&current.plan),
            None => {
                Err(EngineError::Refused("the incremental planner lost its plan".to_owned()).into())
            }
        }
    }

    /// [`plan`](Self::plan), shared: the planner keeps patching the same plan, and copies it
    /// only when the caller still holds the last one at the next change.
    pub fn plan_shared(&mut self) -> Result<Arc<Plan>, IncrementalError> {
        self.plan()?;
        match &self.current {
            Some(current) => Ok(Arc::clone(&current.plan)),
            None => {
                Err(EngineError::Refused("the incremental planner lost its plan".to_owned()).into())
            }
        }
    }

    fn touch(&mut self, key: ResourceKey) {
        // A leaving resource's observation or record changes its deletion.
        if !self.position.contains_key(&key) {
            self.pending.deletions = true;
        }
        self.pending.touched.insert(key);
    }

    fn reindex(&mut self) {
        self.position = self
            .desired
            .iter()
            .enumerate()
            .map(|(i, r)| (r.key.clone(), i))
            .collect();
        let position = &self.position;
        self.leaving = self
            .state
            .resources
            .values()
            .filter(|r| !position.contains_key(&r.key))
            .map(|r| r.key.clone())
            .collect();
    }

    /// Plans everything, as [`Engine::plan`] does with the held observations.
    fn rebuild(&mut self) -> Result<(), IncrementalError> {
        self.current = None;
        let problems = self.validator.check(&self.desired);
        if !problems.is_empty() {
            return Err(EngineError::Invalid(problems).into());
        }
        let invalid = crate::names::check_names(&self.desired);
        if !invalid.is_empty() {
            return Err(EngineError::InvalidNames(invalid).into());
        }
        let graph = Graph::build(&self.desired).map_err(EngineError::from)?;
        if let Some(unknown) =
            crate::engine::check_addresses(&self.desired, &self.state, &self.options)
        {
            return Err(unknown.into());
        }
        let mut resolved = self.desired.clone();
        let registry = &self.registry;
        let observations = &self.observations;
        let source_of = |target: &Resource, field: &str| source_of(registry, target, field);
        // In the engine's rounds, so that the same error is reported first: references to
        // external names before any live object is known, then those to live fields, a
        // resource's live object known once its own references are resolved.
        let not_observed = |_: &ResourceKey| LiveLookup::NotObserved;
        let mut waiting =
            references::resolve_references(&mut resolved, &graph, None, &source_of, &not_observed)
                .map_err(EngineError::from)?;
        while !waiting.is_empty() {
            let positions: Vec<usize> = waiting.iter().map(|w| w.position).collect();
            let unresolved: FxHashSet<&ResourceKey> =
                positions.iter().map(|&p| &self.desired[p].key).collect();
            let live_of = |key: &ResourceKey| {
                if unresolved.contains(key) {
                    LiveLookup::NotObserved
                } else {
                    live_of(observations, key)
                }
            };
            let still = references::resolve_references(
                &mut resolved,
                &graph,
                Some(&positions),
                &source_of,
                &live_of,
            )
            .map_err(EngineError::from)?;
            if still.len() == waiting.len() {
                if let Some(first) = still.into_iter().next() {
                    return Err(EngineError::Reference(Box::new(first.unresolved)).into());
                }
                break;
            }
            waiting = still;
        }
        let records: FxHashMap<&ResourceKey, &ResourceState> =
            self.state.resources.values().map(|r| (&r.key, r)).collect();
        let (order, graph_positions) = input_order(&resolved, &graph);
        let ordered = reordered(resolved, &order);
        let positions = graph_positions.then_some(order.as_slice());
        let context = DesiredContext {
            graph: &graph,
            records: &records,
            observations: &self.observations,
            registry: &self.registry,
            normalizer: self.normalizer.as_ref(),
            options: &self.options,
        };
        let mut plan = Plan {
            stack: self.options.stack.clone(),
            ..Plan::default()
        };
        let mut at = vec![usize::MAX; self.desired.len()];
        let mut desired_violations = Vec::with_capacity(self.desired.len());
        let mut complete = true;
        for (&p, (change, violations, _)) in order
            .iter()
            .zip(plan_all_desired(ordered, positions, &context))
        {
            // Violations are rare: the flat list (in plan order, as compute_plan gives it)
            // copies them.
            plan.violations.extend(violations.iter().cloned());
            match change {
                Some(change) => {
                    at[p] = plan.changes.len();
                    plan.changes.push(change);
                    desired_violations.push(violations);
                }
                // A resource no provider serves: the plan reports it but has no change to
                // patch later, so the next plan is a full one again.
                None => complete = false,
            }
        }
        let (deletions, deletion_violations) = self.deletions();
        plan.changes.extend(deletions);
        plan.violations.extend(deletion_violations.iter().cloned());
        self.current = Some(Current {
            complete,
            referrers: referrers(&graph),
            graph,
            plan: Arc::new(plan),
            at,
            violating: desired_violations.iter().filter(|v| !v.is_empty()).count(),
            desired_violations,
            deletion_violations,
        });
        Ok(())
    }

    /// Re-plans what the pending changes reach; `Rebuild` when they reach further than a
    /// patch can follow (the rebuild then also reports any error with the full plan's words).
    fn patch(&mut self) -> Patched {
        let Some(mut current) = self.current.take() else {
            return Patched::Rebuild;
        };
        let patched = self.patch_current(&mut current);
        if let Patched::Done(_) = patched {
            self.current = Some(current);
        }
        patched
    }

    fn patch_current(&self, current: &mut Current) -> Patched {
        let pending = &self.pending;
        let mut checked: Vec<usize> = pending
            .edited
            .iter()
            .chain(&pending.reshaped)
            .filter_map(|k| self.position.get(k).copied())
            .collect();
        checked.sort_unstable();
        if !checked.is_empty() {
            if !self
                .validator
                .check_positions(&self.desired, &checked)
                .is_empty()
            {
                return Patched::Rebuild;
            }
            if !crate::names::check_names_of(checked.iter().map(|&p| &self.desired[p])).is_empty() {
                return Patched::Rebuild;
            }
        }

        let structural = pending.structural();
        let mut dirty: FxHashSet<ResourceKey> = pending.edited.clone();
        dirty.extend(
            pending
                .touched
                .iter()
                .filter(|k| self.position.contains_key(*k))
                .cloned(),
        );
        // How positions moved: old position → new, when the graph followed the change.
        let mut moved: Option<Vec<Option<usize>>> = None;
        let (graph, referrers_of) = if structural {
            // What changed in the graph reaches only the changed resources' direct
            // neighbours, old and new. Waves link whole waves together: a rebuild is simpler
            // there.
            if current.graph.has_waves() {
                return Patched::Rebuild;
            }
            for key in pending.reshaped.iter().chain(&pending.removed) {
                dirty.extend(current.graph.dependencies(key));
                dirty.extend(current.graph.direct_dependents(key));
            }
            let graph = if pending.reordered {
                let Ok(graph) = Graph::build(&self.desired) else {
                    return Patched::Rebuild;
                };
                graph
            } else {
                // The graph follows the change: only the changed resources and their
                // neighbours are read again (see `Graph::update`).
                let old_len = current.graph.len();
                let mut removed: Vec<usize> = pending
                    .removed
                    .iter()
                    .filter_map(|k| current.graph.position(k))
                    .collect();
                removed.sort_unstable();
                removed.dedup();
                let mut added = Vec::new();
                let mut changed = Vec::new();
                for key in &pending.reshaped {
                    let Some(&p) = self.position.get(key) else {
                        continue;
                    };
                    match current.graph.position(key) {
                        Some(old) if removed.binary_search(&old).is_err() => changed.push(p),
                        _ => added.push(p),
                    }
                }
                // A key removed and added again in the same batch went to the end.
                for key in &pending.removed {
                    if let Some(&p) = self.position.get(key)
                        && !pending.reshaped.contains(key)
                    {
                        added.push(p);
                    }
                }
                added.sort_unstable();
                added.dedup();
                changed.sort_unstable();
                let edit = GraphEdit {
                    removed: &removed,
                    added: &added,
                    changed: &changed,
                };
                let mut graph = std::mem::take(&mut current.graph);
                if graph.update(&self.desired, &edit).is_err() {
                    return Patched::Rebuild;
                }
                moved = Some(edit.kept_positions(old_len));
                graph
            };
            // Only resources that replace need the addresses checked (targets are refused).
            if graph.has_waves()
                || (!self.options.replace.is_empty()
                    && crate::engine::check_addresses(&self.desired, &self.state, &self.options)
                        .is_some())
            {
                return Patched::Rebuild;
            }
            for key in &pending.reshaped {
                dirty.extend(graph.dependencies(key));
                dirty.extend(graph.direct_dependents(key));
                dirty.insert(key.clone());
            }
            // A destroying change lists its transitive dependents, which may have changed.
            let desired_count = current.desired_violations.len();
            dirty.extend(
                current.plan.changes[..desired_count]
                    .iter()
                    .filter(|c| c.action.destroys())
                    .map(|c| c.key.clone()),
            );
            let referrers_of = referrers(&graph);
            (graph, referrers_of)
        } else {
            (
                std::mem::take(&mut current.graph),
                std::mem::take(&mut current.referrers),
            )
        };
        let mut dirty: Vec<usize> = dirty
            .iter()
            .filter_map(|k| self.position.get(k).copied())
            .collect();
        let seeds = dirty.clone();
        for p in seeds {
            if let Some(referring) = referrers_of.get(&p) {
                dirty.extend(referring.iter().copied());
            }
        }
        dirty.sort_unstable();
        dirty.dedup();

        let registry = &self.registry;
        let observations = &self.observations;
        let source_of = |target: &Resource, field: &str| source_of(registry, target, field);
        let live_of = |key: &ResourceKey| live_of(observations, key);
        let mut resolved = Vec::with_capacity(dirty.len());
        for &p in &dirty {
            match references::resolved_copy(&self.desired, &graph, p, &source_of, &live_of) {
                Ok(Ok(resource)) => resolved.push(resource),
                // Waiting or failing: the full plan says so in its own words.
                Ok(Err(_)) | Err(_) => return Patched::Rebuild,
            }
        }
        let records: FxHashMap<&ResourceKey, &ResourceState> = dirty
            .iter()
            .filter_map(|&p| self.state.get(&self.desired[p].key))
            .map(|r| (&r.key, r))
            .collect();
        let context = DesiredContext {
            graph: &graph,
            records: &records,
            observations: &self.observations,
            registry: &self.registry,
            normalizer: self.normalizer.as_ref(),
            options: &self.options,
        };
        let mut fresh: FxHashMap<usize, (ResourceChange, Vec<Violation>)> =
            FxHashMap::with_capacity_and_hasher(dirty.len(), Default::default());
        for (&p, (change, violations, _)) in
            dirty.iter().zip(plan_all_desired(resolved, None, &context))
        {
            let Some(change) = change else {
                return Patched::Rebuild;
            };
            fresh.insert(p, (change, violations));
        }

        if structural {
            // Reassemble the desired changes in the new graph's order, in place: the last
            // plan's changes stay in their vector (fresh ones replace theirs or join at the
            // end) and are permuted there, so a million changes are not moved through fresh
            // vectors, whose first touch the kernel charges page by page.
            let desired_count = current.desired_violations.len();
            let plan = Arc::make_mut(&mut current.plan);
            // The deletions at the end are planned again below.
            plan.changes.truncate(desired_count);
            let mut items = std::mem::take(&mut plan.changes);
            let mut item_violations = std::mem::take(&mut current.desired_violations);
            // For each new position, the index in `items` of the change it keeps.
            let mut item_of: Vec<usize> = vec![usize::MAX; self.desired.len()];
            match &moved {
                // By position, as the graph moved them (nothing hashed).
                Some(moved) => {
                    for (old_position, new_position) in moved.iter().enumerate() {
                        if let (Some(&i), Some(p)) = (current.at.get(old_position), *new_position)
                            && let Some(slot) = item_of.get_mut(p)
                        {
                            *slot = i;
                        }
                    }
                }
                // By new position, through the key index the planner keeps (no key is copied).
                None => {
                    for (i, change) in items.iter().enumerate() {
                        if let Some(&p) = self.position.get(&change.key)
                            && let Some(slot) = item_of.get_mut(p)
                        {
                            *slot = i;
                        }
                    }
                }
            }
            let joining = fresh
                .keys()
                .filter(|&&p| item_of.get(p).is_none_or(|&i| i == usize::MAX))
                .count();
            items.reserve_exact(joining);
            item_violations.reserve_exact(joining);
            for (p, (change, violations)) in fresh.drain() {
                match item_of.get(p).copied() {
                    Some(i) if i != usize::MAX => {
                        items[i] = change;
                        item_violations[i] = violations;
                    }
                    _ => {
                        if let Some(slot) = item_of.get_mut(p) {
                            *slot = items.len();
                        }
                        items.push(change);
                        item_violations.push(violations);
                    }
                }
            }
            // The changes of removed resources (kept by no position) are taken out in place:
            // the last item fills the gap.
            let mut position_of_item = vec![usize::MAX; items.len()];
            for (p, &i) in item_of.iter().enumerate() {
                if let Some(slot) = position_of_item.get_mut(i) {
                    *slot = p;
                }
            }
            let mut i = 0;
            while i < items.len() {
                if position_of_item[i] != usize::MAX {
                    i += 1;
                    continue;
                }
                items.swap_remove(i);
                item_violations.swap_remove(i);
                position_of_item.swap_remove(i);
                if let Some(&p) = position_of_item.get(i)
                    && let Some(slot) = item_of.get_mut(p)
                {
                    *slot = i;
                }
            }
            // The graph was built or updated from the desired set as it is.
            let positions = graph.topological_positions();
            let mut order = Vec::with_capacity(positions.len());
            let mut at = vec![usize::MAX; self.desired.len()];
            for p in positions {
                let Some(&i) = item_of.get(p).filter(|&&i| i != usize::MAX) else {
                    return Patched::Rebuild;
                };
                at[p] = order.len();
                order.push(i);
            }
            let violations = reordered(item_violations, &order);
            Arc::make_mut(&mut current.plan).changes = reordered(items, &order);
            current.at = at;
            current.violating = violations.iter().filter(|v| !v.is_empty()).count();
            current.desired_violations = violations;
        } else {
            for (p, (change, violations)) in fresh {
                let i = current.at[p];
                Arc::make_mut(&mut current.plan).changes[i] = change;
                let slot = &mut current.desired_violations[i];
                current.violating = current.violating - usize::from(!slot.is_empty())
                    + usize::from(!violations.is_empty());
                *slot = violations;
            }
        }
        current.graph = graph;
        current.referrers = referrers_of;

        let deletions_changed = pending.deletions || structural;
        if deletions_changed {
            let (deletions, violations) = self.deletions();
            let desired_count = current.desired_violations.len();
            let plan = Arc::make_mut(&mut current.plan);
            plan.changes.truncate(desired_count);
            plan.changes.extend(deletions);
            current.deletion_violations = violations;
        }
        if !dirty.is_empty() || deletions_changed {
            gather_violations(current);
        }
        Patched::Done(dirty.len())
    }

    fn deletions(&self) -> (Vec<ResourceChange>, Vec<Violation>) {
        deletions_of(
            &self.leaving,
            &self.state,
            &self.record_dependents,
            &self.observations,
            &self.registry,
            &self.options,
        )
    }
}

/// The deletions of the records not in the desired set.
fn deletions_of(
    leaving: &FxHashSet<ResourceKey>,
    state: &State,
    record_dependents: &FxHashMap<ResourceKey, Vec<ResourceKey>>,
    observations: &Observations,
    registry: &ProviderRegistry,
    options: &PlanOptions,
) -> (Vec<ResourceChange>, Vec<Violation>) {
    let leaving: Vec<&ResourceState> = leaving.iter().filter_map(|k| state.get(k)).collect();
    let dependents = |key: &ResourceKey| {
        let mut dependents = record_dependents.get(key).cloned().unwrap_or_default();
        dependents.sort();
        dependents
    };
    plan_deletions(&leaving, &dependents, observations, registry, options)
}

/// The plan's violations: each desired change's, in plan order, then the deletions'.
fn gather_violations(current: &mut Current) {
    let mut violations: Vec<Violation> = if current.violating == 0 {
        Vec::new()
    } else {
        current
            .desired_violations
            .iter()
            .flatten()
            .cloned()
            .collect()
    };
    violations.extend(current.deletion_violations.iter().cloned());
    Arc::make_mut(&mut current.plan).violations = violations;
}

/// For each resource, the resources whose value-bearing references name it.
fn referrers(graph: &Graph) -> FxHashMap<usize, Vec<usize>> {
    let mut out: FxHashMap<usize, Vec<usize>> = FxHashMap::default();
    for (position, fields) in graph.reference_fields() {
        for field in fields {
            for item in &field.items {
                for &target in &item.matches {
                    out.entry(target).or_default().push(*position);
                }
            }
        }
    }
    out
}

fn source_of(registry: &ProviderRegistry, target: &Resource, value_field: &str) -> ReferenceSource {
    registry
        .route(target)
        .map(|provider| provider.reference_value(&target.key, value_field))
        .unwrap_or(ReferenceSource::ExternalName)
}

/// A watch cache knows every object: one it does not hold does not exist.
fn live_of<'a>(observations: &'a Observations, key: &ResourceKey) -> LiveLookup<'a> {
    LiveLookup::Observed(observations.get(key).and_then(|o| o.live.as_ref()))
}

fn is_crd(key: &ResourceKey) -> bool {
    key.group == "apiextensions.k8s.io" && key.kind == "CustomResourceDefinition"
}

fn add_dependents(map: &mut FxHashMap<ResourceKey, Vec<ResourceKey>>, record: &ResourceState) {
    for dependency in &record.dependencies {
        map.entry(dependency.clone())
            .or_default()
            .push(record.key.clone());
    }
}

fn remove_dependents(map: &mut FxHashMap<ResourceKey, Vec<ResourceKey>>, record: &ResourceState) {
    for dependency in &record.dependencies {
        if let Some(dependents) = map.get_mut(dependency) {
            if let Some(at) = dependents.iter().position(|k| *k == record.key) {
                dependents.swap_remove(at);
            }
            if dependents.is_empty() {
                map.remove(dependency);
            }
        }
    }
}
