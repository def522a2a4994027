//! `strata plan` on stacks whose Applications and ApplicationSets name other repositories:
//! mapped to local directories by `--repo URL=PATH`, `STRATA_REPOS` and `repositories:` in
//! `strata.yaml`, or fetched into the repository cache (`--repo-cache`).

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use strata_testkube::git::git;

fn strata(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
    command.args(args).env("NO_COLOR", "1").stdin(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const URL: &str = "https://git.example.com/team/platform.git";

fn config_map(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-settings\ndata:\n  a: \"1\"\n"
    )
}

/// `<base>/platform`: a Git repository holding `apps/web` and `apps/api`.
fn platform(base: &Path) -> PathBuf {
    let dir = base.join("platform");
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    write(&dir.join("apps/web/cm.yaml"), &config_map("web"));
    write(&dir.join("apps/api/cm.yaml"), &config_map("api"));
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "apps"]);
    dir
}

/// `<base>/stack`: one Application naming `repo_url`, and an optional `strata.yaml`.
fn stack(base: &Path, repo_url: &str, config: Option<&str>) -> PathBuf {
    let dir = base.join("stack");
    write(
        &dir.join("web.yaml"),
        &format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web\nspec:\n  project: default\n  source:\n    repoURL: {repo_url}\n    targetRevision: HEAD\n    path: apps/web\n  destination:\n    namespace: web\n"
        ),
    );
    if let Some(config) = config {
        write(&dir.join("strata.yaml"), config);
    }
    dir
}

fn plan(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args = vec!["plan", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    strata(&args, env)
}

fn assert_plans_web(out: &Output) {
    let shown = text(out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(shown.contains("web-settings"), "{shown}");
    assert!(!shown.contains("api-settings"), "{shown}");
}

#[test]
fn repo_flags_and_variables_map_a_url_to_a_local_repository() {
    let base = tempfile::tempdir().unwrap();
    let platform = platform(base.path());
    let dir = stack(base.path(), URL, None);

    // Unmapped, the URL is read from the stack (which has no remote): no such directory.
    let out = plan(&dir, &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("Application web"), "{}", text(&out));

    let mapping = format!("git@git.example.com:team/platform={}", platform.display());
    assert_plans_web(&plan(&dir, &["--repo", &mapping], &[]));
    assert_plans_web(&plan(&dir, &[], &[("STRATA_REPOS", &mapping)]));

    let bad = plan(&dir, &["--repo", "no-equals-sign"], &[]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(text(&bad).contains("expected URL=PATH"), "{}", text(&bad));
}

#[test]
fn repositories_in_the_configuration_map_a_url_relative_to_it() {
    let base = tempfile::tempdir().unwrap();
    platform(base.path());
    let config = format!("repositories:\n  - url: {URL}\n    path: ../platform\n");
    let dir = stack(base.path(), URL, Some(&config));
    assert_plans_web(&plan(&dir, &[], &[]));

    // A mapping to a directory that does not exist names the URL and the path.
    let config = format!("repositories:\n  - url: {URL}\n    path: ../elsewhere\n");
    std::fs::write(dir.join("strata.yaml"), config).unwrap();
    let out = plan(&dir, &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("Application web"), "{shown}");
    assert!(
        shown.contains(URL) && shown.contains("elsewhere"),
        "{shown}"
    );
}

#[test]
fn other_repositories_are_fetched_into_the_cache() {
    let base = tempfile::tempdir().unwrap();
    let platform = platform(base.path());
    let url = format!("file://{}", platform.display());
    let dir = stack(base.path(), &url, None);
    let cache = base.path().join("cache");
    assert_plans_web(&plan(&dir, &["--repo-cache", cache.to_str().unwrap()], &[]));
    let mirrors: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    assert_eq!(mirrors.len(), 1, "{mirrors:?}");
    assert!(mirrors[0].contains("platform"), "{mirrors:?}");
    // Offline from the mirror.
    assert_plans_web(&plan(
        &dir,
        &[
            "--repo-cache",
            cache.to_str().unwrap(),
            "--repo-refresh",
            "never",
        ],
        &[],
    ));
    // The default cache is in the stack's .strata directory.
    assert_plans_web(&plan(&dir, &[], &[]));
    assert!(dir.join(".strata/repos").is_dir());
}

/// `helm` with its homes under `base`.
pub(crate) fn helm(helm: &Path, base: &Path, args: &[&str]) {
    let out = Command::new(helm)
        .args(args)
        .env("HELM_CACHE_HOME", base.join("helm/cache"))
        .env("HELM_CONFIG_HOME", base.join("helm/config"))
        .env("HELM_DATA_HOME", base.join("helm/data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "helm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_kustomization_pulls_its_helm_chart_through_the_chart_repository_flags() {
    use strata_testkube::registry::{Registry, RegistryOptions};
    let target = strata_testkube::target_dir();
    let helm_program = strata_testkube::helm::ensure(&target).expect("helm");
    let registry_program = strata_testkube::registry::ensure(&target).expect("registry");
    let registry = Registry::start(&registry_program, &RegistryOptions::default()).unwrap();
    let host = registry.host();
    let base = tempfile::tempdir().unwrap();
    // A chart of the test's own, pushed to the registry by helm.
    let chart = base.path().join("src/greeter");
    write(
        &chart.join("Chart.yaml"),
        "apiVersion: v2\nname: greeter\nversion: 0.3.0\n",
    );
    write(&chart.join("values.yaml"), "message: hello\n");
    write(
        &chart.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-greeting\ndata:\n  message: {{ .Values.message | quote }}\n",
    );
    let packages = base.path().join("packages");
    helm(
        &helm_program,
        base.path(),
        &[
            "package",
            chart.to_str().unwrap(),
            "-d",
            packages.to_str().unwrap(),
        ],
    );
    let archive = packages.join("greeter-0.3.0.tgz");
    let oci = format!("oci://{host}/charts");
    helm(
        &helm_program,
        base.path(),
        &["push", archive.to_str().unwrap(), &oci, "--plain-http"],
    );
    // An Application of the stack's own repository whose path is a kustomization pulling it.
    let dir = stack(base.path(), URL, None);
    std::fs::write(
        dir.join("web.yaml"),
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web\nspec:\n  project: default\n  source:\n    repoURL: {URL}\n    path: k\n  destination:\n    namespace: web\n"
        ),
    )
    .unwrap();
    write(
        &dir.join("k/kustomization.yaml"),
        &format!(
            "helmCharts:\n  - name: greeter\n    repo: {oci}\n    version: 0.3.0\n    releaseName: web\n    valuesInline:\n      message: pulled\n"
        ),
    );
    let cache = base.path().join("cache");
    let cache_arg = cache.to_str().unwrap();
    let prefix = format!("oci://{host}");

    // Over HTTPS (no plain-HTTP setting for the registry) the pull fails, naming the
    // kustomization, the entry and the chart.
    let out = plan(&dir, &["--repo-cache", cache_arg], &[]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("kustomization.yaml: helmCharts[0]: chart greeter 0.3.0 from"),
        "{shown}"
    );

    let out = plan(
        &dir,
        &[
            "--repo-cache",
            cache_arg,
            "--chart-repo-plain-http",
            &prefix,
        ],
        &[],
    );
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(shown.contains("web-greeting"), "{shown}");
    assert!(
        std::fs::read_dir(cache.join("helm-charts"))
            .unwrap()
            .any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("sha256-")),
        "pulled into the repository cache"
    );
    assert!(
        !dir.join("k/charts").exists(),
        "the stack is left as it was"
    );

    // Offline, the pinned version renders from the cache.
    drop(registry);
    let out = plan(
        &dir,
        &[
            "--repo-cache",
            cache_arg,
            "--chart-repo-plain-http",
            &prefix,
        ],
        &[],
    );
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(shown.contains("web-greeting"), "{shown}");
}
