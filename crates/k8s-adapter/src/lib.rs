//! Strata's Kubernetes adapter.
//!
//! The pure parts, usable without a cluster:
//!
//! * [`health`]: ArgoCD-compatible health assessment of live objects ([`health_of`]), user rules
//!   by group/kind in a [`HealthRegistry`] (Rust closures or sandboxed Lua scripts, see [`lua`]),
//!   and the application aggregate ([`health::aggregate_health`]);
//! * [`sync`]: ArgoCD's sync ordering ([`plan_sync`]) as ordered groups with health gates.
//!
//! The parts that talk to a cluster (kube 5, tested against kube's tower-test mock API server):
//!
//! * [`provider`]: [`KubeProvider`], core's `Provider` for any kind through discovery and the
//!   dynamic API (server-side apply with field manager `strata`, delete with propagation, prune
//!   by ownership labels, CreateNamespace, retryable/final error mapping); [`client`] connects
//!   through the kubeconfig (context selectable) or the in-cluster configuration;
//! * [`waves`]: a core plan applied group by group in [`plan_sync`]'s order, waiting for health
//!   between gated groups;
//! * [`controller`]: a kube-runtime reconciler for claims and composites, with Lease leader
//!   election.
//!
//! ```
//! use serde_json::json;
//! use strata_k8s::{HealthRegistry, HealthStatusCode, SyncPlanOptions, SyncResource, health_of, plan_sync};
//!
//! let deployment = json!({
//!     "apiVersion": "apps/v1", "kind": "Deployment",
//!     "metadata": {"name": "web", "generation": 2},
//!     "spec": {"replicas": 3},
//!     "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1},
//! });
//! let health = health_of(&deployment).expect("Deployments have a check");
//! assert_eq!(health.status, HealthStatusCode::Progressing);
//! assert_eq!(health.message, "Waiting for rollout to finish: 1 out of 3 new replicas have been updated...");
//!
//! // A user rule in ArgoCD's Lua dialect, without recompiling.
//! let mut registry = HealthRegistry::new();
//! registry.add_argocd_health_entry(
//!     "resource.customizations.health.example.org_Widget",
//!     r#"hs = {}
//!        if obj.status ~= nil and obj.status.ready then
//!          hs.status = "Healthy"; hs.message = "widget is ready"
//!        else
//!          hs.status = "Progressing"; hs.message = "waiting for widget"
//!        end
//!        return hs"#,
//! )?;
//! let widget = json!({"apiVersion": "example.org/v1", "kind": "Widget", "status": {"ready": true}});
//! assert_eq!(registry.assess(&widget).map(|h| h.message), Some("widget is ready".to_string()));
//!
//! // Sync ordering: a PreSync hook, then the wave-0 resources by kind, then wave 1.
//! let migrate = json!({"apiVersion": "batch/v1", "kind": "Job",
//!     "metadata": {"name": "migrate", "annotations": {"argocd.argoproj.io/hook": "PreSync"}}});
//! let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
//! let api = json!({"apiVersion": "apps/v1", "kind": "Deployment",
//!     "metadata": {"name": "api", "namespace": "shop", "annotations": {"argocd.argoproj.io/sync-wave": "1"}}});
//! let resources = [SyncResource::target(&migrate), SyncResource::target(&api), SyncResource::target(&ns)];
//! let plan = plan_sync(&resources, &SyncPlanOptions::default());
//! let order: Vec<Vec<&str>> = plan.groups.iter()
//!     .map(|g| g.resources().map(|r| r.name.as_str()).collect())
//!     .collect();
//! assert_eq!(order, vec![vec!["migrate"], vec!["shop"], vec!["api"]]);
//! assert!(plan.groups.iter().all(|g| g.health_gate));
//! # Ok::<(), strata_k8s::lua::LuaHealthError>(())
//! ```

pub mod client;
pub mod controller;
pub mod health;
pub mod lua;
pub mod provider;
pub mod sync;
pub mod waves;

pub use client::{ConnectOptions, connect};
pub use health::{HealthRegistry, HealthStatus, HealthStatusCode, health_of};
pub use provider::{KubeProvider, KubeProviderOptions, Propagation};
pub use sync::{SyncGroup, SyncPlan, SyncPlanOptions, SyncResource, plan_sync};
