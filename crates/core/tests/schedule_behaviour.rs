//! The one executor runs plans in ArgoCD's order: phases, waves, kind order, health gates,
//! hooks with their delete policies, and SyncFail hooks when a step fails.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use strata_core::executor::{Event, ExecutorConfig, HealthWait, RetryPolicy, cancellation};
use strata_core::plan::PlanOptions;
use strata_core::provider::Applied;
use strata_core::schedule::Schedule;
use strata_core::state::LocalStateStore;
use strata_core::sync::SyncPlanOptions;
use strata_core::{
    Engine, Health, IdentityNormalizer, Observation, Provider, ProviderError, ProviderRegistry,
    Resource,
};

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

impl Recording {
    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
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
        let live = self
            .live
            .lock()
            .unwrap()
            .get(desired.key.name.as_str())
            .cloned();
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
            .insert(desired.key.name.to_string(), desired.manifest.clone());
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
        self.live.lock().unwrap().remove(resource.key.name.as_str());
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

fn resources(manifests: Vec<Value>) -> Vec<Resource> {
    manifests
        .into_iter()
        .map(|m| Resource::from_manifest(m).unwrap())
        .collect()
}

fn shop() -> Vec<Resource> {
    resources(vec![
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "api", "namespace": "shop", "annotations": {"argocd.argoproj.io/sync-wave": "1"}}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "shop"}}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
    ])
}

fn hook(name: &str, phase: &str, delete_policy: Option<&str>) -> Value {
    let mut annotations = json!({"argocd.argoproj.io/hook": phase});
    if let Some(policy) = delete_policy {
        annotations["argocd.argoproj.io/hook-delete-policy"] = json!(policy);
    }
    json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": "shop", "annotations": annotations}})
}

fn engine(provider: Arc<Recording>, dir: &std::path::Path) -> Engine {
    Engine {
        registry: ProviderRegistry::new().with_provider(provider),
        normalizer: Arc::new(IdentityNormalizer),
        store: Arc::new(LocalStateStore::new(dir.join("state.json"))),
        config: ExecutorConfig::default()
            .with_retry(RetryPolicy::default().with_max_attempts(1))
            .with_health(
                HealthWait::default()
                    .with_poll_interval(Duration::from_millis(1))
                    .with_timeout(Duration::from_secs(5)),
            ),
    }
}

async fn plan_and_apply(
    engine: &Engine,
    desired: Vec<Resource>,
) -> (strata_core::plan::Plan, strata_core::executor::Report) {
    let options = PlanOptions::new("shop");
    let (plan, state) = engine.plan(desired, &options).await.unwrap();
    let (_handle, cancel) = cancellation();
    let report = engine
        .apply(&plan, state, "apply", Arc::new(|_: Event| {}), cancel)
        .await
        .unwrap();
    (plan, report)
}

fn position(log: &[String], entry: &str) -> usize {
    log.iter()
        .position(|l| l == entry)
        .unwrap_or_else(|| panic!("{entry} in {log:?}"))
}

#[tokio::test]
async fn steps_follow_argocd_order_and_wait_for_health() {
    let dir = tempfile::tempdir().unwrap();
    let provider = Arc::new(Recording::default());
    provider.checks_left.lock().unwrap().insert("cfg".into(), 2);
    let engine = engine(Arc::clone(&provider), dir.path());
    let options = PlanOptions::new("shop");
    let (plan, _) = engine.plan(shop(), &options).await.unwrap();
    let schedule = Schedule::of(&plan, &SyncPlanOptions::default());
    let names: Vec<Vec<Vec<&str>>> = schedule
        .steps
        .iter()
        .map(|s| {
            s.runs
                .iter()
                .map(|run| {
                    run.iter()
                        .map(|&i| plan.changes[i].key.name.as_str())
                        .collect()
                })
                .collect()
        })
        .collect();
    assert_eq!(
        names,
        vec![vec![vec!["shop"], vec!["cfg"]], vec![vec!["api"]]]
    );
    assert!(schedule.steps.iter().all(|s| s.health_gate));

    let (_, report) = plan_and_apply(&engine, shop()).await;
    assert!(report.is_success(), "{report:?}");
    let log = provider.log();
    assert!(
        position(&log, "apply shop") < position(&log, "apply cfg"),
        "{log:?}"
    );
    let cfg_checks = log.iter().filter(|l| *l == "health cfg").count();
    assert_eq!(
        cfg_checks, 3,
        "two Progressing answers, then Healthy: {log:?}"
    );
    let last_cfg_check = log.iter().rposition(|l| l == "health cfg").unwrap();
    assert!(
        last_cfg_check < position(&log, "apply api"),
        "wave 1 waits for wave 0's health: {log:?}"
    );
}

#[tokio::test]
async fn a_degraded_step_stops_the_sync() {
    let dir = tempfile::tempdir().unwrap();
    let mut recording = Recording::default();
    recording
        .final_health
        .insert("cfg".into(), Health::Degraded);
    let provider = Arc::new(recording);
    let engine = engine(Arc::clone(&provider), dir.path());
    let (_, report) = plan_and_apply(&engine, shop()).await;
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(report.failed[0].0.name, "cfg");
    assert!(report.failed[0].1.contains("degraded"), "{report:?}");
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].0.name, "api");
    assert!(!provider.log().iter().any(|l| l == "apply api"));
}

#[tokio::test]
async fn hooks_run_in_their_phases_and_are_deleted_as_their_policies_say() {
    let dir = tempfile::tempdir().unwrap();
    let provider = Arc::new(Recording::default());
    let engine = engine(Arc::clone(&provider), dir.path());
    let mut desired = shop();
    desired.extend(resources(vec![
        hook("migrate", "PreSync", Some("HookSucceeded")),
        hook("smoke", "PostSync", None),
        hook("alert", "SyncFail", None),
    ]));
    let (_, report) = plan_and_apply(&engine, desired.clone()).await;
    assert!(report.is_success(), "{report:?}");
    let applies: Vec<String> = provider
        .log()
        .into_iter()
        .filter(|l| !l.starts_with("health"))
        .collect();
    assert_eq!(
        applies,
        [
            "apply shop",
            "apply migrate",
            "delete migrate",
            "apply cfg",
            "apply api",
            "apply smoke"
        ],
        "the hook's Namespace moves into PreSync before it, then the PreSync hook (deleted after \
         success), the resources, then the PostSync hook; no SyncFail hook"
    );
    assert_eq!(
        report
            .left_alone
            .iter()
            .map(|(k, _)| k.name.as_str())
            .collect::<Vec<_>>(),
        ["alert"]
    );

    // Nothing changed: no hook runs again and the plan has no changes.
    provider.log.lock().unwrap().clear();
    let options = PlanOptions::new("shop");
    let (plan, _) = engine.plan(desired.clone(), &options).await.unwrap();
    assert!(!plan.has_changes(), "{:?}", plan.summary());
    let (_, report) = plan_and_apply(&engine, desired.clone()).await;
    assert!(report.is_success(), "{report:?}");
    assert!(
        !provider
            .log()
            .iter()
            .any(|l| l.starts_with("apply") || l.starts_with("delete")),
        "{:?}",
        provider.log()
    );

    // A change runs the hooks again: the existing PostSync hook is deleted and created again
    // (BeforeHookCreation, the default policy).
    provider.log.lock().unwrap().clear();
    let mut changed = desired;
    changed[1].manifest["data"] = json!({"level": "debug"});
    let (_, report) = plan_and_apply(&engine, changed).await;
    assert!(report.is_success(), "{report:?}");
    let applies: Vec<String> = provider
        .log()
        .into_iter()
        .filter(|l| !l.starts_with("health"))
        .collect();
    assert_eq!(
        applies,
        [
            "apply migrate",
            "delete migrate",
            "apply cfg",
            "delete smoke",
            "apply smoke"
        ]
    );
}

#[tokio::test]
async fn a_failing_hook_stops_the_sync_and_runs_the_sync_fail_hooks() {
    let dir = tempfile::tempdir().unwrap();
    let mut recording = Recording::default();
    recording
        .final_health
        .insert("migrate".into(), Health::Degraded);
    let provider = Arc::new(recording);
    let engine = engine(Arc::clone(&provider), dir.path());
    let mut desired = shop();
    desired.extend(resources(vec![
        hook("migrate", "PreSync", Some("HookFailed")),
        hook("smoke", "PostSync", None),
        hook("alert", "SyncFail", None),
    ]));
    let (_, report) = plan_and_apply(&engine, desired).await;
    assert!(!report.is_success());
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(report.failed[0].0.name, "migrate");
    let applies: Vec<String> = provider
        .log()
        .into_iter()
        .filter(|l| !l.starts_with("health"))
        .collect();
    assert_eq!(
        applies,
        [
            "apply shop",
            "apply migrate",
            "delete migrate",
            "apply alert"
        ],
        "the failed PreSync hook is deleted (HookFailed), nothing after it is applied, the \
         SyncFail hook runs"
    );
    let skipped: Vec<&str> = report
        .skipped
        .iter()
        .map(|(k, _)| k.name.as_str())
        .collect();
    assert_eq!(skipped, ["cfg", "api", "smoke"]);
    assert!(report.left_alone.is_empty(), "{report:?}");
}
