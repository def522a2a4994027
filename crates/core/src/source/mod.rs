//! Source trees: where desired state is read from.
//!
//! A [`SourceTree`] is a read-only tree of files addressed by relative, `/`-separated paths: a
//! directory on disk ([`FsTree`]) or, with the `git` feature, one revision of a local Git
//! repository read straight from its object database without a checkout (`GitTree`).
//! Kustomize, Applications and ApplicationSet generators (in `strata-composition`) work on
//! source trees, so the same expansion runs on a working directory or on any commit.
//!
//! Every manifest read from a tree remembers where it came from: [`SourceTree::location`]
//! builds the [`SourceLocation`] of a document, whose file names the repository and revision
//! when the tree is a Git revision (`platform@1a2b3c4:services/web/deployment.yaml`).
//!
//! ```
//! use strata_core::source::{FsTree, SourceTree};
//!
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::create_dir_all(dir.path().join("apps/web")).unwrap();
//! std::fs::write(dir.path().join("apps/web/cm.yaml"), "kind: ConfigMap\n").unwrap();
//! let tree = FsTree::new(dir.path());
//! assert_eq!(tree.files().unwrap(), vec!["apps/web/cm.yaml".to_string()]);
//! assert_eq!(tree.dirs().unwrap(), vec!["apps".to_string(), "apps/web".to_string()]);
//! assert_eq!(tree.read("apps/web/cm.yaml").unwrap(), b"kind: ConfigMap\n");
//! ```

mod fs;
#[cfg(feature = "git")]
mod git;
mod memo;
mod memory;
mod path;

use std::path::PathBuf;

pub use fs::FsTree;
#[cfg(feature = "git")]
pub use git::GitTree;
pub use memo::{MEMO_MAX_FILE, MEMO_MAX_TOTAL, MemoTree};
pub use memory::MemoryTree;
pub use path::{join, normalize, parent};

use crate::model::SourceLocation;

/// Directory names never listed (Strata's own data and VCS metadata).
pub const SKIPPED_DIRS: &[&str] = &[".strata", ".git"];

/// Why a source tree could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The path does not exist in the tree (an empty path: the tree's root itself).
    #[error("{}: no such file or directory", not_found_at(origin, path))]
    NotFound {
        /// The tree, as [`SourceOrigin`] displays it.
        origin: String,
        /// The missing path.
        path: String,
    },
    /// A path leaves the tree (`..` above the root) or is absolute.
    #[error("{path}: path leaves the source tree")]
    OutsideTree {
        /// The offending path.
        path: String,
    },
    /// Reading from disk failed.
    #[error("{path}: {source}")]
    Io {
        /// The path on disk.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A tree could not be read, for a reason without an underlying error (a message the
    /// caller composed). Failures of Git itself are [`SourceError::GitRead`].
    #[error("{0}")]
    Git(String),
    /// Opening a repository, resolving a revision or reading its objects failed (boxed: the
    /// context is large and the error is rare).
    #[error(transparent)]
    GitRead(Box<GitFailure>),
    /// A file read as text is not UTF-8.
    #[error("{path}: not UTF-8 text")]
    NotUtf8 {
        /// The path in the tree.
        path: String,
        /// Where the bytes stop being UTF-8.
        #[source]
        source: std::str::Utf8Error,
    },
}

impl SourceError {
    /// A failure of Git while doing `step` in the repository opened from `repo`, at `revision`
    /// (`None` while the repository is being opened), keeping Git's error as the source.
    pub fn git_read<E>(
        repo: impl Into<PathBuf>,
        revision: Option<&str>,
        step: GitStep,
        source: E,
    ) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        Self::GitRead(Box::new(GitFailure {
            repo: repo.into(),
            revision: revision.map(str::to_owned),
            step,
            source: Box::new(source),
        }))
    }
}

/// A failure of Git in a repository ([`SourceError::GitRead`]): where, what was being done,
/// and Git's error.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", step.describe(repo, revision.as_deref()))]
#[non_exhaustive]
pub struct GitFailure {
    /// The directory the repository was opened from.
    pub repo: PathBuf,
    /// The revision being read; `None` while the repository is being opened.
    pub revision: Option<String>,
    /// What was being done (with the path of the object being read).
    pub step: GitStep,
    /// Git's error.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync + 'static>,
}

/// What was being done in a repository when Git failed ([`SourceError::GitRead`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GitStep {
    /// Opening (discovering) the repository.
    Open,
    /// Resolving the revision to an object.
    Resolve,
    /// Finding the revision's object.
    FindRevision,
    /// Peeling the revision's object to its tree.
    PeelToTree,
    /// Listing the revision's tree.
    ListTree,
    /// Reading one object of the tree.
    ReadObject {
        /// Its path from the repository's root.
        path: String,
    },
}

impl GitStep {
    /// The context a failure of this step is shown with: the repository when opening it,
    /// the revision when resolving it, the object's path when reading one.
    fn describe(&self, repo: &std::path::Path, revision: Option<&str>) -> String {
        let revision = revision.unwrap_or_default();
        match self {
            GitStep::Open => repo.display().to_string(),
            GitStep::Resolve | GitStep::FindRevision => format!("revision {revision:?}"),
            GitStep::PeelToTree => format!("revision {revision:?} has no tree"),
            GitStep::ListTree => "reading the tree".to_owned(),
            GitStep::ReadObject { path } => path.clone(),
        }
    }
}

/// Where a missing path was looked for: the tree and the path in it, or the tree alone when
/// its root is what is missing.
fn not_found_at(origin: &str, path: &str) -> String {
    if path.is_empty() {
        origin.to_owned()
    } else {
        format!("{origin}: {path}")
    }
}

/// What a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    /// The entry's name (no `/`).
    pub name: String,
    /// File or directory.
    pub kind: EntryKind,
}

/// Where a tree comes from: a directory, or a repository at a resolved revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceOrigin {
    /// The directory on disk (the repository's work directory for a Git tree).
    pub root: PathBuf,
    /// The repository's name, for Git trees.
    pub repo: Option<String>,
    /// The revision as asked for (branch, tag, commit), for Git trees.
    pub revision: Option<String>,
    /// The commit the revision resolved to (full hex id), for Git trees.
    pub commit: Option<String>,
}

impl SourceOrigin {
    /// The origin of a plain directory.
    pub fn directory(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            repo: None,
            revision: None,
            commit: None,
        }
    }

    /// The path shown for `path` inside this tree: the file on disk for a directory,
    /// `repo@commit7:path` for a Git revision.
    pub fn display_path(&self, path: &str) -> PathBuf {
        match (&self.repo, &self.commit) {
            (Some(repo), Some(commit)) => {
                let short = commit.get(..7).unwrap_or(commit);
                PathBuf::from(format!("{repo}@{short}:{path}"))
            }
            _ if path.is_empty() => self.root.clone(),
            _ => self.root.join(path),
        }
    }
}

impl std::fmt::Display for SourceOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.repo, &self.revision, &self.commit) {
            (Some(repo), Some(rev), Some(commit)) => {
                let short = commit.get(..7).unwrap_or(commit);
                if rev.starts_with(short) {
                    write!(f, "{repo}@{short}")
                } else {
                    write!(f, "{repo}@{rev} ({short})")
                }
            }
            _ => write!(f, "{}", self.root.display()),
        }
    }
}

/// A read-only tree of files addressed by relative `/`-separated paths (`""` is the root).
pub trait SourceTree: Send + Sync {
    /// Where the tree comes from.
    fn origin(&self) -> &SourceOrigin;

    /// The entries of the directory `dir`, sorted by name. Strata's own directories
    /// ([`SKIPPED_DIRS`]) are never listed.
    fn list(&self, dir: &str) -> Result<Vec<Entry>, SourceError>;

    /// The contents of the file at `path`.
    fn read(&self, path: &str) -> Result<Vec<u8>, SourceError>;

    /// What is at `path`, if anything.
    fn kind(&self, path: &str) -> Option<EntryKind> {
        let path = normalize(path).ok()?;
        if path.is_empty() {
            return Some(EntryKind::Dir);
        }
        let (dir, name) = match path.rsplit_once('/') {
            Some((d, n)) => (d.to_string(), n.to_string()),
            None => (String::new(), path.clone()),
        };
        self.list(&dir)
            .ok()?
            .into_iter()
            .find(|e| e.name == name)
            .map(|e| e.kind)
    }

    /// The contents of a file as UTF-8 text.
    fn read_to_string(&self, path: &str) -> Result<String, SourceError> {
        let bytes = self.read(path)?;
        String::from_utf8(bytes).map_err(|e| SourceError::NotUtf8 {
            path: path.to_owned(),
            source: e.utf8_error(),
        })
    }

    /// The file at `path` as UTF-8 text, shared: a tree that keeps what it read
    /// ([`MemoTree`]) hands out its own copy, so reading a file again (the stack's manifests
    /// are read by the catalog scan and by the loader) copies nothing. Other trees read it
    /// as [`read_to_string`](Self::read_to_string) does.
    fn read_text_shared(&self, path: &str) -> Result<std::sync::Arc<String>, SourceError> {
        // An `Arc<String>` rather than an `Arc<str>`: the text read is shared as it was read,
        // where an `Arc<str>` would copy it once more.
        self.read_to_string(path).map(std::sync::Arc::new)
    }

    /// Every file below `dir` (recursively), as paths relative to the tree root, sorted.
    fn files_under(&self, dir: &str) -> Result<Vec<String>, SourceError> {
        let mut out = Vec::new();
        walk(self, &normalize(dir)?, &mut out, &mut Vec::new())?;
        out.sort();
        Ok(out)
    }

    /// Every file in the tree, sorted.
    fn files(&self) -> Result<Vec<String>, SourceError> {
        self.files_under("")
    }

    /// Every directory in the tree (not the root), sorted.
    fn dirs(&self) -> Result<Vec<String>, SourceError> {
        let mut files = Vec::new();
        let mut dirs = Vec::new();
        walk(self, "", &mut files, &mut dirs)?;
        dirs.sort();
        Ok(dirs)
    }

    /// The location of document `document` (starting on `line`) of the file at `path`.
    fn location(&self, path: &str, document: usize, line: usize) -> SourceLocation {
        SourceLocation {
            file: self.origin().display_path(path),
            document,
            line,
        }
    }
}

fn walk<T: SourceTree + ?Sized>(
    tree: &T,
    dir: &str,
    files: &mut Vec<String>,
    dirs: &mut Vec<String>,
) -> Result<(), SourceError> {
    for entry in tree.list(dir)? {
        let path = join(dir, &entry.name)?;
        match entry.kind {
            EntryKind::File => files.push(path),
            EntryKind::Dir => {
                dirs.push(path.clone());
                walk(tree, &path, files, dirs)?;
            }
        }
    }
    Ok(())
}

/// Reads every manifest (`*.yaml`, `*.yml`, `*.json`) below `dir` of `tree`, in sorted path
/// order, each resource carrying its [`SourceLocation`].
pub fn load_manifests(
    tree: &dyn SourceTree,
    dir: &str,
) -> Result<Vec<crate::Resource>, crate::loader::LoadError> {
    let files = tree
        .files_under(dir)
        .map_err(|e| crate::loader::LoadError::Io {
            path: tree.origin().display_path(dir),
            source: std::io::Error::other(e.to_string()),
        })?;
    let mut out = Vec::new();
    for file in files.iter().filter(|f| is_manifest_file(f)) {
        let text = tree
            .read_to_string(file)
            .map_err(|e| crate::loader::LoadError::Io {
                path: tree.origin().display_path(file),
                source: std::io::Error::other(e.to_string()),
            })?;
        out.extend(crate::loader::parse_documents(
            &tree.origin().display_path(file),
            &text,
        )?);
    }
    Ok(out)
}

/// Whether a path names a manifest file (`.yaml`, `.yml` or `.json`).
pub fn is_manifest_file(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml") || path.ends_with(".json")
}
