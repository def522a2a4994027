//! The Kubernetes provider: any kind, through discovery and the dynamic API.
//!
//! * observe: `GET` the object (404 → absent; a kind the cluster does not serve yet → absent);
//! * create / update: server-side apply (`PATCH`, `application/apply-patch+yaml`) with the field
//!   manager `strata` and strict field validation (an unknown field is a final error naming it),
//!   forcing conflicts only when asked (provider-wide, or per resource with
//!   `strata.dev/force-conflicts: "true"`); an applied CRD is waited for until it is established
//!   and discovery serves its kind, so that its custom resources can follow at once;
//! * delete: `DELETE` with a propagation policy (foreground by default, as ArgoCD prunes; a
//!   resource's `PrunePropagationPolicy=` sync option wins), 404 counts as deleted;
//! * prune: see [`prune`];
//! * `CreateNamespace`: a missing namespace is created before the first object in it;
//! * errors: 429, 5xx, 408, 410 and transport failures are retryable, 409 is a clear final error
//!   (see [`errors`]).

pub mod errors;
pub mod manifest;
mod observe_many;
pub mod prune;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex, RwLock};

use async_trait::async_trait;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PropagationPolicy, ValidationDirective,
};
use kube::discovery::{ApiCapabilities, Scope};
use serde_json::{Value, json};
use strata_core::provider::Applied;
use strata_core::{
    Health, Observation, Provider, ProviderError, ReplaceRules, Resource, ResourceKey,
};
use tokio::sync::OnceCell;

use crate::client::{ConnectOptions, connect};
use errors::{is_not_found, is_not_served, map_error};
use manifest::{apply_body, split_api_version};
use strata_core::schema::KindSchema;
use strata_core::sync::options::sync_option_value;
use strata_health::{HealthRegistry, HealthStatusCode};

/// The field manager Strata applies with.
pub const FIELD_MANAGER: &str = "strata";
/// Per-resource annotation asking to take over fields other managers own.
pub const ANNOTATION_FORCE_CONFLICTS: &str = "strata.dev/force-conflicts";

/// How dependents of a deleted object are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// Dependents are deleted first; the object goes last (ArgoCD's prune default).
    #[default]
    Foreground,
    /// The object goes at once; the garbage collector deletes dependents.
    Background,
    /// Dependents are left behind.
    Orphan,
}

impl Propagation {
    /// Parses ArgoCD's spelling (`foreground`, `background`, `orphan`, any case).
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "foreground" => Some(Self::Foreground),
            "background" => Some(Self::Background),
            "orphan" => Some(Self::Orphan),
            _ => None,
        }
    }

    fn to_kube(self) -> PropagationPolicy {
        match self {
            Self::Foreground => PropagationPolicy::Foreground,
            Self::Background => PropagationPolicy::Background,
            Self::Orphan => PropagationPolicy::Orphan,
        }
    }
}

/// Settings of a [`KubeProvider`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KubeProviderOptions {
    /// Field manager for server-side apply (default `strata`).
    pub field_manager: String,
    /// Take over fields owned by other managers (`force=true`); off by default.
    pub force_conflicts: bool,
    /// Delete propagation (default foreground).
    pub propagation: Propagation,
    /// Create a missing namespace before applying the first object in it.
    pub create_namespace: bool,
    /// API groups this provider never serves (exact, or as a domain suffix: `aws.upbound.io`
    /// also excludes `s3.aws.upbound.io`), so that another provider gets them.
    pub exclude_groups: Vec<String>,
}

impl KubeProviderOptions {
    /// Sets [`field_manager`](Self::field_manager).
    pub fn with_field_manager(mut self, field_manager: String) -> Self {
        self.field_manager = field_manager;
        self
    }

    /// Sets [`force_conflicts`](Self::force_conflicts).
    pub fn with_force_conflicts(mut self, force_conflicts: bool) -> Self {
        self.force_conflicts = force_conflicts;
        self
    }

    /// Sets [`propagation`](Self::propagation).
    pub fn with_propagation(mut self, propagation: Propagation) -> Self {
        self.propagation = propagation;
        self
    }

    /// Sets [`create_namespace`](Self::create_namespace).
    pub fn with_create_namespace(mut self, create_namespace: bool) -> Self {
        self.create_namespace = create_namespace;
        self
    }

    /// Sets [`exclude_groups`](Self::exclude_groups).
    pub fn with_exclude_groups(mut self, exclude_groups: Vec<String>) -> Self {
        self.exclude_groups = exclude_groups;
        self
    }
}

impl Default for KubeProviderOptions {
    fn default() -> Self {
        Self {
            field_manager: FIELD_MANAGER.to_owned(),
            force_conflicts: false,
            propagation: Propagation::Foreground,
            create_namespace: false,
            exclude_groups: Vec::new(),
        }
    }
}

/// A resolved kind: where its objects live and whether it is namespaced.
#[derive(Debug, Clone)]
pub struct ResolvedKind {
    /// The API resource (plural, version …).
    pub resource: ApiResource,
    /// Whether objects of the kind live in namespaces.
    pub namespaced: bool,
}

type KindKey = (String, String, String);

/// The (group, kind) pairs the cluster serves, once discovered.
type ServedKinds = HashSet<(String, String)>;

/// The Kubernetes provider. See the module documentation.
pub struct KubeProvider {
    client: OnceCell<kube::Client>,
    connect: ConnectOptions,
    options: KubeProviderOptions,
    kinds: Arc<Mutex<HashMap<KindKey, ResolvedKind>>>,
    served: Arc<RwLock<Option<ServedKinds>>>,
    namespaces: Arc<Mutex<HashSet<String>>>,
    health: Option<Arc<HealthRegistry>>,
    /// The schemas of the CRDs installed in the cluster, read by [`KubeProvider::discover`].
    cluster_schemas: Arc<RwLock<Vec<KindSchema>>>,
}

impl std::fmt::Debug for KubeProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeProvider")
            .field("connect", &self.connect)
            .field("options", &self.options)
            .field("connected", &self.client.initialized())
            .finish()
    }
}

impl KubeProvider {
    /// A provider over an existing client (a real one, or a mock in tests).
    pub fn new(client: kube::Client, options: KubeProviderOptions) -> Self {
        Self {
            client: OnceCell::new_with(Some(client)),
            ..Self::lazy(ConnectOptions::default(), options)
        }
    }

    /// A provider that connects (kubeconfig or in-cluster) on its first call.
    pub fn lazy(connect: ConnectOptions, options: KubeProviderOptions) -> Self {
        Self {
            client: OnceCell::new(),
            connect,
            options,
            kinds: Arc::new(Mutex::new(HashMap::new())),
            served: Arc::new(RwLock::new(None)),
            namespaces: Arc::new(Mutex::new(HashSet::new())),
            health: None,
            cluster_schemas: Arc::new(RwLock::new(Vec::new())),
        }
    }

    /// A provider that sends its requests through `client` and shares everything this one
    /// has learnt (discovered kinds, served kinds, known namespaces, CRD schemas) both ways:
    /// the way to give one caller its own client — one that counts or traces its requests
    /// (see [`crate::client::observed`]) — without discovering the cluster again.
    pub fn with_client(&self, client: kube::Client) -> Self {
        Self {
            client: OnceCell::new_with(Some(client)),
            connect: self.connect.clone(),
            options: self.options.clone(),
            kinds: Arc::clone(&self.kinds),
            served: Arc::clone(&self.served),
            namespaces: Arc::clone(&self.namespaces),
            health: self.health.clone(),
            cluster_schemas: Arc::clone(&self.cluster_schemas),
        }
    }

    /// Uses `registry` (built-in rules plus the user's Lua or Rust rules) for health.
    pub fn with_health_registry(mut self, registry: Arc<HealthRegistry>) -> Self {
        self.health = Some(registry);
        self
    }

    /// Records a kind as known, sparing its discovery request.
    pub fn with_known_kind(self, resource: ApiResource, namespaced: bool) -> Self {
        if let Ok(mut kinds) = self.kinds.lock() {
            kinds.insert(
                (
                    resource.group.clone(),
                    resource.version.clone(),
                    resource.kind.clone(),
                ),
                ResolvedKind {
                    resource,
                    namespaced,
                },
            );
        }
        self
    }

    /// The settings.
    pub fn options(&self) -> &KubeProviderOptions {
        &self.options
    }

    /// The client, connecting first if needed.
    pub async fn client(&self) -> Result<&kube::Client, ProviderError> {
        self.client
            .get_or_try_init(|| async {
                connect(&self.connect)
                    .await
                    .map_err(|e| ProviderError::final_error(e.to_string()).with_source(e))
            })
            .await
    }

    /// Runs full discovery; from then on [`Provider::serves`] answers from what the cluster
    /// serves. Returns the number of kinds found.
    pub async fn discover(&self) -> Result<usize, ProviderError> {
        let client = self.client().await?.clone();
        let discovery = kube::Discovery::new(client.clone())
            .run()
            .await
            .map_err(|e| map_error(e, "discovering", "the cluster's kinds"))?;
        let mut served = HashSet::new();
        {
            let mut kinds = self
                .kinds
                .lock()
                .map_err(|_| ProviderError::final_error("kind cache poisoned"))?;
            for group in discovery.groups() {
                for version in group.versions() {
                    for (resource, caps) in group.versioned_resources(version) {
                        served.insert((resource.group.clone(), resource.kind.clone()));
                        kinds.insert(
                            (
                                resource.group.clone(),
                                resource.version.clone(),
                                resource.kind.clone(),
                            ),
                            ResolvedKind {
                                namespaced: caps.scope == Scope::Namespaced,
                                resource,
                            },
                        );
                    }
                }
            }
        }
        let count = served.len();
        if let Ok(mut slot) = self.served.write() {
            *slot = Some(served);
        }
        self.read_cluster_schemas(&client).await;
        Ok(count)
    }

    /// Reads the schemas of the CustomResourceDefinitions installed in the cluster, so
    /// custom resources are checked before planning as the API server will check them. A
    /// cluster that does not let us list CRDs, or a CRD whose schema cannot be read here, is
    /// reported as a warning: those kinds are then checked by kind only.
    async fn read_cluster_schemas(&self, client: &kube::Client) {
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
        let api: Api<CustomResourceDefinition> = Api::all(client.clone());
        let crds = match api.list(&ListParams::default()).await {
            Ok(list) => list.items,
            Err(error) => {
                tracing::warn!(%error, "cannot list the cluster's CustomResourceDefinitions; custom resources are checked by kind only");
                return;
            }
        };
        let mut schemas = Vec::new();
        for crd in crds {
            let name = crd.metadata.name.clone().unwrap_or_default();
            let Ok(manifest) = serde_json::to_value(&crd) else {
                continue;
            };
            match strata_core::schema::crd_schemas(&manifest) {
                Ok(found) => schemas.extend(found.into_iter().map(|mut schema| {
                    schema.declared_by =
                        format!("CustomResourceDefinition {name} (in the cluster)");
                    schema
                })),
                Err(problems) => {
                    let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
                    tracing::warn!(crd = %name, problems = %problems.join("; "), "the schema of an installed CustomResourceDefinition cannot be read; its kind is checked by kind only");
                }
            }
        }
        if let Ok(mut slot) = self.cluster_schemas.write() {
            *slot = schemas;
        }
    }

    /// Also serves the kinds the CustomResourceDefinitions among `resources` define, as if
    /// discovery had found them: a stack that applies a CRD and its custom resources routes
    /// both here, although the cluster serves the kind only once the CRD is applied. Does
    /// nothing before [`discover`](Self::discover) (every kind is served then).
    pub fn serve_kinds_of_crds(&self, resources: &[Resource]) {
        let defined = resources.iter().filter_map(|r| {
            let m = &r.manifest;
            (r.key.group == "apiextensions.k8s.io" && r.key.kind == "CustomResourceDefinition")
                .then(|| {
                    Some((
                        m.pointer("/spec/group")?.as_str()?.to_owned(),
                        m.pointer("/spec/names/kind")?.as_str()?.to_owned(),
                    ))
                })
                .flatten()
        });
        if let Ok(mut slot) = self.served.write()
            && let Some(served) = slot.as_mut()
        {
            served.extend(defined);
        }
    }

    /// Resolves `apiVersion`/`kind` to its API resource (one discovery request per group
    /// version, cached). A kind the cluster does not serve is a final error.
    pub async fn resolve(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<ResolvedKind, ProviderError> {
        self.resolve_if_served(api_version, kind)
            .await?
            .ok_or_else(|| {
                ProviderError::final_error(format!(
                    "discovering {api_version} {kind}: the cluster does not serve this kind"
                ))
            })
    }

    /// Like [`resolve`](Self::resolve), but `None` when the cluster does not serve the kind
    /// (its group version is unknown, `404`, or lacks the kind): for example a custom resource
    /// whose CRD the same apply creates first. Misses are not cached, so the kind is found
    /// once its CRD is established.
    pub async fn resolve_if_served(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<Option<ResolvedKind>, ProviderError> {
        let (group, version) = split_api_version(api_version);
        let key = (group.to_owned(), version.to_owned(), kind.to_owned());
        if let Some(found) = self.kinds.lock().ok().and_then(|k| k.get(&key).cloned()) {
            return Ok(Some(found));
        }
        let client = self.client().await?;
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, caps): (ApiResource, ApiCapabilities) =
            match kube::discovery::pinned_kind(client, &gvk).await {
                Ok(found) => found,
                Err(e) if is_not_served(&e) => return Ok(None),
                Err(e) => {
                    return Err(map_error(
                        e,
                        "discovering",
                        &format!("{api_version} {kind}"),
                    ));
                }
            };
        let resolved = ResolvedKind {
            resource,
            namespaced: caps.scope == Scope::Namespaced,
        };
        if let Ok(mut kinds) = self.kinds.lock() {
            kinds.insert(key, resolved.clone());
        }
        Ok(Some(resolved))
    }

    /// The dynamic API for a manifest's kind and namespace, with a printable target name.
    async fn api_for(
        &self,
        resource: &Resource,
    ) -> Result<(Api<DynamicObject>, String), ProviderError> {
        let resolved = self
            .resolve(resource.api_version(), &resource.key.kind)
            .await?;
        let client = self.client().await?.clone();
        let api = if resolved.namespaced {
            let namespace = resource
                .key
                .namespace
                .as_deref()
                .map(str::to_owned)
                .unwrap_or_else(|| client.default_namespace().to_owned());
            Api::namespaced_with(client, &namespace, &resolved.resource)
        } else {
            Api::all_with(client, &resolved.resource)
        };
        Ok((api, resource.key.to_string()))
    }

    /// Creates the namespace of a namespaced resource when it is missing (CreateNamespace).
    async fn ensure_namespace(&self, resource: &Resource) -> Result<(), ProviderError> {
        let Some(namespace) = resource.key.namespace.as_deref() else {
            return Ok(());
        };
        if resource.key.group.is_empty() && resource.key.kind == "Namespace" {
            return Ok(());
        }
        if self
            .namespaces
            .lock()
            .map(|n| n.contains(namespace))
            .unwrap_or(false)
        {
            return Ok(());
        }
        let resolved = self
            .resolve(resource.api_version(), &resource.key.kind)
            .await?;
        if !resolved.namespaced {
            return Ok(());
        }
        let client = self.client().await?.clone();
        let namespaces: Api<DynamicObject> = Api::all_with(
            client,
            &ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("", "v1", "Namespace"),
                "namespaces",
            ),
        );
        let target = format!("Namespace/{namespace}");
        let exists = namespaces
            .get_opt(namespace)
            .await
            .map_err(|e| map_error(e, "reading", &target))?
            .is_some();
        if !exists {
            let body =
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
            namespaces
                .patch(
                    namespace,
                    &PatchParams::apply(&self.options.field_manager),
                    &Patch::Apply(&body),
                )
                .await
                .map_err(|e| map_error(e, "creating", &target))?;
        }
        if let Ok(mut known) = self.namespaces.lock() {
            known.insert(namespace.to_owned());
        }
        Ok(())
    }

    /// Server-side apply of `resource`.
    pub async fn apply(&self, resource: &Resource) -> Result<Applied, ProviderError> {
        if self.options.create_namespace {
            self.ensure_namespace(resource).await?;
        }
        let (api, target) = self.api_for(resource).await?;
        // Strict: fields the kind does not declare (typos) and duplicate fields are to be
        // rejected, never dropped with a warning. (API servers up to at least 1.34 already refuse
        // such an apply body, with a 500 that `errors::is_schema_mismatch` makes final.)
        let mut params =
            PatchParams::apply(&self.options.field_manager).validation(ValidationDirective::Strict);
        if self.options.force_conflicts
            || resource.annotation(ANNOTATION_FORCE_CONFLICTS) == Some("true")
        {
            params = params.force();
        }
        let body = apply_body(&resource.manifest);
        let applied = api
            .patch(&resource.key.name, &params, &Patch::Apply(&body))
            .await
            .map_err(|e| map_error(e, "applying", &target))?;
        let mut live = to_value(&applied)?;
        if is_crd(&resource.key) {
            live = self
                .wait_until_crd_served(&api, &resource.key.name, &target, live)
                .await?;
        }
        let outputs = match live.pointer("/metadata/uid") {
            Some(uid) => json!({ "uid": uid }),
            None => Value::Null,
        };
        Ok(Applied {
            live,
            outputs,
            ..Applied::default()
        })
    }

    /// Waits until an applied CRD is established and discovery serves its kind, so that its
    /// custom resources can be applied right after it (re-reading it every
    /// [`CRD_POLL_INTERVAL`], for at most [`CRD_SERVED_TIMEOUT`]). Returns the CRD as last
    /// read. Names the API server rejects are a final error; a timeout is retryable.
    async fn wait_until_crd_served(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        target: &str,
        mut live: Value,
    ) -> Result<Value, ProviderError> {
        let deadline = tokio::time::Instant::now() + CRD_SERVED_TIMEOUT;
        loop {
            match crd_state(&live) {
                CrdState::NamesRejected(message) => {
                    return Err(ProviderError::final_error(format!(
                        "applying {target}: the API server does not accept its names: {message}"
                    )));
                }
                CrdState::Established(Some((api_version, kind))) => {
                    if self.resolve_if_served(&api_version, &kind).await?.is_some() {
                        return Ok(live);
                    }
                }
                CrdState::Established(None) => return Ok(live),
                CrdState::Pending => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ProviderError::retryable(format!(
                    "applying {target}: not established and served after {} s",
                    CRD_SERVED_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(CRD_POLL_INTERVAL).await;
            let current = api
                .get(name)
                .await
                .map_err(|e| map_error(e, "reading", target))?;
            live = to_value(&current)?;
        }
    }

    /// Deletes `resource` with `propagation`; an object already gone counts as deleted.
    pub async fn delete_with(
        &self,
        resource: &Resource,
        propagation: Propagation,
    ) -> Result<(), ProviderError> {
        let (api, target) = self.api_for(resource).await?;
        let params = DeleteParams {
            propagation_policy: Some(propagation.to_kube()),
            ..DeleteParams::default()
        };
        match api.delete(&resource.key.name, &params).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(map_error(e, "deleting", &target)),
        }
    }

    /// The propagation for deleting `manifest`: its `PrunePropagationPolicy=` sync option, else
    /// the provider's.
    pub fn propagation_for(&self, manifest: &Value) -> Propagation {
        sync_option_value(manifest, "PrunePropagationPolicy")
            .and_then(Propagation::parse)
            .unwrap_or(self.options.propagation)
    }

    fn health_registry(&self) -> &HealthRegistry {
        match &self.health {
            Some(registry) => registry,
            None => HealthRegistry::builtin(),
        }
    }
}

/// How long applying a CRD waits for it to be established and its kind served.
pub const CRD_SERVED_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// How often an applied CRD is read again while waiting.
pub const CRD_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

fn is_crd(key: &ResourceKey) -> bool {
    key.group == "apiextensions.k8s.io" && key.kind == "CustomResourceDefinition"
}

/// Where a live CRD stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CrdState {
    /// Not established yet.
    Pending,
    /// `NamesAccepted=False`, with the server's message.
    NamesRejected(String),
    /// `Established=True`, with the `apiVersion` and kind of its first served version (none
    /// when no version is served).
    Established(Option<(String, String)>),
}

fn crd_state(live: &Value) -> CrdState {
    let conditions = live
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let condition = |kind: &str| {
        conditions
            .iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
    };
    if let Some(rejected) = condition("NamesAccepted")
        .filter(|c| c.get("status").and_then(Value::as_str) == Some("False"))
    {
        let message = rejected
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return CrdState::NamesRejected(message.to_owned());
    }
    let established = condition("Established")
        .is_some_and(|c| c.get("status").and_then(Value::as_str) == Some("True"));
    if !established {
        return CrdState::Pending;
    }
    let group = live.pointer("/spec/group").and_then(Value::as_str);
    let kind = live.pointer("/spec/names/kind").and_then(Value::as_str);
    let version = live
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .and_then(|versions| {
            versions
                .iter()
                .find(|v| v.get("served").and_then(Value::as_bool) == Some(true))
        })
        .and_then(|v| v.get("name"))
        .and_then(Value::as_str);
    CrdState::Established(match (group, version, kind) {
        (Some(group), Some(version), Some(kind)) => {
            Some((format!("{group}/{version}"), kind.to_owned()))
        }
        _ => None,
    })
}

/// A dynamic object as JSON.
pub fn to_value(object: &DynamicObject) -> Result<Value, ProviderError> {
    serde_json::to_value(object).map_err(|e| {
        ProviderError::final_error(format!("reading the API's answer: {e}")).with_source(e)
    })
}

/// Core health for an ArgoCD-style status: Suspended and Missing wait like Progressing (as the
/// sync state machine treats them); kinds without a check are Healthy.
pub fn core_health(status: Option<HealthStatusCode>) -> Health {
    match status {
        None | Some(HealthStatusCode::Healthy) => Health::Healthy,
        Some(
            HealthStatusCode::Progressing | HealthStatusCode::Suspended | HealthStatusCode::Missing,
        ) => Health::Progressing,
        Some(HealthStatusCode::Degraded) => Health::Degraded,
        // Unknown, and any status a later version adds: not known to be fine.
        Some(_) => Health::Unknown,
    }
}
/// The fields of Kubernetes kinds that the API server refuses to change in place (a Deployment's
/// selector, a Job's template, a Service's cluster IP …). The provider answers `replace_fields`
/// from this table and the sandbox mirrors it
/// (`SandboxProvider::with_mirrored_rules(strata_k8s::replace_rules())`).
pub fn replace_rules() -> &'static ReplaceRules {
    static RULES: LazyLock<ReplaceRules> = LazyLock::new(|| {
        ReplaceRules::new()
            .with_kind("apps", "Deployment", ["spec.selector"])
            .with_kind("apps", "DaemonSet", ["spec.selector"])
            .with_kind("apps", "ReplicaSet", ["spec.selector"])
            .with_kind("apps", "StatefulSet", ["spec.selector", "spec.serviceName"])
            .with_kind("batch", "Job", ["spec.selector", "spec.template"])
            .with_kind("", "Service", ["spec.clusterIP"])
            .with_kind(
                "",
                "PersistentVolumeClaim",
                ["spec.storageClassName", "spec.accessModes"],
            )
            .with_kind(
                "storage.k8s.io",
                "StorageClass",
                ["provisioner", "parameters"],
            )
    });
    &RULES
}

#[async_trait]
impl Provider for KubeProvider {
    fn name(&self) -> &str {
        "kubernetes"
    }

    /// The built-in kinds' schemas and those of the CRDs installed in the cluster (read by
    /// [`KubeProvider::discover`]).
    fn schemas(&self) -> Vec<KindSchema> {
        let mut schemas = self
            .cluster_schemas
            .read()
            .map(|s| s.clone())
            .unwrap_or_default();
        if let Ok(builtin) = crate::schemas::builtin_schemas() {
            schemas.extend(builtin.iter().cloned());
        }
        schemas
    }

    fn serves(&self, api_version: &str, kind: &str) -> bool {
        let (group, _) = split_api_version(api_version);
        let excluded = self.options.exclude_groups.iter().any(|g| {
            group == g
                || group
                    .strip_suffix(g.as_str())
                    .is_some_and(|rest| rest.ends_with('.'))
        });
        if excluded {
            return false;
        }
        match self.served.read() {
            Ok(served) => served
                .as_ref()
                .is_none_or(|s| s.contains(&(group.to_owned(), kind.to_owned()))),
            Err(_) => true,
        }
    }

    /// The labelled objects of `kinds` this provider serves: one labelled `LIST` per kind
    /// (all namespaces), as `apply --prune` lists them. Kinds outside `kinds` are not
    /// searched: listing every kind a cluster serves would cost a request per kind.
    async fn list_owned(
        &self,
        stack: &str,
        kinds: &[(String, String)],
    ) -> Result<Option<Vec<Value>>, ProviderError> {
        let mut owned = Vec::new();
        for (api_version, kind) in kinds {
            if self.serves(api_version, kind) {
                owned.extend(KubeProvider::list_owned(self, api_version, kind, stack).await?);
            }
        }
        Ok(Some(owned))
    }

    fn observes_many(&self) -> bool {
        true
    }

    async fn observe_many(
        &self,
        resources: &[&Resource],
        found: &mut (dyn FnMut(usize, Observation) + Send),
    ) {
        self.observe_listed(resources, found).await;
    }

    async fn observe(&self, desired: &Resource) -> Result<Observation, ProviderError> {
        // No object of a kind the cluster does not serve (yet) can exist.
        if self
            .resolve_if_served(desired.api_version(), &desired.key.kind)
            .await?
            .is_none()
        {
            return Ok(Observation::absent());
        }
        let (api, target) = self.api_for(desired).await?;
        // Read as text and kept so (see `LiveObject`), as the lists keep what they read.
        let request = kube::core::Request::new(api.resource_url())
            .get(&desired.key.name, &kube::api::GetParams::default())
            .map_err(|e| {
                ProviderError::final_error(format!("building the request reading {target}: {e}"))
                    .with_source(e)
            })?;
        let text = match self.client().await?.request_text(request).await {
            Ok(text) => text,
            Err(kube::Error::Api(status)) if status.is_not_found() => {
                return Ok(Observation::absent());
            }
            Err(e) => return Err(map_error(e, "reading", &target)),
        };
        let live = strata_core::CompactValue::from_json_text(&text).map_err(|e| {
            ProviderError::final_error(format!("reading the API's answer for {target}: {e}"))
                .with_source(e)
        })?;
        Ok(Observation::present(strata_core::LiveObject::from_compact(
            live,
        )))
    }

    async fn create(&self, desired: &Resource) -> Result<Applied, ProviderError> {
        self.apply(desired).await
    }

    async fn update(&self, desired: &Resource, _live: &Value) -> Result<Applied, ProviderError> {
        self.apply(desired).await
    }

    async fn delete(&self, resource: &Resource) -> Result<(), ProviderError> {
        self.delete_with(resource, self.propagation_for(&resource.manifest))
            .await
    }

    fn replace_fields(&self, key: &ResourceKey) -> Vec<String> {
        replace_rules().fields_for(key).to_vec()
    }

    fn health(&self, live: &Value) -> Health {
        core_health(self.health_registry().assess(live).map(|h| h.status))
    }
}

/// Whether a manifest asks not to be pruned (`argocd.argoproj.io/sync-options: Prune=false`).
pub fn prune_disabled(manifest: &Value) -> bool {
    sync_option_value(manifest, "Prune") == Some("false")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn propagation_parses_argocd_spellings() {
        assert_eq!(
            Propagation::parse("foreground"),
            Some(Propagation::Foreground)
        );
        assert_eq!(
            Propagation::parse("Background"),
            Some(Propagation::Background)
        );
        assert_eq!(Propagation::parse("orphan"), Some(Propagation::Orphan));
        assert_eq!(Propagation::parse("cascade"), None);
    }

    #[test]
    fn a_crd_is_served_once_established_with_its_first_served_version() {
        let crd = |conditions: Value| {
            json!({"spec": {"group": "example.dev", "names": {"kind": "Widget"},
                "versions": [{"name": "v1alpha1", "served": false}, {"name": "v1", "served": true}]},
                "status": {"conditions": conditions}})
        };
        assert_eq!(crd_state(&crd(json!([]))), CrdState::Pending);
        assert_eq!(
            crd_state(&crd(json!([{"type": "Established", "status": "False"}]))),
            CrdState::Pending
        );
        assert_eq!(
            crd_state(&crd(json!([{"type": "NamesAccepted", "status": "True"},
                {"type": "Established", "status": "True"}]))),
            CrdState::Established(Some(("example.dev/v1".to_owned(), "Widget".to_owned())))
        );
        assert_eq!(
            crd_state(&crd(json!([{"type": "NamesAccepted", "status": "False",
                "message": "\"widgets\" is already in use"}]))),
            CrdState::NamesRejected("\"widgets\" is already in use".to_owned())
        );
    }

    #[test]
    fn health_maps_argocd_statuses_to_core() {
        assert_eq!(core_health(None), Health::Healthy);
        assert_eq!(
            core_health(Some(HealthStatusCode::Suspended)),
            Health::Progressing
        );
        assert_eq!(
            core_health(Some(HealthStatusCode::Degraded)),
            Health::Degraded
        );
        assert_eq!(
            core_health(Some(HealthStatusCode::Unknown)),
            Health::Unknown
        );
    }
}
