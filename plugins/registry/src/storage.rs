//! The registry's storage backend: the driver block of config.yml, and how its
//! credentials reach the containers (always from the user's Secret, never the file).

use berth_sdk::RenderError;
use berth_sdk::k8s_openapi::api::core::v1::{EnvFromSource, KeyToPath, SecretEnvSource, SecretVolumeSource, Volume, VolumeMount};
use berth_sdk::spec::{AccessMode, StorageSpec, StorageType};
use serde_json::{Map, Value, json};

/// Where the filesystem driver keeps blobs, and where the data volume is mounted.
pub const ROOT_DIRECTORY: &str = "/storage";
/// Where the GCS service-account key is mounted (the chart's path).
pub const GCS_KEY_FILE: &str = "/etc/registry/gcs-key.json";
/// The key of the user's GCS Secret holding the service-account JSON.
const GCS_KEY_DATA: &str = "GCS_KEY_DATA";
/// Where photon images pick up extra CAs at start (the storage backend's CA bundle).
const CA_BUNDLE_PATH: &str = "/harbor_cust_cert/custom-ca-bundle.crt";

/// Refuses a storage spec distribution could not start with, naming the field.
pub fn validate(storage: &StorageSpec, replicas: i32) -> Result<(), RenderError> {
    let missing = |driver: &str| {
        RenderError::invalid(
            format!("spec.storage.{driver}"),
            format!("storage type is {driver} but no {driver} block describes the backend"),
        )
    };
    match storage.type_ {
        StorageType::Filesystem => {
            if single_node_claim(storage) && replicas > 1 {
                return Err(RenderError::invalid(
                    "spec.registry.replicas",
                    format!(
                        "{replicas} replicas cannot share a {} filesystem volume; use 1 replica, \
                         a ReadWriteMany claim, or object storage",
                        storage.filesystem.access_mode.as_str()
                    ),
                ));
            }
        }
        StorageType::S3 => {
            let s3 = storage.s3.as_ref().ok_or_else(|| missing("s3"))?;
            if s3.bucket.trim().is_empty() {
                return Err(RenderError::invalid("spec.storage.s3.bucket", "an S3 bucket name is required"));
            }
            if s3.region.trim().is_empty() {
                return Err(RenderError::invalid(
                    "spec.storage.s3.region",
                    "distribution's S3 driver needs a region (any value works with regionEndpoint)",
                ));
            }
        }
        StorageType::Swift => {
            storage.swift.as_ref().ok_or_else(|| missing("swift"))?;
        }
        StorageType::Azure => {
            let azure = storage.azure.as_ref().ok_or_else(|| missing("azure"))?;
            if azure.existing_secret.trim().is_empty() {
                return Err(RenderError::invalid(
                    "spec.storage.azure.existingSecret",
                    "name the Secret holding REGISTRY_STORAGE_AZURE_ACCOUNTKEY",
                ));
            }
        }
        StorageType::Gcs => {
            let gcs = storage.gcs.as_ref().ok_or_else(|| missing("gcs"))?;
            if gcs.existing_secret.is_none() && !gcs.use_workload_identity {
                return Err(RenderError::invalid(
                    "spec.storage.gcs.existingSecret",
                    "name the Secret holding the service-account key (key GCS_KEY_DATA), \
                     or set useWorkloadIdentity",
                ));
            }
        }
        StorageType::Oss => {
            let oss = storage.oss.as_ref().ok_or_else(|| missing("oss"))?;
            if oss.existing_secret.trim().is_empty() {
                return Err(RenderError::invalid(
                    "spec.storage.oss.existingSecret",
                    "name the Secret holding REGISTRY_STORAGE_OSS_ACCESSKEYSECRET",
                ));
            }
        }
    }
    Ok(())
}

/// Whether the registry keeps blobs on a volume only one node can mount at a time.
pub fn single_node_claim(storage: &StorageSpec) -> bool {
    storage.type_ == StorageType::Filesystem
        && matches!(storage.filesystem.access_mode, AccessMode::ReadWriteOnce | AccessMode::ReadWriteOncePod)
}

/// The `storage.<driver>` block of config.yml. Call after [`validate`].
pub fn driver_block(storage: &StorageSpec) -> Result<(String, Value), RenderError> {
    let mut m = Map::new();
    match storage.type_ {
        StorageType::Filesystem => {
            m.insert("rootdirectory".into(), json!(ROOT_DIRECTORY));
        }
        StorageType::S3 => {
            let s3 = block(&storage.s3, "s3")?;
            m.insert("region".into(), json!(s3.region));
            m.insert("bucket".into(), json!(s3.bucket));
            opt(&mut m, "regionendpoint", &s3.region_endpoint);
            m.insert("encrypt".into(), json!(s3.encrypt));
            opt(&mut m, "keyid", &s3.key_id);
            m.insert("secure".into(), json!(s3.secure));
            m.insert("skipverify".into(), json!(s3.skip_verify));
            m.insert("v4auth".into(), json!(s3.v4_auth));
            opt(&mut m, "chunksize", &s3.chunk_size);
            opt(&mut m, "rootdirectory", &s3.root_directory);
            opt(&mut m, "storageclass", &s3.storage_class);
        }
        StorageType::Swift => {
            let swift = block(&storage.swift, "swift")?;
            m.insert("authurl".into(), json!(swift.auth_url));
            m.insert("username".into(), json!(swift.username));
            m.insert("container".into(), json!(swift.container));
            opt(&mut m, "region", &swift.region);
            opt(&mut m, "tenant", &swift.tenant);
            opt(&mut m, "tenantid", &swift.tenant_id);
            opt(&mut m, "domain", &swift.domain);
            opt(&mut m, "domainid", &swift.domain_id);
            opt(&mut m, "trustid", &swift.trust_id);
            opt(&mut m, "authversion", &swift.auth_version);
            opt(&mut m, "endpointtype", &swift.endpoint_type);
            opt(&mut m, "prefix", &swift.prefix);
            opt(&mut m, "chunksize", &swift.chunk_size);
            m.insert("insecureskipverify".into(), json!(swift.insecure_skip_verify));
        }
        StorageType::Azure => {
            let azure = block(&storage.azure, "azure")?;
            m.insert("accountname".into(), json!(azure.account_name));
            m.insert("container".into(), json!(azure.container));
            m.insert("realm".into(), json!(azure.realm));
        }
        StorageType::Gcs => {
            let gcs = block(&storage.gcs, "gcs")?;
            m.insert("bucket".into(), json!(gcs.bucket));
            // Without a keyfile the driver falls back to the pod's workload identity.
            if !gcs.use_workload_identity {
                m.insert("keyfile".into(), json!(GCS_KEY_FILE));
            }
            opt(&mut m, "rootdirectory", &gcs.root_directory);
            opt(&mut m, "chunksize", &gcs.chunk_size);
        }
        StorageType::Oss => {
            let oss = block(&storage.oss, "oss")?;
            m.insert("accesskeyid".into(), json!(oss.access_key_id));
            m.insert("region".into(), json!(oss.region));
            m.insert("bucket".into(), json!(oss.bucket));
            opt(&mut m, "endpoint", &oss.endpoint);
            m.insert("internal".into(), json!(oss.internal));
            m.insert("encrypt".into(), json!(oss.encrypt));
            m.insert("secure".into(), json!(oss.secure));
            opt(&mut m, "chunksize", &oss.chunk_size);
            opt(&mut m, "rootdirectory", &oss.root_directory);
        }
    }
    Ok((storage.type_.as_str().to_owned(), Value::Object(m)))
}

fn block<'a, T>(value: &'a Option<T>, driver: &str) -> Result<&'a T, RenderError> {
    value.as_ref().ok_or_else(|| {
        RenderError::invalid(format!("spec.storage.{driver}"), format!("storage type is {driver} but no {driver} block is given"))
    })
}

fn opt<T: Clone + Into<Value>>(m: &mut Map<String, Value>, key: &str, value: &Option<T>) {
    if let Some(v) = value {
        m.insert(key.to_owned(), v.clone().into());
    }
}

/// The user's credentials Secret, read whole: distribution maps each
/// `REGISTRY_STORAGE_<DRIVER>_<KEY>` variable onto its config key.
pub fn env_from(storage: &StorageSpec) -> Vec<EnvFromSource> {
    let secret = match storage.type_ {
        StorageType::S3 => storage.s3.as_ref().and_then(|s| s.existing_secret.clone()),
        StorageType::Swift => storage.swift.as_ref().and_then(|s| s.existing_secret.clone()),
        StorageType::Azure => storage.azure.as_ref().map(|s| s.existing_secret.clone()),
        StorageType::Oss => storage.oss.as_ref().map(|s| s.existing_secret.clone()),
        // GCS reads a key file, not env; see `volumes`.
        StorageType::Filesystem | StorageType::Gcs => None,
    };
    secret
        .into_iter()
        .map(|name| EnvFromSource { secret_ref: Some(SecretEnvSource { name, optional: None }), ..EnvFromSource::default() })
        .collect()
}

/// Secret volumes the storage backend needs (GCS key, CA bundle), with their mounts.
pub fn volumes(storage: &StorageSpec) -> Vec<(Volume, VolumeMount)> {
    let mut out = Vec::new();
    let gcs_secret = match storage.type_ {
        StorageType::Gcs => storage.gcs.as_ref().filter(|g| !g.use_workload_identity).and_then(|g| g.existing_secret.clone()),
        _ => None,
    };
    if let Some(secret) = gcs_secret {
        out.push(secret_file("gcs-key", &secret, GCS_KEY_DATA, "gcs-key.json", GCS_KEY_FILE));
    }
    if let Some(secret) = &storage.ca_bundle_secret {
        out.push(secret_file("storage-ca-bundle", secret, "ca.crt", "custom-ca-bundle.crt", CA_BUNDLE_PATH));
    }
    out
}

/// One key of a Secret mounted as a single file.
pub fn secret_file(volume: &str, secret: &str, key: &str, file: &str, mount_path: &str) -> (Volume, VolumeMount) {
    (
        Volume {
            name: volume.to_owned(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.to_owned()),
                items: Some(vec![KeyToPath { key: key.to_owned(), path: file.to_owned(), mode: None }]),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        },
        VolumeMount {
            name: volume.to_owned(),
            mount_path: mount_path.to_owned(),
            sub_path: Some(file.to_owned()),
            read_only: Some(true),
            ..VolumeMount::default()
        },
    )
}
