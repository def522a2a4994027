//! The expander: directories → resources, Applications → child sets, ApplicationSets →
//! Applications, claims → composed resources.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};
use strata_core::source::{EntryKind, SourceTree, is_manifest_file, join, normalize, parent};
use strata_core::{Resource, SourceLocation};

use super::{
    ChildSet, Destination, ExpandError, ExpandOptions, Repository, RepositoryTrees, SyncPolicy,
    str_at,
};
use crate::appset::{self, GeneratorContext};
use crate::kustomize::{self, KUSTOMIZATION_FILES};
use crate::repo::RepoSource;
use strata_composition::catalog::Catalog;
use strata_composition::render::RenderOptions;

/// Below this much YAML in one directory, its files are parsed on the calling thread.
const PARALLEL_PARSE_BYTES: usize = 256 * 1024;

const ARGO_GROUP: &str = "argoproj.io";

/// Whether `(group, kind)` is cluster-scoped: built in (see [`is_cluster_scoped`]) or declared
/// so by the catalog (composite kinds, CRDs with `scope: Cluster`).
fn is_cluster_kind(catalog: &Catalog, group: &str, kind: &str) -> bool {
    is_cluster_scoped(group, kind) || catalog.declares_cluster_scoped(group, kind)
}

/// Whether a kind is cluster-scoped without asking a cluster: Kubernetes' built-in
/// cluster-scoped kinds, Crossplane's own kinds, and managed resources of Crossplane providers
/// (groups under `upbound.io` and `crossplane.io`).
pub fn is_cluster_scoped(group: &str, kind: &str) -> bool {
    (group.is_empty() || group.ends_with(".k8s.io") || !group.contains('.'))
        && kustomize::is_cluster_scoped(kind)
        || group.ends_with("upbound.io")
        || group.ends_with("crossplane.io")
}

struct Pending {
    app: Value,
    location: SourceLocation,
    parent: Option<String>,
}

pub(crate) struct Expander<'o> {
    tree: Arc<dyn SourceTree>,
    options: &'o ExpandOptions,
    catalog: Catalog,
    resources: Vec<Resource>,
    applications: Vec<ChildSet>,
    /// Applications and ApplicationSets found in an Application's source are kept as its
    /// resources instead of being expanded (a controller applies them, as ArgoCD does).
    nested_as_resources: bool,
}

fn is_app(r: &Resource) -> bool {
    r.key.group == ARGO_GROUP && r.key.kind == "Application"
}

fn is_appset(r: &Resource) -> bool {
    r.key.group == ARGO_GROUP && r.key.kind == "ApplicationSet"
}

fn app_path(app: &Value) -> Option<String> {
    let p = app.pointer("/spec/source/path").and_then(Value::as_str)?;
    normalize(p).ok()
}

/// A non-empty string at `pointer`.
fn string_at(value: &Value, pointer: &str) -> Option<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

fn inside(file: &str, dir: &str) -> bool {
    dir.is_empty() || file == dir || file.starts_with(&format!("{dir}/"))
}

impl<'o> Expander<'o> {
    pub(crate) fn new(
        tree: Arc<dyn SourceTree>,
        options: &'o ExpandOptions,
        catalog: Catalog,
    ) -> Self {
        Self {
            tree,
            options,
            catalog,
            resources: Vec::new(),
            applications: Vec::new(),
            nested_as_resources: false,
        }
    }

    /// Keeps the Applications an Application's source holds as its resources.
    pub(crate) fn keeping_nested_applications(mut self) -> Self {
        self.nested_as_resources = true;
        self
    }

    /// Renders one Application (its own source only).
    pub(crate) fn run_application(
        &mut self,
        app: Value,
        location: SourceLocation,
    ) -> Result<(), ExpandError> {
        self.expand_app(
            Pending {
                app,
                location,
                parent: None,
            },
            &mut Vec::new(),
        )
    }

    pub(crate) fn finish(self) -> (Vec<Resource>, Vec<ChildSet>) {
        (self.resources, self.applications)
    }

    fn kustomize_err(&self, context: &str, error: kustomize::KustomizeError) -> ExpandError {
        ExpandError::Kustomize {
            context: context.to_string(),
            error: Box::new(error),
        }
    }

    /// Loads the manifests of a directory of the stack's tree.
    fn load_dir(
        &self,
        dir: &str,
        recurse: bool,
        context: &str,
    ) -> Result<Vec<Resource>, ExpandError> {
        self.load_dir_in(
            self.tree.as_ref(),
            self.options.repository.as_ref(),
            dir,
            recurse,
            context,
        )
    }

    /// The tree an Application's `repoURL` at `targetRevision` is read from, and the
    /// repository its Kustomize overlays are built in.
    fn source_tree(
        &self,
        repo_url: &str,
        revision: &str,
    ) -> Result<(Arc<dyn SourceTree>, Option<Repository>), crate::repo::RepoError> {
        let stack = || (self.tree.clone(), self.options.repository.clone());
        let Some(resolver) = &self.options.repositories else {
            return Ok(stack());
        };
        Ok(match resolver.resolve(repo_url, revision)? {
            RepoSource::Stack => stack(),
            RepoSource::Tree(tree) => (
                tree.clone(),
                Some(Repository {
                    tree,
                    prefix: String::new(),
                }),
            ),
        })
    }

    /// Loads the manifests of a directory of `tree`: a Kustomize build (in `repository` when
    /// given), or the manifest files (all below it when `recurse`).
    fn load_dir_in(
        &self,
        tree: &dyn SourceTree,
        repository: Option<&Repository>,
        dir: &str,
        recurse: bool,
        context: &str,
    ) -> Result<Vec<Resource>, ExpandError> {
        if kustomize::is_kustomization_dir(tree, dir) {
            // `helmCharts` pull through the chart repositories Helm sources use (the same
            // cache and per-repository settings).
            let options = kustomize::BuildOptions::new().with_charts(
                self.options
                    .repositories
                    .as_ref()
                    .and_then(|r| r.chart_repositories()),
            );
            // Built in the repository when there is one, so overlays reach their bases.
            let built = match repository {
                Some(repo) => {
                    let at = join(&repo.prefix, dir)?;
                    kustomize::build_with(repo.tree.as_ref(), &at, &options)
                }
                None => kustomize::build_with(tree, dir, &options),
            }
            .map_err(|source| self.kustomize_err(context, source))?;
            return built
                .into_iter()
                .map(|b| {
                    let location = b.source.clone();
                    b.into_resource().map_err(|error| {
                        ExpandError::Load(strata_core::loader::LoadError::Field {
                            location: Box::new(location),
                            error,
                        })
                    })
                })
                .collect();
        }
        let files = if recurse {
            tree.files_under(dir)?
        } else {
            tree.list(dir)?
                .into_iter()
                .filter(|e| e.kind == EntryKind::File)
                .map(|e| join(dir, &e.name))
                .collect::<Result<Vec<_>, _>>()?
        };
        let mut texts = Vec::new();
        // Whether the files of a directory lie in a chart, asked once per directory: the
        // answer depends on the directory alone, and a chart's directories hold many files.
        let mut in_chart: HashMap<String, bool> = HashMap::new();
        for file in files {
            let name = file.rsplit('/').next().unwrap_or(&file);
            // Kustomizations are read as such; a stack's configuration is not a manifest.
            if !is_manifest_file(&file)
                || KUSTOMIZATION_FILES.contains(&name)
                || name == strata_core::config::STACK_CONFIG_FILE
            {
                continue;
            }
            // A Helm chart's files are reached through the chart.
            if recurse {
                let inside = match in_chart.get(parent(&file)) {
                    Some(&inside) => inside,
                    None => {
                        let inside = crate::helm::chart::is_inside_chart(tree, dir, &file);
                        in_chart.insert(parent(&file).to_owned(), inside);
                        inside
                    }
                };
                if inside {
                    continue;
                }
            }
            // A kustomization's own files are reached through the kustomization.
            if recurse
                && kustomize::is_kustomization_dir(tree, parent(&file))
                && parent(&file) != dir
            {
                continue;
            }
            let text = tree.read_text_shared(&file)?;
            texts.push((file, text));
        }
        // Parsing is most of the cost of a large stack: files are parsed on every core once
        // there is enough text; the order of the result stays the files' order.
        let parsed = self.options.parsed.as_deref();
        let parsed = strata_core::par::map_if(
            texts,
            |texts| texts.iter().map(|(_, t)| t.len()).sum::<usize>() >= PARALLEL_PARSE_BYTES,
            |(file, text)| -> Result<Vec<Resource>, ExpandError> {
                let display = tree.location(&file, 0, 1).file;
                let mut resources =
                    strata_core::loader::parse_documents_with(&display, &text, parsed)?;
                for r in &mut resources {
                    if let Some(s) = &r.source {
                        r.source = Some(tree.location(&file, s.document, s.line));
                    }
                }
                Ok(resources)
            },
        );
        // Sized once: a large stack's set grown by doubling is copied into fresh memory
        // again and again.
        let total = parsed.iter().flatten().map(Vec::len).sum();
        let mut out = Vec::with_capacity(total);
        for resources in parsed {
            out.extend(resources?);
        }
        Ok(out)
    }

    /// Expands the stack directory.
    pub(crate) fn run(&mut self, dir: &str) -> Result<(), ExpandError> {
        let dir = normalize(dir)?;
        let shown = self.tree.origin().display_path(&dir).display().to_string();
        let loaded = self.load_dir(&dir, true, &shown)?;
        if !loaded.iter().any(|r| is_app(r) || is_appset(r)) {
            return self.add_plain(loaded, None, None);
        }
        // Roots: Applications and ApplicationSets not inside another Application's path.
        let app_paths: Vec<(String, String)> = loaded
            .iter()
            .filter(|r| is_app(r))
            .filter_map(|r| app_path(&r.manifest).map(|p| (r.key.name.to_string(), p)))
            .collect();
        let file_of = |r: &Resource| -> String {
            r.source
                .as_ref()
                .map(|s| self.tree_path_of(&s.file))
                .unwrap_or_default()
        };
        let mut roots = Vec::new();
        for r in loaded {
            if !(is_app(&r) || is_appset(&r)) {
                continue;
            }
            let file = file_of(&r);
            let covered = app_paths
                .iter()
                .any(|(name, p)| !(is_app(&r) && *name == r.key.name) && inside(&file, p));
            if !covered {
                roots.push(r);
            }
        }
        for r in roots {
            self.dispatch(r, &mut Vec::new())?;
        }
        Ok(())
    }

    /// Recovers a tree path from a displayed location (`repo@abc1234:path` or a disk path).
    fn tree_path_of(&self, shown: &std::path::Path) -> String {
        let shown = shown.to_string_lossy().replace('\\', "/");
        if let Some((_, p)) = shown
            .split_once(':')
            .filter(|_| self.tree.origin().commit.is_some())
        {
            return p.to_string();
        }
        let root = self.tree.origin().root.to_string_lossy().replace('\\', "/");
        shown
            .strip_prefix(&root)
            .map(|p| p.trim_start_matches('/').to_string())
            .unwrap_or(shown)
    }

    fn dispatch(&mut self, r: Resource, stack: &mut Vec<String>) -> Result<(), ExpandError> {
        let location = r
            .source
            .clone()
            .unwrap_or_else(|| self.tree.location("", 0, 1));
        let parent = stack.last().cloned();
        if is_appset(&r) {
            let apps = self.generate(&r.manifest, &location)?;
            if self.options.keep_applications {
                self.resources.push(r.clone());
            }
            for app in apps {
                self.expand_app(
                    Pending {
                        app,
                        location: location.clone(),
                        parent: parent.clone(),
                    },
                    stack,
                )?;
            }
            return Ok(());
        }
        if self.options.keep_applications {
            self.resources.push(r.clone());
        }
        self.expand_app(
            Pending {
                app: r.manifest,
                location,
                parent,
            },
            stack,
        )
    }

    fn generate(
        &self,
        appset_manifest: &Value,
        location: &SourceLocation,
    ) -> Result<Vec<Value>, ExpandError> {
        let trees: Arc<dyn appset::TreeResolver> = match &self.options.repositories {
            Some(resolver) => Arc::new(RepositoryTrees {
                stack: self.tree.clone(),
                resolver: resolver.clone(),
            }),
            None => Arc::new(appset::StaticTrees::new().with_fallback(self.tree.clone())),
        };
        let mut ctx = GeneratorContext::new()
            .with_clusters(self.options.clusters.clone())
            .with_trees(trees);
        ctx.namespace = Some(self.options.namespace.clone());
        appset::generate(appset_manifest, &ctx).map_err(|error| ExpandError::AppSet {
            location: Box::new(location.clone()),
            name: str_at(appset_manifest, &["metadata", "name"]).to_string(),
            error: Box::new(error),
        })
    }

    fn expand_app(&mut self, p: Pending, stack: &mut Vec<String>) -> Result<(), ExpandError> {
        let name = str_at(&p.app, &["metadata", "name"]).to_string();
        let invalid = |message: String| ExpandError::Invalid {
            location: p.location.to_string(),
            name: name.clone(),
            message,
        };
        if stack.contains(&name) {
            let mut chain = stack.clone();
            chain.push(name);
            return Err(ExpandError::Cycle(chain));
        }
        if stack.len() >= self.options.max_depth {
            let mut chain = stack.clone();
            chain.push(name);
            return Err(ExpandError::TooDeep {
                limit: self.options.max_depth,
                chain,
            });
        }
        let spec = p.app.get("spec").cloned().unwrap_or(Value::Null);
        // ArgoCD reads `sources` only when there is no `source`.
        let sources: Vec<Value> = match (spec.get("source"), spec.get("sources")) {
            (Some(s), _) if !s.is_null() => vec![s.clone()],
            (_, Some(Value::Array(list))) if !list.is_empty() => list.clone(),
            (_, Some(_)) => return Err(invalid("spec.sources is empty".into())),
            _ => return Err(invalid("no spec.source".into())),
        };
        let multi = spec.get("source").is_none_or(Value::is_null);
        let namespace = spec
            .pointer("/destination/namespace")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from);
        // Sources with a `ref` name a repository at a revision for `$ref/...` value files.
        let mut refs = crate::helm::application::Refs::new();
        if multi {
            for (i, source) in sources.iter().enumerate() {
                let Some(r) = source.get("ref") else { continue };
                let r = r
                    .as_str()
                    .filter(|r| !r.is_empty() && !r.contains('/'))
                    .ok_or_else(|| {
                        invalid(format!("spec.sources[{i}].ref must be a name, got {r}"))
                    })?;
                let lent = if source
                    .get("chart")
                    .and_then(Value::as_str)
                    .is_some_and(|c| !c.is_empty())
                {
                    // A chart source with a `ref` is rendered, and lends no files.
                    crate::helm::application::RefSource::Chart {
                        field: format!("spec.sources[{i}].chart"),
                    }
                } else {
                    let (tree, _) = self
                        .source_tree(
                            str_at(source, &["repoURL"]),
                            str_at(source, &["targetRevision"]),
                        )
                        .map_err(|error| ExpandError::Repository {
                            location: p.location.to_string(),
                            name: name.clone(),
                            error: Box::new(error),
                        })?;
                    crate::helm::application::RefSource::Tree(tree)
                };
                if refs.insert(r.to_string(), lent).is_some() {
                    return Err(invalid(format!("spec.sources: ref {r} is given twice")));
                }
            }
        }
        let sync = SyncPolicy::of(&p.app);
        let mut loaded = Vec::new();
        let mut first: Option<(String, Option<String>)> = None;
        for (i, source) in sources.iter().enumerate() {
            let field = if multi {
                format!("spec.sources[{i}]")
            } else {
                "spec.source".to_string()
            };
            // A source that only holds values for the others is not rendered (one with a
            // `chart` is, as in ArgoCD).
            if multi
                && source.get("ref").is_some()
                && source.get("path").is_none()
                && source.get("chart").is_none()
            {
                continue;
            }
            let path = self.load_app_source(
                source,
                &field,
                &name,
                namespace.as_deref(),
                &refs,
                &p.location,
                &mut loaded,
            )?;
            if first.is_none() {
                let revision = source
                    .get("targetRevision")
                    .and_then(Value::as_str)
                    .map(String::from);
                first = Some((path, revision));
            }
        }
        let (path, target_revision) =
            first.ok_or_else(|| invalid("spec.sources: no source to render (only refs)".into()))?;
        let index = self.applications.len();
        self.applications.push(ChildSet {
            name: name.clone(),
            parent: p.parent.clone(),
            source: Some(p.location.clone()),
            path: path.clone(),
            target_revision,
            namespace: namespace.clone(),
            destination: Destination {
                server: string_at(&spec, "/destination/server"),
                name: string_at(&spec, "/destination/name"),
            },
            sync: sync.clone(),
            resources: Vec::new(),
        });
        stack.push(name.clone());
        let mut nested = Vec::new();
        let mut plain = Vec::new();
        for r in loaded {
            if is_app(&r) && r.key.name == name {
                // The Application manages its own manifest (self-managed root): not a child.
                continue;
            }
            if is_app(&r) || is_appset(&r) {
                nested.push(r);
            } else {
                plain.push(r);
            }
        }
        let start = self.resources.len();
        if self.nested_as_resources {
            plain.append(&mut nested);
        }
        self.add_plain(plain, namespace.as_deref(), Some(&p.location))?;
        if sync.create_namespace
            && let Some(ns) = &namespace
            && !self
                .resources
                .iter()
                .any(|r| r.key.kind == "Namespace" && r.key.group.is_empty() && r.key.name == *ns)
        {
            let mut r = Resource::from_manifest(json!({
                "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}
            }))
            .map_err(|error| {
                ExpandError::Load(strata_core::loader::LoadError::Field {
                    location: Box::new(p.location.clone()),
                    error,
                })
            })?;
            r.source = Some(p.location.clone());
            self.resources.push(r);
        }
        let keys = self.resources[start..]
            .iter()
            .map(|r| r.key.clone())
            .collect();
        self.applications[index].resources = keys;
        for r in nested {
            self.dispatch(r, stack)?;
        }
        stack.pop();
        Ok(())
    }

    /// Renders one source of the Application `name` (`field` names it: `spec.source` or
    /// `spec.sources[i]`) into `out`; returns its path.
    #[allow(clippy::too_many_arguments)]
    fn load_app_source(
        &self,
        source: &Value,
        field: &str,
        name: &str,
        namespace: Option<&str>,
        refs: &crate::helm::application::Refs,
        location: &SourceLocation,
        out: &mut Vec<Resource>,
    ) -> Result<String, ExpandError> {
        let invalid = |message: String| ExpandError::Invalid {
            location: location.to_string(),
            name: name.to_string(),
            message,
        };
        for unsupported in ["plugin", "kustomize"] {
            if source.get(unsupported).is_some() {
                return Err(invalid(format!(
                    "{field}.{unsupported} is not supported (Strata expands plain directories, Kustomize overlays, Helm charts and claims)"
                )));
            }
        }
        let oci = crate::helm::application::is_oci_artifact(source);
        if oci || source.get("chart").is_some() {
            let written = source.get("chart").and_then(Value::as_str);
            let repo_url = str_at(source, &["repoURL"]);
            let (_, chart) = crate::helm::application::chart_location(repo_url, written);
            let chart = chart.as_str();
            if oci {
                // ArgoCD 3 pulls the artifact repoURL names and reads `path` inside it; Strata
                // renders artifacts that are Helm charts, whose path is the chart itself.
                if chart.is_empty() {
                    return Err(invalid(format!(
                        "{field}.repoURL {}: an oci:// repoURL names a repository of the registry (oci://host/path)",
                        crate::repo::redact(repo_url)
                    )));
                }
                let path = source.get("path").and_then(Value::as_str).unwrap_or("");
                if !matches!(path, "" | "." | "./") {
                    return Err(invalid(format!(
                        "{field}.path {path}: a path inside an OCI artifact is not supported (Strata renders oci:// artifacts that are Helm charts, whose path is `.`)"
                    )));
                }
            }
            let helm_error = |error| ExpandError::Helm {
                location: location.to_string(),
                name: name.to_string(),
                error: Box::new(error),
            };
            let charts = self
                .options
                .repositories
                .as_ref()
                .and_then(|r| r.chart_repositories())
                .ok_or_else(|| {
                    invalid(format!(
                        "{field}.chart {chart}: charts from Helm repositories and OCI registries need a repository cache to download into"
                    ))
                })?;
            let loaded = crate::helm::application::render_repository_source(
                &charts, source, name, namespace, refs,
            )
            .map_err(helm_error)?;
            out.extend(loaded.into_iter().filter(synced_by_argocd));
            return Ok(chart.to_string());
        }
        let directory = source.get("directory").cloned().unwrap_or(Value::Null);
        if let Some(d) = directory.as_object() {
            for k in d.keys() {
                if k != "recurse" {
                    return Err(invalid(format!("{field}.directory.{k} is not supported")));
                }
            }
        }
        let recurse = directory
            .get("recurse")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let raw_path = source
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("{field}.path is required")))?;
        let path = normalize(raw_path).map_err(|source| ExpandError::SourcePath {
            location: location.to_string(),
            name: name.to_string(),
            field: field.to_string(),
            source,
        })?;
        let repo_url = str_at(source, &["repoURL"]);
        let revision = str_at(source, &["targetRevision"]);
        let (tree, repository) =
            self.source_tree(repo_url, revision)
                .map_err(|error| ExpandError::Repository {
                    location: location.to_string(),
                    name: name.to_string(),
                    error: Box::new(error),
                })?;
        if tree.kind(&path) != Some(EntryKind::Dir) {
            return Err(invalid(format!(
                "{field}.path {raw_path}: no such directory in {}",
                tree.origin()
            )));
        }
        let context = format!("Application {name} ({location})");
        let loaded = if crate::helm::application::is_helm_source(tree.as_ref(), &path, source) {
            crate::helm::application::render_source(
                tree.as_ref(),
                &path,
                source,
                name,
                namespace,
                refs,
            )
            .map_err(|error| ExpandError::Helm {
                location: location.to_string(),
                name: name.to_string(),
                error: Box::new(error),
            })?
        } else {
            self.load_dir_in(tree.as_ref(), repository.as_ref(), &path, recurse, &context)?
        };
        out.extend(loaded.into_iter().filter(synced_by_argocd));
        Ok(path)
    }

    /// Adds plain resources: claims and composites are rendered, namespaced resources without
    /// a namespace get the destination namespace.
    fn add_plain(
        &mut self,
        resources: Vec<Resource>,
        namespace: Option<&str>,
        _app: Option<&SourceLocation>,
    ) -> Result<(), ExpandError> {
        // Room for them all at once: a large stack's set grown by doubling is copied again
        // and again into fresh memory.
        self.resources.reserve(resources.len());
        for r in resources {
            if let Some(rendered) = self.render_claim(&r)? {
                self.resources.extend(rendered);
                continue;
            }
            let mut r = r;
            if let Some(ns) = namespace
                && r.key.namespace.is_none()
                && !is_cluster_kind(&self.catalog, &r.key.group, &r.key.kind)
            {
                r.manifest["metadata"]["namespace"] = Value::String(ns.to_string());
                let source = r.source.take();
                r = Resource::from_manifest(r.manifest).map_err(|error| {
                    ExpandError::Load(strata_core::loader::LoadError::Field {
                        location: Box::new(
                            source
                                .clone()
                                .unwrap_or_else(|| self.tree.location("", 0, 1)),
                        ),
                        error,
                    })
                })?;
                r.source = source;
            }
            self.resources.push(r);
        }
        Ok(())
    }

    fn render_claim(&self, r: &Resource) -> Result<Option<Vec<Resource>>, ExpandError> {
        if !self.catalog.is_claim_or_composite(r) {
            return Ok(None);
        }
        let location = r
            .source
            .clone()
            .unwrap_or_else(|| self.tree.location("", 0, 1));
        let what = format!("{}/{}", r.key.kind, r.key.name);
        let out = strata_composition::engine::render_object(
            &r.manifest,
            &self.catalog.xrds,
            &self.catalog.compositions,
            &self.catalog.render_request(),
            RenderOptions::default(),
        )
        .map_err(|error| ExpandError::Render {
            location: Box::new(location.clone()),
            what: what.clone(),
            error: Box::new(error),
        })?;
        let mut rendered = Vec::new();
        for composed in out.composed {
            let mut res =
                Resource::from_manifest(composed).map_err(|error| ExpandError::Composed {
                    location: Box::new(location.clone()),
                    what: what.clone(),
                    error,
                })?;
            res.source = Some(location.clone());
            rendered.push(res);
        }
        Ok(Some(rendered))
    }
}

/// Whether ArgoCD's sync ever applies the object: a hook without a phase ArgoCD runs (Helm's
/// `test`/`test-success` hooks, Helm's delete and rollback hooks, an unknown Argo hook type)
/// is neither applied nor part of the Application's resources, so it is left out of the
/// desired set (and of plans and graphs).
fn synced_by_argocd(r: &Resource) -> bool {
    !(strata_core::sync::hooks::is_hook(&r.manifest)
        && strata_core::sync::hooks::sync_phases(&r.manifest).is_empty())
}
