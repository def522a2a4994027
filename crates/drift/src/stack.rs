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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;
    use strata_core::Observation;
    use strata_core::state::{ResourceState, ResourceStatus};

    use super::*;

    fn config_map(name: &str, value: &str) -> Resource {
        Resource::from_manifest(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "web"},
            "data": {"value": value}
        }))
        .unwrap()
    }

    #[test]
    fn declared_then_recorded_only_resources_with_their_live_objects() {
        let kept = config_map("kept", "1");
        let gone = config_map("gone", "1");
        let mut state = State::default();
        for r in [&kept, &gone] {
            state.put(ResourceState {
                key: r.key.clone(),
                api_version: "v1".into(),
                provider: "sandbox".into(),
                status: ResourceStatus::Applied,
                last_applied: r.manifest.clone(),
                dependencies: Vec::new(),
                outputs: serde_json::Value::Null,
                protect: false,
            });
        }
        let mut observations = Observations::new();
        observations.insert(
            gone.key.clone(),
            Observation::present(gone.manifest.clone()),
        );
        let inputs = stack_inputs(
            "shop",
            std::slice::from_ref(&kept),
            &state,
            &observations,
            &Sensitivity::default(),
        );
        assert_eq!(inputs.len(), 2);
        let desired = inputs[0].desired.as_ref().unwrap();
        assert!(
            desired.pointer("/metadata/labels").is_some(),
            "desired carries the stack's ownership labels: {desired}"
        );
        assert_eq!(inputs[0].live, None);
        assert_eq!(inputs[1].desired, None);
        assert_eq!(inputs[1].live.as_ref(), Some(&gone.manifest));
    }
}
