//! What a restore asks of its target cluster's own reconcile: do not generate Secrets
//! (the restore brings the backup's), and keep the components that use the database at
//! zero replicas until the database is restored.

use futures::{FutureExt as _, Stream};
use kube::ResourceExt as _;
use kube::api::{Api, ListParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};

use crate::controller::error::{Error, Result};
use crate::controller::{Context, HarborCluster};
use berth_api::backup::{HarborRestore, RestorePhase};

/// The components held at zero while a restore runs: those that read or write the
/// database (core migrates its schema at start; the exporter reads it).
pub const HELD: &[&str] = &["core", "jobservice", "registry", "exporter"];

/// The restore that holds this cluster: one of its namespace naming it that is neither
/// Complete nor Refused. A Failed one holds too, until it is deleted: starting Harbor on
/// a half-restored or empty database would make a new registry over the old one's Secrets.
pub async fn holding_restore(ctx: &Context, namespace: &str, cluster: &str) -> Result<Option<String>> {
    let restores = restores(ctx, namespace).await?;
    Ok(restores.iter().find(|r| holds(r, cluster)).map(|r| r.name_any()))
}

/// The HarborRestores of `namespace`: from the controller's watch once it has listed them
/// all (the same watch that wakes the cluster when one changes); before that, and where
/// no controller runs, from the API server. None when the restore API is not installed.
pub async fn restores(ctx: &Context, namespace: &str) -> Result<Vec<HarborRestore>> {
    if let Some(store) = ctx.restore_store(namespace).filter(|store| store.wait_until_ready().now_or_never().is_some_and(|r| r.is_ok())) {
        let found = store.state().into_iter().filter(|r| r.namespace().as_deref() == Some(namespace));
        return Ok(found.map(|r| HarborRestore::clone(&r)).collect());
    }
    let api: Api<HarborRestore> = Api::namespaced(ctx.client.clone(), namespace);
    match api.list(&ListParams::default()).await {
        Ok(list) => Ok(list.items),
        Err(e) if crate::controller::error::is_not_found(&e) => Ok(Vec::new()),
        Err(e) => Err(Error::kube(format!("listing HarborRestores in {namespace}"))(e)),
    }
}

fn holds(restore: &HarborRestore, cluster: &str) -> bool {
    restore.spec.cluster == cluster
        && !matches!(restore.status.as_ref().map(|s| s.phase), Some(RestorePhase::Complete | RestorePhase::Refused))
}

/// The watch of HarborRestores in `namespace` (all when `None`): the store
/// [`holding_restore`] reads, and the stream that wakes the cluster a restore names.
pub fn watch(
    client: &kube::Client,
    namespace: Option<&str>,
) -> (Store<HarborRestore>, impl Stream<Item = std::result::Result<HarborRestore, watcher::Error>> + Send + 'static) {
    let api: Api<HarborRestore> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let (reader, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default().any_semantic()).default_backoff().reflect(writer).touched_objects();
    (reader, stream)
}

/// The cluster as rendered while held: the held components at zero replicas.
pub fn held(hc: &HarborCluster) -> HarborCluster {
    let mut held = hc.clone();
    let spec = &mut held.spec;
    spec.core.replicas = Some(0);
    spec.jobservice.pod.replicas = Some(0);
    spec.registry.pod.replicas = Some(0);
    spec.exporter.replicas = Some(0);
    held
}
