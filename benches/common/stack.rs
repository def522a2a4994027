//! The generated stack the plan benches share: ConfigMaps with about two dependencies each on
//! earlier ones (so the graph is wide and deep), and one plan of it (graph, reference
//! resolution, plan) as `strata plan` makes it, observations already in memory.

use std::sync::Arc;

use serde_json::json;
use strata::core::plan::{self, Observations, PlanOptions};
use strata::core::{Graph, IdentityNormalizer, ProviderRegistry, Resource, SandboxProvider, State};

/// `count` ConfigMaps in namespace `team`, each depending on two earlier ones.
pub fn desired(count: usize) -> Vec<Resource> {
    (0..count)
        .map(|i| {
            let deps: Vec<String> = [i / 2, i.saturating_sub(7)]
                .into_iter()
                .filter(|&d| d < i)
                .map(|d| format!("ConfigMap/team/c{d}"))
                .collect();
            Resource::from_manifest(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("c{i}"), "namespace": "team",
                             "annotations": {"strata.dev/depends-on": deps.join(",")}},
                "data": {"index": i.to_string(), "owner": "platform", "tier": "backend"}
            }))
            .expect("valid manifest")
        })
        .collect()
}

/// Plans `resources` for the stack `bench` against `state` and `observations`.
pub fn plan_once(
    mut resources: Vec<Resource>,
    state: &State,
    observations: &Observations,
) -> plan::Plan {
    let graph = Graph::build(&resources).expect("acyclic");
    // Reference resolution runs on every plan (here: no references, so it must cost nothing).
    let waiting = strata::core::references::resolve_references(
        &mut resources,
        &graph,
        None,
        &|_, _| strata::core::ReferenceSource::ExternalName,
        &|_| strata::core::references::LiveLookup::NotObserved,
    )
    .expect("references resolve");
    assert!(waiting.is_empty());
    let registry =
        ProviderRegistry::new().with_fallback(Arc::new(SandboxProvider::new("/nonexistent")));
    plan::compute_plan(
        resources,
        &graph,
        state,
        observations,
        &registry,
        &IdentityNormalizer,
        &PlanOptions::new("bench"),
    )
}
