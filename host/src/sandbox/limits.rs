//! Per-plugin limits and the resource limiter that enforces the memory cap.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What one call into a plugin may use. Configurable per plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Wall-clock budget of one call, enforced by epoch interruption.
    #[serde(with = "duration_ms", rename = "deadlineMs")]
    pub deadline: Duration,
    /// Largest linear memory a plugin may grow to, in bytes.
    pub memory_bytes: u64,
    /// Largest input (spec JSON + topology JSON), in bytes.
    pub input_bytes: usize,
    /// Largest output (sum of the objects' JSON), in bytes.
    pub output_bytes: usize,
    /// Most objects one render may return.
    pub objects: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_millis(500),
            memory_bytes: 64 << 20,
            input_bytes: 1 << 20,
            output_bytes: 4 << 20,
            objects: 256,
        }
    }
}

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// Raised (as the trap's root cause) when a plugin's memory growth is refused.
#[derive(Debug, thiserror::Error)]
#[error("linear memory growth to {desired} bytes refused (cap {limit} bytes)")]
pub(crate) struct MemoryCapHit {
    pub limit: u64,
    pub desired: usize,
}

/// Caps memory per linear memory and the number of memories, tables and instances.
/// Refusing a growth traps at once with [`MemoryCapHit`] as its cause, rather than
/// letting the guest's allocator abort with an anonymous `unreachable`.
pub(crate) struct PluginLimiter {
    pub memory_bytes: u64,
}

const MAX_TABLE_ELEMENTS: usize = 100_000;

impl wasmtime::ResourceLimiter for PluginLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if u64::try_from(desired).unwrap_or(u64::MAX) > self.memory_bytes {
            return Err(wasmtime::Error::new(MemoryCapHit {
                limit: self.memory_bytes,
                desired,
            }));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        16
    }

    fn tables(&self) -> usize {
        16
    }

    fn memories(&self) -> usize {
        // Rust guests have one memory; wit-component's shims may add one more.
        4
    }
}
