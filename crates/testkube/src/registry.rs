//! An OCI registry for tests: the CNCF distribution registry (`registry`, the program behind
//! `docker run registry`), from `$DISTRIBUTION_REGISTRY` (a path to the program), or built once
//! from the Go module proxy at the pinned [`REGISTRY_VERSION`] into the Cargo target directory,
//! under a file lock, exactly as [`crate::helm`] builds helm.
//!
//! [`Registry::start`] runs it on a free 127.0.0.1 port over plain HTTP, its storage a fresh
//! temporary directory, optionally behind basic authentication (an `htpasswd` file of bcrypt
//! hashes); dropping the [`Registry`] stops it.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::binaries::{GoProgram, io_error, program_from_env, run_go, write_file};
use crate::error::TestKubeError;

/// The pinned distribution release (`github.com/distribution/distribution/v3`).
pub const REGISTRY_VERSION: &str = "v3.1.2";
/// The Go module the registry is built from.
pub const REGISTRY_MODULE: &str = "github.com/distribution/distribution/v3";
/// The environment variable naming a registry program to use instead of building one.
pub const REGISTRY_VARIABLE: &str = "DISTRIBUTION_REGISTRY";

/// How to provide the registry, said in one line.
pub const REGISTRY_HINT: &str = "the OCI chart tests need the distribution registry: install Go 1.26 or newer (it is then built from the Go module proxy into target/ once, a few minutes on 2 cores) or set DISTRIBUTION_REGISTRY to the path of a distribution v3 `registry` binary";

/// How long the registry may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The program: `$DISTRIBUTION_REGISTRY` when set, else built (once) into `target_dir`.
pub fn ensure(target_dir: &Path) -> Result<PathBuf, TestKubeError> {
    let missing = |path| TestKubeError::MissingRegistry {
        path,
        hint: REGISTRY_HINT,
    };
    if let Some(given) = program_from_env(REGISTRY_VARIABLE, missing) {
        return given;
    }
    let no_go = || TestKubeError::Prerequisites {
        hint: REGISTRY_HINT,
    };
    GoProgram {
        root: build_dir(target_dir),
        program: "registry",
        title: format!("the distribution registry {REGISTRY_VERSION}"),
        module_name: "registry",
        requirements: format!(
            "require {REGISTRY_MODULE} {REGISTRY_VERSION}\n\ntool {REGISTRY_MODULE}/cmd/registry\n"
        ),
        no_go: &no_go,
        build_failed: &|error| error,
    }
    .build_once(|module_dir, log, output| {
        let package = format!("{REGISTRY_MODULE}/cmd/registry");
        let ldflags = format!("-s -w -X {REGISTRY_MODULE}/version.version={REGISTRY_VERSION}");
        run_go(
            module_dir,
            &[
                "build",
                "-trimpath",
                "-ldflags",
                &ldflags,
                "-o",
                output,
                &package,
            ],
            log,
        )?;
        Ok(String::new())
    })
}

/// The directory the pinned build lives in (`<target>/distribution-registry-<version>`).
pub fn build_dir(target_dir: &Path) -> PathBuf {
    target_dir.join(format!("distribution-registry-{REGISTRY_VERSION}"))
}

/// How a [`Registry`] is started.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RegistryOptions {
    /// `htpasswd` lines (`user:<bcrypt hash>`): when any, every request needs basic
    /// authentication as one of these users.
    pub htpasswd: Vec<String>,
}

impl RegistryOptions {
    /// Requires basic authentication as `user`, whose password's bcrypt hash is `bcrypt`.
    pub fn with_user(mut self, user: &str, bcrypt: &str) -> Self {
        self.htpasswd.push(format!("{user}:{bcrypt}"));
        self
    }
}

/// A running registry; dropping it stops it and removes its storage.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    address: SocketAddr,
    dir: tempfile::TempDir,
}

impl Registry {
    /// Starts `program` on a free 127.0.0.1 port (plain HTTP, storage in a temporary
    /// directory, deletes allowed) and waits until it accepts connections.
    pub fn start(program: &Path, options: &RegistryOptions) -> Result<Registry, TestKubeError> {
        let dir = tempfile::Builder::new()
            .prefix("strata-registry-")
            .tempdir()
            .map_err(io_error(&std::env::temp_dir()))?;
        let port = crate::free_port()?;
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let storage = dir.path().join("storage");
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: {address}\n",
            storage.display()
        );
        if !options.htpasswd.is_empty() {
            let htpasswd = dir.path().join("htpasswd");
            write_file(&htpasswd, &(options.htpasswd.join("\n") + "\n"))?;
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: strata-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        write_file(&config_path, &config)?;
        let log = dir.path().join("registry.log");
        let file = std::fs::File::create(&log).map_err(io_error(&log))?;
        let stderr = file.try_clone().map_err(io_error(&log))?;
        let child = Command::new(program)
            .arg("serve")
            .arg(&config_path)
            .env("OTEL_TRACES_EXPORTER", "none")
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(stderr)
            .spawn()
            .map_err(|source| TestKubeError::Spawn {
                program: program.display().to_string(),
                source,
            })?;
        let mut registry = Registry {
            child,
            address,
            dir,
        };
        registry.wait_listening()?;
        Ok(registry)
    }

    fn wait_listening(&mut self) -> Result<(), TestKubeError> {
        let started = Instant::now();
        let log = self.log();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(TestKubeError::Exited {
                    program: "registry",
                    status,
                    log,
                    log_tail: crate::binaries::last_lines(&text, 20),
                });
            }
            if TcpStream::connect_timeout(&self.address, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(TestKubeError::FunctionNotListening {
                    name: "registry",
                    address: self.address,
                    seconds: START_TIMEOUT.as_secs(),
                    log,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `127.0.0.1:<port>`, the registry host as OCI references name it.
    pub fn host(&self) -> String {
        self.address.to_string()
    }

    /// The directory its blobs and manifests are stored in (the filesystem driver's layout:
    /// `docker/registry/v2/blobs/sha256/<ab>/<digest>/data`).
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Its log file (standard output and error).
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
