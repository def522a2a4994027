//! Applications kept in Git: the Application manifests of a root directory (app of apps) and
//! the Applications its ApplicationSets generate, read from a repository at a revision.

use std::sync::Arc;

use serde_json::Value;
use strata_core::loader::LoadError;
use strata_core::source::SourceError;
use strata_sources::appset::{AppSetError, GeneratorContext, StaticTrees, generate};
use strata_sources::repo::{RepoError, RepoUrl, RepositoryCache, redact};

use crate::checkout::{self, CheckoutError};

/// Where Git-defined Applications are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRoot {
    /// The repository (`file://`, a local path, `git://`, `http(s)://`).
    pub repo_url: String,
    /// Branch, tag, commit or `HEAD`.
    pub revision: String,
    /// The directory holding the Application and ApplicationSet manifests (recursively).
    pub path: String,
}

/// One Application found in Git.
#[derive(Debug, Clone, PartialEq)]
pub struct GitApplication {
    /// Its manifest (generated ones included).
    pub manifest: Value,
    /// Where it is written (`file:line`, or the ApplicationSet that generated it).
    pub location: String,
}

/// Why the Applications kept in Git could not be read. Repositories are named with their
/// credentials redacted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RootError {
    /// The repository URL cannot be read.
    #[error("{repo}: {source}")]
    RepoUrl {
        /// The repository.
        repo: String,
        /// Why.
        #[source]
        source: RepoError,
    },
    /// The repository could not be fetched, its revision resolved or its tree read (the tree
    /// error names the commit, as for Applications).
    #[error(transparent)]
    Checkout(Box<CheckoutError>),
    /// The root directory could not be listed.
    #[error("{repo}: {path}: {source}")]
    List {
        /// The repository.
        repo: String,
        /// The directory.
        path: String,
        /// Why.
        #[source]
        source: SourceError,
    },
    /// A file could not be read.
    #[error("{file}: {source}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        #[source]
        source: SourceError,
    },
    /// A file is not YAML or JSON manifests.
    #[error(transparent)]
    Parse(#[from] LoadError),
    /// An ApplicationSet could not be generated.
    #[error("{location}: ApplicationSet {name}: {source}")]
    Generate {
        /// Where the ApplicationSet is.
        location: String,
        /// Its name.
        name: String,
        /// Why.
        #[source]
        source: Box<AppSetError>,
    },
}

impl From<CheckoutError> for RootError {
    fn from(error: CheckoutError) -> Self {
        RootError::Checkout(Box::new(error))
    }
}

/// Fetches (when asked) and reads the Applications of `root`; ApplicationSets without a
/// namespace are in `namespace`. Errors name the file and document.
pub fn load(
    repos: &RepositoryCache,
    root: &GitRoot,
    namespace: &str,
    fetch: bool,
) -> Result<(String, Vec<GitApplication>), RootError> {
    let shown = redact(&root.repo_url);
    let url = RepoUrl::parse(&root.repo_url).map_err(|source| RootError::RepoUrl {
        repo: shown.clone(),
        source,
    })?;
    if fetch {
        checkout::fetch(repos, &url, &shown)?;
    }
    let (commit, tree) = checkout::resolve_tree(repos, &url, &shown, &root.revision)?;
    let path = root.path.trim_start_matches("./").trim_end_matches('/');
    let path = if path == "." { "" } else { path };
    let mut found = Vec::new();
    let files = tree.files_under(path).map_err(|source| RootError::List {
        repo: shown.clone(),
        path: path.to_owned(),
        source,
    })?;
    let mut context = GeneratorContext::new().with_trees(Arc::new(
        StaticTrees::new().with_fallback(Arc::clone(&tree)),
    ));
    context.namespace = Some(namespace.to_owned());
    for file in files {
        if !(file.ends_with(".yaml") || file.ends_with(".yml") || file.ends_with(".json")) {
            continue;
        }
        let text = tree
            .read_to_string(&file)
            .map_err(|source| RootError::Read {
                file: file.clone(),
                source,
            })?;
        let display = tree.location(&file, 0, 1).file;
        let documents = strata_core::loader::parse_documents(&display, &text)?;
        for r in documents {
            if r.key.group != crate::app::ARGO_GROUP {
                continue;
            }
            let location = r
                .source
                .as_ref()
                .map(|s| tree.location(&file, s.document, s.line).to_string())
                .unwrap_or_else(|| file.clone());
            match r.key.kind.as_str() {
                "Application" => found.push(GitApplication {
                    manifest: r.manifest,
                    location,
                }),
                "ApplicationSet" => {
                    let generated =
                        generate(&r.manifest, &context).map_err(|source| RootError::Generate {
                            location: location.clone(),
                            name: r.key.name.to_string(),
                            source: Box::new(source),
                        })?;
                    found.extend(generated.into_iter().map(|manifest| GitApplication {
                        manifest,
                        location: format!("{location} (ApplicationSet {})", r.key.name),
                    }));
                }
                _ => {}
            }
        }
    }
    Ok((commit, found))
}
