//! The `strata` command: plan, apply and inspect GitOps infrastructure.
//!
//! Exit codes: 0 success (for `plan --detailed-exitcode`: no changes), 1 error, 2 changes
//! present (`plan --detailed-exitcode` only).

mod args;
mod aws;
mod backend_record;
mod cache;
mod cmd_app;
mod cmd_controller;
mod cmd_docs;
mod cmd_generate;
mod cmd_health;
mod cmd_import;
mod cmd_ownership;
mod cmd_recover;
mod cmd_render;
mod cmd_saved;
mod cmd_set_image;
mod cmd_state;
mod cmd_validate;
mod cmd_version;
mod commands;
mod drift;
mod json_scan;
mod kube;
mod output;
mod paths;
mod progress;
mod replan;
mod repos;
mod stack;
mod style;
mod terraform;

use clap::{CommandFactory as _, FromArgMatches as _};

use crate::args::{Cli, Command, Deferred};

#[global_allocator]
static GLOBAL: strata_alloc::Allocator = strata_alloc::Allocator;

/// Output piped into a reader that closed (`strata plan -o json | head`) ends the process
/// quietly, as `cat` does, instead of panicking: Rust ignores SIGPIPE, so `println!` panics
/// with a broken-pipe message, which this hook turns into a silent exit.
fn exit_quietly_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// When memory a command frees goes back to the system (see `strata_alloc`). A command that
/// ends when its work is done keeps it until it exits: a large plan frees and reuses gigabytes
/// within seconds, and each page returned and used again costs a page fault.
fn freed_memory_of(command: &Command) -> strata_alloc::FreedMemory {
    // Every command named, so that a new long-running one is placed here on purpose.
    match command {
        Command::Controller(_) => strata_alloc::FreedMemory::CONTROLLER,
        Command::Show(_)
        | Command::Graph(_)
        | Command::Render(_)
        | Command::Health(_)
        | Command::Generate(_)
        | Command::SetImage(_)
        | Command::Completion(_)
        | Command::Man(_)
        | Command::Version(_)
        | Command::Plan(_)
        | Command::Apply(_)
        | Command::Destroy(_)
        | Command::Drift(_)
        | Command::State(_)
        | Command::Import(_)
        | Command::Ownership(_)
        | Command::Validate(_)
        | Command::App(_) => strata_alloc::FreedMemory::ONE_SHOT,
    }
}

fn main() {
    strata_alloc::keep_small_pages();
    exit_quietly_on_closed_stdout();
    let cli = parse();
    if cli.global.no_color {
        style::disable();
    }
    tracing_subscriber::fmt()
        .with_env_filter(log_filter(&cli.global))
        .with_ansi(style::stderr())
        .with_writer(std::io::stderr)
        .init();
    tracing::debug!(version = env!("CARGO_PKG_VERSION"), "strata");
    let command = match (cli.command, cli.version) {
        (_, true) => Command::Version(Deferred(args::VersionArgs {
            output: cli.output.unwrap_or(output::Format::Human),
        })),
        (Some(command), false) => command,
        (None, false) => {
            let _ = <Cli>::command()
                .error(
                    clap::error::ErrorKind::MissingSubcommand,
                    "a command is required; `strata --help` lists them",
                )
                .print();
            std::process::exit(1);
        }
    };
    strata_alloc::set_freed_memory(freed_memory_of(&command));
    let result = match command {
        // Commands that reach no provider, cluster or cloud (they read files, render and
        // print) run on the main thread without a runtime; see `in_runtime`.
        Command::Show(Deferred(args)) => cmd_saved::show(args),
        Command::Graph(Deferred(args)) => commands::graph(args),
        Command::Render(Deferred(args)) => cmd_render::run(args),
        Command::Health(Deferred(args)) => cmd_health::run(&args),
        Command::Generate(Deferred(args)) => cmd_generate::run(args),
        Command::SetImage(Deferred(args)) => cmd_set_image::run(args),
        Command::Completion(Deferred(args)) => cmd_docs::completion(&args),
        Command::Man(Deferred(args)) => cmd_docs::man(&args),
        Command::Version(Deferred(args)) => cmd_version::run(args.output),
        Command::Plan(Deferred(args)) => in_runtime(commands::plan(args)),
        Command::Apply(Deferred(args)) => in_runtime(commands::apply(args)),
        Command::Destroy(Deferred(args)) => in_runtime(commands::destroy(args)),
        Command::Drift(Deferred(args)) => in_runtime(drift::run(args)),
        Command::State(Deferred(args)) => in_runtime(cmd_state::run(args.command)),
        Command::Import(Deferred(args)) => in_runtime(cmd_import::run(args)),
        Command::Ownership(Deferred(args)) => in_runtime(cmd_ownership::run(args)),
        Command::Validate(Deferred(args)) => in_runtime(cmd_validate::run(args)),
        Command::Controller(Deferred(args)) => in_runtime(cmd_controller::run(args)),
        Command::App(Deferred(args)) => in_runtime(cmd_app::run(args)),
    };
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {}", error_line(&e));
            1
        }
    };
    std::process::exit(code);
}

/// Runs a command that reaches providers, clusters or clouds in a multi-thread runtime.
///
/// The commands `main` runs itself are synchronous and get no runtime at all: building one,
/// even a current-thread one, creates an epoll instance, an event fd and the signal driver's
/// socket pair, and a multi-thread one starts a worker thread per core and reads the cgroup's
/// CPU quota, all of it a visible share of a short command (`strata graph` of one chart).
fn in_runtime(
    command: impl std::future::Future<Output = anyhow::Result<commands::ExitCode>>,
) -> anyhow::Result<commands::ExitCode> {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: starting the runtime: {e}");
            std::process::exit(1);
        }
    };
    runtime.block_on(command)
}

/// What is logged: `-v`, `-q` or `--log-level` when given (an explicit flag wins), else
/// `RUST_LOG` when set and valid, else warnings and errors.
fn log_filter(global: &args::GlobalArgs) -> tracing_subscriber::EnvFilter {
    use tracing_subscriber::EnvFilter;
    match global.log_level() {
        Some(level) => EnvFilter::new(level.directive()),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    }
}

/// The command line; a usage error exits 1 like every other error (2 means "changes
/// present"), help and version exit 0. Help and usage errors are coloured as output is.
fn parse() -> Cli {
    let colour = if style::refused() || std::env::args_os().any(|a| a == "--no-color") {
        clap::ColorChoice::Never
    } else {
        clap::ColorChoice::Auto
    };
    let parsed = <Cli>::command()
        .color(colour)
        .try_get_matches()
        .and_then(|mut matches| <Cli>::from_arg_matches_mut(&mut matches));
    match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    }
}

/// An error and its causes on one line, each cause once: most errors already write their
/// cause into their own message, and a cause they wrote is not repeated. Operating-system
/// errors read as the rest of the line (`no such file or directory`, without its number).
fn error_line(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    paths::tidy_os_errors(&line)
}
