//! State: what Strata last applied, per resource, and the stores that keep it safely.
//!
//! A [`State`] carries a `lineage` (a UUID fixed when the state is first written) and a
//! `serial` (bumped on every write). Stores save with compare-and-swap: a write succeeds only
//! when the stored state still has the serial and lineage the writer read, so two writers can
//! never silently overwrite each other. Locks ([`LockInfo`]) serialise whole operations.

pub(crate) mod local;

use std::collections::BTreeMap;
use std::path::Path;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::compact::CompactValue;
use crate::model::ResourceKey;

pub use local::{DEFAULT_HISTORY_LIMIT, LocalStateStore};

/// The current state format version.
pub const STATE_FORMAT_VERSION: u32 = 1;

/// Everything Strata remembers about a stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Format version ([`STATE_FORMAT_VERSION`]).
    pub version: u32,
    /// Bumped on every write; a save must name the serial it read.
    pub serial: u64,
    /// Identity of this state's history; never changes after the first write.
    pub lineage: String,
    /// The stack this state belongs to (its name), set on the first apply; a command for
    /// another stack refuses the state (see [`State::check_stack`]). Empty in states written
    /// before stacks were recorded: the next apply records it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stack: String,
    /// Per-resource records, keyed by the resource's address.
    pub resources: BTreeMap<String, ResourceState>,
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

impl State {
    /// An empty state with a fresh lineage and serial 0 (never saved).
    pub fn new() -> Self {
        Self {
            version: STATE_FORMAT_VERSION,
            serial: 0,
            lineage: uuid::Uuid::new_v4().to_string(),
            stack: String::new(),
            resources: BTreeMap::new(),
        }
    }

    /// Refuses a state that belongs to another stack than `stack`: applying it would plan the
    /// other stack's resources as deletions. A state that names no stack yet is accepted.
    pub fn check_stack(&self, stack: &str, location: &str) -> Result<(), StateError> {
        if self.stack.is_empty() || self.stack == stack {
            Ok(())
        } else {
            Err(StateError::ForeignStack {
                location: location.to_owned(),
                state_stack: self.stack.clone(),
                stack: stack.to_owned(),
                lineage: self.lineage.clone(),
            })
        }
    }

    /// Whether some record is an intent an interrupted apply left (a create or update that was
    /// about to be sent): the next apply confirms or redoes it.
    pub fn has_intents(&self) -> bool {
        self.resources
            .values()
            .any(|r| r.status != ResourceStatus::Applied)
    }

    /// The record of `key`, if any.
    pub fn get(&self, key: &ResourceKey) -> Option<&ResourceState> {
        self.resources.get(&key.address())
    }

    /// Inserts or replaces the record of its key.
    pub fn put(&mut self, record: ResourceState) {
        self.resources.insert(record.key.address(), record);
    }

    /// Removes the record of `key`.
    pub fn remove(&mut self, key: &ResourceKey) -> Option<ResourceState> {
        self.resources.remove(&key.address())
    }
}

/// Where a resource is in its life, as far as Strata knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResourceStatus {
    /// Applied successfully.
    Applied,
    /// A create was about to be sent; the object may exist even though the create's result was
    /// never recorded (a crash). The next plan observes it and adopts it instead of creating a
    /// duplicate.
    Creating,
    /// An update was about to be sent; the live object may have the old or the new content.
    /// The next plan compares it with the desired set, and the next apply records the result.
    Updating,
}

/// What Strata remembers about one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    /// The resource's identity.
    pub key: ResourceKey,
    /// Its apiVersion when last applied.
    pub api_version: String,
    /// The provider that manages it.
    pub provider: String,
    /// Applied, or a create or update in flight.
    pub status: ResourceStatus,
    /// The desired manifest last applied, with sensitive values replaced by digests. Kept as
    /// compact text: every record holds one for the whole of a plan, and it is read once
    /// ([`CompactValue::equals`]) unless Git changed it.
    pub last_applied: CompactValue,
    /// What it depended on when applied (drives delete order once it leaves the desired set).
    #[serde(default)]
    pub dependencies: Vec<ResourceKey>,
    /// Non-sensitive outputs (ids, ARNs, endpoints).
    #[serde(default)]
    pub outputs: Value,
    /// Protected from delete and replace; kept even if the annotation is removed with the
    /// resource.
    #[serde(default)]
    pub protect: bool,
}

/// Who holds a lock and why (Terraform's lock info, same JSON keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Unique lock id.
    #[serde(rename = "ID")]
    pub id: String,
    /// The operation holding it (`plan`, `apply`, `destroy`, `state-lock`…).
    #[serde(rename = "Operation")]
    pub operation: String,
    /// Free text.
    #[serde(rename = "Info", default)]
    pub info: String,
    /// `user@host`.
    #[serde(rename = "Who")]
    pub who: String,
    /// Strata version.
    #[serde(rename = "Version")]
    pub version: String,
    /// When it was taken (RFC 3339, UTC).
    #[serde(rename = "Created")]
    pub created: String,
    /// The state it locks.
    #[serde(rename = "Path", default)]
    pub path: String,
    /// The holder's process id (0 when unknown, as in locks written by older versions).
    #[serde(rename = "Pid", default)]
    pub pid: u32,
    /// The holder's host name.
    #[serde(rename = "Host", default)]
    pub host: String,
}

impl LockInfo {
    /// A new lock for `operation`, with a fresh id, the current user and time.
    pub fn new(operation: impl Into<String>) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            operation: operation.into(),
            info: String::new(),
            who: current_user_and_host(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            path: String::new(),
            pid: std::process::id(),
            host: host_name(),
        }
    }

    /// Whether the holding process still runs: `Some` only when the lock was taken on this host
    /// with a known pid (a process on another host cannot be seen from here).
    pub fn holder_alive(&self) -> Option<bool> {
        (self.pid != 0 && !self.host.is_empty() && self.host == host_name())
            .then(|| Path::new(&format!("/proc/{}", self.pid)).exists())
    }

    /// How long ago the lock was taken, when its creation time reads.
    pub fn age(&self) -> Option<std::time::Duration> {
        let created = humantime::parse_rfc3339(&self.created).ok()?;
        std::time::SystemTime::now().duration_since(created).ok()
    }

    /// The holder in one line: who, where, which process (and whether it still runs), what
    /// for, since when.
    pub fn describe(&self) -> String {
        let process = match (self.pid, self.holder_alive()) {
            (0, _) => "pid unknown".to_owned(),
            (pid, Some(true)) => format!("pid {pid}, still running on this host"),
            (pid, Some(false)) => format!("pid {pid}, no longer running on this host"),
            (pid, None) => format!("pid {pid} on another host"),
        };
        let age = self
            .age()
            .map(|a| {
                format!(
                    ", {} ago",
                    humantime::format_duration(std::time::Duration::from_secs(a.as_secs()))
                )
            })
            .unwrap_or_default();
        format!(
            "held by {} ({process}) for `{}` since {}{age}, lock ID {}",
            self.who, self.operation, self.created, self.id
        )
    }
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ID: {}, operation: {}, who: {}, created: {}",
            self.id, self.operation, self.who, self.created
        )
    }
}

fn current_user_and_host() -> String {
    format!("{}@{}", user_name(), host_name())
}

/// The user running this process: `$USER`, `$LOGNAME` or `$USERNAME`, else the account of the
/// process's uid in `/etc/passwd`, else `uid <n>`.
fn user_name() -> String {
    for var in ["USER", "LOGNAME", "USERNAME"] {
        if let Ok(name) = std::env::var(var)
            && !name.is_empty()
        {
            return name;
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) {
            let from_passwd = std::fs::read_to_string("/etc/passwd")
                .ok()
                .and_then(|passwd| {
                    passwd.lines().find_map(|line| {
                        let mut fields = line.split(':');
                        let name = fields.next()?;
                        let id = fields.nth(1)?;
                        (id.parse::<u32>().ok()? == uid).then(|| name.to_owned())
                    })
                });
            return from_passwd.unwrap_or_else(|| format!("uid {uid}"));
        }
    }
    "unknown".to_owned()
}

/// This machine's host name.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Errors from a state store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Reading or writing failed.
    #[error("state {location}: {message}")]
    Io {
        /// The file or object.
        location: String,
        /// What failed (with the cause's text, when there is a cause).
        message: String,
        /// The error reading or writing failed with (an I/O error, the storage service's
        /// error), when there is one; `None` for failures Strata itself detects (a lock that
        /// changed hands, a location that cannot name a state).
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// The stored state cannot be read.
    #[error("state {location} is corrupt: {message}")]
    Corrupt {
        /// The file or object.
        location: String,
        /// Why it cannot be read.
        message: String,
    },
    /// The stored state, journal or lock is not valid JSON (or not of the expected shape).
    #[error("state {location} is corrupt: {source}")]
    Malformed {
        /// The file or object.
        location: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The state belongs to another stack.
    #[error(
        "state {location} belongs to stack `{state_stack}` (lineage {lineage}), not to stack `{stack}`: refusing to plan against it, since its resources would be planned as deletions; point --state at this stack's own state"
    )]
    ForeignStack {
        /// The file or object.
        location: String,
        /// The stack the state names.
        state_stack: String,
        /// The stack of this command.
        stack: String,
        /// The state's lineage.
        lineage: String,
    },
    /// Someone else saved since this state was read.
    #[error(
        "state {location} changed since it was read (read serial {expected}, now {found}); re-run to plan against the new state"
    )]
    StaleSerial {
        /// The file or object.
        location: String,
        /// The serial the writer read.
        expected: u64,
        /// The serial found.
        found: u64,
    },
    /// The stored state belongs to another history.
    #[error(
        "state {location} has lineage {found}, not {expected}: refusing to overwrite an unrelated state"
    )]
    ForeignLineage {
        /// The file or object.
        location: String,
        /// The writer's lineage.
        expected: String,
        /// The stored lineage.
        found: String,
    },
    /// The state is locked by someone else.
    #[error(
        "state {location} is locked: {}; if that run is gone, release it with `strata state force-unlock <stack dir> {}`",
        holder.describe(),
        holder.id
    )]
    Locked {
        /// The file or object.
        location: String,
        /// The current holder.
        holder: Box<LockInfo>,
    },
    /// Unlock was asked with an id that does not hold the lock.
    #[error("state {location} is locked by {held}, not {given}")]
    LockIdMismatch {
        /// The file or object.
        location: String,
        /// The id holding the lock.
        held: String,
        /// The id given.
        given: String,
    },
    /// The version asked for is not kept (or this backend keeps no history).
    #[error("state {location}: version {version} is not kept (see `strata state history`)")]
    VersionNotKept {
        /// The file or object.
        location: String,
        /// The version asked for.
        version: String,
    },
    /// Unlock was asked but no lock is held.
    #[error("state {location} is not locked")]
    NotLocked {
        /// The file or object.
        location: String,
    },
}

impl StateError {
    /// Reading or writing `location` failed with `source`; the message is the source's text.
    pub fn io<E>(location: impl Into<String>, source: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        Self::Io {
            location: location.into(),
            message: source.to_string(),
            source: Some(Box::new(source)),
        }
    }

    /// Reading or writing `location` failed with `source` while doing `context`: the message
    /// is `<context>: <source>`.
    pub fn io_while<E>(
        location: impl Into<String>,
        context: impl std::fmt::Display,
        source: E,
    ) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        Self::Io {
            location: location.into(),
            message: format!("{context}: {source}"),
            source: Some(Box::new(source)),
        }
    }

    /// Reading or writing `location` failed for a reason Strata itself detected (no
    /// underlying error).
    pub fn io_message(location: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Io {
            location: location.into(),
            message: message.into(),
            source: None,
        }
    }
}

/// Storage for a stack's state, with compare-and-swap saves and operation locks.
#[async_trait]
pub trait StateStore: Send + Sync + std::fmt::Debug {
    /// A human-readable location (a path or `s3://bucket/key`).
    fn location(&self) -> String;

    /// Loads the stored state, `None` when there is none yet.
    async fn load(&self) -> Result<Option<State>, StateError>;

    /// Saves `state` if the stored state still has `state.serial` and `state.lineage` (or
    /// nothing is stored and `state.serial` is 0). On success `state.serial` is bumped to the
    /// serial written.
    async fn save(&self, state: &mut State) -> Result<(), StateError>;

    /// Takes the operation lock, failing with [`StateError::Locked`] if it is held.
    async fn lock(&self, info: &LockInfo) -> Result<(), StateError>;

    /// Releases the lock held under `id`.
    async fn unlock(&self, id: &str) -> Result<(), StateError>;

    /// Releases the lock whatever its holder, given the holder's id (for crashed holders).
    async fn force_unlock(&self, id: &str) -> Result<(), StateError> {
        self.unlock(id).await
    }

    /// The current lock holder, if any.
    async fn lock_info(&self) -> Result<Option<LockInfo>, StateError>;

    /// Durably records `changes`, already made to `state`, as one write with the same
    /// compare-and-swap rule as [`StateStore::save`] (the serial is bumped once). The default
    /// rewrites the whole state; the local store appends the changes to a journal instead, so a
    /// write costs what the changes weigh rather than what the state weighs.
    async fn save_changes(
        &self,
        state: &mut State,
        changes: &[StateChange],
    ) -> Result<(), StateError> {
        let _ = changes;
        self.save(state).await
    }

    /// The versions kept of this state, newest first, the current one included (local: the
    /// history directory; S3: the bucket's object versions). The default keeps none.
    async fn history(&self) -> Result<Vec<KeptVersion>, StateError> {
        Ok(Vec::new())
    }

    /// One kept version, by the id [`StateStore::history`] gives.
    async fn load_version(&self, id: &str) -> Result<State, StateError> {
        Err(StateError::VersionNotKept {
            location: self.location(),
            version: id.to_owned(),
        })
    }

    /// Folds what [`StateStore::save_changes`] wrote into one stored state (the end of an
    /// apply). Stores without a journal have nothing to do.
    async fn compact(&self, state: &mut State) -> Result<(), StateError> {
        let _ = state;
        Ok(())
    }
}

/// One kept version of a state, as [`StateStore::history`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KeptVersion {
    /// The id to load it by ([`StateStore::load_version`]): the serial for local states, the
    /// object version for S3.
    pub id: String,
    /// Its serial.
    pub serial: u64,
    /// Its lineage.
    pub lineage: String,
    /// The stack it names.
    pub stack: String,
    /// How many resources it records.
    pub resources: usize,
    /// When it was written (RFC 3339), when known.
    pub saved_at: Option<String>,
    /// Whether it is the current version.
    pub current: bool,
}

impl KeptVersion {
    /// The version entry of `state`.
    pub fn of(
        state: &State,
        id: String,
        saved_at: Option<std::time::SystemTime>,
        current: bool,
    ) -> Self {
        Self {
            id,
            serial: state.serial,
            lineage: state.lineage.clone(),
            stack: state.stack.clone(),
            resources: state.resources.len(),
            saved_at: saved_at.map(|t| humantime::format_rfc3339_seconds(t).to_string()),
            current,
        }
    }
}

/// One change to a state's records, as journaled by [`StateStore::save_changes`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StateChange {
    /// The record was put (created or replaced).
    Put(Box<ResourceState>),
    /// The record of this key was removed.
    Remove(ResourceKey),
}

impl StateChange {
    /// Applies the change to `state`'s records.
    pub fn apply_to(&self, state: &mut State) {
        match self {
            StateChange::Put(record) => state.put(record.as_ref().clone()),
            StateChange::Remove(key) => {
                state.remove(key);
            }
        }
    }
}
