//! Errors of this crate, worded as Go's `text/template`, Sprig and `encoding/base64` word them:
//! [`TemplateError`] (parsing or executing a template), [`FuncError`] (a template function
//! call that failed, with its [`CallFailure`]), [`UnknownOption`] (a bad template option) and
//! [`InvalidBase64`].

use crate::limits::LimitExceeded;

/// A parse or execution error, displayed like Go's `text/template` errors
/// (`template: NAME:LINE: msg` for parse errors,
/// `template: NAME:LINE:COL: executing "NAME" at <CTX>: msg` for execution errors).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{rendered}")]
#[non_exhaustive]
pub struct TemplateError {
    /// Whether the error was raised while parsing (true) or executing (false).
    pub parse: bool,
    /// The error without the location prefix.
    pub message: String,
    /// Where the error is.
    pub location: Box<Location>,
    rendered: String,
    /// The failed function call or the limit reached, when one of them raised the error.
    #[source]
    cause: Option<Box<Cause>>,
}

/// What raised an execution error, besides the engine's own checks.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum Cause {
    /// A template function failed.
    #[error(transparent)]
    Function(FuncError),
    /// The execution reached one of the engine's [`Limits`](crate::Limits).
    #[error(transparent)]
    Limit(LimitExceeded),
}

/// Where a [`TemplateError`] is: file, line, column, template and action.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Location {
    /// The file (template name) the error is in.
    pub file: String,
    /// The line (1-based) in that file.
    pub line: usize,
    /// The column (0-based byte offset in the line) of an execution error.
    pub column: Option<usize>,
    /// The template being executed (Go's `executing "NAME"`), for execution errors.
    pub executing: Option<String>,
    /// The action that failed (Go's `at <...>`), for execution errors.
    pub action: Option<String>,
}

/// Why a call of a template function failed. Messages are Go's, without the
/// `template: ...: executing ...` prefix that [`TemplateError`] adds.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FuncError {
    /// The function takes exactly `want` arguments.
    #[error("wrong number of args for {func}: want {want} got {got}")]
    ArgCount {
        /// The function called.
        func: String,
        /// The number of arguments it takes.
        want: usize,
        /// The number of arguments given.
        got: usize,
    },
    /// The function takes at least `min` arguments.
    #[error("wrong number of args for {func}: want at least {min} got {got}")]
    TooFewArgs {
        /// The function called.
        func: String,
        /// The least number of arguments it takes.
        min: usize,
        /// The number of arguments given.
        got: usize,
    },
    /// The function takes at most `max` arguments.
    #[error("wrong number of args for {func}: want at most {max} got {got}")]
    TooManyArgs {
        /// The function called.
        func: String,
        /// The largest number of arguments it takes.
        max: usize,
        /// The number of arguments given.
        got: usize,
    },
    /// An argument is Go's invalid value (a missing map key) where a typed value is needed.
    #[error("invalid value; expected {expected}")]
    MissingValue {
        /// The Go type of the parameter.
        expected: &'static str,
    },
    /// An argument's Go type does not fit the parameter.
    #[error("wrong type for value; expected {expected}; got {got}")]
    WrongType {
        /// The Go type of the parameter.
        expected: &'static str,
        /// The Go type of the argument.
        got: &'static str,
    },
    /// The function ran and failed (Go's `error calling NAME: ...`).
    #[error("error calling {func}: {failure}")]
    Failed {
        /// The function called.
        func: String,
        /// What went wrong.
        #[source]
        failure: CallFailure,
    },
    /// A regular expression argument does not compile, or is refused by the limits of
    /// [`strata_core::user_regex`] (length, compiled size).
    #[error("error calling regex: {0}")]
    Regex(#[source] strata_core::user_regex::RegexLimitError),
    /// No function has this name.
    #[error("function \"{0}\" not defined")]
    Undefined(String),
    /// A template run by `include` or `tpl` failed.
    #[error("error calling {func}: {source}")]
    Template {
        /// `include` or `tpl`.
        func: &'static str,
        /// What `tpl` parsed, when it was `tpl`.
        text: Option<String>,
        /// The inner error.
        #[source]
        source: Box<TemplateError>,
    },
    /// `required` or `fail` stopped the rendering with the chart's own message (or a function
    /// Helm makes stop the rendering, such as `mustFromJson` and `semverCompare`, failed).
    #[error("error calling {func}: {message}")]
    Stopped {
        /// `required`, `fail`, or the function that failed.
        func: &'static str,
        /// The chart's message, or the failed function's error as text.
        message: String,
        /// The failed function's error (`None` for `required` and `fail`).
        #[source]
        source: Option<SharedCause>,
    },
    /// The call would build a value past one of the engine's [`Limits`](crate::Limits).
    #[error("error calling {func}: {limit}")]
    Limit {
        /// The function called.
        func: String,
        /// The limit.
        #[source]
        limit: LimitExceeded,
    },
    /// A function Helm has whose result Strata does not reproduce (random values, clocks,
    /// generated keys and certificates).
    #[error("error calling {func}: {func} is not supported by Strata ({reason})")]
    Unsupported {
        /// The function.
        func: String,
        /// Why.
        reason: &'static str,
    },
}

/// What went wrong inside a template function (the part after `error calling NAME: `).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallFailure {
    /// `len` of nil.
    #[error("len of nil pointer")]
    LenOfNil,
    /// `len` of a value that has no length.
    #[error("len of type {0}")]
    LenOfType(&'static str),
    /// `index` of a map with a key that is not a string.
    #[error("value has type {0}; should be string")]
    MapKeyType(&'static str),
    /// `index` or `slice` beyond the end.
    #[error("index out of range: {0}")]
    IndexOutOfRange(i64),
    /// `index` of nil.
    #[error("index of untyped nil")]
    IndexOfNil,
    /// `index` of a value that cannot be indexed.
    #[error("can't index item of type {0}")]
    NotIndexable(&'static str),
    /// `slice` of a value that cannot be sliced.
    #[error("can't slice item of type {0}")]
    NotSliceable(&'static str),
    /// A comparison of values of different basic kinds.
    #[error("incompatible types for comparison")]
    IncompatibleTypes,
    /// A comparison involving a value that is not a basic type.
    #[error("invalid type for comparison")]
    InvalidComparison,
    /// `first` or `last` of a value that is not a list.
    #[error("cannot find {func} on type {type_name}")]
    NoListEnd {
        /// `first` or `last`.
        func: &'static str,
        /// The Go type of the argument.
        type_name: &'static str,
    },
    /// `uniq` or `compact` of a value that is not a list.
    #[error("cannot {func} type {type_name}")]
    NotAList {
        /// `uniq` or `compact`.
        func: &'static str,
        /// The Go type of the argument.
        type_name: &'static str,
    },
    /// `div` or `mod` by zero.
    #[error("runtime error: integer divide by zero")]
    DivideByZero,
    /// YAML that does not parse (`fromYaml` of Crossplane's dialect); the parser's error.
    #[error("{0}")]
    Yaml(#[source] SharedCause),
}

pub use strata_core::cause::SharedCause;

/// A Go template option that is not `missingkey=default|invalid|zero|error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unrecognized option: {option}")]
#[non_exhaustive]
pub struct UnknownOption {
    /// The option as given.
    pub option: String,
}

/// Input that is not standard base64 (Go's `illegal base64 data`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal base64 data")]
#[non_exhaustive]
pub struct InvalidBase64 {
    /// Byte offset of the first character outside the base64 alphabet.
    pub offset: usize,
}

/// Line (1-based) and column (0-based byte offset in the line) of `pos` in `src`.
fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(src.len());
    let before = &src[..pos];
    let line = 1 + before.matches('\n').count();
    let col = match before.rfind('\n') {
        Some(i) => pos - i - 1,
        None => pos,
    };
    (line, col)
}

impl TemplateError {
    /// A parse error at byte offset `pos`.
    pub(crate) fn parse(name: &str, src: &str, pos: usize, msg: impl Into<String>) -> Self {
        let message = msg.into();
        let (line, _) = line_col(src, pos);
        let rendered = format!("template: {name}:{line}: {message}");
        TemplateError {
            parse: true,
            message,
            location: Box::new(Location {
                file: name.to_string(),
                line,
                ..Location::default()
            }),
            rendered,
            cause: None,
        }
    }

    /// An execution error at byte offset `pos`, while evaluating the node written as `context`.
    pub(crate) fn exec_in(
        file: &str,
        executing: &str,
        src: &str,
        pos: usize,
        context: &str,
        msg: impl Into<String>,
    ) -> Self {
        let message = msg.into();
        let (line, col) = line_col(src, pos);
        let rendered = format!(
            "template: {file}:{line}:{col}: executing \"{executing}\" at <{context}>: {message}"
        );
        TemplateError {
            parse: false,
            message,
            location: Box::new(Location {
                file: file.to_string(),
                line,
                column: Some(col),
                executing: Some(executing.to_string()),
                action: Some(context.to_string()),
            }),
            rendered,
            cause: None,
        }
    }

    /// An execution stopped at one of the engine's limits, at byte offset `pos` of `file`.
    pub(crate) fn limit_in(
        file: &str,
        executing: &str,
        src: &str,
        pos: usize,
        context: &str,
        limit: LimitExceeded,
    ) -> Self {
        TemplateError {
            cause: Some(Box::new(Cause::Limit(limit.clone()))),
            ..TemplateError::exec_in(file, executing, src, pos, context, limit.to_string())
        }
    }

    /// An execution error raised by the template function `func` called at byte offset `pos`
    /// of `file`, while executing the template `executing`.
    pub(crate) fn function_in(
        file: &str,
        executing: &str,
        src: &str,
        pos: usize,
        func: &str,
        err: FuncError,
    ) -> Self {
        let message = err.to_string();
        TemplateError {
            cause: Some(Box::new(Cause::Function(err))),
            ..TemplateError::exec_in(file, executing, src, pos, func, message)
        }
    }

    /// `ExecuteTemplate` of a name the set does not have.
    pub(crate) fn missing_template(name: &str) -> Self {
        let message = format!("no template {name:?} associated with template \"gotpl\"");
        TemplateError {
            parse: false,
            rendered: format!("template: {message}"),
            message,
            location: Box::new(Location {
                file: name.to_string(),
                ..Location::default()
            }),
            cause: None,
        }
    }

    /// The innermost error: the one inside templates run by `include` and `tpl`, else this one.
    pub fn innermost(&self) -> &TemplateError {
        match self.function_error() {
            Some(FuncError::Template { source, .. }) => source.innermost(),
            _ => self,
        }
    }

    /// The message a chart gave to `required` or `fail`, when one of them stopped the run
    /// (looked for through `include` and `tpl`).
    pub fn stopped_message(&self) -> Option<&str> {
        match self.innermost().function_error() {
            Some(FuncError::Stopped { message, .. }) => Some(message),
            _ => None,
        }
    }

    /// The limit of [`Limits`](crate::Limits) that stopped the execution, if one did (looked
    /// for through `include` and `tpl`).
    pub fn limit(&self) -> Option<&LimitExceeded> {
        match self.innermost().cause.as_deref()? {
            Cause::Limit(limit) | Cause::Function(FuncError::Limit { limit, .. }) => Some(limit),
            Cause::Function(_) => None,
        }
    }

    /// The failed template function call behind this error, if a function raised it.
    pub fn function_error(&self) -> Option<&FuncError> {
        match self.cause.as_deref()? {
            Cause::Function(f) => Some(f),
            Cause::Limit(_) => None,
        }
    }
}
