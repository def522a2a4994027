//! Pure helpers over manifests: the body sent with server-side apply, kinds and versions,
//! Strata's ownership selector and the choice of prune candidates.

use std::collections::HashSet;

use serde_json::Value;
use strata_core::ResourceKey;
use strata_core::model::{LABEL_MANAGED_BY, LABEL_STACK, MANAGED_BY_STRATA};

/// Metadata fields the server owns; they are never sent with an apply.
pub const SERVER_METADATA: [&str; 7] = [
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "managedFields",
    "generation",
    "selfLink",
    "deletionTimestamp",
];

/// `(group, version)` of an `apiVersion` (`apps/v1` → `("apps", "v1")`, `v1` → `("", "v1")`):
/// core's reading, the one used everywhere.
pub use strata_core::object::split_api_version;

/// The body of a server-side apply: the manifest without `status` and server-owned metadata.
pub fn apply_body(manifest: &Value) -> Value {
    let mut body = manifest.clone();
    if let Some(object) = body.as_object_mut() {
        object.shift_remove("status");
        if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in SERVER_METADATA {
                metadata.shift_remove(field);
            }
        }
    }
    body
}

/// The label selector matching everything stack `stack` owns.
pub fn ownership_selector(stack: &str) -> String {
    format!("{LABEL_MANAGED_BY}={MANAGED_BY_STRATA},{LABEL_STACK}={stack}")
}

/// Live objects that carry the stack's ownership labels but are not in the desired set: the
/// prune candidates. Objects of another stack or being deleted already are left out.
pub fn prune_candidates(
    desired: &HashSet<ResourceKey>,
    owned: Vec<Value>,
    stack: &str,
) -> Vec<Value> {
    owned
        .into_iter()
        .filter(|live| {
            strata_core::model::label(live, LABEL_MANAGED_BY) == Some(MANAGED_BY_STRATA)
                && strata_core::model::label(live, LABEL_STACK) == Some(stack)
        })
        .filter(|live| live.pointer("/metadata/deletionTimestamp").is_none())
        .filter(|live| ResourceKey::from_manifest(live).is_ok_and(|key| !desired.contains(&key)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn apply_body_drops_status_and_server_fields() {
        let body = apply_body(&json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "resourceVersion": "7", "uid": "u", "labels": {"x": "y"}},
            "data": {"k": "v"}, "status": {"s": 1}}));
        assert_eq!(
            body,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "a", "labels": {"x": "y"}}, "data": {"k": "v"}})
        );
    }

    #[test]
    fn candidates_are_owned_objects_outside_the_desired_set() {
        let owned = |name: &str, stack: &str| {
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "d",
                "labels": {"app.kubernetes.io/managed-by": "strata", "strata.dev/stack": stack}}})
        };
        let desired: HashSet<ResourceKey> = [ResourceKey::new("", "ConfigMap", Some("d"), "keep")]
            .into_iter()
            .collect();
        let found = prune_candidates(
            &desired,
            vec![owned("keep", "s"), owned("gone", "s"), owned("other", "t")],
            "s",
        );
        let names: Vec<&str> = found
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["gone"]);
        assert_eq!(
            ownership_selector("s"),
            "app.kubernetes.io/managed-by=strata,strata.dev/stack=s"
        );
    }
}
