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
mod error;
mod exec;
mod funcs;
pub mod gofmt;
mod lexer;
mod names;
mod parser;
pub mod value;

use std::collections::BTreeMap;

use serde_json::Value;

pub use error::{CallFailure, FuncError, InvalidBase64, TemplateError, UnknownOption};
pub use funcs::{FUNCTION_NAMES, is_function, slugify};
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

/// A parsed template, ready to execute any number of times.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    src: String,
    body: Vec<ast::Node>,
    defines: BTreeMap<String, Vec<ast::Node>>,
}

impl Template {
    /// Parses `src` as the template `name` (used in error messages, e.g. `template: base:1:6: ...`).
    pub fn parse(name: &str, src: &str) -> Result<Self, TemplateError> {
        let tokens = lexer::lex(name, src)?;
        let parsed = parser::parse(name, src, tokens, &funcs::is_function)?;
        Ok(Template {
            name: name.to_string(),
            src: src.to_string(),
            body: parsed.body,
            defines: parsed.defines,
        })
    }

    /// Executes the template with dot (and `$`) bound to `data`.
    pub fn execute(&self, data: &Value, missing: MissingKey) -> Result<String, TemplateError> {
        let mut out = String::new();
        let mut ex = exec::Exec::new(&self.name, &self.src, &self.defines, missing, data);
        ex.run(&self.body, data, &mut out)?;
        Ok(out)
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
