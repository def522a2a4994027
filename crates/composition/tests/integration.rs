//! Every integration test of this package, as modules of one test binary: one link
//! instead of one per file, and one shared control plane or fake server per run where
//! the modules start one. Run one module with `cargo test --test integration <module>::`.

mod conformance_crossplane;
mod functions_differential;
mod limits;
mod postgresql_example;
mod properties;
mod seed_render;
mod xrd_crds;
