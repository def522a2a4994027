//! Name references: after every rename of the build (prefixes, suffixes, namespaces, content
//! hashes, JSON patches), the fields of kustomize's default `nameReference` configuration
//! that name a renamed object are rewritten to its new name — pod specs naming ConfigMaps,
//! Secrets, ServiceAccounts, PersistentVolumeClaims and PriorityClasses, bindings naming
//! Roles, ClusterRoles and ServiceAccounts (whose namespace follows too), Ingresses naming
//! Services and Secrets, HorizontalPodAutoscalers naming workloads, and the rest of the list
//! below. Candidates are chosen as kustomize chooses them: by a previous name and kind, by
//! namespace, then by the prefixes and suffixes they share with the referrer.

use serde_json::{Map, Value};

use super::{
    Item, KustomizeError, NOT_A_NAMESPACE, PrevId, effective_namespace, group_version, str_at,
};

/// A group/version/kind selector; empty parts match anything.
#[derive(Debug, Clone, Copy)]
struct Gvk {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
}

const fn gvk(group: &'static str, version: &'static str, kind: &'static str) -> Gvk {
    Gvk {
        group,
        version,
        kind,
    }
}

impl Gvk {
    fn selects(&self, group: &str, version: &str, kind: &str) -> bool {
        (self.group.is_empty() || self.group == group)
            && (self.version.is_empty() || self.version == version)
            && (self.kind.is_empty() || self.kind == kind)
    }
}

/// One referrer field: the referrer kind and the field path (`/`-separated, `\/` escapes a
/// slash inside a key).
type Referrer = (Gvk, String);

/// Pod spec locations: (referrer, path prefix to the pod spec).
const POD_SPECS: &[(Gvk, &str)] = &[
    (gvk("", "v1", "Pod"), "spec"),
    (gvk("", "", "PodTemplate"), "template/spec"),
    (gvk("", "", "Deployment"), "spec/template/spec"),
    (gvk("", "", "ReplicaSet"), "spec/template/spec"),
    (gvk("", "", "DaemonSet"), "spec/template/spec"),
    (gvk("", "", "StatefulSet"), "spec/template/spec"),
    (gvk("", "", "Job"), "spec/template/spec"),
    (
        gvk("", "", "CronJob"),
        "spec/jobTemplate/spec/template/spec",
    ),
];

/// Pod spec locations for ServiceAccounts, claims and priority classes (no PodTemplate or
/// ReplicaSet, but ReplicationController).
const POD_SPECS_WORKLOADS: &[(Gvk, &str)] = &[
    (gvk("", "", "Pod"), "spec"),
    (gvk("", "", "StatefulSet"), "spec/template/spec"),
    (gvk("", "", "Deployment"), "spec/template/spec"),
    (gvk("", "", "ReplicationController"), "spec/template/spec"),
    (
        gvk("", "", "CronJob"),
        "spec/jobTemplate/spec/template/spec",
    ),
    (gvk("", "", "Job"), "spec/template/spec"),
    (gvk("", "", "DaemonSet"), "spec/template/spec"),
];

fn in_pod_specs(specs: &[(Gvk, &str)], fields: &[&str]) -> Vec<Referrer> {
    let mut out = Vec::new();
    for (g, prefix) in specs {
        for f in fields {
            out.push((*g, format!("{prefix}/{f}")));
        }
    }
    out
}

fn fixed(list: &[(Gvk, &str)]) -> Vec<Referrer> {
    list.iter().map(|(g, p)| (*g, (*p).to_string())).collect()
}

/// kustomize's default `nameReference` configuration (v5): referral kind and its referrers.
fn config() -> Vec<(Gvk, Vec<Referrer>)> {
    let hpa = gvk("", "", "HorizontalPodAutoscaler");
    let rbac = "rbac.authorization.k8s.io";
    let admission = "admissionregistration.k8s.io";
    let mut out = Vec::new();
    for kind in [
        "Deployment",
        "ReplicationController",
        "ReplicaSet",
        "StatefulSet",
    ] {
        out.push((
            gvk("", "", kind),
            fixed(&[(hpa, "spec/scaleTargetRef/name")]),
        ));
    }
    let mut cm = in_pod_specs(
        POD_SPECS,
        &[
            "volumes/configMap/name",
            "containers/env/valueFrom/configMapKeyRef/name",
            "initContainers/env/valueFrom/configMapKeyRef/name",
            "containers/envFrom/configMapRef/name",
            "initContainers/envFrom/configMapRef/name",
            "volumes/projected/sources/configMap/name",
        ],
    );
    cm.extend(fixed(&[
        (gvk("", "", "Node"), "spec/configSource/configMap"),
        (gvk("", "", "Role"), "rules/resourceNames"),
        (gvk("", "", "ClusterRole"), "rules/resourceNames"),
        (
            gvk("", "", "Ingress"),
            "metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap",
        ),
    ]));
    out.push((gvk("", "v1", "ConfigMap"), cm));
    let mut secret = in_pod_specs(
        POD_SPECS,
        &[
            "volumes/secret/secretName",
            "containers/env/valueFrom/secretKeyRef/name",
            "initContainers/env/valueFrom/secretKeyRef/name",
            "containers/envFrom/secretRef/name",
            "initContainers/envFrom/secretRef/name",
            "imagePullSecrets/name",
            "volumes/projected/sources/secret/name",
        ],
    );
    let ingress = gvk("", "", "Ingress");
    let storage = gvk("", "", "StorageClass");
    secret.extend(fixed(&[
        (ingress, "spec/tls/secretName"),
        (
            ingress,
            "metadata/annotations/ingress.kubernetes.io\\/auth-secret",
        ),
        (
            ingress,
            "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret",
        ),
        (
            ingress,
            "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret",
        ),
        (gvk("", "", "ServiceAccount"), "imagePullSecrets/name"),
        (storage, "parameters/secretName"),
        (storage, "parameters/adminSecretName"),
        (storage, "parameters/userSecretName"),
        (storage, "parameters/secretRef"),
        (gvk("", "", "Role"), "rules/resourceNames"),
        (gvk("", "", "ClusterRole"), "rules/resourceNames"),
        (
            gvk("serving.knative.dev", "v1", "Service"),
            "spec/template/spec/containers/env/valueFrom/secretKeyRef/name",
        ),
        (gvk("", "", "PersistentVolume"), "spec/azureFile/secretName"),
    ]));
    out.push((gvk("", "v1", "Secret"), secret));
    out.push((
        gvk("", "v1", "Service"),
        fixed(&[
            (gvk("apps", "", "StatefulSet"), "spec/serviceName"),
            (ingress, "spec/rules/http/paths/backend/serviceName"),
            (ingress, "spec/backend/serviceName"),
            (ingress, "spec/rules/http/paths/backend/service/name"),
            (ingress, "spec/defaultBackend/service/name"),
            (
                gvk("apiregistration.k8s.io", "", "APIService"),
                "spec/service/name",
            ),
            (
                gvk(admission, "", "ValidatingWebhookConfiguration"),
                "webhooks/clientConfig/service",
            ),
            (
                gvk(admission, "", "MutatingWebhookConfiguration"),
                "webhooks/clientConfig/service",
            ),
        ]),
    ));
    out.push((
        gvk(rbac, "", "Role"),
        fixed(&[(gvk(rbac, "", "RoleBinding"), "roleRef/name")]),
    ));
    out.push((
        gvk(rbac, "", "ClusterRole"),
        fixed(&[
            (gvk(rbac, "", "RoleBinding"), "roleRef/name"),
            (gvk(rbac, "", "ClusterRoleBinding"), "roleRef/name"),
        ]),
    ));
    let mut sa = fixed(&[
        (gvk(rbac, "", "RoleBinding"), "subjects"),
        (gvk(rbac, "", "ClusterRoleBinding"), "subjects"),
    ]);
    sa.extend(in_pod_specs(POD_SPECS_WORKLOADS, &["serviceAccountName"]));
    out.push((gvk("", "v1", "ServiceAccount"), sa));
    out.push((
        gvk("", "v1", "PersistentVolumeClaim"),
        in_pod_specs(
            POD_SPECS_WORKLOADS,
            &["volumes/persistentVolumeClaim/claimName"],
        ),
    ));
    out.push((
        gvk("", "v1", "PersistentVolume"),
        fixed(&[
            (gvk("", "", "PersistentVolumeClaim"), "spec/volumeName"),
            (gvk("", "", "ClusterRole"), "rules/resourceNames"),
        ]),
    ));
    out.push((
        gvk("storage.k8s.io", "v1", "StorageClass"),
        fixed(&[
            (gvk("", "", "PersistentVolume"), "spec/storageClassName"),
            (
                gvk("", "", "PersistentVolumeClaim"),
                "spec/storageClassName",
            ),
            (
                gvk("", "", "StatefulSet"),
                "spec/volumeClaimTemplates/spec/storageClassName",
            ),
        ]),
    ));
    out.push((
        gvk("scheduling.k8s.io", "v1", "PriorityClass"),
        in_pod_specs(POD_SPECS_WORKLOADS, &["priorityClassName"]),
    ));
    // kustomize writes this group with its version, so IngressClass references never match.
    out.push((
        gvk("networking.k8s.io/v1", "v1", "IngressClass"),
        fixed(&[(ingress, "spec/ingressClassName")]),
    ));
    out.push((
        gvk(admission, "", "ValidatingAdmissionPolicy"),
        fixed(&[(
            gvk(admission, "", "ValidatingAdmissionPolicyBinding"),
            "spec/policyName",
        )]),
    ));
    out
}

/// What the name reference filter needs to know about one resource.
struct Snapshot {
    group: String,
    version: String,
    kind: String,
    name: String,
    namespace: String,
    /// Effective namespace now.
    cur_ns: String,
    /// Effective namespace of the original identity.
    org_ns: String,
    prev: Vec<PrevId>,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
}

impl Snapshot {
    fn of(item: &Item) -> Self {
        let m = &item.manifest;
        let (group, version) = group_version(str_at(m, &["apiVersion"]));
        let kind = str_at(m, &["kind"]).to_string();
        let namespace = str_at(m, &["metadata", "namespace"]).to_string();
        let cur_ns = effective_namespace(&kind, &namespace);
        let org_ns = item
            .prev
            .first()
            .map_or_else(|| cur_ns.clone(), |p| normalize_ns(&p.namespace));
        Snapshot {
            group: group.to_string(),
            version: version.to_string(),
            name: str_at(m, &["metadata", "name"]).to_string(),
            namespace,
            cur_ns,
            org_ns,
            kind,
            prev: item.prev.clone(),
            prefixes: item.prefixes.clone(),
            suffixes: item.suffixes.clone(),
        }
    }

    fn cluster_scoped(&self) -> bool {
        self.cur_ns == NOT_A_NAMESPACE
    }
}

/// A recorded namespace as kustomize's `EffectiveNamespace` reads it back.
fn normalize_ns(ns: &str) -> String {
    if ns.is_empty() {
        "default".into()
    } else {
        ns.into()
    }
}

/// kustomize's `SameEndingSubSlice`.
fn same_ending(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.is_empty() {
        return long.is_empty();
    }
    long.ends_with(short)
}

fn affixes_equal(a: &Snapshot, b: &Snapshot, allow_empty: bool) -> bool {
    if allow_empty {
        (a.prefixes.is_empty() || b.prefixes.is_empty() || same_ending(&a.prefixes, &b.prefixes))
            && (a.suffixes.is_empty()
                || b.suffixes.is_empty()
                || same_ending(&a.suffixes, &b.suffixes))
    } else {
        same_ending(&a.prefixes, &b.prefixes) && same_ending(&a.suffixes, &b.suffixes)
    }
}

/// Splits a field-spec path on `/`, keeping `\/` as a slash inside a key.
fn split_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                cur.push('/');
                chars.next();
            }
            '/' => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

struct Ctx<'a> {
    all: &'a [Snapshot],
    referrer: &'a Snapshot,
    /// Indices of the resources the referrer may refer to.
    candidates: &'a [usize],
    referral: Gvk,
    /// The referrer's `roleRef` (group, kind) when the field is `roleRef/name`.
    role_ref: Option<(String, String)>,
    file: &'a str,
}

impl Ctx<'_> {
    /// kustomize's `selectReferral`.
    fn select(
        &self,
        old: &str,
        pool: &[usize],
        with_namespace: bool,
    ) -> Result<Option<usize>, KustomizeError> {
        let all = self.all;
        let mut c: Vec<usize> = pool
            .iter()
            .copied()
            .filter(|&i| all[i].prev.iter().any(|p| p.name == old))
            .filter(|&i| {
                let s = &all[i];
                s.prev
                    .iter()
                    .any(|p| self.referral.selects(&s.group, &s.version, &p.kind))
            })
            .filter(|&i| match &self.role_ref {
                None => true,
                Some((group, kind)) => {
                    let s = &all[i];
                    s.prev.iter().any(|p| {
                        (group.is_empty() || *group == s.group)
                            && (kind.is_empty() || *kind == p.kind)
                    })
                }
            })
            .filter(|&i| {
                let s = &all[i];
                self.referrer.cluster_scoped()
                    || s.cluster_scoped()
                    || s.kind == "ServiceAccount"
                    || s.cur_ns == self.referrer.cur_ns
            })
            .collect();
        if c.len() == 1 {
            return Ok(c.first().copied());
        }
        c.retain(|&i| affixes_equal(&all[i], self.referrer, true));
        if c.len() > 1 {
            c.retain(|&i| affixes_equal(&all[i], self.referrer, false));
        }
        match c.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            [first, rest @ ..] => {
                let f = &all[*first];
                if rest.iter().all(|&i| {
                    all[i].name == f.name && (!with_namespace || all[i].namespace == f.namespace)
                }) {
                    Ok(Some(*first))
                } else {
                    let ids: Vec<String> = c
                        .iter()
                        .map(|&i| format!("{} {}/{}", all[i].kind, all[i].namespace, all[i].name))
                        .collect();
                    Err(super::invalid(
                        self.file,
                        format!(
                            "{} {}: the reference {old:?} could name several renamed objects: {}",
                            self.referrer.kind,
                            self.referrer.name,
                            ids.join(", ")
                        ),
                    ))
                }
            }
        }
    }

    fn set(&self, v: &mut Value) -> Result<(), KustomizeError> {
        match v {
            Value::Null => Ok(()),
            Value::String(_) | Value::Number(_) | Value::Bool(_) => self.set_scalar(v),
            Value::Object(m) => self.set_mapping(m),
            Value::Array(list) => {
                for e in list {
                    match e {
                        Value::Object(m) => self.set_mapping(m)?,
                        Value::Array(_) | Value::Null => {}
                        scalar => self.set_scalar(scalar)?,
                    }
                }
                Ok(())
            }
        }
    }

    fn set_scalar(&self, v: &mut Value) -> Result<(), KustomizeError> {
        let Value::String(old) = v else {
            return Ok(());
        };
        if let Some(i) = self.select(old, self.candidates, false)? {
            let new = &self.all[i].name;
            if new != old {
                *v = Value::String(new.clone());
            }
        }
        Ok(())
    }

    fn set_mapping(&self, m: &mut Map<String, Value>) -> Result<(), KustomizeError> {
        let Some(old) = m.get("name").and_then(Value::as_str).map(String::from) else {
            return Err(super::invalid(
                self.file,
                format!(
                    "{} {}: a name reference field has no `name`",
                    self.referrer.kind, self.referrer.name
                ),
            ));
        };
        let pool: Vec<usize> = match m.get("namespace") {
            None => self.candidates.to_vec(),
            Some(ns) => {
                let ns = match ns {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                let by_org: Vec<usize> = self
                    .candidates
                    .iter()
                    .copied()
                    .filter(|&i| self.all[i].org_ns == ns && self.all[i].org_ns != NOT_A_NAMESPACE)
                    .collect();
                if by_org.is_empty() {
                    self.candidates
                        .iter()
                        .copied()
                        .filter(|&i| {
                            self.all[i].cur_ns == ns && self.all[i].cur_ns != NOT_A_NAMESPACE
                        })
                        .collect()
                } else {
                    by_org
                }
            }
        };
        let Some(i) = self.select(&old, &pool, true)? else {
            return Ok(());
        };
        let target = &self.all[i];
        if target.name == old && target.namespace.is_empty() {
            return Ok(());
        }
        m.insert("name".into(), Value::String(target.name.clone()));
        if !target.namespace.is_empty() {
            m.insert("namespace".into(), Value::String(target.namespace.clone()));
        }
        Ok(())
    }
}

/// Walks a field-spec path (lists are entered element by element) and calls `set` on the
/// value at its end.
fn walk(v: &mut Value, path: &[String], ctx: &Ctx<'_>) -> Result<(), KustomizeError> {
    let Some((first, rest)) = path.split_first() else {
        return ctx.set(v);
    };
    match v {
        Value::Null => Ok(()),
        Value::Array(list) => {
            for e in list {
                walk(e, path, ctx)?;
            }
            Ok(())
        }
        Value::Object(m) => match m.get_mut(first.as_str()) {
            Some(child) => walk(child, rest, ctx),
            None => Ok(()),
        },
        _ => Err(super::invalid(
            ctx.file,
            format!(
                "{} {}: name reference path {}: expected a sequence or mapping",
                ctx.referrer.kind,
                ctx.referrer.name,
                path.join("/")
            ),
        )),
    }
}

/// The namespaces of a RoleBinding's ServiceAccount subjects.
fn binding_namespaces(item: &Item) -> Vec<String> {
    if str_at(&item.manifest, &["kind"]) != "RoleBinding" {
        return Vec::new();
    }
    let Some(Value::Array(subjects)) = item.manifest.get("subjects") else {
        return Vec::new();
    };
    subjects
        .iter()
        .filter(|s| s.get("kind").and_then(Value::as_str) == Some("ServiceAccount"))
        .filter_map(|s| s.get("namespace").and_then(Value::as_str).map(String::from))
        .collect()
}

/// Rewrites every name reference to a renamed object, as kustomize does once at the end of
/// a build. `file` is the top kustomization (named in errors).
pub(crate) fn fix(items: &mut [Item], file: &str) -> Result<(), KustomizeError> {
    let snapshots: Vec<Snapshot> = items.iter().map(Snapshot::of).collect();
    let config = config();
    for (r, item) in items.iter_mut().enumerate() {
        let referrer = &snapshots[r];
        let org_kind = item.original_kind().to_string();
        let filters: Vec<(Gvk, &str)> = config
            .iter()
            .flat_map(|(referral, referrers)| {
                referrers
                    .iter()
                    .filter(|(g, _)| g.selects(&referrer.group, &referrer.version, &org_kind))
                    .map(|(_, path)| (*referral, path.as_str()))
            })
            .collect();
        if filters.is_empty() {
            continue;
        }
        let binding_ns = binding_namespaces(item);
        let candidates: Vec<usize> = snapshots
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                referrer.cluster_scoped()
                    || s.cluster_scoped()
                    || s.cur_ns == referrer.cur_ns
                    || binding_ns.contains(&s.namespace)
            })
            .map(|(i, _)| i)
            .collect();
        for (referral, path) in filters {
            let role_ref = path.ends_with("roleRef/name").then(|| {
                (
                    str_at(&item.manifest, &["roleRef", "apiGroup"]).to_string(),
                    str_at(&item.manifest, &["roleRef", "kind"]).to_string(),
                )
            });
            let ctx = Ctx {
                all: &snapshots,
                referrer,
                candidates: &candidates,
                referral,
                role_ref,
                file,
            };
            walk(&mut item.manifest, &split_path(path), &ctx)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_escaped_slashes_in_keys() {
        assert_eq!(
            split_path("metadata/annotations/a.io\\/b"),
            vec!["metadata", "annotations", "a.io/b"]
        );
    }

    #[test]
    fn affixes_compare_by_their_ending() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(same_ending(&s(&["a", "b"]), &s(&["b"])));
        assert!(!same_ending(&s(&["a", "b"]), &s(&["a"])));
        assert!(same_ending(&s(&[]), &s(&[])));
        assert!(!same_ending(&s(&[]), &s(&["a"])));
    }
}
