//! The Jobs of backups, restores and deletions of expired files: named, rendered by the
//! `backup` component's plugin, created once, and read back.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt as _;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use serde_json::Value;

use super::error::{BackupError, Result};
use crate::contract::Task;
use crate::controller::error::is_already_exists;
use crate::controller::{Context, FIELD_MANAGER, HarborCluster};
use berth_api::backup::BackupManifest;
use berth_api::spec::BackupSpec;

/// Kubernetes puts a Job's name in a label of its pods: at most 63 characters.
const MAX_JOB_NAME: usize = 63;

/// `<fullname>-<what>-<name>`, shortened with a hash of the whole when too long (so two
/// long names never collide).
pub fn job_name(fullname: &str, what: &str, name: &str) -> String {
    use sha2::{Digest as _, Sha256};
    let full = format!("{fullname}-{what}-{name}");
    if full.len() <= MAX_JOB_NAME {
        return full;
    }
    let hash = hex::encode(Sha256::digest(full.as_bytes()));
    let keep = full[..MAX_JOB_NAME - 9].trim_end_matches('-').to_owned();
    format!("{keep}-{}", &hash[..8])
}

/// Where a backup's files live under the destination: `<namespace>/<cluster>/<backup>`.
pub fn backup_path(namespace: &str, cluster: &str, backup: &str) -> String {
    format!("{namespace}/{cluster}/{backup}")
}

/// The destination as a person reads it in status.
pub fn location(spec: &BackupSpec, fullname: &str, path: &str) -> String {
    match (&spec.destination.volume, &spec.destination.s3) {
        (_, Some(bucket)) => format!("s3://{}/{}{path}", bucket.bucket, bucket.prefix),
        (Some(volume), None) => {
            let claim = volume.existing_claim.clone().unwrap_or_else(|| format!("{fullname}-backup"));
            format!("pvc/{claim}/{path}")
        }
        (None, None) => path.to_owned(),
    }
}

/// What [`create`] made: the Job's name, and the VolumeSnapshot's beside a backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub job: String,
    pub snapshot: Option<String>,
}

/// Renders the task's Job for `hc` and creates it, owned by `owner` (none for a deletion,
/// which outlives its HarborBackup; it then goes `ttl_seconds` after finishing), and the
/// VolumeSnapshot a backup renders beside it. An object of that name that exists already
/// is the same task's: it stands.
pub async fn create(
    ctx: &Context,
    hc: &HarborCluster,
    task: Task,
    owner: Option<OwnerReference>,
    ttl_seconds: Option<i32>,
) -> Result<Created> {
    create_labelled(ctx, hc, task, owner, ttl_seconds, &[]).await
}

/// [`create`], with labels of the host's own on the Job (a plugin's output cannot set
/// what only the host may).
pub async fn create_labelled(
    ctx: &Context,
    hc: &HarborCluster,
    task: Task,
    owner: Option<OwnerReference>,
    ttl_seconds: Option<i32>,
    labels: &[(&str, &str)],
) -> Result<Created> {
    let namespace = hc.namespace().ok_or(BackupError::MissingMetadata("HarborCluster", "namespace"))?;
    let what = match &task {
        Task::Backup(t) => format!("backup {}", t.name),
        Task::Restore(t) => format!("restore {}", t.name),
        Task::Delete(t) => format!("deletion of backup {}'s files", t.name),
        Task::Migrate(t) => format!("schema migration from Harbor {} to {}", t.from_version, hc.spec.version),
    };
    let (_, plan) = crate::controller::plan(ctx, hc);
    let cluster = hc.clone();
    let ns = namespace.clone();
    let rendered = tokio::task::spawn_blocking(move || {
        let name = cluster.name_any();
        let uid = cluster.uid().unwrap_or_default();
        crate::render::render_task(&plan, &crate::render::ClusterRef { name: &name, namespace: &ns, uid: &uid, spec: &cluster.spec }, task)
    })
    .await
    .map_err(BackupError::Join)?
    .map_err(|source| BackupError::Render { what: what.clone(), source })?;
    let job_name = rendered.job.name().to_owned();
    let mut job = rendered.job.object;
    own(&mut job, owner.as_ref())?;
    if let Some(Value::Object(metadata)) = job.get_mut("metadata") {
        let job_labels = metadata.entry("labels").or_insert_with(|| Value::Object(Default::default()));
        if let Value::Object(job_labels) = job_labels {
            for (key, value) in labels {
                job_labels.insert((*key).to_owned(), Value::from(*value));
            }
        }
    }
    if let (Some(ttl), Some(Value::Object(spec))) = (ttl_seconds, job.get_mut("spec")) {
        spec.insert("ttlSecondsAfterFinished".to_owned(), Value::from(ttl));
    }
    let job: Job =
        serde_json::from_value(Value::Object(job)).map_err(|source| BackupError::Serialize { what: format!("Job {job_name}"), source })?;
    let params = PostParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PostParams::default() };
    ctx.metrics.write("create", "Job");
    match Api::<Job>::namespaced(ctx.client.clone(), &namespace).create(&params, &job).await {
        Ok(_) => tracing::info!(namespace = %namespace, job = %job_name, task = %what, "created the Job"),
        Err(e) if is_already_exists(&e) => {}
        Err(e) => return Err(BackupError::kube(format!("creating Job {namespace}/{job_name}"))(e)),
    }
    let mut snapshot_name = None;
    if let Some(snapshot) = rendered.snapshot {
        let name = snapshot.name().to_owned();
        let mut object = snapshot.object;
        own(&mut object, owner.as_ref())?;
        let object: DynamicObject = serde_json::from_value(Value::Object(object))
            .map_err(|source| BackupError::Serialize { what: format!("VolumeSnapshot {name}"), source })?;
        let resource =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("snapshot.storage.k8s.io", "v1", "VolumeSnapshot"), "volumesnapshots");
        ctx.metrics.write("create", "VolumeSnapshot");
        match Api::<DynamicObject>::namespaced_with(ctx.client.clone(), &namespace, &resource).create(&params, &object).await {
            Ok(_) => tracing::info!(namespace = %namespace, snapshot = %name, task = %what, "created the VolumeSnapshot"),
            Err(e) if is_already_exists(&e) => {}
            Err(e) => return Err(BackupError::kube(format!("creating VolumeSnapshot {namespace}/{name}"))(e)),
        }
        snapshot_name = Some(name);
    }
    Ok(Created { job: job_name, snapshot: snapshot_name })
}

/// Gives a rendered object its owner (the host's to set: plugins' are stripped).
fn own(object: &mut serde_json::Map<String, Value>, owner: Option<&OwnerReference>) -> Result<()> {
    if let (Some(Value::Object(metadata)), Some(owner)) = (object.get_mut("metadata"), owner) {
        let owner =
            serde_json::to_value(owner).map_err(|source| BackupError::Serialize { what: "an owner reference".to_owned(), source })?;
        metadata.insert("ownerReferences".to_owned(), Value::Array(vec![owner]));
    }
    Ok(())
}

/// Where a Job is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    Running,
    Succeeded,
    Failed(String),
}

/// A Job's state from its conditions (`Complete`, `Failed`), as the Job controller sets them.
pub fn state(job: &Job) -> JobState {
    let conditions = job.status.as_ref().and_then(|s| s.conditions.as_ref());
    for condition in conditions.into_iter().flatten() {
        if condition.status != "True" {
            continue;
        }
        match condition.type_.as_str() {
            "Complete" => return JobState::Succeeded,
            "Failed" => {
                let reason = condition.reason.clone().unwrap_or_default();
                let message = condition.message.clone().unwrap_or_default();
                return JobState::Failed(format!("{reason}: {message}").trim_matches([' ', ':']).to_owned());
            }
            _ => {}
        }
    }
    JobState::Running
}

/// The manifest a backup Job's `backup` container left as its termination message.
pub async fn manifest(ctx: &Context, namespace: &str, job: &str) -> Result<Option<BackupManifest>> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let selector = format!("batch.kubernetes.io/job-name={job}");
    let list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(BackupError::kube(format!("listing the pods of Job {namespace}/{job}")))?;
    for pod in list.items {
        let Some(status) = pod.status else { continue };
        let statuses = status.init_container_statuses.into_iter().flatten().chain(status.container_statuses.into_iter().flatten());
        for container in statuses.filter(|c| c.name == "backup") {
            let message = container.state.and_then(|s| s.terminated).and_then(|t| t.message);
            if let Some(manifest) = message.and_then(|m| serde_json::from_str::<BackupManifest>(m.trim()).ok()) {
                return Ok(Some(manifest));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_job_name_is_shortened_with_a_hash_and_stays_unique() {
        assert_eq!(job_name("demo-harbor", "backup", "nightly"), "demo-harbor-backup-nightly");
        let long = "x".repeat(60);
        let a = job_name("demo-harbor", "backup", &format!("{long}a"));
        let b = job_name("demo-harbor", "backup", &format!("{long}b"));
        assert!(a.len() <= MAX_JOB_NAME && b.len() <= MAX_JOB_NAME, "{a} {b}");
        assert_ne!(a, b);
        assert!(a.starts_with("demo-harbor-backup-"));
    }

    #[test]
    fn a_job_is_running_until_a_condition_says_otherwise() {
        let job = |conditions: serde_json::Value| -> Job {
            serde_json::from_value(serde_json::json!({"metadata": {"name": "j"}, "status": {"conditions": conditions}})).unwrap()
        };
        assert_eq!(state(&job(serde_json::json!([]))), JobState::Running);
        assert_eq!(state(&job(serde_json::json!([{"type": "Complete", "status": "True"}]))), JobState::Succeeded);
        assert_eq!(
            state(&job(
                serde_json::json!([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}])
            )),
            JobState::Failed("BackoffLimitExceeded: Job has reached the specified backoff limit".to_owned())
        );
    }
}
