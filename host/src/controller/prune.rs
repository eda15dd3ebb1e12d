//! Pruning: children this HarborCluster owns that the render no longer produces.
//!
//! Only objects with an owner reference to this HarborCluster's uid are candidates, so
//! nothing Berth did not create is touched; PersistentVolumeClaims, generated Secrets
//! and upgrades' migration Jobs are never candidates; a component that failed this time keeps its objects.

use std::collections::BTreeSet;

use kube::api::DeleteParams;

use super::Context;
use super::error::{api_message, is_not_found};
use super::live::Live;
use super::upgrade::tasks::UPGRADE_LABEL;
use crate::render::COMPONENT_LABEL;

/// Which live objects to delete: (kind, name).
pub fn candidates(
    live: &Live,
    owner_uid: &str,
    desired: &BTreeSet<(String, String)>,
    failed_components: &BTreeSet<String>,
    generated_secrets: &BTreeSet<String>,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for ((kind, name), (child, object)) in &live.objects {
        if !child.prunable || desired.contains(&(kind.to_string(), name.clone())) {
            continue;
        }
        if *kind == "Secret" && generated_secrets.contains(name) {
            continue;
        }
        // An upgrade's migration Job is no render's: it stays as the upgrade's record.
        if *kind == "Job" && object.metadata.labels.as_ref().is_some_and(|l| l.contains_key(UPGRADE_LABEL)) {
            continue;
        }
        let owned = object.metadata.owner_references.iter().flatten().any(|r| r.uid == owner_uid);
        if !owned {
            continue;
        }
        let component = object.metadata.labels.as_ref().and_then(|l| l.get(COMPONENT_LABEL));
        if component.is_some_and(|c| failed_components.contains(c)) {
            continue;
        }
        out.push((*kind, name.clone()));
    }
    out
}

/// A stale object the API server would not delete. The object is still stale next
/// reconcile, so this is only logged.
#[derive(Debug, thiserror::Error)]
#[error("{kind}/{name}: {}", api_message(source))]
pub struct PruneError {
    pub kind: &'static str,
    pub name: String,
    #[source]
    pub source: kube::Error,
}

/// Deletes the candidates; returns "Kind/name" of each deleted, and the failures.
pub async fn delete(ctx: &Context, namespace: &str, live: &Live, targets: &[(&'static str, String)]) -> (Vec<String>, Vec<PruneError>) {
    let mut deleted = Vec::new();
    let mut failed = Vec::new();
    for (kind, name) in targets {
        let Some((child, _)) = live.objects.get(&(*kind, name.clone())) else { continue };
        ctx.metrics.write("delete", kind);
        match child.api(&ctx.client, namespace).delete(name, &DeleteParams::background()).await {
            Ok(_) => {
                ctx.applied.forget(namespace, kind, name);
                deleted.push(format!("{kind}/{name}"));
            }
            Err(e) if is_not_found(&e) => {}
            Err(source) => failed.push(PruneError { kind, name: name.clone(), source }),
        }
    }
    (deleted, failed)
}
