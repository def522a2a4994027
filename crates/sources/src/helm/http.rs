//! The HTTP(S) client chart downloads go through: `reqwest` (blocking, rustls with the
//! platform's verifier), behind the `http` feature. Credentials are sent as basic
//! authentication (from the URL's user information or the repository's settings), never left
//! in a URL a library could print; `Bearer` challenges (OCI registries) are answered with a
//! token from the challenge's realm. Bodies are read up to a limit.

use std::io::Read as _;

use reqwest::StatusCode;
use reqwest::blocking::{Client as Reqwest, RequestBuilder};
use reqwest::header::{ACCEPT, HeaderMap, LINK, WWW_AUTHENTICATE};

use super::repository::{ChartRepoError, RepositorySettings, Response};
use crate::repo::redact;

/// A response read whole, with its headers.
struct Read {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Read {
    fn into_response(self) -> Response {
        let next = self
            .headers
            .get_all(LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .find(|link| link.contains("rel=\"next\"") || link.contains("rel=next"))
            .and_then(|link| {
                let start = link.find('<')? + 1;
                let end = link.find('>')?;
                link.get(start..end).map(str::to_string)
            });
        Response {
            status: self.status.as_u16(),
            status_text: self.status.to_string(),
            next,
            body: self.body,
        }
    }
}

/// A client for one repository (its TLS settings and credentials).
pub(crate) struct Client {
    inner: Reqwest,
    basic: Option<(String, String)>,
    max_bytes: u64,
    /// A bearer token obtained from a challenge, reused for later requests.
    bearer: std::cell::RefCell<Option<String>>,
}

impl Client {
    /// A client for `url` (shown redacted in errors) with `settings`.
    pub(crate) fn new(
        url: &str,
        settings: &RepositorySettings,
        timeout: std::time::Duration,
        max_bytes: u64,
    ) -> Result<Client, ChartRepoError> {
        let shown = redact(url);
        let tls = |source: reqwest::Error| ChartRepoError::Tls {
            url: shown.clone(),
            source: Box::new(source.without_url()),
        };
        let mut builder = Reqwest::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(std::time::Duration::from_secs(30)))
            .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(5))
            .tls_danger_accept_invalid_certs(settings.insecure);
        if let Some(ca) = &settings.ca_data {
            builder =
                builder.tls_certs_merge(reqwest::Certificate::from_pem_bundle(ca).map_err(tls)?);
        }
        if let Some((cert, key)) = &settings.client_cert {
            let mut pem = cert.clone();
            pem.push(b'\n');
            pem.extend_from_slice(key);
            builder = builder.identity(reqwest::Identity::from_pem(&pem).map_err(tls)?);
        }
        let inner = builder.build().map_err(tls)?;
        Ok(Client {
            inner,
            basic: settings.basic_auth(url),
            max_bytes,
            bearer: std::cell::RefCell::new(None),
        })
    }

    /// `GET url` accepting `accept` (any when empty); an error for any status but 200.
    pub(crate) fn get(&self, url: &str, accept: &[&str]) -> Result<Vec<u8>, ChartRepoError> {
        let response = self.request(url, accept)?;
        if response.status != 200 {
            return Err(ChartRepoError::Http {
                url: redact(url),
                status: response.status_text,
            });
        }
        Ok(response.body)
    }

    /// `GET url` accepting `accept`, answering an authentication challenge once: the response,
    /// whatever its status.
    pub(crate) fn request(&self, url: &str, accept: &[&str]) -> Result<Response, ChartRepoError> {
        self.request_read(url, accept).map(Read::into_response)
    }

    fn request_read(&self, url: &str, accept: &[&str]) -> Result<Read, ChartRepoError> {
        let plain = strip_userinfo(url);
        let first = self.send(&plain, url, accept, self.authorize())?;
        if first.status != StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        let challenge = first
            .headers
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        // Basic credentials were sent already: only a Bearer challenge is worth answering.
        let Some(bearer) = parse_bearer(&challenge) else {
            return Ok(first);
        };
        let token = self.token(url, &bearer)?;
        *self.bearer.borrow_mut() = Some(token.clone());
        let auth = Auth::Bearer(token);
        self.send(&plain, url, accept, auth)
    }

    fn authorize(&self) -> Auth {
        if let Some(token) = self.bearer.borrow().as_ref() {
            return Auth::Bearer(token.clone());
        }
        match &self.basic {
            Some((u, p)) => Auth::Basic(u.clone(), p.clone()),
            None => Auth::None,
        }
    }

    /// A token from the challenge's realm, asked with the basic credentials when there are any.
    fn token(&self, url: &str, challenge: &Bearer) -> Result<String, ChartRepoError> {
        let mut realm =
            reqwest::Url::parse(&challenge.realm).map_err(|_| ChartRepoError::BadUrl {
                url: redact(&challenge.realm),
                reason: "the registry's token realm is not a URL".to_string(),
            })?;
        {
            let mut query = realm.query_pairs_mut();
            if let Some(service) = &challenge.service {
                query.append_pair("service", service);
            }
            if let Some(scope) = &challenge.scope {
                query.append_pair("scope", scope);
            }
        }
        let mut request = self.inner.get(realm);
        if let Some((u, p)) = &self.basic {
            request = request.basic_auth(u, Some(p));
        }
        let response = self.read(request, &challenge.realm)?;
        if response.status != StatusCode::OK {
            return Err(ChartRepoError::Auth {
                url: redact(url),
                realm: redact(&challenge.realm),
                status: response.status.to_string(),
            });
        }
        let answer: serde_json::Value =
            serde_json::from_slice(&response.body).map_err(|source| ChartRepoError::Json {
                url: redact(&challenge.realm),
                source,
            })?;
        answer
            .get("token")
            .or_else(|| answer.get("access_token"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ChartRepoError::Auth {
                url: redact(url),
                realm: redact(&challenge.realm),
                status: "no token in the answer".to_string(),
            })
    }

    fn send(
        &self,
        plain: &str,
        url: &str,
        accept: &[&str],
        auth: Auth,
    ) -> Result<Read, ChartRepoError> {
        let mut request = self.inner.get(plain);
        if !accept.is_empty() {
            request = request.header(ACCEPT, accept.join(", "));
        }
        request = match auth {
            Auth::None => request,
            Auth::Basic(u, p) => request.basic_auth(u, Some(p)),
            Auth::Bearer(t) => request.bearer_auth(t),
        };
        self.read(request, url)
    }

    fn read(&self, request: RequestBuilder, url: &str) -> Result<Read, ChartRepoError> {
        let shown = redact(url);
        let mut response = request.send().map_err(|source| ChartRepoError::Request {
            url: shown.clone(),
            source: Box::new(source.without_url()),
        })?;
        let limit = self.max_bytes;
        let too_large = || ChartRepoError::TooLarge {
            url: shown.clone(),
            limit,
        };
        if response.content_length().is_some_and(|l| l > limit) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        (&mut response)
            .take(limit + 1)
            .read_to_end(&mut body)
            .map_err(|source| ChartRepoError::Io {
                url: shown.clone(),
                source,
            })?;
        if body.len() as u64 > limit {
            return Err(too_large());
        }
        Ok(Read {
            status: response.status(),
            headers: response.headers().clone(),
            body,
        })
    }
}

enum Auth {
    None,
    Basic(String, String),
    Bearer(String),
}

/// A `WWW-Authenticate: Bearer realm="...",service="...",scope="..."` challenge.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Bearer {
    pub(crate) realm: String,
    pub(crate) service: Option<String>,
    pub(crate) scope: Option<String>,
}

/// The Bearer challenge of a `WWW-Authenticate` value, if it is one with a realm.
pub(crate) fn parse_bearer(value: &str) -> Option<Bearer> {
    let (scheme, params) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let (mut realm, mut service, mut scope) = (None, None, None);
    let mut rest = params.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        match key.as_str() {
            "realm" => realm = Some(value.to_string()),
            "service" => service = Some(value.to_string()),
            "scope" => scope = Some(value.to_string()),
            _ => {}
        }
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Bearer {
        realm: realm?,
        service,
        scope,
    })
}

/// `url` without user information (sent as a header instead).
pub(crate) fn strip_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://{host}{path}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_are_read() {
        assert_eq!(
            parse_bearer(
                r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:charts/metrics:pull""#
            ),
            Some(Bearer {
                realm: "https://auth.example.com/token".to_string(),
                service: Some("registry.example.com".to_string()),
                scope: Some("repository:charts/metrics:pull".to_string()),
            })
        );
        assert_eq!(
            parse_bearer("bearer realm=https://t.example/token"),
            Some(Bearer {
                realm: "https://t.example/token".to_string(),
                service: None,
                scope: None,
            })
        );
        assert_eq!(parse_bearer(r#"Basic realm="x""#), None);
        assert_eq!(parse_bearer("Bearer service=x"), None);
        assert_eq!(
            strip_userinfo("https://u:p@h:1/a/b"),
            "https://h:1/a/b".to_string()
        );
    }
}
