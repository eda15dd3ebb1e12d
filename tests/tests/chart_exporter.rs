//! The exporter plugin through the real sandbox, checked against the chart contract
//! (harbor.md §5 "exporter"; templates/exporter/*).

use berth::render::ClusterRender;
use berth_api::spec::HarborCluster;
use berth_tests::find_object as find;
use berth_tests::read_example;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, EnvVar, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

fn render_cluster(cluster: &HarborCluster) -> ClusterRender {
    berth_tests::render_bundled(cluster)
}

fn objects(rendered: &ClusterRender) -> Vec<(String, String, Value)> {
    berth_tests::component_objects(rendered, "exporter")
}

fn secret_ref(env: &EnvVar) -> (String, String) {
    let r = env.value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref()).unwrap_or_else(|| panic!("{} is no secretKeyRef", env.name));
    (r.name.clone(), r.key.clone())
}

#[test]
fn the_exporter_is_rendered_only_with_metrics() {
    let rendered = render_cluster(&read_example("minimal.yaml"));
    assert!(rendered.components.iter().all(|(c, _)| c != "exporter"));
}

#[test]
fn every_object_deserializes_into_its_kubernetes_type() {
    let rendered = render_cluster(&read_example("production.yaml"));
    let objects = objects(&rendered);
    let kinds: Vec<&str> = objects.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(kinds, ["ConfigMap", "Deployment", "Service"]);
    for (kind, name, value) in objects {
        let parsed = match kind.as_str() {
            "ConfigMap" => serde_json::from_value::<ConfigMap>(value).map(drop),
            "Deployment" => serde_json::from_value::<Deployment>(value).map(drop),
            "Service" => serde_json::from_value::<Service>(value).map(drop),
            "PodDisruptionBudget" => serde_json::from_value::<k8s_openapi::api::policy::v1::PodDisruptionBudget>(value).map(drop),
            other => panic!("unexpected kind {other}"),
        };
        parsed.unwrap_or_else(|e| panic!("{kind} {name}: {e}"));
    }
}

#[test]
fn production_exporter_follows_the_chart_contract() {
    let rendered = render_cluster(&read_example("production.yaml"));
    let objects = objects(&rendered);

    let cm: ConfigMap = find(&objects, "ConfigMap", "harbor-prod-exporter-env");
    let data = cm.data.unwrap_or_default();
    let expected = [
        ("LOG_LEVEL", "info"),
        ("HARBOR_EXPORTER_PORT", "8001"),
        ("HARBOR_EXPORTER_METRICS_PATH", "/metrics"),
        ("HARBOR_EXPORTER_METRICS_ENABLED", "true"),
        ("HARBOR_EXPORTER_CACHE_TIME", "23"),
        ("HARBOR_EXPORTER_CACHE_CLEAN_INTERVAL", "14400"),
        ("HARBOR_METRIC_NAMESPACE", "harbor"),
        ("HARBOR_METRIC_SUBSYSTEM", "exporter"),
        ("HARBOR_REDIS_NAMESPACE", "harbor_job_service_namespace"),
        ("HARBOR_REDIS_TIMEOUT", "3600"),
        ("HARBOR_SERVICE_SCHEME", "http"),
        ("HARBOR_SERVICE_HOST", "harbor-prod-core"),
        ("HARBOR_SERVICE_PORT", "80"),
        ("HARBOR_DATABASE_HOST", "pg.db.svc.cluster.local"),
        ("HARBOR_DATABASE_PORT", "5432"),
        ("HARBOR_DATABASE_USERNAME", "harbor"),
        ("HARBOR_DATABASE_DBNAME", "registry"),
        ("HARBOR_DATABASE_SSLMODE", "require"),
        ("HARBOR_DATABASE_MAX_IDLE_CONNS", "100"),
        ("HARBOR_DATABASE_MAX_OPEN_CONNS", "300"),
    ];
    for (key, value) in expected {
        assert_eq!(data.get(key).map(String::as_str), Some(value), "{key}");
    }
    assert_eq!(data.len(), expected.len(), "unexpected keys in {data:?}");

    let deployment: Deployment = find(&objects, "Deployment", "harbor-prod-exporter");
    let spec = deployment.spec.unwrap_or_default();
    assert_eq!(spec.replicas, Some(1));
    let pod = spec.template.spec.unwrap_or_default();
    assert_eq!(pod.security_context.as_ref().and_then(|s| s.run_as_user), Some(10000));
    let c = &pod.containers[0];
    assert_eq!(c.name, "exporter");
    assert_eq!(c.image.as_deref(), Some("docker.io/goharbor/harbor-exporter:v2.15.1"));
    assert_eq!(c.args, Some(vec!["-log-level".to_owned(), "info".to_owned()]));
    let from: Vec<String> =
        c.env_from.clone().unwrap_or_default().iter().filter_map(|f| f.config_map_ref.as_ref().map(|r| r.name.clone())).collect();
    assert_eq!(from, ["harbor-prod-exporter-env"]);
    let env = c.env.clone().unwrap_or_default();
    let names: Vec<&str> = env.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["HARBOR_ADMIN_PASSWORD", "HARBOR_DATABASE_PASSWORD", "REDIS_PASSWORD", "HARBOR_REDIS_URL"]);
    assert_eq!(secret_ref(&env[0]), ("harbor-admin".to_owned(), "password".to_owned()));
    assert_eq!(secret_ref(&env[1]), ("harbor-pg".to_owned(), "password".to_owned()));
    assert_eq!(secret_ref(&env[2]), ("harbor-redis".to_owned(), "password".to_owned()));
    assert_eq!(env[3].value.as_deref(), Some("redis://:$(REDIS_PASSWORD)@redis.cache.svc.cluster.local:6379/1"));
    let ports: Vec<(Option<String>, i32)> =
        c.ports.clone().unwrap_or_default().iter().map(|p| (p.name.clone(), p.container_port)).collect();
    assert_eq!(ports, [(Some("http-metrics".to_owned()), 8001)]);
    for (probe, delay) in [(&c.liveness_probe, 300), (&c.readiness_probe, 30)] {
        let probe = probe.clone().unwrap_or_else(|| panic!("no probe"));
        let get = probe.http_get.unwrap_or_else(|| panic!("no httpGet"));
        assert_eq!((get.path.as_deref(), get.port), (Some("/"), IntOrString::Int(8001)));
        assert_eq!(probe.initial_delay_seconds, Some(delay));
    }
    let security = c.security_context.clone().unwrap_or_default();
    assert_eq!(security.allow_privilege_escalation, Some(false));

    let service: Service = find(&objects, "Service", "harbor-prod-exporter");
    let ports: Vec<(Option<String>, i32, Option<IntOrString>)> =
        service.spec.unwrap_or_default().ports.unwrap_or_default().into_iter().map(|p| (p.name, p.port, p.target_port)).collect();
    assert_eq!(ports, [(Some("http-metrics".to_owned()), 8001, Some(IntOrString::Int(8001)))]);
}

#[test]
fn in_cluster_database_and_open_redis_are_wired_without_a_redis_password() {
    let mut cluster = read_example("minimal.yaml");
    cluster.spec.metrics.enabled = true;
    let rendered = render_cluster(&cluster);
    let objects = objects(&rendered);
    let cm: ConfigMap = find(&objects, "ConfigMap", "demo-harbor-exporter-env");
    let data = cm.data.unwrap_or_default();
    assert_eq!(data.get("HARBOR_DATABASE_HOST").map(String::as_str), Some("demo-harbor-database"));
    assert_eq!(data.get("HARBOR_DATABASE_SSLMODE").map(String::as_str), Some("disable"));
    let deployment: Deployment = find(&objects, "Deployment", "demo-harbor-exporter");
    let env = deployment.spec.and_then(|s| s.template.spec).map(|p| p.containers[0].env.clone().unwrap_or_default()).unwrap_or_default();
    let names: Vec<&str> = env.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["HARBOR_ADMIN_PASSWORD", "HARBOR_DATABASE_PASSWORD", "HARBOR_REDIS_URL"]);
    assert_eq!(secret_ref(&env[0]), ("demo-harbor-core".to_owned(), "HARBOR_ADMIN_PASSWORD".to_owned()));
    assert_eq!(secret_ref(&env[1]), ("demo-harbor-database".to_owned(), "POSTGRES_PASSWORD".to_owned()));
    assert_eq!(env[2].value.as_deref(), Some("redis://demo-harbor-redis:6379/1"));
}

#[test]
fn negative_exporter_replicas_are_named() {
    let mut cluster = read_example("production.yaml");
    cluster.spec.exporter.replicas = Some(-1);
    let field = berth_tests::spec_error_field(berth_tests::render(berth_tests::shared_catalog(), &cluster), "exporter");
    assert_eq!(field, "spec.exporter.replicas");
}
