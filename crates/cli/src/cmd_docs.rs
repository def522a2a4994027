//! `strata completion` and `strata man`: shell completion scripts and manual pages, generated
//! from the command line's own definition so they never fall behind it.

use std::io::Write as _;

use anyhow::Context as _;
use clap::CommandFactory as _;

use crate::args::{Cli, CompletionArgs, EagerCommand, ManArgs};
use crate::commands::ExitCode;

/// Prints the completion script for `args.shell`.
pub fn completion(args: &CompletionArgs) -> anyhow::Result<ExitCode> {
    let mut command = Cli::<EagerCommand>::command();
    // Into memory first: the generator panics on a failed write (a reader that closed).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "strata", &mut script);
    print_all(&script)
}

/// Prints the manual page of `strata`, or writes one page per command into `--out`.
pub fn man(args: &ManArgs) -> anyhow::Result<ExitCode> {
    let command = Cli::<EagerCommand>::command();
    match &args.out {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command).render(&mut page)?;
            print_all(&page)?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
            clap_mangen::generate_to(command, dir).with_context(|| format!("{}", dir.display()))?;
            eprintln!("Wrote the manual pages into {}", dir.display());
        }
    }
    Ok(0)
}

/// Writes `bytes` to standard output; a reader that closed (`strata man | head`) ends the
/// command quietly, as `cat` does.
fn print_all(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(0),
    }
}
