//! Helm charts rendered in process, equal to `helm template` (as ArgoCD's repo server runs it,
//! `--include-crds` unless CRDs are skipped).
//!
//! [`render`] loads a chart directory of a [`SourceTree`] ([`chart::load`]: `Chart.yaml` v1/v2,
//! application and library charts, `values.yaml`, `values.schema.json`, `templates/`, `crds/`,
//! `charts/` unpacked or packaged ([`archive`]), `.helmignore`), computes the values in Helm's order ([`values`]: the
//! user's values files, inline values and `--set` parameters over the chart's defaults, `null`
//! deleting keys, `global` flowing down, dependencies enabled by `condition`/`tags`, `alias`,
//! `import-values`), validates them against each chart's schema, and runs every template
//! through [`strata_gotemplate`]'s Helm dialect with `.Values`, `.Release`, `.Chart`,
//! `.Capabilities`, `.Files`, `.Template` and `.Subcharts`.
//!
//! The output is Helm's: CRDs first, then the manifests ordered by Helm's install order of
//! kinds (then by file name, then by position in the file), then the hooks (`helm.sh/hook`)
//! ordered the same way; empty documents dropped, `NOTES.txt` and partials (`_*`) not rendered,
//! hooks of unknown types left out as Helm leaves them out. Hooks are kept as objects; how
//! ArgoCD runs them (`pre-install` as `PreSync`, …) is [`Manifest::sync_phases`].
//!
//! What Strata does not reproduce is refused by name ([`UnsupportedFeature`]): functions whose
//! results change per run (`randAlphaNum`, `now`, `genCA`, …).

pub mod application;
pub mod archive;
pub mod chart;
mod error;
#[cfg(feature = "http")]
mod http;
pub mod repository;
pub mod values;
mod values_yaml;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use strata_core::source::SourceTree;
use strata_core::sync::hooks::SyncPhase;
use strata_gotemplate::helm::{api_versions_object, files_object, kube_version_object};
use strata_gotemplate::{
    FuncError, FunctionSet, Limits, MissingKey, RandomPlaceholders, SharedData, TemplateError,
    TemplateSet,
};

pub use archive::{ArchiveError, ArchiveLimits};
pub use chart::Chart;
pub use error::{HelmError, UnsupportedFeature};

/// The Kubernetes version `helm template` assumes without `--kube-version` (Helm v3.21 built
/// against client-go v0.36).
pub const DEFAULT_KUBE_VERSION: &str = "v1.36.0";

/// The API group/versions `helm template` offers in `.Capabilities.APIVersions` without a
/// cluster (Helm v3.21's built-in scheme).
pub const DEFAULT_API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1alpha1",
    "admissionregistration.k8s.io/v1beta1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta1",
    "apps/v1beta2",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1alpha1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1beta1",
    "certificates.k8s.io/v1alpha1",
    "coordination.k8s.io/v1alpha2",
    "coordination.k8s.io/v1beta1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1alpha1",
    "node.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "resource.k8s.io/v1",
    "resource.k8s.io/v1beta2",
    "resource.k8s.io/v1beta1",
    "resource.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1alpha2",
    "scheduling.k8s.io/v1beta1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1alpha1",
    "storagemigration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1",
];

/// Helm's install order of kinds (`releaseutil.InstallOrder`).
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
];

/// The hook types Helm knows (others make Helm leave the object out).
const HOOK_EVENTS: &[&str] = &[
    "pre-install",
    "post-install",
    "pre-delete",
    "post-delete",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "test",
    "test-success",
];

/// A `--set` parameter (ArgoCD's `spec.source.helm.parameters[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// The dotted key (`image.tag`).
    pub name: String,
    /// The value, typed as `--set` types it unless `force_string`.
    pub value: String,
    /// `--set-string`.
    pub force_string: bool,
}

/// What to render a chart with: `helm template`'s flags.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HelmOptions {
    /// The release name (`.Release.Name`).
    pub release_name: String,
    /// The release namespace (`.Release.Namespace`).
    pub namespace: String,
    /// Values files (`--values`), in order: a name for errors and the YAML text.
    pub value_files: Vec<(String, String)>,
    /// Inline values, merged after the files (ArgoCD's `values`/`valuesObject`).
    pub values: Option<Value>,
    /// `--set`/`--set-string` parameters, applied last.
    pub parameters: Vec<Parameter>,
    /// Leave `crds/` out (no `--include-crds`).
    pub skip_crds: bool,
    /// Do not validate against `values.schema.json`.
    pub skip_schema_validation: bool,
    /// `.Capabilities.KubeVersion` (`--kube-version`).
    pub kube_version: String,
    /// Extra `.Capabilities.APIVersions` (`--api-versions`), beyond [`DEFAULT_API_VERSIONS`].
    pub api_versions: Vec<String>,
    /// What each template execution may consume (default: [`Limits::default`]).
    pub limits: Limits,
    /// What unpacking each packaged chart may consume (default: [`ArchiveLimits::default`]).
    pub archive_limits: ArchiveLimits,
    /// Whether random output (random text, clocks, generated keys and certificates) is
    /// accepted in hooks ArgoCD never applies (Helm's `test`/`test-success`, delete and
    /// rollback hooks): such objects are then left out of the result, since their text cannot
    /// be Helm's, and only an object that is kept and depends on random output is refused.
    /// Off (default): every call of such a function is refused, as `helm template` output
    /// must be equal to Helm's.
    pub unapplied_hooks_may_be_random: bool,
}

impl HelmOptions {
    /// Sets [`release_name`](Self::release_name).
    pub fn with_release_name(mut self, release_name: String) -> Self {
        self.release_name = release_name;
        self
    }

    /// Sets [`namespace`](Self::namespace).
    pub fn with_namespace(mut self, namespace: String) -> Self {
        self.namespace = namespace;
        self
    }

    /// Sets [`value_files`](Self::value_files).
    pub fn with_value_files(mut self, value_files: Vec<(String, String)>) -> Self {
        self.value_files = value_files;
        self
    }

    /// Sets [`values`](Self::values).
    pub fn with_values(mut self, values: Option<Value>) -> Self {
        self.values = values;
        self
    }

    /// Sets [`parameters`](Self::parameters).
    pub fn with_parameters(mut self, parameters: Vec<Parameter>) -> Self {
        self.parameters = parameters;
        self
    }

    /// Sets [`skip_crds`](Self::skip_crds).
    pub fn with_skip_crds(mut self, skip_crds: bool) -> Self {
        self.skip_crds = skip_crds;
        self
    }

    /// Sets [`skip_schema_validation`](Self::skip_schema_validation).
    pub fn with_skip_schema_validation(mut self, skip_schema_validation: bool) -> Self {
        self.skip_schema_validation = skip_schema_validation;
        self
    }

    /// Sets [`kube_version`](Self::kube_version).
    pub fn with_kube_version(mut self, kube_version: String) -> Self {
        self.kube_version = kube_version;
        self
    }

    /// Sets [`unapplied_hooks_may_be_random`](Self::unapplied_hooks_may_be_random).
    pub fn with_unapplied_hooks_may_be_random(mut self, may: bool) -> Self {
        self.unapplied_hooks_may_be_random = may;
        self
    }

    /// Sets [`api_versions`](Self::api_versions).
    pub fn with_api_versions(mut self, api_versions: Vec<String>) -> Self {
        self.api_versions = api_versions;
        self
    }
}

impl HelmOptions {
    /// `helm template RELEASE CHART` with everything else at its default.
    pub fn new(release_name: &str, namespace: &str) -> Self {
        HelmOptions {
            release_name: release_name.to_string(),
            namespace: namespace.to_string(),
            value_files: Vec::new(),
            values: None,
            parameters: Vec::new(),
            skip_crds: false,
            skip_schema_validation: false,
            kube_version: DEFAULT_KUBE_VERSION.to_string(),
            api_versions: Vec::new(),
            limits: Limits::default(),
            archive_limits: ArchiveLimits::default(),
            unapplied_hooks_may_be_random: false,
        }
    }
}

/// One rendered object.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The file it came from, as Helm's `# Source:` names it (`app/templates/web.yaml`,
    /// `app/crds/widgets.yaml`).
    pub source: String,
    /// The object.
    pub object: Value,
    /// Whether it is a Helm hook (`helm.sh/hook`).
    pub hook: bool,
    /// Whether it comes from `crds/`.
    pub crd: bool,
}

impl Manifest {
    /// The ArgoCD sync phases the object is applied in: Helm's `pre-install`/`pre-upgrade`
    /// hooks run as `PreSync`, `post-install`/`post-upgrade` as `PostSync`, other Helm hook
    /// types (tests, delete and rollback hooks) not at all; everything else in `Sync`.
    pub fn sync_phases(&self) -> Vec<SyncPhase> {
        strata_core::sync::hooks::sync_phases(&self.object)
    }
}

/// Renders the chart at `dir` of `tree` as `helm template` does.
pub fn render(
    tree: &dyn SourceTree,
    dir: &str,
    options: &HelmOptions,
) -> Result<Vec<Manifest>, HelmError> {
    let mut root = chart::load_with_limits(tree, dir, None, &options.archive_limits)?;
    let root_name = root.name.clone();
    if let Some(constraint) = root.metadata.get("kubeVersion").and_then(Value::as_str) {
        let fits = strata_gotemplate::helm::semver_satisfies(constraint, &options.kube_version)
            .unwrap_or(false);
        if !fits {
            return Err(HelmError::IncompatibleKubeVersion {
                chart: root_name,
                constraint: constraint.to_string(),
                kube_version: options.kube_version.clone(),
            });
        }
    }
    let user = user_values(&root_name, options)?;
    values::process_dependencies(&mut root, &user, "", &root_name)?;
    values::import_values(&mut root);
    let coalesced = values::coalesce(&root, user, false);
    if !options.skip_schema_validation {
        validate_schemas(&root, &coalesced, &root_name)?;
    }
    let mut api_versions: Vec<String> = DEFAULT_API_VERSIONS
        .iter()
        .map(|s| (*s).to_string())
        .collect();
    api_versions.extend(options.api_versions.iter().cloned());
    let capabilities = serde_json::json!({
        "KubeVersion": kube_version_object(&options.kube_version),
        "APIVersions": api_versions_object(&api_versions),
        "HelmVersion": strata_gotemplate::helm::build_info_object("v3.21.4", "go1.26.8"),
    });
    let release = serde_json::json!({
        "Name": options.release_name,
        "Namespace": options.namespace,
        "IsUpgrade": false,
        "IsInstall": true,
        "Revision": 1,
        "Service": "Helm",
    });
    let mut templates: BTreeMap<String, (&str, SharedData, String)> = BTreeMap::new();
    collect_templates(
        &root,
        &root_name,
        None,
        &SharedData::new(Value::Object(coalesced)),
        &SharedData::new(release),
        &capabilities,
        &mut templates,
    );
    // Helm parses deeper files first, and files of one depth in reverse order, so the root
    // chart's definitions win.
    // (Each name's depth counted once, not at every comparison.)
    let mut order: Vec<&String> = templates.keys().collect();
    order.sort_by_cached_key(|name| {
        (
            std::cmp::Reverse(name.matches('/').count()),
            std::cmp::Reverse(*name),
        )
    });
    let mut set =
        TemplateSet::new(FunctionSet::Helm, MissingKey::Zero).with_limits(options.limits.clone());
    let random = options
        .unapplied_hooks_may_be_random
        .then(|| Arc::new(RandomPlaceholders::new()));
    if let Some(random) = &random {
        set = set.with_random_placeholders(random.clone());
    }
    for name in &order {
        let (src, _, _) = &templates[*name];
        set.add(name, src)
            .map_err(|source| template_error(name, source))?;
    }
    let mut rendered: BTreeMap<String, String> = BTreeMap::new();
    for name in &order {
        let base = name.rsplit('/').next().unwrap_or(name);
        if base.starts_with('_') {
            continue;
        }
        // Every file of a chart runs with the chart's one data map, `.Template` set for it, as
        // Helm runs them: what a file changes there (`set .Values …`) the later files see.
        let (_, data, base_path) = &templates[*name];
        data.insert_value(
            "Template",
            serde_json::json!({"Name": name, "BasePath": base_path}),
        );
        let out = set
            .execute_shared(name, data)
            .map_err(|source| template_error(name, source))?;
        // `NOTES.txt` runs like every template (its `fail` and `required` stop the render, as
        // in Helm), but it is no manifest.
        if name.ends_with("NOTES.txt") {
            continue;
        }
        rendered.insert((*name).clone(), out.replace("<no value>", ""));
    }
    let mut out = Vec::new();
    if !options.skip_crds {
        crds(&root, &root_name, &mut out)?;
    }
    let (mut generic, mut hooks) = (Vec::new(), Vec::new());
    for (name, text) in &rendered {
        if text.trim().is_empty() {
            continue;
        }
        for doc in split_manifests(text) {
            let object =
                strata_core::yaml::value_from_str(&doc).map_err(|source| HelmError::Yaml {
                    chart: chart_of(name),
                    file: name.clone(),
                    source,
                })?;
            if let Some(random) = &random
                && doc.contains(RandomPlaceholders::MARKER)
            {
                // Random output: left out where ArgoCD never applies the object, refused
                // (naming the random call, of this file if it made one) anywhere else.
                if strata_core::sync::hooks::is_hook(&object)
                    && strata_core::sync::hooks::sync_phases(&object).is_empty()
                {
                    continue;
                }
                if let Some((_, error)) = random
                    .call_in(&doc)
                    .or_else(|| random.calls().into_iter().next())
                {
                    return Err(template_error(name, error));
                }
            }
            let hook_types = object
                .pointer("/metadata/annotations/helm.sh~1hook")
                .and_then(Value::as_str)
                .map(str::to_string);
            let kind = object
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            match hook_types {
                Some(types) => {
                    let known = types
                        .split(',')
                        .all(|t| HOOK_EVENTS.contains(&t.trim().to_lowercase().as_str()));
                    if known && !object.is_null() {
                        hooks.push((kind, name.clone(), object));
                    }
                }
                None => generic.push((kind, name.clone(), object)),
            }
        }
    }
    sort_by_kind(&mut generic);
    sort_by_kind(&mut hooks);
    for (items, hook) in [(generic, false), (hooks, true)] {
        for (_, source, object) in items {
            if object.is_null() {
                continue;
            }
            out.push(Manifest {
                source,
                object,
                hook,
                crd: false,
            });
        }
    }
    Ok(out)
}

/// The user's values: files, then inline values, then parameters.
fn user_values(chart: &str, options: &HelmOptions) -> Result<Map<String, Value>, HelmError> {
    let mut user = Map::new();
    for (name, text) in &options.value_files {
        let parsed = chart::parse_values_yaml(text).map_err(|source| HelmError::InvalidYaml {
            chart: chart.to_string(),
            file: name.clone(),
            source,
        })?;
        match parsed {
            Value::Object(m) => values::merge_maps(&mut user, m),
            _ => {
                return Err(HelmError::InvalidFile {
                    chart: chart.to_string(),
                    file: name.clone(),
                    reason: "values must be a map".to_string(),
                });
            }
        }
    }
    if let Some(inline) = &options.values {
        let mut inline = inline.clone();
        strata_gotemplate::value::floatify(&mut inline);
        match inline {
            Value::Object(m) => values::merge_maps(&mut user, m),
            Value::Null => {}
            _ => {
                return Err(HelmError::InvalidFile {
                    chart: chart.to_string(),
                    file: "values".to_string(),
                    reason: "values must be a map".to_string(),
                });
            }
        }
    }
    for p in &options.parameters {
        values::apply_parameter(&mut user, &p.name, &p.value, p.force_string).map_err(
            |e| match e {
                HelmError::Unsupported { feature, .. } => HelmError::Unsupported {
                    chart: chart.to_string(),
                    feature,
                },
                other => other,
            },
        )?;
    }
    Ok(user)
}

/// Go's field names of `chart.Metadata`, with their zero values.
fn chart_object(chart: &Chart, is_root: bool) -> Value {
    let md = &chart.metadata;
    let get = |k: &str, zero: Value| md.get(k).cloned().unwrap_or(zero);
    let s = || Value::String(String::new());
    let mut name = get("name", s());
    if !chart.name.is_empty() {
        name = Value::String(chart.name.clone());
    }
    serde_json::json!({
        "Name": name,
        "Home": get("home", s()),
        "Sources": get("sources", Value::Null),
        "Version": get("version", s()),
        "Description": get("description", s()),
        "Keywords": get("keywords", Value::Null),
        "Maintainers": get("maintainers", Value::Null),
        "Icon": get("icon", s()),
        "APIVersion": get("apiVersion", s()),
        "Condition": get("condition", s()),
        "Tags": get("tags", s()),
        "AppVersion": get("appVersion", s()),
        "Deprecated": get("deprecated", Value::Bool(false)),
        "Annotations": get("annotations", Value::Null),
        "KubeVersion": get("kubeVersion", s()),
        "Dependencies": get("dependencies", Value::Null),
        "Type": get("type", s()),
        "IsRoot": is_root,
    })
}

/// `recAllTpls`: every template of the chart tree with the data it runs with.
///
/// The files of one chart share its data map; a subchart's `.Values` is the parent's entry
/// for it (the same map, as in Helm), or a map of its own when the parent has none; the
/// release object is shared by every chart. Returns the chart's data (its parent's
/// `.Subcharts` entry).
fn collect_templates<'c>(
    chart: &'c Chart,
    full_path: &str,
    parent_values: Option<&SharedData>,
    root_values: &SharedData,
    release: &SharedData,
    capabilities: &Value,
    out: &mut BTreeMap<String, (&'c str, SharedData, String)>,
) -> SharedData {
    let values = match parent_values {
        None => root_values.clone(),
        Some(parent) => parent
            .get_map(&chart.name)
            .unwrap_or_else(|| SharedData::new(Value::Object(Map::new()))),
    };
    let files = files_object(chart.files.iter().cloned());
    let data = SharedData::new(serde_json::json!({
        "Chart": chart_object(chart, parent_values.is_none()),
        "Files": files,
        "Capabilities": capabilities,
        "Subcharts": {},
    }));
    data.insert("Release", release);
    data.insert("Values", &values);
    let subcharts = SharedData::new(Value::Object(Map::new()));
    for sub in &chart.dependencies {
        let sub_path = format!("{full_path}/charts/{}", sub.name);
        let sub_data = collect_templates(
            sub,
            &sub_path,
            Some(&values),
            root_values,
            release,
            capabilities,
            out,
        );
        subcharts.insert(&sub.name, &sub_data);
    }
    data.insert("Subcharts", &subcharts);
    for (path, text) in &chart.templates {
        let base = path.rsplit('/').next().unwrap_or(path);
        if chart.is_library() && !base.starts_with('_') {
            continue;
        }
        out.insert(
            format!("{full_path}/{path}"),
            (
                text.as_str(),
                data.clone(),
                format!("{full_path}/templates"),
            ),
        );
    }
    data
}

/// `crds/` of the chart and its enabled subcharts, parent first.
fn crds(chart: &Chart, full_path: &str, out: &mut Vec<Manifest>) -> Result<(), HelmError> {
    for (path, text) in chart.crd_files() {
        let source = format!("{full_path}/{path}");
        for doc in split_manifests(text) {
            let object = strata_core::yaml::value_from_str(&doc).map_err(|e| HelmError::Yaml {
                chart: full_path.to_string(),
                file: source.clone(),
                source: e,
            })?;
            if !object.is_null() {
                out.push(Manifest {
                    source: source.clone(),
                    object,
                    hook: false,
                    crd: true,
                });
            }
        }
    }
    for sub in &chart.dependencies {
        crds(sub, &format!("{full_path}/charts/{}", sub.name), out)?;
    }
    Ok(())
}

/// `releaseutil.SplitManifests`: documents split on `---` lines, trimmed, empty ones dropped.
///
/// Helm splits on the regular expression `(?:^|\s*\n)---\s*`; [`separators`] finds the same
/// matches without compiling it (its Unicode `\s` makes a DFA that cost more than all a
/// chart's CRDs take to split).
pub fn split_manifests(text: &str) -> Vec<String> {
    let trimmed = text.trim();
    let mut docs = Vec::new();
    let mut from = 0;
    for (start, end) in separators(trimmed) {
        docs.push(&trimmed[from..start]);
        from = end;
    }
    docs.push(&trimmed[from..]);
    docs.into_iter()
        .filter(|d| !d.is_empty())
        .map(|d| d.trim().to_string())
        .collect()
}

/// The byte ranges the regular expression `(?:^|\s*\n)---\s*` matches in `text`, leftmost
/// first and not overlapping, as `regex::Regex::find_iter` reports them.
fn separators(text: &str) -> Vec<(usize, usize)> {
    // The white space after `---`, greedy as `\s*` is.
    let after_dashes = |at: usize| {
        let rest = &text[at + 3..];
        at + 3 + (rest.len() - rest.trim_start().len())
    };
    let mut found = Vec::new();
    let mut from = 0;
    if text.starts_with("---") {
        let end = after_dashes(0);
        found.push((0, end));
        from = end;
    }
    // A match other than at the start is a run of white space ending in a line feed right
    // before `---`, taken from its leftmost character at or after where the search resumes.
    while let Some(offset) = text[from..].find("\n---") {
        let newline = from + offset;
        let run = text[from..newline]
            .trim_end_matches(char::is_whitespace)
            .len();
        let start = from + run;
        let end = after_dashes(newline + 1);
        found.push((start, end));
        from = end;
    }
    found
}

/// Helm's stable sort by install order of kinds (unknown kinds last, alphabetically).
fn sort_by_kind(items: &mut [(String, String, Value)]) {
    let rank = |k: &str| INSTALL_ORDER.iter().position(|x| *x == k);
    items.sort_by(|a, b| match (rank(&a.0), rank(&b.0)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.0.cmp(&b.0),
    });
}

/// The chart a template file belongs to (`app/charts/sub/templates/x.yaml` → `app/charts/sub`).
fn chart_of(file: &str) -> String {
    match file.rfind("/templates/") {
        Some(i) => file[..i].to_string(),
        None => file.split('/').next().unwrap_or(file).to_string(),
    }
}

fn template_error(file: &str, error: TemplateError) -> HelmError {
    let inner = error.innermost().clone();
    let at = &inner.location;
    let chart = chart_of(&at.file);
    if let Some(FuncError::Unsupported { func, reason }) = inner.function_error() {
        return HelmError::Unsupported {
            chart,
            feature: UnsupportedFeature::Function {
                function: func.clone(),
                reason: (*reason).to_string(),
                file: at.file.clone(),
                line: at.line,
            },
        };
    }
    if let Some(message) = error.stopped_message() {
        return HelmError::Stopped {
            chart,
            file: at.file.clone(),
            line: at.line,
            column: at.column.unwrap_or(0),
            message: message.to_string(),
            source: Box::new(error),
        };
    }
    let file = if at.file.is_empty() {
        file.to_string()
    } else {
        at.file.clone()
    };
    HelmError::Template {
        chart,
        file,
        line: at.line,
        action: at.action.clone().unwrap_or_else(|| "parse".to_string()),
        source: Box::new(error),
    }
}

/// Validates each chart's values against its `values.schema.json`.
fn validate_schemas(
    chart: &Chart,
    values: &Map<String, Value>,
    full_path: &str,
) -> Result<(), HelmError> {
    if let Some(schema) = &chart.schema {
        let validator =
            jsonschema::validator_for(schema).map_err(|source| HelmError::InvalidSchema {
                chart: full_path.to_string(),
                source: Box::new(source),
            })?;
        let instance = strata_gotemplate::value::normalized(&Value::Object(values.clone()));
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| {
                let at = e.instance_path().to_string();
                format!("at '{}': {e}", if at.is_empty() { "/" } else { &at })
            })
            .collect();
        if !errors.is_empty() {
            return Err(HelmError::Schema {
                chart: full_path.to_string(),
                errors: errors.join("; "),
            });
        }
    }
    for sub in &chart.dependencies {
        let sub_values = values
            .get(&sub.name)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        validate_schemas(
            sub,
            &sub_values,
            &format!("{full_path}/charts/{}", sub.name),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every string of up to 7 characters over `-`, line feed, space, tab, `a` and a Unicode
    /// space: the separators found are the regular expression's matches.
    #[test]
    fn separators_are_the_regex_matches() {
        let re = regex::Regex::new(r"(?:^|\s*\n)---\s*").expect("compiles");
        let alphabet = ['-', '\n', ' ', '\t', 'a', '\u{a0}'];
        let mut texts = vec![String::new()];
        let mut checked = 0;
        for _ in 0..7 {
            let mut longer = Vec::new();
            for text in &texts {
                for c in alphabet {
                    let mut t = text.clone();
                    t.push(c);
                    let expected: Vec<(usize, usize)> =
                        re.find_iter(&t).map(|m| (m.start(), m.end())).collect();
                    assert_eq!(separators(&t), expected, "{t:?}");
                    checked += 1;
                    longer.push(t);
                }
            }
            texts = longer;
        }
        assert!(checked > 300_000);
    }

    #[test]
    fn manifests_split_as_helm_splits_them() {
        assert_eq!(
            split_manifests("---\na: 1\n---\n# c\n---  \nb: 2\n--- \n"),
            vec!["a: 1".to_owned(), "# c".to_owned(), "b: 2".to_owned()]
        );
        assert_eq!(split_manifests("a: |\n  ---x\n"), vec!["a: |\n  ---x"]);
        assert!(split_manifests("  \n---\n ").is_empty());
    }
}
