//! A controller runtime for claims and composites (kube-runtime).
//!
//! [`Reconciler`] reconciles one claim or composite of the XRDs it is given: it renders it with
//! strata-composition, applies the composed resources through an injected
//! [`strata_core::ProviderRegistry`] (Kubernetes, a cloud provider, or the sandbox — this crate
//! never depends on the cloud crates), writes Crossplane's `Ready` and `Synced` conditions and the
//! connection secret (`writeConnectionSecretToRef`), lists the composed resources in the
//! composite's `spec.resourceRefs`, deletes composed resources the composition no longer renders
//! (those listed there that still carry the composite's ownership labels), guards deletion with
//! a finalizer, and heals drift of composed resources as the strata-drift policy says.
//! [`crds`] installs the composite and claim CRDs of the XRDs (no Crossplane runs to make them),
//! [`runtime`] installs them and drives reconcilers from watches, and [`leader`] lets several
//! replicas run with one active, through a `coordination.k8s.io` Lease.

pub mod crds;
pub mod leader;
pub mod reconcile;
pub mod runtime;
pub mod status;

use std::time::Duration;

use kube::api::{ApiResource, GroupVersionKind};
use serde_json::Value;
use strata_composition::Composition;
use strata_composition::crd::{CrdError, XrdCrds, crds_for};
use strata_composition::xrd::Xrd;
use strata_core::ProviderRegistry;
use strata_core::executor::{ExecutorConfig, RetryPolicy};
use strata_drift::DriftEngine;

pub use reconcile::{ReconcileOutcome, Reconciler};

/// Finalizer the controller puts on claims and composites.
pub const FINALIZER: &str = "strata.dev/composite-protection";
/// Annotation on composed resources: digest of the desired object last applied, which tells a
/// change in Git (re-apply) from drift in the world (policy decides).
pub const ANNOTATION_DESIRED_HASH: &str = "strata.dev/desired-hash";

/// Errors of the controller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControllerError {
    /// An XRD or composition is inconsistent (no version, a CRD that cannot be built).
    #[error("invalid definition: {0}")]
    Definition(String),
    /// An XRD or composition does not parse.
    #[error("invalid definition: {0}")]
    InvalidDefinition(#[source] strata_composition::Error),
    /// A watched object could not be read as JSON.
    #[error("reading a watched object: {0}")]
    Watched(#[source] serde_json::Error),
    /// The composition engine failed on a claim or composite.
    #[error("rendering {object}: {source}")]
    Composition {
        /// The claim or composite.
        object: String,
        /// The composition error.
        #[source]
        source: strata_composition::Error,
    },
    /// The object is not a claim or composite of a known XRD.
    #[error("{0}")]
    Unknown(String),
    /// Rendering failed: the composed resources are invalid.
    #[error("rendering {object}: {message}")]
    Render {
        /// The claim or composite.
        object: String,
        /// What is wrong with the composed resources.
        message: String,
    },
    /// A composed resource is not a manifest Strata can manage (no kind, no name …).
    #[error(
        "rendering {object}: composed resource{}: {source}",
        name.as_deref().map(|n| format!(" {n}")).unwrap_or_default()
    )]
    ComposedResource {
        /// The claim or composite.
        object: String,
        /// The composed resource's name in the composition, when known.
        name: Option<String>,
        /// What is wrong with its manifest.
        #[source]
        source: strata_core::model::FieldError,
    },
    /// A CRD derived from an XRD is not a manifest Strata can apply.
    #[error("invalid definition: the CRDs of XRD {xrd}: {source}")]
    CrdManifest {
        /// The XRD's name.
        xrd: String,
        /// What is wrong with the CRD's manifest.
        #[source]
        source: strata_core::model::FieldError,
    },
    /// A request about the reconciled object itself failed.
    #[error("{what}: {error}")]
    Api {
        /// What was being done.
        what: String,
        /// The kube error.
        #[source]
        error: kube::Error,
    },
    /// An XRD does not give CRDs.
    #[error("the CRDs of an XRD: {0}")]
    Crds(#[from] CrdError),
    /// A CRD of an XRD could not be applied, or did not become established and served.
    #[error("installing CRD {name}: {source}")]
    InstallCrd {
        /// The CRD's name.
        name: String,
        /// Why.
        #[source]
        source: strata_core::ProviderError,
    },
    /// A provider failed.
    #[error(transparent)]
    Provider(#[from] strata_core::ProviderError),
}

/// One XRD with the API resources of its composite and claim kinds.
#[derive(Debug, Clone)]
pub struct XrdBinding {
    /// The parsed XRD.
    pub xrd: Xrd,
    /// The composite kind's API resource (cluster-scoped).
    pub composite: ApiResource,
    /// The claim kind's API resource (namespaced), when the XRD offers claims.
    pub claim: Option<ApiResource>,
    /// The CRDs of the composite and claim kinds, as Crossplane would make them.
    pub crds: XrdCrds,
}

impl XrdBinding {
    /// Reads an XRD object (`apiextensions.crossplane.io/v1 CompositeResourceDefinition`) and
    /// derives its CRDs.
    pub fn from_value(value: &Value) -> Result<Self, ControllerError> {
        let xrd = Xrd::parse(value).map_err(ControllerError::InvalidDefinition)?;
        let crds = crds_for(value)?;
        let version = xrd
            .versions
            .iter()
            .find(|v| v.referenceable)
            .or_else(|| xrd.versions.iter().find(|v| v.served))
            .map(|v| v.name.clone())
            .ok_or_else(|| {
                ControllerError::Definition(format!("XRD {} has no version", xrd.name))
            })?;
        let plural = |path: &str| {
            value
                .pointer(path)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_default()
        };
        let composite_plural = plural("/spec/names/plural");
        if composite_plural.is_empty() {
            return Err(ControllerError::Definition(format!(
                "XRD {} has no spec.names.plural",
                xrd.name
            )));
        }
        let composite = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(&xrd.group, &version, &xrd.kind),
            &composite_plural,
        );
        let claim = match &xrd.claim_kind {
            Some(kind) => {
                let claim_plural = plural("/spec/claimNames/plural");
                if claim_plural.is_empty() {
                    return Err(ControllerError::Definition(format!(
                        "XRD {} has no spec.claimNames.plural",
                        xrd.name
                    )));
                }
                Some(ApiResource::from_gvk_with_plural(
                    &GroupVersionKind::gvk(&xrd.group, &version, kind),
                    &claim_plural,
                ))
            }
            None => None,
        };
        Ok(Self {
            xrd,
            composite,
            claim,
            crds,
        })
    }
}

/// What a [`Reconciler`] works with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ControllerConfig {
    /// The XRDs whose claims and composites are reconciled.
    pub bindings: Vec<XrdBinding>,
    /// The compositions to choose from.
    pub compositions: Vec<Composition>,
    /// Where composed resources are applied.
    pub registry: ProviderRegistry,
    /// Drift normalization rules and the self-heal policy for composed resources.
    pub drift: DriftEngine,
    /// Field manager for the composite and connection secrets.
    pub field_manager: String,
    /// Re-check interval while not ready.
    pub poll_interval: Duration,
    /// Re-check interval once ready (drift detection).
    pub resync_interval: Duration,
    /// How composed resources are applied by core's executor (parallelism, retries; by
    /// default one attempt, since the controller requeues).
    pub executor: ExecutorConfig,
}

impl ControllerConfig {
    /// Sets [`bindings`](Self::bindings).
    pub fn with_bindings(mut self, bindings: Vec<XrdBinding>) -> Self {
        self.bindings = bindings;
        self
    }

    /// Sets [`compositions`](Self::compositions).
    pub fn with_compositions(mut self, compositions: Vec<Composition>) -> Self {
        self.compositions = compositions;
        self
    }

    /// Sets [`registry`](Self::registry).
    pub fn with_registry(mut self, registry: ProviderRegistry) -> Self {
        self.registry = registry;
        self
    }

    /// Sets [`drift`](Self::drift).
    pub fn with_drift(mut self, drift: DriftEngine) -> Self {
        self.drift = drift;
        self
    }

    /// Sets [`field_manager`](Self::field_manager).
    pub fn with_field_manager(mut self, field_manager: String) -> Self {
        self.field_manager = field_manager;
        self
    }

    /// Sets [`poll_interval`](Self::poll_interval).
    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// Sets [`resync_interval`](Self::resync_interval).
    pub fn with_resync_interval(mut self, resync_interval: Duration) -> Self {
        self.resync_interval = resync_interval;
        self
    }

    /// Sets [`executor`](Self::executor).
    pub fn with_executor(mut self, executor: ExecutorConfig) -> Self {
        self.executor = executor;
        self
    }
}

impl ControllerConfig {
    /// A configuration from XRD and composition objects, with the default intervals (5 s while
    /// not ready, 60 s once ready) and field manager `strata`.
    pub fn new(
        xrds: &[Value],
        compositions: &[Value],
        registry: ProviderRegistry,
        drift: DriftEngine,
    ) -> Result<Self, ControllerError> {
        Ok(Self {
            bindings: xrds
                .iter()
                .map(XrdBinding::from_value)
                .collect::<Result<_, _>>()?,
            compositions: compositions
                .iter()
                .map(|c| Composition::parse(c).map_err(ControllerError::InvalidDefinition))
                .collect::<Result<_, _>>()?,
            registry,
            drift,
            field_manager: crate::provider::FIELD_MANAGER.to_owned(),
            poll_interval: Duration::from_secs(5),
            resync_interval: Duration::from_secs(60),
            executor: ExecutorConfig::default()
                .with_retry(RetryPolicy::default().with_max_attempts(1)),
        })
    }

    /// The XRDs, parsed.
    pub fn xrds(&self) -> Vec<Xrd> {
        self.bindings.iter().map(|b| b.xrd.clone()).collect()
    }
}
