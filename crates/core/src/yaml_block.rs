//! A quick reader for the block YAML most manifests are written in, and Helm renders.
//!
//! [`crate::yaml::value_from_str`] builds a document's value from the YAML parser's events when
//! the document needs none of the full parser's features; that still runs the full scanner,
//! which costs about a hundred instructions per byte. Most manifests are simpler still: block
//! mappings and sequences by indentation, one-line plain or quoted scalars, flow collections
//! written on one line, literal block scalars (`|`, `|-`, `|+`), comments. This module reads
//! exactly that, line by line, and gives up (`None`) at anything else — folded scalars (`>`),
//! explicit indentation indicators, multi-line plain or quoted scalars, anchors,
//! aliases, tags, directives, complex or non-string keys, duplicate keys, tabs, carriage
//! returns, characters YAML does not allow or reads as line breaks, escapes beyond the common
//! ones — so that the caller's slower path decides. Scalars resolve through the quick path's
//! own rules ([`crate::yaml::fast_scalar`], [`crate::yaml::fast_key`]), so a value read here is
//! the value the full parser gives; a property test holds it to that.

use std::borrow::Cow;

use granit_parser::ScalarStyle;
use serde_json::{Map, Value};

use crate::yaml::{fast_key, fast_scalar};

/// Deeper than this, the event-driven path decides.
const MAX_BLOCK_DEPTH: usize = crate::yaml::MAX_DEPTH / 2;

/// Implicit keys longer than this are left to the full parser, which bounds them.
const MAX_KEY_BYTES: usize = 1000;

/// The value of one block-style YAML document, or `None` when it needs more than this reader
/// reads (see the [module](self) documentation).
pub(crate) fn value(text: &str) -> Option<Value> {
    if !allowed_characters(text) {
        return None;
    }
    let mut raw: Vec<&str> = text.split('\n').collect();
    let ends_with_break = text.ends_with('\n');
    if ends_with_break {
        // The empty text after the last line break is no line.
        raw.pop();
    }
    let lines = content_lines(&raw)?;
    let mut reader = Reader {
        raw,
        ends_with_break,
        lines,
        at: 0,
    };
    let first = reader.peek()?;
    let root = reader.node(first.indent, 0)?;
    if reader.peek().is_some() {
        return None;
    }
    Some(root)
}

/// Whether every character is one this reader takes as it is: no tab, carriage return or other
/// control character, no C1 control (YAML 1.1 reads U+0085 as a line break), no line or
/// paragraph separator, byte-order mark or non-character.
fn allowed_characters(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            if (b < 0x20 && b != b'\n') || b == 0x7F {
                return false;
            }
            i += 1;
            continue;
        }
        let rest = &bytes[i..];
        let refused = matches!(rest, [0xC2, 0x80..=0x9F, ..])
            || matches!(rest, [0xE2, 0x80, 0xA8 | 0xA9, ..])
            || matches!(rest, [0xEF, 0xBB, 0xBF, ..])
            || matches!(rest, [0xEF, 0xBF, 0xBE | 0xBF, ..]);
        if refused {
            return false;
        }
        i += 1;
    }
    true
}

/// A line holding content: its indentation, the text after it and its index among all lines.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    indent: usize,
    content: &'a str,
    raw: usize,
}

/// The lines holding content (blank lines and comment lines left out); `None` for directives,
/// document markers other than a leading `---`, or a second document.
fn content_lines<'a>(raw_lines: &[&'a str]) -> Option<Vec<Line<'a>>> {
    let mut lines = Vec::new();
    let mut started = false;
    for (index, &raw) in raw_lines.iter().enumerate() {
        let content = raw.trim_start_matches(' ');
        let content_end = content.trim_end_matches(' ');
        if content_end.is_empty() || content_end.starts_with('#') {
            continue;
        }
        let indent = raw.len() - content.len();
        if indent == 0 {
            let marker = |m: &str| {
                content_end == m
                    || content_end
                        .strip_prefix(m)
                        .is_some_and(|r| r.starts_with(' '))
            };
            if content_end.starts_with('%') || marker("...") {
                return None;
            }
            if marker("---") {
                if started || content_end != "---" {
                    return None;
                }
                started = true;
                continue;
            }
        }
        started = true;
        lines.push(Line {
            indent,
            content: content_end,
            raw: index,
        });
    }
    Some(lines)
}

struct Reader<'a> {
    /// Every line of the document, for block scalars (whose blank and `#` lines are text).
    raw: Vec<&'a str>,
    /// Whether the document's last line ends with a line break.
    ends_with_break: bool,
    lines: Vec<Line<'a>>,
    at: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<Line<'a>> {
        self.lines.get(self.at).copied()
    }

    /// The block node whose first line is the next one, at `indent`.
    fn node(&mut self, indent: usize, depth: usize) -> Option<Value> {
        let line = self.peek().filter(|l| l.indent == indent)?;
        if is_sequence_entry(line.content) {
            self.sequence(indent, depth)
        } else {
            self.mapping(indent, None, depth)
        }
    }

    /// The value of an entry whose line held nothing after its indicator: the block on the
    /// next lines when deeper than `indent` (or a sequence at `indent` for a mapping's value),
    /// else null.
    fn nested(&mut self, indent: usize, sequence_here: bool, depth: usize) -> Option<Value> {
        match self.peek() {
            Some(next) if next.indent > indent => self.node(next.indent, depth + 1),
            Some(next)
                if sequence_here && next.indent == indent && is_sequence_entry(next.content) =>
            {
                self.sequence(indent, depth + 1)
            }
            _ => Some(Value::Null),
        }
    }

    /// The value written after an entry's indicator on the line `raw` (a block scalar's
    /// header, or a one-line scalar or flow collection) of a node at `indent`.
    fn scalar_here(&mut self, body: &str, indent: usize, raw: usize) -> Option<Value> {
        if body.starts_with('|') {
            return self.literal(body, indent, raw);
        }
        let value = inline(body)?;
        if self.peek().is_some_and(|next| next.indent > indent) {
            // A scalar continued on the next lines.
            return None;
        }
        Some(value)
    }

    /// A literal block scalar whose header (`|`, `|-` or `|+`, maybe a comment) is on line
    /// `raw`, in a node at `indent`: the lines after it indented deeper, with their common
    /// indentation taken off.
    fn literal(&mut self, header: &str, indent: usize, raw: usize) -> Option<Value> {
        let chomping = header[1..].chars().next();
        let after = match chomping {
            Some('-' | '+') => &header[2..],
            _ => &header[1..],
        };
        if !ends_cleanly(after) {
            return None;
        }
        let mut text_lines: Vec<Option<&str>> = Vec::new();
        let mut content_indent: Option<usize> = None;
        let mut last = raw;
        for (index, line) in self.raw.iter().enumerate().skip(raw + 1) {
            let content = line.trim_start_matches(' ');
            let spaces = line.len() - content.len();
            if content.is_empty() {
                // A blank line: no more spaces than the text's indentation (beyond it they
                // would be text, left to the full parser).
                if content_indent.is_some_and(|i| spaces > i)
                    || (content_indent.is_none() && spaces > indent + 1)
                {
                    return None;
                }
                text_lines.push(None);
                last = index;
                continue;
            }
            if spaces <= indent {
                break;
            }
            let at = *content_indent.get_or_insert(spaces);
            if spaces < at {
                return None;
            }
            text_lines.push(Some(&line[at..]));
            last = index;
        }
        content_indent?;
        if last + 1 == self.raw.len() && !self.ends_with_break {
            // The text runs to the end of a document without a final line break.
            return None;
        }
        let kept = text_lines.iter().rposition(Option::is_some)?;
        let mut text = String::new();
        for line in &text_lines[..=kept] {
            text.push_str(line.unwrap_or(""));
            text.push('\n');
        }
        match chomping {
            Some('-') => {
                text.pop();
            }
            Some('+') => {
                for _ in kept + 1..text_lines.len() {
                    text.push('\n');
                }
            }
            _ => {}
        }
        // The lines read are no longer content lines to come.
        while self.peek().is_some_and(|l| l.raw <= last) {
            self.at += 1;
        }
        Some(Value::String(text))
    }

    /// A block sequence whose entries start at `indent`.
    fn sequence(&mut self, indent: usize, depth: usize) -> Option<Value> {
        if depth >= MAX_BLOCK_DEPTH {
            return None;
        }
        let mut items = Vec::new();
        while let Some(line) = self.peek().filter(|l| l.indent == indent) {
            if !is_sequence_entry(line.content) {
                break;
            }
            self.at += 1;
            let rest = &line.content[1..];
            let body = rest.trim_start_matches(' ');
            if body.is_empty() || body.starts_with('#') {
                items.push(self.nested(indent, false, depth)?);
                continue;
            }
            if is_sequence_entry(body) {
                return None;
            }
            let column = indent + 1 + (rest.len() - body.len());
            if let Some(entry) = split_key(body) {
                items.push(self.mapping(column, Some((entry, line.raw)), depth + 1)?);
            } else {
                items.push(self.scalar_here(body, indent, line.raw)?);
            }
        }
        if self.peek().is_some_and(|next| next.indent > indent) {
            return None;
        }
        Some(Value::Array(items))
    }

    /// A block mapping whose keys start at `indent`; `first` is its first entry (key, what
    /// follows the key, line) when it began on a sequence entry's line.
    fn mapping(
        &mut self,
        indent: usize,
        mut first: Option<((String, &'a str), usize)>,
        depth: usize,
    ) -> Option<Value> {
        if depth >= MAX_BLOCK_DEPTH {
            return None;
        }
        let mut entries: Vec<(String, Value)> = Vec::new();
        loop {
            let ((key, rest), raw) = match first.take() {
                Some(entry) => entry,
                None => match self.peek() {
                    Some(line) if line.indent == indent => {
                        self.at += 1;
                        (split_key(line.content)?, line.raw)
                    }
                    _ => break,
                },
            };
            let rest = rest.trim_start_matches(' ');
            let value = if rest.is_empty() || rest.starts_with('#') {
                self.nested(indent, true, depth)?
            } else {
                self.scalar_here(rest, indent, raw)?
            };
            entries.push((key, value));
        }
        if self.peek().is_some_and(|next| next.indent > indent) {
            return None;
        }
        let mut map = Map::with_capacity(entries.len());
        for (key, value) in entries {
            if map.insert(key, value).is_some() {
                // A duplicate key: the full parser reports it.
                return None;
            }
        }
        Some(Value::Object(map))
    }
}

/// Whether a line's content is a block sequence entry (`-` then a space, or alone).
fn is_sequence_entry(content: &str) -> bool {
    content == "-" || content.starts_with("- ")
}

/// A mapping entry's key (a string whatever the schema) and what follows its `:`; `None` when
/// the content is no such entry.
fn split_key(content: &str) -> Option<(String, &str)> {
    let first = *content.as_bytes().first()?;
    if first == b'"' || first == b'\'' {
        let (text, after) = quoted(content)?;
        let rest = after.strip_prefix(':')?;
        if !(rest.is_empty() || rest.starts_with(' '))
            || content.len() - after.len() > MAX_KEY_BYTES
        {
            return None;
        }
        let style = if first == b'"' {
            ScalarStyle::DoubleQuoted
        } else {
            ScalarStyle::SingleQuoted
        };
        return Some((fast_key(Cow::Owned(text), style)?, rest));
    }
    if is_indicator(content) {
        return None;
    }
    let bytes = content.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b':' if i + 1 == bytes.len() || bytes[i + 1] == b' ' => break,
            b'#' if i > 0 && bytes[i - 1] == b' ' => return None,
            _ => i += 1,
        }
    }
    if i == bytes.len() || i > MAX_KEY_BYTES {
        return None;
    }
    let key = &content[..i];
    if key.ends_with(' ') {
        return None;
    }
    Some((
        fast_key(Cow::Borrowed(key), ScalarStyle::Plain)?,
        &content[i + 1..],
    ))
}

/// Whether `content` starts with a character that cannot start a plain scalar here (or that
/// this reader leaves to the full parser).
fn is_indicator(content: &str) -> bool {
    let bytes = content.as_bytes();
    match bytes.first() {
        None => true,
        Some(b'-') => matches!(bytes.get(1), None | Some(b' ')),
        Some(
            b'?' | b':' | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|'
            | b'>' | b'\'' | b'"' | b'%' | b'@' | b'`',
        ) => true,
        Some(_) => false,
    }
}

/// The value of a scalar written on one line after an entry's indicator, with an optional
/// comment after it.
fn inline(body: &str) -> Option<Value> {
    match body.as_bytes().first()? {
        b'"' | b'\'' => {
            let (text, after) = quoted(body)?;
            ends_cleanly(after).then_some(Value::String(text))
        }
        b'{' | b'[' => {
            let (value, after) = flow(body, 0)?;
            ends_cleanly(after).then_some(value)
        }
        _ if is_indicator(body) => None,
        _ => {
            let text = match body.find(" #") {
                Some(comment) => &body[..comment],
                None => body,
            }
            .trim_end_matches(' ');
            if text.contains(": ") || text.ends_with(':') {
                return None;
            }
            fast_scalar(Cow::Borrowed(text), ScalarStyle::Plain)
        }
    }
}

/// A flow collection (`[...]` or `{...}`) that closes on this line, and what follows it. Its
/// plain scalars are words the quick path resolves; its mappings hold `key: value` entries.
fn flow(text: &str, depth: usize) -> Option<(Value, &str)> {
    if depth >= MAX_BLOCK_DEPTH {
        return None;
    }
    let (open, close) = match text.as_bytes().first()? {
        b'[' => (true, b']'),
        b'{' => (false, b'}'),
        _ => return None,
    };
    let sequence = open;
    let mut rest = text[1..].trim_start_matches(' ');
    let mut items = Vec::new();
    let mut entries: Vec<(String, Value)> = Vec::new();
    if let Some(after) = rest.strip_prefix(close as char) {
        return Some((
            if sequence {
                Value::Array(items)
            } else {
                Value::Object(Map::new())
            },
            after,
        ));
    }
    loop {
        if sequence {
            let (item, after) = flow_node(rest, depth)?;
            items.push(item);
            rest = after;
        } else {
            let (key, after) = flow_key(rest)?;
            let (value, after) =
                flow_node(after.strip_prefix(": ")?.trim_start_matches(' '), depth)?;
            entries.push((key, value));
            rest = after;
        }
        rest = rest.trim_start_matches(' ');
        match rest.as_bytes().first()? {
            b',' => {
                rest = rest[1..].trim_start_matches(' ');
                // A trailing comma is left to the full parser.
                if rest.starts_with(close as char) {
                    return None;
                }
            }
            &b if b == close => {
                rest = &rest[1..];
                break;
            }
            _ => return None,
        }
    }
    if sequence {
        return Some((Value::Array(items), rest));
    }
    let mut map = Map::with_capacity(entries.len());
    for (key, value) in entries {
        if map.insert(key, value).is_some() {
            return None;
        }
    }
    Some((Value::Object(map), rest))
}

/// A flow mapping's key and what follows it.
fn flow_key(text: &str) -> Option<(String, &str)> {
    match text.as_bytes().first()? {
        b'"' | b'\'' => {
            let style = if text.starts_with('"') {
                ScalarStyle::DoubleQuoted
            } else {
                ScalarStyle::SingleQuoted
            };
            let (key, after) = quoted(text)?;
            if text.len() - after.len() > MAX_KEY_BYTES {
                return None;
            }
            Some((fast_key(Cow::Owned(key), style)?, after))
        }
        _ => {
            let (plain, after) = flow_plain(text)?;
            (plain.len() <= MAX_KEY_BYTES)
                .then(|| fast_key(Cow::Borrowed(plain), ScalarStyle::Plain))
                .flatten()
                .map(|key| (key, after))
        }
    }
}

/// A value inside a flow collection and what follows it.
fn flow_node(text: &str, depth: usize) -> Option<(Value, &str)> {
    match text.as_bytes().first()? {
        b'[' | b'{' => flow(text, depth + 1),
        b'"' | b'\'' => {
            let (value, after) = quoted(text)?;
            Some((Value::String(value), after))
        }
        _ => {
            let (plain, after) = flow_plain(text)?;
            if after.starts_with(':') {
                // `[a: b]`, a one-pair mapping: left to the full parser.
                return None;
            }
            Some((
                fast_scalar(Cow::Borrowed(plain), ScalarStyle::Plain)?,
                after,
            ))
        }
    }
}

/// A plain scalar inside a flow collection: up to `,`, `]`, `}`, `: ` or a comment.
fn flow_plain(text: &str) -> Option<(&str, &str)> {
    if is_indicator(text)
        || text.starts_with('-') && !text[1..].starts_with(|c: char| c.is_ascii_alphanumeric())
    {
        return None;
    }
    let bytes = text.as_bytes();
    let mut end = 0;
    while end < bytes.len() {
        match bytes[end] {
            b',' | b'[' | b']' | b'{' | b'}' => break,
            b':' if matches!(bytes.get(end + 1), None | Some(b' ' | b',' | b']' | b'}')) => break,
            b'#' if end > 0 && bytes[end - 1] == b' ' => return None,
            _ => end += 1,
        }
    }
    let plain = text[..end].trim_end_matches(' ');
    if plain.is_empty() {
        return None;
    }
    Some((plain, &text[end..]))
}

/// Whether what follows a scalar on its line is nothing, or a comment after a space.
fn ends_cleanly(after: &str) -> bool {
    let trimmed = after.trim_start_matches(' ');
    trimmed.is_empty() || (trimmed.len() < after.len() && trimmed.starts_with('#'))
}

/// A quoted scalar at the start of `text` that closes on this line: its value and what follows
/// the closing quote.
fn quoted(text: &str) -> Option<(String, &str)> {
    let quote = text.chars().next()?;
    let body = &text[1..];
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' if quote == '\'' => {
                if body[i + 1..].starts_with('\'') {
                    chars.next();
                    out.push('\'');
                } else {
                    return Some((out, &body[i + 1..]));
                }
            }
            '"' if quote == '"' => return Some((out, &body[i + 1..])),
            '\\' if quote == '"' => {
                let (_, e) = chars.next()?;
                let unicode = |chars: &mut std::str::CharIndices<'_>, digits: usize| {
                    let mut code = 0u32;
                    for _ in 0..digits {
                        code = code * 16 + chars.next()?.1.to_digit(16)?;
                    }
                    char::from_u32(code)
                };
                out.push(match e {
                    '\\' => '\\',
                    '"' => '"',
                    '/' => '/',
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '0' => '\0',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'x' => unicode(&mut chars, 2)?,
                    'u' => unicode(&mut chars, 4)?,
                    'U' => unicode(&mut chars, 8)?,
                    _ => return None,
                });
            }
            c => out.push(c),
        }
    }
    // No closing quote on this line: a multi-line scalar, left to the full parser.
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn full(text: &str) -> Option<Value> {
        crate::yaml::from_str::<Value>(text).ok()
    }

    /// Whatever this reader returns is what the full parser returns.
    fn agrees(text: &str) -> bool {
        match value(text) {
            Some(v) => full(text).as_ref() == Some(&v),
            None => true,
        }
    }

    #[test]
    fn manifests_read_as_the_full_parser_reads_them() {
        let deployment = "---\n# Source: web/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: \"demo-web\"\n  labels:\n    app.kubernetes.io/name: web\n    helm.sh/chart: web-1.2.3\n  annotations: {}\nspec:\n  replicas: 3\n  selector:\n    matchLabels:\n      app: web # the selector\n  template:\n    spec:\n      containers:\n        - name: web\n          image: 'nginx:1.25'\n          args:\n          - --port=8080\n          - \"--greeting=it's \\\"fine\\\"\\u00e9\"\n          ports:\n            - containerPort: 8080\n              protocol: TCP\n          env: []\n          resources:\n      tolerations:\n      -\n        key: a\n      - - nested\n";
        // The last entry nests a sequence on its dash's line: left to the full parser.
        assert_eq!(value(deployment), None);
        let simple = deployment.replace(
            "      - - nested\n",
            "      - 0.5\n      - ~\n      - yes\n      - -7\n",
        );
        let read = value(&simple).expect("read here");
        assert_eq!(Some(read.clone()), full(&simple));
        assert_eq!(read["metadata"]["name"], "demo-web");
        assert_eq!(
            read["spec"]["template"]["spec"]["containers"][0]["args"][1],
            json!("--greeting=it's \"fine\"é")
        );
        assert_eq!(
            read["spec"]["template"]["spec"]["containers"][0]["resources"],
            Value::Null
        );
        assert_eq!(
            read["spec"]["template"]["spec"]["tolerations"][0],
            json!({"key": "a"})
        );
    }

    #[test]
    fn block_scalars_and_flow_collections_read_as_the_full_parser_reads_them() {
        let text = "data:\n  app.conf: |\n    [server]\n    # not a comment\n\n    port = 80\n\n  kept: |+\n    a\n\n  stripped: |-\n    b\n  list:\n  - |\n    c\nspec:\n  ports: [{port: 6379, name: cache}]\n  args: [\"--port\", '6379', -1, http://x/y]\n  selector: {app: cache, 'tier': [a, b]} # flow\n";
        let read = value(text).expect("read here");
        assert_eq!(Some(read.clone()), full(text), "{text}");
        assert_eq!(
            read["data"]["app.conf"],
            "[server]\n# not a comment\n\nport = 80\n"
        );
        assert_eq!(read["data"]["kept"], "a\n\n");
        assert_eq!(read["data"]["stripped"], "b");
        assert_eq!(read["data"]["list"], json!(["c\n"]));
        assert_eq!(
            read["spec"]["args"],
            json!(["--port", "6379", -1, "http://x/y"])
        );
        assert_eq!(
            read["spec"]["selector"],
            json!({"app": "cache", "tier": ["a", "b"]})
        );
    }

    #[test]
    fn long_keys_and_scalars_read_as_the_full_parser_reads_them() {
        let long = "x".repeat(3000);
        for text in [
            format!("a: {long}\n"),
            format!("a: '{long}'\n"),
            format!("a: \"{long}\"\n"),
            format!("- {long}\n"),
            format!("a: [{long}, b]\n"),
            format!("a: {{{long}: b}}\n"),
            format!("a: {{'{long}': b}}\n"),
            format!("{long}: b\n"),
            format!("'{long}': b\n"),
            format!("- {long}: b\n"),
            format!("a:\n- [{long}]\n"),
        ] {
            assert!(agrees(&text), "{}", &text[..40]);
        }
    }

    #[test]
    fn what_it_does_not_read_is_left_to_the_full_parser() {
        for text in [
            "a: |2\n  text\n",
            "a: >-\n  text\n",
            "a: |\n  text",
            "a: |\n    text\n  less\n",
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: {b: 1\n",
            "a: [1, 2,]\n",
            "a: [b: c]\n",
            "a: {b}\n",
            "a: 1\na: 2\n",
            "1: a\n",
            "? a\n: b\n",
            "a: \"open\n  close\"\n",
            "a: plain\n  continued\n",
            "a:\tb\n",
            "a: b\r\n",
            "a: b\n---\nc: d\n",
            "%YAML 1.2\n---\na: b\n",
            "a: b: c\n",
            "a: \"\\q\"\n",
            "<<: {}\n",
            "just a scalar\n",
            "a: 1\n  b: 2\n",
            "- a\n b\n",
            "a: '\u{85}'\n",
        ] {
            assert_eq!(value(text), None, "{text:?}");
            assert!(agrees(text));
        }
    }

    fn scalar_text() -> impl Strategy<Value = String> + Clone {
        prop_oneof![
            "[a-z][a-z0-9./_-]{0,8}",
            "[0-9]{1,4}",
            "-?[0-9]{1,3}\\.[0-9]{1,3}",
            Just("true".to_owned()),
            Just("no".to_owned()),
            Just("~".to_owned()),
            Just("null".to_owned()),
            Just("0x1F".to_owned()),
            Just("1e3".to_owned()),
            Just("010".to_owned()),
            Just("1.2.3".to_owned()),
            Just("http://example.com/a#b".to_owned()),
            Just("a #b".to_owned()),
            Just("it's".to_owned()),
            Just("say \"hi\"".to_owned()),
            Just("é ü".to_owned()),
            Just("a: b".to_owned()),
            Just("- x".to_owned()),
            Just("".to_owned()),
            Just(" lead".to_owned()),
        ]
    }

    /// Scalars and keys every reader takes as strings or whole numbers, with no character YAML
    /// treats specially.
    fn safe_text() -> impl Strategy<Value = String> + Clone {
        prop_oneof!["[a-z]{1,6}x", "[1-9][0-9]{0,3}", "[a-z]{1,4}x [a-z/.]{1,5}"]
    }

    /// A scalar as YAML might write it: plain, single- or double-quoted.
    fn written(text: &str, style: u8) -> String {
        match style % 3 {
            0 => text.to_owned(),
            1 => format!("'{}'", text.replace('\'', "''")),
            _ => serde_json::to_string(text).unwrap(),
        }
    }

    #[derive(Debug, Clone)]
    enum Node {
        Scalar(String, u8),
        Map(Vec<(String, u8, Node)>),
        Seq(Vec<Node>),
    }

    fn tree(
        scalar: impl Strategy<Value = String> + Clone + 'static,
        key: impl Strategy<Value = String> + Clone + 'static,
    ) -> impl Strategy<Value = Node> {
        let leaf = (scalar, any::<u8>()).prop_map(|(t, s)| Node::Scalar(t, s));
        leaf.prop_recursive(4, 32, 4, move |inner| {
            prop_oneof![
                prop::collection::vec((key.clone(), any::<u8>(), inner.clone()), 1..4).prop_map(
                    |entries| {
                        // One entry per key: duplicates are the full parser's to report.
                        let mut seen = std::collections::HashSet::new();
                        Node::Map(
                            entries
                                .into_iter()
                                .filter(|(k, _, _)| seen.insert(k.clone()))
                                .collect(),
                        )
                    }
                ),
                prop::collection::vec(inner, 1..4).prop_map(Node::Seq),
            ]
        })
    }

    /// Writes `node` at `indent` in block style; `knob` chooses comments, indent widths and
    /// where sequences start.
    fn write(node: &Node, indent: usize, knob: &mut dyn FnMut() -> u8, out: &mut String) {
        let pad = " ".repeat(indent);
        match node {
            Node::Scalar(text, style)
                if knob().is_multiple_of(6) && !text.is_empty() && !text.starts_with(' ') =>
            {
                let _ = style;
                out.push_str("|-\n");
                out.push_str(&" ".repeat(indent + 2));
                out.push_str(text);
                out.push('\n');
            }
            Node::Scalar(text, style) => {
                out.push_str(&written(text, *style));
                if knob().is_multiple_of(5) {
                    out.push_str(" # note");
                }
                out.push('\n');
            }
            Node::Map(entries) => {
                for (n, (key, style, value)) in entries.iter().enumerate() {
                    if n > 0 || !out.ends_with("- ") {
                        if knob().is_multiple_of(7) {
                            out.push_str(&format!("{pad}# comment\n\n"));
                        }
                        out.push_str(&pad);
                    }
                    out.push_str(&written(key, *style));
                    out.push(':');
                    match value {
                        Node::Scalar(..) => {
                            out.push(' ');
                            write(value, indent, knob, out);
                        }
                        Node::Seq(_) => {
                            out.push('\n');
                            let deeper = if knob().is_multiple_of(2) {
                                indent
                            } else {
                                indent + 2
                            };
                            write(value, deeper, knob, out);
                        }
                        Node::Map(_) => {
                            out.push('\n');
                            let width = 2 + usize::from(knob() % 2) * 2;
                            write(value, indent + width, knob, out);
                        }
                    }
                }
            }
            Node::Seq(items)
                if items.iter().all(|i| matches!(i, Node::Scalar(..)))
                    && knob().is_multiple_of(3) =>
            {
                let written: Vec<String> = items
                    .iter()
                    .map(|i| match i {
                        Node::Scalar(text, style) => written(text, *style),
                        _ => String::new(),
                    })
                    .collect();
                out.push_str(&pad);
                out.push_str(&format!("- [{}]\n", written.join(", ")));
            }
            Node::Seq(items) => {
                for item in items {
                    out.push_str(&pad);
                    out.push_str("- ");
                    if let Node::Seq(_) = item {
                        out.pop();
                        out.push('\n');
                    }
                    write(item, indent + 2, knob, out);
                }
            }
        }
    }

    fn document(root: &Node, knobs: &[u8], header: bool) -> String {
        let mut text = String::new();
        if header {
            text.push_str("---\n");
        }
        let mut knobs = knobs.iter().copied().cycle();
        write(root, 0, &mut || knobs.next().unwrap_or(0), &mut text);
        text
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Documents written the ways manifests are, with scalars of every kind: what this
        /// reader returns, the full parser returns too.
        #[test]
        fn block_documents_read_as_the_full_parser_reads_them(
            root in tree(scalar_text(), "[a-z][a-z.-]{0,6}|[0-9]|true|'x'"),
            knobs in prop::collection::vec(any::<u8>(), 64),
            header in any::<bool>(),
        ) {
            let text = document(&root, &knobs, header);
            prop_assert!(agrees(&text), "{}", text);
        }

        /// Documents of plain words and whole numbers in any of the three styles are read here,
        /// not left to the slower path, and read as the full parser reads them.
        #[test]
        fn plain_documents_are_read_here(
            root in tree(safe_text(), "[a-z]{1,6}x"),
            knobs in prop::collection::vec(any::<u8>(), 64),
            header in any::<bool>(),
        ) {
            prop_assume!(!matches!(root, Node::Scalar(..)));
            let text = document(&root, &knobs, header);
            let read = value(&text);
            prop_assert!(read.is_some(), "left to the full parser: {}", text);
            prop_assert_eq!(read, full(&text), "{}", text);
        }

        /// Lines of every kind put together at random: whatever this reader returns, the full
        /// parser returns too.
        #[test]
        fn mixed_lines_never_read_differently(
            lines in prop::collection::vec((0usize..4, prop::sample::select(vec![
                "a: 1", "b:", "- c", "-", "- d: e", "'q''x': \"y\\n\"", "f: [] # x", "g: {}",
                "h: i j", "k: 'l' #m", "n: \"o", "p", "- - q", "r: s: t", "u: #v", "w:x",
                "# c", "", "---", "...", "x: |", "  y", "z: -1", "aa: .5", "bb: 1_000",
                "cc: !t v", "dd: &a v", "ee: *a", "\"ff\" : g", "gg: 'h", "ii:  jj  ",
                "kk: \"\\u00e9\\x41\"", "ll: \"\\e\"", "mm: 'a''", "nn: 0o17", "oo: +1",
                "pp: |-", "qq: |+", "- |", "  # text", "rr: [a, 'b', {c: d}]", "ss: {t: [1, 2]}",
                "uu: [v: w]", "xx: [y, ]", "yy: |2", "zz: {a, b}", "ab: [\"c\", -1, -, x#y]",
                "cd: [a #b]", "ef: {g: }", "gh: [[a], {}]",
            ])), 0..12),
        ) {
            let text: String = lines
                .iter()
                .map(|(indent, line)| format!("{}{line}\n", " ".repeat(indent * 2)))
                .collect();
            prop_assert!(agrees(&text), "{}", text);
        }
    }
}
