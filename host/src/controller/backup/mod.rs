//! Backups and restores, orchestrated by the host and rendered by the `backup`
//! component's plugin: the host creates the Jobs the plugin renders, follows them, keeps
//! the generated Secrets on record and applies retention; it never reads or writes the
//! backup's data itself.
//!
//! Modules: [`schedule`] cron schedules and the due backup, [`take`] one HarborBackup,
//! [`restore`] one HarborRestore, [`hold`] what a restore asks of its cluster's
//! reconcile, [`escrow`] the backup's record beside the operator, [`jobs`] the Jobs,
//! [`retention`] deleting expired backups, [`status`] status and Events, [`error`] the
//! error type.

pub mod error;
pub mod escrow;
pub mod hold;
pub mod jobs;
pub mod restore;
pub mod retention;
pub mod schedule;
pub mod status;
pub mod take;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;

pub use error::BackupError;

use super::error::{Error, is_already_exists};
use super::{Context, FIELD_MANAGER, HarborCluster};
use berth_api::backup::{HarborBackup, HarborBackupSpec, HarborRestore};

/// Whether this replica's shard does the work a HarborBackup or HarborRestore asks of
/// `cluster`: the shard of that cluster, or, while it does not exist, the shard of the
/// asking object's own uid (so exactly one replica says it is missing).
pub(crate) async fn in_shard(ctx: &Context, namespace: &str, cluster: &str, asking_uid: Option<&str>) -> error::Result<bool> {
    let shard = ctx.shard();
    if !shard.is_split() {
        return Ok(true);
    }
    let clusters: Api<HarborCluster> = Api::namespaced(ctx.client.clone(), namespace);
    let found =
        clusters.get_metadata_opt(cluster).await.map_err(BackupError::kube(format!("reading HarborCluster {namespace}/{cluster}")))?;
    let uid = found.and_then(|c| c.metadata.uid).or_else(|| asking_uid.map(str::to_owned)).unwrap_or_default();
    Ok(shard.owns(&uid))
}

/// Label of the HarborBackups a schedule created.
pub const SCHEDULED_LABEL: &str = "berth.dev/scheduled";

/// Runs the HarborBackup and HarborRestore controllers for `namespace` (all when `None`)
/// until `shutdown` resolves.
pub async fn run(ctx: Arc<Context>, namespace: Option<String>, shutdown: impl Future<Output = ()> + Send + Sync + Clone + 'static) {
    let client = ctx.client.clone();
    let (backups, restores, jobs) = match namespace.as_deref() {
        Some(ns) => (
            Api::<HarborBackup>::namespaced(client.clone(), ns),
            Api::<HarborRestore>::namespaced(client.clone(), ns),
            Api::<Job>::namespaced(client, ns),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone()), Api::all(client)),
    };
    // Not before both APIs are served: a controller whose resource is not served never
    // gets its first list, and would hold shutdown up waiting for it.
    let served = {
        let (backups, restores) = (backups.clone(), restores.clone());
        async move {
            let mut said = false;
            loop {
                let limit = ListParams::default().limit(1);
                if backups.list(&limit).await.is_ok() && restores.list(&limit).await.is_ok() {
                    return;
                }
                if !said {
                    tracing::info!("the HarborBackup or HarborRestore API is not served (CRDs not installed): backups start once it is");
                    said = true;
                }
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
        }
    };
    tokio::select! {
        () = served => {}
        () = shutdown.clone() => return,
    }
    let config = || watcher::Config::default().any_semantic();
    let backup_controller = Controller::new(backups, config())
        .owns(jobs.clone(), config())
        .graceful_shutdown_on(shutdown.clone())
        .run(take::reconcile, error_policy, ctx.clone())
        .for_each(|_| async {});
    let restore_controller = Controller::new(restores, config())
        .owns(jobs, config())
        .graceful_shutdown_on(shutdown)
        .run(restore::reconcile, error_policy, ctx)
        .for_each(|_| async {});
    tracing::info!(namespace = namespace.as_deref().unwrap_or("(all namespaces)"), "backup and restore controllers started");
    futures::join!(backup_controller, restore_controller);
}

fn error_policy<K: kube::Resource>(object: Arc<K>, error: &BackupError, ctx: Arc<Context>) -> Action {
    ctx.metrics.failure("backup");
    tracing::warn!(object = %object.meta().name.clone().unwrap_or_default(), namespace = ?object.meta().namespace, error = %error, error_chain = ?error, "backup or restore reconcile failed");
    Action::requeue(Duration::from_secs(30))
}

/// The schedule step of a HarborCluster's reconcile: creates the HarborBackup of the
/// latest due time if none was made since (once after an outage, however many runs it
/// missed; never for a time before the cluster existed). Returns when to look again.
pub async fn schedule_tick(ctx: &Context, hc: &HarborCluster, namespace: &str, name: &str) -> Result<Option<Duration>, Error> {
    let Some(text) = hc.spec.backup.as_ref().and_then(|b| b.schedule.as_deref()) else {
        return Ok(None);
    };
    let schedule = match schedule::Schedule::parse(text) {
        Ok(schedule) => schedule,
        Err(why) => {
            tracing::warn!(cluster = name, namespace, error = %why, "spec.backup.schedule is not a cron schedule; no backups are scheduled");
            return Ok(None);
        }
    };
    let now = k8s_openapi::jiff::Timestamp::now();
    let next = schedule.next_after(now).map(|next| Duration::from_secs_f64(next.duration_since(now).as_secs_f64().max(1.0)));
    let created = hc.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let Some(due) = schedule.latest_at_or_before(now).filter(|due| created.is_none_or(|c| *due >= c)) else {
        return Ok(next);
    };
    // Every reconcile of a scheduled cluster passes here: a due time this replica has
    // seen taken care of needs no LIST of the namespace's backups again.
    if ctx.scheduled_handled(namespace, name).is_some_and(|handled| handled >= due) {
        return Ok(next);
    }
    let api: Api<HarborBackup> = Api::namespaced(ctx.client.clone(), namespace);
    let existing = api.list(&Default::default()).await.map_err(Error::kube(format!("listing HarborBackups in {namespace}")))?;
    let taken_since = existing
        .items
        .iter()
        .filter(|b| b.spec.cluster == name)
        .any(|b| b.metadata.creation_timestamp.as_ref().is_some_and(|t| t.0 >= due));
    if taken_since {
        ctx.schedule_handled(namespace, name, due);
        return Ok(next);
    }
    let stamp = due.strftime("%Y%m%d-%H%M").to_string();
    let backup_name = format!("{name}-{stamp}");
    let backup = HarborBackup {
        metadata: ObjectMeta {
            name: Some(backup_name.clone()),
            namespace: Some(namespace.to_owned()),
            labels: Some(
                [(SCHEDULED_LABEL.to_owned(), "true".to_owned()), (crate::labels::CLUSTER_LABEL.to_owned(), name.to_owned())].into(),
            ),
            ..ObjectMeta::default()
        },
        spec: HarborBackupSpec { cluster: name.to_owned() },
        status: None,
    };
    ctx.metrics.write("create", "HarborBackup");
    match api.create(&PostParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PostParams::default() }, &backup).await {
        Ok(_) => {
            tracing::info!(cluster = name, namespace, backup = %backup_name, due = %due, "scheduled backup created");
            ctx.event(
                hc,
                kube::runtime::events::EventType::Normal,
                "BackupScheduled",
                "Create",
                &format!("HarborBackup {backup_name} for {due}"),
            )
            .await;
        }
        Err(e) if is_already_exists(&e) => {}
        Err(e) => return Err(Error::kube(format!("creating HarborBackup {namespace}/{backup_name}"))(e)),
    }
    ctx.schedule_handled(namespace, name, due);
    Ok(next)
}
