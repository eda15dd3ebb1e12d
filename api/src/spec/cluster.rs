//! The HarborCluster resource and its cluster-wide settings: version, URL, images,
//! logging, admin password, proxy, deletion policy, plugin pins.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[cfg(feature = "kube")]
use crate::status::HarborClusterStatus;

use super::backing::{DatabaseSpec, RedisSpec};
use super::backup::BackupSpec;
use super::components::{ComponentSpec, JobserviceSpec, RegistrySpec, TrivySpec};
use super::enabled;
use super::expose::ExposeSpec;
use super::storage::StorageSpec;
use super::upgrade::UpgradeSpec;

/// A Harbor registry: its version, where it is reached, and how each component runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
        printcolumn = r#"{"name":"Running","type":"string","jsonPath":".status.version"}"#,
        printcolumn = r#"{"name":"Wanted","type":"string","jsonPath":".spec.version"}"#,
        printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
        printcolumn = r#"{"name":"Upgrade","type":"string","jsonPath":".status.upgrade.step","priority":1}"#,
        printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.readyComponents"}"#,
        printcolumn = r#"{"name":"URL","type":"string","jsonPath":".status.externalURL"}"#,
        printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
    )
)]
#[serde(rename_all = "camelCase")]
pub struct HarborClusterSpec {
    /// Harbor version to run, "major.minor.patch" (2.13.x, 2.14.x or 2.15.x). Changing it
    /// on a running cluster upgrades Harbor through the steps of `status.upgrade`.
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

    /// Backups of the database and the generated Secrets: schedule, retention and
    /// destination. Absent: no backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupSpec>,

    /// How a change of `version` is carried out: window, backup, timeout, guards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<UpgradeSpec>,

    /// Take over an existing install of Harbor made by the official Helm chart: its
    /// objects (same names, from `berth import`) become this cluster's, its generated
    /// Secrets are kept with every value as it is, and its chart-only objects are removed
    /// once nothing reads them. Without it Berth never touches an object it did not create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopt: Option<AdoptSpec>,

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

/// Which install to take over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AdoptSpec {
    /// The Helm release name (`helm list` shows it). Objects carrying the chart's labels
    /// `release=<name>` and `heritage=Helm`, or Helm's `meta.helm.sh/release-name`
    /// annotation with it, in this namespace, are adopted.
    #[cfg_attr(
        feature = "schema",
        schemars(length(min = 1, max = 53), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"))
    )]
    pub helm_release: String,
}

/// A plugin version or digest one HarborCluster is held to. Exactly one of the two.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
pub struct SecretRef {
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MetricsSpec {
    /// Expose metrics on core, jobservice and registry, and deploy the exporter.
    #[serde(default)]
    pub enabled: bool,
}
