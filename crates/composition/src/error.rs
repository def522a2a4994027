//! Errors of the composition engine, each with the phase in which it is raised.

use crate::fieldpath::PathError;
use strata_core::user_regex::RegexLimitError;
/// The underlying error of [`Error::Caused`], shared so that [`Error`] stays `Clone`; it
/// dereferences to the underlying error, which is what [`std::error::Error::source`] gives.
pub use strata_gotemplate::SharedCause;

/// When an error is raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Rejected when the composition or configuration is loaded.
    Validation,
    /// Raised while applying a patch, transform or check.
    Runtime,
    /// The whole render aborts.
    Fatal,
}

impl Phase {
    /// The phase's name as used in `error_class` (`validation`, `runtime`, `fatal`).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Validation => "validation",
            Phase::Runtime => "runtime",
            Phase::Fatal => "fatal",
        }
    }
}

/// An error of the composition engine.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Invalid input (composition, transform, patch, check), found before anything runs.
    #[error("{0}")]
    Validation(String),
    /// A failure while running a transform, patch or check.
    #[error("{0}")]
    Runtime(String),
    /// A field path error while running (not-found errors are forgiven by `Optional`).
    #[error("{context}{source}")]
    Path {
        /// Text put before the path error.
        context: String,
        /// The path error.
        source: PathError,
    },
    /// A regular expression refused by the limits of [`strata_core::user_regex`] (too long,
    /// or compiling past the size limit), found when the composition is loaded.
    #[error("{context}{field}: Invalid value: {source}")]
    RegexLimit {
        /// Text put before the field.
        context: String,
        /// The field holding the pattern (`string.regexp.match`, `match.patterns[0].regexp`).
        field: String,
        /// The limit that was hit.
        source: strata_core::user_regex::RegexLimitError,
    },
    /// A pattern that is not a valid regular expression, found when the composition is loaded;
    /// the message is Crossplane's (`invalid regexp`), the compiler's error is the source.
    #[error("{context}{field}: Invalid value: {pattern:?}: invalid regexp")]
    InvalidRegex {
        /// Text put before the field.
        context: String,
        /// The field holding the pattern (`string.regexp.match`, `match.patterns[0].regexp`).
        field: String,
        /// The pattern as written.
        pattern: String,
        /// Why it does not compile.
        source: RegexLimitError,
    },
    /// The whole render aborts.
    #[error("{0}")]
    Fatal(String),
    /// An error raised from an underlying error (a template that does not parse or run, a
    /// document or value that does not decode, a schema that does not compile): the message
    /// is `context` followed by the underlying error's own.
    #[error("{context}{source}")]
    Caused {
        /// When it is raised.
        phase: Phase,
        /// Text put before the underlying error's message.
        context: String,
        /// The underlying error.
        source: SharedCause,
    },
    /// A pipeline step names a function Strata cannot run (and skipping such steps was not
    /// asked for): nothing is rendered.
    #[error(
        "composition {composition}: pipeline step {step:?} uses function {function:?}, which Strata cannot run"
    )]
    UnsupportedStep {
        /// The composition's name.
        composition: String,
        /// The step's name.
        step: String,
        /// The function the step names (`functionRef.name`).
        function: String,
    },
    /// A pipeline step failed; the render aborts.
    #[error("composition {composition}: pipeline step {step:?} ({function}): {source}")]
    Step {
        /// The composition's name.
        composition: String,
        /// The step's name.
        step: String,
        /// The function the step names.
        function: String,
        /// Why it failed.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// The phase in which the error is raised.
    pub fn phase(&self) -> Phase {
        match self {
            Error::Validation(_) | Error::RegexLimit { .. } | Error::InvalidRegex { .. } => {
                Phase::Validation
            }
            Error::Runtime(_) | Error::Path { .. } => Phase::Runtime,
            Error::Fatal(_) | Error::UnsupportedStep { .. } | Error::Step { .. } => Phase::Fatal,
            Error::Caused { phase, .. } => *phase,
        }
    }

    /// Whether this is a field-path not-found error.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Path { source, .. } if source.is_not_found())
    }

    /// Prefixes the message with context, keeping the kind.
    pub fn wrap(self, ctx: &str) -> Error {
        match self {
            Error::Validation(m) => Error::Validation(format!("{ctx}: {m}")),
            Error::Runtime(m) => Error::Runtime(format!("{ctx}: {m}")),
            Error::Path { context, source } => Error::Path {
                context: format!("{ctx}: {context}"),
                source,
            },
            Error::RegexLimit {
                context,
                field,
                source,
            } => Error::RegexLimit {
                context: format!("{ctx}: {context}"),
                field,
                source,
            },
            Error::InvalidRegex {
                context,
                field,
                pattern,
                source,
            } => Error::InvalidRegex {
                context: format!("{ctx}: {context}"),
                field,
                pattern,
                source,
            },
            Error::Fatal(m) => Error::Fatal(format!("{ctx}: {m}")),
            Error::Caused {
                phase,
                context,
                source,
            } => Error::Caused {
                phase,
                context: format!("{ctx}: {context}"),
                source,
            },
            other @ (Error::UnsupportedStep { .. } | Error::Step { .. }) => Error::Caused {
                phase: Phase::Fatal,
                context: format!("{ctx}: "),
                source: SharedCause::new(other),
            },
        }
    }

    /// Turns any error into a fatal one (the render aborts), keeping the message and the
    /// underlying error (an error that has one becomes the source of the fatal error).
    pub fn into_fatal(self) -> Error {
        match self {
            Error::Fatal(_) | Error::UnsupportedStep { .. } | Error::Step { .. } => self,
            Error::Caused {
                context, source, ..
            } => Error::Caused {
                phase: Phase::Fatal,
                context,
                source,
            },
            Error::Validation(m) | Error::Runtime(m) => Error::Fatal(m),
            other
            @ (Error::Path { .. } | Error::RegexLimit { .. } | Error::InvalidRegex { .. }) => {
                Error::Caused {
                    phase: Phase::Fatal,
                    context: String::new(),
                    source: SharedCause::new(other),
                }
            }
        }
    }

    /// An error of `phase` raised from `source`, read as `context` followed by its message.
    pub fn caused(
        phase: Phase,
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Caused {
            phase,
            context: context.into(),
            source: SharedCause::new(source),
        }
    }
}

impl From<PathError> for Error {
    fn from(source: PathError) -> Self {
        Error::Path {
            context: String::new(),
            source,
        }
    }
}

/// Result with the engine's error.
pub type Result<T> = std::result::Result<T, Error>;
