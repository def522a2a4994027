//! `--target`, `--replace` and `--refresh-only`, as Terraform users expect them.

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

/// ConfigMaps `a`, `b` (depending on `a`) and `c`; `extra` is added to `c`'s annotations.
fn stack(root: &Path, c_annotations: &str) -> PathBuf {
    let dir = root.join("targets");
    std::fs::create_dir_all(&dir).unwrap();
    let cm = |name: &str, annotations: &str| {
        format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\n  annotations:\n    note: x\n{annotations}data:\n  key: {name}-value\n"
        )
    };
    std::fs::write(
        dir.join("config.yaml"),
        cm("a", "")
            + &cm("b", "    strata.dev/depends-on: ConfigMap/default/a\n")
            + &cm("c", c_annotations),
    )
    .unwrap();
    dir
}

fn world(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(
        ".strata/sandbox/core/ConfigMap/default/{name}.json"
    ))
}

fn state(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join(".strata/state.json")).unwrap()).unwrap()
}

#[test]
fn a_target_plans_and_applies_it_with_its_dependencies_only() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(root.path(), "");
    let plan = strata(&["plan", s(&dir), "--target", "ConfigMap/default/b"]);
    let out = code(&plan, 0);
    assert!(
        out.contains("Plan: 2 to add, 0 to change, 0 to destroy."),
        "{out}"
    );
    assert!(
        out.contains("ConfigMap/default/a") && !out.contains("ConfigMap/default/c"),
        "{out}"
    );
    assert!(
        String::from_utf8_lossy(&plan.stderr).contains("resource targeting is in effect"),
        "{}",
        text(&plan)
    );
    code(
        &strata(&[
            "apply",
            s(&dir),
            "--auto-approve",
            "--target",
            "ConfigMap/default/b",
        ]),
        0,
    );
    assert!(world(&dir, "a").exists() && world(&dir, "b").exists());
    assert!(!world(&dir, "c").exists(), "c was not targeted");
    // The rest follows in the next untargeted plan.
    let rest = code(&strata(&["plan", s(&dir)]), 0);
    assert!(
        rest.contains("Plan: 1 to add, 0 to change, 0 to destroy."),
        "{rest}"
    );
}

#[test]
fn a_misspelt_target_is_an_error_with_a_suggestion_and_nothing_is_planned() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(root.path(), "");
    let plan = strata(&["plan", s(&dir), "--target", "ConfigMap/default/bb"]);
    code(&plan, 1);
    let err = String::from_utf8_lossy(&plan.stderr);
    assert!(
        err.contains("--target ConfigMap/default/bb: no such resource in the desired set or the state; did you mean ConfigMap/default/b?"),
        "{err}"
    );
    let bad = strata(&["plan", s(&dir), "--target", "configmap"]);
    code(&bad, 1);
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("is not an address of the form [group/]Kind/[namespace/]name"),
        "{}",
        text(&bad)
    );
}

#[test]
fn a_target_leaving_the_stack_is_destroyed_alone_with_its_dependents() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(root.path(), "");
    code(&strata(&["apply", s(&dir), "--auto-approve"]), 0);
    std::fs::write(dir.join("config.yaml"), "").unwrap();
    let plan = code(
        &strata(&["plan", s(&dir), "--target", "ConfigMap/default/a"]),
        0,
    );
    assert!(
        plan.contains("Plan: 0 to add, 0 to change, 2 to destroy."),
        "{plan}"
    );
    assert!(!plan.contains("ConfigMap/default/c"), "{plan}");
}

#[test]
fn replace_recreates_a_resource_nothing_forces_and_protection_still_refuses() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(root.path(), "    strata.dev/protect: \"true\"\n");
    code(&strata(&["apply", s(&dir), "--auto-approve"]), 0);
    let plan = code(
        &strata(&[
            "plan",
            s(&dir),
            "--replace",
            "ConfigMap/default/a",
            "--detailed-exitcode",
        ]),
        2,
    );
    assert!(
        plan.contains("ConfigMap/default/a (sandbox) will be replaced, as requested"),
        "{plan}"
    );
    assert!(
        plan.contains("Plan: 1 to add, 0 to change, 1 to destroy."),
        "{plan}"
    );
    let apply = code(
        &strata(&[
            "apply",
            s(&dir),
            "--auto-approve",
            "--replace",
            "ConfigMap/default/a",
        ]),
        0,
    );
    assert!(
        apply.contains("Apply complete! Resources: 1 added, 0 changed, 1 destroyed."),
        "{apply}"
    );
    assert!(world(&dir, "a").exists());

    let protected = strata(&[
        "apply",
        s(&dir),
        "--auto-approve",
        "--replace",
        "ConfigMap/default/c",
    ]);
    let out = code(&protected, 1);
    assert!(
        out.contains("ConfigMap/default/c is protected (strata.dev/protect) and replacing it was asked for; refusing"),
        "{out}"
    );
    let unknown = strata(&["plan", s(&dir), "--replace", "ConfigMap/default/z"]);
    code(&unknown, 1);
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("--replace ConfigMap/default/z: no such resource in the desired set")
    );
}

#[test]
fn refresh_only_accepts_the_world_into_the_state_and_changes_no_resource() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(root.path(), "");
    code(&strata(&["apply", s(&dir), "--auto-approve"]), 0);
    let serial = state(&dir)["serial"].as_u64().unwrap();

    // Behind Strata's back: a is edited, c is deleted.
    let mut a: serde_json::Value =
        serde_json::from_slice(&std::fs::read(world(&dir, "a")).unwrap()).unwrap();
    a["data"]["key"] = "edited-by-hand".into();
    std::fs::write(world(&dir, "a"), serde_json::to_vec(&a).unwrap()).unwrap();
    std::fs::remove_file(world(&dir, "c")).unwrap();

    let plan = code(
        &strata(&["plan", s(&dir), "--refresh-only", "--detailed-exitcode"]),
        2,
    );
    assert!(
        plan.contains("ConfigMap/default/a was changed outside Strata"),
        "{plan}"
    );
    assert!(
        plan.contains("data.key = \"a-value\" -> \"edited-by-hand\""),
        "{plan}"
    );
    assert!(
        plan.contains("ConfigMap/default/c was deleted outside Strata"),
        "{plan}"
    );
    assert_eq!(
        state(&dir)["serial"].as_u64().unwrap(),
        serial,
        "a plan writes nothing"
    );

    let apply = code(
        &strata(&["apply", s(&dir), "--refresh-only", "--auto-approve"]),
        0,
    );
    assert!(apply.contains("no resource was changed"), "{apply}");
    let after = state(&dir);
    let records = after["resources"].as_object().unwrap();
    assert!(!records.contains_key("ConfigMap/default/c"), "{after}");
    assert_eq!(
        records["ConfigMap/default/a"]["last_applied"]["data"]["key"],
        "edited-by-hand"
    );
    // The world was left alone.
    let a: serde_json::Value =
        serde_json::from_slice(&std::fs::read(world(&dir, "a")).unwrap()).unwrap();
    assert_eq!(a["data"]["key"], "edited-by-hand");
    assert!(!world(&dir, "c").exists());

    // Nothing more to accept; the ordinary plan now brings the world back to Git.
    code(
        &strata(&["plan", s(&dir), "--refresh-only", "--detailed-exitcode"]),
        0,
    );
    let plan = code(&strata(&["plan", s(&dir)]), 0);
    assert!(
        plan.contains("Plan: 1 to add, 1 to change, 0 to destroy."),
        "{plan}"
    );
}
