//! The portal through the whole path: manifest -> topology -> sandboxed plugin -> host
//! stamping -> YAML. (Golden renders of every example are in examples.rs.)

use berth_tests::{bundled_catalog, read_example, render, render_yaml, sandbox};

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
    // The assertions live in the support crate: tests/tests/portal_py.rs holds the Python
    // portal to the very same ones.
    let sandbox = sandbox();
    berth_tests::assert_portal_chart_contract(&bundled_catalog(&sandbox));
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
