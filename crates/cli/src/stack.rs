//! From a stack's flags, `STRATA_*` variables and `strata.yaml` to the engine that plans and
//! applies it.
//!
//! Precedence, field by field: a flag (or its `STRATA_*` variable, which clap reads as the
//! flag) wins over the configuration, which wins over the built-in default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use strata_aws::AwsSettings;
use strata_core::config::{
    Backend, KubernetesBackend, LoadedConfig, S3Backend, StackConfig, stack_name_problem,
};
use strata_core::executor::ExecutorConfig;
use strata_core::state::{LocalStateStore, StateStore};
use strata_core::{Engine, ProviderRegistry, Resource, SandboxProvider};
use strata_drift::{DriftNormalizer, DriftRules};
use strata_k8s::ConnectOptions;
use strata_sources::application::ChildSet;

use crate::args::{ProviderName, StackArgs};

/// The default number of provider calls in flight.
const DEFAULT_PARALLELISM: usize = 10;

/// A loaded stack: its name, desired resources and the engine to plan and apply them.
pub struct Stack {
    /// The stack's name.
    pub name: String,
    /// The desired resources.
    pub resources: Vec<Resource>,
    /// The engine.
    pub engine: Engine,
    /// The Application each resource came from, when it came from one.
    pub application_of: BTreeMap<strata_core::ResourceKey, String>,
    /// The Applications' ignore rules: what plans and drift reports compare with.
    pub drift_rules: DriftRules,
    /// The Kubernetes provider, when enabled (for label-based prune).
    pub kube: Option<Arc<strata_k8s::KubeProvider>>,
    /// Where the state is kept.
    pub backend: Backend,
    /// The configuration file read, if any.
    pub config_file: Option<PathBuf>,
    /// The policies checked on every plan, if any.
    pub policies: Option<strata_policy::PolicySet>,
    /// What Terraform states claim (empty without `--tfstate` / `terraformStates`).
    pub foreign_claims: strata_core::ownership::terraform::ForeignClaims,
    /// The configuration read (the default when there is no file).
    pub config: StackConfig,
    /// The parse cache the manifests were read through (`None` with `--no-cache`).
    pub parsed: Option<Arc<crate::cache::ParsedCache>>,
}

/// Reads the configuration `--config` names (which must exist), else `<dir>/strata.yaml`
/// when it exists.
pub fn config_of(dir: &Path, explicit: Option<&Path>) -> anyhow::Result<Option<LoadedConfig>> {
    Ok(match explicit {
        Some(file) => Some(StackConfig::load(file)?),
        None => StackConfig::find(dir)?,
    })
}

/// The backend `--state` names, else the configuration's, else `<dir>/.strata/state.json`.
pub fn backend_of(
    dir: &Path,
    config: Option<&StackConfig>,
    state_flag: Option<&str>,
) -> anyhow::Result<Backend> {
    Ok(match state_flag {
        Some(url) if url.starts_with("s3://") => {
            let (bucket, key) = strata_aws::state_backend::parse_url(url)?;
            Backend::S3(S3Backend::new(bucket, key))
        }
        Some(url) if url.starts_with(strata_k8s::state::URL_SCHEME) => {
            let (namespace, name) = strata_k8s::state::parse_url(url)?;
            Backend::Kubernetes(KubernetesBackend::new(namespace, name))
        }
        Some(path) => Backend::Local {
            path: PathBuf::from(path),
        },
        None => config
            .and_then(|c| c.backend.clone())
            .unwrap_or_else(|| Backend::Local {
                path: dir.join(".strata").join("state.json"),
            }),
    })
}

/// The store for `backend`; an S3 backend without its own region or endpoint takes `aws`'s,
/// a Kubernetes backend without its own context takes `kube`'s (the Kubernetes provider's),
/// else the kubeconfig's current context, else the in-cluster configuration.
pub fn store_of(
    backend: &Backend,
    aws: &AwsSettings,
    kube: &ConnectOptions,
) -> anyhow::Result<Arc<dyn StateStore>> {
    match backend {
        Backend::Local { path } => Ok(Arc::new(LocalStateStore::new(path.clone()))),
        Backend::S3(s3) => {
            let endpoint = s3.endpoint.clone().or_else(|| aws.endpoint.clone());
            let settings = aws
                .clone()
                .with_region(s3.region.clone().or_else(|| aws.region.clone()))
                .with_force_path_style(endpoint.is_some())
                .with_endpoint(endpoint);
            crate::aws::state_store(&backend.location(), settings)
        }
        Backend::Kubernetes(backend) => {
            let mut connect = kube.clone();
            if let Some(context) = &backend.context {
                connect.context = Some(context.clone());
            }
            Ok(crate::kube::state_store(
                connect,
                &backend.namespace,
                &backend.name,
            )?)
        }
        other => bail!("the state backend {other} is not supported by this build"),
    }
}

/// The state store of `strata state …`: `--state`, else the configuration's backend, else
/// the default; AWS settings from `--aws-endpoint`/`--aws-region`, else the configuration,
/// else the environment; the cluster from `--kubeconfig`/`--context`, else the
/// configuration's context.
pub fn state_store(args: &StackArgs) -> anyhow::Result<Arc<dyn StateStore>> {
    let loaded = config_of(&args.dir, args.config.as_deref())?;
    let config = loaded.as_ref().map(|l| &l.config);
    let backend = backend_of(&args.dir, config, args.state.as_deref())?;
    let aws = config.and_then(|c| c.providers.aws.as_ref());
    let settings = crate::aws::settings(
        args.aws_endpoint
            .as_deref()
            .or(aws.and_then(|a| a.endpoint.as_deref())),
        args.aws_region
            .as_deref()
            .or(aws.and_then(|a| a.region.as_deref())),
    );
    let context = args.context.clone().or_else(|| {
        config
            .and_then(|c| c.providers.kubernetes.as_ref())
            .and_then(|k| k.context.clone())
    });
    store_of(&backend, &settings, &connect_options(args, context))
}

/// How the Kubernetes provider and state backend reach the cluster: `--kubeconfig`, `-n` and
/// the context chosen.
fn connect_options(args: &StackArgs, context: Option<String>) -> ConnectOptions {
    ConnectOptions::new(context)
        .kubeconfig(args.kubeconfig.clone())
        .namespace(args.namespace.clone())
}

/// Loads the stack's configuration and manifests and builds its engine.
pub async fn load(args: &StackArgs) -> anyhow::Result<Stack> {
    crate::paths::stack_dir(&args.dir)?;
    let loaded = config_of(&args.dir, args.config.as_deref())?;
    let config = loaded
        .as_ref()
        .map(|l| l.config.clone())
        .unwrap_or_default();
    let config_file = loaded.as_ref().map(|l| l.file.display().to_string());

    let policy_dirs = if args.policies.is_empty() {
        &config.policies
    } else {
        &args.policies
    };
    let policies = (!policy_dirs.is_empty())
        .then(|| strata_policy::PolicySet::load(policy_dirs))
        .transpose()
        .with_context(|| match (&config_file, args.policies.is_empty()) {
            (Some(file), true) => format!("{file}: policies"),
            _ => "--policy".to_owned(),
        })?;
    let (desired, parsed) = desired_set_cached(args, &config, config_file.as_deref())?;
    log_applications(&desired.applications);
    let name = stack_name(args, &config, config_file.as_deref())?;

    let (registry, kube, aws_settings) = providers(
        args,
        &config,
        config_file.as_deref(),
        &desired.resources,
        &desired.applications,
        Observing::Many,
    )
    .await?;
    let terraform_states = if args.terraform_states.is_empty() {
        &config.terraform_states
    } else {
        &args.terraform_states
    };
    let foreign_claims = crate::terraform::read_claims(terraform_states, &aws_settings).await?;
    let backend = backend_of(&args.dir, Some(&config), args.state.as_deref())?;
    let kube_context =
        provider_context(args, &config, &desired.applications, config_file.as_deref())?;
    let store = store_of(
        &backend,
        &aws_settings,
        &connect_options(args, kube_context),
    )?;
    // A directory with nothing Strata reads is a mistake (a wrong path), not an empty stack:
    // unless a state or a configuration says a stack lives here, nothing is planned and
    // nothing is written under it.
    if desired.resources.is_empty() && desired.applications.is_empty() && loaded.is_none() {
        // Looking must not write: a local state is only read when its file exists.
        let recorded = match &backend {
            Backend::Local { path } if !path.exists() => false,
            _ => store
                .load()
                .await?
                .is_some_and(|state| !state.resources.is_empty()),
        };
        if !recorded {
            bail!(
                "{}: no manifest found (looked for *.yaml, *.yml and *.json files: Kubernetes and Crossplane manifests, kustomizations, Applications and ApplicationSets) and no state records a stack here",
                args.dir.display()
            );
        }
    }
    crate::backend_record::check(&args.dir, &backend, store.as_ref()).await?;
    tracing::debug!(
        stack = %name,
        dir = %args.dir.display(),
        config = config_file.as_deref().unwrap_or("none"),
        state = %backend.location(),
        resources = desired.resources.len(),
        applications = desired.applications.len(),
        "loaded the stack"
    );
    let parallelism = args
        .parallelism
        .or(config.parallelism)
        .map_or(DEFAULT_PARALLELISM, usize::from);
    let engine = Engine {
        registry,
        normalizer: Arc::new(DriftNormalizer::new(desired.drift_rules.clone())),
        store,
        config: ExecutorConfig::default().with_parallelism(parallelism),
    };
    Ok(Stack {
        name,
        resources: desired.resources,
        engine,
        application_of: desired.application_of,
        drift_rules: desired.drift_rules,
        kube,
        backend,
        config_file: loaded.map(|l| l.file),
        policies,
        foreign_claims,
        config,
        parsed,
    })
}

/// The desired set of the stack `args` names, at `--revision`, inside `--root`, with its
/// Applications' repositories read as `--repo` and the configuration say.
pub fn desired_set(
    args: &StackArgs,
    config: &StackConfig,
    config_file: Option<&str>,
) -> anyhow::Result<strata_sources::stack::StackSource> {
    desired_set_cached(args, config, config_file).map(|(desired, _)| desired)
}

/// [`desired_set`], with the parse cache it was read through (`None` with `--no-cache`).
fn desired_set_cached(
    args: &StackArgs,
    config: &StackConfig,
    config_file: Option<&str>,
) -> anyhow::Result<(
    strata_sources::stack::StackSource,
    Option<Arc<crate::cache::ParsedCache>>,
)> {
    let root = args
        .root
        .clone()
        .or_else(|| strata_sources::stack::repository_of(&args.dir));
    let repositories = crate::repos::resolver(
        &args.repos,
        root.as_deref(),
        &config.repositories,
        config_file,
        &args.dir,
    )?;
    let cache = (!args.no_cache).then(|| Arc::new(crate::cache::ParsedCache::open(&args.dir)));
    let desired = strata_sources::stack::load_stack_cached(
        &args.dir,
        args.root.as_deref(),
        args.revision.as_deref(),
        Some(repositories),
        cache
            .clone()
            .map(|c| c as Arc<dyn strata_core::loader::ParsedFiles>),
    )?;
    // Looking at a directory with nothing Strata reads writes nothing under it.
    if let Some(cache) = &cache
        && !(desired.resources.is_empty() && desired.applications.is_empty())
    {
        cache.save();
    }
    Ok((desired, cache))
}

/// How many objects a command observes: the sandbox answers many from one listing per
/// directory, a few with one read each (a listing of a large directory costs more than they).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observing {
    /// The whole stack (a plan, an apply).
    Many,
    /// A handful of objects.
    Few,
}

/// The providers of a stack, as its flags and configuration enable them: the Kubernetes
/// provider (discovered, serving the kinds of the CRDs in `resources`), the AWS provider, and
/// the sandbox standing in for the rest.
pub async fn providers(
    args: &StackArgs,
    config: &StackConfig,
    config_file: Option<&str>,
    resources: &[Resource],
    applications: &[ChildSet],
    observing: Observing,
) -> anyhow::Result<(
    ProviderRegistry,
    Option<Arc<strata_k8s::KubeProvider>>,
    AwsSettings,
)> {
    let aws_config = config.providers.aws.clone().unwrap_or_default();
    let aws_settings = crate::aws::settings(
        args.aws_endpoint
            .as_deref()
            .or(aws_config.endpoint.as_deref()),
        args.aws_region.as_deref().or(aws_config.region.as_deref()),
    );
    let mut registry = ProviderRegistry::new();
    let kube_enabled = args.kube
        || args.context.is_some()
        || args.kubeconfig.is_some()
        || args.namespace.is_some()
        || args.providers.contains(&ProviderName::K8s)
        || config.providers.kubernetes.is_some();
    let kube = if kube_enabled {
        let context = provider_context(args, config, applications, config_file)?;
        Some(crate::kube::provider(connect_options(args, context)))
    } else {
        None
    };
    if let Some(kube) = &kube {
        // Kinds the cluster does not serve (cloud managed resources, XRDs, Applications) go to
        // the next provider or the sandbox; kinds whose CRDs the stack applies stay here.
        kube.discover()
            .await
            .context("the Kubernetes provider (--kube)")?;
        kube.serve_kinds_of_crds(resources);
        registry = registry.with_provider(Arc::clone(kube) as Arc<dyn strata_core::Provider>);
    }
    let aws_enabled = args.aws
        || args.aws_endpoint.is_some()
        || args.providers.contains(&ProviderName::Aws)
        || config.providers.aws.is_some();
    if aws_enabled {
        registry = registry.with_provider(crate::aws::provider(aws_settings.clone(), resources));
    }
    for pattern in &args.allow_kinds {
        if let Some(problem) = strata_core::config::kind_pattern_problem(pattern) {
            bail!("--allow-kind {problem}");
        }
    }
    let sandbox_enabled = !args.no_sandbox && config.sandbox.enabled.unwrap_or(true);
    if sandbox_enabled {
        let world = sandbox_world(args, config);
        // The sandbox plans the replacements the real providers would make.
        // It checks what they would check: their kinds and schemas (Kubernetes' built-in
        // kinds, the AWS provider's, Crossplane's own); any other kind is refused unless
        // `sandbox.allowKinds` lists it.
        let sandbox = SandboxProvider::new(world);
        let sandbox = match observing {
            // Every command lives as long as one plan (and its apply): an object another
            // process adds to the world meanwhile need not be seen, and a stack of many new
            // objects is answered from one listing per directory.
            Observing::Many => sandbox.listing_directories(),
            Observing::Few => sandbox,
        };
        let sandbox = sandbox
            .with_mirrored_rules(strata_aws::replace_rules())
            .with_mirrored_rules(strata_k8s::replace_rules())
            .with_mirrored_kinds(strata_aws::declared_kinds())
            .with_mirrored_schemas(strata_aws::schemas())
            .with_mirrored_kinds(strata_composition::declared_kinds())
            .with_mirrored_schemas(builtin_schemas()?.iter().cloned())
            .with_allowed_kinds(config.sandbox.allow_kinds.iter().map(String::as_str))
            .with_allowed_kinds(args.allow_kinds.iter().map(String::as_str))
            .refusing_unknown_kinds();
        registry = registry.with_fallback(Arc::new(sandbox));
    }
    Ok((registry, kube, aws_settings))
}

/// The sandbox's world directory: `--sandbox-dir`, else the configuration's `sandbox.dir`,
/// else `<dir>/.strata/sandbox`.
pub fn sandbox_world(args: &StackArgs, config: &StackConfig) -> PathBuf {
    args.sandbox_dir
        .clone()
        .or_else(|| config.sandbox.dir.clone())
        .unwrap_or_else(|| args.dir.join(".strata").join("sandbox"))
}

/// The built-in Kubernetes kinds' schemas.
pub fn builtin_schemas() -> anyhow::Result<&'static [strata_core::schema::KindSchema]> {
    strata_k8s::schemas::builtin_schemas()
        .map_err(|e| anyhow::Error::new(e.clone()))
        .context("compiling the built-in Kubernetes schemas")
}

/// `--stack-name`, else the configuration's `name`, else the directory's name; each must be a
/// label value, since it is written into every ownership label.
pub(crate) fn stack_name(
    args: &StackArgs,
    config: &StackConfig,
    config_file: Option<&str>,
) -> anyhow::Result<String> {
    let (name, from) = match (&args.stack_name, &config.name) {
        (Some(name), _) => (name.clone(), "--stack-name".to_owned()),
        (None, Some(name)) => (
            name.clone(),
            format!("{}: name", config_file.unwrap_or("strata.yaml")),
        ),
        (None, None) => {
            let dir = std::fs::canonicalize(&args.dir)
                .with_context(|| format!("{}", args.dir.display()))?;
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "default".to_owned());
            (
                name,
                format!(
                    "the directory name (set `name:` in {}/strata.yaml or pass --stack-name)",
                    args.dir.display()
                ),
            )
        }
    };
    if let Some(problem) = stack_name_problem(&name) {
        bail!("the stack name from {from}: {problem}");
    }
    Ok(name)
}

/// The kubeconfig context of the Kubernetes provider: `--context`, else the configuration's
/// (see [`kube_context`]).
fn provider_context(
    args: &StackArgs,
    config: &StackConfig,
    applications: &[ChildSet],
    config_file: Option<&str>,
) -> anyhow::Result<Option<String>> {
    match &args.context {
        Some(context) => Ok(Some(context.clone())),
        None => kube_context(config, applications, config_file),
    }
}

/// The kubeconfig context the configuration gives: the one context every Application's
/// destination maps to when destinations are mapped, else `providers.kubernetes.context`.
fn kube_context(
    config: &StackConfig,
    applications: &[ChildSet],
    config_file: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let Some(kube) = &config.providers.kubernetes else {
        return Ok(None);
    };
    if kube.destinations.is_empty() || applications.is_empty() {
        return Ok(kube.context.clone());
    }
    let file = config_file.unwrap_or("strata.yaml");
    let mut contexts: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for app in applications {
        let destination = &app.destination;
        let mapped = kube
            .destinations
            .iter()
            .find(|d| match (&d.server, &d.name) {
                (Some(server), _) => destination.server.as_deref() == Some(server),
                (None, Some(name)) => destination.name.as_deref() == Some(name),
                (None, None) => false,
            });
        let context = match (mapped, &kube.context) {
            (Some(m), _) => m.context.as_str(),
            (None, Some(default)) if destination.server.is_none() && destination.name.is_none() => {
                default.as_str()
            }
            _ => bail!(
                "{file}: providers.kubernetes.destinations: Application {} deploys to {destination}, which no mapping names",
                app.name
            ),
        };
        contexts.entry(context).or_default().push(&app.name);
    }
    if contexts.len() > 1 {
        let listed: Vec<String> = contexts
            .iter()
            .map(|(context, apps)| format!("context {context}: {}", apps.join(", ")))
            .collect();
        bail!(
            "{file}: providers.kubernetes.destinations: the Applications map to several clusters \
             ({}); applying one stack to several clusters is not supported yet",
            listed.join("; ")
        );
    }
    Ok(contexts.into_keys().next().map(str::to_owned))
}

fn log_applications(applications: &[ChildSet]) {
    for app in applications {
        tracing::info!(
            application = %app.name,
            path = %app.path,
            namespace = app.namespace.as_deref().unwrap_or(""),
            resources = app.resources.len(),
            "expanded Application"
        );
    }
}
