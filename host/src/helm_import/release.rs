//! The values a Helm release was installed with, from the release record Helm keeps in
//! its namespace: the Secret `sh.helm.release.v1.<release>.v<revision>` (labels
//! `owner=helm`, `name=<release>`), whose `release` key is base64 of the gzipped JSON
//! release; its `config` is what the user set (`-f values.yaml`, `--set`).

use std::io::Read as _;

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use serde_json::Value;

/// A release record's JSON is a few hundred KiB; a bomb stops here.
const MAX_RELEASE_BYTES: u64 = 32 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("listing the Helm release records of {release:?} in namespace {namespace}")]
    List {
        release: String,
        namespace: String,
        #[source]
        source: kube::Error,
    },
    #[error("no deployed revision of Helm release {release:?} (no Secret labelled owner=helm,name={release},status=deployed)")]
    NotFound { release: String },
    #[error("Helm release record {secret}: {message}")]
    Malformed { secret: String, message: String },
}

/// The user-supplied values of the deployed revision of `release` in `namespace`.
pub async fn values_from_cluster(client: &kube::Client, release: &str, namespace: &str) -> Result<Value, ReleaseError> {
    let api: kube::Api<Secret> = kube::Api::namespaced(client.clone(), namespace);
    let params = kube::api::ListParams::default().labels(&format!("owner=helm,name={release}"));
    let secrets = api.list(&params).await.map_err(|source| ReleaseError::List {
        release: release.to_owned(),
        namespace: namespace.to_owned(),
        source,
    })?;
    values_of_release(release, &secrets.items)
}

/// The user-supplied values of the deployed revision among `secrets` (the Secrets
/// labelled `owner=helm,name=<release>`).
pub fn values_of_release(release: &str, secrets: &[Secret]) -> Result<Value, ReleaseError> {
    let label = |s: &Secret, key: &str| s.metadata.labels.as_ref().and_then(|l| l.get(key)).cloned().unwrap_or_default();
    let deployed = secrets
        .iter()
        .filter(|s| label(s, "owner") == "helm" && label(s, "name") == release && label(s, "status") == "deployed")
        .max_by_key(|s| label(s, "version").parse::<u64>().unwrap_or(0))
        .ok_or_else(|| ReleaseError::NotFound { release: release.to_owned() })?;
    let secret = deployed.metadata.name.clone().unwrap_or_default();
    let malformed = |message: String| ReleaseError::Malformed { secret: secret.clone(), message };
    let record = deployed.data.as_ref().and_then(|d| d.get("release")).ok_or_else(|| malformed("no key \"release\"".to_owned()))?;
    let gzipped =
        base64::engine::general_purpose::STANDARD.decode(&record.0).map_err(|e| malformed(format!("release is not base64: {e}")))?;
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(gzipped.as_slice())
        .take(MAX_RELEASE_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(|e| malformed(format!("release is not gzip: {e}")))?;
    if json.len() as u64 > MAX_RELEASE_BYTES {
        return Err(malformed(format!("release inflates to more than {MAX_RELEASE_BYTES} bytes")));
    }
    let release: Value = serde_json::from_slice(&json).map_err(|e| malformed(format!("release is not JSON: {e}")))?;
    let chart = release.pointer("/chart/metadata/name").and_then(Value::as_str).unwrap_or_default();
    if chart != "harbor" {
        return Err(malformed(format!("the release installs chart {chart:?}, not harbor")));
    }
    Ok(release.get("config").cloned().unwrap_or(Value::Object(Default::default())))
}
