//! Generated Secrets: which ones a HarborCluster needs, and their values.
//!
//! Values are made here, by the host, once; a plugin only declares what it needs.
//! Every generated Secret is immutable: the API server refuses to change it, so a data
//! encryption key can never be rotated by accident (which would make Harbor's encrypted
//! database columns unreadable).

use std::collections::BTreeMap;

use berth_sdk::contract::{GeneratedKey, GeneratedSecret, SecretValue};
use berth_sdk::spec::{HarborClusterSpec, Placement};
use berth_sdk::topology::{REGISTRY_USERNAME, Topology, keys};
use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("Secret {secret}: key {key} hashes {missing}, which is not generated before it")]
    MissingPassword { secret: String, key: String, missing: String },
    #[error("Secret {secret}: key {key}: RSA keys must have 2048 to 8192 bits, not {bits}")]
    BadKeySize { secret: String, key: String, bits: u32 },
    #[error("Secret {secret}: key {key}: a random string must have 1 to 4096 characters, not {length}")]
    BadLength { secret: String, key: String, length: u32 },
    #[error("Secret {secret}: generating {key} failed")]
    Crypto {
        secret: String,
        key: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("two declarations of Secret {secret} disagree about key {key}")]
    Conflict { secret: String, key: String },
}

/// The Secrets a HarborCluster needs generated (chart-compatible names and keys).
pub fn inventory(spec: &HarborClusterSpec, topology: &Topology) -> Vec<GeneratedSecret> {
    let random = |key: &str, n: u32| GeneratedKey { key: key.to_owned(), value: SecretValue::RandomString(n) };
    let mut core = vec![
        random(keys::SECRET_KEY, 16),
        random(keys::CORE_SECRET, 16),
        random(keys::CSRF_KEY, 32),
        GeneratedKey {
            key: keys::TOKEN_KEY.to_owned(),
            value: SecretValue::RsaKeyWithCert {
                bits: 2048,
                common_name: "harbor-token-ca".to_owned(),
                validity_days: 3650,
                certificate_key: keys::TOKEN_CERT.to_owned(),
            },
        },
    ];
    if spec.admin_password.is_none() {
        core.push(random(keys::ADMIN_PASSWORD, 16));
    }
    let names = &topology.secrets;
    let mut secrets = vec![
        GeneratedSecret { name: names.core.clone(), keys: core },
        GeneratedSecret { name: names.jobservice.clone(), keys: vec![random(keys::JOBSERVICE_SECRET, 16)] },
        GeneratedSecret { name: names.registry.clone(), keys: vec![random(keys::REGISTRY_HTTP_SECRET, 16)] },
        GeneratedSecret {
            name: names.registry_htpasswd.clone(),
            keys: vec![
                random(keys::REGISTRY_PASSWORD, 16),
                GeneratedKey {
                    key: keys::REGISTRY_HTPASSWD.to_owned(),
                    value: SecretValue::BcryptHtpasswd {
                        username: REGISTRY_USERNAME.to_owned(),
                        password_key: keys::REGISTRY_PASSWORD.to_owned(),
                    },
                },
            ],
        },
    ];
    if spec.database.type_ == Placement::Internal {
        secrets.push(GeneratedSecret {
            name: topology.database.password.name.clone(),
            keys: vec![random(keys::POSTGRES_PASSWORD, 16)],
        });
    }
    secrets
}

/// Merges declarations of the same Secret (the host's inventory and plugins'), refusing
/// two that disagree about one key. Sorted by name.
pub fn merge(declared: impl IntoIterator<Item = GeneratedSecret>) -> Result<Vec<GeneratedSecret>, SecretError> {
    let mut by_name: BTreeMap<String, Vec<GeneratedKey>> = BTreeMap::new();
    for secret in declared {
        let keys = by_name.entry(secret.name.clone()).or_default();
        for key in secret.keys {
            match keys.iter().find(|k| k.key == key.key) {
                Some(existing) if existing.value != key.value => {
                    return Err(SecretError::Conflict { secret: secret.name.clone(), key: key.key });
                }
                Some(_) => {}
                None => keys.push(key),
            }
        }
    }
    Ok(by_name.into_iter().map(|(name, keys)| GeneratedSecret { name, keys }).collect())
}

/// Generates a Secret's values, keys in declaration order (a bcrypt line refers to a
/// password declared before it).
pub fn generate(secret: &GeneratedSecret) -> Result<BTreeMap<String, String>, SecretError> {
    let mut data = BTreeMap::new();
    for key in &secret.keys {
        let crypto = |source: Box<dyn std::error::Error + Send + Sync>| SecretError::Crypto {
            secret: secret.name.clone(),
            key: key.key.clone(),
            source,
        };
        match &key.value {
            SecretValue::RandomString(length) => {
                if !(1..=4096).contains(length) {
                    return Err(SecretError::BadLength { secret: secret.name.clone(), key: key.key.clone(), length: *length });
                }
                data.insert(key.key.clone(), random_alphanumeric(*length as usize).map_err(|e| crypto(Box::new(e)))?);
            }
            SecretValue::RsaKeyWithCert { bits, common_name, validity_days, certificate_key } => {
                if !(2048..=8192).contains(bits) {
                    return Err(SecretError::BadKeySize { secret: secret.name.clone(), key: key.key.clone(), bits: *bits });
                }
                let (private_pem, cert_pem) = rsa_key_with_cert(*bits, common_name, *validity_days).map_err(crypto)?;
                data.insert(key.key.clone(), private_pem);
                data.insert(certificate_key.clone(), cert_pem);
            }
            SecretValue::BcryptHtpasswd { username, password_key } => {
                let password = data.get(password_key).ok_or_else(|| SecretError::MissingPassword {
                    secret: secret.name.clone(),
                    key: key.key.clone(),
                    missing: password_key.clone(),
                })?;
                let hash = bcrypt::hash_with_result(password, bcrypt::DEFAULT_COST).map_err(|e| crypto(Box::new(e)))?;
                // distribution's htpasswd reader wants the $2y$ prefix.
                data.insert(key.key.clone(), format!("{username}:{}", hash.format_for_version(bcrypt::Version::TwoY)));
            }
        }
    }
    Ok(data)
}

/// Uniform alphanumeric characters from the OS RNG (rejection sampling, no modulo bias).
fn random_alphanumeric(length: usize) -> Result<String, getrandom::Error> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(length);
    let mut buffer = [0u8; 64];
    while out.len() < length {
        getrandom::fill(&mut buffer)?;
        for byte in buffer {
            // 248 = 4 * 62: bytes at or above it would favour the first characters.
            if byte < 248 && out.len() < length {
                out.push(char::from(ALPHABET[usize::from(byte) % ALPHABET.len()]));
            }
        }
    }
    Ok(out)
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn rsa_key_with_cert(bits: u32, common_name: &str, validity_days: u32) -> Result<(String, String), BoxError> {
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, bits as usize)?;
    let private_pem = key.to_pkcs8_pem(LineEnding::LF)?.to_string();
    let key_pair = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&private_pem, &rcgen::PKCS_RSA_SHA256)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(rcgen::DnType::CommonName, common_name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now;
    params.not_after = now + time::Duration::days(i64::from(validity_days));
    let cert = params.self_signed(&key_pair)?;
    Ok((private_pem, cert.pem()))
}

/// An immutable Opaque Secret object carrying generated values.
pub fn secret_object(name: &str, data: &BTreeMap<String, String>) -> Map<String, Value> {
    let string_data: Map<String, Value> = data.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    let mut object = Map::new();
    object.insert("apiVersion".to_owned(), Value::String("v1".to_owned()));
    object.insert("kind".to_owned(), Value::String("Secret".to_owned()));
    object.insert("metadata".to_owned(), serde_json::json!({ "name": name }));
    object.insert("type".to_owned(), Value::String("Opaque".to_owned()));
    object.insert("immutable".to_owned(), Value::Bool(true));
    object.insert("stringData".to_owned(), Value::Object(string_data));
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(keys: Vec<GeneratedKey>) -> GeneratedSecret {
        GeneratedSecret { name: "s".to_owned(), keys }
    }

    #[test]
    fn random_strings_have_the_declared_length_and_alphabet() {
        let data = generate(&secret(vec![GeneratedKey { key: "k".to_owned(), value: SecretValue::RandomString(32) }]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(data["k"].len(), 32);
        assert!(data["k"].bytes().all(|b| b.is_ascii_alphanumeric()));
        let again = generate(&secret(vec![GeneratedKey { key: "k".to_owned(), value: SecretValue::RandomString(32) }]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(data["k"], again["k"]);
    }

    #[test]
    fn htpasswd_matches_the_password_beside_it() {
        let data = generate(&secret(vec![
            GeneratedKey { key: "pw".to_owned(), value: SecretValue::RandomString(16) },
            GeneratedKey {
                key: "htpasswd".to_owned(),
                value: SecretValue::BcryptHtpasswd { username: "u".to_owned(), password_key: "pw".to_owned() },
            },
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        let (user, hash) = data["htpasswd"].split_once(':').unwrap_or_default();
        assert_eq!(user, "u");
        assert!(hash.starts_with("$2y$"));
        assert!(bcrypt::verify(&data["pw"], hash).unwrap_or(false));
    }

    #[test]
    fn htpasswd_before_its_password_is_an_error() {
        let err = generate(&secret(vec![GeneratedKey {
            key: "h".to_owned(),
            value: SecretValue::BcryptHtpasswd { username: "u".to_owned(), password_key: "pw".to_owned() },
        }]));
        assert!(matches!(err, Err(SecretError::MissingPassword { .. })));
    }

    #[test]
    fn rsa_key_comes_with_a_certificate() {
        let data = generate(&secret(vec![GeneratedKey {
            key: "tls.key".to_owned(),
            value: SecretValue::RsaKeyWithCert {
                bits: 2048,
                common_name: "harbor-token-ca".to_owned(),
                validity_days: 365,
                certificate_key: "tls.crt".to_owned(),
            },
        }]))
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(data["tls.key"].starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(data["tls.crt"].starts_with("-----BEGIN CERTIFICATE-----"));
    }

    #[test]
    fn merge_refuses_disagreeing_declarations() {
        let a = secret(vec![GeneratedKey { key: "k".to_owned(), value: SecretValue::RandomString(16) }]);
        let b = secret(vec![GeneratedKey { key: "k".to_owned(), value: SecretValue::RandomString(32) }]);
        assert!(matches!(merge([a.clone(), a.clone()]), Ok(v) if v.len() == 1 && v[0].keys.len() == 1));
        assert!(matches!(merge([a, b]), Err(SecretError::Conflict { .. })));
    }
}
