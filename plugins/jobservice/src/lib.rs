//! Harbor's jobservice: the asynchronous job runner (replication, GC, scans), rendered as
//! the Harbor Helm chart renders it (`templates/jobservice/*`): config.yml, the `-env`
//! ConfigMap, a job-log PVC for the file logger, the Deployment and its Service.

#![forbid(unsafe_code)]

mod config;

use std::collections::BTreeMap;

use berth_sdk::k8s::{self, HARBOR_UID};
use berth_sdk::k8s_openapi::api::apps::v1::DeploymentStrategy;
use berth_sdk::k8s_openapi::api::core::v1::{
    ConfigMapEnvSource, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvFromSource, EnvVar,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, PodSpec, Volume, VolumeMount,
    VolumeResourceRequirements,
};
use berth_sdk::k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use berth_sdk::spec::{JobLogger, VolumeSpec};
use berth_sdk::topology::{REDIS_PASSWORD_ENV, SecretKeyRef, keys};
use berth_sdk::{PluginDescription, RenderError, RenderRequest, Rendered, Renderer};

use crate::config::{ConfigInput, JOB_LOG_DIR, METRICS_PORT};
use berth_sdk::k8s::secret_env as secret_key_env;

const COMPONENT: &str = "jobservice";

pub struct Jobservice;

impl Renderer for Jobservice {
    fn describe() -> PluginDescription {
        berth_sdk::bundled_description!("berth-jobservice", COMPONENT)
    }

    fn render(req: &RenderRequest) -> Result<Rendered, RenderError> {
        let spec = &req.spec.jobservice;
        let pod_spec = &spec.pod;
        let topology = &req.topology;
        let me = topology.component(COMPONENT)?;
        let replicas = k8s::replicas(pod_spec, "spec.jobservice")?;
        config::validate(spec, replicas)?;
        let metrics = req.spec.metrics.enabled;
        let file_logger = spec.job_loggers.contains(&JobLogger::File);

        let labels = topology.component(COMPONENT)?.labels();
        let selector = topology.component(COMPONENT)?.selector();
        let redis = &topology.redis;
        let redis_url = redis.url(redis.indices.jobservice);
        let level = req.spec.log_level.as_str().to_uppercase();

        let config = k8s::config_map(
            &me.name,
            &labels,
            BTreeMap::from([(
                "config.yml".to_owned(),
                config::config_yml(&ConfigInput {
                    port: me.container_port,
                    workers: spec.workers,
                    redis_url: redis.password.is_none().then_some(redis_url.as_str()),
                    loggers: &spec.job_loggers,
                    sweeper_days: spec.logger_sweeper_days,
                    level: &level,
                    metrics,
                }),
            )]),
        );
        let env_name = format!("{}-env", me.name);
        let env_config = k8s::config_map(&env_name, &labels, config::env_data(&req.spec, topology)?);

        // The PVC exists only for the file logger, and only when we own the claim.
        let volume = &spec.log_volume;
        let claim = match (&volume.existing_claim, file_logger) {
            (_, false) => None,
            (Some(existing), true) => Some(existing.clone()),
            (None, true) => Some(me.name.clone()),
        };
        let pvc = (file_logger && volume.existing_claim.is_none()).then(|| job_log_claim(&me.name, &labels, volume));

        let mut env = vec![
            secret_key_env("CORE_SECRET", &SecretKeyRef::new(&topology.secrets.core, keys::CORE_SECRET)),
            secret_key_env("JOBSERVICE_SECRET", &SecretKeyRef::new(&topology.secrets.jobservice, keys::JOBSERVICE_SECRET)),
            secret_key_env(
                "REGISTRY_CREDENTIAL_PASSWORD",
                &SecretKeyRef::new(&topology.secrets.registry_htpasswd, keys::REGISTRY_PASSWORD),
            ),
        ];
        if let Some(password) = &redis.password {
            env.push(secret_key_env(REDIS_PASSWORD_ENV, password));
        }
        // Kubernetes expands $(REDIS_PASSWORD) only from variables defined before it, and
        // Harbor's loader lets this variable win over config.yml's redis_url.
        env.push(EnvVar { name: "JOB_SERVICE_POOL_REDIS_URL".to_owned(), value: Some(redis_url.clone()), ..EnvVar::default() });
        env.extend(spec.pod.env.iter().cloned());

        let mut ports = vec![ContainerPort {
            name: Some(me.scheme.clone()),
            container_port: i32::from(me.container_port),
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }];
        if metrics {
            ports.push(ContainerPort {
                name: Some("http-metrics".to_owned()),
                container_port: i32::from(METRICS_PORT),
                protocol: Some("TCP".to_owned()),
                ..ContainerPort::default()
            });
        }

        let container = Container {
            name: COMPONENT.to_owned(),
            image: Some(match &spec.pod.image {
                Some(image) => image.clone(),
                None => me.image(COMPONENT)?.to_owned(),
            }),
            image_pull_policy: Some(topology.image_pull_policy.clone()),
            ports: Some(ports),
            liveness_probe: Some(k8s::http_probe("/api/v1/stats", me.container_port, &me.scheme, 300, 10)),
            readiness_probe: Some(k8s::http_probe("/api/v1/stats", me.container_port, &me.scheme, 20, 10)),
            resources: spec.pod.resources.clone(),
            env_from: Some(vec![EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource { name: env_name.clone(), optional: None }),
                ..EnvFromSource::default()
            }]),
            env: Some(env),
            security_context: Some(k8s::restricted_container_security()),
            volume_mounts: Some(vec![
                VolumeMount {
                    name: "jobservice-config".to_owned(),
                    mount_path: "/etc/jobservice/config.yml".to_owned(),
                    sub_path: Some("config.yml".to_owned()),
                    ..VolumeMount::default()
                },
                VolumeMount { name: "job-logs".to_owned(), mount_path: JOB_LOG_DIR.to_owned(), ..VolumeMount::default() },
            ]),
            ..Container::default()
        };

        let job_logs = Volume {
            name: "job-logs".to_owned(),
            persistent_volume_claim: claim.map(|claim_name| PersistentVolumeClaimVolumeSource { claim_name, read_only: None }),
            empty_dir: (!file_logger).then(EmptyDirVolumeSource::default),
            ..Volume::default()
        };
        let mut pod = PodSpec {
            containers: vec![container],
            security_context: Some(k8s::pod_security(HARBOR_UID)),
            termination_grace_period_seconds: Some(k8s::TERMINATION_GRACE_SECONDS),
            volumes: Some(vec![
                Volume {
                    name: "jobservice-config".to_owned(),
                    config_map: Some(ConfigMapVolumeSource { name: me.name.clone(), ..ConfigMapVolumeSource::default() }),
                    ..Volume::default()
                },
                job_logs,
            ]),
            ..PodSpec::default()
        };
        k8s::apply_pod_settings(&mut pod, pod_spec, topology);

        // A single-attach log volume cannot be mounted by the old and new pod at once,
        // so a rolling update would hang; the chart documents Recreate for this case.
        let recreate = file_logger && config::single_attach(volume.access_mode);
        let mut deployment = k8s::deployment(&me.name, &labels, &selector, replicas, pod_spec, pod);
        if let Some(deployment_spec) = deployment.spec.as_mut() {
            deployment_spec.strategy = Some(DeploymentStrategy {
                type_: Some(if recreate { "Recreate" } else { "RollingUpdate" }.to_owned()),
                rolling_update: None,
            });
        }

        let mut service_ports = vec![k8s::service_port(&me.scheme, me.service_port, me.container_port)];
        if metrics {
            service_ports.push(k8s::service_port("http-metrics", METRICS_PORT, METRICS_PORT));
        }
        let service = k8s::cluster_ip_service(&me.service_name, &labels, &selector, service_ports);

        let mut out = Rendered::default();
        out.object(&config)?.object(&env_config)?;
        if let Some(pvc) = &pvc {
            out.object(pvc)?;
        }
        out.object(&deployment)?.object(&service)?;
        if let Some(budget) = k8s::disruption_budget(&me.name, &labels, &selector, replicas) {
            out.object(&budget)?;
        }
        Ok(out)
    }
}

/// The file logger's claim, shaped by spec.jobservice.logVolume.
fn job_log_claim(name: &str, labels: &BTreeMap<String, String>, volume: &VolumeSpec) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: k8s::meta(name, labels),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec![volume.access_mode.as_str().to_owned()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_owned(), Quantity(volume.size.clone()))])),
                ..VolumeResourceRequirements::default()
            }),
            // The chart's "-" asks for no class at all, not the cluster default.
            storage_class_name: volume.storage_class.as_ref().map(|c| if c == "-" { String::new() } else { c.clone() }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}

berth_sdk::export_renderer!(Jobservice);

#[cfg(test)]
mod tests;
