//! Harbor's exporter: Prometheus metrics read from core's API, the database and the
//! jobservice's Redis queues, rendered as the Harbor Helm chart renders it
//! (`templates/exporter/{exporter-cm-env,exporter-dpl,exporter-svc}.yaml`). The host
//! renders it only when spec.metrics.enabled.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use berth_sdk::k8s::secret_env;
use berth_sdk::k8s::{self, HARBOR_UID};
use berth_sdk::k8s_openapi::api::core::v1::{ConfigMapEnvSource, Container, ContainerPort, EnvFromSource, EnvVar, PodSpec};
use berth_sdk::topology::REDIS_PASSWORD_ENV;
use berth_sdk::{HarborClusterSpec, PluginDescription, RenderError, RenderRequest, Rendered, Renderer, Topology};

const COMPONENT: &str = "exporter";
/// The Redis namespace the jobservice keeps its queues under, which the exporter reads.
const JOBSERVICE_REDIS_NAMESPACE: &str = "harbor_job_service_namespace";
const PORT_NAME: &str = "http-metrics";

pub struct Exporter;

impl Renderer for Exporter {
    fn describe() -> PluginDescription {
        berth_sdk::bundled_description!("berth-exporter", COMPONENT)
    }

    fn render(req: &RenderRequest) -> Result<Rendered, RenderError> {
        let spec = &req.spec.exporter;
        let topology = &req.topology;
        let me = topology.component(COMPONENT)?;
        let replicas = k8s::replicas(spec, "spec.exporter")?;
        let port = me.container_port;

        let labels = topology.component(COMPONENT)?.labels();
        let selector = topology.component(COMPONENT)?.selector();

        let env_name = format!("{}-env", me.name);
        let env_config = k8s::config_map(&env_name, &labels, env_data(&req.spec, topology, port)?);

        let redis = &topology.redis;
        let mut env = vec![
            secret_env("HARBOR_ADMIN_PASSWORD", &topology.secrets.admin_password),
            secret_env("HARBOR_DATABASE_PASSWORD", &topology.database.password),
        ];
        if let Some(password) = &redis.password {
            env.push(secret_env(REDIS_PASSWORD_ENV, password));
        }
        // After REDIS_PASSWORD: Kubernetes expands $(REDIS_PASSWORD) only from earlier
        // variables, and the URL stays out of the ConfigMap.
        env.push(EnvVar { name: "HARBOR_REDIS_URL".to_owned(), value: Some(redis.url(redis.indices.jobservice)), ..EnvVar::default() });
        env.extend(spec.env.iter().cloned());

        let container = Container {
            name: COMPONENT.to_owned(),
            image: Some(match &spec.image {
                Some(image) => image.clone(),
                None => me.image(COMPONENT)?.to_owned(),
            }),
            image_pull_policy: Some(topology.image_pull_policy.clone()),
            args: Some(vec!["-log-level".to_owned(), req.spec.log_level.as_str().to_owned()]),
            ports: Some(vec![ContainerPort {
                name: Some(PORT_NAME.to_owned()),
                container_port: i32::from(port),
                protocol: Some("TCP".to_owned()),
                ..ContainerPort::default()
            }]),
            liveness_probe: Some(k8s::http_probe("/", port, &me.scheme, 300, 10)),
            readiness_probe: Some(k8s::http_probe("/", port, &me.scheme, 30, 10)),
            resources: spec.resources.clone(),
            env_from: Some(vec![EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource { name: env_name.clone(), optional: None }),
                ..EnvFromSource::default()
            }]),
            env: Some(env),
            security_context: Some(k8s::restricted_container_security()),
            ..Container::default()
        };

        let mut pod = PodSpec { containers: vec![container], security_context: Some(k8s::pod_security(HARBOR_UID)), ..PodSpec::default() };
        k8s::apply_pod_settings(&mut pod, spec, topology);

        let deployment = k8s::deployment(&me.name, &labels, &selector, replicas, spec, pod);

        let service =
            k8s::cluster_ip_service(&me.service_name, &labels, &selector, vec![k8s::service_port(PORT_NAME, me.service_port, port)]);

        let mut out = Rendered::default();
        out.object(&env_config)?.object(&deployment)?.object(&service)?;
        if let Some(budget) = k8s::disruption_budget(&me.name, &labels, &selector, replicas) {
            out.object(&budget)?;
        }
        Ok(out)
    }
}

/// The `<exporter>-env` ConfigMap: where core and the database are, cache timings, and
/// the metric names. No password and no Redis URL (it may carry one) goes here.
fn env_data(spec: &HarborClusterSpec, topology: &Topology, port: u16) -> Result<BTreeMap<String, String>, RenderError> {
    let core = topology.component("core")?;
    let db = &topology.database;
    let pairs: [(&str, String); 20] = [
        ("LOG_LEVEL", spec.log_level.as_str().to_owned()),
        ("HARBOR_EXPORTER_PORT", port.to_string()),
        ("HARBOR_EXPORTER_METRICS_PATH", "/metrics".to_owned()),
        ("HARBOR_EXPORTER_METRICS_ENABLED", "true".to_owned()),
        ("HARBOR_EXPORTER_CACHE_TIME", "23".to_owned()),
        ("HARBOR_EXPORTER_CACHE_CLEAN_INTERVAL", "14400".to_owned()),
        ("HARBOR_METRIC_NAMESPACE", "harbor".to_owned()),
        ("HARBOR_METRIC_SUBSYSTEM", "exporter".to_owned()),
        ("HARBOR_REDIS_NAMESPACE", JOBSERVICE_REDIS_NAMESPACE.to_owned()),
        ("HARBOR_REDIS_TIMEOUT", "3600".to_owned()),
        ("HARBOR_SERVICE_SCHEME", core.scheme.clone()),
        ("HARBOR_SERVICE_HOST", core.service_name.clone()),
        ("HARBOR_SERVICE_PORT", core.service_port.to_string()),
        ("HARBOR_DATABASE_HOST", db.host.clone()),
        ("HARBOR_DATABASE_PORT", db.port.to_string()),
        ("HARBOR_DATABASE_USERNAME", db.username.clone()),
        ("HARBOR_DATABASE_DBNAME", db.database.clone()),
        ("HARBOR_DATABASE_SSLMODE", db.sslmode.clone()),
        ("HARBOR_DATABASE_MAX_IDLE_CONNS", db.max_idle_conns.to_string()),
        ("HARBOR_DATABASE_MAX_OPEN_CONNS", db.max_open_conns.to_string()),
    ];
    Ok(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

berth_sdk::export_renderer!(Exporter);

#[cfg(test)]
mod tests;
