//! Many objects of one kind and namespace observed with one list, against the real API server.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde_json::json;
use strata_core::plan::{Action, PlanOptions};
use strata_core::{Observation, Provider, Resource};
use strata_k8s::{KubeProvider, KubeProviderOptions};

use crate::real::{config_map, engine, plan_and_apply, setup};

/// Creates `count` ConfigMaps named `c0`, `c1` … in `namespace`.
async fn create(client: &kube::Client, namespace: &str, prefix: &str, count: usize) {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    futures::stream::iter(0..count)
        .map(|i| {
            let api = api.clone();
            async move {
                let object: ConfigMap = serde_json::from_value(json!({
                    "metadata": {"name": format!("{prefix}{i}")}, "data": {"index": i.to_string()}}))
                .unwrap();
                api.create(&PostParams::default(), &object).await.unwrap();
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
}

/// What `observe_many` hands over for `resources`, by index; a second hand-over fails.
async fn observed_at_once(
    provider: &KubeProvider,
    resources: &[Resource],
) -> Vec<Option<Observation>> {
    let refs: Vec<&Resource> = resources.iter().collect();
    let mut got: Vec<Option<Observation>> = vec![None; resources.len()];
    provider
        .observe_many(&refs, &mut |index, observation| {
            assert!(got[index].is_none(), "index {index} handed over twice");
            got[index] = Some(observation);
        })
        .await;
    got
}

/// The manifests of the objects `create` makes: `{prefix}{i}` for each `i` of `indices`.
fn config_maps(namespace: &str, prefix: &str, indices: std::ops::Range<usize>) -> Vec<Resource> {
    indices
        .map(|i| {
            config_map(
                namespace,
                &format!("{prefix}{i}"),
                json!({"index": i.to_string()}),
            )
        })
        .collect()
}

/// Asserts that every resource was handed over as one read of it finds it; how many of them
/// were present.
async fn assert_read_alike(
    provider: &KubeProvider,
    desired: &[Resource],
    got: &[Option<Observation>],
) -> usize {
    for (resource, observation) in desired.iter().zip(got) {
        let one = provider.observe(resource).await.unwrap();
        assert!(
            one.live.as_ref().is_none_or(|live| live.is_compact()),
            "a GET keeps the object as its text"
        );
        let at_once = observation
            .as_ref()
            .unwrap_or_else(|| panic!("{} handed over", resource.key));
        assert_eq!(at_once.live, one.live, "{}", resource.key);
    }
    got.iter().flatten().filter(|o| o.live.is_some()).count()
}

#[tokio::test]
async fn many_objects_of_a_kind_are_read_with_one_list_as_one_read_each_finds_them() {
    let (client, namespace) = setup("observe-many").await;
    create(&client, &namespace, "c", 30).await;
    create(&client, &namespace, "other", 5).await;
    let provider = KubeProvider::new(client.clone(), KubeProviderOptions::default());
    assert!(provider.observes_many());
    // 30 that exist and 6 that do not.
    let desired = config_maps(&namespace, "c", 0..36);
    let got = observed_at_once(&provider, &desired).await;
    assert_eq!(assert_read_alike(&provider, &desired, &got).await, 30);
    let listed = got[0].as_ref().unwrap().live.as_ref().unwrap();
    assert!(listed.is_compact(), "a listed object is kept as its text");
    let listed = listed.value();
    assert_eq!(listed["apiVersion"], "v1");
    assert_eq!(listed["kind"], "ConfigMap");

    // A handful is read one by one: nothing is handed over.
    let few = observed_at_once(&provider, &desired[..5]).await;
    assert!(few.iter().all(Option::is_none));
}

#[tokio::test]
async fn an_account_that_may_not_list_reads_one_by_one_and_plans_alike() {
    let (admin, namespace) = setup("observe-many-no-list").await;
    create(&admin, &namespace, "c", 20).await;
    let client = crate::real_access::deployer(
        &admin,
        &namespace,
        json!([{"apiGroups": [""], "resources": ["configmaps"],
                "verbs": ["get", "create", "patch", "update"]}]),
    )
    .await;
    let provider = KubeProvider::new(client, KubeProviderOptions::default());
    let desired = config_maps(&namespace, "c", 0..20);
    let got = observed_at_once(&provider, &desired).await;
    assert!(got.iter().all(Option::is_none), "nothing listed: {got:?}");
    // The plan reads each object instead: they exist, unlabelled, so each is another
    // manager's until adopted.
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(provider, dir.path());
    let (plan, _) = engine
        .plan(desired, &PlanOptions::new("observe").with_adopt(true))
        .await
        .unwrap();
    assert_eq!(plan.changes.len(), 20);
    assert!(
        plan.changes.iter().all(|c| c.action != Action::Create),
        "{plan:?}"
    );
}

#[tokio::test]
async fn a_stack_of_many_objects_is_planned_from_lists_after_its_apply() {
    let (client, namespace) = setup("observe-many-plan").await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(
        KubeProvider::new(client.clone(), KubeProviderOptions::default()),
        dir.path(),
    );
    let desired: Vec<Resource> = (0..24)
        .map(|i| config_map(&namespace, &format!("c{i}"), json!({"level": "info"})))
        .collect();
    plan_and_apply(&engine, desired.clone(), "many").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    api.patch(
        "c7",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(json!({"data": {"level": "debug"}})),
    )
    .await
    .unwrap();
    api.delete("c9", &Default::default()).await.unwrap();
    let (plan, _) = engine
        .plan(desired, &PlanOptions::new("many"))
        .await
        .unwrap();
    let action_of = |name: &str| {
        plan.changes
            .iter()
            .find(|c| c.key.name == name)
            .map(|c| (c.action, c.drifted))
            .unwrap()
    };
    assert_eq!(action_of("c7"), (Action::Update, true));
    assert_eq!(action_of("c9").0, Action::Create);
    assert_eq!(
        plan.changes
            .iter()
            .filter(|c| c.action == Action::NoOp)
            .count(),
        22
    );
}

#[tokio::test]
async fn objects_of_a_kind_spread_over_namespaces_are_read_with_one_list_across_them() {
    // PodTemplates: a kind nothing else in the test cluster creates, so the list across all
    // namespaces holds little besides these.
    let (client, first) = setup("observe-spread-a").await;
    let mut namespaces = vec![first];
    for name in ["observe-spread-b", "observe-spread-c", "observe-spread-d"] {
        namespaces.push(
            strata_testkube::shared()
                .namespace(&client, name)
                .await
                .unwrap(),
        );
    }
    let template = |namespace: &str, name: &str| {
        Resource::from_manifest(json!({"apiVersion": "v1", "kind": "PodTemplate",
            "metadata": {"name": name, "namespace": namespace},
            "template": {"spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]}}}))
        .unwrap()
    };
    let mut desired = Vec::new();
    for namespace in &namespaces {
        let api: Api<kube::api::DynamicObject> = Api::namespaced_with(
            client.clone(),
            namespace,
            &kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::PodTemplate>(&()),
        );
        for i in 0..4 {
            let existing = template(namespace, &format!("t{i}"));
            let object: kube::api::DynamicObject =
                serde_json::from_value(existing.manifest.clone()).unwrap();
            api.create(&PostParams::default(), &object).await.unwrap();
            desired.push(existing);
        }
        // And one that does not exist.
        desired.push(template(namespace, "missing"));
    }
    assert!(desired.len() >= 16);
    let provider = KubeProvider::new(client.clone(), KubeProviderOptions::default());
    let got = observed_at_once(&provider, &desired).await;
    assert_eq!(assert_read_alike(&provider, &desired, &got).await, 16);
}

#[tokio::test]
async fn a_list_past_one_page_is_read_to_its_end_and_one_mostly_of_others_stops() {
    let (client, namespace) = setup("observe-many-pages").await;
    // 520 objects: two pages of 500.
    create(&client, &namespace, "c", 520).await;
    let provider = KubeProvider::new(client.clone(), KubeProviderOptions::default());
    let mut desired = config_maps(&namespace, "c", 0..520);
    desired.extend((0..4).map(|i| config_map(&namespace, &format!("missing{i}"), json!({}))));
    let got = observed_at_once(&provider, &desired).await;
    assert!(got.iter().all(Option::is_some), "every object handed over");
    assert_eq!(
        got.iter().flatten().filter(|o| o.live.is_some()).count(),
        520
    );
    assert!(got[520..].iter().flatten().all(|o| o.live.is_none()));

    // 600 other objects listed before the 16 wanted ("a…" sorts before "z…"): the first page
    // holds none of them and the rest is more than the list may read, so it stops and leaves
    // them all to GET rather than calling them absent.
    let (_, crowded) = setup("observe-many-crowded").await;
    create(&client, &crowded, "a", 600).await;
    create(&client, &crowded, "z", 16).await;
    let wanted = config_maps(&crowded, "z", 0..16);
    let got = observed_at_once(&provider, &wanted).await;
    assert!(got.iter().all(Option::is_none), "left to GET: {got:?}");
}

#[tokio::test]
async fn a_record_without_a_namespace_and_a_manifest_naming_the_default_both_find_the_object() {
    let (client, _) = setup("observe-many-alias").await;
    let default_namespace = client.default_namespace().to_owned();
    create(&client, &default_namespace, "alias", 16).await;
    let provider = KubeProvider::new(client.clone(), KubeProviderOptions::default());
    let mut desired = config_maps(&default_namespace, "alias", 0..16);
    desired.push(
        Resource::from_manifest(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "alias0"}, "data": {"index": "0"}}))
        .unwrap(),
    );
    let got = observed_at_once(&provider, &desired).await;
    let without_namespace = got[16].as_ref().expect("handed over");
    assert_eq!(
        without_namespace.live,
        provider.observe(&desired[16]).await.unwrap().live
    );
    assert!(without_namespace.live.is_some());
    assert_eq!(got[0].as_ref().unwrap().live, without_namespace.live);
}
