//! Rendering plans for people (Terraform-like text) and for programs (JSON).

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::diff_view::{Mark, view};
use super::fields::leaves;
use super::{Action, Plan, ResourceChange, Summary, Violation};

/// ANSI colours, used only when asked for (the CLI asks on a terminal).
#[derive(Clone, Copy)]
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
        Action::DeleteThenCreate | Action::CreateThenDelete
            if change.reason == Some(super::ActionReason::ReplaceByRequest) =>
        {
            "will be replaced, as requested"
        }
        Action::DeleteThenCreate | Action::CreateThenDelete => "must be replaced",
        Action::Delete => "will be destroyed",
    }
}

/// Whether a field line adds, removes or changes a value, or is context.
#[derive(Debug, Clone, Copy)]
enum Sign {
    Add,
    Remove,
    Change,
    Same,
}

impl Sign {
    /// The marker and its ANSI colour.
    fn mark(self) -> (&'static str, &'static str) {
        match self {
            Sign::Add => ("+", "32"),
            Sign::Remove => ("-", "31"),
            Sign::Change => ("~", "33"),
            Sign::Same => (" ", "0"),
        }
    }
}

impl From<Mark> for Sign {
    fn from(mark: Mark) -> Self {
        match mark {
            Mark::Add => Sign::Add,
            Mark::Remove => Sign::Remove,
            Mark::Change => Sign::Change,
            Mark::Same => Sign::Same,
        }
    }
}

/// One line of a resource's change, shared by the text and Markdown forms.
struct DiffLine {
    /// `None` for the line standing for a whole deleted object.
    sign: Option<Sign>,
    /// Nesting below the field's line (the lines of a changed text).
    depth: usize,
    text: String,
    forces_replacement: bool,
}

/// The lines of one field's view; the first carries `forces_replacement`.
fn field_lines(
    path: &str,
    before: Option<&Value>,
    after: Option<&Value>,
    forces_replacement: bool,
) -> Vec<DiffLine> {
    view(path, before, after)
        .into_iter()
        .enumerate()
        .map(|(i, line)| DiffLine {
            sign: Some(line.mark.into()),
            depth: line.depth,
            text: line.text,
            forces_replacement: forces_replacement && i == 0,
        })
        .collect()
}

/// The lines describing one change: every field of a created object, a note for a deleted one,
/// the changed fields otherwise (a list by its changed elements, a text by its changed lines).
fn diff_lines(change: &ResourceChange) -> Vec<DiffLine> {
    match change.action {
        Action::Create => change
            .after()
            .map(|after| {
                leaves(&after)
                    .into_iter()
                    .flat_map(|(path, value)| field_lines(&path, None, Some(&value), false))
                    .collect()
            })
            .unwrap_or_default(),
        Action::Delete => vec![DiffLine {
            sign: None,
            depth: 0,
            text: "(every field is removed)".to_owned(),
            forces_replacement: false,
        }],
        _ => change
            .fields
            .iter()
            .flat_map(|f| {
                field_lines(
                    &f.path,
                    f.before.as_ref(),
                    f.after.as_ref(),
                    f.forces_replacement,
                )
            })
            .collect(),
    }
}

/// The plan as text: each changed resource with its provider and fields, guard violations, and
/// a summary line (`Plan: 1 to add, 2 to change, 0 to destroy.`).
pub fn render_human(plan: &Plan, colour: bool) -> String {
    let mut out = String::new();
    let Ok(()) = emit_human::<std::convert::Infallible>(plan, colour, |piece| {
        out.push_str(piece);
        Ok(())
    });
    out
}

/// [`render_human`] written to `out` as it is made: the same bytes, without holding the whole
/// text (a plan of 100 000 creates is about 50 MB of it) or a piece of it per change.
///
/// # Errors
///
/// When writing to `out` fails.
pub fn write_human(plan: &Plan, colour: bool, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    emit_human(plan, colour, |piece| out.write_all(piece.as_bytes()))
}

/// Changes rendered at once by [`emit_human`]: large enough to keep every core busy, small
/// enough that their text stays a few megabytes.
const RENDER_BATCH: usize = 16_384;

/// Changes rendered into one piece of text on one thread.
const RENDER_PIECE: usize = 256;

/// The human plan handed to `sink` piece by piece, in order.
fn emit_human<E>(
    plan: &Plan,
    colour: bool,
    mut sink: impl FnMut(&str) -> Result<(), E>,
) -> Result<(), E> {
    let p = Palette { on: colour };
    let changed: Vec<&ResourceChange> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .collect();
    sink(human_header(!changed.is_empty()))?;
    if !changed.is_empty() {
        // Each change's text depends only on the change: large plans are written on every
        // core, a run of changes into one text, then handed over in plan order.
        for batch in changed.chunks(RENDER_BATCH) {
            let pieces: Vec<&[&ResourceChange]> = batch.chunks(RENDER_PIECE).collect();
            let texts = crate::par::map_if(
                pieces,
                |_| batch.len() >= crate::par::PARALLEL_THRESHOLD,
                |piece| {
                    let mut text = String::new();
                    for change in piece {
                        change_block(&mut text, change, p);
                    }
                    text
                },
            );
            for text in &texts {
                sink(text)?;
            }
        }
    }
    sink(&human_footer(&plan.violations, plan.summary(), colour))
}

/// The first line of the human plan: whether it changes anything (some change is not a
/// no-op). What follows it is the [`human_change`] text of each such change, in plan order,
/// then the [`human_footer`].
pub fn human_header(changes: bool) -> &'static str {
    if changes {
        "Strata will perform the following actions:\n"
    } else {
        "No changes. The live resources match the desired state.\n"
    }
}

/// The text of one change in the human plan (nothing for a no-op), `colour`ed or not: each
/// change's text depends only on the change.
pub fn human_change(change: &ResourceChange, colour: bool) -> String {
    let mut text = String::new();
    if change.action != Action::NoOp {
        change_block(&mut text, change, Palette { on: colour });
    }
    text
}

/// The end of the human plan: the guard violations, then the summary line.
pub fn human_footer(violations: &[Violation], summary: Summary, colour: bool) -> String {
    let p = Palette { on: colour };
    let mut out = String::new();
    if !violations.is_empty() {
        out.push_str("\nThe plan cannot be applied:\n");
        for v in violations {
            let _ = writeln!(out, "  {} {}", p.paint("31", "✗"), v.message);
        }
    }
    let _ = writeln!(
        out,
        "\nPlan: {} to add, {} to change, {} to destroy.",
        summary.add, summary.change, summary.destroy
    );
    out
}

/// The text of one change in the human plan, appended to `out`.
fn change_block(out: &mut String, change: &ResourceChange, p: Palette) {
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
    for line in diff_lines(change) {
        let indent = "    ".repeat(line.depth);
        match line.sign {
            Some(sign) => {
                let (mark, code) = sign.mark();
                let _ = write!(out, "      {indent}{} {}", p.paint(code, mark), line.text);
            }
            None => {
                let _ = write!(out, "      {}", line.text);
            }
        }
        if line.forces_replacement {
            out.push_str(&p.paint("31", " # forces replacement"));
        }
        out.push('\n');
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

/// The plan as JSON, in the spirit of `terraform show -json`: `resource_changes[]` with
/// `change.actions`, `before`, `after`, `replace_paths`, plus Strata's field list, provider,
/// blast radius and guard violations. Field paths (`fields[].path`, `replace_paths`) are JSON
/// pointers (RFC 6901).
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
                    "replace_paths": c.replace_paths.iter().map(|p| pointer_of(p)).collect::<Vec<_>>(),
                    "fields": c.fields.iter().map(field_json).collect::<Vec<_>>(),
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

/// A field path of the plan as its JSON pointer. The plan writes its paths in the readable
/// form, which always reads back; a path that did not (none does) is kept as it is rather
/// than lost.
fn pointer_of(path: &str) -> String {
    crate::field_path::pointer_of_readable(path).unwrap_or_else(|_| path.to_owned())
}

/// One field change in the JSON: its path as a JSON pointer.
fn field_json(field: &super::FieldChange) -> Value {
    let mut value = json!({
        "path": pointer_of(&field.path),
        "before": field.before,
        "after": field.after,
    });
    if field.forces_replacement {
        value["forces_replacement"] = true.into();
    }
    value
}

/// Options for the Markdown (pull-request comment) form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MarkdownOptions {
    /// Largest comment produced, in bytes (GitHub's limit is 65 536); longer comments are cut
    /// at a resource boundary with a note saying how much was left out.
    pub max_bytes: usize,
}

impl MarkdownOptions {
    /// Sets [`max_bytes`](Self::max_bytes).
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }
}

impl Default for MarkdownOptions {
    fn default() -> Self {
        Self { max_bytes: 60_000 }
    }
}

/// The label that groups resources into environments in the Markdown form.
pub const LABEL_ENVIRONMENT: &str = "strata.dev/environment";

/// Labels read, in order, to tell a resource's environment: Strata's own, then the ones
/// platform repositories commonly set.
const ENVIRONMENT_LABELS: &[&str] = &[LABEL_ENVIRONMENT, "environment", "env"];

fn environment_of(change: &ResourceChange) -> String {
    change
        .resource
        .as_ref()
        .and_then(|r| {
            ENVIRONMENT_LABELS
                .iter()
                .find_map(|l| crate::model::label(&r.manifest, l))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| "default".to_owned())
}

/// The plan as a pull-request comment in the style Atlantis users know: per environment, counts
/// of add / change / replace / destroy, a collapsible block per changed resource, a drift
/// section for resources changed outside Strata, guard violations, sensitive values redacted,
/// and a size cap.
pub fn render_markdown(plan: &Plan, options: MarkdownOptions) -> String {
    render_markdown_grouped(plan, options, |_| None)
}

/// Like [`render_markdown`], grouping resources by `group` (an Application's name, say) where
/// it returns one, else by their environment label.
pub fn render_markdown_grouped(
    plan: &Plan,
    options: MarkdownOptions,
    group: impl Fn(&ResourceChange) -> Option<String>,
) -> String {
    use std::collections::BTreeMap;

    let mut by_env: BTreeMap<String, Vec<&ResourceChange>> = BTreeMap::new();
    for c in &plan.changes {
        let name = group(c).unwrap_or_else(|| environment_of(c));
        by_env.entry(name).or_default().push(c);
    }
    let s = plan.summary();
    let mut head = format!("## Strata plan for `{}`\n\n", plan.stack);
    if plan.has_changes() {
        let _ = writeln!(
            head,
            "**Plan:** {} to add, {} to change, {} to destroy ({} replaced).\n",
            s.add, s.change, s.destroy, s.replace
        );
    } else {
        head.push_str("**No changes.** The live resources match the desired state.\n\n");
    }
    if !plan.violations.is_empty() {
        head.push_str("> [!CAUTION]\n> This plan cannot be applied:\n");
        for v in &plan.violations {
            let _ = writeln!(head, "> - {}", v.message);
        }
        head.push('\n');
    }
    head.push_str("| Environment | Add | Change | Replace | Destroy | Unchanged |\n|---|---:|---:|---:|---:|---:|\n");
    for (env, changes) in &by_env {
        let count = |f: &dyn Fn(Action) -> bool| changes.iter().filter(|c| f(c.action)).count();
        let _ = writeln!(
            head,
            "| `{env}` | {} | {} | {} | {} | {} |",
            count(&|a| a == Action::Create),
            count(&|a| a == Action::Update),
            count(&|a| a.is_replace()),
            count(&|a| a == Action::Delete),
            count(&|a| a == Action::NoOp),
        );
    }
    head.push('\n');

    let mut blocks: Vec<String> = Vec::new();
    for (env, changes) in &by_env {
        let changed: Vec<&&ResourceChange> = changes
            .iter()
            .filter(|c| c.action != Action::NoOp)
            .collect();
        if changed.is_empty() {
            continue;
        }
        blocks.push(format!("### Environment `{env}`\n\n"));
        for change in changed {
            blocks.push(markdown_block(change));
        }
    }
    let drifted: Vec<&ResourceChange> = plan.changes.iter().filter(|c| c.drifted).collect();
    if !drifted.is_empty() {
        let mut drift = String::from(
            "### Drift\n\nChanged outside Strata since the last apply (the plan puts them back):\n\n",
        );
        for c in drifted {
            let _ = writeln!(drift, "- `{}` ({})", c.key, c.provider);
        }
        drift.push('\n');
        blocks.push(drift);
    }

    let mut out = head;
    let total = blocks.len();
    for (i, block) in blocks.into_iter().enumerate() {
        let note_room = 200;
        if out.len() + block.len() + note_room > options.max_bytes {
            let _ = writeln!(
                out,
                "\n> [!NOTE]\n> The plan was cut to fit a comment: {} of {total} sections are not shown. Run `strata plan -o json` for the whole plan.",
                total - i
            );
            return out;
        }
        out.push_str(&block);
    }
    out
}

fn markdown_block(change: &ResourceChange) -> String {
    let (sym, _) = symbol(change.action);
    let mut body = String::new();
    for line in diff_lines(change) {
        let mark = line.sign.map_or("-", |sign| sign.mark().0);
        let note = if line.forces_replacement {
            "  # forces replacement"
        } else {
            ""
        };
        let _ = writeln!(
            body,
            "{mark} {}{}{note}",
            "    ".repeat(line.depth),
            line.text
        );
    }
    let mut block = format!(
        "<details><summary><code>{sym}</code> <code>{}</code> ({}) {}</summary>\n\n```diff\n{body}```\n",
        change.key,
        change.provider,
        headline(change)
    );
    if !change.blast_radius.is_empty() {
        let names: Vec<String> = change
            .blast_radius
            .iter()
            .map(|k| format!("`{k}`"))
            .collect();
        let _ = writeln!(block, "\nBlast radius: {}", names.join(", "));
    }
    block.push_str("\n</details>\n\n");
    block
}
