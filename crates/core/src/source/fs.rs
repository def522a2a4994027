//! A source tree over a directory on disk.

use std::path::{Path, PathBuf};

use super::{Entry, EntryKind, SKIPPED_DIRS, SourceError, SourceOrigin, SourceTree, normalize};

/// A directory on disk as a [`SourceTree`]. Symbolic links are followed; `.git` and `.strata`
/// are never listed.
#[derive(Debug, Clone)]
pub struct FsTree {
    origin: SourceOrigin,
}

impl FsTree {
    /// The tree rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            origin: SourceOrigin::directory(root),
        }
    }

    /// The directory on disk.
    pub fn root(&self) -> &Path {
        &self.origin.root
    }

    fn disk_path(&self, path: &str) -> Result<PathBuf, SourceError> {
        let rel = normalize(path)?;
        Ok(if rel.is_empty() {
            self.origin.root.clone()
        } else {
            self.origin.root.join(rel)
        })
    }

    fn not_found(&self, path: &str) -> SourceError {
        SourceError::NotFound {
            origin: self.origin.to_string(),
            path: path.into(),
        }
    }
}

impl SourceTree for FsTree {
    fn origin(&self) -> &SourceOrigin {
        &self.origin
    }

    fn list(&self, dir: &str) -> Result<Vec<Entry>, SourceError> {
        let disk = self.disk_path(dir)?;
        let io = |source| SourceError::Io {
            path: disk.clone(),
            source,
        };
        let read = match std::fs::read_dir(&disk) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(self.not_found(dir)),
            Err(e) => return Err(io(e)),
        };
        let mut out = Vec::new();
        for entry in read {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // The directory entry's own type (no system call on most file systems); a
            // symbolic link is followed to what it points at.
            let file_type = entry.file_type().map_err(io)?;
            let is_dir = if file_type.is_symlink() {
                std::fs::metadata(entry.path()).map_err(io)?.is_dir()
            } else {
                file_type.is_dir()
            };
            let kind = if is_dir {
                if SKIPPED_DIRS.contains(&name.as_str()) {
                    continue;
                }
                EntryKind::Dir
            } else {
                EntryKind::File
            };
            out.push(Entry { name, kind });
        }
        out.sort();
        Ok(out)
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, SourceError> {
        let disk = self.disk_path(path)?;
        match std::fs::read(&disk) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(self.not_found(path)),
            Err(source) => Err(SourceError::Io { path: disk, source }),
        }
    }

    fn kind(&self, path: &str) -> Option<EntryKind> {
        let meta = std::fs::metadata(self.disk_path(path).ok()?).ok()?;
        Some(if meta.is_dir() {
            EntryKind::Dir
        } else {
            EntryKind::File
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn symbolic_links_are_listed_as_what_they_point_at() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("real/sub")).unwrap();
        std::fs::write(dir.path().join("real/sub/x.yaml"), "x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("real/sub"), dir.path().join("linked")).unwrap();
        std::os::unix::fs::symlink(
            dir.path().join("real/sub/x.yaml"),
            dir.path().join("file.yaml"),
        )
        .unwrap();
        let tree = FsTree::new(dir.path());
        let kinds: Vec<(String, EntryKind)> = tree
            .list("")
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("file.yaml".to_owned(), EntryKind::File),
                ("linked".to_owned(), EntryKind::Dir),
                ("real".to_owned(), EntryKind::Dir),
            ]
        );
        assert!(tree.files().unwrap().contains(&"linked/x.yaml".to_owned()));
    }

    #[test]
    fn lists_reads_and_skips_strata_dirs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::create_dir_all(dir.path().join(".strata")).unwrap();
        std::fs::write(dir.path().join("a/b/x.yaml"), "x").unwrap();
        std::fs::write(dir.path().join("top.yaml"), "t").unwrap();
        let tree = FsTree::new(dir.path());
        let root = tree.list("").unwrap();
        assert_eq!(
            root,
            vec![
                Entry {
                    name: "a".into(),
                    kind: EntryKind::Dir
                },
                Entry {
                    name: "top.yaml".into(),
                    kind: EntryKind::File
                },
            ]
        );
        assert_eq!(tree.files().unwrap(), vec!["a/b/x.yaml", "top.yaml"]);
        assert_eq!(tree.read("a/./b/x.yaml").unwrap(), b"x");
        assert_eq!(tree.kind("a/b"), Some(EntryKind::Dir));
        assert_eq!(tree.kind("nope"), None);
        assert!(matches!(
            tree.read("nope.yaml"),
            Err(SourceError::NotFound { .. })
        ));
        assert!(matches!(
            tree.read("../x"),
            Err(SourceError::OutsideTree { .. })
        ));
        let loc = tree.location("a/b/x.yaml", 1, 5);
        assert_eq!(loc.file, dir.path().join("a/b/x.yaml"));
    }

    #[test]
    fn a_missing_root_or_path_is_named_once() {
        let dir = tempfile::tempdir().unwrap();
        let tree = FsTree::new(dir.path().join("gone"));
        let root = tree.list("").unwrap_err().to_string();
        assert!(root.ends_with("gone: no such file or directory"), "{root}");
        let tree = FsTree::new(dir.path());
        let file = tree.read("a/b.yaml").unwrap_err().to_string();
        assert!(
            file.ends_with(": a/b.yaml: no such file or directory"),
            "{file}"
        );
        assert!(!file.contains(": :"), "{file}");
    }
}
