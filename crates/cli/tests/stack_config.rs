//! `strata.yaml`: the stack's configuration in the repository, overridden by flags and
//! `STRATA_*` variables; the backend record that keeps a forgotten remote backend from
//! starting a fresh state.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use strata_aws::testing::MotoServer;

fn strata_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
    command.args(args).env("NO_COLOR", "1").stdin(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn strata(args: &[&str]) -> Output {
    strata_with(args, &[])
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

/// A stack of two ConfigMaps and the given `strata.yaml` (none when `config` is `None`).
fn stack(root: &Path, dir_name: &str, config: Option<&str>) -> PathBuf {
    let stack = root.join(dir_name);
    std::fs::create_dir_all(&stack).unwrap();
    let manifests: String = ["alpha", "beta"]
        .iter()
        .map(|name| {
            format!(
                "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  key: value\n"
            )
        })
        .collect();
    std::fs::write(stack.join("config.yaml"), manifests).unwrap();
    if let Some(config) = config {
        std::fs::write(stack.join("strata.yaml"), config).unwrap();
    }
    stack
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn the_configuration_names_the_stack_its_state_and_its_sandbox() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(
        root.path(),
        "checkout-1234",
        Some(
            "apiVersion: strata.dev/v1alpha1\nkind: Stack\nname: payments\n\
             backend:\n  local:\n    path: ../states/payments.json\n\
             sandbox:\n  dir: ../world\nparallelism: 2\n",
        ),
    );
    let plan = strata(&["plan", s(&dir), "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan));
    let out = String::from_utf8_lossy(&plan.stdout);
    // The configuration is not a manifest: two resources, not three.
    assert!(
        out.contains("Plan: 2 to add, 0 to change, 0 to destroy."),
        "{out}"
    );

    let apply = strata(&["apply", s(&dir), "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let state_file = root.path().join("states/payments.json");
    let state = read_json(&state_file);
    assert_eq!(
        state["stack"], "payments",
        "the state is bound to the configured name"
    );
    assert_eq!(state["resources"].as_object().unwrap().len(), 2);
    assert!(
        !dir.join(".strata/state.json").exists(),
        "no state at the default path"
    );
    let live = read_json(&root.path().join("world/core/ConfigMap/default/alpha.json"));
    assert_eq!(live["metadata"]["labels"]["strata.dev/stack"], "payments");

    // `state list` reads the configured backend too.
    let list = strata(&["state", "list", s(&dir)]);
    assert_eq!(list.status.code(), Some(0), "{}", text(&list));
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("ConfigMap/default/alpha"),
        "{}",
        text(&list)
    );
    let again = strata(&["plan", s(&dir), "--detailed-exitcode"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
}

#[test]
fn flags_and_strata_variables_override_the_configuration() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(
        root.path(),
        "stack",
        Some("name: from-config\nbackend:\n  local:\n    path: configured.json\n"),
    );
    let flag_state = root.path().join("flag.json");
    let apply = strata(&[
        "apply",
        s(&dir),
        "--auto-approve",
        "--state",
        s(&flag_state),
        "--stack-name",
        "from-flag",
    ]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    assert_eq!(read_json(&flag_state)["stack"], "from-flag");
    assert!(!dir.join("configured.json").exists());

    let env_state = root.path().join("env.json");
    let apply = strata_with(
        &["apply", s(&dir)],
        &[
            ("STRATA_STATE", s(&env_state)),
            ("STRATA_STACK_NAME", "from-env"),
            ("STRATA_AUTO_APPROVE", "true"),
            ("STRATA_SANDBOX_DIR", s(&root.path().join("env-world"))),
        ],
    );
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    assert_eq!(read_json(&env_state)["stack"], "from-env");
    assert!(root.path().join("env-world/core/ConfigMap").is_dir());

    // The flag wins over the variable.
    let plan = strata_with(
        &[
            "plan",
            s(&dir),
            "--stack-name",
            "from-flag",
            "--state",
            s(&flag_state),
        ],
        &[
            ("STRATA_STACK_NAME", "from-env"),
            ("STRATA_DETAILED_EXITCODE", "true"),
        ],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
}

#[test]
fn a_bad_configuration_is_one_error_naming_file_and_field_and_nothing_is_applied() {
    let cases = [
        (
            "backend:\n  local:\n    paht: s.json\n",
            "backend.local.paht: unknown field `paht`",
        ),
        ("parallelism: -3\n", "parallelism:"),
        ("name: Payments Team\n", "name: `Payments Team` has ` `"),
        (
            "providers:\n  aws:\n    endpoint: 127.0.0.1:5000\n",
            "providers.aws.endpoint: `127.0.0.1:5000` is not an http:// or https:// URL",
        ),
        (
            "name: a\n---\nname: b\n",
            "a stack configuration is one YAML document; found 2",
        ),
        (
            "repositories:\n  - url: ftp://git.example.com/p.git\n    path: ../p\n",
            "repositories: repository URL \"ftp://git.example.com/p.git\": unsupported scheme",
        ),
        (
            "policies: [policies]\n",
            "policies: no such file or directory",
        ),
    ];
    for (config, expected) in cases {
        let root = tempfile::tempdir().unwrap();
        let dir = stack(root.path(), "stack", Some(config));
        let apply = strata(&["apply", s(&dir), "--auto-approve"]);
        assert_eq!(apply.status.code(), Some(1), "{config}: {}", text(&apply));
        let err = String::from_utf8_lossy(&apply.stderr);
        assert!(err.contains("strata.yaml"), "{config}: {err}");
        assert!(
            err.contains(expected),
            "{config}: expected {expected:?} in {err}"
        );
        assert!(!dir.join(".strata").exists(), "{config}: nothing applied");
    }
}

#[test]
fn an_explicit_configuration_file_must_exist() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(root.path(), "stack", None);
    let missing = root.path().join("nowhere.yaml");
    let plan = strata(&["plan", s(&dir), "--config", s(&missing)]);
    assert_eq!(plan.status.code(), Some(1), "{}", text(&plan));
    assert!(String::from_utf8_lossy(&plan.stderr).contains("nowhere.yaml"));

    let elsewhere = root.path().join("shared.yaml");
    std::fs::write(&elsewhere, "name: shared-name\n").unwrap();
    let apply = strata_with(
        &["apply", s(&dir), "--auto-approve"],
        &[("STRATA_CONFIG", s(&elsewhere))],
    );
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    assert_eq!(
        read_json(&dir.join(".strata/state.json"))["stack"],
        "shared-name"
    );
}

#[test]
fn a_directory_name_that_cannot_be_a_label_asks_for_a_name() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(root.path(), "my stack", None);
    let plan = strata(&["plan", s(&dir)]);
    assert_eq!(plan.status.code(), Some(1), "{}", text(&plan));
    let err = String::from_utf8_lossy(&plan.stderr);
    assert!(
        err.contains("the stack name from the directory name"),
        "{err}"
    );
    assert!(err.contains("--stack-name"), "{err}");
    let named = strata(&["plan", s(&dir), "--stack-name", "my-stack"]);
    assert_eq!(named.status.code(), Some(0), "{}", text(&named));
}

#[test]
fn the_configuration_can_disable_the_sandbox() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(root.path(), "stack", Some("sandbox:\n  enabled: false\n"));
    let plan = strata(&["plan", s(&dir)]);
    assert_eq!(plan.status.code(), Some(1), "{}", text(&plan));
    let out = String::from_utf8_lossy(&plan.stdout);
    assert!(
        out.contains("no provider serves v1 ConfigMap (ConfigMap/default/alpha)"),
        "{}",
        text(&plan)
    );
    assert!(!dir.join(".strata/sandbox").exists(), "nothing applied");
}

/// A stack of two Applications deploying to the clusters `a` and `b`.
fn two_destination_stack(root: &Path, config: &str) -> PathBuf {
    let dir = root.join("apps");
    for (app, cluster) in [("one", "a"), ("two", "b")] {
        std::fs::create_dir_all(dir.join(app)).unwrap();
        std::fs::write(
            dir.join(app).join("cm.yaml"),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {app}\ndata:\n  k: v\n"),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{app}-app.yaml")),
            format!(
                "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {app}\n  namespace: argocd\n\
                 spec:\n  project: default\n  source:\n    repoURL: https://git.example.com/apps.git\n    path: {app}\n\
                 \x20   targetRevision: main\n  destination:\n    name: {cluster}\n    namespace: {app}\n"
            ),
        )
        .unwrap();
    }
    std::fs::write(dir.join("strata.yaml"), config).unwrap();
    dir
}

#[test]
fn destinations_map_to_one_context_or_the_run_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = two_destination_stack(
        root.path(),
        "providers:\n  kubernetes:\n    destinations:\n      - name: a\n        context: ctx-a\n",
    );
    let plan = strata(&["plan", s(&dir)]);
    assert_eq!(plan.status.code(), Some(1), "{}", text(&plan));
    let err = String::from_utf8_lossy(&plan.stderr);
    assert!(
        err.contains("Application two deploys to cluster b, which no mapping names"),
        "{err}"
    );

    std::fs::write(
        dir.join("strata.yaml"),
        "providers:\n  kubernetes:\n    destinations:\n      - name: a\n        context: ctx-a\n      - name: b\n        context: ctx-b\n",
    )
    .unwrap();
    let plan = strata(&["plan", s(&dir)]);
    assert_eq!(plan.status.code(), Some(1), "{}", text(&plan));
    let err = String::from_utf8_lossy(&plan.stderr);
    assert!(
        err.contains("context ctx-a: one; context ctx-b: two"),
        "{err}"
    );
    assert!(
        err.contains("several clusters is not supported yet"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_or_vanished_remote_backend_never_starts_a_fresh_state() {
    let moto = MotoServer::shared().unwrap_or_else(|e| panic!("cannot start moto: {e}"));
    let clients = moto.settings().load().await;
    let s3 = clients.s3(None);
    s3.create_bucket()
        .bucket("strata-config-states")
        .send()
        .await
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let endpoint = moto.endpoint();
    let config = format!(
        "name: remote\nbackend:\n  s3:\n    bucket: strata-config-states\n    key: remote/state.json\n    region: us-east-1\n    endpoint: {endpoint}\n"
    );
    let dir = stack(root.path(), "remote", Some(&config));
    let env: Vec<(&str, String)> = moto.child_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let apply = strata_with(&["apply", s(&dir), "--auto-approve"], &env);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let stored = s3
        .get_object()
        .bucket("strata-config-states")
        .key("remote/state.json")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let stored: serde_json::Value = serde_json::from_slice(&stored).unwrap();
    assert_eq!(stored["resources"].as_object().unwrap().len(), 2);
    let record = read_json(&dir.join(".strata/backend.json"));
    assert_eq!(
        record["backend"],
        "s3://strata-config-states/remote/state.json"
    );
    assert_eq!(record["lineage"], stored["lineage"]);

    // The configuration is lost: the run refuses instead of planning from an empty local state.
    std::fs::remove_file(dir.join("strata.yaml")).unwrap();
    let plan = strata_with(&["plan", s(&dir)], &env);
    assert_eq!(plan.status.code(), Some(1), "{}", text(&plan));
    let err = String::from_utf8_lossy(&plan.stderr);
    assert!(
        err.contains("this stack's state is kept at s3://strata-config-states/remote/state.json"),
        "{err}"
    );
    assert!(
        !dir.join(".strata/state.json").exists(),
        "no fresh local state"
    );

    // The remote state vanishes: the run refuses instead of recreating everything.
    std::fs::write(dir.join("strata.yaml"), &config).unwrap();
    s3.delete_object()
        .bucket("strata-config-states")
        .key("remote/state.json")
        .send()
        .await
        .unwrap();
    let apply = strata_with(&["apply", s(&dir), "--auto-approve"], &env);
    assert_eq!(apply.status.code(), Some(1), "{}", text(&apply));
    let err = String::from_utf8_lossy(&apply.stderr);
    assert!(
        err.contains("no state found at s3://strata-config-states/remote/state.json"),
        "{err}"
    );
    assert!(err.contains(stored["lineage"].as_str().unwrap()), "{err}");
}
