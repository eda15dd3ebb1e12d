//! The Job of one backup and of one restore. Both run the harbor-db image (its
//! PostgreSQL client tools match the in-cluster server) as its postgres user, with no
//! service account token: they read the database and files, never the Kubernetes API.

use berth_sdk::k8s;
use berth_sdk::k8s_openapi::api::batch::v1::{Job, JobSpec};
use berth_sdk::k8s_openapi::api::core::v1::{
    Container, EnvVar, LocalObjectReference, PodSpec, PodTemplateSpec, SecretVolumeSource, Volume, VolumeMount,
};
use berth_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use berth_sdk::spec::{BackupBucket, Placement, StorageType};
use berth_sdk::{BackupTask, DeleteTask, RenderError, RenderRequest, RestoreTask, Topology};

use crate::Destination;

/// The harbor-db image's postgres user.
const POSTGRES_UID: i64 = 999;
/// Where the destination (or, for a bucket, the scratch space) is mounted.
const BACKUP_ROOT: &str = "/backup";
/// Where each generated Secret is mounted, one directory per Secret.
const SECRETS_DIR: &str = "/berth/secrets";
/// Where the kubelet reads the termination message from.
const TERMINATION_MESSAGE: &str = "/dev/termination-log";
/// A backup or restore that has not finished in this long has hung.
const DEADLINE_SECONDS: i64 = 6 * 3600;

pub fn backup_job(req: &RenderRequest, destination: &Destination<'_>, task: &BackupTask) -> Result<Job, RenderError> {
    let spec_json = serde_json::to_string(&req.spec).map_err(|e| RenderError::Internal(format!("serialising the spec: {e}")))?;
    let mut env = common_env(&req.topology, &task.path);
    env.extend([
        k8s::value_env("HARBOR_VERSION", &req.harbor_version),
        k8s::value_env("BERTH_CLUSTER_SPEC", &spec_json),
        k8s::value_env("MANIFEST_MESSAGE_PATH", TERMINATION_MESSAGE),
    ]);
    let dump = tools_container("backup", req, crate::BACKUP_SCRIPT, env)?;
    let (init, main) = match destination {
        Destination::Volume { .. } => (vec![], vec![dump]),
        Destination::Bucket(bucket) => {
            (vec![dump], vec![bucket_container("upload", &req.topology, bucket, crate::UPLOAD_SCRIPT, &task.path)])
        }
    };
    Ok(job(req, &task.job_name, destination, init, main))
}

pub fn restore_job(req: &RenderRequest, destination: &Destination<'_>, task: &RestoreTask) -> Result<Job, RenderError> {
    if task.dump_sha256.len() != 64 || !task.dump_sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(RenderError::Internal(format!("the restore task's dump-sha256 {:?} is not a sha256", task.dump_sha256)));
    }
    let mut env = common_env(&req.topology, &task.path);
    env.push(k8s::value_env("DUMP_SHA256", &task.dump_sha256));
    let restore = tools_container("restore", req, crate::RESTORE_SCRIPT, env)?;
    let init = match destination {
        Destination::Volume { .. } => vec![],
        Destination::Bucket(bucket) => vec![bucket_container("download", &req.topology, bucket, crate::DOWNLOAD_SCRIPT, &task.path)],
    };
    Ok(job(req, &task.job_name, destination, init, vec![restore]))
}

pub fn delete_job(req: &RenderRequest, destination: &Destination<'_>, task: &DeleteTask) -> Result<Job, RenderError> {
    let container = match destination {
        Destination::Volume { .. } => {
            // It needs the destination alone: no database connection, no generated Secret.
            let env = vec![k8s::value_env("BACKUP_ROOT", BACKUP_ROOT), k8s::value_env("BACKUP_PATH", &task.path)];
            let mut container = tools_container("delete", req, crate::DELETE_SCRIPT, env)?;
            container.volume_mounts = Some(vec![mount("backup", BACKUP_ROOT, false), mount("tmp", "/tmp", false)]);
            container
        }
        Destination::Bucket(bucket) => bucket_container("delete", &req.topology, bucket, crate::DELETE_BUCKET_SCRIPT, &task.path),
    };
    Ok(job(req, &task.job_name, destination, vec![], vec![container]))
}

/// The VolumeSnapshot of the registry's claim that goes with a backup, when the spec asks
/// for one and the blobs are on a claim. Named after the backup's Job.
pub fn registry_snapshot(req: &RenderRequest, task: &BackupTask) -> Result<Option<serde_json::Value>, RenderError> {
    let Some(class) = req.spec.backup.as_ref().and_then(|b| b.volume_snapshot_class.as_ref()) else {
        return Ok(None);
    };
    if req.spec.storage.type_ != StorageType::Filesystem {
        return Err(RenderError::invalid(
            "spec.backup.volumeSnapshotClass",
            format!("snapshots the registry's claim, but blobs are in {} storage; remove it", req.spec.storage.type_.as_str()),
        ));
    }
    let claim = match &req.spec.storage.filesystem.existing_claim {
        Some(claim) => claim.clone(),
        None => req.topology.component("registry")?.name.clone(),
    };
    Ok(Some(serde_json::json!({
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshot",
        "metadata": {"name": format!("{}-registry", task.job_name), "labels": crate::labels(&req.topology)},
        "spec": {"volumeSnapshotClassName": class, "source": {"persistentVolumeClaimName": claim}},
    })))
}

/// The Secrets the host generated for this cluster: what a backup must carry, and what a
/// restore checks against.
pub fn generated_secrets(req: &RenderRequest) -> Vec<String> {
    let names = &req.topology.secrets;
    let mut secrets = vec![names.core.clone(), names.jobservice.clone(), names.registry.clone(), names.registry_htpasswd.clone()];
    if req.spec.database.type_ == Placement::Internal {
        secrets.push(req.topology.database.password.name.clone());
    }
    secrets
}

/// libpq's environment for the cluster's database, and where the files are.
fn common_env(topology: &Topology, path: &str) -> Vec<EnvVar> {
    let database = &topology.database;
    vec![
        k8s::value_env("PGHOST", &database.host),
        k8s::value_env("PGPORT", &database.port.to_string()),
        k8s::value_env("PGUSER", &database.username),
        k8s::value_env("PGDATABASE", &database.database),
        k8s::value_env("PGSSLMODE", &database.sslmode),
        k8s::value_env("PGCONNECT_TIMEOUT", "10"),
        k8s::secret_env("PGPASSWORD", &database.password),
        k8s::value_env("BACKUP_ROOT", BACKUP_ROOT),
        k8s::value_env("BACKUP_PATH", path),
        k8s::value_env("SECRETS_DIR", SECRETS_DIR),
    ]
}

/// The container that runs PostgreSQL's tools: the in-cluster database's image.
fn tools_container(name: &str, req: &RenderRequest, script: &str, env: Vec<EnvVar>) -> Result<Container, RenderError> {
    let image = match (&req.spec.database.type_, &req.spec.database.internal.pod.image) {
        (Placement::Internal, Some(image)) => image.clone(),
        _ => req.topology.component("database")?.image("database")?.to_owned(),
    };
    let mut mounts = vec![mount("backup", BACKUP_ROOT, false), mount("tmp", "/tmp", false)];
    mounts.extend(
        generated_secrets(req).iter().enumerate().map(|(i, name)| mount(&format!("secret-{i}"), &format!("{SECRETS_DIR}/{name}"), true)),
    );
    Ok(Container {
        name: name.to_owned(),
        image: Some(image),
        image_pull_policy: Some(req.topology.image_pull_policy.clone()),
        command: Some(vec!["/bin/sh".to_owned(), "-c".to_owned(), script.to_owned()]),
        env: Some(env),
        volume_mounts: Some(mounts),
        security_context: Some(k8s::restricted_container_security()),
        termination_message_policy: Some("File".to_owned()),
        ..Container::default()
    })
}

/// The container that moves files between /backup and the bucket with the `aws` client.
fn bucket_container(name: &str, topology: &Topology, bucket: &BackupBucket, script: &str, path: &str) -> Container {
    let mut env = vec![
        k8s::value_env("BACKUP_PATH", path),
        k8s::value_env("S3_BUCKET", &bucket.bucket),
        k8s::value_env("S3_PREFIX", &bucket.prefix),
        k8s::value_env("AWS_DEFAULT_REGION", &bucket.region),
        // The client writes its cache under $HOME; the image's root filesystem is not ours.
        k8s::value_env("HOME", "/tmp"),
    ];
    if let Some(endpoint) = &bucket.endpoint {
        env.push(k8s::value_env("S3_ENDPOINT", endpoint));
    }
    if let Some(secret) = &bucket.existing_secret {
        env.push(k8s::secret_env("AWS_ACCESS_KEY_ID", &berth_sdk::SecretKeyRef::new(secret.as_str(), "AWS_ACCESS_KEY_ID")));
        env.push(k8s::secret_env("AWS_SECRET_ACCESS_KEY", &berth_sdk::SecretKeyRef::new(secret.as_str(), "AWS_SECRET_ACCESS_KEY")));
    }
    Container {
        name: name.to_owned(),
        image: Some(bucket.image.clone()),
        image_pull_policy: Some(topology.image_pull_policy.clone()),
        command: Some(vec!["/bin/sh".to_owned(), "-c".to_owned(), script.to_owned()]),
        env: Some(env),
        volume_mounts: Some(vec![mount("backup", BACKUP_ROOT, false), mount("tmp", "/tmp", false)]),
        security_context: Some(k8s::restricted_container_security()),
        ..Container::default()
    }
}

fn mount(volume: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount { name: volume.to_owned(), mount_path: path.to_owned(), read_only: read_only.then_some(true), ..VolumeMount::default() }
}

fn job(req: &RenderRequest, name: &str, destination: &Destination<'_>, init: Vec<Container>, main: Vec<Container>) -> Job {
    let labels = crate::labels(&req.topology);
    let mut volumes =
        vec![destination.volume("backup"), Volume { name: "tmp".to_owned(), empty_dir: Some(Default::default()), ..Volume::default() }];
    // The generated Secrets only when a container mounts them (a deletion does not).
    let mounted = |name: &str| init.iter().chain(&main).flat_map(|c| c.volume_mounts.iter().flatten()).any(|m| m.name == name);
    volumes.extend(
        generated_secrets(req)
            .into_iter()
            .enumerate()
            .map(|(i, secret)| Volume {
                name: format!("secret-{i}"),
                secret: Some(SecretVolumeSource { secret_name: Some(secret), default_mode: Some(0o440), ..SecretVolumeSource::default() }),
                ..Volume::default()
            })
            .filter(|volume| mounted(&volume.name)),
    );
    let pull_secrets = &req.topology.image_pull_secrets;
    let pod = PodSpec {
        restart_policy: Some("Never".to_owned()),
        automount_service_account_token: Some(false),
        security_context: Some(k8s::pod_security(POSTGRES_UID)),
        image_pull_secrets: (!pull_secrets.is_empty())
            .then(|| pull_secrets.iter().map(|name| LocalObjectReference { name: name.clone() }).collect()),
        init_containers: (!init.is_empty()).then_some(init),
        containers: main,
        volumes: Some(volumes),
        ..PodSpec::default()
    };
    Job {
        metadata: k8s::meta(name, &labels),
        spec: Some(JobSpec {
            // A failed backup is reported, not retried behind the operator's back.
            backoff_limit: Some(0),
            active_deadline_seconds: Some(DEADLINE_SECONDS),
            template: PodTemplateSpec { metadata: Some(ObjectMeta { labels: Some(labels), ..ObjectMeta::default() }), spec: Some(pod) },
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}
