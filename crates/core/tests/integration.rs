//! Every integration test of this package, as modules of one test binary: one link
//! instead of one per file, and one shared control plane or fake server per run where
//! the modules start one. Run one module with `cargo test --test integration <module>::`.

mod executor_behaviour;
mod graph_properties;
mod graph_update;
mod incremental_plan;
mod observe_many;
mod plan_behaviour;
mod plan_rendering;
mod schedule_behaviour;
mod state_concurrency;
mod state_integrity;
