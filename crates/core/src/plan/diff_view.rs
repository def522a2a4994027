//! How a changed value reads in the human forms of a plan: a list shows the elements that
//! changed and, inside them, the fields (elements matched by their merge key, such as a
//! container's `name`, where the list has one, by position otherwise); a multi-line string
//! shows the lines that changed, unified-diff style. The JSON form keeps whole values.

use serde_json::Value;

use super::fields::values_equal;
use crate::field_path;

/// What a line of the view does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// A value or line that appears.
    Add,
    /// A value or line that goes.
    Remove,
    /// A value that changes (`before -> after`), or the heading of a changed text.
    Change,
    /// An unchanged line of a text, shown for context.
    Same,
}

/// One line of the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ViewLine {
    /// What the line does.
    pub mark: Mark,
    /// Nesting below the field's own line (text lines sit one level deeper).
    pub depth: usize,
    /// The text after the mark.
    pub text: String,
}

/// Lines of context kept around each changed line of a text.
const CONTEXT: usize = 2;
/// Texts longer than this (in lines, either side) are shown whole rather than diffed line by
/// line, which keeps the comparison's cost bounded.
const MAX_DIFF_LINES: usize = 2_000;

/// The view of the field at `path` (readable form) going from `before` to `after`.
pub(crate) fn view(path: &str, before: Option<&Value>, after: Option<&Value>) -> Vec<ViewLine> {
    let field = match field_path::parse_readable(path)
        .ok()
        .and_then(|p| p.last().cloned())
    {
        Some(field_path::PathSegment::Key(key)) => Some(key),
        _ => None,
    };
    let mut out = Vec::new();
    walk(path, field.as_deref(), before, after, &mut out);
    if out.is_empty() {
        // Values that read the same (both redacted as sensitive) still changed.
        out.push(line(
            Mark::Change,
            0,
            format!("{path} = {} -> {}", show(before), show(after)),
        ));
    }
    out
}

fn line(mark: Mark, depth: usize, text: String) -> ViewLine {
    ViewLine { mark, depth, text }
}

fn show(value: Option<&Value>) -> String {
    value.map_or_else(|| "(absent)".to_owned(), Value::to_string)
}

fn is_text(value: Option<&Value>) -> bool {
    matches!(value, Some(Value::String(s)) if s.contains('\n'))
}

/// `field` is the last key of `path`, which chooses a list's merge key.
fn walk(
    path: &str,
    field: Option<&str>,
    before: Option<&Value>,
    after: Option<&Value>,
    out: &mut Vec<ViewLine>,
) {
    match (before, after) {
        (Some(b), Some(a)) if values_equal(b, a) => {}
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let keys = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
            for key in keys {
                let mut child = path.to_owned();
                field_path::push_key(&mut child, key);
                walk(&child, Some(key), b.get(key), a.get(key), out);
            }
        }
        (Some(Value::Array(b)), Some(Value::Array(a))) => list(path, field, b, a, out),
        (b, a) if is_text(b) || is_text(a) => text(path, b, a, out),
        (None, Some(a)) => out.push(line(Mark::Add, 0, format!("{path} = {a}"))),
        (Some(b), None) => out.push(line(Mark::Remove, 0, format!("{path} = {b}"))),
        (b, a) => out.push(line(
            Mark::Change,
            0,
            format!("{path} = {} -> {}", show(b), show(a)),
        )),
    }
}

/// The merge key Kubernetes' strategic merge uses for lists named `field`, where every element
/// of both lists carries it with a distinct scalar value; `name` for lists of named elements
/// otherwise.
fn merge_key(field: Option<&str>, before: &[Value], after: &[Value]) -> Option<&'static str> {
    let candidates: &[&'static str] = match field {
        Some("ports") => &["containerPort", "port", "name"],
        Some("volumeMounts") => &["mountPath"],
        Some("volumeDevices") => &["devicePath"],
        Some("hostAliases") => &["ip"],
        Some("conditions") => &["type"],
        Some("imagePullSecrets" | "containers" | "initContainers" | "ephemeralContainers") => {
            &["name"]
        }
        _ => &["name"],
    };
    candidates.iter().copied().find(|key| {
        [before, after].iter().all(|items| {
            let mut seen = Vec::new();
            items.iter().all(|item| match item.get(key) {
                Some(v @ (Value::String(_) | Value::Number(_))) if !seen.contains(&v) => {
                    seen.push(v);
                    true
                }
                _ => false,
            })
        })
    })
}

/// The element of a list, by merge key (`[name="web"]`) or by position (`[3]`).
fn element(path: &str, key: Option<(&str, &Value)>, index: usize) -> String {
    match key {
        Some((name, value)) => format!("{path}[{name}={value}]"),
        None => {
            let mut out = path.to_owned();
            field_path::push_index(&mut out, index);
            out
        }
    }
}

fn list(
    path: &str,
    field: Option<&str>,
    before: &[Value],
    after: &[Value],
    out: &mut Vec<ViewLine>,
) {
    let Some(key) = merge_key(field, before, after) else {
        for index in 0..before.len().max(after.len()) {
            let at = element(path, None, index);
            walk(&at, None, before.get(index), after.get(index), out);
        }
        return;
    };
    let id = |item: &Value| item.get(key).cloned().unwrap_or(Value::Null);
    for (index, item) in after.iter().enumerate() {
        let value = id(item);
        let at = element(path, Some((key, &value)), index);
        let old = before.iter().find(|b| id(b) == value);
        walk(&at, None, old, Some(item), out);
    }
    for (index, item) in before.iter().enumerate() {
        let value = id(item);
        if !after.iter().any(|a| id(a) == value) {
            let at = element(path, Some((key, &value)), index);
            walk(&at, None, Some(item), None, out);
        }
    }
}

/// A multi-line string: a heading, then its lines with `-`/`+` where they differ and a few
/// unchanged ones around them.
fn text(path: &str, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<ViewLine>) {
    let lines = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::String(s)) => s.lines().map(str::to_owned).collect(),
            Some(other) => vec![other.to_string()],
            None => Vec::new(),
        }
    };
    let (old, new) = (lines(before), lines(after));
    let (mark, heading) = match (before, after) {
        (None, _) => (Mark::Add, format!("{path}: (text)")),
        (_, None) => (Mark::Remove, format!("{path}: (text)")),
        _ => (Mark::Change, format!("{path}: (text)")),
    };
    out.push(line(mark, 0, heading));
    if old.len() > MAX_DIFF_LINES || new.len() > MAX_DIFF_LINES {
        out.extend(old.into_iter().map(|l| line(Mark::Remove, 1, l)));
        out.extend(new.into_iter().map(|l| line(Mark::Add, 1, l)));
        return;
    }
    let ops = line_diff(&old, &new);
    let near_change = |i: usize| {
        let low = i.saturating_sub(CONTEXT);
        let high = (i + CONTEXT).min(ops.len().saturating_sub(1));
        ops[low..=high].iter().any(|(m, _)| *m != Mark::Same)
    };
    let mut skipped = false;
    for (i, (mark, text)) in ops.iter().enumerate() {
        if *mark == Mark::Same && !near_change(i) {
            if !skipped {
                out.push(line(Mark::Same, 1, "…".to_owned()));
                skipped = true;
            }
            continue;
        }
        skipped = false;
        out.push(line(*mark, 1, (*text).to_owned()));
    }
}

/// The lines of `old` and `new` as kept, removed and added lines (a longest common
/// subsequence; removals before additions at each change).
fn line_diff<'a>(old: &'a [String], new: &'a [String]) -> Vec<(Mark, &'a str)> {
    let (n, m) = (old.len(), new.len());
    // lcs[i][j]: the longest common subsequence of old[i..] and new[j..].
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < n || j < m {
        if i < n && j < m && old[i] == new[j] {
            out.push((Mark::Same, old[i].as_str()));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push((Mark::Remove, old[i].as_str()));
            i += 1;
        } else {
            out.push((Mark::Add, new[j].as_str()));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn texts(lines: &[ViewLine]) -> Vec<String> {
        lines
            .iter()
            .map(|l| {
                let mark = match l.mark {
                    Mark::Add => "+",
                    Mark::Remove => "-",
                    Mark::Change => "~",
                    Mark::Same => " ",
                };
                format!("{}{mark} {}", "  ".repeat(l.depth), l.text)
            })
            .collect()
    }

    #[test]
    fn containers_are_matched_by_name_and_show_only_changed_fields() {
        let before = json!([
            {"name": "web", "image": "nginx:1.25", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
            {"name": "old", "image": "busybox"}
        ]);
        let after = json!([
            {"name": "sidecar", "image": "envoy"},
            {"name": "web", "image": "nginx:1.27", "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "3"}]}
        ]);
        let lines = view("spec.containers", Some(&before), Some(&after));
        assert_eq!(
            texts(&lines),
            [
                r#"+ spec.containers[name="sidecar"] = {"name":"sidecar","image":"envoy"}"#,
                r#"~ spec.containers[name="web"].image = "nginx:1.25" -> "nginx:1.27""#,
                r#"~ spec.containers[name="web"].env[name="A"].value = "1" -> "3""#,
                r#"- spec.containers[name="old"] = {"name":"old","image":"busybox"}"#,
            ]
        );
    }

    #[test]
    fn ports_match_by_container_port_and_plain_lists_by_index() {
        let lines = view(
            "spec.ports",
            Some(&json!([{"containerPort": 80, "protocol": "TCP"}])),
            Some(&json!([{"containerPort": 80, "protocol": "UDP"}, {"containerPort": 443}])),
        );
        assert_eq!(
            texts(&lines),
            [
                r#"~ spec.ports[containerPort=80].protocol = "TCP" -> "UDP""#,
                r#"+ spec.ports[containerPort=443] = {"containerPort":443}"#,
            ]
        );
        let lines = view(
            "spec.args",
            Some(&json!(["a", "b"])),
            Some(&json!(["a", "c", "d"])),
        );
        assert_eq!(
            texts(&lines),
            [r#"~ spec.args[1] = "b" -> "c""#, r#"+ spec.args[2] = "d""#]
        );
    }

    #[test]
    fn multi_line_strings_show_changed_lines_with_context() {
        let before = json!("a\nb\nc\nd\ne\nf\ng\n");
        let after = json!("a\nb\nc\nD\ne\nf\ng\nh\n");
        let lines = view(r#"data["app.conf"]"#, Some(&before), Some(&after));
        assert_eq!(
            texts(&lines),
            [
                r#"~ data["app.conf"]: (text)"#,
                "    …",
                "    b",
                "    c",
                "  - d",
                "  + D",
                "    e",
                "    f",
                "    g",
                "  + h",
            ]
        );
    }

    #[test]
    fn a_change_that_reads_the_same_is_still_shown() {
        let hidden = json!("(sensitive)");
        assert_eq!(
            texts(&view("stringData.password", Some(&hidden), Some(&hidden))),
            [r#"~ stringData.password = "(sensitive)" -> "(sensitive)""#]
        );
    }

    #[test]
    fn keys_with_dots_slashes_and_tildes_stay_unambiguous() {
        let lines = view(
            "metadata.labels",
            Some(&json!({"app.kubernetes.io/name": "a", "x~y": "1"})),
            Some(&json!({"app.kubernetes.io/name": "b", "x~y": "1"})),
        );
        assert_eq!(
            texts(&lines),
            [r#"~ metadata.labels["app.kubernetes.io/name"] = "a" -> "b""#]
        );
    }
}
