//! The render cache on a real control plane: a settled cluster's reconcile calls no
//! plugin and writes nothing, and each input of a render, changed on its own, makes the
//! next reconcile render again: the spec, the plugin snapshot, a generated Secret
//! changed by hand, and a child edited by someone else.
//!
//! Ignored by default; `make e2e` runs every suite, or this one:
//! `cargo test --workspace --test e2e_render_cache -- --ignored --test-threads=1`.

use berth::HarborCluster;
use berth::policy::Snapshot;
use berth_tests::control_plane::ControlPlane;
use berth_tests::operator::{Operator, eventually, fail, or_panic, plane_with_clusters};
use berth_tests::policies::{PORTAL_NEXT, digest_of, plugin_bytes};
use berth_tests::{catalog_with_portal, read_example, shared_catalog, shared_sandbox};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt as _};
use serde_json::json;

const NS: &str = "registry";
const NAME: &str = "demo";

async fn plane() -> Result<(ControlPlane, Client), String> {
    plane_with_clusters(false, &[NS]).await
}

fn clusters(client: &Client) -> Api<HarborCluster> {
    Api::namespaced(client.clone(), NS)
}

/// The operator with examples/minimal.yaml created and converged, then settled: its
/// last reconcile found nothing to do.
async fn settled_minimal(client: &Client) -> Result<Operator, String> {
    let operator = Operator::start(client, shared_catalog().clone());
    let mut cluster = read_example("minimal.yaml");
    cluster.metadata.namespace = Some(NS.to_owned());
    clusters(client).create(&PostParams::default(), &cluster).await.map_err(fail("creating the HarborCluster"))?;
    eventually("a status of the current generation", || async {
        let hc = clusters(client).get(NAME).await.ok()?;
        (hc.status?.observed_generation == hc.metadata.generation).then_some(())
    })
    .await?;
    operator.settle(0).await?;
    // Settled means the cache holds the cluster: a touch now skips the render.
    let skipped = operator.context.metrics.renders_skipped();
    touch(client, "settle").await?;
    eventually("a reconcile that skips the render", || async { (operator.context.metrics.renders_skipped() > skipped).then_some(()) })
        .await?;
    Ok(operator)
}

/// An annotation: a reconcile with no input of the render changed.
async fn touch(client: &Client, value: &str) -> Result<(), String> {
    let patch = json!({"metadata": {"annotations": {"touched": value}}});
    clusters(client).patch(NAME, &PatchParams::default(), &Patch::Merge(&patch)).await.map(drop).map_err(fail("touching"))
}

/// Waits for a reconcile that renders, counted from `renders`.
async fn rendered_again(operator: &Operator, renders: u64, what: &str) -> Result<(), String> {
    eventually(what, || async { (operator.context.metrics.renders() > renders).then_some(()) }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS)"]
async fn a_settled_cluster_reconciles_without_a_plugin_or_a_write() {
    let (_plane, client) = or_panic(plane().await);
    let operator = or_panic(settled_minimal(&client).await);
    let (renders, writes, skipped) = (operator.context.metrics.renders(), operator.writes(), operator.context.metrics.renders_skipped());
    let status = or_panic(clusters(&client).get(NAME).await.map_err(fail("get"))).status;
    or_panic(touch(&client, "again").await);
    or_panic(
        eventually("a second skipped render", || async { (operator.context.metrics.renders_skipped() > skipped).then_some(()) }).await,
    );
    or_panic(operator.settle(0).await);
    assert_eq!(operator.context.metrics.renders(), renders, "a settled cluster rendered");
    assert_eq!(operator.writes(), writes, "a settled cluster wrote: {:?}", operator.context.metrics.writes());
    // The status the skip computes from the live objects is the one the render wrote.
    assert_eq!(or_panic(clusters(&client).get(NAME).await.map_err(fail("get"))).status, status);
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS)"]
async fn a_spec_change_renders_again() {
    let (_plane, client) = or_panic(plane().await);
    let operator = or_panic(settled_minimal(&client).await);
    let renders = operator.context.metrics.renders();
    let patch = json!({"spec": {"core": {"replicas": 2}}});
    or_panic(clusters(&client).patch(NAME, &PatchParams::default(), &Patch::Merge(&patch)).await.map(drop).map_err(fail("patch")));
    or_panic(rendered_again(&operator, renders, "a render of the new spec").await);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    or_panic(
        eventually("core at 2 replicas", || async {
            (deployments.get("demo-harbor-core").await.ok()?.spec?.replicas == Some(2)).then_some(())
        })
        .await,
    );
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS)"]
async fn a_new_plugin_snapshot_renders_again() {
    let (_plane, client) = or_panic(plane().await);
    let operator = or_panic(settled_minimal(&client).await);
    let renders = operator.context.metrics.renders();
    let catalog = catalog_with_portal(shared_sandbox(), shared_catalog(), PORTAL_NEXT, &plugin_bytes(PORTAL_NEXT));
    operator.context.plugins.swap(Snapshot::bundled(&catalog));
    // Nothing about the cluster changed: only the plan its reconcile makes.
    or_panic(touch(&client, "after-swap").await);
    or_panic(rendered_again(&operator, renders, "a render with the new portal plugin").await);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let next = digest_of(PORTAL_NEXT);
    or_panic(
        eventually("the portal Deployment rendered by the new plugin", || async {
            let portal = deployments.get("demo-harbor-portal").await.ok()?;
            (portal.annotations().get("berth.dev/plugin-digest") == Some(&next)).then_some(())
        })
        .await,
    );
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS)"]
async fn a_generated_secret_changed_by_hand_renders_again() {
    let (_plane, client) = or_panic(plane().await);
    let operator = or_panic(settled_minimal(&client).await);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let generated = or_panic(secrets.list(&ListParams::default().labels("berth.dev/generated=true")).await.map_err(fail("list")));
    let name = generated.items.first().map(|s| s.name_any()).unwrap_or_else(|| panic!("no generated Secret"));
    let renders = operator.context.metrics.renders();
    // Generated Secrets are immutable, so a hand edit can only touch metadata; any
    // change moves the resourceVersion, which is what the cache keys on. The Secret
    // watch wakes the cluster by itself.
    let patch = json!({"metadata": {"annotations": {"edited-by": "hand"}}});
    or_panic(secrets.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.map(drop).map_err(fail("edit")));
    or_panic(rendered_again(&operator, renders, "a render after the Secret was edited").await);
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS)"]
async fn a_child_edited_by_someone_else_renders_and_is_put_back() {
    let (_plane, client) = or_panic(plane().await);
    let operator = or_panic(settled_minimal(&client).await);
    let renders = operator.context.metrics.renders();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let scale = json!({"spec": {"replicas": 5}});
    or_panic(deployments.patch("demo-harbor-core", &PatchParams::default(), &Patch::Merge(&scale)).await.map(drop).map_err(fail("scale")));
    or_panic(rendered_again(&operator, renders, "a render after the drift").await);
    or_panic(
        eventually("core back at 1 replica", || async {
            (deployments.get("demo-harbor-core").await.ok()?.spec?.replicas == Some(1)).then_some(())
        })
        .await,
    );
    operator.stop().await;
}
