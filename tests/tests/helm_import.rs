//! `berth import` through the bundled plugins: the HarborCluster imported from a chart
//! values file renders without an error, under the chart's object names, with the
//! chart's database name and external services. The mapping itself is unit-tested in
//! `host/src/helm_import/tests.rs`.

use berth::helm_import::import;
use berth_tests::render_bundled;
use serde_json::Value;

fn rendered_names(values: &str, release: &str) -> Vec<(String, String)> {
    let values: Value = serde_yaml::from_str(values).unwrap_or_else(|e| panic!("{e}"));
    let imported = import(values, release, "registry").unwrap_or_else(|e| panic!("{}", berth::error_chain::error_chain(&e)));
    let rendered = render_bundled(&imported.cluster);
    let errors: Vec<String> = rendered.errors().map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "components failed: {errors:?}");
    rendered.objects().iter().map(|o| (o.kind().to_owned(), o.name().to_owned())).collect()
}

#[test]
fn the_chart_defaults_import_and_render_under_the_chart_names() {
    let names = rendered_names("{}", "harbor");
    for (kind, name) in [
        ("Deployment", "harbor-core"),
        ("Deployment", "harbor-jobservice"),
        ("Deployment", "harbor-portal"),
        ("Deployment", "harbor-registry"),
        ("StatefulSet", "harbor-database"),
        ("StatefulSet", "harbor-redis"),
        ("StatefulSet", "harbor-trivy"),
        ("Ingress", "harbor-ingress"),
        ("PersistentVolumeClaim", "harbor-registry"),
        ("PersistentVolumeClaim", "harbor-jobservice"),
    ] {
        assert!(names.contains(&(kind.to_owned(), name.to_owned())), "no {kind} {name} in {names:?}");
    }
}

#[test]
fn production_values_import_and_render_with_external_services() {
    let names = rendered_names(
        r#"
externalURL: https://registry.example.com
expose:
  tls: {certSource: secret, secret: {secretName: registry-tls}}
  ingress: {hosts: {core: registry.example.com}, className: nginx}
persistence:
  imageChartStorage:
    type: s3
    s3: {region: eu-west-1, bucket: harbor-blobs, existingSecret: harbor-s3}
database:
  type: external
  external: {host: pg.db.svc, username: harbor, existingSecret: harbor-pg, coreDatabase: registry}
redis:
  type: external
  external: {addr: redis.cache.svc:6379, existingSecret: harbor-redis}
core: {replicas: 2}
portal: {replicas: 2}
registry: {replicas: 2}
jobservice: {replicas: 2, jobLoggers: [database]}
"#,
        "prod",
    );
    let stateful: Vec<&str> = names.iter().filter(|(kind, _)| kind == "StatefulSet").map(|(_, name)| name.as_str()).collect();
    assert_eq!(stateful, ["prod-harbor-trivy"], "external database and Redis: no StatefulSet of theirs");
    assert!(!names.contains(&("PersistentVolumeClaim".to_owned(), "prod-harbor-registry".to_owned())), "S3 storage: {names:?}");
    for name in ["prod-harbor-core", "prod-harbor-portal", "prod-harbor-registry", "prod-harbor-jobservice"] {
        assert!(names.contains(&("PodDisruptionBudget".to_owned(), name.to_owned())), "two replicas of {name} get a budget: {names:?}");
    }
}

#[test]
fn the_example_values_file_imports_and_renders() {
    let values = std::fs::read_to_string(berth_tests::workspace().join("examples/helm/values.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let names = rendered_names(&values, "prod");
    assert!(names.contains(&("Ingress".to_owned(), "prod-harbor-ingress".to_owned())), "{names:?}");
}
