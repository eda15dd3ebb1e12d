//! Deny-by-default WASI: interfaces a plugin may import but can never use.
//!
//! Rust's standard library imports only the WASI a plugin calls. Other runtimes import
//! the whole of WASI 0.2's command world whatever the program does: a Python component
//! built by componentize-py imports `wasi:filesystem/*` and `wasi:sockets/*` although a
//! renderer never opens a file or a socket. Refusing those imports would refuse every
//! such plugin; linking the real ones would hand out files and the network. The host
//! links them to implementations that hold nothing.
//!
//! In WASI, a capability is a handle, and every handle of these interfaces comes from an
//! entry point, each of them stubbed here by the host's own code:
//!
//! - `wasi:filesystem/preopens` `get-directories`: an empty list. Without a directory
//!   handle no path can be opened, so no file is ever reached.
//! - `wasi:sockets/tcp-create-socket` and `udp-create-socket`: `access-denied`.
//! - `wasi:sockets/ip-name-lookup` `resolve-addresses`: `access-denied`, no query made.
//!
//! The other interfaces (`wasi:filesystem/types`, `wasi:sockets/network`,
//! `instance-network`, `tcp`, `udp`) are wasmtime-wasi's own, linked for their types:
//! every function of `types`, `tcp` and `udp` takes a descriptor or a socket that no plugin
//! can obtain, and the network handle `instance-network` gives is only the ticket those
//! socket calls require beside a socket. As a second lock, the WASI context itself allows
//! no TCP, no UDP, no name lookup and no socket address (`wasi.rs`).
//!
//! [`STUBBED_INTERFACES`] lists them; `berth plugins inspect` marks each import of a
//! plugin that one of them serves.

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView as _};
use wasmtime_wasi::p2::bindings::filesystem::preopens;
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddress, IpAddressFamily, Network};
use wasmtime_wasi::p2::bindings::sockets::{instance_network, ip_name_lookup, network, tcp_create_socket};
use wasmtime_wasi::p2::bindings::sync::sockets::{tcp, udp, udp_create_socket};
use wasmtime_wasi::p2::bindings::{self as p2, sync};
use wasmtime_wasi::p2::{DynPollable, SocketError, TcpSocket, UdpSocket};
use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView as _};

use super::wasi::HostState;

/// Interfaces a plugin may import, without their `@version`, that the host serves with
/// nothing behind them. Only WASI 0.2 (see [`super::imports::is_allowed`]).
pub const STUBBED_INTERFACES: &[&str] = &[
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:sockets/network",
    "wasi:sockets/instance-network",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
    "wasi:sockets/ip-name-lookup",
];

/// What `berth plugins inspect` says beside an import a stub serves.
pub const STUB_NOTE: &str = "deny-by-default stub: no preopened directory, no socket, no name lookup";

/// True when `interface` (without its version) is served by a stub.
pub fn is_stubbed_interface(interface: &str) -> bool {
    STUBBED_INTERFACES.contains(&interface)
}

/// The entry points: the host's own code, holding no state at all.
struct Denied;

impl HasData for Denied {
    type Data<'a> = DeniedView<'a>;
}

/// The store's resource table, only to drop a handle the guest hands back (none of the
/// stubs ever creates one).
struct DeniedView<'a>(&'a mut ResourceTable);

fn denied() -> SocketError {
    ErrorCode::AccessDenied.into()
}

// Needed by the socket stubs' error type; no stub ever makes a network error resource.
impl network::Host for DeniedView<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<ErrorCode> {
        error.downcast()
    }

    fn network_error_code(&mut self, _error: Resource<wasmtime::Error>) -> wasmtime::Result<Option<ErrorCode>> {
        Ok(None)
    }
}

impl network::HostNetwork for DeniedView<'_> {
    fn drop(&mut self, network: Resource<Network>) -> wasmtime::Result<()> {
        self.0.delete(network)?;
        Ok(())
    }
}

impl preopens::Host for DeniedView<'_> {
    fn get_directories(&mut self) -> wasmtime::Result<Vec<(Resource<preopens::Descriptor>, String)>> {
        Ok(Vec::new())
    }
}

impl tcp_create_socket::Host for DeniedView<'_> {
    fn create_tcp_socket(&mut self, _family: IpAddressFamily) -> Result<Resource<TcpSocket>, SocketError> {
        Err(denied())
    }
}

impl udp_create_socket::Host for DeniedView<'_> {
    fn create_udp_socket(&mut self, _family: udp_create_socket::IpAddressFamily) -> Result<Resource<UdpSocket>, SocketError> {
        Err(denied())
    }
}

impl ip_name_lookup::Host for DeniedView<'_> {
    fn resolve_addresses(
        &mut self,
        _network: Resource<Network>,
        _name: String,
    ) -> Result<Resource<ip_name_lookup::ResolveAddressStream>, SocketError> {
        Err(denied())
    }
}

impl ip_name_lookup::HostResolveAddressStream for DeniedView<'_> {
    fn resolve_next_address(&mut self, _stream: Resource<ip_name_lookup::ResolveAddressStream>) -> Result<Option<IpAddress>, SocketError> {
        Err(denied())
    }

    fn subscribe(&mut self, _stream: Resource<ip_name_lookup::ResolveAddressStream>) -> wasmtime::Result<Resource<DynPollable>> {
        // No stream is ever made, so no guest holds one to subscribe to.
        Err(wasmtime::format_err!("wasi:sockets/ip-name-lookup is denied: there is no address stream"))
    }

    fn drop(&mut self, stream: Resource<ip_name_lookup::ResolveAddressStream>) -> wasmtime::Result<()> {
        self.0.delete(stream)?;
        Ok(())
    }
}

/// Links every interface of [`STUBBED_INTERFACES`], as described above.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let l = linker;
    fn table(t: &mut HostState) -> DeniedView<'_> {
        DeniedView(t.table())
    }
    preopens::add_to_linker::<HostState, Denied>(l, table)?;
    tcp_create_socket::add_to_linker::<HostState, Denied>(l, table)?;
    udp_create_socket::add_to_linker::<HostState, Denied>(l, table)?;
    ip_name_lookup::add_to_linker::<HostState, Denied>(l, table)?;
    sync::filesystem::types::add_to_linker::<HostState, WasiFilesystem>(l, HostState::filesystem)?;
    network::add_to_linker::<HostState, WasiSockets>(l, &p2::sockets::network::LinkOptions::default(), HostState::sockets)?;
    instance_network::add_to_linker::<HostState, WasiSockets>(l, HostState::sockets)?;
    tcp::add_to_linker::<HostState, WasiSockets>(l, HostState::sockets)?;
    udp::add_to_linker::<HostState, WasiSockets>(l, HostState::sockets)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_points_hold_nothing() {
        use ip_name_lookup::Host as _;
        use preopens::Host as _;
        use tcp_create_socket::Host as _;
        use udp_create_socket::Host as _;
        let mut table = ResourceTable::new();
        let mut view = DeniedView(&mut table);
        assert!(matches!(view.get_directories(), Ok(dirs) if dirs.is_empty()));
        let code = |e: SocketError| e.downcast().ok();
        assert_eq!(view.create_tcp_socket(IpAddressFamily::Ipv4).err().and_then(code), Some(ErrorCode::AccessDenied));
        assert_eq!(view.create_udp_socket(udp_create_socket::IpAddressFamily::Ipv6).err().and_then(code), Some(ErrorCode::AccessDenied));
        let network = Resource::new_own(0);
        assert_eq!(view.resolve_addresses(network, "example.com".to_owned()).err().and_then(code), Some(ErrorCode::AccessDenied));
    }
}
