//! What a restore asks of its target cluster's own reconcile: do not generate Secrets
//! (the restore brings the backup's), and keep the components that use the database at
//! zero replicas until the database is restored.

use kube::ResourceExt as _;
use kube::api::{Api, ListParams};

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
    let api: Api<HarborRestore> = Api::namespaced(ctx.client.clone(), namespace);
    let list = match api.list(&ListParams::default()).await {
        Ok(list) => list,
        // The restore API not installed: nothing can hold the cluster.
        Err(e) if crate::controller::error::is_not_found(&e) => return Ok(None),
        Err(e) => return Err(Error::kube(format!("listing HarborRestores in {namespace}"))(e)),
    };
    Ok(list
        .items
        .into_iter()
        .filter(|r| r.spec.cluster == cluster)
        .find(|r| !matches!(r.status.as_ref().map(|s| s.phase), Some(RestorePhase::Complete | RestorePhase::Refused)))
        .map(|r| r.name_any()))
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
