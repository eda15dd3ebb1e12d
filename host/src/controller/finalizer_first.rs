//! The finalizer is written before anything else, as kube's `finalizer()` would write it,
//! but the same reconcile then goes on to apply. With `finalizer()` alone a new cluster's
//! first reconcile only added the finalizer and ended, and the watch event of that write
//! woke a second one to do the work: one reconcile per new cluster spent on nothing, a
//! thousand at a fleet's first start.

use std::sync::Arc;

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource as _, ResourceExt as _};

use super::{Context, Error, FINALIZER, HarborCluster, Result};

/// The cluster with the finalizer on it: as given when it has it (or is being deleted),
/// else as the API server returned it after adding it. The write names the
/// resourceVersion read, so a cluster changed meanwhile is a conflict, retried, never a
/// finalizer list overwritten.
pub async fn ensure(ctx: &Context, api: &Api<HarborCluster>, hc: Arc<HarborCluster>) -> Result<Arc<HarborCluster>> {
    if hc.meta().deletion_timestamp.is_some() || hc.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(hc);
    }
    let mut finalizers = hc.finalizers().to_vec();
    finalizers.push(FINALIZER.to_owned());
    let patch = serde_json::json!({
        "metadata": {"finalizers": finalizers, "resourceVersion": hc.resource_version()},
    });
    ctx.metrics.write("patch", "HarborCluster");
    let name = hc.name_any();
    let patched = api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::kube(format!("adding the finalizer to {}/{name}", hc.namespace().unwrap_or_default())))?;
    Ok(Arc::new(patched))
}
