//! Turning desired state, state and observations into a plan.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::Value;

use super::fields::{self, FieldChange, path_within};
use super::{Action, ActionReason, Guard, Plan, ResourceChange, Violation};
use crate::graph::Graph;
use crate::live::LiveObject;
use crate::model::{ANNOTATION_ADOPT, ANNOTATION_CREATE_BEFORE_DESTROY, Resource, ResourceKey};
use crate::normalize::Normalizer;
use crate::ownership::{self, Manager};
use crate::policy::Policy;
use crate::provider::{Observation, Provider, ProviderError, ProviderRegistry};
use crate::sensitive::{REDACTED, Sensitivity};
use crate::state::{ResourceStatus, State};

/// Live objects by resource key, as observed before planning.
pub type Observations = HashMap<ResourceKey, Observation>;

/// Options that change how a plan is made.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PlanOptions {
    /// The stack's name, used in ownership labels.
    pub stack: String,
    /// Plan the destruction of everything in the state.
    pub destroy: bool,
    /// Adopt live objects Strata does not own (also per resource: `strata.dev/adopt: "true"`).
    pub adopt: bool,
    /// The allow-list of kinds and namespaces.
    pub policy: Policy,
    /// Plan only these resources and what they depend on (Terraform's `-target`); a target
    /// that leaves the desired set, or any target of a destroy, takes its dependents with it.
    /// Empty: everything.
    pub targets: Vec<ResourceKey>,
    /// Replace these resources even though nothing forces it (Terraform's `-replace`); the
    /// protection guard still applies.
    pub replace: Vec<ResourceKey>,
    /// What other managers (Terraform states) claim: a resource Strata would create or adopt
    /// that another manager claims is refused unless adopted explicitly.
    pub foreign_claims: crate::ownership::terraform::ForeignClaims,
    /// Keep the live object of every change, unchanged ones too (a controller assessing
    /// health from the plan); otherwise a plan keeps only the live objects its changes need,
    /// and those of unchanged resources the state does not record.
    pub keep_live: bool,
}

impl PlanOptions {
    /// The default options with [`stack`](Self::stack) set.
    pub fn new(stack: impl Into<String>) -> Self {
        Self {
            stack: stack.into(),
            ..Self::default()
        }
    }

    /// Sets [`stack`](Self::stack).
    pub fn with_stack(mut self, stack: String) -> Self {
        self.stack = stack;
        self
    }

    /// Sets [`destroy`](Self::destroy).
    pub fn with_destroy(mut self, destroy: bool) -> Self {
        self.destroy = destroy;
        self
    }

    /// Sets [`adopt`](Self::adopt).
    pub fn with_adopt(mut self, adopt: bool) -> Self {
        self.adopt = adopt;
        self
    }

    /// Sets [`policy`](Self::policy).
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets [`targets`](Self::targets).
    pub fn with_targets(mut self, targets: Vec<ResourceKey>) -> Self {
        self.targets = targets;
        self
    }

    /// Sets [`replace`](Self::replace).
    pub fn with_replace(mut self, replace: Vec<ResourceKey>) -> Self {
        self.replace = replace;
        self
    }

    /// Sets [`foreign_claims`](Self::foreign_claims).
    pub fn with_foreign_claims(
        mut self,
        foreign_claims: crate::ownership::terraform::ForeignClaims,
    ) -> Self {
        self.foreign_claims = foreign_claims;
        self
    }

    /// Sets [`keep_live`](Self::keep_live).
    pub fn with_keep_live(mut self, keep_live: bool) -> Self {
        self.keep_live = keep_live;
        self
    }
}

/// What a streamed observation (see [`observe_each`]) is of.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Observed<'a> {
    /// The desired resource at `position` of the desired slice.
    Desired {
        /// Its position in the desired slice.
        position: usize,
        /// The resource, as observed (references resolved).
        resource: &'a Resource,
    },
    /// A resource the state records and the desired set no longer declares, observed through
    /// its last-applied manifest and its recorded provider.
    Recorded {
        /// The resource made of its record.
        resource: &'a Resource,
    },
}

impl Observed<'_> {
    /// The observed resource's key.
    pub fn key(&self) -> &ResourceKey {
        match self {
            Self::Desired { resource, .. } | Self::Recorded { resource } => &resource.key,
        }
    }
}

/// Where one observation target came from: a position of the desired slice, or the state.
#[derive(Debug, Clone, Copy)]
enum Origin {
    Desired(usize),
    Recorded,
}

impl Origin {
    /// What the sink is told of `resource`, a target from here.
    fn observed(self, resource: &Resource) -> Observed<'_> {
        match self {
            Origin::Desired(position) => Observed::Desired { position, resource },
            Origin::Recorded => Observed::Recorded { resource },
        }
    }
}

/// The resources to observe, each with the provider that looks for it: the desired ones at
/// `positions` (every one when `None`) through routing (borrowed, not copied), then those the
/// state records that the desired set does not declare, through the provider the state
/// recorded. Resources no provider serves are left out; the plan reports them. Lazy: each
/// target is routed as the observation loop takes it, so nothing the size of the desired set
/// is gathered for it.
fn observation_targets<'a>(
    desired: &'a [Resource],
    positions: Option<&'a [usize]>,
    state: &'a State,
    registry: &'a ProviderRegistry,
) -> impl Iterator<Item = (Origin, Cow<'a, Resource>, Arc<dyn Provider>)> + 'a {
    let chosen = positions.map_or(desired.len(), <[usize]>::len);
    let wanted = (0..chosen).map(move |i| positions.map_or(i, |p| p[i]));
    let routed = wanted.filter_map(move |position| {
        let resource = desired.get(position)?;
        let provider = registry.route(resource).ok()?;
        Some((Origin::Desired(position), Cow::Borrowed(resource), provider))
    });
    let recorded = (!state.resources.is_empty())
        .then(move || {
            let desired_keys: FxHashSet<&ResourceKey> = desired.iter().map(|r| &r.key).collect();
            state
                .resources
                .values()
                .filter(move |record| !desired_keys.contains(&record.key))
                .filter_map(move |record| {
                    let provider = registry.by_name(&record.provider)?;
                    let resource = Resource {
                        key: record.key.clone(),
                        manifest: record.last_applied.to_value(),
                        source: None,
                    };
                    Some((Origin::Recorded, Cow::Owned(resource), provider))
                })
        })
        .into_iter()
        .flatten();
    routed.chain(recorded)
}

/// Observes every desired resource and every resource in the state, at most `parallelism` at a
/// time. Resources no provider serves are skipped here; the plan reports them.
///
/// The observations run concurrently on the calling task (providers wait on the network, not
/// on the CPU), so the desired set is borrowed rather than copied into spawned tasks.
pub async fn observe_all(
    desired: &[Resource],
    state: &State,
    registry: &ProviderRegistry,
    parallelism: usize,
) -> Result<Observations, (ResourceKey, ProviderError)> {
    let mut out = Observations::new();
    observe_each(
        desired,
        None,
        state,
        registry,
        parallelism,
        |observed, observation| {
            out.insert(observed.key().clone(), observation);
        },
    )
    .await?;
    Ok(out)
}

/// Observes the desired resources at `positions` (every one when `None`) and every resource
/// `state` records that `desired` does not declare, at most `parallelism` at a time, handing
/// each observation to `sink` as it arrives (in completion order) instead of gathering them:
/// a caller that compares and drops each live object holds only the ones in flight. Resources
/// no provider serves are skipped. Stops at the first failed observation.
pub async fn observe_each<F>(
    desired: &[Resource],
    positions: Option<&[usize]>,
    state: &State,
    registry: &ProviderRegistry,
    parallelism: usize,
    mut sink: F,
) -> Result<(), (ResourceKey, ProviderError)>
where
    F: FnMut(Observed<'_>, Observation) + Send,
{
    use futures_util::StreamExt as _;
    let limit = parallelism.max(1);
    // Providers that read many objects at once are offered their whole round first; what
    // they hand over is not observed again below. Without one, nothing is gathered for it.
    let batching = registry
        .enabled()
        .chain(registry.fallback())
        .any(|provider| provider.observes_many());
    let delivered = if batching {
        observe_many_first(desired, positions, state, registry, &mut sink).await
    } else {
        Delivered::default()
    };
    // Skipped by identity, not by place: routing may answer differently by now (a kind
    // served meanwhile), which would shift every place after it.
    let mut targets = observation_targets(desired, positions, state, registry)
        .filter(move |(origin, target, _)| !delivered.holds(*origin, &target.key));
    // A loop rather than stream combinators: closures returning futures that borrow would not
    // be `Send` for every lifetime, which tasks spawning a plan need.
    let mut running = futures_util::stream::FuturesUnordered::new();
    loop {
        while running.len() < limit {
            let Some((origin, target, provider)) = targets.next() else {
                break;
            };
            running.push(observe_one(origin, target, provider));
        }
        let Some((origin, target, observed)) = running.next().await else {
            break;
        };
        match observed {
            Ok(observation) => sink(origin.observed(&target), observation),
            Err(e) => return Err((target.key.clone(), e)),
        }
    }
    Ok(())
}

/// The targets a provider reading many at once handed over: desired ones by position,
/// recorded ones by key.
#[derive(Default)]
struct Delivered {
    positions: FxHashSet<usize>,
    recorded: FxHashSet<ResourceKey>,
}

impl Delivered {
    fn holds(&self, origin: Origin, key: &ResourceKey) -> bool {
        match origin {
            Origin::Desired(position) => self.positions.contains(&position),
            Origin::Recorded => self.recorded.contains(key),
        }
    }
}

/// Offers each provider that [observes many](Provider::observes_many) resources at once the
/// targets routed to it, handing what it reads to `sink`; the targets it handed over.
async fn observe_many_first<F>(
    desired: &[Resource],
    positions: Option<&[usize]>,
    state: &State,
    registry: &ProviderRegistry,
    sink: &mut F,
) -> Delivered
where
    F: FnMut(Observed<'_>, Observation) + Send,
{
    // Each provider with its targets.
    type Batch<'a> = (Arc<dyn Provider>, Vec<(Origin, Cow<'a, Resource>)>);
    let mut batches: Vec<Batch<'_>> = Vec::new();
    for (origin, target, provider) in observation_targets(desired, positions, state, registry) {
        if !provider.observes_many() {
            continue;
        }
        match batches.iter_mut().find(|(p, _)| Arc::ptr_eq(p, &provider)) {
            Some((_, targets)) => targets.push((origin, target)),
            None => batches.push((provider, vec![(origin, target)])),
        }
    }
    let mut delivered = Delivered::default();
    for (provider, targets) in &batches {
        let resources: Vec<&Resource> = targets.iter().map(|(_, r)| r.as_ref()).collect();
        let mut found = |at: usize, observation: Observation| {
            let Some((origin, target)) = targets.get(at) else {
                return;
            };
            let first = match origin {
                Origin::Desired(position) => delivered.positions.insert(*position),
                Origin::Recorded => delivered.recorded.insert(target.key.clone()),
            };
            if first {
                sink(origin.observed(target), observation);
            }
        };
        provider.observe_many(&resources, &mut found).await;
    }
    delivered
}

/// Observes one resource, retrying throttling as applying does.
async fn observe_one(
    origin: Origin,
    target: Cow<'_, Resource>,
    provider: Arc<dyn Provider>,
) -> (
    Origin,
    Cow<'_, Resource>,
    Result<Observation, ProviderError>,
) {
    let observed = crate::retry::retrying(
        crate::retry::RetryPolicy::default(),
        || provider.observe(&target),
        |_, _, _| {},
    )
    .await;
    (origin, target, observed)
}

/// Computes the plan. Pure: no I/O, the same inputs give the same plan.
///
/// `desired` is taken by value: the plan keeps each manifest (with Strata's ownership labels
/// added) to apply it, without copying the desired set.
pub fn compute_plan(
    desired: Vec<Resource>,
    graph: &Graph,
    state: &State,
    observations: &Observations,
    registry: &ProviderRegistry,
    normalizer: &dyn Normalizer,
    options: &PlanOptions,
) -> Plan {
    let mut plan = Plan {
        stack: options.stack.clone(),
        ..Plan::default()
    };
    let records: FxHashMap<&ResourceKey, &crate::state::ResourceState> =
        state.resources.values().map(|r| (&r.key, r)).collect();
    // Everything in the state that is not (or, for destroy, no longer) desired leaves it.
    let leaving: Vec<&crate::state::ResourceState> = if options.destroy {
        state.resources.values().collect()
    } else {
        let (order, graph_positions) = input_order(&desired, graph);
        // Resources the graph does not name are not planned, but they are desired: their
        // records stay.
        let unplanned = unplanned_keys(&desired, &order);
        let ordered = reordered(desired, &order);
        let context = DesiredContext {
            graph,
            records: &records,
            observations,
            registry,
            normalizer,
            options,
        };
        // Collected in place: the changes take over the results' memory rather than a copy.
        // The records the desired set matched are noted on the way, so that what leaves is
        // found without a second index of the desired keys.
        let violations = &mut plan.violations;
        let mut matched: Vec<&crate::state::ResourceState> = Vec::with_capacity(records.len());
        let positions = graph_positions.then_some(order.as_slice());
        plan.changes = plan_all_desired(ordered, positions, &context)
            .into_iter()
            .filter_map(|(change, found, record)| {
                violations.extend(found);
                matched.extend(record);
                change
            })
            .collect();
        not_matched(state, records.len(), &matched, &unplanned)
    };

    // Deletions, dependents before their dependencies. Who depends on a record is needed only
    // when some record leaves.
    let mut dependents_of: FxHashMap<&ResourceKey, Vec<&ResourceKey>> = FxHashMap::default();
    if !leaving.is_empty() {
        for r in state.resources.values() {
            for d in &r.dependencies {
                dependents_of.entry(d).or_default().push(&r.key);
            }
        }
    }
    let dependents = |key: &ResourceKey| {
        let mut dependents: Vec<ResourceKey> = dependents_of
            .get(key)
            .map(|keys| keys.iter().map(|k| (*k).clone()).collect())
            .unwrap_or_default();
        dependents.sort();
        dependents
    };
    let (deletions, violations) =
        plan_deletions(&leaving, &dependents, observations, registry, options);
    plan.changes.extend(deletions);
    plan.violations.extend(violations);
    if !options.targets.is_empty() {
        restrict_to_targets(&mut plan, graph, state, &options.targets, options.destroy);
    }
    plan
}

/// The deletions of the records `leaving` the desired set, dependents before their
/// dependencies, with their guard violations. `dependents_of` gives, sorted, the recorded
/// resources whose dependencies include a key (the deletion's blast radius).
pub(super) fn plan_deletions(
    leaving: &[&crate::state::ResourceState],
    dependents_of: &dyn Fn(&ResourceKey) -> Vec<ResourceKey>,
    observations: &Observations,
    registry: &ProviderRegistry,
    options: &PlanOptions,
) -> (Vec<ResourceChange>, Vec<Violation>) {
    let mut changes = Vec::with_capacity(leaving.len());
    let mut violations = Vec::new();
    for record in delete_order(leaving) {
        let live = observations
            .get(&record.key)
            .and_then(|o| o.live.as_ref().map(LiveObject::shared));
        let provider = registry.by_name(&record.provider);
        let sensitive_fields = provider
            .as_ref()
            .map(|p| p.sensitive_fields(&record.key))
            .unwrap_or_default();
        let dependents = dependents_of(&record.key);
        let last_applied = record.last_applied.to_value();
        if record.protect
            || crate::model::annotation(&last_applied, crate::model::ANNOTATION_PROTECT)
                == Some("true")
        {
            violations.push(Violation {
                key: record.key.clone(),
                guard: Guard::Protected,
                message: format!(
                    "{} is protected (strata.dev/protect) and would be destroyed; remove the protection in a separate apply first",
                    record.key
                ),
            });
        }
        if let Some(reason) = options.policy.check(&record.key) {
            violations.push(Violation {
                key: record.key.clone(),
                guard: Guard::Policy,
                message: reason,
            });
        }
        changes.push(ResourceChange {
            key: record.key.clone(),
            api_version: record.api_version.clone(),
            provider: record.provider.clone(),
            action: Action::Delete,
            reason: Some(if options.destroy {
                ActionReason::DeleteBecauseDestroy
            } else {
                ActionReason::DeleteBecauseNoResourceConfig
            }),
            fields: Vec::new(),
            replace_paths: Vec::new(),
            blast_radius: dependents,
            dependencies: record.dependencies.clone(),
            resource: Some(Resource {
                key: record.key.clone(),
                manifest: last_applied,
                source: None,
            }),
            live,
            sensitive_fields,
            drifted: false,
        });
    }
    (changes, violations)
}

/// Keeps the changes (and guard violations) of `targets` and what they need: each desired
/// target's dependencies, transitively; for a target leaving the state (or any target of a
/// destroy), the recorded resources depending on it, which go first.
fn restrict_to_targets(
    plan: &mut Plan,
    graph: &Graph,
    state: &State,
    targets: &[ResourceKey],
    destroy: bool,
) {
    let leaving: FxHashSet<&ResourceKey> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| &c.key)
        .collect();
    let mut dependents_in_state: FxHashMap<&ResourceKey, Vec<&ResourceKey>> = FxHashMap::default();
    for record in state.resources.values() {
        for dependency in &record.dependencies {
            dependents_in_state
                .entry(dependency)
                .or_default()
                .push(&record.key);
        }
    }
    let mut keep: FxHashSet<ResourceKey> = FxHashSet::default();
    let mut pending: Vec<(ResourceKey, bool)> = targets
        .iter()
        .map(|t| (t.clone(), destroy || leaving.contains(t)))
        .collect();
    while let Some((key, goes)) = pending.pop() {
        if !keep.insert(key.clone()) {
            continue;
        }
        if goes {
            for dependent in dependents_in_state.get(&key).into_iter().flatten() {
                pending.push(((*dependent).clone(), true));
            }
        } else {
            for dependency in graph.dependencies(&key) {
                pending.push((dependency, false));
            }
        }
    }
    plan.changes.retain(|c| keep.contains(&c.key));
    plan.violations.retain(|v| keep.contains(&v.key));
}

/// What planning one desired resource reads.
pub(super) struct DesiredContext<'a> {
    pub(super) graph: &'a Graph,
    pub(super) records: &'a FxHashMap<&'a ResourceKey, &'a crate::state::ResourceState>,
    pub(super) observations: &'a Observations,
    pub(super) registry: &'a ProviderRegistry,
    pub(super) normalizer: &'a dyn Normalizer,
    pub(super) options: &'a PlanOptions,
}

/// Plans every desired resource, in order. Each resource's plan is a pure function of the
/// shared context, so large sets are split across the available cores.
/// Each result also names the state record the resource matched, if any.
///
/// The resources are taken in batches of [`LOOKUP_BATCH`]: every state record, observation and
/// graph position of a batch is looked up first, one lookup after another, so that the
/// processor overlaps their cache misses (in a large set every lookup is a miss), and the batch
/// is then planned while what the lookups read is still in the cache. `graph_positions`, when
/// the caller knows them, are the resources' positions in the graph (one per resource, in the
/// same order); otherwise each is looked up by key.
pub(super) fn plan_all_desired<'a>(
    ordered: Vec<Resource>,
    graph_positions: Option<&[usize]>,
    context: &DesiredContext<'a>,
) -> Vec<PlannedDesired<'a>> {
    crate::par::map_batched(
        ordered,
        LOOKUP_BATCH,
        |i, r| {
            let position = match graph_positions {
                Some(positions) => positions.get(i).copied(),
                None => context.graph.position(&r.key),
            };
            look_up(r, position, context)
        },
        |r, found| plan_found_desired(r, found, context),
    )
}

/// How many resources' records and observations are looked up together before they are
/// planned: enough lookups back to back for the processor to overlap their cache misses, few
/// enough that what they read (a few cache lines each) stays in the core's cache until the
/// resources are planned.
const LOOKUP_BATCH: usize = 256;

/// A desired resource's state record and observation, with its `position` in the graph, and
/// the first bytes of the texts its planning reads first (the last-applied object, the live
/// object), brought into the cache.
fn look_up<'a>(
    resource: &Resource,
    position: Option<usize>,
    context: &DesiredContext<'a>,
) -> Found<'a> {
    let record = context.records.get(&resource.key).copied();
    let observation = context.observations.get(&resource.key);
    let last_applied = record.map(|r| r.last_applied.as_json());
    let live = observation
        .and_then(|o| o.live.as_ref())
        .and_then(LiveObject::compact_text);
    for text in [last_applied, live].into_iter().flatten() {
        std::hint::black_box(text.as_bytes().first().copied());
    }
    (record, observation, position)
}

/// A desired resource's state record, observation and position in the graph.
type Found<'a> = (
    Option<&'a crate::state::ResourceState>,
    Option<&'a Observation>,
    Option<usize>,
);

/// One desired resource planned: its change (`None` when no provider serves it), the
/// violations found, and the state record it matched.
pub(super) type PlannedDesired<'a> = (
    Option<ResourceChange>,
    Vec<Violation>,
    Option<&'a crate::state::ResourceState>,
);

/// The records of `state` that no desired resource matched, leaving out those whose key is in
/// `unplanned` (desired, but not planned).
///
/// `matched` holds the record each planned resource matched; no key is planned twice (see
/// [`input_order`]), so when `matched` is as long as the index of `indexed` records, and the
/// state holds no record beside them, every record was matched and none is looked up again.
fn not_matched<'a>(
    state: &'a State,
    indexed: usize,
    matched: &[&crate::state::ResourceState],
    unplanned: &FxHashSet<ResourceKey>,
) -> Vec<&'a crate::state::ResourceState> {
    if state.resources.is_empty() || indexed == state.resources.len() && matched.len() == indexed {
        return Vec::new();
    }
    let matched: FxHashSet<&ResourceKey> = matched.iter().map(|r| &r.key).collect();
    state
        .resources
        .values()
        .filter(|r| !matched.contains(&r.key) && !unplanned.contains(&r.key))
        .collect()
}

/// The keys of the desired resources `order` does not name (none when the graph was built
/// from the desired set).
fn unplanned_keys(desired: &[Resource], order: &[usize]) -> FxHashSet<ResourceKey> {
    if order.len() >= desired.len() {
        return FxHashSet::default();
    }
    let mut named = vec![false; desired.len()];
    for &p in order {
        if let Some(slot) = named.get_mut(p) {
            *slot = true;
        }
    }
    desired
        .iter()
        .zip(named)
        .filter(|(_, named)| !named)
        .map(|(r, _)| r.key.clone())
        .collect()
}

pub(super) fn plan_one_desired<'a>(
    resource: Resource,
    context: &DesiredContext<'a>,
) -> PlannedDesired<'a> {
    let found = (
        context.records.get(&resource.key).copied(),
        context.observations.get(&resource.key),
        context.graph.position(&resource.key),
    );
    plan_found_desired(resource, found, context)
}

fn plan_found_desired<'a>(
    resource: Resource,
    (record, observation, position): Found<'a>,
    context: &DesiredContext<'a>,
) -> PlannedDesired<'a> {
    let mut violations = Vec::new();
    let provider = match context.registry.route(&resource) {
        Ok(p) => p,
        Err(e) => {
            violations.push(Violation {
                key: resource.key.clone(),
                guard: Guard::Routing,
                message: e.to_string(),
            });
            return (None, violations, record);
        }
    };
    let change = plan_desired(
        resource,
        context.graph,
        position,
        record,
        observation,
        provider.as_ref(),
        context.normalizer,
        context.options,
        &mut violations,
    );
    (Some(change), violations, record)
}

/// The change of one desired resource planned without the rest of its set, from its state
/// record and its observation: what [`compute_plan`] plans for it, but for the parts that
/// need the dependency graph, which are left empty (`dependencies`, and the `blast_radius` of
/// a replacement). `resource` must have its references resolved (or have none). For a caller
/// that knows nothing else changed: re-planning one edited resource of a large stack. `None`
/// (with the routing violation) when no provider serves it.
pub fn plan_alone(
    resource: Resource,
    record: Option<&crate::state::ResourceState>,
    observation: Option<&Observation>,
    registry: &ProviderRegistry,
    normalizer: &dyn Normalizer,
    options: &PlanOptions,
) -> (Option<ResourceChange>, Vec<Violation>) {
    let graph = Graph::default();
    let mut records = FxHashMap::default();
    if let Some(record) = record {
        records.insert(&record.key, record);
    }
    let mut observations = Observations::default();
    if let Some(observation) = observation {
        observations.insert(resource.key.clone(), observation.clone());
    }
    let context = DesiredContext {
        graph: &graph,
        records: &records,
        observations: &observations,
        registry,
        normalizer,
        options,
    };
    let (change, violations, _) = plan_one_desired(resource, &context);
    (change, violations)
}

/// The desired set's positions in dependency order, and whether they are also the graph's
/// positions of those resources. The graph was normally built from this very slice, so its
/// positions are used directly (and are the graph's); otherwise keys are matched.
///
/// Each key of the graph is named at most once, so no resource is planned twice even if the
/// desired set names a key twice.
pub(super) fn input_order(desired: &[Resource], graph: &Graph) -> (Vec<usize>, bool) {
    let positions = graph.topological_positions();
    let same_input = graph.len() == desired.len()
        && positions
            .iter()
            .all(|&i| graph.key_at(i).is_some_and(|k| *k == desired[i].key));
    if same_input {
        return (positions, true);
    }
    let position: FxHashMap<&ResourceKey, usize> = desired
        .iter()
        .enumerate()
        .map(|(i, r)| (&r.key, i))
        .collect();
    let order = graph
        .topological_order()
        .iter()
        .filter_map(|k| position.get(k).copied())
        .collect();
    (order, false)
}

/// `items` in `order`: position `j` of the result holds what was at `order[j]`. When `order`
/// names every position once (as [`input_order`] does for a graph built from `items`), the
/// items are moved in place, so a large desired set is not held twice; otherwise the result
/// holds the named positions only, each once.
pub(super) fn reordered<T>(mut items: Vec<T>, order: &[usize]) -> Vec<T> {
    let n = items.len();
    let mut unplaced = vec![false; n];
    let permutation = order.len() == n
        && order
            .iter()
            .all(|&i| i < n && !std::mem::replace(&mut unplaced[i], true));
    if !permutation {
        let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
        return order
            .iter()
            .filter_map(|&i| slots.get_mut(i)?.take())
            .collect();
    }
    // Each cycle of the permutation is walked once: swapping brings what belongs at `j` there
    // and carries the cycle's first item along until its own place comes up.
    for start in 0..n {
        let mut j = start;
        while unplaced[j] {
            unplaced[j] = false;
            let from = order[j];
            if from == start {
                break;
            }
            items.swap(j, from);
            j = from;
        }
    }
    items
}

/// Orders records leaving the state so that each comes before the records it depended on.
fn delete_order<'a>(
    leaving: &[&'a crate::state::ResourceState],
) -> Vec<&'a crate::state::ResourceState> {
    let keys: BTreeMap<&ResourceKey, &crate::state::ResourceState> =
        leaving.iter().map(|r| (&r.key, *r)).collect();
    // Count, for each record, how many leaving records depend on it.
    let mut dependents: BTreeMap<&ResourceKey, usize> = keys.keys().map(|k| (*k, 0)).collect();
    for r in leaving {
        for d in &r.dependencies {
            if let Some(n) = dependents.get_mut(d) {
                *n += 1;
            }
        }
    }
    let mut ready: BTreeSet<&ResourceKey> = dependents
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(k, _)| *k)
        .collect();
    let mut out = Vec::with_capacity(leaving.len());
    while let Some(key) = ready.pop_first() {
        let record = keys[key];
        out.push(record);
        for d in &record.dependencies {
            if let Some(n) = dependents.get_mut(d) {
                *n -= 1;
                if *n == 0 {
                    ready.insert(keys.get_key_value(d).map(|(k, _)| *k).unwrap_or(d));
                }
            }
        }
    }
    // Records in a (corrupt) cycle still get deleted, in key order.
    if out.len() < leaving.len() {
        let ordered: FxHashSet<&ResourceKey> = out.iter().map(|r| &r.key).collect();
        let rest: Vec<_> = leaving
            .iter()
            .filter(|r| !ordered.contains(&r.key))
            .copied()
            .collect();
        out.extend(rest);
    }
    out
}

/// The change of one desired resource; `position` is its position in `graph`, whose
/// dependencies it records (none when the graph does not name it).
#[allow(clippy::too_many_arguments)]
fn plan_desired(
    mut resource: Resource,
    graph: &Graph,
    position: Option<usize>,
    record: Option<&crate::state::ResourceState>,
    observation: Option<&Observation>,
    provider: &dyn Provider,
    normalizer: &dyn Normalizer,
    options: &PlanOptions,
    violations: &mut Vec<Violation>,
) -> ResourceChange {
    ownership::stamp_in_place(&mut resource.manifest, &options.stack);
    let key = &resource.key;
    let stamped = &resource.manifest;
    let live = observation.and_then(|o| o.live.as_ref());
    let sensitive_fields = provider.sensitive_fields(key);
    let sensitivity = Sensitivity::with_paths(&sensitive_fields);
    let mut reason = None;
    let mut drifted = false;

    if let Some(why) = options.policy.check(key) {
        violations.push(Violation {
            key: key.clone(),
            guard: Guard::Policy,
            message: why,
        });
    }

    if record.is_none() {
        let claims = options.foreign_claims.claims_of(&resource);
        let adopt = options.adopt || resource.annotation(ANNOTATION_ADOPT) == Some("true");
        if !claims.is_empty() && !adopt {
            let claimed: Vec<String> = claims
                .iter()
                .map(|c| format!("{} as {c}", c.identity))
                .collect();
            violations.push(Violation {
                key: key.clone(),
                guard: Guard::Ownership,
                message: format!(
                    "{key} is also managed by {}; Strata will not {} it (one manager per resource): remove it from Terraform first (terraform state rm), or adopt it explicitly (--adopt or annotation {ANNOTATION_ADOPT}: \"true\")",
                    claimed.join(" and "),
                    if live.is_some() { "adopt" } else { "create" }
                ),
            });
        }
    }

    let (action, mut changes) = match live {
        None => {
            if record.is_some_and(|r| r.status == ResourceStatus::Applied) {
                reason = Some(ActionReason::CreateBecauseDeletedOutside);
                drifted = true;
            }
            (Action::Create, Vec::new())
        }
        Some(live_object) => {
            let plain = normalizer.unchanged_when_fields_equal(stamped);
            // Git has not changed it since the last apply: the record (kept in the form this
            // normalizer gives, see `Engine::record_for`) equals the manifest, raw (a
            // normalized object normalizes to itself) or, under a normalizer that rewrites it,
            // normalized alone (not against the live object).
            let settled = record.is_some_and(|r| {
                r.last_applied.equals(&sensitivity.digested(key, stamped))
                    || !normalizer.is_identity()
                        && plain
                        && r.last_applied.equals(
                            &sensitivity
                                .digested(key, &normalizer.normalize(stamped, &Value::Null).0),
                        )
            });
            // A settled resource whose live object holds every desired field with its value
            // (the common case of a settled stack) is unchanged without normalizing either
            // side, and read from its text alone when kept as text: nothing to change, no
            // drift.
            let mut parsed = None;
            let unchanged = settled
                && (plain && live_object.is_compact() && live_object.covers(stamped)
                    || normalizer.certainly_unchanged(stamped, parsed.insert(live_object.value())));
            let live = if unchanged {
                None
            } else {
                Some(parsed.unwrap_or_else(|| live_object.value()))
            };
            let live = live.as_deref();
            if let (None, Some(live)) = (record, live) {
                match ownership::manager_of(live, &options.stack) {
                    Manager::ThisStack => {}
                    other => {
                        let adopt =
                            options.adopt || resource.annotation(ANNOTATION_ADOPT) == Some("true");
                        if adopt {
                            reason = Some(ActionReason::Adopt);
                        } else {
                            violations.push(Violation {
                                key: key.clone(),
                                guard: Guard::Ownership,
                                message: format!(
                                    "{key} already exists and is managed by {other}; Strata will not touch it unless adopted (--adopt or annotation {ANNOTATION_ADOPT}: \"true\")"
                                ),
                            });
                        }
                    }
                }
            } else if record.is_some_and(|r| r.status == ResourceStatus::Creating) {
                reason = Some(ActionReason::AdoptInterruptedCreate);
            }
            let mut changes = Vec::new();
            if let Some(live) = live {
                let (d, l): (Cow<'_, Value>, Cow<'_, Value>) = if normalizer.is_identity() {
                    (Cow::Borrowed(stamped), Cow::Borrowed(live))
                } else {
                    let (d, l) = normalizer.normalize(stamped, live);
                    (Cow::Owned(d), Cow::Owned(l))
                };
                changes = fields::desired_vs_live(&d, &l);
                if let Some(record) = record {
                    // The state keeps the last-applied object normalized (and digested), so it is
                    // compared in the same normalization space.
                    let digested_desired = sensitivity.digested(key, &d);
                    if record.last_applied.equals(&digested_desired) {
                        // Git has not changed since the last apply (the common case): nothing was
                        // removed, and any difference from live is drift.
                        drifted = !changes.is_empty();
                    } else {
                        // Git changed it: the last-applied object is read whole (once).
                        let last = &record.last_applied.to_value();
                        let live_on_last: Cow<'_, Value> = if normalizer.is_identity() {
                            Cow::Borrowed(live)
                        } else {
                            Cow::Owned(normalizer.normalize(last, live).1)
                        };
                        for removed in
                            fields::removed_fields(last, &digested_desired, &live_on_last)
                        {
                            match changes.iter_mut().find(|c| c.path == removed.path) {
                                // A list already compared whole against live (seen in Git's
                                // shape): its before gains the elements Git dropped.
                                Some(existing) => fields::add_dropped_elements(existing, &removed),
                                None => changes.push(removed),
                            }
                        }
                        let digested_live = sensitivity.digested(key, &live_on_last);
                        drifted = !fields::desired_vs_live(last, &digested_live).is_empty();
                    }
                    // An interrupted change's record is what was being applied, not what was:
                    // a difference from live is that change unfinished, not drift.
                    drifted &= record.status == ResourceStatus::Applied;
                }
            }
            let replace_fields = provider.replace_fields(key);
            let mut forces = false;
            for c in &mut changes {
                if replace_fields.iter().any(|f| path_within(&c.path, f)) {
                    c.forces_replacement = true;
                    forces = true;
                }
            }
            let requested = options.replace.contains(key);
            let action = if forces || requested {
                reason = Some(if forces {
                    ActionReason::ReplaceBecauseCannotUpdate
                } else {
                    ActionReason::ReplaceByRequest
                });
                if resource.annotation(ANNOTATION_CREATE_BEFORE_DESTROY) == Some("true") {
                    Action::CreateThenDelete
                } else {
                    Action::DeleteThenCreate
                }
            } else if changes.is_empty() {
                Action::NoOp
            } else {
                Action::Update
            };
            (action, changes)
        }
    };

    let protected = resource.is_protected() || record.is_some_and(|r| r.protect);
    if protected && action.destroys() && reason == Some(ActionReason::ReplaceByRequest) {
        violations.push(Violation {
            key: key.clone(),
            guard: Guard::Protected,
            message: format!(
                "{key} is protected (strata.dev/protect) and replacing it was asked for; refusing"
            ),
        });
    } else if protected && action.destroys() {
        violations.push(Violation {
            key: key.clone(),
            guard: Guard::Protected,
            message: format!(
                "{key} is protected (strata.dev/protect) and must be replaced because {} changed; refusing",
                changes
                    .iter()
                    .filter(|c| c.forces_replacement)
                    .map(|c| c.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }

    for c in &mut changes {
        redact_change(&sensitivity, key, c);
    }
    let replace_paths = changes
        .iter()
        .filter(|c| c.forces_replacement)
        .map(|c| c.path.clone())
        .collect();
    let blast_radius = if action.destroys() {
        graph.dependents(key)
    } else {
        Vec::new()
    };
    // An unchanged resource the state does not record keeps its live object: that it exists
    // (labelled for this stack, say) is news the caller may report without observing again.
    let live = if action == Action::NoOp && !options.keep_live && record.is_some() {
        None
    } else {
        live.map(LiveObject::shared)
    };
    ResourceChange {
        key: key.clone(),
        api_version: resource.api_version().to_owned(),
        provider: provider.name().to_owned(),
        action,
        reason,
        fields: changes,
        replace_paths,
        blast_radius,
        dependencies: position.map_or_else(Vec::new, |p| graph.dependencies_at(p)),
        resource: Some(resource),
        live,
        sensitive_fields,
        drifted,
    }
}

pub(super) fn redact_change(
    sensitivity: &Sensitivity,
    key: &ResourceKey,
    change: &mut FieldChange,
) {
    let segments: Vec<&str> = change
        .path
        .split(['.', '[', ']'])
        .filter(|s| !s.is_empty())
        .collect();
    if sensitivity.is_sensitive(key, &segments) {
        let hide = |v: &mut Option<Value>| {
            if v.is_some() {
                *v = Some(Value::String(REDACTED.to_owned()));
            }
        };
        hide(&mut change.before);
        hide(&mut change.after);
    } else {
        for v in [&mut change.before, &mut change.after]
            .into_iter()
            .flatten()
        {
            *v = sensitivity.redact_at(key, &segments, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::reordered;

    #[test]
    fn reordering_moves_each_item_to_its_place() {
        // Cycles of several lengths, fixed points and the identity.
        let order = vec![3, 0, 1, 2, 4, 6, 5, 7];
        let items: Vec<String> = (0..8).map(|i| format!("r{i}")).collect();
        let expected: Vec<String> = order.iter().map(|&i| format!("r{i}")).collect();
        assert_eq!(reordered(items, &order), expected);
        let identity: Vec<usize> = (0..5).collect();
        assert_eq!(
            reordered(vec![1, 2, 3, 4, 5], &identity),
            vec![1, 2, 3, 4, 5]
        );
        // Every permutation of five items.
        let mut order: Vec<usize> = (0..5).collect();
        let mut seen = 0;
        permute(&mut order, 0, &mut |order| {
            let got = reordered((10..15).collect::<Vec<usize>>(), order);
            assert_eq!(got, order.iter().map(|&i| i + 10).collect::<Vec<_>>());
            seen += 1;
        });
        assert_eq!(seen, 120);
    }

    #[test]
    fn an_order_naming_some_positions_keeps_those_once() {
        assert_eq!(
            reordered(vec!['a', 'b', 'c', 'd'], &[2, 0, 2]),
            vec!['c', 'a']
        );
        assert_eq!(reordered(vec!['a', 'b'], &[1, 0, 7]), vec!['b', 'a']);
        assert_eq!(reordered(Vec::<char>::new(), &[]), Vec::<char>::new());
    }

    fn permute(items: &mut Vec<usize>, at: usize, visit: &mut dyn FnMut(&[usize])) {
        if at == items.len() {
            visit(items);
            return;
        }
        for i in at..items.len() {
            items.swap(at, i);
            permute(items, at + 1, visit);
            items.swap(at, i);
        }
    }
}
