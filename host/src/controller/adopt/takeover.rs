//! Taking over one object the chart made, so that it ends as Berth's render.
//!
//! A forced server-side apply takes the fields Berth renders but leaves every field only
//! Helm set (a label, an annotation, an env var Berth does not render), since Helm's
//! field manager still owns it. So Berth first applies the live object as it is (Berth
//! now co-owns every field), then removes Helm's entry from `managedFields` (Berth owns
//! every field alone), then applies its render: server-side apply deletes exactly the
//! fields Berth owned and no longer sends, which are the ones only Helm set. Defaults
//! the API server fills come back by themselves; a Deployment moving to Recreate loses
//! the `rollingUpdate` Helm's create left.
//!
//! PersistentVolumeClaims are data: they get Berth's render applied and nothing else, so
//! the API server never sees a claim's spec change.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Map, Value, json};

use super::{ADOPTED_ANNOTATION, HELM_FIELD_MANAGER, Release};

/// Managers whose claims an adoption removes: Helm's, and the one the API server names
/// for fields set before any manager was recorded.
const DROPPED_MANAGERS: [&str; 2] = [HELM_FIELD_MANAGER, "before-first-apply"];

/// The object after the takeover, and the paths of the fields it removed.
#[derive(Debug)]
pub struct TakenOver {
    pub object: DynamicObject,
    pub removed: Vec<String>,
}

/// Takes over `name` with `body`, Berth's render (kept to the live object's immutable
/// fields here). `params` is Berth's forced apply.
pub async fn take_over(
    api: &Api<DynamicObject>,
    kind: &str,
    name: &str,
    body: &Map<String, Value>,
    release: Release<'_>,
    params: &PatchParams,
) -> Result<TakenOver, kube::Error> {
    let before = api.get(name).await?;
    let before_value = serde_json::to_value(&before).unwrap_or(Value::Null);
    let mut body = body.clone();
    crate::controller::apply::keep_live_fields(kind, &mut body, &before_value);
    shape(kind, &mut body, &before_value, release);
    if kind == "PersistentVolumeClaim" {
        let object = api.patch(name, params, &Patch::Apply(&body)).await?;
        return Ok(TakenOver { object, removed: Vec::new() });
    }
    let owned = api.patch(name, params, &Patch::Apply(&live_copy(&before_value))).await?;
    let kept: Vec<Value> = owned
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|entry| !entry.manager.as_deref().is_some_and(|m| DROPPED_MANAGERS.contains(&m)))
        .filter_map(|entry| serde_json::to_value(entry).ok())
        .collect();
    // The resourceVersion makes the patch hold only if nobody wrote the object between.
    let strip = json!({"metadata": {"resourceVersion": owned.metadata.resource_version, "managedFields": kept}});
    let update = PatchParams { field_manager: params.field_manager.clone(), ..PatchParams::default() };
    api.patch(name, &update, &Patch::Merge(&strip)).await?;
    let object = api.patch(name, params, &Patch::Apply(&body)).await?;
    let removed = removed_paths(&before_value, &serde_json::to_value(&object).unwrap_or(Value::Null));
    Ok(TakenOver { object, removed })
}

/// What every apply to an adopted object adds to the render: the adoption mark, and for
/// a Service the chart's pod selector. The adopted workloads' pods carry the chart's
/// selector labels as well as Berth's (see `apply::keep_live_fields`), so keeping the
/// Service's selector as it was means it selects the old pods and the new ones alike
/// while the workload rolls: no moment with no endpoint.
pub fn shape(kind: &str, body: &mut Map<String, Value>, live: &Value, release: Release<'_>) {
    if let Some(metadata) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        let annotations = metadata.entry("annotations").or_insert_with(|| Value::Object(Map::new()));
        if let Some(annotations) = annotations.as_object_mut() {
            annotations.insert(ADOPTED_ANNOTATION.to_owned(), Value::String(release.mark()));
        }
    }
    if kind == "Service"
        && let Some(selector) = live.pointer("/spec/selector").filter(|s| s.as_object().is_some_and(|m| !m.is_empty()))
        && let Some(spec) = body.get_mut("spec").and_then(Value::as_object_mut)
    {
        spec.insert("selector".to_owned(), selector.clone());
    }
}

/// The live object as a server-side apply body: identity, labels, annotations and every
/// field but status.
fn live_copy(live: &Value) -> Value {
    let mut copy = Map::new();
    let Some(fields) = live.as_object() else { return Value::Object(copy) };
    for (key, value) in fields {
        match key.as_str() {
            "status" => {}
            "metadata" => {
                let mut metadata = Map::new();
                for field in ["name", "namespace", "labels", "annotations"] {
                    if let Some(value) = value.get(field) {
                        metadata.insert(field.to_owned(), value.clone());
                    }
                }
                copy.insert(key.clone(), Value::Object(metadata));
            }
            _ => {
                copy.insert(key.clone(), value.clone());
            }
        }
    }
    Value::Object(copy)
}

/// Metadata the API server keeps for itself: never a removed field.
const SERVER_METADATA: [&str; 6] = ["managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "ownerReferences"];

/// The fields of `before` that `after` no longer has, as dotted paths; list items that
/// carry a name are matched by it (`containers[core].env[FOO]`).
pub fn removed_paths(before: &Value, after: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(before, after, String::new(), &mut out);
    out
}

fn walk(before: &Value, after: &Value, path: String, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(old), Value::Object(new)) => {
            for (key, value) in old {
                if (path.is_empty() && key == "status") || (path == "metadata" && SERVER_METADATA.contains(&key.as_str())) {
                    continue;
                }
                let here = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                match new.get(key) {
                    Some(next) => walk(value, next, here, out),
                    None => out.push(here),
                }
            }
        }
        (Value::Array(old), Value::Array(new)) => {
            let name = |item: &Value| item.get("name").and_then(Value::as_str).map(str::to_owned);
            if !old.iter().all(|item| name(item).is_some()) {
                return;
            }
            for item in old {
                let Some(item_name) = name(item) else { continue };
                let here = format!("{path}[{item_name}]");
                match new.iter().find(|n| name(n).as_deref() == Some(item_name.as_str())) {
                    Some(next) => walk(item, next, here, out),
                    None => out.push(here),
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_fields_are_named_by_path_and_list_items_by_name() {
        let before = json!({
            "metadata": {"name": "h-core", "resourceVersion": "1", "labels": {"chart": "harbor", "app": "harbor"}},
            "spec": {"template": {"spec": {"containers": [{"name": "core", "env": [{"name": "A"}, {"name": "B"}]}]}}},
            "status": {"replicas": 1},
        });
        let after = json!({
            "metadata": {"name": "h-core", "resourceVersion": "2", "labels": {"app": "harbor"}},
            "spec": {"template": {"spec": {"containers": [{"name": "core", "env": [{"name": "A"}]}]}}},
        });
        assert_eq!(removed_paths(&before, &after), ["metadata.labels.chart", "spec.template.spec.containers[core].env[B]"]);
    }

    #[test]
    fn the_live_copy_keeps_every_field_but_status_and_server_metadata() {
        let live = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "s", "namespace": "n", "uid": "u", "labels": {"a": "b"}, "managedFields": []},
            "spec": {"clusterIP": "10.0.0.1"}, "status": {"loadBalancer": {}}});
        assert_eq!(
            live_copy(&live),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "n", "labels": {"a": "b"}},
                   "spec": {"clusterIP": "10.0.0.1"}})
        );
    }

    #[test]
    fn an_adopted_service_keeps_the_charts_selector_and_is_marked() {
        let mut body =
            serde_json::from_value::<Map<String, Value>>(json!({"metadata": {"name": "s"}, "spec": {"selector": {"berth": "x"}}}))
                .unwrap_or_default();
        let live = json!({"spec": {"selector": {"release": "h", "app": "harbor", "component": "core"}}});
        shape("Service", &mut body, &live, Release { name: "h" });
        let body = Value::Object(body);
        assert_eq!(body.pointer("/spec/selector"), live.pointer("/spec/selector"));
        assert_eq!(body.pointer("/metadata/annotations/berth.dev~1adopted-from"), Some(&json!("helm-release/h")));
    }
}
