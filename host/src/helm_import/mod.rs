//! `berth import`: the HarborCluster that reproduces a Harbor Helm chart install (chart
//! 1.19, Harbor 2.15), from the install's values file. Same release name, so the same
//! object names (the chart's fullname); the chart's Redis indices and database name,
//! which Berth uses too; external database and Redis, storage, exposure, and every
//! per-component setting that has a Berth field. Whatever it cannot carry is returned
//! as a [`Note`] with the reason, never dropped silently.
//!
//! Where the chart's default differs from Berth's (exposure: an ingress for
//! `core.harbor.domain` with a self-signed certificate), the chart's default is written
//! out, so the import describes the install and not Berth's defaults.

mod components;
mod release;
#[cfg(test)]
mod tests;
mod values;

pub use release::{ReleaseError, values_from_cluster, values_of_release};

use serde_json::{Map, Value, json};

use berth_api::HarborCluster;
pub use values::Note;
use values::Values;

/// The Harbor version chart 1.19.1 runs, when the values name no image tag.
pub const CHART_HARBOR_VERSION: &str = "2.15.1";

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the values file is not a YAML mapping")]
    NotAMapping,
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("the imported HarborCluster does not parse")]
    Spec(#[source] serde_json::Error),
}

/// The HarborCluster, and the chart values it does not carry.
pub struct Imported {
    pub cluster: HarborCluster,
    /// The same HarborCluster with only what the import set (Berth's defaults left out):
    /// what `berth import` prints.
    pub manifest: Value,
    pub notes: Vec<Note>,
}

/// Imports the values of release `release` in `namespace`.
pub fn import(values: Value, release: &str, namespace: &str) -> Result<Imported, ImportError> {
    if !values.is_object() {
        return Err(ImportError::NotAMapping);
    }
    let v = Values::new(values);
    let mut spec = Map::new();
    let version = harbor_version(&v)?;
    spec.insert("version".to_owned(), json!(version));
    spec.insert("externalURL".to_owned(), json!(v.str("externalURL").unwrap_or_else(|| "https://core.harbor.domain".to_owned())));
    top_level(&v, &mut spec);
    expose(&v, &mut spec)?;
    storage(&v, &mut spec)?;
    database(&v, &mut spec, release)?;
    redis(&v, &mut spec)?;
    components::all(&v, &mut spec, &version)?;
    not_carried(&v);
    // What the import is for: taking the install over where it runs.
    spec.insert("adopt".to_owned(), json!({"helmRelease": release}));

    let cluster = json!({
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "HarborCluster",
        "metadata": {"name": release, "namespace": namespace},
        "spec": spec,
    });
    let manifest = cluster.clone();
    let cluster: HarborCluster = serde_json::from_value(cluster).map_err(ImportError::Spec)?;
    Ok(Imported { cluster, manifest, notes: v.finish() })
}

/// The version the core image's tag says ("v2.15.1"), else chart 1.19.1's.
fn harbor_version(v: &Values) -> Result<String, ImportError> {
    let Some(tag) = v.str("core.image.tag") else { return Ok(CHART_HARBOR_VERSION.to_owned()) };
    let version = tag.trim_start_matches('v');
    let valid = version.split('.').count() == 3 && version.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if !valid {
        return Err(ImportError::Invalid {
            path: "core.image.tag".to_owned(),
            message: format!("{tag:?} is not a Harbor release tag (vMAJOR.MINOR.PATCH); Berth runs released versions"),
        });
    }
    Ok(version.to_owned())
}

fn top_level(v: &Values, spec: &mut Map<String, Value>) {
    if let Some(level) = v.str("logLevel") {
        spec.insert("logLevel".to_owned(), json!(level));
    }
    let mut images = Map::new();
    if let Some(policy) = v.str("imagePullPolicy") {
        images.insert("pullPolicy".to_owned(), json!(policy));
    }
    if let Some(Value::Array(secrets)) = v.non_empty("imagePullSecrets") {
        let names: Vec<Value> =
            secrets.iter().filter_map(|s| s.get("name").or(Some(s)).and_then(Value::as_str)).map(|s| json!(s)).collect();
        images.insert("pullSecrets".to_owned(), Value::Array(names));
    }
    if !images.is_empty() {
        spec.insert("imageSource".to_owned(), Value::Object(images));
    }
    let (ipv4, ipv6) = (v.bool("ipFamily.ipv4.enabled"), v.bool("ipFamily.ipv6.enabled"));
    if ipv4.is_some() || ipv6.is_some() {
        spec.insert("ipFamily".to_owned(), json!({"ipv4": ipv4.unwrap_or(true), "ipv6": ipv6.unwrap_or(true)}));
    }
    v.not_carried("ipFamily.policy", "Berth leaves the Services' ipFamilyPolicy to the cluster's default");
    v.not_carried("ipFamily.families", "Berth leaves the Services' ipFamilies to the cluster's default");
    if let Some(name) = v.str("existingSecretAdminPassword") {
        let key = v.str("existingSecretAdminPasswordKey").unwrap_or_else(|| "HARBOR_ADMIN_PASSWORD".to_owned());
        spec.insert("adminPassword".to_owned(), json!({"name": name, "key": key}));
    }
    v.not_carried(
        "harborAdminPassword",
        "an inline password: Harbor reads it only at its first start, and the install's database already holds it; to keep it for a fresh start, put it in a Secret and set spec.adminPassword",
    );
    let proxy: Map<String, Value> = [("httpProxy", "proxy.httpProxy"), ("httpsProxy", "proxy.httpsProxy"), ("noProxy", "proxy.noProxy")]
        .into_iter()
        .filter_map(|(field, path)| Some((field.to_owned(), json!(v.str(path)?))))
        .chain(v.non_empty("proxy.components").map(|c| ("components".to_owned(), c)))
        .collect();
    if proxy.contains_key("httpProxy") || proxy.contains_key("httpsProxy") {
        spec.insert("proxy".to_owned(), Value::Object(proxy));
    }
    if let Some(enabled) = v.bool("metrics.enabled") {
        spec.insert("metrics".to_owned(), json!({"enabled": enabled}));
    }
    for component in ["core", "registry", "jobservice", "exporter"] {
        v.not_carried(&format!("metrics.{component}.path"), "Berth serves metrics at the chart's default path, /metrics");
        v.not_carried(&format!("metrics.{component}.port"), "Berth serves metrics on the chart's default port, 8001");
    }
    v.not_carried("metrics.serviceMonitor", "Berth renders no ServiceMonitor; create one for the metrics Services");
}

fn expose(v: &Values, spec: &mut Map<String, Value>) -> Result<(), ImportError> {
    let type_ = v.str("expose.type").unwrap_or_else(|| "ingress".to_owned());
    let mut expose = Map::new();
    let berth_type = match type_.as_str() {
        "ingress" => {
            let mut ingress = Map::new();
            ingress.insert("host".to_owned(), json!(v.str("expose.ingress.hosts.core").unwrap_or_else(|| "core.harbor.domain".to_owned())));
            if let Some(class) = v.str("expose.ingress.className") {
                ingress.insert("className".to_owned(), json!(class));
            }
            let annotations = v.string_map("expose.ingress.annotations");
            if !annotations.is_empty() {
                ingress.insert("annotations".to_owned(), json!(annotations));
            }
            expose.insert("ingress".to_owned(), Value::Object(ingress));
            if v.str("expose.ingress.controller").is_some_and(|c| c != "default") {
                v.not_carried(
                    "expose.ingress.controller",
                    "Berth renders the default controller's Ingress; gce, alb, ncp and f5-bigip variants are not rendered",
                );
            }
            v.not_carried("expose.ingress.labels", "Berth's Ingress carries Berth's labels only");
            v.not_carried("expose.ingress.kubeVersionOverride", "Berth renders networking.k8s.io/v1 only");
            "ingress"
        }
        "route" => {
            let parent_refs = v.non_empty("expose.route.parentRefs").unwrap_or(json!([]));
            let hosts = v.non_empty("expose.route.hosts").unwrap_or(json!([]));
            let annotations = v.string_map("expose.route.annotations");
            expose.insert("route".to_owned(), json!({"parentRefs": parent_refs, "hostnames": hosts, "annotations": annotations}));
            v.not_carried("expose.route.labels", "Berth's HTTPRoute carries Berth's labels only");
            v.not_carried("expose.route.filters", "Berth's HTTPRoute has no filters");
            "route"
        }
        "clusterIP" | "nodePort" | "loadBalancer" => {
            expose.insert("service".to_owned(), Value::Object(service(v, &type_)));
            type_.as_str()
        }
        other => {
            return Err(ImportError::Invalid {
                path: "expose.type".to_owned(),
                message: format!("{other:?} is not one of ingress, route, clusterIP, nodePort, loadBalancer"),
            });
        }
    };
    expose.insert("type".to_owned(), json!(berth_type));
    let tls = v.bool("expose.tls.enabled").unwrap_or(true);
    match (tls, v.str("expose.tls.certSource").unwrap_or_else(|| "auto".to_owned()).as_str()) {
        (true, "secret") => {
            if let Some(secret) = v.str("expose.tls.secret.secretName") {
                expose.insert("tlsSecret".to_owned(), json!(secret));
            }
        }
        (true, "auto") => {
            v.get("expose.tls.auto.commonName");
            v.notes_push(
                "expose.tls.certSource",
                "auto: Berth does not generate a self-signed certificate; copy the chart's (the Secret <fullname>-ingress, or -nginx) to a Secret of your own and set spec.expose.tlsSecret, or Harbor is served without TLS",
            );
        }
        _ => {}
    }
    spec.insert("expose".to_owned(), Value::Object(expose));
    Ok(())
}

fn service(v: &Values, type_: &str) -> Map<String, Value> {
    let mut service = Map::new();
    let base = format!("expose.{type_}");
    if let Some(name) = v.str(&format!("{base}.name")) {
        service.insert("name".to_owned(), json!(name));
    }
    let (http, https) = match type_ {
        "nodePort" => ("ports.http.port", "ports.https.port"),
        _ => ("ports.httpPort", "ports.httpsPort"),
    };
    if let Some(port) = v.int(&format!("{base}.{http}")) {
        service.insert("httpPort".to_owned(), json!(port));
    }
    if let Some(port) = v.int(&format!("{base}.{https}")) {
        service.insert("httpsPort".to_owned(), json!(port));
    }
    if type_ == "nodePort" {
        if let Some(port) = v.int(&format!("{base}.ports.http.nodePort")) {
            service.insert("httpNodePort".to_owned(), json!(port));
        }
        if let Some(port) = v.int(&format!("{base}.ports.https.nodePort")) {
            service.insert("httpsNodePort".to_owned(), json!(port));
        }
    }
    if type_ == "loadBalancer" {
        if let Some(ip) = v.str(&format!("{base}.IP")) {
            service.insert("loadBalancerIP".to_owned(), json!(ip));
        }
        if let Some(ranges) = v.non_empty(&format!("{base}.sourceRanges")) {
            service.insert("sourceRanges".to_owned(), ranges);
        }
    }
    let annotations = v.string_map(&format!("{base}.annotations"));
    if !annotations.is_empty() {
        service.insert("annotations".to_owned(), json!(annotations));
    }
    v.not_carried(&format!("{base}.labels"), "Berth's Service carries Berth's labels only");
    v.not_carried(&format!("{base}.staticClusterIP"), "Berth leaves the ClusterIP to the API server");
    service
}

/// A claim's settings; `default_size` is the chart's, which Berth's spec needs whenever
/// anything else of the claim is set.
fn volume(v: &Values, path: &str, default_size: &str) -> Option<Value> {
    let mut volume = Map::new();
    for (field, key) in
        [("existingClaim", "existingClaim"), ("storageClass", "storageClass"), ("size", "size"), ("accessMode", "accessMode")]
    {
        if let Some(value) = v.str(&format!("{path}.{key}")) {
            volume.insert(field.to_owned(), json!(value));
        }
    }
    v.not_carried(&format!("{path}.subPath"), "Berth mounts the claim's root");
    v.not_carried(&format!("{path}.annotations"), "Berth's claims carry Berth's annotations only");
    if volume.is_empty() {
        return None;
    }
    volume.entry("size").or_insert_with(|| json!(default_size));
    Some(Value::Object(volume))
}

/// An object-storage driver: the chart's block, (Berth field, chart key) pairs, and the
/// chart keys that hold credentials inline.
struct Driver {
    name: &'static str,
    fields: &'static [(&'static str, &'static str)],
    inline_secrets: &'static [&'static str],
}

const DRIVERS: &[Driver] = &[
    Driver {
        name: "s3",
        fields: &[
            ("bucket", "bucket"),
            ("region", "region"),
            ("regionEndpoint", "regionendpoint"),
            ("existingSecret", "existingSecret"),
            ("encrypt", "encrypt"),
            ("keyId", "keyid"),
            ("secure", "secure"),
            ("skipVerify", "skipverify"),
            ("chunkSize", "chunksize"),
            ("rootDirectory", "rootdirectory"),
            ("storageClass", "storageclass"),
        ],
        inline_secrets: &["accesskey", "secretkey"],
    },
    Driver {
        name: "gcs",
        fields: &[
            ("bucket", "bucket"),
            ("existingSecret", "existingSecret"),
            ("useWorkloadIdentity", "useWorkloadIdentity"),
            ("rootDirectory", "rootdirectory"),
            ("chunkSize", "chunksize"),
        ],
        inline_secrets: &["encodedkey"],
    },
    Driver {
        name: "azure",
        fields: &[("accountName", "accountname"), ("container", "container"), ("existingSecret", "existingSecret"), ("realm", "realm")],
        inline_secrets: &["accountkey"],
    },
    Driver {
        name: "swift",
        fields: &[
            ("authURL", "authurl"),
            ("username", "username"),
            ("container", "container"),
            ("existingSecret", "existingSecret"),
            ("region", "region"),
            ("tenant", "tenant"),
            ("tenantId", "tenantid"),
            ("domain", "domain"),
            ("domainId", "domainid"),
            ("trustId", "trustid"),
            ("authVersion", "authversion"),
            ("endpointType", "endpointtype"),
            ("prefix", "prefix"),
            ("chunkSize", "chunksize"),
            ("insecureSkipVerify", "insecureskipverify"),
        ],
        inline_secrets: &["password", "secretkey", "accesskey"],
    },
    Driver {
        name: "oss",
        fields: &[
            ("bucket", "bucket"),
            ("region", "region"),
            ("accessKeyId", "accesskeyid"),
            ("existingSecret", "existingSecret"),
            ("endpoint", "endpoint"),
            ("internal", "internal"),
            ("encrypt", "encrypt"),
            ("secure", "secure"),
            ("chunkSize", "chunksize"),
            ("rootDirectory", "rootdirectory"),
        ],
        inline_secrets: &["accesskeysecret"],
    },
];

fn storage(v: &Values, spec: &mut Map<String, Value>) -> Result<(), ImportError> {
    let base = "persistence.imageChartStorage";
    let type_ = v.str(&format!("{base}.type")).unwrap_or_else(|| "filesystem".to_owned());
    let mut storage = Map::new();
    storage.insert("type".to_owned(), json!(type_));
    if let Some(volume) = volume(v, "persistence.persistentVolumeClaim.registry", "5Gi") {
        storage.insert("filesystem".to_owned(), volume);
    }
    if let Some(disable) = v.bool(&format!("{base}.disableredirect")) {
        storage.insert("disableRedirect".to_owned(), json!(disable));
    }
    if let Some(secret) = v.str(&format!("{base}.caBundleSecretName")) {
        storage.insert("caBundleSecret".to_owned(), json!(secret));
    }
    let inline =
        "an inline credential: put it in a Secret and name it in the driver's existingSecret (Berth never carries credentials in a spec)";
    let driver = match type_.as_str() {
        "filesystem" => {
            v.not_carried(&format!("{base}.filesystem.rootdirectory"), "Berth stores blobs at the chart's default, /storage");
            v.not_carried(&format!("{base}.filesystem.maxthreads"), "Berth keeps the registry's default");
            None
        }
        other => Some(DRIVERS.iter().find(|d| d.name == other).ok_or_else(|| ImportError::Invalid {
            path: format!("{base}.type"),
            message: format!("{other:?} is not one of filesystem, s3, gcs, azure, swift, oss"),
        })?),
    };
    if let Some(Driver { name, fields, inline_secrets }) = driver {
        let mut settings = Map::new();
        for (field, key) in *fields {
            if let Some(value) = v.get(&format!("{base}.{name}.{key}")).filter(|v| v.as_str() != Some("")) {
                settings.insert((*field).to_owned(), value.clone());
            }
        }
        for key in *inline_secrets {
            v.not_carried(&format!("{base}.{name}.{key}"), inline);
        }
        storage.insert((*name).to_owned(), Value::Object(settings));
    }
    for other in ["filesystem", "s3", "gcs", "azure", "swift", "oss"].into_iter().filter(|d| *d != type_) {
        // The chart's values file lists every driver's block; only the chosen one counts.
        v.get(&format!("{base}.{other}"));
    }
    spec.insert("storage".to_owned(), Value::Object(storage));
    Ok(())
}

fn database(v: &Values, spec: &mut Map<String, Value>, release: &str) -> Result<(), ImportError> {
    let type_ = v.str("database.type").unwrap_or_else(|| "internal".to_owned());
    let mut database = Map::new();
    database.insert("type".to_owned(), json!(type_));
    for field in ["maxIdleConns", "maxOpenConns"] {
        if let Some(n) = v.int(&format!("database.{field}")) {
            database.insert(field.to_owned(), json!(n));
        }
    }
    match type_.as_str() {
        "internal" => {
            let mut internal = components::pod(v, "database.internal");
            if let Some(volume) = volume(v, "persistence.persistentVolumeClaim.database", "1Gi") {
                internal.insert("volume".to_owned(), volume);
            }
            if let Some(shm) = v.str("database.internal.shmSizeLimit") {
                internal.insert("shmSizeLimit".to_owned(), json!(shm));
            }
            v.notes_push(
                "database.internal.password",
                "the internal database's password (chart default \"changeit\"): no Berth field; spec.adopt keeps it from the chart's <fullname>-database Secret, a new install gets a generated one",
            );
            v.not_carried("database.internal.initContainer", "Berth's database pod has its own permissions init container");
            database.insert("internal".to_owned(), Value::Object(internal));
        }
        "external" => {
            let host = v.str("database.external.host").unwrap_or_default();
            let mut external = Map::new();
            external.insert("host".to_owned(), json!(host));
            if let Some(port) = v.int("database.external.port") {
                external.insert("port".to_owned(), json!(port));
            }
            external.insert("username".to_owned(), json!(v.str("database.external.username").unwrap_or_else(|| "user".to_owned())));
            if let Some(name) = v.str("database.external.coreDatabase") {
                external.insert("database".to_owned(), json!(name));
            }
            if let Some(mode) = v.str("database.external.sslmode") {
                external.insert("sslmode".to_owned(), json!(mode));
            }
            match v.str("database.external.existingSecret") {
                Some(secret) => {
                    external.insert("passwordSecret".to_owned(), json!({"name": secret, "key": "password"}));
                }
                None => {
                    v.notes_push(
                        "database.external.password",
                        &format!("an inline password: create the Secret {release}-database-password (key \"password\") with it; the HarborCluster names that Secret"),
                    );
                    external
                        .insert("passwordSecret".to_owned(), json!({"name": format!("{release}-database-password"), "key": "password"}));
                }
            }
            database.insert("external".to_owned(), Value::Object(external));
        }
        other => {
            return Err(ImportError::Invalid {
                path: "database.type".to_owned(),
                message: format!("{other:?} is not internal or external"),
            });
        }
    }
    spec.insert("database".to_owned(), Value::Object(database));
    Ok(())
}

/// The chart's default Redis indices, which Berth uses as well.
const REDIS_INDICES: [(&str, &str); 4] =
    [("coreDatabaseIndex", "0"), ("jobserviceDatabaseIndex", "1"), ("registryDatabaseIndex", "2"), ("trivyAdapterIndex", "5")];

fn redis(v: &Values, spec: &mut Map<String, Value>) -> Result<(), ImportError> {
    let type_ = v.str("redis.type").unwrap_or_else(|| "internal".to_owned());
    let mut redis = Map::new();
    redis.insert("type".to_owned(), json!(type_));
    match type_.as_str() {
        "internal" => {
            let mut internal = components::pod(v, "redis.internal");
            if let Some(volume) = volume(v, "persistence.persistentVolumeClaim.redis", "1Gi") {
                internal.insert("volume".to_owned(), volume);
            }
            // Absent, the chart's default for the version holds, as in Berth.
            match v.str("redis.internal.image.repository") {
                Some(r) if r.contains("valkey-photon") => drop(internal.insert("flavor".to_owned(), json!("valkey"))),
                Some(r) if r.contains("redis-photon") => drop(internal.insert("flavor".to_owned(), json!("redis"))),
                _ => {}
            }
            redis.insert("internal".to_owned(), Value::Object(internal));
            for (field, _) in REDIS_INDICES {
                v.get(&format!("redis.internal.{field}"));
            }
        }
        "external" => {
            let mut external = Map::new();
            external.insert("addr".to_owned(), json!(v.str("redis.external.addr").unwrap_or_default()));
            if let Some(set) = v.str("redis.external.sentinelMasterSet") {
                external.insert("sentinelMasterSet".to_owned(), json!(set));
            }
            if let Some(user) = v.str("redis.external.username") {
                external.insert("username".to_owned(), json!(user));
            }
            if let Some(tls) = v.bool("redis.external.tlsOptions.enable") {
                external.insert("tls".to_owned(), json!(tls));
            }
            if let Some(secret) = v.str("redis.external.existingSecret") {
                external.insert("passwordSecret".to_owned(), json!({"name": secret, "key": "REDIS_PASSWORD"}));
            } else {
                v.not_carried(
                    "redis.external.password",
                    "an inline password: put it in a Secret and set spec.redis.external.passwordSecret",
                );
            }
            redis.insert("external".to_owned(), Value::Object(external));
            for (field, default) in REDIS_INDICES {
                if v.str(&format!("redis.external.{field}")).is_some_and(|index| index != default) {
                    v.notes_push(
                        &format!("redis.external.{field}"),
                        &format!("Berth uses the chart's default index {default}; moving the data to it is needed before adopting"),
                    );
                }
            }
            v.not_carried("redis.external.harborDatabaseIndex", "Berth does not set _REDIS_URL_HARBOR");
            v.not_carried("redis.external.cacheLayerDatabaseIndex", "Berth does not set _REDIS_URL_CACHE_LAYER");
        }
        other => {
            return Err(ImportError::Invalid { path: "redis.type".to_owned(), message: format!("{other:?} is not internal or external") });
        }
    }
    spec.insert("redis".to_owned(), Value::Object(redis));
    Ok(())
}

/// Chart values Berth has no field for yet, named with why they matter.
fn not_carried(v: &Values) {
    let generated = "no Berth field: the chart keeps this value in its generated Secret, which spec.adopt takes over as it is; a value in a Secret of your own (existing*) stops the adoption, naming it";
    for path in [
        "secretKey",
        "existingSecretSecretKey",
        "core.secret",
        "core.existingSecret",
        "core.secretName",
        "core.tokenKey",
        "core.tokenCert",
        "core.xsrfKey",
        "core.existingXsrfSecret",
        "core.existingXsrfSecretKey",
        "jobservice.secret",
        "jobservice.existingSecret",
        "jobservice.existingSecretKey",
        "registry.secret",
        "registry.existingSecret",
        "registry.existingSecretKey",
        "registry.credentials.username",
        "registry.credentials.password",
        "registry.credentials.existingSecret",
        "registry.credentials.htpasswdString",
    ] {
        v.not_carried(path, generated);
    }
    v.not_carried("internalTLS", "Berth does not render internal TLS yet");
    v.not_carried("trace", "Berth renders no tracing settings");
    v.not_carried("cache", "Berth renders no artifact cache settings");
    v.not_carried("caSecretName", "Berth's portal has no CA download link");
    v.not_carried("uaaSecretName", "Berth does not mount a UAA CA");
    v.not_carried("enableMigrateHelmHook", "Berth runs Harbor's migration itself during an upgrade (spec.version)");
    v.not_carried("containerSecurityContext", "Berth always renders the Restricted pod-security context");
    v.not_carried("updateStrategy.type", "Berth picks each workload's strategy from its volumes");
    v.not_carried("persistence.enabled", "Berth always keeps data on claims");
    v.not_carried("persistence.resourcePolicy", "Berth never deletes claims unless spec.deletionPolicy says so");
    v.not_carried("persistence.persistentVolumeClaim.jobservice.jobLog.subPath", "Berth mounts the claim's root");
}
