//! [`AwsProvider`]: the `strata_core::Provider` for S3 and RDS resources.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use strata_core::provider::{Applied, ConnectionDetails, Health};
use strata_core::{Observation, Provider, ProviderError, ReferenceSource, Resource, ResourceKey};

use crate::config::{AwsClients, AwsSettings, LazyClients};
use crate::error::AwsError;
use crate::manifest;
use crate::rds::{self, instance, parameter_group, subnet_group};
use crate::s3::{self, bucket, settings, settings::Setting};
use crate::secrets::{NoSecrets, SecretSource};

/// The kinds this provider serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AwsKind {
    /// `s3.aws.upbound.io` Bucket.
    Bucket,
    /// A bucket settings resource.
    BucketSetting(Setting),
    /// `rds.aws.upbound.io` Instance.
    Instance,
    /// `rds.aws.upbound.io` SubnetGroup.
    SubnetGroup,
    /// `rds.aws.upbound.io` ParameterGroup.
    ParameterGroup,
}

impl AwsKind {
    /// The kind served for an API group and kind, if any.
    pub fn of(group: &str, kind: &str) -> Option<Self> {
        match (group, kind) {
            (s3::GROUP, "Bucket") => Some(Self::Bucket),
            (s3::GROUP, k) => Setting::of_kind(k).map(Self::BucketSetting),
            (rds::GROUP, "Instance") => Some(Self::Instance),
            (rds::GROUP, "SubnetGroup") => Some(Self::SubnetGroup),
            (rds::GROUP, "ParameterGroup") => Some(Self::ParameterGroup),
            _ => None,
        }
    }

    fn of_key(key: &ResourceKey) -> Option<Self> {
        Self::of(&key.group, &key.kind)
    }
}

/// The AWS provider: S3 buckets (and their versioning, encryption and public access block) and
/// RDS instances, subnet groups and parameter groups.
#[derive(Debug, Clone)]
pub struct AwsProvider {
    clients: LazyClients,
    secrets: Arc<dyn SecretSource>,
    delete_wait: Duration,
}

impl AwsProvider {
    /// A provider over already built clients, with no secret source.
    pub fn new(clients: AwsClients) -> Self {
        Self::with_clients(LazyClients::ready(clients))
    }

    /// A provider whose clients are loaded from the standard AWS environment with `settings`
    /// on top at its first request (no runtime or network needed to build it).
    pub fn lazy(settings: AwsSettings) -> Self {
        Self::with_clients(LazyClients::new(settings))
    }

    fn with_clients(clients: LazyClients) -> Self {
        Self {
            clients,
            secrets: Arc::new(NoSecrets),
            delete_wait: Duration::from_secs(30 * 60),
        }
    }

    /// A provider configured from the standard AWS environment with `settings` on top.
    pub async fn from_settings(settings: &AwsSettings) -> Self {
        Self::new(settings.load().await)
    }

    /// Resolves `passwordSecretRef`s through `secrets`.
    pub fn with_secrets(mut self, secrets: Arc<dyn SecretSource>) -> Self {
        self.secrets = secrets;
        self
    }

    /// How long a delete waits for an RDS instance to disappear (default 30 minutes).
    pub fn with_delete_wait(mut self, wait: Duration) -> Self {
        self.delete_wait = wait;
        self
    }

    /// The clients in use (loaded on the first call for a lazy provider).
    pub async fn clients(&self) -> &AwsClients {
        self.clients.get().await
    }

    fn kind(resource: &Resource) -> Result<AwsKind, ProviderError> {
        AwsKind::of_key(&resource.key).ok_or_else(|| {
            ProviderError::final_error(format!("the aws provider does not serve {}", resource.key))
        })
    }

    async fn write(&self, desired: &Resource, create: bool) -> Result<Applied, AwsError> {
        let clients = self.clients.get().await;
        let (live, connection) = match Self::kind(desired)
            .map_err(|e| AwsError::invalid(e.message))?
        {
            AwsKind::Bucket if create => (
                bucket::create(clients, desired).await?,
                ConnectionDetails::default(),
            ),
            AwsKind::Bucket => (
                bucket::update(clients, desired).await?,
                ConnectionDetails::default(),
            ),
            AwsKind::BucketSetting(s) => (
                settings::put(clients, s, desired).await?,
                ConnectionDetails::default(),
            ),
            AwsKind::Instance if create => {
                instance::create(clients, self.secrets.as_ref(), desired).await?
            }
            AwsKind::Instance => instance::update(clients, self.secrets.as_ref(), desired).await?,
            AwsKind::SubnetGroup if create => (
                subnet_group::create(clients, desired).await?,
                ConnectionDetails::default(),
            ),
            AwsKind::SubnetGroup => (
                subnet_group::update(clients, desired).await?,
                ConnectionDetails::default(),
            ),
            AwsKind::ParameterGroup if create => (
                parameter_group::create(clients, desired).await?,
                ConnectionDetails::default(),
            ),
            AwsKind::ParameterGroup => (
                parameter_group::update(clients, desired).await?,
                ConnectionDetails::default(),
            ),
        };
        Ok(Applied {
            outputs: outputs(&live),
            live,
            connection,
        })
    }
}

/// The non-sensitive outputs kept in state: the external name, the ARN, the endpoint and the
/// late-initialized `spec.forProvider` fields the manifest left unset.
pub fn outputs_of(desired: &Value, live: &Value) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(name) =
        strata_core::model::annotation(live, strata_core::model::ANNOTATION_EXTERNAL_NAME)
    {
        out.insert("id".into(), json!(name));
    }
    if let Some(at) = live.get("status").and_then(|s| s.get("atProvider")) {
        for key in ["arn", "endpoint", "address", "vpcId"] {
            if let Some(v) = at.get(key) {
                out.insert(key.into(), v.clone());
            }
        }
    }
    let set = manifest::for_provider(desired);
    let late: serde_json::Map<String, Value> = manifest::for_provider(live)
        .iter()
        .filter(|(k, _)| !set.contains_key(*k) && k.as_str() != "tags")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !late.is_empty() {
        out.insert("lateInitialized".into(), Value::Object(late));
    }
    Value::Object(out)
}

fn outputs(live: &Value) -> Value {
    outputs_of(&Value::Null, live)
}

#[async_trait]
impl Provider for AwsProvider {
    fn name(&self) -> &str {
        "aws"
    }

    fn serves(&self, api_version: &str, kind: &str) -> bool {
        AwsKind::of(strata_core::model::group_of(api_version), kind).is_some()
    }

    fn declared_kinds(&self) -> Vec<(String, String)> {
        crate::declared_kinds()
    }

    fn schemas(&self) -> Vec<strata_core::schema::KindSchema> {
        crate::schemas()
    }

    /// S3 buckets (listed account-wide) and RDS instances (in the default region) whose tags
    /// carry `stack`'s ownership labels, named by their names in AWS. Bucket settings and
    /// subnet and parameter groups carry no tags of their own to list by; they are found
    /// through the desired set.
    async fn list_owned(
        &self,
        stack: &str,
        kinds: &[(String, String)],
    ) -> Result<Option<Vec<Value>>, ProviderError> {
        let wants = |group: &str, kind: &str| {
            kinds
                .iter()
                .any(|(v, k)| strata_core::model::group_of(v) == group && k == kind)
        };
        let clients = self.clients.get().await;
        let mut owned = Vec::new();
        if wants(crate::s3::GROUP, "Bucket") {
            owned.extend(bucket::list_owned(clients, stack).await?);
        }
        if wants(crate::rds::GROUP, "Instance") {
            owned.extend(instance::list_owned(clients, stack).await?);
        }
        Ok(Some(owned))
    }

    async fn observe(&self, desired: &Resource) -> Result<Observation, ProviderError> {
        let clients = self.clients.get().await;
        let observed = match Self::kind(desired)? {
            AwsKind::Bucket => bucket::observe(clients, desired)
                .await?
                .map(|l| (l, ConnectionDetails::default())),
            AwsKind::BucketSetting(s) => settings::observe(clients, s, desired)
                .await?
                .map(|l| (l, ConnectionDetails::default())),
            AwsKind::Instance => instance::observe(clients, self.secrets.as_ref(), desired).await?,
            AwsKind::SubnetGroup => subnet_group::observe(clients, desired)
                .await?
                .map(|l| (l, ConnectionDetails::default())),
            AwsKind::ParameterGroup => parameter_group::observe(clients, desired)
                .await?
                .map(|l| (l, ConnectionDetails::default())),
        };
        Ok(match observed {
            Some((live, connection)) => Observation {
                live: Some(live.into()),
                connection,
            },
            None => Observation::absent(),
        })
    }

    async fn create(&self, desired: &Resource) -> Result<Applied, ProviderError> {
        let mut applied = self.write(desired, true).await?;
        applied.outputs = outputs_of(&desired.manifest, &applied.live);
        Ok(applied)
    }

    async fn update(&self, desired: &Resource, _live: &Value) -> Result<Applied, ProviderError> {
        let mut applied = self.write(desired, false).await?;
        applied.outputs = outputs_of(&desired.manifest, &applied.live);
        Ok(applied)
    }

    async fn delete(&self, resource: &Resource) -> Result<(), ProviderError> {
        let clients = self.clients.get().await;
        match Self::kind(resource)? {
            AwsKind::Bucket => bucket::delete(clients, resource).await?,
            AwsKind::BucketSetting(s) => settings::delete(clients, s, resource).await?,
            AwsKind::Instance => instance::delete(clients, resource, self.delete_wait).await?,
            AwsKind::SubnetGroup => subnet_group::delete(clients, resource).await?,
            AwsKind::ParameterGroup => parameter_group::delete(clients, resource).await?,
        }
        Ok(())
    }

    fn replace_fields(&self, key: &ResourceKey) -> Vec<String> {
        crate::replace::replace_rules().fields_for(key).to_vec()
    }

    fn sensitive_fields(&self, key: &ResourceKey) -> Vec<String> {
        match AwsKind::of_key(key) {
            Some(AwsKind::Instance) => vec![
                "spec.forProvider.password".to_owned(),
                "spec.forProvider.masterUserPassword".to_owned(),
            ],
            _ => Vec::new(),
        }
    }

    /// A reference filling an ARN field (`…Arn`, `…Arns`) takes the target's live ARN, as
    /// upjet's ARN extractor does; every other reference takes the external name.
    fn reference_value(&self, target: &ResourceKey, value_field: &str) -> ReferenceSource {
        let wants_arn = value_field.ends_with("Arn") || value_field.ends_with("Arns");
        if wants_arn && AwsKind::of_key(target).is_some() {
            ReferenceSource::LiveField("status.atProvider.arn".to_owned())
        } else {
            ReferenceSource::ExternalName
        }
    }

    fn health(&self, live: &Value) -> Health {
        if let Some(status) = live
            .get("status")
            .and_then(|s| s.get("atProvider"))
            .and_then(|a| a.get("status"))
            .and_then(Value::as_str)
            .filter(|_| live.get("kind").and_then(Value::as_str) == Some("Instance"))
        {
            return instance::health_of_status(status);
        }
        match manifest::ready_reason(live) {
            Some(("True", _)) => Health::Healthy,
            Some(("False", _)) => Health::Progressing,
            _ => Health::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_s3_and_rds_kinds_only() {
        assert_eq!(
            AwsKind::of("s3.aws.upbound.io", "Bucket"),
            Some(AwsKind::Bucket)
        );
        assert_eq!(
            AwsKind::of("s3.aws.upbound.io", "BucketVersioning"),
            Some(AwsKind::BucketSetting(Setting::Versioning))
        );
        assert_eq!(
            AwsKind::of("rds.aws.upbound.io", "Instance"),
            Some(AwsKind::Instance)
        );
        assert_eq!(AwsKind::of("ec2.aws.upbound.io", "SecurityGroup"), None);
        assert_eq!(AwsKind::of("rds.aws.upbound.io", "Cluster"), None);
    }

    #[test]
    fn arn_fields_reference_the_live_arn_and_others_the_external_name() {
        let provider = AwsProvider::lazy(AwsSettings::default());
        let bucket = ResourceKey::new("s3.aws.upbound.io", "Bucket", None, "logs");
        assert_eq!(
            provider.reference_value(&bucket, "bucket"),
            ReferenceSource::ExternalName
        );
        assert_eq!(
            provider.reference_value(&bucket, "bucketArn"),
            ReferenceSource::LiveField("status.atProvider.arn".into())
        );
    }

    #[test]
    fn outputs_carry_ids_and_late_initialized_fields_only() {
        let desired = json!({"spec": {"forProvider": {"engine": "postgres"}}});
        let live = json!({
            "metadata": {"annotations": {"crossplane.io/external-name": "db"}},
            "spec": {"forProvider": {"engine": "postgres", "engineVersion": "16.3", "tags": {"a": "b"}}},
            "status": {"atProvider": {"arn": "arn:x", "endpoint": "h:5432", "status": "available"}}
        });
        let o = outputs_of(&desired, &live);
        assert_eq!(o["id"], "db");
        assert_eq!(o["arn"], "arn:x");
        assert_eq!(o["lateInitialized"], json!({"engineVersion": "16.3"}));
        assert!(o.get("status").is_none());
    }
}
