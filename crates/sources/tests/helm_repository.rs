//! Applications whose chart comes from a Helm repository (`repoURL` + `chart` +
//! `targetRevision`), served from a loopback HTTP server the test starts over a directory
//! made by the real `helm package` and `helm repo index`. The objects must equal what the real
//! `helm template --repo` renders from the same server; the archive is downloaded once and
//! then read from the cache by digest; an unknown chart, a version no entry matches and an
//! archive whose digest is not the index's are errors naming them.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use strata_sources::repo::{Repositories, RepositoryCache};
use strata_sources::stack::{StackSource, load_stack_with};
use strata_testkube::chart_server::{FileServer, FileServerOptions};
use strata_testkube::helm::ensure;

use crate::support;
use support::{copy_dir, git};

pub(crate) const VALUES: &str =
    "global:\n  team: observability\n  registry: r.example.com\nport: 9300\n";

/// Serves the files of `dir` over HTTP on a loopback port; records every path asked for.
pub(crate) fn serve(dir: PathBuf) -> (String, Arc<Mutex<Vec<String>>>) {
    serve_with(dir, None)
}

/// Serves the files of `dir` over HTTP, or HTTPS with `tls`, on a loopback port (the shared
/// [`FileServer`]); records every path asked for.
pub(crate) fn serve_with(
    dir: PathBuf,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let mut options = FileServerOptions::new();
    if let Some(tls) = tls {
        options = options.with_tls(tls);
    }
    let server = FileServer::start_with(dir, options).unwrap();
    (server.url().to_owned(), server.log())
}

pub(crate) fn helm_env<'a>(command: &'a mut Command, home: &Path) -> &'a mut Command {
    command
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
}

pub(crate) fn run(command: &mut Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A chart repository directory: `metrics` 1.2.0 and 1.3.0 packaged and indexed by helm.
pub(crate) fn chart_repository(helm: &Path, base: &Path) -> PathBuf {
    let repo = base.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helm_packaged/metrics");
    for version in ["1.2.0", "1.3.0"] {
        let dir = base.join(format!("src-{version}/metrics"));
        copy_dir(&src, &dir);
        let chart_yaml = std::fs::read_to_string(dir.join("Chart.yaml")).unwrap();
        std::fs::write(
            dir.join("Chart.yaml"),
            chart_yaml.replace("version: 1.2.0", &format!("version: {version}")),
        )
        .unwrap();
        if version == "1.3.0" {
            std::fs::write(
                dir.join("values.yaml"),
                "port: 9000\ninterval: 20s\nimage: exporter2\n",
            )
            .unwrap();
        }
        run(helm_env(
            Command::new(helm)
                .arg("package")
                .arg(&dir)
                .arg("-d")
                .arg(&repo),
            base,
        ));
    }
    run(helm_env(
        Command::new(helm).arg("repo").arg("index").arg(&repo),
        base,
    ));
    repo
}

/// An Application `mon` whose source is the chart `chart` of `repo_url` at `revision`.
///
/// For an `oci://` registry the source is written as ArgoCD 3 reads it: the chart's OCI
/// artifact as `repoURL` (`oci://host/charts/metrics`) with `path: .`, no `chart`.
pub(crate) fn application(repo_url: &str, chart: &str, revision: &str) -> String {
    let what = if repo_url.starts_with("oci://") {
        format!("repoURL: {repo_url}/{chart}\n    path: .")
    } else {
        format!("repoURL: {repo_url}\n    chart: {chart}")
    };
    format!(
        "apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: mon
spec:
  project: default
  source:
    {what}
    targetRevision: \"{revision}\"
    helm:
      values: |
{}
  destination:
    namespace: monitoring
",
        VALUES
            .lines()
            .map(|l| format!("        {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

pub(crate) fn load(base: &Path, app: &str) -> Result<StackSource, String> {
    load_with(base, app, |r| r)
}

/// Loads a stack holding `app`, its repositories as `configure` sets them (chart settings).
pub(crate) fn load_with(
    base: &Path,
    app: &str,
    configure: impl FnOnce(Repositories) -> Repositories,
) -> Result<StackSource, String> {
    let stack = base.join(format!("stack-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&stack);
    std::fs::create_dir_all(&stack).unwrap();
    git(&stack, &["init", "-q", "-b", "main"]);
    std::fs::write(stack.join("app.yaml"), app).unwrap();
    let root = strata_sources::stack::repository_of(&stack).unwrap();
    let resolver = Arc::new(configure(
        Repositories::new()
            .with_stack_repository(&root)
            .with_cache(RepositoryCache::new(base.join("cache"))),
    ));
    load_stack_with(&stack, None, None, Some(resolver)).map_err(|e| e.to_string())
}

pub(crate) fn sorted_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted_keys(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted_keys).collect()),
        other => other.clone(),
    }
}

pub(crate) fn normalized(objects: impl Iterator<Item = Value>) -> Vec<String> {
    let mut v: Vec<String> = objects
        .map(|mut o| {
            // The expander gives namespaced objects the destination namespace.
            if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("namespace");
            }
            serde_json::to_string_pretty(&sorted_keys(&strata_gotemplate::value::normalized(&o)))
                .unwrap()
        })
        .collect();
    v.sort();
    v
}

pub(crate) fn helm_template(helm: &Path, base: &Path, url: &str, version: &str) -> Vec<String> {
    helm_template_of(helm, base, &["metrics", "--repo", url], version)
}

/// `helm template mon <chart...> --version <version>` with [`VALUES`], normalized.
pub(crate) fn helm_template_of(
    helm: &Path,
    base: &Path,
    chart: &[&str],
    version: &str,
) -> Vec<String> {
    let values = base.join("values.yaml");
    std::fs::write(&values, VALUES).unwrap();
    let out = run(helm_env(
        Command::new(helm)
            .args(["template", "mon"])
            .args(chart)
            .args([
                "--version",
                version,
                "--namespace",
                "monitoring",
                "--include-crds",
                "--values",
            ])
            .arg(&values),
        base,
    ));
    normalized(
        strata_core::yaml::documents(&out)
            .into_iter()
            .filter(|d| !d.is_blank())
            .map(|d| strata_core::yaml::from_str::<Value>(&d.text).unwrap())
            .filter(|v| !v.is_null()),
    )
}

#[test]
fn a_repository_chart_renders_as_helm_template_and_is_cached_by_digest() {
    let helm = ensure(&strata_testkube::target_dir()).expect("helm");
    let base = tempfile::tempdir().unwrap();
    let repo = chart_repository(&helm, base.path());
    let (url, log) = serve(repo);
    let mut equal = 0;
    for (revision, picked) in [
        ("1.2.0", "1.2.0"),
        (">=1.0.0 <2.0.0", "1.3.0"),
        ("~1.2", "1.2.0"),
    ] {
        let source = load(base.path(), &application(&url, "metrics", revision)).unwrap();
        let expected = helm_template(&helm, base.path(), &url, revision);
        let actual = normalized(source.resources.iter().map(|r| r.manifest.clone()));
        assert_eq!(actual.len(), 3, "{revision}: {actual:#?}");
        assert_eq!(actual, expected, "{revision}");
        let location = source.resources[0].source.as_ref().unwrap().to_string();
        assert!(
            location.contains(&format!("metrics-{picked}")),
            "{location}"
        );
        equal += 1;
    }
    eprintln!("helm repository charts: {equal} revisions equal to helm template --repo");
    // helm fetched each archive once (it keeps no cache here beyond its own), Strata once per
    // digest: 1.2.0 asked for twice, downloaded by Strata once.
    let strata_downloads = |name: &str| {
        log.lock()
            .unwrap()
            .iter()
            .filter(|p| p.as_str() == format!("/{name}"))
            .count()
    };
    let before = strata_downloads("metrics-1.2.0.tgz");
    let indexes = strata_downloads("index.yaml");
    load(base.path(), &application(&url, "metrics", "1.2.0")).unwrap();
    assert_eq!(
        strata_downloads("metrics-1.2.0.tgz"),
        before,
        "read from the cache"
    );
    // An exact version already fetched needs no repository at all (its index is not read);
    // a range still asks the index which version it means now.
    assert_eq!(
        strata_downloads("index.yaml"),
        indexes,
        "exact version: no index"
    );
    load(base.path(), &application(&url, "metrics", "~1.2")).unwrap();
    assert_eq!(
        strata_downloads("index.yaml"),
        indexes + 1,
        "a range reads the index"
    );
    let cached = std::fs::read_dir(base.path().join("cache/helm-charts"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("sha256-"))
        .count();
    assert_eq!(cached, 2);
    // A cached archive that no longer matches its digest is not used: fetched again.
    for entry in std::fs::read_dir(base.path().join("cache/helm-charts")).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".tgz") {
            std::fs::write(&path, b"corrupt").unwrap();
        }
    }
    let source = load(base.path(), &application(&url, "metrics", "1.2.0")).unwrap();
    assert_eq!(source.resources.len(), 3);
    assert_eq!(
        strata_downloads("metrics-1.2.0.tgz"),
        before + 1,
        "fetched again"
    );
}

#[test]
fn unknown_charts_versions_and_bad_digests_are_named() {
    let helm = ensure(&strata_testkube::target_dir()).expect("helm");
    let base = tempfile::tempdir().unwrap();
    let repo = chart_repository(&helm, base.path());
    let (url, _) = serve(repo.clone());

    let err = load(base.path(), &application(&url, "nothere", "1.0.0")).unwrap_err();
    assert!(
        err.contains("Application mon") && err.contains("chart nothere not found in repository"),
        "{err}"
    );
    let err = load(base.path(), &application(&url, "metrics", ">=5.0.0")).unwrap_err();
    assert!(
        err.contains("no version matches \">=5.0.0\"")
            && (err.contains("1.2.0, 1.3.0") || err.contains("1.3.0, 1.2.0")),
        "{err}"
    );
    // An archive replaced after indexing: its digest is not the index's.
    let tampered = base.path().join("tampered");
    copy_dir(&repo, &tampered);
    let good = std::fs::read(tampered.join("metrics-1.3.0.tgz")).unwrap();
    std::fs::write(tampered.join("metrics-1.2.0.tgz"), good).unwrap();
    let (bad_url, _) = serve(tampered);
    let other = tempfile::tempdir().unwrap();
    let err = load(other.path(), &application(&bad_url, "metrics", "1.2.0")).unwrap_err();
    assert!(
        err.contains("metrics") && err.contains("digest mismatch"),
        "{err}"
    );
    // Nothing was cached from the bad download.
    assert!(!other.path().join("cache/helm-charts").exists());
    // A scheme Strata does not fetch charts over is refused by name.
    let err = load(
        other.path(),
        &application("ftp://charts.example.com", "metrics", "1.2.0"),
    )
    .unwrap_err();
    assert!(err.contains("unsupported repository URL scheme"), "{err}");
}

/// A multi-source Application whose chart source (from a Helm repository) has a `ref`: ArgoCD
/// renders it (it is no values-only source), and refuses a `$ref/...` value file naming it
/// ("Helm charts are not yet supported for 'ref' sources"); so does Strata, naming the field.
#[test]
fn a_chart_source_with_a_ref_is_rendered_and_lends_no_value_files() {
    let helm = ensure(&strata_testkube::target_dir()).expect("helm");
    let base = tempfile::tempdir().unwrap();
    let repo = chart_repository(&helm, base.path());
    let (url, _) = serve(repo);
    let app = |value_files: &str| {
        application(&url, "metrics", "1.2.0")
            .replace("  source:\n    repoURL", "  sources:\n  - repoURL")
            .replace("\n    chart:", "\n    ref: charts\n    chart:")
            .replace("    helm:\n", &format!("    helm:\n{value_files}"))
    };
    let source = load(base.path(), &app("")).unwrap();
    let expected = helm_template(&helm, base.path(), &url, "1.2.0");
    assert_eq!(
        normalized(source.resources.iter().map(|r| r.manifest.clone())),
        expected
    );
    let err = load(
        base.path(),
        &app("      valueFiles:\n        - $charts/values.yaml\n"),
    )
    .unwrap_err();
    assert!(
        err.contains("spec.sources[0].chart") && err.contains("'ref' sources"),
        "{err}"
    );
}
