//! Policy checks on plans with the shipped example policies (`examples/policies`): denials
//! refuse the apply, warnings are shown, every output form lists them.

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

fn code(o: &Output, expected: i32) -> String {
    assert_eq!(o.status.code(), Some(expected), "{}", text(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn policies() -> PathBuf {
    repo().join("examples/policies")
}

/// `examples/aws` in a temporary directory, with `edit` applied to each file's text.
fn aws_stack(root: &Path, edit: impl Fn(&str) -> String) -> PathBuf {
    let dir = root.join("aws");
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["database.yaml", "storage.yaml", "strata.yaml"] {
        let body = std::fs::read_to_string(repo().join("examples/aws").join(name)).unwrap();
        std::fs::write(dir.join(name), edit(&body)).unwrap();
    }
    dir
}

#[test]
fn the_aws_example_passes_the_example_policies() {
    let root = tempfile::tempdir().unwrap();
    let dir = aws_stack(root.path(), str::to_owned);
    let out = code(&strata(&["plan", s(&dir), "--policy", s(&policies())]), 0);
    assert!(
        out.contains("Policy checks: 0 denied, 0 warnings."),
        "{out}"
    );
}

#[test]
fn unencrypted_rds_storage_is_denied_and_nothing_is_applied() {
    let root = tempfile::tempdir().unwrap();
    let dir = aws_stack(root.path(), |t| {
        t.replace("storageEncrypted: true", "storageEncrypted: false")
    });
    let plan = strata(&["plan", s(&dir), "--policy", s(&policies())]);
    let out = code(&plan, 1);
    assert!(
        out.contains("Policy checks: 1 denied, 0 warnings."),
        "{out}"
    );
    assert!(
        out.contains("✗ deny (data.strata.aws.rds.deny): rds.aws.upbound.io/Instance/strata-example-db: storageEncrypted must be true (RDS storage encrypted)"),
        "{out}"
    );
    let saved = root.path().join("p.plan");
    code(
        &strata(&[
            "plan",
            s(&dir),
            "--policy",
            s(&policies()),
            "--out",
            s(&saved),
        ]),
        1,
    );
    assert!(!saved.exists(), "a denied plan is not saved");
    let apply = strata(&[
        "apply",
        s(&dir),
        "--auto-approve",
        "--policy",
        s(&policies()),
    ]);
    code(&apply, 1);
    assert!(String::from_utf8_lossy(&apply.stderr).contains("nothing was applied"));
    assert!(
        !dir.join(".strata/sandbox/rds.aws.upbound.io").exists(),
        "nothing applied"
    );

    let json = code(
        &strata(&["plan", s(&dir), "--policy", s(&policies()), "-o", "json"]),
        1,
    );
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["applyable"], false);
    assert_eq!(
        json["policy"]["denials"][0]["package"],
        "data.strata.aws.rds"
    );
    let markdown = code(
        &strata(&[
            "plan",
            s(&dir),
            "--policy",
            s(&policies()),
            "-o",
            "markdown",
        ]),
        1,
    );
    assert!(
        markdown.contains("#### Policy checks: 1 denied, 0 warnings"),
        "{markdown}"
    );
    assert!(
        markdown.contains(":x: **deny** `data.strata.aws.rds.deny`"),
        "{markdown}"
    );
}

#[test]
fn production_needs_deletion_protection_and_public_instances_warn() {
    let root = tempfile::tempdir().unwrap();
    let dir = aws_stack(root.path(), |t| {
        t.replace(
            "  name: strata-example-db\n",
            "  name: strata-example-db\n  labels:\n    environment: production\n",
        )
        .replace("publiclyAccessible: false", "publiclyAccessible: true")
    });
    let out = code(&strata(&["plan", s(&dir), "--policy", s(&policies())]), 1);
    assert!(
        out.contains("Policy checks: 1 denied, 1 warnings."),
        "{out}"
    );
    assert!(
        out.contains("strata-example-db: deletionProtection must be true in production"),
        "{out}"
    );
    assert!(out.contains("! warn (data.strata.aws.rds.warn): rds.aws.upbound.io/Instance/strata-example-db: the instance is publicly accessible"), "{out}");

    // Protected, it passes with only the warning.
    std::fs::write(
        dir.join("database.yaml"),
        std::fs::read_to_string(dir.join("database.yaml"))
            .unwrap()
            .replace("deletionProtection: false", "deletionProtection: true"),
    )
    .unwrap();
    let out = code(&strata(&["plan", s(&dir), "--policy", s(&policies())]), 0);
    assert!(
        out.contains("Policy checks: 0 denied, 1 warnings."),
        "{out}"
    );
}

#[test]
fn a_bucket_without_a_public_access_block_or_with_a_public_acl_is_denied() {
    let root = tempfile::tempdir().unwrap();
    let dir = aws_stack(root.path(), |t| {
        t.replace(
            "restrictPublicBuckets: true",
            "restrictPublicBuckets: false",
        )
    });
    std::fs::write(
        dir.join("acl.yaml"),
        "apiVersion: s3.aws.upbound.io/v1beta1\nkind: BucketACL\nmetadata:\n  name: assets-acl\nspec:\n  forProvider:\n    region: us-east-1\n    bucketRef:\n      name: strata-example-assets\n    acl: public-read\n---\napiVersion: s3.aws.upbound.io/v1beta1\nkind: Bucket\nmetadata:\n  name: strata-example-unblocked\nspec:\n  forProvider:\n    region: us-east-1\n",
    )
    .unwrap();
    // The AWS provider does not serve BucketACL: the sandbox takes it only when allowed.
    std::fs::write(
        dir.join("strata.yaml"),
        "sandbox:\n  allowKinds: [s3.aws.upbound.io/BucketACL, ec2.aws.upbound.io/SecurityGroup]\n",
    )
    .unwrap();
    let out = code(&strata(&["plan", s(&dir), "--policy", s(&policies())]), 1);
    assert!(
        out.contains("Policy checks: 3 denied, 0 warnings."),
        "{out}"
    );
    assert!(out.contains("BucketPublicAccessBlock/strata-example-assets-public-access: restrictPublicBuckets must be true"), "{out}");
    assert!(
        out.contains("BucketACL/assets-acl: the ACL public-read makes the bucket public"),
        "{out}"
    );
    assert!(
        out.contains(
            "Bucket/strata-example-unblocked: no BucketPublicAccessBlock blocks public access"
        ),
        "{out}"
    );
}

#[test]
fn the_configuration_names_policies_and_a_bad_policy_is_one_error() {
    let root = tempfile::tempdir().unwrap();
    let dir = aws_stack(root.path(), |t| {
        t.replace("storageEncrypted: true", "storageEncrypted: false")
    });
    let local = dir.join("policies");
    std::fs::create_dir(&local).unwrap();
    std::fs::copy(
        policies().join("rds_encryption_and_protection.rego"),
        local.join("rds.rego"),
    )
    .unwrap();
    std::fs::write(
        dir.join("strata.yaml"),
        "policies: [policies]\nsandbox:\n  allowKinds: [ec2.aws.upbound.io/SecurityGroup]\n",
    )
    .unwrap();
    let out = code(&strata(&["plan", s(&dir)]), 1);
    assert!(out.contains("storageEncrypted must be true"), "{out}");

    std::fs::write(
        local.join("broken.rego"),
        "package broken\n\ndeny contains msg if {\n",
    )
    .unwrap();
    let broken = strata(&["apply", s(&dir), "--auto-approve"]);
    code(&broken, 1);
    let err = String::from_utf8_lossy(&broken.stderr);
    assert!(err.contains("broken.rego: invalid Rego policy"), "{err}");
    assert!(
        !dir.join(".strata/sandbox/rds.aws.upbound.io").exists(),
        "nothing applied"
    );
}
