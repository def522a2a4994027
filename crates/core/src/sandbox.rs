//! The local sandbox provider: serves every kind by keeping live objects as JSON files.
//!
//! Like Crossplane's provider-nop, it accepts any resource, reports it Ready and fills
//! `status.atProvider` from `spec.forProvider`. Its "world" lives in its own directory
//! (`<stack>/.strata/sandbox/` by default), apart from the state, so editing a file there is
//! drift that the next plan shows. It mirrors the replace rules of the real providers it is given
//! ([`SandboxProvider::with_mirrored_rules`], set up from each provider's exported
//! [`ReplaceRules`]), so plans made against the sandbox show the replacements a real apply
//! would make; without mirrored rules every change is an update.
//!
//! Hooks (`argocd.argoproj.io/hook`) are the one place where the sandbox takes a `status` from
//! the manifest: a hook Job written with `status.conditions` `Failed=True` is reported Degraded
//! (failed) and one with `Complete=True` (or no status) Healthy (complete). This is a documented
//! test affordance, so that a stack can show what a failing PreSync hook and its SyncFail hooks
//! do without a cluster running the Job.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::compact::CompactValue;
use crate::live::LiveObject;
use crate::model::{Resource, ResourceKey};
use crate::provider::{Applied, Health, Observation, Provider, ProviderError};
use crate::replace::ReplaceRules;
use crate::schema::KindSchema;
use crate::state::local::{Durability, write_atomically};

/// The world's file layout version, kept in `<world>/.layout`. Version 2 percent-encodes each
/// path segment ([`SandboxProvider::object_path`]); worlds without the file are migrated on
/// first use, after a backup.
const LAYOUT_VERSION: &str = "2";
const LAYOUT_FILE: &str = ".layout";

/// The file every sandbox using a world holds a shared lock on while it lives; one that finds
/// no other holder (an exclusive lock succeeds) cleans up after crashed writers first.
const WORLD_LOCK_FILE: &str = ".lock";

/// The sandbox provider.
#[derive(Debug, Clone)]
pub struct SandboxProvider {
    world: PathBuf,
    mirrored: ReplaceRules,
    /// Kinds declared: those of the providers it stands in for, and those allowed
    /// (`sandbox.allowKinds`).
    allowed: Vec<(String, String)>,
    /// The schemas of the providers it stands in for.
    schemas: Vec<KindSchema>,
    /// Whether it takes kinds nobody declared (a bare sandbox, a test double, does; one
    /// standing in for real providers does not: see [`SandboxProvider::refusing_unknown_kinds`]).
    takes_any_kind: bool,
    /// The world's layout checked (and migrated) and its lock taken, once in this process: the
    /// lock file, held shared for the provider's life.
    layout: Arc<OnceLock<Result<Arc<std::fs::File>, ProviderError>>>,
    /// The object files of each directory observed, listed once (`None`: the directory does
    /// not exist), when the sandbox was asked to list ([`SandboxProvider::listing_directories`]).
    listings: Option<Arc<Mutex<Listings>>>,
}

/// File names by directory, as listed (see [`SandboxProvider::listing_directories`]).
type Listings = HashMap<PathBuf, Option<HashSet<OsString>>>;

impl SandboxProvider {
    /// A sandbox whose world is the directory `world`, with no replace rules, taking any kind
    /// (until [`refusing_unknown_kinds`](Self::refusing_unknown_kinds)).
    pub fn new(world: impl Into<PathBuf>) -> Self {
        Self {
            world: world.into(),
            mirrored: ReplaceRules::new(),
            allowed: Vec::new(),
            schemas: Vec::new(),
            takes_any_kind: true,
            layout: Arc::new(OnceLock::new()),
            listings: None,
        }
    }

    /// The same sandbox, answering "absent" for the objects of a directory from one listing of
    /// it instead of one failed `open` per object (a plan of many new objects made as many).
    /// Each directory is listed the first time an object of it is observed; the sandbox's own
    /// writes and deletes keep the listing current, but a file another process adds to the
    /// world afterwards is not seen by this sandbox: for a command that lives as long as one
    /// plan (and its apply), not for a long-running process.
    pub fn listing_directories(mut self) -> Self {
        self.listings = Some(Arc::new(Mutex::new(HashMap::new())));
        self
    }

    /// The same sandbox, also mirroring `rules` (the replace rules a real provider exports), so
    /// that a change it would replace is planned as a replacement here too.
    pub fn with_mirrored_rules(mut self, rules: &ReplaceRules) -> Self {
        self.mirrored = std::mem::take(&mut self.mirrored).merged(rules);
        self
    }

    /// Declares the kinds of a provider the sandbox stands in for (its
    /// [`Provider::declared_kinds`]), so a kind that provider does not serve is refused here
    /// as it would be there.
    pub fn with_mirrored_kinds(
        mut self,
        kinds: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        self.allowed.extend(kinds);
        self
    }

    /// Mirrors the schemas of a provider the sandbox stands in for (its
    /// [`Provider::schemas`]), so an object that provider would refuse is refused here too.
    pub fn with_mirrored_schemas(mut self, schemas: impl IntoIterator<Item = KindSchema>) -> Self {
        self.schemas.extend(schemas);
        self
    }

    /// Takes only the kinds of the providers it mirrors and those allowed
    /// ([`with_allowed_kinds`](Self::with_allowed_kinds)): any other kind is refused before
    /// planning, as the real providers would refuse it, instead of being planned as a
    /// sandbox object. What the CLI runs with.
    pub fn refusing_unknown_kinds(mut self) -> Self {
        self.takes_any_kind = false;
        self
    }

    /// Lets the sandbox take kinds no provider declares (`group/Kind`, or `Kind` for the
    /// core group; `group/*` for every kind of a group), as `sandbox.allowKinds` in
    /// `strata.yaml` lists them.
    pub fn with_allowed_kinds<'a>(mut self, kinds: impl IntoIterator<Item = &'a str>) -> Self {
        for pattern in kinds {
            let (group, kind) = pattern.rsplit_once('/').unwrap_or(("", pattern));
            self.allowed.push((group.to_owned(), kind.to_owned()));
        }
        self
    }

    /// The replace rules mirrored from real providers.
    pub fn mirrored_rules(&self) -> &ReplaceRules {
        &self.mirrored
    }

    /// The world directory.
    pub fn world(&self) -> &Path {
        &self.world
    }

    /// The file holding the live object of `key`:
    /// `<world>/<group or core>/<Kind>/<namespace or _cluster>/<name>.json`, each segment
    /// percent-encoded (every byte but ASCII letters, digits, `-` and a `.` that does not start
    /// the segment), so the mapping is reversible: two keys never share a file, and no segment
    /// can climb out of the world (`..` becomes `%2E.`).
    pub fn object_path(&self, key: &ResourceKey) -> PathBuf {
        let group = if key.group.is_empty() {
            "core"
        } else {
            &key.group
        };
        let namespace = match key.namespace.as_deref() {
            Some(ns) => encode_segment(ns),
            None => "_cluster".to_owned(),
        };
        self.world
            .join(encode_segment(group))
            .join(encode_segment(&key.kind))
            .join(namespace)
            .join(format!("{}.json", encode_segment(&key.name)))
    }

    /// Opens the world as the first observation or write does: takes its lock, removes what
    /// crashed writers left, migrates an old layout. A caller that answers from what it knows of the world without
    /// observing (a plan kept from an earlier run) still meets the errors and the clean-up a
    /// plan would.
    ///
    /// # Errors
    ///
    /// When the world cannot be created, locked, cleaned or migrated.
    pub fn open(&self) -> Result<(), ProviderError> {
        self.ensure_layout()
    }

    /// Opens the world once per process: takes its lock (see [`WORLD_LOCK_FILE`]); when no
    /// other sandbox holds it, removes the temporary files crashed writers left and migrates a
    /// world of the first layout (irreversible `_` escaping) after copying it to
    /// `<world>.backup-<seconds>`.
    fn ensure_layout(&self) -> Result<(), ProviderError> {
        self.layout
            .get_or_init(|| open_world(&self.world).map(Arc::new))
            .as_ref()
            .map(drop)
            .map_err(Clone::clone)
    }

    /// Whether the listing of `path`'s directory says it is absent (see
    /// [`SandboxProvider::listing_directories`]); `false` when not listing or unsure.
    fn listed_absent(&self, path: &Path) -> bool {
        let (Some(listings), Some(dir), Some(name)) =
            (&self.listings, path.parent(), path.file_name())
        else {
            return false;
        };
        let mut listings = listings.lock().unwrap_or_else(PoisonError::into_inner);
        if !listings.contains_key(dir) {
            let listed = match std::fs::read_dir(dir) {
                Ok(entries) => match entries
                    .map(|entry| entry.map(|e| e.file_name()))
                    .collect::<Result<HashSet<_>, _>>()
                {
                    Ok(names) => Some(names),
                    Err(_) => return false,
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                // Unreadable: not listed, so each object is opened (and its error reported).
                Err(_) => return false,
            };
            listings.insert(dir.to_path_buf(), listed);
        }
        let Some(listed) = listings.get(dir) else {
            return false;
        };
        listed.as_ref().is_none_or(|names| !names.contains(name))
    }

    /// Records in the listing of `path`'s directory, when there is one, that it exists now or
    /// no longer does.
    fn relist(&self, path: &Path, exists: bool) {
        let (Some(listings), Some(dir), Some(name)) =
            (&self.listings, path.parent(), path.file_name())
        else {
            return;
        };
        let mut listings = listings.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(listed) = listings.get_mut(dir) {
            let names = listed.get_or_insert_with(HashSet::new);
            if exists {
                names.insert(name.to_owned());
            } else {
                names.remove(name);
            }
        }
    }

    /// The live object of `key`, read as `T` (a `Value`, or a `CompactValue` read straight into
    /// compact text); `None` when there is none.
    fn read<T: serde::de::DeserializeOwned>(
        &self,
        key: &ResourceKey,
    ) -> Result<Option<T>, ProviderError> {
        self.ensure_layout()?;
        let path = self.object_path(key);
        if self.listed_absent(&path) {
            return Ok(None);
        }
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                ProviderError::final_error(format!(
                    "sandbox object {} is not valid JSON: {e}",
                    path.display()
                ))
                .with_source(e)
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => {
                Err(ProviderError::retryable(format!("{}: {e}", path.display())).with_source(e))
            }
        }
    }

    fn write(&self, resource: &Resource) -> Result<Applied, ProviderError> {
        self.ensure_layout()?;
        let live = live_object(&resource.manifest);
        let path = self.object_path(&resource.key);
        let bytes = serde_json::to_vec_pretty(&live)
            .map_err(|e| ProviderError::final_error(e.to_string()).with_source(e))?;
        write_atomically(&path, &bytes, Durability::Atomic).map_err(|e| {
            ProviderError::retryable(format!("{}: {e}", path.display())).with_source(e)
        })?;
        self.relist(&path, true);
        let outputs = json!({ "id": resource.key.name });
        Ok(Applied {
            live,
            outputs,
            ..Applied::default()
        })
    }
}

/// Percent-encodes one path segment (see [`SandboxProvider::object_path`]).
fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for (i, byte) in segment.bytes().enumerate() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || (byte == b'.' && i > 0) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Opens `world` (creating it): takes its lock exclusively when no other sandbox holds it, to
/// remove leftover temporary files and migrate its layout, then holds it shared. When another
/// sandbox holds it, its temporary files may be writes in flight: they are left alone.
fn open_world(world: &Path) -> Result<std::fs::File, ProviderError> {
    let io = |path: &Path, e: std::io::Error| {
        ProviderError::final_error(format!(
            "opening the sandbox world: {}: {e}",
            path.display()
        ))
        .with_source(e)
    };
    std::fs::create_dir_all(world).map_err(|source| io(world, source))?;
    let lock_path = world.join(WORLD_LOCK_FILE);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| io(&lock_path, source))?;
    match lock.try_lock() {
        Ok(()) => {
            let removed = remove_temporaries(world).map_err(|source| io(world, source))?;
            if removed > 0 {
                tracing::info!(world = %world.display(), removed, "removed temporary files interrupted sandbox writes left");
            }
            let migrated = migrate_world(world);
            lock.unlock().map_err(|source| io(&lock_path, source))?;
            migrated?;
        }
        Err(std::fs::TryLockError::WouldBlock) => migrate_world(world)?,
        Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path, e)),
    }
    lock.lock_shared()
        .map_err(|source| io(&lock_path, source))?;
    Ok(lock)
}

/// Whether `name` is a temporary file of [`write_atomically`] (`<name>.tmp.<id>`).
fn is_temporary(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|n| n.contains(".tmp."))
}

/// Removes every temporary file under `dir`; returns how many.
fn remove_temporaries(dir: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            removed += remove_temporaries(&path)?;
        } else if is_temporary(&entry.file_name()) {
            match std::fs::remove_file(&path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

/// Brings a world to the current layout: nothing to do for a new world or one already marked;
/// otherwise the world is copied aside, every object file is moved to the path its manifest's
/// key gives, and the layout file is written.
fn migrate_world(world: &Path) -> Result<(), ProviderError> {
    let io = |path: &Path, e: std::io::Error| {
        ProviderError::final_error(format!(
            "migrating the sandbox world: {}: {e}",
            path.display()
        ))
        .with_source(e)
    };
    let marker = world.join(LAYOUT_FILE);
    if marker.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(world).map_err(|source| io(world, source))?;
    let files = json_files(world).map_err(|source| io(world, source))?;
    if files.is_empty() {
        // A new world: nothing to migrate.
        return std::fs::write(&marker, LAYOUT_VERSION).map_err(|source| io(&marker, source));
    }
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut backup = world.as_os_str().to_owned();
    backup.push(format!(".backup-{seconds}"));
    let backup = PathBuf::from(backup);
    copy_tree(world, &backup).map_err(|source| io(&backup, source))?;
    let probe = SandboxProvider::new(world);
    for file in files {
        let bytes = std::fs::read(&file).map_err(|source| io(&file, source))?;
        let manifest: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ProviderError::final_error(format!(
                "migrating the sandbox world: {} is not valid JSON: {e}",
                file.display()
            ))
            .with_source(e)
        })?;
        let key = ResourceKey::from_manifest(&manifest).map_err(|e| {
            ProviderError::final_error(format!(
                "migrating the sandbox world: {}: {e}",
                file.display()
            ))
            .with_source(e)
        })?;
        let target = probe.object_path(&key);
        if target != file {
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir).map_err(|source| io(dir, source))?;
            }
            std::fs::rename(&file, &target).map_err(|source| io(&file, source))?;
        }
    }
    std::fs::write(&marker, LAYOUT_VERSION).map_err(|source| io(&marker, source))?;
    tracing::info!(world = %world.display(), backup = %backup.display(), "sandbox world migrated to layout {LAYOUT_VERSION}");
    Ok(())
}

/// Every `.json` file under `dir`.
fn json_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(json_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(out)
}

/// Copies the directory tree `from` to `to`.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// The live object the sandbox keeps for a desired manifest: the manifest plus a status that
/// says Ready and echoes `spec.forProvider` as `status.atProvider`.
fn live_object(manifest: &Value) -> Value {
    let mut live = manifest.clone();
    if crate::sync::is_hook(manifest) && manifest.get("status").is_some() {
        return live;
    }
    if let Some(object) = live.as_object_mut() {
        let mut status = serde_json::Map::new();
        if let Some(for_provider) = manifest.get("spec").and_then(|s| s.get("forProvider")) {
            status.insert("atProvider".to_owned(), for_provider.clone());
        }
        status.insert(
            "conditions".to_owned(),
            json!([
                {"type": "Ready", "status": "True", "reason": "Available"},
                {"type": "Synced", "status": "True", "reason": "ReconcileSuccess"}
            ]),
        );
        object.insert("status".to_owned(), Value::Object(status));
    }
    live
}

#[async_trait]
impl Provider for SandboxProvider {
    fn name(&self) -> &str {
        "sandbox"
    }

    /// The kinds of the providers it stands in for (it refuses what they would refuse) and
    /// the kinds it was allowed to take.
    fn declared_kinds(&self) -> Vec<(String, String)> {
        let mut kinds = self.allowed.clone();
        if self.takes_any_kind {
            kinds.push(("*".to_owned(), "*".to_owned()));
        }
        kinds
    }

    fn schemas(&self) -> Vec<KindSchema> {
        self.schemas.clone()
    }

    fn serves(&self, _api_version: &str, _kind: &str) -> bool {
        true
    }

    async fn observe(&self, desired: &Resource) -> Result<Observation, ProviderError> {
        // Kept as compact text: a plan holds every observation at once and reads most of them
        // once, to find nothing changed (see `LiveObject`).
        Ok(match self.read::<CompactValue>(&desired.key)? {
            Some(live) => Observation::present(LiveObject::from_compact(live)),
            None => Observation::absent(),
        })
    }

    async fn create(&self, desired: &Resource) -> Result<Applied, ProviderError> {
        self.write(desired)
    }

    async fn update(&self, desired: &Resource, _live: &Value) -> Result<Applied, ProviderError> {
        self.write(desired)
    }

    async fn delete(&self, resource: &Resource) -> Result<(), ProviderError> {
        self.ensure_layout()?;
        let path = self.object_path(&resource.key);
        let removed = std::fs::remove_file(&path);
        if removed.is_ok() {
            self.relist(&path, false);
        }
        match removed {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => {
                Err(ProviderError::retryable(format!("{}: {e}", path.display())).with_source(e))
            }
        }
    }

    /// Every object of the world labelled for `stack`, whatever its kind.
    async fn list_owned(
        &self,
        stack: &str,
        _kinds: &[(String, String)],
    ) -> Result<Option<Vec<Value>>, ProviderError> {
        self.ensure_layout()?;
        let files = json_files(&self.world).map_err(|e| {
            ProviderError::retryable(format!("{}: {e}", self.world.display())).with_source(e)
        })?;
        let mut owned = Vec::new();
        for file in files {
            let bytes = match std::fs::read(&file) {
                Ok(bytes) => bytes,
                // Deleted while listing.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(
                        ProviderError::retryable(format!("{}: {e}", file.display())).with_source(e)
                    );
                }
            };
            let live: Value = serde_json::from_slice(&bytes).map_err(|e| {
                ProviderError::final_error(format!(
                    "sandbox object {} is not valid JSON: {e}",
                    file.display()
                ))
                .with_source(e)
            })?;
            if crate::ownership::manager_of(&live, stack) == crate::ownership::Manager::ThisStack {
                owned.push(live);
            }
        }
        Ok(Some(owned))
    }

    fn replace_fields(&self, key: &ResourceKey) -> Vec<String> {
        self.mirrored.fields_for(key).to_vec()
    }

    fn health(&self, live: &Value) -> Health {
        if crate::sync::is_hook(live) {
            return hook_health(live);
        }
        Health::Healthy
    }
}

/// A hook's health from the `status` its manifest carried: failed (Degraded) when a `Failed`
/// condition is true or `status.failed` counts a failure, else complete (Healthy).
fn hook_health(live: &Value) -> Health {
    let failed_condition = live
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Failed" && c["status"] == "True");
    let failed_count = live
        .pointer("/status/failed")
        .and_then(Value::as_i64)
        .is_some_and(|n| n > 0);
    if failed_condition || failed_count {
        Health::Degraded
    } else {
        Health::Healthy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn create_observe_delete_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = SandboxProvider::new(dir.path());
        let r = Resource::from_manifest(json!({
            "apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "Bucket",
            "metadata": {"name": "logs"}, "spec": {"forProvider": {"region": "eu-west-1"}}
        }))
        .unwrap();
        assert!(sandbox.observe(&r).await.unwrap().live.is_none());
        sandbox.create(&r).await.unwrap();
        let live = sandbox.observe(&r).await.unwrap().live.unwrap();
        assert!(live.is_compact());
        let live = live.value();
        assert_eq!(live["status"]["atProvider"]["region"], "eu-west-1");
        assert_eq!(live["status"]["conditions"][0]["status"], "True");
        sandbox.delete(&r).await.unwrap();
        assert!(sandbox.observe(&r).await.unwrap().live.is_none());
        sandbox.delete(&r).await.unwrap();
    }

    #[tokio::test]
    async fn hooks_keep_the_status_their_manifest_gives() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = SandboxProvider::new(dir.path());
        let job = |status: Value| {
            Resource::from_manifest(json!({
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": "migrate", "annotations": {"argocd.argoproj.io/hook": "PreSync"}},
                "status": status
            }))
            .unwrap()
        };
        let failed = sandbox
            .create(&job(
                json!({"conditions": [{"type": "Failed", "status": "True"}]}),
            ))
            .await
            .unwrap();
        assert_eq!(sandbox.health(&failed.live), Health::Degraded);
        let complete = sandbox
            .create(&job(
                json!({"conditions": [{"type": "Complete", "status": "True"}]}),
            ))
            .await
            .unwrap();
        assert_eq!(sandbox.health(&complete.live), Health::Healthy);
        let mut plain = job(Value::Null);
        plain.manifest.as_object_mut().unwrap().remove("status");
        let created = sandbox.create(&plain).await.unwrap();
        assert_eq!(sandbox.health(&created.live), Health::Healthy);
    }

    #[test]
    fn replace_rules_are_the_mirrored_ones() {
        let db = ResourceKey::new("rds.aws.upbound.io", "Instance", None, "db");
        assert!(SandboxProvider::new("/w").replace_fields(&db).is_empty());
        let rules = ReplaceRules::new().with_kind(
            "rds.aws.upbound.io",
            "Instance",
            ["spec.forProvider.engine"],
        );
        let sandbox = SandboxProvider::new("/w").with_mirrored_rules(&rules);
        assert_eq!(sandbox.replace_fields(&db), ["spec.forProvider.engine"]);
    }

    #[tokio::test]
    async fn a_corrupt_object_is_a_final_error_keeping_the_parser_error() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = SandboxProvider::new(dir.path());
        let r = Resource::from_manifest(json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}
        }))
        .unwrap();
        sandbox.create(&r).await.unwrap();
        let path = sandbox.object_path(&r.key);
        std::fs::write(&path, "{ not json").unwrap();
        let error = sandbox.observe(&r).await.unwrap_err();
        assert!(!error.is_retryable());
        assert!(
            error.message.starts_with(&format!(
                "sandbox object {} is not valid JSON: ",
                path.display()
            )),
            "{error}"
        );
        let cause = std::error::Error::source(&error).expect("the parser's error is the source");
        assert!(cause.is::<serde_json::Error>(), "{cause:?}");
    }

    #[test]
    fn paths_are_reversible_and_never_shared() {
        let sandbox = SandboxProvider::new("/w");
        let path = |ns: Option<&str>, name: &str| {
            sandbox.object_path(&ResourceKey::new("", "ConfigMap", ns, name))
        };
        let pairs = [
            ("a/b", "a_b"),
            ("..", "__"),
            ("a.b", "a_b"),
            ("x%2Fy", "x/y"),
        ];
        for (one, other) in pairs {
            assert_ne!(path(None, one), path(None, other), "{one} vs {other}");
            assert_ne!(
                path(Some(one), "n"),
                path(Some(other), "n"),
                "{one} vs {other}"
            );
        }
        assert_ne!(path(Some("_cluster"), "n"), path(None, "n"));
        assert_eq!(
            path(Some("payments"), "payments-db.v2"),
            PathBuf::from("/w/core/ConfigMap/payments/payments-db.v2.json")
        );
        assert_eq!(
            path(None, "../x"),
            PathBuf::from("/w/core/ConfigMap/_cluster/%2E.%2Fx.json")
        );
    }

    #[tokio::test]
    async fn a_world_of_the_first_layout_is_backed_up_and_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let world = dir.path().join("world");
        // The first layout wrote `a/b` as `a_b`.
        let old = world.join("core/ConfigMap/_cluster/a_b.json");
        std::fs::create_dir_all(old.parent().unwrap()).unwrap();
        let manifest =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a/b"}});
        std::fs::write(&old, serde_json::to_vec(&manifest).unwrap()).unwrap();
        let sandbox = SandboxProvider::new(&world);
        let a_b = Resource::from_manifest(manifest.clone()).unwrap();
        assert!(sandbox.observe(&a_b).await.unwrap().live.is_some());
        assert!(!old.exists());
        assert!(sandbox.object_path(&a_b.key).exists());
        let backups: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("world.backup-"))
            .collect();
        assert_eq!(backups.len(), 1);
        assert!(
            backups[0]
                .path()
                .join("core/ConfigMap/_cluster/a_b.json")
                .exists()
        );
        // The other name no longer shares its file.
        let other = Resource::from_manifest(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a_b"}}),
        )
        .unwrap();
        assert!(sandbox.observe(&other).await.unwrap().live.is_none());
    }

    #[tokio::test]
    async fn a_listing_sandbox_observes_what_a_plain_one_does() {
        let dir = tempfile::tempdir().unwrap();
        let world = dir.path().join("world");
        let plain = SandboxProvider::new(&world);
        let listing = SandboxProvider::new(&world).listing_directories();
        let (a, b, c) = (
            config_map("a", None),
            config_map("b", None),
            config_map("c", None),
        );
        // Written before the directory is first listed: seen.
        plain.create(&a).await.unwrap();
        assert!(listing.observe(&a).await.unwrap().live.is_some());
        assert!(listing.observe(&b).await.unwrap().live.is_none());
        // Its own writes and deletes keep the listing current.
        listing.create(&b).await.unwrap();
        assert!(listing.observe(&b).await.unwrap().live.is_some());
        listing.delete(&a).await.unwrap();
        assert!(listing.observe(&a).await.unwrap().live.is_none());
        // A directory that did not exist when listed, then written to by this sandbox.
        let other = Resource::from_manifest(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}),
        )
        .unwrap();
        assert!(listing.observe(&other).await.unwrap().live.is_none());
        listing.create(&other).await.unwrap();
        assert!(listing.observe(&other).await.unwrap().live.is_some());
        for r in [&a, &b, &c, &other] {
            assert_eq!(
                listing.observe(r).await.unwrap().live,
                plain.observe(r).await.unwrap().live,
                "{}",
                r.key
            );
        }
        // A corrupt object is still read (and refused), not listed away.
        std::fs::write(listing.object_path(&b.key), b"{").unwrap();
        assert!(listing.observe(&b).await.is_err());
    }

    fn config_map(name: &str, stack: Option<&str>) -> Resource {
        let mut manifest = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}});
        if let Some(stack) = stack {
            crate::ownership::stamp_in_place(&mut manifest, stack);
        }
        Resource::from_manifest(manifest).unwrap()
    }

    #[tokio::test]
    async fn temporaries_crashed_writers_left_are_removed_when_the_world_is_opened() {
        let dir = tempfile::tempdir().unwrap();
        let world = dir.path().join("world");
        let first = SandboxProvider::new(&world);
        let kept = config_map("kept", Some("s"));
        first.create(&kept).await.unwrap();
        let object = first.object_path(&kept.key);
        // What a write killed between its temporary file and the rename leaves.
        let leftovers = [
            object.with_file_name("kept.json.tmp.0123456789abcdef"),
            object.with_file_name("other.json.tmp.fedcba9876543210"),
            world.join("core/Namespace/_cluster/ns.json.tmp.00"),
        ];
        for leftover in &leftovers {
            std::fs::create_dir_all(leftover.parent().unwrap()).unwrap();
            std::fs::write(leftover, "{ half").unwrap();
        }
        // While the first sandbox uses the world, they may be its writes in flight.
        let second = SandboxProvider::new(&world);
        assert!(second.observe(&kept).await.unwrap().live.is_some());
        assert!(leftovers.iter().all(|l| l.exists()));
        drop((first, second));

        let third = SandboxProvider::new(&world);
        assert!(third.observe(&kept).await.unwrap().live.is_some());
        for leftover in &leftovers {
            assert!(!leftover.exists(), "{}", leftover.display());
        }
        assert!(object.exists(), "objects stay");
        assert_eq!(third.list_owned("s", &[]).await.unwrap().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn list_owned_finds_the_stacks_objects_of_every_kind_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = SandboxProvider::new(dir.path());
        for resource in [
            config_map("mine", Some("s")),
            config_map("theirs", Some("other")),
            config_map("nobodys", None),
        ] {
            sandbox.create(&resource).await.unwrap();
        }
        let mut namespace =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}});
        crate::ownership::stamp_in_place(&mut namespace, "s");
        sandbox
            .create(&Resource::from_manifest(namespace).unwrap())
            .await
            .unwrap();
        let owned = sandbox.list_owned("s", &[]).await.unwrap().unwrap();
        let mut keys: Vec<String> = owned
            .iter()
            .map(|o| ResourceKey::from_manifest(o).unwrap().to_string())
            .collect();
        keys.sort();
        assert_eq!(keys, ["ConfigMap/default/mine", "Namespace/ns"]);
    }

    #[test]
    fn names_cannot_escape_the_world() {
        let sandbox = SandboxProvider::new("/w");
        let key = ResourceKey::new("", "ConfigMap", Some("../.."), "../x");
        let path = sandbox.object_path(&key);
        assert!(path.starts_with("/w/core/ConfigMap"));
        assert_eq!(path.components().count(), 6, "{}", path.display());
        assert!(
            !path.components().any(|c| matches!(
                c,
                std::path::Component::ParentDir | std::path::Component::CurDir
            )),
            "{}",
            path.display()
        );
    }
}
