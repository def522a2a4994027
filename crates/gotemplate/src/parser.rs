//! Builds the parse tree from tokens, checking that every function used is defined.

use std::collections::BTreeMap;

use super::ast::{Arg, Branch, BranchKind, Cmd, Node, Pipe};
use super::error::TemplateError;
use super::lexer::{Tok, Token};

/// Result of parsing: the main body plus templates introduced by `define`/`block`.
pub(crate) struct Parsed {
    /// Main template body.
    pub body: Vec<Node>,
    /// Named templates.
    pub defines: BTreeMap<String, Vec<Node>>,
}

/// How a list of nodes ended.
enum Stop {
    Eof,
    End,
    Else(usize),
}

/// Parses tokens of the template `name`.
pub(crate) fn parse(
    name: &str,
    src: &str,
    tokens: Vec<Token>,
    is_func: &dyn Fn(&str) -> bool,
) -> Result<Parsed, TemplateError> {
    let mut p = Parser {
        name,
        src,
        tokens,
        i: 0,
        is_func,
        defines: BTreeMap::new(),
        vars: vec![vec!["$".to_string()]],
        range_depth: 0,
        paren_depth: 0,
    };
    let (body, end) = p.list()?;
    match end {
        Stop::Eof => {}
        Stop::End => return Err(p.err(p.last_pos(), "unexpected {{end}}")),
        Stop::Else(pos) => return Err(p.err(pos, "unexpected {{else}}")),
    }
    Ok(Parsed {
        body,
        defines: p.defines,
    })
}

struct Parser<'a> {
    name: &'a str,
    src: &'a str,
    tokens: Vec<Token>,
    i: usize,
    is_func: &'a dyn Fn(&str) -> bool,
    defines: BTreeMap<String, Vec<Node>>,
    vars: Vec<Vec<String>>,
    range_depth: usize,
    /// Nesting of parenthesised pipelines.
    paren_depth: usize,
}

/// Go's maximum nesting of parenthesised pipelines (`parse.maxStackDepth`).
const MAX_PAREN_DEPTH: usize = 10_000;

impl Parser<'_> {
    fn err(&self, pos: usize, msg: impl Into<String>) -> TemplateError {
        TemplateError::parse(self.name, self.src, pos, msg)
    }

    fn last_pos(&self) -> usize {
        self.tokens
            .get(self.i.saturating_sub(1))
            .map(|t| t.pos)
            .unwrap_or(0)
    }

    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.i).map(|t| &t.kind)
    }

    fn next(&mut self) -> Result<Token, TemplateError> {
        let t = self
            .tokens
            .get(self.i)
            .cloned()
            .ok_or_else(|| self.err(self.src.len(), "unexpected EOF"))?;
        self.i += 1;
        Ok(t)
    }

    fn expect_right(&mut self, ctx: &str) -> Result<(), TemplateError> {
        let t = self.next()?;
        if t.kind != Tok::RightDelim {
            return Err(self.err(t.pos, format!("unexpected {:?} in {ctx}", t.kind)));
        }
        Ok(())
    }

    /// Parses nodes until EOF, `{{end}}` or `{{else}}` (whose tokens are consumed, except the rest of an else action).
    /// Parses nodes up to `{{end}}`, `{{else}}` or the end, on a new stack segment when the
    /// thread's stack runs low (control structures nest through here).
    fn list(&mut self) -> Result<(Vec<Node>, Stop), TemplateError> {
        crate::limits::grow(|| self.list_nodes())
    }

    fn list_nodes(&mut self) -> Result<(Vec<Node>, Stop), TemplateError> {
        let mut nodes = Vec::new();
        while let Some(tok) = self.tokens.get(self.i).cloned() {
            self.i += 1;
            match tok.kind {
                Tok::Text(t) => nodes.push(Node::Text(t)),
                Tok::LeftDelim => {
                    let kw = match self.peek() {
                        Some(Tok::Ident(k)) => Some(k.clone()),
                        _ => None,
                    };
                    match kw.as_deref() {
                        Some("end") => {
                            self.i += 1;
                            self.expect_right("end")?;
                            return Ok((nodes, Stop::End));
                        }
                        Some("else") => {
                            self.i += 1;
                            return Ok((nodes, Stop::Else(tok.pos)));
                        }
                        Some("if") => nodes.push(self.branch(BranchKind::If)?),
                        Some("with") => nodes.push(self.branch(BranchKind::With)?),
                        Some("range") => nodes.push(self.branch(BranchKind::Range)?),
                        Some("break") | Some("continue") => {
                            let is_break = kw.as_deref() == Some("break");
                            if self.range_depth == 0 {
                                return Err(self.err(
                                    tok.pos,
                                    format!(
                                        "{{{{{}}}}} outside {{{{range}}}}",
                                        kw.unwrap_or_default()
                                    ),
                                ));
                            }
                            self.i += 1;
                            self.expect_right("break/continue")?;
                            nodes.push(if is_break {
                                Node::Break
                            } else {
                                Node::Continue
                            });
                        }
                        Some("define") => {
                            self.i += 1;
                            let name = self.template_name()?;
                            self.expect_right("define clause")?;
                            let (body, end) = self.scoped_list()?;
                            if !matches!(end, Stop::End) {
                                return Err(self.err(tok.pos, "expected end; found else"));
                            }
                            self.defines.insert(name, body);
                        }
                        Some("template") | Some("block") => {
                            let is_block = kw.as_deref() == Some("block");
                            self.i += 1;
                            let name = self.template_name()?;
                            let pipe = if self.peek() == Some(&Tok::RightDelim) {
                                self.i += 1;
                                None
                            } else {
                                Some(self.pipeline(false)?)
                            };
                            if is_block {
                                let (body, end) = self.scoped_list()?;
                                if !matches!(end, Stop::End) {
                                    return Err(self.err(tok.pos, "expected end; found else"));
                                }
                                self.defines.insert(name.clone(), body);
                            }
                            nodes.push(Node::Template {
                                pos: tok.pos,
                                name,
                                pipe,
                            });
                        }
                        _ => {
                            let pipe = self.pipeline(true)?;
                            nodes.push(Node::Action(pipe));
                        }
                    }
                }
                other => return Err(self.err(tok.pos, format!("unexpected {other:?}"))),
            }
        }
        Ok((nodes, Stop::Eof))
    }

    fn scoped_list(&mut self) -> Result<(Vec<Node>, Stop), TemplateError> {
        self.vars.push(Vec::new());
        let r = self.list();
        self.vars.pop();
        r
    }

    fn template_name(&mut self) -> Result<String, TemplateError> {
        let t = self.next()?;
        match t.kind {
            Tok::Str(s) => Ok(s),
            _ => Err(self.err(t.pos, "expected template name string")),
        }
    }

    fn branch(&mut self, kind: BranchKind) -> Result<Node, TemplateError> {
        let start = self.tokens[self.i].pos;
        self.i += 1; // keyword
        self.vars.push(Vec::new());
        let pipe = self.pipeline(false)?;
        if kind == BranchKind::Range {
            self.range_depth += 1;
        }
        let (body, end) = self.list()?;
        if kind == BranchKind::Range {
            self.range_depth -= 1;
        }
        let else_body = match end {
            Stop::Eof => return Err(self.err(start, "unexpected EOF")),
            Stop::End => None,
            Stop::Else(_) => {
                // `{{else if ...}}` / `{{else with ...}}` chain into a nested branch sharing our end.
                let chained = match self.peek() {
                    Some(Tok::Ident(k)) if k == "if" && kind == BranchKind::If => {
                        Some(BranchKind::If)
                    }
                    Some(Tok::Ident(k)) if k == "with" && kind == BranchKind::With => {
                        Some(BranchKind::With)
                    }
                    _ => None,
                };
                if let Some(k) = chained {
                    Some(vec![self.branch(k)?])
                } else {
                    self.expect_right("else")?;
                    let (body, end) = self.scoped_list()?;
                    match end {
                        Stop::End => {}
                        Stop::Else(p) => return Err(self.err(p, "expected end; found {{else}}")),
                        Stop::Eof => return Err(self.err(start, "unexpected EOF")),
                    }
                    Some(body)
                }
            }
        };
        self.vars.pop();
        Ok(Node::Branch(Branch {
            kind,
            pipe,
            body,
            else_body,
        }))
    }

    fn declared(&self, name: &str) -> bool {
        self.vars
            .iter()
            .any(|scope| scope.iter().any(|v| v == name))
    }

    /// Parses a pipeline up to and including the closing `}}` (or `)` when nested).
    fn pipeline(&mut self, allow_decl_scope_top: bool) -> Result<Pipe, TemplateError> {
        let _ = allow_decl_scope_top;
        let pos = self.tokens.get(self.i).map(|t| t.pos).unwrap_or(0);
        let mut decl = Vec::new();
        let mut is_assign = false;
        // Look ahead for `$x :=`, `$x, $y :=` or `$x =`.
        if let Some(Tok::Variable(_)) = self.peek() {
            let save = self.i;
            let mut names = Vec::new();
            while let Some(Tok::Variable(v)) = self.peek() {
                names.push(v.clone());
                self.i += 1;
                match self.peek() {
                    Some(Tok::Comma) => {
                        self.i += 1;
                    }
                    Some(Tok::Declare) => {
                        self.i += 1;
                        decl = names;
                        break;
                    }
                    Some(Tok::Assign) => {
                        self.i += 1;
                        is_assign = true;
                        decl = names;
                        break;
                    }
                    _ => break,
                }
            }
            if decl.is_empty() {
                self.i = save;
            } else if is_assign {
                for v in &decl {
                    if !self.declared(v) {
                        return Err(self.err(pos, format!("undefined variable \"{v}\"")));
                    }
                }
            } else {
                if decl.len() > 2 {
                    return Err(self.err(pos, "too many declarations"));
                }
                let scope = self.vars.len() - 1;
                for v in &decl {
                    self.vars[scope].push(v.clone());
                }
            }
        }
        let mut cmds = Vec::new();
        loop {
            let cmd = self.command()?;
            cmds.push(cmd);
            let t = self.next()?;
            match t.kind {
                // Go's parser takes a pipe with nothing after it (`{{ x | f | }}`).
                Tok::Pipe if matches!(self.peek(), Some(Tok::RightDelim | Tok::RightParen)) => {
                    self.next()?;
                    break;
                }
                Tok::Pipe => continue,
                Tok::RightDelim | Tok::RightParen => break,
                other => return Err(self.err(t.pos, format!("unexpected {other:?} in operand"))),
            }
        }
        Ok(Pipe {
            pos,
            decl,
            is_assign,
            cmds,
        })
    }

    fn command(&mut self) -> Result<Cmd, TemplateError> {
        let pos = self.tokens.get(self.i).map(|t| t.pos).unwrap_or(0);
        let mut args = Vec::new();
        while let Some(tok) = self.peek() {
            if matches!(tok, Tok::Pipe | Tok::RightDelim | Tok::RightParen) {
                break;
            }
            args.push(self.operand()?);
        }
        if args.is_empty() {
            return Err(self.err(pos, "missing value for command"));
        }
        Ok(Cmd { args })
    }

    fn operand(&mut self) -> Result<Arg, TemplateError> {
        let t = self.next()?;
        let arg = match t.kind {
            Tok::Dot => Arg::Dot(t.pos),
            Tok::Field(path) => Arg::Field(t.pos, path),
            Tok::Variable(name) => {
                if !self.declared(&name) {
                    return Err(self.err(t.pos, format!("undefined variable \"{name}\"")));
                }
                let path = self.field_suffix();
                Arg::Variable(t.pos, name, path)
            }
            Tok::Ident(name) => {
                if matches!(
                    name.as_str(),
                    "if" | "else"
                        | "end"
                        | "range"
                        | "with"
                        | "define"
                        | "template"
                        | "block"
                        | "break"
                        | "continue"
                ) {
                    return Err(self.err(t.pos, format!("unexpected <{name}> in command")));
                }
                if !(self.is_func)(&name) {
                    return Err(self.err(t.pos, format!("function \"{name}\" not defined")));
                }
                Arg::Ident(t.pos, name)
            }
            Tok::LeftParen => {
                if self.paren_depth >= MAX_PAREN_DEPTH {
                    return Err(self.err(t.pos, "max expression depth exceeded"));
                }
                self.paren_depth += 1;
                let inner = crate::limits::grow(|| self.pipeline(false));
                self.paren_depth -= 1;
                let inner = inner?;
                let path = self.field_suffix();
                Arg::Chain(t.pos, Box::new(inner), path)
            }
            Tok::Str(s) => Arg::Str(s),
            Tok::Char(c) => Arg::Int(c as i64),
            Tok::Bool(b) => Arg::Bool(b),
            Tok::Nil => Arg::Nil(t.pos),
            Tok::Number(n) => parse_number(&n)
                .ok_or_else(|| self.err(t.pos, format!("bad number syntax: \"{n}\"")))?,
            other => return Err(self.err(t.pos, format!("unexpected {other:?} in operand"))),
        };
        Ok(arg)
    }

    /// A field chain written directly after a variable or a parenthesised pipeline.
    fn field_suffix(&mut self) -> Vec<String> {
        if let Some(Tok::Field(path)) = self.peek() {
            let prev_end = self.tokens.get(self.i.wrapping_sub(1)).map(|t| t.pos);
            let here = self.tokens[self.i].pos;
            // Only when adjacent (no space): `$x.a`, `(f).a`.
            let adjacent = match (prev_end, self.tokens.get(self.i - 1).map(|t| &t.kind)) {
                (Some(p), Some(Tok::Variable(v))) => p + v.len() == here,
                (_, Some(Tok::RightParen)) => {
                    self.src.as_bytes().get(here.wrapping_sub(1)) == Some(&b')')
                }
                _ => false,
            };
            if adjacent {
                let path = path.clone();
                self.i += 1;
                return path;
            }
        }
        Vec::new()
    }
}

/// A hexadecimal floating-point literal after its `0x` (`1p60`, `1.8p-3`), as Go reads it: a
/// hexadecimal mantissa and a binary exponent, which Go requires.
fn hex_float(hex: &str) -> Option<f64> {
    let (mantissa, exponent) = hex.split_once('p')?;
    let exponent: i32 = exponent.parse().ok()?;
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let mut value = 0.0_f64;
    for c in whole.chars() {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in fraction.chars() {
        value += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(value * 2_f64.powi(exponent))
}

fn parse_number(s: &str) -> Option<Arg> {
    let clean: String = s.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, clean.trim_start_matches('+').to_string()),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.chars().all(|c| c.is_ascii_digit())
    {
        i64::from_str_radix(&lower[1..], 8).ok()
    } else {
        lower.parse::<i64>().ok()
    };
    if let Some(i) = int {
        return Some(Arg::Int(if neg { -i } else { i }));
    }
    let f: f64 = match lower.strip_prefix("0x") {
        Some(hex) => hex_float(hex)?,
        None => lower.parse().ok()?,
    };
    Some(Arg::Float(if neg { -f } else { f }))
}
