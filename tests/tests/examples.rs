//! Every example through every bundled plugin: golden renders, determinism, Kubernetes
//! types, secure defaults, and that the components agree on the names and Secrets they
//! share.

use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use std::collections::BTreeMap;

use berth_tests::{assert_golden, read_example, render, render_yaml, shared_catalog};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Container, PersistentVolumeClaim, PodSpec, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use serde_json::Value;

const EXAMPLES: &[&str] = &["minimal.yaml", "production.yaml", "swift.yaml", "gateway.yaml"];

fn objects(example: &str) -> Vec<Value> {
    let catalog = shared_catalog();
    let rendered = render(catalog, &read_example(example)).unwrap_or_else(|e| panic!("{example}: {e}"));
    let errors: Vec<String> = rendered.errors().map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{example}: {errors:?}");
    rendered.objects().into_iter().map(|o| Value::Object(o.object.clone())).collect()
}

#[test]
fn every_example_matches_its_golden_render() {
    let catalog = shared_catalog();
    for example in EXAMPLES {
        assert_golden(example, &render_yaml(catalog, &read_example(example)));
    }
}

#[test]
fn every_example_renders_byte_identically_twice() {
    let catalog = shared_catalog();
    for example in EXAMPLES {
        let cluster = read_example(example);
        assert_eq!(render_yaml(catalog, &cluster), render_yaml(catalog, &cluster), "{example}");
    }
}

fn pod_specs(objects: &[Value]) -> Vec<(String, PodSpec)> {
    objects
        .iter()
        .filter_map(|o| {
            let name = format!("{} {}", o["kind"].as_str()?, o["metadata"]["name"].as_str()?);
            let pod = match o["kind"].as_str()? {
                "Deployment" => serde_json::from_value::<Deployment>(o.clone()).ok()?.spec?.template.spec?,
                "StatefulSet" => serde_json::from_value::<StatefulSet>(o.clone()).ok()?.spec?.template.spec?,
                _ => return None,
            };
            Some((name, pod))
        })
        .collect()
}

#[test]
fn every_object_deserializes_into_its_kubernetes_type() {
    for example in EXAMPLES {
        for o in objects(example) {
            let kind = o["kind"].as_str().unwrap_or_default().to_owned();
            let result = match kind.as_str() {
                "ConfigMap" => serde_json::from_value::<ConfigMap>(o.clone()).map(drop),
                "Secret" => serde_json::from_value::<Secret>(o.clone()).map(drop),
                "Service" => serde_json::from_value::<Service>(o.clone()).map(drop),
                "Deployment" => serde_json::from_value::<Deployment>(o.clone()).map(drop),
                "StatefulSet" => serde_json::from_value::<StatefulSet>(o.clone()).map(drop),
                "PersistentVolumeClaim" => serde_json::from_value::<PersistentVolumeClaim>(o.clone()).map(drop),
                "Ingress" => serde_json::from_value::<Ingress>(o.clone()).map(drop),
                "PodDisruptionBudget" => serde_json::from_value::<PodDisruptionBudget>(o.clone()).map(drop),
                // Gateway API is not in k8s-openapi; its shape is checked by the expose tests.
                "HTTPRoute" => Ok(()),
                other => panic!("{example}: unexpected kind {other}"),
            };
            result.unwrap_or_else(|e| panic!("{example}: {kind} {}: {e}", o["metadata"]["name"]));
        }
    }
}

fn assert_restricted(example: &str, workload: &str, container: &Container) {
    let sc = container.security_context.clone().unwrap_or_default();
    let what = format!("{example}: {workload} container {}", container.name);
    assert_eq!(sc.allow_privilege_escalation, Some(false), "{what}: privilege escalation");
    assert_eq!(sc.run_as_non_root, Some(true), "{what}: runAsNonRoot");
    assert_eq!(sc.capabilities.and_then(|c| c.drop), Some(vec!["ALL".to_owned()]), "{what}: capabilities");
    assert_eq!(sc.seccomp_profile.map(|p| p.type_), Some("RuntimeDefault".to_owned()), "{what}: seccomp");
}

#[test]
fn every_container_runs_with_secure_defaults() {
    for example in EXAMPLES {
        let objects = objects(example);
        let pods = pod_specs(&objects);
        assert!(!pods.is_empty());
        for (workload, pod) in pods {
            let psc = pod.security_context.clone().unwrap_or_default();
            let uid = psc.run_as_user.unwrap_or(0);
            assert!(uid == 10000 || uid == 999, "{example}: {workload} runs as uid {uid}");
            assert_eq!(psc.fs_group, Some(uid), "{example}: {workload} fsGroup");
            for c in pod.containers.iter().chain(pod.init_containers.iter().flatten()) {
                assert_restricted(example, &workload, c);
            }
        }
    }
}

/// secretKeyRefs a container uses, by env var name.
fn secret_refs(container: &Container) -> BTreeMap<String, (String, String)> {
    container
        .env
        .iter()
        .flatten()
        .filter_map(|e| {
            let r = e.value_from.as_ref()?.secret_key_ref.as_ref()?;
            Some((e.name.clone(), (r.name.clone(), r.key.clone())))
        })
        .collect()
}

fn config_map_data(objects: &[Value], name: &str) -> BTreeMap<String, String> {
    objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == name)
        .and_then(|o| serde_json::from_value::<ConfigMap>(o.clone()).ok())
        .and_then(|cm| cm.data)
        .unwrap_or_else(|| panic!("no ConfigMap {name}"))
}

fn service_port(objects: &[Value], name: &str) -> Vec<i32> {
    objects
        .iter()
        .find(|o| o["kind"] == "Service" && o["metadata"]["name"] == name)
        .and_then(|o| serde_json::from_value::<Service>(o.clone()).ok())
        .and_then(|s| s.spec?.ports)
        .map(|ports| ports.iter().map(|p| p.port).collect())
        .unwrap_or_else(|| panic!("no Service {name}"))
}

#[test]
fn core_jobservice_and_registry_agree_on_secrets_and_urls() {
    for example in EXAMPLES {
        let objects = objects(example);
        let pods: BTreeMap<String, PodSpec> = pod_specs(&objects).into_iter().collect();
        let fullname = read_example(example).metadata.name.map(|n| berth::topology::fullname(&n)).unwrap_or_default();
        let container = |workload: &str, name: &str| -> Container {
            pods.get(&format!("Deployment {fullname}-{workload}"))
                .and_then(|p| p.containers.iter().find(|c| c.name == name).cloned())
                .unwrap_or_else(|| panic!("{example}: no container {name} in {workload}"))
        };
        let core = secret_refs(&container("core", "core"));
        let jobservice = secret_refs(&container("jobservice", "jobservice"));
        let registryctl = secret_refs(&container("registry", "registryctl"));
        let registry = secret_refs(&container("registry", "registry"));

        // One core secret and one jobservice secret, shared by all three.
        for shared in ["CORE_SECRET", "JOBSERVICE_SECRET"] {
            assert_eq!(core.get(shared), jobservice.get(shared), "{example}: {shared} core vs jobservice");
            assert_eq!(core.get(shared), registryctl.get(shared), "{example}: {shared} core vs registryctl");
            assert!(core.contains_key(shared), "{example}: core lacks {shared}");
        }
        // The password core and jobservice present is the one the registry's htpasswd hashes.
        let credential = core.get("REGISTRY_CREDENTIAL_PASSWORD").cloned().unwrap_or_default();
        assert_eq!(jobservice.get("REGISTRY_CREDENTIAL_PASSWORD"), Some(&credential), "{example}");
        assert_eq!(credential.0, format!("{fullname}-registry-htpasswd"), "{example}");
        let htpasswd_volume = pods
            .get(&format!("Deployment {fullname}-registry"))
            .and_then(|p| p.volumes.clone())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.secret?.secret_name)
            .any(|s| s == credential.0);
        assert!(htpasswd_volume, "{example}: the registry does not mount {}", credential.0);
        // Every registry replica signs upload state with the same secret.
        assert_eq!(registry.get("REGISTRY_HTTP_SECRET"), registryctl.get("REGISTRY_HTTP_SECRET"), "{example}");

        // URLs in core's ConfigMap point at the Services as rendered.
        let env = config_map_data(&objects, &format!("{fullname}-core"));
        assert_eq!(env["REGISTRY_URL"], format!("http://{fullname}-registry:5000"), "{example}");
        assert!(service_port(&objects, &format!("{fullname}-registry")).contains(&5000), "{example}");
        assert!(service_port(&objects, &format!("{fullname}-registry")).contains(&8080), "{example}");
        assert_eq!(env["REGISTRY_CONTROLLER_URL"], format!("http://{fullname}-registry:8080"), "{example}");
        assert_eq!(env["JOBSERVICE_URL"], format!("http://{fullname}-jobservice"), "{example}");
        assert!(service_port(&objects, &format!("{fullname}-jobservice")).contains(&80), "{example}");
        assert_eq!(env["CORE_URL"], format!("http://{fullname}-core:80"), "{example}");
        assert!(service_port(&objects, &format!("{fullname}-core")).contains(&80), "{example}");
        assert_eq!(env["PORTAL_URL"], format!("http://{fullname}-portal"), "{example}");
    }
}

#[test]
fn no_config_map_carries_a_credential() {
    for example in EXAMPLES {
        for o in objects(example).iter().filter(|o| o["kind"] == "ConfigMap") {
            let text = o["data"].to_string();
            for needle in ["PASSWORD=", "password:", "$(REDIS_PASSWORD)", "secretKey", "BEGIN PRIVATE KEY"] {
                assert!(!text.contains(needle), "{example}: ConfigMap {} contains {needle:?}", o["metadata"]["name"]);
            }
        }
    }
}
