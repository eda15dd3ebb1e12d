//! The `berth` binary as a user runs it. Needs the bundled plugins (`make plugins`).

use std::path::Path;
use std::process::{Command, Output};

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn berth(args: &[&str]) -> Output {
    let cache = workspace().join("target/berth-test-cache");
    let output = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .arg("--cache-dir")
        .arg(&cache)
        .current_dir(workspace())
        .output()
        .unwrap_or_else(|e| panic!("running berth: {e}"));
    assert!(
        workspace().join("target/plugins").is_dir(),
        "no target/plugins: run `make plugins` first"
    );
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn render_references_generated_secrets_without_printing_them() {
    let out = berth(&["render", "-f", "examples/minimal.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("kind: Secret"), "a Secret was printed");
    assert!(stdout.contains("name: demo-harbor-core"));
    let stderr = text(&out.stderr);
    for name in ["demo-harbor-core", "demo-harbor-jobservice", "demo-harbor-registry-htpasswd", "demo-harbor-database"] {
        assert!(stderr.contains(name), "the note does not name {name}: {stderr}");
    }
    assert!(stderr.contains("--emit-secrets"));
}

#[test]
fn emitted_secrets_are_immutable_and_fresh_each_time() {
    let first = berth(&["render", "-f", "examples/minimal.yaml", "--emit-secrets"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let first = text(&first.stdout);
    let secrets = first.matches("kind: Secret").count();
    assert_eq!(secrets, 5, "core, jobservice, registry, registry-htpasswd, database");
    assert_eq!(first.matches("immutable: true").count(), secrets);
    assert!(first.contains("secretKey:") && first.contains("tls.crt:") && first.contains("REGISTRY_HTPASSWD: harbor_registry_user:$2y$"));
    let second = text(&berth(&["render", "-f", "examples/minimal.yaml", "--emit-secrets"]).stdout);
    assert_ne!(first, second, "two emissions produced the same secret values");
}

#[test]
fn a_bad_manifest_names_the_field_and_fails() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "apiVersion: berth.dev/v1alpha1\nkind: HarborCluster\nmetadata: {name: x}\nspec:\n  version: 2.15.1\n  externalURL: https://h\n  registry:\n    replicas: lots\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = berth(&["render", "-f", file.to_str().unwrap_or_default()]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("spec.registry.replicas"), "{}", text(&out.stderr));
}

#[test]
fn inspect_lists_identity_and_imports() {
    let out = berth(&["plugins", "inspect", "target/plugins/berth_plugin_portal.wasm"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for line in ["name:             berth-portal", "component:        portal", "contract:         berth:plugin@0.1.0", "digest:           sha256:", "berth:plugin/renderer@0.1.0", "wasi:cli/stderr@"] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("wasi:filesystem"));
}

#[test]
fn crd_prints_the_checked_in_definition() {
    let out = berth(&["crd"]);
    assert!(out.status.success());
    let checked_in = std::fs::read_to_string(workspace().join("crds/harborclusters.yaml")).unwrap_or_default();
    assert_eq!(text(&out.stdout), checked_in);
}
