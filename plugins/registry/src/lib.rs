//! Harbor's registry: distribution plus the registryctl sidecar in one pod, sharing the
//! data volume and the registry config, rendered as the Harbor Helm chart renders it
//! (`templates/registry/{registry-cm,registry-dpl,registry-pvc,registry-svc}.yaml`).

#![forbid(unsafe_code)]

mod config;
mod storage;
mod yaml;

use std::collections::BTreeMap;

use berth_sdk::k8s::{self, HARBOR_UID};
use berth_sdk::k8s_openapi::api::apps::v1::DeploymentStrategy;
use berth_sdk::k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, ContainerPort, KeyToPath, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec, SecretVolumeSource, Volume, VolumeMount, VolumeResourceRequirements,
};
use berth_sdk::k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use berth_sdk::spec::{HarborClusterSpec, StorageType};
use berth_sdk::topology::{SecretKeyRef, keys};
use berth_sdk::{PluginDescription, RenderError, RenderRequest, Rendered, Renderer};

use berth_sdk::k8s::secret_env as secret_env_key;
use config::{HTPASSWD_PATH, Ports, REGISTRY_CONFIG_PATH};

const COMPONENT: &str = "registry";
const CONTROLLER: &str = "registryctl";
/// The chart's default metrics port (`metrics.registry.port`).
const METRICS_PORT: u16 = 8001;

const CONFIG_VOLUME: &str = "registry-config";
const DATA_VOLUME: &str = "registry-data";
const HTPASSWD_VOLUME: &str = "registry-htpasswd";

pub struct Registry;

impl Renderer for Registry {
    fn describe() -> PluginDescription {
        berth_sdk::bundled_description!("berth-registry", COMPONENT)
    }

    fn render(req: &RenderRequest) -> Result<Rendered, RenderError> {
        let spec = &req.spec;
        let topology = &req.topology;
        let registry = topology.component(COMPONENT)?;
        let controller = topology.component(CONTROLLER)?;
        let pod_spec = &spec.registry.pod;
        let replicas = k8s::replicas(pod_spec, "spec.registry")?;
        storage::validate(&spec.storage, replicas)?;

        let ports = Ports {
            registry: registry.container_port,
            controller: controller.container_port,
            metrics: spec.metrics.enabled.then_some(METRICS_PORT),
        };
        let labels = topology.component(COMPONENT)?.labels();
        let selector = topology.component(COMPONENT)?.selector();

        let config = k8s::config_map(
            &registry.name,
            &labels,
            BTreeMap::from([
                ("config.yml".to_owned(), config::registry_config(spec, &topology.redis, &ports)?),
                ("ctl-config.yml".to_owned(), config::controller_config(spec, &ports)),
            ]),
        );

        // The chart's claim name: `<fullname>-registry`, the registry's own name.
        let claim = match spec.storage.type_ {
            StorageType::Filesystem => Some(spec.storage.filesystem.existing_claim.clone().unwrap_or_else(|| registry.name.clone())),
            _ => None,
        };
        let pod = pod(req, &ports, claim.as_deref())?;

        let mut deployment = k8s::deployment(&registry.name, &labels, &selector, replicas, pod_spec, pod);
        if let Some(deployment_spec) = deployment.spec.as_mut() {
            deployment_spec.strategy = Some(strategy(spec));
        }

        let mut service_ports = vec![
            k8s::service_port("http-registry", registry.service_port, registry.container_port),
            k8s::service_port("http-controller", controller.service_port, controller.container_port),
        ];
        if let Some(port) = ports.metrics {
            service_ports.push(k8s::service_port("http-metrics", port, port));
        }
        let service = k8s::cluster_ip_service(&registry.service_name, &labels, &selector, service_ports);

        let mut out = Rendered::default();
        out.object(&config)?;
        if spec.storage.type_ == StorageType::Filesystem && spec.storage.filesystem.existing_claim.is_none() {
            out.object(&data_claim(spec, &registry.name, &labels))?;
        }
        out.object(&deployment)?.object(&service)?;
        if let Some(budget) = k8s::disruption_budget(&registry.name, &labels, &selector, replicas) {
            out.object(&budget)?;
        }
        Ok(out)
    }
}

/// One pod, two containers: registryctl garbage-collects the same storage the registry
/// serves, so it mounts the same data volume and config.
fn pod(req: &RenderRequest, ports: &Ports, claim: Option<&str>) -> Result<PodSpec, RenderError> {
    let spec = &req.spec;
    let topology = &req.topology;
    let registry = topology.component(COMPONENT)?;
    let controller = topology.component(CONTROLLER)?;
    let storage_volumes = storage::volumes(&spec.storage);
    let env_from = storage::env_from(&spec.storage);
    let env_from = (!env_from.is_empty()).then_some(env_from);

    let mut volumes = vec![Volume {
        name: CONFIG_VOLUME.to_owned(),
        config_map: Some(ConfigMapVolumeSource { name: registry.name.clone(), ..ConfigMapVolumeSource::default() }),
        ..Volume::default()
    }];
    volumes.push(Volume {
        name: HTPASSWD_VOLUME.to_owned(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(topology.secrets.registry_htpasswd.clone()),
            items: Some(vec![KeyToPath { key: keys::REGISTRY_HTPASSWD.to_owned(), path: "passwd".to_owned(), mode: None }]),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    });
    let mut shared_mounts = vec![mount(CONFIG_VOLUME, REGISTRY_CONFIG_PATH, Some("config.yml"))];
    if let Some(claim) = claim {
        volumes.push(Volume {
            name: DATA_VOLUME.to_owned(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource { claim_name: claim.to_owned(), read_only: None }),
            ..Volume::default()
        });
        shared_mounts.insert(0, mount(DATA_VOLUME, storage::ROOT_DIRECTORY, None));
    }
    for (volume, volume_mount) in &storage_volumes {
        volumes.push(volume.clone());
        shared_mounts.push(volume_mount.clone());
    }

    let http_secret =
        secret_env_key(keys::REGISTRY_HTTP_SECRET, &SecretKeyRef::new(&topology.secrets.registry, keys::REGISTRY_HTTP_SECRET));
    let redis_password = topology.redis.password.as_ref().map(|p| secret_env_key("REGISTRY_REDIS_PASSWORD", p));

    let mut registry_env = vec![http_secret.clone()];
    registry_env.extend(redis_password.clone());
    registry_env.extend(spec.registry.pod.env.iter().cloned());
    let mut registry_mounts = shared_mounts.clone();
    registry_mounts.push(mount(HTPASSWD_VOLUME, HTPASSWD_PATH, Some("passwd")));
    let mut registry_ports = vec![container_port("http-registry", ports.registry)];
    if let Some(port) = ports.metrics {
        registry_ports.push(container_port("http-metrics", port));
    }
    let registry_container = Container {
        name: COMPONENT.to_owned(),
        image: Some(match &spec.registry.pod.image {
            Some(image) => image.clone(),
            None => registry.image(COMPONENT)?.to_owned(),
        }),
        image_pull_policy: Some(topology.image_pull_policy.clone()),
        ports: Some(registry_ports),
        liveness_probe: Some(k8s::http_probe("/", ports.registry, &registry.scheme, 300, 10)),
        readiness_probe: Some(k8s::http_probe("/", ports.registry, &registry.scheme, 1, 10)),
        resources: spec.registry.pod.resources.clone(),
        env: Some(registry_env),
        env_from: env_from.clone(),
        security_context: Some(k8s::restricted_container_security()),
        volume_mounts: Some(registry_mounts),
        ..Container::default()
    };

    let mut controller_env = vec![
        secret_env_key("CORE_SECRET", &SecretKeyRef::new(&topology.secrets.core, keys::CORE_SECRET)),
        secret_env_key("JOBSERVICE_SECRET", &SecretKeyRef::new(&topology.secrets.jobservice, keys::JOBSERVICE_SECRET)),
        http_secret,
    ];
    controller_env.extend(redis_password);
    controller_env.extend(spec.registry.controller.env.iter().cloned());
    let mut controller_mounts = shared_mounts;
    controller_mounts.push(mount(CONFIG_VOLUME, "/etc/registryctl/config.yml", Some("ctl-config.yml")));
    let controller_container = Container {
        name: CONTROLLER.to_owned(),
        image: Some(match &spec.registry.controller.image {
            Some(image) => image.clone(),
            None => registry.image(CONTROLLER)?.to_owned(),
        }),
        image_pull_policy: Some(topology.image_pull_policy.clone()),
        ports: Some(vec![container_port("http-controller", ports.controller)]),
        liveness_probe: Some(k8s::http_probe("/api/health", ports.controller, &controller.scheme, 300, 10)),
        readiness_probe: Some(k8s::http_probe("/api/health", ports.controller, &controller.scheme, 1, 10)),
        resources: spec.registry.controller.resources.clone(),
        env: Some(controller_env),
        env_from,
        security_context: Some(k8s::restricted_container_security()),
        volume_mounts: Some(controller_mounts),
        ..Container::default()
    };

    let mut pod = PodSpec {
        containers: vec![registry_container, controller_container],
        // The kubelet would otherwise re-chown the whole blob volume at every start.
        security_context: Some(PodSecurityContext {
            fs_group_change_policy: Some("OnRootMismatch".to_owned()),
            ..k8s::pod_security(HARBOR_UID)
        }),
        termination_grace_period_seconds: Some(k8s::TERMINATION_GRACE_SECONDS),
        volumes: Some(volumes),
        ..PodSpec::default()
    };
    k8s::apply_pod_settings(&mut pod, &spec.registry.pod, topology);
    Ok(pod)
}

/// Recreate when the blobs sit on a single-node claim: a surge pod could never attach it.
fn strategy(spec: &HarborClusterSpec) -> DeploymentStrategy {
    let type_ = if storage::single_node_claim(&spec.storage) { "Recreate" } else { "RollingUpdate" };
    DeploymentStrategy { type_: Some(type_.to_owned()), rolling_update: None }
}

fn data_claim(spec: &HarborClusterSpec, name: &str, labels: &BTreeMap<String, String>) -> PersistentVolumeClaim {
    let volume = &spec.storage.filesystem;
    PersistentVolumeClaim {
        metadata: k8s::meta(name, labels),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec![volume.access_mode.as_str().to_owned()]),
            storage_class_name: volume.storage_class.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_owned(), Quantity(volume.size.clone()))])),
                limits: None,
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}

fn mount(volume: &str, path: &str, sub_path: Option<&str>) -> VolumeMount {
    VolumeMount { name: volume.to_owned(), mount_path: path.to_owned(), sub_path: sub_path.map(str::to_owned), ..VolumeMount::default() }
}

fn container_port(name: &str, port: u16) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_owned()),
        container_port: i32::from(port),
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    }
}

berth_sdk::export_renderer!(Registry);

#[cfg(test)]
mod tests;
