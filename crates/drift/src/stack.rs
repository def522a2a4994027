//! The drift-report inputs of a stack: each desired resource (as applied: with the stack's
//! ownership labels), its record in the state and its live object; then each recorded
//! resource that Git no longer declares.
//!
//! Desired and live values go in the state's form (sensitive values as digests), so secrets
//! compare by digest and never reach a report.

use std::collections::BTreeSet;

use strata_core::plan::Observations;
use strata_core::sensitive::Sensitivity;
use strata_core::{Resource, ResourceKey, State};

use crate::engine::ResourceInput;

/// The inputs of a drift report over `desired` (the stack `stack`'s resources from Git), the
/// `state` recorded at the last apply and the `observations` of the world.
pub fn stack_inputs(
    stack: &str,
    desired: &[Resource],
    state: &State,
    observations: &Observations,
    sensitivity: &Sensitivity,
) -> Vec<ResourceInput> {
    let live_of = |key: &ResourceKey| {
        observations
            .get(key)
            .and_then(|o| o.live.as_ref())
            .map(|live| sensitivity.digest(key, live))
    };
    let mut inputs = Vec::with_capacity(desired.len());
    let mut declared = BTreeSet::new();
    for resource in desired {
        declared.insert(&resource.key);
        let applied = strata_core::ownership::stamp(&resource.manifest, stack);
        inputs.push(ResourceInput {
            desired: Some(sensitivity.digest(&resource.key, &applied)),
            last_applied: state.get(&resource.key).map(|r| r.last_applied.clone()),
            live: live_of(&resource.key),
        });
    }
    for record in state.resources.values() {
        if declared.contains(&record.key) {
            continue;
        }
        inputs.push(ResourceInput {
            desired: None,
            last_applied: Some(record.last_applied.clone()),
            live: live_of(&record.key),
        });
    }
    inputs
}
