//! Hostile expressions fail only their own object: Go templates that recurse forever or
//! build gigantic strings (in a Helm chart and in an ApplicationSet) and jq `ignoreDifferences`
//! expressions that never terminate each give their Application a ComparisonError (or their
//! ApplicationSet an error condition) naming the limit, while a healthy Application beside
//! them keeps syncing.

#![allow(clippy::unwrap_used)]

use crate::support;

use std::time::Instant;

use serde_json::{Value, json};
use support::*;

const RECURSIVE: &str = r#"{{define "x"}}{{template "x" .}}{{end}}{{template "x" .}}"#;
const REPEAT: &str = r#"{{ repeat 2000000000 "xxxxxxxxxx" | len }}"#;

fn chart(name: &str, template: &str) -> [(String, String); 2] {
    [
        (
            format!("charts/{name}/Chart.yaml"),
            format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n"),
        ),
        (
            format!("charts/{name}/templates/cm.yaml"),
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: {template}\n"
            ),
        ),
    ]
}

fn ignoring(app: Value, expression: &str) -> Value {
    let mut app = app;
    app["spec"]["ignoreDifferences"] =
        json!([{"group": "", "kind": "ConfigMap", "jqPathExpressions": [expression]}]);
    app
}

/// Waits for the ComparisonError of `name` and returns its message.
async fn comparison_error(client: &kube::Client, control: &str, name: &str) -> String {
    let status = eventually(&format!("a ComparisonError on {name}"), || async {
        let status = app_status(client, control, name).await;
        (status["conditions"][0]["type"] == "ComparisonError").then_some(status)
    })
    .await;
    status["conditions"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The peak resident memory of this process (the controller runs in it), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_expressions_fail_only_their_own_application() {
    let plane = strata_testkube::shared();
    let client = plane.client().await.unwrap();
    let control = plane
        .namespace(&client, "gitops-hostile-argocd")
        .await
        .unwrap();
    let target = plane.namespace(&client, "gitops-hostile").await.unwrap();
    let mut files: Vec<(String, String)> = vec![
        ("good/settings.yaml".into(), config_map("settings", "1")),
        ("plain/cm.yaml".into(), config_map("plain", "1")),
    ];
    files.extend(chart("recursive", RECURSIVE));
    files.extend(chart("repeat", REPEAT));
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let repo = Repo::new(&borrowed);
    let cache = tempfile::tempdir().unwrap();
    let running = start(&client, config(&control, &cache), cache);
    let policy = json!({"automated": {"prune": true, "selfHeal": true}});
    let started = Instant::now();
    for (name, path) in [
        ("hostile-good", "good"),
        ("hostile-helm-recursion", "charts/recursive"),
        ("hostile-helm-repeat", "charts/repeat"),
    ] {
        let app = application(name, &repo.url, path, &target, policy.clone());
        create_application(&client, &control, &app).await;
    }
    for (name, expression) in [
        ("hostile-jq-def", "def f: f; f"),
        ("hostile-jq-until", ".spec | until(false; .)"),
    ] {
        let app = application(name, &repo.url, "plain", &target, policy.clone());
        create_application(&client, &control, &ignoring(app, expression)).await;
    }
    let appsets: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        client.clone(),
        &control,
        &strata_gitops::controller::argo_resource("ApplicationSet", "applicationsets"),
    );
    for (name, template) in [
        ("hostile-set-recursion", RECURSIVE),
        ("hostile-set-repeat", REPEAT),
    ] {
        let appset = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": name},
            "spec": {
                "goTemplate": true,
                "generators": [{"list": {"elements": [{"svc": "x"}]}}],
                "template": {
                    "metadata": {"name": format!("{name}-{template}")},
                    "spec": {"project": "default",
                             "source": {"repoURL": repo.url, "path": "good"},
                             "destination": {"server": "https://kubernetes.default.svc",
                                             "namespace": target}}
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
    }

    let message = comparison_error(&client, &control, "hostile-helm-recursion").await;
    // Helm's renderer nests at most 1,000 templates.
    assert!(
        message.contains("exceeded maximum template depth (1000)"),
        "{message}"
    );
    assert!(message.contains("cm.yaml"), "names the file: {message}");
    let message = comparison_error(&client, &control, "hostile-helm-repeat").await;
    assert!(message.contains("max_value_bytes"), "{message}");
    for name in ["hostile-jq-def", "hostile-jq-until"] {
        let message = comparison_error(&client, &control, name).await;
        assert!(message.contains("spec.ignoreDifferences"), "{message}");
        assert!(
            message.contains("steps of recursion or iteration")
                || message.contains("recursed too deeply")
                || message.contains("timed out"),
            "names the limit: {message}"
        );
    }
    for (name, limit) in [
        (
            "hostile-set-recursion",
            "exceeded maximum template depth (100000)",
        ),
        ("hostile-set-repeat", "max_value_bytes"),
    ] {
        let status = eventually(&format!("the error of {name}"), || async {
            let value = serde_json::to_value(appsets.get(name).await.unwrap()).unwrap();
            (value["status"]["conditions"][0]["status"] == "True").then_some(value)
        })
        .await;
        let message = status["status"]["conditions"][0]["message"]
            .as_str()
            .unwrap();
        assert!(message.contains(limit), "{name}: {message}");
    }
    let failed_after = started.elapsed();

    // The healthy Application synced, and keeps syncing new commits.
    eventually("the healthy Application synced", || async {
        (config_map_value(&client, &target, "settings")
            .await
            .as_deref()
            == Some("1"))
        .then_some(())
    })
    .await;
    repo.commit(
        &[("good/settings.yaml", &config_map("settings", "2"))],
        &[],
        "two",
    );
    running
        .controller
        .repository_changed(&repo.url, Some("main"));
    eventually("the healthy Application's next revision", || async {
        (config_map_value(&client, &target, "settings")
            .await
            .as_deref()
            == Some("2"))
        .then_some(())
    })
    .await;
    eventually("the healthy Application Synced", || async {
        let status = app_status(&client, &control, "hostile-good").await;
        (status["sync"]["status"] == "Synced").then_some(())
    })
    .await;
    // Nothing of the hostile sources reached the cluster.
    for name in ["recursive", "repeat"] {
        assert!(config_map_value(&client, &target, name).await.is_none());
    }
    let peak = peak_rss();
    eprintln!(
        "hostile inputs failed within {failed_after:?}; peak RSS {} MiB",
        peak >> 20
    );
    assert!(peak < 1 << 30, "peak RSS {} MiB", peak >> 20);
    running.stop().await;
}
