//! `berth render` with no PluginPolicy, as a user runs it, against hostile input: a
//! hostile portal plugin in the plugin directory (each default guardrail must hold),
//! and hostile manifests (a YAML alias bomb, a FIFO, a bad name).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the CLI with a precompiled cache in target/ (compiling nine plugins for every
/// run would take minutes), signed with a key kept beside it, not in it.
fn berth(args: &[&str]) -> Output {
    let cache = workspace().join("target/berth-cli-test-cache");
    let key = workspace().join("target/berth-cli-test-cache.key");
    if !key.is_file() {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).unwrap_or_else(|e| panic!("{e}"));
        let tmp = key.with_extension(format!("key.{}", std::process::id()));
        std::fs::write(&tmp, bytes).unwrap_or_else(|e| panic!("{e}"));
        // A hard link never leaves a half-written key for a concurrent test to read.
        let _ = std::fs::hard_link(&tmp, &key);
        let _ = std::fs::remove_file(&tmp);
    }
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("--cache-dir")
        .arg(&cache)
        .arg("--cache-key-file")
        .arg(&key)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running berth: {e}"))
}

/// The bundled plugins with the portal replaced by the guardrail breaker, which the
/// host then loads as the bundled portal: no policy is involved.
fn hostile_plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bundled = workspace().join("target/plugins");
    let breaker = workspace().join("target/test-plugins/berth_test_guardrail_breaker.wasm");
    assert!(breaker.is_file(), "run `make test-plugins` first");
    for entry in std::fs::read_dir(&bundled).unwrap_or_else(|e| panic!("{}: {e}", bundled.display())).filter_map(Result::ok) {
        let name = entry.file_name();
        if name != "berth_plugin_portal.wasm" {
            std::fs::copy(entry.path(), dir.path().join(&name)).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    std::fs::copy(&breaker, dir.path().join("breaker.wasm")).unwrap_or_else(|e| panic!("{e}"));
    dir
}

fn cluster_file(dir: &Path, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(workspace().join("examples/minimal.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let text = text.replacen("name: demo", &format!("name: {name}"), 1);
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    path
}

#[test]
fn every_default_guardrail_holds_in_an_offline_render_with_no_policy() {
    let plugins = hostile_plugin_dir();
    let files = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let plugin_dir = plugins.path().to_str().unwrap_or_default();
    let cases = [
        ("privileged", "podSecurity.privileged"),
        ("hostpath", "podSecurity.hostPathVolumes"),
        ("hostnetwork", "podSecurity.hostNamespaces"),
        ("rootuser", "podSecurity.runAsUser"),
        ("token", "podSecurity.serviceAccountToken"),
        ("secret", "noSecrets"),
        ("takeover", "componentNames"),
        ("apigroup", "allowedKinds"),
        ("registry", "allowedRegistries"),
        ("imagevolume", "allowedRegistries"),
        ("secretdecl", "declared generated Secrets badly"),
        ("bigkey", "declared generated Secrets badly"),
    ];
    for (name, rule) in cases {
        let file = cluster_file(files.path(), name);
        let out = berth(&["render", "--plugins", plugin_dir, "-f", file.to_str().unwrap_or_default()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: rendered despite the breach");
        assert!(stderr.contains(rule) && stderr.contains("guardrail-breaker"), "{name}: {stderr}");
        assert!(out.stdout.is_empty(), "{name}: printed objects anyway");
    }
    // The same plugin, behaving, renders.
    let file = cluster_file(files.path(), "fine");
    let out = berth(&["render", "--plugins", plugin_dir, "-f", file.to_str().unwrap_or_default()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn hostile_manifests_are_refused_before_parsing() {
    let files = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let plugins = workspace().join("target/plugins");
    let plugin_dir = plugins.to_str().unwrap_or_default();
    // A billion laughs in YAML.
    let mut bomb = String::from("a: &a [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n");
    for i in 1..12 {
        let previous = if i == 1 { "a".to_owned() } else { format!("a{}", i - 1) };
        bomb.push_str(&format!("a{i}: &a{i} [{}]\n", vec![format!("*{previous}"); 9].join(", ")));
    }
    let bomb_file = files.path().join("bomb.yaml");
    std::fs::write(&bomb_file, bomb).unwrap_or_else(|e| panic!("{e}"));
    let out = berth(&["render", "--plugins", plugin_dir, "-f", bomb_file.to_str().unwrap_or_default()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("alias"), "{}", String::from_utf8_lossy(&out.stderr));

    let fifo = files.path().join("fifo.yaml");
    let path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap_or_else(|e| panic!("{e}"));
    // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    let out = berth(&["render", "--plugins", plugin_dir, "-f", fifo.to_str().unwrap_or_default()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a regular file"), "{}", String::from_utf8_lossy(&out.stderr));

    for (name, field) in [("Demo_Cluster", "metadata.name"), ("evil;rm", "metadata.name")] {
        let text = std::fs::read_to_string(workspace().join("examples/minimal.yaml")).unwrap_or_else(|e| panic!("{e}"));
        let file = files.path().join("bad-name.yaml");
        std::fs::write(&file, text.replacen("name: demo", &format!("name: \"{name}\""), 1)).unwrap_or_else(|e| panic!("{e}"));
        let out = berth(&["render", "--plugins", plugin_dir, "-f", file.to_str().unwrap_or_default()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(field), "{name}: {stderr}");
    }
}
