//! Planning at scale: 100 000 resources with about two dependencies each.
//!
//! Measures graph construction, reference resolution and plan computation (observations already in memory), for a
//! first apply (everything is created) and for a re-plan where everything is up to date.
//! Before the timed runs it prints one measurement with the process's peak resident memory.

#[path = "common/stack.rs"]
mod stack;

use std::collections::HashMap;
use std::time::Instant;

use strata::core::plan::Observations;
use strata::core::provider::Observation;
use strata::core::state::{ResourceState, ResourceStatus};
use strata::core::{Graph, Resource, State};

const RESOURCES: usize = 100_000;

/// The number of resources: 100 000, or `STRATA_BENCH_RESOURCES` for profiling runs.
fn resource_count() -> usize {
    std::env::var("STRATA_BENCH_RESOURCES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(RESOURCES)
}

fn desired() -> Vec<Resource> {
    stack::desired(resource_count())
}

fn up_to_date(resources: &[Resource]) -> Observations {
    resources
        .iter()
        .map(|r| {
            let live = strata::core::ownership::stamp(&r.manifest, "bench");
            (r.key.clone(), Observation::present(live))
        })
        .collect()
}

/// The state after a first apply: every resource recorded with its last-applied manifest.
fn applied_state(resources: &[Resource]) -> State {
    let mut state = State::new();
    for r in resources {
        state.put(ResourceState {
            key: r.key.clone(),
            api_version: "v1".into(),
            provider: "sandbox".into(),
            status: ResourceStatus::Applied,
            last_applied: (&strata::core::ownership::stamp(&r.manifest, "bench")).into(),
            dependencies: Vec::new(),
            outputs: serde_json::Value::Null,
            protect: false,
        });
    }
    state
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

// The allocator a production binary would use; glibc's malloc dominates profiles otherwise.
#[global_allocator]
static GLOBAL: strata_alloc::Allocator = strata_alloc::Allocator;

fn main() {
    let resources = desired();
    let empty: Observations = HashMap::new();
    let before = peak_rss_mib().unwrap_or(f64::NAN);
    let started = Instant::now();
    let graph = Graph::build(&resources).expect("acyclic");
    let graph_time = started.elapsed();
    drop(graph);
    let copy = resources.clone();
    let started = Instant::now();
    let created = stack::plan_once(copy, &State::new(), &empty);
    let first = started.elapsed();
    let after_first = peak_rss_mib().unwrap_or(f64::NAN);
    drop(created);
    let live = up_to_date(&resources);
    let state = applied_state(&resources);
    let inputs = peak_rss_mib().unwrap_or(f64::NAN);
    let started = Instant::now();
    let replanned = stack::plan_once(resources, &state, &live);
    let second = started.elapsed();
    assert!(!replanned.has_changes());
    eprintln!(
        "plan of {} resources: graph alone {graph_time:.2?}; first apply {first:.2?} (peak RSS {after_first:.0} MiB); re-plan with state, all up to date {second:.2?}; peak RSS {:.0} MiB (desired set alone {before:.0} MiB, with state and observations {inputs:.0} MiB)",
        resource_count(),
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    divan::main();
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn plan_100k_first_apply(bencher: divan::Bencher) {
    let resources = desired();
    let empty: Observations = HashMap::new();
    let state = State::new();
    bencher
        .with_inputs(|| resources.clone())
        .bench_local_values(|r| stack::plan_once(r, &state, &empty));
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn plan_100k_up_to_date(bencher: divan::Bencher) {
    let resources = desired();
    let live = up_to_date(&resources);
    let state = applied_state(&resources);
    bencher
        .with_inputs(|| resources.clone())
        .bench_local_values(|r| stack::plan_once(r, &state, &live));
}
