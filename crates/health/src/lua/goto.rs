//! The one Lua 5.2 statement ArgoCD's Lua 5.1 (gopher-lua) accepts that Lua 5.1 does not:
//! `goto`, as ArgoCD's own scripts use it, to skip to the end of a loop body (`goto continue`
//! … `::continue::` just before `end`).
//!
//! Such a jump is translated to Lua 5.1 without changing what the script does: the statements
//! of the block from its start to the label are wrapped in `repeat … until true`, each
//! `goto name` becomes `do break end` and the label becomes `until true`. The translation keeps
//! every line where it was, so error messages keep pointing at the script's own lines. A `goto`
//! it cannot translate this way (a backward jump, a label that is not the last statement of its
//! block, a jump out of a nested loop or function, a `break` the wrapping would capture) is
//! refused with a message naming the line.

use std::borrow::Cow;

/// A token of interest, with its byte range and line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Name(String),
    Keyword(&'static str),
    /// `::`
    DoubleColon,
    /// `.` or `:` (a following name is a field or method, not a statement).
    Dot,
    Other,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
    line: usize,
}

const KEYWORDS: [&str; 21] = [
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "if", "in", "local",
    "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
];

/// Splits Lua source into tokens (strings, comments and numbers are skipped as `Other`, or not
/// emitted at all for comments).
fn tokenize(source: &str) -> Result<Vec<Token>, TranslateError> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let long_bracket = |at: usize| -> Option<usize> {
        // `[` followed by `=`* and `[`: the level.
        if bytes.get(at) != Some(&b'[') {
            return None;
        }
        let mut j = at + 1;
        while bytes.get(j) == Some(&b'=') {
            j += 1;
        }
        (bytes.get(j) == Some(&b'[')).then_some(j - at - 1)
    };
    let skip_long =
        |from: usize, level: usize, line: &mut usize| -> Result<usize, TranslateError> {
            let close = format!("]{}]", "=".repeat(level));
            match source[from..].find(&close) {
                Some(at) => {
                    *line += source[from..from + at].matches('\n').count();
                    Ok(from + at + close.len())
                }
                None => Err(TranslateError(format!(
                    "line {line}: unfinished long string or comment"
                ))),
            }
        };
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                if let Some(level) = long_bracket(i + 2) {
                    i = skip_long(i + 4 + level, level, &mut line)?;
                } else {
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                }
            }
            b'[' if long_bracket(i).is_some() => {
                let level = long_bracket(i).unwrap_or(0);
                let token_line = line;
                i = skip_long(i + 2 + level, level, &mut line)?;
                tokens.push(Token {
                    tok: Tok::Other,
                    start,
                    end: i,
                    line: token_line,
                });
            }
            b'"' | b'\'' => {
                i += 1;
                while i < bytes.len() && bytes[i] != c {
                    if bytes[i] == b'\\' {
                        if bytes.get(i + 1) == Some(&b'\n') {
                            line += 1;
                        }
                        i += 1;
                    } else if bytes[i] == b'\n' {
                        return Err(TranslateError(format!("line {line}: unfinished string")));
                    }
                    i += 1;
                }
                i += 1;
                tokens.push(Token {
                    tok: Tok::Other,
                    start,
                    end: i.min(bytes.len()),
                    line,
                });
            }
            b':' if bytes.get(i + 1) == Some(&b':') => {
                i += 2;
                tokens.push(Token {
                    tok: Tok::DoubleColon,
                    start,
                    end: i,
                    line,
                });
            }
            b'.' | b':' => {
                i += 1;
                // `..` and `...` are operators, not field access.
                let tok = if c == b'.' && bytes.get(i) == Some(&b'.') {
                    while bytes.get(i) == Some(&b'.') {
                        i += 1;
                    }
                    Tok::Other
                } else if c == b'.' && bytes.get(i).is_some_and(u8::is_ascii_digit) {
                    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.')
                    {
                        i += 1;
                    }
                    Tok::Other
                } else {
                    Tok::Dot
                };
                tokens.push(Token {
                    tok,
                    start,
                    end: i,
                    line,
                });
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let word = &source[start..i];
                let tok = match KEYWORDS.iter().find(|k| **k == word) {
                    Some(keyword) => Tok::Keyword(keyword),
                    None => Tok::Name(word.to_string()),
                };
                tokens.push(Token {
                    tok,
                    start,
                    end: i,
                    line,
                });
            }
            c if c.is_ascii_digit() => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || bytes[i] == b'.'
                        || ((bytes[i] == b'-' || bytes[i] == b'+')
                            && matches!(bytes[i - 1], b'e' | b'E')))
                {
                    i += 1;
                }
                tokens.push(Token {
                    tok: Tok::Other,
                    start,
                    end: i,
                    line,
                });
            }
            _ => {
                // Multi-byte UTF-8 and punctuation: one token per character.
                let width = source[i..].chars().next().map_or(1, char::len_utf8);
                i += width;
                tokens.push(Token {
                    tok: Tok::Other,
                    start,
                    end: i,
                    line,
                });
            }
        }
    }
    Ok(tokens)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Chunk,
    Plain,
    Loop,
    Function,
}

#[derive(Debug, Clone)]
struct Block {
    kind: BlockKind,
    /// Where the block's statements start (byte offset).
    body_start: usize,
}

struct Label {
    name: String,
    start: usize,
    end: usize,
    line: usize,
    /// The path of block ids from the chunk to the label's block.
    path: Vec<usize>,
}

struct Jump {
    name: String,
    start: usize,
    end: usize,
    line: usize,
    path: Vec<usize>,
}

struct Break {
    path: Vec<usize>,
}

/// The source with `goto continue`-style jumps translated to Lua 5.1, or the source itself when
/// it has no `goto`; an error naming the line for a jump that cannot be translated.
pub fn translate(source: &str) -> Result<Cow<'_, str>, TranslateError> {
    if !source.contains("goto") && !source.contains("::") {
        return Ok(Cow::Borrowed(source));
    }
    let tokens = tokenize(source)?;
    let mut blocks: Vec<Block> = vec![Block {
        kind: BlockKind::Chunk,
        body_start: 0,
    }];
    let mut stack: Vec<usize> = vec![0];
    // Loop headers (`while`, `for`) waiting for their `do`, by stack depth.
    let mut pending_loops: Vec<usize> = Vec::new();
    let mut pending_functions: Vec<usize> = Vec::new();
    let mut labels: Vec<Label> = Vec::new();
    let mut jumps: Vec<Jump> = Vec::new();
    let mut breaks: Vec<Break> = Vec::new();
    let mut paren_depth = 0usize;
    let open = |blocks: &mut Vec<Block>, stack: &mut Vec<usize>, kind, body_start| {
        blocks.push(Block { kind, body_start });
        stack.push(blocks.len() - 1);
    };
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        let depth = stack.len();
        match &token.tok {
            Tok::Keyword("while" | "for") => pending_loops.push(depth),
            Tok::Keyword("do") => {
                let kind = if pending_loops.last() == Some(&depth) {
                    pending_loops.pop();
                    BlockKind::Loop
                } else {
                    BlockKind::Plain
                };
                open(&mut blocks, &mut stack, kind, token.end);
            }
            Tok::Keyword("repeat") => open(&mut blocks, &mut stack, BlockKind::Loop, token.end),
            Tok::Keyword("then") => open(&mut blocks, &mut stack, BlockKind::Plain, token.end),
            Tok::Keyword("elseif") => {
                stack.pop();
            }
            Tok::Keyword("else") => {
                stack.pop();
                open(&mut blocks, &mut stack, BlockKind::Plain, token.end);
            }
            Tok::Keyword("function") => pending_functions.push(paren_depth),
            Tok::Keyword("end" | "until") => {
                if stack.len() <= 1 {
                    return Err(TranslateError(format!(
                        "line {}: unexpected `end`",
                        token.line
                    )));
                }
                stack.pop();
            }
            Tok::Keyword("break") => breaks.push(Break {
                path: stack.clone(),
            }),
            Tok::Other if &source[token.start..token.end] == "(" => paren_depth += 1,
            Tok::Other if &source[token.start..token.end] == ")" => {
                paren_depth = paren_depth.saturating_sub(1);
                // The `)` closing a function's parameters starts its body.
                if pending_functions.last() == Some(&paren_depth) {
                    pending_functions.pop();
                    open(&mut blocks, &mut stack, BlockKind::Function, token.end);
                }
            }
            Tok::DoubleColon => {
                let (
                    Some(Token {
                        tok: Tok::Name(name),
                        ..
                    }),
                    Some(close),
                ) = (tokens.get(i + 1), tokens.get(i + 2))
                else {
                    return Err(TranslateError(format!(
                        "line {}: malformed label",
                        token.line
                    )));
                };
                if close.tok != Tok::DoubleColon {
                    return Err(TranslateError(format!(
                        "line {}: malformed label",
                        token.line
                    )));
                }
                labels.push(Label {
                    name: name.clone(),
                    start: token.start,
                    end: close.end,
                    line: token.line,
                    path: stack.clone(),
                });
                i += 3;
                continue;
            }
            Tok::Name(word) if word == "goto" => {
                let statement = i == 0 || tokens[i - 1].tok != Tok::Dot;
                if let (
                    true,
                    Some(Token {
                        tok: Tok::Name(target),
                        end,
                        ..
                    }),
                ) = (statement, tokens.get(i + 1))
                {
                    jumps.push(Jump {
                        name: target.clone(),
                        start: token.start,
                        end: *end,
                        line: token.line,
                        path: stack.clone(),
                    });
                    i += 2;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    if labels.is_empty() && jumps.is_empty() {
        return Ok(Cow::Borrowed(source));
    }
    // Edits as (start, end, replacement), applied from the end.
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    for label in &labels {
        let block = *label.path.last().unwrap_or(&0);
        // The label must be the last statement of its block.
        let next = tokens.iter().find(|t| t.start >= label.end);
        let last = matches!(
            next.map(|t| &t.tok),
            None | Some(Tok::Keyword("end" | "until" | "else" | "elseif"))
        );
        let targeting: Vec<&Jump> = jumps.iter().filter(|j| j.name == label.name).collect();
        if targeting.is_empty() {
            edits.push((label.start, label.end, String::new()));
            continue;
        }
        if !last {
            return Err(TranslateError(format!(
                "line {}: label `::{}::` is not the last statement of its block; Lua 5.1 has no \
                 `goto`, and Strata translates only a jump to the end of a block",
                label.line, label.name
            )));
        }
        for jump in &targeting {
            let inside = jump.path.len() >= label.path.len()
                && jump.path[..label.path.len()] == label.path[..]
                && jump.start > blocks[block].body_start
                && jump.end <= label.start;
            let crosses = jump.path[label.path.len().min(jump.path.len())..]
                .iter()
                .any(|b| matches!(blocks[*b].kind, BlockKind::Loop | BlockKind::Function));
            if !inside || crosses {
                return Err(TranslateError(format!(
                    "line {}: `goto {}` jumps backwards, out of a nested loop or function, or to \
                     a label outside its block; Lua 5.1 has no `goto`, and Strata translates only \
                     a forward jump to the end of an enclosing block",
                    jump.line, jump.name
                )));
            }
            edits.push((jump.start, jump.end, "do break end".to_string()));
        }
        // A `break` between the block start and the label would now leave the wrapper.
        let captured = breaks.iter().any(|b| {
            b.path.len() >= label.path.len()
                && b.path[..label.path.len()] == label.path[..]
                && !b.path[label.path.len()..]
                    .iter()
                    .any(|x| matches!(blocks[*x].kind, BlockKind::Loop | BlockKind::Function))
        });
        if captured {
            return Err(TranslateError(format!(
                "line {}: the block ending with label `::{}::` also has a `break`; Lua 5.1 has \
                 no `goto`, and Strata cannot translate this jump",
                label.line, label.name
            )));
        }
        edits.push((
            blocks[block].body_start,
            blocks[block].body_start,
            " repeat".into(),
        ));
        edits.push((label.start, label.end, "until true".into()));
    }
    for jump in &jumps {
        if !labels.iter().any(|l| l.name == jump.name) {
            return Err(TranslateError(format!(
                "line {}: no visible label `{}` for goto",
                jump.line, jump.name
            )));
        }
    }
    edits.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let mut out = source.to_string();
    for (start, end, replacement) in edits {
        out.replace_range(start..end, &replacement);
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_at_the_end_of_a_loop_body() {
        let source = "for _, c in ipairs(xs) do\n  if c ~= 1 then goto continue end\n  n = n + 1\n  ::continue::\nend\n";
        let out = translate(source).expect("translates");
        assert_eq!(
            out,
            "for _, c in ipairs(xs) do repeat\n  if c ~= 1 then do break end end\n  n = n + 1\n  until true\nend\n"
        );
        assert_eq!(out.lines().count(), source.lines().count());
    }

    #[test]
    fn continue_at_the_end_of_an_if_inside_a_loop() {
        let source = "for _, p in ipairs(ps) do\n  if p.c ~= nil then\n    if skip(p) then\n      goto continue\n    end\n    for _, c in ipairs(p.c) do if c then break end end\n    ::continue::\n  end\nend\n";
        let out = translate(source).expect("translates");
        assert!(out.contains("then repeat\n"), "{out}");
        assert!(out.contains("do break end"), "{out}");
        assert!(out.contains("until true\n  end"), "{out}");
    }

    #[test]
    fn scripts_without_goto_are_untouched() {
        let source = "local goto = 1\nlocal t = {goto = 2}\nreturn t.goto -- goto x\n";
        assert!(matches!(translate(source), Ok(Cow::Borrowed(_))));
        let strings = "local s = '::x::' .. [[goto y]]\n";
        assert!(matches!(translate(strings), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn untranslatable_jumps_are_refused_with_their_line() {
        let backward = "::top::\nx = 1\ngoto top\n";
        let err = translate(backward).expect_err("refused").to_string();
        assert!(
            err.starts_with("line 1:") || err.starts_with("line 3:"),
            "{err}"
        );
        let out_of_loop =
            "for i = 1, 3 do\n  for j = 1, 3 do\n    goto next\n  end\n  ::next::\nend\n";
        assert!(
            translate(out_of_loop)
                .expect_err("refused")
                .to_string()
                .starts_with("line 3:")
        );
        let with_break = "for i = 1, 3 do\n  if i == 2 then break end\n  if i == 1 then goto c end\n  ::c::\nend\n";
        assert!(translate(with_break).is_err());
    }
}

/// A script the `goto` translation cannot read; the message names the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TranslateError(String);
