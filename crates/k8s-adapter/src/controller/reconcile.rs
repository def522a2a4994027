//! Reconciling one claim or composite.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams,
};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use strata_composition::render::{ObservedComposed, RenderOptions, RenderRequest};
use strata_composition::{CompositeRender, render_object};
use strata_core::executor::{self, Cancellation, Event, NoRecorder};
use strata_core::model::annotation;
use strata_core::plan::{Action, Plan, ResourceChange};
use strata_core::{Observation, Provider, Resource, ResourceKey};
use strata_drift::Decision;

use super::status::{Condition, now_rfc3339};
use super::{ANNOTATION_DESIRED_HASH, ControllerConfig, ControllerError, FINALIZER, XrdBinding};
use crate::provider::errors::is_not_found;
use crate::provider::manifest::apply_body;
use crate::provider::to_value;

/// What one reconcile did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileOutcome {
    /// Look again after this long (`None`: only on the next change).
    pub requeue_after: Option<Duration>,
    /// Whether the object is Ready.
    pub ready: bool,
    /// Composed resources created or updated.
    pub applied: Vec<ResourceKey>,
    /// Composed resources deleted.
    pub deleted: Vec<ResourceKey>,
    /// Composed resources whose drift was reported but not healed.
    pub drift_reported: Vec<ResourceKey>,
    /// The finalizer was removed (the object may now go away).
    pub released: bool,
}

/// What a composed resource needs, decided before anything is applied.
enum Decided {
    /// Nothing now.
    Nothing,
    /// Apply it with this action; `true` when the apply heals drift.
    Apply(Action, bool),
    /// Look again after this long (a self-heal backoff).
    Wait(Duration),
}

/// Reconciles claims and composites; see the module documentation of [`super`].
pub struct Reconciler {
    client: kube::Client,
    config: Arc<ControllerConfig>,
    heal_attempts: Mutex<HashMap<ResourceKey, u32>>,
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("config", &self.config)
            .finish()
    }
}

fn meta<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object.get("metadata")?.get(field)?.as_str()
}

fn finalizers(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A short digest of a desired object, stored on what was applied. Key order does not matter.
pub fn desired_hash(desired: &Value) -> String {
    let mut text = String::new();
    canonical(desired, &mut text);
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}

fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for key in keys {
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(&map[key], out);
                out.push(',');
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for item in items {
                canonical(item, out);
                out.push(',');
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn describe(object: &Value) -> String {
    format!(
        "{} {}{}",
        object.get("kind").and_then(Value::as_str).unwrap_or("?"),
        meta(object, "namespace")
            .map(|ns| format!("{ns}/"))
            .unwrap_or_default(),
        meta(object, "name").unwrap_or("?")
    )
}

fn api_error(what: String) -> impl FnOnce(kube::Error) -> ControllerError {
    move |error| ControllerError::Api { what, error }
}

/// A reference to a composed resource, as kept in `status.resourceRefs`.
fn resource_ref(manifest: &Value) -> Value {
    let mut r = json!({
        "apiVersion": manifest.get("apiVersion").cloned().unwrap_or(Value::Null),
        "kind": manifest.get("kind").cloned().unwrap_or(Value::Null),
        "name": meta(manifest, "name").unwrap_or(""),
    });
    if let Some(ns) = meta(manifest, "namespace") {
        r["namespace"] = json!(ns);
    }
    r
}

/// Where a composite lists its composed resources (Crossplane's `spec.resourceRefs`; the
/// generated CRDs have no `status.resourceRefs`, so the server would drop it there).
const RESOURCE_REFS: &str = "/spec/resourceRefs";

/// The composed resources a composite lists in `spec.resourceRefs`.
fn listed_refs(composite: &Value) -> Vec<Resource> {
    composite
        .pointer(RESOURCE_REFS)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(ref_to_resource)
        .collect()
}

/// The composed resources listed in the composite's `spec.resourceRefs` that the current
/// render no longer produces.
fn stale_refs(composite: &Value, current: &[Value]) -> Vec<Resource> {
    let current: Vec<ResourceKey> = current
        .iter()
        .filter_map(ref_to_resource)
        .map(|r| r.key)
        .collect();
    listed_refs(composite)
        .into_iter()
        .filter(|r| !current.contains(&r.key))
        .collect()
}

/// The name of a claim's composite: the one `spec.resourceRef` binds, else the claim's own.
fn composite_name_of(claim: &Value) -> &str {
    claim
        .pointer("/spec/resourceRef/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .or_else(|| meta(claim, "name"))
        .unwrap_or_default()
}

fn ref_to_resource(r: &Value) -> Option<Resource> {
    let mut metadata = json!({"name": r.get("name")?.as_str()?});
    if let Some(ns) = r.get("namespace").and_then(Value::as_str) {
        metadata["namespace"] = json!(ns);
    }
    Resource::from_manifest(
        json!({"apiVersion": r.get("apiVersion")?, "kind": r.get("kind")?, "metadata": metadata}),
    )
    .ok()
}

impl Reconciler {
    /// A reconciler over `client` (for the claims, composites and connection secrets).
    pub fn new(client: kube::Client, config: ControllerConfig) -> Self {
        Self {
            client,
            config: Arc::new(config),
            heal_attempts: Mutex::new(HashMap::new()),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    /// The client.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// The XRD binding of an object and whether the object is a claim.
    pub fn binding_for(&self, object: &Value) -> Option<(&XrdBinding, bool)> {
        let api_version = object.get("apiVersion").and_then(Value::as_str)?;
        let kind = object.get("kind").and_then(Value::as_str)?;
        let group = strata_core::model::group_of(api_version);
        self.config.bindings.iter().find_map(|b| {
            if b.xrd.group != group {
                None
            } else if b.xrd.kind == kind {
                Some((b, false))
            } else if b.xrd.claim_kind.as_deref() == Some(kind) {
                Some((b, true))
            } else {
                None
            }
        })
    }

    fn api(&self, resource: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, resource),
            None => Api::all_with(self.client.clone(), resource),
        }
    }

    fn object_api(
        &self,
        binding: &XrdBinding,
        is_claim: bool,
        object: &Value,
    ) -> Api<DynamicObject> {
        if is_claim {
            let resource = binding.claim.as_ref().unwrap_or(&binding.composite);
            self.api(
                resource,
                Some(meta(object, "namespace").unwrap_or(self.client.default_namespace())),
            )
        } else {
            self.api(&binding.composite, meta(object, "namespace"))
        }
    }

    /// Checks the composed resources as planning checks a desired set (schemas, kinds,
    /// metadata): a composition rendering something a provider would refuse is a render
    /// error of the composite, and nothing of it is applied.
    fn validate_composed(&self, object: &Value, composed: &[Value]) -> Result<(), ControllerError> {
        let mut resources = Vec::with_capacity(composed.len());
        for manifest in composed {
            resources.push(Resource::from_manifest(manifest.clone()).map_err(|source| {
                ControllerError::ComposedResource {
                    object: describe(object),
                    name: None,
                    source,
                }
            })?);
        }
        let problems =
            strata_core::validate::Validator::for_registry(&self.config.registry).check(&resources);
        if problems.is_empty() {
            return Ok(());
        }
        let listed: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}: {}", p.key, p.field, p.message))
            .collect();
        Err(ControllerError::Render {
            object: describe(object),
            message: format!("the composed resources are invalid: {}", listed.join("; ")),
        })
    }

    fn provider_for(&self, resource: &Resource) -> Result<Arc<dyn Provider>, ControllerError> {
        self.config.registry.route(resource).map_err(|e| {
            ControllerError::Provider(
                strata_core::ProviderError::final_error(e.to_string()).with_source(e),
            )
        })
    }

    /// The cluster's EnvironmentConfigs (`apiextensions.crossplane.io/v1beta1`), listed only
    /// when a composition selects them; none when the cluster does not serve the kind (as a
    /// cluster without Crossplane's CRDs), so a `Required` selection fails naming the config.
    async fn environment_configs(&self, object: &Value) -> Result<Vec<Value>, ControllerError> {
        if !self
            .config
            .compositions
            .iter()
            .any(strata_composition::Composition::uses_environment_configs)
        {
            return Ok(Vec::new());
        }
        let resource = kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk(
                "apiextensions.crossplane.io",
                "v1beta1",
                "EnvironmentConfig",
            ),
            "environmentconfigs",
        );
        let api: Api<kube::api::DynamicObject> = Api::all_with(self.client.clone(), &resource);
        match api.list(&kube::api::ListParams::default()).await {
            Ok(list) => Ok(list
                .items
                .iter()
                .map(to_value)
                .collect::<Result<Vec<_>, _>>()?),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(Vec::new()),
            Err(e) => Err(api_error(format!(
                "listing the EnvironmentConfigs for {}",
                describe(object)
            ))(e)),
        }
    }

    /// Reconciles one claim or composite.
    pub async fn reconcile(&self, object: &Value) -> Result<ReconcileOutcome, ControllerError> {
        let (binding, is_claim) = self.binding_for(object).ok_or_else(|| {
            ControllerError::Unknown(format!(
                "{} is not a claim or composite of a known XRD",
                describe(object)
            ))
        })?;
        if !is_claim && meta_label(object, strata_composition::metadata::LABEL_CLAIM_NAME).is_some()
        {
            // The claim's reconcile owns composites made for claims.
            return Ok(ReconcileOutcome::default());
        }
        let api = self.object_api(binding, is_claim, object);
        let name = meta(object, "name").unwrap_or_default().to_owned();
        if object.pointer("/metadata/deletionTimestamp").is_some() {
            return self.finalize(binding, is_claim, object, &api, &name).await;
        }
        crate::finalizers::update_finalizers(&api, &name, Some(object), |held| {
            let missing = !held.iter().any(|f| f == FINALIZER);
            if missing {
                held.push(FINALIZER.to_owned());
            }
            missing
        })
        .await
        .map_err(api_error(format!(
            "adding the finalizer to {}",
            describe(object)
        )))?;
        let xrds = self.config.xrds();
        let environment_configs = self.environment_configs(object).await?;
        let render = |target: &Value,
                      observed: BTreeMap<String, ObservedComposed>|
         -> Result<CompositeRender, ControllerError> {
            let request = RenderRequest {
                observed,
                environment_configs: environment_configs.clone(),
                ..RenderRequest::default()
            };
            render_object(
                target,
                &xrds,
                &self.config.compositions,
                &request,
                RenderOptions::default(),
            )
            .map_err(|source| ControllerError::Composition {
                object: describe(object),
                source,
            })
        };
        // Claims: the composite is derived and applied first; composites are reconciled as they are.
        let composite = if is_claim {
            let derived = render(object, BTreeMap::new())?.composite;
            let composite_api = self.api(&binding.composite, None);
            let composite_name = meta(&derived, "name").unwrap_or(&name).to_owned();
            let applied = composite_api
                .patch(
                    &composite_name,
                    &PatchParams::apply(&self.config.field_manager).force(),
                    &Patch::Apply(&apply_body(&derived)),
                )
                .await
                .map_err(api_error(format!(
                    "applying the composite of {}",
                    describe(object)
                )))?;
            to_value(&applied)?
        } else {
            object.clone()
        };

        // Observe what the composition asks for, then render again with what is live.
        let first = render(&composite, BTreeMap::new())?;
        let mut observed = BTreeMap::new();
        let mut observations: HashMap<String, Observation> = HashMap::new();
        for (rendered, manifest) in first.output.resources.iter().zip(&first.composed) {
            let resource = Resource::from_manifest(manifest.clone()).map_err(|source| {
                ControllerError::ComposedResource {
                    object: describe(object),
                    name: Some(rendered.name.clone()),
                    source,
                }
            })?;
            let observation = self.provider_for(&resource)?.observe(&resource).await?;
            if let Some(live) = &observation.live {
                observed.insert(
                    rendered.name.clone(),
                    ObservedComposed {
                        resource: live.value().into_owned(),
                        connection_details: observation
                            .connection
                            .0
                            .iter()
                            .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
                            .collect(),
                    },
                );
            }
            observations.insert(rendered.name.clone(), observation);
        }
        let rendered = render(&composite, observed)?;
        self.validate_composed(object, &rendered.composed)?;

        let mut outcome = ReconcileOutcome::default();
        let mut errors = Vec::new();
        let mut refs = Vec::new();
        let mut waiting = Vec::new();
        let mut changes: Vec<ResourceChange> = Vec::new();
        let mut healing: Vec<ResourceKey> = Vec::new();
        let stack = meta(&composite, "name").unwrap_or(&name).to_owned();
        for (item, manifest) in rendered.output.resources.iter().zip(&rendered.composed) {
            let mut desired = strata_core::ownership::stamp(manifest, &stack);
            // A named object keeps its name: generateName only matters before the first apply.
            if let Some(metadata) = desired.get_mut("metadata").and_then(Value::as_object_mut)
                && metadata.contains_key("name")
            {
                metadata.shift_remove("generateName");
            }
            let hash = desired_hash(&desired);
            if let Some(annotations) = desired
                .pointer_mut("/metadata")
                .and_then(Value::as_object_mut)
                .map(|m| {
                    m.entry("annotations")
                        .or_insert_with(|| Value::Object(Map::new()))
                })
                .and_then(Value::as_object_mut)
            {
                annotations.insert(
                    ANNOTATION_DESIRED_HASH.to_owned(),
                    Value::String(hash.clone()),
                );
            }
            refs.push(resource_ref(&desired));
            let resource = match Resource::from_manifest(desired.clone()) {
                Ok(r) => r,
                Err(e) => {
                    errors.push(format!("{}: {e}", item.name));
                    continue;
                }
            };
            // Parsed once (a live object kept as text), for the decision and the change.
            let live = observations
                .get(&item.name)
                .and_then(|o| o.live.as_ref())
                .map(strata_core::LiveObject::shared);
            match self.decide(&resource, live.as_deref(), &hash, &mut outcome) {
                Ok(Decided::Apply(action, heal)) => {
                    let provider = self.provider_for(&resource)?.name().to_owned();
                    healing.extend(heal.then(|| resource.key.clone()));
                    changes.push(ResourceChange::decided(
                        resource,
                        action,
                        &provider,
                        live.clone(),
                    ));
                }
                Ok(Decided::Wait(wait)) => {
                    outcome.requeue_after =
                        Some(outcome.requeue_after.map_or(wait, |w| w.min(wait)));
                }
                Ok(Decided::Nothing) => {}
                Err(e) => errors.push(format!("{}: {e}", resource.key)),
            }
            if live.is_none() || !item.ready {
                waiting.push(item.name.clone());
            }
        }

        // The composed resources to create or update go through core's one executor (ordering,
        // dependencies, parallelism); the controller requeues instead of retrying.
        if !changes.is_empty() {
            let plan = Plan {
                stack: stack.clone(),
                changes,
                violations: Vec::new(),
            };
            let report = executor::execute(
                &plan,
                &self.config.registry,
                self.config.executor.clone(),
                Arc::new(NoRecorder),
                Arc::new(|_: Event| {}),
                Cancellation::never(),
            )
            .await;
            for change in &plan.changes {
                if report.succeeded.contains(&change.key) {
                    outcome.applied.push(change.key.clone());
                    if healing.contains(&change.key)
                        && let Ok(mut counts) = self.heal_attempts.lock()
                    {
                        *counts.entry(change.key.clone()).or_insert(0) += 1;
                    }
                }
            }
            errors.extend(
                report
                    .failed
                    .iter()
                    .chain(&report.skipped)
                    .map(|(key, error)| format!("{key}: {error}")),
            );
        }

        // Composed resources the composition no longer renders are deleted, as Crossplane's
        // garbage collection does; a stale reference whose deletion failed is kept to retry.
        for stale in stale_refs(&composite, &refs) {
            match self.prune(&stale, &stack).await {
                Ok(Some(key)) => outcome.deleted.push(key),
                Ok(None) => {}
                Err(e) => {
                    errors.push(format!("pruning {}: {e}", stale.key));
                    refs.push(resource_ref(&stale.manifest));
                }
            }
        }

        // Connection secret.
        if let Some(secret_ref) = object
            .pointer("/spec/writeConnectionSecretToRef")
            .filter(|r| r.is_object())
            && !rendered.output.composite_connection_details.is_empty()
            && let Err(e) = self
                .write_connection_secret(
                    secret_ref,
                    object,
                    &rendered.output.composite_connection_details,
                )
                .await
        {
            errors.push(e.to_string());
        }

        let ready = waiting.is_empty() && rendered.output.composite_ready && errors.is_empty();
        outcome.ready = ready;
        let now = now_rfc3339();
        let ready_condition = if ready {
            Condition::available()
        } else if errors.is_empty() {
            Condition::creating(format!(
                "waiting for composed resources: {}",
                waiting.join(", ")
            ))
        } else {
            Condition::creating("composed resources failed to apply")
        };
        let synced = if errors.is_empty() {
            let message = if outcome.drift_reported.is_empty() {
                String::new()
            } else {
                format!(
                    "drift detected (not healed by policy): {}",
                    outcome
                        .drift_reported
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            Condition::reconcile_success(message)
        } else {
            Condition::reconcile_error(errors.join("; "))
        };
        // The references go to the composite's spec, where Crossplane keeps them; written
        // only when they change, since a spec write is a new generation.
        let composite_name = meta(&composite, "name").unwrap_or(&name).to_owned();
        let composite_api = self.api(&binding.composite, meta(&composite, "namespace"));
        let refs = Value::Array(refs);
        if composite.pointer(RESOURCE_REFS) != Some(&refs) {
            composite_api
                .patch(
                    &composite_name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"resourceRefs": refs}})),
                )
                .await
                .map_err(api_error(format!(
                    "writing the resource references of {}",
                    describe(&composite)
                )))?;
        }
        let status = rendered
            .output
            .composite
            .get("status")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let conditions = |previous: &Value| {
            json!([
                ready_condition.to_json(previous, &now),
                synced.to_json(previous, &now)
            ])
        };
        let mut composite_status = status.clone();
        composite_status.insert("conditions".into(), conditions(&composite));
        composite_api
            .patch_status(
                &composite_name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": composite_status})),
            )
            .await
            .map_err(api_error(format!(
                "writing the status of {}",
                describe(&composite)
            )))?;
        if is_claim {
            let mut claim_status = status;
            claim_status.insert("conditions".into(), conditions(object));
            api.patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": claim_status})),
            )
            .await
            .map_err(api_error(format!(
                "writing the status of {}",
                describe(object)
            )))?;
        }
        if outcome.requeue_after.is_none() {
            outcome.requeue_after = Some(if ready && errors.is_empty() {
                self.config.resync_interval
            } else {
                self.config.poll_interval
            });
        }
        Ok(outcome)
    }

    /// What one composed resource needs: created when absent, updated when Git changed it
    /// (its desired hash differs), healed or reported or left as the drift policy says.
    fn decide(
        &self,
        resource: &Resource,
        live: Option<&Value>,
        hash: &str,
        outcome: &mut ReconcileOutcome,
    ) -> Result<Decided, ControllerError> {
        let Some(live) = live else {
            return Ok(Decided::Apply(Action::Create, false));
        };
        if annotation(live, ANNOTATION_DESIRED_HASH) != Some(hash) {
            // The desired state changed (Git): always applied.
            return Ok(Decided::Apply(Action::Update, false));
        }
        let drift = self.config.drift.diff(
            Some(&resource.manifest),
            Some(&resource.manifest),
            Some(live),
        );
        let drifted = drift.is_drifted();
        let attempts = {
            let mut counts = self.heal_attempts.lock().map_err(|_| {
                ControllerError::Provider(strata_core::ProviderError::final_error(
                    "self-heal counter poisoned",
                ))
            })?;
            if !drifted {
                counts.remove(&resource.key);
            }
            counts.get(&resource.key).copied().unwrap_or(0)
        };
        Ok(
            match self
                .config
                .drift
                .policy()
                .decide(drift.policy, drifted, attempts, None)
            {
                Decision::Nothing => Decided::Nothing,
                Decision::Report => {
                    outcome.drift_reported.push(resource.key.clone());
                    Decided::Nothing
                }
                Decision::HealNow => Decided::Apply(Action::Update, true),
                Decision::HealAfter { wait } => Decided::Wait(wait),
            },
        )
    }

    /// Deletes a composed resource that is no longer rendered, when it is still there and
    /// carries this composite's ownership labels (anything else is left alone). Returns its key
    /// when a delete was sent.
    async fn prune(
        &self,
        stale: &Resource,
        stack: &str,
    ) -> Result<Option<ResourceKey>, ControllerError> {
        let provider = self.provider_for(stale)?;
        let Some(live) = provider.observe(stale).await?.live else {
            return Ok(None);
        };
        match strata_core::ownership::manager_of(&live.value(), stack) {
            strata_core::ownership::Manager::ThisStack => {
                provider.delete(stale).await?;
                Ok(Some(stale.key.clone()))
            }
            other => {
                tracing::info!(resource = %stale.key, manager = %other, "no longer composed but not owned by this composite: left alone");
                Ok(None)
            }
        }
    }

    async fn write_connection_secret(
        &self,
        secret_ref: &Value,
        object: &Value,
        details: &BTreeMap<String, String>,
    ) -> Result<(), ControllerError> {
        let name = secret_ref
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let namespace = secret_ref
            .get("namespace")
            .and_then(Value::as_str)
            .or_else(|| meta(object, "namespace"))
            .unwrap_or(self.client.default_namespace());
        let data: Map<String, Value> = details
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    Value::String(base64::engine::general_purpose::STANDARD.encode(v)),
                )
            })
            .collect();
        let secret = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace,
                "labels": {strata_core::model::LABEL_MANAGED_BY: strata_core::model::MANAGED_BY_STRATA}},
            "type": "connection.crossplane.io/v1alpha1", "data": data});
        self.secrets(namespace)
            .patch(
                name,
                &PatchParams::apply(&self.config.field_manager).force(),
                &Patch::Apply(&secret),
            )
            .await
            .map_err(api_error(format!(
                "writing connection secret {namespace}/{name}"
            )))?;
        Ok(())
    }

    fn secrets(&self, namespace: &str) -> Api<DynamicObject> {
        self.api(
            &ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("", "v1", "Secret"),
                "secrets",
            ),
            Some(namespace),
        )
    }

    /// Deletion: composed resources, the claim's composite and the connection secret go first;
    /// the finalizer is removed once the composed resources are gone.
    async fn finalize(
        &self,
        binding: &XrdBinding,
        is_claim: bool,
        object: &Value,
        api: &Api<DynamicObject>,
        name: &str,
    ) -> Result<ReconcileOutcome, ControllerError> {
        let mut outcome = ReconcileOutcome::default();
        let held = finalizers(object);
        if !held.iter().any(|f| f == FINALIZER) {
            return Ok(outcome);
        }
        // A claim's composed resources are listed by its composite.
        let composite_api = self.api(&binding.composite, None);
        let composed = if is_claim {
            let composite_name = composite_name_of(object);
            match composite_api.get_opt(composite_name).await {
                Ok(Some(composite)) => listed_refs(&to_value(&composite)?),
                Ok(None) => Vec::new(),
                Err(e) => {
                    return Err(api_error(format!(
                        "reading the composite of {}",
                        describe(object)
                    ))(e));
                }
            }
        } else {
            listed_refs(object)
        };
        for resource in &composed {
            self.provider_for(resource)?.delete(resource).await?;
            outcome.deleted.push(resource.key.clone());
        }
        if is_claim {
            match composite_api
                .delete(composite_name_of(object), &DeleteParams::background())
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    return Err(api_error(format!(
                        "deleting the composite of {}",
                        describe(object)
                    ))(e));
                }
            }
        }
        if let Some(secret) = object
            .pointer("/spec/writeConnectionSecretToRef/name")
            .and_then(Value::as_str)
        {
            let namespace = object
                .pointer("/spec/writeConnectionSecretToRef/namespace")
                .and_then(Value::as_str)
                .or_else(|| meta(object, "namespace"))
                .unwrap_or(self.client.default_namespace());
            match self
                .secrets(namespace)
                .delete(secret, &DeleteParams::default())
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    return Err(api_error(format!(
                        "deleting connection secret {namespace}/{secret}"
                    ))(e));
                }
            }
        }
        let mut remaining = Vec::new();
        for resource in &composed {
            if self
                .provider_for(resource)?
                .observe(resource)
                .await?
                .live
                .is_some()
            {
                remaining.push(resource.key.to_string());
            }
        }
        if !remaining.is_empty() {
            outcome.requeue_after = Some(self.config.poll_interval);
            return Ok(outcome);
        }
        crate::finalizers::update_finalizers(api, name, Some(object), |held| {
            let before = held.len();
            held.retain(|f| f != FINALIZER);
            held.len() != before
        })
        .await
        .map_err(api_error(format!(
            "removing the finalizer of {}",
            describe(object)
        )))?;
        outcome.released = true;
        Ok(outcome)
    }
}

fn meta_label<'a>(object: &'a Value, label: &str) -> Option<&'a str> {
    object.get("metadata")?.get("labels")?.get(label)?.as_str()
}
