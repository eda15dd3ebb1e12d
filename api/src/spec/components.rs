//! Per-component settings: the pod settings every component shares, and what jobservice,
//! registry and trivy add to them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, EnvVar, ResourceRequirements, Toleration, TopologySpreadConstraint};
use serde::{Deserialize, Serialize};

use super::{SecretKeyRef, enabled, from_empty_object};

/// How one component's pods run. Every field is optional; unset means the chart's default.
/// Components with settings of their own flatten it (`#[serde(flatten)] pod`), so the
/// spec reads the same as if the fields were repeated.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ComponentSpec {
    /// Number of pods (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(range(min = 0)))]
    pub replicas: Option<i32>,
    /// Resource requests and limits of the component's main container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// Extra annotations on the pods (the host adds its checksums beside them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_annotations: BTreeMap<String, String>,
    /// Extra labels on the pods (never on the selector).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Extra environment variables of the main container, after the chart's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Full image reference overriding imageSource for this component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// Jobservice: pod settings plus its worker pool and job logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct JobserviceSpec {
    /// How its pods run.
    #[serde(flatten)]
    pub pod: ComponentSpec,
    /// Concurrent job workers (the chart's maxJobWorkers).
    #[serde(default = "default_workers")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub workers: u32,
    /// Where job logs go. `file` needs a volume, which blocks more than one replica on
    /// a ReadWriteOnce claim; `database` and `stdout` scale freely.
    #[serde(default = "default_job_loggers")]
    pub job_loggers: Vec<JobLogger>,
    /// Days job logs are kept.
    #[serde(default = "default_sweeper_days")]
    pub logger_sweeper_days: u32,
    /// The job-log volume (used by the `file` logger).
    #[serde(default = "default_job_log_volume")]
    pub log_volume: VolumeSpec,
}

impl Default for JobserviceSpec {
    fn default() -> Self {
        from_empty_object()
    }
}

fn default_workers() -> u32 {
    10
}

fn default_job_loggers() -> Vec<JobLogger> {
    vec![JobLogger::File]
}

fn default_sweeper_days() -> u32 {
    14
}

fn default_job_log_volume() -> VolumeSpec {
    VolumeSpec::sized("1Gi")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum JobLogger {
    File,
    Database,
    Stdout,
}

/// Registry: pod settings of the registry container plus the registryctl sidecar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct RegistrySpec {
    /// How its pods run.
    #[serde(flatten)]
    pub pod: ComponentSpec,
    /// The registryctl sidecar's container.
    #[serde(default)]
    pub controller: ContainerSpec,
    /// Serve relative URLs in Location headers (behind some proxies).
    #[serde(default)]
    pub relative_urls: bool,
    /// Purge abandoned uploads.
    #[serde(default)]
    pub upload_purging: UploadPurging,
}

impl Default for RegistrySpec {
    fn default() -> Self {
        from_empty_object()
    }
}

/// A sidecar container's own knobs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ContainerSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct UploadPurging {
    #[serde(default = "enabled")]
    pub enabled: bool,
    #[serde(default = "default_purge_age")]
    pub age: String,
    #[serde(default = "default_purge_interval")]
    pub interval: String,
    #[serde(default)]
    pub dryrun: bool,
}

impl Default for UploadPurging {
    fn default() -> Self {
        from_empty_object()
    }
}

fn default_purge_age() -> String {
    "168h".to_owned()
}

fn default_purge_interval() -> String {
    "24h".to_owned()
}

/// Trivy: pod settings plus the scanner's options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct TrivySpec {
    /// How its pods run.
    #[serde(flatten)]
    pub pod: ComponentSpec,
    /// Deploy the scanner (default true).
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// Do not download the vulnerability database (air-gapped installs bring their own).
    #[serde(default)]
    pub skip_update: bool,
    #[serde(default)]
    pub skip_java_db_update: bool,
    /// Never reach the internet while scanning.
    #[serde(default)]
    pub offline_scan: bool,
    /// Severities reported, comma-separated.
    #[serde(default = "default_severity")]
    pub severity: String,
    /// Report only vulnerabilities that have a fix.
    #[serde(default)]
    pub ignore_unfixed: bool,
    /// Skip TLS verification of registries.
    #[serde(default)]
    pub insecure: bool,
    #[serde(default = "default_vuln_type")]
    pub vuln_type: String,
    #[serde(default = "default_trivy_timeout")]
    pub timeout: String,
    /// A GitHub token, raising the rate limit of database downloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_token: Option<SecretKeyRef>,
    /// The cache volume (vulnerability database and reports).
    #[serde(default = "default_trivy_cache")]
    pub cache: VolumeSpec,
}

impl Default for TrivySpec {
    fn default() -> Self {
        from_empty_object()
    }
}

fn default_severity() -> String {
    "UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL".to_owned()
}

fn default_vuln_type() -> String {
    "os,library".to_owned()
}

fn default_trivy_timeout() -> String {
    "5m0s".to_owned()
}

fn default_trivy_cache() -> VolumeSpec {
    VolumeSpec::sized("5Gi")
}

/// A persistent volume claim's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct VolumeSpec {
    /// Requested size, e.g. "5Gi".
    pub size: String,
    /// StorageClass; the cluster default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    #[serde(default)]
    pub access_mode: AccessMode,
    /// Use this existing claim instead of creating one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing_claim: Option<String>,
}

impl VolumeSpec {
    pub fn sized(size: &str) -> Self {
        VolumeSpec { size: size.to_owned(), storage_class: None, access_mode: AccessMode::ReadWriteOnce, existing_claim: None }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum AccessMode {
    #[default]
    ReadWriteOnce,
    ReadWriteMany,
    ReadWriteOncePod,
}

impl AccessMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessMode::ReadWriteOnce => "ReadWriteOnce",
            AccessMode::ReadWriteMany => "ReadWriteMany",
            AccessMode::ReadWriteOncePod => "ReadWriteOncePod",
        }
    }
}
