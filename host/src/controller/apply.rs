//! Server-side apply of one component's objects, with one field manager, skipping every
//! object whose live copy already carries the hash of what would be applied: a reconcile
//! where nothing changed sends no PATCH at all.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DynamicObject, Patch, PatchParams};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::Context;
use super::adopt;
use super::error::api_message;
use super::live::Live;
use super::resources::{ChildKind, child_kind};
use crate::render::{CLUSTER_LABEL, RenderedObject};

/// Annotation carrying the sha256 of the object as last applied by Berth.
pub const APPLIED_HASH_ANNOTATION: &str = "berth.dev/applied-hash";

/// Why a component's objects were not (all) applied. The texts are what status and the
/// `ApplyFailed` Event show, so an API refusal shows the server's message rather than
/// the client's Debug dump; the client error itself stays reachable as the source.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{api_version} {kind} {name} is not a kind the controller manages")]
    UnmanagedKind { api_version: String, kind: String, name: String },
    #[error("serialising the owner reference: {0}")]
    OwnerReference(#[source] serde_json::Error),
    #[error("{kind} {name}: {}", api_message(source))]
    Api {
        kind: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error(
        "{kind} {name} already belongs to {owner_kind} {owner_name} in this namespace; give one of them another name (for the expose Service, spec.expose.service.name) or move it to its own namespace"
    )]
    OwnedByAnother { kind: &'static str, name: String, owner_kind: String, owner_name: String },
    #[error(
        "{kind} {name} already exists and Berth did not create it; Berth never takes over an object it did not make (delete or rename it, render this cluster under another name, or, for a Helm chart install, name its release in spec.adopt.helmRelease)"
    )]
    NotCreatedByBerth { kind: &'static str, name: String },
}

impl ApplyError {
    fn api(desired: &Desired) -> impl FnOnce(kube::Error) -> ApplyError + '_ {
        |source| ApplyError::Api { kind: desired.kind.kind, name: desired.name.clone(), source }
    }
}

/// One object ready to apply.
#[derive(Debug, Clone)]
pub struct Desired {
    pub kind: &'static ChildKind,
    pub name: String,
    pub hash: String,
    pub object: Map<String, Value>,
}

/// Prepares a component's objects: the owner reference (never on PersistentVolumeClaims:
/// data must survive the garbage collector) and the applied-hash annotation. Checks every
/// object before any is applied, so a kind the controller cannot manage fails the whole
/// component instead of half-applying it.
pub fn prepare(objects: &[RenderedObject], owner: &OwnerReference) -> Result<Vec<Desired>, ApplyError> {
    objects
        .iter()
        .map(|rendered| {
            let api_version = rendered.object.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
            let kind = child_kind(api_version, rendered.kind()).ok_or_else(|| ApplyError::UnmanagedKind {
                api_version: api_version.to_owned(),
                kind: rendered.kind().to_owned(),
                name: rendered.name().to_owned(),
            })?;
            let mut object = rendered.object.clone();
            let metadata = object_map(&mut object, "metadata");
            if kind.prunable {
                let owner = serde_json::to_value(owner).map_err(ApplyError::OwnerReference)?;
                metadata.insert("ownerReferences".to_owned(), Value::Array(vec![owner]));
            }
            let hash = hash_of(&object);
            object_map(object_map(&mut object, "metadata"), "annotations")
                .insert(APPLIED_HASH_ANNOTATION.to_owned(), Value::String(hash.clone()));
            Ok(Desired { kind, name: rendered.name().to_owned(), hash, object })
        })
        .collect()
}

/// sha256 over the serialised object (serde_json maps are ordered, so this is stable).
fn hash_of(object: &Map<String, Value>) -> String {
    let bytes = serde_json::to_vec(object).unwrap_or_default();
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn object_map<'m>(parent: &'m mut Map<String, Value>, key: &str) -> &'m mut Map<String, Value> {
    let slot = parent.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(map) => map,
        _ => unreachable!("slot was just made an object"),
    }
}

/// What this process last saw of each object it applied: the applied hash and a marker
/// of the live object's content right after (its generation, or for kinds without one
/// its resourceVersion). A live object whose marker moved was changed by someone else
/// and is applied again; one whose marker stands is left alone. After a restart the
/// cache is empty and the hash annotation alone decides.
#[derive(Debug, Default)]
pub struct AppliedCache(Mutex<HashMap<ObjectKey, (String, String)>>);

/// (namespace, kind, name)
type ObjectKey = (String, &'static str, String);

impl AppliedCache {
    fn get(&self, key: &ObjectKey) -> Option<(String, String)> {
        self.0.lock().ok().and_then(|m| m.get(key).cloned())
    }

    fn put(&self, key: ObjectKey, hash: String, marker: Option<String>) {
        if let Ok(mut map) = self.0.lock() {
            match marker {
                Some(marker) => map.insert(key, (hash, marker)),
                None => map.remove(&key),
            };
        }
    }

    /// Forgets an object that was pruned.
    pub fn forget(&self, namespace: &str, kind: &'static str, name: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(&(namespace.to_owned(), kind, name.to_owned()));
        }
    }
}

/// The drift marker of a live object: its generation where the API keeps one (spec
/// changes only, so workload status updates do not count), else the resourceVersion for
/// kinds nobody else writes. PersistentVolumeClaims have neither that is stable (the
/// volume binder writes them), so they rely on the hash alone.
fn marker(kind: &ChildKind, object: &DynamicObject) -> Option<String> {
    if let Some(generation) = object.metadata.generation {
        return Some(format!("g{generation}"));
    }
    match kind.kind {
        "ConfigMap" | "Secret" | "Service" => object.metadata.resource_version.as_ref().map(|rv| format!("rv{rv}")),
        _ => None,
    }
}

/// Whether the live object already is what we would apply (its applied hash is `hash`),
/// and nobody changed it since.
pub fn up_to_date(live: &Live, cache: &AppliedCache, namespace: &str, kind: &'static ChildKind, name: &str, hash: &str) -> bool {
    let Some(object) = live.get(kind.kind, name) else {
        return false;
    };
    let applied = object.metadata.annotations.as_ref().and_then(|a| a.get(APPLIED_HASH_ANNOTATION));
    if applied.map(String::as_str) != Some(hash) {
        return false;
    }
    let key = (namespace.to_owned(), kind.kind, name.to_owned());
    let now = marker(kind, object);
    match cache.get(&key) {
        Some((seen_hash, seen)) if seen_hash == hash => now.as_ref() == Some(&seen) || now.is_none(),
        // First sight in this process: trust the hash and remember what it looks like.
        _ => {
            cache.put(key, hash.to_owned(), now);
            true
        }
    }
}

/// Applies a component's prepared objects in order; stops at the first refusal and says
/// which object it was. Returns how many objects were patched. `owner_uid` is the
/// HarborCluster's: an object another HarborCluster controls is never taken over.
pub async fn apply_all(ctx: &Context, namespace: &str, live: &Live, objects: &[Desired], owner: Owner<'_>) -> Result<Outcome, ApplyError> {
    let params = PatchParams::apply(super::FIELD_MANAGER).force();
    let mut outcome = Outcome::default();
    for desired in objects {
        if up_to_date(live, &ctx.applied, namespace, desired.kind, &desired.name, &desired.hash) {
            continue;
        }
        let live_object = live.get(desired.kind.kind, &desired.name);
        let existing = match live_object {
            Some(object) => Existing::Ours { adopted: adopted(&object.metadata) },
            None => refuse_foreign(ctx, namespace, desired, owner).await?,
        };
        let mut body = desired.object.clone();
        if let Some(live_object) = live_object {
            keep_live_fields(desired.kind.kind, &mut body, &live_object.data);
        }
        let api = desired.kind.api(&ctx.client, namespace);
        let applied = match (existing, owner.release) {
            (Existing::Release, Some(release)) => {
                ctx.metrics.write("patch", desired.kind.kind);
                let taken = adopt::takeover::take_over(&api, desired.kind.kind, &desired.name, &body, release, &params)
                    .await
                    .map_err(ApplyError::api(desired))?;
                outcome.taken_over.push((format!("{}/{}", desired.kind.kind, desired.name), taken.removed));
                taken.object
            }
            _ => {
                if let Some(release) = owner.release.filter(|_| existing == Existing::Ours { adopted: true }) {
                    // An adopted Service keeps the chart's selector: its live body is not cached.
                    let full = if desired.kind.kind == "Service" {
                        Some(api.get(&desired.name).await.map_err(ApplyError::api(desired))?)
                    } else {
                        None
                    };
                    let full = full.map(|o| serde_json::to_value(o).unwrap_or(Value::Null)).unwrap_or(Value::Null);
                    adopt::takeover::shape(desired.kind.kind, &mut body, &full, release);
                }
                ctx.metrics.write("patch", desired.kind.kind);
                match api.patch(&desired.name, &params, &Patch::Apply(&body)).await {
                    Err(e) if switches_to_recreate(desired, &e) => {
                        clear_rolling_update(ctx, &api, desired).await?;
                        ctx.metrics.write("patch", desired.kind.kind);
                        api.patch(&desired.name, &params, &Patch::Apply(&body)).await
                    }
                    other => other,
                }
                .map_err(ApplyError::api(desired))?
            }
        };
        ctx.applied.put(
            (namespace.to_owned(), desired.kind.kind, desired.name.clone()),
            desired.hash.clone(),
            marker(desired.kind, &applied),
        );
        outcome.patched += 1;
    }
    Ok(outcome)
}

/// Whose objects a component's apply may write: this HarborCluster's (by label and owner
/// uid), and with `spec.adopt` the named Helm release's.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub cluster: &'a str,
    pub uid: &'a str,
    pub release: Option<adopt::Release<'a>>,
}

/// What one component's apply did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub patched: usize,
    /// "Kind/name" of each object taken over from the Helm release, with the fields the
    /// takeover removed.
    pub taken_over: Vec<(String, Vec<String>)>,
}

/// What was found under a name before the first apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Existing {
    /// Nothing, or this cluster's own object (perhaps not yet in the watch cache), and
    /// whether it was taken over from a Helm release: each apply keeps its adoption mark
    /// and, for a Service, the chart's selector.
    Ours { adopted: bool },
    /// An object of the Helm release being adopted.
    Release,
}

fn adopted(metadata: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> bool {
    metadata.annotations.as_ref().is_some_and(|a| a.contains_key(adopt::ADOPTED_ANNOTATION))
}

/// Whether the API server refused a Deployment moving to the Recreate strategy because
/// the live object still has `strategy.rollingUpdate`. The API server defaulted that field
/// when the Deployment was created (or another manager, Helm, set it), so no manager of
/// ours owns it and a server-side apply cannot remove it, not even by sending null.
fn switches_to_recreate(desired: &Desired, error: &kube::Error) -> bool {
    let recreate = desired.object.get("spec").and_then(|s| s.pointer("/strategy/type")).and_then(Value::as_str) == Some("Recreate");
    let kube::Error::Api(status) = error else { return false };
    recreate
        && desired.kind.kind == "Deployment"
        && status.code == 422
        && status.details.as_ref().is_some_and(|d| d.causes.iter().any(|c| c.field == "spec.strategy.rollingUpdate"))
}

/// Moves the Deployment to Recreate and removes `rollingUpdate` in one merge patch (null
/// deletes a field there), so the apply that follows is valid. The strategy is ours to
/// set: the rendered object says Recreate.
async fn clear_rolling_update(ctx: &Context, api: &kube::Api<kube::api::DynamicObject>, desired: &Desired) -> Result<(), ApplyError> {
    tracing::info!(deployment = %desired.name, "clearing strategy.rollingUpdate to switch the Deployment to Recreate");
    let patch = serde_json::json!({"spec": {"strategy": {"type": "Recreate", "rollingUpdate": null}}});
    ctx.metrics.write("patch", desired.kind.kind);
    api.patch(
        &desired.name,
        &PatchParams { field_manager: Some(super::FIELD_MANAGER.to_owned()), ..PatchParams::default() },
        &Patch::Merge(&patch),
    )
    .await
    .map(drop)
    .map_err(ApplyError::api(desired))
}

/// A workload's selector, a StatefulSet's service name, pod management policy and claim
/// templates cannot change on a live object. Where the live object's differ from the
/// render (an adopted chart workload selects `release, app, component`), the live ones
/// are kept, and a kept selector's labels are added to the pod template's, so the pods
/// still match it. Nothing that runs depends on which labels select a pod.
///
/// A claim template the render asks nothing new of (every field it sets has the live
/// value) is sent exactly as it is live, defaults included; otherwise only its labels
/// and annotations are kept (a release of Berth before 0.4 put the Harbor version among
/// them), and a change of its spec (a size, a class) is sent, and refused by the API
/// server, truthfully.
pub fn keep_live_fields(kind: &str, body: &mut Map<String, Value>, live: &Value) {
    if !matches!(kind, "Deployment" | "StatefulSet") {
        return;
    }
    let Some(live_spec) = live.get("spec") else { return };
    let Some(spec) = body.get_mut("spec").and_then(Value::as_object_mut) else { return };
    if let Some(selector) = live_spec.get("selector").filter(|s| spec.get("selector") != Some(*s)) {
        spec.insert("selector".to_owned(), selector.clone());
        let labels = object_map(object_map(object_map(spec, "template"), "metadata"), "labels");
        for (key, value) in selector.get("matchLabels").and_then(Value::as_object).into_iter().flatten() {
            labels.insert(key.clone(), value.clone());
        }
    }
    if kind != "StatefulSet" {
        return;
    }
    for field in ["serviceName", "podManagementPolicy"] {
        if let Some(value) = live_spec.get(field) {
            spec.insert(field.to_owned(), value.clone());
        }
    }
    let Some(live_templates) = live_spec.get("volumeClaimTemplates").and_then(Value::as_array) else { return };
    let Some(templates) = spec.get_mut("volumeClaimTemplates").and_then(Value::as_array_mut) else { return };
    for template in templates.iter_mut() {
        let name = template.pointer("/metadata/name").and_then(Value::as_str).map(str::to_owned);
        let Some(live_template) = live_templates.iter().find(|t| t.pointer("/metadata/name").and_then(Value::as_str) == name.as_deref())
        else {
            continue;
        };
        if template.get("spec").is_none_or(|wanted| live_template.get("spec").is_some_and(|have| is_subset(wanted, have))) {
            *template = live_template.clone();
            continue;
        }
        let Some(metadata) = template.get_mut("metadata").and_then(Value::as_object_mut) else { continue };
        for field in ["labels", "annotations"] {
            match live_template.get("metadata").and_then(|m| m.get(field)).cloned() {
                Some(kept) => metadata.insert(field.to_owned(), kept),
                None => metadata.remove(field),
            };
        }
    }
}

/// Whether every field `wanted` sets has the same value in `have`.
fn is_subset(wanted: &Value, have: &Value) -> bool {
    match (wanted, have) {
        (Value::Object(wanted), Value::Object(have)) => wanted.iter().all(|(k, v)| have.get(k).is_some_and(|h| is_subset(v, h))),
        _ => wanted == have,
    }
}

/// An object missing from this cluster's live set is looked up once before the first
/// apply. Berth takes over nothing it did not create: an object of that name that does
/// not carry this HarborCluster's label (another HarborCluster's, a chart install's, or
/// one of the namespace's own such as `Service/kubernetes` or `ConfigMap/kube-root-ca.crt`)
/// fails this component, saying whose it is, rather than being force-applied and then
/// owned and pruned. One carrying the label is ours, created moments ago and not yet in
/// the watch cache. The exception is explicit: with `spec.adopt`, an object of the named
/// Helm release (and no other owner) is taken over.
async fn refuse_foreign(ctx: &Context, namespace: &str, desired: &Desired, owner: Owner<'_>) -> Result<Existing, ApplyError> {
    let existing = desired.kind.api(&ctx.client, namespace).get_metadata_opt(&desired.name).await.map_err(ApplyError::api(desired))?;
    let Some(existing) = existing else {
        return Ok(Existing::Ours { adopted: false });
    };
    let controller = existing.metadata.owner_references.iter().flatten().find(|r| r.controller == Some(true));
    let labelled = existing.metadata.labels.as_ref().and_then(|l| l.get(CLUSTER_LABEL)).is_some_and(|c| c == owner.cluster);
    match controller {
        Some(other) if other.uid != owner.uid => Err(ApplyError::OwnedByAnother {
            kind: desired.kind.kind,
            name: desired.name.clone(),
            owner_kind: other.kind.clone(),
            owner_name: other.name.clone(),
        }),
        _ if labelled => Ok(Existing::Ours { adopted: adopted(&existing.metadata) }),
        _ if owner.release.is_some_and(|r| r.owns(&existing.metadata)) => Ok(Existing::Release),
        _ => Err(ApplyError::NotCreatedByBerth { kind: desired.kind.kind, name: desired.name.clone() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rendered(api_version: &str, kind: &str, name: &str) -> RenderedObject {
        let object = serde_json::json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}});
        let Value::Object(object) = object else { unreachable!() };
        RenderedObject { component: "c".to_owned(), object }
    }

    fn owner() -> OwnerReference {
        OwnerReference {
            api_version: "berth.dev/v1alpha1".to_owned(),
            kind: "HarborCluster".to_owned(),
            name: "demo".to_owned(),
            uid: "u-1".to_owned(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    #[test]
    fn owner_reference_on_everything_but_claims() {
        let objects = [rendered("apps/v1", "Deployment", "d"), rendered("v1", "PersistentVolumeClaim", "data")];
        let desired = prepare(&objects, &owner()).unwrap_or_else(|e| panic!("{e}"));
        let as_value = |d: &Desired| Value::Object(d.object.clone());
        assert!(as_value(&desired[0]).pointer("/metadata/ownerReferences/0/uid").is_some());
        assert!(as_value(&desired[1]).pointer("/metadata/ownerReferences").is_none());
        assert_eq!(
            as_value(&desired[0]).pointer("/metadata/annotations/berth.dev~1applied-hash").and_then(Value::as_str),
            Some(desired[0].hash.as_str())
        );
    }

    #[test]
    fn the_hash_follows_content_and_owner() {
        let a = prepare(&[rendered("v1", "ConfigMap", "x")], &owner()).unwrap_or_else(|e| panic!("{e}"));
        let b = prepare(&[rendered("v1", "ConfigMap", "x")], &owner()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a[0].hash, b[0].hash);
        let mut other = owner();
        other.uid = "u-2".to_owned();
        let c = prepare(&[rendered("v1", "ConfigMap", "x")], &other).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(a[0].hash, c[0].hash);
    }

    #[test]
    fn a_claim_template_is_kept_as_it_is_live_unless_its_spec_changes() {
        let template = |labels: Value, size: &str| {
            json!({"metadata": {"name": "data", "labels": labels},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}})
        };
        let sts = |template: Value, selector: Value| {
            let object = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
                "spec": {"selector": {"matchLabels": selector}, "serviceName": "db",
                         "template": {"metadata": {"labels": {"berth": "db"}}}, "volumeClaimTemplates": [template]}});
            let Value::Object(object) = object else { unreachable!() };
            object
        };
        let chart_labels = json!({"app": "harbor", "chart": "harbor", "heritage": "Helm", "release": "h"});
        let chart_selector = json!({"release": "h", "app": "harbor", "component": "database"});
        let mut live_template = template(chart_labels.clone(), "1Gi");
        live_template["spec"]["volumeMode"] = json!("Filesystem");
        let mut live = Value::Object(sts(live_template.clone(), chart_selector.clone()));
        live["spec"]["serviceName"] = json!("h-harbor-database");

        // Asking nothing new: the live template goes back whole, defaults and labels too.
        let mut body = sts(template(json!({"berth": "db"}), "1Gi"), json!({"berth": "db"}));
        keep_live_fields("StatefulSet", &mut body, &live);
        let body = Value::Object(body);
        assert_eq!(body.pointer("/spec/volumeClaimTemplates/0"), Some(&live_template));
        assert_eq!(body.pointer("/spec/selector/matchLabels"), Some(&chart_selector));
        assert_eq!(body.pointer("/spec/serviceName"), Some(&json!("h-harbor-database")));
        let pod_labels = body.pointer("/spec/template/metadata/labels").cloned().unwrap_or_default();
        assert_eq!(
            pod_labels,
            json!({"berth": "db", "release": "h", "app": "harbor", "component": "database"}),
            "the pods still match the kept selector"
        );

        // A new size: the labels are kept, the new spec is sent (and refused) as it is.
        let mut body = sts(template(json!({"berth": "db"}), "2Gi"), json!({"berth": "db"}));
        keep_live_fields("StatefulSet", &mut body, &live);
        let body = Value::Object(body);
        assert_eq!(body.pointer("/spec/volumeClaimTemplates/0/metadata/labels"), Some(&chart_labels));
        assert_eq!(body.pointer("/spec/volumeClaimTemplates/0/spec/resources/requests/storage"), Some(&json!("2Gi")));
        assert_eq!(body.pointer("/spec/volumeClaimTemplates/0/spec/volumeMode"), None);
    }

    #[test]
    fn a_deployment_keeps_only_its_selector_and_other_kinds_nothing() {
        let body = |selector: Value| {
            let Value::Object(o) =
                json!({"spec": {"selector": {"matchLabels": selector}, "template": {"metadata": {"labels": {"a": "1"}}}}})
            else {
                unreachable!()
            };
            o
        };
        let live = Value::Object(body(json!({"a": "1"})));
        let mut same = body(json!({"a": "1"}));
        keep_live_fields("Deployment", &mut same, &live);
        assert_eq!(same, body(json!({"a": "1"})), "a selector that did not change changes nothing");
        let mut service = body(json!({"b": "2"}));
        keep_live_fields("Service", &mut service, &live);
        assert_eq!(service, body(json!({"b": "2"})));
    }

    #[test]
    fn an_unmanaged_kind_fails_the_whole_component() {
        let objects = [rendered("v1", "ConfigMap", "x"), rendered("rbac.authorization.k8s.io/v1", "Role", "r")];
        assert!(prepare(&objects, &owner()).is_err());
    }

    #[test]
    fn a_moved_generation_is_drift_and_a_status_update_is_not() {
        let desired = prepare(&[rendered("apps/v1", "Deployment", "d")], &owner()).unwrap_or_else(|e| panic!("{e}")).remove(0);
        let live_with = |generation: i64, rv: &str| {
            let object: DynamicObject = serde_json::from_value(serde_json::json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "d", "generation": generation, "resourceVersion": rv,
                             "annotations": {APPLIED_HASH_ANNOTATION: desired.hash}}
            }))
            .unwrap_or_else(|e| panic!("{e}"));
            let mut live = Live::default();
            live.objects.insert(("Deployment", "d".to_owned()), (desired.kind, object));
            live
        };
        let cache = AppliedCache::default();
        // First sight trusts the hash; a status update (new resourceVersion, same
        // generation) changes nothing; a spec edit (new generation) is drift.
        assert!(up_to_date(&live_with(1, "10"), &cache, "ns", desired.kind, &desired.name, &desired.hash));
        assert!(up_to_date(&live_with(1, "11"), &cache, "ns", desired.kind, &desired.name, &desired.hash));
        assert!(!up_to_date(&live_with(2, "12"), &cache, "ns", desired.kind, &desired.name, &desired.hash));
        assert!(!up_to_date(&Live::default(), &cache, "ns", desired.kind, &desired.name, &desired.hash));
    }
}
