//! Rebuilding a state from the world: finding the live objects that carry a stack's ownership
//! labels (`app.kubernetes.io/managed-by: strata`, `strata.dev/stack: <stack>`) and recording
//! them, for a stack whose state was lost or started empty.
//!
//! Recovery decides like Terraform's import: an object is recorded only when the desired set
//! holds it (its manifest says which provider serves it and how it is found), with the values
//! it has now on the fields the manifest sets, so the next plan shows what differs from Git.
//! Labelled objects the desired set does not hold are listed, never recorded: the state says
//! what this stack manages, and a recovery that guessed would make the next plan delete
//! whatever it guessed. They stay as they are under the usual rules: a plan changes only what
//! the desired set or the state holds, and `apply --prune` deletes labelled Kubernetes objects
//! that left Git.
//!
//! Desired resources are observed through the provider each is routed to, so they are found
//! whatever the provider. Objects outside the desired set can only be found by providers that
//! can list what they hold ([`Provider::list_owned`]); the others are named in
//! [`Survey::not_searched`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use crate::compact::CompactValue;
use crate::engine::{Engine, EngineError};
use crate::graph::Graph;
use crate::model::{KeyText, Resource, ResourceKey};
use crate::ownership::{self, Manager};
use crate::plan::PlanOptions;
use crate::provider::Provider;
use crate::sensitive::Sensitivity;
use crate::state::{ResourceState, ResourceStatus, State};

/// A labelled live object recovery found but does not record.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Stray {
    /// The provider that holds it.
    pub provider: String,
    /// Its address.
    pub key: ResourceKey,
    /// Why it is not recorded.
    pub reason: StrayReason,
}

/// Why a labelled live object is not recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StrayReason {
    /// The desired set does not hold it.
    NotInGit,
    /// The desired set holds it, but sends it to another provider (named), where it was
    /// looked for on its own.
    ServedByOther(String),
}

impl std::fmt::Display for Stray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.reason {
            StrayReason::NotInGit => write!(f, "{} ({}): not in Git", self.key, self.provider),
            StrayReason::ServedByOther(other) => write!(
                f,
                "{} ({}): the stack sends this resource to {other}",
                self.key, self.provider
            ),
        }
    }
}

/// What a search of the world for a stack's labelled objects found.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Survey {
    /// Records for the desired resources whose live object carries the stack's labels and
    /// that the state does not record yet, in address order.
    pub records: Vec<ResourceState>,
    /// Labelled desired resources the state already records (left as they are).
    pub already_recorded: Vec<ResourceKey>,
    /// Labelled live objects that are not recorded (see [`StrayReason`]).
    pub strays: Vec<Stray>,
    /// Providers that cannot list the objects they hold: labelled objects of theirs outside
    /// the desired set cannot be found.
    pub not_searched: Vec<String>,
}

impl Survey {
    /// Whether any labelled live object was found.
    pub fn found_any(&self) -> bool {
        !self.records.is_empty() || !self.already_recorded.is_empty() || !self.strays.is_empty()
    }
}

/// What [`Engine::recover`] wrote.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Recovered {
    /// What was found.
    pub survey: Survey,
    /// The state's serial after the write, or `None` when there was nothing to record.
    pub serial: Option<u64>,
}

impl Engine {
    /// Searches the world for live objects labelled as `options.stack`'s: the desired
    /// resources observed through their providers, and whatever each provider can list.
    /// Nothing is written; returns the survey and the state it was compared with.
    pub async fn survey(
        &self,
        desired: impl Into<Vec<Resource>>,
        options: &PlanOptions,
    ) -> Result<(Survey, State), EngineError> {
        let mut desired = desired.into();
        let graph = Graph::build(&desired)?;
        let state = self.store.load().await?.unwrap_or_default();
        state.check_stack(&options.stack, &self.store.location())?;
        let observations = self
            .resolve_and_observe(&mut desired, &graph, &State::new())
            .await?;
        let mut survey = Survey::default();
        for resource in &desired {
            let Ok(provider) = self.registry.route(resource) else {
                continue;
            };
            let Some(live) = observations
                .get(&resource.key)
                .and_then(|o| o.live.as_ref())
            else {
                continue;
            };
            let live = live.value();
            if ownership::manager_of(&live, &options.stack) != Manager::ThisStack {
                continue;
            }
            if state.get(&resource.key).is_some() {
                survey.already_recorded.push(resource.key.clone());
                continue;
            }
            survey.records.push(self.record_of(
                resource,
                &live,
                provider.as_ref(),
                &graph,
                &options.stack,
            ));
        }
        let borrowed: Vec<&Resource> = desired.iter().collect();
        let (strays, not_searched) = self.strays(&borrowed, &state, options).await?;
        survey.strays = strays;
        survey.not_searched = not_searched;
        survey.records.sort_by(|a, b| a.key.cmp(&b.key));
        survey.already_recorded.sort();
        Ok((survey, state))
    }

    /// The live objects labelled for the stack that no desired resource routed to their
    /// provider accounts for (see [`StrayReason`]), in key order, and the providers that cannot
    /// list what they hold. Only listing: nothing is observed one by one.
    pub async fn strays(
        &self,
        desired: &[&Resource],
        state: &State,
        options: &PlanOptions,
    ) -> Result<(Vec<Stray>, Vec<String>), EngineError> {
        let mut not_searched = Vec::new();
        let kinds: Vec<(String, String)> = desired
            .iter()
            .map(|r| (r.api_version(), r.key.kind.as_str()))
            .chain(
                state
                    .resources
                    .values()
                    .map(|r| (r.api_version.as_str(), r.key.kind.as_str())),
            )
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|(version, kind)| (version.to_owned(), kind.to_owned()))
            .collect();
        // What a listed object is compared with, built when a provider lists one (a stack whose
        // objects do not exist yet lists none: nothing to index for its many resources).
        let index = || {
            let routed: HashMap<&ResourceKey, String> = desired
                .iter()
                .filter_map(|r| Some((&r.key, self.registry.route(r).ok()?.name().to_owned())))
                .collect();
            let external_names: HashMap<(KeyText, KeyText, String), ResourceKey> = desired
                .iter()
                .filter_map(|r| {
                    let name = r.annotation(crate::model::ANNOTATION_EXTERNAL_NAME)?;
                    Some((
                        (r.key.group.clone(), r.key.kind.clone(), name.to_owned()),
                        r.key.clone(),
                    ))
                })
                .collect();
            (routed, external_names)
        };
        let mut indexed = None;
        let mut strays = BTreeMap::new();
        for provider in self.registry.providers() {
            let listed = provider
                .list_owned(&options.stack, &kinds)
                .await
                .map_err(|error| EngineError::List {
                    provider: provider.name().to_owned(),
                    error,
                })?;
            let Some(listed) = listed else {
                not_searched.push(provider.name().to_owned());
                continue;
            };
            for live in listed {
                let Ok(key) = ResourceKey::from_manifest(&live) else {
                    continue;
                };
                let (routed, external_names) = indexed.get_or_insert_with(index);
                // A cloud object is listed by its name there: the desired resource of that
                // kind declaring it as its external name is the same object.
                let key = external_names
                    .get(&(key.group.clone(), key.kind.clone(), key.name.to_string()))
                    .cloned()
                    .unwrap_or(key);
                let reason = match routed.get(&key) {
                    Some(to) if to == provider.name() => continue,
                    Some(to) => StrayReason::ServedByOther(to.clone()),
                    None => StrayReason::NotInGit,
                };
                strays.insert(
                    (key.clone(), provider.name().to_owned()),
                    Stray {
                        provider: provider.name().to_owned(),
                        key,
                        reason,
                    },
                );
            }
        }
        Ok((strays.into_values().collect(), not_searched))
    }

    /// Records the labelled desired resources [`Engine::survey`] finds that the state does not
    /// record yet, in one compare-and-swap write (the replaced version is kept where the store
    /// keeps versions). The caller holds the state lock.
    pub async fn recover(
        &self,
        desired: impl Into<Vec<Resource>>,
        options: &PlanOptions,
    ) -> Result<Recovered, EngineError> {
        let (survey, mut state) = self.survey(desired, options).await?;
        if survey.records.is_empty() {
            return Ok(Recovered {
                survey,
                serial: None,
            });
        }
        if state.stack.is_empty() {
            state.stack.clone_from(&options.stack);
        }
        for record in &survey.records {
            state.put(record.clone());
        }
        self.store.save(&mut state).await?;
        Ok(Recovered {
            survey,
            serial: Some(state.serial),
        })
    }

    /// The record of a desired resource found live: applied, with the live values of the
    /// fields its manifest sets (sensitive ones as digests), as an import writes it.
    fn record_of(
        &self,
        resource: &Resource,
        live: &Value,
        provider: &dyn Provider,
        graph: &Graph,
        stack: &str,
    ) -> ResourceState {
        let key = &resource.key;
        let sensitivity = Sensitivity::with_paths(provider.sensitive_fields(key));
        let stamped = ownership::stamp(&resource.manifest, stack);
        // The shape an apply records: the desired manifest normalized the way plans compare.
        let accepted = if self.normalizer.is_identity() {
            crate::plan::refresh::project(&stamped, live)
        } else {
            let (desired, live) = self.normalizer.normalize(&stamped, live);
            crate::plan::refresh::project(&desired, &live)
        };
        ResourceState {
            key: key.clone(),
            api_version: resource.api_version().to_owned(),
            provider: provider.name().to_owned(),
            status: ResourceStatus::Applied,
            last_applied: CompactValue::from_value(&sensitivity.digested(key, &accepted)),
            dependencies: graph.dependencies(key),
            outputs: Value::Null,
            protect: resource.is_protected(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;
    use serde_json::json;

    use super::*;
    use crate::executor::ExecutorConfig;
    use crate::provider::{Applied, Observation, ProviderError, ProviderRegistry};
    use crate::state::LocalStateStore;
    use crate::{IdentityNormalizer, SandboxProvider};

    /// A provider of `example.org` kinds that holds one labelled object and cannot list.
    #[derive(Debug)]
    struct Unlisted;

    #[async_trait]
    impl Provider for Unlisted {
        fn name(&self) -> &str {
            "unlisted"
        }
        fn serves(&self, api_version: &str, _kind: &str) -> bool {
            api_version.starts_with("example.org/")
        }
        async fn observe(&self, desired: &Resource) -> Result<Observation, ProviderError> {
            Ok(Observation::present(ownership::stamp(
                &desired.manifest,
                "s",
            )))
        }
        async fn create(&self, _: &Resource) -> Result<Applied, ProviderError> {
            Err(ProviderError::final_error("read-only"))
        }
        async fn update(&self, _: &Resource, _: &Value) -> Result<Applied, ProviderError> {
            Err(ProviderError::final_error("read-only"))
        }
        async fn delete(&self, _: &Resource) -> Result<(), ProviderError> {
            Err(ProviderError::final_error("read-only"))
        }
    }

    fn resource(manifest: Value) -> Resource {
        Resource::from_manifest(manifest).unwrap()
    }

    #[tokio::test]
    async fn desired_objects_are_found_through_any_provider_strays_only_through_listing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = SandboxProvider::new(dir.path().join("world"));
        let stray = ownership::stamp(
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "stray", "namespace": "default"}}),
            "s",
        );
        sandbox.create(&resource(stray)).await.unwrap();
        let engine = Engine {
            registry: ProviderRegistry::new()
                .with_provider(Arc::new(Unlisted))
                .with_fallback(Arc::new(sandbox)),
            normalizer: Arc::new(IdentityNormalizer),
            store: Arc::new(LocalStateStore::new(dir.path().join("state.json"))),
            config: ExecutorConfig::default(),
        };
        let desired = vec![
            resource(
                json!({"apiVersion": "example.org/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}}),
            ),
            resource(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "absent", "namespace": "default"}}),
            ),
        ];
        let options = PlanOptions {
            stack: "s".into(),
            ..PlanOptions::default()
        };
        let recovered = engine.recover(desired, &options).await.unwrap();
        let survey = &recovered.survey;
        let recorded: Vec<String> = survey.records.iter().map(|r| r.key.to_string()).collect();
        assert_eq!(recorded, ["example.org/Widget/w"]);
        assert_eq!(survey.records[0].provider, "unlisted");
        assert_eq!(survey.records[0].status, ResourceStatus::Applied);
        assert_eq!(survey.records[0].last_applied.to_value()["spec"]["size"], 1);
        assert_eq!(
            survey.strays,
            [Stray {
                provider: "sandbox".into(),
                key: ResourceKey::new("", "ConfigMap", Some("default"), "stray"),
                reason: StrayReason::NotInGit,
            }]
        );
        assert_eq!(survey.not_searched, ["unlisted"]);
        let state = engine.store.load().await.unwrap().unwrap();
        assert_eq!(recovered.serial, Some(state.serial));
        assert_eq!(state.stack, "s");
        assert_eq!(state.resources.len(), 1);
    }
}
