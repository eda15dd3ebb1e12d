//! The registry's `config.yml` and registryctl's `config.yml`, as Harbor's installer
//! templates write them (`make/photon/prepare/templates/registry{,ctl}/`).

use berth_sdk::RenderError;
use berth_sdk::spec::{HarborClusterSpec, LogLevel};
use berth_sdk::topology::RedisEndpoint;
use serde_json::{Map, Value, json};

use crate::storage;
use crate::yaml::to_yaml;

/// Mount path of the registry's config in both containers.
pub const REGISTRY_CONFIG_PATH: &str = "/etc/registry/config.yml";
/// Mount path of the htpasswd file core and jobservice authenticate against.
pub const HTPASSWD_PATH: &str = "/etc/registry/passwd";
/// The realm Harbor's registry client expects (basic auth, not token auth).
const AUTH_REALM: &str = "harbor-registry-basic-realm";

/// Ports the registry's config needs.
pub struct Ports {
    pub registry: u16,
    pub controller: u16,
    /// The debug listener that serves /metrics, when metrics are on.
    pub metrics: Option<u16>,
}

/// The registry's config.yml. Secrets stay out: the HTTP secret, the Redis password
/// and storage credentials arrive as `REGISTRY_*` env overrides.
pub fn registry_config(spec: &HarborClusterSpec, redis: &RedisEndpoint, ports: &Ports) -> Result<String, RenderError> {
    let (driver, driver_config) = storage::driver_block(&spec.storage)?;
    let purging = &spec.registry.upload_purging;

    let mut storage = Map::new();
    storage.insert(driver, driver_config);
    storage.insert("cache".into(), json!({"layerinfo": "redis"}));
    storage.insert(
        "maintenance".into(),
        json!({"uploadpurging": {
            "enabled": purging.enabled,
            "age": purging.age,
            "interval": purging.interval,
            "dryrun": purging.dryrun,
        }}),
    );
    storage.insert("delete".into(), json!({"enabled": true}));
    storage.insert("redirect".into(), json!({"disable": spec.storage.disable_redirect}));

    let debug = match ports.metrics {
        Some(port) => json!({"addr": format!(":{port}"), "prometheus": {"enabled": true, "path": "/metrics"}}),
        // Distribution always opens a debug listener; keep it off the pod network.
        None => json!({"addr": "localhost:5001"}),
    };

    let config = json!({
        "version": 0.1,
        "log": {"level": registry_log_level(spec.log_level), "fields": {"service": "registry"}},
        "storage": Value::Object(storage),
        "redis": redis_block(redis),
        "http": {
            "addr": format!(":{}", ports.registry),
            "relativeurls": spec.registry.relative_urls,
            "debug": debug,
        },
        "auth": {"htpasswd": {"realm": AUTH_REALM, "path": HTPASSWD_PATH}},
        "validation": {"disabled": true},
        "compatibility": {"schema1": {"enabled": true}},
    });
    Ok(to_yaml(&config))
}

fn redis_block(redis: &RedisEndpoint) -> Value {
    let mut m = Map::new();
    m.insert("addr".into(), json!(redis.addr));
    if let Some(master) = &redis.sentinel_master_set {
        m.insert("sentinelMasterSet".into(), json!(master));
    }
    m.insert("db".into(), json!(redis.indices.registry));
    if let Some(user) = &redis.username {
        m.insert("username".into(), json!(user));
    }
    m.insert("readtimeout".into(), json!("10s"));
    m.insert("writetimeout".into(), json!("10s"));
    m.insert("dialtimeout".into(), json!("10s"));
    m.insert("enableTLS".into(), json!(redis.tls));
    m.insert("pool".into(), json!({"maxidle": 100, "maxactive": 500, "idletimeout": "60s"}));
    Value::Object(m)
}

/// Distribution's level names; it has no "warning" or "fatal" of its own.
fn registry_log_level(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warning => "warn",
        LogLevel::Error | LogLevel::Fatal => "error",
    }
}

/// registryctl's config.yml: where it listens and which registry config it garbage-collects.
pub fn controller_config(spec: &HarborClusterSpec, ports: &Ports) -> String {
    to_yaml(&json!({
        "protocol": "http",
        "port": ports.controller,
        "log_level": spec.log_level.as_str(),
        "registry_config": REGISTRY_CONFIG_PATH,
    }))
}

#[cfg(test)]
mod tests {
    use berth_sdk::parse_spec_json;
    use berth_sdk::topology::SecretKeyRef;

    use super::*;

    fn spec(extra: Value) -> HarborClusterSpec {
        let mut base = json!({"version": "2.15.1", "externalURL": "https://h"});
        if let (Value::Object(b), Value::Object(e)) = (&mut base, extra) {
            b.extend(e);
        }
        match parse_spec_json(&base.to_string()) {
            Ok(s) => s,
            Err(e) => panic!("{e:?}"),
        }
    }

    fn redis() -> RedisEndpoint {
        berth_tests::plugin_request(json!({"version": "2.15.1", "externalURL": "https://h"})).topology.redis
    }

    const PORTS: Ports = Ports { registry: 5000, controller: 8080, metrics: None };

    #[test]
    fn default_config_is_the_installers() {
        let text = match registry_config(&spec(json!({})), &redis(), &PORTS) {
            Ok(t) => t,
            Err(e) => panic!("{e:?}"),
        };
        let expected = "\
auth:
  htpasswd:
    path: /etc/registry/passwd
    realm: harbor-registry-basic-realm
compatibility:
  schema1:
    enabled: true
http:
  addr: \":5000\"
  debug:
    addr: localhost:5001
  relativeurls: false
log:
  fields:
    service: registry
  level: info
redis:
  addr: demo-harbor-redis:6379
  db: 2
  dialtimeout: 10s
  enableTLS: false
  pool:
    idletimeout: 60s
    maxactive: 500
    maxidle: 100
  readtimeout: 10s
  writetimeout: 10s
storage:
  cache:
    layerinfo: redis
  delete:
    enabled: true
  filesystem:
    rootdirectory: /storage
  maintenance:
    uploadpurging:
      age: 168h
      dryrun: false
      enabled: true
      interval: 24h
  redirect:
    disable: false
validation:
  disabled: true
version: 0.1
";
        assert_eq!(text, expected);
    }

    #[test]
    fn metrics_sentinel_and_acl_user_reach_the_config_but_no_password() {
        let mut r = redis();
        r.sentinel_master_set = Some("mymaster".to_owned());
        r.username = Some("harbor".to_owned());
        r.tls = true;
        r.password = Some(SecretKeyRef { name: "redis".to_owned(), key: "password".to_owned() });
        let ports = Ports { metrics: Some(8001), ..PORTS };
        let s = spec(json!({"logLevel": "warning", "registry": {"relativeUrls": true}}));
        let text = match registry_config(&s, &r, &ports) {
            Ok(t) => t,
            Err(e) => panic!("{e:?}"),
        };
        for line in [
            "  sentinelMasterSet: mymaster\n",
            "  username: harbor\n",
            "  enableTLS: true\n",
            "    addr: \":8001\"\n    prometheus:\n      enabled: true\n      path: /metrics\n",
            "  relativeurls: true\n",
            "  level: warn\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
        assert!(!text.contains("password"), "{text}");
    }

    #[test]
    fn s3_block_has_the_drivers_keys_and_no_credentials() {
        let s = spec(json!({"storage": {"type": "s3", "disableRedirect": true, "s3": {
            "bucket": "b", "region": "eu-west-1", "regionEndpoint": "https://minio:9000",
            "existingSecret": "harbor-s3", "chunkSize": 5242880, "storageClass": "STANDARD"}}}));
        let text = match registry_config(&s, &redis(), &PORTS) {
            Ok(t) => t,
            Err(e) => panic!("{e:?}"),
        };
        let expected = "  s3:
    bucket: b
    chunksize: 5242880
    encrypt: false
    region: eu-west-1
    regionendpoint: https://minio:9000
    secure: true
    skipverify: false
    storageclass: STANDARD
    v4auth: true
";
        assert!(text.contains(expected), "{text}");
        assert!(text.contains("  redirect:\n    disable: true\n"), "{text}");
        assert!(!text.contains("harbor-s3") && !text.contains("accesskey"), "{text}");
    }

    #[test]
    fn gcs_uses_the_key_file_unless_workload_identity() {
        let with_key = spec(json!({"storage": {"type": "gcs", "gcs": {"bucket": "b", "existingSecret": "k"}}}));
        let wi = spec(json!({"storage": {"type": "gcs", "gcs": {"bucket": "b", "useWorkloadIdentity": true}}}));
        let text = |s: &HarborClusterSpec| match registry_config(s, &redis(), &PORTS) {
            Ok(t) => t,
            Err(e) => panic!("{e:?}"),
        };
        assert!(text(&with_key).contains("    keyfile: /etc/registry/gcs-key.json\n"));
        assert!(!text(&wi).contains("keyfile"));
    }

    #[test]
    fn controller_config_points_at_the_registry_config() {
        assert_eq!(
            controller_config(&spec(json!({"logLevel": "debug"})), &PORTS),
            "log_level: debug\nport: 8080\nprotocol: http\nregistry_config: /etc/registry/config.yml\n"
        );
    }
}
