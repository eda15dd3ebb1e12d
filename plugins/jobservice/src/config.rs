//! The jobservice's config.yml and its `<name>-env` ConfigMap, as plain values the
//! renderer (and the unit tests) build without touching Kubernetes types.

use std::collections::BTreeMap;

use berth_sdk::RenderError;
use berth_sdk::k8s::no_proxy;
use berth_sdk::spec::{AccessMode, HarborClusterSpec, JobLogger, JobserviceSpec};
use berth_sdk::topology::{REGISTRY_USERNAME, Topology};

/// Where the job logs live inside the container (the chart's path).
pub const JOB_LOG_DIR: &str = "/var/log/jobs";
/// The Redis namespace the chart, and the exporter, expect the job queues under.
pub const REDIS_NAMESPACE: &str = "harbor_job_service_namespace";
/// Port of the jobservice's own metrics endpoint.
pub const METRICS_PORT: u16 = 8001;
pub const METRICS_PATH: &str = "/metrics";

/// What config.yml depends on.
pub struct ConfigInput<'a> {
    pub port: u16,
    pub workers: u32,
    /// The Redis URL, only when it carries no password; otherwise the container's
    /// JOB_SERVICE_POOL_REDIS_URL supplies it (the loader reads it over the file).
    pub redis_url: Option<&'a str>,
    pub loggers: &'a [JobLogger],
    pub sweeper_days: u32,
    /// Upper-case Harbor log level, e.g. "INFO".
    pub level: &'a str,
    pub metrics: bool,
}

/// The chart's config.yml. Loggers are written in the chart's fixed order (file,
/// database, stdout), each once, however the spec lists them.
pub fn config_yml(c: &ConfigInput<'_>) -> String {
    let mut out = format!(
        "protocol: \"http\"\nport: {port}\nworker_pool:\n  workers: {workers}\n  backend: \"redis\"\n  redis_pool:\n",
        port = c.port,
        workers = c.workers,
    );
    if let Some(url) = c.redis_url {
        out.push_str(&format!("    redis_url: {}\n", quote(url)));
    }
    out.push_str(&format!("    namespace: \"{REDIS_NAMESPACE}\"\n    idle_timeout_second: 3600\njob_loggers:\n"));
    let level = c.level;
    let days = c.sweeper_days;
    if c.loggers.contains(&JobLogger::File) {
        out.push_str(&format!(
            "  - name: \"FILE\"\n    level: {level}\n    settings:\n      base_dir: \"{JOB_LOG_DIR}\"\n    sweeper:\n      duration: {days}\n      settings:\n        work_dir: \"{JOB_LOG_DIR}\"\n"
        ));
    }
    if c.loggers.contains(&JobLogger::Database) {
        out.push_str(&format!("  - name: \"DB\"\n    level: {level}\n    sweeper:\n      duration: {days}\n"));
    }
    if c.loggers.contains(&JobLogger::Stdout) {
        out.push_str(&format!("  - name: \"STD_OUTPUT\"\n    level: {level}\n"));
    }
    out.push_str(&format!(
        "metric:\n  enabled: {metrics}\n  path: {METRICS_PATH}\n  port: {METRICS_PORT}\nloggers:\n  - name: \"STD_OUTPUT\"\n    level: {level}\nreaper:\n  max_update_hours: 24\n  max_dangling_hours: 168\n",
        metrics = c.metrics,
    ));
    out
}

/// A YAML double-quoted scalar.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The `<name>-env` ConfigMap's data: URLs of the peers, registry user, timeouts.
pub fn env_data(spec: &HarborClusterSpec, topology: &Topology) -> Result<BTreeMap<String, String>, RenderError> {
    let core = topology.component("core")?;
    let registry = topology.component("registry")?;
    let registryctl = topology.component("registryctl")?;
    let mut env = BTreeMap::from([
        ("CORE_URL".to_owned(), core.url.clone()),
        ("TOKEN_SERVICE_URL".to_owned(), format!("{}/service/token", core.url)),
        ("REGISTRY_URL".to_owned(), registry.url.clone()),
        ("REGISTRY_CONTROLLER_URL".to_owned(), registryctl.url.clone()),
        ("REGISTRY_CREDENTIAL_USERNAME".to_owned(), REGISTRY_USERNAME.to_owned()),
        ("REGISTRY_HTTP_CLIENT_TIMEOUT".to_owned(), "30".to_owned()),
        ("JOBSERVICE_WEBHOOK_JOB_MAX_RETRY".to_owned(), "3".to_owned()),
        ("JOBSERVICE_WEBHOOK_JOB_HTTP_CLIENT_TIMEOUT".to_owned(), "3".to_owned()),
        ("LOG_LEVEL".to_owned(), spec.log_level.as_str().to_owned()),
    ]);
    if spec.metrics.enabled {
        env.insert("METRIC_NAMESPACE".to_owned(), "harbor".to_owned());
        env.insert("METRIC_SUBSYSTEM".to_owned(), "jobservice".to_owned());
    }
    if let Some(proxy) = &spec.proxy
        && proxy.components.iter().any(|c| c == "jobservice")
    {
        env.insert("HTTP_PROXY".to_owned(), proxy.http_proxy.clone().unwrap_or_default());
        env.insert("HTTPS_PROXY".to_owned(), proxy.https_proxy.clone().unwrap_or_default());
        env.insert("NO_PROXY".to_owned(), no_proxy(topology, &proxy.no_proxy));
    }
    Ok(env)
}

/// Whether the job-log volume can be attached by one node (or pod) only.
pub fn single_attach(mode: AccessMode) -> bool {
    matches!(mode, AccessMode::ReadWriteOnce | AccessMode::ReadWriteOncePod)
}

/// Refuses specs the jobservice cannot run with, naming the field.
pub fn validate(spec: &JobserviceSpec, replicas: i32) -> Result<(), RenderError> {
    if spec.workers == 0 {
        return Err(RenderError::invalid(
            "spec.jobservice.workers",
            "must be 1 or more: with no workers no job (replication, GC, scan) ever runs",
        ));
    }
    if spec.job_loggers.is_empty() {
        return Err(RenderError::invalid(
            "spec.jobservice.jobLoggers",
            "must name at least one of file, database, stdout: the jobservice refuses to start without a job logger",
        ));
    }
    let file = spec.job_loggers.contains(&JobLogger::File);
    if file && spec.log_volume.existing_claim.is_none() && spec.log_volume.size.trim().is_empty() {
        return Err(RenderError::invalid("spec.jobservice.logVolume.size", "the file job logger's volume needs a size, e.g. \"1Gi\""));
    }
    let mode = spec.log_volume.access_mode;
    if replicas > 1 && file && single_attach(mode) {
        return Err(RenderError::invalid(
            "spec.jobservice.replicas",
            format!(
                "{replicas} replicas cannot share the file job logger's {} volume; use jobLoggers [database] or [stdout], or a ReadWriteMany logVolume",
                mode.as_str()
            ),
        ));
    }
    Ok(())
}
