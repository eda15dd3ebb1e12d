//! Harbor's in-cluster PostgreSQL (the harbor-db image), rendered as the Harbor Helm chart
//! renders it (`templates/database/database-{ss,svc}.yaml`). The password Secret is the
//! host's (generated once); this plugin only references it.

#![forbid(unsafe_code)]

use berth_sdk::k8s;
use berth_sdk::k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource, ExecAction, PodSpec, Probe, SecretKeySelector, Volume,
    VolumeMount,
};
use berth_sdk::k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use berth_sdk::spec::{ComponentSpec, Placement};
use berth_sdk::{PluginDescription, RenderError, RenderRequest, Rendered, Renderer};

use berth_sdk::volume::{self as storage, DataVolume};

const COMPONENT: &str = "database";
/// The postgres user of the harbor-db image (the chart's `runAsUser`/`fsGroup`).
const POSTGRES_UID: i64 = 999;
const DATA_VOLUME: &str = "database-data";
const DATA_MOUNT: &str = "/var/lib/postgresql/data";
/// A directory below the mount point, so a filesystem's lost+found never sits in PGDATA
/// (initdb refuses a non-empty directory).
const PGDATA: &str = "/var/lib/postgresql/data/pgdata";
const SHM_VOLUME: &str = "shm-volume";

pub struct Database;

impl Renderer for Database {
    fn describe() -> PluginDescription {
        berth_sdk::bundled_description!("berth-database", COMPONENT)
    }

    fn render(req: &RenderRequest) -> Result<Rendered, RenderError> {
        let mut out = Rendered::default();
        // The host does not call this for an external database; a stray call renders nothing.
        if req.spec.database.type_ != Placement::Internal {
            return Ok(out);
        }
        let spec = &req.spec.database.internal;
        let topology = &req.topology;
        let database = topology.component(COMPONENT)?;
        let pod_settings = &spec.pod;
        let replicas = single_instance(pod_settings, "spec.database.internal")?;
        storage::check_quantity(&spec.shm_size_limit, "spec.database.internal.shmSizeLimit")?;
        let labels = topology.component(COMPONENT)?.labels();
        let selector = topology.component(COMPONENT)?.selector();
        let data = storage::data_volume(DATA_VOLUME, &labels, &spec.volume, "spec.database.internal.volume")?;
        let image = match &spec.pod.image {
            Some(image) => image.clone(),
            None => database.image(COMPONENT)?.to_owned(),
        };
        let data_mount = VolumeMount { name: DATA_VOLUME.to_owned(), mount_path: DATA_MOUNT.to_owned(), ..VolumeMount::default() };

        // A restored or re-attached volume can carry looser modes, which postgres refuses.
        let permissions = Container {
            name: "data-permissions-ensurer".to_owned(),
            image: Some(image.clone()),
            image_pull_policy: Some(topology.image_pull_policy.clone()),
            command: Some(["/bin/sh", "-c", "chmod -R 700 /var/lib/postgresql/data/pgdata || true"].map(str::to_owned).to_vec()),
            security_context: Some(k8s::restricted_container_security()),
            volume_mounts: Some(vec![data_mount.clone()]),
            ..Container::default()
        };

        let password = &topology.database.password;
        let container = Container {
            name: COMPONENT.to_owned(),
            image: Some(image),
            image_pull_policy: Some(topology.image_pull_policy.clone()),
            env: Some(
                [
                    EnvVar {
                        name: "POSTGRES_PASSWORD".to_owned(),
                        value: None,
                        value_from: Some(EnvVarSource {
                            secret_key_ref: Some(SecretKeySelector {
                                name: password.name.clone(),
                                key: password.key.clone(),
                                optional: None,
                            }),
                            ..EnvVarSource::default()
                        }),
                    },
                    EnvVar { name: "PGDATA".to_owned(), value: Some(PGDATA.to_owned()), value_from: None },
                ]
                .into_iter()
                .chain(spec.pod.env.iter().cloned())
                .collect(),
            ),
            ports: Some(vec![ContainerPort {
                name: Some("postgres".to_owned()),
                container_port: i32::from(database.container_port),
                protocol: Some("TCP".to_owned()),
                ..ContainerPort::default()
            }]),
            liveness_probe: Some(healthcheck(300)),
            readiness_probe: Some(healthcheck(1)),
            resources: spec.pod.resources.clone(),
            security_context: Some(k8s::restricted_container_security()),
            volume_mounts: Some(vec![
                data_mount,
                VolumeMount { name: SHM_VOLUME.to_owned(), mount_path: "/dev/shm".to_owned(), ..VolumeMount::default() },
            ]),
            ..Container::default()
        };

        // Docker's 64Mi default /dev/shm is too small for postgres' parallel queries.
        let mut volumes = vec![Volume {
            name: SHM_VOLUME.to_owned(),
            empty_dir: Some(EmptyDirVolumeSource {
                medium: Some("Memory".to_owned()),
                size_limit: Some(Quantity(spec.shm_size_limit.clone())),
            }),
            ..Volume::default()
        }];
        let claim_templates = match data {
            DataVolume::Template(claim) => Some(vec![*claim]),
            DataVolume::Existing(volume) => {
                volumes.insert(0, *volume);
                None
            }
        };
        let mut pod = PodSpec {
            init_containers: Some(vec![permissions]),
            containers: vec![container],
            security_context: Some(k8s::pod_security(POSTGRES_UID)),
            termination_grace_period_seconds: Some(k8s::TERMINATION_GRACE_SECONDS),
            volumes: Some(volumes),
            ..PodSpec::default()
        };
        k8s::apply_pod_settings(&mut pod, pod_settings, topology);

        let statefulset =
            k8s::stateful_set(&database.name, &labels, &selector, replicas, &database.service_name, pod_settings, pod, claim_templates);

        let service = k8s::cluster_ip_service(
            &database.service_name,
            &labels,
            &selector,
            vec![k8s::service_port("postgres", database.service_port, database.container_port)],
        );

        out.object(&statefulset)?.object(&service)?;
        Ok(out)
    }
}

/// The replica count, which may only be 0 (stopped) or 1: the image runs one standalone
/// server, and a second pod would start a separate, empty database.
fn single_instance(spec: &ComponentSpec, field: &str) -> Result<i32, RenderError> {
    let replicas = k8s::replicas(spec, field)?;
    if replicas > 1 {
        return Err(RenderError::invalid(
            format!("{field}.replicas"),
            format!(
                "the in-cluster PostgreSQL is a single instance (0 or 1), got {replicas}; \
                 use spec.database.type external for a replicated database"
            ),
        ));
    }
    Ok(replicas)
}

/// The image's own health check script, as the chart probes it.
fn healthcheck(initial_delay: i32) -> Probe {
    Probe {
        exec: Some(ExecAction { command: Some(vec!["/docker-healthcheck.sh".to_owned()]) }),
        initial_delay_seconds: Some(initial_delay),
        period_seconds: Some(10),
        ..Probe::default()
    }
}

berth_sdk::export_renderer!(Database);

#[cfg(test)]
mod tests;
