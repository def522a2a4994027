//! A source tree that remembers what it listed and read, for one load of a stack.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
    files: HashMap<String, Kept>,
    kinds: HashMap<String, Option<EntryKind>>,
    kept: usize,
}

impl Memo {
    fn has_room_for(&self, len: usize) -> bool {
        len <= MEMO_MAX_FILE && self.kept + len <= MEMO_MAX_TOTAL
    }
}

/// A file kept: text (the common case, handed out shared) or other bytes.
enum Kept {
    Text(Arc<String>),
    /// Not UTF-8, and where it stops being so.
    Bytes(Vec<u8>, std::str::Utf8Error),
}

impl Kept {
    fn new(bytes: Vec<u8>) -> Self {
        match String::from_utf8(bytes) {
            Ok(text) => Self::Text(Arc::new(text)),
            Err(e) => {
                let error = e.utf8_error();
                Self::Bytes(e.into_bytes(), error)
            }
        }
    }

    /// The text, or the error [`SourceTree::read_to_string`] gives for these bytes.
    fn text(&self, path: &str) -> Result<Arc<String>, SourceError> {
        match self {
            Self::Text(text) => Ok(Arc::clone(text)),
            Self::Bytes(_, error) => Err(SourceError::NotUtf8 {
                path: path.to_owned(),
                source: *error,
            }),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Self::Text(text) => text.as_bytes(),
            Self::Bytes(bytes, _) => bytes,
        }
    }
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

    /// Whether a file of `len` bytes would be kept (see [`MEMO_MAX_FILE`], [`MEMO_MAX_TOTAL`]).
    fn has_room_for(&self, len: usize) -> bool {
        self.memo().has_room_for(len)
    }

    /// Keeps a file read, when there is room for it.
    fn keep(&self, key: String, kept: Kept) {
        let len = kept.bytes().len();
        let mut memo = self.memo();
        if memo.has_room_for(len) {
            memo.kept += len;
            memo.files.insert(key, kept);
        }
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
        if let Some(kept) = self.memo().files.get(&key) {
            return Ok(kept.bytes().to_vec());
        }
        let bytes = self.inner.read(path)?;
        if self.has_room_for(bytes.len()) {
            self.keep(key, Kept::new(bytes.clone()));
        }
        Ok(bytes)
    }

    fn read_text_shared(&self, path: &str) -> Result<Arc<String>, SourceError> {
        let Ok(key) = normalize(path) else {
            return self.inner.read_text_shared(path);
        };
        if let Some(kept) = self.memo().files.get(&key) {
            return kept.text(path);
        }
        let kept = Kept::new(self.inner.read(path)?);
        let text = kept.text(path);
        self.keep(key, kept);
        text
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
    fn shared_text_is_the_text_read_once_and_refused_as_read_to_string_refuses() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), "kind: é\n").unwrap();
        std::fs::write(dir.path().join("b.bin"), b"ok\xffno").unwrap();
        let plain = FsTree::new(dir.path());
        for first_read_as_bytes in [false, true] {
            let memo = MemoTree::new(FsTree::new(dir.path()));
            if first_read_as_bytes {
                memo.read("a.yaml").unwrap();
                memo.read("b.bin").unwrap();
            }
            let text = memo.read_text_shared("a.yaml").unwrap();
            assert_eq!(&*text, "kind: é\n");
            let again = memo.read_text_shared("./a.yaml").unwrap();
            assert!(
                Arc::ptr_eq(&text, &again),
                "kept text is handed out, not copied"
            );
            assert_eq!(memo.read("a.yaml").unwrap(), "kind: é\n".as_bytes());
            for _ in 0..2 {
                assert_eq!(
                    memo.read_text_shared("b.bin").unwrap_err().to_string(),
                    plain.read_to_string("b.bin").unwrap_err().to_string()
                );
                assert_eq!(memo.read("b.bin").unwrap(), b"ok\xffno");
            }
            assert_eq!(
                memo.read_text_shared("missing").unwrap_err().to_string(),
                plain.read_to_string("missing").unwrap_err().to_string()
            );
        }
        // A tree that keeps nothing reads the text each time.
        assert_eq!(&*plain.read_text_shared("a.yaml").unwrap(), "kind: é\n");
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
