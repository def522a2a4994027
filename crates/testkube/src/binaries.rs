//! The control plane's programs: from `$KUBEBUILDER_ASSETS` (envtest's convention), or built
//! once from the Go module proxy at pinned versions into the Cargo target directory.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::error::TestKubeError;

/// The pinned Kubernetes release `kube-apiserver` and `kubectl` are built from.
pub const KUBERNETES_VERSION: &str = "v1.34.4";
/// The pinned etcd release.
pub const ETCD_VERSION: &str = "v3.6.4";
/// The environment variable naming a directory with `kube-apiserver`, `etcd` (and `kubectl`).
pub const ASSETS_VARIABLE: &str = "KUBEBUILDER_ASSETS";

/// How to provide the programs, said in one line.
pub const PREREQUISITES_HINT: &str = "the real-API-server tests need kube-apiserver and etcd: install Go 1.24 or newer (the tests then build them from the Go module proxy into target/ once, about 8 to 10 minutes on 2 cores) or set KUBEBUILDER_ASSETS to a directory holding kube-apiserver, etcd and kubectl (e.g. `setup-envtest use 1.34 -p path`)";

/// Where the control plane's programs are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    /// `kube-apiserver`.
    pub kube_apiserver: PathBuf,
    /// `etcd`.
    pub etcd: PathBuf,
    /// `kubectl`, when there is one.
    pub kubectl: Option<PathBuf>,
}

/// The programs: from `$KUBEBUILDER_ASSETS` when set, else built (once) into `target_dir`.
pub fn ensure(target_dir: &Path) -> Result<Binaries, TestKubeError> {
    if let Some(assets) = std::env::var_os(ASSETS_VARIABLE) {
        return from_assets(Path::new(&assets));
    }
    build_once(target_dir)
}

fn from_assets(assets: &Path) -> Result<Binaries, TestKubeError> {
    let program = |name: &str| {
        let path = assets.join(name);
        if path.is_file() {
            Ok(path)
        } else {
            Err(TestKubeError::MissingAsset {
                path,
                hint: PREREQUISITES_HINT,
            })
        }
    };
    let kubectl = assets.join("kubectl");
    Ok(Binaries {
        kube_apiserver: program("kube-apiserver")?,
        etcd: program("etcd")?,
        kubectl: kubectl.is_file().then_some(kubectl),
    })
}

/// The directory the pinned build lives in.
pub fn build_dir(target_dir: &Path) -> PathBuf {
    target_dir.join(format!(
        "k8s-control-plane-{KUBERNETES_VERSION}-etcd-{ETCD_VERSION}"
    ))
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> TestKubeError + '_ {
    move |source| TestKubeError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Takes the exclusive lock `<root>.lock` that serializes building (or generating) `root`
/// across processes; held until the returned file is dropped.
pub(crate) fn lock_beside(root: &Path) -> Result<std::fs::File, TestKubeError> {
    let mut lock_name = root.to_path_buf().into_os_string();
    lock_name.push(".lock");
    let lock_path = PathBuf::from(lock_name);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_error(&lock_path))?;
    lock.lock().map_err(io_error(&lock_path))?;
    Ok(lock)
}

fn build_once(target_dir: &Path) -> Result<Binaries, TestKubeError> {
    let root = build_dir(target_dir);
    let bin = root.join("bin");
    let binaries = Binaries {
        kube_apiserver: bin.join("kube-apiserver"),
        etcd: bin.join("etcd"),
        kubectl: Some(bin.join("kubectl")),
    };
    let ready = bin.join(".ready");
    if ready.is_file() {
        return Ok(binaries);
    }
    std::fs::create_dir_all(&root).map_err(io_error(&root))?;
    let _lock = crate::binaries::lock_beside(&root)?;
    if ready.is_file() {
        return Ok(binaries);
    }
    check_go()?;
    let started = Instant::now();
    let log = root.join("build.log");
    build_kubernetes(&root, &bin, &log)?;
    build_etcd(&root, &bin, &log)?;
    let seconds = started.elapsed().as_secs();
    std::fs::write(
        &ready,
        format!("kubernetes {KUBERNETES_VERSION}, etcd {ETCD_VERSION}, built in {seconds} s\n"),
    )
    .map_err(io_error(&ready))?;
    // Shown even when the test harness captures output: the wait deserves an explanation.
    let _ = writeln!(
        std::io::stderr(),
        "testkube: built kube-apiserver and kubectl {KUBERNETES_VERSION} and etcd {ETCD_VERSION} into {} in {seconds} s",
        bin.display()
    );
    Ok(binaries)
}

/// A program given by the environment variable `variable`: `None` when it is not set, its path
/// when that is a file, else the error `missing` makes of the path.
pub(crate) fn program_from_env(
    variable: &str,
    missing: impl FnOnce(PathBuf) -> TestKubeError,
) -> Option<Result<PathBuf, TestKubeError>> {
    let path = PathBuf::from(std::env::var_os(variable)?);
    Some(if path.is_file() {
        Ok(path)
    } else {
        Err(missing(path))
    })
}

/// One Go program built once from the Go module proxy into `<root>/bin/<program>`, under the
/// lock beside `root`, by a generated module that requires it (see [`GoProgram::build_once`]).
pub(crate) struct GoProgram<'a> {
    /// The build directory (`<target>/<name>-<version>`).
    pub(crate) root: PathBuf,
    /// The program's file name.
    pub(crate) program: &'a str,
    /// What it is called in messages (`helm v3.21.4`).
    pub(crate) title: String,
    /// The last element of the generated module's path (`strata.local/testkube/<name>`).
    pub(crate) module_name: &'a str,
    /// The generated `go.mod` after its `go` line: its `require`, `replace` and `tool` lines.
    pub(crate) requirements: String,
    /// The error when Go is missing.
    pub(crate) no_go: &'a dyn Fn() -> TestKubeError,
    /// What a failed `go mod tidy` or build becomes.
    pub(crate) build_failed: &'a dyn Fn(TestKubeError) -> TestKubeError,
}

impl GoProgram<'_> {
    /// The program, built first unless a finished build is there: `build(module_dir, log,
    /// output)` runs the `go build` (after `go mod tidy`) and returns what the `.ready` marker
    /// adds to the title (`" (Kubernetes v1.35.0 by default)"`, or nothing).
    pub(crate) fn build_once(
        &self,
        build: impl FnOnce(&Path, &Path, &str) -> Result<String, TestKubeError>,
    ) -> Result<PathBuf, TestKubeError> {
        let root = &self.root;
        let bin = root.join("bin");
        let program = bin.join(self.program);
        let ready = bin.join(".ready");
        if ready.is_file() {
            return Ok(program);
        }
        std::fs::create_dir_all(root).map_err(io_error(root))?;
        let _lock = lock_beside(root)?;
        if ready.is_file() {
            return Ok(program);
        }
        match go().arg("version").output() {
            Ok(out) if out.status.success() => {}
            _ => return Err((self.no_go)()),
        }
        let started = Instant::now();
        let log = root.join("build.log");
        let module_dir = root.join("module");
        write_file(
            &module_dir.join("go.mod"),
            &format!(
                "// Generated by stratagit-testkube: builds {title}.\n\
                 module strata.local/testkube/{name}\n\n\
                 go 1.26\n\n\
                 {requirements}",
                title = self.title,
                name = self.module_name,
                requirements = self.requirements,
            ),
        )?;
        let note = run_go(&module_dir, &["mod", "tidy"], &log)
            .and_then(|_| build(&module_dir, &log, &program.to_string_lossy()))
            .map_err(self.build_failed)?;
        let seconds = started.elapsed().as_secs();
        std::fs::write(
            &ready,
            format!("{}{note}, built in {seconds} s\n", self.title),
        )
        .map_err(io_error(&ready))?;
        // Shown even when the test harness captures output: the wait deserves an explanation.
        let _ = writeln!(
            std::io::stderr(),
            "testkube: built {} into {} in {seconds} s",
            self.title,
            bin.display()
        );
        Ok(program)
    }
}

pub(crate) fn go() -> Command {
    let mut command = Command::new("go");
    command
        .env("GOTOOLCHAIN", "local")
        .env("GOWORK", "off")
        .env("GOFLAGS", "-mod=mod");
    command
}

fn check_go() -> Result<(), TestKubeError> {
    match go().arg("version").output() {
        Ok(out) if out.status.success() => Ok(()),
        _ => Err(TestKubeError::Prerequisites {
            hint: PREREQUISITES_HINT,
        }),
    }
}

/// Runs a Go command in `dir`, appending its output to `log`.
pub(crate) fn run_go(dir: &Path, args: &[&str], log: &Path) -> Result<String, TestKubeError> {
    let step = format!("go {}", args.join(" "));
    let out = go()
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|source| TestKubeError::Spawn {
            program: "go".to_owned(),
            source,
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(log) {
        let _ = writeln!(file, "== {} $ {step}\n{stderr}", dir.display());
    }
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(TestKubeError::Build {
            step,
            directory: dir.to_owned(),
            output: last_lines(&stderr, 20),
        })
    }
}

pub(crate) fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

pub(crate) fn write_file(path: &Path, contents: &str) -> Result<(), TestKubeError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    std::fs::write(path, contents).map_err(io_error(path))
}

/// The staging modules (`k8s.io/api`, `k8s.io/client-go`, …) Kubernetes' own go.mod replaces
/// with directories of its repository; a module requiring `k8s.io/kubernetes` must replace each
/// with its published `v0.Y.Z`.
fn staging_modules(root: &Path, log: &Path) -> Result<Vec<String>, TestKubeError> {
    let module = format!("k8s.io/kubernetes@{KUBERNETES_VERSION}");
    let answer = run_go(root, &["mod", "download", "-json", &module], log)?;
    let info: serde_json::Value =
        serde_json::from_str(&answer).map_err(|source| TestKubeError::BuildAnswer {
            step: format!("go mod download -json {module}"),
            directory: root.to_owned(),
            source,
        })?;
    let go_mod = info
        .get("GoMod")
        .and_then(serde_json::Value::as_str)
        .map(PathBuf::from)
        .ok_or_else(|| TestKubeError::Build {
            step: format!("go mod download -json {module}"),
            directory: root.to_owned(),
            output: "no GoMod in the answer".to_owned(),
        })?;
    let text = std::fs::read_to_string(&go_mod).map_err(io_error(&go_mod))?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let (from, to) = line.trim().split_once("=>")?;
            let to = to.trim();
            to.starts_with("./staging/").then(|| from.trim().to_owned())
        })
        .collect())
}

/// `v1.34.4` → `v0.34.4`, the staging modules' matching version.
fn staging_version() -> String {
    KUBERNETES_VERSION.replacen("v1.", "v0.", 1)
}

fn build_kubernetes(root: &Path, bin: &Path, log: &Path) -> Result<(), TestKubeError> {
    let module_dir = root.join("kubernetes");
    let staging = staging_modules(root, log)?;
    let version = staging_version();
    let mut go_mod = format!(
        "// Generated by stratagit-testkube: builds kube-apiserver and kubectl {KUBERNETES_VERSION}.\n\
         module strata.local/testkube/kubernetes\n\n\
         go 1.24.0\n\n\
         require k8s.io/kubernetes {KUBERNETES_VERSION}\n\n\
         tool (\n\tk8s.io/kubernetes/cmd/kube-apiserver\n\tk8s.io/kubernetes/cmd/kubectl\n)\n\n\
         replace (\n"
    );
    for module in &staging {
        go_mod.push_str(&format!("\t{module} => {module} {version}\n"));
    }
    go_mod.push_str(")\n");
    write_file(&module_dir.join("go.mod"), &go_mod)?;
    run_go(&module_dir, &["mod", "tidy"], log)?;
    let minor = KUBERNETES_VERSION
        .split('.')
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let ldflags = format!(
        "-s -w -X k8s.io/component-base/version.gitVersion={KUBERNETES_VERSION} \
         -X k8s.io/component-base/version.gitMajor=1 \
         -X k8s.io/component-base/version.gitMinor={minor} \
         -X k8s.io/component-base/version.gitTreeState=clean"
    );
    for program in ["kube-apiserver", "kubectl"] {
        let output = bin.join(program);
        let output = output.to_string_lossy();
        let package = format!("k8s.io/kubernetes/cmd/{program}");
        run_go(
            &module_dir,
            &["build", "-ldflags", &ldflags, "-o", &output, &package],
            log,
        )?;
    }
    Ok(())
}

fn build_etcd(root: &Path, bin: &Path, log: &Path) -> Result<(), TestKubeError> {
    let module_dir = root.join("etcd");
    write_file(
        &module_dir.join("go.mod"),
        &format!(
            "// Generated by stratagit-testkube: builds etcd {ETCD_VERSION}.\n\
             module strata.local/testkube/etcd\n\n\
             go 1.24.0\n\n\
             require go.etcd.io/etcd/server/v3 {ETCD_VERSION}\n"
        ),
    )?;
    write_file(
        &module_dir.join("main.go"),
        "// Generated by stratagit-testkube: etcd's own entry point.\n\
         package main\n\n\
         import (\n\t\"os\"\n\n\t\"go.etcd.io/etcd/server/v3/etcdmain\"\n)\n\n\
         func main() { etcdmain.Main(os.Args) }\n",
    )?;
    run_go(&module_dir, &["mod", "tidy"], log)?;
    let output = bin.join("etcd");
    let output = output.to_string_lossy();
    run_go(
        &module_dir,
        &["build", "-ldflags", "-s -w", "-o", &output, "."],
        log,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_modules_take_the_matching_zero_version() {
        assert_eq!(staging_version(), "v0.34.4");
    }

    #[test]
    fn assets_without_etcd_name_the_missing_program() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("kube-apiserver"), "").expect("write");
        let error = from_assets(dir.path()).expect_err("etcd is missing");
        assert!(error.to_string().contains("etcd"), "{error}");
        assert!(!error.to_string().contains('\n'), "{error}");
    }
}
