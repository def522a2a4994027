//! Every integration test of this package, as modules of one test binary: one link
//! instead of one per file, and one shared control plane or fake server per run where
//! the modules start one. Run one module with `cargo test --test integration <module>::`.

mod support;

mod charts;
mod controller;
mod deploy_rbac;
mod hostile;
mod notify;
mod planner;
mod server;
mod service;
