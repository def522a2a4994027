//! The GitOps controller with Applications whose source is a chart of a Helm repository or an
//! OCI registry, against the real kube-apiserver: charts packaged and indexed by the real
//! `helm` (pinned, `strata_testkube::helm`) and served by a loopback HTTP server the test
//! starts, or pushed by `helm push` to the real distribution registry
//! (`strata_testkube::registry`). The objects reach the cluster with the values of `helm:`, the
//! status reports the chart version as the revision and `Helm` as the source type, a range
//! takes a new matching version on a hard refresh (not on a normal one), a private repository
//! is read once its repository Secret appears, and `$ref` value files of a multi-source
//! Application come from Git.

#![allow(clippy::unwrap_used)]

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use strata_testkube::chart_server::{FileServer, FileServerOptions};
use support::*;

fn helm() -> PathBuf {
    strata_testkube::helm::ensure(&strata_testkube::target_dir()).expect("helm")
}

/// `helm` with its homes under `base` (nothing read from or written to the user's).
fn helm_command(helm: &Path, base: &Path) -> Command {
    let mut command = Command::new(helm);
    command
        .env("HELM_CACHE_HOME", base.join("helm/cache"))
        .env("HELM_CONFIG_HOME", base.join("helm/config"))
        .env("HELM_DATA_HOME", base.join("helm/data"));
    command
}

fn run(command: &mut Command) {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Packages the chart `web` at `version` into `repo` (a ConfigMap `web` whose data holds
/// `.Values.v` and the chart version) and indexes `repo`; the archive's path.
fn package(helm: &Path, base: &Path, repo: &Path, version: &str) -> PathBuf {
    let src = base.join(format!("src-{version}/web"));
    std::fs::create_dir_all(src.join("templates")).unwrap();
    std::fs::write(
        src.join("Chart.yaml"),
        format!("apiVersion: v2\nname: web\nversion: {version}\n"),
    )
    .unwrap();
    std::fs::write(src.join("values.yaml"), "v: chart-default\n").unwrap();
    std::fs::write(
        src.join("templates/settings.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  v: {{ .Values.v | quote }}\n  chart: {{ .Chart.Version | quote }}\n  release: {{ .Release.Name | quote }}\n",
    )
    .unwrap();
    std::fs::create_dir_all(repo).unwrap();
    run(helm_command(helm, base)
        .arg("package")
        .arg(&src)
        .arg("-d")
        .arg(repo));
    run(helm_command(helm, base).arg("repo").arg("index").arg(repo));
    repo.join(format!("web-{version}.tgz"))
}

/// The shared loopback file server (`strata_testkube::chart_server`) over a directory,
/// asking for basic credentials when given.
struct ChartServer {
    url: String,
    files: FileServer,
}

impl ChartServer {
    fn start(dir: PathBuf, basic: Option<(&str, &str)>) -> Self {
        Self::start_with(dir, basic, None)
    }

    /// Serves over HTTPS with `tls` when given.
    fn start_with(
        dir: PathBuf,
        basic: Option<(&str, &str)>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Self {
        let mut options = FileServerOptions::new();
        if let Some((user, password)) = basic {
            options = options.with_basic(user, password);
        }
        if let Some(tls) = tls {
            options = options.with_tls(tls);
        }
        let files = FileServer::start_with(dir, options).unwrap();
        Self {
            url: files.url().to_owned(),
            files,
        }
    }

    /// How many times `path` was asked for.
    fn asked(&self, path: &str) -> usize {
        self.files.asked(path)
    }
}

/// A TLS server configuration: the PKI's serving certificate, and client certificates signed
/// by its CA required.
fn tls_requiring_client_certificates(pki: &strata_testkube::Pki) -> Arc<rustls::ServerConfig> {
    strata_testkube::chart_server::tls_server_config(pki, true).unwrap()
}

fn chart_application(name: &str, source: Value, namespace: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {
            "project": "default",
            "source": source,
            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}
        }
    })
}

/// The data of the ConfigMap `web` in `namespace`, when it exists.
async fn web_data(client: &kube::Client, namespace: &str) -> Option<BTreeMap<String, String>> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    api.get_opt("web").await.unwrap().and_then(|cm| cm.data)
}

/// Waits until the ConfigMap `web` is the chart `version` with `v` as its value.
async fn wait_for_web(client: &kube::Client, namespace: &str, version: &str, v: &str) {
    eventually(&format!("web {version} with v={v}"), || async {
        let data = web_data(client, namespace).await?;
        (data.get("chart").map(String::as_str) == Some(version)
            && data.get("v").map(String::as_str) == Some(v))
        .then_some(())
    })
    .await;
}

/// Waits until the Application is Synced at `revision`; its status.
async fn wait_synced(client: &kube::Client, control: &str, name: &str, revision: &str) -> Value {
    eventually(&format!("{name} Synced at {revision}"), || async {
        let status = app_status(client, control, name).await;
        (status["sync"]["status"] == "Synced" && status["sync"]["revision"] == revision)
            .then_some(status)
    })
    .await
}

async fn create_secret(client: &kube::Client, namespace: &str, secret: Value) {
    let secret: Secret = serde_json::from_value(secret).unwrap();
    Api::<Secret>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chart_of_a_helm_repository_syncs_and_a_range_takes_a_new_version_on_a_hard_refresh() {
    let helm = helm();
    let (client, control, target) = namespaces("chart-range").await;
    let base = tempfile::tempdir().unwrap();
    let repo = base.path().join("repo");
    package(&helm, base.path(), &repo, "1.2.0");
    let server = ChartServer::start(repo.clone(), None);
    let cache = tempfile::tempdir().unwrap();
    let running = start(&client, config(&control, &cache), cache);
    create_application(
        &client,
        &control,
        &chart_application(
            "web-range",
            json!({"repoURL": server.url, "chart": "web", "targetRevision": "1.2.*",
                   "helm": {"values": "v: from-values\n"}}),
            &target,
        ),
    )
    .await;

    wait_for_web(&client, &target, "1.2.0", "from-values").await;
    let status = wait_synced(&client, &control, "web-range", "1.2.0").await;
    assert_eq!(status["sourceType"], "Helm");
    assert!(status.get("sourceTypes").is_none(), "{status}");
    assert_eq!(status["health"]["status"], "Healthy");
    let history = status["history"].as_array().unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["revision"], "1.2.0");
    assert_eq!(history[0]["source"]["chart"], "web");
    assert_eq!(
        web_data(&client, &target).await.unwrap()["release"],
        "web-range",
        "the release is the Application's name"
    );

    // A new version in the range, and one outside it.
    package(&helm, base.path(), &repo, "1.2.5");
    package(&helm, base.path(), &repo, "1.3.0");
    let index_reads = server.asked("/index.yaml");
    // A normal refresh compares with the version already picked: the index is not read.
    running.controller.refresh(Some("web-range"), false);
    running.controller.wait_idle().await;
    assert_eq!(server.asked("/index.yaml"), index_reads);
    assert_eq!(
        app_status(&client, &control, "web-range").await["sync"]["revision"],
        "1.2.0"
    );

    // A hard refresh (the annotation ArgoCD's UI and CLI set) reads the index again.
    applications(&client, &control)
        .patch(
            "web-range",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "hard"}}}),
            ),
        )
        .await
        .unwrap();
    wait_for_web(&client, &target, "1.2.5", "from-values").await;
    let status = wait_synced(&client, &control, "web-range", "1.2.5").await;
    assert!(server.asked("/index.yaml") > index_reads);
    assert_eq!(status["history"].as_array().unwrap().len(), 2);
    // Each archive was downloaded once (then read from the cache by digest).
    assert_eq!(server.asked("/web-1.2.0.tgz"), 1);
    assert_eq!(server.asked("/web-1.2.5.tgz"), 1);
    assert_eq!(server.asked("/web-1.3.0.tgz"), 0);
    assert!(
        running.cache.path().join("repos/helm-charts/pins").is_dir(),
        "the chart cache is under the controller's cache directory"
    );

    // An exact version is served from the pinned cache: a poll reads no index.
    let exact = chart_application(
        "web-exact",
        json!({"repoURL": server.url, "chart": "web", "targetRevision": "1.2.0"}),
        &target,
    );
    let exact_target = plane().namespace(&client, "chart-exact").await.unwrap();
    let mut exact = exact;
    exact["spec"]["destination"]["namespace"] = Value::from(exact_target.clone());
    let index_reads = server.asked("/index.yaml");
    create_application(&client, &control, &exact).await;
    wait_for_web(&client, &exact_target, "1.2.0", "chart-default").await;
    wait_synced(&client, &control, "web-exact", "1.2.0").await;
    running.controller.refresh(Some("web-exact"), true);
    running.controller.wait_idle().await;
    assert_eq!(server.asked("/index.yaml"), index_reads);
    assert_eq!(server.asked("/web-1.2.0.tgz"), 1);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_private_helm_repository_is_read_once_its_repository_secret_appears() {
    let helm = helm();
    let (client, control, target) = namespaces("chart-private").await;
    let base = tempfile::tempdir().unwrap();
    let repo = base.path().join("repo");
    package(&helm, base.path(), &repo, "0.4.0");
    let server = ChartServer::start(repo, Some(("robot", "s3cret-pass")));
    let cache = tempfile::tempdir().unwrap();
    let running = start(&client, config(&control, &cache), cache);
    create_application(
        &client,
        &control,
        &chart_application(
            "web-private",
            json!({"repoURL": format!("{}/", server.url), "chart": "web", "targetRevision": "0.4.0"}),
            &target,
        ),
    )
    .await;

    let status = eventually("the download refused", || async {
        let status = app_status(&client, &control, "web-private").await;
        (status["conditions"][0]["type"] == "ComparisonError").then_some(status)
    })
    .await;
    let message = status["conditions"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("spec.source: chart web") && message.contains("401"),
        "{message}"
    );
    assert!(web_data(&client, &target).await.is_none());

    create_secret(
        &client,
        &control,
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "charts", "labels": {"argocd.argoproj.io/secret-type": "repository"}},
            "stringData": {"url": server.url, "type": "helm", "name": "charts",
                           "username": "robot", "password": "s3cret-pass"}
        }),
    )
    .await;
    // The controller reads repository Secrets at start and at every poll: poll now.
    running.controller.reload_repository_credentials().await;
    running.controller.refresh(Some("web-private"), true);
    wait_for_web(&client, &target, "0.4.0", "chart-default").await;
    let status = wait_synced(&client, &control, "web-private", "0.4.0").await;
    assert!(status.get("conditions").is_none(), "{status}");
    assert!(!status.to_string().contains("s3cret-pass"));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chart_of_an_oci_registry_renders_and_a_multi_source_chart_takes_values_from_git() {
    let helm = helm();
    let (client, control, target) = namespaces("chart-oci").await;
    let base = tempfile::tempdir().unwrap();
    let archive = package(&helm, base.path(), &base.path().join("repo"), "2.1.0");
    let program = strata_testkube::registry::ensure(&strata_testkube::target_dir())
        .expect("the distribution registry");
    let registry = strata_testkube::registry::Registry::start(
        &program,
        &strata_testkube::registry::RegistryOptions::default(),
    )
    .unwrap();
    let host = registry.host();
    run(helm_command(&helm, base.path())
        .arg("push")
        .arg(&archive)
        .arg(format!("oci://{host}/charts"))
        .arg("--plain-http"));
    // ArgoCD's form of an OCI Helm repository: no scheme, `enableOCI`, plain HTTP asked for.
    create_secret(
        &client,
        &control,
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "registry", "labels": {"argocd.argoproj.io/secret-type": "repository"}},
            "stringData": {"url": format!("{host}/charts"), "type": "helm", "enableOCI": "true",
                           "insecureOCIForceHttp": "true"}
        }),
    )
    .await;
    let values = Repo::new(&[("envs/prod.yaml", "v: from-git\n")]);
    let cache = tempfile::tempdir().unwrap();
    let running = start(&client, config(&control, &cache), cache);
    create_application(
        &client,
        &control,
        &chart_application(
            "web-oci",
            json!({"repoURL": format!("{host}/charts"), "chart": "web", "targetRevision": "2.1.0",
                   "helm": {"valuesObject": {"v": "from-object"}}}),
            &target,
        ),
    )
    .await;
    wait_for_web(&client, &target, "2.1.0", "from-object").await;
    let status = wait_synced(&client, &control, "web-oci", "2.1.0").await;
    assert_eq!(status["sourceType"], "Helm");

    // A multi-source Application: the chart from the registry (an `oci://` repoURL, which
    // ArgoCD 3 reads as the chart's OCI artifact itself, `path: .`), its values from Git.
    let multi_target = plane().namespace(&client, "chart-multi").await.unwrap();
    let mut multi = chart_application("web-multi", Value::Null, &multi_target);
    let spec = multi["spec"].as_object_mut().unwrap();
    spec.remove("source");
    spec.insert(
        "sources".into(),
        json!([
            {"repoURL": values.url, "targetRevision": "main", "ref": "values"},
            {"repoURL": format!("oci://{host}/charts/web"), "path": ".", "targetRevision": ">=2.0.0",
             "helm": {"valueFiles": ["$values/envs/prod.yaml"]}}
        ]),
    );
    // The artifact's own repository Secret (ArgoCD matches a repository Secret's URL exactly;
    // the one of `host/charts` above is another repository): `type: oci`, plain HTTP.
    create_secret(
        &client,
        &control,
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "registry-web", "labels": {"argocd.argoproj.io/secret-type": "repository"}},
            "stringData": {"url": format!("oci://{host}/charts/web"), "type": "oci",
                           "insecureOCIForceHttp": "true"}
        }),
    )
    .await;
    running.controller.reload_repository_credentials().await;
    create_application(&client, &control, &multi).await;
    wait_for_web(&client, &multi_target, "2.1.0", "from-git").await;
    let commit = git(&values.dir, &["rev-parse", "HEAD"]);
    let status = eventually("web-multi Synced", || async {
        let status = app_status(&client, &control, "web-multi").await;
        (status["sync"]["status"] == "Synced").then_some(status)
    })
    .await;
    assert_eq!(status["sync"]["revisions"], json!([commit, "2.1.0"]));
    assert_eq!(status["sourceTypes"], json!(["", "Helm"]));
    assert!(status.get("sourceType").is_none(), "{status}");
    assert_eq!(status["history"][0]["revisions"], json!([commit, "2.1.0"]));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_https_repository_is_trusted_through_argocd_tls_certs_cm_with_the_client_certificate_of_its_secret()
 {
    let helm = helm();
    let (client, control, target) = namespaces("chart-tls").await;
    let base = tempfile::tempdir().unwrap();
    let repo = base.path().join("repo");
    package(&helm, base.path(), &repo, "3.0.0");
    let pki = strata_testkube::Pki::generate().unwrap();
    let server = ChartServer::start_with(repo, None, Some(tls_requiring_client_certificates(&pki)));
    assert!(server.url.starts_with("https://127.0.0.1:"));
    let cache = tempfile::tempdir().unwrap();
    let running = start(&client, config(&control, &cache), cache);
    create_application(
        &client,
        &control,
        &chart_application(
            "web-tls",
            json!({"repoURL": server.url, "chart": "web", "targetRevision": "3.0.0"}),
            &target,
        ),
    )
    .await;
    // The test's CA is no trusted root: the download is refused, naming the repository.
    let status = eventually("the certificate refused", || async {
        let status = app_status(&client, &control, "web-tls").await;
        (status["conditions"][0]["type"] == "ComparisonError").then_some(status)
    })
    .await;
    let message = status["conditions"][0]["message"].as_str().unwrap();
    assert!(message.contains(&server.url), "{message}");

    // The CA as ArgoCD keeps it (by server name, without the port), and a repository Secret
    // with the client certificate the server asks for.
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &control);
    let certs: ConfigMap = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "argocd-tls-certs-cm"},
        "data": {"127.0.0.1": pki.ca_pem}
    }))
    .unwrap();
    config_maps
        .create(&PostParams::default(), &certs)
        .await
        .unwrap();
    create_secret(
        &client,
        &control,
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "tls-charts", "labels": {"argocd.argoproj.io/secret-type": "repo-creds"}},
            "stringData": {"url": "https://127.0.0.1", "type": "helm",
                           "tlsClientCertData": pki.admin.certificate_pem,
                           "tlsClientCertKey": pki.admin.key_pem}
        }),
    )
    .await;
    running.controller.reload_repository_credentials().await;
    running.controller.refresh(Some("web-tls"), true);
    wait_for_web(&client, &target, "3.0.0", "chart-default").await;
    let status = wait_synced(&client, &control, "web-tls", "3.0.0").await;
    assert_eq!(status["sourceType"], "Helm");
    assert!(server.asked("/web-3.0.0.tgz") >= 1);
    assert!(!status.to_string().contains("PRIVATE KEY"));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_manual_chart_application_syncs_the_latest_version_in_range_and_rolls_back_to_a_version()
{
    use strata_gitops::reconcile::SyncRequest;
    let helm = helm();
    let (client, control, target) = namespaces("chart-rollback").await;
    let base = tempfile::tempdir().unwrap();
    let repo = base.path().join("repo");
    package(&helm, base.path(), &repo, "1.0.0");
    let server = ChartServer::start(repo.clone(), None);
    let cache = tempfile::tempdir().unwrap();
    let running = start(&client, config(&control, &cache), cache);
    let mut app = chart_application(
        "web-manual",
        json!({"repoURL": server.url, "chart": "web", "targetRevision": "1.*"}),
        &target,
    );
    app["spec"]["syncPolicy"] = json!({});
    create_application(&client, &control, &app).await;
    eventually("web-manual OutOfSync at 1.0.0", || async {
        let status = app_status(&client, &control, "web-manual").await;
        (status["sync"]["status"] == "OutOfSync" && status["sync"]["revision"] == "1.0.0")
            .then_some(())
    })
    .await;
    assert!(
        web_data(&client, &target).await.is_none(),
        "no automated sync"
    );

    let status = running
        .controller
        .sync("web-manual", SyncRequest::new(false, false))
        .await
        .unwrap();
    assert_eq!(
        status
            .operation_state
            .unwrap()
            .sync_result
            .unwrap()
            .revision,
        "1.0.0"
    );
    wait_for_web(&client, &target, "1.0.0", "chart-default").await;

    // A manual sync reads the index again: the new version in the range is synced.
    package(&helm, base.path(), &repo, "1.1.0");
    let status = running
        .controller
        .sync("web-manual", SyncRequest::new(false, false))
        .await
        .unwrap();
    assert_eq!(status.sync.revision.as_deref(), Some("1.1.0"));
    wait_for_web(&client, &target, "1.1.0", "chart-default").await;
    let history: Vec<(u64, String)> = status
        .history
        .iter()
        .map(|h| (h.id, h.revision.clone()))
        .collect();
    assert_eq!(history, [(0, "1.0.0".to_owned()), (1, "1.1.0".to_owned())]);

    // A rollback syncs the chart version of the history entry.
    let status = running.controller.rollback("web-manual", 0).await.unwrap();
    assert_eq!(
        status
            .operation_state
            .unwrap()
            .sync_result
            .unwrap()
            .revision,
        "1.0.0"
    );
    wait_for_web(&client, &target, "1.0.0", "chart-default").await;
    assert_eq!(
        server.asked("/web-1.0.0.tgz"),
        1,
        "the rollback read the cache"
    );
    running.stop().await;
}
