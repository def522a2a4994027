//! Prune: deleting live objects that carry the stack's ownership labels but left the desired
//! set, in ArgoCD's prune order (reverse waves, PruneLast), honouring `Prune=false` and
//! `Prune=confirm` per resource.

use std::collections::{BTreeSet, HashSet};

use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;
use strata_core::{ProviderError, Resource, ResourceKey};

use super::errors::map_error;
use super::manifest::{ownership_selector, prune_candidates};
use super::{KubeProvider, to_value};
use strata_core::sync::{SyncPlanOptions, SyncResource, plan_sync};

/// How a prune runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PruneOptions {
    /// Every prune after the other deletions' waves (the app-level `PruneLast=true`; a
    /// resource's own `PruneLast=true` sync option is honoured regardless).
    pub prune_last: bool,
    /// Prunes marked `Prune=confirm` are confirmed.
    pub confirmed: bool,
    /// Only report what would be pruned.
    pub dry_run: bool,
}

impl PruneOptions {
    /// Sets [`prune_last`](Self::prune_last).
    pub fn with_prune_last(mut self, prune_last: bool) -> Self {
        self.prune_last = prune_last;
        self
    }

    /// Sets [`confirmed`](Self::confirmed).
    pub fn with_confirmed(mut self, confirmed: bool) -> Self {
        self.confirmed = confirmed;
        self
    }

    /// Sets [`dry_run`](Self::dry_run).
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}

/// What a prune did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneOutcome {
    /// Deleted (or, in a dry run, to be deleted), in the order the deletes were sent.
    pub pruned: Vec<ResourceKey>,
    /// Left alone, with the reason (`Prune=false`, awaiting confirmation …).
    pub skipped: Vec<(ResourceKey, String)>,
}

/// The distinct `(apiVersion, kind)` pairs of a set of resources, sorted.
pub fn kinds_of(resources: &[Resource]) -> Vec<(String, String)> {
    resources
        .iter()
        .map(|r| (r.api_version().to_owned(), r.key.kind.to_string()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The `(apiVersion, kind)` pairs a label-based prune of a stack lists, sorted: the kinds of
/// the desired set and the kinds the state records (so a kind that left Git entirely is still
/// pruned).
pub fn kinds_to_prune(desired: &[Resource], state: &strata_core::State) -> Vec<(String, String)> {
    desired
        .iter()
        .map(|r| (r.api_version().to_owned(), r.key.kind.to_string()))
        .chain(
            state
                .resources
                .values()
                .map(|r| (r.api_version.clone(), r.key.kind.to_string())),
        )
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

impl KubeProvider {
    /// Every live object of `apiVersion`/`kind` (in all namespaces) carrying the ownership
    /// labels of `stack`: one `LIST` with a `labelSelector`. None when the cluster does not
    /// serve the kind (a cloud resource or an Application the stack sends to another provider
    /// or the sandbox): no object of it can exist there.
    pub async fn list_owned(
        &self,
        api_version: &str,
        kind: &str,
        stack: &str,
    ) -> Result<Vec<Value>, ProviderError> {
        let Some(resolved) = self.resolve_if_served(api_version, kind).await? else {
            return Ok(Vec::new());
        };
        let client = self.client().await?.clone();
        let api: Api<DynamicObject> = Api::all_with(client, &resolved.resource);
        let params = ListParams::default().labels(&ownership_selector(stack));
        let list = api
            .list(&params)
            .await
            .map_err(|e| map_error(e, "listing", &format!("{api_version} {kind}")))?;
        list.items
            .iter()
            .map(|item| {
                let mut value = to_value(item)?;
                // List items come without apiVersion/kind; give them the list's.
                if let Some(object) = value.as_object_mut() {
                    object
                        .entry("apiVersion")
                        .or_insert_with(|| Value::String(api_version.to_owned()));
                    object
                        .entry("kind")
                        .or_insert_with(|| Value::String(kind.to_owned()));
                }
                Ok(value)
            })
            .collect()
    }

    /// Live objects of the given kinds owned by `stack` that are not in `desired`.
    pub async fn prune_candidates(
        &self,
        stack: &str,
        desired: &[Resource],
        kinds: &[(String, String)],
    ) -> Result<Vec<Value>, ProviderError> {
        let desired_keys: HashSet<ResourceKey> = desired.iter().map(|r| r.key.clone()).collect();
        let mut out = Vec::new();
        for (api_version, kind) in kinds {
            let owned = self.list_owned(api_version, kind, stack).await?;
            out.extend(prune_candidates(&desired_keys, owned, stack));
        }
        Ok(out)
    }

    /// Prunes what `stack` owns among `kinds` but `desired` no longer holds, in ArgoCD's order.
    pub async fn prune(
        &self,
        stack: &str,
        desired: &[Resource],
        kinds: &[(String, String)],
        options: PruneOptions,
    ) -> Result<PruneOutcome, ProviderError> {
        let candidates = self.prune_candidates(stack, desired, kinds).await?;
        self.prune_objects(&candidates, options).await
    }

    /// Deletes `candidates` (live objects) in prune order.
    pub async fn prune_objects(
        &self,
        candidates: &[Value],
        options: PruneOptions,
    ) -> Result<PruneOutcome, ProviderError> {
        let pairs: Vec<SyncResource<'_>> = candidates.iter().map(SyncResource::prune).collect();
        let plan = plan_sync(
            &pairs,
            &SyncPlanOptions::default()
                .with_prune(true)
                .with_prune_last(options.prune_last),
        );
        let mut outcome = PruneOutcome {
            skipped: plan
                .skipped
                .iter()
                .map(|s| (s.id.clone(), s.reason.clone()))
                .collect(),
            ..PruneOutcome::default()
        };
        for task in plan.groups.iter().flat_map(|g| g.prunes()) {
            let key = task.id.clone();
            if task.requires_confirmation && !options.confirmed {
                outcome
                    .skipped
                    .push((key, "waiting for pruning confirmation".to_owned()));
                continue;
            }
            let live = &candidates[task.index];
            if !options.dry_run {
                let resource = Resource::from_manifest(live.clone()).map_err(|e| {
                    ProviderError::final_error(format!("pruning {key}: {e}")).with_source(e)
                })?;
                self.delete_with(&resource, self.propagation_for(live))
                    .await?;
            }
            outcome.pruned.push(key);
        }
        Ok(outcome)
    }
}
