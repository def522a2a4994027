//! `strata drift`: what changed in Git and in the world since the last apply.

use strata_core::Graph;
use strata_core::sensitive::Sensitivity;
use strata_drift::{DriftEngine, DriftPolicy, stream_report};

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
    // compare in the same form and providers observe the referenced names. Each live object is
    // compared as it is observed and dropped: the report holds results, not the world.
    let graph = Graph::build(&resources)?;
    let drift = DriftEngine::new(stack.drift_rules.clone(), DriftPolicy::default());
    let (report, streamed) = stream_report(
        engine,
        &drift,
        &stack.name,
        &mut resources,
        &graph,
        &state,
        &Sensitivity::default(),
    )
    .await?;
    tracing::debug!(
        observed = streamed.observed,
        kept_for_references = streamed.kept,
        "drift: observations compared as they arrived"
    );
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
