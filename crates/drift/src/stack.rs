//! The drift-report inputs of a stack: each desired resource (as applied: with the stack's
//! ownership labels), its record in the state and its live object; then each recorded
//! resource that Git no longer declares.
//!
//! Desired and live values go in the state's form (sensitive values as digests), so secrets
//! compare by digest and never reach a report.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;
use strata_core::engine::{EngineError, Streamed};
use strata_core::plan::{Observations, Observed};
use strata_core::sensitive::Sensitivity;
use strata_core::state::ResourceState;
use strata_core::{Engine, Graph, Resource, ResourceKey, State};

use crate::engine::{DriftEngine, ResourceInput};
use crate::report::{DriftReport, ReportError};
use crate::three_way::ResourceDrift;

/// The inputs of a drift report over `desired` (the stack `stack`'s resources from Git), the
/// `state` recorded at the last apply and the `observations` of the world, made one at a time
/// as the report consumes them: each input's copies (the desired manifest stamped and digested,
/// the live object digested) live only while that resource is compared, so a report over a
/// large stack holds its results, not a second copy of every object.
///
/// [`stream_report`] goes further: it compares each live object as it is observed, so the
/// observations are never gathered; its report is the same as
/// `engine.report(stack_inputs(…))`.
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
            .and_then(|o| o.live.as_ref().map(|l| l.value()))
    };
    let declared: BTreeSet<&ResourceKey> = desired.iter().map(|r| &r.key).collect();
    let declared_inputs = desired.iter().map(move |resource| {
        declared_input(
            stack,
            resource,
            state,
            sensitivity,
            live_of(&resource.key).as_deref(),
        )
    });
    let recorded_only = state
        .resources
        .values()
        .filter(move |record| !declared.contains(&record.key))
        .map(move |record| recorded_input(record, sensitivity, live_of(&record.key).as_deref()));
    declared_inputs.chain(recorded_only)
}

/// The input of a declared resource: desired as applied (with the stack's ownership labels),
/// its record and its live object, sensitive values as digests.
fn declared_input(
    stack: &str,
    resource: &Resource,
    state: &State,
    sensitivity: &Sensitivity,
    live: Option<&Value>,
) -> ResourceInput {
    let applied = strata_core::ownership::stamp(&resource.manifest, stack);
    ResourceInput {
        desired: Some(sensitivity.digest(&resource.key, &applied)),
        last_applied: state.get(&resource.key).map(|r| r.last_applied.to_value()),
        live: live.map(|live| sensitivity.digest(&resource.key, live)),
    }
}

/// The input of a recorded resource that Git no longer declares.
fn recorded_input(
    record: &ResourceState,
    sensitivity: &Sensitivity,
    live: Option<&Value>,
) -> ResourceInput {
    ResourceInput {
        desired: None,
        last_applied: Some(record.last_applied.to_value()),
        live: live.map(|live| sensitivity.digest(&record.key, live)),
    }
}

/// One resource's entry in a report: its drift, or the error in its place.
type Entry = Result<ResourceDrift, ReportError>;

/// A stack's drift report made as observations arrive, in any order: each live object is
/// compared as it comes ([`StackReport::observed`]) and only the result is kept; the report
/// ([`StackReport::finish`]) lists the resources in [`stack_inputs`]' order (declared ones
/// in desired order, then the recorded ones Git no longer declares, in the state's order),
/// those never observed compared with no live object.
#[derive(Debug)]
pub struct StackReport<'a> {
    engine: &'a DriftEngine,
    stack: &'a str,
    state: &'a State,
    sensitivity: &'a Sensitivity,
    /// The entries of the declared resources, by position.
    declared: Vec<Option<Entry>>,
    /// The entries of the recorded resources observed.
    recorded: HashMap<ResourceKey, Entry>,
}

impl<'a> StackReport<'a> {
    /// A report of the stack `stack` with `declared` desired resources, against `state`.
    pub fn new(
        engine: &'a DriftEngine,
        stack: &'a str,
        declared: usize,
        state: &'a State,
        sensitivity: &'a Sensitivity,
    ) -> Self {
        Self {
            engine,
            stack,
            state,
            sensitivity,
            declared: std::iter::repeat_with(|| None).take(declared).collect(),
            recorded: HashMap::new(),
        }
    }

    /// Compares one observed resource (`live`: its live object, `None` when absent) and keeps
    /// the result; the live object is not kept. A desired resource must be given as the
    /// report will list it (references resolved).
    pub fn observed(&mut self, observed: Observed<'_>, live: Option<&Value>) {
        match observed {
            Observed::Desired { position, resource } => {
                let input =
                    declared_input(self.stack, resource, self.state, self.sensitivity, live);
                let entry = self.engine.entry(&input);
                if let Some(slot) = self.declared.get_mut(position) {
                    *slot = Some(entry);
                }
            }
            Observed::Recorded { resource } => {
                let Some(record) = self.state.get(&resource.key) else {
                    return;
                };
                let entry = self
                    .engine
                    .entry(&recorded_input(record, self.sensitivity, live));
                self.recorded.insert(resource.key.clone(), entry);
            }
            // A kind of observation this report does not know is not part of it.
            _ => {}
        }
    }

    /// The report over `desired` (the resources the report was made for, as they were
    /// observed), in [`stack_inputs`]' order.
    pub fn finish(mut self, desired: &[Resource]) -> DriftReport {
        let mut report = DriftReport::default();
        for (position, resource) in desired.iter().enumerate() {
            let entry = match self.declared.get_mut(position).and_then(Option::take) {
                Some(entry) => entry,
                None => self.engine.entry(&declared_input(
                    self.stack,
                    resource,
                    self.state,
                    self.sensitivity,
                    None,
                )),
            };
            report.push(entry);
        }
        let declared: BTreeSet<&ResourceKey> = desired.iter().map(|r| &r.key).collect();
        for record in self.state.resources.values() {
            if declared.contains(&record.key) {
                continue;
            }
            let entry = match self.recorded.remove(&record.key) {
                Some(entry) => entry,
                None => self
                    .engine
                    .entry(&recorded_input(record, self.sensitivity, None)),
            };
            report.push(entry);
        }
        report
    }
}

/// The drift report of the stack `stack` (its resources from Git: `desired`, with `graph`
/// their graph; its `state`), observing through `engine`: references are resolved as a plan
/// resolves them ([`Engine::resolve_and_observe_each`]) and each live object is compared as
/// it arrives and dropped, so the report holds its results and the observations in flight,
/// plus the live objects other resources' references read until those are resolved. The
/// report equals `drift.report(stack_inputs(…))` over [`Engine::resolve_and_observe`]'s
/// observations. `desired` is left with its references filled.
pub async fn stream_report(
    engine: &Engine,
    drift: &DriftEngine,
    stack: &str,
    desired: &mut [Resource],
    graph: &Graph,
    state: &State,
    sensitivity: &Sensitivity,
) -> Result<(DriftReport, Streamed), EngineError> {
    let mut report = StackReport::new(drift, stack, desired.len(), state, sensitivity);
    let streamed = engine
        .resolve_and_observe_each(desired, graph, state, |observed, observation| {
            report.observed(
                observed,
                observation.live.as_ref().map(|l| l.value()).as_deref(),
            );
        })
        .await?;
    Ok((report.finish(desired), streamed))
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
                last_applied: (&r.manifest).into(),
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
