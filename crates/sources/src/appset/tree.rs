//! Source trees that git generators read: a small trait, an in-memory implementation, and the
//! resolver that maps a generator's `repoURL`/`revision` to a tree.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use strata_core::source::SourceError;

use super::error::AppSetError;

/// Read access to one revision of a repository. Paths are relative, `/`-separated, without a
/// leading `./`. Failures are core's [`SourceError`]s, which name the path.
pub trait TreeReader: Send + Sync {
    /// Every file path in the tree.
    fn list_files(&self) -> Result<Vec<String>, SourceError>;
    /// Every directory path in the tree (the git directories generator matches these).
    fn list_dirs(&self) -> Result<Vec<String>, SourceError>;
    /// The contents of a file ([`SourceError::NotFound`] when it does not exist).
    fn read(&self, path: &str) -> Result<Vec<u8>, SourceError>;
}

/// An in-memory tree, for tests and for callers that already hold the files.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    files: BTreeMap<String, Vec<u8>>,
    dirs: Vec<String>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file. Its parent directories are not added to the directory list automatically
    /// (see [`MemoryTree::with_parent_dirs`]).
    pub fn with_file(mut self, path: impl Into<String>, content: impl Into<Vec<u8>>) -> Self {
        self.files.insert(path.into(), content.into());
        self
    }

    /// Adds a directory, listed in the order added.
    pub fn with_dir(mut self, path: impl Into<String>) -> Self {
        let p = path.into();
        if !self.dirs.contains(&p) {
            self.dirs.push(p);
        }
        self
    }

    /// Adds every ancestor directory of the files and directories present, as a checkout has.
    pub fn with_parent_dirs(mut self) -> Self {
        let mut all: BTreeSet<String> = self.dirs.iter().cloned().collect();
        let paths: Vec<String> = self
            .files
            .keys()
            .cloned()
            .chain(self.dirs.iter().cloned())
            .collect();
        for p in paths {
            let mut cur = p.as_str();
            while let Some((parent, _)) = cur.rsplit_once('/') {
                all.insert(parent.to_string());
                cur = parent;
            }
        }
        for d in self.files.keys() {
            all.remove(d);
        }
        self.dirs = all.into_iter().collect();
        self
    }
}

impl TreeReader for MemoryTree {
    fn list_files(&self) -> Result<Vec<String>, SourceError> {
        Ok(self.files.keys().cloned().collect())
    }

    fn list_dirs(&self) -> Result<Vec<String>, SourceError> {
        Ok(self.dirs.clone())
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, SourceError> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| SourceError::NotFound {
                origin: String::from("(in-memory tree)"),
                path: path.to_owned(),
            })
    }
}

/// Finds the tree for a git generator's repository and revision.
pub trait TreeResolver: Send + Sync {
    /// The tree of `repo_url` at `revision`, or an [`AppSetError::Source`] saying why it is
    /// unavailable.
    fn resolve(&self, repo_url: &str, revision: &str) -> Result<Arc<dyn TreeReader>, AppSetError>;
}

/// A resolver over fixed trees: by repository URL, with an optional fallback for any URL.
#[derive(Default, Clone)]
pub struct StaticTrees {
    by_repo: BTreeMap<String, Arc<dyn TreeReader>>,
    fallback: Option<Arc<dyn TreeReader>>,
}

impl std::fmt::Debug for StaticTrees {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticTrees")
            .field("repos", &self.by_repo.keys().collect::<Vec<_>>())
            .field("fallback", &self.fallback.is_some())
            .finish()
    }
}

impl StaticTrees {
    /// No trees.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `tree` for `repo_url` (any revision).
    pub fn with_repo(mut self, repo_url: impl Into<String>, tree: Arc<dyn TreeReader>) -> Self {
        self.by_repo.insert(repo_url.into(), tree);
        self
    }

    /// Serves `tree` for any repository not registered with [`StaticTrees::with_repo`].
    pub fn with_fallback(mut self, tree: Arc<dyn TreeReader>) -> Self {
        self.fallback = Some(tree);
        self
    }
}

impl TreeResolver for StaticTrees {
    fn resolve(&self, repo_url: &str, _revision: &str) -> Result<Arc<dyn TreeReader>, AppSetError> {
        self.by_repo
            .get(repo_url)
            .or(self.fallback.as_ref())
            .cloned()
            .ok_or_else(|| {
                AppSetError::Source(format!(
                    "no source tree available for repository {repo_url:?}"
                ))
            })
    }
}
