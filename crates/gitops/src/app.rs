//! An `argoproj.io/v1alpha1` Application as the controller reads it: identity, source,
//! destination, project and sync policy, checked once so the reconciler works with typed
//! fields.

use std::time::Duration;

use serde_json::Value;
use strata_drift::backoff::Backoff;
use strata_gotemplate::SharedCause;
use strata_sources::application::SyncPolicy;

/// The Application API group.
pub const ARGO_GROUP: &str = "argoproj.io";
/// The Application API version.
pub const ARGO_VERSION: &str = "v1alpha1";
/// The in-cluster destination server.
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";
/// The in-cluster destination name.
pub const IN_CLUSTER_NAME: &str = "in-cluster";
/// Annotation asking for a refresh (`normal` or `hard`), removed once done, as ArgoCD does.
pub const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";

/// An Application that cannot be reconciled as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Application {name}: {field}: {message}")]
pub struct SpecError {
    /// The Application.
    pub name: String,
    /// The field path (`spec.source.repoURL`).
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// The error the message was raised from (a [`RetryError`] for `spec.syncPolicy.retry`),
    /// when there is one.
    #[source]
    pub source: Option<SharedCause>,
}

/// `spec.source`, or one entry of `spec.sources`.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// `repoURL`.
    pub repo_url: String,
    /// `targetRevision` (`HEAD` when empty).
    pub target_revision: String,
    /// `path` (`.` when a single source has none; empty when an entry of `spec.sources`
    /// has none).
    pub path: String,
    /// `chart`, when the source is a chart of a Helm repository.
    pub chart: Option<String>,
    /// `ref`: the name `$ref/...` value files of the other sources reach this source by.
    pub ref_name: Option<String>,
    /// The whole source, as written (Helm and directory options are read from it).
    pub raw: Value,
}

impl Source {
    /// Whether the source renders a chart fetched from a repository: a `chart` of a Helm
    /// repository (or of an OCI registry written without a scheme), or an `oci://` repoURL,
    /// which ArgoCD 3 reads as an OCI artifact whatever `chart` says (see
    /// [`strata_sources::helm::application::is_oci_artifact`]).
    pub fn is_chart(&self) -> bool {
        self.chart.is_some() || self.repo_url.starts_with("oci://")
    }
}

/// `spec.destination`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Destination {
    /// `server`.
    pub server: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `namespace`.
    pub namespace: Option<String>,
}

impl Destination {
    /// Whether this is the cluster the controller runs in.
    pub fn is_in_cluster(&self) -> bool {
        match (&self.server, &self.name) {
            (None, None) => true,
            (Some(server), _) => server == IN_CLUSTER_SERVER,
            (None, Some(name)) => name == IN_CLUSTER_NAME,
        }
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.server, &self.name) {
            (Some(server), _) => write!(f, "{server}")?,
            (None, Some(name)) => write!(f, "{name}")?,
            (None, None) => write!(f, "{IN_CLUSTER_SERVER}")?,
        }
        if let Some(ns) = &self.namespace {
            write!(f, " namespace {ns}")?;
        }
        Ok(())
    }
}

/// `spec.syncPolicy.retry`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    /// `limit`: retries after the first attempt (negative: without end).
    pub limit: i64,
    /// `backoff`.
    pub backoff: Backoff,
}

/// An Application, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Application {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `spec.project` (`default` when empty).
    pub project: String,
    /// `spec.source`; for a multi-source Application, the first entry of `spec.sources` that
    /// is rendered (one with a `path` or `chart`).
    pub source: Source,
    /// Every entry of `spec.sources`, in order, when the Application has `spec.sources` (and
    /// no `spec.source`, as ArgoCD reads it); empty for a single-source Application.
    pub sources: Vec<Source>,
    /// `spec.destination`.
    pub destination: Destination,
    /// `spec.syncPolicy` and `spec.ignoreDifferences`.
    pub sync: SyncPolicy,
    /// `spec.syncPolicy.automated.allowEmpty`.
    pub allow_empty: bool,
    /// `spec.syncPolicy.retry`, when given.
    pub retry: Option<Retry>,
    /// `metadata.annotations`.
    pub annotations: serde_json::Map<String, Value>,
    /// The whole manifest, as read.
    pub manifest: Value,
}

fn text(value: &Value, pointer: &str) -> Option<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl Application {
    /// Reads an Application manifest; `default_namespace` is used when it has none.
    pub fn parse(manifest: &Value, default_namespace: &str) -> Result<Self, SpecError> {
        let name = text(manifest, "/metadata/name").unwrap_or_default();
        let error = |field: &str, message: &str| SpecError {
            name: if name.is_empty() {
                "(unnamed)".into()
            } else {
                name.clone()
            },
            field: field.into(),
            message: message.into(),
            source: None,
        };
        if name.is_empty() {
            return Err(error("metadata.name", "is required"));
        }
        if manifest.pointer("/apiVersion").and_then(Value::as_str) != Some("argoproj.io/v1alpha1")
            || manifest.pointer("/kind").and_then(Value::as_str) != Some("Application")
        {
            return Err(error(
                "apiVersion/kind",
                "not an argoproj.io/v1alpha1 Application",
            ));
        }
        let spec = manifest
            .get("spec")
            .filter(|s| s.is_object())
            .ok_or_else(|| error("spec", "is required"))?;
        let (source, sources) = match (spec.get("source"), spec.get("sources")) {
            (Some(s), _) if s.is_object() => {
                let repo_url = text(s, "/repoURL")
                    .ok_or_else(|| error("spec.source.repoURL", "is required"))?;
                (source_of(s, repo_url, "."), Vec::new())
            }
            (_, Some(Value::Array(list))) if !list.is_empty() => {
                let sources =
                    parse_sources(list).map_err(|(field, message)| error(&field, &message))?;
                let primary = sources
                    .iter()
                    .find(|s| !s.path.is_empty() || s.chart.is_some())
                    .cloned()
                    .ok_or_else(|| {
                        error(
                            "spec.sources",
                            "no source to render: every source is a ref (give one a path or chart)",
                        )
                    })?;
                (primary, sources)
            }
            (_, Some(Value::Array(_))) => return Err(error("spec.sources", "is empty")),
            (_, Some(_)) => return Err(error("spec.sources", "must be a list")),
            _ => return Err(error("spec.source", "is required")),
        };
        let destination = Destination {
            server: text(spec, "/destination/server"),
            name: text(spec, "/destination/name"),
            namespace: text(spec, "/destination/namespace"),
        };
        if destination.server.is_some() && destination.name.is_some() {
            return Err(error(
                "spec.destination",
                "server and name are both set; give one",
            ));
        }
        let retry = match spec.pointer("/syncPolicy/retry") {
            None | Some(Value::Null) => None,
            Some(retry) => Some(parse_retry(retry).map_err(|e| {
                let spec = error("spec.syncPolicy.retry", &e.to_string());
                SpecError {
                    source: Some(SharedCause::new(e)),
                    ..spec
                }
            })?),
        };
        Ok(Self {
            namespace: text(manifest, "/metadata/namespace")
                .unwrap_or_else(|| default_namespace.to_owned()),
            project: text(spec, "/project").unwrap_or_else(|| "default".into()),
            sync: SyncPolicy::of(manifest),
            allow_empty: spec
                .pointer("/syncPolicy/automated/allowEmpty")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            retry,
            annotations: manifest
                .pointer("/metadata/annotations")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            manifest: manifest.clone(),
            name,
            source,
            sources,
            destination,
        })
    }

    /// Whether the Application has `spec.sources` (ArgoCD's multi-source Application): its
    /// status reports `revisions`, one per source, instead of `revision`.
    pub fn is_multi_source(&self) -> bool {
        !self.sources.is_empty()
    }

    /// Every source: the entries of `spec.sources`, or `spec.source` alone.
    pub fn all_sources(&self) -> &[Source] {
        if self.sources.is_empty() {
            std::slice::from_ref(&self.source)
        } else {
            &self.sources
        }
    }

    /// The stack name this Application's resources are recorded and labelled under.
    pub fn stack_name(&self) -> &str {
        &self.name
    }

    /// The source as history and notifications show it.
    pub fn source_summary(&self) -> Value {
        summary(&self.source)
    }

    /// Every entry of `spec.sources` as history shows them (empty for a single source).
    pub fn sources_summary(&self) -> Vec<Value> {
        self.sources.iter().map(summary).collect()
    }
}

fn summary(source: &Source) -> Value {
    let mut out = serde_json::json!({
        "repoURL": source.repo_url,
        "targetRevision": source.target_revision,
    });
    if !source.path.is_empty() {
        out["path"] = Value::from(source.path.clone());
    }
    if let Some(chart) = &source.chart {
        out["chart"] = Value::from(chart.clone());
    }
    if let Some(r) = &source.ref_name {
        out["ref"] = Value::from(r.clone());
    }
    out
}

fn source_of(raw: &Value, repo_url: String, default_path: &str) -> Source {
    Source {
        repo_url,
        target_revision: text(raw, "/targetRevision").unwrap_or_else(|| "HEAD".into()),
        path: text(raw, "/path").unwrap_or_else(|| default_path.into()),
        chart: text(raw, "/chart"),
        ref_name: text(raw, "/ref"),
        raw: raw.clone(),
    }
}

/// Reads the entries of `spec.sources`; an error is the field path and what is wrong.
fn parse_sources(list: &[Value]) -> Result<Vec<Source>, (String, String)> {
    let mut sources: Vec<Source> = Vec::with_capacity(list.len());
    for (i, raw) in list.iter().enumerate() {
        let field = format!("spec.sources[{i}]");
        if !raw.is_object() {
            return Err((field, "must be an object".into()));
        }
        let repo_url = text(raw, "/repoURL")
            .ok_or_else(|| (format!("{field}.repoURL"), "is required".into()))?;
        if let Some(r) = raw.get("ref")
            && !r
                .as_str()
                .is_some_and(|r| !r.is_empty() && !r.contains('/'))
        {
            return Err((format!("{field}.ref"), format!("must be a name, got {r}")));
        }
        let source = source_of(raw, repo_url, "");
        if source.path.is_empty() && source.chart.is_none() && source.ref_name.is_none() {
            return Err((field, "needs a path, a chart or a ref".into()));
        }
        if let Some(r) = &source.ref_name
            && sources.iter().any(|s| s.ref_name.as_ref() == Some(r))
        {
            return Err((format!("{field}.ref"), format!("ref {r} is given twice")));
        }
        sources.push(source);
    }
    Ok(sources)
}

/// What is wrong with `spec.syncPolicy.retry`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RetryError {
    /// `limit` is not an integer.
    #[error("limit: {0} is not an integer")]
    Limit(Value),
    /// `backoff.factor` is not a number.
    #[error("backoff.factor: {0} is not a number")]
    Factor(Value),
    /// A duration of `backoff` is not a duration.
    #[error("backoff: {0}")]
    Backoff(#[source] strata_drift::DriftError),
}

fn parse_retry(retry: &Value) -> Result<Retry, RetryError> {
    let limit = match retry.get("limit") {
        None | Some(Value::Null) => 5,
        Some(v) => v.as_i64().ok_or_else(|| RetryError::Limit(v.clone()))?,
    };
    let backoff = match retry.get("backoff") {
        None | Some(Value::Null) => Backoff::SYNC_RETRY_DEFAULT,
        Some(b) => {
            let duration = b.get("duration").and_then(Value::as_str).unwrap_or("5s");
            let factor = match b.get("factor") {
                None | Some(Value::Null) => 2.0,
                Some(f) => f.as_f64().ok_or_else(|| RetryError::Factor(f.clone()))?,
            };
            let max = b.get("maxDuration").and_then(Value::as_str).unwrap_or("3m");
            Backoff::parse(duration, factor, max).map_err(RetryError::Backoff)?
        }
    };
    Ok(Retry { limit, backoff })
}

/// The wait before retry number `failures` (1 for the first retry) of a failed sync.
pub fn retry_wait(retry: &Retry, failures: u32) -> Duration {
    strata_drift::backoff::sync_retry_wait(&retry.backoff, failures)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn app(spec: Value) -> Value {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
               "metadata": {"name": "shop"}, "spec": spec})
    }

    #[test]
    fn reads_source_destination_and_policy() {
        let a = Application::parse(
            &app(json!({
                "source": {"repoURL": "git://127.0.0.1/apps.git", "path": "shop", "targetRevision": "main"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop"},
                "syncPolicy": {"automated": {"prune": true, "selfHeal": true, "allowEmpty": true},
                               "retry": {"limit": 2, "backoff": {"duration": "1s", "factor": 3, "maxDuration": "10s"}}}
            })),
            "argocd",
        )
        .unwrap();
        assert_eq!(a.namespace, "argocd");
        assert_eq!(a.project, "default");
        assert_eq!(a.source.target_revision, "main");
        assert!(a.destination.is_in_cluster());
        assert!(a.sync.automated && a.sync.prune && a.sync.self_heal && a.allow_empty);
        let retry = a.retry.unwrap();
        assert_eq!(retry.limit, 2);
        assert_eq!(retry_wait(&retry, 1), Duration::from_secs(3));
        assert_eq!(retry_wait(&retry, 3), Duration::from_secs(10));
    }

    #[test]
    fn names_the_field_that_is_wrong() {
        let e = Application::parse(&app(json!({"destination": {}})), "argocd").unwrap_err();
        assert_eq!(e.to_string(), "Application shop: spec.source: is required");
        let e = Application::parse(
            &app(json!({"source": {"repoURL": "x"},
                        "destination": {"server": "https://a", "name": "b"}})),
            "argocd",
        )
        .unwrap_err();
        assert_eq!(e.field, "spec.destination");
        let e = Application::parse(
            &app(json!({"source": {"repoURL": "x"},
                        "syncPolicy": {"retry": {"backoff": {"factor": "two"}}}})),
            "argocd",
        )
        .unwrap_err();
        assert!(e.message.contains("factor"), "{e}");
        let retry = std::error::Error::source(&e)
            .and_then(|s| s.downcast_ref::<RetryError>())
            .expect("the retry error is the source");
        assert!(matches!(retry, RetryError::Factor(_)), "{retry:?}");
        let e = Application::parse(
            &app(json!({"source": {"repoURL": "x"},
                        "syncPolicy": {"retry": {"backoff": {"duration": "soon"}}}})),
            "argocd",
        )
        .unwrap_err();
        let drift = std::error::Error::source(&e)
            .and_then(std::error::Error::source)
            .and_then(|s| s.downcast_ref::<strata_drift::DriftError>());
        assert!(drift.is_some(), "{e:?}");
    }

    #[test]
    fn reads_every_source_of_a_multi_source_application() {
        let a = Application::parse(
            &app(json!({"sources": [
                {"repoURL": "git://127.0.0.1/values.git", "targetRevision": "v2", "ref": "values"},
                {"repoURL": "git://127.0.0.1/apps.git", "path": "shop"},
                {"repoURL": "https://charts.example", "chart": "web", "targetRevision": "1.0.0"},
            ]})),
            "argocd",
        )
        .unwrap();
        assert!(a.is_multi_source());
        assert_eq!(a.all_sources().len(), 3);
        assert_eq!(a.source.repo_url, "git://127.0.0.1/apps.git");
        assert_eq!(a.source.target_revision, "HEAD");
        assert_eq!(a.sources[0].ref_name.as_deref(), Some("values"));
        assert_eq!(a.sources[0].path, "");
        assert_eq!(a.sources[2].chart.as_deref(), Some("web"));
        assert_eq!(
            a.sources_summary()[0],
            json!({"repoURL": "git://127.0.0.1/values.git", "targetRevision": "v2", "ref": "values"})
        );

        let single = Application::parse(
            &app(json!({"source": {"repoURL": "git://127.0.0.1/apps.git"}})),
            "argocd",
        )
        .unwrap();
        assert!(!single.is_multi_source());
        assert_eq!(single.all_sources(), std::slice::from_ref(&single.source));
        assert_eq!(single.source.path, ".");
    }

    #[test]
    fn names_the_source_that_is_wrong() {
        let refused = |sources: Value| {
            Application::parse(&app(json!({"sources": sources})), "argocd").unwrap_err()
        };
        let e = refused(json!([{"repoURL": "a", "path": "x"}, {"repoURL": "b"}]));
        assert_eq!(
            e.to_string(),
            "Application shop: spec.sources[1]: needs a path, a chart or a ref"
        );
        let e = refused(json!([{"repoURL": "a", "path": "x"}, {"path": "y"}]));
        assert_eq!(e.field, "spec.sources[1].repoURL");
        let e = refused(json!([{"repoURL": "a", "path": "x"}, {"repoURL": "b", "ref": "v/x"}]));
        assert_eq!(e.field, "spec.sources[1].ref");
        let e = refused(json!([
            {"repoURL": "a", "path": "x", "ref": "v"}, {"repoURL": "b", "ref": "v"}
        ]));
        assert_eq!(e.field, "spec.sources[1].ref");
        assert!(e.message.contains("twice"), "{e}");
        let e = refused(json!([{"repoURL": "a", "ref": "v"}]));
        assert_eq!(e.field, "spec.sources");
        let e = refused(json!([]));
        assert_eq!(e.to_string(), "Application shop: spec.sources: is empty");
        let e = refused(json!(["a"]));
        assert_eq!(e.field, "spec.sources[0]");
    }
}
