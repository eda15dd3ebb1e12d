//! Reading HarborCluster manifests and writing rendered objects as YAML.

use std::path::{Path, PathBuf};

use berth_sdk::spec::HarborCluster;
use serde::Deserialize as _;
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid {what} at {field}: {message}")]
    Invalid { path: PathBuf, what: &'static str, field: String, message: String },
    #[error("writing YAML failed")]
    Write(#[source] serde_yaml::Error),
}

/// Reads every PluginPolicy of a (multi-document) YAML file. An unknown field is named.
pub fn read_policies(path: &Path) -> Result<Vec<crate::policy::PluginPolicy>, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read { path: path.to_owned(), source })?;
    let invalid = |field: String, message: String| ManifestError::Invalid { path: path.to_owned(), what: "PluginPolicy", field, message };
    let mut policies = Vec::new();
    for document in serde_yaml::Deserializer::from_str(&text) {
        let value = serde_yaml::Value::deserialize(document).map_err(|e| invalid("(document)".to_owned(), e.to_string()))?;
        if value.is_null() {
            continue;
        }
        if value.get("kind").and_then(serde_yaml::Value::as_str) != Some("PluginPolicy") {
            return Err(invalid("kind".to_owned(), "expected kind PluginPolicy".to_owned()));
        }
        let policy = serde_path_to_error::deserialize(value)
            .map_err(|e| invalid(e.path().to_string(), e.into_inner().to_string()))?;
        policies.push(policy);
    }
    Ok(policies)
}

/// Reads one HarborCluster from a YAML file. A wrong type or an unknown field is named
/// by its path, e.g. `spec.portal.replicas`.
pub fn read_cluster(path: &Path) -> Result<HarborCluster, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read { path: path.to_owned(), source })?;
    parse_cluster(&text).map_err(|(field, message)| ManifestError::Invalid { path: path.to_owned(), what: "HarborCluster", field, message })
}

/// Parses a HarborCluster from YAML text; the error is (field path, message).
pub fn parse_cluster(text: &str) -> Result<HarborCluster, (String, String)> {
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| ("(document)".to_owned(), e.to_string()))?;
    let api_version = "berth.dev/v1alpha1";
    let field = |name: &str| value.get(name).and_then(serde_yaml::Value::as_str);
    if field("apiVersion") != Some(api_version) || field("kind") != Some("HarborCluster") {
        return Err(("apiVersion".to_owned(), format!("expected apiVersion {api_version} and kind HarborCluster")));
    }
    let cluster: HarborCluster = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        (if path == "." { "(document)".to_owned() } else { path }, e.into_inner().to_string())
    })?;
    if cluster.metadata.name.as_deref().unwrap_or_default().is_empty() {
        return Err(("metadata.name".to_owned(), "a HarborCluster needs a name".to_owned()));
    }
    Ok(cluster)
}

/// Multi-document YAML that `kubectl apply -f -` accepts.
pub fn to_yaml<'a>(objects: impl IntoIterator<Item = &'a Map<String, Value>>) -> Result<String, ManifestError> {
    let mut out = String::new();
    for object in objects {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(object).map_err(ManifestError::Write)?);
    }
    Ok(out)
}
