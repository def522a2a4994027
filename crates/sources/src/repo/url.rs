//! Repository URLs: parsing, the normalized key that identifies a repository, and the
//! redacted form shown in messages.

use std::path::{Path, PathBuf};

use super::RepoError;

/// How a repository is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// A repository on this machine: `file://` URLs and plain paths.
    Local(PathBuf),
    /// Smart HTTP (`http://`).
    Http,
    /// Smart HTTP over TLS (`https://`).
    Https,
    /// The Git daemon protocol (`git://`).
    Git,
    /// SSH (`ssh://` and `[user@]host:path`).
    Ssh,
}

/// A parsed repository URL.
///
/// Its [`key`](RepoUrl::key) identifies the repository whatever the spelling: the scheme of a
/// network URL, user information, default ports, a trailing `.git` and trailing slashes are
/// left out, and the host is lower-cased; `git@host:org/repo` is the same repository as
/// `ssh://git@host/org/repo` and `https://host/org/repo.git`. Local repositories are keyed by
/// their absolute (canonical, when they exist) path.
///
/// ```
/// use strata_sources::repo::RepoUrl;
///
/// let a = RepoUrl::parse("https://GitHub.com/org/platform.git/").unwrap();
/// let b = RepoUrl::parse("git@github.com:org/platform").unwrap();
/// assert_eq!(a.key(), "github.com/org/platform");
/// assert_eq!(a.key(), b.key());
/// let secret = RepoUrl::parse("https://bot:s3cret@git.example.com/org/x.git").unwrap();
/// assert_eq!(secret.to_string(), "https://bot:***@git.example.com/org/x.git");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RepoUrl {
    original: String,
    transport: Transport,
    key: String,
    redacted: String,
    /// `scheme://host[:port]/` for network URLs: what credentials are scoped to.
    origin: Option<String>,
    name: String,
}

impl std::fmt::Debug for RepoUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoUrl")
            .field("url", &self.redacted)
            .field("key", &self.key)
            .finish()
    }
}

/// Shown redacted: user information that may hold a secret is replaced by `***`.
impl std::fmt::Display for RepoUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted)
    }
}

fn invalid(url: &str, reason: &str) -> RepoError {
    RepoError::InvalidUrl {
        url: redact(url),
        reason: reason.to_owned(),
    }
}

/// The default port of a scheme, left out of keys.
fn default_port(scheme: &str) -> Option<&'static str> {
    match scheme {
        "http" => Some("80"),
        "https" => Some("443"),
        "git" => Some("9418"),
        "ssh" => Some("22"),
        _ => None,
    }
}

/// A repository path without duplicate, leading or trailing slashes and without `.git`.
fn clean_path(path: &str) -> String {
    let joined = path
        .split('/')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/");
    let trimmed = joined.strip_suffix(".git").unwrap_or(&joined);
    trimmed.trim_end_matches('/').to_owned()
}

/// The last path segment, without `.git`: the repository's short name.
fn short_name(path: &str) -> String {
    let clean = clean_path(path);
    clean
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("repository")
        .to_owned()
}

/// `url` with any user information that may be a secret replaced by `***`: a password
/// (`user:***@`), or the whole user part of an HTTP URL (a token written as the user name).
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let shown = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None if matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") => {
            "***".to_owned()
        }
        None => userinfo.to_owned(),
    };
    format!("{scheme}://{shown}@{host}{path}")
}

/// A path written like `C:\…` or `C:/…`.
fn is_windows_drive(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[1] == b':'
        && (b.len() == 2 || b[2] == b'\\' || b[2] == b'/')
}

impl RepoUrl {
    /// Parses a repository URL: `https://`, `http://`, `git://`, `ssh://`, scp-like
    /// `[user@]host:path`, `file://` or a local path (relative paths are taken from the
    /// current directory).
    pub fn parse(url: &str) -> Result<Self, RepoError> {
        let trimmed = url.trim();
        if trimmed.is_empty() {
            return Err(invalid(url, "empty repository URL"));
        }
        if let Some((scheme, rest)) = trimmed.split_once("://") {
            let scheme = scheme.to_ascii_lowercase();
            if scheme == "file" {
                // file:///abs/path, file://localhost/abs/path
                let path = rest.strip_prefix("localhost").unwrap_or(rest);
                if !path.starts_with('/') {
                    return Err(invalid(url, "a file:// URL needs an absolute path"));
                }
                return Ok(Self::local(trimmed, Path::new(path)));
            }
            let transport = match scheme.as_str() {
                "http" => Transport::Http,
                "https" => Transport::Https,
                "git" => Transport::Git,
                "ssh" | "git+ssh" | "ssh+git" => Transport::Ssh,
                _ => {
                    return Err(invalid(
                        url,
                        "unsupported scheme (expected https, http, git, ssh or file)",
                    ));
                }
            };
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let (host, port) = split_host_port(host_port);
            if host.is_empty() {
                return Err(invalid(url, "no host"));
            }
            let host = host.to_ascii_lowercase();
            let scheme_name = if transport == Transport::Ssh {
                "ssh"
            } else {
                scheme.as_str()
            };
            let port = port.filter(|p| Some(*p) != default_port(scheme_name));
            let host_key = match port {
                Some(p) => format!("{host}:{p}"),
                None => host.clone(),
            };
            let path = clean_path(path);
            if path.is_empty() {
                return Err(invalid(url, "no repository path"));
            }
            return Ok(Self {
                original: trimmed.to_owned(),
                key: format!("{host_key}/{path}"),
                redacted: redact(trimmed),
                origin: Some(format!("{scheme}://{host_key}/")),
                name: short_name(&path),
                transport,
            });
        }
        // scp-like: [user@]host:path, where no `/` comes before the `:`.
        if let Some(colon) = trimmed.find(':')
            && !is_windows_drive(trimmed)
            && !trimmed[..colon].contains('/')
        {
            let (authority, path) = (&trimmed[..colon], &trimmed[colon + 1..]);
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if host.is_empty() {
                return Err(invalid(url, "no host"));
            }
            let path = clean_path(path);
            if path.is_empty() {
                return Err(invalid(url, "no repository path"));
            }
            let host = host.to_ascii_lowercase();
            return Ok(Self {
                original: trimmed.to_owned(),
                key: format!("{host}/{path}"),
                redacted: trimmed.to_owned(),
                origin: None,
                name: short_name(&path),
                transport: Transport::Ssh,
            });
        }
        let path = Path::new(trimmed);
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|source| RepoError::CurrentDir {
                    url: redact(url),
                    source,
                })?
                .join(path)
        };
        Ok(Self::local(trimmed, &absolute))
    }

    fn local(original: &str, path: &Path) -> Self {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let shown = canonical.to_string_lossy().replace('\\', "/");
        let key_path = clean_path(&shown);
        Self {
            original: original.to_owned(),
            key: format!("file:///{key_path}"),
            redacted: original.to_owned(),
            origin: None,
            name: short_name(&shown),
            transport: Transport::Local(canonical),
        }
    }

    /// The URL as written (it may hold credentials: never show it; [`Display`] redacts).
    ///
    /// [`Display`]: std::fmt::Display
    pub fn as_str(&self) -> &str {
        &self.original
    }

    /// The normalized key identifying the repository (see the type's documentation).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// How the repository is reached.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The repository's short name (its last path segment, without `.git`), shown in
    /// locations: `platform@1a2b3c4:apps/web/cm.yaml`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `scheme://host[:port]/` of a network URL (none for SSH and local repositories).
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// Whether the repository is on this machine (`file://` or a path).
    pub fn is_local(&self) -> bool {
        matches!(self.transport, Transport::Local(_))
    }

    /// What `git` is given to fetch: the URL as written, or the absolute path of a local
    /// repository.
    pub(crate) fn fetch_arg(&self) -> std::ffi::OsString {
        match &self.transport {
            Transport::Local(path) => path.clone().into_os_string(),
            _ => self.original.clone().into(),
        }
    }

    /// The user information written in the URL, if any.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let Some((_, rest)) = self.original.split_once("://") else {
            return Vec::new();
        };
        let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
        match authority.rsplit_once('@') {
            Some((userinfo, _)) => match userinfo.split_once(':') {
                Some((_, password)) if !password.is_empty() => vec![password.to_owned()],
                Some(_) => Vec::new(),
                None if matches!(self.transport, Transport::Http | Transport::Https) => {
                    vec![userinfo.to_owned()]
                }
                None => Vec::new(),
            },
            None => Vec::new(),
        }
    }
}

/// Splits `host[:port]` (and `[v6]:port`).
fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if let Some(rest) = s.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':').filter(|p| !p.is_empty())),
            None => (s, None),
        };
    }
    match s.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) && !port.is_empty() => {
            (host, Some(port))
        }
        Some((host, "")) => (host, None),
        _ => (s, None),
    }
}

/// Whether two URLs name the same repository (their [`RepoUrl::key`]s are equal).
pub fn same_repository(a: &str, b: &str) -> bool {
    match (RepoUrl::parse(a), RepoUrl::parse(b)) {
        (Ok(a), Ok(b)) => a.key == b.key,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn key(url: &str) -> String {
        RepoUrl::parse(url).unwrap().key().to_owned()
    }

    #[test]
    fn spellings_of_one_repository_share_a_key() {
        let expected = "github.com/org/platform";
        for url in [
            "https://github.com/org/platform",
            "https://github.com/org/platform.git",
            "https://github.com/org/platform.git/",
            "https://github.com/org/platform/",
            "HTTPS://GitHub.COM/org/platform",
            "http://github.com:80/org/platform",
            "https://github.com:443/org/platform.git",
            "https://bot:token@github.com/org/platform.git",
            "https://github.com//org//platform",
            "git://github.com/org/platform.git",
            "git://github.com:9418/org/platform",
            "ssh://git@github.com/org/platform.git",
            "ssh://git@github.com:22/org/platform",
            "git@github.com:org/platform.git",
            "github.com:org/platform",
            "git@github.com:/org/platform",
        ] {
            assert_eq!(key(url), expected, "{url}");
        }
    }

    #[test]
    fn ports_paths_and_hosts_tell_repositories_apart() {
        assert_eq!(
            key("http://127.0.0.1:8080/platform.git"),
            "127.0.0.1:8080/platform"
        );
        assert_ne!(
            key("git://127.0.0.1:9000/a.git"),
            key("git://127.0.0.1:9001/a.git")
        );
        assert_ne!(key("https://h/org/a"), key("https://h/org/b"));
        assert_ne!(key("https://h/org/a"), key("https://other/org/a"));
        // Paths keep their case; only the host is case-insensitive.
        assert_ne!(key("https://h/Org/a"), key("https://h/org/a"));
        assert_eq!(key("ssh://git@[::1]:2222/r.git"), "::1:2222/r");
    }

    #[test]
    fn local_repositories_are_keyed_by_absolute_path() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("platform");
        std::fs::create_dir(&repo).unwrap();
        let canonical = std::fs::canonicalize(&repo).unwrap();
        let expected = format!(
            "file:///{}",
            canonical.to_string_lossy().trim_start_matches('/')
        );
        let shown = repo.to_string_lossy().to_string();
        for url in [
            shown.clone(),
            format!("{shown}/"),
            format!("file://{shown}"),
            format!("file://{shown}.git"),
            format!("file://localhost{shown}"),
        ] {
            let parsed = RepoUrl::parse(&url).unwrap();
            assert_eq!(parsed.key(), expected, "{url}");
            assert!(parsed.is_local(), "{url}");
        }
        assert_eq!(RepoUrl::parse(&shown).unwrap().name(), "platform");
    }

    #[test]
    fn malformed_urls_are_refused_with_the_secret_hidden() {
        for (url, reason) in [
            ("", "empty"),
            ("ftp://h/r", "unsupported scheme"),
            ("https:///r", "no host"),
            ("https://h/", "no repository path"),
            ("file://relative/r", "absolute path"),
        ] {
            let err = RepoUrl::parse(url).unwrap_err().to_string();
            assert!(err.contains(reason), "{url}: {err}");
        }
        let err = RepoUrl::parse("ftp://bot:hunter2@h/r")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn user_information_is_redacted() {
        assert_eq!(
            redact("https://bot:s3cret@h/r.git"),
            "https://bot:***@h/r.git"
        );
        assert_eq!(redact("https://ghp_token@h/r.git"), "https://***@h/r.git");
        assert_eq!(redact("ssh://git@h/r.git"), "ssh://git@h/r.git");
        assert_eq!(redact("https://h/r.git"), "https://h/r.git");
        let url = RepoUrl::parse("https://bot:s3cret@h/r.git").unwrap();
        assert_eq!(url.secrets(), vec!["s3cret".to_owned()]);
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(url.origin(), Some("https://h/"));
    }

    #[test]
    fn same_repository_compares_keys() {
        assert!(same_repository(
            "https://github.com/org/platform.git",
            "git@github.com:org/platform"
        ));
        assert!(!same_repository("https://github.com/org/a", "not a url://"));
    }
}
