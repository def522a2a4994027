//! Kustomize overlays: the subset of `kustomize build` that platform repositories use, over a
//! [`SourceTree`].
//!
//! Supported `kustomization.yaml` fields:
//!
//! * `resources` (and the deprecated `bases`): files (every YAML document is a resource) and
//!   directories holding a kustomization, built recursively; remote URLs are refused;
//! * `patches` (inline `patch:` or `path:`, optional `target` with group, version, kind, name
//!   (a regular expression), namespace, labelSelector and annotationSelector), and the
//!   deprecated `patchesStrategicMerge` / `patchesJson6902`. A patch that is a YAML list is a
//!   JSON 6902 patch (add, remove, replace, move, copy, test); any other patch is a
//!   strategic-merge patch, see [`merge_patch`]: lists merge by key only where a built-in
//!   kind's schema says so, lists of custom resources are replaced, `$patch` directives are
//!   honoured;
//! * `images` (`name`, `newName`, `newTag`, `digest`) on every `containers` / `initContainers`
//!   image;
//! * `namePrefix` / `nameSuffix`, `namespace`, `commonLabels`, `labels` (`pairs`,
//!   `includeSelectors`, `includeTemplates`), `commonAnnotations`;
//! * `configMapGenerator` / `secretGenerator` (`literals`, `files`, `envs`, `type`, `options`)
//!   (`behavior: create|merge|replace`) and `generatorOptions`, with kustomize's content-hash
//!   name suffix (Secret data in base64 wrapped at 70 columns, as kustomize writes and hashes
//!   it); references to generated (and prefixed) ConfigMaps and Secrets in pod templates
//!   follow the new names;
//! * `vars`, substituted for `$(NAME)` in kustomize's default `varReference` fields;
//! * `components` (kustomizations of kind `Component`, applied to the including
//!   kustomization's resources before its own generators and transformers) and `replicas`;
//! * `replacements` (inline and `path:` files);
//! * name references to renamed objects, fixed once at the end of the build in the fields of
//!   kustomize's default `nameReference` configuration;
//! * `sortOptions` (legacy, with custom kind lists, or fifo) and `buildMetadata:
//!   [managedByLabel]`, read from the top kustomization as kustomize reads them;
//! * `generators` / `transformers` files holding builtin `ConfigMapGenerator`,
//!   `SecretGenerator`, `PatchTransformer` and `ImageTagTransformer` configurations;
//! * `helmCharts` and `helmGlobals` (as `kustomize build --enable-helm`), rendered by
//!   [`crate::helm`] from charts on disk under the chart home, or pulled from the entry's
//!   `repo` (a Helm repository or an OCI registry) into the chart cache of
//!   [`BuildOptions::charts`] where kustomize would pull them ([`build_with`]; see
//!   `helm_charts.rs`).
//!
//! Resources may leave out `apiVersion`, as kustomize allows. Remote bases are refused
//! ([`KustomizeError::RemoteBase`]), as is a cycle of kustomizations.
//!
//! Field names match case-insensitively, as Go's JSON decoding matches them.
//!
//! Any other field is an error naming it ([`KustomizeError::Unsupported`]), never skipped.
//!
//! ```
//! use strata_sources::kustomize::build;
//! use strata_core::source::MemoryTree;
//!
//! let tree = MemoryTree::new()
//!     .with_file("base/kustomization.yaml", "resources: [cm.yaml]\n")
//!     .with_file("base/cm.yaml",
//!         "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  a: '1'\n")
//!     .with_file("prod/kustomization.yaml",
//!         "resources: [../base]\nnamespace: prod\nnamePrefix: prod-\n");
//! let out = build(&tree, "prod").unwrap();
//! assert_eq!(out[0].manifest["metadata"]["name"], "prod-web");
//! assert_eq!(out[0].manifest["metadata"]["namespace"], "prod");
//! //! ```

mod edit;
mod generator;
mod helm_charts;
mod image;
mod nameref;
mod patch;
mod replacement;
mod schema;
mod smp;
mod transform;
mod vars;

use std::collections::HashSet;

use serde_json::{Map, Value};
use strata_core::source::{EntryKind, SourceError, SourceTree, join, normalize};
use strata_core::{Resource, SourceLocation};

pub use edit::{EditError, SetImage, set_image};
pub use generator::{encode_base64, hash_suffix, name_hash};
pub use image::ImageRef;
pub use patch::{PatchError, apply_json6902};
pub use replacement::PathError as ReplacementPathError;
pub use smp::{Merged, merge_patch};
pub use transform::{CLUSTER_SCOPED_KINDS, is_cluster_scoped};

/// The file names kustomize looks for in a directory, in order.
pub const KUSTOMIZATION_FILES: &[&str] =
    &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The fields of a kustomization Strata understands.
const SUPPORTED_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "resources",
    "bases",
    "patches",
    "patchesStrategicMerge",
    "patchesJson6902",
    "images",
    "namePrefix",
    "nameSuffix",
    "namespace",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "vars",
    "components",
    "replicas",
    "replacements",
    "sortOptions",
    "buildMetadata",
    "generators",
    "transformers",
    "helmCharts",
    "helmGlobals",
];

/// The label value `buildMetadata: [managedByLabel]` writes, as `kubectl kustomize` (kubectl
/// v1.32, kustomize v5.5.0 built in) writes it.
pub const MANAGED_BY_VALUE: &str = "kustomize-(devel)";

/// Why a kustomization could not be built. Files are shown as the tree shows them (the path
/// on disk, or `repo@commit:path`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KustomizeError {
    /// A field outside the supported subset.
    #[error("{file}: unsupported kustomization field `{field}` (Strata supports: {})", SUPPORTED_FIELDS.join(", "))]
    Unsupported {
        /// The kustomization file.
        file: String,
        /// The field (dotted path for nested options).
        field: String,
    },
    /// The directory has no kustomization file.
    #[error("{0}: no kustomization.yaml, kustomization.yml or Kustomization")]
    NoKustomization(String),
    /// Reading the tree failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A file is not valid YAML or a field has the wrong shape.
    #[error("{file}: {message}")]
    Invalid {
        /// The file at fault.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A kustomization is not valid YAML, or was refused by the YAML limits (an alias bomb,
    /// nesting too deep, an alias cycle).
    #[error("{file}: {source}")]
    Yaml {
        /// The file at fault.
        file: String,
        /// What is wrong.
        #[source]
        source: strata_core::yaml::YamlError,
    },
    /// A document of a patch is not valid YAML, or was refused by the YAML limits.
    #[error("{file}: {source}")]
    PatchYaml {
        /// The file holding the patch (the kustomization, for an inline patch).
        file: String,
        /// The document and what is wrong with it.
        #[source]
        source: strata_core::yaml::DocumentError,
    },
    /// A document of a builtin plugin configuration file (`transformers`, `generators`) is
    /// not valid YAML, or was refused by the YAML limits.
    #[error("{file}: {source}")]
    ConfigYaml {
        /// The configuration file.
        file: String,
        /// The document and what is wrong with it.
        #[source]
        source: strata_core::yaml::DocumentError,
    },
    /// A resource file could not be parsed into YAML documents.
    #[error("{file}: {source}")]
    Load {
        /// The resource file.
        file: String,
        /// The loader's error.
        #[source]
        source: strata_core::loader::LoadError,
    },
    /// A document of a resource file is not a Kubernetes object (no `kind`, no name…).
    #[error("{file}: document {} (line {line}): {source}", .document + 1)]
    Document {
        /// The resource file.
        file: String,
        /// The document's index in the file (0-based).
        document: usize,
        /// The line the document starts on.
        line: usize,
        /// What is wrong with it.
        #[source]
        source: strata_core::model::FieldError,
    },
    /// An inline value could not be turned into JSON text.
    #[error("{file}: {source}")]
    Json {
        /// The kustomization holding it.
        file: String,
        /// The serialisation error.
        #[source]
        source: serde_json::Error,
    },
    /// A replacement's source field path cannot be read.
    #[error("{file}: replacement: source {field_path}: {source}")]
    ReplacementSource {
        /// The kustomization (or replacement file) holding the replacement.
        file: String,
        /// The source's `fieldPath`.
        field_path: String,
        /// Why it cannot be read.
        #[source]
        source: ReplacementPathError,
    },
    /// A replacement's target field path cannot be read or written.
    #[error("{file}: replacement: target field {field_path:?}: {source}")]
    ReplacementTarget {
        /// The kustomization (or replacement file) holding the replacement.
        file: String,
        /// The target's field path.
        field_path: String,
        /// Why it cannot be written.
        #[source]
        source: ReplacementPathError,
    },
    /// Two resources with the same identity.
    #[error("{file}: may not add resource with an already registered id: {id}")]
    Duplicate {
        /// The kustomization that added the second one.
        file: String,
        /// `group/kind/namespace/name` of the resource.
        id: String,
    },
    /// A patch failed to apply.
    #[error("{file}: patch {index}: {error}")]
    Patch {
        /// The kustomization file.
        file: String,
        /// Index of the patch in its list.
        index: usize,
        /// Why it failed.
        #[source]
        error: PatchError,
    },
    /// A path leaves the source tree (the repository), or cannot be read.
    #[error("{file}: {field}: {source}")]
    Path {
        /// The kustomization naming it.
        file: String,
        /// The field naming it.
        field: String,
        /// Why it cannot be read.
        #[source]
        source: SourceError,
    },
    /// A file outside the kustomization's directory, which kustomize's default load
    /// restrictor refuses.
    #[error(
        "{file}: {field}: {path} is not in or below the kustomization's directory (kustomize's load restrictor allows only directories outside it)"
    )]
    OutsideRoot {
        /// The kustomization naming it.
        file: String,
        /// The field naming it.
        field: String,
        /// The path as written.
        path: String,
    },
    /// A remote base (`https://…`, `git@…`, `github.com/…`): not supported yet.
    #[error(
        "{file}: {field}: {url}: remote bases are not supported yet (only directories and files of the same repository)"
    )]
    RemoteBase {
        /// The kustomization naming it.
        file: String,
        /// `resources`, `bases` or `components`.
        field: String,
        /// The URL as written.
        url: String,
    },
    /// A kustomization includes itself through `resources`.
    #[error("kustomization cycle: {0}")]
    Cycle(String),
    /// A `helmCharts` chart is not in the chart home and its entry names no `repo` to pull it
    /// from (kustomize: "no repo specified for pull, no chart found").
    #[error("{file}: {entry}: chart {chart} not found at {path} and no repo to pull it from")]
    ChartNotFound {
        /// The kustomization.
        file: String,
        /// The entry (`helmCharts[0]`).
        entry: String,
        /// The chart's name.
        chart: String,
        /// Where it was looked for.
        path: String,
    },
    /// A `helmCharts` chart to pull (not in the chart home, `repo` given), but the build has
    /// no chart cache to pull it into ([`BuildOptions::charts`]).
    #[error(
        "{file}: {pull}: not found at {path}, and this render has no chart cache to pull it into (charts from Helm repositories and OCI registries need a repository cache)",
        path = pull.path
    )]
    NoChartCache {
        /// The kustomization.
        file: String,
        /// The entry and the chart it names.
        pull: Box<ChartToPull>,
    },
    /// A `helmCharts` chart could not be pulled from its `repo` (no such chart or version, the
    /// repository unreachable, a digest mismatch, no HTTP client in this build...).
    #[error("{file}: {pull}: {error}")]
    ChartPull {
        /// The kustomization.
        file: String,
        /// The entry and the chart it names.
        pull: Box<ChartToPull>,
        /// Why.
        #[source]
        error: Box<crate::helm::repository::ChartRepoError>,
    },
    /// A `helmCharts` entry's `nameTemplate` could not be rendered (as `helm template
    /// --name-template` renders it: Sprig functions, no data).
    #[error("{file}: {entry}.nameTemplate: {error}")]
    NameTemplate {
        /// The kustomization.
        file: String,
        /// The entry (`helmCharts[0]`).
        entry: String,
        /// The template's error.
        #[source]
        error: Box<strata_gotemplate::TemplateError>,
    },
    /// A `helmCharts` chart could not be rendered.
    #[error("{file}: helmCharts: chart {chart}: {error}")]
    Helm {
        /// The kustomization.
        file: String,
        /// The chart's name.
        chart: String,
        /// The renderer's error.
        #[source]
        error: Box<crate::helm::HelmError>,
    },
}

impl KustomizeError {
    /// The error with its files shown as `tree` displays them.
    fn shown(mut self, tree: &dyn SourceTree) -> Self {
        let show = |f: &mut String| *f = tree.origin().display_path(f).display().to_string();
        match &mut self {
            Self::Unsupported { file, .. }
            | Self::Invalid { file, .. }
            | Self::Yaml { file, .. }
            | Self::PatchYaml { file, .. }
            | Self::Load { file, .. }
            | Self::ConfigYaml { file, .. }
            | Self::Document { file, .. }
            | Self::Json { file, .. }
            | Self::ReplacementSource { file, .. }
            | Self::ReplacementTarget { file, .. }
            | Self::Duplicate { file, .. }
            | Self::Patch { file, .. }
            | Self::Path { file, .. }
            | Self::OutsideRoot { file, .. }
            | Self::RemoteBase { file, .. }
            | Self::ChartNotFound { file, .. }
            | Self::NoChartCache { file, .. }
            | Self::ChartPull { file, .. }
            | Self::NameTemplate { file, .. }
            | Self::Helm { file, .. }
            | Self::NoKustomization(file) => show(file),
            Self::Source(_) | Self::Cycle(_) => {}
        }
        self
    }
}

/// A `helmCharts` entry whose chart kustomize would pull: not in the chart home, `repo` given.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChartToPull {
    /// The entry (`helmCharts[0]`).
    pub entry: String,
    /// The chart's name.
    pub chart: String,
    /// The version asked for (empty: the latest release).
    pub version: String,
    /// The `repo`, redacted.
    pub repo: String,
    /// Where kustomize looks for the chart (and would pull it to).
    pub path: String,
}

impl std::fmt::Display for ChartToPull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let version = if self.version.is_empty() {
            "(latest)"
        } else {
            &self.version
        };
        write!(
            f,
            "{}: chart {} {version} from {}",
            self.entry, self.chart, self.repo
        )
    }
}

/// One resource produced by a build, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    /// The manifest.
    pub manifest: Value,
    /// The document it came from (for generated objects, the kustomization that generated it).
    pub source: SourceLocation,
}

impl Built {
    /// Converts to a core [`Resource`] (fails when the manifest has no name or kind).
    pub fn into_resource(self) -> Result<Resource, strata_core::model::FieldError> {
        let mut r = Resource::from_manifest(self.manifest)?;
        r.source = Some(self.source);
        Ok(r)
    }
}

/// An intermediate resource during a build.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub manifest: Value,
    pub source: SourceLocation,
    /// Generated ConfigMap/Secret that still needs its hash suffix.
    pub needs_hash: bool,
    /// Kind and name before any rename at any level (used to rewrite references).
    pub original_name: String,
    /// Every identity the resource had before a transformer renamed it (or moved it to
    /// another namespace), oldest first: kustomize's previous ids, which name references
    /// and replacements match.
    pub prev: Vec<PrevId>,
    /// Name prefixes added to it, innermost kustomization first.
    pub prefixes: Vec<String>,
    /// Name suffixes added to it, innermost kustomization first.
    pub suffixes: Vec<String>,
}

/// One previous identity of a resource (its group and version are the current ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PrevId {
    pub kind: String,
    pub name: String,
    /// The effective namespace (`default` for none, `~X` for cluster-scoped kinds).
    pub namespace: String,
}

/// kustomize's marker for "no namespace": the effective namespace of cluster-scoped kinds.
pub(crate) const NOT_A_NAMESPACE: &str = "~X";

/// The namespace kustomize compares: `~X` for cluster-scoped kinds, `default` for none.
pub(crate) fn effective_namespace(kind: &str, namespace: &str) -> String {
    if is_cluster_scoped(kind) {
        NOT_A_NAMESPACE.to_string()
    } else if namespace.is_empty() {
        "default".to_string()
    } else {
        namespace.to_string()
    }
}

/// The group and version of an apiVersion (`apps/v1` → `apps`, `v1`; `v1` → ``, `v1`).
pub(crate) fn group_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

impl Item {
    /// A resource as read or generated, with no history.
    pub(crate) fn new(manifest: Value, source: SourceLocation, needs_hash: bool) -> Self {
        let original_name = str_at(&manifest, &["metadata", "name"]).to_string();
        Item {
            manifest,
            source,
            needs_hash,
            original_name,
            prev: Vec::new(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
        }
    }

    /// Records the current identity as a previous one (before a rename).
    pub(crate) fn store_previous_id(&mut self) {
        let kind = str_at(&self.manifest, &["kind"]).to_string();
        let namespace =
            effective_namespace(&kind, str_at(&self.manifest, &["metadata", "namespace"]));
        self.prev.push(PrevId {
            name: str_at(&self.manifest, &["metadata", "name"]).to_string(),
            kind,
            namespace,
        });
    }

    /// The current identity followed by every previous one: (kind, name, effective
    /// namespace).
    pub(crate) fn ids(&self) -> Vec<PrevId> {
        let kind = str_at(&self.manifest, &["kind"]).to_string();
        let mut out = vec![PrevId {
            name: str_at(&self.manifest, &["metadata", "name"]).to_string(),
            namespace: effective_namespace(
                &kind,
                str_at(&self.manifest, &["metadata", "namespace"]),
            ),
            kind,
        }];
        out.extend(self.prev.iter().cloned());
        out
    }

    /// The kind the resource had first.
    pub(crate) fn original_kind(&self) -> &str {
        self.prev
            .first()
            .map_or_else(|| str_at(&self.manifest, &["kind"]), |p| p.kind.as_str())
    }

    fn id(&self) -> String {
        let m = &self.manifest;
        let api = m.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let group = strata_core::model::group_of(api);
        format!(
            "{group}/{}/{}/{}",
            str_at(m, &["kind"]),
            str_at(m, &["metadata", "namespace"]),
            str_at(m, &["metadata", "name"])
        )
    }
}

/// The string at a path of a manifest (`""` when absent or not a string).
pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(n) => cur = n,
            None => return "",
        }
    }
    cur.as_str().unwrap_or("")
}

/// Whether `dir` of `tree` holds a kustomization file.
pub fn is_kustomization_dir(tree: &dyn SourceTree, dir: &str) -> bool {
    kustomization_file(tree, dir).is_some()
}

fn kustomization_file(tree: &dyn SourceTree, dir: &str) -> Option<String> {
    KUSTOMIZATION_FILES.iter().find_map(|f| {
        let p = join(dir, f).ok()?;
        (tree.kind(&p) == Some(EntryKind::File)).then_some(p)
    })
}

/// What a build may use beyond the tree: where `helmCharts` charts are pulled from and
/// cached.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct BuildOptions {
    /// Pulls the `helmCharts` charts kustomize would pull (an entry with `repo` whose chart is
    /// not in the chart home) into its cache, with its settings per repository (credentials,
    /// TLS, plain HTTP for OCI registries), as Applications' charts from Helm repositories
    /// are fetched. Without it such an entry is an error naming it
    /// ([`KustomizeError::NoChartCache`]).
    ///
    /// Pulled charts go to this cache, never into the chart home as `kustomize build
    /// --enable-helm` puts them: a render reads the checkout and must not modify it (a
    /// GitOps render would otherwise leave the working tree dirty, or fail on a read-only
    /// one, and the next render would use the stale copy instead of the pinned version).
    pub charts: Option<crate::helm::repository::ChartRepositories>,
}

impl BuildOptions {
    /// No chart repositories: charts must be in the chart home.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`charts`](Self::charts).
    pub fn with_charts(
        mut self,
        charts: Option<crate::helm::repository::ChartRepositories>,
    ) -> Self {
        self.charts = charts;
        self
    }
}

/// Builds the kustomization in `dir` of `tree`, as `kustomize build` does for the supported
/// subset. Resources come out in kustomize's legacy order (by kind, then identity).
/// `helmCharts` charts must be in the chart home ([`build_with`] pulls them).
pub fn build(tree: &dyn SourceTree, dir: &str) -> Result<Vec<Built>, KustomizeError> {
    build_with(tree, dir, &BuildOptions::default())
}

/// [`build`] with `options`: `helmCharts` charts kustomize would pull are fetched through
/// [`BuildOptions::charts`].
pub fn build_with(
    tree: &dyn SourceTree,
    dir: &str,
    options: &BuildOptions,
) -> Result<Vec<Built>, KustomizeError> {
    let dir = normalize(dir)?;
    let mut stack = Vec::new();
    let mut vars = Vec::new();
    let mut items =
        build_level(tree, &dir, &mut stack, &mut vars, None, options).map_err(|e| e.shown(tree))?;
    generator::finish_hashes(&mut items);
    let top = kustomization_file(tree, &dir).unwrap_or_else(|| dir.clone());
    nameref::fix(&mut items, &top).map_err(|e| e.shown(tree))?;
    vars::resolve(&mut items, &vars).map_err(|e| e.shown(tree))?;
    let (order, managed_by) = top_options(tree, &top).map_err(|e| e.shown(tree))?;
    if managed_by {
        let label = [(
            "app.kubernetes.io/managed-by".to_string(),
            MANAGED_BY_VALUE.to_string(),
        )];
        transform::add_labels(&mut items, &label, false, false);
    }
    match order {
        transform::Order::Fifo => {}
        transform::Order::Legacy { first, last } => {
            transform::sort_legacy(&mut items, &first, &last)
        }
    }
    Ok(items
        .into_iter()
        .map(|i| Built {
            manifest: i.manifest,
            source: i.source,
        })
        .collect())
}

/// The top kustomization's `sortOptions` and whether it asks for the managed-by label
/// (kustomize reads both from the top kustomization only).
fn top_options(
    tree: &dyn SourceTree,
    file: &str,
) -> Result<(transform::Order, bool), KustomizeError> {
    let k = parse_yaml(file, &tree.read_to_string(file)?)?;
    let get = |name: &str| {
        k.as_object().and_then(|m| {
            m.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
    };
    let managed_by = get("buildMetadata")
        .and_then(Value::as_array)
        .is_some_and(|l| l.iter().any(|v| v.as_str() == Some("managedByLabel")));
    let order = match get("sortOptions") {
        None | Some(Value::Null) => transform::Order::default(),
        Some(Value::Object(o)) => {
            check_fields(o, &["order", "legacySortOptions"], file, "sortOptions")?;
            let legacy = match o.get("legacySortOptions") {
                None | Some(Value::Null) => None,
                Some(Value::Object(l)) => {
                    check_fields(
                        l,
                        &["orderFirst", "orderLast"],
                        file,
                        "sortOptions.legacySortOptions",
                    )?;
                    Some((
                        string_list(l, "orderFirst", file)?,
                        string_list(l, "orderLast", file)?,
                    ))
                }
                Some(_) => {
                    return Err(invalid(
                        file,
                        "sortOptions.legacySortOptions must be a mapping",
                    ));
                }
            };
            match (o.get("order").and_then(Value::as_str), legacy) {
                (Some("fifo"), None) => transform::Order::Fifo,
                (Some("fifo"), Some(_)) => {
                    return Err(invalid(
                        file,
                        "sortOptions: legacySortOptions is set but the order is fifo",
                    ));
                }
                (Some("legacy"), Some((first, last))) => transform::Order::Legacy { first, last },
                (Some("legacy"), None) => transform::Order::default(),
                (other, _) => {
                    return Err(invalid(
                        file,
                        format!("sortOptions.order: {other:?} is not legacy or fifo"),
                    ));
                }
            }
        }
        Some(_) => return Err(invalid(file, "sortOptions must be a mapping")),
    };
    Ok((order, managed_by))
}

/// The tree path of a file a kustomization in `dir` names in `field`: kustomize's default
/// load restrictor allows files only in or below the kustomization's directory.
pub(crate) fn file_in_root(
    dir: &str,
    rel: &str,
    file: &str,
    field: &str,
) -> Result<String, KustomizeError> {
    let path = in_tree(dir, rel, file, field)?;
    if !dir.is_empty() && path != dir && !path.starts_with(&format!("{dir}/")) {
        return Err(KustomizeError::OutsideRoot {
            file: file.into(),
            field: field.into(),
            path: rel.into(),
        });
    }
    Ok(path)
}

/// The tree path of `rel` (a file or directory a kustomization in `dir` names in `field`).
pub(crate) fn in_tree(
    dir: &str,
    rel: &str,
    file: &str,
    field: &str,
) -> Result<String, KustomizeError> {
    join(dir, rel).map_err(|source| KustomizeError::Path {
        file: file.into(),
        field: field.into(),
        source,
    })
}

fn invalid(file: &str, message: impl Into<String>) -> KustomizeError {
    KustomizeError::Invalid {
        file: file.into(),
        message: message.into(),
    }
}

fn parse_yaml(file: &str, text: &str) -> Result<Value, KustomizeError> {
    strata_core::yaml::from_str::<Value>(text).map_err(|source| KustomizeError::Yaml {
        file: file.into(),
        source,
    })
}

/// Reads the YAML documents of a resource file with their locations. As kustomize, a
/// resource may leave out `apiVersion` (it stays out); `kind` and `metadata.name` are required.
fn read_resource_file(tree: &dyn SourceTree, path: &str) -> Result<Vec<Item>, KustomizeError> {
    let text = tree.read_to_string(path)?;
    let display = tree.location(path, 0, 1).file;
    let values = strata_core::loader::parse_values(&display, &text).map_err(|source| {
        KustomizeError::Load {
            file: path.to_owned(),
            source,
        }
    })?;
    let mut out = Vec::new();
    for (at, manifest) in values {
        if manifest.is_null() {
            continue;
        }
        let mut check = manifest.clone();
        if let Some(o) = check.as_object_mut() {
            o.entry("apiVersion")
                .or_insert_with(|| Value::String("v1".into()));
        }
        Resource::from_manifest(check).map_err(|source| KustomizeError::Document {
            file: path.to_owned(),
            document: at.document,
            line: at.line,
            source,
        })?;
        out.push(Item::new(
            manifest,
            tree.location(path, at.document, at.line),
            false,
        ));
    }
    Ok(out)
}

/// Builds the kustomization in `dir`; a Component (`base` given) starts from the resources of
/// the kustomization including it.
fn build_level(
    tree: &dyn SourceTree,
    dir: &str,
    stack: &mut Vec<String>,
    vars: &mut Vec<vars::Var>,
    base: Option<Vec<Item>>,
    options: &BuildOptions,
) -> Result<Vec<Item>, KustomizeError> {
    if stack.iter().any(|d| d == dir) {
        let mut chain = stack.clone();
        chain.push(dir.to_string());
        return Err(KustomizeError::Cycle(chain.join(" -> ")));
    }
    let file =
        kustomization_file(tree, dir).ok_or_else(|| KustomizeError::NoKustomization(dir.into()))?;
    let text = tree.read_to_string(&file)?;
    let k = parse_yaml(&file, &text)?;
    let k = match k {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        _ => return Err(invalid(&file, "a kustomization must be a mapping")),
    };
    // Field names match as Go's JSON decoding matches them: case-insensitively.
    let mut canonical = Map::new();
    for (key, value) in k {
        let Some(name) = SUPPORTED_FIELDS
            .iter()
            .find(|f| f.eq_ignore_ascii_case(&key))
        else {
            return Err(KustomizeError::Unsupported {
                file: file.clone(),
                field: key,
            });
        };
        if canonical.insert((*name).to_string(), value).is_some() {
            return Err(invalid(&file, format!("{name} is given twice")));
        }
    }
    let k = canonical;
    for option in string_list(&k, "buildMetadata", &file)? {
        match option.as_str() {
            "managedByLabel" => {}
            "originAnnotations" | "transformerAnnotations" => {
                return Err(KustomizeError::Unsupported {
                    file: file.clone(),
                    field: format!("buildMetadata: {option}"),
                });
            }
            other => {
                return Err(invalid(
                    &file,
                    format!("buildMetadata: unknown option {other:?}"),
                ));
            }
        }
    }
    let is_component = str_at(&Value::Object(k.clone()), &["kind"]) == "Component";
    if is_component != base.is_some() {
        return Err(invalid(
            &file,
            if is_component {
                "a Component is only included through `components`"
            } else {
                "`components` must name directories whose kustomization is a Component"
            },
        ));
    }
    stack.push(dir.to_string());
    let mut items: Vec<Item> = base.unwrap_or_default();
    let mut seen: HashSet<String> = items.iter().map(Item::id).collect();
    let add = |items: &mut Vec<Item>,
               seen: &mut HashSet<String>,
               new: Vec<Item>|
     -> Result<(), KustomizeError> {
        for item in new {
            if !seen.insert(item.id()) {
                return Err(KustomizeError::Duplicate {
                    file: file.clone(),
                    id: item.id(),
                });
            }
            items.push(item);
        }
        Ok(())
    };
    for field in ["resources", "bases"] {
        for entry in string_list(&k, field, &file)? {
            if is_remote(&entry) {
                return Err(KustomizeError::RemoteBase {
                    file: file.clone(),
                    field: field.to_string(),
                    url: entry,
                });
            }
            let path = in_tree(dir, &entry, &file, field)?;
            let new = match tree.kind(&path) {
                Some(EntryKind::Dir) => build_level(tree, &path, stack, vars, None, options)?,
                Some(EntryKind::File) => {
                    file_in_root(dir, &entry, &file, field)?;
                    read_resource_file(tree, &path)?
                }
                None => {
                    return Err(invalid(
                        &file,
                        format!("{field}: {entry}: no such file or directory"),
                    ));
                }
            };
            add(&mut items, &mut seen, new)?;
        }
    }
    for entry in string_list(&k, "components", &file)? {
        if is_remote(&entry) {
            return Err(KustomizeError::RemoteBase {
                file: file.clone(),
                field: "components".into(),
                url: entry,
            });
        }
        let path = in_tree(dir, &entry, &file, "components")?;
        if tree.kind(&path) != Some(EntryKind::Dir) {
            return Err(invalid(
                &file,
                format!("components: {entry}: no such directory"),
            ));
        }
        let current = std::mem::take(&mut items);
        seen.clear();
        items = build_level(tree, &path, stack, vars, Some(current), options)?;
        seen.extend(items.iter().map(Item::id));
    }
    let mut generated = generator::generate(tree, dir, &file, &k)?;
    for (config, doc) in plugin_configs(tree, dir, &file, &k, "generators")? {
        let synthetic = plugin_as_kustomization(&config, &doc, "generators")?;
        generated.extend(generator::generate(tree, dir, &config, &synthetic)?);
    }
    for g in generated {
        if g.behavior == generator::Behavior::Create {
            add(&mut items, &mut seen, vec![g.item])?;
            continue;
        }
        let kind = str_at(&g.item.manifest, &["kind"]).to_string();
        let namespace = str_at(&g.item.manifest, &["metadata", "namespace"]).to_string();
        let existing = items.iter_mut().find(|i| {
            str_at(&i.manifest, &["kind"]) == kind
                && i.original_name == g.item.original_name
                && (namespace.is_empty()
                    || str_at(&i.manifest, &["metadata", "namespace"]) == namespace)
        });
        let Some(existing) = existing else {
            return Err(invalid(
                &file,
                format!(
                    "{}: behavior {:?}: no {kind} {} in the resources to merge into or replace",
                    g.at, g.behavior, g.item.original_name
                ),
            ));
        };
        generator::combine(existing, g.item, g.behavior);
    }
    // kustomize runs the Helm chart inflator after the ConfigMap and Secret generators.
    add(
        &mut items,
        &mut seen,
        helm_charts::inflate(tree, dir, &file, &k, options)?,
    )?;
    vars::parse(&k, &file, vars)?;
    stack.pop();

    // Transformers, in kustomize's builtin order.
    patch::apply_all(tree, dir, &file, &k, &mut items)?;
    if let Some(ns) = opt_str(&k, "namespace", &file)? {
        transform::set_namespace(&mut items, &ns);
    }
    let prefix = opt_str(&k, "namePrefix", &file)?.unwrap_or_default();
    let suffix = opt_str(&k, "nameSuffix", &file)?.unwrap_or_default();
    if !prefix.is_empty() || !suffix.is_empty() {
        transform::prefix_suffix(&mut items, &prefix, &suffix);
    }
    if let Some(labels) = k.get("commonLabels") {
        let labels = string_map(labels, &file, "commonLabels")?;
        transform::add_labels(&mut items, &labels, true, true);
    }
    if let Some(list) = k.get("labels") {
        let list = list
            .as_array()
            .ok_or_else(|| invalid(&file, "labels must be a list"))?;
        for (i, entry) in list.iter().enumerate() {
            let obj = entry
                .as_object()
                .ok_or_else(|| invalid(&file, format!("labels[{i}] must be a mapping")))?;
            for key in obj.keys() {
                if !["pairs", "includeSelectors", "includeTemplates"].contains(&key.as_str()) {
                    return Err(KustomizeError::Unsupported {
                        file: file.clone(),
                        field: format!("labels[{i}].{key}"),
                    });
                }
            }
            let pairs = string_map(
                obj.get("pairs").unwrap_or(&Value::Null),
                &file,
                "labels.pairs",
            )?;
            let selectors = obj
                .get("includeSelectors")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let templates = obj
                .get("includeTemplates")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            transform::add_labels(&mut items, &pairs, selectors, templates || selectors);
        }
    }
    if let Some(ann) = k.get("commonAnnotations") {
        let ann = string_map(ann, &file, "commonAnnotations")?;
        transform::add_annotations(&mut items, &ann);
    }
    if let Some(images) = k.get("images") {
        image::apply_images(&mut items, images, &file)?;
    }
    if let Some(replicas) = k.get("replicas") {
        transform::set_replicas(&mut items, replicas, &file)?;
    }
    if let Some(list) = k.get("replacements") {
        replacement::apply(tree, dir, &file, list, &mut items)?;
    }
    for (config, doc) in plugin_configs(tree, dir, &file, &k, "transformers")? {
        let synthetic = plugin_as_kustomization(&config, &doc, "transformers")?;
        patch::apply_all(tree, dir, &config, &synthetic, &mut items)?;
        if let Some(images) = synthetic.get("images") {
            image::apply_images(&mut items, images, &config)?;
        }
    }
    Ok(items)
}

/// Whether a `resources` entry is a remote base: a URL, an scp-style git address, or a
/// path on a well-known git host.
fn is_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("git@")
        || entry.starts_with("git::")
        || ["github.com/", "gitlab.com/", "bitbucket.org/"]
            .iter()
            .any(|h| entry.starts_with(h))
        || (entry.contains("?ref=") || entry.contains("?version=")) && !entry.starts_with('.')
}

/// The plugin configurations a kustomization lists in `field` (`generators` or
/// `transformers`): each file's documents, with the file's tree path.
fn plugin_configs(
    tree: &dyn SourceTree,
    dir: &str,
    file: &str,
    k: &Map<String, Value>,
    field: &str,
) -> Result<Vec<(String, Value)>, KustomizeError> {
    let mut out = Vec::new();
    for entry in string_list(k, field, file)? {
        if is_remote(&entry) {
            return Err(KustomizeError::RemoteBase {
                file: file.into(),
                field: field.into(),
                url: entry,
            });
        }
        let path = in_tree(dir, &entry, file, field)?;
        if tree.kind(&path) != Some(EntryKind::File) {
            return Err(KustomizeError::Unsupported {
                file: file.into(),
                field: format!("{field}: {entry} (only files of builtin plugin configurations)"),
            });
        }
        file_in_root(dir, &entry, file, field)?;
        let text = tree.read_to_string(&path)?;
        let docs: Vec<Value> =
            strata_core::yaml::from_str_multiple::<Value>(&text).map_err(|source| {
                KustomizeError::ConfigYaml {
                    file: path.clone(),
                    source,
                }
            })?;
        out.extend(
            docs.into_iter()
                .filter(|d| !d.is_null())
                .map(|d| (path.clone(), d)),
        );
    }
    Ok(out)
}

/// A builtin plugin configuration as the kustomization fields that do the same:
/// `ConfigMapGenerator` and `SecretGenerator` (under `generators`), `PatchTransformer` and
/// `ImageTagTransformer` without `fieldSpecs` (under `transformers`). Every other plugin is
/// refused, naming its kind.
fn plugin_as_kustomization(
    config: &str,
    doc: &Value,
    field: &str,
) -> Result<Map<String, Value>, KustomizeError> {
    let refuse = |what: String| KustomizeError::Unsupported {
        file: config.into(),
        field: format!("{field}: {what}"),
    };
    let o = doc
        .as_object()
        .ok_or_else(|| invalid(config, "a plugin configuration must be a mapping"))?;
    let api = str_at(doc, &["apiVersion"]);
    let kind = str_at(doc, &["kind"]).to_string();
    if api != "builtin" {
        return Err(refuse(format!(
            "{kind} (apiVersion {api}: only kustomize's builtin plugins)"
        )));
    }
    let mut rest = o.clone();
    for key in ["apiVersion", "kind", "metadata"] {
        rest.shift_remove(key);
    }
    let mut k = Map::new();
    match (field, kind.as_str()) {
        ("generators", "ConfigMapGenerator" | "SecretGenerator") => {
            rest.insert(
                "name".into(),
                Value::String(str_at(doc, &["metadata", "name"]).into()),
            );
            let ns = str_at(doc, &["metadata", "namespace"]);
            if !ns.is_empty() {
                rest.insert("namespace".into(), Value::String(ns.into()));
            }
            let key = if kind == "ConfigMapGenerator" {
                "configMapGenerator"
            } else {
                "secretGenerator"
            };
            k.insert(key.into(), Value::Array(vec![Value::Object(rest)]));
        }
        ("transformers", "PatchTransformer") => {
            check_fields(&rest, &["patch", "path", "target"], config, &kind)?;
            k.insert("patches".into(), Value::Array(vec![Value::Object(rest)]));
        }
        ("transformers", "ImageTagTransformer") => {
            check_fields(&rest, &["imageTag"], config, &kind)?;
            let tag = rest
                .get("imageTag")
                .cloned()
                .ok_or_else(|| invalid(config, "ImageTagTransformer: imageTag is required"))?;
            k.insert("images".into(), Value::Array(vec![tag]));
        }
        _ => {
            return Err(refuse(format!(
                "{kind} (builtin plugin not supported here)"
            )));
        }
    }
    Ok(k)
}

/// Refuses a mapping's keys outside `allowed`, naming the field.
pub(crate) fn check_fields(
    m: &Map<String, Value>,
    allowed: &[&str],
    file: &str,
    at: &str,
) -> Result<(), KustomizeError> {
    for key in m.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(KustomizeError::Unsupported {
                file: file.into(),
                field: format!("{at}.{key}"),
            });
        }
    }
    Ok(())
}

pub(crate) fn string_list(
    k: &Map<String, Value>,
    field: &str,
    file: &str,
) -> Result<Vec<String>, KustomizeError> {
    match k.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(String::from)
                    .ok_or_else(|| invalid(file, format!("{field} entries must be strings")))
            })
            .collect(),
        Some(_) => Err(invalid(file, format!("{field} must be a list"))),
    }
}

fn opt_str(
    k: &Map<String, Value>,
    field: &str,
    file: &str,
) -> Result<Option<String>, KustomizeError> {
    match k.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(file, format!("{field} must be a string"))),
    }
}

/// A map of strings (numbers and booleans are written as YAML prints them).
pub(crate) fn string_map(
    v: &Value,
    file: &str,
    field: &str,
) -> Result<Vec<(String, String)>, KustomizeError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Number(n) => Ok((k.clone(), n.to_string())),
                Value::Bool(b) => Ok((k.clone(), b.to_string())),
                _ => Err(invalid(file, format!("{field}.{k} must be a string"))),
            })
            .collect(),
        _ => Err(invalid(file, format!("{field} must be a mapping"))),
    }
}

#[cfg(test)]
mod tests;
