//! Namespace, name prefix/suffix, labels, annotations, name references and output order.

use serde_json::{Map, Value};

use super::{Item, KustomizeError, check_fields, invalid, str_at};

/// Built-in kinds that are cluster-scoped (no namespace is set on them).
pub const CLUSTER_SCOPED_KINDS: &[&str] = &[
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "CSIDriver",
    "CSINode",
    "RuntimeClass",
    "PodSecurityPolicy",
    "VolumeAttachment",
    "Node",
    "CertificateSigningRequest",
];

/// Whether a built-in kind is cluster-scoped.
pub fn is_cluster_scoped(kind: &str) -> bool {
    CLUSTER_SCOPED_KINDS.contains(&kind)
}

/// Sets the namespace of every namespaced resource, and of the subjects named `default` of
/// RoleBindings and ClusterRoleBindings (kustomize's default for binding subjects).
pub(crate) fn set_namespace(items: &mut [Item], ns: &str) {
    for item in items.iter_mut() {
        if matches!(
            str_at(&item.manifest, &["kind"]),
            "RoleBinding" | "ClusterRoleBinding"
        ) && let Some(Value::Array(subjects)) = item.manifest.get_mut("subjects")
        {
            for subject in subjects.iter_mut() {
                if subject.get("name").and_then(Value::as_str) == Some("default")
                    && let Some(o) = subject.as_object_mut()
                {
                    o.insert("namespace".into(), Value::String(ns.into()));
                }
            }
        }
        // kustomize records every resource's identity before it sets namespaces.
        item.store_previous_id();
        if is_cluster_scoped(str_at(&item.manifest, &["kind"])) {
            continue;
        }
        meta(&mut item.manifest).insert("namespace".into(), Value::String(ns.into()));
    }
}

fn meta(m: &mut Value) -> &mut Map<String, Value> {
    child_map(m, "metadata")
}

fn child_map<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    let obj = match v {
        Value::Object(o) => o,
        _ => unreachable!("made an object above"),
    };
    let entry = obj
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    match entry {
        Value::Object(o) => o,
        _ => unreachable!("made an object above"),
    }
}

/// Kinds whose `spec.replicas` kustomize's `replicas` sets.
const SCALABLE: &[&str] = &[
    "Deployment",
    "ReplicationController",
    "ReplicaSet",
    "StatefulSet",
];

/// `replicas: [{name, count}]`: sets `spec.replicas` of the scalable resources of that name
/// (as named now, or before any prefix, suffix or hash).
pub(crate) fn set_replicas(
    items: &mut [Item],
    replicas: &Value,
    file: &str,
) -> Result<(), KustomizeError> {
    let list = replicas
        .as_array()
        .ok_or_else(|| invalid(file, "replicas must be a list"))?;
    for (i, entry) in list.iter().enumerate() {
        let at = format!("replicas[{i}]");
        let o = entry
            .as_object()
            .ok_or_else(|| invalid(file, format!("{at} must be a mapping")))?;
        check_fields(o, &["name", "count"], file, &at)?;
        let name = o
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(file, format!("{at}.name is required")))?;
        let count = o
            .get("count")
            .filter(|c| c.is_u64())
            .ok_or_else(|| invalid(file, format!("{at}.count must be a whole number")))?;
        for item in items.iter_mut() {
            let m = &item.manifest;
            if SCALABLE.contains(&str_at(m, &["kind"]))
                && (str_at(m, &["metadata", "name"]) == name || item.original_name == name)
            {
                child_map(&mut item.manifest, "spec").insert("replicas".into(), count.clone());
            }
        }
    }
    Ok(())
}

/// Kinds kustomize never renames.
const NO_PREFIX: &[&str] = &["CustomResourceDefinition", "APIService", "Namespace"];

/// `namePrefix` then `nameSuffix`, as kustomize's two transformers apply them: each records
/// the identity before it renames.
pub(crate) fn prefix_suffix(items: &mut [Item], prefix: &str, suffix: &str) {
    for (affix, is_prefix) in [(prefix, true), (suffix, false)] {
        if affix.is_empty() {
            continue;
        }
        for item in items.iter_mut() {
            if NO_PREFIX.contains(&item.original_kind()) {
                continue;
            }
            item.store_previous_id();
            let name = str_at(&item.manifest, &["metadata", "name"]).to_string();
            let new = if is_prefix {
                item.prefixes.push(affix.to_string());
                format!("{affix}{name}")
            } else {
                item.suffixes.push(affix.to_string());
                format!("{name}{affix}")
            };
            meta(&mut item.manifest).insert("name".into(), Value::String(new));
        }
    }
}

const WORKLOADS: &[&str] = &[
    "Deployment",
    "ReplicaSet",
    "DaemonSet",
    "StatefulSet",
    "Job",
    "ReplicationController",
];

/// Walks to a nested map, creating it when `create`, or returns `None`.
fn path_map<'a>(
    v: &'a mut Value,
    path: &[&str],
    create: bool,
) -> Option<&'a mut Map<String, Value>> {
    let mut cur = v;
    for p in path {
        if !create && cur.get(*p).is_none() {
            return None;
        }
        if !cur.is_object() {
            return None;
        }
        let next = cur
            .as_object_mut()?
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if next.is_null() {
            *next = Value::Object(Map::new());
        }
        cur = next;
    }
    cur.as_object_mut()
}

fn put(map: Option<&mut Map<String, Value>>, pairs: &[(String, String)]) {
    if let Some(m) = map {
        for (k, v) in pairs {
            m.insert(k.clone(), Value::String(v.clone()));
        }
    }
}

pub(crate) fn add_labels(
    items: &mut [Item],
    pairs: &[(String, String)],
    selectors: bool,
    templates: bool,
) {
    if pairs.is_empty() {
        return;
    }
    for item in items.iter_mut() {
        let m = &mut item.manifest;
        let kind = str_at(m, &["kind"]).to_string();
        put(path_map(m, &["metadata", "labels"], true), pairs);
        let workload = WORKLOADS.contains(&kind.as_str());
        if selectors {
            match kind.as_str() {
                "Service" => put(path_map(m, &["spec", "selector"], true), pairs),
                "ReplicationController" => put(path_map(m, &["spec", "selector"], true), pairs),
                "NetworkPolicy" => put(
                    path_map(m, &["spec", "podSelector", "matchLabels"], false),
                    pairs,
                ),
                "Job" | "PodDisruptionBudget" => put(
                    path_map(m, &["spec", "selector", "matchLabels"], false),
                    pairs,
                ),
                "CronJob" => put(
                    path_map(
                        m,
                        &["spec", "jobTemplate", "spec", "selector", "matchLabels"],
                        false,
                    ),
                    pairs,
                ),
                _ if workload => {
                    put(
                        path_map(m, &["spec", "selector", "matchLabels"], true),
                        pairs,
                    );
                }
                _ => {}
            }
        }
        if templates {
            if workload {
                put(
                    path_map(m, &["spec", "template", "metadata", "labels"], true),
                    pairs,
                );
            }
            if kind == "CronJob" {
                put(
                    path_map(m, &["spec", "jobTemplate", "metadata", "labels"], true),
                    pairs,
                );
                put(
                    path_map(
                        m,
                        &[
                            "spec",
                            "jobTemplate",
                            "spec",
                            "template",
                            "metadata",
                            "labels",
                        ],
                        true,
                    ),
                    pairs,
                );
            }
            if kind == "StatefulSet"
                && let Some(Value::Array(vcts)) = m.pointer_mut("/spec/volumeClaimTemplates")
            {
                for vct in vcts {
                    put(path_map(vct, &["metadata", "labels"], true), pairs);
                }
            }
        }
    }
}

pub(crate) fn add_annotations(items: &mut [Item], pairs: &[(String, String)]) {
    if pairs.is_empty() {
        return;
    }
    for item in items.iter_mut() {
        let m = &mut item.manifest;
        let kind = str_at(m, &["kind"]).to_string();
        put(path_map(m, &["metadata", "annotations"], true), pairs);
        if WORKLOADS.contains(&kind.as_str()) {
            put(
                path_map(m, &["spec", "template", "metadata", "annotations"], true),
                pairs,
            );
        }
        if kind == "CronJob" {
            put(
                path_map(m, &["spec", "jobTemplate", "metadata", "annotations"], true),
                pairs,
            );
            put(
                path_map(
                    m,
                    &[
                        "spec",
                        "jobTemplate",
                        "spec",
                        "template",
                        "metadata",
                        "annotations",
                    ],
                    true,
                ),
                pairs,
            );
        }
    }
}

const ORDER_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];
const ORDER_LAST: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// Kustomize's legacy output order: known kinds first (namespaces, RBAC, config, services,
/// workloads), webhooks last, then by apiVersion, kind, namespace and name.
/// The output order (`sortOptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Order {
    /// Kinds in `first` first and in `last` last (kustomize's default lists when not given),
    /// then by kind, apiVersion, namespace and name.
    Legacy {
        /// Kinds ordered first, in this order.
        first: Vec<String>,
        /// Kinds ordered last, in this order.
        last: Vec<String>,
    },
    /// The order the resources were read and generated in.
    Fifo,
}

impl Default for Order {
    fn default() -> Self {
        Order::Legacy {
            first: ORDER_FIRST.iter().map(|k| k.to_string()).collect(),
            last: ORDER_LAST.iter().map(|k| k.to_string()).collect(),
        }
    }
}

fn rank(kind: &str, first: &[String], last: &[String]) -> i64 {
    if let Some(i) = first.iter().position(|k| k == kind) {
        return i as i64 - first.len() as i64;
    }
    if let Some(i) = last.iter().position(|k| k == kind) {
        return i as i64 + 1;
    }
    0
}

pub(crate) fn sort_legacy(items: &mut [Item], first: &[String], last: &[String]) {
    items.sort_by(|a, b| {
        let key = |i: &Item| {
            let m = &i.manifest;
            (
                rank(str_at(m, &["kind"]), first, last),
                str_at(m, &["kind"]).to_string(),
                str_at(m, &["apiVersion"]).to_string(),
                str_at(m, &["metadata", "namespace"]).to_string(),
                str_at(m, &["metadata", "name"]).to_string(),
            )
        };
        key(a).cmp(&key(b))
    });
}
