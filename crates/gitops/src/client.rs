//! A client of a running controller's Application API (what `strata app` uses): list and
//! get Applications with their status, refresh, sync and roll back.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::server::SyncRequest;

/// Errors talking to the controller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The controller could not be reached.
    #[error("cannot reach the controller at {url}: {message}")]
    Unreachable {
        /// The controller's address.
        url: String,
        /// Why.
        message: String,
        /// The TLS, HTTP or connection error, when one was raised (not for a timeout).
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The controller answered with an error.
    #[error("{message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The controller's message.
        message: String,
    },
    /// The answer was not what the API returns.
    #[error(
        "the controller at {url} answered something that is not the Application API: {message}"
    )]
    Unexpected {
        /// The controller's address.
        url: String,
        /// What was wrong.
        message: String,
        /// The JSON error, when one was raised.
        #[source]
        source: Option<serde_json::Error>,
    },
}

/// [`ClientError::Unreachable`] of the controller at `url`, raised from `source`.
fn unreachable(url: &str, source: impl std::error::Error + Send + Sync + 'static) -> ClientError {
    ClientError::Unreachable {
        url: url.to_owned(),
        message: source.to_string(),
        source: Some(Box::new(source)),
    }
}

/// A client of the controller at one base URL (`http://127.0.0.1:8080`).
#[derive(Debug, Clone)]
pub struct ControllerClient {
    base: String,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl ControllerClient {
    /// A client of the controller at `base` (HTTP or HTTPS with the system's roots).
    pub fn new(base: &str) -> Result<Self, ClientError> {
        use hyper_rustls::ConfigBuilderExt;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|source| unreachable(base, source))?;
        let config = match builder.clone().with_native_roots() {
            Ok(with_roots) => with_roots.with_no_client_auth(),
            Err(_) => builder
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        };
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout: Duration::from_secs(600),
        })
    }

    async fn call(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.base);
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let request = http::Request::builder()
            .method(method)
            .uri(&url)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|source| unreachable(&self.base, source))?;
        let response = tokio::time::timeout(self.timeout, self.client.request(request))
            .await
            .map_err(|_| ClientError::Unreachable {
                url: self.base.clone(),
                message: format!("no answer within {:?}", self.timeout),
                source: None,
            })?
            .map_err(|source| unreachable(&self.base, source))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|source| unreachable(&self.base, source))?
            .to_bytes();
        let value: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
        };
        if status >= 400 {
            let message = value
                .get("error")
                .or_else(|| value.get("message"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| value.to_string());
            return Err(ClientError::Refused { status, message });
        }
        Ok(value)
    }

    /// Every Application (as objects: `metadata`, `spec`, `status`).
    pub async fn list(&self) -> Result<Vec<Value>, ClientError> {
        match self
            .call(http::Method::GET, "/api/v1/applications", None)
            .await?
        {
            Value::Object(mut map) => match map.remove("items") {
                Some(Value::Array(items)) => Ok(items),
                _ => Err(self.unexpected("no items list")),
            },
            _ => Err(self.unexpected("not an object")),
        }
    }

    /// One Application (as an object).
    pub async fn get(&self, name: &str) -> Result<Value, ClientError> {
        self.call(
            http::Method::GET,
            &format!("/api/v1/applications/{name}"),
            None,
        )
        .await
    }

    fn unexpected(&self, message: &str) -> ClientError {
        ClientError::Unexpected {
            url: self.base.clone(),
            message: message.to_owned(),
            source: None,
        }
    }

    /// Asks for a refresh (fetch and compare) of `name`.
    pub async fn refresh(&self, name: &str) -> Result<(), ClientError> {
        self.call(
            http::Method::POST,
            &format!("/api/v1/applications/{name}/refresh"),
            None,
        )
        .await
        .map(drop)
    }

    /// Syncs `name` and waits for the operation's end; returns the operation state.
    pub async fn sync(&self, name: &str, request: &SyncRequest) -> Result<Value, ClientError> {
        let body = serde_json::to_value(request).map_err(|e| ClientError::Unexpected {
            url: self.base.clone(),
            message: e.to_string(),
            source: Some(e),
        })?;
        self.call(
            http::Method::POST,
            &format!("/api/v1/applications/{name}/sync"),
            Some(body),
        )
        .await
    }

    /// Rolls `name` back to history entry `id`; returns the operation state.
    pub async fn rollback(&self, name: &str, id: u64) -> Result<Value, ClientError> {
        self.call(
            http::Method::POST,
            &format!("/api/v1/applications/{name}/rollback"),
            Some(serde_json::json!({"id": id})),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connection_error_is_kept_as_source() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let address = listener.local_addr().expect("its address");
        drop(listener);
        let base = format!("http://{address}");
        let client = ControllerClient::new(&base).expect("a client");
        let err = client.list().await.expect_err("nothing listens");
        assert!(
            err.to_string()
                .starts_with(&format!("cannot reach the controller at {base}: ")),
            "{err}"
        );
        let source = std::error::Error::source(&err).expect("the connection error");
        assert!(
            source
                .downcast_ref::<hyper_util::client::legacy::Error>()
                .is_some(),
            "{source:?}"
        );
    }
}
