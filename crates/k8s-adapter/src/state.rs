//! A [`StateStore`] kept in a Kubernetes cluster, for controllers that run without durable disk
//! (Terraform's `kubernetes` backend, in Strata's rules).
//!
//! * The state lives in Secret `strata-state-<name>` (type [`SECRET_TYPE`], labelled
//!   `app.kubernetes.io/managed-by: strata` and `strata.dev/state: <name>`), under the data key
//!   [`STATE_KEY`] as gzip'd JSON, at most [`MAX_SECRET_SIZE`] bytes (the API server's limit).
//! * A save is a compare-and-swap twice over: the stored `serial` and `lineage` must be the ones
//!   the writer read (nothing stored: serial 0), and the write carries the Secret's
//!   `resourceVersion` as read (or creates it), so of two writers racing from the same state the
//!   API server lets exactly one win; the other gets [`StateError::StaleSerial`].
//! * The operation lock is a `coordination.k8s.io/v1` Lease `strata-lock-<name>` beside the
//!   Secret: taking it creates the Lease (holder identity: the lock id; the whole [`LockInfo`]
//!   in the annotation [`LOCK_INFO_ANNOTATION`]), and releasing it deletes it, only for the
//!   id that holds it and only if it did not change since it was read.
//!
//! Errors name the Secret or the Lease and the API server's status code and reason, never the
//! state's content: a state may hold values that must not be printed.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use async_trait::async_trait;
use k8s_openapi::ByteString;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams, Preconditions};
use strata_core::names::{dns_label_problem, dns_subdomain_problem, label_value_problem};
use strata_core::state::{LockInfo, State, StateError, StateStore};
use tokio::sync::OnceCell;

use crate::client::{ConnectError, ConnectOptions};

/// The `type` of the Secrets holding states.
pub const SECRET_TYPE: &str = "strata.dev/state";

/// The Secret's data key holding the gzip'd JSON state.
pub const STATE_KEY: &str = "state.json.gz";

/// The label naming the state a Secret or Lease belongs to.
pub const STATE_LABEL: &str = "strata.dev/state";

/// The annotation of the lock Lease holding the holder's [`LockInfo`] as JSON.
pub const LOCK_INFO_ANNOTATION: &str = "strata.dev/lock-info";

/// The largest Secret the API server accepts: its data (keys and values) in bytes.
pub const MAX_SECRET_SIZE: usize = 1024 * 1024;

/// The largest state read back (uncompressed JSON), so that a Secret that is not what it
/// claims cannot exhaust memory.
const MAX_STATE_JSON: u64 = 512 * 1024 * 1024;

/// The URL scheme of Kubernetes states: `kubernetes://<namespace>/<name>`.
pub const URL_SCHEME: &str = "kubernetes://";

/// Errors of the Kubernetes state store, before they become [`StateError`]s.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KubeStateError {
    /// The namespace is not a valid namespace name.
    #[error("`{namespace}` cannot be a namespace: {problem}")]
    InvalidNamespace {
        /// The namespace given.
        namespace: String,
        /// Why it is not valid.
        problem: String,
    },
    /// The state name cannot name the Secret and the Lease, or be their label's value.
    #[error(
        "`{name}` cannot name a Kubernetes state (it becomes a label value and part of the Secret's and the Lease's names): {problem}"
    )]
    InvalidName {
        /// The name given.
        name: String,
        /// Why it is not valid.
        problem: String,
    },
    /// A state URL that is not `kubernetes://<namespace>/<name>`.
    #[error("`{url}` is not a Kubernetes state URL (kubernetes://<namespace>/<name>)")]
    InvalidUrl {
        /// The URL given.
        url: String,
    },
    /// The cluster could not be reached or configured.
    #[error("connecting to the cluster")]
    Connect(#[source] Box<ConnectError>),
    /// The API server refused a request.
    #[error("{verb} {object}: the API server answered {code} {reason}{detail}")]
    Api {
        /// What was asked (`reading`, `updating` …).
        verb: &'static str,
        /// `Secret <namespace>/<name>` or `Lease <namespace>/<name>`.
        object: String,
        /// The HTTP status code.
        code: u16,
        /// The API server's reason (`Forbidden`, `Conflict` …).
        reason: String,
        /// The server's message (`: …`), for answers that cannot echo what was sent; empty
        /// otherwise.
        detail: String,
    },
    /// The request did not get an answer from the API server.
    #[error("{verb} {object}: {summary}")]
    Transport {
        /// What was asked.
        verb: &'static str,
        /// The object.
        object: String,
        /// What went wrong, without anything the request or the answer carried.
        summary: String,
        /// The client's error.
        #[source]
        source: Box<kube::Error>,
    },
    /// The gzip'd state does not fit in a Secret.
    #[error(
        "the state is {size} bytes gzip'd, more than the {limit} bytes Secret {object} can hold"
    )]
    TooLarge {
        /// The Secret.
        object: String,
        /// The size of the data it would hold.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A Secret of the state's name exists but is not a Strata state.
    #[error(
        "Secret {object} has type `{found}`, not `{SECRET_TYPE}`: it is not a Strata state; refusing to read or overwrite it"
    )]
    NotAState {
        /// The Secret.
        object: String,
        /// Its type.
        found: String,
    },
    /// The stored state or lock cannot be read.
    #[error("{object}: {problem}")]
    Undecodable {
        /// The Secret or Lease.
        object: String,
        /// Why, without quoting the content.
        problem: String,
    },
    /// Compressing or serialising the state failed.
    #[error("encoding the state for Secret {object}")]
    Encode {
        /// The Secret.
        object: String,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
}

impl KubeStateError {
    /// This error as core's [`StateError`], for the state at `location`.
    pub fn into_state_error(self, location: &str) -> StateError {
        match self {
            KubeStateError::Undecodable { .. } => StateError::Corrupt {
                location: location.to_owned(),
                message: self.to_string(),
            },
            other => StateError::Io {
                location: location.to_owned(),
                message: with_sources(&other),
                source: Some(Box::new(other)),
            },
        }
    }
}

/// `error` and its sources, `: `-separated.
fn with_sources(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        // A transport error's source is kube's, which is summarised already (and may carry
        // response content).
        if cause.downcast_ref::<kube::Error>().is_some()
            || cause.downcast_ref::<Box<kube::Error>>().is_some()
        {
            break;
        }
        // Some errors print their source in their own message already.
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Why `namespace` cannot hold a state, if it cannot.
pub fn namespace_problem(namespace: &str) -> Option<String> {
    if namespace.is_empty() {
        return Some("a namespace must not be empty".into());
    }
    dns_label_problem(namespace)
}

/// Why `name` cannot name a state (it is the `strata.dev/state` label's value and the suffix of
/// the Secret's and the Lease's names), if it cannot.
pub fn state_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("a state name must not be empty".into());
    }
    label_value_problem(name).or_else(|| dns_subdomain_problem(name))
}

/// Splits `kubernetes://<namespace>/<name>` into namespace and name, both checked.
pub fn parse_url(url: &str) -> Result<(String, String), KubeStateError> {
    let invalid = || KubeStateError::InvalidUrl {
        url: url.to_owned(),
    };
    let rest = url.strip_prefix(URL_SCHEME).ok_or_else(invalid)?;
    let (namespace, name) = rest.split_once('/').ok_or_else(invalid)?;
    check_names(namespace, name)?;
    Ok((namespace.to_owned(), name.to_owned()))
}

fn check_names(namespace: &str, name: &str) -> Result<(), KubeStateError> {
    if let Some(problem) = namespace_problem(namespace) {
        return Err(KubeStateError::InvalidNamespace {
            namespace: namespace.to_owned(),
            problem,
        });
    }
    if let Some(problem) = state_name_problem(name) {
        return Err(KubeStateError::InvalidName {
            name: name.to_owned(),
            problem,
        });
    }
    Ok(())
}

/// Where the client comes from: given, or connected on first use.
enum ClientSource {
    Ready(kube::Client),
    Lazy {
        options: ConnectOptions,
        client: OnceCell<kube::Client>,
    },
}

/// A stack's state kept in a Kubernetes Secret, locked by a Lease. See the module
/// documentation for the objects and the rules.
///
/// ```no_run
/// use strata_core::state::{LockInfo, State, StateStore};
/// use strata_k8s::state::KubeStateStore;
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let client = kube::Client::try_default().await?;
/// let store = KubeStateStore::new(client, "strata-system", "payments")?;
/// assert_eq!(store.location(), "kubernetes://strata-system/payments");
///
/// let lock = LockInfo::new("apply");
/// store.lock(&lock).await?;
/// let mut state = store.load().await?.unwrap_or_default();
/// state.stack = "payments".into();
/// store.save(&mut state).await?; // compare-and-swap; bumps state.serial
/// store.unlock(&lock.id).await?;
/// # Ok(())
/// # }
/// ```
pub struct KubeStateStore {
    client: ClientSource,
    namespace: String,
    name: String,
}

impl std::fmt::Debug for KubeStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeStateStore")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl KubeStateStore {
    /// The store of state `name` in `namespace`, through `client`. Fails when the names cannot
    /// make the Secret's and the Lease's names.
    pub fn new(
        client: kube::Client,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Result<Self, KubeStateError> {
        Self::with_source(ClientSource::Ready(client), namespace.into(), name.into())
    }

    /// The store of state `name` in `namespace`, connecting through `options` on first use
    /// (the same kubeconfig context the Kubernetes provider uses).
    pub fn lazy(
        options: ConnectOptions,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Result<Self, KubeStateError> {
        Self::with_source(
            ClientSource::Lazy {
                options,
                client: OnceCell::new(),
            },
            namespace.into(),
            name.into(),
        )
    }

    fn with_source(
        client: ClientSource,
        namespace: String,
        name: String,
    ) -> Result<Self, KubeStateError> {
        check_names(&namespace, &name)?;
        Ok(Self {
            client,
            namespace,
            name,
        })
    }

    /// The namespace holding the Secret and the Lease.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The state's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Secret holding the state: `strata-state-<name>`.
    pub fn secret_name(&self) -> String {
        format!("strata-state-{}", self.name)
    }

    /// The Lease holding the lock: `strata-lock-<name>`.
    pub fn lease_name(&self) -> String {
        format!("strata-lock-{}", self.name)
    }

    fn secret_object(&self) -> String {
        format!("Secret {}/{}", self.namespace, self.secret_name())
    }

    fn lease_object(&self) -> String {
        format!("Lease {}/{}", self.namespace, self.lease_name())
    }

    fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                "app.kubernetes.io/managed-by".to_owned(),
                "strata".to_owned(),
            ),
            (STATE_LABEL.to_owned(), self.name.clone()),
        ])
    }

    async fn client(&self) -> Result<kube::Client, KubeStateError> {
        match &self.client {
            ClientSource::Ready(client) => Ok(client.clone()),
            ClientSource::Lazy { options, client } => client
                .get_or_try_init(|| crate::client::connect(options))
                .await
                .cloned()
                .map_err(|e| KubeStateError::Connect(Box::new(e))),
        }
    }

    async fn secrets(&self) -> Result<Api<Secret>, StateError> {
        let client = self.client().await.map_err(|e| self.fail(e))?;
        Ok(Api::namespaced(client, &self.namespace))
    }

    async fn leases(&self) -> Result<Api<Lease>, StateError> {
        let client = self.client().await.map_err(|e| self.fail(e))?;
        Ok(Api::namespaced(client, &self.namespace))
    }

    fn fail(&self, error: KubeStateError) -> StateError {
        error.into_state_error(&self.location())
    }

    /// Loads the state with the Secret's `resourceVersion` it was read at (for
    /// [`KubeStateStore::save_at`]).
    pub async fn load_versioned(&self) -> Result<Option<(State, String)>, StateError> {
        let secret = self
            .secrets()
            .await?
            .get_opt(&self.secret_name())
            .await
            .map_err(|source| self.fail(api_error("reading", self.secret_object(), source)))?;
        let Some(secret) = secret else {
            return Ok(None);
        };
        let state = self.decode(&secret).map_err(|e| self.fail(e))?;
        let version = secret.metadata.resource_version.unwrap_or_default();
        Ok(Some((state, version)))
    }

    fn decode(&self, secret: &Secret) -> Result<State, KubeStateError> {
        let found = secret.type_.as_deref().unwrap_or("Opaque");
        if found != SECRET_TYPE {
            return Err(KubeStateError::NotAState {
                object: self.secret_object(),
                found: found.to_owned(),
            });
        }
        let undecodable = |problem: String| KubeStateError::Undecodable {
            object: self.secret_object(),
            problem,
        };
        let gzipped = secret
            .data
            .as_ref()
            .and_then(|data| data.get(STATE_KEY))
            .ok_or_else(|| undecodable(format!("the data key `{STATE_KEY}` is missing")))?;
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(gzipped.0.as_slice())
            .take(MAX_STATE_JSON + 1)
            .read_to_end(&mut json)
            .map_err(|e| undecodable(format!("`{STATE_KEY}` is not gzip data ({})", e.kind())))?;
        if json.len() as u64 > MAX_STATE_JSON {
            return Err(undecodable(format!(
                "`{STATE_KEY}` holds more than {MAX_STATE_JSON} bytes of JSON"
            )));
        }
        serde_json::from_slice(&json).map_err(|e| {
            // serde's message may quote the content: only where and what kind of fault.
            undecodable(format!(
                "`{STATE_KEY}` is not a valid state ({} error at line {} column {})",
                match e.classify() {
                    serde_json::error::Category::Io => "I/O",
                    serde_json::error::Category::Syntax => "JSON syntax",
                    serde_json::error::Category::Data => "state format",
                    serde_json::error::Category::Eof => "truncated JSON",
                },
                e.line(),
                e.column()
            ))
        })
    }

    /// The gzip'd JSON of `state`, checked against the Secret size limit.
    fn encode(&self, state: &State) -> Result<Vec<u8>, KubeStateError> {
        let encode_error = |source| KubeStateError::Encode {
            object: self.secret_object(),
            source,
        };
        let json = serde_json::to_vec(state).map_err(|e| encode_error(e.into()))?;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&json).map_err(encode_error)?;
        let gzipped = encoder.finish().map_err(encode_error)?;
        let size = gzipped.len() + STATE_KEY.len();
        if size > MAX_SECRET_SIZE {
            return Err(KubeStateError::TooLarge {
                object: self.secret_object(),
                size,
                limit: MAX_SECRET_SIZE,
            });
        }
        Ok(gzipped)
    }

    /// Writes `state` with its serial bumped, if the Secret is still at `resource_version`
    /// (`None`: only if there is no Secret yet); bumps `state.serial` on success. A Secret that
    /// changed since makes it [`StateError::StaleSerial`] (or [`StateError::ForeignLineage`]
    /// when the state now there is another history). The serial and lineage are not compared
    /// here: [`StateStore::save`] does, on the Secret it reads.
    pub async fn save_at(
        &self,
        state: &mut State,
        resource_version: Option<&str>,
    ) -> Result<(), StateError> {
        let mut next = state.clone();
        next.serial = state.serial + 1;
        let gzipped = self.encode(&next).map_err(|e| self.fail(e))?;
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(self.secret_name()),
                namespace: Some(self.namespace.clone()),
                labels: Some(self.labels()),
                resource_version: resource_version.map(str::to_owned),
                ..ObjectMeta::default()
            },
            type_: Some(SECRET_TYPE.to_owned()),
            data: Some(BTreeMap::from([(
                STATE_KEY.to_owned(),
                ByteString(gzipped),
            )])),
            ..Secret::default()
        };
        let secrets = self.secrets().await?;
        let written = match resource_version {
            Some(_) => secrets
                .replace(&self.secret_name(), &PostParams::default(), &secret)
                .await
                .map_err(|source| ("updating", source)),
            None => secrets
                .create(&PostParams::default(), &secret)
                .await
                .map_err(|source| ("creating", source)),
        };
        match written {
            Ok(_) => {
                tracing::debug!(
                    secret = %self.secret_object(),
                    serial = next.serial,
                    "state saved"
                );
                state.serial = next.serial;
                Ok(())
            }
            // Another writer got there first (409 Conflict on update, AlreadyExists on
            // create); a Secret deleted since it was read answers 404 to the update.
            Err((_, kube::Error::Api(status)))
                if status.code == 409 || (resource_version.is_some() && status.code == 404) =>
            {
                let found = self.load_versioned().await?;
                Err(self.conflict(state, found.as_ref().map(|(s, _)| s)))
            }
            Err((verb, e)) => Err(self.fail(api_error(verb, self.secret_object(), e))),
        }
    }

    /// The error for a write from `state` that lost against `found`.
    fn conflict(&self, state: &State, found: Option<&State>) -> StateError {
        match found {
            Some(current) if current.lineage != state.lineage => StateError::ForeignLineage {
                location: self.location(),
                expected: state.lineage.clone(),
                found: current.lineage.clone(),
            },
            Some(current) => StateError::StaleSerial {
                location: self.location(),
                expected: state.serial,
                found: current.serial,
            },
            None => StateError::StaleSerial {
                location: self.location(),
                expected: state.serial,
                found: 0,
            },
        }
    }

    async fn read_lease(&self) -> Result<Option<Lease>, StateError> {
        self.leases()
            .await?
            .get_opt(&self.lease_name())
            .await
            .map_err(|source| self.fail(api_error("reading", self.lease_object(), source)))
    }

    /// The holder a lock Lease names.
    fn holder_of(&self, lease: &Lease) -> Result<LockInfo, StateError> {
        let undecodable = |problem: String| {
            self.fail(KubeStateError::Undecodable {
                object: self.lease_object(),
                problem,
            })
        };
        let text = lease
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(LOCK_INFO_ANNOTATION))
            .ok_or_else(|| {
                undecodable(format!(
                    "the annotation `{LOCK_INFO_ANNOTATION}` naming the lock's holder is missing"
                ))
            })?;
        serde_json::from_str(text).map_err(|e| {
            undecodable(format!(
                "the annotation `{LOCK_INFO_ANNOTATION}` is not lock information (line {} column {})",
                e.line(),
                e.column()
            ))
        })
    }

    /// Deletes the lock Lease as it was read (same uid and resourceVersion).
    async fn delete_lease(&self, lease: &Lease) -> Result<(), StateError> {
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: lease.metadata.resource_version.clone(),
                uid: lease.metadata.uid.clone(),
            }),
            ..DeleteParams::default()
        };
        match self
            .leases()
            .await?
            .delete(&self.lease_name(), &params)
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                Err(self.fail(KubeStateError::Api {
                    verb: "deleting",
                    object: self.lease_object(),
                    code: status.code,
                    reason: status.reason.clone(),
                    detail: ": the lock changed hands while it was being released".into(),
                }))
            }
            Err(kube::Error::Api(status)) if status.code == 404 => Err(StateError::NotLocked {
                location: self.location(),
            }),
            Err(e) => Err(self.fail(api_error("deleting", self.lease_object(), e))),
        }
    }

    /// Releases the lock held under `id`; with `force`, also a lock whose holder cannot be read.
    async fn release(&self, id: &str, force: bool) -> Result<(), StateError> {
        let Some(lease) = self.read_lease().await? else {
            return Err(StateError::NotLocked {
                location: self.location(),
            });
        };
        match self.holder_of(&lease) {
            Ok(held) if held.id != id => Err(StateError::LockIdMismatch {
                location: self.location(),
                held: held.id,
                given: id.to_owned(),
            }),
            Ok(_) => self.delete_lease(&lease).await,
            // A lock whose holder cannot be read names no one to compare with.
            Err(StateError::Corrupt { .. }) if force => self.delete_lease(&lease).await,
            Err(e) => Err(e),
        }
    }
}

/// A kube error of `verb` on `object` as a [`KubeStateError`], keeping the status code and
/// reason but never what the request or the answer carried.
fn api_error(verb: &'static str, object: String, error: kube::Error) -> KubeStateError {
    match error {
        kube::Error::Api(status) => KubeStateError::Api {
            verb,
            object,
            code: status.code,
            // 400 and 422 answers may quote the object sent; others describe the request.
            detail: if matches!(status.code, 400 | 422) || status.message.is_empty() {
                String::new()
            } else {
                format!(": {}", status.message)
            },
            reason: status.reason,
        },
        other => {
            let summary = match &other {
                kube::Error::SerdeError(_) => "the API server's answer could not be read".into(),
                kube::Error::HyperError(e) => format!("no answer from the API server ({e})"),
                kube::Error::Service(e) => format!("no answer from the API server ({e})"),
                _ => "the request could not be made".into(),
            };
            KubeStateError::Transport {
                verb,
                object,
                summary,
                source: Box::new(withhold_content(other)),
            }
        }
    }
}

/// `error` without what the API server's answer carried: a decoding error quotes the content
/// it could not decode (a state's values), so it is replaced by one that keeps only its
/// category and position. Other errors are kept as they are.
fn withhold_content(error: kube::Error) -> kube::Error {
    match error {
        kube::Error::SerdeError(decoding) => {
            kube::Error::SerdeError(<serde_json::Error as serde::de::Error>::custom(format!(
                "{:?} error at line {} column {} (the answer's content is withheld)",
                decoding.classify(),
                decoding.line(),
                decoding.column()
            )))
        }
        other => other,
    }
}

#[async_trait]
impl StateStore for KubeStateStore {
    fn location(&self) -> String {
        format!("{URL_SCHEME}{}/{}", self.namespace, self.name)
    }

    async fn load(&self) -> Result<Option<State>, StateError> {
        Ok(self.load_versioned().await?.map(|(state, _)| state))
    }

    async fn save(&self, state: &mut State) -> Result<(), StateError> {
        let stored = self.load_versioned().await?;
        match &stored {
            Some((current, _))
                if current.lineage != state.lineage || current.serial != state.serial =>
            {
                return Err(self.conflict(state, Some(current)));
            }
            None if state.serial != 0 => return Err(self.conflict(state, None)),
            _ => {}
        }
        let version = stored.as_ref().map(|(_, version)| version.as_str());
        self.save_at(state, version).await
    }

    async fn lock(&self, info: &LockInfo) -> Result<(), StateError> {
        let mut info = info.clone();
        info.path = self.location();
        let annotation = serde_json::to_string(&info).map_err(|e| {
            self.fail(KubeStateError::Encode {
                object: self.lease_object(),
                source: e.into(),
            })
        })?;
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.lease_name()),
                namespace: Some(self.namespace.clone()),
                labels: Some(self.labels()),
                annotations: Some(BTreeMap::from([(
                    LOCK_INFO_ANNOTATION.to_owned(),
                    annotation,
                )])),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(info.id.clone()),
                acquire_time: Some(MicroTime(Timestamp::now())),
                ..LeaseSpec::default()
            }),
        };
        let leases = self.leases().await?;
        for _ in 0..5 {
            match leases.create(&PostParams::default(), &lease).await {
                Ok(_) => return Ok(()),
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    let Some(current) = self.read_lease().await? else {
                        // Released between our create and our read: try again.
                        continue;
                    };
                    return Err(StateError::Locked {
                        location: self.location(),
                        holder: Box::new(self.holder_of(&current)?),
                    });
                }
                Err(e) => return Err(self.fail(api_error("creating", self.lease_object(), e))),
            }
        }
        Err(self.fail(KubeStateError::Api {
            verb: "creating",
            object: self.lease_object(),
            code: 409,
            reason: "AlreadyExists".into(),
            detail: ": the lock kept changing hands; try again".into(),
        }))
    }

    async fn unlock(&self, id: &str) -> Result<(), StateError> {
        self.release(id, false).await
    }

    async fn force_unlock(&self, id: &str) -> Result<(), StateError> {
        self.release(id, true).await
    }

    async fn lock_info(&self) -> Result<Option<LockInfo>, StateError> {
        match self.read_lease().await? {
            Some(lease) => Ok(Some(self.holder_of(&lease)?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_namespace_and_name() {
        assert_eq!(
            parse_url("kubernetes://strata-system/payments").unwrap(),
            ("strata-system".to_owned(), "payments".to_owned())
        );
        for bad in [
            "kubernetes://strata-system",
            "kubernetes:///payments",
            "kubernetes://ns/",
            "kubernetes://Ns/payments",
            "kubernetes://ns/pay_ments",
            "kubernetes://ns/a/b",
            "s3://b/k",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_must_make_valid_object_names_and_label_values() {
        assert!(state_name_problem("payments.prod-1").is_none());
        assert!(state_name_problem("").is_some());
        assert!(state_name_problem("Payments").is_some());
        assert!(state_name_problem("pay_ments").is_some());
        assert!(state_name_problem(&"a".repeat(64)).is_some());
        assert!(state_name_problem("-payments").is_some());
        assert!(namespace_problem("strata.system").is_some());
        assert!(namespace_problem("").is_some());
    }

    #[test]
    fn api_errors_keep_code_and_reason_but_not_an_echo_of_the_request() {
        let status = kube::core::Status::failure("data[x]: Invalid value: \"hunter2\"", "Invalid")
            .with_code(422);
        let error = api_error(
            "updating",
            "Secret ns/strata-state-p".into(),
            kube::Error::Api(status.boxed()),
        );
        let text = error.into_state_error("kubernetes://ns/p").to_string();
        assert!(text.contains("Secret ns/strata-state-p"), "{text}");
        assert!(text.contains("422 Invalid"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn an_undecodable_answer_is_summarised_without_quoting_it() {
        let decoding = serde_json::from_str::<u64>("\"hunter2\"").unwrap_err();
        assert!(decoding.to_string().contains("hunter2"));
        let error = api_error(
            "reading",
            "Secret ns/strata-state-p".into(),
            kube::Error::SerdeError(decoding),
        );
        let error = error.into_state_error("kubernetes://ns/p");
        let text = error.to_string();
        assert!(text.contains("could not be read"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        // Nor does any of its causes, which stay reachable.
        let mut cause = std::error::Error::source(&error);
        let mut kube_error = None;
        while let Some(current) = cause {
            assert!(!current.to_string().contains("hunter2"), "{current}");
            assert!(!format!("{current:?}").contains("hunter2"), "{current:?}");
            if let Some(found) = current.downcast_ref::<Box<kube::Error>>() {
                kube_error = Some(&**found);
            }
            cause = current.source();
        }
        assert!(
            matches!(kube_error, Some(kube::Error::SerdeError(_))),
            "{kube_error:?}"
        );
    }

    #[test]
    fn a_state_error_keeps_the_kubernetes_error_as_its_source() {
        let status = kube::core::Status::failure("forbidden", "Forbidden").with_code(403);
        let error = api_error(
            "reading",
            "Secret ns/strata-state-p".into(),
            kube::Error::Api(status.boxed()),
        )
        .into_state_error("kubernetes://ns/p");
        assert!(matches!(error, StateError::Io { .. }), "{error:?}");
        let cause = std::error::Error::source(&error).expect("a source");
        assert!(
            matches!(
                cause.downcast_ref::<KubeStateError>(),
                Some(KubeStateError::Api { code: 403, .. })
            ),
            "{cause:?}"
        );
    }
}
