//! YAML as Helm's `toYaml` writes it (`sigs.k8s.io/yaml`, i.e. go-yaml v2 over the value's
//! JSON form): keys sorted, sequences not indented under their key, strings plain when they
//! read back as strings, else quoted (single quotes where allowed, double otherwise), strings
//! with line breaks as literal blocks, long plain and quoted strings folded at 80 columns,
//! whole numbers as integers and other floats in Go's shortest `g` form.
//!
//! Byte-for-byte equality matters: charts hash rendered text (`checksum/config` annotations
//! over `include ... | sha256sum`).

use serde_json::Value;

use crate::gofmt::format_float;
use crate::value::{GoNumber, go_number};

const BEST_WIDTH: usize = 80;

/// How a document is laid out: go-yaml v2 (`sigs.k8s.io/yaml`) or go-yaml v3's defaults.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// Spaces per nesting level.
    indent: usize,
    /// Whether a sequence under a mapping key is indented (v3) or not (v2).
    indent_sequences: bool,
    /// Whether long plain and single-quoted strings fold at 80 columns.
    fold: bool,
    /// Whether a letter sorts before a non-letter after equal digits (v3's key order).
    letters_after_digits_first: bool,
}

const V2: Layout = Layout {
    indent: 2,
    indent_sequences: false,
    fold: true,
    letters_after_digits_first: false,
};

const V3: Layout = Layout {
    indent: 4,
    indent_sequences: true,
    fold: false,
    letters_after_digits_first: true,
};

/// `toYaml`: the document without its final newline.
pub fn to_yaml(v: &Value) -> String {
    document(v, V2).trim_end_matches('\n').to_string()
}

/// The document as `gopkg.in/yaml.v3`'s `Marshal` writes it (what Crossplane's
/// function-go-templating `toYaml` returns): the same scalars as [`to_yaml`], four-space
/// indentation, sequences indented under their key, no folding of long strings, and the final
/// newline kept.
pub fn to_yaml_v3(v: &Value) -> String {
    document(v, V3)
}

fn document(v: &Value, l: Layout) -> String {
    let v = crate::value::normalized(&crate::value::plain(v));
    let mut out = String::new();
    match &v {
        Value::Object(m) if !m.is_empty() => write_map(&v, 0, l, &mut out),
        Value::Array(a) if !a.is_empty() => write_seq(&v, 0, l, &mut out),
        // A text of several lines on its own is a literal block too, indented one level.
        Value::String(s) if s.contains('\n') && literal_allowed(s) => {
            out.push_str(&literal(s, l.indent));
        }
        other => {
            out.push_str(&scalar(other, 0, 0, l));
            out.push('\n');
        }
    }
    out
}

/// go-yaml's order of string map keys: runs of digits compare as numbers (`item9` before
/// `item10`, `16` before `1000`), letters compare with letters by code point, and a letter
/// sorts after any other character (v3: before it when the equal prefix ends in a digit); when
/// one key is a prefix of the other, the shorter comes first.
fn key_less(a: &str, b: &str, letters_after_digits_first: bool) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut after_digit = false;
    for i in 0..a.len().min(b.len()) {
        let (x, y) = (a[i], b[i]);
        if x == y {
            after_digit = x.is_ascii_digit();
            continue;
        }
        let (xl, yl) = (x.is_alphabetic(), y.is_alphabetic());
        if xl && yl {
            return x < y;
        }
        if xl || yl {
            return if letters_after_digits_first && after_digit {
                xl
            } else {
                yl
            };
        }
        // A run of digits is read as one number; a run continuing a non-zero number already
        // begun in the equal prefix counts as continuing it (so leading zeros are not lost).
        let continues = (x == '0' || y == '0')
            && a[..i]
                .iter()
                .rev()
                .take_while(|c| c.is_ascii_digit())
                .any(|c| *c != '0');
        let number = |s: &[char]| -> (i64, usize) {
            let mut n: i64 = i64::from(continues);
            let mut len = 0;
            for c in s.iter().take_while(|c| c.is_ascii_digit()) {
                n = n.wrapping_mul(10).wrapping_add(i64::from(*c as u8 - b'0'));
                len += 1;
            }
            (n, len)
        };
        let ((xn, xlen), (yn, ylen)) = (number(&a[i..]), number(&b[i..]));
        if xn != yn {
            return xn < yn;
        }
        if xlen != ylen {
            return xlen < ylen;
        }
        return x < y;
    }
    a.len() < b.len()
}

/// A stable merge sort by `less` that, unlike the standard sorts, tolerates an order that is
/// not total (go-yaml's key order need not be).
fn merge_sort<T: Copy>(items: &mut [T], less: &dyn Fn(&T, &T) -> bool) {
    if items.len() < 2 {
        return;
    }
    let mid = items.len() / 2;
    merge_sort(&mut items[..mid], less);
    merge_sort(&mut items[mid..], less);
    let mut merged = Vec::with_capacity(items.len());
    let (mut i, mut j) = (0, mid);
    while i < mid && j < items.len() {
        if less(&items[j], &items[i]) {
            merged.push(items[j]);
            j += 1;
        } else {
            merged.push(items[i]);
            i += 1;
        }
    }
    merged.extend_from_slice(&items[i..mid]);
    merged.extend_from_slice(&items[j..]);
    items.copy_from_slice(&merged);
}

fn pad(n: usize) -> String {
    " ".repeat(n)
}

fn write_map(v: &Value, indent: usize, l: Layout, out: &mut String) {
    let Value::Object(m) = v else { return };
    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
    merge_sort(&mut entries, &|a, b| {
        key_less(a.0, b.0, l.letters_after_digits_first)
    });
    for (k, val) in entries {
        out.push_str(&pad(indent));
        let key = string_scalar(k, indent, indent, true, l);
        out.push_str(&key);
        out.push(':');
        let column = indent + key.len() + 1;
        write_value_after(val, indent, column, false, l, out);
    }
}

fn write_seq(v: &Value, indent: usize, l: Layout, out: &mut String) {
    let Value::Array(items) = v else { return };
    for item in items {
        out.push_str(&pad(indent));
        out.push('-');
        write_value_after(item, indent, indent + 1, true, l, out);
    }
}

/// Writes a value after `key:` or `-` (at `column`), the container being at `indent`.
fn write_value_after(
    v: &Value,
    indent: usize,
    column: usize,
    in_seq: bool,
    l: Layout,
    out: &mut String,
) {
    // In a sequence item, content sits after `- `; under a key, one level deeper.
    let nested = if in_seq {
        indent + 2
    } else {
        indent + l.indent
    };
    match v {
        Value::Object(m) if !m.is_empty() => {
            if in_seq {
                // `- a: 1` then the other keys aligned under `a`.
                out.push(' ');
                let mut inner = String::new();
                write_map(v, nested, l, &mut inner);
                out.push_str(inner.trim_start_matches(' '));
            } else {
                out.push('\n');
                write_map(v, nested, l, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            if in_seq {
                out.push(' ');
                let mut inner = String::new();
                write_seq(v, nested, l, &mut inner);
                out.push_str(inner.trim_start_matches(' '));
            } else {
                out.push('\n');
                // go-yaml v2 does not indent a sequence under its mapping key; v3 does.
                let at = if l.indent_sequences { nested } else { indent };
                write_seq(v, at, l, out);
            }
        }
        Value::String(s) if s.contains('\n') => {
            out.push(' ');
            if literal_allowed(s) {
                out.push_str(&literal(s, nested));
            } else {
                out.push_str(&double_quoted(s));
                out.push('\n');
            }
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other, nested, column + 1, l));
            out.push('\n');
        }
    }
}

fn scalar(v: &Value, indent: usize, column: usize, l: Layout) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match go_number(n) {
            GoNumber::Int(i) => i.to_string(),
            GoNumber::Float(f) => {
                if f.is_nan() {
                    ".nan".to_string()
                } else if f.is_infinite() {
                    if f > 0.0 { ".inf" } else { "-.inf" }.to_string()
                } else {
                    format_float(f, 'g', -1)
                }
            }
        },
        Value::String(s) => string_scalar(s, indent, column, false, l),
        Value::Array(_) => "[]".to_string(),
        Value::Object(_) => "{}".to_string(),
    }
}

/// libyaml refuses block scalars for text with a space before a line break, a trailing
/// space, or control characters.
fn literal_allowed(s: &str) -> bool {
    !(s.contains(" \n")
        || s.ends_with(' ')
        || s.chars().any(|c| {
            ((c as u32) < 0x20 && c != '\t' && c != '\n') || c == '\u{7f}' || c == '\u{feff}'
        }))
}

/// A literal block (`|`, `|-`, `|+`) with the text indented at `indent`.
fn literal(s: &str, indent: usize) -> String {
    let trailing = s.len() - s.trim_end_matches('\n').len();
    let chomp = match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let indicator = if s.starts_with(' ') || s.starts_with('\n') {
        "2"
    } else {
        ""
    };
    let mut out = format!("|{indicator}{chomp}\n");
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        if !line.is_empty() {
            out.push_str(&pad(indent));
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Whether go-yaml v2 would read the plain text back as something other than a string.
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN", "<<",
    ];
    if s.is_empty() || WORDS.contains(&s) {
        return true;
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return false;
    }
    // A leading `.` is read by Go's `ParseFloat` as written, which takes no underscores there
    // (`._5` is a string); a digit or a sign, without its underscores.
    if first == b'.' && s.contains('_') {
        return false;
    }
    let plain = s.replace('_', "");
    let body = plain.trim_start_matches(['-', '+']);
    if body.parse::<f64>().is_ok()
        && !body.eq_ignore_ascii_case("inf")
        && !body.eq_ignore_ascii_case("nan")
        && !body.eq_ignore_ascii_case("infinity")
    {
        return true;
    }
    if let Some(hex) = body.strip_prefix("0x") {
        return !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit());
    }
    if let Some(bin) = body.strip_prefix("0b") {
        return !bin.is_empty() && bin.chars().all(|c| c == '0' || c == '1');
    }
    // Sexagesimal (base 60) numbers and timestamps.
    if body.contains(':')
        && body
            .split(':')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit() || c == '.'))
    {
        return true;
    }
    is_timestamp(s)
}

fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
}

/// libyaml's analysis: whether the text may be written plain (block context) and whether it
/// may be single-quoted.
fn analyze(s: &str, is_key: bool) -> (bool, bool) {
    if s.is_empty() {
        return (false, true);
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_plain = true;
    let mut single = true;
    if s.starts_with("---") || s.starts_with("...") {
        block_plain = false;
    }
    let n = chars.len();
    let mut previous_space = false;
    let mut space_break = false;
    let mut leading_space = false;
    let mut trailing_space = false;
    let mut special = false;
    for (i, &c) in chars.iter().enumerate() {
        let first = i == 0;
        let last = i + 1 == n;
        let next = chars.get(i + 1).copied();
        let followed_by_blank = next.is_none_or(|x| x == ' ' || x == '\t');
        if first {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => {
                    block_plain = false;
                }
                '?' | ':' if followed_by_blank => block_plain = false,
                '-' if followed_by_blank => block_plain = false,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_blank => block_plain = false,
                '#' if previous_space => block_plain = false,
                _ => {}
            }
        }
        if (c as u32) < 0x20 && c != '\t' || c == '\u{7f}' || c == '\u{feff}' {
            special = true;
        }
        if c == ' ' {
            if first {
                leading_space = true;
            }
            if last {
                trailing_space = true;
            }
            previous_space = true;
        } else if c == '\n' {
            space_break = true;
            previous_space = false;
        } else {
            previous_space = false;
        }
    }
    if leading_space || trailing_space {
        block_plain = false;
    }
    if space_break || special {
        block_plain = false;
        single = false;
    }
    if is_key && s.len() > 128 {
        block_plain = false;
    }
    (block_plain, single)
}

fn string_scalar(s: &str, indent: usize, column: usize, is_key: bool, l: Layout) -> String {
    let (plain_ok, single_ok) = analyze(s, is_key);
    if plain_ok && !resolves_to_non_string(s) {
        return fold(s, indent, column, !is_key && l.fold);
    }
    if resolves_to_non_string(s) || !single_ok {
        return double_quoted(s);
    }
    let quoted = format!("'{}'", s.replace('\'', "''"));
    fold(&quoted, indent, column, !is_key && l.fold)
}

/// Folds at spaces past the 80th column, as libyaml's writers do (a lone space between
/// non-spaces becomes a line break and indentation).
fn fold(s: &str, indent: usize, column: usize, allow: bool) -> String {
    if !allow {
        return s.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut col = column;
    let mut spaces = false;
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let next_is_space = chars.get(i + 1) == Some(&' ');
            if !spaces && col > BEST_WIDTH && !next_is_space && i != 0 && i + 1 != chars.len() {
                out.push('\n');
                out.push_str(&pad(indent));
                col = indent;
            } else {
                out.push(c);
                col += 1;
            }
            spaces = true;
        } else {
            out.push(c);
            col += 1;
            spaces = false;
        }
    }
    out
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02X}", c as u32));
            }
            '\u{feff}' => out.push_str("\\uFEFF"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_sort_as_go_yaml_sorts_them() {
        let v = json!({"item10": 1, "item9": 2, "1000": 3, "16": 4, "1.5": 5, "1e+06": 6, "b": 7, "B": 8});
        assert_eq!(
            to_yaml(&v),
            "\"1.5\": 5\n\"16\": 4\n\"1000\": 3\n\"1e+06\": 6\nB: 8\nb: 7\nitem9: 2\nitem10: 1"
        );
        // v3: after equal digits a letter comes first.
        let v = json!({"1a": 1, "1-": 2});
        assert_eq!(to_yaml(&v), "1-: 2\n1a: 1");
        assert_eq!(to_yaml_v3(&v), "1a: 1\n1-: 2\n");
    }

    #[test]
    fn maps_sequences_and_scalars_as_go_yaml_v2() {
        let v = json!({
            "b": [1, "two", {"x": true, "y": null}],
            "a": {"s": "on", "t": "plain text", "e": "", "n": "123", "f": 0.5, "big": 1e6},
            "c": "line1\nline2\n",
            "d": [],
            "k": {},
            "q": "a: b",
            "h": "#x",
        });
        assert_eq!(
            to_yaml(&v),
            "a:\n  big: 1000000\n  e: \"\"\n  f: 0.5\n  \"n\": \"123\"\n  s: \"on\"\n  t: plain text\nb:\n- 1\n- two\n- x: true\n  \"y\": null\nc: |\n  line1\n  line2\nd: []\nh: '#x'\nk: {}\nq: 'a: b'"
        );
    }

    #[test]
    fn go_yaml_v3_indents_by_four_and_indents_sequences() {
        let v = json!({"a": {"b": [1, {"x": "y", "z": [true]}]}, "c": "l1\nl2", "w": vec!["word"; 30].join(" ")});
        let out = to_yaml_v3(&v);
        assert_eq!(
            out,
            format!(
                "a:\n    b:\n        - 1\n        - x: \"y\"\n          z:\n              - true\nc: |-\n    l1\n    l2\nw: {}\n",
                vec!["word"; 30].join(" ")
            )
        );
    }

    #[test]
    fn long_strings_fold_at_eighty_columns() {
        let words = vec!["word"; 30].join(" ");
        let out = to_yaml(&json!({ "k": words }));
        let first = out.lines().next().unwrap_or_default();
        assert!(first.len() > 80 && first.len() < 90, "{out}");
        assert!(
            out.lines().nth(1).is_some_and(|l| l.starts_with("  word")),
            "{out}"
        );
    }
}
