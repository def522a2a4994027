//! Paths named on the command line: one sentence per problem, the path named once.

use std::path::Path;

use anyhow::bail;

/// Checks that `dir` is a stack directory: it exists and is a directory.
pub fn stack_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => bail!(
            "{}: not a directory; a stack is a directory of manifests",
            dir.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("{}: no such directory", dir.display())
        }
        Err(e) => bail!("{}: {}", dir.display(), io_problem(&e)),
    }
}

/// Checks that `path`, a file or a directory read as input, exists.
pub fn existing(path: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(path) {
        Ok(_) => Ok(()),
        Err(e) => bail!("{}: {}", path.display(), io_problem(&e)),
    }
}

/// An I/O error as the lower-case phrase an error line ends with (`no such file or
/// directory`), without the operating system's error number.
pub fn io_problem(e: &std::io::Error) -> String {
    tidy_os_errors(&e.to_string())
}

/// `line` with each operating-system error (`No such file or directory (os error 2)`) in
/// the same lower-case form as the rest of an error line (`no such file or directory`).
pub fn tidy_os_errors(line: &str) -> String {
    const MARK: &str = " (os error ";
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find(MARK) {
        let after = &rest[at + MARK.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || !after[digits..].starts_with(')') {
            out.push_str(&rest[..at + MARK.len()]);
            rest = after;
            continue;
        }
        // The operating system's message starts after the last `: ` before it.
        let message = &rest[..at];
        let start = message.rfind(": ").map_or(0, |i| i + 2);
        out.push_str(&message[..start]);
        out.push_str(&lowercase_first(&message[start..]));
        rest = &after[digits + 1..];
    }
    out.push_str(rest);
    out
}

/// `s` with its first letter in lower case when it starts a sentence (`No such file`), not
/// an acronym or a name (`EOF`).
fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_uppercase() && !second.is_uppercase() => {
            let mut out: String = first.to_lowercase().collect();
            out.push_str(&s[first.len_utf8()..]);
            out
        }
        _ => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_read_as_the_rest_of_the_line() {
        assert_eq!(
            tidy_os_errors("a.yaml: No such file or directory (os error 2)"),
            "a.yaml: no such file or directory"
        );
        assert_eq!(
            tidy_os_errors("x: Not a directory (os error 20); y: Is a directory (os error 21)"),
            "x: not a directory; y: is a directory"
        );
        assert_eq!(
            tidy_os_errors("EIO (os error 5) and (os error x)"),
            "EIO and (os error x)"
        );
        assert_eq!(tidy_os_errors("nothing to tidy"), "nothing to tidy");
    }
}
