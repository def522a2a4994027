//! An example Strata controller: reconciles the claims and composites of the XRDs found in a
//! directory, applying composed resources to the same cluster, with leader election so several
//! replicas can run.
//!
//! ```text
//! cargo run -p strata-k8s --example controller -- DEFINITIONS_DIR [--context NAME]
//! ```
//!
//! DEFINITIONS_DIR holds YAML files with `CompositeResourceDefinition`s and `Composition`s.
//! Environment: `POD_NAME` (leader identity, default the host name), `POD_NAMESPACE` (where the
//! Lease lives, default `default`), `RUST_LOG` style logging is left to the embedding program.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use strata_core::ProviderRegistry;
use strata_drift::{DriftEngine, DriftPolicy, DriftRules, PolicyMode};
use strata_k8s::controller::leader::{LeaseConfig, LeaseLock};
use strata_k8s::controller::{ControllerConfig, Reconciler, runtime};
use strata_k8s::{ConnectOptions, KubeProvider, KubeProviderOptions, connect};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Reads every YAML document under `dir`, split into XRDs and compositions.
fn definitions(dir: &Path) -> Result<(Vec<Value>, Vec<Value>), Error> {
    let mut xrds = Vec::new();
    let mut compositions = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            continue;
        }
        let docs = strata_core::loader::parse_values(&path, &std::fs::read_to_string(&path)?)?;
        for (_, doc) in docs {
            match doc.get("kind").and_then(Value::as_str) {
                Some("CompositeResourceDefinition") => xrds.push(doc),
                Some("Composition") => compositions.push(doc),
                _ => {}
            }
        }
    }
    Ok((xrds, compositions))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: controller DEFINITIONS_DIR [--context NAME]")?;
    let context = match (args.next().as_deref(), args.next()) {
        (Some("--context"), Some(name)) => Some(name),
        _ => None,
    };
    let (xrds, compositions) = definitions(Path::new(&dir))?;
    let client = connect(&ConnectOptions::new(context)).await?;

    // Composed resources go to the cluster; a cloud provider could be added in front of it.
    let kube = KubeProvider::new(client.clone(), KubeProviderOptions::default());
    let registry = ProviderRegistry::new().with_provider(Arc::new(kube));
    let drift = DriftEngine::new(
        DriftRules::default(),
        DriftPolicy::with_default(PolicyMode::SelfHeal),
    );
    let config = ControllerConfig::new(&xrds, &compositions, registry, drift)?;
    let reconciler = Arc::new(Reconciler::new(client.clone(), config));

    let identity = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "strata-controller".to_owned());
    let lock = LeaseLock::new(
        client,
        LeaseConfig::new(
            "strata-controller",
            std::env::var("POD_NAMESPACE").unwrap_or_else(|_| "default".to_owned()),
            identity,
        )
        .with_lease_duration(Duration::from_secs(15))
        .with_renew_interval(Duration::from_secs(5)),
    );
    eprintln!(
        "{} XRD(s), {} composition(s); waiting for leadership",
        xrds.len(),
        compositions.len()
    );
    // The composite and claim CRDs are installed (and waited for) before anything is watched.
    lock.run_as_leader(async {
        if let Err(error) = runtime::run(reconciler).await {
            eprintln!("controller stopped: {error}");
        }
    })
    .await?;
    Ok(())
}
