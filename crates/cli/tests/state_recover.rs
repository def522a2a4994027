//! `strata state recover`: a lost state is rebuilt from the live objects labelled for the
//! stack, and `plan` on an empty state warns when such objects exist.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write_stack(dir: &Path, config_maps: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    let docs: Vec<String> = config_maps
        .iter()
        .map(|n| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {n}\n  namespace: default\ndata:\n  key: {n}\n"
            )
        })
        .collect();
    std::fs::write(dir.join("config.yaml"), docs.join("---\n")).unwrap();
}

fn state_of(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join(".strata/state.json")).unwrap()).unwrap()
}

/// The state's records, without outputs (a recovered record has none: the create that
/// returned them is not replayed).
fn records(state: &Value) -> Value {
    let mut resources = state["resources"].clone();
    for record in resources.as_object_mut().unwrap().values_mut() {
        record.as_object_mut().unwrap().remove("outputs");
    }
    resources
}

/// A stack `demo` applied with ConfigMaps a, b and c, then c left Git; its state lost.
fn lost_state(root: &Path) -> (PathBuf, Value) {
    let dir = root.join("demo");
    write_stack(&dir, &["a", "b", "c"]);
    let apply = strata(&["apply", dir.to_str().unwrap(), "--auto-approve"]);
    assert!(apply.status.success(), "{apply:?}");
    write_stack(&dir, &["a", "b"]);
    let mut before = state_of(&dir);
    before["resources"]
        .as_object_mut()
        .unwrap()
        .remove("ConfigMap/default/c");
    // An object of another stack in the same world is never this stack's.
    let other = root.join("other");
    write_stack(&other, &["x"]);
    let apply = strata(&[
        "apply",
        other.to_str().unwrap(),
        "--auto-approve",
        "--sandbox-dir",
        dir.join(".strata/sandbox").to_str().unwrap(),
    ]);
    assert!(apply.status.success(), "{apply:?}");
    std::fs::remove_file(dir.join(".strata/state.json")).unwrap();
    let history = dir.join(".strata/state.json.history");
    if history.exists() {
        std::fs::remove_dir_all(history).unwrap();
    }
    (dir, before)
}

#[test]
fn plan_on_an_empty_state_warns_when_labelled_objects_exist() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = lost_state(tmp.path());
    let path = dir.to_str().unwrap();
    let plan = strata(&["plan", path, "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{plan:?}");
    assert!(stdout(&plan).contains("No changes"), "{plan:?}");
    assert_eq!(
        stderr(&plan),
        format!(
            "Warning: the state {path}/.strata/state.json records no resource, but 3 live objects carry the ownership labels of stack `demo` (ConfigMap/default/a, ConfigMap/default/b, ConfigMap/default/c): the state does not record them, so a destroy would leave them and removing them from Git would not delete them. To record them in the state, run:\n  strata state recover {path}\n"
        )
    );
    // A stack with nothing live gets no warning.
    let fresh = tmp.path().join("fresh");
    write_stack(&fresh, &["a"]);
    let plan = strata(&["plan", fresh.to_str().unwrap()]);
    assert!(plan.status.success(), "{plan:?}");
    assert_eq!(stderr(&plan), "");
}

#[test]
fn recover_records_the_labelled_objects_git_holds_and_lists_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, before) = lost_state(tmp.path());
    let path = dir.to_str().unwrap();
    let recover = strata(&["state", "recover", path]);
    assert!(recover.status.success(), "{recover:?}");
    assert_eq!(
        stdout(&recover),
        format!(
            "Recorded 2 live resources labelled for stack `demo` in the state {path}/.strata/state.json (serial 1; the previous version is kept):\n  + ConfigMap/default/a (sandbox)\n  + ConfigMap/default/b (sandbox)\n\nLabelled for stack `demo` but not recorded (the next plan leaves them alone; `strata apply --prune` deletes Kubernetes ones that left Git):\n  ? ConfigMap/default/c (sandbox): not in Git\n\nRun `strata plan {path}` to see what differs from Git.\n"
        )
    );
    let state = state_of(&dir);
    assert_eq!(state["stack"], "demo");
    assert_eq!(records(&state), records(&before));
    // The next plan is empty and warns no more; the lock was released.
    let plan = strata(&["plan", path, "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{plan:?}");
    assert_eq!(stderr(&plan), "");
    assert!(!dir.join(".strata/state.json.lock").exists());

    // Again: nothing new, the state is unchanged.
    let again = strata(&["state", "recover", path, "-o", "json"]);
    assert!(again.status.success(), "{again:?}");
    let json: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "stack": "demo",
            "state": format!("{path}/.strata/state.json"),
            "serial": null,
            "recorded": [],
            "already_recorded": ["ConfigMap/default/a", "ConfigMap/default/b"],
            "not_recorded": [{"address": "ConfigMap/default/c", "provider": "sandbox", "reason": "not in Git"}],
            "not_searched": [],
        })
    );
    assert_eq!(state_of(&dir)["serial"], 1);

    // The recovered state is the stack's: destroy removes what it records, and only that.
    let destroy = strata(&["destroy", path, "--auto-approve"]);
    assert!(destroy.status.success(), "{destroy:?}");
    let world = dir.join(".strata/sandbox/core/ConfigMap/default");
    let mut left: Vec<String> = std::fs::read_dir(&world)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["c.json", "x.json"]);
}

#[test]
fn recover_adds_to_a_state_that_lost_records_and_keeps_the_previous_version() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    write_stack(&dir, &["a", "b"]);
    let path = dir.to_str().unwrap();
    assert!(strata(&["apply", path, "--auto-approve"]).status.success());
    let full = state_of(&dir);
    let rm = strata(&["state", "rm", path, "ConfigMap/default/b"]);
    assert!(rm.status.success(), "{rm:?}");
    let serial = state_of(&dir)["serial"].as_u64().unwrap();
    let recover = strata(&["state", "recover", path]);
    assert!(recover.status.success(), "{recover:?}");
    let out = stdout(&recover);
    assert!(
        out.contains("Recorded 1 live resources labelled for stack `demo`")
            && out.contains(&format!(
                "(serial {}; the previous version is kept)",
                serial + 1
            ))
            && out.contains("  + ConfigMap/default/b (sandbox)\n")
            && out.contains("Already recorded (left as they are): 1.\n"),
        "{out}"
    );
    assert_eq!(records(&state_of(&dir)), records(&full));
    let history = strata(&["state", "history", path, "-o", "json"]);
    let versions: Value = serde_json::from_slice(&history.stdout).unwrap();
    let serials: Vec<u64> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["serial"].as_u64().unwrap())
        .take(2)
        .collect();
    assert_eq!(serials, [serial + 1, serial]);
}

#[test]
fn recover_refuses_a_state_of_another_stack_and_a_held_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    write_stack(&dir, &["a"]);
    let path = dir.to_str().unwrap();
    assert!(strata(&["apply", path, "--auto-approve"]).status.success());
    let lock = strata(&["state", "lock", path]);
    assert!(lock.status.success(), "{lock:?}");
    let locked = strata(&["state", "recover", path]);
    assert_eq!(locked.status.code(), Some(1));
    assert!(stderr(&locked).contains("is locked"), "{locked:?}");
    let id = stdout(&lock).trim().rsplit(' ').next().unwrap().to_owned();
    assert!(strata(&["state", "unlock", path, &id]).status.success());

    let foreign = strata(&["state", "recover", path, "--stack-name", "other"]);
    assert_eq!(foreign.status.code(), Some(1));
    assert!(
        stderr(&foreign).contains("belongs to stack `demo`"),
        "{foreign:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_buckets_are_found_by_their_ownership_tags() {
    let moto = strata_aws::testing::MotoServer::shared()
        .unwrap_or_else(|e| panic!("cannot start moto: {e}"));
    let env = moto.child_env();
    let run = |args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_strata"));
        command
            .args(args)
            .args([
                "--aws-endpoint",
                &moto.endpoint(),
                "--aws-region",
                "us-east-1",
            ])
            .env("NO_COLOR", "1")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .stdin(std::process::Stdio::null());
        for (k, v) in &env {
            command.env(k, v);
        }
        command.output().unwrap()
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cloud");
    std::fs::create_dir_all(&dir).unwrap();
    let bucket = |name: &str, external: &str| {
        format!(
            "---\napiVersion: s3.aws.upbound.io/v1beta1\nkind: Bucket\nmetadata:\n  name: {name}\n  annotations:\n    crossplane.io/external-name: {external}\nspec:\n  forProvider:\n    region: us-east-1\n"
        )
    };
    std::fs::write(
        dir.join("buckets.yaml"),
        bucket("assets", "strata-recover-assets") + &bucket("logs", "strata-recover-logs"),
    )
    .unwrap();
    let path = dir.to_str().unwrap();
    let apply = run(&["apply", path, "--auto-approve", "--stack-name", "cloud"]);
    assert!(apply.status.success(), "{apply:?}");
    // `logs` leaves Git; then the state is lost.
    std::fs::write(
        dir.join("buckets.yaml"),
        bucket("assets", "strata-recover-assets"),
    )
    .unwrap();
    std::fs::remove_file(dir.join(".strata/state.json")).unwrap();

    let recover = run(&[
        "state",
        "recover",
        path,
        "--stack-name",
        "cloud",
        "-o",
        "json",
    ]);
    assert!(recover.status.success(), "{recover:?}");
    let json: Value = serde_json::from_slice(&recover.stdout).unwrap();
    // Listed by its name in AWS, the bucket Git holds under another name is recognised.
    assert_eq!(
        json["recorded"],
        serde_json::json!([{"address": "s3.aws.upbound.io/Bucket/assets", "provider": "aws"}]),
        "{json}"
    );
    assert_eq!(
        json["not_recorded"],
        serde_json::json!([{"address": "s3.aws.upbound.io/Bucket/strata-recover-logs", "provider": "aws", "reason": "not in Git"}]),
        "{json}"
    );
    assert_eq!(
        json["not_searched"],
        serde_json::json!([]),
        "the AWS provider lists: {json}"
    );
}
