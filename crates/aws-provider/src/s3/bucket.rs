//! The S3 Bucket: name (external name), region, tags, forced destruction.

use std::collections::BTreeMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Delete, ObjectIdentifier, Tag, Tagging,
};
use serde_json::{Map, Value, json};
use strata_core::Resource;

use crate::config::AwsClients;
use crate::error::{AwsError, classify};
use crate::manifest::{self, LiveParts};

/// Fields of `spec.forProvider` a bucket reports.
const OBSERVABLE: &[&str] = &["region", "tags"];

/// Fields whose change forces a new bucket.
pub const REPLACE_FIELDS: &[&str] = &[
    "spec.forProvider.region",
    "spec.forProvider.objectLockEnabled",
];

/// The bucket name of a Bucket resource.
pub fn bucket_name(resource: &Resource) -> String {
    manifest::external_name(resource, Some("bucket"))
}

/// The region a bucket resource lives in.
pub fn bucket_region(clients: &AwsClients, manifest: &Value) -> String {
    manifest::region(manifest).map_or_else(|| clients.default_region(), str::to_owned)
}

/// The CreateBucket configuration for `region` (none for us-east-1, which takes no location
/// constraint).
pub fn create_configuration(region: &str) -> Option<CreateBucketConfiguration> {
    (region != "us-east-1").then(|| {
        CreateBucketConfiguration::builder()
            .location_constraint(BucketLocationConstraint::from(region))
            .build()
    })
}

/// An S3 tag set from a tag map.
pub fn tagging(tags: &BTreeMap<String, String>) -> Result<Tagging, AwsError> {
    let tag_set = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AwsError::invalid(format!("bucket tags: {e}")).with_source(e))?;
    Tagging::builder()
        .set_tag_set(Some(tag_set))
        .build()
        .map_err(|e| AwsError::invalid(format!("bucket tags: {e}")).with_source(e))
}

/// The tags of a bucket (empty when it has none).
pub async fn read_tags(client: &Client, name: &str) -> Result<BTreeMap<String, String>, AwsError> {
    match client.get_bucket_tagging().bucket(name).send().await {
        Ok(out) => Ok(out
            .tag_set()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect()),
        Err(e) => {
            let e = classify("GetBucketTagging", e);
            if e.code.as_deref() == Some("NoSuchTagSet")
                || e.code.as_deref() == Some("NoSuchTagSetError")
            {
                Ok(BTreeMap::new())
            } else {
                Err(e)
            }
        }
    }
}

/// Whether the bucket exists (HeadBucket).
pub async fn exists(client: &Client, name: &str) -> Result<bool, AwsError> {
    match client.head_bucket().bucket(name).send().await {
        Ok(_) => Ok(true),
        Err(e) => {
            let e = classify("HeadBucket", e);
            if e.is_not_found() { Ok(false) } else { Err(e) }
        }
    }
}

/// Every bucket of the account whose tags carry `stack`'s ownership labels.
pub async fn list_owned(clients: &AwsClients, stack: &str) -> Result<Vec<Value>, AwsError> {
    let client = clients.s3(None);
    let listed = client
        .list_buckets()
        .send()
        .await
        .map_err(|source| classify("ListBuckets", source))?;
    let mut owned = Vec::new();
    for name in listed.buckets().iter().filter_map(|b| b.name()) {
        let tags = read_tags(&client, name).await?;
        if manifest::owned_by(&tags, stack) {
            owned.push(manifest::listed_object(
                &format!("{}/v1beta1", super::GROUP),
                "Bucket",
                name,
                &tags,
            ));
        }
    }
    Ok(owned)
}

/// Observes a bucket: `None` when it does not exist.
pub async fn observe(clients: &AwsClients, desired: &Resource) -> Result<Option<Value>, AwsError> {
    let name = bucket_name(desired);
    let region = bucket_region(clients, &desired.manifest);
    let client = clients.s3(Some(&region));
    if !exists(&client, &name).await? {
        return Ok(None);
    }
    let location = match client.get_bucket_location().bucket(&name).send().await {
        Ok(out) => out
            .location_constraint()
            .map(|c| c.as_str().to_owned())
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "us-east-1".to_owned()),
        Err(e) => {
            let e = classify("GetBucketLocation", e);
            if e.is_not_found() {
                return Ok(None);
            }
            return Err(e);
        }
    };
    let tags = read_tags(&client, &name).await?;
    Ok(Some(live(&desired.manifest, &name, &location, &tags)))
}

/// The live object of a bucket from what S3 reported.
pub fn live(desired: &Value, name: &str, region: &str, tags: &BTreeMap<String, String>) -> Value {
    let (labels, user_tags) = manifest::split_tags(desired, tags);
    let mut for_provider = Map::new();
    for_provider.insert("region".into(), json!(region));
    // Always present (empty when there are none), so `tags: {}` in a manifest matches.
    for_provider.insert("tags".into(), Value::Object(user_tags));
    let mut at = Map::new();
    at.insert("arn".into(), json!(format!("arn:aws:s3:::{name}")));
    at.insert(
        "bucketDomainName".into(),
        json!(format!("{name}.s3.amazonaws.com")),
    );
    at.insert(
        "bucketRegionalDomainName".into(),
        json!(format!("{name}.s3.{region}.amazonaws.com")),
    );
    at.insert("tagsAll".into(), json!(tags));
    manifest::live_object(
        desired,
        LiveParts {
            external_name: name.to_owned(),
            for_provider,
            observable: OBSERVABLE,
            at_provider: at,
            labels,
            ready: true,
            reason: "Available".into(),
        },
    )
}

/// Creates the bucket and its tags.
pub async fn create(clients: &AwsClients, desired: &Resource) -> Result<Value, AwsError> {
    let name = bucket_name(desired);
    let region = bucket_region(clients, &desired.manifest);
    let client = clients.s3(Some(&region));
    let mut request = client
        .create_bucket()
        .bucket(&name)
        .set_create_bucket_configuration(create_configuration(&region));
    if manifest::bool_field(&desired.manifest, "objectLockEnabled") == Some(true) {
        request = request.object_lock_enabled_for_bucket(true);
    }
    request
        .send()
        .await
        .map_err(|source| classify("CreateBucket", source))?;
    write_tags(&client, &name, &manifest::desired_tags(&desired.manifest)).await?;
    observe(clients, desired).await?.ok_or_else(|| {
        AwsError::invalid(format!("bucket {name} vanished right after its creation"))
    })
}

/// Brings tags up to date (the only in-place change a bucket has).
pub async fn update(clients: &AwsClients, desired: &Resource) -> Result<Value, AwsError> {
    let name = bucket_name(desired);
    let region = bucket_region(clients, &desired.manifest);
    let client = clients.s3(Some(&region));
    write_tags(&client, &name, &manifest::desired_tags(&desired.manifest)).await?;
    observe(clients, desired)
        .await?
        .ok_or_else(|| AwsError::invalid(format!("bucket {name} does not exist")))
}

async fn write_tags(
    client: &Client,
    name: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    if tags.is_empty() {
        client
            .delete_bucket_tagging()
            .bucket(name)
            .send()
            .await
            .map_err(|source| classify("DeleteBucketTagging", source))?;
    } else {
        client
            .put_bucket_tagging()
            .bucket(name)
            .tagging(tagging(tags)?)
            .send()
            .await
            .map_err(|source| classify("PutBucketTagging", source))?;
    }
    Ok(())
}

/// Deletes the bucket; with `forceDestroy: true`, every object version first. Deleting a bucket
/// that is gone succeeds.
pub async fn delete(clients: &AwsClients, resource: &Resource) -> Result<(), AwsError> {
    let name = bucket_name(resource);
    let region = bucket_region(clients, &resource.manifest);
    let client = clients.s3(Some(&region));
    if manifest::bool_field(&resource.manifest, "forceDestroy") == Some(true) {
        empty_bucket(&client, &name).await?;
    }
    match client.delete_bucket().bucket(&name).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = classify("DeleteBucket", e);
            if e.is_not_found() {
                Ok(())
            } else if e.code.as_deref() == Some("BucketNotEmpty") {
                Err(AwsError::invalid(format!(
                    "{}; set spec.forProvider.forceDestroy: true to delete its objects with it",
                    e.message
                )))
            } else {
                Err(e)
            }
        }
    }
}

/// Deletes every object version and delete marker of a bucket.
async fn empty_bucket(client: &Client, name: &str) -> Result<(), AwsError> {
    loop {
        let listed = match client.list_object_versions().bucket(name).send().await {
            Ok(out) => out,
            Err(e) => {
                let e = classify("ListObjectVersions", e);
                return if e.is_not_found() { Ok(()) } else { Err(e) };
            }
        };
        let mut ids = Vec::new();
        for v in listed.versions() {
            if let Some(key) = v.key() {
                ids.push((key.to_owned(), v.version_id().map(str::to_owned)));
            }
        }
        for m in listed.delete_markers() {
            if let Some(key) = m.key() {
                ids.push((key.to_owned(), m.version_id().map(str::to_owned)));
            }
        }
        if ids.is_empty() {
            return Ok(());
        }
        let objects = ids
            .into_iter()
            .map(|(key, version)| {
                ObjectIdentifier::builder()
                    .key(key)
                    .set_version_id(version)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AwsError::invalid(format!("DeleteObjects: {e}")).with_source(e))?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| AwsError::invalid(format!("DeleteObjects: {e}")).with_source(e))?;
        client
            .delete_objects()
            .bucket(name)
            .delete(delete)
            .send()
            .await
            .map_err(|source| classify("DeleteObjects", source))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn us_east_1_takes_no_location_constraint() {
        assert!(create_configuration("us-east-1").is_none());
        let c = create_configuration("eu-west-1").unwrap();
        assert_eq!(c.location_constraint().unwrap().as_str(), "eu-west-1");
    }

    #[test]
    fn tag_sets_map_every_tag() {
        let tags: BTreeMap<String, String> = [
            ("a".to_owned(), "1".to_owned()),
            ("strata.dev/stack".to_owned(), "s".to_owned()),
        ]
        .into();
        let t = tagging(&tags).unwrap();
        assert_eq!(t.tag_set().len(), 2);
        assert_eq!(t.tag_set()[1].key(), "strata.dev/stack");
        assert_eq!(t.tag_set()[1].value(), "s");
    }

    #[test]
    fn live_bucket_reads_ownership_back_from_tags() {
        let desired = json!({
            "apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "Bucket",
            "metadata": {"name": "b"},
            "spec": {"forProvider": {"region": "us-east-1", "tags": {"env": "dev"}}}
        });
        let tags: BTreeMap<String, String> = [
            ("env".to_owned(), "prod".to_owned()),
            (
                "app.kubernetes.io/managed-by".to_owned(),
                "strata".to_owned(),
            ),
            ("strata.dev/stack".to_owned(), "demo".to_owned()),
        ]
        .into();
        let l = live(&desired, "b", "us-east-1", &tags);
        assert_eq!(l["metadata"]["labels"]["strata.dev/stack"], "demo");
        assert_eq!(l["spec"]["forProvider"]["tags"], json!({"env": "prod"}));
        assert_eq!(l["status"]["atProvider"]["arn"], "arn:aws:s3:::b");
    }
}
