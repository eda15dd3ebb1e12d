use std::collections::BTreeMap;

use berth_sdk::topology::{DatabaseEndpoint, RedisEndpoint, SecretKey, SecretNames};
use berth_sdk::{ClusterIdentity, ComponentTopology, RenderError, RenderRequest, Renderer, Topology};

use super::*;

fn component(name: &str, port: u16, image: Option<(&str, &str)>) -> ComponentTopology {
    ComponentTopology {
        name: name.to_owned(),
        service_name: name.to_owned(),
        service_port: port,
        container_port: if port == 80 { 8080 } else { port },
        scheme: "http".to_owned(),
        url: format!("http://{name}:{port}"),
        images: image.into_iter().map(|(c, i)| (c.to_owned(), i.to_owned())).collect(),
    }
}

fn secret(name: &str, key: &str) -> SecretKey {
    SecretKey { name: name.to_owned(), key: key.to_owned() }
}

fn request(spec: serde_json::Value, redis_password: bool) -> RenderRequest {
    let topology = Topology {
        fullname: "demo-harbor".to_owned(),
        selector_labels: BTreeMap::from([("app".to_owned(), "harbor".to_owned())]),
        components: BTreeMap::from([
            ("core".to_owned(), component("demo-harbor-core", 80, None)),
            (
                "exporter".to_owned(),
                component("demo-harbor-exporter", 8001, Some(("exporter", "docker.io/goharbor/harbor-exporter:v2.15.1"))),
            ),
        ]),
        image_pull_policy: "IfNotPresent".to_owned(),
        secrets: SecretNames { admin_password: secret("demo-harbor-core", "HARBOR_ADMIN_PASSWORD"), ..SecretNames::default() },
        database: DatabaseEndpoint {
            host: "pg".to_owned(),
            port: 5432,
            username: "harbor".to_owned(),
            database: "registry".to_owned(),
            sslmode: "require".to_owned(),
            max_idle_conns: 100,
            max_open_conns: 300,
            password: secret("pg", "password"),
        },
        redis: RedisEndpoint {
            addr: "r:6379".to_owned(),
            password: redis_password.then(|| secret("redis", "password")),
            ..RedisEndpoint::default()
        },
        ..Topology::default()
    };
    RenderRequest {
        cluster: ClusterIdentity { name: "demo".to_owned(), namespace: "registry".to_owned(), uid: String::new() },
        harbor_version: "2.15.1".to_owned(),
        spec: berth_sdk::parse_spec_json(&spec.to_string()).expect("test spec parses"),
        topology,
    }
}

fn base_spec() -> serde_json::Value {
    serde_json::json!({"version": "2.15.1", "externalURL": "https://h.example.com", "metrics": {"enabled": true}})
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
    assert!(matches!(&err, RenderError::InvalidSpec { field, .. } if field == "spec.exporter.replicas"), "{err:?}");
}
