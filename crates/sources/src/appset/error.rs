//! Errors of ApplicationSet generation.

/// Why generating parameters or Applications failed. Messages follow ArgoCD's wording where
/// ArgoCD has one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AppSetError {
    /// The ApplicationSet or a generator is malformed (wrong number of children, no merge keys…).
    #[error("{0}")]
    Invalid(String),
    /// Rendering a template or a value failed.
    #[error("{0}")]
    Template(String),
    /// A source tree could not be read or one of its files could not be parsed.
    #[error("{0}")]
    Source(String),
}

impl AppSetError {
    /// An [`AppSetError::Invalid`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        AppSetError::Invalid(msg.into())
    }

    /// The same error with `prefix: ` in front of its message.
    pub fn context(self, prefix: &str) -> Self {
        match self {
            AppSetError::Invalid(m) => AppSetError::Invalid(format!("{prefix}: {m}")),
            AppSetError::Template(m) => AppSetError::Template(format!("{prefix}: {m}")),
            AppSetError::Source(m) => AppSetError::Source(format!("{prefix}: {m}")),
        }
    }
}
