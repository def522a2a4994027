//! The RDS DB subnet group (`rds.aws.upbound.io/v1beta1` SubnetGroup): name (external name),
//! description, subnet ids, tags.

use aws_sdk_rds::types::DbSubnetGroup;
use serde_json::{Map, Value, json};
use strata_core::Resource;

use crate::config::AwsClients;
use crate::error::{AwsError, classify, gone_is_ok};
use crate::manifest::{self, LiveParts};
use crate::rds::tags;

const OBSERVABLE: &[&str] = &["description", "subnetIds", "tags"];

/// Fields whose change forces a new subnet group.
pub const REPLACE_FIELDS: &[&str] = &["spec.forProvider.region"];

/// The subnet group's name.
pub fn group_name(resource: &Resource) -> String {
    manifest::external_name(resource, Some("name"))
}

fn subnet_ids(manifest: &Value) -> Vec<String> {
    manifest::for_provider(manifest)
        .get("subnetIds")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn description(resource: &Resource) -> String {
    manifest::str_field(&resource.manifest, "description")
        .map_or_else(|| "Managed by Strata".to_owned(), str::to_owned)
}

/// The live object of a subnet group; subnet ids keep the desired order when the sets match.
pub fn live(
    desired: &Value,
    group: &DbSubnetGroup,
    tag_map: &std::collections::BTreeMap<String, String>,
) -> Value {
    let (labels, user_tags) = manifest::split_tags(desired, tag_map);
    let mut ids: Vec<String> = group
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier().map(str::to_owned))
        .collect();
    let wanted = subnet_ids(desired);
    let mut sorted_live = ids.clone();
    sorted_live.sort();
    let mut sorted_wanted = wanted.clone();
    sorted_wanted.sort();
    if sorted_live == sorted_wanted {
        ids = wanted;
    }
    let mut fp = Map::new();
    fp.insert(
        "description".into(),
        json!(group.db_subnet_group_description().unwrap_or_default()),
    );
    fp.insert("subnetIds".into(), json!(ids));
    // Always present (empty when there are none), so `tags: {}` in a manifest matches.
    fp.insert("tags".into(), Value::Object(user_tags));
    let mut at = Map::new();
    if let Some(arn) = group.db_subnet_group_arn() {
        at.insert("arn".into(), json!(arn));
    }
    if let Some(vpc) = group.vpc_id() {
        at.insert("vpcId".into(), json!(vpc));
    }
    if let Some(s) = group.subnet_group_status() {
        at.insert("status".into(), json!(s));
    }
    at.insert("tagsAll".into(), json!(tag_map));
    manifest::live_object(
        desired,
        LiveParts {
            external_name: group.db_subnet_group_name().unwrap_or_default().to_owned(),
            for_provider: fp,
            observable: OBSERVABLE,
            at_provider: at,
            labels,
            ready: true,
            reason: "Available".into(),
        },
    )
}

async fn describe(
    client: &aws_sdk_rds::Client,
    name: &str,
) -> Result<Option<DbSubnetGroup>, AwsError> {
    match client
        .describe_db_subnet_groups()
        .db_subnet_group_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_subnet_groups().first().cloned()),
        Err(e) => {
            let e = classify("DescribeDBSubnetGroups", e);
            if e.is_not_found() { Ok(None) } else { Err(e) }
        }
    }
}

/// Observes a subnet group.
pub async fn observe(clients: &AwsClients, desired: &Resource) -> Result<Option<Value>, AwsError> {
    let client = clients.rds(manifest::region(&desired.manifest));
    let Some(group) = describe(&client, &group_name(desired)).await? else {
        return Ok(None);
    };
    let tag_map = match group.db_subnet_group_arn() {
        Some(arn) => tags::read(&client, arn).await?,
        None => Default::default(),
    };
    Ok(Some(live(&desired.manifest, &group, &tag_map)))
}

/// Creates a subnet group.
pub async fn create(clients: &AwsClients, desired: &Resource) -> Result<Value, AwsError> {
    let client = clients.rds(manifest::region(&desired.manifest));
    let name = group_name(desired);
    let tag_list = tags::to_rds(&manifest::desired_tags(&desired.manifest));
    client
        .create_db_subnet_group()
        .db_subnet_group_name(&name)
        .db_subnet_group_description(description(desired))
        .set_subnet_ids(Some(subnet_ids(&desired.manifest)))
        .set_tags(Some(tag_list).filter(|t| !t.is_empty()))
        .send()
        .await
        .map_err(|source| classify("CreateDBSubnetGroup", source))?;
    observe(clients, desired)
        .await?
        .ok_or_else(|| AwsError::invalid(format!("DB subnet group {name} vanished after creation")))
}

/// Updates description, subnets and tags.
pub async fn update(clients: &AwsClients, desired: &Resource) -> Result<Value, AwsError> {
    let client = clients.rds(manifest::region(&desired.manifest));
    let name = group_name(desired);
    client
        .modify_db_subnet_group()
        .db_subnet_group_name(&name)
        .db_subnet_group_description(description(desired))
        .set_subnet_ids(Some(subnet_ids(&desired.manifest)))
        .send()
        .await
        .map_err(|source| classify("ModifyDBSubnetGroup", source))?;
    if let Some(arn) = describe(&client, &name)
        .await?
        .and_then(|g| g.db_subnet_group_arn().map(str::to_owned))
    {
        tags::reconcile_with_manifest(&client, &arn, &desired.manifest).await?;
    }
    observe(clients, desired)
        .await?
        .ok_or_else(|| AwsError::invalid(format!("DB subnet group {name} does not exist")))
}

/// Deletes a subnet group (gone already is success).
pub async fn delete(clients: &AwsClients, resource: &Resource) -> Result<(), AwsError> {
    let client = clients.rds(manifest::region(&resource.manifest));
    let sent = client
        .delete_db_subnet_group()
        .db_subnet_group_name(group_name(resource))
        .send()
        .await;
    gone_is_ok(
        sent.map(|_| ())
            .map_err(|source| classify("DeleteDBSubnetGroup", source)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_rds::types::Subnet;

    #[test]
    fn subnet_order_follows_the_desired_order_when_sets_match() {
        let desired = json!({
            "apiVersion": "rds.aws.upbound.io/v1beta1", "kind": "SubnetGroup",
            "metadata": {"name": "g"},
            "spec": {"forProvider": {"description": "d", "subnetIds": ["subnet-b", "subnet-a"]}}
        });
        let group = DbSubnetGroup::builder()
            .db_subnet_group_name("g")
            .db_subnet_group_description("d")
            .subnets(Subnet::builder().subnet_identifier("subnet-a").build())
            .subnets(Subnet::builder().subnet_identifier("subnet-b").build())
            .vpc_id("vpc-1")
            .build();
        let l = live(&desired, &group, &Default::default());
        assert_eq!(
            l["spec"]["forProvider"]["subnetIds"],
            json!(["subnet-b", "subnet-a"])
        );
        assert_eq!(l["status"]["atProvider"]["vpcId"], "vpc-1");
        assert!(strata_core::plan::fields::desired_vs_live(&desired, &l).is_empty());
    }
}
