//! Converts a token-signing key that Berth before 0.2 generated as PKCS#8 into PKCS#1,
//! the only RSA form Harbor's token service reads (with PKCS#8 every `docker login`
//! fails with HTTP 500).
//!
//! The key lives in the immutable `<fullname>-core` Secret beside the data-encryption
//! key, so it cannot be patched: the Secret is replaced. Losing that Secret would make
//! Harbor's encrypted columns unreadable, so every step can be interrupted and resumed:
//!
//! 1. copy the whole Secret, unchanged, to `<name>-token-key-backup`;
//! 2. delete the Secret (preconditioned on its uid and resourceVersion);
//! 3. create it again with the same values but `tls.key` re-encoded (same key material:
//!    the certificate and every token already issued stay valid);
//! 4. restart core's workloads once, so they read the new key;
//! 5. delete the backup.
//!
//! A reconcile that finds the backup resumes from whichever step was reached, and runs
//! before [`super::generated::ensure`], which would otherwise generate a new Secret in
//! the gap. Secrets Berth generated with PKCS#1 carry [`KEY_FORMAT_ANNOTATION`], so a
//! settled cluster costs no read here.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};

use super::Context;
use super::error::{Error, Result, is_already_exists, is_not_found};
use super::live::Live;
use crate::secrets::{KEY_FORMAT_ANNOTATION, KEY_FORMAT_PKCS1};

/// Pod-template annotation that restarts core once after its key was converted.
pub const RESTARTED_ANNOTATION: &str = "berth.dev/restarted-for";
const RESTART_REASON: &str = "token-key-pkcs1";
const BACKUP_SUFFIX: &str = "-token-key-backup";
const BACKUP_OF_ANNOTATION: &str = "berth.dev/backup-of";

/// What to convert: the core Secret, its key, and the workloads that read it.
pub struct Target<'a> {
    pub secret: &'a str,
    pub key: &'a str,
    /// Deployments and StatefulSets to restart once the key changed: (kind, name).
    pub workloads: &'a [(String, String)],
}

/// Converts the key if it needs converting, or finishes a conversion an earlier
/// reconcile began. Returns a sentence for an Event when it changed anything.
pub async fn convert(ctx: &Context, namespace: &str, live: &Live, target: &Target<'_>) -> Result<Option<String>> {
    let backup_name = format!("{}{BACKUP_SUFFIX}", target.secret);
    let live_secret = live.get("Secret", target.secret);
    // The backup carries the cluster's label, so the live set shows an interrupted
    // conversion without a read.
    let live_backup = live.get("Secret", &backup_name).is_some();
    let settled = live_secret.is_some_and(|s| annotation(&s.metadata.annotations) == Some(KEY_FORMAT_PKCS1));
    if (settled || live_secret.is_none()) && !live_backup {
        return Ok(None);
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let read = |name: String| {
        let api = api.clone();
        async move { api.get_opt(&name).await.map_err(Error::kube(format!("reading Secret {namespace}/{name}"))) }
    };
    let backup = if live_backup { read(backup_name.clone()).await? } else { None };
    let current = read(target.secret.to_owned()).await?;

    let converted = match (current, backup) {
        (None, None) => return Ok(None),
        (Some(secret), backup) => {
            let pem = key_text(&secret, target.key)?;
            match crate::secrets::token_key_to_pkcs1(target.key, &pem).map_err(Error::Secret)? {
                None if backup.is_none() => {
                    // Readable, but not marked (a Secret written by hand, or by a chart):
                    // nothing to do, and no reason to look again until it changes.
                    return Ok(None);
                }
                None => false,
                Some(pkcs1) => {
                    tracing::info!(namespace, secret = target.secret, "converting the token-signing key from PKCS#8 to PKCS#1");
                    create_backup(ctx, &api, &secret, &backup_name).await?;
                    replace(ctx, &api, &secret, target.key, pkcs1).await?;
                    true
                }
            }
        }
        (None, Some(backup)) => {
            tracing::warn!(namespace, secret = target.secret, "resuming an interrupted token-key conversion from its backup");
            let pem = key_text(&backup, target.key)?;
            let pkcs1 = crate::secrets::token_key_to_pkcs1(target.key, &pem).map_err(Error::Secret)?.unwrap_or(pem);
            let mut restored = backup.clone();
            restored.metadata.name = Some(target.secret.to_owned());
            if let Some(annotations) = restored.metadata.annotations.as_mut() {
                annotations.remove(BACKUP_OF_ANNOTATION);
            }
            create_converted(ctx, &api, &restored, target.key, pkcs1).await?;
            true
        }
    };
    restart(ctx, namespace, target.workloads).await?;
    ctx.metrics.write("delete", "Secret");
    match api.delete(&backup_name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => {
            return Err(Error::kube(format!("deleting Secret {namespace}/{backup_name}"))(e));
        }
    }
    Ok(converted.then(|| {
        format!(
            "converted {}/{} from PKCS#8 to PKCS#1 (same key; Harbor's token service reads only PKCS#1) and restarted core",
            target.secret, target.key
        )
    }))
}

fn annotation(annotations: &Option<BTreeMap<String, String>>) -> Option<&str> {
    annotations.as_ref().and_then(|a| a.get(KEY_FORMAT_ANNOTATION)).map(String::as_str)
}

fn key_text(secret: &Secret, key: &str) -> Result<String> {
    let unreadable = || Error::Secret(crate::secrets::SecretError::UnreadableKey { key: key.to_owned(), source: None });
    let bytes = secret.data.as_ref().and_then(|d| d.get(key)).ok_or_else(unreadable)?;
    String::from_utf8(bytes.0.clone()).map_err(|_| unreadable())
}

/// The whole Secret, values unchanged, under the backup name.
async fn create_backup(ctx: &Context, api: &Api<Secret>, secret: &Secret, backup_name: &str) -> Result<()> {
    let mut backup = Secret { data: secret.data.clone(), type_: secret.type_.clone(), immutable: Some(true), ..Default::default() };
    backup.metadata.name = Some(backup_name.to_owned());
    backup.metadata.labels = secret.metadata.labels.clone();
    let mut annotations = secret.metadata.annotations.clone().unwrap_or_default();
    annotations.insert(BACKUP_OF_ANNOTATION.to_owned(), secret.metadata.name.clone().unwrap_or_default());
    backup.metadata.annotations = Some(annotations);
    ctx.metrics.write("create", "Secret");
    match api.create(&post_params(), &backup).await {
        Ok(_) => Ok(()),
        // An earlier attempt made it from the same, still unconverted, Secret.
        Err(e) if is_already_exists(&e) => Ok(()),
        Err(e) => Err(Error::kube(format!("creating Secret {backup_name}"))(e)),
    }
}

/// Deletes the Secret exactly as read (nobody changed it meanwhile) and creates it again
/// with the converted key.
async fn replace(ctx: &Context, api: &Api<Secret>, secret: &Secret, key: &str, pkcs1: String) -> Result<()> {
    let name = secret.metadata.name.clone().unwrap_or_default();
    let preconditions = Preconditions { uid: secret.metadata.uid.clone(), resource_version: secret.metadata.resource_version.clone() };
    ctx.metrics.write("delete", "Secret");
    match api.delete(&name, &DeleteParams { preconditions: Some(preconditions), ..Default::default() }).await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => {
            return Err(Error::kube(format!("deleting Secret {name} to replace its token key"))(e));
        }
    }
    create_converted(ctx, api, secret, key, pkcs1).await
}

async fn create_converted(ctx: &Context, api: &Api<Secret>, from: &Secret, key: &str, pkcs1: String) -> Result<()> {
    let name = from.metadata.name.clone().unwrap_or_default();
    let mut data = from.data.clone().unwrap_or_default();
    data.insert(key.to_owned(), ByteString(pkcs1.into_bytes()));
    let mut secret = Secret { data: Some(data), type_: from.type_.clone(), immutable: Some(true), ..Default::default() };
    secret.metadata.name = Some(name.clone());
    secret.metadata.labels = from.metadata.labels.clone();
    let mut annotations = from.metadata.annotations.clone().unwrap_or_default();
    annotations.insert(KEY_FORMAT_ANNOTATION.to_owned(), KEY_FORMAT_PKCS1.to_owned());
    secret.metadata.annotations = Some(annotations);
    ctx.metrics.write("create", "Secret");
    match api.create(&post_params(), &secret).await {
        Ok(_) => Ok(()),
        Err(e) => Err(Error::kube(format!("creating Secret {name} with the converted token key"))(e)),
    }
}

/// Rolls each workload once: a pod-template annotation owned by a field manager of its
/// own, which the operator's server-side apply leaves in place.
async fn restart(ctx: &Context, namespace: &str, workloads: &[(String, String)]) -> Result<()> {
    for (kind, name) in workloads {
        let Some(child) = super::resources::CHILD_KINDS.iter().find(|k| k.kind == kind) else {
            continue;
        };
        // A merge patch, not an apply: an apply would create a half object where none is.
        let patch = serde_json::json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_ANNOTATION: RESTART_REASON}}}}});
        let params = PatchParams { field_manager: Some(RESTART_FIELD_MANAGER.to_owned()), ..Default::default() };
        ctx.metrics.write("patch", kind);
        match child.api(&ctx.client, namespace).patch(name, &params, &Patch::Merge(patch)).await {
            Ok(_) => {}
            // Not created yet: it will start with the new key anyway.
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(Error::kube(format!("restarting {kind} {namespace}/{name}"))(e)),
        }
    }
    Ok(())
}

const RESTART_FIELD_MANAGER: &str = "berth-token-key-conversion";

fn post_params() -> PostParams {
    PostParams { field_manager: Some(super::FIELD_MANAGER.to_owned()), ..Default::default() }
}
