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

fn fixture(path: &str) -> String {
    format!(
        "{}/tests/fixtures/health-lua/{path}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn strata_health(args: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("health")
        .args(args)
        .args(["-o", "json"])
        .env("NO_COLOR", "1")
        .env_remove("STRATA_HEALTH_LUA_DIR")
        .env_remove("STRATA_HEALTH_ARGOCD_CM")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code(), report, stderr)
}

fn by_name(report: &serde_json::Value) -> std::collections::BTreeMap<String, (String, String)> {
    report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                (
                    r["status"].as_str().unwrap_or("-").to_string(),
                    r["message"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

#[test]
fn health_loads_lua_from_a_resource_customizations_dir_and_argocd_cm() {
    let (code, report, stderr) = strata_health(&[
        &fixture("live"),
        "--lua-dir",
        &fixture(""),
        "--argocd-cm",
        &fixture("argocd-cm.yaml"),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let health = by_name(&report);
    let expect = |name: &str, status: &str, message: &str| {
        assert_eq!(
            health[name],
            (status.to_string(), message.to_string()),
            "{name}: {report:#}"
        );
    };
    // `goto continue`, `unpack`, `#`, `table.getn` and Lua 5.1 number formatting.
    expect("orders", "Progressing", "2/4 replicas ready (0.5)");
    // A `_` wildcard directory.
    expect("events", "Healthy", "Broker events is ready");
    // argocd-cm wins over the directory; `require("os")` as ArgoCD preloads it.
    expect("sessions", "Healthy", "hit rate 0.75");
    // The older `resource.customizations` map.
    expect("assets", "Suspended", "bucket is suspended");
    // Kinds without a script keep the built-in rules.
    expect(
        "web",
        "Healthy",
        "Certificate is up to date and has not expired",
    );
    assert_eq!(report["aggregate"]["status"], "Progressing", "{report:#}");
    assert!(!stderr.contains("Warning"), "{stderr}");
}

#[test]
fn hostile_lua_fails_only_its_own_objects_and_names_the_limit() {
    let started = std::time::Instant::now();
    let (code, report, stderr) = strata_health(&[
        &fixture("live"),
        "--argocd-cm",
        &fixture("argocd-cm-hostile.yaml"),
    ]);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(code, Some(0), "{stderr}");
    let health = by_name(&report);
    let unknown = |name: &str, limit: &str| {
        let (status, message) = &health[name];
        assert_eq!(status, "Unknown", "{name}: {message}");
        assert!(message.contains(limit), "{name}: {message}");
    };
    unknown("orders", "memory limit of 33554432 bytes");
    unknown("sessions", "budget of 10000000 instructions");
    unknown("assets", "`loadstring`, which is not available");
    assert_eq!(health["web"].0, "Healthy");
    assert_eq!(report["aggregate"]["status"], "Unknown", "{report:#}");
}

#[test]
fn health_reads_live_objects_as_go_yaml_does_and_manifests_still_refuse_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("user.yaml");
    std::fs::write(
        &live,
        "apiVersion: rabbitmq.com/v1beta2\nkind: User\nmetadata:\n  name: app\nstatus:\n  conditions:\n  - type: Ready\n    status: \"False\"\n    reason: FailedCreateOrUpdate\nstatus:\n  conditions:\n  - type: Ready\n    status: \"True\"\n    reason: SuccessfulCreateOrUpdate\n    message: 'created\n    in the vhost'\n",
    )
    .unwrap();
    let (code, report, stderr) = strata_health(&[live.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        by_name(&report)["app"],
        ("Healthy".to_string(), "RabbitMQ user ready".to_string())
    );
    let warning = format!(
        "Warning: {}:10: duplicate key `status`: the last value is used, as Go's YAML reads it",
        live.display()
    );
    assert!(stderr.contains(&warning), "{stderr}");
    // The same text read as a manifest is refused.
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["validate", live.to_str().unwrap()])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stderr.contains("duplicate") || stdout.contains("duplicate"),
        "{stderr}{stdout}"
    );
}
