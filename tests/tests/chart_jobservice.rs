//! The jobservice plugin through the real sandbox, checked against the chart contract
//! (harbor.md §5 "jobservice"; templates/jobservice/*).

use berth::render::ClusterRender;
use berth_api::spec::HarborCluster;
use berth_tests::find_object as find;
use berth_tests::read_example;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Container, EnvVar, PersistentVolumeClaim, Service};
use serde_json::Value;

fn render_cluster(cluster: &HarborCluster) -> ClusterRender {
    berth_tests::render_bundled(cluster)
}

fn objects(rendered: &ClusterRender) -> Vec<(String, String, Value)> {
    berth_tests::component_objects(rendered, "jobservice")
}

fn data(cm: &ConfigMap, key: &str) -> String {
    cm.data.as_ref().and_then(|d| d.get(key)).cloned().unwrap_or_else(|| panic!("no {key}"))
}

fn container(deployment: &Deployment) -> Container {
    let pod = deployment.spec.as_ref().and_then(|s| s.template.spec.as_ref()).unwrap_or_else(|| panic!("no pod"));
    assert_eq!(pod.containers.len(), 1);
    pod.containers[0].clone()
}

fn secret_ref(env: &EnvVar) -> (String, String) {
    let r = env.value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref()).unwrap_or_else(|| panic!("{} is no secretKeyRef", env.name));
    (r.name.clone(), r.key.clone())
}

fn yaml(text: &str) -> serde_yaml::Value {
    serde_yaml::from_str(text).unwrap_or_else(|e| panic!("config.yml is not YAML: {e}\n{text}"))
}

#[test]
fn every_object_deserializes_into_its_kubernetes_type() {
    for example in ["minimal.yaml", "production.yaml"] {
        let rendered = render_cluster(&read_example(example));
        for (kind, name, value) in objects(&rendered) {
            let parsed = match kind.as_str() {
                "ConfigMap" => serde_json::from_value::<ConfigMap>(value).map(drop),
                "PersistentVolumeClaim" => serde_json::from_value::<PersistentVolumeClaim>(value).map(drop),
                "Deployment" => serde_json::from_value::<Deployment>(value).map(drop),
                "Service" => serde_json::from_value::<Service>(value).map(drop),
                "PodDisruptionBudget" => serde_json::from_value::<k8s_openapi::api::policy::v1::PodDisruptionBudget>(value).map(drop),
                other => panic!("unexpected kind {other}"),
            };
            parsed.unwrap_or_else(|e| panic!("{example}: {kind} {name}: {e}"));
        }
    }
}

#[test]
fn minimal_uses_the_file_logger_on_a_claim() {
    let rendered = render_cluster(&read_example("minimal.yaml"));
    let objects = objects(&rendered);
    let kinds: Vec<&str> = objects.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(kinds, ["ConfigMap", "ConfigMap", "PersistentVolumeClaim", "Deployment", "Service"]);

    let config: ConfigMap = find(&objects, "ConfigMap", "demo-harbor-jobservice");
    let yml = yaml(&data(&config, "config.yml"));
    assert_eq!(yml["protocol"], "http");
    assert_eq!(yml["port"], 8080);
    assert_eq!(yml["worker_pool"]["workers"], 10);
    assert_eq!(yml["worker_pool"]["backend"], "redis");
    let pool = &yml["worker_pool"]["redis_pool"];
    assert_eq!(pool["redis_url"], "redis://demo-harbor-redis:6379/1");
    assert_eq!(pool["namespace"], "harbor_job_service_namespace");
    assert_eq!(pool["idle_timeout_second"], 3600);
    let loggers = yml["job_loggers"].as_sequence().cloned().unwrap_or_default();
    assert_eq!(loggers.len(), 1);
    assert_eq!(loggers[0]["name"], "FILE");
    assert_eq!(loggers[0]["level"], "INFO");
    assert_eq!(loggers[0]["settings"]["base_dir"], "/var/log/jobs");
    assert_eq!(loggers[0]["sweeper"]["duration"], 14);
    assert_eq!(loggers[0]["sweeper"]["settings"]["work_dir"], "/var/log/jobs");
    assert_eq!(yml["metric"]["enabled"], false);
    assert_eq!(yml["metric"]["path"], "/metrics");
    assert_eq!(yml["metric"]["port"], 8001);
    assert_eq!(yml["loggers"][0]["name"], "STD_OUTPUT");
    assert_eq!(yml["loggers"][0]["level"], "INFO");
    assert_eq!(yml["reaper"]["max_update_hours"], 24);
    assert_eq!(yml["reaper"]["max_dangling_hours"], 168);

    let env: ConfigMap = find(&objects, "ConfigMap", "demo-harbor-jobservice-env");
    for (key, value) in [
        ("CORE_URL", "http://demo-harbor-core:80"),
        ("TOKEN_SERVICE_URL", "http://demo-harbor-core:80/service/token"),
        ("REGISTRY_URL", "http://demo-harbor-registry:5000"),
        ("REGISTRY_CONTROLLER_URL", "http://demo-harbor-registry:8080"),
        ("REGISTRY_CREDENTIAL_USERNAME", "harbor_registry_user"),
        ("REGISTRY_HTTP_CLIENT_TIMEOUT", "30"),
        ("JOBSERVICE_WEBHOOK_JOB_MAX_RETRY", "3"),
        ("JOBSERVICE_WEBHOOK_JOB_HTTP_CLIENT_TIMEOUT", "3"),
        ("LOG_LEVEL", "info"),
    ] {
        assert_eq!(data(&env, key), value, "{key}");
    }
    let keys = env.data.clone().unwrap_or_default();
    assert!(!keys.contains_key("METRIC_NAMESPACE") && !keys.contains_key("HTTP_PROXY"));

    let pvc: PersistentVolumeClaim = find(&objects, "PersistentVolumeClaim", "demo-harbor-jobservice");
    let pvc_spec = pvc.spec.unwrap_or_default();
    assert_eq!(pvc_spec.access_modes, Some(vec!["ReadWriteOnce".to_owned()]));
    let size = pvc_spec.resources.and_then(|r| r.requests).and_then(|r| r.get("storage").cloned());
    assert_eq!(size.map(|q| q.0), Some("1Gi".to_owned()));

    let deployment: Deployment = find(&objects, "Deployment", "demo-harbor-jobservice");
    let spec = deployment.spec.clone().unwrap_or_default();
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(spec.strategy.and_then(|s| s.type_).as_deref(), Some("Recreate"));
    let pod = spec.template.spec.clone().unwrap_or_default();
    assert_eq!(pod.security_context.as_ref().and_then(|s| s.run_as_user), Some(10000));
    assert_eq!(pod.security_context.as_ref().and_then(|s| s.fs_group), Some(10000));
    let volumes = pod.volumes.unwrap_or_default();
    assert_eq!(volumes[0].config_map.as_ref().map(|c| c.name.as_str()), Some("demo-harbor-jobservice"));
    assert_eq!(volumes[1].persistent_volume_claim.as_ref().map(|c| c.claim_name.as_str()), Some("demo-harbor-jobservice"));

    let c = container(&deployment);
    assert_eq!(c.name, "jobservice");
    assert_eq!(c.image.as_deref(), Some("docker.io/goharbor/harbor-jobservice:v2.15.1"));
    let ports: Vec<i32> = c.ports.clone().unwrap_or_default().iter().map(|p| p.container_port).collect();
    assert_eq!(ports, [8080]);
    for (probe, delay) in [(&c.liveness_probe, 300), (&c.readiness_probe, 20)] {
        let probe = probe.clone().unwrap_or_else(|| panic!("no probe"));
        let get = probe.http_get.unwrap_or_else(|| panic!("no httpGet"));
        assert_eq!(get.path.as_deref(), Some("/api/v1/stats"));
        assert_eq!(get.port, k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(8080));
        assert_eq!(probe.initial_delay_seconds, Some(delay));
    }
    let from: Vec<String> =
        c.env_from.clone().unwrap_or_default().iter().filter_map(|f| f.config_map_ref.as_ref().map(|r| r.name.clone())).collect();
    assert_eq!(from, ["demo-harbor-jobservice-env"]);
    let env = c.env.clone().unwrap_or_default();
    let names: Vec<&str> = env.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["CORE_SECRET", "JOBSERVICE_SECRET", "REGISTRY_CREDENTIAL_PASSWORD", "JOB_SERVICE_POOL_REDIS_URL"]);
    assert_eq!(secret_ref(&env[0]), ("demo-harbor-core".to_owned(), "secret".to_owned()));
    assert_eq!(secret_ref(&env[1]), ("demo-harbor-jobservice".to_owned(), "JOBSERVICE_SECRET".to_owned()));
    assert_eq!(secret_ref(&env[2]), ("demo-harbor-registry-htpasswd".to_owned(), "REGISTRY_PASSWD".to_owned()));
    assert_eq!(env[3].value.as_deref(), Some("redis://demo-harbor-redis:6379/1"));
    let mounts: Vec<(String, Option<String>)> =
        c.volume_mounts.clone().unwrap_or_default().iter().map(|m| (m.mount_path.clone(), m.sub_path.clone())).collect();
    assert_eq!(mounts, [("/etc/jobservice/config.yml".to_owned(), Some("config.yml".to_owned())), ("/var/log/jobs".to_owned(), None)]);
    let security = c.security_context.unwrap_or_default();
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(security.run_as_non_root, Some(true));

    let service: Service = find(&objects, "Service", "demo-harbor-jobservice");
    let ports: Vec<(i32, Option<String>)> = service
        .spec
        .unwrap_or_default()
        .ports
        .unwrap_or_default()
        .iter()
        .map(|p| (p.port, p.target_port.as_ref().map(|t| format!("{t:?}"))))
        .collect();
    assert_eq!(ports, [(80, Some("Int(8080)".to_owned()))]);
}

#[test]
fn production_scales_with_database_and_stdout_loggers_and_hides_the_redis_password() {
    let rendered = render_cluster(&read_example("production.yaml"));
    let objects = objects(&rendered);
    let kinds: Vec<&str> = objects.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(kinds, ["ConfigMap", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget"], "no PVC without the file logger");

    let config: ConfigMap = find(&objects, "ConfigMap", "harbor-prod-jobservice");
    let text = data(&config, "config.yml");
    assert!(!text.contains("redis_url") && !text.contains("harbor-redis"), "no Redis URL with a password in:\n{text}");
    let yml = yaml(&text);
    let names: Vec<&str> = yml["job_loggers"].as_sequence().into_iter().flatten().filter_map(|l| l["name"].as_str()).collect();
    assert_eq!(names, ["DB", "STD_OUTPUT"]);
    assert_eq!(yml["job_loggers"][0]["sweeper"]["duration"], 14);
    assert_eq!(yml["metric"]["enabled"], true);

    let env: ConfigMap = find(&objects, "ConfigMap", "harbor-prod-jobservice-env");
    assert_eq!(data(&env, "METRIC_NAMESPACE"), "harbor");
    assert_eq!(data(&env, "METRIC_SUBSYSTEM"), "jobservice");
    assert_eq!(data(&env, "CORE_URL"), "http://harbor-prod-core:80");
    for (_, _, value) in &objects {
        if value["kind"] == "ConfigMap" {
            assert!(!value.to_string().contains("PASSWORD"), "a ConfigMap mentions a password: {value}");
        }
    }

    let deployment: Deployment = find(&objects, "Deployment", "harbor-prod-jobservice");
    let spec = deployment.spec.clone().unwrap_or_default();
    assert_eq!(spec.replicas, Some(3));
    assert_eq!(spec.strategy.and_then(|s| s.type_).as_deref(), Some("RollingUpdate"));
    let volumes = spec.template.spec.and_then(|p| p.volumes).unwrap_or_default();
    assert!(volumes[1].empty_dir.is_some() && volumes[1].persistent_volume_claim.is_none());
    let c = container(&deployment);
    let env = c.env.clone().unwrap_or_default();
    let names: Vec<&str> = env.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["CORE_SECRET", "JOBSERVICE_SECRET", "REGISTRY_CREDENTIAL_PASSWORD", "REDIS_PASSWORD", "JOB_SERVICE_POOL_REDIS_URL"]);
    assert_eq!(secret_ref(&env[0]), ("harbor-prod-core".to_owned(), "secret".to_owned()));
    assert_eq!(secret_ref(&env[3]), ("harbor-redis".to_owned(), "password".to_owned()));
    assert_eq!(env[4].value.as_deref(), Some("redis://:$(REDIS_PASSWORD)@redis.cache.svc.cluster.local:6379/1"));
    let ports: Vec<(Option<String>, i32)> = c.ports.unwrap_or_default().iter().map(|p| (p.name.clone(), p.container_port)).collect();
    assert_eq!(ports, [(Some("http".to_owned()), 8080), (Some("http-metrics".to_owned()), 8001)]);

    let service: Service = find(&objects, "Service", "harbor-prod-jobservice");
    let ports: Vec<(Option<String>, i32)> =
        service.spec.unwrap_or_default().ports.unwrap_or_default().iter().map(|p| (p.name.clone(), p.port)).collect();
    assert_eq!(ports, [(Some("http".to_owned()), 80), (Some("http-metrics".to_owned()), 8001)]);
}

#[test]
fn a_proxy_for_jobservice_reaches_its_env_with_harbor_services_exempt() {
    let mut cluster = read_example("minimal.yaml");
    cluster.spec.proxy = serde_json::from_value(serde_json::json!({"httpProxy": "http://proxy:3128", "httpsProxy": "http://proxy:3128"}))
        .unwrap_or_else(|e| panic!("{e}"));
    let rendered = render_cluster(&cluster);
    let env: ConfigMap = find(&objects(&rendered), "ConfigMap", "demo-harbor-jobservice-env");
    assert_eq!(data(&env, "HTTPS_PROXY"), "http://proxy:3128");
    let no_proxy = data(&env, "NO_PROXY");
    assert!(no_proxy.starts_with("demo-harbor-core,demo-harbor-jobservice,"), "{no_proxy}");
    assert!(no_proxy.ends_with(",127.0.0.1,localhost,.local,.internal"), "{no_proxy}");
}

fn rejected_field(cluster: &HarborCluster) -> String {
    berth_tests::spec_error_field(berth_tests::render(berth_tests::shared_catalog(), cluster), "jobservice")
}

#[test]
fn two_replicas_on_a_read_write_once_file_logger_are_refused() {
    let mut cluster = read_example("minimal.yaml");
    cluster.spec.jobservice.pod.replicas = Some(2);
    assert_eq!(rejected_field(&cluster), "spec.jobservice.replicas");
}

#[test]
fn each_invalid_jobservice_field_is_named() {
    let mut negative = read_example("minimal.yaml");
    negative.spec.jobservice.pod.replicas = Some(-1);
    assert_eq!(rejected_field(&negative), "spec.jobservice.replicas");
    let mut idle = read_example("minimal.yaml");
    idle.spec.jobservice.workers = 0;
    assert_eq!(rejected_field(&idle), "spec.jobservice.workers");
    let mut silent = read_example("minimal.yaml");
    silent.spec.jobservice.job_loggers.clear();
    assert_eq!(rejected_field(&silent), "spec.jobservice.jobLoggers");
}
