use berth_sdk::k8s_openapi::api::apps::v1::Deployment;
use berth_sdk::k8s_openapi::api::core::v1::{ConfigMap, Container, Service};
use berth_sdk::{RenderError, RenderRequest, Renderer, Task, Topology};

use berth_sdk::InvalidSpec;

use super::*;

fn topology() -> Topology {
    berth_tests::plugin_request(base_spec()).topology
}

fn request_with(spec: serde_json::Value, topology: Topology) -> RenderRequest {
    RenderRequest { topology, ..berth_tests::plugin_request(spec) }
}

fn request(spec: serde_json::Value) -> RenderRequest {
    request_with(spec, topology())
}

fn base_spec() -> serde_json::Value {
    serde_json::json!({"version": "2.15.1", "externalURL": "https://harbor.example.com"})
}

struct Objects {
    config_map: ConfigMap,
    deployment: Deployment,
    service: Service,
}

fn render(req: &RenderRequest) -> Objects {
    let out = Core::render(req).expect("renders").into_output();
    assert_eq!(out.objects.len(), 3);
    Objects {
        config_map: serde_json::from_str(&out.objects[0]).expect("ConfigMap"),
        deployment: serde_json::from_str(&out.objects[1]).expect("Deployment"),
        service: serde_json::from_str(&out.objects[2]).expect("Service"),
    }
}

fn container(d: &Deployment) -> Container {
    d.spec.clone().and_then(|s| s.template.spec).expect("pod").containers[0].clone()
}

fn env_names(c: &Container) -> Vec<String> {
    c.env.clone().unwrap_or_default().into_iter().map(|e| e.name).collect()
}

#[test]
fn app_conf_is_the_charts() {
    assert_eq!(config::app_conf(8080), "appname = Harbor\nrunmode = prod\nenablegzip = true\n\n[prod]\nhttpport = 8080\n");
}

#[test]
fn config_map_holds_the_non_secret_env() {
    let data = render(&request(base_spec())).config_map.data.expect("data");
    let expect = [
        ("PORT", "8080"),
        ("DATABASE_TYPE", "postgresql"),
        ("POSTGRESQL_HOST", "demo-harbor-database"),
        ("POSTGRESQL_SSLMODE", "disable"),
        ("POSTGRESQL_MAX_OPEN_CONNS", "900"),
        ("EXT_ENDPOINT", "https://harbor.example.com"),
        ("CORE_URL", "http://demo-harbor-core:80"),
        ("TOKEN_SERVICE_URL", "http://demo-harbor-core:80/service/token"),
        ("CORE_LOCAL_URL", "http://127.0.0.1:8080"),
        ("REGISTRY_CONTROLLER_URL", "http://demo-harbor-registry:8080"),
        ("WITH_TRIVY", "true"),
        ("TRIVY_ADAPTER_URL", "http://demo-harbor-trivy:8080"),
        ("REGISTRY_STORAGE_PROVIDER_NAME", "filesystem"),
        ("LOG_LEVEL", "info"),
        ("REGISTRY_CREDENTIAL_USERNAME", "harbor_registry_user"),
        ("QUOTA_UPDATE_PROVIDER", "db"),
    ];
    for (key, value) in expect {
        assert_eq!(data.get(key).map(String::as_str), Some(value), "{key}");
    }
    for absent in ["_REDIS_URL_CORE", "_REDIS_URL_REG", "METRIC_ENABLE", "HTTP_PROXY", "NO_PROXY", "CACHE_ENABLED"] {
        assert!(!data.contains_key(absent), "{absent} must not be in the ConfigMap");
    }
    assert!(data.values().all(|v| !v.contains("$(")), "no ConfigMap value may reference a secret");
}

#[test]
fn env_references_secrets_and_orders_the_redis_password_first() {
    let mut topology = topology();
    topology.redis.password = Some(SecretKeyRef { name: "r".to_owned(), key: "p".to_owned() });
    let c = container(&render(&request_with(base_spec(), topology)).deployment);
    assert_eq!(
        env_names(&c),
        [
            "CORE_SECRET",
            "JOBSERVICE_SECRET",
            "POSTGRESQL_PASSWORD",
            "REGISTRY_CREDENTIAL_PASSWORD",
            "CSRF_KEY",
            "HARBOR_ADMIN_PASSWORD",
            "REDIS_PASSWORD",
            "_REDIS_URL_CORE",
            "_REDIS_URL_REG"
        ]
    );
    let env = c.env.unwrap_or_default();
    assert_eq!(env[7].value.as_deref(), Some("redis://:$(REDIS_PASSWORD)@demo-harbor-redis:6379/0?idle_timeout_seconds=30"));
    let refs: Vec<(String, String)> =
        env.iter().filter_map(|e| e.value_from.as_ref()?.secret_key_ref.as_ref().map(|s| (s.name.clone(), s.key.clone()))).collect();
    assert_eq!(refs[0], ("demo-harbor-core".to_owned(), "secret".to_owned()));
    assert_eq!(refs[1], ("demo-harbor-jobservice".to_owned(), "JOBSERVICE_SECRET".to_owned()));
    assert_eq!(refs[3], ("demo-harbor-registry-htpasswd".to_owned(), "REGISTRY_PASSWD".to_owned()));
    assert_eq!(refs[6], ("r".to_owned(), "p".to_owned()));
}

#[test]
fn without_a_redis_password_there_is_no_redis_password_env() {
    let c = container(&render(&request(base_spec())).deployment);
    assert!(!env_names(&c).contains(&"REDIS_PASSWORD".to_owned()));
    let env = c.env.unwrap_or_default();
    let reg = env.iter().find(|e| e.name == "_REDIS_URL_REG").and_then(|e| e.value.clone());
    assert_eq!(reg.as_deref(), Some("redis://demo-harbor-redis:6379/2?idle_timeout_seconds=30"));
}

#[test]
fn user_env_comes_last() {
    let mut spec = base_spec();
    spec["core"] = serde_json::json!({"env": [{"name": "EXTRA", "value": "1"}]});
    let c = container(&render(&request(spec)).deployment);
    assert_eq!(env_names(&c).last().map(String::as_str), Some("EXTRA"));
}

#[test]
fn metrics_add_env_and_ports() {
    let mut spec = base_spec();
    spec["metrics"] = serde_json::json!({"enabled": true});
    let o = render(&request(spec));
    let data = o.config_map.data.expect("data");
    assert_eq!(data.get("METRIC_PORT").map(String::as_str), Some("8001"));
    assert_eq!(data.get("METRIC_SUBSYSTEM").map(String::as_str), Some("core"));
    let ports: Vec<(Option<String>, i32)> =
        container(&o.deployment).ports.unwrap_or_default().into_iter().map(|p| (p.name, p.container_port)).collect();
    assert_eq!(ports, [(Some("http".to_owned()), 8080), (Some("http-metrics".to_owned()), 8001)]);
    let svc: Vec<(Option<String>, i32)> =
        o.service.spec.and_then(|s| s.ports).unwrap_or_default().into_iter().map(|p| (p.name, p.port)).collect();
    assert_eq!(svc, [(Some("http-web".to_owned()), 80), (Some("http-metrics".to_owned()), 8001)]);
}

#[test]
fn proxy_lists_harbor_services_before_the_users_hosts() {
    let mut spec = base_spec();
    spec["proxy"] = serde_json::json!({"httpProxy": "http://proxy:3128", "noProxy": ".corp"});
    let data = render(&request(spec)).config_map.data.expect("data");
    assert_eq!(data.get("HTTP_PROXY").map(String::as_str), Some("http://proxy:3128"));
    assert!(!data.contains_key("HTTPS_PROXY"));
    assert_eq!(
        data.get("NO_PROXY").map(String::as_str),
        Some(
            "demo-harbor-core,demo-harbor-jobservice,demo-harbor-database,demo-harbor-registry,demo-harbor-portal,demo-harbor-trivy,demo-harbor-exporter,.corp"
        )
    );
    let mut spec = base_spec();
    spec["proxy"] = serde_json::json!({"httpProxy": "http://proxy:3128", "components": ["trivy"]});
    let data = render(&request(spec)).config_map.data.expect("data");
    assert!(!data.contains_key("HTTP_PROXY"));
}

#[test]
fn mounts_probes_and_grace_follow_the_chart() {
    let d = render(&request(base_spec())).deployment;
    let pod = d.spec.clone().and_then(|s| s.template.spec).expect("pod");
    assert_eq!(pod.termination_grace_period_seconds, Some(120));
    assert_eq!(pod.security_context.and_then(|s| s.run_as_user), Some(10000));
    let c = &pod.containers[0];
    let mounts: Vec<(String, String)> = c.volume_mounts.clone().unwrap_or_default().into_iter().map(|m| (m.mount_path, m.name)).collect();
    assert_eq!(
        mounts,
        [
            ("/etc/core/app.conf".to_owned(), "config".to_owned()),
            ("/etc/core/key".to_owned(), "secret-key".to_owned()),
            ("/etc/core/private_key.pem".to_owned(), "token-service-private-key".to_owned()),
            ("/etc/core/token".to_owned(), "psc".to_owned()),
        ]
    );
    let startup = c.startup_probe.clone().expect("startup probe");
    assert_eq!(startup.failure_threshold, Some(360));
    assert_eq!(startup.http_get.and_then(|g| g.path).as_deref(), Some("/api/v2.0/ping"));
}

#[test]
fn negative_replicas_names_the_field() {
    let mut spec = base_spec();
    spec["core"] = serde_json::json!({"replicas": -1});
    let err = Core::render(&request(spec)).expect_err("refused");
    assert!(matches!(&err, RenderError::InvalidSpec(InvalidSpec { field, .. }) if field == "spec.core.replicas"), "{err:?}");
}

#[test]
fn image_override_wins_over_the_topology() {
    let mut spec = base_spec();
    spec["core"] = serde_json::json!({"image": "mirror.local/core:patched"});
    let c = container(&render(&request(spec)).deployment);
    assert_eq!(c.image.as_deref(), Some("mirror.local/core:patched"));
}

fn migrate_job(req: &RenderRequest) -> berth_sdk::k8s_openapi::api::batch::v1::Job {
    let task =
        Task::Migrate(berth_sdk::MigrateTask { from_version: "2.14.2".to_owned(), job_name: "demo-harbor-core-migrate-1".to_owned() });
    let out = Core::render_task(req, &task).expect("renders the migration").into_output();
    assert_eq!(out.objects.len(), 1, "one Job and nothing else");
    serde_json::from_str(&out.objects[0]).expect("a Job")
}

#[test]
fn the_migration_runs_the_target_core_image_in_migrate_mode_with_cores_settings() {
    let req = request(base_spec());
    let job = migrate_job(&req);
    assert_eq!(job.metadata.name.as_deref(), Some("demo-harbor-core-migrate-1"));
    let spec = job.spec.expect("spec");
    assert_eq!(spec.backoff_limit, Some(0), "a failed migration is not retried behind the operator's back");
    let pod = spec.template.spec.expect("pod");
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    assert_eq!(pod.automount_service_account_token, Some(false));
    let migrate = &pod.containers[0];
    assert_eq!(migrate.command.clone().unwrap_or_default(), ["/harbor/harbor_core", "-mode=migrate"]);
    let deployment = render(&req).deployment;
    let core = container(&deployment);
    assert_eq!(migrate.image, core.image, "the image of the version rendered");
    assert!(migrate.readiness_probe.is_none() && migrate.ports.is_none());
    assert_eq!(migrate.volume_mounts, core.volume_mounts, "app.conf, the key and the token key, as core mounts them");
    assert_eq!(pod.volumes, deployment.spec.and_then(|s| s.template.spec).and_then(|p| p.volumes));
    // Every setting of the target's ConfigMap but app.conf arrives as a value, and the
    // secret env as core gets it.
    let data = render(&req).config_map.data.expect("data");
    let env = migrate.env.clone().unwrap_or_default();
    for (key, value) in data.iter().filter(|(k, _)| k.as_str() != "app.conf") {
        assert!(env.iter().any(|e| &e.name == key && e.value.as_ref() == Some(value)), "{key} missing from the Job's env");
    }
    for name in env_names(&core) {
        assert!(env.iter().any(|e| e.name == name), "{name} missing from the Job's env");
    }
    assert!(migrate.env_from.is_none(), "the live ConfigMap is still the old version's");
}

#[test]
fn no_core_service_selects_the_migration_pod() {
    let req = request(base_spec());
    let job = migrate_job(&req);
    let labels = job.spec.and_then(|s| s.template.metadata).and_then(|m| m.labels).unwrap_or_default();
    let selector = render(&req).service.spec.and_then(|s| s.selector).expect("core's selector");
    assert!(!selector.iter().all(|(k, v)| labels.get(k) == Some(v)), "core's Service would route to {labels:?}");
    assert_eq!(labels.get("berth.dev/task").map(String::as_str), Some("migrate"));
}

#[test]
fn core_takes_no_backup_task() {
    let task = Task::Backup(berth_sdk::BackupTask { name: "b".to_owned(), job_name: "j".to_owned(), path: "p".to_owned() });
    assert!(matches!(Core::render_task(&request(base_spec()), &task), Err(RenderError::Unsupported(_))));
}
