//! The controller against a scripted API server: claim → composite → composed resources →
//! Ready, connection secret, deletion through the finalizer, and watches surviving 410 Gone.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::{Handle, mock, serve, serve_success, status};
use futures::StreamExt;
use kube::api::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use strata_core::ProviderRegistry;
use strata_drift::{DriftEngine, DriftPolicy, DriftRules};
use strata_k8s::controller::runtime::watch_objects;
use strata_k8s::controller::{ControllerConfig, FINALIZER, Reconciler};
use strata_k8s::{KubeProvider, KubeProviderOptions};

fn xrd() -> Value {
    json!({"apiVersion": "apiextensions.crossplane.io/v1", "kind": "CompositeResourceDefinition",
        "metadata": {"name": "xpostgres.platform.example.org"},
        "spec": {"group": "platform.example.org",
            "names": {"kind": "XPostgres", "plural": "xpostgres"},
            "claimNames": {"kind": "Postgres", "plural": "postgres"},
            "defaultCompositionRef": {"name": "postgres-db"},
            "versions": [{"name": "v1alpha1", "served": true, "referenceable": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "string", "default": "small"}}}}}}}]}})
}

fn composition() -> Value {
    json!({"apiVersion": "apiextensions.crossplane.io/v1", "kind": "Composition",
        "metadata": {"name": "postgres-db"},
        "spec": {"compositeTypeRef": {"apiVersion": "platform.example.org/v1alpha1", "kind": "XPostgres"},
            "resources": [{"name": "instance",
                "base": {"apiVersion": "database.example.org/v1", "kind": "Instance",
                    "spec": {"forProvider": {"engine": "postgres"}}},
                "patches": [{"fromFieldPath": "spec.size", "toFieldPath": "spec.forProvider.size"}],
                "connectionDetails": [{"name": "endpoint", "type": "FromFieldPath",
                    "fromFieldPath": "status.atProvider.endpoint"}]}]}})
}

fn claim() -> Value {
    json!({"apiVersion": "platform.example.org/v1alpha1", "kind": "Postgres",
        "metadata": {"name": "db", "namespace": "team-a", "uid": "uid-claim"},
        "spec": {"size": "large", "writeConnectionSecretToRef": {"name": "db-conn"}}})
}

fn reconciler(client: kube::Client, policy: DriftPolicy) -> Reconciler {
    let instances = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("database.example.org", "v1", "Instance"),
        "instances",
    );
    let kube = KubeProvider::new(client.clone(), KubeProviderOptions::default())
        .with_known_kind(instances, false);
    let registry = ProviderRegistry::new().with_provider(Arc::new(kube));
    let config = ControllerConfig::new(
        &[xrd()],
        &[composition()],
        registry,
        DriftEngine::new(DriftRules::default(), policy),
    )
    .expect("valid definitions");
    Reconciler::new(client, config)
}

fn condition<'a>(status: &'a Value, kind: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind))
        .unwrap_or_else(|| panic!("no {kind} condition in {status}"))
}

const CLAIM: &str = "/apis/platform.example.org/v1alpha1/namespaces/team-a/postgres/db";
const COMPOSITE: &str = "/apis/platform.example.org/v1alpha1/xpostgres/db";
const INSTANCES: &str = "/apis/database.example.org/v1/instances/";

/// Serves the composite apply, answering with the applied composite plus a uid and, when
/// given, the `spec.resourceRefs` an earlier reconcile wrote.
async fn composite_apply(handle: &mut Handle, refs: Option<&Value>) -> Value {
    let (request, send) = handle.next_request().await.expect("composite apply");
    assert_eq!(request.method(), "PATCH");
    assert_eq!(
        request.uri().to_string(),
        format!("{COMPOSITE}?&force=true&fieldManager=strata")
    );
    let mut body: Value =
        serde_json::from_slice(&request.into_body().collect_bytes().await.expect("body"))
            .expect("json");
    assert_eq!(body["kind"], "XPostgres");
    assert_eq!(body["spec"]["size"], "large");
    assert_eq!(body["metadata"]["labels"]["crossplane.io/claim-name"], "db");
    body["metadata"]["uid"] = json!("uid-xr");
    if let Some(refs) = refs {
        body["spec"]["resourceRefs"] = refs.clone();
    }
    send.send_response(
        http::Response::builder()
            .status(200)
            .body(kube::client::Body::from(
                serde_json::to_vec(&body).expect("json"),
            ))
            .expect("response"),
    );
    body
}

#[tokio::test]
async fn a_claim_becomes_a_composite_and_composed_resources_then_ready_then_deleted() {
    let (client, mut handle) = mock();
    let reconciler = reconciler(client, DriftPolicy::default());

    // Pass 1: finalizer, composite, composed resource created; not ready yet.
    let server = tokio::spawn(async move {
        let finalizer = serve(&mut handle, 200, claim()).await;
        assert_eq!(
            (finalizer.method.as_str(), finalizer.uri.as_str()),
            ("PATCH", &*format!("{CLAIM}?"))
        );
        assert_eq!(
            finalizer.content_type.as_deref(),
            Some("application/merge-patch+json")
        );
        assert_eq!(
            finalizer.body,
            json!({"metadata": {"finalizers": [FINALIZER]}})
        );
        composite_apply(&mut handle, None).await;
        let get = serve(&mut handle, 404, status(404, "NotFound", "not found")).await;
        assert_eq!(get.method, "GET");
        assert!(get.uri.starts_with(INSTANCES), "{}", get.uri);
        let name = get.uri.trim_start_matches(INSTANCES).to_owned();
        assert!(name.starts_with("db-"), "{name}");
        let (request, send) = handle.next_request().await.expect("composed apply");
        assert_eq!(request.method(), "PATCH");
        assert_eq!(
            request.uri().to_string(),
            format!("{INSTANCES}{name}?&fieldManager=strata&fieldValidation=Strict")
        );
        assert_eq!(
            request
                .headers()
                .get("content-type")
                .map(|v| v.to_str().expect("ascii")),
            Some("application/apply-patch+yaml")
        );
        let applied: Value =
            serde_json::from_slice(&request.into_body().collect_bytes().await.expect("body"))
                .expect("json");
        assert_eq!(
            applied["spec"]["forProvider"],
            json!({"engine": "postgres", "size": "large"})
        );
        assert_eq!(
            applied["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "strata"
        );
        assert_eq!(applied["metadata"]["labels"]["strata.dev/stack"], "db");
        assert_eq!(applied["metadata"]["ownerReferences"][0]["uid"], "uid-xr");
        assert!(applied["metadata"]["annotations"]["strata.dev/desired-hash"].is_string());
        send.send_response(
            http::Response::builder()
                .status(200)
                .body(kube::client::Body::from(
                    serde_json::to_vec(&applied).expect("json"),
                ))
                .expect("response"),
        );
        let xr_refs = serve(&mut handle, 200, json!({})).await;
        assert_eq!(
            (xr_refs.method.as_str(), xr_refs.uri.as_str()),
            ("PATCH", &*format!("{COMPOSITE}?"))
        );
        assert_eq!(
            xr_refs.content_type.as_deref(),
            Some("application/merge-patch+json")
        );
        let refs =
            json!([{"apiVersion": "database.example.org/v1", "kind": "Instance", "name": name}]);
        assert_eq!(xr_refs.body, json!({"spec": {"resourceRefs": refs}}));
        let xr_status = serve(&mut handle, 200, json!({})).await;
        assert_eq!(
            (xr_status.method.as_str(), xr_status.uri.as_str()),
            ("PATCH", &*format!("{COMPOSITE}/status?"))
        );
        let status = &xr_status.body["status"];
        assert_eq!(condition(status, "Ready")["status"], "False");
        assert_eq!(condition(status, "Ready")["reason"], "Creating");
        assert_eq!(condition(status, "Synced")["status"], "True");
        assert_eq!(status.get("resourceRefs"), None);
        let claim_status = serve(&mut handle, 200, json!({})).await;
        assert_eq!(claim_status.uri, format!("{CLAIM}/status?"));
        assert_eq!(
            condition(&claim_status.body["status"], "Ready")["status"],
            "False"
        );
        (handle, applied, refs)
    });
    let first = reconciler
        .reconcile(&claim())
        .await
        .expect("first reconcile");
    assert!(!first.ready);
    assert_eq!(first.applied.len(), 1);
    assert_eq!(first.requeue_after, Some(Duration::from_secs(5)));
    let (mut handle, applied, refs) = server.await.expect("server");

    // Pass 2: the composed resource is live and Ready: connection secret, Ready=True.
    let mut with_finalizer = claim();
    with_finalizer["metadata"]["finalizers"] = json!([FINALIZER]);
    let mut live = applied.clone();
    live["metadata"]["resourceVersion"] = json!("3");
    live["status"] = json!({"atProvider": {"endpoint": "db.example.org"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}]});
    let composite_refs = refs.clone();
    let server = tokio::spawn(async move {
        composite_apply(&mut handle, Some(&composite_refs)).await;
        let get = serve(&mut handle, 200, live).await;
        assert!(get.uri.starts_with(INSTANCES));
        let secret = serve(&mut handle, 200, json!({})).await;
        assert_eq!(secret.method, "PATCH");
        assert_eq!(
            secret.uri,
            "/api/v1/namespaces/team-a/secrets/db-conn?&force=true&fieldManager=strata"
        );
        assert_eq!(
            secret.body["data"],
            json!({"endpoint": "ZGIuZXhhbXBsZS5vcmc="})
        );
        assert_eq!(secret.body["type"], "connection.crossplane.io/v1alpha1");
        // The references are unchanged: no spec write.
        let xr_status = serve(&mut handle, 200, json!({})).await;
        assert_eq!(xr_status.uri, format!("{COMPOSITE}/status?"));
        assert_eq!(
            condition(&xr_status.body["status"], "Ready")["reason"],
            "Available"
        );
        let claim_status = serve(&mut handle, 200, json!({})).await;
        assert_eq!(claim_status.uri, format!("{CLAIM}/status?"));
        assert_eq!(
            condition(&claim_status.body["status"], "Ready")["status"],
            "True"
        );
        assert_eq!(
            condition(&claim_status.body["status"], "Synced")["reason"],
            "ReconcileSuccess"
        );
        (handle, claim_status.body["status"].clone())
    });
    let second = reconciler
        .reconcile(&with_finalizer)
        .await
        .expect("second reconcile");
    assert!(second.ready, "{second:?}");
    assert!(
        second.applied.is_empty(),
        "an unchanged composed resource is not re-applied"
    );
    assert_eq!(second.requeue_after, Some(Duration::from_secs(60)));
    let (mut handle, claim_status) = server.await.expect("server");

    // Deletion: composed resource, composite and secret deleted, then the finalizer removed.
    let mut deleting = with_finalizer.clone();
    deleting["metadata"]["deletionTimestamp"] = json!("2026-11-22T10:00:00Z");
    deleting["metadata"]["finalizers"] = json!([FINALIZER, "example.org/keep"]);
    deleting["status"] = claim_status;
    let composite = json!({"apiVersion": "platform.example.org/v1alpha1", "kind": "XPostgres",
        "metadata": {"name": "db", "uid": "uid-xr"}, "spec": {"size": "large", "resourceRefs": refs}});
    let server = tokio::spawn(async move {
        // The claim's composed resources are those its composite lists.
        let xr = serve(&mut handle, 200, composite).await;
        assert_eq!((xr.method.as_str(), xr.uri.as_str()), ("GET", COMPOSITE));
        let composed = serve_success(&mut handle).await;
        assert_eq!(composed.method, "DELETE");
        assert!(composed.uri.starts_with(INSTANCES), "{}", composed.uri);
        assert_eq!(composed.body["propagationPolicy"], "Foreground");
        let xr = serve_success(&mut handle).await;
        assert_eq!(
            (xr.method.as_str(), xr.uri.as_str()),
            ("DELETE", &*format!("{COMPOSITE}?"))
        );
        let secret = serve(&mut handle, 404, status(404, "NotFound", "gone")).await;
        assert_eq!(
            (secret.method.as_str(), secret.uri.as_str()),
            ("DELETE", "/api/v1/namespaces/team-a/secrets/db-conn?")
        );
        let check = serve(&mut handle, 404, status(404, "NotFound", "gone")).await;
        assert_eq!(check.method, "GET");
        assert!(check.uri.starts_with(INSTANCES));
        let release = serve(&mut handle, 200, json!({})).await;
        assert_eq!(
            (release.method.as_str(), release.uri.as_str()),
            ("PATCH", &*format!("{CLAIM}?"))
        );
        assert_eq!(
            release.body,
            json!({"metadata": {"finalizers": ["example.org/keep"]}})
        );
        handle
    });
    let deleted = reconciler.reconcile(&deleting).await.expect("deletion");
    assert!(deleted.released);
    assert_eq!(deleted.deleted.len(), 1);
    server.await.expect("server");
}

#[tokio::test]
async fn the_finalizer_stays_while_composed_resources_still_exist() {
    let (client, mut handle) = mock();
    let reconciler = reconciler(client, DriftPolicy::default());
    let mut deleting = claim();
    deleting["spec"]
        .as_object_mut()
        .expect("spec")
        .remove("writeConnectionSecretToRef");
    deleting["metadata"]["deletionTimestamp"] = json!("2026-11-22T10:00:00Z");
    deleting["metadata"]["finalizers"] = json!([FINALIZER]);
    let composite = json!({"apiVersion": "platform.example.org/v1alpha1", "kind": "XPostgres",
        "metadata": {"name": "db"}, "spec": {"resourceRefs": [
            {"apiVersion": "database.example.org/v1", "kind": "Instance", "name": "db-abc"}]}});
    let server = tokio::spawn(async move {
        let xr = serve(&mut handle, 200, composite).await;
        assert_eq!((xr.method.as_str(), xr.uri.as_str()), ("GET", COMPOSITE));
        let delete = serve_success(&mut handle).await;
        assert_eq!(
            delete.uri,
            "/apis/database.example.org/v1/instances/db-abc?"
        );
        serve(&mut handle, 404, status(404, "NotFound", "gone")).await;
        let still = serve(
            &mut handle,
            200,
            json!({"apiVersion": "database.example.org/v1", "kind": "Instance",
            "metadata": {"name": "db-abc", "deletionTimestamp": "2026-11-22T10:00:00Z"}}),
        )
        .await;
        assert_eq!(still.method, "GET");
        handle
    });
    let outcome = reconciler
        .reconcile(&deleting)
        .await
        .expect("deletion pending");
    assert!(!outcome.released);
    assert_eq!(outcome.requeue_after, Some(Duration::from_secs(5)));
    let mut handle = server.await.expect("server");
    drop(reconciler);
    common::assert_no_more_requests(&mut handle).await;
}

#[tokio::test]
async fn a_watch_that_gets_410_gone_lists_again() {
    let (client, mut handle) = mock();
    let xpostgres = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("platform.example.org", "v1alpha1", "XPostgres"),
        "xpostgres",
    );
    let item = |name: &str| {
        json!({"apiVersion": "platform.example.org/v1alpha1", "kind": "XPostgres",
        "metadata": {"name": name, "resourceVersion": "1"}})
    };
    let server = tokio::spawn(async move {
        let mut uris = Vec::new();
        let list = serve(
            &mut handle,
            200,
            json!({"apiVersion": "platform.example.org/v1alpha1", "kind": "XPostgresList",
            "metadata": {"resourceVersion": "10"}, "items": [item("a")]}),
        )
        .await;
        uris.push(list.uri);
        let (watch, send) = handle.next_request().await.expect("watch");
        uris.push(watch.uri().to_string());
        let gone = json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "code": 410, "reason": "Expired", "message": "too old resource version: 10 (15)"}});
        send.send_response(
            http::Response::builder()
                .status(200)
                .body(kube::client::Body::from(format!("{gone}\n").into_bytes()))
                .expect("response"),
        );
        let relist = serve(
            &mut handle,
            200,
            json!({"apiVersion": "platform.example.org/v1alpha1", "kind": "XPostgresList",
            "metadata": {"resourceVersion": "20"}, "items": [item("a"), item("b")]}),
        )
        .await;
        uris.push(relist.uri);
        let (watch, _send) = handle.next_request().await.expect("second watch");
        uris.push(watch.uri().to_string());
        uris
    });
    let mut stream = Box::pin(watch_objects(client, &xpostgres));
    let mut seen = Vec::new();
    let mut errors = 0;
    while !seen.contains(&"b".to_owned()) {
        match tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("watch progresses")
        {
            Some(Ok(object)) => seen.push(object.metadata.name.clone().expect("named")),
            Some(Err(_)) => errors += 1,
            None => panic!("the watch ended"),
        }
    }
    assert_eq!(seen, vec!["a", "a", "b"]);
    assert!(errors <= 1);
    // Keep the watch running until it has sent its next request.
    let drain = async { while stream.next().await.is_some() {} };
    let uris = tokio::time::timeout(Duration::from_secs(5), async {
        tokio::select! {
            uris = server => uris.expect("server"),
            () = drain => panic!("the watch ended"),
        }
    })
    .await
    .expect("server done");
    assert!(
        uris[0].starts_with("/apis/platform.example.org/v1alpha1/xpostgres?"),
        "{}",
        uris[0]
    );
    assert!(!uris[0].contains("watch=true"), "{}", uris[0]);
    assert!(
        uris[1].contains("watch=true") && uris[1].contains("resourceVersion=10"),
        "{}",
        uris[1]
    );
    assert!(
        !uris[2].contains("watch=true"),
        "a fresh list after 410: {}",
        uris[2]
    );
    assert!(
        uris[3].contains("watch=true") && uris[3].contains("resourceVersion=20"),
        "{}",
        uris[3]
    );
}

/// A composite listing a composed resource the composition no longer renders.
fn composite_with_stale_ref() -> Value {
    json!({"apiVersion": "platform.example.org/v1alpha1", "kind": "XPostgres",
        "metadata": {"name": "db", "uid": "uid-xr", "finalizers": [FINALIZER]},
        "spec": {"size": "large", "resourceRefs": [
            {"apiVersion": "database.example.org/v1", "kind": "Instance", "name": "db-stale"}]}})
}

/// Serves one reconcile of [`composite_with_stale_ref`] up to the stale resource's GET, which
/// is answered with `stale`; returns the composed resource's name.
async fn serve_until_stale_get(handle: &mut Handle, stale: Value) -> String {
    let get = serve(handle, 404, status(404, "NotFound", "not found")).await;
    assert_eq!(get.method, "GET");
    let name = get
        .uri
        .trim_start_matches(INSTANCES)
        .trim_end_matches('?')
        .to_owned();
    assert_ne!(name, "db-stale");
    let (request, send) = handle.next_request().await.expect("composed apply");
    assert_eq!(request.method(), "PATCH");
    assert_eq!(
        request.uri().to_string(),
        format!("{INSTANCES}{name}?&fieldManager=strata&fieldValidation=Strict")
    );
    let applied = request.into_body().collect_bytes().await.expect("body");
    send.send_response(
        http::Response::builder()
            .status(200)
            .body(kube::client::Body::from(applied.to_vec()))
            .expect("response"),
    );
    let stale_get = serve(handle, 200, stale).await;
    assert_eq!(
        (stale_get.method.as_str(), stale_get.uri.as_str()),
        ("GET", &*format!("{INSTANCES}db-stale"))
    );
    name
}

fn stale_instance(stack: &str) -> Value {
    json!({"apiVersion": "database.example.org/v1", "kind": "Instance",
        "metadata": {"name": "db-stale", "labels": {
            "app.kubernetes.io/managed-by": "strata", "strata.dev/stack": stack}}})
}

#[tokio::test]
async fn composed_resources_no_longer_rendered_are_deleted() {
    let (client, mut handle) = mock();
    let reconciler = reconciler(client, DriftPolicy::default());
    let server = tokio::spawn(async move {
        let name = serve_until_stale_get(&mut handle, stale_instance("db")).await;
        let delete = serve_success(&mut handle).await;
        assert_eq!(
            (delete.method.as_str(), delete.uri.as_str()),
            ("DELETE", &*format!("{INSTANCES}db-stale?"))
        );
        let xr_refs = serve(&mut handle, 200, json!({})).await;
        assert_eq!(xr_refs.uri, format!("{COMPOSITE}?"));
        assert_eq!(
            xr_refs.body,
            json!({"spec": {"resourceRefs": [
                {"apiVersion": "database.example.org/v1", "kind": "Instance", "name": name}]}}),
            "the pruned resource leaves the references"
        );
        let xr_status = serve(&mut handle, 200, json!({})).await;
        assert_eq!(xr_status.uri, format!("{COMPOSITE}/status?"));
        handle
    });
    let outcome = reconciler
        .reconcile(&composite_with_stale_ref())
        .await
        .expect("reconcile");
    assert_eq!(outcome.deleted.len(), 1);
    assert_eq!(outcome.deleted[0].name, "db-stale");
    let mut handle = server.await.expect("server");
    drop(reconciler);
    common::assert_no_more_requests(&mut handle).await;
}

#[tokio::test]
async fn a_stale_reference_to_something_this_composite_does_not_own_is_left_alone() {
    let (client, mut handle) = mock();
    let reconciler = reconciler(client, DriftPolicy::default());
    let server = tokio::spawn(async move {
        let name = serve_until_stale_get(&mut handle, stale_instance("another-stack")).await;
        let xr_refs = serve(&mut handle, 200, json!({})).await;
        assert_eq!(
            (xr_refs.method.as_str(), xr_refs.uri.as_str()),
            ("PATCH", &*format!("{COMPOSITE}?")),
            "no DELETE for an object another stack owns"
        );
        assert_eq!(
            xr_refs.body,
            json!({"spec": {"resourceRefs": [
                {"apiVersion": "database.example.org/v1", "kind": "Instance", "name": name}]}}),
            "what this composite does not own is no longer its reference"
        );
        let xr_status = serve(&mut handle, 200, json!({})).await;
        assert_eq!(xr_status.uri, format!("{COMPOSITE}/status?"));
        handle
    });
    let outcome = reconciler
        .reconcile(&composite_with_stale_ref())
        .await
        .expect("reconcile");
    assert!(outcome.deleted.is_empty());
    let mut handle = server.await.expect("server");
    drop(reconciler);
    common::assert_no_more_requests(&mut handle).await;
}
