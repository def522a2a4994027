//! The repository cache: a directory of bare mirrors, one per repository key, fetched with
//! `git` and read with gix.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use sha2::{Digest, Sha256};
use strata_core::source::GitTree;

use super::RepoError;
use super::url::{RepoUrl, Transport};

/// The file whose modification time records a mirror's last successful fetch.
const STAMP: &str = "strata-fetched";
/// The ref a mirror keeps the remote's `HEAD` (its default branch) under.
const REMOTE_HEAD: &str = "refs/strata/HEAD";

/// When an existing mirror is fetched again. A mirror that does not exist yet is always
/// cloned, and a revision missing from a mirror fetches it once (unless `Never`); within one
/// [`RepositoryCache`] a repository is fetched at most once, whatever the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Refresh {
    /// Never fetch an existing mirror (work offline from what it holds).
    Never,
    /// Fetch when the last fetch is older than this.
    IfOlderThan(Duration),
    /// Fetch on first use by each cache (each run).
    #[default]
    Always,
}

/// A user name and a password or token for HTTP(S) repositories, sent as HTTP basic
/// authentication. Never shown: `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    username: String,
    secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("secret", &"***")
            .finish()
    }
}

impl Credentials {
    /// A user name and password.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            secret: password.into(),
        }
    }

    /// An access token, sent as the password of the user `x-access-token` (what GitHub,
    /// GitLab and Gitea accept).
    pub fn token(token: impl Into<String>) -> Self {
        Self::basic("x-access-token", token)
    }

    fn header(&self) -> String {
        let pair = format!("{}:{}", self.username, self.secret);
        format!(
            "Authorization: Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

/// A credentials prefix as a key prefix: no scheme, no user information, the host
/// lower-cased, no trailing slash.
fn prefix_key(prefix: &str) -> String {
    let rest = prefix.split_once("://").map_or(prefix, |(_, r)| r);
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, h)| h)
        .to_ascii_lowercase();
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    format!("{host}{path}")
}

#[derive(Default)]
struct Memo {
    /// Keys fetched (or found fresh) by this cache.
    checked: HashSet<String>,
    /// Trees read, by key and commit.
    trees: HashMap<(String, String), Arc<GitTree>>,
}

/// A directory of bare mirrors of remote repositories, keyed by [`RepoUrl::key`].
///
/// [`RepositoryCache::tree`] clones a repository on first use (`git init --bare` and `git
/// fetch` of its branches, tags and `HEAD`), fetches it again as the [`Refresh`] policy says,
/// resolves the revision (`HEAD` or empty: the remote's default branch; a branch; a tag; a
/// full or abbreviated commit id) and reads the commit's tree from the object database,
/// without a checkout. A file lock per mirror keeps two processes from fetching into one
/// mirror at once.
pub struct RepositoryCache {
    dir: PathBuf,
    refresh: Refresh,
    credentials: Vec<(String, Credentials)>,
    runtime_credentials: std::sync::RwLock<Vec<(String, Credentials)>>,
    git: PathBuf,
    memo: Mutex<Memo>,
}

impl std::fmt::Debug for RepositoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepositoryCache")
            .field("dir", &self.dir)
            .field("refresh", &self.refresh)
            .field(
                "credentials",
                &self.credentials.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl RepositoryCache {
    /// A cache keeping its mirrors in `dir` (created on first fetch), fetching on first use
    /// ([`Refresh::Always`]).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            refresh: Refresh::default(),
            credentials: Vec::new(),
            runtime_credentials: std::sync::RwLock::new(Vec::new()),
            git: PathBuf::from("git"),
            memo: Mutex::new(Memo::default()),
        }
    }

    /// Sets when existing mirrors are fetched again.
    pub fn with_refresh(mut self, refresh: Refresh) -> Self {
        self.refresh = refresh;
        self
    }

    /// Uses `credentials` for the HTTP(S) repositories whose URL starts with `prefix`
    /// (compared without scheme and user information: `https://git.example.com/team/`); the
    /// longest matching prefix wins.
    pub fn with_credentials(mut self, prefix: &str, credentials: Credentials) -> Self {
        self.credentials.push((prefix_key(prefix), credentials));
        self
    }

    /// Replaces the credentials given at run time (a controller re-reading its repository
    /// Secrets), each for the repositories whose URL starts with its prefix; those given with
    /// [`RepositoryCache::with_credentials`] stay.
    pub fn set_runtime_credentials(&self, credentials: Vec<(String, Credentials)>) {
        let keyed = credentials
            .into_iter()
            .map(|(prefix, c)| (prefix_key(&prefix), c))
            .collect();
        *self
            .runtime_credentials
            .write()
            .unwrap_or_else(PoisonError::into_inner) = keyed;
    }

    /// Runs this `git` executable instead of the one on `PATH`.
    pub fn with_git(mut self, git: impl Into<PathBuf>) -> Self {
        self.git = git.into();
        self
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The mirror directory of `url` (whether or not it exists yet): a readable form of the
    /// key and a digest of it.
    pub fn mirror_path(&self, url: &RepoUrl) -> PathBuf {
        self.dir.join(mirror_name(url.key()))
    }

    /// Makes sure the mirror of `url` exists and is as fresh as the policy asks; returns its
    /// directory.
    pub fn fetch(&self, url: &RepoUrl) -> Result<PathBuf, RepoError> {
        let mut memo = self.memo.lock().unwrap_or_else(PoisonError::into_inner);
        self.fetch_locked(url, &mut memo, false)
    }

    /// Fetches the mirror of `url` now, whatever the [`Refresh`] policy and earlier fetches
    /// say (a controller's periodic or webhook refresh); returns its directory.
    pub fn fetch_now(&self, url: &RepoUrl) -> Result<PathBuf, RepoError> {
        let mut memo = self.memo.lock().unwrap_or_else(PoisonError::into_inner);
        self.fetch_locked(url, &mut memo, true)
    }

    /// The commit id (full hex) `revision` names in `url`, fetching as needed.
    pub fn resolve(&self, url: &RepoUrl, revision: &str) -> Result<String, RepoError> {
        let mut memo = self.memo.lock().unwrap_or_else(PoisonError::into_inner);
        self.resolve_locked(url, revision, &mut memo)
    }

    /// The tree of `url` at `revision`, fetching as needed. Its locations read
    /// `name@commit7:path`, `name` being the repository's short name.
    pub fn tree(&self, url: &RepoUrl, revision: &str) -> Result<Arc<GitTree>, RepoError> {
        let mut memo = self.memo.lock().unwrap_or_else(PoisonError::into_inner);
        let commit = self.resolve_locked(url, revision, &mut memo)?;
        let memo_key = (url.key().to_owned(), commit.clone());
        if let Some(tree) = memo.trees.get(&memo_key) {
            return Ok(Arc::clone(tree));
        }
        let shown = if revision.is_empty() {
            "HEAD"
        } else {
            revision
        };
        let tree = GitTree::open(&self.mirror_path(url), &commit)
            .map(|t| Arc::new(t.labelled(url.name(), shown)))
            .map_err(|source| RepoError::Read {
                url: url.to_string(),
                source,
            })?;
        memo.trees.insert(memo_key, Arc::clone(&tree));
        Ok(tree)
    }

    fn resolve_locked(
        &self,
        url: &RepoUrl,
        revision: &str,
        memo: &mut Memo,
    ) -> Result<String, RepoError> {
        let mirror = self.mirror_path(url);
        // A full commit id already in the mirror never changes: no fetch needed.
        if is_full_id(revision)
            && mirror.join("HEAD").is_file()
            && let Some(commit) = resolve_in(&mirror, url, revision)?
        {
            return Ok(commit);
        }
        let fetched = self.fetch_locked(url, memo, false)?;
        if let Some(commit) = resolve_in(&fetched, url, revision)? {
            return Ok(commit);
        }
        // Unknown in a mirror this cache did not fetch itself: fetch once and look again.
        if self.refresh != Refresh::Never
            && !memo.checked.contains(&format!("fetched:{}", url.key()))
        {
            let fetched = self.fetch_locked(url, memo, true)?;
            if let Some(commit) = resolve_in(&fetched, url, revision)? {
                return Ok(commit);
            }
        }
        Err(RepoError::UnknownRevision {
            url: url.to_string(),
            revision: revision.to_owned(),
        })
    }

    fn fetch_locked(
        &self,
        url: &RepoUrl,
        memo: &mut Memo,
        force: bool,
    ) -> Result<PathBuf, RepoError> {
        let mirror = self.mirror_path(url);
        if !force && memo.checked.contains(url.key()) {
            return Ok(mirror);
        }
        let io = |path: &Path, source| RepoError::Io {
            url: url.to_string(),
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(|source| io(&self.dir, source))?;
        let lock_path = sibling(&mirror, "lock");
        let lock = File::create(&lock_path).map_err(|source| io(&lock_path, source))?;
        lock.lock().map_err(|source| io(&lock_path, source))?;
        let stamp = mirror.join(STAMP);
        let exists = mirror.join("HEAD").is_file() && stamp.is_file();
        let stale = match self.refresh {
            Refresh::Never => false,
            Refresh::Always => true,
            Refresh::IfOlderThan(max) => std::fs::metadata(&stamp)
                .and_then(|m| m.modified())
                .map(|at| SystemTime::now().duration_since(at).unwrap_or_default() > max)
                .unwrap_or(true),
        };
        if !exists {
            // Cloned aside and moved into place, so a failed clone leaves no mirror behind.
            let partial = sibling(&mirror, "partial");
            if partial.exists() {
                std::fs::remove_dir_all(&partial).map_err(|source| io(&partial, source))?;
            }
            if mirror.exists() {
                std::fs::remove_dir_all(&mirror).map_err(|source| io(&mirror, source))?;
            }
            let mut init = vec![OsString::from("init"), "--bare".into(), "--quiet".into()];
            init.push(partial.clone().into_os_string());
            self.git(url, None, &init)?;
            let result = self
                .fetch_into(url, &partial)
                .and_then(|()| {
                    std::fs::write(partial.join(STAMP), b"").map_err(|source| io(&partial, source))
                })
                .and_then(|()| {
                    std::fs::rename(&partial, &mirror).map_err(|source| io(&mirror, source))
                });
            if result.is_err() {
                // Best effort: the next clone starts by removing it anyway.
                let _ = std::fs::remove_dir_all(&partial);
            }
            result?;
            memo.checked.insert(format!("fetched:{}", url.key()));
        } else if stale || force {
            self.fetch_into(url, &mirror)?;
            std::fs::write(&stamp, b"").map_err(|source| io(&stamp, source))?;
            memo.checked.insert(format!("fetched:{}", url.key()));
        }
        drop(lock);
        memo.checked.insert(url.key().to_owned());
        Ok(mirror)
    }

    fn fetch_into(&self, url: &RepoUrl, mirror: &Path) -> Result<(), RepoError> {
        let mut args: Vec<OsString> = [
            "fetch",
            "--quiet",
            "--prune",
            "--force",
            "--no-write-fetch-head",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        args.push(url.fetch_arg());
        args.extend(
            ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]
                .iter()
                .map(OsString::from),
        );
        args.push(format!("+HEAD:{REMOTE_HEAD}").into());
        self.git(url, Some(mirror), &args)
    }

    /// Every credential (given when built, then at run time) with its prefix key: user name
    /// and secret. Helm repositories and OCI registries use them too, as ArgoCD's repository
    /// Secrets serve Git and Helm alike.
    pub(crate) fn all_credentials(&self) -> Vec<(String, String, String)> {
        let runtime = self
            .runtime_credentials
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        self.credentials
            .iter()
            .chain(runtime.iter())
            .map(|(p, c)| (p.clone(), c.username.clone(), c.secret.clone()))
            .collect()
    }

    fn credentials_for(&self, url: &RepoUrl) -> Option<Credentials> {
        if !matches!(url.transport(), Transport::Http | Transport::Https) {
            return None;
        }
        let key = url.key();
        let runtime = self
            .runtime_credentials
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        self.credentials
            .iter()
            .chain(runtime.iter())
            .filter(|(p, _)| key == p || key.starts_with(&format!("{}/", p.trim_end_matches('/'))))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, c)| c.clone())
    }

    /// Runs `git` for `url` (in `git_dir` when given), its output redacted in errors.
    fn git(
        &self,
        url: &RepoUrl,
        git_dir: Option<&Path>,
        args: &[OsString],
    ) -> Result<(), RepoError> {
        let mut command = Command::new(&self.git);
        if let Some(dir) = git_dir {
            command.arg(OsStr::new("--git-dir")).arg(dir);
        }
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GCM_INTERACTIVE", "never")
            .env("LC_ALL", "C");
        for inherited in [
            "GIT_DIR",
            "GIT_WORK_TREE",
            "GIT_INDEX_FILE",
            "GIT_OBJECT_DIRECTORY",
            "GIT_ALTERNATE_OBJECT_DIRECTORIES",
            "GIT_CONFIG_COUNT",
        ] {
            command.env_remove(inherited);
        }
        let mut secrets = url.secrets();
        if let (Some(credentials), Some(origin)) = (self.credentials_for(url), url.origin()) {
            // Passed in the environment (readable by this user only), never on the command
            // line, and scoped to the repository's host.
            let header = credentials.header();
            command
                .env("GIT_CONFIG_COUNT", "1")
                .env("GIT_CONFIG_KEY_0", format!("http.{origin}.extraHeader"))
                .env("GIT_CONFIG_VALUE_0", &header);
            secrets.push(credentials.secret.clone());
            if let Some(encoded) = header.strip_prefix("Authorization: Basic ") {
                secrets.push(encoded.to_owned());
            }
        }
        let output = command.output().map_err(|source| RepoError::Spawn {
            url: url.to_string(),
            source,
        })?;
        if output.status.success() {
            return Ok(());
        }
        let mut stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        stderr = stderr.replace(url.as_str(), &url.to_string());
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            stderr = stderr.replace(secret.as_str(), "***");
        }
        if stderr.is_empty() {
            stderr = format!("git exited with {}", output.status);
        }
        Err(RepoError::Fetch {
            url: url.to_string(),
            stderr,
        })
    }
}

/// The directory name of a key: its readable characters and 12 hex digits of its digest.
fn mirror_name(key: &str) -> String {
    let readable: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let readable = readable.trim_matches('-');
    let readable: String = readable
        .chars()
        .rev()
        .take(60)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    format!("{}-{}", readable.trim_start_matches('-'), &digest[..12])
}

/// `<mirror>.<suffix>` beside the mirror (its name has dots of its own).
fn sibling(mirror: &Path, suffix: &str) -> PathBuf {
    let mut name = mirror.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

fn is_full_id(revision: &str) -> bool {
    revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit())
}

fn read_err(url: &RepoUrl, source: impl std::error::Error + Send + Sync + 'static) -> RepoError {
    RepoError::Git {
        url: url.to_string(),
        source: Box::new(source),
    }
}

/// The commit `revision` names in the repository at `git_dir`, if any: `HEAD` (or empty) the
/// remote's default branch, a full ref name, a branch, a tag, or a (possibly abbreviated)
/// commit id, in that order.
pub(crate) fn resolve_in(
    git_dir: &Path,
    url: &RepoUrl,
    revision: &str,
) -> Result<Option<String>, RepoError> {
    let repo = gix::open(git_dir).map_err(|source| read_err(url, source))?;
    let refs: Vec<String> = match revision {
        "" | "HEAD" => vec![REMOTE_HEAD.to_owned(), "HEAD".to_owned()],
        r if r.starts_with("refs/") => vec![r.to_owned()],
        r => vec![format!("refs/heads/{r}"), format!("refs/tags/{r}")],
    };
    for name in &refs {
        let found = if name == "HEAD" {
            repo.head_id().ok().map(|id| id.detach())
        } else {
            match repo.try_find_reference(name.as_str()) {
                Ok(Some(mut reference)) => Some(
                    reference
                        .peel_to_id()
                        .map_err(|source| read_err(url, source))?
                        .detach(),
                ),
                Ok(None) => None,
                Err(source) => return Err(read_err(url, source)),
            }
        };
        if let Some(id) = found {
            let commit = repo
                .find_object(id)
                .map_err(|source| read_err(url, source))?
                .peel_to_commit()
                .map_err(|source| RepoError::NotACommit {
                    url: url.to_string(),
                    name: name.clone(),
                    source: Box::new(source),
                })?;
            return Ok(Some(commit.id.to_string()));
        }
    }
    let hex = revision.len() >= 4
        && revision.len() <= 40
        && revision.chars().all(|c| c.is_ascii_hexdigit());
    if hex
        && let Ok(id) = repo.rev_parse_single(revision)
        && let Ok(object) = id.object()
        && let Ok(commit) = object.peel_to_commit()
    {
        return Ok(Some(commit.id.to_string()));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use strata_core::source::SourceTree;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn commit(dir: &Path, file: &str, text: &str) -> String {
        std::fs::write(dir.join(file), text).unwrap();
        git(dir, &["add", "."]);
        git(dir, &["commit", "-q", "-m", text]);
        git(dir, &["rev-parse", "HEAD"])
    }

    /// A repository with `main` (two commits), a branch `feature`, a lightweight tag `v1` and
    /// an annotated tag `v2`; returns it and the commits (first, second, feature).
    fn upstream() -> (tempfile::TempDir, [String; 3]) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        git(d, &["init", "-q", "-b", "main"]);
        let first = commit(d, "a.txt", "one");
        git(d, &["tag", "v1"]);
        git(d, &["checkout", "-q", "-b", "feature"]);
        let feature = commit(d, "a.txt", "feature");
        git(d, &["checkout", "-q", "main"]);
        let second = commit(d, "a.txt", "two");
        git(d, &["tag", "-a", "v2", "-m", "release two"]);
        (dir, [first, second, feature])
    }

    #[test]
    fn revisions_resolve_to_commits() {
        let (up, [first, second, feature]) = upstream();
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = RepositoryCache::new(cache_dir.path());
        let url = RepoUrl::parse(&format!("file://{}", up.path().display())).unwrap();
        for (revision, expected) in [
            ("", &second),
            ("HEAD", &second),
            ("main", &second),
            ("refs/heads/main", &second),
            ("feature", &feature),
            ("v1", &first),
            ("v2", &second),
            ("refs/tags/v2", &second),
            (first.as_str(), &first),
            (&feature[..8], &feature),
        ] {
            assert_eq!(
                &cache.resolve(&url, revision).unwrap(),
                expected,
                "{revision}"
            );
        }
        let err = cache.resolve(&url, "no-such-branch").unwrap_err();
        assert!(matches!(err, RepoError::UnknownRevision { .. }), "{err}");
        assert!(err.to_string().contains("no-such-branch"), "{err}");

        let tree = cache.tree(&url, "v1").unwrap();
        assert_eq!(tree.read("a.txt").unwrap(), b"one");
        assert_eq!(tree.commit(), first);
        let shown = tree.location("a.txt", 0, 1).to_string();
        let name = url.name();
        assert!(
            shown.starts_with(&format!("{name}@{}:a.txt", &first[..7])),
            "{shown}"
        );
        // The mirror is bare: no checkout.
        let mirror = cache.mirror_path(&url);
        assert!(mirror.join("HEAD").is_file() && !mirror.join("a.txt").exists());
    }

    #[test]
    fn the_refresh_policy_decides_when_a_mirror_is_fetched_again() {
        let (up, [_, second, _]) = upstream();
        let cache_dir = tempfile::tempdir().unwrap();
        let url = RepoUrl::parse(&up.path().display().to_string()).unwrap();
        let first_run = RepositoryCache::new(cache_dir.path());
        assert_eq!(first_run.resolve(&url, "main").unwrap(), second);
        let third = commit(up.path(), "a.txt", "three");
        // One cache fetches a repository once.
        assert_eq!(first_run.resolve(&url, "main").unwrap(), second);

        let offline = RepositoryCache::new(cache_dir.path()).with_refresh(Refresh::Never);
        assert_eq!(offline.resolve(&url, "main").unwrap(), second);
        let fresh = RepositoryCache::new(cache_dir.path())
            .with_refresh(Refresh::IfOlderThan(Duration::from_secs(3600)));
        assert_eq!(fresh.resolve(&url, "main").unwrap(), second);
        let stale = RepositoryCache::new(cache_dir.path())
            .with_refresh(Refresh::IfOlderThan(Duration::ZERO));
        assert_eq!(stale.resolve(&url, "main").unwrap(), third);

        // A revision the mirror lacks fetches once, unless the policy is never.
        git(up.path(), &["tag", "v3"]);
        let never = RepositoryCache::new(cache_dir.path()).with_refresh(Refresh::Never);
        assert!(never.resolve(&url, "v3").is_err());
        let fresh = RepositoryCache::new(cache_dir.path())
            .with_refresh(Refresh::IfOlderThan(Duration::from_secs(3600)));
        assert_eq!(fresh.resolve(&url, "v3").unwrap(), third);
    }

    #[test]
    fn a_failed_clone_leaves_no_mirror_and_names_the_repository() {
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = RepositoryCache::new(cache_dir.path());
        let url = RepoUrl::parse("file:///nonexistent/strata/platform.git").unwrap();
        let err = cache.resolve(&url, "main").unwrap_err().to_string();
        assert!(
            err.contains("file:///nonexistent/strata/platform.git"),
            "{err}"
        );
        assert!(err.contains("fetching failed"), "{err}");
        assert!(!cache.mirror_path(&url).exists());
        assert!(!sibling(&cache.mirror_path(&url), "partial").exists());
    }

    #[test]
    fn mirror_names_are_readable_and_distinct() {
        let a = mirror_name("github.com/org/platform");
        assert!(a.starts_with("github.com-org-platform-"), "{a}");
        assert_ne!(a, mirror_name("github.com/org-platform"));
        let long = mirror_name(&format!("h/{}", "x".repeat(200)));
        assert!(long.len() <= 60 + 13, "{long}");
    }

    #[test]
    fn credentials_match_the_longest_prefix_and_never_show() {
        let cache = RepositoryCache::new("/nowhere")
            .with_credentials("https://git.example.com/", Credentials::basic("a", "one"))
            .with_credentials(
                "https://bot@git.example.com/team/",
                Credentials::token("two"),
            );
        let team = RepoUrl::parse("https://git.example.com/team/app.git").unwrap();
        let other = RepoUrl::parse("https://git.example.com/other/app.git").unwrap();
        let elsewhere = RepoUrl::parse("https://git.example.org/team/app.git").unwrap();
        let ssh = RepoUrl::parse("git@git.example.com:team/app.git").unwrap();
        assert_eq!(
            cache.credentials_for(&team),
            Some(Credentials::token("two"))
        );
        assert_eq!(
            cache.credentials_for(&other),
            Some(Credentials::basic("a", "one"))
        );
        assert_eq!(cache.credentials_for(&elsewhere), None);
        assert_eq!(cache.credentials_for(&ssh), None);
        let shown = format!("{cache:?} {:?}", Credentials::token("two"));
        assert!(
            !shown.contains("one") && !shown.contains("\"two\""),
            "{shown}"
        );
    }
}
