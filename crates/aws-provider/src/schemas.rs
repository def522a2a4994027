//! The schemas of the kinds the AWS provider serves, checked before anything is planned (see
//! `strata_core::validate`): a field this provider does not read is refused, naming the
//! provider, instead of being planned and then silently dropped.
//!
//! The schemas hold exactly what the provider reads and honours, in the shapes and versions of
//! Upbound's provider-aws; everything else, Upbound fields included, is an unknown field
//! `(schema of the AWS provider)`. Where the provider is more lenient than Upbound, so are
//! they: `region` is never required (the provider's default region is used), a versioning
//! `status` defaults to `Enabled`, a parameter `value` may be a number.
//!
//! Every kind, under `spec`:
//! - `forProvider` (required): the fields below.
//! - `providerConfigRef: {name, policy}`: the provider has one configuration (the flags, the
//!   AWS environment and `providers.aws` of `strata.yaml`), so only `name: default` is
//!   accepted; any other name would be applied with the wrong account's credentials.
//! - `deletionPolicy: Delete` only: the provider deletes what it deletes (protect a resource
//!   with the `strata.dev/protect` annotation instead of `Orphan`).
//! - `managementPolicies: ["*"]` only: the provider observes, creates, updates and deletes.
//! - `writeConnectionSecretToRef: {name, namespace}`: accepted, but the provider writes no
//!   Secret: connection details (an instance's endpoint, port, username and password) reach a
//!   composite's connection secret through Strata's composite controller, which reads them
//!   from the provider directly.
//! - Refused: `initProvider` (not read: put the fields under `forProvider`), `providerRef`
//!   (deprecated by Crossplane; providers are chosen by kind) and `publishConnectionDetailsTo`
//!   (no secret store is written).
//!
//! `status` takes anything (it is what the provider reports).
//!
//! References: `xRef: {name, policy}`, `xRefs: [{name, policy}]` and `xSelector: {matchLabels,
//! matchControllerRef, policy}` with `policy: {resolve: Always|IfNotPresent, resolution:
//! Required|Optional}`, on the fields that Upbound's provider resolves and this one reads. A
//! selector needs `matchLabels`: Strata selects among the desired set by labels
//! (`matchControllerRef` is accepted, and selection is not narrowed by controller).
//!
//! `spec.forProvider` of each kind:
//! - **Bucket** (`v1beta1`, `v1beta2`): `region`, `tags`, `forceDestroy`, `objectLockEnabled`.
//!   The bucket is named by the `crossplane.io/external-name` annotation or `metadata.name`,
//!   not by a `bucket` field (refused: renaming would not be planned as a replacement).
//! - **BucketVersioning** (`v1beta1`, `v1beta2`): `bucket` (`bucketRef`, `bucketSelector`),
//!   `region`, `versioningConfiguration` (required; `status`: `Enabled`, `Suspended` or
//!   `Disabled`, `mfaDelete`: `Enabled` or `Disabled`), a one-item list in `v1beta1`, an object
//!   in `v1beta2`. Refused: `expectedBucketOwner`, `mfa`.
//! - **BucketServerSideEncryptionConfiguration** (`v1beta1`, `v1beta2`): `bucket` (and its
//!   references), `region`, `rule` (required, one rule): `bucketKeyEnabled` and
//!   `applyServerSideEncryptionByDefault` (`sseAlgorithm`: `AES256`, `aws:kms` or
//!   `aws:kms:dsse`; `kmsMasterKeyId` and its references), a one-item list in `v1beta1`, an
//!   object in `v1beta2`. Refused: `expectedBucketOwner`.
//! - **BucketPublicAccessBlock** (`v1beta1`): `bucket` (and its references), `region`,
//!   `blockPublicAcls`, `blockPublicPolicy`, `ignorePublicAcls`, `restrictPublicBuckets`.
//! - **Instance** (`v1beta1`, `v1beta2`, `v1beta3`): `region`, `identifier`, `engine` (the
//!   engines of RDS DB instances; Aurora and RDS Custom need fields this provider does not
//!   set), `engineVersion`, `instanceClass`, `allocatedStorage`, `storageType`, `iops`,
//!   `storageEncrypted`, `kmsKeyId` (and its references), `publiclyAccessible`,
//!   `backupRetentionPeriod` (0 to 35), `deletionProtection`, `autoMinorVersionUpgrade`,
//!   `dbSubnetGroupName`, `parameterGroupName`, `vpcSecurityGroupIds` (each with its
//!   references), `username`, `passwordSecretRef: {name, namespace, key}` (`key` defaults to
//!   `password`), `autoGeneratePassword`, `dbName`, `port`, `multiAz`, `availabilityZone`,
//!   `skipFinalSnapshot`, `finalSnapshotIdentifier`, `applyImmediately` (default `true`),
//!   `tags`. Refused, among others: `password` (use `passwordSecretRef`),
//!   `allowMajorVersionUpgrade` (a major version change is allowed when `engineVersion` asks
//!   for one), maintenance and backup windows, monitoring, Performance Insights, replicas and
//!   restores.
//! - **SubnetGroup** (`v1beta1`): `region`, `description`, `subnetIds` (`subnetIdRefs`,
//!   `subnetIdSelector`), `tags`.
//! - **ParameterGroup** (`v1beta1`): `region`, `family` (required), `description`,
//!   `parameter: [{name, value, applyMethod: immediate|pending-reboot}]`, `tags`.
//!
//! Groups are named as buckets are, never by a `name` field.

use std::sync::LazyLock;

use serde_json::{Value, json};
use strata_core::schema::{Dialect, KindSchema, Schema, SchemaError};

use crate::rds;
use crate::s3::{self, settings::Setting};

/// Who declares these schemas, as validation messages name it.
pub const DECLARED_BY: &str = "the AWS provider";

static SCHEMAS: LazyLock<Result<Vec<KindSchema>, SchemaError>> = LazyLock::new(compile);

/// The schemas of every kind (and version) the AWS provider serves, compiled once per process.
///
/// They are fixed text, compiled by this crate's tests; should they ever fail to compile, the
/// failure is logged and no schema is declared (the kinds are then checked by kind only).
pub fn schemas() -> Vec<KindSchema> {
    match &*SCHEMAS {
        Ok(schemas) => schemas.clone(),
        Err(error) => {
            tracing::error!("the AWS provider's schemas do not compile: {error}");
            Vec::new()
        }
    }
}

/// How a block (a Terraform nested block of at most one item) is written at `version`:
/// Upbound's `v1beta1` writes it as a one-item list, later versions as an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockShape {
    List,
    Object,
}

impl BlockShape {
    fn of(version: &str) -> Self {
        if version == "v1beta1" {
            Self::List
        } else {
            Self::Object
        }
    }

    fn wrap(self, block: Value) -> Value {
        match self {
            Self::List => json!({"type": "array", "maxItems": 1, "items": block}),
            Self::Object => block,
        }
    }
}

fn compile() -> Result<Vec<KindSchema>, SchemaError> {
    let mut out = Vec::new();
    let mut add =
        |group: &str, kind: &str, versions: &[&str], for_provider: fn(BlockShape) -> Value| {
            for version in versions {
                let text = managed(for_provider(BlockShape::of(version)));
                let schema = Schema::compile(&text, Dialect::Open).map_err(|e| SchemaError {
                    path: format!("{group}/{version} {kind}: {}", e.path),
                    message: e.message,
                    source: e.source,
                })?;
                out.push(KindSchema::new(group, *version, kind, schema, DECLARED_BY));
            }
            Ok::<(), SchemaError>(())
        };
    add(s3::GROUP, "Bucket", &["v1beta1", "v1beta2"], |_| bucket())?;
    for setting in Setting::ALL {
        match setting {
            Setting::Versioning => add(
                s3::GROUP,
                setting.kind_name(),
                &["v1beta1", "v1beta2"],
                versioning,
            )?,
            Setting::Encryption => add(
                s3::GROUP,
                setting.kind_name(),
                &["v1beta1", "v1beta2"],
                encryption,
            )?,
            Setting::PublicAccessBlock => {
                add(s3::GROUP, setting.kind_name(), &["v1beta1"], |_| {
                    public_access_block()
                })?
            }
        }
    }
    add(
        rds::GROUP,
        "Instance",
        &["v1beta1", "v1beta2", "v1beta3"],
        |_| instance(),
    )?;
    add(rds::GROUP, "SubnetGroup", &["v1beta1"], |_| subnet_group())?;
    add(rds::GROUP, "ParameterGroup", &["v1beta1"], |_| {
        parameter_group()
    })?;
    Ok(out)
}

/// A managed resource whose `spec.forProvider` is `for_provider`.
fn managed(for_provider: Value) -> Value {
    json!({
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": string(),
            "kind": string(),
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "required": ["forProvider"],
                "properties": {
                    "forProvider": for_provider,
                    "providerConfigRef": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {"name": one_of(&["default"]), "policy": policy()},
                    },
                    "deletionPolicy": one_of(&["Delete"]),
                    "managementPolicies": {"type": "array", "items": one_of(&["*"])},
                    "writeConnectionSecretToRef": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {"name": string(), "namespace": string()},
                    },
                },
            },
            "status": {"type": "object"},
        },
    })
}

/// A strict object of `properties`, `required` among them.
fn object(properties: Value, required: &[&str]) -> Value {
    let mut schema = json!({"type": "object", "properties": properties});
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

fn string() -> Value {
    json!({"type": "string"})
}

fn boolean() -> Value {
    json!({"type": "boolean"})
}

fn integer(minimum: i64, maximum: i64) -> Value {
    json!({"type": "integer", "minimum": minimum, "maximum": maximum})
}

/// The largest value the provider passes to AWS (its integers are 32-bit).
const I32_MAX: i64 = i32::MAX as i64;

fn one_of(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

fn strings() -> Value {
    json!({"type": "array", "items": string()})
}

fn string_map() -> Value {
    json!({"type": "object", "additionalProperties": string()})
}

/// An AWS region code (`eu-west-1`, `us-gov-west-1`, `cn-north-1`).
fn region() -> Value {
    json!({"type": "string", "pattern": "^[a-z]{2,4}(-[a-z]+)+-[0-9]+$"})
}

fn policy() -> Value {
    object(
        json!({
            "resolve": one_of(&["Always", "IfNotPresent"]),
            "resolution": one_of(&["Required", "Optional"]),
        }),
        &[],
    )
}

fn reference() -> Value {
    object(json!({"name": string(), "policy": policy()}), &["name"])
}

fn selector() -> Value {
    object(
        json!({
            "matchLabels": string_map(),
            "matchControllerRef": boolean(),
            "policy": policy(),
        }),
        &["matchLabels"],
    )
}

/// `properties` with `field` (a string) and its `fieldRef` and `fieldSelector`.
fn referenced(properties: &mut Value, field: &str) {
    properties[field] = string();
    properties[format!("{field}Ref")] = reference();
    properties[format!("{field}Selector")] = selector();
}

/// `properties` with `field` (a list of strings) and its `singularRefs` and
/// `singularSelector`.
fn referenced_list(properties: &mut Value, field: &str, singular: &str) {
    properties[field] = strings();
    properties[format!("{singular}Refs")] = json!({"type": "array", "items": reference()});
    properties[format!("{singular}Selector")] = selector();
}

fn bucket() -> Value {
    object(
        json!({
            "region": region(),
            "tags": string_map(),
            "forceDestroy": boolean(),
            "objectLockEnabled": boolean(),
        }),
        &[],
    )
}

/// The fields every bucket settings kind has: its bucket (and references) and region.
fn setting(mut properties: Value) -> Value {
    properties["region"] = region();
    referenced(&mut properties, "bucket");
    properties
}

fn versioning(shape: BlockShape) -> Value {
    let block = object(
        json!({
            "status": one_of(&["Enabled", "Suspended", "Disabled"]),
            "mfaDelete": one_of(&["Enabled", "Disabled"]),
        }),
        &[],
    );
    object(
        setting(json!({"versioningConfiguration": shape.wrap(block)})),
        &["versioningConfiguration"],
    )
}

fn encryption(shape: BlockShape) -> Value {
    let mut by_default = json!({"sseAlgorithm": one_of(&["AES256", "aws:kms", "aws:kms:dsse"])});
    referenced(&mut by_default, "kmsMasterKeyId");
    let rule = object(
        json!({
            "applyServerSideEncryptionByDefault": shape.wrap(object(by_default, &["sseAlgorithm"])),
            "bucketKeyEnabled": boolean(),
        }),
        &[],
    );
    object(
        setting(json!({
            "rule": {"type": "array", "minItems": 1, "maxItems": 1, "items": rule},
        })),
        &["rule"],
    )
}

fn public_access_block() -> Value {
    object(
        setting(json!({
            "blockPublicAcls": boolean(),
            "blockPublicPolicy": boolean(),
            "ignorePublicAcls": boolean(),
            "restrictPublicBuckets": boolean(),
        })),
        &[],
    )
}

/// The engines of RDS DB instances (CreateDBInstance's valid values, without Aurora and RDS
/// Custom, whose instances need a cluster or an instance profile this provider does not set).
const ENGINES: &[&str] = &[
    "db2-ae",
    "db2-se",
    "mariadb",
    "mysql",
    "oracle-ee",
    "oracle-ee-cdb",
    "oracle-se2",
    "oracle-se2-cdb",
    "postgres",
    "sqlserver-ee",
    "sqlserver-se",
    "sqlserver-ex",
    "sqlserver-web",
];

fn instance() -> Value {
    let mut properties = json!({
        "region": region(),
        "identifier": string(),
        "engine": one_of(ENGINES),
        "engineVersion": string(),
        "instanceClass": {"type": "string", "pattern": "^db\\.[a-z0-9-]+(\\.[a-z0-9-]+)+$"},
        "allocatedStorage": integer(0, I32_MAX),
        "storageType": one_of(&["standard", "gp2", "gp3", "io1", "io2"]),
        "iops": integer(0, I32_MAX),
        "storageEncrypted": boolean(),
        "publiclyAccessible": boolean(),
        "backupRetentionPeriod": integer(0, 35),
        "deletionProtection": boolean(),
        "autoMinorVersionUpgrade": boolean(),
        "username": string(),
        "passwordSecretRef": object(
            json!({"name": string(), "namespace": string(), "key": string()}),
            &["name"],
        ),
        "autoGeneratePassword": boolean(),
        "dbName": string(),
        "port": integer(1150, 65535),
        "multiAz": boolean(),
        "availabilityZone": string(),
        "skipFinalSnapshot": boolean(),
        "finalSnapshotIdentifier": string(),
        "applyImmediately": boolean(),
        "tags": string_map(),
    });
    referenced(&mut properties, "kmsKeyId");
    referenced(&mut properties, "dbSubnetGroupName");
    referenced(&mut properties, "parameterGroupName");
    referenced_list(&mut properties, "vpcSecurityGroupIds", "vpcSecurityGroupId");
    object(properties, &[])
}

fn subnet_group() -> Value {
    let mut properties = json!({
        "region": region(),
        "description": string(),
        "tags": string_map(),
    });
    referenced_list(&mut properties, "subnetIds", "subnetId");
    object(properties, &[])
}

fn parameter_group() -> Value {
    let parameter = object(
        json!({
            "name": string(),
            "value": {"type": ["string", "number"]},
            "applyMethod": one_of(&["immediate", "pending-reboot"]),
        }),
        &["name", "value"],
    );
    object(
        json!({
            "region": region(),
            "family": string(),
            "description": string(),
            "parameter": {"type": "array", "items": parameter},
            "tags": string_map(),
        }),
        &["family"],
    )
}

#[cfg(test)]
mod tests;
