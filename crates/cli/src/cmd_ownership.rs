//! `strata ownership DIR --tfstate …`: every resource Terraform and this stack both claim,
//! matched by the identity each system uses (bucket names, RDS identifiers, Kubernetes keys,
//! Helm releases).

use serde::Serialize;

use crate::args::OwnershipArgs;
use crate::commands::ExitCode;
use crate::output::{self, Format as Output};
use crate::stack;

/// One resource with two managers.
#[derive(Debug, Serialize)]
struct DualManagement {
    /// What both manage.
    identity: String,
    /// Strata's address.
    strata: String,
    /// Whether this stack's state already records it (else Strata would create or adopt it).
    recorded_by_strata: bool,
    /// Terraform's address.
    terraform: String,
    /// The Terraform state it was read from.
    terraform_state: String,
}

/// Lists the resources of the desired set (and of the state) that a Terraform state claims.
pub async fn run(args: OwnershipArgs) -> anyhow::Result<ExitCode> {
    let stack = stack::load(&args.stack).await?;
    if stack.foreign_claims.resources_read() == 0 && stack.foreign_claims.is_empty() {
        anyhow::bail!(
            "no Terraform state to compare with: pass --tfstate PATH|s3://bucket/key or set terraformStates in strata.yaml"
        );
    }
    let state = stack.engine.store.load().await?.unwrap_or_default();
    let mut found = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let recorded = state.resources.values().map(|r| strata_core::Resource {
        key: r.key.clone(),
        manifest: r.last_applied.to_value(),
        source: None,
    });
    for resource in stack.resources.iter().cloned().chain(recorded) {
        if !seen.insert(resource.key.clone()) {
            continue;
        }
        for claim in stack.foreign_claims.claims_of(&resource) {
            found.push(DualManagement {
                identity: claim.identity.to_string(),
                strata: resource.key.to_string(),
                recorded_by_strata: state.get(&resource.key).is_some(),
                terraform: claim.address.clone(),
                terraform_state: claim.source.clone(),
            });
        }
    }
    match args.output {
        Output::Json | Output::Yaml => {
            print!(
                "{}",
                output::machine(args.output, &found)?.unwrap_or_default()
            );
        }
        Output::Human => {
            if found.is_empty() {
                println!(
                    "No resource has two managers ({} Terraform resources compared).",
                    stack.foreign_claims.resources_read()
                );
            }
            for d in &found {
                println!(
                    "✗ {}: Strata {} ({}) and Terraform {} ({})",
                    d.identity,
                    d.strata,
                    if d.recorded_by_strata {
                        "in Strata's state"
                    } else {
                        "in Git, not yet applied"
                    },
                    d.terraform,
                    d.terraform_state
                );
            }
        }
        Output::Markdown => {
            println!("#### Dual management: {} resources\n", found.len());
            if !found.is_empty() {
                println!("| resource | Strata | Terraform | state |\n|---|---|---|---|");
                for d in &found {
                    println!(
                        "| {} | `{}`{} | `{}` | `{}` |",
                        d.identity,
                        d.strata,
                        if d.recorded_by_strata {
                            " (applied)"
                        } else {
                            ""
                        },
                        d.terraform,
                        d.terraform_state
                    );
                }
            }
        }
    }
    Ok(if args.detailed_exitcode && !found.is_empty() {
        2
    } else {
        0
    })
}
