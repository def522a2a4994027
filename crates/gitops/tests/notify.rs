//! Notifications delivered to a loopback HTTP receiver that records every request.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use strata_gitops::notify::{ConfigError, DeliveryError, Notifier, NotifyConfig, RetryPolicy};
use strata_gitops::status::{
    AppOrigin, AppRecord, AppStatus, HealthState, OperationPhase, OperationState, SyncResult,
    SyncState, SyncStatusCode,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: String,
}

/// A loopback HTTP/1.1 receiver answering with scripted statuses (200 once the script is
/// exhausted).
#[derive(Clone)]
struct Receiver {
    url: String,
    requests: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(statuses: &[u16]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(
            statuses.iter().copied().collect::<VecDeque<u16>>(),
        ));
        let recorded = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let recorded = recorded.clone();
                let script = script.clone();
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut stream).await else {
                        return;
                    };
                    recorded.lock().unwrap().push(request);
                    let status = script.lock().unwrap().pop_front().unwrap_or(200);
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self { url, requests }
    }

    fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let header_end = loop {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..header_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_string();
    let path = request_line.next()?.to_string();
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    while data.len() < header_end + length {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
    }
    Some(Received {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&data[header_end..]).to_string(),
    })
}

fn quick_retry() -> RetryPolicy {
    RetryPolicy::default()
        .with_attempts(3)
        .with_initial_backoff(Duration::from_millis(10))
        .with_timeout(Duration::from_secs(5))
}

fn config(
    entries: &[(&str, String)],
    secrets: &[(&str, &str)],
) -> Result<NotifyConfig, ConfigError> {
    let data: BTreeMap<String, String> = entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let secrets: BTreeMap<String, String> = secrets
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    NotifyConfig::from_config_map(&data, &secrets)
}

fn notifier(entries: &[(&str, String)], secrets: &[(&str, &str)]) -> Notifier {
    Notifier::with_retry(config(entries, secrets).unwrap(), quick_retry()).unwrap()
}

/// An Application object, as the controller hands it over.
fn app(phase: Option<OperationPhase>, health: &str, revision: &str) -> Value {
    let record = AppRecord {
        name: "guestbook".into(),
        namespace: "argocd".into(),
        project: "default".into(),
        origin: AppOrigin::Cluster,
        labels: serde_json::Map::new(),
        annotations: serde_json::Map::new(),
        spec: json!({"source": {"repoURL": "https://git.example/guestbook.git", "path": "."}}),
        status: AppStatus {
            sync: SyncState {
                status: SyncStatusCode::Synced,
                revision: Some(revision.into()),
                revisions: Vec::new(),
            },
            health: HealthState {
                status: health.into(),
                message: None,
            },
            operation_state: phase.map(|phase| OperationState {
                phase,
                message: format!("sync {}", phase.as_str()),
                started_at: "2024-01-01T00:00:00Z".into(),
                finished_at: None,
                retry_count: 0,
                sync_result: Some(SyncResult {
                    revision: revision.into(),
                    revisions: Vec::new(),
                    resources: Vec::new(),
                }),
            }),
            ..AppStatus::default()
        },
    };
    record.to_object()
}

fn webhook_entries(receiver: &Receiver, triggers: &[&str]) -> Vec<(&'static str, String)> {
    vec![
        (
            "service.webhook.hook",
            format!(
                "url: {}\nheaders:\n- name: Content-Type\n  value: application/json\n- name: X-Token\n  value: $hook-token\n",
                receiver.url
            ),
        ),
        (
            "template.app-sync-failed",
            "webhook:\n  hook:\n    method: POST\n    path: /apps/{{.app.metadata.name}}\n    body: |\n      {\"app\": \"{{.app.metadata.name}}\", \"phase\": \"{{.app.status.operationState.phase}}\", \"type\": \"{{.context.notificationType}}\"}\n".into(),
        ),
        (
            "template.app-sync-succeeded",
            "webhook:\n  hook:\n    method: PUT\n    path: /ok\n    body: 'synced {{.app.status.sync.revision}}'\n".into(),
        ),
        (
            "template.app-deployed",
            "webhook:\n  hook:\n    method: POST\n    path: /deployed\n    body: '{{.app.status.operationState.syncResult.revision}}'\n".into(),
        ),
        (
            "subscriptions",
            format!("- recipients: [hook]\n  triggers: [{}]\n", triggers.join(", ")),
        ),
    ]
}

const SECRETS: &[(&str, &str)] = &[("hook-token", "tok-123456")];

#[tokio::test]
async fn sync_failed_sends_one_webhook_then_nothing_while_it_stays_failed() {
    let receiver = Receiver::start(&[]).await;
    let notifier = notifier(&webhook_entries(&receiver, &["on-sync-failed"]), SECRETS);
    let failed = app(Some(OperationPhase::Failed), "Degraded", "abc");

    let deliveries = notifier.notify(&failed).await;
    assert_eq!(deliveries.len(), 1);
    let delivered = deliveries[0].outcome.as_ref().unwrap();
    assert_eq!((delivered.status, delivered.attempts), (200, 1));
    assert_eq!(deliveries[0].trigger, "on-sync-failed");
    assert_eq!(deliveries[0].app, "argocd/guestbook");

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/apps/guestbook");
    assert_eq!(requests[0].headers["content-type"], "application/json");
    assert_eq!(requests[0].headers["x-token"], "tok-123456");
    let body: Value = serde_json::from_str(&requests[0].body).unwrap();
    assert_eq!(
        body,
        json!({"app": "guestbook", "phase": "Failed", "type": "webhook"})
    );

    // Same state again: no storm.
    assert!(notifier.notify(&failed).await.is_empty());
    assert!(notifier.notify(&failed).await.is_empty());
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test]
async fn each_transition_sends_again() {
    let receiver = Receiver::start(&[]).await;
    let notifier = notifier(
        &webhook_entries(&receiver, &["on-sync-succeeded", "on-sync-failed"]),
        SECRETS,
    );
    let succeeded = app(Some(OperationPhase::Succeeded), "Healthy", "a1");
    let failed = app(Some(OperationPhase::Failed), "Healthy", "a1");

    let triggers = |deliveries: Vec<strata_gitops::notify::Delivery>| {
        deliveries
            .into_iter()
            .map(|d| d.trigger)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        triggers(notifier.notify(&succeeded).await),
        ["on-sync-succeeded"]
    );
    assert_eq!(triggers(notifier.notify(&failed).await), ["on-sync-failed"]);
    assert_eq!(
        triggers(notifier.notify(&succeeded).await),
        ["on-sync-succeeded"]
    );
    assert!(notifier.notify(&succeeded).await.is_empty());

    let paths: Vec<String> = receiver.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/ok", "/apps/guestbook", "/ok"]);
    assert_eq!(receiver.requests()[0].method, "PUT");
    assert_eq!(receiver.requests()[0].body, "synced a1");
}

#[tokio::test]
async fn on_deployed_sends_once_per_revision() {
    let receiver = Receiver::start(&[]).await;
    let notifier = notifier(&webhook_entries(&receiver, &["on-deployed"]), SECRETS);

    let deployed_a = app(Some(OperationPhase::Succeeded), "Healthy", "rev-a");
    assert_eq!(notifier.notify(&deployed_a).await.len(), 1);
    assert!(notifier.notify(&deployed_a).await.is_empty());
    // Health flaps on the same revision: not announced again.
    assert!(
        notifier
            .notify(&app(Some(OperationPhase::Succeeded), "Degraded", "rev-a"))
            .await
            .is_empty()
    );
    assert!(notifier.notify(&deployed_a).await.is_empty());
    // A new revision: syncing, then deployed.
    assert!(
        notifier
            .notify(&app(Some(OperationPhase::Running), "Progressing", "rev-b"))
            .await
            .is_empty()
    );
    assert_eq!(
        notifier
            .notify(&app(Some(OperationPhase::Succeeded), "Healthy", "rev-b"))
            .await
            .len(),
        1
    );

    let bodies: Vec<String> = receiver.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies, ["rev-a", "rev-b"]);
}

#[tokio::test]
async fn slack_payload_has_text_username_icon_and_attachments() {
    let receiver = Receiver::start(&[]).await;
    let notifier = notifier(
        &[
            (
                "service.slack",
                "webhookURL: $slack-url\nusername: strata\nicon: ':rocket:'\n".into(),
            ),
            (
                "template.app-sync-succeeded",
                "message: 'Application {{.app.metadata.name}} synced ({{.context.notificationType}}, {{.recipient}}) {{.context.argocdUrl}}'\nslack:\n  attachments: |\n    [{\"title\": \"{{.app.metadata.name}}\", \"color\": \"#18be52\"}]\n".into(),
            ),
            ("context", "argocdUrl: https://cd.example\n".into()),
        ],
        &[("slack-url", &format!("{}/services/T0/B0/secretpart", receiver.url))],
    );
    let mut object = app(Some(OperationPhase::Succeeded), "Healthy", "abc");
    object["metadata"]["annotations"] =
        json!({"notifications.argoproj.io/subscribe.on-sync-succeeded.slack": "deploys"});

    let deliveries = notifier.notify(&object).await;
    assert_eq!(deliveries.len(), 1);
    let delivered = deliveries[0].outcome.as_ref().unwrap();
    assert!(
        !delivered.target.contains("secretpart"),
        "{}",
        delivered.target
    );
    assert_eq!(deliveries[0].recipient, "deploys");

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/services/T0/B0/secretpart");
    assert_eq!(requests[0].headers["content-type"], "application/json");
    let payload: Value = serde_json::from_str(&requests[0].body).unwrap();
    assert_eq!(
        payload,
        json!({
            "text": "Application guestbook synced (slack, deploys) https://cd.example",
            "channel": "deploys",
            "username": "strata",
            "icon_emoji": ":rocket:",
            "attachments": [{"title": "guestbook", "color": "#18be52"}],
        })
    );
}

#[tokio::test]
async fn secrets_are_substituted_and_never_reported() {
    let receiver = Receiver::start(&[503, 503, 503]).await;
    let notifier = notifier(
        &[
            (
                "service.webhook.ci",
                format!(
                    "url: {}/hook?key=$ci-key\nheaders:\n- name: X-Api-Key\n  value: Bearer $ci-token\nbasicAuth:\n  username: robot\n  password: $ci-password\n",
                    receiver.url
                ),
            ),
            (
                "template.app-sync-failed",
                "webhook:\n  ci:\n    method: POST\n    body: failed\n".into(),
            ),
            (
                "subscriptions",
                "- recipients: [ci]\n  triggers: [on-sync-failed]\n".into(),
            ),
        ],
        &[
            ("ci-key", "query-secret"),
            ("ci-token", "bearer-secret"),
            ("ci-password", "pass-secret"),
        ],
    );
    let deliveries = notifier
        .notify(&app(Some(OperationPhase::Error), "Unknown", "abc"))
        .await;
    assert_eq!(deliveries.len(), 1);
    let error = deliveries[0].outcome.as_ref().unwrap_err();
    assert!(
        matches!(
            error,
            DeliveryError::Rejected {
                status: 503,
                attempts: 3,
                ..
            }
        ),
        "{error}"
    );
    let report = format!("{deliveries:?} {error} {notifier:?}");
    for secret in ["query-secret", "bearer-secret", "pass-secret", "robot:"] {
        assert!(!report.contains(secret), "{secret} leaked: {report}");
    }

    let requests = receiver.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].path, "/hook?key=query-secret");
    assert_eq!(requests[0].headers["x-api-key"], "Bearer bearer-secret");
    assert_eq!(
        requests[0].headers["authorization"],
        "Basic cm9ib3Q6cGFzcy1zZWNyZXQ="
    );
    assert_eq!(requests[0].body, "failed");

    // Not delivered: the next call tries again.
    let again = notifier
        .notify(&app(Some(OperationPhase::Error), "Unknown", "abc"))
        .await;
    assert_eq!(again.len(), 1);
    assert!(again[0].outcome.is_ok());
}

#[tokio::test]
async fn a_server_error_is_retried_and_delivered_once() {
    let receiver = Receiver::start(&[500]).await;
    let notifier = notifier(&webhook_entries(&receiver, &["on-sync-failed"]), SECRETS);
    let deliveries = notifier
        .notify(&app(Some(OperationPhase::Failed), "Healthy", "abc"))
        .await;
    assert_eq!(deliveries.len(), 1);
    let delivered = deliveries[0].outcome.as_ref().unwrap();
    assert_eq!((delivered.status, delivered.attempts), (200, 2));
    assert_eq!(receiver.requests().len(), 2);
    assert!(
        notifier
            .notify(&app(Some(OperationPhase::Failed), "Healthy", "abc"))
            .await
            .is_empty()
    );
    assert_eq!(receiver.requests().len(), 2);
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let receiver = Receiver::start(&[404]).await;
    let notifier = notifier(&webhook_entries(&receiver, &["on-sync-failed"]), SECRETS);
    let deliveries = notifier
        .notify(&app(Some(OperationPhase::Failed), "Healthy", "abc"))
        .await;
    assert!(matches!(
        deliveries[0].outcome,
        Err(DeliveryError::Rejected {
            status: 404,
            attempts: 1,
            ..
        })
    ));
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test]
async fn annotation_subscriptions_and_their_errors() {
    let receiver = Receiver::start(&[]).await;
    let mut entries = webhook_entries(&receiver, &[]);
    entries.retain(|(k, _)| *k != "subscriptions");
    entries.push(("defaultTriggers", "[on-sync-succeeded]".into()));
    let notifier = notifier(&entries, SECRETS);

    let mut object = app(Some(OperationPhase::Failed), "Healthy", "abc");
    object["metadata"]["annotations"] = json!({
        "notifications.argoproj.io/subscribe.on-sync-failed.hook": "",
        "notifications.argoproj.io/subscribe.on-sync-exploded.hook": "",
        "notifications.argoproj.io/subscribe.hook": "",
        "unrelated": "x",
    });
    let deliveries = notifier.notify(&object).await;
    let sent: Vec<&str> = deliveries
        .iter()
        .filter(|d| d.outcome.is_ok())
        .map(|d| d.trigger.as_str())
        .collect();
    assert_eq!(sent, ["on-sync-failed"]);
    let errors: Vec<String> = deliveries
        .iter()
        .filter_map(|d| d.outcome.as_ref().err())
        .map(ToString::to_string)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("subscribe.on-sync-exploded.hook")
            && errors[0].contains("unknown trigger")
    );
    // The error is reported once, not on every call.
    assert!(notifier.notify(&object).await.is_empty());

    // The default triggers through `subscribe.hook`.
    let succeeded = {
        let mut o = app(Some(OperationPhase::Succeeded), "Healthy", "abc");
        o["metadata"]["annotations"] = object["metadata"]["annotations"].clone();
        o
    };
    let deliveries = notifier.notify(&succeeded).await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].trigger, "on-sync-succeeded");
    assert_eq!(receiver.requests().len(), 2);
}

#[test]
fn unsupported_when_is_an_error_naming_the_trigger_and_construct() {
    let error = config(
        &[(
            "trigger.on-slow",
            "- when: time.Now().Sub(time.Parse(app.status.operationState.startedAt)).Minutes() >= 5\n  send: [app-sync-running]\n".into(),
        )],
        &[],
    )
    .unwrap_err();
    let text = error.to_string();
    assert!(text.contains("trigger.on-slow"), "{text}");
    assert!(text.contains("function call time.Now()"), "{text}");
}

#[test]
fn unknown_names_are_config_errors() {
    let hook = (
        "service.webhook.hook",
        "url: http://127.0.0.1:9/\n".to_string(),
    );
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (
            vec![("trigger.t", "- when: 'true'\n  send: [nope]\n".into())],
            "unknown template nope",
        ),
        (
            vec![
                hook.clone(),
                (
                    "subscriptions",
                    "- recipients: [hook]\n  triggers: [on-nothing]\n".into(),
                ),
            ],
            "unknown trigger on-nothing",
        ),
        (
            vec![(
                "subscriptions",
                "- recipients: [teams:x]\n  triggers: [on-sync-failed]\n".into(),
            )],
            "unknown service teams",
        ),
        (
            vec![("defaultTriggers", "[on-nothing]".into())],
            "unknown trigger on-nothing",
        ),
        (
            vec![("service.email", "host: smtp\n".into())],
            "service.email",
        ),
        (
            vec![("template.t", "webhook:\n  other:\n    body: x\n".into())],
            "unknown service other",
        ),
        (
            vec![hook.clone(), ("template.t", "message: '{{ .app'\n".into())],
            "template.t",
        ),
        (vec![("trigger", "[]".into())], "key trigger"),
        (
            vec![(
                "service.webhook.x",
                "url: http://h/\ninsecureSkipVerify: true\n".into(),
            )],
            "service.webhook.x",
        ),
        (
            vec![("service.webhook.x", "url: http://h/$missing\n".into())],
            "$missing",
        ),
    ];
    for (entries, expected) in cases {
        let error = config(&entries, &[]).unwrap_err();
        assert!(error.to_string().contains(expected), "{expected}: {error}");
    }
}

#[test]
fn a_configmap_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("argocd-notifications-cm.yaml");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-notifications-cm\ndata:\n  service.webhook.hook: |\n    url: http://127.0.0.1:9\n  subscriptions: |\n    - recipients: [hook]\n      triggers: [on-deployed]\n",
    )
    .unwrap();
    let config = NotifyConfig::from_yaml_file(&path, &BTreeMap::new()).unwrap();
    assert_eq!(config.service_names().collect::<Vec<_>>(), ["hook"]);
    assert!(config.trigger_names().any(|t| t == "on-drift-detected"));
}
