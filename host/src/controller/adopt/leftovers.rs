//! The chart's objects Berth does not render (an empty `<fullname>-registryctl`
//! ConfigMap and Secret, `<fullname>-exporter` and `<fullname>-trivy` Secrets): removed
//! only after every component applied, and each only once no pod, and no workload that
//! still runs pods, reads it. The chart's claims and any other kind are left in place
//! and listed: Berth deletes no data and nothing outside the namespace's pods may read.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use kube::api::{Api, DeleteParams, ListParams, Preconditions};
use serde_json::Value;

use super::Release;
use crate::controller::Context;
use crate::controller::resources::CHILD_KINDS;
use crate::render::CLUSTER_LABEL;

/// What one sweep found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    /// "Kind/name" deleted now.
    pub removed: Vec<String>,
    /// "Kind/name (read by ...)" still read, removed by a later sweep.
    pub waiting: Vec<String>,
    /// "Kind/name": chart objects Berth leaves where they are.
    pub kept: Vec<String>,
}

/// The kinds a sweep deletes: configuration nothing but pods reads.
const REMOVABLE: [&str; 2] = ["Secret", "ConfigMap"];

/// Finds the release's objects that are not Berth's and not rendered (`rendered` holds
/// (kind, name) of every rendered object), and removes the unread ones.
pub async fn sweep(
    ctx: &Context,
    namespace: &str,
    release: Release<'_>,
    rendered: &BTreeSet<(String, String)>,
) -> Result<Sweep, kube::Error> {
    let params = ListParams::default().labels(&release.selector());
    let mut candidates = Vec::new();
    for kind in CHILD_KINDS {
        let list = match kind.api(&ctx.client, namespace).list(&params).await {
            Ok(list) => list,
            Err(kube::Error::Api(status)) if status.code == 404 => continue,
            Err(e) => return Err(e),
        };
        for object in list.items {
            let name = object.metadata.name.clone().unwrap_or_default();
            let ours = object.metadata.labels.as_ref().is_some_and(|l| l.contains_key(CLUSTER_LABEL));
            if ours || rendered.contains(&(kind.kind.to_owned(), name.clone())) {
                continue;
            }
            candidates.push((kind, name, object.metadata.uid.clone()));
        }
    }
    let mut sweep = Sweep::default();
    if candidates.is_empty() {
        return Ok(sweep);
    }
    let readers = readers(ctx, namespace).await?;
    for (kind, name, uid) in candidates {
        let label = format!("{}/{name}", kind.kind);
        if !REMOVABLE.contains(&kind.kind) {
            sweep.kept.push(label);
            continue;
        }
        if let Some(reader) = readers.get(&(kind.kind, name.clone())) {
            sweep.waiting.push(format!("{label} (read by {reader})"));
            continue;
        }
        let delete = DeleteParams { preconditions: Some(Preconditions { uid, resource_version: None }), ..DeleteParams::background() };
        ctx.metrics.write("delete", kind.kind);
        match kind.api(&ctx.client, namespace).delete(&name, &delete).await {
            Ok(_) => sweep.removed.push(label),
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(sweep)
}

/// (kind, name) of every Secret and ConfigMap a pod of the namespace reads, or a
/// Deployment, StatefulSet or ReplicaSet that runs pods would, with one reader's name.
async fn readers(ctx: &Context, namespace: &str) -> Result<BTreeMap<(&'static str, String), String>, kube::Error> {
    let mut read = BTreeMap::new();
    let all = ListParams::default();
    for pod in Api::<Pod>::namespaced(ctx.client.clone(), namespace).list(&all).await?.items {
        let spec = serde_json::to_value(&pod.spec).unwrap_or(Value::Null);
        note(&mut read, &spec, &format!("Pod/{}", pod.metadata.name.unwrap_or_default()));
    }
    let mut templates: Vec<(String, Option<PodTemplateSpec>)> = Vec::new();
    for d in Api::<Deployment>::namespaced(ctx.client.clone(), namespace).list(&all).await?.items {
        let running = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1) > 0;
        templates.extend(running.then(|| (format!("Deployment/{}", d.metadata.name.unwrap_or_default()), d.spec.map(|s| s.template))));
    }
    for s in Api::<StatefulSet>::namespaced(ctx.client.clone(), namespace).list(&all).await?.items {
        let running = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1) > 0;
        templates.extend(running.then(|| (format!("StatefulSet/{}", s.metadata.name.unwrap_or_default()), s.spec.map(|s| s.template))));
    }
    for r in Api::<ReplicaSet>::namespaced(ctx.client.clone(), namespace).list(&all).await?.items {
        // A rolled-over ReplicaSet keeps the old template at zero replicas: no reader.
        let running = r.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1) > 0;
        templates.extend(running.then(|| (format!("ReplicaSet/{}", r.metadata.name.unwrap_or_default()), r.spec.and_then(|s| s.template))));
    }
    for (reader, template) in templates {
        let spec = template.and_then(|t| t.spec).map(|s| serde_json::to_value(s).unwrap_or(Value::Null)).unwrap_or(Value::Null);
        note(&mut read, &spec, &reader);
    }
    Ok(read)
}

fn note(read: &mut BTreeMap<(&'static str, String), String>, pod_spec: &Value, reader: &str) {
    let mut found = Vec::new();
    references(pod_spec, &mut found);
    for reference in found {
        read.entry(reference).or_insert_with(|| reader.to_owned());
    }
}

/// Every Secret and ConfigMap a pod spec names: volumes (projected ones too), `envFrom`,
/// `env[].valueFrom` and image pull secrets.
pub fn references(value: &Value, out: &mut Vec<(&'static str, String)>) {
    match value {
        Value::Object(fields) => {
            for (key, inner) in fields {
                let name = || inner.get("name").and_then(Value::as_str).map(str::to_owned);
                match key.as_str() {
                    "secretName" => out.extend(inner.as_str().map(|n| ("Secret", n.to_owned()))),
                    "secretRef" | "secretKeyRef" => out.extend(name().map(|n| ("Secret", n))),
                    "configMap" | "configMapRef" | "configMapKeyRef" => out.extend(name().map(|n| ("ConfigMap", n))),
                    // A projected volume's source is `secret: {name}`; a plain volume's is
                    // `secret: {secretName}`, caught above.
                    "secret" => out.extend(name().map(|n| ("Secret", n))),
                    "imagePullSecrets" => out.extend(
                        inner.as_array().into_iter().flatten().filter_map(|s| s.get("name")?.as_str()).map(|n| ("Secret", n.to_owned())),
                    ),
                    _ => {}
                }
                references(inner, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| references(item, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_way_a_pod_reads_a_secret_or_config_map_is_found() {
        let spec = json!({
            "volumes": [
                {"name": "a", "secret": {"secretName": "vol-secret"}},
                {"name": "b", "configMap": {"name": "vol-cm"}},
                {"name": "c", "projected": {"sources": [{"secret": {"name": "proj-secret"}}, {"configMap": {"name": "proj-cm"}}]}},
            ],
            "containers": [{"name": "x",
                "envFrom": [{"secretRef": {"name": "from-secret"}}, {"configMapRef": {"name": "from-cm"}}],
                "env": [{"name": "E", "valueFrom": {"secretKeyRef": {"name": "key-secret", "key": "k"}}},
                        {"name": "F", "valueFrom": {"configMapKeyRef": {"name": "key-cm", "key": "k"}}}]}],
            "imagePullSecrets": [{"name": "pull"}],
        });
        let mut found = Vec::new();
        references(&spec, &mut found);
        found.sort();
        let expected: Vec<(&str, String)> = [
            ("ConfigMap", "from-cm"),
            ("ConfigMap", "key-cm"),
            ("ConfigMap", "proj-cm"),
            ("ConfigMap", "vol-cm"),
            ("Secret", "from-secret"),
            ("Secret", "key-secret"),
            ("Secret", "proj-secret"),
            ("Secret", "pull"),
            ("Secret", "vol-secret"),
        ]
        .into_iter()
        .map(|(k, n)| (k, n.to_owned()))
        .collect();
        assert_eq!(found, expected);
    }
}
