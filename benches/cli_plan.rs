//! `strata plan DIR` end to end, as a user runs it: the release binary on a generated stack of
//! YAML files (the plan benches' shape, see `common/stack_yaml.rs`: 1 000 ConfigMaps per file,
//! about two `depends-on` entries each), no state, the sandbox provider, the human plan written
//! to a file. Parsing, expansion, observation, planning and rendering are all inside.
//!
//! For each size it prints wall time, user and system CPU time, the system share, CPU time per
//! resource, and the peak resident memory of the `strata` process, all from the kernel's
//! accounting of that one child (`getrusage(RUSAGE_CHILDREN)` in a helper process that runs
//! nothing else), then CPU time per resource relative to the smallest size (1.00 is linear).
//!
//! `STRATA_BENCH_THP=off` runs `strata` with transparent huge pages disabled for it
//! (`prctl(PR_SET_THP_DISABLE)` in the helper, inherited across `exec`), whatever the system's
//! setting; otherwise the system's setting (printed) applies.
//!
//! Then, unless `STRATA_BENCH_INCREMENTAL=0`, the incremental case: the cache under
//! `.strata/cache/` filled by a cold run, one resource of one file edited, and the stack planned
//! without the cache (`--no-cache`, the full re-plan) and with it; the two plans must be byte
//! for byte the same, and the incremental run's wall time is printed as a share of the full
//! re-plan's (the target: at most 10 %). The table above runs with `--no-cache`. Last,
//! the same for an applied stack (a copy of the generated one, applied once to its sandbox and
//! kept under `<target>/bench-stacks/applied-<size>/`), where the re-plan comes from the plan
//! snapshot: the edited resource is planned alone and the rest printed from the snapshot.
//!
//! Sizes: `STRATA_BENCH_SIZES` (comma-separated, default `10000,100000`; add `1000000` for the
//! issue's second target, about 220 MB of YAML). Runs per size: `STRATA_BENCH_RUNS` (default 1).
//! The binary: `STRATA_BIN`, else `cargo build --release -p stratagit-cli` is run first. Stacks
//! are generated once under `<target>/bench-stacks/` and reused. Run with
//! `cargo bench --bench cli_plan`; `cargo bench --bench cli_plan -- --generate DIR COUNT` only
//! writes a stack (for profiling by hand).

#[path = "common/stack_yaml.rs"]
mod stack_yaml;

#[path = "common/strata_bin.rs"]
mod strata_bin;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};

const DEFAULT_SIZES: &str = "10000,100000";

/// Bumped when the generated stack's shape changes, so stale stacks are written again.
const STACK_VERSION: &str = "1";

/// What the kernel accounted for one `strata plan` run.
#[derive(Debug, Clone, Copy)]
struct Run {
    wall: Duration,
    user: Duration,
    system: Duration,
    peak_mib: f64,
}

impl Run {
    fn cpu(&self) -> Duration {
        self.user + self.system
    }

    fn system_share(&self) -> f64 {
        100.0 * self.system.as_secs_f64() / self.cpu().as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

/// The generated stack of `count` resources, written under `target` unless already there.
fn stack_dir(target: &Path, count: usize) -> Result<PathBuf, String> {
    let dir = target
        .join("bench-stacks")
        .join(format!("cli-plan-{count}"));
    let marker = target
        .join("bench-stacks")
        .join(format!("cli-plan-{count}.version"));
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(STACK_VERSION) {
        return Ok(dir);
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let bytes =
        stack_yaml::write_stack(&dir, count).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::write(&marker, STACK_VERSION).map_err(|e| format!("{}: {e}", marker.display()))?;
    eprintln!(
        "wrote {count} resources ({:.1} MB of YAML) to {}",
        bytes as f64 / 1e6,
        dir.display()
    );
    Ok(dir)
}

/// In the helper process: runs `strata plan DIR` (with `extra` arguments) with the human plan
/// written to `out`, and prints what the kernel accounted for it (this process has no other
/// child).
fn measure_child(strata: &str, dir: &str, out: &str, extra: &[String]) -> ExitCode {
    let output = match std::fs::File::create(out) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("{out}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if std::env::var("STRATA_BENCH_THP").as_deref() == Ok("off")
        && let Err(e) = rustix::thread::disable_transparent_huge_pages(true)
    {
        eprintln!("prctl(PR_SET_THP_DISABLE): {e}");
        return ExitCode::FAILURE;
    }
    let start = Instant::now();
    let status = Command::new(strata)
        .args(["plan", dir])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(output)
        .status();
    let wall = start.elapsed();
    match status {
        // `strata plan` exits 0 with changes unless --detailed-exitcode.
        Ok(status) if status.success() => {}
        Ok(status) => {
            eprintln!("strata plan {dir} failed ({status})");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("running {strata}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let usage = match getrusage(UsageWho::RUSAGE_CHILDREN) {
        Ok(usage) => usage,
        Err(e) => {
            eprintln!("getrusage: {e}");
            return ExitCode::FAILURE;
        }
    };
    let micros = |t: nix::sys::time::TimeVal| t.tv_sec() * 1_000_000 + t.tv_usec();
    // ru_maxrss is in KiB on Linux.
    println!(
        "{} {} {} {}",
        wall.as_micros(),
        micros(usage.user_time()),
        micros(usage.system_time()),
        usage.max_rss()
    );
    ExitCode::SUCCESS
}

/// Runs the helper for one `strata plan` (with `extra` arguments) and reads its figures.
fn measure(
    me: &Path,
    strata: &Path,
    dir: &Path,
    out: &Path,
    extra: &[&str],
) -> Result<Run, String> {
    let output = Command::new(me)
        .arg("--measure")
        .args([strata, dir, out])
        .args(extra)
        .output()
        .map_err(|e| format!("running {}: {e}", me.display()))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let figures: Vec<i64> = text
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let [wall, user, system, rss_kib] = figures[..] else {
        return Err(format!("unexpected helper output: {text}"));
    };
    let duration = |us: i64| Duration::from_micros(u64::try_from(us).unwrap_or(0));
    Ok(Run {
        wall: duration(wall),
        user: duration(user),
        system: duration(system),
        peak_mib: rss_kib as f64 / 1024.0,
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--measure")
        && let [strata, dir, out, extra @ ..] = &args[i + 1..]
    {
        return measure_child(strata, dir, out, extra);
    }
    if let Some(i) = args.iter().position(|a| a == "--generate") {
        let (Some(dir), Some(Ok(count))) =
            (args.get(i + 1), args.get(i + 2).map(|c| c.parse::<usize>()))
        else {
            eprintln!("usage: cli_plan --generate DIR COUNT");
            return ExitCode::FAILURE;
        };
        return match stack_yaml::write_stack(Path::new(dir), count) {
            Ok(bytes) => {
                println!("{count} resources, {bytes} bytes of YAML in {dir}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{dir}: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let sizes: Vec<usize> = std::env::var("STRATA_BENCH_SIZES")
        .unwrap_or_else(|_| DEFAULT_SIZES.to_owned())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let runs: usize = std::env::var("STRATA_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1)
        .max(1);
    let me = std::env::current_exe().map_err(|e| format!("this bench's executable: {e}"))?;
    let target = strata_testkube::target_dir();
    let strata = strata_bin::strata_binary(&target)?;
    let thp =
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
    let thp_off = std::env::var("STRATA_BENCH_THP").as_deref() == Ok("off");
    println!(
        "strata plan DIR, {} ({} run(s) per size; transparent huge pages: {})",
        strata.display(),
        runs,
        if thp_off {
            "off for the process (PR_SET_THP_DISABLE)"
        } else {
            thp.trim()
        }
    );
    println!(
        "{:>9} | {:>8} | {:>8} | {:>8} | {:>6} | {:>10} | {:>8}",
        "resources", "wall s", "user s", "sys s", "sys %", "µs/res cpu", "peak MiB"
    );
    let mut rows = Vec::new();
    for &size in &sizes {
        let dir = stack_dir(&target, size)?;
        let out = target
            .join("bench-stacks")
            .join(format!("cli-plan-{size}.plan.txt"));
        for _ in 0..runs {
            let run = measure(&me, &strata, &dir, &out, &["--no-cache"])?;
            let per_resource = run.cpu().as_secs_f64() * 1e6 / size as f64;
            println!(
                "{size:>9} | {:>8.2} | {:>8.2} | {:>8.2} | {:>6.1} | {per_resource:>10.1} | {:>8.0}",
                run.wall.as_secs_f64(),
                run.user.as_secs_f64(),
                run.system.as_secs_f64(),
                run.system_share(),
                run.peak_mib
            );
            rows.push((size, per_resource));
        }
    }
    if let Some(&(smallest, base)) = rows.first() {
        println!("CPU time per resource relative to {smallest} resources:");
        for (size, per_resource) in rows {
            println!("{size:>9} | {:>5.2}", per_resource / base);
        }
    }
    if std::env::var("STRATA_BENCH_INCREMENTAL").as_deref() != Ok("0") {
        incremental(&me, &strata, &target, &sizes, runs)?;
        applied_edit(&me, &strata, &target, &sizes, runs)?;
    }
    Ok(())
}

/// A copy of the generated stack of `count` resources, applied to its sandbox (once: the
/// copy is kept under `target` and reused).
fn applied_stack(strata: &Path, target: &Path, count: usize) -> Result<PathBuf, String> {
    let source = stack_dir(target, count)?;
    let stacks = target.join("bench-stacks");
    let dir = stacks.join(format!("applied-{count}"));
    let marker = stacks.join(format!("applied-{count}.version"));
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(STACK_VERSION) {
        return Ok(dir);
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let entries = std::fs::read_dir(&source).map_err(|e| format!("{}: {e}", source.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", source.display()))?;
        if entry.path().extension().is_some_and(|e| e == "yaml") {
            std::fs::copy(entry.path(), dir.join(entry.file_name()))
                .map_err(|e| format!("{}: {e}", entry.path().display()))?;
        }
    }
    eprintln!("applying {count} resources to {} (once)", dir.display());
    let status = Command::new(strata)
        .args(["apply", "--auto-approve", "--no-cache"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("running {}: {e}", strata.display()))?;
    if !status.success() {
        return Err(format!("strata apply {} failed ({status})", dir.display()));
    }
    std::fs::write(&marker, STACK_VERSION).map_err(|e| format!("{}: {e}", marker.display()))?;
    Ok(dir)
}

/// The re-plan of an applied (settled) stack after one resource of one file is edited, with
/// the plan snapshot under `.strata/cache/`: per size, a plan that keeps the snapshot (the
/// snapshot removed before it, the parse cache kept), then the edit, then the full re-plan
/// (`--no-cache`) and the re-plan from the snapshot, whose outputs must be byte for byte the
/// same; the ratio is the second's wall time over the first's (the target: at most
/// 10 %).
fn applied_edit(
    me: &Path,
    strata: &Path,
    target: &Path,
    sizes: &[usize],
    runs: usize,
) -> Result<(), String> {
    println!("Re-plan of an applied stack after one resource changed (plan snapshot):");
    println!(
        "{:>9} | {:>15} | {:>15} | {:>15} | {:>8} | {:>8}",
        "resources", "keeps snapshot", "full re-plan s", "from snapshot", "ratio", "peak MiB"
    );
    for &size in sizes {
        let dir = applied_stack(strata, target, size)?;
        let outputs = target.join("bench-stacks");
        let full_out = outputs.join(format!("applied-{size}.full.txt"));
        let snapshot_out = outputs.join(format!("applied-{size}.snapshot.txt"));
        let edit = OneEdit::of(&dir, size)?;
        for _ in 0..runs {
            // The parse cache stays (warm after the first run); the snapshot is kept anew.
            let snapshot = dir.join(".strata").join("cache").join("plan.bin");
            if snapshot.exists() {
                std::fs::remove_file(&snapshot)
                    .map_err(|e| format!("{}: {e}", snapshot.display()))?;
            }
            let keeps = measure(me, strata, &dir, &snapshot_out, &[])?;
            let (full, from_snapshot) =
                edit.replanned(me, strata, &dir, &full_out, &snapshot_out)?;
            println!(
                "{size:>9} | {:>15} | {:>15} | {:>15} | {:>7.1}% | {:>8.0}",
                shown(&keeps),
                shown(&full),
                shown(&from_snapshot),
                100.0 * from_snapshot.wall.as_secs_f64() / full.wall.as_secs_f64(),
                from_snapshot.peak_mib
            );
        }
    }
    Ok(())
}

/// The re-plan after one file changed, with the parse cache under `.strata/cache/` (see the
/// module documentation): per size, the cold run that fills the cache, then one resource of one
/// file edited (same length) and the stack planned without the cache (the full re-plan) and
/// with it (the incremental one), whose outputs must be byte for byte the same.
fn incremental(
    me: &Path,
    strata: &Path,
    target: &Path,
    sizes: &[usize],
    runs: usize,
) -> Result<(), String> {
    println!("Re-plan after one file changed (parse cache under .strata/cache/):");
    println!(
        "{:>9} | {:>15} | {:>15} | {:>15} | {:>8}",
        "resources", "cold cache s", "full re-plan s", "incremental s", "ratio"
    );
    for &size in sizes {
        let dir = stack_dir(target, size)?;
        let outputs = target.join("bench-stacks");
        let full_out = outputs.join(format!("cli-plan-{size}.full.txt"));
        let incremental_out = outputs.join(format!("cli-plan-{size}.incremental.txt"));
        let edit = OneEdit::of(&dir, size)?;
        for _ in 0..runs {
            let cache = dir.join(".strata").join("cache");
            if cache.exists() {
                std::fs::remove_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
            }
            let cold = measure(me, strata, &dir, &incremental_out, &[])?;
            let (full, incremental) =
                edit.replanned(me, strata, &dir, &full_out, &incremental_out)?;
            println!(
                "{size:>9} | {:>15} | {:>15} | {:>15} | {:>7.1}%",
                shown(&cold),
                shown(&full),
                shown(&incremental),
                100.0 * incremental.wall.as_secs_f64() / full.wall.as_secs_f64()
            );
        }
    }
    Ok(())
}

/// One resource of one file of a generated stack edited at the same length (`owner:
/// platform` to `platforn`, data only).
struct OneEdit {
    file: PathBuf,
    original: String,
    edited: String,
}

impl OneEdit {
    /// The edit of the middle file of the stack `dir` of `size` resources.
    fn of(dir: &Path, size: usize) -> Result<Self, String> {
        let file = dir.join(format!(
            "stack-{:05}.yaml",
            size.div_ceil(stack_yaml::PER_FILE) / 2
        ));
        let original =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let edited = original.replacen("owner: platform", "owner: platforn", 1);
        Ok(Self {
            file,
            original,
            edited,
        })
    }

    /// Makes the edit, plans the stack without any cache (the human plan into `full_out`) and
    /// with the caches (into `cached_out`), puts the file back, and checks both plans are the
    /// same, byte for byte.
    fn replanned(
        &self,
        me: &Path,
        strata: &Path,
        dir: &Path,
        full_out: &Path,
        cached_out: &Path,
    ) -> Result<(Run, Run), String> {
        let write = |text: &str| {
            std::fs::write(&self.file, text).map_err(|e| format!("{}: {e}", self.file.display()))
        };
        write(&self.edited)?;
        let measured = measure(me, strata, dir, full_out, &["--no-cache"])
            .and_then(|full| Ok((full, measure(me, strata, dir, cached_out, &[])?)));
        write(&self.original)?;
        let runs = measured?;
        if std::fs::read(full_out).ok() != std::fs::read(cached_out).ok() {
            return Err(format!(
                "the plans differ: {} and {}",
                full_out.display(),
                cached_out.display()
            ));
        }
        Ok(runs)
    }
}

/// A run's wall time and CPU time, as the tables print them.
fn shown(run: &Run) -> String {
    format!(
        "{:.2} ({:.2} cpu)",
        run.wall.as_secs_f64(),
        run.cpu().as_secs_f64()
    )
}
