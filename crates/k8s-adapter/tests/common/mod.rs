//! A scripted Kubernetes API server on kube's tower-test mock: each test says, request by
//! request, what it expects the client to send and what the server answers.

#![allow(dead_code)]

use http::{Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

/// The server side of the mock.
pub type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// A client talking to a fresh mock server (default namespace `default`).
pub fn mock() -> (kube::Client, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (kube::Client::new(service, "default"), handle)
}

/// One request as the server saw it.
#[derive(Debug)]
pub struct Seen {
    /// HTTP method.
    pub method: String,
    /// Path and query, exactly as sent.
    pub uri: String,
    /// The content type, if any.
    pub content_type: Option<String>,
    /// The body parsed as JSON (`Null` when empty).
    pub body: Value,
}

/// Waits for the next request and answers it with `status` and `response`.
pub async fn serve(handle: &mut Handle, status: u16, response: Value) -> Seen {
    let (request, send) = handle
        .next_request()
        .await
        .expect("the client sent a request");
    let method = request.method().to_string();
    let uri = request.uri().to_string();
    let content_type = request
        .headers()
        .get("content-type")
        .map(|v| v.to_str().expect("ascii content type").to_owned());
    let bytes = request
        .into_body()
        .collect_bytes()
        .await
        .expect("request body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("a JSON body")
    };
    let answer = Response::builder()
        .status(StatusCode::from_u16(status).expect("valid status"))
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&response).expect("json")))
        .expect("response");
    send.send_response(answer);
    Seen {
        method,
        uri,
        content_type,
        body,
    }
}

/// Serves one request with a `Status: Success` body (what a DELETE answers).
pub async fn serve_success(handle: &mut Handle) -> Seen {
    serve(handle, 200, json!({"kind": "Status", "status": "Success"})).await
}

/// A Kubernetes `Status` failure body.
pub fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "code": code, "reason": reason, "message": message})
}

/// The core API's resource list, serving ConfigMaps, Secrets and Namespaces.
pub fn core_resources() -> Value {
    json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        {"name": "configmaps", "singularName": "configmap", "namespaced": true, "kind": "ConfigMap",
         "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]},
        {"name": "secrets", "singularName": "secret", "namespaced": true, "kind": "Secret",
         "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]},
        {"name": "namespaces", "singularName": "namespace", "namespaced": false, "kind": "Namespace",
         "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}
    ]})
}

/// Asserts that the client sends nothing more (it has been dropped, or stays silent).
pub async fn assert_no_more_requests(handle: &mut Handle) {
    let next =
        tokio::time::timeout(std::time::Duration::from_millis(200), handle.next_request()).await;
    if let Ok(Some((request, _))) = next {
        panic!("unexpected request {} {}", request.method(), request.uri());
    }
}
