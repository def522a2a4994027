//! The AWS provider for `--aws` (`--aws-endpoint`, `--aws-region`) and the S3 state backend
//! for `--state s3://bucket/key`.
//!
//! Configuration comes from the standard AWS environment and profiles (`AWS_REGION`,
//! `AWS_PROFILE`, `AWS_ENDPOINT_URL`, credentials files …); the flags override it. Passwords
//! named by `passwordSecretRef` come from the Secret manifests of the desired set, else from
//! `STRATA_SECRET_<NAME>_<KEY>` variables.

use std::sync::Arc;

use strata_aws::{
    AwsProvider, AwsSettings, ChainedSecrets, EnvSecrets, S3StateStore, StaticSecrets,
};
use strata_core::state::StateStore;
use strata_core::{Provider, Resource};

/// AWS settings from the flags (`None` fields come from the environment).
pub fn settings(endpoint: Option<&str>, region: Option<&str>) -> AwsSettings {
    let endpoint = endpoint.map(str::to_owned).or_else(|| {
        std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .filter(|e| !e.is_empty())
    });
    AwsSettings::default()
        .with_force_path_style(endpoint.is_some())
        .with_endpoint(endpoint)
        .with_region(region.map(str::to_owned))
}

/// The AWS provider, resolving passwords from the desired set's Secrets and the environment.
pub fn provider(settings: AwsSettings, resources: &[Resource]) -> Arc<dyn Provider> {
    let secrets = ChainedSecrets(vec![
        Box::new(StaticSecrets::from_manifests(resources)),
        Box::new(EnvSecrets),
    ]);
    Arc::new(AwsProvider::lazy(settings).with_secrets(Arc::new(secrets)))
}

/// The S3 state store for `s3://bucket/key`.
pub fn state_store(url: &str, settings: AwsSettings) -> anyhow::Result<Arc<dyn StateStore>> {
    Ok(Arc::new(S3StateStore::lazy(url, settings)?))
}
