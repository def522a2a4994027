//! Every integration test of this package, as modules of one test binary: one link
//! instead of one per file, and one shared control plane or fake server per run where
//! the modules start one. Run one module with `cargo test --test integration <module>::`.

mod support;

mod application_expand;
mod appset_generators;
mod conformance_appset;
mod helm_dialect;
mod helm_limits;
// Chart downloads need the HTTP client (the `http` feature; `cargo test --workspace` turns it
// on through the CLI, `cargo test -p stratagit-sources --features http` alone).
#[cfg(feature = "http")]
mod helm_https;
mod helm_multi_source;
#[cfg(feature = "http")]
mod helm_oci;
mod helm_packaged;
#[cfg(feature = "http")]
mod helm_repository;
mod helm_template;
mod kustomize_helm;
#[cfg(feature = "http")]
mod kustomize_helm_pull;
mod kustomize_kubectl;
mod kustomize_yaml_limits;
mod repositories;
