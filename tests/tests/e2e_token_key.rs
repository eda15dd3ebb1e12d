//! A cluster created by Berth 0.1 holds core's token-signing key as PKCS#8, which
//! Harbor's token service cannot read. Against a real control plane: the operator
//! replaces the immutable Secret with the same key as PKCS#1 and every other value
//! unchanged, restarts core once, says so in an Event, and finishes a conversion that
//! was interrupted with the Secret gone, from its backup, instead of generating a new
//! data-encryption key.
//!
//! Ignored by default; `make e2e` runs it.

use std::collections::BTreeMap;

use berth::HarborCluster;
use berth_tests::control_plane::ControlPlane;
use berth_tests::operator::{Operator, eventually, fail, or_panic, plane_with_clusters, wait_event};
use berth_tests::{read_example, shared_catalog};
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, PostParams};
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding};
use serde_json::json;

const NS: &str = "registry";
const CORE: &str = "demo-harbor-core";
const BACKUP: &str = "demo-harbor-core-token-key-backup";

async fn plane() -> Result<(ControlPlane, Client), String> {
    plane_with_clusters(false, &[NS]).await
}

/// The core Secret as Berth 0.1 generated it: every value of today's inventory, with the
/// token key re-encoded as PKCS#8, labelled and immutable, without today's annotation.
fn old_core_secret(name: &str) -> Secret {
    let cluster = read_example("minimal.yaml");
    let rendered = berth_tests::render(shared_catalog(), &cluster).unwrap_or_else(|e| panic!("{e}"));
    let declaration = rendered.secrets.iter().find(|s| s.name == CORE).unwrap_or_else(|| panic!("no {CORE} in the inventory"));
    let mut data = berth::secrets::generate(declaration).unwrap_or_else(|e| panic!("{e}"));
    let key = rsa::RsaPrivateKey::from_pkcs1_pem(&data["tls.key"]).unwrap_or_else(|e| panic!("{e}"));
    data.insert("tls.key".to_owned(), key.to_pkcs8_pem(LineEnding::LF).unwrap_or_else(|e| panic!("{e}")).to_string());
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": NS, "labels": {"berth.dev/cluster": "demo", "berth.dev/generated": "true"}},
        "type": "Opaque",
        "immutable": true,
        "data": data.iter().map(|(k, v)| (k.clone(), ByteString(v.clone().into_bytes()))).collect::<BTreeMap<_, _>>(),
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

fn values(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    secret.data.clone().unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect()
}

fn text(values: &BTreeMap<String, Vec<u8>>, key: &str) -> String {
    String::from_utf8(values.get(key).cloned().unwrap_or_default()).unwrap_or_default()
}

/// Waits for the core Secret in PKCS#1 and the backup gone; checks it is the old key
/// and the old values, and, when core ran before the conversion, that it was restarted.
async fn assert_converted(client: &Client, old: &BTreeMap<String, Vec<u8>>, core_was_running: bool) {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let converted = or_panic(
        eventually("the core Secret converted and its backup gone", || async {
            let secret = secrets.get_opt(CORE).await.ok()??;
            let converted = berth::secrets::harbor_can_read_key(&text(&values(&secret), "tls.key"));
            let backup_gone = secrets.get_opt(BACKUP).await.ok()?.is_none();
            (converted && backup_gone).then_some(secret)
        })
        .await,
    );
    let new = values(&converted);
    assert_eq!(berth::secrets::pem_type(&text(&new, "tls.key")), Some("RSA PRIVATE KEY"));
    let before = rsa::RsaPrivateKey::from_pkcs8_pem(&text(old, "tls.key")).unwrap_or_else(|e| panic!("{e}"));
    let after = rsa::RsaPrivateKey::from_pkcs1_pem(&text(&new, "tls.key")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(before, after, "the key material changed");
    for (key, value) in old.iter().filter(|(k, _)| *k != "tls.key") {
        assert_eq!(new.get(key), Some(value), "{key} changed");
    }
    assert_eq!(new.len(), old.len());
    assert_eq!(converted.immutable, Some(true));
    assert_eq!(
        converted.metadata.annotations.as_ref().and_then(|a| a.get(berth::secrets::KEY_FORMAT_ANNOTATION)).map(String::as_str),
        Some("pkcs1")
    );
    assert_eq!(converted.metadata.owner_references, None, "a generated Secret never gets an owner");

    if !core_was_running {
        return;
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    or_panic(
        eventually("core restarted for the new key", || async {
            let core = deployments.get_opt(CORE).await.ok()??;
            let annotations = core.spec?.template.metadata?.annotations?;
            (annotations.get(berth::controller::token_key::RESTARTED_ANNOTATION)? == "token-key-pkcs1").then_some(())
        })
        .await,
    );
}

async fn create_cluster(client: &Client) {
    let mut cluster = read_example("minimal.yaml");
    cluster.metadata.namespace = Some(NS.to_owned());
    or_panic(
        Api::<HarborCluster>::namespaced(client.clone(), NS)
            .create(&PostParams::default(), &cluster)
            .await
            .map(drop)
            .map_err(fail("creating the HarborCluster")),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS)"]
async fn a_pkcs8_token_key_is_converted_in_place_with_every_other_value_kept() {
    let (_plane, client) = or_panic(plane().await);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let old = or_panic(secrets.create(&PostParams::default(), &old_core_secret(CORE)).await.map_err(fail("old secret")));
    let old_values = values(&old);

    // A cluster created over it: converted before core ever starts.
    let operator = Operator::start(&client, shared_catalog().clone());
    create_cluster(&client).await;
    assert_converted(&client, &old_values, false).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    or_panic(eventually("core's Deployment", || async { deployments.get_opt(CORE).await.ok()? }).await);
    operator.stop().await;

    // A running cluster from Berth 0.1 (its core Secret still PKCS#8) meets the new operator.
    or_panic(secrets.delete(CORE, &Default::default()).await.map(drop).map_err(fail("delete")));
    let mut again = old_core_secret(CORE);
    again.data = old.data.clone();
    or_panic(secrets.create(&PostParams::default(), &again).await.map(drop).map_err(fail("old secret")));
    let operator = Operator::start(&client, shared_catalog().clone());
    assert_converted(&client, &old_values, true).await;
    let note = or_panic(wait_event(&client, NS, "demo", "TokenKeyConverted").await);
    assert!(note.contains("PKCS#1"), "{note}");

    // Settled: further reconciles convert nothing and restart nothing again.
    let converted = or_panic(secrets.get(CORE).await.map_err(fail("secret")));
    or_panic(operator.settle(0).await);
    let again = or_panic(secrets.get(CORE).await.map_err(fail("secret")));
    assert_eq!(converted.metadata.uid, again.metadata.uid, "the Secret was replaced a second time");
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS)"]
async fn a_conversion_interrupted_with_the_secret_gone_resumes_from_its_backup() {
    let (_plane, client) = or_panic(plane().await);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    // What a crash between "delete" and "create" leaves: the backup, and no core Secret.
    let mut backup = old_core_secret(BACKUP);
    backup.metadata.annotations = Some(BTreeMap::from([("berth.dev/backup-of".to_owned(), CORE.to_owned())]));
    let backup = or_panic(secrets.create(&PostParams::default(), &backup).await.map_err(fail("backup")));

    let operator = Operator::start(&client, shared_catalog().clone());
    create_cluster(&client).await;
    // The very same data-encryption key, not a fresh one.
    assert_converted(&client, &values(&backup), false).await;
    operator.stop().await;
}
