//! Snapshots of the drift report formats for a realistic case: a Deployment scaled by hand
//! (replicas ignored via ignoreDifferences), an image changed in Git, a label added in the
//! cluster, and a Secret whose value was edited in the cluster.

use serde_json::{Value, json};
use strata_drift::{
    ChangeOrigin, DriftEngine, DriftPolicy, DriftRules, IgnoreDifference, PolicyMode,
    ResourceInput, Selector,
};

fn deployment_last_applied() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "checkout", "namespace": "shop", "labels": {"app": "checkout", "team": "payments"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "checkout"}},
            "template": {
                "metadata": {"labels": {"app": "checkout"}},
                "spec": {"containers": [{
                    "name": "checkout",
                    "image": "registry.example.com/shop/checkout:1.4.0",
                    "ports": [{"containerPort": 8080}],
                    "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"cpu": "1000m"}}
                }]}
            }
        }
    })
}

fn scenario() -> (DriftEngine, Vec<ResourceInput>) {
    let last_applied = deployment_last_applied();
    let mut desired = last_applied.clone();
    desired["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!("registry.example.com/shop/checkout:1.5.0");

    let mut live = last_applied.clone();
    live["spec"]["replicas"] = json!(7);
    live["metadata"]["labels"]["debug"] = json!("true");
    live["metadata"]["resourceVersion"] = json!("918273");
    live["metadata"]["uid"] = json!("6f1c0e7a-4c1e-4a5e-9b1d-2f0c7d8e9a10");
    live["metadata"]["generation"] = json!(5);
    live["metadata"]["creationTimestamp"] = json!("2026-10-01T09:00:00Z");
    live["metadata"]["managedFields"] = json!([
        {"manager": "strata", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {
            "f:metadata": {"f:labels": {"f:app": {}, "f:team": {}}},
            "f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"checkout\"}": {".": {}, "f:image": {}, "f:resources": {"f:limits": {"f:cpu": {}}}}}}}}}},
        {"manager": "kubectl-scale", "operation": "Update", "subresource": "scale", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
        {"manager": "kubectl-label", "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {"f:debug": {}}}}}
    ]);
    let c = &mut live["spec"]["template"]["spec"]["containers"][0];
    c["resources"]["limits"]["cpu"] = json!("1");
    c["imagePullPolicy"] = json!("IfNotPresent");
    c["ports"][0]["protocol"] = json!("TCP");
    live["status"] = json!({"replicas": 7, "readyReplicas": 7});

    let secret_applied = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "checkout-db", "namespace": "shop"}, "type": "Opaque",
        "stringData": {"password": "correct-horse"}});
    let secret_live = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "checkout-db", "namespace": "shop", "resourceVersion": "77"}, "type": "Opaque",
        "data": {"password": "aHVudGVyMg=="}});

    let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "checkout-flags", "namespace": "shop"}, "data": {"beta": "false"}});

    let rules = DriftRules::from_ignore_differences(vec![IgnoreDifference {
        group: "apps".into(),
        kind: "Deployment".into(),
        json_pointers: vec!["/spec/replicas".into()],
        ..IgnoreDifference::default()
    }])
    .expect("valid rules");
    let policy = DriftPolicy::with_default(PolicyMode::DetectOnly).rule(
        Selector {
            kind: "Secret".into(),
            ..Selector::default()
        },
        PolicyMode::SelfHeal,
    );
    let inputs = vec![
        ResourceInput {
            desired: Some(desired),
            last_applied: Some(last_applied),
            live: Some(live),
        },
        ResourceInput {
            desired: Some(secret_applied.clone()),
            last_applied: Some(secret_applied),
            live: Some(secret_live),
        },
        ResourceInput {
            desired: Some(config_map.clone()),
            last_applied: Some(config_map.clone()),
            live: Some(config_map),
        },
    ];
    (DriftEngine::new(rules, policy), inputs)
}

#[test]
fn realistic_report_content() {
    let (engine, inputs) = scenario();
    let report = engine.report(inputs);
    let deploy = &report.resources[0];
    assert_eq!(deploy.changes.len(), 1, "{:#?}", deploy.changes);
    let image = &deploy.changes[0];
    assert_eq!(image.path, "/spec/template/spec/containers/0/image");
    assert_eq!(image.origin, ChangeOrigin::Git);
    assert_eq!(image.manager.as_deref(), Some("strata"));
    assert!(
        deploy
            .ignored
            .iter()
            .any(|i| i.path == "/spec/replicas" && i.reason == "ignoreDifferences")
    );
    assert!(
        deploy
            .ignored
            .iter()
            .any(|i| i.path == "/metadata/labels/debug")
    );
    let secret = &report.resources[1];
    assert_eq!(secret.changes.len(), 1);
    assert_eq!(secret.changes[0].origin, ChangeOrigin::World);
    assert!(secret.changes[0].sensitive);
    assert_eq!(secret.policy, PolicyMode::SelfHeal);
    assert!(!report.resources[2].is_drifted());
    assert_eq!(report.exit_code(), 2);
    for text in [
        report.to_human(),
        report.to_markdown(),
        report.to_json().to_string(),
    ] {
        assert!(
            !text.contains("aHVudGVyMg=="),
            "secret value leaked: {text}"
        );
        assert!(
            !text.contains("Y29ycmVjdC1ob3JzZQ=="),
            "secret value leaked: {text}"
        );
        assert!(text.contains("(sensitive)"));
    }
}

#[test]
fn snapshot_human() {
    let (engine, inputs) = scenario();
    insta::assert_snapshot!("drift_report_human", engine.report(inputs).to_human());
}

#[test]
fn snapshot_markdown() {
    let (engine, inputs) = scenario();
    insta::assert_snapshot!("drift_report_markdown", engine.report(inputs).to_markdown());
}

#[test]
fn snapshot_json() {
    let (engine, inputs) = scenario();
    insta::assert_json_snapshot!("drift_report_json", engine.report(inputs).to_json());
}

#[test]
fn markdown_stays_within_the_comment_limit() {
    let (engine, inputs) = scenario();
    let report = engine.report(inputs);
    let full = report.to_markdown();
    let small = report.to_markdown_within(1_200);
    assert!(small.len() <= 1_200, "{} chars", small.len());
    assert!(
        small.contains("| `apps/Deployment/shop/checkout` |"),
        "summary table is always kept"
    );
    assert!(small.contains("left out to fit the comment size limit"));
    assert!(full.len() > small.len());
    assert!(!full.contains("left out"));
}

#[test]
fn exit_codes() {
    let (engine, inputs) = scenario();
    let mut report = engine.report(inputs);
    assert_eq!(report.exit_code(), 2);
    report.errors.push(strata_drift::ReportError {
        resource: None,
        message: "boom".into(),
    });
    assert_eq!(report.exit_code(), 1);
    let clean = engine.report(Vec::new());
    assert_eq!(clean.exit_code(), 0);
    assert!(clean.to_human().starts_with("No drift."));
}
