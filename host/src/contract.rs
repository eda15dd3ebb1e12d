//! The plugin contract as the host sees it: the types `wasmtime::component::bindgen!`
//! generates from `wit/renderer.wit` (see `sandbox::bindings`), used as they are from
//! the sandbox to the controller. No mirror and no converter stands between the WIT and
//! the host's code.

pub use crate::sandbox::bindings::exports::berth::plugin::renderer::{
    BackupTask, BcryptHtpasswd, ClusterIdentity, ComponentTopology, Condition, ConditionStatus, ContainerImage, DatabaseEndpoint,
    DeleteTask, GeneratedKey, GeneratedSecret, InvalidSpec, KeyValue, MigrateTask, PluginDescription, RedisEndpoint, RedisIndices,
    RenderError, RenderInput, RenderOutput, RestoreTask, RsaKeyWithCert, SecretKeyRef, SecretNames, SecretValue, Task, Topology,
};

/// The version of the WIT package the host serves (`berth:plugin@0.4.0`). A test keeps
/// it equal to the package line of `wit/renderer.wit`.
pub const CONTRACT_VERSION: &str = "0.4.0";

/// The exported interface name a component of this contract version carries.
pub const RENDERER_INTERFACE: &str = "berth:plugin/renderer@0.4.0";

impl PluginDescription {
    /// True when `harbor_version` ("2.15.1") is of a "major.minor" it lists.
    pub fn supports_harbor(&self, harbor_version: &str) -> bool {
        berth_api::version::renders(&self.harbor_versions, harbor_version)
    }
}

impl ConditionStatus {
    /// As Kubernetes spells it in a condition.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

/// How a plugin's error reads in a log line, status and an Event.
pub struct DisplayRenderError<'a>(pub &'a RenderError);

impl std::fmt::Display for DisplayRenderError<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            RenderError::InvalidSpec(InvalidSpec { field, message }) => write!(f, "invalid spec: {field}: {message}"),
            RenderError::Unsupported(message) => write!(f, "unsupported: {message}"),
            RenderError::Internal(message) => write!(f, "internal plugin error: {message}"),
        }
    }
}

impl SecretKeyRef {
    pub fn new(name: impl Into<String>, key: impl Into<String>) -> Self {
        SecretKeyRef { name: name.into(), key: key.into() }
    }
}

impl Topology {
    /// The topology of one component, if the host resolved one.
    pub fn component(&self, name: &str) -> Option<&ComponentTopology> {
        self.components.iter().find(|c| c.component == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_version_is_the_wit_package_version() {
        let wit = include_str!("../../wit/renderer.wit");
        assert!(
            wit.lines().any(|l| l == format!("package berth:plugin@{CONTRACT_VERSION};")),
            "wit/renderer.wit is not {CONTRACT_VERSION}"
        );
        assert_eq!(RENDERER_INTERFACE, format!("berth:plugin/renderer@{CONTRACT_VERSION}"));
    }
}
