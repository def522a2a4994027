//! `strata state …`: inspect, lock, edit (rm, mv), list the kept versions of and restore a
//! stack's state. Every edit takes the state lock, writes with compare-and-swap (the serial
//! is bumped) and leaves the replaced version in the history.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::{Context, bail};
use strata_core::ResourceKey;
use strata_core::state::{LockInfo, State, StateStore};

use crate::args::{StackArgs, StateCommand};
use crate::commands::ExitCode;
use crate::output::{self, Format};
use crate::stack;

fn store_of(target: &StackArgs) -> anyhow::Result<Arc<dyn StateStore>> {
    // A mistyped directory must not become a new, empty state (or a lock) under it.
    crate::paths::stack_dir(&target.dir)?;
    stack::state_store(target)
}

/// Runs `edit` on the state under the lock and saves what it returns; the lock is released
/// whatever happens.
async fn edit_locked<T>(
    store: &dyn StateStore,
    operation: &str,
    edit: impl FnOnce(&mut State) -> anyhow::Result<T>,
) -> anyhow::Result<(T, u64)> {
    let info = LockInfo::new(operation);
    store.lock(&info).await?;
    let outcome = async {
        let mut state = store
            .load()
            .await?
            .with_context(|| format!("there is no state at {}", store.location()))?;
        let result = edit(&mut state)?;
        store.save(&mut state).await?;
        Ok((result, state.serial))
    }
    .await;
    store.unlock(&info.id).await?;
    outcome
}

/// An address the state does not hold, with the closest it does.
fn not_in_state(state: &State, key: &ResourceKey, location: &str) -> anyhow::Error {
    let suggestion = strata_core::validate::nearest(
        &key.to_string(),
        state.resources.keys().map(String::as_str),
    )
    .map(|k| format!("; did you mean {k}?"))
    .unwrap_or_default();
    anyhow::anyhow!("{key} is not in the state {location}{suggestion}")
}

/// `strata state …`.
pub async fn run(command: StateCommand) -> anyhow::Result<ExitCode> {
    match command {
        StateCommand::List { target, output } => {
            let state = store_of(&target)?.load().await?.unwrap_or_default();
            print!("{}", list(&state, output.output)?);
        }
        StateCommand::Show {
            target,
            output,
            address,
        } => {
            let store = store_of(&target)?;
            let state = store.load().await?.unwrap_or_default();
            let record = state
                .resources
                .get(&address)
                .with_context(|| format!("{address} is not in the state {}", store.location()))?;
            print!("{}", show(record, output.output)?);
        }
        StateCommand::Lock { target, output } => {
            let store = store_of(&target)?;
            let info = LockInfo::new("state-lock");
            store.lock(&info).await?;
            match crate::output::machine(output, &info)? {
                Some(text) => print!("{text}"),
                None => println!("Locked {} with ID {}", store.location(), info.id),
            }
        }
        StateCommand::Unlock { target, id } => {
            let store = store_of(&target)?;
            store.unlock(&id).await?;
            println!("Unlocked {}", store.location());
        }
        StateCommand::ForceUnlock { target, id } => {
            let store = store_of(&target)?;
            store.force_unlock(&id).await?;
            println!("Force-unlocked {}", store.location());
        }
        StateCommand::Rm { target, keys } => {
            let store = store_of(&target)?;
            let location = store.location();
            let (removed, serial) = edit_locked(store.as_ref(), "state-rm", |state| {
                for key in &keys {
                    if state.get(key).is_none() {
                        return Err(not_in_state(state, key, &location));
                    }
                }
                Ok(keys
                    .iter()
                    .filter_map(|k| state.remove(k))
                    .map(|r| r.key)
                    .collect::<Vec<_>>())
            })
            .await?;
            for key in &removed {
                println!("Removed {key} from the state (the resource itself is untouched).");
            }
            println!("State {location} is now at serial {serial}; the previous version is kept.");
        }
        StateCommand::Mv { target, from, to } => {
            let store = store_of(&target)?;
            let location = store.location();
            let ((), serial) = edit_locked(store.as_ref(), "state-mv", |state| {
                move_record(state, &from, &to, &location)
            })
            .await?;
            println!("Moved {from} to {to}.");
            println!("State {location} is now at serial {serial}; the previous version is kept.");
        }
        StateCommand::History { target, output } => {
            let store = store_of(&target)?;
            let versions = store.history().await?;
            print!("{}", history(&versions, &store.location(), output.output)?);
        }
        StateCommand::Restore {
            target,
            version,
            auto_approve,
        } => return restore(&target, &version, auto_approve).await,
        StateCommand::Recover(args) => return crate::cmd_recover::run(*args).await,
    }
    Ok(0)
}

/// Records `from`'s resource under `to`, in other records' dependencies too.
fn move_record(
    state: &mut State,
    from: &ResourceKey,
    to: &ResourceKey,
    location: &str,
) -> anyhow::Result<()> {
    if from.kind != to.kind || from.group != to.group {
        bail!(
            "{from} and {to} are of different kinds; a record moves only to another name or namespace of its kind"
        );
    }
    if state.get(to).is_some() {
        bail!("{to} is already in the state {location}; remove it first (strata state rm)");
    }
    let mut record = state
        .remove(from)
        .ok_or_else(|| not_in_state(state, from, location))?;
    record.key = to.clone();
    let mut last_applied = record.last_applied.to_value();
    if let Some(metadata) = last_applied
        .get_mut("metadata")
        .and_then(|m| m.as_object_mut())
    {
        metadata.insert("name".into(), to.name.to_string().into());
        match &to.namespace {
            Some(ns) => {
                metadata.insert("namespace".into(), ns.as_str().into());
            }
            None => {
                metadata.remove("namespace");
            }
        }
    }
    record.last_applied = last_applied.into();
    state.put(record);
    let keys: Vec<ResourceKey> = state.resources.values().map(|r| r.key.clone()).collect();
    for key in keys {
        if let Some(mut other) = state.get(&key).cloned()
            && other.dependencies.contains(from)
        {
            for d in &mut other.dependencies {
                if d == from {
                    *d = to.clone();
                }
            }
            state.put(other);
        }
    }
    Ok(())
}

/// `strata state restore`: shows what the restore changes, then (confirmed) writes the
/// version's records as the next serial of the current lineage.
async fn restore(
    target: &StackArgs,
    version: &str,
    auto_approve: bool,
) -> anyhow::Result<ExitCode> {
    let store = store_of(target)?;
    let info = LockInfo::new("state-restore");
    store.lock(&info).await?;
    let outcome = async {
        let kept = store.load_version(version).await?;
        let current = store.load().await?;
        if let Some(current) = &current {
            if current.lineage != kept.lineage {
                bail!(
                    "version {version} has lineage {}, but the state {} has lineage {}: refusing to restore a version of another state",
                    kept.lineage,
                    store.location(),
                    current.lineage
                );
            }
            if current.serial == kept.serial {
                println!("Version {version} is the current state; nothing to restore.");
                return Ok(0);
            }
        }
        let empty = State::new();
        let before = current.as_ref().unwrap_or(&empty);
        print_difference(before, &kept, version);
        if !auto_approve {
            if !std::io::stdin().is_terminal() {
                bail!("refusing to restore without confirmation: standard input is not a terminal; pass --auto-approve");
            }
            print!("\nRestore this version? Only 'yes' will be accepted: ");
            std::io::Write::flush(&mut std::io::stdout())?;
            let mut answer = String::new();
            std::io::BufRead::read_line(&mut std::io::stdin().lock(), &mut answer)?;
            if answer.trim() != "yes" {
                eprintln!("Restore cancelled.");
                return Ok(1);
            }
        }
        let mut restored = kept.clone();
        match &current {
            Some(current) => {
                restored.serial = current.serial;
                restored.lineage.clone_from(&current.lineage);
            }
            None => restored.serial = 0,
        }
        store.save(&mut restored).await?;
        println!(
            "Restored version {version} (serial {}) as serial {} of {}; the replaced version is kept.",
            kept.serial,
            restored.serial,
            store.location()
        );
        Ok(0)
    }
    .await;
    store.unlock(&info.id).await?;
    outcome
}

fn print_difference(current: &State, kept: &State, version: &str) {
    let now: BTreeSet<&String> = current.resources.keys().collect();
    let then: BTreeSet<&String> = kept.resources.keys().collect();
    println!(
        "Restoring version {version} (serial {}) over the current state (serial {}):",
        kept.serial, current.serial
    );
    let mut any = false;
    for added in then.difference(&now) {
        println!("  + {added} (recorded again)");
        any = true;
    }
    for removed in now.difference(&then) {
        println!("  - {removed} (forgotten; the resource itself is untouched)");
        any = true;
    }
    for both in now.intersection(&then) {
        if current.resources[*both] != kept.resources[*both] {
            println!("  ~ {both} (its record changes)");
            any = true;
        }
    }
    if !any {
        println!("  (the records are the same)");
    }
}

/// A status as the state's JSON spells it (`applied`, `creating`, `updating`).
fn status_name(status: strata_core::state::ResourceStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `strata state list` in `format`.
fn list(state: &State, format: Format) -> anyhow::Result<String> {
    use std::fmt::Write as _;
    let rows: Vec<_> = state
        .resources
        .values()
        .map(|r| serde_json::json!({"address": r.key.to_string(), "provider": r.provider, "status": r.status}))
        .collect();
    if let Some(text) = output::machine(format, &rows)? {
        return Ok(text);
    }
    let mut out = String::new();
    if format == Format::Markdown {
        let _ = writeln!(
            out,
            "#### State: {} resources\n\n| address | provider | status |\n|---|---|---|",
            state.resources.len()
        );
    }
    for r in state.resources.values() {
        if format == Format::Markdown {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                r.key,
                output::cell(&r.provider),
                status_name(r.status)
            );
        } else {
            let _ = writeln!(out, "{}\t{}", r.key, r.provider);
        }
    }
    Ok(out)
}

/// `strata state show` in `format`: the record as data, or its fields with the manifest last
/// applied and the outputs as YAML.
fn show(record: &strata_core::state::ResourceState, format: Format) -> anyhow::Result<String> {
    use std::fmt::Write as _;
    if let Some(text) = output::machine(format, record)? {
        return Ok(text);
    }
    let dependencies = if record.dependencies.is_empty() {
        "none".to_owned()
    } else {
        record
            .dependencies
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let fields = [
        ("provider", record.provider.clone()),
        ("apiVersion", record.api_version.clone()),
        ("status", status_name(record.status)),
        (
            "protected",
            if record.protect { "yes" } else { "no" }.to_owned(),
        ),
        ("depends on", dependencies),
    ];
    let yaml = |value: &serde_json::Value| serde_saphyr::to_string(value);
    let mut out = String::new();
    if format == Format::Markdown {
        let _ = writeln!(out, "#### `{}`\n", record.key);
        for (name, value) in fields {
            let _ = writeln!(out, "- **{name}**: {}", output::cell(&value));
        }
        if !record.outputs.is_null() {
            let _ = write!(
                out,
                "\nOutputs:\n\n```yaml\n{}```\n",
                yaml(&record.outputs)?
            );
        }
        let _ = write!(
            out,
            "\nLast applied:\n\n```yaml\n{}```\n",
            yaml(&record.last_applied.to_value())?
        );
        return Ok(out);
    }
    let _ = writeln!(out, "{}", record.key);
    for (name, value) in fields {
        let _ = writeln!(out, "  {:<12}{value}", format!("{name}:"));
    }
    let indented = |text: String| {
        text.lines()
            .map(|line| format!("    {line}\n"))
            .collect::<String>()
    };
    if !record.outputs.is_null() {
        let _ = write!(out, "  outputs:\n{}", indented(yaml(&record.outputs)?));
    }
    let _ = write!(
        out,
        "  last applied:\n{}",
        indented(yaml(&record.last_applied.to_value())?)
    );
    Ok(out)
}

/// `strata state history` in `format`.
fn history(
    versions: &[strata_core::state::KeptVersion],
    location: &str,
    format: Format,
) -> anyhow::Result<String> {
    use std::fmt::Write as _;
    if let Some(text) = output::machine(format, versions)? {
        return Ok(text);
    }
    let mut out = String::new();
    if versions.is_empty() {
        let _ = writeln!(out, "No versions of {location} are kept.");
        return Ok(out);
    }
    if format == Format::Markdown {
        let _ = writeln!(
            out,
            "#### Versions of {location}\n\n| version | serial | resources | saved | lineage |\n|---|---|---|---|---|"
        );
    }
    for v in versions {
        let saved = v.saved_at.as_deref().unwrap_or("-");
        if format == Format::Markdown {
            let _ = writeln!(
                out,
                "| `{}`{} | {} | {} | {saved} | `{}` |",
                v.id,
                if v.current { " (current)" } else { "" },
                v.serial,
                v.resources,
                v.lineage
            );
        } else {
            let _ = writeln!(
                out,
                "{}\tserial {}\t{} resources\t{saved}\tlineage {}{}",
                v.id,
                v.serial,
                v.resources,
                v.lineage,
                if v.current { "\t(current)" } else { "" }
            );
        }
    }
    Ok(out)
}
