//! Strata sources mirror ArgoCD's repo server and application controller's source side: they
//! turn a Git tree into a desired set.
//!
//! - [`application`]: ArgoCD `Application`s (directory and Kustomize sources), app of apps, the
//!   sync policy and ignore rules each Application carries, and claims rendered through the
//!   compositions found beside them;
//! - [`appset`]: `ApplicationSet` generators (list, clusters, git, matrix, merge) and their Go
//!   templates (through `strata_gotemplate`);
//! - [`stack`]: the one entry point from a stack directory (or a tree) to its desired set, its
//!   Applications, their ignore rules as drift rules, and the Application of each resource;
//! - [`kustomize`]: a Kustomize build over a [`strata_core::source::SourceTree`], compared with
//!   `kubectl kustomize` in the tests;
//! - [`repo`]: which tree each `repoURL` is read from — the stack's own, a mapped local
//!   directory, or (`git` feature) a cache of bare mirrors fetched with `git`.
//!
//! Expansion is pure: source trees in, manifests out, no cluster. The only I/O beyond reading
//! trees is the repository cache's fetches, when a resolver with a cache is given.

pub mod application;
pub mod appset;
pub mod helm;
pub mod kustomize;
pub mod repo;
pub mod stack;
