//! `stream_report`: a stack's drift compared as observations arrive (out of order), with
//! references between resources, one of them to a live field, gives the report the held path
//! gives, and keeps only the live objects references read.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use strata_core::executor::{Cancellation, Event, ExecutorConfig};
use strata_core::plan::PlanOptions;
use strata_core::provider::{Applied, Observation, Provider, ProviderError, ProviderRegistry};
use strata_core::sensitive::Sensitivity;
use strata_core::state::LocalStateStore;
use strata_core::{Engine, Graph, ReferenceSource, Resource, ResourceKey};
use strata_drift::{
    DriftEngine, DriftNormalizer, DriftPolicy, DriftReport, DriftRules, DriftStatus, stack_inputs,
    stream_report,
};

const STACK: &str = "shop";

/// A provider keeping its world in memory. Live objects get an ARN, a uid and a status; an
/// observation takes a few milliseconds that depend on the name, so observations complete
/// out of order. References filling `…Arn` fields read the target's live ARN.
#[derive(Debug, Default)]
struct World {
    objects: Mutex<HashMap<ResourceKey, Value>>,
}

impl World {
    fn edit(&self, name: &str, edit: impl FnOnce(&mut Value)) {
        let mut objects = self.objects.lock().unwrap();
        let (_, live) = objects.iter_mut().find(|(k, _)| k.name == name).unwrap();
        edit(live);
    }

    fn remove(&self, name: &str) {
        self.objects.lock().unwrap().retain(|k, _| k.name != name);
    }
}

#[async_trait]
impl Provider for World {
    fn name(&self) -> &str {
        "world"
    }
    fn serves(&self, _: &str, _: &str) -> bool {
        true
    }
    async fn observe(&self, r: &Resource) -> Result<Observation, ProviderError> {
        let delay = r.key.name.bytes().map(u64::from).sum::<u64>() % 7;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let live = self.objects.lock().unwrap().get(&r.key).cloned();
        Ok(live.map(Observation::present).unwrap_or_default())
    }
    async fn create(&self, r: &Resource) -> Result<Applied, ProviderError> {
        let mut live = r.manifest.clone();
        live["metadata"]["uid"] = json!(format!("uid-{}", r.key.name));
        live["status"] = json!({"atProvider": {"arn": format!("arn:example:{}", r.key.name)}});
        self.objects
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
        self.objects.lock().unwrap().remove(&r.key);
        Ok(())
    }
    fn reference_value(&self, _: &ResourceKey, value_field: &str) -> ReferenceSource {
        if value_field.ends_with("Arn") {
            ReferenceSource::LiveField("status.atProvider.arn".into())
        } else {
            ReferenceSource::ExternalName
        }
    }
}

fn resource(kind: &str, name: &str, spec: Value) -> Resource {
    Resource::from_manifest(json!({
        "apiVersion": "example.org/v1", "kind": kind,
        "metadata": {"name": name},
        "spec": spec
    }))
    .unwrap()
}

/// `buckets` Buckets; a Policy per Bucket naming it (external name), every third one also
/// reading its live ARN; a Replica per ten Policies reading the Policy's live ARN (a second
/// round: those Policies wait for their Buckets first). Returns the set and the number of
/// distinct live-field targets.
fn stack(buckets: usize) -> (Vec<Resource>, usize) {
    let mut desired = Vec::new();
    let mut live_targets = 0;
    for i in 0..buckets {
        desired.push(resource(
            "Bucket",
            &format!("b{i}"),
            json!({"forProvider": {"region": "eu-west-1", "size": i}}),
        ));
    }
    for i in 0..buckets {
        let mut for_provider = json!({"bucketRef": {"name": format!("b{i}")}, "rules": i % 4});
        if i % 3 == 0 {
            for_provider["bucketArnRef"] = json!({"name": format!("b{i}")});
            live_targets += 1;
        }
        desired.push(resource(
            "Policy",
            &format!("p{i}"),
            json!({"forProvider": for_provider}),
        ));
    }
    for i in (0..buckets).step_by(10) {
        desired.push(resource(
            "Replica",
            &format!("r{i}"),
            json!({"forProvider": {"policyArnRef": {"name": format!("p{i}")}}}),
        ));
        live_targets += 1;
    }
    (desired, live_targets)
}

fn engine(dir: &std::path::Path, world: Arc<World>) -> Engine {
    Engine {
        registry: ProviderRegistry::new().with_provider(world),
        normalizer: Arc::new(DriftNormalizer::new(DriftRules::default())),
        store: Arc::new(LocalStateStore::new(dir.join("state.json"))),
        config: ExecutorConfig::default(),
    }
}

async fn apply(engine: &Engine, desired: &[Resource]) {
    let (plan, state) = engine
        .plan(desired, &PlanOptions::new(STACK))
        .await
        .unwrap();
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
}

/// The report as `strata drift` made it before streaming: every observation gathered, then
/// compared.
async fn held_report(engine: &Engine, drift: &DriftEngine, desired: &[Resource]) -> DriftReport {
    let mut desired = desired.to_vec();
    let state = engine.store.load().await.unwrap().unwrap_or_default();
    let graph = Graph::build(&desired).unwrap();
    let observations = engine
        .resolve_and_observe(&mut desired, &graph, &state)
        .await
        .unwrap();
    let sensitivity = Sensitivity::default();
    drift.report(stack_inputs(
        STACK,
        &desired,
        &state,
        &observations,
        &sensitivity,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_streamed_report_equals_the_held_one_and_keeps_only_reference_targets() {
    let dir = tempfile::tempdir().unwrap();
    let world = Arc::new(World::default());
    let engine = engine(dir.path(), Arc::clone(&world));
    let (mut desired, live_targets) = stack(60);
    // Applied in three steps, as a live field is only known once its target exists: the
    // Buckets, then the Policies (reading Bucket ARNs), then the Replicas (reading Policy ARNs).
    apply(&engine, &desired[..60]).await;
    apply(&engine, &desired[..120]).await;
    apply(&engine, &desired).await;

    // Drift of every kind: Git edits, world edits, an object gone from the world, resources
    // Git no longer declares (one of them gone from the world too).
    desired[1].manifest["spec"]["forProvider"]["size"] = json!(100);
    world.edit("b2", |live| {
        live["spec"]["forProvider"]["region"] = json!("us-east-1")
    });
    world.edit("p3", |live| live["spec"]["forProvider"]["rules"] = json!(9));
    world.remove("b4");
    world.remove("p5");
    desired.retain(|r| r.key.name != "p7" && r.key.name != "b8" && r.key.name != "p8");
    world.remove("b8");
    let declared = desired.len();

    let drift = DriftEngine::new(DriftRules::default(), DriftPolicy::default());
    let held = held_report(&engine, &drift, &desired).await;

    let state = engine.store.load().await.unwrap().unwrap_or_default();
    let graph = Graph::build(&desired).unwrap();
    let (streamed, stats) = stream_report(
        &engine,
        &drift,
        STACK,
        &mut desired,
        &graph,
        &state,
        &Sensitivity::default(),
    )
    .await
    .unwrap();

    assert_eq!(streamed, held);
    // Declared resources in Git's order, then the three Git no longer declares.
    assert_eq!(streamed.resources.len(), declared + 3);
    let names: Vec<&str> = streamed
        .resources
        .iter()
        .map(|r| r.resource.name.as_str())
        .collect();
    let expected: Vec<&str> = desired.iter().map(|r| r.key.name.as_str()).collect();
    assert_eq!(names[..declared], expected[..]);
    let drifted: Vec<&str> = streamed
        .resources
        .iter()
        .filter(|r| r.is_drifted())
        .map(|r| r.resource.name.as_str())
        .collect();
    // b8, gone from Git and from the world alike, is not drift (it comes first of the three
    // Git no longer declares, in the state's order).
    assert_eq!(drifted, ["b1", "b2", "b4", "p3", "p5", "p7", "p8"]);
    assert_eq!(names[declared..], ["b8", "p7", "p8"]);
    // The live-field references were resolved before comparing: their resources (the ones
    // whose target is untouched) are in sync, their ARN filled from the target's live object.
    let in_sync = |name: &str| {
        streamed
            .resources
            .iter()
            .find(|r| r.resource.name == name)
            .is_some_and(|r| r.status == DriftStatus::InSync && !r.is_drifted())
    };
    assert!(in_sync("p0") && in_sync("p9") && in_sync("r0") && in_sync("r20"));
    let p9 = desired.iter().find(|r| r.key.name == "p9").unwrap();
    assert_eq!(
        p9.manifest["spec"]["forProvider"]["bucketArn"],
        "arn:example:b9"
    );

    // Every object observed once (p5 and b8 observed absent; those Git no longer declares
    // through the state), and the only live objects kept are the live-field targets: the
    // Buckets every third Policy reads, the Policies the Replicas read.
    assert_eq!(stats.observed, declared + 3);
    assert_eq!(stats.kept, live_targets);
}
