//! A real Kubernetes control plane for integration tests: `etcd` and `kube-apiserver` on free
//! 127.0.0.1 ports, with a PKI generated in Rust, RBAC on, and an admin kubeconfig.
//!
//! * Programs: from `$KUBEBUILDER_ASSETS` (a directory with `kube-apiserver`, `etcd` and
//!   optionally `kubectl`, envtest's convention), else built once from the Go module proxy at
//!   the pinned [`KUBERNETES_VERSION`] and [`ETCD_VERSION`] into the Cargo target directory,
//!   under a file lock (see [`binaries`]). Without either, starting fails with one line saying
//!   how to provide them.
//! * [`shared`] starts one control plane per test binary; each test takes a fresh namespace
//!   ([`ControlPlane::namespace`]) and its own clients ([`ControlPlane::client`],
//!   [`ControlPlane::service_account_client`]).
//! * Stopping: dropping a [`ControlPlane`] kills both programs by pid. The shared one lives in
//!   a static, which Rust never drops, so a watchdog process waits for the test process's pipe
//!   to close (at exit, also after panics) and then stops both programs and removes the data
//!   directory.
//!
//! The kubeconform oracle for Strata's manifest validation lives here too: [`kubeconform`]
//! (built once from the Go module proxy, or `$KUBECONFORM`), [`schemas`] (kubeconform's
//! standalone strict JSON schemas generated from a real API server's `/openapi/v2`, cached per
//! Kubernetes version), [`corpus`] (deterministic manifests with planted defects) and
//! [`compare`] (verdicts matched manifest by manifest).
//!
//! So does the Helm oracle for Strata's chart rendering: [`helm`] (`helm template`, built once
//! from the Go module proxy, or `$HELM`), and the OCI registry Helm charts are pushed to:
//! [`registry`] (the distribution registry, built once from the Go module proxy, or
//! `$DISTRIBUTION_REGISTRY`, run on a free 127.0.0.1 port).
//!
//! And the Crossplane composition functions Strata's pipelines are compared with:
//! [`functions`] (function-go-templating, function-patch-and-transform and function-auto-ready,
//! each built once from the Go module proxy or named by an environment variable, run on a free
//! 127.0.0.1 port).

pub mod binaries;
pub mod certs;
pub mod chart_server;
pub mod compare;
pub mod corpus;
pub mod error;
pub mod functions;
pub mod git;
pub mod helm;
pub mod kubeconform;
pub mod registry;
pub mod schemas;

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

pub use binaries::{Binaries, ETCD_VERSION, KUBERNETES_VERSION, PREREQUISITES_HINT};
pub use certs::Pki;
pub use error::TestKubeError;

/// How long the API server gets to answer `/readyz` with `ok`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// A running etcd and kube-apiserver. See the crate documentation.
#[derive(Debug)]
pub struct ControlPlane {
    etcd: Mutex<Child>,
    apiserver: Mutex<Child>,
    apiserver_args: Vec<String>,
    etcd_url: String,
    watchdog: Option<(Child, ChildStdin)>,
    data_dir: PathBuf,
    kubeconfig_path: PathBuf,
    server_url: String,
    pki: Pki,
    binaries: Binaries,
    server_version: String,
    namespaces_created: AtomicU64,
}

/// The Cargo target directory of the running test binary (`CARGO_TARGET_DIR` when set): test
/// and bench binaries live in `<target>/<profile>/deps/` (examples in `…/examples/`); another
/// binary's nearest directory above it that Cargo marked with `CACHEDIR.TAG`. A binary copied
/// out of a target directory gets `strata-target` under the temporary directory instead of a
/// guess about its parents.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| target_dir_of(&exe))
        .unwrap_or_else(|| std::env::temp_dir().join("strata-target"))
}

/// The target directory of the Cargo-built program at `program`, if it is in one.
fn target_dir_of(program: &Path) -> Option<PathBuf> {
    let parent = program.parent()?;
    if matches!(
        parent.file_name().and_then(|n| n.to_str()),
        Some("deps" | "examples")
    ) {
        return Some(parent.parent()?.parent()?.to_path_buf());
    }
    program
        .ancestors()
        .skip(1)
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
}

/// The control plane shared by every test of this test binary, started on first use.
///
/// # Panics
///
/// When it cannot be provided or started, with the reason in one line (every test using it
/// fails the same way; none is skipped).
pub fn shared() -> &'static ControlPlane {
    static SHARED: OnceLock<Result<ControlPlane, TestKubeError>> = OnceLock::new();
    match SHARED.get_or_init(ControlPlane::start) {
        Ok(plane) => plane,
        Err(error) => panic!("{error}"),
    }
}

fn free_port() -> Result<u16, TestKubeError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(TestKubeError::Port)?;
    Ok(listener.local_addr().map_err(TestKubeError::Port)?.port())
}

fn write(path: &Path, contents: &str) -> Result<(), TestKubeError> {
    std::fs::write(path, contents).map_err(|source| TestKubeError::Io {
        path: path.to_owned(),
        source,
    })
}

fn log_file(path: &Path) -> Result<std::fs::File, TestKubeError> {
    std::fs::File::create(path).map_err(|source| TestKubeError::Io {
        path: path.to_owned(),
        source,
    })
}

fn spawn(program: &Path, args: &[String], log: &Path) -> Result<Child, TestKubeError> {
    let out = log_file(log)?;
    let err = out.try_clone().map_err(|source| TestKubeError::Io {
        path: log.to_owned(),
        source,
    })?;
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|source| TestKubeError::Spawn {
            program: program.display().to_string(),
            source,
        })
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

/// A kubeconfig with one cluster, one user and one context (`testkube`).
fn kubeconfig_yaml(server_url: &str, ca_pem: &str, user: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\n\
         clusters:\n- name: testkube\n  cluster:\n    server: {server_url}\n    certificate-authority-data: {ca}\n\
         users:\n- name: testkube\n  user:\n{user}\
         contexts:\n- name: testkube\n  context:\n    cluster: testkube\n    user: testkube\n    namespace: default\n\
         current-context: testkube\n",
        ca = BASE64.encode(ca_pem),
    )
}

/// A DNS label from a test's hint: lowercase letters, digits and dashes, at most 50 characters.
fn dns_label(hint: &str) -> String {
    let label: String = hint
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(50)
        .collect();
    let label = label.trim_matches('-');
    if label.is_empty() {
        "test".to_owned()
    } else {
        label.to_owned()
    }
}

impl ControlPlane {
    /// Provides the programs, then starts etcd and kube-apiserver and waits until the API
    /// server is ready. Prints the server's version on standard error.
    pub fn start() -> Result<Self, TestKubeError> {
        let binaries = binaries::ensure(&target_dir())?;
        let data_dir = tempfile::Builder::new()
            .prefix("strata-testkube-")
            .tempdir()
            .map_err(|source| TestKubeError::Io {
                path: std::env::temp_dir(),
                source,
            })?
            .keep();
        let pki = Pki::generate()?;
        let pki_dir = data_dir.join("pki");
        std::fs::create_dir_all(&pki_dir).map_err(|source| TestKubeError::Io {
            path: pki_dir.clone(),
            source,
        })?;
        let file = |name: &str| pki_dir.join(name).display().to_string();
        write(&pki_dir.join("ca.crt"), &pki.ca_pem)?;
        write(&pki_dir.join("apiserver.crt"), &pki.serving.certificate_pem)?;
        write(&pki_dir.join("apiserver.key"), &pki.serving.key_pem)?;
        write(
            &pki_dir.join("service-account.key"),
            &pki.service_account_key_pem,
        )?;
        write(
            &pki_dir.join("service-account.pub"),
            &pki.service_account_public_key_pem,
        )?;

        let etcd_port = free_port()?;
        let peer_port = free_port()?;
        let apiserver_port = free_port()?;
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let etcd_args = vec![
            "--name=default".to_owned(),
            format!("--data-dir={}", data_dir.join("etcd").display()),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=default={peer_url}"),
            "--unsafe-no-fsync=true".to_owned(),
            "--log-level=warn".to_owned(),
        ];
        let etcd = spawn(&binaries.etcd, &etcd_args, &data_dir.join("etcd.log"))?;
        let apiserver_args = vec![
            format!("--etcd-servers={etcd_url}"),
            "--bind-address=127.0.0.1".to_owned(),
            "--advertise-address=127.0.0.1".to_owned(),
            format!("--secure-port={apiserver_port}"),
            format!("--cert-dir={}", data_dir.join("certs").display()),
            format!("--tls-cert-file={}", file("apiserver.crt")),
            format!("--tls-private-key-file={}", file("apiserver.key")),
            format!("--client-ca-file={}", file("ca.crt")),
            "--authorization-mode=Node,RBAC".to_owned(),
            "--service-cluster-ip-range=10.0.0.0/24".to_owned(),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".to_owned(),
            format!("--service-account-key-file={}", file("service-account.pub")),
            format!(
                "--service-account-signing-key-file={}",
                file("service-account.key")
            ),
            "--allow-privileged=true".to_owned(),
            "--v=1".to_owned(),
        ];
        let apiserver = match spawn(
            &binaries.kube_apiserver,
            &apiserver_args,
            &data_dir.join("kube-apiserver.log"),
        ) {
            Ok(child) => child,
            Err(error) => {
                let mut etcd = etcd;
                let _ = etcd.kill();
                let _ = etcd.wait();
                return Err(error);
            }
        };
        let server_url = format!("https://127.0.0.1:{apiserver_port}");
        let admin_user = format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            BASE64.encode(&pki.admin.certificate_pem),
            BASE64.encode(&pki.admin.key_pem)
        );
        let kubeconfig_path = data_dir.join("kubeconfig");
        let mut plane = Self {
            etcd: Mutex::new(etcd),
            apiserver: Mutex::new(apiserver),
            apiserver_args,
            etcd_url,
            watchdog: None,
            data_dir,
            kubeconfig_path,
            server_url,
            pki,
            binaries,
            server_version: String::new(),
            namespaces_created: AtomicU64::new(0),
        };
        // From here on, dropping `plane` stops both programs.
        write(
            &plane.kubeconfig_path,
            &kubeconfig_yaml(&plane.server_url, &plane.pki.ca_pem, &admin_user),
        )?;
        plane.write_pids()?;
        plane.watchdog = Some(plane.spawn_watchdog()?);
        plane.server_version =
            std::thread::scope(|scope| scope.spawn(|| plane.wait_until_ready()).join())
                .unwrap_or_else(|_| {
                    Err(TestKubeError::NotReady {
                        seconds: 0,
                        last: "the readiness check panicked".to_owned(),
                        log: plane.data_dir.join("kube-apiserver.log"),
                    })
                })?;
        let _ = writeln!(
            std::io::stderr(),
            "testkube: kube-apiserver {} with etcd at {} ({}; data in {})",
            plane.server_version,
            plane.server_url,
            if std::env::var_os(binaries::ASSETS_VARIABLE).is_some() {
                "from KUBEBUILDER_ASSETS".to_owned()
            } else {
                format!("etcd {ETCD_VERSION}")
            },
            plane.data_dir.display()
        );
        Ok(plane)
    }

    /// A shell that waits for end-of-file on its standard input (the pipe this process holds
    /// open until it exits), then stops both programs and removes the data directory.
    fn spawn_watchdog(&self) -> Result<(Child, ChildStdin), TestKubeError> {
        // The pids are read at the end: a restarted API server has a new one.
        const SCRIPT: &str = "dir=$1; read -r _ignored; pids=$(cat \"$dir/pids\"); \
                              kill -TERM $pids 2>/dev/null; sleep 2; kill -KILL $pids 2>/dev/null; \
                              rm -rf \"$dir\"";
        let mut child = Command::new("sh")
            .args(["-c", SCRIPT, "testkube-watchdog"])
            .arg(&self.data_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| TestKubeError::Spawn {
                program: "sh".to_owned(),
                source,
            })?;
        let stdin = child.stdin.take().ok_or_else(|| TestKubeError::Spawn {
            program: "sh".to_owned(),
            source: std::io::Error::other("no standard input pipe"),
        })?;
        Ok((child, stdin))
    }

    /// Records the programs' pids for the watchdog.
    fn write_pids(&self) -> Result<(), TestKubeError> {
        let apiserver = self
            .apiserver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .id();
        write(
            &self.data_dir.join("pids"),
            &format!(
                "{apiserver} {}\n",
                self.etcd
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .id()
            ),
        )
    }

    /// Stops the API server, has etcd compact its history up to its current revision (so
    /// every resource version a client saw before is gone: a watch resumed from one gets
    /// `410 Gone`), then starts the API server again with the same settings and waits until
    /// it is ready. Clients built before keep working once it is. Returns the compacted
    /// revision.
    ///
    /// Every test sharing this control plane sees the server go away for a few seconds: call
    /// it only from a test binary of its own.
    pub fn restart_apiserver_after_compaction(&self) -> Result<u64, TestKubeError> {
        {
            let mut apiserver = self
                .apiserver
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let _ = apiserver.kill();
            let _ = apiserver.wait();
        }
        let put = self.etcd_call(
            "/v3/kv/put",
            &format!(
                "{{\"key\":\"{}\",\"value\":\"{}\"}}",
                BASE64.encode("/strata-testkube/compaction"),
                BASE64.encode("1")
            ),
        )?;
        let revision: u64 = serde_json::from_str::<serde_json::Value>(&put)
            .ok()
            .and_then(|v| v.pointer("/header/revision")?.as_str()?.parse().ok())
            .ok_or_else(|| TestKubeError::Etcd {
                step: "put",
                answer: put.clone(),
            })?;
        self.etcd_call(
            "/v3/kv/compaction",
            &format!("{{\"revision\":\"{revision}\",\"physical\":true}}"),
        )?;
        let log = self.data_dir.join("kube-apiserver-restarted.log");
        let restarted = spawn(&self.binaries.kube_apiserver, &self.apiserver_args, &log)?;
        *self
            .apiserver
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = restarted;
        self.write_pids()?;
        self.wait_until_ready_at(&log)?;
        Ok(revision)
    }

    /// POSTs `body` to etcd's JSON gateway at `path`; returns the answer's body.
    fn etcd_call(&self, path: &str, body: &str) -> Result<String, TestKubeError> {
        use std::io::Read;
        let address = self.etcd_url.trim_start_matches("http://");
        let io = |source| TestKubeError::Io {
            path: PathBuf::from(format!("{}{path}", self.etcd_url)),
            source,
        };
        let mut stream = std::net::TcpStream::connect(address).map_err(io)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(io)?;
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .map_err(io)?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).map_err(io)?;
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        if !head.starts_with("HTTP/1.1 200") {
            return Err(TestKubeError::Etcd {
                step: if path.ends_with("put") {
                    "put"
                } else {
                    "compaction"
                },
                answer,
            });
        }
        Ok(body.to_owned())
    }

    /// Polls `/readyz` until it answers `ok`; returns the server's `gitVersion`.
    fn wait_until_ready(&mut self) -> Result<String, TestKubeError> {
        let log = self.data_dir.join("kube-apiserver.log");
        self.wait_until_ready_at(&log)
    }

    /// Polls `/readyz` until it answers `ok` (the API server logging to `apiserver_log`);
    /// returns the server's `gitVersion`.
    fn wait_until_ready_at(&self, apiserver_log: &Path) -> Result<String, TestKubeError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(TestKubeError::Runtime)?;
        let started = Instant::now();
        loop {
            let etcd_log = self.data_dir.join("etcd.log");
            for (program, child, log) in [
                ("etcd", &self.etcd, etcd_log.as_path()),
                ("kube-apiserver", &self.apiserver, apiserver_log),
            ] {
                let exited = child
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .try_wait();
                if let Ok(Some(status)) = exited {
                    return Err(TestKubeError::Exited {
                        program,
                        status,
                        log_tail: log_tail(log),
                        log: log.to_owned(),
                    });
                }
            }
            let answer = runtime.block_on(async {
                let client = self.client().await?;
                let request = http::Request::get("/readyz")
                    .body(Vec::new())
                    .map_err(kube::Error::HttpError)?;
                let text = client.request_text(request).await?;
                if text.trim() == "ok" {
                    Ok(Some(client.apiserver_version().await?.git_version))
                } else {
                    Ok::<_, TestKubeError>(None)
                }
            });
            let last = match answer {
                Ok(Some(version)) => return Ok(version),
                Ok(None) => "not ready".to_owned(),
                Err(error) => error.to_string(),
            };
            if started.elapsed() > READY_TIMEOUT {
                return Err(TestKubeError::NotReady {
                    seconds: READY_TIMEOUT.as_secs(),
                    last,
                    log: apiserver_log.to_owned(),
                });
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// A client authenticated as the admin (`system:masters`), default namespace `default`.
    /// Build one per test: a client belongs to the tokio runtime it was built in.
    pub async fn client(&self) -> Result<kube::Client, TestKubeError> {
        let text =
            std::fs::read_to_string(&self.kubeconfig_path).map_err(|source| TestKubeError::Io {
                path: self.kubeconfig_path.clone(),
                source,
            })?;
        self.client_from_kubeconfig(&text).await
    }

    async fn client_from_kubeconfig(&self, yaml: &str) -> Result<kube::Client, TestKubeError> {
        let kubeconfig = Kubeconfig::from_yaml(yaml)?;
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        Ok(kube::Client::try_from(config)?)
    }

    /// Creates a fresh namespace named after `hint` (plus a counter) and returns its name.
    pub async fn namespace(
        &self,
        client: &kube::Client,
        hint: &str,
    ) -> Result<String, TestKubeError> {
        let number = self.namespaces_created.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}-{number}", dns_label(hint));
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await?;
        Ok(name)
    }

    /// A client authenticated as ServiceAccount `namespace/name` (created when missing) with a
    /// short-lived token from the TokenRequest API. It has only the rights RBAC grants it.
    pub async fn service_account_client(
        &self,
        admin: &kube::Client,
        namespace: &str,
        name: &str,
    ) -> Result<kube::Client, TestKubeError> {
        let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), namespace);
        if accounts.get_opt(name).await?.is_none() {
            let account = ServiceAccount {
                metadata: ObjectMeta {
                    name: Some(name.to_owned()),
                    ..ObjectMeta::default()
                },
                ..ServiceAccount::default()
            };
            accounts.create(&PostParams::default(), &account).await?;
        }
        let issued = accounts
            .create_token_request(name, &PostParams::default(), &TokenRequest::default())
            .await?;
        let token = issued
            .status
            .map(|status| status.token)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| TestKubeError::NoToken {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })?;
        let yaml = kubeconfig_yaml(
            &self.server_url,
            &self.pki.ca_pem,
            &format!("    token: {token}\n"),
        );
        self.client_from_kubeconfig(&yaml).await
    }

    /// `kubectl` set up for the admin (`--kubeconfig`), from the same release as the server.
    pub fn kubectl(&self) -> Result<Command, TestKubeError> {
        let program = self
            .binaries
            .kubectl
            .as_ref()
            .ok_or(TestKubeError::NoKubectl {
                hint: PREREQUISITES_HINT,
            })?;
        let mut command = Command::new(program);
        command.arg("--kubeconfig").arg(&self.kubeconfig_path);
        Ok(command)
    }

    /// The admin kubeconfig file.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// The API server's URL (`https://127.0.0.1:<port>`).
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The server's version (`gitVersion`, e.g. `v1.34.4`).
    pub fn server_version(&self) -> &str {
        &self.server_version
    }

    /// The generated certificates and keys.
    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// The directory with etcd's data, the logs and the kubeconfig.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let apiserver = self
            .apiserver
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        let etcd = self.etcd.get_mut().unwrap_or_else(PoisonError::into_inner);
        for child in [apiserver, etcd] {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some((mut watchdog, _stdin)) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_dns_labels() {
        assert_eq!(dns_label("SSA conflicts_force"), "ssa-conflicts-force");
        assert_eq!(dns_label("--"), "test");
        assert_eq!(dns_label(&"x".repeat(80)).len(), 50);
    }

    #[test]
    fn the_target_directory_is_found_from_where_cargo_puts_programs() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("target");
        let deps = target.join("release").join("deps");
        std::fs::create_dir_all(&deps).unwrap();
        assert_eq!(
            target_dir_of(&deps.join("helm-bench")),
            Some(target.clone())
        );
        // A program in the profile directory itself, in a target directory Cargo marked.
        let program = target.join("release").join("strata");
        assert_eq!(target_dir_of(&program), None);
        std::fs::write(
            target.join("CACHEDIR.TAG"),
            "Signature: 8a477f597d28d172789f06886806bc55",
        )
        .unwrap();
        assert_eq!(target_dir_of(&program), Some(target.clone()));
        // A program copied elsewhere is in no target directory.
        let copied = root.path().join("bin").join("helm-bench");
        assert_eq!(target_dir_of(&copied), None);
        // This test program is in this workspace's target directory.
        let me = std::env::current_exe().unwrap();
        assert!(me.starts_with(target_dir()), "{}", me.display());
    }
}
