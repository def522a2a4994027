//! The S3 state backend: a [`StateStore`] keeping a stack's state in one S3 object.
//!
//! - Saves are compare-and-swap twice over: the writer's serial and lineage must match the
//!   stored state, and the object is written with `If-Match` on the ETag that was read (or
//!   `If-None-Match: *` when there is none yet), so a writer that raced in between makes the
//!   write fail with 412 instead of being overwritten.
//! - The operation lock is the object `<key>.lock`, created with `If-None-Match: *` and holding
//!   the lock info (Terraform's JSON keys). Unlock deletes it with `If-Match` on its ETag after
//!   checking the id, so a lock taken over in between is never deleted.
//! - Optional expiry: with [`S3StateStore::with_lock_ttl`], a lock whose object was not
//!   refreshed within the TTL is taken over (again with `If-Match`, so only one taker wins);
//!   holders keep theirs alive with [`S3StateStore::refresh_lock`] or
//!   [`S3StateStore::spawn_heartbeat`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use strata_core::state::{KeptVersion, LockInfo, State, StateError, StateStore};

use crate::config::{AwsSettings, LazyClients};
use crate::error::{AwsErrorKind, classify};

/// State in `s3://bucket/key`, lock in `s3://bucket/key.lock`.
#[derive(Debug, Clone)]
pub struct S3StateStore {
    source: ClientSource,
    bucket: String,
    key: String,
    lock_ttl: Option<Duration>,
}

/// Where the S3 client comes from.
#[derive(Debug, Clone)]
enum ClientSource {
    Client(Client),
    Lazy(LazyClients),
}

/// An object read from S3 with its ETag and age.
struct Versioned {
    body: Vec<u8>,
    etag: String,
    modified: Option<SystemTime>,
}

/// Splits `s3://bucket/key` into bucket and key.
pub fn parse_url(url: &str) -> Result<(String, String), StateError> {
    let bad = |why: &str| {
        StateError::io_message(
            url,
            format!("not an S3 state location ({why}); expected s3://bucket/key"),
        )
    };
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| bad("no s3:// prefix"))?;
    let (bucket, key) = rest.split_once('/').ok_or_else(|| bad("no key"))?;
    if bucket.is_empty() || key.is_empty() || key.ends_with('/') {
        return Err(bad("empty bucket or key"));
    }
    Ok((bucket.to_owned(), key.to_owned()))
}

impl S3StateStore {
    /// A store for `bucket`/`key` through `client`.
    pub fn new(client: Client, bucket: impl Into<String>, key: impl Into<String>) -> Self {
        Self::with_source(ClientSource::Client(client), bucket, key)
    }

    fn with_source(
        source: ClientSource,
        bucket: impl Into<String>,
        key: impl Into<String>,
    ) -> Self {
        Self {
            source,
            bucket: bucket.into(),
            key: key.into(),
            lock_ttl: None,
        }
    }

    /// A store for `s3://bucket/key`, with clients from the standard AWS configuration plus
    /// `settings`.
    pub async fn from_url(url: &str, settings: &AwsSettings) -> Result<Self, StateError> {
        let (bucket, key) = parse_url(url)?;
        Ok(Self::new(settings.load().await.s3(None), bucket, key))
    }

    /// Like [`S3StateStore::from_url`], loading the configuration at the first request.
    pub fn lazy(url: &str, settings: AwsSettings) -> Result<Self, StateError> {
        let (bucket, key) = parse_url(url)?;
        Ok(Self::with_source(
            ClientSource::Lazy(LazyClients::new(settings)),
            bucket,
            key,
        ))
    }

    async fn client(&self) -> Client {
        match &self.source {
            ClientSource::Client(c) => c.clone(),
            ClientSource::Lazy(l) => l.get().await.s3(None),
        }
    }

    /// Locks not refreshed within `ttl` count as abandoned and may be taken over.
    pub fn with_lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = Some(ttl);
        self
    }

    /// The lock object's key.
    pub fn lock_key(&self) -> String {
        format!("{}.lock", self.key)
    }

    /// Reading or writing the state failed with `source` (S3's error, a body that could not
    /// be read, a state that could not be serialised).
    fn io<E>(&self, source: E) -> StateError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        StateError::io(self.location(), source)
    }

    /// Reading or writing the state failed for a reason this store detected.
    fn refused(&self, message: impl Into<String>) -> StateError {
        StateError::io_message(self.location(), message)
    }

    async fn get(&self, key: &str) -> Result<Option<Versioned>, StateError> {
        let out = match self
            .client()
            .await
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let e = classify("GetObject", e);
                return if e.code.as_deref() == Some("NoSuchKey")
                    || (e.kind == AwsErrorKind::NotFound
                        && e.code.as_deref() != Some("NoSuchBucket"))
                {
                    Ok(None)
                } else {
                    Err(self.io(e))
                };
            }
        };
        let etag = out.e_tag().unwrap_or_default().to_owned();
        let modified = out
            .last_modified()
            .and_then(|d| SystemTime::try_from(*d).ok());
        let body = out
            .body
            .collect()
            .await
            .map_err(|source| {
                StateError::io_while(self.location(), format!("reading {key}"), source)
            })?
            .into_bytes()
            .to_vec();
        Ok(Some(Versioned {
            body,
            etag,
            modified,
        }))
    }

    /// Writes `body` to `key` if its ETag is still `etag` (`None`: only if absent). Returns the
    /// new ETag, or `Ok(None)` when the precondition failed.
    async fn put_if(
        &self,
        key: &str,
        body: Vec<u8>,
        etag: Option<&str>,
    ) -> Result<Option<String>, StateError> {
        let mut request = self
            .client()
            .await
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body));
        request = match etag {
            Some(etag) => request.if_match(etag),
            None => request.if_none_match("*"),
        };
        match request.send().await {
            Ok(out) => Ok(Some(out.e_tag().unwrap_or_default().to_owned())),
            Err(e) => {
                let e = classify("PutObject", e);
                // S3 answers 409 ConditionalRequestConflict when two conditional writes race.
                if e.kind == AwsErrorKind::PreconditionFailed
                    || e.code.as_deref() == Some("ConditionalRequestConflict")
                {
                    Ok(None)
                } else {
                    Err(self.io(e))
                }
            }
        }
    }

    fn parse_state(&self, body: &[u8]) -> Result<State, StateError> {
        serde_json::from_slice(body).map_err(|e| StateError::Malformed {
            location: self.location(),
            source: e,
        })
    }

    fn parse_lock(&self, body: &[u8]) -> Result<LockInfo, StateError> {
        serde_json::from_slice(body).map_err(|e| StateError::Malformed {
            location: format!("s3://{}/{}", self.bucket, self.lock_key()),
            source: e,
        })
    }

    /// Loads the state with the ETag it was read at.
    pub async fn load_versioned(&self) -> Result<Option<(State, String)>, StateError> {
        match self.get(&self.key).await? {
            Some(v) => Ok(Some((self.parse_state(&v.body)?, v.etag))),
            None => Ok(None),
        }
    }

    /// Saves `state` only if the stored object still has ETag `etag` (`None`: only if there is
    /// no state yet) and the serial and lineage rules hold; bumps `state.serial` and returns the
    /// new ETag.
    pub async fn save_if_match(
        &self,
        state: &mut State,
        etag: Option<&str>,
    ) -> Result<String, StateError> {
        let mut next = state.clone();
        next.serial = state.serial + 1;
        let body = serde_json::to_vec_pretty(&next).map_err(|e| self.io(e))?;
        match self.put_if(&self.key, body, etag).await? {
            Some(new_etag) => {
                state.serial = next.serial;
                Ok(new_etag)
            }
            None => {
                let found = self.load_versioned().await?;
                Err(self.conflict(state, found.as_ref().map(|(s, _)| s)))
            }
        }
    }

    /// The error for a write that lost against `found`.
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

    /// Re-writes the lock held under `id`, so it does not expire (see
    /// [`S3StateStore::with_lock_ttl`]).
    pub async fn refresh_lock(&self, id: &str) -> Result<(), StateError> {
        let Some(current) = self.get(&self.lock_key()).await? else {
            return Err(StateError::NotLocked {
                location: self.location(),
            });
        };
        let held = self.parse_lock(&current.body)?;
        if held.id != id {
            return Err(StateError::LockIdMismatch {
                location: self.location(),
                held: held.id,
                given: id.to_owned(),
            });
        }
        match self
            .put_if(&self.lock_key(), current.body, Some(&current.etag))
            .await?
        {
            Some(_) => Ok(()),
            None => Err(self.refused("the lock changed while it was being refreshed")),
        }
    }

    /// Refreshes the lock `id` every `every` until the returned handle is aborted or the lock is
    /// lost.
    pub fn spawn_heartbeat(
        self: Arc<Self>,
        id: String,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = self.refresh_lock(&id).await {
                    tracing::warn!(lock = %id, error = %e, "lock heartbeat stopped");
                    return;
                }
            }
        })
    }

    fn expired(&self, modified: Option<SystemTime>) -> bool {
        match (self.lock_ttl, modified) {
            (Some(ttl), Some(at)) => SystemTime::now()
                .duration_since(at)
                .is_ok_and(|age| age > ttl),
            _ => false,
        }
    }
}

#[async_trait]
impl StateStore for S3StateStore {
    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    async fn load(&self) -> Result<Option<State>, StateError> {
        Ok(self.load_versioned().await?.map(|(s, _)| s))
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
        let etag = stored.as_ref().map(|(_, e)| e.as_str());
        self.save_if_match(state, etag).await.map(|_| ())
    }

    async fn lock(&self, info: &LockInfo) -> Result<(), StateError> {
        let mut info = info.clone();
        info.path = format!("{}/{}", self.bucket, self.key);
        let body = serde_json::to_vec_pretty(&info).map_err(|e| self.io(e))?;
        for _ in 0..5 {
            if self
                .put_if(&self.lock_key(), body.clone(), None)
                .await?
                .is_some()
            {
                return Ok(());
            }
            let Some(current) = self.get(&self.lock_key()).await? else {
                // Released between our write and our read: try again.
                continue;
            };
            if self.expired(current.modified) {
                if self
                    .put_if(&self.lock_key(), body.clone(), Some(&current.etag))
                    .await?
                    .is_some()
                {
                    tracing::warn!(lock = %self.lock_key(), "took over an expired lock");
                    return Ok(());
                }
                continue;
            }
            return Err(StateError::Locked {
                location: self.location(),
                holder: Box::new(self.parse_lock(&current.body)?),
            });
        }
        Err(self.refused("the lock kept changing hands; try again"))
    }

    async fn unlock(&self, id: &str) -> Result<(), StateError> {
        let Some(current) = self.get(&self.lock_key()).await? else {
            return Err(StateError::NotLocked {
                location: self.location(),
            });
        };
        let held = self.parse_lock(&current.body)?;
        if held.id != id {
            return Err(StateError::LockIdMismatch {
                location: self.location(),
                held: held.id,
                given: id.to_owned(),
            });
        }
        match self
            .client()
            .await
            .delete_object()
            .bucket(&self.bucket)
            .key(self.lock_key())
            .if_match(&current.etag)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = classify("DeleteObject", e);
                if e.kind == AwsErrorKind::PreconditionFailed {
                    Err(self.refused("the lock changed hands while it was being released"))
                } else if e.is_not_found() {
                    Err(StateError::NotLocked {
                        location: self.location(),
                    })
                } else {
                    Err(self.io(e))
                }
            }
        }
    }

    async fn lock_info(&self) -> Result<Option<LockInfo>, StateError> {
        match self.get(&self.lock_key()).await? {
            Some(v) => Ok(Some(self.parse_lock(&v.body)?)),
            None => Ok(None),
        }
    }

    /// The state object's versions (the bucket must be versioned, as the platform's rules
    /// require), newest first, at most [`HISTORY_LIMIT`].
    async fn history(&self) -> Result<Vec<KeptVersion>, StateError> {
        self.require_versioning().await?;
        let client = self.client().await;
        let mut listed = Vec::new();
        let mut key_marker: Option<String> = None;
        let mut version_marker: Option<String> = None;
        loop {
            let out = client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(&self.key)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|source| self.io(classify("ListObjectVersions", source)))?;
            for version in out.versions() {
                if version.key() != Some(self.key.as_str()) {
                    continue;
                }
                if let Some(id) = version.version_id() {
                    let modified = version
                        .last_modified()
                        .and_then(|t| SystemTime::try_from(*t).ok());
                    listed.push((id.to_owned(), modified, version.is_latest() == Some(true)));
                }
            }
            if out.is_truncated() != Some(true) || listed.len() >= HISTORY_LIMIT {
                break;
            }
            key_marker = out.next_key_marker().map(str::to_owned);
            version_marker = out.next_version_id_marker().map(str::to_owned);
        }
        listed.truncate(HISTORY_LIMIT);
        let mut out = Vec::with_capacity(listed.len());
        for (id, modified, latest) in listed {
            let state = self.load_version(&id).await?;
            out.push(KeptVersion::of(&state, id, modified, latest));
        }
        out.sort_by_key(|v| std::cmp::Reverse(v.serial));
        Ok(out)
    }

    async fn load_version(&self, id: &str) -> Result<State, StateError> {
        let out = self
            .client()
            .await
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .version_id(id)
            .send()
            .await
            .map_err(|source| {
                let e = classify("GetObject", source);
                if e.kind == AwsErrorKind::NotFound || e.code.as_deref() == Some("NoSuchVersion") {
                    StateError::VersionNotKept {
                        location: self.location(),
                        version: id.to_owned(),
                    }
                } else {
                    self.io(e)
                }
            })?;
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| self.io(e))?
            .into_bytes();
        self.parse_state(&body)
    }
}

/// The most versions [`S3StateStore`] lists as history.
pub const HISTORY_LIMIT: usize = 100;

impl S3StateStore {
    /// Fails unless the bucket keeps object versions: without them, earlier states are lost
    /// on every write.
    async fn require_versioning(&self) -> Result<(), StateError> {
        let out = self
            .client()
            .await
            .get_bucket_versioning()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|source| self.io(classify("GetBucketVersioning", source)))?;
        if out.status() == Some(&aws_sdk_s3::types::BucketVersioningStatus::Enabled) {
            Ok(())
        } else {
            Err(self.refused(format!(
                "bucket {} does not have versioning enabled, so earlier states are not kept; enable it (the platform's rules require it for state buckets)",
                self.bucket
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_bucket_and_key() {
        assert_eq!(
            parse_url("s3://b/env/prod/state.json").unwrap(),
            ("b".to_owned(), "env/prod/state.json".to_owned())
        );
        assert!(parse_url("s3://b").is_err());
        assert!(parse_url("s3:///k").is_err());
        assert!(parse_url("/tmp/x").is_err());
    }
}
