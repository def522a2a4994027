//! The CLI refuses a state that belongs to another stack, and heals what an interrupted apply
//! left.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

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

fn stack(root: &Path, name: &str, config_maps: &[&str]) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let docs: Vec<String> = config_maps
        .iter()
        .map(|n| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {n}\n  namespace: default\ndata:\n  owner: {name}\n"
            )
        })
        .collect();
    std::fs::write(dir.join("config.yaml"), docs.join("---\n")).unwrap();
    dir
}

fn state_of(stack: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(stack.join(".strata/state.json")).unwrap()).unwrap()
}

#[test]
fn a_state_copied_from_another_stack_is_refused_and_nothing_is_destroyed() {
    let tmp = tempfile::tempdir().unwrap();
    let platform = stack(tmp.path(), "platform", &["a", "b", "c"]);
    let quickstart = stack(tmp.path(), "quickstart", &["q"]);
    for dir in [&platform, &quickstart] {
        let apply = strata(&["apply", dir.to_str().unwrap(), "--auto-approve"]);
        assert_eq!(apply.status.code(), Some(0), "{:?}", apply);
    }
    assert_eq!(state_of(&platform)["stack"], "platform");
    std::fs::copy(
        platform.join(".strata/state.json"),
        quickstart.join(".strata/state.json"),
    )
    .unwrap();

    let apply = strata(&["apply", quickstart.to_str().unwrap(), "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&apply.stderr);
    assert!(
        stderr.contains("belongs to stack `platform`")
            && stderr.contains("not to stack `quickstart`"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&apply.stdout).contains("destroy"));
    // The platform's objects are untouched: the copied state still names all three.
    assert_eq!(
        state_of(&quickstart)["resources"]
            .as_object()
            .unwrap()
            .len(),
        3
    );
    let plan = strata(&["plan", platform.to_str().unwrap(), "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{plan:?}");
}

#[test]
fn an_interrupted_create_is_confirmed_by_the_next_apply_and_temporaries_are_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = stack(tmp.path(), "demo", &["a", "b"]);
    let apply = strata(&["apply", dir.to_str().unwrap(), "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{apply:?}");
    // As a kill between the create and the record of its result leaves it: an intent, and a
    // temporary file of a state write that never finished.
    let state_path = dir.join(".strata/state.json");
    let mut state = state_of(&dir);
    for record in state["resources"].as_object_mut().unwrap().values_mut() {
        record["status"] = "creating".into();
    }
    std::fs::write(&state_path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    let leftover = dir.join(".strata/state.json.tmp.0123456789abcdef");
    std::fs::write(&leftover, "{ half").unwrap();

    let plan = strata(&["plan", dir.to_str().unwrap(), "--detailed-exitcode"]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "the objects are there: {plan:?}"
    );
    let apply = strata(&["apply", dir.to_str().unwrap(), "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{apply:?}");
    let healed = state_of(&dir);
    for record in healed["resources"].as_object().unwrap().values() {
        assert_eq!(record["status"], "applied", "{record}");
    }
    assert!(!leftover.exists());
    assert!(!dir.join(".strata/state.json.journal").exists());
}

#[test]
fn the_lock_is_taken_before_planning_and_its_error_says_how_to_release_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = stack(tmp.path(), "demo", &["a"]);
    let d = dir.to_str().unwrap();
    let lock = strata(&["state", "lock", d, "-o", "json"]);
    assert_eq!(lock.status.code(), Some(0), "{lock:?}");
    let info: serde_json::Value = serde_json::from_slice(&lock.stdout).unwrap();
    let id = info["ID"].as_str().unwrap().to_owned();
    assert!(info["Who"].as_str().unwrap().contains('@'), "{info}");
    assert!(info["Pid"].as_u64().unwrap() > 0, "{info}");

    let blocked = strata(&["apply", d, "--auto-approve"]);
    assert_eq!(blocked.status.code(), Some(1));
    assert!(
        blocked.stdout.is_empty(),
        "no plan is printed before the lock is taken: {}",
        String::from_utf8_lossy(&blocked.stdout)
    );
    let stderr = String::from_utf8_lossy(&blocked.stderr);
    assert!(
        stderr.contains("no longer running on this host"),
        "{stderr}"
    );
    assert!(stderr.contains("for `state-lock`"), "{stderr}");
    assert!(
        stderr.contains(&format!("strata state force-unlock {d} {id}")),
        "{stderr}"
    );

    let plan = strata(&["plan", d]);
    assert_eq!(plan.status.code(), Some(1), "plan takes the lock too");
    let unlocked_plan = strata(&["plan", d, "--lock=false", "--detailed-exitcode"]);
    assert_eq!(unlocked_plan.status.code(), Some(2), "{unlocked_plan:?}");

    let started = std::time::Instant::now();
    let waited = strata(&["apply", d, "--auto-approve", "--lock-timeout", "2s"]);
    assert_eq!(waited.status.code(), Some(1));
    assert!(started.elapsed() >= std::time::Duration::from_secs(2));
    assert!(String::from_utf8_lossy(&waited.stderr).contains("Waiting up to 2s"));

    // A corrupt lock file can still be released.
    std::fs::write(dir.join(".strata/state.json.lock"), "{ torn").unwrap();
    let forced = strata(&["state", "force-unlock", d, "whatever-id"]);
    assert_eq!(forced.status.code(), Some(0), "{forced:?}");
    let apply = strata(&["apply", d, "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{apply:?}");
}

#[test]
fn a_name_the_target_would_refuse_fails_the_plan_before_anything_is_applied() {
    let tmp = tempfile::tempdir().unwrap();
    let long = "x".repeat(300);
    let dir = stack(tmp.path(), "demo", &["fine", long.as_str()]);
    let d = dir.to_str().unwrap();
    let apply = strata(&["apply", d, "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&apply.stderr);
    assert!(stderr.contains("config.yaml (document 1"), "{stderr}");
    assert!(stderr.contains("field `metadata.name`"), "{stderr}");
    assert!(stderr.contains("300 characters"), "{stderr}");
    assert!(
        !dir.join(".strata/sandbox/core/ConfigMap/default/fine.json")
            .exists(),
        "nothing was applied"
    );
}
