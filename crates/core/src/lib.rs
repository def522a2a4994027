//! Strata core: the resource model, provider and state traits, the dependency graph, plans and
//! the executor.
//!
//! The flow is: [`loader`] reads manifests into [`Resource`]s; [`Graph`] orders them;
//! [`references`] fills the fields their Crossplane references stand for; [`plan::observe_all`]
//! asks each resource's [`Provider`] what is live; [`plan::compute_plan`]
//! decides one [`plan::Action`] per resource and checks the guards; [`schedule::Schedule`] orders
//! the plan as ArgoCD orders a sync (phases, waves, kind order, hooks, prune waves, gates); and
//! [`executor::execute`] — the one apply path, used by the CLI, the controllers and embedders —
//! carries it out with bounded parallelism while a [`StateStore`] records every step. [`Engine`]
//! bundles these for the common case.
//!
//! ```
//! use std::sync::Arc;
//! use strata_core::{Engine, IdentityNormalizer, ProviderRegistry, Resource, SandboxProvider};
//! use strata_core::executor::{cancellation, ExecutorConfig, Event};
//! use strata_core::plan::{Action, PlanOptions};
//! use strata_core::state::LocalStateStore;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let engine = Engine {
//!     registry: ProviderRegistry::new()
//!         .with_fallback(Arc::new(SandboxProvider::new(dir.path().join("world")))),
//!     normalizer: Arc::new(IdentityNormalizer),
//!     store: Arc::new(LocalStateStore::new(dir.path().join("state.json"))),
//!     config: ExecutorConfig::default(),
//! };
//! let desired = vec![Resource::from_manifest(serde_json::json!({
//!     "apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "Bucket",
//!     "metadata": {"name": "assets"}, "spec": {"forProvider": {"region": "eu-west-1"}}
//! })).unwrap()];
//! let options = PlanOptions::new("demo");
//! let (plan, state) = engine.plan(desired.as_slice(), &options).await.unwrap();
//! assert_eq!(plan.changes[0].action, Action::Create);
//! let (_handle, cancel) = cancellation();
//! let report = engine.apply(&plan, state, "apply", Arc::new(|_: Event| {}), cancel).await.unwrap();
//! assert!(report.is_success());
//! let (again, _) = engine.plan(desired, &options).await.unwrap();
//! assert!(!again.has_changes());
//! # });
//! ```

pub mod cause;
pub mod compact;
pub mod config;
pub mod crash;
pub mod engine;
pub mod executor;
pub mod field_path;
pub mod graph;
pub mod import;
pub mod live;
pub mod loader;
pub mod model;
pub mod names;
pub mod normalize;
pub mod object;
pub mod ownership;
pub mod par;
pub mod plan;
pub mod policy;
pub mod provider;
pub mod recover;
pub mod references;
pub mod replace;
pub mod retry;
pub mod sandbox;
pub mod schedule;
pub mod schema;
pub mod sensitive;
pub mod source;
pub mod state;
pub mod sync;
pub mod user_regex;
pub mod validate;
pub mod yaml;
mod yaml_block;
pub mod yaml_go;
pub mod yaml_position;

pub use compact::CompactValue;
pub use engine::{Engine, EngineError, Streamed};
pub use graph::{Graph, GraphError};
pub use live::LiveObject;
pub use model::{KeyText, Resource, ResourceKey, SourceLocation};
pub use normalize::{IdentityNormalizer, Normalizer};
pub use provider::{ErrorClass, Health, Observation, Provider, ProviderError, ProviderRegistry};
pub use references::{ReferenceError, ReferenceSource};
pub use replace::ReplaceRules;
pub use sandbox::SandboxProvider;
pub use state::{LocalStateStore, State, StateStore};
