//! The registry renderer against the chart contract (harbor.md §4-§6): the examples go
//! through the real sandbox, and only the registry's own result is inspected.

use std::sync::OnceLock;

use berth::catalog::Catalog;
use berth::render::ClusterRender;
use berth::sandbox::Sandbox;
use berth_api::spec::HarborCluster;
use berth_tests::{bundled_catalog, read_example, render, sandbox};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Container, EnvVar, PersistentVolumeClaim, PodSpec, Service};
use serde_json::Value;

/// The registry's objects, each also deserialized into its Kubernetes type.
struct Registry {
    config: ConfigMap,
    deployment: Deployment,
    service: Service,
    claims: Vec<PersistentVolumeClaim>,
    render: ClusterRender,
}

fn typed<T: k8s_openapi::serde::de::DeserializeOwned>(value: &serde_json::Map<String, Value>) -> T {
    serde_json::from_value(Value::Object(value.clone())).unwrap_or_else(|e| panic!("{e}"))
}

/// One sandbox and catalog for every test here: loading compiles all nine plugins, which
/// is by far the slowest step on a shared machine.
fn catalog() -> &'static Catalog {
    static SHARED: OnceLock<(Sandbox, Catalog)> = OnceLock::new();
    &SHARED
        .get_or_init(|| {
            let sandbox = sandbox();
            let catalog = bundled_catalog(&sandbox);
            (sandbox, catalog)
        })
        .1
}

fn render_registry(cluster: &HarborCluster) -> Registry {
    let render = render(catalog(), cluster).unwrap_or_else(|e| panic!("{e}"));
    let objects = match render.components.iter().find(|(c, _)| c == "registry") {
        Some((_, Ok(component))) => component.objects.clone(),
        Some((_, Err(e))) => panic!("the registry failed: {e}"),
        None => panic!("no registry component rendered"),
    };
    let (mut config, mut deployment, mut service, mut claims) = (None, None, None, Vec::new());
    for o in &objects {
        match o.kind() {
            "ConfigMap" => config = Some(typed::<ConfigMap>(&o.object)),
            "Deployment" => deployment = Some(typed::<Deployment>(&o.object)),
            "Service" => service = Some(typed::<Service>(&o.object)),
            "PersistentVolumeClaim" => claims.push(typed::<PersistentVolumeClaim>(&o.object)),
            // Only with more than one replica; its shape is the SDK's and the registry plugin's tests'.
            "PodDisruptionBudget" => drop(typed::<k8s_openapi::api::policy::v1::PodDisruptionBudget>(&o.object)),
            other => panic!("unexpected kind {other}"),
        }
    }
    Registry {
        config: config.unwrap_or_else(|| panic!("no ConfigMap")),
        deployment: deployment.unwrap_or_else(|| panic!("no Deployment")),
        service: service.unwrap_or_else(|| panic!("no Service")),
        claims,
        render,
    }
}

impl Registry {
    fn file(&self, key: &str) -> String {
        self.config.data.as_ref().and_then(|d| d.get(key)).cloned().unwrap_or_else(|| panic!("no {key}"))
    }

    fn pod(&self) -> PodSpec {
        self.deployment.spec.clone().unwrap_or_default().template.spec.unwrap_or_default()
    }

    fn container(&self, name: &str) -> Container {
        self.pod().containers.into_iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no container {name}"))
    }

    fn strategy(&self) -> Option<String> {
        self.deployment.spec.clone().unwrap_or_default().strategy.and_then(|s| s.type_)
    }

    fn service_ports(&self) -> Vec<(String, i32)> {
        let ports = self.service.spec.clone().unwrap_or_default().ports.unwrap_or_default();
        ports.into_iter().map(|p| (p.name.unwrap_or_default(), p.port)).collect()
    }
}

fn env<'a>(container: &'a Container, name: &str) -> Option<&'a EnvVar> {
    container.env.as_ref().and_then(|e| e.iter().find(|v| v.name == name))
}

fn secret_ref(container: &Container, name: &str) -> Option<(String, String)> {
    let source = env(container, name)?.value_from.as_ref()?.secret_key_ref.as_ref()?;
    Some((source.name.clone(), source.key.clone()))
}

fn mounts(container: &Container) -> Vec<(String, String, Option<String>)> {
    container.volume_mounts.clone().unwrap_or_default().into_iter().map(|m| (m.name, m.mount_path, m.sub_path)).collect()
}

fn has_mount(container: &Container, path: &str) -> bool {
    mounts(container).iter().any(|(_, p, _)| p == path)
}

fn env_from(container: &Container) -> Vec<String> {
    container.env_from.clone().unwrap_or_default().into_iter().filter_map(|e| e.secret_ref.map(|s| s.name)).collect()
}

fn ports(container: &Container) -> Vec<(String, i32)> {
    container.ports.clone().unwrap_or_default().into_iter().map(|p| (p.name.unwrap_or_default(), p.container_port)).collect()
}

fn probe_path(container: &Container, liveness: bool) -> Option<(String, i32, Option<i32>)> {
    let probe = if liveness { container.liveness_probe.as_ref()? } else { container.readiness_probe.as_ref()? };
    let get = probe.http_get.as_ref()?;
    let port = match &get.port {
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(p) => *p,
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(_) => -1,
    };
    Some((get.path.clone().unwrap_or_default(), port, probe.initial_delay_seconds))
}

/// The parts of the contract every example shares.
fn assert_common(r: &Registry, fullname: &str, version: &str) {
    let name = format!("{fullname}-registry");
    assert_eq!(r.config.metadata.name.as_deref(), Some(name.as_str()));
    assert_eq!(r.deployment.metadata.name.as_deref(), Some(name.as_str()));
    assert_eq!(r.service.metadata.name.as_deref(), Some(name.as_str()));

    let config = r.file("config.yml");
    for line in [
        "version: 0.1\n",
        "log:\n  fields:\n    service: registry\n  level: info\n",
        "  cache:\n    layerinfo: redis\n",
        "  delete:\n    enabled: true\n",
        "  maintenance:\n    uploadpurging:\n      age: 168h\n      dryrun: false\n      enabled: true\n      interval: 24h\n",
        "  db: 2\n",
        "  readtimeout: 10s\n",
        "  writetimeout: 10s\n",
        "  dialtimeout: 10s\n",
        "  pool:\n    idletimeout: 60s\n    maxactive: 500\n    maxidle: 100\n",
        "  addr: \":5000\"\n",
        "  relativeurls: false\n",
        "auth:\n  htpasswd:\n    path: /etc/registry/passwd\n    realm: harbor-registry-basic-realm\n",
        "validation:\n  disabled: true\n",
        "compatibility:\n  schema1:\n    enabled: true\n",
    ] {
        assert!(config.contains(line), "config.yml lacks {line:?}:\n{config}");
    }
    assert!(!config.contains("password"), "a password in config.yml:\n{config}");
    assert!(!config.contains("notifications"), "the installer has no notifications block");
    assert_eq!(r.file("ctl-config.yml"), "log_level: info\nport: 8080\nprotocol: http\nregistry_config: /etc/registry/config.yml\n");

    let pod = r.pod();
    assert_eq!(pod.containers.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["registry", "registryctl"]);
    let security = pod.security_context.clone().unwrap_or_default();
    assert_eq!((security.run_as_user, security.fs_group), (Some(10000), Some(10000)));

    let registry = r.container("registry");
    assert_eq!(registry.image, Some(format!("docker.io/goharbor/registry-photon:v{version}")));
    assert_eq!(ports(&registry)[0], ("http-registry".to_owned(), 5000));
    assert_eq!(secret_ref(&registry, "REGISTRY_HTTP_SECRET"), Some((name.clone(), "REGISTRY_HTTP_SECRET".to_owned())));
    assert_eq!(probe_path(&registry, true), Some(("/".to_owned(), 5000, Some(300))));
    assert_eq!(probe_path(&registry, false), Some(("/".to_owned(), 5000, Some(1))));
    assert!(mounts(&registry).contains(&(
        "registry-config".to_owned(),
        "/etc/registry/config.yml".to_owned(),
        Some("config.yml".to_owned())
    )));
    let (passwd_volume, _, _) = mounts(&registry)
        .into_iter()
        .find(|(_, p, s)| p == "/etc/registry/passwd" && s.as_deref() == Some("passwd"))
        .unwrap_or_else(|| panic!("no /etc/registry/passwd mount"));
    let htpasswd = pod
        .volumes
        .clone()
        .unwrap_or_default()
        .into_iter()
        .find(|v| v.name == passwd_volume)
        .and_then(|v| v.secret)
        .unwrap_or_else(|| panic!("the passwd volume is not a Secret"));
    assert_eq!(htpasswd.secret_name, Some(format!("{fullname}-registry-htpasswd")));
    let item = &htpasswd.items.unwrap_or_default()[0];
    assert_eq!((item.key.as_str(), item.path.as_str()), ("REGISTRY_HTPASSWD", "passwd"));
    let security = registry.security_context.clone().unwrap_or_default();
    assert_eq!(security.allow_privilege_escalation, Some(false));

    let ctl = r.container("registryctl");
    assert_eq!(ctl.image, Some(format!("docker.io/goharbor/harbor-registryctl:v{version}")));
    assert_eq!(ports(&ctl), [("http-controller".to_owned(), 8080)]);
    assert_eq!(secret_ref(&ctl, "CORE_SECRET"), Some((format!("{fullname}-core"), "secret".to_owned())));
    assert_eq!(secret_ref(&ctl, "JOBSERVICE_SECRET"), Some((format!("{fullname}-jobservice"), "JOBSERVICE_SECRET".to_owned())));
    assert_eq!(secret_ref(&ctl, "REGISTRY_HTTP_SECRET"), Some((name.clone(), "REGISTRY_HTTP_SECRET".to_owned())));
    assert_eq!(probe_path(&ctl, true), Some(("/api/health".to_owned(), 8080, Some(300))));
    assert_eq!(probe_path(&ctl, false), Some(("/api/health".to_owned(), 8080, Some(1))));
    let ctl_mounts = mounts(&ctl);
    assert!(ctl_mounts.contains(&("registry-config".to_owned(), "/etc/registry/config.yml".to_owned(), Some("config.yml".to_owned()))));
    assert!(ctl_mounts.contains(&(
        "registry-config".to_owned(),
        "/etc/registryctl/config.yml".to_owned(),
        Some("ctl-config.yml".to_owned())
    )));
    assert_eq!(env_from(&registry), env_from(&ctl), "registryctl must reach the same storage");

    // The selector must match the pods, and carry the chart's component label.
    let spec = r.deployment.spec.clone().unwrap_or_default();
    let selector = spec.selector.match_labels.unwrap_or_default();
    assert_eq!(selector.get("component").map(String::as_str), Some("registry"));
    let pod_labels = spec.template.metadata.and_then(|m| m.labels).unwrap_or_default();
    assert!(selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v)));
    assert_eq!(r.service.spec.clone().unwrap_or_default().selector, Some(selector));
}

#[test]
fn minimal_runs_on_a_filesystem_claim() {
    let r = render_registry(&read_example("minimal.yaml"));
    assert_common(&r, "demo-harbor", "2.15.1");
    let config = r.file("config.yml");
    assert!(config.contains("  filesystem:\n    rootdirectory: /storage\n"), "{config}");
    assert!(config.contains("  redirect:\n    disable: false\n"));
    assert!(config.contains("  addr: demo-harbor-redis:6379\n"), "{config}");
    assert!(config.contains("    addr: localhost:5001\n"), "metrics are off:\n{config}");

    assert_eq!(r.claims.len(), 1);
    let claim = &r.claims[0];
    assert_eq!(claim.metadata.name.as_deref(), Some("demo-harbor-registry"));
    let claim_spec = claim.spec.clone().unwrap_or_default();
    assert_eq!(claim_spec.access_modes, Some(vec!["ReadWriteOnce".to_owned()]));
    let size = claim_spec.resources.and_then(|r| r.requests).and_then(|r| r.get("storage").cloned());
    assert_eq!(size.map(|q| q.0), Some("5Gi".to_owned()));

    let data = r
        .pod()
        .volumes
        .unwrap_or_default()
        .into_iter()
        .find(|v| v.persistent_volume_claim.as_ref().is_some_and(|c| c.claim_name == "demo-harbor-registry"))
        .unwrap_or_else(|| panic!("the claim is not mounted"));
    for name in ["registry", "registryctl"] {
        let container = r.container(name);
        assert!(mounts(&container).contains(&(data.name.clone(), "/storage".to_owned(), None)), "{name}");
        assert!(env_from(&container).is_empty());
        assert!(env(&container, "REGISTRY_REDIS_PASSWORD").is_none(), "internal Redis has no password");
    }
    assert_eq!(r.strategy().as_deref(), Some("Recreate"));
    assert_eq!(r.deployment.spec.clone().unwrap_or_default().replicas, Some(1));
    assert_eq!(r.service_ports(), [("http-registry".to_owned(), 5000), ("http-controller".to_owned(), 8080)]);
}

#[test]
fn production_uses_s3_external_redis_and_three_replicas() {
    let r = render_registry(&read_example("production.yaml"));
    assert_common(&r, "harbor-prod", "2.15.1");
    let config = r.file("config.yml");
    for line in [
        "  s3:\n    bucket: harbor-blobs\n    encrypt: true\n    region: eu-west-1\n    secure: true\n    skipverify: false\n    v4auth: true\n",
        "  addr: redis.cache.svc.cluster.local:6379\n",
        "  enableTLS: false\n",
        "  debug:\n    addr: \":8001\"\n    prometheus:\n      enabled: true\n      path: /metrics\n",
    ] {
        assert!(config.contains(line), "config.yml lacks {line:?}:\n{config}");
    }
    assert!(!config.contains("filesystem") && !config.contains("harbor-s3"), "{config}");
    assert!(r.claims.is_empty(), "object storage needs no claim");
    assert!(r.pod().volumes.unwrap_or_default().iter().all(|v| v.persistent_volume_claim.is_none()));
    for name in ["registry", "registryctl"] {
        let container = r.container(name);
        assert_eq!(env_from(&container), ["harbor-s3"], "{name}");
        assert_eq!(secret_ref(&container, "REGISTRY_REDIS_PASSWORD"), Some(("harbor-redis".to_owned(), "password".to_owned())), "{name}");
        assert!(!has_mount(&container, "/storage"), "{name}");
    }
    assert!(ports(&r.container("registry")).contains(&("http-metrics".to_owned(), 8001)));
    assert_eq!(r.strategy().as_deref(), Some("RollingUpdate"));
    assert_eq!(r.deployment.spec.clone().unwrap_or_default().replicas, Some(3));
    assert_eq!(
        r.service_ports(),
        [("http-registry".to_owned(), 5000), ("http-controller".to_owned(), 8080), ("http-metrics".to_owned(), 8001)]
    );
}

#[test]
fn swift_config_comes_from_the_swift_block_and_credentials_from_its_secret() {
    let r = render_registry(&read_example("swift.yaml"));
    assert_common(&r, "openstack-harbor", "2.14.4");
    let config = r.file("config.yml");
    let expected = "  swift:
    authurl: https://keystone.cloud.example.net:5000/v3
    authversion: 3
    container: harbor-registry
    domain: Default
    insecureskipverify: false
    region: RegionOne
    tenant: harbor-project
    username: harbor
";
    assert!(config.contains(expected), "{config}");
    assert!(r.claims.is_empty());
    for name in ["registry", "registryctl"] {
        assert_eq!(env_from(&r.container(name)), ["harbor-swift"], "{name}");
    }
    assert_eq!(r.strategy().as_deref(), Some("RollingUpdate"));
}

#[test]
fn core_reaches_the_registry_on_the_service_port() {
    for example in ["minimal.yaml", "production.yaml", "swift.yaml"] {
        let r = render_registry(&read_example(example));
        let component = |name: &str| r.render.topology.component(name).unwrap_or_else(|| panic!("no {name} in the topology"));
        let registry = component("registry");
        let controller = component("registryctl");
        let service = r.service.metadata.name.clone().unwrap_or_default();
        assert_eq!(registry.url, format!("http://{service}:5000"), "{example}");
        assert_eq!(controller.url, format!("http://{service}:8080"), "{example}");
        let service_ports = r.service_ports();
        assert!(service_ports.contains(&("http-registry".to_owned(), i32::from(registry.service_port))));
        assert!(service_ports.contains(&("http-controller".to_owned(), i32::from(controller.service_port))));
        // Core is always rendered, and its REGISTRY_URL must be that same URL: a core
        // that stops emitting either value fails here, as does a registry URL that moves.
        let core = match r.render.components.iter().find(|(c, _)| c == "core") {
            Some((_, Ok(core))) => core,
            other => panic!("{example}: core did not render: {other:?}"),
        };
        let core_env: Vec<&serde_json::Map<String, serde_json::Value>> = core
            .objects
            .iter()
            .filter(|o| o.kind() == "ConfigMap")
            .filter_map(|o| o.object.get("data").and_then(serde_json::Value::as_object))
            .collect();
        let value = |key: &str| {
            let found: Vec<&str> = core_env.iter().filter_map(|data| data.get(key).and_then(serde_json::Value::as_str)).collect();
            assert_eq!(found.len(), 1, "{example}: core's ConfigMaps carry {key} {} times", found.len());
            found[0].to_owned()
        };
        assert_eq!(value("REGISTRY_URL"), registry.url, "{example}");
        assert_eq!(value("REGISTRY_CONTROLLER_URL"), controller.url, "{example}");
    }
}

fn plugin_error_field(cluster: &HarborCluster) -> String {
    berth_tests::spec_error_field(render(catalog(), cluster), "registry")
}

#[test]
fn each_spec_error_names_its_field() {
    let with_storage = |storage: Value| {
        let mut cluster = read_example("minimal.yaml");
        cluster.spec.storage = serde_json::from_value(storage).unwrap_or_else(|e| panic!("{e}"));
        cluster
    };
    let cases = [
        (with_storage(serde_json::json!({"type": "s3"})), "spec.storage.s3"),
        (with_storage(serde_json::json!({"type": "s3", "s3": {"region": "r"}})), "spec.storage.s3.bucket"),
        (with_storage(serde_json::json!({"type": "swift"})), "spec.storage.swift"),
        (with_storage(serde_json::json!({"type": "azure"})), "spec.storage.azure"),
        (with_storage(serde_json::json!({"type": "gcs"})), "spec.storage.gcs"),
        (with_storage(serde_json::json!({"type": "oss"})), "spec.storage.oss"),
        (with_storage(serde_json::json!({"type": "gcs", "gcs": {"bucket": "b"}})), "spec.storage.gcs.existingSecret"),
    ];
    for (cluster, field) in cases {
        assert_eq!(plugin_error_field(&cluster), field);
    }
    let mut scaled = read_example("minimal.yaml");
    scaled.spec.registry.pod.replicas = Some(2);
    assert_eq!(plugin_error_field(&scaled), "spec.registry.replicas");
    let mut negative = read_example("minimal.yaml");
    negative.spec.registry.pod.replicas = Some(-1);
    assert_eq!(plugin_error_field(&negative), "spec.registry.replicas");
}
