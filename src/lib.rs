//! Strata: GitOps infrastructure as embeddable Rust.
//!
//! This facade re-exports the Strata crates behind features, the way `kube`
//! and `gix` do:
//!
//! | feature       | crate                | what it brings                                   |
//! |---------------|----------------------|--------------------------------------------------|
//! | (always)      | [`core`]             | resource model, graph, plan, executor, state     |
//! | `composition` | [`composition`]      | Crossplane-compatible compositions               |
//! | `drift`       | [`drift`]            | normalization, three-way diff, drift reports     |
//! | `aws`         | `aws`                | S3 and RDS providers, S3 state backend           |
//! | `k8s`         | `k8s`                | Kubernetes provider, health, controller runtime  |

pub use strata_core as core;

#[cfg(feature = "composition")]
pub use strata_composition as composition;

#[cfg(feature = "drift")]
pub use strata_drift as drift;

#[cfg(feature = "aws")]
pub use strata_aws as aws;

#[cfg(feature = "k8s")]
pub use strata_k8s as k8s;

/// The README's examples, compiled as doctests so they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeExamples;
