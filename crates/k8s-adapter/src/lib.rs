//! Strata's Kubernetes adapter: everything that talks to an API server.
//!
//! * [`provider`]: [`KubeProvider`], core's `Provider` for any kind through discovery and the
//!   dynamic API (server-side apply with field manager `strata`, delete with propagation, prune
//!   by ownership labels, CreateNamespace, retryable/final error mapping); [`client`] connects
//!   through the kubeconfig (context selectable) or the in-cluster configuration;
//! * [`controller`]: a kube-runtime reconciler for claims and composites, with Lease leader
//!   election.
//!
//! The pure parts it builds on live elsewhere: health assessment in `strata_health`, ArgoCD's
//! sync ordering in `strata_core::sync` and `strata_core::schedule`, applied by core's one
//! executor.
//!
//! Tested against a real etcd and kube-apiserver (`crates/testkube`; `tests/real_apiserver.rs`):
//! server-side apply (create, no-op, update, conflicts naming the other manager, force, removal
//! of fields no longer set), CRDs established before their custom resources, cluster-scoped
//! kinds, server validation errors. Still tested only against kube's tower-test mock (scripted
//! requests): prune, the claim controller, leader election and watch resumption — they move to
//! the real server next.

pub mod client;
pub mod controller;
pub mod provider;

pub use client::{ConnectOptions, connect};
pub use provider::{KubeProvider, KubeProviderOptions, Propagation, replace_rules};
