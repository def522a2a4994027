//! Benchmarks of the pure hot paths: health of 10 000 mixed live objects and sync ordering of
//! 10 000 resources.

use divan::{Bencher, black_box};
use serde_json::{Value, json};
use strata_core::sync::{SyncPlanOptions, SyncResource, plan_sync};
use strata_health::health_of;

const COUNT: usize = 10_000;

fn main() {
    divan::main();
}

fn conditions(ready: bool) -> Value {
    json!([
        {"type": "Ready", "status": if ready { "True" } else { "False" }, "reason": "Available", "message": "ok"},
        {"type": "Synced", "status": "True", "reason": "ReconcileSuccess"}
    ])
}

/// One live object of a rotating mix of kinds, in varied states.
fn live_object(i: usize) -> Value {
    let name = format!("obj-{i}");
    let meta = json!({"name": name, "namespace": format!("ns-{}", i % 50), "generation": 2});
    match i % 12 {
        0 => json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"replicas": 3},
            "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": i % 4,
                "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}}),
        1 => json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"restartPolicy": "Always"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "main", "state": {"running": {}}, "lastState": {}}]}}),
        2 => json!({"apiVersion": "v1", "kind": "Service", "metadata": meta,
            "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}}),
        3 => json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
            "status": {"conditions": [{"type": "Complete", "status": "True"}]}}),
        4 => json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta,
            "spec": {"replicas": 2, "updateStrategy": {"type": "RollingUpdate"}},
            "status": {"observedGeneration": 2, "readyReplicas": 2, "currentRevision": "a", "updateRevision": "a", "currentReplicas": 2}}),
        5 => json!({"apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "Bucket", "metadata": meta,
            "status": {"conditions": conditions(!i.is_multiple_of(3))}}),
        6 => json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": meta,
            "status": {"conditions": conditions(true)}}),
        7 => json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}}),
        8 => json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": meta,
            "spec": {"replicas": 2, "strategy": {"canary": {}}},
            "status": {"observedGeneration": "2", "currentPodHash": "h", "stableRS": "h", "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}}),
        9 => {
            json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta,
            "status": {"conditions": [{"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale", "message": "ok"}]}})
        }
        10 => {
            json!({"apiVersion": "platform.example.org/v1alpha1", "kind": "Database", "metadata": meta,
            "status": {"conditions": conditions(i.is_multiple_of(2))}})
        }
        _ => {
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "status": {"phase": "Bound"}})
        }
    }
}

#[divan::bench]
fn health_of_10k_mixed_objects(bencher: Bencher) {
    let objects: Vec<Value> = (0..COUNT).map(live_object).collect();
    bencher.bench(|| {
        let assessed = objects
            .iter()
            .filter_map(|o| health_of(black_box(o)))
            .count();
        black_box(assessed)
    });
}

/// A desired (or, every 10th, live-only) resource of a realistic app: namespaces, CRDs, config,
/// workloads in waves, hooks and prunes.
fn sync_object(i: usize) -> (Value, bool) {
    let ns = format!("team-{}", i % 40);
    let wave = (i % 5) as i64 - 1;
    let annotations = match i % 17 {
        0 => {
            json!({"argocd.argoproj.io/hook": "PreSync", "argocd.argoproj.io/hook-delete-policy": "HookSucceeded"})
        }
        1 => json!({"argocd.argoproj.io/hook": "PostSync"}),
        _ => json!({"argocd.argoproj.io/sync-wave": wave.to_string()}),
    };
    let (api_version, kind) = match i % 9 {
        0 => ("v1", "ConfigMap"),
        1 => ("apps/v1", "Deployment"),
        2 => ("v1", "Service"),
        3 => ("batch/v1", "Job"),
        4 => ("v1", "Secret"),
        5 => ("networking.k8s.io/v1", "Ingress"),
        6 => ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        7 => ("example.org/v1", "Widget"),
        _ => ("apps/v1", "StatefulSet"),
    };
    let obj = if i < 40 {
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": format!("team-{i}")}})
    } else if i == 40 {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.org", "annotations": {"argocd.argoproj.io/sync-wave": "3"}},
            "spec": {"group": "example.org", "names": {"kind": "Widget"}}})
    } else {
        json!({"apiVersion": api_version, "kind": kind,
            "metadata": {"name": format!("res-{i}"), "namespace": ns, "annotations": annotations}})
    };
    (obj, i >= 41 && i.is_multiple_of(10))
}

#[divan::bench]
fn plan_sync_10k_resources(bencher: Bencher) {
    let objects: Vec<(Value, bool)> = (0..COUNT).map(sync_object).collect();
    let resources: Vec<SyncResource<'_>> = objects
        .iter()
        .map(|(obj, prune)| {
            if *prune {
                SyncResource::prune(obj)
            } else {
                SyncResource::target(obj)
            }
        })
        .collect();
    let options = SyncPlanOptions::default();
    bencher.bench(|| {
        let plan = plan_sync(black_box(&resources), &options);
        black_box(plan.groups.len())
    });
}
