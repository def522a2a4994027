//! Sync waves and the kind order inside a wave.

use serde_json::Value;

use crate::object::annotation;

/// Argo sync-wave annotation.
pub const SYNC_WAVE_ANNOTATION: &str = "argocd.argoproj.io/sync-wave";
/// Helm hook weight annotation, the fallback wave.
pub const HELM_HOOK_WEIGHT_ANNOTATION: &str = "helm.sh/hook-weight";

/// Kinds in apply order (Helm's kind sorter); any other kind comes after all of them.
pub const KIND_ORDER: [&str; 35] = [
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
];

/// The rank of a kind inside a wave: negative for listed kinds (earlier is smaller), 0 for any
/// other kind. The group is ignored.
pub fn kind_rank(kind: &str) -> i32 {
    KIND_ORDER
        .iter()
        .position(|k| *k == kind)
        .map(|i| i as i32 - KIND_ORDER.len() as i32)
        .unwrap_or(0)
}

/// The wave of an object: `sync-wave` parsed as an integer (no whitespace trimming), else
/// `helm.sh/hook-weight` (for non-hooks too), else 0.
pub fn sync_wave(obj: &Value) -> i64 {
    [SYNC_WAVE_ANNOTATION, HELM_HOOK_WEIGHT_ANNOTATION]
        .into_iter()
        .find_map(|key| annotation(obj, key).and_then(parse_go_int))
        .unwrap_or(0)
}

/// Parses an integer as Go's `strconv.Atoi` does (optional sign, decimal digits, nothing else).
fn parse_go_int(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ranks() {
        assert!(kind_rank("Namespace") < kind_rank("Deployment"));
        assert!(kind_rank("APIService") < kind_rank("Widget"));
        assert_eq!(kind_rank("Widget"), 0);
    }

    #[test]
    fn waves_parse_like_go() {
        let wave =
            |v: &str| sync_wave(&json!({"metadata": {"annotations": {SYNC_WAVE_ANNOTATION: v}}}));
        assert_eq!(wave("-3"), -3);
        assert_eq!(wave("+2"), 2);
        assert_eq!(wave(" 2"), 0);
        assert_eq!(wave("2x"), 0);
        assert_eq!(sync_wave(&json!({})), 0);
    }
}
