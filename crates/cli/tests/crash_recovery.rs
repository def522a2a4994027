//! The kill -9 suite: the `strata` binary killed at random times during apply and destroy of
//! the quickstart and platform examples, and aborted at every crash point of a small stack
//! (`STRATA_TEST_CRASH_AT`, debug builds only; see `strata_core::crash`). After each kill the
//! state must still read, and a plain re-run (releasing the dead run's lock as its error says)
//! must leave: the exact resources a clean run leaves, recorded and live once each, no record
//! in an intermediate status, no temporary file in the state directory or the sandbox world,
//! no journal, no lock, and a plan without changes.
//!
//! `STRATA_KILL_SEED` replays the random kills of an earlier run (each run prints its seed).

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

const SIGKILL: i32 = 9;
const SIGABRT: i32 = 6;

fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
    command
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("STRATA_TEST_CRASH_AT")
        .stdin(Stdio::null());
    command
}

fn strata(args: &[&str]) -> Output {
    command(args).output().unwrap()
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Copies the tree `from` to `to` (both directories).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> BTreeSet<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// What a stack directory holds after a run: the state's records (without their outputs,
/// which an interrupted create's confirmation does not know) and the sandbox world's objects.
#[derive(Debug, Clone, PartialEq)]
struct Outcome {
    records: BTreeMap<String, Value>,
    world: BTreeMap<PathBuf, Value>,
}

/// What `dir` holds now, checking on the way what must hold after every completed run.
fn outcome(dir: &Path, context: &str) -> Outcome {
    let strata_dir = dir.join(".strata");
    let files = files_under(&strata_dir);
    let temporaries: Vec<_> = files
        .iter()
        .filter(|f| f.to_string_lossy().contains(".tmp."))
        .collect();
    assert!(
        temporaries.is_empty(),
        "{context}: temporaries left: {temporaries:?}"
    );
    for leftover in ["state.json.journal", "state.json.lock"] {
        assert!(
            !files.contains(Path::new(leftover)),
            "{context}: {leftover} left"
        );
    }
    let state: Value = match std::fs::read(strata_dir.join("state.json")) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{context}: the state does not parse: {e}")),
        Err(_) => serde_json::json!({"resources": {}}),
    };
    let mut records = BTreeMap::new();
    for (address, record) in state["resources"].as_object().unwrap() {
        assert_eq!(
            record["status"], "applied",
            "{context}: {address} is left in an intermediate status"
        );
        let mut record = record.clone();
        record.as_object_mut().unwrap().remove("outputs");
        records.insert(address.clone(), record);
    }
    let world_dir = strata_dir.join("sandbox");
    let mut world = BTreeMap::new();
    for file in files_under(&world_dir) {
        if file.extension().is_some_and(|e| e == "json") {
            let bytes = std::fs::read(world_dir.join(&file)).unwrap();
            let object: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{context}: world object {} does not parse: {e}",
                    file.display()
                )
            });
            world.insert(file, object);
        }
    }
    Outcome { records, world }
}

/// Runs `strata <operation> DIR --auto-approve` as recovery after a crash: a lock the dead run
/// left is reported as held by a process no longer running and released with the command the
/// error prints.
fn recover(dir: &Path, operation: &str, context: &str) {
    let path = dir.to_str().unwrap();
    let run = strata(&[operation, path, "--auto-approve"]);
    if run.status.success() {
        return;
    }
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("is locked") && stderr.contains("no longer running on this host"),
        "{context}: recovery {operation} failed: {stderr}"
    );
    let release = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("strata state force-unlock "))
        .unwrap_or_else(|| panic!("{context}: no force-unlock command in {stderr}"));
    let id = release.rsplit(' ').next().unwrap();
    let unlock = strata(&["state", "force-unlock", path, id]);
    assert!(unlock.status.success(), "{context}: {unlock:?}");
    let run = strata(&[operation, path, "--auto-approve"]);
    assert!(
        run.status.success(),
        "{context}: recovery {operation}: {run:?}"
    );
}

/// Checks the state reads right after a crash, recovers with `operation`, and checks the
/// result against `expected` and that the next plan is empty.
fn recover_and_check(dir: &Path, operation: &str, expected: &Outcome, context: &str) {
    let path = dir.to_str().unwrap();
    let list = strata(&["state", "list", path, "-o", "json"]);
    assert!(
        list.status.success(),
        "{context}: the state does not read after the crash: {list:?}"
    );
    serde_json::from_slice::<Value>(&list.stdout).unwrap();
    recover(dir, operation, context);
    let after = outcome(dir, context);
    assert_eq!(
        after.records.keys().collect::<Vec<_>>(),
        expected.records.keys().collect::<Vec<_>>(),
        "{context}: recorded resources"
    );
    assert_eq!(
        after.world.keys().collect::<Vec<_>>(),
        expected.world.keys().collect::<Vec<_>>(),
        "{context}: live objects"
    );
    assert_eq!(after, *expected, "{context}");
    let plan_flag = if operation == "destroy" {
        vec!["plan", path, "--detailed-exitcode", "--destroy"]
    } else {
        vec!["plan", path, "--detailed-exitcode"]
    };
    let plan = strata(&plan_flag);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{context}: the next plan is not empty: {plan:?}"
    );
    assert!(
        !String::from_utf8_lossy(&plan.stderr).contains("Warning"),
        "{context}: {plan:?}"
    );
}

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A duration between `low` and `high`.
    fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let span = high.saturating_sub(low).as_micros().max(1) as u64;
        low + Duration::from_micros(self.next() % span)
    }
}

fn seed() -> u64 {
    std::env::var("STRATA_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

/// The timeline of one run: when its first change started and when it ended, from its start.
#[derive(Debug, Clone, Copy)]
struct Timeline {
    first_change: Duration,
    end: Duration,
}

/// Runs `strata <operation> DIR --auto-approve`, watching its progress lines (stderr); at
/// `kill`, when given, kills it (SIGKILL). Returns the timeline and whether the kill landed.
fn run_watched(dir: &Path, operation: &str, kill: Option<KillAt>) -> (Timeline, bool) {
    use std::io::BufRead as _;
    let started = Instant::now();
    let mut child = command(&[operation, dir.to_str().unwrap(), "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (changes, first) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            // Progress lines: `<address>: creating...`, `updating...`, `destroying...`.
            if line.ends_with("...") {
                let _ = changes.send(started.elapsed());
            }
            lines.push(line);
        }
        lines
    });
    let mut first_change = None;
    match kill {
        Some(KillAt::FromStart(delay)) => std::thread::sleep(delay),
        Some(KillAt::AfterFirstChange(delay)) => {
            first_change = first.recv_timeout(Duration::from_secs(30)).ok();
            std::thread::sleep(delay);
        }
        None => {}
    }
    if kill.is_some() {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    let end = started.elapsed();
    let lines = reader.join().unwrap();
    let first_change = first_change
        .or_else(|| first.try_recv().ok())
        .unwrap_or(end);
    let killed = status.signal() == Some(SIGKILL);
    assert!(
        status.success() || killed,
        "{operation} failed on its own: {status:?}: {}",
        lines.join("\n")
    );
    (Timeline { first_change, end }, killed)
}

/// When a random kill is sent.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// This long after the process started.
    FromStart(Duration),
    /// This long after its first progress line (its first change).
    AfterFirstChange(Duration),
}

/// The fastest of three clean runs of `operation` on scratch copies of `example` (after
/// `setup`, when given).
fn timing(example: &Path, scratch: &Path, operation: &str, setup: Option<&str>) -> Timeline {
    (0..3)
        .map(|i| {
            let dir = scratch
                .join(format!("timing-{operation}-{i}"))
                .join("stack");
            copy_example(example, &dir);
            if let Some(setup) = setup {
                let run = strata(&[setup, dir.to_str().unwrap(), "--auto-approve"]);
                assert!(run.status.success(), "{run:?}");
            }
            run_watched(&dir, operation, None).0
        })
        .min_by_key(|t| t.end)
        .unwrap()
}

/// Copies an example to `dir`, dropping the protection of its resources (a protected
/// resource refuses the destroy these tests kill).
fn copy_example(example: &Path, dir: &Path) {
    copy_tree(example, dir);
    // A checkout where the example was run holds its state and world: not the example.
    let leftover = dir.join(".strata");
    if leftover.exists() {
        std::fs::remove_dir_all(&leftover).unwrap();
    }
    for file in files_under(dir) {
        let path = dir.join(&file);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.contains("strata.dev/protect: \"true\"") {
            std::fs::write(
                &path,
                text.replace(
                    "strata.dev/protect: \"true\"",
                    "strata.dev/protect: \"false\"",
                ),
            )
            .unwrap();
        }
    }
}

/// What the random kills of one example did.
#[derive(Debug, Default)]
struct Tally {
    kills: AtomicUsize,
    finished_first: AtomicUsize,
    left_lock: AtomicUsize,
    left_intents: AtomicUsize,
    left_journal: AtomicUsize,
    left_temporaries: AtomicUsize,
}

/// Notes what a kill left in `dir`.
fn tally_leftovers(dir: &Path, tally: &Tally) {
    let files = files_under(&dir.join(".strata"));
    if files.contains(Path::new("state.json.lock")) {
        tally.left_lock.fetch_add(1, Ordering::Relaxed);
    }
    if files.contains(Path::new("state.json.journal")) {
        tally.left_journal.fetch_add(1, Ordering::Relaxed);
    }
    if files.iter().any(|f| f.to_string_lossy().contains(".tmp.")) {
        tally.left_temporaries.fetch_add(1, Ordering::Relaxed);
    }
    let list = strata(&["state", "list", dir.to_str().unwrap(), "-o", "json"]);
    if let Ok(Value::Array(records)) = serde_json::from_slice::<Value>(&list.stdout)
        && records.iter().any(|r| r["status"] != "applied")
    {
        tally.left_intents.fetch_add(1, Ordering::Relaxed);
    }
}

/// Kills apply and destroy of `example` at random times until `kills` kills landed, spread over
/// `workers` copies of the stack, checking recovery after each.
fn random_kills(example: &str, kills: usize, workers: usize) {
    let source = examples().join(example);
    let tmp = tempfile::tempdir().unwrap();
    let seed = seed();
    eprintln!("{example}: STRATA_KILL_SEED={seed}");

    // What a clean apply leaves, and how long the steps take.
    let reference_dir = tmp.path().join("reference").join(example);
    copy_example(&source, &reference_dir);
    let apply = strata(&["apply", reference_dir.to_str().unwrap(), "--auto-approve"]);
    assert!(apply.status.success(), "{apply:?}");
    let applied = outcome(&reference_dir, "reference apply");
    assert!(!applied.records.is_empty());
    let destroyed = Outcome {
        records: BTreeMap::new(),
        world: BTreeMap::new(),
    };
    let scratch = tmp.path().join("scratch");
    let apply_time = timing(&source, &scratch, "apply", None);
    let destroy_time = timing(&source, &scratch, "destroy", Some("apply"));
    eprintln!("{example}: apply {apply_time:?}, destroy {destroy_time:?}");

    let tally = Tally::default();
    let started = Instant::now();
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for worker in 0..workers {
            let (tally, failures, applied, destroyed) = (&tally, &failures, &applied, &destroyed);
            let root = tmp.path().join(format!("worker-{worker}"));
            let source = &source;
            scope.spawn(move || {
                let dir = root.join(example);
                copy_example(source, &dir);
                let mut rng = Rng(seed ^ (worker as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
                let mut trial = 0;
                // Apply and destroy alternate; each kill is followed by its recovery.
                while tally.kills.load(Ordering::Relaxed) < kills {
                    let (operation, timeline, expected) = if trial % 2 == 0 {
                        ("apply", apply_time, applied)
                    } else {
                        ("destroy", destroy_time, destroyed)
                    };
                    // Most kills land while changes are made (from the first progress line to
                    // a little past the clean run's end); one in four anywhere in the run.
                    let window = timeline.end.saturating_sub(timeline.first_change);
                    let kill = if rng.next().is_multiple_of(4) {
                        KillAt::FromStart(rng.between(Duration::ZERO, timeline.end))
                    } else {
                        KillAt::AfterFirstChange(rng.between(Duration::ZERO, window + window / 5))
                    };
                    let context = format!(
                        "{example} worker {worker} trial {trial}: {operation} killed at {kill:?}"
                    );
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        if run_watched(&dir, operation, Some(kill)).1 {
                            tally.kills.fetch_add(1, Ordering::Relaxed);
                            tally_leftovers(&dir, tally);
                        } else {
                            tally.finished_first.fetch_add(1, Ordering::Relaxed);
                        }
                        recover_and_check(&dir, operation, expected, &context);
                    }));
                    if let Err(panic) = result {
                        let message = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                            .unwrap_or_default();
                        failures.lock().unwrap().push(message);
                        return;
                    }
                    trial += 1;
                }
            });
        }
    });
    eprintln!(
        "{example}: {} kills ({} runs finished before their kill) in {:?}: {} left the lock, {} a journal, {} intents, {} temporary files",
        tally.kills.load(Ordering::Relaxed),
        tally.finished_first.load(Ordering::Relaxed),
        started.elapsed(),
        tally.left_lock.load(Ordering::Relaxed),
        tally.left_journal.load(Ordering::Relaxed),
        tally.left_intents.load(Ordering::Relaxed),
        tally.left_temporaries.load(Ordering::Relaxed),
    );
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "seed {seed}: {}",
        failures.join("\n\n")
    );
    assert!(tally.kills.load(Ordering::Relaxed) >= kills);
    // The kills landed at different steps: some left each kind of leftover.
    assert!(
        tally.left_intents.load(Ordering::Relaxed) > 0,
        "no kill left an intent"
    );
    assert!(
        tally.left_lock.load(Ordering::Relaxed) > 0,
        "no kill left a lock"
    );
}

#[test]
fn random_kills_of_quickstart_apply_and_destroy_heal() {
    random_kills("quickstart", 150, 3);
}

#[test]
fn random_kills_of_platform_apply_and_destroy_heal() {
    random_kills("platform", 60, 2);
}

/// The small stack of the crash-point test, version 1 or 2. Version 2 updates `settings`,
/// drops `old`, adds `new` and moves the bucket to another region (a replacement).
fn small_stack(dir: &Path, version: u8) {
    std::fs::create_dir_all(dir).unwrap();
    let (value, region, last) = match version {
        1 => ("one", "eu-west-1", "old"),
        _ => ("two", "eu-central-1", "new"),
    };
    let yaml = format!(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: crash
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: crash
data:
  value: {value}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {last}
  namespace: crash
data:
  value: {last}
---
apiVersion: s3.aws.upbound.io/v1beta1
kind: Bucket
metadata:
  name: crash-assets
spec:
  forProvider:
    region: {region}
---
apiVersion: s3.aws.upbound.io/v1beta1
kind: BucketVersioning
metadata:
  name: crash-assets-versioning
spec:
  forProvider:
    region: {region}
    bucketRef:
      name: crash-assets
    versioningConfiguration:
      - status: Enabled
"#
    );
    std::fs::write(dir.join("stack.yaml"), yaml).unwrap();
}

/// One stage of the crash-point test: the stack it starts from (already applied), the version
/// it runs with and the operation.
struct Stage {
    name: &'static str,
    start: Option<u8>,
    version: u8,
    operation: &'static str,
}

#[test]
fn a_crash_at_every_point_of_a_small_stack_heals() {
    let tmp = tempfile::tempdir().unwrap();
    let stages = [
        Stage {
            name: "create",
            start: None,
            version: 1,
            operation: "apply",
        },
        Stage {
            name: "update, replace, create and delete",
            start: Some(1),
            version: 2,
            operation: "apply",
        },
        Stage {
            name: "destroy",
            start: Some(2),
            version: 2,
            operation: "destroy",
        },
    ];
    let started = Instant::now();
    let mut crashes: BTreeMap<&str, usize> = BTreeMap::new();
    let mut trials = 0;
    for (s, stage) in stages.iter().enumerate() {
        // The stage's starting point, and what a clean run of it leaves.
        let template = tmp.path().join(format!("template-{s}")).join("small");
        small_stack(&template, stage.start.unwrap_or(stage.version));
        if stage.start.is_some() {
            let apply = strata(&["apply", template.to_str().unwrap(), "--auto-approve"]);
            assert!(apply.status.success(), "{apply:?}");
        }
        small_stack(&template, stage.version);
        let reference = tmp.path().join(format!("reference-{s}")).join("small");
        copy_tree(&template, &reference);
        let clean = strata(&[
            stage.operation,
            reference.to_str().unwrap(),
            "--auto-approve",
        ]);
        assert!(clean.status.success(), "{clean:?}");
        let expected = outcome(&reference, stage.name);
        if stage.operation == "apply" {
            assert_eq!(expected.records.len(), 5, "{}", stage.name);
        }

        // Every (point, hit) pair, in parallel over points.
        let results: Vec<(usize, &str, usize)> = std::thread::scope(|scope| {
            let handles: Vec<_> = strata_core::crash::POINTS
                .iter()
                .enumerate()
                .map(|(p, &point)| {
                    let (template, expected, tmp) = (&template, &expected, tmp.path());
                    scope.spawn(move || {
                        let mut crashed = 0;
                        let mut runs = 0;
                        for n in 1.. {
                            runs += 1;
                            let dir = tmp.join(format!("trial-{s}-{p}-{n}")).join("small");
                            copy_tree(template, &dir);
                            let context = format!("stage `{}`, crash at {point}:{n}", stage.name);
                            let run = command(&[
                                stage.operation,
                                dir.to_str().unwrap(),
                                "--auto-approve",
                            ])
                            .env("STRATA_TEST_CRASH_AT", format!("{point}:{n}"))
                            .output()
                            .unwrap();
                            let aborted = run.status.signal() == Some(SIGABRT);
                            assert!(aborted || run.status.success(), "{context}: {run:?}");
                            if aborted {
                                assert!(
                                    String::from_utf8_lossy(&run.stderr)
                                        .contains(&format!("crash point {point} reached ({n})")),
                                    "{context}: {run:?}"
                                );
                                crashed += 1;
                            }
                            recover_and_check(&dir, stage.operation, expected, &context);
                            std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
                            if !aborted {
                                // The point is reached fewer than n times in this stage.
                                break;
                            }
                        }
                        (runs, point, crashed)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (runs, point, crashed) in results {
            trials += runs;
            *crashes.entry(point).or_default() += crashed;
        }
    }
    eprintln!(
        "crash points: {trials} runs, {} crashes in {:?}: {crashes:?}",
        crashes.values().sum::<usize>(),
        started.elapsed()
    );
    for point in strata_core::crash::POINTS {
        assert!(
            crashes.get(point).copied().unwrap_or(0) > 0,
            "crash point {point} was never reached"
        );
    }
}
