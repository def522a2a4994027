//! A source tree that remembers what it listed and read, for one load of a stack.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Entry, EntryKind, SKIPPED_DIRS, SourceError, SourceOrigin, SourceTree, normalize};

/// Files larger than this are read from the inner tree each time, not kept.
pub const MEMO_MAX_FILE: usize = 1024 * 1024;
/// Bytes of file contents kept at most; past it, files are read from the inner tree each time,
/// so a large stack does not hold a second copy of itself.
pub const MEMO_MAX_TOTAL: usize = 32 * 1024 * 1024;

/// A [`SourceTree`] that answers each listing, file read and [`kind`](SourceTree::kind) of
/// its inner tree once and repeats the answer afterwards: loading a stack walks its directories
/// several times (the stack's manifests, the catalog of composition kinds, each Helm chart and
/// its files), and on disk each walk costs a `getdents64` per directory and an `openat`,
/// `read`s and a `close` per file.
///
/// The answers are a snapshot: a file changed while the tree is in use is seen as it was when
/// first read. Only successful listings and reads are kept (errors are asked again), files up
/// to [`MEMO_MAX_FILE`] bytes and [`MEMO_MAX_TOTAL`] bytes in all.
pub struct MemoTree<T> {
    inner: T,
    memo: Mutex<Memo>,
}

#[derive(Default)]
struct Memo {
    lists: HashMap<String, Vec<Entry>>,
    files: HashMap<String, Vec<u8>>,
    kinds: HashMap<String, Option<EntryKind>>,
    kept: usize,
}

impl<T: SourceTree> MemoTree<T> {
    /// `inner`, remembered.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            memo: Mutex::new(Memo::default()),
        }
    }

    /// The tree remembered.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    fn memo(&self) -> std::sync::MutexGuard<'_, Memo> {
        // A panic while holding the lock leaves only complete entries behind.
        self.memo
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for MemoTree<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoTree")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<T: SourceTree> SourceTree for MemoTree<T> {
    fn origin(&self) -> &SourceOrigin {
        self.inner.origin()
    }

    fn list(&self, dir: &str) -> Result<Vec<Entry>, SourceError> {
        let Ok(key) = normalize(dir) else {
            return self.inner.list(dir);
        };
        if let Some(entries) = self.memo().lists.get(&key) {
            return Ok(entries.clone());
        }
        let entries = self.inner.list(dir)?;
        self.memo().lists.insert(key, entries.clone());
        Ok(entries)
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, SourceError> {
        let Ok(key) = normalize(path) else {
            return self.inner.read(path);
        };
        if let Some(bytes) = self.memo().files.get(&key) {
            return Ok(bytes.clone());
        }
        let bytes = self.inner.read(path)?;
        let mut memo = self.memo();
        if bytes.len() <= MEMO_MAX_FILE && memo.kept + bytes.len() <= MEMO_MAX_TOTAL {
            memo.kept += bytes.len();
            memo.files.insert(key, bytes.clone());
        }
        Ok(bytes)
    }

    fn kind(&self, path: &str) -> Option<EntryKind> {
        let Ok(key) = normalize(path) else {
            return self.inner.kind(path);
        };
        let (dir, name) = key.rsplit_once('/').unwrap_or(("", key.as_str()));
        {
            let memo = self.memo();
            if let Some(known) = memo.kinds.get(&key) {
                return *known;
            }
            // A listed directory says what each of its entries is; the directories a listing
            // leaves out (`.git`, `.strata`) and the root itself are asked for.
            if !key.is_empty()
                && !SKIPPED_DIRS.contains(&name)
                && let Some(entries) = memo.lists.get(dir)
            {
                return entries.iter().find(|e| e.name == name).map(|e| e.kind);
            }
        }
        let kind = self.inner.kind(path);
        self.memo().kinds.insert(key, kind);
        kind
    }

    fn location(&self, path: &str, document: usize, line: usize) -> crate::model::SourceLocation {
        self.inner.location(path, document, line)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{FsTree, MemoryTree};
    use super::*;

    #[test]
    fn answers_as_the_inner_tree_does() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::create_dir_all(dir.path().join(".strata/cache")).unwrap();
        std::fs::write(dir.path().join("a/b/x.yaml"), "x").unwrap();
        std::fs::write(dir.path().join("top.yaml"), "t").unwrap();
        let plain = FsTree::new(dir.path());
        let memo = MemoTree::new(FsTree::new(dir.path()));
        for _ in 0..2 {
            for path in [
                "",
                "a",
                "a/b",
                "./a//b",
                "a/b/x.yaml",
                "top.yaml",
                "missing",
                "a/missing",
                ".strata",
                ".strata/cache",
                "top.yaml/x",
                "../x",
            ] {
                assert_eq!(memo.kind(path), plain.kind(path), "kind {path:?}");
                assert_eq!(
                    memo.list(path).map_err(|e| e.to_string()),
                    plain.list(path).map_err(|e| e.to_string()),
                    "list {path:?}"
                );
                assert_eq!(
                    memo.read(path).map_err(|e| e.to_string()),
                    plain.read(path).map_err(|e| e.to_string()),
                    "read {path:?}"
                );
            }
            assert_eq!(memo.files().unwrap(), plain.files().unwrap());
            assert_eq!(memo.dirs().unwrap(), plain.dirs().unwrap());
            assert_eq!(memo.origin(), plain.origin());
            assert_eq!(
                memo.location("a/b/x.yaml", 1, 3),
                plain.location("a/b/x.yaml", 1, 3)
            );
        }
    }

    #[test]
    fn repeats_what_it_read_first() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), "one").unwrap();
        let memo = MemoTree::new(FsTree::new(dir.path()));
        assert_eq!(memo.read("a.yaml").unwrap(), b"one");
        assert_eq!(memo.list("").unwrap().len(), 1);
        std::fs::write(dir.path().join("a.yaml"), "two").unwrap();
        std::fs::write(dir.path().join("b.yaml"), "b").unwrap();
        assert_eq!(memo.read("a.yaml").unwrap(), b"one");
        assert_eq!(memo.list("").unwrap().len(), 1);
        assert_eq!(memo.kind("b.yaml"), None);
        // What was not read before is read now.
        assert_eq!(memo.read("b.yaml").unwrap(), b"b");
    }

    #[test]
    fn large_files_are_not_kept() {
        let big = vec![b'x'; MEMO_MAX_FILE + 1];
        let memo = MemoTree::new(
            MemoryTree::new()
                .with_file("big", big.clone())
                .with_file("small", "s"),
        );
        assert_eq!(memo.read("big").unwrap(), big);
        assert_eq!(memo.read("small").unwrap(), b"s");
        let memo = memo.memo();
        assert!(!memo.files.contains_key("big"));
        assert_eq!(memo.kept, 1);
    }
}
