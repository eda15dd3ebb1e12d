//! The topology the host resolves before any plugin runs: names, Services, URLs, ports,
//! images and Secret names. Plugins read it; they never invent a name another component
//! must agree on, so core, jobservice and registry always point at each other correctly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Topology {
    /// The chart's `<fullname>`: `<release>-harbor`, or the release name when it already
    /// contains "harbor". Every object name starts with it.
    pub fullname: String,
    /// Labels every object carries (the chart's `harbor.labels` plus Berth's own).
    pub labels: BTreeMap<String, String>,
    /// The chart's `harbor.matchLabels` (`release`, `app`). Workload selectors are these
    /// plus `component: <name>`; they are immutable, so they must match the chart's for an
    /// existing install to be adopted.
    pub selector_labels: BTreeMap<String, String>,
    /// Per component: its object names, Service, ports, URL and image.
    pub components: BTreeMap<String, ComponentTopology>,
    /// imagePullPolicy for every container.
    pub image_pull_policy: String,
    /// Secret names used to pull images.
    #[serde(default)]
    pub image_pull_secrets: Vec<String>,
    /// spec.externalURL.
    pub external_url: String,
    /// Components the host renders for this cluster (core, portal, trivy, ...), sorted.
    pub enabled: Vec<String>,
    /// Names of the Secrets the host generates, and where the admin password is.
    pub secrets: SecretNames,
    /// The PostgreSQL every component connects to, in-cluster or external.
    pub database: DatabaseEndpoint,
    /// The Redis every component connects to, in-cluster or external.
    pub redis: RedisEndpoint,
}

/// A key of a Secret.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretKey {
    pub name: String,
    pub key: String,
}

impl SecretKey {
    pub fn new(name: impl Into<String>, key: impl Into<String>) -> Self {
        SecretKey { name: name.into(), key: key.into() }
    }
}

/// Keys of the Secrets the host generates (chart-compatible names).
pub mod keys {
    /// `<fullname>-core`: the 16-character data-encryption key. Never rotated.
    pub const SECRET_KEY: &str = "secretKey";
    /// `<fullname>-core`: the secret core, jobservice and registryctl share.
    pub const CORE_SECRET: &str = "secret";
    /// `<fullname>-core`: the 32-character CSRF key.
    pub const CSRF_KEY: &str = "CSRF_KEY";
    /// `<fullname>-core`: the token-signing key and its certificate.
    pub const TOKEN_KEY: &str = "tls.key";
    pub const TOKEN_CERT: &str = "tls.crt";
    /// `<fullname>-core`: the generated admin password (when none is given).
    pub const ADMIN_PASSWORD: &str = "HARBOR_ADMIN_PASSWORD";
    /// `<fullname>-jobservice`.
    pub const JOBSERVICE_SECRET: &str = "JOBSERVICE_SECRET";
    /// `<fullname>-registry`: the upload-state HMAC secret, the same on every replica.
    pub const REGISTRY_HTTP_SECRET: &str = "REGISTRY_HTTP_SECRET";
    /// `<fullname>-registry-htpasswd`: the registry credential and its bcrypt line.
    pub const REGISTRY_PASSWORD: &str = "REGISTRY_PASSWD";
    pub const REGISTRY_HTPASSWD: &str = "REGISTRY_HTPASSWD";
    /// `<fullname>-database`: the in-cluster PostgreSQL password.
    pub const POSTGRES_PASSWORD: &str = "POSTGRES_PASSWORD";
}

/// The user name core and jobservice present to the registry (htpasswd basic auth).
pub const REGISTRY_USERNAME: &str = "harbor_registry_user";

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretNames {
    /// `<fullname>-core`: secretKey, secret, CSRF_KEY, tls.key, tls.crt[, HARBOR_ADMIN_PASSWORD].
    pub core: String,
    /// `<fullname>-jobservice`: JOBSERVICE_SECRET.
    pub jobservice: String,
    /// `<fullname>-registry`: REGISTRY_HTTP_SECRET.
    pub registry: String,
    /// `<fullname>-registry-htpasswd`: REGISTRY_PASSWD, REGISTRY_HTPASSWD.
    pub registry_htpasswd: String,
    /// The admin password: the user's Secret key, or the generated one.
    pub admin_password: SecretKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseEndpoint {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub database: String,
    pub sslmode: String,
    pub max_idle_conns: u32,
    pub max_open_conns: u32,
    pub password: SecretKey,
}

/// Redis database indices, the chart's (so a chart install can be adopted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedisIndices {
    pub core: u8,
    pub jobservice: u8,
    pub registry: u8,
    pub trivy: u8,
}

impl Default for RedisIndices {
    fn default() -> Self {
        RedisIndices { core: 0, jobservice: 1, registry: 2, trivy: 5 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedisEndpoint {
    /// "host:port", or a comma-separated sentinel list.
    pub addr: String,
    #[serde(default)]
    pub sentinel_master_set: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<SecretKey>,
    pub tls: bool,
    pub indices: RedisIndices,
}

/// The environment variable a container must define (from `RedisEndpoint::password`)
/// before any variable whose value uses [`RedisEndpoint::url`].
pub const REDIS_PASSWORD_ENV: &str = "REDIS_PASSWORD";

impl RedisEndpoint {
    /// A Redis URL for database `db`, as the chart builds it. The password is written
    /// as `$(REDIS_PASSWORD)`, which Kubernetes expands from an earlier env var, so the
    /// password never lands in a ConfigMap.
    pub fn url(&self, db: u8) -> String {
        let auth = match (&self.username, &self.password) {
            (Some(user), Some(_)) => format!("{user}:$({REDIS_PASSWORD_ENV})@"),
            (None, Some(_)) => format!(":$({REDIS_PASSWORD_ENV})@"),
            (Some(user), None) => format!("{user}@"),
            (None, None) => String::new(),
        };
        match &self.sentinel_master_set {
            Some(master) => format!("redis+sentinel://{auth}{}/{master}/{db}", self.addr),
            None => {
                let scheme = if self.tls { "rediss" } else { "redis" };
                format!("{scheme}://{auth}{}/{db}", self.addr)
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentTopology {
    /// Base name of the component's objects, e.g. "demo-harbor-portal".
    pub name: String,
    /// Name of the component's Service.
    pub service_name: String,
    /// Port the Service exposes.
    pub service_port: u16,
    /// Port the container listens on.
    pub container_port: u16,
    /// "http" or "https" (internal TLS).
    pub scheme: String,
    /// URL other components use to reach it, e.g. "http://demo-harbor-portal".
    pub url: String,
    /// Image references by container name, e.g. {"portal": "docker.io/goharbor/harbor-portal:v2.15.1"}.
    pub images: BTreeMap<String, String>,
}

impl Topology {
    /// The topology of one component, or an error naming it.
    pub fn component(&self, name: &str) -> Result<&ComponentTopology, crate::RenderError> {
        self.components.get(name).ok_or_else(|| crate::RenderError::Internal(format!("the host's topology has no component {name:?}")))
    }

    /// Selector labels for one component's pods.
    pub fn selector_for(&self, component: &str) -> BTreeMap<String, String> {
        let mut labels = self.selector_labels.clone();
        labels.insert("component".to_owned(), component.to_owned());
        labels
    }

    /// Object labels for one component's objects.
    pub fn labels_for(&self, component: &str) -> BTreeMap<String, String> {
        let mut labels = self.labels.clone();
        labels.insert("component".to_owned(), component.to_owned());
        labels.insert("app.kubernetes.io/component".to_owned(), component.to_owned());
        labels
    }
}

impl ComponentTopology {
    /// The image of one container, or an error naming it.
    pub fn image(&self, container: &str) -> Result<&str, crate::RenderError> {
        self.images.get(container).map(String::as_str).ok_or_else(|| {
            crate::RenderError::Internal(format!("the host's topology has no image for container {container:?} of {}", self.name))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_urls_follow_the_chart_and_keep_the_password_out() {
        let mut redis = RedisEndpoint { addr: "r:6379".to_owned(), ..RedisEndpoint::default() };
        assert_eq!(redis.url(0), "redis://r:6379/0");
        redis.password = Some(SecretKey { name: "s".to_owned(), key: "k".to_owned() });
        redis.tls = true;
        assert_eq!(redis.url(2), "rediss://:$(REDIS_PASSWORD)@r:6379/2");
        redis.sentinel_master_set = Some("mymaster".to_owned());
        redis.addr = "s1:26379,s2:26379".to_owned();
        redis.username = Some("harbor".to_owned());
        assert_eq!(redis.url(1), "redis+sentinel://harbor:$(REDIS_PASSWORD)@s1:26379,s2:26379/mymaster/1");
    }
}
