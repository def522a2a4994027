//! A moto server for tests, bootstrapped without manual steps.
//!
//! [`MotoServer::start`] creates (once, under a file lock, in the Cargo target directory) a
//! Python virtual environment with the pinned `moto[server]`, then starts moto on a free
//! 127.0.0.1 port and waits until it answers. Dropping the server kills it by its pid; the
//! server also exits on its own when the process that started it dies. Requests are served one
//! at a time, so S3's conditional writes are atomic as they are in AWS.
//!
//! Without Python, `venv` or `pip`, starting fails with a message saying what to install.
//! Clients built from [`MotoServer::settings`] carry explicit credentials and region, so
//! nothing reads the instance metadata service; child processes get
//! `AWS_EC2_METADATA_DISABLED=true` as well.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::config::AwsSettings;

/// The pinned moto version (5.2.x answers GetBucketVersioning in a shape the Rust SDK rejects).
pub const MOTO_VERSION: &str = "5.1.22";

/// The region test clients use.
pub const TEST_REGION: &str = "us-east-1";

const INSTALL_HINT: &str = "the AWS integration tests run moto, a Python AWS emulator, and need Python 3 with venv and pip: on Debian or Ubuntu `apt-get install python3 python3-venv python3-pip`, on macOS `brew install python`; set STRATA_PYTHON to use another interpreter";

const SERVER_SCRIPT: &str = r#"
import os, sys, threading, time
from werkzeug.serving import make_server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

port = int(sys.argv[1])
app = DomainDispatcherApplication(create_backend_app)
# One request at a time: conditional writes are then atomic, as in S3.
server = make_server("127.0.0.1", port, app, threaded=False)
server.socket.listen(128)
parent = os.getppid()

def watch_parent():
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)

threading.Thread(target=watch_parent, daemon=True).start()
server.serve_forever()
"#;

const SEED_SCRIPT: &str = r#"
import sys, boto3
ec2 = boto3.client("ec2", endpoint_url=sys.argv[1], region_name="us-east-1")
vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
ids = []
for i, zone in enumerate(["us-east-1a", "us-east-1b"]):
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=zone)
    ids.append(subnet["Subnet"]["SubnetId"])
print(vpc + " " + ",".join(ids))
"#;

/// Why a moto server could not be set up, started or seeded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestingError {
    /// A file or directory of the environment could not be created, written or locked.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A program (Python, pip, moto) could not be run at all.
    #[error("{what}: cannot run {program}: {source}; {hint}", hint = INSTALL_HINT)]
    CannotRun {
        /// What the program was run for.
        what: String,
        /// The program.
        program: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A program ran and failed.
    #[error("{what} failed ({status}):\n{stdout}\n{stderr}\n{hint}", hint = INSTALL_HINT)]
    CommandFailed {
        /// What the program was run for.
        what: String,
        /// Its exit status.
        status: ExitStatus,
        /// What it printed on standard output.
        stdout: String,
        /// What it printed on standard error.
        stderr: String,
    },
    /// No free local port could be found.
    #[error("finding a free port: {0}")]
    NoFreePort(#[source] std::io::Error),
    /// The moto server exited before answering.
    #[error("moto exited ({status}): {log}")]
    ServerExited {
        /// Its exit status.
        status: ExitStatus,
        /// Its log.
        log: String,
    },
    /// The moto server did not answer in time.
    #[error("moto did not answer on port {port} within 60 s")]
    ServerTimeout {
        /// The port it was started on.
        port: u16,
    },
    /// Seeding printed something other than `VPC SUBNET,SUBNET`.
    #[error("unexpected seeding output: {0}")]
    UnexpectedSeedOutput(String),
}

impl TestingError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Subnets seeded into moto's EC2 (RDS subnet groups need real subnet ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededSubnets {
    /// The VPC.
    pub vpc_id: String,
    /// Two subnets in different availability zones.
    pub subnet_ids: Vec<String>,
}

/// A running moto server, killed by pid on drop.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    port: u16,
    venv: PathBuf,
    log: PathBuf,
}

/// The Cargo target directory of the running test binary (`CARGO_TARGET_DIR` when set).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    // Test binaries live in <target>/<profile>/deps/.
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| std::env::temp_dir().join("strata-target"))
}

fn python() -> String {
    std::env::var("STRATA_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

fn run(command: &mut Command, what: &str) -> Result<String, TestingError> {
    let out = command.output().map_err(|source| TestingError::CannotRun {
        what: what.to_owned(),
        program: command.get_program().to_string_lossy().into_owned(),
        source,
    })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(TestingError::CommandFailed {
            what: what.to_owned(),
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// Creates the virtual environment with the pinned moto once (under a file lock shared by
/// every test binary) and returns its directory.
pub fn ensure_venv() -> Result<PathBuf, TestingError> {
    let target = target_dir();
    std::fs::create_dir_all(&target).map_err(TestingError::io(&target))?;
    let venv = target.join(format!("moto-venv-{MOTO_VERSION}"));
    let lock_path = target.join(format!("moto-venv-{MOTO_VERSION}.lock"));
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(TestingError::io(&lock_path))?;
    lock.lock().map_err(TestingError::io(&lock_path))?;
    let result = (|| {
        let ready = venv.join(".strata-ready");
        if !ready.exists() {
            if venv.exists() {
                std::fs::remove_dir_all(&venv).map_err(TestingError::io(&venv))?;
            }
            run(
                Command::new(python()).arg("-m").arg("venv").arg(&venv),
                "creating the moto virtual environment",
            )?;
            run(
                Command::new(venv.join("bin").join("pip"))
                    .args(["install", "--quiet", "--disable-pip-version-check"])
                    .arg(format!("moto[server]=={MOTO_VERSION}")),
                "installing moto",
            )?;
            std::fs::write(&ready, MOTO_VERSION).map_err(TestingError::io(&ready))?;
        }
        let script = venv.join("strata_moto_server.py");
        if std::fs::read_to_string(&script).ok().as_deref() != Some(SERVER_SCRIPT) {
            std::fs::write(&script, SERVER_SCRIPT).map_err(TestingError::io(&script))?;
        }
        Ok(venv.clone())
    })();
    let _ = lock.unlock();
    result
}

fn free_port() -> Result<u16, TestingError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(TestingError::NoFreePort)?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(TestingError::NoFreePort)
}

fn answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream
        .write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
}

impl MotoServer {
    /// Ensures the environment and starts a server on a free port.
    pub fn start() -> Result<Self, TestingError> {
        let venv = ensure_venv()?;
        let logs = target_dir().join("moto-logs");
        std::fs::create_dir_all(&logs).map_err(TestingError::io(&logs))?;
        let mut last_error = None;
        for _ in 0..3 {
            let port = free_port()?;
            let log = logs.join(format!("moto-{}-{port}.log", std::process::id()));
            let out = File::create(&log).map_err(TestingError::io(&log))?;
            let err = out.try_clone().map_err(TestingError::io(&log))?;
            let child = Command::new(venv.join("bin").join("python"))
                .arg(venv.join("strata_moto_server.py"))
                .arg(port.to_string())
                .env("MOTO_PORT", port.to_string())
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .map_err(|source| TestingError::CannotRun {
                    what: "starting moto".to_owned(),
                    program: venv.join("bin").join("python").display().to_string(),
                    source,
                })?;
            let mut server = Self {
                child,
                port,
                venv: venv.clone(),
                log: log.clone(),
            };
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if answers(port) {
                    return Ok(server);
                }
                if let Ok(Some(status)) = server.child.try_wait() {
                    last_error = Some(TestingError::ServerExited {
                        status,
                        log: std::fs::read_to_string(&log).unwrap_or_default(),
                    });
                    break;
                }
                if Instant::now() > deadline {
                    last_error = Some(TestingError::ServerTimeout { port });
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            drop(server);
        }
        Err(last_error.unwrap_or(TestingError::ServerTimeout { port: 0 }))
    }

    /// A server shared by the tests of this binary running at the same time; it stops when the
    /// last of them drops its handle.
    pub fn shared() -> Result<Arc<Self>, TestingError> {
        static SHARED: Mutex<Weak<MotoServer>> = Mutex::new(Weak::new());
        let mut slot = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(server) = slot.upgrade() {
            return Ok(server);
        }
        let server = Arc::new(Self::start()?);
        *slot = Arc::downgrade(&server);
        Ok(server)
    }

    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The endpoint URL (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The virtual environment's directory.
    pub fn venv(&self) -> &Path {
        &self.venv
    }

    /// Settings for clients of this server: endpoint, region and dummy credentials.
    pub fn settings(&self) -> AwsSettings {
        AwsSettings::local(self.endpoint(), TEST_REGION)
    }

    /// Environment variables for a child process (the CLI) talking to this server.
    pub fn child_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_REGION", TEST_REGION.to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("AWS_CONFIG_FILE", "/dev/null".to_owned()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_owned()),
        ]
    }

    /// Creates a VPC and two subnets with boto3 (shipped with moto), for RDS subnet groups.
    pub fn seed_subnets(&self) -> Result<SeededSubnets, TestingError> {
        let mut command = Command::new(self.venv.join("bin").join("python"));
        command.arg("-c").arg(SEED_SCRIPT).arg(self.endpoint());
        for (k, v) in self.child_env() {
            command.env(k, v);
        }
        let out = run(&mut command, "seeding subnets")?;
        let (vpc, subnets) = out
            .trim()
            .split_once(' ')
            .ok_or_else(|| TestingError::UnexpectedSeedOutput(out.clone()))?;
        Ok(SeededSubnets {
            vpc_id: vpc.to_owned(),
            subnet_ids: subnets.split(',').map(str::to_owned).collect(),
        })
    }

    /// The server's log file.
    pub fn log(&self) -> &Path {
        &self.log
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
