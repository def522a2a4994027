//! Every integration test of this package, as modules of one test binary: one link
//! instead of one per file, and one shared control plane or fake server per run where
//! the modules start one. Run one module with `cargo test --test integration <module>::`.

mod conformance_drift;
mod properties;
mod report_snapshots;
mod streaming;
mod three_way;
