//! The Kubernetes provider against a real kube-apiserver (with etcd), started once for this
//! test binary by `strata_testkube`; each test works in a fresh namespace and checks what the
//! server then holds.

#![allow(clippy::unwrap_used)]

use crate::real;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};
use strata_core::executor::Event;
use strata_core::plan::{Action, PlanOptions};
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
        KubeProviderOptions::default().with_force_conflicts(true),
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
        observed.live.expect("present").value()["metadata"]["name"],
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

#[tokio::test]
async fn an_unknown_field_is_refused_before_planning_and_by_the_server_alike() {
    let (client, namespace) = setup("strict-fields").await;
    let stack = namespace.as_str();
    let dir = tempfile::tempdir().unwrap();
    let provider = KubeProvider::new(client.clone(), KubeProviderOptions::default());
    // A typo: `dat` for `data`.
    let typo = Resource::from_manifest(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "typo", "namespace": namespace}, "dat": {"mode": "fast"}}))
    .unwrap();
    // The provider itself sends with strict field validation: the API server refuses the
    // field, and the error is final.
    let error = provider.create(&typo).await.expect_err("refused");
    assert!(!error.is_retryable(), "{}", error.message);
    assert!(
        error.message.starts_with(&format!(
            "applying ConfigMap/{namespace}/typo: the API server answered "
        )),
        "{}",
        error.message
    );
    assert!(
        error.message.contains(".dat: field not declared in schema"),
        "{}",
        error.message
    );
    // Planning refuses it first, with the built-in schema the provider declares: nothing of
    // the set is applied, the independent ConfigMap included.
    let engine = engine(provider, dir.path());
    let independent = config_map(&namespace, "independent", json!({}));
    let options = PlanOptions::new(stack);
    let refused = engine
        .plan(vec![typo.clone(), independent.clone()], &options)
        .await
        .expect_err("refused before planning");
    let strata_core::EngineError::Invalid(problems) = refused else {
        panic!("{refused}");
    };
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].key, typo.key);
    assert_eq!(problems[0].field, "dat");
    assert!(
        problems[0]
            .message
            .starts_with("unknown field; did you mean data?"),
        "{}",
        problems[0].message
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    assert!(config_maps.get_opt("typo").await.unwrap().is_none());
    assert!(config_maps.get_opt("independent").await.unwrap().is_none());
}

#[tokio::test]
async fn a_deployment_whose_selector_misses_its_template_is_a_final_422() {
    let (client, namespace) = setup("invalid-selector").await;
    let provider = KubeProvider::new(client.clone(), KubeProviderOptions::default());
    let web = Resource::from_manifest(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "web", "image": "registry.invalid/web:1"}]}}}}))
    .unwrap();
    let error = provider.create(&web).await.expect_err("rejected");
    assert!(!error.is_retryable(), "{}", error.message);
    assert!(
        error.message.starts_with(&format!(
            "applying apps/Deployment/{namespace}/web: the API server answered 422: Deployment.apps \"web\" is invalid: spec.template.metadata.labels: Invalid value: "
        )),
        "{}",
        error.message
    );
    assert!(
        error
            .message
            .contains("`selector` does not match template `labels`"),
        "{}",
        error.message
    );
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client, &namespace);
    assert!(deployments.get_opt("web").await.unwrap().is_none());
}

#[tokio::test]
async fn create_namespace_creates_a_missing_namespace_before_the_object() {
    let (client, namespace) = setup("create-namespace").await;
    let missing = format!("{namespace}-new");
    let provider = KubeProvider::new(
        client.clone(),
        KubeProviderOptions::default().with_create_namespace(true),
    );
    provider
        .create(&config_map(&missing, "settings", json!({"mode": "fast"})))
        .await
        .expect("applied");
    let created = Api::<Namespace>::all(client.clone())
        .get(&missing)
        .await
        .expect("namespace created");
    assert_eq!(created.metadata.deletion_timestamp, None);
    let live = Api::<ConfigMap>::namespaced(client.clone(), &missing)
        .get("settings")
        .await
        .unwrap();
    assert_eq!(data_of(&live), json!({"mode": "fast"}));

    // Without the option, a missing namespace is the server's final 404.
    let polite = KubeProvider::new(client, KubeProviderOptions::default());
    let error = polite
        .create(&config_map(
            &format!("{namespace}-absent"),
            "settings",
            json!({}),
        ))
        .await
        .expect_err("no namespace");
    assert!(!error.is_retryable(), "{}", error.message);
    assert!(
        error.message.contains("the API server answered 404"),
        "{}",
        error.message
    );
}

/// A TCP relay to the API server on another local port: stopping it makes the server
/// unreachable for clients that use it, while the shared server goes on for the other tests.
struct Relay {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { port, task }
    }

    /// Closes the port and every relayed connection.
    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }

    /// An admin client reaching the API server through this relay.
    async fn client(&self) -> kube::Client {
        let plane = strata_testkube::shared();
        let kubeconfig = kube::config::Kubeconfig::read_from(plane.kubeconfig_path()).unwrap();
        let mut config = kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .unwrap();
        config.cluster_url = format!("https://127.0.0.1:{}", self.port).parse().unwrap();
        kube::Client::try_from(config).unwrap()
    }
}

#[tokio::test]
async fn a_server_gone_mid_apply_is_retried_then_failed_and_nothing_is_recorded_applied() {
    let (client, namespace) = setup("server-down").await;
    let stack = namespace.as_str();
    let target = strata_testkube::shared()
        .server_url()
        .trim_start_matches("https://")
        .to_owned();
    let relay = Relay::start(target).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(
        KubeProvider::new(relay.client().await, KubeProviderOptions::default()),
        dir.path(),
    );
    let settings = config_map(&namespace, "settings", json!({"mode": "fast"}));
    let (plan, state) = engine
        .plan(
            vec![settings.clone()],
            &strata_core::plan::PlanOptions::new(stack),
        )
        .await
        .expect("planned while the server is there");
    assert_eq!(plan.changes[0].action, Action::Create);

    relay.stop().await;
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&events);
    let report = engine
        .apply(
            &plan,
            state,
            "apply",
            std::sync::Arc::new(move |e: Event| sink.lock().unwrap().push(e)),
            strata_core::executor::cancellation().1,
        )
        .await
        .expect("the apply runs");
    let events = events.lock().unwrap().clone();
    let retries: Vec<&String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Retrying { error, .. } => Some(error),
            _ => None,
        })
        .collect();
    // Four attempts: three retries, then the last error.
    assert_eq!(retries.len(), 3, "{events:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    let (key, message) = &report.failed[0];
    assert_eq!(key, &settings.key);
    let prefix = format!("applying ConfigMap/{namespace}/settings: ");
    assert!(message.starts_with(&prefix), "{message}");
    assert!(
        message.starts_with(&format!("{prefix}request failed: client error (Connect): ")),
        "{message}"
    );
    assert!(message.contains("Connection refused"), "{message}");
    assert!(
        retries.iter().all(|e| e.starts_with(&prefix)),
        "{retries:?}"
    );
    // Nothing was created, and the state holds only the intent, not an applied record.
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    assert!(config_maps.get_opt("settings").await.unwrap().is_none());
    let state = real::saved_state(&engine).await;
    assert_eq!(
        state.get(&settings.key).map(|r| r.status),
        Some(strata_core::state::ResourceStatus::Creating)
    );

    // Once the server is reachable again, the next apply creates it and records it.
    let back = real::engine(
        KubeProvider::new(client.clone(), KubeProviderOptions::default()),
        dir.path(),
    );
    let (actions, _) = plan_and_apply(&back, vec![settings.clone()], stack).await;
    assert_eq!(actions, vec![(settings.key.clone(), Action::Create)]);
    assert_eq!(
        real::saved_state(&back)
            .await
            .get(&settings.key)
            .map(|r| r.status),
        Some(strata_core::state::ResourceStatus::Applied)
    );
    assert_eq!(
        data_of(&config_maps.get("settings").await.unwrap()),
        json!({"mode": "fast"})
    );
}

#[tokio::test]
async fn an_unknown_field_of_a_custom_resource_is_rejected_not_pruned() {
    let (client, namespace) = setup("strict-custom").await;
    let provider = KubeProvider::new(client.clone(), KubeProviderOptions::default());
    let group = "sprockets.testkube.strata.dev";
    let mut crd = widget_crd();
    crd["metadata"]["name"] = json!(format!("sprockets.{group}"));
    crd["spec"]["group"] = json!(group);
    crd["spec"]["names"] = json!({"plural": "sprockets", "singular": "sprocket",
        "kind": "Sprocket", "listKind": "SprocketList"});
    provider
        .create(&Resource::from_manifest(crd).unwrap())
        .await
        .expect("CRD established");
    // `sise` for `size`: the CRD's structural schema would prune it without a word.
    let typo = Resource::from_manifest(
        json!({"apiVersion": format!("{group}/v1"), "kind": "Sprocket",
        "metadata": {"name": "small", "namespace": namespace}, "spec": {"sise": 1}}),
    )
    .unwrap();
    let error = provider.create(&typo).await.expect_err("rejected");
    assert!(!error.is_retryable(), "{}", error.message);
    assert!(
        error.message.starts_with(&format!(
            "applying {group}/Sprocket/{namespace}/small: the API server answered "
        )),
        "{}",
        error.message
    );
    assert!(error.message.contains("spec.sise"), "{}", error.message);
    let sprockets: Api<DynamicObject> = Api::namespaced_with(
        client,
        &namespace,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(group, "v1", "Sprocket"),
            "sprockets",
        ),
    );
    assert!(sprockets.get_opt("small").await.unwrap().is_none());
}

#[tokio::test]
async fn after_discovery_only_served_kinds_and_those_of_the_stacks_crds_are_served() {
    let (client, _namespace) = setup("discovery-routing").await;
    let provider = KubeProvider::new(client.clone(), KubeProviderOptions::default());
    // Before discovery, every kind is taken.
    assert!(provider.serves("ec2.aws.upbound.io/v1beta1", "SecurityGroup"));
    let found = provider.discover().await.expect("discovery");
    assert!(found > 40, "{found} kinds");
    assert!(provider.serves("v1", "ConfigMap"));
    assert!(provider.serves("apps/v1", "Deployment"));
    assert!(provider.serves("apiextensions.k8s.io/v1", "CustomResourceDefinition"));
    for (api_version, kind) in [
        ("ec2.aws.upbound.io/v1beta1", "SecurityGroup"),
        ("argoproj.io/v1alpha1", "Application"),
        (
            "apiextensions.crossplane.io/v1",
            "CompositeResourceDefinition",
        ),
        ("routing.testkube.strata.dev/v1", "Widget"),
    ] {
        assert!(!provider.serves(api_version, kind), "{kind}");
    }
    // A CRD the stack applies brings its kind here, before the server serves it.
    let crd = Resource::from_manifest(json!({"apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.routing.testkube.strata.dev"},
        "spec": {"group": "routing.testkube.strata.dev", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object"}}}]}}))
    .unwrap();
    provider.serve_kinds_of_crds(&[crd, config_map("x", "y", json!({}))]);
    assert!(provider.serves("routing.testkube.strata.dev/v1", "Widget"));
    assert!(!provider.serves("ec2.aws.upbound.io/v1beta1", "SecurityGroup"));
}

/// A finalizer change computed from a stale read is refused by the server (409 on the
/// resource version it carries), read again and written again: another writer's finalizer,
/// added in between, survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finalizer_change_from_a_stale_read_is_retried_without_losing_the_other_writers() {
    use strata_k8s::finalizers::{FinalizersUpdate, update_finalizers};

    let (client, namespace) = setup("finalizer-conflict").await;
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "ConfigMap"));
    let api: kube::Api<DynamicObject> = kube::Api::namespaced_with(client, &namespace, &resource);
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "guarded", "finalizers": ["first.example.com/keep"]},
        "data": {"a": "1"}}))
    .unwrap();
    api.create(&Default::default(), &object).await.unwrap();
    let stale = serde_json::to_value(api.get("guarded").await.unwrap()).unwrap();
    // Another writer adds its finalizer after our read.
    api.patch(
        "guarded",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers":
            ["first.example.com/keep", "second.example.com/keep"]}})),
    )
    .await
    .unwrap();
    // The server refuses a write carrying the stale resource version …
    let refused = api
        .patch(
            "guarded",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {
                "resourceVersion": stale["metadata"]["resourceVersion"],
                "finalizers": ["first.example.com/keep", "strata.dev/test"]}})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, kube::Error::Api(status) if status.code == 409),
        "{refused:?}"
    );
    // … so the update computed from that read is retried on what the server holds now.
    let done = update_finalizers(&api, "guarded", Some(&stale), |held| {
        held.push("strata.dev/test".to_owned());
        true
    })
    .await
    .unwrap();
    assert_eq!(done, FinalizersUpdate::Written);
    let held = api.get("guarded").await.unwrap().metadata.finalizers;
    assert_eq!(
        held,
        Some(vec![
            "first.example.com/keep".to_owned(),
            "second.example.com/keep".to_owned(),
            "strata.dev/test".to_owned()
        ])
    );
    // Nothing to change: nothing written.
    let version = api.get("guarded").await.unwrap().metadata.resource_version;
    let same = update_finalizers(&api, "guarded", None, |_| false)
        .await
        .unwrap();
    assert_eq!(same, FinalizersUpdate::Unchanged);
    assert_eq!(
        api.get("guarded").await.unwrap().metadata.resource_version,
        version
    );
    // Removal, then deletion of an object without finalizers; a vanished object is Gone.
    update_finalizers(&api, "guarded", None, |held| {
        held.clear();
        true
    })
    .await
    .unwrap();
    api.delete("guarded", &Default::default()).await.unwrap();
    let gone = update_finalizers(&api, "guarded", None, |_| true)
        .await
        .unwrap();
    assert_eq!(gone, FinalizersUpdate::Gone);
}
