//! Saved plans: the contract between the plan a pull request reviewed and the apply that runs
//! on merge (`strata plan --out FILE`, then `strata apply FILE`).
//!
//! A [`SavedPlan`] holds the plan as shown (sensitive values already redacted), the version of
//! the state it was computed against (lineage and serial), the source revision, a digest of
//! the whole desired set, a fingerprint of every planned change, and the caller's settings
//! (backend, providers, options) so the apply needs no flags. It holds no desired manifest and
//! no secret: the apply reads the desired set again from the source at the recorded revision
//! and plans again, and [`SavedPlan::verify`] refuses — before any provider write — when
//! anything the reviewer saw no longer holds: another stack, another state version, another
//! desired set (a manifest or a secret changed), or a planned change the world has made
//! different. Only an identical plan is applied.
//!
//! ```
//! use strata_core::plan::Plan;
//! use strata_core::plan::saved::{SavedPlan, SourceVersion, desired_digest};
//! use strata_core::State;
//!
//! let plan = Plan { stack: "demo".into(), ..Plan::default() };
//! let state = State::new();
//! let digest = desired_digest(&[]);
//! let saved = SavedPlan::new(&plan, &state, digest.clone(), SourceVersion::default(), serde_json::json!({}));
//! let bytes = saved.to_bytes().unwrap();
//! let read = SavedPlan::from_slice(std::path::Path::new("plan.json"), &bytes).unwrap();
//! assert!(read.verify("demo", &state, &digest, &plan).is_ok());
//! assert!(read.verify("other", &state, &digest, &plan).is_err());
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Action, FieldChange, Plan, ResourceChange};
use crate::model::Resource;
use crate::state::State;

/// The format version this build writes and reads.
pub const SAVED_PLAN_FORMAT: u32 = 1;

/// The marker every saved plan carries, so any other JSON file is told apart.
const KIND: &str = "StrataSavedPlan";

/// A plan saved for a later apply.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SavedPlan {
    /// Always `StrataSavedPlan`.
    pub kind: String,
    /// [`SAVED_PLAN_FORMAT`] when written.
    pub format_version: u32,
    /// The version of Strata that wrote it.
    pub strata_version: String,
    /// When it was written (RFC 3339, UTC).
    pub created_at: String,
    /// The stack planned.
    pub stack: String,
    /// The state version planned against.
    pub state: StateVersion,
    /// Where the desired set was read.
    pub source: SourceVersion,
    /// Digest of the whole desired set, secrets included ([`desired_digest`]).
    pub desired_digest: String,
    /// The caller's settings (backend, providers, plan options), as it chose to record them.
    pub settings: Value,
    /// Each planned change's fingerprint ([`fingerprint`]), by address.
    pub fingerprints: BTreeMap<String, String>,
    /// Each planned resource's objects before and after, redacted, for showing the plan
    /// again.
    #[serde(default)]
    pub objects: BTreeMap<String, ShownObjects>,
    /// The plan as shown: sensitive values redacted, no manifests.
    pub plan: Plan,
}

/// A resource's objects as the plan shows them: sensitive values redacted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ShownObjects {
    /// The object before the change (`None` for a create).
    pub before: Option<Value>,
    /// The object after the change (`None` for a delete).
    pub after: Option<Value>,
}

/// Which state a plan was computed against.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StateVersion {
    /// The state's lineage; `None` when no state was stored yet.
    pub lineage: Option<String>,
    /// The state's serial (0 when none was stored).
    pub serial: u64,
}

impl StateVersion {
    /// The version of `state` (none for a state never saved).
    pub fn of(state: &State) -> Self {
        if state.serial == 0 {
            Self::default()
        } else {
            Self {
                lineage: Some(state.lineage.clone()),
                serial: state.serial,
            }
        }
    }
}

impl fmt::Display for StateVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.lineage {
            Some(lineage) => write!(f, "lineage {lineage} serial {}", self.serial),
            None => f.write_str("no state"),
        }
    }
}

/// Where a plan's desired set was read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SourceVersion {
    /// The commit the desired set was read at, when it was read from a revision (the apply
    /// reads it there again), or the work tree's `HEAD` for information.
    pub commit: Option<String>,
    /// Whether the desired set was read from `commit` itself rather than the work tree.
    pub pinned: bool,
}

/// Why a saved plan could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SavedPlanError {
    /// The file could not be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a saved plan (or is damaged).
    #[error("{}: not a Strata saved plan: {source}", .path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The file is a saved plan of a format this build does not read.
    #[error(
        "{}: saved plan format {found} (written by Strata {writer}); this build reads format {SAVED_PLAN_FORMAT}",
        .path.display()
    )]
    Format {
        /// The file.
        path: PathBuf,
        /// The format found.
        found: u32,
        /// The version that wrote it.
        writer: String,
    },
    /// Serialising the plan failed.
    #[error("writing the saved plan: {0}")]
    Serialize(#[source] serde_json::Error),
}

/// One reason a saved plan may not be applied any more.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Staleness {
    /// The plan is for another stack.
    Stack {
        /// The stack planned.
        planned: String,
        /// The stack being applied.
        now: String,
    },
    /// The state changed (another apply, or another state altogether).
    State {
        /// The state planned against.
        planned: StateVersion,
        /// The state now.
        now: StateVersion,
    },
    /// The desired set read now differs (a manifest or a secret changed).
    Desired,
    /// A resource's planned change is different now.
    Change {
        /// The resource's address.
        address: String,
        /// What differs.
        detail: String,
    },
}

impl fmt::Display for Staleness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Staleness::Stack { planned, now } => {
                write!(f, "the plan is for stack `{planned}`, not `{now}`")
            }
            Staleness::State { planned, now } => write!(
                f,
                "the state changed since the plan: planned against {planned}, now {now}"
            ),
            Staleness::Desired => f.write_str(
                "the desired set read now differs from the one planned (a manifest or a secret changed)",
            ),
            Staleness::Change { address, detail } => write!(f, "{address}: {detail}"),
        }
    }
}

impl SavedPlan {
    /// A saved plan of `plan`, computed against `state` from a desired set with digest
    /// `desired_digest` read at `source`; `settings` are the caller's, returned as recorded.
    pub fn new(
        plan: &Plan,
        state: &State,
        desired_digest: String,
        source: SourceVersion,
        settings: Value,
    ) -> Self {
        let fingerprints = plan
            .changes
            .iter()
            .map(|c| (c.key.to_string(), fingerprint(c)))
            .collect();
        let objects = plan
            .changes
            .iter()
            .map(|c| {
                let shown = ShownObjects {
                    before: c.before(),
                    after: c.after(),
                };
                (c.key.to_string(), shown)
            })
            .collect();
        Self {
            kind: KIND.to_owned(),
            format_version: SAVED_PLAN_FORMAT,
            strata_version: env!("CARGO_PKG_VERSION").to_owned(),
            created_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            stack: plan.stack.clone(),
            state: StateVersion::of(state),
            source,
            desired_digest,
            settings,
            fingerprints,
            objects,
            plan: plan.clone(),
        }
    }

    /// The saved plan as bytes (pretty JSON).
    pub fn to_bytes(&self) -> Result<Vec<u8>, SavedPlanError> {
        let mut bytes = serde_json::to_vec_pretty(self).map_err(SavedPlanError::Serialize)?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Writes the saved plan to `path` (through a temporary file, so a reader never sees half
    /// a plan).
    pub fn write(&self, path: &Path) -> Result<(), SavedPlanError> {
        let io = |source| SavedPlanError::Io {
            path: path.to_path_buf(),
            source,
        };
        let temp = path.with_extension("strata-tmp");
        std::fs::write(&temp, self.to_bytes()?).map_err(io)?;
        std::fs::rename(&temp, path).map_err(io)
    }

    /// Reads a saved plan from `path`.
    pub fn read(path: &Path) -> Result<Self, SavedPlanError> {
        let bytes = std::fs::read(path).map_err(|source| SavedPlanError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_slice(path, &bytes)
    }

    /// Parses a saved plan read from `path`.
    pub fn from_slice(path: &Path, bytes: &[u8]) -> Result<Self, SavedPlanError> {
        let corrupt = |source| SavedPlanError::Corrupt {
            path: path.to_path_buf(),
            source,
        };
        // The marker and format are read first, so a plan of a newer format says so rather
        // than failing on a field this build does not know.
        #[derive(Deserialize)]
        struct Header {
            kind: String,
            format_version: u32,
            #[serde(default)]
            strata_version: String,
        }
        let header: Header = serde_json::from_slice(bytes).map_err(corrupt)?;
        if header.kind != KIND {
            return Err(corrupt(serde::de::Error::custom(format!(
                "kind is `{}`, not `{KIND}`",
                header.kind
            ))));
        }
        if header.format_version != SAVED_PLAN_FORMAT {
            return Err(SavedPlanError::Format {
                path: path.to_path_buf(),
                found: header.format_version,
                writer: header.strata_version,
            });
        }
        let mut saved: Self = serde_json::from_slice(bytes).map_err(corrupt)?;
        saved.restore_objects();
        Ok(saved)
    }

    /// Gives the shown plan's changes their (redacted) objects back, so it renders as it did.
    fn restore_objects(&mut self) {
        for change in &mut self.plan.changes {
            let Some(shown) = self.objects.get(&change.key.to_string()) else {
                continue;
            };
            let object = shown.after.clone().or_else(|| shown.before.clone());
            change.resource = object.and_then(|o| Resource::from_manifest(o).ok());
            change.live = shown.before.clone().map(Arc::new);
        }
    }

    /// Checks that applying now would do exactly what was planned: the same stack, the same
    /// state version, the same desired set, and a `replan` (computed now from that desired
    /// set) whose every change matches the saved one. Returns every reason it does not.
    pub fn verify(
        &self,
        stack: &str,
        state: &State,
        desired_digest: &str,
        replan: &Plan,
    ) -> Result<(), Vec<Staleness>> {
        let mut stale = Vec::new();
        if self.stack != stack {
            stale.push(Staleness::Stack {
                planned: self.stack.clone(),
                now: stack.to_owned(),
            });
        }
        let now = StateVersion::of(state);
        if self.state != now {
            stale.push(Staleness::State {
                planned: self.state.clone(),
                now,
            });
        }
        if self.desired_digest != desired_digest {
            stale.push(Staleness::Desired);
        }
        let planned: BTreeMap<String, &ResourceChange> = self
            .plan
            .changes
            .iter()
            .map(|c| (c.key.to_string(), c))
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for change in &replan.changes {
            let address = change.key.to_string();
            seen.insert(address.clone());
            let Some(before) = planned.get(&address) else {
                if change.action != Action::NoOp {
                    stale.push(Staleness::Change {
                        address,
                        detail: format!(
                            "not in the saved plan; now {}",
                            action_name(change.action)
                        ),
                    });
                }
                continue;
            };
            if self.fingerprints.get(&address) == Some(&fingerprint(change)) {
                continue;
            }
            stale.push(Staleness::Change {
                address,
                detail: difference(before, change),
            });
        }
        for (address, change) in &planned {
            if !seen.contains(address) && change.action != Action::NoOp {
                stale.push(Staleness::Change {
                    address: address.clone(),
                    detail: format!(
                        "planned to {}, now not in the plan",
                        action_name(change.action)
                    ),
                });
            }
        }
        if stale.is_empty() { Ok(()) } else { Err(stale) }
    }
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::NoOp => "leave unchanged",
        Action::Create => "create",
        Action::Update => "update",
        Action::Delete => "delete",
        Action::DeleteThenCreate => "replace (delete, then create)",
        Action::CreateThenDelete => "replace (create, then delete)",
    }
}

/// Says how a change differs from the one planned.
fn difference(planned: &ResourceChange, now: &ResourceChange) -> String {
    if planned.action != now.action {
        return format!(
            "planned to {}, now {}",
            action_name(planned.action),
            action_name(now.action)
        );
    }
    if planned.provider != now.provider {
        return format!(
            "planned through provider {}, now {}",
            planned.provider, now.provider
        );
    }
    let shown = |f: &FieldChange| serde_json::to_string(f).unwrap_or_default();
    let before: std::collections::BTreeSet<String> = planned.fields.iter().map(shown).collect();
    let changed: Vec<&str> = now
        .fields
        .iter()
        .filter(|f| !before.contains(&shown(f)))
        .map(|f| f.path.as_str())
        .chain(
            planned
                .fields
                .iter()
                .filter(|f| !now.fields.iter().any(|n| shown(n) == shown(f)))
                .map(|f| f.path.as_str()),
        )
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !changed.is_empty() {
        return format!(
            "the live object changed since the plan (fields {})",
            changed.join(", ")
        );
    }
    "the object to apply differs from the one planned".to_owned()
}

/// A digest of the desired set, secrets included, independent of the order resources were
/// read in.
pub fn desired_digest(resources: &[Resource]) -> String {
    let mut entries: Vec<(String, String)> = resources
        .iter()
        .map(|r| (r.key.to_string(), r.manifest.to_string()))
        .collect();
    entries.sort();
    let mut hasher = Sha256::new();
    for (key, manifest) in entries {
        hasher.update(key.as_bytes());
        hasher.update([0]);
        hasher.update(manifest.as_bytes());
        hasher.update([0]);
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// A change's fingerprint: its action, provider, reason, field changes (as shown), replace
/// paths and a digest of the object it would write. Two plans agree on a resource exactly when
/// the fingerprints match.
pub fn fingerprint(change: &ResourceChange) -> String {
    let object = change
        .resource
        .as_ref()
        .map(|r| crate::sensitive::digest_of(&r.manifest));
    let value = json!({
        "address": change.key.to_string(),
        "api_version": change.api_version,
        "provider": change.provider,
        "action": change.action,
        "reason": change.reason,
        "fields": change.fields,
        "replace_paths": change.replace_paths,
        "object": object,
    });
    format!("sha256:{}", hex::encode(Sha256::digest(value.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_map(name: &str, value: &str) -> Resource {
        Resource::from_manifest(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default", "labels": {"env": "prod"}},
            "data": {"k": value}
        }))
        .unwrap()
    }

    fn change(resource: Resource, action: Action, fields: Vec<FieldChange>) -> ResourceChange {
        let mut change = ResourceChange::decided(resource, action, "sandbox", None);
        change.fields = fields;
        change
    }

    fn plan(changes: Vec<ResourceChange>) -> Plan {
        Plan {
            stack: "demo".into(),
            changes,
            violations: Vec::new(),
        }
    }

    fn field(path: &str, before: &str, after: &str) -> FieldChange {
        FieldChange {
            path: path.into(),
            before: Some(json!(before)),
            after: Some(json!(after)),
            forces_replacement: false,
        }
    }

    fn saved_state(serial: u64) -> State {
        let mut state = State::new();
        state.serial = serial;
        state
    }

    #[test]
    fn an_identical_replan_verifies() {
        let p = plan(vec![change(config_map("a", "1"), Action::Create, vec![])]);
        let state = saved_state(3);
        let digest = desired_digest(&[config_map("a", "1")]);
        let saved = SavedPlan::new(
            &p,
            &state,
            digest.clone(),
            SourceVersion::default(),
            json!({}),
        );
        let read = SavedPlan::from_slice(Path::new("p.json"), &saved.to_bytes().unwrap()).unwrap();
        assert_eq!(read.verify("demo", &state, &digest, &p), Ok(()));
        // The plan renders as it did when it was made.
        assert_eq!(
            super::super::render_human(&read.plan, false),
            super::super::render_human(&p, false)
        );
    }

    #[test]
    fn secret_values_are_never_saved() {
        let secret = Resource::from_manifest(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "default"},
            "stringData": {"password": "hunter2-very-secret"}
        }))
        .unwrap();
        let p = plan(vec![change(secret.clone(), Action::Create, vec![])]);
        let saved = SavedPlan::new(
            &p,
            &State::new(),
            desired_digest(&[secret]),
            SourceVersion::default(),
            json!({}),
        );
        let bytes = String::from_utf8(saved.to_bytes().unwrap()).unwrap();
        assert!(!bytes.contains("hunter2"), "{bytes}");
        assert!(bytes.contains("(sensitive)"), "{bytes}");
    }

    #[test]
    fn each_kind_of_staleness_is_named() {
        let p = plan(vec![
            change(
                config_map("a", "1"),
                Action::Update,
                vec![field("data.k", "0", "1")],
            ),
            change(config_map("b", "1"), Action::Create, vec![]),
        ]);
        let state = saved_state(3);
        let digest = desired_digest(&[config_map("a", "1"), config_map("b", "1")]);
        let saved = SavedPlan::new(
            &p,
            &state,
            digest.clone(),
            SourceVersion::default(),
            json!({}),
        );

        let mut other_state = state.clone();
        other_state.serial = 4;
        let replan = plan(vec![
            change(
                config_map("a", "1"),
                Action::Update,
                vec![field("data.k", "9", "1")],
            ),
            change(config_map("b", "1"), Action::NoOp, vec![]),
            change(config_map("c", "1"), Action::Create, vec![]),
        ]);
        let stale = saved
            .verify("other", &other_state, "sha256:x", &replan)
            .unwrap_err();
        let shown: Vec<String> = stale.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "the plan is for stack `demo`, not `other`".to_owned(),
                format!(
                    "the state changed since the plan: planned against lineage {0} serial 3, now lineage {0} serial 4",
                    state.lineage
                ),
                "the desired set read now differs from the one planned (a manifest or a secret changed)".to_owned(),
                "ConfigMap/default/a: the live object changed since the plan (fields data.k)".to_owned(),
                "ConfigMap/default/b: planned to create, now leave unchanged".to_owned(),
                "ConfigMap/default/c: not in the saved plan; now create".to_owned(),
            ]
        );
    }

    #[test]
    fn a_vanished_planned_change_is_named() {
        let p = plan(vec![change(config_map("a", "1"), Action::Delete, vec![])]);
        let state = saved_state(1);
        let saved = SavedPlan::new(&p, &state, "d".into(), SourceVersion::default(), json!({}));
        let stale = saved
            .verify("demo", &state, "d", &plan(vec![]))
            .unwrap_err();
        assert_eq!(
            stale,
            [Staleness::Change {
                address: "ConfigMap/default/a".into(),
                detail: "planned to delete, now not in the plan".into()
            }]
        );
    }

    #[test]
    fn no_state_then_and_now_matches_but_a_state_written_since_does_not() {
        let p = plan(vec![]);
        let saved = SavedPlan::new(
            &p,
            &State::new(),
            "d".into(),
            SourceVersion::default(),
            json!({}),
        );
        assert_eq!(saved.verify("demo", &State::new(), "d", &p), Ok(()));
        assert!(saved.verify("demo", &saved_state(1), "d", &p).is_err());
    }

    #[test]
    fn the_desired_digest_ignores_order_but_not_content() {
        let a = config_map("a", "1");
        let b = config_map("b", "1");
        assert_eq!(
            desired_digest(&[a.clone(), b.clone()]),
            desired_digest(&[b.clone(), a.clone()])
        );
        assert_ne!(
            desired_digest(&[a, b]),
            desired_digest(&[config_map("a", "2"), config_map("b", "1")])
        );
    }

    #[test]
    fn other_files_and_other_formats_are_refused() {
        let path = Path::new("plan.json");
        assert!(matches!(
            SavedPlan::from_slice(path, b"not json"),
            Err(SavedPlanError::Corrupt { .. })
        ));
        let err = SavedPlan::from_slice(path, br#"{"kind":"Other","format_version":1}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a Strata saved plan"), "{err}");
        let err = SavedPlan::from_slice(
            path,
            br#"{"kind":"StrataSavedPlan","format_version":9,"strata_version":"9.0.0"}"#,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "plan.json: saved plan format 9 (written by Strata 9.0.0); this build reads format 1"
        );
        let p = plan(vec![]);
        let mut bytes = SavedPlan::new(
            &p,
            &State::new(),
            "d".into(),
            SourceVersion::default(),
            json!({}),
        )
        .to_bytes()
        .unwrap();
        bytes.truncate(bytes.len() / 2);
        assert!(matches!(
            SavedPlan::from_slice(path, &bytes),
            Err(SavedPlanError::Corrupt { .. })
        ));
    }
}
