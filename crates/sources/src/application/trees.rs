//! The git generators' tree resolver of a stack: repositories resolved by a
//! [`RepositoryResolver`], the stack's own repository served from the stack's tree.

use std::sync::Arc;

use strata_core::source::SourceTree;

use crate::appset::{AppSetError, TreeResolver};
use crate::repo::{RepoSource, RepositoryResolver};

/// The git generators' [`TreeResolver`] of a stack: each `repoURL` resolved by a
/// [`RepositoryResolver`], the stack's own repository served from the stack's tree. (A
/// stack without repositories serves its tree for every URL with
/// [`StaticTrees::with_fallback`](crate::appset::StaticTrees::with_fallback).)
#[derive(Clone)]
pub struct RepositoryTrees {
    /// The stack's tree.
    pub stack: Arc<dyn SourceTree>,
    /// Resolves every other repository.
    pub resolver: Arc<dyn RepositoryResolver>,
}

impl TreeResolver for RepositoryTrees {
    fn resolve(&self, repo_url: &str, revision: &str) -> Result<Arc<dyn SourceTree>, AppSetError> {
        match self.resolver.resolve(repo_url, revision) {
            Ok(RepoSource::Stack) => Ok(self.stack.clone()),
            Ok(RepoSource::Tree(tree)) => Ok(tree),
            Err(source) => Err(AppSetError::Repository {
                repo: repo_url.to_owned(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::error::Error as _;
    use std::path::PathBuf;

    use serde_json::json;
    use strata_core::source::{Entry, SourceError, SourceOrigin};

    use super::*;
    use crate::appset::{GeneratorContext, StaticTrees, TreeRead, generate};
    use crate::repo::RepoError;

    /// A tree whose every read fails.
    struct BrokenTree(SourceOrigin);

    fn unreadable(path: &str) -> SourceError {
        SourceError::Io {
            path: PathBuf::from("/nowhere").join(path),
            source: std::io::Error::other("object store unreadable"),
        }
    }

    impl SourceTree for BrokenTree {
        fn origin(&self) -> &SourceOrigin {
            &self.0
        }

        fn list(&self, dir: &str) -> Result<Vec<Entry>, SourceError> {
            Err(unreadable(dir))
        }

        fn read(&self, path: &str) -> Result<Vec<u8>, SourceError> {
            Err(unreadable(path))
        }
    }

    fn git_appset() -> serde_json::Value {
        json!({
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
        })
    }

    #[test]
    fn tree_errors_reach_the_generator_instead_of_an_empty_tree() {
        let tree = BrokenTree(SourceOrigin::directory("/nowhere"));
        let ctx = GeneratorContext::new()
            .with_trees(Arc::new(StaticTrees::new().with_fallback(Arc::new(tree))));
        let err = generate(&git_appset(), &ctx).unwrap_err();
        assert!(err.to_string().contains("object store unreadable"), "{err}");
        match err.innermost() {
            AppSetError::Source { read, source } => {
                assert_eq!(
                    read,
                    &TreeRead::Directories {
                        repo: "https://git.example/platform.git".into()
                    }
                );
                assert!(matches!(source, SourceError::Io { .. }), "{source}");
            }
            other => panic!("not a tree error: {other:?}"),
        }
        // The tree's error is reachable through the chain of sources.
        let mut cause = err.source();
        let mut found = false;
        while let Some(c) = cause {
            found |= c.downcast_ref::<SourceError>().is_some();
            cause = c.source();
        }
        assert!(found, "no SourceError among the causes of {err}");
    }

    /// A resolver that knows no repository.
    #[derive(Debug)]
    struct NoRepositories;

    impl RepositoryResolver for NoRepositories {
        fn resolve(&self, repo_url: &str, _revision: &str) -> Result<RepoSource, RepoError> {
            Err(RepoError::Unresolvable {
                url: repo_url.to_owned(),
            })
        }
    }

    #[test]
    fn repository_errors_are_kept_as_the_source() {
        let trees = RepositoryTrees {
            stack: Arc::new(strata_core::source::MemoryTree::new()),
            resolver: Arc::new(NoRepositories),
        };
        let err = match trees.resolve("https://git.example/other.git", "main") {
            Err(e) => e,
            Ok(_) => panic!("resolved an unknown repository"),
        };
        assert!(matches!(err, AppSetError::Repository { .. }), "{err:?}");
        let cause = err.source().and_then(|c| c.downcast_ref::<RepoError>());
        assert!(
            matches!(cause, Some(RepoError::Unresolvable { url }) if url == "https://git.example/other.git"),
            "{err:?}"
        );
    }
}
