//! A loaded plugin and one render call under its limits.

use std::sync::Arc;

use crate::contract::{self, PluginDescription, RenderInput};
use wasmtime::component::Component;
use wasmtime::{Store, Trap};

use super::Sandbox;
use super::bindings::{self, ComponentRendererPre};
use super::digest::Digest;
use super::engine::deadline_ticks;
use super::error::{SandboxError, boxed};
use super::imports;
use super::limits::{Limits, MemoryCapHit};
use super::wasi::HostState;

/// Copied out of a guest beyond its output cap at most: the generated-secret
/// declarations and conditions beside the objects, and the lists' own headers.
pub const COPY_SLACK_BYTES: usize = 256 << 10;

/// The message of wasmtime's (private) error for an exhausted copy budget.
const HOSTCALL_FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// A verified, pre-linked plugin. Cheap to clone; renders may run concurrently.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<Inner>,
}

struct Inner {
    source_name: String,
    description: PluginDescription,
    digest: Digest,
    size: usize,
    imports: Vec<String>,
    exports: Vec<String>,
    limits: Limits,
    ticks: u64,
    /// The epoch tick the deadline was converted with.
    tick: std::time::Duration,
    pre: ComponentRendererPre<HostState>,
}

/// What a successful render returns: objects parsed and checked, secrets, conditions.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginOutput {
    pub objects: Vec<serde_json::Map<String, serde_json::Value>>,
    pub secrets: Vec<contract::GeneratedSecret>,
    pub conditions: Vec<contract::Condition>,
}

impl Plugin {
    pub(crate) fn link(
        sandbox: &Sandbox,
        name: &str,
        component: Component,
        digest: Digest,
        size: usize,
        limits: Limits,
    ) -> Result<Plugin, SandboxError> {
        let engine = sandbox.engine();
        let import_names = imports::imports_of(engine, &component);
        imports::check(name, &import_names)?;
        let export_names = imports::exports_of(engine, &component);
        if !export_names.iter().any(|e| e == contract::RENDERER_INTERFACE) {
            let found: Vec<&str> = export_names.iter().filter(|e| e.starts_with("berth:plugin/")).map(String::as_str).collect();
            return Err(SandboxError::ContractMismatch {
                plugin: name.to_owned(),
                expected: contract::RENDERER_INTERFACE.to_owned(),
                found: if found.is_empty() {
                    format!("no berth:plugin export (exports: [{}])", export_names.join(", "))
                } else {
                    found.join(", ")
                },
            });
        }
        let instantiate = |e| SandboxError::Instantiate { plugin: name.to_owned(), source: boxed(e) };
        let pre = sandbox.linker.instantiate_pre(&component).map_err(instantiate)?;
        let pre = ComponentRendererPre::new(pre).map_err(instantiate)?;
        let ticks = deadline_ticks(limits.deadline, sandbox.tick());

        let mut plugin = Plugin {
            inner: Arc::new(Inner {
                source_name: name.to_owned(),
                description: PluginDescription {
                    name: name.to_owned(),
                    version: String::new(),
                    component: String::new(),
                    harbor_versions: Vec::new(),
                    contract_version: String::new(),
                },
                digest,
                size,
                imports: import_names,
                exports: export_names,
                limits,
                ticks,
                tick: sandbox.tick(),
                pre,
            }),
        };
        let description = plugin.call_describe()?;
        validate_description(name, &description)?;
        match Arc::get_mut(&mut plugin.inner) {
            Some(inner) => inner.description = description,
            None => unreachable!("the plugin was created above and not shared yet"),
        }
        Ok(plugin)
    }

    pub fn description(&self) -> &PluginDescription {
        &self.inner.description
    }

    /// The plugin's name, from `describe` (the file name until then).
    pub fn name(&self) -> &str {
        &self.inner.description.name
    }

    /// The file (or source) name it was loaded from.
    pub fn source_name(&self) -> &str {
        &self.inner.source_name
    }

    pub fn digest(&self) -> Digest {
        self.inner.digest
    }

    pub fn size(&self) -> usize {
        self.inner.size
    }

    pub fn imports(&self) -> &[String] {
        &self.inner.imports
    }

    /// The imports served by a deny-by-default stub (`denied.rs`) rather than by a
    /// working interface: what `berth plugins inspect` marks.
    pub fn stubbed_imports(&self) -> Vec<&str> {
        self.inner.imports.iter().map(String::as_str).filter(|import| imports::is_stubbed(import)).collect()
    }

    pub fn exports(&self) -> &[String] {
        &self.inner.exports
    }

    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// The same verified plugin under other limits. Limits apply per Store, so nothing
    /// is compiled, linked or described again.
    pub fn with_limits(&self, limits: Limits) -> Plugin {
        let inner = &self.inner;
        Plugin {
            inner: Arc::new(Inner {
                source_name: inner.source_name.clone(),
                description: inner.description.clone(),
                digest: inner.digest,
                size: inner.size,
                imports: inner.imports.clone(),
                exports: inner.exports.clone(),
                limits,
                ticks: deadline_ticks(limits.deadline, inner.tick),
                tick: inner.tick,
                pre: inner.pre.clone(),
            }),
        }
    }

    /// A fresh store with this plugin's memory cap, deadline and copy budget.
    fn store(&self) -> Store<HostState> {
        let mut store = Store::new(self.inner.pre.engine(), HostState::new(self.inner.limits.memory_bytes));
        store.limiter(|state| &mut state.limiter);
        // What the host may copy out of the guest in one call (its output, or a host
        // call's arguments): wasmtime's default is 128 MiB, checked before our output cap.
        store.set_hostcall_fuel(self.inner.limits.output_bytes.saturating_add(COPY_SLACK_BYTES));
        store.set_epoch_deadline(self.inner.ticks);
        store.epoch_deadline_trap();
        store
    }

    /// Instantiates the plugin in a fresh store and drops it without calling the guest.
    /// Every render pays this cost, so it exists to measure it (the sandbox benchmark)
    /// and to health-check that a loaded plugin still instantiates under its limits.
    pub fn instantiate_only(&self) -> Result<(), SandboxError> {
        let mut store = self.store();
        self.inner.pre.instantiate(&mut store).map(drop).map_err(|e| self.classify(e, &store))
    }

    fn call_describe(&self) -> Result<PluginDescription, SandboxError> {
        let mut store = self.store();
        let result = self.inner.pre.instantiate(&mut store).and_then(|instance| instance.berth_plugin_renderer().call_describe(&mut store));
        forward_output(self.name(), &store);
        result.map_err(|e| self.classify(e, &store))
    }

    /// Renders in a fresh instance. Blocking: call it from a blocking context (the sync
    /// WASI bindings must not run on an async runtime's worker thread). The audit line
    /// for it is written by the caller, which knows the cluster and the guardrails' say.
    pub fn render(&self, input: &RenderInput) -> Result<PluginOutput, SandboxError> {
        self.render_inner(input)
    }

    fn render_inner(&self, input: &RenderInput) -> Result<PluginOutput, SandboxError> {
        let limits = self.inner.limits;
        let input_bytes = input.spec_json.len() + topology_bytes(&input.topology);
        if input_bytes > limits.input_bytes {
            return Err(SandboxError::InputTooLarge { plugin: self.name().to_owned(), limit: limits.input_bytes, actual: input_bytes });
        }
        let mut store = self.store();
        let result =
            self.inner.pre.instantiate(&mut store).and_then(|instance| instance.berth_plugin_renderer().call_render(&mut store, input));
        forward_output(self.name(), &store);
        match result {
            Err(e) => Err(self.classify(e, &store)),
            Ok(Err(error)) => Err(SandboxError::Rejected { plugin: self.name().to_owned(), error: bindings::bound_render_error(error) }),
            Ok(Ok(output)) => self.check_output(output),
        }
    }

    fn check_output(&self, output: contract::RenderOutput) -> Result<PluginOutput, SandboxError> {
        let limits = self.inner.limits;
        let plugin = self.name().to_owned();
        if output.objects.len() > limits.objects {
            return Err(SandboxError::TooManyObjects { plugin, limit: limits.objects, actual: output.objects.len() });
        }
        let bytes: usize = output.objects.iter().map(String::len).sum();
        if bytes > limits.output_bytes {
            return Err(SandboxError::OutputTooLarge { plugin, limit: limits.output_bytes, actual: bytes });
        }
        let objects = output
            .objects
            .iter()
            .enumerate()
            .map(|(i, json)| {
                parse_object(json)
                    .map_err(|reason| SandboxError::InvalidOutput { plugin: plugin.clone(), reason: format!("object {i}: {reason}") })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PluginOutput {
            objects,
            secrets: output.secrets,
            conditions: output.conditions.into_iter().map(bindings::bound_condition).collect(),
        })
    }

    /// Maps a wasmtime error to what actually happened.
    fn classify(&self, error: wasmtime::Error, store: &Store<HostState>) -> SandboxError {
        let plugin = self.name().to_owned();
        if let Some(hit) = error.downcast_ref::<MemoryCapHit>() {
            return SandboxError::MemoryExceeded { plugin, limit: hit.limit };
        }
        if error.chain().any(|cause| cause.to_string().contains(HOSTCALL_FUEL_EXHAUSTED)) {
            let limit = self.inner.limits.output_bytes;
            return SandboxError::CopyBudgetExceeded { plugin, limit: limit.saturating_add(COPY_SLACK_BYTES) };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => SandboxError::Timeout { plugin, budget: self.inner.limits.deadline },
            trap => {
                let stderr = crate::names::truncate(&store.data().stderr_text(), bindings::MAX_PLUGIN_MESSAGE);
                let what = match trap {
                    Some(trap) => trap.to_string(),
                    None => error.root_cause().to_string(),
                };
                let message = if stderr.is_empty() { what } else { format!("{what}; stderr: {stderr}") };
                SandboxError::Trap { plugin, message, source: boxed(error) }
            }
        }
    }
}

/// A rendered object must be a JSON object naming its apiVersion, kind and name.
fn parse_object(json: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    let serde_json::Value::Object(map) = value else {
        return Err("not a JSON object".to_owned());
    };
    for field in ["apiVersion", "kind"] {
        match map.get(field) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => {}
            _ => return Err(format!("{field} is missing or not a string")),
        }
    }
    match map.get("metadata").and_then(|m| m.get("name")) {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(map),
        _ => Err("metadata.name is missing or not a string".to_owned()),
    }
}

fn validate_description(plugin: &str, d: &PluginDescription) -> Result<(), SandboxError> {
    if d.contract_version != contract::CONTRACT_VERSION {
        return Err(SandboxError::ContractMismatch {
            plugin: plugin.to_owned(),
            expected: contract::CONTRACT_VERSION.to_owned(),
            found: format!("describe() says contract {}", crate::names::truncate(&d.contract_version, 64)),
        });
    }
    let bad = |reason: &str| Err(SandboxError::BadDescription { plugin: plugin.to_owned(), reason: reason.to_owned() });
    // The name and version go into annotations, status and every audit line.
    let printable = |s: &str| !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic());
    if !printable(&d.name) {
        return bad("the name must be 1 to 128 printable ASCII characters");
    }
    if !printable(&d.version) {
        return bad("the version must be 1 to 128 printable ASCII characters");
    }
    if d.harbor_versions.len() > 64 || !d.harbor_versions.iter().all(|v| printable(v)) {
        return bad("harbor versions must be at most 64 entries of printable ASCII");
    }
    if !crate::names::is_dns_label(&d.component) {
        return bad("component must be a non-empty lowercase DNS label");
    }
    if d.harbor_versions.is_empty() {
        return bad("supports no Harbor version");
    }
    Ok(())
}

/// What the topology weighs against the input limit: its size as JSON, which grows
/// with everything a spec can make large (names, labels, pull secrets).
fn topology_bytes(topology: &contract::Topology) -> usize {
    serde_json::to_vec(topology).map_or(usize::MAX, |json| json.len())
}

/// Sends what the guest printed to the host's log, its first KiB of each stream.
fn forward_output(plugin: &str, store: &Store<HostState>) {
    let bounded = |text: String| crate::names::truncate(&text, bindings::MAX_PLUGIN_MESSAGE);
    let stdout = store.data().stdout_text();
    if !stdout.is_empty() {
        tracing::debug!(plugin, stdout = %bounded(stdout), "plugin stdout");
    }
    let stderr = store.data().stderr_text();
    if !stderr.is_empty() {
        tracing::warn!(plugin, stderr = %bounded(stderr), "plugin stderr");
    }
}
