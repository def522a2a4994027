//! The controller's incremental planner against a real kube-apiserver: drift made directly on
//! the cluster is found through the watch-fed planner and healed without observing every
//! resource again, a Git change of one manifest re-plans that resource only, and after a
//! sequence of Git and cluster changes the controller's plan equals `Engine::plan`'s (the
//! resync's cross-check).

#![allow(clippy::unwrap_used)]

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};
use strata_gitops::controller::{Controller, Observer};
use strata_gitops::planning::{PlannerStats, Replan};
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
    let (client, control, target) = namespaces("planner-heal").await;
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
    create_application(
        &client,
        &control,
        &application("heal", &repo.url, "app", &target, automated(true, true)),
    )
    .await;
    eventually("Synced", || async {
        let status = app_status(&client, &control, "heal").await;
        (status["sync"]["status"] == "Synced").then_some(())
    })
    .await;
    let before = settled(&running.controller, "heal").await;
    assert!(
        !before.last_rebuilt,
        "a quiet refresh re-plans nothing: {before:?}"
    );
    assert_eq!(before.last_compared, 0, "{before:?}");

    // An edit on the cluster, as `kubectl patch` makes it.
    gets.0.store(0, Ordering::SeqCst);
    patch_config_map(&client, &target, "cm-3", "drift").await;
    eventually("the drift healed", || async {
        (config_map_value(&client, &target, "cm-3").await.as_deref() == Some("1")).then_some(())
    })
    .await;
    running.controller.wait_idle().await;
    let after = stats(&running.controller, "heal");
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
    let requests = gets.0.load(Ordering::SeqCst);
    assert!(
        requests < OBJECTS,
        "{requests} GET requests to heal one of {OBJECTS} objects"
    );
    let status = app_status(&client, &control, "heal").await;
    assert_eq!(status["sync"]["status"], "Synced");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_git_change_of_one_manifest_re_plans_only_that_resource() {
    let (client, control, target) = namespaces("planner-git").await;
    let files = files();
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let repo = Repo::new(&borrowed);
    let cache = tempfile::tempdir().unwrap();
    let running = start(&client, config(&control, &cache), cache);
    create_application(
        &client,
        &control,
        &application("git", &repo.url, "app", &target, automated(true, true)),
    )
    .await;
    eventually("Synced", || async {
        let status = app_status(&client, &control, "git").await;
        (status["sync"]["status"] == "Synced").then_some(())
    })
    .await;
    let before = settled(&running.controller, "git").await;

    let text = files[7].1.replace("v: \"1\"", "v: \"2\"");
    repo.commit(&[("app/cm-7.yaml", &text)], &[], "cm-7 to 2");
    running
        .controller
        .repository_changed(&repo.url, Some("main"));
    eventually("cm-7 updated", || async {
        (config_map_value(&client, &target, "cm-7").await.as_deref() == Some("2")).then_some(())
    })
    .await;
    running.controller.wait_idle().await;
    let after = stats(&running.controller, "git");
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
        let status = app_status(&client, &control, "git").await;
        (status["sync"]["status"] == "Synced"
            && status["history"].as_array().map(Vec::len) == Some(2))
        .then_some(())
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_git_and_cluster_changes_the_plan_equals_the_full_plan() {
    let (client, control, target) = namespaces("planner-check").await;
    let files = files();
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let repo = Repo::new(&borrowed);
    let cache = tempfile::tempdir().unwrap();
    let running = start(&client, config(&control, &cache), cache);
    // Without selfHeal: the cluster's edits stay, so the compared plans have changes.
    create_application(
        &client,
        &control,
        &application("check", &repo.url, "app", &target, automated(true, false)),
    )
    .await;
    eventually("Synced", || async {
        let status = app_status(&client, &control, "check").await;
        (status["sync"]["status"] == "Synced").then_some(())
    })
    .await;
    settled(&running.controller, "check").await;

    // Git: one edited, one added, one removed (pruned).
    let edited = files[1].1.replace("v: \"1\"", "v: \"git\"");
    let added = config_map("cm-new", "n");
    repo.commit(
        &[("app/cm-1.yaml", &edited), ("app/cm-new.yaml", &added)],
        &["app/cm-5.yaml"],
        "edit, add, remove",
    );
    running
        .controller
        .repository_changed(&repo.url, Some("main"));
    eventually("cm-5 pruned and cm-new created", || async {
        (config_map_value(&client, &target, "cm-5").await.is_none()
            && config_map_value(&client, &target, "cm-new").await.is_some())
        .then_some(())
    })
    .await;
    running.controller.wait_idle().await;

    // The cluster: an edit, a deletion, an object that loses the label the watches select,
    // and edits of one object in quick succession.
    patch_config_map(&client, &target, "cm-2", "edited").await;
    let api: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), &target);
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
        patch_config_map(&client, &target, "cm-6", value).await;
    }
    eventually("OutOfSync", || async {
        let status = app_status(&client, &control, "check").await;
        (status["sync"]["status"] == "OutOfSync").then_some(())
    })
    .await;
    // Let the watches deliver everything, then plan both ways.
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.controller.refresh(Some("check"), false);
    running.controller.wait_idle().await;
    let before = stats(&running.controller, "check");
    running.controller.replan("check", Replan::Resync);
    running.controller.wait_idle().await;
    let after = stats(&running.controller, "check");
    assert_eq!(after.cross_checks, before.cross_checks + 1, "{after:?}");
    assert_eq!(
        after.mismatches, 0,
        "the incremental plan differs from Engine::plan: {after:?}"
    );
    assert_eq!(after.full_plans, before.full_plans + 1, "{after:?}");
    let status = app_status(&client, &control, "check").await;
    let out_of_sync: Vec<&str> = status["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "OutOfSync")
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(out_of_sync, ["cm-2", "cm-3", "cm-4", "cm-6"]);

    // A hard refresh starts a fresh planner; the next refresh plans from the caches again.
    running.controller.replan("check", Replan::Hard);
    running.controller.wait_idle().await;
    let hard = stats(&running.controller, "check");
    assert_eq!(hard.full_plans, after.full_plans + 1, "{hard:?}");
    assert_eq!(hard.cross_checks, after.cross_checks, "{hard:?}");
    running.stop().await;
}
