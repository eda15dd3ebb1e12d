//! Generated Secrets: which ones a HarborCluster needs, and their values.
//!
//! Values are made here, by the host, once; a plugin only declares what it needs.
//! Every generated Secret is immutable: the API server refuses to change it, so a data
//! encryption key can never be rotated by accident (which would make Harbor's encrypted
//! database columns unreadable).

use std::collections::BTreeMap;

use berth_api::keys::{self, REGISTRY_USERNAME};
use berth_api::spec::{HarborClusterSpec, Placement};
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding};
use serde_json::{Map, Value};

use crate::contract::{BcryptHtpasswd, GeneratedKey, GeneratedSecret, RsaKeyWithCert, SecretValue, Topology};

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("Secret {secret}: key {key} hashes {missing}, which is not generated before it")]
    MissingPassword { secret: String, key: String, missing: String },
    #[error("Secret {secret}: key {key}: RSA keys must have 2048 to 4096 bits, not {bits}")]
    BadKeySize { secret: String, key: String, bits: u32 },
    #[error("Secret {secret}: key {key}: a certificate is valid for 1 to {MAX_VALIDITY_DAYS} days, not {days}")]
    BadValidity { secret: String, key: String, days: u32 },
    #[error("Secret {secret}: {what}")]
    BadDeclaration { secret: String, what: String },
    #[error("{count} generated Secrets declared; a plugin may declare at most {MAX_DECLARED_SECRETS}")]
    TooManySecrets { count: usize },
    #[error("Secret {secret} is not this component's to declare: {why}")]
    NotYours { secret: String, why: String },
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
    #[error("key {key} is not a PEM private key Harbor can read (PKCS#1 RSA or PKCS#8 RSA to convert)")]
    UnreadableKey {
        key: String,
        #[source]
        source: Option<BoxError>,
    },
}

/// Annotation on a generated Secret holding a token-signing key: the key's PEM form.
/// Its presence tells the operator that no conversion is due (see the controller's
/// `token_key` module).
pub const KEY_FORMAT_ANNOTATION: &str = "berth.dev/token-key-format";
pub const KEY_FORMAT_PKCS1: &str = "pkcs1";

/// The PEM types Harbor's token service accepts for its signing key: it loads the key with
/// libtrust, which knows PKCS#1 RSA and SEC1 EC keys and nothing else (a PKCS#8
/// `PRIVATE KEY` makes every `docker login` fail with HTTP 500).
pub const HARBOR_READABLE_KEY_TYPES: [&str; 2] = ["RSA PRIVATE KEY", "EC PRIVATE KEY"];

/// The type of the first PEM block in `pem` (`RSA PRIVATE KEY`, `PRIVATE KEY`, ...).
pub fn pem_type(pem: &str) -> Option<&str> {
    let start = pem.find("-----BEGIN ")? + "-----BEGIN ".len();
    let rest = &pem[start..];
    rest.find("-----").map(|end| &rest[..end])
}

/// Whether Harbor's token service can read `pem` as its signing key.
pub fn harbor_can_read_key(pem: &str) -> bool {
    pem_type(pem).is_some_and(|t| HARBOR_READABLE_KEY_TYPES.contains(&t))
}

/// Converts the token key of a Secret manifest (as `kubectl get secret -o yaml` prints it,
/// or as an older `berth render --emit-secrets` wrote it) in place, in `data` or
/// `stringData`, and clears the server-set metadata so it can be created again. Returns
/// whether the key changed.
pub fn convert_token_key_in_secret(secret: &mut k8s_openapi::api::core::v1::Secret, key: &str) -> Result<bool, SecretError> {
    let missing = || SecretError::UnreadableKey { key: key.to_owned(), source: None };
    let converted = if let Some(text) = secret.string_data.as_mut().and_then(|d| d.get_mut(key)) {
        token_key_to_pkcs1(key, text)?.map(|pkcs1| *text = pkcs1).is_some()
    } else {
        let bytes = secret.data.as_mut().and_then(|d| d.get_mut(key)).ok_or_else(missing)?;
        let text =
            std::str::from_utf8(&bytes.0).map_err(|e| SecretError::UnreadableKey { key: key.to_owned(), source: Some(Box::new(e)) })?;
        token_key_to_pkcs1(key, text)?.map(|pkcs1| bytes.0 = pkcs1.into_bytes()).is_some()
    };
    let metadata = &mut secret.metadata;
    (metadata.uid, metadata.resource_version, metadata.creation_timestamp, metadata.managed_fields) = (None, None, None, None);
    metadata.annotations.get_or_insert_default().insert(KEY_FORMAT_ANNOTATION.to_owned(), KEY_FORMAT_PKCS1.to_owned());
    Ok(converted)
}

/// Re-encodes a PKCS#8 RSA private key as PKCS#1: the same key material, so the
/// certificate beside it and every token it signed stay valid. `Ok(None)` when the key is
/// already in a form Harbor reads.
pub fn token_key_to_pkcs1(key: &str, pem: &str) -> Result<Option<String>, SecretError> {
    if harbor_can_read_key(pem) {
        return Ok(None);
    }
    let unreadable = |source: Option<BoxError>| SecretError::UnreadableKey { key: key.to_owned(), source };
    if pem_type(pem) != Some("PRIVATE KEY") {
        return Err(unreadable(None));
    }
    let private = rsa::RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| unreadable(Some(Box::new(e))))?;
    let pkcs1 = private.to_pkcs1_pem(LineEnding::LF).map_err(|e| unreadable(Some(Box::new(e))))?;
    Ok(Some(pkcs1.to_string()))
}

/// Bounds on what a plugin may declare, checked before any value is generated: each is
/// far above what a Harbor component needs, and far below what would cost the host
/// real time or memory (an 8192-bit key took 48 s; 100,000 declarations were tried).
pub const MAX_DECLARED_SECRETS: usize = 8;
pub const MAX_KEYS_PER_SECRET: usize = 16;
pub const MAX_VALIDITY_DAYS: u32 = 7300;
const MAX_TEXT: usize = 253;

/// Checks one plugin's declarations: how many, whose (`allowed` says which names are
/// the component's), and every value's parameters. Nothing is generated.
pub fn validate_declarations(declared: &[GeneratedSecret], allowed: impl Fn(&str) -> Result<(), String>) -> Result<(), SecretError> {
    if declared.len() > MAX_DECLARED_SECRETS {
        return Err(SecretError::TooManySecrets { count: declared.len() });
    }
    for secret in declared {
        let bad = |what: String| SecretError::BadDeclaration { secret: bounded(&secret.name), what };
        if !crate::names::is_dns_subdomain(&secret.name) {
            return Err(bad("the name is not a valid Secret name".to_owned()));
        }
        allowed(&secret.name).map_err(|why| SecretError::NotYours { secret: secret.name.clone(), why })?;
        if secret.keys.is_empty() || secret.keys.len() > MAX_KEYS_PER_SECRET {
            return Err(bad(format!("declares {} keys; 1 to {MAX_KEYS_PER_SECRET} are allowed", secret.keys.len())));
        }
        let mut seen = std::collections::HashSet::new();
        for key in &secret.keys {
            let mut names = vec![key.key.as_str()];
            if let SecretValue::RsaKeyWithCert(RsaKeyWithCert { certificate_key, .. }) = &key.value {
                names.push(certificate_key);
            }
            for name in names {
                if !is_secret_key(name) {
                    return Err(bad(format!("key {:?} is not a valid Secret key", bounded(name))));
                }
                if !seen.insert(name) {
                    return Err(bad(format!("key {name} is declared twice")));
                }
            }
            check_value(&secret.name, key)?;
            if let SecretValue::BcryptHtpasswd(BcryptHtpasswd { username, password_key }) = &key.value {
                if username.is_empty() || username.len() > 64 || username.contains(':') || username.chars().any(char::is_control) {
                    return Err(bad(format!("key {}: the htpasswd user name must be 1 to 64 characters without ':'", key.key)));
                }
                if !seen.contains(password_key.as_str()) {
                    return Err(SecretError::MissingPassword {
                        secret: secret.name.clone(),
                        key: key.key.clone(),
                        missing: bounded(password_key),
                    });
                }
            }
        }
    }
    Ok(())
}

/// A Secret data key: `[-._a-zA-Z0-9]+`, at most 253 characters.
fn is_secret_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_TEXT && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// At most 64 characters of a plugin's string, for an error message.
fn bounded(text: &str) -> String {
    crate::names::truncate(text, 64)
}

/// The parameters of one value, checked before it is generated.
fn check_value(secret: &str, key: &GeneratedKey) -> Result<(), SecretError> {
    match &key.value {
        SecretValue::RandomString(length) if !(1..=4096).contains(length) => {
            Err(SecretError::BadLength { secret: secret.to_owned(), key: key.key.clone(), length: *length })
        }
        SecretValue::RsaKeyWithCert(RsaKeyWithCert { bits, .. }) if !(2048..=4096).contains(bits) => {
            Err(SecretError::BadKeySize { secret: secret.to_owned(), key: key.key.clone(), bits: *bits })
        }
        SecretValue::RsaKeyWithCert(RsaKeyWithCert { validity_days, .. }) if !(1..=MAX_VALIDITY_DAYS).contains(validity_days) => {
            Err(SecretError::BadValidity { secret: secret.to_owned(), key: key.key.clone(), days: *validity_days })
        }
        SecretValue::RsaKeyWithCert(RsaKeyWithCert { common_name, .. })
            if common_name.is_empty() || common_name.len() > 64 || common_name.chars().any(char::is_control) =>
        {
            Err(SecretError::BadDeclaration {
                secret: secret.to_owned(),
                what: format!("key {}: the common name must be 1 to 64 printable characters", key.key),
            })
        }
        _ => Ok(()),
    }
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
            value: SecretValue::RsaKeyWithCert(RsaKeyWithCert {
                bits: 2048,
                common_name: "harbor-token-ca".to_owned(),
                validity_days: 3650,
                certificate_key: keys::TOKEN_CERT.to_owned(),
            }),
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
                    value: SecretValue::BcryptHtpasswd(BcryptHtpasswd {
                        username: REGISTRY_USERNAME.to_owned(),
                        password_key: keys::REGISTRY_PASSWORD.to_owned(),
                    }),
                },
            ],
        },
    ];
    if spec.database.type_ == Placement::Internal {
        secrets.push(GeneratedSecret { name: topology.database.password.name.clone(), keys: vec![random(keys::POSTGRES_PASSWORD, 16)] });
    }
    secrets
}

/// Merges declarations of the same Secret (the host's inventory and plugins'), refusing
/// two that disagree about one key. Sorted by name; linear in the number of keys.
pub fn merge(declared: impl IntoIterator<Item = GeneratedSecret>) -> Result<Vec<GeneratedSecret>, SecretError> {
    use std::collections::HashMap;
    let mut by_name: BTreeMap<String, (Vec<GeneratedKey>, HashMap<String, usize>)> = BTreeMap::new();
    for secret in declared {
        let (keys, index) = by_name.entry(secret.name.clone()).or_default();
        for key in secret.keys {
            match index.get(&key.key) {
                Some(&at) if keys[at].value != key.value => {
                    return Err(SecretError::Conflict { secret: secret.name.clone(), key: key.key });
                }
                Some(_) => {}
                None => {
                    index.insert(key.key.clone(), keys.len());
                    keys.push(key);
                }
            }
        }
    }
    Ok(by_name.into_iter().map(|(name, (keys, _))| GeneratedSecret { name, keys }).collect())
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
        check_value(&secret.name, key)?;
        match &key.value {
            SecretValue::RandomString(length) => {
                data.insert(key.key.clone(), random_alphanumeric(*length as usize).map_err(|e| crypto(Box::new(e)))?);
            }
            SecretValue::RsaKeyWithCert(RsaKeyWithCert { bits, common_name, validity_days, certificate_key }) => {
                let (private_pem, cert_pem) = rsa_key_with_cert(*bits, common_name, *validity_days).map_err(crypto)?;
                data.insert(key.key.clone(), private_pem);
                data.insert(certificate_key.clone(), cert_pem);
            }
            SecretValue::BcryptHtpasswd(BcryptHtpasswd { username, password_key }) => {
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
    // rcgen signs with a PKCS#8 key; Harbor is handed the same key as PKCS#1, the only
    // RSA form its token service reads.
    let pkcs8_pem = key.to_pkcs8_pem(LineEnding::LF)?;
    let key_pair = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&pkcs8_pem, &rcgen::PKCS_RSA_SHA256)?;
    let private_pem = key.to_pkcs1_pem(LineEnding::LF)?.to_string();
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
    let mut metadata = serde_json::json!({ "name": name });
    if data.values().any(|v| pem_type(v) == Some("RSA PRIVATE KEY")) {
        metadata["annotations"] = serde_json::json!({ KEY_FORMAT_ANNOTATION: KEY_FORMAT_PKCS1 });
    }
    object.insert("metadata".to_owned(), metadata);
    object.insert("type".to_owned(), Value::String("Opaque".to_owned()));
    object.insert("immutable".to_owned(), Value::Bool(true));
    object.insert("stringData".to_owned(), Value::Object(string_data));
    object
}

#[cfg(test)]
mod tests {
    use rsa::pkcs1::DecodeRsaPrivateKey as _;

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
                value: SecretValue::BcryptHtpasswd(BcryptHtpasswd { username: "u".to_owned(), password_key: "pw".to_owned() }),
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
            value: SecretValue::BcryptHtpasswd(BcryptHtpasswd { username: "u".to_owned(), password_key: "pw".to_owned() }),
        }]));
        assert!(matches!(err, Err(SecretError::MissingPassword { .. })));
    }

    #[test]
    fn rsa_key_comes_with_a_certificate() {
        let data = generate(&secret(vec![GeneratedKey {
            key: "tls.key".to_owned(),
            value: SecretValue::RsaKeyWithCert(RsaKeyWithCert {
                bits: 2048,
                common_name: "harbor-token-ca".to_owned(),
                validity_days: 365,
                certificate_key: "tls.crt".to_owned(),
            }),
        }]))
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(data["tls.crt"].starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(harbor_can_read_key(&data["tls.key"]), "Harbor cannot read a {:?} token key", pem_type(&data["tls.key"]));
        assert_eq!(pem_type(&data["tls.key"]), Some("RSA PRIVATE KEY"));
        // The certificate is for this very key: its public key info stands in it verbatim.
        let key = rsa::RsaPrivateKey::from_pkcs1_pem(&data["tls.key"]).unwrap_or_else(|e| panic!("{e}"));
        let spki = rsa::pkcs8::EncodePublicKey::to_public_key_der(&key.to_public_key()).unwrap_or_else(|e| panic!("{e}"));
        let (_, cert_der) = rsa::pkcs8::der::pem::decode_vec(data["tls.crt"].as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert!(cert_der.windows(spki.as_bytes().len()).any(|w| w == spki.as_bytes()));
    }

    #[test]
    fn a_secret_manifest_converts_in_data_or_string_data_keeping_every_other_value() {
        let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap_or_else(|e| panic!("{e}"));
        let pkcs8 = key.to_pkcs8_pem(LineEnding::LF).unwrap_or_else(|e| panic!("{e}")).to_string();
        let mut secret = k8s_openapi::api::core::v1::Secret::default();
        secret.metadata.uid = Some("u".to_owned());
        secret.data = Some(BTreeMap::from([
            ("tls.key".to_owned(), k8s_openapi::ByteString(pkcs8.clone().into_bytes())),
            ("secretKey".to_owned(), k8s_openapi::ByteString(b"0123456789abcdef".to_vec())),
        ]));
        assert!(matches!(convert_token_key_in_secret(&mut secret, "tls.key"), Ok(true)));
        let data = secret.data.clone().unwrap_or_default();
        assert!(harbor_can_read_key(&String::from_utf8_lossy(&data["tls.key"].0)));
        assert_eq!(data["secretKey"].0, b"0123456789abcdef");
        assert_eq!(secret.metadata.uid, None);
        assert!(matches!(convert_token_key_in_secret(&mut secret, "tls.key"), Ok(false)));

        let mut from_emit =
            k8s_openapi::api::core::v1::Secret { string_data: Some(BTreeMap::from([("tls.key".to_owned(), pkcs8)])), ..Default::default() };
        assert!(matches!(convert_token_key_in_secret(&mut from_emit, "tls.key"), Ok(true)));
        assert!(harbor_can_read_key(&from_emit.string_data.unwrap_or_default()["tls.key"]));
        let mut without = k8s_openapi::api::core::v1::Secret::default();
        assert!(matches!(convert_token_key_in_secret(&mut without, "tls.key"), Err(SecretError::UnreadableKey { .. })));
    }

    #[test]
    fn only_pkcs1_and_sec1_keys_are_readable_by_harbor() {
        assert!(harbor_can_read_key("-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----\n"));
        assert!(harbor_can_read_key("-----BEGIN EC PRIVATE KEY-----\nx\n-----END EC PRIVATE KEY-----\n"));
        assert!(!harbor_can_read_key("-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"));
        assert!(!harbor_can_read_key("-----BEGIN ENCRYPTED PRIVATE KEY-----\nx\n"));
        assert!(!harbor_can_read_key("not a pem"));
    }

    #[test]
    fn a_pkcs8_token_key_converts_to_the_same_key_as_pkcs1() {
        let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap_or_else(|e| panic!("{e}"));
        let pkcs8 = key.to_pkcs8_pem(LineEnding::LF).unwrap_or_else(|e| panic!("{e}")).to_string();
        let converted = token_key_to_pkcs1("tls.key", &pkcs8).unwrap_or_else(|e| panic!("{e}")).unwrap_or_default();
        assert!(harbor_can_read_key(&converted));
        assert_eq!(rsa::RsaPrivateKey::from_pkcs1_pem(&converted).ok(), Some(key));
        // Already readable: nothing to do. Garbage: a typed error naming the key.
        assert!(matches!(token_key_to_pkcs1("tls.key", &converted), Ok(None)));
        let garbage = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(matches!(token_key_to_pkcs1("tls.key", garbage), Err(SecretError::UnreadableKey { key, .. }) if key == "tls.key"));
    }

    #[test]
    fn declarations_are_bounded_and_checked_before_any_work() {
        let yours = |name: &str| {
            if name.starts_with("demo-harbor-portal") { Ok(()) } else { Err("not the portal's".to_owned()) }
        };
        let rsa = |bits, validity_days| GeneratedKey {
            key: "tls.key".to_owned(),
            value: SecretValue::RsaKeyWithCert(RsaKeyWithCert {
                bits,
                common_name: "x".to_owned(),
                validity_days,
                certificate_key: "tls.crt".to_owned(),
            }),
        };
        let one = |name: &str, keys: Vec<GeneratedKey>| vec![GeneratedSecret { name: name.to_owned(), keys }];
        let random = |key: &str, n| GeneratedKey { key: key.to_owned(), value: SecretValue::RandomString(n) };
        assert!(validate_declarations(&one("demo-harbor-portal", vec![random("k", 16), rsa(2048, 365)]), yours).is_ok());
        let cases: Vec<(Vec<GeneratedSecret>, &str)> = vec![
            (one("demo-harbor-core", vec![random("k", 16)]), "NotYours"),
            (one("demo-harbor-portal", vec![rsa(8192, 365)]), "BadKeySize"),
            (one("demo-harbor-portal", vec![rsa(2048, u32::MAX)]), "BadValidity"),
            (one("demo-harbor-portal", vec![rsa(2048, 0)]), "BadValidity"),
            (one("demo-harbor-portal", vec![random("k", 0)]), "BadLength"),
            (one("demo-harbor-portal", vec![random("k", 1 << 20)]), "BadLength"),
            (one("demo-harbor-portal", vec![random("k", 1), random("k", 2)]), "BadDeclaration"),
            (one("demo-harbor-portal", vec![random("k/../x", 1)]), "BadDeclaration"),
            (one("demo-harbor-portal", (0..100).map(|i| random(&format!("k{i}"), 1)).collect()), "BadDeclaration"),
            (one("Demo_Harbor_Portal", vec![random("k", 1)]), "BadDeclaration"),
            ((0..100_005).map(|i| GeneratedSecret { name: format!("demo-harbor-portal-{i}"), keys: vec![] }).collect(), "TooManySecrets"),
        ];
        for (declared, expected) in cases {
            let err = validate_declarations(&declared, yours).err().map(|e| format!("{e:?}")).unwrap_or_default();
            assert!(err.starts_with(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn merging_a_hundred_thousand_keys_is_linear() {
        // Quadratic, this took 90 s; linear, it is a blink. (Not a timed assertion: the
        // test only has to finish.)
        let keys: Vec<GeneratedKey> =
            (0..100_000).map(|i| GeneratedKey { key: format!("k{i}"), value: SecretValue::RandomString(1) }).collect();
        let merged = merge([GeneratedSecret { name: "s".to_owned(), keys }]).unwrap_or_default();
        assert_eq!(merged[0].keys.len(), 100_000);
    }

    #[test]
    fn merge_refuses_disagreeing_declarations() {
        let a = secret(vec![GeneratedKey { key: "k".to_owned(), value: SecretValue::RandomString(16) }]);
        let b = secret(vec![GeneratedKey { key: "k".to_owned(), value: SecretValue::RandomString(32) }]);
        assert!(matches!(merge([a.clone(), a.clone()]), Ok(v) if v.len() == 1 && v[0].keys.len() == 1));
        assert!(matches!(merge([a, b]), Err(SecretError::Conflict { .. })));
    }
}
