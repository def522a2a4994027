//! ArgoCD Applications whose source is a Helm chart at a path of the repository: detected as
//! ArgoCD detects it (a `Chart.yaml` in `source.path`, or a `source.helm` block), rendered
//! with `spec.source.helm`'s settings as ArgoCD's repo server passes them to `helm template`.
//!
//! Supported: `valueFiles` (paths relative to the chart, in order; missing ones refused unless
//! `ignoreMissingValueFiles`), `values` (a YAML string), `valuesObject`, `parameters`
//! (`--set`, `forceString` as `--set-string`), `releaseName` (default: the Application's
//! name), `namespace` (default: the destination's), `skipCrds`, `skipSchemaValidation`,
//! `kubeVersion`, `apiVersions`, and in multi-source Applications value files from another
//! source (`$ref/path`: the path in the repository of the source whose `ref` is `ref`, at its
//! `targetRevision`). Charts from Helm repositories and OCI registries (`source.chart`):
//! [`render_repository_source`]. Refused by name: value files from URLs, `fileParameters`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use strata_core::Resource;
use strata_core::source::{EntryKind, SourceTree};

use super::error::{HelmError, UnsupportedFeature};
use super::repository::ChartRepositories;
use super::{HelmOptions, Parameter};

/// What a multi-source Application's sources that have a `ref` lend, by that name: where
/// `$name/...` value files are read.
pub type Refs = BTreeMap<String, RefSource>;

/// What a multi-source Application's source with a `ref` lends the others.
#[derive(Clone)]
#[non_exhaustive]
pub enum RefSource {
    /// Its repository at its revision, for `$ref/path` value files.
    Tree(Arc<dyn SourceTree>),
    /// Nothing: it is a Helm chart source (`chart`), which ArgoCD renders but reads no
    /// `$ref/path` value file from ("Helm charts are not yet supported for 'ref' sources").
    Chart {
        /// The field, `spec.sources[N].chart`.
        field: String,
    },
}

/// Whether an Application source at `path` is a Helm chart, as ArgoCD decides it.
pub fn is_helm_source(tree: &dyn SourceTree, path: &str, source: &Value) -> bool {
    source.get("helm").is_some_and(|h| !h.is_null())
        || source.get("chart").is_some()
        || is_oci_artifact(source)
        || tree.kind(&chart_file(path)) == Some(EntryKind::File)
}

/// Whether the source's `repoURL` is an OCI artifact (`oci://...`). ArgoCD 3 decides this
/// before it looks at `chart`: it pulls the artifact the repoURL itself names, at
/// `targetRevision` (a tag, or a semver range over the tags), and reads `path` inside it;
/// `chart` is ignored. Strata renders such artifacts when they are Helm charts (see
/// [`chart_location`]).
pub fn is_oci_artifact(source: &Value) -> bool {
    source
        .get("repoURL")
        .and_then(Value::as_str)
        .is_some_and(|url| url.starts_with("oci://"))
}

/// The repository (or registry) and the name a chart source is fetched as by
/// [`ChartRepositories::fetch`]: for an `oci://` repoURL (an OCI artifact, see
/// [`is_oci_artifact`]), its parent and last path segment (`oci://host/charts/web` is `web` of
/// `oci://host/charts`), `chart` ignored as ArgoCD 3 ignores it; else `repoURL` and `chart`.
pub fn chart_location(repo_url: &str, chart: Option<&str>) -> (String, String) {
    if repo_url.starts_with("oci://") {
        let trimmed = repo_url.trim_end_matches('/');
        return match trimmed.rsplit_once('/') {
            Some((parent, name)) if parent.len() > "oci:/".len() => {
                (parent.to_string(), name.to_string())
            }
            _ => (trimmed.to_string(), String::new()),
        };
    }
    (repo_url.to_string(), chart.unwrap_or_default().to_string())
}

fn chart_file(path: &str) -> String {
    if path.is_empty() {
        "Chart.yaml".to_string()
    } else {
        format!("{path}/Chart.yaml")
    }
}

fn refuse(what: &str) -> HelmError {
    HelmError::Unsupported {
        chart: String::new(),
        feature: UnsupportedFeature::Source(what.to_string()),
    }
}

/// The `helm template` settings `source.helm` gives, for the Application `app_name` whose
/// destination namespace is `namespace`; `$ref/...` value files are read from `refs`.
pub fn options(
    tree: &dyn SourceTree,
    path: &str,
    source: &Value,
    app_name: &str,
    namespace: Option<&str>,
    refs: &Refs,
) -> Result<HelmOptions, HelmError> {
    let helm = source.get("helm").cloned().unwrap_or(Value::Null);
    let text = |key: &str| {
        helm.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let flag = |key: &str| helm.get(key).and_then(Value::as_bool).unwrap_or(false);
    if helm
        .get("fileParameters")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return Err(refuse("source.helm.fileParameters"));
    }
    let release = text("releaseName").unwrap_or(app_name);
    let ns = text("namespace").or(namespace).unwrap_or("default");
    let mut options = HelmOptions::new(release, ns);
    // ArgoCD never applies Helm's test hooks (nor its delete and rollback hooks): random
    // output there changes nothing the Application holds.
    options.unapplied_hooks_may_be_random = true;
    options.skip_crds = flag("skipCrds");
    options.skip_schema_validation = flag("skipSchemaValidation");
    if let Some(v) = text("kubeVersion") {
        options.kube_version = if v.starts_with('v') {
            v.to_string()
        } else {
            format!("v{v}")
        };
    }
    options.api_versions = helm
        .get("apiVersions")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let ignore_missing = flag("ignoreMissingValueFiles");
    for file in helm
        .get("valueFiles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if file.contains("://") {
            return Err(refuse(&format!("value files from URLs ({file})")));
        }
        let (from, at): (&dyn SourceTree, String) = match file.strip_prefix('$') {
            Some(rest) => {
                let (name, rel) = rest.split_once('/').unwrap_or((rest, ""));
                let ref_tree = match refs.get(name) {
                    Some(RefSource::Tree(tree)) => tree,
                    Some(RefSource::Chart { field }) => {
                        return Err(HelmError::ChartRef {
                            file: file.to_string(),
                            name: name.to_string(),
                            field: field.clone(),
                        });
                    }
                    None => {
                        return Err(HelmError::UnknownRef {
                            file: file.to_string(),
                            name: name.to_string(),
                            known: refs.keys().cloned().collect::<Vec<_>>().join(", "),
                        });
                    }
                };
                let at = strata_core::source::normalize(rel).map_err(|source| HelmError::Read {
                    chart: path.to_string(),
                    path: file.to_string(),
                    source,
                })?;
                (ref_tree.as_ref(), at)
            }
            None => {
                let at =
                    strata_core::source::join(path, file).map_err(|source| HelmError::Read {
                        chart: path.to_string(),
                        path: file.to_string(),
                        source,
                    })?;
                (tree, at)
            }
        };
        match from.read(&at) {
            Ok(bytes) => options.value_files.push((
                file.to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            )),
            Err(_) if ignore_missing => {}
            Err(source) => {
                return Err(HelmError::Read {
                    chart: path.to_string(),
                    path: at,
                    source,
                });
            }
        }
    }
    // ArgoCD passes `values` and `valuesObject` as one more values file (the object wins).
    let mut inline = serde_json::Map::new();
    if let Some(v) = text("values") {
        match super::chart::parse_values_yaml(v) {
            Ok(Value::Object(m)) => super::values::merge_maps(&mut inline, m),
            Ok(_) => {}
            Err(source) => {
                return Err(HelmError::InvalidYaml {
                    chart: path.to_string(),
                    file: "source.helm.values".to_string(),
                    source,
                });
            }
        }
    }
    if let Some(Value::Object(m)) = helm.get("valuesObject") {
        super::values::merge_maps(&mut inline, m.clone());
    }
    if !inline.is_empty() {
        options.values = Some(Value::Object(inline));
    }
    for p in helm
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
        let value = match p.get("value") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        options.parameters.push(Parameter {
            name: name.to_string(),
            value,
            force_string: p
                .get("forceString")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        });
    }
    Ok(options)
}

/// Renders the Application's chart at `path` into resources, each located at its template.
pub fn render_source(
    tree: &dyn SourceTree,
    path: &str,
    source: &Value,
    app_name: &str,
    namespace: Option<&str>,
    refs: &Refs,
) -> Result<Vec<Resource>, HelmError> {
    if tree.kind(&chart_file(path)) != Some(EntryKind::File) {
        return Err(HelmError::NotAChart {
            path: path.to_string(),
        });
    }
    let options = options(tree, path, source, app_name, namespace, refs)?;
    let manifests = super::render(tree, path, &options)?;
    let mut out = Vec::with_capacity(manifests.len());
    for m in once_per_crd(manifests) {
        // `chart/templates/x.yaml` → `<path>/templates/x.yaml`.
        let rest = m.source.split_once('/').map_or("", |(_, r)| r);
        let file = if path.is_empty() {
            rest.to_string()
        } else {
            format!("{path}/{rest}")
        };
        let mut r = Resource::from_manifest(m.object).map_err(|source| HelmError::Manifest {
            chart: path.to_string(),
            file: m.source.clone(),
            source,
        })?;
        r.source = Some(tree.location(&file, 0, 1));
        out.push(r);
    }
    Ok(out)
}

/// Renders the Application's chart from a Helm repository or an OCI registry (`repoURL` +
/// `chart` + `targetRevision`; an OCI `repoURL` is `oci://host/path` or, as ArgoCD writes it
/// for repositories with `enableOCI`, `host/path`), fetched (or read from the cache) by
/// `charts`; each resource is located at `<repoURL>/<chart>-<version>/<template>`.
pub fn render_repository_source(
    charts: &ChartRepositories,
    source: &Value,
    app_name: &str,
    namespace: Option<&str>,
    refs: &Refs,
) -> Result<Vec<Resource>, HelmError> {
    let text = |key: &str| source.get(key).and_then(Value::as_str).unwrap_or_default();
    let written_chart = source.get("chart").and_then(Value::as_str);
    let (repo_url, chart) = chart_location(text("repoURL"), written_chart);
    let chart = chart.as_str();
    let fetched = charts
        .fetch(&repo_url, chart, text("targetRevision"))
        .map_err(|error| match written_chart {
            Some(written) if is_oci_artifact(source) => HelmError::OciChartIgnored {
                repo_url: crate::repo::redact(text("repoURL")),
                chart: written.to_string(),
                source: Box::new(error),
            },
            _ => HelmError::Repository {
                chart: chart.to_string(),
                source: Box::new(error),
            },
        })?;
    let origin = strata_core::source::SourceOrigin::directory(format!(
        "{}/{chart}-{}",
        crate::repo::redact(repo_url.trim_end_matches('/')),
        fetched.version
    ));
    let limits = super::ArchiveLimits::default();
    let tree = super::archive::unpack(&fetched.archive, &limits)
        .map_err(|source| HelmError::Archive {
            chart: chart.to_string(),
            archive: format!("{chart}-{}.tgz", fetched.version),
            source,
        })?
        .with_origin(origin);
    let options = options(&tree, "", source, app_name, namespace, refs)?;
    let manifests = super::render(&tree, "", &options)?;
    let mut out = Vec::with_capacity(manifests.len());
    for m in once_per_crd(manifests) {
        let rest = m.source.split_once('/').map_or("", |(_, r)| r).to_string();
        let mut r = Resource::from_manifest(m.object).map_err(|source| HelmError::Manifest {
            chart: chart.to_string(),
            file: m.source.clone(),
            source,
        })?;
        r.source = Some(tree.location(&rest, 0, 1));
        out.push(r);
    }
    Ok(out)
}

/// The manifests with each CRD once: a chart used twice (two aliases of one subchart) gives
/// `helm template --include-crds` the same CRD twice, and Helm installs it once.
fn once_per_crd(manifests: Vec<super::Manifest>) -> Vec<super::Manifest> {
    let mut seen = std::collections::BTreeSet::new();
    manifests
        .into_iter()
        .filter(|m| {
            !m.crd
                || seen.insert(
                    m.object
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                )
        })
        .collect()
}
