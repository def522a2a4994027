//! From `--repo`, `--repo-cache`, `--repo-refresh`, `--repo-credentials` and `repositories:`
//! in `strata.yaml` to the resolver of Applications' and ApplicationSets' `repoURL`s.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use strata_core::config::RepositoryMapping;
use strata_sources::repo::{Credentials, Refresh, Repositories, RepositoryCache};

use crate::args::RepoArgs;

/// The resolver of a stack: the repository at `root` (its `origin` remote) is the stack's
/// own, `mappings` (the configuration's, then `--repo`, which win) read local directories, and
/// every other repository is mirrored in `--repo-cache`, else `<default_cache_base>/.strata/repos`.
pub fn resolver(
    args: &RepoArgs,
    root: Option<&Path>,
    mappings: &[RepositoryMapping],
    config_file: Option<&str>,
    default_cache_base: &Path,
) -> anyhow::Result<Arc<Repositories>> {
    let mut repositories = Repositories::new();
    if let Some(root) = root {
        repositories = repositories.with_stack_repository(root);
    }
    for mapping in mappings {
        repositories = repositories
            .with_mapping(&mapping.url, &mapping.path)
            .with_context(|| format!("{}: repositories", config_file.unwrap_or("strata.yaml")))?;
    }
    for value in &args.repos {
        let (url, path) = Repositories::parse_mapping(value)?;
        repositories = repositories.with_mapping(&url, path).context("--repo")?;
    }
    let dir = args
        .repo_cache
        .clone()
        .unwrap_or_else(|| default_cache_base.join(".strata").join("repos"));
    let mut cache =
        RepositoryCache::new(dir).with_refresh(refresh_of(args.repo_refresh.as_deref())?);
    for value in &args.repo_credentials {
        let Some((prefix, variable)) = value.rsplit_once('=') else {
            bail!("--repo-credentials {value:?}: expected PREFIX=VARIABLE");
        };
        let secret = std::env::var(variable).with_context(|| {
            format!("--repo-credentials {prefix}: the environment variable {variable}")
        })?;
        let credentials = match secret.split_once(':') {
            Some((user, password)) => Credentials::basic(user, password),
            None => Credentials::token(secret),
        };
        cache = cache.with_credentials(prefix, credentials);
    }
    Ok(Arc::new(repositories.with_cache(cache)))
}

/// `--repo-refresh`: `always` (default), `never`, or a duration.
fn refresh_of(value: Option<&str>) -> anyhow::Result<Refresh> {
    Ok(match value.map(str::trim) {
        None | Some("" | "always") => Refresh::Always,
        Some("never") => Refresh::Never,
        Some(duration) => {
            Refresh::IfOlderThan(humantime::parse_duration(duration).with_context(|| {
                format!("--repo-refresh {duration:?}: expected always, never or a duration")
            })?)
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn refresh_policies_parse() {
        assert_eq!(refresh_of(None).unwrap(), Refresh::Always);
        assert_eq!(refresh_of(Some("never")).unwrap(), Refresh::Never);
        assert_eq!(
            refresh_of(Some("10m")).unwrap(),
            Refresh::IfOlderThan(std::time::Duration::from_secs(600))
        );
        assert!(refresh_of(Some("sometimes")).is_err());
    }
}
