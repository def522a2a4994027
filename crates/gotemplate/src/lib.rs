//! Go's `text/template`, Sprig functions, `fmt` and `encoding/json` over JSON data.
//!
//! This crate mirrors the Go template engine that ArgoCD (ApplicationSet `goTemplate`), Helm and
//! Crossplane's go-templating function run, with the Sprig functions ApplicationSet templates
//! use, and the Go value model Crossplane's patch-and-transform function sees: JSON numbers as
//! `int64`/`float64`, `fmt.Sprintf` printing and `encoding/json` output. Texts that users can
//! observe (rendered values, fmt's `%!verb(...)` markers, error messages) are Go's.
//!
//! Modules and items:
//! - [`value`]: Go's view of decoded JSON — [`value::GoNumber`], type names with integers typed
//!   as Go `int` or `int64` ([`value::IntKind`]), zero values, normalisation of whole floats, and
//!   Go's `encoding/json` encoder ([`value::go_json`], [`value::go_json_with`]).
//! - [`gofmt`]: the one Go `fmt` printer — `Sprintf` verbs, flags, width, precision and `%[n]`
//!   indexes, `Sprint`, `Sprintln` — parameterised by the integer type ([`gofmt::GoFmt`]:
//!   [`GoFmt::TEMPLATE`](gofmt::GoFmt::TEMPLATE) prints `%T` of an integer as `int`,
//!   [`GoFmt::CROSSPLANE`](gofmt::GoFmt::CROSSPLANE) as `int64`).
//! - The template engine: [`Template`] and [`render`], the missing-key policy [`MissingKey`],
//!   the callable functions [`FUNCTION_NAMES`] / [`is_function`], ArgoCD's [`slugify`] and
//!   name normalisation [`sanitize_name`], and Sprig's base64 decoding [`b64_decode`].
//! - Limits: every execution runs within [`Limits`] (Go's 100,000 nested template calls, output,
//!   per-value and total value sizes, steps, time and stack; see [`limits`]); reaching one is a
//!   [`TemplateError`] whose [`limit`](TemplateError::limit) names it
//!   ([`Template::execute_with_limits`], [`TemplateSet::with_limits`]).
//! - Errors: [`TemplateError`] (parse or execution, worded as Go's), [`FuncError`] and
//!   [`CallFailure`] (a failed function call), [`UnknownOption`], [`InvalidBase64`].
//!
//! Supported template syntax: text and actions with `{{-`/`-}}` trim markers and comments; fields
//! (`.a.b`), variables (`$x := ...`, `$x = ...`, `$`), pipelines (`|`), parenthesised pipelines
//! with field access, `if`/`else if`/`else`/`with`/`else with`/`range` (with `$i, $v :=`,
//! `break`, `continue`, `else`), `define`/`template`/`block`; the builtins `and or not len index
//! slice print printf println eq ne lt le gt ge html js urlquery`; and the functions listed in
//! [`FUNCTION_NAMES`] (Sprig's `default lower upper trim trimPrefix trimSuffix replace trunc quote
//! join split toJson ...`, ArgoCD's `normalize slugify toYaml fromYaml`). Calling any other
//! function is a parse error naming it, as in Go.
//!
//! In templates, numbers that JSON stores as integers behave as Go `int`s (so `printf "%d"` works
//! on them and `printf "%T"` prints `int`); other numbers are `float64`s.
//!
//! ```
//! use serde_json::json;
//! use strata_gotemplate::{render, MissingKey};
//!
//! let data = json!({"name": "Web_App", "replicas": 3});
//! let out = render("{{ .name | normalize }}-{{ printf \"%02d\" .replicas }}", &data, MissingKey::Default).unwrap();
//! assert_eq!(out, "web-app-03");
//! ```
//!
//! The same printer with each view of integers:
//!
//! ```
//! use serde_json::json;
//! use strata_gotemplate::gofmt::GoFmt;
//!
//! let args = [json!(5), json!(1.5)];
//! assert_eq!(GoFmt::TEMPLATE.sprintf("%T %v %d", &[json!(5), json!(5), json!(5)]), "int 5 5");
//! assert_eq!(GoFmt::CROSSPLANE.sprintf("%T %T", &args), "int64 float64");
//! assert_eq!(GoFmt::CROSSPLANE.sprintf("%s", &args[..1]), "%!s(int64=5)");
//! ```

mod ast;
pub mod crossplane;
mod data;
mod error;
mod exec;
mod funcs;
pub mod gofmt;
mod gojson;
pub mod goyaml;
/// Go's `path` package for slash-separated paths (`Clean`, `Base`, `Dir`, `Ext`), as Sprig's
/// path functions and ApplicationSet's Git generator use it.
pub mod gopath {
    pub use crate::sprig_more::{base, clean, dir, ext};
}
pub mod helm;
mod lexer;
pub mod limits;
mod names;
mod parser;
mod sprig_more;
pub mod value;
pub mod wildcard;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

pub use error::{
    CallFailure, FuncError, InvalidBase64, Location, SharedCause, TemplateError, UnknownOption,
};
pub use funcs::{FUNCTION_NAMES, is_function, slugify};
pub use limits::{LimitExceeded, Limits};
pub use names::sanitize_name;

/// What a field lookup does when a map has no entry for the key (`missingkey=` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MissingKey {
    /// `missingkey=default` / `invalid`: the value is missing and prints as `<no value>`.
    #[default]
    Default,
    /// `missingkey=zero`: the zero value of the map's element type (a nil interface, which also
    /// prints as `<no value>` for JSON data, as in Go).
    Zero,
    /// `missingkey=error`: execution stops with an error.
    Error,
}

impl MissingKey {
    /// Reads Go template options (`["missingkey=error"]`); unknown options are an error.
    pub fn from_options<S: AsRef<str>>(options: &[S]) -> Result<Self, UnknownOption> {
        let mut mode = MissingKey::Default;
        for opt in options {
            let opt = opt.as_ref();
            mode = match opt {
                "missingkey=default" | "missingkey=invalid" => MissingKey::Default,
                "missingkey=zero" => MissingKey::Zero,
                "missingkey=error" => MissingKey::Error,
                other => {
                    return Err(UnknownOption {
                        option: other.to_string(),
                    });
                }
            };
        }
        Ok(mode)
    }
}

/// Which functions templates may call beyond Go's builtins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FunctionSet {
    /// Sprig's functions as ArgoCD ApplicationSets offer them ([`FUNCTION_NAMES`]).
    #[default]
    Sprig,
    /// Helm's: the Sprig set, more of Sprig, and Helm's own (`include`, `tpl`, `required`,
    /// `fail`, `lookup`, `toToml`, ...; see [`helm::HELM_FUNCTION_NAMES`]), plus the methods of
    /// Helm's objects ([`helm::files_object`], [`helm::api_versions_object`]).
    Helm,
    /// Crossplane's function-go-templating: the Sprig functions of [`FunctionSet::Helm`]
    /// without Helm's own, `include`, and the function's helpers
    /// ([`crossplane::CROSSPLANE_FUNCTION_NAMES`]).
    Crossplane,
}

impl FunctionSet {
    /// Whether a template may call `name`.
    pub fn has(self, name: &str) -> bool {
        match self {
            FunctionSet::Sprig => is_function(name),
            FunctionSet::Helm => is_function(name) || helm_function(name),
            FunctionSet::Crossplane => {
                is_function(name)
                    || crossplane::CROSSPLANE_FUNCTION_NAMES.contains(&name)
                    || (helm_function(name) && !crossplane::HELM_ONLY.contains(&name))
            }
        }
    }
}

/// Whether `name` is one of the functions Helm adds to Go's and ApplicationSets' Sprig set.
fn helm_function(name: &str) -> bool {
    helm::HELM_FUNCTION_NAMES.contains(&name)
        || sprig_more::NAMES.contains(&name)
        || sprig_more::alias(name).is_some()
        || name == "tuple"
}

/// A parsed template, ready to execute any number of times.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    main: Arc<ast::Define>,
    defines: BTreeMap<String, Arc<ast::Define>>,
}

/// Whether a parsed body is only whitespace (Go's `parse.IsEmptyTree`).
fn is_empty_body(body: &[ast::Node]) -> bool {
    body.iter()
        .all(|n| matches!(n, ast::Node::Text(t) if t.trim().is_empty()))
}

/// A file's body and the templates it defines.
type ParsedFile = (Arc<ast::Define>, Vec<(String, Arc<ast::Define>)>);

/// Parses `src` as the file `name` with `functions`: its body and its definitions.
fn parse_file(name: &str, src: &str, functions: FunctionSet) -> Result<ParsedFile, TemplateError> {
    parse_file_with(name, src, functions, &lexer::Delims::default())
}

/// [`parse_file`] with actions between `delims`.
fn parse_file_with(
    name: &str,
    src: &str,
    functions: FunctionSet,
    delims: &lexer::Delims,
) -> Result<ParsedFile, TemplateError> {
    let tokens = lexer::lex_with(name, src, delims)?;
    let parsed = parser::parse(name, src, tokens, &|f| functions.has(f))?;
    let file: Arc<str> = Arc::from(name);
    let text: Arc<str> = Arc::from(src);
    let define = |body| {
        Arc::new(ast::Define {
            file: file.clone(),
            src: text.clone(),
            body,
        })
    };
    let defines = parsed
        .defines
        .into_iter()
        .map(|(n, body)| (n, define(body)))
        .collect();
    Ok((define(parsed.body), defines))
}

impl Template {
    /// Parses `src` as the template `name` (used in error messages, e.g. `template: base:1:6: ...`).
    pub fn parse(name: &str, src: &str) -> Result<Self, TemplateError> {
        let (main, defines) = parse_file(name, src, FunctionSet::Sprig)?;
        Ok(Template {
            name: name.to_string(),
            main,
            defines: defines.into_iter().collect(),
        })
    }

    /// Executes the template with dot (and `$`) bound to `data`, within the default
    /// [`Limits`].
    pub fn execute(&self, data: &Value, missing: MissingKey) -> Result<String, TemplateError> {
        self.execute_with_limits(data, missing, &Limits::default())
    }

    /// Executes the template with dot (and `$`) bound to `data`, stopping with an error (see
    /// [`TemplateError::limit`]) when it reaches one of `limits`.
    pub fn execute_with_limits(
        &self,
        data: &Value,
        missing: MissingKey,
        limits: &Limits,
    ) -> Result<String, TemplateError> {
        let meter = limits::Meter::new(limits);
        let mut out = String::new();
        let data = exec::Data::from_value(data.clone(), None);
        let mut ex = exec::Exec::new(
            (&self.name, &self.main),
            &self.defines,
            missing,
            FunctionSet::Sprig,
            data.clone(),
            &meter,
        );
        ex.run(&self.main.body, &data, &mut out)?;
        Ok(out)
    }
}

/// Several files parsed into one namespace of templates, as Go's `template.New(..).Parse` on
/// one root does and Helm does with a chart's templates: every file is a template named by
/// its name, every `define` is visible from every file, and a later definition replaces an
/// earlier one unless its body is empty.
#[derive(Debug, Clone)]
pub struct TemplateSet {
    functions: FunctionSet,
    missing: MissingKey,
    limits: Limits,
    delims: lexer::Delims,
    templates: BTreeMap<String, Arc<ast::Define>>,
    random: Option<Arc<RandomPlaceholders>>,
}

/// Random output stood in for, for a caller that leaves out what it reaches: with
/// [`TemplateSet::with_random_placeholders`], Helm's functions whose results change from run
/// to run (random text, clocks, generated keys and certificates) return
/// a placeholder (a certificate's fields hold it) instead of failing: [`RandomPlaceholders::MARKER`]
/// followed by the call's number and `zz`. A function given an argument holding one returns
/// it again when its result is text (the text depends on random output), keeps a list or map
/// as built, and fails, as without placeholders, when its result is anything else (a
/// comparison, a number: what a template would decide on). Every text holding a placeholder
/// depends on random output, of the call it names ([`RandomPlaceholders::call_in`]).
#[derive(Debug, Default)]
pub struct RandomPlaceholders {
    calls: std::sync::Mutex<Vec<(String, TemplateError)>>,
    /// Whether a call was recorded (read on every function call, without the lock).
    seen: std::sync::atomic::AtomicBool,
}

impl RandomPlaceholders {
    /// How every placeholder of random output starts (lower case letters and digits, so that
    /// `lower` keeps it and a name may hold it).
    pub const MARKER: &'static str = "zzstratarandom";

    /// The placeholder of call `n`.
    pub(crate) fn placeholder(n: usize) -> String {
        format!("{}{n}zz", Self::MARKER)
    }

    /// The first placeholder in `text`, whole.
    pub(crate) fn first_placeholder(text: &str) -> Option<&str> {
        let start = text.find(Self::MARKER)?;
        let digits = text[start + Self::MARKER.len()..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        text.get(start..start + Self::MARKER.len() + digits + 2)
    }

    /// The call whose placeholder `text` holds first: the template file executed and the error
    /// the call gives without placeholders.
    pub fn call_in(&self, text: &str) -> Option<(String, TemplateError)> {
        let placeholder = Self::first_placeholder(text)?;
        let n: usize = placeholder[Self::MARKER.len()..placeholder.len() - 2]
            .parse()
            .ok()?;
        self.calls.lock().ok()?.get(n).cloned()
    }

    /// Placeholders for the executions of one set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Each random function called, in order: the template file executed and the error the
    /// call gives without placeholders (naming the function, its file and line).
    pub fn calls(&self) -> Vec<(String, TemplateError)> {
        self.calls
            .lock()
            .map(|calls| calls.clone())
            .unwrap_or_default()
    }

    /// Whether any random function was called.
    pub fn any(&self) -> bool {
        self.seen.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Records a call; its placeholder.
    pub(crate) fn record(&self, file: &str, error: TemplateError) -> String {
        self.seen.store(true, std::sync::atomic::Ordering::Release);
        match self.calls.lock() {
            Ok(mut calls) => {
                calls.push((file.to_string(), error));
                Self::placeholder(calls.len() - 1)
            }
            Err(_) => Self::placeholder(usize::MAX),
        }
    }
}

impl TemplateSet {
    /// An empty set whose files may call `functions` and whose field lookups follow `missing`.
    pub fn new(functions: FunctionSet, missing: MissingKey) -> Self {
        TemplateSet {
            functions,
            missing,
            limits: Limits::default(),
            delims: lexer::Delims::default(),
            templates: BTreeMap::new(),
            random: None,
        }
    }

    /// This set with random output stood in for by `placeholders` (see
    /// [`RandomPlaceholders`]) in its executions, instead of refused.
    pub fn with_random_placeholders(mut self, placeholders: Arc<RandomPlaceholders>) -> Self {
        self.random = Some(placeholders);
        self
    }

    /// This set with actions between `left` and `right` in the files added after this call,
    /// as Go's `Template.Delims`: an empty string keeps that side's default (`{{` or `}}`).
    /// Trim markers and comments go with them (`[[- ` … ` -]]`, `[[/* … */]]`).
    pub fn with_delims(mut self, left: &str, right: &str) -> Self {
        let defaults = lexer::Delims::default();
        self.delims = lexer::Delims {
            left: if left.is_empty() {
                defaults.left
            } else {
                left.to_owned()
            },
            right: if right.is_empty() {
                defaults.right
            } else {
                right.to_owned()
            },
        };
        self
    }

    /// This set with each execution stopped at `limits` (default: [`Limits::default`]).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Parses the file `name` into the set.
    pub fn add(&mut self, name: &str, src: &str) -> Result<(), TemplateError> {
        let (main, defines) = parse_file_with(name, src, self.functions, &self.delims)?;
        add_defines(&mut self.templates, name, main, defines);
        Ok(())
    }

    /// Whether the set has a template (file or definition) called `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.templates.contains_key(name)
    }

    /// Executes the template `name` with dot (and `$`) bound to `data`.
    pub fn execute(&self, name: &str, data: &Value) -> Result<String, TemplateError> {
        self.execute_owned(name, data.clone())
    }

    /// [`TemplateSet::execute`] with `data` handed over: the execution shares it with the
    /// templates it runs instead of copying it.
    pub fn execute_owned(&self, name: &str, data: Value) -> Result<String, TemplateError> {
        self.execute_data(name, exec::Data::from_value(data, None))
    }

    /// Executes the template `name` with dot (and `$`) bound to the shared `data`: what the
    /// template changes in it with `set`, `unset` or a merge stays changed for the executions
    /// after it, as Helm's template files share their chart's data.
    pub fn execute_shared(&self, name: &str, data: &SharedData) -> Result<String, TemplateError> {
        self.execute_data(name, data.0.clone())
    }

    fn execute_data(&self, name: &str, data: exec::Data) -> Result<String, TemplateError> {
        let Some(main) = self.templates.get(name) else {
            return Err(TemplateError::missing_template(name));
        };
        let mut meter = limits::Meter::new(&self.limits);
        meter.random = self.random.clone().map(|r| (r, name.to_string()));
        let mut out = String::new();
        let mut ex = exec::Exec::new(
            (name, main),
            &self.templates,
            self.missing,
            self.functions,
            data.clone(),
            &meter,
        );
        ex.run(&main.body, &data, &mut out)?;
        Ok(out)
    }
}

/// Template data shared by several executions, as Helm shares one chart's data among the
/// chart's template files (and a subchart's `.Values` with its entry in the parent's): a map
/// that one execution changes with `set`, `unset` or a merge is changed for every execution
/// holding it.
///
/// ```
/// use serde_json::json;
/// use strata_gotemplate::{FunctionSet, MissingKey, SharedData, TemplateSet};
///
/// let mut set = TemplateSet::new(FunctionSet::Helm, MissingKey::Zero);
/// set.add("a", r#"{{ $_ := set .Values "seen" "yes" }}"#).unwrap();
/// set.add("b", "{{ .Values.seen }}").unwrap();
/// let data = SharedData::new(json!({"Values": {}}));
/// set.execute_shared("a", &data).unwrap();
/// assert_eq!(set.execute_shared("b", &data).unwrap(), "yes");
/// ```
#[derive(Clone, Debug)]
pub struct SharedData(exec::Data);

impl SharedData {
    /// `value`, with each of its maps shared.
    pub fn new(value: Value) -> Self {
        SharedData(exec::Data::from_value(value, None))
    }

    /// The map under `key` of this map, shared (not copied), if there is one.
    pub fn get_map(&self, key: &str) -> Option<SharedData> {
        let entry = self.0.as_map()?.get(key)?;
        entry.as_map().is_some().then(|| SharedData(entry))
    }

    /// Sets the entry `key` of this map to `value`, shared; does nothing unless this is a map.
    pub fn insert(&self, key: &str, value: &SharedData) {
        if let Some(m) = self.0.as_map() {
            m.insert(key.to_string(), value.0.clone());
        }
    }

    /// Sets the entry `key` of this map to `value`; does nothing unless this is a map.
    pub fn insert_value(&self, key: &str, value: Value) {
        self.insert(key, &SharedData::new(value));
    }
}

/// Adds a parsed file and its definitions to `templates` with Go's replacement rule.
pub(crate) fn add_defines(
    templates: &mut BTreeMap<String, Arc<ast::Define>>,
    name: &str,
    main: Arc<ast::Define>,
    defines: Vec<(String, Arc<ast::Define>)>,
) {
    for (n, d) in std::iter::once((name.to_string(), main)).chain(defines) {
        if is_empty_body(&d.body) && templates.contains_key(&n) {
            continue;
        }
        templates.insert(n, d);
    }
}

/// Parses and executes `src` (named `base`, as ArgoCD names its templates) against `data`.
pub fn render(src: &str, data: &Value, missing: MissingKey) -> Result<String, TemplateError> {
    Template::parse("base", src)?.execute(data, missing)
}

/// Decodes standard base64 (as Sprig's `b64dec`), used for Kubernetes Secret data.
pub fn b64_decode(s: &str) -> Result<Vec<u8>, InvalidBase64> {
    funcs::b64dec(s)
}
