//! Validation before planning: typos a real provider or API server would refuse are refused
//! with the field named, every problem at once, and nothing applied.

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

const BUCKET: &str = "apiVersion: s3.aws.upbound.io/v1beta1
kind: Bucket
metadata:
  name: assets
spec:
  forProvider:
    region: eu-west-1
";

fn stack(root: &Path, extra: &str) -> PathBuf {
    let dir = root.join("typos");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bucket.yaml"), format!("{BUCKET}---\n{extra}")).unwrap();
    dir
}

fn refused(dir: &Path, expected: &[&str]) {
    let plan = strata(&["plan", s(dir)]);
    assert_eq!(plan.status.code(), Some(1), "{}", text(&plan));
    let err = String::from_utf8_lossy(&plan.stderr);
    for e in expected {
        assert!(err.contains(e), "missing {e:?} in {}", text(&plan));
    }
    assert!(
        err.contains("bucket.yaml (document 1, line"),
        "the file is named: {err}"
    );
    let apply = strata(&["apply", s(dir), "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(1), "{}", text(&apply));
    assert!(
        !dir.join(".strata/sandbox/s3.aws.upbound.io").exists(),
        "nothing applied"
    );
}

#[test]
fn a_misspelt_kind_is_refused_not_planned_beside_a_deletion() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(
        root.path(),
        "apiVersion: s3.aws.upbound.io/v1beta1\nkind: BucketVersoning\nmetadata:\n  name: v\nspec:\n  forProvider:\n    region: eu-west-1\n    bucketRef:\n      name: assets\n    versioningConfiguration:\n      - status: Enabled\n",
    );
    refused(
        &dir,
        &[
            "s3.aws.upbound.io/BucketVersoning/v: kind: no schema and no provider for kind BucketVersoning in group s3.aws.upbound.io; did you mean BucketVersioning?",
        ],
    );
    // An explicit allow-list lets the sandbox take it unchecked.
    std::fs::write(
        dir.join("strata.yaml"),
        "sandbox:\n  allowKinds: [s3.aws.upbound.io/BucketVersoning]\n",
    )
    .unwrap();
    let plan = strata(&["plan", s(&dir)]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
}

#[test]
fn a_misspelt_spec_field_is_refused_not_planned_as_a_removal() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(
        root.path(),
        "apiVersion: rds.aws.upbound.io/v1beta1\nkind: SubnetGroup\nmetadata:\n  name: subnets\nspec:\n  forProvidr:\n    region: eu-west-1\n",
    );
    refused(
        &dir,
        &[
            "rds.aws.upbound.io/SubnetGroup/subnets: spec.forProvidr: unknown field; did you mean forProvider? (schema of the AWS provider)",
            "rds.aws.upbound.io/SubnetGroup/subnets: spec.forProvider: required field is missing (schema of the AWS provider)",
        ],
    );
}

#[test]
fn aws_fields_are_checked_against_the_aws_providers_schemas() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("typos");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("bucket.yaml"),
        "apiVersion: s3.aws.upbound.io/v1beta1\nkind: Bucket\nmetadata:\n  name: assets\nspec:\n  forProvider:\n    region: eu-west-1\n    forceDestory: true\n---\napiVersion: s3.aws.upbound.io/v1beta1\nkind: BucketVersioning\nmetadata:\n  name: assets-versioning\nspec:\n  forProvider:\n    region: eu-west-1\n    bucketRef:\n      name: assets\n    versioningConfiguration:\n      - status: Enable\n",
    )
    .unwrap();
    refused(
        &dir,
        &[
            "s3.aws.upbound.io/Bucket/assets: spec.forProvider.forceDestory: unknown field; did you mean forceDestroy? (schema of the AWS provider)",
            "s3.aws.upbound.io/BucketVersioning/assets-versioning: spec.forProvider.versioningConfiguration[0].status: must be one of \"Enabled\", \"Suspended\", \"Disabled\", found \"Enable\"; did you mean \"Enabled\"? (schema of the AWS provider)",
        ],
    );
    assert!(!dir.join(".strata/state.json").exists(), "no state written");
}

#[test]
fn annotations_of_the_wrong_type_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(
        root.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: default\n  annotations:\n    strata.dev/depends-on: 5\n    strata.dev/protect: \"yes\"\n",
    );
    refused(
        &dir,
        &[
            "ConfigMap/default/c: metadata.annotations.strata.dev/depends-on: must be a string (quote it), found 5",
            "ConfigMap/default/c: metadata.annotations.strata.dev/protect: must be \"true\" or \"false\", found \"yes\"",
        ],
    );
}

#[test]
fn validate_lists_every_problem_offline() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(
        root.path(),
        "apiVersion: s3.aws.upbound.io/v1beta1\nkind: BucketVersoning\nmetadata:\n  name: v\nspec:\n  forProvidr: {}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n  namespace: default\n",
    );
    let out = strata(&["validate", s(&dir), "-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["valid"], false);
    let fields: Vec<&str> = json["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["field"].as_str())
        .collect();
    assert_eq!(fields, ["kind", "spec.forProvidr", "spec.forProvider"]);
    assert_eq!(json["problems"].as_array().unwrap().len(), 4, "{json}");
    let human = strata(&["validate", s(&dir)]);
    assert!(
        String::from_utf8_lossy(&human.stdout).contains("3 resources checked: 4 problems."),
        "{}",
        text(&human)
    );

    let clean = stack(&root.path().join("clean"), "");
    let out = strata(&["validate", s(&clean)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 resource checked: no problem."));
}
