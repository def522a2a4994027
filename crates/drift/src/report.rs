//! Drift reports: JSON, human text and Markdown (for a PR comment), plus exit codes like
//! `terraform plan -detailed-exitcode` (0 no drift, 1 error, 2 drift).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::three_way::{ChangeOrigin, DriftStatus, FieldChange, ResourceDrift};

/// Exit code: no drift.
pub const EXIT_NO_DRIFT: i32 = 0;
/// Exit code: an error happened.
pub const EXIT_ERROR: i32 = 1;
/// Exit code: drift detected.
pub const EXIT_DRIFT: i32 = 2;

/// An error met while building the report (unreadable manifest, failed observation…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportError {
    /// The resource concerned, when known.
    pub resource: Option<String>,
    /// What went wrong.
    pub message: String,
}

/// Counts over a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Resources compared.
    pub resources: usize,
    /// Resources in sync (including those ignored by policy).
    pub in_sync: usize,
    /// Resources with differing fields.
    pub drifted: usize,
    /// Desired resources missing from the world.
    pub missing: usize,
    /// Live resources no longer desired.
    pub extraneous: usize,
    /// Differing fields over all drifted resources.
    pub fields: usize,
    /// Fields changed in Git.
    pub git: usize,
    /// Fields changed in the world.
    pub world: usize,
    /// Fields changed on both sides.
    pub conflicts: usize,
}

/// A drift report over many resources.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    /// Every resource compared, in input order.
    pub resources: Vec<ResourceDrift>,
    /// Errors met on the way.
    pub errors: Vec<ReportError>,
}

impl DriftReport {
    /// Adds one resource's entry (its drift, or the error in its place) in input order.
    pub(crate) fn push(&mut self, entry: Result<ResourceDrift, ReportError>) {
        match entry {
            Ok(drift) => self.resources.push(drift),
            Err(error) => self.errors.push(error),
        }
    }

    /// Counts per status and origin.
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            resources: self.resources.len(),
            ..Summary::default()
        };
        for r in &self.resources {
            if !r.is_drifted() {
                s.in_sync += 1;
                continue;
            }
            match r.status {
                DriftStatus::InSync => s.in_sync += 1,
                DriftStatus::Drifted => s.drifted += 1,
                DriftStatus::Missing => s.missing += 1,
                DriftStatus::Extraneous => s.extraneous += 1,
            }
            s.fields += r.changes.len();
            s.git += r.count(ChangeOrigin::Git);
            s.world += r.count(ChangeOrigin::World);
            s.conflicts += r.count(ChangeOrigin::Conflict);
        }
        s
    }

    /// Whether any resource drifted (policy `ignore` excluded).
    pub fn has_drift(&self) -> bool {
        self.resources.iter().any(ResourceDrift::is_drifted)
    }

    /// 1 when there were errors, else 2 when drift was found, else 0.
    pub fn exit_code(&self) -> i32 {
        if !self.errors.is_empty() {
            EXIT_ERROR
        } else if self.has_drift() {
            EXIT_DRIFT
        } else {
            EXIT_NO_DRIFT
        }
    }

    /// The machine-readable form: `{format_version, summary, exit_code, resources, errors}`.
    /// Sensitive values are already redacted in the changes.
    pub fn to_json(&self) -> Value {
        let resources: Vec<Value> = self
            .resources
            .iter()
            .map(|r| {
                json!({
                    "address": r.resource.address(),
                    "group": r.resource.group,
                    "kind": r.resource.kind,
                    "namespace": r.resource.namespace_or_empty(),
                    "name": r.resource.name,
                    "status": r.status,
                    "drifted": r.is_drifted(),
                    "policy": r.policy.as_str(),
                    "three_way": r.three_way,
                    "changes": r.changes,
                    "ignored": r.ignored,
                })
            })
            .collect();
        json!({
            "format_version": "1.0",
            "summary": self.summary(),
            "exit_code": self.exit_code(),
            "resources": resources,
            "errors": self.errors,
        })
    }

    /// Human text, in the spirit of Terraform's "Objects have changed outside of Terraform".
    pub fn to_human(&self) -> String {
        let s = self.summary();
        let mut out = String::new();
        if !self.has_drift() {
            out.push_str("No drift. Live state matches the desired configuration.\n");
        } else {
            let _ = writeln!(
                out,
                "Drift detected: {} of {} resources differ ({} fields: {} changed in Git, {} in the world, {} conflicts).",
                s.drifted + s.missing + s.extraneous,
                s.resources,
                s.fields,
                s.git,
                s.world,
                s.conflicts
            );
            if s.world + s.conflicts > 0 {
                out.push_str(
                    "Note: objects have changed outside of Strata since the last apply.\n",
                );
            }
        }
        for r in &self.resources {
            if !r.is_drifted() && r.ignored.is_empty() {
                continue;
            }
            let mark = match (r.is_drifted(), r.status) {
                (false, _) => "=",
                (true, DriftStatus::Missing) => "+",
                (true, DriftStatus::Extraneous) => "-",
                (true, _) => "~",
            };
            let _ = writeln!(
                out,
                "\n{mark} {} [{}; policy {}]",
                r.resource.address(),
                status_label(r),
                r.policy.as_str()
            );
            for c in &r.changes {
                let _ = writeln!(out, "    {}", human_change(c));
            }
            for i in &r.ignored {
                let _ = writeln!(
                    out,
                    "    (ignored) {}: {}",
                    readable(i.readable.as_ref(), &i.path),
                    i.reason
                );
            }
        }
        for e in &self.errors {
            let _ = writeln!(
                out,
                "\nError: {}{}",
                e.resource
                    .as_ref()
                    .map(|r| format!("{r}: "))
                    .unwrap_or_default(),
                e.message
            );
        }
        out
    }

    /// Markdown for a pull-request comment: a summary table and one collapsible `<details>`
    /// section per drifted resource, within GitHub's comment size limit.
    pub fn to_markdown(&self) -> String {
        self.to_markdown_within(GITHUB_COMMENT_LIMIT)
    }

    /// [`DriftReport::to_markdown`] kept under `limit` characters: the summary table and
    /// errors always come first; `<details>` sections that do not fit are left out and counted.
    pub fn to_markdown_within(&self, limit: usize) -> String {
        let s = self.summary();
        let mut out = String::from("## Strata drift report\n\n");
        if !self.has_drift() {
            out.push_str("**No drift.** Live state matches the desired configuration.\n");
        } else {
            let _ = writeln!(
                out,
                "**Drift detected:** {} of {} resources differ, {} fields ({} changed in Git, {} in the world, {} conflicts).\n",
                s.drifted + s.missing + s.extraneous,
                s.resources,
                s.fields,
                s.git,
                s.world,
                s.conflicts
            );
            out.push_str("| Resource | Status | Policy | Git | World | Conflicts | Ignored |\n");
            out.push_str("|---|---|---|---:|---:|---:|---:|\n");
            for r in self.resources.iter().filter(|r| r.is_drifted()) {
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {} | {} | {} | {} |",
                    md_escape(&r.resource.address()),
                    status_label(r),
                    r.policy.as_str(),
                    r.count(ChangeOrigin::Git),
                    r.count(ChangeOrigin::World),
                    r.count(ChangeOrigin::Conflict),
                    r.ignored.len()
                );
            }
        }
        if !self.errors.is_empty() {
            out.push_str("\n### Errors\n\n");
            for e in &self.errors {
                let _ = writeln!(
                    out,
                    "- {}{}",
                    e.resource
                        .as_ref()
                        .map(|r| format!("`{}`: ", md_escape(r)))
                        .unwrap_or_default(),
                    md_escape(&e.message)
                );
            }
        }
        const OMITTED_NOTE_RESERVE: usize = 200;
        let mut omitted = 0usize;
        for r in self.resources.iter().filter(|r| r.is_drifted()) {
            let section = details_section(r);
            if omitted == 0 && out.len() + section.len() + OMITTED_NOTE_RESERVE <= limit {
                out.push_str(&section);
            } else {
                omitted += 1;
            }
        }
        if omitted > 0 {
            let _ = writeln!(
                out,
                "\n_{omitted} resource section(s) left out to fit the comment size limit; the JSON report has every field._"
            );
        }
        out
    }
}

/// GitHub's limit on the length of a pull-request comment.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

fn details_section(r: &ResourceDrift) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n<details><summary><code>{}</code>: {}, {} field(s)</summary>\n",
        html_escape(&r.resource.address()),
        status_label(r),
        r.changes.len()
    );
    if !r.changes.is_empty() {
        out.push_str("| Field | Live | Desired | Last applied | Origin | Manager |\n");
        out.push_str("|---|---|---|---|---|---|\n");
        for c in &r.changes {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} |",
                md_escape(&readable(c.readable.as_ref(), &c.path)),
                md_value(c.live.as_ref()),
                md_value(c.desired.as_ref()),
                md_value(c.last_applied.as_ref()),
                c.origin.label(),
                c.manager
                    .as_deref()
                    .map(|m| format!("`{}`", md_escape(m)))
                    .unwrap_or_else(|| "-".into())
            );
        }
    }
    if !r.ignored.is_empty() {
        out.push_str("\nIgnored:\n");
        for i in &r.ignored {
            let _ = writeln!(
                out,
                "- `{}` ({})",
                md_escape(&readable(i.readable.as_ref(), &i.path)),
                md_escape(&i.reason)
            );
        }
    }
    out.push_str("\n</details>\n");
    out
}

fn status_label(r: &ResourceDrift) -> &'static str {
    if !r.is_drifted() && r.status != DriftStatus::InSync {
        return "ignored by policy";
    }
    match r.status {
        DriftStatus::InSync => "in sync",
        DriftStatus::Drifted => "drifted",
        DriftStatus::Missing => "missing from the world",
        DriftStatus::Extraneous => "no longer desired",
    }
}

fn show(v: Option<&Value>) -> String {
    match v {
        None => "(absent)".to_string(),
        Some(v) => serde_json::to_string(v).unwrap_or_else(|_| v.to_string()),
    }
}

/// A field's path in the readable form people read plans in (one notation for plan and drift,
/// [`strata_core::field_path`]): the one the diff recorded, else (a report read back from
/// JSON) the pointer's, where a token of digits reads as a list index.
fn readable(readable: Option<&String>, pointer: &str) -> String {
    match readable {
        Some(text) => text.clone(),
        None => strata_core::field_path::readable_of_pointer(pointer, None),
    }
}

fn human_change(c: &FieldChange) -> String {
    let path = readable(c.readable.as_ref(), &c.path);
    let (mark, body) = match (&c.live, &c.desired) {
        (None, Some(d)) => ("+", format!("{path} = {}", show(Some(d)))),
        (Some(l), None) => ("-", format!("{path} = {}", show(Some(l)))),
        (l, d) => (
            "~",
            format!("{path}: {} -> {}", show(l.as_ref()), show(d.as_ref())),
        ),
    };
    let mut line = format!("{mark} {body}  ({}", c.origin.label());
    if let Some(m) = &c.manager {
        let _ = write!(line, "; live field managed by {m}");
    }
    line.push(')');
    line
}

fn md_value(v: Option<&Value>) -> String {
    match v {
        None => "_absent_".to_string(),
        Some(v) => format!("`{}`", md_escape(&show(Some(v)))),
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('`', "'").replace('\n', " ")
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
