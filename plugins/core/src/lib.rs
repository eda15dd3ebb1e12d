//! Harbor's core: the API server, token service and job scheduler, rendered as the Harbor
//! Helm chart renders it (`templates/core/{core-cm,core-dpl,core-svc}.yaml`). The host
//! generates the Secrets core reads; this plugin only references them.

#![forbid(unsafe_code)]

mod config;
mod migrate;

use berth_sdk::k8s::{self, HARBOR_UID};
use berth_sdk::k8s_openapi::api::core::v1::{
    ConfigMapEnvSource, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvFromSource, EnvVar, KeyToPath, PodSpec,
    Probe, SecretVolumeSource, Volume, VolumeMount,
};
use berth_sdk::topology::{REDIS_PASSWORD_ENV, SecretKeyRef, keys};
use berth_sdk::{PluginDescription, RenderError, RenderRequest, Rendered, Renderer, Task, Topology};

use berth_sdk::k8s::secret_env;
use config::{APP_CONF_KEY, APP_CONF_PATH, METRICS_PORT};

const COMPONENT: &str = "core";
/// Core runs schema migrations before it answers pings; the chart allows an hour.
const STARTUP_FAILURE_THRESHOLD: i32 = 360;
const PING_PATH: &str = "/api/v2.0/ping";
/// Go's Redis pool drops idle connections before a proxy or server timeout does.
const REDIS_URL_SUFFIX: &str = "?idle_timeout_seconds=30";

pub struct Core;

impl Renderer for Core {
    fn describe() -> PluginDescription {
        berth_sdk::bundled_description!("berth-core", COMPONENT)
    }

    fn render(req: &RenderRequest) -> Result<Rendered, RenderError> {
        let spec = &req.spec.core;
        let topology = &req.topology;
        let core = topology.component(COMPONENT)?;
        let replicas = k8s::replicas(spec, "spec.core")?;
        let metrics = req.spec.metrics.enabled;

        let labels = topology.component(COMPONENT)?.labels();
        let selector = topology.component(COMPONENT)?.selector();

        let config_map = k8s::config_map(&core.name, &labels, config::config_data(&req.spec, topology)?);

        let mut ports = vec![ContainerPort {
            name: Some(core.scheme.clone()),
            container_port: i32::from(core.container_port),
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }];
        if metrics {
            ports.push(ContainerPort {
                name: Some(format!("{}-metrics", core.scheme)),
                container_port: i32::from(METRICS_PORT),
                protocol: Some("TCP".to_owned()),
                ..ContainerPort::default()
            });
        }

        let mut container = core_container(req, COMPONENT)?;
        container.ports = Some(ports);
        container.startup_probe = Some(ping_probe(core.container_port, &core.scheme, 10, STARTUP_FAILURE_THRESHOLD));
        container.liveness_probe = Some(ping_probe(core.container_port, &core.scheme, 0, 2));
        container.readiness_probe = Some(ping_probe(core.container_port, &core.scheme, 0, 2));

        let mut pod = PodSpec {
            containers: vec![container],
            security_context: Some(k8s::pod_security(HARBOR_UID)),
            termination_grace_period_seconds: Some(k8s::TERMINATION_GRACE_SECONDS),
            volumes: Some(volumes(req)?),
            ..PodSpec::default()
        };
        k8s::apply_pod_settings(&mut pod, spec, topology);

        let deployment = k8s::deployment(&core.name, &labels, &selector, replicas, spec, pod);

        let mut service_ports = vec![k8s::service_port(&format!("{}-web", core.scheme), core.service_port, core.container_port)];
        if metrics {
            service_ports.push(k8s::service_port(&format!("{}-metrics", core.scheme), METRICS_PORT, METRICS_PORT));
        }
        let service = k8s::cluster_ip_service(&core.service_name, &labels, &selector, service_ports);

        let mut out = Rendered::default();
        out.object(&config_map)?.object(&deployment)?.object(&service)?;
        if let Some(budget) = k8s::disruption_budget(&core.name, &labels, &selector, replicas) {
            out.object(&budget)?;
        }
        Ok(out)
    }

    fn render_task(req: &RenderRequest, task: &Task) -> Result<Rendered, RenderError> {
        match task {
            Task::Migrate(migrate) => {
                let mut out = Rendered::default();
                out.object(&migrate::job(req, migrate)?)?;
                Ok(out)
            }
            _ => Err(RenderError::Unsupported("berth-core renders the migration Job only; backups are the backup component's".to_owned())),
        }
    }
}

/// Core's container as the Deployment and the migration Job both run it: the image of
/// the version rendered, the ConfigMap's env, the Secrets' env and the mounted files.
fn core_container(req: &RenderRequest, name: &str) -> Result<Container, RenderError> {
    let spec = &req.spec.core;
    let topology = &req.topology;
    let core = topology.component(COMPONENT)?;
    let mut env = env(topology);
    env.extend(spec.env.iter().cloned());
    Ok(Container {
        name: name.to_owned(),
        image: Some(match &spec.image {
            Some(image) => image.clone(),
            None => core.image(COMPONENT)?.to_owned(),
        }),
        image_pull_policy: Some(topology.image_pull_policy.clone()),
        env_from: Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource { name: core.name.clone(), ..ConfigMapEnvSource::default() }),
            ..EnvFromSource::default()
        }]),
        env: Some(env),
        resources: spec.resources.clone(),
        security_context: Some(k8s::restricted_container_security()),
        volume_mounts: Some(vec![
            mount("config", APP_CONF_PATH, Some(APP_CONF_KEY)),
            mount("secret-key", "/etc/core/key", Some("key")),
            mount("token-service-private-key", "/etc/core/private_key.pem", Some(keys::TOKEN_KEY)),
            mount("psc", "/etc/core/token", None),
        ]),
        ..Container::default()
    })
}

/// The volumes [`core_container`] mounts.
fn volumes(req: &RenderRequest) -> Result<Vec<Volume>, RenderError> {
    let topology = &req.topology;
    let core = topology.component(COMPONENT)?;
    Ok(vec![
        Volume {
            name: "config".to_owned(),
            config_map: Some(ConfigMapVolumeSource {
                name: core.name.clone(),
                items: Some(vec![key_to_path(APP_CONF_KEY, APP_CONF_KEY)]),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        secret_volume("secret-key", &topology.secrets.core, keys::SECRET_KEY, "key"),
        secret_volume("token-service-private-key", &topology.secrets.core, keys::TOKEN_KEY, keys::TOKEN_KEY),
        Volume { name: "psc".to_owned(), empty_dir: Some(EmptyDirVolumeSource::default()), ..Volume::default() },
    ])
}

/// Core's explicit env, in dependency order: Kubernetes expands `$(VAR)` only from
/// entries defined earlier in this list, so REDIS_PASSWORD precedes the Redis URLs.
fn env(topology: &Topology) -> Vec<EnvVar> {
    let secrets = &topology.secrets;
    let from = |name: &str, key: &str| SecretKeyRef { name: name.to_owned(), key: key.to_owned() };
    let mut env = vec![
        secret_env("CORE_SECRET", &from(&secrets.core, keys::CORE_SECRET)),
        secret_env("JOBSERVICE_SECRET", &from(&secrets.jobservice, keys::JOBSERVICE_SECRET)),
        secret_env("POSTGRESQL_PASSWORD", &topology.database.password),
        secret_env("REGISTRY_CREDENTIAL_PASSWORD", &from(&secrets.registry_htpasswd, keys::REGISTRY_PASSWORD)),
        secret_env("CSRF_KEY", &from(&secrets.core, keys::CSRF_KEY)),
        secret_env("HARBOR_ADMIN_PASSWORD", &secrets.admin_password),
    ];
    let redis = &topology.redis;
    if let Some(password) = &redis.password {
        env.push(secret_env(REDIS_PASSWORD_ENV, password));
    }
    env.push(value_env("_REDIS_URL_CORE", format!("{}{REDIS_URL_SUFFIX}", redis.url(redis.indices.core))));
    env.push(value_env("_REDIS_URL_REG", format!("{}{REDIS_URL_SUFFIX}", redis.url(redis.indices.registry))));
    env
}

fn value_env(name: &str, value: String) -> EnvVar {
    EnvVar { name: name.to_owned(), value: Some(value), ..EnvVar::default() }
}

fn ping_probe(port: u16, scheme: &str, initial_delay: i32, failure_threshold: i32) -> Probe {
    let mut probe = k8s::http_probe(PING_PATH, port, scheme, initial_delay, 10);
    if initial_delay == 0 {
        probe.initial_delay_seconds = None;
    }
    probe.failure_threshold = Some(failure_threshold);
    probe
}

fn mount(volume: &str, path: &str, sub_path: Option<&str>) -> VolumeMount {
    VolumeMount { name: volume.to_owned(), mount_path: path.to_owned(), sub_path: sub_path.map(str::to_owned), ..VolumeMount::default() }
}

fn key_to_path(key: &str, path: &str) -> KeyToPath {
    KeyToPath { key: key.to_owned(), path: path.to_owned(), ..KeyToPath::default() }
}

fn secret_volume(volume: &str, secret: &str, key: &str, path: &str) -> Volume {
    Volume {
        name: volume.to_owned(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.to_owned()),
            items: Some(vec![key_to_path(key, path)]),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

berth_sdk::export_renderer!(Core);

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests;
