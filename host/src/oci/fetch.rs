//! One policy version's bytes from an OCI source: from the content store when the
//! registry says the reference still points where it did, from the registry otherwise,
//! and from the store alone while the registry is unreachable. The .wasm must have the
//! digest the policy pins and, when signatures are required, a signature by one of the
//! policy's keys over the manifest digest.

use oci_client::Reference;
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
    match online(request, &reference, &repository, store, limits).await {
        // Whichever request found the registry down, the stored copy stands in.
        Err(cause) if cause.is_transient() => from_store_offline(request, store, &repository, reference.digest(), cause),
        other => other,
    }
}

/// The fetch while the registry answers: one HEAD request when the reference still
/// names a stored manifest, the pull otherwise.
async fn online(
    request: &Request<'_>,
    reference: &Reference,
    repository: &str,
    store: Option<&ContentStore>,
    limits: &PullLimits,
) -> Result<Fetched, OciError> {
    let client = registry::client(request.insecure, limits);
    let manifest_digest = registry::resolve(&client, reference, &request.auth, limits).await?;

    if let Some(store) = store
        && let Some(record) = store.manifest(&manifest_digest)
        && let Some(wasm) = store.wasm(&record.wasm_digest)
    {
        check_digest(request, &record.wasm_digest)?;
        if let Some(keys) = request.keys {
            let stored = record.signatures.clone().unwrap_or_default();
            if signature::verify(request.reference, &manifest_digest, &stored, keys).is_err() {
                // Signed (or re-signed) since it was stored: ask the registry again.
                let found = verified_signatures(&client, request, reference, &manifest_digest, keys, limits).await?;
                store.put(&wasm, &ManifestRecord { signatures: Some(found), ..record })?;
            }
        }
        return Ok(Fetched { wasm, manifest_digest, origin: Origin::Store });
    }

    let pinned = reference.clone_with_digest(manifest_digest);
    let pulled = registry::pull(&client, &pinned, &request.auth, limits).await?;
    check_digest(request, &sha256(&pulled.wasm))?;
    let signatures = match request.keys {
        None => None,
        Some(keys) => Some(verified_signatures(&client, request, reference, &pulled.manifest_digest, keys, limits).await?),
    };
    if let Some(store) = store {
        let record = ManifestRecord {
            repository: repository.to_owned(),
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

/// The registry's signatures of the artifact at `digest`, once one of `keys` verifies.
async fn verified_signatures(
    client: &oci_client::Client,
    request: &Request<'_>,
    reference: &Reference,
    digest: &str,
    keys: &[PublicKeyVerifier],
    limits: &PullLimits,
) -> Result<Vec<StoredSignature>, OciError> {
    let found = signature::fetch(client, reference, digest, &request.auth, request.insecure, limits).await?;
    signature::verify(request.reference, digest, &found, keys)?;
    Ok(found)
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
