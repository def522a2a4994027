//! Strata's Kustomize output equals `kubectl kustomize` on every kustomization under
//! `examples/`, on the kustomizations written for each supported feature
//! (`tests/kustomize_features/`), and on kustomize's own documented examples
//! (`../shared/corpora/kustomize/`, read in place): documents compared as JSON values, in a
//! normalised order. Fails when kubectl is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use strata_core::source::FsTree;
use strata_sources::kustomize::{KUSTOMIZATION_FILES, KustomizeError, build};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn kustomization_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("examples dir readable")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    if KUSTOMIZATION_FILES.iter().any(|f| dir.join(f).is_file()) {
        out.push(dir.to_path_buf());
    }
    for e in entries {
        if e.is_dir() && !e.ends_with(".strata") {
            kustomization_dirs(&e, out);
        }
    }
}

fn split_documents(text: &str) -> Vec<Value> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        if line == "---" {
            docs.push(std::mem::take(&mut cur));
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    docs.push(cur);
    docs.into_iter()
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.starts_with('#'))
        })
        .map(|d| strata_core::yaml::from_str::<Value>(&d).expect("kubectl prints valid YAML"))
        .collect()
}

fn sort_key(v: &Value) -> String {
    let s = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    format!(
        "{}|{}|{}|{}",
        s("/kind"),
        s("/apiVersion"),
        s("/metadata/namespace"),
        s("/metadata/name")
    )
}

fn normalized(mut docs: Vec<Value>) -> Vec<Value> {
    docs.sort_by_key(sort_key);
    docs
}

fn kubectl() -> String {
    let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let version = Command::new(&kubectl)
        .arg("version")
        .arg("--client")
        .output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "kubectl is required for this test (install it or set KUBECTL): {version:?}"
    );
    kubectl
}

/// `kubectl kustomize DIR`: the documents, normalised, or kubectl's error.
fn kubectl_build(kubectl: &str, dir: &Path) -> Result<Vec<Value>, String> {
    let out = Command::new(kubectl)
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl runs");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(normalized(split_documents(&String::from_utf8_lossy(
        &out.stdout,
    ))))
}

/// Strata's build of `rel` in the tree rooted at `root`, normalised.
fn strata_build(root: &Path, rel: &str) -> Result<Vec<Value>, KustomizeError> {
    let tree = FsTree::new(root);
    Ok(normalized(
        build(&tree, rel)?.into_iter().map(|b| b.manifest).collect(),
    ))
}

fn relative(root: &Path, dir: &Path) -> String {
    dir.strip_prefix(root)
        .expect("under the root")
        .to_string_lossy()
        .replace('\\', "/")
}

#[test]
fn kustomize_output_equals_kubectl_kustomize_on_every_example_overlay() {
    let kubectl = kubectl();
    let root = examples();
    let targets = targets_under(&root);
    assert!(
        targets.len() >= 6,
        "expected the platform overlays, found {targets:?}"
    );
    let mut failures = Vec::new();
    for (dir, rel) in &targets {
        let expected =
            kubectl_build(&kubectl, dir).unwrap_or_else(|e| panic!("kubectl kustomize {rel}: {e}"));
        let ours =
            strata_build(&root, rel).unwrap_or_else(|e| panic!("strata kustomize {rel}: {e}"));
        if ours != expected {
            failures.push(format!(
                "{rel}:\n  kubectl: {}\n  strata:  {}",
                show(&expected),
                show(&ours)
            ));
        } else {
            println!("ok {rel} ({} resources)", ours.len());
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} overlays differ:\n{}",
        failures.len(),
        targets.len(),
        failures.join("\n")
    );
}

/// Every kustomization under `root`, as paths relative to it.
fn targets_under(root: &Path) -> Vec<(PathBuf, String)> {
    let mut dirs = Vec::new();
    kustomization_dirs(root, &mut dirs);
    dirs.into_iter()
        .map(|d| {
            let rel = relative(root, &d);
            (d, rel)
        })
        .collect()
}

fn show(docs: &[Value]) -> String {
    serde_json::to_string(docs).unwrap_or_default()
}

/// The kustomizations written for each supported feature (and each difference once found):
/// every one builds equal to kubectl.
#[test]
fn every_feature_kustomization_equals_kubectl_kustomize() {
    let kubectl = kubectl();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kustomize_features");
    let targets = targets_under(&root);
    assert!(!targets.is_empty(), "no kustomization under {root:?}");
    let mut failures = Vec::new();
    for (dir, rel) in &targets {
        // Directories named `base` or `component-…` are only reached through others.
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        if name
            .as_deref()
            .is_some_and(|n| n == "base" || n.starts_with("component-"))
        {
            continue;
        }
        let expected =
            kubectl_build(&kubectl, dir).unwrap_or_else(|e| panic!("kubectl kustomize {rel}: {e}"));
        match strata_build(&root, rel) {
            Ok(ours) if ours == expected => println!("ok {rel} ({} resources)", ours.len()),
            Ok(ours) => failures.push(format!(
                "{rel}:\n  kubectl: {}\n  strata:  {}",
                show(&expected),
                show(&ours)
            )),
            Err(e) => failures.push(format!("{rel}: strata refused: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} feature kustomizations differ:\n{}",
        failures.len(),
        targets.len(),
        failures.join("\n")
    );
}

/// kustomize's own documented examples (`../shared/corpora/kustomize`, kustomize v5 `examples/`):
/// every target kubectl builds is built equal or refused with a named unsupported field (at
/// most 10% refused); every target kubectl refuses is refused.
#[test]
fn the_kustomize_corpus_builds_equal_to_kubectl_or_is_refused_by_name() {
    let kubectl = kubectl();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/kustomize");
    assert!(root.is_dir(), "the corpus is missing: {root:?}");
    let targets = targets_under(&root);
    let (mut equal, mut refused, mut kubectl_refused) = (0, Vec::new(), 0);
    let mut failures = Vec::new();
    for (dir, rel) in &targets {
        match (kubectl_build(&kubectl, dir), strata_build(&root, rel)) {
            (Ok(expected), Ok(ours)) if ours == expected => {
                equal += 1;
                println!("equal {rel} ({} resources)", ours.len());
            }
            (Ok(expected), Ok(ours)) => failures.push(format!(
                "{rel}: DIFFERENT\n  kubectl: {}\n  strata:  {}",
                show(&expected),
                show(&ours)
            )),
            (
                Ok(_),
                Err(e @ (KustomizeError::Unsupported { .. } | KustomizeError::RemoteBase { .. })),
            ) => {
                println!("refused {rel}: {e}");
                refused.push(format!("{rel}: {e}"));
            }
            (Ok(_), Err(e)) => failures.push(format!("{rel}: refused without a named field: {e}")),
            (Err(_), Err(e)) => {
                kubectl_refused += 1;
                println!("both refuse {rel}: {e}");
            }
            (Err(k), Ok(_)) => {
                failures.push(format!("{rel}: kubectl refuses ({k}) but strata builds"))
            }
        }
    }
    let built = targets.len() - kubectl_refused;
    println!(
        "{} targets: kubectl builds {built}; strata equal {equal}, refused {}; both refuse {kubectl_refused}",
        targets.len(),
        refused.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(targets.len(), 17, "the corpus has 17 kustomization dirs");
    assert_eq!(
        kubectl_refused, 1,
        "transformerconfigs/images is the one expected error"
    );
    assert!(
        refused.len() * 10 <= built,
        "more than 10% refused: {}",
        refused.join("\n")
    );
}
