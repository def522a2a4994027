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
/// `state` recorded at the last apply and the `observations` of the world, made one at a time
/// as the report consumes them: each input's copies (the desired manifest stamped and digested,
/// the live object digested) live only while that resource is compared, so a report over a
/// large stack holds its results, not a second copy of every object.
pub fn stack_inputs<'a>(
    stack: &'a str,
    desired: &'a [Resource],
    state: &'a State,
    observations: &'a Observations,
    sensitivity: &'a Sensitivity,
) -> impl Iterator<Item = ResourceInput> + 'a {
    let live_of = move |key: &ResourceKey| {
        observations
            .get(key)
            .and_then(|o| o.live.as_ref())
            .map(|live| sensitivity.digest(key, live))
    };
    let declared: BTreeSet<&ResourceKey> = desired.iter().map(|r| &r.key).collect();
    let declared_inputs = desired.iter().map(move |resource| {
        let applied = strata_core::ownership::stamp(&resource.manifest, stack);
        ResourceInput {
            desired: Some(sensitivity.digest(&resource.key, &applied)),
            last_applied: state.get(&resource.key).map(|r| r.last_applied.clone()),
            live: live_of(&resource.key),
        }
    });
    let recorded_only = state
        .resources
        .values()
        .filter(move |record| !declared.contains(&record.key))
        .map(move |record| ResourceInput {
            desired: None,
            last_applied: Some(record.last_applied.clone()),
            live: live_of(&record.key),
        });
    declared_inputs.chain(recorded_only)
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
        )
        .collect::<Vec<_>>();
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
