//! `strata drift`: what changed in Git and in the world since the last apply.

use std::collections::BTreeSet;

use strata_core::Resource;
use strata_core::plan::observe_all;
use strata_core::sensitive::Sensitivity;
use strata_drift::{DriftEngine, DriftPolicy, ResourceInput};

use crate::args::{DriftArgs, DriftOutput};
use crate::commands::ExitCode;
use crate::stack;

/// Observes every desired and recorded resource and prints the drift report.
pub async fn run(args: DriftArgs) -> anyhow::Result<ExitCode> {
    let stack = stack::load(&args.stack)?;
    let engine = &stack.engine;
    let state = engine.store.load().await?.unwrap_or_default();
    let observations = observe_all(
        &stack.resources,
        &state,
        &engine.registry,
        engine.config.parallelism,
    )
    .await
    .map_err(|(key, e)| anyhow::anyhow!("observing {key}: {e}"))?;

    // Desired and live go into the report in the state's form (sensitive values as digests),
    // so secrets compare by digest and are never shown.
    let sensitivity = Sensitivity::default();
    let digest = |r: &Resource, v: &serde_json::Value| sensitivity.digest(&r.key, v);
    let mut inputs = Vec::new();
    let mut seen = BTreeSet::new();
    for resource in &stack.resources {
        seen.insert(resource.key.clone());
        let desired = strata_core::ownership::stamp(&resource.manifest, &stack.name);
        let live = observations
            .get(&resource.key)
            .and_then(|o| o.live.as_ref())
            .map(|l| digest(resource, l));
        inputs.push(ResourceInput {
            desired: Some(digest(resource, &desired)),
            last_applied: state.get(&resource.key).map(|r| r.last_applied.clone()),
            live,
        });
    }
    for record in state.resources.values() {
        if seen.contains(&record.key) {
            continue;
        }
        let as_resource = Resource {
            key: record.key.clone(),
            manifest: record.last_applied.clone(),
            source: None,
        };
        inputs.push(ResourceInput {
            desired: None,
            last_applied: Some(record.last_applied.clone()),
            live: observations
                .get(&record.key)
                .and_then(|o| o.live.as_ref())
                .map(|l| digest(&as_resource, l)),
        });
    }
    let report = DriftEngine::new(stack.drift_rules.clone(), DriftPolicy::default()).report(inputs);
    match args.output {
        DriftOutput::Human => print!("{}", report.to_human()),
        DriftOutput::Json => println!("{}", serde_json::to_string_pretty(&report.to_json())?),
        DriftOutput::Markdown => print!("{}", report.to_markdown()),
    }
    let code = report.exit_code();
    Ok(if code == 2 && !args.detailed_exitcode {
        0
    } else {
        code
    })
}
