//! Saved plans: `strata plan --out FILE`, `strata apply FILE` and `strata show FILE` — the
//! Atlantis contract (plan on the pull request, apply exactly that plan on merge).
//!
//! The file records the stack's flags (the directory made absolute, a revision resolved to its
//! commit), the plan options, a digest of the configuration file read, and core's
//! [`SavedPlan`] (state version, desired-set digest, change fingerprints, the redacted plan).
//! `apply FILE` rebuilds the stack from those flags, reads the desired set again (at the same
//! commit when the plan was made from a revision), plans again under the lock and refuses,
//! before any provider write, unless everything matches.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use strata_core::plan::saved::{SavedPlan, SourceVersion, desired_digest};
use strata_core::plan::{self, PlanOptions};
use strata_core::sensitive::digest_of;

use crate::args::{ApplyArgs, ShowArgs, StackArgs};
use crate::commands::{ExitCode, print_plan};
use crate::output::{self, Format as Output};
use crate::stack::{self, Stack};

/// What the CLI records in a saved plan to rebuild the run.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedSettings {
    /// The stack's flags as given (directory absolute, revision resolved to a commit).
    stack: StackArgs,
    /// `plan --destroy`.
    destroy: bool,
    /// `plan --adopt`.
    adopt: bool,
    /// `--target` and `--replace`.
    #[serde(default)]
    select: crate::args::PlanSelection,
    /// Digest of the configuration file read, if any.
    config_digest: Option<String>,
    /// What the policies said when the plan was made.
    #[serde(default)]
    policy: Option<strata_policy::PolicyReport>,
}

/// Digest of the stack's configuration file, if it has one.
fn config_digest(stack: &Stack) -> anyhow::Result<Option<String>> {
    stack
        .config_file
        .as_deref()
        .map(|file| {
            let text =
                std::fs::read_to_string(file).with_context(|| format!("{}", file.display()))?;
            Ok(digest_of(&serde_json::Value::String(text)))
        })
        .transpose()
}

/// The commit `args.revision` resolves to, and the work tree's `HEAD` otherwise (for
/// information; `None` outside a Git repository).
fn source_version(args: &StackArgs) -> anyhow::Result<SourceVersion> {
    let mut source = SourceVersion::default();
    match &args.revision {
        Some(revision) => {
            let tree = strata_sources::stack::open_tree(&args.dir, Some(revision))?;
            source.commit = tree.origin().commit.clone();
            source.pinned = true;
        }
        None => {
            source.commit = strata_sources::stack::open_tree(&args.dir, Some("HEAD"))
                .ok()
                .and_then(|tree| tree.origin().commit.clone());
        }
    }
    Ok(source)
}

/// Writes the saved plan of `plan --out FILE`.
#[allow(clippy::too_many_arguments)]
pub fn save(
    out: &Path,
    args: &StackArgs,
    stack: &Stack,
    options: &PlanOptions,
    digest: String,
    planned: &plan::Plan,
    state: &strata_core::State,
    policy: Option<&strata_policy::PolicyReport>,
) -> anyhow::Result<()> {
    let source = source_version(args)?;
    let mut recorded = args.clone();
    let absolute = |p: &Path| std::fs::canonicalize(p).with_context(|| format!("{}", p.display()));
    recorded.dir = absolute(&args.dir)?;
    recorded.policies = args
        .policies
        .iter()
        .map(|p| absolute(p))
        .collect::<anyhow::Result<_>>()?;
    recorded.terraform_states = args
        .terraform_states
        .iter()
        .map(|t| {
            if t.starts_with("s3://") {
                Ok(t.clone())
            } else {
                absolute(Path::new(t)).map(|p| p.display().to_string())
            }
        })
        .collect::<anyhow::Result<_>>()?;
    if source.pinned {
        recorded.revision.clone_from(&source.commit);
    }
    let settings = SavedSettings {
        stack: recorded,
        destroy: options.destroy,
        adopt: options.adopt,
        select: crate::args::PlanSelection {
            targets: options.targets.clone(),
            replace: options.replace.clone(),
            refresh_only: false,
        },
        config_digest: config_digest(stack)?,
        policy: policy.cloned(),
    };
    let saved = SavedPlan::new(
        planned,
        state,
        digest,
        source,
        serde_json::to_value(&settings)?,
    );
    saved.write(out)?;
    eprintln!(
        "Saved the plan to {}. Apply exactly this plan with: strata apply {}",
        out.display(),
        out.display()
    );
    Ok(())
}

/// Refuses a saved plan given to `strata destroy`, naming the command that applies it; any
/// other file is left to the stack loader (which says a stack is a directory).
pub fn refuse_destroy_of(file: &Path) -> anyhow::Result<()> {
    if read(file).is_ok() {
        bail!(
            "{}: `strata destroy` does not take a saved plan; save one with `strata plan --destroy --out FILE` and apply it with `strata apply FILE`",
            file.display()
        );
    }
    Ok(())
}

fn read(file: &Path) -> anyhow::Result<(SavedPlan, SavedSettings)> {
    let saved = SavedPlan::read(file)?;
    let settings: SavedSettings = serde_json::from_value(saved.settings.clone())
        .with_context(|| format!("{}: not a plan saved by the strata CLI", file.display()))?;
    Ok((saved, settings))
}

/// `strata apply FILE`.
pub async fn apply(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let file = args.stack.dir.clone();
    let (saved, settings) = read(&file)?;
    if args.prune {
        bail!(
            "{}: --prune would delete objects the saved plan does not list; plan with the objects removed instead",
            file.display()
        );
    }
    if args.adopt && !settings.adopt {
        bail!(
            "{}: --adopt changes what is planned; plan again with --adopt",
            file.display()
        );
    }
    refuse_different_flags(&file, &args.stack, &settings.stack)?;
    if args.select != crate::args::PlanSelection::default() && args.select != settings.select {
        bail!(
            "{}: --target, --replace and --refresh-only are chosen when planning; plan again with them. Nothing was applied.",
            file.display()
        );
    }
    let stack = stack::load(&settings.stack).await?;
    if config_digest(&stack)? != settings.config_digest {
        bail!(
            "{}: the stack configuration ({}) changed since the plan; plan again. Nothing was applied.",
            file.display(),
            stack
                .config_file
                .as_deref()
                .map_or_else(|| "strata.yaml".to_owned(), |f| f.display().to_string())
        );
    }
    let options =
        crate::commands::plan_options(&stack, &settings.select, settings.destroy, settings.adopt);
    let digest = desired_digest(&stack.resources);
    let operation = if settings.destroy { "destroy" } else { "apply" };
    let held =
        crate::commands::take_lock(&stack.engine, operation, &args.lock, &settings.stack.dir)
            .await?;
    let outcome = async {
        let (replan, state) = stack.engine.plan(stack.resources.clone(), &options).await?;
        if let Err(stale) = saved.verify(&stack.name, &state, &digest, &replan) {
            eprintln!(
                "Error: the saved plan {} no longer matches; nothing was applied:",
                file.display()
            );
            for reason in &stale {
                eprintln!("  - {reason}");
            }
            eprintln!("Run `strata plan` again and review the new plan.");
            return Ok((1, state));
        }
        let policy = crate::commands::check_policies(&stack, &replan)?;
        if !replan.is_applyable()
            || policy
                .as_ref()
                .is_some_and(strata_policy::PolicyReport::denies)
        {
            print_plan(&replan, args.output, &stack.application_of, policy.as_ref())?;
            eprintln!("Error: nothing was applied.");
            return Ok((1, state));
        }
        eprintln!(
            "Applying the saved plan {} (stack {}, made at {}).",
            file.display(),
            saved.stack,
            saved.created_at
        );
        crate::commands::run_apply(
            &stack,
            replan,
            state,
            held.as_ref(),
            operation,
            args.output,
            crate::commands::Closing::Apply,
        )
        .await
    }
    .await;
    if let Some(held) = held {
        stack.engine.unlock(held).await?;
    }
    let (code, state) = outcome?;
    crate::backend_record::record(&settings.stack.dir, &stack.backend, &state)?;
    Ok(code)
}

/// Stack flags given with a saved plan must be the ones it was made with (or absent): a plan
/// applies as it was planned, never with another state, provider or stack name.
fn refuse_different_flags(file: &Path, given: &StackArgs, saved: &StackArgs) -> anyhow::Result<()> {
    let given_flags = StackArgs {
        dir: PathBuf::new(),
        no_cache: false,
        ..given.clone()
    };
    let saved_flags = StackArgs {
        dir: PathBuf::new(),
        no_cache: false,
        ..saved.clone()
    };
    if given_flags == StackArgs::default() || given_flags == saved_flags {
        return Ok(());
    }
    let given = serde_json::to_value(&given_flags)?;
    let saved = serde_json::to_value(&saved_flags)?;
    let default = serde_json::to_value(StackArgs::default())?;
    let differing: Vec<String> = given
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| default.get(k.as_str()) != Some(v) && saved.get(k.as_str()) != Some(v))
        .map(|(k, v)| format!("{} {v} (planned with {})", flag_name(k), saved[k.as_str()]))
        .collect();
    bail!(
        "{}: a saved plan applies with the settings it was made with; these differ: {}. Nothing was applied.",
        file.display(),
        differing.join(", ")
    )
}

fn flag_name(field: &str) -> String {
    format!("--{}", field.replace('_', "-"))
}

/// `strata show FILE`.
pub fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let (saved, settings) = read(&args.file)?;
    match args.output {
        Output::Json | Output::Yaml => {
            let mut json = plan::to_json(&saved.plan);
            if let Some(report) = &settings.policy {
                json["policy"] = serde_json::to_value(report)?;
            }
            json["saved_plan"] = serde_json::json!({
                "format_version": saved.format_version,
                "strata_version": saved.strata_version,
                "created_at": saved.created_at,
                "stack": saved.stack,
                "state": saved.state,
                "source": saved.source,
                "desired_digest": saved.desired_digest,
                "directory": settings.stack.dir,
            });
            print!(
                "{}",
                output::machine(args.output, &json)?.unwrap_or_default()
            );
        }
        Output::Human | Output::Markdown => {
            let commit = saved.source.commit.as_deref().unwrap_or("(not in Git)");
            let header = format!(
                "Saved plan for stack {} ({}), made {} by Strata {} against {}, from commit {}{}.",
                saved.stack,
                settings.stack.dir.display(),
                saved.created_at,
                saved.strata_version,
                saved.state,
                commit,
                if saved.source.pinned {
                    ""
                } else {
                    " (work tree)"
                }
            );
            match args.output {
                Output::Markdown => println!("_{header}_\n"),
                _ => println!("{header}\n"),
            }
            print_plan(
                &saved.plan,
                args.output,
                &Default::default(),
                settings.policy.as_ref(),
            )?;
        }
    }
    Ok(0)
}
