//! Claim → composite mapping (Crossplane v1 claims).

use crate::metadata::{LABEL_CLAIM_NAME, LABEL_CLAIM_NAMESPACE};
use serde_json::{Map, Value, json};

/// Claim-only spec fields that are not copied to the composite.
const CLAIM_ONLY: [&str; 5] = [
    "compositeDeletePolicy",
    "resourceRef",
    "writeConnectionSecretToRef",
    "publishConnectionDetailsTo",
    "compositionRevisionRef",
];

/// Whether a label or annotation key belongs to Kubernetes (`*kubernetes.io/`, `*k8s.io/`).
fn reserved(key: &str) -> bool {
    match key.split_once('/') {
        Some((domain, _)) => domain.ends_with("kubernetes.io") || domain.ends_with("k8s.io"),
        None => false,
    }
}

fn filtered(m: Option<&Value>) -> Map<String, Value> {
    m.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !reserved(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Derives the composite from a claim. `composition_update_policy` `Manual` propagates
/// `compositionRevisionRef`; with an enforced composition the claim's `compositionRef` is withheld.
pub fn claim_to_composite(
    claim: &Value,
    composite_api_version: &str,
    composite_kind: &str,
    composition_update_policy: Option<&str>,
    enforced_composition: Option<&str>,
) -> Value {
    let meta = claim.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let name = meta.get("name").and_then(Value::as_str).unwrap_or("");
    let namespace = meta.get("namespace").and_then(Value::as_str).unwrap_or("");
    let mut labels = filtered(meta.get("labels"));
    labels.insert(LABEL_CLAIM_NAME.into(), json!(name));
    labels.insert(LABEL_CLAIM_NAMESPACE.into(), json!(namespace));
    let annotations = filtered(meta.get("annotations"));

    let mut spec = claim
        .get("spec")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let bound = spec
        .get("resourceRef")
        .and_then(|r| r.get("name"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    for f in CLAIM_ONLY {
        if f == "compositionRevisionRef" && composition_update_policy == Some("Manual") {
            continue;
        }
        spec.shift_remove(f);
    }
    if enforced_composition.is_some() {
        // The XRD enforces the composition: the claim's choice is not propagated.
        spec.shift_remove("compositionRef");
    }
    spec.insert(
        "claimRef".into(),
        json!({
            "apiVersion": claim.get("apiVersion").cloned().unwrap_or(json!("")),
            "kind": claim.get("kind").cloned().unwrap_or(json!("")),
            "name": name,
            "namespace": namespace,
        }),
    );
    let mut out_meta = Map::new();
    match bound {
        Some(n) => {
            out_meta.insert("name".into(), json!(n));
        }
        None => {
            out_meta.insert("generateName".into(), json!(format!("{name}-")));
        }
    }
    out_meta.insert("labels".into(), Value::Object(labels));
    if !annotations.is_empty() {
        out_meta.insert("annotations".into(), Value::Object(annotations));
    }
    json!({
        "apiVersion": composite_api_version,
        "kind": composite_kind,
        "metadata": out_meta,
        "spec": spec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_claim_fields() {
        let claim = json!({"apiVersion": "db.example.org/v1", "kind": "Database",
            "metadata": {"name": "d", "namespace": "ns", "labels": {"app.kubernetes.io/name": "x", "team": "a"}},
            "spec": {"size": "small", "writeConnectionSecretToRef": {"name": "s"}, "compositionRef": {"name": "c"}}});
        let xr = claim_to_composite(&claim, "db.example.org/v1", "XDatabase", None, None);
        assert_eq!(xr["metadata"]["generateName"], json!("d-"));
        assert_eq!(
            xr["metadata"]["labels"],
            json!({"team": "a", "crossplane.io/claim-name": "d", "crossplane.io/claim-namespace": "ns"})
        );
        assert_eq!(
            xr["spec"],
            json!({"size": "small", "compositionRef": {"name": "c"},
            "claimRef": {"apiVersion": "db.example.org/v1", "kind": "Database", "name": "d", "namespace": "ns"}})
        );
    }
}
