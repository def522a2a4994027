//! Desired-state expansion over a source tree, as ArgoCD and Crossplane would see it:
//! `argoproj.io/v1alpha1` Applications become child desired sets (plain manifests, a Kustomize
//! overlay, or a directory of claims), ApplicationSets become Applications, Applications found
//! in a child set recurse (app of apps, with cycle detection and a depth limit), and claims
//! and composites are rendered through the XRDs and compositions found anywhere in the tree.
//!
//! Entry point: [`expand`]. Without a resolver ([`ExpandOptions::repositories`]) every
//! repository URL an Application or generator names is read from the one tree given (the
//! stack's repository at its revision). With one, each `repoURL` is resolved: the stack's own
//! repository is read from the tree given (`targetRevision` recorded, the tree's own revision
//! read), any other from the tree the resolver returns at `targetRevision` (generators: their
//! `revision`), and a URL it cannot resolve is an error naming the Application or
//! ApplicationSet.
//!
//! When the directory holds no Application or ApplicationSet, it is loaded as plain
//! manifests (recursively) or as a Kustomize overlay, with claims rendered. Otherwise the
//! roots are the Applications and ApplicationSets whose file is not inside another
//! Application's `source.path`, and the desired set is what the roots reach.

mod children;
mod policy;
mod trees;

use rustc_hash::FxHashMap;
use std::sync::Arc;

use serde_json::Value;
use strata_core::loader::LoadError;
use strata_core::source::{SourceError, SourceTree};
use strata_core::{Resource, ResourceKey, SourceLocation};

use crate::appset::{AppSetError, Cluster};
use crate::kustomize::KustomizeError;

pub use children::is_cluster_scoped;
pub use policy::SyncPolicy;
pub use strata_composition::catalog::Catalog;
pub use trees::RepositoryTrees;

/// The default limit of nested Applications (app of apps of apps …).
pub const DEFAULT_MAX_DEPTH: usize = 10;

/// How to expand.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ExpandOptions {
    /// Deepest chain of Applications allowed.
    pub max_depth: usize,
    /// Cluster definitions for the clusters generator.
    pub clusters: Vec<Cluster>,
    /// Namespace of ApplicationSets that have none.
    pub namespace: String,
    /// Keep the Application and ApplicationSet manifests themselves in the desired set.
    pub keep_applications: bool,
    /// The repository the expanded tree is part of, when it is a directory inside one:
    /// Kustomize overlays are built there, so `resources: [../../base]` may reach any
    /// directory of the repository, as kustomize's default load restrictor allows.
    pub repository: Option<Repository>,
    /// Resolves the `repoURL`s of Applications and git generators (see
    /// [`crate::repo::Repositories`]); `None` reads every one from the tree expanded.
    pub repositories: Option<Arc<dyn crate::repo::RepositoryResolver>>,
    /// Parsed manifest files kept by content digest (see [`strata_core::loader::ParsedFiles`]);
    /// `None` parses every file.
    pub parsed: Option<Arc<dyn strata_core::loader::ParsedFiles>>,
}

impl ExpandOptions {
    /// Sets [`max_depth`](Self::max_depth).
    pub fn with_max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }

    /// Sets [`clusters`](Self::clusters).
    pub fn with_clusters(mut self, clusters: Vec<Cluster>) -> Self {
        self.clusters = clusters;
        self
    }

    /// Sets [`namespace`](Self::namespace).
    pub fn with_namespace(mut self, namespace: String) -> Self {
        self.namespace = namespace;
        self
    }

    /// Sets [`keep_applications`](Self::keep_applications).
    pub fn with_keep_applications(mut self, keep_applications: bool) -> Self {
        self.keep_applications = keep_applications;
        self
    }

    /// Sets [`repository`](Self::repository).
    pub fn with_repository(mut self, repository: Option<Repository>) -> Self {
        self.repository = repository;
        self
    }

    /// Sets [`repositories`](Self::repositories).
    pub fn with_repositories(
        mut self,
        repositories: Option<Arc<dyn crate::repo::RepositoryResolver>>,
    ) -> Self {
        self.repositories = repositories;
        self
    }

    /// Sets [`parsed`](Self::parsed).
    pub fn with_parsed(
        mut self,
        parsed: Option<Arc<dyn strata_core::loader::ParsedFiles>>,
    ) -> Self {
        self.parsed = parsed;
        self
    }
}

/// The repository around a stack directory: its tree, and the stack's path inside it.
#[derive(Clone)]
pub struct Repository {
    /// The whole repository (its Git top level, or the root given).
    pub tree: Arc<dyn SourceTree>,
    /// The expanded tree's path inside the repository (`""` when it is the repository).
    pub prefix: String,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("origin", self.tree.origin())
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Default for ExpandOptions {
    fn default() -> Self {
        Self {
            max_depth: DEFAULT_MAX_DEPTH,
            clusters: Vec::new(),
            namespace: "argocd".into(),
            keep_applications: false,
            repository: None,
            repositories: None,
            parsed: None,
        }
    }
}

/// One expanded Application: its child desired set and its sync policy.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildSet {
    /// The Application's name.
    pub name: String,
    /// The Application (or ApplicationSet) that produced it, if any.
    pub parent: Option<String>,
    /// Where the Application manifest came from.
    pub source: Option<SourceLocation>,
    /// `spec.source.path`.
    pub path: String,
    /// `spec.source.targetRevision`, as written.
    pub target_revision: Option<String>,
    /// `spec.destination.namespace`.
    pub namespace: Option<String>,
    /// `spec.destination.server` and `.name`: the cluster.
    pub destination: Destination,
    /// Sync policy and options.
    pub sync: SyncPolicy,
    /// The resources of this set (not of nested Applications).
    pub resources: Vec<ResourceKey>,
}

/// The cluster an Application deploys to, as written (`server` URL or cluster `name`; neither
/// means the cluster the controller runs in).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Destination {
    /// `spec.destination.server`.
    pub server: Option<String>,
    /// `spec.destination.name`.
    pub name: Option<String>,
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.server, &self.name) {
            (Some(server), _) => write!(f, "server {server}"),
            (None, Some(name)) => write!(f, "cluster {name}"),
            (None, None) => f.write_str("the in-cluster destination"),
        }
    }
}

/// The result of an expansion.
#[derive(Debug, Clone, Default)]
pub struct Expansion {
    /// Every desired resource, each with its source location.
    pub resources: Vec<Resource>,
    /// Every Application expanded, parents before children.
    pub applications: Vec<ChildSet>,
}

/// Why an expansion failed. Messages name the file (and Application) at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExpandError {
    /// Reading the tree failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A manifest could not be parsed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A Kustomize overlay could not be built.
    #[error("{context}: {error}")]
    Kustomize {
        /// The Application or directory being expanded.
        context: String,
        /// The Kustomize error.
        #[source]
        error: Box<KustomizeError>,
    },
    /// An ApplicationSet could not be generated.
    #[error("{location}: ApplicationSet {name}: {error}")]
    AppSet {
        /// Where the ApplicationSet is.
        location: Box<SourceLocation>,
        /// Its name.
        name: String,
        /// The generator error.
        #[source]
        error: Box<AppSetError>,
    },
    /// A claim or composite could not be rendered.
    #[error("{location}: rendering {what}: {error}")]
    Render {
        /// Where the claim is.
        location: Box<SourceLocation>,
        /// `Kind/name` of the claim.
        what: String,
        /// The composition error.
        #[source]
        error: Box<strata_composition::Error>,
    },
    /// A resource a claim or composite composed is not a valid Kubernetes object.
    #[error("{location}: rendering {what}: {error}")]
    Composed {
        /// Where the claim is.
        location: Box<SourceLocation>,
        /// `Kind/name` of the claim.
        what: String,
        /// What is wrong with the composed resource.
        #[source]
        error: strata_core::model::FieldError,
    },
    /// The tree's XRDs, Compositions or CRDs could not be read.
    #[error(transparent)]
    Catalog(#[from] strata_composition::catalog::CatalogError),
    /// An Application is malformed or uses a source Strata cannot expand.
    #[error("{location}: Application {name}: {message}")]
    Invalid {
        /// Where the Application is.
        location: String,
        /// Its name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// An Application's source path leaves the repository (or is absolute).
    #[error("{location}: Application {name}: {field}.path: {source}")]
    SourcePath {
        /// Where the Application is.
        location: String,
        /// Its name.
        name: String,
        /// The source's field (`spec.source`, `spec.sources[i]`).
        field: String,
        /// Why the path is refused.
        #[source]
        source: SourceError,
    },
    /// An Application's `repoURL` could not be resolved, fetched or read at its
    /// `targetRevision`.
    #[error("{location}: Application {name}: {error}")]
    Repository {
        /// Where the Application is.
        location: String,
        /// Its name.
        name: String,
        /// Why the repository is unavailable.
        #[source]
        error: Box<crate::repo::RepoError>,
    },
    /// An Application's Helm source could not be rendered.
    #[error("{location}: Application {name}: Helm source: {error}")]
    Helm {
        /// Where the Application is.
        location: String,
        /// Its name.
        name: String,
        /// The chart's error.
        #[source]
        error: Box<crate::helm::HelmError>,
    },
    /// Applications include each other.
    #[error("Application cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    /// Applications nest deeper than the limit.
    #[error("Applications nest deeper than {limit}: {}", .chain.join(" -> "))]
    TooDeep {
        /// The limit.
        limit: usize,
        /// The chain that exceeded it.
        chain: Vec<String>,
    },
    /// Two sets declare the same resource.
    #[error("{key} is declared twice: {first} and {second}")]
    Duplicate {
        /// The duplicated identity.
        key: Box<ResourceKey>,
        /// The first declaration.
        first: String,
        /// The second declaration.
        second: String,
    },
}

/// Renders one Application's own source, as ArgoCD's repo server renders it for the
/// application controller: `tree` is the repository at the Application's revision (every
/// `repoURL` of the Application is read from it unless [`ExpandOptions::repositories`] says
/// otherwise), `spec.source.path` is rendered (plain manifests, a Kustomize overlay, a Helm
/// chart, claims), and Applications or ApplicationSets found there are kept as resources to
/// apply (app of apps: the controller then reconciles them), not expanded.
///
/// The result holds one [`ChildSet`] (the Application) and its resources.
pub fn render_application(
    tree: Arc<dyn SourceTree>,
    app: &Value,
    location: SourceLocation,
    options: &ExpandOptions,
) -> Result<Expansion, ExpandError> {
    let catalog = Catalog::scan_tree(tree.as_ref())?;
    render_application_with(tree, app, location, options, catalog)
}

/// [`render_application`] with the XRDs and Compositions of `tree` already scanned
/// (`Catalog::scan_tree`): a controller rendering many Applications of one repository commit
/// scans it once.
pub fn render_application_with(
    tree: Arc<dyn SourceTree>,
    app: &Value,
    location: SourceLocation,
    options: &ExpandOptions,
    catalog: Catalog,
) -> Result<Expansion, ExpandError> {
    let mut expander =
        children::Expander::new(tree, options, catalog).keeping_nested_applications();
    expander.run_application(app.clone(), location)?;
    let (resources, applications) = expander.finish();
    refuse_duplicates(&resources)?;
    Ok(Expansion {
        resources,
        applications,
    })
}

/// Expands `dir` of `tree` into a desired set (see the module documentation).
pub fn expand(
    tree: Arc<dyn SourceTree>,
    dir: &str,
    options: &ExpandOptions,
) -> Result<Expansion, ExpandError> {
    let catalog = Catalog::scan_tree(tree.as_ref())?;
    let mut expander = children::Expander::new(tree, options, catalog);
    expander.run(dir)?;
    let (resources, applications) = expander.finish();
    refuse_duplicates(&resources)?;
    Ok(Expansion {
        resources,
        applications,
    })
}

/// Refuses a desired set holding one identity twice, naming both places. A hash map of
/// borrowed keys: this runs on every plan, over every resource.
fn refuse_duplicates(resources: &[Resource]) -> Result<(), ExpandError> {
    let mut seen: FxHashMap<&ResourceKey, Option<&SourceLocation>> =
        FxHashMap::with_capacity_and_hasher(resources.len(), Default::default());
    for r in resources {
        if let Some(first) = seen.insert(&r.key, r.source.as_ref()) {
            let show = |l: Option<&SourceLocation>| {
                l.map_or_else(|| "(generated)".to_string(), ToString::to_string)
            };
            return Err(ExpandError::Duplicate {
                key: Box::new(r.key.clone()),
                first: show(first),
                second: show(r.source.as_ref()),
            });
        }
    }
    Ok(())
}

/// Reads `path` of a manifest as a string.
pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    crate::kustomize::str_at(v, path)
}
