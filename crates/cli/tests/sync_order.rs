//! `strata apply` runs a stack in ArgoCD's order through core's one executor: PreSync hooks,
//! then the resources wave by wave in kind order, then PostSync hooks; a failing hook stops the
//! sync and runs the SyncFail hooks (on the sandbox, a hook Job's `status` in its manifest says
//! whether it failed).

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

const RESOURCES: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  level: info
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
  annotations:
    argocd.argoproj.io/sync-wave: "1"
spec:
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
        - name: api
          image: shop/api:1.0
---
apiVersion: batch/v1
kind: Job
metadata:
  name: smoke-test
  namespace: shop
  annotations:
    argocd.argoproj.io/hook: PostSync
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: smoke
          image: shop/smoke:1.0
---
apiVersion: batch/v1
kind: Job
metadata:
  name: page-oncall
  namespace: shop
  annotations:
    argocd.argoproj.io/hook: SyncFail
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: page
          image: shop/pager:1.0
"#;

fn migration(outcome: &str) -> String {
    format!(
        r#"apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  namespace: shop
  annotations:
    argocd.argoproj.io/hook: PreSync
    argocd.argoproj.io/hook-delete-policy: HookSucceeded
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: shop/migrate:1.0
status:
  conditions:
    - type: {outcome}
      status: "True"
"#
    )
}

/// The resources whose creation started, in order, from the apply's progress lines.
fn started(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(|l| l.strip_suffix(": creating..."))
        .map(|key| key.rsplit('/').next().unwrap_or(key).to_owned())
        .collect()
}

fn stack(migration_outcome: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("shop");
    std::fs::create_dir(&stack).unwrap();
    std::fs::write(stack.join("resources.yaml"), RESOURCES).unwrap();
    std::fs::write(stack.join("migrate.yaml"), migration(migration_outcome)).unwrap();
    (dir, stack)
}

fn sandbox_has(stack: &Path, kind: &str, name: &str) -> bool {
    let dir = stack.join(".strata/sandbox");
    let group = if kind == "Job" {
        "batch"
    } else if kind == "Deployment" {
        "apps"
    } else {
        "core"
    };
    let kind_dir = dir.join(group).join(kind);
    walk(&kind_dir)
        .iter()
        .any(|p| p.file_stem().is_some_and(|s| s == name))
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn hooks_waves_and_kinds_run_in_argocd_order() {
    let (_tmp, stack) = stack("Complete");
    let apply = strata(&["apply", stack.to_str().unwrap(), "--auto-approve"]);
    assert_eq!(
        apply.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&apply.stderr)
    );
    assert_eq!(
        started(&apply),
        ["shop", "migrate", "settings", "api", "smoke-test"],
        "the hook's Namespace, the PreSync hook, wave 0 by kind, wave 1, the PostSync hook; \
         the SyncFail hook does not run"
    );
    assert!(
        !sandbox_has(&stack, "Job", "migrate"),
        "HookSucceeded deleted it"
    );
    assert!(sandbox_has(&stack, "Job", "smoke-test"));
    assert!(!sandbox_has(&stack, "Job", "page-oncall"));

    // Nothing changed: the hooks do not make a plan.
    let again = strata(&["plan", stack.to_str().unwrap(), "--detailed-exitcode"]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}

#[test]
fn a_failing_presync_hook_stops_the_sync_and_runs_the_sync_fail_hooks() {
    let (_tmp, stack) = stack("Failed");
    let apply = strata(&["apply", stack.to_str().unwrap(), "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(1));
    assert_eq!(
        started(&apply),
        ["shop", "migrate", "page-oncall"],
        "after the failed PreSync hook only the SyncFail hook runs"
    );
    let stderr = String::from_utf8_lossy(&apply.stderr);
    assert!(stderr.contains("migrate"), "{stderr}");
    assert!(stderr.contains("degraded"), "{stderr}");
    assert!(!sandbox_has(&stack, "ConfigMap", "settings"));
    assert!(!sandbox_has(&stack, "Deployment", "api"));
    assert!(sandbox_has(&stack, "Job", "page-oncall"));
}
