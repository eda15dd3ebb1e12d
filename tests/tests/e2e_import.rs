//! `berth import --from-cluster` against a real control plane: the values are read from
//! the release record Helm keeps in the namespace (a `helm.sh/release.v1` Secret, written
//! here as Helm writes it), the deployed revision wins over superseded ones, and the
//! HarborCluster imported from them is accepted by the API server's CRD schema.
//!
//! Ignored by default; `make e2e` runs every suite, or this one:
//! `cargo test -p berth-tests --test e2e_import -- --ignored`.

use std::io::Write as _;

use base64::Engine as _;
use berth::HarborCluster;
use berth_tests::operator::{fail, or_panic, plane_with_clusters};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

const NS: &str = "registry";

/// A release record as Helm stores it: base64 of gzipped JSON in the `release` key.
fn release_record(release: &str, revision: u32, status: &str, config: Value) -> Result<Secret, String> {
    let record = json!({
        "name": release,
        "version": revision,
        "namespace": NS,
        "info": {"status": status},
        "chart": {"metadata": {"name": "harbor", "version": "1.19.1", "appVersion": "2.15.1"}},
        "config": config,
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&serde_json::to_vec(&record).map_err(fail("record"))?).map_err(fail("gzip"))?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(gz.finish().map_err(fail("gzip"))?);
    serde_json::from_value(json!({
        "metadata": {
            "name": format!("sh.helm.release.v1.{release}.v{revision}"),
            "labels": {"owner": "helm", "name": release, "status": status, "version": revision.to_string()},
        },
        "type": "helm.sh/release.v1",
        "stringData": {"release": encoded},
    }))
    .map_err(fail("secret"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS)"]
async fn a_release_record_in_the_cluster_imports_into_a_harbor_cluster_the_api_server_accepts() {
    let (_plane, client) = or_panic(plane_with_clusters(false, &[NS]).await);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let old = json!({"externalURL": "https://old.example.com"});
    let current = json!({
        "externalURL": "https://registry.example.com",
        "expose": {"tls": {"certSource": "secret", "secret": {"secretName": "registry-tls"}}, "ingress": {"hosts": {"core": "registry.example.com"}}},
        "database": {"type": "external", "external": {"host": "pg", "username": "harbor", "existingSecret": "harbor-pg"}},
        "core": {"replicas": 2},
    });
    for secret in [release_record("prod", 1, "superseded", old), release_record("prod", 2, "deployed", current)] {
        let secret = or_panic(secret);
        or_panic(secrets.create(&PostParams::default(), &secret).await.map(drop).map_err(fail("release record")));
    }

    let values = or_panic(berth::helm_import::values_from_cluster(&client, "prod", NS).await.map_err(fail("reading the release")));
    let imported = or_panic(berth::helm_import::import(values, "prod", NS).map_err(fail("import")));
    assert_eq!(imported.cluster.spec.external_url, "https://registry.example.com", "the deployed revision, not the superseded one");
    assert!(imported.notes.is_empty(), "{:?}", imported.notes.iter().map(|n| &n.path).collect::<Vec<_>>());

    // What `berth import` prints is what the API server's schema takes.
    let manifest: HarborCluster = or_panic(serde_json::from_value(imported.manifest).map_err(fail("manifest")));
    let created = Api::<HarborCluster>::namespaced(client.clone(), NS).create(&PostParams::default(), &manifest).await;
    let created = or_panic(created.map_err(fail("creating the imported HarborCluster")));
    assert_eq!(created.spec.core.replicas, Some(2));

    let missing = berth::helm_import::values_from_cluster(&client, "nothing", NS).await;
    assert!(matches!(missing, Err(berth::helm_import::ReleaseError::NotFound { .. })), "{missing:?}");
}
