//! The in-cluster PostgreSQL's chart contract (harbor.md §5 "database (internal)"),
//! rendered through the real sandbox from the examples.

use berth::render::ClusterRender;
use berth_api::spec::HarborCluster;
use berth_tests::{bundled_catalog, read_example, render, sandbox};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Container, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

fn rendered(cluster: &HarborCluster) -> ClusterRender {
    let sandbox = sandbox();
    let catalog = bundled_catalog(&sandbox);
    render(&catalog, cluster).unwrap_or_else(|e| panic!("{e}"))
}

/// The database's objects as (kind, JSON), failing if the component errored.
fn database_objects(rendered: &ClusterRender) -> Vec<(String, serde_json::Value)> {
    let (_, result) = rendered.components.iter().find(|(c, _)| c == "database").unwrap_or_else(|| panic!("database was not rendered"));
    let render = result.as_ref().unwrap_or_else(|e| panic!("database failed: {e}"));
    render.objects.iter().map(|o| (o.kind().to_owned(), serde_json::Value::Object(o.object.clone()))).collect()
}

fn object<T: k8s_openapi::serde::de::DeserializeOwned>(rendered: &ClusterRender, kind: &str) -> T {
    let (_, value) = database_objects(rendered).into_iter().find(|(k, _)| k == kind).unwrap_or_else(|| panic!("no {kind}"));
    serde_json::from_value(value).unwrap_or_else(|e| panic!("{kind}: {e}"))
}

fn named<'a>(containers: &'a [Container], name: &str) -> &'a Container {
    containers.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no container {name}"))
}

fn mounts(c: &Container) -> Vec<(String, String)> {
    c.volume_mounts.iter().flatten().map(|m| (m.name.clone(), m.mount_path.clone())).collect()
}

#[test]
fn minimal_database_follows_the_chart_contract() {
    let rendered = rendered(&read_example("minimal.yaml"));
    let sts: StatefulSet = object(&rendered, "StatefulSet");
    assert_eq!(sts.metadata.name.as_deref(), Some("demo-harbor-database"));
    let spec = sts.spec.clone().unwrap_or_default();
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(spec.service_name.as_deref(), Some("demo-harbor-database"));
    let pod = spec.template.spec.clone().unwrap_or_default();
    let security = pod.security_context.clone().unwrap_or_default();
    assert_eq!((security.run_as_user, security.fs_group), (Some(999), Some(999)));

    let data = ("database-data".to_owned(), "/var/lib/postgresql/data".to_owned());
    let init = named(pod.init_containers.as_deref().unwrap_or_default(), "data-permissions-ensurer");
    assert_eq!(init.image.as_deref(), Some("docker.io/goharbor/harbor-db:v2.15.1"));
    assert_eq!(init.command.clone().unwrap_or_default(), ["/bin/sh", "-c", "chmod -R 700 /var/lib/postgresql/data/pgdata || true"]);
    assert_eq!(mounts(init), std::slice::from_ref(&data));

    let c = named(&pod.containers, "database");
    assert_eq!(c.image.as_deref(), Some("docker.io/goharbor/harbor-db:v2.15.1"));
    let env = c.env.clone().unwrap_or_default();
    let password = env
        .iter()
        .find(|e| e.name == "POSTGRES_PASSWORD")
        .and_then(|e| e.value_from.as_ref())
        .and_then(|v| v.secret_key_ref.as_ref())
        .map(|s| (s.name.as_str(), s.key.as_str()));
    assert_eq!(password, Some(("demo-harbor-database", "POSTGRES_PASSWORD")));
    assert!(env.iter().all(|e| e.name != "POSTGRES_PASSWORD" || e.value.is_none()), "password must not be inline");
    let pgdata = env.iter().find(|e| e.name == "PGDATA").and_then(|e| e.value.as_deref());
    assert_eq!(pgdata, Some("/var/lib/postgresql/data/pgdata"));
    assert_eq!(c.ports.as_ref().map(|p| p[0].container_port), Some(5432));
    for (probe, delay) in [(&c.liveness_probe, 300), (&c.readiness_probe, 1)] {
        let probe = probe.clone().unwrap_or_else(|| panic!("no probe"));
        assert_eq!(probe.exec.and_then(|e| e.command), Some(vec!["/docker-healthcheck.sh".to_owned()]));
        assert_eq!(probe.initial_delay_seconds, Some(delay));
    }
    let container_mounts = mounts(c);
    assert!(container_mounts.contains(&data));
    let shm_name = container_mounts
        .iter()
        .find(|(_, path)| path == "/dev/shm")
        .map(|(name, _)| name.clone())
        .unwrap_or_else(|| panic!("no /dev/shm mount"));
    let shm = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == shm_name)
        .and_then(|v| v.empty_dir.clone())
        .unwrap_or_else(|| panic!("no shm emptyDir"));
    assert_eq!(shm.medium.as_deref(), Some("Memory"));
    assert_eq!(shm.size_limit.map(|q| q.0).as_deref(), Some("512Mi"));

    let claim = &spec.volume_claim_templates.clone().unwrap_or_default()[0];
    assert_eq!(claim.metadata.name.as_deref(), Some("database-data"));
    let storage = claim.spec.clone().and_then(|s| s.resources).and_then(|r| r.requests).and_then(|r| r.get("storage").cloned());
    assert_eq!(storage.map(|q| q.0).as_deref(), Some("1Gi"));

    let service: Service = object(&rendered, "Service");
    assert_eq!(service.metadata.name.as_deref(), Some("demo-harbor-database"));
    let port = &service.spec.unwrap_or_default().ports.unwrap_or_default()[0];
    assert_eq!((port.port, port.target_port.clone()), (5432, Some(IntOrString::Int(5432))));
}

#[test]
fn an_external_database_is_not_rendered() {
    let rendered = rendered(&read_example("production.yaml"));
    assert!(rendered.components.iter().all(|(c, _)| c != "database"));
    assert!(rendered.objects().iter().all(|o| !o.name().ends_with("-database")));
}

#[test]
fn every_database_object_deserializes_into_its_kubernetes_type() {
    let objects = database_objects(&rendered(&read_example("minimal.yaml")));
    assert_eq!(objects.len(), 2);
    for (kind, value) in objects {
        let parsed = match kind.as_str() {
            "StatefulSet" => serde_json::from_value::<StatefulSet>(value).map(drop),
            "Service" => serde_json::from_value::<Service>(value).map(drop),
            other => panic!("unexpected kind {other}"),
        };
        parsed.unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
}

#[test]
fn spec_errors_name_their_field() {
    let sandbox = sandbox();
    let catalog = bundled_catalog(&sandbox);
    let with = |change: &dyn Fn(&mut HarborCluster)| {
        let mut cluster = read_example("minimal.yaml");
        change(&mut cluster);
        cluster
    };
    let cases = [
        (with(&|c| c.spec.database.internal.pod.replicas = Some(-1)), "spec.database.internal.replicas"),
        (with(&|c| c.spec.database.internal.pod.replicas = Some(2)), "spec.database.internal.replicas"),
        (with(&|c| c.spec.database.internal.shm_size_limit = "big".to_owned()), "spec.database.internal.shmSizeLimit"),
    ];
    for (cluster, expected) in cases {
        assert_eq!(berth_tests::spec_error_field(render(&catalog, &cluster), "database"), expected);
    }
}
