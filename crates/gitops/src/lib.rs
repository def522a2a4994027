//! The GitOps controller: keeps every Application equal to its Git revision, as ArgoCD's
//! application controller does.
//!
//! Per Application it fetches the source at `targetRevision` through the repository cache,
//! renders it (plain manifests, Kustomize, Helm), compares it with the cluster through the one
//! engine (plan), and, by the Application's `syncPolicy`, syncs it (automated, prune,
//! selfHeal, retry) through the one executor. Its status — sync, health, operation state,
//! history, resources — is written where users look: on in-cluster Application objects, in a
//! status store read by `strata app`, in metrics and in notifications.

pub mod app;
pub mod appsets;
pub mod checkout;
pub mod client;
pub mod clusters;
pub mod controller;
pub mod crds;
pub mod notify;
pub mod planning;
pub mod project;
pub mod reconcile;
pub mod repo_secrets;
pub mod roots;
pub mod server;
pub mod service;
pub mod settings;
pub mod status;
pub mod windows;
