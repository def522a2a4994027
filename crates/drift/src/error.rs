//! Errors of the drift crate.

/// What can go wrong while building rules or diffing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriftError {
    /// A jq path expression does not parse or compile.
    #[error("invalid jq path expression {expression:?}: {source}")]
    InvalidJq {
        /// The expression as configured.
        expression: String,
        /// Why it was rejected.
        source: crate::jq::JqError,
    },
    /// A JSON pointer is not a pointer (must be empty or start with `/`).
    #[error("invalid JSON pointer {0:?}: a pointer must start with '/'")]
    InvalidPointer(String),
    /// A known-type field names a type that is not supported.
    #[error("knownTypeFields: type {0:?} is not supported")]
    UnsupportedKnownType(String),
    /// A duration string is not valid.
    #[error("invalid duration {0:?}")]
    InvalidDuration(String),
    /// A manifest is not a JSON object.
    #[error("{0} is not a JSON object")]
    NotAnObject(&'static str),
    /// A setting (such as an `argocd-cm` key) does not parse.
    #[error("invalid setting {key}: {source}")]
    InvalidSetting {
        /// The setting's key.
        key: String,
        /// Why it was rejected.
        #[source]
        source: SettingError,
    },
}

/// Why a setting does not parse: its YAML text, or the shape of its value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingError {
    /// The text is not YAML of the expected shape.
    #[error(transparent)]
    Yaml(#[from] strata_core::yaml::YamlError),
    /// The value is not of the expected shape.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}
