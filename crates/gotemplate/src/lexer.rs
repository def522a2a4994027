//! Tokeniser for Go `text/template` source: text runs, actions and the tokens inside actions.

use super::error::TemplateError;

/// One token of template source, with the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    /// What the token is.
    pub kind: Tok,
    /// Byte offset of the token in the template source.
    pub pos: usize,
}

/// Token kinds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// Plain text outside actions (already trimmed by `{{-` / `-}}` markers).
    Text(String),
    /// `{{` (the trim marker is consumed).
    LeftDelim,
    /// `}}` (the trim marker is consumed).
    RightDelim,
    /// A keyword or function name.
    Ident(String),
    /// `.a.b` field chain segments (a lone `.` is `Dot`).
    Field(Vec<String>),
    /// `$name` or `$`.
    Variable(String),
    /// A quoted or raw string literal (unescaped).
    Str(String),
    /// A character constant, as its code point.
    Char(char),
    /// A numeric literal (source text).
    Number(String),
    /// `true` / `false`.
    Bool(bool),
    /// `nil`.
    Nil,
    /// `.` alone.
    Dot,
    /// `|`.
    Pipe,
    /// `(`.
    LeftParen,
    /// `)`.
    RightParen,
    /// `:=`.
    Declare,
    /// `=`.
    Assign,
    /// `,`.
    Comma,
}

/// The action delimiters (Go's `Template.Delims`): `{{` and `}}` unless changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Delims {
    pub left: String,
    pub right: String,
}

impl Default for Delims {
    fn default() -> Self {
        Self {
            left: "{{".into(),
            right: "}}".into(),
        }
    }
}

/// Splits template source into tokens, actions between `delims`.
pub(crate) fn lex_with(
    name: &str,
    src: &str,
    delims: &Delims,
) -> Result<Vec<Token>, TemplateError> {
    let mut lx = Lexer {
        left: &delims.left,
        right: &delims.right,
        name,
        src,
        bytes: src.as_bytes(),
        pos: 0,
        out: Vec::new(),
    };
    lx.run()?;
    Ok(lx.out)
}

struct Lexer<'a> {
    left: &'a str,
    right: &'a str,
    name: &'a str,
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    out: Vec<Token>,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// The byte offset of the first `delim` in `text`, as `text.find(delim)`: candidates found by
/// their first byte, without setting up a substring searcher for every text run (most runs
/// between two actions are short, and the setup cost more than the scan). A plain loop, not the
/// `memchr` crate: its first call probes the CPU's features with `cpuid`, which traps to the
/// hypervisor in a virtual machine and cost more per process than all the scanning saved.
fn find_delim(text: &str, delim: &str) -> Option<usize> {
    let (bytes, want) = (text.as_bytes(), delim.as_bytes());
    let Some(&first) = want.first() else {
        return Some(0);
    };
    let mut from = 0;
    while let Some(i) = bytes[from..].iter().position(|&b| b == first) {
        let at = from + i;
        if bytes[at..].starts_with(want) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

impl Lexer<'_> {
    fn err(&self, pos: usize, msg: impl Into<String>) -> TemplateError {
        TemplateError::parse(self.name, self.src, pos, msg)
    }

    fn run(&mut self) -> Result<(), TemplateError> {
        let mut trim_next_text = false;
        while self.pos < self.bytes.len() {
            let rest = &self.src[self.pos..];
            let start = match find_delim(rest, self.left) {
                Some(i) => self.pos + i,
                None => self.bytes.len(),
            };
            let mut text = &self.src[self.pos..start];
            if trim_next_text {
                text = text.trim_start_matches([' ', '\t', '\r', '\n']);
            }
            // A left trim marker is `{{-` followed by ASCII space.
            let open = self.left.len();
            let left_trim = self.bytes.get(start + open) == Some(&b'-')
                && self
                    .bytes
                    .get(start + open + 1)
                    .is_some_and(|b| is_space(*b));
            if left_trim {
                text = text.trim_end_matches([' ', '\t', '\r', '\n']);
            }
            if !text.is_empty() {
                let text_pos = start - text.len();
                self.out.push(Token {
                    kind: Tok::Text(text.to_string()),
                    pos: text_pos,
                });
            }
            if start >= self.bytes.len() {
                break;
            }
            self.pos = start + open;
            if left_trim {
                self.pos += 2;
            }
            trim_next_text = self.action(start)?;
        }
        Ok(())
    }

    /// Lexes one action; returns whether it ended with a right trim marker.
    fn action(&mut self, start: usize) -> Result<bool, TemplateError> {
        // Comments: `{{/* ... */}}`.
        if self.src[self.pos..].starts_with("/*") {
            let Some(end) = self.src[self.pos..].find("*/") else {
                return Err(self.err(start, "unclosed comment"));
            };
            self.pos += end + 2;
            let rest = &self.src[self.pos..];
            if rest.starts_with(self.right) {
                self.pos += self.right.len();
                return Ok(false);
            }
            if let Some(after) = rest.strip_prefix(" -")
                && after.starts_with(self.right)
            {
                self.pos += 2 + self.right.len();
                return Ok(true);
            }
            return Err(self.err(start, "comment ends before closing delimiter"));
        }
        self.out.push(Token {
            kind: Tok::LeftDelim,
            pos: start,
        });
        let mut paren_depth = 0usize;
        loop {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(self.err(start, "unclosed action"));
            };
            let rest = &self.src[self.pos..];
            if is_space(b) {
                // Right trim marker: ` -}}`.
                if rest[1..]
                    .strip_prefix('-')
                    .is_some_and(|r| r.starts_with(self.right))
                {
                    let trimmed = rest.trim_start_matches([' ', '\t', '\r', '\n']);
                    if trimmed
                        .strip_prefix('-')
                        .is_some_and(|r| r.starts_with(self.right))
                    {
                        let at = self.src.len() - trimmed.len();
                        self.out.push(Token {
                            kind: Tok::RightDelim,
                            pos: at,
                        });
                        self.pos = at + 1 + self.right.len();
                        return Ok(true);
                    }
                }
                self.pos += 1;
                continue;
            }
            if rest.starts_with(self.right) {
                if paren_depth > 0 {
                    return Err(self.err(self.pos, "unclosed left paren"));
                }
                self.out.push(Token {
                    kind: Tok::RightDelim,
                    pos: self.pos,
                });
                self.pos += self.right.len();
                return Ok(false);
            }
            let pos = self.pos;
            let c = rest.chars().next().unwrap_or('\0');
            match c {
                '|' => self.single(Tok::Pipe),
                '(' => {
                    paren_depth += 1;
                    self.single(Tok::LeftParen);
                }
                ')' => {
                    if paren_depth == 0 {
                        return Err(self.err(pos, "unexpected right paren"));
                    }
                    paren_depth -= 1;
                    self.single(Tok::RightParen);
                }
                ',' => self.single(Tok::Comma),
                ':' => {
                    if rest.starts_with(":=") {
                        self.out.push(Token {
                            kind: Tok::Declare,
                            pos,
                        });
                        self.pos += 2;
                    } else {
                        return Err(self.err(pos, "expected :="));
                    }
                }
                '=' => self.single(Tok::Assign),
                '"' => self.quoted(pos)?,
                '`' => {
                    let Some(end) = rest[1..].find('`') else {
                        return Err(self.err(pos, "unterminated raw quoted string"));
                    };
                    let s = rest[1..1 + end].to_string();
                    self.out.push(Token {
                        kind: Tok::Str(s),
                        pos,
                    });
                    self.pos += end + 2;
                }
                '\'' => self.char_const(pos)?,
                '$' => {
                    let len = rest[1..]
                        .find(|c: char| !is_alnum(c))
                        .unwrap_or(rest.len() - 1);
                    let name = rest[..1 + len].to_string();
                    self.out.push(Token {
                        kind: Tok::Variable(name),
                        pos,
                    });
                    self.pos += 1 + len;
                }
                '.' => {
                    let next = rest[1..].chars().next();
                    if next.is_some_and(|c| c.is_ascii_digit()) {
                        self.number(pos);
                    } else if next.is_some_and(is_alnum) {
                        let mut segs = Vec::new();
                        let mut p = 0usize;
                        while rest[p..].starts_with('.')
                            && rest[p + 1..].chars().next().is_some_and(is_alnum)
                        {
                            let len = rest[p + 1..]
                                .find(|c: char| !is_alnum(c))
                                .unwrap_or(rest.len() - p - 1);
                            segs.push(rest[p + 1..p + 1 + len].to_string());
                            p += 1 + len;
                        }
                        self.out.push(Token {
                            kind: Tok::Field(segs),
                            pos,
                        });
                        self.pos += p;
                    } else {
                        self.single(Tok::Dot);
                    }
                }
                '0'..='9' | '-' | '+' => self.number(pos),
                c if is_alnum(c) => {
                    let len = rest.find(|c: char| !is_alnum(c)).unwrap_or(rest.len());
                    let word = &rest[..len];
                    let kind = match word {
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        "nil" => Tok::Nil,
                        _ => Tok::Ident(word.to_string()),
                    };
                    self.out.push(Token { kind, pos });
                    self.pos += len;
                }
                other => return Err(self.err(pos, format!("unexpected {other:?} in command"))),
            }
        }
    }

    fn single(&mut self, kind: Tok) {
        self.out.push(Token {
            kind,
            pos: self.pos,
        });
        self.pos += 1;
    }

    fn number(&mut self, pos: usize) {
        let rest = &self.src[self.pos..];
        let len = rest
            .char_indices()
            .skip(1)
            .find(|(i, c)| {
                let prev = rest.as_bytes()[i - 1];
                !(c.is_ascii_alphanumeric()
                    || *c == '.'
                    || *c == '_'
                    || ((*c == '-' || *c == '+') && matches!(prev, b'e' | b'E' | b'p' | b'P')))
            })
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        self.out.push(Token {
            kind: Tok::Number(rest[..len].to_string()),
            pos,
        });
        self.pos += len;
    }

    fn quoted(&mut self, pos: usize) -> Result<(), TemplateError> {
        let mut out = String::new();
        let mut chars = self.src[self.pos + 1..].char_indices();
        loop {
            let Some((i, c)) = chars.next() else {
                return Err(self.err(pos, "unterminated quoted string"));
            };
            match c {
                '"' => {
                    self.pos += 1 + i + 1;
                    break;
                }
                '\n' => return Err(self.err(pos, "unterminated quoted string")),
                '\\' => {
                    let Some((_, e)) = chars.next() else {
                        return Err(self.err(pos, "unterminated quoted string"));
                    };
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        '\\' => out.push('\\'),
                        '"' => out.push('"'),
                        '\'' => out.push('\''),
                        'a' => out.push('\u{7}'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'v' => out.push('\u{b}'),
                        'x' | 'u' | 'U' => {
                            let n = match e {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let hex: String = (0..n)
                                .filter_map(|_| chars.next().map(|(_, c)| c))
                                .collect();
                            let code = u32::from_str_radix(&hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .ok_or_else(|| self.err(pos, "invalid escape in quoted string"))?;
                            out.push(code);
                        }
                        _ => return Err(self.err(pos, "invalid syntax in quoted string")),
                    }
                }
                c => out.push(c),
            }
        }
        self.out.push(Token {
            kind: Tok::Str(out),
            pos,
        });
        Ok(())
    }

    fn char_const(&mut self, pos: usize) -> Result<(), TemplateError> {
        let rest = &self.src[self.pos + 1..];
        let mut it = rest.chars();
        let c = match it.next() {
            Some('\\') => match it.next() {
                Some('n') => '\n',
                Some('t') => '\t',
                Some('\\') => '\\',
                Some('\'') => '\'',
                _ => return Err(self.err(pos, "invalid character constant")),
            },
            Some(c) => c,
            None => return Err(self.err(pos, "unterminated character constant")),
        };
        let consumed = rest.len() - it.as_str().len();
        if !it.as_str().starts_with('\'') {
            return Err(self.err(pos, "unterminated character constant"));
        }
        self.out.push(Token {
            kind: Tok::Char(c),
            pos,
        });
        self.pos += 1 + consumed + 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters_are_found_as_str_find_finds_them() {
        let texts = [
            "",
            "{",
            "{{",
            "a{b{{c",
            "{{{",
            "x}}{{",
            "é{{",
            "«»{{«",
            "a«",
            "[[ [",
            "no delimiter",
        ];
        for text in texts {
            for delim in ["{{", "}}", "«", "[[", "{", ""] {
                assert_eq!(
                    find_delim(text, delim),
                    text.find(delim),
                    "{delim:?} in {text:?}"
                );
            }
        }
    }
}
