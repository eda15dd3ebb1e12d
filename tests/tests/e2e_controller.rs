//! The controller (`berth run`) against a real control plane: etcd, kube-apiserver and
//! kube-controller-manager (garbage collector only) started on 127.0.0.1 by the test,
//! envtest convention. The operator runs in-process (`berth_tests::operator`).
//!
//! There is no kubelet and no workload controller: Pods never run and Deployments and
//! StatefulSets never report status unless a test patches it itself (it says so where
//! it does). There is no pvc-protection controller either, so a deleted claim keeps its
//! `kubernetes.io/pvc-protection` finalizer: "deleted" below means gone or terminating.
//!
//! Ignored by default; `make e2e` runs every suite, or this one:
//! `cargo test --workspace --test e2e_controller -- --ignored --test-threads=1`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use berth::HarborCluster;
use berth::catalog::Catalog;
use berth_tests::control_plane::ControlPlane;
use berth_tests::operator::{
    Operator, api_server_requests, apply_deploy_file, eventually, fail, httproute_crd, install_crd, or_panic, service_account_client,
};
use berth_tests::{read_example, shared_catalog};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, Secret};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt as _};
use serde_json::{Value, json};

const NS: &str = "registry";
const NAME: &str = "demo";
/// (kind, name, component) of every object examples/minimal.yaml renders, through the
/// same bundled plugins the operator uses: the suite follows the renderers as they change.
fn minimal_children() -> Vec<(String, String, String)> {
    let rendered = berth_tests::render(shared_catalog(), &read_example("minimal.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let errors: Vec<String> = rendered.errors().map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "minimal.yaml does not render: {errors:?}");
    rendered.objects().iter().map(|o| (o.kind().to_owned(), o.name().to_owned(), o.component.clone())).collect()
}

/// The generated Secrets minimal.yaml needs.
fn generated() -> Vec<String> {
    let rendered = berth_tests::render(shared_catalog(), &read_example("minimal.yaml")).unwrap_or_else(|e| panic!("{e}"));
    rendered.secrets.iter().map(|s| s.name.clone()).collect()
}

/// `<template>-<statefulset>-0` for each volumeClaimTemplate minimal.yaml renders: the
/// claims a StatefulSet controller would make.
fn template_claims() -> Vec<String> {
    let rendered = berth_tests::render(shared_catalog(), &read_example("minimal.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let mut claims = Vec::new();
    for o in rendered.objects().into_iter().filter(|o| o.kind() == "StatefulSet") {
        let templates = o.object.get("spec").and_then(|s| s.get("volumeClaimTemplates")).and_then(Value::as_array);
        for t in templates.into_iter().flatten() {
            if let Some(name) = t.pointer("/metadata/name").and_then(Value::as_str) {
                claims.push(format!("{name}-{}-0", o.name()));
            }
        }
    }
    claims
}

/// A control plane with garbage collection, the HarborCluster CRD served, and the
/// namespace `registry`.
async fn plane() -> Result<(ControlPlane, Client), String> {
    let plane = ControlPlane::start(true).await?;
    let client = plane.client()?;
    install_crd(&client, berth::crd::harbor_cluster_crd_yaml()).await?;
    for ns in [NS, "registry-delete"] {
        let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).map_err(fail("namespace"))?;
        Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &namespace).await.map_err(fail("namespace"))?;
    }
    let clusters: Api<HarborCluster> = Api::all(client.clone());
    eventually("the CRD to be served", || async { clusters.list(&ListParams::default()).await.ok() }).await?;
    Ok((plane, client))
}

/// The operator running, with `minimal` created in `registry` and converged: where most
/// scenarios start.
async fn operator_with_minimal(client: &Client) -> Operator {
    let operator = Operator::start(client, shared_catalog().clone());
    or_panic(create(client, &minimal(NS, &[])).await);
    or_panic(converged(client, NS).await);
    operator
}

fn minimal(namespace: &str, annotations: &[(&str, &str)]) -> HarborCluster {
    let mut cluster = read_example("minimal.yaml");
    cluster.metadata.namespace = Some(namespace.to_owned());
    if !annotations.is_empty() {
        cluster.metadata.annotations = Some(annotations.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect());
    }
    cluster
}

/// The same cluster with `spec.deletionPolicy: Delete`.
fn deleting(mut cluster: HarborCluster) -> HarborCluster {
    cluster.spec.deletion_policy = berth_api::spec::DeletionPolicy::Delete;
    cluster
}

async fn create(client: &Client, cluster: &HarborCluster) -> Result<HarborCluster, String> {
    let namespace = cluster.namespace().unwrap_or_default();
    Api::<HarborCluster>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), cluster)
        .await
        .map_err(fail("creating the HarborCluster"))
}

fn api_for(client: &Client, namespace: &str, kind: &str) -> Result<Api<DynamicObject>, String> {
    let (group, version, plural) = match kind {
        "ConfigMap" => ("", "v1", "configmaps"),
        "Secret" => ("", "v1", "secrets"),
        "Service" => ("", "v1", "services"),
        "PersistentVolumeClaim" => ("", "v1", "persistentvolumeclaims"),
        "Deployment" => ("apps", "v1", "deployments"),
        "StatefulSet" => ("apps", "v1", "statefulsets"),
        other => return Err(format!("no API for {other}")),
    };
    let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
    Ok(Api::namespaced_with(client.clone(), namespace, &kube::api::ApiResource::from_gvk_with_plural(&gvk, plural)))
}

async fn get(client: &Client, namespace: &str, kind: &str, name: &str) -> Result<Option<DynamicObject>, String> {
    api_for(client, namespace, kind)?.get_opt(name).await.map_err(fail("get"))
}

/// resourceVersion of every child (and generated Secret), by (kind, name).
async fn versions(client: &Client, namespace: &str) -> Result<BTreeMap<(String, String), String>, String> {
    let mut out = BTreeMap::new();
    let children = minimal_children().into_iter().map(|(k, n, _)| (k, n)).chain(generated().into_iter().map(|n| ("Secret".to_owned(), n)));
    for (kind, name) in children {
        if let Some(object) = get(client, namespace, &kind, &name).await? {
            out.insert((kind, name), object.resource_version().unwrap_or_default());
        }
    }
    Ok(out)
}

async fn cluster(client: &Client, namespace: &str) -> Result<HarborCluster, String> {
    Api::<HarborCluster>::namespaced(client.clone(), namespace).get(NAME).await.map_err(fail("get HarborCluster"))
}

/// Waits until status describes the current generation and every child exists.
async fn converged(client: &Client, namespace: &str) -> Result<HarborCluster, String> {
    eventually("every child and a current status", || async {
        let hc = cluster(client, namespace).await.ok()?;
        let status = hc.status.as_ref()?;
        if status.observed_generation != hc.metadata.generation {
            return None;
        }
        for (kind, name, _) in minimal_children() {
            get(client, namespace, &kind, &name).await.ok()??;
        }
        Some(hc)
    })
    .await
}

async fn patch_cluster(client: &Client, namespace: &str, patch: Value) -> Result<(), String> {
    Api::<HarborCluster>::namespaced(client.clone(), namespace)
        .patch(NAME, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
        .map_err(fail("patching the HarborCluster"))
}

fn changed(before: &BTreeMap<(String, String), String>, after: &BTreeMap<(String, String), String>) -> Vec<String> {
    let mut out: Vec<String> =
        before.iter().filter(|(k, v)| after.get(*k) != Some(*v)).map(|((kind, name), _)| format!("{kind}/{name}")).collect();
    out.extend(after.keys().filter(|k| !before.contains_key(*k)).map(|(kind, name)| format!("{kind}/{name} (new)")));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn minimal_creates_every_child_with_labels_owner_and_field_manager() {
    let (plane, client) = or_panic(plane().await);
    let operator = Operator::start(&client, shared_catalog().clone());
    let created = or_panic(create(&client, &minimal(NS, &[])).await);
    let hc = or_panic(converged(&client, NS).await);
    let uid = created.uid().unwrap_or_default();

    let children = minimal_children();
    assert!(children.len() > 20, "{children:?}");
    for (kind, name, component) in &children {
        let object = or_panic(get(&client, NS, kind, name).await).unwrap_or_else(|| panic!("{kind}/{name} missing"));
        let labels = object.labels();
        assert_eq!(labels.get("berth.dev/cluster").map(String::as_str), Some(NAME), "{kind}/{name}");
        assert_eq!(labels.get("berth.dev/component"), Some(component), "{kind}/{name}");
        assert_eq!(labels.get("app.kubernetes.io/managed-by").map(String::as_str), Some("berth"), "{kind}/{name}");
        assert!(object.annotations().contains_key("berth.dev/applied-hash"), "{kind}/{name}");
        let managers: Vec<&str> = object.metadata.managed_fields.iter().flatten().filter_map(|m| m.manager.as_deref()).collect();
        assert_eq!(managers, ["berth"], "{kind}/{name}: field managers");
        let owners = object.owner_references();
        if kind == "PersistentVolumeClaim" {
            assert!(owners.is_empty(), "{kind}/{name}: a data claim must have no owner");
        } else {
            assert_eq!(owners.len(), 1, "{kind}/{name}");
            assert_eq!(owners[0].uid, uid);
            assert_eq!(owners[0].controller, Some(true));
            assert_eq!(owners[0].block_owner_deletion, Some(true));
        }
    }
    let generated = generated();
    assert!(generated.len() >= 4, "{generated:?}");
    for name in &generated {
        let secret = or_panic(Api::<Secret>::namespaced(client.clone(), NS).get(name).await.map_err(fail("secret")));
        assert_eq!(secret.immutable, Some(true), "{name}");
        assert!(secret.owner_references().is_empty(), "{name}: a generated Secret must have no owner");
        assert_eq!(secret.labels().get("berth.dev/cluster").map(String::as_str), Some(NAME));
    }

    // No kubelet: workloads report no ready replicas, so the cluster is provisioning.
    let status = hc.status.clone().unwrap_or_default();
    assert_eq!(status.phase.as_deref(), Some("Provisioning"));
    // core, jobservice, portal, registry, trivy, database, redis, expose.
    assert_eq!(status.components.len(), 8, "{:?}", status.components);
    assert_eq!(status.ready_components.as_deref(), Some("0/8"));
    assert_eq!(status.external_url.as_deref(), Some("https://harbor.example.com"));
    assert_eq!(status.version.as_deref(), Some("2.15.1"));
    let types: Vec<&str> = status.conditions.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(types, ["Ready", "Rendered", "Applied", "ComponentsReady", "TLS"]);
    // minimal.yaml: https, no tlsSecret, a ClusterIP nginx: something in front must terminate TLS.
    let tls = status.conditions.iter().find(|c| c.type_ == "TLS").cloned().unwrap_or_default();
    assert_eq!((tls.status.as_str(), tls.reason.as_str()), ("Unknown", "TerminatedOutside"), "{tls:?}");
    for c in &status.components {
        assert!(c.plugin_digest.starts_with("sha256:"), "{c:?}");
        assert!(!c.plugin.is_empty() && !c.plugin_version.is_empty(), "{c:?}");
    }
    assert!(hc.finalizers().iter().any(|f| f == "berth.dev/cleanup"));

    // Readiness: no kubelet, so the test plays the workload controllers and reports
    // every Deployment and StatefulSet ready itself.
    for (kind, name, _) in children.iter().filter(|(k, _, _)| k == "Deployment" || k == "StatefulSet") {
        let patch = json!({"status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1}});
        or_panic(
            or_panic(api_for(&client, NS, kind))
                .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(fail("workload status")),
        );
    }
    let ready = or_panic(
        eventually("phase Ready", || async {
            let hc = cluster(&client, NS).await.ok()?;
            (hc.status.as_ref()?.phase.as_deref() == Some("Ready")).then_some(hc)
        })
        .await,
    );
    let status = ready.status.unwrap_or_default();
    assert_eq!(status.ready_components.as_deref(), Some("8/8"));
    // TLS is Unknown: what terminates it lies outside the render (checked above).
    assert!(status.conditions.iter().filter(|c| c.type_ != "TLS").all(|c| c.status == "True"), "{:?}", status.conditions);

    operator.stop().await;
    drop(plane);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn a_no_op_reconcile_makes_zero_writes() {
    let (_plane, client) = or_panic(plane().await);
    let operator = operator_with_minimal(&client).await;
    or_panic(operator.settle(0).await);

    let before = or_panic(versions(&client, NS).await);
    let status_before = or_panic(cluster(&client, NS).await).status;
    let writes = operator.writes();
    let reconciles = operator.context.metrics.reconciles();
    // An annotation does not change the generation but does trigger a reconcile.
    or_panic(patch_cluster(&client, NS, json!({"metadata": {"annotations": {"touched": "1"}}})).await);
    or_panic(operator.settle(reconciles).await);
    assert!(operator.context.metrics.reconciles() > reconciles, "the touch did not trigger a reconcile");
    assert_eq!(operator.writes(), writes, "writes during a no-op reconcile: {:?}", operator.context.metrics.writes());
    let after = or_panic(versions(&client, NS).await);
    assert_eq!(before.len(), minimal_children().len() + generated().len());
    assert!(changed(&before, &after).is_empty(), "changed: {:?}", changed(&before, &after));
    assert_eq!(or_panic(cluster(&client, NS).await).status, status_before);
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn generated_secrets_stay_identical_across_an_operator_restart() {
    let (_plane, client) = or_panic(plane().await);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let operator = operator_with_minimal(&client).await;
    let mut before = BTreeMap::new();
    for name in generated() {
        let s = or_panic(secrets.get(&name).await.map_err(fail("secret")));
        before.insert(name, (s.resource_version(), s.data.clone()));
    }
    operator.stop().await;

    let operator = Operator::start(&client, shared_catalog().clone());
    or_panic(patch_cluster(&client, NS, json!({"metadata": {"annotations": {"restarted": "1"}}})).await);
    or_panic(operator.settle(0).await);
    for (name, was) in &before {
        let s = or_panic(secrets.get(name).await.map_err(fail("secret")));
        assert_eq!(*was, (s.resource_version(), s.data.clone()), "{name} changed across a restart");
    }
    assert_eq!(operator.context.metrics.writes().get(&("create", "Secret".to_owned())), None);
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn changing_core_replicas_changes_only_the_core_deployment() {
    let (_plane, client) = or_panic(plane().await);
    let operator = operator_with_minimal(&client).await;
    or_panic(operator.settle(0).await);
    let before = or_panic(versions(&client, NS).await);

    or_panic(patch_cluster(&client, NS, json!({"spec": {"core": {"replicas": 2}}})).await);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    or_panic(
        eventually("core at 2 replicas", || async {
            let d = deployments.get("demo-harbor-core").await.ok()?;
            (d.spec?.replicas == Some(2)).then_some(())
        })
        .await,
    );
    or_panic(converged(&client, NS).await);
    or_panic(operator.settle(0).await);
    let after = or_panic(versions(&client, NS).await);
    assert_eq!(changed(&before, &after), ["Deployment/demo-harbor-core"]);
    let status = or_panic(cluster(&client, NS).await).status.unwrap_or_default();
    let core = status.components.iter().find(|c| c.name == "core").unwrap_or_else(|| panic!("no core in status"));
    assert_eq!(core.desired_replicas, 2);
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn disabling_trivy_prunes_its_objects() {
    let (_plane, client) = or_panic(plane().await);
    let operator = operator_with_minimal(&client).await;

    or_panic(patch_cluster(&client, NS, json!({"spec": {"trivy": {"enabled": false}}})).await);
    or_panic(
        eventually("trivy's StatefulSet and Service pruned", || async {
            let sts = get(&client, NS, "StatefulSet", "demo-harbor-trivy").await.ok()?;
            let svc = get(&client, NS, "Service", "demo-harbor-trivy").await.ok()?;
            (sts.is_none() && svc.is_none()).then_some(())
        })
        .await,
    );
    let hc = or_panic(converged_without_trivy(&client).await);
    let status = hc.status.unwrap_or_default();
    assert!(status.components.iter().all(|c| c.name != "trivy"));
    assert_eq!(status.components.len(), 7);
    // Nothing else went with it.
    for (kind, name, _) in minimal_children().iter().filter(|(_, _, c)| c != "trivy") {
        assert!(or_panic(get(&client, NS, kind, name).await).is_some(), "{kind}/{name} was pruned");
    }
    operator.stop().await;
}

async fn converged_without_trivy(client: &Client) -> Result<HarborCluster, String> {
    eventually("status for the new generation", || async {
        let hc = cluster(client, NS).await.ok()?;
        (hc.status.as_ref()?.observed_generation == hc.metadata.generation).then_some(hc)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn a_component_without_its_plugin_fails_alone_and_keeps_its_objects() {
    let (_plane, client) = or_panic(plane().await);
    let operator = operator_with_minimal(&client).await;
    operator.stop().await;

    // The same operator with trivy's plugin missing: trivy fails, the rest reconciles.
    let mut partial = Catalog::default();
    for plugin in shared_catalog().plugins().filter(|p| p.description().component != "trivy") {
        or_panic(partial.insert(plugin.clone()).map_err(fail("catalog")));
    }
    let operator = Operator::start(&client, partial);
    or_panic(patch_cluster(&client, NS, json!({"spec": {"core": {"replicas": 2}}})).await);
    let hc = or_panic(
        eventually("phase Degraded", || async {
            let hc = cluster(&client, NS).await.ok()?;
            let status = hc.status.as_ref()?;
            (status.phase.as_deref() == Some("Degraded") && status.observed_generation == hc.metadata.generation).then_some(hc)
        })
        .await,
    );
    let status = hc.status.unwrap_or_default();
    let trivy = status.components.iter().find(|c| c.name == "trivy").unwrap_or_else(|| panic!("no trivy in status"));
    assert!(!trivy.ready);
    assert!(trivy.message.as_deref().unwrap_or_default().contains("trivy"), "{trivy:?}");
    let rendered = status.conditions.iter().find(|c| c.type_ == "Rendered").unwrap_or_else(|| panic!("no Rendered"));
    assert_eq!((rendered.status.as_str(), rendered.reason.as_str()), ("False", "RenderFailed"));
    // The others still applied (core scaled), and trivy's objects were not pruned.
    let core = or_panic(get(&client, NS, "Deployment", "demo-harbor-core").await).unwrap_or_else(|| panic!("no core"));
    assert_eq!(core.data.pointer("/spec/replicas"), Some(&json!(2)));
    assert!(or_panic(get(&client, NS, "StatefulSet", "demo-harbor-trivy").await).is_some());
    assert!(or_panic(get(&client, NS, "Service", "demo-harbor-trivy").await).is_some());
    // And an Event names it.
    let events: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        NS,
        &kube::api::ApiResource::from_gvk_with_plural(&kube::api::GroupVersionKind::gvk("events.k8s.io", "v1", "Event"), "events"),
    );
    let found = or_panic(
        eventually("a RenderFailed Event", || async {
            let list = events.list(&ListParams::default()).await.ok()?;
            list.items.into_iter().find(|e| e.data.get("reason") == Some(&json!("RenderFailed")))
        })
        .await,
    );
    assert!(found.data.get("note").and_then(Value::as_str).unwrap_or_default().contains("trivy"));
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn an_invalid_spec_is_named_in_status() {
    let (_plane, client) = or_panic(plane().await);
    let operator = Operator::start(&client, shared_catalog().clone());
    let mut hc = minimal(NS, &[]);
    hc.spec.version = "2.10.0".to_owned();
    or_panic(create(&client, &hc).await);
    let hc = or_panic(
        eventually("phase Failed", || async {
            let hc = cluster(&client, NS).await.ok()?;
            (hc.status.as_ref()?.phase.as_deref() == Some("Failed")).then_some(hc)
        })
        .await,
    );
    let status = hc.status.unwrap_or_default();
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready").unwrap_or_else(|| panic!("no Ready"));
    assert_eq!(ready.reason, "InvalidSpec");
    assert!(ready.message.contains("spec.version"), "{ready:?}");
    assert!(or_panic(get(&client, NS, "Deployment", "demo-harbor-core").await).is_none());
    operator.stop().await;
}

/// Deleting under Retain: the garbage collector removes the children; the data claims
/// and generated Secrets stay. Under `spec.deletionPolicy: Delete` they go too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn deletion_keeps_data_under_retain_and_removes_it_under_delete() {
    let (_plane, client) = or_panic(plane().await);
    let operator = Operator::start(&client, shared_catalog().clone());
    let delete_ns = "registry-delete";
    or_panic(create(&client, &minimal(NS, &[])).await);
    or_panic(create(&client, &deleting(minimal(delete_ns, &[]))).await);
    or_panic(converged(&client, NS).await);
    or_panic(converged(&client, delete_ns).await);

    // No StatefulSet controller runs: make the claims the volumeClaimTemplates would
    // have produced, so cleanup's ordinal-claim matching is exercised.
    let template_claims = template_claims();
    assert!(!template_claims.is_empty());
    for (ns, claim) in [NS, delete_ns].into_iter().flat_map(|ns| template_claims.iter().map(move |c| (ns, c))) {
        let claim: PersistentVolumeClaim = or_panic(
            serde_json::from_value(json!({
                "metadata": {"name": claim},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
            }))
            .map_err(fail("claim")),
        );
        or_panic(
            Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns)
                .create(&PostParams::default(), &claim)
                .await
                .map_err(fail("claim")),
        );
    }

    for ns in [NS, delete_ns] {
        or_panic(
            Api::<HarborCluster>::namespaced(client.clone(), ns)
                .delete(NAME, &DeleteParams::default())
                .await
                .map_err(fail("deleting the HarborCluster")),
        );
    }
    for ns in [NS, delete_ns] {
        let clusters: Api<HarborCluster> = Api::namespaced(client.clone(), ns);
        or_panic(eventually("the HarborCluster gone", || async { matches!(clusters.get_opt(NAME).await, Ok(None)).then_some(()) }).await);
        // The garbage collector (kube-controller-manager) removes owned children.
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
        let statefulsets: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
        or_panic(
            eventually("children garbage-collected", || async {
                let d = deployments.list(&ListParams::default()).await.ok()?;
                let s = statefulsets.list(&ListParams::default()).await.ok()?;
                (d.items.is_empty() && s.items.is_empty()).then_some(())
            })
            .await,
        );
    }

    let mut claims: Vec<String> =
        minimal_children().into_iter().filter(|(k, _, _)| k == "PersistentVolumeClaim").map(|(_, n, _)| n).collect();
    claims.extend(template_claims);
    // Retain: every claim and generated Secret is there, untouched.
    for claim in &claims {
        let c = or_panic(Api::<PersistentVolumeClaim>::namespaced(client.clone(), NS).get_opt(claim).await.map_err(fail("claim")));
        let c = c.unwrap_or_else(|| panic!("Retain lost claim {claim}"));
        assert!(c.metadata.deletion_timestamp.is_none(), "Retain is deleting claim {claim}");
    }
    for name in &generated() {
        assert!(
            or_panic(Api::<Secret>::namespaced(client.clone(), NS).get_opt(name).await.map_err(fail("secret"))).is_some(),
            "Retain lost Secret {name}"
        );
    }
    // Delete: claims gone or terminating (no pvc-protection controller runs here to
    // drop their finalizer), generated Secrets gone.
    for claim in &claims {
        let c = or_panic(Api::<PersistentVolumeClaim>::namespaced(client.clone(), delete_ns).get_opt(claim).await.map_err(fail("claim")));
        assert!(c.is_none_or(|c| c.metadata.deletion_timestamp.is_some()), "Delete kept claim {claim}");
    }
    for name in &generated() {
        assert!(
            or_panic(Api::<Secret>::namespaced(client.clone(), delete_ns).get_opt(name).await.map_err(fail("secret"))).is_none(),
            "Delete kept Secret {name}"
        );
    }
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn changing_a_config_value_updates_the_configmap_and_the_pod_template_checksum() {
    let (_plane, client) = or_panic(plane().await);
    let operator = operator_with_minimal(&client).await;
    let checksum =
        |d: &DynamicObject| d.data.pointer("/spec/template/metadata/annotations/configmap.checksum.berth.dev~1demo-harbor-core").cloned();
    let core = or_panic(get(&client, NS, "Deployment", "demo-harbor-core").await).unwrap_or_else(|| panic!("no core"));
    let before = checksum(&core);
    assert!(before.is_some(), "core's pod template has no checksum of its ConfigMap");

    or_panic(patch_cluster(&client, NS, json!({"spec": {"logLevel": "debug"}})).await);
    or_panic(
        eventually("core's ConfigMap at debug", || async {
            let cm = get(&client, NS, "ConfigMap", "demo-harbor-core").await.ok()??;
            (cm.data.pointer("/data/LOG_LEVEL") == Some(&json!("debug"))).then_some(())
        })
        .await,
    );
    let after = or_panic(
        eventually("a new checksum on core's pod template", || async {
            let core = get(&client, NS, "Deployment", "demo-harbor-core").await.ok()??;
            let now = checksum(&core);
            (now != before).then_some(now)
        })
        .await,
    );
    assert!(after.is_some());
    operator.stop().await;
}

/// The operator killed (task aborted, no graceful shutdown) while it creates the cluster,
/// then started again: it converges, and no Secret it had already created is replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn killed_mid_reconcile_the_operator_converges_with_secrets_unchanged() {
    let (_plane, client) = or_panic(plane().await);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let operator = Operator::start(&client, shared_catalog().clone());
    or_panic(create(&client, &minimal(NS, &[])).await);
    // Kill it as soon as it has created its first Secret.
    or_panic(
        eventually("the first generated Secret", || async {
            (operator.context.metrics.writes().get(&("create", "Secret".to_owned())).copied().unwrap_or(0) > 0).then_some(())
        })
        .await,
    );
    operator.kill();
    let mut before = BTreeMap::new();
    for name in generated() {
        if let Some(s) = or_panic(secrets.get_opt(&name).await.map_err(fail("secret"))) {
            before.insert(name, (s.resource_version(), s.data.clone()));
        }
    }
    assert!(!before.is_empty());

    let operator = Operator::start(&client, shared_catalog().clone());
    or_panic(converged(&client, NS).await);
    or_panic(operator.settle(0).await);
    for (name, was) in &before {
        let s = or_panic(secrets.get(name).await.map_err(fail("secret")));
        assert_eq!(*was, (s.resource_version(), s.data.clone()), "{name} was replaced after the kill");
    }
    for name in generated() {
        assert!(or_panic(secrets.get_opt(&name).await.map_err(fail("secret"))).is_some(), "{name} missing");
    }
    operator.stop().await;
}

/// A client that acts as the operator's ServiceAccount from deploy/rbac.yaml.
/// The whole lifecycle under deploy/rbac.yaml's ServiceAccount: whatever the operator
/// needs beyond the ClusterRole shows up as a reconcile that never converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn the_deploy_rbac_is_enough_for_the_whole_lifecycle() {
    let (plane, admin) = or_panic(plane().await);
    or_panic(apply_deploy_file(&admin, "namespace.yaml").await);
    or_panic(apply_deploy_file(&admin, "rbac.yaml").await);
    let client = or_panic(service_account_client(&plane).await);
    let operator = Operator::start(&client, shared_catalog().clone());

    or_panic(create(&admin, &deleting(minimal(NS, &[]))).await);
    if let Err(e) = converged(&admin, NS).await {
        let status = cluster(&admin, NS).await.ok().and_then(|hc| hc.status);
        panic!("{e}\nstatus: {status:#?}\nfailures: {:?}", operator.context.metrics.failures());
    }
    // Prune (delete verbs), then delete the cluster (cleanup under Delete).
    or_panic(patch_cluster(&admin, NS, json!({"spec": {"trivy": {"enabled": false}}})).await);
    or_panic(
        eventually("trivy pruned", || async { get(&admin, NS, "StatefulSet", "demo-harbor-trivy").await.ok()?.is_none().then_some(()) })
            .await,
    );
    or_panic(
        Api::<HarborCluster>::namespaced(admin.clone(), NS)
            .delete(NAME, &DeleteParams::default())
            .await
            .map_err(fail("deleting the HarborCluster")),
    );
    let clusters: Api<HarborCluster> = Api::namespaced(admin.clone(), NS);
    or_panic(eventually("the HarborCluster gone", || async { matches!(clusters.get_opt(NAME).await, Ok(None)).then_some(()) }).await);
    for name in generated() {
        assert!(
            or_panic(Api::<Secret>::namespaced(admin.clone(), NS).get_opt(&name).await.map_err(fail("secret"))).is_none(),
            "{name} survived a Delete"
        );
    }
    // Events were published as the ServiceAccount.
    let events: Api<DynamicObject> = Api::namespaced_with(
        admin.clone(),
        NS,
        &kube::api::ApiResource::from_gvk_with_plural(&kube::api::GroupVersionKind::gvk("events.k8s.io", "v1", "Event"), "events"),
    );
    let reasons: Vec<String> = or_panic(events.list(&ListParams::default()).await.map_err(fail("events")))
        .items
        .iter()
        .filter_map(|e| e.data.get("reason").and_then(Value::as_str).map(str::to_owned))
        .collect();
    for reason in ["SecretsCreated", "Pruned", "DataDeleted"] {
        assert!(reasons.iter().any(|r| r == reason), "no {reason} Event in {reasons:?}");
    }
    assert!(operator.context.metrics.failures().is_empty(), "reconcile failures: {:?}", operator.context.metrics.failures());
    operator.stop().await;
}

/// A change someone else makes to a child's spec is put back (the owned watch triggers a
/// reconcile, and the object's generation moved since Berth applied it), while status
/// updates of the same workload cause no write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn drift_in_a_child_is_reverted() {
    let (_plane, client) = or_panic(plane().await);
    let operator = operator_with_minimal(&client).await;
    or_panic(operator.settle(0).await);

    // A workload status update (what the Deployment controller would write) is no drift.
    let writes = operator.writes();
    let reconciles = operator.context.metrics.reconciles();
    let deployments = or_panic(api_for(&client, NS, "Deployment"));
    let status = json!({"status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1}});
    or_panic(deployments.patch_status("demo-harbor-portal", &PatchParams::default(), &Patch::Merge(&status)).await.map_err(fail("status")));
    or_panic(operator.settle(reconciles).await);
    let status_writes = operator.context.metrics.writes().get(&("patch", "HarborCluster/status".to_owned())).copied();
    let extra = operator.writes() - writes;
    // Only the HarborCluster's status may change (portal's ready replicas).
    assert!(
        extra <= 1,
        "a status update of a child caused writes: {:?} (status writes {status_writes:?})",
        operator.context.metrics.writes()
    );

    // Spec drift: someone scales core by hand and edits its ConfigMap.
    or_panic(
        deployments
            .patch("demo-harbor-core", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"replicas": 5}})))
            .await
            .map_err(fail("scale")),
    );
    or_panic(
        or_panic(api_for(&client, NS, "ConfigMap"))
            .patch("demo-harbor-core", &PatchParams::default(), &Patch::Merge(&json!({"data": {"LOG_LEVEL": "hacked"}})))
            .await
            .map_err(fail("configmap")),
    );
    or_panic(
        eventually("core back at 1 replica and its ConfigMap restored", || async {
            let core = get(&client, NS, "Deployment", "demo-harbor-core").await.ok()??;
            let cm = get(&client, NS, "ConfigMap", "demo-harbor-core").await.ok()??;
            (core.data.pointer("/spec/replicas") == Some(&json!(1)) && cm.data.pointer("/data/LOG_LEVEL") == Some(&json!("info")))
                .then_some(())
        })
        .await,
    );
    operator.stop().await;
}

/// Figures, not assertions on time: one HarborCluster from nothing to fully applied
/// (writes by verb and kind, wall time), then a no-op reconcile (writes: must be 0).
/// Run with `--nocapture` to see them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn benchmark_one_cluster_from_nothing_and_a_no_op_reconcile() {
    let (_plane, client) = or_panic(plane().await);
    let operator = Operator::start(&client, shared_catalog().clone());
    // Let the controller's watches start before the clock does.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = Instant::now();
    or_panic(create(&client, &minimal(NS, &[])).await);
    or_panic(converged(&client, NS).await);
    let applied_in = started.elapsed();
    or_panic(operator.settle(0).await);
    let first = operator.context.metrics.writes();
    let reconciles = operator.context.metrics.reconciles();
    println!("from nothing to applied: {applied_in:?} (debug build), {reconciles} reconciles, {} writes:", operator.writes());
    for ((verb, kind), n) in &first {
        println!("  {verb:6} {kind:28} {n}");
    }
    let writes = operator.writes();
    let started = Instant::now();
    or_panic(patch_cluster(&client, NS, json!({"metadata": {"annotations": {"bench": "1"}}})).await);
    or_panic(operator.settle(reconciles).await);
    let noop = operator.writes() - writes;
    println!(
        "no-op reconcile: {} reconcile(s), {noop} writes (settled in {:?}, including the 3 s quiet period)",
        operator.context.metrics.reconciles() - reconciles,
        started.elapsed()
    );
    println!("{}", operator.context.metrics.prometheus_text());
    assert_eq!(noop, 0);
    operator.stop().await;
}

/// Two HarborClusters in one namespace both render the expose Service "harbor" by
/// default. The second must not take it over (each apply would wake the other, for
/// ever): its expose component fails, naming the owner and the fix, and the first keeps
/// its Service untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn a_second_cluster_never_takes_over_the_firsts_objects() {
    let (_plane, client) = or_panic(plane().await);
    let operator = Operator::start(&client, berth_tests::bundled_catalog(&berth_tests::sandbox()));
    or_panic(create(&client, &minimal(NS, &[])).await);
    or_panic(converged(&client, NS).await);
    let services: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(client.clone(), NS);
    let before = or_panic(services.get("harbor").await.map_err(fail("the expose Service")));

    let mut second = minimal(NS, &[]);
    second.metadata.name = Some("second".to_owned());
    or_panic(create(&client, &second).await);
    let clusters: Api<HarborCluster> = Api::namespaced(client.clone(), NS);
    let message = or_panic(
        eventually("the second cluster's expose to fail", || async {
            let status = clusters.get("second").await.ok()?.status?;
            status.components.into_iter().find(|c| c.name == "expose")?.message.filter(|m| m.contains("already belongs"))
        })
        .await,
    );
    assert!(message.contains("HarborCluster demo") && message.contains("spec.expose.service.name"), "{message}");
    // The rest of the second cluster applied; the first's Service was never touched.
    assert!(or_panic(get(&client, NS, "Deployment", "second-harbor-core").await).is_some());
    or_panic(operator.settle(operator.context.metrics.reconciles()).await);
    let after = or_panic(services.get("harbor").await.map_err(fail("the expose Service")));
    assert_eq!(before.resource_version(), after.resource_version());
    assert_eq!(after.labels().get("berth.dev/cluster").map(String::as_str), Some(NAME));
    operator.stop().await;
}

/// A reconcile reads the cluster's children from the watch caches, not with a LIST per
/// kind: the API server sees no LIST from a reconcile that finds nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn a_reconcile_reads_children_from_the_watch_caches() {
    let (_plane, client) = or_panic(plane().await);
    let operator = operator_with_minimal(&client).await;
    or_panic(operator.settle(0).await);
    let lists = |m: std::collections::BTreeMap<String, f64>| -> f64 {
        m.iter().filter(|(what, _)| what.starts_with("LIST ") && !what.contains("harborclusters")).map(|(_, n)| n).sum()
    };
    let before = lists(or_panic(api_server_requests(&client, "apiserver_request_total").await));
    let reconciles = operator.context.metrics.reconciles();
    // An annotation wakes the controller without changing the spec.
    or_panic(patch_cluster(&client, NS, json!({"metadata": {"annotations": {"berth.dev/test-nudge": "1"}}})).await);
    or_panic(operator.settle(reconciles).await);
    let after = lists(or_panic(api_server_requests(&client, "apiserver_request_total").await));
    assert_eq!(after, before, "a reconcile LISTed children");
    operator.stop().await;
}

/// The Gateway API installed after the operator started: HTTPRoutes get a watch cache
/// without a restart, so a deleted route is put back at once (the periodic resync is
/// ten minutes away).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn a_kind_served_after_start_is_watched_without_a_restart() {
    let (_plane, client) = or_panic(plane().await);
    let operator = Operator::start(&client, shared_catalog().clone());
    or_panic(install_crd(&client, Ok(httproute_crd().to_string())).await);
    let httproute = or_panic(
        berth::controller::resources::child_kind("gateway.networking.k8s.io/v1", "HTTPRoute")
            .ok_or_else(|| "HTTPRoute is no child kind".to_owned()),
    );
    or_panic(
        eventually("the operator to watch HTTPRoutes", || async {
            operator.context.child_caches(NS)?.kind(httproute)?.index.is_ready().then_some(())
        })
        .await,
    );

    let mut gateway = read_example("gateway.yaml");
    gateway.metadata.namespace = Some(NS.to_owned());
    or_panic(create(&client, &gateway).await);
    let routes = httproute.api(&client, NS);
    let mine = ListParams::default().labels("berth.dev/cluster=team-a");
    let first = or_panic(eventually("the HTTPRoute applied", || async { routes.list(&mine).await.ok()?.items.into_iter().next() }).await);
    let (name, uid) = (first.name_any(), first.uid());
    or_panic(routes.delete(&name, &DeleteParams::default()).await.map_err(fail("deleting the HTTPRoute")));
    or_panic(
        eventually("the HTTPRoute put back", || async { routes.get_opt(&name).await.ok()?.filter(|r| r.uid() != uid).map(drop) }).await,
    );
    operator.stop().await;
}

/// A Deployment created as RollingUpdate carries the API server's defaulted
/// `strategy.rollingUpdate`, which no server-side apply of ours owns or can remove: the
/// switch to Recreate (here jobservice's move to the file job logger on a ReadWriteOnce
/// claim) must clear it, or the apply is refused for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn a_deployment_switched_to_recreate_drops_its_rolling_update() {
    let (_plane, client) = or_panic(plane().await);
    let operator = Operator::start(&client, shared_catalog().clone());
    let mut cluster = minimal(NS, &[]);
    cluster.spec.jobservice.job_loggers = vec![berth_api::spec::JobLogger::Database];
    or_panic(create(&client, &cluster).await);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let strategy = || async {
        let spec = deployments.get("demo-harbor-jobservice").await.ok()?.spec?;
        let strategy = spec.strategy?;
        Some((strategy.type_.unwrap_or_default(), strategy.rolling_update.is_some()))
    };
    let rolling =
        or_panic(eventually("jobservice as RollingUpdate", || async { strategy().await.filter(|s| s.0 == "RollingUpdate") }).await);
    assert!(rolling.1, "the API server defaults rollingUpdate: {rolling:?}");

    or_panic(patch_cluster(&client, NS, json!({"spec": {"jobservice": {"jobLoggers": ["file"]}}})).await);
    let recreate = or_panic(eventually("jobservice as Recreate", || async { strategy().await.filter(|s| s.0 == "Recreate") }).await);
    assert!(!recreate.1, "rollingUpdate cleared: {recreate:?}");
    let hc = or_panic(converged(&client, NS).await);
    let jobservice = hc.status.unwrap_or_default().components.into_iter().find(|c| c.name == "jobservice");
    assert!(jobservice.is_some_and(|c| c.message.is_none_or(|m| !m.contains("rollingUpdate"))), "no apply error left");
    operator.stop().await;
}
