//! Private repositories from ArgoCD repository Secrets in the controller's namespace:
//! `argocd.argoproj.io/secret-type: repository` for one repository (its `url`), `repo-creds`
//! for every repository whose URL starts with `url`, and the `argocd-tls-certs-cm` ConfigMap
//! (PEM certificates keyed by server name, the host without its port, as ArgoCD keys them).
//!
//! Fields read, as ArgoCD reads them:
//!
//! * `url`, `type` (`git`, `helm`, `oci`; none: both Git and charts), `enableOCI`;
//! * `username`, `password` (Git: a `password` alone is sent as a token; Helm repositories and
//!   OCI registries: basic credentials, which a registry's token service also takes);
//! * `insecure` (no certificate verification), `insecureOCIForceHttp` (an OCI registry over
//!   plain HTTP), `tlsClientCertData` and `tlsClientCertKey` (a client certificate);
//! * the CA certificates of `argocd-tls-certs-cm` for the repository's host.
//!
//! A repository Secret without credentials takes them from the `repo-creds` Secret with the
//! longest matching prefix, as ArgoCD does. Values are never logged.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ListParams};
use strata_sources::helm::repository::RepositorySettings;
use strata_sources::repo::Credentials;

use crate::clusters::{SECRET_TYPE_LABEL, secret_text};

/// The ConfigMap of TLS certificates by server name.
pub const TLS_CERTS_CONFIG_MAP: &str = "argocd-tls-certs-cm";

/// The repository Secrets or the TLS certificates could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepoSecretsError {
    /// The Secrets could not be listed.
    #[error("listing {kind} Secrets in {namespace}: {source}")]
    List {
        /// `repository` or `repo-creds`.
        kind: &'static str,
        /// The controller's namespace.
        namespace: String,
        /// The API server's answer.
        #[source]
        source: kube::Error,
    },
    /// `argocd-tls-certs-cm` could not be read.
    #[error("reading ConfigMap {namespace}/{TLS_CERTS_CONFIG_MAP}: {source}")]
    TlsCerts {
        /// The controller's namespace.
        namespace: String,
        /// The API server's answer.
        #[source]
        source: kube::Error,
    },
}

/// What a repository serves, as a Secret's `type` (and `enableOCI`) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RepoType {
    /// No `type`: the Secret serves Git repositories and charts alike.
    Any,
    /// `type: git`.
    Git,
    /// `type: helm` (an OCI registry when `enableOCI: "true"`).
    Helm,
    /// `type: oci`.
    Oci,
}

/// One repository Secret (or `repo-creds` Secret), read. `Debug` leaves the secrets out.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepoSecret {
    /// The Secret's name.
    pub name: String,
    /// `repo-creds`: a URL prefix; otherwise one repository.
    pub prefix: bool,
    /// `url`.
    pub url: String,
    /// `type`.
    pub kind: RepoType,
    /// `enableOCI`.
    pub enable_oci: bool,
    /// `username`.
    pub username: Option<String>,
    /// `password`.
    pub password: Option<String>,
    /// `insecure`.
    pub insecure: bool,
    /// `insecureOCIForceHttp`.
    pub force_http: bool,
    /// `tlsClientCertData` and `tlsClientCertKey`.
    pub client_cert: Option<(String, String)>,
}

impl std::fmt::Debug for RepoSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoSecret")
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .field("url", &strata_sources::repo::redact(&self.url))
            .field("kind", &self.kind)
            .field("enable_oci", &self.enable_oci)
            .field("username", &self.username)
            .field("insecure", &self.insecure)
            .field("force_http", &self.force_http)
            .field("client_cert", &self.client_cert.is_some())
            .finish_non_exhaustive()
    }
}

fn flag(secret: &Secret, key: &str) -> bool {
    secret_text(secret, key).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

impl RepoSecret {
    /// Reads a Secret; `None` (with a warning naming it) without `url`.
    pub fn read(secret: &Secret, prefix: bool) -> Option<Self> {
        let name = secret.metadata.name.clone().unwrap_or_default();
        let Some(url) = secret_text(secret, "url") else {
            tracing::warn!(secret = %name, "a repository Secret without url is not used");
            return None;
        };
        let kind = match secret_text(secret, "type").as_deref().map(str::trim) {
            Some("git") => RepoType::Git,
            Some("helm") => RepoType::Helm,
            Some("oci") => RepoType::Oci,
            None => RepoType::Any,
            Some(other) => {
                tracing::warn!(secret = %name, r#type = %other, "unknown repository type: read as any");
                RepoType::Any
            }
        };
        let client_cert = match (
            secret_text(secret, "tlsClientCertData"),
            secret_text(secret, "tlsClientCertKey"),
        ) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                tracing::warn!(secret = %name, "tlsClientCertData and tlsClientCertKey go together: the client certificate is not used");
                None
            }
        };
        Some(Self {
            name,
            prefix,
            url,
            kind,
            enable_oci: flag(secret, "enableOCI"),
            username: secret_text(secret, "username"),
            password: secret_text(secret, "password"),
            insecure: flag(secret, "insecure"),
            force_http: flag(secret, "insecureOCIForceHttp"),
            client_cert,
        })
    }

    /// Whether the Secret serves Git repositories.
    fn serves_git(&self) -> bool {
        matches!(self.kind, RepoType::Any | RepoType::Git) && !self.enable_oci
    }

    /// Whether the Secret serves Helm repositories and OCI registries.
    fn serves_charts(&self) -> bool {
        self.kind != RepoType::Git || self.enable_oci
    }

    fn has_credentials(&self) -> bool {
        self.password.is_some() || self.client_cert.is_some()
    }

    /// Whether the Secret is for `url` (`repository`: the same repository; `repo-creds`: a URL
    /// under its prefix).
    fn matches(&self, url: &str) -> bool {
        let (mine, theirs) = (url_key(&self.url), url_key(url));
        if self.prefix {
            theirs.starts_with(&mine)
        } else {
            mine == theirs
        }
    }
}

/// A URL as compared: no scheme, no user information, the host lower-cased, no trailing slash
/// and no `.git`.
fn url_key(url: &str) -> String {
    let rest = url.trim().split_once("://").map_or(url.trim(), |(_, r)| r);
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, h)| h)
        .to_ascii_lowercase();
    let path = path.trim_end_matches('/');
    format!("{host}{}", path.strip_suffix(".git").unwrap_or(path))
}

/// The server name of `url` as `argocd-tls-certs-cm` keys it: the host, lower-cased, without
/// port or user information.
pub fn server_name(url: &str) -> String {
    let key = url_key(url);
    let authority = key.split('/').next().unwrap_or("");
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or(bracketed)
    } else {
        authority.split(':').next().unwrap_or(authority)
    };
    host.to_owned()
}

/// Everything the repository Secrets and `argocd-tls-certs-cm` say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepoSecrets {
    /// The `repository` and `repo-creds` Secrets.
    pub secrets: Vec<RepoSecret>,
    /// PEM certificates by server name (`argocd-tls-certs-cm`).
    pub tls_certs: BTreeMap<String, String>,
}

impl RepoSecrets {
    /// Reads `secrets` and the TLS certificates `tls_certs` (server name → PEM).
    pub fn new(secrets: Vec<RepoSecret>, tls_certs: BTreeMap<String, String>) -> Self {
        Self {
            secrets,
            tls_certs: tls_certs
                .into_iter()
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v))
                .collect(),
        }
    }

    /// The Git credentials, by URL prefix (the repository cache's runtime credentials): every
    /// Secret with a `password` that serves Git.
    pub fn git_credentials(&self) -> Vec<(String, Credentials)> {
        self.secrets
            .iter()
            .filter(|s| s.serves_git())
            .filter_map(|s| {
                let password = s.password.clone()?;
                Some((
                    s.url.clone(),
                    match &s.username {
                        Some(user) => Credentials::basic(user.clone(), password),
                        None => Credentials::token(password),
                    },
                ))
            })
            .collect()
    }

    /// How to reach the Helm repository or OCI registry at `url`: its `repository` Secret
    /// (credentials from the longest matching `repo-creds` when it has none), else the
    /// longest matching `repo-creds`; the CA of its host from `argocd-tls-certs-cm`.
    pub fn chart_settings(&self, url: &str) -> RepositorySettings {
        let charts = || self.secrets.iter().filter(|s| s.serves_charts());
        let creds = charts()
            .filter(|s| s.prefix && s.matches(url))
            .max_by_key(|s| url_key(&s.url).len());
        let repository = charts().find(|s| !s.prefix && s.matches(url));
        let mut settings = RepositorySettings::new();
        if let Some(found) = repository.or(creds) {
            settings = settings
                .with_insecure(found.insecure)
                .with_force_http(found.force_http)
                .with_enable_oci(found.enable_oci);
        }
        let with_credentials = repository
            .filter(|s| s.has_credentials())
            .or(creds.filter(|s| s.has_credentials()));
        if let Some(found) = with_credentials {
            if let Some(password) = &found.password {
                settings =
                    settings.with_credentials(found.username.as_deref().unwrap_or(""), password);
            }
            if let Some((cert, key)) = &found.client_cert {
                settings = settings.with_client_cert(cert.as_bytes(), key.as_bytes());
            }
        }
        if let Some(ca) = self.tls_certs.get(&server_name(url)) {
            settings = settings.with_ca_data(ca.as_bytes());
        }
        settings
    }
}

/// Reads the repository Secrets and `argocd-tls-certs-cm` of `namespace` (a missing ConfigMap
/// is no certificates).
pub async fn load(client: &kube::Client, namespace: &str) -> Result<RepoSecrets, RepoSecretsError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut secrets = Vec::new();
    for (kind, prefix) in [("repository", false), ("repo-creds", true)] {
        let list = api
            .list(&ListParams::default().labels(&format!("{SECRET_TYPE_LABEL}={kind}")))
            .await
            .map_err(|source| RepoSecretsError::List {
                kind,
                namespace: namespace.to_owned(),
                source,
            })?;
        secrets.extend(
            list.items
                .iter()
                .filter_map(|s| RepoSecret::read(s, prefix)),
        );
    }
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let tls_certs = config_maps
        .get_opt(TLS_CERTS_CONFIG_MAP)
        .await
        .map_err(|source| RepoSecretsError::TlsCerts {
            namespace: namespace.to_owned(),
            source,
        })?
        .and_then(|cm| cm.data)
        .unwrap_or_default();
    Ok(RepoSecrets::new(secrets, tls_certs.into_iter().collect()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use k8s_openapi::ByteString;

    fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
        Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn reads_argocd_repository_fields_into_chart_settings() {
        let secrets = RepoSecrets::new(
            vec![
                RepoSecret::read(
                    &secret(
                        "charts",
                        &[
                            ("url", "https://Charts.example.com/stable/"),
                            ("type", "helm"),
                            ("insecure", "true"),
                        ],
                    ),
                    false,
                )
                .unwrap(),
                RepoSecret::read(
                    &secret(
                        "creds",
                        &[
                            ("url", "https://charts.example.com"),
                            ("username", "robot"),
                            ("password", "s3cret"),
                            ("tlsClientCertData", "CERT"),
                            ("tlsClientCertKey", "KEY"),
                        ],
                    ),
                    true,
                )
                .unwrap(),
                RepoSecret::read(
                    &secret(
                        "registry",
                        &[
                            ("url", "registry.example.com:5000/charts"),
                            ("type", "helm"),
                            ("enableOCI", "true"),
                            ("insecureOCIForceHttp", "true"),
                            ("username", "u"),
                            ("password", "p"),
                        ],
                    ),
                    false,
                )
                .unwrap(),
                RepoSecret::read(
                    &secret(
                        "git",
                        &[
                            ("url", "https://git.example.com/org/apps.git"),
                            ("password", "tok"),
                        ],
                    ),
                    false,
                )
                .unwrap(),
            ],
            BTreeMap::from([("charts.example.com".to_owned(), "PEM".to_owned())]),
        );
        let stable = secrets.chart_settings("https://charts.example.com/stable");
        assert!(stable.insecure);
        assert_eq!(
            stable.credentials,
            Some(("robot".to_owned(), "s3cret".to_owned()))
        );
        assert_eq!(
            stable.client_cert,
            Some((b"CERT".to_vec(), b"KEY".to_vec()))
        );
        assert_eq!(stable.ca_data.as_deref(), Some(&b"PEM"[..]));
        let other = secrets.chart_settings("https://charts.example.com:8443/other");
        assert!(
            !other.insecure,
            "repo-creds give no insecure of a repository Secret"
        );
        assert!(other.credentials.is_some());
        assert_eq!(
            other.ca_data.as_deref(),
            Some(&b"PEM"[..]),
            "keyed by host without port"
        );
        let oci = secrets.chart_settings("oci://registry.example.com:5000/charts");
        assert!(oci.force_http);
        assert!(oci.enable_oci, "enableOCI");
        assert!(!stable.enable_oci);
        assert_eq!(oci.credentials, Some(("u".to_owned(), "p".to_owned())));
        assert!(oci.ca_data.is_none());
        assert_eq!(
            secrets.chart_settings("https://elsewhere.example.com"),
            RepositorySettings::new()
        );
        // Git credentials: only the Secrets that serve Git (no type, or type git).
        let git: Vec<String> = secrets
            .git_credentials()
            .into_iter()
            .map(|(url, _)| url)
            .collect();
        assert_eq!(
            git,
            [
                "https://charts.example.com",
                "https://git.example.com/org/apps.git"
            ]
        );
        assert!(!format!("{secrets:?}").contains("s3cret"));
        assert_eq!(server_name("https://u:p@[::1]:8443/x"), "::1");
        assert!(RepoSecret::read(&secret("no-url", &[("password", "x")]), false).is_none());
    }
}
