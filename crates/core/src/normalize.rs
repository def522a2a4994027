//! The comparison hook between desired and live objects.
//!
//! Core compares a desired manifest with the live object a provider observed.
//! Before comparing, both go through a [`Normalizer`]: the identity by default,
//! `strata-drift`'s normalizer in practice, so that server-owned fields and
//! equivalent spellings (`1000m` vs `1`) never show up as planned updates.
//! Core never depends on the drift crate; the drift crate implements this trait.

use serde_json::Value;

/// Prepares a desired object and the live object for comparison.
pub trait Normalizer: Send + Sync + std::fmt::Debug {
    /// Returns `(desired, live)` normalized so that equal values mean "no change".
    fn normalize(&self, desired: &Value, live: &Value) -> (Value, Value);

    /// Whether [`Normalizer::normalize`] returns its inputs unchanged, so callers may compare
    /// the originals and skip the copies.
    fn is_identity(&self) -> bool {
        false
    }

    /// Whether, for the resource `desired` describes, a live object holding every field
    /// `desired` sets with the same value is also unchanged once both are normalized, and
    /// normalizing an object normalized once changes it no more: the planner then finds such
    /// a resource unchanged without normalizing (or, for a live object kept as text, even
    /// parsing) it. True when every normalization that applies reads each field alone and
    /// alike on both sides (so normalizing `desired` does not depend on the live object);
    /// the identity's answer is yes, the default no.
    fn unchanged_when_fields_equal(&self, desired: &Value) -> bool {
        let _ = desired;
        self.is_identity()
    }

    /// Whether the normalized comparison of `desired` with `live` certainly finds no change,
    /// decided without normalizing either (`false` when unsure: the planner then normalizes),
    /// and normalizing `desired` once more would change it no more. The default: yes when
    /// [`unchanged_when_fields_equal`](Self::unchanged_when_fields_equal) says so and `live`
    /// holds every field `desired` sets with its value (lists whole; `desired`'s top-level
    /// `status` not read).
    fn certainly_unchanged(&self, desired: &Value, live: &Value) -> bool {
        self.unchanged_when_fields_equal(desired)
            && crate::plan::fields::covers(desired, live, true)
    }
}

/// The identity normalizer: compares objects exactly as given.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdentityNormalizer;

impl Normalizer for IdentityNormalizer {
    fn normalize(&self, desired: &Value, live: &Value) -> (Value, Value) {
        (desired.clone(), live.clone())
    }

    fn is_identity(&self) -> bool {
        true
    }
}
