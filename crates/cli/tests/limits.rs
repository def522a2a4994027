//! Hostile user expressions end in one clear error (exit 1), never in a crash or in the
//! process exhausting memory: Go templates of ApplicationSets (`strata generate`) and jq
//! `ignoreDifferences` expressions of Applications (`strata plan`).

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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// An ApplicationSet with one list element whose Application name is `name_template`.
fn application_set(dir: &Path, name_template: &str) -> std::path::PathBuf {
    let file = dir.join("appset.yaml");
    let yaml = format!(
        "\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: hostile
  namespace: argocd
spec:
  goTemplate: true
  generators:
    - list:
        elements:
          - app: web
  template:
    metadata:
      name: '{name_template}'
    spec:
      project: default
      source:
        repoURL: https://example.com/platform.git
        targetRevision: main
        path: web
      destination:
        server: https://kubernetes.default.svc
        namespace: web
"
    );
    std::fs::write(&file, yaml).unwrap();
    file
}

#[test]
fn generate_stops_endless_template_recursion_at_gos_depth() {
    let dir = tempfile::tempdir().unwrap();
    let file = application_set(
        dir.path(),
        r#"{{define "x"}}{{template "x" .}}{{end}}{{template "x" .}}"#,
    );
    let out = strata(&["generate", file.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("exceeded maximum template depth (100000)"),
        "{err}"
    );
    assert!(err.contains("appset.yaml"), "names the file: {err}");
    assert!(!err.contains("overflow"), "{err}");
}

#[test]
fn generate_refuses_a_huge_string() {
    let dir = tempfile::tempdir().unwrap();
    let file = application_set(dir.path(), r#"{{ repeat 2000000000 "xxxxxxxxxx" | len }}"#);
    let out = strata(&["generate", file.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error calling repeat: result of 20000000000 bytes exceeds the limit of 16777216 bytes per value (max_value_bytes)"),
        "{err}"
    );
}

#[test]
fn generate_counts_with_sprig_until() {
    let dir = tempfile::tempdir().unwrap();
    let file = application_set(
        dir.path(),
        r#"web{{ range until 3 }}-{{ . }}{{ end }}{{ range untilStep 10 0 -4 }}-{{ . }}{{ end }}"#,
    );
    let out = strata(&["generate", file.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("name: web-0-1-2-10-6-2"), "{stdout}");
}

/// A stack of one Application with `expression` as its jq ignoreDifferences.
fn stack_ignoring(dir: &Path, expression: &str) -> std::path::PathBuf {
    let stack = dir.join("web-stack");
    std::fs::create_dir_all(stack.join("web")).unwrap();
    std::fs::write(
        stack.join("application.yaml"),
        format!(
            "\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web
  namespace: argocd
spec:
  project: default
  source:
    repoURL: https://example.com/platform.git
    targetRevision: main
    path: web
  destination:
    server: https://kubernetes.default.svc
    namespace: web
  ignoreDifferences:
    - kind: ConfigMap
      jqPathExpressions:
        - '{expression}'
"
        ),
    )
    .unwrap();
    std::fs::write(
        stack.join("web/settings.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-settings\ndata:\n  a: b\n",
    )
    .unwrap();
    stack
}

#[test]
fn plan_refuses_jq_that_recurses_forever() {
    for expression in [".spec | until(false; .)", "def f: f; f"] {
        let dir = tempfile::tempdir().unwrap();
        let stack = stack_ignoring(dir.path(), expression);
        let out = strata(&["plan", stack.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{expression}: {err}");
        assert!(
            err.contains(&format!("invalid jq path expression {expression:?}")),
            "{err}"
        );
        assert!(!err.contains("overflow"), "{err}");
    }
}

#[test]
fn plan_reports_bad_jq_on_one_line() {
    for (expression, why) in [
        (
            ".spec | length",
            "invalid path against: length computes a value, not a path",
        ),
        (
            ".data |",
            "syntax error: expected term at column 8, found end of expression",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let stack = stack_ignoring(dir.path(), expression);
        let out = strata(&["plan", stack.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{expression}: {err}");
        assert!(err.contains(why), "{err}");
        assert!(!err.contains("Token("), "no debug dump: {err}");
    }
}
