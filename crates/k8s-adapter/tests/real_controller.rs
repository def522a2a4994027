//! The claim controller against a real kube-apiserver (with etcd): the composite and claim
//! CRDs derived from the XRD are installed and enforced by the server; a claim becomes a
//! composite and composed resources, then Ready with its connection secret, then is deleted
//! through its finalizer; and the runtime installs the CRDs before it watches.
//!
//! The composed kind's CRD is written here (a provider package would install it). No provider or
//! garbage collector runs: the test writes the composed resource's status, and removes the
//! `foregroundDeletion` finalizer as the collector would.

#![allow(clippy::unwrap_used)]

use crate::real;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};
use strata_core::{Provider, ProviderRegistry, Resource};
use strata_drift::{DriftEngine, DriftPolicy, DriftRules};
use strata_k8s::controller::crds::install_crds;
use strata_k8s::controller::{ControllerConfig, FINALIZER, Reconciler, runtime};
use strata_k8s::{KubeProvider, KubeProviderOptions};

use real::setup;

/// The groups of the tests' XRDs and composed kinds: one pair per test, since CRDs, composites
/// and composed resources are cluster-wide.
const PLATFORM: &str = "platform.testkube.strata.dev";
const DATABASE: &str = "database.testkube.strata.dev";
const SCHEMA_PLATFORM: &str = "schema.testkube.strata.dev";
const WATCHED_PLATFORM: &str = "watched.testkube.strata.dev";
const WATCHED_DATABASE: &str = "watched-database.testkube.strata.dev";

/// A managed resource's CRD, as a provider package would install it.
fn managed_crd(group: &str) -> Value {
    let open = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("instances.{group}")},
        "spec": {"group": group, "scope": "Cluster",
            "names": {"plural": "instances", "singular": "instance", "kind": "Instance"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object",
                    "properties": {"spec": open, "status": open}}}}]}})
}

fn xrd(group: &str) -> Value {
    json!({"apiVersion": "apiextensions.crossplane.io/v1", "kind": "CompositeResourceDefinition",
        "metadata": {"name": format!("xpostgres.{group}")},
        "spec": {"group": group,
            "names": {"kind": "XPostgres", "plural": "xpostgres"},
            "claimNames": {"kind": "Postgres", "plural": "postgres"},
            "defaultCompositionRef": {"name": "postgres-db"},
            "versions": [{"name": "v1", "served": true, "referenceable": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "size": {"type": "string", "enum": ["small", "large"], "default": "small"}}},
                    "status": {"type": "object", "properties": {"endpoint": {"type": "string"}}}}}}}]}})
}

fn composition(platform: &str, database: &str) -> Value {
    json!({"apiVersion": "apiextensions.crossplane.io/v1", "kind": "Composition",
        "metadata": {"name": "postgres-db"},
        "spec": {"compositeTypeRef": {"apiVersion": format!("{platform}/v1"), "kind": "XPostgres"},
            "resources": [{"name": "instance",
                "base": {"apiVersion": format!("{database}/v1"), "kind": "Instance",
                    "spec": {"forProvider": {"engine": "postgres"}}},
                "patches": [{"fromFieldPath": "spec.size", "toFieldPath": "spec.forProvider.size"},
                    {"type": "ToCompositeFieldPath", "fromFieldPath": "status.atProvider.endpoint",
                        "toFieldPath": "status.endpoint"}],
                "connectionDetails": [{"name": "endpoint", "type": "FromFieldPath",
                    "fromFieldPath": "status.atProvider.endpoint"}]}]}})
}

/// A controller configuration for the XRD of `platform`, composing Instances of `database`.
fn config(client: &kube::Client, platform: &str, database: &str) -> ControllerConfig {
    let registry = ProviderRegistry::new().with_provider(Arc::new(KubeProvider::new(
        client.clone(),
        KubeProviderOptions::default(),
    )));
    ControllerConfig::new(
        &[xrd(platform)],
        &[composition(platform, database)],
        registry,
        DriftEngine::new(DriftRules::default(), DriftPolicy::default()),
    )
    .expect("valid definitions")
}

async fn install_managed_crd(client: &kube::Client, group: &str) {
    KubeProvider::new(client.clone(), KubeProviderOptions::default())
        .create(&Resource::from_manifest(managed_crd(group)).unwrap())
        .await
        .expect("CRD established");
}

fn crds_api(client: &kube::Client) -> Api<DynamicObject> {
    Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    )
}

/// The message of the API server's answer to a rejected request.
fn rejection(error: kube::Error) -> (u16, String) {
    match error {
        kube::Error::Api(status) => (status.code, status.message),
        other => panic!("not an API error: {other}"),
    }
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
    let config = config(&client, PLATFORM, DATABASE);
    let installed = install_crds(&client, &config)
        .await
        .expect("CRDs installed");
    assert_eq!(
        installed,
        [
            format!("xpostgres.{PLATFORM}"),
            format!("postgres.{PLATFORM}")
        ]
    );
    install_managed_crd(&client, DATABASE).await;
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
        composite.data["spec"]["resourceRefs"],
        json!([{"apiVersion": format!("{DATABASE}/v1"), "kind": "Instance", "name": instance_name}])
    );
    // The server defaulted Crossplane's fields from the generated schemas.
    assert_eq!(
        composite.data["spec"]["compositionUpdatePolicy"],
        "Automatic"
    );
    assert_eq!(
        live_claim.data["spec"]["compositeDeletePolicy"],
        "Background"
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
    // The XRD's status field, patched from the composed resource, is kept by the claim's schema.
    assert_eq!(live_claim.data["status"]["endpoint"], "db.example.org");
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

#[tokio::test]
async fn the_server_holds_the_generated_crds_and_enforces_the_xrd_schema_on_claims() {
    let (client, namespace) = setup("xrd-schema").await;
    let config = config(&client, SCHEMA_PLATFORM, DATABASE);
    install_crds(&client, &config)
        .await
        .expect("CRDs installed");
    let expected = strata_composition::crd::crds_for(&xrd(SCHEMA_PLATFORM)).unwrap();
    let crds = crds_api(&client);
    for (name, scope, kind, category, generated) in [
        (
            format!("xpostgres.{SCHEMA_PLATFORM}"),
            "Cluster",
            "XPostgres",
            "composite",
            &expected.composite,
        ),
        (
            format!("postgres.{SCHEMA_PLATFORM}"),
            "Namespaced",
            "Postgres",
            "claim",
            expected.claim.as_ref().unwrap(),
        ),
    ] {
        let live = crds.get(&name).await.expect("the CRD");
        let spec = &live.data["spec"];
        assert_eq!(spec["group"], SCHEMA_PLATFORM, "{name}");
        assert_eq!(spec["scope"], scope, "{name}");
        assert_eq!(spec["names"]["kind"], kind, "{name}");
        assert_eq!(spec["names"]["categories"], json!([category]), "{name}");
        let versions = spec["versions"].as_array().unwrap();
        assert_eq!(versions.len(), 1, "{name}");
        assert_eq!(
            (
                &versions[0]["name"],
                &versions[0]["served"],
                &versions[0]["storage"]
            ),
            (&json!("v1"), &json!(true), &json!(true)),
            "{name}"
        );
        assert_eq!(versions[0]["subresources"], json!({"status": {}}), "{name}");
        // The schema the server holds is exactly the generated one.
        assert_eq!(
            versions[0]["schema"], generated["spec"]["versions"][0]["schema"],
            "{name}"
        );
        let established = live.data["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True");
        assert!(established, "{name}: {:?}", live.data["status"]);
        assert_eq!(live.data["status"]["acceptedNames"]["kind"], kind, "{name}");
    }

    let claims: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &namespace,
        &dynamic("Postgres", "postgres", SCHEMA_PLATFORM),
    );
    let claim = |spec: Value| -> DynamicObject {
        serde_json::from_value(json!({"apiVersion": format!("{SCHEMA_PLATFORM}/v1"),
            "kind": "Postgres", "metadata": {"name": "db", "namespace": namespace}, "spec": spec}))
        .unwrap()
    };
    // A value the XRD's enum does not allow.
    let refused = claims
        .create(&PostParams::default(), &claim(json!({"size": "huge"})))
        .await
        .expect_err("the XRD's schema refuses the size");
    assert_eq!(
        rejection(refused),
        (
            422,
            format!(
                "Postgres.{SCHEMA_PLATFORM} \"db\" is invalid: spec.size: Unsupported value: \"huge\": supported values: \"small\", \"large\""
            )
        )
    );
    // Crossplane's claim fields are typed too: the connection secret needs a name.
    let refused = claims
        .create(
            &PostParams::default(),
            &claim(json!({"writeConnectionSecretToRef": {}})),
        )
        .await
        .expect_err("Crossplane's schema refuses the reference");
    assert_eq!(
        rejection(refused),
        (
            422,
            format!(
                "Postgres.{SCHEMA_PLATFORM} \"db\" is invalid: spec.writeConnectionSecretToRef.name: Required value"
            )
        )
    );
    // A valid claim gets the XRD's defaults and Crossplane's from the server.
    let created = claims
        .create(&PostParams::default(), &claim(json!({})))
        .await
        .expect("a valid claim");
    assert_eq!(
        created.data["spec"],
        json!({"size": "small", "compositionUpdatePolicy": "Automatic",
            "compositeDeletePolicy": "Background"})
    );
    claims.delete("db", &Default::default()).await.unwrap();
}

#[tokio::test]
async fn the_runtime_installs_the_crds_then_reconciles_claims_from_watches() {
    let (client, namespace) = setup("xrd-runtime").await;
    install_managed_crd(&client, WATCHED_DATABASE).await;
    let mut config = config(&client, WATCHED_PLATFORM, WATCHED_DATABASE);
    config.poll_interval = Duration::from_millis(200);
    let reconciler = Arc::new(Reconciler::new(client.clone(), config));
    let crds = crds_api(&client);
    assert!(
        crds.get_opt(&format!("postgres.{WATCHED_PLATFORM}"))
            .await
            .unwrap()
            .is_none(),
        "no claim CRD before the runtime starts"
    );
    let running = tokio::spawn(runtime::run(Arc::clone(&reconciler)));

    // The claim CRD appears; a claim created then is picked up by the watch.
    real::eventually(Duration::from_secs(30), "the claim CRD", || async {
        crds.get_opt(&format!("postgres.{WATCHED_PLATFORM}"))
            .await
            .unwrap()
            .filter(|crd| {
                crd.data["status"]["conditions"]
                    .as_array()
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c["type"] == "Established" && c["status"] == "True")
                    })
            })
    })
    .await;
    let claims: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &namespace,
        &dynamic("Postgres", "postgres", WATCHED_PLATFORM),
    );
    let claim: DynamicObject = serde_json::from_value(json!({
        "apiVersion": format!("{WATCHED_PLATFORM}/v1"), "kind": "Postgres",
        "metadata": {"name": "db", "namespace": namespace}, "spec": {"size": "large"}}))
    .unwrap();
    // Served once discovery has caught up with the established CRD.
    real::eventually(Duration::from_secs(30), "the claim created", || async {
        claims.create(&PostParams::default(), &claim).await.ok()
    })
    .await;
    let instances: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &dynamic("Instance", "instances", WATCHED_DATABASE),
    );
    let instance = real::eventually(Duration::from_secs(30), "the composed Instance", || async {
        instances
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .next()
    })
    .await;
    assert_eq!(
        instance.data["spec"]["forProvider"],
        json!({"engine": "postgres", "size": "large"})
    );
    instances
        .patch_status(
            &instance.metadata.name.clone().unwrap(),
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"atProvider": {"endpoint": "db.example.org"},
                "conditions": [{"type": "Ready", "status": "True", "reason": "Available",
                    "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}),
            ),
        )
        .await
        .unwrap();
    let ready = real::eventually(Duration::from_secs(30), "the claim Ready", || async {
        let live = claims.get("db").await.unwrap();
        let ready = live.data["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
        ready.then_some(live)
    })
    .await;
    assert_eq!(ready.data["status"]["endpoint"], "db.example.org");
    assert!(!running.is_finished(), "the runtime keeps watching");
    running.abort();
}

const ENV_PLATFORM: &str = "envconfig.testkube.strata.dev";
const ENV_DATABASE: &str = "envconfig-database.testkube.strata.dev";

#[tokio::test]
async fn a_composition_reads_the_clusters_environment_configs() {
    let (client, namespace) = setup("environment-configs").await;
    // Crossplane's EnvironmentConfig kind, as Crossplane's own CRDs install it (its `data` is
    // free-form).
    let open = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "environmentconfigs.apiextensions.crossplane.io"},
        "spec": {"group": "apiextensions.crossplane.io", "scope": "Cluster",
            "names": {"plural": "environmentconfigs", "singular": "environmentconfig",
                "kind": "EnvironmentConfig"},
            "versions": [{"name": "v1beta1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object",
                    "properties": {"data": open}}}}]}});
    KubeProvider::new(client.clone(), KubeProviderOptions::default())
        .create(&Resource::from_manifest(crd).unwrap())
        .await
        .expect("EnvironmentConfig CRD established");
    let configs: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(
                "apiextensions.crossplane.io",
                "v1beta1",
                "EnvironmentConfig",
            ),
            "environmentconfigs",
        ),
    );
    let config_object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apiextensions.crossplane.io/v1beta1", "kind": "EnvironmentConfig",
        "metadata": {"name": "envconfig-test-eu"},
        "data": {"engineVersion": "16.4", "backup": {"window": "02:00-03:00"}}}))
    .unwrap();
    real::eventually(
        Duration::from_secs(30),
        "the EnvironmentConfig created",
        || async {
            configs
                .create(&PostParams::default(), &config_object)
                .await
                .ok()
        },
    )
    .await;

    // An environment-configs step, then patch-and-transform reading the environment.
    let composition = json!({"apiVersion": "apiextensions.crossplane.io/v1", "kind": "Composition",
        "metadata": {"name": "postgres-db"},
        "spec": {"compositeTypeRef": {"apiVersion": format!("{ENV_PLATFORM}/v1"), "kind": "XPostgres"},
            "mode": "Pipeline",
            "pipeline": [
                {"step": "environment", "functionRef": {"name": "function-environment-configs"},
                    "input": {"apiVersion": "environmentconfigs.fn.crossplane.io/v1beta1",
                        "kind": "Input",
                        "spec": {"environmentConfigs": [
                            {"type": "Reference", "ref": {"name": "envconfig-test-eu"}}]}}},
                {"step": "resources", "functionRef": {"name": "function-patch-and-transform"},
                    "input": {"apiVersion": "pt.fn.crossplane.io/v1beta1", "kind": "Resources",
                        "resources": [{"name": "instance",
                            "base": {"apiVersion": format!("{ENV_DATABASE}/v1"), "kind": "Instance",
                                "spec": {"forProvider": {"engine": "postgres"}}},
                            "patches": [
                                {"type": "FromCompositeFieldPath", "fromFieldPath": "spec.size",
                                    "toFieldPath": "spec.forProvider.size"},
                                {"type": "FromEnvironmentFieldPath", "fromFieldPath": "engineVersion",
                                    "toFieldPath": "spec.forProvider.engineVersion"},
                                {"type": "FromEnvironmentFieldPath", "fromFieldPath": "backup.window",
                                    "toFieldPath": "spec.forProvider.backupWindow"}]}]}}]}});
    let registry = ProviderRegistry::new().with_provider(Arc::new(KubeProvider::new(
        client.clone(),
        KubeProviderOptions::default(),
    )));
    let config = ControllerConfig::new(
        &[xrd(ENV_PLATFORM)],
        &[composition],
        registry,
        DriftEngine::new(DriftRules::default(), DriftPolicy::default()),
    )
    .expect("valid definitions");
    install_crds(&client, &config)
        .await
        .expect("CRDs installed");
    install_managed_crd(&client, ENV_DATABASE).await;
    let reconciler = Reconciler::new(client.clone(), config);
    let claims: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &namespace,
        &dynamic("Postgres", "postgres", ENV_PLATFORM),
    );
    let claim_version = format!("{ENV_PLATFORM}/v1");
    let claim: DynamicObject = serde_json::from_value(json!({
        "apiVersion": claim_version, "kind": "Postgres",
        "metadata": {"name": "db", "namespace": namespace},
        "spec": {"size": "small"}}))
    .unwrap();
    real::eventually(Duration::from_secs(30), "the claim created", || async {
        claims.create(&PostParams::default(), &claim).await.ok()
    })
    .await;
    let live = as_value(&claims.get("db").await.unwrap(), &claim_version, "Postgres");
    reconciler.reconcile(&live).await.expect("reconciled");
    let instances: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &dynamic("Instance", "instances", ENV_DATABASE),
    );
    let listed = instances.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].data["spec"]["forProvider"],
        json!({"engine": "postgres", "size": "small", "engineVersion": "16.4",
            "backupWindow": "02:00-03:00"})
    );

    // The config gone, the Required reference fails the reconcile naming it.
    configs
        .delete("envconfig-test-eu", &Default::default())
        .await
        .unwrap();
    let live = as_value(&claims.get("db").await.unwrap(), &claim_version, "Postgres");
    let error = reconciler.reconcile(&live).await.unwrap_err().to_string();
    assert!(error.contains("envconfig-test-eu"), "{error}");
}
