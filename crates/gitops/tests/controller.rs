//! The GitOps controller against a real kube-apiserver and a loopback `git-daemon`: commits
//! reach the cluster by webhook-style refresh and by polling, edits in the cluster are
//! reverted with selfHeal and only reported without it, prune removes only where asked,
//! a source that does not render fails only its own Application, and a failing hook fails
//! the sync and runs the SyncFail hook.

#![allow(clippy::unwrap_used)]

use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::*;

fn background(manifest: &str) -> String {
    manifest.replace(
        "metadata:\n",
        "metadata:\n  annotations:\n    argocd.argoproj.io/sync-options: PrunePropagationPolicy=background\n",
    )
}

fn automated(prune: bool, self_heal: bool) -> Value {
    json!({"automated": {"prune": prune, "selfHeal": self_heal}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commits_reach_the_cluster_edits_are_healed_and_prune_removes_what_git_dropped() {
    let (client, control, target) = namespaces("gitops-flow").await;
    // No garbage collector runs beside the test's API server: objects are pruned with
    // background propagation (ArgoCD's per-resource sync option), so they go at once.
    let repo = Repo::new(&[
        ("shop/settings.yaml", &config_map("settings", "1")),
        ("shop/extra.yaml", &background(&config_map("extra", "x"))),
    ]);
    let cache = tempfile::tempdir().unwrap();
    let running = start(&client, config(&control, &cache), cache);
    create_application(
        &client,
        &control,
        &application(
            "flow-shop",
            &repo.url,
            "shop",
            &target,
            automated(true, true),
        ),
    )
    .await;

    // The first revision is synced, and the Application object says so.
    eventually("the first sync", || async {
        (config_map_value(&client, &target, "settings")
            .await
            .as_deref()
            == Some("1"))
        .then_some(())
    })
    .await;
    let status = eventually("Synced and Healthy on the Application", || async {
        let status = app_status(&client, &control, "flow-shop").await;
        (status["sync"]["status"] == "Synced" && status["health"]["status"] == "Healthy")
            .then_some(status)
    })
    .await;
    let first = git(&repo.dir, &["rev-parse", "HEAD"]);
    assert_eq!(status["sync"]["revision"], first.as_str());
    assert_eq!(status["operationState"]["phase"], "Succeeded");
    assert_eq!(status["history"].as_array().unwrap().len(), 1);
    assert_eq!(status["sourceType"], "Directory");
    let resources: Vec<&str> = status["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(resources, ["extra", "settings"]);

    // A new commit, announced as a webhook announces it.
    let second = repo.commit(
        &[("shop/settings.yaml", &config_map("settings", "2"))],
        &[],
        "two",
    );
    running
        .controller
        .repository_changed(&repo.url, Some("main"));
    eventually("the second revision", || async {
        (config_map_value(&client, &target, "settings")
            .await
            .as_deref()
            == Some("2"))
        .then_some(())
    })
    .await;
    eventually("the revision recorded", || async {
        let status = app_status(&client, &control, "flow-shop").await;
        (status["sync"]["revision"] == second.as_str()
            && status["history"].as_array().map(Vec::len) == Some(2))
        .then_some(())
    })
    .await;

    // An edit in the cluster is reverted (selfHeal).
    patch_config_map(&client, &target, "settings", "edited").await;
    eventually("the edit reverted", || async {
        (config_map_value(&client, &target, "settings")
            .await
            .as_deref()
            == Some("2"))
        .then_some(())
    })
    .await;

    // What Git dropped is pruned.
    repo.commit(&[], &["shop/extra.yaml"], "drop extra");
    running
        .controller
        .repository_changed(&repo.url, Some("main"));
    eventually("extra pruned", || async {
        config_map_value(&client, &target, "extra")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_self_heal_an_edit_is_reported_and_without_prune_nothing_is_deleted() {
    let (client, control, target) = namespaces("gitops-report").await;
    let repo = Repo::new(&[
        ("app/settings.yaml", &config_map("settings", "1")),
        ("app/extra.yaml", &config_map("extra", "x")),
    ]);
    let cache = tempfile::tempdir().unwrap();
    let running = start(&client, config(&control, &cache), cache);
    create_application(
        &client,
        &control,
        &application(
            "report-app",
            &repo.url,
            "app",
            &target,
            automated(false, false),
        ),
    )
    .await;
    eventually("the first sync", || async {
        (config_map_value(&client, &target, "extra").await.is_some()).then_some(())
    })
    .await;
    eventually("Synced", || async {
        (app_status(&client, &control, "report-app").await["sync"]["status"] == "Synced")
            .then_some(())
    })
    .await;

    patch_config_map(&client, &target, "settings", "edited").await;
    let status = eventually("OutOfSync reported", || async {
        let status = app_status(&client, &control, "report-app").await;
        (status["sync"]["status"] == "OutOfSync").then_some(status)
    })
    .await;
    let settings = status["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "settings")
        .unwrap();
    assert_eq!(settings["status"], "OutOfSync");
    // Not reverted: the controller does not sync the same revision again without selfHeal.
    running.controller.refresh(Some("report-app"), false);
    running.controller.wait_idle().await;
    assert_eq!(
        config_map_value(&client, &target, "settings")
            .await
            .as_deref(),
        Some("edited")
    );

    // Git drops `extra` (and restores settings): synced, but `extra` stays (prune: false)
    // and is reported as requiring pruning.
    repo.commit(&[], &["app/extra.yaml"], "drop extra");
    running.controller.repository_changed(&repo.url, None);
    let status = eventually("the new revision synced", || async {
        let status = app_status(&client, &control, "report-app").await;
        let last = status["operationState"]["syncResult"]["revision"].clone();
        (last == git(&repo.dir, &["rev-parse", "HEAD"]).as_str()).then_some(status)
    })
    .await;
    assert_eq!(
        config_map_value(&client, &target, "settings")
            .await
            .as_deref(),
        Some("1")
    );
    assert!(config_map_value(&client, &target, "extra").await.is_some());
    assert_eq!(status["sync"]["status"], "OutOfSync");
    let extra = status["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "extra")
        .unwrap();
    assert_eq!(extra["requiresPruning"], true);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn polling_finds_new_commits_and_a_broken_source_fails_only_its_application() {
    let (client, control, target) = namespaces("gitops-poll").await;
    let repo = Repo::new(&[
        ("good/settings.yaml", &config_map("settings", "1")),
        (
            "bad/broken.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n",
        ),
    ]);
    let cache = tempfile::tempdir().unwrap();
    let config = config(&control, &cache).with_poll_interval(Duration::from_secs(2));
    let running = start(&client, config, cache);
    create_application(
        &client,
        &control,
        &application(
            "poll-good",
            &repo.url,
            "good",
            &target,
            automated(true, false),
        ),
    )
    .await;
    create_application(
        &client,
        &control,
        &application(
            "poll-bad",
            &repo.url,
            "bad",
            &target,
            automated(true, false),
        ),
    )
    .await;
    let status = eventually("a ComparisonError on the broken Application", || async {
        let status = app_status(&client, &control, "poll-bad").await;
        (status["conditions"][0]["type"] == "ComparisonError").then_some(status)
    })
    .await;
    let message = status["conditions"][0]["message"].as_str().unwrap();
    assert!(message.contains("broken.yaml"), "{message}");
    assert_eq!(status["sync"]["status"], "Unknown");
    eventually("the good Application synced", || async {
        (config_map_value(&client, &target, "settings")
            .await
            .as_deref()
            == Some("1"))
        .then_some(())
    })
    .await;

    // No webhook: the poll finds the commit.
    repo.commit(
        &[("good/settings.yaml", &config_map("settings", "2"))],
        &[],
        "two",
    );
    eventually("the polled revision", || async {
        (config_map_value(&client, &target, "settings")
            .await
            .as_deref()
            == Some("2"))
        .then_some(())
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_hook_fails_the_sync_and_runs_the_sync_fail_hook() {
    let (client, control, target) = namespaces("gitops-hook").await;
    // The PreSync hook is a Service the server refuses (port out of range).
    let hook = "apiVersion: v1\nkind: Service\nmetadata:\n  name: migrate\n  annotations:\n    argocd.argoproj.io/hook: PreSync\nspec:\n  ports:\n  - port: 70000\n";
    let on_fail = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: on-fail\n  annotations:\n    argocd.argoproj.io/hook: SyncFail\ndata:\n  v: failed\n";
    let repo = Repo::new(&[
        ("app/hook.yaml", hook),
        ("app/on-fail.yaml", on_fail),
        ("app/settings.yaml", &config_map("settings", "1")),
    ]);
    let cache = tempfile::tempdir().unwrap();
    let running = start(&client, config(&control, &cache), cache);
    create_application(
        &client,
        &control,
        &application(
            "hook-app",
            &repo.url,
            "app",
            &target,
            automated(true, false),
        ),
    )
    .await;
    let status = eventually("the sync failed", || async {
        let status = app_status(&client, &control, "hook-app").await;
        (status["operationState"]["phase"] == "Failed").then_some(status)
    })
    .await;
    let results = status["operationState"]["syncResult"]["resources"]
        .as_array()
        .unwrap();
    let migrate = results.iter().find(|r| r["name"] == "migrate").unwrap();
    assert_eq!(migrate["status"], "SyncFailed");
    assert_eq!(migrate["hookType"], "PreSync");
    assert_eq!(
        config_map_value(&client, &target, "on-fail")
            .await
            .as_deref(),
        Some("failed"),
        "the SyncFail hook ran"
    );
    assert!(
        config_map_value(&client, &target, "settings")
            .await
            .is_none(),
        "the Sync phase did not run after a failed PreSync hook"
    );
    // Not retried on every reconcile: the same revision is not synced again automatically.
    running.controller.refresh(Some("hook-app"), false);
    running.controller.wait_idle().await;
    let again = app_status(&client, &control, "hook-app").await;
    assert_eq!(
        again["operationState"]["startedAt"], status["operationState"]["startedAt"],
        "no second automated attempt of a failed revision"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn applications_kept_in_git_are_reconciled_and_their_status_is_kept_by_the_controller() {
    let (client, control, target) = namespaces("gitops-root").await;
    let repo = Repo::new(&[
        ("services/api/cm.yaml", &config_map("api", "1")),
        ("services/web/cm.yaml", &config_map("web", "1")),
    ]);
    let app = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: root-api\nspec:\n  project: default\n  source:\n    repoURL: {url}\n    path: services/api\n    targetRevision: main\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: {target}\n  syncPolicy:\n    automated: {{}}\n",
        url = repo.url
    );
    let appset = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: services\nspec:\n  generators:\n  - list:\n      elements:\n      - svc: web\n  template:\n    metadata:\n      name: 'root-{{{{svc}}}}'\n    spec:\n      project: default\n      source:\n        repoURL: {url}\n        path: 'services/{{{{svc}}}}'\n        targetRevision: main\n      destination:\n        server: https://kubernetes.default.svc\n        namespace: {target}\n      syncPolicy:\n        automated: {{}}\n",
        url = repo.url
    );
    repo.commit(
        &[("apps/api.yaml", &app), ("apps/services.yaml", &appset)],
        &[],
        "apps",
    );
    let cache = tempfile::tempdir().unwrap();
    let config = config(&control, &cache).with_git_root(strata_gitops::roots::GitRoot {
        repo_url: repo.url.clone(),
        revision: "main".into(),
        path: "apps".into(),
    });
    let running = start(&client, config, cache);
    eventually("both Git-defined Applications synced", || async {
        let api = config_map_value(&client, &target, "api").await;
        let web = config_map_value(&client, &target, "web").await;
        (api.as_deref() == Some("1") && web.as_deref() == Some("1")).then_some(())
    })
    .await;
    running.controller.wait_idle().await;
    let records = running.controller.status().list();
    let names: Vec<&str> = records.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["root-api", "root-web"]);
    for record in &records {
        assert!(
            matches!(record.origin, strata_gitops::status::AppOrigin::Git { .. }),
            "{:?}",
            record.origin
        );
        assert_eq!(record.status.sync.status.as_str(), "Synced", "{record:?}");
    }
    // Not written to the cluster as Application objects.
    assert!(
        applications(&client, &control)
            .get_opt("root-api")
            .await
            .unwrap()
            .is_none()
    );
    running.stop().await;
}

async fn create_project(client: &kube::Client, namespace: &str, project: Value) {
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        client.clone(),
        namespace,
        &strata_gitops::controller::argo_resource("AppProject", "appprojects"),
    );
    let object: kube::api::DynamicObject = serde_json::from_value(project).unwrap();
    api.create(&kube::api::PostParams::default(), &object)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn projects_restrict_sources_and_sync_windows_hold_syncs() {
    let (client, control, target) = namespaces("gitops-project").await;
    let repo = Repo::new(&[("app/settings.yaml", &config_map("settings", "1"))]);
    let cache = tempfile::tempdir().unwrap();
    let running = start(&client, config(&control, &cache), cache);
    // A project allowing only other repositories.
    create_project(
        &client,
        &control,
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
               "metadata": {"name": "locked"},
               "spec": {"sourceRepos": ["https://git.example/*"],
                        "destinations": [{"server": "*", "namespace": "*"}],
                        "clusterResourceWhitelist": [{"group": "*", "kind": "*"}]}}),
    )
    .await;
    // A project whose deny window is always open for the target namespace.
    create_project(
        &client,
        &control,
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
               "metadata": {"name": "frozen"},
               "spec": {"sourceRepos": ["*"],
                        "destinations": [{"server": "*", "namespace": "*"}],
                        "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
                        "syncWindows": [{"kind": "deny", "schedule": "* * * * *", "duration": "1h",
                                         "namespaces": [target.clone()], "manualSync": true}]}}),
    )
    .await;
    let mut locked = application(
        "locked-app",
        &repo.url,
        "app",
        &target,
        automated(true, true),
    );
    locked["spec"]["project"] = json!("locked");
    create_application(&client, &control, &locked).await;
    let mut frozen = application(
        "frozen-app",
        &repo.url,
        "app",
        &target,
        automated(true, true),
    );
    frozen["spec"]["project"] = json!("frozen");
    create_application(&client, &control, &frozen).await;

    let status = eventually("the repository refused by the project", || async {
        let status = app_status(&client, &control, "locked-app").await;
        // An Application read before its project reached the controller's cache is first
        // reported with a missing project; the project's watch event evaluates it again.
        let condition = &status["conditions"][0];
        (condition["type"] == "InvalidSpecError"
            && !condition["message"]
                .as_str()
                .is_some_and(|m| m.contains("does not exist")))
        .then_some(status)
    })
    .await;
    assert!(
        status["conditions"][0]["message"]
            .as_str()
            .unwrap()
            .contains("sourceRepos"),
        "{status}"
    );
    let status = eventually("the sync held by the window", || async {
        let status = app_status(&client, &control, "frozen-app").await;
        (status["conditions"][0]["type"] == "SyncError").then_some(status)
    })
    .await;
    assert!(
        status["conditions"][0]["message"]
            .as_str()
            .unwrap()
            .contains("deny sync window"),
        "{status}"
    );
    assert_eq!(status["sync"]["status"], "OutOfSync");
    assert!(
        config_map_value(&client, &target, "settings")
            .await
            .is_none()
    );
    // The window lets manual syncs through.
    let synced = running
        .controller
        .sync(
            "frozen-app",
            strata_gitops::reconcile::SyncRequest::new(false, false),
        )
        .await
        .unwrap();
    assert_eq!(synced.operation_state.unwrap().phase.as_str(), "Succeeded");
    assert_eq!(
        config_map_value(&client, &target, "settings")
            .await
            .as_deref(),
        Some("1")
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_private_repository_is_read_with_the_credentials_of_a_repository_secret() {
    let (client, control, target) = namespaces("gitops-private").await;
    let repo = Repo::new(&[("app/settings.yaml", &config_map("settings", "1"))]);
    let server = HttpServer::serve(&repo, "robot:s3cret-pass");
    let cache = tempfile::tempdir().unwrap();
    let running = start(&client, config(&control, &cache), cache);
    create_application(
        &client,
        &control,
        &application(
            "private-app",
            &server.url,
            "app",
            &target,
            automated(true, false),
        ),
    )
    .await;
    // Without credentials: only this Application is Unknown, with the repository named and
    // no secret shown.
    let status = eventually("the fetch refused", || async {
        let status = app_status(&client, &control, "private-app").await;
        (status["conditions"][0]["type"] == "ComparisonError").then_some(status)
    })
    .await;
    let message = status["conditions"][0]["message"].as_str().unwrap();
    assert!(message.contains("127.0.0.1"), "{message}");
    assert_eq!(status["sync"]["status"], "Unknown");

    // A repository Secret, as ArgoCD keeps them: the retry (with backoff) fetches and syncs.
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client.clone(), &control);
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "private-repo", "labels": {"argocd.argoproj.io/secret-type": "repository"}},
        "stringData": {"url": server.url, "username": "robot", "password": "s3cret-pass"}
    }))
    .unwrap();
    secrets
        .create(&kube::api::PostParams::default(), &secret)
        .await
        .unwrap();
    // The controller reads repository Secrets at start and at every poll: poll now.
    running.controller.reload_repository_credentials().await;
    eventually("synced from the private repository", || async {
        (config_map_value(&client, &target, "settings")
            .await
            .as_deref()
            == Some("1"))
        .then_some(())
    })
    .await;
    let status = app_status(&client, &control, "private-app").await;
    assert!(!status.to_string().contains("s3cret-pass"));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_destination_named_by_a_cluster_secret_is_reached_with_its_credentials() {
    use base64::Engine as _;
    let (client, control, target) = namespaces("gitops-cluster").await;
    let repo = Repo::new(&[("app/settings.yaml", &config_map("settings", "1"))]);
    let pki = plane().pki();
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let config_json = json!({"tlsClientConfig": {
        "caData": b64(&pki.ca_pem),
        "certData": b64(&pki.admin.certificate_pem),
        "keyData": b64(&pki.admin.key_pem)
    }})
    .to_string();
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client.clone(), &control);
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "workload-cluster", "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
        "stringData": {"name": "workload", "server": plane().server_url(), "config": config_json}
    }))
    .unwrap();
    secrets
        .create(&kube::api::PostParams::default(), &secret)
        .await
        .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let running = start(&client, config(&control, &cache), cache);
    let mut by_name = application(
        "remote-app",
        &repo.url,
        "app",
        &target,
        automated(true, false),
    );
    by_name["spec"]["destination"] = json!({"name": "workload", "namespace": target});
    create_application(&client, &control, &by_name).await;
    let mut unknown = application(
        "nowhere-app",
        &repo.url,
        "app",
        &target,
        automated(true, false),
    );
    unknown["spec"]["destination"] = json!({"name": "nowhere", "namespace": target});
    create_application(&client, &control, &unknown).await;

    eventually("synced through the cluster Secret", || async {
        (config_map_value(&client, &target, "settings")
            .await
            .as_deref()
            == Some("1"))
        .then_some(())
    })
    .await;
    let status = eventually("the unknown destination reported", || async {
        let status = app_status(&client, &control, "nowhere-app").await;
        (status["conditions"][0]["type"] == "ComparisonError").then_some(status)
    })
    .await;
    let message = status["conditions"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("nowhere") && message.contains("cluster Secret"),
        "{message}"
    );
    assert!(
        !status.to_string().contains("BEGIN"),
        "no credentials in the status"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn application_sets_in_the_cluster_generate_applications_that_sync() {
    let (client, control, target) = namespaces("gitops-appset").await;
    let repo = Repo::new(&[
        ("services/api/cm.yaml", &background(&config_map("api", "1"))),
        ("services/web/cm.yaml", &background(&config_map("web", "1"))),
    ]);
    let cache = tempfile::tempdir().unwrap();
    let running = start(&client, config(&control, &cache), cache);
    let appsets: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        client.clone(),
        &control,
        &strata_gitops::controller::argo_resource("ApplicationSet", "applicationsets"),
    );
    let appset = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "services"},
        "spec": {
            "generators": [{"git": {"repoURL": repo.url, "revision": "main",
                                    "directories": [{"path": "services/*"}]}}],
            "template": {
                "metadata": {"name": "svc-{{path.basename}}"},
                "spec": {"project": "default",
                         "source": {"repoURL": repo.url, "path": "{{path}}", "targetRevision": "main"},
                         "destination": {"server": "https://kubernetes.default.svc", "namespace": target},
                         "syncPolicy": {"automated": {"prune": true}}}
            }
        }
    });
    appsets
        .create(
            &kube::api::PostParams::default(),
            &serde_json::from_value(appset).unwrap(),
        )
        .await
        .unwrap();
    eventually("both generated Applications synced", || async {
        let api = config_map_value(&client, &target, "api").await;
        let web = config_map_value(&client, &target, "web").await;
        (api.is_some() && web.is_some()).then_some(())
    })
    .await;
    let generated = applications(&client, &control)
        .get("svc-api")
        .await
        .unwrap();
    assert_eq!(
        generated.metadata.owner_references.unwrap()[0].name,
        "services",
        "owned by its ApplicationSet"
    );
    let status = eventually("the ApplicationSet's status", || async {
        let object = appsets.get("services").await.unwrap();
        let value = serde_json::to_value(&object).unwrap();
        (value["status"]["conditions"][1]["status"] == "True").then_some(value)
    })
    .await;
    assert_eq!(status["status"]["conditions"][0]["type"], "ErrorOccurred");
    assert_eq!(status["status"]["conditions"][0]["status"], "False");

    // A directory leaves Git: its Application is deleted, and with it (ArgoCD's resources
    // finalizer, which generated Applications carry) what it deployed.
    repo.commit(&[], &["services/web/cm.yaml"], "drop web");
    running
        .controller
        .repository_changed(&repo.url, Some("main"));
    eventually("svc-web deleted", || async {
        applications(&client, &control)
            .get_opt("svc-web")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        config_map_value(&client, &target, "web").await.is_none(),
        "cascaded"
    );
    assert!(config_map_value(&client, &target, "api").await.is_some());

    // A template that does not render is reported on the ApplicationSet; nothing is written.
    let broken = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "broken"},
        "spec": {
            "goTemplate": true,
            "generators": [{"list": {"elements": [{"svc": "x"}]}}],
            "template": {
                "metadata": {"name": "broken-{{ .svc | nosuchfunction }}"},
                "spec": {"project": "default",
                         "source": {"repoURL": repo.url, "path": "services/api"},
                         "destination": {"server": "https://kubernetes.default.svc", "namespace": target}}
            }
        }
    });
    appsets
        .create(
            &kube::api::PostParams::default(),
            &serde_json::from_value(broken).unwrap(),
        )
        .await
        .unwrap();
    let status = eventually("the broken ApplicationSet's error", || async {
        let object = appsets.get("broken").await.unwrap();
        let value = serde_json::to_value(&object).unwrap();
        (value["status"]["conditions"][0]["status"] == "True").then_some(value)
    })
    .await;
    let message = status["status"]["conditions"][0]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("nosuchfunction"), "{message}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_controller_stopped_mid_sync_is_continued_by_the_next_without_writing_twice() {
    let (client, control, target) = namespaces("gitops-midsync").await;
    // Wave 0: a Deployment that stays Progressing (no controller-manager runs beside the test's
    // API server), so the sync waits at the health gate before wave 1.
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: slow\n  annotations:\n    argocd.argoproj.io/sync-wave: \"0\"\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: slow}\n  template:\n    metadata:\n      labels: {app: slow}\n    spec:\n      containers:\n      - name: c\n        image: registry.example/slow:1\n";
    let after = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: after\n  annotations:\n    argocd.argoproj.io/sync-wave: \"1\"\ndata:\n  v: \"1\"\n";
    let repo = Repo::new(&[
        ("app/deployment.yaml", deployment),
        ("app/after.yaml", after),
    ]);
    let states = tempfile::tempdir().unwrap();
    let state_dir = states.path().to_owned();
    let stores: strata_gitops::reconcile::StateStores =
        std::sync::Arc::new(move |app: &strata_gitops::app::Application| {
            std::sync::Arc::new(strata_core::LocalStateStore::new(
                state_dir.join(format!("{}.json", app.name)),
            )) as std::sync::Arc<dyn strata_core::StateStore>
        });
    let cache = tempfile::tempdir().unwrap();
    let first = start(
        &client,
        config(&control, &cache)
            .with_state_stores(std::sync::Arc::clone(&stores))
            .with_shutdown_grace(Duration::from_millis(500)),
        cache,
    );
    create_application(
        &client,
        &control,
        &application(
            "midsync-app",
            &repo.url,
            "app",
            &target,
            automated(true, false),
        ),
    )
    .await;
    let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(client.clone(), &target);
    eventually("the sync waiting at wave 0", || async {
        let status = app_status(&client, &control, "midsync-app").await;
        let running = status["operationState"]["phase"] == "Running";
        let created = deployments.get_opt("slow").await.unwrap().is_some();
        (running && created).then_some(())
    })
    .await;
    assert!(config_map_value(&client, &target, "after").await.is_none());
    // Stopped mid-sync: the running sync is abandoned after the grace period.
    first.stop().await;
    let version = deployments
        .get("slow")
        .await
        .unwrap()
        .metadata
        .resource_version;

    let cache = tempfile::tempdir().unwrap();
    let second = start(
        &client,
        config(&control, &cache).with_state_stores(stores),
        cache,
    );
    // The Deployment becomes healthy (what its controller would report).
    let status = json!({"status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                                   "readyReplicas": 1, "availableReplicas": 1,
                                   "conditions": [{"type": "Available", "status": "True"},
                                                  {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}});
    deployments
        .patch_status(
            "slow",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&status),
        )
        .await
        .unwrap();
    let healthy_version = deployments
        .get("slow")
        .await
        .unwrap()
        .metadata
        .resource_version;
    assert_ne!(healthy_version, version);
    eventually("the sync continued to wave 1", || async {
        (config_map_value(&client, &target, "after").await.as_deref() == Some("1")).then_some(())
    })
    .await;
    eventually("Synced", || async {
        let status = app_status(&client, &control, "midsync-app").await;
        (status["sync"]["status"] == "Synced" && status["operationState"]["phase"] == "Succeeded")
            .then_some(())
    })
    .await;
    assert_eq!(
        deployments
            .get("slow")
            .await
            .unwrap()
            .metadata
            .resource_version,
        healthy_version,
        "the Deployment applied by the first controller is not written again"
    );
    second.stop().await;
}

/// A multi-source Application: plain manifests from one repository, a Helm chart from
/// another whose value file is read through a `ref` source (`$values/...`) of the first.
fn multi_source_application(name: &str, manifests: &str, charts: &str, namespace: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {
            "project": "default",
            "sources": [
                {"repoURL": manifests, "path": "shop", "targetRevision": "main"},
                {"repoURL": charts, "path": "charts/web", "targetRevision": "main",
                 "helm": {"releaseName": "web", "valueFiles": ["$values/envs/prod.yaml"]}},
                {"repoURL": manifests, "targetRevision": "main", "ref": "values"},
            ],
            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
            "syncPolicy": automated(true, false)
        }
    })
}

const WEB_CHART: &[(&str, &str)] = &[
    (
        "charts/web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    ),
    ("charts/web/values.yaml", "greeting: from-chart\n"),
    (
        "charts/web/templates/greeting.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-greeting\ndata:\n  v: {{ .Values.greeting | quote }}\n",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_multi_source_application_renders_every_source_and_reports_each_revision() {
    let (client, control, target) = namespaces("gitops-multi").await;
    let manifests = Repo::new(&[
        ("shop/settings.yaml", &config_map("settings", "1")),
        ("envs/prod.yaml", "greeting: from-values\n"),
    ]);
    let charts = Repo::new(WEB_CHART);
    let cache = tempfile::tempdir().unwrap();
    let _running = start(&client, config(&control, &cache), cache);
    create_application(
        &client,
        &control,
        &multi_source_application("multi-shop", &manifests.url, &charts.url, &target),
    )
    .await;

    // Objects of both repositories land, the chart's value read from the `ref` source.
    eventually("the manifests of the first source", || async {
        (config_map_value(&client, &target, "settings")
            .await
            .as_deref()
            == Some("1"))
        .then_some(())
    })
    .await;
    let chart_value = eventually("the chart of the second source", || async {
        config_map_value(&client, &target, "web-greeting").await
    })
    .await;
    assert_eq!(chart_value, "from-values");

    let status = eventually("Synced, with the revisions of every source", || async {
        let status = app_status(&client, &control, "multi-shop").await;
        (status["sync"]["status"] == "Synced" && status["history"].as_array().is_some())
            .then_some(status)
    })
    .await;
    let first = git(&manifests.dir, &["rev-parse", "HEAD"]);
    let second = git(&charts.dir, &["rev-parse", "HEAD"]);
    let revisions = json!([first, second, first]);
    assert_eq!(status["sync"]["revisions"], revisions, "{status}");
    assert!(status["sync"].get("revision").is_none(), "{status}");
    assert_eq!(status["operationState"]["phase"], "Succeeded", "{status}");
    assert_eq!(
        status["operationState"]["syncResult"]["revisions"], revisions,
        "{status}"
    );
    let history = &status["history"][0];
    assert_eq!(history["revisions"], revisions, "{status}");
    assert_eq!(history["sources"][2]["ref"], "values", "{status}");
    assert_eq!(history["sources"][1]["path"], "charts/web", "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_source_with_neither_path_chart_nor_ref_is_refused_by_its_index() {
    let (client, control, target) = namespaces("gitops-multi-bad").await;
    let manifests = Repo::new(&[("shop/settings.yaml", &config_map("settings", "1"))]);
    let cache = tempfile::tempdir().unwrap();
    let _running = start(&client, config(&control, &cache), cache);
    let mut app = multi_source_application("multi-bad", &manifests.url, &manifests.url, &target);
    app["spec"]["sources"] = json!([
        {"repoURL": manifests.url, "path": "shop", "targetRevision": "main"},
        {"repoURL": manifests.url, "targetRevision": "main"},
    ]);
    create_application(&client, &control, &app).await;
    let status = eventually("the Application refused", || async {
        let status = app_status(&client, &control, "multi-bad").await;
        (status["conditions"][0]["type"] == "InvalidSpecError").then_some(status)
    })
    .await;
    assert_eq!(
        status["conditions"][0]["message"],
        "Application multi-bad: spec.sources[1]: needs a path, a chart or a ref",
        "{status}"
    );
    assert!(
        config_map_value(&client, &target, "settings")
            .await
            .is_none(),
        "nothing of a refused Application is applied"
    );
}

/// Writes (or replaces) the control namespace's `argocd-cm` with `data`.
async fn put_argocd_cm(client: &kube::Client, namespace: &str, data: Value) {
    use kube::api::{Patch, PatchParams};
    let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(client.clone(), namespace);
    let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "argocd-cm", "namespace": namespace}, "data": data});
    api.patch(
        "argocd-cm",
        &PatchParams::apply("settings-test").force(),
        &Patch::Apply(object),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_clusters_argocd_cm_customizes_health_and_ignored_differences_and_edits_apply() {
    let (client, control, target) = namespaces("gitops-settings").await;
    // ArgoCD's settings: every ConfigMap's /data/v is ignored, and a Lua health script makes
    // ConfigMaps Degraded with its own message.
    put_argocd_cm(
        &client,
        &control,
        json!({
            "resource.customizations.ignoreDifferences.all": "jsonPointers:\n- /data/v\n",
            "resource.customizations.health.ConfigMap":
                "hs = {}\nhs.status = \"Degraded\"\nhs.message = \"judged by argocd-cm\"\nreturn hs\n",
        }),
    )
    .await;
    let repo = Repo::new(&[("app/settings.yaml", &config_map("settings", "1"))]);
    let cache = tempfile::tempdir().unwrap();
    let running = start(&client, config(&control, &cache), cache);
    create_application(
        &client,
        &control,
        &application(
            "settings-app",
            &repo.url,
            "app",
            &target,
            automated(false, false),
        ),
    )
    .await;
    let status = eventually("synced and judged by the Lua script", || async {
        let status = app_status(&client, &control, "settings-app").await;
        (status["sync"]["status"] == "Synced" && status["health"]["status"] == "Degraded")
            .then_some(status)
    })
    .await;
    let settings = status["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "settings")
        .unwrap();
    assert_eq!(
        settings["health"]["message"], "judged by argocd-cm",
        "{status}"
    );

    // An edit of the ignored field is not drift.
    patch_config_map(&client, &target, "settings", "edited").await;
    running.controller.refresh(Some("settings-app"), false);
    running.controller.wait_idle().await;
    let status = app_status(&client, &control, "settings-app").await;
    assert_eq!(status["sync"]["status"], "Synced", "{status}");

    // The settings change: the field is compared again, without a restart.
    put_argocd_cm(&client, &control, json!({})).await;
    running.controller.reload_settings().await;
    running.controller.refresh(Some("settings-app"), false);
    let status = eventually("OutOfSync once the rule is gone", || async {
        let status = app_status(&client, &control, "settings-app").await;
        (status["sync"]["status"] == "OutOfSync").then_some(status)
    })
    .await;
    assert_eq!(status["health"]["status"], "Healthy", "{status}");

    // Settings that do not parse fail the comparison, naming the key, instead of falling
    // back to defaults.
    put_argocd_cm(
        &client,
        &control,
        json!({"resource.compareoptions": "ignoreAggregatedRoles: [not, a, bool]\n"}),
    )
    .await;
    running.controller.reload_settings().await;
    running.controller.refresh(Some("settings-app"), false);
    let status = eventually("a ComparisonError", || async {
        let status = app_status(&client, &control, "settings-app").await;
        (status["conditions"][0]["type"] == "ComparisonError").then_some(status)
    })
    .await;
    let message = status["conditions"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("argocd-cm") && message.contains("resource.compareoptions"),
        "{message}"
    );
    running.stop().await;
}
