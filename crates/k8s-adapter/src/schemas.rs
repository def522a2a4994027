//! The schemas of Kubernetes' built-in kinds, compiled from k8s-openapi's types (the Kubernetes
//! release of the `v1_35` feature), for [`strata_core::validate`]: the Kubernetes provider
//! declares them, and the sandbox mirrors them so it refuses what an API server would.
//!
//! Every listable kind of the `v1` and beta API versions is covered (alpha versions are off on
//! API servers by default and left out). k8s-openapi's schemas carry no enumerations, so the
//! closed sets of values the API server publishes for built-in fields (`restartPolicy`,
//! `imagePullPolicy`, a Service's `type` …) are added from [`ENUMS`]. What no schema can say
//! (Go validation rules across fields) is left to the API server.

use std::sync::LazyLock;

use k8s_openapi::schemars::SchemaGenerator;
use k8s_openapi::schemars::generate::SchemaSettings;
use serde_json::Value;
use strata_core::schema::{Dialect, KindSchema, Schema, SchemaError};

/// Who declares the built-in schemas, for messages.
pub const BUILTIN_SCHEMAS_SOURCE: &str = "Kubernetes v1.35";

macro_rules! builtin_kinds {
    ($($($segment:ident)::+,)*) => {
        /// `(group, version, kind, schema)` of every built-in kind.
        fn generate() -> (Vec<(&'static str, &'static str, &'static str, Value)>, Value) {
            let mut generator = SchemaGenerator::new(SchemaSettings::draft2020_12());
            let mut roots = Vec::new();
            $(
                {
                    type Kind = k8s_openapi::$($segment)::+;
                    roots.push((
                        <Kind as k8s_openapi::Resource>::GROUP,
                        <Kind as k8s_openapi::Resource>::VERSION,
                        <Kind as k8s_openapi::Resource>::KIND,
                        generator.subschema_for::<Kind>().to_value(),
                    ));
                }
            )*
            let mut definitions = generator.take_definitions(false);
            add_enums(&mut definitions);
            (roots, serde_json::json!({ "$defs": definitions }))
        }
    };
}

builtin_kinds! {
    api::admissionregistration::v1::MutatingWebhookConfiguration,
    api::admissionregistration::v1::ValidatingAdmissionPolicy,
    api::admissionregistration::v1::ValidatingAdmissionPolicyBinding,
    api::admissionregistration::v1::ValidatingWebhookConfiguration,
    api::admissionregistration::v1beta1::MutatingAdmissionPolicy,
    api::admissionregistration::v1beta1::MutatingAdmissionPolicyBinding,
    api::apps::v1::ControllerRevision,
    api::apps::v1::DaemonSet,
    api::apps::v1::Deployment,
    api::apps::v1::ReplicaSet,
    api::apps::v1::StatefulSet,
    api::autoscaling::v1::HorizontalPodAutoscaler,
    api::autoscaling::v2::HorizontalPodAutoscaler,
    api::batch::v1::CronJob,
    api::batch::v1::Job,
    api::certificates::v1::CertificateSigningRequest,
    api::certificates::v1beta1::ClusterTrustBundle,
    api::certificates::v1beta1::PodCertificateRequest,
    api::coordination::v1::Lease,
    api::coordination::v1beta1::LeaseCandidate,
    api::core::v1::ComponentStatus,
    api::core::v1::ConfigMap,
    api::core::v1::Endpoints,
    api::core::v1::Event,
    api::core::v1::LimitRange,
    api::core::v1::Namespace,
    api::core::v1::Node,
    api::core::v1::PersistentVolume,
    api::core::v1::PersistentVolumeClaim,
    api::core::v1::Pod,
    api::core::v1::PodTemplate,
    api::core::v1::ReplicationController,
    api::core::v1::ResourceQuota,
    api::core::v1::Secret,
    api::core::v1::Service,
    api::core::v1::ServiceAccount,
    api::discovery::v1::EndpointSlice,
    api::events::v1::Event,
    api::flowcontrol::v1::FlowSchema,
    api::flowcontrol::v1::PriorityLevelConfiguration,
    api::networking::v1::Ingress,
    api::networking::v1::IngressClass,
    api::networking::v1::IPAddress,
    api::networking::v1::NetworkPolicy,
    api::networking::v1::ServiceCIDR,
    api::networking::v1beta1::IPAddress,
    api::networking::v1beta1::ServiceCIDR,
    api::node::v1::RuntimeClass,
    api::policy::v1::PodDisruptionBudget,
    api::rbac::v1::ClusterRole,
    api::rbac::v1::ClusterRoleBinding,
    api::rbac::v1::Role,
    api::rbac::v1::RoleBinding,
    api::resource::v1::DeviceClass,
    api::resource::v1::ResourceClaim,
    api::resource::v1::ResourceClaimTemplate,
    api::resource::v1::ResourceSlice,
    api::resource::v1beta1::DeviceClass,
    api::resource::v1beta1::ResourceClaim,
    api::resource::v1beta1::ResourceClaimTemplate,
    api::resource::v1beta1::ResourceSlice,
    api::resource::v1beta2::DeviceClass,
    api::resource::v1beta2::ResourceClaim,
    api::resource::v1beta2::ResourceClaimTemplate,
    api::resource::v1beta2::ResourceSlice,
    api::scheduling::v1::PriorityClass,
    api::storage::v1::CSIDriver,
    api::storage::v1::CSINode,
    api::storage::v1::CSIStorageCapacity,
    api::storage::v1::StorageClass,
    api::storage::v1::VolumeAttachment,
    api::storage::v1::VolumeAttributesClass,
    api::storage::v1beta1::VolumeAttributesClass,
    api::storagemigration::v1beta1::StorageVersionMigration,
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    kube_aggregator::pkg::apis::apiregistration::v1::APIService,
}

/// The closed value sets of built-in fields: `(definition, property, values)`; a property
/// whose values are list items is marked `[]` (`policyTypes[]`).
pub const ENUMS: &[(&str, &str, &[&str])] = &[
    (
        "io.k8s.api.core.v1.Container",
        "imagePullPolicy",
        &["Always", "IfNotPresent", "Never"],
    ),
    (
        "io.k8s.api.core.v1.Container",
        "terminationMessagePolicy",
        &["FallbackToLogsOnError", "File"],
    ),
    (
        "io.k8s.api.core.v1.EphemeralContainer",
        "imagePullPolicy",
        &["Always", "IfNotPresent", "Never"],
    ),
    (
        "io.k8s.api.core.v1.EphemeralContainer",
        "terminationMessagePolicy",
        &["FallbackToLogsOnError", "File"],
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "restartPolicy",
        &["Always", "Never", "OnFailure"],
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "dnsPolicy",
        &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"],
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "preemptionPolicy",
        &["Never", "PreemptLowerPriority"],
    ),
    (
        "io.k8s.api.core.v1.ContainerPort",
        "protocol",
        &["SCTP", "TCP", "UDP"],
    ),
    (
        "io.k8s.api.core.v1.ServicePort",
        "protocol",
        &["SCTP", "TCP", "UDP"],
    ),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "type",
        &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
    ),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "sessionAffinity",
        &["ClientIP", "None"],
    ),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "externalTrafficPolicy",
        &["Cluster", "Local"],
    ),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "internalTrafficPolicy",
        &["Cluster", "Local"],
    ),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "ipFamilyPolicy",
        &["PreferDualStack", "RequireDualStack", "SingleStack"],
    ),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "ipFamilies[]",
        &["IPv4", "IPv6"],
    ),
    (
        "io.k8s.api.core.v1.PersistentVolumeClaimSpec",
        "volumeMode",
        &["Block", "Filesystem"],
    ),
    (
        "io.k8s.api.core.v1.PersistentVolumeClaimSpec",
        "accessModes[]",
        &[
            "ReadOnlyMany",
            "ReadWriteMany",
            "ReadWriteOnce",
            "ReadWriteOncePod",
        ],
    ),
    (
        "io.k8s.api.core.v1.PersistentVolumeSpec",
        "volumeMode",
        &["Block", "Filesystem"],
    ),
    (
        "io.k8s.api.core.v1.PersistentVolumeSpec",
        "accessModes[]",
        &[
            "ReadOnlyMany",
            "ReadWriteMany",
            "ReadWriteOnce",
            "ReadWriteOncePod",
        ],
    ),
    (
        "io.k8s.api.core.v1.PersistentVolumeSpec",
        "persistentVolumeReclaimPolicy",
        &["Delete", "Recycle", "Retain"],
    ),
    (
        "io.k8s.api.core.v1.Toleration",
        "operator",
        &["Equal", "Exists"],
    ),
    (
        "io.k8s.api.core.v1.Toleration",
        "effect",
        &["NoExecute", "NoSchedule", "PreferNoSchedule"],
    ),
    (
        "io.k8s.api.core.v1.Taint",
        "effect",
        &["NoExecute", "NoSchedule", "PreferNoSchedule"],
    ),
    (
        "io.k8s.api.core.v1.NodeSelectorRequirement",
        "operator",
        &["DoesNotExist", "Exists", "Gt", "In", "Lt", "NotIn"],
    ),
    (
        "io.k8s.api.core.v1.TopologySpreadConstraint",
        "whenUnsatisfiable",
        &["DoNotSchedule", "ScheduleAnyway"],
    ),
    (
        "io.k8s.api.core.v1.TopologySpreadConstraint",
        "nodeAffinityPolicy",
        &["Honor", "Ignore"],
    ),
    (
        "io.k8s.api.core.v1.TopologySpreadConstraint",
        "nodeTaintsPolicy",
        &["Honor", "Ignore"],
    ),
    (
        "io.k8s.api.core.v1.SeccompProfile",
        "type",
        &["Localhost", "RuntimeDefault", "Unconfined"],
    ),
    (
        "io.k8s.api.core.v1.PodSecurityContext",
        "fsGroupChangePolicy",
        &["Always", "OnRootMismatch"],
    ),
    (
        "io.k8s.api.core.v1.HTTPGetAction",
        "scheme",
        &["HTTP", "HTTPS"],
    ),
    (
        "io.k8s.api.apps.v1.DeploymentStrategy",
        "type",
        &["Recreate", "RollingUpdate"],
    ),
    (
        "io.k8s.api.apps.v1.StatefulSetSpec",
        "podManagementPolicy",
        &["OrderedReady", "Parallel"],
    ),
    (
        "io.k8s.api.apps.v1.StatefulSetUpdateStrategy",
        "type",
        &["OnDelete", "RollingUpdate"],
    ),
    (
        "io.k8s.api.apps.v1.DaemonSetUpdateStrategy",
        "type",
        &["OnDelete", "RollingUpdate"],
    ),
    (
        "io.k8s.api.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicy",
        "whenDeleted",
        &["Delete", "Retain"],
    ),
    (
        "io.k8s.api.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicy",
        "whenScaled",
        &["Delete", "Retain"],
    ),
    (
        "io.k8s.api.batch.v1.CronJobSpec",
        "concurrencyPolicy",
        &["Allow", "Forbid", "Replace"],
    ),
    (
        "io.k8s.api.batch.v1.JobSpec",
        "completionMode",
        &["Indexed", "NonIndexed"],
    ),
    (
        "io.k8s.api.batch.v1.JobSpec",
        "podReplacementPolicy",
        &["Failed", "TerminatingOrFailed"],
    ),
    (
        "io.k8s.api.batch.v1.PodFailurePolicyRule",
        "action",
        &["Count", "FailIndex", "FailJob", "Ignore"],
    ),
    (
        "io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement",
        "operator",
        &["In", "NotIn"],
    ),
    (
        "io.k8s.api.networking.v1.NetworkPolicySpec",
        "policyTypes[]",
        &["Egress", "Ingress"],
    ),
    (
        "io.k8s.api.networking.v1.NetworkPolicyPort",
        "protocol",
        &["SCTP", "TCP", "UDP"],
    ),
    (
        "io.k8s.api.networking.v1.HTTPIngressPath",
        "pathType",
        &["Exact", "ImplementationSpecific", "Prefix"],
    ),
    (
        "io.k8s.api.policy.v1.PodDisruptionBudgetSpec",
        "unhealthyPodEvictionPolicy",
        &["AlwaysAllow", "IfHealthyBudget"],
    ),
];

/// Adds [`ENUMS`] to the generated definitions; an entry naming nothing is skipped here and
/// caught by this module's tests.
fn add_enums(definitions: &mut serde_json::Map<String, Value>) {
    for (definition, property, values) in ENUMS {
        let (property, items) = match property.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (*property, false),
        };
        let Some(mut target) = definitions
            .get_mut(*definition)
            .and_then(|d| d.get_mut("properties"))
            .and_then(|p| p.get_mut(property))
        else {
            continue;
        };
        if items {
            let Some(item) = target.get_mut("items") else {
                continue;
            };
            target = item;
        }
        if let Some(schema) = target.as_object_mut() {
            schema.insert("enum".to_owned(), Value::from(values.to_vec()));
        }
    }
}

static BUILTIN: LazyLock<Result<Vec<KindSchema>, SchemaError>> = LazyLock::new(|| {
    let (roots, document) = generate();
    let pointers: Vec<String> = roots
        .iter()
        .map(|(_, _, kind, root)| {
            root.get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix('#'))
                .map(str::to_owned)
                .ok_or_else(|| SchemaError {
                    path: (*kind).to_owned(),
                    message: format!("the generated schema of {kind} is not a reference: {root}"),
                    source: None,
                })
        })
        .collect::<Result<_, _>>()?;
    let pointers: Vec<&str> = pointers.iter().map(String::as_str).collect();
    let schemas = Schema::compile_all(&document, &pointers, Dialect::Open)?;
    Ok(roots
        .into_iter()
        .zip(schemas)
        .map(|((group, version, kind, _), schema)| {
            KindSchema::new(group, version, kind, schema, BUILTIN_SCHEMAS_SOURCE)
        })
        .collect())
});

/// The schemas of every built-in kind, compiled once per process (about 80 kinds).
///
/// # Errors
/// When k8s-openapi's schemas cannot be compiled: a defect of this crate, which its tests
/// catch.
pub fn builtin_schemas() -> Result<&'static [KindSchema], &'static SchemaError> {
    BUILTIN.as_ref().map(Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema_of(group: &str, version: &str, kind: &str) -> &'static Schema {
        &builtin_schemas()
            .unwrap()
            .iter()
            .find(|s| s.group == group && s.version == version && s.kind == kind)
            .unwrap()
            .schema
    }

    fn problems(group: &str, version: &str, kind: &str, object: serde_json::Value) -> Vec<String> {
        let meta = schema_of("", "v1", "ConfigMap").property("metadata");
        schema_of(group, version, kind)
            .check_object(&object, meta.as_ref())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn every_listed_kind_compiles() {
        let schemas = builtin_schemas().unwrap();
        assert_eq!(schemas.len(), 76);
        assert!(
            schemas
                .iter()
                .any(|s| s.group == "apps" && s.kind == "Deployment")
        );
    }

    #[test]
    fn every_enumeration_names_a_field_of_the_generated_schemas() {
        let (_, document) = generate();
        for (definition, property, _) in ENUMS {
            let name = property.trim_end_matches("[]");
            let field = &document["$defs"][*definition]["properties"][name];
            let target = if property.ends_with("[]") {
                &field["items"]
            } else {
                field
            };
            assert!(
                target.get("enum").is_some(),
                "{definition}.{property}: {field}"
            );
        }
        let found = problems(
            "batch",
            "v1",
            "CronJob",
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
                   "spec": {"schedule": "* * * * *", "concurrencyPolicy": "Forbidd",
                            "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure",
                                "containers": [{"name": "c", "image": "busybox"}]}}}}}}),
        );
        assert_eq!(
            found,
            [
                "spec.concurrencyPolicy: must be one of \"Allow\", \"Forbid\", \"Replace\", found \"Forbidd\"; did you mean \"Forbid\"?"
            ]
        );
    }

    #[test]
    fn a_valid_deployment_has_no_problem() {
        let found = problems(
            "apps",
            "v1",
            "Deployment",
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
                   "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
                            "template": {"metadata": {"labels": {"app": "web"}},
                                         "spec": {"containers": [{"name": "web", "image": "nginx",
                                                  "ports": [{"containerPort": 80}],
                                                  "resources": {"limits": {"cpu": 1, "memory": "128Mi"},
                                                                "requests": {"cpu": "250m", "memory": 0.5}}}]}}}}),
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn built_in_objects_are_checked_strictly() {
        let found = problems(
            "apps",
            "v1",
            "Deployment",
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "web", "lables": {}},
                   "spec": {"replicas": "two", "selector": {"matchLabels": {"app": "web"}},
                            "template": {"spec": {"containers": [{"image": "nginx", "imagePullPolcy": "Always",
                                                  "resources": {"limits": {"cpu": "lots"}},
                                                  "ports": [{"containerPort": "http"}]}]}}}}),
        );
        assert_eq!(
            found,
            [
                "metadata.lables: unknown field; did you mean labels?",
                "spec.replicas: must be an integer, found string \"two\"",
                "spec.template.spec.containers[0].imagePullPolcy: unknown field; did you mean imagePullPolicy?",
                "spec.template.spec.containers[0].resources.limits.cpu: \"lots\" is not a quantity (a number with an optional suffix: 500m, 2, 1.5, 1Gi, 100M, 1e3)",
                "spec.template.spec.containers[0].ports[0].containerPort: must be an integer, found string \"http\"",
                "spec.template.spec.containers[0].name: required field is missing",
            ]
        );
    }

    #[test]
    fn int_or_string_fields_take_both_and_nothing_else() {
        let service = |target: serde_json::Value| {
            problems(
                "",
                "v1",
                "Service",
                json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80, "targetPort": target}]}}),
            )
        };
        assert!(service(json!(8080)).is_empty());
        assert!(service(json!("http")).is_empty());
        assert_eq!(
            service(json!(true)),
            ["spec.ports[0].targetPort: must be an integer or a string, found boolean true"]
        );
    }
}
