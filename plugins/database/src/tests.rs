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
        "database": {"internal": internal},
    })
}

fn objects(spec: serde_json::Value) -> Vec<serde_json::Value> {
    Database::render(&request(spec))
        .expect("renders")
        .into_output()
        .objects
        .iter()
        .map(|o| serde_json::from_str(o).expect("json"))
        .collect()
}

fn field_of(spec: serde_json::Value) -> String {
    match Database::render(&request(spec)).err() {
        Some(RenderError::InvalidSpec(InvalidSpec { field, .. })) => field,
        other => panic!("expected an invalid spec, got {other:?}"),
    }
}

#[test]
fn renders_a_statefulset_and_its_service() {
    let out = objects(spec_with(serde_json::json!({})));
    let kinds: Vec<&str> = out.iter().map(|o| o["kind"].as_str().unwrap_or_default()).collect();
    assert_eq!(kinds, ["StatefulSet", "Service"]);
    let pod = &out[0]["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsUser"], 999);
    assert_eq!(pod["securityContext"]["fsGroup"], 999);
    assert_eq!(pod["terminationGracePeriodSeconds"], 120, "the chart's: a checkpoint finishes before SIGKILL");
    assert_eq!(pod["volumes"][0]["emptyDir"]["sizeLimit"], "512Mi");
    assert_eq!(out[0]["spec"]["volumeClaimTemplates"][0]["metadata"]["name"], "database-data");
}

#[test]
fn an_external_database_renders_nothing() {
    let mut spec = spec_with(serde_json::json!({}));
    spec["database"] = serde_json::json!({"type": "external", "external": {
        "host": "pg", "username": "u", "passwordSecret": {"name": "s", "key": "k"}}});
    assert!(objects(spec).is_empty());
}

#[test]
fn an_existing_claim_is_mounted_beside_shm() {
    let out = objects(spec_with(serde_json::json!({"volume": {"size": "1Gi", "existingClaim": "pg"}})));
    assert!(out[0]["spec"].get("volumeClaimTemplates").is_none());
    let volumes = &out[0]["spec"]["template"]["spec"]["volumes"];
    assert_eq!(volumes[0]["persistentVolumeClaim"]["claimName"], "pg");
    assert_eq!(volumes[1]["emptyDir"]["medium"], "Memory");
}

#[test]
fn invalid_input_names_its_field() {
    assert_eq!(field_of(spec_with(serde_json::json!({"replicas": -1}))), "spec.database.internal.replicas");
    assert_eq!(field_of(spec_with(serde_json::json!({"replicas": 2}))), "spec.database.internal.replicas");
    assert_eq!(field_of(spec_with(serde_json::json!({"shmSizeLimit": "big"}))), "spec.database.internal.shmSizeLimit");
    assert_eq!(field_of(spec_with(serde_json::json!({"volume": {"size": "1 GB"}}))), "spec.database.internal.volume.size");
}
