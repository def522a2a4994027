//! Packaged charts (`.tgz`, as `helm package` makes them) read as Helm's loader reads them:
//! a gzip'd tar whose entries sit under one top directory (the chart's name), that directory
//! stripped from every path. Absolute paths and paths leaving the chart are refused, as are
//! links and devices; the number of entries, each file's size and the total size are bounded
//! by [`ArchiveLimits`].

use std::io::Read;

use strata_core::source::MemoryTree;

/// What reading one chart archive may consume. The defaults are Helm's (`helm template`
/// refuses archives beyond them too): 5 MiB per file, 100 MiB in all; and 10,000 entries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArchiveLimits {
    /// Entries (files, directories, headers) of the archive.
    pub max_entries: usize,
    /// Bytes of one file, unpacked.
    pub max_file_bytes: u64,
    /// Bytes of all files, unpacked.
    pub max_total_bytes: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            max_entries: 10_000,
            max_file_bytes: 5 << 20,
            max_total_bytes: 100 << 20,
        }
    }
}

impl ArchiveLimits {
    /// Sets [`max_entries`](Self::max_entries).
    pub fn with_max_entries(mut self, max_entries: usize) -> Self {
        self.max_entries = max_entries;
        self
    }

    /// Sets [`max_file_bytes`](Self::max_file_bytes).
    pub fn with_max_file_bytes(mut self, max_file_bytes: u64) -> Self {
        self.max_file_bytes = max_file_bytes;
        self
    }

    /// Sets [`max_total_bytes`](Self::max_total_bytes).
    pub fn with_max_total_bytes(mut self, max_total_bytes: u64) -> Self {
        self.max_total_bytes = max_total_bytes;
        self
    }
}

/// A chart archive could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// Not a gzip'd tar, or cut short.
    #[error("not a readable gzip'd tar archive: {0}")]
    Corrupt(#[source] std::io::Error),
    /// More entries than [`ArchiveLimits::max_entries`].
    #[error("more than {limit} entries")]
    TooManyEntries {
        /// The limit.
        limit: usize,
    },
    /// A file larger than [`ArchiveLimits::max_file_bytes`].
    #[error("{path}: larger than the limit of {limit} bytes per file")]
    FileTooLarge {
        /// The entry.
        path: String,
        /// The limit.
        limit: u64,
    },
    /// Files larger in all than [`ArchiveLimits::max_total_bytes`].
    #[error("unpacked larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// An entry whose path is absolute.
    #[error("{path}: absolute path in the archive")]
    AbsolutePath {
        /// The entry.
        path: String,
    },
    /// An entry whose path leaves the chart's directory (`..`), or is the directory itself.
    #[error("{path}: path outside the chart's directory")]
    PathTraversal {
        /// The entry.
        path: String,
    },
    /// A symbolic or hard link, a device or a FIFO.
    #[error("{path}: unsupported entry type {kind} (only files and directories)")]
    EntryType {
        /// The entry.
        path: String,
        /// What it is.
        kind: String,
    },
    /// `Chart.yaml` at the top of the archive instead of under the chart's directory.
    #[error("Chart.yaml not in the chart's directory")]
    ChartYamlNotInBase,
    /// No files at all.
    #[error("no files in the chart archive")]
    Empty,
}

/// Unpacks a chart archive into memory, the chart at the tree's root.
pub fn unpack(bytes: &[u8], limits: &ArchiveLimits) -> Result<MemoryTree, ArchiveError> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut tree = MemoryTree::new();
    let (mut count, mut total, mut files) = (0usize, 0u64, 0usize);
    for entry in archive.entries().map_err(ArchiveError::Corrupt)? {
        let mut entry = entry.map_err(ArchiveError::Corrupt)?;
        count += 1;
        if count > limits.max_entries {
            return Err(ArchiveError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        if !(kind.is_file() || kind == tar::EntryType::Continuous) {
            return Err(ArchiveError::EntryType {
                path: raw,
                kind: format!("{kind:?}"),
            });
        }
        let path = chart_path(&raw)?;
        let size = entry.header().size().map_err(ArchiveError::Corrupt)?;
        if size > limits.max_file_bytes {
            return Err(ArchiveError::FileTooLarge {
                path: raw,
                limit: limits.max_file_bytes,
            });
        }
        total += size;
        if total > limits.max_total_bytes {
            return Err(ArchiveError::TooLarge {
                limit: limits.max_total_bytes,
            });
        }
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        (&mut entry)
            .take(limits.max_file_bytes)
            .read_to_end(&mut data)
            .map_err(ArchiveError::Corrupt)?;
        tree.insert(&path, data);
        files += 1;
    }
    if files == 0 {
        return Err(ArchiveError::Empty);
    }
    Ok(tree)
}

/// The chart-relative path of an archive entry: its first component (the chart's directory)
/// dropped, as Helm's loader drops it, and cleaned; refused when absolute or outside.
fn chart_path(raw: &str) -> Result<String, ArchiveError> {
    let delimiter = if raw.contains('\\') { '\\' } else { '/' };
    let mut parts = raw.split(delimiter);
    let first = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    if rest.is_empty() && first == "Chart.yaml" {
        return Err(ArchiveError::ChartYamlNotInBase);
    }
    let joined = rest.join("/");
    if joined.starts_with('/') {
        return Err(ArchiveError::AbsolutePath {
            path: raw.to_string(),
        });
    }
    let drive = joined.len() >= 2
        && joined.as_bytes()[1] == b':'
        && joined.as_bytes()[0].is_ascii_alphabetic();
    if drive {
        return Err(ArchiveError::AbsolutePath {
            path: raw.to_string(),
        });
    }
    let mut clean: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if clean.pop().is_none() {
                    return Err(ArchiveError::PathTraversal {
                        path: raw.to_string(),
                    });
                }
            }
            p => clean.push(p),
        }
    }
    if clean.is_empty() {
        return Err(ArchiveError::PathTraversal {
            path: raw.to_string(),
        });
    }
    Ok(clean.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::source::SourceTree;

    fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::default(),
        ));
        for (path, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            // `set_path` refuses `..`; write the name bytes as a hostile archive would.
            let name = &mut header.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            builder.append(&header, *data).expect("append");
        }
        builder.into_inner().expect("tar").finish().expect("gzip")
    }

    #[test]
    fn the_top_directory_is_stripped() {
        let bytes = archive(&[
            ("sub/Chart.yaml", b"name: sub\n"),
            ("sub/templates/a.yaml", b"a: 1\n"),
        ]);
        let tree = unpack(&bytes, &ArchiveLimits::default()).expect("unpacked");
        assert_eq!(
            tree.files().expect("files"),
            vec!["Chart.yaml".to_string(), "templates/a.yaml".to_string()]
        );
    }

    #[test]
    fn traversal_and_absolute_paths_are_refused() {
        let bytes = archive(&[("sub/../../etc/passwd", b"x")]);
        let err = unpack(&bytes, &ArchiveLimits::default()).expect_err("refused");
        assert!(matches!(err, ArchiveError::PathTraversal { .. }), "{err}");
        let bytes = archive(&[("sub//etc/passwd", b"x")]);
        let err = unpack(&bytes, &ArchiveLimits::default()).expect_err("refused");
        assert!(matches!(err, ArchiveError::AbsolutePath { .. }), "{err}");
        let bytes = archive(&[("Chart.yaml", b"x")]);
        let err = unpack(&bytes, &ArchiveLimits::default()).expect_err("refused");
        assert!(matches!(err, ArchiveError::ChartYamlNotInBase), "{err}");
    }

    #[test]
    fn limits_apply() {
        let bytes = archive(&[("s/a", b"12345"), ("s/b", b"12345"), ("s/c", b"1")]);
        let limits = ArchiveLimits::default();
        assert!(unpack(&bytes, &limits).is_ok());
        let err = unpack(&bytes, &limits.clone().with_max_entries(2)).expect_err("entries");
        assert!(
            matches!(err, ArchiveError::TooManyEntries { limit: 2 }),
            "{err}"
        );
        let err = unpack(&bytes, &limits.clone().with_max_file_bytes(4)).expect_err("file");
        assert!(matches!(err, ArchiveError::FileTooLarge { .. }), "{err}");
        let err = unpack(&bytes, &limits.with_max_total_bytes(10)).expect_err("total");
        assert!(matches!(err, ArchiveError::TooLarge { limit: 10 }), "{err}");
        let err = unpack(b"not gzip", &ArchiveLimits::default()).expect_err("corrupt");
        assert!(matches!(err, ArchiveError::Corrupt(_)), "{err}");
    }
}
