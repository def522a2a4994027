//! Benchmarks: normalise + three-way diff of 10 000 Deployment-sized manifests, held (every
//! parsed input in memory) and streamed (each object parsed from its JSON bytes as a list or
//! watch response is consumed, compared, dropped).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use strata_drift::{DriftRules, IgnoreDifference, ResourceDrift, diff_three_way};

// The allocator the `strata` binary and the controllers use.
#[global_allocator]
static GLOBAL: strata_alloc::Allocator = strata_alloc::Allocator;

/// Set to `streamed` or `held` in a child process of the bench: that process makes the one
/// cold pass of that kind, prints its figures and exits, so each kind's peak RSS is that of a
/// fresh process.
const PHASE: &str = "STRATA_DRIFT_BENCH_PHASE";

fn main() {
    match std::env::var(PHASE).as_deref() {
        Ok("streamed") => return streamed_once(),
        Ok("held") => return held_once(),
        _ => {}
    }
    for phase in ["streamed", "held"] {
        let ran = std::env::current_exe()
            .and_then(|exe| std::process::Command::new(exe).env(PHASE, phase).status());
        if !ran.as_ref().is_ok_and(|status| status.success()) {
            eprintln!("the {phase} cold pass did not run: {ran:?}");
        }
    }
    divan::main();
}

/// A ~3 KB Deployment with managedFields, as a cluster returns it.
fn deployment(i: usize) -> (Value, Value, Value) {
    let desired = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": format!("app-{i}"), "namespace": "prod",
            "labels": {"app.kubernetes.io/name": format!("app-{i}"), "app.kubernetes.io/part-of": "shop", "team": "payments"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app.kubernetes.io/name": format!("app-{i}")}},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": format!("app-{i}")}},
                "spec": {"containers": [{
                    "name": "app", "image": format!("registry.example.com/shop/app-{i}:1.4.{}", i % 7),
                    "ports": [{"containerPort": 8080, "name": "http"}],
                    "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "REGION", "value": "eu-west-1"}],
                    "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1000m", "memory": "512Mi"}},
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "initialDelaySeconds": 5},
                    "livenessProbe": {"httpGet": {"path": "/livez", "port": 8080}, "periodSeconds": 20},
                    "volumeMounts": [{"name": "config", "mountPath": "/etc/app", "readOnly": true}]
                }],
                "volumes": [{"name": "config", "configMap": {"name": format!("app-{i}-config")}}]}
            }
        }
    });
    let last_applied = desired.clone();
    let mut live = desired.clone();
    live["metadata"]["uid"] = json!(format!("0f6c3a1e-1111-4c1e-9a7e-{i:012}"));
    live["metadata"]["resourceVersion"] = json!(format!("{}", 100_000 + i));
    live["metadata"]["generation"] = json!(4);
    live["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
    live["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision": "4"});
    live["metadata"]["managedFields"] = json!([
        {"manager": "strata", "operation": "Apply", "apiVersion": "apps/v1", "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:labels": {"f:app.kubernetes.io/name": {}, "f:app.kubernetes.io/part-of": {}, "f:team": {}}},
            "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {"f:metadata": {"f:labels": {"f:app.kubernetes.io/name": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}, "f:env": {}, "f:ports": {}, "f:resources": {}, "f:readinessProbe": {}, "f:livenessProbe": {}, "f:volumeMounts": {}}}, "f:volumes": {}}}}}},
        {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1", "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1", "subresource": "status",
         "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, "f:deployment.kubernetes.io/revision": {}}},
            "f:status": {"f:availableReplicas": {}, "f:conditions": {".": {}, "k:{\"type\":\"Available\"}": {".": {}, "f:status": {}, "f:type": {}}}, "f:observedGeneration": {}, "f:readyReplicas": {}, "f:replicas": {}}}}
    ]);
    live["spec"]["progressDeadlineSeconds"] = json!(600);
    live["spec"]["revisionHistoryLimit"] = json!(10);
    live["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
    let c = &mut live["spec"]["template"]["spec"]["containers"][0];
    c["imagePullPolicy"] = json!("IfNotPresent");
    c["terminationMessagePath"] = json!("/dev/termination-log");
    c["terminationMessagePolicy"] = json!("File");
    c["ports"][0]["protocol"] = json!("TCP");
    c["resources"]["limits"]["cpu"] = json!("1");
    if i.is_multiple_of(10) {
        c["image"] = json!("registry.example.com/shop/hotfix:9.9.9");
    }
    live["spec"]["template"]["spec"]["dnsPolicy"] = json!("ClusterFirst");
    live["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
    live["spec"]["template"]["spec"]["schedulerName"] = json!("default-scheduler");
    live["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = json!(30);
    live["status"] = json!({"availableReplicas": 3, "observedGeneration": 4, "readyReplicas": 3, "replicas": 3, "updatedReplicas": 3,
        "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability.",
            "lastTransitionTime": "2026-01-01T00:00:00Z", "lastUpdateTime": "2026-01-01T00:00:00Z"}]});
    (desired, last_applied, live)
}

fn corpus() -> Vec<(Value, Value, Value)> {
    (0..10_000).map(deployment).collect()
}

/// The JSON bytes of one Deployment's desired, last-applied and live objects.
type Wire = (Vec<u8>, Vec<u8>, Vec<u8>);

/// The corpus as it arrives: each object's JSON bytes (as a list response holds them), made
/// one Deployment at a time so no parsed copy of the corpus ever exists.
fn wire_corpus() -> Vec<Wire> {
    (0..10_000)
        .map(|i| {
            let (d, a, l) = deployment(i);
            let bytes = |v: &Value| serde_json::to_vec(v).expect("a Value serialises");
            (bytes(&d), bytes(&a), bytes(&l))
        })
        .collect()
}

/// Parses one Deployment's objects.
fn parse(wire: &Wire) -> (Value, Value, Value) {
    let value = |b: &[u8]| serde_json::from_slice::<Value>(b).expect("the corpus is JSON");
    (value(&wire.0), value(&wire.1), value(&wire.2))
}

/// The streamed drift pass: each object parsed as it arrives, compared, dropped; only the
/// results are kept. Also returns the time spent parsing and the time spent comparing.
fn streamed_pass(wire: &[Wire], rules: &DriftRules) -> (Vec<ResourceDrift>, Duration, Duration) {
    let (mut parsing, mut comparing) = (Duration::ZERO, Duration::ZERO);
    let drifts = wire
        .iter()
        .map(|w| {
            let started = Instant::now();
            let (d, a, l) = parse(w);
            let parsed = Instant::now();
            let drift = diff_three_way(Some(&d), Some(&a), Some(&l), rules);
            comparing += parsed.elapsed();
            parsing += parsed - started;
            drift
        })
        .collect();
    (drifts, parsing, comparing)
}

fn status_kib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn peak_rss_mib() -> Option<f64> {
    status_kib("VmHWM:")
}

/// One cold streamed pass keeping every resource's drift (as a report does), with memory.
fn streamed_once() {
    let rules = DriftRules::default();
    let baseline = peak_rss_mib().unwrap_or(f64::NAN);
    let wire = wire_corpus();
    let wire_bytes: usize = wire
        .iter()
        .map(|(d, a, l)| d.len() + a.len() + l.len())
        .sum();
    let with_wire = peak_rss_mib().unwrap_or(f64::NAN);
    let started = Instant::now();
    let (drifts, parsing, comparing) = streamed_pass(&wire, &rules);
    let elapsed = started.elapsed();
    let peak = peak_rss_mib().unwrap_or(f64::NAN);
    let drifted = drifts.iter().filter(|r| !r.changes.is_empty()).count();
    eprintln!(
        "streamed drift of {} Deployments ({:.1} MiB of JSON held as received), {drifted} drifted: cold pass parsing, comparing and dropping each object, keeping every result {elapsed:.2?} (parsing {parsing:.2?}, comparing {comparing:.2?}); peak RSS {baseline:.0} MiB before, {with_wire:.0} MiB with the JSON, {peak:.0} MiB after the pass (+{:.1} MiB)",
        drifts.len(),
        wire_bytes as f64 / 1024.0 / 1024.0,
        peak - with_wire,
    );
}

/// One cold pass over held inputs keeping every resource's drift, with sizes and memory.
fn held_once() {
    let rules = DriftRules::default();
    let before = peak_rss_mib().unwrap_or(f64::NAN);
    let inputs = corpus();
    let live_bytes: usize = inputs
        .iter()
        .map(|(_, _, l)| serde_json::to_vec(l).map_or(0, |b| b.len()))
        .sum();
    let with_inputs = peak_rss_mib().unwrap_or(f64::NAN);
    let started = Instant::now();
    let drifts: Vec<_> = inputs
        .iter()
        .map(|(d, a, l)| diff_three_way(Some(d), Some(a), Some(l), &rules))
        .collect();
    let elapsed = started.elapsed();
    let after = peak_rss_mib().unwrap_or(f64::NAN);
    let drifted = drifts.iter().filter(|r| !r.changes.is_empty()).count();
    eprintln!(
        "held drift of {} Deployments (live objects {:.2} KB on average as JSON), {drifted} drifted: cold pass keeping every result {elapsed:.2?}; peak RSS {before:.0} MiB before the inputs, {with_inputs:.0} MiB with them, {after:.0} MiB after the pass (+{:.1} MiB)",
        inputs.len(),
        live_bytes as f64 / inputs.len() as f64 / 1000.0,
        after - with_inputs,
    );
}

/// Diffs every input; checks that exactly the 1 000 drifted ones have changes.
fn count_drifted(inputs: &[(Value, Value, Value)], rules: &DriftRules) -> usize {
    let drifted = inputs
        .iter()
        .filter(|(d, a, l)| {
            !diff_three_way(Some(d), Some(a), Some(l), rules)
                .changes
                .is_empty()
        })
        .count();
    assert_eq!(drifted, 1_000);
    drifted
}

#[divan::bench(sample_count = 5)]
fn normalize_and_three_way_10k(bencher: divan::Bencher) {
    let inputs = corpus();
    let rules = DriftRules::default();
    bencher.bench_local(|| count_drifted(&inputs, &rules));
}

/// The same work streamed: each Deployment's objects parsed from their JSON bytes as they
/// arrive, compared and dropped (parsing included; only the JSON is held).
#[divan::bench(sample_count = 5)]
fn normalize_and_three_way_10k_streamed(bencher: divan::Bencher) {
    let wire = wire_corpus();
    let rules = DriftRules::default();
    bencher.bench_local(|| {
        let drifted = wire
            .iter()
            .filter(|w| {
                let (d, a, l) = parse(w);
                !diff_three_way(Some(&d), Some(&a), Some(&l), &rules)
                    .changes
                    .is_empty()
            })
            .count();
        assert_eq!(drifted, 1_000);
        drifted
    });
}

/// The held path from the same JSON bytes: every object parsed first, then compared (what the
/// streamed bench does, in the held order).
#[divan::bench(sample_count = 5)]
fn parse_all_then_normalize_and_three_way_10k(bencher: divan::Bencher) {
    let wire = wire_corpus();
    let rules = DriftRules::default();
    bencher.bench_local(|| {
        let inputs: Vec<_> = wire.iter().map(parse).collect();
        count_drifted(&inputs, &rules)
    });
}

/// The same work with `ignoreDifferences` on `/spec/replicas` for every Deployment (as teams do
/// when an autoscaler owns the replica count).
#[divan::bench(sample_count = 5)]
fn normalize_and_three_way_10k_ignoring_replicas(bencher: divan::Bencher) {
    let inputs = corpus();
    let rules = DriftRules::from_ignore_differences(vec![IgnoreDifference {
        group: "apps".into(),
        kind: "Deployment".into(),
        json_pointers: vec!["/spec/replicas".into()],
        ..IgnoreDifference::default()
    }])
    .expect("valid rules");
    bencher.bench_local(|| count_drifted(&inputs, &rules));
}

/// The corpus as `strata plan` holds it after an apply: manifests stamped with the stack's
/// labels, their records as the engine keeps them (normalised), live objects stamped too.
fn plan_inputs(
    normalizer: &strata_drift::DriftNormalizer,
) -> (
    Vec<strata_core::Resource>,
    strata_core::State,
    strata_core::plan::Observations,
) {
    use strata_core::normalize::Normalizer;
    use strata_core::state::{ResourceState, ResourceStatus};
    let mut desired = Vec::new();
    let mut state = strata_core::State::new();
    let mut observations = strata_core::plan::Observations::new();
    for (manifest, _, mut live) in corpus() {
        let resource = strata_core::Resource::from_manifest(manifest).expect("a Deployment");
        let stamped = strata_core::ownership::stamp(&resource.manifest, "shop");
        strata_core::ownership::stamp_in_place(&mut live, "shop");
        state.put(ResourceState {
            key: resource.key.clone(),
            api_version: "apps/v1".into(),
            provider: "sandbox".into(),
            status: ResourceStatus::Applied,
            last_applied: (&normalizer.normalize(&stamped, &Value::Null).0).into(),
            dependencies: Vec::new(),
            outputs: Value::Null,
            protect: false,
        });
        observations.insert(
            resource.key.clone(),
            strata_core::Observation::present(live),
        );
        desired.push(resource);
    }
    (desired, state, observations)
}

/// `strata plan` of the corpus after an apply (1 000 of the 10 000 drifted): a plan through
/// the drift normaliser, as the CLI and the controller compare.
fn plan_corpus(bencher: divan::Bencher, rules: DriftRules) {
    let normalizer = strata_drift::DriftNormalizer::new(rules);
    let (desired, state, observations) = plan_inputs(&normalizer);
    let graph = strata_core::Graph::build(&desired).expect("no cycles");
    let registry = strata_core::ProviderRegistry::new().with_fallback(std::sync::Arc::new(
        strata_core::SandboxProvider::new("/nonexistent"),
    ));
    let options = strata_core::plan::PlanOptions::new("shop");
    bencher
        .with_inputs(|| desired.clone())
        .bench_local_values(|desired| {
            let plan = strata_core::plan::compute_plan(
                desired,
                &graph,
                &state,
                &observations,
                &registry,
                &normalizer,
                &options,
            );
            assert_eq!(
                plan.changes
                    .iter()
                    .filter(|c| c.action == strata_core::plan::Action::Update)
                    .count(),
                1_000
            );
            plan
        });
}

/// A plan of the applied corpus, settled resources found unchanged without normalising.
#[divan::bench(sample_count = 5)]
fn plan_10k_applied(bencher: divan::Bencher) {
    plan_corpus(bencher, DriftRules::default());
}

/// The same plan with every resource normalised and compared in full.
#[divan::bench(sample_count = 5)]
fn plan_10k_applied_full_path(bencher: divan::Bencher) {
    plan_corpus(bencher, DriftRules::default().without_fast_path());
}

/// The same work with the copy-free in-sync check turned off (every resource fully normalised).
#[divan::bench(sample_count = 3)]
fn normalize_and_three_way_10k_full_path(bencher: divan::Bencher) {
    let inputs = corpus();
    let rules = DriftRules::default().without_fast_path();
    bencher.bench_local(|| count_drifted(&inputs, &rules));
}

#[divan::bench(sample_count = 5)]
fn json_patch_plain_diff_10k(bencher: divan::Bencher) {
    let inputs = corpus();
    bencher.bench_local(|| {
        let mut ops = 0usize;
        for (d, _, l) in &inputs {
            ops += json_patch::diff(l, d).0.len();
        }
        ops
    });
}
