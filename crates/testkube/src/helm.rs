//! Helm, the reference renderer Strata's chart rendering is compared with: from `$HELM` (a path
//! to the program), or built once from the Go module proxy at the pinned [`HELM_VERSION`] into
//! the Cargo target directory, under a file lock, with the link flags Helm's own Makefile sets
//! (its version, and the Kubernetes version `helm template` assumes, taken from the client-go
//! module it builds with).
//!
//! [`template`] runs `helm template` the way ArgoCD's repo server does (`--include-crds` unless
//! CRDs are skipped) and returns its standard output.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::binaries::{GoProgram, program_from_env, run_go};
use crate::error::TestKubeError;

/// The pinned Helm release (`helm.sh/helm/v3`).
pub const HELM_VERSION: &str = "v3.21.4";
/// The environment variable naming a helm program to use instead of building one.
pub const HELM_VARIABLE: &str = "HELM";
/// The Go module Helm is built from.
pub const HELM_MODULE: &str = "helm.sh/helm/v3";

/// How to provide helm, said in one line.
pub const HELM_HINT: &str = "the comparison with helm template needs helm: install Go 1.26 or newer (it is then built from the Go module proxy into target/ once, a few minutes on 2 cores) or set HELM to the path of a helm v3 binary";

/// The program: `$HELM` when set, else built (once) into `target_dir`, with the link flags
/// Helm's Makefile sets.
pub fn ensure(target_dir: &Path) -> Result<PathBuf, TestKubeError> {
    let missing = |path| TestKubeError::MissingHelm {
        path,
        hint: HELM_HINT,
    };
    if let Some(given) = program_from_env(HELM_VARIABLE, missing) {
        return given;
    }
    let no_go = || TestKubeError::Prerequisites { hint: HELM_HINT };
    GoProgram {
        root: build_dir(target_dir),
        program: "helm",
        title: format!("helm {HELM_VERSION}"),
        module_name: "helm",
        requirements: format!(
            "require {HELM_MODULE} {HELM_VERSION}\n\ntool {HELM_MODULE}/cmd/helm\n"
        ),
        no_go: &no_go,
        build_failed: &|error| error,
    }
    .build_once(|module_dir, log, output| {
        // As Helm's Makefile: the default Kubernetes version is client-go's, major + 1.
        let client_go = run_go(
            module_dir,
            &["list", "-f", "{{.Version}}", "-m", "k8s.io/client-go"],
            log,
        )?;
        let mut parts = client_go.trim().trim_start_matches('v').split('.');
        let major = parts
            .next()
            .and_then(|m| m.parse::<u32>().ok())
            .map_or(1, |m| m + 1);
        let minor = parts.next().unwrap_or("0").to_string();
        let ldflags = format!(
            "-s -w -X {HELM_MODULE}/internal/version.version={HELM_VERSION} \
             -X {HELM_MODULE}/internal/version.gitTreeState=clean \
             -X {HELM_MODULE}/pkg/chartutil.k8sVersionMajor={major} \
             -X {HELM_MODULE}/pkg/chartutil.k8sVersionMinor={minor} \
             -X {HELM_MODULE}/pkg/lint/rules.k8sVersionMajor={major} \
             -X {HELM_MODULE}/pkg/lint/rules.k8sVersionMinor={minor}"
        );
        let package = format!("{HELM_MODULE}/cmd/helm");
        run_go(
            module_dir,
            &[
                "build",
                "-trimpath",
                "-ldflags",
                &ldflags,
                "-o",
                output,
                &package,
            ],
            log,
        )?;
        Ok(format!(" (Kubernetes v{major}.{minor}.0 by default)"))
    })
}

/// The directory the pinned build lives in (`<target>/helm-<version>`).
pub fn build_dir(target_dir: &Path) -> PathBuf {
    target_dir.join(format!("helm-{HELM_VERSION}"))
}

/// What `helm template` is asked to render.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TemplateArgs {
    /// The release name.
    pub release: String,
    /// The release namespace (`--namespace`), when set.
    pub namespace: Option<String>,
    /// Values files (`--values`), in order.
    pub value_files: Vec<PathBuf>,
    /// `--set` parameters (`key=value`), in order.
    pub set: Vec<String>,
    /// `--kube-version`, when set.
    pub kube_version: Option<String>,
    /// `--api-versions`, each.
    pub api_versions: Vec<String>,
    /// Leave out `crds/` (no `--include-crds`).
    pub skip_crds: bool,
}

impl TemplateArgs {
    /// The arguments for release `release`, with nothing else set.
    pub fn new(release: impl Into<String>) -> Self {
        Self {
            release: release.into(),
            ..Self::default()
        }
    }

    /// Sets [`namespace`](Self::namespace).
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Sets [`value_files`](Self::value_files).
    pub fn with_value_files(mut self, value_files: Vec<PathBuf>) -> Self {
        self.value_files = value_files;
        self
    }

    /// Sets [`set`](Self::set).
    pub fn with_set(mut self, set: Vec<String>) -> Self {
        self.set = set;
        self
    }

    /// Sets [`kube_version`](Self::kube_version).
    pub fn with_kube_version(mut self, kube_version: impl Into<String>) -> Self {
        self.kube_version = Some(kube_version.into());
        self
    }

    /// Sets [`api_versions`](Self::api_versions).
    pub fn with_api_versions(mut self, api_versions: Vec<String>) -> Self {
        self.api_versions = api_versions;
        self
    }

    /// Sets [`skip_crds`](Self::skip_crds).
    pub fn with_skip_crds(mut self, skip_crds: bool) -> Self {
        self.skip_crds = skip_crds;
        self
    }
}

/// `helm template RELEASE CHART [flags]` as ArgoCD's repo server runs it.
pub fn template_command(program: &Path, chart: &Path, args: &TemplateArgs) -> Command {
    let mut command = Command::new(program);
    command.arg("template").arg(&args.release).arg(chart);
    if let Some(ns) = &args.namespace {
        command.args(["--namespace", ns]);
    }
    for f in &args.value_files {
        command.arg("--values").arg(f);
    }
    for s in &args.set {
        command.args(["--set", s]);
    }
    if let Some(v) = &args.kube_version {
        command.args(["--kube-version", v]);
    }
    for v in &args.api_versions {
        command.args(["--api-versions", v]);
    }
    if !args.skip_crds {
        command.arg("--include-crds");
    }
    // Keep helm away from the user's repositories and caches.
    let scratch = std::env::temp_dir().join("strata-helm-home");
    command
        .env("HELM_CACHE_HOME", scratch.join("cache"))
        .env("HELM_CONFIG_HOME", scratch.join("config"))
        .env("HELM_DATA_HOME", scratch.join("data"));
    command
}

/// `helm template` refused the chart: its error message (`Error: ...`), as it printed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
#[non_exhaustive]
pub struct HelmFailed {
    /// Helm's standard error, trimmed.
    pub message: String,
}

/// Runs `helm template`: its standard output, or its error message (`Error: ...`) as `Err`.
pub fn template(
    program: &Path,
    chart: &Path,
    args: &TemplateArgs,
) -> Result<Result<String, HelmFailed>, TestKubeError> {
    let out = template_command(program, chart, args)
        .output()
        .map_err(|source| TestKubeError::Spawn {
            program: "helm".to_owned(),
            source,
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(Ok(stdout))
    } else {
        Ok(Err(HelmFailed {
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }))
    }
}
