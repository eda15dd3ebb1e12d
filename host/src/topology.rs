//! The host resolves the topology once per render: every name, Service, port, URL and
//! image that more than one component must agree on. Names follow the Harbor Helm chart
//! (`templates/_helpers.tpl`) so that an existing chart install can be adopted.

use std::collections::BTreeMap;

use berth_api::keys;
use berth_api::spec::{HarborClusterSpec, Placement, PullPolicy};
use berth_api::{HARBOR_MINORS, major_minor};

use crate::contract::{
    ComponentTopology, ContainerImage, DatabaseEndpoint, KeyValue, RedisEndpoint, RedisIndices, SecretKeyRef, SecretNames, Topology,
};

/// A spec problem found by the host, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid spec: {field}: {message}")]
pub struct SpecError {
    pub field: String,
    pub message: String,
}

impl SpecError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError { field: field.into(), message: message.into() }
    }
}

/// Longest suffix the chart appends to `<fullname>` for a Service or workload.
const LONGEST_SUFFIX: &str = "-jobservice-env";

/// The chart's `<fullname>`: `<release>-harbor`, or the release when it already says harbor.
pub fn fullname(release: &str) -> String {
    if release.contains("harbor") { release.to_owned() } else { format!("{release}-harbor") }
}

/// Checks what the host itself depends on and resolves the topology.
pub fn resolve(release: &str, spec: &HarborClusterSpec) -> Result<Topology, SpecError> {
    let minor = major_minor(&spec.version)
        .ok_or_else(|| SpecError::new("spec.version", format!("{:?} is not a major.minor.patch version", spec.version)))?;
    if !HARBOR_MINORS.contains(&minor) {
        return Err(SpecError::new(
            "spec.version",
            format!(
                "Harbor {} is not supported; use {}",
                spec.version,
                HARBOR_MINORS.iter().map(|m| format!("{m}.x")).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    check_external_url(&spec.external_url)?;
    if !crate::names::is_dns1035_label(release) {
        return Err(SpecError::new(
            "metadata.name",
            format!(
                "{:?} is not a DNS-1035 label (lowercase letters, digits and '-', starting with a letter): it names Services",
                crate::names::truncate(release, 64)
            ),
        ));
    }
    let fullname = fullname(release);
    if fullname.len() + LONGEST_SUFFIX.len() > 63 {
        return Err(SpecError::new(
            "metadata.name",
            format!("{release:?} is too long: object names like {fullname}{LONGEST_SUFFIX} must fit in 63 characters"),
        ));
    }

    let source = &spec.image_source;
    let tag = source.tag.clone().unwrap_or_else(|| format!("v{}", spec.version));
    let image = |name: &str| format!("{}/{}/{}:{}", source.registry, source.repository, name, tag);

    let components = crate::components::endpoints()
        .map(|e| {
            let service_name = format!("{fullname}-{}", e.service);
            let url = if e.url_with_port { format!("http://{service_name}:{}", e.service_port) } else { format!("http://{service_name}") };
            ComponentTopology {
                component: e.component.to_owned(),
                name: format!("{fullname}-{}", e.component),
                service_name,
                service_port: e.service_port,
                container_port: e.container_port,
                scheme: "http".to_owned(),
                url,
                images: e.images.iter().map(|(c, i)| ContainerImage { container: (*c).to_owned(), image: image(i) }).collect(),
                labels: pairs(crate::labels::object_labels(release, &spec.version, e.component)),
                selector: pairs(crate::labels::selector(release, e.component)),
            }
        })
        .collect();

    let secrets = SecretNames {
        core: format!("{fullname}-core"),
        jobservice: format!("{fullname}-jobservice"),
        registry: format!("{fullname}-registry"),
        registry_htpasswd: format!("{fullname}-registry-htpasswd"),
        admin_password: match &spec.admin_password {
            Some(r) => SecretKeyRef::new(&r.name, &r.key),
            None => SecretKeyRef::new(format!("{fullname}-core"), keys::ADMIN_PASSWORD),
        },
    };
    let database = database_endpoint(&fullname, spec)?;
    let redis = redis_endpoint(&fullname, spec)?;

    Ok(Topology {
        image_pull_policy: source.pull_policy.unwrap_or(PullPolicy::IfNotPresent).as_str().to_owned(),
        image_pull_secrets: source.pull_secrets.clone(),
        external_url: spec.external_url.clone(),
        enabled: crate::components::enabled(spec).into_iter().map(str::to_owned).collect(),
        labels: pairs(crate::labels::cluster_labels(release, &spec.version)),
        fullname,
        components,
        secrets,
        database,
        redis,
    })
}

/// A map as the WIT's sorted list of pairs.
fn pairs(map: BTreeMap<String, String>) -> Vec<KeyValue> {
    map.into_iter().map(|(key, value)| KeyValue { key, value }).collect()
}

fn database_endpoint(fullname: &str, spec: &HarborClusterSpec) -> Result<DatabaseEndpoint, SpecError> {
    let db = &spec.database;
    match db.type_ {
        Placement::Internal => Ok(DatabaseEndpoint {
            host: format!("{fullname}-database"),
            port: 5432,
            username: "postgres".to_owned(),
            database: "registry".to_owned(),
            sslmode: "disable".to_owned(),
            max_idle_conns: db.max_idle_conns,
            max_open_conns: db.max_open_conns,
            password: SecretKeyRef::new(format!("{fullname}-database"), keys::POSTGRES_PASSWORD),
        }),
        Placement::External => {
            let ext = db
                .external
                .as_ref()
                .ok_or_else(|| SpecError::new("spec.database.external", "type is external but no external database is described"))?;
            if ext.host.trim().is_empty() {
                return Err(SpecError::new("spec.database.external.host", "an external database needs a host"));
            }
            Ok(DatabaseEndpoint {
                host: ext.host.clone(),
                port: ext.port,
                username: ext.username.clone(),
                database: ext.database.clone(),
                sslmode: ext.sslmode.as_str().to_owned(),
                max_idle_conns: db.max_idle_conns,
                max_open_conns: db.max_open_conns,
                password: SecretKeyRef::new(&ext.password_secret.name, &ext.password_secret.key),
            })
        }
    }
}

/// The chart's Redis database indices, so a chart install can be adopted.
const CHART_REDIS_INDICES: RedisIndices = RedisIndices { core: 0, jobservice: 1, registry: 2, trivy: 5 };

fn redis_endpoint(fullname: &str, spec: &HarborClusterSpec) -> Result<RedisEndpoint, SpecError> {
    let redis = &spec.redis;
    match redis.type_ {
        Placement::Internal => Ok(RedisEndpoint {
            addr: format!("{fullname}-redis:6379"),
            sentinel_master_set: None,
            username: None,
            password: None,
            tls: false,
            indices: CHART_REDIS_INDICES,
        }),
        Placement::External => {
            let ext = redis
                .external
                .as_ref()
                .ok_or_else(|| SpecError::new("spec.redis.external", "type is external but no external Redis is described"))?;
            if ext.addr.trim().is_empty() {
                return Err(SpecError::new("spec.redis.external.addr", "an external Redis needs an address"));
            }
            Ok(RedisEndpoint {
                addr: ext.addr.clone(),
                sentinel_master_set: ext.sentinel_master_set.clone().filter(|m| !m.is_empty()),
                username: ext.username.clone(),
                password: ext.password_secret.as_ref().map(|r| SecretKeyRef::new(&r.name, &r.key)),
                tls: ext.tls,
                indices: CHART_REDIS_INDICES,
            })
        }
    }
}

fn check_external_url(url: &str) -> Result<(), SpecError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| SpecError::new("spec.externalURL", format!("{url:?} must start with https:// or http://")))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(SpecError::new("spec.externalURL", format!("{url:?} has no host")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(version: &str) -> HarborClusterSpec {
        serde_json::from_str(&format!(r#"{{"version":"{version}","externalURL":"https://h.example.com"}}"#))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn fullname_follows_the_chart() {
        assert_eq!(fullname("demo"), "demo-harbor");
        assert_eq!(fullname("harbor"), "harbor");
        assert_eq!(fullname("prod-harbor-1"), "prod-harbor-1");
    }

    #[test]
    fn resolves_chart_names_ports_and_images() {
        let t = resolve("demo", &spec("2.15.1")).unwrap_or_else(|e| panic!("{e}"));
        let component = |name: &str| t.component(name).unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(component("core").url, "http://demo-harbor-core:80");
        assert_eq!(component("core").images[0].image, "docker.io/goharbor/harbor-core:v2.15.1");
        assert_eq!(component("registryctl").url, "http://demo-harbor-registry:8080");
        assert_eq!(component("jobservice").url, "http://demo-harbor-jobservice");
        let selector: Vec<(&str, &str)> = component("portal").selector.iter().map(|kv| (kv.key.as_str(), kv.value.as_str())).collect();
        assert_eq!(selector, [("app", "harbor"), ("component", "portal"), ("release", "demo")]);
    }

    #[test]
    fn unsupported_version_names_the_field() {
        let err = resolve("demo", &spec("2.9.0")).err();
        assert_eq!(err.map(|e| e.field), Some("spec.version".to_owned()));
    }

    #[test]
    fn overlong_names_are_refused() {
        let err = resolve(&"a".repeat(45), &spec("2.15.1")).err();
        assert_eq!(err.map(|e| e.field), Some("metadata.name".to_owned()));
    }
}
