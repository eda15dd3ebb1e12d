//! The Trivy adapter's chart contract (harbor.md §5 "trivy adapter"), rendered through
//! the real sandbox from the examples.

use berth::render::ClusterRender;
use berth_tests::{bundled_catalog, read_example, render, sandbox};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Container, EnvVar, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

fn rendered(example: &str) -> ClusterRender {
    let sandbox = sandbox();
    let catalog = bundled_catalog(&sandbox);
    render(&catalog, &read_example(example)).unwrap_or_else(|e| panic!("{e}"))
}

/// Trivy's objects as (kind, JSON), failing if the component errored.
fn trivy_objects(rendered: &ClusterRender) -> Vec<(String, serde_json::Value)> {
    let (_, result) = rendered.components.iter().find(|(c, _)| c == "trivy").unwrap_or_else(|| panic!("trivy was not rendered"));
    let render = result.as_ref().unwrap_or_else(|e| panic!("trivy failed: {e}"));
    render.objects.iter().map(|o| (o.kind().to_owned(), serde_json::Value::Object(o.object.clone()))).collect()
}

fn statefulset(rendered: &ClusterRender) -> StatefulSet {
    let (_, value) =
        trivy_objects(rendered).into_iter().find(|(kind, _)| kind == "StatefulSet").unwrap_or_else(|| panic!("no StatefulSet"));
    serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"))
}

fn container(sts: &StatefulSet) -> Container {
    let pod = sts.spec.as_ref().and_then(|s| s.template.spec.clone()).unwrap_or_default();
    pod.containers.into_iter().find(|c| c.name == "trivy").unwrap_or_else(|| panic!("no trivy container"))
}

fn env_value(env: &[EnvVar], name: &str) -> Option<String> {
    env.iter().find(|e| e.name == name).and_then(|e| e.value.clone())
}

fn secret_ref(env: &[EnvVar], name: &str) -> Option<(String, String)> {
    env.iter()
        .find(|e| e.name == name)
        .and_then(|e| e.value_from.as_ref())
        .and_then(|v| v.secret_key_ref.as_ref())
        .map(|s| (s.name.clone(), s.key.clone()))
}

fn position(env: &[EnvVar], name: &str) -> usize {
    env.iter().position(|e| e.name == name).unwrap_or_else(|| panic!("no env {name}"))
}

const URLS: [&str; 3] = ["SCANNER_REDIS_URL", "SCANNER_STORE_REDIS_URL", "SCANNER_JOB_QUEUE_REDIS_URL"];

#[test]
fn minimal_trivy_follows_the_chart_contract() {
    let rendered = rendered("minimal.yaml");
    let sts = statefulset(&rendered);
    assert_eq!(sts.metadata.name.as_deref(), Some("demo-harbor-trivy"));
    let spec = sts.spec.clone().unwrap_or_default();
    assert_eq!(spec.service_name.as_deref(), Some("demo-harbor-trivy"));
    assert_eq!(spec.replicas, Some(1));

    let c = container(&sts);
    assert_eq!(c.image.as_deref(), Some("docker.io/goharbor/trivy-adapter-photon:v2.15.1"));
    let env = c.env.clone().unwrap_or_default();
    for (name, value) in [
        ("SCANNER_LOG_LEVEL", "info"),
        ("SCANNER_TRIVY_CACHE_DIR", "/home/scanner/.cache/trivy"),
        ("SCANNER_TRIVY_REPORTS_DIR", "/home/scanner/.cache/reports"),
        ("SCANNER_TRIVY_DEBUG_MODE", "false"),
        ("SCANNER_TRIVY_VULN_TYPE", "os,library"),
        ("SCANNER_TRIVY_TIMEOUT", "5m0s"),
        ("SCANNER_TRIVY_SEVERITY", "UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL"),
        ("SCANNER_TRIVY_IGNORE_UNFIXED", "false"),
        ("SCANNER_TRIVY_SKIP_UPDATE", "false"),
        ("SCANNER_TRIVY_SKIP_JAVA_DB_UPDATE", "false"),
        ("SCANNER_TRIVY_OFFLINE_SCAN", "false"),
        ("SCANNER_TRIVY_SECURITY_CHECKS", "vuln"),
        ("SCANNER_TRIVY_INSECURE", "false"),
        ("SCANNER_API_SERVER_ADDR", ":8080"),
        ("SCANNER_REDIS_URL", "redis://demo-harbor-redis:6379/5?idle_timeout_seconds=30"),
        ("SCANNER_STORE_REDIS_URL", "redis://demo-harbor-redis:6379/5?idle_timeout_seconds=30"),
        ("SCANNER_JOB_QUEUE_REDIS_URL", "redis://demo-harbor-redis:6379/5?idle_timeout_seconds=30"),
        ("SCANNER_STORE_REDIS_NAMESPACE", "harbor.scanner.trivy:store"),
        ("SCANNER_JOB_QUEUE_REDIS_NAMESPACE", "harbor.scanner.trivy:job-queue"),
    ] {
        assert_eq!(env_value(&env, name).as_deref(), Some(value), "{name}");
    }
    for absent in ["REDIS_PASSWORD", "SCANNER_TRIVY_GITHUB_TOKEN", "HTTP_PROXY", "NO_PROXY"] {
        assert!(env.iter().all(|e| e.name != absent), "{absent} should not be set");
    }

    let port = &c.ports.clone().unwrap_or_default()[0];
    assert_eq!((port.name.as_deref(), port.container_port), (Some("api-server"), 8080));
    for (probe, path) in [(&c.liveness_probe, "/probe/healthy"), (&c.readiness_probe, "/probe/ready")] {
        let get = probe.as_ref().and_then(|p| p.http_get.clone()).unwrap_or_else(|| panic!("no probe {path}"));
        assert_eq!(get.path.as_deref(), Some(path));
        assert_eq!(get.port, IntOrString::String("api-server".to_owned()));
        assert_eq!(get.scheme.as_deref(), Some("HTTP"));
    }
    let mount = &c.volume_mounts.clone().unwrap_or_default()[0];
    assert_eq!((mount.name.as_str(), mount.mount_path.as_str()), ("data", "/home/scanner/.cache"));
    let claim = &spec.volume_claim_templates.clone().unwrap_or_default()[0];
    assert_eq!(claim.metadata.name.as_deref(), Some("data"));
    let claim_spec = claim.spec.clone().unwrap_or_default();
    assert_eq!(claim_spec.access_modes, Some(vec!["ReadWriteOnce".to_owned()]));
    let storage = claim_spec.resources.and_then(|r| r.requests).and_then(|r| r.get("storage").cloned());
    assert_eq!(storage.map(|q| q.0).as_deref(), Some("5Gi"));

    let resources = c.resources.clone().unwrap_or_default();
    let get = |m: &Option<std::collections::BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>, k: &str| {
        m.as_ref().and_then(|m| m.get(k)).map(|q| q.0.clone())
    };
    assert_eq!(get(&resources.requests, "cpu").as_deref(), Some("200m"));
    assert_eq!(get(&resources.requests, "memory").as_deref(), Some("512Mi"));
    assert_eq!(get(&resources.limits, "cpu").as_deref(), Some("1"));
    assert_eq!(get(&resources.limits, "memory").as_deref(), Some("1Gi"));

    let pod = spec.template.spec.clone().unwrap_or_default();
    let security = pod.security_context.unwrap_or_default();
    assert_eq!((security.run_as_user, security.fs_group), (Some(10000), Some(10000)));
    let container_security = c.security_context.clone().unwrap_or_default();
    assert_eq!(container_security.allow_privilege_escalation, Some(false));
    assert_eq!(container_security.run_as_non_root, Some(true));

    let (_, service) = trivy_objects(&rendered).into_iter().find(|(kind, _)| kind == "Service").unwrap_or_else(|| panic!("no Service"));
    let service: Service = serde_json::from_value(service).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(service.metadata.name.as_deref(), Some("demo-harbor-trivy"));
    let port = &service.spec.unwrap_or_default().ports.unwrap_or_default()[0];
    assert_eq!(port.name.as_deref(), Some("http-trivy"));
    assert_eq!((port.port, port.target_port.clone()), (8080, Some(IntOrString::Int(8080))));
}

#[test]
fn production_trivy_uses_the_external_redis_password_and_github_token() {
    let sts = statefulset(&rendered("production.yaml"));
    assert_eq!(sts.spec.as_ref().and_then(|s| s.replicas), Some(2));
    let env = container(&sts).env.unwrap_or_default();
    assert_eq!(secret_ref(&env, "REDIS_PASSWORD"), Some(("harbor-redis".to_owned(), "password".to_owned())));
    assert_eq!(secret_ref(&env, "SCANNER_TRIVY_GITHUB_TOKEN"), Some(("trivy-github".to_owned(), "token".to_owned())));
    assert_eq!(env_value(&env, "SCANNER_TRIVY_SEVERITY").as_deref(), Some("HIGH,CRITICAL"));
    let password = position(&env, "REDIS_PASSWORD");
    for url in URLS {
        assert!(position(&env, url) > password, "{url} must come after REDIS_PASSWORD");
        assert_eq!(
            env_value(&env, url).as_deref(),
            Some("redis://:$(REDIS_PASSWORD)@redis.cache.svc.cluster.local:6379/5?idle_timeout_seconds=30"),
            "{url}"
        );
    }
}

#[test]
fn a_disabled_scanner_is_not_rendered() {
    let rendered = rendered("gateway.yaml");
    assert!(rendered.components.iter().all(|(c, _)| c != "trivy"));
    assert!(rendered.objects().iter().all(|o| !o.name().ends_with("-trivy")));
}

#[test]
fn every_trivy_object_deserializes_into_its_kubernetes_type() {
    // production.yaml runs two scanners: they get a disruption budget as well.
    for (example, count) in [("minimal.yaml", 2), ("production.yaml", 3)] {
        let objects = trivy_objects(&rendered(example));
        assert_eq!(objects.len(), count, "{example}");
        for (kind, value) in objects {
            let parsed = match kind.as_str() {
                "StatefulSet" => serde_json::from_value::<StatefulSet>(value).map(drop),
                "Service" => serde_json::from_value::<Service>(value).map(drop),
                "PodDisruptionBudget" => serde_json::from_value::<k8s_openapi::api::policy::v1::PodDisruptionBudget>(value).map(drop),
                other => panic!("unexpected kind {other}"),
            };
            parsed.unwrap_or_else(|e| panic!("{example} {kind}: {e}"));
        }
    }
}

#[test]
fn spec_errors_name_their_field() {
    let sandbox = sandbox();
    let catalog = bundled_catalog(&sandbox);
    let mut negative = read_example("minimal.yaml");
    negative.spec.trivy.pod.replicas = Some(-1);
    let mut bad_size = read_example("minimal.yaml");
    bad_size.spec.trivy.cache.size = "lots".to_owned();
    for (cluster, expected) in [(negative, "spec.trivy.replicas"), (bad_size, "spec.trivy.cache.size")] {
        assert_eq!(berth_tests::spec_error_field(render(&catalog, &cluster), "trivy"), expected);
    }
}
