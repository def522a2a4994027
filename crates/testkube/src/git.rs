//! Running `git` in tests that build repositories: one fixed author, failures fail the test.

use std::path::Path;
use std::process::Command;

/// Runs `git ARGS` in `dir` with a fixed author and committer; its standard output, trimmed.
///
/// # Panics
///
/// When `git` cannot be run or exits unsuccessfully (with its standard error), failing the
/// test that called it.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = match Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
    {
        Ok(out) => out,
        Err(error) => panic!("git {args:?}: {error}"),
    };
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
