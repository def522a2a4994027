//! The resolver that maps a git generator's `repoURL`/`revision` to the core
//! [`SourceTree`] the generator reads.

use std::collections::BTreeMap;
use std::sync::Arc;

use strata_core::source::SourceTree;

use super::error::AppSetError;

/// Finds the tree for a git generator's repository and revision.
pub trait TreeResolver: Send + Sync {
    /// The tree of `repo_url` at `revision`, or an [`AppSetError`] saying why it is
    /// unavailable ([`AppSetError::NoTree`], [`AppSetError::Repository`]).
    fn resolve(&self, repo_url: &str, revision: &str) -> Result<Arc<dyn SourceTree>, AppSetError>;
}

/// A resolver over fixed trees: by repository URL, with an optional fallback for any URL
/// (`StaticTrees::new().with_fallback(tree)` serves one tree for every repository).
#[derive(Default, Clone)]
pub struct StaticTrees {
    by_repo: BTreeMap<String, Arc<dyn SourceTree>>,
    fallback: Option<Arc<dyn SourceTree>>,
}

impl std::fmt::Debug for StaticTrees {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticTrees")
            .field("repos", &self.by_repo.keys().collect::<Vec<_>>())
            .field("fallback", &self.fallback.as_ref().map(|t| t.origin()))
            .finish()
    }
}

impl StaticTrees {
    /// No trees.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `tree` for `repo_url` (any revision).
    pub fn with_repo(mut self, repo_url: impl Into<String>, tree: Arc<dyn SourceTree>) -> Self {
        self.by_repo.insert(repo_url.into(), tree);
        self
    }

    /// Serves `tree` for any repository not registered with [`StaticTrees::with_repo`].
    pub fn with_fallback(mut self, tree: Arc<dyn SourceTree>) -> Self {
        self.fallback = Some(tree);
        self
    }
}

impl TreeResolver for StaticTrees {
    fn resolve(&self, repo_url: &str, _revision: &str) -> Result<Arc<dyn SourceTree>, AppSetError> {
        self.by_repo
            .get(repo_url)
            .or(self.fallback.as_ref())
            .cloned()
            .ok_or_else(|| AppSetError::NoTree {
                repo: repo_url.to_owned(),
            })
    }
}
