//! `helmCharts` (kustomize's HelmChartInflationGenerator, `kustomize build --enable-helm`)
//! rendered through Strata's own Helm renderer instead of a `helm` process.
//!
//! Each entry renders the chart at `<chartHome>/<name>` (`chartHome`: `helmGlobals.chartHome`,
//! default `charts`, relative to the kustomization), or at `<chartHome>/<name>-<version>/<name>`
//! when `repo` and `version` are both given (where kustomize pulls a chart to). A chart that
//! is not there is an error naming it and the repository ([`KustomizeError::ChartNotFound`]):
//! Strata does not pull charts for kustomize.
//!
//! Values as kustomize computes them: `valuesFile` (default: the chart's `values.yaml`)
//! combined with `valuesInline` by `valuesMerge` (`override`, the default: inline wins;
//! `merge`: the file wins; `replace`: inline only), then `additionalValuesFiles`. Release name
//! `releaseName` (default `release-name`), namespace `namespace` (default `default`); CRDs only
//! with `includeCRDs`; hooks kept unless `skipHooks`, test hooks dropped with `skipTests`;
//! `apiVersions` and `kubeVersion` as `helm template` takes them.

use serde_json::{Map, Value};
use strata_core::source::{EntryKind, SourceTree};

use super::{Item, KustomizeError, check_fields, file_in_root, in_tree, invalid};
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
];

/// The resources of the kustomization's `helmCharts` (`k`, read from `file` in `dir`).
pub(crate) fn inflate(
    tree: &dyn SourceTree,
    dir: &str,
    file: &str,
    k: &Map<String, Value>,
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
        let rel = match (&repo, &version) {
            (Some(_), Some(v)) => format!("{name}-{v}/{name}"),
            _ => name.clone(),
        };
        let chart_dir = in_tree(&home, &rel, file, &format!("{at}.name"))?;
        if tree.kind(&chart_dir) != Some(EntryKind::Dir) {
            return Err(KustomizeError::ChartNotFound {
                file: file.to_string(),
                chart: name,
                path: chart_dir,
                repo: repo.as_deref().map(crate::repo::redact),
            });
        }
        let mut options = HelmOptions::new(
            text("releaseName")?.as_deref().unwrap_or("release-name"),
            text("namespace")?.as_deref().unwrap_or("default"),
        );
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
                let p = format!("{chart_dir}/values.yaml");
                let exists = tree.kind(&p) == Some(EntryKind::File);
                ("values.yaml".to_string(), exists.then_some(p))
            }
        };
        let read_values = |path: &str| -> Result<Map<String, Value>, KustomizeError> {
            let text = tree.read_to_string(path)?;
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
        let manifests =
            helm::render(tree, &chart_dir, &options).map_err(|error| KustomizeError::Helm {
                file: file.to_string(),
                chart: name.clone(),
                error: Box::new(error),
            })?;
        for m in manifests {
            if m.hook && (skip_hooks || (skip_tests && is_test_hook(&m.object))) {
                continue;
            }
            // `chart/templates/x.yaml` → `<chart_dir>/templates/x.yaml`.
            let rest = m.source.split_once('/').map_or("", |(_, r)| r);
            let location = tree.location(&format!("{chart_dir}/{rest}"), 0, 1);
            out.push(Item::new(m.object, location, false));
        }
    }
    Ok(out)
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
