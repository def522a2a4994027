//! Adapting a core [`SourceTree`] to the ApplicationSet generators' tree traits.

use std::sync::Arc;

use strata_core::source::{SourceError, SourceTree};

use crate::appset::{AppSetError, TreeReader, TreeResolver};
use crate::repo::{RepoSource, RepositoryResolver};

/// A [`SourceTree`] seen as the git generators' [`TreeReader`] (its errors passed on as they
/// are), and as a [`TreeResolver`] that serves it for every repository URL.
#[derive(Clone)]
pub struct SourceTreeReader(pub Arc<dyn SourceTree>);

impl TreeReader for SourceTreeReader {
    fn list_files(&self) -> Result<Vec<String>, SourceError> {
        self.0.files()
    }

    fn list_dirs(&self) -> Result<Vec<String>, SourceError> {
        self.0.dirs()
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, SourceError> {
        self.0.read(path)
    }
}

impl TreeResolver for SourceTreeReader {
    fn resolve(
        &self,
        _repo_url: &str,
        _revision: &str,
    ) -> Result<Arc<dyn TreeReader>, AppSetError> {
        Ok(Arc::new(self.clone()))
    }
}

/// The git generators' [`TreeResolver`] of a stack: each `repoURL` resolved by a
/// [`RepositoryResolver`], the stack's own repository served from the stack's tree.
#[derive(Clone)]
pub struct RepositoryTrees {
    /// The stack's tree.
    pub stack: Arc<dyn SourceTree>,
    /// Resolves every other repository.
    pub resolver: Arc<dyn RepositoryResolver>,
}

impl TreeResolver for RepositoryTrees {
    fn resolve(&self, repo_url: &str, revision: &str) -> Result<Arc<dyn TreeReader>, AppSetError> {
        let tree = match self
            .resolver
            .resolve(repo_url, revision)
            .map_err(|e| AppSetError::Source(e.to_string()))?
        {
            RepoSource::Stack => self.stack.clone(),
            RepoSource::Tree(tree) => tree,
        };
        Ok(Arc::new(SourceTreeReader(tree)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;
    use strata_core::source::{Entry, SourceOrigin};

    use super::*;
    use crate::appset::{GeneratorContext, generate};

    /// A tree whose every read fails.
    struct BrokenTree(SourceOrigin);

    impl SourceTree for BrokenTree {
        fn origin(&self) -> &SourceOrigin {
            &self.0
        }

        fn list(&self, dir: &str) -> Result<Vec<Entry>, SourceError> {
            Err(SourceError::Git(format!(
                "{dir:?}: object store unreadable"
            )))
        }

        fn read(&self, path: &str) -> Result<Vec<u8>, SourceError> {
            Err(SourceError::Git(format!("{path}: object store unreadable")))
        }
    }

    #[test]
    fn tree_errors_reach_the_generator_instead_of_an_empty_tree() {
        let tree = BrokenTree(SourceOrigin::directory("/nowhere"));
        let ctx = GeneratorContext::new().with_trees(Arc::new(SourceTreeReader(Arc::new(tree))));
        let appset = json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "ApplicationSet",
            "metadata": {"name": "apps"},
            "spec": {
                "generators": [{"git": {
                    "repoURL": "https://git.example/platform.git",
                    "revision": "main",
                    "directories": [{"path": "apps/*"}]
                }}],
                "template": {
                    "metadata": {"name": "{{path.basename}}"},
                    "spec": {"project": "default", "source": {"path": "{{path}}"}, "destination": {}}
                }
            }
        });
        let err = generate(&appset, &ctx).unwrap_err().to_string();
        assert!(err.contains("object store unreadable"), "{err}");
    }
}
