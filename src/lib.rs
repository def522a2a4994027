//! Strata: GitOps infrastructure as embeddable Rust.
//!
//! This facade re-exports the Strata crates behind features, the way `kube`
//! and `gix` do:
//!
//! | feature       | crate                | what it brings                                   |
//! |---------------|----------------------|--------------------------------------------------|
//! | (always)      | [`core`]             | resource model, graph, plan, executor, state     |
//! | `composition` | [`composition`]      | Crossplane: XRDs, compositions, functions, claims |
//! | `composition`, `sources` | [`gotemplate`] | Go `text/template`, Sprig and `fmt`          |
//! | `sources`     | [`sources`]          | ArgoCD's repo server: Applications, ApplicationSets, Kustomize |
//! | `http`        | [`sources`]          | Helm charts downloaded from Helm repositories and OCI registries (reqwest, rustls) |
//! | `drift`       | [`drift`]            | ArgoCD's diff: normalization, three-way diff, drift reports |
//! | `health`      | [`health`]           | ArgoCD's health assessment, Lua customizations   |
//! | `aws`         | `aws`                | S3 and RDS providers, S3 state backend           |
//! | `k8s`         | `k8s`                | Kubernetes provider, controller runtimes         |

pub use strata_core as core;

#[cfg(feature = "composition")]
pub use strata_composition as composition;

#[cfg(any(feature = "composition", feature = "sources"))]
pub use strata_gotemplate as gotemplate;

#[cfg(feature = "sources")]
pub use strata_sources as sources;

#[cfg(feature = "drift")]
pub use strata_drift as drift;

#[cfg(feature = "health")]
pub use strata_health as health;

#[cfg(feature = "aws")]
pub use strata_aws as aws;

#[cfg(feature = "k8s")]
pub use strata_k8s as k8s;

/// The README's examples, compiled as doctests so they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeExamples;
