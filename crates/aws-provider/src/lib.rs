//! Strata's AWS adapter: S3 and RDS providers and the S3 state backend.
//!
//! - [`AwsProvider`] implements `strata_core::Provider` for the Upbound/Crossplane shapes
//!   `s3.aws.upbound.io/v1beta1` Bucket, BucketVersioning,
//!   BucketServerSideEncryptionConfiguration, BucketPublicAccessBlock and
//!   `rds.aws.upbound.io/v1beta1` Instance, SubnetGroup, ParameterGroup. Bucket tags are set on
//!   the Bucket itself (`spec.forProvider.tags`); labels travel as tags under their own keys so
//!   ownership is read back from AWS.
//! - [`S3StateStore`] implements `strata_core::StateStore` with `If-Match` compare-and-swap
//!   and an `If-None-Match: *` lock object.
//! - [`replace_rules`] is the table of replace-forcing fields of every served kind, which the
//!   provider answers from and the sandbox mirrors.
//! - [`schemas()`] are the schemas of every served kind (what the provider reads, in Upbound's
//!   shapes), checked before anything is planned; the sandbox mirrors them too.
//! - [`AwsSettings`] takes configuration from the standard AWS environment and profiles, with
//!   overrides in code (region, endpoint, profile, credentials).
//! - `testing` (behind the `testing` cargo feature, for test crates only) starts a pinned moto
//!   server for tests.
//!
//! ```no_run
//! use std::sync::Arc;
//! use strata_aws::{AwsProvider, AwsSettings, S3StateStore};
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = AwsSettings::default().with_region(Some("eu-west-1".into()));
//! let provider = AwsProvider::from_settings(&settings).await;
//! let store = S3StateStore::from_url("s3://my-states/prod/network.json", &settings).await?;
//! let registry = strata_core::ProviderRegistry::new().with_provider(Arc::new(provider));
//! # let _ = (registry, store); Ok(()) }
//! ```

pub mod config;
pub mod error;
pub mod manifest;
pub mod provider;
pub mod rds;
pub mod replace;
pub mod s3;
pub mod schemas;
pub mod secrets;
pub mod state_backend;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::{AwsClients, AwsSettings, LazyClients, StaticCredentials};
pub use error::{AwsError, AwsErrorKind};
pub use provider::{AwsKind, AwsProvider};
pub use replace::{declared_kinds, replace_rules};
pub use schemas::schemas;
pub use secrets::{ChainedSecrets, EnvSecrets, NoSecrets, SecretRef, SecretSource, StaticSecrets};
pub use state_backend::S3StateStore;
