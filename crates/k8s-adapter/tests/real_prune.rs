//! Prune against a real kube-apiserver (with etcd): the label-based prune of
//! `KubeProvider::prune` and the deletes of resources that left the desired set. Each test
//! uses its namespace's name as its stack name, since a prune lists across all namespaces.
//!
//! No kube-controller-manager runs here, so no garbage collector: an object deleted with
//! foreground or orphan propagation keeps its `foregroundDeletion` / `orphan` finalizer (the
//! collector would remove it), and dependents stay. The tests check exactly that, and where a
//! flow has to see the object go, a stand-in removes the finalizer as the collector would.

#![allow(clippy::unwrap_used)]

use crate::real;

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use strata_core::plan::Action;
use strata_core::{Resource, ResourceKey};
use strata_k8s::provider::prune::{PruneOptions, kinds_to_prune};
use strata_k8s::{KubeProvider, KubeProviderOptions, Propagation};

use real::{
    annotated, config_map, data_of, engine, eventually, plan_and_apply, position, saved_state,
    setup,
};

const CONFIG_MAPS: (&str, &str) = ("v1", "ConfigMap");

fn config_map_kind() -> Vec<(String, String)> {
    vec![(CONFIG_MAPS.0.to_owned(), CONFIG_MAPS.1.to_owned())]
}

/// A provider deleting with background propagation: the API server removes the object at once.
fn background(client: &kube::Client) -> KubeProvider {
    KubeProvider::new(
        client.clone(),
        KubeProviderOptions::default().with_propagation(Propagation::Background),
    )
}

fn names(keys: &[ResourceKey]) -> Vec<&str> {
    keys.iter().map(|k| k.name.as_str()).collect()
}

#[tokio::test]
async fn prune_deletes_what_the_stack_no_longer_declares_and_nothing_else() {
    let (client, namespace) = setup("prune-owned").await;
    let stack = namespace.as_str();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(background(&client), dir.path());
    let keep = config_map(&namespace, "keep", json!({"k": "1"}));
    let gone = config_map(&namespace, "gone", json!({"g": "1"}));
    plan_and_apply(&engine, vec![keep.clone(), gone.clone()], stack).await;
    // Another stack's object in the same namespace.
    let other_dir = tempfile::tempdir().unwrap();
    let other_engine = real::engine(background(&client), other_dir.path());
    let other_stack = format!("{namespace}-other");
    plan_and_apply(
        &other_engine,
        vec![config_map(&namespace, "theirs", json!({"t": "1"}))],
        &other_stack,
    )
    .await;
    // An object without Strata's labels, and one with the stack label but not managed-by.
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    for (name, labels) in [
        ("loose", json!({})),
        ("half-labelled", json!({"strata.dev/stack": stack})),
    ] {
        let object: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels}, "data": {"x": "1"}}))
        .unwrap();
        config_maps
            .create(&PostParams::default(), &object)
            .await
            .unwrap();
    }

    let state = saved_state(&engine).await;
    let kinds = kinds_to_prune(std::slice::from_ref(&keep), &state);
    assert_eq!(kinds, config_map_kind());
    let provider = background(&client);
    let outcome = provider
        .prune(
            stack,
            std::slice::from_ref(&keep),
            &kinds,
            PruneOptions::default(),
        )
        .await
        .expect("pruned");
    assert_eq!(outcome.pruned, vec![gone.key.clone()]);
    assert_eq!(outcome.skipped, vec![]);

    let mut left: Vec<String> = config_maps
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .filter(|name| name != "kube-root-ca.crt")
        .collect();
    left.sort();
    assert_eq!(left, vec!["half-labelled", "keep", "loose", "theirs"]);
    let theirs = config_maps.get("theirs").await.unwrap();
    assert_eq!(data_of(&theirs), json!({"t": "1"}));

    // Nothing more to prune: a second run deletes nothing.
    let again = provider
        .prune(
            stack,
            std::slice::from_ref(&keep),
            &kinds,
            PruneOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(again.pruned, vec![]);
}

#[tokio::test]
async fn prune_false_keeps_an_object_and_says_why() {
    let (client, namespace) = setup("prune-false").await;
    let stack = namespace.as_str();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(background(&client), dir.path());
    let keep = config_map(&namespace, "keep", json!({}));
    let pinned = annotated(
        config_map(&namespace, "pinned", json!({"p": "1"})),
        json!({"argocd.argoproj.io/sync-options": "Prune=false"}),
    );
    let gone = config_map(&namespace, "gone", json!({}));
    plan_and_apply(
        &engine,
        vec![keep.clone(), pinned.clone(), gone.clone()],
        stack,
    )
    .await;

    let outcome = background(&client)
        .prune(
            stack,
            std::slice::from_ref(&keep),
            &config_map_kind(),
            PruneOptions::default(),
        )
        .await
        .expect("pruned");
    assert_eq!(outcome.pruned, vec![gone.key.clone()]);
    assert_eq!(
        outcome.skipped,
        vec![(pinned.key.clone(), "ignored (no prune)".to_owned())]
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    assert!(config_maps.get_opt("gone").await.unwrap().is_none());
    let still = config_maps.get("pinned").await.expect("kept");
    assert_eq!(data_of(&still), json!({"p": "1"}));
    assert_eq!(still.metadata.deletion_timestamp, None);

    // A dry run reports without deleting.
    let dry = background(&client)
        .prune(
            stack,
            &[],
            &config_map_kind(),
            PruneOptions::default().with_dry_run(true),
        )
        .await
        .unwrap();
    assert_eq!(dry.pruned, vec![keep.key.clone()]);
    assert!(config_maps.get_opt("keep").await.unwrap().is_some());
}

#[tokio::test]
async fn prune_deletes_in_reverse_waves_and_prune_last_objects_at_the_end() {
    let (client, namespace) = setup("prune-order").await;
    let stack = namespace.as_str();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(background(&client), dir.path());
    let early = annotated(
        config_map(&namespace, "early", json!({})),
        json!({"argocd.argoproj.io/sync-wave": "1"}),
    );
    let late = annotated(
        config_map(&namespace, "late", json!({})),
        json!({"argocd.argoproj.io/sync-wave": "5"}),
    );
    let last = annotated(
        config_map(&namespace, "last", json!({})),
        json!({"argocd.argoproj.io/sync-options": "PruneLast=true"}),
    );
    plan_and_apply(&engine, vec![last, early, late], stack).await;

    // Watch the namespace's ConfigMaps from now on: the server's order of deletions.
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let version = config_maps
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let stream = config_maps
        .watch(&WatchParams::default().timeout(30), &version)
        .await
        .unwrap()
        .boxed();
    let deletions = tokio::spawn(async move {
        let mut stream = stream;
        let mut deleted = Vec::new();
        while deleted.len() < 3 {
            match stream.try_next().await.unwrap() {
                Some(WatchEvent::Deleted(object)) => deleted.push(object.metadata.name.unwrap()),
                Some(_) => {}
                None => break,
            }
        }
        deleted
    });

    let outcome = background(&client)
        .prune(stack, &[], &config_map_kind(), PruneOptions::default())
        .await
        .expect("pruned");
    assert_eq!(names(&outcome.pruned), vec!["late", "early", "last"]);
    let deleted = tokio::time::timeout(Duration::from_secs(30), deletions)
        .await
        .expect("three deletions seen")
        .unwrap();
    assert_eq!(deleted, vec!["late", "early", "last"]);
}

#[tokio::test]
async fn prune_deletes_in_the_foreground_by_default_and_a_per_object_policy_wins() {
    let (client, namespace) = setup("prune-propagation").await;
    let stack = namespace.as_str();
    let dir = tempfile::tempdir().unwrap();
    let provider = KubeProvider::new(client.clone(), KubeProviderOptions::default());
    let engine = engine(
        KubeProvider::new(client.clone(), KubeProviderOptions::default()),
        dir.path(),
    );
    let policy = |name: &str, policy: &str| {
        annotated(
            config_map(&namespace, name, json!({})),
            json!({"argocd.argoproj.io/sync-options": format!("PrunePropagationPolicy={policy}")}),
        )
    };
    plan_and_apply(
        &engine,
        vec![
            config_map(&namespace, "foreground", json!({})),
            policy("background", "background"),
            policy("orphan", "orphan"),
        ],
        stack,
    )
    .await;
    // A dependent of the foreground-deleted object, as a controller would create it.
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let owner = config_maps.get("foreground").await.unwrap();
    let child: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "child",
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "foreground",
            "uid": owner.metadata.uid.clone().unwrap(), "blockOwnerDeletion": true}]}}))
    .unwrap();
    config_maps
        .create(&PostParams::default(), &child)
        .await
        .unwrap();

    let outcome = provider
        .prune(stack, &[], &config_map_kind(), PruneOptions::default())
        .await
        .expect("pruned");
    let mut pruned = names(&outcome.pruned);
    pruned.sort_unstable();
    assert_eq!(pruned, vec!["background", "foreground", "orphan"]);

    assert!(config_maps.get_opt("background").await.unwrap().is_none());
    let finalizers = |object: &ConfigMap| object.metadata.finalizers.clone().unwrap_or_default();
    let foreground = config_maps.get("foreground").await.unwrap();
    assert!(foreground.metadata.deletion_timestamp.is_some());
    assert_eq!(finalizers(&foreground), vec!["foregroundDeletion"]);
    let orphan = config_maps.get("orphan").await.unwrap();
    assert!(orphan.metadata.deletion_timestamp.is_some());
    assert_eq!(finalizers(&orphan), vec!["orphan"]);
    // Without a garbage collector the dependent stays; the owner waits for it.
    assert!(config_maps.get_opt("child").await.unwrap().is_some());

    // Objects being deleted are no candidates: a second prune sends no delete.
    let again = provider
        .prune(stack, &[], &config_map_kind(), PruneOptions::default())
        .await
        .unwrap();
    assert_eq!(again.pruned, vec![]);
    assert_eq!(again.skipped, vec![]);
}

#[tokio::test]
async fn a_kind_that_left_the_desired_set_entirely_is_still_pruned_cluster_scoped_too() {
    let (client, namespace) = setup("prune-kinds").await;
    let stack = namespace.as_str();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(background(&client), dir.path());
    let settings = config_map(&namespace, "settings", json!({}));
    let secret = Resource::from_manifest(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "token", "namespace": namespace}, "stringData": {"t": "s3cr3t"}}))
    .unwrap();
    let role_name = format!("{namespace}-reader");
    let role = Resource::from_manifest(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": role_name},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}))
    .unwrap();
    plan_and_apply(
        &engine,
        vec![settings.clone(), secret.clone(), role.clone()],
        stack,
    )
    .await;

    let state = saved_state(&engine).await;
    let desired = vec![settings.clone()];
    let kinds = kinds_to_prune(&desired, &state);
    assert_eq!(
        kinds,
        vec![
            (
                "rbac.authorization.k8s.io/v1".to_owned(),
                "ClusterRole".to_owned()
            ),
            ("v1".to_owned(), "ConfigMap".to_owned()),
            ("v1".to_owned(), "Secret".to_owned()),
        ]
    );
    let outcome = background(&client)
        .prune(stack, &desired, &kinds, PruneOptions::default())
        .await
        .expect("pruned");
    let mut pruned = outcome.pruned.clone();
    pruned.sort();
    let mut expected = vec![secret.key.clone(), role.key.clone()];
    expected.sort();
    assert_eq!(pruned, expected);
    assert!(
        Api::<Secret>::namespaced(client.clone(), &namespace)
            .get_opt("token")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        Api::<ClusterRole>::all(client.clone())
            .get_opt(&role_name)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        Api::<ConfigMap>::namespaced(client.clone(), &namespace)
            .get_opt("settings")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_resource_removed_from_the_desired_set_is_deleted_before_the_next_wave_starts() {
    let (client, namespace) = setup("prune-gate").await;
    let stack = namespace.as_str();
    let dir = tempfile::tempdir().unwrap();
    // The default provider: foreground propagation.
    let engine = engine(
        KubeProvider::new(client.clone(), KubeProviderOptions::default()),
        dir.path(),
    );
    let stays = config_map(&namespace, "stays", json!({}));
    let leaves = config_map(&namespace, "leaves", json!({}));
    plan_and_apply(&engine, vec![stays.clone(), leaves.clone()], stack).await;

    // The garbage collector's stand-in: once the object is marked for foreground deletion,
    // it waits a little (the executor's deletion gate must hold the next wave meanwhile),
    // checks that the next wave has not started, and removes the finalizer.
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let collector = {
        let config_maps = config_maps.clone();
        tokio::spawn(async move {
            eventually(Duration::from_secs(30), "foreground deletion", || async {
                let live = config_maps.get("leaves").await.ok()?;
                live.metadata.deletion_timestamp.is_some().then_some(())
            })
            .await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let next_wave_started = config_maps.get_opt("later").await.unwrap().is_some();
            config_maps
                .patch(
                    "leaves",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"finalizers": null}})),
                )
                .await
                .unwrap();
            next_wave_started
        })
    };
    let later = annotated(
        config_map(&namespace, "later", json!({})),
        json!({"argocd.argoproj.io/sync-wave": "1"}),
    );
    let (actions, events) =
        plan_and_apply(&engine, vec![stays.clone(), later.clone()], stack).await;
    let mut actions = actions;
    actions.sort();
    let mut expected = vec![
        (stays.key.clone(), Action::NoOp),
        (leaves.key.clone(), Action::Delete),
        (later.key.clone(), Action::Create),
    ];
    expected.sort();
    assert_eq!(actions, expected);
    assert!(!collector.await.unwrap(), "the next wave waited");
    assert!(
        position(&events, &leaves.key, "succeeded").unwrap()
            < position(&events, &later.key, "started").unwrap(),
        "{events:?}"
    );
    assert!(config_maps.get_opt("leaves").await.unwrap().is_none());
    assert!(config_maps.get_opt("later").await.unwrap().is_some());
    let state = saved_state(&engine).await;
    assert!(state.get(&leaves.key).is_none());
    assert!(state.get(&later.key).is_some());
}

#[tokio::test]
async fn kinds_the_cluster_does_not_serve_have_nothing_to_prune() {
    let (client, namespace) = setup("prune-unserved").await;
    let stack = namespace.as_str();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(background(&client), dir.path());
    let keep = config_map(&namespace, "keep", json!({"k": "1"}));
    let gone = config_map(&namespace, "gone", json!({"g": "1"}));
    plan_and_apply(&engine, vec![keep.clone(), gone], stack).await;
    // The stack also has cloud resources, which another provider or the sandbox holds.
    let mut kinds = config_map_kind();
    kinds.push((
        "ec2.aws.upbound.io/v1beta1".to_owned(),
        "SecurityGroup".to_owned(),
    ));
    let outcome = background(&client)
        .prune(stack, &[keep], &kinds, PruneOptions::default())
        .await
        .expect("an unserved kind is no error");
    assert_eq!(names(&outcome.pruned), ["gone"]);
    assert_eq!(outcome.skipped, vec![]);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let left: Vec<String> = config_maps
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(left, ["keep"]);
}
