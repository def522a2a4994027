//! Packaged subcharts (`charts/*.tgz`, made by the real `helm package` from charts the project
//! wrote under `tests/helm_packaged/`) rendered by Strata and by the real `helm template`: the
//! object sets must be equal; a hostile archive must fail in both, Strata naming it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use strata_core::source::FsTree;
use strata_sources::helm::{self, ArchiveError, HelmError, HelmOptions};
use strata_testkube::helm::{TemplateArgs, ensure, template};

use crate::support;
use support::copy_dir;

const RELEASE: &str = "pay";
const NAMESPACE: &str = "pay-ns";

fn sources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helm_packaged")
}

/// `bundle` with `metrics` and `toolkit` packaged by `helm package` into its `charts/`.
fn packaged_bundle(program: &Path, dir: &Path) -> PathBuf {
    let bundle = dir.join("bundle");
    copy_dir(&sources().join("bundle"), &bundle);
    let charts = bundle.join("charts");
    std::fs::create_dir_all(&charts).expect("charts/");
    for sub in ["metrics", "toolkit"] {
        let out = Command::new(program)
            .arg("package")
            .arg(sources().join(sub))
            .arg("--destination")
            .arg(&charts)
            .env("HELM_CACHE_HOME", dir.join("cache"))
            .env("HELM_CONFIG_HOME", dir.join("config"))
            .env("HELM_DATA_HOME", dir.join("data"))
            .output()
            .expect("helm package ran");
        assert!(
            out.status.success(),
            "helm package {sub}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    bundle
}

fn normalized_sorted(objects: impl Iterator<Item = Value>) -> Vec<String> {
    let mut v: Vec<String> = objects
        .map(|o| strata_gotemplate::value::normalized(&o))
        .map(|o| serde_json::to_string_pretty(&o).expect("json"))
        .collect();
    v.sort();
    v
}

fn helm_objects(stdout: &str) -> Vec<Value> {
    strata_core::yaml::documents(stdout)
        .into_iter()
        .filter(|d| !d.is_blank())
        .map(|d| strata_core::yaml::from_str::<Value>(&d.text).expect("helm printed YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

#[test]
fn packaged_subcharts_render_as_helm_template_does() {
    let program = ensure(&strata_testkube::target_dir()).expect("helm");
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = packaged_bundle(&program, dir.path());
    let tree = FsTree::new(dir.path());
    let cases: &[&[&str]] = &[&[], &["values/audit.yaml"], &["values/lean.yaml"]];
    let mut equal = 0;
    for values in cases {
        let args = TemplateArgs::new(RELEASE)
            .with_namespace(NAMESPACE)
            .with_value_files(values.iter().map(|f| bundle.join(f)).collect());
        let expected = template(&program, &bundle, &args)
            .expect("helm ran")
            .expect("helm rendered");
        let mut options = HelmOptions::new(RELEASE, NAMESPACE);
        for f in *values {
            let text = std::fs::read_to_string(bundle.join(f)).expect("values file");
            options.value_files.push(((*f).to_string(), text));
        }
        let manifests = helm::render(&tree, "bundle", &options).expect("strata rendered");
        let expected = normalized_sorted(helm_objects(&expected).into_iter());
        let actual = normalized_sorted(manifests.into_iter().map(|m| m.object));
        assert!(!actual.is_empty(), "{values:?}: objects rendered");
        assert_eq!(actual, expected, "{values:?}");
        equal += 1;
    }
    eprintln!("packaged subcharts: {equal} value sets equal to helm template");
    assert_eq!(equal, 3);
}

#[test]
fn the_packaged_subchart_keeps_its_files_and_crds() {
    let program = ensure(&strata_testkube::target_dir()).expect("helm");
    let dir = tempfile::tempdir().expect("tempdir");
    packaged_bundle(&program, dir.path());
    let tree = FsTree::new(dir.path());
    let manifests =
        helm::render(&tree, "bundle", &HelmOptions::new(RELEASE, NAMESPACE)).expect("rendered");
    assert!(manifests[0].crd);
    assert_eq!(
        manifests[0].source,
        "bundle/charts/metrics/crds/scrapes.yaml"
    );
    let dashboards = manifests
        .iter()
        .find(|m| m.source == "bundle/charts/metrics/templates/dashboards.yaml")
        .expect("dashboards");
    assert!(
        dashboards
            .object
            .pointer("/data/overview.json")
            .and_then(Value::as_str)
            .is_some_and(|s| s.contains("Overview")),
        "{}",
        dashboards.object
    );
}

/// A `.tgz` whose entry climbs out of the chart's directory, written byte by byte as a
/// hostile archive would be.
fn hostile_archive() -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (path, data) in [
        (
            "evil/Chart.yaml",
            "apiVersion: v2\nname: evil\nversion: 0.1.0\n",
        ),
        ("evil/../../outside.yaml", "x: 1\n"),
    ] {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_cksum();
        builder.append(&header, data.as_bytes()).expect("append");
    }
    builder.into_inner().expect("tar").finish().expect("gzip")
}

#[test]
fn an_archive_leaving_its_directory_fails_in_both_and_is_named() {
    let program = ensure(&strata_testkube::target_dir()).expect("helm");
    let dir = tempfile::tempdir().expect("tempdir");
    let chart = dir.path().join("host");
    std::fs::create_dir_all(chart.join("charts")).expect("mkdir");
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: host\nversion: 0.1.0\n",
    )
    .expect("Chart.yaml");
    std::fs::write(chart.join("charts/evil-0.1.0.tgz"), hostile_archive()).expect("tgz");
    let args = TemplateArgs::new(RELEASE);
    let helm_error = template(&program, &chart, &args)
        .expect("helm ran")
        .expect_err("helm refuses the archive");
    assert!(
        helm_error.message.contains("parent directory"),
        "{helm_error}"
    );
    let tree = FsTree::new(dir.path());
    let err = helm::render(&tree, "host", &HelmOptions::new(RELEASE, NAMESPACE))
        .expect_err("strata refuses the archive");
    match &err {
        HelmError::Archive {
            chart,
            archive,
            source: ArchiveError::PathTraversal { path },
        } => {
            assert_eq!(chart, "host");
            assert_eq!(archive, "charts/evil-0.1.0.tgz");
            assert_eq!(path, "evil/../../outside.yaml");
        }
        other => panic!("expected a named path traversal, got {other}"),
    }
}

#[test]
fn an_application_of_a_chart_with_one_subchart_twice_gets_its_crd_once() {
    let program = ensure(&strata_testkube::target_dir()).expect("helm");
    let dir = tempfile::tempdir().expect("tempdir");
    packaged_bundle(&program, dir.path());
    let tree = FsTree::new(dir.path());
    let source = serde_json::json!({
        "path": "bundle",
        "helm": {"valueFiles": ["values/audit.yaml"]},
    });
    let resources = strata_sources::helm::application::render_source(
        &tree,
        "bundle",
        &source,
        "pay",
        Some("pay-ns"),
        &Default::default(),
    )
    .expect("rendered");
    let crds: Vec<&str> = resources
        .iter()
        .filter(|r| r.key.kind == "CustomResourceDefinition")
        .map(|r| r.key.name.as_str())
        .collect();
    assert_eq!(crds, ["scrapes.metrics.example.com"]);
    // helm template prints it once per alias.
    let manifests = helm::render(&tree, "bundle", &{
        let mut o = HelmOptions::new(RELEASE, NAMESPACE);
        o.value_files.push((
            "values/audit.yaml".into(),
            std::fs::read_to_string(dir.path().join("bundle/values/audit.yaml")).expect("values"),
        ));
        o
    })
    .expect("rendered");
    assert_eq!(manifests.iter().filter(|m| m.crd).count(), 2);
}
