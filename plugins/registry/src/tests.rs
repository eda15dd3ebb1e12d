use berth_sdk::{RenderError, RenderRequest, Renderer};
use serde_json::{Value, json};

use berth_sdk::InvalidSpec;

use super::*;

fn request(extra: Value) -> RenderRequest {
    let mut spec = json!({"version": "2.15.1", "externalURL": "https://harbor.example.com"});
    if let (Value::Object(s), Value::Object(e)) = (&mut spec, extra) {
        s.extend(e);
    }
    berth_tests::plugin_request(spec)
}

fn objects(extra: Value) -> Vec<Value> {
    match Registry::render(&request(extra)) {
        Ok(out) => out.into_output().objects.iter().map(|o| serde_json::from_str(o).unwrap_or(Value::Null)).collect(),
        Err(e) => panic!("{e:?}"),
    }
}

fn invalid_field(extra: Value) -> String {
    match Registry::render(&request(extra)) {
        Err(RenderError::InvalidSpec(InvalidSpec { field, .. })) => field,
        Err(other) => panic!("expected an invalid spec, got {other:?}"),
        Ok(_) => panic!("expected an invalid spec, got a render"),
    }
}

fn kinds(objects: &[Value]) -> Vec<&str> {
    objects.iter().map(|o| o["kind"].as_str().unwrap_or_default()).collect()
}

#[test]
fn filesystem_storage_gets_a_claim_and_recreate() {
    let objects = objects(json!({}));
    assert_eq!(kinds(&objects), ["ConfigMap", "PersistentVolumeClaim", "Deployment", "Service"]);
    let pvc = &objects[1];
    assert_eq!(pvc["metadata"]["name"], "demo-harbor-registry");
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "5Gi");
    assert_eq!(pvc["spec"]["accessModes"], json!(["ReadWriteOnce"]));
    let deployment = &objects[2];
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    let volumes = &deployment["spec"]["template"]["spec"]["volumes"];
    assert!(volumes.as_array().into_iter().flatten().any(|v| v["persistentVolumeClaim"]["claimName"] == "demo-harbor-registry"));
    for container in deployment["spec"]["template"]["spec"]["containers"].as_array().into_iter().flatten() {
        let mounts = container["volumeMounts"].as_array().cloned().unwrap_or_default();
        assert!(mounts.iter().any(|m| m["mountPath"] == "/storage"), "{}", container["name"]);
    }
}

#[test]
fn an_existing_claim_is_mounted_not_created_and_rwx_rolls() {
    let objects = objects(json!({"registry": {"replicas": 2}, "storage": {"filesystem":
        {"size": "10Gi", "accessMode": "ReadWriteMany", "existingClaim": "blobs"}}}));
    assert_eq!(kinds(&objects), ["ConfigMap", "Deployment", "Service", "PodDisruptionBudget"]);
    let pod = &objects[1]["spec"]["template"]["spec"];
    assert!(pod["volumes"].as_array().into_iter().flatten().any(|v| v["persistentVolumeClaim"]["claimName"] == "blobs"));
    assert_eq!(objects[1]["spec"]["strategy"]["type"], "RollingUpdate");
}

#[test]
fn object_storage_reads_credentials_from_the_users_secret() {
    let objects = objects(json!({"storage": {"type": "azure", "azure":
        {"accountName": "acct", "container": "c", "existingSecret": "harbor-azure"}}}));
    assert_eq!(kinds(&objects), ["ConfigMap", "Deployment", "Service"]);
    for container in objects[1]["spec"]["template"]["spec"]["containers"].as_array().into_iter().flatten() {
        assert_eq!(container["envFrom"], json!([{"secretRef": {"name": "harbor-azure"}}]));
    }
    let config = objects[0]["data"]["config.yml"].as_str().unwrap_or_default();
    assert!(config.contains("  azure:\n    accountname: acct\n    container: c\n    realm: core.windows.net\n"), "{config}");
}

#[test]
fn gcs_key_is_a_secret_file_in_both_containers() {
    let objects = objects(json!({"storage": {"type": "gcs", "gcs": {"bucket": "b", "existingSecret": "gcs"}}}));
    let pod = &objects[1]["spec"]["template"]["spec"];
    assert!(
        pod["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|v| v["secret"] == json!({"secretName": "gcs", "items": [{"key": "GCS_KEY_DATA", "path": "gcs-key.json"}]}))
    );
    for container in pod["containers"].as_array().into_iter().flatten() {
        let mounts = container["volumeMounts"].as_array().cloned().unwrap_or_default();
        assert!(mounts.iter().any(|m| m["mountPath"] == "/etc/registry/gcs-key.json"), "{}", container["name"]);
        assert!(container.get("envFrom").is_none());
    }
}

#[test]
fn each_spec_error_names_its_field() {
    for (extra, field) in [
        (json!({"storage": {"type": "s3"}}), "spec.storage.s3"),
        (json!({"storage": {"type": "s3", "s3": {"region": "r"}}}), "spec.storage.s3.bucket"),
        (json!({"storage": {"type": "s3", "s3": {"bucket": "b"}}}), "spec.storage.s3.region"),
        (json!({"storage": {"type": "swift"}}), "spec.storage.swift"),
        (json!({"storage": {"type": "azure"}}), "spec.storage.azure"),
        (json!({"storage": {"type": "gcs"}}), "spec.storage.gcs"),
        (json!({"storage": {"type": "oss"}}), "spec.storage.oss"),
        (json!({"storage": {"type": "gcs", "gcs": {"bucket": "b"}}}), "spec.storage.gcs.existingSecret"),
        (json!({"registry": {"replicas": 2}}), "spec.registry.replicas"),
        (json!({"registry": {"replicas": -1}}), "spec.registry.replicas"),
    ] {
        assert_eq!(invalid_field(extra.clone()), field, "{extra}");
    }
}

#[test]
fn rendering_is_deterministic() {
    let spec = json!({"metrics": {"enabled": true}, "storage": {"type": "s3", "s3": {"bucket": "b", "region": "r"}}});
    assert_eq!(objects(spec.clone()), objects(spec));
}

#[test]
fn the_pod_keeps_the_charts_grace_and_skips_the_recursive_chown() {
    let objects = objects(json!({}));
    let pod = &objects[2]["spec"]["template"]["spec"];
    assert_eq!(pod["terminationGracePeriodSeconds"], 120);
    assert_eq!(pod["securityContext"]["fsGroupChangePolicy"], "OnRootMismatch");
    assert_eq!(pod["securityContext"]["fsGroup"], 10000);
}

#[test]
fn replicas_behind_object_storage_get_a_disruption_budget() {
    let s3 = json!({"registry": {"replicas": 3}, "storage": {"type": "s3", "s3": {"bucket": "b", "region": "r"}}});
    let objects = objects(s3);
    assert_eq!(kinds(&objects), ["ConfigMap", "Deployment", "Service", "PodDisruptionBudget"]);
    let budget = &objects[3];
    assert_eq!(budget["apiVersion"], "policy/v1");
    assert_eq!(budget["metadata"]["name"], "demo-harbor-registry");
    assert_eq!(budget["spec"]["maxUnavailable"], 1);
    assert_eq!(budget["spec"]["selector"]["matchLabels"], objects[1]["spec"]["selector"]["matchLabels"]);
    assert!(!kinds(&self::objects(json!({}))).contains(&"PodDisruptionBudget"), "one replica: no budget");
}
