//! Go `fmt` formatting of JSON values: `%v` printing and `printf` verbs.
//!
//! JSON numbers stored as integers are Go `int`s; numbers stored as floats are Go `float64`s.

use serde_json::Value;

/// Go type name of a value as it appears in fmt error strings.
pub fn go_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Formats a float64 like Go's `%v` (`strconv.FormatFloat(f, 'g', -1, 64)`).
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".to_string()
        } else {
            "-Inf".to_string()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".to_string()
        } else {
            "0".to_string()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits, as Go's shortest formatting does.
    let sci = format!("{:e}", f.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let neg = if f < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{neg}{first}{frac}e{sign}{:02}", exp.abs());
    }
    let nd = digits.len() as i32;
    let dp = exp + 1; // digits before the decimal point
    let s = if dp <= 0 {
        format!("0.{}{}", "0".repeat((-dp) as usize), digits)
    } else if dp >= nd {
        format!("{}{}", digits, "0".repeat((dp - nd) as usize))
    } else {
        format!("{}.{}", &digits[..dp as usize], &digits[dp as usize..])
    };
    format!("{neg}{s}")
}

/// Formats a number like Go's `%v`.
pub fn go_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        go_float(n.as_f64().unwrap_or(0.0))
    }
}

/// Formats a value like Go's `fmt.Sprint` / `%v`.
pub fn go_value(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_value).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_value(&m[k.as_str()])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// Quotes a string like Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `fmt.Sprint`: operands joined, with a space between two operands when neither is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !a.is_string() && !args[i - 1].is_string() {
            out.push(' ');
        }
        out.push_str(&go_value(a));
    }
    out
}

/// `fmt.Sprintln`: operands always separated by spaces, newline appended.
pub fn sprintln(args: &[Value]) -> String {
    let mut s = args.iter().map(go_value).collect::<Vec<_>>().join(" ");
    s.push('\n');
    s
}

#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    sharp: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn bad_verb(verb: char, v: &Value) -> String {
    match v {
        Value::Null => format!("%!{verb}(<nil>)"),
        _ => format!("%!{verb}({}={})", go_type_name(v), go_value(v)),
    }
}

fn pad(s: String, spec: &Spec, numeric: bool) -> String {
    let Some(w) = spec.width else { return s };
    let len = s.chars().count();
    if len >= w {
        return s;
    }
    let fill = w - len;
    if spec.minus {
        format!("{s}{}", " ".repeat(fill))
    } else if spec.zero && numeric {
        let (sign, rest) = match s.strip_prefix('-') {
            Some(r) => ("-", r.to_string()),
            None => match s.strip_prefix('+') {
                Some(r) => ("+", r.to_string()),
                None => ("", s.clone()),
            },
        };
        format!("{sign}{}{rest}", "0".repeat(fill))
    } else if spec.zero {
        format!("{}{s}", "0".repeat(fill))
    } else {
        format!("{}{s}", " ".repeat(fill))
    }
}

fn sign_prefix(neg: bool, spec: &Spec) -> &'static str {
    if neg {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    }
}

fn fmt_int(i: i128, verb: char, spec: &Spec) -> String {
    let neg = i < 0;
    let a = i.unsigned_abs();
    let body = match verb {
        'd' | 'v' => a.to_string(),
        'x' => format!("{}{a:x}", if spec.sharp { "0x" } else { "" }),
        'X' => format!("{}{a:X}", if spec.sharp { "0X" } else { "" }),
        'o' => format!("{}{a:o}", if spec.sharp { "0" } else { "" }),
        'O' => format!("0o{a:o}"),
        'b' => format!("{a:b}"),
        _ => a.to_string(),
    };
    let body = match spec.prec {
        Some(p) if body.len() < p => format!("{}{body}", "0".repeat(p - body.len())),
        _ => body,
    };
    pad(format!("{}{body}", sign_prefix(neg, spec)), spec, true)
}

fn go_exp(s: String) -> String {
    // Rust writes `1.5e3`; Go writes `1.5e+03`.
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            let digits = if digits.len() < 2 {
                format!("0{digits}")
            } else {
                digits.to_string()
            };
            format!("{m}e{sign}{digits}")
        }
        None => s,
    }
}

fn fmt_float(f: f64, verb: char, spec: &Spec) -> String {
    let neg = f.is_sign_negative() && f != 0.0;
    let a = f.abs();
    let body = match verb {
        'v' | 'g' | 'G' => match spec.prec {
            None => go_float(a),
            Some(p) => {
                let p = p.max(1);
                let sci = format!("{:.*e}", p - 1, a);
                let exp: i32 = sci
                    .split_once('e')
                    .and_then(|(_, e)| e.parse().ok())
                    .unwrap_or(0);
                if exp < -4 || exp >= p as i32 {
                    let (m, e) = sci.split_once('e').unwrap_or((&sci, "0"));
                    let m = if m.contains('.') {
                        m.trim_end_matches('0').trim_end_matches('.')
                    } else {
                        m
                    };
                    go_exp(format!("{m}e{e}"))
                } else {
                    let decimals = (p as i32 - 1 - exp).max(0) as usize;
                    let s = format!("{a:.decimals$}");
                    if s.contains('.') {
                        s.trim_end_matches('0').trim_end_matches('.').to_string()
                    } else {
                        s
                    }
                }
            }
        },
        'f' | 'F' => format!("{a:.*}", spec.prec.unwrap_or(6)),
        'e' => go_exp(format!("{a:.*e}", spec.prec.unwrap_or(6))),
        'E' => go_exp(format!("{a:.*e}", spec.prec.unwrap_or(6))).to_uppercase(),
        _ => go_float(a),
    };
    pad(format!("{}{body}", sign_prefix(neg, spec)), spec, true)
}

fn fmt_str(s: &str, verb: char, spec: &Spec) -> String {
    let s: String = match spec.prec {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_string(),
    };
    let body = match verb {
        'q' => go_quote(&s),
        'x' => s.bytes().map(|b| format!("{b:02x}")).collect(),
        'X' => s.bytes().map(|b| format!("{b:02X}")).collect(),
        _ => s,
    };
    pad(body, spec, false)
}

fn fmt_one(v: &Value, verb: char, spec: &Spec) -> String {
    match v {
        Value::Null => match verb {
            'v' | 's' => pad("<nil>".to_string(), spec, false),
            _ => bad_verb(verb, v),
        },
        Value::Bool(b) => match verb {
            'v' | 't' => pad(b.to_string(), spec, false),
            _ => bad_verb(verb, v),
        },
        Value::Number(n) => {
            if let (Some(i), false) = (
                n.as_i64().map(i128::from).or(n.as_u64().map(i128::from)),
                n.is_f64(),
            ) {
                match verb {
                    'v' | 'd' | 'x' | 'X' | 'o' | 'O' | 'b' => fmt_int(i, verb, spec),
                    'c' => pad(
                        u32::try_from(i)
                            .ok()
                            .and_then(char::from_u32)
                            .unwrap_or('\u{FFFD}')
                            .to_string(),
                        spec,
                        false,
                    ),
                    'q' => {
                        let c = u32::try_from(i)
                            .ok()
                            .and_then(char::from_u32)
                            .unwrap_or('\u{FFFD}');
                        pad(format!("'{c}'"), spec, false)
                    }
                    _ => bad_verb(verb, v),
                }
            } else {
                let f = n.as_f64().unwrap_or(0.0);
                match verb {
                    'v' | 'g' | 'G' | 'f' | 'F' | 'e' | 'E' => fmt_float(f, verb, spec),
                    _ => bad_verb(verb, v),
                }
            }
        }
        Value::String(s) => match verb {
            'v' | 's' | 'q' | 'x' | 'X' => fmt_str(s, verb, spec),
            _ => bad_verb(verb, v),
        },
        Value::Array(a) => {
            if verb == 'v' || verb == 's' || verb == 'd' || verb == 'q' || verb == 'x' {
                let inner: Vec<String> = a
                    .iter()
                    .map(|e| fmt_one(e, verb, &Spec::default()))
                    .collect();
                pad(format!("[{}]", inner.join(" ")), spec, false)
            } else {
                bad_verb(verb, v)
            }
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        fmt_one(&Value::String((*k).clone()), verb, &Spec::default()),
                        fmt_one(&m[k.as_str()], verb, &Spec::default())
                    )
                })
                .collect();
            pad(format!("map[{}]", parts.join(" ")), spec, false)
        }
    }
}

/// Go's `fmt.Sprintf` for the verbs templates use (`%v %s %d %q %x %X %o %b %c %t %f %e %g %%`),
/// with flags `-+0 #`, width and precision (including `*`). Mistakes are reported inline as Go does
/// (`%!d(string=x)`, `%!d(MISSING)`, `%!(EXTRA ...)`).
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    let mut argi = 0usize;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                '#' => spec.sharp = true,
                _ => break,
            }
            chars.next();
        }
        let read_num =
            |chars: &mut std::iter::Peekable<std::str::Chars>, argi: &mut usize| -> Option<usize> {
                if chars.peek() == Some(&'*') {
                    chars.next();
                    let v = args
                        .get(*argi)
                        .and_then(Value::as_i64)
                        .map(|i| i.unsigned_abs() as usize);
                    *argi += 1;
                    return v;
                }
                let mut n = String::new();
                while let Some(&d) = chars.peek() {
                    if d.is_ascii_digit() {
                        n.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                n.parse().ok()
            };
        spec.width = read_num(&mut chars, &mut argi);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(read_num(&mut chars, &mut argi).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(argi) {
            None => out.push_str(&format!("%!{verb}(MISSING)")),
            Some(v) => {
                if spec.minus {
                    spec.zero = false;
                }
                out.push_str(&fmt_one(v, verb, &spec));
            }
        }
        argi += 1;
    }
    if argi < args.len() {
        let extra: Vec<String> = args[argi..]
            .iter()
            .map(|v| match v {
                Value::Null => "<nil>".to_string(),
                _ => format!("{}={}", go_type_name(v), go_value(v)),
            })
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_print_like_go() {
        assert_eq!(go_float(3.0), "3");
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(go_float(1234567.0), "1.234567e+06");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(-2.5), "-2.5");
    }

    #[test]
    fn printf_verbs() {
        assert_eq!(sprintf("%s-%d", &[json!("a"), json!(3)]), "a-3");
        assert_eq!(
            sprintf("%5s|%-5s|", &[json!("ab"), json!("cd")]),
            "   ab|cd   |"
        );
        assert_eq!(sprintf("%05d", &[json!(42)]), "00042");
        assert_eq!(sprintf("%q", &[json!("a\"b")]), "\"a\\\"b\"");
        assert_eq!(sprintf("%x %X", &[json!(255), json!("hi")]), "ff 6869");
        assert_eq!(sprintf("%.2f", &[json!(1.23456)]), "1.23");
        assert_eq!(
            sprintf("%v %v", &[json!([1, 2]), json!({"b": 1, "a": "x"})]),
            "[1 2] map[a:x b:1]"
        );
        assert_eq!(sprintf("%d", &[json!("x")]), "%!d(string=x)");
        assert_eq!(sprintf("%d %d", &[json!(1)]), "1 %!d(MISSING)");
        assert_eq!(
            sprintf("%d", &[json!(1), json!("z")]),
            "1%!(EXTRA string=z)"
        );
        assert_eq!(sprintf("100%%", &[]), "100%");
        assert_eq!(sprintf("%t", &[json!(true)]), "true");
        assert_eq!(sprintf("%+d", &[json!(5)]), "+5");
    }
}
