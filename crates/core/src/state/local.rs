//! The local file state backend: atomic write-rename with fsync, an OS file lock around every
//! read-compare-write, and a lock-info file created exclusively for operation locks.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::{LockInfo, State, StateError, StateStore};

/// State kept in a JSON file (default `<stack>/.strata/state.json`), lock info beside it
/// (`state.json.lock`).
#[derive(Debug, Clone)]
pub struct LocalStateStore {
    path: PathBuf,
}

impl LocalStateStore {
    /// A store for the state file at `path` (created on first save).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_path(&self) -> PathBuf {
        with_suffix(&self.path, ".lock")
    }

    fn guard_path(&self) -> PathBuf {
        with_suffix(&self.path, ".guard")
    }

    fn io(&self, message: impl std::fmt::Display) -> StateError {
        StateError::Io {
            location: self.path.display().to_string(),
            message: message.to_string(),
        }
    }

    /// Runs `f` while holding an exclusive OS lock on the guard file.
    fn with_guard<T>(
        &self,
        f: impl FnOnce(&Self) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        let guard = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.guard_path())
            .map_err(|e| self.io(e))?;
        guard.lock().map_err(|e| self.io(e))?;
        let result = f(self);
        let _ = guard.unlock();
        result
    }

    fn read_state(&self) -> Result<Option<State>, StateError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StateError::Corrupt {
                        location: self.path.display().to_string(),
                        message: e.to_string(),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    fn read_lock(&self) -> Result<Option<LockInfo>, StateError> {
        match std::fs::read(self.lock_path()) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StateError::Corrupt {
                        location: self.lock_path().display().to_string(),
                        message: e.to_string(),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    fn save_blocking(&self, state: &mut State) -> Result<(), StateError> {
        self.with_guard(|me| {
            let stored = me.read_state()?;
            match &stored {
                Some(current) if current.lineage != state.lineage => {
                    return Err(StateError::ForeignLineage {
                        location: me.path.display().to_string(),
                        expected: state.lineage.clone(),
                        found: current.lineage.clone(),
                    });
                }
                Some(current) if current.serial != state.serial => {
                    return Err(StateError::StaleSerial {
                        location: me.path.display().to_string(),
                        expected: state.serial,
                        found: current.serial,
                    });
                }
                None if state.serial != 0 => {
                    return Err(StateError::StaleSerial {
                        location: me.path.display().to_string(),
                        expected: state.serial,
                        found: 0,
                    });
                }
                _ => {}
            }
            let mut next = state.clone();
            next.serial = state.serial + 1;
            let bytes = serde_json::to_vec_pretty(&next).map_err(|e| me.io(e))?;
            write_atomically(&me.path, &bytes).map_err(|e| me.io(e))?;
            state.serial = next.serial;
            Ok(())
        })
    }

    fn lock_blocking(&self, info: &LockInfo) -> Result<(), StateError> {
        self.with_guard(|me| {
            let mut info = info.clone();
            info.path = me.path.display().to_string();
            let bytes = serde_json::to_vec_pretty(&info).map_err(|e| me.io(e))?;
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(me.lock_path())
            {
                Ok(mut file) => {
                    file.write_all(&bytes).map_err(|e| me.io(e))?;
                    file.sync_all().map_err(|e| me.io(e))?;
                    Ok(())
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = me.read_lock()?.ok_or_else(|| me.io("lock vanished"))?;
                    Err(StateError::Locked {
                        location: me.path.display().to_string(),
                        holder: Box::new(holder),
                    })
                }
                Err(e) => Err(me.io(e)),
            }
        })
    }

    fn unlock_blocking(&self, id: &str) -> Result<(), StateError> {
        self.with_guard(|me| match me.read_lock()? {
            None => Err(StateError::NotLocked {
                location: me.path.display().to_string(),
            }),
            Some(held) if held.id != id => Err(StateError::LockIdMismatch {
                location: me.path.display().to_string(),
                held: held.id,
                given: id.to_owned(),
            }),
            Some(_) => std::fs::remove_file(me.lock_path()).map_err(|e| me.io(e)),
        })
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Writes `bytes` to a temporary file beside `path`, fsyncs it, renames it over `path` and
/// fsyncs the directory, so readers see the old or the new content, never a mix.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = with_suffix(path, &format!(".tmp.{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[async_trait]
impl StateStore for LocalStateStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    async fn load(&self) -> Result<Option<State>, StateError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.with_guard(|m| m.read_state()))
            .await
            .map_err(|e| self.io(e))?
    }

    async fn save(&self, state: &mut State) -> Result<(), StateError> {
        let me = self.clone();
        let mut owned = state.clone();
        let saved = tokio::task::spawn_blocking(move || {
            me.save_blocking(&mut owned).map(|()| owned.serial)
        })
        .await
        .map_err(|e| self.io(e))??;
        state.serial = saved;
        Ok(())
    }

    async fn lock(&self, info: &LockInfo) -> Result<(), StateError> {
        let me = self.clone();
        let info = info.clone();
        tokio::task::spawn_blocking(move || me.lock_blocking(&info))
            .await
            .map_err(|e| self.io(e))?
    }

    async fn unlock(&self, id: &str) -> Result<(), StateError> {
        let me = self.clone();
        let id = id.to_owned();
        tokio::task::spawn_blocking(move || me.unlock_blocking(&id))
            .await
            .map_err(|e| self.io(e))?
    }

    async fn lock_info(&self) -> Result<Option<LockInfo>, StateError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.read_lock())
            .await
            .map_err(|e| self.io(e))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn save_bumps_serial_and_refuses_stale_writers() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStateStore::new(dir.path().join("s/state.json"));
        assert!(store.load().await.unwrap().is_none());
        let mut a = State::new();
        store.save(&mut a).await.unwrap();
        assert_eq!(a.serial, 1);
        let mut b = store.load().await.unwrap().unwrap();
        store.save(&mut a).await.unwrap();
        assert_eq!(a.serial, 2);
        let err = store.save(&mut b).await.unwrap_err();
        assert!(
            matches!(
                err,
                StateError::StaleSerial {
                    expected: 1,
                    found: 2,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn foreign_lineage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStateStore::new(dir.path().join("state.json"));
        store.save(&mut State::new()).await.unwrap();
        let mut other = State::new();
        other.serial = 1;
        let err = store.save(&mut other).await.unwrap_err();
        assert!(matches!(err, StateError::ForeignLineage { .. }), "{err}");
    }

    #[tokio::test]
    async fn corrupt_state_is_an_error_not_an_empty_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, "{ not json").unwrap();
        let err = LocalStateStore::new(&path).load().await.unwrap_err();
        assert!(matches!(err, StateError::Corrupt { .. }), "{err}");
    }

    #[tokio::test]
    async fn lock_unlock_and_force_unlock() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStateStore::new(dir.path().join("state.json"));
        let first = LockInfo::new("apply");
        store.lock(&first).await.unwrap();
        let err = store.lock(&LockInfo::new("plan")).await.unwrap_err();
        match err {
            StateError::Locked { holder, .. } => assert_eq!(holder.id, first.id),
            other => panic!("{other}"),
        }
        assert!(matches!(
            store.unlock("wrong").await.unwrap_err(),
            StateError::LockIdMismatch { .. }
        ));
        assert_eq!(store.lock_info().await.unwrap().unwrap().id, first.id);
        store.force_unlock(&first.id).await.unwrap();
        assert!(store.lock_info().await.unwrap().is_none());
        assert!(matches!(
            store.unlock(&first.id).await.unwrap_err(),
            StateError::NotLocked { .. }
        ));
    }
}
