//! The GitOps controller (`strata_gitops`) against a real kube-apiserver and a local Git
//! repository (`file://`), at N Applications of 10 objects each (6 ConfigMaps, 2 headless
//! Services, 2 ServiceAccounts; headless because the test API server's Service range has only
//! 254 cluster IPs), each Application its own directory of one repository, automated sync with
//! prune and selfHeal, destinations spread over 10 shared namespaces.
//!
//! Measured per size (N = 100 and 1 000; `STRATA_BENCH_APPS=100,1000` for others), each size in
//! its own process with its own control plane, so memory figures do not mix:
//!
//! 1. **sync all from empty**: from the first Application created until every Application's
//!    status is Synced (counted by an observer of the status writes, confirmed from
//!    `controller.status()`, whose `list()` clones every record and is too costly to poll at
//!    1 000 Applications); objects per second.
//! 2. **full refresh with nothing to do**: `refresh(None, true)` then `wait_idle()`; and the
//!    same without the fetch (`refresh(None, false)`), which separates the Git fetches from the
//!    comparison.
//! 3. **self-heal latency**: 50 objects picked at random, one at a time, edited by another
//!    field manager (merge patch of a label the Application sets); time until the controller
//!    has put the label back (polled every 5 ms); median and p99.
//! 4. **memory**: `/proc/self/status` VmRSS and VmHWM at each step. The control plane (etcd,
//!    kube-apiserver) and `git` run in other processes: `/proc/self` is the controller plus this
//!    harness (the generated repository's file list and the Application manifests are small).
//!
//! The poll interval is a day (polls never run during the measurement); workers are the
//! controller's default (printed). Each reconcile is observed (`Controller::observe`): count,
//! syncs, total and longest reconcile time, and time spent fetching and rendering, per phase.
//!
//! With `STRATA_BENCH_PLAN_OBJECTS=1000,5000` it measures instead the per-reconcile plan cost
//! of one Application of that many ConfigMaps, synced: a refresh without fetch planned by the
//! controller's incremental planner (observations from the watch caches), and the same
//! Application planned in full through `Engine::plan` (a hard refresh: every object read from
//! the API server), then one manifest edited in Git at a time (a refresh with fetch: the edit
//! is planned, synced and planned again); median of 5 each, from the planner's statistics
//! (the last plan's time, observing included) and the reconcile time an observer sees.
//!
//! Needs the control-plane programs (`KUBEBUILDER_ASSETS` or built once into target/, as the
//! other real-server tests) and `git`. Run: `cargo bench --bench gitops`.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use strata_gitops::controller::{Controller, ControllerConfig, Observer};
use strata_gitops::reconcile::Outcome;
use strata_gitops::status::{AppRecord, OperationPhase, SyncStatusCode};

#[global_allocator]
static GLOBAL: strata_alloc::Allocator = strata_alloc::Allocator;

const CHILD: &str = "STRATA_BENCH_GITOPS_CHILD";
const DEFAULT_SIZES: [usize; 2] = [100, 1000];
const OBJECTS_PER_APP: usize = 10;
const SHARED_NAMESPACES: usize = 10;
const HEAL_SAMPLES: usize = 50;
const APP_LABEL: &str = "strata-bench/app";
const VALUE_LABEL: &str = "strata-bench/value";

fn main() -> ExitCode {
    if let Ok(sizes) = std::env::var("STRATA_BENCH_PLAN_OBJECTS") {
        let sizes: Vec<usize> = sizes
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect();
        return match plan_cost(&sizes) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("gitops bench (plan cost): {message}");
                ExitCode::from(2)
            }
        };
    }
    if let Ok(size) = std::env::var(CHILD) {
        let size: usize = size.parse().unwrap_or(100);
        return match run_size(size) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("gitops bench (N = {size}): {message}");
                ExitCode::from(2)
            }
        };
    }
    let sizes: Vec<usize> = std::env::var("STRATA_BENCH_APPS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_SIZES.to_vec());
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("gitops bench: the bench's own path: {e}");
            return ExitCode::from(2);
        }
    };
    let mut results = Vec::new();
    let mut failed = false;
    for size in sizes {
        println!("==== N = {size} Applications x {OBJECTS_PER_APP} objects ====");
        match run_child(&exe, size) {
            Ok(Some(result)) => results.push(result),
            Ok(None) => failed = true,
            Err(e) => {
                eprintln!("gitops bench: N = {size}: {e}");
                failed = true;
            }
        }
        println!();
    }
    print_table(&results);
    if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs one size in a fresh process (its own control plane, its own memory figures); echoes its
/// output and returns its `RESULT` line's fields.
fn run_child(exe: &Path, size: usize) -> Result<Option<BTreeMap<String, String>>, std::io::Error> {
    let mut child = Command::new(exe)
        .env(CHILD, size.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut result = None;
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines() {
            let line = line?;
            if let Some(fields) = line.strip_prefix("RESULT ") {
                result = Some(
                    fields
                        .split_whitespace()
                        .filter_map(|kv| kv.split_once('='))
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect(),
                );
            } else {
                println!("{line}");
            }
        }
    }
    let status = child.wait()?;
    if !status.success() {
        eprintln!("gitops bench: N = {size} exited with {status}");
        return Ok(None);
    }
    Ok(result)
}

fn print_table(results: &[BTreeMap<String, String>]) {
    if results.is_empty() {
        return;
    }
    let rows: [(&str, &str); 17] = [
        ("Applications", "apps"),
        ("objects", "objects"),
        ("controller workers", "workers"),
        ("creating the Applications (s)", "create_s"),
        ("sync all from empty (s)", "sync_s"),
        ("  objects/s", "objects_per_s"),
        ("  half of the Applications Synced at (s)", "half_s"),
        ("full refresh, with fetch (s)", "refresh_fetch_s"),
        ("full refresh, without fetch (s)", "refresh_nofetch_s"),
        ("self-heal median (ms)", "heal_p50_ms"),
        ("self-heal p99 (ms)", "heal_p99_ms"),
        ("self-heal max (ms)", "heal_max_ms"),
        ("VmHWM before the controller (MiB)", "hwm_before_mib"),
        ("VmHWM at the end (MiB)", "hwm_end_mib"),
        ("VmRSS after sync all (MiB)", "rss_synced_mib"),
        (
            "VmRSS growth, controller start to end (MiB)",
            "rss_growth_mib",
        ),
        ("  per Application (KiB)", "rss_per_app_kib"),
    ];
    print!("| {:<45} |", "GitOps controller");
    for r in results {
        print!(
            " {:>10} |",
            format!("N = {}", r.get("apps").map_or("?", |s| s))
        );
    }
    println!();
    print!("|{}|", "-".repeat(47));
    for _ in results {
        print!("{}|", "-".repeat(12));
    }
    println!();
    for (title, key) in rows {
        print!("| {title:<45} |");
        for r in results {
            print!(" {:>10} |", r.get(key).map_or("-", |s| s));
        }
        println!();
    }
}

// ---------------------------------------------------------------------------------------------
// One size.

fn memory() -> (f64, f64) {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU seconds (user + system) of this process, of the programs it has waited for (`git`), and
/// of its running children by name (etcd, kube-apiserver).
fn cpu_times() -> BTreeMap<String, f64> {
    let ticks = 100.0; // USER_HZ
    let fields = |pid: &str| -> Option<(String, Vec<f64>)> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (head, rest) = text.rsplit_once(')')?;
        let comm = head.split_once('(')?.1.to_owned();
        // Fields after the name start at field 3 (state); utime is field 14.
        let numbers = rest
            .split_whitespace()
            .map(|f| f.parse::<f64>().unwrap_or(0.0))
            .collect();
        Some((comm, numbers))
    };
    let mut times = BTreeMap::new();
    if let Some((_, f)) = fields("self") {
        times.insert("controller+bench".to_owned(), (f[11] + f[12]) / ticks);
        times.insert("git (exited children)".to_owned(), (f[13] + f[14]) / ticks);
    }
    let mut children = Vec::new();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
                children.extend(list.split_whitespace().map(str::to_owned));
            }
        }
    }
    for pid in children {
        if let Some((comm, f)) = fields(&pid) {
            *times.entry(comm).or_default() += (f[11] + f[12]) / ticks;
        }
    }
    times
}

/// The CPU seconds spent since `before`, by process.
fn print_cpu(phase: &str, before: &BTreeMap<String, f64>, wall: Duration) {
    let now = cpu_times();
    let parts: Vec<String> = now
        .iter()
        .filter_map(|(name, t)| {
            let spent = t - before.get(name).copied().unwrap_or(0.0);
            (spent >= 0.005).then(|| format!("{name} {spent:.2}"))
        })
        .collect();
    println!(
        "  CPU seconds during {phase} ({:.2} s wall, 2 cores = {:.2} CPU s available): {}",
        wall.as_secs_f64(),
        2.0 * wall.as_secs_f64(),
        parts.join(", ")
    );
}

/// The API server's request counts (`apiserver_request_total` of its `/metrics`), by verb and
/// resource.
async fn request_counts(client: &kube::Client) -> BTreeMap<String, f64> {
    let mut counts = BTreeMap::new();
    let Ok(request) = http::Request::get("/metrics").body(Vec::new()) else {
        return counts;
    };
    let Ok(text) = client.request_text(request).await else {
        return counts;
    };
    let label = |labels: &str, name: &str| -> String {
        let key = format!("{name}=\"");
        labels
            .split(',')
            .find_map(|l| l.trim().strip_prefix(&key))
            .map(|v| v.trim_end_matches('"').to_owned())
            .unwrap_or_default()
    };
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let mut resource = label(labels, "resource");
        let sub = label(labels, "subresource");
        if !sub.is_empty() {
            resource = format!("{resource}/{sub}");
        }
        *counts
            .entry(format!("{} {resource}", label(labels, "verb")))
            .or_default() += value;
    }
    counts
}

/// The requests the API server served since `before`, per reconcile.
async fn print_requests(
    client: &kube::Client,
    phase: &str,
    before: &BTreeMap<String, f64>,
    reconciles: usize,
) {
    let now = request_counts(client).await;
    let mut spent: Vec<(String, f64)> = now
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v >= 1.0)
        .collect();
    spent.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total: f64 = spent.iter().map(|(_, v)| v).sum();
    let per = reconciles.max(1) as f64;
    println!(
        "  API requests during {phase}: {total:.0} = {:.1} per reconcile: {}",
        total / per,
        spent
            .iter()
            .take(8)
            .map(|(k, v)| format!("{k} {v:.0} ({:.1}/reconcile)", v / per))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

fn print_memory(when: &str) -> (f64, f64) {
    let (rss, hwm) = memory();
    println!("  memory {when}: VmRSS {rss:.1} MiB, VmHWM {hwm:.1} MiB");
    (rss, hwm)
}

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .output()
        .map_err(|e| format!("running git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn app_name(i: usize) -> String {
    format!("app-{i:04}")
}

/// The kind of object `j` of an Application (0..10): 6 ConfigMaps, 2 Services, 2
/// ServiceAccounts.
fn kind_of(j: usize) -> &'static str {
    match j {
        0..=5 => "ConfigMap",
        6 | 7 => "Service",
        _ => "ServiceAccount",
    }
}

fn object_name(app: &str, j: usize) -> String {
    let short = match kind_of(j) {
        "ConfigMap" => "cm",
        "Service" => "svc",
        _ => "sa",
    };
    format!("{app}-{short}-{j}")
}

fn manifest(app: &str, j: usize) -> String {
    let name = object_name(app, j);
    let metadata = format!(
        "metadata:\n  name: {name}\n  labels:\n    {APP_LABEL}: {app}\n    {VALUE_LABEL}: \"1\"\n"
    );
    match kind_of(j) {
        "ConfigMap" => format!(
            "apiVersion: v1\nkind: ConfigMap\n{metadata}data:\n  level: info\n  index: \"{j}\"\n  owner: platform-team\n"
        ),
        "Service" => format!(
            "apiVersion: v1\nkind: Service\n{metadata}spec:\n  clusterIP: None\n  selector:\n    app: {app}\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n"
        ),
        _ => format!("apiVersion: v1\nkind: ServiceAccount\n{metadata}"),
    }
}

/// A repository with one directory per Application; its `file://` URL.
fn write_repository(dir: &Path, apps: usize) -> Result<String, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    git(dir, &["init", "--quiet", "-b", "main"])?;
    for i in 0..apps {
        let app = app_name(i);
        let app_dir = dir.join(&app);
        std::fs::create_dir_all(&app_dir).map_err(|e| e.to_string())?;
        for j in 0..OBJECTS_PER_APP {
            std::fs::write(
                app_dir.join(format!("{}.yaml", object_name(&app, j))),
                manifest(&app, j),
            )
            .map_err(|e| e.to_string())?;
        }
    }
    git(dir, &["add", "-A"])?;
    git(dir, &["commit", "--quiet", "-m", "applications"])?;
    Ok(format!("file://{}", dir.display()))
}

/// What the controller reported of its reconciles.
#[derive(Default, Clone)]
struct Stats {
    reconciles: usize,
    syncs: usize,
    total: Duration,
    longest: Duration,
    fetch: Duration,
}

#[derive(Default)]
struct Recorder {
    stats: Mutex<Stats>,
    /// Whether each Application's last written status is Synced, and how many are.
    synced: Mutex<(std::collections::HashMap<String, bool>, usize)>,
}

impl Recorder {
    fn take(&self) -> Stats {
        std::mem::take(&mut *self.stats.lock().unwrap())
    }

    fn synced(&self) -> usize {
        self.synced.lock().unwrap().1
    }
}

#[async_trait::async_trait]
impl Observer for Recorder {
    async fn status_written(&self, record: &AppRecord) {
        let now = record.status.sync.status == SyncStatusCode::Synced;
        let mut synced = self.synced.lock().unwrap();
        let (map, count) = &mut *synced;
        let before = map.insert(record.name.clone(), now).unwrap_or(false);
        match (before, now) {
            (false, true) => *count += 1,
            (true, false) => *count -= 1,
            _ => {}
        }
    }

    fn reconciled(&self, _record: &AppRecord, took: Duration, outcome: &Outcome) {
        let mut stats = self.stats.lock().unwrap();
        stats.reconciles += 1;
        stats.syncs += usize::from(outcome.synced);
        stats.total += took;
        stats.longest = stats.longest.max(took);
        stats.fetch += outcome.fetch_duration.unwrap_or_default();
    }
}

fn print_stats(phase: &str, stats: &Stats, wall: Duration) {
    let mean = |d: Duration| {
        if stats.reconciles == 0 {
            0.0
        } else {
            d.as_secs_f64() * 1000.0 / stats.reconciles as f64
        }
    };
    println!(
        "  {phase}: {} reconciles ({} with a sync), mean {:.1} ms, longest {:.0} ms, \
         sum {:.1} s over {:.1} s wall (= {:.1} busy workers); fetch+render mean {:.1} ms (sum {:.1} s)",
        stats.reconciles,
        stats.syncs,
        mean(stats.total),
        stats.longest.as_secs_f64() * 1000.0,
        stats.total.as_secs_f64(),
        wall.as_secs_f64(),
        stats.total.as_secs_f64() / wall.as_secs_f64().max(1e-9),
        mean(stats.fetch),
        stats.fetch.as_secs_f64(),
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

/// Milliseconds with two decimals (plans that take less than one).
fn ms_fine(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn secs(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

fn api_resource(kind: &str) -> ApiResource {
    match kind {
        "ConfigMap" => ApiResource::erase::<ConfigMap>(&()),
        "Service" => ApiResource::erase::<Service>(&()),
        _ => ApiResource::erase::<ServiceAccount>(&()),
    }
}

fn run_size(apps: usize) -> Result<(), String> {
    let apps = apps.max(1);
    let objects = apps * OBJECTS_PER_APP;
    let started = Instant::now();
    let plane = strata_testkube::ControlPlane::start().map_err(|e| e.to_string())?;
    println!(
        "control plane: kube-apiserver {} started in {:.1} s (etcd and kube-apiserver are other processes)",
        plane.server_version(),
        started.elapsed().as_secs_f64()
    );
    let work = tempfile::Builder::new()
        .prefix("strata-gitops-bench-")
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?;
    let started = Instant::now();
    let url = write_repository(&work.path().join("apps"), apps)?;
    println!(
        "repository: {apps} directories x {OBJECTS_PER_APP} files, one commit, {url} (written in {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    println!(
        "tokio: multi-thread runtime, {} worker threads",
        runtime.metrics().num_workers()
    );
    let result = runtime.block_on(measure(&plane, work.path(), &url, apps, objects));
    drop(runtime);
    drop(plane);
    result
}

async fn measure(
    plane: &strata_testkube::ControlPlane,
    work: &Path,
    url: &str,
    apps: usize,
    objects: usize,
) -> Result<(), String> {
    let client = plane.client().await.map_err(|e| e.to_string())?;
    let control = plane
        .namespace(&client, "argocd")
        .await
        .map_err(|e| e.to_string())?;
    let mut targets = Vec::new();
    for _ in 0..SHARED_NAMESPACES.min(apps) {
        targets.push(
            plane
                .namespace(&client, "bench")
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    let (rss_before, hwm_before) = print_memory("before the controller");

    let config = ControllerConfig::new(work.join("cache").join("repos"))
        .with_namespace(&control)
        .with_poll_interval(Duration::from_secs(24 * 3600));
    println!(
        "controller: {} workers, parallelism {} per sync, poll interval {} s, state: one local state file per Application",
        config.workers,
        config.parallelism,
        config.poll_interval.as_secs()
    );
    let workers = config.workers;
    let started = Started::start(&client, config).await?;
    let outcome = phases(
        &started.controller,
        &started.recorder,
        &client,
        &control,
        &targets,
        url,
        apps,
        objects,
        workers,
        (rss_before, hwm_before),
    )
    .await;
    started.stop().await;
    outcome
}

/// A running controller and the recorder observing it.
struct Started {
    controller: Arc<Controller>,
    recorder: Arc<Recorder>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), strata_gitops::controller::ControllerError>>,
}

impl Started {
    /// Starts a controller with `config` and waits until it is ready.
    async fn start(client: &kube::Client, config: ControllerConfig) -> Result<Self, String> {
        let controller = Arc::new(Controller::new(client.clone(), config));
        let recorder = Arc::new(Recorder::default());
        controller.observe(Arc::clone(&recorder) as Arc<dyn Observer>);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let run = Arc::clone(&controller);
        let task = tokio::spawn(async move {
            run.run(async {
                let _ = stopped.await;
            })
            .await
        });
        let ready_by = Instant::now() + Duration::from_secs(60);
        while !controller.is_ready() {
            if Instant::now() > ready_by || task.is_finished() {
                return Err("the controller did not start".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Self {
            controller,
            recorder,
            stop,
            task,
        })
    }

    /// Stops the controller and waits for it.
    async fn stop(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => println!("  the controller stopped with: {e}"),
            Err(e) => println!("  the controller task: {e}"),
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn phases(
    controller: &Arc<Controller>,
    recorder: &Recorder,
    client: &kube::Client,
    control: &str,
    targets: &[String],
    url: &str,
    apps: usize,
    objects: usize,
    workers: usize,
    (rss_before, hwm_before): (f64, f64),
) -> Result<(), String> {
    let (rss_started, _) = print_memory("controller started");
    let _ = recorder.take();

    // 1. Sync all from empty.
    println!("1. sync all from empty: {apps} Applications, {objects} objects");
    let applications: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        control,
        &strata_gitops::controller::argo_resource("Application", "applications"),
    );
    // The Application CRD was just created by the controller: wait until it is served, so the
    // timed creates do not include its establishment.
    let warm = Instant::now();
    while applications
        .list(&ListParams::default().limit(1))
        .await
        .is_err()
    {
        if warm.elapsed() > Duration::from_secs(30) {
            return Err("the Application kind is not served".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let requests = request_counts(client).await;
    let cpu = cpu_times();
    let started = Instant::now();
    let mut creating = tokio::task::JoinSet::new();
    for i in 0..apps {
        let name = app_name(i);
        let app = json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": name, "namespace": control},
            "spec": {
                "project": "default",
                "source": {"repoURL": url, "path": name, "targetRevision": "main"},
                "destination": {
                    "server": "https://kubernetes.default.svc",
                    "namespace": targets[i % targets.len()],
                },
                "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}
            }
        });
        let object: DynamicObject = serde_json::from_value(app).map_err(|e| e.to_string())?;
        let api = applications.clone();
        creating.spawn(async move { api.create(&PostParams::default(), &object).await });
        while creating.len() >= 16 {
            if let Some(done) = creating.join_next().await {
                done.map_err(|e| e.to_string())?
                    .map_err(|e| format!("creating an Application: {e}"))?;
            }
        }
    }
    while let Some(done) = creating.join_next().await {
        done.map_err(|e| e.to_string())?
            .map_err(|e| format!("creating an Application: {e}"))?;
    }
    let created = started.elapsed();
    println!("  {apps} Applications created in {} s", secs(created));
    let deadline = started + Duration::from_secs(120 + 2 * apps as u64);
    // The observer counts the Applications whose last written status is Synced (observers are
    // told after the status store and the Application object are written), checked every
    // 10 ms; the status store
    // itself (`controller.status().list()`, which clones every record) is read once a second
    // for failures and once at the end to confirm.
    let mut half = None;
    let mut last_check = Instant::now();
    let mut last_report = Instant::now();
    let synced_all = loop {
        let synced = recorder.synced();
        if half.is_none() && synced * 2 >= apps {
            half = Some(started.elapsed());
        }
        if synced == apps {
            break started.elapsed();
        }
        if last_check.elapsed() > Duration::from_secs(1) {
            last_check = Instant::now();
            let records = controller.status().list();
            if let Some(failed) = records.iter().find(|r| {
                r.status.operation_state.as_ref().is_some_and(|o| {
                    matches!(o.phase, OperationPhase::Failed | OperationPhase::Error)
                })
            }) {
                let message = failed
                    .status
                    .operation_state
                    .as_ref()
                    .map(|o| o.message.clone())
                    .unwrap_or_default();
                return Err(format!("the sync of {} failed: {message}", failed.name));
            }
            if Instant::now() > deadline {
                let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
                for r in &records {
                    *by_status.entry(r.status.sync.status.as_str()).or_default() += 1;
                }
                let example = records
                    .iter()
                    .find(|r| !r.status.conditions.is_empty())
                    .map(|r| format!("{}: {}", r.name, r.status.conditions[0].message))
                    .unwrap_or_default();
                return Err(format!(
                    "not every Application was Synced in time: {by_status:?} of {} known; {example}",
                    records.len()
                ));
            }
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            println!(
                "  ... {synced} of {apps} Synced after {:.0} s",
                started.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let read = Instant::now();
    let records = controller.status().list();
    let listing = read.elapsed();
    let confirmed = records
        .iter()
        .filter(|r| r.status.sync.status == SyncStatusCode::Synced)
        .count();
    println!(
        "  controller.status(): {confirmed} of {} Synced (reading it, a clone of every record, took {:.1} ms)",
        records.len(),
        listing.as_secs_f64() * 1000.0
    );
    if confirmed != apps {
        return Err(format!(
            "the status store has {confirmed} Synced, expected {apps}"
        ));
    }
    let half = half.unwrap_or(synced_all);
    let objects_per_s = objects as f64 / synced_all.as_secs_f64();
    println!(
        "  every Application Synced {} s after the first create ({objects_per_s:.0} objects/s); half were at {} s",
        secs(synced_all),
        secs(half)
    );
    let stats = recorder.take();
    print_stats("reconciles until all Synced", &stats, synced_all);
    print_cpu("sync all", &cpu, synced_all);
    print_requests(
        client,
        "sync all (the bench's own creates included)",
        &requests,
        stats.reconciles,
    )
    .await;
    // What is in the cluster.
    let mut found = 0;
    for kind in ["ConfigMap", "Service", "ServiceAccount"] {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &api_resource(kind));
        found += api
            .list(&ListParams::default().labels(APP_LABEL))
            .await
            .map_err(|e| format!("listing {kind}s: {e}"))?
            .items
            .len();
    }
    println!("  objects in the cluster with the bench's label: {found} (expected {objects})");
    if found != objects {
        return Err(format!(
            "{found} objects in the cluster, expected {objects}"
        ));
    }
    // The syncs' own writes come back as watch events and queue one more comparison each.
    let settle = Instant::now();
    controller.wait_idle().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    controller.wait_idle().await;
    let settled = recorder.take();
    println!(
        "  settling (the syncs' own watch events): {} more reconciles ({} syncs), idle after {:.1} s",
        settled.reconciles,
        settled.syncs,
        settle.elapsed().as_secs_f64()
    );
    let (rss_synced, _) = print_memory("after sync all");

    // 2. Full refresh with nothing to do.
    println!("2. full refresh with nothing to do");
    let requests = request_counts(client).await;
    let cpu = cpu_times();
    let started = Instant::now();
    controller.refresh(None, true);
    controller.wait_idle().await;
    let refresh_fetch = started.elapsed();
    let stats = recorder.take();
    println!("  refresh(None, fetch = true): {} s", secs(refresh_fetch));
    print_stats("refresh with fetch", &stats, refresh_fetch);
    print_cpu("the refresh with fetch", &cpu, refresh_fetch);
    print_requests(
        client,
        "the refresh with fetch",
        &requests,
        stats.reconciles,
    )
    .await;
    if stats.syncs != 0 {
        println!("  NOTE: {} syncs ran during the refresh", stats.syncs);
    }
    let requests = request_counts(client).await;
    let cpu = cpu_times();
    let started = Instant::now();
    controller.refresh(None, false);
    controller.wait_idle().await;
    let refresh_nofetch = started.elapsed();
    let stats = recorder.take();
    println!(
        "  refresh(None, fetch = false): {} s",
        secs(refresh_nofetch)
    );
    print_stats("refresh without fetch", &stats, refresh_nofetch);
    print_cpu("the refresh without fetch", &cpu, refresh_nofetch);
    print_requests(
        client,
        "the refresh without fetch",
        &requests,
        stats.reconciles,
    )
    .await;
    print_memory("after the refreshes");

    // 3. Self-heal latency.
    println!("3. self-heal: {HEAL_SAMPLES} objects edited one at a time by another manager");
    let mut seed: u64 = 0x005e_ed0f_9175;
    let mut next = || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize
    };
    let mut latencies = Vec::new();
    let editor = PatchParams {
        field_manager: Some("bench-editor".into()),
        ..PatchParams::default()
    };
    let edit = json!({"metadata": {"labels": {VALUE_LABEL: "edited"}}});
    let mut by_kind: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut heal_stats = Stats::default();
    for _ in 0..HEAL_SAMPLES {
        let i = next() % apps;
        let j = next() % OBJECTS_PER_APP;
        let app = app_name(i);
        let name = object_name(&app, j);
        let kind = kind_of(j);
        let api: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            &targets[i % targets.len()],
            &api_resource(kind),
        );
        controller.wait_idle().await;
        let _ = recorder.take();
        let started = Instant::now();
        api.patch(&name, &editor, &Patch::Merge(&edit))
            .await
            .map_err(|e| format!("editing {kind} {name}: {e}"))?;
        let deadline = started + Duration::from_secs(60);
        loop {
            let object = api
                .get(&name)
                .await
                .map_err(|e| format!("reading {kind} {name}: {e}"))?;
            let value = object
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(VALUE_LABEL))
                .cloned();
            if value.as_deref() == Some("1") {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("{kind} {name} was not restored within 60 s"));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let took = started.elapsed();
        latencies.push(took);
        by_kind.entry(kind).or_default().push(took);
        controller.wait_idle().await;
        let s = recorder.take();
        heal_stats.reconciles += s.reconciles;
        heal_stats.syncs += s.syncs;
        heal_stats.total += s.total;
        heal_stats.longest = heal_stats.longest.max(s.longest);
    }
    latencies.sort();
    let p50 = percentile(&latencies, 50.0);
    let p99 = percentile(&latencies, 99.0);
    let max = latencies.last().copied().unwrap_or_default();
    println!(
        "  restored: median {} ms, p99 {} ms (nearest rank of {HEAL_SAMPLES}: the second slowest), min {} ms, max {} ms",
        ms(p50),
        ms(p99),
        ms(latencies[0]),
        ms(max)
    );
    for (kind, mut times) in by_kind {
        times.sort();
        println!(
            "    {kind}: {} edits, median {} ms",
            times.len(),
            ms(percentile(&times, 50.0))
        );
    }
    println!(
        "  reconciles for the {HEAL_SAMPLES} edits: {} ({} with a sync), mean {:.1} ms, longest {} ms",
        heal_stats.reconciles,
        heal_stats.syncs,
        heal_stats.total.as_secs_f64() * 1000.0 / heal_stats.reconciles.max(1) as f64,
        ms(heal_stats.longest)
    );

    // 4. Memory.
    let (rss_end, hwm_end) = print_memory("at the end");
    let growth = rss_end - rss_started;
    println!(
        "4. memory (this process: controller + harness): VmHWM {hwm_before:.1} MiB before the controller, \
         {hwm_end:.1} MiB at the end; VmRSS {rss_before:.1} -> {rss_started:.1} (started) -> {rss_synced:.1} \
         (synced) -> {rss_end:.1} MiB (end): +{growth:.1} MiB = {:.0} KiB per Application",
        growth * 1024.0 / apps as f64
    );

    println!(
        "RESULT apps={apps} objects={objects} workers={workers} create_s={} sync_s={} objects_per_s={objects_per_s:.0} \
         half_s={} refresh_fetch_s={} refresh_nofetch_s={} heal_p50_ms={} heal_p99_ms={} heal_max_ms={} \
         hwm_before_mib={hwm_before:.1} hwm_end_mib={hwm_end:.1} rss_synced_mib={rss_synced:.1} \
         rss_growth_mib={growth:.1} rss_per_app_kib={:.0}",
        secs(created),
        secs(synced_all),
        secs(half),
        secs(refresh_fetch),
        secs(refresh_nofetch),
        ms(p50),
        ms(p99),
        ms(max),
        growth * 1024.0 / apps as f64
    );
    Ok(())
}

/// The plan cost of one Application of `objects` ConfigMaps, incremental and in full.
fn plan_cost(sizes: &[usize]) -> Result<(), String> {
    let plane = strata_testkube::ControlPlane::start().map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    for &objects in sizes {
        runtime.block_on(plan_cost_of(&plane, objects))?;
    }
    Ok(())
}

async fn plan_cost_of(plane: &strata_testkube::ControlPlane, objects: usize) -> Result<(), String> {
    use strata_gitops::planning::Replan;
    let work = tempfile::Builder::new()
        .prefix("strata-plan-bench-")
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?;
    let dir = work.path().join("apps");
    std::fs::create_dir_all(dir.join("big")).map_err(|e| e.to_string())?;
    git(&dir, &["init", "--quiet", "-b", "main"])?;
    for j in 0..objects {
        std::fs::write(
            dir.join("big").join(format!("cm-{j}.yaml")),
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{j}\ndata:\n  v: \"{j}\"\n"
            ),
        )
        .map_err(|e| e.to_string())?;
    }
    git(&dir, &["add", "-A"])?;
    git(&dir, &["commit", "--quiet", "-m", "objects"])?;
    let client = plane.client().await.map_err(|e| e.to_string())?;
    let control = plane
        .namespace(&client, "argocd")
        .await
        .map_err(|e| e.to_string())?;
    let target = plane
        .namespace(&client, "big")
        .await
        .map_err(|e| e.to_string())?;
    let config = ControllerConfig::new(work.path().join("cache").join("repos"))
        .with_namespace(&control)
        .with_poll_interval(Duration::from_secs(24 * 3600))
        .with_resync_interval(Duration::from_secs(24 * 3600));
    let running = Started::start(&client, config).await?;
    let (controller, recorder) = (&running.controller, &running.recorder);
    let app = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "big"},
        "spec": {"project": "default",
            "source": {"repoURL": format!("file://{}", dir.display()), "path": "big", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": target},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}}});
    let object: DynamicObject = serde_json::from_value(app).map_err(|e| e.to_string())?;
    Api::<DynamicObject>::namespaced_with(client.clone(), &control, &api_resource_argo())
        .create(&PostParams::default(), &object)
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    while recorder.synced() == 0 {
        if started.elapsed() > Duration::from_secs(600) {
            return Err("not synced in 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    controller.wait_idle().await;
    println!(
        "N = {objects} ConfigMaps: synced in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut rows = Vec::new();
    let mut edits = 0usize;
    for (label, how) in [
        ("incremental (refresh, no fetch)", Some(None)),
        (
            "full (Engine::plan, hard refresh)",
            Some(Some(Replan::Hard)),
        ),
        ("incremental after the reset", Some(None)),
        (
            "one manifest edited in Git (fetch, sync; the plan after it)",
            None,
        ),
    ] {
        let mut plans = Vec::new();
        let mut reconciles = Vec::new();
        let mut requests = Vec::new();
        for _ in 0..5 {
            controller.wait_idle().await;
            recorder.take();
            match how {
                Some(Some(how)) => controller.replan("big", how),
                Some(None) => controller.refresh(Some("big"), false),
                None => {
                    edits += 1;
                    std::fs::write(
                        dir.join("big").join("cm-0.yaml"),
                        format!(
                            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-0\ndata:\n  v: \"edit-{edits}\"\n"
                        ),
                    )
                    .map_err(|e| e.to_string())?;
                    git(&dir, &["commit", "--quiet", "-am", "edit"])?;
                    controller.refresh(Some("big"), true);
                }
            }
            controller.wait_idle().await;
            let stats = controller.planner_stats("big").unwrap_or_default();
            plans.push(Duration::from_micros(stats.last_plan_micros));
            requests.push(stats.last_provider_observations);
            reconciles.push(recorder.take().total);
        }
        plans.sort();
        reconciles.sort();
        let stats = controller.planner_stats("big").unwrap_or_default();
        rows.push(format!(
            "  {label}: plan median {} (min {}), reconcile median {}, provider observations {:?}, compared {}",
            ms_fine(plans[2]), ms_fine(plans[0]), ms(reconciles[2]), requests, stats.last_compared
        ));
    }
    for row in rows {
        println!("{row}");
    }
    running.stop().await;
    Ok(())
}

fn api_resource_argo() -> ApiResource {
    strata_gitops::controller::argo_resource("Application", "applications")
}
