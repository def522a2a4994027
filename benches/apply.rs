//! Apply and destroy throughput on the sandbox with the local state: N ConfigMaps planned,
//! applied (every intent durable before its create, results group-committed through the state
//! journal) and destroyed, for N = 1 000, 10 000 and 100 000.
//!
//! Targets: 10 000 in under 10 s and 100 000 in under 2 minutes, each way, with cost linear in
//! N. The bench prints one cold measurement per size first (plan, apply, destroy, per-resource
//! cost), then divan's samples for the two smaller sizes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use strata::core::executor::{Event, ExecutorConfig, cancellation};
use strata::core::plan::PlanOptions;
use strata::core::{
    Engine, IdentityNormalizer, LocalStateStore, ProviderRegistry, Resource, SandboxProvider,
};

#[global_allocator]
static ALLOC: strata_alloc::Allocator = strata_alloc::Allocator;

fn config_maps(n: usize) -> Vec<Resource> {
    (0..n)
        .map(|i| {
            Resource::from_manifest(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("settings-{i:06}"), "namespace": "bench",
                    "labels": {"app": "bench", "shard": (i % 16).to_string()}},
                "data": {"level": "info", "index": i.to_string(), "owner": "platform-team"}
            }))
            .expect("a valid manifest")
        })
        .collect()
}

fn engine(dir: &std::path::Path) -> Engine {
    Engine {
        registry: ProviderRegistry::new()
            .with_fallback(Arc::new(SandboxProvider::new(dir.join("world")))),
        normalizer: Arc::new(IdentityNormalizer),
        store: Arc::new(LocalStateStore::new(dir.join("state.json"))),
        config: ExecutorConfig::default(),
    }
}

/// Plans and applies `desired` (or destroys everything); returns (plan time, apply time).
async fn run(engine: &Engine, desired: Vec<Resource>, destroy: bool) -> (Duration, Duration) {
    let options = PlanOptions::new("bench").with_destroy(destroy);
    let started = Instant::now();
    let (plan, state) = engine.plan(desired, &options).await.expect("plan");
    let planned = started.elapsed();
    let (_handle, cancel) = cancellation();
    let started = Instant::now();
    let report = engine
        .apply(&plan, state, "apply", Arc::new(|_: Event| {}), cancel)
        .await
        .expect("apply");
    assert!(report.is_success(), "{:?}", report.failed.first());
    (planned, started.elapsed())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn cold(n: usize) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let engine = engine(dir.path());
    let rt = runtime();
    let (plan_apply, apply) = rt.block_on(run(&engine, config_maps(n), false));
    let (plan_destroy, destroy) = rt.block_on(run(&engine, Vec::new(), true));
    println!(
        "cold, {n:>7} ConfigMaps: plan {plan_apply:>9.2?}, apply {apply:>9.2?} ({:.1} µs each), \
         destroy plan {plan_destroy:>9.2?}, destroy {destroy:>9.2?} ({:.1} µs each)",
        apply.as_secs_f64() * 1e6 / n as f64,
        destroy.as_secs_f64() * 1e6 / n as f64,
    );
}

fn main() {
    for n in [1_000, 10_000, 100_000] {
        cold(n);
    }
    divan::main();
}

/// Apply then destroy, each planned first.
#[divan::bench(args = [1_000, 10_000], sample_count = 3, sample_size = 1)]
fn apply_and_destroy(bencher: divan::Bencher, n: usize) {
    let rt = runtime();
    bencher
        .with_inputs(|| {
            (
                tempfile::tempdir().expect("a temporary directory"),
                config_maps(n),
            )
        })
        .bench_local_values(|(dir, desired)| {
            let engine = engine(dir.path());
            rt.block_on(async {
                run(&engine, desired, false).await;
                run(&engine, Vec::new(), true).await;
            });
            dir
        });
}
