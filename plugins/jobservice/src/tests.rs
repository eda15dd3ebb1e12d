use berth_sdk::topology::SecretKeyRef;
use berth_sdk::{RenderError, RenderRequest, Renderer};

use berth_sdk::InvalidSpec;

use super::*;

fn request(spec: serde_json::Value, redis_password: bool) -> RenderRequest {
    let mut request = berth_tests::plugin_request(spec);
    if redis_password {
        request.topology.redis.password = Some(SecretKeyRef::new("redis", "password"));
    }
    request
}

fn base_spec() -> serde_json::Value {
    serde_json::json!({"version": "2.15.1", "externalURL": "https://harbor.example.com"})
}

fn objects(spec: serde_json::Value, redis_password: bool) -> Vec<serde_json::Value> {
    Jobservice::render(&request(spec, redis_password))
        .expect("renders")
        .into_output()
        .objects
        .iter()
        .map(|o| serde_json::from_str(o).expect("json"))
        .collect()
}

fn field_of(err: RenderError) -> String {
    match err {
        RenderError::InvalidSpec(InvalidSpec { field, .. }) => field,
        other => panic!("expected an invalid-spec error, got {other:?}"),
    }
}

#[test]
fn default_file_logger_renders_a_claim_and_recreates() {
    let out = objects(base_spec(), false);
    let kinds: Vec<&str> = out.iter().map(|o| o["kind"].as_str().unwrap_or_default()).collect();
    assert_eq!(kinds, ["ConfigMap", "ConfigMap", "PersistentVolumeClaim", "Deployment", "Service"]);
    assert_eq!(out[2]["spec"]["resources"]["requests"]["storage"], "1Gi");
    assert_eq!(out[3]["spec"]["strategy"]["type"], "Recreate");
    assert_eq!(out[3]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"], 120);
    let volumes = &out[3]["spec"]["template"]["spec"]["volumes"];
    assert_eq!(volumes[1]["persistentVolumeClaim"]["claimName"], "demo-harbor-jobservice");
}

#[test]
fn database_logger_needs_no_claim_and_rolls() {
    let mut spec = base_spec();
    spec["jobservice"] = serde_json::json!({"replicas": 3, "jobLoggers": ["database", "stdout"]});
    let out = objects(spec, false);
    assert!(out.iter().all(|o| o["kind"] != "PersistentVolumeClaim"));
    let deployment = &out[2];
    assert_eq!(deployment["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert!(deployment["spec"]["template"]["spec"]["volumes"][1]["emptyDir"].is_object());
}

#[test]
fn config_yml_lists_loggers_in_the_charts_order_once() {
    let loggers = [JobLogger::Stdout, JobLogger::Database, JobLogger::File, JobLogger::Stdout];
    let yml = config::config_yml(&ConfigInput {
        port: 8080,
        workers: 7,
        redis_url: Some("redis://r:6379/1"),
        loggers: &loggers,
        sweeper_days: 9,
        level: "INFO",
        metrics: true,
    });
    let file = yml.find("name: \"FILE\"").expect("file logger");
    let db = yml.find("name: \"DB\"").expect("db logger");
    let std = yml.find("  - name: \"STD_OUTPUT\"").expect("stdout logger");
    assert!(file < db && db < std, "{yml}");
    assert_eq!(yml.matches("name: \"STD_OUTPUT\"").count(), 2, "one job logger, one service logger");
    for line in [
        "workers: 7",
        "redis_url: \"redis://r:6379/1\"",
        "duration: 9",
        "base_dir: \"/var/log/jobs\"",
        "namespace: \"harbor_job_service_namespace\"",
        "idle_timeout_second: 3600",
        "enabled: true",
        "max_update_hours: 24",
        "max_dangling_hours: 168",
    ] {
        assert!(yml.contains(line), "config.yml lacks {line:?}:\n{yml}");
    }
}

#[test]
fn a_redis_password_stays_out_of_the_config_map() {
    let out = objects(base_spec(), true);
    let yml = out[0]["data"]["config.yml"].as_str().unwrap_or_default();
    assert!(!yml.contains("redis_url"), "{yml}");
    let env = &out[3]["spec"]["template"]["spec"]["containers"][0]["env"];
    let names: Vec<&str> = env.as_array().into_iter().flatten().map(|e| e["name"].as_str().unwrap_or_default()).collect();
    assert_eq!(names, ["CORE_SECRET", "JOBSERVICE_SECRET", "REGISTRY_CREDENTIAL_PASSWORD", "REDIS_PASSWORD", "JOB_SERVICE_POOL_REDIS_URL"]);
    assert_eq!(env[4]["value"], "redis://:$(REDIS_PASSWORD)@demo-harbor-redis:6379/1");

    let open = objects(base_spec(), false);
    let yml = open[0]["data"]["config.yml"].as_str().unwrap_or_default();
    assert!(yml.contains("redis_url: \"redis://demo-harbor-redis:6379/1\""), "{yml}");
}

#[test]
fn proxy_env_lists_harbor_services_before_the_users_hosts() {
    let mut spec = base_spec();
    spec["proxy"] = serde_json::json!({"httpProxy": "http://proxy:3128"});
    let out = objects(spec, false);
    let data = &out[1]["data"];
    assert_eq!(data["HTTP_PROXY"], "http://proxy:3128");
    assert_eq!(
        data["NO_PROXY"],
        "demo-harbor-core,demo-harbor-jobservice,demo-harbor-database,demo-harbor-registry,demo-harbor-portal,demo-harbor-trivy,demo-harbor-exporter,127.0.0.1,localhost,.local,.internal"
    );
    let mut spec = base_spec();
    spec["proxy"] = serde_json::json!({"httpProxy": "http://proxy:3128", "components": ["core"]});
    assert!(objects(spec, false)[1]["data"].get("HTTP_PROXY").is_none());
}

#[test]
fn invalid_specs_name_their_field() {
    let cases = [
        (serde_json::json!({"replicas": 2}), "spec.jobservice.replicas"),
        (serde_json::json!({"replicas": -1}), "spec.jobservice.replicas"),
        (serde_json::json!({"workers": 0}), "spec.jobservice.workers"),
        (serde_json::json!({"jobLoggers": []}), "spec.jobservice.jobLoggers"),
        (serde_json::json!({"logVolume": {"size": ""}}), "spec.jobservice.logVolume.size"),
    ];
    for (jobservice, field) in cases {
        let mut spec = base_spec();
        spec["jobservice"] = jobservice.clone();
        let err = Jobservice::render(&request(spec, false)).err().unwrap_or_else(|| panic!("refused"));
        assert_eq!(field_of(err), field, "{jobservice}");
    }
    let mut spec = base_spec();
    spec["jobservice"] = serde_json::json!({"replicas": 2, "logVolume": {"size": "1Gi", "accessMode": "ReadWriteMany"}});
    assert!(Jobservice::render(&request(spec, false)).is_ok(), "RWX scales");
}
