use std::time::Duration;

/// Why an OCI plugin could not be pulled, pushed or trusted. [`OciError::reason`] is the
/// stable word a PluginPolicy's status and its `PluginRefused` Event carry.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("{reference:?} is not an OCI reference (registry/repository:tag or @sha256:…): {message}")]
    BadReference { reference: String, message: String },
    #[error("registry {registry} is unreachable or failing")]
    Unreachable {
        registry: String,
        #[source]
        source: oci_client::errors::OciDistributionError,
    },
    #[error("{reference} was not found in its registry")]
    NotFound {
        reference: String,
        #[source]
        source: oci_client::errors::OciDistributionError,
    },
    #[error("registry {registry} refused the credentials")]
    Unauthorized {
        registry: String,
        #[source]
        source: oci_client::errors::OciDistributionError,
    },
    #[error("talking to registry {registry} took longer than {limit:?}")]
    Timeout { registry: String, limit: Duration },
    #[error("{what} is {size} bytes, more than the {limit} allowed")]
    TooLarge { what: String, size: u64, limit: u64 },
    #[error("{reference} is not a Wasm OCI artifact: {problem}")]
    NotWasmArtifact { reference: String, problem: String },
    #[error("{what} does not match its digest: got {actual}, expected {expected}")]
    DigestMismatch { what: String, expected: String, actual: String },
    #[error("{reference} carries no signature (cosign stores it as the tag sha256-<digest>.sig)")]
    Unsigned { reference: String },
    #[error(
        "none of the {signatures} signature(s) of {reference} verifies with the {keys} key(s) listed: signed by another key, or altered after signing"
    )]
    UnknownKey { reference: String, signatures: usize, keys: usize },
    #[error("a signature of {reference} is malformed or signs another artifact: {problem}")]
    BadSignature { reference: String, problem: String },
    #[error("signature key {which}: {problem}")]
    InvalidKey { which: String, problem: String },
    #[error("signing {reference} failed")]
    Sign {
        reference: String,
        #[source]
        source: sigstore::errors::SigstoreError,
    },
    #[error("the local plugin store at {path}")]
    Store {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Credentials(String),
}

impl OciError {
    /// The stable reason a refused version shows.
    pub fn reason(&self) -> &'static str {
        match self {
            OciError::BadReference { .. } => "InvalidReference",
            OciError::Unreachable { .. } | OciError::Timeout { .. } => "RegistryUnreachable",
            OciError::NotFound { .. } => "ArtifactNotFound",
            OciError::Unauthorized { .. } | OciError::Credentials(_) => "RegistryUnauthorized",
            OciError::TooLarge { .. } => "ArtifactTooLarge",
            OciError::NotWasmArtifact { .. } => "NotWasmArtifact",
            OciError::DigestMismatch { .. } => "DigestMismatch",
            OciError::Unsigned { .. } => "Unsigned",
            OciError::UnknownKey { .. } => "UnknownKey",
            OciError::BadSignature { .. } => "BadSignature",
            OciError::InvalidKey { .. } => "InvalidKey",
            OciError::Sign { .. } => "SignFailed",
            OciError::Store { .. } => "StoreFailed",
        }
    }

    /// Whether trying again later may succeed without anyone changing anything: the
    /// registry was down or slow. Only then is a stored copy used in its place.
    pub fn is_transient(&self) -> bool {
        matches!(self, OciError::Unreachable { .. } | OciError::Timeout { .. })
    }
}
