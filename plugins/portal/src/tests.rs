use std::collections::BTreeMap;

use berth_sdk::{ClusterIdentity, ComponentTopology, RenderError, RenderRequest, Renderer, Topology};

use super::*;

fn request(spec: serde_json::Value) -> RenderRequest {
    let topology = Topology {
        fullname: "demo-harbor".to_owned(),
        labels: BTreeMap::from([("app".to_owned(), "harbor".to_owned())]),
        selector_labels: BTreeMap::from([("app".to_owned(), "harbor".to_owned()), ("release".to_owned(), "demo".to_owned())]),
        components: BTreeMap::from([(
            "portal".to_owned(),
            ComponentTopology {
                name: "demo-harbor-portal".to_owned(),
                service_name: "demo-harbor-portal".to_owned(),
                service_port: 80,
                container_port: 8080,
                scheme: "http".to_owned(),
                url: "http://demo-harbor-portal".to_owned(),
                images: BTreeMap::from([("portal".to_owned(), "docker.io/goharbor/harbor-portal:v2.15.1".to_owned())]),
            },
        )]),
        image_pull_policy: "IfNotPresent".to_owned(),
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
    let err = Portal::render(&request(spec)).err().expect("refused");
    assert!(matches!(&err, RenderError::InvalidSpec { field, .. } if field == "spec.portal.replicas"), "{err:?}");
}

#[test]
fn no_ip_family_is_refused() {
    let mut spec = base_spec();
    spec["ipFamily"] = serde_json::json!({"ipv4": false, "ipv6": false});
    let err = Portal::render(&request(spec)).err().expect("refused");
    assert!(matches!(&err, RenderError::InvalidSpec { field, .. } if field == "spec.ipFamily"));
}

#[test]
fn image_override_wins_over_the_topology() {
    let mut spec = base_spec();
    spec["portal"] = serde_json::json!({"image": "mirror.local/portal:patched"});
    let out = Portal::render(&request(spec)).expect("renders").into_output();
    assert!(out.objects[1].contains("mirror.local/portal:patched"));
}
