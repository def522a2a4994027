//! `strata app`: Applications through a running controller's API.

use anyhow::bail;
use serde_json::Value;
use strata_gitops::client::ControllerClient;
use strata_gitops::server::SyncRequest;

use crate::args::{AppArgs, AppCommand, Output};

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn short(revision: &str) -> &str {
    revision.get(..7).unwrap_or(revision)
}

fn print_json(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn print_list(items: &[Value]) {
    println!(
        "{:<30} {:<12} {:<12} {:<10} CONDITION",
        "NAME", "SYNC", "HEALTH", "REVISION"
    );
    for app in items {
        println!(
            "{:<30} {:<12} {:<12} {:<10} {}",
            text(app, "/metadata/name"),
            text(app, "/status/sync/status"),
            text(app, "/status/health/status"),
            short(text(app, "/status/sync/revision")),
            text(app, "/status/conditions/0/type"),
        );
    }
}

fn print_operation(operation: &Value) {
    println!(
        "Operation: {} — {}",
        text(operation, "/phase"),
        text(operation, "/message")
    );
    if let Some(results) = operation
        .pointer("/syncResult/resources")
        .and_then(Value::as_array)
    {
        for r in results {
            let group = text(r, "/group");
            let kind = if group.is_empty() {
                text(r, "/kind").to_owned()
            } else {
                format!("{group}/{}", text(r, "/kind"))
            };
            println!(
                "  {kind} {}/{}: {} {}",
                text(r, "/namespace"),
                text(r, "/name"),
                text(r, "/status"),
                text(r, "/message")
            );
        }
    }
}

fn print_app(app: &Value) {
    println!("Name:        {}", text(app, "/metadata/name"));
    println!("Project:     {}", text(app, "/spec/project"));
    println!(
        "Source:      {} {} @ {}",
        text(app, "/spec/source/repoURL"),
        text(app, "/spec/source/path"),
        text(app, "/spec/source/targetRevision")
    );
    println!(
        "Destination: {} namespace {}",
        text(app, "/spec/destination/server"),
        text(app, "/spec/destination/namespace")
    );
    println!(
        "Sync:        {} ({})",
        text(app, "/status/sync/status"),
        short(text(app, "/status/sync/revision"))
    );
    let health_message = text(app, "/status/health/message");
    println!(
        "Health:      {}{}",
        text(app, "/status/health/status"),
        if health_message.is_empty() {
            String::new()
        } else {
            format!(" — {health_message}")
        }
    );
    if let Some(conditions) = app.pointer("/status/conditions").and_then(Value::as_array) {
        for c in conditions {
            println!("Condition:   {}: {}", text(c, "/type"), text(c, "/message"));
        }
    }
    if let Some(operation) = app.pointer("/status/operationState") {
        print_operation(operation);
    }
    if let Some(resources) = app.pointer("/status/resources").and_then(Value::as_array) {
        println!("Resources:");
        for r in resources {
            let pruning = if r.get("requiresPruning") == Some(&Value::Bool(true)) {
                " (requires pruning)"
            } else {
                ""
            };
            println!(
                "  {} {}/{}: {} {}{pruning}",
                text(r, "/kind"),
                text(r, "/namespace"),
                text(r, "/name"),
                text(r, "/status"),
                text(r, "/health/status"),
            );
        }
    }
    if let Some(history) = app.pointer("/status/history").and_then(Value::as_array) {
        println!("History:");
        for h in history {
            println!(
                "  {} {} {}",
                h.get("id").and_then(Value::as_u64).unwrap_or_default(),
                short(text(h, "/revision")),
                text(h, "/deployedAt")
            );
        }
    }
}

/// Runs `strata app …`; a failed sync or rollback exits 1.
pub async fn run(args: AppArgs) -> anyhow::Result<i32> {
    if args.output == Output::Markdown {
        bail!("-o markdown is not supported by `strata app` (use human or json)");
    }
    let json = args.output == Output::Json;
    let client = ControllerClient::new(&args.server)?;
    match args.command {
        AppCommand::List => {
            let items = client.list().await?;
            if json {
                print_json(&Value::Array(items))?;
            } else {
                print_list(&items);
            }
            Ok(0)
        }
        AppCommand::Get { name } => {
            let app = client.get(&name).await?;
            if json {
                print_json(&app)?;
            } else {
                print_app(&app);
            }
            Ok(0)
        }
        AppCommand::Refresh { name } => {
            client.refresh(&name).await?;
            if !json {
                println!("Refresh of {name} requested");
            }
            Ok(0)
        }
        AppCommand::Sync {
            name,
            prune,
            dry_run,
            resources,
            revision,
        } => {
            let request = SyncRequest {
                prune,
                dry_run,
                resources,
                revision,
            };
            let operation = client.sync(&name, &request).await?;
            finish(json, &operation)
        }
        AppCommand::Rollback { name, id } => {
            let operation = client.rollback(&name, id).await?;
            finish(json, &operation)
        }
    }
}

fn finish(json: bool, operation: &Value) -> anyhow::Result<i32> {
    if json {
        print_json(operation)?;
    } else {
        print_operation(operation);
    }
    Ok(if text(operation, "/phase") == "Succeeded" {
        0
    } else {
        1
    })
}
