//! jq path expressions for ignoreDifferences, run with the `jaq` interpreter.
//!
//! An expression `X` is compiled as `del(X)`, as ArgoCD does. Loading an expression
//! ([`JqDelete::new`]) rejects, as a configuration error worded on one line:
//! - a syntax error (where, and what was expected), or an undefined function or variable;
//! - an expression that is valid jq but not a path expression (`.spec | length`, `1+1`), which
//!   ArgoCD (gojq) would only report when applying it, as `invalid path against: ...`;
//! - an expression that exceeds a limit of [`JqLimits`] whatever the document (it is tried once
//!   on `{}`): endless recursion (`def f: f; f`, `until(false; .)`) or endless iteration.
//!
//! Evaluation cannot overflow the stack or run forever: it runs on a stack of its own of a
//! known size ([`JqLimits::stack_bytes`]), and every step of recursion or iteration (calls of
//! functions the expression defines, `range`, `repeat`, `recurse`, `while`, `until`) is counted
//! against a step budget, a time budget (ArgoCD's one second by default) and the stack left.
//! Compiled filters are cached per thread, at most [`FILTER_CACHE_CAPACITY`] of them (the least
//! recently used is dropped first), so a long-running controller that meets ever new expressions
//! keeps a bounded cache; a dropped filter is compiled again when next used.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use jaq_core::box_iter::box_once;
use jaq_core::load::parse::{BinaryOp, Term};
use jaq_core::load::{self, Arena, File, Loader, lex};
use jaq_core::native::{Fun, v};
use jaq_core::{Ctx, Error, Exn, Native, Vars, data, unwrap_valr};
use jaq_json::Val;
use serde_json::Value;

use crate::error::DriftError;

/// Why a jq path expression could not be compiled or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JqError {
    /// The program does not parse, or names a function or variable that does not exist.
    #[error("{0}")]
    Compile(String),
    /// The program is valid jq but does not select paths, so it cannot delete anything
    /// (gojq's wording, which ArgoCD reports when it applies such an expression).
    #[error("invalid path against: {term} computes a value, not a path")]
    NotAPath {
        /// The part of the program that computes a value (a function name, an operator, ...).
        term: String,
    },
    /// The document could not be handed to jq.
    #[error("the document could not be read by jq: {0}")]
    Input(String),
    /// The program failed while running (jaq's error, or gojq's wording of a path error).
    #[error("{0}")]
    Runtime(String),
    /// The program reached one of its [`JqLimits`].
    #[error(transparent)]
    Limit(#[from] JqLimitExceeded),
    /// The program produced no document.
    #[error("did not return any data")]
    NoOutput,
    /// The program produced more than one document.
    #[error("returned multiple objects")]
    MultipleOutputs,
    /// The document could not be converted between JSON and jq values.
    #[error("the document could not be converted: {0}")]
    Json(#[from] serde_json::Error),
}

/// A limit of [`JqLimits`] that an evaluation reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JqLimitExceeded {
    /// The evaluation ran longer than the time budget (ArgoCD's message).
    #[error("JQ patch execution timed out ({0:?})")]
    Timeout(Duration),
    /// The evaluation took more steps of recursion or iteration than the budget.
    #[error("jq evaluation exceeded the budget of {0} steps of recursion or iteration")]
    Steps(u64),
    /// The evaluation recursed deeper than its stack allows.
    #[error("jq evaluation recursed too deeply (stack of {0} bytes)")]
    Recursion(usize),
}

/// What one evaluation of a jq path expression may consume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct JqLimits {
    /// Wall-clock time (ArgoCD's `ignore.normalizer.jq.timeout`, one second by default).
    pub timeout: Duration,
    /// Steps of recursion or iteration.
    pub max_steps: u64,
    /// Size of the stack the evaluation runs on; recursion stops with an error before it is
    /// used up.
    pub stack_bytes: usize,
}

impl Default for JqLimits {
    /// One second, 1,000,000 steps and a 64 MiB stack.
    fn default() -> Self {
        JqLimits {
            timeout: Duration::from_secs(1),
            max_steps: 1_000_000,
            stack_bytes: 64 << 20,
        }
    }
}

impl JqLimits {
    /// These limits with a time budget of `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// These limits with a budget of `steps` steps.
    pub fn with_max_steps(mut self, steps: u64) -> Self {
        self.max_steps = steps;
        self
    }

    /// These limits with a stack of `bytes` bytes.
    pub fn with_stack_bytes(mut self, bytes: usize) -> Self {
        self.stack_bytes = bytes;
        self
    }
}

/// Stack left when recursion stops with [`JqLimitExceeded::Recursion`].
const RED_ZONE: usize = 256 * 1024;

/// The budget of the evaluation running on this thread.
struct Meter {
    steps: Cell<u64>,
    max_steps: u64,
    deadline: Instant,
    timeout: Duration,
    stack_bytes: usize,
    tripped: Cell<Option<JqLimitExceeded>>,
}

/// How many compiled filters each thread keeps.
pub const FILTER_CACHE_CAPACITY: usize = 256;

/// Compiled filters by program, dropping the least recently used past
/// [`FILTER_CACHE_CAPACITY`].
#[derive(Default)]
struct FilterCache {
    /// Each program's filter and the tick it was last used at.
    filters: HashMap<String, (Rc<Filter>, u64)>,
    tick: u64,
}

impl FilterCache {
    fn get(&mut self, program: &str) -> Option<Rc<Filter>> {
        self.tick += 1;
        let tick = self.tick;
        self.filters.get_mut(program).map(|(filter, used)| {
            *used = tick;
            filter.clone()
        })
    }

    fn insert(&mut self, program: String, filter: Rc<Filter>) {
        self.tick += 1;
        if !self.filters.contains_key(&program) && self.filters.len() >= FILTER_CACHE_CAPACITY {
            let oldest = self
                .filters
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(program, _)| program.clone());
            if let Some(oldest) = oldest {
                self.filters.remove(&oldest);
            }
        }
        self.filters.insert(program, (filter, self.tick));
    }
}

/// How many compiled filters this thread's cache holds.
#[cfg(test)]
fn cached_filters() -> usize {
    CACHE.with(|c| c.borrow().filters.len())
}

thread_local! {
    static CACHE: RefCell<FilterCache> = RefCell::new(FilterCache::default());
    static METER: RefCell<Option<Rc<Meter>>> = const { RefCell::new(None) };
}

/// Counts one step of the running evaluation; an error once a limit is reached.
fn step() -> Result<(), JqLimitExceeded> {
    let Some(meter) = METER.with(|m| m.borrow().clone()) else {
        return Ok(());
    };
    if let Some(tripped) = meter.tripped.take() {
        meter.tripped.set(Some(tripped.clone()));
        return Err(tripped);
    }
    let n = meter.steps.get() + 1;
    meter.steps.set(n);
    let exceeded = if n > meter.max_steps {
        Some(JqLimitExceeded::Steps(meter.max_steps))
    } else if stacker::remaining_stack().is_some_and(|left| left < RED_ZONE) {
        Some(JqLimitExceeded::Recursion(meter.stack_bytes))
    } else if n.is_multiple_of(256) && Instant::now() > meter.deadline {
        Some(JqLimitExceeded::Timeout(meter.timeout))
    } else {
        None
    };
    match exceeded {
        Some(e) => {
            meter.tripped.set(Some(e.clone()));
            Err(e)
        }
        None => Ok(()),
    }
}

type D = data::JustLut<Val>;

fn step_exn<'a>(e: JqLimitExceeded) -> Exn<'a, Val> {
    Exn::from(Error::str(e.to_string()))
}

/// `__strata_step`: the identity, in every mode (value, path, update), that counts a step.
fn step_native() -> Fun<D> {
    let native = Native::<D>::new(|cv| match step() {
        Ok(()) => box_once(Ok(cv.1)),
        Err(e) => box_once(Err(step_exn(e))),
    })
    .with_paths(|cv| match step() {
        Ok(()) => box_once(Ok(cv.1)),
        Err(e) => box_once(Err(step_exn(e))),
    })
    .with_update(|cv, f| match step() {
        Ok(()) => f(cv.1),
        Err(e) => box_once(Err(step_exn(e))),
    });
    ("__strata_step", v(0), native)
}

/// The generators and recursive functions of jaq's library, redefined to count their steps.
const PRELUDE: &str = r#"
def __strata_range($from; $upto; $by): range($from; $upto; $by);
def range($from; $upto; $by): __strata_range($from; $upto; $by) | __strata_step;
def range($from; $upto): range($from; $upto; 1);
def range($upto): range(0; $upto);
def repeat(f): def rec: __strata_step | (f, rec); rec;
def recurse(f): def rec: __strata_step | (., (f | rec)); rec;
def recurse: recurse(.[]?);
def recurse(f; cond): recurse(f | select(cond));
def while(cond; update): def rec: __strata_step | if cond then ., (update | rec) else empty end; rec;
def until(cond; update): def rec: __strata_step | if cond then . else update | rec end; rec;
"#;

type Filter = jaq_core::compile::Filter<Native<D>>;

/// The byte offsets just after the `:` of every `def NAME...:` in `tokens`, nested or not.
fn def_bodies(code: &str, tokens: &[lex::Token<&str>], out: &mut Vec<usize>) {
    let mut in_def = false;
    for lex::Token(text, tok) in tokens {
        match tok {
            lex::Tok::Word if *text == "def" => in_def = true,
            lex::Tok::Sym if in_def && *text == ":" => {
                out.push(load::span(code, text).end);
                in_def = false;
            }
            lex::Tok::Block(inner) => def_bodies(code, inner, out),
            lex::Tok::Str(parts) => {
                for part in parts {
                    if let lex::StrPart::Term(t) = part {
                        def_bodies(code, std::slice::from_ref(t), out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// `code` with a step counted at the start of every function it defines (whose recursion
/// would otherwise be unbounded).
fn with_counted_defs(code: &str) -> String {
    let Ok(tokens) = lex::Lexer::new(code).lex() else {
        return code.to_string();
    };
    let mut at = Vec::new();
    def_bodies(code, &tokens, &mut at);
    let mut out = code.to_string();
    at.sort_unstable();
    for pos in at.into_iter().rev() {
        out.insert_str(pos, " __strata_step |");
    }
    out
}

/// Where `part` (a slice of `code`) starts in the expression the user wrote (`code` minus the
/// `del(` around it), 1-based, and what it starts with.
fn at(code: &str, part: &str) -> String {
    let start = load::span(code, part).start;
    let column = start.saturating_sub(WRAP_PREFIX.len()) + 1;
    let found: String = part.chars().take(12).collect();
    if found.is_empty() || start >= code.len() - WRAP_SUFFIX.len() {
        format!("at column {column}, found end of expression")
    } else {
        format!("at column {column}, found {found:?}")
    }
}

fn lex_expect(e: &lex::Expect<&str>) -> String {
    match e {
        lex::Expect::Delim(open) => format!("a delimiter closing {open:?}"),
        lex::Expect::Digit => "a digit".into(),
        lex::Expect::Ident => "an identifier".into(),
        lex::Expect::Escape => "a string escape sequence".into(),
        lex::Expect::Unicode => "a 4-digit hexadecimal code point".into(),
        lex::Expect::Token => "a token".into(),
        _ => "a token".into(),
    }
}

/// One line describing the first load error.
fn load_error(code: &str, errs: load::Errors<&str, ()>) -> String {
    let Some((_, err)) = errs.into_iter().next() else {
        return "the expression could not be loaded".into();
    };
    match err {
        load::Error::Lex(es) => match es.first() {
            Some((expect, part)) => {
                format!(
                    "syntax error: expected {} {}",
                    lex_expect(expect),
                    at(code, part)
                )
            }
            None => "syntax error".into(),
        },
        load::Error::Parse(es) => match es.first() {
            Some((expect, token)) => {
                let part: &str = token;
                format!(
                    "syntax error: expected {} {}",
                    expect.as_str(),
                    at(code, part)
                )
            }
            None => "syntax error".into(),
        },
        load::Error::Io(es) => match es.first() {
            Some((path, why)) => format!("cannot load module {path:?}: {why}"),
            None => "cannot load a module".into(),
        },
    }
}

const WRAP_PREFIX: &str = "del(";
const WRAP_SUFFIX: &str = ")";

fn compile(code: &str) -> Result<Filter, JqError> {
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs())
        .chain(load::parse(PRELUDE, |p| p.defs()).unwrap_or_default());
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .chain([step_native()]);
    let loader = Loader::new(defs);
    let arena = Arena::default();
    let modules = loader
        .load(&arena, File { code, path: () })
        .map_err(|errs| JqError::Compile(load_error(code, errs)))?;
    jaq_core::Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errs| {
            let first = errs
                .into_iter()
                .flat_map(|(_, es)| es)
                .next()
                .map(|(name, undefined)| match undefined {
                    jaq_core::compile::Undefined::Filter(arity) => {
                        format!("undefined filter: {name}/{arity}")
                    }
                    other => format!("undefined {}: {name}", other.as_str()),
                });
            JqError::Compile(first.unwrap_or_else(|| "the expression does not compile".into()))
        })
}

/// Compiles `code`, counting a step at the start of every function it defines.
fn compile_counted(code: &str) -> Result<Filter, JqError> {
    let counted = with_counted_defs(code);
    if counted == code {
        return compile(code);
    }
    // Report errors against the text as written.
    compile(code)?;
    compile(&counted)
}

/// gojq's `typeof`.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// gojq's preview of a value in an error: its JSON, cut to 30 bytes.
fn preview(v: &Value) -> String {
    let text = v.to_string();
    if text.len() <= 30 {
        return text;
    }
    let trailing = match v {
        Value::String(_) => " ...\"",
        Value::Array(_) => " ...]",
        Value::Object(_) => " ...}",
        _ => " ...",
    };
    let mut cut = 30 - trailing.len();
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{trailing}", &text[..cut])
}

/// A run-time error as one line; jaq's path error in gojq's words.
fn runtime_error(message: String) -> JqError {
    const JAQ_PATH_ERROR: &str = "invalid path expression with input ";
    if let Some(rest) = message.strip_prefix(JAQ_PATH_ERROR)
        && let Ok(v) = serde_json::from_str::<Value>(rest)
    {
        return JqError::Runtime(format!(
            "invalid path against: {} ({})",
            type_name(&v),
            preview(&v)
        ));
    }
    JqError::Runtime(message)
}

/// Functions of jaq's library that select paths, and the arguments (by index) that must
/// themselves select paths.
fn path_function(name: &str, arity: usize) -> Option<&'static [usize]> {
    Some(match (name, arity) {
        ("empty" | "error" | "debug" | "stderr", 0)
        | ("error" | "debug", 1)
        | ("select", 1)
        | ("getpath", 1)
        | ("recurse", 0)
        | (
            "values" | "nulls" | "booleans" | "numbers" | "strings" | "arrays" | "objects"
            | "iterables" | "scalars" | "finites" | "normals" | "first" | "last",
            0,
        ) => &[],
        ("recurse" | "first" | "last" | "repeat", 1) | ("recurse", 2) => &[0],
        ("limit" | "until" | "while" | "skip", 2) => &[1],
        _ => return None,
    })
}

/// The first part of `t` that computes a value where a path is needed, described as written
/// (a function name, an operator, a literal); `None` when `t` selects paths. Functions that
/// the expression defines itself are assumed to select paths (evaluation checks them).
fn not_a_path(t: &Term<&str>, defined: &mut Vec<(String, usize)>) -> Option<String> {
    use jaq_core::ops::{Cmp, Math};
    let both = |l: &Term<&str>, r: &Term<&str>, defined: &mut Vec<(String, usize)>| {
        not_a_path(l, defined).or_else(|| not_a_path(r, defined))
    };
    match t {
        Term::Id | Term::Recurse | Term::Break(_) => None,
        Term::Num(n) => Some((*n).to_string()),
        Term::Str(..) => Some("a string".into()),
        Term::Arr(_) => Some("an array construction [...]".into()),
        Term::Obj(_) => Some("an object construction {...}".into()),
        Term::Neg(_) => Some("a negation".into()),
        Term::Var(v) => Some((*v).to_string()),
        Term::BinOp(l, op, r) => match op {
            BinaryOp::Pipe(None) | BinaryOp::Comma | BinaryOp::Alt => both(l, r, defined),
            BinaryOp::Pipe(Some(_)) => not_a_path(r, defined),
            BinaryOp::Or => Some("or".into()),
            BinaryOp::And => Some("and".into()),
            BinaryOp::Math(m) => Some(
                match m {
                    Math::Add => "+",
                    Math::Sub => "-",
                    Math::Mul => "*",
                    Math::Div => "/",
                    Math::Rem => "%",
                }
                .into(),
            ),
            BinaryOp::Cmp(c) => Some(
                match c {
                    Cmp::Lt => "<",
                    Cmp::Le => "<=",
                    Cmp::Gt => ">",
                    Cmp::Ge => ">=",
                    Cmp::Eq => "==",
                    Cmp::Ne => "!=",
                }
                .into(),
            ),
            BinaryOp::Assign => Some("=".into()),
            BinaryOp::Update => Some("|=".into()),
            BinaryOp::UpdateMath(_) => Some("an update-assignment (+= ...)".into()),
            BinaryOp::UpdateAlt => Some("//=".into()),
        },
        Term::Label(_, t) => not_a_path(t, defined),
        Term::Fold(_, _, _, terms) => terms.iter().find_map(|t| not_a_path(t, defined)),
        Term::TryCatch(t, catch) => {
            not_a_path(t, defined).or_else(|| catch.as_ref().and_then(|c| not_a_path(c, defined)))
        }
        Term::IfThenElse(branches, otherwise) => branches
            .iter()
            .find_map(|(_, then)| not_a_path(then, defined))
            .or_else(|| otherwise.as_ref().and_then(|e| not_a_path(e, defined))),
        Term::Def(defs, body) => {
            let mark = defined.len();
            defined.extend(defs.iter().map(|d| (d.name.to_string(), d.args.len())));
            let r = not_a_path(body, defined);
            defined.truncate(mark);
            r
        }
        Term::Call(name, args) => {
            if defined.iter().any(|(n, a)| n == name && *a == args.len()) {
                return None;
            }
            match path_function(name, args.len()) {
                Some(path_args) => path_args
                    .iter()
                    .filter_map(|&i| args.get(i))
                    .find_map(|a| not_a_path(a, defined)),
                None => Some((*name).to_string()),
            }
        }
        Term::Path(t, _) => not_a_path(t, defined),
    }
}

/// A validated jq path expression whose deletion can be applied to documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JqDelete {
    expression: String,
    program: String,
    limits: JqLimits,
}

impl JqDelete {
    /// Compiles `del(expression)` within the default [`JqLimits`]; see
    /// [`JqDelete::with_limits`].
    pub fn new(expression: &str) -> Result<Self, DriftError> {
        Self::with_limits(expression, JqLimits::default())
    }

    /// Compiles `del(expression)`, evaluated within `limits`. A syntax error, an undefined
    /// name, an expression that does not select paths, or one that reaches a limit even on an
    /// empty object is a configuration error.
    pub fn with_limits(expression: &str, limits: JqLimits) -> Result<Self, DriftError> {
        let invalid = |source| DriftError::InvalidJq {
            expression: expression.to_string(),
            source,
        };
        let program = format!("{WRAP_PREFIX}{expression}{WRAP_SUFFIX}");
        let filter = compile_counted(&program).map_err(invalid)?;
        if let Some(Term::Call(name, args)) = load::parse(&program, |p| p.term())
            && name == "del"
            && let [target] = args.as_slice()
            && let Some(term) = not_a_path(target, &mut Vec::new())
        {
            return Err(invalid(JqError::NotAPath { term }));
        }
        CACHE.with(|c| c.borrow_mut().insert(program.clone(), Rc::new(filter)));
        let jq = Self {
            expression: expression.to_string(),
            program,
            limits,
        };
        // An expression that runs away on any document is a configuration error.
        if let Err(JqError::Limit(limit)) = jq.apply(&Value::Object(serde_json::Map::new())) {
            return Err(invalid(JqError::Limit(limit)));
        }
        Ok(jq)
    }

    /// The expression as configured.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The limits its evaluation runs within.
    pub fn limits(&self) -> JqLimits {
        self.limits
    }

    /// Runs the deletion on a stack of its own; it must yield exactly one document.
    pub fn apply(&self, doc: &Value) -> Result<Value, JqError> {
        stacker::grow(self.limits.stack_bytes, || self.apply_here(doc))
    }

    fn apply_here(&self, doc: &Value) -> Result<Value, JqError> {
        let filter = CACHE.with(|c| c.borrow_mut().get(&self.program));
        let filter = match filter {
            Some(f) => f,
            None => {
                let f = Rc::new(compile_counted(&self.program)?);
                CACHE.with(|c| c.borrow_mut().insert(self.program.clone(), f.clone()));
                f
            }
        };
        let text = serde_json::to_string(doc)?;
        let input = jaq_json::read::parse_single(text.as_bytes())
            .map_err(|e| JqError::Input(e.to_string()))?;
        let meter = Rc::new(Meter {
            steps: Cell::new(0),
            max_steps: self.limits.max_steps,
            deadline: Instant::now() + self.limits.timeout,
            timeout: self.limits.timeout,
            stack_bytes: self.limits.stack_bytes,
            tripped: Cell::new(None),
        });
        let previous = METER.with(|m| m.replace(Some(meter.clone())));
        let result = run(&filter, input);
        METER.with(|m| *m.borrow_mut() = previous);
        if let Some(limit) = meter.tripped.take() {
            return Err(JqError::Limit(limit));
        }
        result
    }
}

/// Runs `filter` on `input`: exactly one output.
fn run(filter: &Filter, input: Val) -> Result<Value, JqError> {
    let ctx = Ctx::<D>::new(&filter.lut, Vars::new([]));
    let mut outputs = filter.id.run((ctx, input)).map(unwrap_valr);
    let first = match outputs.next() {
        None => return Err(JqError::NoOutput),
        Some(Err(e)) => return Err(runtime_error(e.to_string())),
        Some(Ok(v)) => v,
    };
    if outputs.next().is_some() {
        return Err(JqError::MultipleOutputs);
    }
    Ok(serde_json::from_str(&first.to_string())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_filter_cache_stays_bounded_and_results_stay_right() {
        let doc = json!({"spec": {"a": 1, "b": 2}, "status": {"x": 3}});
        let first = JqDelete::new(".spec.a").expect("valid");
        assert_eq!(
            first.apply(&doc).expect("runs"),
            json!({"spec": {"b": 2}, "status": {"x": 3}})
        );
        // More distinct programs than the cache holds, each applied once.
        for i in 0..FILTER_CACHE_CAPACITY + 50 {
            let jq = JqDelete::new(&format!(".spec.f{i}")).expect("valid");
            let mut with_field = doc.clone();
            with_field["spec"][format!("f{i}")] = json!(i);
            assert_eq!(jq.apply(&with_field).expect("runs"), doc);
            assert!(
                cached_filters() <= FILTER_CACHE_CAPACITY,
                "{}",
                cached_filters()
            );
        }
        assert_eq!(cached_filters(), FILTER_CACHE_CAPACITY);
        // The first filter was dropped long ago: it is compiled again and still right.
        assert_eq!(
            first.apply(&doc).expect("runs"),
            json!({"spec": {"b": 2}, "status": {"x": 3}})
        );
        assert!(cached_filters() <= FILTER_CACHE_CAPACITY);
    }

    #[test]
    fn the_filter_cache_drops_the_least_recently_used() {
        let filter = |program: &str| Rc::new(compile_counted(program).expect("compiles"));
        let mut cache = FilterCache::default();
        for i in 0..FILTER_CACHE_CAPACITY {
            cache.insert(format!(".a{i}"), filter("."));
        }
        // `.a0` is used again, so `.a1` is now the least recently used.
        assert!(cache.get(".a0").is_some());
        cache.insert(".new".to_string(), filter("."));
        assert_eq!(cache.filters.len(), FILTER_CACHE_CAPACITY);
        assert!(cache.get(".a0").is_some());
        assert!(cache.get(".a1").is_none());
        assert!(cache.get(".new").is_some());
    }

    #[test]
    fn deletes_selected_fields() {
        let jq =
            JqDelete::new(".spec.template.spec.containers[] | select(.name == \"a\") | .image")
                .expect("valid");
        let doc = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}}});
        let out = jq.apply(&doc).expect("runs");
        assert_eq!(
            out,
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "a"}, {"name": "b", "image": "y"}]}}}})
        );
    }

    fn rejected(expression: &str) -> String {
        match JqDelete::new(expression) {
            Ok(_) => panic!("{expression:?} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    fn limit_of(expression: &str, limits: JqLimits) -> JqLimitExceeded {
        match JqDelete::with_limits(expression, limits) {
            Err(DriftError::InvalidJq {
                source: JqError::Limit(l),
                ..
            }) => l,
            other => panic!("{expression:?}: {other:?}"),
        }
    }

    #[test]
    fn rejects_bad_syntax_on_one_line() {
        assert_eq!(
            rejected(".spec | select(.name == \"missing-quote)"),
            "invalid jq path expression \".spec | select(.name == \\\"missing-quote)\": \
             syntax error: expected a delimiter closing \"\\\"\" at column 41, found end of expression"
        );
        assert_eq!(
            rejected(".spec |"),
            "invalid jq path expression \".spec |\": syntax error: expected term at column 8, \
             found end of expression"
        );
        assert_eq!(
            rejected(".spec | nosuchfunction(1)"),
            "invalid jq path expression \".spec | nosuchfunction(1)\": undefined filter: \
             nosuchfunction/1"
        );
    }

    #[test]
    fn rejects_expressions_that_are_not_paths() {
        for (expression, term) in [
            (".spec | length", "length"),
            ("1+1", "+"),
            (".a == 1", "=="),
            ("[.a]", "an array construction [...]"),
            (".spec | (.a, 1)", "1"),
            (".a as $x | $x", "$x"),
        ] {
            assert_eq!(
                rejected(expression),
                format!(
                    "invalid jq path expression {expression:?}: invalid path against: {term} \
                     computes a value, not a path"
                )
            );
        }
        // Path expressions, including ones that compute inside conditions and indexes.
        for expression in [
            ".metadata.annotations[\"x\"]",
            ".spec.containers[] | select(.name == \"a\") | .image",
            ".. | select(type == \"object\") | .generation?",
            "if .a then .b else .c end",
            ".items[.n + 1]",
            "recurse(.[]?; . != null) | objects | .x",
            "first(.a[]), last(.b[])",
            "def g: .x; .spec | g",
            ".spec.a // .spec.b",
        ] {
            JqDelete::new(expression).unwrap_or_else(|e| panic!("{expression}: {e}"));
        }
    }

    #[test]
    fn a_path_error_at_run_time_is_worded_as_gojq() {
        let jq = JqDelete::new("def f: 1; f").expect("loads");
        let err = jq.apply(&json!({"a": 1})).expect_err("not a path");
        // gojq shows the value computed; jaq knows the value the term was applied to.
        assert_eq!(err.to_string(), "invalid path against: object ({\"a\":1})");
        assert_eq!(
            preview(&json!("0123456789012345678901234567890123456789")),
            "\"012345678901234567890123 ...\""
        );
    }

    #[test]
    fn endless_recursion_is_refused_at_load_time() {
        for expression in [
            ".spec | until(false; .)",
            "def f: f; f",
            "def f: (def g: f; g); f",
            ".a | select(until(false; .))",
            ".a | select(last(repeat(1)))",
        ] {
            // Whichever limit comes first (recursion, steps or time), the expression is named.
            let err = JqDelete::new(expression).expect_err("runs away");
            assert!(
                matches!(
                    &err,
                    DriftError::InvalidJq {
                        source: JqError::Limit(_),
                        ..
                    }
                ),
                "{err}"
            );
            let message = err.to_string();
            assert!(
                message.starts_with(&format!("invalid jq path expression {expression:?}: ")),
                "{message}"
            );
        }
        let l = limit_of("def f: f; f", JqLimits::default().with_max_steps(u64::MAX));
        assert_eq!(l, JqLimitExceeded::Recursion(64 << 20));
    }

    #[test]
    fn endless_iteration_stops_at_the_step_and_time_budgets() {
        let endless = ".a | select(last(range(1e18)) > 0)";
        let l = limit_of(endless, JqLimits::default().with_max_steps(10_000));
        assert_eq!(l, JqLimitExceeded::Steps(10_000));
        assert_eq!(
            l.to_string(),
            "jq evaluation exceeded the budget of 10000 steps of recursion or iteration"
        );
        let l = limit_of(endless, JqLimits::default().with_timeout(Duration::ZERO));
        assert_eq!(l, JqLimitExceeded::Timeout(Duration::ZERO));
        assert_eq!(
            JqLimitExceeded::Timeout(Duration::from_secs(1)).to_string(),
            "JQ patch execution timed out (1s)"
        );
    }

    #[test]
    fn a_limit_reached_on_a_document_is_an_error() {
        let jq = JqDelete::with_limits(
            ".items[] | select(last(range(.)) > 5)",
            JqLimits::default().with_max_steps(1_000),
        )
        .expect("loads: no items on {}");
        assert_eq!(
            jq.apply(&json!({"items": [1e9]}))
                .expect_err("too long")
                .to_string(),
            "jq evaluation exceeded the budget of 1000 steps of recursion or iteration"
        );
        // Within the budget it works.
        let out = jq.apply(&json!({"items": [1, 7, 3]})).expect("runs");
        assert_eq!(out, json!({"items": [1, 3]}));
    }
}
