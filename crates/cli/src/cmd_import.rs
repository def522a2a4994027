//! `strata import DIR KEY [ID]`: record an existing live object as the stack's.

use crate::args::ImportArgs;
use crate::commands::{ExitCode, plan_options, take_lock};
use crate::stack;

/// Observes the object under the lock and records it; the next plan shows what differs from
/// Git.
pub async fn run(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let stack = stack::load(&args.stack).await?;
    let options = plan_options(&stack, &Default::default(), false, false);
    let held = take_lock(&stack.engine, "import", &args.lock, &args.stack.dir).await?;
    let imported = stack
        .engine
        .import(
            stack.resources.clone(),
            &args.key,
            args.id.as_deref(),
            &options,
        )
        .await;
    if let Some(held) = held {
        stack.engine.unlock(held).await?;
    }
    let imported = imported?;
    println!(
        "Imported {} ({}) into the state (serial {}). Run `strata plan` to see what differs from Git.",
        imported.record.key, imported.record.provider, imported.serial
    );
    Ok(0)
}
