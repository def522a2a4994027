//! `strata state recover DIR`: rebuild a lost or empty state from the live objects that carry
//! the stack's ownership labels, and the warning `plan` gives on an empty state when such
//! objects exist.
//!
//! Only labelled objects the desired set holds are recorded (as `strata import` records one);
//! labelled objects outside it are listed and left alone: the next plan does not touch what
//! neither Git nor the state holds, and `apply --prune` deletes labelled Kubernetes objects
//! that left Git. Providers that cannot list what they hold are named, since labelled objects
//! of theirs outside the desired set could not be looked for.

use std::path::Path;

use strata_core::Resource;
use strata_core::ownership::{self, Manager};
use strata_core::plan::{Action, Plan, PlanOptions};
use strata_core::recover::{Stray, StrayReason, Survey};
use strata_core::state::State;

use crate::args::RecoverArgs;
use crate::commands::{ExitCode, plan_options, take_lock};
use crate::output::{self, Format as Output};
use crate::stack::{self, Stack};

/// `strata state recover`.
pub async fn run(args: RecoverArgs) -> anyhow::Result<ExitCode> {
    let stack = stack::load(&args.stack).await?;
    let options = plan_options(&stack, &Default::default(), false, false);
    let held = take_lock(&stack.engine, "state-recover", &args.lock, &args.stack.dir).await?;
    let recovered = stack
        .engine
        .recover(stack.resources.clone(), &options)
        .await;
    if let Some(held) = held {
        stack.engine.unlock(held).await?;
    }
    let recovered = recovered?;
    let survey = &recovered.survey;
    let location = stack.engine.store.location();
    match args.output {
        Output::Json | Output::Yaml => {
            let json = serde_json::json!({
                "stack": stack.name,
                "state": location,
                "serial": recovered.serial,
                "recorded": survey.records.iter().map(|r| serde_json::json!({
                    "address": r.key.to_string(), "provider": r.provider,
                })).collect::<Vec<_>>(),
                "already_recorded": survey.already_recorded.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "not_recorded": survey.strays.iter().map(stray_json).collect::<Vec<_>>(),
                "not_searched": survey.not_searched,
            });
            print!(
                "{}",
                output::machine(args.output, &json)?.unwrap_or_default()
            );
        }
        Output::Human | Output::Markdown => {
            output::require(args.output, "strata state recover", output::NO_MARKDOWN)?;
            print_human(
                &stack.name,
                &location,
                recovered.serial,
                survey,
                &args.stack.dir,
            );
        }
    }
    Ok(0)
}

fn stray_json(stray: &Stray) -> serde_json::Value {
    let reason = match &stray.reason {
        StrayReason::NotInGit => "not in Git".to_owned(),
        StrayReason::ServedByOther(other) => format!("the stack sends it to {other}"),
        _ => "not recorded".to_owned(),
    };
    serde_json::json!({
        "address": stray.key.to_string(),
        "provider": stray.provider,
        "reason": reason,
    })
}

fn print_human(name: &str, location: &str, serial: Option<u64>, survey: &Survey, dir: &Path) {
    match serial {
        Some(serial) => {
            println!(
                "Recorded {} live resources labelled for stack `{name}` in the state {location} (serial {serial}; the previous version is kept):",
                survey.records.len()
            );
            for record in &survey.records {
                println!("  + {} ({})", record.key, record.provider);
            }
        }
        None if survey.already_recorded.is_empty() => println!(
            "No live object labelled for stack `{name}` and held by the desired set was found; the state {location} is unchanged."
        ),
        None => println!(
            "Every labelled live object the desired set holds is already recorded; the state {location} is unchanged."
        ),
    }
    if !survey.already_recorded.is_empty() {
        println!(
            "Already recorded (left as they are): {}.",
            survey.already_recorded.len()
        );
    }
    if !survey.strays.is_empty() {
        println!(
            "\nLabelled for stack `{name}` but not recorded (the next plan leaves them alone; `strata apply --prune` deletes Kubernetes ones that left Git):"
        );
        for stray in &survey.strays {
            println!("  ? {stray}");
        }
    }
    if !survey.not_searched.is_empty() {
        println!(
            "\nNot searched beyond the desired set (these providers cannot list what they hold): {}.",
            survey.not_searched.join(", ")
        );
    }
    if serial.is_some() {
        println!(
            "\nRun `strata plan {}` to see what differs from Git.",
            dir.display()
        );
    }
}

/// On an empty state, warns (stderr) when live objects labelled for this stack exist, and
/// suggests `strata state recover` rather than letting a plan without changes speak for them.
///
/// The desired resources are judged from `plan` (made against that empty state, so it holds
/// every desired resource, with the live object of each one found); the rest is found by
/// listing. A targeted or destroy plan does not: then the stack's resources are surveyed.
pub(crate) async fn warn_if_labelled(
    stack: &Stack,
    plan: &Plan,
    state: &State,
    options: &PlanOptions,
    dir: &Path,
) -> anyhow::Result<()> {
    let mut found: Vec<String> = if options.targets.is_empty() && !options.destroy {
        let desired: Vec<&Resource> = plan
            .changes
            .iter()
            .filter(|c| c.action != Action::Delete)
            .filter_map(|c| c.resource.as_ref())
            .collect();
        let (strays, _) = stack.engine.strays(&desired, state, options).await?;
        plan.changes
            .iter()
            .filter(|c| {
                c.live.as_ref().is_some_and(|live| {
                    ownership::manager_of(live, &options.stack) == Manager::ThisStack
                })
            })
            .map(|c| c.key.to_string())
            .chain(strays.iter().map(|s| s.key.to_string()))
            .collect()
    } else {
        // A targeted or destroy plan does not hold every desired resource: survey them.
        let (survey, _) = stack
            .engine
            .survey(stack.resources.clone(), options)
            .await?;
        survey
            .records
            .iter()
            .map(|r| r.key.to_string())
            .chain(survey.strays.iter().map(|s| s.key.to_string()))
            .collect()
    };
    if found.is_empty() {
        return Ok(());
    }
    found.sort();
    found.dedup();
    const SHOWN: usize = 5;
    let more = found.len().saturating_sub(SHOWN);
    let mut listed = found
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if more > 0 {
        listed.push_str(&format!(" and {more} more"));
    }
    eprintln!(
        "Warning: the state {} records no resource, but {} live objects carry the ownership labels of stack `{}` ({listed}): the state does not record them, so a destroy would leave them and removing them from Git would not delete them. To record them in the state, run:\n  strata state recover {}",
        stack.engine.store.location(),
        found.len(),
        stack.name,
        dir.display()
    );
    Ok(())
}
