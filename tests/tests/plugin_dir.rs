//! Plugin names can never reach outside the plugin directory.

use berth::plugin_dir::PluginDir;
use berth::sandbox::SandboxError;

#[test]
fn paths_out_of_the_directory_are_refused() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let plugins = root.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(root.path().join("outside.wasm"), b"not yours").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(plugins.join("inside.wasm"), b"mine").unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink(root.path().join("outside.wasm"), plugins.join("link.wasm"))
        .unwrap_or_else(|e| panic!("{e}"));

    let dir = PluginDir::open(&plugins).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dir.read("inside.wasm").ok().as_deref(), Some(&b"mine"[..]));
    let outside = root.path().join("outside.wasm");
    for name in ["../outside.wasm", "link.wasm", outside.to_str().unwrap_or_default()] {
        match dir.read(name) {
            Ok(bytes) => panic!("{name} escaped the plugin directory and read {} bytes", bytes.len()),
            Err(SandboxError::ReadPlugin { .. } | SandboxError::PluginNotFound { .. }) => {}
            Err(other) => panic!("{name}: unexpected error {other}"),
        }
    }
    assert!(matches!(dir.read("absent.wasm"), Err(SandboxError::PluginNotFound { .. })));
    // A symlink out is not listed as a plugin either.
    let listed = dir.list().unwrap_or_else(|e| panic!("{e}"));
    assert!(listed.contains(&"inside.wasm".to_owned()));
}
