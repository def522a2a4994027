//! Parsing user YAML under one set of limits.
//!
//! Anchors, aliases and merge keys (`<<: *base`) are accepted, as `kubectl` accepts them. But an
//! alias stands for a whole subtree, so a few lines that alias aliases of aliases expand
//! exponentially (the "billion laughs"), and an alias inside the node it names would expand
//! forever. Every place in the workspace that parses user YAML goes through [`from_str`] (or the
//! loader, which calls it once per document), so one set of limits applies everywhere:
//!
//! - what the input itself holds is never refused for its size: the node, event and scalar-byte
//!   limits grow with the length of the text, past anything that text can hold without aliases;
//! - what aliases add is bounded by fixed amounts, [`MAX_ALIAS_EXPANSION`] events and
//!   [`MAX_ALIAS_EXPANSION_BYTES`] bytes of scalars per document, so a bomb is refused after a
//!   bounded amount of work, whatever the size of the file around it;
//! - nesting is bounded by [`MAX_DEPTH`];
//! - an alias inside the node it names (a self-reference, or a merge key merging its own
//!   mapping) is refused.
//!
//! A refusal is one [`YamlError`] saying which limit was met; callers add the file and the
//! document.
//!
//! ```
//! use serde_json::{json, Value};
//! use strata_core::yaml::{self, YamlError};
//!
//! let text = "base: &base {cpu: 100m, memory: 64Mi}\nweb:\n  <<: *base\n  memory: 128Mi\n";
//! let value: Value = yaml::from_str(text).unwrap();
//! assert_eq!(value["web"], json!({"memory": "128Mi", "cpu": "100m"}));
//!
//! let mut bomb = String::from("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
//! for i in 1..10 {
//!     bomb.push_str(&format!("l{i}: &l{i} [{}]\n", vec![format!("*l{}", i - 1); 10].join(", ")));
//! }
//! assert!(matches!(yaml::from_str::<Value>(&bomb), Err(YamlError::Refused { .. })));
//! ```

use std::borrow::Cow;
use std::fmt;

use serde::de::DeserializeOwned;
use serde_saphyr::budget::BudgetBreach;

/// Deepest nesting of mappings and sequences accepted. Deserialising recurses once per level, at
/// about 22 KiB of stack a level in unoptimised builds, so 64 levels stay well inside the 2 MiB
/// stacks of spawned and async worker threads; it is also serde-saphyr's own default.
pub const MAX_DEPTH: usize = 64;

/// Most parser events (node starts and ends, scalars) that aliases may add to one document when
/// they are expanded, merge keys included. Real manifests that share a block through an anchor
/// add hundreds or a few thousand; a bomb reaches this within milliseconds.
pub const MAX_ALIAS_EXPANSION: usize = 100_000;

/// Most bytes of scalar text that aliases may add to one document when they are expanded (an
/// anchored long string aliased many times).
pub const MAX_ALIAS_EXPANSION_BYTES: usize = 16 << 20;

/// Parse events a text can produce by itself, per byte, with a margin of two: in `[?,?]` each
/// two bytes `?,` make a mapping start, two empty scalars and a mapping end.
const EVENTS_PER_INPUT_BYTE: usize = 4;

/// Scalar bytes a text can produce by itself, per byte: escapes only shorten text, but the
/// budget also counts resolved tag names, and `!!str` resolves to `tag:yaml.org,2002:str`.
const SCALAR_BYTES_PER_INPUT_BYTE: usize = 8;

/// Slack for tiny texts, so that the limits proportional to the input never go below it.
const SMALL_INPUT: usize = 4096;

/// A YAML text that could not be parsed, or that was refused by the limits.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum YamlError {
    /// The text is not valid YAML, or does not have the expected shape.
    #[error(transparent)]
    Syntax(Box<serde_saphyr::Error>),
    /// The text was refused by a limit: an alias bomb, nesting too deep, or an alias cycle.
    #[error("refused: {refusal}")]
    Refused {
        /// Which limit was met.
        refusal: Refusal,
        /// The line (1-based, in the parsed text) where it was met, when known.
        line: Option<usize>,
        /// The parser's own report.
        #[source]
        source: Box<serde_saphyr::Error>,
    },
}

impl YamlError {
    /// The line (1-based, in the parsed text) the error points at, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Syntax(e) => line_of(e),
            Self::Refused { line, .. } => *line,
        }
    }
}

/// Which limit a refused YAML text met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Its aliases (or merge keys) expand to more than the limits allow: an alias bomb.
    AliasExpansion,
    /// Mappings and sequences nest deeper than [`MAX_DEPTH`].
    TooDeep,
    /// An alias is used inside the node it names (a self-reference or a merge-key cycle), which
    /// would expand forever.
    AliasCycle,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AliasExpansion => write!(
                f,
                "its aliases expand to more than {MAX_ALIAS_EXPANSION} nodes or {} MiB of \
                 text (an alias bomb)",
                MAX_ALIAS_EXPANSION_BYTES >> 20
            ),
            Self::TooDeep => write!(f, "mappings and sequences nest deeper than {MAX_DEPTH}"),
            Self::AliasCycle => write!(
                f,
                "an alias is used inside the node it names (a self-reference or a merge-key \
                 cycle), which would expand forever"
            ),
        }
    }
}

/// The parser options every user YAML text is parsed with (see the [module](self) docs); the
/// limits that grow with the input are sized for `text`.
pub fn options(text: &str) -> serde_saphyr::Options {
    let input = text.len().saturating_add(SMALL_INPUT);
    let events = input
        .saturating_mul(EVENTS_PER_INPUT_BYTE)
        .saturating_add(MAX_ALIAS_EXPANSION);
    let scalar_bytes = input
        .saturating_mul(SCALAR_BYTES_PER_INPUT_BYTE)
        .saturating_add(MAX_ALIAS_EXPANSION_BYTES);

    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.flow_nesting_limit = MAX_DEPTH;
    budget.max_events = events;
    budget.max_nodes = events;
    budget.max_total_scalar_bytes = scalar_bytes;
    // Every alias adds at least one event, and every merge key beyond those written is one.
    budget.max_aliases = MAX_ALIAS_EXPANSION;
    budget.max_merge_keys = events;
    budget.max_anchors = input;
    // An event inside two anchored nodes is kept twice; beyond that (or alias expansions kept
    // in anchors) the expansion limits apply.
    budget.max_recorded_anchor_events = events.saturating_mul(2);
    budget.max_recorded_anchor_bytes = scalar_bytes.saturating_mul(2);
    // One anchor aliased hundreds of times is legitimate; the expansion limits bound the cost.
    budget.enforce_alias_anchor_ratio = false;

    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = MAX_ALIAS_EXPANSION;
    options.alias_limits.max_replay_stack_depth = MAX_DEPTH;
    options.emit_comments = false;
    options
}

/// Parses one YAML document (JSON is YAML) under the shared limits.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    serde_saphyr::from_str_with_options(text, options(text)).map_err(classify)
}

/// Parses one YAML document (JSON is YAML) into a JSON value under the shared limits: the same
/// value and the same errors as [`from_str`]`::<Value>`, faster for the common case.
///
/// Most manifests hold no anchors, aliases, tags, merge keys or duplicate keys, and their plain
/// scalars are words, whole numbers or simple decimals. Such a document is built straight from
/// the parser's events, without serde's machinery and without the bookkeeping kept for error
/// messages and limits (which such a document can never meet). Anything else, including any
/// parse error, is parsed again by [`from_str`], whose value and error (with its line) are
/// returned: only the speed differs.
pub fn value_from_str(text: &str) -> Result<serde_json::Value, YamlError> {
    match fast::value(text) {
        Some(value) => Ok(value),
        None => from_str(text),
    }
}

/// The value of one YAML document when it needs none of the full parser's features, `None`
/// otherwise: the quick path of [`value_from_str`], for callers that fall back on a parser of
/// their own.
///
/// A document it reads holds no anchors, aliases, tags, merge keys, duplicate keys, directives
/// or second document, its keys are strings and its plain scalars are null, YAML 1.1
/// booleans, strings no number notation reads, whole decimal numbers without a leading zero or
/// simple decimals: values that YAML 1.1 and 1.2 resolve alike, legacy octal included. Any
/// parse error gives `None`.
pub fn quick_value(text: &str) -> Option<serde_json::Value> {
    fast::value(text)
}

/// The quick path's resolution of a plain or quoted scalar (see [`fast`]), shared with the
/// block reader ([`crate::yaml_block`]).
pub(crate) use fast::{key_of as fast_key, scalar as fast_scalar};

/// The quick path of [`value_from_str`]: `None` whenever the document needs the full parser.
mod fast {
    use granit_parser::{Event, Parser, ScalarStyle};
    use serde_json::{Map, Value};

    /// Deeper than this, the full parser decides (it refuses past [`super::MAX_DEPTH`]).
    const MAX_FAST_DEPTH: usize = super::MAX_DEPTH / 2;

    /// An open mapping or sequence. Its entries wait on a stack shared by all open frames
    /// (a nested collection closes before its parent takes another entry), so each closed
    /// collection is built at its exact size: a map or vector grown by insertion holds up to
    /// twice the room it needs, which for a large stack is most of its parsed memory.
    enum Frame {
        /// A mapping whose entries start at this index of the entry stack, with the key
        /// read for the value to come.
        Map(usize, Option<String>),
        /// A sequence whose items start at this index of the item stack.
        Seq(usize),
    }

    /// The document's value, or `None` when the full parser must read it.
    pub(super) fn value(text: &str) -> Option<Value> {
        // Plain block documents, most manifests, are read without the YAML scanner.
        if let Some(value) = crate::yaml_block::value(text) {
            return Some(value);
        }
        // The parser settings the full parser uses (see `serde_saphyr::Budget::parser_options`).
        let budget = serde_saphyr::Budget::default();
        let options = granit_parser::options! {
            simple_key_max_lookahead: budget.simple_key_max_lookahead,
            flow_nesting_limit: super::MAX_DEPTH,
            block_nesting_limit: granit_parser::Options::default()
                .block_nesting_limit
                .max(super::MAX_DEPTH + 1),
            emit_comments: false,
        };
        let mut stack: Vec<Frame> = Vec::new();
        let mut entries: Vec<(String, Value)> = Vec::new();
        let mut items: Vec<Value> = Vec::new();
        let mut root: Option<Value> = None;
        let mut documents = 0;
        for item in Parser::new_from_str_with_options(text, options) {
            let (event, _) = item.ok()?;
            let node = match event {
                Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => continue,
                Event::DocumentStart(_, version) => {
                    documents += 1;
                    if documents > 1 || version.is_some() {
                        return None;
                    }
                    continue;
                }
                Event::Scalar(text, style, anchor, tag) => {
                    if anchor != 0 || tag.is_some() {
                        return None;
                    }
                    if let Some(Frame::Map(_, key @ None)) = stack.last_mut() {
                        // Duplicate keys are found when the mapping closes.
                        *key = Some(key_of(text, style)?);
                        continue;
                    }
                    scalar(text, style)?
                }
                Event::SequenceStart(_, anchor, ref tag)
                | Event::MappingStart(_, anchor, ref tag) => {
                    if anchor != 0 || tag.is_some() || stack.len() >= MAX_FAST_DEPTH {
                        return None;
                    }
                    if let Some(Frame::Map(_, None)) = stack.last() {
                        // A mapping or sequence as a key.
                        return None;
                    }
                    stack.push(if matches!(event, Event::MappingStart(..)) {
                        Frame::Map(entries.len(), None)
                    } else {
                        Frame::Seq(items.len())
                    });
                    continue;
                }
                Event::SequenceEnd => match stack.pop()? {
                    Frame::Seq(start) => Value::Array(items.drain(start..).collect()),
                    Frame::Map(..) => return None,
                },
                Event::MappingEnd => match stack.pop()? {
                    Frame::Map(start, None) => {
                        let mut map = Map::with_capacity(entries.len() - start);
                        for (key, value) in entries.drain(start..) {
                            if map.insert(key, value).is_some() {
                                // A duplicate key: the full parser reports it.
                                return None;
                            }
                        }
                        Value::Object(map)
                    }
                    Frame::Map(_, Some(_)) | Frame::Seq(_) => return None,
                },
                // Aliases, comments, anything else.
                _ => return None,
            };
            match stack.last_mut() {
                Some(Frame::Map(_, key)) => entries.push((key.take()?, node)),
                Some(Frame::Seq(_)) => items.push(node),
                None => {
                    if root.is_some() {
                        return None;
                    }
                    root = Some(node);
                }
            }
        }
        if !stack.is_empty() {
            return None;
        }
        root
    }

    /// A mapping key that is a string whatever the schema: quoted, or a plain word that is no
    /// null, boolean or number, nor a merge key.
    pub(crate) fn key_of(text: std::borrow::Cow<'_, str>, style: ScalarStyle) -> Option<String> {
        match style {
            ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted if text != "<<" => {
                Some(text.into_owned())
            }
            ScalarStyle::Plain => match scalar(text, style)? {
                Value::String(key) if key != "<<" => Some(key),
                _ => None,
            },
            _ => None,
        }
    }

    /// The value of an untagged scalar, resolved as `serde_saphyr` resolves it for an untyped
    /// value (YAML 1.1 booleans, YAML 1.2 numbers); `None` for number-like text the quick path
    /// does not resolve itself.
    pub(crate) fn scalar(text: std::borrow::Cow<'_, str>, style: ScalarStyle) -> Option<Value> {
        if style != ScalarStyle::Plain {
            return Some(Value::String(text.into_owned()));
        }
        let t: &str = &text;
        if matches!(t, "" | "~" | "null" | "Null" | "NULL") {
            return Some(Value::Null);
        }
        if let Some(b) = yaml11_bool(t) {
            return Some(Value::Bool(b));
        }
        let bytes = t.as_bytes();
        if !matches!(bytes[0], b'0'..=b'9' | b'+' | b'-' | b'.') {
            return Some(Value::String(text.into_owned()));
        }
        let (negative, digits) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let whole = |d: &str| {
            !d.is_empty()
                && d.bytes().all(|b| b.is_ascii_digit())
                && (d.len() == 1 || !d.starts_with('0'))
        };
        if whole(digits) {
            return if negative {
                t.parse::<i64>().ok().map(Value::from)
            } else {
                t.parse::<u64>().ok().map(Value::from)
            };
        }
        if let Some((int, frac)) = digits.split_once('.')
            && whole(int)
            && !frac.is_empty()
            && frac.bytes().all(|b| b.is_ascii_digit())
        {
            return t
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Value::from);
        }
        // A dotted version or address (`1.2.3`, `10.0.0.1`, `1.x.x`): three or more parts of
        // digits or a lone `x`, which no number notation the full parser reads holds.
        if digits.split('.').count() >= 3
            && digits.split('.').all(|part| {
                matches!(part, "x" | "X")
                    || (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
            })
        {
            return Some(Value::String(text.into_owned()));
        }
        // Text with a character no number of any base or notation holds is a string.
        let numeric = |b: u8| {
            b.is_ascii_digit()
                || matches!(
                    b.to_ascii_lowercase(),
                    b'+' | b'-' | b'.' | b'_' | b':' | b'a'
                        ..=b'f' | b'i' | b'n' | b'o' | b't' | b'x' | b'y'
                )
        };
        if bytes.iter().any(|&b| !numeric(b)) {
            return Some(Value::String(text.into_owned()));
        }
        None
    }

    /// YAML 1.1 booleans, as `serde_saphyr` reads them without `strict_booleans`.
    fn yaml11_bool(t: &str) -> Option<bool> {
        if t.len() > 5 {
            return None;
        }
        let is = |w: &str| t.eq_ignore_ascii_case(w);
        if is("true") || is("yes") || is("y") || is("on") {
            Some(true)
        } else if is("false") || is("no") || is("n") || is("off") {
            Some(false)
        } else {
            None
        }
    }
}

/// A document of a YAML stream that could not be parsed, or was refused by the limits.
#[derive(Debug, thiserror::Error)]
#[error("document {index} (line {line}): {source}")]
#[non_exhaustive]
pub struct DocumentError {
    /// Index of the document in the stream (0-based).
    pub index: usize,
    /// Line (1-based) where the document starts.
    pub line: usize,
    /// What is wrong with it.
    #[source]
    pub source: YamlError,
}

/// Parses every non-blank document of a YAML stream, each under the limits on its own; an error
/// names the document.
pub fn from_str_multiple<T: DeserializeOwned>(text: &str) -> Result<Vec<T>, DocumentError> {
    documents(text)
        .into_iter()
        .filter(|doc| !doc.is_blank())
        .map(|doc| {
            from_str(&doc.text).map_err(|source| DocumentError {
                index: doc.index,
                line: doc.line,
                source,
            })
        })
        .collect()
}

/// One document of a YAML stream, as [`documents`] splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Document<'a> {
    /// Index of the document in the stream (0-based); empty documents count.
    pub index: usize,
    /// Line (1-based) where the document starts: its first line with content, or its `---`
    /// marker when it has none.
    pub line: usize,
    /// The document's text, without its markers, each line ended by `\n`: borrowed from the
    /// stream when it is a run of its lines as they are (the common case), its own otherwise.
    pub text: Cow<'a, str>,
}

impl Document<'_> {
    /// Whether the document holds nothing but blank lines, comments and directives.
    pub fn is_blank(&self) -> bool {
        self.text.lines().all(is_blank_line)
    }
}

fn is_blank_line(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#') || t.starts_with('%')
}

/// The text of the document being split off: a range of the stream's bytes while it is a run
/// of whole lines ending in `\n`, its own text once it is not (a `--- content` first line, a
/// `\r\n` line end, a last line without its line break).
#[derive(Default)]
struct Gathered {
    range: Option<(usize, usize)>,
    own: Option<String>,
}

impl Gathered {
    /// Adds a line: `raw` as it is in the stream at byte `at` (with its line break, if any),
    /// `line` without it.
    fn push_line(&mut self, stream: &str, at: usize, raw: &str, line: &str) {
        let plain = raw.len() == line.len() + 1;
        if let Some(own) = &mut self.own {
            own.push_str(line);
            own.push('\n');
            return;
        }
        match self.range {
            None if plain => self.range = Some((at, at + raw.len())),
            Some((start, end)) if plain && end == at => self.range = Some((start, at + raw.len())),
            range => {
                let mut own = range.map_or_else(String::new, |(s, e)| stream[s..e].to_owned());
                own.push_str(line);
                own.push('\n');
                self.range = None;
                self.own = Some(own);
            }
        }
    }

    /// Starts the document with the content after a `--- ` marker.
    fn start_with(&mut self, text: &str) {
        self.range = None;
        self.own = Some(format!("{text}\n"));
    }

    fn take<'a>(&mut self, stream: &'a str) -> Cow<'a, str> {
        match (self.own.take(), self.range.take()) {
            (Some(own), _) => Cow::Owned(own),
            (None, Some((start, end))) => Cow::Borrowed(&stream[start..end]),
            (None, None) => Cow::Borrowed(""),
        }
    }

    fn clear(&mut self) {
        self.range = None;
        self.own = None;
    }
}

/// Splits a YAML stream on `---` / `...` markers at column 0, keeping document indices and start
/// lines exact (empty documents keep their index, so errors point at the right one). Each
/// document is then parsed on its own, so anchors do not cross documents (as YAML says) and the
/// limits apply per document. A document that is a run of the stream's lines as they are is
/// borrowed, not copied.
pub fn documents(text: &str) -> Vec<Document<'_>> {
    let mut docs = Vec::new();
    let mut current = Gathered::default();
    // Whether `current` holds only blank lines and comments so far.
    let mut current_blank = true;
    let mut start_line = 1;
    let mut index = 0;
    let mut seen_content_or_marker = false;
    let mut at = 0;
    for (n, raw) in text.split_inclusive('\n').enumerate() {
        let line_at = at;
        at += raw.len();
        // As `str::lines` reads it: without its `\n` or `\r\n`.
        let line = raw
            .strip_suffix('\n')
            .map_or(raw, |l| l.strip_suffix('\r').unwrap_or(l));
        let line_no = n + 1;
        let trimmed_end = line.trim_end();
        let is_start = trimmed_end == "---" || line.starts_with("--- ");
        let is_end = trimmed_end == "...";
        if is_start || is_end {
            if seen_content_or_marker || !current_blank {
                docs.push(Document {
                    index,
                    line: start_line,
                    text: current.take(text),
                });
                index += 1;
            }
            current.clear();
            current_blank = true;
            start_line = line_no + usize::from(is_end);
            seen_content_or_marker = is_start;
            if let Some(rest) = line.strip_prefix("--- ") {
                current.start_with(rest);
                current_blank = is_blank_line(rest);
                start_line = line_no;
            }
            continue;
        }
        if current_blank && !is_blank_line(line) {
            start_line = line_no;
            current_blank = false;
        }
        current.push_line(text, line_at, raw, line);
    }
    if !current_blank || seen_content_or_marker {
        docs.push(Document {
            index,
            line: start_line,
            text: current.take(text),
        });
    }
    docs
}

/// Sorts a parser error into a refusal by the limits or a plain syntax error.
fn classify(error: serde_saphyr::Error) -> YamlError {
    let refusal = match innermost(&error) {
        serde_saphyr::Error::AliasReplayLimitExceeded { .. }
        | serde_saphyr::Error::AliasExpansionLimitExceeded { .. }
        | serde_saphyr::Error::AliasReplayStackDepthExceeded { .. }
        | serde_saphyr::Error::AliasReplayCounterOverflow { .. } => Some(Refusal::AliasExpansion),
        serde_saphyr::Error::RecursiveReferencesRequireWeakTypes { .. } => {
            Some(Refusal::AliasCycle)
        }
        // The scanner's own count of open flow collections (`[[[[...`).
        serde_saphyr::Error::ExternalMessage { source, .. }
            if matches!(
                &**source,
                serde_saphyr::ExternalMessageSource::Parser(scan)
                    if matches!(scan.kind(), granit_parser::ErrorKind::RecursionLimitExceeded)
            ) =>
        {
            Some(Refusal::TooDeep)
        }
        serde_saphyr::Error::Budget { breach, .. } => match breach {
            BudgetBreach::Depth { .. } => Some(Refusal::TooDeep),
            // The limits that grow with the input are past what the text holds by itself, so
            // meeting one means expansion.
            BudgetBreach::Events { .. }
            | BudgetBreach::Nodes { .. }
            | BudgetBreach::Aliases { .. }
            | BudgetBreach::Anchors { .. }
            | BudgetBreach::ScalarBytes { .. }
            | BudgetBreach::MergeKeys { .. }
            | BudgetBreach::AliasAnchorRatio { .. }
            | BudgetBreach::RecordedAnchorEvents { .. }
            | BudgetBreach::RecordedAnchorBytes { .. } => Some(Refusal::AliasExpansion),
            _ => None,
        },
        _ => None,
    };
    match refusal {
        Some(refusal) => YamlError::Refused {
            refusal,
            line: line_of(&error),
            source: Box::new(error),
        },
        None => YamlError::Syntax(Box::new(error)),
    }
}

/// The error under the parser's wrappers (source snippet, alias locations).
fn innermost(error: &serde_saphyr::Error) -> &serde_saphyr::Error {
    match error.without_snippet() {
        serde_saphyr::Error::AliasError { error, .. } => innermost(error),
        other => other,
    }
}

fn line_of(error: &serde_saphyr::Error) -> Option<usize> {
    error
        .location()
        .and_then(|l| usize::try_from(l.line()).ok())
        .filter(|&l| l > 0)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::{Value, json};

    use super::*;

    /// `levels` anchored sequences, each aliasing the previous one `fan` times.
    fn laughs(levels: usize, fan: usize) -> String {
        let mut text = String::from("l0: &l0 lol\n");
        for i in 1..=levels {
            let refs = vec![format!("*l{}", i - 1); fan].join(", ");
            text.push_str(&format!("l{i}: &l{i} [{refs}]\n"));
        }
        text
    }

    fn refusal(result: Result<Value, YamlError>) -> Refusal {
        match result {
            Err(YamlError::Refused { refusal, .. }) => refusal,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    /// The splitting as it was when every document was copied line by line.
    fn documents_copied(text: &str) -> Vec<(usize, usize, String)> {
        let mut docs = Vec::new();
        let mut current = String::new();
        let mut current_blank = true;
        let mut start_line = 1;
        let mut index = 0;
        let mut seen_content_or_marker = false;
        for (n, line) in text.lines().enumerate() {
            let line_no = n + 1;
            let trimmed_end = line.trim_end();
            let is_start = trimmed_end == "---" || line.starts_with("--- ");
            let is_end = trimmed_end == "...";
            if is_start || is_end {
                if seen_content_or_marker || !current_blank {
                    docs.push((index, start_line, std::mem::take(&mut current)));
                    index += 1;
                }
                current.clear();
                current_blank = true;
                start_line = line_no + usize::from(is_end);
                seen_content_or_marker = is_start;
                if let Some(rest) = line.strip_prefix("--- ") {
                    current.push_str(rest);
                    current.push('\n');
                    current_blank = is_blank_line(rest);
                    start_line = line_no;
                }
                continue;
            }
            if current_blank && !is_blank_line(line) {
                start_line = line_no;
                current_blank = false;
            }
            current.push_str(line);
            current.push('\n');
        }
        if !current_blank || seen_content_or_marker {
            docs.push((index, start_line, current));
        }
        docs
    }

    #[test]
    fn documents_are_split_as_when_each_was_copied_and_borrowed_when_they_can_be() {
        let lines = [
            "a: 1",
            "b: |",
            "  x",
            "---",
            "--- c: 2",
            "...",
            "# note",
            "",
            "  ",
            "--- ",
            "%YAML 1.2",
            "d: 'e'\r",
            "--- # c",
            "-- x",
            "----",
            "... ",
        ];
        let ends = ["\n", "\r\n", ""];
        // Every stream of up to four of these lines, each with each line end.
        let mut streams = vec![String::new()];
        for _ in 0..4 {
            let mut longer = Vec::new();
            for stream in &streams {
                for line in lines {
                    for end in ends {
                        if stream.is_empty() || stream.ends_with('\n') {
                            longer.push(format!("{stream}{line}{end}"));
                        }
                    }
                }
            }
            streams.extend(longer);
            streams.dedup();
            if streams.len() > 60_000 {
                break;
            }
        }
        assert!(streams.len() > 10_000, "{}", streams.len());
        for stream in &streams {
            let split: Vec<(usize, usize, String)> = documents(stream)
                .into_iter()
                .map(|d| (d.index, d.line, d.text.into_owned()))
                .collect();
            assert_eq!(split, documents_copied(stream), "{stream:?}");
        }
        let manifests = "a: 1\nb: 2\n---\nc: 3\n...\n# x\nd: |\n  e\n";
        let docs = documents(manifests);
        assert_eq!(docs.len(), 3);
        assert!(docs.iter().all(|d| matches!(d.text, Cow::Borrowed(_))));
        assert_eq!(docs[2].text, "# x\nd: |\n  e\n");
        // Copied where the text differs from the stream's lines.
        for (stream, text) in [
            ("a: 1\r\nb: 2\r\n", "a: 1\nb: 2\n"),
            ("a: 1\nb: 2", "a: 1\nb: 2\n"),
            ("--- a: 1\nb: 2\n", "a: 1\nb: 2\n"),
        ] {
            let docs = documents(stream);
            assert_eq!(docs.len(), 1, "{stream:?}");
            assert!(matches!(docs[0].text, Cow::Owned(_)), "{stream:?}");
            assert_eq!(docs[0].text, text);
        }
    }

    #[test]
    fn billion_laughs_is_refused_quickly() {
        let start = Instant::now();
        let result = from_str::<Value>(&laughs(9, 10));
        let elapsed = start.elapsed();
        let err = result.unwrap_err();
        assert!(
            matches!(
                err,
                YamlError::Refused {
                    refusal: Refusal::AliasExpansion,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("alias bomb"), "{err}");
        // Unoptimised builds included; the expansion is 10^9 nodes.
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    }

    #[test]
    fn deep_binary_alias_chains_are_refused() {
        // 2^40 nodes from 40 lines.
        assert_eq!(refusal(from_str(&laughs(40, 2))), Refusal::AliasExpansion);
    }

    #[test]
    fn an_anchored_long_string_aliased_many_times_is_refused() {
        let mut text = format!("s: &s {}\nl:\n", "x".repeat(1 << 20));
        for _ in 0..32 {
            text.push_str("  - *s\n");
        }
        assert_eq!(refusal(from_str(&text)), Refusal::AliasExpansion);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let depth = 100_000;
        let flow = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(refusal(from_str(&flow)), Refusal::TooDeep);
        let mut block = String::new();
        for i in 0..1000 {
            block.push_str(&" ".repeat(i));
            block.push_str("a:\n");
        }
        let err = from_str::<Value>(&block).unwrap_err();
        assert!(
            matches!(
                err,
                YamlError::Refused {
                    refusal: Refusal::TooDeep,
                    line: Some(65),
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("refused: mappings and sequences nest deeper than 64"),
            "{err}"
        );
    }

    #[test]
    fn nesting_up_to_the_limit_loads() {
        let text = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        let mut value: Value = from_str(&text).unwrap();
        for _ in 0..MAX_DEPTH {
            value = value[0].take();
        }
        assert_eq!(value, json!(1));
        let mut block = String::new();
        for i in 0..MAX_DEPTH {
            block.push_str(&format!("{}k{i}:\n", "  ".repeat(i)));
        }
        let value: Value = from_str(&block).unwrap();
        let path: String = (0..MAX_DEPTH).map(|i| format!("/k{i}")).collect();
        assert_eq!(value.pointer(&path), Some(&Value::Null));
    }

    #[test]
    fn self_references_and_merge_key_cycles_are_refused() {
        assert_eq!(refusal(from_str("a: &a [1, *a]\n")), Refusal::AliasCycle);
        assert_eq!(refusal(from_str("a: &a {b: *a}\n")), Refusal::AliasCycle);
        // A mapping merging itself.
        assert_eq!(
            refusal(from_str("a: &a\n  x: 1\n  <<: *a\n")),
            Refusal::AliasCycle
        );
        // Two mappings merging each other cannot be written: an alias must follow its anchor.
        let err = from_str::<Value>("a: &a\n  <<: *b\nb: &b\n  <<: *a\n").unwrap_err();
        assert!(matches!(err, YamlError::Syntax(_)), "{err:?}");
        assert!(err.to_string().contains("unknown anchor"), "{err}");
        assert_eq!(err.line(), Some(2));
    }

    #[test]
    fn anchors_aliases_and_merge_keys_load() {
        let text = "\
defaults: &defaults
  image: nginx:1.27
  resources: &res {cpu: 100m, memory: 64Mi}
extra: &extra {tier: web}
web:
  <<: [*defaults, *extra]
  image: nginx:1.28
sidecar:
  <<: *defaults
  resources: *res
names: [&n web, *n]
";
        let value: Value = from_str(text).unwrap();
        assert_eq!(
            value["web"],
            json!({"image": "nginx:1.28", "resources": {"cpu": "100m", "memory": "64Mi"}, "tier": "web"})
        );
        assert_eq!(value["sidecar"], value["defaults"]);
        assert_eq!(value["names"], json!(["web", "web"]));
    }

    #[test]
    fn one_anchor_aliased_many_times_loads() {
        let mut text = String::from("port: &p 8080\nports:\n");
        for _ in 0..5000 {
            text.push_str("  - *p\n");
        }
        let value: Value = from_str(&text).unwrap();
        assert_eq!(value["ports"].as_array().map(Vec::len), Some(5000));
    }

    #[test]
    fn a_large_document_without_aliases_loads() {
        // 400,000 entries: more nodes than serde-saphyr's default budget allows.
        let mut text = String::from("items:\n");
        for i in 0..400_000 {
            text.push_str(&format!("  - {i}\n"));
        }
        let value: Value = from_str(&text).unwrap();
        assert_eq!(value["items"].as_array().map(Vec::len), Some(400_000));
    }

    #[test]
    fn documents_keep_indices_and_start_lines() {
        let text = "# header\n---\na: 1\n---\n---\n\n# note\nb: 2\n...\n--- c: 3\n";
        let docs: Vec<_> = documents(text)
            .into_iter()
            .map(|d| (d.index, d.line, d.is_blank()))
            .collect();
        assert_eq!(
            docs,
            [(0, 3, false), (1, 4, true), (2, 8, false), (3, 10, false)]
        );
        let values: Vec<Value> = from_str_multiple(text).unwrap();
        assert_eq!(values, [json!({"a": 1}), json!({"b": 2}), json!({"c": 3})]);
    }

    #[test]
    fn anchors_do_not_cross_documents_and_errors_name_the_document() {
        let text = "a: &x 1\n---\nb: 2\n---\n\nc: *x\n";
        let err = from_str_multiple::<Value>(text).unwrap_err();
        assert_eq!((err.index, err.line), (2, 6));
        assert!(
            err.to_string().starts_with("document 2 (line 6): "),
            "{err}"
        );
        let mut bomb = String::from("ok: 1\n---\n");
        bomb.push_str(&laughs(9, 10));
        let err = from_str_multiple::<Value>(&bomb).unwrap_err();
        assert_eq!(err.index, 1);
        assert!(
            matches!(
                err.source,
                YamlError::Refused {
                    refusal: Refusal::AliasExpansion,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    /// The quick path gives the full parser's value whenever it gives one.
    fn same_as_full_parser(text: &str) -> bool {
        let quick = fast::value(text);
        let full = from_str::<Value>(text);
        if let Some(quick) = &quick {
            let full = full.as_ref().unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(quick, full, "{text:?}");
            // Numbers keep their kind (serde_json's equality already compares them exactly).
            assert_eq!(quick.to_string(), full.to_string(), "{text:?}");
        }
        let through = value_from_str(text);
        match (&through, &full) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{text:?}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{text:?}"),
            _ => panic!("{text:?}: {through:?} against {full:?}"),
        }
        quick.is_some()
    }

    #[test]
    fn the_quick_path_reads_scalars_as_the_full_parser_does() {
        let scalars = [
            "0",
            "-0",
            "7",
            "-7",
            "007",
            "-007",
            "1.5",
            "-1.50",
            "0.0",
            "-0.0",
            "00.5",
            "1e3",
            "1E3",
            ".5",
            "1.",
            "+1",
            "+1.5",
            "0x1F",
            "0o17",
            "0b101",
            "1_000",
            "1:30",
            "2024-01-01",
            "2024-01-01T00:00:00Z",
            "1.2.3",
            "-1.2.3",
            "+1.2.3",
            "1.2.3.4",
            "01.2.03",
            "10.0.0.1",
            "1.2.",
            "1..2",
            ".1.2",
            "1.2.3e5",
            "1.x.x",
            "1.2.X",
            "1.x",
            "1.xx.2",
            "0x1.2.3",
            "500m",
            "100Mi",
            "1Gi",
            "10.0.0.0/8",
            "inf",
            ".inf",
            "-.inf",
            "+.INF",
            ".nan",
            ".NaN",
            "nan",
            "NaN",
            "Infinity",
            "-Infinity",
            "yes",
            "Yes",
            "YES",
            "No",
            "ON",
            "off",
            "Off",
            "y",
            "n",
            "Y",
            "N",
            "true",
            "TRUE",
            "True",
            "tRuE",
            "false",
            "null",
            "Null",
            "NULL",
            "nULL",
            "~",
            "",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "1e999",
            "1.0e5",
            "99999999999999999999.5",
            "'quoted'",
            "\"123\"",
            "'true'",
            "\"\"",
            "abc def",
            "-foo",
            "--bar",
            ".hidden",
            "a:b",
            "x y z",
            "é",
            "|\n  block\n",
            ">\n  folded\n  text\n",
            "!!str 5",
            "!!int \"5\"",
            "!custom x",
            "&a 5",
            "[1, 2.5, yes, ~, '', x]",
            "{a: 1, b: [c]}",
            "[]",
            "{}",
        ];
        let mut quick = 0;
        for scalar in scalars {
            for text in [
                format!("k: {scalar}\n"),
                format!("- {scalar}\n"),
                format!("{scalar}\n"),
            ] {
                quick += usize::from(same_as_full_parser(&text));
            }
        }
        assert!(quick > 150, "{quick}");
    }

    #[test]
    fn the_quick_path_leaves_keys_merges_and_errors_to_the_full_parser() {
        let documents = [
            "yes: 1\n",
            "1: a\n",
            "null: b\n",
            "~: c\n",
            "'<<': c\n",
            "\"x\": 1\n",
            "base: &b {a: 1}\nk:\n  <<: *b\n",
            "? a\n: b\n",
            "? [a]\n: b\n",
            "a: 1\na: 2\n",
            "a: 1\n'a': 2\n",
            "a:\n  b: 1\n  c: {d: 1, d: 2}\n  e: 3\n",
            "- {a: 1}\n- {b: [1, {c: 2}], b: 3}\n",
            "a: [[1, [2, 3]], {b: [4]}, []]\nc: {}\n",
            "a: [1, 2\n",
            "a: b: c\n",
            "%YAML 1.1\n---\na: yes\n",
            "a: 1\n---\nb: 2\n",
            "# only a comment\n",
            "a:\n  - b\n  - c: d\n    e: [f]\n",
            "a: 'x\n  y'\n",
            "a: \"\\u00e9\\t\"\n",
            "a: x\n  y\n\n  z\n",
        ];
        for text in documents {
            same_as_full_parser(text);
        }
        let deep: String = (0..MAX_DEPTH + 2)
            .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
            .collect();
        assert!(!same_as_full_parser(&deep));
        let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c1\n  annotations:\n    strata.dev/depends-on: \"ConfigMap/team/c0\"\ndata:\n  index: \"1\"\n  replicas: 3\n  ratio: 0.5\n  on: off\n";
        assert!(
            !same_as_full_parser(manifest),
            "`on` as a key is left to the full parser"
        );
        assert!(same_as_full_parser(
            &manifest.replace("  on: off\n", "  enabled: off\n")
        ));
    }

    #[test]
    fn syntax_errors_stay_syntax_errors() {
        let err = from_str::<Value>("a: [1, 2\n").unwrap_err();
        assert!(matches!(err, YamlError::Syntax(_)), "{err:?}");
        let err = from_str::<Value>("a: 1\na: 2\n").unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{err}");
    }
}
