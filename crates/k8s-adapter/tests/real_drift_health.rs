//! Drift and health against a real kube-apiserver (with etcd): drift read from live objects
//! and their real `managedFields`, and the executor's health gates fed by live status.
//!
//! No kubelet or controller runs here: the tests write `status` themselves, through the status
//! subresource, as the Deployment controller or an operator would.

#![allow(clippy::unwrap_used)]

use crate::real;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};
use strata_core::plan::Action;
use strata_core::sensitive::Sensitivity;
use strata_core::state::ResourceStatus;
use strata_core::{Engine, Graph, Health, Provider, Resource};
use strata_drift::{
    ChangeOrigin, DriftEngine, DriftPolicy, DriftReport, DriftRules, DriftStatus, FieldChange,
    IgnoreDifference, IgnoredField, stack_inputs,
};
use strata_k8s::{KubeProvider, KubeProviderOptions};

use real::{
    annotated, config_map, data_of, data_owners, engine, engine_with_rules, eventually, kubectl,
    plan_and_apply, plan_then_apply, saved_state, setup,
};

/// What `strata drift` reports for `desired` of `stack`: observe, then compare desired, state
/// and live (as the CLI builds it).
async fn drift_report(
    engine: &Engine,
    rules: DriftRules,
    stack: &str,
    desired: &[Resource],
) -> DriftReport {
    let mut resources = desired.to_vec();
    let state = saved_state(engine).await;
    let graph = Graph::build(&resources).unwrap();
    let observations = engine
        .resolve_and_observe(&mut resources, &graph, &state)
        .await
        .expect("observed");
    let sensitivity = Sensitivity::default();
    let inputs = stack_inputs(stack, &resources, &state, &observations, &sensitivity);
    DriftEngine::new(rules, DriftPolicy::default()).report(inputs)
}

/// `kubectl patch` of a ConfigMap's data with a merge patch, as field manager `manager`.
fn kubectl_patch_data(namespace: &str, name: &str, manager: &str, data: Value) {
    kubectl(
        &[
            "patch",
            "configmap",
            name,
            "-n",
            namespace,
            "--type",
            "merge",
            "--field-manager",
            manager,
            "-p",
            &json!({ "data": data }).to_string(),
        ],
        None,
    );
}

#[tokio::test]
async fn a_kubectl_patch_is_drift_in_the_world_owned_by_its_field_manager() {
    let (client, namespace) = setup("drift-patch").await;
    let stack = namespace.as_str();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(
        KubeProvider::new(client.clone(), KubeProviderOptions::default()),
        dir.path(),
    );
    let settings = config_map(
        &namespace,
        "settings",
        json!({"mode": "fast", "level": "1"}),
    );
    plan_and_apply(&engine, vec![settings.clone()], stack).await;
    let clean = drift_report(
        &engine,
        DriftRules::default(),
        stack,
        std::slice::from_ref(&settings),
    )
    .await;
    assert!(!clean.has_drift(), "{clean:?}");
    assert_eq!(clean.exit_code(), 0);

    kubectl_patch_data(&namespace, "settings", "other", json!({"mode": "slow"}));

    let report = drift_report(
        &engine,
        DriftRules::default(),
        stack,
        std::slice::from_ref(&settings),
    )
    .await;
    assert_eq!(report.resources.len(), 1);
    let drift = &report.resources[0];
    assert_eq!(drift.status, DriftStatus::Drifted);
    assert!(drift.three_way);
    assert_eq!(
        drift.changes,
        vec![FieldChange {
            path: "/data/mode".to_owned(),
            readable: Some("data.mode".to_owned()),
            desired: Some(json!("fast")),
            last_applied: Some(json!("fast")),
            live: Some(json!("slow")),
            origin: ChangeOrigin::World,
            manager: Some("other".to_owned()),
            sensitive: false,
        }]
    );
    assert_eq!(report.exit_code(), 2);
    assert!(report.to_human().contains("other"), "{}", report.to_human());
}

#[tokio::test]
async fn the_next_apply_heals_a_field_removed_in_the_world() {
    let (client, namespace) = setup("drift-heal-removed").await;
    let stack = namespace.as_str();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(
        KubeProvider::new(client.clone(), KubeProviderOptions::default()),
        dir.path(),
    );
    let settings = config_map(
        &namespace,
        "settings",
        json!({"mode": "fast", "level": "1"}),
    );
    plan_and_apply(&engine, vec![settings.clone()], stack).await;
    kubectl_patch_data(&namespace, "settings", "other", json!({"level": null}));
    let report = drift_report(
        &engine,
        DriftRules::default(),
        stack,
        std::slice::from_ref(&settings),
    )
    .await;
    assert_eq!(report.resources[0].changes.len(), 1, "{report:?}");
    assert_eq!(report.resources[0].changes[0].path, "/data/level");
    assert_eq!(report.resources[0].changes[0].origin, ChangeOrigin::World);
    assert_eq!(report.resources[0].changes[0].live, None);

    let (actions, _) = plan_and_apply(&engine, vec![settings.clone()], stack).await;
    assert_eq!(actions, vec![(settings.key.clone(), Action::Update)]);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let healed = config_maps.get("settings").await.unwrap();
    assert_eq!(data_of(&healed), json!({"level": "1", "mode": "fast"}));
    let strata_owns: Vec<String> = data_owners(&healed)
        .into_iter()
        .filter(|(manager, _, _)| manager == "strata")
        .flat_map(|(_, _, keys)| keys)
        .collect();
    assert_eq!(strata_owns, vec!["level", "mode"]);
    let after = drift_report(&engine, DriftRules::default(), stack, &[settings]).await;
    assert!(!after.has_drift(), "{after:?}");
}

#[tokio::test]
async fn a_value_another_manager_changed_is_healed_only_with_force() {
    let (client, namespace) = setup("drift-heal-changed").await;
    let stack = namespace.as_str();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(
        KubeProvider::new(client.clone(), KubeProviderOptions::default()),
        dir.path(),
    );
    let settings = config_map(&namespace, "settings", json!({"mode": "fast"}));
    plan_and_apply(&engine, vec![settings.clone()], stack).await;
    let before = saved_state(&engine).await;
    kubectl_patch_data(&namespace, "settings", "other", json!({"mode": "slow"}));

    // The patch moved the field to manager "other": a polite apply conflicts, is not retried,
    // and changes neither the object nor the state.
    let refused = plan_then_apply(&engine, vec![settings.clone()], stack).await;
    assert_eq!(
        refused.actions,
        vec![(settings.key.clone(), Action::Update)]
    );
    assert_eq!(refused.report.failed.len(), 1, "{:?}", refused.report);
    let (key, message) = &refused.report.failed[0];
    assert_eq!(key, &settings.key);
    assert!(
        message.starts_with(&format!(
            "conflict while applying ConfigMap/{namespace}/settings (409): Apply failed with 1 conflict: conflict with \"other\""
        )),
        "{message}"
    );
    assert!(
        message.contains("annotate the resource with strata.dev/force-conflicts: \"true\""),
        "{message}"
    );
    assert!(
        !refused
            .events
            .iter()
            .any(|e| matches!(e, strata_core::executor::Event::Retrying { .. })),
        "{:?}",
        refused.events
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    assert_eq!(
        data_of(&config_maps.get("settings").await.unwrap()),
        json!({"mode": "slow"})
    );
    // The update's write-ahead intent is put back as it was when the server refuses.
    assert_eq!(saved_state(&engine).await.resources, before.resources);

    // Asked to take fields over (per resource), the next apply heals it.
    let forced = annotated(
        settings.clone(),
        json!({"strata.dev/force-conflicts": "true"}),
    );
    let (actions, _) = plan_and_apply(&engine, vec![forced.clone()], stack).await;
    assert_eq!(actions, vec![(settings.key.clone(), Action::Update)]);
    let healed = config_maps.get("settings").await.unwrap();
    assert_eq!(data_of(&healed), json!({"mode": "fast"}));
    assert_eq!(
        data_owners(&healed)
            .into_iter()
            .filter(|(_, _, keys)| keys.contains(&"mode".to_owned()))
            .map(|(manager, operation, _)| (manager, operation))
            .collect::<Vec<_>>(),
        vec![("strata".to_owned(), "Apply".to_owned())]
    );
    let after = drift_report(&engine, DriftRules::default(), stack, &[forced]).await;
    assert!(!after.has_drift(), "{after:?}");
}

#[tokio::test]
async fn differences_owned_by_a_trusted_manager_are_not_drift_and_not_planned() {
    let (client, namespace) = setup("drift-trusted").await;
    let stack = namespace.as_str();
    let dir = tempfile::tempdir().unwrap();
    let rules = DriftRules::from_ignore_differences(vec![IgnoreDifference {
        group: String::new(),
        kind: "ConfigMap".into(),
        managed_fields_managers: vec!["autoscaler".into()],
        ..IgnoreDifference::default()
    }])
    .unwrap();
    let engine = engine_with_rules(
        KubeProvider::new(client.clone(), KubeProviderOptions::default()),
        dir.path(),
        rules.clone(),
    );
    let settings = config_map(
        &namespace,
        "settings",
        json!({"mode": "fast", "replicas": "2"}),
    );
    plan_and_apply(&engine, vec![settings.clone()], stack).await;
    kubectl_patch_data(
        &namespace,
        "settings",
        "autoscaler",
        json!({"replicas": "5"}),
    );

    // Without the rule it is drift in the world, owned by the autoscaler …
    let plain = drift_report(
        &engine,
        DriftRules::default(),
        stack,
        std::slice::from_ref(&settings),
    )
    .await;
    assert_eq!(plain.resources[0].changes.len(), 1, "{plain:?}");
    assert_eq!(
        plain.resources[0].changes[0].manager.as_deref(),
        Some("autoscaler")
    );
    // … with it, the difference is ignored and says why.
    let trusted = drift_report(&engine, rules, stack, std::slice::from_ref(&settings)).await;
    let drift = &trusted.resources[0];
    assert_eq!(drift.status, DriftStatus::InSync, "{drift:?}");
    assert_eq!(drift.changes, vec![]);
    assert_eq!(
        drift.ignored,
        vec![IgnoredField {
            path: "/data/replicas".to_owned(),
            readable: Some("data.replicas".to_owned()),
            reason: "managed by autoscaler".to_owned(),
        }]
    );
    assert_eq!(trusted.exit_code(), 0);

    // The plan compares through the same rules: nothing to do, the autoscaler's value stays.
    let (actions, _) = plan_and_apply(&engine, vec![settings.clone()], stack).await;
    assert_eq!(actions, vec![(settings.key.clone(), Action::NoOp)]);
    let live = Api::<ConfigMap>::namespaced(client.clone(), &namespace)
        .get("settings")
        .await
        .unwrap();
    assert_eq!(data_of(&live), json!({"mode": "fast", "replicas": "5"}));
}

fn deployment(namespace: &str) -> Resource {
    Resource::from_manifest(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "registry.invalid/web:1"}]}}}}))
    .unwrap()
}

#[tokio::test]
async fn a_deployment_holds_the_next_wave_until_its_status_says_it_rolled_out() {
    let (client, namespace) = setup("health-deployment").await;
    let stack = namespace.as_str();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(
        KubeProvider::new(client.clone(), KubeProviderOptions::default()),
        dir.path(),
    );
    let web = deployment(&namespace);
    let after = annotated(
        config_map(&namespace, "after", json!({})),
        json!({"argocd.argoproj.io/sync-wave": "1"}),
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let provider = KubeProvider::new(client.clone(), KubeProviderOptions::default());

    // The Deployment controller's stand-in: once the Deployment exists, it is Progressing and
    // the next wave waits; after a while the rollout completes.
    let controller = async {
        let created = eventually(Duration::from_secs(30), "the Deployment", || async {
            deployments.get_opt("web").await.unwrap()
        })
        .await;
        let observed = provider.observe(&web).await.unwrap().live.expect("present");
        let before = provider.health(&observed.value());
        tokio::time::sleep(Duration::from_millis(600)).await;
        let next_wave_started = config_maps.get_opt("after").await.unwrap().is_some();
        let generation = created.metadata.generation.unwrap();
        deployments
            .patch_status(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"observedGeneration": generation,
                    "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
                    "conditions": [{"type": "Available", "status": "True",
                        "reason": "MinimumReplicasAvailable", "message": "ready",
                        "lastUpdateTime": "2026-01-01T00:00:00Z",
                        "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})),
            )
            .await
            .expect("status written");
        (before, next_wave_started)
    };
    let (applied, (before, next_wave_started)) = tokio::join!(
        plan_then_apply(&engine, vec![after.clone(), web.clone()], stack),
        controller
    );
    assert!(applied.report.is_success(), "{:?}", applied.report);
    assert_eq!(before, Health::Progressing);
    assert!(!next_wave_started, "the next wave waited for the rollout");
    let live = provider.observe(&web).await.unwrap().live.unwrap();
    assert_eq!(provider.health(&live.value()), Health::Healthy);
    assert!(config_maps.get_opt("after").await.unwrap().is_some());
}

const PROBE_GROUP: &str = "probes.testkube.strata.dev";

fn probe_crd() -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("probes.{PROBE_GROUP}")},
        "spec": {"group": PROBE_GROUP, "scope": "Namespaced",
            "names": {"plural": "probes", "singular": "probe", "kind": "Probe", "listKind": "ProbeList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}})
}

fn probe(namespace: &str, size: i64) -> Resource {
    Resource::from_manifest(
        json!({"apiVersion": format!("{PROBE_GROUP}/v1"), "kind": "Probe",
        "metadata": {"name": "backend", "namespace": namespace}, "spec": {"size": size}}),
    )
    .unwrap()
}

#[tokio::test]
async fn a_degraded_custom_resource_stops_the_next_wave() {
    let (client, namespace) = setup("health-degraded").await;
    let stack = namespace.as_str();
    let provider = KubeProvider::new(client.clone(), KubeProviderOptions::default());
    provider
        .create(&Resource::from_manifest(probe_crd()).unwrap())
        .await
        .expect("CRD established");
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(
        KubeProvider::new(client.clone(), KubeProviderOptions::default()),
        dir.path(),
    );
    plan_and_apply(&engine, vec![probe(&namespace, 1)], stack).await;
    // Its operator reports it failing.
    let probes: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &namespace,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(PROBE_GROUP, "v1", "Probe"),
            "probes",
        ),
    );
    probes
        .patch_status(
            "backend",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"conditions": [{"type": "Ready", "status": "False",
                "reason": "ReconcileError", "message": "backend unreachable",
                "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}),
            ),
        )
        .await
        .expect("status written");
    let live = provider
        .observe(&probe(&namespace, 1))
        .await
        .unwrap()
        .live
        .unwrap();
    assert_eq!(provider.health(&live.value()), Health::Degraded);

    let next = annotated(
        config_map(&namespace, "next", json!({})),
        json!({"argocd.argoproj.io/sync-wave": "1"}),
    );
    let changed = probe(&namespace, 2);
    let applied = plan_then_apply(&engine, vec![changed.clone(), next.clone()], stack).await;
    let mut actions = applied.actions.clone();
    actions.sort();
    let mut expected = vec![
        (changed.key.clone(), Action::Update),
        (next.key.clone(), Action::Create),
    ];
    expected.sort();
    assert_eq!(actions, expected);
    assert_eq!(
        applied.report.failed,
        vec![(
            changed.key.clone(),
            format!(
                "{} is degraded; the next sync step does not start",
                changed.key
            )
        )]
    );
    assert_eq!(applied.report.skipped.len(), 1, "{:?}", applied.report);
    assert_eq!(applied.report.skipped[0].0, next.key);
    // The probe's change was applied; the next wave was not.
    let live = probes.get("backend").await.unwrap();
    assert_eq!(live.data["spec"], json!({"size": 2}));
    assert!(
        Api::<ConfigMap>::namespaced(client.clone(), &namespace)
            .get_opt("next")
            .await
            .unwrap()
            .is_none()
    );
    let state = saved_state(&engine).await;
    assert_eq!(
        state.get(&changed.key).map(|r| r.status),
        Some(ResourceStatus::Applied)
    );
    assert!(state.get(&next.key).is_none());
}
