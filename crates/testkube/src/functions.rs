//! Crossplane composition functions, the reference Strata's in-process pipelines are compared
//! with: each from an environment variable naming a prebuilt program, or built once from the Go
//! module proxy at a pinned version into the Cargo target directory, under a file lock (as
//! [`crate::helm`]). [`RunningFunction::start`] runs one on a free 127.0.0.1 port, without TLS
//! (`--insecure`), and kills it when dropped; callers speak `RunFunction` gRPC to
//! [`RunningFunction::address`].

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::binaries::{GoProgram, io_error, program_from_env, run_go};
use crate::error::TestKubeError;

/// A composition function Strata's pipelines are compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FunctionSpec {
    /// The function's name (`function-go-templating`), also the program's name.
    pub name: &'static str,
    /// The Go module path the program is built from, as its `go.mod` declares it.
    pub module: &'static str,
    /// Where the Go module proxy serves it, when not under [`module`](Self::module) (a
    /// repository that moved: its `go.mod` still declares the old path).
    pub served_as: Option<&'static str>,
    /// The pinned version.
    pub version: &'static str,
    /// The environment variable naming a prebuilt program to use instead of building one.
    pub variable: &'static str,
}

/// function-go-templating. Function-patch-and-transform and function-go-templating are pinned to
/// their latest releases, the behaviour Strata follows (function-go-templating v0.9.2, for one,
/// read no condition from a bare resource's `status` in `getResourceCondition`).
pub const GO_TEMPLATING: FunctionSpec = FunctionSpec {
    name: "function-go-templating",
    module: "github.com/crossplane-contrib/function-go-templating",
    served_as: None,
    version: "v0.12.2",
    variable: "FUNCTION_GO_TEMPLATING",
};

/// function-patch-and-transform.
pub const PATCH_AND_TRANSFORM: FunctionSpec = FunctionSpec {
    name: "function-patch-and-transform",
    module: "github.com/crossplane-contrib/function-patch-and-transform",
    served_as: None,
    version: "v0.10.8",
    variable: "FUNCTION_PATCH_AND_TRANSFORM",
};

/// function-auto-ready (its `go.mod` declares `github.com/crossplane/function-auto-ready`; the
/// proxy serves it from the crossplane-contrib repository).
pub const AUTO_READY: FunctionSpec = FunctionSpec {
    name: "function-auto-ready",
    module: "github.com/crossplane/function-auto-ready",
    served_as: Some("github.com/crossplane-contrib/function-auto-ready"),
    version: "v0.6.0",
    variable: "FUNCTION_AUTO_READY",
};

impl FunctionSpec {
    /// How to provide the program, said in one line.
    pub fn hint(&self) -> String {
        format!(
            "the differential tests of Crossplane functions need {name} {version}: install Go 1.26 or newer (it is then built from the Go module proxy into target/ once, a minute or two on 2 cores) or set {variable} to the path of a {name} {version} program (`go build` in a checkout of its {version} tag)",
            name = self.name,
            version = self.version,
            variable = self.variable,
        )
    }

    /// The directory the pinned build lives in (`<target>/<name>-<version>`).
    pub fn build_dir(&self, target_dir: &Path) -> PathBuf {
        target_dir.join(format!("{}-{}", self.name, self.version))
    }
}

/// The program: `$<variable>` when set, else built (once) into `target_dir`.
pub fn ensure(spec: &FunctionSpec, target_dir: &Path) -> Result<PathBuf, TestKubeError> {
    let missing = |path| TestKubeError::MissingFunction {
        variable: spec.variable,
        path,
        hint: spec.hint(),
    };
    if let Some(given) = program_from_env(spec.variable, missing) {
        return given;
    }
    let replace = spec
        .served_as
        .map(|served| format!("replace {} => {served} {}\n\n", spec.module, spec.version))
        .unwrap_or_default();
    let no_go = || TestKubeError::FunctionPrerequisites { hint: spec.hint() };
    let build_failed = |error| TestKubeError::FunctionBuild {
        name: spec.name,
        version: spec.version,
        hint: spec.hint(),
        source: Box::new(error),
    };
    GoProgram {
        root: spec.build_dir(target_dir),
        program: spec.name,
        title: format!("{} {}", spec.name, spec.version),
        module_name: spec.name,
        requirements: format!(
            "require {module} {version}\n\n{replace}tool {module}\n",
            module = spec.module,
            version = spec.version,
        ),
        no_go: &no_go,
        build_failed: &build_failed,
    }
    .build_once(|module_dir, log, output| {
        run_go(
            module_dir,
            &["build", "-trimpath", "-o", output, spec.module],
            log,
        )?;
        Ok(format!(" ({})", spec.module))
    })
}

/// A function serving `RunFunction` on 127.0.0.1 without TLS; killed when dropped.
#[derive(Debug)]
pub struct RunningFunction {
    child: Child,
    address: SocketAddr,
    log: PathBuf,
    name: &'static str,
}

/// How long a function may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(30);

impl RunningFunction {
    /// Starts `program` (the function `spec`) with `--insecure --address 127.0.0.1:<free port>`
    /// and waits until the port accepts connections. Its output goes to a log file in the
    /// temporary directory.
    pub fn start(spec: &FunctionSpec, program: &Path) -> Result<RunningFunction, TestKubeError> {
        let port = crate::free_port()?;
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let log = std::env::temp_dir().join(format!(
            "strata-{}-{}-{port}.log",
            spec.name,
            std::process::id()
        ));
        let file = std::fs::File::create(&log).map_err(io_error(&log))?;
        let stderr = file.try_clone().map_err(io_error(&log))?;
        let child = Command::new(program)
            .arg("--insecure")
            .arg("--address")
            .arg(address.to_string())
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(stderr)
            .spawn()
            .map_err(|source| TestKubeError::Spawn {
                program: program.display().to_string(),
                source,
            })?;
        let mut running = RunningFunction {
            child,
            address,
            log,
            name: spec.name,
        };
        running.wait_listening()?;
        Ok(running)
    }

    fn wait_listening(&mut self) -> Result<(), TestKubeError> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let text = std::fs::read_to_string(&self.log).unwrap_or_default();
                return Err(TestKubeError::Exited {
                    program: self.name,
                    status,
                    log: self.log.clone(),
                    log_tail: crate::binaries::last_lines(&text, 20),
                });
            }
            if TcpStream::connect_timeout(&self.address, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(TestKubeError::FunctionNotListening {
                    name: self.name,
                    address: self.address,
                    seconds: START_TIMEOUT.as_secs(),
                    log: self.log.clone(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:<port>`, for a gRPC client.
    pub fn uri(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Its log file (standard output and error).
    pub fn log(&self) -> &Path {
        &self.log
    }
}

impl Drop for RunningFunction {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
