//! The entry points: [`DriftEngine`] (rules + policy → reports) and [`DriftNormalizer`]
//! (drift normalisation behind core's `Normalizer` trait).

use serde_json::Value;
use strata_core::Normalizer;

use crate::managed_fields::remove_trusted_manager_fields;
use crate::merge::{key_value, merge_key, same_key};
use crate::normalize::{DriftRules, strip_server_fields};
use crate::object::{key_of, last_applied_of};
use crate::policy::DriftPolicy;
use crate::report::{DriftReport, ReportError};
use crate::three_way::{ResourceDrift, diff_three_way};

/// One resource to compare: any side may be absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceInput {
    /// The desired manifest (from Git).
    pub desired: Option<Value>,
    /// The configuration recorded at the last apply (from state). When `None`, the live
    /// object's `kubectl.kubernetes.io/last-applied-configuration` annotation is used if present.
    pub last_applied: Option<Value>,
    /// The live object (from the world).
    pub live: Option<Value>,
}

/// Normalisation rules plus drift policy: computes per-resource drift and whole reports.
#[derive(Debug, Clone, Default)]
pub struct DriftEngine {
    rules: DriftRules,
    policy: DriftPolicy,
}

impl DriftEngine {
    /// An engine with the given rules and policy.
    pub fn new(rules: DriftRules, policy: DriftPolicy) -> Self {
        Self { rules, policy }
    }

    /// The normalisation rules.
    pub fn rules(&self) -> &DriftRules {
        &self.rules
    }

    /// The drift policy.
    pub fn policy(&self) -> &DriftPolicy {
        &self.policy
    }

    /// Drift of one resource, with the policy mode that applies to it.
    pub fn diff(
        &self,
        desired: Option<&Value>,
        last_applied: Option<&Value>,
        live: Option<&Value>,
    ) -> ResourceDrift {
        let annotated = match (last_applied, live) {
            (None, Some(l)) => last_applied_of(l),
            _ => None,
        };
        let mut drift = diff_three_way(
            desired,
            last_applied.or(annotated.as_ref()),
            live,
            &self.rules,
        );
        if let Some(m) = desired.or(live) {
            drift.policy = self.policy.mode_for(m);
        }
        drift
    }

    /// A report over many resources.
    pub fn report<I>(&self, inputs: I) -> DriftReport
    where
        I: IntoIterator<Item = ResourceInput>,
    {
        let mut report = DriftReport::default();
        for input in inputs {
            report.push(self.entry(&input));
        }
        report
    }

    /// One input's entry in a report: its drift, or the error that stands in its place.
    pub(crate) fn entry(&self, input: &ResourceInput) -> Result<ResourceDrift, ReportError> {
        let has_identity = [&input.desired, &input.live]
            .iter()
            .any(|v| v.as_ref().is_some_and(|v| v.get("kind").is_some()));
        if !has_identity && (input.desired.is_some() || input.live.is_some()) {
            return Err(ReportError {
                resource: None,
                message: "manifest has no kind".to_string(),
            });
        }
        Ok(self.diff(
            input.desired.as_ref(),
            input.last_applied.as_ref(),
            input.live.as_ref(),
        ))
    }
}

/// Drift normalisation for core's plan: desired and live are normalised with the rules, server
/// metadata is removed, and live is projected onto the fields desired sets, so that equal values
/// mean "no change".
#[derive(Debug, Clone, Default)]
pub struct DriftNormalizer {
    rules: DriftRules,
}

impl DriftNormalizer {
    /// A normaliser using the given rules.
    pub fn new(rules: DriftRules) -> Self {
        Self { rules }
    }
}

impl Normalizer for DriftNormalizer {
    /// Yes for resources only the generic normalisations apply to ([`DriftRules::is_plain`]:
    /// numbers, quantity spellings, server-owned metadata, each field rewritten alone and
    /// alike on both sides); no where an ignore entry, a trusted manager, a known-type field or
    /// a kind's own rules (Secret, Role, ClusterRole, Endpoints) apply.
    fn unchanged_when_fields_equal(&self, desired: &Value) -> bool {
        self.rules.is_plain(&key_of(desired))
    }

    /// For plain resources (see above), the drift report's copy-free walk
    /// (`fast::certainly_in_sync`), which also equates what the generic normalisations equate:
    /// fields a live list item has beyond the manifest's, server-owned metadata, integral
    /// floats, quantity spellings of built-in kinds.
    fn certainly_unchanged(&self, desired: &Value, live: &Value) -> bool {
        let key = key_of(desired);
        // The walk takes namespaces as equal (the drift report's tolerance); a plan compares
        // a namespace the manifest sets (a cluster-scoped kind's live object has none).
        fn namespace(v: &Value) -> Option<&Value> {
            v.get("metadata").and_then(|m| m.get("namespace"))
        }
        let namespace_kept = namespace(desired).is_none_or(|n| namespace(live) == Some(n));
        self.rules.is_plain(&key)
            && namespace_kept
            && crate::fast::certainly_in_sync(
                desired,
                Some(desired),
                live,
                true,
                crate::object::is_builtin_group(&key.group),
            )
    }

    fn normalize(&self, desired: &Value, live: &Value) -> (Value, Value) {
        // Fields a trusted manager (`managedFieldsManagers`) owns and changed are no change, as
        // in the drift report: without this a plan would overwrite them.
        let managers = if live.is_null() {
            Vec::new()
        } else {
            self.rules.managers_for(&key_of(desired))
        };
        let trusted;
        let (desired, live) = if managers.is_empty() {
            (desired, live)
        } else {
            let mut d = desired.clone();
            let mut l = live.clone();
            remove_trusted_manager_fields(&mut d, &mut l, &managers);
            trusted = (d, l);
            (&trusted.0, &trusted.1)
        };
        let mut d = self.rules.normalize(desired);
        strip_server_fields(&mut d);
        drop_empty_annotations(&mut d);
        if live.is_null() {
            return (d, Value::Null);
        }
        let mut l = self.rules.normalize(live);
        strip_server_fields(&mut l);
        let projected = project(&l, &d, None);
        (d, projected)
    }
}

/// Keeps only the parts of `live` that `desired` sets (keyed lists matched by key and put in
/// desired's order; other lists index by index).
pub fn project(live: &Value, desired: &Value, field: Option<&str>) -> Value {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => {
            // Sized for desired's fields (at most that many are kept): collecting a filtered
            // iterator would grow the map by doubling from nothing.
            let mut projected = serde_json::Map::with_capacity(d.len());
            projected.extend(
                d.iter()
                    .filter_map(|(k, dv)| match crate::lookup::field(l, k) {
                        Some(lv) => Some((k.clone(), project(lv, dv, Some(k)))),
                        None if dv.is_null() => Some((k.clone(), Value::Null)),
                        None => None,
                    }),
            );
            Value::Object(projected)
        }
        (Value::Array(l), Value::Array(d)) => {
            let key = field.and_then(|f| merge_key(f, d.first().or(l.first())));
            let keyed = key.filter(|key| {
                d.iter()
                    .chain(l.iter())
                    .all(|v| key.iter().all(|k| key_value(v, k).is_some()))
            });
            match keyed {
                // live items desired does not list are not drift (two-way semantics)
                Some(key) => Value::Array(
                    d.iter()
                        .filter_map(|di| {
                            l.iter()
                                .find(|li| same_key(li, di, key))
                                .map(|li| project(li, di, None))
                        })
                        .collect(),
                ),
                None => Value::Array(
                    l.iter()
                        .enumerate()
                        .map(|(i, lv)| match d.get(i) {
                            Some(dv) => project(lv, dv, None),
                            None => lv.clone(),
                        })
                        .collect(),
                ),
            }
        }
        _ => live.clone(),
    }
}

/// Removes an empty or null `metadata.annotations` (it means the same as none).
fn drop_empty_annotations(obj: &mut Value) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        let empty = meta
            .get("annotations")
            .is_some_and(|a| a.is_null() || a.as_object().is_some_and(serde_json::Map::is_empty));
        if empty {
            meta.shift_remove("annotations");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IgnoreDifference;
    use serde_json::json;

    #[test]
    fn a_namespace_the_manifest_sets_is_not_taken_as_unchanged_without_comparing() {
        let normalizer = DriftNormalizer::default();
        let desired = json!({"apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding", "metadata": {"name": "a", "namespace": "team"},
            "subjects": []});
        let mut live = desired.clone();
        live["metadata"]["uid"] = json!("u-1");
        assert!(normalizer.certainly_unchanged(&desired, &live));
        // Served cluster-scoped: no namespace; the full comparison reports it, so must this.
        live["metadata"]
            .as_object_mut()
            .expect("metadata")
            .shift_remove("namespace");
        assert!(!normalizer.certainly_unchanged(&desired, &live));
        let (d, l) = normalizer.normalize(&desired, &live);
        assert!(!strata_core::plan::fields::desired_vs_live(&d, &l).is_empty());
        live["metadata"]["namespace"] = json!("other");
        assert!(!normalizer.certainly_unchanged(&desired, &live));
    }

    #[test]
    fn the_normalizer_drops_differences_a_trusted_manager_owns() {
        let rules = DriftRules::from_ignore_differences(vec![IgnoreDifference {
            kind: "ConfigMap".into(),
            managed_fields_managers: vec!["autoscaler".into()],
            ..IgnoreDifference::default()
        }])
        .expect("valid rules");
        let desired = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "d"}, "data": {"mode": "fast", "replicas": "2"}});
        let live = |replicas: &str, mode: &str| {
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "a", "namespace": "d", "managedFields": [
                    {"manager": "strata", "operation": "Apply", "fieldsV1": {"f:data": {"f:mode": {}}}},
                    {"manager": "autoscaler", "operation": "Update", "fieldsV1": {"f:data": {"f:replicas": {}}}}]},
                "data": {"mode": mode, "replicas": replicas}})
        };
        let trusting = DriftNormalizer::new(rules);
        let (d, l) = trusting.normalize(&desired, &live("5", "fast"));
        assert_eq!(d, l);
        // Fields other managers own still count.
        let (d, l) = trusting.normalize(&desired, &live("5", "slow"));
        assert_ne!(d, l);
        let (d, l) = DriftNormalizer::default().normalize(&desired, &live("5", "fast"));
        assert_ne!(d, l);
    }
}
