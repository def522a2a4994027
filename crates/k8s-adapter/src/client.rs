//! Connecting to a cluster: kubeconfig (with a selectable context) or in-cluster configuration,
//! through kube's standard inference.

use kube::config::{Config, KubeConfigOptions};

/// How to reach the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// The kubeconfig context to use; `None` means the current context, or the in-cluster
    /// service account when there is no kubeconfig (kube's `Config::infer`).
    pub context: Option<String>,
}

impl ConnectOptions {
    /// Options selecting the kubeconfig context `context`, or the current one when `None`.
    pub fn new(context: Option<String>) -> Self {
        Self { context }
    }

    /// Options selecting the kubeconfig context `context`.
    pub fn with_context(context: impl Into<String>) -> Self {
        Self {
            context: Some(context.into()),
        }
    }
}

/// The cluster could not be reached or configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// No kubeconfig and no in-cluster environment.
    #[error("no Kubernetes configuration found (kubeconfig or in-cluster): {0}")]
    Infer(#[from] kube::config::InferConfigError),
    /// The kubeconfig or the context could not be read.
    #[error("reading the kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    /// The client could not be built from the configuration.
    #[error("building the Kubernetes client: {0}")]
    Client(#[from] kube::Error),
}

/// The client configuration for `options`.
pub async fn config(options: &ConnectOptions) -> Result<Config, ConnectError> {
    Ok(match &options.context {
        Some(context) => {
            Config::from_kubeconfig(&KubeConfigOptions {
                context: Some(context.clone()),
                ..KubeConfigOptions::default()
            })
            .await?
        }
        None => Config::infer().await?,
    })
}

/// A client for the cluster `options` select.
pub async fn connect(options: &ConnectOptions) -> Result<kube::Client, ConnectError> {
    Ok(kube::Client::try_from(config(options).await?)?)
}

/// One request an [observed](observed) client made, told after its response arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestSummary<'a> {
    /// The HTTP method (`GET`, `PATCH`, `DELETE` …), or `WATCH` for a watch.
    pub verb: &'a str,
    /// The request path (no query).
    pub path: &'a str,
    /// The response status; `None` when no response arrived (connection or TLS failure).
    pub status: Option<u16>,
}

/// Called for every request an [observed] client makes.
pub type RequestObserver = std::sync::Arc<dyn Fn(&RequestSummary<'_>) + Send + Sync>;

/// A client that sends every request through `client` and tells `observe` of each one once
/// its response (or failure) is known: how a caller counts the API requests made on its
/// behalf (the GitOps controller's `argocd_app_k8s_request_total`) while sharing `client`'s
/// connections. Request bodies, headers and responses are never shown to `observe`.
///
/// ```no_run
/// # async fn example(client: kube::Client) {
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// let count = Arc::new(AtomicUsize::new(0));
/// let counter = Arc::clone(&count);
/// let counted = strata_k8s::client::observed(
///     client,
///     Arc::new(move |_request: &strata_k8s::client::RequestSummary<'_>| {
///         counter.fetch_add(1, Ordering::Relaxed);
///     }),
/// );
/// let _ = counted.apiserver_version().await;
/// assert_eq!(count.load(Ordering::Relaxed), 1);
/// # }
/// ```
pub fn observed(client: kube::Client, observe: RequestObserver) -> kube::Client {
    let namespace = client.default_namespace().to_string();
    kube::Client::new(
        ObservedService {
            inner: client,
            observe,
        },
        namespace,
    )
}

#[derive(Clone)]
struct ObservedService {
    inner: kube::Client,
    observe: RequestObserver,
}

type ObservedFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<http::Response<kube::client::Body>, kube::Error>>
            + Send,
    >,
>;

impl tower::Service<http::Request<kube::client::Body>> for ObservedService {
    type Response = http::Response<kube::client::Body>;
    type Error = kube::Error;
    type Future = ObservedFuture;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<kube::client::Body>) -> Self::Future {
        let inner = self.inner.clone();
        let observe = std::sync::Arc::clone(&self.observe);
        let watch = request
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|pair| pair == "watch=true"));
        let verb = if watch {
            "WATCH".to_string()
        } else {
            request.method().as_str().to_string()
        };
        let path = request.uri().path().to_string();
        Box::pin(async move {
            let result = inner.send(request).await;
            observe(&RequestSummary {
                verb: &verb,
                path: &path,
                status: result.as_ref().ok().map(|r| r.status().as_u16()),
            });
            result
        })
    }
}
