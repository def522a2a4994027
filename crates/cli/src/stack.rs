//! Building an engine from the command line's stack flags.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use strata_core::executor::ExecutorConfig;
use strata_core::state::{LocalStateStore, StateStore};
use strata_core::{Engine, ProviderRegistry, Resource, SandboxProvider};
use strata_drift::{DriftNormalizer, DriftRules};
use strata_sources::application::ChildSet;

use crate::args::StackArgs;

/// A loaded stack: its name, desired resources and the engine to plan and apply them.
pub struct Stack {
    /// The stack's name.
    pub name: String,
    /// The desired resources.
    pub resources: Vec<Resource>,
    /// The engine.
    pub engine: Engine,
    /// The Application each resource came from, when it came from one.
    pub application_of: std::collections::BTreeMap<strata_core::ResourceKey, String>,
    /// The Applications' ignore rules: what plans and drift reports compare with.
    pub drift_rules: DriftRules,
    /// The Kubernetes provider, when enabled (for label-based prune).
    pub kube: Option<Arc<strata_k8s::KubeProvider>>,
}

/// The state store named by `--state` (or the default beside the stack).
pub fn state_store(dir: &Path, state: Option<&str>) -> anyhow::Result<Arc<dyn StateStore>> {
    match state {
        Some(s) if s.starts_with("s3://") => {
            crate::aws::state_store(s, crate::aws::settings(None, None))
        }
        Some(path) => Ok(Arc::new(LocalStateStore::new(PathBuf::from(path)))),
        None => Ok(Arc::new(LocalStateStore::new(
            dir.join(".strata").join("state.json"),
        ))),
    }
}

/// Loads the stack's manifests and builds its engine.
pub fn load(args: &StackArgs) -> anyhow::Result<Stack> {
    let desired = strata_sources::stack::load_stack(&args.dir, args.revision.as_deref())?;
    log_applications(&desired.applications);
    let resources = desired.resources;
    let application_of = desired.application_of;
    let drift_rules = desired.drift_rules;
    let name = match &args.stack_name {
        Some(n) => n.clone(),
        None => std::fs::canonicalize(&args.dir)
            .with_context(|| format!("{}", args.dir.display()))?
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "default".to_owned()),
    };
    let mut registry = ProviderRegistry::new();
    let kube = args
        .kube_enabled()
        .then(|| crate::kube::provider(args.context.as_deref()));
    if let Some(kube) = &kube {
        registry = registry.with_provider(Arc::clone(kube) as Arc<dyn strata_core::Provider>);
    }
    let aws_settings =
        crate::aws::settings(args.aws_endpoint.as_deref(), args.aws_region.as_deref());
    if args.aws_enabled() {
        registry = registry.with_provider(crate::aws::provider(aws_settings.clone(), &resources));
    }
    if !args.no_sandbox {
        let world = args
            .sandbox_dir
            .clone()
            .unwrap_or_else(|| args.dir.join(".strata").join("sandbox"));
        // The sandbox plans the replacements the real providers would make.
        let sandbox = SandboxProvider::new(world)
            .with_mirrored_rules(strata_aws::replace_rules())
            .with_mirrored_rules(strata_k8s::replace_rules());
        registry = registry.with_fallback(Arc::new(sandbox));
    }
    let engine = Engine {
        registry,
        normalizer: Arc::new(DriftNormalizer::new(drift_rules.clone())),
        store: match args.state.as_deref() {
            Some(url) if url.starts_with("s3://") => crate::aws::state_store(url, aws_settings)?,
            other => state_store(&args.dir, other)?,
        },
        config: ExecutorConfig {
            parallelism: usize::from(args.parallelism),
            ..ExecutorConfig::default()
        },
    };
    Ok(Stack {
        name,
        resources,
        engine,
        application_of,
        drift_rules,
        kube,
    })
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
