//! Errors of ApplicationSet generation.

use strata_core::source::SourceError;
use strata_core::yaml::YamlError;
use strata_gotemplate::{TemplateError, UnknownOption};

use super::generators::git::GitFileError;
use crate::repo::RepoError;

/// Why generating parameters or Applications failed. Messages follow ArgoCD's wording where
/// ArgoCD has one; every underlying error is kept as the [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppSetError {
    /// The ApplicationSet or a generator is malformed (wrong number of children, no merge keys…).
    #[error("{0}")]
    Invalid(String),
    /// `spec.goTemplateOptions` names an option Go templates do not have.
    #[error("{source}")]
    TemplateOption {
        /// The option error.
        #[source]
        source: UnknownOption,
    },
    /// A Go template could not be parsed.
    #[error("failed to parse template {template}: {source}")]
    TemplateParse {
        /// The template text.
        template: String,
        /// The parse error, worded as Go's.
        #[source]
        source: TemplateError,
    },
    /// A Go template could not be executed.
    #[error("failed to execute go template {template}: {source}")]
    TemplateExecute {
        /// The template text.
        template: String,
        /// The execution error, worded as Go's.
        #[source]
        source: TemplateError,
    },
    /// The rendered `templatePatch` is not YAML or JSON.
    #[error("error unmarshalling template patch: {source}")]
    TemplatePatch {
        /// The parse error.
        #[source]
        source: YamlError,
    },
    /// A list generator's `elementsYaml` is not YAML.
    #[error("error unmarshling decoded ElementsYaml {source}")]
    ElementsYaml {
        /// The parse error.
        #[source]
        source: YamlError,
    },
    /// A merge generator's key could not be serialised.
    #[error("error marshalling merge key: {source}")]
    MergeKey {
        /// The serialisation error.
        #[source]
        source: serde_json::Error,
    },
    /// No tree is known for a git generator's repository.
    #[error("no source tree available for repository {repo:?}")]
    NoTree {
        /// The generator's `repoURL`.
        repo: String,
    },
    /// A git generator's repository could not be resolved, fetched or read.
    #[error("{source}")]
    Repository {
        /// The generator's `repoURL`.
        repo: String,
        /// Why the repository is unavailable.
        #[source]
        source: RepoError,
    },
    /// A git generator's source tree could not be read.
    #[error("{read}: {source}")]
    Source {
        /// What was being read.
        read: TreeRead,
        /// The tree's error.
        #[source]
        source: SourceError,
    },
    /// A git files generator's file is not one YAML/JSON object or an array of objects.
    #[error("unable to process file '{file}': {source}")]
    File {
        /// The file's path in the tree.
        file: String,
        /// What is wrong with it.
        #[source]
        source: GitFileError,
    },
    /// An error of a nested step, with the step's description in front (as ArgoCD wraps errors).
    #[error("{prefix}: {source}")]
    Context {
        /// What was being done.
        prefix: String,
        /// The nested step's error.
        #[source]
        source: Box<AppSetError>,
    },
}

/// What a git generator was reading from its tree when the tree failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TreeRead {
    /// Listing every directory of the repository.
    Directories {
        /// The generator's `repoURL`.
        repo: String,
    },
    /// Listing every file of the repository.
    Files {
        /// The generator's `repoURL`.
        repo: String,
    },
    /// Reading one file.
    File {
        /// The file's path in the tree.
        path: String,
    },
}

impl std::fmt::Display for TreeRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TreeRead::Directories { repo } => write!(f, "listing the directories of {repo:?}"),
            TreeRead::Files { repo } => write!(f, "listing the files of {repo:?}"),
            TreeRead::File { path } => write!(f, "unable to read file '{path}'"),
        }
    }
}

impl AppSetError {
    /// An [`AppSetError::Invalid`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        AppSetError::Invalid(msg.into())
    }

    /// The same error with `prefix: ` in front of its message ([`AppSetError::Context`]).
    pub fn context(self, prefix: &str) -> Self {
        AppSetError::Context {
            prefix: prefix.to_owned(),
            source: Box::new(self),
        }
    }

    /// The error under every [`AppSetError::Context`] layer.
    pub fn innermost(&self) -> &AppSetError {
        match self {
            AppSetError::Context { source, .. } => source.innermost(),
            other => other,
        }
    }
}
