//! The seed platform end to end: Applications, ApplicationSets, Kustomize overlays and claims
//! expanded into one desired set, planned, applied to the sandbox, and rendered for a PR.

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

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A copy of examples/platform named `platform` (the stack name shows in the output).
fn platform() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("platform");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/platform"),
        &stack,
    );
    (dir, stack)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn platform_plan_as_a_pull_request_comment() {
    let (_tmp, stack) = platform();
    let out = strata(&["plan", s(&stack), "-o", "markdown", "--detailed-exitcode"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let markdown = String::from_utf8(out.stdout).unwrap();
    for app in [
        "payment-service-dev",
        "payment-service-staging",
        "payment-service-prod",
    ] {
        assert!(
            markdown.contains(&format!("| `Application {app}` |")),
            "{app} missing:\n{markdown}"
        );
    }
    insta::assert_snapshot!(markdown);
}

#[test]
fn platform_applies_to_the_sandbox_and_settles() {
    let (_tmp, stack) = platform();
    let apply = strata(&["apply", s(&stack), "--auto-approve"]);
    assert_eq!(
        apply.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&apply.stderr)
    );
    let again = strata(&["plan", s(&stack), "--detailed-exitcode"]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}

#[test]
fn generated_applications_snapshot() {
    let (_tmp, stack) = platform();
    let file = stack.join("argocd/applicationsets/apps.yaml");
    let out = strata(&["generate", s(&file), "--root", s(&stack)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    insta::assert_snapshot!(String::from_utf8(out.stdout).unwrap());
}

fn strata_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("STRATA_ROOT")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// An overlay directory is a stack inside its repository: `../../base` resolves in the Git
/// work tree around it, or under `--root`; without either, the error names the
/// kustomization, its field and the path.
#[test]
fn an_overlay_directory_plans_inside_its_repository() {
    let (_tmp, stack) = platform();
    let overlay = "services/payment-service/overlays/staging";
    let expect_plan = |out: &Output| {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("Plan: 3 to add, 0 to change, 0 to destroy."),
            "{stdout}"
        );
        assert!(
            stdout.contains("payment-service-config-26fkbm9tg6"),
            "the base's generated ConfigMap is referenced: {stdout}"
        );
    };

    let refused = strata_in(&stack, &["plan", overlay]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("overlays/staging/kustomization.yaml: resources: ")
            && stderr.contains("../../base: path leaves the source tree"),
        "{stderr}"
    );

    expect_plan(&strata_in(&stack, &["plan", overlay, "--root", "."]));

    let git = Command::new("git")
        .args(["init", "-q"])
        .current_dir(&stack)
        .status()
        .unwrap();
    assert!(git.success());
    expect_plan(&strata_in(&stack, &["plan", overlay]));
}

/// `strata render` on the platform reads kustomization files as kustomizations, not
/// manifests, and renders the claims.
#[test]
fn render_on_the_platform_skips_kustomizations() {
    let (_tmp, stack) = platform();
    let out = strata(&["render", s(&stack)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("PostgreSQLInstance/payment-service-dev/payment-db-dev rendered by composition postgresql-aws"),
        "{stdout}"
    );
}
