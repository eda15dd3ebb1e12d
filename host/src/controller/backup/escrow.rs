//! The backup's record: a Secret in the operator's own namespace holding a copy of the
//! cluster's generated Secrets (the data-encryption key among them) and what a restore
//! needs to find the backup's files.
//!
//! It lives beside the operator, not in the cluster's namespace, because the disaster a
//! backup is for may be losing that namespace, with every HarborBackup and Secret in it.
//! A restore copies the Secrets from here into the target namespace before the cluster
//! generates any, so the old key reads the restored database. Only retention deletes a
//! record; secret values never leave it but into the restored Secrets.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde::{Deserialize, Serialize};

use super::error::{BackupError, Result};
use crate::contract::Topology;
use crate::controller::error::{is_already_exists, is_not_found};
use crate::controller::generated::GENERATED_LABEL;
use crate::controller::{Context, FIELD_MANAGER};
use crate::labels::CLUSTER_LABEL;
use berth_api::spec::{HarborClusterSpec, Placement};

/// Label on every backup record, for `kubectl get secrets -l`.
pub const RECORD_LABEL: &str = "berth.dev/backup-record";
const DATA_KEY: &str = "record.json";

/// What a backup's record holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub namespace: String,
    pub backup: String,
    pub cluster: String,
    pub harbor_version: String,
    /// `<namespace>/<cluster>/<backup>` under the destination.
    pub path: String,
    pub location: String,
    /// Namespaces besides its own the backup may be restored into.
    pub restore_into: Vec<String>,
    /// Set when the backup completed: the sha256 of its dump.
    pub dump_sha256: Option<String>,
    /// Generated Secrets by role ("core", "jobservice", "registry", "registryHtpasswd",
    /// "database"): key -> value.
    pub secrets: BTreeMap<String, BTreeMap<String, ByteString>>,
}

/// The record's name: the backup's namespace and name, hashed to a valid, fixed length.
pub fn record_name(namespace: &str, backup: &str) -> String {
    use sha2::{Digest as _, Sha256};
    let hash = hex::encode(Sha256::digest(format!("{namespace}/{backup}").as_bytes()));
    format!("berth-backup-{}", &hash[..24])
}

/// The generated Secrets of a cluster by role: the names its topology gives them.
pub fn generated_by_role(topology: &Topology, spec: &HarborClusterSpec) -> Vec<(&'static str, String)> {
    let names = &topology.secrets;
    let mut roles = vec![
        ("core", names.core.clone()),
        ("jobservice", names.jobservice.clone()),
        ("registry", names.registry.clone()),
        ("registryHtpasswd", names.registry_htpasswd.clone()),
    ];
    if spec.database.type_ == Placement::Internal {
        roles.push(("database", topology.database.password.name.clone()));
    }
    roles
}

/// Writes the record of a backup that is starting, with the generated Secrets as they
/// are (they never change). A generated Secret that does not exist yet stops the backup:
/// the cluster has not been reconciled once.
pub async fn store(ctx: &Context, mut record: Record, topology: &Topology, spec: &HarborClusterSpec) -> Result<()> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &record.namespace);
    for (role, name) in generated_by_role(topology, spec) {
        let secret = secrets
            .get_opt(&name)
            .await
            .map_err(BackupError::kube(format!("reading Secret {}/{name}", record.namespace)))?
            .ok_or_else(|| BackupError::SecretMissing { namespace: record.namespace.clone(), name: name.clone() })?;
        record.secrets.insert(role.to_owned(), secret.data.unwrap_or_default());
    }
    write(ctx, &record).await
}

/// Marks the record complete with its dump's sha256.
pub async fn complete(ctx: &Context, namespace: &str, backup: &str, dump_sha256: &str) -> Result<()> {
    let Some(mut record) = find(ctx, namespace, backup).await? else {
        return Err(BackupError::RecordMissing { namespace: namespace.to_owned(), backup: backup.to_owned() });
    };
    record.dump_sha256 = Some(dump_sha256.to_owned());
    write(ctx, &record).await
}

async fn write(ctx: &Context, record: &Record) -> Result<()> {
    let json = serde_json::to_vec(record).map_err(|source| BackupError::Serialize { what: "a backup record".to_owned(), source })?;
    let name = record_name(&record.namespace, &record.backup);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ctx.records_namespace.clone()),
            labels: Some(BTreeMap::from([(RECORD_LABEL.to_owned(), "true".to_owned())])),
            annotations: Some(BTreeMap::from([
                ("berth.dev/backup".to_owned(), format!("{}/{}", record.namespace, record.backup)),
                ("berth.dev/cluster".to_owned(), record.cluster.clone()),
            ])),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(DATA_KEY.to_owned(), ByteString(json))])),
        ..Secret::default()
    };
    let patch = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": secret.metadata,
        "data": secret.data,
    });
    ctx.metrics.write("patch", "Secret");
    Api::<Secret>::namespaced(ctx.client.clone(), &ctx.records_namespace)
        .patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch))
        .await
        .map_err(BackupError::kube(format!("writing backup record {}/{name}", ctx.records_namespace)))?;
    Ok(())
}

/// The record of backup `backup` of `namespace`, if there is one.
pub async fn find(ctx: &Context, namespace: &str, backup: &str) -> Result<Option<Record>> {
    let name = record_name(namespace, backup);
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.records_namespace);
    let Some(secret) =
        api.get_opt(&name).await.map_err(BackupError::kube(format!("reading backup record {}/{name}", ctx.records_namespace)))?
    else {
        return Ok(None);
    };
    let Some(data) = secret.data.as_ref().and_then(|d| d.get(DATA_KEY)) else {
        return Ok(None);
    };
    serde_json::from_slice(&data.0).map(Some).map_err(|source| BackupError::Serialize { what: format!("backup record {name}"), source })
}

/// Deletes a backup's record (retention).
pub async fn delete(ctx: &Context, namespace: &str, backup: &str) -> Result<()> {
    let name = record_name(namespace, backup);
    ctx.metrics.write("delete", "Secret");
    match Api::<Secret>::namespaced(ctx.client.clone(), &ctx.records_namespace).delete(&name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(BackupError::kube(format!("deleting backup record {}/{name}", ctx.records_namespace))(e)),
    }
}

/// What copying a backup's Secrets into a cluster found.
#[derive(Debug, PartialEq, Eq)]
pub enum SecretsOutcome {
    /// Every generated Secret is the backup's now; these were created.
    Restored(Vec<String>),
    /// A Secret of the cluster differs from the backup's: nothing was changed.
    Differs { secret: String },
}

/// Creates the target cluster's generated Secrets from the record, as the cluster would
/// have generated them (same labels, no owner). One that exists already must be the
/// backup's; if any differs nothing is created.
pub async fn restore_secrets(
    ctx: &Context,
    record: &Record,
    namespace: &str,
    cluster: &str,
    topology: &Topology,
    spec: &HarborClusterSpec,
) -> Result<SecretsOutcome> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let mut missing = Vec::new();
    for (role, name) in generated_by_role(topology, spec) {
        let Some(data) = record.secrets.get(role) else { continue };
        match api.get_opt(&name).await.map_err(BackupError::kube(format!("reading Secret {namespace}/{name}")))? {
            Some(existing) if existing.data.as_ref() == Some(data) => {}
            Some(_) => return Ok(SecretsOutcome::Differs { secret: name }),
            None => missing.push((name, data.clone())),
        }
    }
    let mut created = Vec::new();
    for (name, data) in missing {
        let mut labels = crate::labels::cluster_labels(cluster, &spec.version);
        labels.insert(CLUSTER_LABEL.to_owned(), cluster.to_owned());
        labels.insert(GENERATED_LABEL.to_owned(), "true".to_owned());
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.to_owned()),
                labels: Some(labels),
                annotations: Some(BTreeMap::from([(
                    "berth.dev/restored-from".to_owned(),
                    format!("{}/{}", record.namespace, record.backup),
                )])),
                ..ObjectMeta::default()
            },
            type_: Some("Opaque".to_owned()),
            data: Some(data),
            ..Secret::default()
        };
        ctx.metrics.write("create", "Secret");
        match api.create(&PostParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PostParams::default() }, &secret).await {
            Ok(_) => created.push(name),
            Err(e) if is_already_exists(&e) => return Ok(SecretsOutcome::Differs { secret: name }),
            Err(e) => return Err(BackupError::kube(format!("creating Secret {namespace}/{name}"))(e)),
        }
    }
    Ok(SecretsOutcome::Restored(created))
}
