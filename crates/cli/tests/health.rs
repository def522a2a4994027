//! End-to-end tests of `strata health` over saved live objects.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::process::{Command, Stdio};

#[test]
fn health_reads_files_lists_and_json_below_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    std::fs::create_dir_all(live.join("nested")).unwrap();
    std::fs::create_dir_all(live.join(".strata")).unwrap();
    std::fs::write(
        live.join("pods.yaml"),
        "apiVersion: v1\nkind: PodList\nitems:\n  - apiVersion: v1\n    kind: Pod\n    metadata: {name: a, namespace: web}\n    status: {phase: Succeeded}\n  - apiVersion: v1\n    kind: Pod\n    metadata: {name: b, namespace: web}\n    status: {phase: Failed, message: crashed}\n",
    )
    .unwrap();
    std::fs::write(
        live.join("nested/settings.json"),
        r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "web"}}"#,
    )
    .unwrap();
    std::fs::write(live.join(".strata/state.json"), "{}").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["health", live.to_str().unwrap(), "-o", "json"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["settings", "a", "b"], "{report:#}");
    assert_eq!(report["aggregate"]["status"], "Degraded", "{report:#}");
}
