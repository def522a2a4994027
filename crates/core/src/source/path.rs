//! Relative `/`-separated paths inside a source tree.

use super::SourceError;

/// Normalises a relative path: drops `.` and empty segments, resolves `..`, strips a leading
/// `./`. A path that is absolute or climbs above the root is an error.
pub fn normalize(path: &str) -> Result<String, SourceError> {
    if path.starts_with('/') {
        return Err(SourceError::OutsideTree { path: path.into() });
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

/// Joins `rel` onto the directory `dir` and normalises the result.
pub fn join(dir: &str, rel: &str) -> Result<String, SourceError> {
    if dir.is_empty() {
        normalize(rel)
    } else {
        normalize(&format!("{dir}/{rel}")).map_err(|_| SourceError::OutsideTree {
            path: format!("{dir}/{rel}"),
        })
    }
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
}
