//! Wave-ordered apply through core's engine: groups in ArgoCD's order, health gates between
//! them, and a Degraded group stopping the sync.

#![allow(clippy::unwrap_used)] // a test file: a poisoned lock is a failed test

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use strata_core::executor::{Event, ExecutorConfig, cancellation};
use strata_core::plan::PlanOptions;
use strata_core::provider::Applied;
use strata_core::state::LocalStateStore;
use strata_core::{
    Engine, Health, IdentityNormalizer, Observation, Provider, ProviderError, ProviderRegistry,
    Resource,
};
use strata_k8s::waves::{WaveOptions, apply_in_waves, split_plan};

/// A provider keeping objects in memory, logging calls, and reporting each object Progressing
/// for a set number of health checks before its final health.
#[derive(Debug, Default)]
struct Recording {
    live: Mutex<HashMap<String, Value>>,
    log: Mutex<Vec<String>>,
    checks_left: Mutex<HashMap<String, u32>>,
    final_health: HashMap<String, Health>,
}

fn name(v: &Value) -> String {
    v["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[async_trait]
impl Provider for Recording {
    fn name(&self) -> &str {
        "recording"
    }
    fn serves(&self, _: &str, _: &str) -> bool {
        true
    }
    async fn observe(&self, desired: &Resource) -> Result<Observation, ProviderError> {
        let live = self.live.lock().unwrap().get(&desired.key.name).cloned();
        Ok(live.map_or_else(Observation::absent, Observation::present))
    }
    async fn create(&self, desired: &Resource) -> Result<Applied, ProviderError> {
        self.log
            .lock()
            .unwrap()
            .push(format!("apply {}", desired.key.name));
        self.live
            .lock()
            .unwrap()
            .insert(desired.key.name.clone(), desired.manifest.clone());
        Ok(Applied {
            live: desired.manifest.clone(),
            ..Applied::default()
        })
    }
    async fn update(&self, desired: &Resource, _: &Value) -> Result<Applied, ProviderError> {
        self.create(desired).await
    }
    async fn delete(&self, resource: &Resource) -> Result<(), ProviderError> {
        self.log
            .lock()
            .unwrap()
            .push(format!("delete {}", resource.key.name));
        self.live.lock().unwrap().remove(&resource.key.name);
        Ok(())
    }
    fn health(&self, live: &Value) -> Health {
        let n = name(live);
        let mut left = self.checks_left.lock().unwrap();
        let remaining = left.entry(n.clone()).or_insert(0);
        self.log.lock().unwrap().push(format!("health {n}"));
        if *remaining > 0 {
            *remaining -= 1;
            return Health::Progressing;
        }
        self.final_health
            .get(&n)
            .copied()
            .unwrap_or(Health::Healthy)
    }
}

fn resources() -> Vec<Resource> {
    [
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "api", "namespace": "shop", "annotations": {"argocd.argoproj.io/sync-wave": "1"}}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "shop"}}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
    ]
    .into_iter()
    .map(|m| Resource::from_manifest(m).unwrap())
    .collect()
}

fn engine(provider: Arc<Recording>, dir: &std::path::Path) -> Engine {
    Engine {
        registry: ProviderRegistry::new().with_provider(provider),
        normalizer: Arc::new(IdentityNormalizer),
        store: Arc::new(LocalStateStore::new(dir.join("state.json"))),
        config: ExecutorConfig::default(),
    }
}

fn options() -> WaveOptions {
    WaveOptions {
        health_timeout: Duration::from_secs(5),
        poll_interval: Duration::from_millis(1),
        ..WaveOptions::default()
    }
}

#[tokio::test]
async fn groups_run_in_argocd_order_and_wait_for_health() {
    let dir = tempfile::tempdir().unwrap();
    let provider = Arc::new(Recording::default());
    provider.checks_left.lock().unwrap().insert("cfg".into(), 2);
    let engine = engine(Arc::clone(&provider), dir.path());
    let plan_options = PlanOptions {
        stack: "shop".into(),
        ..PlanOptions::default()
    };
    let (plan, _) = engine.plan(resources(), &plan_options).await.unwrap();
    let waves = split_plan(&plan, &options());
    let names: Vec<Vec<&str>> = waves
        .steps
        .iter()
        .map(|s| s.changes.iter().map(|c| c.key.name.as_str()).collect())
        .collect();
    assert_eq!(names, vec![vec!["shop", "cfg"], vec!["api"]]);

    let (_handle, cancel) = cancellation();
    let report = apply_in_waves(
        &engine,
        &plan,
        "apply",
        Arc::new(|_: Event| {}),
        cancel,
        &options(),
    )
    .await
    .unwrap();
    assert!(report.report.is_success(), "{report:?}");
    assert_eq!(report.groups_run, 2);
    let log = provider.log.lock().unwrap().clone();
    let position = |entry: &str| {
        log.iter()
            .position(|l| l == entry)
            .unwrap_or_else(|| panic!("{entry} in {log:?}"))
    };
    assert!(position("apply shop") < position("apply cfg"), "{log:?}");
    let cfg_checks = log.iter().filter(|l| *l == "health cfg").count();
    assert_eq!(
        cfg_checks, 3,
        "two Progressing answers, then Healthy: {log:?}"
    );
    let last_cfg_check = log.iter().rposition(|l| l == "health cfg").unwrap();
    assert!(
        last_cfg_check < position("apply api"),
        "wave 1 waits for wave 0's health: {log:?}"
    );
}

#[tokio::test]
async fn a_degraded_group_stops_the_sync() {
    let dir = tempfile::tempdir().unwrap();
    let mut recording = Recording::default();
    recording
        .final_health
        .insert("cfg".into(), Health::Degraded);
    let provider = Arc::new(recording);
    let engine = engine(Arc::clone(&provider), dir.path());
    let plan_options = PlanOptions {
        stack: "shop".into(),
        ..PlanOptions::default()
    };
    let (plan, _) = engine.plan(resources(), &plan_options).await.unwrap();
    let (_handle, cancel) = cancellation();
    let report = apply_in_waves(
        &engine,
        &plan,
        "apply",
        Arc::new(|_: Event| {}),
        cancel,
        &options(),
    )
    .await
    .unwrap();
    assert_eq!(
        report.stopped.as_deref(),
        Some("ConfigMap/shop/cfg is Degraded")
    );
    assert_eq!(report.report.skipped.len(), 1);
    assert_eq!(report.report.skipped[0].0.name, "api");
    assert!(
        !provider
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l == "apply api")
    );
}
