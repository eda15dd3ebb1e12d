use std::io::Write as _;

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use serde_json::{Value, json};

use super::*;

fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{e}"))
}

fn imported(text: &str) -> (Value, Vec<Note>) {
    let imported = import(yaml(text), "prod", "registry").unwrap_or_else(|e| panic!("{}", crate::error_chain::error_chain(&e)));
    (serde_json::to_value(&imported.cluster.spec).unwrap_or_default(), imported.notes)
}

fn noted(notes: &[Note], path: &str) -> bool {
    notes.iter().any(|n| n.path == path)
}

#[test]
fn the_chart_defaults_become_an_ingress_install_with_the_caveats_listed() {
    let (spec, notes) = imported("{}");
    assert_eq!(spec["version"], "2.15.1");
    assert_eq!(spec["externalURL"], "https://core.harbor.domain");
    assert_eq!(spec["expose"]["type"], "ingress");
    assert_eq!(spec["expose"]["ingress"]["host"], "core.harbor.domain");
    assert_eq!(spec["database"]["type"], "internal");
    assert_eq!(spec["redis"]["type"], "internal");
    assert_eq!(spec["storage"]["type"], "filesystem");
    assert_eq!(spec["adopt"], serde_json::json!({"helmRelease": "prod"}), "what the import is for: taking the release over");
    // The chart's self-signed certificate and internal database password are not carried.
    assert!(noted(&notes, "expose.tls.certSource"), "{notes:?}");
    assert!(noted(&notes, "database.internal.password"), "{notes:?}");
    assert_eq!(notes.len(), 2, "{notes:?}");
}

#[test]
fn production_values_carry_external_services_storage_and_replicas() {
    let (spec, notes) = imported(
        r#"
externalURL: https://registry.example.com
expose:
  type: ingress
  tls:
    certSource: secret
    secret: {secretName: registry-tls}
  ingress:
    hosts: {core: registry.example.com}
    className: nginx
    annotations: {nginx.ingress.kubernetes.io/proxy-body-size: "0"}
persistence:
  imageChartStorage:
    type: s3
    s3:
      region: eu-west-1
      bucket: harbor-blobs
      existingSecret: harbor-s3
      encrypt: true
      accesskey: AKIA
database:
  type: external
  external:
    host: pg.db.svc
    port: "5432"
    username: harbor
    coreDatabase: harbor_core
    existingSecret: harbor-pg
    sslmode: require
  maxOpenConns: 300
redis:
  type: external
  external:
    addr: redis.cache.svc:6379
    existingSecret: harbor-redis
    jobserviceDatabaseIndex: "3"
core:
  replicas: 3
  resources: {requests: {cpu: 500m}}
  podAnnotations: {team: registry}
  image: {repository: mirror.example.com/goharbor/harbor-core, tag: v2.15.1}
registry:
  replicas: 2
  registry: {resources: {requests: {cpu: 100m}}}
  controller: {resources: {requests: {cpu: 50m}}}
  relativeurls: true
  upload_purging: {enabled: false}
jobservice:
  replicas: 2
  jobLoggers: [database]
trivy:
  enabled: false
  gitHubToken: ghp_secret
metrics:
  enabled: true
  serviceMonitor: {enabled: true}
trace:
  enabled: true
"#,
    );
    assert_eq!(spec["externalURL"], "https://registry.example.com");
    assert_eq!(spec["expose"]["tlsSecret"], "registry-tls");
    assert_eq!(spec["expose"]["ingress"]["className"], "nginx");
    assert_eq!(spec["storage"]["s3"]["bucket"], "harbor-blobs");
    assert_eq!(spec["storage"]["s3"]["existingSecret"], "harbor-s3");
    assert_eq!(spec["database"]["external"]["database"], "harbor_core");
    assert_eq!(spec["database"]["external"]["port"], 5432);
    assert_eq!(spec["database"]["external"]["passwordSecret"], json!({"name": "harbor-pg", "key": "password"}));
    assert_eq!(spec["database"]["maxOpenConns"], 300);
    assert_eq!(spec["redis"]["external"]["passwordSecret"], json!({"name": "harbor-redis", "key": "REDIS_PASSWORD"}));
    assert_eq!(spec["core"]["replicas"], 3);
    assert_eq!(spec["core"]["podAnnotations"]["team"], "registry");
    assert_eq!(spec["core"]["image"], "mirror.example.com/goharbor/harbor-core:v2.15.1");
    assert_eq!(spec["registry"]["replicas"], 2);
    assert_eq!(spec["registry"]["resources"]["requests"]["cpu"], "100m");
    assert_eq!(spec["registry"]["controller"]["resources"]["requests"]["cpu"], "50m");
    assert_eq!(spec["registry"]["relativeUrls"], true);
    assert_eq!(spec["registry"]["uploadPurging"]["enabled"], false);
    assert_eq!(spec["jobservice"]["jobLoggers"], json!(["database"]));
    assert_eq!(spec["trivy"]["enabled"], false);
    assert_eq!(spec["metrics"]["enabled"], true);
    for path in [
        "persistence.imageChartStorage.s3.accesskey",
        "redis.external.jobserviceDatabaseIndex",
        "trivy.gitHubToken",
        "metrics.serviceMonitor",
        "trace",
    ] {
        assert!(noted(&notes, path), "{path} not listed: {notes:?}");
    }
    assert!(!noted(&notes, "expose.tls.certSource"), "{notes:?}");
    assert!(!noted(&notes, "database.internal.password"), "an external database has no internal password: {notes:?}");
}

#[test]
fn a_node_port_install_with_existing_secrets_and_an_unknown_value() {
    let (spec, notes) = imported(
        r#"
expose:
  type: nodePort
  tls: {enabled: false}
  nodePort:
    name: harbor-np
    ports:
      http: {port: 80, nodePort: 30002}
existingSecretAdminPassword: harbor-admin
secretKey: not-so-secret-16
persistence:
  persistentVolumeClaim:
    registry: {existingClaim: old-registry, size: 50Gi}
    database: {storageClass: fast}
someTypo: 1
"#,
    );
    assert_eq!(spec["expose"]["type"], "nodePort");
    assert_eq!(spec["expose"]["service"]["name"], "harbor-np");
    assert_eq!(spec["expose"]["service"]["httpNodePort"], 30002);
    assert_eq!(spec["adminPassword"], json!({"name": "harbor-admin", "key": "HARBOR_ADMIN_PASSWORD"}));
    assert_eq!(spec["storage"]["filesystem"]["existingClaim"], "old-registry");
    assert_eq!(spec["storage"]["filesystem"]["size"], "50Gi");
    assert_eq!(spec["database"]["internal"]["volume"]["storageClass"], "fast");
    assert!(noted(&notes, "secretKey"), "{notes:?}");
    let typo = notes.iter().find(|n| n.path == "someTypo").map(|n| n.reason.as_str());
    assert_eq!(typo, Some("no Berth field carries it"));
}

#[test]
fn values_the_spec_cannot_hold_are_refused_naming_the_value() {
    for (text, path) in [
        ("expose: {type: mesh}", "expose.type"),
        ("database: {type: cloud}", "database.type"),
        ("core: {image: {tag: dev}}", "core.image.tag"),
        ("persistence: {imageChartStorage: {type: ftp}}", "persistence.imageChartStorage.type"),
    ] {
        let err = import(yaml(text), "r", "n").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.starts_with(path), "{text}: {err}");
    }
    assert!(matches!(import(json!([1, 2]), "r", "n"), Err(ImportError::NotAMapping)));
}

fn release_secret(release: &str, version: u32, status: &str, record: &Value) -> Secret {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&serde_json::to_vec(record).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    let encoded = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap_or_default());
    serde_json::from_value(json!({
        "metadata": {
            "name": format!("sh.helm.release.v1.{release}.v{version}"),
            "labels": {"owner": "helm", "name": release, "status": status, "version": version.to_string()},
        },
        "data": {"release": base64::engine::general_purpose::STANDARD.encode(encoded.as_bytes())},
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_deployed_revision_of_a_release_gives_its_values() {
    let record = |url: &str| json!({"chart": {"metadata": {"name": "harbor", "version": "1.19.1"}}, "config": {"externalURL": url}});
    let secrets = [
        release_secret("prod", 1, "superseded", &record("https://old.example.com")),
        release_secret("prod", 2, "deployed", &record("https://new.example.com")),
        release_secret("other", 3, "deployed", &record("https://other.example.com")),
    ];
    let values = values_of_release("prod", &secrets).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(values["externalURL"], "https://new.example.com");
    assert!(matches!(values_of_release("missing", &secrets), Err(ReleaseError::NotFound { .. })));
    let not_harbor = release_secret("db", 1, "deployed", &json!({"chart": {"metadata": {"name": "postgresql"}}, "config": {}}));
    assert!(matches!(values_of_release("db", &[not_harbor]), Err(ReleaseError::Malformed { .. })));
}
