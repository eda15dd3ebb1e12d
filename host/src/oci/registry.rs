//! Pull and push of plugin artifacts through `oci-client`, every call bounded in time
//! and every body in size.

use std::future::Future;

use futures::StreamExt as _;
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciImageManifest;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::{Digest as _, Sha256};

use super::OciError;
use super::artifact::{self, OCI_MANIFEST_MEDIA_TYPE, PullLimits, WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE};

/// A reference as a policy or the CLI writes it.
pub fn parse_reference(reference: &str) -> Result<Reference, OciError> {
    let parsed: Reference = reference
        .parse()
        .map_err(|e: oci_client::ParseError| OciError::BadReference { reference: reference.to_owned(), message: e.to_string() })?;
    // Without a registry the crate would assume Docker Hub; a plugin reference names its
    // registry, so "repo:tag" alone is a mistake rather than a pull from the internet.
    let first = reference.split('/').next().unwrap_or_default();
    if !reference.contains('/') || !(first.contains('.') || first.contains(':') || first == "localhost") {
        return Err(OciError::BadReference {
            reference: reference.to_owned(),
            message: "it must start with the registry's host".to_owned(),
        });
    }
    Ok(parsed)
}

/// A client for one registry: plain HTTP when `insecure`, each request held to the
/// limits' timeout.
pub fn client(insecure: bool, limits: &PullLimits) -> Client {
    Client::new(client_config(insecure, limits))
}

pub fn client_config(insecure: bool, limits: &PullLimits) -> ClientConfig {
    ClientConfig {
        protocol: if insecure { ClientProtocol::Http } else { ClientProtocol::Https },
        connect_timeout: Some(limits.timeout.min(std::time::Duration::from_secs(10))),
        read_timeout: Some(limits.timeout),
        ..ClientConfig::default()
    }
}

/// A plugin as pulled: the manifest digest it was pulled at and the component's bytes.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub manifest_digest: String,
    pub wasm: Vec<u8>,
}

/// The manifest digest `reference` points at now (a HEAD request: nothing is
/// downloaded).
pub async fn resolve(client: &Client, reference: &Reference, auth: &RegistryAuth, limits: &PullLimits) -> Result<String, OciError> {
    if let Some(digest) = reference.digest() {
        return Ok(digest.to_owned());
    }
    bounded(reference, limits, async { client.fetch_manifest_digest(reference, auth).await.map_err(|e| classify(reference, e)) }).await
}

/// Pulls a plugin: the manifest (within `limits.manifest_bytes`), checked to be a Wasm
/// artifact whose declared sizes are within limits, then its one wasm layer, read no
/// further than its declared size and checked against its digest.
pub async fn pull(client: &Client, reference: &Reference, auth: &RegistryAuth, limits: &PullLimits) -> Result<Pulled, OciError> {
    bounded(reference, limits, async {
        let (raw, digest) =
            client.pull_manifest_raw(reference, auth, &[OCI_MANIFEST_MEDIA_TYPE]).await.map_err(|e| classify(reference, e))?;
        if raw.len() as u64 > limits.manifest_bytes {
            return Err(OciError::TooLarge {
                what: format!("the manifest of {reference}"),
                size: raw.len() as u64,
                limit: limits.manifest_bytes,
            });
        }
        let manifest_digest = sha256(&raw);
        let expected = reference.digest().unwrap_or(&digest);
        if manifest_digest != expected {
            return Err(OciError::DigestMismatch {
                what: format!("the manifest of {reference}"),
                expected: expected.to_owned(),
                actual: manifest_digest,
            });
        }
        let manifest: OciImageManifest = serde_json::from_slice(&raw)
            .map_err(|e| OciError::NotWasmArtifact { reference: reference.to_string(), problem: format!("manifest: {e}") })?;
        let layer = artifact::wasm_layer(&reference.to_string(), &manifest, limits)?;
        let declared = u64::try_from(layer.size).unwrap_or(u64::MAX);
        let mut stream = client.pull_blob_stream(reference, layer).await.map_err(|e| classify(reference, e))?;
        let mut wasm = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| classify(reference, OciDistributionError::IoError(e)))?;
            if (wasm.len() + chunk.len()) as u64 > declared {
                return Err(OciError::TooLarge {
                    what: format!("the wasm layer of {reference}"),
                    size: (wasm.len() + chunk.len()) as u64,
                    limit: declared,
                });
            }
            wasm.extend_from_slice(&chunk);
        }
        let actual = sha256(&wasm);
        if actual != layer.digest {
            return Err(OciError::DigestMismatch {
                what: format!("the wasm layer of {reference}"),
                expected: layer.digest.clone(),
                actual,
            });
        }
        Ok(Pulled { manifest_digest, wasm })
    })
    .await
}

/// Signature payloads are a few hundred bytes each; cosign adds one layer per signature.
const MAX_SIGNATURE_LAYERS: usize = 64;
const MAX_SIGNATURE_LAYER_BYTES: i64 = 64 << 10;

/// Checks a cosign `.sig` manifest's size, layer count and layer sizes, so that what
/// sigstore then downloads in full is bounded.
pub async fn signature_manifest(client: &Client, tag: &Reference, auth: &RegistryAuth, limits: &PullLimits) -> Result<(), OciError> {
    bounded(tag, limits, async {
        let accepted = [OCI_MANIFEST_MEDIA_TYPE, "application/vnd.docker.distribution.manifest.v2+json"];
        let (raw, _) = client.pull_manifest_raw(tag, auth, &accepted).await.map_err(|e| classify(tag, e))?;
        if raw.len() as u64 > limits.manifest_bytes {
            return Err(OciError::TooLarge {
                what: format!("the signature manifest {tag}"),
                size: raw.len() as u64,
                limit: limits.manifest_bytes,
            });
        }
        let manifest: OciImageManifest = serde_json::from_slice(&raw)
            .map_err(|e| OciError::BadSignature { reference: tag.to_string(), problem: format!("signature manifest: {e}") })?;
        if manifest.layers.len() > MAX_SIGNATURE_LAYERS {
            return Err(OciError::TooLarge {
                what: format!("the signature manifest {tag} (layers)"),
                size: manifest.layers.len() as u64,
                limit: MAX_SIGNATURE_LAYERS as u64,
            });
        }
        if let Some(layer) = manifest.layers.iter().find(|l| !(0..=MAX_SIGNATURE_LAYER_BYTES).contains(&l.size)) {
            return Err(OciError::TooLarge {
                what: format!("a signature layer of {tag}"),
                size: u64::try_from(layer.size).unwrap_or(u64::MAX),
                limit: MAX_SIGNATURE_LAYER_BYTES as u64,
            });
        }
        Ok(())
    })
    .await
}

/// Pushes `wasm` as a Wasm OCI artifact with `config` (see [`artifact::config_blob`]).
/// Returns the manifest digest: what a signature signs and a reference can pin. The
/// manifest is pushed as the bytes hashed here, so the digest is exactly the registry's.
pub async fn push(client: &Client, reference: &Reference, auth: &RegistryAuth, wasm: Vec<u8>, config: Vec<u8>) -> Result<String, OciError> {
    let fail = |e| classify(reference, e);
    let layers = [ImageLayer::new(wasm, WASM_LAYER_MEDIA_TYPE.to_owned(), None)];
    let config = Config::new(config, WASM_CONFIG_MEDIA_TYPE.to_owned(), None);
    let mut manifest = OciImageManifest::build(&layers, &config, None);
    manifest.media_type = Some(OCI_MANIFEST_MEDIA_TYPE.to_owned());
    let body = serde_json::to_vec(&manifest)
        .map_err(|e| OciError::NotWasmArtifact { reference: reference.to_string(), problem: e.to_string() })?;
    client.store_auth_if_needed(reference.resolve_registry(), auth).await;
    for (layer, descriptor) in layers.iter().zip(&manifest.layers) {
        client.push_blob(reference, layer.data.clone(), &descriptor.digest).await.map_err(fail)?;
    }
    client.push_blob(reference, config.data.clone(), &manifest.config.digest).await.map_err(fail)?;
    let digest = sha256(&body);
    client.push_manifest_raw(reference, body, http::HeaderValue::from_static(OCI_MANIFEST_MEDIA_TYPE)).await.map_err(fail)?;
    Ok(digest)
}

/// `work` within the limits' timeout, which becomes a `Timeout` naming the registry.
pub(super) async fn bounded<T>(
    reference: &Reference,
    limits: &PullLimits,
    work: impl Future<Output = Result<T, OciError>>,
) -> Result<T, OciError> {
    tokio::time::timeout(limits.timeout, work)
        .await
        .unwrap_or_else(|_| Err(OciError::Timeout { registry: reference.resolve_registry().to_owned(), limit: limits.timeout }))
}

/// Sorts a client error into: not there, not allowed, or the registry failing (the one
/// kind worth retrying).
pub fn classify(reference: &Reference, error: OciDistributionError) -> OciError {
    let registry = reference.resolve_registry().to_owned();
    let not_found = match &error {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(e.code, OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::NotFound | OciErrorCode::BlobUnknown)
        }),
        OciDistributionError::ServerError { code, .. } => *code == 404,
        _ => false,
    };
    let unauthorized = match &error {
        OciDistributionError::AuthenticationFailure(_) | OciDistributionError::UnauthorizedError { .. } => true,
        OciDistributionError::RegistryError { envelope, .. } => {
            envelope.errors.iter().any(|e| matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied))
        }
        OciDistributionError::ServerError { code, .. } => *code == 401 || *code == 403,
        _ => false,
    };
    if not_found {
        OciError::NotFound { reference: reference.to_string(), source: error }
    } else if unauthorized {
        OciError::Unauthorized { registry, source: error }
    } else {
        OciError::Unreachable { registry, source: error }
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_must_name_their_registry() {
        assert!(parse_reference("localhost:5000/berth/core:1.0.0").is_ok());
        assert!(
            parse_reference("registry.example/vendor/np@sha256:0000000000000000000000000000000000000000000000000000000000000000").is_ok()
        );
        assert_eq!(parse_reference("core:1.0.0").err().map(|e| e.reason()), Some("InvalidReference"));
        assert_eq!(parse_reference("vendor/core:1.0.0").err().map(|e| e.reason()), Some("InvalidReference"));
        assert_eq!(parse_reference("Registry.example/UPPER:1").err().map(|e| e.reason()), Some("InvalidReference"));
    }
}
