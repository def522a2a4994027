//! The provider contract and the registry that routes each resource to one provider.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::live::LiveObject;
use crate::model::{Resource, ResourceKey};
use crate::references::ReferenceSource;

/// Whether an error may go away if the operation is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ErrorClass {
    /// Throttling, 5xx, timeouts: try again with backoff.
    Retryable,
    /// Validation errors and the like: trying again will not help.
    Final,
}

/// The underlying error a provider error was raised from (an SDK or API client error).
///
/// Shared rather than uniquely owned so that a [`ProviderError`] stays cheap to clone.
pub type ErrorCause = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// An error reported by a provider: its class, a message fit for plans and logs, and the
/// underlying cause when there is one (exposed through [`std::error::Error::source`]).
///
/// Two provider errors are equal when their class and message are; the cause is not compared.
#[derive(Debug, Clone)]
pub struct ProviderError {
    /// Retryable or final.
    pub class: ErrorClass,
    /// The provider's message (never containing secret values).
    pub message: String,
    /// The error this one was raised from, if any.
    pub source: Option<ErrorCause>,
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ProviderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|cause| cause as &(dyn std::error::Error + 'static))
    }
}

impl PartialEq for ProviderError {
    fn eq(&self, other: &Self) -> bool {
        self.class == other.class && self.message == other.message
    }
}

impl Eq for ProviderError {}

impl ProviderError {
    /// An error of `class` with `message` and no underlying cause.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
            source: None,
        }
    }

    /// A retryable error.
    pub fn retryable(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Retryable, message)
    }

    /// A final error.
    pub fn final_error(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Final, message)
    }

    /// A retryable error raised from `source`.
    pub fn retryable_from(
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self::retryable(message).with_source(source)
    }

    /// A final error raised from `source`.
    pub fn final_from(
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self::final_error(message).with_source(source)
    }

    /// The same error, recording `source` as its underlying cause.
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        self.source = Some(Arc::from(source.into()));
        self
    }

    /// Whether trying again may help.
    pub fn is_retryable(&self) -> bool {
        self.class == ErrorClass::Retryable
    }
}

/// Sensitive connection details (endpoint, port, username, password …), never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ConnectionDetails(pub BTreeMap<String, Vec<u8>>);

impl std::fmt::Debug for ConnectionDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, crate::sensitive::REDACTED)))
            .finish()
    }
}

/// What a provider saw when it looked for a resource.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    /// The live object, or `None` when it does not exist. Shared: a watch cache, the
    /// observations of a plan and the plan's changes hold one copy; held as compact text
    /// where the provider kept it so (see [`LiveObject`]).
    pub live: Option<LiveObject>,
    /// Connection details, when the resource has any.
    pub connection: ConnectionDetails,
}

impl Observation {
    /// An observation of a resource that does not exist.
    pub fn absent() -> Self {
        Self::default()
    }

    /// An observation of an existing live object.
    pub fn present(live: impl Into<LiveObject>) -> Self {
        Self {
            live: Some(live.into()),
            connection: ConnectionDetails::default(),
        }
    }
}

/// The outcome of a create or update.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    /// The live object after the change.
    pub live: Value,
    /// Non-sensitive outputs to keep in state (ids, ARNs, endpoints).
    pub outputs: Value,
    /// Connection details, returned to the caller and never stored in plaintext.
    pub connection: ConnectionDetails,
}

/// Health of a live object, as providers and adapters report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Health {
    /// Ready for use.
    Healthy,
    /// Still converging.
    Progressing,
    /// Failed or degraded.
    Degraded,
    /// Health cannot be told.
    Unknown,
}

/// A backend that can observe and change resources of some kinds.
///
/// Modeled on Crossplane's external client (observe / create / update / delete) and Terraform's
/// provider protocol (plan-time replace-forcing fields).
#[async_trait]
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// A short name shown in plans (`sandbox`, `aws`, `kubernetes`).
    fn name(&self) -> &str;

    /// Whether this provider serves resources of `apiVersion`/`kind`.
    fn serves(&self, api_version: &str, kind: &str) -> bool;

    /// Looks up the live object for `desired` (or for a resource about to be deleted).
    async fn observe(&self, desired: &Resource) -> Result<Observation, ProviderError>;

    /// Whether [`Provider::observe_many`] can read several resources at once: the planner
    /// then offers it the whole round of observations before observing one by one. The
    /// default is false.
    fn observes_many(&self) -> bool {
        false
    }

    /// Observes many resources at once where that costs less than one by one (one list per
    /// kind and namespace instead of a read per object), handing each observation to `found`
    /// with the index of its resource in `resources` as soon as it is read, at most once per
    /// index. The planner observes every resource it handed nothing for with
    /// [`Provider::observe`], so a provider may read only some of them, and a failure here (a
    /// list the credentials may not make, say) only leaves its resources to be read one by
    /// one. The default reads nothing.
    async fn observe_many(
        &self,
        _resources: &[&Resource],
        _found: &mut (dyn FnMut(usize, Observation) + Send),
    ) {
    }

    /// Creates the resource.
    async fn create(&self, desired: &Resource) -> Result<Applied, ProviderError>;

    /// Brings an existing resource up to date with `desired`.
    async fn update(&self, desired: &Resource, live: &Value) -> Result<Applied, ProviderError>;

    /// Deletes the resource. Deleting something already gone succeeds.
    async fn delete(&self, resource: &Resource) -> Result<(), ProviderError>;

    /// The kinds this provider serves, as `(group, kind)`, when it serves a known set: in a
    /// group where some provider declares kinds, any other kind is refused before planning
    /// (see [`crate::validate`]). The default declares nothing.
    fn declared_kinds(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// The schemas of the kinds this provider serves, checked before anything is planned
    /// (see [`crate::validate`]): what the provider would refuse, refused early, with field
    /// paths. The default declares none (its kinds are then checked by kind only).
    fn schemas(&self) -> Vec<crate::schema::KindSchema> {
        Vec::new()
    }

    /// Every live object this provider holds that carries the ownership labels (or tags) of
    /// `stack` (`app.kubernetes.io/managed-by: strata`, `strata.dev/stack: <stack>`), as
    /// manifests with `apiVersion`, `kind` and `metadata`. `kinds` are the `(apiVersion, kind)`
    /// pairs worth searching (those of the desired set and the state), for a provider that must
    /// list kind by kind; one that can list everything may search beyond them.
    ///
    /// `Ok(None)`, the default, says this provider cannot list what it holds: callers must
    /// report it as not searched rather than as holding nothing.
    async fn list_owned(
        &self,
        _stack: &str,
        _kinds: &[(String, String)],
    ) -> Result<Option<Vec<Value>>, ProviderError> {
        Ok(None)
    }

    /// Dotted field paths whose change forces replacement (delete and create).
    fn replace_fields(&self, _key: &ResourceKey) -> Vec<String> {
        Vec::new()
    }

    /// Dotted field paths, beyond the built-in rules, whose values are sensitive.
    fn sensitive_fields(&self, _key: &ResourceKey) -> Vec<String> {
        Vec::new()
    }

    /// Health of a live object.
    fn health(&self, _live: &Value) -> Health {
        Health::Healthy
    }

    /// Where the value of a reference to `target` (a resource this provider serves) comes
    /// from, for a referencing field called `value_field` (`bucket`, `dbSubnetGroupName`,
    /// `roleArn` …). The default is the target's external name; a provider may name a field of
    /// the target's live object instead (`status.atProvider.arn`). See [`crate::references`].
    fn reference_value(&self, _target: &ResourceKey, _value_field: &str) -> ReferenceSource {
        ReferenceSource::ExternalName
    }
}

/// No enabled provider serves a resource and the sandbox fallback is off.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "no provider serves {api_version} {kind} ({address}); enable a provider that serves it, or the sandbox (drop --no-sandbox, or `sandbox.enabled: false` in strata.yaml)"
)]
pub struct RoutingError {
    /// The unserved resource's address.
    pub address: String,
    /// Its apiVersion.
    pub api_version: String,
    /// Its kind.
    pub kind: String,
}

/// Routes each resource to exactly one provider: the first enabled provider serving its kind,
/// else the fallback (the sandbox) when one is set.
#[derive(Debug, Clone, Default)]
pub struct ProviderRegistry {
    providers: Vec<Arc<dyn Provider>>,
    fallback: Option<Arc<dyn Provider>>,
}

impl ProviderRegistry {
    /// An empty registry: nothing is served.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an enabled provider; earlier providers win.
    pub fn with_provider(mut self, provider: Arc<dyn Provider>) -> Self {
        self.providers.push(provider);
        self
    }

    /// Sets the provider for everything no enabled provider serves.
    pub fn with_fallback(mut self, provider: Arc<dyn Provider>) -> Self {
        self.fallback = Some(provider);
        self
    }

    /// The provider for `resource`.
    pub fn route(&self, resource: &Resource) -> Result<Arc<dyn Provider>, RoutingError> {
        let api_version = resource.api_version();
        let kind = resource.key.kind.as_str();
        self.providers
            .iter()
            .find(|p| p.serves(api_version, kind))
            .or(self.fallback.as_ref())
            .cloned()
            .ok_or_else(|| RoutingError {
                address: resource.key.to_string(),
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
            })
    }

    /// Every kind the providers (and the fallback) declare.
    pub fn declared_kinds(&self) -> Vec<(String, String)> {
        self.providers
            .iter()
            .chain(self.fallback.iter())
            .flat_map(|p| p.declared_kinds())
            .collect()
    }

    /// The enabled providers, in routing order (the fallback excluded).
    pub fn enabled(&self) -> impl Iterator<Item = &Arc<dyn Provider>> {
        self.providers.iter()
    }

    /// The fallback, when one is set.
    pub fn fallback(&self) -> Option<&Arc<dyn Provider>> {
        self.fallback.as_ref()
    }

    /// Every provider: the enabled ones in order, then the fallback.
    pub fn providers(&self) -> impl Iterator<Item = &Arc<dyn Provider>> {
        self.providers.iter().chain(self.fallback.iter())
    }

    /// The provider called `name`, enabled or fallback.
    pub fn by_name(&self, name: &str) -> Option<Arc<dyn Provider>> {
        self.providers
            .iter()
            .chain(self.fallback.iter())
            .find(|p| p.name() == name)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[derive(Debug, thiserror::Error)]
    #[error("connection reset by peer")]
    struct Transport;

    #[test]
    fn the_cause_is_kept_and_exposed_as_source() {
        let error = ProviderError::retryable_from("reading bucket logs", Transport);
        assert!(error.is_retryable());
        assert_eq!(error.to_string(), "reading bucket logs");
        let cause = error.source().expect("a source");
        assert_eq!(cause.to_string(), "connection reset by peer");
        assert!(
            cause.downcast_ref::<Transport>().is_some(),
            "the cause itself"
        );
        assert!(error.clone().source().is_some(), "clones keep the cause");
    }

    #[test]
    fn plain_constructors_have_no_source_and_equality_ignores_it() {
        let plain = ProviderError::final_error("invalid engine");
        assert!(plain.source().is_none());
        assert_eq!(
            plain,
            ProviderError::final_from("invalid engine", Transport)
        );
        assert_ne!(plain, ProviderError::retryable("invalid engine"));
    }
}
