//! Concurrent writers against the local state backend.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::sync::Arc;

use serde_json::Value;
use strata_core::state::{
    LocalStateStore, LockInfo, ResourceState, ResourceStatus, StateError, StateStore,
};
use strata_core::{ResourceKey, State};
use tokio::sync::Barrier;

fn record(name: &str) -> ResourceState {
    ResourceState {
        key: ResourceKey::new("", "ConfigMap", None, name),
        api_version: "v1".into(),
        provider: "sandbox".into(),
        status: ResourceStatus::Applied,
        last_applied: Value::Null.into(),
        dependencies: vec![],
        outputs: Value::Null,
        protect: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_writer_wins_each_round_and_serials_increase() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalStateStore::new(dir.path().join("state.json")));
    let mut initial = State::new();
    store.save(&mut initial).await.unwrap();
    let writers = 8;
    let mut last_serial = initial.serial;
    for round in 0..25 {
        let base = store.load().await.unwrap().unwrap();
        let barrier = Arc::new(Barrier::new(writers));
        let mut tasks = Vec::new();
        for w in 0..writers {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            let mut state = base.clone();
            tasks.push(tokio::spawn(async move {
                state.put(record(&format!("r{round}-w{w}")));
                barrier.wait().await;
                store.save(&mut state).await.map(|()| state.serial)
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok(serial) => winners.push(serial),
                Err(StateError::StaleSerial { .. }) => {}
                Err(other) => panic!("unexpected error: {other}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one writer wins");
        assert!(winners[0] > last_serial, "serial strictly increases");
        last_serial = winners[0];
        let stored = store.load().await.unwrap().unwrap();
        assert_eq!(stored.serial, last_serial);
        assert_eq!(
            stored.resources.len(),
            round + 1,
            "the winner's write kept every earlier round"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_that_retry_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalStateStore::new(dir.path().join("state.json")));
    store.save(&mut State::new()).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                loop {
                    let mut state = store.load().await.unwrap().unwrap();
                    state.put(record(&format!("w{w}-{i}")));
                    match store.save(&mut state).await {
                        Ok(()) => break,
                        Err(StateError::StaleSerial { .. }) => continue,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let state = store.load().await.unwrap().unwrap();
    assert_eq!(state.resources.len(), 80, "no update was lost");
    assert_eq!(state.serial, 81);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_one_of_many_lockers_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalStateStore::new(dir.path().join("state.json")));
    let barrier = Arc::new(Barrier::new(8));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = Arc::clone(&store);
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            let info = LockInfo::new("apply");
            barrier.wait().await;
            store.lock(&info).await.map(|()| info.id)
        }));
    }
    let mut holders = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(id) => holders.push(id),
            Err(StateError::Locked { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(holders.len(), 1);
    assert_eq!(store.lock_info().await.unwrap().unwrap().id, holders[0]);
}
