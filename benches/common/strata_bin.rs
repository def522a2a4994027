//! The release `strata` binary the process benches run.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The release `strata` binary: `STRATA_BIN`, else `cargo build --release -p stratagit-cli`
/// into `target`.
pub fn strata_binary(target: &Path) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("STRATA_BIN") {
        return Ok(PathBuf::from(path));
    }
    // Cargo sets CARGO for the programs it runs; the outer build is finished by now.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "-p",
            "stratagit-cli",
            "--bin",
            "strata",
        ])
        .env("CARGO_TARGET_DIR", target)
        .status()
        .map_err(|e| format!("running {}: {e}", Path::new(&cargo).display()))?;
    if !status.success() {
        return Err(format!(
            "cargo build --release -p stratagit-cli failed ({status})"
        ));
    }
    Ok(target.join("release").join("strata"))
}
