//! Rendering a Helm chart: Strata's CLI against `helm template`, both as processes pinned to
//! one core (process start included on both sides), back to back in one run, plus Strata's
//! in-process figure (`strata_sources::helm::render`, the chart read from disk each time).
//!
//! The bench pins itself to core 0 (`sched_setaffinity`) and its children inherit the pin, so
//! the time of a run is that of the program measured. `STRATA_BENCH_TASKSET=1` pins each run
//! with `taskset -c 0 <program>` instead, as the bench did before: that adds the start of
//! `taskset` itself (about 1.3 ms of CPU per run on the project's machine) to both sides.
//!
//! The charts are the project's differential-test charts: `webapp` (subcharts with alias and
//! condition, a library chart's helpers, CRDs, hooks, schema) with its staging values,
//! `legacy` (apiVersion v1, Sprig-heavy) with its server values, and `bundle` (subcharts
//! packaged by `helm package` as `.tgz`). Strata's CLI renders each as an Application of a
//! one-file stack (`strata graph STACK -o json`: load, expand, render the chart, build the
//! graph); helm runs `helm template RELEASE CHART --include-crds -f VALUES`. Before timing, the
//! object counts of both are printed.
//!
//! Prints, per chart, the median wall time of each side over `STRATA_BENCH_RUNS` runs (default
//! 10, after one warm-up each, alternating), the ratio, and the in-process median over 200
//! renders. Needs Go for the pinned helm (built into target/ once; or `HELM`) and the release
//! `strata` binary: `STRATA_BIN`, else built with `cargo build --release -p stratagit-cli`.
//! Exit codes: 0 measured, 2 a tool could not be run.

#[path = "common/strata_bin.rs"]
mod strata_bin;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use strata::core::source::FsTree;
use strata::sources::helm::{self, HelmOptions};

struct Chart {
    name: &'static str,
    /// The values file, relative to the chart.
    values: Option<&'static str>,
}

const CHARTS: &[Chart] = &[
    Chart {
        name: "webapp",
        values: Some("values/staging.yaml"),
    },
    Chart {
        name: "legacy",
        values: Some("ci/server.yaml"),
    },
    Chart {
        name: "bundle",
        values: Some("values/audit.yaml"),
    },
];

const RELEASE: &str = "shop";
const NAMESPACE: &str = "shop";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/sources/tests")
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for entry in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let target = to.join(entry.file_name());
        if entry.file_type().map_err(|e| e.to_string())?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .map_err(|e| format!("{}: {e}", target.display()))?;
        }
    }
    Ok(())
}

fn helm_command(helm: &Path, home: &Path) -> Command {
    let mut command = Command::new(helm);
    command
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"));
    command
}

/// A stack `<dir>/stack-<chart>` holding the chart under `charts/` and one Application.
fn lay_out(helm: &Path, dir: &Path, chart: &Chart) -> Result<PathBuf, String> {
    let stack = dir.join(format!("stack-{}", chart.name));
    let chart_dir = stack.join("charts").join(chart.name);
    if chart.name == "bundle" {
        copy_dir(&tests_dir().join("helm_packaged/bundle"), &chart_dir)?;
        for sub in ["metrics", "toolkit"] {
            let out = helm_command(helm, dir)
                .arg("package")
                .arg(tests_dir().join("helm_packaged").join(sub))
                .arg("--destination")
                .arg(chart_dir.join("charts"))
                .output()
                .map_err(|e| format!("helm package: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "helm package {sub}: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
    } else {
        copy_dir(
            &tests_dir().join("helm_charts").join(chart.name),
            &chart_dir,
        )?;
    }
    let value_files = chart
        .values
        .map(|v| format!("      valueFiles: [{v}]\n"))
        .unwrap_or_default();
    std::fs::write(
        stack.join("app.yaml"),
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {RELEASE}\nspec:\n  source:\n    repoURL: https://example.com/platform.git\n    path: charts/{}\n    helm:\n      releaseName: {RELEASE}\n{value_files}  destination:\n    namespace: {NAMESPACE}\n",
            chart.name
        ),
    )
    .map_err(|e| e.to_string())?;
    Ok(stack)
}

/// Pins this process, and so the processes it starts, to core 0.
fn pin_to_core_0() -> Result<(), String> {
    let mut cpus = rustix::thread::CpuSet::new();
    cpus.set(0);
    rustix::thread::sched_setaffinity(None, &cpus).map_err(|e| format!("pinning to core 0: {e}"))
}

/// `command`, or with `STRATA_BENCH_TASKSET=1` `taskset -c 0 <program> <args>`.
fn pinned(command: &Command) -> Command {
    if std::env::var_os("STRATA_BENCH_TASKSET").is_none_or(|v| v != "1") {
        let mut same = Command::new(command.get_program());
        same.args(command.get_args());
        for (k, v) in command.get_envs() {
            if let Some(v) = v {
                same.env(k, v);
            }
        }
        return same;
    }
    let mut pinned = Command::new("taskset");
    pinned
        .args(["-c", "0"])
        .arg(command.get_program())
        .args(command.get_args());
    for (k, v) in command.get_envs() {
        if let Some(v) = v {
            pinned.env(k, v);
        }
    }
    pinned
}

fn run(command: &Command) -> Result<(Duration, String), String> {
    let mut command = pinned(command);
    let started = Instant::now();
    let out = command
        .output()
        .map_err(|e| format!("starting {:?}: {e}", command.get_program()))?;
    let wall = started.elapsed();
    if !out.status.success() {
        return Err(format!(
            "{:?} failed: {}",
            command.get_args().collect::<Vec<_>>(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok((wall, String::from_utf8_lossy(&out.stdout).into_owned()))
}

fn median(walls: &[Duration]) -> Duration {
    let mut sorted = walls.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() -> ExitCode {
    match bench() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("helm bench: {message}");
            ExitCode::from(2)
        }
    }
}

fn bench() -> Result<(), String> {
    let runs = env_number("STRATA_BENCH_RUNS", 10).max(1);
    let target = strata_testkube::target_dir();
    let helm_program = strata_testkube::helm::ensure(&target).map_err(|e| e.to_string())?;
    let strata_program = strata_bin::strata_binary(&target)?;
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    pin_to_core_0()?;
    let pinning = if std::env::var_os("STRATA_BENCH_TASKSET").is_some_and(|v| v == "1") {
        "each run through taskset -c 0"
    } else {
        "the bench pinned, runs inherit"
    };
    println!(
        "helm {} vs strata ({}), {runs} runs each on core 0 ({pinning})",
        strata_testkube::helm::HELM_VERSION,
        strata_program.display()
    );
    for chart in CHARTS {
        let stack = lay_out(&helm_program, work.path(), chart)?;
        let chart_dir = stack.join("charts").join(chart.name);
        let mut strata_cmd = Command::new(&strata_program);
        strata_cmd
            .arg("graph")
            .arg(&stack)
            .args(["-o", "json"])
            .env("NO_COLOR", "1");
        let mut helm_cmd = helm_command(&helm_program, work.path());
        helm_cmd.args(["template", RELEASE]).arg(&chart_dir).args([
            "--namespace",
            NAMESPACE,
            "--include-crds",
        ]);
        if let Some(v) = chart.values {
            helm_cmd.arg("--values").arg(chart_dir.join(v));
        }
        // Warm-up, and what each produced.
        let (_, graph) = run(&strata_cmd)?;
        let (_, rendered) = run(&helm_cmd)?;
        let strata_objects = serde_json::from_str::<serde_json::Value>(&graph)
            .ok()
            .and_then(|g| g["resources"].as_array().map(Vec::len))
            .unwrap_or(0);
        let helm_objects = rendered
            .split("\n---")
            .filter(|d| d.lines().any(|l| l.starts_with("kind:")))
            .count();
        let (mut strata_walls, mut helm_walls) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            strata_walls.push(run(&strata_cmd)?.0);
            helm_walls.push(run(&helm_cmd)?.0);
        }
        let (s, h) = (median(&strata_walls), median(&helm_walls));
        // In process: the chart read from disk and rendered, 200 times.
        let tree = FsTree::new(stack.join("charts"));
        let mut options = HelmOptions::new(RELEASE, NAMESPACE);
        if let Some(v) = chart.values {
            let text = std::fs::read_to_string(chart_dir.join(v)).map_err(|e| e.to_string())?;
            options.value_files.push((v.to_string(), text));
        }
        let mut inproc = Vec::new();
        let mut manifests = 0;
        for _ in 0..200 {
            let started = Instant::now();
            manifests = helm::render(&tree, chart.name, &options)
                .map_err(|e| format!("{}: {e}", chart.name))?
                .len();
            inproc.push(started.elapsed());
        }
        println!(
            "{:<8} strata CLI {} ({strata_objects} resources) | helm template {} ({helm_objects} objects) | helm/strata {:.1}x | in process {} ({manifests} manifests)",
            chart.name,
            ms(s),
            ms(h),
            h.as_secs_f64() / s.as_secs_f64().max(1e-9),
            ms(median(&inproc)),
        );
    }
    Ok(())
}
