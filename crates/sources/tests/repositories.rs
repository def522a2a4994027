//! Applications and ApplicationSets naming other repositories: real repositories made with
//! `git` in temporary directories, reached through the repository cache over `file://`,
//! `git://` (a `git daemon` on a loopback port) and smart HTTP (`git http-backend` behind a
//! small CGI server on a loopback port); unreachable repositories are errors naming them.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_sources::repo::{Credentials, RepoUrl, Repositories, RepositoryCache};
use strata_sources::stack::{StackError, StackSource, load_stack_with};

use crate::support;
use support::{git, write};

fn config_map(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: \"{value}\"\n")
}

/// `<base>/platform.git`: a bare repository holding `apps/web` and `apps/api` (tag `v1`),
/// then `apps/db` too (on `main`).
fn platform(base: &Path) -> PathBuf {
    let work = base.join("platform-work");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    write(&work.join("apps/web/cm.yaml"), &config_map("web", "1"));
    write(&work.join("apps/api/cm.yaml"), &config_map("api", "1"));
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "web and api"]);
    git(&work, &["tag", "v1"]);
    write(&work.join("apps/web/cm.yaml"), &config_map("web", "2"));
    write(&work.join("apps/db/cm.yaml"), &config_map("db", "2"));
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "db"]);
    let bare = base.join("platform.git");
    git(
        base,
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    bare
}

/// A stack directory in its own Git repository, whose `origin` is another URL.
fn stack(base: &Path, files: &[(&str, String)]) -> PathBuf {
    let dir = base.join("stack");
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    git(
        &dir,
        &[
            "remote",
            "add",
            "origin",
            "https://git.example.com/team/stack.git",
        ],
    );
    for (file, text) in files {
        write(&dir.join(file), text);
    }
    dir
}

fn appset(repo_url: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: apps
spec:
  generators:
    - git:
        repoURL: {repo_url}
        revision: main
        directories:
          - path: apps/*
  template:
    metadata:
      name: '{{{{path.basename}}}}'
    spec:
      project: default
      source:
        repoURL: {repo_url}
        targetRevision: main
        path: '{{{{path}}}}'
      destination:
        namespace: '{{{{path.basename}}}}'
"
    )
}

fn application(name: &str, repo_url: &str, revision: &str, path: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {name}
spec:
  project: default
  source:
    repoURL: {repo_url}
    targetRevision: {revision}
    path: {path}
  destination:
    namespace: {name}
"
    )
}

fn resolver(stack: &Path, cache: RepositoryCache) -> Arc<Repositories> {
    let root = strata_sources::stack::repository_of(stack).unwrap();
    Arc::new(
        Repositories::new()
            .with_stack_repository(&root)
            .with_cache(cache),
    )
}

fn load(stack: &Path, cache: RepositoryCache) -> Result<StackSource, StackError> {
    load_stack_with(stack, None, None, Some(resolver(stack, cache)))
}

/// `name=value` of every ConfigMap, in order.
fn config_maps(source: &StackSource) -> Vec<String> {
    source
        .resources
        .iter()
        .map(|r| {
            format!(
                "{}/{}={}",
                r.key.namespace.as_deref().unwrap_or(""),
                r.key.name,
                r.manifest["data"]["v"].as_str().unwrap()
            )
        })
        .collect()
}

fn assert_generated_from_main(source: &StackSource) {
    assert_eq!(
        config_maps(source),
        ["api/api=1", "db/db=2", "web/web=2"],
        "every directory of the other repository's main"
    );
    let names: Vec<&str> = source
        .applications
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(names, ["api", "db", "web"]);
    let location = source.resources[0].source.as_ref().unwrap().to_string();
    assert!(
        location.starts_with("platform@") && location.contains(":apps/api/cm.yaml"),
        "{location}"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server process, stopped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn git_daemon(base: &Path) -> (Server, u16) {
    let port = free_port();
    // `git-daemon` itself, not the `git daemon` wrapper: killing the wrapper would leave the
    // daemon running, holding the test's inherited file descriptors.
    let exec_path = git(base, &["--exec-path"]);
    let child = Command::new(Path::new(&exec_path).join("git-daemon"))
        .args([
            "--export-all",
            "--reuseaddr",
            "--informative-errors",
            "--listen=127.0.0.1",
            &format!("--port={port}"),
            &format!("--base-path={}", base.display()),
            base.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    wait_for(port);
    (server, port)
}

/// A CGI server for `git http-backend`: every request runs it with the request's method,
/// path, query, `Git-Protocol` header and body; with `auth`, requests without that
/// `Authorization` header get 401.
const HTTP_BACKEND: &str = r#"
import base64, os, subprocess, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

root, auth = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")

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
        if auth and self.headers.get("Authorization") != "Basic " + base64.b64encode(auth.encode()).decode():
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

fn http_backend(base: &Path, auth: Option<&str>) -> (Server, u16) {
    let script = base.join("http_backend.py");
    std::fs::write(&script, HTTP_BACKEND).unwrap();
    let mut command = Command::new("python3");
    command.arg(&script).arg(base);
    if let Some(auth) = auth {
        command.arg(auth);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().unwrap();
    (Server(child), port)
}

#[test]
fn an_application_set_generates_from_another_repository_over_file_urls() {
    let base = tempfile::tempdir().unwrap();
    let bare = platform(base.path());
    let url = format!("file://{}", bare.display());
    let stack = stack(base.path(), &[("appset.yaml", appset(&url))]);
    let cache_dir = base.path().join("cache");
    let source = load(&stack, RepositoryCache::new(&cache_dir)).unwrap();
    assert_generated_from_main(&source);
    // One bare mirror, under its readable name.
    let mirror = RepositoryCache::new(&cache_dir).mirror_path(&RepoUrl::parse(&url).unwrap());
    assert!(mirror.join("HEAD").is_file(), "{}", mirror.display());
    assert!(!mirror.join("apps").exists(), "a bare mirror, no checkout");
}

#[test]
fn an_application_set_generates_from_another_repository_over_git_daemon() {
    let base = tempfile::tempdir().unwrap();
    platform(base.path());
    let (_daemon, port) = git_daemon(base.path());
    let url = format!("git://127.0.0.1:{port}/platform.git");
    let stack = stack(base.path(), &[("appset.yaml", appset(&url))]);
    let source = load(&stack, RepositoryCache::new(base.path().join("cache"))).unwrap();
    assert_generated_from_main(&source);
}

#[test]
fn an_application_set_generates_from_another_repository_over_smart_http() {
    let base = tempfile::tempdir().unwrap();
    platform(base.path());
    let (_server, port) = http_backend(base.path(), None);
    let url = format!("http://127.0.0.1:{port}/platform.git");
    let stack = stack(base.path(), &[("appset.yaml", appset(&url))]);
    let source = load(&stack, RepositoryCache::new(base.path().join("cache"))).unwrap();
    assert_generated_from_main(&source);
}

#[test]
fn credentials_reach_the_server_and_never_the_messages() {
    let base = tempfile::tempdir().unwrap();
    platform(base.path());
    let (_server, port) = http_backend(base.path(), Some("bot:s3cret-pass"));
    let url = format!("http://127.0.0.1:{port}/platform.git");
    let stack = stack(base.path(), &[("appset.yaml", appset(&url))]);
    let cache_dir = base.path().join("cache");

    let err = load(&stack, RepositoryCache::new(&cache_dir))
        .unwrap_err()
        .to_string();
    assert!(err.contains("ApplicationSet apps"), "{err}");
    assert!(err.contains(&url), "{err}");

    let wrong = RepositoryCache::new(&cache_dir).with_credentials(
        &format!("http://127.0.0.1:{port}/"),
        Credentials::basic("bot", "wrong-pass"),
    );
    let err = load(&stack, wrong).unwrap_err().to_string();
    assert!(!err.contains("wrong-pass"), "{err}");

    let right = RepositoryCache::new(&cache_dir).with_credentials(
        &format!("http://127.0.0.1:{port}/"),
        Credentials::basic("bot", "s3cret-pass"),
    );
    assert_generated_from_main(&load(&stack, right).unwrap());

    // Credentials written in the URL work too, and are redacted from messages.
    let in_url = format!("http://bot:s3cret-pass@127.0.0.1:{port}/platform.git");
    let other = tempfile::tempdir().unwrap();
    let stack = self::stack(other.path(), &[("appset.yaml", appset(&in_url))]);
    assert_generated_from_main(
        &load(&stack, RepositoryCache::new(other.path().join("c"))).unwrap(),
    );
    let bad_url = format!("http://bot:wrong-pass@127.0.0.1:{port}/platform.git");
    let other = tempfile::tempdir().unwrap();
    let stack = self::stack(other.path(), &[("appset.yaml", appset(&bad_url))]);
    let err = load(&stack, RepositoryCache::new(other.path().join("c")))
        .unwrap_err()
        .to_string();
    assert!(!err.contains("wrong-pass"), "{err}");
    assert!(err.contains("http://bot:***@127.0.0.1"), "{err}");
}

#[test]
fn an_application_reads_another_repository_at_its_target_revision() {
    let base = tempfile::tempdir().unwrap();
    let bare = platform(base.path());
    let url = format!("file://{}", bare.display());
    let stack = stack(
        base.path(),
        &[
            ("web-v1.yaml", application("web", &url, "v1", "apps/web")),
            ("api.yaml", application("api", &url, "HEAD", "apps/api")),
            // The stack's own repository, by its origin URL: read from the stack.
            (
                "local.yaml",
                application(
                    "local",
                    "git@git.example.com:team/stack.git",
                    "main",
                    "local",
                ),
            ),
            ("local/cm.yaml", config_map("local", "0")),
        ],
    );
    let source = load(&stack, RepositoryCache::new(base.path().join("cache"))).unwrap();
    assert_eq!(
        config_maps(&source),
        ["api/api=1", "local/local=0", "web/web=1"]
    );
    let web = source
        .applications
        .iter()
        .find(|a| a.name == "web")
        .unwrap();
    assert_eq!(web.target_revision.as_deref(), Some("v1"));
    let v1 = git(&bare, &["rev-parse", "v1^{commit}"]);
    let location = source.resources[2].source.as_ref().unwrap().to_string();
    assert!(
        location.starts_with(&format!("platform@{}:apps/web/cm.yaml", &v1[..7])),
        "{location}"
    );

    // A revision the repository lacks is an error naming the Application and the revision.
    let other = tempfile::tempdir().unwrap();
    let bad = self::stack(
        other.path(),
        &[("web.yaml", application("web", &url, "v9", "apps/web"))],
    );
    let err = load(&bad, RepositoryCache::new(base.path().join("cache")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("Application web"), "{err}");
    assert!(err.contains("\"v9\""), "{err}");
}

#[test]
fn an_unreachable_repository_is_an_error_naming_it_and_its_application() {
    let base = tempfile::tempdir().unwrap();
    // Nothing listens on this port.
    let url = format!("git://127.0.0.1:{}/platform.git", free_port());
    let stack = stack(
        base.path(),
        &[("web.yaml", application("web", &url, "main", "apps/web"))],
    );
    let err = load(&stack, RepositoryCache::new(base.path().join("cache"))).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("web.yaml (document 0"), "{message}");
    assert!(message.contains("Application web"), "{message}");
    assert!(message.contains(&url), "{message}");

    // The same for an ApplicationSet's generator: an error, never zero Applications.
    let other = tempfile::tempdir().unwrap();
    let stack = self::stack(other.path(), &[("appset.yaml", appset(&url))]);
    let message = load(&stack, RepositoryCache::new(other.path().join("cache")))
        .unwrap_err()
        .to_string();
    assert!(message.contains("appset.yaml (document 0"), "{message}");
    assert!(message.contains("ApplicationSet apps"), "{message}");
    assert!(message.contains(&url), "{message}");

    // Without a cache, an unmapped repository is refused before anything is fetched.
    let root = strata_sources::stack::repository_of(&stack).unwrap();
    let resolver = Arc::new(Repositories::new().with_stack_repository(&root));
    let message = load_stack_with(&stack, None, None, Some(resolver))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("no repository cache may fetch it"),
        "{message}"
    );
}

#[test]
fn mapped_directories_stand_for_repositories() {
    let base = tempfile::tempdir().unwrap();
    let bare = platform(base.path());
    let work = base.path().join("platform-work");
    // An uncommitted change: visible at HEAD (the working files), not at a tag.
    write(&work.join("apps/web/cm.yaml"), &config_map("web", "3"));
    let url = "https://git.example.com/team/platform.git";
    let stack = stack(
        base.path(),
        &[
            ("web.yaml", application("web", url, "HEAD", "apps/web")),
            ("web-v1.yaml", application("old", url, "v1", "apps/web")),
        ],
    );
    let root = strata_sources::stack::repository_of(&stack).unwrap();
    let resolver = Arc::new(
        Repositories::new()
            .with_stack_repository(&root)
            .with_mapping("git@git.example.com:team/platform", &work)
            .unwrap(),
    );
    let source = load_stack_with(&stack, None, None, Some(resolver)).unwrap();
    let mut values = config_maps(&source);
    values.sort();
    assert_eq!(values, ["old/web=1", "web/web=3"]);
    drop(bare);
}

#[test]
fn two_caches_fetching_one_repository_at_once_both_succeed() {
    let base = tempfile::tempdir().unwrap();
    let bare = platform(base.path());
    let url = RepoUrl::parse(&format!("file://{}", bare.display())).unwrap();
    let cache_dir = base.path().join("cache");
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (dir, url) = (cache_dir.clone(), url.clone());
            std::thread::spawn(move || {
                RepositoryCache::new(dir)
                    .tree(&url, "v1")
                    .map(|t| t.commit().to_owned())
            })
        })
        .collect();
    let commits: Vec<String> = threads
        .into_iter()
        .map(|t| t.join().unwrap().unwrap())
        .collect();
    assert!(commits.windows(2).all(|w| w[0] == w[1]), "{commits:?}");
}
