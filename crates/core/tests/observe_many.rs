//! Observing many resources at once: what a provider reads in one go is not read again, and
//! the plan is the plan of one read per resource.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Value, json};
use strata_core::executor::{Cancellation, Event, ExecutorConfig};
use strata_core::plan::{Action, PlanOptions};
use strata_core::provider::{Applied, Observation, Provider, ProviderError, ProviderRegistry};
use strata_core::state::LocalStateStore;
use strata_core::{Engine, IdentityNormalizer, Resource, ResourceKey};

/// A provider keeping its world in memory that, when `batches`, reads every other resource of
/// a round at once (and the rest one by one, as the planner asks).
#[derive(Debug, Default)]
struct World {
    objects: Mutex<HashMap<ResourceKey, Value>>,
    batches: bool,
    one_by_one: AtomicUsize,
    rounds: Mutex<Vec<Vec<ResourceKey>>>,
}

impl World {
    fn read(&self, key: &ResourceKey) -> Observation {
        self.objects
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .map(Observation::present)
            .unwrap_or_default()
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
    fn observes_many(&self) -> bool {
        self.batches
    }
    async fn observe_many(
        &self,
        resources: &[&Resource],
        found: &mut (dyn FnMut(usize, Observation) + Send),
    ) {
        self.rounds
            .lock()
            .unwrap()
            .push(resources.iter().map(|r| r.key.clone()).collect());
        for (index, resource) in resources.iter().enumerate().step_by(2) {
            found(index, self.read(&resource.key));
            // Handing a resource over twice counts once.
            found(index, Observation::absent());
        }
    }
    async fn observe(&self, r: &Resource) -> Result<Observation, ProviderError> {
        self.one_by_one.fetch_add(1, Ordering::SeqCst);
        Ok(self.read(&r.key))
    }
    async fn create(&self, r: &Resource) -> Result<Applied, ProviderError> {
        self.objects
            .lock()
            .unwrap()
            .insert(r.key.clone(), r.manifest.clone());
        Ok(Applied {
            live: r.manifest.clone(),
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
}

fn config_map(name: &str, level: &str) -> Resource {
    Resource::from_manifest(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "team"}, "data": {"level": level}}))
    .unwrap()
}

/// Applies seven ConfigMaps, changes one outside, and plans six of them with one edited:
/// an update, a drift, a deletion and no-ops.
async fn replan(batches: bool) -> (strata_core::plan::Plan, Arc<World>) {
    let dir = tempfile::tempdir().unwrap();
    let world = Arc::new(World {
        batches,
        ..World::default()
    });
    let engine = Engine {
        registry: ProviderRegistry::new().with_provider(world.clone()),
        normalizer: Arc::new(IdentityNormalizer),
        store: Arc::new(LocalStateStore::new(dir.path().join("state.json"))),
        config: ExecutorConfig::default(),
    };
    let options = PlanOptions::new("demo");
    let first: Vec<Resource> = (0..7)
        .map(|i| config_map(&format!("c{i}"), "info"))
        .collect();
    let (plan, state) = engine.plan(first, &options).await.unwrap();
    engine
        .apply(
            &plan,
            state,
            "apply",
            Arc::new(|_: Event| {}),
            Cancellation::never(),
        )
        .await
        .unwrap();
    let drifted = ResourceKey::new("", "ConfigMap", Some("team"), "c2");
    world.objects.lock().unwrap().get_mut(&drifted).unwrap()["data"]["level"] = json!("debug");
    world.one_by_one.store(0, Ordering::SeqCst);
    let mut second: Vec<Resource> = (0..6)
        .map(|i| config_map(&format!("c{i}"), "info"))
        .collect();
    second[4] = config_map("c4", "warn");
    let (plan, _) = engine.plan(second, &options).await.unwrap();
    (plan, world)
}

#[tokio::test]
async fn what_a_provider_reads_at_once_is_not_read_again_and_plans_alike() {
    let (batched, world) = replan(true).await;
    let (alone, alone_world) = replan(false).await;
    let summary = |plan: &strata_core::plan::Plan| {
        plan.changes
            .iter()
            .map(|c| (c.key.to_string(), c.action, c.drifted, c.fields.len()))
            .collect::<Vec<_>>()
    };
    assert_eq!(summary(&batched), summary(&alone));
    let actions: Vec<Action> = batched.changes.iter().map(|c| c.action).collect();
    assert!(actions.contains(&Action::Update));
    assert!(actions.contains(&Action::Delete));
    assert!(batched.changes.iter().any(|c| c.drifted));
    // The round offered every resource (six desired, one recorded), once; half of it (the
    // even places) was read at once and only the rest one by one.
    let rounds = world.rounds.lock().unwrap().clone();
    assert_eq!(rounds.len(), 2, "one round per plan: {rounds:?}");
    assert_eq!(rounds[1].len(), 7);
    assert_eq!(world.one_by_one.load(Ordering::SeqCst), 3);
    assert_eq!(alone_world.one_by_one.load(Ordering::SeqCst), 7);
    assert!(alone_world.rounds.lock().unwrap().is_empty());
}

/// Serves Widgets until it has read its round at once (another controller's rediscovery, say,
/// changes what is served meanwhile); reads every other resource of the round.
#[derive(Debug, Default)]
struct Rediscovering {
    widgets_gone: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl Provider for Rediscovering {
    fn name(&self) -> &str {
        "rediscovering"
    }
    fn serves(&self, _: &str, kind: &str) -> bool {
        kind != "Widget" || !self.widgets_gone.load(Ordering::SeqCst)
    }
    fn observes_many(&self) -> bool {
        true
    }
    async fn observe_many(
        &self,
        resources: &[&Resource],
        found: &mut (dyn FnMut(usize, Observation) + Send),
    ) {
        self.widgets_gone.store(true, Ordering::SeqCst);
        for index in (0..resources.len()).step_by(2) {
            found(index, Observation::absent());
        }
    }
    async fn observe(&self, _: &Resource) -> Result<Observation, ProviderError> {
        Ok(Observation::absent())
    }
    async fn create(&self, r: &Resource) -> Result<Applied, ProviderError> {
        Ok(Applied {
            live: r.manifest.clone(),
            ..Applied::default()
        })
    }
    async fn update(&self, r: &Resource, _: &Value) -> Result<Applied, ProviderError> {
        self.create(r).await
    }
    async fn delete(&self, _: &Resource) -> Result<(), ProviderError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_kind_served_differently_after_the_round_moves_no_other_resource() {
    let widget = Resource::from_manifest(json!({"apiVersion": "example.dev/v1", "kind": "Widget",
        "metadata": {"name": "w", "namespace": "team"}}))
    .unwrap();
    let mut desired = vec![widget];
    desired.extend((0..6).map(|i| config_map(&format!("c{i}"), "info")));
    let registry = ProviderRegistry::new().with_provider(Arc::new(Rediscovering::default()));
    let mut seen: Vec<String> = Vec::new();
    strata_core::plan::observe_each(
        &desired,
        None,
        &strata_core::State::new(),
        &registry,
        4,
        |observed, _| seen.push(observed.key().name.to_string()),
    )
    .await
    .unwrap();
    seen.sort();
    // Read at once: w, c1, c3, c5; then one by one the rest, c0, c2, c4 (the Widget is no
    // longer routed, and nothing else shifts into its place).
    assert_eq!(seen, ["c0", "c1", "c2", "c3", "c4", "c5", "w"]);
}
