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
    std::os::unix::fs::symlink(root.path().join("outside.wasm"), plugins.join("link.wasm")).unwrap_or_else(|e| panic!("{e}"));

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

/// A mounted ConfigMap presents each key as a symlink into `..data/`: links that stay
/// inside the directory are followed; a FIFO or a directory named `.wasm` is refused
/// with an error, never waited on or skipped in silence.
#[test]
fn links_inside_are_followed_and_non_files_refused() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let plugins = root.path().join("plugins");
    std::fs::create_dir_all(plugins.join("..2026_11_30").join("sub")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(plugins.join("..2026_11_30/portal.wasm"), b"configmap bytes").unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink("..2026_11_30", plugins.join("..data")).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink("..data/portal.wasm", plugins.join("portal.wasm")).unwrap_or_else(|e| panic!("{e}"));
    let fifo = plugins.join("fifo.wasm");
    let path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap_or_else(|e| panic!("{e}"));
    // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0, "mkfifo");
    std::fs::create_dir(plugins.join("dir.wasm")).unwrap_or_else(|e| panic!("{e}"));

    let dir = PluginDir::open(&plugins).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dir.list().unwrap_or_default(), ["dir.wasm", "fifo.wasm", "portal.wasm"]);
    assert_eq!(dir.read("portal.wasm").ok().as_deref(), Some(&b"configmap bytes"[..]));
    for name in ["fifo.wasm", "dir.wasm"] {
        match dir.read(name) {
            Err(SandboxError::ReadPlugin { source, .. }) => assert!(
                source.to_string().contains("not a regular file") || source.raw_os_error() == Some(libc::EISDIR),
                "{name}: {source}"
            ),
            other => panic!("{name}: expected a refusal, got {:?}", other.map(|b| b.len())),
        }
    }
}
