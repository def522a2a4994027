//! Wildcard patterns matched without a regular expression.
//!
//! Helm's `.Files.Glob` and `.helmignore` patterns are mostly literal characters, `?` and `*`.
//! Compiled as regular expressions (`[^/]*` is a Unicode class), each costs a DFA build far
//! larger than matching it against the few paths of a chart: in `strata graph` of a chart with
//! subcharts, compiling them was a tenth of the whole command. [`Wildcard`] matches those
//! patterns directly, with exactly the meaning of the regular expressions they stand for; a
//! pattern with classes, alternatives or escapes is left to the regular expression (its
//! constructors return `None`).

/// Patterns longer than this are left to the regular expression, whose size limit can refuse
/// them (no pattern a chart writes comes near).
const MAX_PATTERN_CHARS: usize = 256;

/// One element of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// The character itself.
    Literal(char),
    /// `?`: one character other than `/` (`[^/]`).
    One,
    /// `*`: any run of characters other than `/` (`[^/]*`).
    Segment,
    /// `**` of `.Files.Glob`: any run of characters other than a line feed (`.*`).
    Any,
}

/// A pattern of literal characters, `?`, `*` and (in `.Files.Glob`) `**`, matching a whole
/// path.
///
/// The literal characters the pattern starts and ends with are kept as strings: most paths a
/// pattern is matched against differ from it there (`*.bak` against `templates/app.yaml`), and
/// comparing them first settles the match without walking the pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wildcard {
    /// The tokens between the literal prefix and suffix (none when the pattern is literal).
    middle: Vec<Token>,
    /// The literal characters before the first `?` or `*` (the whole pattern when it has none).
    prefix: String,
    /// The literal characters after the last `?` or `*` (empty when the pattern has none).
    suffix: String,
}

impl Wildcard {
    /// A `.Files.Glob` pattern as [`crate::helm::glob_regex`] reads it (`*` and `?` within a
    /// segment, `**` across segments); `None` when it has `[...]`, `{...}` or `\` escapes.
    pub fn files_glob(pattern: &str) -> Option<Self> {
        Self::parse(pattern, true)
    }

    /// A `.helmignore` pattern as Go's `filepath.Match` reads it (`*` and `?` within a
    /// segment, `**` no different from `*`); `None` when it has `[...]` or `\` escapes.
    pub fn path_match(pattern: &str) -> Option<Self> {
        Self::parse(pattern, false)
    }

    fn parse(pattern: &str, double_star_crosses: bool) -> Option<Self> {
        if pattern.chars().count() > MAX_PATTERN_CHARS {
            return None;
        }
        let mut tokens = Vec::with_capacity(pattern.len());
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            let token = match c {
                '*' if double_star_crosses && chars.peek() == Some(&'*') => {
                    chars.next();
                    Token::Any
                }
                '*' => Token::Segment,
                '?' => Token::One,
                '[' | ']' | '\\' => return None,
                '{' | '}' if double_star_crosses => return None,
                other => Token::Literal(other),
            };
            tokens.push(token);
        }
        let literal = |t: &Token| match t {
            Token::Literal(c) => Some(*c),
            _ => None,
        };
        let prefix: String = tokens.iter().map_while(literal).collect();
        let prefix_len = prefix.chars().count();
        let mut suffix = String::new();
        let mut middle_end = tokens.len();
        if prefix_len < tokens.len() {
            let suffix_len = tokens.iter().rev().map_while(literal).count();
            middle_end -= suffix_len;
            suffix = tokens[middle_end..].iter().filter_map(literal).collect();
        }
        Some(Wildcard {
            middle: tokens[prefix_len..middle_end].to_vec(),
            prefix,
            suffix,
        })
    }

    /// Whether the pattern matches all of `text`.
    pub fn is_match(&self, text: &str) -> bool {
        if self.middle.is_empty() {
            return text == self.prefix;
        }
        // The prefix and suffix match characters of their own, which the middle's tokens then
        // cannot: they may not overlap.
        if text.len() < self.prefix.len() + self.suffix.len()
            || !text.starts_with(&self.prefix)
            || !text.ends_with(&self.suffix)
        {
            return false;
        }
        let middle = &text[self.prefix.len()..text.len() - self.suffix.len()];
        // `?` and `*` alone (no `**`, no literal between them): every character must be one
        // they take, and there must be a character for each `?`.
        if self
            .middle
            .iter()
            .all(|t| matches!(t, Token::One | Token::Segment))
        {
            if middle.contains('/') {
                return false;
            }
            let ones = self.middle.iter().filter(|t| **t == Token::One).count();
            let chars = middle.chars().count();
            return if self.middle.contains(&Token::Segment) {
                chars >= ones
            } else {
                chars == ones
            };
        }
        Self::walk(&self.middle, middle)
    }

    /// Whether `tokens` match all of `text`, walking every position the tokens can reach.
    fn walk(tokens: &[Token], text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        // reach[i]: the tokens so far can match the first i characters.
        let mut reach = vec![false; chars.len() + 1];
        reach[0] = true;
        let mut next = vec![false; chars.len() + 1];
        for token in tokens {
            next.fill(false);
            match *token {
                Token::Literal(_) | Token::One => {
                    for (i, &c) in chars.iter().enumerate() {
                        let fits = match *token {
                            Token::Literal(l) => c == l,
                            _ => c != '/',
                        };
                        next[i + 1] = reach[i] && fits;
                    }
                }
                Token::Segment | Token::Any => {
                    let stop = if *token == Token::Segment { '/' } else { '\n' };
                    next[0] = reach[0];
                    for (i, &c) in chars.iter().enumerate() {
                        next[i + 1] = reach[i + 1] || (next[i] && c != stop);
                    }
                }
            }
            std::mem::swap(&mut reach, &mut next);
            if !reach.contains(&true) {
                return false;
            }
        }
        reach[chars.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The regular expression `sources`' `.helmignore` reader compiles (kept here to compare).
    fn path_match_regex(pattern: &str) -> regex::Regex {
        let mut re = String::from("^");
        for c in pattern.chars() {
            match c {
                '*' => re.push_str("[^/]*"),
                '?' => re.push_str("[^/]"),
                other => re.push_str(&regex::escape(&other.to_string())),
            }
        }
        re.push('$');
        regex::Regex::new(&re).expect("compiles")
    }

    #[test]
    fn literals_stars_and_double_stars() {
        let w = Wildcard::files_glob("files/*.conf").expect("plain");
        assert!(w.is_match("files/a.conf"));
        assert!(w.is_match("files/.conf"));
        assert!(!w.is_match("files/sub/a.conf"));
        assert!(!w.is_match("files/a.conf.bak"));
        let w = Wildcard::files_glob("files/**.ini").expect("plain");
        assert!(w.is_match("files/sub/deeper/a.ini"));
        assert!(!w.is_match("files/a\nb.ini"));
        let w = Wildcard::path_match("templates/.?*").expect("plain");
        assert!(w.is_match("templates/.hidden"));
        assert!(!w.is_match("templates/."));
        assert!(!w.is_match("templates/.a/b"));
        let w = Wildcard::path_match("**").expect("plain");
        assert!(!w.is_match("a/b"));
        assert!(w.is_match(""));
    }

    #[test]
    fn literal_prefixes_and_suffixes_decide_first() {
        let w = Wildcard::path_match("values").expect("plain");
        assert!(w.is_match("values"));
        assert!(!w.is_match("values/"));
        assert!(!w.is_match("value"));
        let w = Wildcard::path_match("*.bak").expect("plain");
        assert!(w.is_match(".bak"));
        assert!(w.is_match("é.bak"));
        assert!(!w.is_match("a/b.bak"));
        assert!(!w.is_match("a.bak~"));
        // Prefix and suffix may not share characters.
        let w = Wildcard::path_match("ab*ba").expect("plain");
        assert!(!w.is_match("aba"));
        assert!(w.is_match("abba"));
        let w = Wildcard::path_match("a??b").expect("plain");
        assert!(w.is_match("aééb"));
        assert!(!w.is_match("aéb"));
        assert!(!w.is_match("a/xb"));
        let w = Wildcard::files_glob("docs/**.md").expect("plain");
        assert!(w.is_match("docs/a/b.md"));
        assert!(!w.is_match("docs/a\nb.md"));
        let w = Wildcard::files_glob("a*b?c").expect("plain");
        assert!(w.is_match("axxbyc"));
        assert!(!w.is_match("axxbc"));
    }

    #[test]
    fn classes_alternatives_and_escapes_are_left_to_the_regex() {
        assert_eq!(Wildcard::files_glob("files/*.{conf,ini}"), None);
        assert_eq!(Wildcard::files_glob("files/[ab].conf"), None);
        assert_eq!(Wildcard::path_match("a\\*"), None);
        assert_eq!(Wildcard::path_match("[!a]"), None);
        assert!(Wildcard::path_match("{a,b}").is_some());
        assert_eq!(
            Wildcard::path_match(&"a".repeat(MAX_PATTERN_CHARS + 1)),
            None
        );
    }

    proptest! {
        #[test]
        fn files_glob_agrees_with_its_regex(
            pattern in "[a/.*?é\n-]{0,8}",
            text in "[a/.é\n-]{0,10}",
        ) {
            let wildcard = Wildcard::files_glob(&pattern).expect("plain pattern");
            let re = crate::helm::glob_regex(&pattern).expect("compiles");
            prop_assert_eq!(wildcard.is_match(&text), re.is_match(&text));
        }

        #[test]
        fn path_match_agrees_with_its_regex(
            pattern in "[a/.*?é\n{,}-]{0,8}",
            text in "[a/.é\n{,}-]{0,10}",
        ) {
            let wildcard = Wildcard::path_match(&pattern).expect("plain pattern");
            prop_assert_eq!(wildcard.is_match(&text), path_match_regex(&pattern).is_match(&text));
        }
    }
}
