//! The high-level flow used by the CLI and by embedding programs: load, plan, apply, with the
//! state locked and saved after every change.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::executor::{self, Cancellation, EventSink, ExecutorConfig, Recorder, Report};
use crate::graph::{Graph, GraphError};
use crate::model::{Resource, ResourceKey};
use crate::normalize::Normalizer;
use crate::plan::{self, Plan, PlanOptions, ResourceChange};
use crate::provider::{Applied, ProviderError, ProviderRegistry};
use crate::sensitive::Sensitivity;
use crate::state::{LockInfo, ResourceState, ResourceStatus, State, StateError, StateStore};

/// Errors of the high-level flow.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The desired set's graph is invalid.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The state could not be read, locked or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// Observing a resource failed.
    #[error("observing {key}: {error}")]
    Observe {
        /// The resource.
        key: ResourceKey,
        /// The provider's error.
        error: ProviderError,
    },
    /// The plan has guard violations.
    #[error("the plan cannot be applied: {0}")]
    Refused(String),
}

/// Plans and applies desired sets through a provider registry and a state store.
#[derive(Debug, Clone)]
pub struct Engine {
    /// Routes resources to providers.
    pub registry: ProviderRegistry,
    /// Prepares objects for comparison.
    pub normalizer: Arc<dyn Normalizer>,
    /// Keeps the state.
    pub store: Arc<dyn StateStore>,
    /// Parallelism and retries.
    pub config: ExecutorConfig,
}

impl Engine {
    /// Loads the state (empty when there is none), observes and plans. Pass the desired set by
    /// value to spare a copy (the plan keeps the manifests it will apply), or a slice.
    pub async fn plan(
        &self,
        desired: impl Into<Vec<Resource>>,
        options: &PlanOptions,
    ) -> Result<(Plan, State), EngineError> {
        let desired = desired.into();
        let graph = Graph::build(&desired)?;
        let state = self.store.load().await?.unwrap_or_default();
        let observations =
            plan::observe_all(&desired, &state, &self.registry, self.config.parallelism)
                .await
                .map_err(|(key, error)| EngineError::Observe { key, error })?;
        let plan = plan::compute_plan(
            desired,
            &graph,
            &state,
            &observations,
            &self.registry,
            self.normalizer.as_ref(),
            options,
        );
        Ok((plan, state))
    }

    /// Applies `plan` (made against `state`) holding the state lock, saving the state after
    /// every change. Refuses a plan with guard violations before doing anything.
    pub async fn apply(
        &self,
        plan: &Plan,
        state: State,
        operation: &str,
        events: Arc<dyn EventSink>,
        cancel: Cancellation,
    ) -> Result<Report, EngineError> {
        if !plan.is_applyable() {
            let reasons: Vec<&str> = plan.violations.iter().map(|v| v.message.as_str()).collect();
            return Err(EngineError::Refused(reasons.join("; ")));
        }
        let lock = LockInfo::new(operation);
        self.store.lock(&lock).await?;
        let recorder = Arc::new(StateRecorder {
            normalizer: Arc::clone(&self.normalizer),
            store: Arc::clone(&self.store),
            state: Mutex::new(state),
            registry: self.registry.clone(),
        });
        let report = executor::execute(
            plan,
            &self.registry,
            self.config,
            Arc::clone(&recorder) as Arc<dyn Recorder>,
            events,
            cancel,
        )
        .await;
        let unlocked = self.store.unlock(&lock.id).await;
        unlocked?;
        Ok(report)
    }
}

/// Records apply effects into the state and saves it (compare-and-swap) after each one.
struct StateRecorder {
    normalizer: Arc<dyn Normalizer>,
    store: Arc<dyn StateStore>,
    state: Mutex<State>,
    registry: ProviderRegistry,
}

impl StateRecorder {
    fn record_for(
        &self,
        change: &ResourceChange,
        status: ResourceStatus,
        outputs: Value,
    ) -> Option<ResourceState> {
        let resource = change.resource.as_ref()?;
        let sensitivity = Sensitivity::with_paths(
            self.registry
                .by_name(&change.provider)
                .map(|p| p.sensitive_fields(&change.key))
                .unwrap_or_default(),
        );
        Some(ResourceState {
            key: change.key.clone(),
            api_version: change.api_version.clone(),
            provider: change.provider.clone(),
            status,
            last_applied: sensitivity
                .digest(&change.key, &self.last_applied_form(&resource.manifest)),
            dependencies: change.dependencies.clone(),
            outputs: sensitivity.redact(&change.key, &outputs),
            protect: resource.is_protected(),
        })
    }

    /// The form the state keeps: normalized the way plans compare, so later plans compare
    /// like with like.
    fn last_applied_form(&self, manifest: &Value) -> Value {
        if self.normalizer.is_identity() {
            manifest.clone()
        } else {
            self.normalizer.normalize(manifest, &Value::Null).0
        }
    }

    async fn save_with(&self, f: impl FnOnce(&mut State)) -> Result<(), String> {
        let mut state = self.state.lock().await;
        f(&mut state);
        self.store.save(&mut state).await.map_err(|e| e.to_string())
    }
}

#[async_trait]
impl Recorder for StateRecorder {
    async fn creating(&self, change: &ResourceChange) -> Result<(), String> {
        let Some(mut record) = self.record_for(change, ResourceStatus::Creating, Value::Null)
        else {
            return Ok(());
        };
        self.save_with(|state| {
            // Keep protection that was recorded before (removing the annotation together with a
            // replacement must not lift it silently).
            if let Some(previous) = state.get(&change.key) {
                record.protect |= previous.protect;
            }
            state.put(record);
        })
        .await
    }

    async fn applied(&self, change: &ResourceChange, applied: &Applied) -> Result<(), String> {
        let Some(record) =
            self.record_for(change, ResourceStatus::Applied, applied.outputs.clone())
        else {
            return Ok(());
        };
        self.save_with(|state| state.put(record)).await
    }

    async fn deleted(&self, change: &ResourceChange) -> Result<(), String> {
        self.save_with(|state| {
            state.remove(&change.key);
        })
        .await
    }
}
