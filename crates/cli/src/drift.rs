//! `strata drift`: what changed in Git and in the world since the last apply.

use strata_core::Graph;
use strata_core::sensitive::Sensitivity;
use strata_drift::{DriftEngine, DriftPolicy, stack_inputs};

use crate::args::DriftArgs;
use crate::commands::ExitCode;
use crate::output::{self, Format};
use crate::stack;

/// Observes every desired and recorded resource and prints the drift report.
pub async fn run(args: DriftArgs) -> anyhow::Result<ExitCode> {
    let mut stack = stack::load(&args.stack).await?;
    let mut resources = std::mem::take(&mut stack.resources);
    let engine = &stack.engine;
    let state = engine.store.load().await?.unwrap_or_default();
    // References are resolved as a plan resolves them, so desired, last-applied and live
    // compare in the same form and providers observe the referenced names.
    let graph = Graph::build(&resources)?;
    let observations = engine
        .resolve_and_observe(&mut resources, &graph, &state)
        .await?;

    let sensitivity = Sensitivity::default();
    let inputs = stack_inputs(&stack.name, &resources, &state, &observations, &sensitivity);
    let report = DriftEngine::new(stack.drift_rules.clone(), DriftPolicy::default()).report(inputs);
    match args.output {
        Format::Human => print!("{}", report.to_human()),
        Format::Json => print!("{}", output::json(&report.to_json())?),
        Format::Yaml => print!("{}", output::yaml(&report.to_json())?),
        Format::Markdown => print!("{}", report.to_markdown()),
    }
    let code = report.exit_code();
    Ok(if code == 2 && !args.detailed_exitcode {
        0
    } else {
        code
    })
}
