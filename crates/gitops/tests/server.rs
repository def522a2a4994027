//! The controller's endpoints, driven in-process.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use strata_gitops::controller::RequestError;
use strata_gitops::server::{Command, ServerState, SyncRequest, WebhookSecrets, router};
use strata_gitops::status::{
    AppOrigin, AppRecord, AppStatus, HealthState, OperationPhase, StatusStore, SyncState,
    SyncStatusCode,
};
use tokio::sync::mpsc;
use tower::ServiceExt;

const GITHUB_SECRET: &str = "gh-hook-secret";
const GITLAB_SECRET: &str = "gl-hook-token";

fn record(name: &str) -> AppRecord {
    AppRecord {
        name: name.into(),
        namespace: "argocd".into(),
        project: "platform".into(),
        origin: AppOrigin::Cluster,
        labels: serde_json::Map::new(),
        annotations: serde_json::Map::new(),
        spec: json!({
            "project": "platform",
            "source": {"repoURL": "https://github.com/acme/deploy.git", "path": "guestbook", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"},
        }),
        status: AppStatus {
            sync: SyncState {
                status: SyncStatusCode::OutOfSync,
                revision: Some("abc123".into()),
                revisions: Vec::new(),
            },
            health: HealthState {
                status: "Degraded".into(),
                message: None,
            },
            ..AppStatus::default()
        },
    }
}

fn setup() -> (ServerState, mpsc::Receiver<Command>) {
    let store = StatusStore::new();
    store.put(record("guestbook"));
    let (commands, received) = mpsc::channel(8);
    let state = ServerState::new(store, commands).with_webhook_secrets(
        WebhookSecrets::new()
            .with_github(GITHUB_SECRET)
            .with_gitlab(GITLAB_SECRET),
    );
    (state, received)
}

async fn call(state: &ServerState, request: Request<Body>) -> (StatusCode, String) {
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn github_signature(body: &[u8], secret: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn github_push(git_ref: &str) -> Vec<u8> {
    json!({
        "ref": git_ref,
        "after": "0123456789abcdef",
        "repository": {
            "clone_url": "https://github.com/acme/deploy.git",
            "html_url": "https://github.com/acme/deploy",
            "ssh_url": "git@github.com:acme/deploy.git",
        },
    })
    .to_string()
    .into_bytes()
}

fn github_request(event: &str, body: Vec<u8>, signature: Option<String>) -> Request<Body> {
    let mut builder = Request::post("/api/webhook")
        .header("content-type", "application/json")
        .header("X-GitHub-Event", event);
    if let Some(signature) = signature {
        builder = builder.header("X-Hub-Signature-256", signature);
    }
    builder.body(Body::from(body)).unwrap()
}

#[tokio::test]
async fn a_signed_github_push_sends_repo_changed_with_the_branch() {
    let (state, mut commands) = setup();
    let body = github_push("refs/heads/main");
    let signature = github_signature(&body, GITHUB_SECRET);
    let (status, text) = call(&state, github_request("push", body, Some(signature))).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    match commands.try_recv().unwrap() {
        Command::RepoChanged { repo_url, revision } => {
            assert_eq!(repo_url, "https://github.com/acme/deploy.git");
            assert_eq!(revision.as_deref(), Some("main"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(commands.try_recv().is_err());
}

#[tokio::test]
async fn wrongly_signed_or_unsigned_github_pushes_are_refused() {
    let (state, mut commands) = setup();
    let body = github_push("refs/heads/main");
    let wrong = github_signature(&body, "another-secret");
    let (status, text) = call(&state, github_request("push", body.clone(), Some(wrong))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!text.contains(GITHUB_SECRET));

    // Signed, then tampered with.
    let signature = github_signature(&body, GITHUB_SECRET);
    let tampered = github_push("refs/heads/evil");
    let (status, _) = call(&state, github_request("push", tampered, Some(signature))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, text) = call(&state, github_request("push", body.clone(), None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(text.contains("X-Hub-Signature-256"), "{text}");

    let (status, _) = call(
        &state,
        github_request("push", body, Some("sha256=zz".into())),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        commands.try_recv().is_err(),
        "nothing is sent for refused webhooks"
    );
}

#[tokio::test]
async fn unsigned_pushes_are_accepted_without_a_secret() {
    let store = StatusStore::new();
    let (commands, mut received) = mpsc::channel(8);
    let state = ServerState::new(store, commands);
    let (status, _) = call(
        &state,
        github_request("push", github_push("refs/tags/v1.2.0"), None),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(matches!(
        received.try_recv().unwrap(),
        Command::RepoChanged { revision: Some(tag), .. } if tag == "v1.2.0"
    ));
}

#[tokio::test]
async fn github_ping_and_unknown_events() {
    let (state, mut commands) = setup();
    let body = b"{\"zen\": \"Keep it logically awesome.\"}".to_vec();
    let signature = github_signature(&body, GITHUB_SECRET);
    let (status, _) = call(
        &state,
        github_request("ping", body.clone(), Some(signature.clone())),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let (status, text) = call(&state, github_request("issues", body, Some(signature))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("issues"), "{text}");

    let request = Request::post("/api/webhook")
        .body(Body::from("{}"))
        .unwrap();
    let (status, text) = call(&state, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("X-GitHub-Event"), "{text}");
    assert!(commands.try_recv().is_err());
}

fn gitlab_request(event: &str, token: Option<&str>) -> Request<Body> {
    let body = json!({
        "object_kind": "tag_push",
        "ref": "refs/tags/v2.0.0",
        "project": {
            "git_http_url": "https://gitlab.example/acme/deploy.git",
            "git_ssh_url": "git@gitlab.example:acme/deploy.git",
            "web_url": "https://gitlab.example/acme/deploy",
        },
    });
    let mut builder = Request::post("/api/webhook").header("X-Gitlab-Event", event);
    if let Some(token) = token {
        builder = builder.header("X-Gitlab-Token", token);
    }
    builder.body(Body::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn gitlab_pushes_are_checked_by_token() {
    let (state, mut commands) = setup();
    let (status, _) = call(&state, gitlab_request("Tag Push Hook", Some("wrong"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&state, gitlab_request("Push Hook", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(commands.try_recv().is_err());

    let (status, text) = call(&state, gitlab_request("Tag Push Hook", Some(GITLAB_SECRET))).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    match commands.try_recv().unwrap() {
        Command::RepoChanged { repo_url, revision } => {
            assert_eq!(repo_url, "https://gitlab.example/acme/deploy.git");
            assert_eq!(revision.as_deref(), Some("v2.0.0"));
        }
        other => panic!("unexpected {other:?}"),
    }

    let (status, text) = call(
        &state,
        gitlab_request("Merge Request Hook", Some(GITLAB_SECRET)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("Merge Request Hook"), "{text}");
}

#[tokio::test]
async fn metrics_show_app_info_from_the_store_and_recorded_counters() {
    let (state, _commands) = setup();
    state
        .metrics
        .record_sync(&record("guestbook"), OperationPhase::Succeeded);
    state.metrics.observe_reconcile(&record("guestbook"), 0.7);
    state
        .metrics
        .observe_git_fetch("https://github.com/acme/deploy.git", 1.5);
    state
        .metrics
        .record_k8s_request("guestbook", "PATCH", Some(200));

    let (status, text) = call(
        &state,
        Request::get("/metrics").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let info = text
        .lines()
        .find(|l| l.starts_with("argocd_app_info{"))
        .unwrap_or_else(|| panic!("no app_info in {text}"));
    for label in [
        "name=\"guestbook\"",
        "namespace=\"argocd\"",
        "project=\"platform\"",
        "repo=\"https://github.com/acme/deploy.git\"",
        "dest_server=\"https://kubernetes.default.svc\"",
        "dest_namespace=\"web\"",
        "sync_status=\"OutOfSync\"",
        "health_status=\"Degraded\"",
    ] {
        assert!(info.contains(label), "{label} missing in {info}");
    }
    assert!(info.ends_with(" 1"), "{info}");
    assert!(
        !text.contains(".."),
        "help texts end with one period: {text}"
    );
    assert!(text.contains(
        "argocd_app_sync_total{name=\"guestbook\",namespace=\"argocd\",project=\"platform\",phase=\"Succeeded\"} 1"
    ));
    assert!(text.contains("argocd_app_reconcile_bucket{le=\"1.0\",namespace=\"argocd\",dest_server=\"https://kubernetes.default.svc\"} 1"), "{text}");
    assert!(text.contains("argocd_git_request_duration_seconds_count{repo=\"https://github.com/acme/deploy.git\",request_type=\"fetch\"} 1"), "{text}");
    assert!(text.contains("argocd_app_k8s_request_total{name=\"guestbook\",verb=\"PATCH\",response_code=\"200\"} 1"), "{text}");

    // The store changes; the next scrape follows it.
    state.store.remove("guestbook");
    let (_, text) = call(
        &state,
        Request::get("/metrics").body(Body::empty()).unwrap(),
    )
    .await;
    assert!(!text.contains("argocd_app_info{"), "{text}");
}

#[tokio::test]
async fn healthz_and_readyz() {
    let (state, _commands) = setup();
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    assert_eq!(call(&state, get("/healthz")).await.0, StatusCode::OK);
    assert_eq!(
        call(&state, get("/readyz")).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    state.ready.set_ready();
    assert_eq!(call(&state, get("/readyz")).await.0, StatusCode::OK);
    state.ready.set_not_ready();
    assert_eq!(
        call(&state, get("/readyz")).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn applications_are_listed_and_read() {
    let (state, _commands) = setup();
    let (status, text) = call(
        &state,
        Request::get("/api/v1/applications")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let list: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(list["items"][0]["metadata"]["name"], "guestbook");
    assert_eq!(list["items"][0]["status"]["sync"]["status"], "OutOfSync");

    let (status, text) = call(
        &state,
        Request::get("/api/v1/applications/guestbook")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["kind"],
        "Application"
    );

    let (status, text) = call(
        &state,
        Request::get("/api/v1/applications/nope")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(text.contains("application nope not found"), "{text}");
}

#[tokio::test]
async fn sync_and_rollback_round_trip_through_the_controller() {
    let (state, mut commands) = setup();
    // A fake controller answering commands.
    let controller = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(command) = commands.recv().await {
            match command {
                Command::Sync {
                    app,
                    options,
                    reply,
                } => {
                    seen.push(format!("sync {app}"));
                    assert_eq!(
                        options,
                        SyncRequest {
                            prune: true,
                            dry_run: false,
                            resources: vec!["apps/Deployment/web/guestbook".into()],
                            revision: Some("v2".into()),
                        }
                    );
                    let _ = reply.send(Ok(
                        json!({"phase": "Succeeded", "syncResult": {"revision": "v2"}}),
                    ));
                }
                Command::Rollback { app, id, reply } => {
                    seen.push(format!("rollback {app} {id}"));
                    let _ = reply.send(Err(RequestError::NoHistoryEntry { app, id }));
                }
                Command::Refresh { app, hard } => seen.push(format!("refresh {app:?} {hard}")),
                other => panic!("unexpected {other:?}"),
            }
        }
        seen
    });

    let sync = Request::post("/api/v1/applications/guestbook/sync")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"prune": true, "resources": ["apps/Deployment/web/guestbook"], "revision": "v2"}).to_string(),
        ))
        .unwrap();
    let (status, text) = call(&state, sync).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["phase"],
        "Succeeded"
    );

    let rollback = Request::post("/api/v1/applications/guestbook/rollback")
        .body(Body::from("{\"id\": 7}"))
        .unwrap();
    let (status, text) = call(&state, rollback).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(text.contains("no history entry 7"), "{text}");

    let refresh = Request::post("/api/v1/applications/guestbook/refresh?hard=true")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&state, refresh).await.0, StatusCode::ACCEPTED);

    let unknown = Request::post("/api/v1/applications/nope/sync")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&state, unknown).await.0, StatusCode::NOT_FOUND);
    let bad = Request::post("/api/v1/applications/guestbook/sync")
        .body(Body::from("{\"prune\": \"yes\"}"))
        .unwrap();
    assert_eq!(call(&state, bad).await.0, StatusCode::BAD_REQUEST);

    drop(state);
    let seen = controller.await.unwrap();
    assert_eq!(
        seen,
        [
            "sync guestbook",
            "rollback guestbook 7",
            "refresh Some(\"guestbook\") true"
        ]
    );
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let (state, mut commands) = setup();
    let state = state.with_body_limit(1024);
    let mut body = github_push("refs/heads/main");
    body.extend(std::iter::repeat_n(b' ', 4096));
    let signature = github_signature(&body, GITHUB_SECRET);
    let (status, _) = call(&state, github_request("push", body, Some(signature))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(commands.try_recv().is_err());
}

#[tokio::test]
async fn serve_answers_on_a_bound_port_and_shuts_down() {
    let (state, _commands) = setup();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(strata_gitops::server::serve_on(
        listener,
        state,
        async move {
            let _ = stopped.await;
        },
    ));
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// A signed GHCR `package` event (a chart pushed to `ghcr.io/acme/charts/web` as `1.3.0`)
/// asks the controller to refresh what uses that registry repository; one that asks for
/// nothing (a package updated) is answered and ignored.
#[tokio::test]
async fn a_ghcr_package_event_sends_registry_changed() {
    let (state, mut commands) = setup();
    let package = |action: &str| {
        json!({
            "action": action,
            "package": {
                "name": "charts/web",
                "package_type": "container",
                "owner": {"login": "acme"},
                "package_version": {"container_metadata": {"tag": {"name": "1.3.0"}}},
            },
        })
        .to_string()
        .into_bytes()
    };
    let body = package("published");
    let signature = github_signature(&body, GITHUB_SECRET);
    let (status, text) = call(&state, github_request("package", body, Some(signature))).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    match commands.try_recv().unwrap() {
        Command::RegistryChanged(event) => {
            assert_eq!(event.repo_url, "oci://ghcr.io/acme/charts/web");
            assert_eq!(event.tag, "1.3.0");
            assert!(event.matches("oci://ghcr.io/acme/charts", Some("web"), "~1.3"));
        }
        other => panic!("unexpected {other:?}"),
    }
    let body = package("updated");
    let signature = github_signature(&body, GITHUB_SECRET);
    let (status, text) = call(&state, github_request("package", body, Some(signature))).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("ignored"), "{text}");
    assert!(commands.try_recv().is_err());
}

/// A Harbor `PUSH_ARTIFACT` delivery carrying the Harbor secret as its `Authorization` (as
/// ArgoCD's `webhook.harbor.secret`) asks the controller to refresh what uses that registry
/// repository, its host with its port; a pull is answered and ignored; without the secret, or
/// with another, the delivery is no known webhook (400), as ArgoCD answers it.
#[tokio::test]
async fn a_harbor_push_artifact_event_sends_registry_changed() {
    const HARBOR_SECRET: &str = "Basic aGFyYm9yOnNlY3JldA==";
    let (state, mut commands) = setup();
    let state = state.with_webhook_secrets(
        WebhookSecrets::new()
            .with_github(GITHUB_SECRET)
            .with_harbor(HARBOR_SECRET),
    );
    let event = |kind: &str| {
        json!({
            "type": kind,
            "occur_at": 1_765_000_000,
            "operator": "robot$ci",
            "event_data": {
                "resources": [{
                    "digest": "sha256:0f0e",
                    "tag": "1.3.0",
                    "resource_url": "127.0.0.1:5000/charts/web:1.3.0",
                }],
                "repository": {
                    "date_created": 1_765_000_000,
                    "name": "web",
                    "namespace": "charts",
                    "repo_full_name": "charts/web",
                    "repo_type": "private",
                },
            },
        })
        .to_string()
    };
    let harbor_request = |body: String, authorization: Option<&str>| {
        let mut builder = Request::post("/api/webhook").header("content-type", "application/json");
        if let Some(authorization) = authorization {
            builder = builder.header("Authorization", authorization);
        }
        builder.body(Body::from(body)).unwrap()
    };
    let (status, text) = call(
        &state,
        harbor_request(event("PUSH_ARTIFACT"), Some(HARBOR_SECRET)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    match commands.try_recv().unwrap() {
        Command::RegistryChanged(event) => {
            assert_eq!(event.repo_url, "oci://127.0.0.1:5000/charts/web");
            assert_eq!(event.tag, "1.3.0");
            assert!(event.matches("oci://127.0.0.1:5000/charts", Some("web"), ">=1.2.0 <2.0.0"));
            assert!(event.matches("oci://127.0.0.1:5000/charts/web", None, "1.3.0"));
            assert!(!event.matches("oci://127.0.0.1:5000/charts", Some("web"), "1.2.0"));
        }
        other => panic!("unexpected {other:?}"),
    }
    let (status, text) = call(
        &state,
        harbor_request(event("PULL_ARTIFACT"), Some(HARBOR_SECRET)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("ignored"), "{text}");
    for authorization in [None, Some("Basic d3Jvbmc=")] {
        let (status, text) = call(
            &state,
            harbor_request(event("PUSH_ARTIFACT"), authorization),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
        assert!(text.contains("unknown webhook"), "{text}");
    }
    assert!(commands.try_recv().is_err());
}
