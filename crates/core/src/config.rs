//! The stack configuration file, `strata.yaml`, kept in the repository beside the manifests.
//!
//! It names the stack (its identity for the state and the value of its ownership labels), the
//! state backend, the providers to enable and their settings, how ArgoCD destinations map to
//! kubeconfig contexts, repository mappings, parallelism, policies and the sandbox. Command-line
//! flags and `STRATA_*` environment variables override it; it overrides the built-in defaults.
//!
//! ```yaml
//! apiVersion: strata.dev/v1alpha1   # optional; when present, exactly this
//! kind: Stack                       # optional; when present, exactly this
//! name: payments
//! backend:
//!   s3:
//!     bucket: acme-strata-state
//!     key: payments/state.json
//!     region: eu-west-1
//! providers:
//!   aws:
//!     region: eu-west-1
//!   kubernetes:
//!     context: prod
//! parallelism: 20
//! sandbox:
//!   enabled: false
//! ```
//!
//! Every field is checked when the file is read: an unknown or misspelt field, a value of the
//! wrong type or a value out of range is one [`ConfigError`] naming the file and the field path
//! (`backend.s3.bucket`), never a silent default. Relative paths are relative to the directory
//! holding the file.
//!
//! ```
//! use strata_core::config::{Backend, StackConfig};
//!
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(
//!     dir.path().join("strata.yaml"),
//!     "name: payments\nbackend:\n  local:\n    path: state/payments.json\n",
//! )
//! .unwrap();
//! let loaded = StackConfig::find(dir.path()).unwrap().unwrap();
//! assert_eq!(loaded.config.name.as_deref(), Some("payments"));
//! let Some(Backend::Local { path }) = &loaded.config.backend else { panic!() };
//! assert_eq!(path, &dir.path().join("state/payments.json"));
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::names::label_value_problem;

/// The file name of a stack's configuration.
pub const STACK_CONFIG_FILE: &str = "strata.yaml";

/// The `apiVersion` a configuration may declare.
pub const API_VERSION: &str = "strata.dev/v1alpha1";

/// The `kind` a configuration may declare.
pub const KIND: &str = "Stack";

/// A stack's configuration: everything optional, flags and environment override each field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct StackConfig {
    /// `strata.dev/v1alpha1` when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Stack` when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The stack's name: its identity for the state and its ownership labels' value. A
    /// Kubernetes label value (at most 63 letters, digits, `-`, `_`, `.`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the state is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<Backend>,
    /// The providers to enable and their settings.
    #[serde(default)]
    pub providers: Providers,
    /// Repository URLs that Applications name, mapped to local checkouts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<RepositoryMapping>,
    /// Provider calls in flight at once (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u16>,
    /// Directories of policies evaluated on every plan.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PathBuf>,
    /// Terraform states (paths, relative to the configuration's directory, or
    /// `s3://bucket/key`) whose resources Strata must not also manage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub terraform_states: Vec<String>,
    /// The local sandbox provider.
    #[serde(default)]
    pub sandbox: SandboxConfig,
}

/// Where a stack's state is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub enum Backend {
    /// A local file (atomic replace, an OS file lock, a journal beside it).
    Local {
        /// The state file; relative to the configuration's directory.
        path: PathBuf,
    },
    /// An S3 object (conditional writes; a lock object beside it).
    S3(S3Backend),
    /// A Secret in a Kubernetes cluster (writes conditional on its `resourceVersion`; a Lease
    /// as the lock), for controllers that run without durable disk.
    Kubernetes(KubernetesBackend),
}

impl Backend {
    /// The backend as `--state` spells it: a path, `s3://bucket/key` or
    /// `kubernetes://namespace/name`.
    pub fn location(&self) -> String {
        match self {
            Backend::Local { path } => path.display().to_string(),
            Backend::S3(s3) => format!("s3://{}/{}", s3.bucket, s3.key),
            Backend::Kubernetes(kube) => kube.location(),
        }
    }

    /// Whether the state is kept outside this machine.
    pub fn is_remote(&self) -> bool {
        matches!(self, Backend::S3(_) | Backend::Kubernetes(_))
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.location())
    }
}

/// An S3 state backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct S3Backend {
    /// The bucket (versioned, as the platform's rules require).
    pub bucket: String,
    /// The object key of the state.
    pub key: String,
    /// The bucket's region (default: the AWS environment's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// A custom endpoint, e.g. a local S3-compatible server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

impl S3Backend {
    /// An S3 backend for `bucket` and `key`, with the environment's region and endpoint.
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            key: key.into(),
            region: None,
            endpoint: None,
        }
    }
}

/// A Kubernetes state backend: the state in Secret `strata-state-<name>` of `namespace`, the
/// lock in Lease `strata-lock-<name>` beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct KubernetesBackend {
    /// The namespace holding the Secret and the Lease (a DNS-1123 label).
    pub namespace: String,
    /// The state's name (a label value that is also a DNS-1123 subdomain: lower-case letters,
    /// digits, `-` and `.`, at most 63 characters).
    pub name: String,
    /// The kubeconfig context (default: the Kubernetes provider's, else the kubeconfig's
    /// current context, else in-cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

impl KubernetesBackend {
    /// A Kubernetes backend for state `name` in `namespace`, through the default context.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            context: None,
        }
    }

    /// `kubernetes://<namespace>/<name>`.
    pub fn location(&self) -> String {
        format!("kubernetes://{}/{}", self.namespace, self.name)
    }
}

/// The providers a stack enables: a provider is enabled when its section is present.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct Providers {
    /// Amazon Web Services (S3 and RDS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsConfig>,
    /// Kubernetes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesConfig>,
}

/// AWS provider settings (unset fields come from the standard AWS environment).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct AwsConfig {
    /// The default region (resources may name their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// A custom endpoint, e.g. a local moto server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// Kubernetes provider settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct KubernetesConfig {
    /// The kubeconfig context (default: the kubeconfig's current context, or in-cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// ArgoCD destinations (`spec.destination.server` or `.name`) mapped to kubeconfig
    /// contexts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<DestinationMapping>,
}

/// One ArgoCD destination and the kubeconfig context that reaches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct DestinationMapping {
    /// The destination's `server` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The destination's cluster `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The kubeconfig context.
    pub context: String,
}

/// A repository URL and the local checkout Applications naming it are read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct RepositoryMapping {
    /// The URL as Applications write `spec.source.repoURL`.
    pub url: String,
    /// The checkout; relative to the configuration's directory.
    pub path: PathBuf,
}

/// The local sandbox provider's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct SandboxConfig {
    /// Whether kinds no enabled provider serves go to the sandbox (default true); false makes
    /// them an error before apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The sandbox's world directory; relative to the configuration's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Kinds (`group/Kind`, or `Kind` for the core group) the sandbox may take without a
    /// schema.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_kinds: Vec<String>,
}

/// A configuration and the file it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadedConfig {
    /// The file.
    pub file: PathBuf,
    /// Its contents, relative paths made relative to the file's directory.
    pub config: StackConfig,
}

/// Why a configuration could not be read. Each names the file and, for a bad value, the field
/// path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML.
    #[error(transparent)]
    Syntax(#[from] crate::loader::LoadError),
    /// The file holds no document, or more than one.
    #[error("{}: a stack configuration is one YAML document; found {count}", .file.display())]
    Documents {
        /// The file.
        file: PathBuf,
        /// How many documents it holds.
        count: usize,
    },
    /// A field is unknown, of the wrong type or out of range.
    #[error("{}: {field}: {message}", .file.display())]
    Field {
        /// The file.
        file: PathBuf,
        /// The field's path (`backend.s3.bucket`), or `(root)`.
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl StackConfig {
    /// Reads `dir/strata.yaml` when it exists.
    pub fn find(dir: &Path) -> Result<Option<LoadedConfig>, ConfigError> {
        let file = dir.join(STACK_CONFIG_FILE);
        match std::fs::metadata(&file) {
            Ok(_) => Self::load(&file).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ConfigError::Io { path: file, source }),
        }
    }

    /// Reads and checks a configuration file; relative paths become relative to its
    /// directory.
    pub fn load(file: &Path) -> Result<LoadedConfig, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Io {
            path: file.to_path_buf(),
            source,
        })?;
        let mut config = Self::parse(file, &text)?;
        let base = file.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        Ok(LoadedConfig {
            file: file.to_path_buf(),
            config,
        })
    }

    /// Parses and checks the text of a configuration, attributing errors to `file`. Paths are
    /// left as written.
    pub fn parse(file: &Path, text: &str) -> Result<Self, ConfigError> {
        let documents = crate::loader::parse_values(file, text)?;
        let [(_, value)] =
            <[_; 1]>::try_from(documents).map_err(|d: Vec<_>| ConfigError::Documents {
                file: file.to_path_buf(),
                count: d.len(),
            })?;
        let field = |field: String, message: String| ConfigError::Field {
            file: file.to_path_buf(),
            field,
            message,
        };
        let config: Self = serde_path_to_error::deserialize(&value).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { "(root)".into() } else { path };
            field(path, e.into_inner().to_string())
        })?;
        config
            .check()
            .map_err(|(path, message)| field(path.into(), message))?;
        Ok(config)
    }

    /// Checks what the types do not: fixed values, names and ranges.
    fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(v) = self.api_version.as_deref().filter(|v| *v != API_VERSION) {
            return Err(("apiVersion", format!("`{v}` is not `{API_VERSION}`")));
        }
        if let Some(k) = self.kind.as_deref().filter(|k| *k != KIND) {
            return Err(("kind", format!("`{k}` is not `{KIND}`")));
        }
        if let Some(problem) = self.name.as_deref().and_then(stack_name_problem) {
            return Err(("name", problem));
        }
        match &self.backend {
            Some(Backend::Local { path }) if path.as_os_str().is_empty() => {
                return Err(("backend.local.path", "must not be empty".into()));
            }
            Some(Backend::S3(s3)) => {
                if let Some(problem) = crate::names::s3_bucket_problem(&s3.bucket) {
                    return Err(("backend.s3.bucket", problem));
                }
                if s3.key.is_empty() || s3.key.ends_with('/') {
                    return Err((
                        "backend.s3.key",
                        format!("`{}` must name an object, not a prefix", s3.key),
                    ));
                }
                if let Some(e) = s3.endpoint.as_deref().and_then(url_problem) {
                    return Err(("backend.s3.endpoint", e));
                }
            }
            Some(Backend::Kubernetes(kube)) => {
                if let Some(problem) = crate::names::dns_label_problem(&kube.namespace) {
                    return Err(("backend.kubernetes.namespace", problem));
                }
                if let Some(problem) = kube_state_name_problem(&kube.name) {
                    return Err(("backend.kubernetes.name", problem));
                }
            }
            _ => {}
        }
        if let Some(e) = self
            .providers
            .aws
            .as_ref()
            .and_then(|aws| aws.endpoint.as_deref().and_then(url_problem))
        {
            return Err(("providers.aws.endpoint", e));
        }
        if let Some(kube) = &self.providers.kubernetes {
            for d in &kube.destinations {
                if d.server.is_none() == d.name.is_none() {
                    return Err((
                        "providers.kubernetes.destinations",
                        format!(
                            "the mapping to context `{}` must name exactly one of `server` and `name`",
                            d.context
                        ),
                    ));
                }
            }
        }
        if self.parallelism == Some(0) {
            return Err(("parallelism", "must be at least 1".into()));
        }
        for url in self.repositories.iter().map(|r| &r.url) {
            if url.is_empty() {
                return Err(("repositories.url", "must not be empty".into()));
            }
        }
        for state in &self.terraform_states {
            if state.is_empty() {
                return Err(("terraformStates", "an entry is empty".into()));
            }
        }
        for kind in &self.sandbox.allow_kinds {
            if let Some(problem) = kind_pattern_problem(kind) {
                return Err(("sandbox.allowKinds", problem));
            }
        }
        Ok(())
    }

    /// Makes every relative path in the configuration relative to `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(Backend::Local { path }) = &mut self.backend {
            resolve(path);
        }
        self.repositories
            .iter_mut()
            .for_each(|r| resolve(&mut r.path));
        self.policies.iter_mut().for_each(resolve);
        if let Some(dir) = &mut self.sandbox.dir {
            resolve(dir);
        }
        for state in &mut self.terraform_states {
            if !state.starts_with("s3://") && Path::new(state.as_str()).is_relative() {
                *state = base.join(&*state).display().to_string();
            }
        }
    }
}

/// Why `name` cannot name a stack, if it cannot: a stack's name is the value of its ownership
/// labels, so it must be a Kubernetes label value (and not empty).
pub fn stack_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("a stack name must not be empty".into());
    }
    label_value_problem(name)
}

/// Why `name` cannot name a Kubernetes state (it becomes a label value and part of the Secret's
/// and Lease's names), if it cannot.
fn kube_state_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("a state name must not be empty".into());
    }
    label_value_problem(name).or_else(|| crate::names::dns_subdomain_problem(name))
}

fn url_problem(url: &str) -> Option<String> {
    let ok = ["http://", "https://"].iter().any(|scheme| {
        url.strip_prefix(scheme)
            .is_some_and(|rest| !rest.is_empty())
    });
    (!ok).then(|| format!("`{url}` is not an http:// or https:// URL"))
}

/// What is wrong with a kind pattern of `sandbox.allowKinds` (`Widget`, `example.org/Widget`,
/// `example.org/*`), if anything.
pub fn kind_pattern_problem(pattern: &str) -> Option<String> {
    let (group, kind) = pattern.rsplit_once('/').unwrap_or(("", pattern));
    let kind_ok = (kind == "*" && !group.is_empty())
        || (kind.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && kind.chars().all(|c| c.is_ascii_alphanumeric()));
    if !kind_ok {
        return Some(format!(
            "`{pattern}`: `{kind}` is not a kind (`Widget`, `example.org/Widget`, `example.org/*`)"
        ));
    }
    if !group.is_empty()
        && let Some(problem) = crate::names::dns_subdomain_problem(group)
    {
        return Some(format!("`{pattern}`: the group: {problem}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<StackConfig, ConfigError> {
        StackConfig::parse(Path::new("stack/strata.yaml"), text)
    }

    fn field_error(text: &str) -> (String, String) {
        match parse(text) {
            Err(ConfigError::Field { field, message, .. }) => (field, message),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn a_full_configuration_reads_every_section() {
        let config = parse(
            "apiVersion: strata.dev/v1alpha1\nkind: Stack\nname: payments\n\
             backend:\n  s3:\n    bucket: acme-state\n    key: payments/state.json\n    region: eu-west-1\n    endpoint: http://127.0.0.1:5000\n\
             providers:\n  aws:\n    region: eu-west-1\n  kubernetes:\n    context: prod\n    destinations:\n      - server: https://kubernetes.default.svc\n        context: prod\n      - name: staging\n        context: staging\n\
             repositories:\n  - url: https://git.example.com/platform.git\n    path: ../platform\n\
             parallelism: 4\npolicies: [policies]\n\
             sandbox:\n  enabled: false\n  dir: world\n  allowKinds: [example.org/Widget, Gadget]\n",
        )
        .unwrap();
        assert_eq!(config.name.as_deref(), Some("payments"));
        assert_eq!(
            config.backend,
            Some(Backend::S3(S3Backend {
                bucket: "acme-state".into(),
                key: "payments/state.json".into(),
                region: Some("eu-west-1".into()),
                endpoint: Some("http://127.0.0.1:5000".into()),
            }))
        );
        assert_eq!(
            config.backend.as_ref().unwrap().location(),
            "s3://acme-state/payments/state.json"
        );
        let kube = config.providers.kubernetes.as_ref().unwrap();
        assert_eq!(kube.context.as_deref(), Some("prod"));
        assert_eq!(kube.destinations.len(), 2);
        assert_eq!(kube.destinations[1].name.as_deref(), Some("staging"));
        assert_eq!(
            config.providers.aws.as_ref().unwrap().region.as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(config.parallelism, Some(4));
        assert_eq!(config.sandbox.enabled, Some(false));
        assert_eq!(config.sandbox.allow_kinds, ["example.org/Widget", "Gadget"]);
        assert_eq!(config.repositories[0].path, PathBuf::from("../platform"));
    }

    #[test]
    fn an_empty_mapping_is_the_defaults() {
        assert_eq!(parse("{}\n").unwrap(), StackConfig::default());
    }

    #[test]
    fn a_misspelt_field_names_its_path_and_the_expected_fields() {
        let (field, message) = field_error("backend:\n  s3:\n    bukcet: a\n    key: b\n");
        assert_eq!(field, "backend.s3.bukcet");
        assert!(message.contains("unknown field `bukcet`"), "{message}");
        assert!(message.contains("bucket"), "{message}");
        let (field, message) = field_error("nmae: x\n");
        assert_eq!(field, "nmae");
        assert!(message.contains("unknown field `nmae`"), "{message}");
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_path() {
        let (field, message) = field_error("parallelism: lots\n");
        assert_eq!(field, "parallelism");
        assert!(message.contains("invalid type"), "{message}");
        let (field, _) = field_error(
            "providers:\n  kubernetes:\n    destinations:\n      - server: https://a\n",
        );
        assert_eq!(field, "providers.kubernetes.destinations[0]");
    }

    #[test]
    fn values_out_of_range_are_refused() {
        assert_eq!(field_error("parallelism: 0\n").0, "parallelism");
        assert_eq!(field_error("name: My Stack\n").0, "name");
        assert_eq!(field_error("name: ''\n").0, "name");
        assert_eq!(field_error("kind: Stak\n").0, "kind");
        assert_eq!(field_error("apiVersion: strata.dev/v2\n").0, "apiVersion");
        assert_eq!(
            field_error("backend:\n  s3:\n    bucket: Bad_Bucket\n    key: k\n").0,
            "backend.s3.bucket"
        );
        assert_eq!(
            field_error("backend:\n  s3:\n    bucket: good\n    key: dir/\n").0,
            "backend.s3.key"
        );
        assert_eq!(
            field_error(
                "backend:\n  s3:\n    bucket: good\n    key: k\n    endpoint: localhost:5000\n"
            )
            .0,
            "backend.s3.endpoint"
        );
        assert_eq!(
            field_error("providers:\n  kubernetes:\n    destinations:\n      - context: c\n").0,
            "providers.kubernetes.destinations"
        );
        assert_eq!(
            field_error("sandbox:\n  allowKinds: [widget]\n").0,
            "sandbox.allowKinds"
        );
        let (field, _) = field_error("backend:\n  local:\n    path: a\n  s3:\n    bucket: b\n");
        assert_eq!(field, "backend");
    }

    #[test]
    fn a_kubernetes_backend_reads_and_checks_its_names() {
        let config = parse(
            "backend:\n  kubernetes:\n    namespace: strata-system\n    name: payments\n    context: prod\n",
        )
        .unwrap();
        let backend = config.backend.unwrap();
        assert_eq!(
            backend,
            Backend::Kubernetes(KubernetesBackend {
                namespace: "strata-system".into(),
                name: "payments".into(),
                context: Some("prod".into()),
            })
        );
        assert_eq!(backend.location(), "kubernetes://strata-system/payments");
        assert!(backend.is_remote());
        assert_eq!(
            field_error("backend:\n  kubernetes:\n    namespace: Strata\n    name: p\n").0,
            "backend.kubernetes.namespace"
        );
        assert_eq!(
            field_error("backend:\n  kubernetes:\n    namespace: s\n    name: Pay_ments\n").0,
            "backend.kubernetes.name"
        );
        assert_eq!(
            field_error("backend:\n  kubernetes:\n    namespace: s\n    name: ''\n").0,
            "backend.kubernetes.name"
        );
        assert_eq!(
            field_error("backend:\n  kubernetes:\n    namespace: s\n    nmae: p\n").0,
            "backend.kubernetes.nmae"
        );
    }

    #[test]
    fn several_documents_are_refused() {
        assert!(matches!(
            parse("name: a\n---\nname: b\n"),
            Err(ConfigError::Documents { count: 2, .. })
        ));
        assert!(matches!(
            parse("# nothing\n"),
            Err(ConfigError::Documents { count: 0, .. })
        ));
    }

    #[test]
    fn relative_paths_are_relative_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(STACK_CONFIG_FILE),
            "backend:\n  local:\n    path: s.json\nsandbox:\n  dir: /abs/world\npolicies: [p]\n",
        )
        .unwrap();
        let loaded = StackConfig::find(dir.path()).unwrap().unwrap();
        assert_eq!(
            loaded.config.backend,
            Some(Backend::Local {
                path: dir.path().join("s.json")
            })
        );
        assert_eq!(loaded.config.sandbox.dir, Some(PathBuf::from("/abs/world")));
        assert_eq!(loaded.config.policies, [dir.path().join("p")]);
        assert!(
            StackConfig::find(&dir.path().join("absent"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn errors_name_the_file_and_field() {
        let err = parse("parallelism: 0\n").unwrap_err().to_string();
        assert_eq!(err, "stack/strata.yaml: parallelism: must be at least 1");
    }
}
