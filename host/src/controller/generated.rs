//! Generated Secrets: created once when absent, never regenerated, never overwritten.
//!
//! They carry the cluster label and `berth.dev/generated` but no owner reference, so the
//! garbage collector never takes the data-encryption key with a deleted HarborCluster
//! (Retain); the finalizer deletes them only under the Delete policy. A Secret of the
//! same name that Berth did not create is taken over when it belongs to the Helm release
//! `spec.adopt` names (see [`super::adopt::secrets`]), and refused otherwise.

use std::collections::BTreeMap;

use super::adopt::Release;
use crate::contract::{GeneratedSecret, SecretNames};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use serde_json::Value;

use super::Context;
use super::error::{Error, Result, is_already_exists};
use crate::render::CLUSTER_LABEL;

/// Label on Secrets Berth generated (and may delete under the Delete policy).
pub const GENERATED_LABEL: &str = "berth.dev/generated";

/// What [`ensure`] did.
#[derive(Debug, Default)]
pub struct Ensured {
    /// Names of the Secrets generated now.
    pub created: Vec<String>,
    /// The Helm release's Secrets taken over now.
    pub adopted: Vec<super::adopt::secrets::Adopted>,
}

/// Makes sure every Secret in the inventory exists. A Secret `live` already holds (it
/// carries the cluster label) needs no lookup; any other is looked up by name, since a
/// chart Secret to adopt carries no Berth label.
pub async fn ensure(
    ctx: &Context,
    namespace: &str,
    cluster: &str,
    labels: &BTreeMap<String, String>,
    inventory: &[GeneratedSecret],
    live: &super::live::Live,
    adopting: Option<(Release<'_>, &SecretNames)>,
) -> Result<Ensured> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let mut ensured = Ensured::default();
    let mut all_labels = labels.clone();
    all_labels.insert(CLUSTER_LABEL.to_owned(), cluster.to_owned());
    all_labels.insert(GENERATED_LABEL.to_owned(), "true".to_owned());
    for secret in inventory {
        if live.get("Secret", &secret.name).is_some() {
            continue;
        }
        // Metadata only: the controller has no reason to hold existing secret values.
        let existing =
            api.get_metadata_opt(&secret.name).await.map_err(Error::kube(format!("reading Secret {namespace}/{}", secret.name)))?;
        if let Some(existing) = existing {
            // Two HarborClusters whose fullnames coincide ("demo" and "demo-harbor") would
            // share the data-encryption key: a Secret another cluster generated is never ours.
            let owner = existing.metadata.labels.as_ref().and_then(|l| l.get(CLUSTER_LABEL));
            match (owner, adopting) {
                (Some(owner), _) if owner != cluster => {
                    return Err(Error::ForeignSecret { name: secret.name.clone(), owner: owner.clone() });
                }
                (Some(_), _) => {}
                (None, Some((release, names))) if release.owns(&existing.metadata) => {
                    // Values are read only here, to copy the keys Berth's pods need.
                    let full = api.get(&secret.name).await.map_err(Error::kube(format!("reading Secret {namespace}/{}", secret.name)))?;
                    let adopted =
                        super::adopt::secrets::adopt(&api, release, names, secret, full, &all_labels).await.map_err(Error::Adopt)?;
                    ensured.adopted.push(adopted);
                }
                (None, _) => {
                    return Err(Error::Adopt(super::adopt::secrets::AdoptError::NotCreatedByBerth { name: secret.name.clone() }));
                }
            }
            continue;
        }
        let declaration = secret.clone();
        // RSA key generation takes a while: keep it off the runtime's workers.
        let data = tokio::task::spawn_blocking(move || crate::secrets::generate(&declaration))
            .await
            .map_err(Error::Join)?
            .map_err(Error::Secret)?;
        let mut object = crate::secrets::secret_object(&secret.name, &data);
        if let Some(Value::Object(metadata)) = object.get_mut("metadata") {
            metadata.insert("namespace".to_owned(), Value::String(namespace.to_owned()));
            metadata.insert(
                "labels".to_owned(),
                serde_json::to_value(&all_labels).map_err(|source| Error::Serialize { what: "Secret labels".to_owned(), source })?,
            );
        }
        let typed: Secret = serde_json::from_value(Value::Object(object))
            .map_err(|source| Error::Serialize { what: format!("Secret {}", secret.name), source })?;
        ctx.metrics.write("create", "Secret");
        match api.create(&PostParams { field_manager: Some(super::FIELD_MANAGER.to_owned()), ..Default::default() }, &typed).await {
            Ok(_) => ensured.created.push(secret.name.clone()),
            // Another writer got there first: theirs stands, ours is discarded.
            Err(e) if is_already_exists(&e) => {}
            Err(e) => {
                return Err(Error::kube(format!("creating Secret {namespace}/{}", secret.name))(e));
            }
        }
    }
    Ok(ensured)
}
