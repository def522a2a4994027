//! The local file state backend: atomic write-rename with fsync, an OS file lock around every
//! read-compare-write, and a lock-info file created exclusively for operation locks.
//!
//! During an apply, changes go to a journal beside the state (`state.json.journal`): one JSON
//! line per durable write, each naming the lineage and the serial it produces, appended and
//! fsynced. Reading the state replays the journal lines that follow the snapshot's serial (a
//! torn last line, which was never acknowledged, is ignored and cut off by the next append);
//! [`StateStore::compact`] and every full save write a new snapshot and remove the journal.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{KeptVersion, LockInfo, State, StateChange, StateError, StateStore};

/// The lineage and serial the last append of this store produced, and the journal's length
/// after it (any other write changes the length or removes the journal).
#[derive(Debug, Clone, PartialEq, Eq)]
struct JournalHead {
    lineage: String,
    serial: u64,
    journal_len: u64,
}

/// One line of the journal: the changes of one durable write.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct JournalEntry {
    lineage: String,
    serial: u64,
    changes: Vec<StateChange>,
}

/// State kept in a JSON file (default `<stack>/.strata/state.json`), lock info beside it
/// (`state.json.lock`).
#[derive(Debug, Clone)]
pub struct LocalStateStore {
    path: PathBuf,
    /// How many earlier versions to keep in the history directory.
    history_limit: usize,
    /// What this store's last journal append left: to skip re-reading the state on the next
    /// append when nothing else has written since.
    head: Arc<Mutex<Option<JournalHead>>>,
}

impl LocalStateStore {
    /// A store for the state file at `path` (created on first save).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            history_limit: DEFAULT_HISTORY_LIMIT,
            head: Arc::new(Mutex::new(None)),
        }
    }

    /// Keeps at most `limit` earlier versions (0 keeps none).
    pub fn with_history_limit(mut self, limit: usize) -> Self {
        self.history_limit = limit;
        self
    }

    /// The directory of earlier versions (`state.json.history/`), one file per version
    /// named by its serial.
    pub fn history_dir(&self) -> PathBuf {
        with_suffix(&self.path, ".history")
    }

    /// Keeps the snapshot on disk, which a full save is about to replace, as an earlier
    /// version: a hard link (the snapshot is never written in place), named by its serial.
    /// During an apply the journal grows on top of the snapshot, so the snapshot is the state
    /// before the apply. The oldest versions beyond the limit are removed.
    fn keep_previous_snapshot(&self) -> Result<(), StateError> {
        if self.history_limit == 0 {
            return Ok(());
        }
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.io(e)),
        };
        #[derive(serde::Deserialize)]
        struct Header {
            serial: u64,
        }
        let Ok(header) = serde_json::from_slice::<Header>(&bytes) else {
            // A snapshot that cannot be read was refused before getting here.
            return Ok(());
        };
        let dir = self.history_dir();
        std::fs::create_dir_all(&dir).map_err(|e| self.io(e))?;
        let kept = dir.join(history_file_name(header.serial));
        if !kept.exists() && std::fs::hard_link(&self.path, &kept).is_err() {
            write_atomically(&kept, &bytes, Durability::Synced).map_err(|e| self.io(e))?;
        }
        let mut versions = self.history_files()?;
        versions.sort_by_key(|(serial, _)| std::cmp::Reverse(*serial));
        for (_, old) in versions.into_iter().skip(self.history_limit) {
            std::fs::remove_file(&old).map_err(|e| self.io(e))?;
        }
        Ok(())
    }

    /// The history directory's versions: serial and file.
    fn history_files(&self) -> Result<Vec<(u64, PathBuf)>, StateError> {
        let entries = match std::fs::read_dir(self.history_dir()) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| self.io(e))?.path();
            let serial = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(serial) = serial {
                out.push((serial, path));
            }
        }
        Ok(out)
    }

    fn read_version_file(&self, path: &Path) -> Result<State, StateError> {
        let bytes = std::fs::read(path).map_err(|e| self.io(e))?;
        serde_json::from_slice(&bytes).map_err(|e| StateError::Malformed {
            location: path.display().to_string(),
            source: e,
        })
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

    /// The journal beside the state file (`<state>.journal`): the changes an apply recorded
    /// since the state file was last written, read with it. The state is the file and its
    /// journal together.
    pub fn journal_path(&self) -> PathBuf {
        with_suffix(&self.path, ".journal")
    }

    /// Removes temporary files an interrupted write of this state or its lock left behind
    /// (`state.json.tmp.<id>`, `state.json.lock.tmp.<id>`). Runs under the guard, so no write
    /// of ours is in flight.
    fn remove_leftover_temporaries(&self) -> Result<(), StateError> {
        let Some(name) = self.path.file_name().and_then(|n| n.to_str()) else {
            return Ok(());
        };
        // Of state writes, and of lock files (see `create_whole`).
        let prefixes = [format!("{name}.tmp."), format!("{name}.lock.tmp.")];
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.io(e)),
        };
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_str()
                .is_some_and(|n| prefixes.iter().any(|p| n.starts_with(p.as_str())))
            {
                std::fs::remove_file(entry.path()).map_err(|e| self.io(e))?;
            }
        }
        Ok(())
    }

    /// Folds a journal an interrupted apply left into the snapshot, at the serial the journal
    /// reached (the content is the same state, so no new serial), keeping the snapshot it
    /// replaces as an earlier version. Runs under the guard with the operation lock just
    /// taken, so no apply of ours is appending.
    fn fold_leftover_journal(&self) -> Result<(), StateError> {
        if !self.journal_path().exists() {
            return Ok(());
        }
        if let Some(state) = self.read_state()? {
            self.keep_previous_snapshot()?;
            let bytes = serde_json::to_vec_pretty(&state).map_err(|e| self.io(e))?;
            write_atomically(&self.path, &bytes, Durability::Synced).map_err(|e| self.io(e))?;
        }
        match std::fs::remove_file(self.journal_path()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.io(e)),
        }
        *self.head.lock().map_err(|_| self.poisoned())? = None;
        Ok(())
    }

    /// Reading or writing the state failed with `source`.
    fn io<E>(&self, source: E) -> StateError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        StateError::io(self.path.display().to_string(), source)
    }

    /// The journal's in-memory head cannot be used: a thread panicked while updating it.
    fn poisoned(&self) -> StateError {
        StateError::io_message(self.path.display().to_string(), "journal head poisoned")
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

    /// The stored state: the snapshot with the journal replayed over it.
    fn read_state(&self) -> Result<Option<State>, StateError> {
        let mut state: Option<State> = match std::fs::read(&self.path) {
            Ok(bytes) => {
                Some(
                    serde_json::from_slice(&bytes).map_err(|e| StateError::Malformed {
                        location: self.path.display().to_string(),
                        source: e,
                    })?,
                )
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(self.io(e)),
        };
        let journal = match std::fs::read(self.journal_path()) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(state),
            Err(e) => return Err(self.io(e)),
        };
        // Only complete lines were ever acknowledged.
        let complete = journal
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(&journal[..0], |end| &journal[..=end]);
        for line in complete.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let entry: JournalEntry =
                serde_json::from_slice(line).map_err(|e| StateError::Malformed {
                    location: self.journal_path().display().to_string(),
                    source: e,
                })?;
            let current = state.get_or_insert_with(|| State {
                serial: 0,
                lineage: entry.lineage.clone(),
                ..State::new()
            });
            if entry.lineage != current.lineage || entry.serial <= current.serial {
                // Written before the snapshot that folded it in, or by an unrelated state.
                continue;
            }
            if entry.serial != current.serial + 1 {
                return Err(StateError::Corrupt {
                    location: self.journal_path().display().to_string(),
                    message: format!(
                        "journal jumps from serial {} to {}",
                        current.serial, entry.serial
                    ),
                });
            }
            for change in &entry.changes {
                change.apply_to(current);
            }
            current.serial = entry.serial;
        }
        Ok(state)
    }

    /// Checks `state` against the stored one (compare-and-swap): same lineage, same serial.
    fn check_current(&self, state: &State) -> Result<(), StateError> {
        match self.read_state()? {
            Some(current) if current.lineage != state.lineage => Err(StateError::ForeignLineage {
                location: self.path.display().to_string(),
                expected: state.lineage.clone(),
                found: current.lineage.clone(),
            }),
            Some(current) if current.serial != state.serial => Err(StateError::StaleSerial {
                location: self.path.display().to_string(),
                expected: state.serial,
                found: current.serial,
            }),
            None if state.serial != 0 => Err(StateError::StaleSerial {
                location: self.path.display().to_string(),
                expected: state.serial,
                found: 0,
            }),
            _ => Ok(()),
        }
    }

    fn save_changes_blocking(
        &self,
        state: &mut State,
        changes: &[StateChange],
    ) -> Result<(), StateError> {
        self.with_guard(|me| {
            me.check_journal_head(state)?;
            let entry = JournalEntry {
                lineage: state.lineage.clone(),
                serial: state.serial + 1,
                changes: changes.to_vec(),
            };
            let mut line = serde_json::to_vec(&entry).map_err(|e| me.io(e))?;
            line.push(b'\n');
            let mut file = OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(me.journal_path())
                .map_err(|e| me.io(e))?;
            // Cut a torn line an interrupted append left, so lines stay whole.
            let len = file.metadata().map_err(|e| me.io(e))?.len();
            let whole = if ends_with_newline(&mut file, len).map_err(|e| me.io(e))? {
                len
            } else {
                whole_lines_length(&me.journal_path()).map_err(|e| me.io(e))?
            };
            if whole != len {
                file.set_len(whole).map_err(|e| me.io(e))?;
            }
            if cfg!(debug_assertions) {
                // A torn append, for the crash tests: half a line on disk.
                file.write_all(&line[..line.len() / 2])
                    .and_then(|()| file.sync_data())
                    .map_err(|e| me.io(e))?;
                crate::crash::reached("journal-torn");
                file.write_all(&line[line.len() / 2..])
                    .map_err(|e| me.io(e))?;
            } else {
                file.write_all(&line).map_err(|e| me.io(e))?;
            }
            file.sync_data().map_err(|e| me.io(e))?;
            crate::crash::reached("journal-appended");
            if whole == 0
                && let Some(dir) = me.path.parent()
                && let Ok(d) = File::open(dir)
            {
                let _ = d.sync_all();
            }
            state.serial = entry.serial;
            *me.head.lock().map_err(|_| me.poisoned())? = Some(JournalHead {
                lineage: entry.lineage,
                serial: entry.serial,
                journal_len: whole + line.len() as u64,
            });
            Ok(())
        })
    }

    /// Compare-and-swap for a journal append: cheap when this store wrote the last entry
    /// itself (the common case while it holds the operation lock), a full read otherwise.
    fn check_journal_head(&self, state: &State) -> Result<(), StateError> {
        let known = self.head.lock().map_err(|_| self.poisoned())?.clone();
        let journal_len = std::fs::metadata(self.journal_path()).map(|m| m.len()).ok();
        match known {
            Some(head)
                if head.lineage == state.lineage
                    && head.serial == state.serial
                    && Some(head.journal_len) == journal_len =>
            {
                Ok(())
            }
            _ => self.check_current(state),
        }
    }

    fn read_lock(&self) -> Result<Option<LockInfo>, StateError> {
        match std::fs::read(self.lock_path()) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StateError::Malformed {
                        location: self.lock_path().display().to_string(),
                        source: e,
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    fn save_blocking(&self, state: &mut State) -> Result<(), StateError> {
        self.with_guard(|me| {
            me.check_current(state)?;
            me.keep_previous_snapshot()?;
            let mut next = state.clone();
            next.serial = state.serial + 1;
            let bytes = serde_json::to_vec_pretty(&next).map_err(|e| me.io(e))?;
            write_atomically(&me.path, &bytes, Durability::Synced).map_err(|e| me.io(e))?;
            crate::crash::reached("snapshot-renamed");
            // The snapshot holds everything the journal said.
            match std::fs::remove_file(me.journal_path()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(me.io(e)),
            }
            *me.head.lock().map_err(|_| me.poisoned())? = None;
            state.serial = next.serial;
            Ok(())
        })
    }

    fn lock_blocking(&self, info: &LockInfo) -> Result<(), StateError> {
        self.with_guard(|me| {
            let mut info = info.clone();
            info.path = me.path.display().to_string();
            let bytes = serde_json::to_vec_pretty(&info).map_err(|e| me.io(e))?;
            match create_whole(&me.lock_path(), &bytes) {
                Ok(()) => {
                    crate::crash::reached("lock-taken");
                    // No operation holds the state: what one left is a leftover.
                    let cleaned = me
                        .remove_leftover_temporaries()
                        .and_then(|()| me.fold_leftover_journal());
                    if cleaned.is_err() {
                        let _ = std::fs::remove_file(me.lock_path());
                    }
                    cleaned
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = me.read_lock()?.ok_or_else(|| {
                        StateError::io_message(me.path.display().to_string(), "lock vanished")
                    })?;
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

/// Earlier versions kept by default.
pub const DEFAULT_HISTORY_LIMIT: usize = 50;

fn history_file_name(serial: u64) -> String {
    format!("{serial:010}.json")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Whether the file of length `len` is empty or ends with a newline.
fn ends_with_newline(file: &mut File, len: u64) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    if len == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

/// The length of the whole lines at the start of the file at `path` (up to its last newline).
fn whole_lines_length(path: &Path) -> std::io::Result<u64> {
    let bytes = std::fs::read(path)?;
    Ok(bytes
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |end| end as u64 + 1))
}

/// Creates the file `path` holding `bytes`, failing with `AlreadyExists` when it exists; a
/// crash never leaves it partly written (the lock file: an empty one would name no holder).
/// The content goes to a temporary file first (`<path>.tmp.<id>`, removed with the state's
/// leftovers), which is then hard-linked to `path`; where hard links are not supported, the
/// file is created exclusively and written in place.
fn create_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = with_suffix(path, &format!(".tmp.{}", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    crate::crash::reached("lock-temp-written");
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            if let Some(dir) = path.parent()
                && let Ok(d) = File::open(dir)
            {
                let _ = d.sync_all();
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
        Err(_) => {
            let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
            file.write_all(bytes)?;
            file.sync_all()
        }
    }
}

/// Whether an atomic write also survives a power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// fsync the file and its directory (the state).
    Synced,
    /// Atomic for readers, not forced to disk (the sandbox's world, which stands in for a
    /// remote system).
    Atomic,
}

/// Writes `bytes` to a temporary file beside `path` and renames it over `path`, so readers see
/// the old or the new content, never a mix; with [`Durability::Synced`] the file and the
/// directory are fsynced too.
pub(crate) fn write_atomically(
    path: &Path,
    bytes: &[u8],
    durability: Durability,
) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = with_suffix(path, &format!(".tmp.{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        if durability == Durability::Synced {
            file.sync_all()?;
        }
        crate::crash::reached(match durability {
            Durability::Synced => "state-temp-written",
            Durability::Atomic => "world-temp-written",
        });
        std::fs::rename(&tmp, path)?;
        if durability == Durability::Synced
            && let Ok(d) = File::open(dir)
        {
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

    async fn force_unlock(&self, id: &str) -> Result<(), StateError> {
        let me = self.clone();
        let id = id.to_owned();
        tokio::task::spawn_blocking(move || {
            me.with_guard(|me| match me.read_lock() {
                // A lock file that cannot be read names no holder to compare with: a forced
                // unlock removes it.
                Err(StateError::Corrupt { .. } | StateError::Malformed { .. }) => {
                    std::fs::remove_file(me.lock_path()).map_err(|e| me.io(e))
                }
                Ok(Some(held)) if held.id == id => {
                    std::fs::remove_file(me.lock_path()).map_err(|e| me.io(e))
                }
                Ok(Some(held)) => Err(StateError::LockIdMismatch {
                    location: me.path.display().to_string(),
                    held: held.id,
                    given: id.clone(),
                }),
                Ok(None) => Err(StateError::NotLocked {
                    location: me.path.display().to_string(),
                }),
                Err(e) => Err(e),
            })
        })
        .await
        .map_err(|e| self.io(e))?
    }

    async fn lock_info(&self) -> Result<Option<LockInfo>, StateError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.read_lock())
            .await
            .map_err(|e| self.io(e))?
    }

    async fn save_changes(
        &self,
        state: &mut State,
        changes: &[StateChange],
    ) -> Result<(), StateError> {
        let me = self.clone();
        // Only the header is needed to append: the records are not copied.
        let mut owned = State {
            version: state.version,
            serial: state.serial,
            lineage: state.lineage.clone(),
            stack: state.stack.clone(),
            resources: Default::default(),
        };
        let changes = changes.to_vec();
        let saved = tokio::task::spawn_blocking(move || {
            me.save_changes_blocking(&mut owned, &changes)
                .map(|()| owned.serial)
        })
        .await
        .map_err(|e| self.io(e))??;
        state.serial = saved;
        Ok(())
    }

    async fn compact(&self, state: &mut State) -> Result<(), StateError> {
        if !self.journal_path().exists() {
            return Ok(());
        }
        self.save(state).await
    }

    async fn history(&self) -> Result<Vec<KeptVersion>, StateError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            if let Some(current) = me.with_guard(|m| m.read_state())? {
                let saved_at = std::fs::metadata(&me.path).and_then(|m| m.modified()).ok();
                out.push(KeptVersion::of(
                    &current,
                    current.serial.to_string(),
                    saved_at,
                    true,
                ));
            }
            for (serial, path) in me.history_files()? {
                if out.iter().any(|v| v.serial == serial) {
                    continue;
                }
                let state = me.read_version_file(&path)?;
                let saved_at = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
                out.push(KeptVersion::of(&state, serial.to_string(), saved_at, false));
            }
            out.sort_by_key(|v| std::cmp::Reverse(v.serial));
            Ok(out)
        })
        .await
        .map_err(|e| self.io(e))?
    }

    async fn load_version(&self, id: &str) -> Result<State, StateError> {
        let not_kept = || StateError::VersionNotKept {
            location: self.location(),
            version: id.to_owned(),
        };
        let serial: u64 = id.parse().map_err(|_| not_kept())?;
        let me = self.clone();
        let found = tokio::task::spawn_blocking(move || -> Result<Option<State>, StateError> {
            if let Some(current) = me.with_guard(|m| m.read_state())?
                && current.serial == serial
            {
                return Ok(Some(current));
            }
            let path = me.history_dir().join(history_file_name(serial));
            if !path.exists() {
                return Ok(None);
            }
            me.read_version_file(&path).map(Some)
        })
        .await
        .map_err(|e| self.io(e))??;
        found.ok_or_else(not_kept)
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
        assert!(matches!(err, StateError::Malformed { .. }), "{err}");
        assert!(err.to_string().contains("is corrupt: "), "{err}");
        let parser = std::error::Error::source(&err).expect("the parser's error is the source");
        assert!(parser.is::<serde_json::Error>(), "{parser}");
    }

    #[tokio::test]
    async fn an_unreadable_state_keeps_the_io_error_as_its_source() {
        let dir = tempfile::tempdir().unwrap();
        // The state's directory is a file: nothing can be read or written under it.
        let blocker = dir.path().join("blocker");
        std::fs::write(&blocker, "not a directory").unwrap();
        let path = blocker.join("state.json");
        let err = LocalStateStore::new(&path).load().await.unwrap_err();
        let StateError::Io {
            location, message, ..
        } = &err
        else {
            panic!("not an I/O error: {err:?}");
        };
        assert_eq!(location, &path.display().to_string());
        assert_eq!(err.to_string(), format!("state {location}: {message}"));
        let cause = std::error::Error::source(&err).expect("the I/O error is the source");
        let io = cause
            .downcast_ref::<std::io::Error>()
            .expect("an io::Error");
        assert_eq!(message, &io.to_string());
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
