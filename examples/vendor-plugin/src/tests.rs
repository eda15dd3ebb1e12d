use std::collections::BTreeMap;

use berth_sdk::topology::{DatabaseEndpoint, KeyValue, RedisEndpoint, RedisIndices, SecretNames};
use berth_sdk::{ClusterIdentity, ComponentTopology, RenderInput, RenderRequest, Renderer, SecretKeyRef, Topology};
use serde_json::Value;

use super::*;

/// (component, container port) as the host resolves them (`host/src/topology.rs`, the
/// chart's plain-HTTP ports).
const PORTS: &[(&str, u16)] = &[
    ("core", 8080),
    ("jobservice", 8080),
    ("portal", 8080),
    ("registry", 5000),
    ("registryctl", 8080),
    ("trivy", 8080),
    ("exporter", 8001),
    ("database", 5432),
    ("redis", 6379),
    ("nginx", 8080),
];

/// Everything a cluster with in-cluster database and Redis, trivy and metrics runs.
const ALL: &[&str] = &["core", "jobservice", "portal", "registry", "trivy", "exporter", "database", "redis", "expose"];

/// The components that get a policy when everything in [`ALL`] runs.
const WITH_PODS: &[&str] = &["core", "jobservice", "portal", "registry", "trivy", "exporter", "database", "redis"];

fn pairs(map: &BTreeMap<String, String>) -> Vec<KeyValue> {
    map.iter().map(|(key, value)| KeyValue { key: key.clone(), value: value.clone() }).collect()
}

fn topology(enabled: &[&str]) -> Topology {
    let match_labels = BTreeMap::from([("app".to_owned(), "harbor".to_owned()), ("release".to_owned(), "demo".to_owned())]);
    let mut labels = match_labels.clone();
    labels.insert("app.kubernetes.io/managed-by".to_owned(), "berth".to_owned());
    let components = PORTS
        .iter()
        .map(|(name, port)| {
            // registryctl rides on the registry's Service, as the host resolves it.
            let service = if *name == "registryctl" { "registry" } else { name };
            let service_name = format!("demo-harbor-{service}");
            let mut selector = match_labels.clone();
            selector.insert("component".to_owned(), (*name).to_owned());
            ComponentTopology {
                component: (*name).to_owned(),
                name: format!("demo-harbor-{name}"),
                url: format!("http://{service_name}:{port}"),
                service_name,
                service_port: *port,
                container_port: *port,
                scheme: "http".to_owned(),
                images: Vec::new(),
                labels: pairs(&labels),
                selector: pairs(&selector),
            }
        })
        .collect();
    let secret = |name: &str, key: &str| SecretKeyRef { name: name.to_owned(), key: key.to_owned() };
    Topology {
        fullname: "demo-harbor".to_owned(),
        labels: pairs(&labels),
        components,
        image_pull_policy: "IfNotPresent".to_owned(),
        image_pull_secrets: Vec::new(),
        external_url: "https://harbor.example.com".to_owned(),
        enabled: enabled.iter().map(|c| (*c).to_owned()).collect(),
        secrets: SecretNames {
            core: "demo-harbor-core".to_owned(),
            jobservice: "demo-harbor-jobservice".to_owned(),
            registry: "demo-harbor-registry".to_owned(),
            registry_htpasswd: "demo-harbor-registry-htpasswd".to_owned(),
            admin_password: secret("demo-harbor-core", "HARBOR_ADMIN_PASSWORD"),
        },
        database: DatabaseEndpoint {
            host: "demo-harbor-database".to_owned(),
            port: 5432,
            username: "postgres".to_owned(),
            database: "registry".to_owned(),
            sslmode: "disable".to_owned(),
            max_idle_conns: 100,
            max_open_conns: 900,
            password: secret("demo-harbor-database", "POSTGRES_PASSWORD"),
        },
        redis: RedisEndpoint {
            addr: "demo-harbor-redis:6379".to_owned(),
            sentinel_master_set: None,
            username: None,
            password: None,
            tls: false,
            indices: RedisIndices { core: 0, jobservice: 1, registry: 2, trivy: 5 },
        },
    }
}

fn spec(extra: Value) -> String {
    let mut spec = serde_json::json!({"version": "2.15.1", "externalURL": "https://harbor.example.com"});
    if let (Some(spec), Value::Object(extra)) = (spec.as_object_mut(), extra) {
        spec.extend(extra);
    }
    spec.to_string()
}

fn ingress_and_metrics() -> String {
    spec(serde_json::json!({
        "metrics": {"enabled": true},
        "expose": {"type": "ingress", "ingress": {"host": "harbor.example.com"}},
    }))
}

/// The contract's input, as the host hands it to the plugin.
fn input(spec_json: String, enabled: &[&str]) -> RenderInput {
    RenderInput {
        cluster: ClusterIdentity { name: "demo".to_owned(), namespace: "registry".to_owned(), uid: String::new() },
        harbor_version: "2.15.1".to_owned(),
        spec_json,
        topology: topology(enabled),
        task: None,
    }
}

/// Renders through the SDK's entry point (parsing, version check), as the guest does.
fn render(spec_json: String, enabled: &[&str]) -> Vec<Value> {
    let output = berth_sdk::render_input::<NetworkPolicies>(input(spec_json, enabled)).unwrap_or_else(|e| panic!("renders: {e}"));
    output.objects.iter().map(|o| serde_json::from_str(o).unwrap_or_else(|e| panic!("{e}: {o}"))).collect()
}

fn policy<'a>(objects: &'a [Value], component: &str) -> &'a Value {
    let name = format!("demo-harbor-network-policy-{component}");
    objects.iter().find(|o| o["metadata"]["name"] == name.as_str()).unwrap_or_else(|| panic!("no policy {name}"))
}

/// The rule admitting traffic to `port`.
fn rule(policy: &Value, port: u16) -> &Value {
    policy["spec"]["ingress"]
        .as_array()
        .and_then(|rules| rules.iter().find(|r| r["ports"][0]["port"] == port))
        .unwrap_or_else(|| panic!("no rule for port {port} in {policy}"))
}

/// The `component` labels of the pods a rule admits.
fn callers(rule: &Value) -> Vec<String> {
    rule["from"]
        .as_array()
        .map(|from| from.iter().filter_map(|peer| peer["podSelector"]["matchLabels"]["component"].as_str()).map(str::to_owned).collect())
        .unwrap_or_default()
}

fn ports(policy: &Value) -> Vec<u64> {
    policy["spec"]["ingress"]
        .as_array()
        .map(|rules| rules.iter().filter_map(|r| r["ports"][0]["port"].as_u64()).collect())
        .unwrap_or_default()
}

#[test]
fn one_policy_per_enabled_component_with_pods() {
    let objects = render(ingress_and_metrics(), ALL);
    let names: Vec<&str> = objects.iter().filter_map(|o| o["metadata"]["name"].as_str()).collect();
    let expected: Vec<String> = WITH_PODS.iter().map(|c| format!("demo-harbor-network-policy-{c}")).collect();
    assert_eq!(names, expected);
    for object in &objects {
        assert_eq!(object["apiVersion"], "networking.k8s.io/v1");
        assert_eq!(object["kind"], "NetworkPolicy");
        assert_eq!(object["spec"]["policyTypes"], serde_json::json!(["Ingress"]));
        assert_eq!(object["metadata"]["labels"]["app.kubernetes.io/component"], COMPONENT);
    }
}

#[test]
fn every_policy_selects_its_components_own_pods() {
    let objects = render(ingress_and_metrics(), ALL);
    let topology = topology(ALL);
    for component in WITH_PODS {
        let selector = &policy(&objects, component)["spec"]["podSelector"]["matchLabels"];
        assert_eq!(selector, &serde_json::json!(topology.component(component).map(|c| c.selector()).unwrap_or_default()), "{component}");
    }
}

#[test]
fn registry_admits_core_and_jobservice_and_not_trivy() {
    let objects = render(ingress_and_metrics(), ALL);
    let registry = policy(&objects, "registry");
    assert_eq!(callers(rule(registry, 5000)), ["core", "jobservice"]);
    assert_eq!(callers(rule(registry, 8080)), ["core", "jobservice"], "registryctl");
    assert_eq!(ports(registry), [5000, 8080, 8001]);
    let text = registry.to_string();
    assert!(!text.contains("\"trivy\""), "{text}");
}

#[test]
fn database_policy_is_absent_when_the_database_is_external() {
    let enabled: Vec<&str> = ALL.iter().copied().filter(|c| *c != "database").collect();
    let objects = render(ingress_and_metrics(), &enabled);
    assert!(objects.iter().all(|o| o["metadata"]["name"] != "demo-harbor-network-policy-database"));
    assert_eq!(objects.len(), WITH_PODS.len() - 1);
}

#[test]
fn redis_policy_is_absent_when_redis_is_external() {
    let enabled: Vec<&str> = ALL.iter().copied().filter(|c| *c != "redis").collect();
    let objects = render(ingress_and_metrics(), &enabled);
    assert!(objects.iter().all(|o| o["metadata"]["name"] != "demo-harbor-network-policy-redis"));
}

#[test]
fn in_cluster_stores_admit_only_their_clients() {
    let objects = render(ingress_and_metrics(), ALL);
    assert_eq!(callers(rule(policy(&objects, "database"), 5432)), ["core", "jobservice", "exporter"]);
    assert_eq!(callers(rule(policy(&objects, "redis"), 6379)), ["core", "jobservice", "registry", "trivy", "exporter"]);
    assert_eq!(callers(rule(policy(&objects, "trivy"), 8080)), ["core", "jobservice"]);
    assert_eq!(callers(rule(policy(&objects, "jobservice"), 8080)), ["core"]);
}

#[test]
fn disabled_callers_are_not_admitted() {
    // No trivy, no metrics (so no exporter).
    let enabled = ["core", "jobservice", "portal", "registry", "database", "redis", "expose"];
    let objects = render(spec(serde_json::json!({})), &enabled);
    assert_eq!(objects.len(), 6);
    assert_eq!(callers(rule(policy(&objects, "redis"), 6379)), ["core", "jobservice", "registry"]);
    assert_eq!(callers(rule(policy(&objects, "database"), 5432)), ["core", "jobservice"]);
    // Without metrics no component opens 8001.
    assert_eq!(ports(policy(&objects, "core")), [8080]);
    assert_eq!(ports(policy(&objects, "registry")), [5000, 8080]);
}

#[test]
fn behind_an_ingress_core_and_portal_admit_any_source_on_their_http_port() {
    let objects = render(ingress_and_metrics(), ALL);
    for component in ["core", "portal"] {
        let http = rule(policy(&objects, component), 8080);
        assert!(http.get("from").is_none(), "{component}: {http}");
    }
    // Users never reach the registry directly: core proxies /v2/.
    assert!(rule(policy(&objects, "registry"), 5000).get("from").is_some());
}

#[test]
fn behind_the_nginx_proxy_core_and_portal_admit_its_pods_and_their_callers() {
    let objects = render(spec(serde_json::json!({"expose": {"type": "loadBalancer"}})), ALL);
    assert_eq!(callers(rule(policy(&objects, "core"), 8080)), ["nginx", "jobservice", "trivy", "exporter"]);
    assert_eq!(callers(rule(policy(&objects, "portal"), 8080)), ["nginx", "core"]);
}

#[test]
fn metrics_ports_admit_any_pod_of_the_cluster_only() {
    let objects = render(ingress_and_metrics(), ALL);
    for component in ["core", "jobservice", "registry", "exporter"] {
        let metrics = rule(policy(&objects, component), 8001);
        assert_eq!(metrics["from"], serde_json::json!([{"namespaceSelector": {}}]), "{component}");
    }
}

#[test]
fn describes_the_vendor_component() {
    let description = NetworkPolicies::describe();
    assert_eq!(description.name, "vendor-networkpolicy");
    assert_eq!(description.version, "0.1.0");
    assert_eq!(description.component, "network-policy");
    assert_eq!(description.harbor_versions, ["2.13", "2.14", "2.15"]);
    assert_eq!(description.contract_version, berth_sdk::CONTRACT_VERSION);
}

#[test]
fn an_unsupported_harbor_version_is_refused() {
    let mut input = input(ingress_and_metrics(), ALL);
    input.harbor_version = "2.12.0".to_owned();
    let err = berth_sdk::render_input::<NetworkPolicies>(input).err();
    assert!(matches!(err, Some(berth_sdk::RenderError::Unsupported(_))), "{err:?}");
}

#[test]
fn a_topology_without_an_enabled_component_is_an_error_not_a_panic() {
    let mut topology = topology(ALL);
    topology.components.retain(|c| c.component != "trivy");
    let request = RenderRequest {
        cluster: ClusterIdentity { name: "demo".to_owned(), namespace: "registry".to_owned(), uid: String::new() },
        harbor_version: "2.15.1".to_owned(),
        spec: berth_sdk::parse_spec_json(&ingress_and_metrics()).unwrap_or_else(|e| panic!("{e}")),
        topology,
    };
    let err = NetworkPolicies::render(&request).err();
    assert!(matches!(err, Some(berth_sdk::RenderError::Internal(_))), "{err:?}");
}

#[test]
fn every_edge_names_a_known_component() {
    for edge in CALLERS {
        assert!(WITH_PODS.contains(&edge.to), "{edge:?}");
        if let Caller::Component(from) = edge.from {
            assert!(WITH_PODS.contains(&from), "{edge:?}");
            assert_ne!(from, edge.to, "{edge:?}");
        }
    }
}

#[test]
#[ignore = "prints a sample render: cargo test -p berth-vendor-networkpolicy -- --ignored --nocapture"]
fn print_sample() {
    for object in render(ingress_and_metrics(), ALL) {
        println!("{}", serde_json::to_string_pretty(&object).unwrap_or_default());
    }
}
