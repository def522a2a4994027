//! S3: buckets (`s3.aws.upbound.io/v1beta1` Bucket) and their settings resources
//! (BucketVersioning, BucketServerSideEncryptionConfiguration, BucketPublicAccessBlock).
//!
//! Tags are set on the Bucket itself (`spec.forProvider.tags`, plus the manifest's labels under
//! their own keys); there is no separate BucketTagging kind, so a bucket's tag set has exactly
//! one writer. S3 replaces a bucket's tag set as a whole, so an apply writes the complete set.

pub mod bucket;
pub mod settings;

/// The API group of S3 resources.
pub const GROUP: &str = "s3.aws.upbound.io";
