//! Plain Rust mirror of the WIT contract (`wit/renderer.wit`).
//!
//! The guest bindings and the host's bindings are generated separately; both convert to
//! and from these types, so plugin logic and host logic share one vocabulary and plugin
//! renderers can be unit-tested natively without a WebAssembly runtime.

use serde::{Deserialize, Serialize};

/// The version of the WIT package this SDK implements (`berth:plugin@0.1.0`).
pub const CONTRACT_VERSION: &str = "0.1.0";

/// The exported interface name a component of this contract version carries.
pub const RENDERER_INTERFACE: &str = "berth:plugin/renderer@0.1.0";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginDescription {
    pub name: String,
    pub version: String,
    pub component: String,
    pub harbor_versions: Vec<String>,
    pub contract_version: String,
}

impl PluginDescription {
    /// True when `harbor_version` ("2.15.1") starts with one of the supported
    /// "major.minor" prefixes.
    pub fn supports_harbor(&self, harbor_version: &str) -> bool {
        let minor = major_minor(harbor_version);
        self.harbor_versions.iter().any(|v| Some(v.as_str()) == minor)
    }
}

/// "2.15.1" -> Some("2.15"); anything without two dots' worth of numbers -> None.
pub fn major_minor(version: &str) -> Option<&str> {
    let mut parts = version.splitn(3, '.');
    let major = parts.next()?;
    let minor = parts.next()?;
    let patch = parts.next()?;
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if numeric(major) && numeric(minor) && numeric(patch) { Some(&version[..major.len() + 1 + minor.len()]) } else { None }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ClusterIdentity {
    pub name: String,
    pub namespace: String,
    /// Empty when rendering offline.
    pub uid: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderInput {
    pub cluster: ClusterIdentity,
    pub harbor_version: String,
    pub spec_json: String,
    pub topology_json: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SecretValue {
    RandomString(u32),
    RsaKeyWithCert { bits: u32, common_name: String, validity_days: u32, certificate_key: String },
    BcryptHtpasswd { username: String, password_key: String },
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GeneratedKey {
    pub key: String,
    pub value: SecretValue,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GeneratedSecret {
    pub name: String,
    pub keys: Vec<GeneratedKey>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub kind: String,
    pub status: ConditionStatus,
    pub reason: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RenderOutput {
    pub objects: Vec<String>,
    pub secrets: Vec<GeneratedSecret>,
    pub conditions: Vec<Condition>,
}

/// Why a render failed, as the contract spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RenderError {
    InvalidSpec { field: String, message: String },
    Unsupported(String),
    Internal(String),
}

impl RenderError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        RenderError::InvalidSpec { field: field.into(), message: message.into() }
    }
}

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RenderError::InvalidSpec { field, message } => {
                write!(f, "invalid spec: {field}: {message}")
            }
            RenderError::Unsupported(message) => write!(f, "unsupported: {message}"),
            RenderError::Internal(message) => write!(f, "internal plugin error: {message}"),
        }
    }
}

impl std::error::Error for RenderError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_minor_accepts_only_full_numeric_versions() {
        assert_eq!(major_minor("2.15.1"), Some("2.15"));
        assert_eq!(major_minor("10.2.0"), Some("10.2"));
        assert_eq!(major_minor("2.15"), None);
        assert_eq!(major_minor("v2.15.1"), None);
        assert_eq!(major_minor("2.x.1"), None);
    }
}
