//! `strata controller` and `strata app` against a real API server: a manual Application is
//! reported OutOfSync, synced by `strata app sync`, a signed GitHub push refreshes it (an
//! unsigned one is refused), `/metrics` shows it, and SIGTERM stops the controller cleanly.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use kube::api::{Api, DynamicObject, PostParams};
use serde_json::{Value, json};

const SECRET: &str = "push-secret";

fn strata(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn commit(dir: &Path, value: &str) -> String {
    std::fs::create_dir_all(dir.join("web")).unwrap();
    std::fs::write(
        dir.join("web/settings.yaml"),
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  v: \"{value}\"\n"),
    )
    .unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "--quiet", "-m", value]);
    git(dir, &["rev-parse", "HEAD"])
}

/// One HTTP/1.1 request on loopback; returns the status and body.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Controller(Child);

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn app_json(kubeconfig: &Path, server: &str, name: &str) -> Value {
    let out = strata(
        kubeconfig,
        &["app", "get", name, "-o", "json", "--server", server],
    );
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn signature(body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let bytes = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strata_app_syncs_a_manual_application_and_a_signed_push_refreshes_it() {
    let plane = strata_testkube::shared();
    let kubeconfig = plane.kubeconfig_path();
    let client = plane.client().await.unwrap();
    let control = plane.namespace(&client, "cli-argocd").await.unwrap();
    let target = plane.namespace(&client, "cli-web").await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("apps");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "--quiet", "-b", "main"]);
    let first = commit(&repo, "1");
    let repo_url = format!("file://{}", repo.display());

    let port = free_port();
    let server = format!("http://127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args([
            "controller",
            "--namespace",
            &control,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--poll-interval",
            "1h",
            "--repo-cache",
            work.path().join("cache").to_str().unwrap(),
        ])
        .env("KUBECONFIG", kubeconfig)
        .env("STRATA_WEBHOOK_SECRET_GITHUB", SECRET)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut controller = Controller(child);
    eventually("/readyz", || {
        TcpStream::connect(("127.0.0.1", port))
            .ok()
            .and_then(|_| (http(port, "GET", "/readyz", &[], "").0 == 200).then_some(()))
    });

    let app: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "cli-web"},
        "spec": {"project": "default",
                 "source": {"repoURL": repo_url, "path": "web", "targetRevision": "main"},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": target}}
    }))
    .unwrap();
    let apps: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &control,
        &strata_gitops::controller::argo_resource("Application", "applications"),
    );
    apps.create(&PostParams::default(), &app).await.unwrap();

    // Manual: reported, not synced.
    let status = eventually("OutOfSync", || {
        let app = app_json(kubeconfig, &server, "cli-web");
        (app["status"]["sync"]["status"] == "OutOfSync").then_some(app)
    });
    assert_eq!(status["status"]["sync"]["revision"], first.as_str());
    let list = strata(kubeconfig, &["app", "list", "--server", &server]);
    assert!(list.status.success(), "{}", text(&list));
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("cli-web") && l.contains("OutOfSync")),
        "{listed}"
    );

    // `strata app sync`.
    let synced = strata(kubeconfig, &["app", "sync", "cli-web", "--server", &server]);
    assert!(synced.status.success(), "{}", text(&synced));
    assert!(
        String::from_utf8_lossy(&synced.stdout).contains("Succeeded"),
        "{}",
        text(&synced)
    );
    let config_maps: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(client.clone(), &target);
    let value = |cm: Option<k8s_openapi::api::core::v1::ConfigMap>| {
        cm.and_then(|c| c.data).and_then(|d| d.get("v").cloned())
    };
    assert_eq!(
        value(config_maps.get_opt("settings").await.unwrap()).as_deref(),
        Some("1")
    );

    // A push: unsigned refused, signed accepted and the Application refreshed.
    let second = commit(&repo, "2");
    let payload = json!({
        "ref": "refs/heads/main",
        "after": second,
        "repository": {"clone_url": repo_url, "html_url": repo_url}
    })
    .to_string();
    let github = |signed: bool| {
        let mut headers = vec![
            ("X-GitHub-Event", "push".to_owned()),
            ("Content-Type", "application/json".to_owned()),
        ];
        if signed {
            headers.push(("X-Hub-Signature-256", signature(&payload)));
        }
        http(port, "POST", "/api/webhook", &headers, &payload)
    };
    assert_eq!(github(false).0, 401, "an unsigned push is refused");
    let (status_code, body) = github(true);
    assert!((200..300).contains(&status_code), "{status_code} {body}");
    eventually("the pushed revision compared", || {
        let app = app_json(kubeconfig, &server, "cli-web");
        (app["status"]["sync"]["revision"] == second.as_str()
            && app["status"]["sync"]["status"] == "OutOfSync")
            .then_some(())
    });
    assert_eq!(
        value(config_maps.get_opt("settings").await.unwrap()).as_deref(),
        Some("1"),
        "a manual Application is not synced by a push"
    );

    // A dry run changes nothing.
    let dry = strata(
        kubeconfig,
        &["app", "sync", "cli-web", "--dry-run", "--server", &server],
    );
    assert!(dry.status.success(), "{}", text(&dry));
    assert_eq!(
        value(config_maps.get_opt("settings").await.unwrap()).as_deref(),
        Some("1")
    );

    // Metrics and errors.
    let (code, metrics) = http(port, "GET", "/metrics", &[], "");
    assert_eq!(code, 200);
    assert!(
        metrics.lines().any(|l| l.starts_with("argocd_app_info{")
            && l.contains("name=\"cli-web\"")
            && l.contains("sync_status=\"OutOfSync\"")),
        "{metrics}"
    );
    let missing = strata(
        kubeconfig,
        &["app", "get", "no-such-app", "--server", &server],
    );
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no-such-app"),
        "{}",
        text(&missing)
    );

    // SIGTERM: a clean stop.
    let pid = controller.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(status) = controller.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the controller did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    if let Some(mut err) = controller.0.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    assert!(exit.success(), "exit {exit:?}\n{stderr}");
}
