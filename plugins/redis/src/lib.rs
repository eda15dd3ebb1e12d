//! Harbor's in-cluster Redis (redis-photon, or valkey-photon), rendered as the Harbor Helm
//! chart renders it (`templates/redis/{statefulset,service}.yaml`): one pod, no auth,
//! reachable only inside the cluster.

#![forbid(unsafe_code)]

use berth_sdk::k8s;
use berth_sdk::k8s_openapi::api::core::v1::{Container, ContainerPort, PodSpec, Probe, TCPSocketAction, VolumeMount};
use berth_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use berth_sdk::spec::{ComponentSpec, InternalRedis, Placement, RedisFlavor};
use berth_sdk::{ComponentTopology, PluginDescription, RenderError, RenderRequest, Rendered, Renderer};

use berth_sdk::volume::{self as storage, DataVolume};

const COMPONENT: &str = "redis";
/// The redis user of the photon images (the chart's `runAsUser`/`fsGroup`).
const REDIS_UID: i64 = 999;
const DATA_VOLUME: &str = "data";
const DATA_MOUNT: &str = "/var/lib/redis";
const REDIS_IMAGE: &str = "redis-photon";
const VALKEY_IMAGE: &str = "valkey-photon";

pub struct Redis;

impl Renderer for Redis {
    fn describe() -> PluginDescription {
        berth_sdk::bundled_description!("berth-redis", COMPONENT)
    }

    fn render(req: &RenderRequest) -> Result<Rendered, RenderError> {
        let mut out = Rendered::default();
        // The host does not call this for an external Redis; a stray call renders nothing.
        if req.spec.redis.type_ != Placement::Internal {
            return Ok(out);
        }
        let spec = &req.spec.redis.internal;
        let topology = &req.topology;
        let redis = topology.component(COMPONENT)?;
        let pod_settings = &spec.pod;
        let replicas = single_instance(pod_settings, "spec.redis.internal")?;
        let labels = topology.component(COMPONENT)?.labels();
        let selector = topology.component(COMPONENT)?.selector();
        let data = storage::data_volume(DATA_VOLUME, &labels, &spec.volume, "spec.redis.internal.volume")?;

        let container = Container {
            name: COMPONENT.to_owned(),
            image: Some(image(spec, &req.spec.version, redis)?),
            image_pull_policy: Some(topology.image_pull_policy.clone()),
            env: (!spec.pod.env.is_empty()).then(|| spec.pod.env.clone()),
            ports: Some(vec![ContainerPort {
                name: Some("redis".to_owned()),
                container_port: i32::from(redis.container_port),
                protocol: Some("TCP".to_owned()),
                ..ContainerPort::default()
            }]),
            liveness_probe: Some(tcp_probe(redis.container_port, 300)),
            readiness_probe: Some(tcp_probe(redis.container_port, 1)),
            resources: spec.pod.resources.clone(),
            security_context: Some(k8s::restricted_container_security()),
            volume_mounts: Some(vec![VolumeMount {
                name: DATA_VOLUME.to_owned(),
                mount_path: DATA_MOUNT.to_owned(),
                ..VolumeMount::default()
            }]),
            ..Container::default()
        };

        let (claim_templates, volumes) = match data {
            DataVolume::Template(claim) => (Some(vec![*claim]), None),
            DataVolume::Existing(volume) => (None, Some(vec![*volume])),
        };
        let mut pod = PodSpec {
            containers: vec![container],
            security_context: Some(k8s::pod_security(REDIS_UID)),
            termination_grace_period_seconds: Some(k8s::TERMINATION_GRACE_SECONDS),
            volumes,
            ..PodSpec::default()
        };
        k8s::apply_pod_settings(&mut pod, pod_settings, topology);

        let statefulset =
            k8s::stateful_set(&redis.name, &labels, &selector, replicas, &redis.service_name, pod_settings, pod, claim_templates);

        let service = k8s::cluster_ip_service(
            &redis.service_name,
            &labels,
            &selector,
            vec![k8s::service_port("redis", redis.service_port, redis.container_port)],
        );

        out.object(&statefulset)?.object(&service)?;
        Ok(out)
    }
}

/// The user's image, else the topology's redis-photon, or its valkey-photon sibling
/// (same registry, repository and tag) for the valkey flavor.
fn image(spec: &InternalRedis, version: &str, redis: &ComponentTopology) -> Result<String, RenderError> {
    if let Some(image) = &spec.pod.image {
        return Ok(image.clone());
    }
    let redis_image = redis.image(COMPONENT)?;
    match spec.flavor.unwrap_or_else(|| RedisFlavor::chart_default(version)) {
        RedisFlavor::Redis => Ok(redis_image.to_owned()),
        RedisFlavor::Valkey => valkey_image(redis_image).ok_or_else(|| {
            RenderError::invalid(
                "spec.redis.internal.flavor",
                format!(
                    "cannot derive a valkey image from {redis_image:?}, which is not a \
                     {REDIS_IMAGE} image; set spec.redis.internal.image"
                ),
            )
        }),
    }
}

/// `<prefix>/redis-photon[:tag|@digest]` → `<prefix>/valkey-photon[:tag|@digest]`.
fn valkey_image(redis_image: &str) -> Option<String> {
    let (prefix, last) = match redis_image.rsplit_once('/') {
        Some((prefix, last)) => (Some(prefix), last),
        None => (None, redis_image),
    };
    let rest = last.strip_prefix(REDIS_IMAGE)?;
    if !(rest.is_empty() || rest.starts_with(':') || rest.starts_with('@')) {
        return None;
    }
    Some(match prefix {
        Some(prefix) => format!("{prefix}/{VALKEY_IMAGE}{rest}"),
        None => format!("{VALKEY_IMAGE}{rest}"),
    })
}

/// The replica count, which may only be 0 (stopped) or 1: the pods would be independent
/// servers, not replicas of one another.
fn single_instance(spec: &ComponentSpec, field: &str) -> Result<i32, RenderError> {
    let replicas = k8s::replicas(spec, field)?;
    if replicas > 1 {
        return Err(RenderError::invalid(
            format!("{field}.replicas"),
            format!(
                "the in-cluster Redis is a single instance (0 or 1), got {replicas}; \
                 use spec.redis.type external for a replicated Redis"
            ),
        ));
    }
    Ok(replicas)
}

fn tcp_probe(port: u16, initial_delay: i32) -> Probe {
    Probe {
        tcp_socket: Some(TCPSocketAction { port: IntOrString::Int(i32::from(port)), host: None }),
        initial_delay_seconds: Some(initial_delay),
        period_seconds: Some(10),
        ..Probe::default()
    }
}

berth_sdk::export_renderer!(Redis);

#[cfg(test)]
mod tests;
