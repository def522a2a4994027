//! Re-planning a settled stack in the time of what changed: the plan snapshot under
//! `<DIR>/.strata/cache/plan.bin`.
//!
//! A `strata plan` keeps, beside its human plan, what that plan was made of: a digest of its
//! flags and configuration, the state file's identity on disk (device, inode, size,
//! modification and change times), each live sandbox object's identity, every file of the
//! stack with its content digest and, per manifest, its content and metadata digests, and
//! each change's action and text. The next `strata plan` with the same flags checks those
//! identities (a `stat` per object, a digest per file) and, when the only differences are
//! edited manifests whose metadata is unchanged, plans just those manifests
//! ([`strata_core::plan::plan_alone`]) against their state records (read from the byte ranges
//! the snapshot keeps) and their live objects, and prints the plan from the snapshot. Anything
//! else — a file added or removed, a manifest added, removed or changed in its metadata, the
//! state written, a live object written, a flag changed — plans everything as before and
//! writes a new snapshot.
//!
//! It is an optimisation only: the plan printed is the one a full plan prints (property
//! tested in `tests/plan_snapshot.rs`), and a missing, damaged or foreign snapshot is rebuilt.
//! It is kept only for what it can vouch for:
//! - human output, no `--out`, `--destroy`, `--refresh-only`, targets or replacements, no
//!   `--revision` or `--root`;
//! - the sandbox as the only provider, a local state holding records and no journal, no
//!   policies and no Terraform states;
//! - a stack of plain manifest files (no kustomization, chart, Application, ApplicationSet,
//!   CustomResourceDefinition, XRD or Composition), none holding a sensitive field (so no
//!   digest of a secret is kept), no hook, no reference among provider parameters (whose
//!   target's value planning writes into the manifest; other references are graph edges,
//!   which the metadata digests follow);
//! - a plan without guard violations or deletions;
//! - files and objects older than the run: an identity is trusted only when the object was
//!   last changed before a probe written at the start of the run, so a write in the same
//!   clock tick cannot hide behind an unchanged timestamp.

use rustc_hash::FxHashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use strata_core::config::{Backend, StackConfig};
use strata_core::loader::ContentDigest;
use strata_core::plan::{self, Action, Plan, PlanOptions, Summary};
use strata_core::source::SourceTree;
use strata_core::state::{ResourceState, State};
use strata_core::{Graph, Resource, ResourceKey};

use crate::args::PlanArgs;
use crate::cache::{Reader, build_identity, checksum, put_str, put_varint, write_atomically};
use crate::commands::ExitCode;
use crate::output::Format as Output;

/// The snapshot's file inside the cache directory.
pub const FILE_NAME: &str = "plan.bin";
/// The probe written at the start of a run, whose modification time is "now" in the clock
/// file timestamps are taken from.
const PROBE_NAME: &str = "plan.probe";
const MAGIC: &[u8; 8] = b"STRATARP";
/// Bumped whenever the layout changes.
const FORMAT: u32 = 1;

/// A file's identity on disk: it changes whenever the file is written, renamed over, created
/// or removed (with the timestamps' resolution: see [`Fingerprint::older_than`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Fingerprint {
    present: bool,
    device: u64,
    inode: u64,
    size: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

impl Fingerprint {
    /// The identity of `path`; `None` when it cannot be read (not when it is absent).
    fn of(path: &Path) -> Option<Self> {
        match std::fs::metadata(path) {
            Ok(meta) => Some(Self::from_metadata(&meta)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(Self::default()),
            Err(_) => None,
        }
    }

    fn from_metadata(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt as _;
        Self {
            present: true,
            device: meta.dev(),
            inode: meta.ino(),
            size: meta.size(),
            modified: (meta.mtime(), meta.mtime_nsec()),
            changed: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// Whether the file was last changed strictly before `now` (a probe's modification
    /// time): a later write then gets a later timestamp, so it changes the identity. An
    /// absent file is trusted: creating it changes the identity.
    fn older_than(&self, now: (i64, i64)) -> bool {
        !self.present || (self.modified < now && self.changed < now)
    }

    fn put(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.present));
        for n in [self.device, self.inode, self.size] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        for (seconds, nanos) in [self.modified, self.changed] {
            out.extend_from_slice(&seconds.to_le_bytes());
            out.extend_from_slice(&nanos.to_le_bytes());
        }
    }

    fn read(reader: &mut Reader<'_>) -> Option<Self> {
        let present = match reader.take(1)? {
            [0] => false,
            [1] => true,
            _ => return None,
        };
        let mut n = || reader.u64();
        let (device, inode, size) = (n()?, n()?, n()?);
        let mut signed = || reader.u64().map(|v| v as i64);
        let modified = (signed()?, signed()?);
        let changed = (signed()?, signed()?);
        Some(Self {
            present,
            device,
            inode,
            size,
            modified,
            changed,
        })
    }
}

/// The identities of the files at `paths` below `world`, in order (`None` where one cannot be
/// read). Consecutive paths in one directory share it: it is opened once, and each file is
/// looked up in it by name, so a `stat` resolves one name instead of the whole path. Runs on
/// every core.
fn fingerprints(world: &Path, paths: Vec<&str>) -> Vec<Option<Fingerprint>> {
    const RUN: usize = 2048;
    let many = paths.len() >= strata_core::par::PARALLEL_THRESHOLD;
    let runs: Vec<&[&str]> = paths.chunks(RUN).collect();
    strata_core::par::map_if(
        runs,
        |_| many,
        |run| {
            let mut directory: Option<(&str, Option<Directory>)> = None;
            run.iter()
                .map(|path| {
                    let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
                    if directory.as_ref().is_none_or(|(at, _)| *at != parent) {
                        directory = Some((parent, Directory::open(&world.join(parent))?));
                    }
                    match directory.as_ref().and_then(|(_, d)| d.as_ref()) {
                        Some(d) => d.fingerprint(name),
                        // The directory does not exist: neither does the file.
                        None => Some(Fingerprint::default()),
                    }
                })
                .collect::<Vec<_>>()
        },
    )
    .into_iter()
    .flatten()
    .collect()
}

/// A directory opened to look files up in it (`None` from [`Directory::open`]: it does not
/// exist).
#[cfg(target_os = "linux")]
struct Directory(std::os::fd::OwnedFd);

#[cfg(target_os = "linux")]
impl Directory {
    /// `Some(None)` when the directory does not exist; `None` when it cannot be opened.
    fn open(path: &Path) -> Option<Option<Self>> {
        use rustix::fs::{Mode, OFlags};
        match rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => Some(Some(Self(fd))),
            Err(rustix::io::Errno::NOENT) => Some(None),
            Err(_) => None,
        }
    }

    // `stat`'s field types differ between targets (these casts are no-ops on 64-bit Linux).
    #[allow(clippy::unnecessary_cast)]
    fn fingerprint(&self, name: &str) -> Option<Fingerprint> {
        match rustix::fs::statat(&self.0, name, rustix::fs::AtFlags::empty()) {
            Ok(stat) => Some(Fingerprint {
                present: true,
                device: stat.st_dev as u64,
                inode: stat.st_ino as u64,
                size: stat.st_size as u64,
                modified: (stat.st_mtime as i64, stat.st_mtime_nsec as i64),
                changed: (stat.st_ctime as i64, stat.st_ctime_nsec as i64),
            }),
            Err(rustix::io::Errno::NOENT) => Some(Fingerprint::default()),
            Err(_) => None,
        }
    }
}

/// Elsewhere, each file is looked up by its whole path.
#[cfg(not(target_os = "linux"))]
struct Directory(PathBuf);

#[cfg(not(target_os = "linux"))]
impl Directory {
    fn open(path: &Path) -> Option<Option<Self>> {
        Some(Some(Self(path.to_path_buf())))
    }

    fn fingerprint(&self, name: &str) -> Option<Fingerprint> {
        Fingerprint::of(&self.0.join(name))
    }
}

/// One manifest of a stack file, as the snapshot keeps it.
#[derive(Debug, Clone)]
struct Document {
    /// Its index in the file.
    document: u64,
    /// [`strata_core::object::content_digest`] of the manifest.
    content: u128,
    /// The digest of its `apiVersion`, `kind` and `metadata`.
    meta: u128,
    /// Its change's index in the plan.
    change: u64,
    /// Its state record's bytes in the state file.
    record: Option<(u64, u64)>,
}

/// One manifest file of the stack.
#[derive(Debug, Clone)]
struct ManifestFile<'a> {
    path: std::borrow::Cow<'a, str>,
    digest: [u8; 32],
    documents: Vec<Document>,
}

/// A plan and what it was made of (see the module documentation).
#[derive(Debug, Clone)]
struct Snapshot<'a> {
    inputs: [u8; 32],
    state: Fingerprint,
    journal: Fingerprint,
    /// Each desired resource's live object, by path below the sandbox's world.
    objects: Vec<(std::borrow::Cow<'a, str>, Fingerprint)>,
    /// Every file of the stack's tree.
    files: Vec<std::borrow::Cow<'a, str>>,
    manifests: Vec<ManifestFile<'a>>,
    /// Each change, in plan order: its action and its human text (empty for a no-op).
    changes: Vec<(Action, std::borrow::Cow<'a, str>)>,
}

const ACTIONS: [Action; 6] = [
    Action::NoOp,
    Action::Create,
    Action::Update,
    Action::DeleteThenCreate,
    Action::CreateThenDelete,
    Action::Delete,
];

fn action_code(action: Action) -> u8 {
    ACTIONS
        .iter()
        .position(|a| *a == action)
        .and_then(|p| u8::try_from(p).ok())
        .unwrap_or(u8::MAX)
}

impl<'a> Snapshot<'a> {
    fn encode(&self, stack: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.objects.len() * 96 + self.changes.len() * 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        put_str(&mut out, &build_identity());
        put_str(&mut out, stack);
        out.extend_from_slice(&self.inputs);
        self.state.put(&mut out);
        self.journal.put(&mut out);
        put_varint(&mut out, self.objects.len() as u64);
        for (path, fingerprint) in &self.objects {
            put_str(&mut out, path);
            fingerprint.put(&mut out);
        }
        put_varint(&mut out, self.files.len() as u64);
        for file in &self.files {
            put_str(&mut out, file);
        }
        put_varint(&mut out, self.manifests.len() as u64);
        for file in &self.manifests {
            put_str(&mut out, &file.path);
            out.extend_from_slice(&file.digest);
            put_varint(&mut out, file.documents.len() as u64);
            for d in &file.documents {
                put_varint(&mut out, d.document);
                out.extend_from_slice(&d.content.to_le_bytes());
                out.extend_from_slice(&d.meta.to_le_bytes());
                put_varint(&mut out, d.change);
                match d.record {
                    Some((start, end)) => {
                        out.push(1);
                        put_varint(&mut out, start);
                        put_varint(&mut out, end);
                    }
                    None => out.push(0),
                }
            }
        }
        put_varint(&mut out, self.changes.len() as u64);
        for (action, text) in &self.changes {
            out.push(action_code(*action));
            put_str(&mut out, text);
        }
        let sum = checksum(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// The snapshot in `bytes`, when it is whole, of this build and of `stack`.
    fn decode(bytes: &'a [u8], stack: &str) -> Option<Self> {
        let body = bytes.len().checked_sub(8)?;
        let sum = u64::from_le_bytes(bytes[body..].try_into().ok()?);
        if checksum(&bytes[..body]) != sum {
            return None;
        }
        let mut r = Reader {
            bytes: &bytes[..body],
            at: 0,
        };
        if r.take(MAGIC.len())? != MAGIC.as_slice() || r.u32()? != FORMAT {
            return None;
        }
        let text = |r: &mut Reader<'a>| -> Option<&'a str> {
            let len = r.length()?;
            std::str::from_utf8(r.take(len)?).ok()
        };
        if text(&mut r)? != build_identity() || text(&mut r)? != stack {
            return None;
        }
        let inputs: [u8; 32] = r.take(32)?.try_into().ok()?;
        let state = Fingerprint::read(&mut r)?;
        let journal = Fingerprint::read(&mut r)?;
        let count = r.length()?;
        let mut objects = Vec::with_capacity(count);
        for _ in 0..count {
            let path = text(&mut r)?;
            objects.push((path.into(), Fingerprint::read(&mut r)?));
        }
        let count = r.length()?;
        let mut files = Vec::with_capacity(count);
        for _ in 0..count {
            files.push(text(&mut r)?.into());
        }
        let count = r.length()?;
        let mut manifests = Vec::with_capacity(count);
        for _ in 0..count {
            let path = text(&mut r)?.into();
            let digest: [u8; 32] = r.take(32)?.try_into().ok()?;
            let documents_count = r.length()?;
            let mut documents = Vec::with_capacity(documents_count);
            for _ in 0..documents_count {
                let document = r.varint()?;
                let content = u128::from_le_bytes(r.take(16)?.try_into().ok()?);
                let meta = u128::from_le_bytes(r.take(16)?.try_into().ok()?);
                let change = r.varint()?;
                let record = match r.take(1)? {
                    [0] => None,
                    [1] => Some((r.varint()?, r.varint()?)),
                    _ => return None,
                };
                documents.push(Document {
                    document,
                    content,
                    meta,
                    change,
                    record,
                });
            }
            manifests.push(ManifestFile {
                path,
                digest,
                documents,
            });
        }
        let count = r.length()?;
        let mut changes = Vec::with_capacity(count);
        for _ in 0..count {
            let action = *ACTIONS.get(usize::from(r.take(1)?[0]))?;
            changes.push((action, text(&mut r)?.into()));
        }
        (r.at == r.bytes.len()).then_some(Self {
            inputs,
            state,
            journal,
            objects,
            files,
            manifests,
            changes,
        })
    }
}

/// The digest of a manifest's `apiVersion`, `kind`, `metadata` and reference-like fields (with
/// their paths): all the dependency graph reads from it (see `Graph::same_inputs`), and what
/// the guards and the ownership checks read.
fn meta_digest(resource: &Resource) -> u128 {
    use siphasher::sip128::Hasher128 as _;
    use std::hash::Hasher as _;
    let mut hasher = siphasher::sip128::SipHasher13::new();
    for field in ["apiVersion", "kind", "metadata"] {
        let digest = strata_core::object::member(&resource.manifest, field)
            .map_or(0, strata_core::object::content_digest);
        hasher.write(&digest.to_le_bytes());
    }
    if Graph::has_reference_fields(resource) {
        for (path, value) in Graph::reference_like_fields(resource) {
            hasher.write(path.as_bytes());
            hasher.write_u8(0);
            hasher.write(&strata_core::object::content_digest(value).to_le_bytes());
        }
    }
    hasher.finish128().as_u128()
}

/// Whether the flags allow a snapshot at all (see the module documentation).
fn flags_allow(args: &PlanArgs) -> bool {
    let stack = &args.stack;
    !stack.no_cache
        && args.output == Output::Human
        && args.out.is_none()
        && !args.destroy
        && !args.select.refresh_only
        && args.select.targets.is_empty()
        && args.select.replace.is_empty()
        && stack.revision.is_none()
        && stack.root.is_none()
        && !stack.kube
        && stack.context.is_none()
        && stack.kubeconfig.is_none()
        && stack.namespace.is_none()
        && !stack.aws
        && stack.providers.is_empty()
        && stack.aws_endpoint.is_none()
        && stack.policies.is_empty()
        && stack.terraform_states.is_empty()
        && !stack.no_sandbox
        && stack.repos == crate::args::RepoArgs::default()
}

/// Whether the configuration allows a snapshot, and the local state file it names.
fn config_allows(args: &PlanArgs, config: &StackConfig) -> Option<PathBuf> {
    let allowed = config.providers.aws.is_none()
        && config.providers.kubernetes.is_none()
        && config.policies.is_empty()
        && config.terraform_states.is_empty()
        && config.sandbox.enabled != Some(false);
    if !allowed {
        return None;
    }
    match crate::stack::backend_of(&args.stack.dir, Some(config), args.stack.state.as_deref())
        .ok()?
    {
        Backend::Local { path } => Some(path),
        _ => None,
    }
}

/// What a run's plan depends on besides the stack's files, the state and the live objects:
/// its flags, whether it colours, and the configuration as read (the very values the run
/// used, not the file read again).
fn inputs_digest(
    args: &PlanArgs,
    config: &StackConfig,
    config_file: Option<&Path>,
    colour: bool,
) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(format!("{args:?}").as_bytes());
    hasher.update([u8::from(colour)]);
    hasher.update(format!("{config_file:?}").as_bytes());
    hasher.update(format!("{config:?}").as_bytes());
    hasher.finalize().into()
}

fn snapshot_path(dir: &Path) -> PathBuf {
    dir.join(".strata")
        .join(crate::cache::CACHE_DIR)
        .join(FILE_NAME)
}

fn canonical(dir: &Path) -> String {
    std::fs::canonicalize(dir)
        .unwrap_or_else(|_| dir.to_path_buf())
        .display()
        .to_string()
}

fn journal_of(state: &Path) -> PathBuf {
    strata_core::state::LocalStateStore::new(state.to_path_buf()).journal_path()
}

/// A kind the snapshot does not follow: it changes how other manifests expand or validate.
fn expands_others(key: &ResourceKey) -> bool {
    matches!(
        (key.group.as_str(), key.kind.as_str()),
        ("apiextensions.k8s.io", _)
            | ("apiextensions.crossplane.io", _)
            | ("pkg.crossplane.io", _)
            | ("argoproj.io", _)
            | ("kustomize.config.k8s.io", _)
    )
}

/// A plain manifest the snapshot can follow: not one that changes how others expand, no
/// sensitive field, no hook, no reference whose target's value planning writes into it
/// (other references are edges of the graph, which metadata digests follow).
fn followable(resource: &Resource) -> bool {
    !expands_others(&resource.key)
        && !strata_core::sync::is_hook(&resource.manifest)
        && !Graph::may_take_reference_values(resource)
        && !strata_core::sensitive::Sensitivity::default()
            .touches(&resource.key, &resource.manifest)
}

/// The files of the stack's tree and which of them are manifests the loader reads; `None`
/// when the tree holds what the snapshot does not follow (kustomizations, charts).
fn tree_files(tree: &dyn SourceTree) -> Option<(Vec<String>, Vec<String>)> {
    let files = tree.files_under("").ok()?;
    let mut manifests = Vec::new();
    for file in &files {
        let name = file.rsplit('/').next().unwrap_or(file);
        if strata_sources::kustomize::KUSTOMIZATION_FILES.contains(&name) || name == "Chart.yaml" {
            return None;
        }
        if strata_core::source::is_manifest_file(file)
            && name != strata_core::config::STACK_CONFIG_FILE
        {
            manifests.push(file.clone());
        }
    }
    Some((files, manifests))
}

fn file_digest(tree: &dyn SourceTree, file: &str) -> Option<(PathBuf, Arc<String>, [u8; 32])> {
    let display = tree.location(file, 0, 1).file;
    let text = tree.read_text_shared(file).ok()?;
    let digest = ContentDigest::of(&display, &text).0;
    Some((display, text, digest))
}

/// Reads the state record of `key` between `start` and `end` of the state `file`.
fn read_record(
    file: &mut std::fs::File,
    (start, end): (u64, u64),
    key: &ResourceKey,
) -> Option<ResourceState> {
    use std::io::Seek as _;
    let len = usize::try_from(end.checked_sub(start)?).ok()?;
    file.seek(std::io::SeekFrom::Start(start)).ok()?;
    let mut bytes = vec![0; len];
    file.read_exact(&mut bytes).ok()?;
    let record: ResourceState = serde_json::from_slice(&bytes).ok()?;
    (record.key == *key).then_some(record)
}

/// `strata plan` from the snapshot, when it vouches for everything but some edited manifests:
/// `Ok(None)` when a full plan is needed (nothing has been printed then).
pub async fn plan_from_snapshot(args: &PlanArgs) -> anyhow::Result<Option<ExitCode>> {
    if !flags_allow(args) {
        return Ok(None);
    }
    let dir = &args.stack.dir;
    let path = snapshot_path(dir);
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(None);
    };
    let stack_dir = canonical(dir);
    let Some(snapshot) = Snapshot::decode(&bytes, &stack_dir) else {
        tracing::debug!(path = %path.display(), "not using the plan snapshot: damaged or of another build or stack");
        return Ok(None);
    };
    reuse(args, &snapshot, &stack_dir).await
}

/// A manifest whose content changed since the snapshot.
struct EditedManifest {
    resource: Resource,
    /// Its change's index in the plan.
    change: usize,
    /// Its state record's bytes in the state file.
    record: Option<(u64, u64)>,
    /// Its file's index among the snapshot's manifest files, and its index in the file.
    at: (usize, usize),
}

async fn reuse(
    args: &PlanArgs,
    snapshot: &Snapshot<'_>,
    stack_dir: &str,
) -> anyhow::Result<Option<ExitCode>> {
    let dir = &args.stack.dir;
    if crate::paths::stack_dir(dir).is_err() {
        return Ok(None);
    }
    let Ok(loaded) = crate::stack::config_of(dir, args.stack.config.as_deref()) else {
        return Ok(None);
    };
    let config = loaded
        .as_ref()
        .map(|l| l.config.clone())
        .unwrap_or_default();
    let config_file = loaded.as_ref().map(|l| l.file.clone());
    let Some(state_path) = config_allows(args, &config) else {
        return Ok(None);
    };
    let colour = crate::style::stdout();
    if inputs_digest(args, &config, config_file.as_deref(), colour) != snapshot.inputs {
        tracing::debug!("not using the plan snapshot: other flags or configuration");
        return Ok(None);
    }
    // The stack's files: the same ones, each edited or not.
    let Ok(tree) = strata_sources::stack::open_tree(dir, None) else {
        return Ok(None);
    };
    let Some((files, manifests)) = tree_files(tree.as_ref()) else {
        return Ok(None);
    };
    if files.len() != snapshot.files.len()
        || files.iter().zip(&snapshot.files).any(|(a, b)| a != b)
        || manifests.len() != snapshot.manifests.len()
    {
        tracing::debug!("not using the plan snapshot: files added or removed");
        return Ok(None);
    }
    let digests = {
        let tree = tree.as_ref();
        strata_core::par::map_if(
            manifests.clone(),
            |files| files.len() > 1,
            |file| file_digest(tree, &file),
        )
    };
    let mut edited = Vec::new();
    let mut new_digests = Vec::new();
    for (file_index, ((file, found), old)) in manifests
        .iter()
        .zip(digests)
        .zip(&snapshot.manifests)
        .enumerate()
    {
        let Some((display, text, digest)) = found else {
            return Ok(None);
        };
        if *file != old.path {
            return Ok(None);
        }
        if digest == old.digest {
            continue;
        }
        new_digests.push((file.clone(), digest));
        let Ok(mut resources) = strata_core::loader::parse_documents_with(&display, &text, None)
        else {
            return Ok(None);
        };
        let reshaped = || {
            tracing::debug!(
                file = %file,
                "not using the plan snapshot: a manifest was added, removed or changed in its metadata or references"
            );
            Ok(None)
        };
        if resources.len() != old.documents.len() {
            return reshaped();
        }
        for (resource, before) in resources.iter_mut().zip(&old.documents) {
            let Some(source) = &resource.source else {
                return Ok(None);
            };
            // Equal metadata digests name the same key (kind, namespace and name are in them).
            if source.document as u64 != before.document
                || meta_digest(resource) != before.meta
                || !followable(resource)
            {
                return reshaped();
            }
            resource.source = Some(tree.location(file, source.document, source.line));
        }
        for (index, (resource, before)) in resources.into_iter().zip(&old.documents).enumerate() {
            if strata_core::object::content_digest(&resource.manifest) == before.content {
                continue;
            }
            let change = usize::try_from(before.change).unwrap_or(usize::MAX);
            edited.push(EditedManifest {
                resource,
                change,
                record: before.record,
                at: (file_index, index),
            });
        }
    }

    // The engine, as a full plan builds it for this stack.
    let shown_config = config_file.as_ref().map(|f| f.display().to_string());
    let Ok(name) = crate::stack::stack_name(&args.stack, &config, shown_config.as_deref()) else {
        return Ok(None);
    };
    let Ok((registry, _, _)) = crate::stack::providers(
        &args.stack,
        &config,
        shown_config.as_deref(),
        &[],
        &[],
        crate::stack::Observing::Few,
    )
    .await
    else {
        return Ok(None);
    };
    let store = Arc::new(strata_core::state::LocalStateStore::new(state_path.clone()));
    let backend = Backend::Local {
        path: state_path.clone(),
    };
    if crate::backend_record::check(dir, &backend, store.as_ref())
        .await
        .is_err()
    {
        return Ok(None);
    }
    let Ok(rules) = strata_drift::DriftRules::from_ignore_differences(Vec::new()) else {
        return Ok(None);
    };
    let engine = strata_core::Engine {
        registry,
        normalizer: Arc::new(strata_drift::DriftNormalizer::new(rules)),
        store,
        config: Default::default(),
    };
    // The lock is taken without waiting: a run that would wait (or fail) for it plans in full,
    // which waits and reports as it always does.
    let held = if args.lock.lock {
        match engine.lock("plan", std::time::Duration::ZERO, |_| {}).await {
            Ok(held) => Some(held),
            Err(_) => return Ok(None),
        }
    } else {
        None
    };
    let world = crate::stack::sandbox_world(&args.stack, &config);
    // Opened as a plan's first observation opens it (its lock, clean-up and migration, and
    // their errors), before the objects' identities are compared.
    let opened = strata_core::SandboxProvider::new(world.clone()).open();
    let planned = match opened {
        Ok(()) => {
            plan_edited(
                args,
                snapshot,
                &engine,
                &state_path,
                &world,
                &name,
                edited,
                colour,
            )
            .await
        }
        Err(_) => None,
    };
    if let Some(held) = held {
        engine.unlock(held).await?;
    }
    let Some(planned) = planned else {
        return Ok(None);
    };

    // Printed as a full plan prints it.
    let mut summary = Summary::default();
    let mut any = false;
    for (action, _) in &planned.changes {
        summary.count(*action);
        any |= *action != Action::NoOp;
    }
    {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        let written = stdout
            .write_all(plan::human_header(any).as_bytes())
            .and_then(|()| {
                for (_, text) in &planned.changes {
                    stdout.write_all(text.as_bytes())?;
                }
                stdout.write_all(plan::human_footer(&[], summary, colour).as_bytes())?;
                stdout.flush()
            });
        match written {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
            Err(e) => return Err(anyhow::Error::new(e).context("writing the plan")),
        }
    }
    tracing::debug!(
        edited = planned.edited,
        changes = planned.changes.len(),
        "planned from the plan snapshot"
    );
    // Kept up to date once the edits it no longer knows cost more to plan again on each run
    // than rewriting it costs (the snapshot of a large stack is megabytes; a few edited
    // manifests, or a file whose comments changed, are re-read in milliseconds).
    let replanned = planned.edited * 64 >= planned.changes.len()
        || new_digests.len() * 16 >= snapshot.manifests.len();
    if (planned.edited > 0 || !new_digests.is_empty()) && replanned {
        let mut updated = snapshot.clone();
        updated.changes = planned.changes;
        for (file, digest) in new_digests {
            if let Some(m) = updated.manifests.iter_mut().find(|m| m.path == file) {
                m.digest = digest;
            }
        }
        for ((file, document), content) in planned.contents {
            if let Some(d) = updated
                .manifests
                .get_mut(file)
                .and_then(|m| m.documents.get_mut(document))
            {
                d.content = content;
            }
        }
        let _ = write_atomically(&snapshot_path(dir), &updated.encode(stack_dir));
    }
    Ok(Some(if args.detailed_exitcode && any { 2 } else { 0 }))
}

/// The snapshot's changes with the edited manifests planned again.
struct Planned<'a> {
    changes: Vec<(Action, std::borrow::Cow<'a, str>)>,
    /// The new content digest of each edited manifest, by file and document.
    contents: Vec<((usize, usize), u128)>,
    edited: usize,
}

/// Plans the edited manifests under the held lock, once the state and every live object are
/// found unchanged; `None` when something else changed or an edited manifest needs more than
/// its own plan (a replacement, a guard, a problem a full plan reports).
#[allow(clippy::too_many_arguments)] // one call site, each argument a different input
async fn plan_edited<'a>(
    args: &PlanArgs,
    snapshot: &Snapshot<'a>,
    engine: &strata_core::Engine,
    state_path: &Path,
    world: &Path,
    stack: &str,
    edited: Vec<EditedManifest>,
    colour: bool,
) -> Option<Planned<'a>> {
    // Opened first, so the records are read from the file whose identity is checked.
    let state_file = std::fs::File::open(state_path).ok();
    let state = state_file
        .as_ref()
        .and_then(|f| f.metadata().ok())
        .map(|m| Fingerprint::from_metadata(&m));
    if state != Some(snapshot.state)
        || Fingerprint::of(&journal_of(state_path))? != snapshot.journal
    {
        tracing::debug!("not using the plan snapshot: the state was written");
        return None;
    }
    let mut state_file = state_file?;
    let found = fingerprints(
        world,
        snapshot.objects.iter().map(|(p, _)| p.as_ref()).collect(),
    );
    if found
        .iter()
        .zip(&snapshot.objects)
        .any(|(now, (_, then))| *now != Some(*then))
    {
        tracing::debug!("not using the plan snapshot: live objects were written");
        return None;
    }
    let mut changes = snapshot.changes.clone();
    let mut contents = Vec::new();
    let count = edited.len();
    if count > 0 {
        let resources: Vec<Resource> = edited.iter().map(|e| e.resource.clone()).collect();
        let validator = strata_core::validate::Validator::for_registry(&engine.registry);
        if !validator.check(&resources).is_empty()
            || !strata_core::names::check_names(&resources).is_empty()
        {
            return None;
        }
        let options = PlanOptions::new(stack.to_owned())
            .with_adopt(args.adopt)
            .with_foreign_claims(Default::default());
        for EditedManifest {
            resource,
            change,
            record,
            at,
        } in edited
        {
            let record = match record {
                Some(range) => Some(read_record(&mut state_file, range, &resource.key)?),
                None => None,
            };
            let provider = engine.registry.route(&resource).ok()?;
            let observation = provider.observe(&resource).await.ok()?;
            let content = strata_core::object::content_digest(&resource.manifest);
            let (planned, violations) = plan::plan_alone(
                resource,
                record.as_ref(),
                Some(&observation),
                &engine.registry,
                engine.normalizer.as_ref(),
                &options,
            );
            let planned = planned?;
            if !violations.is_empty() || planned.action.destroys() {
                return None;
            }
            let slot = changes.get_mut(change)?;
            *slot = (planned.action, plan::human_change(&planned, colour).into());
            contents.push((at, content));
        }
    }
    Some(Planned {
        changes,
        contents,
        edited: count,
    })
}

/// The stack's files, listed before the stack is loaded: a file added or removed while the
/// plan runs then leaves the snapshot unkept. Their digests are those of the very text the
/// load parsed ([`crate::cache::ParsedCache::parsed_digests`]).
pub struct StackFiles {
    files: Vec<String>,
    /// Each manifest file, with the path its resources' locations name.
    manifests: Vec<(String, PathBuf)>,
}

impl StackFiles {
    /// The stack's files, when the flags allow a snapshot.
    pub fn read(args: &PlanArgs) -> Option<Self> {
        if !flags_allow(args) {
            return None;
        }
        let loaded = crate::stack::config_of(&args.stack.dir, args.stack.config.as_deref()).ok()?;
        let config = loaded.map(|l| l.config).unwrap_or_default();
        // A stack never applied keeps no snapshot.
        if !config_allows(args, &config)?.is_file() {
            return None;
        }
        let tree = strata_sources::stack::open_tree(&args.stack.dir, None).ok()?;
        let (files, manifest_files) = tree_files(tree.as_ref())?;
        let manifests = manifest_files
            .into_iter()
            .map(|file| {
                let display = tree.location(&file, 0, 1).file;
                (file, display)
            })
            .collect();
        Some(Self { files, manifests })
    }
}

/// What a full `strata plan` notes before planning, to keep a snapshot after it.
pub struct Recorder {
    stack_dir: String,
    /// Each desired resource's key, file and document index, in the desired set's order.
    desired: Vec<(ResourceKey, PathBuf, usize)>,
    path: PathBuf,
    inputs: [u8; 32],
    colour: bool,
    state: Fingerprint,
    journal: Fingerprint,
    state_path: PathBuf,
    files: Vec<String>,
    /// Each manifest file, the path its resources' locations name, and the digest of the
    /// text the load parsed.
    manifests: Vec<(String, PathBuf, [u8; 32])>,
    objects: Vec<(String, Fingerprint)>,
    /// Per desired resource, in the desired set's order: its content and metadata digests.
    digests: Vec<(u128, u128)>,
    /// The state file's records by address, read on another thread.
    records: std::thread::JoinHandle<Option<FxHashMap<ResourceKey, (u64, u64)>>>,
}

impl Recorder {
    /// Notes, before planning, what a snapshot of this run's plan would be made of; `None`
    /// when this run cannot keep one (see the module documentation). Runs on every core.
    pub fn before(
        args: &PlanArgs,
        stack: &crate::stack::Stack,
        files: Option<StackFiles>,
    ) -> Option<Self> {
        let started = std::time::Instant::now();
        if !flags_allow(args) || stack.policies.is_some() || !stack.application_of.is_empty() {
            return None;
        }
        let dir = &args.stack.dir;
        // The configuration the load used, not the file read again.
        let config = &stack.config;
        let config_file = stack.config_file.as_deref();
        let state_path = config_allows(args, config)?;
        // A stack never applied keeps no snapshot (and gets no probe).
        if !state_path.is_file() {
            return None;
        }
        let cache_dir = dir.join(".strata").join(crate::cache::CACHE_DIR);
        std::fs::create_dir_all(&cache_dir).ok()?;
        // Created anew, so its times are now in the clock file times are taken from.
        let probe = cache_dir.join(PROBE_NAME);
        let _ = std::fs::remove_file(&probe);
        std::fs::write(&probe, b"probe").ok()?;
        let probe = Fingerprint::of(&probe)?;
        let now = probe.modified.max(probe.changed);
        // The probe stands for "now" on its own file system only (clocks and timestamp
        // resolutions differ between them): what it vouches for must live there too.
        let same_clock = |f: &Fingerprint| !f.present || f.device == probe.device;
        let state = Fingerprint::of(&state_path)?;
        let journal = Fingerprint::of(&journal_of(&state_path))?;
        if !state.present || journal.present || !state.older_than(now) || !same_clock(&state) {
            return None;
        }
        let StackFiles { files, manifests } = files?;
        let parsed = stack.parsed.as_ref()?.parsed_digests();
        let manifests = manifests
            .into_iter()
            .map(|(file, display)| {
                let digest = parsed.get(&display)?.0;
                Some((file, display, digest))
            })
            .collect::<Option<Vec<_>>>()?;
        let world = crate::stack::sandbox_world(&args.stack, config);
        let sandbox = strata_core::SandboxProvider::new(world.clone());
        let desired = stack
            .resources
            .iter()
            .map(|r| {
                let source = r.source.as_ref()?;
                Some((r.key.clone(), source.file.clone(), source.document))
            })
            .collect::<Option<Vec<_>>>()?;
        let keyed: Vec<&Resource> = stack.resources.iter().collect();
        let noted = strata_core::par::map(keyed, |r| {
            if !followable(r) {
                return None;
            }
            let path = sandbox.object_path(&r.key);
            let relative = path.strip_prefix(&world).ok()?.to_str()?.to_owned();
            Some((
                relative,
                (
                    strata_core::object::content_digest(&r.manifest),
                    meta_digest(r),
                ),
            ))
        })
        .into_iter()
        .collect::<Option<Vec<_>>>()?;
        let found = fingerprints(&world, noted.iter().map(|(p, _)| p.as_str()).collect());
        let mut objects = Vec::with_capacity(noted.len());
        let mut digests = Vec::with_capacity(noted.len());
        for ((path, digest), fingerprint) in noted.into_iter().zip(found) {
            let fingerprint = fingerprint?;
            if !fingerprint.older_than(now) || !same_clock(&fingerprint) {
                return None;
            }
            objects.push((path, fingerprint));
            digests.push(digest);
        }
        let colour = crate::style::stdout();
        let inputs = inputs_digest(args, config, config_file, colour);
        let records = {
            let state_path = state_path.clone();
            std::thread::spawn(move || {
                let started = std::time::Instant::now();
                let ranges = record_ranges(&state_path, state);
                tracing::debug!(took = ?started.elapsed(), "found the state's record ranges");
                ranges
            })
        };
        tracing::debug!(took = ?started.elapsed(), "noted what the plan is made of");
        Some(Self {
            stack_dir: canonical(dir),
            desired,
            path: snapshot_path(dir),
            inputs,
            colour,
            state,
            journal,
            state_path,
            files,
            manifests,
            objects,
            digests,
            records,
        })
    }

    /// Keeps the snapshot of `plan` (made from the desired set noted, against `state`), when it
    /// can vouch for it; otherwise removes any older one.
    pub fn save(self, plan: &Plan, state: &State) {
        let path = self.path.clone();
        if self.try_save(plan, state).is_none() {
            let _ = std::fs::remove_file(&path);
        }
    }

    fn try_save(self, plan: &Plan, state: &State) -> Option<()> {
        let started = std::time::Instant::now();
        let desired = &self.desired;
        let ranges = self.records.join().ok()??;
        tracing::debug!(waited = ?started.elapsed(), "read the state's record ranges");
        // As many records found as the state holds: a key written twice in the file's map
        // (a hand-resolved merge, say) keeps only its last record in the state, while the
        // ranges would keep both.
        if state.resources.is_empty()
            || ranges.len() != state.resources.len()
            || !plan.violations.is_empty()
            || desired.len() != self.digests.len()
            || plan
                .changes
                .iter()
                .any(|c| c.action == Action::Delete || c.provider != "sandbox")
            || plan.changes.len() != desired.len()
        {
            return None;
        }
        // The state is still the one fingerprinted before the plan read it.
        if Fingerprint::of(&self.state_path)? != self.state {
            return None;
        }
        let change_of: FxHashMap<&ResourceKey, usize> = plan
            .changes
            .iter()
            .enumerate()
            .map(|(i, c)| (&c.key, i))
            .collect();
        // The load read the files in the order they are listed: each file's resources are
        // the next run of the desired set.
        let mut manifests = Vec::with_capacity(self.manifests.len());
        let mut at = 0;
        for (file, display, digest) in &self.manifests {
            let start = at;
            while desired.get(at).is_some_and(|(_, from, _)| from == display) {
                at += 1;
            }
            let mut documents = Vec::with_capacity(at - start);
            for ((key, _, document), &(content, meta)) in
                desired[start..at].iter().zip(&self.digests[start..at])
            {
                documents.push(Document {
                    document: *document as u64,
                    content,
                    meta,
                    change: *change_of.get(key)? as u64,
                    record: ranges.get(key).copied(),
                });
            }
            manifests.push(ManifestFile {
                path: file.clone().into(),
                digest: *digest,
                documents,
            });
        }
        if at != desired.len() {
            return None;
        }
        let changes = plan
            .changes
            .iter()
            .map(|c| (c.action, plan::human_change(c, self.colour).into()))
            .collect();
        let snapshot = Snapshot {
            inputs: self.inputs,
            state: self.state,
            journal: self.journal,
            objects: self
                .objects
                .into_iter()
                .map(|(p, f)| (p.into(), f))
                .collect(),
            files: self.files.into_iter().map(Into::into).collect(),
            manifests,
            changes,
        };
        write_atomically(&self.path, &snapshot.encode(&self.stack_dir)).ok()?;
        tracing::debug!(took = ?started.elapsed(), "kept the plan snapshot");
        Some(())
    }
}

/// The byte range of each record in the state file at `path`, by the key the record names
/// (as planning finds records: by their own key, not the map's), when the file is still the
/// one `fingerprint` names, every record starts with its key (as Strata writes them), and no
/// two records name one key.
fn record_ranges(
    path: &Path,
    fingerprint: Fingerprint,
) -> Option<FxHashMap<ResourceKey, (u64, u64)>> {
    let bytes = std::fs::read(path).ok()?;
    if Fingerprint::of(path)? != fingerprint || bytes.len() as u64 != fingerprint.size {
        return None;
    }
    // The state load accepted this very file (same identity): its records are found without
    // parsing it again.
    let values = crate::json_scan::member_values(&bytes, "resources")?;
    let mut ranges = FxHashMap::with_capacity_and_hasher(values.len(), Default::default());
    for range in values {
        let key = leading_key(std::str::from_utf8(&bytes[range.clone()]).ok()?)?;
        if ranges
            .insert(key, (range.start as u64, range.end as u64))
            .is_some()
        {
            return None;
        }
    }
    Some(ranges)
}

/// The key a record names, read from its start without reading the rest of it.
fn leading_key(record: &str) -> Option<ResourceKey> {
    use serde::Deserialize as _;
    let rest = record
        .trim_start()
        .strip_prefix('{')?
        .trim_start()
        .strip_prefix("\"key\"")?
        .trim_start()
        .strip_prefix(':')?;
    let mut reader = serde_json::Deserializer::from_str(rest);
    ResourceKey::deserialize(&mut reader).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::Value;

    fn sample() -> Snapshot<'static> {
        let fingerprint = |n: u64| Fingerprint {
            present: n.is_multiple_of(2),
            device: n,
            inode: n + 1,
            size: n + 2,
            modified: (-(n as i64), 999_999_999),
            changed: (n as i64, 0),
        };
        Snapshot {
            inputs: [7; 32],
            state: fingerprint(2),
            journal: Fingerprint::default(),
            objects: vec![
                ("core/ConfigMap/team/a.json".into(), fingerprint(4)),
                ("b".into(), fingerprint(5)),
            ],
            files: vec!["a.yaml".into(), "README.md".into()],
            manifests: vec![ManifestFile {
                path: "a.yaml".into(),
                digest: [3; 32],
                documents: vec![
                    Document {
                        document: 0,
                        content: u128::MAX,
                        meta: 1,
                        change: 1,
                        record: Some((10, 300)),
                    },
                    Document {
                        document: 2,
                        content: 0,
                        meta: 2,
                        change: 0,
                        record: None,
                    },
                ],
            }],
            changes: vec![
                (Action::NoOp, "".into()),
                (
                    Action::Update,
                    "\n  # ConfigMap/team/a (sandbox) will be updated\n".into(),
                ),
            ],
        }
    }

    #[test]
    fn a_snapshot_reads_back_as_written() {
        let bytes = sample().encode("/stack");
        let back = Snapshot::decode(&bytes, "/stack").unwrap();
        assert_eq!(back.encode("/stack"), bytes);
        assert_eq!(back.objects[1].1, sample().objects[1].1);
        assert_eq!(back.manifests[0].documents[0].record, Some((10, 300)));
        assert_eq!(back.changes[1].0, Action::Update);
    }

    #[test]
    fn a_truncated_damaged_or_foreign_snapshot_is_refused() {
        let bytes = sample().encode("/stack");
        assert!(Snapshot::decode(&bytes, "/other").is_none());
        for end in 0..bytes.len() {
            assert!(
                Snapshot::decode(&bytes[..end], "/stack").is_none(),
                "truncated at {end}"
            );
        }
        for i in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x10;
            assert!(Snapshot::decode(&flipped, "/stack").is_none(), "byte {i}");
        }
    }

    #[test]
    fn only_files_changed_before_the_probe_are_trusted() {
        let at = |modified: (i64, i64), changed: (i64, i64)| Fingerprint {
            present: true,
            modified,
            changed,
            ..Fingerprint::default()
        };
        let probe = (100, 500);
        assert!(at((100, 499), (99, 0)).older_than(probe));
        // Changed in the probe's own tick: a later write could keep the same times.
        assert!(!at((100, 500), (99, 0)).older_than(probe));
        assert!(!at((99, 0), (100, 500)).older_than(probe));
        assert!(!at((101, 0), (101, 0)).older_than(probe));
        // An absent file is trusted: creating it changes its identity.
        assert!(Fingerprint::default().older_than(probe));
    }

    #[test]
    fn identities_change_with_every_write() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("core/ConfigMap/team/a.json");
        let relative = "core/ConfigMap/team/a.json";
        let absent = fingerprints(dir.path(), vec![relative]);
        assert_eq!(absent, vec![Some(Fingerprint::default())]);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "{}").unwrap();
        let first = fingerprints(dir.path(), vec![relative])[0].unwrap();
        assert!(first.present);
        assert_eq!(
            Fingerprint::of(&file),
            Some(first),
            "both ways of looking agree"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        // Rewritten in place at the same length.
        std::fs::write(&file, "[]").unwrap();
        let second = fingerprints(dir.path(), vec![relative])[0].unwrap();
        assert_ne!(first, second);
    }

    fn record(name: &str) -> ResourceState {
        let manifest = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "team"}, "data": {"k": "v"}});
        let key = Resource::from_manifest(manifest.clone()).unwrap().key;
        ResourceState {
            key,
            api_version: "v1".into(),
            provider: "sandbox".into(),
            status: strata_core::state::ResourceStatus::Applied,
            last_applied: manifest.into(),
            dependencies: vec![],
            outputs: Value::Null,
            protect: false,
        }
    }

    #[test]
    fn records_are_found_by_the_key_they_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut state = State::new();
        state.put(record("a"));
        state.put(record("b"));
        // Filed under another address: planning finds it by the key it names.
        let moved = state.resources.remove("ConfigMap/team/b").unwrap();
        state.resources.insert("somewhere-else".into(), moved);
        std::fs::write(&path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
        let ranges = record_ranges(&path, Fingerprint::of(&path).unwrap()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        for name in ["a", "b"] {
            let wanted = record(name);
            let (start, end) = ranges[&wanted.key];
            let read: ResourceState =
                serde_json::from_slice(&bytes[start as usize..end as usize]).unwrap();
            assert_eq!(read.key, wanted.key);
        }
        // Another file than the one fingerprinted: nothing.
        let stale = Fingerprint {
            size: 1,
            ..Fingerprint::of(&path).unwrap()
        };
        assert!(record_ranges(&path, stale).is_none());
        // Two records naming one key: nothing (which one planning takes is not ours to guess).
        let twice = record("a");
        state.resources.insert("again".into(), twice);
        std::fs::write(&path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
        assert!(record_ranges(&path, Fingerprint::of(&path).unwrap()).is_none());
        // A map key written twice: the state keeps one record, the ranges hold both, and the
        // snapshot is then refused (`try_save` compares the counts).
        let a = serde_json::to_string_pretty(&record("a")).unwrap();
        let b = serde_json::to_string_pretty(&record("b")).unwrap();
        let text = format!(
            r#"{{"version": 1, "serial": 1, "lineage": "l", "resources": {{"x": {a}, "x": {b}}}}}"#
        );
        std::fs::write(&path, &text).unwrap();
        let loaded: State = serde_json::from_str(&text).unwrap();
        let ranges = record_ranges(&path, Fingerprint::of(&path).unwrap()).unwrap();
        assert_eq!((loaded.resources.len(), ranges.len()), (1, 2));
        // A record that does not start with its key (not written by Strata): nothing.
        assert!(leading_key(r#"{"provider": "sandbox", "key": {}}"#).is_none());
    }
}
