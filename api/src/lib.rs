//! Berth's API: the `HarborCluster`, `PluginPolicy`, `HarborBackup` and `HarborRestore` resources (`berth.dev/v1alpha1`),
//! spec and status, defined once for the host and the plugin SDK.
//!
//! Plugins see only the spec (as JSON, through the WIT contract); the status and the
//! PluginPolicy are the host's, behind the `kube` feature.

#![forbid(unsafe_code)]

#[cfg(feature = "kube")]
pub mod backup;
pub mod keys;
#[cfg(feature = "kube")]
pub mod policy;
pub mod spec;
pub mod status;
pub mod version;

#[cfg(feature = "kube")]
pub use spec::HarborCluster;
pub use spec::HarborClusterSpec;
pub use version::{HARBOR_MINORS, major_minor};
