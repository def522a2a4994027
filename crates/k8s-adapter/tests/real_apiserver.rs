//! The Kubernetes provider against a real kube-apiserver (with etcd), started once for this
//! test binary by `strata_testkube`; each test works in a fresh namespace and checks what the
//! server then holds.

#![allow(clippy::unwrap_used)]

mod real;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};
use strata_core::executor::Event;
use strata_core::plan::Action;
use strata_core::{Provider, Resource, ResourceKey};
use strata_k8s::{KubeProvider, KubeProviderOptions};

use real::{config_map, data_of, data_owners, engine, kubectl_apply, plan_and_apply, setup};

#[tokio::test]
async fn first_apply_creates_and_an_unchanged_reapply_writes_nothing() {
    let (client, namespace) = setup("ssa-create").await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(
        KubeProvider::new(client.clone(), KubeProviderOptions::default()),
        dir.path(),
    );
    let desired = config_map(&namespace, "settings", json!({"mode": "fast"}));

    let (actions, _) = plan_and_apply(&engine, vec![desired.clone()], "ssa").await;
    assert_eq!(actions, vec![(desired.key.clone(), Action::Create)]);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let created = config_maps.get("settings").await.expect("created");
    assert_eq!(data_of(&created), json!({"mode": "fast"}));
    let labels = created.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("strata")
    );
    assert_eq!(
        labels.get("strata.dev/stack").map(String::as_str),
        Some("ssa")
    );
    assert_eq!(
        data_owners(&created),
        vec![(
            "strata".to_owned(),
            "Apply".to_owned(),
            vec!["mode".to_owned()]
        )]
    );
    let first_version = created.metadata.resource_version.clone().unwrap();

    // The engine sees no difference and sends no write.
    let (actions, _) = plan_and_apply(&engine, vec![desired.clone()], "ssa").await;
    assert_eq!(actions, vec![(desired.key.clone(), Action::NoOp)]);
    let after_noop = config_maps.get("settings").await.unwrap();
    assert_eq!(
        after_noop.metadata.resource_version.as_deref(),
        Some(first_version.as_str())
    );

    // Even a direct server-side apply of the same fields leaves the object as it was.
    let provider = KubeProvider::new(client.clone(), KubeProviderOptions::default());
    let stamped = Resource::from_manifest(strata_core::ownership::stamp(&desired.manifest, "ssa"))
        .expect("stamped manifest");
    let applied = provider.apply(&stamped).await.expect("re-apply");
    assert_eq!(
        applied.live["metadata"]["resourceVersion"],
        json!(first_version)
    );
    let after_reapply = config_maps.get("settings").await.unwrap();
    assert_eq!(
        after_reapply.metadata.resource_version.as_deref(),
        Some(first_version.as_str())
    );
}

#[tokio::test]
async fn a_changed_manifest_updates_the_object() {
    let (client, namespace) = setup("ssa-update").await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(
        KubeProvider::new(client.clone(), KubeProviderOptions::default()),
        dir.path(),
    );
    let first = config_map(&namespace, "settings", json!({"mode": "fast"}));
    plan_and_apply(&engine, vec![first], "ssa").await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let before = config_maps.get("settings").await.unwrap();

    let second = config_map(
        &namespace,
        "settings",
        json!({"mode": "slow", "level": "3"}),
    );
    let (actions, _) = plan_and_apply(&engine, vec![second.clone()], "ssa").await;
    assert_eq!(actions, vec![(second.key.clone(), Action::Update)]);
    let after = config_maps.get("settings").await.unwrap();
    assert_eq!(data_of(&after), json!({"level": "3", "mode": "slow"}));
    assert_ne!(
        after.metadata.resource_version, before.metadata.resource_version,
        "an update writes"
    );
    assert_eq!(after.metadata.uid, before.metadata.uid, "the same object");
}

#[tokio::test]
async fn a_field_owned_by_another_manager_conflicts_until_forced() {
    let (client, namespace) = setup("ssa-conflict").await;
    kubectl_apply(
        "other",
        &json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": namespace},
            "data": {"mode": "slow", "owner": "other"}}),
    );
    let desired = config_map(&namespace, "settings", json!({"mode": "fast"}));
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);

    let polite = KubeProvider::new(client.clone(), KubeProviderOptions::default());
    let error = polite
        .update(&desired, &Value::Null)
        .await
        .expect_err("conflict");
    assert!(!error.is_retryable(), "{}", error.message);
    assert!(
        error.message.starts_with(&format!(
            "conflict while applying ConfigMap/{namespace}/settings (409): Apply failed with 1 conflict: conflict with \"other\""
        )),
        "{}",
        error.message
    );
    assert!(error.message.contains(".data.mode"), "{}", error.message);
    let untouched = config_maps.get("settings").await.unwrap();
    assert_eq!(
        data_of(&untouched),
        json!({"mode": "slow", "owner": "other"})
    );

    let forcing = KubeProvider::new(
        client.clone(),
        KubeProviderOptions {
            force_conflicts: true,
            ..KubeProviderOptions::default()
        },
    );
    forcing
        .update(&desired, &Value::Null)
        .await
        .expect("forced apply");
    let taken = config_maps.get("settings").await.unwrap();
    assert_eq!(data_of(&taken), json!({"mode": "fast", "owner": "other"}));
    assert_eq!(
        data_owners(&taken),
        vec![
            (
                "other".to_owned(),
                "Apply".to_owned(),
                vec!["owner".to_owned()]
            ),
            (
                "strata".to_owned(),
                "Apply".to_owned(),
                vec!["mode".to_owned()]
            ),
        ]
    );
}

#[tokio::test]
async fn fields_strata_stops_setting_are_removed_and_fields_of_others_kept() {
    let (client, namespace) = setup("ssa-removal").await;
    let provider = KubeProvider::new(client.clone(), KubeProviderOptions::default());
    provider
        .create(&config_map(
            &namespace,
            "settings",
            json!({"mode": "fast", "retired": "yes"}),
        ))
        .await
        .expect("created");
    // Another manager adds a key of its own.
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    config_maps
        .patch(
            "settings",
            &PatchParams::apply("sidecar-injector"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "settings", "namespace": namespace},
                "data": {"injected": "true"}})),
        )
        .await
        .expect("other manager's apply");

    provider
        .update(
            &config_map(&namespace, "settings", json!({"mode": "fast"})),
            &Value::Null,
        )
        .await
        .expect("apply without the retired key");
    let live = config_maps.get("settings").await.unwrap();
    assert_eq!(data_of(&live), json!({"injected": "true", "mode": "fast"}));
    assert_eq!(
        data_owners(&live),
        vec![
            (
                "sidecar-injector".to_owned(),
                "Apply".to_owned(),
                vec!["injected".to_owned()]
            ),
            (
                "strata".to_owned(),
                "Apply".to_owned(),
                vec!["mode".to_owned()]
            ),
        ]
    );
}

#[tokio::test]
async fn an_invalid_object_is_a_final_error_with_the_servers_message() {
    let (client, namespace) = setup("invalid").await;
    let provider = KubeProvider::new(client, KubeProviderOptions::default());
    let error = provider
        .create(&config_map(&namespace, "Not_A_Valid_Name", json!({})))
        .await
        .expect_err("the server rejects the name");
    assert!(!error.is_retryable(), "{}", error.message);
    assert!(
        error.message.starts_with(&format!(
            "applying ConfigMap/{namespace}/Not_A_Valid_Name: the API server answered 422: ConfigMap \"Not_A_Valid_Name\" is invalid: metadata.name: Invalid value: \"Not_A_Valid_Name\""
        )),
        "{}",
        error.message
    );
}

const WIDGET_GROUP: &str = "widgets.testkube.strata.dev";

fn widget_crd() -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("widgets.{WIDGET_GROUP}")},
        "spec": {"group": WIDGET_GROUP, "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]}})
}

#[tokio::test]
async fn one_apply_orders_namespaces_and_crds_before_what_needs_them() {
    let plane = strata_testkube::shared();
    let client = plane.client().await.expect("admin client");
    let namespace = "crd-stack";
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(
        KubeProvider::new(client.clone(), KubeProviderOptions::default()),
        dir.path(),
    );
    // Listed with the dependents first: the schedule must reorder them.
    let widget = Resource::from_manifest(json!({
        "apiVersion": format!("{WIDGET_GROUP}/v1"), "kind": "Widget",
        "metadata": {"name": "blue", "namespace": namespace}, "spec": {"size": 3}}))
    .unwrap();
    let settings = config_map(namespace, "settings", json!({"mode": "fast"}));
    let reader = Resource::from_manifest(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "crd-stack-widget-reader"},
        "rules": [{"apiGroups": [WIDGET_GROUP], "resources": ["widgets"], "verbs": ["get", "list"]}]}))
    .unwrap();
    let crd = Resource::from_manifest(widget_crd()).unwrap();
    let ns = Resource::from_manifest(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
    )
    .unwrap();
    let (_, events) = plan_and_apply(
        &engine,
        vec![
            widget.clone(),
            settings.clone(),
            reader.clone(),
            crd.clone(),
            ns.clone(),
        ],
        "crds",
    )
    .await;

    let finished = |key: &ResourceKey| {
        events
            .iter()
            .position(|e| matches!(e, Event::Succeeded { key: k, .. } if k == key))
            .unwrap_or_else(|| panic!("{key} succeeded: {events:?}"))
    };
    let started = |key: &ResourceKey| {
        events
            .iter()
            .position(|e| matches!(e, Event::Started { key: k, .. } if k == key))
            .unwrap_or_else(|| panic!("{key} started: {events:?}"))
    };
    assert!(
        !events.iter().any(|e| matches!(e, Event::Retrying { .. })),
        "the order alone makes every apply succeed at once: {events:?}"
    );
    assert!(finished(&crd.key) < started(&widget.key), "{events:?}");
    assert!(finished(&ns.key) < started(&widget.key), "{events:?}");
    assert!(finished(&ns.key) < started(&settings.key), "{events:?}");

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let live_crd = crds.get(&format!("widgets.{WIDGET_GROUP}")).await.unwrap();
    let established = live_crd
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .any(|c| c.type_ == "Established" && c.status == "True");
    assert!(established);
    assert_eq!(live_crd.metadata.namespace, None);
    let widgets: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        namespace,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(WIDGET_GROUP, "v1", "Widget"),
            "widgets",
        ),
    );
    let blue = widgets.get("blue").await.expect("the custom resource");
    assert_eq!(blue.data["spec"], json!({"size": 3}));
    assert_eq!(blue.metadata.namespace.as_deref(), Some(namespace));
    let live_ns = Api::<Namespace>::all(client.clone())
        .get(namespace)
        .await
        .unwrap();
    assert_eq!(live_ns.metadata.namespace, None);
    let live_reader = Api::<ClusterRole>::all(client.clone())
        .get("crd-stack-widget-reader")
        .await
        .unwrap();
    assert_eq!(live_reader.metadata.namespace, None);
    let live_settings = Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .get("settings")
        .await
        .unwrap();
    assert_eq!(data_of(&live_settings), json!({"mode": "fast"}));
}

#[tokio::test]
async fn a_cluster_scoped_manifest_that_names_a_namespace_is_applied_without_one() {
    let (client, namespace) = setup("cluster-scoped").await;
    let provider = KubeProvider::new(client.clone(), KubeProviderOptions::default());
    let name = format!("{namespace}-reader");
    // Templates often stamp a namespace on everything, cluster-scoped kinds included.
    let role = Resource::from_manifest(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": name, "namespace": namespace},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}))
    .unwrap();
    provider.create(&role).await.expect("applied");
    let live = Api::<ClusterRole>::all(client.clone())
        .get(&name)
        .await
        .unwrap();
    assert_eq!(live.metadata.namespace, None);
    let observed = provider.observe(&role).await.expect("observed");
    assert_eq!(
        observed.live.expect("present")["metadata"]["name"],
        json!(name)
    );
}

#[tokio::test]
async fn a_custom_resource_applied_right_after_its_crd_finds_its_kind_served() {
    let plane = strata_testkube::shared();
    let client = plane.client().await.expect("admin client");
    let namespace = plane.namespace(&client, "crd-only").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(
        KubeProvider::new(client.clone(), KubeProviderOptions::default()),
        dir.path(),
    );
    let group = "gadgets.testkube.strata.dev";
    let mut crd = widget_crd();
    crd["metadata"]["name"] = json!(format!("gadgets.{group}"));
    crd["spec"]["group"] = json!(group);
    crd["spec"]["names"] = json!({"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList"});
    // Nothing else is applied between the two: one step, two kind runs, no health gate.
    let gadget = Resource::from_manifest(json!({
        "apiVersion": format!("{group}/v1"), "kind": "Gadget",
        "metadata": {"name": "small", "namespace": namespace}, "spec": {"size": 1}}))
    .unwrap();
    let crd = Resource::from_manifest(crd).unwrap();
    let (actions, _) = plan_and_apply(&engine, vec![gadget.clone(), crd.clone()], "gadgets").await;
    assert_eq!(actions.len(), 2);
    assert!(actions.iter().all(|(_, action)| *action == Action::Create));
    let gadgets: Api<DynamicObject> = Api::namespaced_with(
        client,
        &namespace,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(group, "v1", "Gadget"),
            "gadgets",
        ),
    );
    let small = gadgets.get("small").await.expect("the custom resource");
    assert_eq!(small.data["spec"], json!({"size": 1}));
}

#[tokio::test]
async fn applying_a_crd_returns_once_it_is_established() {
    let plane = strata_testkube::shared();
    let client = plane.client().await.expect("admin client");
    let provider = KubeProvider::new(client, KubeProviderOptions::default());
    let group = "doohickeys.testkube.strata.dev";
    let mut crd = widget_crd();
    crd["metadata"]["name"] = json!(format!("doohickeys.{group}"));
    crd["spec"]["group"] = json!(group);
    crd["spec"]["names"] = json!({"plural": "doohickeys", "singular": "doohickey",
        "kind": "Doohickey", "listKind": "DoohickeyList"});
    let applied = provider
        .create(&Resource::from_manifest(crd).unwrap())
        .await
        .expect("applied");
    let conditions = applied.live["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        conditions
            .iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True"),
        "{conditions:?}"
    );
    let served = provider
        .resolve_if_served(&format!("{group}/v1"), "Doohickey")
        .await
        .expect("discovery");
    assert_eq!(served.map(|kind| kind.namespaced), Some(true));
}
