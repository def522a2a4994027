//! The controller's incremental planner against a real kube-apiserver: drift made directly on
//! the cluster is found through the watch-fed planner and healed without observing every
//! resource again, a Git change of one manifest re-plans that resource only, and after a
//! sequence of Git and cluster changes the controller's plan equals `Engine::plan`'s (the
//! resync's cross-check). Objects the watch caches hold no labelled object of are not read
//! from the API server at every plan, and the planner's statistics are exported as metrics.

#![allow(clippy::unwrap_used)]

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};
use strata_gitops::controller::{Controller, Observer};
use strata_gitops::planning::{PlannerStats, Replan};
use strata_gitops::server::Metrics;
use strata_gitops::service::MetricsObserver;
use strata_gitops::status::AppRecord;
use support::*;

const OBJECTS: usize = 20;

fn automated(prune: bool, self_heal: bool) -> Value {
    json!({"automated": {"prune": prune, "selfHeal": self_heal}})
}

/// Counts the GET requests the reconciles of the Application make.
#[derive(Default)]
struct Gets(AtomicUsize);

#[async_trait::async_trait]
impl Observer for Gets {
    async fn status_written(&self, _record: &AppRecord) {}

    fn kubernetes_request(&self, _app: &str, verb: &str, _status: Option<u16>) {
        if verb == "GET" {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn files() -> Vec<(String, String)> {
    (0..OBJECTS)
        .map(|i| {
            let text = config_map(&format!("cm-{i}"), "1").replace(
                "metadata:\n",
                "metadata:\n  annotations:\n    argocd.argoproj.io/sync-options: PrunePropagationPolicy=background\n",
            );
            (format!("app/cm-{i}.yaml"), text)
        })
        .collect()
}

/// One Application of [`OBJECTS`] ConfigMaps under a running controller, which counts its
/// GET requests and records its metrics.
struct Fixture {
    client: kube::Client,
    control: String,
    target: String,
    files: Vec<(String, String)>,
    repo: Repo,
    running: Running,
    gets: Arc<Gets>,
    metrics: Metrics,
    name: &'static str,
}

impl Fixture {
    /// The Application `name` (in namespaces named after `hint`) with sync policy `policy`,
    /// created; when `synced`, waited for until it is Synced.
    async fn new(hint: &str, name: &'static str, policy: Value, synced: bool) -> Self {
        let (client, control, target) = namespaces(hint).await;
        let files = files();
        let borrowed: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let repo = Repo::new(&borrowed);
        let cache = tempfile::tempdir().unwrap();
        let running = start(&client, config(&control, &cache), cache);
        let gets = Arc::new(Gets::default());
        running.controller.observe(gets.clone());
        let metrics = Metrics::new();
        running
            .controller
            .observe(Arc::new(MetricsObserver::new(metrics.clone())));
        create_application(
            &client,
            &control,
            &application(name, &repo.url, "app", &target, policy),
        )
        .await;
        let fixture = Self {
            client,
            control,
            target,
            files,
            repo,
            running,
            gets,
            metrics,
            name,
        };
        if synced {
            eventually("Synced", || async {
                let status = fixture.status().await;
                (status["sync"]["status"] == "Synced").then_some(())
            })
            .await;
        }
        fixture
    }

    async fn status(&self) -> Value {
        app_status(&self.client, &self.control, self.name).await
    }

    fn stats(&self) -> PlannerStats {
        stats(&self.running.controller, self.name)
    }

    async fn settled(&self) -> PlannerStats {
        settled(&self.running.controller, self.name).await
    }

    /// The value of the metric `name` of this Application (`labels` beside its name), as
    /// `/metrics` serves it.
    fn metric(&self, name: &str, labels: &str) -> Option<f64> {
        let text = self.metrics.render(self.running.controller.status());
        let wanted = format!("{name}{{name=\"{}\"{labels}}} ", self.name);
        text.lines()
            .find_map(|line| line.strip_prefix(&wanted))
            .map(|value| value.trim().parse().unwrap())
    }
}

fn stats(controller: &Controller, app: &str) -> PlannerStats {
    controller.planner_stats(app).unwrap_or_default()
}

/// Waits until a refresh of `app` plans from the watch caches alone (the watches of its
/// kinds have listed).
async fn settled(controller: &Arc<Controller>, app: &str) -> PlannerStats {
    eventually("plans from the watch caches", || async {
        controller.wait_idle().await;
        controller.refresh(Some(app), false);
        controller.wait_idle().await;
        let stats = stats(controller, app);
        (stats.incremental_plans > 0 && stats.last_provider_observations == 0).then_some(stats)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drift_is_found_through_the_watches_and_healed_without_observing_everything() {
    let app = Fixture::new("planner-heal", "heal", automated(true, true), true).await;
    let before = app.settled().await;
    assert!(
        !before.last_rebuilt,
        "a quiet refresh re-plans nothing: {before:?}"
    );
    assert_eq!(before.last_compared, 0, "{before:?}");

    // An edit on the cluster, as `kubectl patch` makes it.
    app.gets.0.store(0, Ordering::SeqCst);
    patch_config_map(&app.client, &app.target, "cm-3", "drift").await;
    eventually("the drift healed", || async {
        (config_map_value(&app.client, &app.target, "cm-3")
            .await
            .as_deref()
            == Some("1"))
        .then_some(())
    })
    .await;
    app.running.controller.wait_idle().await;
    let after = app.stats();
    assert!(
        after.incremental_plans > before.incremental_plans,
        "{after:?}"
    );
    assert_eq!(
        after.full_plans, before.full_plans,
        "no plan observed everything: {after:?}"
    );
    let plans = after.incremental_plans - before.incremental_plans;
    let compared = after.compared_total - before.compared_total;
    assert!(
        compared <= 2 * plans,
        "{compared} resources compared in {plans} plans: {after:?}"
    );
    let requests = app.gets.0.load(Ordering::SeqCst);
    assert!(
        requests < OBJECTS,
        "{requests} GET requests to heal one of {OBJECTS} objects"
    );
    assert_eq!(app.status().await["sync"]["status"], "Synced");
    app.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_git_change_of_one_manifest_re_plans_only_that_resource() {
    let app = Fixture::new("planner-git", "git", automated(true, true), true).await;
    let before = app.settled().await;

    let text = app.files[7].1.replace("v: \"1\"", "v: \"2\"");
    app.repo
        .commit(&[("app/cm-7.yaml", &text)], &[], "cm-7 to 2");
    app.running
        .controller
        .repository_changed(&app.repo.url, Some("main"));
    eventually("cm-7 updated", || async {
        (config_map_value(&app.client, &app.target, "cm-7")
            .await
            .as_deref()
            == Some("2"))
        .then_some(())
    })
    .await;
    app.running.controller.wait_idle().await;
    let after = app.stats();
    assert_eq!(after.full_plans, before.full_plans, "{after:?}");
    let plans = after.incremental_plans - before.incremental_plans;
    let compared = after.compared_total - before.compared_total;
    assert!(plans > 0, "{after:?}");
    assert!(
        compared <= 2 * plans && compared < OBJECTS as u64,
        "{compared} resources compared in {plans} plans: {after:?}"
    );
    assert!(!after.last_rebuilt, "{after:?}");
    eventually("Synced at the new revision", || async {
        let status = app.status().await;
        (status["sync"]["status"] == "Synced"
            && status["history"].as_array().map(Vec::len) == Some(2))
        .then_some(())
    })
    .await;
    // The new revision moved every resource's source location: the plans after it wrote the
    // new locations into the plan instead of comparing every resource again.
    let settled = app.settled().await;
    assert_eq!(settled.last_compared, 0, "{settled:?}");
    app.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn objects_the_watches_saw_deleted_or_never_saw_are_not_read_at_every_plan() {
    // Never synced: none of the objects exists. The first plans read them from the API
    // server (the watch of their kind starts after the first reconcile, and an object missing
    // from it may exist without the label it selects); after that, the cache's absence
    // agrees with what the API server said, and a refresh reads nothing.
    let app = Fixture::new("planner-absent", "absent", json!({}), false).await;
    eventually("OutOfSync", || async {
        let status = app.status().await;
        (status["sync"]["status"] == "OutOfSync").then_some(())
    })
    .await;
    let before = app.settled().await;
    assert_eq!(before.last_compared, 0, "{before:?}");
    app.gets.0.store(0, Ordering::SeqCst);
    for _ in 0..3 {
        app.running.controller.refresh(Some("absent"), false);
        app.running.controller.wait_idle().await;
    }
    let after = app.stats();
    assert_eq!(
        after.incremental_plans,
        before.incremental_plans + 3,
        "{after:?}"
    );
    assert_eq!(after.last_provider_observations, 0, "{after:?}");
    assert_eq!(
        app.gets.0.load(Ordering::SeqCst),
        0,
        "refreshes of {OBJECTS} missing objects read the API server"
    );
    let missing = app.status().await["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "OutOfSync")
        .count();
    assert_eq!(missing, OBJECTS);

    // Synced, then one object deleted on the cluster: the watch reports it gone (as it would
    // report it unlabelled), the next plan reads it once from the API server, and the plans
    // after that read nothing (and find the object missing).
    app.running
        .controller
        .sync(
            "absent",
            strata_gitops::reconcile::SyncRequest::new(true, false),
        )
        .await
        .unwrap();
    eventually("Synced", || async {
        let status = app.status().await;
        (status["sync"]["status"] == "Synced").then_some(())
    })
    .await;
    app.settled().await;
    let api: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(app.client.clone(), &app.target);
    api.delete("cm-3", &DeleteParams::background())
        .await
        .unwrap();
    eventually("OutOfSync after the deletion", || async {
        let status = app.status().await;
        (status["sync"]["status"] == "OutOfSync").then_some(())
    })
    .await;
    app.running.controller.wait_idle().await;
    app.gets.0.store(0, Ordering::SeqCst);
    for _ in 0..3 {
        app.running.controller.refresh(Some("absent"), false);
        app.running.controller.wait_idle().await;
    }
    assert_eq!(
        app.stats().last_provider_observations,
        0,
        "{:?}",
        app.stats()
    );
    assert_eq!(
        app.gets.0.load(Ordering::SeqCst),
        0,
        "refreshes after a deletion the watch saw read the API server"
    );
    let out_of_sync: Vec<String> = app.status().await["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "OutOfSync")
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(out_of_sync, ["cm-3"]);
    app.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_git_and_cluster_changes_the_plan_equals_the_full_plan() {
    // Without selfHeal: the cluster's edits stay, so the compared plans have changes.
    let app = Fixture::new("planner-check", "check", automated(true, false), true).await;
    app.settled().await;

    // Git: one edited, one added, one removed (pruned).
    let edited = app.files[1].1.replace("v: \"1\"", "v: \"git\"");
    let added = config_map("cm-new", "n");
    app.repo.commit(
        &[("app/cm-1.yaml", &edited), ("app/cm-new.yaml", &added)],
        &["app/cm-5.yaml"],
        "edit, add, remove",
    );
    app.running
        .controller
        .repository_changed(&app.repo.url, Some("main"));
    eventually("cm-5 pruned and cm-new created", || async {
        (config_map_value(&app.client, &app.target, "cm-5")
            .await
            .is_none()
            && config_map_value(&app.client, &app.target, "cm-new")
                .await
                .is_some())
        .then_some(())
    })
    .await;
    app.running.controller.wait_idle().await;

    // The cluster: an edit, a deletion, an object that loses the label the watches select,
    // and edits of one object in quick succession.
    patch_config_map(&app.client, &app.target, "cm-2", "edited").await;
    let api: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(app.client.clone(), &app.target);
    api.delete("cm-3", &DeleteParams::background())
        .await
        .unwrap();
    api.patch(
        "cm-4",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app.kubernetes.io/managed-by": null}}})),
    )
    .await
    .unwrap();
    for value in ["a", "b", "c"] {
        patch_config_map(&app.client, &app.target, "cm-6", value).await;
    }
    eventually("OutOfSync", || async {
        let status = app.status().await;
        (status["sync"]["status"] == "OutOfSync").then_some(())
    })
    .await;
    // Let the watches deliver everything, then plan both ways.
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.running.controller.refresh(Some("check"), false);
    app.running.controller.wait_idle().await;
    let before = app.stats();
    app.running.controller.replan("check", Replan::Resync);
    app.running.controller.wait_idle().await;
    let after = app.stats();
    assert_eq!(after.cross_checks, before.cross_checks + 1, "{after:?}");
    assert_eq!(
        after.mismatches, 0,
        "the incremental plan differs from Engine::plan: {after:?}"
    );
    assert_eq!(after.full_plans, before.full_plans + 1, "{after:?}");
    let status = app.status().await;
    let out_of_sync: Vec<&str> = status["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "OutOfSync")
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(out_of_sync, ["cm-2", "cm-3", "cm-4", "cm-6"]);

    // The statistics, as /metrics serves them.
    let count = |kind: &str| {
        app.metric("strata_app_plans_total", &format!(",kind=\"{kind}\""))
            .unwrap()
    };
    assert_eq!(count("incremental"), after.incremental_plans as f64);
    assert_eq!(count("full"), after.full_plans as f64);
    assert_eq!(
        app.metric("strata_app_plan_cross_checks_total", ""),
        Some(after.cross_checks as f64)
    );
    assert_eq!(
        app.metric("strata_app_plan_mismatches_total", ""),
        Some(0.0)
    );
    assert_eq!(
        app.metric("strata_app_plan_compared_resources_total", ""),
        Some(after.compared_total as f64)
    );
    assert_eq!(
        app.metric("strata_app_plan_last_duration_seconds", ""),
        Some(after.last_plan_micros as f64 / 1e6)
    );
    assert_eq!(
        app.metric("strata_app_plan_last_api_reads", ""),
        Some(after.last_provider_observations as f64)
    );

    // A hard refresh starts a fresh planner; the next refresh plans from the caches again.
    app.running.controller.replan("check", Replan::Hard);
    app.running.controller.wait_idle().await;
    let hard = app.stats();
    assert_eq!(hard.full_plans, after.full_plans + 1, "{hard:?}");
    assert_eq!(hard.cross_checks, after.cross_checks, "{hard:?}");
    assert_eq!(count("full"), hard.full_plans as f64);
    app.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sync_reads_each_object_before_creating_it_and_leaves_foreign_ones_alone() {
    // Never synced: the plans settle on the watch caches, which then answer "missing" for
    // every object without asking the API server.
    let app = Fixture::new("planner-foreign", "foreign", json!({}), false).await;
    eventually("OutOfSync", || async {
        let status = app.status().await;
        (status["sync"]["status"] == "OutOfSync").then_some(())
    })
    .await;
    app.settled().await;

    // Someone creates one of the objects by hand, without Strata's labels: the watches,
    // which select those labels, do not see it, and a refresh still plans to create it.
    let api: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(app.client.clone(), &app.target);
    let foreign: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "cm-5"},
        "data": {"v": "foreign"}
    }))
    .unwrap();
    api.create(&Default::default(), &foreign).await.unwrap();
    app.gets.0.store(0, Ordering::SeqCst);
    app.running.controller.refresh(Some("foreign"), false);
    app.running.controller.wait_idle().await;
    assert_eq!(
        app.gets.0.load(Ordering::SeqCst),
        0,
        "the refresh planned from the watch caches alone"
    );

    // The sync reads each object it would create first, finds cm-5, plans again and refuses
    // to take over an object another manager made.
    let status = app
        .running
        .controller
        .sync(
            "foreign",
            strata_gitops::reconcile::SyncRequest::new(false, false),
        )
        .await
        .unwrap();
    let operation = status.operation_state.expect("the sync's operation state");
    assert_ne!(
        operation.phase,
        strata_gitops::status::OperationPhase::Succeeded,
        "{operation:?}"
    );
    assert!(operation.message.contains("cm-5"), "{operation:?}");
    let live = api.get("cm-5").await.unwrap();
    assert_eq!(
        live.data.unwrap().get("v").map(String::as_str),
        Some("foreign")
    );
    assert!(
        live.metadata
            .labels
            .unwrap_or_default()
            .keys()
            .all(|k| !k.contains("strata")),
        "the foreign object was labelled as Strata's"
    );
    app.running.stop().await;
}
