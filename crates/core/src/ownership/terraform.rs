//! Terraform's claims: what a Terraform state (format version 4) manages, by the identity each
//! system uses — S3 bucket names, RDS identifiers, ARNs, Kubernetes group/kind/namespace/name,
//! Helm releases — so a resource both Terraform and Strata would manage is caught before
//! anything is applied (the platform's first anti-pattern: one resource, two managers).
//!
//! Read: `aws_s3_bucket` and its configuration resources (`aws_s3_bucket_versioning`,
//! `…_public_access_block`, `…_server_side_encryption_configuration`, `…_acl`, `…_policy`),
//! `aws_db_instance`, `aws_db_subnet_group`, `aws_db_parameter_group`, `helm_release`,
//! `kubernetes_manifest` and the typed `kubernetes_*` resources of common kinds. Other types
//! are counted but claim nothing Strata could also manage. Data sources manage nothing.
//!
//! ```
//! use strata_core::ownership::terraform::ForeignClaims;
//! use strata_core::Resource;
//!
//! let tfstate = br#"{"version": 4, "serial": 3, "lineage": "l", "terraform_version": "1.9.0",
//!   "resources": [{"mode": "managed", "type": "aws_s3_bucket", "name": "assets",
//!     "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
//!     "instances": [{"attributes": {"bucket": "acme-assets", "arn": "arn:aws:s3:::acme-assets"}}]}]}"#;
//! let mut claims = ForeignClaims::default();
//! claims.add_terraform_state("infra.tfstate", tfstate).unwrap();
//! let bucket = Resource::from_manifest(serde_json::json!({
//!     "apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "Bucket",
//!     "metadata": {"name": "acme-assets"}, "spec": {"forProvider": {"region": "eu-west-1"}}
//! })).unwrap();
//! let found = claims.claims_of(&bucket);
//! assert_eq!(found[0].address, "aws_s3_bucket.assets");
//! ```

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{ANNOTATION_EXTERNAL_NAME, Resource, ResourceKey, annotation, label};

/// Something a manager manages, named as that system names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
#[non_exhaustive]
pub enum Identity {
    /// An S3 bucket, by name.
    S3Bucket {
        /// The bucket name.
        bucket: String,
    },
    /// One configuration of an S3 bucket (versioning, encryption …).
    S3BucketConfiguration {
        /// The bucket name.
        bucket: String,
        /// Which configuration.
        part: String,
    },
    /// An RDS DB instance, by identifier.
    RdsInstance {
        /// The DB instance identifier.
        identifier: String,
    },
    /// An RDS DB subnet group, by name.
    RdsSubnetGroup {
        /// The name.
        name: String,
    },
    /// An RDS DB parameter group, by name.
    RdsParameterGroup {
        /// The name.
        name: String,
    },
    /// A Kubernetes object.
    Kubernetes {
        /// Its key.
        key: ResourceKey,
    },
    /// A Helm release.
    HelmRelease {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::S3Bucket { bucket } => write!(f, "S3 bucket {bucket}"),
            Identity::S3BucketConfiguration { bucket, part } => {
                write!(f, "the {part} of S3 bucket {bucket}")
            }
            Identity::RdsInstance { identifier } => write!(f, "RDS instance {identifier}"),
            Identity::RdsSubnetGroup { name } => write!(f, "RDS subnet group {name}"),
            Identity::RdsParameterGroup { name } => write!(f, "RDS parameter group {name}"),
            Identity::Kubernetes { key } => write!(f, "Kubernetes object {key}"),
            Identity::HelmRelease { namespace, name } => {
                write!(f, "Helm release {namespace}/{name}")
            }
        }
    }
}

/// One resource another manager claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Claim {
    /// What it is.
    pub identity: Identity,
    /// The manager's address for it (`module.data.aws_s3_bucket.assets["eu"]`).
    pub address: String,
    /// Where the claim was read (the state file or object).
    pub source: String,
}

impl fmt::Display for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Terraform ({} in {})", self.address, self.source)
    }
}

/// Why a Terraform state could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TerraformStateError {
    /// Not JSON, or not shaped like a Terraform state.
    #[error("{location}: not a Terraform state: {source}")]
    Parse {
        /// The file or object.
        location: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A state format this version does not read.
    #[error("{location}: Terraform state format version {version}; only version 4 is read")]
    Version {
        /// The file or object.
        location: String,
        /// The version found.
        version: u64,
    },
}

#[derive(Deserialize)]
struct StateFile {
    version: u64,
    #[serde(default)]
    resources: Vec<StateResource>,
}

#[derive(Deserialize)]
struct StateResource {
    #[serde(default)]
    module: Option<String>,
    mode: String,
    #[serde(rename = "type")]
    kind: String,
    name: String,
    #[serde(default)]
    instances: Vec<StateInstance>,
}

#[derive(Deserialize)]
struct StateInstance {
    #[serde(default)]
    index_key: Option<Value>,
    #[serde(default)]
    attributes: Value,
}

/// Everything other managers claim, looked up by identity.
#[derive(Debug, Clone, Default)]
pub struct ForeignClaims {
    by_identity: HashMap<Identity, Vec<Claim>>,
    /// Managed Terraform resources read, claiming or not.
    resources_read: usize,
}

impl ForeignClaims {
    /// Adds the claims of a Terraform state (format version 4) read from `location`.
    pub fn add_terraform_state(
        &mut self,
        location: &str,
        bytes: &[u8],
    ) -> Result<usize, TerraformStateError> {
        #[derive(Deserialize)]
        struct Header {
            version: u64,
        }
        let parse = |source| TerraformStateError::Parse {
            location: location.to_owned(),
            source,
        };
        let header: Header = serde_json::from_slice(bytes).map_err(parse)?;
        if header.version != 4 {
            return Err(TerraformStateError::Version {
                location: location.to_owned(),
                version: header.version,
            });
        }
        let state: StateFile = serde_json::from_slice(bytes).map_err(parse)?;
        debug_assert_eq!(state.version, 4);
        let mut added = 0;
        for resource in state.resources.iter().filter(|r| r.mode == "managed") {
            for instance in &resource.instances {
                self.resources_read += 1;
                let address = address_of(resource, instance);
                for identity in terraform_identities(&resource.kind, &instance.attributes) {
                    self.by_identity
                        .entry(identity.clone())
                        .or_default()
                        .push(Claim {
                            identity,
                            address: address.clone(),
                            source: location.to_owned(),
                        });
                    added += 1;
                }
            }
        }
        Ok(added)
    }

    /// Whether no claim was read.
    pub fn is_empty(&self) -> bool {
        self.by_identity.is_empty()
    }

    /// How many managed Terraform resource instances were read.
    pub fn resources_read(&self) -> usize {
        self.resources_read
    }

    /// The claims on what `resource` would manage.
    pub fn claims_of(&self, resource: &Resource) -> Vec<&Claim> {
        if self.by_identity.is_empty() {
            return Vec::new();
        }
        identities_of(resource)
            .iter()
            .filter_map(|i| self.by_identity.get(i))
            .flatten()
            .collect()
    }
}

fn address_of(resource: &StateResource, instance: &StateInstance) -> String {
    let mut address = String::new();
    if let Some(module) = &resource.module {
        address.push_str(module);
        address.push('.');
    }
    address.push_str(&resource.kind);
    address.push('.');
    address.push_str(&resource.name);
    match &instance.index_key {
        Some(Value::Number(n)) => address.push_str(&format!("[{n}]")),
        Some(Value::String(s)) => address.push_str(&format!("[{s:?}]")),
        _ => {}
    }
    address
}

fn text(attributes: &Value, field: &str) -> Option<String> {
    attributes
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The identities a Terraform resource of `kind` with `attributes` manages.
fn terraform_identities(kind: &str, attributes: &Value) -> Vec<Identity> {
    let s3_part = |part: &str| {
        text(attributes, "bucket")
            .map(|bucket| Identity::S3BucketConfiguration {
                bucket,
                part: part.to_owned(),
            })
            .into_iter()
            .collect()
    };
    match kind {
        "aws_s3_bucket" => text(attributes, "bucket")
            .or_else(|| text(attributes, "id"))
            .map(|bucket| Identity::S3Bucket { bucket })
            .into_iter()
            .collect(),
        "aws_s3_bucket_versioning" => s3_part("versioning"),
        "aws_s3_bucket_public_access_block" => s3_part("public access block"),
        "aws_s3_bucket_server_side_encryption_configuration" => s3_part("encryption"),
        "aws_s3_bucket_acl" => s3_part("ACL"),
        "aws_s3_bucket_policy" => s3_part("policy"),
        "aws_db_instance" => text(attributes, "identifier")
            .map(|identifier| Identity::RdsInstance { identifier })
            .into_iter()
            .collect(),
        "aws_db_subnet_group" => text(attributes, "name")
            .map(|name| Identity::RdsSubnetGroup { name })
            .into_iter()
            .collect(),
        "aws_db_parameter_group" => text(attributes, "name")
            .map(|name| Identity::RdsParameterGroup { name })
            .into_iter()
            .collect(),
        "helm_release" => {
            let mut out: Vec<Identity> = text(attributes, "name")
                .map(|name| Identity::HelmRelease {
                    namespace: text(attributes, "namespace").unwrap_or_else(|| "default".into()),
                    name,
                })
                .into_iter()
                .collect();
            // With the provider's `manifest` experiment, the rendered objects are known too.
            if let Some(manifest) = attributes.get("manifest").and_then(Value::as_str)
                && let Ok(objects) =
                    serde_json::from_str::<serde_json::Map<String, Value>>(manifest)
            {
                out.extend(
                    objects
                        .values()
                        .filter_map(|o| ResourceKey::from_manifest(o).ok())
                        .map(|key| Identity::Kubernetes { key }),
                );
            }
            out
        }
        "kubernetes_manifest" => ["manifest", "object"]
            .iter()
            .filter_map(|f| attributes.get(*f))
            .find_map(|m| match m {
                Value::String(s) => serde_json::from_str::<Value>(s).ok(),
                other => Some(other.clone()),
            })
            .and_then(|m| ResourceKey::from_manifest(&m).ok())
            .map(|key| Identity::Kubernetes { key })
            .into_iter()
            .collect(),
        typed => typed_kubernetes(typed, attributes).into_iter().collect(),
    }
}

/// The typed `kubernetes_*` resources of common kinds (`kubernetes_config_map_v1` …).
fn typed_kubernetes(kind: &str, attributes: &Value) -> Option<Identity> {
    let kind = kind.strip_prefix("kubernetes_")?;
    let kind = kind.strip_suffix("_v1").unwrap_or(kind);
    let (group, kind, namespaced) = match kind {
        "namespace" => ("", "Namespace", false),
        "config_map" => ("", "ConfigMap", true),
        "secret" => ("", "Secret", true),
        "service" => ("", "Service", true),
        "service_account" => ("", "ServiceAccount", true),
        "deployment" => ("apps", "Deployment", true),
        "stateful_set" => ("apps", "StatefulSet", true),
        "daemon_set" => ("apps", "DaemonSet", true),
        "ingress" => ("networking.k8s.io", "Ingress", true),
        "role" => ("rbac.authorization.k8s.io", "Role", true),
        "role_binding" => ("rbac.authorization.k8s.io", "RoleBinding", true),
        "cluster_role" => ("rbac.authorization.k8s.io", "ClusterRole", false),
        "cluster_role_binding" => ("rbac.authorization.k8s.io", "ClusterRoleBinding", false),
        _ => return None,
    };
    let metadata = attributes.get("metadata")?;
    let metadata = metadata
        .as_array()
        .and_then(|m| m.first())
        .unwrap_or(metadata);
    let name = text(metadata, "name")?;
    let namespace =
        namespaced.then(|| text(metadata, "namespace").unwrap_or_else(|| "default".into()));
    Some(Identity::Kubernetes {
        key: ResourceKey::new(group, kind, namespace.as_deref(), name),
    })
}

/// The identities a Strata resource manages: its Kubernetes key, and for AWS managed
/// resources (Crossplane's Upbound kinds) the name the cloud knows (the external name, else
/// `metadata.name`); for Kubernetes objects labelled as a Helm release's, that release.
pub fn identities_of(resource: &Resource) -> Vec<Identity> {
    let key = &resource.key;
    let manifest = &resource.manifest;
    let external = || {
        annotation(manifest, ANNOTATION_EXTERNAL_NAME)
            .unwrap_or(&key.name)
            .to_owned()
    };
    let for_provider = manifest.pointer("/spec/forProvider");
    let bucket_of = || {
        for_provider.and_then(|p| text(p, "bucket")).or_else(|| {
            for_provider
                .and_then(|p| p.pointer("/bucketRef/name"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
    };
    let mut out = vec![Identity::Kubernetes { key: key.clone() }];
    if key.group == "s3.aws.upbound.io" {
        let part = match key.kind.as_str() {
            "Bucket" => None,
            "BucketVersioning" => Some("versioning"),
            "BucketPublicAccessBlock" => Some("public access block"),
            "BucketServerSideEncryptionConfiguration" => Some("encryption"),
            "BucketACL" => Some("ACL"),
            "BucketPolicy" => Some("policy"),
            _ => return out,
        };
        match part {
            None => out.push(Identity::S3Bucket { bucket: external() }),
            Some(part) => out.extend(bucket_of().map(|bucket| Identity::S3BucketConfiguration {
                bucket,
                part: part.to_owned(),
            })),
        }
    } else if key.group == "rds.aws.upbound.io" {
        match key.kind.as_str() {
            "Instance" => out.push(Identity::RdsInstance {
                identifier: external(),
            }),
            "SubnetGroup" => out.push(Identity::RdsSubnetGroup { name: external() }),
            "ParameterGroup" => out.push(Identity::RdsParameterGroup { name: external() }),
            _ => {}
        }
    } else if let Some(release) = annotation(manifest, "meta.helm.sh/release-name")
        .or_else(|| label(manifest, "app.kubernetes.io/instance"))
    {
        let namespace = annotation(manifest, "meta.helm.sh/release-namespace")
            .map(str::to_owned)
            .or_else(|| key.namespace.as_deref().map(str::to_owned))
            .unwrap_or_else(|| "default".into());
        out.push(Identity::HelmRelease {
            namespace,
            name: release.to_owned(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FIXTURE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../cli/tests/fixtures/terraform/infra.tfstate"
    );

    fn claims() -> ForeignClaims {
        let mut claims = ForeignClaims::default();
        let bytes = std::fs::read(FIXTURE).unwrap();
        claims.add_terraform_state("infra.tfstate", &bytes).unwrap();
        claims
    }

    fn resource(manifest: Value) -> Resource {
        Resource::from_manifest(manifest).unwrap()
    }

    fn claimed(claims: &ForeignClaims, manifest: Value) -> Vec<String> {
        claims
            .claims_of(&resource(manifest))
            .iter()
            .map(|c| format!("{}: {}", c.identity, c.address))
            .collect()
    }

    #[test]
    fn every_supported_type_claims_by_the_identity_its_system_uses() {
        let claims = claims();
        assert_eq!(
            claims.resources_read(),
            7,
            "managed instances, data sources excluded"
        );
        assert_eq!(
            claimed(
                &claims,
                json!({"apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "Bucket",
                "metadata": {"name": "assets", "annotations": {"crossplane.io/external-name": "acme-payments-assets"}}})
            ),
            ["S3 bucket acme-payments-assets: aws_s3_bucket.assets"]
        );
        assert_eq!(
            claimed(
                &claims,
                json!({"apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "BucketVersioning",
                "metadata": {"name": "v"}, "spec": {"forProvider": {"bucketRef": {"name": "acme-payments-assets"}}}})
            ),
            ["the versioning of S3 bucket acme-payments-assets: aws_s3_bucket_versioning.assets"]
        );
        assert_eq!(
            claimed(
                &claims,
                json!({"apiVersion": "rds.aws.upbound.io/v1beta1", "kind": "Instance",
                "metadata": {"name": "payments-db"}})
            ),
            ["RDS instance payments-db: module.database.aws_db_instance.main[\"eu\"]"]
        );
        assert_eq!(
            claimed(
                &claims,
                json!({"apiVersion": "rds.aws.upbound.io/v1beta1", "kind": "SubnetGroup",
                "metadata": {"name": "payments-db-subnets"}})
            ),
            ["RDS subnet group payments-db-subnets: module.database.aws_db_subnet_group.main[0]"]
        );
        assert_eq!(
            claimed(
                &claims,
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "payments-config", "namespace": "payments"}})
            ),
            [
                "Kubernetes object ConfigMap/payments/payments-config: kubernetes_manifest.payments_config"
            ]
        );
        assert_eq!(
            claimed(
                &claims,
                json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "controller", "namespace": "ingress",
                    "labels": {"app.kubernetes.io/instance": "ingress-nginx"}}})
            ),
            ["Helm release ingress/ingress-nginx: helm_release.ingress"]
        );
    }

    #[test]
    fn what_nobody_else_claims_is_free() {
        let claims = claims();
        for manifest in [
            json!({"apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "Bucket", "metadata": {"name": "acme-logs"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "payments-config", "namespace": "other"}}),
            json!({"apiVersion": "rds.aws.upbound.io/v1beta1", "kind": "Instance", "metadata": {"name": "payments-db-2"}}),
        ] {
            assert!(claimed(&claims, manifest.clone()).is_empty(), "{manifest}");
        }
    }

    #[test]
    fn typed_kubernetes_resources_claim_their_objects() {
        let mut claims = ForeignClaims::default();
        let state = json!({"version": 4, "resources": [{"mode": "managed", "type": "kubernetes_namespace_v1", "name": "ns",
            "instances": [{"attributes": {"metadata": [{"name": "payments"}]}}]},
            {"mode": "managed", "type": "kubernetes_config_map", "name": "cm",
            "instances": [{"attributes": {"metadata": [{"name": "flags", "namespace": "payments"}]}}]}]});
        claims
            .add_terraform_state("k.tfstate", state.to_string().as_bytes())
            .unwrap();
        assert_eq!(
            claimed(
                &claims,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments"}})
            ),
            ["Kubernetes object Namespace/payments: kubernetes_namespace_v1.ns"]
        );
        assert_eq!(claimed(&claims, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "flags", "namespace": "payments"}})).len(), 1);
    }

    #[test]
    fn other_formats_and_garbage_are_errors_naming_the_state() {
        let mut claims = ForeignClaims::default();
        let err = claims
            .add_terraform_state("old.tfstate", br#"{"version": 3, "modules": []}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "old.tfstate: Terraform state format version 3; only version 4 is read"
        );
        let err = claims
            .add_terraform_state("bad.tfstate", b"not json")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("bad.tfstate: not a Terraform state:"),
            "{err}"
        );
    }
}
