//! Harbor core against the chart contract (reference harbor.md §4, §5 "core", §6):
//! every example rendered through the real sandbox, core's objects inspected.

use std::collections::BTreeMap;

use berth::catalog::Catalog;
use berth::plugin_dir::PluginDir;
use berth::render::{ClusterRender, ComponentError, ComponentRender};
use berth::sandbox::Sandbox;
use berth_api::spec::HarborCluster;
use berth_tests::{bundled_plugins, read_example, render, sandbox};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Container, EnvVar, PodSpec, Service};

const EXAMPLES: &[&str] = &["minimal.yaml", "production.yaml", "swift.yaml", "gateway.yaml"];

struct Core {
    data: BTreeMap<String, String>,
    deployment: Deployment,
    service: Service,
}

impl Core {
    fn pod(&self) -> PodSpec {
        self.deployment.spec.clone().and_then(|s| s.template.spec).unwrap_or_else(|| panic!("no pod"))
    }
    fn container(&self) -> Container {
        self.pod().containers.into_iter().find(|c| c.name == "core").unwrap_or_else(|| panic!("no core container"))
    }
    fn env(&self) -> Vec<EnvVar> {
        self.container().env.unwrap_or_default()
    }
    fn env_index(&self, name: &str) -> usize {
        self.env().iter().position(|e| e.name == name).unwrap_or_else(|| panic!("no env {name}"))
    }
    fn env_value(&self, name: &str) -> Option<String> {
        self.env().into_iter().find(|e| e.name == name).and_then(|e| e.value)
    }
    fn secret_ref(&self, name: &str) -> (String, String) {
        let env = self.env().into_iter().find(|e| e.name == name).unwrap_or_else(|| panic!("no env {name}"));
        let selector = env.value_from.and_then(|v| v.secret_key_ref).unwrap_or_else(|| panic!("{name} is not a secretKeyRef"));
        (selector.name, selector.key)
    }
    fn cm(&self, key: &str) -> &str {
        self.data.get(key).map(String::as_str).unwrap_or_else(|| panic!("ConfigMap lacks {key}"))
    }
}

fn render_example(name: &str) -> ClusterRender {
    render_cluster(&read_example(name))
}

/// Renders with the bundled core plugin alone, so a sibling plugin still being written
/// cannot fail the whole render; the other components simply report NoPlugin.
fn core_catalog(sandbox: &Sandbox) -> Catalog {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let wasm = "berth_plugin_core.wasm";
    std::fs::copy(bundled_plugins().join(wasm), dir.path().join(wasm)).unwrap_or_else(|e| panic!("{e}"));
    let plugins = PluginDir::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    Catalog::load_dir(sandbox, &plugins, berth_tests::patient_limits()).unwrap_or_else(|e| panic!("{e}"))
}

fn render_cluster(cluster: &HarborCluster) -> ClusterRender {
    let sandbox = sandbox();
    render(&core_catalog(&sandbox), cluster).unwrap_or_else(|e| panic!("{e}"))
}

fn core_result(rendered: &ClusterRender) -> &Result<ComponentRender, ComponentError> {
    rendered.components.iter().find(|(c, _)| c == "core").map(|(_, r)| r).unwrap_or_else(|| panic!("core was not rendered"))
}

fn core_of(rendered: &ClusterRender) -> Core {
    let render = core_result(rendered).as_ref().unwrap_or_else(|e| panic!("core failed: {e}"));
    let kinds: Vec<&str> = render.objects.iter().map(|o| o.kind()).collect();
    // Beyond the chart: a disruption budget when core runs more than one replica.
    assert!(
        kinds == ["ConfigMap", "Deployment", "Service"] || kinds == ["ConfigMap", "Deployment", "Service", "PodDisruptionBudget"],
        "{kinds:?}"
    );
    let value = |i: usize| serde_json::Value::Object(render.objects[i].object.clone());
    let cm: ConfigMap = serde_json::from_value(value(0)).unwrap_or_else(|e| panic!("ConfigMap: {e}"));
    Core {
        data: cm.data.unwrap_or_default(),
        deployment: serde_json::from_value(value(1)).unwrap_or_else(|e| panic!("Deployment: {e}")),
        service: serde_json::from_value(value(2)).unwrap_or_else(|e| panic!("Service: {e}")),
    }
}

fn core(example: &str) -> Core {
    core_of(&render_example(example))
}

#[test]
fn every_example_renders_typed_objects_and_keeps_passwords_out_of_the_config_map() {
    let sandbox = sandbox();
    let catalog = core_catalog(&sandbox);
    for example in EXAMPLES {
        let core = core_of(&render(&catalog, &read_example(example)).unwrap_or_else(|e| panic!("{e}")));
        for (key, value) in &core.data {
            assert!(!key.contains("PASSWORD") && !key.starts_with("_REDIS_URL"), "{example}: {key} in the ConfigMap");
            assert!(!value.contains("$("), "{example}: {key}={value} references a secret");
        }
        for name in
            ["CORE_SECRET", "JOBSERVICE_SECRET", "POSTGRESQL_PASSWORD", "REGISTRY_CREDENTIAL_PASSWORD", "CSRF_KEY", "HARBOR_ADMIN_PASSWORD"]
        {
            core.secret_ref(name);
        }
        // Kubernetes expands $(REDIS_PASSWORD) only from an earlier entry of `env`.
        for url in ["_REDIS_URL_CORE", "_REDIS_URL_REG"] {
            let value = core.env_value(url).unwrap_or_else(|| panic!("{example}: no {url}"));
            assert!(value.ends_with("?idle_timeout_seconds=30"), "{example}: {value}");
            if value.contains("$(REDIS_PASSWORD)") {
                assert!(core.env_index("REDIS_PASSWORD") < core.env_index(url), "{example}: {url} before REDIS_PASSWORD");
            }
        }
    }
}

#[test]
fn minimal_core_follows_the_chart_contract() {
    let core = core("minimal.yaml");
    for (key, value) in [
        ("PORT", "8080"),
        ("DATABASE_TYPE", "postgresql"),
        ("POSTGRESQL_HOST", "demo-harbor-database"),
        ("POSTGRESQL_PORT", "5432"),
        ("POSTGRESQL_USERNAME", "postgres"),
        ("POSTGRESQL_DATABASE", "registry"),
        ("POSTGRESQL_SSLMODE", "disable"),
        ("POSTGRESQL_MAX_IDLE_CONNS", "100"),
        ("POSTGRESQL_MAX_OPEN_CONNS", "900"),
        ("EXT_ENDPOINT", "https://harbor.example.com"),
        ("CORE_URL", "http://demo-harbor-core:80"),
        ("JOBSERVICE_URL", "http://demo-harbor-jobservice"),
        ("REGISTRY_URL", "http://demo-harbor-registry:5000"),
        ("TOKEN_SERVICE_URL", "http://demo-harbor-core:80/service/token"),
        ("CORE_LOCAL_URL", "http://127.0.0.1:8080"),
        ("WITH_TRIVY", "true"),
        ("TRIVY_ADAPTER_URL", "http://demo-harbor-trivy:8080"),
        ("REGISTRY_STORAGE_PROVIDER_NAME", "filesystem"),
        ("LOG_LEVEL", "info"),
        ("CONFIG_PATH", "/etc/core/app.conf"),
        ("CHART_CACHE_DRIVER", "redis"),
        ("PORTAL_URL", "http://demo-harbor-portal"),
        ("REGISTRY_CONTROLLER_URL", "http://demo-harbor-registry:8080"),
        ("REGISTRY_CREDENTIAL_USERNAME", "harbor_registry_user"),
        (
            "PERMITTED_REGISTRY_TYPES_FOR_PROXY_CACHE",
            "docker-hub,harbor,azure-acr,ali-acr,aws-ecr,google-gcr,docker-registry,github-ghcr,jfrog-artifactory",
        ),
        (
            "REPLICATION_ADAPTER_WHITELIST",
            "ali-acr,aws-ecr,azure-acr,docker-hub,docker-registry,github-ghcr,google-gcr,harbor,huawei-SWR,jfrog-artifactory,tencent-tcr,volcengine-cr",
        ),
        ("QUOTA_UPDATE_PROVIDER", "db"),
    ] {
        assert_eq!(core.cm(key), value, "{key}");
    }
    let app_conf = core.cm("app.conf");
    for line in ["appname = Harbor", "runmode = prod", "enablegzip = true", "[prod]", "httpport = 8080"] {
        assert!(app_conf.lines().any(|l| l == line), "app.conf lacks {line:?}");
    }
    for absent in ["METRIC_ENABLE", "HTTP_PROXY", "NO_PROXY"] {
        assert!(!core.data.contains_key(absent), "{absent}");
    }

    let names: Vec<String> = core.env().into_iter().map(|e| e.name).collect();
    assert_eq!(
        names,
        [
            "CORE_SECRET",
            "JOBSERVICE_SECRET",
            "POSTGRESQL_PASSWORD",
            "REGISTRY_CREDENTIAL_PASSWORD",
            "CSRF_KEY",
            "HARBOR_ADMIN_PASSWORD",
            "_REDIS_URL_CORE",
            "_REDIS_URL_REG"
        ]
    );
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(core.secret_ref("CORE_SECRET"), pair("demo-harbor-core", "secret"));
    assert_eq!(core.secret_ref("JOBSERVICE_SECRET"), pair("demo-harbor-jobservice", "JOBSERVICE_SECRET"));
    assert_eq!(core.secret_ref("POSTGRESQL_PASSWORD"), pair("demo-harbor-database", "POSTGRES_PASSWORD"));
    assert_eq!(core.secret_ref("REGISTRY_CREDENTIAL_PASSWORD"), pair("demo-harbor-registry-htpasswd", "REGISTRY_PASSWD"));
    assert_eq!(core.secret_ref("CSRF_KEY"), pair("demo-harbor-core", "CSRF_KEY"));
    assert_eq!(core.secret_ref("HARBOR_ADMIN_PASSWORD"), pair("demo-harbor-core", "HARBOR_ADMIN_PASSWORD"));
    assert_eq!(core.env_value("_REDIS_URL_CORE").as_deref(), Some("redis://demo-harbor-redis:6379/0?idle_timeout_seconds=30"));
    assert_eq!(core.env_value("_REDIS_URL_REG").as_deref(), Some("redis://demo-harbor-redis:6379/2?idle_timeout_seconds=30"));

    let container = core.container();
    assert_eq!(container.image.as_deref(), Some("docker.io/goharbor/harbor-core:v2.15.1"));
    let env_from = container.env_from.clone().unwrap_or_default();
    assert_eq!(env_from.len(), 1);
    assert_eq!(env_from[0].config_map_ref.as_ref().map(|c| c.name.as_str()), Some("demo-harbor-core"));
    let ports: Vec<i32> = container.ports.clone().unwrap_or_default().iter().map(|p| p.container_port).collect();
    assert_eq!(ports, [8080]);

    for (probe, threshold) in [(&container.startup_probe, 360), (&container.liveness_probe, 2), (&container.readiness_probe, 2)] {
        let probe = probe.clone().unwrap_or_else(|| panic!("missing probe"));
        let get = probe.http_get.clone().unwrap_or_else(|| panic!("not an HTTP probe"));
        assert_eq!(get.path.as_deref(), Some("/api/v2.0/ping"));
        assert_eq!(get.port, k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(8080));
        assert_eq!(probe.period_seconds, Some(10));
        assert_eq!(probe.failure_threshold, Some(threshold));
    }

    let mounts: Vec<(String, String, Option<String>)> =
        container.volume_mounts.clone().unwrap_or_default().into_iter().map(|m| (m.mount_path, m.name, m.sub_path)).collect();
    let m = |p: &str, n: &str, s: Option<&str>| (p.to_owned(), n.to_owned(), s.map(str::to_owned));
    assert_eq!(
        mounts,
        [
            m("/etc/core/app.conf", "config", Some("app.conf")),
            m("/etc/core/key", "secret-key", Some("key")),
            m("/etc/core/private_key.pem", "token-service-private-key", Some("tls.key")),
            m("/etc/core/token", "psc", None),
        ]
    );
    let security = container.security_context.clone().unwrap_or_default();
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(security.run_as_non_root, Some(true));

    let pod = core.pod();
    assert_eq!(pod.termination_grace_period_seconds, Some(120));
    let pod_security = pod.security_context.clone().unwrap_or_default();
    assert_eq!((pod_security.run_as_user, pod_security.fs_group), (Some(10000), Some(10000)));
    let volumes: BTreeMap<String, _> = pod.volumes.clone().unwrap_or_default().into_iter().map(|v| (v.name.clone(), v)).collect();
    let config = volumes["config"].config_map.clone().unwrap_or_default();
    assert_eq!(config.name, "demo-harbor-core");
    let items = |name: &str| -> (Option<String>, Vec<(String, String)>) {
        let secret = volumes[name].secret.clone().unwrap_or_else(|| panic!("{name} is not a Secret volume"));
        (secret.secret_name, secret.items.unwrap_or_default().into_iter().map(|i| (i.key, i.path)).collect())
    };
    assert_eq!(items("secret-key"), (Some("demo-harbor-core".to_owned()), vec![pair("secretKey", "key")]));
    assert_eq!(items("token-service-private-key"), (Some("demo-harbor-core".to_owned()), vec![pair("tls.key", "tls.key")]));
    assert!(volumes["psc"].empty_dir.is_some());

    let spec = core.deployment.spec.clone().unwrap_or_default();
    assert_eq!(spec.replicas, Some(1));
    let annotations = spec.template.metadata.and_then(|m| m.annotations).unwrap_or_default();
    assert!(annotations.contains_key("configmap.checksum.berth.dev/demo-harbor-core"), "{annotations:?}");

    assert_eq!(core.service.metadata.name.as_deref(), Some("demo-harbor-core"));
    let service = core.service.spec.clone().unwrap_or_default();
    let ports: Vec<(Option<String>, i32, Option<_>)> =
        service.ports.unwrap_or_default().into_iter().map(|p| (p.name, p.port, p.target_port)).collect();
    assert_eq!(ports, [(Some("http-web".to_owned()), 80, Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(8080)))]);
    assert_eq!(service.selector.and_then(|s| s.get("component").cloned()).as_deref(), Some("core"));
}

#[test]
fn production_core_uses_the_external_database_and_redis() {
    let core = core("production.yaml");
    assert_eq!(core.cm("POSTGRESQL_HOST"), "pg.db.svc.cluster.local");
    assert_eq!(core.cm("POSTGRESQL_USERNAME"), "harbor");
    assert_eq!(core.cm("POSTGRESQL_SSLMODE"), "require");
    assert_eq!(core.cm("POSTGRESQL_MAX_OPEN_CONNS"), "300");
    assert_eq!(core.cm("EXT_ENDPOINT"), "https://registry.example.com");
    assert_eq!(core.cm("CORE_URL"), "http://harbor-prod-core:80");
    assert_eq!(core.cm("WITH_TRIVY"), "true");
    assert_eq!(core.cm("REGISTRY_STORAGE_PROVIDER_NAME"), "s3");
    for (key, value) in [
        ("METRIC_ENABLE", "true"),
        ("METRIC_PATH", "/metrics"),
        ("METRIC_PORT", "8001"),
        ("METRIC_NAMESPACE", "harbor"),
        ("METRIC_SUBSYSTEM", "core"),
    ] {
        assert_eq!(core.cm(key), value, "{key}");
    }

    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(core.secret_ref("POSTGRESQL_PASSWORD"), pair("harbor-pg", "password"));
    assert_eq!(core.secret_ref("HARBOR_ADMIN_PASSWORD"), pair("harbor-admin", "password"));
    assert_eq!(core.secret_ref("REDIS_PASSWORD"), pair("harbor-redis", "password"));
    assert!(core.env_index("REDIS_PASSWORD") < core.env_index("_REDIS_URL_CORE"));
    assert_eq!(
        core.env_value("_REDIS_URL_CORE").as_deref(),
        Some("redis://:$(REDIS_PASSWORD)@redis.cache.svc.cluster.local:6379/0?idle_timeout_seconds=30")
    );
    assert_eq!(
        core.env_value("_REDIS_URL_REG").as_deref(),
        Some("redis://:$(REDIS_PASSWORD)@redis.cache.svc.cluster.local:6379/2?idle_timeout_seconds=30")
    );

    let spec = core.deployment.spec.clone().unwrap_or_default();
    assert_eq!(spec.replicas, Some(3));
    let container = core.container();
    let requests = container.resources.clone().and_then(|r| r.requests).unwrap_or_default();
    assert_eq!(requests.get("cpu").map(|q| q.0.as_str()), Some("500m"));
    let ports: Vec<(Option<String>, i32)> = container.ports.unwrap_or_default().into_iter().map(|p| (p.name, p.container_port)).collect();
    assert_eq!(ports, [(Some("http".to_owned()), 8080), (Some("http-metrics".to_owned()), 8001)]);
    let service_ports: Vec<(Option<String>, i32)> =
        core.service.spec.clone().and_then(|s| s.ports).unwrap_or_default().into_iter().map(|p| (p.name, p.port)).collect();
    assert_eq!(service_ports, [(Some("http-web".to_owned()), 80), (Some("http-metrics".to_owned()), 8001)]);
}

#[test]
fn gateway_core_runs_without_trivy_on_its_own_version() {
    let core = core("gateway.yaml");
    assert_eq!(core.cm("WITH_TRIVY"), "false");
    assert_eq!(core.container().image.as_deref(), Some("docker.io/goharbor/harbor-core:v2.13.2"));
    assert!(!core.env().iter().any(|e| e.name == "REDIS_PASSWORD"));
}

#[test]
fn swift_core_names_its_storage_provider() {
    let core = core("swift.yaml");
    assert_eq!(core.cm("REGISTRY_STORAGE_PROVIDER_NAME"), "swift");
    assert_eq!(core.cm("POSTGRESQL_HOST"), "openstack-harbor-database");
}

#[test]
fn proxy_env_lists_harbor_services_before_the_users_hosts() {
    let mut cluster = read_example("minimal.yaml");
    cluster.spec.proxy = Some(berth_api::spec::ProxySpec {
        http_proxy: Some("http://proxy.corp:3128".to_owned()),
        https_proxy: Some("http://proxy.corp:3128".to_owned()),
        no_proxy: "127.0.0.1,localhost,.local,.internal".to_owned(),
        components: vec!["core".to_owned()],
    });
    let core = core_of(&render_cluster(&cluster));
    assert_eq!(core.cm("HTTP_PROXY"), "http://proxy.corp:3128");
    assert_eq!(core.cm("HTTPS_PROXY"), "http://proxy.corp:3128");
    assert_eq!(
        core.cm("NO_PROXY"),
        "demo-harbor-core,demo-harbor-jobservice,demo-harbor-database,demo-harbor-registry,demo-harbor-portal,demo-harbor-trivy,demo-harbor-exporter,127.0.0.1,localhost,.local,.internal"
    );
}

#[test]
fn a_negative_core_replica_count_names_its_field() {
    let mut cluster = read_example("minimal.yaml");
    cluster.spec.core.replicas = Some(-1);
    let sandbox = sandbox();
    let field = berth_tests::spec_error_field(render(&core_catalog(&sandbox), &cluster), "core");
    assert_eq!(field, "spec.core.replicas");
}
