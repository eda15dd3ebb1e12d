use berth_sdk::{RenderError, RenderRequest, Renderer};

use berth_sdk::InvalidSpec;

use super::*;

fn request(spec: serde_json::Value) -> RenderRequest {
    berth_tests::plugin_request(spec)
}

fn spec_with(internal: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "version": "2.15.1",
        "externalURL": "https://harbor.example.com",
        "imageSource": {"registry": "mirror.local:5000"},
        "redis": {"internal": internal},
    })
}

fn objects(spec: serde_json::Value) -> Vec<serde_json::Value> {
    Redis::render(&request(spec)).expect("renders").into_output().objects.iter().map(|o| serde_json::from_str(o).expect("json")).collect()
}

fn image_of(spec: serde_json::Value) -> serde_json::Value {
    objects(spec)[0]["spec"]["template"]["spec"]["containers"][0]["image"].clone()
}

#[test]
fn renders_a_statefulset_and_its_service() {
    let out = objects(spec_with(serde_json::json!({})));
    let kinds: Vec<&str> = out.iter().map(|o| o["kind"].as_str().unwrap_or_default()).collect();
    assert_eq!(kinds, ["StatefulSet", "Service"]);
    assert_eq!(out[0]["spec"]["template"]["spec"]["securityContext"]["runAsUser"], 999);
    assert_eq!(out[0]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"], 120);
    assert_eq!(out[1]["spec"]["ports"][0]["port"], 6379);
}

#[test]
fn the_flavor_picks_the_image_and_an_override_wins() {
    assert_eq!(image_of(spec_with(serde_json::json!({}))), "mirror.local:5000/goharbor/redis-photon:v2.15.1");
    assert_eq!(image_of(spec_with(serde_json::json!({"flavor": "valkey"}))), "mirror.local:5000/goharbor/valkey-photon:v2.15.1");
    assert_eq!(image_of(spec_with(serde_json::json!({"flavor": "valkey", "image": "r/own:1"}))), "r/own:1");
}

#[test]
fn valkey_is_derived_only_from_a_redis_photon_reference() {
    assert_eq!(valkey_image("redis-photon:v1").as_deref(), Some("valkey-photon:v1"));
    assert_eq!(valkey_image("a/b/redis-photon@sha256:ab").as_deref(), Some("a/b/valkey-photon@sha256:ab"));
    assert_eq!(valkey_image("a/redis-photon").as_deref(), Some("a/valkey-photon"));
    assert_eq!(valkey_image("redis-photon/other:v1"), None);
    assert_eq!(valkey_image("a/redis-photonx:v1"), None);
}

#[test]
fn invalid_input_names_its_field() {
    for (internal, field) in [
        (serde_json::json!({"replicas": -1}), "spec.redis.internal.replicas"),
        (serde_json::json!({"replicas": 3}), "spec.redis.internal.replicas"),
        (serde_json::json!({"volume": {"size": ""}}), "spec.redis.internal.volume.size"),
        (serde_json::json!({"volume": {"size": "1Gi", "existingClaim": " "}}), "spec.redis.internal.volume.existingClaim"),
    ] {
        match Redis::render(&request(spec_with(internal.clone()))).err() {
            Some(RenderError::InvalidSpec(InvalidSpec { field: f, .. })) => assert_eq!(f, field, "{internal}"),
            other => panic!("{internal}: expected an invalid spec, got {other:?}"),
        }
    }
}

#[test]
fn without_a_flavor_the_charts_default_for_the_version_decides() {
    let at = |version: &str| {
        let mut spec = spec_with(serde_json::json!({}));
        spec["version"] = serde_json::json!(version);
        image_of(spec)
    };
    assert_eq!(at("2.15.1"), "mirror.local:5000/goharbor/redis-photon:v2.15.1");
    assert_eq!(at("2.15.2"), "mirror.local:5000/goharbor/valkey-photon:v2.15.2");
    assert_eq!(at("2.14.4"), "mirror.local:5000/goharbor/redis-photon:v2.14.4");
    let mut pinned = spec_with(serde_json::json!({"flavor": "redis"}));
    pinned["version"] = serde_json::json!("2.15.2");
    assert_eq!(image_of(pinned), "mirror.local:5000/goharbor/redis-photon:v2.15.2", "an explicit flavor wins");
}
