//! Plugins distributed as OCI artifacts: pulled by tag or digest within size and time
//! bounds, checked against the digest a policy pins, verified against cosign keyed
//! signatures, and kept by digest in a local content store so a restart neither pulls
//! nor depends on the registry.
//!
//! - [`artifact`]: the Wasm OCI artifact layout and the limits a pull is held to.
//! - [`credentials`]: registry credentials from `kubernetes.io/dockerconfigjson`.
//! - [`registry`]: pull and push through `oci-client`.
//! - [`signature`]: cosign key pairs, signing and verification through `sigstore`.
//! - [`store`]: the local content store.
//! - [`fetch`]: one policy version's bytes: store, registry, digest and signatures.

pub mod artifact;
pub mod credentials;
mod error;
pub mod fetch;
pub mod registry;
pub mod signature;
pub mod store;

pub use error::OciError;
