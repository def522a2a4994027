//! The checkout step both the Applications and the Git roots go through: fetch a repository
//! into the cache, resolve a revision to a commit, and read that commit's tree. Its errors name
//! the repository (credentials redacted), the revision and the commit.

use std::sync::Arc;

use strata_core::source::SourceTree;
use strata_sources::repo::{RepoError, RepoUrl, RepositoryCache};

/// Why a repository could not be checked out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckoutError {
    /// The repository could not be fetched.
    #[error("fetching {repo}: {source}")]
    Fetch {
        /// The repository, credentials redacted.
        repo: String,
        /// Why.
        #[source]
        source: RepoError,
    },
    /// The revision could not be resolved to a commit.
    #[error("resolving {revision} in {repo}: {source}")]
    Resolve {
        /// The revision asked for.
        revision: String,
        /// The repository, credentials redacted.
        repo: String,
        /// Why.
        #[source]
        source: RepoError,
    },
    /// The commit's tree could not be read.
    #[error("reading {repo} at {commit}: {source}")]
    Tree {
        /// The repository, credentials redacted.
        repo: String,
        /// The commit, shortened.
        commit: String,
        /// Why.
        #[source]
        source: RepoError,
    },
}

/// A commit (shortened) as shown in messages.
pub(crate) fn short(revision: &str) -> &str {
    revision.get(..7).unwrap_or(revision)
}

/// Fetches `url` into the cache now; `shown` is its redacted form.
pub(crate) fn fetch(
    repos: &RepositoryCache,
    url: &RepoUrl,
    shown: &str,
) -> Result<(), CheckoutError> {
    repos
        .fetch_now(url)
        .map(drop)
        .map_err(|source| CheckoutError::Fetch {
            repo: shown.to_owned(),
            source,
        })
}

/// Resolves `revision` in `url` and reads the commit's tree: the commit and its tree.
pub(crate) fn resolve_tree(
    repos: &RepositoryCache,
    url: &RepoUrl,
    shown: &str,
    revision: &str,
) -> Result<(String, Arc<dyn SourceTree>), CheckoutError> {
    let commit = repos
        .resolve(url, revision)
        .map_err(|source| CheckoutError::Resolve {
            revision: revision.to_owned(),
            repo: shown.to_owned(),
            source,
        })?;
    let tree = repos
        .tree(url, &commit)
        .map_err(|source| CheckoutError::Tree {
            repo: shown.to_owned(),
            commit: short(&commit).to_owned(),
            source,
        })?;
    Ok((commit, tree))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) {
        let status = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?}");
    }

    #[test]
    fn a_checkout_reads_the_tree_and_names_what_failed() {
        let base = tempfile::tempdir().expect("tempdir");
        let work = base.path().join("repo");
        std::fs::create_dir_all(work.join("apps")).expect("mkdir");
        git(&work, &["init", "-q", "-b", "main"]);
        std::fs::write(work.join("apps/a.yaml"), "a: 1\n").expect("write");
        git(&work, &["add", "."]);
        git(&work, &["commit", "-q", "-m", "a"]);
        let repos = RepositoryCache::new(base.path().join("cache"));
        let shown = work.display().to_string();
        let url = RepoUrl::parse(&shown).expect("url");

        fetch(&repos, &url, &shown).expect("fetches");
        let (commit, tree) = resolve_tree(&repos, &url, &shown, "main").expect("checks out");
        assert_eq!(commit.len(), 40, "{commit}");
        assert_eq!(
            tree.files_under("apps").expect("lists"),
            vec!["apps/a.yaml"]
        );

        let Err(err) = resolve_tree(&repos, &url, &shown, "no-such-branch") else {
            panic!("an unknown revision was resolved");
        };
        assert!(
            matches!(&err, CheckoutError::Resolve { revision, repo, .. }
                if revision == "no-such-branch" && *repo == shown),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("resolving no-such-branch in {shown}: ")),
            "{err}"
        );

        let missing = base.path().join("missing").display().to_string();
        let url = RepoUrl::parse(&missing).expect("url");
        let err = fetch(&repos, &url, &missing).expect_err("no repository");
        assert!(
            err.to_string()
                .starts_with(&format!("fetching {missing}: ")),
            "{err}"
        );
    }
}
