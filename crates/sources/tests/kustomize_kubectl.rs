//! Strata's Kustomize output equals `kubectl kustomize` on every kustomization under
//! `examples/` (documents compared as JSON values, in a normalised order). Fails when kubectl
//! is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use strata_core::source::FsTree;
use strata_sources::kustomize::{KUSTOMIZATION_FILES, build};

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
        .map(|d| serde_saphyr::from_str::<Value>(&d).expect("kubectl prints valid YAML"))
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

#[test]
fn kustomize_output_equals_kubectl_kustomize_on_every_example_overlay() {
    let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let version = Command::new(&kubectl)
        .arg("version")
        .arg("--client")
        .output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "kubectl is required for this test (install it or set KUBECTL): {version:?}"
    );
    let root = examples();
    let mut dirs = Vec::new();
    kustomization_dirs(&root, &mut dirs);
    assert!(
        dirs.len() >= 6,
        "expected the platform overlays, found {dirs:?}"
    );
    let tree = FsTree::new(&root);
    let mut failures = Vec::new();
    for dir in &dirs {
        let rel = dir
            .strip_prefix(&root)
            .expect("under examples")
            .to_string_lossy()
            .replace('\\', "/");
        let out = Command::new(&kubectl)
            .arg("kustomize")
            .arg(dir)
            .output()
            .expect("kubectl runs");
        assert!(
            out.status.success(),
            "kubectl kustomize {rel}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected = normalized(split_documents(&String::from_utf8_lossy(&out.stdout)));
        let ours = normalized(
            build(&tree, &rel)
                .unwrap_or_else(|e| panic!("strata kustomize {rel}: {e}"))
                .into_iter()
                .map(|b| b.manifest)
                .collect(),
        );
        if ours != expected {
            failures.push(format!(
                "{rel}:\n  kubectl: {}\n  strata:  {}",
                serde_json::to_string(&expected).unwrap_or_default(),
                serde_json::to_string(&ours).unwrap_or_default()
            ));
        } else {
            println!("ok {rel} ({} resources)", ours.len());
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} overlays differ:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}
