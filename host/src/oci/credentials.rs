//! Registry credentials in the `kubernetes.io/dockerconfigjson` format: the value of a
//! pull Secret's `.dockerconfigjson` key, and of `~/.docker/config.json` for the CLI.

use std::collections::BTreeMap;

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use super::OciError;

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// The credentials `config` holds for `registry` ("host" or "host:port"), or anonymous
/// when it holds none for it. Malformed JSON or base64 is an error, never anonymous: a
/// typo in a pull Secret must not look like a public registry's refusal.
pub fn for_registry(config: &[u8], registry: &str) -> Result<RegistryAuth, OciError> {
    let config: DockerConfig =
        serde_json::from_slice(config).map_err(|e| OciError::Credentials(format!("not a dockerconfigjson document: {e}")))?;
    let Some(entry) = config.auths.iter().find(|(server, _)| host_of(server) == registry).map(|(_, e)| e) else {
        return Ok(RegistryAuth::Anonymous);
    };
    if let (Some(user), Some(password)) = (&entry.username, &entry.password) {
        return Ok(RegistryAuth::Basic(user.clone(), password.clone()));
    }
    let Some(auth) = &entry.auth else {
        return Err(OciError::Credentials(format!("auths.{registry} has neither auth nor username and password")));
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|e| OciError::Credentials(format!("auths.{registry}.auth is not base64: {e}")))?;
    let decoded =
        String::from_utf8(decoded).map_err(|_| OciError::Credentials(format!("auths.{registry}.auth is not UTF-8 once decoded")))?;
    let (user, password) =
        decoded.split_once(':').ok_or_else(|| OciError::Credentials(format!("auths.{registry}.auth is not base64 of user:password")))?;
    Ok(RegistryAuth::Basic(user.to_owned(), password.to_owned()))
}

/// "https://host:port/v1/" → "host:port": keys of `auths` are written either way.
fn host_of(server: &str) -> &str {
    let server = server.strip_prefix("https://").or_else(|| server.strip_prefix("http://")).unwrap_or(server);
    server.split('/').next().unwrap_or(server)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_field_and_username_password_are_both_read() {
        let config = br#"{"auths":{"https://reg.example:5000/v1/":{"auth":"dmVuZG9yOnMzY3JldA=="},"other.example":{"username":"u","password":"p"}}}"#;
        assert!(matches!(for_registry(config, "reg.example:5000"), Ok(RegistryAuth::Basic(u, p)) if u == "vendor" && p == "s3cret"));
        assert!(matches!(for_registry(config, "other.example"), Ok(RegistryAuth::Basic(u, p)) if u == "u" && p == "p"));
        assert!(matches!(for_registry(config, "public.example"), Ok(RegistryAuth::Anonymous)));
    }

    #[test]
    fn a_malformed_secret_is_an_error_not_anonymous() {
        assert!(for_registry(b"{not json", "r").is_err());
        assert!(for_registry(br#"{"auths":{"r":{"auth":"%%%"}}}"#, "r").is_err());
        assert!(for_registry(br#"{"auths":{"r":{"auth":"bm9jb2xvbg=="}}}"#, "r").is_err());
        assert!(for_registry(br#"{"auths":{"r":{}}}"#, "r").is_err());
    }
}
