//! `helmCharts` (kustomize's HelmChartInflationGenerator, `kustomize build --enable-helm`)
//! rendered through Strata's own Helm renderer instead of a `helm` process.
//!
//! Where the chart comes from, as kustomize decides it: the chart home is
//! `helmGlobals.chartHome` (default `charts`, relative to the kustomization), or
//! `<chartHome>/<name>-<version>` when the entry gives both `repo` and `version`. A chart
//! already at `<home>/<name>` is used as found (no version check, as kustomize does). Else,
//! with a `repo`, the chart is pulled where kustomize runs `helm pull`: `http://` and
//! `https://` repositories (the version picked from `index.yaml` as Helm picks it: the exact
//! version, else the highest matching the constraint, none meaning the latest release) and
//! `oci://` registries (`<repo>/<name>`, tagged by version) through
//! [`crate::helm::repository::ChartRepositories`] ([`BuildOptions::charts`]): into its cache
//! by digest, never into the chart home, since a render must not modify the checkout. Without
//! chart repositories such an entry is [`KustomizeError::NoChartCache`]; a failed pull
//! (no such version, the repository unreachable, no HTTP client in this build) is
//! [`KustomizeError::ChartPull`]; without a `repo`, [`KustomizeError::ChartNotFound`].
//!
//! Values as kustomize computes them: `valuesFile` (default: the chart's `values.yaml`)
//! combined with `valuesInline` by `valuesMerge` (`override`, the default: inline wins;
//! `merge`: the file wins; `replace`: inline only), then `additionalValuesFiles`. Release name
//! `releaseName` (default `release-name`, what `helm template --generate-name` gives), or
//! `nameTemplate` rendered as Helm renders `--name-template` (Sprig functions, no data; with a
//! `releaseName` too it is refused, as Helm refuses it); namespace `namespace` (default
//! `default`); CRDs only with `includeCRDs`; hooks kept unless `skipHooks`, test hooks dropped
//! with `skipTests`; `apiVersions` and `kubeVersion` as `helm template` takes them; `debug`
//! changes only Helm's error output and is accepted. `helmGlobals.configHome` (Helm's
//! configuration directory) is accepted and not read.

use serde_json::{Map, Value};
use strata_core::source::{EntryKind, MemoryTree, SourceOrigin, SourceTree};

use super::{
    BuildOptions, ChartToPull, Item, KustomizeError, check_fields, file_in_root, in_tree, invalid,
};
use crate::helm::repository::ChartRepoError;
use crate::helm::{self, HelmOptions};

const FIELDS: &[&str] = &[
    "name",
    "version",
    "repo",
    "releaseName",
    "namespace",
    "valuesFile",
    "valuesInline",
    "valuesMerge",
    "additionalValuesFiles",
    "includeCRDs",
    "skipHooks",
    "skipTests",
    "apiVersions",
    "kubeVersion",
    "nameTemplate",
    "debug",
];

/// The resources of the kustomization's `helmCharts` (`k`, read from `file` in `dir`).
pub(crate) fn inflate(
    tree: &dyn SourceTree,
    dir: &str,
    file: &str,
    k: &Map<String, Value>,
    build_options: &BuildOptions,
) -> Result<Vec<Item>, KustomizeError> {
    let charts = match k.get("helmCharts") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(invalid(file, "helmCharts must be a list")),
    };
    let chart_home = match k.get("helmGlobals") {
        None | Some(Value::Null) => "charts".to_string(),
        Some(Value::Object(g)) => {
            check_fields(g, &["chartHome", "configHome"], file, "helmGlobals")?;
            match g.get("chartHome") {
                None | Some(Value::Null) => "charts".to_string(),
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                Some(_) => {
                    return Err(invalid(
                        file,
                        "helmGlobals.chartHome must be a non-empty string",
                    ));
                }
            }
        }
        Some(_) => return Err(invalid(file, "helmGlobals must be a mapping")),
    };
    let mut out = Vec::new();
    for (i, entry) in charts.iter().enumerate() {
        let at = format!("helmCharts[{i}]");
        let m = entry
            .as_object()
            .ok_or_else(|| invalid(file, format!("{at} must be a mapping")))?;
        check_fields(m, FIELDS, file, &at)?;
        let text = |key: &str| -> Result<Option<String>, KustomizeError> {
            match m.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(invalid(file, format!("{at}.{key} must be a string"))),
            }
        };
        let flag = |key: &str| -> Result<bool, KustomizeError> {
            match m.get(key) {
                None | Some(Value::Null) => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(_) => Err(invalid(file, format!("{at}.{key} must be a boolean"))),
            }
        };
        let list = |key: &str| -> Result<Vec<String>, KustomizeError> {
            super::string_list(m, key, file)
                .map_err(|_| invalid(file, format!("{at}.{key} must be a list of strings")))
        };
        let name = text("name")?.ok_or_else(|| invalid(file, format!("{at}.name is required")))?;
        let version = text("version")?;
        let repo = text("repo")?;
        let home = in_tree(dir, &chart_home, file, "helmGlobals.chartHome")?;
        // kustomize pulls a chart with both `repo` and `version` into `<name>-<version>`.
        let home = match (&repo, &version) {
            (Some(_), Some(v)) => in_tree(&home, &format!("{name}-{v}"), file, &at)?,
            _ => home,
        };
        let chart_dir = in_tree(&home, &name, file, &format!("{at}.name"))?;
        // The chart as found in the chart home, else pulled into the cache.
        let pulled = if tree.kind(&chart_dir) == Some(EntryKind::Dir) {
            None
        } else {
            let Some(repo) = &repo else {
                return Err(KustomizeError::ChartNotFound {
                    file: file.to_string(),
                    entry: at,
                    chart: name,
                    path: chart_dir,
                });
            };
            let pull = ChartToPull {
                entry: at.clone(),
                chart: name.clone(),
                version: version.clone().unwrap_or_default(),
                repo: crate::repo::redact(repo.trim_end_matches('/')),
                path: chart_dir.clone(),
            };
            Some(fetch(file, pull, repo, build_options)?)
        };
        let (chart_tree, chart_path): (&dyn SourceTree, &str) = match &pulled {
            Some(t) => (t, ""),
            None => (tree, &chart_dir),
        };
        let release = match (text("releaseName")?, text("nameTemplate")?) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    file,
                    format!(
                        "{at}: releaseName and nameTemplate are both set (helm template: cannot set --name-template and also specify a name)"
                    ),
                ));
            }
            (Some(r), None) => r,
            (None, Some(t)) => {
                strata_gotemplate::render(&t, &Value::Null, strata_gotemplate::MissingKey::Default)
                    .map_err(|error| KustomizeError::NameTemplate {
                        file: file.to_string(),
                        entry: at.clone(),
                        error: Box::new(error),
                    })?
            }
            (None, None) => "release-name".to_string(),
        };
        if !valid_release_name(&release) {
            return Err(invalid(
                file,
                format!(
                    "{at}: release name {release:?} is invalid (helm template: it must match {RELEASE_NAME} and be at most 53 characters)"
                ),
            ));
        }
        let mut options =
            HelmOptions::new(&release, text("namespace")?.as_deref().unwrap_or("default"));
        // The values file kustomize passes: `valuesFile`, or the chart's own values.
        let (values_name, values_path) = match text("valuesFile")? {
            Some(f) => {
                if f.contains("://") {
                    return Err(KustomizeError::Unsupported {
                        file: file.to_string(),
                        field: format!("{at}.valuesFile: {f} (a URL)"),
                    });
                }
                let p = file_in_root(dir, &f, file, &format!("{at}.valuesFile"))?;
                (f, Some(p))
            }
            None => {
                let p = strata_core::source::join(chart_path, "values.yaml")?;
                let exists = chart_tree.kind(&p) == Some(EntryKind::File);
                ("values.yaml".to_string(), exists.then_some(p))
            }
        };
        let values_tree = if text("valuesFile")?.is_some() {
            tree
        } else {
            chart_tree
        };
        let read_values = |path: &str| -> Result<Map<String, Value>, KustomizeError> {
            let text = values_tree.read_to_string(path)?;
            match helm::chart::parse_values_yaml(&text) {
                Ok(Value::Object(m)) => Ok(m),
                Ok(_) => Err(invalid(path, "values must be a mapping")),
                Err(source) => Err(KustomizeError::Yaml {
                    file: path.to_string(),
                    source,
                }),
            }
        };
        let base = match &values_path {
            Some(p) => read_values(p)?,
            None => Map::new(),
        };
        let inline = match m.get("valuesInline") {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) if o.is_empty() => None,
            Some(Value::Object(o)) => {
                let mut v = Value::Object(o.clone());
                strata_gotemplate::value::floatify(&mut v);
                match v {
                    Value::Object(o) => Some(o),
                    _ => None,
                }
            }
            Some(_) => {
                return Err(invalid(
                    file,
                    format!("{at}.valuesInline must be a mapping"),
                ));
            }
        };
        let values = match inline {
            None => base,
            Some(inline) => match text("valuesMerge")?.as_deref().unwrap_or("override") {
                "override" => {
                    let mut v = base;
                    helm::values::merge_maps(&mut v, inline);
                    v
                }
                "merge" => {
                    let mut v = inline;
                    helm::values::merge_maps(&mut v, base);
                    v
                }
                "replace" => inline,
                other => {
                    return Err(invalid(
                        file,
                        format!("{at}.valuesMerge: {other:?} is not override, merge or replace"),
                    ));
                }
            },
        };
        options.value_files.push((
            values_name,
            serde_json::to_string(&Value::Object(values)).map_err(|source| {
                KustomizeError::Json {
                    file: file.to_string(),
                    source,
                }
            })?,
        ));
        for f in list("additionalValuesFiles")? {
            let p = file_in_root(dir, &f, file, &format!("{at}.additionalValuesFiles"))?;
            options.value_files.push((f, tree.read_to_string(&p)?));
        }
        options.skip_crds = !flag("includeCRDs")?;
        options.api_versions = list("apiVersions")?;
        if let Some(v) = text("kubeVersion")? {
            options.kube_version = if v.starts_with('v') {
                v
            } else {
                format!("v{v}")
            };
        }
        let (skip_hooks, skip_tests) = (flag("skipHooks")?, flag("skipTests")?);
        // `debug` changes only what Helm prints when it fails.
        flag("debug")?;
        let manifests = helm::render(chart_tree, chart_path, &options).map_err(|error| {
            KustomizeError::Helm {
                file: file.to_string(),
                chart: name.clone(),
                error: Box::new(error),
            }
        })?;
        for m in manifests {
            if m.hook && (skip_hooks || (skip_tests && is_test_hook(&m.object))) {
                continue;
            }
            // `chart/templates/x.yaml` → `<chart_dir>/templates/x.yaml`.
            let rest = m.source.split_once('/').map_or("", |(_, r)| r);
            let location = chart_tree.location(&strata_core::source::join(chart_path, rest)?, 0, 1);
            out.push(Item::new(m.object, location, false));
        }
    }
    Ok(out)
}

/// The chart of `pull` fetched from `repo` (as written, credentials and all) or read from the
/// cache, and unpacked: the chart at its root, its files located at `<repo>/<name>-<version>/`.
fn fetch(
    file: &str,
    pull: ChartToPull,
    repo: &str,
    options: &BuildOptions,
) -> Result<MemoryTree, KustomizeError> {
    let Some(charts) = &options.charts else {
        return Err(KustomizeError::NoChartCache {
            file: file.to_string(),
            pull: Box::new(pull),
        });
    };
    let failed = |error| KustomizeError::ChartPull {
        file: file.to_string(),
        pull: Box::new(pull.clone()),
        error: Box::new(error),
    };
    // `helm pull --repo` takes http(s) repositories, `oci://` registries are pulled as
    // `<repo>/<name>`; a repository without a scheme is not one Helm can pull from.
    if !repo.contains("://") {
        return Err(failed(ChartRepoError::UnsupportedScheme {
            url: pull.repo.clone(),
        }));
    }
    let fetched = charts
        .fetch(repo.trim_end_matches('/'), &pull.chart, &pull.version)
        .map_err(failed)?;
    let origin =
        SourceOrigin::directory(format!("{}/{}-{}", pull.repo, pull.chart, fetched.version));
    let archive = format!("{}-{}.tgz", pull.chart, fetched.version);
    helm::archive::unpack(&fetched.archive, &helm::ArchiveLimits::default())
        .map(|t| t.with_origin(origin))
        .map_err(|source| KustomizeError::Helm {
            file: file.to_string(),
            chart: pull.chart.clone(),
            error: Box::new(helm::HelmError::Archive {
                chart: pull.chart.clone(),
                archive,
                source,
            }),
        })
}

/// The release names Helm accepts (`chartutil.ValidateReleaseName`), at most 53 characters.
const RELEASE_NAME: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

fn valid_release_name(name: &str) -> bool {
    static PATTERN: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(RELEASE_NAME).ok());
    !name.is_empty() && name.len() <= 53 && PATTERN.as_ref().is_some_and(|p| p.is_match(name))
}

/// Whether a hook runs on `helm test` (`--skip-tests` leaves it out).
fn is_test_hook(object: &Value) -> bool {
    object
        .pointer("/metadata/annotations/helm.sh~1hook")
        .and_then(Value::as_str)
        .is_some_and(|types| {
            types
                .split(',')
                .any(|t| matches!(t.trim(), "test" | "test-success"))
        })
}
