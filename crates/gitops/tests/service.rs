//! The controller as a service against a real API server: a failing sync notifies once, two
//! replicas with leader election never both work (the follower takes over when the leader
//! stops), and a restarted controller does not apply again what is in sync.

#![allow(clippy::unwrap_used)]

use crate::support;

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use strata_gitops::controller::ControllerConfig;
use strata_gitops::notify::{Notifier, NotifyConfig};
use strata_gitops::service::{self, ServiceConfig};
use strata_k8s::controller::leader::LeaseConfig;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A loopback HTTP receiver recording request paths and bodies (answers 200).
async fn receiver() -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let record = Arc::clone(&record);
            tokio::spawn(async move {
                let mut data = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let n = stream.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    data.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&data).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if body.len() >= length {
                            let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                            record.lock().unwrap().push((path, body.to_owned()));
                            break;
                        }
                    }
                }
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (url, seen)
}

struct Service {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), service::ServiceError>>,
}

impl Service {
    fn start(
        client: &kube::Client,
        config: ControllerConfig,
        service: ServiceConfig,
        notifier: Option<Notifier>,
    ) -> Self {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let client = client.clone();
        let task = tokio::spawn(async move {
            service::run(client, config, service, notifier, async {
                let _ = rx.await;
            })
            .await
        });
        Self {
            stop: Some(tx),
            task,
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.unwrap().unwrap();
    }
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return (0, String::new());
    };
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (
        status,
        response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_sync_is_notified_once() {
    let (client, control, target) = namespaces("svc-notify").await;
    ensure_crds(&client).await;
    let hook = "apiVersion: v1\nkind: Service\nmetadata:\n  name: migrate\n  annotations:\n    argocd.argoproj.io/hook: PreSync\nspec:\n  ports:\n  - port: 70000\n";
    let repo = Repo::new(&[
        ("app/hook.yaml", hook),
        ("app/settings.yaml", &config_map("settings", "1")),
    ]);
    let (url, seen) = receiver().await;
    let data = [
        ("service.webhook.receiver".to_owned(), format!("url: {url}\n")),
        (
            "template.app-sync-failed".to_owned(),
            "webhook:\n  receiver:\n    method: POST\n    path: /failed\n    body: '{{.app.metadata.name}} {{.app.status.operationState.phase}}'\n".to_owned(),
        ),
        (
            "subscriptions".to_owned(),
            "- recipients: [receiver]\n  triggers: [on-sync-failed]\n".to_owned(),
        ),
    ]
    .into_iter()
    .collect();
    let notifier =
        Notifier::new(NotifyConfig::from_config_map(&data, &Default::default()).unwrap()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let running = Service::start(
        &client,
        config(&control, &cache),
        ServiceConfig::new(None),
        Some(notifier),
    );
    create_application(
        &client,
        &control,
        &application(
            "notify-app",
            &repo.url,
            "app",
            &target,
            json!({"automated": {}}),
        ),
    )
    .await;
    eventually("the failure notified", || async {
        (!seen.lock().unwrap().is_empty()).then_some(())
    })
    .await;
    // Later reconciles of the same failed state send nothing more.
    let api = applications(&client, &control);
    api.patch(
        "notify-app",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(
            json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}}),
        ),
    )
    .await
    .unwrap();
    eventually("the refresh done", || async {
        let object = api.get("notify-app").await.unwrap();
        let refreshed = object
            .metadata
            .annotations
            .as_ref()
            .is_none_or(|a| !a.contains_key("argocd.argoproj.io/refresh"));
        refreshed.then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [("/failed".to_owned(), "notify-app Failed".to_owned())]
    );
    running.stop().await;
    drop(cache);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_never_both_work_and_the_follower_takes_over() {
    let (client, control, target) = namespaces("svc-leader").await;
    let repo = Repo::new(&[("app/settings.yaml", &config_map("settings", "1"))]);
    let lease = |identity: &str| {
        LeaseConfig::new("strata-controller", control.clone(), identity)
            .with_lease_duration(Duration::from_secs(3))
            .with_renew_interval(Duration::from_millis(500))
    };
    let (first_addr, second_addr) = (free_addr(), free_addr());
    let first_cache = tempfile::tempdir().unwrap();
    let first = Service::start(
        &client,
        config(&control, &first_cache),
        ServiceConfig::new(Some(first_addr)).with_leader_election(lease("first")),
        None,
    );
    eventually("the first replica leads", || async {
        (get(first_addr, "/readyz").await.0 == 200).then_some(())
    })
    .await;
    let second_cache = tempfile::tempdir().unwrap();
    let second = Service::start(
        &client,
        config(&control, &second_cache),
        ServiceConfig::new(Some(second_addr)).with_leader_election(lease("second")),
        None,
    );
    eventually("the second replica serves", || async {
        (get(second_addr, "/healthz").await.0 == 200).then_some(())
    })
    .await;
    create_application(
        &client,
        &control,
        &application(
            "leader-app",
            &repo.url,
            "app",
            &target,
            json!({"automated": {}}),
        ),
    )
    .await;
    eventually("synced by the leader", || async {
        (config_map_value(&client, &target, "settings")
            .await
            .as_deref()
            == Some("1"))
        .then_some(())
    })
    .await;
    let listed = |addr| async move {
        let (_, body) = get(addr, "/api/v1/applications").await;
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["items"]
            .as_array()
            .map_or(0, Vec::len)
    };
    assert_eq!(listed(first_addr).await, 1, "the leader works");
    assert_eq!(listed(second_addr).await, 0, "the follower does not");
    assert_eq!(get(second_addr, "/readyz").await.0, 503);
    // The Kubernetes requests made for the Application are counted by verb and response
    // code (the sync's server-side apply is a PATCH answered 200 or 201), by the leader only.
    let requests = |text: &str, verb: &str| -> u64 {
        text.lines()
            .filter(|l| {
                l.starts_with("argocd_app_k8s_request_total{name=\"leader-app\"")
                    && l.contains(&format!("verb=\"{verb}\""))
                    && (l.contains("response_code=\"200\"") || l.contains("response_code=\"201\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    // The GET answered 200 is the comparison after the sync, which may still be running
    // when the ConfigMap appears.
    eventually(
        "the leader's metrics count the sync's PATCH and a GET",
        || async {
            let (_, leader_metrics) = get(first_addr, "/metrics").await;
            (requests(&leader_metrics, "PATCH") >= 1 && requests(&leader_metrics, "GET") >= 1)
                .then_some(())
        },
    )
    .await;
    let (_, follower_metrics) = get(second_addr, "/metrics").await;
    assert!(
        !follower_metrics.contains("argocd_app_k8s_request_total{name=\"leader-app\""),
        "{follower_metrics}"
    );

    // The leader stops; the follower takes the lease over and carries on.
    first.stop().await;
    repo.commit(
        &[("app/settings.yaml", &config_map("settings", "2"))],
        &[],
        "two",
    );
    eventually("the follower leads", || async {
        (get(second_addr, "/readyz").await.0 == 200).then_some(())
    })
    .await;
    eventually("the follower synced the new revision", || async {
        (config_map_value(&client, &target, "settings")
            .await
            .as_deref()
            == Some("2"))
        .then_some(())
    })
    .await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_controller_does_not_apply_again_what_is_in_sync() {
    let (client, control, target) = namespaces("svc-restart").await;
    let repo = Repo::new(&[("app/settings.yaml", &config_map("settings", "1"))]);
    let cache = tempfile::tempdir().unwrap();
    let states = tempfile::tempdir().unwrap();
    let state_dir = states.path().to_owned();
    // The states survive the restart (as a Secret or a volume would keep them).
    let stores: strata_gitops::reconcile::StateStores =
        Arc::new(move |app: &strata_gitops::app::Application| {
            Arc::new(strata_core::LocalStateStore::new(
                state_dir.join(format!("{}.json", app.name)),
            )) as Arc<dyn strata_core::StateStore>
        });
    let first = start(
        &client,
        config(&control, &cache).with_state_stores(Arc::clone(&stores)),
        cache,
    );
    create_application(
        &client,
        &control,
        &application(
            "restart-app",
            &repo.url,
            "app",
            &target,
            json!({"automated": {"selfHeal": true}}),
        ),
    )
    .await;
    let status = eventually("synced", || async {
        let status = app_status(&client, &control, "restart-app").await;
        (status["sync"]["status"] == "Synced").then_some(status)
    })
    .await;
    first.controller.wait_idle().await;
    let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(client.clone(), &target);
    let version = api.get("settings").await.unwrap().metadata.resource_version;
    first.stop().await;
    // Statuses are stamped to the second: the next comparison is told apart by its time.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let cache = tempfile::tempdir().unwrap();
    let second = start(
        &client,
        config(&control, &cache).with_state_stores(stores),
        cache,
    );
    eventually("compared again", || async {
        let again = app_status(&client, &control, "restart-app").await;
        (again["reconciledAt"] != status["reconciledAt"]).then_some(())
    })
    .await;
    second.controller.wait_idle().await;
    let again = app_status(&client, &control, "restart-app").await;
    assert_eq!(again["sync"]["status"], "Synced");
    assert_eq!(
        again["operationState"]["startedAt"], status["operationState"]["startedAt"],
        "no new sync"
    );
    assert_eq!(
        api.get("settings").await.unwrap().metadata.resource_version,
        version,
        "nothing written"
    );
    second.stop().await;
}
