//! The Kubernetes state store against a real kube-apiserver (with etcd, started once for this
//! binary by `strata_testkube`): the Secret it writes, compare-and-swap on serial, lineage and
//! `resourceVersion` (one winner of a race), the Lease lock, and errors that never quote the
//! state.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::io::Read;

use k8s_openapi::ByteString;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;
use strata_core::ResourceKey;
use strata_core::state::{LockInfo, ResourceState, ResourceStatus, State, StateError, StateStore};
use strata_k8s::state::{
    KubeStateError, KubeStateStore, LOCK_INFO_ANNOTATION, MAX_SECRET_SIZE, SECRET_TYPE, STATE_KEY,
};

/// A value that must never be printed.
const SECRET_VALUE: &str = "hunter2-do-not-print-7f3a9c";

/// An admin client and a fresh namespace named after the test.
async fn setup(test: &str) -> (kube::Client, String) {
    let plane = strata_testkube::shared();
    let client = plane.client().await.expect("admin client");
    let namespace = plane.namespace(&client, test).await.expect("namespace");
    (client, namespace)
}

fn record(name: &str, outputs: serde_json::Value) -> ResourceState {
    ResourceState {
        key: ResourceKey::new("", "ConfigMap", Some("apps"), name),
        api_version: "v1".into(),
        provider: "kubernetes".into(),
        status: ResourceStatus::Applied,
        last_applied: json!({"data": {"k": "v"}}).into(),
        dependencies: Vec::new(),
        outputs,
        protect: false,
    }
}

fn a_state() -> State {
    let mut state = State::new();
    state.stack = "payments".into();
    state.put(record("settings", json!({"token": SECRET_VALUE})));
    state
}

async fn stored_secret(client: &kube::Client, namespace: &str, name: &str) -> Secret {
    Api::<Secret>::namespaced(client.clone(), namespace)
        .get(&format!("strata-state-{name}"))
        .await
        .unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn nothing_stored_loads_as_none_and_no_lock_is_held() {
    let (client, namespace) = setup("kstate-empty").await;
    let store = KubeStateStore::new(client, &namespace, "payments").unwrap();
    assert_eq!(
        store.location(),
        format!("kubernetes://{namespace}/payments")
    );
    assert_eq!(store.load().await.unwrap(), None);
    assert_eq!(store.lock_info().await.unwrap(), None);
    assert!(matches!(
        store.unlock("nobody").await,
        Err(StateError::NotLocked { .. })
    ));
}

#[tokio::test]
async fn names_that_cannot_make_object_names_are_refused_up_front() {
    let (client, _) = setup("kstate-names").await;
    assert!(matches!(
        KubeStateStore::new(client.clone(), "strata-system", "Pay_ments"),
        Err(KubeStateError::InvalidName { .. })
    ));
    assert!(matches!(
        KubeStateStore::new(client.clone(), "strata-system", ""),
        Err(KubeStateError::InvalidName { .. })
    ));
    let error = KubeStateStore::new(client, "Strata.System", "payments").unwrap_err();
    assert!(matches!(error, KubeStateError::InvalidNamespace { .. }));
    assert!(error.to_string().contains("Strata.System"), "{error}");
}

#[tokio::test]
async fn a_saved_state_loads_back_from_a_labelled_secret_of_gzip_data() {
    let (client, namespace) = setup("kstate-roundtrip").await;
    let store = KubeStateStore::new(client.clone(), &namespace, "payments").unwrap();
    let mut state = a_state();
    store.save(&mut state).await.unwrap();
    assert_eq!(state.serial, 1);
    assert_eq!(store.load().await.unwrap(), Some(state.clone()));

    state.put(record("more", json!({})));
    store.save(&mut state).await.unwrap();
    assert_eq!(state.serial, 2);
    let loaded = store.load().await.unwrap().unwrap();
    assert_eq!(loaded, state);
    assert_eq!(loaded.resources.len(), 2);

    let secret = stored_secret(&client, &namespace, "payments").await;
    assert_eq!(secret.type_.as_deref(), Some(SECRET_TYPE));
    let labels = secret.metadata.labels.clone().unwrap();
    assert_eq!(labels["app.kubernetes.io/managed-by"], "strata");
    assert_eq!(labels["strata.dev/state"], "payments");
    let data = secret.data.unwrap();
    assert_eq!(data.keys().collect::<Vec<_>>(), vec![STATE_KEY]);
    let stored = &data[STATE_KEY].0;
    assert_eq!(&stored[..2], &[0x1f, 0x8b], "gzip magic");
    assert!(
        !String::from_utf8_lossy(stored).contains(&state.lineage),
        "the Secret must not hold plain JSON"
    );
    let json: State = serde_json::from_slice(&gunzip(stored)).unwrap();
    assert_eq!(json, state);
}

#[tokio::test]
async fn a_save_from_a_stale_serial_or_another_lineage_is_refused() {
    let (client, namespace) = setup("kstate-cas").await;
    let store = KubeStateStore::new(client, &namespace, "payments").unwrap();
    let mut nothing_there = a_state();
    nothing_there.serial = 3;
    assert!(matches!(
        store.save(&mut nothing_there).await,
        Err(StateError::StaleSerial {
            expected: 3,
            found: 0,
            ..
        })
    ));

    let mut state = a_state();
    store.save(&mut state).await.unwrap();
    let mut stale = state.clone();
    store.save(&mut state).await.unwrap();
    let error = store.save(&mut stale).await.unwrap_err();
    assert!(
        matches!(
            error,
            StateError::StaleSerial {
                expected: 1,
                found: 2,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(stale.serial, 1, "a refused save leaves the serial alone");

    let mut unrelated = a_state();
    assert!(matches!(
        store.save(&mut unrelated).await,
        Err(StateError::ForeignLineage { .. })
    ));
    assert_eq!(store.load().await.unwrap().unwrap().serial, 2);
}

#[tokio::test]
async fn of_two_writes_from_the_same_resource_version_the_server_lets_one_win() {
    let (client, namespace) = setup("kstate-rv").await;
    let store = KubeStateStore::new(client, &namespace, "payments").unwrap();
    let mut state = a_state();
    store.save(&mut state).await.unwrap();

    // Both writers read the same Secret; the serial check passes for both, so only the
    // resourceVersion carried by the update can stop the second.
    let (mut first, version) = store.load_versioned().await.unwrap().unwrap();
    let (mut second, same_version) = store.load_versioned().await.unwrap().unwrap();
    assert_eq!(version, same_version);
    first.put(record("first", json!({})));
    second.put(record("second", json!({})));
    store.save_at(&mut first, Some(&version)).await.unwrap();
    let error = store
        .save_at(&mut second, Some(&version))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            StateError::StaleSerial {
                expected: 1,
                found: 2,
                ..
            }
        ),
        "{error:?}"
    );
    let stored = store.load().await.unwrap().unwrap();
    assert!(
        stored
            .resources
            .contains_key(&record("first", json!({})).key.address())
    );
    assert!(
        !stored
            .resources
            .contains_key(&record("second", json!({})).key.address())
    );

    // Creating races the same way: a Secret that appeared since is a conflict.
    let store = KubeStateStore::new(
        strata_testkube::shared().client().await.unwrap(),
        &namespace,
        "fresh",
    )
    .unwrap();
    store.save_at(&mut a_state(), None).await.unwrap();
    assert!(matches!(
        store.save_at(&mut a_state(), None).await,
        Err(StateError::ForeignLineage { .. })
    ));
}

#[tokio::test]
async fn two_concurrent_saves_from_the_same_serial_have_exactly_one_winner() {
    let (client, namespace) = setup("kstate-race").await;
    for (round, existing) in [(0, false), (1, true), (2, true), (3, false)] {
        let name = format!("race-{round}");
        let one = KubeStateStore::new(client.clone(), &namespace, &name).unwrap();
        let other = KubeStateStore::new(
            strata_testkube::shared().client().await.unwrap(),
            &namespace,
            &name,
        )
        .unwrap();
        let mut base = a_state();
        if existing {
            one.save(&mut base).await.unwrap();
        }
        let (mut a, mut b) = (base.clone(), base.clone());
        a.put(record("a", json!({})));
        b.put(record("b", json!({})));
        let (ra, rb) = tokio::join!(one.save(&mut a), other.save(&mut b));
        let outcomes = [&ra, &rb];
        let won = outcomes.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {ra:?} / {rb:?}");
        let lost = outcomes.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert!(
            matches!(lost, StateError::StaleSerial { expected, found, .. } if *expected == base.serial && *found == base.serial + 1),
            "round {round}: {lost:?}"
        );
        let winner = if ra.is_ok() { &a } else { &b };
        assert_eq!(one.load().await.unwrap().as_ref(), Some(winner));
    }
}

#[tokio::test]
async fn the_lease_lock_names_its_holder_and_only_that_holder_releases_it() {
    let (client, namespace) = setup("kstate-lock").await;
    let store = KubeStateStore::new(client.clone(), &namespace, "payments").unwrap();
    let other = KubeStateStore::new(
        strata_testkube::shared().client().await.unwrap(),
        &namespace,
        "payments",
    )
    .unwrap();
    let mine = LockInfo::new("apply");
    store.lock(&mine).await.unwrap();

    let lease = Api::<Lease>::namespaced(client.clone(), &namespace)
        .get("strata-lock-payments")
        .await
        .unwrap();
    assert_eq!(
        lease.spec.as_ref().unwrap().holder_identity.as_deref(),
        Some(mine.id.as_str())
    );
    let annotated: LockInfo =
        serde_json::from_str(&lease.metadata.annotations.as_ref().unwrap()[LOCK_INFO_ANNOTATION])
            .unwrap();
    assert_eq!(annotated.id, mine.id);
    assert_eq!(annotated.path, store.location());

    let theirs = LockInfo::new("plan");
    match other.lock(&theirs).await {
        Err(StateError::Locked { holder, location }) => {
            assert_eq!(location, store.location());
            assert_eq!(holder.id, mine.id);
            assert_eq!(holder.operation, "apply");
            assert_eq!(holder.who, mine.who);
            assert_eq!(holder.pid, mine.pid);
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert_eq!(other.lock_info().await.unwrap().unwrap().id, mine.id);

    match other.unlock(&theirs.id).await {
        Err(StateError::LockIdMismatch { held, given, .. }) => {
            assert_eq!(held, mine.id);
            assert_eq!(given, theirs.id);
        }
        other => panic!("expected LockIdMismatch, got {other:?}"),
    }
    assert!(matches!(
        other.force_unlock(&theirs.id).await,
        Err(StateError::LockIdMismatch { .. })
    ));
    assert_eq!(store.lock_info().await.unwrap().unwrap().id, mine.id);

    // A crashed holder's lock, released by someone else given its id.
    other.force_unlock(&mine.id).await.unwrap();
    assert_eq!(store.lock_info().await.unwrap(), None);
    assert!(matches!(
        store.unlock(&mine.id).await,
        Err(StateError::NotLocked { .. })
    ));

    other.lock(&theirs).await.unwrap();
    other.unlock(&theirs.id).await.unwrap();
    store.lock(&mine).await.unwrap();
    store.unlock(&mine.id).await.unwrap();
    assert_eq!(store.lock_info().await.unwrap(), None);
}

#[tokio::test]
async fn a_lock_whose_holder_cannot_be_read_is_only_released_by_force() {
    let (client, namespace) = setup("kstate-lock-corrupt").await;
    let store = KubeStateStore::new(client.clone(), &namespace, "payments").unwrap();
    let mine = LockInfo::new("apply");
    store.lock(&mine).await.unwrap();
    Api::<Lease>::namespaced(client, &namespace)
        .patch(
            "strata-lock-payments",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {LOCK_INFO_ANNOTATION: "{not json"}}}),
            ),
        )
        .await
        .unwrap();
    assert!(matches!(
        store.lock_info().await,
        Err(StateError::Corrupt { .. })
    ));
    assert!(matches!(
        store.unlock(&mine.id).await,
        Err(StateError::Corrupt { .. })
    ));
    store.force_unlock("whatever").await.unwrap();
    assert_eq!(store.lock_info().await.unwrap(), None);
}

/// Bytes that gzip cannot shrink much: hex of a xorshift sequence.
fn incompressible(len: usize) -> String {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = String::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push_str(&format!("{x:016x}"));
    }
    out
}

#[tokio::test]
async fn a_state_too_large_for_a_secret_is_refused_naming_its_size_and_not_its_content() {
    let (client, namespace) = setup("kstate-large").await;
    let store = KubeStateStore::new(client, &namespace, "payments").unwrap();
    let mut state = a_state();
    state.put(record(
        "blob",
        json!({"blob": incompressible(3 * MAX_SECRET_SIZE)}),
    ));
    let error = store.save(&mut state).await.unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, StateError::Io { .. }), "{error:?}");
    assert!(
        text.contains(&format!("Secret {namespace}/strata-state-payments")),
        "{text}"
    );
    assert!(text.contains(&MAX_SECRET_SIZE.to_string()), "{text}");
    assert!(text.contains("bytes gzip'd"), "{text}");
    assert!(!text.contains(SECRET_VALUE), "{text}");
    assert!(!format!("{error:?}").contains(SECRET_VALUE));
    assert_eq!(state.serial, 0);
    assert_eq!(store.load().await.unwrap(), None, "nothing was written");
}

#[tokio::test]
async fn an_unreadable_state_is_corrupt_without_quoting_it() {
    let (client, namespace) = setup("kstate-corrupt").await;
    let secrets = Api::<Secret>::namespaced(client.clone(), &namespace);
    let write = |name: &str, type_: &str, value: Vec<u8>| Secret {
        metadata: ObjectMeta {
            name: Some(format!("strata-state-{name}")),
            ..ObjectMeta::default()
        },
        type_: Some(type_.to_owned()),
        data: Some(BTreeMap::from([(STATE_KEY.to_owned(), ByteString(value))])),
        ..Secret::default()
    };
    // A serial that is a string: serde would quote it in its message.
    let wrong_type =
        format!(r#"{{"version":1,"serial":"{SECRET_VALUE}","lineage":"l","resources":{{}}}}"#);
    let cases = [
        ("typed", SECRET_TYPE, gzip(wrong_type.as_bytes())),
        ("plain", SECRET_TYPE, wrong_type.clone().into_bytes()),
        ("opaque", "Opaque", gzip(wrong_type.as_bytes())),
    ];
    for (name, type_, value) in cases {
        secrets
            .create(&PostParams::default(), &write(name, type_, value))
            .await
            .unwrap();
        let store = KubeStateStore::new(client.clone(), &namespace, name).unwrap();
        let error = store.load().await.unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains(&format!("Secret {namespace}/strata-state-{name}")),
            "{text}"
        );
        assert!(!text.contains(SECRET_VALUE), "{name}: {text}");
        assert!(!format!("{error:?}").contains(SECRET_VALUE), "{name}");
        match name {
            "opaque" => {
                assert!(text.contains("not a Strata state"), "{text}");
                // Not overwritten either.
                let mut state = a_state();
                assert!(store.save(&mut state).await.is_err());
                let kept = secrets.get("strata-state-opaque").await.unwrap();
                assert_eq!(kept.type_.as_deref(), Some("Opaque"));
            }
            _ => assert!(matches!(error, StateError::Corrupt { .. }), "{error:?}"),
        }
    }
}

#[tokio::test]
async fn a_missing_namespace_is_an_error_naming_the_object_and_the_status() {
    let (client, _) = setup("kstate-missing-ns").await;
    let store = KubeStateStore::new(client, "no-such-namespace", "payments").unwrap();
    let mut state = a_state();
    let text = store.save(&mut state).await.unwrap_err().to_string();
    assert!(
        text.contains("Secret no-such-namespace/strata-state-payments"),
        "{text}"
    );
    assert!(text.contains("404 NotFound"), "{text}");
    assert!(!text.contains(SECRET_VALUE), "{text}");
    let text = store
        .lock(&LockInfo::new("apply"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("Lease no-such-namespace/strata-lock-payments"),
        "{text}"
    );
}
