//! Every integration test of this package, as modules of one test binary: one link
//! instead of one per file, and one shared control plane or fake server per run where
//! the modules start one. Run one module with `cargo test --test integration <module>::`.

mod applications;
mod aws_example;
mod chart_client_cert;
mod cli;
mod controller;
mod crash_recovery;
mod environment_configs;
mod health;
mod helm_application;
mod limits;
mod ownership;
mod plan_cache;
mod plan_snapshot;
mod platform;
mod platform_kube;
mod policies;
mod repositories;
mod saved_plans;
mod stack_config;
mod state_integrity;
mod state_kube;
mod state_recover;
mod state_surgery;
mod sync_order;
mod targeting;
mod validate_kube;
mod validation;
