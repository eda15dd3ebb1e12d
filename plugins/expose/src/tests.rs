use std::collections::BTreeMap;

use berth_sdk::{RenderError, RenderRequest, Renderer};
use serde_json::{Value, json};

use berth_sdk::InvalidSpec;

use super::*;

fn request(spec: Value) -> RenderRequest {
    berth_tests::plugin_request(spec)
}

fn spec_with(expose: Value) -> Value {
    json!({"version": "2.15.1", "externalURL": "https://harbor.example.com", "expose": expose})
}

fn objects(expose: Value) -> Vec<Value> {
    Plugin::render(&request(spec_with(expose)))
        .expect("renders")
        .into_output()
        .objects
        .iter()
        .map(|o| serde_json::from_str(o).expect("json"))
        .collect()
}

fn refused_field(expose: Value) -> String {
    match Plugin::render(&request(spec_with(expose))) {
        Err(RenderError::InvalidSpec(InvalidSpec { field, .. })) => field,
        other => panic!("expected an invalid-spec error, got {other:?}"),
    }
}

fn backends() -> Backends {
    let b = |name: &str| Backend { service: format!("demo-harbor-{name}"), port: 80, scheme: "http".to_owned() };
    Backends { core: b("core"), portal: b("portal") }
}

#[test]
fn each_type_renders_only_its_objects() {
    let kinds =
        |expose: Value| -> Vec<String> { objects(expose).iter().map(|o| o["kind"].as_str().unwrap_or_default().to_owned()).collect() };
    assert_eq!(kinds(json!({})), ["ConfigMap", "Deployment", "Service"]);
    assert_eq!(kinds(json!({"type": "ingress", "ingress": {"host": "h"}})), ["Ingress"]);
    assert_eq!(kinds(json!({"type": "route", "route": {"parentRefs": [{"name": "gw"}], "hostnames": []}})), ["HTTPRoute"]);
}

#[test]
fn spec_errors_name_their_field() {
    assert_eq!(refused_field(json!({"type": "ingress"})), "spec.expose.ingress");
    assert_eq!(refused_field(json!({"type": "ingress", "ingress": {"host": " "}})), "spec.expose.ingress.host");
    assert_eq!(refused_field(json!({"type": "route"})), "spec.expose.route");
    assert_eq!(refused_field(json!({"type": "route", "route": {"parentRefs": [], "hostnames": ["h"]}})), "spec.expose.route.parentRefs");
    assert_eq!(refused_field(json!({"type": "nodePort", "service": {"httpNodePort": 8080}})), "spec.expose.service.httpNodePort");
    assert_eq!(refused_field(json!({"type": "nodePort", "service": {"httpsNodePort": 32768}})), "spec.expose.service.httpsNodePort");
    assert_eq!(refused_field(json!({"tlsSecret": ""})), "spec.expose.tlsSecret");
    assert_eq!(refused_field(json!({"nginx": {"replicas": -1}})), "spec.expose.nginx.replicas");
}

#[test]
fn no_ip_family_is_refused_in_proxy_mode() {
    let mut spec = spec_with(json!({}));
    spec["ipFamily"] = json!({"ipv4": false, "ipv6": false});
    let err = Plugin::render(&request(spec)).expect_err("refused");
    assert!(matches!(&err, RenderError::InvalidSpec(InvalidSpec { field, .. }) if field == "spec.ipFamily"));
}

#[test]
fn ingress_annotations_redirect_only_with_tls_and_the_user_wins() {
    let user = BTreeMap::from([("nginx.ingress.kubernetes.io/proxy-body-size".to_owned(), "10g".to_owned())]);
    let plain = ingress::annotations(false, "http", &BTreeMap::new());
    assert_eq!(plain.get("ingress.kubernetes.io/proxy-body-size").map(String::as_str), Some("0"));
    assert!(!plain.keys().any(|k| k.ends_with("ssl-redirect")));
    let tls = ingress::annotations(true, "http", &user);
    assert_eq!(tls.get("nginx.ingress.kubernetes.io/ssl-redirect").map(String::as_str), Some("true"));
    assert_eq!(tls.get("ingress.kubernetes.io/ssl-redirect").map(String::as_str), Some("true"));
    assert_eq!(tls.get("nginx.ingress.kubernetes.io/proxy-body-size").map(String::as_str), Some("10g"));
}

#[test]
fn plain_nginx_conf_routes_like_the_chart() {
    let conf = nginx_conf::nginx_conf(&backends(), nginx_conf::Listen { ipv4: true, ipv6: false, tls: false });
    for needle in [
        "pid /tmp/nginx.pid;",
        "client_body_temp_path /tmp/client_body_temp;",
        "server \"demo-harbor-core:80\";",
        "server \"demo-harbor-portal:80\";",
        "listen 8080;",
        "client_max_body_size 0;",
        "chunked_transfer_encoding on;",
        "proxy_pass http://portal/;",
        "proxy_pass http://core/api/;",
        "proxy_pass http://core/c/;",
        "proxy_pass http://core/v2/;",
        "proxy_pass http://core/service/;",
        "location /v1/ {\n      return 404;",
        "location /service/notifications {\n      return 404;",
        "proxy_read_timeout 900;",
        "proxy_send_timeout 900;",
        "proxy_request_buffering off;",
        "X-Forwarded-Proto $x_forwarded_proto;",
    ] {
        assert!(conf.contains(needle), "nginx.conf lacks {needle:?}:\n{conf}");
    }
    for absent in ["[::]", "ssl", "Strict-Transport-Security", "return 301", "Secure"] {
        assert!(!conf.contains(absent), "plain nginx.conf has {absent:?}");
    }
    assert_eq!(conf.matches('{').count(), conf.matches('}').count(), "unbalanced braces");
}

#[test]
fn https_nginx_conf_terminates_tls_and_redirects_http() {
    let conf = nginx_conf::nginx_conf(&backends(), nginx_conf::Listen { ipv4: true, ipv6: true, tls: true });
    for needle in [
        "listen 8443 ssl;",
        "listen [::]:8443 ssl;",
        "listen 8080;",
        "listen [::]:8080;",
        "ssl_certificate /etc/nginx/cert/tls.crt;",
        "ssl_certificate_key /etc/nginx/cert/tls.key;",
        "ssl_protocols TLSv1.2 TLSv1.3;",
        "add_header Strict-Transport-Security \"max-age=31536000; includeSubdomains; preload\";",
        "proxy_cookie_path / \"/; Secure\";",
        "return 301 https://$host$request_uri;",
    ] {
        assert!(conf.contains(needle), "nginx.conf lacks {needle:?}:\n{conf}");
    }
    assert_eq!(conf.matches('{').count(), conf.matches('}').count(), "unbalanced braces");
}

#[test]
fn node_ports_only_on_node_port_services() {
    let service = |expose: Value| objects(expose).into_iter().find(|o| o["kind"] == "Service").expect("a Service");
    let node = service(json!({"type": "nodePort", "tlsSecret": "t", "service": {"httpNodePort": 30002, "httpsNodePort": 30003}}));
    assert_eq!(node["spec"]["type"], "NodePort");
    assert_eq!(node["spec"]["ports"][0]["nodePort"], 30002);
    assert_eq!(node["spec"]["ports"][1]["nodePort"], 30003);
    let cluster = service(json!({"service": {"httpNodePort": 30002}}));
    assert_eq!(cluster["spec"]["type"], "ClusterIP");
    assert!(cluster["spec"]["ports"][0].get("nodePort").is_none());
    let lb = service(
        json!({"type": "loadBalancer", "service": {"loadBalancerIp": "10.0.0.9", "sourceRanges": ["10.0.0.0/8"], "annotations": {"a": "b"}}}),
    );
    assert_eq!(lb["spec"]["loadBalancerIP"], "10.0.0.9");
    assert_eq!(lb["spec"]["loadBalancerSourceRanges"], json!(["10.0.0.0/8"]));
    assert_eq!(lb["metadata"]["annotations"], json!({"a": "b"}));
}

#[test]
fn route_sends_core_paths_to_core_and_the_rest_to_the_portal() {
    let route =
        &objects(json!({"type": "route", "route": {"parentRefs": [{"name": "gw", "sectionName": "https"}], "hostnames": ["h"]}}))[0];
    assert_eq!(route["apiVersion"], "gateway.networking.k8s.io/v1");
    assert_eq!(route["metadata"]["name"], "demo-harbor-route");
    assert_eq!(route["spec"]["parentRefs"], json!([{"name": "gw", "sectionName": "https"}]));
    let rules = &route["spec"]["rules"];
    let values: Vec<&Value> = rules[0]["matches"].as_array().into_iter().flatten().map(|m| &m["path"]["value"]).collect();
    assert_eq!(values, ["/api/", "/service/", "/v2/", "/c/"]);
    assert_eq!(rules[0]["backendRefs"], json!([{"name": "demo-harbor-core", "port": 80}]));
    assert_eq!(rules[1]["matches"], json!([{"path": {"type": "PathPrefix", "value": "/"}}]));
    assert_eq!(rules[1]["backendRefs"], json!([{"name": "demo-harbor-portal", "port": 80}]));
}
