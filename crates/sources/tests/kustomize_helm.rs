//! Kustomize `helmCharts` through Strata's Helm renderer against the real
//! `kubectl kustomize --enable-helm` running the pinned `helm` (built from the Go module
//! proxy): each case lays out a kustomization with charts the project wrote
//! (`tests/helm_charts/`, `tests/helm_packaged/`) in a temporary directory; the documents must
//! be equal. A chart that kustomize would pull from a repository but is not on disk is an
//! error naming it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use strata_core::source::FsTree;
use strata_sources::kustomize::{KustomizeError, build};
use strata_testkube::helm::ensure;

use crate::support;
use support::copy_dir;

struct Case {
    name: &'static str,
    /// The charts copied in: a chart directory under `tests/`, and where it goes.
    charts: &'static [(&'static str, &'static str)],
    /// Other files: path and text (`kustomization.yaml` among them).
    files: &'static [(&'static str, &'static str)],
}

const CASES: &[Case] = &[
    Case {
        name: "inline-values",
        charts: &[("helm_charts/legacy", "charts/legacy")],
        files: &[(
            "kustomization.yaml",
            "helmCharts:
  - name: legacy
    releaseName: ops
    namespace: ops-ns
    valuesInline:
      owner: team-a
      workers:
        gamma:
          cpu: 4
",
        )],
    },
    Case {
        name: "values-file-crds-hooks-transformers",
        charts: &[("helm_charts/webapp", "vendor/webapp")],
        files: &[
            (
                "kustomization.yaml",
                "namespace: shop
namePrefix: k-
commonLabels:
  via: kustomize
helmGlobals:
  chartHome: vendor
helmCharts:
  - name: webapp
    releaseName: shop
    valuesFile: staging.yaml
    includeCRDs: true
    skipTests: true
    kubeVersion: 1.31.0
    apiVersions: [monitoring.example.com/v1]
",
            ),
            (
                "staging.yaml",
                "replicaCount: 1
image:
  tag: \"2.8.0-rc.1\"
ingress:
  enabled: true
extraLabels:
  stage: staging
migrations:
  enabled: false
",
            ),
        ],
    },
    Case {
        name: "merge-and-replace",
        charts: &[
            ("helm_charts/webapp", "charts/webapp"),
            ("helm_charts/legacy", "charts/legacy"),
        ],
        files: &[(
            "kustomization.yaml",
            "helmCharts:
  - name: webapp
    releaseName: merged
    valuesMerge: merge
    skipHooks: true
    valuesInline:
      replicaCount: 7
      extraLabels:
        inline: \"yes\"
  - name: legacy
    releaseName: replaced
    valuesMerge: replace
    valuesInline:
      owner: team-b
",
        )],
    },
    Case {
        name: "pulled-layout-and-packaged-subcharts",
        charts: &[("helm_packaged/metrics", "charts/metrics-1.2.0/metrics")],
        files: &[
            (
                "kustomization.yaml",
                "helmCharts:
  - name: metrics
    repo: https://charts.example.com/stable
    version: 1.2.0
    releaseName: mon
    additionalValuesFiles: [extra.yaml]
    valuesInline:
      port: 9300
resources:
  - cm.yaml
",
            ),
            (
                "extra.yaml",
                "global:\n  team: observability\n  registry: r.example.com\ninterval: 1m\n",
            ),
            (
                "cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\ndata:\n  a: \"1\"\n",
            ),
        ],
    },
];

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn lay_out(case: &Case, root: &Path) -> PathBuf {
    let dir = root.join(case.name);
    for (src, dest) in case.charts {
        copy_dir(&tests_dir().join(src), &dir.join(dest));
    }
    for (path, text) in case.files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    dir
}

pub(crate) fn kubectl() -> String {
    std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into())
}

pub(crate) fn split_documents(text: &str) -> Vec<Value> {
    strata_core::yaml::documents(text)
        .into_iter()
        .filter(|d| !d.is_blank())
        .map(|d| strata_core::yaml::from_str::<Value>(&d.text).expect("kubectl printed YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

/// The value with every mapping's keys in order (documents are compared whatever the order
/// of their fields).
fn sorted_keys(v: &Value) -> Value {
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

pub(crate) fn normalized(docs: Vec<Value>) -> Vec<String> {
    let mut v: Vec<String> = docs
        .iter()
        .map(|d| {
            serde_json::to_string_pretty(&sorted_keys(&strata_gotemplate::value::normalized(d)))
                .expect("json")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn helm_charts_build_as_kubectl_kustomize_enable_helm_does() {
    let helm = ensure(&strata_testkube::target_dir()).expect("helm");
    let root = tempfile::tempdir().expect("tempdir");
    let mut equal = 0;
    for case in CASES {
        let dir = lay_out(case, root.path());
        let out = Command::new(kubectl())
            .arg("kustomize")
            .arg("--enable-helm")
            .arg("--helm-command")
            .arg(&helm)
            .arg(&dir)
            .output()
            .expect("kubectl runs");
        assert!(
            out.status.success(),
            "{}: kubectl kustomize: {}",
            case.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let expected = normalized(split_documents(&String::from_utf8_lossy(&out.stdout)));
        let tree = FsTree::new(root.path());
        let ours = build(&tree, case.name)
            .unwrap_or_else(|e| panic!("{}: strata: {e}", case.name))
            .into_iter()
            .map(|b| b.manifest)
            .collect();
        let ours = normalized(ours);
        assert!(!ours.is_empty(), "{}", case.name);
        let missing: Vec<&String> = expected.iter().filter(|e| !ours.contains(e)).collect();
        let extra: Vec<&String> = ours.iter().filter(|e| !expected.contains(e)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{}: only kubectl: {missing:#?}\nonly strata: {extra:#?}",
            case.name
        );
        for (a, b) in ours.iter().zip(expected.iter()) {
            assert_eq!(a, b, "{}: first differing document", case.name);
        }
        assert_eq!(ours.len(), expected.len(), "{}: document counts", case.name);
        equal += 1;
    }
    eprintln!("kustomize helmCharts: {equal} cases equal to kubectl kustomize --enable-helm");
    assert_eq!(equal, CASES.len());
}

#[test]
fn a_chart_to_pull_without_a_chart_cache_or_repo_is_named() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("k");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("kustomization.yaml"),
        "helmCharts:\n  - name: redis\n    repo: https://user:secret@charts.example.com\n    version: 19.0.1\n",
    )
    .expect("write");
    // `build` has no chart repositories: the pull is refused by name, never skipped.
    let err = build(&FsTree::new(root.path()), "k").expect_err("nothing to pull with");
    let text = err.to_string();
    match &err {
        KustomizeError::NoChartCache { file, pull, .. } => {
            assert!(file.ends_with("k/kustomization.yaml"), "{file}");
            assert_eq!(pull.entry, "helmCharts[0]");
            assert_eq!(pull.chart, "redis");
            assert_eq!(pull.version, "19.0.1");
            assert_eq!(pull.path, "k/charts/redis-19.0.1/redis");
            assert!(pull.repo.contains("charts.example.com"), "{}", pull.repo);
        }
        other => panic!("expected NoChartCache, got {other}"),
    }
    assert!(text.contains("no chart cache"), "{text}");
    assert!(!text.contains("secret"), "{text}");
    // Without a repository the chart must be in the chart home.
    std::fs::write(
        dir.join("kustomization.yaml"),
        "helmCharts:\n  - name: redis\n",
    )
    .expect("write");
    let err = build(&FsTree::new(root.path()), "k").expect_err("not on disk");
    assert!(
        matches!(&err, KustomizeError::ChartNotFound { path, entry, .. } if path == "k/charts/redis" && entry == "helmCharts[0]"),
        "{err}"
    );
}

#[test]
fn an_unknown_helm_chart_field_is_named() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = lay_out(
        &Case {
            name: "k",
            charts: &[("helm_charts/legacy", "charts/legacy")],
            files: &[(
                "kustomization.yaml",
                "helmCharts:\n  - name: legacy\n    chartVersion: x\n",
            )],
        },
        root.path(),
    );
    assert!(dir.is_dir());
    let err = build(&FsTree::new(root.path()), "k").expect_err("refused");
    assert!(
        matches!(&err, KustomizeError::Unsupported { field, .. } if field == "helmCharts[0].chartVersion"),
        "{err}"
    );
}

#[test]
fn release_names_helm_refuses_are_refused() {
    let helm = ensure(&strata_testkube::target_dir()).expect("helm");
    let root = tempfile::tempdir().expect("tempdir");
    for (name, entry, says) in [
        (
            "both",
            "releaseName: a\n    nameTemplate: b",
            "releaseName and nameTemplate are both set",
        ),
        (
            "invalid-template",
            "nameTemplate: '{{ \"Bad_Name\" }}'",
            "release name \"Bad_Name\" is invalid",
        ),
        (
            "invalid-release",
            "releaseName: UPPER",
            "release name \"UPPER\" is invalid",
        ),
    ] {
        let text = format!("helmCharts:\n  - name: legacy\n    {entry}\n");
        let case = Case {
            name,
            charts: &[("helm_charts/legacy", "charts/legacy")],
            files: &[],
        };
        let dir = lay_out(&case, root.path());
        std::fs::write(dir.join("kustomization.yaml"), &text).expect("write");
        let out = Command::new(kubectl())
            .args(["kustomize", "--enable-helm", "--helm-command"])
            .arg(&helm)
            .arg(&dir)
            .output()
            .expect("kubectl runs");
        assert!(!out.status.success(), "{name}: kubectl refuses it too");
        let err = build(&FsTree::new(root.path()), name).expect_err(name);
        assert!(
            matches!(&err, KustomizeError::Invalid { message, .. } if message.contains(says) && message.starts_with("helmCharts[0]")),
            "{name}: {err}"
        );
    }
    // A name template that does not parse is named as such.
    let dir = root.path().join("both");
    std::fs::write(
        dir.join("kustomization.yaml"),
        "helmCharts:\n  - name: legacy\n    nameTemplate: '{{ nope'\n    debug: true\n",
    )
    .expect("write");
    let err = build(&FsTree::new(root.path()), "both").expect_err("no parse");
    assert!(
        matches!(&err, KustomizeError::NameTemplate { entry, .. } if entry == "helmCharts[0]"),
        "{err}"
    );
}

/// Without the `http` feature a chart to pull is an error naming the missing HTTP client, the
/// kustomization and the entry (a pinned version already in the cache would still be read).
#[cfg(not(feature = "http"))]
#[test]
fn without_an_http_client_a_pull_names_what_is_missing() {
    use strata_sources::helm::repository::{ChartRepoError, ChartRepositories};
    use strata_sources::kustomize::{BuildOptions, build_with};
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("k");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("kustomization.yaml"),
        "helmCharts:\n  - name: metrics\n    repo: http://127.0.0.1:1/charts\n    version: 1.2.0\n",
    )
    .expect("write");
    let options =
        BuildOptions::new().with_charts(Some(ChartRepositories::new(root.path().join("cache"))));
    let err = build_with(&FsTree::new(root.path()), "k", &options).expect_err("no client");
    let text = err.to_string();
    assert!(
        matches!(&err, KustomizeError::ChartPull { pull, error, .. }
            if pull.entry == "helmCharts[0]" && matches!(**error, ChartRepoError::NoHttpClient { .. })),
        "{text}"
    );
    assert!(
        text.contains("kustomization.yaml: helmCharts[0]: chart metrics 1.2.0"),
        "{text}"
    );
    assert!(text.contains("`http` feature"), "{text}");
}
