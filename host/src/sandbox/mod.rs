//! The sandbox runtime: compiles, verifies, caches and runs component renderers.
//!
//! One [`Sandbox`] owns one wasmtime Engine, a linker with exactly the allowed imports
//! (and the deny-by-default stubs of [`denied`], which hold nothing),
//! an epoch ticker and the precompiled cache. [`Sandbox::load`] turns a .wasm into a
//! [`Plugin`] (compiled once per digest, import allow-list and contract checked,
//! pre-linked); [`Plugin::render`] runs one render in a fresh Store under the plugin's
//! [`Limits`]. Every failure is a [`SandboxError`]; nothing a plugin does can panic or
//! hang the host.

pub(crate) mod bindings;
mod cache;
pub mod denied;
mod digest;
mod engine;
mod error;
pub mod imports;
mod limits;
mod plugin;
mod wasi;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

pub use cache::CacheKey;
pub use digest::{BadDigest, Digest};
pub use engine::EngineSettings;
pub use error::{BoxError, SandboxError};
pub use limits::Limits;
pub use plugin::{COPY_SLACK_BYTES, Plugin, PluginOutput};

use cache::PrecompiledCache;
use error::boxed;
use wasi::HostState;

/// How a component was obtained by [`Sandbox::load`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadedFrom {
    /// Compiled now (and stored in the cache, if there is one).
    Compiled,
    /// Deserialized from a verified precompiled artifact.
    Cache,
}

pub struct Sandbox {
    engine: Engine,
    linker: Linker<HostState>,
    cache: Option<PrecompiledCache>,
    fingerprint: String,
    settings: EngineSettings,
}

impl Sandbox {
    /// Builds the engine, links the allowed imports and starts the epoch ticker. With a
    /// cache directory, compiled plugins are kept there, signed with a key that lives in
    /// this process only (see [`Sandbox::with_cache_key`] to keep them across restarts).
    pub fn new(settings: EngineSettings, cache_dir: Option<&Path>) -> Result<Self, SandboxError> {
        Self::with_cache_key(settings, cache_dir, &CacheKey::Ephemeral)
    }

    /// As [`Sandbox::new`], with the precompiled cache's key from `key`.
    pub fn with_cache_key(settings: EngineSettings, cache_dir: Option<&Path>, key: &CacheKey) -> Result<Self, SandboxError> {
        let engine = engine::build(&settings)?;
        let mut linker = Linker::new(&engine);
        wasi::add_to_linker(&mut linker).map_err(|e| SandboxError::Engine { source: boxed(e) })?;
        denied::add_to_linker(&mut linker).map_err(|e| SandboxError::Engine { source: boxed(e) })?;
        engine::start_epoch_ticker(&engine, settings.epoch_tick)?;
        let cache = cache_dir.map(|dir| PrecompiledCache::open(dir, key)).transpose()?;
        let fingerprint = engine::compatibility_fingerprint(&engine);
        Ok(Sandbox { engine, linker, cache, fingerprint, settings })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn cache_dir(&self) -> Option<PathBuf> {
        self.cache.as_ref().map(|c| c.path().to_owned())
    }

    /// Compiles `wasm`, or loads its verified precompiled artifact.
    pub fn component(&self, name: &str, wasm: &[u8], digest: &Digest) -> Result<(Component, LoadedFrom), SandboxError> {
        if let Some(cache) = &self.cache
            && let Some(artifact) = cache.get(digest, &self.fingerprint)
        {
            // SAFETY: `get` returns only bytes whose HMAC verifies under a key that no
            // writer of the cache directory can read: an artifact this host (or one with
            // the deployer's key) produced for this engine configuration.
            match unsafe { Component::deserialize(&self.engine, &artifact) } {
                Ok(component) => return Ok((component, LoadedFrom::Cache)),
                Err(e) => {
                    tracing::warn!(plugin = name, error = %e, "precompiled artifact rejected; recompiling")
                }
            }
        }
        let started = Instant::now();
        let compile = |e| SandboxError::Compile { plugin: name.to_owned(), source: boxed(e) };
        let artifact = self.engine.precompile_component(wasm).map_err(compile)?;
        // SAFETY: the artifact was produced just now by this engine.
        let component = unsafe { Component::deserialize(&self.engine, &artifact) }.map_err(compile)?;
        tracing::info!(plugin = name, %digest, elapsed_ms = started.elapsed().as_millis() as u64, "compiled plugin");
        if let Some(cache) = &self.cache
            && let Err(e) = cache.put(digest, &self.fingerprint, &artifact)
        {
            tracing::warn!(plugin = name, error = %e, "could not store the precompiled artifact");
        }
        Ok((component, LoadedFrom::Compiled))
    }

    /// Loads a plugin: digest (checked against `expected` when given), compile or cache,
    /// import allow-list, contract export, pre-link, and `describe`.
    pub fn load(&self, name: &str, wasm: &[u8], expected: Option<&Digest>, limits: Limits) -> Result<Plugin, SandboxError> {
        let digest = Digest::of(wasm);
        if let Some(expected) = expected
            && *expected != digest
        {
            return Err(SandboxError::DigestMismatch {
                plugin: name.to_owned(),
                expected: expected.to_string(),
                actual: digest.to_string(),
            });
        }
        let (component, _) = self.component(name, wasm, &digest)?;
        plugin::Plugin::link(self, name, component, digest, wasm.len(), limits)
    }

    /// The largest memory cap a plugin may be given (each pool slot's size).
    pub fn max_memory_bytes(&self) -> u64 {
        self.settings.max_memory_bytes
    }

    pub(crate) fn tick(&self) -> Duration {
        self.settings.epoch_tick
    }
}
