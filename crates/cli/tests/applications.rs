//! End-to-end tests of stacks made of Applications: `strata drift` honours their
//! `ignoreDifferences` as `strata plan` does, and `strata apply -o json` reports its counts.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const APPLICATION: &str = "\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web
  namespace: argocd
spec:
  project: default
  source:
    repoURL: https://example.com/platform.git
    targetRevision: main
    path: web
  destination:
    server: https://kubernetes.default.svc
    namespace: web
  ignoreDifferences:
    - kind: ConfigMap
      name: web-settings
      jsonPointers:
        - /data/replicas
";

const CONFIG_MAP: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-settings
data:
  replicas: \"2\"
  greeting: hello
";

/// A stack of one Application whose ConfigMap has `/data/replicas` ignored.
fn stack() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("web-stack");
    std::fs::create_dir_all(stack.join("web")).unwrap();
    std::fs::write(stack.join("application.yaml"), APPLICATION).unwrap();
    std::fs::write(stack.join("web/settings.yaml"), CONFIG_MAP).unwrap();
    (dir, stack)
}

/// Rewrites one data field of the live ConfigMap in the sandbox world.
fn change_live(stack: &Path, field: &str, value: &str) {
    let live = stack.join(".strata/sandbox/core/ConfigMap/web/web-settings.json");
    let mut object: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&live).unwrap()).unwrap();
    object["data"][field] = serde_json::Value::String(value.to_owned());
    std::fs::write(&live, serde_json::to_string_pretty(&object).unwrap()).unwrap();
}

#[test]
fn drift_ignores_the_fields_an_application_ignores() {
    let (_tmp, stack) = stack();
    let stack_dir = stack.to_str().unwrap();
    let apply = strata(&["apply", stack_dir, "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{:?}", text(&apply));

    change_live(&stack, "replicas", "5");
    let plan = strata(&["plan", stack_dir, "--detailed-exitcode"]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "plan honours ignoreDifferences: {:?}",
        text(&plan)
    );
    let drift = strata(&["drift", stack_dir, "--detailed-exitcode"]);
    assert_eq!(
        drift.status.code(),
        Some(0),
        "drift honours ignoreDifferences like plan: {:?}",
        text(&drift)
    );

    change_live(&stack, "greeting", "bonjour");
    let drift = strata(&["drift", stack_dir, "--detailed-exitcode", "-o", "json"]);
    assert_eq!(drift.status.code(), Some(2), "{:?}", text(&drift));
    let report: serde_json::Value = serde_json::from_slice(&drift.stdout).unwrap();
    let resource = &report["resources"][0];
    let changed: Vec<&str> = resource["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(changed, ["/data/greeting"], "{report:#}");
    assert_eq!(
        resource["ignored"],
        serde_json::json!([{"path": "/data/replicas", "reason": "ignoreDifferences"}]),
        "{report:#}"
    );
}

#[test]
fn apply_json_reports_what_was_done() {
    let (_tmp, stack) = stack();
    let apply = strata(&[
        "apply",
        stack.to_str().unwrap(),
        "--auto-approve",
        "-o",
        "json",
    ]);
    assert_eq!(apply.status.code(), Some(0), "{:?}", text(&apply));
    // The plan's JSON comes first; the summary is the last JSON document printed.
    let out = text(&apply).0;
    let summary_start = out.rfind("\n{\n").unwrap();
    let summary: serde_json::Value = serde_json::from_str(&out[summary_start..]).unwrap();
    assert_eq!(
        summary,
        serde_json::json!({"added": 1, "changed": 0, "destroyed": 0, "failed": [], "skipped": [], "cancelled": false})
    );
}
