use berth_sdk::topology::SecretKeyRef;
use berth_sdk::{RenderError, RenderRequest, Renderer, Topology};

use berth_sdk::InvalidSpec;

use super::*;

fn topology() -> Topology {
    berth_tests::plugin_request(base_spec()).topology
}

fn request(spec: serde_json::Value, topology: Topology) -> RenderRequest {
    RenderRequest { topology, ..berth_tests::plugin_request(spec) }
}

fn base_spec() -> serde_json::Value {
    serde_json::json!({"version": "2.15.1", "externalURL": "https://harbor.example.com"})
}

fn objects(spec: serde_json::Value, topology: Topology) -> Vec<serde_json::Value> {
    Trivy::render(&request(spec, topology))
        .expect("renders")
        .into_output()
        .objects
        .iter()
        .map(|o| serde_json::from_str(o).expect("json"))
        .collect()
}

fn env_names(statefulset: &serde_json::Value) -> Vec<String> {
    statefulset["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| e["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn renders_a_statefulset_and_its_service() {
    let out = objects(base_spec(), topology());
    let kinds: Vec<&str> = out.iter().map(|o| o["kind"].as_str().unwrap_or_default()).collect();
    assert_eq!(kinds, ["StatefulSet", "Service"]);
    assert_eq!(out[0]["spec"]["serviceName"], "demo-harbor-trivy");
    assert_eq!(out[0]["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"], "5Gi");
    assert_eq!(out[1]["spec"]["ports"][0]["name"], "http-trivy");
}

#[test]
fn a_disabled_scanner_renders_nothing() {
    let mut spec = base_spec();
    spec["trivy"] = serde_json::json!({"enabled": false});
    assert!(objects(spec, topology()).is_empty());
}

#[test]
fn the_redis_password_precedes_every_url_that_expands_it() {
    let mut topology = topology();
    topology.redis.password = Some(SecretKeyRef { name: "r".to_owned(), key: "p".to_owned() });
    let out = objects(base_spec(), topology);
    let names = env_names(&out[0]);
    let password = names.iter().position(|n| n == "REDIS_PASSWORD").expect("REDIS_PASSWORD");
    for url in ["SCANNER_REDIS_URL", "SCANNER_STORE_REDIS_URL", "SCANNER_JOB_QUEUE_REDIS_URL"] {
        assert!(names.iter().position(|n| n == url).expect(url) > password, "{url}");
    }
}

#[test]
fn proxy_env_lists_harbor_services_before_the_users_hosts() {
    let mut spec = base_spec();
    spec["proxy"] = serde_json::json!({"httpProxy": "http://proxy:3128", "components": ["trivy"]});
    let out = objects(spec, topology());
    let env = out[0]["spec"]["template"]["spec"]["containers"][0]["env"].as_array().expect("env");
    let get = |name: &str| env.iter().find(|e| e["name"] == name).map(|e| e["value"].clone());
    assert_eq!(get("HTTP_PROXY"), Some("http://proxy:3128".into()));
    assert_eq!(get("HTTPS_PROXY"), None);
    assert_eq!(get("NO_PROXY"), Some("demo-harbor-core,demo-harbor-jobservice,demo-harbor-database,demo-harbor-registry,demo-harbor-portal,demo-harbor-trivy,demo-harbor-exporter,127.0.0.1,localhost,.local,.internal".into()));
}

#[test]
fn proxy_env_is_left_out_when_trivy_is_not_listed() {
    let mut spec = base_spec();
    spec["proxy"] = serde_json::json!({"httpProxy": "http://proxy:3128", "components": ["core"]});
    let names = env_names(&objects(spec, topology())[0]);
    assert!(!names.iter().any(|n| n == "HTTP_PROXY" || n == "NO_PROXY"));
}

#[test]
fn an_existing_claim_replaces_the_claim_template() {
    let mut spec = base_spec();
    spec["trivy"] = serde_json::json!({"cache": {"size": "5Gi", "existingClaim": "trivy-cache"}});
    let out = objects(spec, topology());
    assert!(out[0]["spec"].get("volumeClaimTemplates").is_none());
    let volume = &out[0]["spec"]["template"]["spec"]["volumes"][0];
    assert_eq!(volume["name"], "data");
    assert_eq!(volume["persistentVolumeClaim"]["claimName"], "trivy-cache");
}

#[test]
fn negative_replicas_names_the_field() {
    let mut spec = base_spec();
    spec["trivy"] = serde_json::json!({"replicas": -1});
    let err = Trivy::render(&request(spec, topology())).expect_err("refused");
    assert!(matches!(&err, RenderError::InvalidSpec(InvalidSpec { field, .. }) if field == "spec.trivy.replicas"), "{err:?}");
}

#[test]
fn a_bad_cache_size_names_the_field() {
    let mut spec = base_spec();
    spec["trivy"] = serde_json::json!({"cache": {"size": "lots"}});
    let err = Trivy::render(&request(spec, topology())).expect_err("refused");
    assert!(matches!(&err, RenderError::InvalidSpec(InvalidSpec { field, .. }) if field == "spec.trivy.cache.size"), "{err:?}");
}

#[test]
fn quantities_are_checked_loosely_but_usefully() {
    for ok in ["5Gi", "512Mi", "1", "1.5G", "1e9", "100k"] {
        assert!(storage::check_quantity(ok, "f").is_ok(), "{ok}");
    }
    for bad in ["", "Gi", "5 Gi", "5GB", "1.2.3Gi", "-1Gi"] {
        assert!(storage::check_quantity(bad, "f").is_err(), "{bad}");
    }
}
