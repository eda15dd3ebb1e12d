//! Retention: the complete backups of a cluster beyond `spec.backup.keep`, oldest first,
//! go with their files (a deletion Job the plugin renders) and their record. A backup a
//! restore still reads from stays. Failed backups older than the oldest kept one go too.

use kube::ResourceExt as _;
use kube::api::{Api, DeleteParams, ListParams};

use super::error::{BackupError, Result};
use super::{escrow, jobs};
use crate::contract::{DeleteTask, Task};
use crate::controller::error::is_not_found;
use crate::controller::{Context, HarborCluster};
use berth_api::backup::{BackupPhase, HarborBackup, HarborRestore};

/// A finished deletion Job is cleaned up by the TTL controller after this long.
const DELETION_JOB_TTL: i32 = 3600;

/// Which backups expire, given a cluster's backups and how many complete ones to keep:
/// names, oldest first.
pub fn expired(backups: &[HarborBackup], keep: usize, in_use: &[String]) -> Vec<String> {
    let finished = |b: &HarborBackup| b.status.as_ref().and_then(|s| s.completion_time.clone()).unwrap_or_default();
    let phase = |b: &HarborBackup| b.status.as_ref().map(|s| s.phase).unwrap_or_default();
    let mut complete: Vec<&HarborBackup> = backups.iter().filter(|b| phase(b) == BackupPhase::Complete).collect();
    // Newest first; RFC 3339 times in UTC sort as text.
    complete.sort_by_key(|b| std::cmp::Reverse(finished(b)));
    let oldest_kept = complete.get(keep.saturating_sub(1)).map(|b| finished(b));
    let mut out: Vec<(String, String)> = complete.iter().skip(keep).map(|b| (finished(b), b.name_any())).collect();
    if let Some(oldest_kept) = oldest_kept.filter(|_| complete.len() >= keep) {
        // Times are to the second: a failure in the same second as the oldest kept backup
        // is no newer than it.
        out.extend(
            backups.iter().filter(|b| phase(b) == BackupPhase::Failed && finished(b) <= oldest_kept).map(|b| (finished(b), b.name_any())),
        );
    }
    out.sort();
    out.into_iter().map(|(_, name)| name).filter(|name| !in_use.contains(name)).collect()
}

pub async fn apply(ctx: &Context, namespace: &str, cluster: &str) -> Result<()> {
    let clusters: Api<HarborCluster> = Api::namespaced(ctx.client.clone(), namespace);
    let Some(hc) = clusters.get_opt(cluster).await.map_err(BackupError::kube(format!("reading HarborCluster {namespace}/{cluster}")))?
    else {
        return Ok(());
    };
    let Some(spec) = &hc.spec.backup else { return Ok(()) };
    let backups_api: Api<HarborBackup> = Api::namespaced(ctx.client.clone(), namespace);
    let backups: Vec<HarborBackup> = backups_api
        .list(&ListParams::default())
        .await
        .map_err(BackupError::kube(format!("listing HarborBackups in {namespace}")))?
        .items
        .into_iter()
        .filter(|b| b.spec.cluster == cluster)
        .collect();
    // Restores from any namespace may read a backup of this one.
    let restores = Api::<HarborRestore>::all(ctx.client.clone())
        .list(&ListParams::default())
        .await
        .map_err(BackupError::kube("listing HarborRestores"))?;
    let mut in_use: Vec<String> = restores
        .items
        .iter()
        .filter(|r| !r.status.as_ref().is_some_and(|s| s.phase.is_final()))
        .filter(|r| r.spec.backup_namespace.as_deref().or(r.namespace().as_deref()).unwrap_or_default() == namespace)
        .map(|r| r.spec.backup.clone())
        .collect();
    // An upgrade's pre-upgrade backup is its way back until the upgrade ends.
    in_use.extend(hc.status.as_ref().and_then(|s| s.upgrade.as_ref()).and_then(|u| u.backup.clone()));
    let hc = crate::controller::upgrade::as_running(&hc);
    let topology = crate::topology::resolve(cluster, &hc.spec).map_err(BackupError::Spec)?;
    for name in expired(&backups, spec.keep as usize, &in_use) {
        let complete = backups.iter().any(|b| b.name_any() == name && b.status.as_ref().is_some_and(|s| s.phase == BackupPhase::Complete));
        if complete {
            let path = jobs::backup_path(namespace, cluster, &name);
            let job_name = jobs::job_name(&topology.fullname, "backup-delete", &name);
            jobs::create(ctx, &hc, Task::Delete(DeleteTask { name: name.clone(), job_name, path }), None, Some(DELETION_JOB_TTL)).await?;
        }
        escrow::delete(ctx, namespace, &name).await?;
        ctx.metrics.write("delete", "HarborBackup");
        match backups_api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => tracing::info!(namespace, cluster, backup = %name, keep = spec.keep, "retention: deleted an expired backup"),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(BackupError::kube(format!("deleting HarborBackup {namespace}/{name}"))(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::backup::HarborBackupStatus;

    fn backup(name: &str, phase: BackupPhase, finished: &str) -> HarborBackup {
        let mut b = HarborBackup::new(name, berth_api::backup::HarborBackupSpec { cluster: "demo".to_owned() });
        b.status = Some(HarborBackupStatus { phase, completion_time: Some(finished.to_owned()), ..HarborBackupStatus::default() });
        b
    }

    #[test]
    fn the_oldest_complete_backups_beyond_keep_expire_unless_a_restore_reads_them() {
        let backups = vec![
            backup("b1", BackupPhase::Complete, "2026-11-01T03:00:00Z"),
            backup("b2", BackupPhase::Complete, "2026-11-02T03:00:00Z"),
            backup("f1", BackupPhase::Failed, "2026-11-02T04:00:00Z"),
            backup("f2", BackupPhase::Failed, "2026-11-03T03:00:00Z"),
            backup("b3", BackupPhase::Complete, "2026-11-03T03:00:00Z"),
            backup("r1", BackupPhase::Running, ""),
        ];
        assert_eq!(expired(&backups, 2, &[]), ["b1"]);
        // f2 failed in the same second b3 completed: it is no newer, and goes too.
        assert_eq!(expired(&backups, 1, &[]), ["b1", "b2", "f1", "f2"]);
        assert_eq!(expired(&backups, 1, &["b1".to_owned()]), ["b2", "f1", "f2"]);
        assert!(expired(&backups, 3, &[]).is_empty());
        assert!(expired(&backups, 5, &[]).is_empty());
    }
}
