//! Bucket settings resources: BucketVersioning, BucketServerSideEncryptionConfiguration and
//! BucketPublicAccessBlock. Each names its bucket in `spec.forProvider.bucket`, which core's
//! reference resolution fills from a `bucketRef` / `bucketSelector` with the referenced
//! Bucket's external name. Their ownership is the bucket's: labels are read from the bucket's
//! tags.

use aws_sdk_s3::types::{
    BucketVersioningStatus, MfaDelete, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    VersioningConfiguration,
};
use serde_json::{Map, Value, json};
use strata_core::Resource;
use strata_core::model::ANNOTATION_EXTERNAL_NAME;

use crate::config::AwsClients;
use crate::error::{AwsError, classify};
use crate::manifest::{self, LiveParts};
use crate::s3::bucket;

/// The settings kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Setting {
    /// BucketVersioning.
    Versioning,
    /// BucketServerSideEncryptionConfiguration.
    Encryption,
    /// BucketPublicAccessBlock.
    PublicAccessBlock,
}

impl Setting {
    /// Every bucket setting, in the order of the enum.
    pub const ALL: [Setting; 3] = [
        Setting::Versioning,
        Setting::Encryption,
        Setting::PublicAccessBlock,
    ];

    /// The kind of the resource holding this setting.
    pub fn kind_name(self) -> &'static str {
        match self {
            Self::Versioning => "BucketVersioning",
            Self::Encryption => "BucketServerSideEncryptionConfiguration",
            Self::PublicAccessBlock => "BucketPublicAccessBlock",
        }
    }

    /// The setting served for `kind`.
    pub fn of_kind(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.kind_name() == kind)
    }

    fn observable(self) -> &'static [&'static str] {
        match self {
            Self::Versioning => &["bucket", "versioningConfiguration"],
            Self::Encryption => &["bucket", "rule"],
            Self::PublicAccessBlock => &[
                "bucket",
                "blockPublicAcls",
                "blockPublicPolicy",
                "ignorePublicAcls",
                "restrictPublicBuckets",
            ],
        }
    }
}

/// Fields whose change forces a new settings resource.
pub const REPLACE_FIELDS: &[&str] = &["spec.forProvider.bucket", "spec.forProvider.region"];

/// The bucket a settings resource configures: `spec.forProvider.bucket`, else (no reference
/// either) its own external name or name. An unresolved `bucketRef` is an error.
pub fn target_bucket(resource: &Resource) -> Result<String, AwsError> {
    Ok(match manifest::referenced_field(resource, "bucket")? {
        Some(bucket) => bucket,
        None => resource
            .annotation(ANNOTATION_EXTERNAL_NAME)
            .unwrap_or(&resource.key.name)
            .to_owned(),
    })
}

/// The versioning configuration of `spec.forProvider.versioningConfiguration[0]`.
pub fn versioning_request(manifest: &Value) -> Result<VersioningConfiguration, AwsError> {
    let block = first_block(manifest, "versioningConfiguration")
        .ok_or_else(|| AwsError::invalid("spec.forProvider.versioningConfiguration is required"))?;
    let status = block
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("Enabled");
    let status = match status {
        "Enabled" => BucketVersioningStatus::Enabled,
        "Suspended" | "Disabled" => BucketVersioningStatus::Suspended,
        other => {
            return Err(AwsError::invalid(format!(
                "versioningConfiguration.status must be Enabled or Suspended, not {other:?}"
            )));
        }
    };
    let mut builder = VersioningConfiguration::builder().status(status);
    if let Some(mfa) = block.get("mfaDelete").and_then(Value::as_str) {
        builder = builder.mfa_delete(MfaDelete::from(mfa));
    }
    Ok(builder.build())
}

/// The encryption configuration of `spec.forProvider.rule`.
pub fn encryption_request(manifest: &Value) -> Result<ServerSideEncryptionConfiguration, AwsError> {
    let rules = manifest::for_provider(manifest)
        .get("rule")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| AwsError::invalid("spec.forProvider.rule needs at least one rule"))?;
    let mut out = Vec::new();
    for rule in rules {
        let mut builder = ServerSideEncryptionRule::builder();
        if let Some(default) = block_of(rule, "applyServerSideEncryptionByDefault") {
            let algorithm = default
                .get("sseAlgorithm")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    AwsError::invalid("applyServerSideEncryptionByDefault.sseAlgorithm is required")
                })?;
            let by_default = ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::from(algorithm))
                .set_kms_master_key_id(
                    default
                        .get("kmsMasterKeyId")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                )
                .build()
                .map_err(|e| AwsError::invalid(format!("encryption rule: {e}")).with_source(e))?;
            builder = builder.apply_server_side_encryption_by_default(by_default);
        }
        if let Some(enabled) = rule.get("bucketKeyEnabled").and_then(Value::as_bool) {
            builder = builder.bucket_key_enabled(enabled);
        }
        out.push(builder.build());
    }
    ServerSideEncryptionConfiguration::builder()
        .set_rules(Some(out))
        .build()
        .map_err(|e| AwsError::invalid(format!("encryption configuration: {e}")).with_source(e))
}

/// The public access block of `spec.forProvider` (unset flags are false, as in AWS).
pub fn public_access_block_request(manifest: &Value) -> PublicAccessBlockConfiguration {
    let flag = |f| manifest::bool_field(manifest, f).unwrap_or(false);
    PublicAccessBlockConfiguration::builder()
        .block_public_acls(flag("blockPublicAcls"))
        .block_public_policy(flag("blockPublicPolicy"))
        .ignore_public_acls(flag("ignorePublicAcls"))
        .restrict_public_buckets(flag("restrictPublicBuckets"))
        .build()
}

/// Whether the manifest's version writes blocks (Terraform nested blocks of at most one item)
/// as one-item lists, as Upbound's `v1beta1` does; later versions write them as objects. Live
/// objects are built in the desired manifest's shape, so plans compare like with like.
pub fn blocks_as_lists(manifest: &Value) -> bool {
    manifest
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_none_or(|v| v.rsplit('/').next() == Some("v1beta1"))
}

/// A block as its version writes it (see [`blocks_as_lists`]).
fn block_value(block: Map<String, Value>, as_list: bool) -> Value {
    if as_list {
        json!([block])
    } else {
        Value::Object(block)
    }
}

/// The encryption rules as `spec.forProvider.rule`, blocks written as lists or objects (see
/// [`blocks_as_lists`]).
pub fn encryption_fields(config: &ServerSideEncryptionConfiguration, as_list: bool) -> Value {
    Value::Array(
        config
            .rules()
            .iter()
            .map(|rule| {
                let mut out = Map::new();
                if let Some(d) = rule.apply_server_side_encryption_by_default() {
                    let mut by_default = Map::new();
                    by_default.insert("sseAlgorithm".into(), json!(d.sse_algorithm().as_str()));
                    if let Some(key) = d.kms_master_key_id() {
                        by_default.insert("kmsMasterKeyId".into(), json!(key));
                    }
                    out.insert(
                        "applyServerSideEncryptionByDefault".into(),
                        block_value(by_default, as_list),
                    );
                }
                out.insert(
                    "bucketKeyEnabled".into(),
                    json!(rule.bucket_key_enabled().unwrap_or(false)),
                );
                Value::Object(out)
            })
            .collect(),
    )
}

/// The first item of a block list (Upbound's `v1beta1` writes Terraform blocks as one-item
/// lists), or the block itself when written as an object (`v1beta2`).
fn first_block<'a>(manifest: &'a Value, field: &str) -> Option<&'a Value> {
    match manifest::for_provider(manifest).get(field)? {
        Value::Array(items) => items.first(),
        v @ Value::Object(_) => Some(v),
        _ => None,
    }
}

fn block_of<'a>(parent: &'a Value, field: &str) -> Option<&'a Value> {
    match parent.get(field)? {
        Value::Array(items) => items.first(),
        v @ Value::Object(_) => Some(v),
        _ => None,
    }
}

/// Observes a settings resource: `None` when its bucket or its configuration is absent.
pub async fn observe(
    clients: &AwsClients,
    setting: Setting,
    desired: &Resource,
) -> Result<Option<Value>, AwsError> {
    let name = target_bucket(desired)?;
    let region = bucket::bucket_region(clients, &desired.manifest);
    let client = clients.s3(Some(&region));
    let mut fields = Map::new();
    fields.insert("bucket".into(), json!(name));
    let as_list = blocks_as_lists(&desired.manifest);
    match setting {
        Setting::Versioning => {
            let out = match client.get_bucket_versioning().bucket(&name).send().await {
                Ok(out) => out,
                Err(e) => return absent_or(classify("GetBucketVersioning", e)),
            };
            let Some(status) = out.status() else {
                return Ok(None);
            };
            let mut block = Map::new();
            block.insert("status".into(), json!(status.as_str()));
            block.insert(
                "mfaDelete".into(),
                json!(out.mfa_delete().map_or("Disabled", |m| m.as_str())),
            );
            fields.insert(
                "versioningConfiguration".into(),
                block_value(block, as_list),
            );
        }
        Setting::Encryption => {
            let out = match client.get_bucket_encryption().bucket(&name).send().await {
                Ok(out) => out,
                Err(e) => return absent_or(classify("GetBucketEncryption", e)),
            };
            let Some(config) = out.server_side_encryption_configuration() else {
                return Ok(None);
            };
            fields.insert("rule".into(), encryption_fields(config, as_list));
        }
        Setting::PublicAccessBlock => {
            let out = match client.get_public_access_block().bucket(&name).send().await {
                Ok(out) => out,
                Err(e) => return absent_or(classify("GetPublicAccessBlock", e)),
            };
            let Some(c) = out.public_access_block_configuration() else {
                return Ok(None);
            };
            fields.insert(
                "blockPublicAcls".into(),
                json!(c.block_public_acls().unwrap_or(false)),
            );
            fields.insert(
                "blockPublicPolicy".into(),
                json!(c.block_public_policy().unwrap_or(false)),
            );
            fields.insert(
                "ignorePublicAcls".into(),
                json!(c.ignore_public_acls().unwrap_or(false)),
            );
            fields.insert(
                "restrictPublicBuckets".into(),
                json!(c.restrict_public_buckets().unwrap_or(false)),
            );
        }
    }
    let tags = bucket::read_tags(&client, &name).await?;
    let (labels, _) = manifest::split_tags(&desired.manifest, &tags);
    Ok(Some(manifest::live_object(
        &desired.manifest,
        LiveParts {
            external_name: name,
            for_provider: fields,
            observable: setting.observable(),
            at_provider: Map::new(),
            labels,
            ready: true,
            reason: "Available".into(),
        },
    )))
}

fn absent_or(e: AwsError) -> Result<Option<Value>, AwsError> {
    if e.is_not_found() { Ok(None) } else { Err(e) }
}

/// Writes the setting (create and update are the same PUT).
pub async fn put(
    clients: &AwsClients,
    setting: Setting,
    desired: &Resource,
) -> Result<Value, AwsError> {
    let name = target_bucket(desired)?;
    let region = bucket::bucket_region(clients, &desired.manifest);
    let client = clients.s3(Some(&region));
    match setting {
        Setting::Versioning => {
            client
                .put_bucket_versioning()
                .bucket(&name)
                .versioning_configuration(versioning_request(&desired.manifest)?)
                .send()
                .await
                .map_err(|source| classify("PutBucketVersioning", source))?;
        }
        Setting::Encryption => {
            client
                .put_bucket_encryption()
                .bucket(&name)
                .server_side_encryption_configuration(encryption_request(&desired.manifest)?)
                .send()
                .await
                .map_err(|source| classify("PutBucketEncryption", source))?;
        }
        Setting::PublicAccessBlock => {
            client
                .put_public_access_block()
                .bucket(&name)
                .public_access_block_configuration(public_access_block_request(&desired.manifest))
                .send()
                .await
                .map_err(|source| classify("PutPublicAccessBlock", source))?;
        }
    }
    observe(clients, setting, desired)
        .await?
        .ok_or_else(|| AwsError::invalid(format!("bucket {name}: the setting did not persist")))
}

/// Removes the setting: versioning is suspended (S3 cannot turn it off once enabled),
/// encryption returns to the bucket default, the public access block is deleted.
pub async fn delete(
    clients: &AwsClients,
    setting: Setting,
    resource: &Resource,
) -> Result<(), AwsError> {
    let name = target_bucket(resource)?;
    let region = bucket::bucket_region(clients, &resource.manifest);
    let client = clients.s3(Some(&region));
    let result = match setting {
        Setting::Versioning => client
            .put_bucket_versioning()
            .bucket(&name)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Suspended)
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|source| classify("PutBucketVersioning", source)),
        Setting::Encryption => client
            .delete_bucket_encryption()
            .bucket(&name)
            .send()
            .await
            .map(|_| ())
            .map_err(|source| classify("DeleteBucketEncryption", source)),
        Setting::PublicAccessBlock => client
            .delete_public_access_block()
            .bucket(&name)
            .send()
            .await
            .map(|_| ())
            .map_err(|source| classify("DeletePublicAccessBlock", source)),
    };
    match result {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(kind: &str, for_provider: Value) -> Resource {
        Resource::from_manifest(json!({
            "apiVersion": "s3.aws.upbound.io/v1beta1", "kind": kind,
            "metadata": {"name": "logs-versioning"},
            "spec": {"forProvider": for_provider}
        }))
        .unwrap()
    }

    #[test]
    fn the_bucket_comes_from_the_resolved_field_never_from_the_reference_name() {
        assert_eq!(
            target_bucket(&resource("BucketVersioning", json!({"bucket": "logs"}))).unwrap(),
            "logs"
        );
        // Resolution wrote the referenced Bucket's external name: that is what counts.
        assert_eq!(
            target_bucket(&resource(
                "BucketVersioning",
                json!({"bucket": "logs-eu", "bucketRef": {"name": "logs"}})
            ))
            .unwrap(),
            "logs-eu"
        );
        let unresolved = target_bucket(&resource(
            "BucketVersioning",
            json!({"bucketRef": {"name": "logs2"}}),
        ))
        .unwrap_err();
        assert_eq!(unresolved.kind, crate::error::AwsErrorKind::Final);
        assert!(
            unresolved
                .to_string()
                .contains("spec.forProvider.bucketRef")
                && unresolved.to_string().contains("spec.forProvider.bucket;"),
            "{unresolved}"
        );
        assert_eq!(
            target_bucket(&resource("BucketVersioning", json!({}))).unwrap(),
            "logs-versioning",
            "no bucket and no reference: its own name"
        );
    }

    #[test]
    fn versioning_maps_status_and_mfa_delete() {
        let r = resource(
            "BucketVersioning",
            json!({"bucket": "b", "versioningConfiguration": [{"status": "Enabled", "mfaDelete": "Disabled"}]}),
        );
        let v = versioning_request(&r.manifest).unwrap();
        assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));
        assert_eq!(v.mfa_delete(), Some(&MfaDelete::Disabled));
        let bad = resource(
            "BucketVersioning",
            json!({"versioningConfiguration": [{"status": "On"}]}),
        );
        assert!(
            versioning_request(&bad.manifest)
                .unwrap_err()
                .message
                .contains("On")
        );
    }

    #[test]
    fn encryption_maps_rules_and_reads_back_in_the_same_shape() {
        let fp = json!({"bucket": "b", "rule": [{
            "applyServerSideEncryptionByDefault": [{"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "alias/k"}],
            "bucketKeyEnabled": true
        }]});
        let r = resource("BucketServerSideEncryptionConfiguration", fp.clone());
        let c = encryption_request(&r.manifest).unwrap();
        let rule = &c.rules()[0];
        let d = rule.apply_server_side_encryption_by_default().unwrap();
        assert_eq!(d.sse_algorithm(), &ServerSideEncryption::AwsKms);
        assert_eq!(d.kms_master_key_id(), Some("alias/k"));
        assert_eq!(rule.bucket_key_enabled(), Some(true));
        assert_eq!(encryption_fields(&c, true), fp["rule"]);
    }

    #[test]
    fn v1beta2_blocks_are_objects_and_read_back_as_objects() {
        let fp = json!({"bucket": "b", "rule": [{
            "applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"},
            "bucketKeyEnabled": false
        }]});
        let mut r = resource("BucketServerSideEncryptionConfiguration", fp.clone());
        r.manifest["apiVersion"] = json!("s3.aws.upbound.io/v1beta2");
        assert!(!blocks_as_lists(&r.manifest));
        let c = encryption_request(&r.manifest).unwrap();
        assert_eq!(encryption_fields(&c, false), fp["rule"]);
        let mut v = resource(
            "BucketVersioning",
            json!({"bucket": "b", "versioningConfiguration": {"status": "Suspended"}}),
        );
        v.manifest["apiVersion"] = json!("s3.aws.upbound.io/v1beta2");
        assert_eq!(
            versioning_request(&v.manifest).unwrap().status(),
            Some(&BucketVersioningStatus::Suspended)
        );
        assert!(blocks_as_lists(
            &resource("BucketVersioning", json!({})).manifest
        ));
    }

    #[test]
    fn public_access_block_defaults_unset_flags_to_false() {
        let r = resource(
            "BucketPublicAccessBlock",
            json!({"bucket": "b", "blockPublicAcls": true}),
        );
        let c = public_access_block_request(&r.manifest);
        assert_eq!(c.block_public_acls(), Some(true));
        assert_eq!(c.restrict_public_buckets(), Some(false));
    }
}
