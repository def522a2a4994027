//! Multi-source Applications as ArgoCD renders them: a Helm chart from one repository, its
//! value files (`$values/envs/<env>/values.yaml`) from another source with `ref: values` at
//! that source's revision. Real repositories made with `git`, reached over `file://`; the
//! rendered objects are compared with the real `helm template` given the same files.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use strata_sources::repo::{Repositories, RepositoryCache};
use strata_sources::stack::{StackSource, load_stack_with};
use strata_testkube::helm::{TemplateArgs, ensure, template};

use crate::support;
use support::{git, write};

/// A bare repository `<base>/<name>.git` made of commits, each a set of files; the commit at
/// index `i` is tagged `v{i+1}`.
fn repository(base: &Path, name: &str, commits: &[&[(&str, &str)]]) -> PathBuf {
    let work = base.join(format!("{name}-work"));
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    for (i, files) in commits.iter().enumerate() {
        for (file, text) in *files {
            write(&work.join(file), text);
        }
        git(&work, &["add", "."]);
        git(&work, &["commit", "-q", "-m", &format!("commit {i}")]);
        git(&work, &["tag", &format!("v{}", i + 1)]);
    }
    let bare = base.join(format!("{name}.git"));
    git(
        base,
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    bare
}

const CHART: &[(&str, &str)] = &[
    (
        "charts/web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.2.0\nappVersion: \"1.4\"\n",
    ),
    (
        "charts/web/values.yaml",
        "replicas: 1\nimage:\n  repository: web\n  tag: \"\"\nenv: dev\nfeatures: {}\n",
    ),
    (
        "charts/web/templates/deployment.yaml",
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
  namespace: {{ .Release.Namespace }}
  labels:
    env: {{ .Values.env }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
"#,
    ),
    (
        "charts/web/templates/features.yaml",
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-features
data:
  {{- range $k, $v := .Values.features }}
  {{ $k }}: {{ $v | quote }}
  {{- end }}
"#,
    ),
];

const PROD_V1: &str =
    "env: prod\nreplicas: 3\nimage:\n  tag: \"1.4.2\"\nfeatures:\n  search: \"on\"\n";
const PROD_V2: &str = "env: prod\nreplicas: 5\nimage:\n  tag: \"1.5.0\"\nfeatures:\n  search: \"on\"\n  beta: \"off\"\n";
const PROD_REGION: &str = "features:\n  region: eu-west-1\n";

fn application(charts: &str, config: &str, config_revision: &str, values: &[&str]) -> String {
    let files: Vec<String> = values.iter().map(|v| format!("          - {v}")).collect();
    format!(
        "apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web
spec:
  project: default
  sources:
    - repoURL: {charts}
      targetRevision: main
      path: charts/web
      helm:
        releaseName: shop
        valueFiles:
{}
    - repoURL: {config}
      targetRevision: {config_revision}
      ref: values
  destination:
    namespace: prod
",
        files.join("\n")
    )
}

fn stack_dir(base: &Path, app: &str) -> PathBuf {
    let dir = base.join("stack");
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    write(&dir.join("web.yaml"), app);
    dir
}

fn load(base: &Path, stack: &Path) -> Result<StackSource, String> {
    let root = strata_sources::stack::repository_of(stack).unwrap();
    let resolver = Arc::new(
        Repositories::new()
            .with_stack_repository(&root)
            .with_cache(RepositoryCache::new(base.join("cache"))),
    );
    load_stack_with(stack, None, None, Some(resolver)).map_err(|e| e.to_string())
}

struct Repos {
    _base: tempfile::TempDir,
    base: PathBuf,
    charts: String,
    config: String,
}

fn repos() -> Repos {
    let base = tempfile::tempdir().unwrap();
    let path = base.path().to_path_buf();
    let charts = repository(&path, "charts", &[CHART]);
    let config = repository(
        &path,
        "config",
        &[
            &[("envs/prod/values.yaml", PROD_V1)],
            &[
                ("envs/prod/values.yaml", PROD_V2),
                ("envs/prod/region.yaml", PROD_REGION),
            ],
        ],
    );
    Repos {
        _base: base,
        base: path,
        charts: format!("file://{}", charts.display()),
        config: format!("file://{}", config.display()),
    }
}

fn objects(source: &StackSource) -> Vec<String> {
    let mut v: Vec<String> = source
        .resources
        .iter()
        .map(|r| {
            let mut o = r.manifest.clone();
            // The expander sets the destination namespace on namespaced objects without one.
            if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("namespace");
            }
            serde_json::to_string_pretty(&strata_gotemplate::value::normalized(&o)).unwrap()
        })
        .collect();
    v.sort();
    v
}

/// `helm template shop <chart> -n prod -f …` over files written from the repositories'
/// contents at the revisions the Application names.
fn helm_objects(base: &Path, values: &[&str]) -> Vec<String> {
    let program = ensure(&strata_testkube::target_dir()).expect("helm");
    let dir = base.join("oracle");
    for (file, text) in CHART {
        write(&dir.join(file), text);
    }
    let files: Vec<PathBuf> = values
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let f = dir.join(format!("values-{i}.yaml"));
            write(&f, text);
            f
        })
        .collect();
    let args = TemplateArgs::new("shop")
        .with_namespace("prod")
        .with_value_files(files);
    let out = template(&program, &dir.join("charts/web"), &args)
        .expect("helm ran")
        .expect("helm rendered");
    let mut v: Vec<String> = strata_core::yaml::documents(&out)
        .into_iter()
        .filter(|d| !d.is_blank())
        .map(|d| strata_core::yaml::from_str::<Value>(&d.text).unwrap())
        .filter(|o| !o.is_null())
        .map(|mut o| {
            if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("namespace");
            }
            serde_json::to_string_pretty(&strata_gotemplate::value::normalized(&o)).unwrap()
        })
        .collect();
    v.sort();
    v
}

#[test]
fn value_files_come_from_the_ref_source_at_its_revision() {
    let r = repos();
    for (revision, values, expected) in [
        ("v1", vec!["$values/envs/prod/values.yaml"], vec![PROD_V1]),
        (
            "v2",
            vec![
                "$values/envs/prod/values.yaml",
                "$values/envs/prod/region.yaml",
            ],
            vec![PROD_V2, PROD_REGION],
        ),
    ] {
        let base = r.base.join(format!("at-{revision}"));
        let stack = stack_dir(&base, &application(&r.charts, &r.config, revision, &values));
        let source = load(&base, &stack).unwrap();
        assert_eq!(source.applications.len(), 1);
        assert_eq!(source.applications[0].path, "charts/web");
        let actual = objects(&source);
        assert_eq!(actual.len(), 2, "{actual:?}");
        assert_eq!(
            actual,
            helm_objects(&base, &expected),
            "config at {revision}"
        );
        let deployment = source
            .resources
            .iter()
            .find(|r| r.key.kind == "Deployment")
            .unwrap();
        let want = if revision == "v1" { 3.0 } else { 5.0 };
        assert_eq!(
            deployment.manifest["spec"]["replicas"].as_f64(),
            Some(want),
            "{revision}"
        );
        assert_eq!(deployment.key.namespace.as_deref(), Some("prod"));
    }
}

#[test]
fn an_unknown_ref_and_a_missing_ref_file_are_named() {
    let r = repos();
    let base = r.base.join("unknown");
    let stack = stack_dir(
        &base,
        &application(
            &r.charts,
            &r.config,
            "v2",
            &["$config/envs/prod/values.yaml"],
        ),
    );
    let err = load(&base, &stack).unwrap_err();
    assert!(
        err.contains("Application web")
            && err.contains("$config/envs/prod/values.yaml")
            && err.contains("no source has ref \"config\"")
            && err.contains("refs: [values]"),
        "{err}"
    );
    let base = r.base.join("missing");
    let stack = stack_dir(
        &base,
        &application(
            &r.charts,
            &r.config,
            "v1",
            &["$values/envs/prod/region.yaml"],
        ),
    );
    let err = load(&base, &stack).unwrap_err();
    assert!(
        err.contains("Application web") && err.contains("envs/prod/region.yaml"),
        "{err}"
    );
}

#[test]
fn a_ref_file_cannot_leave_its_repository() {
    let r = repos();
    let base = r.base.join("escape");
    let stack = stack_dir(
        &base,
        &application(&r.charts, &r.config, "v1", &["$values/../../etc/passwd"]),
    );
    let err = load(&base, &stack).unwrap_err();
    assert!(
        err.contains("Application web") && err.contains("$values/../../etc/passwd"),
        "{err}"
    );
}
