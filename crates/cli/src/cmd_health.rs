//! `strata health FILE_OR_DIR`: the health of saved live objects and their aggregate.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Value, json};
use strata_health::HealthRegistry;
use strata_health::{ResourceHealth, aggregate_health};

use crate::args::{HealthArgs, Output};
use crate::commands::ExitCode;

fn files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("{}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        let hidden = entry
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if entry.is_dir() {
            out.extend(files(&entry)?);
        } else if matches!(
            entry.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(entry);
        }
    }
    Ok(out)
}

/// Live objects in a file: every YAML/JSON document, with `List`s unpacked.
fn objects(file: &Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("{}", file.display()))?;
    let docs: Vec<Value> = if file.extension().and_then(|e| e.to_str()) == Some("json") {
        vec![serde_json::from_str(&text).with_context(|| format!("{}", file.display()))?]
    } else {
        serde_saphyr::from_multiple(&text).with_context(|| format!("{}", file.display()))?
    };
    let mut out = Vec::new();
    for doc in docs {
        match doc.get("items").and_then(Value::as_array) {
            Some(items)
                if doc
                    .get("kind")
                    .and_then(Value::as_str)
                    .is_some_and(|k| k.ends_with("List")) =>
            {
                out.extend(items.iter().cloned())
            }
            _ if doc.is_object() => out.push(doc),
            _ => {}
        }
    }
    Ok(out)
}

/// Runs `strata health`.
pub fn run(args: &HealthArgs) -> anyhow::Result<ExitCode> {
    let registry = HealthRegistry::builtin();
    let mut live = Vec::new();
    for file in files(&args.path)? {
        live.extend(objects(&file)?);
    }
    let entries: Vec<ResourceHealth> = live
        .iter()
        .map(|obj| ResourceHealth::from_objects(None, Some(obj), registry))
        .collect();
    let aggregate = aggregate_health(&entries);
    let assessed: Vec<Option<strata_health::HealthStatus>> =
        live.iter().map(|o| registry.assess(o)).collect();
    match args.output {
        Output::Json => {
            let resources: Vec<Value> = entries
                .iter()
                .zip(&assessed)
                .map(|(e, h)| {
                    json!({"group": e.group, "kind": e.kind, "namespace": e.namespace, "name": e.name,
                        "status": h.as_ref().map(|h| h.status.as_str()),
                        "message": h.as_ref().map(|h| h.message.as_str())})
                })
                .collect();
            let out = json!({"resources": resources,
                "aggregate": {"status": aggregate.status.as_str(), "message": aggregate.causes_message}});
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Output::Human | Output::Markdown => {
            for (e, h) in entries.iter().zip(&assessed) {
                let kind = if e.group.is_empty() {
                    e.kind.clone()
                } else {
                    format!("{}/{}", e.group, e.kind)
                };
                let name = if e.namespace.is_empty() {
                    e.name.clone()
                } else {
                    format!("{}/{}", e.namespace, e.name)
                };
                let (status, message) = match h {
                    Some(h) => (h.status.as_str(), h.message.as_str()),
                    None => ("-", "no health check for this kind"),
                };
                println!(
                    "{status:<12} {kind} {name}{}",
                    if message.is_empty() {
                        String::new()
                    } else {
                        format!(": {message}")
                    }
                );
            }
            let causes = if aggregate.causes_message.is_empty() {
                String::new()
            } else {
                format!(" ({})", aggregate.causes_message)
            };
            println!("Aggregate: {}{causes}", aggregate.status.as_str());
        }
    }
    Ok(
        if args.detailed_exitcode && aggregate.status != strata_health::HealthStatusCode::Healthy {
            2
        } else {
            0
        },
    )
}
