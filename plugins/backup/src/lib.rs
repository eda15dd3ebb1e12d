//! Backups and restores of a Harbor: the database (a `pg_dump` in custom format) and the
//! Secrets the host generated (the data-encryption key among them).
//!
//! The ordinary render returns what backups need all the time: the claim they are
//! written to (unless the spec names one, or writes to a bucket). A task render returns
//! the Job of one backup (with a VolumeSnapshot of the registry's claim when the spec
//! asks for one), one restore or one deletion of expired files; the host creates it, follows it and reads the
//! backup's manifest from its termination message. What the Jobs run is in `scripts/`,
//! so it reads as shell rather than as Rust strings, and the tests run exactly those.

#![forbid(unsafe_code)]

mod destination;
mod jobs;

use std::collections::BTreeMap;

use berth_sdk::spec::BackupSpec;
use berth_sdk::{PluginDescription, RenderError, RenderRequest, Rendered, Renderer, Task, Topology};

pub use destination::Destination;

const COMPONENT: &str = "backup";

/// The script the backup container runs.
pub const BACKUP_SCRIPT: &str = include_str!("../scripts/backup.sh");
/// The script the restore container runs.
pub const RESTORE_SCRIPT: &str = include_str!("../scripts/restore.sh");
/// The script that uploads a backup to a bucket.
pub const UPLOAD_SCRIPT: &str = include_str!("../scripts/upload.sh");
/// The script that downloads a backup from a bucket.
pub const DOWNLOAD_SCRIPT: &str = include_str!("../scripts/download.sh");
/// The script that deletes an expired backup's files from the volume.
pub const DELETE_SCRIPT: &str = include_str!("../scripts/delete.sh");
/// The script that deletes an expired backup's files from a bucket.
pub const DELETE_BUCKET_SCRIPT: &str = include_str!("../scripts/delete-bucket.sh");

pub struct Backup;

impl Renderer for Backup {
    fn describe() -> PluginDescription {
        berth_sdk::bundled_description!("berth-backup", COMPONENT)
    }

    fn render(req: &RenderRequest) -> Result<Rendered, RenderError> {
        let mut out = Rendered::default();
        let Some(spec) = &req.spec.backup else {
            return Ok(out);
        };
        check(spec)?;
        if let Some(claim) = Destination::of(spec, &req.topology)?.claim_to_create(spec, &labels(&req.topology))? {
            out.object(&claim)?;
        }
        Ok(out)
    }

    fn render_task(req: &RenderRequest, task: &Task) -> Result<Rendered, RenderError> {
        let spec =
            req.spec.backup.as_ref().ok_or_else(|| RenderError::invalid("spec.backup", "is not set: this cluster takes no backups"))?;
        check(spec)?;
        let destination = Destination::of(spec, &req.topology)?;
        let mut out = Rendered::default();
        match task {
            Task::Backup(backup) => {
                out.object(&jobs::backup_job(req, &destination, backup)?)?;
                if let Some(snapshot) = jobs::registry_snapshot(req, backup)? {
                    out.raw_object(&snapshot);
                }
            }
            Task::Restore(restore) => {
                out.object(&jobs::restore_job(req, &destination, restore)?)?;
            }
            Task::Delete(delete) => {
                out.object(&jobs::delete_job(req, &destination, delete)?)?;
            }
            Task::Migrate(_) => return Err(RenderError::Unsupported("berth-backup renders no migration: that is core's".to_owned())),
        }
        Ok(out)
    }
}

berth_sdk::export_renderer!(Backup);

/// What the host does not check itself: the schedule's shape.
fn check(spec: &BackupSpec) -> Result<(), RenderError> {
    if let Some(schedule) = &spec.schedule
        && schedule.split_whitespace().count() != 5
    {
        return Err(RenderError::invalid(
            "spec.backup.schedule",
            format!("{schedule:?} is not a cron schedule of five fields (minute hour day-of-month month day-of-week)"),
        ));
    }
    Ok(())
}

/// The labels of the component's objects: the cluster's and `component: backup`.
fn labels(topology: &Topology) -> BTreeMap<String, String> {
    let mut labels = berth_sdk::topology::to_map(&topology.labels);
    labels.insert("component".to_owned(), COMPONENT.to_owned());
    labels.insert("app.kubernetes.io/component".to_owned(), COMPONENT.to_owned());
    labels
}

#[cfg(test)]
mod tests;
