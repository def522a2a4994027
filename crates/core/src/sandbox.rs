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

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::model::{Resource, ResourceKey};
use crate::provider::{Applied, Health, Observation, Provider, ProviderError};
use crate::replace::ReplaceRules;
use crate::state::local::{Durability, write_atomically};

/// The sandbox provider.
#[derive(Debug, Clone)]
pub struct SandboxProvider {
    world: PathBuf,
    mirrored: ReplaceRules,
}

impl SandboxProvider {
    /// A sandbox whose world is the directory `world`, with no replace rules.
    pub fn new(world: impl Into<PathBuf>) -> Self {
        Self {
            world: world.into(),
            mirrored: ReplaceRules::new(),
        }
    }

    /// The same sandbox, also mirroring `rules` (the replace rules a real provider exports), so
    /// that a change it would replace is planned as a replacement here too.
    pub fn with_mirrored_rules(mut self, rules: &ReplaceRules) -> Self {
        self.mirrored = std::mem::take(&mut self.mirrored).merged(rules);
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

    /// The file holding the live object of `key`.
    pub fn object_path(&self, key: &ResourceKey) -> PathBuf {
        let group = if key.group.is_empty() {
            "core"
        } else {
            &key.group
        };
        self.world
            .join(sanitize(group))
            .join(sanitize(&key.kind))
            .join(sanitize(key.namespace.as_deref().unwrap_or("_cluster")))
            .join(format!("{}.json", sanitize(&key.name)))
    }

    fn read(&self, key: &ResourceKey) -> Result<Option<Value>, ProviderError> {
        let path = self.object_path(key);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                ProviderError::final_error(format!(
                    "sandbox object {} is not valid JSON: {e}",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ProviderError::retryable(format!("{}: {e}", path.display()))),
        }
    }

    fn write(&self, resource: &Resource) -> Result<Applied, ProviderError> {
        let live = live_object(&resource.manifest);
        let path = self.object_path(&resource.key);
        let bytes = serde_json::to_vec_pretty(&live)
            .map_err(|e| ProviderError::final_error(e.to_string()))?;
        write_atomically(&path, &bytes, Durability::Atomic)
            .map_err(|e| ProviderError::retryable(format!("{}: {e}", path.display())))?;
        let outputs = json!({ "id": resource.key.name });
        Ok(Applied {
            live,
            outputs,
            ..Applied::default()
        })
    }
}

/// Keeps path segments inside the world directory.
fn sanitize(segment: &str) -> String {
    segment
        .chars()
        .map(|c| match c {
            '/' | '\\' | '\0' => '_',
            c => c,
        })
        .collect::<String>()
        .replace("..", "__")
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

    fn serves(&self, _api_version: &str, _kind: &str) -> bool {
        true
    }

    async fn observe(&self, desired: &Resource) -> Result<Observation, ProviderError> {
        Ok(match self.read(&desired.key)? {
            Some(live) => Observation::present(live),
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
        let path = self.object_path(&resource.key);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ProviderError::retryable(format!("{}: {e}", path.display()))),
        }
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

    #[test]
    fn names_cannot_escape_the_world() {
        let sandbox = SandboxProvider::new("/w");
        let key = ResourceKey::new("", "ConfigMap", Some("../.."), "../x");
        assert!(sandbox.object_path(&key).starts_with("/w/core/ConfigMap"));
        assert!(!sandbox.object_path(&key).to_string_lossy().contains(".."));
    }
}
