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
    assert!(workspace().join("target/plugins").is_dir(), "no target/plugins: run `make plugins` first");
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
    for line in [
        "name:             berth-portal",
        "component:        portal",
        "contract:         berth:plugin@0.4.0",
        "digest:           sha256:",
        "berth:plugin/renderer@0.4.0",
        "wasi:cli/stderr@",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("wasi:filesystem"));
}

#[test]
fn inspect_marks_the_imports_a_deny_by_default_stub_serves() {
    let out = berth(&["plugins", "inspect", &test_plugin("berth_test_wasi_prober.wasm")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let line = |prefix: &str| stdout.lines().find(|l| l.trim_start().starts_with(prefix)).unwrap_or_default().to_owned();
    assert!(line("wasi:filesystem/preopens@").contains("deny-by-default stub"), "{stdout}");
    assert!(line("wasi:sockets/tcp-create-socket@").contains("deny-by-default stub"), "{stdout}");
    assert!(!line("wasi:cli/stderr@").contains("stub"), "{stdout}");
}

#[test]
fn crd_prints_the_checked_in_definition() {
    let out = berth(&["crd"]);
    assert!(out.status.success());
    let checked_in = std::fs::read_to_string(workspace().join("crds/harborclusters.yaml")).unwrap_or_default();
    assert_eq!(text(&out.stdout), checked_in);
}

/// A built test plugin (`make test-plugins`).
fn test_plugin(file: &str) -> String {
    let path = workspace().join("target/test-plugins").join(file);
    assert!(path.is_file(), "no {}: run `make test-plugins` first", path.display());
    path.to_string_lossy().into_owned()
}

fn digest_of(path: &str) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let inspect = berth(&["plugins", "inspect", path]);
    let digest = text(&inspect.stdout).lines().find_map(|l| l.strip_prefix("digest:").map(|d| d.trim().to_owned()));
    assert!(!bytes.is_empty());
    digest.unwrap_or_else(|| panic!("inspect printed no digest: {}", text(&inspect.stdout)))
}

#[test]
fn verify_accepts_the_pinned_digest_and_refuses_any_other() {
    let next = test_plugin("berth_test_portal_next.wasm");
    let digest = digest_of(&next);
    let ok = berth(&["plugins", "verify", &next, "--digest", &digest]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("verified:") && text(&ok.stdout).contains("version:          0.2.0"));

    let broken_digest = digest_of(&test_plugin("berth_test_portal_broken.wasm"));
    let mismatch = berth(&["plugins", "verify", &next, "--digest", &broken_digest]);
    assert!(!mismatch.status.success());
    let stderr = text(&mismatch.stderr);
    assert!(stderr.contains("does not match") && stderr.contains(&digest) && stderr.contains(&broken_digest), "{stderr}");

    // A file that is not a plugin the operator would load fails even with its digest.
    let forbidden = test_plugin("forbidden-import.wat");
    let refused = berth(&["plugins", "verify", &forbidden, "--digest", &format!("sha256:{}", sha256_hex(&forbidden))]);
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("not a plugin the operator would load"), "{}", text(&refused.stderr));
}

fn sha256_hex(path: &str) -> String {
    use sha2::Digest as _;
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn diff_shows_the_fields_a_new_version_changes() {
    let out = berth(&[
        "plugins",
        "diff",
        "--from",
        "target/plugins/berth_plugin_portal.wasm",
        "--to",
        &test_plugin("berth_test_portal_next.wasm"),
        "-f",
        "examples/minimal.yaml",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("portal: berth-portal@0.1.0"), "{stdout}");
    assert!(stdout.contains("Deployment/demo-harbor-portal"), "{stdout}");
    assert!(stdout.contains("portal.berth.dev/renderer"), "{stdout}");
    assert!(!stdout.contains("berth.dev/plugin-digest"), "audit stamps are not changes: {stdout}");

    // Two plugins of different components cannot be compared.
    let mismatched = berth(&[
        "plugins",
        "diff",
        "--from",
        "target/plugins/berth_plugin_core.wasm",
        "--to",
        &test_plugin("berth_test_portal_next.wasm"),
        "-f",
        "examples/minimal.yaml",
    ]);
    assert!(!mismatched.status.success());
}

#[test]
fn render_with_a_policy_uses_the_versions_it_chooses() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let policy = dir.path().join("policy.yaml");
    let next = test_plugin("berth_test_portal_next.wasm");
    let yaml = format!(
        "apiVersion: berth.dev/v1alpha1\nkind: PluginPolicy\nmetadata: {{name: portal}}\nspec:\n  components:\n  \
         - component: portal\n    stable: \"0.2.0\"\n    versions:\n    - version: \"0.2.0\"\n      digest: {}\n      \
         source: {{file: {{name: berth_test_portal_next.wasm}}}}\n",
        digest_of(&next)
    );
    std::fs::write(&policy, yaml).unwrap_or_else(|e| panic!("{e}"));
    let policy = policy.to_string_lossy().into_owned();
    let out = berth(&["render", "-f", "examples/minimal.yaml", "--plugin-sources", "target/test-plugins", "--policy", &policy]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("portal.berth.dev/renderer: 0.2.0"), "the 0.2.0 portal did not render");
    assert!(stdout.contains("berth.dev/plugin-version: 0.2.0"));
    // Without the source directory the version is refused, said on stderr, and the
    // bundled portal renders.
    let without = berth(&["render", "-f", "examples/minimal.yaml", "--policy", &policy]);
    assert!(without.status.success(), "{}", text(&without.stderr));
    assert!(text(&without.stderr).contains("--plugin-sources"), "{}", text(&without.stderr));
    assert!(!text(&without.stdout).contains("portal.berth.dev/renderer"));
}
