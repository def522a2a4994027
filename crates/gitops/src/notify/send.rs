//! HTTP delivery of notifications, with retries, over hyper (the client the Kubernetes client
//! already brings) and rustls.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// How deliveries are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all (at least one).
    pub attempts: u32,
    /// Wait before the second attempt; doubled before each further one.
    pub initial_backoff: Duration,
    /// Time allowed for one attempt (connect, send, read the response).
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    /// Three attempts, waiting 500 ms then 1 s, 10 s per attempt.
    fn default() -> Self {
        Self {
            attempts: 3,
            initial_backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Sets [`attempts`](Self::attempts).
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }

    /// Sets [`initial_backoff`](Self::initial_backoff).
    pub fn with_initial_backoff(mut self, initial_backoff: Duration) -> Self {
        self.initial_backoff = initial_backoff;
        self
    }

    /// Sets [`timeout`](Self::timeout).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// A request to deliver.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub(crate) method: http::Method,
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// How a delivery over HTTP ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HttpOutcome {
    /// The receiver answered 2xx (or 3xx).
    Delivered { status: u16, attempts: u32 },
    /// The receiver answered with an error status (after retries for 5xx).
    Rejected {
        status: u16,
        attempts: u32,
        body: String,
    },
    /// No answer: the connection failed or timed out on every attempt.
    Unreachable { attempts: u32, error: String },
}

/// The HTTP client deliveries use.
#[derive(Debug, Clone)]
pub(crate) struct HttpSender {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    retry: RetryPolicy,
}

/// Longest response body kept for a rejection report.
const REJECTION_BODY_LIMIT: usize = 512;

impl HttpSender {
    /// A client trusting the system's root certificates (none when the system has none: then
    /// only plain HTTP receivers are reachable).
    pub(crate) fn new(retry: RetryPolicy) -> Result<Self, rustls::Error> {
        use hyper_rustls::ConfigBuilderExt;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?;
        let config = match builder.clone().with_native_roots() {
            Ok(with_roots) => with_roots.with_no_client_auth(),
            Err(error) => {
                tracing::warn!(%error, "no trusted root certificates: HTTPS notifications will fail");
                builder
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            }
        };
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self { client, retry })
    }

    /// Sends `request`, retrying connection failures, timeouts and 5xx answers.
    pub(crate) async fn send(&self, request: &Outgoing) -> HttpOutcome {
        let attempts = self.retry.attempts.max(1);
        let mut backoff = self.retry.initial_backoff;
        let mut last = HttpOutcome::Unreachable {
            attempts: 0,
            error: "not attempted".into(),
        };
        for attempt in 1..=attempts {
            if attempt > 1 {
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
            }
            last = match tokio::time::timeout(self.retry.timeout, self.attempt(request)).await {
                Ok(Ok((status, _))) if status < 400 => {
                    return HttpOutcome::Delivered {
                        status,
                        attempts: attempt,
                    };
                }
                Ok(Ok((status, body_text))) => {
                    let rejected = HttpOutcome::Rejected {
                        status,
                        attempts: attempt,
                        body: body_text,
                    };
                    if status < 500 {
                        return rejected;
                    }
                    rejected
                }
                Ok(Err(error)) => HttpOutcome::Unreachable {
                    attempts: attempt,
                    error: error.to_string(),
                },
                Err(_) => HttpOutcome::Unreachable {
                    attempts: attempt,
                    error: format!("no answer within {:?}", self.retry.timeout),
                },
            };
        }
        last
    }

    async fn attempt(&self, request: &Outgoing) -> Result<(u16, String), AttemptError> {
        let mut builder = http::Request::builder()
            .method(request.method.clone())
            .uri(&request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        // Header values are never echoed: they may be credentials.
        let built = builder
            .body(Full::new(Bytes::from(request.body.clone())))
            .map_err(|_| AttemptError::Invalid)?;
        let response = self
            .client
            .request(built)
            .await
            .map_err(AttemptError::Unreachable)?;
        let status = response.status().as_u16();
        let body = match response.into_body().collect().await {
            Ok(collected) => {
                let bytes = collected.to_bytes();
                let text = String::from_utf8_lossy(&bytes[..bytes.len().min(REJECTION_BODY_LIMIT)]);
                text.into_owned()
            }
            Err(_) => String::new(),
        };
        Ok((status, body))
    }
}

/// Why one request could not be sent.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    /// The request cannot be built (header values are never echoed: they may be credentials).
    #[error("the request is invalid (URL or a header value)")]
    Invalid,
    /// The receiver could not be reached; shown with its whole chain of causes.
    #[error("{}", super::error_chain(.0))]
    Unreachable(#[source] hyper_util::client::legacy::Error),
}
