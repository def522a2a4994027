//! Helpers shared by the test binaries that run against the real kube-apiserver (and etcd)
//! `strata_testkube` starts once per binary. Each test takes a fresh namespace and, where it
//! plans, its own stack name, so that label-based listing never sees another test's objects.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write;
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::{Value, json};
use strata_core::executor::{Event, ExecutorConfig, HealthWait, Report, RetryPolicy, cancellation};
use strata_core::plan::{Action, PlanOptions};
use strata_core::state::LocalStateStore;
use strata_core::{Engine, ProviderRegistry, Resource, ResourceKey, State};
use strata_drift::{DriftNormalizer, DriftRules};
use strata_k8s::KubeProvider;

/// An admin client and a fresh namespace named after the test.
pub async fn setup(test: &str) -> (kube::Client, String) {
    let plane = strata_testkube::shared();
    let client = plane.client().await.expect("admin client");
    let namespace = plane.namespace(&client, test).await.expect("namespace");
    (client, namespace)
}

/// A ConfigMap manifest.
pub fn config_map(namespace: &str, name: &str, data: Value) -> Resource {
    Resource::from_manifest(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace}, "data": data}))
    .expect("valid manifest")
}

/// `resource` with `annotations` added.
pub fn annotated(resource: Resource, annotations: Value) -> Resource {
    let mut manifest = resource.manifest;
    manifest["metadata"]["annotations"] = annotations;
    Resource::from_manifest(manifest).expect("valid manifest")
}

/// The executor settings of these tests: short retries and health polls.
pub fn executor_config() -> ExecutorConfig {
    ExecutorConfig::default()
        .with_parallelism(4)
        .with_retry(
            RetryPolicy::default()
                .with_max_attempts(4)
                .with_initial_delay(Duration::from_millis(50))
                .with_factor(2)
                .with_max_delay(Duration::from_millis(500)),
        )
        .with_health(
            HealthWait::default()
                .with_poll_interval(Duration::from_millis(100))
                .with_timeout(Duration::from_secs(30)),
        )
}

/// An engine over `provider` with its state in `dir`.
pub fn engine(provider: KubeProvider, dir: &std::path::Path) -> Engine {
    engine_with_rules(provider, dir, DriftRules::default())
}

/// An engine over `provider` with its state in `dir`, comparing through `rules`.
pub fn engine_with_rules(
    provider: KubeProvider,
    dir: &std::path::Path,
    rules: DriftRules,
) -> Engine {
    Engine {
        registry: ProviderRegistry::new().with_provider(Arc::new(provider)),
        normalizer: Arc::new(DriftNormalizer::new(rules)),
        store: Arc::new(LocalStateStore::new(dir.join("state.json"))),
        config: executor_config(),
    }
}

/// What one plan and apply did.
#[derive(Debug)]
pub struct Applied {
    /// The planned action of each resource.
    pub actions: Vec<(ResourceKey, Action)>,
    /// How the apply ended.
    pub report: Report,
    /// The executor's events, in order.
    pub events: Vec<Event>,
}

/// Plans `desired` for stack `stack` and applies the plan, whatever its outcome.
pub async fn plan_then_apply(engine: &Engine, desired: Vec<Resource>, stack: &str) -> Applied {
    let options = PlanOptions::new(stack);
    let (plan, state) = engine.plan(desired, &options).await.expect("plan");
    let actions = plan
        .changes
        .iter()
        .map(|c| (c.key.clone(), c.action))
        .collect();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let (_cancel, cancel) = cancellation();
    let report = engine
        .apply(
            &plan,
            state,
            "apply",
            Arc::new(move |e: Event| sink.lock().unwrap().push(e)),
            cancel,
        )
        .await
        .expect("apply");
    let events = events.lock().unwrap().clone();
    Applied {
        actions,
        report,
        events,
    }
}

/// Plans `desired` for stack `stack`, applies it and asserts that every change succeeded;
/// returns the planned action of each resource and the executor's events.
pub async fn plan_and_apply(
    engine: &Engine,
    desired: Vec<Resource>,
    stack: &str,
) -> (Vec<(ResourceKey, Action)>, Vec<Event>) {
    let applied = plan_then_apply(engine, desired, stack).await;
    assert!(applied.report.is_success(), "{:?}", applied.report);
    (applied.actions, applied.events)
}

/// The state the engine saved.
pub async fn saved_state(engine: &Engine) -> State {
    engine
        .store
        .load()
        .await
        .expect("state readable")
        .unwrap_or_default()
}

/// Where in `events` the first event matching `what` for `key` is.
pub fn position(events: &[Event], key: &ResourceKey, what: &str) -> Option<usize> {
    events.iter().position(|e| match (what, e) {
        ("started", Event::Started { key: k, .. })
        | ("succeeded", Event::Succeeded { key: k, .. })
        | ("failed", Event::Failed { key: k, .. })
        | ("skipped", Event::Skipped { key: k, .. })
        | ("retrying", Event::Retrying { key: k, .. }) => k == key,
        _ => false,
    })
}

/// Runs the admin `kubectl` with `args` (and `stdin`, when given); asserts it succeeded and
/// returns its output.
pub fn kubectl(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = strata_testkube::shared()
        .kubectl()
        .expect("kubectl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `kubectl apply --server-side --field-manager <manager>` of `manifest`.
pub fn kubectl_apply(manager: &str, manifest: &Value) {
    kubectl(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            manager,
            "-f",
            "-",
        ],
        Some(&manifest.to_string()),
    );
}

/// The field managers of an object and, for each, the `f:data` keys it owns.
pub fn data_owners(live: &ConfigMap) -> Vec<(String, String, Vec<String>)> {
    let mut owners: Vec<(String, String, Vec<String>)> = live
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .map(|entry| {
            let fields = entry
                .fields_v1
                .as_ref()
                .and_then(|f| f.0.get("f:data"))
                .and_then(Value::as_object)
                .map(|data| {
                    let mut keys: Vec<String> = data
                        .keys()
                        .filter_map(|k| k.strip_prefix("f:"))
                        .map(str::to_owned)
                        .collect();
                    keys.sort();
                    keys
                })
                .unwrap_or_default();
            (
                entry.manager.clone().unwrap_or_default(),
                entry.operation.clone().unwrap_or_default(),
                fields,
            )
        })
        .collect();
    owners.sort();
    owners
}

/// A ConfigMap's data as JSON.
pub fn data_of(live: &ConfigMap) -> Value {
    serde_json::to_value(live.data.clone().unwrap_or_default()).unwrap()
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
