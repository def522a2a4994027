//! Go's `fmt` printer over decoded JSON values: `fmt.Sprintf` verbs, flags, width, precision,
//! argument indexes and Go's error markers (`%!s(int64=5)`, `%!d(MISSING)`, `%!(EXTRA ...)`,
//! `%!(NOVERB)`), plus `fmt.Sprint` and `fmt.Sprintln`.
//!
//! One printer serves both users; [`GoFmt`] says how integers are typed, which shows in `%T`
//! and in the mismatch markers: [`GoFmt::TEMPLATE`] (Go `int`, for the template engine) and
//! [`GoFmt::CROSSPLANE`] (Go `int64`, for Crossplane's string `Format` transform and `Combine`
//! patches). The free functions [`sprintf`] and [`sprint_v`] use the Crossplane view.

use crate::value::{GoNumber, IntKind, go_number, sorted_entries};
use serde_json::Value;

/// A Go `fmt` printer for values decoded with a given integer type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GoFmt {
    ints: IntKind,
}

impl GoFmt {
    /// The template engine's view: JSON integers are Go `int`s.
    pub const TEMPLATE: GoFmt = GoFmt::new(IntKind::Int);
    /// Crossplane's view: JSON integers are Go `int64`s.
    pub const CROSSPLANE: GoFmt = GoFmt::new(IntKind::Int64);

    /// A printer that types integers as `ints`.
    pub const fn new(ints: IntKind) -> Self {
        GoFmt { ints }
    }

    /// How this printer types integers.
    pub const fn int_kind(self) -> IntKind {
        self.ints
    }

    /// The Go type name of `v` (what `%T` prints).
    pub fn type_name(self, v: &Value) -> &'static str {
        self.ints.type_name(v)
    }

    /// `fmt.Sprintf(format, args...)`.
    pub fn sprintf(self, format: &str, args: &[Value]) -> String {
        let mut p = Printer::new(self.ints, format.len() + 16);
        p.do_printf(format, args);
        p.buf
    }

    /// `fmt.Sprintf(format, args...)`, or `None` as soon as the output passes `cap` bytes
    /// (each verb adds at most about a million bytes of padding, as Go caps widths).
    pub fn sprintf_capped(self, format: &str, args: &[Value], cap: usize) -> Option<String> {
        let mut p = Printer::new(self.ints, (format.len() + 16).min(cap));
        p.cap = cap;
        p.do_printf(format, args);
        (p.buf.len() <= cap).then_some(p.buf)
    }

    /// `fmt.Sprintf("%v", v)`.
    pub fn sprint_v(self, v: &Value) -> String {
        // Fast path for the most common argument.
        if let Value::String(s) = v {
            return s.clone();
        }
        let mut p = Printer::new(self.ints, 16);
        p.print_arg(v, 'v');
        p.buf
    }

    /// `fmt.Sprint(args...)`: operands in `%v` form, with a space between two operands when
    /// neither is a string.
    pub fn sprint(self, args: &[Value]) -> String {
        let mut p = Printer::new(self.ints, 16);
        for (n, arg) in args.iter().enumerate() {
            if n > 0 && !arg.is_string() && !args[n - 1].is_string() {
                p.buf.push(' ');
            }
            p.print_arg(arg, 'v');
        }
        p.buf
    }

    /// `fmt.Sprintln(args...)`: operands in `%v` form separated by spaces, then a newline.
    pub fn sprintln(self, args: &[Value]) -> String {
        let mut p = Printer::new(self.ints, 16);
        for (n, arg) in args.iter().enumerate() {
            if n > 0 {
                p.buf.push(' ');
            }
            p.print_arg(arg, 'v');
        }
        p.buf.push('\n');
        p.buf
    }
}

/// `fmt.Sprintf(format, args...)` with Crossplane's view of integers (`int64`).
pub fn sprintf(format: &str, args: &[Value]) -> String {
    GoFmt::CROSSPLANE.sprintf(format, args)
}

/// `fmt.Sprintf("%v", v)` (the integer type does not show in `%v`).
pub fn sprint_v(v: &Value) -> String {
    GoFmt::CROSSPLANE.sprint_v(v)
}

#[derive(Default, Clone, Copy)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    sharp_v: bool,
    wid: usize,
    wid_present: bool,
    prec: usize,
    prec_present: bool,
}

struct Printer {
    ints: IntKind,
    buf: String,
    f: Flags,
    reordered: bool,
    good_arg_num: bool,
    /// Output size past which `do_printf` stops early.
    cap: usize,
}

const TOO_LARGE: i64 = 1_000_000;

fn parsenum(s: &[u8], start: usize, end: usize) -> (usize, bool, usize) {
    if start >= end {
        return (0, false, end);
    }
    let mut num: i64 = 0;
    let mut isnum = false;
    let mut i = start;
    while i < end && s[i].is_ascii_digit() {
        if num > TOO_LARGE {
            return (0, false, end);
        }
        num = num * 10 + i64::from(s[i] - b'0');
        isnum = true;
        i += 1;
    }
    (num as usize, isnum, i)
}

fn parse_arg_number(s: &[u8]) -> (i64, usize, bool) {
    if s.len() < 3 {
        return (0, 1, false);
    }
    for i in 1..s.len() {
        if s[i] == b']' {
            let (width, ok, newi) = parsenum(s, 1, i);
            if !ok || newi != i {
                return (0, i + 1, false);
            }
            return (width as i64 - 1, i + 1, true);
        }
    }
    (0, 1, false)
}

fn int_from_arg(args: &[Value], arg_num: usize) -> (i64, bool, usize) {
    let mut new_arg_num = arg_num;
    let mut num = 0i64;
    let mut is_int = false;
    if arg_num < args.len() {
        if let Value::Number(n) = &args[arg_num]
            && let GoNumber::Int(i) = go_number(n)
        {
            num = i;
            is_int = true;
        }
        new_arg_num = arg_num + 1;
        if !(-TOO_LARGE..=TOO_LARGE).contains(&num) {
            num = 0;
            is_int = false;
        }
    }
    (num, is_int, new_arg_num)
}

impl Printer {
    fn new(ints: IntKind, capacity: usize) -> Self {
        Printer {
            ints,
            buf: String::with_capacity(capacity),
            f: Flags::default(),
            reordered: false,
            good_arg_num: true,
            cap: usize::MAX,
        }
    }

    fn arg_number(
        &mut self,
        arg_num: usize,
        s: &[u8],
        i: usize,
        num_args: usize,
    ) -> (usize, usize, bool) {
        if s.len() <= i || s[i] != b'[' {
            return (arg_num, i, false);
        }
        self.reordered = true;
        let (index, wid, ok) = parse_arg_number(&s[i..]);
        if ok && index >= 0 && (index as usize) < num_args {
            return (index as usize, i + wid, true);
        }
        self.good_arg_num = false;
        (arg_num, i + wid, ok)
    }

    fn do_printf(&mut self, format: &str, args: &[Value]) {
        let s = format.as_bytes();
        let end = s.len();
        let mut arg_num = 0usize;
        let mut after_index;
        self.reordered = false;
        let mut i = 0usize;
        while i < end {
            if self.buf.len() > self.cap {
                return;
            }
            self.good_arg_num = true;
            let lasti = i;
            while i < end && s[i] != b'%' {
                i += 1;
            }
            if i > lasti {
                self.buf.push_str(&format[lasti..i]);
            }
            if i >= end {
                break;
            }
            i += 1;
            self.f = Flags::default();
            while i < end {
                match s[i] {
                    b'#' => self.f.sharp = true,
                    b'0' => self.f.zero = true,
                    b'+' => self.f.plus = true,
                    b'-' => self.f.minus = true,
                    b' ' => self.f.space = true,
                    _ => break,
                }
                i += 1;
            }
            // Explicit argument index?
            (arg_num, i, after_index) = self.arg_number(arg_num, s, i, args.len());
            // Width.
            if i < end && s[i] == b'*' {
                i += 1;
                let (w, ok, n) = int_from_arg(args, arg_num);
                arg_num = n;
                self.f.wid_present = ok;
                if !ok {
                    self.buf.push_str("%!(BADWIDTH)");
                }
                if w < 0 {
                    self.f.minus = true;
                    self.f.zero = false;
                }
                self.f.wid = w.unsigned_abs() as usize;
                after_index = false;
            } else {
                let (w, present, ni) = parsenum(s, i, end);
                self.f.wid = w;
                self.f.wid_present = present;
                i = ni;
                if after_index && present {
                    self.good_arg_num = false;
                }
            }
            // Precision.
            if i + 1 < end && s[i] == b'.' {
                i += 1;
                if after_index {
                    self.good_arg_num = false;
                }
                (arg_num, i, after_index) = self.arg_number(arg_num, s, i, args.len());
                if i < end && s[i] == b'*' {
                    i += 1;
                    let (p, ok, n) = int_from_arg(args, arg_num);
                    arg_num = n;
                    self.f.prec_present = ok;
                    self.f.prec = p.max(0) as usize;
                    if p < 0 {
                        self.f.prec = 0;
                        self.f.prec_present = false;
                    }
                    if !self.f.prec_present {
                        self.buf.push_str("%!(BADPREC)");
                    }
                    after_index = false;
                } else {
                    let (p, present, ni) = parsenum(s, i, end);
                    i = ni;
                    self.f.prec = if present { p } else { 0 };
                    self.f.prec_present = true;
                }
            }
            if !after_index {
                (arg_num, i, _) = self.arg_number(arg_num, s, i, args.len());
            }
            if i >= end {
                self.buf.push_str("%!(NOVERB)");
                break;
            }
            let verb = format[i..].chars().next().unwrap_or('?');
            i += verb.len_utf8();
            if verb == '%' {
                self.buf.push('%');
            } else if !self.good_arg_num {
                self.buf.push_str("%!");
                self.buf.push(verb);
                self.buf.push_str("(BADINDEX)");
            } else if arg_num >= args.len() {
                self.buf.push_str("%!");
                self.buf.push(verb);
                self.buf.push_str("(MISSING)");
            } else {
                if verb == 'v' {
                    self.f.sharp_v = self.f.sharp;
                    self.f.sharp = false;
                    self.f.plus_v = self.f.plus;
                    self.f.plus = false;
                }
                self.print_arg(&args[arg_num], verb);
                arg_num += 1;
            }
        }
        if !self.reordered && arg_num < args.len() {
            self.f = Flags::default();
            self.buf.push_str("%!(EXTRA ");
            for (n, arg) in args[arg_num..].iter().enumerate() {
                if n > 0 {
                    self.buf.push_str(", ");
                }
                if arg.is_null() {
                    self.buf.push_str("<nil>");
                } else {
                    self.buf.push_str(self.ints.type_name(arg));
                    self.buf.push('=');
                    self.print_arg(arg, 'v');
                }
            }
            self.buf.push(')');
        }
    }

    fn print_arg(&mut self, arg: &Value, verb: char) {
        if arg.is_null() {
            match verb {
                'T' | 'v' => self.pad_str("<nil>"),
                _ => self.bad_verb(arg, verb),
            }
            return;
        }
        if verb == 'T' {
            match crate::helm::go_view(arg) {
                Some(view) => self.fmt_s(view.type_name()),
                None => self.fmt_s(self.ints.type_name(arg)),
            }
            return;
        }
        if verb == 'p' {
            match arg {
                Value::Array(_) | Value::Object(_) => self.pad_str("0xc000010000"),
                _ => self.bad_verb(arg, verb),
            }
            return;
        }
        self.print_value(arg, verb);
    }

    fn print_value(&mut self, v: &Value, verb: char) {
        if let Some(view) = crate::helm::go_view(v) {
            self.print_go_view(&view, verb);
            return;
        }
        match v {
            Value::Null => {
                // A nil element inside a slice or map.
                if self.f.sharp_v {
                    self.buf.push_str("interface {}(nil)");
                } else {
                    self.buf.push_str("<nil>");
                }
            }
            Value::Bool(b) => match verb {
                't' | 'v' => self.pad_str(if *b { "true" } else { "false" }),
                _ => self.bad_verb(v, verb),
            },
            Value::Number(n) => match go_number(n) {
                GoNumber::Int(i) => self.fmt_int(i, v, verb),
                GoNumber::Float(f) => self.fmt_float_verb(f, v, verb),
            },
            Value::String(s) => match verb {
                'v' => {
                    if self.f.sharp_v {
                        self.fmt_q(s)
                    } else {
                        self.fmt_s(s)
                    }
                }
                's' => self.fmt_s(s),
                'x' => self.fmt_sx(s, false),
                'X' => self.fmt_sx(s, true),
                'q' => self.fmt_q(s),
                _ => self.bad_verb(v, verb),
            },
            Value::Array(items) => {
                if self.f.sharp_v {
                    self.buf.push_str("[]interface {}{");
                    for (n, item) in items.iter().enumerate() {
                        if n > 0 {
                            self.buf.push_str(", ");
                        }
                        self.print_value(item, verb);
                    }
                    self.buf.push('}');
                } else {
                    self.buf.push('[');
                    for (n, item) in items.iter().enumerate() {
                        if n > 0 {
                            self.buf.push(' ');
                        }
                        self.print_value(item, verb);
                    }
                    self.buf.push(']');
                }
            }
            Value::Object(map) => {
                if self.f.sharp_v {
                    self.buf.push_str("map[string]interface {}{");
                } else {
                    self.buf.push_str("map[");
                }
                for (n, (k, val)) in sorted_entries(map).into_iter().enumerate() {
                    if n > 0 {
                        if self.f.sharp_v {
                            self.buf.push_str(", ");
                        } else {
                            self.buf.push(' ');
                        }
                    }
                    let key = Value::String(k.clone());
                    self.print_value(&key, verb);
                    self.buf.push(':');
                    self.print_value(val, verb);
                }
                self.buf.push(if self.f.sharp_v { '}' } else { ']' });
            }
        }
    }

    /// A Helm object as Go prints its type: a struct's fields in braces (`%+v` with their
    /// names), a slice's elements in brackets, a `[]byte` as text for `%s %q %x %X` and as
    /// numbers otherwise.
    fn print_go_view(&mut self, view: &crate::helm::GoView<'_>, verb: char) {
        use crate::helm::GoView;
        match view {
            GoView::Struct { fields, .. } => {
                self.buf.push('{');
                for (n, field) in fields.iter().enumerate() {
                    if n > 0 {
                        self.buf.push(' ');
                    }
                    if self.f.plus_v {
                        self.buf.push_str(field.name);
                        self.buf.push(':');
                    }
                    self.print_value(field.value, verb);
                }
                self.buf.push('}');
            }
            GoView::Strings { items, .. } => {
                self.buf.push('[');
                for (n, item) in items.iter().enumerate() {
                    if n > 0 {
                        self.buf.push(' ');
                    }
                    self.print_value(item, verb);
                }
                self.buf.push(']');
            }
            GoView::Stringer { text, .. } => self.print_value(&Value::String(text.clone()), verb),
            GoView::Int64(i) => self.fmt_int(*i, &crate::helm::int64_object(*i), verb),
            GoView::Bytes(text) => match verb {
                's' => self.fmt_s(text),
                'q' => self.fmt_q(text),
                'x' => self.fmt_sx(text, false),
                'X' => self.fmt_sx(text, true),
                _ => {
                    self.buf.push('[');
                    for (n, byte) in text.bytes().enumerate() {
                        if n > 0 {
                            self.buf.push(' ');
                        }
                        self.print_value(&Value::from(byte), verb);
                    }
                    self.buf.push(']');
                }
            },
        }
    }

    fn bad_verb(&mut self, arg: &Value, verb: char) {
        self.buf.push_str("%!");
        self.buf.push(verb);
        self.buf.push('(');
        if arg.is_null() {
            self.buf.push_str("<nil>");
        } else {
            self.buf.push_str(self.ints.type_name(arg));
            self.buf.push('=');
            self.print_arg(arg, 'v');
        }
        self.buf.push(')');
    }

    fn write_padding(&mut self, n: usize) {
        let pad = if self.f.zero && !self.f.minus {
            '0'
        } else {
            ' '
        };
        for _ in 0..n {
            self.buf.push(pad);
        }
    }

    fn pad_str(&mut self, s: &str) {
        if !self.f.wid_present || self.f.wid == 0 {
            self.buf.push_str(s);
            return;
        }
        let count = s.chars().count();
        let width = self.f.wid.saturating_sub(count);
        if !self.f.minus {
            self.write_padding(width);
            self.buf.push_str(s);
        } else {
            self.buf.push_str(s);
            self.write_padding(width);
        }
    }

    fn truncate<'a>(&self, s: &'a str) -> &'a str {
        if self.f.prec_present
            && let Some((idx, _)) = s.char_indices().nth(self.f.prec)
        {
            return &s[..idx];
        }
        s
    }

    fn fmt_s(&mut self, s: &str) {
        let t = self.truncate(s);
        self.pad_str(t);
    }

    fn fmt_sx(&mut self, s: &str, upper: bool) {
        let digits: &[u8] = if upper {
            b"0123456789ABCDEF"
        } else {
            b"0123456789abcdef"
        };
        let mut bytes = s.as_bytes();
        if self.f.prec_present && self.f.prec < bytes.len() {
            bytes = &bytes[..self.f.prec];
        }
        let mut out = String::new();
        for (n, b) in bytes.iter().enumerate() {
            if self.f.space && n > 0 {
                out.push(' ');
            }
            if self.f.sharp && (self.f.space || n == 0) {
                out.push('0');
                out.push(if upper { 'X' } else { 'x' });
            }
            out.push(digits[(b >> 4) as usize] as char);
            out.push(digits[(b & 15) as usize] as char);
        }
        self.pad_str(&out);
    }

    fn fmt_q(&mut self, s: &str) {
        let s = self.truncate(s);
        if self.f.sharp && !s.contains('`') && s.chars().all(|c| c == '\t' || !c.is_control()) {
            let q = format!("`{s}`");
            self.pad_str(&q);
            return;
        }
        let q = go_quote(s, '"', self.f.plus);
        self.pad_str(&q);
    }

    fn fmt_int(&mut self, i: i64, arg: &Value, verb: char) {
        match verb {
            'v' | 'd' => self.fmt_integer(i, 10, verb, false),
            'b' => self.fmt_integer(i, 2, verb, false),
            'o' | 'O' => self.fmt_integer(i, 8, verb, false),
            'x' => self.fmt_integer(i, 16, verb, false),
            'X' => self.fmt_integer(i, 16, verb, true),
            'c' => {
                let c = rune_of(i);
                self.pad_str(&c.to_string());
            }
            'q' => {
                let c = rune_of(i);
                let q = go_quote(&c.to_string(), '\'', self.f.plus);
                self.pad_str(&q);
            }
            'U' => {
                let mut s = format!("U+{:04X}", i as u64);
                if i < 0 {
                    s = format!("U+{:X}", i as u64);
                }
                if self.f.sharp && (0..=0x10FFFF).contains(&i) {
                    let c = rune_of(i);
                    if !c.is_control() {
                        s.push_str(&format!(" '{c}'"));
                    }
                }
                self.pad_str(&s);
            }
            _ => self.bad_verb(arg, verb),
        }
    }

    fn fmt_integer(&mut self, v: i64, base: u32, verb: char, upper: bool) {
        let negative = v < 0;
        let mut u = v.unsigned_abs();
        let mut prec = 0usize;
        if self.f.prec_present {
            prec = self.f.prec;
            if prec == 0 && u == 0 {
                let old = self.f.zero;
                self.f.zero = false;
                let w = self.f.wid;
                self.write_padding(w);
                self.f.zero = old;
                return;
            }
        } else if self.f.zero && !self.f.minus && self.f.wid_present {
            prec = self.f.wid;
            if negative || self.f.plus || self.f.space {
                prec = prec.saturating_sub(1);
            }
        }
        let digits: &[u8] = if upper {
            b"0123456789ABCDEF"
        } else {
            b"0123456789abcdef"
        };
        let mut rev: Vec<u8> = Vec::new();
        if u == 0 {
            rev.push(b'0');
        }
        while u > 0 {
            rev.push(digits[(u % u64::from(base)) as usize]);
            u /= u64::from(base);
        }
        while rev.len() < prec {
            rev.push(b'0');
        }
        if self.f.sharp {
            match base {
                2 => {
                    rev.push(b'b');
                    rev.push(b'0');
                }
                8 if rev.last() != Some(&b'0') => rev.push(b'0'),
                16 => {
                    rev.push(if upper { b'X' } else { b'x' });
                    rev.push(b'0');
                }
                _ => {}
            }
        }
        if verb == 'O' {
            rev.push(b'o');
            rev.push(b'0');
        }
        if negative {
            rev.push(b'-');
        } else if self.f.plus {
            rev.push(b'+');
        } else if self.f.space {
            rev.push(b' ');
        }
        rev.reverse();
        let s = String::from_utf8_lossy(&rev).into_owned();
        let old = self.f.zero;
        self.f.zero = false;
        self.pad_str(&s);
        self.f.zero = old;
    }

    fn fmt_float_verb(&mut self, f: f64, arg: &Value, verb: char) {
        match verb {
            'v' => self.fmt_float(f, 'g', -1),
            'b' | 'g' | 'G' | 'x' | 'X' => self.fmt_float(f, verb, -1),
            'f' | 'e' | 'E' => self.fmt_float(f, verb, 6),
            'F' => self.fmt_float(f, 'f', 6),
            _ => self.bad_verb(arg, verb),
        }
    }

    fn fmt_float(&mut self, v: f64, verb: char, prec: i64) {
        let prec = if self.f.prec_present {
            self.f.prec as i64
        } else {
            prec
        };
        let body = format_float(v, verb, prec);
        let mut num = if body.starts_with('-') || body.starts_with('+') {
            body
        } else {
            format!("+{body}")
        };
        if self.f.space && num.starts_with('+') && !self.f.plus {
            num.replace_range(0..1, " ");
        }
        let second = num[1..].chars().next().unwrap_or('0');
        if second == 'I' || second == 'N' {
            let old = self.f.zero;
            self.f.zero = false;
            if second == 'N' && !self.f.space && !self.f.plus {
                num.remove(0);
            }
            self.pad_str(&num);
            self.f.zero = old;
            return;
        }
        if self.f.sharp && verb != 'b' {
            num = sharp_float(&num, verb, prec);
        }
        if self.f.plus || !num.starts_with('+') {
            if self.f.zero && !self.f.minus && self.f.wid_present && self.f.wid > num.len() {
                let sign = num.remove(0);
                self.buf.push(sign);
                let w = self.f.wid - num.len() - 1;
                self.write_padding(w);
                self.buf.push_str(&num);
                return;
            }
            self.pad_str(&num);
            return;
        }
        let rest = num[1..].to_string();
        self.pad_str(&rest);
    }
}

/// The `#` flag on floats: keep a decimal point, and for `%g` keep trailing zeros.
fn sharp_float(num: &str, verb: char, prec: i64) -> String {
    let (mantissa, tail) = match num.find(['e', 'E', 'p', 'P']) {
        Some(pos) => (&num[..pos], &num[pos..]),
        None => (num, ""),
    };
    let mut m = mantissa.to_string();
    if matches!(verb, 'v' | 'g' | 'G') {
        let digits_wanted = if prec < 0 { 6 } else { prec as usize };
        let significant = m.chars().filter(|c| c.is_ascii_digit()).collect::<String>();
        let significant = significant.trim_start_matches('0').len().max(1);
        if !m.contains('.') {
            m.push('.');
        }
        for _ in significant..digits_wanted {
            m.push('0');
        }
    } else if !m.contains('.') {
        m.push('.');
    }
    format!("{m}{tail}")
}

fn rune_of(i: i64) -> char {
    u32::try_from(i)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or('\u{FFFD}')
}

/// Whether Go's `strconv.IsPrint` holds, approximately.
fn is_go_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c as u32, 0xAD | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF)
}

/// Go `strconv.Quote` (or `QuoteRune` with `'`); `ascii` gives `QuoteToASCII`.
pub fn go_quote(s: &str, quote: char, ascii: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        if c == quote || c == '\\' {
            out.push('\\');
            out.push(c);
            continue;
        }
        if ascii {
            if (c as u32) < 0x80 && is_go_print(c) {
                out.push(c);
                continue;
            }
        } else if is_go_print(c) {
            out.push(c);
            continue;
        }
        match c {
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push(quote);
    out
}

/// Decimal digits of a float: `digits` without leading/trailing zeros and the decimal point position.
struct Decimal {
    digits: Vec<u8>,
    dp: i64,
}

fn decimal_from_sci(s: &str) -> Decimal {
    // s looks like "1.2345e-7" or "0e0".
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    if digits.iter().all(|d| *d == b'0') {
        return Decimal {
            digits: Vec::new(),
            dp: 0,
        };
    }
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    Decimal {
        digits,
        dp: exp + 1,
    }
}

fn shortest(abs: f64) -> Decimal {
    decimal_from_sci(&format!("{abs:e}"))
}

fn rounded(abs: f64, significant: usize) -> Decimal {
    let n = significant.max(1);
    decimal_from_sci(&format!("{:.*e}", n - 1, abs))
}

fn fmt_e(d: &Decimal, prec: i64, e: char) -> String {
    let mut out = String::new();
    out.push(d.digits.first().map_or('0', |c| *c as char));
    if prec > 0 {
        out.push('.');
        let mut i = 1usize;
        let m = d.digits.len().min(prec as usize + 1);
        if i < m {
            out.push_str(std::str::from_utf8(&d.digits[i..m]).unwrap_or(""));
            i = m;
        }
        while i <= prec as usize {
            out.push('0');
            i += 1;
        }
    }
    out.push(e);
    let mut exp = d.dp - 1;
    if d.digits.is_empty() {
        exp = 0;
    }
    if exp < 0 {
        out.push('-');
        exp = -exp;
    } else {
        out.push('+');
    }
    if exp < 10 {
        out.push('0');
    }
    out.push_str(&exp.to_string());
    out
}

fn fmt_f(d: &Decimal, prec: i64) -> String {
    let mut out = String::new();
    if d.dp > 0 {
        let m = d.digits.len().min(d.dp as usize);
        out.push_str(std::str::from_utf8(&d.digits[..m]).unwrap_or(""));
        for _ in m..d.dp as usize {
            out.push('0');
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            let j = d.dp + i - 1;
            let ch = if j >= 0 && (j as usize) < d.digits.len() {
                d.digits[j as usize] as char
            } else {
                '0'
            };
            out.push(ch);
        }
    }
    out
}

/// Go `strconv.FormatFloat(v, fmt, prec, 64)` for the formats `b e E f g G x X`.
pub fn format_float(v: f64, fmt: char, prec: i64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".to_string()
        } else {
            "-Inf".to_string()
        };
    }
    let neg = v.is_sign_negative();
    let abs = v.abs();
    let body = match fmt {
        'b' => {
            let bits = v.to_bits();
            let mut exp = ((bits >> 52) & 0x7FF) as i64;
            let mut mant = bits & ((1u64 << 52) - 1);
            if exp == 0 {
                exp += 1;
            } else {
                mant |= 1u64 << 52;
            }
            exp += -1023 - 52;
            let sign = if exp >= 0 { "+" } else { "" };
            return format!("{}{mant}p{sign}{exp}", if neg { "-" } else { "" });
        }
        'x' | 'X' => return format_hex_float(v, fmt),
        'e' | 'E' => {
            let d = if prec < 0 {
                shortest(abs)
            } else {
                rounded(abs, prec as usize + 1)
            };
            let p = if prec < 0 {
                d.digits.len().max(1) as i64 - 1
            } else {
                prec
            };
            fmt_e(&d, p, fmt)
        }
        'f' | 'F' => {
            if prec < 0 {
                let d = shortest(abs);
                let p = (d.digits.len() as i64 - d.dp).max(0);
                fmt_f(&d, p)
            } else {
                format!("{:.*}", prec as usize, abs)
            }
        }
        _ => {
            // 'g' / 'G'
            let e = if fmt == 'G' { 'E' } else { 'e' };
            let shortest_mode = prec < 0;
            let d = if shortest_mode {
                shortest(abs)
            } else {
                rounded(abs, if prec == 0 { 1 } else { prec as usize })
            };
            let mut p = if shortest_mode {
                d.digits.len() as i64
            } else if prec == 0 {
                1
            } else {
                prec
            };
            let nd = d.digits.len() as i64;
            let mut eprec = p;
            if eprec > nd && nd >= d.dp {
                eprec = nd;
            }
            if shortest_mode {
                eprec = 6;
            }
            let exp = d.dp - 1;
            if exp < -4 || exp >= eprec {
                if p > nd {
                    p = nd;
                }
                fmt_e(&d, p - 1, e)
            } else {
                if p > d.dp {
                    p = nd;
                }
                fmt_f(&d, (p - d.dp).max(0))
            }
        }
    };
    if neg { format!("-{body}") } else { body }
}

fn format_hex_float(v: f64, fmt: char) -> String {
    let bits = v.to_bits();
    let neg = v.is_sign_negative();
    let mut exp = ((bits >> 52) & 0x7FF) as i64;
    let mut mant = bits & ((1u64 << 52) - 1);
    if exp == 0 {
        exp += 1;
    } else {
        mant |= 1u64 << 52;
    }
    exp -= 1023;
    if mant == 0 {
        exp = 0;
    }
    mant <<= 60 - 52;
    while mant != 0 && mant & (1u64 << 60) == 0 {
        mant <<= 1;
        exp -= 1;
    }
    let hex: &[u8] = if fmt == 'X' {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    out.push('0');
    out.push(fmt);
    out.push((b'0' + ((mant >> 60) & 1) as u8) as char);
    mant <<= 4;
    if mant != 0 {
        out.push('.');
        while mant != 0 {
            out.push(hex[((mant >> 60) & 15) as usize] as char);
            mant <<= 4;
        }
    }
    out.push(if fmt == 'X' { 'P' } else { 'p' });
    if exp < 0 {
        out.push('-');
        exp = -exp;
    } else {
        out.push('+');
    }
    if exp < 10 {
        out.push('0');
    }
    out.push_str(&exp.to_string());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f1(fmt: &str, v: Value) -> String {
        sprintf(fmt, &[v])
    }

    #[test]
    fn verbs_and_markers() {
        assert_eq!(f1("size-%s", json!(5)), "size-%!s(int64=5)");
        assert_eq!(f1("%.1f", json!(3)), "%!f(int64=3)");
        assert_eq!(f1("%v", json!({"b": "x", "a": 1})), "map[a:1 b:x]");
        assert_eq!(f1("%s", json!(["a", 3])), "[a %!s(int64=3)]");
        assert_eq!(f1("static", json!("a")), "static%!(EXTRA string=a)");
        assert_eq!(sprintf("%s %s", &[json!("a")]), "a %!s(MISSING)");
        assert_eq!(f1("%", json!("a")), "%!(NOVERB)%!(EXTRA string=a)");
        assert_eq!(f1("%z", json!("a")), "%!z(string=a)");
        assert_eq!(f1("%s", Value::Null), "%!s(<nil>)");
        assert_eq!(f1("%v", json!([null])), "[<nil>]");
        assert_eq!(f1("%q", json!("a\"b")), "\"a\\\"b\"");
        assert_eq!(f1("%x", json!(255)), "ff");
        assert_eq!(f1("%05d", json!(-42)), "-0042");
        assert_eq!(f1("%-4d|", json!(7)), "7   |");
        assert_eq!(f1("%.3s", json!("abcdef")), "abc");
        assert_eq!(f1("%6.2f", json!(2.34567)), "  2.35");
        assert_eq!(f1("%x", json!("hi")), "6869");
        assert_eq!(f1("%c", json!(65)), "A");
        assert_eq!(f1("%q", json!(65)), "'A'");
        assert_eq!(f1("%U", json!(65)), "U+0041");
        assert_eq!(f1("%T", json!(1.5)), "float64");
        assert_eq!(sprintf("%[2]s-%[1]s", &[json!("a"), json!("b")]), "b-a");
        assert_eq!(sprintf("%[3]s", &[json!("a")]), "%!s(BADINDEX)");
        assert_eq!(sprintf("%*d", &[json!(4), json!(7)]), "   7");
    }

    #[test]
    fn floats_match_go() {
        assert_eq!(f1("%v", json!(1.5)), "1.5");
        assert_eq!(f1("%v", json!(123456.7)), "123456.7");
        assert_eq!(f1("%v", json!(1500000.5)), "1.5000005e+06");
        assert_eq!(f1("%v", json!(0.0001)), "0.0001");
        assert_eq!(f1("%v", json!(0.00001)), "1e-05");
        assert_eq!(f1("%v", json!(1e21)), "1e+21");
        assert_eq!(f1("%v", json!(2.0)), "2");
        assert_eq!(f1("%.1f", json!(2.55)), "2.5");
        assert_eq!(f1("%.0f", json!(2.5)), "2");
        assert_eq!(f1("%e", json!(1234.5678)), "1.234568e+03");
        assert_eq!(f1("%g", json!(0.000012345)), "1.2345e-05");
        assert_eq!(f1("%.3g", json!(1234.5678)), "1.23e+03");
        assert_eq!(f1("%x", json!(1.5)), "0x1.8p+00");
        assert_eq!(f1("%+.2f", json!(1.5)), "+1.50");
        assert_eq!(f1("%08.3f", json!(-3.5)), "-003.500");
        assert_eq!(f1("%b", json!(1.0)), "4503599627370496p-52");
    }

    #[test]
    fn integer_type_follows_the_int_kind() {
        let t = GoFmt::TEMPLATE;
        let c = GoFmt::CROSSPLANE;
        assert_eq!(t.sprintf("%T", &[json!(5)]), "int");
        assert_eq!(c.sprintf("%T", &[json!(5)]), "int64");
        assert_eq!(t.sprintf("%T", &[json!(1.5)]), "float64");
        assert_eq!(c.sprintf("%T", &[json!(1.5)]), "float64");
        for p in [t, c] {
            assert_eq!(p.sprintf("%v", &[json!(5)]), "5");
            assert_eq!(p.sprintf("%d", &[json!(-5)]), "-5");
            assert_eq!(p.sprint_v(&json!(5)), "5");
        }
        assert_eq!(t.sprintf("%s", &[json!(5)]), "%!s(int=5)");
        assert_eq!(c.sprintf("%s", &[json!(5)]), "%!s(int64=5)");
        assert_eq!(t.sprintf("%d", &[json!(1), json!(2)]), "1%!(EXTRA int=2)");
        assert_eq!(c.sprintf("%d", &[json!(1), json!(2)]), "1%!(EXTRA int64=2)");
        assert_eq!(sprintf("%T", &[json!(5)]), "int64");
    }

    #[test]
    fn template_printf_verbs() {
        let p = GoFmt::TEMPLATE;
        assert_eq!(p.sprintf("%s-%d", &[json!("a"), json!(3)]), "a-3");
        assert_eq!(
            p.sprintf("%5s|%-5s|", &[json!("ab"), json!("cd")]),
            "   ab|cd   |"
        );
        assert_eq!(p.sprintf("%05d", &[json!(42)]), "00042");
        assert_eq!(p.sprintf("%x %X", &[json!(255), json!("hi")]), "ff 6869");
        assert_eq!(p.sprintf("%.2f", &[json!(1.23456)]), "1.23");
        assert_eq!(
            p.sprintf("%v %v", &[json!([1, 2]), json!({"b": 1, "a": "x"})]),
            "[1 2] map[a:x b:1]"
        );
        assert_eq!(p.sprintf("%d", &[json!("x")]), "%!d(string=x)");
        assert_eq!(p.sprintf("%d %d", &[json!(1)]), "1 %!d(MISSING)");
        assert_eq!(
            p.sprintf("%d", &[json!(1), json!("z")]),
            "1%!(EXTRA string=z)"
        );
        assert_eq!(p.sprintf("100%%", &[]), "100%");
        assert_eq!(p.sprintf("%t", &[json!(true)]), "true");
        assert_eq!(p.sprintf("%+d", &[json!(5)]), "+5");
    }

    #[test]
    fn sprint_spaces_operands_like_go() {
        let p = GoFmt::TEMPLATE;
        assert_eq!(
            p.sprint(&[json!("a"), json!(1), json!(2), json!("b")]),
            "a1 2b"
        );
        assert_eq!(p.sprint(&[json!(null), json!(true)]), "<nil> true");
        assert_eq!(p.sprintln(&[json!("a"), json!(1)]), "a 1\n");
        assert_eq!(p.sprintln(&[]), "\n");
    }

    #[test]
    fn shortest_floats_like_go() {
        for (f, want) in [
            (3.0, "3"),
            (1.5, "1.5"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (-0.0, "-0"),
        ] {
            assert_eq!(format_float(f, 'g', -1), want, "{f}");
        }
    }
}
