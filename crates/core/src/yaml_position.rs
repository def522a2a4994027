//! Where a field is written in a YAML (or JSON) text: the line of the node at a path, so that a
//! validation message can point at the offending field.
//!
//! The text is read again with the YAML parser's event stream and its source positions, in one
//! pass that stops as soon as the path is resolved (or found missing); nothing is built, and
//! aliases are not expanded. It is meant for reporting a problem, not for a hot path.
//!
//! ```
//! use strata_core::yaml_position::{Segment, line_of};
//!
//! let text = "\
//! apiVersion: v1
//! kind: ConfigMap
//! metadata:
//!   name: web
//!   annotations:
//!     strata.dev/protect: \"true\"
//! ";
//! let path = [Segment::Key("metadata"), Segment::Key("annotations"), Segment::Key("strata.dev/protect")];
//! assert_eq!(line_of(text, 0, &path), Some(6));
//! // A missing field points at its parent mapping's key.
//! assert_eq!(line_of(text, 0, &[Segment::Key("metadata"), Segment::Key("namespace")]), Some(3));
//! assert_eq!(line_of(text, 1, &[]), None);
//! ```

use std::borrow::Cow;
use std::iter::Peekable;

use granit_parser::{Event, Parser, ScalarStyle, Span, StrInput};

/// One step of a path into a YAML document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Segment<'a> {
    /// A mapping key, compared with the key's text exactly (quoted or not; dots and slashes are
    /// part of the key, as in `strata.dev/protect`).
    Key(&'a str),
    /// An item of a sequence (0-based).
    Index(usize),
}

/// 1-based line of the node at `path` in document `document` (0-based) of the YAML `text`; when
/// the path does not exist fully, the line of the deepest existing ancestor (so a missing
/// required field points at its parent mapping's key); `None` when the document does not exist.
///
/// For a key, the line is where the key itself is written; for an item of a sequence, where the
/// item starts (its anchor or tag, if it has one). An alias node's line is where the alias is
/// written: a path going on through an alias stops there, at the key or item holding it. A key
/// that a mapping does not hold itself but has a merge key (`<<: *base`) points at the merge
/// key. Documents are counted as the loader counts them: an empty document between two `---`
/// counts, a comment before the first `---` does not. JSON text is YAML and works the same.
pub fn line_of(text: &str, document: usize, path: &[Segment<'_>]) -> Option<usize> {
    let options = granit_parser::options! {
        emit_comments: false,
        emit_anchor_events: true,
    };
    let mut nodes = Nodes {
        events: Parser::new_from_str_with_options(text, options).peekable(),
    };
    let document_line = nodes.find_document(document)?;
    let Some(mut node) = nodes.next() else {
        return Some(document_line);
    };
    let mut line = node.line;
    for segment in path {
        let found = match (&node.kind, segment) {
            (Kind::Mapping, Segment::Key(key)) => match nodes.find_key(key) {
                Some(Entry::Value { key_line, value }) => Some((key_line, value)),
                Some(Entry::Merged { merge_line }) => return Some(merge_line),
                Some(Entry::Missing) | None => None,
            },
            (Kind::Sequence, Segment::Index(index)) => {
                nodes.find_item(*index).map(|item| (item.line, item))
            }
            _ => None,
        };
        match found {
            Some((found_line, next)) => {
                line = found_line;
                node = next;
            }
            None => break,
        }
    }
    Some(line)
}

/// A node event of the stream, with the line where it is written.
struct Node<'t> {
    kind: Kind<'t>,
    line: usize,
}

enum Kind<'t> {
    Mapping,
    Sequence,
    /// The end of the enclosing mapping or sequence.
    End,
    Scalar(Cow<'t, str>, ScalarStyle),
    Alias,
}

/// What a mapping holds under a key.
enum Entry<'t> {
    /// The key is written on `key_line`; `value` is its value's first event.
    Value {
        key_line: usize,
        value: Node<'t>,
    },
    /// The mapping does not hold the key itself but merges others at `merge_line`.
    Merged {
        merge_line: usize,
    },
    Missing,
}

/// The node events of a parse, read one at a time.
struct Nodes<'t> {
    events: Peekable<Parser<'t, StrInput<'t>>>,
}

impl<'t> Nodes<'t> {
    /// Reads up to the start of document `index`; its line, or `None` when the stream ends (or
    /// breaks) before it.
    fn find_document(&mut self, index: usize) -> Option<usize> {
        let mut seen = 0;
        loop {
            let (event, span) = self.events.next()?.ok()?;
            match event {
                Event::DocumentStart(..) if seen == index => return Some(span.start.line()),
                Event::DocumentStart(..) => seen += 1,
                Event::StreamEnd => return None,
                _ => {}
            }
        }
    }

    /// The next node event of the current document; `None` at its end or when the text breaks.
    fn next(&mut self) -> Option<Node<'t>> {
        loop {
            let (event, span) = self.events.next()?.ok()?;
            let kind = match event {
                Event::MappingStart(..) => Kind::Mapping,
                Event::SequenceStart(..) => Kind::Sequence,
                Event::MappingEnd | Event::SequenceEnd => Kind::End,
                Event::Scalar(value, style, ..) => Kind::Scalar(value, style),
                Event::Alias(_) | Event::UnresolvedAlias(_) => Kind::Alias,
                Event::DocumentStart(..) | Event::DocumentEnd | Event::StreamEnd => return None,
                _ => continue,
            };
            let line = self.node_line(&span);
            return Some(Node { kind, line });
        }
    }

    /// Where a node starts: its content, or its tag or anchor when written before it (the
    /// parser reports an anchor just after its node).
    fn node_line(&mut self, span: &Span) -> usize {
        let mut line = span.start.line();
        if let Some(tag) = &span.tag_start {
            line = line.min(tag.line());
        }
        if let Some(Ok((Event::Anchor(..), anchor))) = self.events.peek() {
            line = line.min(anchor.start.line());
            self.events.next();
        }
        line
    }

    /// Skips the rest of `node` (its children and end, for a mapping or sequence); `None` when
    /// the text breaks.
    fn skip(&mut self, node: &Node<'t>) -> Option<()> {
        if !matches!(node.kind, Kind::Mapping | Kind::Sequence) {
            return Some(());
        }
        let mut depth = 1usize;
        while depth > 0 {
            match self.next()?.kind {
                Kind::Mapping | Kind::Sequence => depth += 1,
                Kind::End => depth -= 1,
                Kind::Scalar(..) | Kind::Alias => {}
            }
        }
        Some(())
    }

    /// Reads the entries of the mapping just started up to `key`; `None` when the text breaks.
    fn find_key(&mut self, key: &str) -> Option<Entry<'t>> {
        let mut merge_line = None;
        loop {
            let candidate = self.next()?;
            if matches!(candidate.kind, Kind::End) {
                return Some(
                    merge_line.map_or(Entry::Missing, |merge_line| Entry::Merged { merge_line }),
                );
            }
            self.skip(&candidate)?;
            let value = self.next()?;
            if let Kind::Scalar(text, style) = &candidate.kind {
                if text == key {
                    return Some(Entry::Value {
                        key_line: candidate.line,
                        value,
                    });
                }
                if text == "<<" && *style == ScalarStyle::Plain && merge_line.is_none() {
                    merge_line = Some(candidate.line);
                }
            }
            self.skip(&value)?;
        }
    }

    /// Reads the items of the sequence just started up to item `index`; `None` when it has fewer
    /// items or the text breaks.
    fn find_item(&mut self, index: usize) -> Option<Node<'t>> {
        for _ in 0..index {
            let item = self.next()?;
            if matches!(item.kind, Kind::End) {
                return None;
            }
            self.skip(&item)?;
        }
        self.next().filter(|item| !matches!(item.kind, Kind::End))
    }
}

#[cfg(test)]
mod tests {
    use super::Segment::{Index, Key};
    use super::*;

    const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    strata.dev/protect: \"true\"
    \"quoted.key/with:colon\": x
    'single': y
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: web
          image: nginx
          ports:
            - containerPort: 80
        -
          name: sidecar
";

    #[test]
    fn keys_point_at_the_line_they_are_written_on() {
        assert_eq!(line_of(DEPLOYMENT, 0, &[Key("kind")]), Some(2));
        assert_eq!(line_of(DEPLOYMENT, 0, &[Key("metadata")]), Some(3));
        assert_eq!(
            line_of(DEPLOYMENT, 0, &[Key("metadata"), Key("name")]),
            Some(4)
        );
        assert_eq!(
            line_of(DEPLOYMENT, 0, &[Key("spec"), Key("replicas")]),
            Some(10)
        );
        // The root node.
        assert_eq!(line_of(DEPLOYMENT, 0, &[]), Some(1));
    }

    #[test]
    fn keys_with_dots_slashes_and_quotes_match_exactly() {
        let annotations = [Key("metadata"), Key("annotations")];
        let at = |key| line_of(DEPLOYMENT, 0, &[annotations[0], annotations[1], Key(key)]);
        assert_eq!(at("strata.dev/protect"), Some(6));
        assert_eq!(at("quoted.key/with:colon"), Some(7));
        assert_eq!(at("single"), Some(8));
        // Not split on dots, and quotes are not part of the key.
        assert_eq!(at("strata"), Some(5));
        assert_eq!(at("'single'"), Some(5));
    }

    #[test]
    fn sequence_items_point_at_where_they_start() {
        let containers = [Key("spec"), Key("template"), Key("spec"), Key("containers")];
        let at = |rest: &[Segment<'static>]| {
            let path: Vec<_> = containers.iter().chain(rest).copied().collect();
            line_of(DEPLOYMENT, 0, &path)
        };
        assert_eq!(at(&[]), Some(13));
        assert_eq!(at(&[Index(0)]), Some(14));
        assert_eq!(at(&[Index(0), Key("image")]), Some(15));
        assert_eq!(
            at(&[Index(0), Key("ports"), Index(0), Key("containerPort")]),
            Some(17)
        );
        // An item whose content starts on the line after its dash.
        assert_eq!(at(&[Index(1)]), Some(19));
        assert_eq!(at(&[Index(1), Key("name")]), Some(19));
    }

    #[test]
    fn missing_paths_point_at_the_deepest_existing_ancestor() {
        // A missing required field: its parent mapping's key.
        assert_eq!(
            line_of(DEPLOYMENT, 0, &[Key("metadata"), Key("namespace")]),
            Some(3)
        );
        assert_eq!(
            line_of(
                DEPLOYMENT,
                0,
                &[Key("spec"), Key("selector"), Key("matchLabels")]
            ),
            Some(9)
        );
        // Missing at the top: the root.
        assert_eq!(line_of(DEPLOYMENT, 0, &[Key("status")]), Some(1));
        // An index past the end, an index into a mapping, a key into a sequence or a scalar.
        let containers = [Key("spec"), Key("template"), Key("spec"), Key("containers")];
        let with = |last: Segment<'static>| {
            let mut path = containers.to_vec();
            path.push(last);
            line_of(DEPLOYMENT, 0, &path)
        };
        assert_eq!(with(Index(2)), Some(13));
        assert_eq!(with(Key("name")), Some(13));
        assert_eq!(line_of(DEPLOYMENT, 0, &[Key("spec"), Index(0)]), Some(9));
        assert_eq!(
            line_of(DEPLOYMENT, 0, &[Key("kind"), Key("group")]),
            Some(2)
        );
    }

    #[test]
    fn documents_are_counted_as_the_loader_counts_them() {
        let text = "# header\n---\napiVersion: v1\nkind: A\n---\n---\n# only a comment\n---\nkind: B\nmetadata:\n  name: b\n...\nkind: C\n";
        assert_eq!(line_of(text, 0, &[Key("kind")]), Some(4));
        // Documents 1 and 2 are empty: their root is the empty node.
        assert!(line_of(text, 1, &[Key("kind")]).is_some());
        assert_eq!(line_of(text, 3, &[Key("metadata"), Key("name")]), Some(11));
        assert_eq!(line_of(text, 4, &[Key("kind")]), Some(13));
        assert_eq!(line_of(text, 5, &[]), None);
        assert_eq!(line_of("", 0, &[]), None);
        // The loader's split agrees on indices.
        let indices: Vec<_> = crate::yaml::documents(text)
            .into_iter()
            .map(|d| d.index)
            .collect();
        assert_eq!(indices, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn flow_collections_and_json() {
        let flow = "metadata: {name: web, labels: {app: web,\n  tier: front}}\nports: [80,\n  443, {name: https}]\n";
        assert_eq!(
            line_of(flow, 0, &[Key("metadata"), Key("labels"), Key("tier")]),
            Some(2)
        );
        assert_eq!(line_of(flow, 0, &[Key("ports"), Index(1)]), Some(4));
        assert_eq!(
            line_of(flow, 0, &[Key("ports"), Index(2), Key("name")]),
            Some(4)
        );
        let json = r#"{
  "apiVersion": "v1",
  "kind": "ConfigMap",
  "metadata": {
    "name": "web",
    "annotations": {"strata.dev/protect": "true"}
  },
  "data": [
    1,
    {"k.v": 2}
  ]
}"#;
        assert_eq!(line_of(json, 0, &[Key("metadata"), Key("name")]), Some(5));
        assert_eq!(
            line_of(
                json,
                0,
                &[
                    Key("metadata"),
                    Key("annotations"),
                    Key("strata.dev/protect")
                ]
            ),
            Some(6)
        );
        assert_eq!(
            line_of(json, 0, &[Key("data"), Index(1), Key("k.v")]),
            Some(10)
        );
        assert_eq!(line_of(json, 0, &[Key("data"), Index(5)]), Some(8));
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let text = "\
defaults: &defaults
  image: nginx
  port: 80
labels: &labels {app: web}
items:
  - &first
    name: a
  - *first
  -
    *labels
web:
  <<: *defaults
  port: 8080
  labels:
    *labels
";
        // An alias node: where the alias is written.
        assert_eq!(line_of(text, 0, &[Key("items"), Index(1)]), Some(8));
        assert_eq!(line_of(text, 0, &[Key("items"), Index(2)]), Some(10));
        // Going on through an alias stops at the key or item holding it.
        assert_eq!(
            line_of(text, 0, &[Key("items"), Index(1), Key("name")]),
            Some(8)
        );
        assert_eq!(
            line_of(text, 0, &[Key("web"), Key("labels"), Key("app")]),
            Some(14)
        );
        // An anchored item starts at its anchor.
        assert_eq!(line_of(text, 0, &[Key("items"), Index(0)]), Some(6));
        assert_eq!(
            line_of(text, 0, &[Key("items"), Index(0), Key("name")]),
            Some(7)
        );
        // A key written in the mapping wins over the merge; one merged in points at the merge key.
        assert_eq!(line_of(text, 0, &[Key("web"), Key("port")]), Some(13));
        assert_eq!(line_of(text, 0, &[Key("web"), Key("image")]), Some(12));
        assert_eq!(line_of(text, 0, &[Key("labels"), Key("app")]), Some(4));
    }

    #[test]
    fn comments_and_block_scalars_do_not_confuse_it() {
        let text = "\
# kind: Wrong
apiVersion: v1 # name: wrong
kind: ConfigMap
metadata:
  # name: commented
  name: real
data:
  script: |
    name: inside a block scalar
    kind: also inside
  other: >-
    folded
  after: 1
";
        assert_eq!(line_of(text, 0, &[Key("kind")]), Some(3));
        assert_eq!(line_of(text, 0, &[Key("metadata"), Key("name")]), Some(6));
        assert_eq!(line_of(text, 0, &[Key("data"), Key("script")]), Some(8));
        assert_eq!(line_of(text, 0, &[Key("data"), Key("other")]), Some(11));
        assert_eq!(line_of(text, 0, &[Key("data"), Key("after")]), Some(13));
        assert_eq!(line_of(text, 0, &[Key("data"), Key("name")]), Some(7));
    }

    #[test]
    fn complex_keys_are_skipped_and_scalar_keys_match_by_text() {
        let text = "? [a, b]\n: skipped\n80: http\n\"a\\nb\": escaped\ntarget: 1\n";
        assert_eq!(line_of(text, 0, &[Key("80")]), Some(3));
        assert_eq!(line_of(text, 0, &[Key("a\nb")]), Some(4));
        assert_eq!(line_of(text, 0, &[Key("target")]), Some(5));
    }

    #[test]
    fn broken_text_points_as_far_as_it_reads() {
        let text = "a:\n  b: 1\n  c: [1, 2\nd: 3\n";
        assert_eq!(line_of(text, 0, &[Key("a"), Key("b")]), Some(2));
        assert_eq!(line_of(text, 0, &[Key("a"), Key("d")]), Some(1));
        assert_eq!(line_of("a: [1\n---\nb: 2\n", 1, &[Key("b")]), None);
    }

    #[test]
    fn a_long_document_is_read_once() {
        let mut text = String::from("items:\n");
        for i in 0..200_000 {
            text.push_str(&format!("  - {{name: item{i}, value: [{i}, {i}]}}\n"));
        }
        let path = [Key("items"), Index(199_999), Key("value"), Index(1)];
        assert_eq!(line_of(&text, 0, &path), Some(200_001));
    }
}
