//! Plugins from a real OCI registry on a running operator against a real control plane:
//! a vendor pushes and signs, a PluginPolicy names the artifact and requires the
//! signature, and the operator renders with it; an unsigned version and one the
//! registry cannot serve are refused without replacing it, and recovery follows the
//! registry's return by itself; a restart with the registry down renders from the
//! local store. The registry is Debian's docker-registry on loopback; skipped, saying
//! why, when it is not installed.
//!
//! Ignored by default; `make e2e` runs every suite, or this one:
//! `cargo test -p berth-tests --test e2e_oci -- --ignored --test-threads=1`.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use berth::HarborCluster;
use berth::controller::Context;
use berth::controller::plugin_pull::PullSettings;
use berth::controller::policy_sync::PolicySources;
use berth::oci::artifact::{self, PullLimits};
use berth::oci::registry::{self, sha256};
use berth::oci::signature;
use berth::oci::store::ContentStore;
use berth::plugin_dir::PluginDir;
use berth::policy::{PluginPolicy, PluginSet, Snapshot};
use berth::sandbox::{CacheKey, EngineSettings, Sandbox};
use berth_tests::control_plane::ControlPlane;
use berth_tests::operator::{Operator, eventually, fail, or_panic, plane_with_policies, wait_event};
use berth_tests::policies::{PORTAL_BROKEN, PORTAL_NEXT, apply_policy, plugin_bytes, policy};
use berth_tests::registry::Registry;
use berth_tests::{read_example, shared_catalog, test_plugins};
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, PostParams};
use oci_client::secrets::RegistryAuth;
use serde_json::{Value, json};
use zeroize::Zeroizing;

const NS: &str = "registry";

fn registry() -> Option<Registry> {
    berth_tests::registry::start_or_skip("e2e_oci")
}

async fn plane() -> Result<(ControlPlane, Client), String> {
    plane_with_policies(false, &[NS, "berth-system"]).await
}

/// The operator with its precompiled cache and plugin store under `state` (kept across
/// restarts, as a deployment's volume would be).
fn operator(client: &Client, state: &Path) -> Operator {
    let key = state.join("cache.key");
    if !key.exists() {
        let mut bytes = [0u8; 32];
        or_panic(getrandom::fill(&mut bytes).map_err(fail("key")));
        or_panic(std::fs::write(&key, bytes).map_err(fail("key")));
    }
    let sandbox = or_panic(
        Sandbox::with_cache_key(EngineSettings::default(), Some(&state.join("cache")), &CacheKey::File(key)).map_err(fail("sandbox")),
    );
    let store = or_panic(ContentStore::open(&state.join("cache/oci")).map_err(fail("store")));
    let dir = or_panic(PluginDir::open(&test_plugins()).map_err(fail("plugin dir")));
    let sources = PolicySources {
        sandbox: Arc::new(sandbox),
        dir: Some(Arc::new(dir)),
        pull: PullSettings { store: Some(Arc::new(store)), limits: PullLimits::default() },
    };
    let plugins = Arc::new(PluginSet::new(Snapshot::bundled(shared_catalog())));
    Operator::with_context(Context::new(client.clone(), plugins).with_policy(sources))
}

/// Pushes `wasm` to `reference`; signs it with `key` when given.
async fn publish(reference: &str, wasm: Vec<u8>, key: Option<&str>) -> String {
    let parsed = or_panic(registry::parse_reference(reference).map_err(fail("reference")));
    let limits = PullLimits::default();
    let client = registry::client(true, &limits);
    let config = artifact::config_blob("test", "test", "portal", &sha256(&wasm));
    let digest = or_panic(registry::push(&client, &parsed, &RegistryAuth::Anonymous, wasm, config).await.map_err(fail("push")));
    if let Some(key) = key {
        let private = Zeroizing::new(key.as_bytes().to_vec());
        let signed = signature::sign(&parsed, &digest, private, Zeroizing::new(Vec::new()), &RegistryAuth::Anonymous, true, &limits).await;
        or_panic(signed.map_err(fail("sign")));
    }
    digest
}

fn oci_version(version: &str, reference: &str, wasm: &[u8]) -> Value {
    json!({"version": version, "digest": sha256(wasm), "source": {"oci": {"reference": reference, "insecure": true}}})
}

fn portal_policy(stable: &str, versions: Vec<Value>, keys: Value) -> PluginPolicy {
    policy(
        "portal",
        json!({
            "signatures": {"required": true, "keys": keys},
            "components": [{"component": "portal", "stable": stable, "versions": versions}],
        }),
    )
}

async fn create_cluster(client: &Client, name: &str) -> Result<(), String> {
    let mut cluster = read_example("minimal.yaml");
    cluster.metadata.name = Some(name.to_owned());
    cluster.metadata.namespace = Some(NS.to_owned());
    Api::<HarborCluster>::namespaced(client.clone(), NS).create(&PostParams::default(), &cluster).await.map(drop).map_err(fail("cluster"))
}

/// The portal's plugin version once the cluster's status covers its generation.
async fn portal_version(client: &Client, name: &str) -> Option<String> {
    let hc = Api::<HarborCluster>::namespaced(client.clone(), NS).get_opt(name).await.ok()??;
    let status = hc.status?;
    (status.observed_generation == hc.metadata.generation).then_some(())?;
    status.components.into_iter().find(|c| c.name == "portal").map(|c| c.plugin_version)
}

async fn wait_portal(client: &Client, name: &str, version: &str) -> Result<(), String> {
    eventually(&format!("{name}'s portal on {version}"), || async { (portal_version(client, name).await? == version).then_some(()) }).await
}

/// The refusal of `version` in the portal policy's status, once there.
async fn refusal(client: &Client, version: &str) -> Result<(String, String), String> {
    eventually(&format!("portal {version} refused"), || async {
        let policy = Api::<PluginPolicy>::all(client.clone()).get_opt("portal").await.ok()??;
        let component = policy.status?.components.into_iter().find(|c| c.component == "portal")?;
        component.refused.into_iter().find(|r| r.version == version).map(|r| (r.reason, r.message))
    })
    .await
}

async fn condition(client: &Client, type_: &str) -> Option<(String, String)> {
    let policy = Api::<PluginPolicy>::all(client.clone()).get_opt("portal").await.ok()??;
    policy.status?.conditions.into_iter().find(|c| c.type_ == type_).map(|c| (c.status, c.message))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS) and docker-registry"]
async fn a_signed_plugin_from_the_registry_renders_and_refused_versions_never_replace_it() {
    let Some(mut reg) = registry() else { return };
    let (_plane, client) = or_panic(plane().await);
    let state = or_panic(tempfile::tempdir().map_err(fail("tempdir")));
    let (private, public) = or_panic(signature::keygen(b"").map_err(fail("keygen")));
    let key_secret: Secret = or_panic(
        serde_json::from_value(json!({"metadata": {"name": "vendor-key"}, "stringData": {"cosign.pub": public}})).map_err(fail("secret")),
    );
    or_panic(
        Api::<Secret>::namespaced(client.clone(), "berth-system").create(&PostParams::default(), &key_secret).await.map_err(fail("secret")),
    );
    let keys = json!([{"secretRef": {"namespace": "berth-system", "name": "vendor-key", "key": "cosign.pub"}}]);

    let next = plugin_bytes(PORTAL_NEXT);
    let next_ref = format!("{}/vendor/portal:0.2.0", reg.host());
    publish(&next_ref, next.clone(), Some(&private)).await;
    let operator = operator(&client, state.path());
    or_panic(create_cluster(&client, "demo").await);
    let applied = Instant::now();
    or_panic(apply_policy(&client, &portal_policy("0.2.0", vec![oci_version("0.2.0", &next_ref, &next)], keys.clone())).await);
    or_panic(wait_portal(&client, "demo", "0.2.0").await);
    println!("pull to in force (cold: pulled, verified, compiled, rendered): {:.1} s", applied.elapsed().as_secs_f64());

    // Unsigned: refused with its reason, and the signed version stays in force.
    let broken = plugin_bytes(PORTAL_BROKEN);
    let broken_ref = format!("{}/vendor/portal:0.3.0", reg.host());
    publish(&broken_ref, broken.clone(), None).await;
    let versions = vec![oci_version("0.2.0", &next_ref, &next), oci_version("0.3.0", &broken_ref, &broken)];
    or_panic(apply_policy(&client, &portal_policy("0.3.0", versions, keys.clone())).await);
    let (reason, message) = or_panic(refusal(&client, "0.3.0").await);
    assert_eq!(reason, "Unsigned", "{message}");
    let note = or_panic(wait_event(&client, "default", "portal", "PluginRefused").await);
    assert!(note.contains("Unsigned"), "{note}");
    assert_eq!(portal_version(&client, "demo").await.as_deref(), Some("0.2.0"));

    // The registry goes away while a new signed version waits in it, never pulled.
    let bundled = std::fs::read(berth_tests::bundled_plugins().join("berth_plugin_portal.wasm")).unwrap_or_default();
    let bundled_ref = format!("{}/vendor/portal:0.1.0", reg.host());
    publish(&bundled_ref, bundled.clone(), Some(&private)).await;
    reg.stop();
    let versions = vec![oci_version("0.2.0", &next_ref, &next), oci_version("0.1.0", &bundled_ref, &bundled)];
    or_panic(apply_policy(&client, &portal_policy("0.1.0", versions, keys.clone())).await);
    let (reason, message) = or_panic(refusal(&client, "0.1.0").await);
    assert_eq!(reason, "RegistryUnreachable", "{message}");
    let (status, message) = condition(&client, "SourcesReachable").await.unwrap_or_default();
    assert_eq!(status, "False", "0.2.0 is served from the store: {message}");
    assert!(message.contains("portal 0.2.0"), "{message}");
    assert_eq!(portal_version(&client, "demo").await.as_deref(), Some("0.2.0"), "the snapshot in force is unchanged");
    let failures = operator.context.metrics.plugin_pull_failures();
    assert!(failures.get("RegistryUnreachable").copied().unwrap_or_default() >= 1, "{failures:?}");

    // Back: the retry pulls 0.1.0 without anyone touching the policy.
    or_panic(reg.resume());
    let back = Instant::now();
    or_panic(wait_portal(&client, "demo", "0.1.0").await);
    println!("registry back to the new version in force (retry backoff included): {:.1} s", back.elapsed().as_secs_f64());
    eventually("SourcesReachable to clear", || async { condition(&client, "SourcesReachable").await.is_none().then_some(()) })
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // Back to 0.2.0: the tag still names the stored manifest (one HEAD, no download)
    // and its digest is precompiled.
    let versions = vec![oci_version("0.2.0", &next_ref, &next), oci_version("0.1.0", &bundled_ref, &bundled)];
    let applied = Instant::now();
    or_panic(apply_policy(&client, &portal_policy("0.2.0", versions, keys)).await);
    or_panic(wait_portal(&client, "demo", "0.2.0").await);
    println!("policy to in force (stored and precompiled: verified, rendered): {:.1} s", applied.elapsed().as_secs_f64());
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS) and docker-registry"]
async fn a_restart_with_the_registry_down_renders_from_the_local_store() {
    let Some(mut reg) = registry() else { return };
    let (_plane, client) = or_panic(plane().await);
    let state = or_panic(tempfile::tempdir().map_err(fail("tempdir")));
    let (private, public) = or_panic(signature::keygen(b"").map_err(fail("keygen")));
    let next = plugin_bytes(PORTAL_NEXT);
    let next_ref = format!("{}/vendor/portal:0.2.0", reg.host());
    publish(&next_ref, next.clone(), Some(&private)).await;
    or_panic(apply_policy(&client, &portal_policy("0.2.0", vec![oci_version("0.2.0", &next_ref, &next)], json!([{"pem": public}]))).await);

    let first = operator(&client, state.path());
    or_panic(create_cluster(&client, "demo").await);
    or_panic(wait_portal(&client, "demo", "0.2.0").await);
    first.stop().await;

    reg.stop();
    let started = Instant::now();
    let second = operator(&client, state.path());
    or_panic(create_cluster(&client, "demo2").await);
    or_panic(wait_portal(&client, "demo2", "0.2.0").await);
    println!("restart to in force with the registry down (store and precompiled cache): {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(portal_version(&client, "demo").await.as_deref(), Some("0.2.0"));
    assert!(second.context.metrics.plugin_pull_failures().is_empty(), "{:?}", second.context.metrics.plugin_pull_failures());
    let (status, message) = condition(&client, "SourcesReachable").await.unwrap_or_default();
    assert_eq!(status, "False", "{message}");
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS) and docker-registry"]
async fn a_tag_moved_to_other_bytes_is_refused_and_the_running_version_stays() {
    let Some(reg) = registry() else { return };
    let (_plane, client) = or_panic(plane().await);
    let state = or_panic(tempfile::tempdir().map_err(fail("tempdir")));
    let (private, public) = or_panic(signature::keygen(b"").map_err(fail("keygen")));
    let keys = json!([{"pem": public}]);
    let next = plugin_bytes(PORTAL_NEXT);
    let tag = format!("{}/vendor/portal:stable", reg.host());
    publish(&tag, next.clone(), Some(&private)).await;
    let operator = operator(&client, state.path());
    or_panic(apply_policy(&client, &portal_policy("0.2.0", vec![oci_version("0.2.0", &tag, &next)], keys.clone())).await);
    or_panic(create_cluster(&client, "demo").await);
    or_panic(wait_portal(&client, "demo", "0.2.0").await);

    // The vendor (or whoever can push) moves the tag to other, signed, bytes; the policy
    // still pins 0.2.0's digest. The next rebuild (any policy edit) sees the move.
    publish(&tag, plugin_bytes(PORTAL_BROKEN), Some(&private)).await;
    let mut edited = portal_policy("0.2.0", vec![oci_version("0.2.0", &tag, &next)], keys);
    edited.spec.guardrails = Some(Default::default());
    or_panic(apply_policy(&client, &edited).await);
    let (reason, message) = or_panic(refusal(&client, "0.2.0").await);
    assert_eq!(reason, "DigestMismatch", "{message}");
    assert_eq!(portal_version(&client, "demo").await.as_deref(), Some("0.2.0"), "the plugin loaded before keeps rendering");
    // A new cluster gets it too: the moved tag is never followed.
    or_panic(create_cluster(&client, "demo2").await);
    or_panic(wait_portal(&client, "demo2", "0.2.0").await);
    operator.stop().await;
}
