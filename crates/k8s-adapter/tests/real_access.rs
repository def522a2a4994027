//! Access against a real kube-apiserver (with etcd): RBAC as a ServiceAccount with limited
//! rights sees it, and leader election of several candidates on one Lease.

#![allow(clippy::unwrap_used)]

use crate::real;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use strata_core::plan::PlanOptions;
use strata_core::state::ResourceStatus;
use strata_core::{EngineError, Resource};
use strata_k8s::controller::leader::{LeadershipLost, LeaseConfig, LeaseLock, LeaseState};
use strata_k8s::provider::prune::PruneOptions;
use strata_k8s::{KubeProvider, KubeProviderOptions};

use real::{config_map, engine, eventually, plan_then_apply, saved_state, setup};

/// A client for ServiceAccount `deployer` of `namespace`, bound to a Role with `rules`.
pub(crate) async fn deployer(admin: &kube::Client, namespace: &str, rules: Value) -> kube::Client {
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "deployer", "namespace": namespace}, "rules": rules}))
    .unwrap();
    Api::<Role>::namespaced(admin.clone(), namespace)
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "deployer", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"},
        "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}]}))
    .unwrap();
    Api::<RoleBinding>::namespaced(admin.clone(), namespace)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    strata_testkube::shared()
        .service_account_client(admin, namespace, "deployer")
        .await
        .expect("ServiceAccount client")
}

const ALL_VERBS: [&str; 7] = [
    "get", "list", "watch", "create", "update", "patch", "delete",
];

fn secret(namespace: &str) -> Resource {
    Resource::from_manifest(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "token", "namespace": namespace}, "stringData": {"t": "s3cr3t"}}))
    .unwrap()
}

fn service(namespace: &str) -> Resource {
    Resource::from_manifest(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}))
    .unwrap()
}

#[tokio::test]
async fn a_kind_the_account_may_only_read_is_one_clear_error_and_other_kinds_still_apply() {
    let (admin, namespace) = setup("rbac-read-only").await;
    let client = deployer(
        &admin,
        &namespace,
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ALL_VERBS},
               {"apiGroups": [""], "resources": ["services"], "verbs": ["get"]}]),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(
        KubeProvider::new(client, KubeProviderOptions::default()),
        dir.path(),
    );
    // Kind order applies ConfigMaps before Services; the failure is the last thing done.
    let settings = config_map(&namespace, "settings", json!({"mode": "fast"}));
    let web = service(&namespace);
    let applied = plan_then_apply(&engine, vec![web.clone(), settings.clone()], &namespace).await;

    assert_eq!(applied.report.succeeded, vec![settings.key.clone()]);
    assert_eq!(
        applied.report.failed,
        vec![(
            web.key.clone(),
            format!(
                "applying Service/{namespace}/web: the API server answered 403: services \"web\" is forbidden: \
                 User \"system:serviceaccount:{namespace}:deployer\" cannot patch resource \"services\" in API group \"\" \
                 in the namespace \"{namespace}\""
            )
        )]
    );
    assert_eq!(applied.report.skipped, vec![]);
    assert!(
        real::position(&applied.events, &web.key, "retrying").is_none(),
        "final: {:?}",
        applied.events
    );
    assert!(
        Api::<ConfigMap>::namespaced(admin.clone(), &namespace)
            .get_opt("settings")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        Api::<Service>::namespaced(admin.clone(), &namespace)
            .get_opt("web")
            .await
            .unwrap()
            .is_none()
    );
    let state = saved_state(&engine).await;
    assert_eq!(
        state.get(&settings.key).map(|r| r.status),
        Some(ResourceStatus::Applied)
    );
    assert_ne!(
        state.get(&web.key).map(|r| r.status),
        Some(ResourceStatus::Applied)
    );
}

#[tokio::test]
async fn a_kind_the_account_may_not_read_fails_the_plan_naming_verb_kind_and_namespace() {
    let (admin, namespace) = setup("rbac-no-read").await;
    let client = deployer(
        &admin,
        &namespace,
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ALL_VERBS}]),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(
        KubeProvider::new(client, KubeProviderOptions::default()),
        dir.path(),
    );
    let settings = config_map(&namespace, "settings", json!({}));
    let token = secret(&namespace);
    let error = engine
        .plan(
            vec![settings, token.clone()],
            &PlanOptions::new(namespace.clone()),
        )
        .await
        .expect_err("the Secret cannot be read");
    match &error {
        EngineError::Observe { key, .. } => assert_eq!(key, &token.key),
        other => panic!("{other}"),
    }
    assert_eq!(
        error.to_string(),
        format!(
            "observing Secret/{namespace}/token: reading Secret/{namespace}/token: the API server answered 403: \
             secrets \"token\" is forbidden: User \"system:serviceaccount:{namespace}:deployer\" cannot get \
             resource \"secrets\" in API group \"\" in the namespace \"{namespace}\""
        )
    );
    assert!(
        Api::<ConfigMap>::namespaced(admin, &namespace)
            .get_opt("settings")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_prune_needs_to_list_at_cluster_scope_and_says_so() {
    let (admin, namespace) = setup("rbac-prune").await;
    let client = deployer(
        &admin,
        &namespace,
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ALL_VERBS}]),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(
        KubeProvider::new(client.clone(), KubeProviderOptions::default()),
        dir.path(),
    );
    let old = config_map(&namespace, "old", json!({}));
    let (_, _) = real::plan_and_apply(&engine, vec![old], &namespace).await;
    let error = KubeProvider::new(client, KubeProviderOptions::default())
        .prune(
            &namespace,
            &[],
            &[("v1".to_owned(), "ConfigMap".to_owned())],
            PruneOptions::default(),
        )
        .await
        .expect_err("no cluster-wide list");
    assert!(!error.is_retryable(), "{}", error.message);
    assert_eq!(
        error.message,
        format!(
            "listing v1 ConfigMap: the API server answered 403: configmaps is forbidden: User \
             \"system:serviceaccount:{namespace}:deployer\" cannot list resource \"configmaps\" in API group \"\" \
             at the cluster scope"
        )
    );
    assert!(
        Api::<ConfigMap>::namespaced(admin, &namespace)
            .get_opt("old")
            .await
            .unwrap()
            .is_some()
    );
}

fn lease_config(namespace: &str, name: &str, identity: &str, duration: Duration) -> LeaseConfig {
    LeaseConfig::new(name, namespace, identity)
        .with_lease_duration(duration)
        .with_renew_interval(Duration::from_millis(200))
}

fn holder_and_transitions(lease: &Lease) -> (Option<String>, Option<i32>, Option<i32>) {
    let spec = lease.spec.clone().unwrap_or_default();
    (
        spec.holder_identity,
        spec.lease_duration_seconds,
        spec.lease_transitions,
    )
}

#[tokio::test]
async fn one_candidate_leads_and_another_takes_over_only_once_the_lease_expired() {
    let (client, namespace) = setup("lease-expiry").await;
    let duration = Duration::from_secs(2);
    let a = LeaseLock::new(
        client.clone(),
        lease_config(&namespace, "strata", "a", duration),
    );
    let b = LeaseLock::new(
        client.clone(),
        lease_config(&namespace, "strata", "b", duration),
    );
    // Taken before the lease's renew time is written: the lease runs out no earlier than
    // `duration` after this instant (less than a microsecond of truncation aside).
    let acquired = Instant::now();
    assert_eq!(a.try_acquire().await.unwrap(), LeaseState::Leader);
    assert_eq!(
        b.try_acquire().await.unwrap(),
        LeaseState::Follower {
            holder: "a".to_owned()
        }
    );
    let leases: Api<Lease> = Api::namespaced(client.clone(), &namespace);
    assert_eq!(
        holder_and_transitions(&leases.get("strata").await.unwrap()),
        (Some("a".to_owned()), Some(2), Some(0))
    );
    // The leader stops renewing; the other candidate keeps trying.
    eventually(Duration::from_secs(10), "b leads", || async {
        (b.try_acquire().await.unwrap() == LeaseState::Leader).then_some(())
    })
    .await;
    let waited = acquired.elapsed();
    assert!(
        waited >= duration - Duration::from_millis(1),
        "took over after {waited:?}"
    );
    assert!(waited < duration + Duration::from_secs(2), "{waited:?}");
    assert_eq!(
        holder_and_transitions(&leases.get("strata").await.unwrap()),
        (Some("b".to_owned()), Some(2), Some(1))
    );
    assert_eq!(
        a.try_acquire().await.unwrap(),
        LeaseState::Follower {
            holder: "b".to_owned()
        }
    );
}

#[tokio::test]
async fn a_renewing_leader_keeps_the_lease_and_a_stopped_one_is_replaced_within_its_duration() {
    let (client, namespace) = setup("lease-run").await;
    let duration = Duration::from_secs(2);
    let a = LeaseLock::new(
        client.clone(),
        lease_config(&namespace, "strata", "a", duration),
    );
    let b = LeaseLock::new(
        client.clone(),
        lease_config(&namespace, "strata", "b", duration),
    );
    let a_works = Arc::new(AtomicBool::new(false));
    let b_works = Arc::new(AtomicBool::new(false));
    let leader_a = {
        let flag = Arc::clone(&a_works);
        tokio::spawn(async move {
            a.run_as_leader(async {
                flag.store(true, Ordering::SeqCst);
                std::future::pending::<()>().await;
            })
            .await
        })
    };
    eventually(Duration::from_secs(10), "a works", || async {
        a_works.load(Ordering::SeqCst).then_some(())
    })
    .await;
    let candidate_b = {
        let flag = Arc::clone(&b_works);
        tokio::spawn(async move {
            b.run_as_leader(async {
                flag.store(true, Ordering::SeqCst);
            })
            .await
        })
    };
    // Longer than the lease lasts: renewals keep it with a.
    tokio::time::sleep(duration + Duration::from_secs(1)).await;
    assert!(!b_works.load(Ordering::SeqCst), "b waited");
    let leases: Api<Lease> = Api::namespaced(client.clone(), &namespace);
    assert_eq!(
        holder_and_transitions(&leases.get("strata").await.unwrap()),
        (Some("a".to_owned()), Some(2), Some(0))
    );

    // The leader stops (its process dies: no release).
    leader_a.abort();
    let stopped = Instant::now();
    let outcome = tokio::time::timeout(duration + Duration::from_secs(3), candidate_b)
        .await
        .expect("b took over")
        .unwrap();
    assert_eq!(outcome, Ok(()));
    assert!(b_works.load(Ordering::SeqCst));
    let waited = stopped.elapsed();
    assert!(
        waited <= duration + Duration::from_millis(1500),
        "took over {waited:?} after the leader stopped"
    );
    assert_eq!(
        holder_and_transitions(&leases.get("strata").await.unwrap()),
        (Some("b".to_owned()), Some(2), Some(1))
    );
}

#[tokio::test]
async fn a_leader_whose_lease_is_taken_stops_its_work() {
    let (client, namespace) = setup("lease-lost").await;
    let a = LeaseLock::new(
        client.clone(),
        lease_config(&namespace, "strata", "a", Duration::from_secs(5)),
    );
    let working = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&working);
    let leader = tokio::spawn(async move {
        a.run_as_leader(async {
            flag.store(true, Ordering::SeqCst);
            std::future::pending::<()>().await;
        })
        .await
    });
    eventually(Duration::from_secs(10), "a works", || async {
        working.load(Ordering::SeqCst).then_some(())
    })
    .await;
    // Someone else writes a fresh lease of their own.
    let leases: Api<Lease> = Api::namespaced(client.clone(), &namespace);
    let mut lease = leases.get("strata").await.unwrap();
    let mut spec = lease.spec.clone().unwrap();
    spec.holder_identity = Some("intruder".to_owned());
    spec.renew_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
        k8s_openapi::jiff::Timestamp::now(),
    ));
    spec.lease_duration_seconds = Some(60);
    lease.spec = Some(spec);
    leases
        .replace("strata", &PostParams::default(), &lease)
        .await
        .unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(5), leader)
        .await
        .expect("the leader noticed")
        .unwrap();
    assert_eq!(outcome, Err(LeadershipLost::taken_by("intruder")));
}

#[tokio::test]
async fn of_candidates_racing_for_an_expired_lease_exactly_one_wins() {
    let (client, namespace) = setup("lease-race").await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), &namespace);
    for round in 0..5 {
        let name = format!("race-{round}");
        let expired: Lease = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"holderIdentity": "gone", "leaseDurationSeconds": 1,
                "acquireTime": "2026-01-01T00:00:00.000000Z",
                "renewTime": "2026-01-01T00:00:00.000000Z", "leaseTransitions": 3}}))
        .unwrap();
        leases
            .create(&PostParams::default(), &expired)
            .await
            .unwrap();
        let candidates: Vec<LeaseLock> = ["a", "b", "c"]
            .iter()
            .map(|id| {
                LeaseLock::new(
                    client.clone(),
                    lease_config(&namespace, &name, id, Duration::from_secs(30)),
                )
            })
            .collect();
        let outcomes =
            futures::future::join_all(candidates.iter().map(LeaseLock::try_acquire)).await;
        let leaders: Vec<&str> = outcomes
            .iter()
            .zip(["a", "b", "c"])
            .filter(|(o, _)| matches!(o, Ok(LeaseState::Leader)))
            .map(|(_, id)| id)
            .collect();
        assert_eq!(leaders.len(), 1, "round {round}: {outcomes:?}");
        assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
        let (holder, _, transitions) = holder_and_transitions(&leases.get(&name).await.unwrap());
        assert_eq!(holder.as_deref(), Some(leaders[0]));
        assert_eq!(transitions, Some(4));
    }
}
