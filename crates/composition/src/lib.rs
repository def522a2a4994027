//! Strata composition mirrors Crossplane: a composition engine written as pure functions over
//! `serde_json::Value` — field paths, patches and transforms (function-patch-and-transform
//! semantics), connection details, readiness, composed-resource metadata, XRDs (validation,
//! defaults), claims and composition selection, and a deterministic render. Go's value model and
//! `fmt` come from `strata_gotemplate` (re-exported here as [`value`] and [`gofmt`]).
//!
//! Entry points:
//! - [`render_object`]: claim or composite + XRDs + compositions → composite, desired
//!   composed resources with Crossplane core's metadata, readiness, explain trace.
//! - [`Composition::parse`] / [`select_composition`] / [`Composition::render`]: one
//!   composition (`mode: Pipeline` with function-patch-and-transform, function-go-templating
//!   ([`gotemplating`]: `Inline`, `FileSystem` and `Environment` sources),
//!   function-environment-configs ([`environment_configs`]: EnvironmentConfigs from
//!   [`RenderRequest::environment_configs`] merged into the pipeline's environment) and
//!   function-auto-ready steps, or legacy `mode: Resources`, whose
//!   `spec.environment.environmentConfigs` run as an environment-configs step). A step
//!   naming any other function fails the render ([`Error::UnsupportedStep`]) unless
//!   [`RenderOptions::skip_unsupported_steps`] is set.
//! - [`render()`] with a [`FunctionInput`] and a [`RenderRequest`]: one function run;
//!   [`render::run_function_request`] answers a function request in the function's shape.
//! - [`xrd::Xrd`] (`validate`, `apply_defaults`), [`claim::claim_to_composite`],
//!   [`metadata::composed_metadata`], [`metadata::child_name`].
//! - [`crd::crds_for`]: an XRD's composite and claim CustomResourceDefinitions, as Crossplane's
//!   XRD controller makes them.
//! - [`catalog`]: finding the XRDs, Compositions, EnvironmentConfigs, claims and composites of
//!   a source tree or directory ([`catalog::find_in_path`], [`catalog::find_in_tree`],
//!   [`catalog::Catalog`]).
//! - Building blocks: [`fieldpath`], [`transform`], [`patch`], [`gofmt::sprintf`],
//!   [`readiness`], [`connection`].

pub mod catalog;
pub mod claim;
pub mod composition;
pub mod connection;
pub mod crd;
pub mod engine;
pub mod environment_configs;
pub mod error;
pub mod explain;
pub mod fieldpath;
pub mod function;
pub mod gotemplating;
pub mod metadata;
pub mod patch;
pub mod readiness;
pub mod render;
#[cfg(any(test, feature = "proptest"))]
pub mod strategies;
pub mod transform;
pub mod xrd;

pub use strata_gotemplate::{gofmt, value};

pub use composition::{Composition, select_composition};
pub use engine::{CompositeRender, render_object};
pub use error::{Error, Phase, Result};
pub use function::FunctionInput;
pub use render::{RenderOptions, RenderOutput, RenderRequest, render};

/// The kinds of Crossplane's own API this crate reads and checks (an XRD's and a
/// Composition's fields are checked when they are parsed; EnvironmentConfigs are what
/// environment-configs steps select), as `(group, kind)`: a stack may
/// apply them, and the sandbox takes them as a cluster with Crossplane would.
pub fn declared_kinds() -> Vec<(String, String)> {
    [
        "CompositeResourceDefinition",
        "Composition",
        "EnvironmentConfig",
    ]
    .iter()
    .map(|kind| ("apiextensions.crossplane.io".to_owned(), (*kind).to_owned()))
    .collect()
}
