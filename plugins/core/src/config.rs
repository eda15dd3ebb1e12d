//! The core ConfigMap's data: `app.conf` plus every environment value that is not a
//! secret (the chart's `templates/core/core-cm.yaml`). Redis URLs are left out on
//! purpose: they may carry `$(REDIS_PASSWORD)`, which Kubernetes expands only in `env`.

use std::collections::BTreeMap;

use berth_sdk::k8s::no_proxy;
use berth_sdk::spec::HarborClusterSpec;
use berth_sdk::topology::REGISTRY_USERNAME;
use berth_sdk::{RenderError, Topology};

/// Where core reads its beego configuration; CONFIG_PATH must name the same file.
pub const APP_CONF_PATH: &str = "/etc/core/app.conf";
pub const APP_CONF_KEY: &str = "app.conf";
/// Core's Prometheus listener (the chart's `metrics.core.port`).
pub const METRICS_PORT: u16 = 8001;
const METRICS_PATH: &str = "/metrics";

/// Registry types core accepts as proxy-cache upstreams (the chart's list, verbatim,
/// because core refuses any other type).
const PROXY_CACHE_TYPES: &str = "docker-hub,harbor,azure-acr,ali-acr,aws-ecr,google-gcr,docker-registry,github-ghcr,jfrog-artifactory";
/// Replication adapters core enables (the chart's list, verbatim).
const REPLICATION_ADAPTERS: &str = "ali-acr,aws-ecr,azure-acr,docker-hub,docker-registry,github-ghcr,google-gcr,harbor,huawei-SWR,jfrog-artifactory,tencent-tcr,volcengine-cr";

/// beego's settings file; the port is the one core listens on.
pub fn app_conf(port: u16) -> String {
    format!("appname = Harbor\nrunmode = prod\nenablegzip = true\n\n[prod]\nhttpport = {port}\n")
}

/// Every key of the core ConfigMap.
pub fn config_data(spec: &HarborClusterSpec, topology: &Topology) -> Result<BTreeMap<String, String>, RenderError> {
    let core = topology.component("core")?;
    let db = &topology.database;
    let with_trivy = topology.enabled.iter().any(|c| c == "trivy");

    let mut data = BTreeMap::new();
    let mut set = |key: &str, value: String| {
        data.insert(key.to_owned(), value);
    };
    set(APP_CONF_KEY, app_conf(core.container_port));
    set("PORT", core.container_port.to_string());
    set("DATABASE_TYPE", "postgresql".to_owned());
    set("POSTGRESQL_HOST", db.host.clone());
    set("POSTGRESQL_PORT", db.port.to_string());
    set("POSTGRESQL_USERNAME", db.username.clone());
    set("POSTGRESQL_DATABASE", db.database.clone());
    set("POSTGRESQL_SSLMODE", db.sslmode.clone());
    set("POSTGRESQL_MAX_IDLE_CONNS", db.max_idle_conns.to_string());
    set("POSTGRESQL_MAX_OPEN_CONNS", db.max_open_conns.to_string());
    set("EXT_ENDPOINT", topology.external_url.clone());
    set("CORE_URL", core.url.clone());
    set("JOBSERVICE_URL", topology.component("jobservice")?.url.clone());
    set("REGISTRY_URL", topology.component("registry")?.url.clone());
    set("TOKEN_SERVICE_URL", format!("{}/service/token", core.url));
    // Core calls itself over loopback, always plain HTTP on the container port.
    set("CORE_LOCAL_URL", format!("http://127.0.0.1:{}", core.container_port));
    set("WITH_TRIVY", with_trivy.to_string());
    // The chart sets the URL even without the scanner; an enabled scanner the host did
    // not place is an error rather than a silently unreachable one.
    if with_trivy || topology.component("trivy").is_ok() {
        set("TRIVY_ADAPTER_URL", topology.component("trivy")?.url.clone());
    }
    set("REGISTRY_STORAGE_PROVIDER_NAME", spec.storage.type_.as_str().to_owned());
    set("LOG_LEVEL", spec.log_level.as_str().to_owned());
    set("CONFIG_PATH", APP_CONF_PATH.to_owned());
    set("CHART_CACHE_DRIVER", "redis".to_owned());
    set("PORTAL_URL", topology.component("portal")?.url.clone());
    set("REGISTRY_CONTROLLER_URL", topology.component("registryctl")?.url.clone());
    set("REGISTRY_CREDENTIAL_USERNAME", REGISTRY_USERNAME.to_owned());
    set("PERMITTED_REGISTRY_TYPES_FOR_PROXY_CACHE", PROXY_CACHE_TYPES.to_owned());
    set("REPLICATION_ADAPTER_WHITELIST", REPLICATION_ADAPTERS.to_owned());
    set("QUOTA_UPDATE_PROVIDER", "db".to_owned());
    if spec.metrics.enabled {
        set("METRIC_ENABLE", "true".to_owned());
        set("METRIC_PATH", METRICS_PATH.to_owned());
        set("METRIC_PORT", METRICS_PORT.to_string());
        set("METRIC_NAMESPACE", "harbor".to_owned());
        set("METRIC_SUBSYSTEM", "core".to_owned());
    }
    if let Some(proxy) = spec.proxy.as_ref().filter(|p| p.components.iter().any(|c| c == "core")) {
        // An unset proxy stays unset rather than the chart's empty string; Go treats
        // both alike.
        if let Some(http) = &proxy.http_proxy {
            set("HTTP_PROXY", http.clone());
        }
        if let Some(https) = &proxy.https_proxy {
            set("HTTPS_PROXY", https.clone());
        }
        set("NO_PROXY", no_proxy(topology, &proxy.no_proxy));
    }
    Ok(data)
}
