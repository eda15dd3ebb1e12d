//! The HarborCluster status the host writes. Plugins never see it; it lives here so the
//! CRD derive can name it next to the spec.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct HarborClusterStatus {
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Provisioning, Ready, Degraded or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// "ready/total" components, for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_components: Option<String>,
    #[serde(rename = "externalURL", default, skip_serializing_if = "Option::is_none")]
    pub external_url: Option<String>,
    /// The Harbor version running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<StatusCondition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ComponentStatus>,
}

/// A condition as Kubernetes spells it, without the timestamp that would make status
/// change while nothing happens.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct StatusCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
    #[serde(default)]
    pub message: String,
}

/// What rendered a component and whether it runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    pub name: String,
    pub plugin: String,
    pub plugin_version: String,
    /// sha256 of the plugin's .wasm, "sha256:<hex>".
    pub plugin_digest: String,
    #[serde(default)]
    pub desired_replicas: i32,
    #[serde(default)]
    pub ready_replicas: i32,
    #[serde(default)]
    pub ready: bool,
    /// Why this plugin version: "bundled", "stable", "canary", "pinned", or
    /// "rolled back from <version>" after a failed canary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
