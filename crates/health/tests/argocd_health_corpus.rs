//! ArgoCD's own health test cases (`../shared/corpora/argocd-health/`: half of argo-cd's
//! `resource_customizations/<group>/<kind>/health_test.yaml` with their inputs, as data) run
//! through Strata's built-in rules only: no Lua.
//!
//! ArgoCD tests each bundled check by running the check alone on the input, so the corpus is run
//! the same way: the built-in rule for the kind (then the `Ready`-condition fallback), without
//! the "Pending deletion" step that comes before every check in a live assessment. The match
//! rate over the status values must be at least 90%; a table of the mismatches by kind is
//! printed (`cargo test -p stratagit-health --test integration argocd_health_corpus:: -- --nocapture`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use strata_health::{HealthStatus, rules};

/// The share of status values that must match.
const TARGET: f64 = 0.90;

/// The corpus: `../shared/corpora/argocd-health`, or `$STRATA_ARGOCD_HEALTH_CORPUS` (the same
/// layout, e.g. a checkout's `resource_customizations/`).
fn corpus_root() -> PathBuf {
    match std::env::var_os("STRATA_ARGOCD_HEALTH_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/argocd-health"),
    }
}

struct Case {
    kind_dir: String,
    input: String,
    status: String,
    message: Option<String>,
}

fn cases(root: &Path) -> Vec<Case> {
    let mut tests = Vec::new();
    let mut groups: Vec<_> = std::fs::read_dir(root)
        .expect("corpus readable")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    groups.sort();
    for group in groups {
        let mut kinds: Vec<_> = std::fs::read_dir(&group)
            .expect("group readable")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.join("health_test.yaml").is_file())
            .collect();
        kinds.sort();
        for kind in kinds {
            tests.push(kind);
        }
    }
    let mut out = Vec::new();
    for kind in tests {
        let text = std::fs::read_to_string(kind.join("health_test.yaml")).expect("readable");
        let doc: Value = strata_core::yaml::from_str(&text).expect("health_test.yaml parses");
        let kind_dir = kind
            .strip_prefix(root)
            .expect("under root")
            .to_string_lossy()
            .into_owned();
        for test in doc["tests"].as_array().expect("tests list") {
            let input = test
                .get("inputPath")
                .or_else(|| test.get("inputpath"))
                .and_then(Value::as_str)
                .expect("inputPath");
            out.push(Case {
                kind_dir: kind_dir.clone(),
                input: input.to_string(),
                status: test["healthStatus"]["status"]
                    .as_str()
                    .expect("status")
                    .to_string(),
                message: test["healthStatus"]["message"].as_str().map(str::to_string),
            });
        }
    }
    out
}

/// The built-in assessment of one object as ArgoCD's test harness runs a check: the rule alone.
fn assess(obj: &Value) -> Option<HealthStatus> {
    rules::builtin(obj).or_else(|| rules::generic::ready_condition(obj))
}

/// The object of one input file, read as `strata health` reads live objects (Go-YAML leniency).
fn load(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let loaded =
        strata_core::loader::parse_objects_lenient(path, &text).map_err(|e| e.to_string())?;
    loaded
        .objects
        .into_iter()
        .next()
        .ok_or_else(|| "no object".to_string())
}

#[test]
fn builtin_rules_match_argocd_on_the_shared_corpus() {
    let root = corpus_root();
    assert!(root.is_dir(), "the corpus is missing: {root:?}");
    let cases = cases(&root);
    assert!(cases.len() > 500, "only {} cases", cases.len());
    let (mut status_ok, mut message_cases, mut message_ok) = (0usize, 0usize, 0usize);
    let mut by_kind: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut mismatches: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut transitions: BTreeMap<(String, String), usize> = BTreeMap::new();
    for case in &cases {
        let path = root.join(&case.kind_dir).join(&case.input);
        let (status, message) = match load(&path) {
            Ok(obj) => match assess(&obj) {
                Some(h) => (h.status.as_str().to_string(), h.message),
                None => ("null".to_string(), String::new()),
            },
            Err(err) => ("parse-error".to_string(), err),
        };
        let entry = by_kind.entry(&case.kind_dir).or_default();
        entry.1 += 1;
        if status == case.status {
            status_ok += 1;
            entry.0 += 1;
        } else {
            *transitions
                .entry((case.status.clone(), status.clone()))
                .or_default() += 1;
            mismatches.entry(&case.kind_dir).or_default().push(format!(
                "{}: want {}, got {status} ({message:?})",
                case.input, case.status
            ));
        }
        if let Some(want) = &case.message {
            message_cases += 1;
            if status == case.status && *want == message {
                message_ok += 1;
            }
        }
    }
    let rate = status_ok as f64 / cases.len() as f64;
    println!("per-kind mismatches (kind: matched/cases):");
    if mismatches.is_empty() {
        println!("  none");
    }
    for (kind, lines) in &mismatches {
        let (ok, all) = by_kind[kind];
        println!("  {kind}: {ok}/{all}");
        for line in lines {
            println!("      {line}");
        }
    }
    println!("mismatches by (expected -> got):");
    for ((want, got), n) in &transitions {
        println!("  {want:>11} -> {got:<11} {n}");
    }
    let kinds_all = by_kind.values().filter(|(ok, all)| ok == all).count();
    println!(
        "argocd-health corpus: {status_ok}/{} status values match ({:.1}%), {message_ok}/{message_cases} messages; {kinds_all}/{} kinds fully matched",
        cases.len(),
        rate * 100.0,
        by_kind.len()
    );
    assert!(
        rate >= TARGET,
        "built-in rules match {:.1}% of ArgoCD's status values, below the {:.0}% target",
        rate * 100.0,
        TARGET * 100.0
    );
    let message_rate = message_ok as f64 / message_cases.max(1) as f64;
    assert!(
        message_rate >= TARGET,
        "built-in rules give ArgoCD's message in {:.1}% of the cases that show one",
        message_rate * 100.0
    );
}

/// ArgoCD's own Lua script library run by Strata's Lua 5.1 sandbox on the same cases, when
/// `$STRATA_ARGOCD_LUA_DIR` points at a `resource_customizations/` directory holding the
/// `health.lua` scripts next to their `health_test.yaml` (an argo-cd checkout; the scripts are
/// code and are not part of the shared corpus). Every script must load and match.
#[test]
fn argocd_lua_library_runs_unchanged_when_present() {
    let Some(dir) = std::env::var_os("STRATA_ARGOCD_LUA_DIR") else {
        println!("STRATA_ARGOCD_LUA_DIR not set: skipped");
        return;
    };
    let root = PathBuf::from(dir);
    let mut registry = strata_health::HealthRegistry::new().without_ready_condition_fallback();
    let loaded = registry.add_lua_dir(&root).expect("library loads");
    assert!(
        loaded.problems.is_empty(),
        "scripts that do not load: {:#?}",
        loaded.problems
    );
    let cases = cases(&root);
    let mut failures = Vec::new();
    for case in &cases {
        let path = root.join(&case.kind_dir).join(&case.input);
        let obj = load(&path).expect("input loads");
        // ArgoCD runs the script alone: no "Pending deletion" first, no built-in fallback.
        let health = registry.assess_with_rules_only(&obj);
        let (status, message) = health.map_or(("null".to_string(), String::new()), |h| {
            (h.status.as_str().to_string(), h.message)
        });
        let message_ok = case.message.as_ref().is_none_or(|want| *want == message);
        if status != case.status || !message_ok {
            failures.push(format!(
                "{}/{}: want {} {:?}, got {status} {message:?}",
                case.kind_dir, case.input, case.status, case.message
            ));
        }
    }
    println!(
        "ArgoCD's Lua library: {} scripts, {}/{} cases match",
        loaded.kinds.len(),
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
