//! The resolver a stack uses: its own repository, mapped local directories, and the cache.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use strata_core::source::{FsTree, GitTree, SourceTree};

use super::url::RepoUrl;
use super::{RepoError, RepoSource, RepositoryCache, RepositoryResolver};

/// Which tree each `repoURL` is read from, in this order:
///
/// 1. an empty `repoURL` is the stack's own repository;
/// 2. a URL mapped to a local directory ([`Repositories::with_mapping`]: `repositories:` in
///    `strata.yaml`, `--repo URL=PATH`) reads that directory — its working files for `HEAD`
///    (or no revision), else, when it is a Git repository, the revision asked for;
/// 3. the URL of the stack repository's `origin` remote, or the stack repository's own path,
///    is the stack's own repository (read from the stack's tree, at `--revision` when given);
/// 4. when the stack repository has no `origin` remote (or the stack is not in Git), nothing
///    tells which network URL is its own: every `https`, `http`, `git` or `ssh` URL not
///    mapped is read from the stack, as before repositories were resolved (`file://` URLs and
///    paths still go to the cache);
/// 5. anything else goes through the [`RepositoryCache`], at the revision asked for;
///    without a cache it is an error naming the URL.
#[derive(Default)]
pub struct Repositories {
    stack_root: Option<PathBuf>,
    stack_origin: Option<RepoUrl>,
    mappings: Vec<(RepoUrl, PathBuf)>,
    cache: Option<RepositoryCache>,
    chart_settings: Vec<(String, crate::helm::repository::RepositorySettings)>,
    trees: Mutex<HashMap<(PathBuf, String), Arc<dyn SourceTree>>>,
}

impl std::fmt::Debug for Repositories {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repositories")
            .field("stack_root", &self.stack_root)
            .field("stack_origin", &self.stack_origin)
            .field("mappings", &self.mappings)
            .field("cache", &self.cache)
            .finish()
    }
}

impl Repositories {
    /// No stack repository, no mapping, no cache: every network URL is the stack's own and
    /// every local one an error.
    pub fn new() -> Self {
        Self::default()
    }

    /// The stack's repository is the Git repository at `root`; its `origin` remote, if any,
    /// is the URL Applications name it by.
    pub fn with_stack_repository(mut self, root: &Path) -> Self {
        self.stack_origin = gix::discover(root)
            .ok()
            .and_then(|repo| {
                repo.config_snapshot()
                    .string("remote.origin.url")
                    .map(|url| url.to_string())
            })
            .and_then(|url| RepoUrl::parse(&url).ok());
        self.stack_root = Some(std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf()));
        self
    }

    /// Sets the URL of the stack's repository explicitly (instead of its `origin` remote).
    pub fn with_stack_url(mut self, url: &str) -> Result<Self, RepoError> {
        self.stack_origin = Some(RepoUrl::parse(url)?);
        Ok(self)
    }

    /// The URL of the stack's repository, when known.
    pub fn stack_url(&self) -> Option<&RepoUrl> {
        self.stack_origin.as_ref()
    }

    /// Reads `url` from the local directory (or repository) `path`. A later mapping of the
    /// same repository wins.
    pub fn with_mapping(mut self, url: &str, path: impl Into<PathBuf>) -> Result<Self, RepoError> {
        self.mappings.insert(0, (RepoUrl::parse(url)?, path.into()));
        Ok(self)
    }

    /// Fetches every other repository through `cache`.
    pub fn with_cache(mut self, cache: RepositoryCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Downloads charts from the Helm repositories and OCI registries whose URL starts with
    /// `prefix` with `settings` (credentials, CA certificates, `insecure`, plain HTTP for OCI);
    /// the longest matching prefix wins.
    pub fn with_chart_repository(
        mut self,
        prefix: &str,
        settings: crate::helm::repository::RepositorySettings,
    ) -> Self {
        self.chart_settings.push((prefix.to_owned(), settings));
        self
    }

    /// Splits a `--repo` value, `URL=PATH` (at its last `=`).
    pub fn parse_mapping(value: &str) -> Result<(String, PathBuf), RepoError> {
        match value.rsplit_once('=') {
            Some((url, path)) if !url.trim().is_empty() && !path.trim().is_empty() => {
                Ok((url.trim().to_owned(), PathBuf::from(path.trim())))
            }
            _ => Err(RepoError::BadMapping(super::redact(value))),
        }
    }

    fn mapped(&self, url: &RepoUrl, path: &Path, revision: &str) -> Result<RepoSource, RepoError> {
        if !path.exists() {
            return Err(RepoError::MappedPathMissing {
                url: url.to_string(),
                path: path.to_path_buf(),
            });
        }
        let head = revision.is_empty() || revision == "HEAD";
        let in_git = crate::stack::repository_of(path).is_some()
            || (path.join("HEAD").is_file() && path.join("objects").is_dir());
        if head || !in_git {
            return Ok(RepoSource::Tree(Arc::new(FsTree::new(path))));
        }
        let mut trees = self.trees.lock().unwrap_or_else(PoisonError::into_inner);
        let memo_key = (path.to_path_buf(), revision.to_owned());
        if let Some(tree) = trees.get(&memo_key) {
            return Ok(RepoSource::Tree(Arc::clone(tree)));
        }
        let tree: Arc<dyn SourceTree> = Arc::new(
            GitTree::open(path, revision)
                .map_err(|source| RepoError::Read {
                    url: url.to_string(),
                    source,
                })?
                .labelled(url.name(), revision),
        );
        trees.insert(memo_key, Arc::clone(&tree));
        Ok(RepoSource::Tree(tree))
    }

    fn is_stack(&self, url: &RepoUrl) -> bool {
        if let Some(origin) = &self.stack_origin
            && origin.key() == url.key()
        {
            return true;
        }
        match (url.transport(), &self.stack_root) {
            (super::Transport::Local(path), Some(root)) => {
                let strip = |p: &Path| {
                    let s = p.to_string_lossy();
                    s.strip_suffix("/.git")
                        .map(str::to_owned)
                        .unwrap_or_else(|| s.into_owned())
                };
                strip(path) == strip(root)
            }
            (super::Transport::Local(_), None) => false,
            // Nothing says which network URL the stack's repository has.
            _ => self.stack_origin.is_none(),
        }
    }
}

impl RepositoryResolver for Repositories {
    fn resolve(&self, repo_url: &str, revision: &str) -> Result<RepoSource, RepoError> {
        if repo_url.trim().is_empty() {
            return Ok(RepoSource::Stack);
        }
        let url = RepoUrl::parse(repo_url)?;
        if let Some((_, path)) = self.mappings.iter().find(|(m, _)| m.key() == url.key()) {
            return self.mapped(&url, path, revision);
        }
        if self.is_stack(&url) {
            return Ok(RepoSource::Stack);
        }
        match &self.cache {
            Some(cache) => Ok(RepoSource::Tree(
                cache.tree(&url, revision)? as Arc<dyn SourceTree>
            )),
            None => Err(RepoError::Unresolvable {
                url: url.to_string(),
            }),
        }
    }

    fn chart_cache_dir(&self) -> Option<PathBuf> {
        self.cache.as_ref().map(|c| c.dir().join("helm-charts"))
    }

    fn chart_repositories(&self) -> Option<crate::helm::repository::ChartRepositories> {
        let mut charts = crate::helm::repository::ChartRepositories::new(self.chart_cache_dir()?);
        // The repositories' credentials (`--repo-credentials`, repository Secrets) serve chart
        // downloads too; chart settings with credentials of their own win.
        for (prefix, user, secret) in self.cache.iter().flat_map(|c| c.all_credentials()) {
            charts = charts.with_settings(
                &prefix,
                crate::helm::repository::RepositorySettings::new().with_credentials(&user, &secret),
            );
        }
        for (prefix, settings) in &self.chart_settings {
            charts = charts.with_settings(prefix, settings.clone());
        }
        Some(charts)
    }
}
