//! Credentials of private repositories from ArgoCD repository Secrets in the controller's
//! namespace: `argocd.argoproj.io/secret-type: repository` (data `url`, `username`,
//! `password`) for one repository, `repo-creds` for every repository whose URL starts with
//! `url`. A Secret with only a `password` sends it as a token. Values are never logged.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use strata_sources::repo::Credentials;

use crate::clusters::{SECRET_TYPE_LABEL, secret_text};

/// The repository Secrets could not be listed.
#[derive(Debug, thiserror::Error)]
#[error("listing {kind} Secrets in {namespace}: {source}")]
#[non_exhaustive]
pub struct RepoSecretsError {
    /// `repository` or `repo-creds`.
    pub kind: &'static str,
    /// The controller's namespace.
    pub namespace: String,
    /// The API server's answer.
    #[source]
    pub source: kube::Error,
}

/// The credentials the repository Secrets of `namespace` give, by URL prefix. A Secret
/// without `url` or without `password` is skipped with a warning naming it.
pub async fn load(
    client: &kube::Client,
    namespace: &str,
) -> Result<Vec<(String, Credentials)>, RepoSecretsError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut found = Vec::new();
    for kind in ["repository", "repo-creds"] {
        let list = secrets
            .list(&ListParams::default().labels(&format!("{SECRET_TYPE_LABEL}={kind}")))
            .await
            .map_err(|source| RepoSecretsError {
                kind,
                namespace: namespace.to_owned(),
                source,
            })?;
        for secret in &list.items {
            let name = secret.metadata.name.as_deref().unwrap_or("");
            let (Some(url), Some(password)) =
                (secret_text(secret, "url"), secret_text(secret, "password"))
            else {
                tracing::warn!(secret = %name, "a {kind} Secret without url or password is not used");
                continue;
            };
            let credentials = match secret_text(secret, "username") {
                Some(username) => Credentials::basic(username, password),
                None => Credentials::token(password),
            };
            found.push((url, credentials));
        }
    }
    Ok(found)
}
