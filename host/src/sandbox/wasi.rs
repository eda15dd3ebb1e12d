//! The WASI a plugin gets: only what Rust's standard library on wasm32-wasip2 imports,
//! and nothing behind it. No preopened directories, no environment, no arguments, no
//! sockets, stdout and stderr captured into bounded buffers, clocks frozen at zero and
//! randomness from a fixed seed, so output cannot depend on when or where a render ran.
//! (Filesystem and sockets are linked only as the deny-by-default stubs of `denied.rs`,
//! for runtimes that import them without using them; this context denies them again.)
//!
//! Nothing a plugin can call waits. Epoch interruption stops wasm code, not a host call,
//! so a real timer behind `sleep` (a clock subscription and `poll`) would let a plugin
//! outlive its deadline by as long as it asked to sleep. The monotonic clock here is
//! virtual: it reads zero, and every subscription to it is ready at once, so a sleep
//! returns immediately and a plugin that waits in a loop spins in wasm, where the
//! deadline catches it. Streams are in-memory pipes (ready at once), stdin is closed,
//! and random bytes are capped per call.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{HostMonotonicClock, HostWallClock, WasiClocks, WasiClocksView};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock::{self, Duration as WasiDuration, Instant as WasiInstant};
use wasmtime_wasi::p2::bindings::{cli, clocks, random, sync};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::p2::{DynPollable, Pollable};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::limits::PluginLimiter;

/// Bytes of stdout and of stderr kept per call; writes beyond fail in the guest.
pub(crate) const CAPTURE_BYTES: usize = 64 << 10;

/// Most random bytes one call may ask for (wasmtime-wasi allows 64 MiB).
const RANDOM_BYTES_PER_CALL: u64 = 64 << 10;

/// A fixed seed: plugins that use a HashMap (which seeds itself from WASI randomness)
/// still iterate in the same order on every render.
const RANDOM_SEED: u64 = 0x6265_7274_6821;

/// Per-store state: the empty WASI context, its resource table, the limiter and the
/// captured output.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: PluginLimiter,
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
}

impl HostState {
    pub(crate) fn new(memory_bytes: u64) -> Self {
        let stdout = MemoryOutputPipe::new(CAPTURE_BYTES);
        let stderr = MemoryOutputPipe::new(CAPTURE_BYTES);
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .secure_random(StdRng::seed_from_u64(RANDOM_SEED))
            .insecure_random(StdRng::seed_from_u64(RANDOM_SEED))
            .insecure_random_seed(u128::from(RANDOM_SEED))
            .max_random_size(RANDOM_BYTES_PER_CALL)
            // The stubs of denied.rs never make a socket or resolve a name; should one
            // be reached anyway, the context allows nothing either (and, having no
            // preopened directory, holds no file).
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        HostState { wasi, table: ResourceTable::new(), limiter: PluginLimiter::new(memory_bytes), stdout, stderr }
    }

    /// What the guest wrote to stderr (a panic message, typically), lossily decoded.
    pub(crate) fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).trim_end().to_owned()
    }

    /// The store's resource table (the deny-by-default stubs drop handles in it).
    pub(crate) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    pub(crate) fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout.contents()).trim_end().to_owned()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// The wall clock reads zero, always (the monotonic one is [`VirtualClock`]).
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// The virtual monotonic clock: always zero, and every deadline already passed.
struct VirtualClock;

impl HasData for VirtualClock {
    type Data<'a> = ClockView<'a>;
}

struct ClockView<'a>(&'a mut ResourceTable);

impl monotonic_clock::Host for ClockView<'_> {
    fn now(&mut self) -> wasmtime::Result<WasiInstant> {
        Ok(0)
    }

    fn resolution(&mut self) -> wasmtime::Result<WasiDuration> {
        Ok(1_000_000_000)
    }

    fn subscribe_instant(&mut self, _when: WasiInstant) -> wasmtime::Result<Resource<DynPollable>> {
        elapsed(self.0)
    }

    fn subscribe_duration(&mut self, _duration: WasiDuration) -> wasmtime::Result<Resource<DynPollable>> {
        elapsed(self.0)
    }
}

/// A pollable that is always ready.
struct Elapsed;

#[async_trait::async_trait]
impl Pollable for Elapsed {
    async fn ready(&mut self) {}
}

fn elapsed(table: &mut ResourceTable) -> wasmtime::Result<Resource<DynPollable>> {
    let resource = table.push(Elapsed)?;
    wasmtime_wasi::p2::subscribe(table, resource)
}

struct Io;

impl HasData for Io {
    type Data<'a> = &'a mut ResourceTable;
}

/// Links exactly the interfaces of [`super::imports::ALLOWED_INTERFACES`], no more
/// (those of [`super::denied::STUBBED_INTERFACES`] are `denied::add_to_linker`'s).
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let l = linker;
    wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<HostState, Io>(l, |t| &mut t.table)?;
    sync::io::poll::add_to_linker::<HostState, Io>(l, |t| &mut t.table)?;
    sync::io::streams::add_to_linker::<HostState, Io>(l, |t| &mut t.table)?;
    clocks::wall_clock::add_to_linker::<HostState, WasiClocks>(l, HostState::clocks)?;
    monotonic_clock::add_to_linker::<HostState, VirtualClock>(l, |t| ClockView(&mut t.table))?;
    random::random::add_to_linker::<HostState, WasiRandom>(l, HostState::random)?;
    random::insecure::add_to_linker::<HostState, WasiRandom>(l, HostState::random)?;
    random::insecure_seed::add_to_linker::<HostState, WasiRandom>(l, HostState::random)?;
    cli::exit::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::environment::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::stdin::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::stdout::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::stderr::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_input::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_output::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stdin::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stdout::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stderr::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    Ok(())
}
