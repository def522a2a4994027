//! State surgery and recovery: `state rm`, `state mv`, `state history`, `state restore` and
//! `import`, each under the lock, each keeping the version it replaces.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn code(o: &Output, expected: i32) -> String {
    assert_eq!(o.status.code(), Some(expected), "{}", text(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn cm(name: &str, depends_on: Option<&str>) -> String {
    let annotations = depends_on
        .map(|d| format!("  annotations:\n    strata.dev/depends-on: {d}\n"))
        .unwrap_or_default();
    format!(
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\n{annotations}data:\n  key: {name}-value\n"
    )
}

fn stack(root: &Path, name: &str, body: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.yaml"), body).unwrap();
    dir
}

fn state(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join(".strata/state.json")).unwrap()).unwrap()
}

fn addresses(dir: &Path) -> Vec<String> {
    state(dir)["resources"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[test]
fn rm_and_mv_edit_the_state_under_the_lock_and_keep_what_they_replace() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(
        root.path(),
        "surgery",
        &(cm("a", None) + &cm("b", Some("ConfigMap/default/a"))),
    );
    code(&strata(&["apply", s(&dir), "--auto-approve"]), 0);
    let applied_serial = state(&dir)["serial"].as_u64().unwrap();

    let typo = strata(&["state", "rm", s(&dir), "ConfigMap/default/aa"]);
    code(&typo, 1);
    assert!(
        stderr(&typo).contains("ConfigMap/default/aa is not in the state")
            && stderr(&typo).contains("did you mean ConfigMap/default/a?"),
        "{}",
        text(&typo)
    );
    assert_eq!(
        state(&dir)["serial"].as_u64().unwrap(),
        applied_serial,
        "nothing written"
    );

    let mv = code(
        &strata(&[
            "state",
            "mv",
            s(&dir),
            "ConfigMap/default/a",
            "ConfigMap/default/a2",
        ]),
        0,
    );
    assert!(
        mv.contains("Moved ConfigMap/default/a to ConfigMap/default/a2."),
        "{mv}"
    );
    assert_eq!(
        addresses(&dir),
        ["ConfigMap/default/a2", "ConfigMap/default/b"]
    );
    let after = state(&dir);
    assert_eq!(after["serial"].as_u64().unwrap(), applied_serial + 1);
    let b = &after["resources"]["ConfigMap/default/b"];
    assert_eq!(
        b["dependencies"][0]["name"], "a2",
        "dependencies follow the move: {b}"
    );
    assert_eq!(
        after["resources"]["ConfigMap/default/a2"]["last_applied"]["metadata"]["name"],
        "a2"
    );
    let kind_change = strata(&[
        "state",
        "mv",
        s(&dir),
        "ConfigMap/default/b",
        "Secret/default/b",
    ]);
    code(&kind_change, 1);
    assert!(stderr(&kind_change).contains("are of different kinds"));

    let rm = code(&strata(&["state", "rm", s(&dir), "ConfigMap/default/b"]), 0);
    assert!(
        rm.contains(
            "Removed ConfigMap/default/b from the state (the resource itself is untouched)."
        ),
        "{rm}"
    );
    assert_eq!(addresses(&dir), ["ConfigMap/default/a2"]);
    assert!(
        dir.join(".strata/sandbox/core/ConfigMap/default/b.json")
            .exists(),
        "the world keeps the object"
    );

    // Every edit kept the version it replaced.
    let history = code(&strata(&["state", "history", s(&dir), "-o", "json"]), 0);
    let history: serde_json::Value = serde_json::from_str(&history).unwrap();
    let serials: Vec<u64> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["serial"].as_u64().unwrap())
        .collect();
    assert_eq!(serials[0], applied_serial + 2);
    assert!(
        serials.contains(&applied_serial) && serials.contains(&(applied_serial + 1)),
        "{serials:?}"
    );
    assert_eq!(history[0]["current"], true);
}

#[test]
fn restore_shows_the_difference_then_brings_an_earlier_version_back() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(root.path(), "restore", &(cm("a", None) + &cm("b", None)));
    code(&strata(&["apply", s(&dir), "--auto-approve"]), 0);
    let before = state(&dir);
    let serial = before["serial"].as_u64().unwrap();
    code(&strata(&["state", "rm", s(&dir), "ConfigMap/default/a"]), 0);

    let without_approval = strata(&["state", "restore", s(&dir), &serial.to_string()]);
    code(&without_approval, 1);
    assert!(stderr(&without_approval).contains("pass --auto-approve"));
    assert_eq!(addresses(&dir), ["ConfigMap/default/b"], "nothing restored");

    let restore = code(
        &strata(&[
            "state",
            "restore",
            s(&dir),
            &serial.to_string(),
            "--auto-approve",
        ]),
        0,
    );
    assert!(
        restore.contains("+ ConfigMap/default/a (recorded again)"),
        "{restore}"
    );
    assert!(
        restore.contains(&format!(
            "Restored version {serial} (serial {serial}) as serial {}",
            serial + 2
        )),
        "{restore}"
    );
    let after = state(&dir);
    assert_eq!(after["resources"], before["resources"]);
    assert_eq!(after["lineage"], before["lineage"]);
    code(&strata(&["plan", s(&dir), "--detailed-exitcode"]), 0);

    // A version that was never kept, and a version of another state, are refused.
    let missing = strata(&["state", "restore", s(&dir), "4242", "--auto-approve"]);
    code(&missing, 1);
    assert!(
        stderr(&missing).contains("version 4242 is not kept"),
        "{}",
        text(&missing)
    );
    let other = stack(root.path(), "other", &cm("z", None));
    code(&strata(&["apply", s(&other), "--auto-approve"]), 0);
    std::fs::copy(
        other.join(".strata/state.json"),
        dir.join(".strata/state.json.history/0000000099.json"),
    )
    .unwrap();
    let foreign = strata(&["state", "restore", s(&dir), "99", "--auto-approve"]);
    code(&foreign, 1);
    assert!(
        stderr(&foreign).contains("refusing to restore a version of another state"),
        "{}",
        text(&foreign)
    );
    assert_eq!(state(&dir)["resources"], before["resources"]);
}

#[test]
fn import_records_an_existing_object_and_refuses_one_with_another_manager() {
    let root = tempfile::tempdir().unwrap();
    let world = root.path().join("world");
    // Another stack made `mine` and `theirs`; `mine` then loses its labels (made by hand).
    let other = stack(
        root.path(),
        "other",
        &(cm("mine", None) + &cm("theirs", None)),
    );
    code(
        &strata(&[
            "apply",
            s(&other),
            "--auto-approve",
            "--sandbox-dir",
            s(&world),
        ]),
        0,
    );
    let mine_path = world.join("core/ConfigMap/default/mine.json");
    let mut mine: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&mine_path).unwrap()).unwrap();
    mine["metadata"].as_object_mut().unwrap().remove("labels");
    mine["data"]["key"] = "made-by-hand".into();
    std::fs::write(&mine_path, serde_json::to_vec(&mine).unwrap()).unwrap();

    let dir = stack(
        root.path(),
        "importer",
        &(cm("mine", None) + &cm("theirs", None) + &cm("fresh", None)),
    );
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--sandbox-dir", s(&world)]);
        strata(&all)
    };
    // Without the import, the plan refuses to touch an object it does not own.
    let plan = run(&["plan", s(&dir)]);
    let out = code(&plan, 1);
    assert!(
        out.contains("ConfigMap/default/mine already exists"),
        "{out}"
    );

    let import = run(&["import", s(&dir), "ConfigMap/default/mine"]);
    let out = code(&import, 0);
    assert!(
        out.contains("Imported ConfigMap/default/mine (sandbox) into the state"),
        "{out}"
    );
    let record = &state(&dir)["resources"]["ConfigMap/default/mine"];
    assert_eq!(
        record["last_applied"]["data"]["key"], "made-by-hand",
        "{record}"
    );

    let again = run(&["import", s(&dir), "ConfigMap/default/mine"]);
    code(&again, 1);
    assert!(stderr(&again).contains("ConfigMap/default/mine is already in the state"));
    let theirs = run(&["import", s(&dir), "ConfigMap/default/theirs"]);
    code(&theirs, 1);
    assert!(
        stderr(&theirs).contains("ConfigMap/default/theirs is managed by Strata stack `other`; importing it would give it two managers"),
        "{}",
        text(&theirs)
    );
    let absent = run(&["import", s(&dir), "ConfigMap/default/fresh"]);
    code(&absent, 1);
    assert!(
        stderr(&absent).contains("ConfigMap/default/fresh: no live object found"),
        "{}",
        text(&absent)
    );
    let not_desired = run(&["import", s(&dir), "ConfigMap/default/elsewhere"]);
    code(&not_desired, 1);
    assert!(stderr(&not_desired).contains("is not in the desired set"));

    // The next plan shows what differs from Git: the value and the ownership labels.
    let plan = code(
        &run(&["plan", s(&dir), "--target", "ConfigMap/default/mine"]),
        0,
    );
    assert!(
        plan.contains("ConfigMap/default/mine (sandbox) will be updated in-place"),
        "{plan}"
    );
    assert!(
        plan.contains("data.key = \"made-by-hand\" -> \"mine-value\""),
        "{plan}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_history_lists_bucket_versions_and_restores_one() {
    let moto = strata_aws::testing::MotoServer::shared()
        .unwrap_or_else(|e| panic!("cannot start moto: {e}"));
    let s3 = moto.settings().load().await.s3(None);
    for bucket in ["strata-history-versioned", "strata-history-plain"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    s3.put_bucket_versioning()
        .bucket("strata-history-versioned")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let env = moto.child_env();
    let run = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
        command
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .stdin(Stdio::null());
        for (k, v) in &env {
            command.env(k, v);
        }
        command.output().unwrap()
    };
    let root = tempfile::tempdir().unwrap();
    let config = |bucket: &str| {
        format!(
            "name: history\nbackend:\n  s3:\n    bucket: {bucket}\n    key: history.json\n    region: us-east-1\n    endpoint: {}\n",
            moto.endpoint()
        )
    };
    let dir = stack(root.path(), "history", &(cm("a", None) + &cm("b", None)));
    std::fs::write(dir.join("strata.yaml"), config("strata-history-versioned")).unwrap();
    code(&run(&["apply", s(&dir), "--auto-approve"]), 0);
    code(&run(&["state", "rm", s(&dir), "ConfigMap/default/a"]), 0);

    let history = code(&run(&["state", "history", s(&dir), "-o", "json"]), 0);
    let history: serde_json::Value = serde_json::from_str(&history).unwrap();
    let versions = history.as_array().unwrap();
    assert!(versions.len() >= 2, "{history}");
    assert_eq!(versions[0]["current"], true);
    assert_eq!(versions[0]["resources"], 1);
    let earlier = versions
        .iter()
        .find(|v| v["resources"] == 2)
        .unwrap_or_else(|| panic!("the version before the rm is kept: {history}"));
    let id = earlier["id"].as_str().unwrap();
    let restore = code(
        &run(&["state", "restore", s(&dir), id, "--auto-approve"]),
        0,
    );
    assert!(
        restore.contains("+ ConfigMap/default/a (recorded again)"),
        "{restore}"
    );
    let list = code(&run(&["state", "list", s(&dir)]), 0);
    assert!(
        list.contains("ConfigMap/default/a\t") && list.contains("ConfigMap/default/b\t"),
        "{list}"
    );

    // A bucket without versioning keeps no history, and says so.
    let plain = stack(root.path(), "plain", &cm("p", None));
    std::fs::write(plain.join("strata.yaml"), config("strata-history-plain")).unwrap();
    code(&run(&["apply", s(&plain), "--auto-approve"]), 0);
    let refused = run(&["state", "history", s(&plain)]);
    code(&refused, 1);
    assert!(
        stderr(&refused).contains("bucket strata-history-plain does not have versioning enabled"),
        "{}",
        text(&refused)
    );
}
