//! Benchmarks: normalise + three-way diff of 10 000 Deployment-sized manifests.

use std::time::Instant;

use serde_json::{Value, json};
use strata_drift::{DriftRules, IgnoreDifference, diff_three_way};

// The allocator the `strata` binary and the controllers use.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    report_once();
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

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// One cold pass that keeps every resource's drift (as a report does), with sizes and memory.
fn report_once() {
    let before = peak_rss_mib().unwrap_or(f64::NAN);
    let inputs = corpus();
    let live_bytes: usize = inputs
        .iter()
        .map(|(_, _, l)| serde_json::to_vec(l).map_or(0, |b| b.len()))
        .sum();
    let with_inputs = peak_rss_mib().unwrap_or(f64::NAN);
    let rules = DriftRules::default();
    let started = Instant::now();
    let drifts: Vec<_> = inputs
        .iter()
        .map(|(d, a, l)| diff_three_way(Some(d), Some(a), Some(l), &rules))
        .collect();
    let elapsed = started.elapsed();
    let after = peak_rss_mib().unwrap_or(f64::NAN);
    let drifted = drifts.iter().filter(|r| !r.changes.is_empty()).count();
    eprintln!(
        "drift of {} Deployments (live objects {:.2} KB on average as JSON), {drifted} drifted: cold pass keeping every result {elapsed:.2?}; peak RSS {before:.0} MiB before the inputs, {with_inputs:.0} MiB with them, {after:.0} MiB after the pass (+{:.1} MiB)",
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
