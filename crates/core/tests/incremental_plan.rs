//! The incremental planner against the full plan: after any sequence of edits to the desired
//! set, the live objects and the state, `IncrementalPlanner::plan` gives what `Engine::plan`
//! gives from the same inputs (the same plan, or the same error).

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use proptest::prelude::*;
use serde_json::{Value, json};
use strata_core::engine::Engine;
use strata_core::model::{Resource, ResourceKey, SourceLocation};
use strata_core::plan::incremental::IncrementalPlanner;
use strata_core::plan::{Action, PlanOptions};
use strata_core::provider::{Applied, Observation, Provider, ProviderError, ProviderRegistry};
use strata_core::references::ReferenceSource;
use strata_core::state::{LockInfo, ResourceState, ResourceStatus, State, StateError, StateStore};

const STACK: &str = "shop";

/// Live objects the test sets directly; the engine observes them through this provider and the
/// incremental planner is told of them, as a watch would tell it. The provider hands them out
/// as compact text (as the sandbox does) while the incremental planner is told of them parsed,
/// so every comparison of the two plans also holds the planner's reading of a live object's
/// text (`LiveObject::covers`) to its reading of the parsed object.
#[derive(Debug, Default)]
struct World {
    objects: Mutex<HashMap<ResourceKey, Value>>,
}

#[async_trait]
impl Provider for World {
    fn name(&self) -> &str {
        "memory"
    }
    fn serves(&self, _: &str, _: &str) -> bool {
        true
    }
    async fn observe(&self, r: &Resource) -> Result<Observation, ProviderError> {
        Ok(self
            .objects
            .lock()
            .unwrap()
            .get(&r.key)
            .map(|live| Observation::present(strata_core::LiveObject::compact(live)))
            .unwrap_or_default())
    }
    async fn create(&self, _: &Resource) -> Result<Applied, ProviderError> {
        unreachable!("planning never applies")
    }
    async fn update(&self, _: &Resource, _: &Value) -> Result<Applied, ProviderError> {
        unreachable!("planning never applies")
    }
    async fn delete(&self, _: &Resource) -> Result<(), ProviderError> {
        unreachable!("planning never applies")
    }
    fn replace_fields(&self, _: &ResourceKey) -> Vec<String> {
        vec!["spec.immutable".into()]
    }
    fn sensitive_fields(&self, _: &ResourceKey) -> Vec<String> {
        vec!["spec.secret".into()]
    }
    /// References filling `…Uid` fields take the target's live `metadata.uid`.
    fn reference_value(&self, _: &ResourceKey, value_field: &str) -> ReferenceSource {
        if value_field.ends_with("Uid") {
            ReferenceSource::LiveField("metadata.uid".into())
        } else {
            ReferenceSource::ExternalName
        }
    }
}

/// A state store holding one state in memory (the engine only loads it while planning).
#[derive(Debug, Default)]
struct HeldState(Mutex<State>);

#[async_trait]
impl StateStore for HeldState {
    fn location(&self) -> String {
        "memory".into()
    }
    async fn load(&self) -> Result<Option<State>, StateError> {
        Ok(Some(self.0.lock().unwrap().clone()))
    }
    async fn save(&self, state: &mut State) -> Result<(), StateError> {
        *self.0.lock().unwrap() = state.clone();
        Ok(())
    }
    async fn lock(&self, _: &LockInfo) -> Result<(), StateError> {
        Ok(())
    }
    async fn unlock(&self, _: &str) -> Result<(), StateError> {
        Ok(())
    }
    async fn lock_info(&self) -> Result<Option<LockInfo>, StateError> {
        Ok(None)
    }
}

/// What one of the twelve resource slots holds when desired.
#[derive(Debug, Clone)]
struct Spec {
    data: u8,
    external_name: Option<u8>,
    immutable: u8,
    /// For config maps: the slot depended on (when a multiple of 3).
    target: u8,
    protect: bool,
    secret: Option<u8>,
    /// Rarely set: a label change makes the planner rebuild.
    label: bool,
}

const SLOTS: u8 = 12;

/// Slots 0–3 are buckets, 4–7 policies referring to a bucket, 8–11 config maps that may
/// depend on another slot.
fn manifest(slot: u8, spec: &Spec) -> Value {
    let mut annotations = serde_json::Map::new();
    if let Some(n) = spec.external_name {
        annotations.insert(
            "crossplane.io/external-name".into(),
            json!(format!("ext-{n}")),
        );
    }
    if spec.protect {
        annotations.insert("strata.dev/protect".into(), json!("true"));
    }
    let mut value = match slot {
        0..=3 => json!({
            "apiVersion": "test.strata.dev/v1", "kind": "Bucket",
            "metadata": {"name": format!("bucket-{slot}")},
            "spec": {"data": spec.data, "immutable": spec.immutable}
        }),
        4..=7 => {
            // Fixed per slot, so that most edits keep the graph: policy-4 and policy-6 also
            // take their bucket's live uid.
            let bucket = format!("bucket-{}", slot % 4);
            // policy-5 and policy-7 plan without their bucket (an optional reference).
            let reference = if slot.is_multiple_of(2) {
                json!({"name": bucket})
            } else {
                json!({"name": bucket, "policy": {"resolution": "Optional"}})
            };
            let mut for_provider = json!({"bucketRef": reference, "data": spec.data});
            if slot.is_multiple_of(2) {
                for_provider["bucketUidRef"] = json!({"name": bucket, "kind": "Bucket"});
            }
            json!({
                "apiVersion": "test.strata.dev/v1", "kind": "BucketPolicy",
                "metadata": {"name": format!("policy-{slot}")},
                "spec": {"forProvider": for_provider, "immutable": spec.immutable}
            })
        }
        _ => json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cfg-{slot}"), "namespace": "default"},
            "data": {"level": format!("{}", spec.data)}
        }),
    };
    if slot >= 8 && spec.target.is_multiple_of(3) {
        let target = spec.target % SLOTS;
        if target != slot {
            annotations.insert("strata.dev/depends-on".into(), json!(reference_of(target)));
        }
    }
    if slot >= 10 {
        // An ordering-only reference (outside the provider's parameters): an edge to cfg-8 or
        // cfg-9 when it is desired, nothing (and no error) when it is not.
        value["spec"]["peerRef"] =
            json!({"name": format!("cfg-{}", slot - 2), "kind": "ConfigMap"});
    }
    if let Some(secret) = spec.secret {
        value["spec"]["secret"] = json!(format!("s3cr3t-{secret}"));
    }
    value["metadata"]["labels"] = json!({"tier": if spec.label { "edge" } else { "core" }});
    if !annotations.is_empty() {
        value["metadata"]["annotations"] = Value::Object(annotations);
    }
    value
}

fn reference_of(slot: u8) -> String {
    match slot {
        0..=3 => format!("test.strata.dev/Bucket/bucket-{slot}"),
        4..=7 => format!("test.strata.dev/BucketPolicy/policy-{slot}"),
        _ => format!("ConfigMap/default/cfg-{slot}"),
    }
}

fn resource(slot: u8, spec: &Spec) -> Resource {
    Resource::from_manifest(manifest(slot, spec)).expect("a valid manifest")
}

#[derive(Debug, Clone)]
enum Edit {
    Upsert(u8, Spec),
    Remove(u8),
    /// 0 absent, 1 as desired (stamped), 2 drifted, 3 another manager's.
    Live(u8, u8),
    /// 0 applied as desired now, 1 applied as an older version, 2 create in flight,
    /// 3 protected, 4 depending on slot 0.
    Record(u8, u8),
    Forget(u8),
    /// The whole set given again (a new render), rotated by this many places, with one
    /// resource's data changed.
    Rerender(u8, u8),
    /// The whole set given again in the same order with one resource added at a place
    /// (anywhere in the set, as a new file is) or, when desired, taken out.
    Render(u8, u8),
    /// The whole set given again by reference (`set_desired_from`, as the controller gives a
    /// render) at a new revision: every source location moves; with `Some(slot)`, that
    /// resource's data also changes; with `reorder`, one manifest's keys come in another
    /// order (an equal manifest whose digest differs).
    Revision(u8, Option<u8>, bool),
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0u8..4,
        prop::option::weighted(0.3, 0u8..3),
        0u8..3,
        0u8..12,
        prop::bool::weighted(0.1),
        prop::option::weighted(0.2, 0u8..2),
        prop::bool::weighted(0.05),
    )
        .prop_map(
            |(data, external_name, immutable, target, protect, secret, label)| Spec {
                data,
                external_name,
                immutable,
                target,
                protect,
                secret,
                label,
            },
        )
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (0..SLOTS, spec()).prop_map(|(s, spec)| Edit::Upsert(s, spec)),
        2 => (0..SLOTS).prop_map(Edit::Remove),
        3 => (0..SLOTS, 0u8..4).prop_map(|(s, v)| Edit::Live(s, v)),
        2 => (0..SLOTS, 0u8..5).prop_map(|(s, v)| Edit::Record(s, v)),
        1 => (0..SLOTS).prop_map(Edit::Forget),
        1 => (0u8..12, 0u8..12).prop_map(|(r, s)| Edit::Rerender(r, s)),
        2 => (0..SLOTS, 0u8..13).prop_map(|(s, at)| Edit::Render(s, at)),
        2 => (0u8..4, prop::option::weighted(0.4, 0..SLOTS), prop::bool::weighted(0.3))
            .prop_map(|(r, s, o)| Edit::Revision(r, s, o)),
    ]
}

/// The inputs as the test keeps them, and the planner fed the same edits.
struct Model {
    desired: Vec<Resource>,
    specs: HashMap<u8, Spec>,
    state: State,
    world: Arc<World>,
    store: Arc<HeldState>,
    engine: Engine,
    planner: IncrementalPlanner,
}

fn default_spec() -> Spec {
    Spec {
        data: 9,
        external_name: None,
        immutable: 0,
        target: 0,
        protect: false,
        secret: None,
        label: false,
    }
}

impl Model {
    fn new() -> Self {
        let world = Arc::new(World::default());
        let store = Arc::new(HeldState::default());
        let engine = Engine {
            registry: ProviderRegistry::new().with_provider(world.clone()),
            normalizer: Arc::new(strata_core::normalize::IdentityNormalizer),
            store: store.clone(),
            config: Default::default(),
        };
        let planner =
            IncrementalPlanner::new(&engine, PlanOptions::new(STACK), State::new()).unwrap();
        Self {
            desired: Vec::new(),
            specs: HashMap::new(),
            state: State::new(),
            world,
            store,
            engine,
            planner,
        }
    }

    fn key(&self, slot: u8) -> ResourceKey {
        let spec = self.specs.get(&slot).cloned().unwrap_or_else(default_spec);
        resource(slot, &spec).key
    }

    fn apply(&mut self, edit: &Edit) {
        match edit {
            Edit::Upsert(slot, spec) => {
                let r = resource(*slot, spec);
                match self.desired.iter().position(|d| d.key == r.key) {
                    Some(at) => self.desired[at] = r.clone(),
                    None => self.desired.push(r.clone()),
                }
                self.specs.insert(*slot, spec.clone());
                self.planner.upsert(r);
            }
            Edit::Remove(slot) => {
                let key = self.key(*slot);
                self.desired.retain(|d| d.key != key);
                self.planner.remove(&key);
            }
            Edit::Live(slot, variant) => {
                let spec = self.specs.get(slot).cloned().unwrap_or_else(default_spec);
                let key = self.key(*slot);
                let mut live = strata_core::ownership::stamp(&manifest(*slot, &spec), STACK);
                live["metadata"]["uid"] = json!(format!("uid-{slot}-{variant}"));
                let live = match variant {
                    0 => None,
                    1 => Some(live),
                    2 => {
                        live["spec"]["drifted"] = json!(true);
                        Some(live)
                    }
                    _ => {
                        let mut foreign = manifest(*slot, &spec);
                        foreign["metadata"]["uid"] = json!("foreign");
                        Some(foreign)
                    }
                };
                let mut objects = self.world.objects.lock().unwrap();
                let observation = match live {
                    Some(live) => {
                        objects.insert(key.clone(), live.clone());
                        Observation::present(live)
                    }
                    None => {
                        objects.remove(&key);
                        Observation::absent()
                    }
                };
                drop(objects);
                self.planner.observe(key, observation);
            }
            Edit::Record(slot, variant) => {
                let mut spec = self.specs.get(slot).cloned().unwrap_or_else(default_spec);
                if *variant == 1 {
                    spec.data = spec.data.wrapping_add(1);
                }
                let applied = strata_core::ownership::stamp(&manifest(*slot, &spec), STACK);
                let r = resource(*slot, &spec);
                let record = ResourceState {
                    key: r.key.clone(),
                    api_version: r.api_version().to_owned(),
                    provider: "memory".into(),
                    status: if *variant == 2 {
                        ResourceStatus::Creating
                    } else {
                        ResourceStatus::Applied
                    },
                    last_applied: applied.into(),
                    dependencies: if *variant == 4 {
                        vec![self.key(0)]
                    } else {
                        Vec::new()
                    },
                    outputs: Value::Null,
                    protect: *variant == 3,
                };
                self.state.put(record.clone());
                self.planner.record(record);
            }
            Edit::Forget(slot) => {
                let key = self.key(*slot);
                self.state.remove(&key);
                self.planner.forget(&key);
            }
            Edit::Rerender(rotation, slot) => {
                if !self.desired.is_empty() {
                    let len = self.desired.len();
                    self.desired.rotate_left(usize::from(*rotation) % len);
                    let key = self.key(*slot);
                    if let Some(r) = self.desired.iter_mut().find(|r| r.key == key) {
                        r.manifest["metadata"]["annotations"]["rendered"] =
                            json!(rotation.to_string());
                    }
                }
                self.planner.set_desired(self.desired.clone());
            }
            Edit::Render(slot, at) => {
                let key = self.key(*slot);
                match self.desired.iter().position(|d| d.key == key) {
                    Some(present) => {
                        self.desired.remove(present);
                    }
                    None => {
                        let spec = self.specs.get(slot).cloned().unwrap_or_else(default_spec);
                        self.specs.insert(*slot, spec.clone());
                        let at = usize::from(*at) % (self.desired.len() + 1);
                        self.desired.insert(at, resource(*slot, &spec));
                    }
                }
                self.planner.set_desired(self.desired.clone());
            }
            Edit::Revision(revision, slot, reorder) => {
                let edited = slot.map(|slot| self.key(slot));
                for (document, r) in self.desired.iter_mut().enumerate() {
                    r.source = Some(SourceLocation {
                        file: format!("rev-{revision}/stack.yaml").into(),
                        document,
                        line: 1,
                    });
                    if edited.as_ref() == Some(&r.key) {
                        r.manifest["metadata"]["annotations"]["revision"] =
                            json!(revision.to_string());
                    }
                }
                if *reorder && let Some(first) = self.desired.first_mut() {
                    // The same manifest, its top-level keys reversed.
                    if let Value::Object(map) = &first.manifest {
                        let reversed: serde_json::Map<String, Value> = map
                            .iter()
                            .rev()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                        first.manifest = Value::Object(reversed);
                    }
                }
                self.planner.set_desired_from(&self.desired);
            }
        }
    }

    /// The full plan's outcome and the incremental one's, as comparable text for errors.
    fn compare(&mut self, runtime: &tokio::runtime::Runtime) {
        *self.store.0.lock().unwrap() = self.state.clone();
        let full = runtime.block_on(
            self.engine
                .plan(self.desired.clone(), &PlanOptions::new(STACK)),
        );
        let incremental = self.planner.plan_shared();
        let incremental = incremental.as_deref();
        match (full, incremental) {
            (Ok((full, _)), Ok(incremental)) => {
                assert_eq!(
                    &full, incremental,
                    "the incremental plan differs from the full plan"
                );
            }
            (Err(full), Err(incremental)) => {
                assert_eq!(full.to_string(), incremental.to_string());
            }
            (full, incremental) => panic!(
                "full plan {:?} but incremental {:?}",
                full.map(|(p, _)| p.summary()),
                incremental.map(|p| p.summary())
            ),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn the_incremental_plan_equals_the_full_plan_after_any_edits(
        batches in prop::collection::vec(prop::collection::vec(edit(), 1..6), 1..12)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut model = Model::new();
        // Start from a settled stack, so that most edits are the small ones a controller sees.
        for slot in 0..SLOTS {
            model.apply(&Edit::Upsert(slot, default_spec()));
            model.apply(&Edit::Live(slot, 1));
            model.apply(&Edit::Record(slot, 0));
        }
        model.compare(&runtime);
        for batch in &batches {
            for edit in batch {
                model.apply(edit);
            }
            model.compare(&runtime);
        }
    }
}

/// A stack of `n` config maps, each as live as desired and recorded.
fn settled(n: usize) -> Model {
    let mut model = Model::new();
    for i in 0..n {
        let r = Resource::from_manifest(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cfg-{i}"), "namespace": "default"},
            "data": {"level": "info"}
        }))
        .unwrap();
        let live = strata_core::ownership::stamp(&r.manifest, STACK);
        model
            .planner
            .observe(r.key.clone(), Observation::present(live.clone()));
        model.planner.record(ResourceState {
            key: r.key.clone(),
            api_version: "v1".into(),
            provider: "memory".into(),
            status: ResourceStatus::Applied,
            last_applied: live.into(),
            dependencies: Vec::new(),
            outputs: Value::Null,
            protect: false,
        });
        model.desired.push(r.clone());
        model.planner.upsert(r);
    }
    model
}

#[test]
fn an_edit_replans_that_resource_and_keeps_the_others_in_place() {
    let mut model = settled(50);
    let plan = model.planner.plan().unwrap();
    assert!(plan.changes.iter().all(|c| c.action == Action::NoOp));
    let mut edited = model.desired[17].clone();
    edited.manifest["data"]["level"] = json!("debug");
    model.planner.upsert(edited);
    let plan = model.planner.plan().unwrap();
    let changed: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| (c.key.name.to_string(), c.action))
        .collect();
    assert_eq!(changed, vec![("cfg-17".to_owned(), Action::Update)]);
    assert_eq!(plan.changes[17].key.name, "cfg-17", "the order is kept");
}

#[test]
fn an_invalid_edit_fails_the_plan_and_the_next_valid_one_recovers() {
    let mut model = settled(5);
    model.planner.plan().unwrap();
    let mut bad = model.desired[2].clone();
    bad.manifest["metadata"]["name"] = json!("Not_A_Name");
    let bad = Resource::from_manifest(bad.manifest).unwrap();
    model.planner.upsert(bad.clone());
    let error = model.planner.plan().unwrap_err().to_string();
    assert!(error.contains("Not_A_Name"), "{error}");
    model.planner.remove(&bad.key);
    let plan = model.planner.plan().unwrap();
    assert_eq!(plan.changes.len(), 5);
    assert!(plan.changes.iter().all(|c| c.action == Action::NoOp));
}

#[test]
fn destroy_and_targeted_plans_are_refused() {
    let model = Model::new();
    let destroy = IncrementalPlanner::new(
        &model.engine,
        PlanOptions::new(STACK).with_destroy(true),
        State::new(),
    )
    .unwrap_err();
    assert!(destroy.to_string().contains("destroy"), "{destroy}");
}

#[test]
fn a_changed_target_replans_the_resources_whose_references_read_it() {
    let mut model = Model::new();
    let bucket = resource(0, &default_spec());
    let policy = resource(4, &default_spec());
    for r in [&bucket, &policy] {
        let mut live = strata_core::ownership::stamp(&r.manifest, STACK);
        live["metadata"]["uid"] = json!("uid-1");
        model
            .planner
            .observe(r.key.clone(), Observation::present(live));
        model.planner.upsert(r.clone());
    }
    let for_provider = |plan: &strata_core::plan::Plan| {
        plan.changes
            .iter()
            .find(|c| c.key == policy.key)
            .and_then(|c| c.resource.as_ref())
            .map(|r| r.manifest["spec"]["forProvider"].clone())
            .unwrap()
    };
    let plan = model.planner.plan().unwrap();
    assert_eq!(for_provider(plan)["bucket"], json!("bucket-0"));

    // A new external name on the bucket reaches the policy's resolved value.
    let mut renamed = default_spec();
    renamed.external_name = Some(1);
    model.planner.upsert(resource(0, &renamed));
    let plan = model.planner.plan().unwrap();
    assert_eq!(for_provider(plan)["bucket"], json!("ext-1"));

    // So does the bucket's live uid, through the live-field reference.
    let mut live = strata_core::ownership::stamp(&bucket.manifest, STACK);
    live["metadata"]["uid"] = json!("uid-7");
    model
        .planner
        .observe(bucket.key.clone(), Observation::present(live));
    let plan = model.planner.plan().unwrap();
    assert_eq!(for_provider(plan)["bucketUid"], json!("uid-7"));
}

#[test]
fn an_edit_with_an_invalid_annotation_fails_the_plan_as_the_full_plan_does() {
    let mut model = settled(5);
    model.planner.plan().unwrap();
    let mut bad = model.desired[3].clone();
    bad.manifest["metadata"]["annotations"] = json!({"strata.dev/protect": "yes"});
    model.desired[3] = bad.clone();
    model.planner.upsert(bad);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let full = runtime
        .block_on(
            model
                .engine
                .plan(model.desired.clone(), &PlanOptions::new(STACK)),
        )
        .unwrap_err()
        .to_string();
    let incremental = model.planner.plan().unwrap_err().to_string();
    assert!(full.contains("strata.dev/protect"), "{full}");
    assert_eq!(incremental, full);
}

#[test]
fn an_unchanged_render_compares_and_copies_nothing() {
    let mut model = settled(50);
    let first = model.planner.plan_shared().unwrap();
    let changes = model.planner.set_desired_from(&model.desired);
    assert!(changes.is_empty(), "{changes:?}");
    let again = model.planner.plan_shared().unwrap();
    assert_eq!(model.planner.last_stats().compared, 0);
    assert!(
        Arc::ptr_eq(&first, &again),
        "an unchanged render shares the plan it had"
    );
    drop((first, again));

    // A new revision moves every source location: written into the plan, nothing compared,
    // the plan patched in place (no copy: nobody holds it).
    let before = model.planner.plan_shared().unwrap();
    let at = Arc::as_ptr(&before);
    drop(before);
    for (document, r) in model.desired.iter_mut().enumerate() {
        r.source = Some(SourceLocation {
            file: "rev-2/stack.yaml".into(),
            document,
            line: 1,
        });
    }
    let changes = model.planner.set_desired_from(&model.desired);
    assert_eq!(changes.moved, 50, "{changes:?}");
    assert!(changes.is_empty(), "{changes:?}");
    let plan = model.planner.plan_shared().unwrap();
    assert_eq!(model.planner.last_stats().compared, 0);
    assert_eq!(Arc::as_ptr(&plan), at, "patched in place");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    *model.store.0.lock().unwrap() = model.planner.state().clone();
    for r in &model.desired {
        let live = strata_core::ownership::stamp(&r.manifest, STACK);
        model
            .world
            .objects
            .lock()
            .unwrap()
            .insert(r.key.clone(), live);
    }
    let (full, _) = runtime
        .block_on(
            model
                .engine
                .plan(model.desired.clone(), &PlanOptions::new(STACK)),
        )
        .unwrap();
    assert_eq!(*plan, full);

    // One edited manifest: that one is copied and compared.
    model.desired[7].manifest["data"]["level"] = json!("debug");
    let changes = model.planner.set_desired_from(&model.desired);
    assert_eq!(changes.changed, vec![model.desired[7].key.clone()]);
    model.planner.plan_shared().unwrap();
    assert_eq!(model.planner.last_stats().compared, 1);
}
