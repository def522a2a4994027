//! Plans: actions, guards, redaction, and idempotence after apply.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use proptest::prelude::*;
use serde_json::{Value, json};
use strata_core::executor::{Cancellation, Event, ExecutorConfig};
use strata_core::plan::{self, Action, ActionReason, Guard, PlanOptions};
use strata_core::policy::Policy;
use strata_core::provider::{Applied, Observation, Provider, ProviderError, ProviderRegistry};
use strata_core::references::ReferenceProblem;
use strata_core::state::LocalStateStore;
use strata_core::{
    Engine, EngineError, Graph, IdentityNormalizer, ReferenceSource, Resource, ResourceKey,
    SandboxProvider, State,
};

/// A provider keeping its world in memory; live objects get a status and a server field.
#[derive(Debug, Default)]
struct MemoryProvider {
    world: Mutex<HashMap<ResourceKey, Value>>,
}

impl MemoryProvider {
    fn live(manifest: &Value) -> Value {
        let mut live = manifest.clone();
        live["status"] = json!({"ready": true});
        live["metadata"]["uid"] = json!("1234");
        live
    }
}

#[async_trait]
impl Provider for MemoryProvider {
    fn name(&self) -> &str {
        "memory"
    }
    fn serves(&self, _: &str, _: &str) -> bool {
        true
    }
    async fn observe(&self, r: &Resource) -> Result<Observation, ProviderError> {
        Ok(self
            .world
            .lock()
            .unwrap()
            .get(&r.key)
            .cloned()
            .map(Observation::present)
            .unwrap_or_default())
    }
    async fn create(&self, r: &Resource) -> Result<Applied, ProviderError> {
        let live = Self::live(&r.manifest);
        self.world
            .lock()
            .unwrap()
            .insert(r.key.clone(), live.clone());
        Ok(Applied {
            live,
            ..Applied::default()
        })
    }
    async fn update(&self, r: &Resource, _: &Value) -> Result<Applied, ProviderError> {
        self.create(r).await
    }
    async fn delete(&self, r: &Resource) -> Result<(), ProviderError> {
        self.world.lock().unwrap().remove(&r.key);
        Ok(())
    }
    fn replace_fields(&self, _: &ResourceKey) -> Vec<String> {
        vec!["spec.immutable".into()]
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

fn engine(dir: &std::path::Path, provider: Arc<dyn Provider>) -> Engine {
    Engine {
        registry: ProviderRegistry::new().with_provider(provider),
        normalizer: Arc::new(IdentityNormalizer),
        store: Arc::new(LocalStateStore::new(dir.join("state.json"))),
        config: ExecutorConfig::default(),
    }
}

fn options() -> PlanOptions {
    PlanOptions::new("test")
}

async fn apply(engine: &Engine, desired: &[Resource]) -> plan::Plan {
    let (plan, state) = engine.plan(desired, &options()).await.unwrap();
    let report = engine
        .apply(
            &plan,
            state,
            "apply",
            Arc::new(|_: Event| {}),
            Cancellation::never(),
        )
        .await
        .unwrap();
    assert!(report.is_success(), "{report:?}");
    plan
}

fn widget(name: &str, spec: Value) -> Resource {
    Resource::from_manifest(json!({"apiVersion": "example.org/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec})).unwrap()
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(Value::from),
        "[a-z]{0,6}".prop_map(Value::from),
        any::<bool>().prop_map(Value::from)
    ]
}

fn spec() -> impl Strategy<Value = Value> {
    proptest::collection::btree_map(
        "[a-z]{1,5}",
        prop_oneof![
            json_leaf(),
            proptest::collection::btree_map("[a-z]{1,4}", json_leaf(), 0..3).prop_map(|m| json!(m))
        ],
        0..5,
    )
    .prop_map(|m| json!(m))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn applying_a_plan_then_planning_again_gives_only_no_ops(specs in proptest::collection::vec(spec(), 1..8), edits in proptest::collection::vec(spec(), 1..8)) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let engine = engine(dir.path(), Arc::new(MemoryProvider::default()));
            let desired: Vec<Resource> = specs.iter().enumerate().map(|(i, s)| widget(&format!("w{i}"), s.clone())).collect();
            apply(&engine, &desired).await;
            let (again, _) = engine.plan(desired.as_slice(), &options()).await.unwrap();
            assert!(again.changes.iter().all(|c| c.action == Action::NoOp), "{:?}", again.changes);
            // Edit some specs (and drop the last resource): apply, then nothing is left to do.
            let mut edited: Vec<Resource> = desired.iter().zip(edits.iter().cycle()).map(|(r, e)| widget(&r.key.name, e.clone())).collect();
            edited.pop();
            let plan = apply(&engine, &edited).await;
            assert!(plan.changes.iter().any(|c| c.action == Action::Delete));
            let (settled, _) = engine.plan(edited.as_slice(), &options()).await.unwrap();
            assert!(!settled.has_changes(), "{:?}", settled.changes.iter().filter(|c| c.action != Action::NoOp).collect::<Vec<_>>());
        });
    }
}

#[tokio::test]
async fn field_removed_from_git_is_planned_as_removal() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), Arc::new(MemoryProvider::default()));
    apply(&engine, &[widget("a", json!({"size": 1, "colour": "red"}))]).await;
    let (plan, _) = engine
        .plan(&[widget("a", json!({"size": 1}))], &options())
        .await
        .unwrap();
    assert_eq!(plan.changes[0].action, Action::Update);
    assert_eq!(plan.changes[0].fields[0].path, "spec.colour");
    assert_eq!(plan.changes[0].fields[0].after, None);
}

#[tokio::test]
async fn replace_forcing_field_plans_a_replace_with_reason_and_blast_radius() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), Arc::new(MemoryProvider::default()));
    let user = |v: i64| {
        Resource::from_manifest(json!({"apiVersion": "example.org/v1", "kind": "Gadget", "metadata": {"name": "g", "annotations": {"strata.dev/depends-on": "Widget/a"}}, "spec": {"v": v}})).unwrap()
    };
    apply(&engine, &[widget("a", json!({"immutable": "x"})), user(1)]).await;
    let (plan, _) = engine
        .plan(
            &[widget("a", json!({"immutable": "y"})), user(1)],
            &options(),
        )
        .await
        .unwrap();
    let change = &plan.changes[0];
    assert_eq!(change.action, Action::DeleteThenCreate);
    assert_eq!(
        change.reason,
        Some(ActionReason::ReplaceBecauseCannotUpdate)
    );
    assert_eq!(change.replace_paths, vec!["spec.immutable"]);
    assert_eq!(
        change.blast_radius,
        vec![ResourceKey::new("example.org", "Gadget", None, "g")]
    );
    let json = plan::to_json(&plan);
    assert_eq!(
        json["resource_changes"][0]["change"]["actions"],
        json!(["delete", "create"])
    );
    assert!(plan::render_human(&plan, false).contains("# forces replacement"));
}

#[tokio::test]
async fn protected_resources_refuse_delete_even_after_the_annotation_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), Arc::new(MemoryProvider::default()));
    let protected = Resource::from_manifest(json!({"apiVersion": "example.org/v1", "kind": "Widget", "metadata": {"name": "db", "annotations": {"strata.dev/protect": "true"}}, "spec": {}})).unwrap();
    apply(&engine, &[protected]).await;
    let (plan, state) = engine.plan(&[], &options()).await.unwrap();
    assert_eq!(plan.violations.len(), 1);
    assert_eq!(plan.violations[0].guard, Guard::Protected);
    let err = engine
        .apply(
            &plan,
            state,
            "apply",
            Arc::new(|_: Event| {}),
            Cancellation::never(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("protected"), "{err}");
    let (still, _) = engine.plan(&[], &options()).await.unwrap();
    assert_eq!(
        still.changes.len(),
        1,
        "nothing was applied: the state still has it"
    );
}

#[tokio::test]
async fn objects_owned_by_others_are_not_touched_unless_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let provider = Arc::new(MemoryProvider::default());
    let existing = json!({"apiVersion": "example.org/v1", "kind": "Widget", "metadata": {"name": "a", "labels": {"app.kubernetes.io/managed-by": "Helm"}}, "spec": {"size": 1}});
    provider.world.lock().unwrap().insert(
        ResourceKey::new("example.org", "Widget", None, "a"),
        existing,
    );
    let engine = engine(dir.path(), provider.clone());
    let desired = [widget("a", json!({"size": 2}))];
    let (plan, _) = engine.plan(desired.as_slice(), &options()).await.unwrap();
    assert_eq!(plan.violations[0].guard, Guard::Ownership);
    assert!(
        plan.violations[0].message.contains("Helm"),
        "{}",
        plan.violations[0].message
    );
    let adopt = options().with_adopt(true);
    let (plan, _) = engine.plan(desired.as_slice(), &adopt).await.unwrap();
    assert!(plan.is_applyable());
    assert_eq!(plan.changes[0].reason, Some(ActionReason::Adopt));
}

#[tokio::test]
async fn policy_refuses_kinds_outside_the_allow_list() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), Arc::new(MemoryProvider::default()));
    let opts = options().with_policy(Policy::default().with_allowed_kinds(vec!["apps/*".into()]));
    let (plan, _) = engine.plan(&[widget("a", json!({}))], &opts).await.unwrap();
    assert_eq!(plan.violations[0].guard, Guard::Policy);
}

#[tokio::test]
async fn no_sandbox_means_unserved_kinds_are_a_routing_violation() {
    let resources = [widget("a", json!({}))];
    let graph = Graph::build(&resources).unwrap();
    let plan = plan::compute_plan(
        resources.to_vec(),
        &graph,
        &State::new(),
        &HashMap::new(),
        &ProviderRegistry::new(),
        &IdentityNormalizer,
        &options(),
    );
    assert_eq!(plan.violations[0].guard, Guard::Routing);
}

#[tokio::test]
async fn secrets_are_redacted_in_plans_and_digested_in_state() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine {
        registry: ProviderRegistry::new()
            .with_fallback(Arc::new(SandboxProvider::new(dir.path().join("world")))),
        normalizer: Arc::new(IdentityNormalizer),
        store: Arc::new(LocalStateStore::new(dir.path().join("state.json"))),
        config: ExecutorConfig::default(),
    };
    let secret = |pw: &str| {
        Resource::from_manifest(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "app"}, "stringData": {"password": pw}})).unwrap()
    };
    let plan = apply(&engine, &[secret("hunter2")]).await;
    let shown = plan::render_human(&plan, false) + &plan::to_json(&plan).to_string();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("(sensitive)"));
    let state = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
    assert!(!state.contains("hunter2"));
    assert!(state.contains("sha256:"));
    let (changed, _) = engine
        .plan(&[secret("correct-horse")], &options())
        .await
        .unwrap();
    assert_eq!(
        changed.changes[0].action,
        Action::Update,
        "a changed secret is still detected"
    );
    let shown = plan::render_human(&changed, false) + &plan::to_json(&changed).to_string();
    assert!(
        !shown.contains("correct-horse") && !shown.contains("hunter2"),
        "{shown}"
    );
}

#[tokio::test]
async fn rds_passwords_and_secret_refs_are_redacted_in_plans_and_state() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine {
        registry: ProviderRegistry::new()
            .with_fallback(Arc::new(SandboxProvider::new(dir.path().join("world")))),
        normalizer: Arc::new(IdentityNormalizer),
        store: Arc::new(LocalStateStore::new(dir.path().join("state.json"))),
        config: ExecutorConfig::default(),
    };
    let instance = |password: &str, secret_name: &str| {
        Resource::from_manifest(json!({
            "apiVersion": "rds.aws.upbound.io/v1beta1", "kind": "Instance",
            "metadata": {"name": "db"},
            "spec": {"forProvider": {
                "engine": "postgres", "instanceClass": "db.t3.micro",
                "masterUserPassword": password,
                "passwordSecretRef": {"name": secret_name, "namespace": "app", "key": "pw"}
            }}
        }))
        .unwrap()
    };
    let created = apply(&engine, &[instance("hunter2", "db-credentials")]).await;
    let shown = plan::render_human(&created, false) + &plan::to_json(&created).to_string();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("db-credentials"), "{shown}");
    assert!(shown.contains("(sensitive)"), "{shown}");
    assert!(
        shown.contains("db.t3.micro"),
        "other fields stay visible: {shown}"
    );
    let state = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
    assert!(!state.contains("hunter2") && !state.contains("db-credentials"));

    let (changed, _) = engine
        .plan(&[instance("hunter3", "db-rotated")], &options())
        .await
        .unwrap();
    assert_eq!(changed.changes[0].action, Action::Update);
    let shown = plan::render_human(&changed, false)
        + &plan::to_json(&changed).to_string()
        + &plan::render_markdown(&changed, plan::MarkdownOptions::default());
    for secret in ["hunter2", "hunter3", "db-credentials", "db-rotated"] {
        assert!(!shown.contains(secret), "{secret} shown in {shown}");
    }
    assert!(shown.contains("(sensitive)"), "{shown}");
}

#[tokio::test]
async fn interrupted_create_is_adopted_not_duplicated() {
    use strata_core::state::{ResourceState, ResourceStatus};
    let dir = tempfile::tempdir().unwrap();
    let provider = Arc::new(MemoryProvider::default());
    let engine = engine(dir.path(), provider.clone());
    let desired = widget("a", json!({"size": 1}));
    // A crash after the create was sent: the object exists, the state only has the intent.
    provider
        .create(&strata_core::Resource {
            manifest: strata_core::ownership::stamp(&desired.manifest, "other"),
            ..desired.clone()
        })
        .await
        .unwrap();
    let mut state = State::new();
    state.put(ResourceState {
        key: desired.key.clone(),
        api_version: "example.org/v1".into(),
        provider: "memory".into(),
        status: ResourceStatus::Creating,
        last_applied: (&desired.manifest).into(),
        dependencies: vec![],
        outputs: Value::Null,
        protect: false,
    });
    engine.store.save(&mut state).await.unwrap();
    let (plan, _) = engine
        .plan(std::slice::from_ref(&desired), &options())
        .await
        .unwrap();
    assert!(plan.is_applyable(), "{:?}", plan.violations);
    assert_eq!(
        plan.changes[0].reason,
        Some(ActionReason::AdoptInterruptedCreate)
    );
    assert_ne!(plan.changes[0].action, Action::Create);
}

fn s3(kind: &str, name: &str, annotations: Value, for_provider: Value) -> Resource {
    Resource::from_manifest(json!({
        "apiVersion": "s3.aws.upbound.io/v1beta1", "kind": kind,
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"forProvider": for_provider}
    }))
    .unwrap()
}

fn quickstart_storage() -> Vec<Resource> {
    vec![
        s3(
            "Bucket",
            "payments-assets",
            json!({"crossplane.io/external-name": "payments-assets-eu"}),
            json!({"region": "eu-west-1"}),
        ),
        s3(
            "BucketVersioning",
            "payments-assets-versioning",
            json!({}),
            json!({"bucketRef": {"name": "payments-assets"},
                   "versioningConfiguration": [{"status": "Enabled"}]}),
        ),
    ]
}

#[tokio::test]
async fn the_plan_shows_the_referenced_external_name_in_the_referencing_field() {
    let dir = tempfile::tempdir().unwrap();
    let memory = Arc::new(MemoryProvider::default());
    let engine = engine(dir.path(), memory.clone());
    let (plan, _) = engine.plan(quickstart_storage(), &options()).await.unwrap();
    let versioning = plan
        .changes
        .iter()
        .find(|c| c.key.kind == "BucketVersioning")
        .unwrap();
    assert_eq!(
        versioning.after().unwrap()["spec"]["forProvider"]["bucket"],
        "payments-assets-eu"
    );
    assert!(
        plan::render_human(&plan, false).contains("payments-assets-eu"),
        "{}",
        plan::render_human(&plan, false)
    );
    assert_eq!(
        versioning.dependencies,
        vec![plan.changes[0].key.clone()],
        "the reference still orders"
    );

    // What the provider is handed carries the resolved field, and planning again is quiet.
    apply(&engine, &quickstart_storage()).await;
    let world = memory.world.lock().unwrap().clone();
    let applied = world
        .values()
        .find(|live| live["kind"] == "BucketVersioning")
        .unwrap();
    assert_eq!(
        applied["spec"]["forProvider"]["bucket"],
        "payments-assets-eu"
    );
    let (again, _) = engine.plan(quickstart_storage(), &options()).await.unwrap();
    assert!(!again.has_changes());

    // Renaming the bucket's external name moves the versioning with it.
    let mut renamed = quickstart_storage();
    renamed[0].manifest["metadata"]["annotations"]["crossplane.io/external-name"] =
        json!("payments-assets-us");
    let (moved, _) = engine.plan(renamed, &options()).await.unwrap();
    let versioning = moved
        .changes
        .iter()
        .find(|c| c.key.kind == "BucketVersioning")
        .unwrap();
    assert_eq!(versioning.action, Action::Update);
    assert_eq!(versioning.fields[0].path, "spec.forProvider.bucket");
}

#[tokio::test]
async fn a_reference_to_nothing_in_the_desired_set_fails_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), Arc::new(MemoryProvider::default()));
    let desired = vec![quickstart_storage().remove(1)];
    let error = engine.plan(desired, &options()).await.unwrap_err();
    let EngineError::Reference(error) = error else {
        panic!("{error}");
    };
    assert_eq!(error.field, "spec.forProvider.bucketRef");
    assert!(matches!(error.problem, ReferenceProblem::NotFound { .. }));
}

#[tokio::test]
async fn live_field_references_resolve_once_the_target_exists() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), Arc::new(MemoryProvider::default()));
    let target = widget("base", json!({}));
    let referencing = widget(
        "top",
        json!({"forProvider": {"baseUidRef": {"name": "base", "kind": "Widget"}}}),
    );
    let both = vec![target.clone(), referencing];
    let error = engine.plan(both.clone(), &options()).await.unwrap_err();
    let EngineError::Reference(error) = error else {
        panic!("{error}");
    };
    assert!(
        matches!(error.problem, ReferenceProblem::NotYetCreated { .. }),
        "{error}"
    );

    apply(&engine, &[target]).await;
    let (plan, _) = engine.plan(both, &options()).await.unwrap();
    let top = plan.changes.iter().find(|c| c.key.name == "top").unwrap();
    assert_eq!(top.action, Action::Create);
    assert_eq!(
        top.after().unwrap()["spec"]["forProvider"]["baseUid"],
        "1234"
    );
}

/// A state record of `resource` as an apply leaves it.
fn record_of(resource: &Resource) -> strata_core::state::ResourceState {
    strata_core::state::ResourceState {
        key: resource.key.clone(),
        api_version: resource.api_version().to_owned(),
        provider: "memory".into(),
        status: strata_core::state::ResourceStatus::Applied,
        last_applied: (&strata_core::ownership::stamp(&resource.manifest, "test")).into(),
        dependencies: Vec::new(),
        outputs: Value::Null,
        protect: false,
    }
}

fn deleted(plan: &plan::Plan) -> Vec<String> {
    plan.changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.key.name.to_string())
        .collect()
}

#[test]
fn records_no_desired_resource_matches_are_deleted_whatever_the_graph() {
    let all: Vec<Resource> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| widget(n, json!({"size": 1})))
        .collect();
    let mut state = State::new();
    for r in &all[..3] {
        state.put(record_of(r));
    }
    let registry = ProviderRegistry::new().with_provider(Arc::new(MemoryProvider::default()));
    let plan_of = |desired: Vec<Resource>, graph: &Graph, registry: &ProviderRegistry| {
        plan::compute_plan(
            desired,
            graph,
            &state,
            &HashMap::new(),
            registry,
            &IdentityNormalizer,
            &options(),
        )
    };
    // The graph built from the desired set itself (a, c, d): b leaves.
    let desired = vec![all[0].clone(), all[2].clone(), all[3].clone()];
    let graph = Graph::build(&desired).unwrap();
    assert_eq!(deleted(&plan_of(desired, &graph, &registry)), ["b"]);
    // Every record desired: nothing leaves.
    let desired = all.clone();
    let graph = Graph::build(&desired).unwrap();
    assert!(deleted(&plan_of(desired, &graph, &registry)).is_empty());
    // A graph built from another set than the one planned.
    let desired = vec![all[0].clone(), all[2].clone()];
    let graph = Graph::build(&all).unwrap();
    assert_eq!(deleted(&plan_of(desired, &graph, &registry)), ["b"]);
    // A graph naming fewer resources than the desired set: the one it leaves out is not
    // planned, but it is desired, so its record stays.
    let desired = vec![all[0].clone(), all[1].clone(), all[2].clone()];
    let graph = Graph::build(&[all[0].clone(), all[2].clone()]).unwrap();
    assert!(deleted(&plan_of(desired, &graph, &registry)).is_empty());
    // A desired set naming one key twice matches as many records as the state holds less one:
    // the record it does not name still leaves.
    let desired = vec![all[0].clone(), all[0].clone(), all[2].clone()];
    let graph = Graph::build(&[all[0].clone(), all[2].clone()]).unwrap();
    let mut two = State::new();
    for r in [&all[0], &all[1], &all[2]] {
        two.put(record_of(r));
    }
    let plan = plan::compute_plan(
        desired,
        &graph,
        &two,
        &HashMap::new(),
        &registry,
        &IdentityNormalizer,
        &options(),
    );
    assert_eq!(deleted(&plan), ["b"]);
    // A desired resource no provider serves keeps its record: it is not planned as leaving.
    let desired = vec![all[0].clone(), all[1].clone(), all[2].clone()];
    let graph = Graph::build(&desired).unwrap();
    let plan = plan_of(desired, &graph, &ProviderRegistry::new());
    assert!(deleted(&plan).is_empty(), "{:?}", plan.changes);
    assert!(
        plan.violations.iter().all(|v| v.guard == Guard::Routing),
        "{:?}",
        plan.violations
    );
}
