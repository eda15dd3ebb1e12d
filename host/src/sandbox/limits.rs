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
        Limits { deadline: Duration::from_millis(500), memory_bytes: 64 << 20, input_bytes: 1 << 20, output_bytes: 4 << 20, objects: 256 }
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

#[cfg(test)]
mod tests {
    use wasmtime::ResourceLimiter as _;

    use super::*;

    #[test]
    fn the_cap_counts_every_memory_of_the_instance_together() {
        let mut limiter = PluginLimiter::new(64 << 20);
        assert!(matches!(limiter.memory_growing(0, 40 << 20, None), Ok(true)));
        // A second memory may take only what the first left.
        assert!(limiter.memory_growing(0, 30 << 20, None).is_err());
        assert!(matches!(limiter.memory_growing(0, 24 << 20, None), Ok(true)));
        // Growing the first memory counts from its current size.
        assert!(limiter.memory_growing(40 << 20, 41 << 20, None).is_err());
        assert!(matches!(limiter.memory_growing(40 << 20, 40 << 20, None), Ok(true)));
    }
}

/// Raised (as the trap's root cause) when a plugin's memory growth is refused.
#[derive(Debug, thiserror::Error)]
#[error("linear memory growth to {desired} bytes in all refused (cap {limit} bytes)")]
pub(crate) struct MemoryCapHit {
    pub limit: u64,
    pub desired: u64,
}

/// Caps the memory of one plugin instance in total, over all its linear memories (a
/// component may have several: the guest's, and adapter shims'), and the number of
/// memories, tables and instances. Refusing a growth traps at once with
/// [`MemoryCapHit`] as its cause, rather than letting the guest's allocator abort with an
/// anonymous `unreachable`.
pub(crate) struct PluginLimiter {
    memory_bytes: u64,
    /// Bytes of every linear memory of this store so far.
    total: u64,
}

impl PluginLimiter {
    pub(crate) fn new(memory_bytes: u64) -> Self {
        PluginLimiter { memory_bytes, total: 0 }
    }
}

const MAX_TABLE_ELEMENTS: usize = 100_000;

impl wasmtime::ResourceLimiter for PluginLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let bytes = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        let others = self.total.saturating_sub(bytes(current));
        let total = others.saturating_add(bytes(desired));
        if total > self.memory_bytes {
            return Err(wasmtime::Error::new(MemoryCapHit { limit: self.memory_bytes, desired: total }));
        }
        self.total = total;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
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
