//! `strata app`: Applications through a running controller's API.

use serde_json::Value;
use strata_gitops::client::ControllerClient;
use strata_gitops::server::SyncRequest;

use crate::args::{AppArgs, AppCommand};
use crate::output::{self, Format};

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// A revision as shown: a commit shortened to 7 digits; a chart version whole.
fn short(revision: &str) -> &str {
    let commit = revision.len() >= 40 && revision.bytes().all(|b| b.is_ascii_hexdigit());
    if commit {
        revision.get(..7).unwrap_or(revision)
    } else {
        revision
    }
}

/// One source as shown: `repoURL path|chart <name> @ targetRevision`, then the revision
/// compared and the source type when the status gives them.
fn source_line(source: &Value, revision: &str, source_type: &str) -> String {
    let what = match source.get("chart").and_then(Value::as_str) {
        Some(chart) => format!("chart {chart}"),
        None => match (text(source, "/path"), text(source, "/ref")) {
            ("", "") => String::new(),
            ("", r) => format!("ref {r}"),
            (path, "") => path.to_owned(),
            (path, r) => format!("{path} (ref {r})"),
        },
    };
    let mut line = format!("{} {what}", text(source, "/repoURL"));
    let target = text(source, "/targetRevision");
    line.push_str(&format!(
        " @ {}",
        if target.is_empty() { "HEAD" } else { target }
    ));
    if !revision.is_empty() {
        line.push_str(&format!(" ({})", short(revision)));
    }
    if !source_type.is_empty() {
        line.push_str(&format!(" [{source_type}]"));
    }
    line
}

/// The `Source:` line of a single-source Application, or a `Sources:` block with each entry of
/// `spec.sources` (repository, path or chart, target, revision compared, type).
fn source_lines(app: &Value) -> Vec<String> {
    match app.pointer("/spec/sources").and_then(Value::as_array) {
        Some(sources) if !sources.is_empty() => {
            let mut lines = vec!["Sources:".to_owned()];
            for (i, source) in sources.iter().enumerate() {
                let revision = text(app, &format!("/status/sync/revisions/{i}"));
                let source_type = text(app, &format!("/status/sourceTypes/{i}"));
                lines.push(format!(
                    "  {}. {}",
                    i + 1,
                    source_line(source, revision, source_type)
                ));
            }
            lines
        }
        _ => {
            let source = app.pointer("/spec/source").unwrap_or(&Value::Null);
            vec![format!(
                "Source:      {}",
                source_line(source, "", text(app, "/status/sourceType"))
            )]
        }
    }
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
    for line in source_lines(app) {
        println!("{line}");
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_source_is_shown_with_its_revision_and_type() {
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let multi = json!({
            "spec": {"sources": [
                {"repoURL": "https://git.example/values.git", "targetRevision": "main", "ref": "values"},
                {"repoURL": "oci://registry.example/charts", "chart": "web", "targetRevision": "1.2.*"},
                {"repoURL": "https://git.example/apps.git", "path": "shop"},
            ]},
            "status": {"sync": {"revisions": [commit, "1.2.5", commit]},
                       "sourceTypes": ["", "Helm", "Kustomize"]}
        });
        assert_eq!(
            source_lines(&multi),
            [
                "Sources:",
                "  1. https://git.example/values.git ref values @ main (0123456)",
                "  2. oci://registry.example/charts chart web @ 1.2.* (1.2.5) [Helm]",
                "  3. https://git.example/apps.git shop @ HEAD (0123456) [Kustomize]",
            ]
        );
        let single = json!({
            "spec": {"source": {"repoURL": "https://charts.example", "chart": "web", "targetRevision": "1.2.0"}},
            "status": {"sync": {"revision": "1.2.0"}, "sourceType": "Helm"}
        });
        assert_eq!(
            source_lines(&single),
            ["Source:      https://charts.example chart web @ 1.2.0 [Helm]"]
        );
        assert_eq!(short("1.10.0-rc.1"), "1.10.0-rc.1");
        assert_eq!(short(commit), "0123456");
    }
}
