//! The two things an upgrade creates: the pre-upgrade HarborBackup and the migration
//! Job. Both have names derived from the upgrade itself (cluster, target, start time),
//! so an operator that restarts mid-step finds the one it made instead of making a
//! second; and both are created only if absent.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::{Resource as _, ResourceExt as _};

use crate::contract::{MigrateTask, Task};
use crate::controller::backup::error::BackupError;
use crate::controller::backup::jobs::{self, JobState};
use crate::controller::error::{Error, Result, is_already_exists};
use crate::controller::{Context, FIELD_MANAGER, HarborCluster};
use berth_api::backup::{BackupPhase, HarborBackup, HarborBackupSpec};
use berth_api::status::UpgradeStatus;

/// Marks what an upgrade created, with the version it goes to. The cluster's pruning
/// leaves a Job with it alone (the render does not produce it).
pub const UPGRADE_LABEL: &str = "berth.dev/upgrade-to";

/// A short digest of what identifies this upgrade: its cluster and start.
fn upgrade_id(hc: &HarborCluster, upgrade: &UpgradeStatus) -> String {
    use sha2::{Digest as _, Sha256};
    let identity = format!("{}/{}/{}", hc.uid().unwrap_or_default(), upgrade.to, upgrade.started.as_deref().unwrap_or_default());
    hex::encode(Sha256::digest(identity.as_bytes()))[..6].to_owned()
}

/// `<cluster>-pre-<to>-<id>`, e.g. "demo-pre-2-15-1-3fa2c1".
pub fn backup_name(hc: &HarborCluster, upgrade: &UpgradeStatus) -> String {
    jobs::job_name(&hc.name_any(), "pre", &format!("{}-{}", upgrade.to.replace('.', "-"), upgrade_id(hc, upgrade)))
}

/// `<fullname>-core-migrate-<to>-<id>`: inside core's name space, as its plugin must.
pub fn migration_job_name(fullname: &str, hc: &HarborCluster, upgrade: &UpgradeStatus) -> String {
    jobs::job_name(&format!("{fullname}-core"), "migrate", &format!("{}-{}", upgrade.to.replace('.', "-"), upgrade_id(hc, upgrade)))
}

/// Where the pre-upgrade backup is.
pub enum BackupProgress {
    Running,
    Complete,
    Failed(String),
}

/// Creates the pre-upgrade backup if it does not exist, and says where it is.
pub async fn backup(ctx: &Context, hc: &HarborCluster, namespace: &str, name: &str, upgrade: &UpgradeStatus) -> Result<BackupProgress> {
    let api: Api<HarborBackup> = Api::namespaced(ctx.client.clone(), namespace);
    let existing = api.get_opt(name).await.map_err(Error::kube(format!("reading HarborBackup {namespace}/{name}")))?;
    let Some(backup) = existing else {
        let cluster = hc.name_any();
        let backup = HarborBackup {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some(namespace.to_owned()),
                labels: Some(
                    [(UPGRADE_LABEL.to_owned(), upgrade.to.clone()), (crate::labels::CLUSTER_LABEL.to_owned(), cluster.clone())].into(),
                ),
                ..ObjectMeta::default()
            },
            spec: HarborBackupSpec { cluster },
            status: None,
        };
        ctx.metrics.write("create", "HarborBackup");
        match api.create(&PostParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PostParams::default() }, &backup).await {
            Ok(_) => tracing::info!(namespace, backup = name, to = %upgrade.to, "created the pre-upgrade backup"),
            Err(e) if is_already_exists(&e) => {}
            Err(e) => return Err(Error::kube(format!("creating HarborBackup {namespace}/{name}"))(e)),
        }
        return Ok(BackupProgress::Running);
    };
    let status = backup.status.unwrap_or_default();
    Ok(match status.phase {
        BackupPhase::Complete => BackupProgress::Complete,
        BackupPhase::Failed => {
            let why =
                status.conditions.iter().map(|c| c.message.clone()).find(|m| !m.is_empty()).unwrap_or_else(|| "no reason given".to_owned());
            BackupProgress::Failed(why)
        }
        BackupPhase::Pending | BackupPhase::Running => BackupProgress::Running,
    })
}

/// Where the migration is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrationProgress {
    Running,
    Succeeded,
    /// It ran and failed: the schema may be half-migrated.
    Failed(String),
    /// Its Job could not be rendered: nothing ran, the database is untouched.
    NotRendered(String),
}

/// Creates the migration Job if it does not exist (rendered by the target version's core
/// plugin: `target` is the cluster at the target version), and says where it is.
pub async fn migration(ctx: &Context, target: &HarborCluster, namespace: &str, job_name: &str, from: &str) -> Result<MigrationProgress> {
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), namespace);
    if let Some(job) = api.get_opt(job_name).await.map_err(Error::kube(format!("reading Job {namespace}/{job_name}")))? {
        return Ok(match jobs::state(&job) {
            JobState::Failed(why) => MigrationProgress::Failed(with_log(ctx, namespace, job_name, why).await),
            JobState::Succeeded => MigrationProgress::Succeeded,
            JobState::Running => MigrationProgress::Running,
        });
    }
    let owner = target.controller_owner_ref(&()).ok_or(Error::MissingMetadata("name or uid"))?;
    let task = Task::Migrate(MigrateTask { from_version: from.to_owned(), job_name: job_name.to_owned() });
    // The label is the host's: what a plugin renders cannot exempt itself from pruning.
    let labels = [(UPGRADE_LABEL, target.spec.version.as_str())];
    match jobs::create_labelled(ctx, target, task, Some(owner), None, &labels).await {
        Ok(_) => Ok(MigrationProgress::Running),
        Err(BackupError::Render { source, .. }) => Ok(MigrationProgress::NotRendered(crate::error_chain::error_chain(&source))),
        Err(e) => Err(Error::Upgrade(Box::new(e))),
    }
}

/// A failed migration's reason, with what its container said when it ended (the Job's
/// container writes its log's tail there on error).
async fn with_log(ctx: &Context, namespace: &str, job: &str, why: String) -> String {
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let selector = format!("batch.kubernetes.io/job-name={job}");
    let Ok(list) = pods.list(&kube::api::ListParams::default().labels(&selector)).await else { return why };
    let said = list
        .items
        .into_iter()
        .filter_map(|pod| pod.status)
        .flat_map(|status| status.container_statuses.into_iter().flatten())
        .filter_map(|c| c.state.and_then(|s| s.terminated).and_then(|t| t.message))
        .find(|m| !m.trim().is_empty());
    match said {
        Some(message) => format!("{why}; the migration said: {}", crate::names::truncate(message.trim(), 600)),
        None => why,
    }
}
