//! An Application with a Helm source (a chart in the stack's repository, values per
//! environment) plans, applies to the sandbox and to a real kube-apiserver (the shared control
//! plane of `strata_testkube`), and the next plan is empty.

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

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn application(env: &str, replicas: u32) -> String {
    format!(
        "\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: shop-{env}
  namespace: argocd
spec:
  project: default
  source:
    repoURL: https://example.com/platform.git
    targetRevision: main
    path: charts/shop
    helm:
      releaseName: shop
      valueFiles:
        - values-{env}.yaml
      parameters:
        - name: replicas
          value: \"{replicas}\"
      valuesObject:
        env: {env}
  destination:
    server: https://kubernetes.default.svc
    namespace: shop-{env}
  syncPolicy:
    syncOptions: [CreateNamespace=true]
"
    )
}

const CHART: &[(&str, &str)] = &[
    (
        "Chart.yaml",
        "apiVersion: v2\nname: shop\nversion: 0.2.0\nappVersion: \"1.4\"\n",
    ),
    (
        "values.yaml",
        "replicas: 1\nenv: dev\nimage: shop/web\ngreeting: hello\n",
    ),
    ("values-staging.yaml", "greeting: hello staging\n"),
    (
        "values-prod.yaml",
        "greeting: hello prod\nimage: mirror/shop-web\n",
    ),
    (
        "templates/_helpers.tpl",
        "{{- define \"shop.labels\" -}}\napp: {{ .Chart.Name }}\nenv: {{ .Values.env }}\n{{- end -}}\n",
    ),
    (
        "templates/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n  labels:\n    {{- include \"shop.labels\" . | nindent 4 }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n",
    ),
    (
        "templates/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-web\n  labels:\n    {{- include \"shop.labels\" . | nindent 4 }}\nspec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels: {app: shop}\n  template:\n    metadata:\n      labels: {app: shop}\n    spec:\n      containers:\n        - name: web\n          image: \"{{ .Values.image }}:{{ .Chart.AppVersion }}\"\n",
    ),
    ("templates/NOTES.txt", "Installed {{ .Release.Name }}.\n"),
];

fn stack() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("shop-platform");
    let chart = stack.join("charts/shop");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    for (path, content) in CHART {
        std::fs::write(chart.join(path), content).unwrap();
    }
    std::fs::create_dir_all(stack.join("apps")).unwrap();
    std::fs::write(stack.join("apps/staging.yaml"), application("staging", 2)).unwrap();
    std::fs::write(stack.join("apps/prod.yaml"), application("prod", 5)).unwrap();
    (dir, stack)
}

fn live(stack: &Path, path: &str) -> serde_json::Value {
    let file = stack.join(".strata/sandbox").join(path);
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
}

#[test]
fn a_helm_application_applies_and_the_next_plan_is_empty() {
    let (_tmp, stack) = stack();
    let stack_dir = stack.to_str().unwrap();
    let plan = strata(&["plan", stack_dir, "--detailed-exitcode"]);
    assert_eq!(
        plan.status.code(),
        Some(2),
        "changes to make: {:?}",
        text(&plan)
    );
    let apply = strata(&["apply", stack_dir, "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{:?}", text(&apply));

    let prod = live(&stack, "apps/Deployment/shop-prod/shop-web.json");
    assert_eq!(prod["spec"]["replicas"], 5);
    assert_eq!(
        prod["spec"]["template"]["spec"]["containers"][0]["image"],
        "mirror/shop-web:1.4"
    );
    assert_eq!(prod["metadata"]["labels"]["env"], "prod");
    let staging = live(&stack, "core/ConfigMap/shop-staging/shop-settings.json");
    assert_eq!(staging["data"]["greeting"], "hello staging");

    let again = strata(&["plan", stack_dir, "--detailed-exitcode"]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "nothing left to do: {:?}",
        text(&again)
    );
}

/// The shared control plane's admin kubeconfig, its context renamed to `helm-e2e`.
fn write_kubeconfig(dir: &Path) -> std::path::PathBuf {
    let plane = strata_testkube::shared();
    let text = std::fs::read_to_string(plane.kubeconfig_path()).unwrap();
    let renamed = text
        .replace(
            "contexts:\n- name: testkube\n",
            "contexts:\n- name: helm-e2e\n",
        )
        .replace("current-context: testkube\n", "");
    assert!(renamed.contains("- name: helm-e2e\n"), "{text}");
    let path = dir.join("kubeconfig");
    std::fs::write(&path, renamed).unwrap();
    path
}

fn strata_kube(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .args(["--kube", "--context", "helm-e2e"])
        .env("NO_COLOR", "1")
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[tokio::test]
async fn a_helm_application_applies_to_a_real_api_server_and_the_next_plan_is_empty() {
    use kube::api::{Api, DynamicObject, GroupVersionKind};
    let (tmp, stack) = stack();
    // Namespaces of their own on the shared server.
    for env in ["staging", "prod"] {
        let file = stack.join(format!("apps/{env}.yaml"));
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(
            &file,
            text.replace(
                &format!("namespace: shop-{env}"),
                &format!("namespace: helm-e2e-{env}"),
            ),
        )
        .unwrap();
    }
    let kubeconfig = write_kubeconfig(tmp.path());
    let dir = stack.to_str().unwrap();
    let plan = strata_kube(&kubeconfig, &["plan", dir, "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(2), "{:?}", text(&plan));
    let apply = strata_kube(&kubeconfig, &["apply", dir, "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{:?}", text(&apply));

    let client = strata_testkube::shared().client().await.unwrap();
    let gvk = |g: &str, k: &str| GroupVersionKind::gvk(g, "v1", k);
    let deployments: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "helm-e2e-prod",
        &kube::api::ApiResource::from_gvk(&gvk("apps", "Deployment")),
    );
    let prod = deployments.get("shop-web").await.unwrap();
    assert_eq!(prod.data["spec"]["replicas"], 5);
    assert_eq!(
        prod.data["spec"]["template"]["spec"]["containers"][0]["image"],
        "mirror/shop-web:1.4"
    );
    let config_maps: Api<DynamicObject> = Api::namespaced_with(
        client,
        "helm-e2e-staging",
        &kube::api::ApiResource::from_gvk(&gvk("", "ConfigMap")),
    );
    let staging = config_maps.get("shop-settings").await.unwrap();
    assert_eq!(staging.data["data"]["greeting"], "hello staging");

    let again = strata_kube(&kubeconfig, &["plan", dir, "--detailed-exitcode"]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "nothing left to do: {:?}",
        text(&again)
    );
}

/// Helm's test hooks (`helm.sh/hook: test`, `test-success`): `helm template` prints them, but
/// ArgoCD never runs them when it syncs (no sync phase), so they are not the Application's
/// resources: `strata plan` and `strata graph` leave them out, while a `pre-install` hook (a
/// `PreSync` hook in ArgoCD) and the chart's resources stay.
#[test]
fn helm_test_hooks_are_not_planned() {
    let (_tmp, stack) = stack();
    let templates = stack.join("charts/shop/templates");
    let pod = |name: &str, hook: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{{{ .Release.Name }}}}-{name}\n  annotations:\n    helm.sh/hook: {hook}\nspec:\n  containers:\n    - name: check\n      image: busybox\n  restartPolicy: Never\n"
        )
    };
    std::fs::write(
        templates.join("tests.yaml"),
        format!(
            "{}---\n{}",
            pod("test-connection", "test"),
            pod("test-legacy", "test-success")
        ),
    )
    .unwrap();
    std::fs::write(
        templates.join("migrate.yaml"),
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ .Release.Name }}-migrate\n  annotations:\n    helm.sh/hook: pre-install\nspec:\n  template:\n    spec:\n      containers:\n        - name: migrate\n          image: busybox\n      restartPolicy: Never\n",
    )
    .unwrap();
    let dir = stack.to_str().unwrap();
    let plan = strata(&["plan", dir]);
    let (out, err) = text(&plan);
    assert_eq!(plan.status.code(), Some(0), "{out}\n{err}");
    assert!(
        !out.contains("test-connection") && !out.contains("test-legacy"),
        "{out}"
    );
    assert!(out.contains("Job/shop-prod/shop-migrate"), "{out}");
    assert!(out.contains("ConfigMap/shop-prod/shop-settings"), "{out}");
    let graph = strata(&["graph", dir]);
    let (out, err) = text(&graph);
    assert_eq!(graph.status.code(), Some(0), "{out}\n{err}");
    assert!(
        !out.contains("test-connection") && !out.contains("test-legacy"),
        "{out}"
    );
    assert!(out.contains("shop-migrate"), "{out}");
}
