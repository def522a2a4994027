//! Leader election on a `coordination.k8s.io/v1` Lease, so that several replicas can run and
//! exactly one reconciles.
//!
//! A candidate holds the lease while it renews it within `lease_duration`; another candidate
//! takes it over only once it has expired. Updates carry the lease's `resourceVersion`, so of two
//! candidates racing for an expired lease the API server lets one win (the other gets 409).

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ObjectMeta, PostParams};

use crate::provider::errors::status_code;

/// Settings of a leader election.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaseConfig {
    /// The Lease's name.
    pub name: String,
    /// The Lease's namespace.
    pub namespace: String,
    /// This candidate's identity (pod name, hostname …).
    pub identity: String,
    /// How long a lease lasts without renewal.
    pub lease_duration: Duration,
    /// How often the leader renews (and candidates retry).
    pub renew_interval: Duration,
}

impl LeaseConfig {
    /// Lease `namespace/name` for candidate `identity`, lasting 15 s and renewed every 5 s
    /// (client-go's lease duration).
    pub fn new(
        name: impl Into<String>,
        namespace: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            namespace: namespace.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_interval: Duration::from_secs(5),
        }
    }

    /// Sets [`name`](Self::name).
    pub fn with_name(mut self, name: String) -> Self {
        self.name = name;
        self
    }

    /// Sets [`namespace`](Self::namespace).
    pub fn with_namespace(mut self, namespace: String) -> Self {
        self.namespace = namespace;
        self
    }

    /// Sets [`identity`](Self::identity).
    pub fn with_identity(mut self, identity: String) -> Self {
        self.identity = identity;
        self
    }

    /// Sets [`lease_duration`](Self::lease_duration).
    pub fn with_lease_duration(mut self, lease_duration: Duration) -> Self {
        self.lease_duration = lease_duration;
        self
    }

    /// Sets [`renew_interval`](Self::renew_interval).
    pub fn with_renew_interval(mut self, renew_interval: Duration) -> Self {
        self.renew_interval = renew_interval;
        self
    }
}

/// The outcome of one acquire attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseState {
    /// This candidate holds the lease.
    Leader,
    /// Someone else holds a valid lease.
    Follower {
        /// The holder.
        holder: String,
    },
}

/// A Lease-based lock.
#[derive(Clone)]
pub struct LeaseLock {
    api: Api<Lease>,
    config: LeaseConfig,
}

impl std::fmt::Debug for LeaseLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseLock")
            .field("config", &self.config)
            .finish()
    }
}

fn lease_seconds(duration: Duration) -> i32 {
    i32::try_from(duration.as_secs()).unwrap_or(i32::MAX).max(1)
}

/// Whether a lease held by someone has expired at `now`.
pub fn expired(spec: &LeaseSpec, now: Timestamp) -> bool {
    let Some(MicroTime(renewed)) = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) else {
        return true;
    };
    let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(15)));
    renewed
        .checked_add(duration)
        .map_or(true, |until| until < now)
}

impl LeaseLock {
    /// A lock over the Lease `config.name` in `config.namespace`.
    pub fn new(client: kube::Client, config: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
        }
    }

    fn spec(&self, now: Timestamp, acquired: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(lease_seconds(self.config.lease_duration)),
            acquire_time: Some(acquired.unwrap_or(MicroTime(now))),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// Tries once to become (or stay) the leader.
    pub async fn try_acquire(&self) -> Result<LeaseState, kube::Error> {
        let now = Timestamp::now();
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(now, None, 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(LeaseState::Leader),
                Err(e) if status_code(&e) == Some(409) => Ok(LeaseState::Follower {
                    holder: "another candidate".to_owned(),
                }),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let mine = holder == self.config.identity;
        if !mine && !holder.is_empty() && !expired(&spec, now) {
            return Ok(LeaseState::Follower { holder });
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!mine);
        let acquired = if mine {
            spec.acquire_time.clone()
        } else {
            None
        };
        lease.spec = Some(self.spec(now, acquired, transitions));
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(LeaseState::Leader),
            Err(e) if status_code(&e) == Some(409) => Ok(LeaseState::Follower { holder }),
            Err(e) => Err(e),
        }
    }

    /// Waits until this candidate leads, then runs `work` while renewing the lease; returns when
    /// `work` finishes, or with an error when leadership is lost (the work is dropped).
    pub async fn run_as_leader<F: Future<Output = ()>>(
        &self,
        work: F,
    ) -> Result<(), LeadershipLost> {
        loop {
            match self.try_acquire().await {
                Ok(LeaseState::Leader) => break,
                Ok(LeaseState::Follower { holder }) => {
                    tracing::debug!(%holder, "waiting for the lease");
                }
                Err(error) => tracing::warn!(%error, "acquiring the lease"),
            }
            tokio::time::sleep(self.config.renew_interval).await;
        }
        let renew = async {
            loop {
                tokio::time::sleep(self.config.renew_interval).await;
                match self.try_acquire().await {
                    Ok(LeaseState::Leader) => {}
                    Ok(LeaseState::Follower { holder }) => {
                        return LeadershipLost::taken_by(&holder);
                    }
                    Err(error) => return LeadershipLost::renewal_failed(error),
                }
            }
        };
        tokio::select! {
            () = work => Ok(()),
            lost = renew => Err(lost),
        }
    }
}

/// Leadership was lost while working.
///
/// Two of them are equal when their reasons are; the source is not compared.
#[derive(Debug, Clone, thiserror::Error)]
#[error("leadership lost: {reason}")]
#[non_exhaustive]
pub struct LeadershipLost {
    /// Why (`lease taken by <holder>`, `renewing the lease: <error>`).
    pub reason: String,
    /// The API server's error, when renewing the lease failed.
    #[source]
    pub source: Option<std::sync::Arc<kube::Error>>,
}

impl LeadershipLost {
    /// Another candidate, `holder`, took the lease.
    pub fn taken_by(holder: &str) -> Self {
        Self {
            reason: format!("lease taken by {holder}"),
            source: None,
        }
    }

    /// Renewing the lease failed with `error`.
    pub fn renewal_failed(error: kube::Error) -> Self {
        Self {
            reason: format!("renewing the lease: {error}"),
            source: Some(std::sync::Arc::new(error)),
        }
    }
}

impl PartialEq for LeadershipLost {
    fn eq(&self, other: &Self) -> bool {
        self.reason == other.reason
    }
}

impl Eq for LeadershipLost {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_renewal_keeps_the_api_error_as_its_source() {
        let status = kube::core::Status::failure("etcd is down", "InternalError").with_code(500);
        let lost = LeadershipLost::renewal_failed(kube::Error::Api(status.boxed()));
        assert!(
            lost.to_string()
                .starts_with("leadership lost: renewing the lease: "),
            "{lost}"
        );
        let cause = std::error::Error::source(&lost).expect("a source");
        let api = cause
            .downcast_ref::<std::sync::Arc<kube::Error>>()
            .map(|e| &**e)
            .or_else(|| cause.downcast_ref::<kube::Error>());
        assert!(
            matches!(api, Some(kube::Error::Api(status)) if status.code == 500),
            "{cause:?}"
        );
        assert!(std::error::Error::source(&LeadershipLost::taken_by("b")).is_none());
    }

    #[test]
    fn leases_expire_after_their_duration() {
        let renewed = Timestamp::from_second(1_000).expect("valid");
        let spec = LeaseSpec {
            holder_identity: Some("a".into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(renewed)),
            ..LeaseSpec::default()
        };
        assert!(!expired(
            &spec,
            Timestamp::from_second(1_010).expect("valid")
        ));
        assert!(expired(
            &spec,
            Timestamp::from_second(1_016).expect("valid")
        ));
        assert!(expired(&LeaseSpec::default(), renewed));
    }
}
