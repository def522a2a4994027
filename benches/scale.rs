//! Planning cost against size: the plan bench's generated stack (ConfigMaps with about two
//! dependencies each) planned at several sizes, each size in a process of its own so that its
//! peak memory is its own.
//!
//! For each size it prints: the resident memory the desired set alone adds; a first apply
//! (graph, reference resolution, plan; nothing in the state); a re-plan with everything up to
//! date (state and observations in memory, as the controller holds them: live objects as
//! compact text, as its watch cache and the sandbox keep them); for each, wall time,
//! CPU time (user + system, from `getrusage`, so other load on the machine shows less),
//! the share of system time, time per resource, and the process's peak resident memory. Then
//! the time per resource of each size relative to the smallest, CPU time (warm and cold) and
//! wall time (warm): 1.00 everywhere is linear.
//! Each plan runs several rounds in the size's process (fifteen up to 10 000, whose rounds take
//! a few milliseconds each and set every ratio's denominator, five up to 100 000, three above). The
//! figures are those of the later rounds (median): "warm", a process that planned before and
//! reuses the memory it freed (the process keeps freed memory as `strata` commands do,
//! `strata_alloc::FreedMemory::ONE_SHOT`). The first round's CPU time per
//! resource is printed too ("cold": every page faulted in fresh, as one `strata plan` run).
//! Earlier versions reported the median of all five rounds below 300 000 and the single cold
//! round above, which set warm small sizes against cold large ones.
//!
//! Then the controller's incremental case (see `strata_core::plan::incremental`): the settled
//! stack held by an incremental planner, one resource edited and planned again (median and
//! slowest of 21), one resource added, and one resource removed (a leaf near the end of the
//! set: the generated stack's other resources are named by `depends-on` annotations, so
//! removing them would make the set invalid).
//!
//! Sizes: `STRATA_BENCH_SIZES` (comma-separated, default `10000,100000,300000`; add `1000000`
//! on a machine with about 16 GiB free). Run with `cargo bench --bench scale`.

#[path = "common/stack.rs"]
mod stack;

use std::collections::HashMap;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use strata::core::plan::Observations;
use strata::core::provider::Observation;
use strata::core::state::{ResourceState, ResourceStatus};
use strata::core::{LiveObject, State};

// The allocator a production binary uses.
#[global_allocator]
static GLOBAL: strata_alloc::Allocator = strata_alloc::Allocator;

const DEFAULT_SIZES: &str = "10000,100000,300000";

/// A `/proc/self/status` figure in MiB (`VmRSS`, `VmHWM`).
fn memory_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with(field))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// User and system CPU time of this process so far, in microseconds (`getrusage`), not the
/// 10 ms ticks of `/proc/self/stat`, which made the smallest size's figures coarse.
fn cpu_times() -> (Duration, Duration) {
    use nix::sys::resource::{UsageWho, getrusage};
    let Ok(usage) = getrusage(UsageWho::RUSAGE_SELF) else {
        return (Duration::ZERO, Duration::ZERO);
    };
    let micros = |t: nix::sys::time::TimeVal| {
        Duration::from_micros(
            u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000
                + u64::try_from(t.tv_usec()).unwrap_or(0),
        )
    };
    (micros(usage.user_time()), micros(usage.system_time()))
}

struct Phase {
    wall: Duration,
    user: Duration,
    system: Duration,
}

fn measure<T>(work: impl FnOnce() -> T) -> (T, Phase) {
    let (user, system) = cpu_times();
    let started = Instant::now();
    let out = work();
    let wall = started.elapsed();
    let (user_after, system_after) = cpu_times();
    (
        out,
        Phase {
            wall,
            user: user_after.saturating_sub(user),
            system: system_after.saturating_sub(system),
        },
    )
}

/// The first phase (cold) and the phase of median wall time among the others (warm).
fn cold_and_warm(mut phases: Vec<Phase>) -> (Phase, Phase) {
    let cold = phases.remove(0);
    phases.sort_by_key(|p| p.wall);
    let middle = phases.len() / 2;
    (cold, phases.swap_remove(middle))
}

/// Measures one size and prints one tab-separated line for the parent.
fn child(count: usize) {
    // The process set up as a `strata` command's: small pages, freed memory kept until exit, so
    // that the warm rounds reuse what the round before freed instead of faulting it in afresh.
    strata_alloc::keep_small_pages();
    strata_alloc::set_freed_memory(strata_alloc::FreedMemory::ONE_SHOT);
    let before = memory_mib("VmRSS:");
    let resources = stack::desired(count);
    let desired_growth = memory_mib("VmRSS:") - before;
    let empty: Observations = HashMap::new();
    // Small sizes take a few milliseconds: the median of several rounds, so that the ratios
    // against them are not one noisy run's; the first round is reported apart (cold).
    let rounds = if count <= 10_000 {
        15
    } else if count <= 100_000 {
        5
    } else {
        3
    };
    let mut firsts = Vec::with_capacity(rounds);
    let mut resources = Some(resources);
    for _ in 0..rounds {
        let desired = resources.take().unwrap_or_else(|| stack::desired(count));
        let (created, phase) = measure(|| stack::plan_once(desired, &State::new(), &empty));
        assert_eq!(created.changes.len(), count);
        drop(created);
        firsts.push(phase);
    }
    let (first_cold, first) = cold_and_warm(firsts);
    let peak_first = memory_mib("VmHWM:");
    let resources = stack::desired(count);
    let mut state = State::new();
    let mut live = Observations::with_capacity(count);
    for r in &resources {
        let stamped = strata::core::ownership::stamp(&r.manifest, "bench");
        state.put(ResourceState {
            key: r.key.clone(),
            api_version: "v1".into(),
            provider: "sandbox".into(),
            status: ResourceStatus::Applied,
            last_applied: (&stamped).into(),
            dependencies: Vec::new(),
            outputs: serde_json::Value::Null,
            protect: false,
        });
        // As the controller's watch cache and the sandbox hold live objects: compact text.
        live.insert(
            r.key.clone(),
            Observation::present(LiveObject::compact(&stamped)),
        );
    }
    let inputs = memory_mib("VmRSS:") - before;
    let mut agains = Vec::with_capacity(rounds);
    let mut resources = Some(resources);
    for _ in 0..rounds {
        let desired = resources.take().unwrap_or_else(|| stack::desired(count));
        let (replanned, phase) = measure(|| stack::plan_once(desired, &state, &live));
        assert!(!replanned.has_changes());
        drop(replanned);
        agains.push(phase);
    }
    let (again_cold, again) = cold_and_warm(agains);
    let peak = memory_mib("VmHWM:");
    let (edit, added, removed) = incremental(count, state, live);
    println!(
        "{count}\t{desired_growth:.0}\t{}\t{}\t{}\t{peak_first:.0}\t{inputs:.0}\t{}\t{}\t{}\t{peak:.0}\t{}\t{}\t{}\t{}\t{}\t{}",
        first.wall.as_secs_f64(),
        first.user.as_secs_f64(),
        first.system.as_secs_f64(),
        again.wall.as_secs_f64(),
        again.user.as_secs_f64(),
        again.system.as_secs_f64(),
        edit.0.as_secs_f64(),
        edit.1.as_secs_f64(),
        added.as_secs_f64(),
        removed.as_secs_f64(),
        (first_cold.user + first_cold.system).as_secs_f64(),
        (again_cold.user + again_cold.system).as_secs_f64(),
    );
}

/// The controller's case: the stack settled in an incremental planner (desired set, state and
/// observations in memory), then one resource edited in Git and planned again, 21 times (median
/// and slowest), one resource added, then one removed.
fn incremental(
    count: usize,
    state: State,
    live: Observations,
) -> ((Duration, Duration), Duration, Duration) {
    use std::sync::Arc;
    use strata::core::plan::incremental::IncrementalPlanner;
    use strata::core::plan::{Action, PlanOptions};
    let engine = strata::core::engine::Engine {
        registry: strata::core::ProviderRegistry::new()
            .with_fallback(Arc::new(strata::core::SandboxProvider::new("/nonexistent"))),
        normalizer: Arc::new(strata::core::IdentityNormalizer),
        store: Arc::new(strata::core::state::LocalStateStore::new(
            "/nonexistent/state.json",
        )),
        config: Default::default(),
    };
    let mut planner = IncrementalPlanner::new(&engine, PlanOptions::new("bench"), state)
        .expect("a planner for the bench stack");
    planner.set_desired(stack::desired(count));
    for (key, observation) in live {
        planner.observe(key, observation);
    }
    let settled = planner.plan().expect("the settled stack plans");
    assert!(!settled.has_changes());
    let mut times = Vec::new();
    for round in 0..21 {
        let at = (round * 7919) % count;
        let mut edited = planner.desired()[at].clone();
        edited.manifest["data"]["tier"] = serde_json::json!(format!("edited-{round}"));
        let started = Instant::now();
        planner.upsert(edited);
        let plan = planner.plan().expect("the edited stack plans");
        times.push(started.elapsed());
        let updates = plan
            .changes
            .iter()
            .filter(|c| c.action == Action::Update)
            .count();
        assert_eq!(updates, 1, "only the edited resource changes");
        // Its live object follows, as a watch reports it after the apply.
        let live = strata::core::ownership::stamp(&planner.desired()[at].manifest, "bench");
        let key = planner.desired()[at].key.clone();
        planner.observe(key, Observation::present(LiveObject::compact(&live)));
    }
    times.sort();
    let added = stack::desired(count + 1).pop().expect("one more resource");
    let started = Instant::now();
    planner.upsert(added);
    planner.plan().expect("the grown stack plans");
    let added = started.elapsed();
    // A leaf: resource i is named by resources 2i, 2i + 1 and i + 7 only.
    let leaf = planner.desired()[count - 3].key.clone();
    let started = Instant::now();
    assert!(planner.remove(&leaf));
    let plan = planner.plan().expect("the shrunk stack plans");
    let removed = started.elapsed();
    assert_eq!(
        plan.changes
            .iter()
            .filter(|c| c.action == Action::Delete)
            .count(),
        1,
        "the removed resource is deleted"
    );
    (
        (times[times.len() / 2], times[times.len() - 1]),
        added,
        removed,
    )
}

/// One size's figures for the relative table (CPU µs per resource; peaks as multiples of the
/// desired set's growth).
struct Row {
    size: usize,
    first: f64,
    again: f64,
    first_wall: f64,
    again_wall: f64,
    first_cold: f64,
    again_cold: f64,
    first_peak: f64,
    again_peak: f64,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(count) = args
        .iter()
        .position(|a| a == "--scale-child")
        .and_then(|i| args.get(i + 1)?.parse().ok())
    {
        child(count);
        return ExitCode::SUCCESS;
    }
    let sizes: Vec<usize> = std::env::var("STRATA_BENCH_SIZES")
        .unwrap_or_else(|_| DEFAULT_SIZES.to_owned())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let Ok(me) = std::env::current_exe() else {
        eprintln!("cannot find this bench's own executable");
        return ExitCode::FAILURE;
    };
    println!(
        "{:>9} | {:>11} | {:>28} | {:>10} | {:>11} | {:>28} | {:>10}",
        "resources",
        "desired MiB",
        "first apply: wall (cpu, sys%)",
        "µs/res cpu",
        "peak MiB",
        "re-plan: wall (cpu, sys%)",
        "µs/res cpu"
    );
    let mut rows = Vec::new();
    for &size in &sizes {
        let output = match Command::new(&me)
            .args(["--scale-child", &size.to_string()])
            .output()
        {
            Ok(o) if o.status.success() => o,
            Ok(o) => {
                eprintln!(
                    "size {size} failed ({}): {}",
                    o.status,
                    String::from_utf8_lossy(&o.stderr)
                );
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("size {size}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let line = String::from_utf8_lossy(&output.stdout);
        let f: Vec<f64> = line
            .split('\t')
            .filter_map(|x| x.trim().parse().ok())
            .collect();
        if f.len() != 17 {
            eprintln!("size {size}: unreadable figures {line:?}");
            return ExitCode::FAILURE;
        }
        let per = |cpu: f64| cpu * 1e6 / size as f64;
        let first_cpu = f[3] + f[4];
        let again_cpu = f[8] + f[9];
        println!(
            "{size:>9} | {:>11.0} | {:>8.2}s ({:>6.2}s, {:>3.0}%) {:>4} | {:>10.2} | {:>11.0} | {:>8.2}s ({:>6.2}s, {:>3.0}%) {:>4} | {:>10.2}   peak re-plan {:.0} MiB (inputs {:.0} MiB)",
            f[1],
            f[2],
            first_cpu,
            100.0 * f[4] / first_cpu.max(1e-9),
            "",
            per(first_cpu),
            f[5],
            f[7],
            again_cpu,
            100.0 * f[9] / again_cpu.max(1e-9),
            "",
            per(again_cpu),
            f[10],
            f[6],
        );
        println!(
            "{:>9}   incremental re-plan after one edit: median {:.1} ms, slowest {:.1} ms; after one added resource: {:.1} ms; after one removed resource: {:.1} ms",
            "",
            f[11] * 1e3,
            f[12] * 1e3,
            f[13] * 1e3,
            f[14] * 1e3
        );
        println!(
            "{:>9}   cold (the first round): first apply {:.2} µs/res cpu, re-plan {:.2} µs/res cpu; warm wall: first apply {:.2} µs/res, re-plan {:.2} µs/res",
            "",
            per(f[15]),
            per(f[16]),
            per(f[2]),
            per(f[7])
        );
        rows.push(Row {
            size,
            first: per(first_cpu),
            again: per(again_cpu),
            first_wall: per(f[2]),
            again_wall: per(f[7]),
            first_cold: per(f[15]),
            again_cold: per(f[16]),
            first_peak: f[5] / f[1].max(1e-9),
            again_peak: f[10] / f[1].max(1e-9),
        });
    }
    if let Some(base) = rows.first() {
        println!(
            "time per resource relative to {} (1.00 = linear): CPU warm and cold, wall warm; peaks / desired-set growth:",
            base.size
        );
        for row in &rows {
            println!(
                "{:>9}: warm: first apply {:.2}, re-plan {:.2}; cold: first apply {:.2}, re-plan {:.2}; wall (warm): first apply {:.2}, re-plan {:.2}; peak {:.1}x (first apply), {:.1}x (re-plan) the desired set",
                row.size,
                row.first / base.first,
                row.again / base.again,
                row.first_cold / base.first_cold,
                row.again_cold / base.again_cold,
                row.first_wall / base.first_wall,
                row.again_wall / base.again_wall,
                row.first_peak,
                row.again_peak
            );
        }
    }
    ExitCode::SUCCESS
}
