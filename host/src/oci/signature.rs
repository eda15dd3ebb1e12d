//! cosign keyed signatures, through the `sigstore` crate: a key pair in cosign's format,
//! a signature pushed the way cosign pushes it (the tag `sha256-<digest>.sig` beside the
//! artifact, one simple-signing layer per signature), and verification of those
//! signatures against a list of public keys — online from the registry, or offline
//! from what the content store kept of them.
//!
//! Verified: ECDSA P-256 (cosign's default), P-384, RSA and Ed25519 public keys over
//! cosign's simple-signing payload. Not verified: keyless signatures (Fulcio
//! certificates and Rekor entries need the Sigstore trust root and network access a
//! cluster may not have) and Sigstore bundles attached as OCI referrers.

use base64::Engine as _;
use oci_client::Reference;
use oci_client::secrets::RegistryAuth;
use serde::{Deserialize, Serialize};
use sigstore::cosign::constraint::PrivateKeySigner;
use sigstore::cosign::payload::SimpleSigning;
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraint};
use sigstore::cosign::{Constraint as _, CosignCapabilities as _, SignatureLayer};
use sigstore::crypto::SigningScheme;
use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::registry::{Auth, ClientProtocol, OciReference};
use zeroize::Zeroizing;

use super::OciError;
use super::artifact::PullLimits;
use super::registry;

/// A signature as cosign stores it: the simple-signing payload and the base64 signature
/// over it. Kept in the content store so a restart verifies without the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSignature {
    /// The payload bytes, base64.
    pub payload: String,
    /// The `dev.cosignproject.cosign/signature` annotation (base64), when present.
    pub signature: Option<String>,
}

/// A new ECDSA P-256 key pair: the private key encrypted with `password` as cosign
/// writes it ("ENCRYPTED SIGSTORE PRIVATE KEY"), and the public key PEM.
pub fn keygen(password: &[u8]) -> Result<(Zeroizing<String>, String), OciError> {
    let sign_err = |e| OciError::InvalidKey { which: "new key pair".to_owned(), problem: format!("{e}") };
    let signer = SigningScheme::ECDSA_P256_SHA256_ASN1.create_signer().map_err(sign_err)?;
    let pair = signer.to_sigstore_keypair().map_err(sign_err)?;
    let private = pair.private_key_to_encrypted_pem(password).map_err(sign_err)?;
    let public = pair.public_key_to_pem().map_err(sign_err)?;
    Ok((private, public))
}

/// A public key from PEM, checked now so a bad key is named when the policy is read.
pub fn public_key(which: &str, pem: &[u8]) -> Result<PublicKeyVerifier, OciError> {
    PublicKeyVerifier::try_from(pem).map_err(|e| OciError::InvalidKey { which: which.to_owned(), problem: e.to_string() })
}

/// A signer from a cosign private key: encrypted ("ENCRYPTED SIGSTORE PRIVATE KEY",
/// even with an empty password, as cosign writes it) or a plain PKCS#8 PEM.
pub fn signer(private_key: &[u8], password: &[u8]) -> Result<PrivateKeySigner, OciError> {
    let invalid = |e: sigstore::errors::SigstoreError| OciError::InvalidKey { which: "--key".to_owned(), problem: e.to_string() };
    let encrypted = String::from_utf8_lossy(private_key).contains("ENCRYPTED");
    let pair = if encrypted { SigStoreKeyPair::from_encrypted_pem(private_key, password) } else { SigStoreKeyPair::from_pem(private_key) }
        .map_err(invalid)?;
    let signer = pair.to_sigstore_signer(&SigningScheme::ECDSA_P256_SHA256_ASN1).map_err(invalid)?;
    Ok(PrivateKeySigner::new_with_signer(signer))
}

fn cosign_client(insecure: bool) -> Result<sigstore::cosign::Client, sigstore::errors::SigstoreError> {
    let config = sigstore::registry::ClientConfig {
        protocol: if insecure { ClientProtocol::Http } else { ClientProtocol::Https },
        ..Default::default()
    };
    sigstore::cosign::ClientBuilder::default().with_oci_client_config(config).build()
}

fn oci_reference(reference: &Reference, digest: &str) -> Result<OciReference, OciError> {
    let pinned = format!("{}/{}@{digest}", reference.registry(), reference.repository());
    pinned.parse().map_err(|e: sigstore::errors::SigstoreError| OciError::BadReference { reference: pinned, message: e.to_string() })
}

/// The tag cosign keeps the signatures of `digest` under.
pub fn signature_reference(reference: &Reference, digest: &str) -> Reference {
    Reference::with_tag(reference.registry().to_owned(), reference.repository().to_owned(), format!("{}.sig", digest.replace(':', "-")))
}

/// Signs the artifact at `digest` with a cosign private key (encrypted PEM and its
/// password, or unencrypted PEM with an empty password) and pushes the signature,
/// keeping the signatures already there.
pub async fn sign(
    reference: &Reference,
    digest: &str,
    private_key: Zeroizing<Vec<u8>>,
    password: Zeroizing<Vec<u8>>,
    auth: &RegistryAuth,
    insecure: bool,
    limits: &PullLimits,
) -> Result<(), OciError> {
    let sign_err = |source| OciError::Sign { reference: reference.to_string(), source };
    let target = oci_reference(reference, digest)?;
    let signer = signer(&private_key, &password)?;
    let mut layer = SignatureLayer::new_unsigned(&target, digest).map_err(sign_err)?;
    if !signer.add_constraint(&mut layer).map_err(sign_err)? {
        return Err(OciError::InvalidKey { which: "--key".to_owned(), problem: "the signer refused the payload".to_owned() });
    }
    let auth = Auth::from(auth);
    let work = async {
        let mut client = cosign_client(insecure).map_err(sign_err)?;
        let (signature_image, _) = client.triangulate(&target, &auth).await.map_err(sign_err)?;
        let mut layers = client.trusted_signature_layers(&auth, &target).await.map_err(sign_err)?;
        layers.push(layer);
        client.push_signature(None, &auth, &signature_image, layers).await.map_err(sign_err)?;
        Ok(())
    };
    registry::bounded(reference, limits, work).await
}

/// The signatures the registry holds for the artifact at `digest`.
pub async fn fetch(
    client: &oci_client::Client,
    reference: &Reference,
    digest: &str,
    auth: &RegistryAuth,
    insecure: bool,
    limits: &PullLimits,
) -> Result<Vec<StoredSignature>, OciError> {
    // The .sig manifest first, with our own client: its absence is "unsigned" (sigstore
    // reports a missing tag and a failing registry alike as no signatures), and its size
    // is checked before sigstore downloads every layer it lists.
    let tag = signature_reference(reference, digest);
    match registry::signature_manifest(client, &tag, auth, limits).await {
        Err(OciError::NotFound { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e),
        Ok(()) => {}
    }
    let target = oci_reference(reference, digest)?;
    let auth = Auth::from(auth);
    let work = async {
        let mut client = cosign_client(insecure).map_err(|source| OciError::Sign { reference: reference.to_string(), source })?;
        let layers = client
            .trusted_signature_layers(&auth, &target)
            .await
            .map_err(|source| OciError::Sign { reference: reference.to_string(), source })?;
        if layers.is_empty() {
            return Err(OciError::BadSignature {
                reference: reference.to_string(),
                problem: format!("{tag} holds no well-formed signature of {digest}"),
            });
        }
        Ok(layers
            .into_iter()
            .map(|l| StoredSignature { payload: base64::engine::general_purpose::STANDARD.encode(&l.raw_data), signature: l.signature })
            .collect())
    };
    registry::bounded(reference, limits, work).await
}

/// Which of `keys` signed the artifact at `digest`, judged from `signatures` alone (no
/// network). Refused as unsigned, as malformed (a signature that does not parse or
/// signs another digest), or as signed by none of the keys.
pub fn verify(reference: &str, digest: &str, signatures: &[StoredSignature], keys: &[PublicKeyVerifier]) -> Result<usize, OciError> {
    if signatures.is_empty() {
        return Err(OciError::Unsigned { reference: reference.to_owned() });
    }
    let mut layers = Vec::new();
    let mut problems = Vec::new();
    for stored in signatures {
        match layer(stored, digest) {
            Ok(layer) => layers.push(layer),
            Err(problem) => problems.push(problem),
        }
    }
    if layers.is_empty() {
        return Err(OciError::BadSignature { reference: reference.to_owned(), problem: problems.join("; ") });
    }
    keys.iter().position(|key| layers.iter().any(|layer| key.verify(layer).unwrap_or(false))).ok_or(OciError::UnknownKey {
        reference: reference.to_owned(),
        signatures: layers.len(),
        keys: keys.len(),
    })
}

/// A stored signature as the `SignatureLayer` sigstore verifies, once it parses and
/// names `digest`.
fn layer(stored: &StoredSignature, digest: &str) -> Result<SignatureLayer, String> {
    let b64 = &base64::engine::general_purpose::STANDARD;
    let payload = b64.decode(&stored.payload).map_err(|e| format!("payload is not base64: {e}"))?;
    let simple_signing: SimpleSigning = serde_json::from_slice(&payload).map_err(|e| format!("payload is not simple signing: {e}"))?;
    if !simple_signing.satisfies_manifest_digest(digest) {
        return Err(format!("a signature signs {}, not {digest}", simple_signing.critical.image.docker_manifest_digest));
    }
    let signature = stored.signature.clone().ok_or("a layer carries no signature annotation")?;
    if b64.decode(&signature).map(|s| s.is_empty()).unwrap_or(true) {
        return Err("a signature annotation is not base64".to_owned());
    }
    Ok(SignatureLayer {
        simple_signing,
        oci_digest: registry::sha256(&payload),
        certificate_signature: None,
        bundle: None,
        signature: Some(signature),
        raw_data: payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270";

    /// A signature made offline, as `sign` makes it before pushing.
    fn signed(private: &[u8], password: &[u8], digest: &str) -> StoredSignature {
        let target: OciReference = format!("localhost:5000/berth/core@{digest}").parse().unwrap_or_else(|_| unreachable!());
        let signer = signer(private, password).unwrap_or_else(|e| panic!("{e}"));
        let mut layer = SignatureLayer::new_unsigned(&target, digest).ok().unwrap_or_else(|| unreachable!());
        assert!(signer.add_constraint(&mut layer).unwrap_or(false));
        StoredSignature { payload: base64::engine::general_purpose::STANDARD.encode(&layer.raw_data), signature: layer.signature }
    }

    #[test]
    fn a_signature_verifies_with_its_key_and_not_with_another() {
        let (private, public) = keygen(b"pw").unwrap_or_else(|e| panic!("{e}"));
        let (_, other) = keygen(b"").unwrap_or_else(|e| panic!("{e}"));
        let signature = signed(private.as_bytes(), b"pw", DIGEST);
        let key = public_key("k", public.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let other = public_key("o", other.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(verify("r", DIGEST, std::slice::from_ref(&signature), &[key]).ok(), Some(0));
        let key = public_key("k", public.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(verify("r", DIGEST, std::slice::from_ref(&signature), &[other, key]).ok(), Some(1));
        let other = public_key("o", keygen(b"").map(|k| k.1).unwrap_or_default().as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(verify("r", DIGEST, &[signature], &[other]).err().map(|e| e.reason()), Some("UnknownKey"));
    }

    #[test]
    fn unsigned_malformed_and_other_digest_each_have_their_reason() {
        let (private, public) = keygen(b"").unwrap_or_else(|e| panic!("{e}"));
        let key = || vec![public_key("k", public.as_bytes()).unwrap_or_else(|e| panic!("{e}"))];
        assert_eq!(verify("r", DIGEST, &[], &key()).err().map(|e| e.reason()), Some("Unsigned"));
        let other_digest = signed(private.as_bytes(), b"", &format!("sha256:{}", "1".repeat(64)));
        assert_eq!(verify("r", DIGEST, &[other_digest], &key()).err().map(|e| e.reason()), Some("BadSignature"));
        let mut garbled = signed(private.as_bytes(), b"", DIGEST);
        garbled.signature = Some("not base64!".to_owned());
        assert_eq!(verify("r", DIGEST, &[garbled], &key()).err().map(|e| e.reason()), Some("BadSignature"));
        // The payload altered after signing: well formed, but no key verifies it.
        let mut altered = signed(private.as_bytes(), b"", DIGEST);
        let b64 = &base64::engine::general_purpose::STANDARD;
        let payload = String::from_utf8(b64.decode(&altered.payload).unwrap_or_default()).unwrap_or_default();
        altered.payload = b64.encode(payload.replace("\"optional\":null", "\"optional\":{\"by\":\"mallory\"}"));
        assert_ne!(altered.payload, signed(private.as_bytes(), b"", DIGEST).payload);
        assert_eq!(verify("r", DIGEST, &[altered], &key()).err().map(|e| e.reason()), Some("UnknownKey"));
    }

    #[test]
    fn a_key_that_is_not_pem_is_named() {
        let err = public_key("keys[1]", b"-----BEGIN NOTHING-----").err();
        assert!(matches!(&err, Some(OciError::InvalidKey { which, .. }) if which == "keys[1]"), "{err:?}");
    }
}
