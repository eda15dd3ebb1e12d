//! Where image blobs live: a volume or an object store.

use serde::{Deserialize, Serialize};

use super::components::VolumeSpec;
use super::{enabled, from_empty_object};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
