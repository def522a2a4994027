//! Executor makespan: 1 000 resources, 20 ms simulated provider latency, parallelism 32.
//!
//! The lower bound of any schedule is max(critical path, total work / parallelism). The bench
//! prints the measured makespan against that bound; the target is within 10 %.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Value, json};
use strata::core::executor::{self, Cancellation, Event, ExecutorConfig, NoRecorder};
use strata::core::plan::{self, PlanOptions};
use strata::core::provider::{Applied, Observation, Provider, ProviderError, ProviderRegistry};
use strata::core::{Graph, IdentityNormalizer, Resource, State};

const RESOURCES: usize = 1_000;
const LATENCY: Duration = Duration::from_millis(20);
const PARALLELISM: usize = 32;
/// Resources without dependencies (independent stacks' roots). With only 10 roots the DAG
/// itself cannot be scheduled within 10 % of max(critical path, work / parallelism): its ideal
/// list schedule is 1.088x that bound (the executor measured 1.108x there).
const ROOTS: usize = 32;

/// Simulated provider latency, slept precisely on a blocking thread: tokio's timer rounds every
/// sleep up to its next millisecond tick, which would add the timer's error to the executor's.
async fn latency() {
    let _ = tokio::task::spawn_blocking(|| std::thread::sleep(LATENCY)).await;
}

#[derive(Debug)]
struct SlowProvider;

#[async_trait]
impl Provider for SlowProvider {
    fn name(&self) -> &str {
        "slow"
    }
    fn serves(&self, _: &str, _: &str) -> bool {
        true
    }
    async fn observe(&self, _: &Resource) -> Result<Observation, ProviderError> {
        Ok(Observation::absent())
    }
    async fn create(&self, r: &Resource) -> Result<Applied, ProviderError> {
        latency().await;
        Ok(Applied {
            live: r.manifest.clone(),
            ..Applied::default()
        })
    }
    async fn update(&self, r: &Resource, _: &Value) -> Result<Applied, ProviderError> {
        self.create(r).await
    }
    async fn delete(&self, _: &Resource) -> Result<(), ProviderError> {
        latency().await;
        Ok(())
    }
}

/// A DAG of 1 000 resources with about two dependencies each (pseudo-random, fixed seed): the
/// first `ROOTS` have none, every other one depends on two earlier resources drawn uniformly.
fn dependencies() -> Vec<Vec<usize>> {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..RESOURCES)
        .map(|i| {
            if i < ROOTS {
                return Vec::new();
            }
            let mut d: Vec<usize> = (0..2).map(|_| (next() as usize) % i).collect();
            d.sort_unstable();
            d.dedup();
            d
        })
        .collect()
}

fn critical_path(deps: &[Vec<usize>]) -> usize {
    let mut depth = vec![1usize; deps.len()];
    for (i, d) in deps.iter().enumerate() {
        depth[i] = 1 + d.iter().map(|&j| depth[j]).max().unwrap_or(0);
    }
    depth.into_iter().max().unwrap_or(0)
}

/// The makespan of an ideal list schedule of this DAG (unit-time tasks, highest first, no
/// overhead): what any executor that starts work as soon as it is ready can achieve at best.
fn ideal_list_schedule(deps: &[Vec<usize>]) -> usize {
    let n = deps.len();
    let mut children = vec![Vec::new(); n];
    for (i, d) in deps.iter().enumerate() {
        for &j in d {
            children[j].push(i);
        }
    }
    let mut height = vec![0usize; n];
    for i in (0..n).rev() {
        height[i] = 1 + children[i].iter().map(|&c| height[c]).max().unwrap_or(0);
    }
    let mut waits: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut ready: std::collections::BinaryHeap<(usize, std::cmp::Reverse<usize>)> = (0..n)
        .filter(|&i| waits[i] == 0)
        .map(|i| (height[i], std::cmp::Reverse(i)))
        .collect();
    let (mut steps, mut done) = (0, 0);
    while done < n {
        let batch: Vec<usize> = (0..PARALLELISM)
            .filter_map(|_| ready.pop().map(|(_, std::cmp::Reverse(i))| i))
            .collect();
        steps += 1;
        done += batch.len();
        for b in batch {
            for &c in &children[b] {
                waits[c] -= 1;
                if waits[c] == 0 {
                    ready.push((height[c], std::cmp::Reverse(c)));
                }
            }
        }
    }
    steps
}

fn build_plan(deps: &[Vec<usize>]) -> (plan::Plan, ProviderRegistry) {
    let resources: Vec<Resource> = deps
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let list: Vec<String> = d.iter().map(|j| format!("ConfigMap/r{j}")).collect();
            Resource::from_manifest(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("r{i}"), "annotations": {"strata.dev/depends-on": list.join(",")}}
            }))
            .expect("valid manifest")
        })
        .collect();
    let registry = ProviderRegistry::new().with_provider(Arc::new(SlowProvider));
    let graph = Graph::build(&resources).expect("acyclic");
    let plan = plan::compute_plan(
        resources,
        &graph,
        &State::new(),
        &HashMap::new(),
        &registry,
        &IdentityNormalizer,
        &PlanOptions::default(),
    );
    (plan, registry)
}

fn run(
    plan: &plan::Plan,
    registry: &ProviderRegistry,
    runtime: &tokio::runtime::Runtime,
) -> Duration {
    let started = Instant::now();
    let report = runtime.block_on(executor::execute(
        plan,
        registry,
        ExecutorConfig::default().with_parallelism(PARALLELISM),
        Arc::new(NoRecorder),
        Arc::new(|_: Event| {}),
        Cancellation::never(),
    ));
    assert!(report.is_success());
    started.elapsed()
}

// The allocator a production binary would use; glibc's malloc dominates profiles otherwise.
#[global_allocator]
static GLOBAL: strata_alloc::Allocator = strata_alloc::Allocator;

fn main() {
    let deps = dependencies();
    let (plan, registry) = build_plan(&deps);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let path = critical_path(&deps) as u32;
    let bound = (LATENCY * path).max(LATENCY * RESOURCES as u32 / PARALLELISM as u32);
    let makespan = run(&plan, &registry, &runtime);
    let ideal = LATENCY * ideal_list_schedule(&deps) as u32;
    eprintln!(
        "executor: {RESOURCES} resources, {LATENCY:?} latency, parallelism {PARALLELISM}: critical path {path} nodes ({:?}), lower bound {bound:?}, ideal list schedule {ideal:?} ({:.3}x), makespan {makespan:.2?} = {:.3}x the bound",
        LATENCY * path,
        ideal.as_secs_f64() / bound.as_secs_f64(),
        makespan.as_secs_f64() / bound.as_secs_f64()
    );
    divan::main();
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn makespan_1000_resources(bencher: divan::Bencher) {
    let deps = dependencies();
    let (plan, registry) = build_plan(&deps);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    bencher.bench_local(|| run(&plan, &registry, &runtime));
}
