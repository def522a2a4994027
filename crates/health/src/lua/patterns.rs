//! Lua 5.1's pattern matching (`string.find`, `string.match`, `string.gmatch`, `string.gsub`)
//! in Rust, counted against the script's instruction budget and deadline.
//!
//! Lua's own matcher is C code that backtracks without ever returning to the VM, so the
//! instruction hook cannot stop it: `string.find(string.rep("a", 400), ".-.-.-.-b")` runs for
//! many minutes. This is a port of Lua 5.1.5's `lstrlib.c` matcher (same semantics, same error
//! messages) whose every step is counted: a pathological pattern now stops at the script's
//! instruction budget or deadline like a loop does, and recursion is bounded like Lua 5.2's
//! `matchdepth`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use mlua::{Lua, MultiValue, Value};

const CAP_UNFINISHED: isize = -1;
const CAP_POSITION: isize = -2;
const MAX_CAPTURES: usize = 32;
/// Deepest recursion of the matcher (Lua 5.2's `MAXCCALLS` for patterns).
const MAX_MATCH_DEPTH: usize = 200;
const SPECIALS: &[u8] = b"^$*+?.([%-";
/// Steps counted locally before they are added to the shared budget.
const FLUSH_EVERY: u64 = 1024;

/// The script's budget, shared with the instruction hook.
#[derive(Clone)]
pub(crate) struct Budget {
    pub executed: Arc<AtomicU64>,
    pub max_instructions: u64,
    pub deadline: Instant,
    pub stop_reason: Arc<AtomicU8>,
    pub instructions_reason: u8,
    pub timeout_reason: u8,
    pub depth_reason: u8,
    pub none_reason: u8,
    /// Nesting of Rust callbacks that call back into Lua (`gsub` with a function).
    pub nesting: Arc<AtomicUsize>,
    pub max_nesting: usize,
}

impl Budget {
    fn charge(&self, steps: u64) -> Result<(), mlua::Error> {
        let total = self.executed.fetch_add(steps, Ordering::Relaxed) + steps;
        if total > self.max_instructions {
            self.stop(self.instructions_reason);
            return Err(mlua::Error::runtime(
                "instruction budget exceeded in pattern matching",
            ));
        }
        if Instant::now() >= self.deadline {
            self.stop(self.timeout_reason);
            return Err(mlua::Error::runtime(
                "time limit exceeded in pattern matching",
            ));
        }
        Ok(())
    }

    fn stop(&self, reason: u8) {
        let _ = self.stop_reason.compare_exchange(
            self.none_reason,
            reason,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
}

struct Matcher<'a> {
    src: &'a [u8],
    pat: &'a [u8],
    level: usize,
    captures: [(usize, isize); MAX_CAPTURES],
    depth: usize,
    steps: u64,
    budget: &'a Budget,
}

fn malformed(message: &str) -> mlua::Error {
    mlua::Error::runtime(message.to_string())
}

fn match_class(c: u8, class: u8) -> bool {
    let result = match class.to_ascii_lowercase() {
        b'a' => c.is_ascii_alphabetic(),
        b'c' => c.is_ascii_control(),
        b'd' => c.is_ascii_digit(),
        b'l' => c.is_ascii_lowercase(),
        b'p' => c.is_ascii_punctuation(),
        b's' => matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c),
        b'u' => c.is_ascii_uppercase(),
        b'w' => c.is_ascii_alphanumeric(),
        b'x' => c.is_ascii_hexdigit(),
        b'z' => c == 0,
        _ => return class == c,
    };
    if class.is_ascii_uppercase() {
        !result
    } else {
        result
    }
}

impl<'a> Matcher<'a> {
    fn new(src: &'a [u8], pat: &'a [u8], budget: &'a Budget) -> Self {
        Self {
            src,
            pat,
            level: 0,
            captures: [(0, 0); MAX_CAPTURES],
            depth: 0,
            steps: 0,
            budget,
        }
    }

    /// The pattern byte at `i`, or 0 past its end (C's terminator).
    fn p(&self, i: usize) -> u8 {
        self.pat.get(i).copied().unwrap_or(0)
    }

    /// The subject byte at `i`, or 0 at its end.
    fn s(&self, i: usize) -> u8 {
        self.src.get(i).copied().unwrap_or(0)
    }

    fn step(&mut self) -> Result<(), mlua::Error> {
        self.steps += 1;
        if self.steps >= FLUSH_EVERY {
            self.budget.charge(self.steps)?;
            self.steps = 0;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), mlua::Error> {
        let steps = std::mem::take(&mut self.steps);
        if steps > 0 {
            self.budget.charge(steps)?;
        }
        Ok(())
    }

    fn class_end(&self, mut p: usize) -> Result<usize, mlua::Error> {
        let c = self.p(p);
        p += 1;
        match c {
            b'%' => {
                if p >= self.pat.len() {
                    return Err(malformed("malformed pattern (ends with '%')"));
                }
                Ok(p + 1)
            }
            b'[' => {
                if self.p(p) == b'^' {
                    p += 1;
                }
                loop {
                    if p >= self.pat.len() {
                        return Err(malformed("malformed pattern (missing ']')"));
                    }
                    let c = self.p(p);
                    p += 1;
                    if c == b'%' && p < self.pat.len() {
                        p += 1;
                    }
                    if self.p(p) == b']' {
                        break;
                    }
                }
                Ok(p + 1)
            }
            _ => Ok(p),
        }
    }

    fn match_bracket_class(&self, c: u8, mut p: usize, ec: usize) -> bool {
        let mut sig = true;
        if self.p(p + 1) == b'^' {
            sig = false;
            p += 1;
        }
        loop {
            p += 1;
            if p >= ec {
                break;
            }
            if self.p(p) == b'%' {
                p += 1;
                if match_class(c, self.p(p)) {
                    return sig;
                }
            } else if self.p(p + 1) == b'-' && p + 2 < ec {
                p += 2;
                if self.p(p - 2) <= c && c <= self.p(p) {
                    return sig;
                }
            } else if self.p(p) == c {
                return sig;
            }
        }
        !sig
    }

    fn single_match(&self, c: u8, p: usize, ep: usize) -> bool {
        match self.p(p) {
            b'.' => true,
            b'%' => match_class(c, self.p(p + 1)),
            b'[' => self.match_bracket_class(c, p, ep - 1),
            other => other == c,
        }
    }

    fn do_match(&mut self, s: usize, p: usize) -> Result<Option<usize>, mlua::Error> {
        self.depth += 1;
        if self.depth > MAX_MATCH_DEPTH {
            self.budget.stop(self.budget.depth_reason);
            return Err(malformed("pattern too complex (stack overflow)"));
        }
        let result = self.match_inner(s, p);
        self.depth -= 1;
        result
    }

    fn match_inner(&mut self, mut s: usize, mut p: usize) -> Result<Option<usize>, mlua::Error> {
        loop {
            self.step()?;
            match self.p(p) {
                b'(' if p < self.pat.len() => {
                    return if self.p(p + 1) == b')' {
                        self.start_capture(s, p + 2, CAP_POSITION)
                    } else {
                        self.start_capture(s, p + 1, CAP_UNFINISHED)
                    };
                }
                b')' if p < self.pat.len() => return self.end_capture(s, p + 1),
                b'%' if p < self.pat.len() && self.p(p + 1) == b'b' => {
                    match self.match_balance(s, p + 2)? {
                        Some(next) => {
                            s = next;
                            p += 4;
                            continue;
                        }
                        None => return Ok(None),
                    }
                }
                b'%' if p < self.pat.len() && self.p(p + 1) == b'f' => {
                    p += 2;
                    if self.p(p) != b'[' {
                        return Err(malformed("missing '[' after '%f' in pattern"));
                    }
                    let ep = self.class_end(p)?;
                    let previous = if s == 0 { 0 } else { self.s(s - 1) };
                    if self.match_bracket_class(previous, p, ep - 1)
                        || !self.match_bracket_class(self.s(s), p, ep - 1)
                    {
                        return Ok(None);
                    }
                    p = ep;
                    continue;
                }
                b'%' if p < self.pat.len() && self.p(p + 1).is_ascii_digit() => {
                    match self.match_capture(s, self.p(p + 1))? {
                        Some(next) => {
                            s = next;
                            p += 2;
                            continue;
                        }
                        None => return Ok(None),
                    }
                }
                _ if p >= self.pat.len() => return Ok(Some(s)),
                b'$' if p + 1 == self.pat.len() => {
                    return Ok((s == self.src.len()).then_some(s));
                }
                _ => {
                    let ep = self.class_end(p)?;
                    let m = s < self.src.len() && self.single_match(self.s(s), p, ep);
                    match self.p(ep) {
                        b'?' if ep < self.pat.len() => {
                            if m && let Some(res) = self.do_match(s + 1, ep + 1)? {
                                return Ok(Some(res));
                            }
                            p = ep + 1;
                        }
                        b'*' if ep < self.pat.len() => return self.max_expand(s, p, ep),
                        b'+' if ep < self.pat.len() => {
                            return if m {
                                self.max_expand(s + 1, p, ep)
                            } else {
                                Ok(None)
                            };
                        }
                        b'-' if ep < self.pat.len() => return self.min_expand(s, p, ep),
                        _ => {
                            if !m {
                                return Ok(None);
                            }
                            s += 1;
                            p = ep;
                        }
                    }
                }
            }
        }
    }

    fn max_expand(&mut self, s: usize, p: usize, ep: usize) -> Result<Option<usize>, mlua::Error> {
        let mut i = 0;
        while s + i < self.src.len() && self.single_match(self.s(s + i), p, ep) {
            self.step()?;
            i += 1;
        }
        loop {
            if let Some(res) = self.do_match(s + i, ep + 1)? {
                return Ok(Some(res));
            }
            if i == 0 {
                return Ok(None);
            }
            i -= 1;
        }
    }

    fn min_expand(
        &mut self,
        mut s: usize,
        p: usize,
        ep: usize,
    ) -> Result<Option<usize>, mlua::Error> {
        loop {
            if let Some(res) = self.do_match(s, ep + 1)? {
                return Ok(Some(res));
            }
            if s < self.src.len() && self.single_match(self.s(s), p, ep) {
                s += 1;
            } else {
                return Ok(None);
            }
        }
    }

    fn start_capture(
        &mut self,
        s: usize,
        p: usize,
        what: isize,
    ) -> Result<Option<usize>, mlua::Error> {
        if self.level >= MAX_CAPTURES {
            return Err(malformed("too many captures"));
        }
        self.captures[self.level] = (s, what);
        self.level += 1;
        let res = self.do_match(s, p)?;
        if res.is_none() {
            self.level -= 1;
        }
        Ok(res)
    }

    fn end_capture(&mut self, s: usize, p: usize) -> Result<Option<usize>, mlua::Error> {
        let l = self.capture_to_close()?;
        self.captures[l].1 = (s - self.captures[l].0) as isize;
        let res = self.do_match(s, p)?;
        if res.is_none() {
            self.captures[l].1 = CAP_UNFINISHED;
        }
        Ok(res)
    }

    fn capture_to_close(&self) -> Result<usize, mlua::Error> {
        (0..self.level)
            .rev()
            .find(|l| self.captures[*l].1 == CAP_UNFINISHED)
            .ok_or_else(|| malformed("invalid pattern capture"))
    }

    fn match_balance(&mut self, s: usize, p: usize) -> Result<Option<usize>, mlua::Error> {
        if p + 1 >= self.pat.len() {
            return Err(malformed("unbalanced pattern"));
        }
        if s >= self.src.len() || self.s(s) != self.p(p) {
            return Ok(None);
        }
        let (open, close) = (self.p(p), self.p(p + 1));
        let mut count = 1;
        let mut i = s + 1;
        while i < self.src.len() {
            self.step()?;
            let c = self.s(i);
            if c == close {
                count -= 1;
                if count == 0 {
                    return Ok(Some(i + 1));
                }
            } else if c == open {
                count += 1;
            }
            i += 1;
        }
        Ok(None)
    }

    fn check_capture(&self, l: u8) -> Result<usize, mlua::Error> {
        let l = l as isize - b'1' as isize;
        if l < 0 || l as usize >= self.level || self.captures[l as usize].1 == CAP_UNFINISHED {
            return Err(malformed("invalid capture index"));
        }
        Ok(l as usize)
    }

    fn match_capture(&mut self, s: usize, l: u8) -> Result<Option<usize>, mlua::Error> {
        let l = self.check_capture(l)?;
        let (start, len) = self.captures[l];
        // A position capture has no text: nothing matches it (as in C, where its length is huge).
        let Ok(len) = usize::try_from(len) else {
            return Ok(None);
        };
        if self.src.len() - s >= len && self.src[start..start + len] == self.src[s..s + len] {
            Ok(Some(s + len))
        } else {
            Ok(None)
        }
    }

    /// Capture `i` of a match from `s` to `e` (the whole match for 0 when there are none).
    fn capture(&self, lua: &Lua, i: usize, s: usize, e: usize) -> mlua::Result<Value> {
        if i >= self.level {
            if i == 0 {
                return Ok(Value::String(lua.create_string(&self.src[s..e])?));
            }
            return Err(malformed("invalid capture index"));
        }
        let (start, len) = self.captures[i];
        match len {
            CAP_UNFINISHED => Err(malformed("unfinished capture")),
            CAP_POSITION => Ok(Value::Number((start + 1) as f64)),
            len => Ok(Value::String(
                lua.create_string(&self.src[start..start + len as usize])?,
            )),
        }
    }

    /// All captures (or the whole match) of a match from `s` to `e`.
    fn captures(&self, lua: &Lua, s: Option<usize>, e: usize) -> mlua::Result<MultiValue> {
        let count = if self.level == 0 && s.is_some() {
            1
        } else {
            self.level
        };
        let mut out = MultiValue::new();
        for i in 0..count {
            out.push_back(self.capture(lua, i, s.unwrap_or(0), e)?);
        }
        Ok(out)
    }
}

fn checked_string(lua: &Lua, value: Value, arg: usize, function: &str) -> mlua::Result<Vec<u8>> {
    let type_name = value.type_name();
    match lua.coerce_string(value)? {
        Some(s) => Ok(s.as_bytes().to_vec()),
        None => Err(mlua::Error::runtime(format!(
            "bad argument #{arg} to '{function}' (string expected, got {type_name})"
        ))),
    }
}

fn optional_integer(lua: &Lua, value: Option<Value>, default: i64) -> mlua::Result<i64> {
    match value {
        None | Some(Value::Nil) => Ok(default),
        Some(v) => Ok(lua.coerce_number(v)?.map_or(default, |n| n as i64)),
    }
}

/// `posrelat`: a negative position counts from the end.
fn relative(pos: i64, len: usize) -> i64 {
    let pos = if pos < 0 { pos + len as i64 + 1 } else { pos };
    pos.max(0)
}

fn find_or_match(
    lua: &Lua,
    budget: &Budget,
    args: MultiValue,
    find: bool,
) -> mlua::Result<MultiValue> {
    let name = if find { "find" } else { "match" };
    let mut args = args.into_iter();
    let src = checked_string(lua, args.next().unwrap_or(Value::Nil), 1, name)?;
    let pat = checked_string(lua, args.next().unwrap_or(Value::Nil), 2, name)?;
    let init = relative(optional_integer(lua, args.next(), 1)?, src.len()) - 1;
    let init = init.clamp(0, src.len() as i64) as usize;
    let plain = args
        .next()
        .is_some_and(|v| !matches!(v, Value::Nil | Value::Boolean(false)));
    // C's strpbrk stops at the pattern's first NUL.
    let pat_c = pat.split(|b| *b == 0).next().unwrap_or(&[]);
    if find && (plain || !pat_c.iter().any(|b| SPECIALS.contains(b))) {
        let found = plain_find(&src, &pat, init, budget)?;
        let mut out = MultiValue::new();
        match found {
            Some(at) => {
                out.push_back(Value::Number((at + 1) as f64));
                out.push_back(Value::Number((at + pat.len()) as f64));
            }
            None => out.push_back(Value::Nil),
        }
        return Ok(out);
    }
    let (anchor, pattern) = match pat_c.first() {
        Some(b'^') => (true, &pat_c[1..]),
        _ => (false, pat_c),
    };
    let mut m = Matcher::new(&src, pattern, budget);
    let mut s1 = init;
    loop {
        m.level = 0;
        if let Some(end) = m.do_match(s1, 0)? {
            m.finish()?;
            let mut out = MultiValue::new();
            if find {
                out.push_back(Value::Number((s1 + 1) as f64));
                out.push_back(Value::Number(end as f64));
                for v in m.captures(lua, None, 0)? {
                    out.push_back(v);
                }
                return Ok(out);
            }
            return m.captures(lua, Some(s1), end);
        }
        if s1 >= src.len() || anchor {
            break;
        }
        s1 += 1;
    }
    m.finish()?;
    let mut out = MultiValue::new();
    out.push_back(Value::Nil);
    Ok(out)
}

/// A plain substring search from `init`, every byte compared counted against the budget.
fn plain_find(src: &[u8], pat: &[u8], init: usize, budget: &Budget) -> mlua::Result<Option<usize>> {
    if pat.is_empty() {
        return Ok(Some(init));
    }
    if pat.len() > src.len() - init {
        return Ok(None);
    }
    let mut compared = 0u64;
    for at in init..=src.len() - pat.len() {
        let same = src[at..]
            .iter()
            .zip(pat)
            .take_while(|(a, b)| a == b)
            .count();
        compared += same as u64 + 1;
        if compared >= FLUSH_EVERY * 64 {
            budget.charge(compared / 64)?;
            compared = 0;
        }
        if same == pat.len() {
            budget.charge(compared / 64 + 1)?;
            return Ok(Some(at));
        }
    }
    budget.charge(compared / 64 + 1)?;
    Ok(None)
}

fn gmatch(lua: &Lua, budget: &Budget, args: MultiValue) -> mlua::Result<mlua::Function> {
    let mut args = args.into_iter();
    let src = checked_string(lua, args.next().unwrap_or(Value::Nil), 1, "gmatch")?;
    let pat = checked_string(lua, args.next().unwrap_or(Value::Nil), 2, "gmatch")?;
    let pat: Vec<u8> = pat.split(|b| *b == 0).next().unwrap_or(&[]).to_vec();
    let budget = budget.clone();
    let position = std::cell::Cell::new(0usize);
    lua.create_function(move |lua, _: MultiValue| {
        let mut m = Matcher::new(&src, &pat, &budget);
        let mut start = position.get();
        while start <= src.len() {
            m.level = 0;
            if let Some(end) = m.do_match(start, 0)? {
                m.finish()?;
                position.set(if end == start { end + 1 } else { end });
                return m.captures(lua, Some(start), end);
            }
            start += 1;
        }
        m.finish()?;
        position.set(src.len() + 1);
        Ok(MultiValue::new())
    })
}

fn gsub(lua: &Lua, budget: &Budget, args: MultiValue) -> mlua::Result<MultiValue> {
    let mut args = args.into_iter();
    let src = checked_string(lua, args.next().unwrap_or(Value::Nil), 1, "gsub")?;
    let pat = checked_string(lua, args.next().unwrap_or(Value::Nil), 2, "gsub")?;
    let repl = args.next().unwrap_or(Value::Nil);
    if !matches!(
        repl,
        Value::Number(_)
            | Value::Integer(_)
            | Value::String(_)
            | Value::Function(_)
            | Value::Table(_)
    ) {
        return Err(mlua::Error::runtime(format!(
            "bad argument #3 to 'gsub' (string/function/table expected, got {})",
            repl.type_name()
        )));
    }
    let max = optional_integer(lua, args.next(), src.len() as i64 + 1)?;
    let pat_c = pat.split(|b| *b == 0).next().unwrap_or(&[]);
    let (anchor, pattern) = match pat_c.first() {
        Some(b'^') => (true, &pat_c[1..]),
        _ => (false, pat_c),
    };
    let repl_text = match &repl {
        Value::Function(_) | Value::Table(_) => None,
        other => Some(checked_string(lua, other.clone(), 3, "gsub")?),
    };
    let mut out: Vec<u8> = Vec::new();
    let mut m = Matcher::new(&src, pattern, budget);
    let mut s = 0usize;
    let mut n = 0i64;
    while n < max {
        m.level = 0;
        let e = m.do_match(s, 0)?;
        if let Some(e) = e {
            n += 1;
            add_value(
                lua,
                budget,
                &mut m,
                &mut out,
                s,
                e,
                &repl,
                repl_text.as_deref(),
            )?;
        }
        match e {
            Some(e) if e > s => s = e,
            _ if s < src.len() => {
                out.push(src[s]);
                s += 1;
            }
            _ => break,
        }
        if anchor {
            break;
        }
    }
    m.finish()?;
    out.extend_from_slice(&src[s.min(src.len())..]);
    let mut result = MultiValue::new();
    result.push_back(Value::String(lua.create_string(&out)?));
    result.push_back(Value::Number(n as f64));
    Ok(result)
}

#[allow(clippy::too_many_arguments)]
fn add_value(
    lua: &Lua,
    budget: &Budget,
    m: &mut Matcher<'_>,
    out: &mut Vec<u8>,
    s: usize,
    e: usize,
    repl: &Value,
    repl_text: Option<&[u8]>,
) -> mlua::Result<()> {
    if let Some(text) = repl_text {
        let mut i = 0;
        while i < text.len() {
            let c = text[i];
            if c != b'%' {
                out.push(c);
            } else {
                i += 1;
                let d = text.get(i).copied().unwrap_or(0);
                if !d.is_ascii_digit() {
                    out.push(d);
                } else if d == b'0' {
                    out.extend_from_slice(&m.src[s..e]);
                } else {
                    let value = m.capture(lua, (d - b'1') as usize, s, e)?;
                    append_value(lua, out, value)?;
                }
            }
            i += 1;
        }
        return Ok(());
    }
    let value = match repl {
        Value::Function(f) => {
            let captures = m.captures(lua, Some(s), e)?;
            m.finish()?;
            if budget.nesting.fetch_add(1, Ordering::Relaxed) >= budget.max_nesting {
                budget.nesting.fetch_sub(1, Ordering::Relaxed);
                budget.stop(budget.depth_reason);
                return Err(mlua::Error::runtime(
                    "stack overflow (gsub callbacks nested too deep)",
                ));
            }
            let result = f.call::<Value>(captures);
            budget.nesting.fetch_sub(1, Ordering::Relaxed);
            result?
        }
        Value::Table(t) => {
            let key = m.capture(lua, 0, s, e)?;
            t.get::<Value>(key)?
        }
        _ => Value::Nil,
    };
    match value {
        Value::Nil | Value::Boolean(false) => out.extend_from_slice(&m.src[s..e]),
        Value::String(_) | Value::Number(_) | Value::Integer(_) => append_value(lua, out, value)?,
        other => {
            return Err(mlua::Error::runtime(format!(
                "invalid replacement value (a {})",
                other.type_name()
            )));
        }
    }
    Ok(())
}

fn append_value(lua: &Lua, out: &mut Vec<u8>, value: Value) -> mlua::Result<()> {
    if let Some(s) = lua.coerce_string(value)? {
        out.extend_from_slice(&s.as_bytes());
    }
    Ok(())
}

/// Replaces `string.find`, `string.match`, `string.gmatch` (and its Lua 5.0 name `gfind`) and
/// `string.gsub` with the budgeted matcher.
pub(crate) fn install(lua: &Lua, string: &mlua::Table, budget: &Budget) -> mlua::Result<()> {
    let b = budget.clone();
    string.raw_set(
        "find",
        lua.create_function(move |lua, args: MultiValue| find_or_match(lua, &b, args, true))?,
    )?;
    let b = budget.clone();
    string.raw_set(
        "match",
        lua.create_function(move |lua, args: MultiValue| find_or_match(lua, &b, args, false))?,
    )?;
    let b = budget.clone();
    let gmatch_fn = lua.create_function(move |lua, args: MultiValue| gmatch(lua, &b, args))?;
    string.raw_set("gmatch", gmatch_fn.clone())?;
    string.raw_set("gfind", gmatch_fn)?;
    let b = budget.clone();
    string.raw_set(
        "gsub",
        lua.create_function(move |lua, args: MultiValue| gsub(lua, &b, args))?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lua::{LuaHealthError, LuaHealthScript, LuaLimits};
    use mlua::{LuaOptions, StdLib};
    use serde_json::json;
    use std::time::Duration;

    /// Runs `expression` (which returns a string) in plain Lua 5.1 (its C matcher) and in the
    /// sandbox (this matcher); both must give the same text.
    fn same_as_lua(expression: &str) {
        let plain = Lua::new_with(StdLib::STRING | StdLib::TABLE, LuaOptions::new()).expect("lua");
        let wrapped = format!(
            "local function show(...) local out = {{}} for i = 1, select('#', ...) do out[#out + 1] = tostring((select(i, ...))) end return table.concat(out, '|') end \
             local ok, result = pcall(function() return show({expression}) end) \
             return (ok and 'ok ' or 'error ') .. tostring(result)"
        );
        let expected: String = plain.load(&wrapped).eval().expect("plain lua runs");
        let script = LuaHealthScript::new(&format!(
            "{} return {{status = 'Healthy', message = result_text}}",
            wrapped.replacen("return (ok", "result_text = (ok", 1)
        ))
        .expect("compiles");
        let ours = script
            .evaluate(&json!({}))
            .expect("runs")
            .expect("health")
            .message;
        // Error texts differ in their position prefix; compare what follows it.
        let normalize = |s: &str| match s.strip_prefix("error ") {
            Some(e) => format!("error {}", e.rsplit(": ").next().unwrap_or(e)),
            None => s.to_string(),
        };
        assert_eq!(normalize(&ours), normalize(&expected), "{expression}");
    }

    #[test]
    fn matches_lua_51() {
        for expression in [
            "string.find('hello world', 'o w')",
            "string.find('hello world', 'o', 6)",
            "string.find('hello world', 'l+')",
            "string.find('hello', '')",
            "string.find('hello', '', 10)",
            "string.find('hello', 'l', -2)",
            "string.find('a.b', '.', 1, true)",
            "string.find('key=value', '(%w+)=(%w+)')",
            "string.find('  x', '^%s*()')",
            "string.match('2023-11-15T14:33:34Z', '(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)Z')",
            "string.match('2/3 ready', '(%d+)/(%d+)')",
            "string.match('Policy', 'Policy$')",
            "string.match('MyPolicyX', 'Policy$')",
            "string.match('[[x]]', '%[(%b[])%]')",
            "string.match('THE (quick) fox', '%f[%a]%a+')",
            "string.match('hello', '(h)(e)(l)(l)(o)')",
            "string.match('abcabc', '(abc)%1')",
            "string.match('a,b,,c', '[^,]*')",
            "string.match('x-y', '[%w-]+')",
            "string.match('x]y', '[]x]+')",
            "string.match('aaa', 'a-b')",
            "string.match('aaab', 'a-b')",
            "string.match('ab', 'a?b')",
            "string.match('b', 'a?b')",
            "string.match('hello', '()ll()')",
            "string.match('ERROR, bad', '^ERROR')",
            "string.gsub('ERROR, secret missing', 'ERROR, ', '')",
            "string.gsub('hello world', '(%w+)', '<%1>')",
            "string.gsub('hello world', '%w+', '%0 %0', 1)",
            "string.gsub('abc', '', '-')",
            "string.gsub('hello', 'l', {l = 'L'})",
            "string.gsub('hello', '(l)', function(c) return c:upper() end)",
            "string.gsub('hello', 'x*', '-')",
            "string.gsub('abc', '^a', 'A')",
            "string.gsub('a b', '%s', '%%')",
            "string.gsub('$100', '%$(%d+)', '%1 dollars')",
            "string.gsub('abc', '.', {a = 1, b = true})",
            "(function() local t = {} for k, v in string.gmatch('a=1, b=2', '(%w+)=(%w+)') do t[#t+1] = k .. v end return table.concat(t, ';') end)()",
            "(function() local t = {} for w in string.gmatch('one two  three', '%a+') do t[#t+1] = w end return table.concat(t, ',') end)()",
            "(function() local n = 0 for w in string.gmatch('abc', '') do n = n + 1 end return n end)()",
            "('x'):find('x')",
            "string.find(12345, 34)",
            "string.match('a', '%')",
            "string.match('a', '[a')",
            "string.match('a', '(a')",
            "string.match('a', 'a)')",
            "string.match('a', '%1')",
            "string.gsub('a', 'a', '%2')",
            "string.gsub('a', 'a', {a = {}})",
            "string.find('a', '%bx')",
        ] {
            same_as_lua(expression);
        }
    }

    #[test]
    fn backtracking_patterns_stop_at_the_budget() {
        let limits = LuaLimits {
            timeout: Duration::from_secs(1),
            ..LuaLimits::default()
        };
        let script = LuaHealthScript::with_limits(
            "return {status = 'Healthy', message = tostring(string.find(string.rep('a', 400), '.-.-.-.-b'))}",
            limits,
        )
        .expect("compiles");
        let started = Instant::now();
        let err = script.evaluate(&json!({})).expect_err("stopped");
        assert!(
            matches!(
                err,
                LuaHealthError::InstructionLimit { .. } | LuaHealthError::Timeout { .. }
            ),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        let deep = LuaHealthScript::new(&format!(
            "return {{status = 'Healthy', message = tostring(string.match(string.rep('a', 300), '{}'))}}",
            "a?".repeat(300)
        ))
        .expect("compiles");
        assert!(matches!(
            deep.evaluate(&json!({})),
            Err(LuaHealthError::StackOverflow { .. })
        ));
    }
}
