//! Relative `/`-separated paths inside a source tree.

use super::SourceError;

/// Normalises a relative path: drops `.` and empty segments, resolves `..`, strips a leading
/// `./`. A path that is absolute or climbs above the root is an error.
pub fn normalize(path: &str) -> Result<String, SourceError> {
    if path.starts_with('/') {
        return Err(SourceError::OutsideTree { path: path.into() });
    }
    if is_normal(path) {
        return Ok(path.to_owned());
    }
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(SourceError::OutsideTree { path: path.into() });
                }
            }
            s => parts.push(s),
        }
    }
    Ok(parts.join("/"))
}

/// Whether `path` is already as [`normalize`] leaves it: not empty, and no segment empty,
/// `.` or `..` (so no leading, trailing or doubled `/` either).
fn is_normal(path: &str) -> bool {
    !path.is_empty() && path.split('/').all(|s| !matches!(s, "" | "." | ".."))
}

/// Joins `rel` onto the directory `dir` and normalises the result.
pub fn join(dir: &str, rel: &str) -> Result<String, SourceError> {
    if dir.is_empty() {
        return normalize(rel);
    }
    let mut joined = String::with_capacity(dir.len() + 1 + rel.len());
    joined.push_str(dir);
    joined.push('/');
    joined.push_str(rel);
    if is_normal(&joined) {
        return Ok(joined);
    }
    normalize(&joined).map_err(|_| SourceError::OutsideTree { path: joined })
}

/// The directory containing `path` (`""` for a top-level entry).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_dots_and_parents() {
        assert_eq!(normalize("./a//b/./c").unwrap(), "a/b/c");
        assert_eq!(
            join("services/web/overlays/dev", "../../base").unwrap(),
            "services/web/base"
        );
        assert_eq!(normalize("").unwrap(), "");
        assert_eq!(parent("a/b/c.yaml"), "a/b");
        assert_eq!(parent("c.yaml"), "");
    }

    #[test]
    fn refuses_paths_leaving_the_tree() {
        assert!(normalize("../x").is_err());
        assert!(join("a", "../../x").is_err());
        assert!(normalize("/etc/passwd").is_err());
    }

    /// What `normalize` computed before normal paths were returned as they are.
    fn by_segments(path: &str) -> Option<String> {
        if path.starts_with('/') {
            return None;
        }
        let mut parts: Vec<&str> = Vec::new();
        for seg in path.split('/') {
            match seg {
                "" | "." => {}
                ".." => {
                    parts.pop()?;
                }
                s => parts.push(s),
            }
        }
        Some(parts.join("/"))
    }

    #[test]
    fn normal_paths_come_back_as_they_are() {
        let pieces = ["", "a", "b.yaml", ".", "..", ".a", "a..", "...", " "];
        for x in pieces {
            for y in pieces {
                for z in pieces {
                    for sep in ["/", "//"] {
                        let path = format!("{x}{sep}{y}/{z}");
                        for path in [path.clone(), format!("/{path}"), format!("{path}/")] {
                            assert_eq!(normalize(&path).ok(), by_segments(&path), "{path:?}");
                        }
                        let joined = join(x, &format!("{y}{sep}{z}")).ok();
                        let expected = if x.is_empty() {
                            by_segments(&format!("{y}{sep}{z}"))
                        } else {
                            by_segments(&format!("{x}/{y}{sep}{z}"))
                        };
                        assert_eq!(joined, expected, "{x:?} + {y:?}{sep}{z:?}");
                    }
                }
            }
        }
        assert_eq!(
            join("a/b", "../../..").unwrap_err().to_string(),
            SourceError::OutsideTree {
                path: "a/b/../../..".into()
            }
            .to_string()
        );
    }
}
