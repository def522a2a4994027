//! From `--repo`, `--repo-cache`, `--repo-refresh`, `--repo-credentials`, the `--chart-repo-*`
//! settings and `repositories:` in `strata.yaml` to the resolver of Applications' and ApplicationSets' `repoURL`s.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use strata_core::config::RepositoryMapping;
use strata_sources::helm::repository::RepositorySettings;
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
    for (prefix, settings) in chart_settings(args)? {
        repositories = repositories.with_chart_repository(&prefix, settings);
    }
    Ok(Arc::new(repositories.with_cache(cache)))
}

/// `--chart-repo-ca`, `--chart-repo-client-cert` with `--chart-repo-client-key`,
/// `--chart-repo-insecure`, `--chart-repo-plain-http` and `--chart-repo-enable-oci`, merged by
/// prefix.
fn chart_settings(args: &RepoArgs) -> anyhow::Result<Vec<(String, RepositorySettings)>> {
    let mut by_prefix: BTreeMap<String, RepositorySettings> = BTreeMap::new();
    for value in &args.chart_repo_ca {
        let Some((prefix, file)) = value.rsplit_once('=') else {
            bail!("--chart-repo-ca {value:?}: expected PREFIX=FILE");
        };
        let pem = std::fs::read(file.trim())
            .with_context(|| format!("--chart-repo-ca {prefix}: reading {file}"))?;
        let settings = by_prefix.entry(prefix.trim().to_owned()).or_default();
        *settings = std::mem::take(settings).with_ca_data(pem);
    }
    let read_by_prefix =
        |flag: &str, values: &[String]| -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
            let mut files = BTreeMap::new();
            for value in values {
                let Some((prefix, file)) = value.rsplit_once('=') else {
                    bail!("{flag} {value:?}: expected PREFIX=FILE");
                };
                let pem = std::fs::read(file.trim())
                    .with_context(|| format!("{flag} {prefix}: reading {file}"))?;
                files.insert(prefix.trim().to_owned(), pem);
            }
            Ok(files)
        };
    let certs = read_by_prefix("--chart-repo-client-cert", &args.chart_repo_client_cert)?;
    let mut keys = read_by_prefix("--chart-repo-client-key", &args.chart_repo_client_key)?;
    for (prefix, cert) in certs {
        let Some(key) = keys.remove(&prefix) else {
            bail!("--chart-repo-client-cert {prefix}: no --chart-repo-client-key for {prefix}");
        };
        let settings = by_prefix.entry(prefix).or_default();
        *settings = std::mem::take(settings).with_client_cert(cert, key);
    }
    if let Some(prefix) = keys.keys().next() {
        bail!("--chart-repo-client-key {prefix}: no --chart-repo-client-cert for {prefix}");
    }
    for prefix in &args.chart_repo_insecure {
        let settings = by_prefix.entry(prefix.trim().to_owned()).or_default();
        *settings = std::mem::take(settings).with_insecure(true);
    }
    for prefix in &args.chart_repo_plain_http {
        let settings = by_prefix.entry(prefix.trim().to_owned()).or_default();
        *settings = std::mem::take(settings).with_force_http(true);
    }
    for prefix in &args.chart_repo_enable_oci {
        let settings = by_prefix.entry(prefix.trim().to_owned()).or_default();
        *settings = std::mem::take(settings).with_enable_oci(true);
    }
    Ok(by_prefix.into_iter().collect())
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
    fn chart_repository_settings_merge_by_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let args = RepoArgs {
            chart_repo_ca: vec![format!("https://charts.example.com={}", ca.display())],
            chart_repo_insecure: vec!["https://charts.example.com".to_owned()],
            chart_repo_plain_http: vec!["oci://localhost:5000".to_owned()],
            chart_repo_enable_oci: vec!["oci://localhost:5000".to_owned()],
            ..RepoArgs::default()
        };
        let settings = chart_settings(&args).unwrap();
        assert_eq!(settings.len(), 2);
        assert!(settings[1].1.enable_oci && !settings[0].1.enable_oci);
        let (prefix, charts) = &settings[0];
        assert_eq!(prefix, "https://charts.example.com");
        assert!(charts.insecure && charts.ca_data.is_some() && !charts.force_http);
        assert!(settings[1].1.force_http);
        let missing = RepoArgs {
            chart_repo_ca: vec!["https://x=/nonexistent/ca.pem".to_owned()],
            ..RepoArgs::default()
        };
        assert!(chart_settings(&missing).is_err());
    }

    #[test]
    fn a_client_certificate_needs_its_key_for_the_same_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        std::fs::write(&cert, "cert").unwrap();
        std::fs::write(&key, "key").unwrap();
        let prefix = "https://charts.example.com";
        let args = RepoArgs {
            chart_repo_client_cert: vec![format!("{prefix}={}", cert.display())],
            chart_repo_client_key: vec![format!("{prefix}={}", key.display())],
            ..RepoArgs::default()
        };
        let settings = chart_settings(&args).unwrap();
        assert_eq!(settings[0].0, prefix);
        assert_eq!(
            settings[0].1.client_cert,
            Some((b"cert".to_vec(), b"key".to_vec()))
        );
        let alone = RepoArgs {
            chart_repo_client_cert: vec![format!("{prefix}={}", cert.display())],
            ..RepoArgs::default()
        };
        let err = chart_settings(&alone).unwrap_err().to_string();
        assert!(err.contains("--chart-repo-client-key"), "{err}");
        let key_alone = RepoArgs {
            chart_repo_client_key: vec![format!("{prefix}={}", key.display())],
            ..RepoArgs::default()
        };
        assert!(chart_settings(&key_alone).is_err());
    }

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
