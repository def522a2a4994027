//! `strata health FILE_OR_DIR`: the health of saved live objects and their aggregate.

use serde_json::{Value, json};
use strata_health::HealthRegistry;
use strata_health::{ResourceHealth, aggregate_health};

use crate::args::{HealthArgs, Output};
use crate::commands::ExitCode;

/// Runs `strata health`.
pub fn run(args: &HealthArgs) -> anyhow::Result<ExitCode> {
    let registry = HealthRegistry::builtin();
    crate::paths::existing(&args.path)?;
    let live = strata_core::loader::load_objects(&args.path)?;
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
