//! RDS tags: the tags Strata writes (user tags plus labels) and the add/remove needed to reach
//! them.

use std::collections::BTreeMap;

use aws_sdk_rds::Client;
use aws_sdk_rds::types::Tag;

use crate::error::{AwsError, classify};

/// RDS tags from a tag map.
pub fn to_rds(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// A tag map from RDS tags.
pub fn from_rds(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

/// The tags to add (new or changed) and the keys to remove to turn `live` into `desired`.
pub fn changes(
    desired: &BTreeMap<String, String>,
    live: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let add = desired
        .iter()
        .filter(|(k, v)| live.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove = live
        .keys()
        .filter(|k| !desired.contains_key(*k))
        .cloned()
        .collect();
    (add, remove)
}

/// The tags of the resource `arn`.
pub async fn read(client: &Client, arn: &str) -> Result<BTreeMap<String, String>, AwsError> {
    let out = client
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map_err(|source| classify("ListTagsForResource", source))?;
    Ok(from_rds(out.tag_list()))
}

/// Reads the tags of `arn` and brings them to the tags `manifest` asks for.
pub async fn reconcile_with_manifest(
    client: &Client,
    arn: &str,
    manifest: &serde_json::Value,
) -> Result<(), AwsError> {
    let live = read(client, arn).await?;
    reconcile(client, arn, &crate::manifest::desired_tags(manifest), &live).await
}

/// Brings the tags of `arn` from `live` to `desired`.
pub async fn reconcile(
    client: &Client,
    arn: &str,
    desired: &BTreeMap<String, String>,
    live: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let (add, remove) = changes(desired, live);
    if !remove.is_empty() {
        client
            .remove_tags_from_resource()
            .resource_name(arn)
            .set_tag_keys(Some(remove))
            .send()
            .await
            .map_err(|source| classify("RemoveTagsFromResource", source))?;
    }
    if !add.is_empty() {
        client
            .add_tags_to_resource()
            .resource_name(arn)
            .set_tags(Some(to_rds(&add)))
            .send()
            .await
            .map_err(|source| classify("AddTagsToResource", source))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn changes_add_changed_and_remove_missing() {
        let (add, remove) = changes(
            &map(&[("a", "1"), ("b", "2"), ("c", "3")]),
            &map(&[("a", "1"), ("b", "old"), ("d", "4")]),
        );
        assert_eq!(add, map(&[("b", "2"), ("c", "3")]));
        assert_eq!(remove, vec!["d".to_owned()]);
    }

    #[test]
    fn round_trip_through_rds_tags() {
        let m = map(&[("strata.dev/stack", "s"), ("team", "x")]);
        assert_eq!(from_rds(&to_rds(&m)), m);
    }
}
