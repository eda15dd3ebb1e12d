//! PluginPolicy fixtures: the test plugins' digests and policies that list them, shared
//! by the offline policy tests and the end-to-end suite.

use berth::policy::PluginPolicy;
use berth::sandbox::Digest;
use serde_json::{Value, json};

use crate::test_plugins;

/// The portal versions the tests roll out, beside the bundled 0.1.0.
pub const PORTAL_NEXT: &str = "berth_test_portal_next.wasm";
pub const PORTAL_BROKEN: &str = "berth_test_portal_broken.wasm";
pub const GUARDRAIL_BREAKER: &str = "berth_test_guardrail_breaker.wasm";
pub const VENDOR_NETWORKPOLICY: &str = "berth_vendor_networkpolicy.wasm";

/// The bytes of a test plugin (target/test-plugins).
pub fn plugin_bytes(file: &str) -> Vec<u8> {
    let path = test_plugins().join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// "sha256:…" of a test plugin.
pub fn digest_of(file: &str) -> String {
    Digest::of(&plugin_bytes(file)).to_string()
}

/// A version entry with a file source in target/test-plugins.
pub fn file_version(version: &str, file: &str) -> Value {
    json!({"version": version, "digest": digest_of(file), "source": {"file": {"name": file}}})
}

/// The bundled portal as a version entry.
pub fn bundled_version(version: &str) -> Value {
    json!({"version": version, "source": {"bundled": {}}})
}

/// A PluginPolicy from its name and spec.
pub fn policy(name: &str, spec: Value) -> PluginPolicy {
    serde_json::from_value(json!({
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "PluginPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap_or_else(|e| panic!("policy {name}: {e}"))
}

/// A policy for the portal: the bundled 0.1.0, 0.2.0 (portal-next) and 0.3.0
/// (portal-broken) listed, `stable` in force, and an optional rollout.
pub fn portal_policy(stable: &str, rollout: Option<Value>) -> PluginPolicy {
    let mut component = json!({
        "component": "portal",
        "stable": stable,
        "versions": [
            bundled_version("0.1.0"),
            file_version("0.2.0", PORTAL_NEXT),
            file_version("0.3.0", PORTAL_BROKEN),
        ],
    });
    if let (Some(rollout), Value::Object(map)) = (rollout, &mut component) {
        map.insert("rollout".to_owned(), rollout);
    }
    policy("portal", json!({"components": [component]}))
}

/// Server-side applies a PluginPolicy's spec (its status is the operator's).
pub async fn apply_policy(client: &kube::Client, policy: &PluginPolicy) -> Result<(), String> {
    use kube::ResourceExt as _;
    let mut body = serde_json::to_value(policy).map_err(|e| format!("policy JSON: {e}"))?;
    if let Value::Object(map) = &mut body {
        map.remove("status");
    }
    kube::api::Api::<PluginPolicy>::all(client.clone())
        .patch(&policy.name_any(), &kube::api::PatchParams::apply("berth-tests").force(), &kube::api::Patch::Apply(&body))
        .await
        .map(drop)
        .map_err(|e| format!("applying PluginPolicy {}: {e}", policy.name_any()))
}
