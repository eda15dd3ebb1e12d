//! One HarborRestore: check the backup may be restored here and the target is not a
//! running Harbor (unless `overwrite`), bring the backup's Secrets into the namespace
//! before the cluster generates its own, run the restore Job while the cluster holds its
//! database users at zero ([`super::hold`]), and release them only once it succeeded.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource as _, ResourceExt as _};

use super::error::{BackupError, Result};
use super::escrow::{self, SecretsOutcome};
use super::jobs::{self, JobState};
use super::{hold, status};
use crate::contract::{RestoreTask, Task};
use crate::controller::{Context, HarborCluster};
use berth_api::backup::{BackupPhase, HarborBackup, HarborRestore, HarborRestoreStatus, RestorePhase};

const RECHECK: Duration = Duration::from_secs(15);

pub async fn reconcile(restore: Arc<HarborRestore>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = restore.namespace().ok_or(BackupError::MissingMetadata("HarborRestore", "namespace"))?;
    let current = restore.status.clone().unwrap_or_default();
    if current.phase.is_final() {
        return Ok(Action::await_change());
    }
    if !super::in_shard(&ctx, &namespace, &restore.spec.cluster, restore.metadata.uid.as_deref()).await? {
        // The cluster may be created later, in another shard: look again then.
        return Ok(Action::requeue(std::time::Duration::from_secs(60)));
    }
    let spec = &restore.spec;
    let source_namespace = spec.backup_namespace.clone().unwrap_or_else(|| namespace.clone());
    let clusters: Api<HarborCluster> = Api::namespaced(ctx.client.clone(), &namespace);
    let Some(hc) =
        clusters.get_opt(&spec.cluster).await.map_err(BackupError::kube(format!("reading HarborCluster {namespace}/{}", spec.cluster)))?
    else {
        let message = format!(
            "waiting for HarborCluster {} in namespace {namespace}; create it with spec.backup naming where the backup is",
            spec.cluster
        );
        return pending(&ctx, &restore, current, "WaitingForCluster", message).await;
    };
    // The version running, not one an upgrade is still on its way to: the database holds it.
    let hc = crate::controller::upgrade::as_running(&hc);
    let Some(backup_spec) = hc.spec.backup.clone() else {
        let message = format!("HarborCluster {} sets no spec.backup: it must name the destination the backup's files are in", spec.cluster);
        return finish(&ctx, &restore, current, RestorePhase::Refused, "NoDestination", message).await;
    };
    let not_complete = format!("backup {source_namespace}/{} has not completed yet", spec.backup);
    let Some(record) = escrow::find(&ctx, &source_namespace, &spec.backup).await? else {
        if backup_in_progress(&ctx, &source_namespace, &spec.backup).await? {
            return pending(&ctx, &restore, current, "WaitingForBackup", not_complete).await;
        }
        let message = format!("no backup {source_namespace}/{} is on record (it never completed, or retention deleted it)", spec.backup);
        return finish(&ctx, &restore, current, RestorePhase::Failed, "BackupNotFound", message).await;
    };
    let Some(dump_sha256) = record.dump_sha256.clone() else {
        return pending(&ctx, &restore, current, "WaitingForBackup", not_complete).await;
    };
    if namespace != record.namespace && !record.restore_into.contains(&namespace) {
        let message = format!(
            "backup {}/{} may be restored into namespace {} or those its cluster's spec.backup.restoreInto listed when it was taken ({}), not {namespace}",
            record.namespace,
            record.backup,
            record.namespace,
            if record.restore_into.is_empty() { "none".to_owned() } else { record.restore_into.join(", ") }
        );
        return finish(&ctx, &restore, current, RestorePhase::Refused, "NotAllowedHere", message).await;
    }
    let topology = crate::topology::resolve(&spec.cluster, &hc.spec).map_err(BackupError::Spec)?;
    let Some(job_name) = current.job.clone() else {
        // Not started yet: the target must not be serving a registry of its own.
        if let Some(serving) = serving(&ctx, &namespace, &topology.fullname).await? {
            if !spec.overwrite {
                let message = format!(
                    "HarborCluster {} runs ({serving} has ready replicas): restoring would replace its data; set spec.overwrite: true to stop it and restore over it",
                    spec.cluster
                );
                return finish(&ctx, &restore, current, RestorePhase::Refused, "ClusterRunning", message).await;
            }
            // The cluster's reconcile holds its components at zero meanwhile.
            return pending(&ctx, &restore, current, "Stopping", format!("stopping {serving} before restoring over it")).await;
        }
        match escrow::restore_secrets(&ctx, &record, &namespace, &spec.cluster, &topology, &hc.spec).await? {
            SecretsOutcome::Differs { secret } => {
                let message = format!(
                    "Secret {secret} exists and is not the backup's: the cluster generated Secrets of its own before this restore (its database was initialised with them). Restore into a new HarborCluster, creating the HarborRestore first"
                );
                return finish(&ctx, &restore, current, RestorePhase::Refused, "SecretsDiffer", message).await;
            }
            SecretsOutcome::Restored(created) if !created.is_empty() => {
                status::event(
                    &ctx,
                    restore.as_ref(),
                    false,
                    "SecretsRestored",
                    &format!("from backup {}/{}: {}", record.namespace, record.backup, created.join(", ")),
                )
                .await;
            }
            SecretsOutcome::Restored(_) => {}
        }
        let job_name = jobs::job_name(&topology.fullname, "restore", &restore.name_any());
        let owner = restore.controller_owner_ref(&()).ok_or(BackupError::MissingMetadata("HarborRestore", "uid"))?;
        let task = Task::Restore(RestoreTask { name: restore.name_any(), job_name, path: record.path.clone(), dump_sha256 });
        let job_name = jobs::create(&ctx, &hc, task, Some(owner), None).await?.job;
        let location = jobs::location(&backup_spec, &topology.fullname, &record.path);
        let restoring = HarborRestoreStatus {
            phase: RestorePhase::Restoring,
            start_time: Some(status::now()),
            job: Some(job_name.clone()),
            location: Some(location.clone()),
            conditions: vec![status::condition(
                false,
                "Restoring",
                format!("Job {job_name} restores the database from {location}; {} stay at zero replicas", hold::HELD.join(", ")),
            )],
            ..HarborRestoreStatus::default()
        };
        status::write(&ctx, restore.as_ref(), restore.status.as_ref(), &restoring).await?;
        status::event(&ctx, restore.as_ref(), false, "RestoreStarted", &format!("Job {job_name} reads {location}")).await;
        return Ok(Action::requeue(RECHECK));
    };
    let jobs_api: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    let Some(job) = jobs_api.get_opt(&job_name).await.map_err(BackupError::kube(format!("reading Job {namespace}/{job_name}")))? else {
        return finish(
            &ctx,
            &restore,
            current,
            RestorePhase::Failed,
            "JobMissing",
            format!("Job {job_name} was deleted before it finished"),
        )
        .await;
    };
    match jobs::state(&job) {
        JobState::Running => Ok(Action::requeue(Duration::from_secs(60))),
        JobState::Succeeded => {
            finish(
                &ctx,
                &restore,
                current,
                RestorePhase::Complete,
                "Restored",
                format!("the database was restored by Job {job_name}; the components start"),
            )
            .await
        }
        JobState::Failed(why) => {
            let message = format!(
                "Job {job_name} failed ({why}); its pod's log says why. {} stay at zero replicas until this HarborRestore is deleted",
                hold::HELD.join(", ")
            );
            finish(&ctx, &restore, current, RestorePhase::Failed, "JobFailed", message).await
        }
    }
}

/// A Deployment of a held component that has ready replicas: the cluster serves.
async fn serving(ctx: &Context, namespace: &str, fullname: &str) -> Result<Option<String>> {
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), namespace);
    for component in ["core", "jobservice", "registry"] {
        let name = format!("{fullname}-{component}");
        let deployment = api.get_opt(&name).await.map_err(BackupError::kube(format!("reading Deployment {namespace}/{name}")))?;
        let ready = deployment.and_then(|d| d.status).and_then(|s| s.ready_replicas).unwrap_or(0);
        if ready > 0 {
            return Ok(Some(format!("Deployment {name}")));
        }
    }
    Ok(None)
}

async fn backup_in_progress(ctx: &Context, namespace: &str, backup: &str) -> Result<bool> {
    let api: Api<HarborBackup> = Api::namespaced(ctx.client.clone(), namespace);
    let found = api.get_opt(backup).await.map_err(BackupError::kube(format!("reading HarborBackup {namespace}/{backup}")))?;
    Ok(found.is_some_and(|b| !b.status.as_ref().is_some_and(|s| s.phase == BackupPhase::Failed)))
}

async fn pending(ctx: &Context, restore: &HarborRestore, current: HarborRestoreStatus, reason: &str, message: String) -> Result<Action> {
    let mut waiting = current;
    waiting.phase = RestorePhase::Pending;
    waiting.conditions = vec![status::condition(false, reason, message)];
    status::write(ctx, restore, restore.status.as_ref(), &waiting).await?;
    Ok(Action::requeue(RECHECK))
}

async fn finish(
    ctx: &Context,
    restore: &HarborRestore,
    current: HarborRestoreStatus,
    phase: RestorePhase,
    reason: &str,
    message: String,
) -> Result<Action> {
    let namespace = restore.namespace().unwrap_or_default();
    let finished = status::now();
    let mut done = current;
    let seconds = status::seconds_between(done.start_time.as_deref(), &finished);
    done.phase = phase;
    done.completion_time = Some(finished);
    done.conditions = vec![status::condition(phase == RestorePhase::Complete, reason, message.clone())];
    if status::write(ctx, restore, restore.status.as_ref(), &done).await? {
        let cluster = format!("{namespace}/{}", restore.spec.cluster);
        match phase {
            RestorePhase::Complete => ctx.metrics.day_two_finished("restore", "complete", &cluster, seconds.unwrap_or_default()),
            RestorePhase::Failed => ctx.metrics.day_two_finished("restore", "failed", &cluster, seconds.unwrap_or_default()),
            _ => {}
        }
        let warning = phase != RestorePhase::Complete;
        status::event(ctx, restore, warning, &format!("Restore{}", phase.as_str()), &message).await;
    }
    Ok(Action::await_change())
}
