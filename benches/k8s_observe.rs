//! Observing a stack's objects on a real kube-apiserver (with etcd, started like envtest):
//! the Kubernetes provider's one paginated list per kind and namespace
//! (`Provider::observe_many`) against one `GET` per object, the planner's parallelism (32) in
//! flight either way.
//!
//! For each size N (`STRATA_BENCH_OBJECTS`, comma-separated, default `1000,3000,10000`) it
//! creates N ConfigMaps in a namespace of their own, then observes all of them as a plan does
//! (`strata_core::plan::observe_all`), alternating the two ways five times each, and prints
//! the median wall time of each and their ratio. Run with `cargo bench --bench k8s_observe`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use strata::core::provider::{Applied, Observation, Provider, ProviderError, ProviderRegistry};
use strata::core::{Resource, State};
use strata_k8s::{KubeProvider, KubeProviderOptions};

// The allocator a production binary uses.
#[global_allocator]
static GLOBAL: strata_alloc::Allocator = strata_alloc::Allocator;

const ROUNDS: usize = 5;
const PARALLELISM: usize = 32;

/// The Kubernetes provider observing one object at a time (it never lists).
#[derive(Debug)]
struct OneByOne(KubeProvider);

#[async_trait]
impl Provider for OneByOne {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn serves(&self, api_version: &str, kind: &str) -> bool {
        self.0.serves(api_version, kind)
    }
    async fn observe(&self, desired: &Resource) -> Result<Observation, ProviderError> {
        self.0.observe(desired).await
    }
    async fn create(&self, desired: &Resource) -> Result<Applied, ProviderError> {
        self.0.create(desired).await
    }
    async fn update(&self, desired: &Resource, live: &Value) -> Result<Applied, ProviderError> {
        self.0.update(desired, live).await
    }
    async fn delete(&self, resource: &Resource) -> Result<(), ProviderError> {
        self.0.delete(resource).await
    }
}

fn main() -> ExitCode {
    let sizes: Vec<usize> = std::env::var("STRATA_BENCH_OBJECTS")
        .unwrap_or_else(|_| "1000,3000,10000".to_owned())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    match run(&sizes) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("k8s_observe bench: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(sizes: &[usize]) -> Result<(), String> {
    let plane = strata_testkube::ControlPlane::start().map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    println!("objects | one list per kind and namespace | one GET per object | GETs / lists");
    for &size in sizes {
        runtime.block_on(measure(&plane, size))?;
    }
    Ok(())
}

async fn measure(plane: &strata_testkube::ControlPlane, size: usize) -> Result<(), String> {
    let client = plane.client().await.map_err(|e| e.to_string())?;
    let namespace = plane
        .namespace(&client, &format!("observe-{size}"))
        .await
        .map_err(|e| e.to_string())?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let created: Vec<Result<(), String>> = futures::stream::iter(0..size)
        .map(|i| {
            let api = api.clone();
            async move {
                let object: ConfigMap = serde_json::from_value(json!({
                    "metadata": {"name": format!("c{i}")},
                    "data": {"index": i.to_string(), "owner": "platform", "tier": "backend"}}))
                .map_err(|e| e.to_string())?;
                api.create(&PostParams::default(), &object)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        })
        .buffer_unordered(PARALLELISM)
        .collect()
        .await;
    created.into_iter().collect::<Result<Vec<()>, String>>()?;
    let desired: Vec<Resource> = (0..size)
        .map(|i| {
            Resource::from_manifest(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("c{i}"), "namespace": namespace},
                "data": {"index": i.to_string(), "owner": "platform", "tier": "backend"}}))
            .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    let listing = ProviderRegistry::new().with_provider(Arc::new(KubeProvider::new(
        client.clone(),
        KubeProviderOptions::default(),
    )));
    let one_by_one = ProviderRegistry::new().with_provider(Arc::new(OneByOne(KubeProvider::new(
        client.clone(),
        KubeProviderOptions::default(),
    ))));
    let state = State::new();
    let mut lists = Vec::new();
    let mut gets = Vec::new();
    for _ in 0..ROUNDS {
        for (registry, times) in [(&listing, &mut lists), (&one_by_one, &mut gets)] {
            let started = Instant::now();
            let observed = strata::core::plan::observe_all(&desired, &state, registry, PARALLELISM)
                .await
                .map_err(|(key, e)| format!("observing {key}: {e}"))?;
            times.push(started.elapsed());
            let present = observed.values().filter(|o| o.live.is_some()).count();
            if present != size {
                return Err(format!("{present} of {size} objects observed present"));
            }
        }
    }
    let (list, get) = (median(&mut lists), median(&mut gets));
    println!(
        "{size:>7} | {:>31.3} s | {:>18.3} s | {:>11.1}x",
        list.as_secs_f64(),
        get.as_secs_f64(),
        get.as_secs_f64() / list.as_secs_f64()
    );
    Ok(())
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}
