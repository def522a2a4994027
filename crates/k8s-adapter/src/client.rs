//! Connecting to a cluster: kubeconfig (with a selectable context) or in-cluster configuration,
//! through kube's standard inference.

use std::path::PathBuf;

use kube::config::{Config, KubeConfigOptions, Kubeconfig, KubeconfigError};

/// How to reach the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// The kubeconfig context to use; `None` means the current context, or the in-cluster
    /// service account when there is no kubeconfig (kube's `Config::infer`).
    pub context: Option<String>,
    /// The kubeconfig file to read instead of `KUBECONFIG` or `~/.kube/config` (kubectl's
    /// `--kubeconfig`); with it the in-cluster configuration is never used.
    pub kubeconfig: Option<PathBuf>,
    /// The namespace of namespaced objects that name none, instead of the context's (kubectl's
    /// `--namespace`).
    pub namespace: Option<String>,
}

impl ConnectOptions {
    /// Options selecting the kubeconfig context `context`, or the current one when `None`.
    pub fn new(context: Option<String>) -> Self {
        Self {
            context,
            ..Self::default()
        }
    }

    /// Options selecting the kubeconfig context `context`.
    pub fn with_context(context: impl Into<String>) -> Self {
        Self {
            context: Some(context.into()),
            ..Self::default()
        }
    }

    /// These options reading the kubeconfig `file` (`None`: the standard one).
    #[must_use]
    pub fn kubeconfig(mut self, file: Option<PathBuf>) -> Self {
        self.kubeconfig = file;
        self
    }

    /// These options with `namespace` for namespaced objects that name none (`None`: the
    /// context's).
    #[must_use]
    pub fn namespace(mut self, namespace: Option<String>) -> Self {
        self.namespace = namespace;
        self
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
    /// The kubeconfig file named explicitly could not be read.
    #[error("the kubeconfig {}: {source}", path.display())]
    KubeconfigRead {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The kubeconfig file named explicitly has no context of the name asked for.
    #[error("the kubeconfig {} has no context {context:?}", path.display())]
    NoSuchContext {
        /// The file.
        path: PathBuf,
        /// The context asked for.
        context: String,
    },
    /// The kubeconfig file named explicitly, or its context, is not usable.
    #[error("the kubeconfig {}: {source}", path.display())]
    KubeconfigFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The client could not be built from the configuration.
    #[error("building the Kubernetes client: {0}")]
    Client(#[from] kube::Error),
}

/// The client configuration for `options`.
pub async fn config(options: &ConnectOptions) -> Result<Config, ConnectError> {
    let selection = KubeConfigOptions {
        context: options.context.clone(),
        ..KubeConfigOptions::default()
    };
    let mut config = match (&options.kubeconfig, &options.context) {
        (Some(path), _) => {
            let in_file = |source| match source {
                KubeconfigError::ReadConfig(source, _) => ConnectError::KubeconfigRead {
                    path: path.clone(),
                    source,
                },
                KubeconfigError::LoadContext(context) => ConnectError::NoSuchContext {
                    path: path.clone(),
                    context,
                },
                source => ConnectError::KubeconfigFile {
                    path: path.clone(),
                    source,
                },
            };
            let file = Kubeconfig::read_from(path).map_err(in_file)?;
            Config::from_custom_kubeconfig(file, &selection)
                .await
                .map_err(in_file)?
        }
        (None, Some(_)) => Config::from_kubeconfig(&selection).await?,
        (None, None) => Config::infer().await?,
    };
    if let Some(namespace) = &options.namespace {
        config.default_namespace.clone_from(namespace);
    }
    Ok(config)
}

/// A client for the cluster `options` select.
pub async fn connect(options: &ConnectOptions) -> Result<kube::Client, ConnectError> {
    Ok(kube::Client::try_from(config(options).await?)?)
}

/// One request an [observed] client made, told after its response arrived.
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

    use super::*;

    const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\ncontexts:\n- name: picked\n  context:\n    cluster: c\n    user: u\n    namespace: from-context\n- name: other\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    token: t\n";

    fn file() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, KUBECONFIG).unwrap();
        (dir, path)
    }

    #[tokio::test]
    async fn a_named_kubeconfig_and_context_are_read_and_the_namespace_overrides_the_contexts() {
        let (_dir, path) = file();
        let options = ConnectOptions::with_context("picked").kubeconfig(Some(path.clone()));
        let picked = config(&options).await.unwrap();
        assert_eq!(picked.default_namespace, "from-context");
        assert_eq!(picked.cluster_url.to_string(), "https://127.0.0.1:6443/");
        let other = config(&ConnectOptions::with_context("other").kubeconfig(Some(path.clone())))
            .await
            .unwrap();
        assert_eq!(other.default_namespace, "default");
        let overridden = config(&options.namespace(Some("flagged".into())))
            .await
            .unwrap();
        assert_eq!(overridden.default_namespace, "flagged");
    }

    #[tokio::test]
    async fn a_missing_kubeconfig_or_context_is_named() {
        let (dir, path) = file();
        let missing =
            config(&ConnectOptions::with_context("absent").kubeconfig(Some(path.clone())))
                .await
                .unwrap_err();
        assert_eq!(
            missing.to_string(),
            format!(
                "the kubeconfig {} has no context \"absent\"",
                path.display()
            )
        );
        let nowhere = dir.path().join("nowhere");
        let unread = config(&ConnectOptions::default().kubeconfig(Some(nowhere.clone())))
            .await
            .unwrap_err();
        assert!(
            matches!(&unread, ConnectError::KubeconfigRead { path, .. } if path == &nowhere),
            "{unread:?}"
        );
        assert_eq!(unread.to_string().matches("nowhere").count(), 1, "{unread}");
    }
}
