//! The one wasmtime Engine and the epoch ticker that enforces deadlines.

use std::hash::{Hash, Hasher};
use std::thread;
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::error::{SandboxError, boxed};

/// Engine-wide settings. Per-plugin limits live in [`super::Limits`].
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Epoch tick; deadlines are precise to one tick.
    pub epoch_tick: Duration,
    /// Renders that may run at once (sizes the pooling allocator).
    pub concurrency: u32,
    /// The largest memory cap any plugin may be given (sizes each pool slot).
    pub max_memory_bytes: u64,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings { epoch_tick: Duration::from_millis(10), concurrency: 16, max_memory_bytes: 512 << 20 }
    }
}

/// Builds the engine: component model, epoch interruption, pooling allocator. Falls
/// back to on-demand allocation when the pool's address space cannot be reserved (a
/// process under a tight `ulimit -v`), which is slower to instantiate but still safe.
pub(crate) fn build(settings: &EngineSettings) -> Result<Engine, SandboxError> {
    let mut config = base_config();
    let n = settings.concurrency.max(1);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(n)
        .total_core_instances(n * 16)
        .total_memories(n * 4)
        .total_tables(n * 16)
        .max_memory_size(usize::try_from(settings.max_memory_bytes).unwrap_or(usize::MAX))
        // A render touches about a megabyte of heap. Keeping half of that in a recycled slot
        // resident (zeroed with memset) saves the page faults a fresh mapping would take
        // on every render.
        .linear_memory_keep_resident(512 << 10)
        .table_keep_resident(1 << 16);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    match Engine::new(&config) {
        Ok(engine) => Ok(engine),
        Err(pooling_error) => {
            tracing::warn!(error = %pooling_error, "pooling allocator unavailable; using on-demand allocation");
            Engine::new(&base_config()).map_err(|e| SandboxError::Engine { source: boxed(e) })
        }
    }
}

fn base_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config
}

/// A stable fingerprint of everything that makes a precompiled artifact loadable by
/// this engine (wasmtime version, compiler settings, epoch interruption, ...).
pub(crate) fn compatibility_fingerprint(engine: &Engine) -> String {
    struct Sha(Sha256);
    impl Hasher for Sha {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            0
        }
    }
    let mut hasher = Sha(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(&hasher.0.finalize()[..8])
}

/// Increments the engine's epoch every tick on a thread of its own. It holds only a
/// weak reference, so it ends within a tick of the engine being dropped. Sleeping a
/// whole tick after each increment means a late wake-up skips the missed ticks instead
/// of bursting through them, so a descheduled ticker never cuts a deadline short.
pub(crate) fn start_epoch_ticker(engine: &Engine, tick: Duration) -> Result<(), SandboxError> {
    let weak = engine.weak();
    thread::Builder::new()
        .name("berth-epoch".to_owned())
        .spawn(move || {
            loop {
                thread::sleep(tick);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => return,
                }
            }
        })
        .map(drop)
        .map_err(|e| SandboxError::Engine { source: Box::new(e) })
}

/// Epoch ticks for a deadline: rounded up, plus one because the first tick may come
/// at any moment after the deadline is set.
pub(crate) fn deadline_ticks(deadline: Duration, tick: Duration) -> u64 {
    let tick_ns = tick.as_nanos().max(1);
    let ticks = deadline.as_nanos().div_ceil(tick_ns);
    u64::try_from(ticks).unwrap_or(u64::MAX - 1).max(1) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_rounds_up_and_adds_one_tick() {
        let tick = Duration::from_millis(10);
        assert_eq!(deadline_ticks(Duration::from_millis(100), tick), 11);
        assert_eq!(deadline_ticks(Duration::from_millis(101), tick), 12);
        assert_eq!(deadline_ticks(Duration::ZERO, tick), 2);
    }
}
