//! Bad specs are refused with an error that names the field, whichever layer catches
//! them: the manifest parser, the host's topology, or a plugin.

use berth::contract::{InvalidSpec, RenderError};
use berth::render::{ClusterRenderError, ComponentError};
use berth::sandbox::SandboxError;
use berth_tests::{read_example, render, shared_catalog};

/// The field named by the first error a render of `yaml_spec` (under `spec:`) produces.
fn field_of_error(spec_yaml: &str) -> String {
    let text = format!("apiVersion: berth.dev/v1alpha1\nkind: HarborCluster\nmetadata: {{name: bad, namespace: ns}}\nspec:\n{spec_yaml}");
    let cluster = match berth::manifest::parse_cluster(&text) {
        Ok(cluster) => cluster,
        Err((field, _)) => return field,
    };
    let catalog = shared_catalog();
    match render(catalog, &cluster) {
        Err(ClusterRenderError::Spec(e)) => e.field,
        Err(other) => panic!("unexpected error {other}"),
        Ok(rendered) => {
            let error = rendered.errors().next().unwrap_or_else(|| panic!("the spec rendered:\n{spec_yaml}"));
            match error {
                ComponentError::Plugin {
                    source: SandboxError::Rejected { error: RenderError::InvalidSpec(InvalidSpec { field, .. }), .. },
                    ..
                } => field.clone(),
                other => panic!("not an invalid-spec error: {other}"),
            }
        }
    }
}

const BASE: &str = "  version: 2.15.1\n  externalURL: https://h.example.com\n";

#[test]
fn s3_without_a_bucket() {
    let field = field_of_error(&format!("{BASE}  storage:\n    type: s3\n    s3:\n      region: eu-west-1\n"));
    assert_eq!(field, "spec.storage.s3.bucket");
}

#[test]
fn external_database_without_a_host() {
    let field = field_of_error(&format!(
        "{BASE}  database:\n    type: external\n    external:\n      username: u\n      passwordSecret: {{name: pg, key: password}}\n"
    ));
    assert_eq!(field, "spec.database.external.host");
}

#[test]
fn an_unsupported_harbor_version() {
    assert_eq!(field_of_error("  version: 2.10.0\n  externalURL: https://h.example.com\n"), "spec.version");
}

#[test]
fn negative_replicas() {
    assert_eq!(field_of_error(&format!("{BASE}  core:\n    replicas: -1\n")), "spec.core.replicas");
}

#[test]
fn several_jobservice_replicas_with_file_logs_on_a_read_write_once_volume() {
    let field = field_of_error(&format!("{BASE}  jobservice:\n    replicas: 2\n    jobLoggers: [file]\n"));
    assert_eq!(field, "spec.jobservice.replicas");
}

#[test]
fn a_secret_reference_without_a_key() {
    let field = field_of_error(&format!("{BASE}  adminPassword:\n    name: admin\n"));
    assert_eq!(field, "spec.adminPassword");
}

#[test]
fn the_minimal_example_is_not_an_error() {
    let catalog = shared_catalog();
    let rendered = render(catalog, &read_example("minimal.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rendered.errors().count(), 0);
}
