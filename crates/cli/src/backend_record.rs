//! The record of where a stack's state was last kept, `<DIR>/.strata/backend.json`, so that a
//! run that forgets the remote backend (no `strata.yaml`, no `--state`) never starts a fresh
//! local state, and a remote state that vanished is reported instead of recreated.
//!
//! The record is written whenever a remote state is read; it holds the backend's location and
//! the lineage and serial seen there. A run whose backend differs from the record, or that
//! finds no state where the record saw one, stops with an error that says what to do.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use strata_core::config::Backend;
use strata_core::state::{State, StateStore};

/// The record's file name inside `<DIR>/.strata/`.
const RECORD_FILE: &str = "backend.json";

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Record {
    /// The backend, as `--state` spells it.
    backend: String,
    /// The lineage last seen there.
    lineage: String,
    /// The serial last seen there.
    serial: u64,
}

fn record_path(dir: &Path) -> PathBuf {
    dir.join(".strata").join(RECORD_FILE)
}

/// Checks `backend` against the record, then records what a remote backend holds.
pub async fn check(dir: &Path, backend: &Backend, store: &dyn StateStore) -> anyhow::Result<()> {
    let path = record_path(dir);
    let recorded = read(&path)?;
    let location = backend.location();
    if let Some(recorded) = &recorded
        && recorded.backend != location
    {
        bail!(
            "this stack's state is kept at {} (recorded in {} when it was last used), but this \
             run would use {location}.\nName {} as the backend in strata.yaml or with --state; \
             if the state really moved there, delete {}.",
            recorded.backend,
            path.display(),
            recorded.backend,
            path.display()
        );
    }
    if !backend.is_remote() {
        return Ok(());
    }
    let state = store.load().await?;
    let restore_from = match backend {
        Backend::Kubernetes(_) => "from a backup of the Secret",
        _ => "from the bucket's object versions",
    };
    match (state, recorded) {
        (None, Some(recorded)) => bail!(
            "no state found at {location}, but this stack's state was there (lineage {}, serial \
             {}, recorded in {}).\nRestore it ({restore_from}) rather than start a fresh state; \
             if the stack really was removed, delete {}.",
            recorded.lineage,
            recorded.serial,
            path.display(),
            path.display()
        ),
        (None, None) => Ok(()),
        (Some(state), _) => record(dir, backend, &state),
    }
}

/// Records what a remote backend holds after a run wrote it (nothing for a local backend).
pub fn record(dir: &Path, backend: &Backend, state: &State) -> anyhow::Result<()> {
    if !backend.is_remote() || state.serial == 0 {
        return Ok(());
    }
    write(
        &record_path(dir),
        &Record {
            backend: backend.location(),
            lineage: state.lineage.clone(),
            serial: state.serial,
        },
    )
}

fn read(path: &Path) -> anyhow::Result<Option<Record>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("{}: not a backend record", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| path.display().to_string()),
    }
}

fn write(path: &Path, record: &Record) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| parent.display().to_string())?;
    }
    let temp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(record)?;
    std::fs::write(&temp, bytes).with_context(|| temp.display().to_string())?;
    std::fs::rename(&temp, path).with_context(|| path.display().to_string())
}
