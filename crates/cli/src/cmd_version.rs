//! `strata version` and `strata --version`: the version, as text or data.

use crate::commands::ExitCode;
use crate::output::{self, Format};

/// What `-o json` and `-o yaml` print.
#[derive(Debug, serde::Serialize)]
struct Version {
    /// The command's name.
    name: &'static str,
    /// Its version.
    version: &'static str,
    /// The package it was built from.
    package: &'static str,
}

/// Prints the version in `format`.
pub fn run(format: Format) -> anyhow::Result<ExitCode> {
    let version = Version {
        name: "strata",
        version: env!("CARGO_PKG_VERSION"),
        package: env!("CARGO_PKG_NAME"),
    };
    output::require(format, "strata version", output::NO_MARKDOWN)?;
    match output::machine(format, &version)? {
        Some(text) => print!("{text}"),
        None => println!("{} {}", version.name, version.version),
    }
    Ok(0)
}
