//! An in-memory source tree, for tests, benchmarks and callers that already hold the files.

use std::collections::{BTreeMap, BTreeSet};

use super::{Entry, EntryKind, SourceError, SourceOrigin, SourceTree, normalize};

/// Files held in memory as a [`SourceTree`]; directories are implied by the file paths.
#[derive(Debug, Clone)]
pub struct MemoryTree {
    origin: SourceOrigin,
    files: BTreeMap<String, Vec<u8>>,
    dirs: BTreeSet<String>,
}

impl Default for MemoryTree {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryTree {
    /// An empty tree whose origin is the directory `memory`.
    pub fn new() -> Self {
        Self {
            origin: SourceOrigin::directory("memory"),
            files: BTreeMap::new(),
            dirs: BTreeSet::from([String::new()]),
        }
    }

    /// Sets the origin shown in locations.
    pub fn with_origin(mut self, origin: SourceOrigin) -> Self {
        self.origin = origin;
        self
    }

    /// Adds (or replaces) a file; its parent directories appear with it. Paths that leave the
    /// tree are ignored.
    pub fn with_file(mut self, path: &str, content: impl Into<Vec<u8>>) -> Self {
        self.insert(path, content);
        self
    }

    /// Adds an empty directory and its parents (directories with files in them need not be
    /// added). Paths that leave the tree are ignored.
    pub fn with_dir(mut self, path: &str) -> Self {
        let Ok(path) = normalize(path) else {
            return self;
        };
        let mut cur = path.as_str();
        while !cur.is_empty() {
            self.dirs.insert(cur.to_string());
            cur = cur.rsplit_once('/').map_or("", |(parent, _)| parent);
        }
        self
    }

    /// Adds (or replaces) a file in place.
    pub fn insert(&mut self, path: &str, content: impl Into<Vec<u8>>) {
        let Ok(path) = normalize(path) else { return };
        let mut cur = path.as_str();
        while let Some((parent, _)) = cur.rsplit_once('/') {
            self.dirs.insert(parent.to_string());
            cur = parent;
        }
        self.files.insert(path, content.into());
    }
}

impl SourceTree for MemoryTree {
    fn origin(&self) -> &SourceOrigin {
        &self.origin
    }

    fn list(&self, dir: &str) -> Result<Vec<Entry>, SourceError> {
        let dir = normalize(dir)?;
        if !self.dirs.contains(&dir) {
            return Err(SourceError::NotFound {
                origin: self.origin.to_string(),
                path: dir,
            });
        }
        let child = |p: &str| -> Option<String> {
            let rest = if dir.is_empty() {
                p
            } else {
                p.strip_prefix(dir.as_str())?.strip_prefix('/')?
            };
            (!rest.is_empty() && !rest.contains('/')).then(|| rest.to_string())
        };
        let mut out: Vec<Entry> = self
            .dirs
            .iter()
            .filter_map(|d| child(d))
            .map(|name| Entry {
                name,
                kind: EntryKind::Dir,
            })
            .chain(
                self.files
                    .keys()
                    .filter_map(|f| child(f))
                    .map(|name| Entry {
                        name,
                        kind: EntryKind::File,
                    }),
            )
            .collect();
        out.sort();
        Ok(out)
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, SourceError> {
        let path = normalize(path)?;
        self.files.get(&path).cloned().ok_or(SourceError::NotFound {
            origin: self.origin.to_string(),
            path,
        })
    }

    fn kind(&self, path: &str) -> Option<EntryKind> {
        let path = normalize(path).ok()?;
        if self.files.contains_key(&path) {
            Some(EntryKind::File)
        } else if self.dirs.contains(&path) {
            Some(EntryKind::Dir)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implied_directories() {
        let t = MemoryTree::new()
            .with_file("a/b/c.yaml", "x")
            .with_file("a/d.yaml", "y");
        assert_eq!(t.dirs().unwrap(), vec!["a", "a/b"]);
        assert_eq!(t.files_under("a/b").unwrap(), vec!["a/b/c.yaml"]);
        assert_eq!(t.kind("a"), Some(EntryKind::Dir));
        assert!(t.list("zz").is_err());
    }

    #[test]
    fn empty_directories_and_their_parents() {
        let t = MemoryTree::new()
            .with_dir("apps/web/")
            .with_dir("other")
            .with_file("apps/api/cm.yaml", "x");
        assert_eq!(
            t.dirs().unwrap(),
            vec!["apps", "apps/api", "apps/web", "other"]
        );
        assert_eq!(t.kind("apps/web"), Some(EntryKind::Dir));
        assert!(t.list("apps/web").unwrap().is_empty());
        assert_eq!(t.files().unwrap(), vec!["apps/api/cm.yaml"]);
    }
}
