//! The host resolves the topology once per render: every name, Service, port, URL and
//! image that more than one component must agree on. Names follow the Harbor Helm chart
//! (`templates/_helpers.tpl`) so that an existing chart install can be adopted.

use std::collections::BTreeMap;

use berth_sdk::contract::major_minor;
use berth_sdk::spec::{HarborClusterSpec, Placement, PullPolicy};
use berth_sdk::topology::{ComponentTopology, DatabaseEndpoint, RedisEndpoint, RedisIndices, SecretKey, SecretNames, Topology, keys};

/// Harbor minors this host resolves images and topology for.
pub const SUPPORTED_HARBOR_MINORS: &[&str] = &["2.13", "2.14", "2.15"];

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

struct Endpoint {
    component: &'static str,
    /// Suffix of the Service (and object) name after `<fullname>-`.
    service: &'static str,
    service_port: u16,
    container_port: u16,
    /// Whether the chart's URL for it carries the port.
    url_with_port: bool,
    /// (container, image name under the repository)
    images: &'static [(&'static str, &'static str)],
}

/// The chart's ports and images, plain HTTP (internal TLS is not rendered yet).
const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        component: "core",
        service: "core",
        service_port: 80,
        container_port: 8080,
        url_with_port: true,
        images: &[("core", "harbor-core")],
    },
    Endpoint {
        component: "jobservice",
        service: "jobservice",
        service_port: 80,
        container_port: 8080,
        url_with_port: false,
        images: &[("jobservice", "harbor-jobservice")],
    },
    Endpoint {
        component: "portal",
        service: "portal",
        service_port: 80,
        container_port: 8080,
        url_with_port: false,
        images: &[("portal", "harbor-portal")],
    },
    Endpoint {
        component: "registry",
        service: "registry",
        service_port: 5000,
        container_port: 5000,
        url_with_port: true,
        images: &[("registry", "registry-photon"), ("registryctl", "harbor-registryctl")],
    },
    Endpoint {
        component: "registryctl",
        service: "registry",
        service_port: 8080,
        container_port: 8080,
        url_with_port: true,
        images: &[("registryctl", "harbor-registryctl")],
    },
    Endpoint {
        component: "trivy",
        service: "trivy",
        service_port: 8080,
        container_port: 8080,
        url_with_port: true,
        images: &[("trivy", "trivy-adapter-photon")],
    },
    Endpoint {
        component: "exporter",
        service: "exporter",
        service_port: 8001,
        container_port: 8001,
        url_with_port: true,
        images: &[("exporter", "harbor-exporter")],
    },
    Endpoint {
        component: "database",
        service: "database",
        service_port: 5432,
        container_port: 5432,
        url_with_port: true,
        images: &[("database", "harbor-db")],
    },
    Endpoint {
        component: "redis",
        service: "redis",
        service_port: 6379,
        container_port: 6379,
        url_with_port: true,
        images: &[("redis", "redis-photon")],
    },
    Endpoint {
        component: "nginx",
        service: "nginx",
        service_port: 80,
        container_port: 8080,
        url_with_port: false,
        images: &[("nginx", "nginx-photon")],
    },
];

/// Checks what the host itself depends on and resolves the topology.
pub fn resolve(release: &str, spec: &HarborClusterSpec) -> Result<Topology, SpecError> {
    let minor = major_minor(&spec.version)
        .ok_or_else(|| SpecError::new("spec.version", format!("{:?} is not a major.minor.patch version", spec.version)))?;
    if !SUPPORTED_HARBOR_MINORS.contains(&minor) {
        return Err(SpecError::new(
            "spec.version",
            format!(
                "Harbor {} is not supported; use {}",
                spec.version,
                SUPPORTED_HARBOR_MINORS.iter().map(|m| format!("{m}.x")).collect::<Vec<_>>().join(", ")
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

    let components = ENDPOINTS
        .iter()
        .map(|e| {
            let service_name = format!("{fullname}-{}", e.service);
            let url = if e.url_with_port { format!("http://{service_name}:{}", e.service_port) } else { format!("http://{service_name}") };
            let topology = ComponentTopology {
                name: format!("{fullname}-{}", e.component),
                service_name,
                service_port: e.service_port,
                container_port: e.container_port,
                scheme: "http".to_owned(),
                url,
                images: e.images.iter().map(|(c, i)| ((*c).to_owned(), image(i))).collect(),
            };
            (e.component.to_owned(), topology)
        })
        .collect();

    let selector_labels = BTreeMap::from([("app".to_owned(), "harbor".to_owned()), ("release".to_owned(), release.to_owned())]);
    let mut labels = selector_labels.clone();
    labels.extend([
        ("app.kubernetes.io/name".to_owned(), "harbor".to_owned()),
        ("app.kubernetes.io/instance".to_owned(), release.to_owned()),
        ("app.kubernetes.io/part-of".to_owned(), "harbor".to_owned()),
        ("app.kubernetes.io/managed-by".to_owned(), "berth".to_owned()),
        ("app.kubernetes.io/version".to_owned(), spec.version.clone()),
    ]);

    let secrets = SecretNames {
        core: format!("{fullname}-core"),
        jobservice: format!("{fullname}-jobservice"),
        registry: format!("{fullname}-registry"),
        registry_htpasswd: format!("{fullname}-registry-htpasswd"),
        admin_password: match &spec.admin_password {
            Some(r) => SecretKey { name: r.name.clone(), key: r.key.clone() },
            None => SecretKey { name: format!("{fullname}-core"), key: keys::ADMIN_PASSWORD.to_owned() },
        },
    };
    let database = database_endpoint(&fullname, spec)?;
    let redis = redis_endpoint(&fullname, spec)?;

    Ok(Topology {
        image_pull_policy: source.pull_policy.unwrap_or(PullPolicy::IfNotPresent).as_str().to_owned(),
        image_pull_secrets: source.pull_secrets.clone(),
        external_url: spec.external_url.clone(),
        enabled: enabled_components(spec).into_iter().map(str::to_owned).collect(),
        fullname,
        labels,
        selector_labels,
        components,
        secrets,
        database,
        redis,
    })
}

/// The components a spec enables, in render order.
/// Every component Berth renders itself; a policy may add others (a vendor's).
pub const BUILTIN_COMPONENTS: &[&str] = &["core", "jobservice", "portal", "registry", "trivy", "exporter", "database", "redis", "expose"];

pub fn enabled_components(spec: &HarborClusterSpec) -> Vec<&'static str> {
    let mut enabled = vec!["core", "jobservice", "portal", "registry"];
    if spec.trivy.enabled {
        enabled.push("trivy");
    }
    if spec.metrics.enabled {
        enabled.push("exporter");
    }
    if spec.database.type_ == Placement::Internal {
        enabled.push("database");
    }
    if spec.redis.type_ == Placement::Internal {
        enabled.push("redis");
    }
    enabled.push("expose");
    enabled
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
            password: SecretKey { name: format!("{fullname}-database"), key: keys::POSTGRES_PASSWORD.to_owned() },
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
                password: SecretKey { name: ext.password_secret.name.clone(), key: ext.password_secret.key.clone() },
            })
        }
    }
}

fn redis_endpoint(fullname: &str, spec: &HarborClusterSpec) -> Result<RedisEndpoint, SpecError> {
    let redis = &spec.redis;
    match redis.type_ {
        Placement::Internal => Ok(RedisEndpoint {
            addr: format!("{fullname}-redis:6379"),
            sentinel_master_set: None,
            username: None,
            password: None,
            tls: false,
            indices: RedisIndices::default(),
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
                password: ext.password_secret.as_ref().map(|r| SecretKey { name: r.name.clone(), key: r.key.clone() }),
                tls: ext.tls,
                indices: RedisIndices::default(),
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
        berth_sdk::parse_spec_json(&format!(r#"{{"version":"{version}","externalURL":"https://h.example.com"}}"#))
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
        let core = &t.components["core"];
        assert_eq!(core.url, "http://demo-harbor-core:80");
        assert_eq!(core.images["core"], "docker.io/goharbor/harbor-core:v2.15.1");
        assert_eq!(t.components["registryctl"].url, "http://demo-harbor-registry:8080");
        assert_eq!(t.components["jobservice"].url, "http://demo-harbor-jobservice");
        assert_eq!(t.selector_for("portal").get("component").map(String::as_str), Some("portal"));
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
