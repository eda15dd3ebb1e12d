//! What the upgrade's steps read off the live workloads: that the database writers are
//! really gone (Quiesce), and that the new version really runs (HealthGate). Each check
//! returns what it still waits for, for the status message.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::Value;

use crate::controller::error::{Error, Result};
use crate::controller::live::Live;
use crate::controller::{Context, status};
use crate::render::{ClusterRender, RenderedObject};

/// The components that write Harbor's database, stopped before the schema migrates.
pub const WRITERS: &[&str] = &["core", "jobservice"];
/// The components the health gate waits for on the new version.
pub const GATED: &[&str] = &["core", "registry", "jobservice"];

/// The rendered Deployments and StatefulSets the checks read (copied: the render's
/// objects go on to be applied).
pub fn workloads(rendered: &ClusterRender) -> Vec<RenderedObject> {
    rendered
        .components
        .iter()
        .filter(|(name, _)| WRITERS.contains(&name.as_str()) || GATED.contains(&name.as_str()))
        .filter_map(|(_, result)| result.as_ref().ok())
        .flat_map(|render| render.objects.iter())
        .filter(|o| matches!(o.kind(), "Deployment" | "StatefulSet"))
        .cloned()
        .collect()
}

fn of<'a>(workloads: &'a [RenderedObject], components: &'a [&str]) -> impl Iterator<Item = &'a RenderedObject> {
    workloads.iter().filter(move |w| components.contains(&w.component.as_str()))
}

fn number(object: &Value, path: &[&str]) -> Option<i64> {
    path.iter().try_fold(object, |value, key| value.get(key))?.as_i64()
}

/// The live workload's controller has acted on its current spec.
fn observed(live: &kube::api::DynamicObject) -> bool {
    let observed = number(&live.data, &["status", "observedGeneration"]).unwrap_or(0);
    live.metadata.generation.is_none_or(|generation| observed >= generation)
}

/// Core and jobservice at zero: their workloads say so, and no pod of theirs is left
/// (a terminating pod still writes for its grace period). `Ok(None)` once true, else
/// what is still running.
pub async fn writers_stopped(ctx: &Context, namespace: &str, live: &Live, workloads: &[RenderedObject]) -> Result<Option<String>> {
    for workload in of(workloads, WRITERS) {
        let (kind, name) = (workload.kind(), workload.name());
        let Some(object) = live.get(kind, name) else { continue };
        let replicas = number(&object.data, &["status", "replicas"]).unwrap_or(0);
        let wanted = number(&object.data, &["spec", "replicas"]).unwrap_or(1);
        if wanted != 0 || !observed(object) || replicas != 0 {
            return Ok(Some(format!("{kind} {name}: {replicas} replica(s) left")));
        }
        let Some(selector) = object.data.get("spec").and_then(|s| s.get("selector")).and_then(|s| s.get("matchLabels")) else {
            continue;
        };
        let Some(labels) = selector.as_object().filter(|l| !l.is_empty()) else { continue };
        let selector: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect();
        let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
        let list = pods
            .list_metadata(&ListParams::default().labels(&selector.join(",")))
            .await
            .map_err(Error::kube(format!("listing the pods of {kind} {namespace}/{name}")))?;
        if let Some(pod) = list.items.first() {
            let pod = pod.metadata.name.clone().unwrap_or_default();
            return Ok(Some(format!("pod {pod} of {kind} {name} is still there")));
        }
    }
    Ok(None)
}

/// Container name -> image of a workload's pod template.
fn images(object: &Value) -> Vec<(String, String)> {
    let containers = ["spec", "template", "spec", "containers"].iter().try_fold(object, |value, key| value.get(key));
    let mut images: Vec<(String, String)> = containers
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let field = |f: &str| c.get(f).and_then(Value::as_str).unwrap_or_default().to_owned();
            (field("name"), field("image"))
        })
        .collect();
    images.sort();
    images
}

/// Core, registry and jobservice available on the images of the target render (their
/// readiness probes passing: core's is `/api/v2.0/ping`). `None` once true.
pub fn healthy(live: &Live, workloads: &[RenderedObject]) -> Option<String> {
    for workload in of(workloads, GATED) {
        let (kind, name) = (workload.kind(), workload.name());
        let Some(object) = live.get(kind, name) else {
            return Some(format!("{kind} {name} does not exist yet"));
        };
        let want = images(&Value::Object(workload.object.clone()));
        let have = images(&object.data);
        if want != have {
            return Some(format!("{kind} {name} does not run the new images yet"));
        }
        if !observed(object) {
            return Some(format!("{kind} {name}: its controller has not seen the new spec yet"));
        }
        let replicas = i64::from(status::desired_replicas(&workload.object));
        let updated = number(&object.data, &["status", "updatedReplicas"]).unwrap_or(0);
        let available = number(&object.data, &["status", "availableReplicas"]).unwrap_or(0);
        let ready = number(&object.data, &["status", "readyReplicas"]).unwrap_or(0);
        if updated < replicas || available.min(ready) < replicas {
            return Some(format!("{kind} {name}: {} of {replicas} available on the new version", updated.min(available).min(ready)));
        }
    }
    None
}
