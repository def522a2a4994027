//! The `when` and `oncePer` conditions of triggers: the part of the expr-lang language that
//! ArgoCD's notification catalog uses.
//!
//! Supported: field paths on `app` (`app.status.sync.status`, `app?.status`,
//! `app.metadata.annotations['x']`), string (`'x'`, `"x"`), number, `true`/`false`/`nil`
//! literals, `==`, `!=`, `in [..]`, `not in [..]`, `and`/`&&`, `or`/`||`, `not`/`!` and
//! parentheses. A missing field is `nil`, whichever accessor reached it. Anything else (function
//! calls, arithmetic, ordering, `matches`, other variables) is refused when the expression is
//! compiled, with the construct named, so an unsupported condition fails at configuration load
//! instead of silently never firing.
//!
//! ```
//! use serde_json::json;
//! use strata_gitops::notify::expr::Condition;
//!
//! let when = Condition::compile("app.status.operationState.phase in ['Error', 'Failed']").unwrap();
//! let app = json!({"status": {"operationState": {"phase": "Failed"}}});
//! assert!(when.is_true(&app));
//! assert!(Condition::compile("time.Now() > 0").is_err());
//! ```

use serde_json::Value;

/// Why an expression cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExprError {
    /// The expression uses something outside the supported subset.
    #[error("unsupported construct `{construct}` at column {column}")]
    Unsupported {
        /// The construct, as written.
        construct: String,
        /// 1-based column where it starts.
        column: usize,
    },
    /// The expression is malformed.
    #[error("{message} at column {column}")]
    Syntax {
        /// What is wrong.
        message: String,
        /// 1-based column.
        column: usize,
    },
}

/// A compiled condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    source: String,
    root: Node,
}

impl Condition {
    /// Compiles `source`.
    pub fn compile(source: &str) -> Result<Self, ExprError> {
        let tokens = lex(source)?;
        let mut parser = Parser { tokens, pos: 0 };
        let root = parser.expression()?;
        if let Some(token) = parser.peek() {
            return Err(unexpected(token));
        }
        Ok(Self {
            source: source.to_string(),
            root,
        })
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The value of the expression with `app` bound to the Application object.
    pub fn evaluate(&self, app: &Value) -> Value {
        self.root.evaluate(app)
    }

    /// Whether the expression is `true` (anything else, `nil` included, is false).
    pub fn is_true(&self, app: &Value) -> bool {
        self.evaluate(app) == Value::Bool(true)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Literal(Value),
    Path(Vec<String>),
    List(Vec<Node>),
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Eq(Box<Node>, Box<Node>),
    In(Box<Node>, Box<Node>),
}

impl Node {
    fn evaluate(&self, app: &Value) -> Value {
        match self {
            Node::Literal(value) => value.clone(),
            Node::Path(fields) => fields
                .iter()
                .try_fold(app, |value, field| value.get(field))
                .cloned()
                .unwrap_or(Value::Null),
            Node::List(items) => Value::Array(items.iter().map(|n| n.evaluate(app)).collect()),
            Node::Not(inner) => Value::Bool(!truthy(&inner.evaluate(app))),
            Node::And(left, right) => {
                Value::Bool(truthy(&left.evaluate(app)) && truthy(&right.evaluate(app)))
            }
            Node::Or(left, right) => {
                Value::Bool(truthy(&left.evaluate(app)) || truthy(&right.evaluate(app)))
            }
            Node::Eq(left, right) => Value::Bool(equal(&left.evaluate(app), &right.evaluate(app))),
            Node::In(needle, haystack) => {
                let needle = needle.evaluate(app);
                let found = match haystack.evaluate(app) {
                    Value::Array(items) => items.iter().any(|item| equal(item, &needle)),
                    Value::Object(map) => needle.as_str().is_some_and(|k| map.contains_key(k)),
                    _ => false,
                };
                Value::Bool(found)
            }
        }
    }
}

fn truthy(value: &Value) -> bool {
    *value == Value::Bool(true)
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Dot,
    SafeDot,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    EqEq,
    NotEq,
    AndAnd,
    OrOr,
    Bang,
    /// An operator outside the subset, kept to be named in the error.
    Other(String),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    text: String,
    column: usize,
}

fn lex(source: &str) -> Result<Vec<Token>, ExprError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let tok = if c.is_ascii_alphabetic() || c == '_' || c == '$' {
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | '$'))
            {
                i += 1;
            }
            Tok::Ident(chars[start..i].iter().collect())
        } else if c.is_ascii_digit() {
            while i < chars.len()
                && (chars[i].is_ascii_digit() || chars[i] == '.' || chars[i] == '_')
            {
                i += 1;
            }
            let text: String = chars[start..i].iter().filter(|c| **c != '_').collect();
            let number = text.parse::<f64>().map_err(|_| ExprError::Syntax {
                message: format!("invalid number `{text}`"),
                column,
            })?;
            Tok::Num(number)
        } else if c == '\'' || c == '"' {
            i += 1;
            let mut text = String::new();
            loop {
                let Some(&ch) = chars.get(i) else {
                    return Err(ExprError::Syntax {
                        message: "unterminated string".into(),
                        column,
                    });
                };
                i += 1;
                if ch == c {
                    break;
                }
                if ch == '\\' {
                    let Some(&escaped) = chars.get(i) else {
                        continue;
                    };
                    i += 1;
                    text.push(match escaped {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                } else {
                    text.push(ch);
                }
            }
            Tok::Str(text)
        } else {
            let next = chars.get(i + 1).copied();
            let (tok, len) = match (c, next) {
                ('?', Some('.')) => (Tok::SafeDot, 2),
                ('=', Some('=')) => (Tok::EqEq, 2),
                ('!', Some('=')) => (Tok::NotEq, 2),
                ('&', Some('&')) => (Tok::AndAnd, 2),
                ('|', Some('|')) => (Tok::OrOr, 2),
                ('.', _) => (Tok::Dot, 1),
                ('(', _) => (Tok::LParen, 1),
                (')', _) => (Tok::RParen, 1),
                ('[', _) => (Tok::LBracket, 1),
                (']', _) => (Tok::RBracket, 1),
                (',', _) => (Tok::Comma, 1),
                ('!', _) => (Tok::Bang, 1),
                ('<' | '>', Some('=')) | ('?', Some('?')) | ('*', Some('*')) => {
                    (Tok::Other(format!("{c}{}", next.unwrap_or_default())), 2)
                }
                _ => (Tok::Other(c.to_string()), 1),
            };
            i += len;
            tok
        };
        tokens.push(Token {
            tok,
            text: chars[start..i].iter().collect(),
            column,
        });
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

fn unexpected(token: &Token) -> ExprError {
    match &token.tok {
        Tok::Other(op) => ExprError::Unsupported {
            construct: format!("operator {op}"),
            column: token.column,
        },
        Tok::Ident(word) if is_unsupported_operator_word(word) => ExprError::Unsupported {
            construct: format!("operator {word}"),
            column: token.column,
        },
        _ => ExprError::Syntax {
            message: format!("unexpected `{}`", token.text),
            column: token.column,
        },
    }
}

fn is_unsupported_operator_word(word: &str) -> bool {
    matches!(word, "matches" | "contains" | "startsWith" | "endsWith")
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn peek_is(&self, tok: &Tok) -> bool {
        self.peek().is_some_and(|t| &t.tok == tok)
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.peek().map(|t| &t.tok), Some(Tok::Ident(w)) if w == word)
    }

    fn next(&mut self) -> Result<Token, ExprError> {
        let token = self
            .tokens
            .get(self.pos)
            .cloned()
            .ok_or(ExprError::Syntax {
                message: "unexpected end of expression".into(),
                column: self.tokens.last().map_or(1, |t| t.column + t.text.len()),
            })?;
        self.pos += 1;
        Ok(token)
    }

    fn expect(&mut self, tok: &Tok, what: &str) -> Result<(), ExprError> {
        let token = self.next()?;
        if &token.tok == tok {
            Ok(())
        } else {
            match unexpected(&token) {
                unsupported @ ExprError::Unsupported { .. } => Err(unsupported),
                _ => Err(ExprError::Syntax {
                    message: format!("expected {what}, found `{}`", token.text),
                    column: token.column,
                }),
            }
        }
    }

    fn expression(&mut self) -> Result<Node, ExprError> {
        let mut left = self.conjunction()?;
        while self.peek_is(&Tok::OrOr) || self.peek_word("or") {
            self.pos += 1;
            let right = self.conjunction()?;
            left = Node::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn conjunction(&mut self) -> Result<Node, ExprError> {
        let mut left = self.negation()?;
        while self.peek_is(&Tok::AndAnd) || self.peek_word("and") {
            self.pos += 1;
            let right = self.negation()?;
            left = Node::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn negation(&mut self) -> Result<Node, ExprError> {
        if self.peek_is(&Tok::Bang) || self.peek_word("not") {
            self.pos += 1;
            return Ok(Node::Not(Box::new(self.negation()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Node, ExprError> {
        let left = self.primary()?;
        if self.peek_is(&Tok::EqEq) || self.peek_is(&Tok::NotEq) {
            let negate = self.peek_is(&Tok::NotEq);
            self.pos += 1;
            let right = self.primary()?;
            let eq = Node::Eq(Box::new(left), Box::new(right));
            return Ok(if negate { Node::Not(Box::new(eq)) } else { eq });
        }
        if self.peek_word("in") {
            self.pos += 1;
            let right = self.primary()?;
            return Ok(Node::In(Box::new(left), Box::new(right)));
        }
        if self.peek_word("not")
            && matches!(self.tokens.get(self.pos + 1).map(|t| &t.tok), Some(Tok::Ident(w)) if w == "in")
        {
            self.pos += 2;
            let right = self.primary()?;
            return Ok(Node::Not(Box::new(Node::In(
                Box::new(left),
                Box::new(right),
            ))));
        }
        Ok(left)
    }

    fn primary(&mut self) -> Result<Node, ExprError> {
        let token = self.next()?;
        match token.tok {
            Tok::Str(text) => Ok(Node::Literal(Value::String(text))),
            Tok::Num(n) => Ok(Node::Literal(
                serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number),
            )),
            Tok::LParen => {
                let inner = self.expression()?;
                self.expect(&Tok::RParen, "`)`")?;
                Ok(inner)
            }
            Tok::LBracket => {
                let mut items = Vec::new();
                if !self.peek_is(&Tok::RBracket) {
                    loop {
                        items.push(self.expression()?);
                        if self.peek_is(&Tok::Comma) {
                            self.pos += 1;
                            if self.peek_is(&Tok::RBracket) {
                                break;
                            }
                        } else {
                            break;
                        }
                    }
                }
                self.expect(&Tok::RBracket, "`]` or `,`")?;
                Ok(Node::List(items))
            }
            Tok::Ident(word) => match word.as_str() {
                "true" => Ok(Node::Literal(Value::Bool(true))),
                "false" => Ok(Node::Literal(Value::Bool(false))),
                "nil" => Ok(Node::Literal(Value::Null)),
                "app" => self.path(token.column),
                _ => Err(self.unsupported_identifier(&word, token.column)),
            },
            _ => Err(unexpected(&token)),
        }
    }

    /// The accessors after `app`.
    fn path(&mut self, column: usize) -> Result<Node, ExprError> {
        let mut fields = Vec::new();
        loop {
            match self.peek().map(|t| t.tok.clone()) {
                Some(Tok::Dot | Tok::SafeDot) => {
                    self.pos += 1;
                    let token = self.next()?;
                    let Tok::Ident(name) = token.tok else {
                        return Err(ExprError::Syntax {
                            message: format!("expected a field name, found `{}`", token.text),
                            column: token.column,
                        });
                    };
                    fields.push(name);
                }
                Some(Tok::LBracket) => {
                    self.pos += 1;
                    let token = self.next()?;
                    let Tok::Str(key) = token.tok else {
                        return Err(ExprError::Unsupported {
                            construct: format!("index `[{}]`", token.text),
                            column: token.column,
                        });
                    };
                    self.expect(&Tok::RBracket, "`]`")?;
                    fields.push(key);
                }
                Some(Tok::LParen) => {
                    return Err(ExprError::Unsupported {
                        construct: format!("method call app.{}()", fields.join(".")),
                        column,
                    });
                }
                _ => return Ok(Node::Path(fields)),
            }
        }
    }

    fn unsupported_identifier(&mut self, word: &str, column: usize) -> ExprError {
        // Name the whole dotted callee, e.g. `time.Now`, when it is a call.
        let mut name = word.to_string();
        while self.peek_is(&Tok::Dot) {
            match self.tokens.get(self.pos + 1).map(|t| &t.tok) {
                Some(Tok::Ident(part)) => {
                    name.push('.');
                    name.push_str(part);
                    self.pos += 2;
                }
                _ => break,
            }
        }
        let construct = if self.peek_is(&Tok::LParen) {
            format!("function call {name}()")
        } else {
            format!("variable {name}")
        };
        ExprError::Unsupported { construct, column }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn eval(source: &str, app: &Value) -> Value {
        Condition::compile(source).unwrap().evaluate(app)
    }

    #[test]
    fn catalog_conditions() {
        let app = json!({"status": {
            "operationState": {"phase": "Succeeded", "syncResult": {"revision": "abc"}},
            "health": {"status": "Healthy"},
            "sync": {"status": "Synced"},
        }});
        assert_eq!(
            eval(
                "app.status.operationState.phase in ['Succeeded'] and app.status.health.status == 'Healthy'",
                &app
            ),
            json!(true)
        );
        assert_eq!(
            eval("app.status.operationState.syncResult.revision", &app),
            json!("abc")
        );
        assert_eq!(eval("app?.status?.missing?.deep", &app), Value::Null);
        assert_eq!(eval("app.status.missing == nil", &app), json!(true));
        assert_eq!(
            eval("!(app.status.sync.status != 'Synced') && true", &app),
            json!(true)
        );
        assert_eq!(
            eval("app.status.health.status not in ['Healthy'] || false", &app),
            json!(false)
        );
        assert_eq!(
            eval("app.metadata.annotations['a/b'] == nil", &app),
            json!(true)
        );
        assert_eq!(eval("1 == 1.0", &app), json!(true));
        assert_eq!(eval("not false or false", &app), json!(true));
    }

    #[test]
    fn unsupported_constructs_are_named() {
        let cases = [
            ("time.Now().Sub(x) > 0", "function call time.Now()"),
            ("app.status.retryCount > 2", "operator >"),
            ("len(app.status.conditions) == 0", "function call len()"),
            ("app.status.x + 1", "operator +"),
            ("env == 'x'", "variable env"),
            ("app.metadata.name matches 'x'", "operator matches"),
        ];
        for (source, construct) in cases {
            let err = Condition::compile(source).unwrap_err();
            assert!(err.to_string().contains(construct), "{source}: {err}");
        }
        assert!(matches!(
            Condition::compile("app.status ==").unwrap_err(),
            ExprError::Syntax { .. }
        ));
    }
}
