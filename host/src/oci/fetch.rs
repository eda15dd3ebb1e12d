//! One policy version's bytes from an OCI source: from the content store when the
//! registry says the reference still points where it did, from the registry otherwise,
//! and from the store alone while the registry is unreachable. The .wasm must have the
//! digest the policy pins and, when signatures are required, a signature by one of the
//! policy's keys over the manifest digest.

use oci_client::secrets::RegistryAuth;
use sigstore::cosign::verification_constraint::PublicKeyVerifier;

use super::OciError;
use super::artifact::PullLimits;
use super::registry::{self, sha256};
use super::signature::{self, StoredSignature};
use super::store::{ContentStore, ManifestRecord};
use crate::error_chain::error_chain;

/// What to fetch, as a policy version names it.
pub struct Request<'a> {
    pub reference: &'a str,
    pub insecure: bool,
    pub auth: RegistryAuth,
    /// The .wasm digest the policy pins, "sha256:…".
    pub expected: &'a str,
    /// The keys one of which must have signed it; None when signatures are not required.
    pub keys: Option<&'a [PublicKeyVerifier]>,
}

/// Where the bytes came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Pulled now.
    Registry,
    /// The reference still resolves to a manifest stored before: nothing downloaded.
    Store,
    /// The registry could not be reached (the message says why); the stored copy stands
    /// in for it until it can.
    StoreWhileUnreachable(String),
}

#[derive(Debug)]
pub struct Fetched {
    pub wasm: Vec<u8>,
    pub manifest_digest: String,
    pub origin: Origin,
}

pub async fn fetch(request: &Request<'_>, store: Option<&ContentStore>, limits: &PullLimits) -> Result<Fetched, OciError> {
    let reference = registry::parse_reference(request.reference)?;
    let repository = format!("{}/{}", reference.registry(), reference.repository());
    let client = registry::client(request.insecure, limits);
    let offline = |cause: OciError| from_store_offline(request, store, &repository, reference.digest(), cause);

    let manifest_digest = match registry::resolve(&client, &reference, &request.auth, limits).await {
        Ok(digest) => digest,
        Err(e) if e.is_transient() => return offline(e),
        Err(e) => return Err(e),
    };

    if let Some(store) = store
        && let Some(record) = store.manifest(&manifest_digest)
        && let Some(wasm) = store.wasm(&record.wasm_digest)
    {
        check_digest(request, &record.wasm_digest)?;
        let record = match request.keys {
            None => record,
            Some(keys) => {
                let stored = record.signatures.clone().unwrap_or_default();
                if signature::verify(request.reference, &manifest_digest, &stored, keys).is_ok() {
                    record
                } else {
                    // Signed (or re-signed) since it was stored: ask the registry again.
                    let found = match signature::fetch(&client, &reference, &manifest_digest, &request.auth, request.insecure, limits).await
                    {
                        Ok(found) => found,
                        Err(e) if e.is_transient() => return offline(e),
                        Err(e) => return Err(e),
                    };
                    signature::verify(request.reference, &manifest_digest, &found, keys)?;
                    let record = ManifestRecord { signatures: Some(found), ..record };
                    store.put(&wasm, &record)?;
                    record
                }
            }
        };
        return Ok(Fetched { wasm, manifest_digest: record.manifest_digest, origin: Origin::Store });
    }

    let pinned = reference.clone_with_digest(manifest_digest.clone());
    let pulled = match registry::pull(&client, &pinned, &request.auth, limits).await {
        Ok(pulled) => pulled,
        Err(e) if e.is_transient() => return offline(e),
        Err(e) => return Err(e),
    };
    check_digest(request, &sha256(&pulled.wasm))?;
    let signatures = match request.keys {
        None => None,
        Some(keys) => {
            let found = match signature::fetch(&client, &reference, &pulled.manifest_digest, &request.auth, request.insecure, limits).await
            {
                Ok(found) => found,
                Err(e) if e.is_transient() => return offline(e),
                Err(e) => return Err(e),
            };
            signature::verify(request.reference, &pulled.manifest_digest, &found, keys)?;
            Some(found)
        }
    };
    if let Some(store) = store {
        let record = ManifestRecord {
            repository,
            manifest_digest: pulled.manifest_digest.clone(),
            wasm_digest: request.expected.to_owned(),
            signatures,
        };
        if let Err(e) = store.put(&pulled.wasm, &record) {
            // Still usable now; only a restart during an outage will miss it.
            tracing::warn!(reference = request.reference, error = %error_chain(&e), "could not keep a pulled plugin in the local store");
        }
    }
    Ok(Fetched { wasm: pulled.wasm, manifest_digest: pulled.manifest_digest, origin: Origin::Registry })
}

/// A tag moved to other bytes is refused, never followed.
fn check_digest(request: &Request<'_>, actual: &str) -> Result<(), OciError> {
    if actual == request.expected {
        return Ok(());
    }
    Err(OciError::DigestMismatch {
        what: format!("the .wasm {} points at (moved tag, or a wrong digest in the policy)", request.reference),
        expected: request.expected.to_owned(),
        actual: actual.to_owned(),
    })
}

/// The registry is unreachable: the stored copy of exactly the pinned .wasm, with its
/// stored signatures verified again, or the registry's error.
fn from_store_offline(
    request: &Request<'_>,
    store: Option<&ContentStore>,
    repository: &str,
    pinned_manifest: Option<&str>,
    cause: OciError,
) -> Result<Fetched, OciError> {
    let Some(store) = store else { return Err(cause) };
    let record = match pinned_manifest {
        Some(digest) => store.manifest(digest).filter(|r| r.repository == repository && r.wasm_digest == request.expected),
        None => store.by_wasm(repository, request.expected),
    };
    let Some(record) = record else { return Err(cause) };
    let Some(wasm) = store.wasm(&record.wasm_digest) else { return Err(cause) };
    if let Some(keys) = request.keys {
        let stored: &[StoredSignature] = record.signatures.as_deref().unwrap_or_default();
        if signature::verify(request.reference, &record.manifest_digest, stored, keys).is_err() {
            return Err(cause);
        }
    }
    Ok(Fetched { wasm, manifest_digest: record.manifest_digest, origin: Origin::StoreWhileUnreachable(error_chain(&cause)) })
}
