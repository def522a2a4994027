//! Git push webhooks from GitHub and GitLab: verification and the repository and revision they
//! announce; and, as ArgoCD reads them, GitHub's `package` events of GitHub's container registry
//! (GHCR): a chart or image pushed to `oci://ghcr.io/<owner>/<name>` with a tag; and Harbor's
//! `PUSH_ARTIFACT` events: an artifact pushed to `oci://<host>/<project>/<repository>` with a tag.
//!
//! With a secret configured, GitHub deliveries must carry `X-Hub-Signature-256`, the
//! HMAC-SHA256 of the body (checked in constant time), and GitLab deliveries `X-Gitlab-Token`
//! (compared in constant time). Without one, deliveries are accepted as they come. Harbor has no
//! signature: as in ArgoCD (`webhook.harbor.secret`), a delivery is Harbor's when it has neither
//! GitHub's nor GitLab's event header and its `Authorization` header is the configured secret
//! (compared in constant time); without a secret, Harbor deliveries are not recognised at all.

use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use subtle::ConstantTimeEq;

/// The secrets webhooks are verified with. Its `Debug` never shows them.
#[derive(Clone, Default)]
pub struct WebhookSecrets {
    github: Option<String>,
    gitlab: Option<String>,
    harbor: Option<String>,
}

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |s: &Option<String>| if s.is_some() { "<set>" } else { "<none>" };
        f.debug_struct("WebhookSecrets")
            .field("github", &shown(&self.github))
            .field("gitlab", &shown(&self.gitlab))
            .field("harbor", &shown(&self.harbor))
            .finish()
    }
}

impl WebhookSecrets {
    /// No secrets: deliveries are not verified.
    pub fn new() -> Self {
        Self::default()
    }

    /// GitHub deliveries must be signed with `secret` (`webhook.github.secret` in Argo CD).
    pub fn with_github(mut self, secret: impl Into<String>) -> Self {
        self.github = Some(secret.into()).filter(|s| !s.is_empty());
        self
    }

    /// GitLab deliveries must carry `secret` as their token (`webhook.gitlab.secret`).
    pub fn with_gitlab(mut self, secret: impl Into<String>) -> Self {
        self.gitlab = Some(secret.into()).filter(|s| !s.is_empty());
        self
    }

    /// Harbor deliveries are recognised when their `Authorization` header is `secret`
    /// (`webhook.harbor.secret`). Without it (or with an empty one), no delivery is Harbor's.
    pub fn with_harbor(mut self, secret: impl Into<String>) -> Self {
        self.harbor = Some(secret.into()).filter(|s| !s.is_empty());
        self
    }
}

/// A verified webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookEvent {
    /// A push (branch or tag).
    Push(PushEvent),
    /// A ping (GitHub checks the hook when it is created).
    Ping,
    /// A tag pushed to an OCI registry (GHCR's `package` event, `published`; Harbor's
    /// `PUSH_ARTIFACT`).
    Registry(RegistryEvent),
    /// A delivery that is verified and read, and asks for nothing (a GHCR event other than a
    /// container package published with a tag, a Harbor event other than an artifact pushed
    /// with a tag): why.
    Ignored(&'static str),
}

/// A tag pushed to a repository of an OCI registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEvent {
    /// `oci://<registry>/<repository>` (`oci://ghcr.io/acme/charts/web`).
    pub repo_url: String,
    /// The tag pushed (`1.2.0`).
    pub tag: String,
}

impl RegistryEvent {
    /// Whether an Application source is this repository at a revision the tag is, as ArgoCD
    /// matches them: its `repoURL`, or `repoURL/chart` for a Helm chart of a registry, equal
    /// without `oci://`, trailing `/` and case; its `targetRevision` the tag, or a semver
    /// constraint the tag meets.
    pub fn matches(&self, repo_url: &str, chart: Option<&str>, target_revision: &str) -> bool {
        let normalize = |url: &str| {
            url.trim()
                .strip_prefix("oci://")
                .unwrap_or(url.trim())
                .trim_end_matches('/')
                .to_ascii_lowercase()
        };
        let event = normalize(&self.repo_url);
        let same = normalize(repo_url) == event
            || chart.is_some_and(|chart| {
                normalize(&format!("{}/{chart}", repo_url.trim_end_matches('/'))) == event
            });
        same && (target_revision == self.tag
            || strata_gotemplate::helm::semver_satisfies(target_revision, &self.tag)
                .unwrap_or(false))
    }
}

/// A push to a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEvent {
    /// The repository's HTTPS clone URL (else its web URL, else its SSH URL).
    pub repo_url: String,
    /// Every URL the payload gives for the repository.
    pub repo_urls: Vec<String>,
    /// The branch or tag pushed (`main` for `refs/heads/main`, `v1` for `refs/tags/v1`).
    pub revision: Option<String>,
}

/// A webhook delivery that is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// A secret is configured and the delivery is not signed with it.
    #[error("{provider} webhook not verified: {reason}")]
    Unauthorized {
        /// `GitHub` or `GitLab`.
        provider: &'static str,
        /// What is missing or wrong (never the secret or the signature).
        reason: &'static str,
    },
    /// An event other than a push or ping.
    #[error("unsupported {provider} event {event:?}: only push events are handled")]
    UnsupportedEvent {
        /// `GitHub` or `GitLab`.
        provider: &'static str,
        /// The event.
        event: String,
    },
    /// No `X-GitHub-Event` or `X-Gitlab-Event` header, and no `Authorization` header that is
    /// the Harbor secret.
    #[error(
        "unknown webhook: expected an X-GitHub-Event or X-Gitlab-Event header, or the Harbor secret as Authorization"
    )]
    UnknownSource,
    /// The payload is not a push event's JSON.
    #[error("invalid {provider} push payload: {reason}")]
    InvalidPayload {
        /// `GitHub`, `GitLab` or `Harbor`.
        provider: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The payload is not JSON at all.
    #[error("invalid {provider} push payload: {source}")]
    MalformedJson {
        /// `GitHub`, `GitLab` or `Harbor`.
        provider: &'static str,
        /// The JSON parser's error.
        source: strata_gotemplate::SharedCause,
    },
}

impl WebhookError {
    /// The HTTP status answering it.
    pub fn status(&self) -> axum::http::StatusCode {
        match self {
            WebhookError::Unauthorized { .. } => axum::http::StatusCode::UNAUTHORIZED,
            _ => axum::http::StatusCode::BAD_REQUEST,
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Verifies and reads a webhook delivery.
pub fn parse_webhook(
    headers: &HeaderMap,
    body: &[u8],
    secrets: &WebhookSecrets,
) -> Result<WebhookEvent, WebhookError> {
    if let Some(event) = header(headers, "x-github-event") {
        const PROVIDER: &str = "GitHub";
        if let Some(secret) = &secrets.github {
            verify_github(headers, body, secret)?;
        }
        return match event {
            "ping" => Ok(WebhookEvent::Ping),
            "package" => Ok(ghcr_package(&json(PROVIDER, body)?)),
            "push" => {
                let payload = json(PROVIDER, body)?;
                let urls = ["clone_url", "html_url", "ssh_url"]
                    .iter()
                    .filter_map(|k| payload.pointer(&format!("/repository/{k}"))?.as_str())
                    .map(str::to_string)
                    .collect();
                push(PROVIDER, urls, &payload)
            }
            other => Err(WebhookError::UnsupportedEvent {
                provider: PROVIDER,
                event: other.to_string(),
            }),
        };
    }
    if let Some(event) = header(headers, "x-gitlab-event") {
        const PROVIDER: &str = "GitLab";
        if let Some(secret) = &secrets.gitlab {
            let Some(token) = header(headers, "x-gitlab-token") else {
                return Err(WebhookError::Unauthorized {
                    provider: PROVIDER,
                    reason: "no X-Gitlab-Token header",
                });
            };
            if !bool::from(token.as_bytes().ct_eq(secret.as_bytes())) {
                return Err(WebhookError::Unauthorized {
                    provider: PROVIDER,
                    reason: "X-Gitlab-Token does not match",
                });
            }
        }
        return match event {
            "Push Hook" | "Tag Push Hook" => {
                let payload = json(PROVIDER, body)?;
                let urls = ["git_http_url", "web_url", "git_ssh_url"]
                    .iter()
                    .filter_map(|k| {
                        payload
                            .pointer(&format!("/project/{k}"))
                            .or_else(|| payload.pointer(&format!("/repository/{k}")))?
                            .as_str()
                    })
                    .map(str::to_string)
                    .collect();
                push(PROVIDER, urls, &payload)
            }
            other => Err(WebhookError::UnsupportedEvent {
                provider: PROVIDER,
                event: other.to_string(),
            }),
        };
    }
    if let (Some(secret), Some(got)) = (&secrets.harbor, header(headers, "authorization")) {
        if bool::from(got.as_bytes().ct_eq(secret.as_bytes())) {
            return harbor_artifact(&json("Harbor", body)?);
        }
        tracing::info!("Harbor webhook: the Authorization header is not the Harbor secret");
    }
    Err(WebhookError::UnknownSource)
}

/// Harbor's default payload: a `PUSH_ARTIFACT` event names the first of its resources that has
/// a tag and a `resource_url` (`<host>/<project>/<repository>:<tag>`) whose host can be read,
/// in the repository `event_data.repository.repo_full_name` (else `namespace/name`).
fn harbor_artifact(payload: &Value) -> Result<WebhookEvent, WebhookError> {
    let text = |value: &Value, pointer: &str| {
        value
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    if text(payload, "/type") != "PUSH_ARTIFACT" {
        return Ok(WebhookEvent::Ignored(
            "a Harbor event other than PUSH_ARTIFACT",
        ));
    }
    let resources = payload
        .pointer("/event_data/resources")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for resource in resources {
        let (tag, resource_url) = (text(resource, "/tag"), text(resource, "/resource_url"));
        if tag.is_empty() || resource_url.is_empty() {
            continue;
        }
        let Some(host) = harbor_registry_host(&resource_url) else {
            tracing::warn!(%resource_url, "Harbor webhook: skipping a resource whose resource_url names no registry host");
            continue;
        };
        let mut repository = text(payload, "/event_data/repository/repo_full_name");
        if repository.is_empty() {
            let namespace = text(payload, "/event_data/repository/namespace");
            let name = text(payload, "/event_data/repository/name");
            if namespace.is_empty() || name.is_empty() {
                return Err(WebhookError::InvalidPayload {
                    provider: "Harbor",
                    reason: "the repository cannot be named: repo_full_name, namespace and name are all empty".into(),
                });
            }
            repository = format!("{namespace}/{name}");
        }
        return Ok(WebhookEvent::Registry(RegistryEvent {
            repo_url: format!("oci://{host}/{repository}"),
            tag,
        }));
    }
    Ok(WebhookEvent::Ignored(
        "a Harbor push without a tagged resource",
    ))
}

/// The registry host (with its port) of a Harbor `resource_url`
/// (`harbor.example.com/library/web:1.0`, or with a scheme), read as Go's `url.Parse` reads
/// `oci://<resource_url>`: `None` without a host or a path, or with a port that is not digits.
fn harbor_registry_host(resource_url: &str) -> Option<String> {
    let rest = match resource_url.split_once("://") {
        Some((_, rest)) => rest,
        None => resource_url,
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let digits = |port: &str| port.bytes().all(|b| b.is_ascii_digit());
    let port_ok = match host.strip_prefix('[') {
        // `[::1]` or `[::1]:5000`
        Some(bracketed) => bracketed.split_once(']').is_some_and(|(_, after)| {
            after.is_empty() || after.strip_prefix(':').is_some_and(digits)
        }),
        None => host.rsplit_once(':').is_none_or(|(_, port)| digits(port)),
    };
    (!host.is_empty() && port_ok && !path.is_empty() && path != "/").then(|| host.to_string())
}

/// GHCR's `package` event: a container package (an OCI artifact: images and Helm charts)
/// published with a tag.
fn ghcr_package(payload: &Value) -> WebhookEvent {
    let text = |pointer: &str| {
        payload
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    if text("/action") != "published" {
        return WebhookEvent::Ignored("a package event other than published");
    }
    if !text("/package/package_type").eq_ignore_ascii_case("container") {
        return WebhookEvent::Ignored("a package that is not a container");
    }
    let tag = text("/package/package_version/container_metadata/tag/name");
    let (owner, name) = (text("/package/owner/login"), text("/package/name"));
    if tag.is_empty() || owner.is_empty() || name.is_empty() {
        return WebhookEvent::Ignored("a package without an owner, a name or a tag");
    }
    WebhookEvent::Registry(RegistryEvent {
        repo_url: format!("oci://ghcr.io/{owner}/{name}"),
        tag: tag.to_string(),
    })
}

fn verify_github(headers: &HeaderMap, body: &[u8], secret: &str) -> Result<(), WebhookError> {
    let unauthorized = |reason| WebhookError::Unauthorized {
        provider: "GitHub",
        reason,
    };
    let signature = header(headers, "x-hub-signature-256")
        .ok_or_else(|| unauthorized("no X-Hub-Signature-256 header"))?;
    let digest = signature
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or_else(|| unauthorized("X-Hub-Signature-256 is not sha256=<hex>"))?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| unauthorized("the secret cannot key HMAC-SHA256"))?;
    mac.update(body);
    mac.verify_slice(&digest)
        .map_err(|_| unauthorized("X-Hub-Signature-256 does not match the body"))
}

fn json(provider: &'static str, body: &[u8]) -> Result<Value, WebhookError> {
    serde_json::from_slice(body).map_err(|e| WebhookError::MalformedJson {
        provider,
        source: strata_gotemplate::SharedCause::new(e),
    })
}

fn push(
    provider: &'static str,
    mut urls: Vec<String>,
    payload: &Value,
) -> Result<WebhookEvent, WebhookError> {
    let mut seen = std::collections::BTreeSet::new();
    urls.retain(|u| seen.insert(u.clone()));
    let Some(repo_url) = urls.first().cloned() else {
        return Err(WebhookError::InvalidPayload {
            provider,
            reason: "no repository URL".into(),
        });
    };
    let revision = payload.get("ref").and_then(Value::as_str).map(|r| {
        r.strip_prefix("refs/heads/")
            .or_else(|| r.strip_prefix("refs/tags/"))
            .unwrap_or(r)
            .to_string()
    });
    Ok(WebhookEvent::Push(PushEvent {
        repo_url,
        repo_urls: urls,
        revision,
    }))
}

/// A repository URL reduced to `host/path`, lower-cased, without scheme, credentials, port,
/// `.git` suffix or trailing slash, so that `https://github.com/org/repo.git`,
/// `git@github.com:org/repo` and `ssh://git@github.com/org/repo` compare equal.
pub fn normalize_repo_url(url: &str) -> String {
    let url = url.trim().to_ascii_lowercase();
    let rest = match url.split_once("://") {
        Some((_, rest)) => rest.to_string(),
        // scp-like: git@host:org/repo
        None => url.replacen(':', "/", 1),
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest.as_str(), ""));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.split(':').next().unwrap_or(host);
    let path = path.trim_end_matches('/').trim_end_matches(".git");
    format!("{host}/{path}")
}

/// Whether two repository URLs name the same repository (see [`normalize_repo_url`]).
pub fn same_repo(a: &str, b: &str) -> bool {
    normalize_repo_url(a) == normalize_repo_url(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_urls_compare_across_forms() {
        let forms = [
            "https://github.com/Org/Repo.git",
            "https://user:token@github.com/org/repo/",
            "git@github.com:org/repo.git",
            "ssh://git@github.com:22/org/repo",
        ];
        for form in forms {
            assert!(same_repo(form, "https://github.com/org/repo"), "{form}");
        }
        assert!(!same_repo(
            "https://github.com/org/repo",
            "https://github.com/org/other"
        ));
    }

    #[test]
    fn ghcr_package_events_name_the_oci_repository_and_tag() {
        let mut headers = HeaderMap::new();
        headers.insert("x-github-event", "package".parse().expect("a header value"));
        let payload = |action: &str, kind: &str, tag: &str| {
            serde_json::json!({
                "action": action,
                "package": {
                    "name": "charts/web",
                    "package_type": kind,
                    "owner": {"login": "acme"},
                    "package_version": {"container_metadata": {"tag": {"name": tag}}},
                },
            })
            .to_string()
        };
        let read = |body: String| {
            parse_webhook(&headers, body.as_bytes(), &WebhookSecrets::default()).expect("read")
        };
        let WebhookEvent::Registry(event) = read(payload("published", "CONTAINER", "1.2.0")) else {
            panic!("a registry event");
        };
        assert_eq!(event.repo_url, "oci://ghcr.io/acme/charts/web");
        assert_eq!(event.tag, "1.2.0");
        for ignored in [
            payload("updated", "container", "1.2.0"),
            payload("published", "npm", "1.2.0"),
            payload("published", "container", ""),
        ] {
            assert!(matches!(read(ignored), WebhookEvent::Ignored(_)));
        }
        // A Helm chart source of the registry (`repoURL` + `chart`), or the repository itself.
        assert!(event.matches("oci://ghcr.io/acme/charts", Some("web"), "1.2.0"));
        assert!(event.matches("ghcr.io/ACME/charts/", Some("web"), ">=1.0.0 <2.0.0"));
        assert!(event.matches("oci://ghcr.io/acme/charts/web", None, "1.2.0"));
        assert!(!event.matches("oci://ghcr.io/acme/charts", Some("api"), "1.2.0"));
        assert!(!event.matches("oci://ghcr.io/acme/charts", Some("web"), "1.1.0"));
        assert!(!event.matches("oci://ghcr.io/acme/charts", Some("web"), "main"));
        // Signed as the other GitHub deliveries when a secret is set.
        let secrets = WebhookSecrets::new().with_github("s3cret");
        let err = parse_webhook(
            &headers,
            payload("published", "container", "1.2.0").as_bytes(),
            &secrets,
        )
        .expect_err("unsigned");
        assert_eq!(err.status(), axum::http::StatusCode::UNAUTHORIZED);
    }

    fn harbor_payload(kind: &str, resources: Value, repository: Value) -> Vec<u8> {
        serde_json::json!({
            "type": kind,
            "occur_at": 1_700_000_000,
            "operator": "ci",
            "event_data": {"resources": resources, "repository": repository},
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn harbor_push_artifact_events_name_the_registry_repository_and_tag() {
        let secrets = WebhookSecrets::new().with_harbor("Bearer harbor-token");
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            "Bearer harbor-token".parse().expect("a header value"),
        );
        let read = |body: Vec<u8>| parse_webhook(&headers, &body, &secrets);
        let repository = serde_json::json!({
            "name": "web", "namespace": "charts", "repo_full_name": "charts/web", "repo_type": "private",
        });
        // The first resource with a tag and a readable resource_url names the event; its
        // host keeps its port.
        let resources = serde_json::json!([
            {"digest": "sha256:aa", "tag": "", "resource_url": "harbor.example.com:8443/charts/web@sha256:aa"},
            {"digest": "sha256:bb", "tag": "1.0.0", "resource_url": ""},
            {"digest": "sha256:cc", "tag": "1.1.0", "resource_url": "harbor.example.com:port/charts/web:1.1.0"},
            {"digest": "sha256:dd", "tag": "1.2.0", "resource_url": "Harbor.Example.com:8443/charts/web:1.2.0"},
        ]);
        let Ok(WebhookEvent::Registry(event)) = read(harbor_payload(
            "PUSH_ARTIFACT",
            resources,
            repository.clone(),
        )) else {
            panic!("a registry event");
        };
        assert_eq!(event.repo_url, "oci://Harbor.Example.com:8443/charts/web");
        assert_eq!(event.tag, "1.2.0");
        assert!(event.matches(
            "oci://harbor.example.com:8443/charts",
            Some("web"),
            "^1.0.0"
        ));
        assert!(!event.matches("oci://harbor.example.com/charts", Some("web"), "1.2.0"));
        // Without repo_full_name: namespace/name; without any of them: refused.
        let tagged = serde_json::json!([{"tag": "2.0.0", "resource_url": "h.example/p/r:2.0.0"}]);
        let Ok(WebhookEvent::Registry(event)) = read(harbor_payload(
            "PUSH_ARTIFACT",
            tagged.clone(),
            serde_json::json!({"name": "r", "namespace": "p"}),
        )) else {
            panic!("a registry event");
        };
        assert_eq!(event.repo_url, "oci://h.example/p/r");
        let err = read(harbor_payload(
            "PUSH_ARTIFACT",
            tagged.clone(),
            serde_json::json!({}),
        ))
        .expect_err("no repository");
        assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
        // Other events, and pushes without a usable tagged resource, ask for nothing.
        for ignored in [
            harbor_payload("PULL_ARTIFACT", tagged.clone(), repository.clone()),
            harbor_payload("DELETE_ARTIFACT", tagged.clone(), repository.clone()),
            harbor_payload(
                "PUSH_ARTIFACT",
                serde_json::json!([{"tag": "1.0.0", "resource_url": "no-path-here"}]),
                repository.clone(),
            ),
            harbor_payload("PUSH_ARTIFACT", serde_json::json!([]), repository.clone()),
        ] {
            assert!(
                matches!(read(ignored), Ok(WebhookEvent::Ignored(_))),
                "ignored"
            );
        }
        // Not JSON: refused with the parser's error.
        let err = read(b"{not json".to_vec()).expect_err("not JSON");
        assert!(matches!(
            err,
            WebhookError::MalformedJson {
                provider: "Harbor",
                ..
            }
        ));
        // Another Authorization, or no Harbor secret configured: not a known webhook.
        let body = harbor_payload("PUSH_ARTIFACT", tagged, repository);
        let mut wrong = HeaderMap::new();
        wrong.insert(
            "authorization",
            "Bearer other".parse().expect("a header value"),
        );
        for (headers, secrets) in [
            (&wrong, &secrets),
            (&HeaderMap::new(), &secrets),
            (&headers, &WebhookSecrets::new().with_harbor("")),
        ] {
            assert_eq!(
                parse_webhook(headers, &body, secrets),
                Err(WebhookError::UnknownSource)
            );
        }
    }

    #[test]
    fn harbor_resource_urls_are_read_as_go_reads_them() {
        for (url, host) in [
            (
                "harbor.example.com/library/web:1.0",
                Some("harbor.example.com"),
            ),
            (
                "https://harbor.example.com/library/web:1.0",
                Some("harbor.example.com"),
            ),
            ("127.0.0.1:5000/library/web:1.0", Some("127.0.0.1:5000")),
            ("robot@harbor.example.com/p/r:1", Some("harbor.example.com")),
            ("[::1]:5000/p/r:1", Some("[::1]:5000")),
            ("[::1]/p/r:1", Some("[::1]")),
            ("harbor.example.com:/p/r:1", Some("harbor.example.com:")),
            ("harbor.example.com", None),
            ("harbor.example.com/", None),
            ("/p/r:1", None),
            ("harbor.example.com:x/p/r:1", None),
            ("[::1]x/p/r:1", None),
        ] {
            assert_eq!(harbor_registry_host(url).as_deref(), host, "{url}");
        }
    }

    #[test]
    fn a_payload_that_is_not_json_keeps_the_parser_error() {
        let mut headers = HeaderMap::new();
        headers.insert("x-github-event", "push".parse().expect("a header value"));
        let err = parse_webhook(&headers, b"{not json", &WebhookSecrets::default())
            .expect_err("not JSON");
        let json = std::error::Error::source(&err)
            .and_then(|s| s.downcast_ref::<serde_json::Error>())
            .expect("the parser's error");
        assert_eq!(
            err.to_string(),
            format!("invalid GitHub push payload: {json}")
        );
        assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
    }
}
