//! Everything that can go wrong between the host and a plugin, as one typed error.
//! None of these crashes the operator; each reaches the HarborCluster's status.

use std::path::PathBuf;
use std::time::Duration;

/// A boxed source error (wasmtime's errors are `anyhow`-style; boxing keeps the chain).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("plugin {plugin} ran past its {budget:?} deadline and was stopped")]
    Timeout { plugin: String, budget: Duration },

    #[error("plugin {plugin} tried to grow its memory past the {limit}-byte cap")]
    MemoryExceeded { plugin: String, limit: u64 },

    #[error("plugin {plugin} trapped: {message}")]
    Trap {
        plugin: String,
        message: String,
        #[source]
        source: BoxError,
    },

    #[error("plugin {plugin} returned {actual} bytes of objects, over the {limit}-byte cap")]
    OutputTooLarge { plugin: String, limit: usize, actual: usize },

    #[error(
        "plugin {plugin} tried to pass the host more than {limit} bytes in one call (its output cap plus a small margin); nothing past that was copied"
    )]
    CopyBudgetExceeded { plugin: String, limit: usize },

    #[error("plugin {plugin} returned {actual} objects, over the cap of {limit}")]
    TooManyObjects { plugin: String, limit: usize, actual: usize },

    #[error("the input for plugin {plugin} is {actual} bytes, over the {limit}-byte cap")]
    InputTooLarge { plugin: String, limit: usize, actual: usize },

    #[error("plugin {plugin} returned invalid output: {reason}")]
    InvalidOutput { plugin: String, reason: String },

    #[error("plugin {plugin} speaks contract {found}, this host serves {expected}")]
    ContractMismatch { plugin: String, expected: String, found: String },

    #[error("plugin {plugin} imports {name}, which is not on the host's allow-list")]
    ForbiddenImport { plugin: String, name: String },

    #[error("no plugin named {name:?} in the plugin directory")]
    PluginNotFound { name: String },

    #[error("plugin {plugin} has digest {actual}, but {expected} was required")]
    DigestMismatch { plugin: String, expected: String, actual: String },

    #[error("plugin {plugin} could not be compiled")]
    Compile {
        plugin: String,
        #[source]
        source: BoxError,
    },

    #[error("plugin {plugin} could not be instantiated")]
    Instantiate {
        plugin: String,
        #[source]
        source: BoxError,
    },

    #[error("plugin {plugin} describes itself badly: {reason}")]
    BadDescription { plugin: String, reason: String },

    // The refusal is in the message, not a source: the generated type's own Display is
    // its Debug form, which no log line, status or Event should carry.
    #[error("plugin {plugin} refused to render: {}", crate::contract::DisplayRenderError(error))]
    Rejected { plugin: String, error: crate::contract::RenderError },

    #[error("reading plugin {name:?} from the plugin directory failed")]
    ReadPlugin {
        name: String,
        #[source]
        source: std::io::Error,
    },

    #[error("the precompiled cache at {path} failed")]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the precompiled cache at {path} is not safe to use: {reason}")]
    UnsafeCache { path: PathBuf, reason: String },

    #[error("the WebAssembly engine could not be configured")]
    Engine {
        #[source]
        source: BoxError,
    },
}

impl SandboxError {
    /// A short, stable label for metrics and Event reasons.
    pub fn reason(&self) -> &'static str {
        match self {
            SandboxError::Timeout { .. } => "PluginTimeout",
            SandboxError::MemoryExceeded { .. } => "PluginMemoryExceeded",
            SandboxError::Trap { .. } => "PluginTrapped",
            SandboxError::OutputTooLarge { .. } | SandboxError::CopyBudgetExceeded { .. } => "PluginOutputTooLarge",
            SandboxError::TooManyObjects { .. } => "PluginTooManyObjects",
            SandboxError::InputTooLarge { .. } => "PluginInputTooLarge",
            SandboxError::InvalidOutput { .. } => "PluginInvalidOutput",
            SandboxError::ContractMismatch { .. } => "PluginContractMismatch",
            SandboxError::ForbiddenImport { .. } => "PluginForbiddenImport",
            SandboxError::PluginNotFound { .. } => "PluginNotFound",
            SandboxError::DigestMismatch { .. } => "PluginDigestMismatch",
            SandboxError::Compile { .. } => "PluginCompileFailed",
            SandboxError::Instantiate { .. } => "PluginInstantiateFailed",
            SandboxError::BadDescription { .. } => "PluginBadDescription",
            SandboxError::Rejected { error, .. } => match error {
                crate::contract::RenderError::InvalidSpec(_) => "InvalidSpec",
                crate::contract::RenderError::Unsupported(_) => "Unsupported",
                crate::contract::RenderError::Internal(_) => "PluginInternalError",
            },
            SandboxError::ReadPlugin { .. } => "PluginUnreadable",
            SandboxError::Cache { .. } | SandboxError::UnsafeCache { .. } => "PrecompiledCache",
            SandboxError::Engine { .. } => "EngineConfig",
        }
    }
}

/// Turns wasmtime's error into a boxed std error without losing its chain.
pub(crate) fn boxed(error: wasmtime::Error) -> BoxError {
    error.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{InvalidSpec, RenderError};

    #[test]
    fn a_refusal_reads_as_the_plugin_said_it_not_as_a_debug_dump() {
        let invalid = RenderError::InvalidSpec(InvalidSpec { field: "spec.portal.replicas".to_owned(), message: "must be 1".to_owned() });
        let error = SandboxError::Rejected { plugin: "berth-portal".to_owned(), error: invalid };
        assert_eq!(
            crate::error_chain::error_chain(&error),
            "plugin berth-portal refused to render: invalid spec: spec.portal.replicas: must be 1"
        );
        let error = SandboxError::Rejected { plugin: "p".to_owned(), error: RenderError::Unsupported("Harbor 2.9".to_owned()) };
        assert_eq!(error.to_string(), "plugin p refused to render: unsupported: Harbor 2.9");
    }
}
