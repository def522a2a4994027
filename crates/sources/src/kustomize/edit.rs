//! `kustomize edit set image`: rewriting a kustomization's `images` in place, keeping every
//! other line (comments, order, formatting) as it was.

use super::image::ImageRef;

/// Why an image argument or a kustomization could not be edited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EditError {
    /// An image argument is not `NAME=IMAGE:TAG` (or one of its short forms).
    #[error("{0:?}: expected NAME=IMAGE:TAG")]
    ImageArgument(String),
    /// The kustomization's `images` is a flow list (`images: [...]`), which is not edited.
    #[error("images: only block lists can be edited")]
    FlowList,
}

/// One `NAME=IMAGE[:TAG][@DIGEST]` argument (or `NAME[:TAG][@DIGEST]` to keep the name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetImage {
    /// The image name to match (`images[].name`).
    pub name: String,
    /// The new image name, when it changes.
    pub new_name: Option<String>,
    /// The new tag.
    pub new_tag: Option<String>,
    /// The new digest.
    pub digest: Option<String>,
}

impl SetImage {
    /// Parses `NAME=IMAGE:TAG`, `NAME=IMAGE@DIGEST`, `NAME:TAG` or `NAME@DIGEST`.
    pub fn parse(arg: &str) -> Result<Self, EditError> {
        let (name, image) = match arg.split_once('=') {
            Some((n, i)) => (n.to_string(), ImageRef::parse(i)),
            None => {
                let r = ImageRef::parse(arg);
                (r.name.clone(), r)
            }
        };
        if name.is_empty() || image.name.is_empty() {
            return Err(EditError::ImageArgument(arg.to_owned()));
        }
        Ok(SetImage {
            new_name: (image.name != name).then(|| image.name.clone()),
            name,
            new_tag: image.tag,
            digest: image.digest,
        })
    }
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// Splits `key: value  # comment` into (key, comment suffix including its leading spaces).
fn key_and_comment(content: &str) -> Option<(&str, &str)> {
    let (key, rest) = content.split_once(':')?;
    let comment = rest.find(" #").map_or("", |i| &rest[i..]);
    Some((key.trim(), comment))
}

fn quote(v: &str) -> String {
    let needs = v.is_empty()
        || v.parse::<f64>().is_ok()
        || matches!(v, "true" | "false" | "null" | "yes" | "no" | "~")
        || v.contains(": ")
        || v.contains(" #")
        || v.starts_with(['*', '&', '!', '[', '{', '"', '\'', '%', '@', '`']);
    if needs {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        v.to_string()
    }
}

/// Sets an image in a kustomization's text, as `kustomize edit set image` does: the entry
/// with the same `name` gets `newName` (when it differs from the name), `newTag` and/or
/// `digest` (a new tag drops an old digest and vice versa); a missing entry is appended to
/// `images`, and a missing `images` list is added at the end. Every other line is kept
/// byte for byte.
pub fn set_image(text: &str, set: &SetImage) -> Result<String, EditError> {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let trailing_newline = text.ends_with('\n') || text.is_empty();
    let images_at = lines
        .iter()
        .position(|l| l.starts_with("images:") && indent_of(l) == 0);
    let Some(start) = images_at else {
        while lines.last().is_some_and(|l| l.trim().is_empty()) {
            lines.pop();
        }
        lines.push("images:".into());
        lines.extend(entry_lines(set, ""));
        return Ok(finish(lines, true));
    };
    let after_key = lines[start]["images:".len()..].trim();
    if after_key.starts_with("[]") {
        lines[start] = "images:".into();
        let new = entry_lines(set, "");
        lines.splice(start + 1..start + 1, new);
        return Ok(finish(lines, trailing_newline));
    }
    if !after_key.is_empty() && !after_key.starts_with('#') {
        return Err(EditError::FlowList);
    }
    // The block: following lines that are indented, list items, blank or comments.
    let mut end = start + 1;
    while end < lines.len() {
        let l = &lines[end];
        if is_blank_or_comment(l) || indent_of(l) > 0 || l.starts_with("- ") || l == "-" {
            end += 1;
        } else {
            break;
        }
    }
    while end > start + 1 && lines[end - 1].trim().is_empty() {
        end -= 1;
    }
    // Entries: each starts at a `- ` line with the block's dash indentation.
    let dash_indent = (start + 1..end)
        .find(|&i| lines[i].trim_start().starts_with('-'))
        .map(|i| indent_of(&lines[i]));
    let Some(dash_indent) = dash_indent else {
        let new = entry_lines(set, "");
        lines.splice(start + 1..start + 1, new);
        return Ok(finish(lines, trailing_newline));
    };
    let starts: Vec<usize> = (start + 1..end)
        .filter(|&i| indent_of(&lines[i]) == dash_indent && lines[i].trim_start().starts_with('-'))
        .collect();
    for (n, &s) in starts.iter().enumerate() {
        let e = starts.get(n + 1).copied().unwrap_or(end);
        let field_indent = dash_indent + 2;
        // Fields of this entry: (line index, key).
        let mut fields: Vec<(usize, String)> = Vec::new();
        for (i, l) in lines.iter().enumerate().take(e).skip(s) {
            if is_blank_or_comment(l) {
                continue;
            }
            let content = if i == s {
                l.trim_start().trim_start_matches('-').trim_start()
            } else if indent_of(l) == field_indent {
                l.trim_start()
            } else {
                continue;
            };
            if let Some((k, _)) = key_and_comment(content) {
                fields.push((i, k.to_string()));
            }
        }
        let name_line = fields.iter().find(|(_, k)| k == "name").map(|(i, _)| *i);
        let Some(name_line) = name_line else { continue };
        let name_value = value_of(&lines[name_line]);
        if name_value != set.name {
            continue;
        }
        let pad = " ".repeat(field_indent);
        let mut wanted: Vec<(&str, Option<String>)> = Vec::new();
        wanted.push(("newName", set.new_name.clone()));
        if set.new_tag.is_some() || set.digest.is_some() {
            wanted.push(("newTag", set.new_tag.clone()));
            wanted.push(("digest", set.digest.clone()));
        }
        let mut removals = Vec::new();
        let mut insert_after = fields.iter().map(|(i, _)| *i).max().unwrap_or(name_line);
        let mut inserts = Vec::new();
        for (key, value) in wanted {
            let existing = fields.iter().find(|(_, k)| k == key).map(|(i, _)| *i);
            match (existing, value) {
                (Some(i), Some(v)) => {
                    lines[i] = replace_value(&lines[i], &quote(&v));
                }
                (Some(i), None) => {
                    if key != "newName" {
                        removals.push(i);
                    }
                }
                (None, Some(v)) => inserts.push(format!("{pad}{key}: {}", quote(&v))),
                (None, None) => {}
            }
        }
        removals.sort_unstable();
        for i in removals.iter().rev() {
            lines.remove(*i);
            if *i <= insert_after {
                insert_after = insert_after.saturating_sub(1);
            }
        }
        lines.splice(insert_after + 1..insert_after + 1, inserts);
        return Ok(finish(lines, trailing_newline));
    }
    let pad = " ".repeat(dash_indent);
    let new = entry_lines(set, &pad);
    lines.splice(end..end, new);
    Ok(finish(lines, trailing_newline))
}

fn value_of(line: &str) -> String {
    let content = line.trim_start().trim_start_matches('-').trim_start();
    let Some((_, rest)) = content.split_once(':') else {
        return String::new();
    };
    let rest = rest.find(" #").map_or(rest, |i| &rest[..i]).trim();
    rest.trim_matches('"').trim_matches('\'').to_string()
}

fn replace_value(line: &str, value: &str) -> String {
    let colon = line.find(':').unwrap_or(line.len());
    let rest = &line[colon..];
    let comment = rest.find(" #").map_or("", |i| &rest[i..]);
    format!("{}: {value}{comment}", &line[..colon])
}

fn entry_lines(set: &SetImage, pad: &str) -> Vec<String> {
    let mut out = vec![format!("{pad}- name: {}", quote(&set.name))];
    for (key, value) in [
        ("newName", &set.new_name),
        ("newTag", &set.new_tag),
        ("digest", &set.digest),
    ] {
        if let Some(v) = value {
            out.push(format!("{pad}  {key}: {}", quote(v)));
        }
    }
    out
}

fn finish(lines: Vec<String>, trailing_newline: bool) -> String {
    let mut s = lines.join("\n");
    if trailing_newline {
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_the_matching_entry_in_place() {
        let text = "# staging overlay\nresources:\n- ../../base\nimages:\n- name: web # the app\n  newName: ghcr.io/org/web\n  newTag: abc123 # promoted\n- name: sidecar\n  newTag: \"1\"\npatches: []\n";
        let set = SetImage::parse("web=ghcr.io/org/web:def456").unwrap();
        let out = set_image(text, &set).unwrap();
        assert_eq!(
            out,
            text.replace("newTag: abc123 # promoted", "newTag: def456 # promoted")
        );
    }

    #[test]
    fn appends_entries_and_lists() {
        let text = "resources:\n  - deployment.yaml\n";
        let out = set_image(text, &SetImage::parse("web=reg/web:2").unwrap()).unwrap();
        assert_eq!(
            out,
            "resources:\n  - deployment.yaml\nimages:\n- name: web\n  newName: reg/web\n  newTag: \"2\"\n"
        );
        let again = set_image(&out, &SetImage::parse("db:15").unwrap()).unwrap();
        assert!(
            again.ends_with("  newTag: \"2\"\n- name: db\n  newTag: \"15\"\n"),
            "{again}"
        );
        let digest = set_image(&again, &SetImage::parse("web=reg/web@sha256:ff").unwrap()).unwrap();
        assert!(
            digest.contains("- name: web\n  newName: reg/web\n  digest: sha256:ff\n"),
            "{digest}"
        );
    }

    #[test]
    fn errors_say_what_is_expected() {
        assert_eq!(
            SetImage::parse("=web").unwrap_err().to_string(),
            "\"=web\": expected NAME=IMAGE:TAG"
        );
        let set = SetImage::parse("web:2").unwrap();
        assert_eq!(
            set_image("images: [{name: web}]\n", &set).unwrap_err(),
            EditError::FlowList
        );
    }
}
