//! What can go wrong while providing or running the control plane.

use std::path::PathBuf;

/// A control plane could not be provided, started or reached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestKubeError {
    /// Neither Go nor `$KUBEBUILDER_ASSETS` is available.
    #[error("{hint}")]
    Prerequisites {
        /// How to provide the programs.
        hint: &'static str,
    },
    /// `$KUBEBUILDER_ASSETS` lacks a program.
    #[error("{} does not exist; {hint}", path.display())]
    MissingAsset {
        /// The missing program.
        path: PathBuf,
        /// How to provide the programs.
        hint: &'static str,
    },
    /// A Go step of a build (control plane or kubeconform) failed.
    #[error("building with Go: `{step}` failed in {}: {output}", directory.display())]
    Build {
        /// The command.
        step: String,
        /// Where it ran.
        directory: PathBuf,
        /// The end of its error output.
        output: String,
    },
    /// A Go step of a build answered JSON that could not be read (`go mod download -json`).
    #[error("building with Go: `{step}` failed in {}: unreadable answer: {source}", directory.display())]
    BuildAnswer {
        /// The command.
        step: String,
        /// Where it ran.
        directory: PathBuf,
        /// The JSON parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A program could not be started.
    #[error("starting {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A TLS server configuration could not be built.
    #[error("building a TLS server configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// A PEM certificate or key could not be read.
    #[error("reading a PEM certificate or key: {0}")]
    Pem(#[from] rustls::pki_types::pem::Error),
    /// The client certificate verifier could not be built.
    #[error("building the client certificate verifier: {0}")]
    ClientVerifier(#[from] rustls::server::VerifierBuilderError),
    /// No free local port could be found.
    #[error("finding a free 127.0.0.1 port: {0}")]
    Port(#[source] std::io::Error),
    /// The certificates could not be generated.
    #[error("generating the control plane's certificates: {0}")]
    Certificates(#[from] rcgen::Error),
    /// A program of the control plane exited while starting.
    #[error("{program} exited while starting ({status}); its log {} ends with:\n{log_tail}", log.display())]
    Exited {
        /// The program.
        program: &'static str,
        /// How it exited.
        status: std::process::ExitStatus,
        /// Its log file.
        log: PathBuf,
        /// The end of its log.
        log_tail: String,
    },
    /// etcd's JSON gateway refused a call (a compaction for a test).
    #[error("etcd {step}: {answer}")]
    Etcd {
        /// What was asked (`put`, `compaction`).
        step: &'static str,
        /// etcd's answer.
        answer: String,
    },
    /// The API server did not become ready in time.
    #[error("kube-apiserver was not ready after {seconds} s (last answer: {last}); its log is {}", log.display())]
    NotReady {
        /// How long it was given.
        seconds: u64,
        /// The last answer or error of `/readyz`.
        last: String,
        /// The API server's log file.
        log: PathBuf,
    },
    /// The kubeconfig could not be read back.
    #[error("reading the generated kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    /// A request to the API server failed.
    #[error("talking to the API server: {0}")]
    Kube(#[from] kube::Error),
    /// The token for a service account had no token.
    #[error("the API server issued no token for ServiceAccount {namespace}/{name}")]
    NoToken {
        /// The service account's namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// `kubectl` is not available (`$KUBEBUILDER_ASSETS` without it).
    #[error("no kubectl: {hint}")]
    NoKubectl {
        /// How to provide it.
        hint: &'static str,
    },
    /// `$KUBECONFORM` does not name a file.
    #[error("KUBECONFORM={} is not a file; {hint}", path.display())]
    MissingKubeconform {
        /// The path `$KUBECONFORM` names.
        path: PathBuf,
        /// How to provide kubeconform.
        hint: &'static str,
    },
    /// `$HELM` does not name a file.
    #[error("HELM={} is not a file; {hint}", path.display())]
    MissingHelm {
        /// The path `$HELM` names.
        path: PathBuf,
        /// How to provide helm.
        hint: &'static str,
    },
    /// `$DISTRIBUTION_REGISTRY` does not name a file.
    #[error("DISTRIBUTION_REGISTRY={} is not a file; {hint}", path.display())]
    MissingRegistry {
        /// The path `$DISTRIBUTION_REGISTRY` names.
        path: PathBuf,
        /// How to provide the registry.
        hint: &'static str,
    },
    /// A validator (kubeconform, `strata validate`) ran but its answer could not be understood.
    #[error("{program} {reason}")]
    ToolOutput {
        /// The program.
        program: &'static str,
        /// What was wrong, with the start or end of its output.
        reason: String,
    },
    /// A validator ran and printed no JSON that could be read.
    #[error("{program} printed no JSON it could be read as ({source}): {output}")]
    ToolJson {
        /// The program.
        program: &'static str,
        /// The start of its output.
        output: String,
        /// The JSON parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The API server's `/openapi/v2` document is not what the schema generator expects.
    #[error("converting /openapi/v2 to JSON schemas: {reason}")]
    OpenApi {
        /// What was wrong.
        reason: String,
    },
    /// The API server's `/openapi/v2` document is not JSON.
    #[error("converting /openapi/v2 to JSON schemas: /openapi/v2 is not JSON: {source}")]
    OpenApiJson {
        /// The JSON parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// Two definitions would be written to the same schema file.
    #[error("the JSON schemas of {first} and {second} would both be {file}")]
    SchemaCollision {
        /// The schema file name.
        file: String,
        /// One definition.
        first: String,
        /// The other.
        second: String,
    },
    /// A JSON document could not be written or read.
    #[error("{}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// `$FUNCTION_...` does not name a file.
    #[error("{variable}={} is not a file; {hint}", path.display())]
    MissingFunction {
        /// The environment variable.
        variable: &'static str,
        /// The path it names.
        path: PathBuf,
        /// How to provide the function.
        hint: String,
    },
    /// Go is not available to build a composition function.
    #[error("no Go to build a composition function: {hint}")]
    FunctionPrerequisites {
        /// How to provide the function.
        hint: String,
    },
    /// A composition function could not be built from the Go module proxy.
    #[error("building {name} {version} from the Go module proxy failed ({hint}): {source}")]
    FunctionBuild {
        /// The function.
        name: &'static str,
        /// Its pinned version.
        version: &'static str,
        /// How to provide the function otherwise.
        hint: String,
        /// The failed Go step.
        #[source]
        source: Box<TestKubeError>,
    },
    /// A composition function did not listen in time.
    #[error("{name} did not listen on {address} within {seconds} s; its log is {}", log.display())]
    FunctionNotListening {
        /// The function.
        name: &'static str,
        /// Where it was told to listen.
        address: std::net::SocketAddr,
        /// How long it was given.
        seconds: u64,
        /// Its log file.
        log: PathBuf,
    },
    /// The tokio runtime for the readiness checks could not be built.
    #[error("building a tokio runtime: {0}")]
    Runtime(#[source] std::io::Error),
}
