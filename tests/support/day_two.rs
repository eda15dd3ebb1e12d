//! The control plane the day-two suites (backups, restores, upgrades) start.

use berth_api::backup::HarborRestore;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

use crate::control_plane::ControlPlane;
use crate::operator::{eventually, fail, install_crd};

/// A control plane with Berth's CRDs, the VolumeSnapshot API, and `namespaces` (each with
/// the `default` ServiceAccount the absent controller-manager would make).
pub async fn plane(namespaces: &[&str]) -> Result<(ControlPlane, Client), String> {
    let plane = ControlPlane::start(false).await?;
    let client = plane.client()?;
    install_crd(&client, berth::crd::harbor_cluster_crd_yaml()).await?;
    install_crd(&client, berth::crd::harbor_backup_crd_yaml()).await?;
    install_crd(&client, berth::crd::harbor_restore_crd_yaml()).await?;
    install_crd(&client, Ok(volume_snapshot_crd())).await?;
    for ns in namespaces {
        let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).map_err(fail("namespace"))?;
        Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &namespace).await.map_err(fail("namespace"))?;
        // No controller-manager here: the test's pods need the account it would make.
        let account: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "default"}})).map_err(fail("account"))?;
        Api::<ServiceAccount>::namespaced(client.clone(), ns).create(&PostParams::default(), &account).await.map_err(fail("account"))?;
    }
    let restores: Api<HarborRestore> = Api::all(client.clone());
    eventually("the CRDs to be served", || async { restores.list(&ListParams::default()).await.ok() }).await?;
    Ok((plane, client))
}

/// The CSI snapshotter's VolumeSnapshot API, as far as the API server needs it to store
/// one (no snapshot controller runs here: what is checked is what Berth asks for).
pub fn volume_snapshot_crd() -> String {
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "volumesnapshots.snapshot.storage.k8s.io",
            // A *.k8s.io group: the API server wants its approval said; this is a stand-in.
            "annotations": {"api-approved.kubernetes.io": "unapproved, a test stand-in for the CSI snapshotter's CRD"}},
        "spec": {"group": "snapshot.storage.k8s.io", "scope": "Namespaced",
            "names": {"kind": "VolumeSnapshot", "plural": "volumesnapshots", "singular": "volumesnapshot", "listKind": "VolumeSnapshotList"},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]},
    });
    serde_yaml::to_string(&crd).unwrap_or_else(|e| panic!("{e}"))
}
