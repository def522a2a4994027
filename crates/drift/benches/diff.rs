//! Benchmarks: normalise + three-way diff of 10 000 Deployment-sized manifests.

use serde_json::{Value, json};
use strata_drift::{DriftRules, diff_three_way};

// The allocator the `strata` binary and the controllers use.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
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
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "initialDelaySeconds": 5}
                }]}
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
            "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}, "f:env": {}, "f:ports": {}, "f:resources": {}, "f:readinessProbe": {}}}}}}}},
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

#[divan::bench(sample_count = 5)]
fn normalize_and_three_way_10k(bencher: divan::Bencher) {
    let inputs = corpus();
    let rules = DriftRules::default();
    bencher.bench_local(|| {
        let mut drifted = 0usize;
        for (d, a, l) in &inputs {
            let r = diff_three_way(Some(d), Some(a), Some(l), &rules);
            drifted += usize::from(!r.changes.is_empty());
        }
        assert_eq!(drifted, 1_000);
        drifted
    });
}

/// The same work with the copy-free in-sync check turned off (every resource fully normalised).
#[divan::bench(sample_count = 3)]
fn normalize_and_three_way_10k_full_path(bencher: divan::Bencher) {
    let inputs = corpus();
    let rules = DriftRules::default().without_fast_path();
    bencher.bench_local(|| {
        let mut drifted = 0usize;
        for (d, a, l) in &inputs {
            let r = diff_three_way(Some(d), Some(a), Some(l), &rules);
            drifted += usize::from(!r.changes.is_empty());
        }
        assert_eq!(drifted, 1_000);
        drifted
    });
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
