//! `strata app`: Applications through a running controller's API.

use serde_json::Value;
use strata_gitops::client::ControllerClient;
use strata_gitops::server::SyncRequest;

use crate::args::{AppArgs, AppCommand};
use crate::output::{self, Format};

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn short(revision: &str) -> &str {
    revision.get(..7).unwrap_or(revision)
}

/// Prints `value` when `format` is a machine form; whether it did.
fn print_data(format: Format, value: &Value) -> anyhow::Result<bool> {
    let text = output::machine(format, value)?;
    if let Some(text) = &text {
        print!("{text}");
    }
    Ok(text.is_some())
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
    output::require(args.output, "strata app", output::NO_MARKDOWN)?;
    let format = args.output;
    let client = ControllerClient::new(&args.server)?;
    match args.command {
        AppCommand::List => {
            let items = client.list().await?;
            if !print_data(format, &Value::Array(items.clone()))? {
                print_list(&items);
            }
            Ok(0)
        }
        AppCommand::Get { name } => {
            let app = client.get(&name).await?;
            if !print_data(format, &app)? {
                print_app(&app);
            }
            Ok(0)
        }
        AppCommand::Refresh { name } => {
            client.refresh(&name).await?;
            if format == Format::Human {
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
            finish(format, &operation)
        }
        AppCommand::Rollback { name, id } => {
            let operation = client.rollback(&name, id).await?;
            finish(format, &operation)
        }
    }
}

fn finish(format: Format, operation: &Value) -> anyhow::Result<i32> {
    if !print_data(format, operation)? {
        print_operation(operation);
    }
    Ok(if text(operation, "/phase") == "Succeeded" {
        0
    } else {
        1
    })
}
