//! The import allow-list. A component's imports are its whole capability surface; any
//! import outside it refuses the plugin at load, by name. It has two parts: the
//! interfaces the host serves ([`ALLOWED_INTERFACES`], `wasi.rs`), and those it links to
//! deny-by-default stubs that hold nothing ([`super::denied::STUBBED_INTERFACES`]).

use wasmtime::Engine;
use wasmtime::component::Component;

use super::denied::is_stubbed_interface;
use super::error::SandboxError;

/// Interfaces a plugin may import and call, without their `@version`. These are the ones
/// Rust's standard library on wasm32-wasip2 pulls in; the host links them with nothing
/// behind them (see `wasi.rs`). Filesystem and sockets are only ever stubs (`denied.rs`);
/// HTTP and everything else are refused.
pub const ALLOWED_INTERFACES: &[&str] = &[
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:cli/exit",
    "wasi:cli/environment",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
];

/// WASI 0.2 is the only WASI the host links.
const ALLOWED_WASI_VERSION_PREFIX: &str = "0.2.";

/// True when `import` (e.g. "wasi:cli/stderr@0.2.4") is allowed: served, or stubbed.
pub fn is_allowed(import: &str) -> bool {
    let (interface, version) = import.split_once('@').unwrap_or((import, ""));
    (ALLOWED_INTERFACES.contains(&interface) || is_stubbed_interface(interface)) && version.starts_with(ALLOWED_WASI_VERSION_PREFIX)
}

/// True when an allowed `import` is served by a deny-by-default stub.
pub fn is_stubbed(import: &str) -> bool {
    let (interface, _) = import.split_once('@').unwrap_or((import, ""));
    is_allowed(import) && is_stubbed_interface(interface)
}

/// The names a component imports.
pub fn imports_of(engine: &Engine, component: &Component) -> Vec<String> {
    component.component_type().imports(engine).map(|(name, _)| name.to_owned()).collect()
}

/// The names a component exports.
pub fn exports_of(engine: &Engine, component: &Component) -> Vec<String> {
    component.component_type().exports(engine).map(|(name, _)| name.to_owned()).collect()
}

/// Refuses the first import that is not allowed.
pub fn check(plugin: &str, imports: &[String]) -> Result<(), SandboxError> {
    match imports.iter().find(|name| !is_allowed(name)) {
        Some(name) => Err(SandboxError::ForbiddenImport { plugin: plugin.to_owned(), name: name.clone() }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasi_02_cli_is_served_filesystem_and_sockets_are_stubs_and_http_is_refused() {
        assert!(is_allowed("wasi:cli/stderr@0.2.4"));
        assert!(is_allowed("wasi:io/streams@0.2.0"));
        assert!(!is_stubbed("wasi:cli/stderr@0.2.4"));
        for stub in ["wasi:filesystem/types@0.2.9", "wasi:filesystem/preopens@0.2.9", "wasi:sockets/tcp@0.2.4"] {
            assert!(is_allowed(stub) && is_stubbed(stub), "{stub}");
        }
        assert!(!is_allowed("wasi:http/outgoing-handler@0.2.4"));
        assert!(!is_allowed("wasi:http/types@0.2.4"));
        assert!(!is_allowed("wasi:cli/stderr@0.3.0"));
        assert!(!is_allowed("wasi:cli/stderr"));
        // A stub covers WASI 0.2 only, like everything else.
        assert!(!is_allowed("wasi:filesystem/types@0.3.0") && !is_stubbed("wasi:filesystem/types@0.3.0"));
        assert!(!is_allowed("wasi:sockets/tcp"));
        assert!(!is_allowed("berth:plugin/host@0.1.0"));
    }

    #[test]
    fn no_interface_is_both_served_and_stubbed() {
        for interface in ALLOWED_INTERFACES {
            assert!(!is_stubbed_interface(interface), "{interface}");
        }
    }
}
