//! Schema validation of Kubernetes manifests against the anchor: kubeconform with schemas
//! generated from the real kube-apiserver's `/openapi/v2`, `-strict -n 1`, and
//! `strata validate -o json`, both as processes pinned to one core (`taskset -c 0`), on the
//! same generated corpus (10 000 manifests in multi-document files, a few percent with a
//! planted defect; `STRATA_BENCH_MANIFESTS` for another count).
//!
//! Prints each tool's wall time per run (one warm-up run each first, then
//! `STRATA_BENCH_RUNS` runs each, default 3, alternating), the median, manifests per second and
//! the ratio; then compares the verdicts resource by resource (file + kind + namespace/name;
//! kubeconform's from its warm-up run with `-verbose`, which lists valid resources too),
//! prints every disagreement and exits non-zero on any. kubeconform's verdicts are also checked
//! against the planted ones (the oracle must find exactly those).
//!
//! Needs Go (kubeconform, kube-apiserver and etcd are built into target/ once; or `KUBECONFORM`
//! and `KUBEBUILDER_ASSETS`) and the release `strata` binary: `STRATA_BIN`, else built with
//! `cargo build --release -p stratagit-cli`. Exit codes: 0 all verdicts equal, 1 a disagreement,
//! 2 a tool could not be run or understood.

#[path = "common/strata_bin.rs"]
mod strata_bin;

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use strata_testkube::compare::{self, Verdicts};
use strata_testkube::corpus::{Corpus, CorpusOptions, DEFAULT_MANIFESTS};
use strata_testkube::{kubeconform, schemas};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// `taskset -c 0 <program> <args>`: the same run, on core 0 only.
fn pinned(command: &Command) -> Command {
    let mut pinned = Command::new("taskset");
    pinned
        .args(["-c", "0"])
        .arg(command.get_program())
        .args(command.get_args());
    pinned
}

struct Run {
    wall: Duration,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(mut command: Command) -> Result<Run, String> {
    let started = Instant::now();
    let out = command
        .output()
        .map_err(|e| format!("starting {:?}: {e}", command.get_program()))?;
    Ok(Run {
        wall: started.elapsed(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

fn median(walls: &[Duration]) -> Duration {
    let mut sorted = walls.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn first_lines(text: &str, count: usize) -> String {
    text.lines().take(count).collect::<Vec<_>>().join("\n")
}

fn main() -> ExitCode {
    match bench() {
        Ok(code) => code,
        Err(message) => {
            eprintln!("validate bench: {message}");
            ExitCode::from(2)
        }
    }
}

fn bench() -> Result<ExitCode, String> {
    let manifests = env_number("STRATA_BENCH_MANIFESTS", DEFAULT_MANIFESTS);
    let runs = env_number("STRATA_BENCH_RUNS", 3).max(1);
    let target = strata_testkube::target_dir();

    let started = Instant::now();
    let kubeconform_program = kubeconform::ensure(&target).map_err(|e| e.to_string())?;
    println!(
        "kubeconform {}: {} (ready in {:.1} s)",
        kubeconform::KUBECONFORM_VERSION,
        kubeconform_program.display(),
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let schema_set = schemas::ensure(&target).map_err(|e| e.to_string())?;
    println!(
        "schemas: {} files from kube-apiserver {}'s /openapi/v2 in {} (ready in {:.1} s)",
        schema_set.files,
        schema_set.kubernetes_version,
        schema_set.dir.display(),
        started.elapsed().as_secs_f64()
    );
    let strata_program = strata_bin::strata_binary(&target)?;

    let started = Instant::now();
    let corpus = Corpus::generate(&CorpusOptions::default().with_manifests(manifests));
    let dir = tempfile::Builder::new()
        .prefix("strata-validate-bench-")
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?;
    let corpus_dir = dir.path().join("corpus");
    corpus.write(&corpus_dir).map_err(|e| e.to_string())?;
    let bytes: usize = corpus.files.iter().map(|f| f.text.len()).sum();
    println!(
        "corpus: {} manifests ({} with a planted defect) in {} files, {:.1} MiB, generated in {} into {}",
        corpus.len(),
        corpus.invalid(),
        corpus.files.len(),
        bytes as f64 / (1024.0 * 1024.0),
        ms(started.elapsed()),
        corpus_dir.display()
    );

    let location = schema_set.location();
    let kubeconform_command = |listing| {
        pinned(&kubeconform::command(
            &kubeconform_program,
            &location,
            std::slice::from_ref(&corpus_dir),
            listing,
        ))
    };
    let strata_command = || {
        let mut command = Command::new(&strata_program);
        command.args(["validate", "-o", "json"]).arg(&corpus_dir);
        pinned(&command)
    };
    println!(
        "timed: taskset -c 0 {} -strict -n 1 -output json -schema-location '{location}' DIR",
        kubeconform_program.display()
    );
    println!(
        "       taskset -c 0 {} validate -o json DIR",
        strata_program.display()
    );

    // Warm-up (page cache, schema files, binaries), which also gives the verdicts: kubeconform
    // lists every resource only with -verbose, so its timed runs go without.
    let kubeconform_listed = run(kubeconform_command(kubeconform::Listing::Every))?;
    let mut strata_last = run(strata_command())?;
    let mut kubeconform_walls = Vec::new();
    let mut strata_walls = Vec::new();
    for _ in 0..runs {
        let timed = run(kubeconform_command(kubeconform::Listing::Failures))?;
        if !matches!(timed.code, Some(0 | 1)) {
            return Err(format!(
                "kubeconform exited with {:?}: {}",
                timed.code,
                first_lines(&timed.stderr, 5)
            ));
        }
        kubeconform_walls.push(timed.wall);
        strata_last = run(strata_command())?;
        strata_walls.push(strata_last.wall);
    }
    let per_second = |d: Duration| corpus.len() as f64 / d.as_secs_f64();
    let kubeconform_median = median(&kubeconform_walls);
    let strata_median = median(&strata_walls);
    println!();
    println!(
        "kubeconform: median {} = {:.0} manifests/s on one core (runs: {})",
        ms(kubeconform_median),
        per_second(kubeconform_median),
        kubeconform_walls
            .iter()
            .map(|d| ms(*d))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "strata:      median {} = {:.0} manifests/s on one core (runs: {})",
        ms(strata_median),
        per_second(strata_median),
        strata_walls
            .iter()
            .map(|d| ms(*d))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "strata / kubeconform wall time: {:.3} (kubeconform / strata: {:.2}x)",
        strata_median.as_secs_f64() / kubeconform_median.as_secs_f64(),
        kubeconform_median.as_secs_f64() / strata_median.as_secs_f64()
    );
    println!();

    // kubeconform against the planted verdicts: the oracle must be right.
    if !matches!(kubeconform_listed.code, Some(0 | 1)) {
        return Err(format!(
            "kubeconform exited with {:?}: {}",
            kubeconform_listed.code,
            first_lines(&kubeconform_listed.stderr, 5)
        ));
    }
    let kubeconform_verdicts =
        kubeconform::parse_output(&kubeconform_listed.stdout).map_err(|e| e.to_string())?;
    let from_kubeconform = compare::from_kubeconform(&corpus, &kubeconform_verdicts);
    let planted = compare::planted(&corpus);
    let oracle = compare::disagreements(
        &corpus,
        ("planted", &planted),
        ("kubeconform", &from_kubeconform),
    );
    println!(
        "kubeconform: {} invalid of {}; {} differ from the planted verdicts, {} reports name no manifest",
        from_kubeconform.invalid(),
        corpus.len(),
        oracle.len(),
        from_kubeconform.unmatched.len()
    );
    for line in &oracle {
        println!("  ORACLE {line}");
    }
    for line in &from_kubeconform.unmatched {
        println!("  ORACLE unmatched: {line}");
    }

    // strata against kubeconform.
    let strata_verdicts: Result<Verdicts, String> = match strata_last.code {
        Some(0 | 1) => compare::parse_strata(&strata_last.stdout)
            .map(|report| compare::from_strata(&corpus, &report))
            .map_err(|e| e.to_string()),
        other => Err(format!(
            "strata validate exited with {other:?}: {}",
            first_lines(&strata_last.stderr, 5)
        )),
    };
    let from_strata = match strata_verdicts {
        Ok(verdicts) => verdicts,
        Err(reason) => {
            println!("strata: no verdicts to compare: {reason}");
            return Ok(ExitCode::from(2));
        }
    };
    let differences = compare::disagreements(
        &corpus,
        ("kubeconform", &from_kubeconform),
        ("strata", &from_strata),
    );
    println!(
        "strata: {} invalid of {}; {} verdicts differ from kubeconform's, {} problems name no manifest",
        from_strata.invalid(),
        corpus.len(),
        differences.len(),
        from_strata.unmatched.len()
    );
    for line in &differences {
        println!("  DIFFERENT {line}");
    }
    for line in &from_strata.unmatched {
        println!("  UNMATCHED {line}");
    }
    let agree = differences.is_empty() && from_strata.unmatched.is_empty() && oracle.is_empty();
    println!(
        "verdicts: {}",
        if agree {
            "all equal"
        } else {
            "DISAGREEMENTS (see above)"
        }
    );
    Ok(if agree {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
