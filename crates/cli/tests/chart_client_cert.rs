//! `--chart-repo-client-cert` / `--chart-repo-client-key` (and their environment variables):
//! an Application's chart from a Helm repository over HTTPS that asks for a client
//! certificate (a loopback rustls server, its CA trusted with `--chart-repo-ca`, the chart made
//! by the real `helm package` and `helm repo index`) plans with the certificate and is refused
//! without it.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use crate::repositories::helm;

/// Serves the files of `dir` over HTTPS (the shared loopback file server) to clients presenting
/// a certificate signed by the PKI's CA; returns the base URL.
fn serve(dir: PathBuf, pki: &strata_testkube::Pki) -> String {
    use strata_testkube::chart_server::{FileServer, FileServerOptions, tls_server_config};
    let tls = tls_server_config(pki, true).unwrap();
    FileServer::start_with(dir, FileServerOptions::new().with_tls(tls))
        .unwrap()
        .url()
        .to_owned()
}

fn strata(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
    command
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("STRATA_CHART_REPO_CLIENT_CERT")
        .env_remove("STRATA_CHART_REPO_CLIENT_KEY")
        .env_remove("STRATA_CHART_REPO_CA")
        .stdin(Stdio::null());
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

#[test]
fn a_chart_repository_asking_for_a_client_certificate_is_read_with_the_flag_or_variable() {
    let program = strata_testkube::helm::ensure(&strata_testkube::target_dir()).unwrap();
    let pki = strata_testkube::Pki::generate().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();

    // The chart, packaged and indexed by helm, served over HTTPS.
    let chart = base.join("src/web");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: web\nversion: 1.0.0\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/settings.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\ndata:\n  chart: {{ .Chart.Version | quote }}\n",
    )
    .unwrap();
    let repo = base.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let url = serve(repo.clone(), &pki);
    helm(
        &program,
        base,
        &[
            "package",
            chart.to_str().unwrap(),
            "--destination",
            repo.to_str().unwrap(),
        ],
    );
    helm(
        &program,
        base,
        &["repo", "index", repo.to_str().unwrap(), "--url", &url],
    );

    // The stack: one Application of the chart.
    let stack = base.join("stack");
    std::fs::create_dir_all(stack.join("apps")).unwrap();
    std::fs::write(
        stack.join("apps/web.yaml"),
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web\n  namespace: argocd\nspec:\n  project: default\n  source:\n    repoURL: {url}\n    chart: web\n    targetRevision: 1.0.0\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: web\n"
        ),
    )
    .unwrap();
    let write = |name: &str, text: &str| {
        let path = base.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let ca = write("ca.pem", &pki.ca_pem);
    let cert = write("client.crt", &pki.admin.certificate_pem);
    let key = write("client.key", &pki.admin.key_pem);
    let stack_dir = stack.to_str().unwrap();
    let cache = |name: &str| base.join(name).to_str().unwrap().to_owned();

    // Without a client certificate the server refuses the handshake: an error naming the URL.
    let ca_flag = format!("{url}={ca}");
    let refused = strata(
        &[
            "plan",
            stack_dir,
            "--repo-cache",
            &cache("cache-none"),
            "--chart-repo-ca",
            &ca_flag,
        ],
        &[],
    );
    assert_ne!(refused.status.code(), Some(0), "{}", text(&refused));
    assert!(text(&refused).contains("127.0.0.1"), "{}", text(&refused));

    // With the flags.
    let cert_flag = format!("{url}={cert}");
    let key_flag = format!("{url}={key}");
    let planned = strata(
        &[
            "plan",
            stack_dir,
            "--repo-cache",
            &cache("cache-flags"),
            "--chart-repo-ca",
            &ca_flag,
            "--chart-repo-client-cert",
            &cert_flag,
            "--chart-repo-client-key",
            &key_flag,
        ],
        &[],
    );
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned));
    assert!(
        text(&planned).contains("ConfigMap/web/web-settings"),
        "{}",
        text(&planned)
    );

    // With the environment variables.
    let planned = strata(
        &["plan", stack_dir, "--repo-cache", &cache("cache-env")],
        &[
            ("STRATA_CHART_REPO_CA", ca_flag.clone()),
            ("STRATA_CHART_REPO_CLIENT_CERT", cert_flag.clone()),
            ("STRATA_CHART_REPO_CLIENT_KEY", key_flag.clone()),
        ],
    );
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned));
    assert!(
        text(&planned).contains("ConfigMap/web/web-settings"),
        "{}",
        text(&planned)
    );

    // A certificate without its key is refused before anything is fetched.
    let alone = strata(
        &[
            "plan",
            stack_dir,
            "--repo-cache",
            &cache("cache-alone"),
            "--chart-repo-client-cert",
            &cert_flag,
        ],
        &[],
    );
    assert_ne!(alone.status.code(), Some(0), "{}", text(&alone));
    assert!(
        text(&alone).contains("--chart-repo-client-key"),
        "{}",
        text(&alone)
    );
}
