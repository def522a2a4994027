//! `strata health FILE_OR_DIR`: the health of saved live objects and their aggregate.
//!
//! Live objects are read as Go's YAML library reads them (they come from a cluster or another
//! tool, not from the stack): a duplicate mapping key keeps its last value, with a warning
//! naming file, line and key.

use anyhow::Context;
use serde_json::{Value, json};
use strata_health::HealthRegistry;
use strata_health::{ResourceHealth, aggregate_health};

use crate::args::{HealthArgs, HealthCustomizationArgs};
use crate::commands::ExitCode;
use crate::output::{self, Format as Output};

/// The health registry with the Lua customizations of `--argocd-cm` and `--lua-dir`; each script
/// that cannot be used is reported on stderr (its objects are Unknown with the reason).
pub fn registry(args: &HealthCustomizationArgs) -> anyhow::Result<HealthRegistry> {
    let mut registry = HealthRegistry::new();
    if let Some(file) = &args.argocd_cm {
        let data = strata_health::customizations::read_argocd_cm(file)
            .with_context(|| format!("--argocd-cm {}", file.display()))?;
        let loaded = registry.add_argocd_cm(&data);
        for problem in &loaded.problems {
            eprintln!("Warning: --argocd-cm {}: {problem}", file.display());
        }
    }
    if let Some(dir) = &args.lua_dir {
        let loaded = registry
            .add_lua_dir(dir)
            .with_context(|| format!("--lua-dir {}", dir.display()))?;
        for problem in &loaded.problems {
            eprintln!("Warning: --lua-dir: {problem}");
        }
    }
    Ok(registry)
}

/// Runs `strata health`.
pub fn run(args: &HealthArgs) -> anyhow::Result<ExitCode> {
    let registry = &registry(&args.customizations)?;
    crate::paths::existing(&args.path)?;
    let loaded = strata_core::loader::load_objects_lenient(&args.path)?;
    for warning in &loaded.warnings {
        eprintln!("Warning: {warning}");
    }
    let live = loaded.objects;
    let entries: Vec<ResourceHealth> = live
        .iter()
        .map(|obj| ResourceHealth::from_objects(None, Some(obj), registry))
        .collect();
    let aggregate = aggregate_health(&entries);
    let assessed: Vec<Option<strata_health::HealthStatus>> =
        live.iter().map(|o| registry.assess(o)).collect();
    match args.output {
        Output::Json | Output::Yaml => {
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
            print!(
                "{}",
                output::machine(args.output, &out)?.unwrap_or_default()
            );
        }
        Output::Markdown => {
            println!(
                "#### Health: {}{}\n",
                aggregate.status.as_str(),
                if aggregate.causes_message.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", output::cell(&aggregate.causes_message))
                }
            );
            println!("| status | kind | name | message |\n|---|---|---|---|");
            for (e, h) in entries.iter().zip(&assessed) {
                let (status, message) = match h {
                    Some(h) => (h.status.as_str(), h.message.as_str()),
                    None => ("-", "no health check for this kind"),
                };
                println!(
                    "| {status} | `{}` | `{}` | {} |",
                    kind_of(e),
                    name_of(e),
                    output::cell(message)
                );
            }
        }
        Output::Human => {
            for (e, h) in entries.iter().zip(&assessed) {
                let (kind, name) = (kind_of(e), name_of(e));
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

/// `group/Kind`, or `Kind` for the core group.
fn kind_of(e: &ResourceHealth) -> String {
    if e.group.is_empty() {
        e.kind.clone()
    } else {
        format!("{}/{}", e.group, e.kind)
    }
}

/// `namespace/name`, or `name` for a cluster-scoped object.
fn name_of(e: &ResourceHealth) -> String {
    if e.namespace.is_empty() {
        e.name.clone()
    } else {
        format!("{}/{}", e.namespace, e.name)
    }
}
