//! Import (Terraform's `terraform import`): record an existing live object as the stack's,
//! so the next plan compares Git with it instead of creating it.
//!
//! The resource must be in the desired set (its manifest says which provider serves it and
//! how it is found). Its live object is observed through that provider and recorded as
//! applied, with the values it has now on the fields the manifest sets (sensitive values as
//! digests). An object another manager claims (another Strata stack, ArgoCD, Crossplane, Helm)
//! is refused: importing it would make two managers.

use std::sync::Arc;

use serde_json::Value;

use crate::compact::CompactValue;
use crate::engine::{Engine, EngineError};
use crate::graph::Graph;
use crate::model::{ANNOTATION_EXTERNAL_NAME, Resource, ResourceKey};
use crate::ownership::{self, Manager};
use crate::plan::PlanOptions;
use crate::sensitive::Sensitivity;
use crate::state::{ResourceState, ResourceStatus, State};

/// Why an import was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The state already records the resource.
    #[error("{0} is already in the state")]
    AlreadyRecorded(ResourceKey),
    /// The desired set does not hold the resource.
    #[error("{0} is not in the desired set: add its manifest to Git first, then import it")]
    NotDesired(ResourceKey),
    /// The external name given is not the one the manifest declares.
    #[error(
        "{key}: the manifest names external name `{declared}`; to import `{given}`, set the annotation {ANNOTATION_EXTERNAL_NAME}: \"{given}\" in Git first"
    )]
    ExternalNameDiffers {
        /// The resource.
        key: ResourceKey,
        /// The name its manifest resolves to.
        declared: String,
        /// The id given.
        given: String,
    },
    /// Nothing exists in the world under that identity.
    #[error("{key}: no live object found ({provider} looked for `{name}`)")]
    NotFound {
        /// The resource.
        key: ResourceKey,
        /// The provider that looked.
        provider: String,
        /// The name looked for.
        name: String,
    },
    /// Another manager claims the object.
    #[error(
        "{key} is managed by {manager}; importing it would give it two managers. Remove it from {manager} first"
    )]
    OtherManager {
        /// The resource.
        key: ResourceKey,
        /// Who manages it.
        manager: String,
    },
    /// No provider serves the resource's kind.
    #[error(transparent)]
    Unserved(#[from] crate::provider::RoutingError),
}

/// What an import recorded.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Imported {
    /// The record written.
    pub record: ResourceState,
    /// The state's serial after the write.
    pub serial: u64,
}

impl Engine {
    /// Observes `key` of `desired` (found in the world as `id` when given, which must be the
    /// external name the manifest declares) and records it in the state. The caller holds the
    /// state lock.
    pub async fn import(
        &self,
        mut desired: Vec<Resource>,
        key: &ResourceKey,
        id: Option<&str>,
        options: &PlanOptions,
    ) -> Result<Imported, EngineError> {
        let graph = Graph::build(&desired)?;
        let mut state = self.store.load().await?.unwrap_or_default();
        state.check_stack(&options.stack, &self.store.location())?;
        if state.get(key).is_some() {
            return Err(ImportError::AlreadyRecorded(key.clone()).into());
        }
        let Some(position) = desired.iter().position(|r| &r.key == key) else {
            return Err(ImportError::NotDesired(key.clone()).into());
        };
        let declared = desired[position]
            .annotation(ANNOTATION_EXTERNAL_NAME)
            .unwrap_or(&key.name)
            .to_owned();
        if let Some(id) = id
            && id != declared
        {
            return Err(ImportError::ExternalNameDiffers {
                key: key.clone(),
                declared,
                given: id.to_owned(),
            }
            .into());
        }
        let observations = self
            .resolve_and_observe(&mut desired, &graph, &State::new())
            .await?;
        let resource = desired.swap_remove(position);
        let provider = self
            .registry
            .route(&resource)
            .map_err(ImportError::Unserved)?;
        let Some(live) = observations.get(key).and_then(|o| o.live.clone()) else {
            return Err(ImportError::NotFound {
                key: key.clone(),
                provider: provider.name().to_owned(),
                name: declared,
            }
            .into());
        };
        let live = live.shared();
        match ownership::manager_of(&live, &options.stack) {
            Manager::ThisStack | Manager::Unmanaged => {}
            other => {
                return Err(ImportError::OtherManager {
                    key: key.clone(),
                    manager: other.to_string(),
                }
                .into());
            }
        }
        let sensitivity = Sensitivity::with_paths(provider.sensitive_fields(key));
        let stamped = ownership::stamp(&resource.manifest, &options.stack);
        let live_normalized: Value = if self.normalizer.is_identity() {
            Arc::unwrap_or_clone(live)
        } else {
            self.normalizer.normalize(&stamped, &live).1
        };
        let accepted = crate::plan::refresh::project(&stamped, &live_normalized);
        let record = ResourceState {
            key: key.clone(),
            api_version: resource.api_version().to_owned(),
            provider: provider.name().to_owned(),
            status: ResourceStatus::Applied,
            last_applied: CompactValue::from_value(&sensitivity.digested(key, &accepted)),
            dependencies: graph.dependencies(key),
            outputs: Value::Null,
            protect: resource.is_protected(),
        };
        if state.stack.is_empty() {
            state.stack.clone_from(&options.stack);
        }
        state.put(record.clone());
        self.store.save(&mut state).await?;
        Ok(Imported {
            record,
            serial: state.serial,
        })
    }
}
