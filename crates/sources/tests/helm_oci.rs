//! Applications whose chart comes from an OCI registry: the real distribution registry
//! (built from the Go module proxy, pinned, see `strata_testkube::registry`) on loopback, the
//! charts pushed to it by the real `helm push`. The objects must equal what `helm template`
//! renders from the same registry; an exact version once fetched is read from the cache by
//! digest without the registry; a missing tag, a blob whose digest is not the manifest's and a
//! registry that wants credentials are errors naming them; a registry behind token
//! authentication (`WWW-Authenticate: Bearer realm=...`) is read with a token from its realm.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use strata_sources::helm::repository::RepositorySettings;
use strata_testkube::helm::ensure;
use strata_testkube::registry::{Registry, RegistryOptions};

use crate::helm_repository::{
    application, chart_repository, helm_env, helm_template_of, load_with, normalized, run,
};

/// The bcrypt hash (cost 5) of `s3cret-pass`, for the registry's htpasswd file.
const BCRYPT_S3CRET_PASS: &str = "$2a$05$K.4VYbLqag/BjseVaJ4OQu0VDNdukH4uRI6aI9kZ1nr0XMl7rb5Ki";

pub(crate) fn start(options: &RegistryOptions) -> Registry {
    let program = strata_testkube::registry::ensure(&strata_testkube::target_dir())
        .expect("the distribution registry");
    Registry::start(&program, options).unwrap()
}

/// `helm push` of each archive to `oci://<host>/charts` (plain HTTP).
pub(crate) fn push(
    helm: &Path,
    base: &Path,
    host: &str,
    archives: &[&Path],
    login: Option<(&str, &str)>,
) {
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
        // ArgoCD's form for a repository with `enableOCI`: no scheme (an IP address with a
        // port, which ArgoCD reads as OCI only with `enableOCI`).
        (format!("{host}/charts"), "~1.2", "1.2.0"),
        // A host name with a port: ArgoCD reads it as OCI without `enableOCI`.
        (
            format!("localhost:{}/charts", registry.address().port()),
            "1.3.0",
            "1.3.0",
        ),
    ] {
        let enable_oci = repo_url.starts_with(&host);
        let source = load_with(
            base.path(),
            &application(&repo_url, "metrics", revision),
            |r| {
                r.with_chart_repository(
                    &format!("oci://{host}"),
                    RepositorySettings::new()
                        .with_force_http(true)
                        .with_enable_oci(enable_oci),
                )
                .with_chart_repository(
                    &format!("oci://localhost:{}", registry.address().port()),
                    RepositorySettings::new().with_force_http(true),
                )
            },
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

    // Without `enableOCI`, an IP address and port without a scheme is no URL ArgoCD reads:
    // refused, naming the field.
    let err = load_with(
        base.path(),
        &application(&format!("{host}/charts"), "metrics", "1.3.0"),
        plain_http(&host),
    )
    .unwrap_err();
    assert!(
        err.contains("enableOCI") && err.contains(&format!("{host}/charts")),
        "{err}"
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

/// A token gate in front of the registry at `upstream`, as registries with token
/// authentication answer: a request without `Authorization: Bearer <token>` gets a 401 with a
/// `WWW-Authenticate: Bearer realm=...` challenge; the realm (`/token`) gives the token to
/// `robot:s3cret-pass` for the scope asked; authorized requests are passed to the registry.
/// Records every request line with how it was authorized.
fn token_gate(upstream: std::net::SocketAddr) -> (String, Arc<Mutex<Vec<String>>>) {
    use base64::Engine;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    let realm = format!("http://{host}/token");
    let login = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("robot:s3cret-pass")
    );
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let (mut authorization, mut accept) = (String::new(), String::new());
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':') {
                    match name.trim().to_ascii_lowercase().as_str() {
                        "authorization" => authorization = value.trim().to_string(),
                        "accept" => accept = value.trim().to_string(),
                        _ => {}
                    }
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let scheme = authorization
                .split(' ')
                .next()
                .unwrap_or("none")
                .to_string();
            seen.lock().unwrap().push(format!("{scheme} {path}"));
            let response = if path.starts_with("/token?") {
                if authorization == login
                    && path.contains("service=strata-gate")
                    && path.contains("scope=repository%3Acharts%2Fmetrics%3Apull")
                {
                    let body = r#"{"token":"tok-123"}"#;
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .into_bytes()
                } else {
                    b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_vec()
                }
            } else if authorization == "Bearer tok-123" {
                let mut registry = TcpStream::connect(upstream).unwrap();
                write!(
                    registry,
                    "GET {path} HTTP/1.1\r\nHost: {upstream}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
                )
                .unwrap();
                let mut answer = Vec::new();
                registry.read_to_end(&mut answer).unwrap();
                answer
            } else {
                format!(
                    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"{realm}\",service=\"strata-gate\",scope=\"repository:charts/metrics:pull\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .into_bytes()
            };
            let _ = stream.write_all(&response);
        }
    });
    (host, log)
}

#[test]
fn a_registry_asking_for_a_bearer_token_gets_one_from_its_realm() {
    let helm = ensure(&strata_testkube::target_dir()).expect("helm");
    let base = tempfile::tempdir().unwrap();
    let repo = chart_repository(&helm, base.path());
    let registry = start(&RegistryOptions::default());
    push(
        &helm,
        base.path(),
        &registry.host(),
        &[
            &repo.join("metrics-1.2.0.tgz"),
            &repo.join("metrics-1.3.0.tgz"),
        ],
        None,
    );
    let (gate, log) = token_gate(registry.address());
    let oci_url = format!("oci://{gate}/charts");
    let prefix = format!("oci://{gate}");
    let settings = |user: &str, password: &str| {
        RepositorySettings::new()
            .with_force_http(true)
            .with_credentials(user, password)
    };
    let source = load_with(
        base.path(),
        &application(&oci_url, "metrics", "~1.2"),
        |r| r.with_chart_repository(&prefix, settings("robot", "s3cret-pass")),
    )
    .unwrap();
    let expected = helm_template_of(
        &helm,
        base.path(),
        &[
            &format!("oci://{}/charts/metrics", registry.host()),
            "--plain-http",
        ],
        "~1.2",
    );
    assert_eq!(
        normalized(source.resources.iter().map(|r| r.manifest.clone())),
        expected
    );
    let requests = log.lock().unwrap().clone();
    eprintln!("token gate: {requests:#?}");
    // Challenged once, a token asked for with the credentials, then every request with it.
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.starts_with("Basic /token?"))
            .count(),
        1,
        "{requests:#?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("Bearer /v2/charts/metrics/tags/list")),
        "{requests:#?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("Bearer /v2/charts/metrics/blobs/sha256:")),
        "{requests:#?}"
    );

    // Credentials the token service refuses: an error naming it, the password not shown.
    let err = load_with(
        tempfile::tempdir().unwrap().path(),
        &application(&oci_url, "metrics", "1.2.0"),
        |r| r.with_chart_repository(&prefix, settings("robot", "not-the-pass")),
    )
    .unwrap_err();
    assert!(
        err.contains(&format!(
            "the token service http://{gate}/token answered 401"
        )) && !err.contains("not-the-pass"),
        "{err}"
    );
}

/// One HTTP/1.1 request to the registry at `host` (plain, `Connection: close`): the status
/// and the `Location` header of the answer.
fn registry_request(
    host: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, String) {
    let mut stream = TcpStream::connect(host).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut answer = String::new();
    BufReader::new(stream).read_to_string(&mut answer).ok();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let location = answer
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(name, _)| name.eq_ignore_ascii_case("location"))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, location)
}

/// Pushes `content` as a blob of the repository `name` (an upload started, then finished
/// with the digest); its digest.
fn push_blob(host: &str, name: &str, content: &[u8]) -> String {
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(content)));
    let (status, location) = registry_request(
        host,
        "POST",
        &format!("/v2/{name}/blobs/uploads/"),
        "application/octet-stream",
        b"",
    );
    assert_eq!(status, 202, "upload start: {location}");
    let location = location
        .strip_prefix(&format!("http://{host}"))
        .unwrap_or(&location)
        .to_string();
    let separator = if location.contains('?') { '&' } else { '?' };
    let (status, _) = registry_request(
        host,
        "PUT",
        &format!("{location}{separator}digest={digest}"),
        "application/octet-stream",
        content,
    );
    assert_eq!(status, 201, "upload of {digest}");
    digest
}

/// ArgoCD 3 reads an `oci://` repoURL as an OCI artifact (the repository repoURL names, at
/// `targetRevision`), before and whatever its `chart`: an artifact that is a Helm chart renders
/// as `helm template` of it, `chart` ignored; the split form (`oci://host/charts` +
/// `chart: metrics`) is the artifact `charts`, which is not there, and the error says how to
/// write it. What Strata does not render is refused naming the field: a `path` inside the
/// artifact, an artifact of plain manifests (pushed to the real registry here), a repoURL that
/// names no repository.
#[test]
fn an_oci_repo_url_is_the_artifact_itself_and_its_chart_is_ignored_as_in_argocd_3() {
    let helm = ensure(&strata_testkube::target_dir()).expect("helm");
    let base = tempfile::tempdir().unwrap();
    let repo = chart_repository(&helm, base.path());
    let registry = start(&RegistryOptions::default());
    let host = registry.host();
    push(
        &helm,
        base.path(),
        &host,
        &[&repo.join("metrics-1.2.0.tgz")],
        None,
    );
    let app = |source: &str| {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: mon\nspec:\n  project: default\n  source:\n{source}    targetRevision: 1.2.0\n  destination:\n    namespace: monitoring\n"
        )
    };
    let artifact = format!("oci://{host}/charts/metrics");
    // The artifact with a `chart` ArgoCD ignores: rendered as `helm template` renders it.
    let with_chart = application(&format!("oci://{host}/charts"), "metrics", "1.2.0")
        .replace("    path: .\n", "    path: .\n    chart: not-read\n");
    assert!(with_chart.contains("chart: not-read"), "{with_chart}");
    let source = load_with(base.path(), &with_chart, plain_http(&host)).unwrap();
    let expected = helm_template_of(&helm, base.path(), &[&artifact, "--plain-http"], "1.2.0");
    let actual = normalized(source.resources.iter().map(|r| r.manifest.clone()));
    assert_eq!(actual.len(), 3, "{actual:#?}");
    assert_eq!(actual, expected);
    let location = source.resources[0].source.as_ref().unwrap().to_string();
    assert!(
        location.contains(&format!("{artifact}-1.2.0")),
        "{location}"
    );

    // The split form: the artifact `charts` is not in the registry.
    let err = load_with(
        base.path(),
        &app(&format!(
            "    repoURL: oci://{host}/charts\n    chart: metrics\n"
        )),
        plain_http(&host),
    )
    .unwrap_err();
    eprintln!("split form: {err}");
    assert!(
        err.contains("ignores chart: metrics")
            && err.contains(&format!(
                "write repoURL: oci://{host}/charts/metrics with path: ."
            ))
            && err.contains("not found in OCI registry"),
        "{err}"
    );

    // A path inside the artifact.
    let err = load_with(
        base.path(),
        &app(&format!("    repoURL: {artifact}\n    path: templates\n")),
        plain_http(&host),
    )
    .unwrap_err();
    assert!(
        err.contains("spec.source.path templates: a path inside an OCI artifact is not supported"),
        "{err}"
    );

    // A repoURL naming the registry only.
    let err = load_with(
        base.path(),
        &app(&format!("    repoURL: oci://{host}\n    path: .\n")),
        plain_http(&host),
    )
    .unwrap_err();
    assert!(
        err.contains("spec.source.repoURL") && err.contains("names a repository"),
        "{err}"
    );

    // An artifact of plain manifests (as `oras push` makes them): refused, naming its media
    // types.
    let name = "manifests/guestbook";
    let config = push_blob(&host, name, b"{}");
    let layer_bytes = b"not read: the manifest is refused first".to_vec();
    let layer = push_blob(&host, name, &layer_bytes);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": layer_bytes.len()}],
    })
    .to_string();
    let (status, _) = registry_request(
        &host,
        "PUT",
        &format!("/v2/{name}/manifests/1.2.0"),
        "application/vnd.oci.image.manifest.v1+json",
        manifest.as_bytes(),
    );
    assert_eq!(status, 201, "manifest");
    let err = load_with(
        base.path(),
        &app(&format!("    repoURL: oci://{host}/{name}\n    path: .\n")),
        plain_http(&host),
    )
    .unwrap_err();
    eprintln!("plain manifests: {err}");
    assert!(
        err.contains("the artifact is not a Helm chart")
            && err.contains("application/vnd.oci.image.layer.v1.tar+gzip")
            && err.contains("are not supported"),
        "{err}"
    );
}
