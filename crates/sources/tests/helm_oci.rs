//! Applications whose chart comes from an OCI registry: the real distribution registry
//! (built from the Go module proxy, pinned, see `strata_testkube::registry`) on loopback, the
//! charts pushed to it by the real `helm push`. The objects must equal what `helm template`
//! renders from the same registry; an exact version once fetched is read from the cache by
//! digest without the registry; a missing tag, a blob whose digest is not the manifest's and a
//! registry that wants credentials are errors naming them.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};
use strata_sources::helm::repository::RepositorySettings;
use strata_testkube::helm::ensure;
use strata_testkube::registry::{Registry, RegistryOptions};

use crate::helm_repository::{
    application, chart_repository, helm_env, helm_template_of, load_with, normalized, run,
};

/// The bcrypt hash (cost 5) of `s3cret-pass`, for the registry's htpasswd file.
const BCRYPT_S3CRET_PASS: &str = "$2a$05$K.4VYbLqag/BjseVaJ4OQu0VDNdukH4uRI6aI9kZ1nr0XMl7rb5Ki";

fn start(options: &RegistryOptions) -> Registry {
    let program = strata_testkube::registry::ensure(&strata_testkube::target_dir())
        .expect("the distribution registry");
    Registry::start(&program, options).unwrap()
}

/// `helm push` of each archive to `oci://<host>/charts` (plain HTTP).
fn push(helm: &Path, base: &Path, host: &str, archives: &[&Path], login: Option<(&str, &str)>) {
    if let Some((user, password)) = login {
        run(helm_env(
            Command::new(helm).args([
                "registry",
                "login",
                host,
                "--insecure",
                "--username",
                user,
                "--password",
                password,
            ]),
            base,
        ));
    }
    for archive in archives {
        run(helm_env(
            Command::new(helm)
                .arg("push")
                .arg(archive)
                .arg(format!("oci://{host}/charts"))
                .arg("--plain-http"),
            base,
        ));
    }
}

fn plain_http(
    host: &str,
) -> impl FnOnce(strata_sources::repo::Repositories) -> strata_sources::repo::Repositories {
    let prefix = format!("oci://{host}");
    move |r| r.with_chart_repository(&prefix, RepositorySettings::new().with_force_http(true))
}

#[test]
fn an_oci_chart_renders_as_helm_template_and_is_cached_by_digest() {
    let helm = ensure(&strata_testkube::target_dir()).expect("helm");
    let base = tempfile::tempdir().unwrap();
    let repo = chart_repository(&helm, base.path());
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
    let oci_url = format!("oci://{host}/charts");
    let chart_ref = format!("{oci_url}/metrics");
    let mut equal = 0;
    for (repo_url, revision, picked) in [
        (oci_url.clone(), "1.2.0", "1.2.0"),
        (oci_url.clone(), ">=1.0.0 <2.0.0", "1.3.0"),
        // ArgoCD's form for a repository with `enableOCI`: no scheme.
        (format!("{host}/charts"), "~1.2", "1.2.0"),
    ] {
        let source = load_with(
            base.path(),
            &application(&repo_url, "metrics", revision),
            plain_http(&host),
        )
        .unwrap();
        let expected =
            helm_template_of(&helm, base.path(), &[&chart_ref, "--plain-http"], revision);
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
    eprintln!("OCI charts: {equal} revisions equal to helm template oci://");
    let cached: Vec<String> = std::fs::read_dir(base.path().join("cache/helm-charts"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("sha256-"))
        .collect();
    let digest_120 = hex::encode(Sha256::digest(
        std::fs::read(repo.join("metrics-1.2.0.tgz")).unwrap(),
    ));
    assert_eq!(cached.len(), 2, "{cached:?}");
    assert!(
        cached.contains(&format!("sha256-{digest_120}.tgz")),
        "the layer's digest is the archive's: {cached:?}"
    );

    // A missing tag names the registry, the chart and the version.
    let err = load_with(
        base.path(),
        &application(&oci_url, "metrics", "9.9.9"),
        plain_http(&host),
    )
    .unwrap_err();
    eprintln!("missing tag: {err}");
    assert!(
        err.contains(&format!(
            "chart metrics version 9.9.9 not found in OCI registry {oci_url}"
        )),
        "{err}"
    );
    let err = load_with(
        base.path(),
        &application(&oci_url, "metrics", ">=5.0.0"),
        plain_http(&host),
    )
    .unwrap_err();
    assert!(err.contains("no version matches \">=5.0.0\""), "{err}");

    // With the registry gone, an exact version already fetched is read from the cache; a
    // range needs the registry's tag list.
    drop(registry);
    let source = load_with(
        base.path(),
        &application(&oci_url, "metrics", "1.2.0"),
        plain_http(&host),
    )
    .unwrap();
    assert_eq!(source.resources.len(), 3);
    let err = load_with(
        base.path(),
        &application(&oci_url, "metrics", "~1.2"),
        plain_http(&host),
    )
    .unwrap_err();
    assert!(
        err.contains(&format!("GET http://{host}/v2/charts/metrics/tags/list")),
        "{err}"
    );
}

#[test]
fn a_tampered_oci_blob_is_refused_and_credentials_are_sent() {
    let helm = ensure(&strata_testkube::target_dir()).expect("helm");
    let base = tempfile::tempdir().unwrap();
    let repo = chart_repository(&helm, base.path());
    let registry = start(&RegistryOptions::default().with_user("robot", BCRYPT_S3CRET_PASS));
    let host = registry.host();
    push(
        &helm,
        base.path(),
        &host,
        &[&repo.join("metrics-1.2.0.tgz")],
        Some(("robot", "s3cret-pass")),
    );
    let oci_url = format!("oci://{host}/charts");

    // Anonymous: the registry's 401 is an error naming the URL.
    let err = load_with(
        base.path(),
        &application(&oci_url, "metrics", "1.2.0"),
        plain_http(&host),
    )
    .unwrap_err();
    eprintln!("anonymous: {err}");
    assert!(
        err.contains(&format!(
            "GET http://{host}/v2/charts/metrics/manifests/1.2.0: 401"
        )),
        "{err}"
    );
    // Basic credentials from the repository settings.
    let prefix = format!("oci://{host}");
    let with_login = |r: strata_sources::repo::Repositories| {
        r.with_chart_repository(
            &prefix,
            RepositorySettings::new()
                .with_force_http(true)
                .with_credentials("robot", "s3cret-pass"),
        )
    };
    let source = load_with(
        base.path(),
        &application(&oci_url, "metrics", "1.2.0"),
        with_login,
    )
    .unwrap();
    assert_eq!(source.resources.len(), 3);
    // ... or from the URL; a wrong password is never shown.
    let other = tempfile::tempdir().unwrap();
    let err = load_with(
        other.path(),
        &application(
            &format!("oci://robot:wrong-pass@{host}/charts"),
            "metrics",
            "1.2.0",
        ),
        plain_http(&host),
    )
    .unwrap_err();
    eprintln!("wrong password: {err}");
    assert!(!err.contains("wrong-pass") && err.contains("401"), "{err}");

    // The blob replaced in the registry's storage: its digest is not the manifest's.
    let digest = hex::encode(Sha256::digest(
        std::fs::read(repo.join("metrics-1.2.0.tgz")).unwrap(),
    ));
    let blob = registry
        .storage()
        .join("docker/registry/v2/blobs/sha256")
        .join(&digest[..2])
        .join(&digest)
        .join("data");
    assert!(blob.is_file(), "{}", blob.display());
    std::fs::write(
        &blob,
        std::fs::read(repo.join("metrics-1.3.0.tgz")).unwrap(),
    )
    .unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let prefix = format!("oci://{host}");
    let err = load_with(
        fresh.path(),
        &application(&oci_url, "metrics", "1.2.0"),
        |r| {
            r.with_chart_repository(
                &prefix,
                RepositorySettings::new()
                    .with_force_http(true)
                    .with_credentials("robot", "s3cret-pass"),
            )
        },
    )
    .unwrap_err();
    assert!(
        err.contains("metrics") && err.contains("digest mismatch") && err.contains(&digest),
        "{err}"
    );
    eprintln!("tampered blob: {err}");
    assert!(!fresh.path().join("cache/helm-charts").exists());
}
