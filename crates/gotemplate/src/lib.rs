//! Go's `text/template` and `fmt` over JSON data, with the Sprig functions ApplicationSet
//! templates use: this crate mirrors the Go template engine that ArgoCD (ApplicationSets), Helm
//! and Crossplane's go-templating function run, and the Go value model (`int64`/`float64`,
//! `encoding/json` output) that Crossplane's patch-and-transform function sees.
//!
//! Modules: [`value`] (Go's view of decoded JSON), [`gofmt`] (`fmt.Sprintf` verbs, flags, width
//! and precision), the template engine ([`Template`], [`render`]) and its functions
//! ([`FUNCTION_NAMES`]), and ArgoCD's name normalisation ([`sanitize_name`]).
//!
//! Supported: text and actions with `{{-`/`-}}` trim markers and comments; fields (`.a.b`),
//! variables (`$x := ...`, `$x = ...`, `$`), pipelines (`|`), parenthesised pipelines with field
//! access, `if`/`else if`/`else`/`with`/`else with`/`range` (with `$i, $v :=`, `break`,
//! `continue`, `else`), `define`/`template`/`block`; the builtins `and or not len index slice
//! print printf println eq ne lt le gt ge html js urlquery`; and the functions listed in
//! [`FUNCTION_NAMES`] (Sprig's `default lower upper trim trimPrefix trimSuffix replace trunc quote
//! join split toJson ...`, ArgoCD's `normalize slugify toYaml fromYaml`). Calling any other
//! function is a parse error naming it, as in Go.
//!
//! Numbers that JSON stores as integers behave as Go `int`s (so `printf "%d"` works on them);
//! other numbers are `float64`s.
//!
//! ```
//! use serde_json::json;
//! use strata_gotemplate::{render, MissingKey};
//!
//! let data = json!({"name": "Web_App", "replicas": 3});
//! let out = render("{{ .name | normalize }}-{{ printf \"%02d\" .replicas }}", &data, MissingKey::Default).unwrap();
//! assert_eq!(out, "web-app-03");
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
