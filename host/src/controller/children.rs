//! Watch caches of every child kind. The same watch streams that wake a HarborCluster
//! when one of its children changes also fill these caches, so a reconcile reads the
//! state that woke it without a LIST per kind: at a hundred clusters in a namespace,
//! nine LISTs per reconcile made the API server, not the operator, the bottleneck.
//!
//! A kind the API server does not serve at start (the Gateway API CRDs absent) is looked
//! for again every few seconds and watched once it is served; until then
//! [`super::live::Live::read`] LISTs it per reconcile. Each cache is a [`ChildIndex`],
//! which answers one cluster's objects without scanning the kind.

use std::time::Duration;

use futures::{Stream, StreamExt as _};
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams};
use kube::runtime::{WatchStreamExt as _, watcher};

use super::child_index::ChildIndex;
use super::error::is_not_found;
use super::resources::{CHILD_KINDS, ChildKind};
use crate::render::CLUSTER_LABEL;

/// The cache of one kind in one watch scope.
#[derive(Clone)]
pub struct KindCache {
    pub kind: &'static ChildKind,
    pub index: ChildIndex,
}

/// The caches of one watch scope (a namespace, or all of them).
#[derive(Clone, Default)]
pub struct ScopeCaches {
    pub namespace: Option<String>,
    pub kinds: Vec<KindCache>,
}

impl ScopeCaches {
    pub fn covers(&self, namespace: &str) -> bool {
        self.namespace.as_deref().is_none_or(|ns| ns == namespace)
    }

    pub fn kind(&self, kind: &ChildKind) -> Option<&KindCache> {
        // By value: CHILD_KINDS is a const, so two references to one entry need not be
        // the same address.
        self.kinds.iter().find(|k| k.kind == kind)
    }
}

/// How often a kind the API server does not serve is looked for again (one LIST of at
/// most one object): installing the Gateway API CRDs needs no operator restart.
const NOT_SERVED_RECHECK: Duration = Duration::from_secs(10);

/// One kind's watch: a stream of changed children for the controller's owner trigger,
/// and the cache it fills on the way. For a kind the server does not serve yet, the
/// watch starts once it does; until then the cache is not ready and
/// [`super::live::Live::read`] lists the kind per reconcile (finding nothing).
pub async fn watch(
    client: &Client,
    namespace: Option<&str>,
    kind: &'static ChildKind,
) -> (KindCache, impl Stream<Item = Result<DynamicObject, watcher::Error>> + Send + 'static) {
    let resource = kind.api_resource();
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    // Anything but a 404 (a transient error) is the watcher's to retry.
    let served = !is_not_served(&api).await;
    if !served {
        tracing::info!(kind = kind.kind, "not served by the API server: listed per reconcile until it is");
    }
    let index = ChildIndex::default();
    let writer = index.clone();
    let until_served = {
        let api = api.clone();
        async move {
            if served {
                return;
            }
            loop {
                tokio::time::sleep(NOT_SERVED_RECHECK).await;
                if !is_not_served(&api).await {
                    tracing::info!(kind = kind.kind, "now served by the API server: watching");
                    return;
                }
            }
        }
    };
    // Children are watched by their cluster label only: a fleet's other objects never
    // enter the caches.
    let config = watcher::Config::default().labels(CLUSTER_LABEL);
    let stream = futures::stream::once(until_served)
        .flat_map(move |()| watcher(api.clone(), config.clone()).default_backoff())
        .modify(move |object| kind.lean(object))
        .inspect(move |event| {
            if let Ok(event) = event {
                writer.apply(event);
            }
        })
        .touched_objects();
    (KindCache { kind, index }, stream)
}

async fn is_not_served(api: &Api<DynamicObject>) -> bool {
    matches!(api.list_metadata(&ListParams::default().limit(1)).await, Err(e) if is_not_found(&e))
}

/// Every child kind's watch for one scope.
pub async fn watch_all(
    client: &Client,
    namespace: Option<&str>,
) -> (ScopeCaches, Vec<(&'static ChildKind, impl Stream<Item = Result<DynamicObject, watcher::Error>> + Send + 'static)>) {
    let mut caches = ScopeCaches { namespace: namespace.map(str::to_owned), kinds: Vec::new() };
    let mut streams = Vec::new();
    for kind in CHILD_KINDS {
        let (cache, stream) = watch(client, namespace, kind).await;
        caches.kinds.push(cache);
        streams.push((kind, stream));
    }
    (caches, streams)
}
