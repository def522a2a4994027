//! Test support: Git repositories served by `git-daemon` on a loopback port, a controller
//! running against the shared real API server, and waiting for eventual conditions.

#![allow(dead_code, clippy::unwrap_used)] // shared by several test binaries

use std::future::Future;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use strata_gitops::controller::{Controller, ControllerConfig};

/// How long an eventual condition may take.
pub const CEILING: Duration = Duration::from_secs(60);

pub use strata_testkube::git::git;

/// A repository served over `git://` by its own `git-daemon`, stopped when dropped.
pub struct Repo {
    pub dir: PathBuf,
    pub url: String,
    daemon: Child,
    _base: tempfile::TempDir,
}

impl Drop for Repo {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Repo {
    /// A repository on branch `main` with `files` committed.
    pub fn new(files: &[(&str, &str)]) -> Self {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("apps");
        std::fs::create_dir_all(&dir).unwrap();
        git(&dir, &["init", "--quiet", "-b", "main"]);
        let port = free_port();
        // `git-daemon` itself, not the `git daemon` wrapper: killing the wrapper would leave
        // the daemon running.
        let exec_path = git(&dir, &["--exec-path"]);
        let daemon = Command::new(Path::new(&exec_path).join("git-daemon"))
            .args([
                "--export-all",
                "--reuseaddr",
                "--informative-errors",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", base.path().display()),
                base.path().to_str().unwrap(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "git-daemon does not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        let repo = Self {
            url: format!("git://127.0.0.1:{port}/apps"),
            dir,
            daemon,
            _base: base,
        };
        repo.commit(files, &[], "initial");
        repo
    }

    /// Writes `files`, removes `removed`, commits; returns the commit id.
    pub fn commit(&self, files: &[(&str, &str)], removed: &[&str], message: &str) -> String {
        for (path, text) in files {
            let path = self.dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        for path in removed {
            std::fs::remove_file(self.dir.join(path)).unwrap();
        }
        git(&self.dir, &["add", "-A"]);
        git(
            &self.dir,
            &["commit", "--quiet", "--allow-empty", "-m", message],
        );
        git(&self.dir, &["rev-parse", "HEAD"])
    }
}

pub fn config_map(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: \"{value}\"\n")
}

pub fn application(name: &str, repo: &str, path: &str, namespace: &str, policy: Value) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo, "path": path, "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
            "syncPolicy": policy
        }
    })
}

pub fn applications(client: &kube::Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        namespace,
        &strata_gitops::controller::argo_resource("Application", "applications"),
    )
}

pub async fn create_application(client: &kube::Client, namespace: &str, app: &Value) {
    let object: DynamicObject = serde_json::from_value(app.clone()).unwrap();
    applications(client, namespace)
        .create(&PostParams::default(), &object)
        .await
        .unwrap();
}

/// A running controller over `namespace`, stopped (gracefully) by [`Running::stop`].
pub struct Running {
    pub controller: Arc<Controller>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    pub cache: tempfile::TempDir,
}

impl Running {
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

pub fn start(client: &kube::Client, config: ControllerConfig, cache: tempfile::TempDir) -> Running {
    let controller = Arc::new(Controller::new(client.clone(), config));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let run = Arc::clone(&controller);
    let task = tokio::spawn(async move {
        run.run(async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    let deadline = Instant::now() + CEILING;
    while !controller.is_ready() {
        assert!(Instant::now() < deadline, "the controller did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Running {
        controller,
        stop: Some(tx),
        task: Some(task),
        cache,
    }
}

pub fn config(namespace: &str, cache: &tempfile::TempDir) -> ControllerConfig {
    ControllerConfig::new(cache.path().join("repos"))
        .with_namespace(namespace)
        .with_poll_interval(Duration::from_secs(3600))
        .with_workers(4)
}

/// Waits until `check` gives `Some`, failing with `what` after [`CEILING`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + CEILING;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn config_map_value(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Option<String> {
    let api: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(client.clone(), namespace);
    api.get_opt(name)
        .await
        .unwrap()
        .and_then(|cm| cm.data.and_then(|d| d.get("v").cloned()))
}

pub async fn app_status(client: &kube::Client, namespace: &str, name: &str) -> Value {
    let object = applications(client, namespace).get(name).await.unwrap();
    serde_json::to_value(&object).unwrap()["status"].clone()
}

/// Edits a ConfigMap as another manager would (`kubectl patch`).
pub async fn patch_config_map(client: &kube::Client, namespace: &str, name: &str, value: &str) {
    let api: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(client.clone(), namespace);
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": value}})),
    )
    .await
    .unwrap();
}

pub fn api_resource_config_map() -> ApiResource {
    ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&())
}

/// Makes sure the Application CRDs are served (a controller creates them when it starts).
pub async fn ensure_crds(client: &kube::Client) {
    let provider =
        strata_k8s::KubeProvider::new(client.clone(), strata_gitops::clusters::provider_options());
    strata_gitops::crds::ensure_argo_crds(&provider)
        .await
        .unwrap();
}

/// A CGI server for `git http-backend` on a loopback port, serving the repositories under
/// `root`; requests without HTTP basic authentication `user:password` get 401.
const HTTP_BACKEND: &str = r#"
import base64, os, subprocess, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

root, auth = sys.argv[1], sys.argv[2]

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def handle_any(self):
        if self.headers.get("Authorization") != "Basic " + base64.b64encode(auth.encode()).decode():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        body = self.body() if self.command == "POST" else b""
        env = dict(os.environ, GIT_PROJECT_ROOT=root, GIT_HTTP_EXPORT_ALL="1",
                   PATH_INFO=path, QUERY_STRING=query, REQUEST_METHOD=self.command,
                   CONTENT_TYPE=self.headers.get("Content-Type", ""),
                   CONTENT_LENGTH=str(len(body)), REMOTE_ADDR="127.0.0.1",
                   GIT_PROTOCOL=self.headers.get("Git-Protocol", ""))
        if self.headers.get("Content-Encoding") == "gzip":
            env["HTTP_CONTENT_ENCODING"] = "gzip"
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode().split("\r\n"):
            if not line:
                continue
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            else:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = handle_any

server = HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// A smart-HTTP server over `repo`'s parent directory, stopped when dropped.
pub struct HttpServer {
    child: Child,
    pub url: String,
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl HttpServer {
    pub fn serve(repo: &Repo, auth: &str) -> Self {
        use std::io::BufRead;
        let root = repo.dir.parent().unwrap().to_owned();
        let script = root.join("http_backend.py");
        std::fs::write(&script, HTTP_BACKEND).unwrap();
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(&root)
            .arg(auth)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line.trim().parse().unwrap();
        Self {
            child,
            url: format!("http://127.0.0.1:{port}/apps"),
        }
    }
}

/// The control plane every test of this binary shares.
pub fn plane() -> &'static strata_testkube::ControlPlane {
    strata_testkube::shared()
}

/// A client, and two fresh namespaces named after `hint`: the controller's (`<hint>-argocd`)
/// and the Applications' destination.
pub async fn namespaces(hint: &str) -> (kube::Client, String, String) {
    let client = plane().client().await.unwrap();
    let control = plane()
        .namespace(&client, &format!("{hint}-argocd"))
        .await
        .unwrap();
    let target = plane().namespace(&client, hint).await.unwrap();
    (client, control, target)
}
