//! Fetching the OCI sources PluginPolicies name, before a snapshot is built: each
//! version's pull Secret and signature keys are read from the API server, then the
//! plugin comes from the local store or the registry (`crate::oci::fetch`). A failure
//! becomes that version's refusal; a registry that could not be reached asks the
//! caller to try again later.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use oci_client::secrets::RegistryAuth;
use sigstore::cosign::verification_constraint::PublicKeyVerifier;

use super::Context;
use super::error::api_message;
use crate::error_chain::error_chain;
use crate::oci::artifact::PullLimits;
use crate::oci::fetch::{self, Origin};
use crate::oci::store::ContentStore;
use crate::oci::{OciError, credentials, signature};
use crate::policy::build::{OciBytes, OciRequest, OciVersion, Refusal};
use crate::policy::resource::{SecretRef, SignaturePolicySpec};

/// Where pulled plugins are kept, and the bounds of a pull.
#[derive(Clone, Default)]
pub struct PullSettings {
    pub store: Option<Arc<ContentStore>>,
    pub limits: PullLimits,
}

/// What the fetch of every OCI source came to.
pub struct Fetched {
    pub results: BTreeMap<OciVersion, Result<OciBytes, Refusal>>,
    /// A registry could not be reached: rebuild later, to pick up what it holds.
    pub retry: bool,
}

pub async fn fetch_all(ctx: &Context, settings: &PullSettings, requests: Vec<OciRequest<'_>>) -> Fetched {
    let work = requests.into_iter().map(|request| async move {
        let result = fetch_one(ctx, settings, &request).await;
        (request.key, result)
    });
    let mut fetched = Fetched { results: BTreeMap::new(), retry: false };
    for (key, result) in futures::future::join_all(work).await {
        let result = match result {
            Ok(fetched_now) => {
                ctx.metrics.plugin_pulled(origin_label(&fetched_now.origin));
                if let Origin::StoreWhileUnreachable(_) = fetched_now.origin {
                    fetched.retry = true;
                }
                Ok(fetched_now.into())
            }
            Err(e) => {
                ctx.metrics.plugin_pull_failed(e.reason());
                fetched.retry |= e.is_transient();
                tracing::warn!(component = %key.component, version = %key.version, reason = e.reason(), error = %error_chain(&e), "OCI plugin source refused");
                Err(Refusal { reason: e.reason().to_owned(), message: error_chain(&e) })
            }
        };
        fetched.results.insert(key, result);
    }
    fetched
}

fn origin_label(origin: &Origin) -> &'static str {
    match origin {
        Origin::Registry => "registry",
        Origin::Store => "store",
        Origin::StoreWhileUnreachable(_) => "store_registry_unreachable",
    }
}

impl From<fetch::Fetched> for OciBytes {
    fn from(f: fetch::Fetched) -> Self {
        let unreachable = match f.origin {
            Origin::StoreWhileUnreachable(why) => Some(why),
            Origin::Registry | Origin::Store => None,
        };
        OciBytes { wasm: f.wasm, label: format!("oci@{}", f.manifest_digest), unreachable }
    }
}

async fn fetch_one(ctx: &Context, settings: &PullSettings, request: &OciRequest<'_>) -> Result<fetch::Fetched, OciError> {
    let reference = crate::oci::registry::parse_reference(&request.source.reference)?;
    let auth = match &request.source.pull_secret {
        Some(secret) => pull_auth(ctx, secret, reference.resolve_registry()).await?,
        None => RegistryAuth::Anonymous,
    };
    let keys = match request.signatures {
        Some(spec) => Some(keys(ctx, spec).await?),
        None => None,
    };
    let fetch_request = fetch::Request {
        reference: &request.source.reference,
        insecure: request.source.insecure,
        auth,
        expected: request.digest,
        keys: keys.as_deref(),
    };
    fetch::fetch(&fetch_request, settings.store.as_deref(), &settings.limits).await
}

async fn secret_value(ctx: &Context, namespace: &str, name: &str, key: &str) -> Result<Vec<u8>, String> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let secret = api.get_opt(name).await.map_err(|e| api_message(&e))?.ok_or_else(|| "no such Secret".to_owned())?;
    secret.data.and_then(|mut d| d.remove(key)).map(|v| v.0).ok_or_else(|| format!("it has no key {key:?}"))
}

async fn pull_auth(ctx: &Context, secret: &SecretRef, registry: &str) -> Result<RegistryAuth, OciError> {
    let config = secret_value(ctx, &secret.namespace, &secret.name, ".dockerconfigjson")
        .await
        .map_err(|m| OciError::Credentials(format!("pullSecret {}/{}: {m}", secret.namespace, secret.name)))?;
    credentials::for_registry(&config, registry)
        .map_err(|e| OciError::Credentials(format!("pullSecret {}/{}: {}", secret.namespace, secret.name, error_chain(&e))))
}

/// The policy's public keys, each read (from its Secret if need be) and parsed.
async fn keys(ctx: &Context, spec: &SignaturePolicySpec) -> Result<Vec<PublicKeyVerifier>, OciError> {
    if spec.keys.is_empty() {
        return Err(OciError::InvalidKey {
            which: "signatures.keys".to_owned(),
            problem: "signatures are required but no key is listed".to_owned(),
        });
    }
    let mut keys = Vec::new();
    for (i, key) in spec.keys.iter().enumerate() {
        let which = format!("signatures.keys[{i}]");
        let pem = match (&key.pem, &key.secret_ref) {
            (Some(pem), None) => pem.clone().into_bytes(),
            (None, Some(r)) => secret_value(ctx, &r.namespace, &r.name, &r.key)
                .await
                .map_err(|m| OciError::InvalidKey { which: format!("{which}.secretRef {}/{}", r.namespace, r.name), problem: m })?,
            _ => return Err(OciError::InvalidKey { which, problem: "exactly one of pem and secretRef must be set".to_owned() }),
        };
        keys.push(signature::public_key(&which, &pem)?);
    }
    Ok(keys)
}
