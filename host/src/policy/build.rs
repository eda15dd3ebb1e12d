//! Building the next [`Snapshot`] from the PluginPolicies and the plugin sources.
//!
//! Blocking: it reads files and compiles. Every version is verified against its digest,
//! compiled (or taken from the precompiled cache), checked against the import allow-list
//! and described before it can be chosen; a version that fails any step is reported and
//! never replaces what worked before. A plugin already loaded with the same digest and
//! limits is reused as it is, so an unrelated policy edit compiles nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_api::status::StatusCondition;

use super::guardrails::Guardrails;
use super::resource::{
    ComponentPolicySpec, ComponentPolicyStatus, ConfigMapSource, LimitsSpec, OciSource, PluginPolicy, PluginPolicyStatus,
    PluginVersionSpec, ROLLOUT_BLOCKED, ROLLOUT_PROGRESSING, ROLLOUT_ROLLED_BACK, RefusedVersion, RolloutStatus, SignaturePolicySpec,
};
use super::snapshot::{ActiveRollout, ComponentChoice, Snapshot};
use crate::error_chain::error_chain;
use crate::plugin_dir::PluginDir;
use crate::sandbox::{Digest, Limits, Plugin, Sandbox};

/// Largest .wasm a compressed ConfigMap source may inflate to: a bomb stops here.
const MAX_PLUGIN_BYTES: u64 = 64 << 20;

/// Where plugin bytes come from, besides the bundled set.
pub struct Sources<'a> {
    pub dir: Option<&'a PluginDir>,
    /// ConfigMap sources the caller fetched: the binaryData value, or why it could not.
    pub config_maps: &'a BTreeMap<ConfigMapSource, Result<Vec<u8>, String>>,
    /// OCI sources the caller fetched (digest and signatures already checked), by
    /// component and version.
    pub oci: &'a BTreeMap<OciVersion, Result<OciBytes, Refusal>>,
}

/// A version with an OCI source: (component, version).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OciVersion {
    pub component: String,
    pub version: String,
}

/// An OCI source's .wasm as fetched.
#[derive(Debug, Clone)]
pub struct OciBytes {
    pub wasm: Vec<u8>,
    /// "oci@<manifest digest>", for logs.
    pub label: String,
    /// Set when the registry was unreachable and the local store stood in for it.
    pub unreachable: Option<String>,
}

/// Why a source was refused: a stable reason and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: String,
    pub message: String,
}

/// A version with an OCI source, with what is needed to fetch it.
pub struct OciRequest<'a> {
    pub key: OciVersion,
    pub source: &'a OciSource,
    /// The .wasm digest the version pins (a version without one is refused unfetched).
    pub digest: &'a str,
    pub signatures: Option<&'a SignaturePolicySpec>,
}

/// The signature requirement of a component: its own, else its policy's.
pub fn signatures_for<'a>(policy: &'a PluginPolicy, component: &'a ComponentPolicySpec) -> Option<&'a SignaturePolicySpec> {
    component.signatures.as_ref().or(policy.spec.signatures.as_ref()).filter(|s| s.required)
}

/// Every OCI source the policies name, for the caller to fetch first (the first policy
/// by name that lists a component governs it; the others are not fetched).
pub fn oci_requests(policies: &[PluginPolicy]) -> Vec<OciRequest<'_>> {
    let owners = super::resource::owners(policies);
    policies
        .iter()
        .flat_map(|p| p.spec.components.iter().map(move |c| (p, c)))
        .filter(|(p, c)| owners.get(&c.component) == p.metadata.name.as_ref())
        .flat_map(|(p, c)| {
            c.versions.iter().filter_map(move |v| {
                Some(OciRequest {
                    key: OciVersion { component: c.component.clone(), version: v.version.clone() },
                    source: v.source.oci.as_ref()?,
                    digest: v.digest.as_deref()?,
                    signatures: signatures_for(p, c),
                })
            })
        })
        .collect()
}

/// Every ConfigMap source the policies name, for the caller to fetch first.
pub fn config_map_sources(policies: &[PluginPolicy]) -> BTreeSet<ConfigMapSource> {
    policies
        .iter()
        .flat_map(|p| p.spec.components.iter())
        .flat_map(|c| c.versions.iter())
        .filter_map(|v| v.source.config_map.clone())
        .collect()
}

/// Builds the snapshot the policies describe. `previous` supplies the bundled plugins,
/// loaded plugins to reuse, the stable plugin to keep when a new one is refused, and
/// rollback state.
pub fn build(sandbox: &Sandbox, previous: &Snapshot, policies: &[PluginPolicy], sources: &Sources<'_>) -> Snapshot {
    let started = Instant::now();
    let mut next = Snapshot {
        generation: previous.generation + 1,
        bundled: previous.bundled.clone(),
        components: BTreeMap::new(),
        default_guardrails: previous.default_guardrails.clone(),
        policy_status: BTreeMap::new(),
    };
    let owners = super::resource::owners(policies);
    let mut sorted: Vec<&PluginPolicy> = policies.iter().collect();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut compiled = 0usize;
    for policy in sorted {
        let policy_name = policy.metadata.name.clone().unwrap_or_default();
        let mut status = PluginPolicyStatus { observed_generation: policy.metadata.generation, ..Default::default() };
        let mut conflicts = Vec::new();
        let mut problems = Vec::new();
        let mut unreachable = Vec::new();
        for spec in &policy.spec.components {
            if owners.get(&spec.component) != Some(&policy_name) {
                conflicts.push(format!(
                    "{} is governed by PluginPolicy {}",
                    spec.component,
                    owners.get(&spec.component).map(String::as_str).unwrap_or("?")
                ));
                continue;
            }
            let previous_rollout = policy
                .status
                .as_ref()
                .and_then(|s| s.components.iter().find(|c| c.component == spec.component))
                .and_then(|c| c.rollout.clone());
            let guardrails = match Guardrails::from_specs(policy.spec.guardrails.as_ref(), spec.guardrails.as_ref()) {
                Ok(guardrails) => Arc::new(guardrails),
                Err(unknown) => {
                    // Not governed by this policy until it is fixed: the component keeps
                    // Berth's defaults, which relax nothing.
                    problems.push(format!("{}: guardrails: {unknown}", spec.component));
                    continue;
                }
            };
            let signatures = signatures_for(policy, spec);
            let (choice, component_status, newly_compiled) =
                build_component(sandbox, previous, &policy_name, spec, signatures, guardrails, sources, previous_rollout);
            unreachable.extend(spec.versions.iter().filter(|v| component_status.ready_versions.contains(&v.version)).filter_map(|v| {
                let key = OciVersion { component: spec.component.clone(), version: v.version.clone() };
                let note = sources.oci.get(&key)?.as_ref().ok()?.unreachable.as_ref()?;
                Some(format!("{} {}: {note}", spec.component, v.version))
            }));
            compiled += newly_compiled;
            if !component_status.refused.is_empty() {
                problems.extend(component_status.refused.iter().map(|r| format!("{} {}: {}", spec.component, r.version, r.reason)));
            }
            if let Some(choice) = choice {
                next.components.insert(spec.component.clone(), choice);
            } else {
                problems.push(format!("{}: no ready plugin; {}", spec.component, component_status.stable));
            }
            status.components.push(component_status);
        }
        let rollouts = status.components.iter().filter(|c| c.rollout.as_ref().is_some_and(|r| r.phase == ROLLOUT_PROGRESSING)).count();
        status.summary = Some(format!("{} components, {rollouts} rolling out", status.components.len()));
        status.conditions.push(condition(
            "Ready",
            problems.is_empty() && conflicts.is_empty(),
            if !conflicts.is_empty() {
                "Conflict"
            } else if problems.is_empty() {
                "AllVersionsReady"
            } else {
                "VersionsRefused"
            },
            if problems.is_empty() && conflicts.is_empty() {
                "every listed version is verified and ready".to_owned()
            } else {
                conflicts.into_iter().chain(problems).collect::<Vec<_>>().join("; ")
            },
        ));
        if !unreachable.is_empty() {
            status.conditions.push(condition(
                "SourcesReachable",
                false,
                "RegistryUnreachable",
                format!("served from the local plugin store, retrying the registry: {}", unreachable.join("; ")),
            ));
        }
        next.policy_status.insert(policy_name, status);
    }
    tracing::info!(
        generation = next.generation,
        policies = policies.len(),
        components = next.components.len(),
        compiled,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "plugin policy resolved"
    );
    next
}

fn condition(type_: &str, ok: bool, reason: &str, message: String) -> StatusCondition {
    StatusCondition { type_: type_.to_owned(), status: if ok { "True" } else { "False" }.to_owned(), reason: reason.to_owned(), message }
}

/// The `harborVersions` entries that name a ready version which says it renders that
/// minor; each other entry is refused in the status, and its clusters get `stable`.
fn harbor_versions(
    spec: &ComponentPolicySpec,
    ready: &BTreeMap<String, Plugin>,
    status: &mut ComponentPolicyStatus,
) -> BTreeMap<String, Plugin> {
    let mut chosen = BTreeMap::new();
    for (minor, version) in &spec.harbor_versions {
        let refused = match ready.get(version) {
            Some(plugin) if plugin.description().harbor_versions.iter().any(|v| v == minor) => {
                chosen.insert(minor.clone(), plugin.clone());
                continue;
            }
            Some(plugin) => RefusedVersion {
                version: version.clone(),
                reason: "HarborVersionNotRendered".to_owned(),
                message: format!(
                    "harborVersions maps Harbor {minor} to {version}, which renders Harbor {}; clusters on {minor} get the stable version",
                    plugin.description().harbor_versions.join(", ")
                ),
            },
            None if status.refused.iter().any(|r| r.version == *version) => continue,
            None => RefusedVersion {
                version: version.clone(),
                reason: "NotListed".to_owned(),
                message: format!("harborVersions maps Harbor {minor} to {version}, which is not one of the listed versions"),
            },
        };
        status.refused.push(refused);
    }
    chosen
}

/// One component: its ready versions, stable plugin, rollout and status. Also returns
/// how many plugins it had to load anew.
#[allow(clippy::too_many_arguments)]
fn build_component(
    sandbox: &Sandbox,
    previous: &Snapshot,
    policy: &str,
    spec: &ComponentPolicySpec,
    signatures: Option<&SignaturePolicySpec>,
    guardrails: Arc<Guardrails>,
    sources: &Sources<'_>,
    recorded_rollout: Option<RolloutStatus>,
) -> (Option<ComponentChoice>, ComponentPolicyStatus, usize) {
    let component = spec.component.as_str();
    let mut status = ComponentPolicyStatus { component: component.to_owned(), ..Default::default() };
    let mut ready: BTreeMap<String, Plugin> = BTreeMap::new();
    let mut loaded_now = 0;
    for version in &spec.versions {
        match load_version(sandbox, previous, component, version, signatures.is_some(), sources) {
            Ok((plugin, fresh)) => {
                loaded_now += usize::from(fresh);
                status.ready_versions.push(version.version.clone());
                ready.insert(version.version.clone(), plugin);
            }
            Err(refused) => {
                tracing::warn!(policy, component, version = %refused.version, reason = %refused.reason, message = %refused.message, "plugin version refused");
                status.refused.push(refused);
            }
        }
    }

    // The stable plugin: the named version when it is ready; otherwise whatever worked
    // before (a refused plugin never replaces a working one); otherwise the bundled one.
    let previous_stable = previous.components.get(component).map(|c| c.stable.clone());
    let bundled = previous.bundled.get(component).cloned();
    let stable = match &spec.stable {
        Some(version) => match ready.get(version) {
            Some(plugin) => Some(plugin.clone()),
            None => {
                if !status.refused.iter().any(|r| r.version == *version) {
                    status.refused.push(RefusedVersion {
                        version: version.clone(),
                        reason: "NotListed".to_owned(),
                        message: format!("stable {version} is not one of the listed versions"),
                    });
                }
                previous_stable.or(bundled)
            }
        },
        None => bundled,
    };
    status.stable = stable.as_ref().map(describe).unwrap_or_else(|| "none".to_owned());
    let Some(stable) = stable else {
        return (None, status, loaded_now);
    };

    let rollout = spec.rollout.as_ref().and_then(|r| {
        let Some(plugin) = ready.get(&r.version) else {
            status.rollout = Some(RolloutStatus {
                version: r.version.clone(),
                digest: String::new(),
                phase: ROLLOUT_BLOCKED.to_owned(),
                failed_clusters: Vec::new(),
                message: format!("version {} is not ready; every cluster stays on {}", r.version, describe(&stable)),
            });
            return None;
        };
        let digest = plugin.digest().to_string();
        // A rollback is remembered for exactly this version and digest, in memory and in
        // the policy's status (so a restart does not retry a failed canary).
        let remembered = previous
            .components
            .get(component)
            .and_then(|c| c.rollout.as_ref())
            .filter(|p| p.version == r.version && p.plugin.digest() == plugin.digest())
            .map(|p| (p.rolled_back, p.failed_clusters.clone()))
            .or_else(|| {
                recorded_rollout
                    .as_ref()
                    .filter(|s| s.version == r.version && s.digest == digest)
                    .map(|s| (s.phase == ROLLOUT_ROLLED_BACK, s.failed_clusters.iter().cloned().collect()))
            });
        let (rolled_back, failed_clusters) = remembered.unwrap_or_default();
        let active = ActiveRollout {
            version: r.version.clone(),
            plugin: plugin.clone(),
            selector: r.selector.clone(),
            percent: r.percent.min(100),
            failure_threshold: r.failure_threshold.unwrap_or(1).max(1),
            rolled_back,
            failed_clusters,
        };
        status.rollout = Some(active.status(&stable));
        Some(active)
    });

    let by_harbor_minor = harbor_versions(spec, &ready, &mut status);
    let choice = ComponentChoice {
        component: component.to_owned(),
        policy: policy.to_owned(),
        stable,
        ready: ready.into_values().collect(),
        rollout,
        by_harbor_minor,
        guardrails,
        cluster_selector: spec.cluster_selector.clone(),
    };
    (Some(choice), status, loaded_now)
}

impl ActiveRollout {
    /// The rollout as the policy's status shows it.
    pub fn status(&self, stable: &Plugin) -> RolloutStatus {
        let (phase, message) = if self.rolled_back {
            (
                ROLLOUT_ROLLED_BACK,
                format!(
                    "{} failed on {} canary cluster(s) (threshold {}); canaries are back on {}",
                    self.version,
                    self.failed_clusters.len(),
                    self.failure_threshold,
                    describe(stable)
                ),
            )
        } else {
            (ROLLOUT_PROGRESSING, format!("{} on canaries; the rest on {}", self.version, describe(stable)))
        };
        RolloutStatus {
            version: self.version.clone(),
            digest: self.plugin.digest().to_string(),
            phase: phase.to_owned(),
            failed_clusters: self.failed_clusters.iter().cloned().collect(),
            message,
        }
    }
}

fn describe(plugin: &Plugin) -> String {
    format!("{}@{} {}", plugin.description().name, plugin.description().version, plugin.digest())
}

/// Loads one listed version, or says why it is refused. The bool is whether it was
/// loaded anew (not reused).
fn load_version(
    sandbox: &Sandbox,
    previous: &Snapshot,
    component: &str,
    spec: &PluginVersionSpec,
    signatures_required: bool,
    sources: &Sources<'_>,
) -> Result<(Plugin, bool), RefusedVersion> {
    let refuse = |reason: &str, message: String| RefusedVersion { version: spec.version.clone(), reason: reason.to_owned(), message };
    let expected = spec.digest.as_deref().map(|d| d.parse::<Digest>().map_err(|e| refuse("InvalidDigest", e.to_string()))).transpose()?;
    let limits = limits(sandbox, spec.limits.as_ref()).map_err(|m| refuse("InvalidLimits", m))?;
    let source = &spec.source;
    let set =
        [source.bundled.is_some(), source.file.is_some(), source.config_map.is_some(), source.oci.is_some()].iter().filter(|s| **s).count();
    if set != 1 {
        return Err(refuse("InvalidSource", format!("source must name exactly one of bundled, file, configMap, oci ({set} given)")));
    }
    if signatures_required && (source.file.is_some() || source.config_map.is_some()) {
        return Err(refuse(
            "Unsigned",
            "signatures are required and only an oci source carries them (a file or configMap source cannot be signed)".to_owned(),
        ));
    }

    let plugin = if source.bundled.is_some() {
        let bundled = previous
            .bundled
            .get(component)
            .ok_or_else(|| refuse("NotBundled", format!("the operator bundles no plugin for {component}")))?;
        if let Some(expected) = expected
            && expected != bundled.digest()
        {
            return Err(refuse("DigestMismatch", format!("the bundled plugin is {}, not {expected}", bundled.digest())));
        }
        if limits == bundled.limits() { (bundled.clone(), false) } else { (bundled.with_limits(limits), false) }
    } else {
        let expected =
            expected.ok_or_else(|| refuse("DigestRequired", "a file, configMap or oci source must name its sha256 digest".to_owned()))?;
        // The source is read and hashed on every rebuild, so a source that no longer
        // matches its digest is reported even while the plugin loaded from it earlier
        // keeps working; only the compile is skipped for a known digest.
        let (label, bytes) = read_source(component, spec, sources).map_err(|r| refuse(&r.reason, r.message))?;
        let actual = Digest::of(&bytes);
        if actual != expected {
            return Err(refuse("PluginDigestMismatch", format!("{label} has digest {actual}, not the {expected} the policy names")));
        }
        match previous.find(&expected) {
            Some(plugin) => (if plugin.limits() == limits { plugin } else { plugin.with_limits(limits) }, false),
            None => {
                let started = Instant::now();
                tracing::info!(component, version = %spec.version, source = %label, "loading plugin");
                let plugin = sandbox.load(&label, &bytes, Some(&expected), limits).map_err(|e| refuse(e.reason(), error_chain(&e)))?;
                tracing::info!(component, version = %spec.version, digest = %plugin.digest(), elapsed_ms = started.elapsed().as_millis() as u64, "plugin loaded");
                (plugin, true)
            }
        }
    };
    let d = plugin.0.description();
    if d.component != component {
        return Err(refuse("WrongComponent", format!("the plugin renders {:?}, not {component:?}", d.component)));
    }
    if d.version != spec.version {
        return Err(refuse("VersionMismatch", format!("the plugin's describe() says version {}, the policy {}", d.version, spec.version)));
    }
    if let Some(name) = &spec.name
        && &d.name != name
    {
        return Err(refuse("NameMismatch", format!("the plugin's describe() says name {}, the policy {name}", d.name)));
    }
    Ok(plugin)
}

/// The bytes of a file, ConfigMap or OCI source, and a label for logs.
fn read_source(component: &str, spec: &PluginVersionSpec, sources: &Sources<'_>) -> Result<(String, Vec<u8>), Refusal> {
    let unavailable = |message: String| Refusal { reason: "SourceUnavailable".to_owned(), message };
    if spec.source.oci.is_some() {
        let key = OciVersion { component: component.to_owned(), version: spec.version.clone() };
        return match sources.oci.get(&key) {
            Some(Ok(fetched)) => Ok((fetched.label.clone(), fetched.wasm.clone())),
            Some(Err(refusal)) => Err(refusal.clone()),
            None => Err(unavailable("the oci source was not fetched".to_owned())),
        };
    }
    read_local_source(spec, sources).map_err(unavailable)
}

fn read_local_source(spec: &PluginVersionSpec, sources: &Sources<'_>) -> Result<(String, Vec<u8>), String> {
    if let Some(file) = &spec.source.file {
        let dir = sources.dir.ok_or_else(|| "the operator has no plugin source directory (--plugin-sources)".to_owned())?;
        let bytes = dir.read(&file.name).map_err(|e| error_chain(&e))?;
        return Ok((file.name.clone(), bytes));
    }
    if let Some(source) = &spec.source.config_map {
        let label = format!("configmap:{}/{}[{}]", source.namespace, source.name, source.key);
        let bytes = match sources.config_maps.get(source) {
            Some(Ok(bytes)) => bytes,
            Some(Err(message)) => return Err(format!("{label}: {message}")),
            None => return Err(format!("{label} was not fetched")),
        };
        let bytes = if source.key.ends_with(".gz") { gunzip(bytes).map_err(|m| format!("{label}: {m}"))? } else { bytes.clone() };
        return Ok((label, bytes));
    }
    Err("no readable source".to_owned())
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).take(MAX_PLUGIN_BYTES + 1).read_to_end(&mut out).map_err(|e| format!("not gzip: {e}"))?;
    if out.len() as u64 > MAX_PLUGIN_BYTES {
        return Err(format!("inflates to more than {MAX_PLUGIN_BYTES} bytes"));
    }
    Ok(out)
}

/// Berth's default limits with the policy's overrides, within what the engine allows.
pub fn limits(sandbox: &Sandbox, spec: Option<&LimitsSpec>) -> Result<Limits, String> {
    let mut limits = Limits::default();
    let Some(spec) = spec else { return Ok(limits) };
    if let Some(ms) = spec.deadline_ms {
        if ms == 0 || ms > 60_000 {
            return Err(format!("limits.deadlineMs must be 1..=60000, not {ms}"));
        }
        limits.deadline = Duration::from_millis(ms);
    }
    if let Some(bytes) = spec.memory_bytes {
        let max = sandbox.max_memory_bytes();
        if bytes < (1 << 20) || bytes > max {
            return Err(format!("limits.memoryBytes must be between 1 MiB and {max}, not {bytes}"));
        }
        limits.memory_bytes = bytes;
    }
    if let Some(bytes) = spec.output_bytes {
        limits.output_bytes = usize::try_from(bytes).map_err(|_| format!("limits.outputBytes {bytes} is too large"))?;
    }
    if let Some(n) = spec.objects {
        limits.objects = usize::try_from(n).map_err(|_| format!("limits.objects {n} is too large"))?;
    }
    Ok(limits)
}
