//! A source tree over one revision of a local Git repository, read from the object database
//! without a checkout (gix).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use super::{Entry, EntryKind, GitStep, SourceError, SourceOrigin, SourceTree, normalize};

/// One revision of a local Git repository as a [`SourceTree`].
///
/// Opening resolves the revision (a branch, tag, commit id or any `git rev-parse` expression)
/// to a commit and reads its tree; the working directory and the index are never looked at, so
/// uncommitted changes are invisible. Blobs are read once, when the tree is opened.
#[derive(Debug, Clone)]
pub struct GitTree {
    origin: SourceOrigin,
    /// Path of the tree's root inside the repository (`""` for the repository root).
    prefix: String,
    files: BTreeMap<String, Arc<[u8]>>,
    dirs: BTreeMap<String, Vec<Entry>>,
}

/// Maps Git's error met at `step` of reading `revision` from the repository at `dir`.
fn failed<'a, E>(
    dir: &'a Path,
    revision: &'a str,
    step: GitStep,
) -> impl FnOnce(E) -> SourceError + 'a
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |source| SourceError::git_read(dir, Some(revision), step, source)
}

impl GitTree {
    /// Opens the repository containing `dir` and reads `revision`. The tree is rooted at
    /// `dir`: when `dir` is a subdirectory of the work tree, only that part of the revision is
    /// visible, with paths relative to it.
    pub fn open(dir: &Path, revision: &str) -> Result<Self, SourceError> {
        let repo = gix::discover(dir)
            .map_err(|source| SourceError::git_read(dir, None, GitStep::Open, source))?;
        let workdir = repo
            .workdir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| repo.git_dir().to_path_buf());
        let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let (workdir, dir_abs) = (canon(&workdir), canon(dir));
        let prefix = dir_abs
            .strip_prefix(&workdir)
            .map(|p| {
                p.components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_default();
        let repo_name = workdir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "repo".into());
        let id =
            repo.rev_parse_single(revision)
                .map_err(failed(dir, revision, GitStep::Resolve))?;
        let commit = id.detach().to_string();
        let tree = id
            .object()
            .map_err(failed(dir, revision, GitStep::FindRevision))?
            .peel_to_tree()
            .map_err(failed(dir, revision, GitStep::PeelToTree))?;
        let records = tree.traverse().breadthfirst.files().map_err(failed(
            dir,
            revision,
            GitStep::ListTree,
        ))?;
        let mut files = BTreeMap::new();
        let mut dir_set: BTreeSet<String> = BTreeSet::new();
        let strip = |full: &str| -> Option<String> {
            if prefix.is_empty() {
                Some(full.to_string())
            } else {
                full.strip_prefix(prefix.as_str())
                    .and_then(|r| r.strip_prefix('/'))
                    .map(String::from)
            }
        };
        for record in records {
            let full = record.filepath.to_string();
            let Some(rel) = strip(&full) else { continue };
            let segments: Vec<&str> = rel.split('/').collect();
            let dir_segments = if record.mode.is_tree() {
                &segments[..]
            } else {
                &segments[..segments.len().saturating_sub(1)]
            };
            if dir_segments.iter().any(|s| super::SKIPPED_DIRS.contains(s)) {
                continue;
            }
            if record.mode.is_tree() {
                dir_set.insert(rel);
            } else if record.mode.is_blob() {
                let blob = repo.find_object(record.oid).map_err(failed(
                    dir,
                    revision,
                    GitStep::ReadObject { path: full.clone() },
                ))?;
                files.insert(rel, Arc::from(blob.data.as_slice()));
            }
        }
        let mut dirs: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
        dirs.insert(String::new(), Vec::new());
        for d in &dir_set {
            dirs.entry(d.clone()).or_default();
        }
        for d in &dir_set {
            let (parent, name) = split(d);
            dirs.entry(parent.to_string()).or_default().push(Entry {
                name: name.to_string(),
                kind: EntryKind::Dir,
            });
        }
        for f in files.keys() {
            let (parent, name) = split(f);
            dirs.entry(parent.to_string()).or_default().push(Entry {
                name: name.to_string(),
                kind: EntryKind::File,
            });
        }
        for entries in dirs.values_mut() {
            entries.sort();
        }
        if !prefix.is_empty() && files.is_empty() && dir_set.is_empty() {
            return Err(SourceError::Git(format!(
                "{prefix}: not in revision {revision:?} of {}",
                workdir.display()
            )));
        }
        Ok(Self {
            origin: SourceOrigin {
                root: dir.to_path_buf(),
                repo: Some(repo_name),
                revision: Some(revision.to_string()),
                commit: Some(commit),
            },
            prefix,
            files,
            dirs,
        })
    }

    /// The same tree shown as `repo` at `revision` (its commit unchanged): what a tree read
    /// from a repository cache, opened at a resolved commit, calls itself in locations
    /// (`platform@1a2b3c4:apps/web/cm.yaml`).
    pub fn labelled(mut self, repo: impl Into<String>, revision: impl Into<String>) -> Self {
        self.origin.repo = Some(repo.into());
        self.origin.revision = Some(revision.into());
        self
    }

    /// The full id of the commit the revision resolved to.
    pub fn commit(&self) -> &str {
        self.origin.commit.as_deref().unwrap_or_default()
    }

    /// The tree's root inside the repository (`""` for the repository root).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn not_found(&self, path: &str) -> SourceError {
        SourceError::NotFound {
            origin: self.origin.to_string(),
            path: path.into(),
        }
    }
}

fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

impl SourceTree for GitTree {
    fn origin(&self) -> &SourceOrigin {
        &self.origin
    }

    fn list(&self, dir: &str) -> Result<Vec<Entry>, SourceError> {
        let dir = normalize(dir)?;
        self.dirs
            .get(&dir)
            .cloned()
            .ok_or_else(|| self.not_found(&dir))
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, SourceError> {
        let path = normalize(path)?;
        self.files
            .get(&path)
            .map(|b| b.to_vec())
            .ok_or_else(|| self.not_found(&path))
    }

    fn kind(&self, path: &str) -> Option<EntryKind> {
        let path = normalize(path).ok()?;
        if self.files.contains_key(&path) {
            Some(EntryKind::File)
        } else if self.dirs.contains_key(&path) {
            Some(EntryKind::Dir)
        } else {
            None
        }
    }

    fn files_under(&self, dir: &str) -> Result<Vec<String>, SourceError> {
        let dir = normalize(dir)?;
        if dir.is_empty() {
            return Ok(self.files.keys().cloned().collect());
        }
        if !self.dirs.contains_key(&dir) {
            return Err(self.not_found(&dir));
        }
        let lead = format!("{dir}/");
        Ok(self
            .files
            .range(lead.clone()..)
            .take_while(|(k, _)| k.starts_with(&lead))
            .map(|(k, _)| k.clone())
            .collect())
    }

    fn location(&self, path: &str, document: usize, line: usize) -> crate::SourceLocation {
        let full = if self.prefix.is_empty() {
            path.to_string()
        } else {
            format!("{}/{path}", self.prefix)
        };
        crate::SourceLocation {
            file: self.origin.display_path(&full),
            document,
            line,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn reads_revisions_without_checkout() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        git(d, &["init", "-q", "-b", "main"]);
        std::fs::create_dir_all(d.join("stack/apps")).unwrap();
        std::fs::write(d.join("stack/apps/a.yaml"), "v: 1\n").unwrap();
        std::fs::write(d.join("README"), "r").unwrap();
        git(d, &["add", "."]);
        git(d, &["commit", "-q", "-m", "one"]);
        git(d, &["tag", "v1"]);
        std::fs::write(d.join("stack/apps/a.yaml"), "v: 2\n").unwrap();
        std::fs::write(d.join("stack/b.yaml"), "b").unwrap();
        git(d, &["add", "."]);
        git(d, &["commit", "-q", "-m", "two"]);
        // Uncommitted change: invisible to every revision.
        std::fs::write(d.join("stack/apps/a.yaml"), "v: 3\n").unwrap();

        let head = GitTree::open(&d.join("stack"), "main").unwrap();
        assert_eq!(head.read("apps/a.yaml").unwrap(), b"v: 2\n");
        assert_eq!(head.files().unwrap(), vec!["apps/a.yaml", "b.yaml"]);
        assert_eq!(head.dirs().unwrap(), vec!["apps"]);
        assert_eq!(head.kind("apps"), Some(EntryKind::Dir));

        let v1 = GitTree::open(&d.join("stack"), "v1").unwrap();
        assert_eq!(v1.read("apps/a.yaml").unwrap(), b"v: 1\n");
        assert!(matches!(
            v1.read("b.yaml"),
            Err(SourceError::NotFound { .. })
        ));
        let by_id = GitTree::open(&d.join("stack"), &v1.commit()[..10]).unwrap();
        assert_eq!(by_id.commit(), v1.commit());
        let parent = GitTree::open(&d.join("stack"), "HEAD~1").unwrap();
        assert_eq!(parent.commit(), v1.commit());

        let loc = v1.location("apps/a.yaml", 0, 1).to_string();
        assert!(
            loc.contains(&format!("@{}:stack/apps/a.yaml", &v1.commit()[..7])),
            "{loc}"
        );

        let root = GitTree::open(d, "main").unwrap();
        assert_eq!(
            root.files().unwrap(),
            vec!["README", "stack/apps/a.yaml", "stack/b.yaml"]
        );

        let err = GitTree::open(d, "no-such-branch").unwrap_err().to_string();
        assert!(err.contains("no-such-branch"), "{err}");
    }

    #[test]
    fn a_git_failure_keeps_the_gix_error_and_its_context() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        git(d, &["init", "-q", "-b", "main"]);
        std::fs::write(d.join("a.yaml"), "a: 1\n").unwrap();
        git(d, &["add", "."]);
        git(d, &["commit", "-q", "-m", "one"]);

        let error = GitTree::open(d, "no-such-branch").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("revision \"no-such-branch\": "),
            "{error}"
        );
        let SourceError::GitRead(failure) = &error else {
            panic!("not a Git failure: {error:?}");
        };
        assert_eq!(failure.repo, d);
        assert_eq!(failure.revision.as_deref(), Some("no-such-branch"));
        assert_eq!(failure.step, GitStep::Resolve);
        let source = std::error::Error::source(&error).expect("a source");
        assert!(source.downcast_ref::<gix::Error>().is_some(), "{source:?}");

        // A directory of the work tree that no commit holds.
        std::fs::create_dir(d.join("absent")).unwrap();
        let missing = GitTree::open(&d.join("absent"), "main").unwrap_err();
        assert!(
            matches!(&missing, SourceError::Git(message) if message.starts_with("absent: not in revision \"main\"")),
            "{missing:?}"
        );
        assert!(std::error::Error::source(&missing).is_none());
    }
}
