//! The CLI's cache under `<DIR>/.strata/cache/`: parsed manifest files kept by content digest,
//! so that a re-plan after one file changed parses that file only.
//!
//! It is an optimisation only: a plan is the same with or without it (`--no-cache` or
//! `STRATA_NO_CACHE` turn it off). One file, [`FILE_NAME`], holds a header (magic, format
//! version, the `strata` build that wrote it, the stack directory it belongs to) and one entry
//! per parsed file: its [`ContentDigest`] and its manifests in a compact binary form, each entry
//! with its own checksum. A missing, truncated, corrupt, foreign-version or foreign-stack file
//! is never trusted: it is logged at debug level and rebuilt. The file is written whole to a
//! temporary name and renamed over the old one, and only when something changed.
//!
//! No secret is ever written: files holding a manifest with a sensitive field (Secret data,
//! password-like fields, secret references, connection details: see
//! [`strata_core::sensitive`]) are not offered to the cache by the loader and are parsed on
//! every run.

use std::collections::HashMap;
use std::io::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Map, Number, Value};
use strata_core::Resource;
use strata_core::loader::{ContentDigest, ParsedDocument, ParsedFiles};

/// The cache's directory inside `.strata/`.
pub const CACHE_DIR: &str = "cache";
/// The file of parsed manifests inside [`CACHE_DIR`].
pub const FILE_NAME: &str = "parsed.bin";

const MAGIC: &[u8; 8] = b"STRATAPC";
/// Bumped whenever the layout or the value encoding changes.
const FORMAT: u32 = 1;
/// Values nested deeper than this are not cached (and a cached one this deep is corrupt).
const MAX_DEPTH: usize = 256;

/// Why the cache file was not used (logged at debug level; the cache is then rebuilt).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The file could not be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The cache file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a Strata cache, or another format of it.
    #[error("{}: not a cache of format {FORMAT}", .path.display())]
    Format {
        /// The cache file.
        path: PathBuf,
    },
    /// Another build of `strata` wrote it.
    #[error("{}: written by strata build {found:?}, this is {ours:?}", .path.display())]
    Build {
        /// The cache file.
        path: PathBuf,
        /// The build that wrote it.
        found: String,
        /// This build.
        ours: String,
    },
    /// It belongs to another stack directory.
    #[error("{}: the cache of the stack {found:?}, not of {ours:?}", .path.display())]
    ForeignStack {
        /// The cache file.
        path: PathBuf,
        /// The stack it was written for.
        found: String,
        /// This stack.
        ours: String,
    },
    /// It is truncated or corrupt.
    #[error("{}: truncated or corrupt ({what})", .path.display())]
    Corrupt {
        /// The cache file.
        path: PathBuf,
        /// What did not read.
        what: &'static str,
    },
}

/// The parsed-files cache of one stack directory for one run: entries read from the file,
/// entries parsed during the run, and which of the old ones were used.
#[derive(Debug)]
pub struct ParsedCache {
    path: PathBuf,
    stack: String,
    /// The file as read (empty when there was none or it was not trusted).
    bytes: Vec<u8>,
    /// Each stored entry's blob within `bytes`, with its checksum.
    index: HashMap<ContentDigest, (Range<usize>, u64)>,
    /// What changed this run.
    run: Mutex<RunEntries>,
}

#[derive(Debug, Default)]
struct RunEntries {
    /// Stored entries read this run (kept on the next write).
    used: Vec<ContentDigest>,
    /// Entries parsed this run, encoded.
    added: HashMap<ContentDigest, Vec<u8>>,
    /// A stored entry did not decode: the file is rewritten without it.
    dropped: bool,
    /// Every file parsed this run, with the digest of the text parsed.
    seen: HashMap<PathBuf, ContentDigest>,
}

impl ParsedCache {
    /// Opens the cache of the stack directory `dir` (which must exist); an unusable file is
    /// logged at debug level and the cache starts empty.
    pub fn open(dir: &Path) -> Self {
        let path = dir.join(".strata").join(CACHE_DIR).join(FILE_NAME);
        let stack = std::fs::canonicalize(dir)
            .unwrap_or_else(|_| dir.to_path_buf())
            .display()
            .to_string();
        let mut cache = Self {
            path,
            stack,
            bytes: Vec::new(),
            index: HashMap::new(),
            run: Mutex::new(RunEntries::default()),
        };
        match std::fs::read(&cache.path) {
            Ok(bytes) => match read_index(&cache.path, &bytes, &cache.stack) {
                Ok(index) => {
                    tracing::debug!(path = %cache.path.display(), entries = index.len(), "read the parse cache");
                    cache.bytes = bytes;
                    cache.index = index;
                }
                Err(e) => tracing::debug!("not using the parse cache, rebuilding it: {e}"),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::debug!(path = %cache.path.display(), "no parse cache yet");
            }
            Err(source) => {
                let e = CacheError::Io {
                    path: cache.path.clone(),
                    source,
                };
                tracing::debug!("not using the parse cache, rebuilding it: {e}");
            }
        }
        cache
    }

    /// Writes the cache back when this run changed it: the entries used and added this run
    /// (stale ones are dropped). Failures are logged at debug level; the cache is optional.
    pub fn save(&self) {
        if let Err(e) = self.try_save() {
            tracing::debug!("the parse cache was not written: {e}");
        }
    }

    fn try_save(&self) -> Result<(), CacheError> {
        let run = self
            .run
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut used = run.used.clone();
        used.sort_unstable();
        used.dedup();
        let unchanged = run.added.is_empty() && !run.dropped && used.len() == self.index.len();
        if unchanged {
            return Ok(());
        }
        // Entries parsed this run win over stored ones (a corrupt entry is parsed again).
        let mut entries: Vec<(ContentDigest, &[u8], u64)> = run
            .added
            .iter()
            .map(|(digest, blob)| (*digest, blob.as_slice(), checksum(blob)))
            .collect();
        for digest in &used {
            if let Some((range, sum)) = self.index.get(digest)
                && !run.added.contains_key(digest)
            {
                entries.push((*digest, &self.bytes[range.clone()], *sum));
            }
        }
        entries.sort_unstable_by_key(|(digest, _, _)| *digest);
        let mut out = Vec::with_capacity(entries.iter().map(|e| e.1.len() + 48).sum::<usize>());
        write_header(&mut out, &build_identity(), &self.stack, entries.len());
        for (digest, blob, sum) in entries {
            out.extend_from_slice(&digest.0);
            out.extend_from_slice(&(blob.len() as u64).to_le_bytes());
            out.extend_from_slice(&sum.to_le_bytes());
            out.extend_from_slice(blob);
        }
        write_atomically(&self.path, &out)
    }
}

impl ParsedFiles for ParsedCache {
    fn get(&self, digest: &ContentDigest) -> Option<Vec<ParsedDocument>> {
        let (range, sum) = self.index.get(digest)?;
        let blob = &self.bytes[range.clone()];
        let decoded = if checksum(blob) == *sum {
            decode_documents(blob)
        } else {
            None
        };
        let mut run = self
            .run
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match decoded {
            Some(documents) => {
                run.used.push(*digest);
                Some(documents)
            }
            None => {
                tracing::debug!(path = %self.path.display(), "a parse cache entry is corrupt; parsing the file");
                run.dropped = true;
                None
            }
        }
    }

    fn put(&self, digest: &ContentDigest, resources: &[Resource]) {
        let Some(blob) = encode_documents(resources) else {
            return;
        };
        self.run
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .added
            .insert(*digest, blob);
    }

    fn seen(&self, file: &Path, digest: &ContentDigest) {
        self.run
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .seen
            .insert(file.to_path_buf(), *digest);
    }
}

impl ParsedCache {
    /// The digest of the text parsed of every file this run's load parsed, by the path its
    /// resources' locations name.
    pub fn parsed_digests(&self) -> HashMap<PathBuf, ContentDigest> {
        self.run
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .seen
            .clone()
    }
}

/// The `strata` build writing or reading a cache file: its version and its executable's
/// identity on disk (size, modification time, inode and change time: installing another build
/// changes the change time even where the modification time is fixed, as in Nix's store), so
/// that a rebuilt `strata` never trusts what another build wrote.
pub(crate) fn build_identity() -> String {
    use std::os::unix::fs::MetadataExt as _;
    let exe = std::env::current_exe()
        .ok()
        .and_then(|exe| std::fs::metadata(exe).ok())
        .map(|meta| {
            format!(
                "{}-{}.{}-{}-{}.{}",
                meta.len(),
                meta.mtime(),
                meta.mtime_nsec(),
                meta.ino(),
                meta.ctime(),
                meta.ctime_nsec()
            )
        })
        .unwrap_or_default();
    format!("{} {exe}", env!("CARGO_PKG_VERSION"))
}

fn write_header(out: &mut Vec<u8>, build: &str, stack: &str, entries: usize) {
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    for text in [build, stack] {
        out.extend_from_slice(&(text.len() as u64).to_le_bytes());
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(&(entries as u64).to_le_bytes());
    let sum = checksum(out);
    out.extend_from_slice(&sum.to_le_bytes());
}

/// Reads the header and the entries' index of a cache file, checking it is this build's and
/// this stack's.
fn read_index(
    path: &Path,
    bytes: &[u8],
    stack: &str,
) -> Result<HashMap<ContentDigest, (Range<usize>, u64)>, CacheError> {
    let corrupt = |what| CacheError::Corrupt {
        path: path.to_path_buf(),
        what,
    };
    let mut reader = Reader { bytes, at: 0 };
    if reader.take(MAGIC.len()) != Some(MAGIC.as_slice()) || reader.u32() != Some(FORMAT) {
        return Err(CacheError::Format {
            path: path.to_path_buf(),
        });
    }
    let build = reader.text().ok_or(corrupt("header"))?;
    let found_stack = reader.text().ok_or(corrupt("header"))?;
    let count = reader.u64().ok_or(corrupt("header"))?;
    let header_end = reader.at;
    let sum = reader.u64().ok_or(corrupt("header"))?;
    if checksum(&bytes[..header_end]) != sum {
        return Err(corrupt("header checksum"));
    }
    let ours = build_identity();
    if build != ours {
        return Err(CacheError::Build {
            path: path.to_path_buf(),
            found: build.to_owned(),
            ours,
        });
    }
    if found_stack != stack {
        return Err(CacheError::ForeignStack {
            path: path.to_path_buf(),
            found: found_stack.to_owned(),
            ours: stack.to_owned(),
        });
    }
    let mut index = HashMap::new();
    for _ in 0..count {
        let digest: [u8; 32] = reader
            .take(32)
            .and_then(|d| d.try_into().ok())
            .ok_or(corrupt("entry"))?;
        let len = reader
            .u64()
            .and_then(|l| usize::try_from(l).ok())
            .ok_or(corrupt("entry"))?;
        let sum = reader.u64().ok_or(corrupt("entry"))?;
        let start = reader.at;
        reader.take(len).ok_or(corrupt("entry"))?;
        index.insert(ContentDigest(digest), (start..start + len, sum));
    }
    if reader.at != bytes.len() {
        return Err(corrupt("trailing bytes"));
    }
    Ok(index)
}

/// Writes `bytes` to a temporary file beside `path` and renames it over `path`.
/// Writes `bytes` to a temporary file beside `path` and renames it over `path`.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    let io = |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let name = path
        .file_name()
        .map_or_else(|| FILE_NAME.into(), |n| n.to_string_lossy().into_owned());
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::File::create(&temporary)
        .and_then(|mut file| file.write_all(bytes))
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(io(e));
    }
    Ok(())
}

/// A fast checksum against truncation and corruption (not against tampering: whoever can
/// write `.strata/` can write the state too).
/// A fast non-cryptographic checksum of `bytes` (against truncation and damage, not tampering).
pub(crate) fn checksum(bytes: &[u8]) -> u64 {
    const PRIME: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut hash = 0x243F_6A88_85A3_08D3 ^ (bytes.len() as u64);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        hash = (hash ^ u64::from_le_bytes(word))
            .wrapping_mul(PRIME)
            .rotate_left(29);
    }
    for &byte in chunks.remainder() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(PRIME).rotate_left(29);
    }
    hash ^ (hash >> 32)
}

// The value encoding: a tag byte, then LEB128 lengths and integers.
const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const UNSIGNED: u8 = 3;
const NEGATIVE: u8 = 4;
const FLOAT: u8 = 5;
const STRING: u8 = 6;
const ARRAY: u8 = 7;
const OBJECT: u8 = 8;

/// The resources' documents encoded (count, then document index, line and value each);
/// `None` when a value is nested too deep to cache.
fn encode_documents(resources: &[Resource]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(256 * resources.len());
    put_varint(&mut out, resources.len() as u64);
    for resource in resources {
        let source = resource.source.as_ref()?;
        put_varint(&mut out, source.document as u64);
        put_varint(&mut out, source.line as u64);
        encode_value(&mut out, &resource.manifest, 0)?;
    }
    Some(out)
}

fn encode_value(out: &mut Vec<u8>, value: &Value, depth: usize) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    match value {
        Value::Null => out.push(NULL),
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.push(UNSIGNED);
                put_varint(out, u);
            } else if let Some(i) = n.as_i64() {
                out.push(NEGATIVE);
                // Negative: stored as -(i + 1), which fits in a u64.
                put_varint(out, !(i as u64));
            } else {
                out.push(FLOAT);
                out.extend_from_slice(&n.as_f64()?.to_bits().to_le_bytes());
            }
        }
        Value::String(s) => {
            out.push(STRING);
            put_str(out, s);
        }
        Value::Array(items) => {
            out.push(ARRAY);
            put_varint(out, items.len() as u64);
            for item in items {
                encode_value(out, item, depth + 1)?;
            }
        }
        Value::Object(map) => {
            out.push(OBJECT);
            put_varint(out, map.len() as u64);
            for (key, item) in map {
                put_str(out, key);
                encode_value(out, item, depth + 1)?;
            }
        }
    }
    Some(())
}

/// Appends `s` as its length (a varint) and its bytes.
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Appends `n` as a little-endian base-128 varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Decodes an entry; `None` when it does not read exactly.
fn decode_documents(blob: &[u8]) -> Option<Vec<ParsedDocument>> {
    let mut reader = Reader { bytes: blob, at: 0 };
    let count = reader.varint()?;
    // Each document takes at least three bytes: a bound against corrupt counts.
    if count > blob.len() as u64 {
        return None;
    }
    let mut documents = Vec::with_capacity(usize::try_from(count).ok()?);
    for _ in 0..count {
        let document = usize::try_from(reader.varint()?).ok()?;
        let line = usize::try_from(reader.varint()?).ok()?;
        let value = reader.value(0)?;
        documents.push(ParsedDocument {
            document,
            line,
            value,
        });
    }
    (reader.at == blob.len()).then_some(documents)
}

/// Reads what the `put_*` functions wrote; every read is `None` past the end.
pub(crate) struct Reader<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let slice = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(slice)
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    pub(crate) fn text(&mut self) -> Option<&'a str> {
        let len = usize::try_from(self.u64()?).ok()?;
        std::str::from_utf8(self.take(len)?).ok()
    }

    pub(crate) fn varint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.at)?;
            self.at += 1;
            n |= u64::from(byte & 0x7F).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }

    pub(crate) fn length(&mut self) -> Option<usize> {
        let len = usize::try_from(self.varint()?).ok()?;
        // Every item takes at least one byte.
        (len <= self.bytes.len() - self.at).then_some(len)
    }

    pub(crate) fn string(&mut self) -> Option<String> {
        let len = self.length()?;
        std::str::from_utf8(self.take(len)?).ok().map(str::to_owned)
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        let tag = *self.take(1)?.first()?;
        Some(match tag {
            NULL => Value::Null,
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            UNSIGNED => Value::Number(Number::from(self.varint()?)),
            NEGATIVE => {
                let i = !self.varint()? as i64;
                if i >= 0 {
                    return None;
                }
                Value::Number(Number::from(i))
            }
            FLOAT => {
                let bits = u64::from_le_bytes(self.take(8)?.try_into().ok()?);
                Value::Number(Number::from_f64(f64::from_bits(bits))?)
            }
            STRING => Value::String(self.string()?),
            ARRAY => {
                let len = self.length()?;
                let mut items = Vec::with_capacity(len);
                for _ in 0..len {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items)
            }
            OBJECT => {
                let len = self.length()?;
                let mut map = Map::with_capacity(len);
                for _ in 0..len {
                    let key = self.string()?;
                    let item = self.value(depth + 1)?;
                    if map.insert(key, item).is_some() {
                        return None;
                    }
                }
                Value::Object(map)
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;
    use strata_core::model::SourceLocation;

    fn resource(document: usize, line: usize, manifest: Value) -> Resource {
        let mut r = Resource::from_manifest(manifest).unwrap();
        r.source = Some(SourceLocation {
            file: PathBuf::from("x.yaml"),
            document,
            line,
        });
        r
    }

    #[test]
    fn values_round_trip_exactly() {
        let manifest = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "labels": {"z": "1", "a": "2"}},
            "data": {"n": null, "t": true, "f": false, "u": 18446744073709551615u64,
                     "i": -9223372036854775808i64, "m": -1, "x": 1.5, "e": -0.0, "s": "é\n",
                     "list": [1, [2, {}], []]}
        });
        let resources = vec![
            resource(0, 1, manifest.clone()),
            resource(
                3,
                40,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}),
            ),
        ];
        let blob = encode_documents(&resources).unwrap();
        let back = decode_documents(&blob).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!((back[0].document, back[0].line), (0, 1));
        assert_eq!((back[1].document, back[1].line), (3, 40));
        assert_eq!(back[0].value, manifest);
        // Key order is kept (maps preserve insertion order).
        assert_eq!(back[0].value.to_string(), manifest.to_string());
    }

    #[test]
    fn every_truncation_and_bit_flip_is_refused_or_exact() {
        let resources = vec![resource(
            0,
            1,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v", "n": 300}}),
        )];
        let blob = encode_documents(&resources).unwrap();
        for end in 0..blob.len() {
            assert!(
                decode_documents(&blob[..end]).is_none(),
                "truncated at {end}"
            );
        }
        // The checksum catches every single bit flip.
        for i in 0..blob.len() {
            for bit in 0..8 {
                let mut flipped = blob.clone();
                flipped[i] ^= 1 << bit;
                assert_ne!(checksum(&flipped), checksum(&blob), "byte {i} bit {bit}");
            }
        }
    }
}
