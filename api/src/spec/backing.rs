//! The PostgreSQL and Redis Harbor needs: in-cluster or external.

use serde::{Deserialize, Serialize};

use super::components::{ComponentSpec, VolumeSpec};
use super::{SecretKeyRef, from_empty_object};

/// In-cluster or external, as the chart spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    #[default]
    Internal,
    External,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct DatabaseSpec {
    /// `internal` runs PostgreSQL (the harbor-db image) in the cluster; `external` uses yours.
    #[serde(default, rename = "type")]
    pub type_: Placement,
    #[serde(default)]
    pub internal: InternalDatabase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalDatabase>,
    #[serde(default = "default_max_idle")]
    pub max_idle_conns: u32,
    #[serde(default = "default_max_open")]
    pub max_open_conns: u32,
}

impl Default for DatabaseSpec {
    fn default() -> Self {
        from_empty_object()
    }
}

fn default_max_idle() -> u32 {
    100
}

fn default_max_open() -> u32 {
    900
}

/// The in-cluster PostgreSQL StatefulSet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct InternalDatabase {
    /// How its pods run.
    #[serde(flatten)]
    pub pod: ComponentSpec,
    #[serde(default = "default_database_volume")]
    pub volume: VolumeSpec,
    /// Size of the /dev/shm memory volume.
    #[serde(default = "default_shm")]
    pub shm_size_limit: String,
}

impl Default for InternalDatabase {
    fn default() -> Self {
        from_empty_object()
    }
}

fn default_database_volume() -> VolumeSpec {
    VolumeSpec::sized("1Gi")
}

fn default_shm() -> String {
    "512Mi".to_owned()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExternalDatabase {
    /// Host name of the PostgreSQL server.
    #[serde(default)]
    pub host: String,
    #[serde(default = "default_pg_port")]
    pub port: u16,
    pub username: String,
    /// The password: a key of an existing Secret.
    pub password_secret: SecretKeyRef,
    /// Harbor's database (the chart's coreDatabase).
    #[serde(default = "default_core_database")]
    pub database: String,
    #[serde(default)]
    pub sslmode: SslMode,
}

fn default_pg_port() -> u16 {
    5432
}

fn default_core_database() -> String {
    "registry".to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    #[default]
    Disable,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct RedisSpec {
    /// `internal` runs Redis (or Valkey) in the cluster; `external` uses yours.
    #[serde(default, rename = "type")]
    pub type_: Placement,
    #[serde(default)]
    pub internal: InternalRedis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalRedis>,
}

impl Default for RedisSpec {
    fn default() -> Self {
        from_empty_object()
    }
}

/// The in-cluster Redis StatefulSet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct InternalRedis {
    /// How its pods run.
    #[serde(flatten)]
    pub pod: ComponentSpec,
    #[serde(default = "default_redis_volume")]
    pub volume: VolumeSpec,
    /// redis (redis-photon) or valkey (valkey-photon). Absent: the chart's default for
    /// `spec.version` ([`RedisFlavor::chart_default`]): valkey from Harbor 2.15.2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flavor: Option<RedisFlavor>,
}

impl Default for InternalRedis {
    fn default() -> Self {
        from_empty_object()
    }
}

fn default_redis_volume() -> VolumeSpec {
    VolumeSpec::sized("1Gi")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum RedisFlavor {
    #[default]
    Redis,
    Valkey,
}

/// The first Harbor release whose chart runs valkey-photon as the internal Redis (chart
/// 1.19.2, Harbor 2.15.2; 1.19.1 ran redis-photon). A chart that changes the default
/// again adds a line here, with the release it changed in.
const VALKEY_SINCE: [u32; 3] = [2, 15, 2];

impl RedisFlavor {
    /// The flavor the official chart runs for Harbor `version` ("2.15.2"); redis when the
    /// version does not parse (the spec check names that field).
    pub fn chart_default(version: &str) -> RedisFlavor {
        let parts: Vec<u32> = version.split('.').filter_map(|p| p.parse().ok()).collect();
        match <[u32; 3]>::try_from(parts) {
            Ok(v) if v >= VALKEY_SINCE => RedisFlavor::Valkey,
            _ => RedisFlavor::Redis,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExternalRedis {
    /// "host:port", or a comma-separated list of sentinels "s1:26379,s2:26379".
    pub addr: String,
    /// The sentinel master set; when set, `addr` lists sentinels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentinel_master_set: Option<String>,
    /// ACL user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password: a key of an existing Secret. Must be URL-safe (it is placed in
    /// Redis URLs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<SecretKeyRef>,
    /// Connect with TLS (rediss://).
    #[serde(default)]
    pub tls: bool,
}

#[cfg(test)]
mod tests {
    use super::RedisFlavor;

    #[test]
    fn the_chart_switched_to_valkey_at_harbor_2_15_2() {
        for (version, flavor) in [
            ("2.13.4", RedisFlavor::Redis),
            ("2.15.1", RedisFlavor::Redis),
            ("2.15.2", RedisFlavor::Valkey),
            ("2.16.0", RedisFlavor::Valkey),
            ("3.0.0", RedisFlavor::Valkey),
            ("not-a-version", RedisFlavor::Redis),
        ] {
            assert_eq!(RedisFlavor::chart_default(version), flavor, "{version}");
        }
    }
}
