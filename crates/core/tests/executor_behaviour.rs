//! The executor against a fake provider with injected latency and failures.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use proptest::prelude::*;
use serde_json::{Value, json};
use strata_core::executor::{
    self, Cancellation, Event, ExecutorConfig, NoRecorder, RetryPolicy, cancellation,
};
use strata_core::plan::{self, Action, PlanOptions};
use strata_core::provider::{Applied, Observation, Provider, ProviderError, ProviderRegistry};
use strata_core::{Graph, IdentityNormalizer, Resource, ResourceKey, State};

/// A provider that records calls, sleeps, and fails on request.
#[derive(Debug, Default)]
struct FakeProvider {
    latency: Duration,
    fail_final: HashSet<String>,
    fail_retryable_times: Mutex<HashMap<String, u32>>,
    log: Mutex<Vec<(String, &'static str, bool)>>, // (name, op, start?)
    in_flight: Mutex<(usize, usize)>,              // (now, max)
}

impl FakeProvider {
    fn enter(&self, name: &str, op: &'static str) {
        self.log.lock().unwrap().push((name.to_owned(), op, true));
        let mut f = self.in_flight.lock().unwrap();
        f.0 += 1;
        f.1 = f.1.max(f.0);
    }
    fn leave(&self, name: &str, op: &'static str) {
        self.log.lock().unwrap().push((name.to_owned(), op, false));
        self.in_flight.lock().unwrap().0 -= 1;
    }
    async fn act(&self, r: &Resource, op: &'static str) -> Result<Applied, ProviderError> {
        let name = r.key.name.to_string();
        self.enter(&name, op);
        tokio::time::sleep(self.latency).await;
        self.leave(&name, op);
        if self.fail_final.contains(&name) {
            return Err(ProviderError::final_error(format!("{name} is broken")));
        }
        if let Some(n) = self.fail_retryable_times.lock().unwrap().get_mut(&name)
            && *n > 0
        {
            *n -= 1;
            return Err(ProviderError::retryable("throttled"));
        }
        Ok(Applied {
            live: r.manifest.clone(),
            ..Applied::default()
        })
    }
    fn started(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.2)
            .map(|e| e.0.clone())
            .collect()
    }
    fn finished_before_started(&self, a: &str, b: &str) -> bool {
        let log = self.log.lock().unwrap();
        let end_a = log.iter().position(|e| e.0 == a && !e.2);
        let start_b = log.iter().position(|e| e.0 == b && e.2);
        matches!((end_a, start_b), (Some(x), Some(y)) if x < y)
    }
}

#[async_trait]
impl Provider for FakeProvider {
    fn name(&self) -> &str {
        "fake"
    }
    fn serves(&self, _: &str, _: &str) -> bool {
        true
    }
    async fn observe(&self, _: &Resource) -> Result<Observation, ProviderError> {
        Ok(Observation::absent())
    }
    async fn create(&self, r: &Resource) -> Result<Applied, ProviderError> {
        self.act(r, "create").await
    }
    async fn update(&self, r: &Resource, _: &Value) -> Result<Applied, ProviderError> {
        self.act(r, "update").await
    }
    async fn delete(&self, r: &Resource) -> Result<(), ProviderError> {
        self.act(r, "delete").await.map(|_| ())
    }
}

fn resource(i: usize, deps: &[usize]) -> Resource {
    let list: Vec<String> = deps.iter().map(|d| format!("ConfigMap/r{d}")).collect();
    Resource::from_manifest(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": r(i), "annotations": {"strata.dev/depends-on": list.join(",")}}
    }))
    .unwrap()
}

fn create_plan(
    resources: &[Resource],
    provider: Arc<FakeProvider>,
) -> (plan::Plan, ProviderRegistry) {
    let registry = ProviderRegistry::new().with_provider(provider);
    let graph = Graph::build(resources).unwrap();
    let plan = plan::compute_plan(
        resources.to_vec(),
        &graph,
        &State::new(),
        &HashMap::new(),
        &registry,
        &IdentityNormalizer,
        &PlanOptions::default(),
    );
    (plan, registry)
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(3)
        .with_initial_delay(Duration::from_millis(1))
        .with_factor(2)
        .with_max_delay(Duration::from_millis(4))
}

async fn run(
    plan: &plan::Plan,
    registry: &ProviderRegistry,
    parallelism: usize,
) -> (executor::Report, Vec<Event>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = {
        let events = Arc::clone(&events);
        Arc::new(move |e: Event| events.lock().unwrap().push(e))
    };
    let report = executor::execute(
        plan,
        registry,
        ExecutorConfig::default()
            .with_parallelism(parallelism)
            .with_retry(fast_retry()),
        Arc::new(NoRecorder),
        sink,
        Cancellation::never(),
    )
    .await;
    let events = events.lock().unwrap().clone();
    (report, events)
}

fn random_dag() -> impl Strategy<Value = Vec<Vec<usize>>> {
    (1usize..30).prop_flat_map(|n| {
        (0..n)
            .map(|i| {
                if i == 0 {
                    Just(vec![]).boxed()
                } else {
                    proptest::collection::btree_set(0..i, 0..3.min(i + 1))
                        .prop_map(|s| s.into_iter().collect())
                        .boxed()
                }
            })
            .collect::<Vec<_>>()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn order_is_respected_failures_skip_dependents_and_nothing_runs_twice(
        deps in random_dag(),
        failing in proptest::collection::btree_set(0usize..30, 0..3),
        parallelism in 1usize..6,
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let resources: Vec<Resource> = deps.iter().enumerate().map(|(i, d)| resource(i, d)).collect();
        let provider = Arc::new(FakeProvider {
            latency: Duration::from_millis(1),
            fail_final: failing.iter().map(|&i| r(i)).collect(),
            ..FakeProvider::default()
        });
        let (plan, registry) = create_plan(&resources, Arc::clone(&provider));
        let (report, _) = rt.block_on(run(&plan, &registry, parallelism));

        let started = provider.started();
        let unique: HashSet<&String> = started.iter().collect();
        prop_assert_eq!(unique.len(), started.len(), "a node started twice");
        prop_assert!(provider.in_flight.lock().unwrap().1 <= parallelism);

        // Which nodes must be skipped: transitive dependents of failures.
        let mut blocked = vec![false; deps.len()];
        for (i, d) in deps.iter().enumerate() {
            blocked[i] = d.iter().any(|&j| blocked[j] || failing.contains(&j));
        }
        for (i, d) in deps.iter().enumerate() {
            let name = r(i);
            if blocked[i] {
                prop_assert!(!started.contains(&name), "{} ran although a dependency failed", name.clone());
                prop_assert!(report.skipped.iter().any(|(k, _)| k.name == name));
            } else {
                prop_assert!(started.contains(&name), "{} never ran", name);
                for &j in d {
                    prop_assert!(provider.finished_before_started(&r(j), &name));
                }
            }
        }
        let failed: BTreeMap<String, String> = report.failed.iter().map(|(k, e)| (k.name.to_string(), e.clone())).collect();
        for i in &failing {
            if *i < deps.len() && !blocked[*i] {
                prop_assert!(failed.contains_key(&r(*i)));
            }
        }
        prop_assert_eq!(report.succeeded.len() + report.failed.len() + report.skipped.len(), deps.len());
    }
}

#[tokio::test]
async fn retryable_errors_are_retried_with_events() {
    let resources = vec![resource(0, &[]), resource(1, &[0])];
    let provider = Arc::new(FakeProvider::default());
    provider
        .fail_retryable_times
        .lock()
        .unwrap()
        .insert("r0".into(), 2);
    let (plan, registry) = create_plan(&resources, Arc::clone(&provider));
    let (report, events) = run(&plan, &registry, 4).await;
    assert!(report.is_success(), "{report:?}");
    let retries: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            Event::Retrying { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(retries, vec![1, 2]);
    assert_eq!(provider.started().iter().filter(|n| *n == "r0").count(), 3);
}

#[tokio::test]
async fn retries_give_up_after_max_attempts() {
    let resources = vec![resource(0, &[]), resource(1, &[0])];
    let provider = Arc::new(FakeProvider::default());
    provider
        .fail_retryable_times
        .lock()
        .unwrap()
        .insert("r0".into(), 10);
    let (plan, registry) = create_plan(&resources, Arc::clone(&provider));
    let (report, _) = run(&plan, &registry, 4).await;
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.skipped[0].0.name, "r1");
}

#[tokio::test]
async fn deletes_run_in_reverse_dependency_order() {
    let provider = Arc::new(FakeProvider::default());
    let registry =
        ProviderRegistry::new().with_provider(Arc::clone(&provider) as Arc<dyn Provider>);
    // State holds r0 <- r1 <- r2; nothing is desired any more.
    let mut state = State::new();
    for (i, deps) in [(0usize, vec![]), (1, vec![0usize]), (2, vec![1])] {
        let res = resource(i, &deps);
        state.put(strata_core::state::ResourceState {
            key: res.key.clone(),
            api_version: "v1".into(),
            provider: "fake".into(),
            status: strata_core::state::ResourceStatus::Applied,
            last_applied: (&res.manifest).into(),
            dependencies: deps
                .iter()
                .map(|&d| ResourceKey::new("", "ConfigMap", None, r(d)))
                .collect(),
            outputs: Value::Null,
            protect: false,
        });
    }
    let plan = plan::compute_plan(
        Vec::new(),
        &Graph::default(),
        &state,
        &HashMap::new(),
        &registry,
        &IdentityNormalizer,
        &PlanOptions::default(),
    );
    assert!(plan.changes.iter().all(|c| c.action == Action::Delete));
    let (report, _) = run(&plan, &registry, 8).await;
    assert!(report.is_success());
    assert!(provider.finished_before_started("r2", "r1"));
    assert!(provider.finished_before_started("r1", "r0"));
}

#[tokio::test]
async fn cancellation_stops_new_work_and_lets_running_work_finish() {
    let resources: Vec<Resource> = (0..5)
        .map(|i| resource(i, if i == 0 { &[] } else { &[0] }))
        .collect();
    let provider = Arc::new(FakeProvider {
        latency: Duration::from_millis(50),
        ..FakeProvider::default()
    });
    let (plan, registry) = create_plan(&resources, Arc::clone(&provider));
    let (handle, cancel) = cancellation();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        handle.cancel();
    });
    let report = executor::execute(
        &plan,
        &registry,
        ExecutorConfig::default(),
        Arc::new(NoRecorder),
        Arc::new(|_: Event| {}),
        cancel,
    )
    .await;
    canceller.await.unwrap();
    assert!(report.cancelled);
    assert_eq!(report.succeeded.len(), 1, "the change in flight finished");
    assert_eq!(report.skipped.len(), 4);
    assert_eq!(provider.started(), vec!["r0".to_string()]);
}

fn r(i: usize) -> String {
    format!("r{i}")
}

/// A provider whose objects become healthy after a number of observations (or degrade).
#[derive(Debug, Default)]
struct SlowToHealth {
    log: Mutex<Vec<String>>,
    observations_until_healthy: Mutex<HashMap<String, u32>>,
    degraded: HashSet<String>,
}

#[async_trait]
impl Provider for SlowToHealth {
    fn name(&self) -> &str {
        "slow-health"
    }
    fn serves(&self, _: &str, _: &str) -> bool {
        true
    }
    async fn observe(&self, r: &Resource) -> Result<Observation, ProviderError> {
        let mut left = self.observations_until_healthy.lock().unwrap();
        let n = left.entry(r.key.name.to_string()).or_insert(0);
        let ready = *n == 0;
        *n = n.saturating_sub(1);
        let state = if self.degraded.contains(r.key.name.as_str()) {
            "degraded"
        } else if ready {
            "ready"
        } else {
            "pending"
        };
        Ok(Observation::present(
            json!({"metadata": {"name": r.key.name}, "state": state}),
        ))
    }
    async fn create(&self, r: &Resource) -> Result<Applied, ProviderError> {
        self.log
            .lock()
            .unwrap()
            .push(format!("create {}", r.key.name));
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
    fn health(&self, live: &Value) -> strata_core::Health {
        match live["state"].as_str() {
            Some("ready") => strata_core::Health::Healthy,
            Some("degraded") => strata_core::Health::Degraded,
            _ => strata_core::Health::Progressing,
        }
    }
}

fn in_wave(name: &str, wave: i64) -> Resource {
    Resource::from_manifest(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "annotations": {"argocd.argoproj.io/sync-wave": wave.to_string()}}
    }))
    .unwrap()
}

async fn run_waves(provider: Arc<SlowToHealth>) -> executor::Report {
    let resources = vec![in_wave("db", 0), in_wave("app", 1)];
    let registry = ProviderRegistry::new().with_provider(provider);
    let graph = Graph::build(&resources).unwrap();
    let plan = plan::compute_plan(
        resources,
        &graph,
        &State::new(),
        &HashMap::new(),
        &registry,
        &IdentityNormalizer,
        &PlanOptions::default(),
    );
    let schedule = strata_core::schedule::Schedule::of(&plan, &Default::default());
    assert_eq!(schedule.steps.len(), 2, "one step per wave");
    assert!(
        schedule.steps[0].health_gate,
        "the wave before another waits for health"
    );
    let config = ExecutorConfig::default()
        .with_retry(fast_retry())
        .with_health(
            executor::HealthWait::default()
                .with_poll_interval(Duration::from_millis(1))
                .with_timeout(Duration::from_millis(500)),
        );
    executor::execute(
        &plan,
        &registry,
        config,
        Arc::new(NoRecorder),
        Arc::new(|_: Event| {}),
        Cancellation::never(),
    )
    .await
}

#[tokio::test]
async fn the_next_wave_waits_for_health() {
    let provider = Arc::new(SlowToHealth::default());
    provider
        .observations_until_healthy
        .lock()
        .unwrap()
        .insert("db".into(), 3);
    let report = run_waves(Arc::clone(&provider)).await;
    assert!(report.is_success(), "{report:?}");
    assert_eq!(
        *provider.log.lock().unwrap(),
        vec!["create db", "create app"]
    );
    assert_eq!(
        provider.observations_until_healthy.lock().unwrap()["db"],
        0,
        "db was polled until healthy"
    );
}

#[tokio::test]
async fn a_degraded_wave_stops_the_next_one() {
    let provider = Arc::new(SlowToHealth {
        degraded: HashSet::from(["db".to_string()]),
        ..SlowToHealth::default()
    });
    let report = run_waves(Arc::clone(&provider)).await;
    assert_eq!(report.failed.len(), 1);
    assert!(
        report.failed[0].1.contains("degraded"),
        "{:?}",
        report.failed
    );
    assert_eq!(report.skipped[0].0.name, "app");
    assert_eq!(*provider.log.lock().unwrap(), vec!["create db"]);
}
