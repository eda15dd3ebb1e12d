//! The expose component against the chart contract (harbor.md §3 `expose.*`, §4 routing
//! contract, §2 nginx/ingress/gateway rows), rendered through the real sandbox.

use berth::catalog::Catalog;
use berth::plugin_dir::PluginDir;
use berth::render::{ClusterRender, ClusterRenderError, RenderedObject};
use berth_api::spec::{ExposeType, HarborCluster, IngressExpose, RouteExpose};
use berth_tests::{bundled_plugins, read_example, render, sandbox};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Container, PodSpec, Service};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

const CORE_PATHS: [&str; 4] = ["/api/", "/service/", "/v2/", "/c/"];

/// Renders with a catalog holding only the bundled expose plugin: what the other
/// components render (or whether they agree with each other yet) must not decide this
/// contract, and loading one plugin keeps the test quick.
fn render_cluster(cluster: &HarborCluster) -> ClusterRender {
    render_with_expose_only(cluster).unwrap_or_else(|e| panic!("{e}"))
}

fn render_with_expose_only(cluster: &HarborCluster) -> Result<ClusterRender, ClusterRenderError> {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let wasm = "berth_plugin_expose.wasm";
    std::fs::copy(bundled_plugins().join(wasm), dir.path().join(wasm)).unwrap_or_else(|e| panic!("{e}"));
    let plugins = PluginDir::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let sandbox = sandbox();
    let catalog = Catalog::load_dir(&sandbox, &plugins, berth_tests::patient_limits()).unwrap_or_else(|e| panic!("{e}"));
    render(&catalog, cluster)
}

/// The expose component's objects; other components may still be placeholders.
fn expose_objects(cluster: &HarborCluster) -> Vec<RenderedObject> {
    let rendered = render_cluster(cluster);
    let (_, result) = rendered.components.into_iter().find(|(c, _)| c == "expose").unwrap_or_else(|| panic!("expose was not rendered"));
    result.unwrap_or_else(|e| panic!("expose failed: {e}")).objects
}

fn expose_error_field(cluster: &HarborCluster) -> String {
    berth_tests::spec_error_field(render_with_expose_only(cluster), "expose")
}

fn typed<T: k8s_openapi::serde::de::DeserializeOwned>(objects: &[RenderedObject], kind: &str) -> T {
    let object = objects
        .iter()
        .find(|o| o.kind() == kind)
        .unwrap_or_else(|| panic!("no {kind} among {:?}", objects.iter().map(RenderedObject::kind).collect::<Vec<_>>()));
    serde_json::from_value(Value::Object(object.object.clone())).unwrap_or_else(|e| panic!("{kind} {}: {e}", object.name()))
}

fn kinds(objects: &[RenderedObject]) -> Vec<&str> {
    objects.iter().map(RenderedObject::kind).collect()
}

fn assert_every_object_deserializes(objects: &[RenderedObject]) {
    for o in objects {
        let value = Value::Object(o.object.clone());
        let parsed = match o.kind() {
            "ConfigMap" => serde_json::from_value::<ConfigMap>(value).map(drop),
            "Deployment" => serde_json::from_value::<Deployment>(value).map(drop),
            "Service" => serde_json::from_value::<Service>(value).map(drop),
            "Ingress" => serde_json::from_value::<Ingress>(value).map(drop),
            // Not modelled by k8s-openapi; its shape is asserted field by field.
            "HTTPRoute" => Ok(()),
            "PodDisruptionBudget" => serde_json::from_value::<k8s_openapi::api::policy::v1::PodDisruptionBudget>(value).map(drop),
            other => panic!("unexpected kind {other}"),
        };
        parsed.unwrap_or_else(|e| panic!("{} {}: {e}", o.kind(), o.name()));
    }
}

#[test]
fn production_ingress_routes_core_paths_to_core_and_the_rest_to_the_portal() {
    let objects = expose_objects(&read_example("production.yaml"));
    assert_eq!(kinds(&objects), ["Ingress"], "ingress mode renders no nginx proxy");
    assert_every_object_deserializes(&objects);
    let ingress: Ingress = typed(&objects, "Ingress");
    assert_eq!(ingress.metadata.name.as_deref(), Some("harbor-prod-ingress"));
    assert_eq!(ingress.metadata.namespace.as_deref(), Some("registry"));
    let annotations = ingress.metadata.annotations.clone().unwrap_or_default();
    for (key, value) in [
        ("nginx.ingress.kubernetes.io/proxy-body-size", "0"),
        ("ingress.kubernetes.io/proxy-body-size", "0"),
        ("nginx.ingress.kubernetes.io/ssl-redirect", "true"),
        ("ingress.kubernetes.io/ssl-redirect", "true"),
    ] {
        assert_eq!(annotations.get(key).map(String::as_str), Some(value), "annotation {key}");
    }
    let spec = ingress.spec.unwrap_or_default();
    assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
    let tls = spec.tls.unwrap_or_default();
    assert_eq!(tls.len(), 1);
    assert_eq!(tls[0].secret_name.as_deref(), Some("registry-example-com-tls"));
    assert_eq!(tls[0].hosts, Some(vec!["registry.example.com".to_owned()]));
    let rules = spec.rules.unwrap_or_default();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].host.as_deref(), Some("registry.example.com"));
    let paths = rules[0].http.clone().unwrap_or_else(|| panic!("no http rule")).paths;
    let routed: Vec<(String, String, String, i32)> = paths
        .iter()
        .map(|p| {
            let service = p.backend.service.clone().unwrap_or_else(|| panic!("no service backend"));
            (
                p.path.clone().unwrap_or_default(),
                p.path_type.clone(),
                service.name,
                service.port.and_then(|port| port.number).unwrap_or_default(),
            )
        })
        .collect();
    let mut expected: Vec<(String, String, String, i32)> =
        CORE_PATHS.iter().map(|p| ((*p).to_owned(), "Prefix".to_owned(), "harbor-prod-core".to_owned(), 80)).collect();
    expected.push(("/".to_owned(), "Prefix".to_owned(), "harbor-prod-portal".to_owned(), 80));
    assert_eq!(routed, expected);
}

#[test]
fn gateway_route_attaches_to_the_shared_gateway() {
    let objects = expose_objects(&read_example("gateway.yaml"));
    assert_eq!(kinds(&objects), ["HTTPRoute"], "route mode renders no nginx proxy");
    assert_every_object_deserializes(&objects);
    let route = Value::Object(objects[0].object.clone());
    assert_eq!(route["apiVersion"], "gateway.networking.k8s.io/v1");
    assert_eq!(route["metadata"]["name"], "team-a-harbor-route");
    assert_eq!(route["metadata"]["namespace"], "team-a");
    assert_eq!(route["spec"]["parentRefs"], json!([{"name": "shared-gateway", "namespace": "gateway-system", "sectionName": "https"}]));
    assert_eq!(route["spec"]["hostnames"], json!(["harbor.team-a.example.com"]));
    let core_matches: Vec<Value> = CORE_PATHS.iter().map(|p| json!({"path": {"type": "PathPrefix", "value": p}})).collect();
    assert_eq!(
        route["spec"]["rules"],
        json!([
            {"matches": core_matches, "backendRefs": [{"name": "team-a-harbor-core", "port": 80}]},
            {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
             "backendRefs": [{"name": "team-a-harbor-portal", "port": 80}]},
        ])
    );
}

fn nginx_container(deployment: &Deployment) -> (PodSpec, Container) {
    let pod = deployment.spec.clone().unwrap_or_default().template.spec.unwrap_or_default();
    let container = pod.containers.first().cloned().unwrap_or_else(|| panic!("no container"));
    (pod, container)
}

fn probe_target(container: &Container) -> (Option<String>, IntOrString, Option<String>) {
    let get = container.readiness_probe.as_ref().and_then(|p| p.http_get.clone()).unwrap_or_else(|| panic!("no readiness httpGet"));
    let live = container.liveness_probe.as_ref().and_then(|p| p.http_get.clone());
    assert_eq!(live.as_ref(), Some(&get), "liveness and readiness probe the same endpoint");
    (get.path, get.port, get.scheme)
}

#[test]
fn minimal_runs_the_nginx_proxy_behind_a_cluster_ip_service() {
    let objects = expose_objects(&read_example("minimal.yaml"));
    assert_eq!(kinds(&objects), ["ConfigMap", "Deployment", "Service"]);
    assert_every_object_deserializes(&objects);

    let cm: ConfigMap = typed(&objects, "ConfigMap");
    assert_eq!(cm.metadata.name.as_deref(), Some("demo-harbor-nginx"));
    let conf = cm.data.unwrap_or_default().remove("nginx.conf").unwrap_or_default();
    for needle in [
        "pid /tmp/nginx.pid;",
        "proxy_temp_path /tmp/proxy_temp;",
        "server \"demo-harbor-core:80\";",
        "server \"demo-harbor-portal:80\";",
        "listen 8080;",
        "listen [::]:8080;",
        "client_max_body_size 0;",
        "chunked_transfer_encoding on;",
        "proxy_request_buffering off;",
        "proxy_buffering off;",
        "location /v2/ {\n      proxy_pass http://core/v2/;",
        "proxy_send_timeout 900;",
        "proxy_read_timeout 900;",
        "location /api/ {\n      proxy_pass http://core/api/;",
        "location /c/ {\n      proxy_pass http://core/c/;",
        "location /service/ {\n      proxy_pass http://core/service/;",
        "location / {\n      proxy_pass http://portal/;",
        "location /v1/ {\n      return 404;",
        "location /service/notifications {\n      return 404;",
        "proxy_set_header X-Forwarded-Proto $x_forwarded_proto;",
    ] {
        assert!(conf.contains(needle), "nginx.conf lacks {needle:?}:\n{conf}");
    }
    assert!(!conf.contains("ssl"), "no TLS without spec.expose.tlsSecret");

    let deployment: Deployment = typed(&objects, "Deployment");
    assert_eq!(deployment.metadata.name.as_deref(), Some("demo-harbor-nginx"));
    let spec = deployment.spec.clone().unwrap_or_default();
    assert_eq!(spec.replicas, Some(1));
    let selector = spec.selector.match_labels.clone().unwrap_or_default();
    assert_eq!(selector.get("component").map(String::as_str), Some("nginx"));
    assert_eq!(selector.get("release").map(String::as_str), Some("demo"));
    let (pod, container) = nginx_container(&deployment);
    assert_eq!(container.name, "nginx");
    assert_eq!(container.image.as_deref(), Some("docker.io/goharbor/nginx-photon:v2.15.1"));
    let ports: Vec<i32> = container.ports.clone().unwrap_or_default().iter().map(|p| p.container_port).collect();
    // 8443 is declared only when nginx listens on it (with spec.expose.tlsSecret).
    assert_eq!(ports, [8080]);
    assert_eq!(probe_target(&container), (Some("/".to_owned()), IntOrString::Int(8080), Some("HTTP".to_owned())));
    let mounts = container.volume_mounts.clone().unwrap_or_default();
    assert_eq!(mounts.len(), 1);
    assert_eq!((mounts[0].mount_path.as_str(), mounts[0].sub_path.as_deref()), ("/etc/nginx/nginx.conf", Some("nginx.conf")));
    let security = container.security_context.clone().unwrap_or_default();
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(security.run_as_non_root, Some(true));
    assert_eq!(pod.security_context.and_then(|s| s.run_as_user), Some(10000));
    let annotations = spec.template.metadata.and_then(|m| m.annotations).unwrap_or_default();
    assert!(annotations.contains_key("configmap.checksum.berth.dev/demo-harbor-nginx"), "{annotations:?}");

    let service: Service = typed(&objects, "Service");
    assert_eq!(service.metadata.name.as_deref(), Some("harbor"));
    let svc = service.spec.unwrap_or_default();
    assert_eq!(svc.type_.as_deref(), Some("ClusterIP"));
    assert_eq!(svc.selector, Some(selector));
    let ports: Vec<(Option<String>, i32, Option<IntOrString>)> =
        svc.ports.unwrap_or_default().into_iter().map(|p| (p.name, p.port, p.target_port)).collect();
    assert_eq!(ports, [(Some("http".to_owned()), 80, Some(IntOrString::Int(8080)))]);
}

#[test]
fn swift_load_balancer_terminates_tls_with_the_users_secret() {
    let objects = expose_objects(&read_example("swift.yaml"));
    assert_eq!(kinds(&objects), ["ConfigMap", "Deployment", "Service"]);
    assert_every_object_deserializes(&objects);

    let service: Service = typed(&objects, "Service");
    assert_eq!(service.metadata.name.as_deref(), Some("harbor"));
    let svc = service.spec.unwrap_or_default();
    assert_eq!(svc.type_.as_deref(), Some("LoadBalancer"));
    let ports: Vec<(Option<String>, i32, Option<IntOrString>)> =
        svc.ports.unwrap_or_default().into_iter().map(|p| (p.name, p.port, p.target_port)).collect();
    assert_eq!(
        ports,
        [(Some("http".to_owned()), 80, Some(IntOrString::Int(8080))), (Some("https".to_owned()), 443, Some(IntOrString::Int(8443))),]
    );

    let cm: ConfigMap = typed(&objects, "ConfigMap");
    let conf = cm.data.unwrap_or_default().remove("nginx.conf").unwrap_or_default();
    for needle in [
        "listen 8443 ssl;",
        "listen [::]:8443 ssl;",
        "ssl_certificate /etc/nginx/cert/tls.crt;",
        "ssl_certificate_key /etc/nginx/cert/tls.key;",
        "add_header Strict-Transport-Security",
        "proxy_cookie_path / \"/; Secure\";",
        "return 301 https://$host$request_uri;",
        "client_max_body_size 0;",
        "location /v2/ {",
    ] {
        assert!(conf.contains(needle), "nginx.conf lacks {needle:?}:\n{conf}");
    }

    let deployment: Deployment = typed(&objects, "Deployment");
    let (pod, container) = nginx_container(&deployment);
    assert_eq!(container.image.as_deref(), Some("docker.io/goharbor/nginx-photon:v2.14.4"));
    assert_eq!(probe_target(&container), (Some("/".to_owned()), IntOrString::Int(8443), Some("HTTPS".to_owned())));
    let ports: Vec<i32> = container.ports.clone().unwrap_or_default().iter().map(|p| p.container_port).collect();
    assert_eq!(ports, [8080, 8443]);
    let cert_volume =
        pod.volumes.unwrap_or_default().into_iter().find(|v| v.secret.is_some()).unwrap_or_else(|| panic!("no certificate volume"));
    assert_eq!(cert_volume.secret.and_then(|s| s.secret_name).as_deref(), Some("harbor-tls"));
    let mount = container
        .volume_mounts
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.name == cert_volume.name)
        .unwrap_or_else(|| panic!("certificate volume not mounted"));
    assert_eq!(mount.mount_path, "/etc/nginx/cert");
}

#[test]
fn node_port_service_carries_the_node_ports() {
    let mut cluster = read_example("swift.yaml");
    cluster.spec.expose.type_ = ExposeType::NodePort;
    cluster.spec.expose.service.http_node_port = Some(30002);
    cluster.spec.expose.service.https_node_port = Some(30003);
    let objects = expose_objects(&cluster);
    let service: Service = typed(&objects, "Service");
    let svc = service.spec.unwrap_or_default();
    assert_eq!(svc.type_.as_deref(), Some("NodePort"));
    let node_ports: Vec<Option<i32>> = svc.ports.unwrap_or_default().iter().map(|p| p.node_port).collect();
    assert_eq!(node_ports, [Some(30002), Some(30003)]);
}

#[test]
fn each_spec_error_names_its_field() {
    let mut c = read_example("minimal.yaml");
    c.spec.expose.type_ = ExposeType::Ingress;
    assert_eq!(expose_error_field(&c), "spec.expose.ingress");

    c.spec.expose.ingress = Some(IngressExpose { host: String::new(), class_name: None, annotations: Default::default() });
    assert_eq!(expose_error_field(&c), "spec.expose.ingress.host");

    let mut c = read_example("minimal.yaml");
    c.spec.expose.type_ = ExposeType::Route;
    assert_eq!(expose_error_field(&c), "spec.expose.route");

    c.spec.expose.route = Some(RouteExpose { parent_refs: vec![], hostnames: vec!["h".to_owned()], annotations: Default::default() });
    assert_eq!(expose_error_field(&c), "spec.expose.route.parentRefs");

    let mut c = read_example("minimal.yaml");
    c.spec.expose.type_ = ExposeType::NodePort;
    c.spec.expose.service.http_node_port = Some(80);
    assert_eq!(expose_error_field(&c), "spec.expose.service.httpNodePort");

    c.spec.expose.service.http_node_port = Some(30002);
    c.spec.expose.service.https_node_port = Some(40000);
    assert_eq!(expose_error_field(&c), "spec.expose.service.httpsNodePort");
}
