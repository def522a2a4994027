//! The list merge strategies of built-in Kubernetes kinds, as kustomize's bundled OpenAPI
//! schema (Kubernetes 1.21) gives them to strategic-merge patches.
//!
//! Only built-in kinds have a schema: every list of a custom resource (or of a kind the
//! schema does not know) is replaced by a patch, never merged by a guessed key.

/// How a strategic-merge patch combines a list with the list it patches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListStrategy {
    /// The patch's list replaces the target's.
    Replace,
    /// Elements are matched by these keys (the first is the merge key, the others the list's
    /// map keys) and merged.
    Keys(&'static [&'static str]),
    /// A list of scalars merged as a set (patch values first).
    Primitive,
}

/// API groups of built-in kinds.
const BUILTIN_GROUPS: &[&str] = &[
    "apps",
    "batch",
    "extensions",
    "autoscaling",
    "policy",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "admissionregistration.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "certificates.k8s.io",
    "node.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
];

/// Kinds of the core (`v1`) group.
const CORE_KINDS: &[&str] = &[
    "Binding",
    "ComponentStatus",
    "ConfigMap",
    "Endpoints",
    "Event",
    "LimitRange",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Pod",
    "PodTemplate",
    "ReplicationController",
    "ResourceQuota",
    "Secret",
    "Service",
    "ServiceAccount",
];

/// Whether kustomize's schema knows the kind (`group` is the apiVersion's group).
pub(crate) fn is_builtin(group: &str, kind: &str) -> bool {
    if group.is_empty() {
        CORE_KINDS.contains(&kind)
    } else {
        BUILTIN_GROUPS.contains(&group)
    }
}

/// Where a kind keeps its pod spec.
fn pod_spec_prefix(group: &str, kind: &str) -> Option<&'static [&'static str]> {
    match (group, kind) {
        ("", "Pod") => Some(&["spec"]),
        ("", "PodTemplate") => Some(&["template", "spec"]),
        ("", "ReplicationController")
        | ("apps" | "extensions", "Deployment" | "ReplicaSet" | "DaemonSet")
        | ("apps", "StatefulSet")
        | ("batch", "Job") => Some(&["spec", "template", "spec"]),
        ("batch", "CronJob") => Some(&["spec", "jobTemplate", "spec", "template", "spec"]),
        _ => None,
    }
}

const CONTAINER_LISTS: &[&str] = &["containers", "initContainers", "ephemeralContainers"];

fn in_pod_spec(rel: &[&str]) -> ListStrategy {
    match rel {
        [list] if CONTAINER_LISTS.contains(list) => ListStrategy::Keys(&["name"]),
        ["volumes" | "imagePullSecrets"] => ListStrategy::Keys(&["name"]),
        ["hostAliases"] => ListStrategy::Keys(&["ip"]),
        ["topologySpreadConstraints"] => ListStrategy::Keys(&["topologyKey", "whenUnsatisfiable"]),
        [list, field] if CONTAINER_LISTS.contains(list) => match *field {
            "env" => ListStrategy::Keys(&["name"]),
            "ports" => ListStrategy::Keys(&["containerPort", "protocol"]),
            "volumeMounts" => ListStrategy::Keys(&["mountPath"]),
            "volumeDevices" => ListStrategy::Keys(&["devicePath"]),
            _ => ListStrategy::Replace,
        },
        _ => ListStrategy::Replace,
    }
}

/// The strategy for the list at `path` (field names from the resource's root, list indices
/// left out) of a resource of `group`/`kind`.
pub(crate) fn list_strategy(group: &str, kind: &str, path: &[&str]) -> ListStrategy {
    if !is_builtin(group, kind) {
        return ListStrategy::Replace;
    }
    match path {
        [.., "metadata", "ownerReferences"] => return ListStrategy::Keys(&["uid"]),
        [.., "metadata", "finalizers"] => return ListStrategy::Primitive,
        _ => {}
    }
    if let Some(prefix) = pod_spec_prefix(group, kind)
        && let Some(rel) = path.strip_prefix(prefix)
    {
        return in_pod_spec(rel);
    }
    match (group, kind, path) {
        ("", "Service", ["spec", "ports"]) => ListStrategy::Keys(&["port", "protocol"]),
        ("", "ServiceAccount", ["secrets"]) => ListStrategy::Keys(&["name"]),
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration",
            ["webhooks"],
        ) => ListStrategy::Keys(&["name"]),
        _ => ListStrategy::Replace,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_built_in_kinds_merge_lists() {
        let containers = ["spec", "template", "spec", "containers"];
        assert_eq!(
            list_strategy("apps", "Deployment", &containers),
            ListStrategy::Keys(&["name"])
        );
        assert_eq!(
            list_strategy("example.org", "Deployment", &containers),
            ListStrategy::Replace
        );
        assert_eq!(
            list_strategy("", "Bee", &["spec", "steps"]),
            ListStrategy::Replace
        );
        assert_eq!(
            list_strategy(
                "apps",
                "Deployment",
                &["spec", "template", "spec", "tolerations"]
            ),
            ListStrategy::Replace
        );
        assert_eq!(
            list_strategy(
                "batch",
                "CronJob",
                &[
                    "spec",
                    "jobTemplate",
                    "spec",
                    "template",
                    "spec",
                    "containers",
                    "env"
                ]
            ),
            ListStrategy::Keys(&["name"])
        );
    }
}
