//! The commands: thin glue between arguments, the libraries and the terminal.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use anyhow::bail;
use strata_core::Graph;
use strata_core::executor::report::ApplySummary;
use strata_core::executor::{Report, cancellation};
use strata_core::plan::{self, Action, Plan, PlanOptions};
use strata_core::state::LockInfo;
use strata_policy::PolicyReport;

use crate::args::{ApplyArgs, DestroyArgs, GraphArgs, GraphFormat, PlanArgs};
use crate::output::{self, Format as Output};
use crate::progress::Progress;
use crate::stack;

/// Process exit code.
pub type ExitCode = i32;

pub(crate) fn print_plan(
    plan: &Plan,
    output: Output,
    application_of: &BTreeMap<strata_core::ResourceKey, String>,
    policy: Option<&PolicyReport>,
) -> anyhow::Result<()> {
    match output {
        Output::Human => {
            // Written as it is rendered: a large plan's text is never held whole.
            let mut stdout = std::io::stdout().lock();
            match plan::write_human(plan, crate::style::stdout(), &mut stdout)
                .and_then(|()| stdout.flush())
            {
                Ok(()) => {}
                // Like `print!` (see `exit_quietly_on_closed_stdout`): a reader that stopped
                // reading (`strata plan | head`) is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
                Err(e) => return Err(anyhow::Error::new(e).context("writing the plan")),
            }
            drop(stdout);
            if let Some(report) = policy {
                print!("{}", render_policy(report, false));
            }
        }
        Output::Json | Output::Yaml => {
            let mut json = plan::to_json(plan);
            if let Some(report) = policy {
                json["policy"] = serde_json::to_value(report)?;
                if report.denies() {
                    json["applyable"] = false.into();
                }
            }
            print!("{}", output::machine(output, &json)?.unwrap_or_default());
        }
        Output::Markdown => {
            print!(
                "{}",
                plan::render_markdown_grouped(plan, plan::MarkdownOptions::default(), |c| {
                    application_of
                        .get(&c.key)
                        .map(|app| format!("Application {app}"))
                })
            );
            if let Some(report) = policy {
                print!("{}", render_policy(report, true));
            }
        }
    }
    Ok(())
}

/// The policy findings as text or Markdown.
fn render_policy(report: &PolicyReport, markdown: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let (denials, warnings) = (report.denials.len(), report.warnings.len());
    if markdown {
        let _ = writeln!(
            out,
            "\n#### Policy checks: {denials} denied, {warnings} warnings\n"
        );
        for f in &report.denials {
            let _ = writeln!(
                out,
                "- :x: **deny** `{}.{}`: {}",
                f.package, f.rule, f.message
            );
        }
        for f in &report.warnings {
            let _ = writeln!(
                out,
                "- :warning: **warn** `{}.{}`: {}",
                f.package, f.rule, f.message
            );
        }
    } else {
        let _ = writeln!(
            out,
            "\nPolicy checks: {denials} denied, {warnings} warnings."
        );
        for f in &report.denials {
            let _ = writeln!(out, "  ✗ deny ({}.{}): {}", f.package, f.rule, f.message);
        }
        for f in &report.warnings {
            let _ = writeln!(out, "  ! warn ({}.{}): {}", f.package, f.rule, f.message);
        }
    }
    out
}

/// The stack's policies evaluated on `plan`, when it has any.
pub(crate) fn check_policies(
    stack: &stack::Stack,
    plan: &Plan,
) -> anyhow::Result<Option<PolicyReport>> {
    stack
        .policies
        .as_ref()
        .map(|policies| policies.evaluate(&plan::to_json(plan)))
        .transpose()
        .map_err(Into::into)
}

/// `strata plan`.
pub async fn plan(args: PlanArgs) -> anyhow::Result<ExitCode> {
    if args.select.refresh_only && args.out.is_some() {
        bail!("--out: a refresh-only plan cannot be saved; run `strata apply --refresh-only`");
    }
    if let Some(code) = crate::replan::plan_from_snapshot(&args).await? {
        return Ok(code);
    }
    let files = crate::replan::StackFiles::read(&args);
    let mut stack = stack::load(&args.stack).await?;
    let options = plan_options(&stack, &args.select, args.destroy, args.adopt);
    if args.select.refresh_only {
        return refresh(
            &stack,
            &options,
            &args.lock,
            &args.stack.dir,
            None,
            args.output,
        )
        .await
        .map(|changed| exit_code(changed, args.detailed_exitcode));
    }
    // Digested before planning: the plan resolves references in place.
    let digest = args
        .out
        .is_some()
        .then(|| strata_core::plan::saved::desired_digest(&stack.resources));
    // Noted before anything is observed: a live object written while planning then differs
    // from what the snapshot kept.
    let recorder = crate::replan::Recorder::before(&args, &stack, files);
    let held = take_lock(&stack.engine, "plan", &args.lock, &args.stack.dir).await?;
    // The plan takes the desired set (its changes carry each resource); a targeted or destroy
    // plan leaves some out, and the recovery warning then needs the whole set again.
    let desired = if options.targets.is_empty() && !options.destroy {
        std::mem::take(&mut stack.resources)
    } else {
        stack.resources.clone()
    };
    let planned = stack.engine.plan(desired, &options).await;
    if let Some(held) = held {
        stack.engine.unlock(held).await?;
    }
    let (plan, state) = planned?;
    let policy = check_policies(&stack, &plan)?;
    print_plan(&plan, args.output, &stack.application_of, policy.as_ref())?;
    if let Some(recorder) = recorder {
        recorder.save(&plan, &state);
    }
    if state.resources.is_empty() {
        crate::cmd_recover::warn_if_labelled(&stack, &plan, &state, &options, &args.stack.dir)
            .await?;
    }
    let denied = policy.as_ref().is_some_and(PolicyReport::denies);
    if !plan.is_applyable() || denied {
        if let Some(out) = &args.out {
            eprintln!(
                "Error: the plan cannot be applied, so it was not saved to {}.",
                out.display()
            );
        }
        return Ok(1);
    }
    if let (Some(out), Some(digest)) = (&args.out, digest) {
        crate::cmd_saved::save(
            out,
            &args.stack,
            &stack,
            &options,
            digest,
            &plan,
            &state,
            policy.as_ref(),
        )?;
    }
    warn_if_targeted(&options);
    let code = exit_code(plan.has_changes(), args.detailed_exitcode);
    left_to_exit(plan);
    left_to_exit(state);
    Ok(code)
}

/// Leaves `value`'s memory to the operating system instead of freeing it: `main` exits as
/// soon as the command returns, and a large plan or state is freed object by object (every
/// manifest's maps and strings), about a tenth of a 100 000-resource plan's run for memory the
/// exit releases at once. Only for plain data: nothing whose drop does work (locks, files,
/// connections).
fn left_to_exit<T>(value: T) {
    std::mem::forget(value);
}

fn exit_code(changes: bool, detailed: bool) -> ExitCode {
    if detailed && changes { 2 } else { 0 }
}

/// The plan options of a stack for the selection and flags given.
pub(crate) fn plan_options(
    stack: &stack::Stack,
    select: &crate::args::PlanSelection,
    destroy: bool,
    adopt: bool,
) -> PlanOptions {
    PlanOptions::new(stack.name.clone())
        .with_destroy(destroy)
        .with_adopt(adopt)
        .with_targets(select.targets.clone())
        .with_replace(select.replace.clone())
        .with_foreign_claims(stack.foreign_claims.clone())
}

/// Terraform's warning: a targeted plan leaves the rest of the stack unplanned.
fn warn_if_targeted(options: &PlanOptions) {
    if !options.targets.is_empty() {
        eprintln!(
            "Warning: resource targeting is in effect: this plan covers only the targets and what they need; other changes the stack needs are not planned. Use it for exceptional cases, not routinely."
        );
    }
}

/// `plan --refresh-only` (with `apply` set, `apply --refresh-only`): shows what changed
/// outside Strata and, when applying and confirmed, records it in the state. Returns whether
/// anything changed.
async fn refresh(
    stack: &stack::Stack,
    options: &PlanOptions,
    lock: &crate::args::LockArgs,
    dir: &std::path::Path,
    apply: Option<bool>,
    output: Output,
) -> anyhow::Result<bool> {
    let operation = if apply.is_some() { "apply" } else { "plan" };
    let what = if apply.is_some() {
        "strata apply --refresh-only"
    } else {
        "strata plan --refresh-only"
    };
    output::require(output, what, output::NO_MARKDOWN)?;
    let held = take_lock(&stack.engine, operation, lock, dir).await?;
    let outcome = async {
        let (refresh, state) = stack.engine.refresh(options).await?;
        match output::machine(output, &refresh)? {
            Some(text) => print!("{text}"),
            None => print!("{}", refresh.render_human()),
        }
        let Some(auto_approve) = apply else {
            return Ok(refresh.has_changes());
        };
        if !refresh.has_changes() {
            return Ok(false);
        }
        if !auto_approve && !confirm()? {
            eprintln!("Apply cancelled.");
            return Ok(true);
        }
        let state = stack.engine.save_refresh(&refresh, state).await?;
        crate::backend_record::record(dir, &stack.backend, &state)?;
        println!(
            "\nApply complete! The state now records the live resources (serial {}); no resource was changed.",
            state.serial
        );
        Ok(true)
    }
    .await;
    if let Some(held) = held {
        stack.engine.unlock(held).await?;
    }
    outcome
}

/// `strata apply`: a stack directory, or a plan file saved by `plan --out`.
pub async fn apply(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    if args.stack.dir.is_file() {
        return crate::cmd_saved::apply(args).await;
    }
    apply_stack(args, false).await
}

/// `strata destroy`: plans the destruction of everything the state records (or of the
/// targets and their dependents), asks, and destroys it.
pub async fn destroy(args: DestroyArgs) -> anyhow::Result<ExitCode> {
    if args.stack.dir.is_file() {
        crate::cmd_saved::refuse_destroy_of(&args.stack.dir)?;
    }
    let args = ApplyArgs {
        stack: args.stack,
        select: crate::args::PlanSelection {
            targets: args.targets,
            ..Default::default()
        },
        auto_approve: args.auto_approve,
        prune: false,
        adopt: false,
        output: Output::Human,
        lock: args.lock,
    };
    apply_stack(args, true).await
}

/// Plans and applies the stack of `args.stack.dir` (its destruction when `destroy`).
async fn apply_stack(args: ApplyArgs, destroy: bool) -> anyhow::Result<ExitCode> {
    let mut stack = stack::load(&args.stack).await?;
    let options = plan_options(&stack, &args.select, destroy, args.adopt);
    if args.select.refresh_only {
        if destroy || args.prune {
            bail!(
                "--refresh-only changes no resource: it cannot be combined with destroy or --prune"
            );
        }
        refresh(
            &stack,
            &options,
            &args.lock,
            &args.stack.dir,
            Some(args.auto_approve),
            args.output,
        )
        .await?;
        return Ok(0);
    }
    if args.prune && !options.targets.is_empty() {
        bail!("--prune deletes beyond the plan: it cannot be combined with --target");
    }
    warn_if_targeted(&options);
    if args.prune && stack.kube.is_none() {
        bail!(
            "--prune deletes labelled Kubernetes objects: enable the Kubernetes provider (--kube)"
        );
    }
    // The plan takes the desired set (its changes carry each resource); the label-based prune
    // needs it after the plan has taken it.
    let desired = std::mem::take(&mut stack.resources);
    let keep_for_prune = args.prune.then(|| desired.clone());
    let operation = if destroy { "destroy" } else { "apply" };
    // Terraform's behaviour: the lock is held across plan, confirmation and apply.
    let held = take_lock(&stack.engine, operation, &args.lock, &args.stack.dir).await?;
    let outcome = plan_and_apply(&stack, desired, &args, &options, held.as_ref(), destroy).await;
    if let Some(held) = held {
        stack.engine.unlock(held).await?;
    }
    let (code, state) = outcome?;
    crate::backend_record::record(&args.stack.dir, &stack.backend, &state)?;
    if code != 0 {
        return Ok(code);
    }
    prune(stack.kube.as_deref(), &stack.name, keep_for_prune, &state).await
}

/// Takes the state lock unless `--lock=false`, waiting up to `--lock-timeout`; a held lock's
/// error names the holder and the exact command that releases it.
pub(crate) async fn take_lock(
    engine: &strata_core::Engine,
    operation: &str,
    args: &crate::args::LockArgs,
    dir: &std::path::Path,
) -> anyhow::Result<Option<strata_core::engine::HeldLock>> {
    if !args.lock {
        return Ok(None);
    }
    let waiting = |holder: &LockInfo| {
        eprintln!(
            "Waiting up to {} for the state lock: {}",
            humantime::format_duration(args.lock_timeout),
            holder.describe()
        );
    };
    match engine.lock(operation, args.lock_timeout, waiting).await {
        Ok(held) => Ok(Some(held)),
        Err(strata_core::EngineError::State(strata_core::state::StateError::Locked {
            location,
            holder,
        })) => bail!(
            "state {location} is locked: {}.\nIf that run is gone, release the lock with:\n  strata state force-unlock {} {}",
            holder.describe(),
            dir.display(),
            holder.id
        ),
        Err(e) => Err(e.into()),
    }
}

/// Plans and (after confirmation) applies under the held lock; returns the exit code and the
/// state after the apply (for the label-based prune).
async fn plan_and_apply(
    stack: &stack::Stack,
    desired: Vec<strata_core::Resource>,
    args: &ApplyArgs,
    options: &PlanOptions,
    held: Option<&strata_core::engine::HeldLock>,
    destroy: bool,
) -> anyhow::Result<(ExitCode, strata_core::State)> {
    let (plan, state) = stack.engine.plan(desired, options).await?;
    let policy = check_policies(stack, &plan)?;
    print_plan(&plan, args.output, &stack.application_of, policy.as_ref())?;
    if !plan.is_applyable() || policy.as_ref().is_some_and(PolicyReport::denies) {
        eprintln!("Error: nothing was applied.");
        return Ok((1, state));
    }
    // An interrupted apply's intents are confirmed even when nothing else changes.
    if !plan.has_changes() && !state.has_intents() {
        return Ok((0, state));
    }
    if plan.has_changes() && !args.auto_approve && !confirm()? {
        eprintln!("{} cancelled.", if destroy { "Destroy" } else { "Apply" });
        return Ok((1, state));
    }
    let operation = if destroy { "destroy" } else { "apply" };
    let closing = if destroy {
        Closing::Destroy
    } else {
        Closing::Apply
    };
    run_apply(stack, plan, state, held, operation, args.output, closing).await
}

/// Applies a confirmed plan (under `held` when given) with a progress display and prints the
/// result; returns the exit code and the state after the apply.
pub(crate) async fn run_apply(
    stack: &stack::Stack,
    plan: Plan,
    state: strata_core::State,
    held: Option<&strata_core::engine::HeldLock>,
    operation: &str,
    output: Output,
    closing: Closing,
) -> anyhow::Result<(ExitCode, strata_core::State)> {
    let total = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .count();
    let progress = Arc::new(Progress::new(total as u64));
    let (handle, cancel) = cancellation();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("Interrupt received: finishing changes in flight, starting no new ones.");
            handle.cancel();
        }
    });
    let report = match held {
        Some(held) => {
            stack
                .engine
                .apply_locked(&plan, state, held, progress.clone(), cancel)
                .await?
        }
        None => {
            stack
                .engine
                .apply(&plan, state, operation, progress.clone(), cancel)
                .await?
        }
    };
    progress.finish();
    print_report(&plan, &report, output, closing)?;
    left_to_exit(plan);
    let state = stack.engine.store.load().await?.unwrap_or_default();
    Ok((if report.is_success() { 0 } else { 1 }, state))
}

/// The label-based prune of `strata apply --prune`: objects this stack labelled, of the kinds
/// it has or had, that the desired set no longer holds.
async fn prune(
    kube: Option<&strata_k8s::KubeProvider>,
    stack: &str,
    desired: Option<Vec<strata_core::Resource>>,
    state: &strata_core::State,
) -> anyhow::Result<ExitCode> {
    let (Some(kube), Some(desired)) = (kube, desired) else {
        return Ok(0);
    };
    let kinds = strata_k8s::provider::prune::kinds_to_prune(&desired, state);
    let outcome = kube
        .prune(
            stack,
            &desired,
            &kinds,
            strata_k8s::provider::prune::PruneOptions::default(),
        )
        .await?;
    for key in &outcome.pruned {
        println!("Pruned {key}");
    }
    for (key, why) in &outcome.skipped {
        println!("Not pruned {key}: {why}");
    }
    Ok(0)
}

fn confirm() -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing to apply without confirmation: standard input is not a terminal; pass --auto-approve"
        );
    }
    print!("\nDo you want to perform these actions? Only 'yes' will be accepted: ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

/// The line a successful human-readable apply ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closing {
    /// `Apply complete! Resources: A added, C changed, D destroyed.`
    Apply,
    /// `Destroy complete! Resources: D destroyed.`, as `terraform destroy` says it.
    Destroy,
}

fn print_report(
    plan: &Plan,
    report: &Report,
    output: Output,
    closing: Closing,
) -> anyhow::Result<()> {
    let summary = ApplySummary::of(plan, report);
    let ApplySummary {
        added,
        changed,
        destroyed,
        ..
    } = summary;
    if let Some(text) = output::machine(output, &summary)? {
        print!("{text}");
        return Ok(());
    }
    let bold = if output == Output::Markdown { "**" } else { "" };
    for failed in &summary.failed {
        eprintln!("Error: {}: {}", failed.address, failed.error);
    }
    if summary.is_success() && closing == Closing::Destroy {
        println!("\n{bold}Destroy complete!{bold} Resources: {destroyed} destroyed.");
    } else if summary.is_success() {
        println!(
            "\n{bold}Apply complete!{bold} Resources: {added} added, {changed} changed, {destroyed} destroyed."
        );
    } else {
        println!(
            "\n{bold}Apply incomplete:{bold} {added} added, {changed} changed, {destroyed} destroyed, {} failed, {} skipped.",
            summary.failed.len(),
            summary.skipped.len()
        );
    }
    Ok(())
}

/// `strata graph`.
pub fn graph(args: GraphArgs) -> anyhow::Result<ExitCode> {
    let stack = &args.stack;
    crate::paths::stack_dir(&stack.dir)?;
    let loaded = crate::stack::config_of(&stack.dir, stack.config.as_deref())?;
    let config = loaded
        .as_ref()
        .map(|l| l.config.clone())
        .unwrap_or_default();
    let config_file = loaded.as_ref().map(|l| l.file.display().to_string());
    let resources = crate::stack::desired_set(stack, &config, config_file.as_deref())?.resources;
    let graph = Graph::build(&resources)?;
    let data = || GraphData {
        resources: graph
            .topological_order()
            .iter()
            .map(ToString::to_string)
            .collect(),
        edges: graph
            .resource_edges()
            .into_iter()
            .map(|(dependency, dependent)| GraphEdge {
                dependency: dependency.to_string(),
                dependent: dependent.to_string(),
            })
            .collect(),
    };
    match args.output {
        GraphFormat::Dot => print!("{}", graph.to_dot()),
        GraphFormat::Mermaid => print!("{}", graph.to_mermaid()),
        GraphFormat::Markdown => print!("```mermaid\n{}```\n", graph.to_mermaid()),
        GraphFormat::Json => print!("{}", output::json(&data())?),
        GraphFormat::Yaml => print!("{}", output::yaml(&data())?),
    }
    Ok(0)
}

/// `strata graph -o json`: the resources in apply order and who waits for whom.
#[derive(Debug, serde::Serialize)]
struct GraphData {
    /// Every resource's address, in the order apply creates them.
    resources: Vec<String>,
    /// The direct dependencies.
    edges: Vec<GraphEdge>,
}

/// One dependency.
#[derive(Debug, serde::Serialize)]
struct GraphEdge {
    /// What is applied first.
    dependency: String,
    /// What waits for it.
    dependent: String,
}
