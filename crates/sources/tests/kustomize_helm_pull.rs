//! Kustomize `helmCharts` entries that kustomize would pull (`repo` given, the chart not in the
//! chart home), against the real `kubectl kustomize --enable-helm --helm-command <pinned helm>`:
//! the charts are packaged by the pinned `helm package` and served from a loopback HTTP Helm
//! repository the test serves and from the distribution registry (`helm push`). kubectl pulls
//! into the chart home, so it runs on a copy of each kustomization; Strata pulls into its
//! chart cache and leaves the kustomization's directory as it was. The objects must be equal
//! after sorting. A pinned version once pulled renders offline from the cache; a version the
//! repository does not have is an error naming the kustomization file, the entry and the
//! version.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use strata_core::source::FsTree;
use strata_sources::helm::repository::{ChartRepoError, ChartRepositories, RepositorySettings};
use strata_sources::kustomize::{BuildOptions, KustomizeError, build_with};
use strata_sources::repo::{Repositories, RepositoryCache};
use strata_sources::stack::load_stack_with;
use strata_testkube::helm::ensure;
use strata_testkube::registry::RegistryOptions;

use crate::helm_oci::{push, start};
use crate::helm_repository::{chart_repository, serve};
use crate::kustomize_helm::{kubectl, normalized, split_documents};
use crate::support::{copy_dir, git};

/// One kustomization: its files, `{http}` and `{oci}` standing for the repositories' URLs.
struct Case {
    name: &'static str,
    files: &'static [(&'static str, &'static str)],
    /// A chart copied in before the build (a local copy kustomize uses instead of pulling),
    /// with the values it gets instead of its own.
    local: Option<(&'static str, &'static str)>,
}

const EXTRA: (&str, &str) = (
    "extra.yaml",
    "global:\n  team: observability\n  registry: r.example.com\n",
);

const CASES: &[Case] = &[
    Case {
        name: "http-exact",
        files: &[
            (
                "kustomization.yaml",
                "namespace: mon
helmCharts:
  - name: metrics
    repo: {http}
    version: 1.2.0
    releaseName: mon
    namespace: mon
    includeCRDs: true
    additionalValuesFiles: [extra.yaml]
    valuesInline:
      port: 9300
",
            ),
            EXTRA,
        ],
        local: None,
    },
    Case {
        name: "http-latest-name-template",
        files: &[
            (
                "kustomization.yaml",
                "namePrefix: p-
helmCharts:
  - name: metrics
    repo: {http}/
    nameTemplate: '{{ printf \"%s-%s\" \"tmpl\" (lower \"REL\") }}'
    valuesMerge: merge
    valuesInline:
      interval: 5s
      global:
        team: merged
        registry: m.example.com
",
            ),
            EXTRA,
        ],
        local: None,
    },
    Case {
        name: "oci-exact-values-file",
        files: &[
            (
                "kustomization.yaml",
                "helmCharts:
  - name: metrics
    repo: {oci}
    version: 1.3.0
    releaseName: oci
    valuesFile: mine.yaml
    valuesMerge: replace
    valuesInline:
      port: 1234
      global:
        team: replaced
        registry: x.example.com
    skipHooks: true
    kubeVersion: 1.31.0
    apiVersions: [monitoring.example.com/v1]
",
            ),
            ("mine.yaml", "image: mine\n"),
        ],
        local: None,
    },
    Case {
        name: "oci-latest",
        files: &[
            (
                "kustomization.yaml",
                "helmGlobals:
  chartHome: vendor
helmCharts:
  - name: metrics
    repo: {oci}/
    releaseName: latest
    valuesFile: extra.yaml
    includeCRDs: true
",
            ),
            EXTRA,
        ],
        local: None,
    },
    Case {
        // A copy already in `<chartHome>/<name>-<version>` is used as found, not pulled.
        name: "local-copy-wins",
        files: &[
            (
                "kustomization.yaml",
                "helmCharts:
  - name: metrics
    repo: {http}
    version: 1.2.0
    releaseName: local
    additionalValuesFiles: [extra.yaml]
",
            ),
            EXTRA,
        ],
        local: Some((
            "charts/metrics-1.2.0/metrics",
            "port: 7777\ninterval: 1h\nimage: vendored\n",
        )),
    },
];

fn lay_out(case: &Case, dir: &Path, http: &str, oci: &str) {
    for (path, text) in case.files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text.replace("{http}", http).replace("{oci}", oci)).unwrap();
    }
    if let Some((at, values)) = case.local {
        let chart = dir.join(at);
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helm_packaged/metrics"),
            &chart,
        );
        std::fs::write(chart.join("values.yaml"), values).unwrap();
    }
}

/// Every file below `dir`, relative, sorted.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

fn kubectl_kustomize(helm: &Path, dir: &Path) -> Vec<String> {
    let out = Command::new(kubectl())
        .arg("kustomize")
        .arg("--enable-helm")
        .arg("--helm-command")
        .arg(helm)
        .arg(dir)
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "{}: kubectl kustomize: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    normalized(split_documents(&String::from_utf8_lossy(&out.stdout)))
}

fn charts(cache: &Path, host: &str) -> BuildOptions {
    BuildOptions::new().with_charts(Some(ChartRepositories::new(cache).with_settings(
        &format!("oci://{host}"),
        RepositorySettings::new().with_force_http(true),
    )))
}

#[test]
fn pulled_helm_charts_build_as_kubectl_kustomize_enable_helm_does() {
    let helm = ensure(&strata_testkube::target_dir()).expect("helm");
    let base = tempfile::tempdir().unwrap();
    let repo = chart_repository(&helm, base.path());
    let (http, http_log) = serve(repo.clone());
    let registry = start(&RegistryOptions::default());
    let host = registry.host();
    push(
        &helm,
        base.path(),
        &host,
        &[
            &repo.join("metrics-1.2.0.tgz"),
            &repo.join("metrics-1.3.0.tgz"),
        ],
        None,
    );
    let oci = format!("oci://{host}/charts");
    let root = base.path().join("stack");
    let kubectl_root = base.path().join("kubectl");
    let cache = base.path().join("cache");
    let options = charts(&cache, &host);
    let mut equal = 0;
    for case in CASES {
        let dir = root.join(case.name);
        lay_out(case, &dir, &http, &oci);
        let before = files_below(&dir);
        let copy = kubectl_root.join(case.name);
        copy_dir(&dir, &copy);
        let expected = kubectl_kustomize(&helm, &copy);
        let built = build_with(&FsTree::new(&root), case.name, &options)
            .unwrap_or_else(|e| panic!("{}: strata: {e}", case.name));
        let ours = normalized(built.iter().map(|b| b.manifest.clone()).collect());
        assert!(!ours.is_empty(), "{}", case.name);
        let missing: Vec<&String> = expected.iter().filter(|e| !ours.contains(e)).collect();
        let extra: Vec<&String> = ours.iter().filter(|e| !expected.contains(e)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{}: only kubectl: {missing:#?}\nonly strata: {extra:#?}",
            case.name
        );
        assert_eq!(ours, expected, "{}", case.name);
        // What each case is about shows in its Service.
        let service = built
            .iter()
            .map(|b| &b.manifest)
            .find(|m| m["kind"] == "Service")
            .unwrap();
        let (name, chart, port) = (
            service["metadata"]["name"].as_str().unwrap(),
            service["metadata"]["labels"]["chart"].as_str().unwrap(),
            &service["spec"]["ports"][0]["port"],
        );
        match case.name {
            "http-exact" => assert_eq!(
                (name, chart, port.as_i64()),
                ("mon-metrics", "metrics-1.2.0", Some(9300))
            ),
            "http-latest-name-template" => {
                assert_eq!((name, chart), ("p-tmpl-rel-metrics", "metrics-1.3.0"))
            }
            "oci-exact-values-file" => {
                assert_eq!((chart, port.as_i64()), ("metrics-1.3.0", Some(1234)))
            }
            "oci-latest" => assert_eq!(chart, "metrics-1.3.0"),
            "local-copy-wins" => assert_eq!(port.as_i64(), Some(7777)),
            other => panic!("{other}"),
        }
        // Strata pulled into its cache: the kustomization's directory is as it was; kubectl
        // pulled into the chart home of its copy.
        assert_eq!(files_below(&dir), before, "{}", case.name);
        if case.local.is_none() {
            assert!(
                files_below(&copy).len() > before.len(),
                "{}: kubectl pulled into the chart home",
                case.name
            );
            // Pulled objects are located in the chart pulled, by repository and version.
            let location = built
                .iter()
                .find(|b| b.manifest["kind"] == "Service")
                .unwrap()
                .source
                .to_string();
            assert!(location.contains("/metrics-1."), "{location}");
        }
        equal += 1;
    }
    eprintln!(
        "kustomize helmCharts pulled: {equal} kustomizations equal to kubectl kustomize --enable-helm"
    );
    assert_eq!(equal, CASES.len());
    let archives = std::fs::read_dir(&cache)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("sha256-"))
        })
        .count();
    assert_eq!(archives, 2, "the two versions, cached once by digest");

    // Offline: with the registry gone and the repository's files removed, the pinned
    // versions render from the cache, and nothing is asked of the HTTP repository.
    drop(registry);
    for f in ["index.yaml", "metrics-1.2.0.tgz", "metrics-1.3.0.tgz"] {
        std::fs::remove_file(repo.join(f)).unwrap();
    }
    let asked = http_log.lock().unwrap().len();
    for name in ["http-exact", "oci-exact-values-file"] {
        let offline = build_with(&FsTree::new(&root), name, &options)
            .unwrap_or_else(|e| panic!("{name} offline: {e}"));
        let again = normalized(offline.iter().map(|b| b.manifest.clone()).collect());
        let online = kubectl_kustomize(&helm, &kubectl_root.join(name));
        assert_eq!(again, online, "{name} offline");
    }
    assert_eq!(http_log.lock().unwrap().len(), asked, "no request offline");
    // The latest version needs the repository's index.
    let err = build_with(&FsTree::new(&root), "http-latest-name-template", &options)
        .expect_err("the index is gone");
    assert!(
        matches!(&err, KustomizeError::ChartPull { error, .. } if matches!(**error, ChartRepoError::Http { .. })),
        "{err}"
    );
}

#[test]
fn a_missing_chart_version_is_named_with_the_kustomization() {
    let helm = ensure(&strata_testkube::target_dir()).expect("helm");
    let base = tempfile::tempdir().unwrap();
    let repo = chart_repository(&helm, base.path());
    let (http, _) = serve(repo);
    let root = base.path().join("stack");
    let dir = root.join("app");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("kustomization.yaml"),
        format!(
            "helmCharts:\n  - name: metrics\n    repo: {http}\n    version: 1.2.0\n    valuesInline: {{global: {{team: a, registry: b}}}}\n  - name: metrics\n    repo: {http}\n    version: 9.9.9\n"
        ),
    )
    .unwrap();
    let options = charts(&base.path().join("cache"), "127.0.0.1:1");
    let err = build_with(&FsTree::new(&root), "app", &options).expect_err("no 9.9.9");
    let text = err.to_string();
    eprintln!("missing version: {text}");
    match &err {
        KustomizeError::ChartPull { file, pull, error } => {
            assert_eq!(
                Path::new(file),
                dir.join("kustomization.yaml"),
                "the file as on disk"
            );
            assert_eq!(pull.entry, "helmCharts[1]");
            assert_eq!(pull.chart, "metrics");
            assert_eq!(pull.version, "9.9.9");
            assert!(
                matches!(**error, ChartRepoError::NoMatchingVersion { .. }),
                "{error}"
            );
        }
        other => panic!("expected ChartPull, got {other}"),
    }
    assert!(text.contains("kustomization.yaml: helmCharts[1]"), "{text}");
    assert!(text.contains("9.9.9"), "{text}");
    assert!(
        text.contains("1.2.0, 1.3.0") || text.contains("1.3.0, 1.2.0"),
        "{text}"
    );

    // A repository Helm cannot pull from (no scheme) is refused by name.
    std::fs::write(
        dir.join("kustomization.yaml"),
        "helmCharts:\n  - name: metrics\n    repo: charts.example.com/stable\n",
    )
    .unwrap();
    let err = build_with(&FsTree::new(&root), "app", &options).expect_err("no scheme");
    assert!(
        matches!(&err, KustomizeError::ChartPull { error, .. } if matches!(**error, ChartRepoError::UnsupportedScheme { .. })),
        "{err}"
    );
}

#[test]
fn a_stack_kustomization_pulls_through_the_stack_repositories_chart_cache() {
    let helm = ensure(&strata_testkube::target_dir()).expect("helm");
    let base = tempfile::tempdir().unwrap();
    let repo = chart_repository(&helm, base.path());
    let (http, _) = serve(repo);
    let stack = base.path().join("stack");
    let case = &CASES[0];
    lay_out(case, &stack.join("k"), &http, "");
    // An Application of the stack's own repository whose path is the kustomization.
    std::fs::write(
        stack.join("app.yaml"),
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: mon\nspec:\n  source:\n    repoURL: https://example.com/stack.git\n    path: k\n  destination:\n    namespace: mon\n",
    )
    .unwrap();
    git(&stack, &["init", "-q", "-b", "main"]);
    let root = strata_sources::stack::repository_of(&stack).unwrap();
    let cache = base.path().join("cache");
    let resolver = Arc::new(
        Repositories::new()
            .with_stack_repository(&root)
            .with_cache(RepositoryCache::new(&cache)),
    );
    let loaded = load_stack_with(&stack, None, None, Some(resolver)).unwrap();
    let ours = normalized(
        loaded
            .resources
            .iter()
            .map(|r| r.manifest.clone())
            .collect(),
    );
    let copy = base.path().join("kubectl");
    copy_dir(&stack.join("k"), &copy);
    assert_eq!(ours, kubectl_kustomize(&helm, &copy));
    assert!(
        std::fs::read_dir(cache.join("helm-charts"))
            .unwrap()
            .any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("sha256-")),
        "pulled into the repositories' chart cache"
    );
    assert!(
        !stack.join("k/charts").exists(),
        "the checkout is left as it was"
    );

    // Without repositories (no cache) the stack does not load, naming the entry.
    let err = load_stack_with(&stack, None, None, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("kustomization.yaml: helmCharts[0]: chart metrics 1.2.0")
            && err.contains("no chart cache"),
        "{err}"
    );
}
