//! `strata validate DIR`: every problem of a stack, found offline before anything is planned.

use strata_core::validate::Validator;

use crate::args::{Output, ValidateArgs};
use crate::commands::ExitCode;
use crate::stack;

/// Loads (expands) the stack and lists every validation and naming problem.
pub async fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let stack = stack::load(&args.stack).await?;
    let mut problems: Vec<serde_json::Value> = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    for p in Validator::for_registry(&stack.engine.registry).check(&stack.resources) {
        lines.push(p.to_string());
        problems.push(serde_json::to_value(&p)?);
    }
    for n in strata_core::names::check_names(&stack.resources) {
        lines.push(n.to_string());
        problems.push(serde_json::json!({"message": n.to_string()}));
    }
    match args.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "valid": problems.is_empty(),
                "resources": stack.resources.len(),
                "problems": problems,
            }))?
        ),
        Output::Human | Output::Markdown => {
            for line in &lines {
                println!("✗ {line}");
            }
            let count = stack.resources.len();
            println!(
                "{count} resource{} checked: {}.",
                if count == 1 { "" } else { "s" },
                match lines.len() {
                    0 => "no problem".to_owned(),
                    1 => "1 problem".to_owned(),
                    n => format!("{n} problems"),
                }
            );
        }
    }
    Ok(if problems.is_empty() { 0 } else { 1 })
}
