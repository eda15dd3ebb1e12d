//! The HarborCluster spec (`berth.dev/v1alpha1`), defined once for host and plugins.
//!
//! Field names follow the Harbor Helm chart's values where that is natural, so a chart
//! user recognises them. The host builds with the `strict` feature, which refuses unknown
//! fields (a typo is named, not ignored); plugins build without it, so a newer host can
//! add fields without breaking older plugins.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, EnvVar, ResourceRequirements, Toleration, TopologySpreadConstraint,
};
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

    /// The web UI (an nginx serving static files).
    #[serde(default)]
    pub portal: ComponentSpec,
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
        IpFamily {
            ipv4: true,
            ipv6: true,
        }
    }
}

fn enabled() -> bool {
    true
}

/// How one component's pods run. Every field is optional; unset means the chart's default.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "strict", serde(deny_unknown_fields))]
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
