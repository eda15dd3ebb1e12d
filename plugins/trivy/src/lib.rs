//! Harbor's Trivy scanner adapter, rendered as the Harbor Helm chart renders it
//! (`templates/trivy/trivy-{sts,svc}.yaml`): a StatefulSet whose cache volume keeps the
//! vulnerability database across restarts, and its Service.

#![forbid(unsafe_code)]

mod env;

use std::collections::BTreeMap;

use berth_sdk::k8s::{self, HARBOR_UID};
use berth_sdk::k8s_openapi::api::core::v1::{Container, ContainerPort, PodSpec, Probe, ResourceRequirements, VolumeMount};
use berth_sdk::k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use berth_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use berth_sdk::{PluginDescription, RenderError, RenderRequest, Rendered, Renderer};

use berth_sdk::volume::{self as storage, DataVolume};

const COMPONENT: &str = "trivy";
/// The chart's container port name; the probes address it by name.
const PORT_NAME: &str = "api-server";
const DATA_VOLUME: &str = "data";
const CACHE_MOUNT: &str = "/home/scanner/.cache";

pub struct Trivy;

impl Renderer for Trivy {
    fn describe() -> PluginDescription {
        berth_sdk::bundled_description!("berth-trivy", COMPONENT)
    }

    fn render(req: &RenderRequest) -> Result<Rendered, RenderError> {
        let spec = &req.spec.trivy;
        let mut out = Rendered::default();
        // The host does not call a disabled component; rendering nothing keeps a stray
        // call harmless.
        if !spec.enabled {
            return Ok(out);
        }
        let topology = &req.topology;
        let trivy = topology.component(COMPONENT)?;
        let pod_settings = &spec.pod;
        let replicas = k8s::replicas(pod_settings, "spec.trivy")?;
        let labels = topology.component(COMPONENT)?.labels();
        let selector = topology.component(COMPONENT)?.selector();
        let data = storage::data_volume(DATA_VOLUME, &labels, &spec.cache, "spec.trivy.cache")?;

        let container = Container {
            name: COMPONENT.to_owned(),
            image: Some(match &spec.pod.image {
                Some(image) => image.clone(),
                None => trivy.image(COMPONENT)?.to_owned(),
            }),
            image_pull_policy: Some(topology.image_pull_policy.clone()),
            env: Some(env::env(&req.spec, topology, trivy.container_port)),
            ports: Some(vec![ContainerPort {
                name: Some(PORT_NAME.to_owned()),
                container_port: i32::from(trivy.container_port),
                protocol: Some("TCP".to_owned()),
                ..ContainerPort::default()
            }]),
            liveness_probe: Some(probe("/probe/healthy", &trivy.scheme, 10)),
            readiness_probe: Some(probe("/probe/ready", &trivy.scheme, 3)),
            resources: Some(spec.pod.resources.clone().unwrap_or_else(default_resources)),
            security_context: Some(k8s::restricted_container_security()),
            volume_mounts: Some(vec![VolumeMount {
                name: DATA_VOLUME.to_owned(),
                mount_path: CACHE_MOUNT.to_owned(),
                ..VolumeMount::default()
            }]),
            ..Container::default()
        };

        let (claim_templates, volumes) = match data {
            DataVolume::Template(claim) => (Some(vec![*claim]), None),
            DataVolume::Existing(volume) => (None, Some(vec![*volume])),
        };
        let mut pod =
            PodSpec { containers: vec![container], security_context: Some(k8s::pod_security(HARBOR_UID)), volumes, ..PodSpec::default() };
        k8s::apply_pod_settings(&mut pod, pod_settings, topology);

        let statefulset =
            k8s::stateful_set(&trivy.name, &labels, &selector, replicas, &trivy.service_name, pod_settings, pod, claim_templates);

        let service = k8s::cluster_ip_service(
            &trivy.service_name,
            &labels,
            &selector,
            vec![k8s::service_port(&format!("{}-trivy", trivy.scheme), trivy.service_port, trivy.container_port)],
        );

        out.object(&statefulset)?.object(&service)?;
        if let Some(budget) = k8s::disruption_budget(&trivy.name, &labels, &selector, replicas) {
            out.object(&budget)?;
        }
        Ok(out)
    }
}

/// The chart's probe: on the named port, so it follows the container port.
fn probe(path: &str, scheme: &str, failure_threshold: i32) -> Probe {
    let mut probe = k8s::http_probe(path, 0, scheme, 5, 10);
    if let Some(get) = probe.http_get.as_mut() {
        get.port = IntOrString::String(PORT_NAME.to_owned());
    }
    probe.success_threshold = Some(1);
    probe.failure_threshold = Some(failure_threshold);
    probe
}

/// The chart's `trivy.resources`: a scan of a large image needs the memory.
fn default_resources() -> ResourceRequirements {
    let quantities = |cpu: &str, memory: &str| {
        BTreeMap::from([("cpu".to_owned(), Quantity(cpu.to_owned())), ("memory".to_owned(), Quantity(memory.to_owned()))])
    };
    ResourceRequirements {
        requests: Some(quantities("200m", "512Mi")),
        limits: Some(quantities("1", "1Gi")),
        ..ResourceRequirements::default()
    }
}

berth_sdk::export_renderer!(Trivy);

#[cfg(test)]
mod tests;
