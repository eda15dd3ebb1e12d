//! The chart's generated Secrets, made Berth's before any pod is rolled.
//!
//! The chart keeps Berth's names but not Berth's keys: the registry password is
//! `REGISTRY_CREDENTIAL_PASSWORD` in `<fullname>-core` and `<fullname>-jobservice`, and
//! `<fullname>-registry-htpasswd` holds only the bcrypt line. Each key Berth's pods read
//! that an adopted Secret lacks is copied into it from where the chart keeps the value;
//! one the chart keeps nowhere stops the adoption with the chart value that moved it.
//! Nothing is generated and no value changes: the Secret gets Berth's labels, loses
//! Helm's marks, gains the missing keys and becomes immutable, in one patch that holds
//! only if nobody wrote it since it was read.

use std::collections::BTreeMap;

use berth_api::keys;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Map, Value, json};

use super::{Release, is_helm_annotation};
use crate::contract::{GeneratedSecret, SecretNames};

#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    #[error(
        "Secret {secret} of Helm release {release} has no key {key} and the chart keeps that value nowhere else Berth knows: the install set {chart_value}; Berth cannot take over a value it cannot find and never generates one for an adopted Secret"
    )]
    MissingValue { release: String, secret: String, key: String, chart_value: &'static str },
    #[error(
        "Secret {htpasswd} of Helm release {release}: its htpasswd line does not match the registry password in {password_from}; the chart install's registry login is broken, repair it before adopting"
    )]
    HtpasswdMismatch { release: String, htpasswd: String, password_from: String },
    #[error(
        "Secret {secret} of Helm release {release}: the registry user is {user:?}; Berth's core and jobservice log in as {expected:?} (the chart's registry.credentials.username default)"
    )]
    OtherRegistryUser { release: String, secret: String, user: String, expected: &'static str },
    #[error(
        "Secret {name} already exists and Berth did not create it; set spec.adopt.helmRelease to take over the Helm release it belongs to, or delete it"
    )]
    NotCreatedByBerth { name: String },
    #[error("Secret {secret}: key {key} is not text")]
    NotText { secret: String, key: String },
    #[error("{context}")]
    Kube {
        context: String,
        #[source]
        source: kube::Error,
    },
    #[error("checking the htpasswd line of {secret}")]
    Bcrypt {
        secret: String,
        #[source]
        source: bcrypt::BcryptError,
    },
}

/// One Secret taken over, and the keys copied into it ("KEY from secret/KEY").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adopted {
    pub name: String,
    pub copied: Vec<String>,
}

/// Where the chart keeps a value Berth reads under `key`, other than under the same key
/// of the same Secret, in the order to look.
fn chart_sources(names: &SecretNames, key: &str) -> Vec<(String, &'static str)> {
    match key {
        keys::REGISTRY_PASSWORD => {
            vec![(names.core.clone(), "REGISTRY_CREDENTIAL_PASSWORD"), (names.jobservice.clone(), "REGISTRY_CREDENTIAL_PASSWORD")]
        }
        _ => Vec::new(),
    }
}

/// The chart value that, set, leaves a key out of the chart's own Secret.
fn chart_value_for(key: &str) -> &'static str {
    match key {
        keys::SECRET_KEY => "existingSecretSecretKey",
        keys::CORE_SECRET => "core.existingSecret",
        keys::CSRF_KEY => "core.existingXsrfSecret",
        keys::TOKEN_KEY | keys::TOKEN_CERT => "core.secretName",
        keys::ADMIN_PASSWORD => "existingSecretAdminPassword (name that Secret in spec.adminPassword instead)",
        keys::JOBSERVICE_SECRET => "jobservice.existingSecret",
        keys::REGISTRY_HTTP_SECRET => "registry.existingSecret",
        keys::REGISTRY_PASSWORD | keys::REGISTRY_HTPASSWD => "registry.credentials.existingSecret",
        _ => "a value the chart reads from a Secret of your own",
    }
}

/// The keys of `declared` each with where its value comes from: the Secret itself
/// (`None`) or a copy from another of the release's Secrets.
pub async fn adopt(
    api: &Api<Secret>,
    release: Release<'_>,
    names: &SecretNames,
    declared: &GeneratedSecret,
    live: Secret,
    berth_labels: &BTreeMap<String, String>,
) -> Result<Adopted, AdoptError> {
    let name = declared.name.clone();
    let data = live.data.clone().unwrap_or_default();
    let mut copied_values = Map::new();
    let mut copied = Vec::new();
    for generated in &declared.keys {
        // A key-and-certificate pair declares the certificate's key too.
        let mut wanted = vec![generated.key.as_str()];
        if let crate::contract::SecretValue::RsaKeyWithCert(pair) = &generated.value {
            wanted.push(pair.certificate_key.as_str());
        }
        for key in wanted {
            if data.contains_key(key) {
                continue;
            }
            let mut found = None;
            for (secret, chart_key) in chart_sources(names, key) {
                if let Some(value) = read_key(api, &secret, chart_key).await? {
                    found = Some((format!("{key} from {secret}/{chart_key}"), value));
                    break;
                }
            }
            let Some((from, value)) = found else {
                return Err(AdoptError::MissingValue {
                    release: release.name.to_owned(),
                    secret: name.clone(),
                    key: key.to_owned(),
                    chart_value: chart_value_for(key),
                });
            };
            copied_values.insert(key.to_owned(), serde_json::to_value(&value).unwrap_or(Value::Null));
            copied.push(from);
        }
    }
    check_htpasswd(release, &name, &data, &copied_values).await?;
    let mut labels: Map<String, Value> = live.metadata.labels.iter().flatten().map(|(k, _)| (k.clone(), Value::Null)).collect();
    labels.extend(berth_labels.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))));
    let annotations: Map<String, Value> =
        live.metadata.annotations.iter().flatten().filter(|(k, _)| is_helm_annotation(k)).map(|(k, _)| (k.clone(), Value::Null)).collect();
    let patch = json!({
        "metadata": {"resourceVersion": live.metadata.resource_version, "labels": labels, "annotations": annotations},
        "data": copied_values,
        "immutable": true,
    });
    let params = PatchParams { field_manager: Some(crate::controller::FIELD_MANAGER.to_owned()), ..PatchParams::default() };
    api.patch(&name, &params, &Patch::Merge(&patch))
        .await
        .map_err(|source| AdoptError::Kube { context: format!("taking over Secret {name}"), source })?;
    Ok(Adopted { name, copied })
}

async fn read_key(api: &Api<Secret>, secret: &str, key: &str) -> Result<Option<ByteString>, AdoptError> {
    let found = api.get_opt(secret).await.map_err(|source| AdoptError::Kube { context: format!("reading Secret {secret}"), source })?;
    Ok(found.and_then(|s| s.data).and_then(|mut d| d.remove(key)))
}

/// When the Secret holds the htpasswd line, it must be for Berth's registry user and
/// match the password beside it (kept, or copied from the chart's core Secret): a
/// mismatch would lock core and jobservice out of the registry after the roll.
async fn check_htpasswd(
    release: Release<'_>,
    secret: &str,
    data: &BTreeMap<String, ByteString>,
    copied: &Map<String, Value>,
) -> Result<(), AdoptError> {
    let Some(line) = data.get(keys::REGISTRY_HTPASSWD) else { return Ok(()) };
    let text = |key: &str, bytes: &[u8]| {
        String::from_utf8(bytes.to_vec()).map_err(|_| AdoptError::NotText { secret: secret.to_owned(), key: key.to_owned() })
    };
    let password = match (data.get(keys::REGISTRY_PASSWORD), copied.get(keys::REGISTRY_PASSWORD)) {
        (Some(kept), _) => text(keys::REGISTRY_PASSWORD, &kept.0)?,
        (None, Some(value)) => {
            let bytes: ByteString = serde_json::from_value(value.clone())
                .map_err(|_| AdoptError::NotText { secret: secret.to_owned(), key: keys::REGISTRY_PASSWORD.to_owned() })?;
            text(keys::REGISTRY_PASSWORD, &bytes.0)?
        }
        (None, None) => return Ok(()),
    };
    let line = text(keys::REGISTRY_HTPASSWD, &line.0)?;
    let (user, hash) = line.trim_end().split_once(':').unwrap_or((line.trim_end(), ""));
    if user != keys::REGISTRY_USERNAME {
        return Err(AdoptError::OtherRegistryUser {
            release: release.name.to_owned(),
            secret: secret.to_owned(),
            user: crate::names::truncate(user, 64),
            expected: keys::REGISTRY_USERNAME,
        });
    }
    let hash = hash.to_owned();
    let matches = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
        .await
        .map_err(|_| AdoptError::HtpasswdMismatch {
            release: release.name.to_owned(),
            htpasswd: secret.to_owned(),
            password_from: "a task that did not finish".to_owned(),
        })?
        .map_err(|source| AdoptError::Bcrypt { secret: secret.to_owned(), source })?;
    if !matches {
        return Err(AdoptError::HtpasswdMismatch {
            release: release.name.to_owned(),
            htpasswd: secret.to_owned(),
            password_from: "the chart's REGISTRY_CREDENTIAL_PASSWORD".to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> SecretNames {
        SecretNames {
            core: "h-core".to_owned(),
            jobservice: "h-jobservice".to_owned(),
            registry: "h-registry".to_owned(),
            registry_htpasswd: "h-registry-htpasswd".to_owned(),
            admin_password: crate::contract::SecretKeyRef { name: "h-core".to_owned(), key: keys::ADMIN_PASSWORD.to_owned() },
        }
    }

    #[test]
    fn the_registry_password_is_looked_for_where_the_chart_keeps_it() {
        let sources = chart_sources(&names(), keys::REGISTRY_PASSWORD);
        assert_eq!(
            sources,
            [("h-core".to_owned(), "REGISTRY_CREDENTIAL_PASSWORD"), ("h-jobservice".to_owned(), "REGISTRY_CREDENTIAL_PASSWORD")]
        );
        assert!(chart_sources(&names(), keys::SECRET_KEY).is_empty(), "the encryption key is only ever where it is");
    }

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec()))).collect()
    }

    #[tokio::test]
    async fn an_htpasswd_line_must_match_the_password_and_the_user() {
        let release = Release { name: "h" };
        let hash = bcrypt::hash("s3cret", 4).unwrap_or_else(|e| panic!("{e}"));
        let line = format!("{}:{hash}", keys::REGISTRY_USERNAME);
        let copied = |password: &str| {
            let mut map = Map::new();
            map.insert(
                keys::REGISTRY_PASSWORD.to_owned(),
                serde_json::to_value(ByteString(password.as_bytes().to_vec())).unwrap_or_default(),
            );
            map
        };
        let only_line = data(&[(keys::REGISTRY_HTPASSWD, &line)]);
        assert!(check_htpasswd(release, "s", &only_line, &copied("s3cret")).await.is_ok());
        assert!(matches!(check_htpasswd(release, "s", &only_line, &copied("other")).await, Err(AdoptError::HtpasswdMismatch { .. })));
        let other_user = data(&[(keys::REGISTRY_HTPASSWD, &format!("admin:{hash}"))]);
        assert!(matches!(check_htpasswd(release, "s", &other_user, &copied("s3cret")).await, Err(AdoptError::OtherRegistryUser { .. })));
        assert!(check_htpasswd(release, "s", &data(&[]), &copied("x")).await.is_ok(), "no line, nothing to check");
    }
}
