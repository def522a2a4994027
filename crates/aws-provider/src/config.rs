//! AWS configuration and clients: the standard AWS environment and profiles (through
//! aws-config), overridable in code (and by the CLI's `--aws-region` / `--aws-endpoint`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::config::{Credentials, Region};

/// Static credentials given in code (tests, or a caller with its own secret store).
#[derive(Clone)]
pub struct StaticCredentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token of temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &strata_core::sensitive::REDACTED)
            .finish()
    }
}

/// Overrides of the standard AWS configuration. Every field left `None` comes from the
/// environment (`AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_PROFILE`, credentials…) and profiles.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct AwsSettings {
    /// The default region (resources may name another in `spec.forProvider.region`).
    pub region: Option<String>,
    /// A custom endpoint for every service (moto, LocalStack, a VPC endpoint).
    pub endpoint: Option<String>,
    /// The profile to read from `~/.aws/config` and `~/.aws/credentials`.
    pub profile: Option<String>,
    /// Credentials that replace the default credential chain.
    pub credentials: Option<StaticCredentials>,
    /// Path-style S3 addressing (`endpoint/bucket/key`); always on with a custom endpoint.
    pub force_path_style: bool,
    /// Timeout of one attempt of one request (default 60 s).
    pub attempt_timeout: Option<Duration>,
}

impl AwsSettings {
    /// Sets [`region`](Self::region).
    pub fn with_region(mut self, region: Option<String>) -> Self {
        self.region = region;
        self
    }

    /// Sets [`endpoint`](Self::endpoint).
    pub fn with_endpoint(mut self, endpoint: Option<String>) -> Self {
        self.endpoint = endpoint;
        self
    }

    /// Sets [`profile`](Self::profile).
    pub fn with_profile(mut self, profile: Option<String>) -> Self {
        self.profile = profile;
        self
    }

    /// Sets [`credentials`](Self::credentials).
    pub fn with_credentials(mut self, credentials: Option<StaticCredentials>) -> Self {
        self.credentials = credentials;
        self
    }

    /// Sets [`force_path_style`](Self::force_path_style).
    pub fn with_force_path_style(mut self, force_path_style: bool) -> Self {
        self.force_path_style = force_path_style;
        self
    }

    /// Sets [`attempt_timeout`](Self::attempt_timeout).
    pub fn with_attempt_timeout(mut self, attempt_timeout: Option<Duration>) -> Self {
        self.attempt_timeout = attempt_timeout;
        self
    }

    /// Settings for a local test server (moto): endpoint, region and dummy credentials.
    pub fn local(endpoint: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            region: Some(region.into()),
            endpoint: Some(endpoint.into()),
            credentials: Some(StaticCredentials {
                access_key_id: "testing".to_owned(),
                secret_access_key: "testing".to_owned(),
                session_token: None,
            }),
            force_path_style: true,
            ..Self::default()
        }
    }

    /// Loads the shared configuration and returns the clients built from it.
    pub async fn load(&self) -> AwsClients {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &self.endpoint {
            loader = loader.endpoint_url(endpoint.clone());
        }
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(c) = &self.credentials {
            loader = loader.credentials_provider(Credentials::new(
                c.access_key_id.clone(),
                c.secret_access_key.clone(),
                c.session_token.clone(),
                None,
                "strata",
            ));
        }
        loader = loader.timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(self.attempt_timeout.unwrap_or(Duration::from_secs(60)))
                .build(),
        );
        let shared = loader.load().await;
        AwsClients::new(shared, self.force_path_style || self.endpoint.is_some())
    }
}

/// S3 and RDS clients per region, built from one shared configuration.
#[derive(Debug, Clone)]
pub struct AwsClients {
    shared: SdkConfig,
    force_path_style: bool,
    s3: Arc<Mutex<HashMap<String, aws_sdk_s3::Client>>>,
    rds: Arc<Mutex<HashMap<String, aws_sdk_rds::Client>>>,
}

impl AwsClients {
    /// Clients from an already loaded shared configuration.
    pub fn new(shared: SdkConfig, force_path_style: bool) -> Self {
        Self {
            shared,
            force_path_style,
            s3: Arc::default(),
            rds: Arc::default(),
        }
    }

    /// The default region (`us-east-1` when none is configured).
    pub fn default_region(&self) -> String {
        self.shared
            .region()
            .map(|r| r.as_ref().to_owned())
            .unwrap_or_else(|| "us-east-1".to_owned())
    }

    /// The S3 client for `region` (the default region when `None`).
    pub fn s3(&self, region: Option<&str>) -> aws_sdk_s3::Client {
        let region = region.map_or_else(|| self.default_region(), str::to_owned);
        let mut cache = self.s3.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(region.clone())
            .or_insert_with(|| {
                let conf = aws_sdk_s3::config::Builder::from(&self.shared)
                    .region(Region::new(region))
                    .force_path_style(self.force_path_style)
                    .build();
                aws_sdk_s3::Client::from_conf(conf)
            })
            .clone()
    }

    /// The RDS client for `region` (the default region when `None`).
    pub fn rds(&self, region: Option<&str>) -> aws_sdk_rds::Client {
        let region = region.map_or_else(|| self.default_region(), str::to_owned);
        let mut cache = self.rds.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(region.clone())
            .or_insert_with(|| {
                let conf = aws_sdk_rds::config::Builder::from(&self.shared)
                    .region(Region::new(region))
                    .build();
                aws_sdk_rds::Client::from_conf(conf)
            })
            .clone()
    }
}

/// Clients loaded on first use, so that configuring a provider or a state store needs no
/// runtime and no network until the first request.
#[derive(Debug, Clone)]
pub struct LazyClients {
    settings: AwsSettings,
    cell: Arc<tokio::sync::OnceCell<AwsClients>>,
}

impl LazyClients {
    /// Clients that load `settings` (and the standard AWS configuration) on first use.
    pub fn new(settings: AwsSettings) -> Self {
        Self {
            settings,
            cell: Arc::new(tokio::sync::OnceCell::new()),
        }
    }

    /// Clients that are already loaded.
    pub fn ready(clients: AwsClients) -> Self {
        Self {
            settings: AwsSettings::default(),
            cell: Arc::new(tokio::sync::OnceCell::new_with(Some(clients))),
        }
    }

    /// The clients, loading them on the first call.
    pub async fn get(&self) -> &AwsClients {
        self.cell.get_or_init(|| self.settings.load()).await
    }
}
