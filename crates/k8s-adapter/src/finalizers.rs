//! Changing an object's `metadata.finalizers` without losing anyone else's change.
//!
//! A merge patch of the whole list replaces it: if another controller added its finalizer
//! between our read and our write, a plain patch would silently drop it. Each write here
//! carries the `resourceVersion` it was computed from, so the API server refuses it with
//! `409 Conflict` when the object changed in between; the object is then read again, the
//! change applied to what it holds now, and the write tried again (as controller-runtime's
//! `RetryOnConflict` does).

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

/// How many times a write that lost a race is tried again before the conflict is returned.
pub const CONFLICT_ATTEMPTS: usize = 5;

/// What [`update_finalizers`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FinalizersUpdate {
    /// The list was written.
    Written,
    /// The change left the list as it was; nothing was written.
    Unchanged,
    /// The object no longer exists.
    Gone,
}

/// The finalizers and resource version of an object as JSON.
fn read(object: &Value) -> (Vec<String>, Option<String>) {
    let finalizers = object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let version = object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_owned);
    (finalizers, version)
}

/// Applies `change` to the finalizers of the object `name` and writes the result, on the
/// condition that the object is still at the resource version the change was computed from.
/// `known` is the object as the caller last read it (saves a GET; `None` reads it first).
/// A `409 Conflict` reads the object again and tries again, up to [`CONFLICT_ATTEMPTS`]
/// writes; `change` returns whether it changed the list (nothing is written otherwise).
///
/// # Errors
/// The API server's error (the last `409` when every attempt lost a race).
pub async fn update_finalizers(
    api: &Api<DynamicObject>,
    name: &str,
    known: Option<&Value>,
    change: impl Fn(&mut Vec<String>) -> bool,
) -> Result<FinalizersUpdate, kube::Error> {
    let mut current = known.map(read);
    let mut attempt = 0;
    loop {
        let (mut finalizers, version) = match current.take() {
            Some(found) => found,
            None => match api.get_opt(name).await? {
                Some(object) => {
                    read(&serde_json::to_value(&object).map_err(kube::Error::SerdeError)?)
                }
                None => return Ok(FinalizersUpdate::Gone),
            },
        };
        if !change(&mut finalizers) {
            return Ok(FinalizersUpdate::Unchanged);
        }
        let mut metadata = json!({"finalizers": finalizers});
        if let Some(version) = version {
            metadata["resourceVersion"] = Value::String(version);
        }
        attempt += 1;
        match api
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": metadata})),
            )
            .await
        {
            Ok(_) => return Ok(FinalizersUpdate::Written),
            Err(kube::Error::Api(status)) if status.code == 409 && attempt < CONFLICT_ATTEMPTS => {
                tracing::debug!(
                    object = name,
                    attempt,
                    "finalizers changed meanwhile; reading again"
                );
            }
            Err(kube::Error::Api(status)) if status.code == 404 => {
                return Ok(FinalizersUpdate::Gone);
            }
            Err(error) => return Err(error),
        }
    }
}
