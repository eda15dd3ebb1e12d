//! The in-cluster Redis's chart contract (harbor.md §5 "redis (internal)"), rendered
//! through the real sandbox from the examples.

use berth::render::ClusterRender;
use berth_api::spec::{HarborCluster, RedisFlavor};
use berth_tests::{bundled_catalog, read_example, render, sandbox};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Container, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

fn rendered(cluster: &HarborCluster) -> ClusterRender {
    let sandbox = sandbox();
    let catalog = bundled_catalog(&sandbox);
    render(&catalog, cluster).unwrap_or_else(|e| panic!("{e}"))
}

/// Redis's objects as (kind, JSON), failing if the component errored.
fn redis_objects(rendered: &ClusterRender) -> Vec<(String, serde_json::Value)> {
    let (_, result) = rendered.components.iter().find(|(c, _)| c == "redis").unwrap_or_else(|| panic!("redis was not rendered"));
    let render = result.as_ref().unwrap_or_else(|e| panic!("redis failed: {e}"));
    render.objects.iter().map(|o| (o.kind().to_owned(), serde_json::Value::Object(o.object.clone()))).collect()
}

fn object<T: k8s_openapi::serde::de::DeserializeOwned>(rendered: &ClusterRender, kind: &str) -> T {
    let (_, value) = redis_objects(rendered).into_iter().find(|(k, _)| k == kind).unwrap_or_else(|| panic!("no {kind}"));
    serde_json::from_value(value).unwrap_or_else(|e| panic!("{kind}: {e}"))
}

fn redis_container(sts: &StatefulSet) -> Container {
    let pod = sts.spec.as_ref().and_then(|s| s.template.spec.clone()).unwrap_or_default();
    pod.containers.into_iter().find(|c| c.name == "redis").unwrap_or_else(|| panic!("no redis container"))
}

#[test]
fn minimal_redis_follows_the_chart_contract() {
    let rendered = rendered(&read_example("minimal.yaml"));
    let sts: StatefulSet = object(&rendered, "StatefulSet");
    assert_eq!(sts.metadata.name.as_deref(), Some("demo-harbor-redis"));
    let spec = sts.spec.clone().unwrap_or_default();
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(spec.service_name.as_deref(), Some("demo-harbor-redis"));
    let security = spec.template.spec.clone().and_then(|p| p.security_context).unwrap_or_default();
    assert_eq!((security.run_as_user, security.fs_group), (Some(999), Some(999)));

    let c = redis_container(&sts);
    assert_eq!(c.image.as_deref(), Some("docker.io/goharbor/redis-photon:v2.15.1"));
    assert_eq!(c.ports.as_ref().map(|p| p[0].container_port), Some(6379));
    for (probe, delay) in [(&c.liveness_probe, 300), (&c.readiness_probe, 1)] {
        let probe = probe.clone().unwrap_or_else(|| panic!("no probe"));
        assert_eq!(probe.tcp_socket.map(|t| t.port), Some(IntOrString::Int(6379)));
        assert_eq!(probe.initial_delay_seconds, Some(delay));
    }
    let mount = &c.volume_mounts.clone().unwrap_or_default()[0];
    assert_eq!((mount.name.as_str(), mount.mount_path.as_str()), ("data", "/var/lib/redis"));
    let claim = &spec.volume_claim_templates.clone().unwrap_or_default()[0];
    assert_eq!(claim.metadata.name.as_deref(), Some("data"));
    let storage = claim.spec.clone().and_then(|s| s.resources).and_then(|r| r.requests).and_then(|r| r.get("storage").cloned());
    assert_eq!(storage.map(|q| q.0).as_deref(), Some("1Gi"));
    // No auth: nothing secret is referenced.
    assert!(c.env.iter().flatten().all(|e| e.value_from.is_none()));

    let service: Service = object(&rendered, "Service");
    assert_eq!(service.metadata.name.as_deref(), Some("demo-harbor-redis"));
    let port = &service.spec.unwrap_or_default().ports.unwrap_or_default()[0];
    assert_eq!((port.port, port.target_port.clone()), (6379, Some(IntOrString::Int(6379))));
}

#[test]
fn the_valkey_flavor_switches_the_image() {
    let mut cluster = read_example("minimal.yaml");
    cluster.spec.redis.internal.flavor = Some(RedisFlavor::Valkey);
    let sts: StatefulSet = object(&rendered(&cluster), "StatefulSet");
    assert_eq!(redis_container(&sts).image.as_deref(), Some("docker.io/goharbor/valkey-photon:v2.15.1"));
}

#[test]
fn an_external_redis_is_not_rendered() {
    let rendered = rendered(&read_example("production.yaml"));
    assert!(rendered.components.iter().all(|(c, _)| c != "redis"));
    assert!(rendered.objects().iter().all(|o| !o.name().ends_with("-redis")));
}

#[test]
fn every_redis_object_deserializes_into_its_kubernetes_type() {
    let objects = redis_objects(&rendered(&read_example("minimal.yaml")));
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
        (with(&|c| c.spec.redis.internal.pod.replicas = Some(-1)), "spec.redis.internal.replicas"),
        (with(&|c| c.spec.redis.internal.pod.replicas = Some(2)), "spec.redis.internal.replicas"),
        (with(&|c| c.spec.redis.internal.volume.size = "1 GB".to_owned()), "spec.redis.internal.volume.size"),
    ];
    for (cluster, expected) in cases {
        assert_eq!(berth_tests::spec_error_field(render(&catalog, &cluster), "redis"), expected);
    }
}
