//! Rendering plans for people (Terraform-like text) and for programs (JSON).

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::fields::leaves;
use super::{Action, Plan, ResourceChange};

/// ANSI colours, used only when asked for (the CLI asks on a terminal).
struct Palette {
    on: bool,
}

impl Palette {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

fn symbol(action: Action) -> (&'static str, &'static str) {
    match action {
        Action::NoOp => (" ", "0"),
        Action::Create => ("+", "32"),
        Action::Update => ("~", "33"),
        Action::DeleteThenCreate => ("-/+", "31"),
        Action::CreateThenDelete => ("+/-", "31"),
        Action::Delete => ("-", "31"),
    }
}

fn headline(change: &ResourceChange) -> &'static str {
    match change.action {
        Action::NoOp => "is up to date",
        Action::Create => "will be created",
        Action::Update => "will be updated in-place",
        Action::DeleteThenCreate | Action::CreateThenDelete => "must be replaced",
        Action::Delete => "will be destroyed",
    }
}

fn show(value: &Option<Value>) -> String {
    match value {
        None => "(absent)".to_owned(),
        Some(v) => v.to_string(),
    }
}

/// The plan as text: each changed resource with its provider and fields, guard violations, and
/// a summary line (`Plan: 1 to add, 2 to change, 0 to destroy.`).
pub fn render_human(plan: &Plan, colour: bool) -> String {
    let p = Palette { on: colour };
    let mut out = String::new();
    let changed: Vec<&ResourceChange> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .collect();
    if changed.is_empty() {
        out.push_str("No changes. The live resources match the desired state.\n");
    } else {
        out.push_str("Strata will perform the following actions:\n");
        for change in changed {
            let (sym, code) = symbol(change.action);
            let _ = writeln!(
                out,
                "\n  # {} ({}) {}{}",
                p.paint("1", &change.key.to_string()),
                change.provider,
                headline(change),
                if change.drifted {
                    " (changed outside Strata)"
                } else {
                    ""
                }
            );
            let _ = writeln!(out, "  {} {}", p.paint(code, sym), change.key);
            match change.action {
                Action::Create => {
                    if let Some(after) = &change.after() {
                        for (path, value) in leaves(after) {
                            let _ = writeln!(out, "      {} {path} = {value}", p.paint("32", "+"));
                        }
                    }
                }
                Action::Delete => {
                    let _ = writeln!(out, "      (every field is removed)");
                }
                _ => {
                    for f in &change.fields {
                        let marker = match (&f.before, &f.after) {
                            (None, Some(_)) => p.paint("32", "+"),
                            (Some(_), None) => p.paint("31", "-"),
                            _ => p.paint("33", "~"),
                        };
                        let note = if f.forces_replacement {
                            p.paint("31", " # forces replacement")
                        } else {
                            String::new()
                        };
                        let _ = writeln!(
                            out,
                            "      {marker} {} = {} -> {}{note}",
                            f.path,
                            show(&f.before),
                            show(&f.after)
                        );
                    }
                }
            }
            if !change.blast_radius.is_empty() {
                let names: Vec<String> = change
                    .blast_radius
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                let _ = writeln!(out, "      blast radius: {}", names.join(", "));
            }
        }
    }
    if !plan.violations.is_empty() {
        out.push_str("\nThe plan cannot be applied:\n");
        for v in &plan.violations {
            let _ = writeln!(out, "  {} {}", p.paint("31", "✗"), v.message);
        }
    }
    let s = plan.summary();
    let _ = writeln!(
        out,
        "\nPlan: {} to add, {} to change, {} to destroy.",
        s.add, s.change, s.destroy
    );
    out
}

/// The plan as JSON, in the spirit of `terraform show -json`: `resource_changes[]` with
/// `change.actions`, `before`, `after`, `replace_paths`, plus Strata's field list, provider,
/// blast radius and guard violations.
pub fn to_json(plan: &Plan) -> Value {
    let changes: Vec<Value> = plan
        .changes
        .iter()
        .map(|c| {
            json!({
                "address": c.key.to_string(),
                "api_version": c.api_version,
                "kind": c.key.kind,
                "namespace": c.key.namespace,
                "name": c.key.name,
                "provider_name": c.provider,
                "action_reason": c.reason,
                "drifted": c.drifted,
                "blast_radius": c.blast_radius.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "depends_on": c.dependencies.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "change": {
                    "actions": c.action.json_actions(),
                    "before": c.before(),
                    "after": c.after(),
                    "replace_paths": c.replace_paths,
                    "fields": c.fields,
                },
            })
        })
        .collect();
    let s = plan.summary();
    json!({
        "format_version": "1.0",
        "strata_version": env!("CARGO_PKG_VERSION"),
        "stack": plan.stack,
        "applyable": plan.is_applyable(),
        "has_changes": plan.has_changes(),
        "summary": s,
        "resource_changes": changes,
        "violations": plan.violations,
    })
}
