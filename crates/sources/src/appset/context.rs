//! What generators read from the outside world, given to [`generate`](super::generate) as data.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::tree::{StaticTrees, TreeResolver};

/// Label that marks a Secret as an ArgoCD cluster definition.
pub const CLUSTER_SECRET_TYPE_LABEL: &str = "argocd.argoproj.io/secret-type";

/// A cluster the clusters generator can select (ArgoCD keeps these as labelled Secrets).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cluster {
    /// Cluster name (the secret's `data.name`).
    pub name: String,
    /// API server URL.
    pub server: String,
    /// Project the cluster is scoped to, if any.
    pub project: Option<String>,
    /// Labels of the cluster secret.
    pub labels: BTreeMap<String, String>,
    /// Annotations of the cluster secret.
    pub annotations: BTreeMap<String, String>,
}

impl Cluster {
    /// A cluster with a name and server and no labels.
    pub fn new(name: impl Into<String>, server: impl Into<String>) -> Self {
        Cluster {
            name: name.into(),
            server: server.into(),
            ..Default::default()
        }
    }

    /// Reads a Kubernetes cluster Secret (`metadata.labels/annotations`, `data` base64-encoded or
    /// `stringData` plain). Returns `None` when it has no server.
    pub fn from_secret(secret: &Value) -> Option<Self> {
        let meta = secret.get("metadata");
        let map = |key: &str| -> BTreeMap<String, String> {
            meta.and_then(|m| m.get(key))
                .and_then(Value::as_object)
                .map(|o| {
                    o.iter()
                        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                        .collect()
                })
                .unwrap_or_default()
        };
        let field = |key: &str| -> Option<String> {
            if let Some(s) = secret
                .get("stringData")
                .and_then(|d| d.get(key))
                .and_then(Value::as_str)
            {
                return Some(s.to_string());
            }
            let raw = secret
                .get("data")
                .and_then(|d| d.get(key))
                .and_then(Value::as_str)?;
            strata_gotemplate::b64_decode(raw)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
        };
        Some(Cluster {
            name: field("name").unwrap_or_default(),
            server: field("server")?,
            project: field("project"),
            labels: map("labels"),
            annotations: map("annotations"),
        })
    }
}

/// Inputs of generation: the known clusters and the source trees of git generators.
#[derive(Clone)]
pub struct GeneratorContext {
    /// Cluster definitions (ArgoCD's cluster secrets). The local `in-cluster` entry is added by
    /// the clusters generator itself when appropriate.
    pub clusters: Vec<Cluster>,
    /// Resolves a git generator's repository to a tree.
    pub trees: Arc<dyn TreeResolver>,
    /// Namespace the ApplicationSet lives in, used when the ApplicationSet has none.
    pub namespace: Option<String>,
}

impl std::fmt::Debug for GeneratorContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratorContext")
            .field("clusters", &self.clusters)
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl Default for GeneratorContext {
    fn default() -> Self {
        GeneratorContext {
            clusters: Vec::new(),
            trees: Arc::new(StaticTrees::new()),
            namespace: None,
        }
    }
}

impl GeneratorContext {
    /// No clusters and no trees.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the clusters.
    pub fn with_clusters(mut self, clusters: Vec<Cluster>) -> Self {
        self.clusters = clusters;
        self
    }

    /// Sets the tree resolver.
    pub fn with_trees(mut self, trees: Arc<dyn TreeResolver>) -> Self {
        self.trees = trees;
        self
    }
}
