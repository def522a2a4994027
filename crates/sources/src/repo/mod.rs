//! Repositories Applications and ApplicationSets name: which tree a `repoURL` at a revision
//! is read from.
//!
//! - [`RepoUrl`]: parsing and the normalized key that identifies a repository whatever its
//!   spelling (`https://host/org/r.git`, `git@host:org/r`, …), with credentials redacted
//!   wherever a URL is shown;
//! - [`RepositoryResolver`]: the question the expander asks for each Application and git
//!   generator — is this `repoURL` the stack's own repository, or which tree is it?
//! - [`RepositoryCache`] (`git` feature): bare mirrors of remote repositories kept in a
//!   directory, cloned on first use and fetched as a [`Refresh`] policy says, revisions
//!   resolved to commits and read without a checkout;
//! - [`Repositories`] (`git` feature): the resolver a stack uses — the stack's own repository,
//!   URLs mapped to local directories (`repositories:` in `strata.yaml`, `--repo URL=PATH`),
//!   and the cache for everything else.
//!
//! Fetching runs Debian's (or any) `git` executable: `git fetch` over local paths, `file://`,
//! `git://`, smart HTTP(S) and SSH. Everything else (revision resolution, reading trees) reads
//! the mirror's object database with gix.

#[cfg(feature = "git")]
mod cache;
#[cfg(feature = "git")]
mod resolve;
mod url;

use std::path::PathBuf;
use std::sync::Arc;

use strata_core::source::{SourceError, SourceTree};

#[cfg(feature = "git")]
pub use cache::{Credentials, Refresh, RepositoryCache};
#[cfg(feature = "git")]
pub use resolve::Repositories;
pub use url::{RepoUrl, Transport, redact, same_repository};

/// What a `repoURL` resolves to.
#[derive(Clone)]
#[non_exhaustive]
pub enum RepoSource {
    /// The stack's own repository: read the stack's tree, as for an Application without a
    /// `repoURL`.
    Stack,
    /// Another repository's tree (its root) at the revision asked for.
    Tree(Arc<dyn SourceTree>),
}

impl std::fmt::Debug for RepoSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RepoSource::Stack => f.write_str("Stack"),
            RepoSource::Tree(tree) => f.debug_tuple("Tree").field(tree.origin()).finish(),
        }
    }
}

/// Maps the `repoURL` and revision an Application or a git generator names to a tree.
pub trait RepositoryResolver: Send + Sync + std::fmt::Debug {
    /// The tree of `repo_url` at `revision` (`""` or `HEAD`: the default branch), or
    /// [`RepoSource::Stack`] when it is the stack's own repository.
    fn resolve(&self, repo_url: &str, revision: &str) -> Result<RepoSource, RepoError>;

    /// Where charts downloaded from Helm repositories are kept (by digest), if anywhere;
    /// without it such charts are an error naming the missing cache.
    fn chart_cache_dir(&self) -> Option<PathBuf> {
        None
    }

    /// What downloads charts from Helm repositories and OCI registries: by default into
    /// [`RepositoryResolver::chart_cache_dir`] with no repository settings.
    fn chart_repositories(&self) -> Option<crate::helm::repository::ChartRepositories> {
        self.chart_cache_dir()
            .map(crate::helm::repository::ChartRepositories::new)
    }
}

/// Why a repository could not be resolved, fetched or read. URLs are shown redacted
/// ([`redact`]); credentials never appear.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepoError {
    /// The URL is not a repository URL Strata understands.
    #[error("repository URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL, redacted.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A relative local path cannot be made absolute: the current directory is unreadable.
    #[error("repository URL {url:?}: the current directory is unreadable: {source}")]
    CurrentDir {
        /// The URL, redacted.
        url: String,
        /// Why the current directory cannot be read.
        #[source]
        source: std::io::Error,
    },
    /// Nothing maps the URL and no repository cache may fetch it.
    #[error(
        "repository {url}: not the stack's repository, mapped by no `repositories:` entry or \
         --repo flag, and no repository cache may fetch it"
    )]
    Unresolvable {
        /// The URL, redacted.
        url: String,
    },
    /// A `repositories:` entry or `--repo` flag maps the URL to a path that does not exist.
    #[error("repository {url}: mapped to {}, which does not exist", .path.display())]
    MappedPathMissing {
        /// The URL, redacted.
        url: String,
        /// The path it is mapped to.
        path: PathBuf,
    },
    /// A `--repo` value is not `URL=PATH`.
    #[error("--repo {0:?}: expected URL=PATH")]
    BadMapping(String),
    /// `git` could not be started.
    #[error("repository {url}: running git: {source}")]
    Spawn {
        /// The URL, redacted.
        url: String,
        /// Why it did not start.
        #[source]
        source: std::io::Error,
    },
    /// Cloning or fetching failed.
    #[error("repository {url}: fetching failed: {stderr}")]
    Fetch {
        /// The URL, redacted.
        url: String,
        /// What git said, with credentials removed.
        stderr: String,
    },
    /// The cache directory or a mirror could not be written or locked.
    #[error("repository {url}: {}: {source}", .path.display())]
    Io {
        /// The URL, redacted.
        url: String,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The revision names no branch, tag or commit of the repository.
    #[error(
        "repository {url}: revision {revision:?} is not a branch, tag or commit of the repository"
    )]
    UnknownRevision {
        /// The URL, redacted.
        url: String,
        /// The revision asked for.
        revision: String,
    },
    /// Git could not open the mirror or read one of its references or objects.
    #[error("repository {url}: {source}")]
    Git {
        /// The URL, redacted.
        url: String,
        /// The Git library's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A reference names an object that is not a commit.
    #[error("repository {url}: {name} is not a commit: {source}")]
    NotACommit {
        /// The URL, redacted.
        url: String,
        /// The reference.
        name: String,
        /// The Git library's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The mirror's (or a mapped repository's) objects could not be read.
    #[error("repository {url}: {source}")]
    Read {
        /// The URL, redacted.
        url: String,
        /// The read error.
        #[source]
        source: SourceError,
    },
}
