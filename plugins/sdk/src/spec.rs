//! The HarborCluster spec (`berth.dev/v1alpha1`), defined once for host and plugins.
//!
//! Field names follow the Harbor Helm chart's values where that is natural, so a chart
//! user recognises them. The host builds with the `strict` feature, which refuses unknown
//! fields (a typo is named, not ignored); plugins build without it, so a newer host can
//! add fields without breaking older plugins.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, EnvVar, ResourceRequirements, Toleration, TopologySpreadConstraint};
use serde::{Deserialize, Serialize};

#[cfg(feature = "kube")]
use crate::status::HarborClusterStatus;

/// A Harbor registry: its version, where it is reached, and how each component runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
#[cfg_attr(
    feature = "kube",
    derive(kube::CustomResource),
    kube(
        group = "berth.dev",
        version = "v1alpha1",
        kind = "HarborCluster",
        plural = "harborclusters",
        shortname = "harbor",
        namespaced,
        status = "HarborClusterStatus",
        printcolumn = r#"{"name":"Version","type":"string","jsonPath":".spec.version"}"#,
        printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
        printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.readyComponents"}"#,
        printcolumn = r#"{"name":"URL","type":"string","jsonPath":".status.externalURL"}"#,
        printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
    )
)]
#[serde(rename_all = "camelCase")]
pub struct HarborClusterSpec {
    /// Harbor version to run, "major.minor.patch" (2.13.x, 2.14.x or 2.15.x).
    #[cfg_attr(feature = "schema", schemars(regex(pattern = r"^[0-9]+\.[0-9]+\.[0-9]+$")))]
    pub version: String,

    /// The URL users and docker clients reach Harbor at, e.g. "https://harbor.example.com".
    #[serde(rename = "externalURL")]
    #[cfg_attr(feature = "schema", schemars(regex(pattern = r"^https?://[^/\s]+(/.*)?$")))]
    pub external_url: String,

    /// Where images come from: registry, repository prefix, tag, pull secrets.
    #[serde(default)]
    pub image_source: ImageSource,

    /// Log level of every Harbor component.
    #[serde(default)]
    pub log_level: LogLevel,

    /// Which IP families the in-pod servers listen on.
    #[serde(default)]
    pub ip_family: IpFamily,

    /// The admin password: a key of an existing Secret. When absent the host generates
    /// one (key `HARBOR_ADMIN_PASSWORD` of `<fullname>-core`), used at first start only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_password: Option<SecretKeyRef>,

    /// HTTP proxy for the components that reach the internet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxySpec>,

    /// The API server, token service and job scheduler.
    #[serde(default)]
    pub core: ComponentSpec,

    /// The asynchronous job runner (replication, GC, scans).
    #[serde(default)]
    pub jobservice: JobserviceSpec,

    /// The web UI (an nginx serving static files).
    #[serde(default)]
    pub portal: ComponentSpec,

    /// The distribution registry and its registryctl sidecar.
    #[serde(default)]
    pub registry: RegistrySpec,

    /// The Trivy vulnerability scanner adapter.
    #[serde(default)]
    pub trivy: TrivySpec,

    /// The metrics exporter, deployed when metrics are enabled.
    #[serde(default)]
    pub exporter: ComponentSpec,

    /// Prometheus metrics from core, jobservice, registry and the exporter.
    #[serde(default)]
    pub metrics: MetricsSpec,

    /// PostgreSQL: in-cluster (default) or external.
    #[serde(default)]
    pub database: DatabaseSpec,

    /// Redis: in-cluster (default) or external.
    #[serde(default)]
    pub redis: RedisSpec,

    /// Where image blobs live (default: a filesystem volume).
    #[serde(default)]
    pub storage: StorageSpec,

    /// How users reach Harbor (default: a ClusterIP Service in front of an nginx proxy).
    #[serde(default)]
    pub expose: ExposeSpec,

    /// What deleting the HarborCluster does to its data: `Retain` (default) keeps the
    /// data volumes and generated Secrets (the data-encryption key among them), `Delete`
    /// removes them too. Everything else is always garbage-collected.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Pins the plugin that renders a component, by component name ("portal", "core",
    /// ...): this cluster stays on that version whatever a PluginPolicy rollout does.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plugins: BTreeMap<String, PluginPin>,
}

/// A plugin version or digest one HarborCluster is held to. Exactly one of the two.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct PluginPin {
    /// A version the component's PluginPolicy lists (or the bundled plugin's version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The plugin's sha256 digest, "sha256:<64 hex digits>".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(regex(pattern = r"^sha256:[0-9a-f]{64}$")))]
    pub digest: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum DeletionPolicy {
    #[default]
    Retain,
    Delete,
}

/// A key of a Secret in the HarborCluster's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
pub struct SecretKeyRef {
    /// The Secret's name.
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub name: String,
    /// The key within the Secret.
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub key: String,
}

/// A whole Secret in the HarborCluster's namespace, read with the keys a driver expects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
pub struct SecretRef {
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct ProxySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_proxy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_proxy: Option<String>,
    /// Hosts that bypass the proxy; every in-cluster Harbor Service is added to it.
    #[serde(default = "default_no_proxy")]
    pub no_proxy: String,
    /// Components that use the proxy (core, jobservice, trivy, registry).
    #[serde(default = "default_proxy_components")]
    pub components: Vec<String>,
}

fn default_no_proxy() -> String {
    "127.0.0.1,localhost,.local,.internal".to_owned()
}

fn default_proxy_components() -> Vec<String> {
    vec!["core".to_owned(), "jobservice".to_owned(), "trivy".to_owned()]
}

/// Where component images are pulled from. An image is
/// `<registry>/<repository>/<component image>:<tag>`, unless a component overrides it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct ImageSource {
    /// Registry host, e.g. "docker.io" or a mirror "registry.internal:5000".
    #[serde(default = "default_registry")]
    pub registry: String,
    /// Repository prefix under the registry, e.g. "goharbor".
    #[serde(default = "default_repository")]
    pub repository: String,
    /// Tag for every component; defaults to "v" + spec.version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// imagePullPolicy for every container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_policy: Option<PullPolicy>,
    /// Names of Secrets (in the HarborCluster's namespace) used to pull images.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pull_secrets: Vec<String>,
}

impl Default for ImageSource {
    fn default() -> Self {
        ImageSource {
            registry: default_registry(),
            repository: default_repository(),
            tag: None,
            pull_policy: None,
            pull_secrets: Vec::new(),
        }
    }
}

fn default_registry() -> String {
    "docker.io".to_owned()
}

fn default_repository() -> String {
    "goharbor".to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

/// Harbor's log levels, as the chart spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    #[default]
    Info,
    Warning,
    Error,
    Fatal,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
            LogLevel::Fatal => "fatal",
        }
    }
}

/// IP families the in-pod servers listen on (the chart's `ipFamily.ipv4/ipv6.enabled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct IpFamily {
    #[serde(default = "enabled")]
    pub ipv4: bool,
    #[serde(default = "enabled")]
    pub ipv6: bool,
}

impl Default for IpFamily {
    fn default() -> Self {
        IpFamily { ipv4: true, ipv6: true }
    }
}

fn enabled() -> bool {
    true
}

/// Declares a component's spec struct: the pod settings every component shares, plus
/// the fields given. (serde cannot flatten into a struct that refuses unknown fields,
/// so the shared fields are repeated by this macro rather than nested.)
macro_rules! component_spec {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty, )* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
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
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $name {
            /// The shared pod settings, for the SDK's pod helpers.
            pub fn pod(&self) -> ComponentSpec {
                ComponentSpec {
                    replicas: self.replicas,
                    resources: self.resources.clone(),
                    node_selector: self.node_selector.clone(),
                    tolerations: self.tolerations.clone(),
                    affinity: self.affinity.clone(),
                    topology_spread_constraints: self.topology_spread_constraints.clone(),
                    priority_class_name: self.priority_class_name.clone(),
                    pod_annotations: self.pod_annotations.clone(),
                    pod_labels: self.pod_labels.clone(),
                    service_account_name: self.service_account_name.clone(),
                    env: self.env.clone(),
                    image: self.image.clone(),
                }
            }
        }
    };
}

component_spec! {
    /// How one component's pods run. Every field is optional; unset means the chart's default.
    #[derive(Default)]
    pub struct ComponentSpec {}
}

component_spec! {
    /// Jobservice: pod settings plus its worker pool and job logs.
    pub struct JobserviceSpec {
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

component_spec! {
    /// Registry: pod settings of the registry container plus the registryctl sidecar.
    pub struct RegistrySpec {
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
}

impl Default for RegistrySpec {
    fn default() -> Self {
        from_empty_object()
    }
}

/// A sidecar container's own knobs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
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
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
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

component_spec! {
    /// Trivy: pod settings plus the scanner's options.
    pub struct TrivySpec {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
pub struct MetricsSpec {
    /// Expose metrics on core, jobservice and registry, and deploy the exporter.
    #[serde(default)]
    pub enabled: bool,
}

/// A persistent volume claim's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
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

/// In-cluster or external, as the chart spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    #[default]
    Internal,
    External,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct DatabaseSpec {
    /// `internal` runs PostgreSQL (the harbor-db image) in the cluster; `external` uses yours.
    #[serde(default, rename = "type")]
    pub type_: Placement,
    #[serde(default)]
    pub internal: InternalDatabase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalDatabase>,
    #[serde(default = "default_max_idle")]
    pub max_idle_conns: u32,
    #[serde(default = "default_max_open")]
    pub max_open_conns: u32,
}

impl Default for DatabaseSpec {
    fn default() -> Self {
        from_empty_object()
    }
}

fn default_max_idle() -> u32 {
    100
}

fn default_max_open() -> u32 {
    900
}

component_spec! {
    /// The in-cluster PostgreSQL StatefulSet.
    pub struct InternalDatabase {
        #[serde(default = "default_database_volume")]
        pub volume: VolumeSpec,
        /// Size of the /dev/shm memory volume.
        #[serde(default = "default_shm")]
        pub shm_size_limit: String,
    }
}

impl Default for InternalDatabase {
    fn default() -> Self {
        from_empty_object()
    }
}

fn default_database_volume() -> VolumeSpec {
    VolumeSpec::sized("1Gi")
}

fn default_shm() -> String {
    "512Mi".to_owned()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct ExternalDatabase {
    /// Host name of the PostgreSQL server.
    #[serde(default)]
    pub host: String,
    #[serde(default = "default_pg_port")]
    pub port: u16,
    pub username: String,
    /// The password: a key of an existing Secret.
    pub password_secret: SecretKeyRef,
    /// Harbor's database (the chart's coreDatabase).
    #[serde(default = "default_core_database")]
    pub database: String,
    #[serde(default)]
    pub sslmode: SslMode,
}

fn default_pg_port() -> u16 {
    5432
}

fn default_core_database() -> String {
    "registry".to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    #[default]
    Disable,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct RedisSpec {
    /// `internal` runs Redis (or Valkey) in the cluster; `external` uses yours.
    #[serde(default, rename = "type")]
    pub type_: Placement,
    #[serde(default)]
    pub internal: InternalRedis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalRedis>,
}

impl Default for RedisSpec {
    fn default() -> Self {
        from_empty_object()
    }
}

component_spec! {
    /// The in-cluster Redis StatefulSet.
    pub struct InternalRedis {
        #[serde(default = "default_redis_volume")]
        pub volume: VolumeSpec,
        /// redis (redis-photon) or valkey (valkey-photon).
        #[serde(default)]
        pub flavor: RedisFlavor,
    }
}

impl Default for InternalRedis {
    fn default() -> Self {
        from_empty_object()
    }
}

fn default_redis_volume() -> VolumeSpec {
    VolumeSpec::sized("1Gi")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum RedisFlavor {
    #[default]
    Redis,
    Valkey,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct ExternalRedis {
    /// "host:port", or a comma-separated list of sentinels "s1:26379,s2:26379".
    pub addr: String,
    /// The sentinel master set; when set, `addr` lists sentinels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentinel_master_set: Option<String>,
    /// ACL user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password: a key of an existing Secret. Must be URL-safe (it is placed in
    /// Redis URLs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<SecretKeyRef>,
    /// Connect with TLS (rediss://).
    #[serde(default)]
    pub tls: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    #[serde(default, rename = "type")]
    pub type_: StorageType,
    #[serde(default = "default_registry_volume")]
    pub filesystem: VolumeSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Storage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swift: Option<SwiftStorage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<AzureStorage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcs: Option<GcsStorage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oss: Option<OssStorage>,
    /// Serve blobs through the registry instead of redirecting clients to the backend.
    #[serde(default)]
    pub disable_redirect: bool,
    /// A Secret with a CA bundle (key `ca.crt`) the registry trusts for the backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle_secret: Option<String>,
}

impl Default for StorageSpec {
    fn default() -> Self {
        from_empty_object()
    }
}

fn default_registry_volume() -> VolumeSpec {
    VolumeSpec::sized("5Gi")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum StorageType {
    #[default]
    Filesystem,
    S3,
    Swift,
    Azure,
    Gcs,
    Oss,
}

impl StorageType {
    pub fn as_str(self) -> &'static str {
        match self {
            StorageType::Filesystem => "filesystem",
            StorageType::S3 => "s3",
            StorageType::Swift => "swift",
            StorageType::Azure => "azure",
            StorageType::Gcs => "gcs",
            StorageType::Oss => "oss",
        }
    }
}

/// S3 or an S3-compatible store. Credentials come from `existingSecret` (keys
/// REGISTRY_STORAGE_S3_ACCESSKEY and REGISTRY_STORAGE_S3_SECRETKEY), or from the pod's
/// identity when it is unset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct S3Storage {
    #[serde(default)]
    pub bucket: String,
    #[serde(default)]
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing_secret: Option<String>,
    #[serde(default)]
    pub encrypt: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default = "enabled")]
    pub secure: bool,
    #[serde(default)]
    pub skip_verify: bool,
    #[serde(default = "enabled")]
    pub v4_auth: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_directory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

/// OpenStack Swift. The password comes from `existingSecret` (keys
/// REGISTRY_STORAGE_SWIFT_PASSWORD, and optionally _SECRETKEY and _ACCESSKEY).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct SwiftStorage {
    #[serde(rename = "authURL")]
    pub auth_url: String,
    pub username: String,
    pub container: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_version: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_size: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// Azure Blob Storage. The account key comes from `existingSecret`
/// (key REGISTRY_STORAGE_AZURE_ACCOUNTKEY).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct AzureStorage {
    pub account_name: String,
    pub container: String,
    pub existing_secret: String,
    #[serde(default = "default_azure_realm")]
    pub realm: String,
}

fn default_azure_realm() -> String {
    "core.windows.net".to_owned()
}

/// Google Cloud Storage. The service-account key comes from `existingSecret` (key
/// GCS_KEY_DATA), unless workload identity is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct GcsStorage {
    pub bucket: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing_secret: Option<String>,
    #[serde(default)]
    pub use_workload_identity: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_directory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_size: Option<u64>,
}

/// Alibaba Cloud OSS. The access key secret comes from `existingSecret`
/// (key REGISTRY_STORAGE_OSS_ACCESSKEYSECRET).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct OssStorage {
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub existing_secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub encrypt: bool,
    #[serde(default = "enabled")]
    pub secure: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_directory: Option<String>,
}

/// How Harbor is reached. The routing is the chart's everywhere: /api/, /service/, /v2/
/// and /c/ go to core, everything else to the portal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct ExposeSpec {
    #[serde(default, rename = "type")]
    pub type_: ExposeType,
    /// TLS termination: a `kubernetes.io/tls` Secret for the ingress or the nginx proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressExpose>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteExpose>,
    /// The Service in front of the nginx proxy (clusterIP, nodePort, loadBalancer).
    #[serde(default)]
    pub service: ServiceExpose,
    /// The nginx proxy's pods (clusterIP, nodePort, loadBalancer).
    #[serde(default)]
    pub nginx: ComponentSpec,
}

impl Default for ExposeSpec {
    fn default() -> Self {
        from_empty_object()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum ExposeType {
    Ingress,
    /// A Gateway API HTTPRoute.
    Route,
    #[default]
    ClusterIP,
    NodePort,
    LoadBalancer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct IngressExpose {
    /// The host users reach Harbor at.
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct RouteExpose {
    /// Gateways the route attaches to.
    pub parent_refs: Vec<ParentRef>,
    pub hostnames: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct ParentRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct ServiceExpose {
    /// Service name; default `harbor` as in the chart.
    #[serde(default = "default_expose_name")]
    pub name: String,
    #[serde(default = "default_http_port")]
    pub http_port: u16,
    #[serde(default = "default_https_port")]
    pub https_port: u16,
    /// nodePort numbers (type nodePort).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_node_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_node_port: Option<u16>,
    /// type loadBalancer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_ranges: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Default for ServiceExpose {
    fn default() -> Self {
        from_empty_object()
    }
}

fn default_expose_name() -> String {
    "harbor".to_owned()
}

fn default_http_port() -> u16 {
    80
}

fn default_https_port() -> u16 {
    443
}

/// A struct's defaults are exactly what an empty object deserializes to, so the
/// `Default` impls and serde's field defaults cannot drift apart.
fn from_empty_object<T: serde::de::DeserializeOwned>() -> T {
    match serde_json::from_value(serde_json::Value::Object(serde_json::Map::new())) {
        Ok(value) => value,
        Err(e) => unreachable!("every field of this struct has a default: {e}"),
    }
}
