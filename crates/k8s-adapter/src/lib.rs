//! Strata's Kubernetes adapter: everything that talks to an API server.
//!
//! * [`provider`]: [`KubeProvider`], core's `Provider` for any kind through discovery and the
//!   dynamic API (server-side apply with field manager `strata`, delete with propagation, prune
//!   by ownership labels, CreateNamespace, retryable/final error mapping); [`client`] connects
//!   through the kubeconfig (context selectable) or the in-cluster configuration;
//! * [`controller`]: a kube-runtime reconciler for claims and composites, the installation of
//!   their CRDs derived from the XRDs (no Crossplane runs to make them), and Lease leader
//!   election;
//! * [`state`]: [`KubeStateStore`], core's `StateStore` kept in the cluster (a Secret holding
//!   the gzip'd state, written conditionally on its `resourceVersion`, and a Lease as the lock),
//!   for controllers without durable disk.
//!
//! The pure parts it builds on live elsewhere: health assessment in `strata_health`, ArgoCD's
//! sync ordering in `strata_core::sync` and `strata_core::schedule`, applied by core's one
//! executor.
//!
//! Tested against a real etcd and kube-apiserver (`crates/testkube`; `tests/real_*.rs`, one
//! control plane per test binary, a namespace per test):
//!
//! * `real_apiserver.rs`: server-side apply (create, no-op, update, conflicts naming the other
//!   manager, force, removal of fields no longer set), CRDs established before their custom
//!   resources, cluster-scoped kinds, CreateNamespace, validation errors (422s, unknown fields
//!   of built-in and custom kinds as final errors that stop their dependents), an API server
//!   that goes away mid-apply (retried, then failed, only the intent in the state), and
//!   routing after discovery (only served kinds and those of the stack's own CRDs);
//! * `real_prune.rs`: prune by ownership labels (other stacks' and unlabelled objects kept,
//!   `Prune=false`, dry run), reverse waves and `PruneLast` as the server sees the deletions,
//!   foreground / background / orphan propagation, kinds that left Git, cluster-scoped kinds,
//!   kinds the cluster does not serve (nothing to prune), and the executor's deletion gate
//!   holding the next wave;
//! * `real_drift_health.rs`: drift from real `managedFields` (a `kubectl patch` attributed to its
//!   manager, healed by the next apply — with the force annotation when the patch moved the
//!   field to another manager — and `managedFieldsManagers` ignoring it in reports and plans),
//!   and health gates fed by live status (a Deployment rolling out, a Degraded custom resource
//!   stopping the next wave);
//! * `real_access.rs`: RBAC of a ServiceAccount with limited rights (403 naming verb, resource
//!   and namespace; other kinds still applied; a prune needs a cluster-wide list), and Lease
//!   leader election (one leader, takeover after expiry within the lease duration, a stolen
//!   lease stopping the work, one winner of a race);
//! * `real_controller.rs`: the composite and claim CRDs derived from an XRD as the server holds
//!   them (names, scope, versions, exactly the generated schema) and enforces them (a claim
//!   outside the XRD's enum or missing Crossplane's required `name` refused with the server's
//!   field message, Crossplane's defaults filled in); the claim controller over those CRDs
//!   (claim → composite → composed resource → Ready and Synced, `spec.resourceRefs`, the XRD's
//!   status fields, connection secret, deletion through the finalizer); and the watch-driven
//!   runtime installing the CRDs before it watches, then taking a claim to Ready;
//! * `real_watch.rs`: the runtime's watches across an API server restart after etcd compacted
//!   every resource version they had seen (resumed watches answered `410 Gone`, listed again, a
//!   claim created after the restart composed);
//! * `real_apiserver.rs` also: a finalizer change from a stale read refused with `409` and
//!   retried on what the server holds (another writer's finalizer kept).
//!
//! No kubelet, controller manager or garbage collector runs there: tests write `status`
//! themselves and stand in for the collector where an object must finish a foreground
//! deletion. Still tested only against kube's tower-test mock (`tests/provider_mock.rs`,
//! `tests/controller_mock.rs`): the exact requests sent (paths, query parameters, bodies), retries
//! of 429 and 5xx answers (a real server does not throttle or fail on demand), watch
//! and the controller's drift self-heal.

pub mod client;
pub mod controller;
pub mod finalizers;
pub mod provider;
pub mod schemas;
pub mod state;

pub use client::{ConnectOptions, connect};
pub use provider::{KubeProvider, KubeProviderOptions, Propagation, replace_rules};
pub use state::KubeStateStore;
