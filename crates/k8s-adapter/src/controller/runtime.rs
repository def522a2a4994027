//! Driving reconcilers from watches with kube-runtime's `Controller`, once the XRDs' CRDs are
//! installed.

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::Value;

use super::{ControllerError, Reconciler};

/// Every object of a kind (all namespaces) as it is applied, with kube's watcher: a LIST, then
/// a WATCH from its resource version; when the server says `410 Gone` (the version expired) the
/// watcher lists again. Errors are passed on; the stream goes on after them.
pub fn watch_objects(
    client: kube::Client,
    resource: &ApiResource,
) -> impl Stream<Item = Result<DynamicObject, watcher::Error>> + Send + use<> {
    let api: Api<DynamicObject> = Api::all_with(client, resource);
    watcher::watcher(api, watcher::Config::default()).applied_objects()
}

async fn reconcile(
    object: Arc<DynamicObject>,
    reconciler: Arc<Reconciler>,
) -> Result<Action, ControllerError> {
    let mut value = serde_json::to_value(object.as_ref()).map_err(ControllerError::Watched)?;
    if let (Some(types), Some(map)) = (&object.types, value.as_object_mut()) {
        map.entry("apiVersion")
            .or_insert_with(|| Value::String(types.api_version.clone()));
        map.entry("kind")
            .or_insert_with(|| Value::String(types.kind.clone()));
    }
    let outcome = reconciler.reconcile(&value).await?;
    Ok(match outcome.requeue_after {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    })
}

fn error_policy(
    _object: Arc<DynamicObject>,
    error: &ControllerError,
    reconciler: Arc<Reconciler>,
) -> Action {
    tracing::warn!(%error, "reconcile failed");
    Action::requeue(
        reconciler
            .config()
            .poll_interval
            .max(Duration::from_secs(1)),
    )
}

/// Installs the CRDs of the XRDs ([`super::crds::install_crds`]: applied, then waited for
/// until established and served), then runs one kube-runtime controller per watched kind (each
/// XRD's composite and claim kinds) until they all stop. Fails, before watching anything, when
/// a CRD cannot be installed.
pub async fn run(reconciler: Arc<Reconciler>) -> Result<(), ControllerError> {
    super::crds::install_crds(reconciler.client(), reconciler.config()).await?;
    watch(reconciler).await;
    Ok(())
}

/// Runs one kube-runtime controller per watched kind (each XRD's composite and claim kinds)
/// until they all stop; the kinds' CRDs must be served already (see [`run`]).
pub async fn watch(reconciler: Arc<Reconciler>) {
    let mut controllers = Vec::new();
    for binding in &reconciler.config().bindings {
        for resource in std::iter::once(&binding.composite).chain(binding.claim.iter()) {
            let api: Api<DynamicObject> = Api::all_with(reconciler.client().clone(), resource);
            let controller =
                Controller::new_with(api, watcher::Config::default(), resource.clone())
                    .run(reconcile, error_policy, Arc::clone(&reconciler))
                    .for_each(|result| async move {
                        match result {
                            Ok((object, _)) => tracing::debug!(name = %object.name, "reconciled"),
                            Err(error) => tracing::warn!(%error, "controller error"),
                        }
                    });
            controllers.push(controller);
        }
    }
    futures::future::join_all(controllers).await;
}
