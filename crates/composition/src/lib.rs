//! Strata composition: a Crossplane-compatible composition engine written as pure functions
//! over `serde_json::Value` — field paths, patches and transforms (function-patch-and-transform
//! semantics), Go `fmt`, connection details, readiness, composed-resource metadata, XRDs
//! (validation, defaults), claims and composition selection, and a deterministic render.

pub mod appset;
pub mod claim;
pub mod composition;
pub mod connection;
pub mod engine;
pub mod error;
pub mod explain;
pub mod fieldpath;
pub mod function;
pub mod gofmt;
pub mod gotemplate;
pub mod metadata;
pub mod patch;
pub mod readiness;
pub mod render;
#[cfg(any(test, feature = "proptest"))]
pub mod strategies;
pub mod transform;
pub mod value;
pub mod xrd;

pub use composition::{Composition, select_composition};
pub use engine::{CompositeRender, render_object};
pub use error::{Error, Phase, Result};
pub use function::FunctionInput;
pub use render::{RenderOptions, RenderOutput, RenderRequest, render};
