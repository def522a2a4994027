//! State integrity: a state is bound to its stack, intents an interrupted apply left are
//! confirmed, the journal survives torn writes, temporaries are cleaned up.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::sync::Arc;

use serde_json::json;
use strata_core::executor::{Event, ExecutorConfig, cancellation};
use strata_core::plan::PlanOptions;
use strata_core::state::{LockInfo, ResourceStatus, StateChange, StateError};
use strata_core::{
    Engine, EngineError, IdentityNormalizer, LocalStateStore, ProviderRegistry, Resource,
    SandboxProvider, State, StateStore,
};

fn config_map(name: &str) -> Resource {
    Resource::from_manifest(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"k": name}
    }))
    .unwrap()
}

fn engine(dir: &std::path::Path) -> Engine {
    Engine {
        registry: ProviderRegistry::new()
            .with_fallback(Arc::new(SandboxProvider::new(dir.join("world")))),
        normalizer: Arc::new(IdentityNormalizer),
        store: Arc::new(LocalStateStore::new(dir.join("state.json"))),
        config: ExecutorConfig::default(),
    }
}

fn options(stack: &str) -> PlanOptions {
    PlanOptions::new(stack)
}

async fn apply(engine: &Engine, stack: &str, desired: Vec<Resource>) {
    let (plan, state) = engine.plan(desired, &options(stack)).await.unwrap();
    let (_handle, cancel) = cancellation();
    let report = engine
        .apply(&plan, state, "apply", Arc::new(|_: Event| {}), cancel)
        .await
        .unwrap();
    assert!(report.is_success(), "{report:?}");
}

#[tokio::test]
async fn a_state_of_another_stack_is_refused_before_anything_is_planned() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    apply(&engine, "platform", vec![config_map("a"), config_map("b")]).await;
    let stored = engine.store.load().await.unwrap().unwrap();
    assert_eq!(stored.stack, "platform");

    let err = engine
        .plan(vec![config_map("c")], &options("quickstart"))
        .await
        .unwrap_err();
    match &err {
        EngineError::State(StateError::ForeignStack {
            state_stack, stack, ..
        }) => {
            assert_eq!(state_stack, "platform");
            assert_eq!(stack, "quickstart");
        }
        other => panic!("{other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("`platform`") && message.contains("`quickstart`"),
        "{message}"
    );
    // Nothing was touched.
    assert_eq!(
        engine.store.load().await.unwrap().unwrap().resources.len(),
        2
    );
}

#[tokio::test]
async fn an_interrupted_create_is_confirmed_by_the_next_apply() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    apply(&engine, "demo", vec![config_map("a")]).await;
    // As if the process died after the create went out but before its result was recorded.
    let mut state = engine.store.load().await.unwrap().unwrap();
    let key = config_map("a").key;
    let mut record = state.get(&key).unwrap().clone();
    record.status = ResourceStatus::Creating;
    state.put(record);
    engine.store.save(&mut state).await.unwrap();
    assert!(state.has_intents());

    let (plan, state) = engine
        .plan(vec![config_map("a")], &options("demo"))
        .await
        .unwrap();
    assert!(!plan.has_changes(), "the object is there and as desired");
    let (_handle, cancel) = cancellation();
    engine
        .apply(&plan, state, "apply", Arc::new(|_: Event| {}), cancel)
        .await
        .unwrap();
    let healed = engine.store.load().await.unwrap().unwrap();
    assert_eq!(healed.get(&key).unwrap().status, ResourceStatus::Applied);
    assert!(!healed.has_intents());
}

#[tokio::test]
async fn journal_writes_are_replayed_and_a_torn_last_line_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let store = LocalStateStore::new(&path);
    let engine = engine(dir.path());
    apply(&engine, "demo", vec![config_map("a")]).await;
    let mut state = store.load().await.unwrap().unwrap();
    let serial = state.serial;
    let record = state.get(&config_map("a").key).unwrap().clone();
    let mut moved = record.clone();
    moved.key.name = "b".into();
    let change = StateChange::Put(Box::new(moved));
    change.apply_to(&mut state);
    store
        .save_changes(&mut state, std::slice::from_ref(&change))
        .await
        .unwrap();
    assert_eq!(state.serial, serial + 1);
    let journal = dir.path().join("state.json.journal");
    assert!(journal.exists());

    // A crash in the middle of the next append leaves half a line.
    let mut bytes = std::fs::read(&journal).unwrap();
    bytes.extend_from_slice(br#"{"lineage":"x","serial":"#);
    std::fs::write(&journal, bytes).unwrap();

    let reloaded = LocalStateStore::new(&path).load().await.unwrap().unwrap();
    assert_eq!(reloaded.serial, serial + 1);
    assert_eq!(reloaded.resources.len(), 2);

    // The next append cuts the torn line; the result still reads.
    let mut state = reloaded;
    let remove = StateChange::Remove(record.key.clone());
    remove.apply_to(&mut state);
    LocalStateStore::new(&path)
        .save_changes(&mut state, &[remove])
        .await
        .unwrap();
    let after = LocalStateStore::new(&path).load().await.unwrap().unwrap();
    assert_eq!(after.serial, serial + 2);
    assert_eq!(after.resources.len(), 1);

    // Compaction folds the journal into the snapshot.
    let mut state = after;
    LocalStateStore::new(&path)
        .compact(&mut state)
        .await
        .unwrap();
    assert!(!journal.exists());
    let compacted = LocalStateStore::new(&path).load().await.unwrap().unwrap();
    assert_eq!(compacted.resources.len(), 1);
    assert_eq!(compacted.serial, serial + 3);
}

#[tokio::test]
async fn a_stale_writer_cannot_append_to_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let first = LocalStateStore::new(&path);
    let mut state = State::new();
    first.save(&mut state).await.unwrap();
    let mut stale = state.clone();
    first.save_changes(&mut state, &[]).await.unwrap();
    let err = LocalStateStore::new(&path)
        .save_changes(&mut stale, &[])
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::StaleSerial { .. }), "{err}");
}

#[tokio::test]
async fn leftover_temporaries_are_removed_when_the_lock_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let store = LocalStateStore::new(&path);
    store.save(&mut State::new()).await.unwrap();
    let leftover = dir.path().join("state.json.tmp.0123456789abcdef");
    std::fs::write(&leftover, "half a state").unwrap();
    let unrelated = dir.path().join("other.json.tmp.1");
    std::fs::write(&unrelated, "not ours").unwrap();
    let lock = LockInfo::new("apply");
    store.lock(&lock).await.unwrap();
    assert!(!leftover.exists());
    assert!(unrelated.exists());
    store.unlock(&lock.id).await.unwrap();
}

#[tokio::test]
async fn a_journal_an_interrupted_apply_left_is_folded_in_when_the_lock_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let engine = engine(dir.path());
    apply(&engine, "demo", vec![config_map("a")]).await;
    let store = LocalStateStore::new(&path);
    let mut state = store.load().await.unwrap().unwrap();
    let before = state.serial;
    let mut moved = state.get(&config_map("a").key).unwrap().clone();
    moved.key.name = "b".into();
    let change = StateChange::Put(Box::new(moved));
    change.apply_to(&mut state);
    // The apply dies after this append: no compaction, and a lock that a crash left is
    // released first (as `force-unlock` does).
    store
        .save_changes(&mut state, std::slice::from_ref(&change))
        .await
        .unwrap();
    let journal = dir.path().join("state.json.journal");
    assert!(journal.exists());

    let next = LocalStateStore::new(&path);
    let lock = LockInfo::new("apply");
    next.lock(&lock).await.unwrap();
    assert!(!journal.exists(), "folded into the snapshot");
    let snapshot: State = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(
        snapshot, state,
        "the same state, at the serial the journal reached"
    );
    assert_eq!(snapshot.serial, before + 1);
    next.unlock(&lock.id).await.unwrap();
    let history = next.history().await.unwrap();
    assert!(
        history.iter().any(|v| v.serial == before && !v.current),
        "the snapshot it replaced is kept: {history:?}"
    );
}

#[tokio::test]
async fn a_lock_is_written_whole_and_its_leftover_temporary_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let store = LocalStateStore::new(&path);
    // What a crash between writing the lock's temporary file and linking it leaves.
    let leftover = dir.path().join("state.json.lock.tmp.0123456789abcdef");
    std::fs::write(&leftover, "{\"ID\": \"half").unwrap();
    let lock = LockInfo::new("apply");
    store.lock(&lock).await.unwrap();
    assert!(!leftover.exists());
    let held = store.lock_info().await.unwrap().unwrap();
    assert_eq!(held.id, lock.id);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp."))
        .collect();
    assert!(names.is_empty(), "{names:?}");
    let err = store.lock(&LockInfo::new("plan")).await.unwrap_err();
    assert!(matches!(err, StateError::Locked { .. }), "{err}");
    store.unlock(&lock.id).await.unwrap();
}

#[tokio::test]
async fn an_update_writes_its_intent_first_and_an_interrupted_one_is_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    apply(&engine, "demo", vec![config_map("a")]).await;
    let mut changed = config_map("a");
    changed.manifest["data"]["k"] = "changed".into();
    // What a crash between the update and the record of its result leaves: the update is
    // live, the record is the intent written before it.
    let (plan, state) = engine
        .plan(vec![changed.clone()], &options("demo"))
        .await
        .unwrap();
    assert_eq!(plan.changes[0].action, strata_core::plan::Action::Update);
    let sandbox = SandboxProvider::new(dir.path().join("world"));
    let stamped = plan.changes[0].resource.clone().unwrap();
    strata_core::Provider::update(&sandbox, &stamped, &serde_json::Value::Null)
        .await
        .unwrap();
    let mut intent = state.get(&changed.key).unwrap().clone();
    intent.status = ResourceStatus::Updating;
    intent.last_applied = (&stamped.manifest).into();
    let mut state = state;
    state.put(intent);
    engine.store.save(&mut state).await.unwrap();

    let (plan, state) = engine
        .plan(vec![changed.clone()], &options("demo"))
        .await
        .unwrap();
    assert!(!plan.has_changes(), "the update is live");
    assert!(
        !plan.changes[0].drifted,
        "an unfinished change is not drift"
    );
    assert!(state.has_intents());
    let (_handle, cancel) = cancellation();
    engine
        .apply(&plan, state, "apply", Arc::new(|_: Event| {}), cancel)
        .await
        .unwrap();
    let healed = engine.store.load().await.unwrap().unwrap();
    let record = healed.get(&changed.key).unwrap();
    assert_eq!(record.status, ResourceStatus::Applied);
    assert_eq!(record.last_applied.to_value()["data"]["k"], "changed");
}
