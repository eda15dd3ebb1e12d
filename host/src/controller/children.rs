//! Watch caches of every child kind. The same watch streams that wake a HarborCluster
//! when one of its children changes also fill these caches, so a reconcile reads the
//! state that woke it without a LIST per kind: at a hundred clusters in a namespace,
//! nine LISTs per reconcile made the API server, not the operator, the bottleneck.
//!
//! A kind the API server does not serve at start (the Gateway API CRDs absent) gets no
//! cache; [`super::live::Live::read`] LISTs it per reconcile as before. Each cache is a
//! [`ChildIndex`], which answers one cluster's objects without scanning the kind.

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

/// One kind's watch: a stream of changed children for the controller's owner trigger,
/// and the cache it fills on the way. `None` when the server does not serve the kind.
pub async fn watch(
    client: &Client,
    namespace: Option<&str>,
    kind: &'static ChildKind,
) -> Option<(KindCache, impl Stream<Item = Result<DynamicObject, watcher::Error>> + Send + 'static)> {
    let resource = kind.api_resource();
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    match api.list_metadata(&ListParams::default().limit(1)).await {
        Err(e) if is_not_found(&e) => {
            tracing::info!(kind = kind.kind, "not served by the API server: no watch, listed per reconcile");
            return None;
        }
        // Anything else (a transient error) is the watcher's to retry.
        _ => {}
    }
    let index = ChildIndex::default();
    let writer = index.clone();
    // Children are watched by their cluster label only: a fleet's other objects never
    // enter the caches.
    let config = watcher::Config::default().labels(CLUSTER_LABEL);
    let stream = watcher(api, config)
        .default_backoff()
        .inspect(move |event| {
            if let Ok(event) = event {
                writer.apply(event);
            }
        })
        .touched_objects();
    Some((KindCache { kind, index }, stream))
}

/// Every child kind's watch for one scope.
pub async fn watch_all(
    client: &Client,
    namespace: Option<&str>,
) -> (ScopeCaches, Vec<(&'static ChildKind, impl Stream<Item = Result<DynamicObject, watcher::Error>> + Send + 'static)>) {
    let mut caches = ScopeCaches { namespace: namespace.map(str::to_owned), kinds: Vec::new() };
    let mut streams = Vec::new();
    for kind in CHILD_KINDS {
        if let Some((cache, stream)) = watch(client, namespace, kind).await {
            caches.kinds.push(cache);
            streams.push((kind, stream));
        }
    }
    (caches, streams)
}
