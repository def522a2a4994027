//! The Kubernetes provider against a scripted API server: the exact requests it sends.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::{assert_no_more_requests, core_resources, mock, serve, serve_success, status};
use kube::api::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use strata_core::executor::{Event, ExecutorConfig, RetryPolicy, cancellation};
use strata_core::plan::{Action, PlanOptions};
use strata_core::state::LocalStateStore;
use strata_core::{Engine, Provider, ProviderRegistry, Resource};
use strata_drift::{DriftNormalizer, DriftRules};
use strata_k8s::provider::prune::PruneOptions;
use strata_k8s::{KubeProvider, KubeProviderOptions};

fn config_map_kind() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "ConfigMap"), "configmaps")
}

fn provider(client: kube::Client, options: KubeProviderOptions) -> KubeProvider {
    KubeProvider::new(client, options).with_known_kind(config_map_kind(), true)
}

fn settings() -> Resource {
    Resource::from_manifest(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "default"}, "data": {"mode": "fast"}}))
    .expect("valid")
}

fn engine(provider: KubeProvider, dir: &std::path::Path) -> Engine {
    Engine {
        registry: ProviderRegistry::new().with_provider(Arc::new(provider)),
        normalizer: Arc::new(DriftNormalizer::new(DriftRules::default())),
        store: Arc::new(LocalStateStore::new(dir.join("state.json"))),
        config: ExecutorConfig::default().with_parallelism(1).with_retry(
            RetryPolicy::default()
                .with_max_attempts(4)
                .with_initial_delay(Duration::from_millis(1))
                .with_factor(2)
                .with_max_delay(Duration::from_millis(5)),
        ),
    }
}

fn live_of(manifest: &Value) -> Value {
    let mut live = manifest.clone();
    live["metadata"]["uid"] = json!("0b4c-uid");
    live["metadata"]["resourceVersion"] = json!("17");
    live["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
    live["metadata"]["managedFields"] = json!([{"manager": "strata", "operation": "Apply",
        "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:mode": {}}}}]);
    live
}

#[tokio::test]
async fn observe_discovers_the_kind_then_gets_the_object() {
    let (client, mut handle) = mock();
    let provider = KubeProvider::new(client, KubeProviderOptions::default());
    let server = tokio::spawn(async move {
        let discovery = serve(&mut handle, 200, core_resources()).await;
        assert_eq!(
            (discovery.method.as_str(), discovery.uri.as_str()),
            ("GET", "/api/v1")
        );
        let get = serve(&mut handle, 200, live_of(&settings().manifest)).await;
        assert_eq!(get.method, "GET");
        assert_eq!(get.uri, "/api/v1/namespaces/default/configmaps/settings");
        let missing = serve(
            &mut handle,
            404,
            status(404, "NotFound", "configmaps \"other\" not found"),
        )
        .await;
        assert_eq!(missing.uri, "/api/v1/namespaces/default/configmaps/other");
        handle
    });
    let seen = provider.observe(&settings()).await.expect("observed");
    let live = seen.live.expect("present").value().into_owned();
    assert_eq!(live["data"]["mode"], "fast");
    assert_eq!(live["metadata"]["resourceVersion"], "17");
    let mut other = settings();
    other.key.name = "other".into();
    other.manifest["metadata"]["name"] = json!("other");
    assert_eq!(provider.observe(&other).await.expect("observed").live, None);
    let mut handle = server.await.expect("server");
    drop(provider);
    assert_no_more_requests(&mut handle).await;
}

#[tokio::test]
async fn first_apply_is_a_server_side_apply_with_the_strata_field_manager() {
    let (client, mut handle) = mock();
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(provider(client, KubeProviderOptions::default()), dir.path());
    let server = tokio::spawn(async move {
        let get = serve(&mut handle, 404, status(404, "NotFound", "not found")).await;
        assert_eq!(
            (get.method.as_str(), get.uri.as_str()),
            ("GET", "/api/v1/namespaces/default/configmaps/settings")
        );
        let (request, send) = handle.next_request().await.expect("apply");
        assert_eq!(request.method(), "PATCH");
        assert_eq!(
            request.uri().to_string(),
            "/api/v1/namespaces/default/configmaps/settings?&fieldManager=strata&fieldValidation=Strict"
        );
        assert_eq!(
            request
                .headers()
                .get("content-type")
                .map(|v| v.to_str().expect("ascii")),
            Some("application/apply-patch+yaml")
        );
        let body: Value =
            serde_json::from_slice(&request.into_body().collect_bytes().await.expect("body"))
                .expect("json");
        assert_eq!(
            body,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "settings", "namespace": "default",
                    "labels": {"app.kubernetes.io/managed-by": "strata", "strata.dev/stack": "demo"}},
                "data": {"mode": "fast"}})
        );
        send.send_response(
            http::Response::builder()
                .status(200)
                .body(kube::client::Body::from(
                    serde_json::to_vec(&live_of(&body)).expect("json"),
                ))
                .expect("response"),
        );
        handle
    });
    let options = PlanOptions::new("demo");
    let (plan, state) = engine.plan(vec![settings()], &options).await.expect("plan");
    assert_eq!(plan.changes[0].action, Action::Create);
    assert_eq!(plan.changes[0].provider, "kubernetes");
    let (_cancel, cancel) = cancellation();
    let report = engine
        .apply(&plan, state, "apply", Arc::new(|_: Event| {}), cancel)
        .await
        .expect("apply");
    assert!(report.is_success(), "{report:?}");
    let saved = engine.store.load().await.expect("state").expect("saved");
    let record = saved.resources.values().next().expect("one record");
    assert_eq!(record.outputs, json!({"uid": "0b4c-uid"}));
    let mut handle = server.await.expect("server");
    drop(engine);
    assert_no_more_requests(&mut handle).await;
}

#[tokio::test]
async fn reapplying_an_unchanged_object_sends_nothing_but_the_read() {
    let (client, mut handle) = mock();
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(provider(client, KubeProviderOptions::default()), dir.path());
    let stamped = strata_core::ownership::stamp(&settings().manifest, "demo");
    let server = tokio::spawn(async move {
        let get = serve(&mut handle, 200, live_of(&stamped)).await;
        assert_eq!(
            (get.method.as_str(), get.uri.as_str()),
            ("GET", "/api/v1/namespaces/default/configmaps/settings")
        );
        handle
    });
    let options = PlanOptions::new("demo");
    let (plan, state) = engine.plan(vec![settings()], &options).await.expect("plan");
    assert_eq!(
        plan.changes[0].action,
        Action::NoOp,
        "{:?}",
        plan.changes[0].fields
    );
    let (_cancel, cancel) = cancellation();
    let report = engine
        .apply(&plan, state, "apply", Arc::new(|_: Event| {}), cancel)
        .await
        .expect("apply");
    assert!(report.is_success());
    let mut handle = server.await.expect("server");
    drop(engine);
    assert_no_more_requests(&mut handle).await;
}

#[tokio::test]
async fn conflicts_are_final_errors_and_force_is_sent_only_when_asked() {
    let (client, mut handle) = mock();
    let kube = provider(client.clone(), KubeProviderOptions::default());
    let server = tokio::spawn(async move {
        let patch = serve(
            &mut handle,
            409,
            status(
                409,
                "Conflict",
                "Apply failed with 1 conflict: conflict with \"kubectl-edit\": .data.mode",
            ),
        )
        .await;
        assert_eq!(
            patch.uri,
            "/api/v1/namespaces/default/configmaps/settings?&fieldManager=strata&fieldValidation=Strict"
        );
        let forced = serve(&mut handle, 200, live_of(&settings().manifest)).await;
        assert_eq!(forced.method, "PATCH");
        assert_eq!(
            forced.uri,
            "/api/v1/namespaces/default/configmaps/settings?&force=true&fieldManager=strata&fieldValidation=Strict"
        );
        handle
    });
    let error = kube.create(&settings()).await.expect_err("conflict");
    assert!(!error.is_retryable());
    assert!(
        error
            .message
            .contains("conflict while applying ConfigMap/default/settings (409)"),
        "{}",
        error.message
    );
    assert!(error.message.contains("kubectl-edit"), "{}", error.message);
    let forcing = provider(
        client,
        KubeProviderOptions::default().with_force_conflicts(true),
    );
    forcing
        .update(&settings(), &Value::Null)
        .await
        .expect("forced apply");
    server.await.expect("server");
}

#[tokio::test]
async fn delete_sends_the_propagation_policy_and_treats_404_as_done() {
    let (client, mut handle) = mock();
    let kube = provider(client, KubeProviderOptions::default());
    let server = tokio::spawn(async move {
        let delete = serve(
            &mut handle,
            200,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
        )
        .await;
        assert_eq!(delete.method, "DELETE");
        assert_eq!(
            delete.uri,
            "/api/v1/namespaces/default/configmaps/settings?"
        );
        assert_eq!(delete.body["propagationPolicy"], "Foreground");
        let background = serve(&mut handle, 404, status(404, "NotFound", "gone")).await;
        assert_eq!(background.method, "DELETE");
        assert_eq!(background.body["propagationPolicy"], "Background");
        handle
    });
    kube.delete(&settings()).await.expect("deleted");
    let mut annotated = settings();
    annotated.manifest["metadata"]["annotations"] =
        json!({"argocd.argoproj.io/sync-options": "PrunePropagationPolicy=background"});
    kube.delete(&annotated)
        .await
        .expect("already gone counts as deleted");
    server.await.expect("server");
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_by_the_executor() {
    let (client, mut handle) = mock();
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(provider(client, KubeProviderOptions::default()), dir.path());
    let server = tokio::spawn(async move {
        serve(&mut handle, 404, status(404, "NotFound", "not found")).await;
        let first = serve(
            &mut handle,
            429,
            status(429, "TooManyRequests", "slow down"),
        )
        .await;
        let second = serve(
            &mut handle,
            503,
            status(503, "ServiceUnavailable", "etcd leader changed"),
        )
        .await;
        let third = serve(&mut handle, 200, live_of(&settings().manifest)).await;
        for seen in [&first, &second, &third] {
            assert_eq!(seen.method, "PATCH");
            assert_eq!(
                seen.uri,
                "/api/v1/namespaces/default/configmaps/settings?&fieldManager=strata&fieldValidation=Strict"
            );
        }
        handle
    });
    let options = PlanOptions::new("demo");
    let (plan, state) = engine.plan(vec![settings()], &options).await.expect("plan");
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let (_cancel, cancel) = cancellation();
    let report = engine
        .apply(
            &plan,
            state,
            "apply",
            Arc::new(move |e: Event| sink.lock().expect("lock").push(e)),
            cancel,
        )
        .await
        .expect("apply");
    assert!(report.is_success(), "{report:?}");
    let retries: Vec<String> = events
        .lock()
        .expect("lock")
        .iter()
        .filter_map(|e| match e {
            Event::Retrying { error, .. } => Some(error.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(retries.len(), 2, "{retries:?}");
    assert!(retries[0].contains("429"), "{}", retries[0]);
    assert!(retries[1].contains("503"), "{}", retries[1]);
    server.await.expect("server");
}

fn owned(name: &str, annotations: Value) -> Value {
    json!({"metadata": {"name": name, "namespace": "default", "annotations": annotations,
        "labels": {"app.kubernetes.io/managed-by": "strata", "strata.dev/stack": "demo"}},
        "data": {}})
}

#[tokio::test]
async fn prune_lists_by_ownership_labels_and_deletes_in_prune_order() {
    let (client, mut handle) = mock();
    let kube = provider(client, KubeProviderOptions::default());
    let server = tokio::spawn(async move {
        let list = serve(
            &mut handle,
            200,
            json!({"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {"resourceVersion": "50"}, "items": [
                owned("settings", json!({})),
                owned("early", json!({"argocd.argoproj.io/sync-wave": "1"})),
                owned("late", json!({"argocd.argoproj.io/sync-wave": "5"})),
                owned("last", json!({"argocd.argoproj.io/sync-options": "PruneLast=true"})),
                owned("kept", json!({"argocd.argoproj.io/sync-options": "Prune=false"})),
            ]}),
        )
        .await;
        assert_eq!(list.method, "GET");
        assert_eq!(
            list.uri,
            "/api/v1/configmaps?&labelSelector=app.kubernetes.io%2Fmanaged-by%3Dstrata%2Cstrata.dev%2Fstack%3Ddemo"
        );
        let mut deleted = Vec::new();
        for _ in 0..3 {
            let delete = serve_success(&mut handle).await;
            assert_eq!(delete.method, "DELETE");
            assert_eq!(delete.body["propagationPolicy"], "Foreground");
            deleted.push(delete.uri);
        }
        assert_eq!(
            deleted,
            vec![
                "/api/v1/namespaces/default/configmaps/late?",
                "/api/v1/namespaces/default/configmaps/early?",
                "/api/v1/namespaces/default/configmaps/last?",
            ]
        );
        handle
    });
    let kinds = vec![("v1".to_owned(), "ConfigMap".to_owned())];
    let outcome = kube
        .prune("demo", &[settings()], &kinds, PruneOptions::default())
        .await
        .expect("pruned");
    let names: Vec<&str> = outcome.pruned.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, vec!["late", "early", "last"]);
    assert_eq!(outcome.skipped.len(), 1);
    assert_eq!(outcome.skipped[0].0.name, "kept");
    assert_eq!(outcome.skipped[0].1, "ignored (no prune)");
    let mut handle = server.await.expect("server");
    drop(kube);
    assert_no_more_requests(&mut handle).await;
}

#[tokio::test]
async fn list_owned_is_one_labelled_list_per_kind_with_the_kind_filled_in() {
    let (client, mut handle) = mock();
    let kube = provider(client, KubeProviderOptions::default());
    let server = tokio::spawn(async move {
        let list = serve(
            &mut handle,
            200,
            json!({"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {"resourceVersion": "7"}, "items": [
                owned("settings", json!({})),
                owned("stray", json!({})),
            ]}),
        )
        .await;
        assert_eq!(list.method, "GET");
        assert_eq!(
            list.uri,
            "/api/v1/configmaps?&labelSelector=app.kubernetes.io%2Fmanaged-by%3Dstrata%2Cstrata.dev%2Fstack%3Ddemo"
        );
        handle
    });
    let kinds = vec![("v1".to_owned(), "ConfigMap".to_owned())];
    let owned = Provider::list_owned(&kube, "demo", &kinds)
        .await
        .expect("listed")
        .expect("the Kubernetes provider can list");
    let keys: Vec<String> = owned
        .iter()
        .map(|o| {
            strata_core::ResourceKey::from_manifest(o)
                .expect("a key")
                .to_string()
        })
        .collect();
    assert_eq!(
        keys,
        ["ConfigMap/default/settings", "ConfigMap/default/stray"]
    );
    let mut handle = server.await.expect("server");
    drop(kube);
    assert_no_more_requests(&mut handle).await;
}

#[tokio::test]
async fn create_namespace_creates_a_missing_namespace_first() {
    let (client, mut handle) = mock();
    let kube = provider(
        client,
        KubeProviderOptions::default().with_create_namespace(true),
    );
    let mut shop = settings();
    shop.key.namespace = Some("shop".into());
    shop.manifest["metadata"]["namespace"] = json!("shop");
    let server = tokio::spawn(async move {
        let get = serve(
            &mut handle,
            404,
            status(404, "NotFound", "namespaces \"shop\" not found"),
        )
        .await;
        assert_eq!(
            (get.method.as_str(), get.uri.as_str()),
            ("GET", "/api/v1/namespaces/shop")
        );
        let create = serve(
            &mut handle,
            200,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
        )
        .await;
        assert_eq!(create.method, "PATCH");
        assert_eq!(create.uri, "/api/v1/namespaces/shop?&fieldManager=strata");
        assert_eq!(
            create.body,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        );
        let apply = serve(&mut handle, 200, live_of(&settings().manifest)).await;
        assert_eq!(
            apply.uri,
            "/api/v1/namespaces/shop/configmaps/settings?&fieldManager=strata&fieldValidation=Strict"
        );
        let again = serve(&mut handle, 200, live_of(&settings().manifest)).await;
        assert_eq!(
            again.uri,
            "/api/v1/namespaces/shop/configmaps/settings?&fieldManager=strata&fieldValidation=Strict"
        );
        handle
    });
    kube.create(&shop).await.expect("applied");
    kube.create(&shop)
        .await
        .expect("namespace known: applied directly");
    server.await.expect("server");
}
