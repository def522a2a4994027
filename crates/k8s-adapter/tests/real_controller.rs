//! The claim controller against a real kube-apiserver (with etcd): a claim becomes a
//! composite and composed resources, then Ready with its connection secret, then is deleted
//! through its finalizer.
//!
//! The CRDs of the composite, claim and composed kinds are written here (Crossplane would make
//! the first two from the XRD). No provider or garbage collector runs: the test writes the
//! composed resource's status, and removes the `foregroundDeletion` finalizer as the collector
//! would.

#![allow(clippy::unwrap_used)]

mod real;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};
use strata_core::{Provider, ProviderRegistry, Resource};
use strata_drift::{DriftEngine, DriftPolicy, DriftRules};
use strata_k8s::controller::{ControllerConfig, FINALIZER, Reconciler};
use strata_k8s::{KubeProvider, KubeProviderOptions};

use real::setup;

const PLATFORM: &str = "platform.testkube.strata.dev";
const DATABASE: &str = "database.testkube.strata.dev";

fn crd(group: &str, kind: &str, plural: &str, scope: &str) -> Value {
    let open = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {"group": group, "scope": scope,
            "names": {"plural": plural, "singular": kind.to_lowercase(), "kind": kind},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object",
                    "properties": {"spec": open, "status": open}}}}]}})
}

fn xrd() -> Value {
    json!({"apiVersion": "apiextensions.crossplane.io/v1", "kind": "CompositeResourceDefinition",
        "metadata": {"name": format!("xpostgres.{PLATFORM}")},
        "spec": {"group": PLATFORM,
            "names": {"kind": "XPostgres", "plural": "xpostgres"},
            "claimNames": {"kind": "Postgres", "plural": "postgres"},
            "defaultCompositionRef": {"name": "postgres-db"},
            "versions": [{"name": "v1", "served": true, "referenceable": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "string", "default": "small"}}}}}}}]}})
}

fn composition() -> Value {
    json!({"apiVersion": "apiextensions.crossplane.io/v1", "kind": "Composition",
        "metadata": {"name": "postgres-db"},
        "spec": {"compositeTypeRef": {"apiVersion": format!("{PLATFORM}/v1"), "kind": "XPostgres"},
            "resources": [{"name": "instance",
                "base": {"apiVersion": format!("{DATABASE}/v1"), "kind": "Instance",
                    "spec": {"forProvider": {"engine": "postgres"}}},
                "patches": [{"fromFieldPath": "spec.size", "toFieldPath": "spec.forProvider.size"}],
                "connectionDetails": [{"name": "endpoint", "type": "FromFieldPath",
                    "fromFieldPath": "status.atProvider.endpoint"}]}]}})
}

fn dynamic(kind: &str, plural: &str, group: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural)
}

fn condition(object: &DynamicObject, kind: &str) -> (String, String) {
    let found = object.data["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind))
        .unwrap_or_else(|| panic!("no {kind} condition in {:?}", object.data));
    (
        found["status"].as_str().unwrap().to_owned(),
        found["reason"].as_str().unwrap().to_owned(),
    )
}

/// A watched object as the runtime hands it to the reconciler (with apiVersion and kind).
fn as_value(object: &DynamicObject, api_version: &str, kind: &str) -> Value {
    let mut value = serde_json::to_value(object).unwrap();
    value["apiVersion"] = json!(api_version);
    value["kind"] = json!(kind);
    value
}

#[tokio::test]
async fn a_claim_becomes_composed_resources_then_ready_then_is_deleted_through_its_finalizer() {
    let (client, namespace) = setup("claim").await;
    let provider = KubeProvider::new(client.clone(), KubeProviderOptions::default());
    for definition in [
        crd(PLATFORM, "XPostgres", "xpostgres", "Cluster"),
        crd(PLATFORM, "Postgres", "postgres", "Namespaced"),
        crd(DATABASE, "Instance", "instances", "Cluster"),
    ] {
        provider
            .create(&Resource::from_manifest(definition).unwrap())
            .await
            .expect("CRD established");
    }
    let registry = ProviderRegistry::new().with_provider(Arc::new(KubeProvider::new(
        client.clone(),
        KubeProviderOptions::default(),
    )));
    let config = ControllerConfig::new(
        &[xrd()],
        &[composition()],
        registry,
        DriftEngine::new(DriftRules::default(), DriftPolicy::default()),
    )
    .expect("valid definitions");
    let reconciler = Reconciler::new(client.clone(), config);

    let claims: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &namespace,
        &dynamic("Postgres", "postgres", PLATFORM),
    );
    let composites: Api<DynamicObject> =
        Api::all_with(client.clone(), &dynamic("XPostgres", "xpostgres", PLATFORM));
    let instances: Api<DynamicObject> =
        Api::all_with(client.clone(), &dynamic("Instance", "instances", DATABASE));
    let claim_version = format!("{PLATFORM}/v1");
    let claim: DynamicObject = serde_json::from_value(json!({
        "apiVersion": claim_version, "kind": "Postgres",
        "metadata": {"name": "db", "namespace": namespace},
        "spec": {"size": "large", "writeConnectionSecretToRef": {"name": "db-conn"}}}))
    .unwrap();
    claims.create(&PostParams::default(), &claim).await.unwrap();
    let read_claim =
        || async { as_value(&claims.get("db").await.unwrap(), &claim_version, "Postgres") };

    // Pass 1: finalizer, composite, composed resource; not Ready yet.
    let first = reconciler
        .reconcile(&read_claim().await)
        .await
        .expect("reconciled");
    assert!(!first.ready, "{first:?}");
    assert_eq!(first.applied.len(), 1, "{first:?}");
    let live_claim = claims.get("db").await.unwrap();
    assert_eq!(
        live_claim.metadata.finalizers.clone().unwrap_or_default(),
        vec![FINALIZER.to_owned()]
    );
    assert_eq!(
        condition(&live_claim, "Ready"),
        ("False".into(), "Creating".into())
    );
    assert_eq!(
        condition(&live_claim, "Synced"),
        ("True".into(), "ReconcileSuccess".into())
    );
    let composite = composites.get("db").await.expect("the composite");
    assert_eq!(composite.data["spec"]["size"], "large");
    let listed = instances.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(listed.len(), 1);
    let instance = &listed[0];
    let instance_name = instance.metadata.name.clone().unwrap();
    assert_eq!(first.applied[0].name, instance_name);
    assert_eq!(
        instance.data["spec"]["forProvider"],
        json!({"engine": "postgres", "size": "large"})
    );
    let owners = instance
        .metadata
        .owner_references
        .clone()
        .unwrap_or_default();
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0].uid, composite.metadata.uid.clone().unwrap());
    assert_eq!(
        composite.data["status"]["resourceRefs"][0]["name"],
        json!(instance_name)
    );

    // The provider's stand-in reports the instance ready, with its endpoint.
    instances
        .patch_status(
            &instance_name,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"atProvider": {"endpoint": "db.example.org"},
                "conditions": [{"type": "Ready", "status": "True", "reason": "Available",
                    "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}),
            ),
        )
        .await
        .unwrap();

    // Pass 2: Ready, connection secret written, nothing re-applied.
    let second = reconciler
        .reconcile(&read_claim().await)
        .await
        .expect("reconciled");
    assert!(second.ready, "{second:?}");
    assert_eq!(second.applied, vec![]);
    let live_claim = claims.get("db").await.unwrap();
    assert_eq!(
        condition(&live_claim, "Ready"),
        ("True".into(), "Available".into())
    );
    assert_eq!(
        condition(&composites.get("db").await.unwrap(), "Ready"),
        ("True".into(), "Available".into())
    );
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let connection = secrets.get("db-conn").await.expect("connection secret");
    assert_eq!(
        connection.type_.as_deref(),
        Some("connection.crossplane.io/v1alpha1")
    );
    let endpoint = connection
        .data
        .unwrap_or_default()
        .get("endpoint")
        .map(|b| String::from_utf8(b.0.clone()).unwrap());
    assert_eq!(endpoint.as_deref(), Some("db.example.org"));

    // Deletion: the finalizer holds the claim until the composed resource is gone.
    claims.delete("db", &Default::default()).await.unwrap();
    let deleting = reconciler
        .reconcile(&read_claim().await)
        .await
        .expect("reconciled");
    assert!(
        !deleting.released,
        "the composed resource is still there: {deleting:?}"
    );
    assert_eq!(deleting.deleted.len(), 1);
    assert!(secrets.get_opt("db-conn").await.unwrap().is_none());
    // The garbage collector's stand-in finishes the foreground deletion.
    let marked = instances.get(&instance_name).await.unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some());
    instances
        .patch(
            &instance_name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    let released = reconciler
        .reconcile(&read_claim().await)
        .await
        .expect("reconciled");
    assert!(released.released, "{released:?}");
    real::eventually(Duration::from_secs(10), "the claim is gone", || async {
        claims.get_opt("db").await.unwrap().is_none().then_some(())
    })
    .await;
    assert!(instances.get_opt(&instance_name).await.unwrap().is_none());
}
