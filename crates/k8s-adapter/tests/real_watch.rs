//! The claim controller's watches across an API server restart after etcd compacted away
//! every resource version it had seen: resuming from its last version is answered `410 Gone`,
//! the watcher lists again, and a claim created after the restart is composed.
//!
//! The test restarts an API server, so it starts a control plane of its own instead of the
//! one the package's other tests share (they would see their server go away).

#![allow(clippy::unwrap_used)]

use crate::real;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use serde_json::{Value, json};
use strata_core::{Provider, ProviderRegistry, Resource};
use strata_drift::{DriftEngine, DriftPolicy, DriftRules};
use strata_k8s::controller::{ControllerConfig, Reconciler, runtime};
use strata_k8s::{KubeProvider, KubeProviderOptions};
use strata_testkube::ControlPlane;

/// This test's own control plane, started on first use and stopped when the binary exits.
fn own_plane() -> &'static ControlPlane {
    static PLANE: OnceLock<ControlPlane> = OnceLock::new();
    PLANE.get_or_init(|| ControlPlane::start().expect("a control plane of its own"))
}

const PLATFORM: &str = "compacted.testkube.strata.dev";
const DATABASE: &str = "compacted-database.testkube.strata.dev";

fn managed_crd() -> Value {
    let open = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("instances.{DATABASE}")},
        "spec": {"group": DATABASE, "scope": "Cluster",
            "names": {"plural": "instances", "singular": "instance", "kind": "Instance"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object",
                    "properties": {"spec": open, "status": open}}}}]}})
}

fn config(client: &kube::Client) -> ControllerConfig {
    let xrd = json!({"apiVersion": "apiextensions.crossplane.io/v1",
        "kind": "CompositeResourceDefinition",
        "metadata": {"name": format!("xpostgres.{PLATFORM}")},
        "spec": {"group": PLATFORM,
            "names": {"kind": "XPostgres", "plural": "xpostgres"},
            "claimNames": {"kind": "Postgres", "plural": "postgres"},
            "defaultCompositionRef": {"name": "postgres-db"},
            "versions": [{"name": "v1", "served": true, "referenceable": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "size": {"type": "string"}}}}}}}]}});
    let composition = json!({"apiVersion": "apiextensions.crossplane.io/v1",
        "kind": "Composition", "metadata": {"name": "postgres-db"},
        "spec": {"compositeTypeRef": {"apiVersion": format!("{PLATFORM}/v1"), "kind": "XPostgres"},
            "resources": [{"name": "instance",
                "base": {"apiVersion": format!("{DATABASE}/v1"), "kind": "Instance",
                    "spec": {"forProvider": {"engine": "postgres"}}},
                "patches": [{"fromFieldPath": "spec.size",
                    "toFieldPath": "spec.forProvider.size"}]}]}});
    let registry = ProviderRegistry::new().with_provider(Arc::new(KubeProvider::new(
        client.clone(),
        KubeProviderOptions::default(),
    )));
    let mut config = ControllerConfig::new(
        &[xrd],
        &[composition],
        registry,
        DriftEngine::new(DriftRules::default(), DriftPolicy::default()),
    )
    .expect("valid definitions");
    config.poll_interval = Duration::from_millis(200);
    config
}

fn resource(kind: &str, plural: &str, group: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural)
}

/// The sizes of the composed Instances.
async fn composed_sizes(instances: &Api<DynamicObject>) -> Vec<String> {
    let mut sizes: Vec<String> = instances
        .list(&ListParams::default())
        .await
        .map(|list| list.items)
        .unwrap_or_default()
        .iter()
        .filter_map(|i| {
            i.data["spec"]["forProvider"]["size"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    sizes.sort();
    sizes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_list_again_after_the_server_compacted_their_resource_version() {
    let plane = own_plane();
    let client = plane.client().await.expect("admin client");
    let namespace = plane
        .namespace(&client, "watch-compaction")
        .await
        .expect("namespace");
    KubeProvider::new(client.clone(), KubeProviderOptions::default())
        .create(&Resource::from_manifest(managed_crd()).unwrap())
        .await
        .expect("CRD established");
    let reconciler = Arc::new(Reconciler::new(client.clone(), config(&client)));
    let running = tokio::spawn(runtime::run(Arc::clone(&reconciler)));
    let claims: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &namespace,
        &resource("Postgres", "postgres", PLATFORM),
    );
    let instances: Api<DynamicObject> =
        Api::all_with(client.clone(), &resource("Instance", "instances", DATABASE));
    let claim = |name: &str, size: &str| -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": format!("{PLATFORM}/v1"), "kind": "Postgres",
            "metadata": {"name": name, "namespace": namespace}, "spec": {"size": size}}))
        .unwrap()
    };
    // Served once the runtime has installed the claim CRD and discovery caught up.
    real::eventually(
        Duration::from_secs(60),
        "the first claim created",
        || async {
            claims
                .create(&PostParams::default(), &claim("before", "small"))
                .await
                .ok()
        },
    )
    .await;
    real::eventually(
        Duration::from_secs(60),
        "the first claim composed",
        || async { (composed_sizes(&instances).await == ["small"]).then_some(()) },
    )
    .await;

    // Every resource version the watches hold is compacted away while the server is down.
    let compacted =
        tokio::task::spawn_blocking(|| own_plane().restart_apiserver_after_compaction())
            .await
            .unwrap()
            .expect("API server restarted after compaction");
    assert!(compacted > 0);

    real::eventually(
        Duration::from_secs(60),
        "the second claim created",
        || async {
            claims
                .create(&PostParams::default(), &claim("after", "large"))
                .await
                .ok()
        },
    )
    .await;
    real::eventually(
        Duration::from_secs(60),
        "the claim created after the compaction composed",
        || async { (composed_sizes(&instances).await == ["large", "small"]).then_some(()) },
    )
    .await;
    assert!(!running.is_finished(), "the runtime keeps watching");
    running.abort();
}
