//! Every integration test of this package, as modules of one test binary: one link
//! instead of one per file, and one shared control plane or fake server per run where
//! the modules start one. Run one module with `cargo test --test integration <module>::`.

mod common;
mod real;

mod controller_mock;
mod kube_state;
mod provider_mock;
mod real_access;
mod real_apiserver;
mod real_controller;
mod real_drift_health;
mod real_observe;
mod real_prune;
mod real_watch;
