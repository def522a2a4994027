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
//! executor. Tested against kube's tower-test mock API server.

pub mod client;
pub mod controller;
pub mod provider;

pub use client::{ConnectOptions, connect};
pub use provider::{KubeProvider, KubeProviderOptions, Propagation, replace_rules};
