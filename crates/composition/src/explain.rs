//! The explain trace of a render: for every field written, the patch (index and type),
//! its source paths and the transforms that produced the value.

use crate::patch::Patch;
use serde_json::{Value, json};

/// The object a patch wrote to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A desired composed resource (by composition resource name).
    Composed(String),
    /// The desired composite resource.
    Composite,
    /// The environment.
    Environment,
}

/// One written field and what produced it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldWrite {
    /// The object written.
    pub target: Target,
    /// The concrete field path written (wildcards expanded).
    pub path: String,
    /// Index of the patch (in the template after patch-set inlining, or in `environment.patches`).
    pub patch_index: usize,
    /// The patch type.
    pub patch_type: String,
    /// Whether it is an `environment.patches` entry.
    pub environment_patch: bool,
    /// Source field paths (one, or the combine variables).
    pub sources: Vec<String>,
    /// Combine format, if any.
    pub combine_fmt: Option<String>,
    /// The transforms applied, in order (type names).
    pub transforms: Vec<String>,
}

impl FieldWrite {
    /// Builds the record for a patch write.
    pub fn new(
        target: Target,
        path: String,
        patch: &Patch,
        index: usize,
        environment_patch: bool,
    ) -> FieldWrite {
        let (sources, combine_fmt) = match &patch.combine {
            Some(c) => (
                c.variables.iter().map(|v| v.text.clone()).collect(),
                Some(c.fmt.clone()),
            ),
            None => (patch.from.iter().map(|p| p.text.clone()).collect(), None),
        };
        FieldWrite {
            target,
            path,
            patch_index: index,
            patch_type: patch.ty.as_str().to_string(),
            environment_patch,
            sources,
            combine_fmt,
            transforms: patch
                .transforms
                .iter()
                .map(|t| t.type_name().to_string())
                .collect(),
        }
    }

    /// JSON form (for `strata render --explain`).
    pub fn to_json(&self) -> Value {
        let target = match &self.target {
            Target::Composed(n) => json!({"composed": n}),
            Target::Composite => json!("composite"),
            Target::Environment => json!("environment"),
        };
        json!({
            "target": target,
            "path": self.path,
            "patchIndex": self.patch_index,
            "patchType": self.patch_type,
            "environmentPatch": self.environment_patch,
            "sources": self.sources,
            "combineFmt": self.combine_fmt,
            "transforms": self.transforms,
        })
    }
}
