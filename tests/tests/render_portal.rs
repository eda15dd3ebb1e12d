//! The portal through the whole path: manifest -> topology -> sandboxed plugin -> host
//! stamping -> YAML. (Golden renders of every example are in examples.rs.)

use berth_tests::{bundled_catalog, read_example, render, render_yaml, sandbox};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};

#[test]
fn rendering_twice_is_byte_identical_even_across_runtimes() {
    let cluster = read_example("minimal.yaml");
    let first_sandbox = sandbox();
    let first = bundled_catalog(&first_sandbox);
    let a = render_yaml(&first, &cluster);
    let b = render_yaml(&first, &cluster);
    let second_sandbox = sandbox();
    let c = render_yaml(&bundled_catalog(&second_sandbox), &cluster);
    assert_eq!(a, b);
    assert_eq!(a, c);
}

#[test]
fn portal_follows_the_chart_contract() {
    let sandbox = sandbox();
    let catalog = bundled_catalog(&sandbox);
    let rendered = render(&catalog, &read_example("minimal.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let find = |kind: &str| {
        rendered
            .objects()
            .into_iter()
            .find(|o| o.kind() == kind && o.component == "portal")
            .map(|o| serde_json::Value::Object(o.object.clone()))
            .unwrap_or_else(|| panic!("no {kind}"))
    };
    let cm: ConfigMap = serde_json::from_value(find("ConfigMap")).unwrap_or_else(|e| panic!("{e}"));
    let conf = cm.data.unwrap_or_default().remove("nginx.conf").unwrap_or_default();
    for line in [
        "listen 8080;",
        "listen [::]:8080;",
        "root   /usr/share/nginx/html;",
        "pid /tmp/nginx.pid;",
        "location /devcenter-api-2.0",
        "try_files $uri $uri/ /index.html;",
        "add_header Cache-Control \"no-store, no-cache, must-revalidate\";",
    ] {
        assert!(conf.contains(line), "nginx.conf lacks {line:?}");
    }
    let deployment: Deployment = serde_json::from_value(find("Deployment")).unwrap_or_else(|e| panic!("{e}"));
    let spec = deployment.spec.unwrap_or_default();
    let pod = spec.template.spec.unwrap_or_default();
    let container = &pod.containers[0];
    assert_eq!(container.image.as_deref(), Some("docker.io/goharbor/harbor-portal:v2.15.1"));
    assert_eq!(container.ports.as_ref().map(|p| p[0].container_port), Some(8080));
    let probe = container.readiness_probe.as_ref().and_then(|p| p.http_get.as_ref()).map(|g| g.path.clone());
    assert_eq!(probe, Some(Some("/".to_owned())));
    let mount = &container.volume_mounts.as_ref().unwrap_or_else(|| panic!("no mounts"))[0];
    assert_eq!((mount.mount_path.as_str(), mount.sub_path.as_deref()), ("/etc/nginx/nginx.conf", Some("nginx.conf")));
    let security = container.security_context.clone().unwrap_or_default();
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(security.capabilities.and_then(|c| c.drop), Some(vec!["ALL".to_owned()]));
    assert_eq!(pod.security_context.and_then(|s| s.run_as_user), Some(10000));
    let annotations = spec.template.metadata.and_then(|m| m.annotations).unwrap_or_default();
    assert!(annotations.contains_key("configmap.checksum.berth.dev/demo-harbor-portal"));
    let service: Service = serde_json::from_value(find("Service")).unwrap_or_else(|e| panic!("{e}"));
    let port = &service.spec.unwrap_or_default().ports.unwrap_or_default()[0];
    assert_eq!(port.port, 80);
    assert_eq!(service.metadata.namespace.as_deref(), Some("registry"));
}

#[test]
fn a_negative_replica_count_is_named() {
    let sandbox = sandbox();
    let catalog = bundled_catalog(&sandbox);
    let mut cluster = read_example("minimal.yaml");
    cluster.spec.portal.replicas = Some(-2);
    // The host refuses it before the plugin runs (the plugin would too: its unit tests).
    assert_eq!(berth_tests::spec_error_field(render(&catalog, &cluster), "portal"), "spec.portal.replicas");
}

#[test]
fn an_unsupported_harbor_version_is_named_by_the_host() {
    let sandbox = sandbox();
    let catalog = bundled_catalog(&sandbox);
    let mut cluster = read_example("minimal.yaml");
    cluster.spec.version = "2.9.0".to_owned();
    match render(&catalog, &cluster) {
        Err(berth::render::ClusterRenderError::Spec(e)) => assert_eq!(e.field, "spec.version"),
        other => panic!("expected a spec error, got {other:?}"),
    }
}

#[test]
fn manifest_type_errors_and_unknown_fields_name_the_field() {
    let bad_type = "apiVersion: berth.dev/v1alpha1\nkind: HarborCluster\nmetadata: {name: x}\nspec:\n  version: 2.15.1\n  externalURL: https://h\n  portal:\n    replicas: many\n";
    let (field, _) = berth::manifest::parse_cluster(bad_type).err().unwrap_or_default();
    assert_eq!(field, "spec.portal.replicas");
    let typo = "apiVersion: berth.dev/v1alpha1\nkind: HarborCluster\nmetadata: {name: x}\nspec:\n  version: 2.15.1\n  externalURL: https://h\n  portal:\n    replica: 2\n";
    let (field, message) = berth::manifest::parse_cluster(typo).err().unwrap_or_default();
    assert_eq!(field, "spec.portal.replica", "{message}");
    assert!(message.contains("replica"), "{message}");
    let wrong_kind = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n";
    assert_eq!(berth::manifest::parse_cluster(wrong_kind).err().map(|e| e.0), Some("apiVersion".to_owned()));
}
