//! The RDS DB parameter group (`rds.aws.upbound.io/v1beta1` ParameterGroup): name (external
//! name), family, description, parameters (`parameter: [{name, value, applyMethod}]`), tags.

use aws_sdk_rds::types::{ApplyMethod, DbParameterGroup, Parameter};
use serde_json::{Map, Value, json};
use strata_core::Resource;

use crate::config::AwsClients;
use crate::error::{AwsError, classify, gone_is_ok};
use crate::manifest::{self, LiveParts};
use crate::rds::tags;

const OBSERVABLE: &[&str] = &["family", "description", "parameter", "tags"];

/// Fields whose change forces a new parameter group (RDS cannot change them in place).
pub const REPLACE_FIELDS: &[&str] = &[
    "spec.forProvider.family",
    "spec.forProvider.description",
    "spec.forProvider.region",
];

/// The parameter group's name.
pub fn group_name(resource: &Resource) -> String {
    manifest::external_name(resource, Some("name"))
}

/// The desired parameters as RDS parameters.
pub fn parameters(manifest: &Value) -> Result<Vec<Parameter>, AwsError> {
    let Some(items) = manifest::for_provider(manifest)
        .get("parameter")
        .and_then(Value::as_array)
    else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .map(|p| {
            let name = p
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| AwsError::invalid("every parameter needs a name"))?;
            let value = match p.get("value") {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => return Err(AwsError::invalid(format!("parameter {name} needs a value"))),
            };
            let method = p
                .get("applyMethod")
                .and_then(Value::as_str)
                .unwrap_or("immediate");
            Ok(Parameter::builder()
                .parameter_name(name)
                .parameter_value(value)
                .apply_method(ApplyMethod::from(method))
                .build())
        })
        .collect()
}

/// The `parameter` list of the live group: the desired parameters in their order with their
/// live values (an unset one is missing), then user-set parameters the manifest does not name.
pub fn live_parameters(desired: &Value, live: &[Parameter]) -> Value {
    let wanted: Vec<(String, Option<String>, Option<Value>)> = manifest::for_provider(desired)
        .get("parameter")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    Some((
                        p.get("name")?.as_str()?.to_owned(),
                        p.get("applyMethod")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        p.get("value").cloned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for (name, method, wanted_value) in &wanted {
        if let Some(p) = live.iter().find(|p| p.parameter_name() == Some(name)) {
            let mut item = Map::new();
            item.insert("name".into(), json!(name));
            let live_value = p.parameter_value().unwrap_or_default();
            // A number in the manifest names the same value as RDS's string.
            let value = match wanted_value {
                Some(v @ Value::Number(n)) if n.to_string() == live_value => v.clone(),
                _ => json!(live_value),
            };
            item.insert("value".into(), value);
            if let Some(m) = method {
                item.insert("applyMethod".into(), json!(m));
            }
            out.push(Value::Object(item));
        }
    }
    for p in live {
        let Some(name) = p.parameter_name() else {
            continue;
        };
        if !wanted.iter().any(|(w, _, _)| w == name) {
            out.push(json!({"name": name, "value": p.parameter_value().unwrap_or_default()}));
        }
    }
    Value::Array(out)
}

async fn describe(
    client: &aws_sdk_rds::Client,
    name: &str,
) -> Result<Option<DbParameterGroup>, AwsError> {
    match client
        .describe_db_parameter_groups()
        .db_parameter_group_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_parameter_groups().first().cloned()),
        Err(e) => {
            let e = classify("DescribeDBParameterGroups", e);
            if e.is_not_found() { Ok(None) } else { Err(e) }
        }
    }
}

async fn user_parameters(
    client: &aws_sdk_rds::Client,
    name: &str,
) -> Result<Vec<Parameter>, AwsError> {
    let mut out = Vec::new();
    let mut marker = None;
    loop {
        let page = client
            .describe_db_parameters()
            .db_parameter_group_name(name)
            .source("user")
            .set_marker(marker)
            .send()
            .await
            .map_err(|source| classify("DescribeDBParameters", source))?;
        out.extend(
            page.parameters()
                .iter()
                .filter(|p| p.source().is_none_or(|s| s == "user"))
                .cloned(),
        );
        marker = page.marker().map(str::to_owned);
        if marker.is_none() {
            return Ok(out);
        }
    }
}

/// Observes a parameter group.
pub async fn observe(clients: &AwsClients, desired: &Resource) -> Result<Option<Value>, AwsError> {
    let client = clients.rds(manifest::region(&desired.manifest));
    let name = group_name(desired);
    let Some(group) = describe(&client, &name).await? else {
        return Ok(None);
    };
    let params = user_parameters(&client, &name).await?;
    let tag_map = match group.db_parameter_group_arn() {
        Some(arn) => tags::read(&client, arn).await?,
        None => Default::default(),
    };
    let (labels, user_tags) = manifest::split_tags(&desired.manifest, &tag_map);
    let mut fp = Map::new();
    if let Some(f) = group.db_parameter_group_family() {
        fp.insert("family".into(), json!(f));
    }
    if let Some(d) = group.description() {
        fp.insert("description".into(), json!(d));
    }
    let live_params = live_parameters(&desired.manifest, &params);
    if live_params.as_array().is_some_and(|a| !a.is_empty()) {
        fp.insert("parameter".into(), live_params);
    }
    // Always present (empty when there are none), so `tags: {}` in a manifest matches.
    fp.insert("tags".into(), Value::Object(user_tags));
    let mut at = Map::new();
    if let Some(arn) = group.db_parameter_group_arn() {
        at.insert("arn".into(), json!(arn));
    }
    at.insert("tagsAll".into(), json!(tag_map));
    Ok(Some(manifest::live_object(
        &desired.manifest,
        LiveParts {
            external_name: name,
            for_provider: fp,
            observable: OBSERVABLE,
            at_provider: at,
            labels,
            ready: true,
            reason: "Available".into(),
        },
    )))
}

async fn modify_parameters(
    client: &aws_sdk_rds::Client,
    name: &str,
    manifest: &Value,
) -> Result<(), AwsError> {
    let params = parameters(manifest)?;
    // ModifyDBParameterGroup takes at most 20 parameters per call.
    for chunk in params.chunks(20) {
        client
            .modify_db_parameter_group()
            .db_parameter_group_name(name)
            .set_parameters(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|source| classify("ModifyDBParameterGroup", source))?;
    }
    Ok(())
}

/// Creates a parameter group and sets its parameters.
pub async fn create(clients: &AwsClients, desired: &Resource) -> Result<Value, AwsError> {
    let client = clients.rds(manifest::region(&desired.manifest));
    let name = group_name(desired);
    let family = manifest::str_field(&desired.manifest, "family")
        .ok_or_else(|| AwsError::invalid("spec.forProvider.family is required"))?;
    let tag_list = tags::to_rds(&manifest::desired_tags(&desired.manifest));
    client
        .create_db_parameter_group()
        .db_parameter_group_name(&name)
        .db_parameter_group_family(family)
        .description(
            manifest::str_field(&desired.manifest, "description").unwrap_or("Managed by Strata"),
        )
        .set_tags(Some(tag_list).filter(|t| !t.is_empty()))
        .send()
        .await
        .map_err(|source| classify("CreateDBParameterGroup", source))?;
    modify_parameters(&client, &name, &desired.manifest).await?;
    observe(clients, desired).await?.ok_or_else(|| {
        AwsError::invalid(format!("DB parameter group {name} vanished after creation"))
    })
}

/// Sets parameters and tags.
pub async fn update(clients: &AwsClients, desired: &Resource) -> Result<Value, AwsError> {
    let client = clients.rds(manifest::region(&desired.manifest));
    let name = group_name(desired);
    modify_parameters(&client, &name, &desired.manifest).await?;
    if let Some(arn) = describe(&client, &name)
        .await?
        .and_then(|g| g.db_parameter_group_arn().map(str::to_owned))
    {
        tags::reconcile_with_manifest(&client, &arn, &desired.manifest).await?;
    }
    observe(clients, desired)
        .await?
        .ok_or_else(|| AwsError::invalid(format!("DB parameter group {name} does not exist")))
}

/// Deletes a parameter group (gone already is success).
pub async fn delete(clients: &AwsClients, resource: &Resource) -> Result<(), AwsError> {
    let client = clients.rds(manifest::region(&resource.manifest));
    let sent = client
        .delete_db_parameter_group()
        .db_parameter_group_name(group_name(resource))
        .send()
        .await;
    gone_is_ok(
        sent.map(|_| ())
            .map_err(|source| classify("DeleteDBParameterGroup", source)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired() -> Value {
        json!({
            "apiVersion": "rds.aws.upbound.io/v1beta1", "kind": "ParameterGroup",
            "metadata": {"name": "pg"},
            "spec": {"forProvider": {"family": "postgres16", "parameter": [
                {"name": "log_min_duration_statement", "value": "500", "applyMethod": "immediate"},
                {"name": "work_mem", "value": 4096}
            ]}}
        })
    }

    #[test]
    fn parameters_map_names_values_and_methods() {
        let p = parameters(&desired()).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].parameter_name(), Some("work_mem"));
        assert_eq!(p[1].parameter_value(), Some("4096"));
        assert_eq!(p[0].apply_method(), Some(&ApplyMethod::Immediate));
    }

    #[test]
    fn live_parameters_keep_the_desired_order_and_show_extras() {
        let live = vec![
            Parameter::builder()
                .parameter_name("work_mem")
                .parameter_value("4096")
                .build(),
            Parameter::builder()
                .parameter_name("log_min_duration_statement")
                .parameter_value("500")
                .build(),
        ];
        let l = live_parameters(&desired(), &live);
        assert_eq!(l[0]["name"], "log_min_duration_statement");
        assert_eq!(l[0]["applyMethod"], "immediate");
        assert_eq!(
            l[1]["value"], 4096,
            "the manifest's number is kept when equal"
        );
        let mut extra = live.clone();
        extra.push(
            Parameter::builder()
                .parameter_name("x")
                .parameter_value("1")
                .build(),
        );
        assert_eq!(
            live_parameters(&desired(), &extra)
                .as_array()
                .unwrap()
                .len(),
            3
        );
    }
}
