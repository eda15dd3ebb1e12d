//! One HarborBackup: wait for its turn (one backup of a cluster at a time), record the
//! generated Secrets, create the Job the plugin renders, follow it, and count it complete
//! only when the Job succeeded and left a verified manifest.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, ListParams};
use kube::runtime::controller::Action;
use kube::{Resource as _, ResourceExt as _};

use super::error::{BackupError, Result};
use super::jobs::{self, JobState};
use super::{escrow, retention, status};
use crate::contract::{BackupTask, Task};
use crate::controller::{Context, HarborCluster};
use berth_api::backup::{BackupManifest, BackupPhase, HarborBackup, HarborBackupStatus};
use berth_api::spec::StorageType;

/// How often a running backup is looked at besides its Job's changes.
const FOLLOW: Duration = Duration::from_secs(60);

pub async fn reconcile(backup: Arc<HarborBackup>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = backup.namespace().ok_or(BackupError::MissingMetadata("HarborBackup", "namespace"))?;
    let name = backup.name_any();
    if !super::in_shard(&ctx, &namespace, &backup.spec.cluster, backup.metadata.uid.as_deref()).await? {
        return Ok(Action::await_change());
    }
    let current = backup.status.clone().unwrap_or_default();
    match current.phase {
        BackupPhase::Complete => {
            retention::apply(&ctx, &namespace, &backup.spec.cluster).await?;
            return Ok(Action::await_change());
        }
        BackupPhase::Failed => return Ok(Action::await_change()),
        BackupPhase::Pending | BackupPhase::Running => {}
    }
    let clusters: Api<HarborCluster> = Api::namespaced(ctx.client.clone(), &namespace);
    let cluster = &backup.spec.cluster;
    let Some(hc) = clusters.get_opt(cluster).await.map_err(BackupError::kube(format!("reading HarborCluster {namespace}/{cluster}")))?
    else {
        return fail(&ctx, &backup, current, "ClusterNotFound", format!("HarborCluster {cluster} does not exist in namespace {namespace}"))
            .await;
    };
    // The version running, not one an upgrade is still on its way to: the database holds it.
    let hc = crate::controller::upgrade::as_running(&hc);
    let Some(spec) = hc.spec.backup.clone() else {
        return fail(
            &ctx,
            &backup,
            current,
            "NoDestination",
            format!("HarborCluster {cluster} sets no spec.backup: there is nowhere to write a backup"),
        )
        .await;
    };
    let topology = crate::topology::resolve(cluster, &hc.spec).map_err(BackupError::Spec)?;
    let Some(job_name) = current.job.clone() else {
        // Two backups of one cluster reconciled at once must not both see the other idle:
        // deciding and starting happen under the cluster's lock (one replica reconciles).
        let lock = ctx.cluster_lock(&namespace, cluster);
        let _starting = lock.lock().await;
        if let Some(running) = other_running(&ctx, &namespace, cluster, &name).await? {
            let mut waiting = current.clone();
            waiting.phase = BackupPhase::Pending;
            waiting.conditions =
                vec![status::condition(false, "Waiting", format!("backup {running} of the same cluster runs; this one starts after it"))];
            status::write(&ctx, backup.as_ref(), backup.status.as_ref(), &waiting).await?;
            return Ok(Action::requeue(Duration::from_secs(30)));
        }
        let path = jobs::backup_path(&namespace, cluster, &name);
        let location = jobs::location(&spec, &topology.fullname, &path);
        let record = escrow::Record {
            namespace: namespace.clone(),
            backup: name.clone(),
            cluster: cluster.clone(),
            harbor_version: hc.spec.version.clone(),
            path: path.clone(),
            location: location.clone(),
            restore_into: spec.restore_into.clone(),
            dump_sha256: None,
            secrets: Default::default(),
        };
        escrow::store(&ctx, record, &topology, &hc.spec).await?;
        let job_name = jobs::job_name(&topology.fullname, "backup", &name);
        let owner = backup.controller_owner_ref(&()).ok_or(BackupError::MissingMetadata("HarborBackup", "uid"))?;
        let task = Task::Backup(BackupTask { name: name.clone(), job_name: job_name.clone(), path: path.clone() });
        let created = jobs::create(&ctx, &hc, task, Some(owner), None).await?;
        let job_name = created.job;
        let running = HarborBackupStatus {
            phase: BackupPhase::Running,
            start_time: Some(status::now()),
            job: Some(job_name.clone()),
            location: Some(location.clone()),
            path: Some(path),
            blobs: Some(blobs(&hc, created.snapshot.as_deref())),
            conditions: vec![status::condition(false, "Running", format!("Job {job_name} dumps the database to {location}"))],
            ..HarborBackupStatus::default()
        };
        status::write(&ctx, backup.as_ref(), backup.status.as_ref(), &running).await?;
        status::event(&ctx, backup.as_ref(), false, "BackupStarted", &format!("Job {job_name} writes to {location}")).await;
        return Ok(Action::requeue(FOLLOW));
    };
    let jobs_api: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    let Some(job) = jobs_api.get_opt(&job_name).await.map_err(BackupError::kube(format!("reading Job {namespace}/{job_name}")))? else {
        return fail(&ctx, &backup, current, "JobMissing", format!("Job {job_name} was deleted before it finished")).await;
    };
    match jobs::state(&job) {
        JobState::Running => Ok(Action::requeue(FOLLOW)),
        JobState::Failed(why) => {
            fail(
                &ctx,
                &backup,
                current,
                "JobFailed",
                format!("Job {job_name} failed ({why}); its pod's log says why. The cluster was not changed"),
            )
            .await
        }
        JobState::Succeeded => match jobs::manifest(&ctx, &namespace, &job_name).await? {
            Some(manifest) if manifest_is_complete(&manifest) => complete(&ctx, &backup, current, manifest).await,
            Some(_) => fail(&ctx, &backup, current, "Unverified", "the Job's manifest does not record a verified dump".to_owned()).await,
            None => {
                fail(
                    &ctx,
                    &backup,
                    current,
                    "NoManifest",
                    format!("Job {job_name} succeeded but its pod left no manifest (termination message)"),
                )
                .await
            }
        },
    }
}

fn manifest_is_complete(manifest: &BackupManifest) -> bool {
    manifest.verified && manifest.files.iter().any(|f| f.name == "database.dump" && f.sha256.len() == 64)
}

async fn complete(ctx: &Context, backup: &HarborBackup, current: HarborBackupStatus, manifest: BackupManifest) -> Result<Action> {
    let namespace = backup.namespace().unwrap_or_default();
    let name = backup.name_any();
    let dump = manifest.files.iter().find(|f| f.name == "database.dump").map(|f| f.sha256.clone()).unwrap_or_default();
    escrow::complete(ctx, &namespace, &name, &dump).await?;
    let finished = status::now();
    let mut done = current;
    done.phase = BackupPhase::Complete;
    done.size = Some(human_size(manifest.total_bytes()));
    done.conditions = vec![status::condition(true, "Complete", format!("{} files, dump verified and summed", manifest.files.len()))];
    done.manifest = Some(manifest);
    let seconds = status::seconds_between(done.start_time.as_deref(), &finished).unwrap_or_default();
    done.completion_time = Some(finished);
    if status::write(ctx, backup, backup.status.as_ref(), &done).await? {
        ctx.metrics.day_two_finished("backup", "complete", &format!("{namespace}/{}", backup.spec.cluster), seconds);
        status::event(
            ctx,
            backup,
            false,
            "BackupComplete",
            &format!("{} at {}", done.size.clone().unwrap_or_default(), done.location.clone().unwrap_or_default()),
        )
        .await;
    }
    retention::apply(ctx, &namespace, &backup.spec.cluster).await?;
    Ok(Action::await_change())
}

async fn fail(ctx: &Context, backup: &HarborBackup, current: HarborBackupStatus, reason: &str, message: String) -> Result<Action> {
    let namespace = backup.namespace().unwrap_or_default();
    let finished = status::now();
    let mut failed = current;
    failed.phase = BackupPhase::Failed;
    let seconds = status::seconds_between(failed.start_time.as_deref(), &finished).unwrap_or_default();
    failed.completion_time = Some(finished);
    failed.conditions = vec![status::condition(false, reason, message.clone())];
    if status::write(ctx, backup, backup.status.as_ref(), &failed).await? {
        ctx.metrics.day_two_finished("backup", "failed", &format!("{namespace}/{}", backup.spec.cluster), seconds);
        status::event(ctx, backup, true, "BackupFailed", &message).await;
    }
    Ok(Action::await_change())
}

/// Another backup of the same cluster whose Job runs.
async fn other_running(ctx: &Context, namespace: &str, cluster: &str, name: &str) -> Result<Option<String>> {
    let api: Api<HarborBackup> = Api::namespaced(ctx.client.clone(), namespace);
    let list = api.list(&ListParams::default()).await.map_err(BackupError::kube(format!("listing HarborBackups in {namespace}")))?;
    Ok(list
        .items
        .into_iter()
        .filter(|b| b.spec.cluster == cluster && b.name_any() != name)
        .find(|b| b.status.as_ref().is_some_and(|s| s.phase == BackupPhase::Running))
        .map(|b| b.name_any()))
}

/// What happens to the registry's blobs, said plainly.
fn blobs(hc: &HarborCluster, snapshot: Option<&str>) -> String {
    match (hc.spec.storage.type_, snapshot) {
        (StorageType::Filesystem, Some(snapshot)) => {
            format!("VolumeSnapshot {snapshot} of the registry's claim (restore blobs by creating a claim from it)")
        }
        (StorageType::Filesystem, None) => {
            "not copied: set spec.backup.volumeSnapshotClass to snapshot the registry's claim beside each backup".to_owned()
        }
        (other, _) => format!("not copied: blobs live in {} storage, whose versioning or replication protects them", other.as_str()),
    }
}

/// Bytes as a person reads them: "12.4 MiB".
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(super::human_size(512), "512 B");
        assert_eq!(super::human_size(12 * 1024 * 1024 + 400 * 1024), "12.4 MiB");
    }
}
