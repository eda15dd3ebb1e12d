//! The `HarborBackup` and `HarborRestore` resources (`berth.dev/v1alpha1`, namespaced).
//!
//! A HarborBackup is one backup of one HarborCluster, taken on demand (created by a
//! person) or by the cluster's `spec.backup.schedule` (created by Berth). A
//! HarborRestore restores a named backup into a HarborCluster that has no database
//! content yet: the same one after the data was lost, or a new one in another namespace.
//! Only the host reads these, so their types refuse unknown fields.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::status::StatusCondition;

/// One backup of a HarborCluster.
#[derive(CustomResource, Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "berth.dev",
    version = "v1alpha1",
    kind = "HarborBackup",
    plural = "harborbackups",
    shortname = "hbackup",
    namespaced,
    status = "HarborBackupStatus",
    printcolumn = r#"{"name":"Cluster","type":"string","jsonPath":".spec.cluster"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Size","type":"string","jsonPath":".status.size"}"#,
    printcolumn = r#"{"name":"Completed","type":"date","jsonPath":".status.completionTime"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HarborBackupSpec {
    /// The HarborCluster (in this namespace) to back up. It must set `spec.backup`.
    pub cluster: String,
}

/// Where a backup is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum BackupPhase {
    /// Accepted, waiting for its turn (one backup of a cluster runs at a time).
    #[default]
    Pending,
    /// Its Job runs.
    Running,
    /// The dump was verified (`pg_restore --list`) and its checksums written.
    Complete,
    /// It did not complete; `conditions` say why. Nothing of the cluster changed.
    Failed,
}

impl BackupPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupPhase::Pending => "Pending",
            BackupPhase::Running => "Running",
            BackupPhase::Complete => "Complete",
            BackupPhase::Failed => "Failed",
        }
    }

    /// Whether the backup will not change again.
    pub fn is_final(self) -> bool {
        matches!(self, BackupPhase::Complete | BackupPhase::Failed)
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HarborBackupStatus {
    #[serde(default)]
    pub phase: BackupPhase,
    /// When its Job was created (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// When it completed or failed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<String>,
    /// The Job that takes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// Where its files are: "pvc/<claim>/<path>" or "s3://<bucket>/<prefix><path>".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The path of its files under the destination: "<namespace>/<cluster>/<backup>".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Total size of its files, human-readable ("12.4 MiB").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// Its manifest, as the backup Job wrote it: every file with size and sha256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<BackupManifest>,
    /// What happened to the registry's blobs (a VolumeSnapshot, or why none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blobs: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<StatusCondition>,
}

/// What a backup holds, from the manifest the backup Job wrote beside its files (and as
/// its termination message). Checksums only: never secret material.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupManifest {
    /// Format of the backup's layout; 1 today.
    pub format: u32,
    /// The Harbor version the cluster ran (`spec.version`).
    pub harbor_version: String,
    /// The database that was dumped ("registry").
    pub database: String,
    /// The PostgreSQL server's version, as pg_dump saw it.
    #[serde(default)]
    pub server_version: String,
    /// Whether `pg_restore --list` read the dump back.
    pub verified: bool,
    /// Every file of the backup (the dump, each Secret key, the spec).
    pub files: Vec<BackupFile>,
}

impl BackupManifest {
    /// Total bytes of the backup's files.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupFile {
    /// Path relative to the backup's directory, e.g. "database.dump".
    pub name: String,
    pub size: u64,
    /// Lower-case hex sha256 of its content.
    pub sha256: String,
}

/// A restore of one backup into a HarborCluster of this namespace.
#[derive(CustomResource, Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "berth.dev",
    version = "v1alpha1",
    kind = "HarborRestore",
    plural = "harborrestores",
    shortname = "hrestore",
    namespaced,
    status = "HarborRestoreStatus",
    printcolumn = r#"{"name":"Cluster","type":"string","jsonPath":".spec.cluster"}"#,
    printcolumn = r#"{"name":"Backup","type":"string","jsonPath":".spec.backup"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HarborRestoreSpec {
    /// The HarborCluster (in this namespace) to restore into. Create the HarborRestore
    /// first (or together with it): its Secrets then come from the backup, not new ones.
    pub cluster: String,
    /// The backup's name (a HarborBackup's `metadata.name`).
    pub backup: String,
    /// The namespace the backup was taken in; default this one. A backup may be
    /// restored into its own namespace (also when it was deleted and made again) or into
    /// one its cluster's `spec.backup.restoreInto` listed when it was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_namespace: Option<String>,
    /// Restore over a Harbor that already runs: Berth stops core, jobservice and
    /// registry first. Without it such a restore is refused.
    #[serde(default)]
    pub overwrite: bool,
}

/// Where a restore is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum RestorePhase {
    /// Accepted; the target is being checked and its Secrets restored.
    #[default]
    Pending,
    /// The restore Job runs; core, jobservice and registry are held at zero replicas.
    Restoring,
    /// The database was restored; the components start.
    Complete,
    /// It did not complete; `conditions` say why.
    Failed,
    /// It was not started: the target runs (and `overwrite` is false), or the backup
    /// may not be restored here. Nothing changed.
    Refused,
}

impl RestorePhase {
    pub fn as_str(self) -> &'static str {
        match self {
            RestorePhase::Pending => "Pending",
            RestorePhase::Restoring => "Restoring",
            RestorePhase::Complete => "Complete",
            RestorePhase::Failed => "Failed",
            RestorePhase::Refused => "Refused",
        }
    }

    /// Whether the restore will not change again.
    pub fn is_final(self) -> bool {
        matches!(self, RestorePhase::Complete | RestorePhase::Failed | RestorePhase::Refused)
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HarborRestoreStatus {
    #[serde(default)]
    pub phase: RestorePhase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<String>,
    /// The Job that restores the database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// Where the backup's files are read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<StatusCondition>,
}
