//! `spec.backup`: when backups are taken, how many are kept and where they go.
//!
//! A backup is a `pg_dump` of Harbor's database, the generated Secrets (the
//! data-encryption key among them) and the spec it was taken from. The Jobs that take
//! and restore it are rendered by the `backup` component's plugin.

use serde::{Deserialize, Serialize};

use super::from_empty_object;

/// Backups of this cluster. Absent: no backups can be taken (on demand or scheduled).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct BackupSpec {
    /// When to take a backup, in cron syntax ("minute hour day-of-month month
    /// day-of-week", UTC), e.g. "0 3 * * *". Absent: only on demand (a HarborBackup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// How many complete backups to keep; older ones are deleted with their files.
    #[serde(default = "default_keep")]
    pub keep: u32,
    /// Where the backup files go: a volume or an S3-compatible bucket (exactly one).
    #[serde(default)]
    pub destination: BackupDestination,
    /// With filesystem image storage: beside each backup, take a VolumeSnapshot of the
    /// registry's claim with this VolumeSnapshotClass (the cluster needs a CSI driver that
    /// snapshots). Absent: the registry's blobs are not backed up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_snapshot_class: Option<String>,
    /// Namespaces other than this one that a backup of this cluster may be restored
    /// into. A backup is always restorable into a namespace of the same name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restore_into: Vec<String>,
}

impl Default for BackupSpec {
    fn default() -> Self {
        from_empty_object()
    }
}

fn default_keep() -> u32 {
    7
}

/// Where backup files are written. A volume survives losing the database; only a
/// bucket (or a volume whose PersistentVolume is retained) survives losing the namespace.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct BackupDestination {
    /// A PersistentVolumeClaim in the cluster's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<BackupVolume>,
    /// An S3-compatible bucket, written with the AWS command-line client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<BackupBucket>,
}

/// The claim backups are written to: `<fullname>-backup`, or an existing one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct BackupVolume {
    /// Requested size of the claim Berth creates, e.g. "20Gi".
    #[serde(default = "default_backup_size")]
    pub size: String,
    /// StorageClass of the claim Berth creates; the cluster default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// Use this existing claim (for example one bound to a retained volume).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing_claim: Option<String>,
}

impl Default for BackupVolume {
    fn default() -> Self {
        from_empty_object()
    }
}

fn default_backup_size() -> String {
    "10Gi".to_owned()
}

/// An S3-compatible bucket. Credentials come from `existingSecret` (keys
/// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or from the pod's identity when unset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct BackupBucket {
    pub bucket: String,
    /// Key prefix under which backups are written, e.g. "harbor/".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    #[serde(default = "default_region")]
    pub region: String,
    /// Endpoint URL of an S3-compatible store (MinIO, Ceph); absent for AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing_secret: Option<String>,
    /// The image with the `aws` client that uploads and downloads backups.
    #[serde(default = "default_client_image")]
    pub image: String,
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

fn default_client_image() -> String {
    "docker.io/amazon/aws-cli:2.27.50".to_owned()
}
