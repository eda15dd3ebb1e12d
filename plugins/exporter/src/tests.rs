use berth_sdk::topology::SecretKeyRef;
use berth_sdk::{RenderError, RenderRequest, Renderer};

use berth_sdk::InvalidSpec;

use super::*;

fn request(spec: serde_json::Value, redis_password: bool) -> RenderRequest {
    let mut request = berth_tests::plugin_request(spec);
    if redis_password {
        request.topology.redis.password = Some(SecretKeyRef::new("redis", "password"));
    }
    request
}

fn base_spec() -> serde_json::Value {
    serde_json::json!({
        "version": "2.15.1",
        "externalURL": "https://h.example.com",
        "metrics": {"enabled": true},
        "database": {"type": "external", "maxOpenConns": 300,
            "external": {"host": "pg", "username": "u", "passwordSecret": {"name": "pg", "key": "password"}, "sslmode": "require"}},
        "redis": {"type": "external", "external": {"addr": "r:6379"}},
    })
}

fn objects(spec: serde_json::Value, redis_password: bool) -> Vec<serde_json::Value> {
    Exporter::render(&request(spec, redis_password))
        .expect("renders")
        .into_output()
        .objects
        .iter()
        .map(|o| serde_json::from_str(o).expect("json"))
        .collect()
}

#[test]
fn env_config_map_points_at_core_and_the_database_without_secrets() {
    let out = objects(base_spec(), true);
    let kinds: Vec<&str> = out.iter().map(|o| o["kind"].as_str().unwrap_or_default()).collect();
    assert_eq!(kinds, ["ConfigMap", "Deployment", "Service"]);
    let data = &out[0]["data"];
    assert_eq!(data["HARBOR_SERVICE_HOST"], "demo-harbor-core");
    assert_eq!(data["HARBOR_SERVICE_PORT"], "80");
    assert_eq!(data["HARBOR_DATABASE_SSLMODE"], "require");
    assert_eq!(data["HARBOR_DATABASE_MAX_OPEN_CONNS"], "300");
    assert_eq!(data["HARBOR_EXPORTER_PORT"], "8001");
    assert!(data.get("HARBOR_REDIS_URL").is_none());
    assert!(!out[0].to_string().contains("PASSWORD"));
}

#[test]
fn redis_url_follows_its_password_in_the_env() {
    let out = objects(base_spec(), true);
    let container = &out[1]["spec"]["template"]["spec"]["containers"][0];
    let env = container["env"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = env.iter().map(|e| e["name"].as_str().unwrap_or_default()).collect();
    assert_eq!(names, ["HARBOR_ADMIN_PASSWORD", "HARBOR_DATABASE_PASSWORD", "REDIS_PASSWORD", "HARBOR_REDIS_URL"]);
    assert_eq!(env[3]["value"], "redis://:$(REDIS_PASSWORD)@r:6379/1");
    assert_eq!(container["args"], serde_json::json!(["-log-level", "info"]));

    let open = objects(base_spec(), false);
    let env = &open[1]["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(env.as_array().map(Vec::len), Some(3));
}

#[test]
fn negative_replicas_names_the_field() {
    let mut spec = base_spec();
    spec["exporter"] = serde_json::json!({"replicas": -1});
    let err = Exporter::render(&request(spec, false)).err().unwrap_or_else(|| panic!("refused"));
    assert!(matches!(&err, RenderError::InvalidSpec(InvalidSpec { field, .. }) if field == "spec.exporter.replicas"), "{err:?}");
}
