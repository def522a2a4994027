//! `strata` with its state kept in a real cluster (`--state kubernetes://namespace/name`, or
//! `backend: {kubernetes: …}` in strata.yaml), against the kube-apiserver and etcd
//! `strata_testkube` starts: the stack itself goes to the sandbox, the state to a Secret.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use strata_core::state::StateStore;
use strata_k8s::state::KubeStateStore;

fn strata(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("KUBECONFIG", kubeconfig)
        .env_remove("STRATA_STATE")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A stack of two objects the sandbox takes (no Kubernetes provider is enabled).
fn small_stack(root: &Path) -> PathBuf {
    let stack = root.join("shop");
    std::fs::create_dir_all(&stack).unwrap();
    std::fs::write(
        stack.join("app.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop-settings\n  namespace: shop\n  \
         annotations:\n    strata.dev/depends-on: Namespace/shop\ndata:\n  MODE: live\n",
    )
    .unwrap();
    stack
}

/// The shared control plane's admin kubeconfig with no current context: only a named context
/// reaches it.
fn kubeconfig_without_current_context(dir: &Path) -> PathBuf {
    let plane = strata_testkube::shared();
    let original = std::fs::read_to_string(plane.kubeconfig_path()).unwrap();
    let stripped = original.replace("current-context: testkube\n", "");
    assert_ne!(original, stripped, "{original}");
    let path = dir.join("kubeconfig");
    std::fs::write(&path, stripped).unwrap();
    path
}

async fn admin_and_namespace(hint: &str) -> (kube::Client, String) {
    let plane = strata_testkube::shared();
    let client = plane.client().await.unwrap();
    let namespace = plane.namespace(&client, hint).await.unwrap();
    (client, namespace)
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_with_a_kubernetes_state_writes_the_secret_and_a_second_plan_sees_no_changes() {
    let (client, namespace) = admin_and_namespace("cli-kstate").await;
    let tmp = tempfile::tempdir().unwrap();
    let stack = small_stack(tmp.path());
    let kubeconfig = strata_testkube::shared().kubeconfig_path().to_owned();
    let url = format!("kubernetes://{namespace}/shop");
    let stack_arg = stack.to_str().unwrap();

    let apply = strata(
        &kubeconfig,
        &["apply", stack_arg, "--auto-approve", "--state", &url],
    );
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    assert!(
        String::from_utf8_lossy(&apply.stdout).contains("2 added"),
        "{}",
        text(&apply)
    );

    let secret = Api::<Secret>::namespaced(client.clone(), &namespace)
        .get("strata-state-shop")
        .await
        .unwrap();
    assert_eq!(secret.type_.as_deref(), Some("strata.dev/state"));
    let store = KubeStateStore::new(client.clone(), &namespace, "shop").unwrap();
    let state = store.load().await.unwrap().unwrap();
    assert_eq!(state.stack, "shop");
    let mut addresses: Vec<_> = state.resources.keys().cloned().collect();
    addresses.sort();
    assert_eq!(
        addresses,
        vec!["ConfigMap/shop/shop-settings", "Namespace/shop"]
    );
    assert!(!stack.join(".strata/state.json").exists(), "no local state");
    assert_eq!(
        Api::<Lease>::namespaced(client.clone(), &namespace)
            .get_opt("strata-lock-shop")
            .await
            .unwrap(),
        None,
        "the apply released its lock"
    );

    let plan = strata(
        &kubeconfig,
        &["plan", stack_arg, "--detailed-exitcode", "--state", &url],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    assert_eq!(
        store.load().await.unwrap().unwrap().serial,
        state.serial,
        "a plan writes nothing"
    );

    let list = strata(&kubeconfig, &["state", "list", stack_arg, "--state", &url]);
    assert_eq!(list.status.code(), Some(0), "{}", text(&list));
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("ConfigMap/shop/shop-settings"),
        "{}",
        text(&list)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kubernetes_backend_in_strata_yaml_uses_its_context() {
    let (client, namespace) = admin_and_namespace("cli-kstate-config").await;
    let tmp = tempfile::tempdir().unwrap();
    let stack = small_stack(tmp.path());
    let kubeconfig = kubeconfig_without_current_context(tmp.path());
    let stack_arg = stack.to_str().unwrap();

    // Without a context the kubeconfig reaches no cluster: the backend's own context must.
    std::fs::write(
        stack.join("strata.yaml"),
        format!("name: shop\nbackend:\n  kubernetes:\n    namespace: {namespace}\n    name: shop-config\n"),
    )
    .unwrap();
    let without_context = strata(&kubeconfig, &["apply", stack_arg, "--auto-approve"]);
    assert_eq!(
        without_context.status.code(),
        Some(1),
        "{}",
        text(&without_context)
    );
    assert!(
        String::from_utf8_lossy(&without_context.stderr)
            .contains(&format!("kubernetes://{namespace}/shop-config")),
        "{}",
        text(&without_context)
    );
    std::fs::write(
        stack.join("strata.yaml"),
        format!(
            "name: shop\nbackend:\n  kubernetes:\n    namespace: {namespace}\n    name: shop-config\n    context: testkube\n"
        ),
    )
    .unwrap();
    let apply = strata(&kubeconfig, &["apply", stack_arg, "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let store = KubeStateStore::new(client, &namespace, "shop-config").unwrap();
    assert_eq!(store.load().await.unwrap().unwrap().resources.len(), 2);

    let plan = strata(&kubeconfig, &["plan", stack_arg, "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
}

#[test]
fn a_kubernetes_state_url_with_an_invalid_name_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let stack = small_stack(tmp.path());
    let out = strata(
        &tmp.path().join("no-kubeconfig"),
        &[
            "plan",
            stack.to_str().unwrap(),
            "--state",
            "kubernetes://strata-system/Shop_State",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`Shop_State` cannot name a Kubernetes state"),
        "{stderr}"
    );
}

/// `--kubeconfig FILE --context NAME -n NS`: the Kubernetes provider and the Kubernetes state
/// backend reach the cluster through that file and context (the environment's `KUBECONFIG`
/// names no file, and the file has no current context), and a manifest naming no namespace
/// lands in NS. A context the file lacks is an error naming the context and the file.
#[tokio::test(flavor = "multi_thread")]
async fn kubeconfig_context_and_namespace_flags_choose_the_cluster_and_the_namespace() {
    let (client, namespace) = admin_and_namespace("cli-kubeconfig-flag").await;
    let tmp = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string(strata_testkube::shared().kubeconfig_path()).unwrap();
    let renamed = original
        .replace(
            "contexts:\n- name: testkube\n",
            "contexts:\n- name: flagged\n",
        )
        .replace("current-context: testkube\n", "");
    assert!(renamed.contains("- name: flagged\n"), "{original}");
    assert!(!renamed.contains("current-context"), "{original}");
    let kubeconfig = tmp.path().join("flagged-kubeconfig");
    std::fs::write(&kubeconfig, renamed).unwrap();
    let stack = tmp.path().join("flagged");
    std::fs::create_dir_all(&stack).unwrap();
    std::fs::write(
        stack.join("settings.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flagged-settings\ndata:\n  MODE: flag\n",
    )
    .unwrap();
    let absent = tmp.path().join("no-such-kubeconfig");
    let url = format!("kubernetes://{namespace}/flagged");
    let flags = |context: &'static str| {
        vec![
            "--kubeconfig".to_owned(),
            kubeconfig.display().to_string(),
            "--context".to_owned(),
            context.to_owned(),
            "-n".to_owned(),
            namespace.clone(),
            "--state".to_owned(),
            url.clone(),
        ]
    };
    let run = |head: &[&str], context: &'static str| {
        let flags = flags(context);
        let mut args: Vec<&str> = head.to_vec();
        args.extend(flags.iter().map(String::as_str));
        strata(&absent, &args)
    };
    let stack_arg = stack.to_str().unwrap();

    let apply = run(&["apply", stack_arg, "--auto-approve"], "flagged");
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let applied =
        Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), &namespace)
            .get("flagged-settings")
            .await
            .unwrap();
    assert_eq!(
        applied.data.unwrap().get("MODE").map(String::as_str),
        Some("flag")
    );
    let store = KubeStateStore::new(client.clone(), &namespace, "flagged").unwrap();
    assert_eq!(
        store
            .load()
            .await
            .unwrap()
            .unwrap()
            .resources
            .keys()
            .collect::<Vec<_>>(),
        vec!["ConfigMap/flagged-settings"]
    );

    let plan = run(&["plan", stack_arg, "--detailed-exitcode"], "flagged");
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let list = run(&["state", "list", stack_arg], "flagged");
    assert_eq!(list.status.code(), Some(0), "{}", text(&list));
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("ConfigMap/flagged-settings"),
        "{}",
        text(&list)
    );

    let wrong = run(&["plan", stack_arg], "absent-context");
    assert_eq!(wrong.status.code(), Some(1), "{}", text(&wrong));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("absent-context"), "{stderr}");
    assert!(
        stderr.contains(&kubeconfig.display().to_string()),
        "{stderr}"
    );
}
