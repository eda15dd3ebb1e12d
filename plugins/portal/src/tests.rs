use berth_sdk::{RenderError, RenderRequest, Renderer};

use berth_sdk::InvalidSpec;

use super::*;
use crate::render::nginx_conf;

fn request(spec: serde_json::Value) -> RenderRequest {
    berth_tests::plugin_request(spec)
}

fn base_spec() -> serde_json::Value {
    serde_json::json!({"version": "2.15.1", "externalURL": "https://harbor.example.com"})
}

#[test]
fn renders_configmap_deployment_and_service_in_that_order() {
    let out = Portal::render(&request(base_spec())).expect("renders").into_output();
    let kinds: Vec<String> =
        out.objects.iter().map(|o| serde_json::from_str::<serde_json::Value>(o).expect("json")["kind"].to_string()).collect();
    assert_eq!(kinds, ["\"ConfigMap\"", "\"Deployment\"", "\"Service\""]);
}

#[test]
fn nginx_listens_on_the_enabled_families_only() {
    let both = nginx_conf(8080, true, true);
    assert!(both.contains("listen 8080;") && both.contains("listen [::]:8080;"));
    let v4 = nginx_conf(8080, true, false);
    assert!(v4.contains("listen 8080;") && !v4.contains("[::]"));
}

#[test]
fn negative_replicas_names_the_field() {
    let mut spec = base_spec();
    spec["portal"] = serde_json::json!({"replicas": -1});
    let err = Portal::render(&request(spec)).expect_err("refused");
    assert!(matches!(&err, RenderError::InvalidSpec(InvalidSpec { field, .. }) if field == "spec.portal.replicas"), "{err:?}");
}

#[test]
fn no_ip_family_is_refused() {
    let mut spec = base_spec();
    spec["ipFamily"] = serde_json::json!({"ipv4": false, "ipv6": false});
    let err = Portal::render(&request(spec)).expect_err("refused");
    assert!(matches!(&err, RenderError::InvalidSpec(InvalidSpec { field, .. }) if field == "spec.ipFamily"));
}

#[test]
fn image_override_wins_over_the_topology() {
    let mut spec = base_spec();
    spec["portal"] = serde_json::json!({"image": "mirror.local/portal:patched"});
    let out = Portal::render(&request(spec)).expect("renders").into_output();
    assert!(out.objects[1].contains("mirror.local/portal:patched"));
}
