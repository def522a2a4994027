//! Observing many objects of one kind and namespace with one paginated `LIST` instead of a
//! `GET` per object (see [`strata_core::Provider::observe_many`]).
//!
//! A plan of a large stack observes thousands of objects, most of them a few kinds in a few
//! namespaces. One `GET` each costs a round trip per object; a list of the namespace returns
//! 500 of them per round trip (kubectl's chunk size) from the same consistent read. Against the
//! test API server on loopback, 3 000 ConfigMaps took 0.9 s as `GET`s 32 at a time and 0.13 s as
//! one paginated list; against a remote cluster the round trips weigh more.
//!
//! The list is worth it only when the desired objects are much of what it returns, so:
//! - kinds and namespaces with fewer than [`LIST_AT_LEAST`] desired objects are left to `GET`;
//! - a list stops (leaving the objects it has not met to `GET`) once it has read more than
//!   [`LIST_OVERREAD`] times the desired objects of its group plus a page, or once the server
//!   says that much remains;
//! - a list the credentials may not make, or any other failure, leaves its objects to `GET`.
//!
//! An object the complete list does not hold is absent, as a `GET` would find it; an object it
//! holds is observed as a `GET` returns it (list items carry no `apiVersion` and `kind`, so the
//! list's are given to them).

use std::collections::HashMap;

use kube::api::{Api, DynamicObject, ListParams, TypeMeta};
use strata_core::{Observation, Resource};

use super::{KubeProvider, to_value};

/// Desired objects of one kind and namespace from which a list is made.
pub const LIST_AT_LEAST: usize = 16;

/// Objects per page of a list (kubectl's `--chunk-size` default).
pub const PAGE: u32 = 500;

/// How many times the group's desired objects (plus one page) a list may read before it stops.
pub const LIST_OVERREAD: usize = 4;

impl KubeProvider {
    /// [`strata_core::Provider::observe_many`]: one paginated list per kind and namespace with
    /// at least [`LIST_AT_LEAST`] of `resources`.
    pub(super) async fn observe_listed(
        &self,
        resources: &[&Resource],
        found: &mut (dyn FnMut(usize, Observation) + Send),
    ) {
        let mut groups: HashMap<(&str, &str, Option<&str>), Vec<usize>> = HashMap::new();
        for (index, resource) in resources.iter().enumerate() {
            groups
                .entry((
                    resource.api_version(),
                    resource.key.kind.as_str(),
                    resource.key.namespace.as_deref(),
                ))
                .or_default()
                .push(index);
        }
        let mut groups: Vec<_> = groups.into_iter().collect();
        // The order of the lists does not matter to the result; a fixed one keeps runs alike.
        groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for ((api_version, kind, _), members) in groups {
            if members.len() < LIST_AT_LEAST {
                continue;
            }
            match self.resolve_if_served(api_version, kind).await {
                // No object of a kind the cluster does not serve can exist.
                Ok(None) => {
                    for index in members {
                        found(index, Observation::absent());
                    }
                    continue;
                }
                Ok(Some(_)) => {}
                Err(error) => {
                    tracing::debug!(%error, api_version, kind, "not listing; observing one by one");
                    continue;
                }
            }
            let Ok((api, target)) = self.api_for(resources[members[0]]).await else {
                continue;
            };
            let by_name: HashMap<&str, usize> = members
                .iter()
                .map(|&index| (resources[index].key.name.as_str(), index))
                .collect();
            list_group(&api, api_version, kind, &target, by_name, found).await;
        }
    }
}

/// Lists one kind in one namespace page by page, handing over the objects of `wanted` (by
/// name) as they come, and, when the list is read to its end, the ones it lacks as absent.
async fn list_group(
    api: &Api<DynamicObject>,
    api_version: &str,
    kind: &str,
    target: &str,
    mut wanted: HashMap<&str, usize>,
    found: &mut (dyn FnMut(usize, Observation) + Send),
) {
    let budget = LIST_OVERREAD * wanted.len() + PAGE as usize;
    let mut read = 0usize;
    let mut token: Option<String> = None;
    loop {
        let mut params = ListParams::default().limit(PAGE);
        if let Some(token) = &token {
            params = params.continue_token(token);
        }
        let page = match api.list(&params).await {
            Ok(page) => page,
            Err(error) => {
                tracing::debug!(%error, target, "listing failed; observing one by one");
                return;
            }
        };
        read += page.items.len();
        for mut object in page.items {
            let Some(index) = object
                .metadata
                .name
                .as_deref()
                .and_then(|name| wanted.remove(name))
            else {
                continue;
            };
            object.types = Some(TypeMeta {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
            });
            // An object that cannot be read as JSON is left to `GET`, which reports it.
            if let Ok(live) = to_value(&object) {
                found(index, Observation::present(live));
            }
        }
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        let Some(_) = &token else {
            break;
        };
        let remaining = page
            .metadata
            .remaining_item_count
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0);
        if wanted.is_empty() || read + remaining > budget {
            // The rest is mostly other objects (or nothing wanted): `GET` what is left.
            return;
        }
    }
    for index in wanted.into_values() {
        found(index, Observation::absent());
    }
}
