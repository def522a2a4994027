//! The syntax errors of Go's `encoding/json`: its scanner run over the text byte by byte, as
//! `json.Unmarshal` checks a text before decoding it, with the messages it gives
//! (`invalid character 'x' after object key`, `unexpected end of JSON input`, …).

/// Go's `maxNestingDepth`.
const MAX_DEPTH: usize = 10_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Parse {
    ObjectKey,
    ObjectValue,
    ArrayValue,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    BeginValueOrEmpty,
    BeginValue,
    BeginStringOrEmpty,
    BeginString,
    EndValue,
    EndTop,
    InString,
    InStringEsc,
    /// Inside `\u`, with this many hexadecimal digits read.
    InStringEscU(u8),
    Neg,
    One,
    Zero,
    Dot,
    Dot0,
    E,
    ESign,
    E0,
    /// Inside a literal (`true`, `false`, `null`): its name and the next byte expected.
    Literal(&'static str, usize),
}

/// The message Go's `json.Unmarshal` gives for `text` when it is not JSON; `None` for JSON.
pub(crate) fn syntax_error(text: &str) -> Option<String> {
    let mut stack: Vec<Parse> = Vec::new();
    let mut step = Step::BeginValue;
    let mut error: Option<String> = None;
    for &c in text.as_bytes().iter().chain(std::iter::once(&b' ')) {
        if let Some(message) = advance(&mut step, &mut stack, c, &mut error) {
            return Some(message);
        }
    }
    if let Some(message) = error {
        return Some(message);
    }
    if step == Step::EndTop {
        None
    } else {
        Some("unexpected end of JSON input".to_string())
    }
}

fn fail(c: u8, context: &str) -> String {
    if context.is_empty() {
        format!("invalid character {} ", quote_char(c))
    } else {
        format!("invalid character {} {context}", quote_char(c))
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// One byte through the scanner; `Some` is the error it stops at. An error after the
/// top-level value is reported only at the next byte (or the end), as in Go.
fn advance(
    step: &mut Step,
    stack: &mut Vec<Parse>,
    c: u8,
    pending: &mut Option<String>,
) -> Option<String> {
    if pending.is_some() {
        return pending.take();
    }
    let hex = |c: u8| c.is_ascii_hexdigit();
    match *step {
        Step::BeginValueOrEmpty => {
            if is_space(c) {
                return None;
            }
            if c == b']' {
                return end_value(step, stack, c, pending);
            }
            begin_value(step, stack, c)
        }
        Step::BeginValue => begin_value(step, stack, c),
        Step::BeginStringOrEmpty => {
            if is_space(c) {
                return None;
            }
            if c == b'}' {
                if let Some(top) = stack.last_mut() {
                    *top = Parse::ObjectValue;
                }
                return end_value(step, stack, c, pending);
            }
            begin_string(step, c)
        }
        Step::BeginString => begin_string(step, c),
        Step::EndValue => end_value(step, stack, c, pending),
        Step::EndTop => {
            if !is_space(c) {
                *pending = Some(fail(c, "after top-level value"));
            }
            None
        }
        Step::InString => {
            match c {
                b'"' => *step = Step::EndValue,
                b'\\' => *step = Step::InStringEsc,
                c if c < 0x20 => return Some(fail(c, "in string literal")),
                _ => {}
            }
            None
        }
        Step::InStringEsc => match c {
            b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => {
                *step = Step::InString;
                None
            }
            b'u' => {
                *step = Step::InStringEscU(0);
                None
            }
            _ => Some(fail(c, "in string escape code")),
        },
        Step::InStringEscU(read) => {
            if !hex(c) {
                return Some(fail(c, "in \\u hexadecimal character escape"));
            }
            *step = if read == 3 {
                Step::InString
            } else {
                Step::InStringEscU(read + 1)
            };
            None
        }
        Step::Neg => match c {
            b'0' => {
                *step = Step::Zero;
                None
            }
            b'1'..=b'9' => {
                *step = Step::One;
                None
            }
            _ => Some(fail(c, "in numeric literal")),
        },
        Step::One if c.is_ascii_digit() => None,
        Step::One | Step::Zero => match c {
            b'.' => {
                *step = Step::Dot;
                None
            }
            b'e' | b'E' => {
                *step = Step::E;
                None
            }
            _ => end_value(step, stack, c, pending),
        },
        Step::Dot => {
            if c.is_ascii_digit() {
                *step = Step::Dot0;
                None
            } else {
                Some(fail(c, "after decimal point in numeric literal"))
            }
        }
        Step::Dot0 => match c {
            b'0'..=b'9' => None,
            b'e' | b'E' => {
                *step = Step::E;
                None
            }
            _ => end_value(step, stack, c, pending),
        },
        Step::E | Step::ESign => {
            if *step == Step::E && matches!(c, b'+' | b'-') {
                *step = Step::ESign;
                return None;
            }
            if c.is_ascii_digit() {
                *step = Step::E0;
                None
            } else {
                Some(fail(c, "in exponent of numeric literal"))
            }
        }
        Step::E0 => {
            if c.is_ascii_digit() {
                None
            } else {
                end_value(step, stack, c, pending)
            }
        }
        Step::Literal(word, at) => {
            let expected = word.as_bytes()[at];
            if c != expected {
                return Some(fail(
                    c,
                    &format!("in literal {word} (expecting {})", quote_char(expected)),
                ));
            }
            *step = if at + 1 == word.len() {
                Step::EndValue
            } else {
                Step::Literal(word, at + 1)
            };
            None
        }
    }
}

fn push(stack: &mut Vec<Parse>, c: u8, parse: Parse) -> Option<String> {
    stack.push(parse);
    (stack.len() > MAX_DEPTH).then(|| fail(c, "exceeded max depth"))
}

fn begin_value(step: &mut Step, stack: &mut Vec<Parse>, c: u8) -> Option<String> {
    if is_space(c) {
        return None;
    }
    *step = match c {
        b'{' => {
            *step = Step::BeginStringOrEmpty;
            return push(stack, c, Parse::ObjectKey);
        }
        b'[' => {
            *step = Step::BeginValueOrEmpty;
            return push(stack, c, Parse::ArrayValue);
        }
        b'"' => Step::InString,
        b'-' => Step::Neg,
        b'0' => Step::Zero,
        b'1'..=b'9' => Step::One,
        b't' => Step::Literal("true", 1),
        b'f' => Step::Literal("false", 1),
        b'n' => Step::Literal("null", 1),
        _ => return Some(fail(c, "looking for beginning of value")),
    };
    None
}

fn begin_string(step: &mut Step, c: u8) -> Option<String> {
    if is_space(c) {
        return None;
    }
    if c == b'"' {
        *step = Step::InString;
        return None;
    }
    Some(fail(c, "looking for beginning of object key string"))
}

fn end_value(
    step: &mut Step,
    stack: &mut Vec<Parse>,
    c: u8,
    pending: &mut Option<String>,
) -> Option<String> {
    let Some(top) = stack.last_mut() else {
        *step = Step::EndTop;
        return advance(step, stack, c, pending);
    };
    if is_space(c) {
        *step = Step::EndValue;
        return None;
    }
    match *top {
        Parse::ObjectKey => {
            if c == b':' {
                *top = Parse::ObjectValue;
                *step = Step::BeginValue;
                return None;
            }
            Some(fail(c, "after object key"))
        }
        Parse::ObjectValue => match c {
            b',' => {
                *top = Parse::ObjectKey;
                *step = Step::BeginString;
                None
            }
            b'}' => {
                pop(step, stack);
                None
            }
            _ => Some(fail(c, "after object key:value pair")),
        },
        Parse::ArrayValue => match c {
            b',' => {
                *step = Step::BeginValue;
                None
            }
            b']' => {
                pop(step, stack);
                None
            }
            _ => Some(fail(c, "after array element")),
        },
    }
}

fn pop(step: &mut Step, stack: &mut Vec<Parse>) {
    stack.pop();
    *step = if stack.is_empty() {
        Step::EndTop
    } else {
        Step::EndValue
    };
}

/// Go's `quoteChar`: a byte as a quoted rune (`'x'`, `'\''`, `'"'`, `'\n'`, `'\x01'`,
/// `'\u0080'`; a byte of 0x80 and above is the rune of that number, as `string(c)` makes it).
fn quote_char(c: u8) -> String {
    let inner = match c {
        b'\'' => "\\'".to_string(),
        b'"' => "\"".to_string(),
        b'\\' => "\\\\".to_string(),
        0x07 => "\\a".to_string(),
        0x08 => "\\b".to_string(),
        0x0c => "\\f".to_string(),
        b'\n' => "\\n".to_string(),
        b'\r' => "\\r".to_string(),
        b'\t' => "\\t".to_string(),
        0x0b => "\\v".to_string(),
        c if c < 0x20 || c == 0x7f => format!("\\x{c:02x}"),
        0x80..=0xa0 | 0xad => format!("\\u{:04x}", c),
        c => char::from(c).to_string(),
    };
    format!("'{inner}'")
}

#[cfg(test)]
mod tests {
    use super::syntax_error;

    #[test]
    fn messages_are_gos() {
        let cases = [
            ("{\"a\": 1}", None),
            ("  [1, 2.5e3, true, null, \"x\\u00e9\"]  ", None),
            ("", Some("unexpected end of JSON input")),
            ("{\"a\"", Some("unexpected end of JSON input")),
            (
                "ui = true",
                Some("invalid character 'u' looking for beginning of value"),
            ),
            ("{\"a\" 1}", Some("invalid character '1' after object key")),
            (
                "{\"a\": 1 \"b\"}",
                Some("invalid character '\"' after object key:value pair"),
            ),
            (
                "{a: 1}",
                Some("invalid character 'a' looking for beginning of object key string"),
            ),
            ("[1 2]", Some("invalid character '2' after array element")),
            ("{} x", Some("invalid character 'x' after top-level value")),
            ("{}x", Some("invalid character 'x' after top-level value")),
            (
                "tru",
                Some("invalid character ' ' in literal true (expecting 'e')"),
            ),
            (
                "nul",
                Some("invalid character ' ' in literal null (expecting 'l')"),
            ),
            (
                "fals}",
                Some("invalid character '}' in literal false (expecting 'e')"),
            ),
            ("[01]", Some("invalid character '1' after array element")),
            (
                "[1.]",
                Some("invalid character ']' after decimal point in numeric literal"),
            ),
            (
                "[1e]",
                Some("invalid character ']' in exponent of numeric literal"),
            ),
            ("[-x]", Some("invalid character 'x' in numeric literal")),
            (
                "\"a\\x\"",
                Some("invalid character 'x' in string escape code"),
            ),
            (
                "\"\\u12g4\"",
                Some("invalid character 'g' in \\u hexadecimal character escape"),
            ),
            (
                "\"a\nb\"",
                Some("invalid character '\\n' in string literal"),
            ),
            (
                "{'a': 1}",
                Some("invalid character '\\'' looking for beginning of object key string"),
            ),
            (
                "é",
                Some("invalid character 'Ã' looking for beginning of value"),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(syntax_error(text).as_deref(), expected, "{text:?}");
        }
    }
}
