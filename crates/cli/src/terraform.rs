//! Reading Terraform states (local files or `s3://bucket/key`) into the claims plans check.

use anyhow::Context;
use strata_aws::AwsSettings;
use strata_core::ownership::terraform::ForeignClaims;

/// The claims of every Terraform state named; any state that cannot be read is an error
/// naming it.
pub async fn read_claims(locations: &[String], aws: &AwsSettings) -> anyhow::Result<ForeignClaims> {
    let mut claims = ForeignClaims::default();
    for location in locations {
        let bytes = if location.starts_with("s3://") {
            let (bucket, key) = strata_aws::state_backend::parse_url(location)?;
            let out = aws
                .load()
                .await
                .s3(None)
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|source| strata_aws::error::classify("GetObject", source))
                .with_context(|| format!("reading the Terraform state {location}"))?;
            out.body
                .collect()
                .await
                .with_context(|| format!("reading the Terraform state {location}"))?
                .into_bytes()
                .to_vec()
        } else {
            std::fs::read(location)
                .with_context(|| format!("reading the Terraform state {location}"))?
        };
        claims.add_terraform_state(location, &bytes)?;
    }
    Ok(claims)
}
