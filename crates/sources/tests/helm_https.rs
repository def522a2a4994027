//! Charts from a Helm repository served over HTTPS on loopback (a rustls server with a
//! certificate from a CA generated for the test): trusted through the repository's CA data the
//! chart renders exactly as from the same repository over HTTP; an untrusted certificate is
//! an error naming the URL; `insecure` skips verification.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::sync::Arc;

use strata_sources::helm::repository::{ChartRepoError, ChartRepositories, RepositorySettings};
use strata_testkube::helm::ensure;

use crate::helm_repository::{
    application, chart_repository, helm_template, load, load_with, normalized, serve, serve_with,
};

fn tls_config(pki: &strata_testkube::Pki) -> Arc<rustls::ServerConfig> {
    strata_testkube::chart_server::tls_server_config(pki, false).unwrap()
}

#[test]
fn an_https_repository_chart_renders_as_over_http_and_untrusted_certificates_are_refused() {
    let helm = ensure(&strata_testkube::target_dir()).expect("helm");
    let base = tempfile::tempdir().unwrap();
    let repo = chart_repository(&helm, base.path());
    let (http_url, _) = serve(repo.clone());
    let pki = strata_testkube::Pki::generate().unwrap();
    let (https_url, log) = serve_with(repo.clone(), Some(tls_config(&pki)));
    assert!(https_url.starts_with("https://127.0.0.1:"));

    let over_http = load(base.path(), &application(&http_url, "metrics", "~1.2")).unwrap();
    let expected = helm_template(&helm, base.path(), &http_url, "~1.2");
    let http_objects = normalized(over_http.resources.iter().map(|r| r.manifest.clone()));
    assert_eq!(http_objects, expected);

    // Trusted through the repository's CA data; a fresh cache, so the archive is downloaded
    // over HTTPS.
    let trusted = tempfile::tempdir().unwrap();
    let ca = pki.ca_pem.clone();
    let over_https = load_with(
        trusted.path(),
        &application(&https_url, "metrics", "~1.2"),
        |r| r.with_chart_repository(&https_url, RepositorySettings::new().with_ca_data(ca)),
    )
    .unwrap();
    let https_objects = normalized(over_https.resources.iter().map(|r| r.manifest.clone()));
    assert_eq!(https_objects, http_objects);
    let location = over_https.resources[0].source.as_ref().unwrap().to_string();
    assert!(
        location.contains(&format!("{https_url}/metrics-1.2.0")),
        "{location}"
    );
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|p| p == "/metrics-1.2.0.tgz"),
        "downloaded over HTTPS"
    );

    // Not trusted: the handshake fails, and the error names the URL.
    let untrusted = tempfile::tempdir().unwrap();
    let err = load(
        untrusted.path(),
        &application(&https_url, "metrics", "1.2.0"),
    )
    .unwrap_err();
    assert!(
        err.contains(&format!("GET {https_url}/index.yaml")) && err.contains("metrics"),
        "{err}"
    );
    eprintln!("untrusted certificate: {err}");
    assert!(!untrusted.path().join("cache/helm-charts").exists());

    // `insecure`: no verification at all.
    let insecure = load_with(
        untrusted.path(),
        &application(&https_url, "metrics", "1.2.0"),
        |r| r.with_chart_repository(&https_url, RepositorySettings::new().with_insecure(true)),
    )
    .unwrap();
    assert_eq!(
        normalized(insecure.resources.iter().map(|r| r.manifest.clone())),
        http_objects
    );

    // A moved index is followed (a redirect to another path of the same server).
    let moved = base.path().join("moved");
    crate::support::copy_dir(&repo, &moved);
    std::fs::create_dir_all(moved.join("v2")).unwrap();
    std::fs::rename(moved.join("index.yaml"), moved.join("v2/index.yaml")).unwrap();
    std::fs::write(moved.join("index.yaml.redirect"), "/v2/index.yaml").unwrap();
    let (moved_url, moved_log) = serve_with(moved, Some(tls_config(&pki)));
    let ca = pki.ca_pem.clone();
    let followed = load_with(
        tempfile::tempdir().unwrap().path(),
        &application(&moved_url, "metrics", "~1.2"),
        |r| r.with_chart_repository(&moved_url, RepositorySettings::new().with_ca_data(ca)),
    )
    .unwrap();
    assert_eq!(
        normalized(followed.resources.iter().map(|r| r.manifest.clone())),
        http_objects
    );
    assert!(
        moved_log
            .lock()
            .unwrap()
            .iter()
            .any(|p| p == "/v2/index.yaml")
    );

    // A response larger than the limit is refused, naming the URL and the limit.
    let cache = tempfile::tempdir().unwrap();
    let mut charts = ChartRepositories::new(cache.path())
        .with_settings(&https_url, RepositorySettings::new().with_insecure(true));
    charts.max_bytes = 64;
    // Inside an async runtime too, as the CLI renders (reqwest's blocking client must not
    // start or stop its own runtime there).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let err = runtime
        .block_on(async { charts.fetch(&https_url, "metrics", "1.2.0") })
        .unwrap_err();
    assert!(
        matches!(err, ChartRepoError::TooLarge { limit: 64, .. })
            && err.to_string().contains(&format!("{https_url}/index.yaml")),
        "{err}"
    );

    // Credentials in the URL are sent, and never shown in an error.
    let with_secret = https_url.replace("https://", "https://robot:hunter2@");
    let err = load(
        tempfile::tempdir().unwrap().path(),
        &application(&with_secret, "metrics", "1.2.0"),
    )
    .unwrap_err();
    assert!(
        !err.contains("hunter2") && err.contains("robot:***@"),
        "{err}"
    );
}
