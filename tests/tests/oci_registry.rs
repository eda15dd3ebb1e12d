//! Plugins through a real OCI registry (Debian's docker-registry, the CNCF Distribution
//! registry, started on loopback by `berth_tests::registry`): push, pull by tag and by
//! digest, a moved tag, cosign signatures missing, by another key and tampered with,
//! oversized artifacts, and an outage with and without the local store. Skipped, saying
//! why, where the registry is not installed.

use std::path::Path;

use berth::oci::OciError;
use berth::oci::artifact::{self, OCI_MANIFEST_MEDIA_TYPE, PullLimits, WASM_LAYER_MEDIA_TYPE};
use berth::oci::fetch::{self, Fetched, Origin, Request};
use berth::oci::registry::{self, sha256};
use berth::oci::signature;
use berth::oci::store::ContentStore;
use berth_tests::registry::Registry;
use oci_client::secrets::RegistryAuth;
use sigstore::cosign::verification_constraint::PublicKeyVerifier;
use zeroize::Zeroizing;

fn registry() -> Option<Registry> {
    berth_tests::registry::start_or_skip("oci registry tests")
}

fn plugin(name: &str) -> Vec<u8> {
    let path = berth_tests::bundled_plugins().join(format!("berth_plugin_{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn push(reference: &str, wasm: Vec<u8>) -> String {
    let reference = registry::parse_reference(reference).unwrap_or_else(|e| panic!("{e}"));
    let config = artifact::config_blob("test", "1.0.0", "portal", &sha256(&wasm));
    let client = registry::client(true, &PullLimits::default());
    registry::push(&client, &reference, &RegistryAuth::Anonymous, wasm, config).await.unwrap_or_else(|e| panic!("push {reference}: {e}"))
}

async fn fetch(
    reference: &str,
    expected: &str,
    keys: Option<&[PublicKeyVerifier]>,
    store: Option<&ContentStore>,
) -> Result<Fetched, OciError> {
    let request = Request { reference, insecure: true, auth: RegistryAuth::Anonymous, expected, keys };
    fetch::fetch(&request, store, &PullLimits::default()).await
}

fn key_pair() -> (Zeroizing<String>, PublicKeyVerifier) {
    let (private, public) = signature::keygen(b"test").unwrap_or_else(|e| panic!("{e}"));
    (private, signature::public_key("test", public.as_bytes()).unwrap_or_else(|e| panic!("{e}")))
}

async fn sign(reference: &str, private: &str) {
    let parsed = registry::parse_reference(reference).unwrap_or_else(|e| panic!("{e}"));
    let limits = PullLimits::default();
    let client = registry::client(true, &limits);
    let digest = registry::resolve(&client, &parsed, &RegistryAuth::Anonymous, &limits).await.unwrap_or_else(|e| panic!("{e}"));
    let key = Zeroizing::new(private.as_bytes().to_vec());
    signature::sign(&parsed, &digest, key, Zeroizing::new(b"test".to_vec()), &RegistryAuth::Anonymous, true, &limits)
        .await
        .unwrap_or_else(|e| panic!("sign {reference}: {e}"));
}

fn store(dir: &Path) -> ContentStore {
    ContentStore::open(&dir.join("oci")).unwrap_or_else(|e| panic!("{e}"))
}

fn reason(result: Result<Fetched, OciError>) -> String {
    match result {
        Ok(fetched) => format!("fetched from {:?}", fetched.origin),
        Err(e) => e.reason().to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pulled_by_tag_and_by_digest_then_served_from_the_store_without_a_download() {
    let Some(reg) = registry() else { return };
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = store(temp.path());
    let wasm = plugin("portal");
    let expected = sha256(&wasm);
    let tag = format!("{}/berth/portal:1.0.0", reg.host());
    let manifest = push(&tag, wasm.clone()).await;

    let first = fetch(&tag, &expected, None, Some(&store)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.origin, Origin::Registry);
    assert_eq!(first.wasm, wasm);
    assert_eq!(first.manifest_digest, manifest);
    let again = fetch(&tag, &expected, None, Some(&store)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.origin, Origin::Store, "the tag still points at a stored manifest: nothing is downloaded");

    let by_digest = format!("{}/berth/portal@{manifest}", reg.host());
    let pinned = fetch(&by_digest, &expected, None, None).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((pinned.origin, pinned.wasm), (Origin::Registry, wasm));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tag_moved_to_other_bytes_is_refused_not_followed() {
    let Some(reg) = registry() else { return };
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = store(temp.path());
    let wasm = plugin("portal");
    let tag = format!("{}/berth/portal:stable", reg.host());
    push(&tag, wasm.clone()).await;
    assert!(fetch(&tag, &sha256(&wasm), None, Some(&store)).await.is_ok());

    push(&tag, plugin("core")).await;
    let moved = fetch(&tag, &sha256(&wasm), None, Some(&store)).await;
    assert_eq!(reason(moved), "DigestMismatch");
    // A policy naming a digest the reference never had is refused the same way.
    let wrong = format!("sha256:{}", "0".repeat(64));
    assert_eq!(reason(fetch(&tag, &wrong, None, None).await), "DigestMismatch");
}

#[tokio::test(flavor = "multi_thread")]
async fn required_signatures_missing_by_another_key_or_tampered_are_refused_each_with_its_reason() {
    let Some(reg) = registry() else { return };
    let wasm = plugin("portal");
    let expected = sha256(&wasm);
    let (vendor_private, vendor) = key_pair();
    let (_, stranger) = key_pair();

    let unsigned = format!("{}/vendor/unsigned:1", reg.host());
    push(&unsigned, wasm.clone()).await;
    assert_eq!(reason(fetch(&unsigned, &expected, Some(std::slice::from_ref(&vendor)), None).await), "Unsigned");

    let signed = format!("{}/vendor/signed:1", reg.host());
    push(&signed, wasm.clone()).await;
    sign(&signed, &vendor_private).await;
    let ok = fetch(&signed, &expected, Some(std::slice::from_ref(&vendor)), None).await;
    assert_eq!(reason(ok), "fetched from Registry");
    assert_eq!(reason(fetch(&signed, &expected, Some(std::slice::from_ref(&stranger)), None).await), "UnknownKey");
    let (_, vendor_again) = key_pair();
    let either =
        [vendor_again, signature::public_key("v", vendor_public_pem(&vendor_private).as_bytes()).unwrap_or_else(|e| panic!("{e}"))];
    assert!(fetch(&signed, &expected, Some(&either), None).await.is_ok(), "one key of several is enough");

    // Tampered: the signature annotation of the stored .sig manifest replaced.
    let tampered = format!("{}/vendor/tampered:1", reg.host());
    let manifest = push(&tampered, wasm.clone()).await;
    sign(&tampered, &vendor_private).await;
    rewrite_signature(&tampered, &manifest, "bm90IGEgc2lnbmF0dXJl").await;
    assert_eq!(reason(fetch(&tampered, &expected, Some(std::slice::from_ref(&vendor)), None).await), "UnknownKey");
    rewrite_signature(&tampered, &manifest, "%%% not base64").await;
    assert_eq!(reason(fetch(&tampered, &expected, Some(std::slice::from_ref(&vendor)), None).await), "BadSignature");
}

fn vendor_public_pem(private: &str) -> String {
    use sigstore::crypto::signing_key::SigStoreKeyPair;
    SigStoreKeyPair::from_encrypted_pem(private.as_bytes(), b"test")
        .and_then(|pair| pair.public_key_to_pem())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Replaces the cosign signature annotation in the `.sig` manifest, as someone with push
/// rights to the repository but not the key could.
async fn rewrite_signature(reference: &str, manifest_digest: &str, signature: &str) {
    let parsed = registry::parse_reference(reference).unwrap_or_else(|e| panic!("{e}"));
    let tag = signature::signature_reference(&parsed, manifest_digest);
    let client = registry::client(true, &PullLimits::default());
    let (raw, _) = client
        .pull_manifest_raw(
            &tag,
            &RegistryAuth::Anonymous,
            &[OCI_MANIFEST_MEDIA_TYPE, "application/vnd.docker.distribution.manifest.v2+json"],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut json: serde_json::Value = serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("{e}"));
    let media_type = json["mediaType"].as_str().unwrap_or(OCI_MANIFEST_MEDIA_TYPE).to_owned();
    for layer in json["layers"].as_array_mut().into_iter().flatten() {
        layer["annotations"]["dev.cosignproject.cosign/signature"] = serde_json::Value::String(signature.to_owned());
    }
    let body = serde_json::to_vec(&json).unwrap_or_default();
    let header = http::HeaderValue::from_str(&media_type).unwrap_or_else(|e| panic!("{e}"));
    client.push_manifest_raw(&tag, body, header).await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_artifacts_are_refused_before_their_layers_are_read() {
    let Some(reg) = registry() else { return };
    let wasm = plugin("portal");
    let expected = sha256(&wasm);
    let tag = format!("{}/berth/big:1", reg.host());
    push(&tag, wasm.clone()).await;
    let small = PullLimits { layer_bytes: 1024, ..PullLimits::default() };
    let request = Request { reference: &tag, insecure: true, auth: RegistryAuth::Anonymous, expected: &expected, keys: None };
    assert_eq!(reason(fetch::fetch(&request, None, &small).await), "ArtifactTooLarge");

    // A manifest claiming a 5 GiB layer, and one listing 10,000 layers: the registry
    // takes both (they name blobs it has); the pull refuses them from the manifest alone.
    let parsed = registry::parse_reference(&tag).unwrap_or_else(|e| panic!("{e}"));
    let client = registry::client(true, &PullLimits::default());
    let (raw, _) =
        client.pull_manifest_raw(&parsed, &RegistryAuth::Anonymous, &[OCI_MANIFEST_MEDIA_TYPE]).await.unwrap_or_else(|e| panic!("{e}"));
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("{e}"));
    let header = http::HeaderValue::from_static(OCI_MANIFEST_MEDIA_TYPE);

    let mut huge = manifest.clone();
    huge["layers"][0]["size"] = serde_json::json!(5_i64 << 30);
    let huge_tag = registry::parse_reference(&format!("{}/berth/big:huge", reg.host())).unwrap_or_else(|e| panic!("{e}"));
    match client.push_manifest_raw(&huge_tag, serde_json::to_vec(&huge).unwrap_or_default(), header.clone()).await {
        Ok(_) => {
            let request = Request {
                reference: &huge_tag.to_string(),
                insecure: true,
                auth: RegistryAuth::Anonymous,
                expected: &expected,
                keys: None,
            };
            assert_eq!(reason(fetch::fetch(&request, None, &PullLimits::default()).await), "ArtifactTooLarge");
        }
        Err(e) => println!("the registry refused a manifest with a false layer size itself ({e}); the limit is covered above"),
    }

    let mut many = manifest.clone();
    let layer = manifest["layers"][0].clone();
    assert_eq!(layer["mediaType"], WASM_LAYER_MEDIA_TYPE);
    many["layers"] = serde_json::Value::Array(vec![layer; 10_000]);
    let many_tag = registry::parse_reference(&format!("{}/berth/big:many", reg.host())).unwrap_or_else(|e| panic!("{e}"));
    client.push_manifest_raw(&many_tag, serde_json::to_vec(&many).unwrap_or_default(), header).await.unwrap_or_else(|e| panic!("{e}"));
    let many_ref = many_tag.to_string();
    let request = Request { reference: &many_ref, insecure: true, auth: RegistryAuth::Anonymous, expected: &expected, keys: None };
    assert_eq!(reason(fetch::fetch(&request, None, &PullLimits::default()).await), "ArtifactTooLarge", "the manifest alone is over 1 MiB");
    let roomy = PullLimits { manifest_bytes: 4 << 20, ..PullLimits::default() };
    let refused = fetch::fetch(&request, None, &roomy).await;
    assert!(matches!(&refused, Err(OciError::TooLarge { size: 10_000, .. })), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outage_serves_the_stored_copy_with_its_signatures_and_refuses_what_was_never_pulled() {
    let Some(mut reg) = registry() else { return };
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = store(temp.path());
    let (private, vendor) = key_pair();
    let keys = std::slice::from_ref(&vendor);
    let wasm = plugin("portal");
    let expected = sha256(&wasm);
    let tag = format!("{}/berth/portal:1.0.0", reg.host());
    push(&tag, wasm.clone()).await;
    sign(&tag, &private).await;
    assert_eq!(reason(fetch(&tag, &expected, Some(keys), Some(&store)).await), "fetched from Registry");
    let other = plugin("core");
    let other_tag = format!("{}/berth/core:1.0.0", reg.host());
    push(&other_tag, other.clone()).await;

    reg.stop();
    let during = fetch(&tag, &expected, Some(keys), Some(&store)).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(during.origin, Origin::StoreWhileUnreachable(_)), "{:?}", during.origin);
    assert_eq!(during.wasm, wasm);
    let (_, stranger) = key_pair();
    assert_eq!(reason(fetch(&tag, &expected, Some(std::slice::from_ref(&stranger)), Some(&store)).await), "RegistryUnreachable");
    assert_eq!(reason(fetch(&other_tag, &sha256(&other), None, Some(&store)).await), "RegistryUnreachable");
    assert_eq!(reason(fetch(&tag, &expected, None, None).await), "RegistryUnreachable");

    reg.resume().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reason(fetch(&other_tag, &sha256(&other), None, Some(&store)).await), "fetched from Registry");
    assert_eq!(reason(fetch(&tag, &expected, Some(keys), Some(&store)).await), "fetched from Store");
}
