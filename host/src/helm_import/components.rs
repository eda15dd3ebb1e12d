//! The per-component settings: pod knobs every chart component has, and each
//! component's own.

use serde_json::{Map, Value, json};

use super::ImportError;
use super::values::Values;

/// The knobs of the chart's component at `base` that a Berth ComponentSpec carries.
pub(super) fn pod(v: &Values, base: &str) -> Map<String, Value> {
    let mut pod = Map::new();
    if let Some(n) = v.int(&format!("{base}.replicas")) {
        pod.insert("replicas".to_owned(), json!(n));
    }
    for (field, key) in [
        ("resources", "resources"),
        ("tolerations", "tolerations"),
        ("affinity", "affinity"),
        ("topologySpreadConstraints", "topologySpreadConstraints"),
        ("env", "extraEnvVars"),
    ] {
        if let Some(value) = v.non_empty(&format!("{base}.{key}")) {
            pod.insert(field.to_owned(), value);
        }
    }
    for (field, key) in [("nodeSelector", "nodeSelector"), ("podAnnotations", "podAnnotations"), ("podLabels", "podLabels")] {
        let map = v.string_map(&format!("{base}.{key}"));
        if !map.is_empty() {
            pod.insert(field.to_owned(), json!(map));
        }
    }
    for (field, key) in [("priorityClassName", "priorityClassName"), ("serviceAccountName", "serviceAccountName")] {
        if let Some(value) = v.str(&format!("{base}.{key}")) {
            pod.insert(field.to_owned(), json!(value));
        }
    }
    for (key, reason) in [
        ("revisionHistoryLimit", "Berth keeps 10 revisions, the chart's default"),
        ("automountServiceAccountToken", "Berth never mounts a service-account token (a default guardrail)"),
        ("initContainers", "Berth renders no user init containers"),
        ("livenessProbe", "Berth renders the chart's default probes"),
        ("readinessProbe", "Berth renders the chart's default probes"),
        ("startupProbe", "Berth renders the chart's default probes"),
        ("podDisruptionBudget", "Berth does not render PodDisruptionBudgets yet"),
        ("serviceAnnotations", "Berth's Services carry Berth's annotations only"),
    ] {
        v.not_carried(&format!("{base}.{key}"), reason);
    }
    pod
}

/// An image override: the chart's "repository" and "tag" as one reference, or None when
/// they are the chart's own for this version (then `spec.imageSource` decides).
fn image(v: &Values, base: &str, default_repository: &str, version: &str) -> Option<String> {
    let repository = v.str(&format!("{base}.image.repository"));
    let tag = v.str(&format!("{base}.image.tag"));
    let default_tag = format!("v{version}");
    let same_repository = repository.as_deref().is_none_or(|r| r == default_repository || r == format!("docker.io/{default_repository}"));
    if same_repository && tag.as_deref().is_none_or(|t| t == default_tag) {
        return None;
    }
    let repository = repository.unwrap_or_else(|| format!("docker.io/{default_repository}"));
    Some(format!("{repository}:{}", tag.unwrap_or(default_tag)))
}

/// One container's settings (a Berth ContainerSpec): resources, extra env, image.
fn container(v: &Values, base: &str, default_repository: &str, version: &str) -> Map<String, Value> {
    let mut container = Map::new();
    if let Some(resources) = v.non_empty(&format!("{base}.resources")) {
        container.insert("resources".to_owned(), resources);
    }
    if let Some(env) = v.non_empty(&format!("{base}.extraEnvVars")) {
        container.insert("env".to_owned(), env);
    }
    if let Some(image) = image(v, base, default_repository, version) {
        container.insert("image".to_owned(), json!(image));
    }
    container
}

fn component(v: &Values, base: &str, image_name: &str, version: &str) -> Map<String, Value> {
    let mut spec = pod(v, base);
    if let Some(image) = image(v, base, &format!("goharbor/{image_name}"), version) {
        spec.insert("image".to_owned(), json!(image));
    }
    spec
}

pub(super) fn all(v: &Values, spec: &mut Map<String, Value>, version: &str) -> Result<(), ImportError> {
    let core = component(v, "core", "harbor-core", version);
    for (key, reason) in [
        ("core.configureUserSettings", "Berth does not set CONFIG_OVERWRITE_JSON; configure Harbor through its API"),
        ("core.quotaUpdateProvider", "Berth keeps Harbor's default, db"),
        ("core.artifactPullAsyncFlushDuration", "Berth keeps Harbor's default"),
        ("core.gdpr", "Berth does not set the GDPR switches"),
        ("core.gcTimeWindowHours", "Berth keeps Harbor's default"),
    ] {
        v.not_carried(key, reason);
    }
    insert(spec, "core", core);

    let mut jobservice = component(v, "jobservice", "harbor-jobservice", version);
    if let Some(n) = v.int("jobservice.maxJobWorkers") {
        jobservice.insert("workers".to_owned(), json!(n));
    }
    if let Some(loggers) = v.non_empty("jobservice.jobLoggers") {
        jobservice.insert("jobLoggers".to_owned(), loggers);
    }
    if let Some(days) = v.int("jobservice.loggerSweeperDuration") {
        jobservice.insert("loggerSweeperDays".to_owned(), json!(days));
    }
    if let Some(volume) = super::volume(v, "persistence.persistentVolumeClaim.jobservice.jobLog", "1Gi") {
        jobservice.insert("logVolume".to_owned(), volume);
    }
    for key in ["jobservice.notification", "jobservice.reaper", "jobservice.registryHttpClientTimeout"] {
        v.not_carried(key, "Berth keeps Harbor's default");
    }
    insert(spec, "jobservice", jobservice);

    insert(spec, "portal", component(v, "portal", "harbor-portal", version));

    // The chart puts the pod's knobs on `registry` and each container's on
    // `registry.registry` and `registry.controller`.
    let mut registry = pod(v, "registry");
    registry.extend(container(v, "registry.registry", "goharbor/registry-photon", version));
    let controller = container(v, "registry.controller", "goharbor/harbor-registryctl", version);
    if !controller.is_empty() {
        registry.insert("controller".to_owned(), Value::Object(controller));
    }
    if let Some(relative) = v.bool("registry.relativeurls") {
        registry.insert("relativeUrls".to_owned(), json!(relative));
    }
    let purging: Map<String, Value> = ["enabled", "age", "interval", "dryrun"]
        .into_iter()
        .filter_map(|key| Some((key.to_owned(), v.get(&format!("registry.upload_purging.{key}"))?.clone())))
        .collect();
    if !purging.is_empty() {
        registry.insert("uploadPurging".to_owned(), Value::Object(purging));
    }
    v.not_carried("registry.middleware", "Berth renders no registry middleware (CloudFront)");
    insert(spec, "registry", registry);

    let mut trivy = component(v, "trivy", "trivy-adapter-photon", version);
    for (field, key) in [
        ("enabled", "enabled"),
        ("skipUpdate", "skipUpdate"),
        ("skipJavaDbUpdate", "skipJavaDBUpdate"),
        ("offlineScan", "offlineScan"),
        ("severity", "severity"),
        ("ignoreUnfixed", "ignoreUnfixed"),
        ("insecure", "insecure"),
        ("vulnType", "vulnType"),
        ("timeout", "timeout"),
    ] {
        if let Some(value) = v.get(&format!("trivy.{key}")).filter(|v| v.as_str() != Some("")) {
            trivy.insert(field.to_owned(), value.clone());
        }
    }
    if let Some(volume) = super::volume(v, "persistence.persistentVolumeClaim.trivy", "5Gi") {
        trivy.insert("cache".to_owned(), volume);
    }
    v.not_carried("trivy.gitHubToken", "an inline token: put it in a Secret and set spec.trivy.githubToken");
    for key in ["trivy.debugMode", "trivy.dbRepository", "trivy.javaDBRepository", "trivy.securityCheck"] {
        v.not_carried(key, "Berth keeps the adapter's default");
    }
    insert(spec, "trivy", trivy);

    let exporter = component(v, "exporter", "harbor-exporter", version);
    for key in ["exporter.cacheDuration", "exporter.cacheCleanInterval"] {
        v.not_carried(key, "Berth keeps the exporter's default");
    }
    insert(spec, "exporter", exporter);

    let nginx = component(v, "nginx", "nginx-photon", version);
    if !nginx.is_empty() {
        let expose = spec.entry("expose").or_insert_with(|| json!({}));
        if let Value::Object(expose) = expose {
            expose.insert("nginx".to_owned(), Value::Object(nginx));
        }
    }
    // The database's and Redis's own images: the version's unless overridden.
    for (base, image_name) in [("database.internal", "harbor-db"), ("redis.internal", "redis-photon")] {
        if let Some(image) = image(v, base, &format!("goharbor/{image_name}"), version)
            && !image.contains("valkey-photon")
        {
            let section = if base.starts_with("database") { "database" } else { "redis" };
            if let Some(Value::Object(internal)) = spec.get_mut(section).and_then(|s| s.get_mut("internal")) {
                internal.insert("image".to_owned(), json!(image));
            }
        }
    }
    Ok(())
}

fn insert(spec: &mut Map<String, Value>, name: &str, settings: Map<String, Value>) {
    if !settings.is_empty() {
        spec.insert(name.to_owned(), Value::Object(settings));
    }
}
