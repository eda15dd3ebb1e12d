//! What the finalizer does when a HarborCluster is deleted.
//!
//! Children with owner references are left to the garbage collector. Data is kept unless
//! the deletion policy says Delete: the PersistentVolumeClaims (standalone ones, which
//! carry the cluster label, and those a StatefulSet's volumeClaimTemplates made, named
//! `<template>-<statefulset>-<ordinal>`) and the Secrets Berth generated. Everything is
//! found by listing, so a cleanup after an Apply that never ran simply finds nothing.

use std::collections::BTreeSet;

use berth_api::spec::DeletionPolicy;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use kube::api::{Api, DeleteParams, ListParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::error::{Error, Result, is_not_found};
use super::generated::GENERATED_LABEL;
use super::{Context, HarborCluster};
use crate::render::CLUSTER_LABEL;

pub async fn cleanup(hc: &HarborCluster, ctx: &Context, namespace: &str, name: &str) -> Result<Action> {
    ctx.renders.forget(&super::name_key(namespace, name));
    if hc.spec.deletion_policy == DeletionPolicy::Retain {
        ctx.event(
            hc,
            EventType::Normal,
            "Deleting",
            "Delete",
            "children are garbage-collected; data volumes and generated Secrets are retained (deletion policy Retain)",
        )
        .await;
        return Ok(Action::await_change());
    }
    let selector = ListParams::default().labels(&format!("{CLUSTER_LABEL}={name}"));
    let claims_api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), namespace);
    let mut claims: BTreeSet<String> = BTreeSet::new();

    // Claims with the cluster label (the standalone ones Berth applied).
    let labelled = claims_api.list_metadata(&selector).await.map_err(Error::kube(format!("listing claims in {namespace}")))?;
    claims.extend(labelled.items.into_iter().filter_map(|c| c.metadata.name));

    // Claims made from volumeClaimTemplates: named after the template and StatefulSet.
    let prefixes = template_prefixes(ctx, hc, namespace, &selector).await?;
    if !prefixes.is_empty() {
        let all = claims_api.list_metadata(&ListParams::default()).await.map_err(Error::kube(format!("listing claims in {namespace}")))?;
        for claim in all.items.into_iter().filter_map(|c| c.metadata.name) {
            if prefixes.iter().any(|p| is_ordinal_claim(&claim, p)) {
                claims.insert(claim);
            }
        }
    }

    let mut deleted = Vec::new();
    for claim in &claims {
        ctx.metrics.write("delete", "PersistentVolumeClaim");
        match claims_api.delete(claim, &DeleteParams::background()).await {
            Ok(_) => deleted.push(format!("PersistentVolumeClaim/{claim}")),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(Error::kube(format!("deleting claim {namespace}/{claim}"))(e)),
        }
    }
    let secrets_api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let generated = ListParams::default().labels(&format!("{CLUSTER_LABEL}={name},{GENERATED_LABEL}=true"));
    let secrets = secrets_api.list_metadata(&generated).await.map_err(Error::kube(format!("listing Secrets in {namespace}")))?;
    for secret in secrets.items.into_iter().filter_map(|s| s.metadata.name) {
        ctx.metrics.write("delete", "Secret");
        match secrets_api.delete(&secret, &DeleteParams::background()).await {
            Ok(_) => deleted.push(format!("Secret/{secret}")),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(Error::kube(format!("deleting Secret {namespace}/{secret}"))(e)),
        }
    }
    let note = if deleted.is_empty() {
        "deletion policy Delete: no data to delete".to_owned()
    } else {
        format!("deletion policy Delete: deleted {}", deleted.join(", "))
    };
    ctx.event(hc, EventType::Normal, "DataDeleted", "Delete", &note).await;
    Ok(Action::await_change())
}

/// `<template>-<statefulset>-` for every volumeClaimTemplate of the cluster's
/// StatefulSets: the live ones, and those a fresh render would produce (a foreground
/// deletion may already have removed the StatefulSets).
async fn template_prefixes(ctx: &Context, hc: &HarborCluster, namespace: &str, selector: &ListParams) -> Result<BTreeSet<String>> {
    let api: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), namespace);
    let mut prefixes = BTreeSet::new();
    let live = api.list(selector).await.map_err(Error::kube(format!("listing StatefulSets in {namespace}")))?;
    for sts in live.items {
        let sts_name = sts.metadata.name.unwrap_or_default();
        for template in sts.spec.and_then(|s| s.volume_claim_templates).unwrap_or_default() {
            if let Some(t) = template.metadata.name {
                prefixes.insert(format!("{t}-{sts_name}-"));
            }
        }
    }
    let (_, plan) = super::plan(ctx, hc);
    match super::render(ctx, hc, namespace, plan).await {
        Ok(Ok(rendered)) => {
            for object in rendered.objects() {
                if object.kind() != "StatefulSet" {
                    continue;
                }
                let templates = object.object.get("spec").and_then(|s| s.get("volumeClaimTemplates")).and_then(|t| t.as_array());
                for template in templates.into_iter().flatten() {
                    if let Some(t) = template.pointer("/metadata/name").and_then(|n| n.as_str()) {
                        prefixes.insert(format!("{t}-{}-", object.name()));
                    }
                }
            }
        }
        // An invalid spec renders nothing; the live StatefulSets are all there is to go on.
        Ok(Err(e)) => tracing::info!(error = %e, "no render during cleanup; using live StatefulSets only"),
        Err(e) => tracing::warn!(error = %e, "the render task failed during cleanup; using live StatefulSets only"),
    }
    Ok(prefixes)
}

fn is_ordinal_claim(claim: &str, prefix: &str) -> bool {
    claim.strip_prefix(prefix).is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinal_claims_match_exactly() {
        assert!(is_ordinal_claim("data-demo-harbor-redis-0", "data-demo-harbor-redis-"));
        assert!(is_ordinal_claim("data-demo-harbor-redis-12", "data-demo-harbor-redis-"));
        assert!(!is_ordinal_claim("data-demo-harbor-redis-x", "data-demo-harbor-redis-"));
        assert!(!is_ordinal_claim("data-demo-harbor-redis-", "data-demo-harbor-redis-"));
        assert!(!is_ordinal_claim("data-other-0", "data-demo-harbor-redis-"));
    }
}
