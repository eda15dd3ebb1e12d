//! The plugins in force at one moment, and the choice they make for one cluster.
//!
//! A [`Snapshot`] is immutable. A policy change builds a new one beside it and swaps it
//! in whole ([`super::PluginSet`]); a render holds the snapshot it started with, so it
//! finishes on the plugins it began with.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use berth_api::spec::HarborClusterSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::guardrails::Guardrails;
use super::resource::PluginPolicyStatus;
use super::selector;
use crate::catalog::Catalog;
use crate::sandbox::{Digest, Plugin};

/// How a component's plugin was chosen for a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// The operator's own plugin: no policy governs the component.
    Bundled,
    /// The policy's stable version.
    Stable,
    /// The rollout's new version.
    Canary,
    /// The version or digest the HarborCluster's `spec.plugins` names.
    Pinned,
    /// The cluster was a canary of `from`, which was rolled back.
    RolledBack { from: String },
    /// The policy's `harborVersions` entry for the Harbor minor rendered.
    ForHarbor { minor: String },
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selection::Bundled => f.write_str("bundled"),
            Selection::Stable => f.write_str("stable"),
            Selection::Canary => f.write_str("canary"),
            Selection::Pinned => f.write_str("pinned"),
            Selection::RolledBack { from } => write!(f, "rolled back from {from}"),
            Selection::ForHarbor { minor } => write!(f, "for Harbor {minor}"),
        }
    }
}

/// The plugin a component of one cluster renders with.
#[derive(Clone)]
pub struct Planned {
    pub plugin: Plugin,
    pub selection: Selection,
    pub guardrails: Arc<Guardrails>,
    /// For a canary: the stable plugin, to tell a canary's fault from the spec's.
    pub stable: Option<Plugin>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    #[error("no plugin renders component {component:?}")]
    NoPlugin { component: String },
    #[error("spec.plugins.{component} pins {pin}, which no ready plugin is (ready: {})", available.join(", "))]
    PinUnavailable { component: String, pin: String, available: Vec<String> },
    #[error("spec.plugins.{component}: {reason}")]
    BadPin { component: String, reason: String },
}

impl SelectionError {
    pub fn reason(&self) -> &'static str {
        match self {
            SelectionError::NoPlugin { .. } => "NoPlugin",
            SelectionError::PinUnavailable { .. } => "PinnedPluginUnavailable",
            SelectionError::BadPin { .. } => "InvalidSpec",
        }
    }
}

/// One cluster's choice: each component to render, in render order.
#[derive(Clone, Default)]
pub struct RenderPlan {
    pub components: Vec<(String, Result<Planned, SelectionError>)>,
}

impl RenderPlan {
    pub fn get(&self, component: &str) -> Option<&Result<Planned, SelectionError>> {
        self.components.iter().find(|(c, _)| c == component).map(|(_, p)| p)
    }

    /// (component, digest) of every planned plugin: what a cluster rendered with, to
    /// compare with its status after a swap.
    pub fn digests(&self) -> BTreeMap<String, String> {
        self.components.iter().map(|(c, p)| (c.clone(), p.as_ref().map(|p| p.plugin.digest().to_string()).unwrap_or_default())).collect()
    }
}

/// What a snapshot needs to know of a cluster to choose its plugins.
pub struct ClusterFacts<'a> {
    pub uid: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub spec: &'a HarborClusterSpec,
}

/// A rollout as the snapshot applies it.
#[derive(Clone)]
pub struct ActiveRollout {
    pub version: String,
    pub plugin: Plugin,
    pub selector: Option<LabelSelector>,
    pub percent: u8,
    pub failure_threshold: u32,
    pub rolled_back: bool,
    /// "namespace/name" of canaries whose render failed on this version.
    pub failed_clusters: BTreeSet<String>,
}

impl ActiveRollout {
    /// Whether the cluster is one of this rollout's canaries.
    pub fn chooses(&self, cluster: &ClusterFacts<'_>) -> bool {
        let by_label = self.selector.as_ref().is_some_and(|s| selector::matches(s, cluster.labels));
        let by_share = self.percent > 0 && !cluster.uid.is_empty() && selector::bucket(cluster.uid) < self.percent;
        by_label || by_share
    }
}

/// A component a policy governs, resolved to loaded plugins.
#[derive(Clone)]
pub struct ComponentChoice {
    pub component: String,
    pub policy: String,
    pub stable: Plugin,
    /// Every ready version (stable and rollout among them), for pins.
    pub ready: Vec<Plugin>,
    pub rollout: Option<ActiveRollout>,
    /// Per Harbor minor ("2.15"), the plugin that renders clusters running it.
    pub by_harbor_minor: BTreeMap<String, Plugin>,
    pub guardrails: Arc<Guardrails>,
    /// Only for components Berth does not render itself.
    pub cluster_selector: Option<LabelSelector>,
}

/// The plugins in force: the bundled ones and what the policies choose.
#[derive(Clone, Default)]
pub struct Snapshot {
    /// Bumped on every swap, for logs.
    pub generation: u64,
    pub bundled: BTreeMap<String, Plugin>,
    pub components: BTreeMap<String, ComponentChoice>,
    pub default_guardrails: Arc<Guardrails>,
    /// The status each PluginPolicy should show, by policy name.
    pub policy_status: BTreeMap<String, PluginPolicyStatus>,
}

impl Snapshot {
    /// The bundled plugins alone, no policy: what `berth render` uses.
    pub fn bundled(catalog: &Catalog) -> Snapshot {
        Snapshot {
            generation: 0,
            bundled: catalog.plugins().map(|p| (p.description().component.clone(), p.clone())).collect(),
            components: BTreeMap::new(),
            default_guardrails: Arc::default(),
            policy_status: BTreeMap::new(),
        }
    }

    /// Any loaded plugin with this digest: bundled, ready, or rolling out.
    pub fn find(&self, digest: &Digest) -> Option<Plugin> {
        self.bundled
            .values()
            .chain(self.components.values().flat_map(|c| c.ready.iter().chain(std::iter::once(&c.stable))))
            .find(|p| p.digest() == *digest)
            .cloned()
    }

    /// Every plugin loaded for `component` (a policy's ready versions and stable, and the
    /// bundled one), once each: what a cluster could be given by a pin or a policy change.
    pub fn available(&self, component: &str) -> Vec<Plugin> {
        let mut found: Vec<Plugin> = Vec::new();
        let governed = self.components.get(component).into_iter().flat_map(|c| c.ready.iter().chain(std::iter::once(&c.stable)));
        for plugin in governed.chain(self.bundled.get(component)) {
            if !found.iter().any(|p| p.digest() == plugin.digest()) {
                found.push(plugin.clone());
            }
        }
        found
    }

    /// Components whose guardrails or plugin limits differ from `previous`: a cluster
    /// rendering one of them must render again even if its plugin digests did not change.
    pub fn rules_changed(&self, previous: &Snapshot) -> BTreeSet<String> {
        let rules = |s: &Snapshot, component: &str| {
            s.components.get(component).map(|c| {
                let limits: Vec<_> = c.ready.iter().chain(std::iter::once(&c.stable)).map(|p| (p.digest(), p.limits())).collect();
                ((*c.guardrails).clone(), limits)
            })
        };
        self.components
            .keys()
            .chain(previous.components.keys())
            .filter(|component| rules(self, component) != rules(previous, component))
            .cloned()
            .collect()
    }

    /// Components rendered for a cluster: Berth's enabled ones, then the extra
    /// components policies add whose cluster selector matches.
    pub fn components_for(&self, cluster: &ClusterFacts<'_>) -> Vec<String> {
        let mut components: Vec<String> = crate::components::enabled(cluster.spec).into_iter().map(str::to_owned).collect();
        for (name, choice) in &self.components {
            if crate::components::is_bundled(name) {
                continue;
            }
            if choice.cluster_selector.as_ref().is_none_or(|s| selector::matches(s, cluster.labels)) {
                components.push(name.clone());
            }
        }
        components
    }

    pub fn plan(&self, cluster: &ClusterFacts<'_>) -> RenderPlan {
        let components = self
            .components_for(cluster)
            .into_iter()
            .map(|component| {
                let planned = self.choose(&component, cluster);
                (component, planned)
            })
            .collect();
        RenderPlan { components }
    }

    fn choose(&self, component: &str, cluster: &ClusterFacts<'_>) -> Result<Planned, SelectionError> {
        let choice = self.components.get(component);
        let guardrails = choice.map_or_else(|| self.default_guardrails.clone(), |c| c.guardrails.clone());
        if let Some(pin) = cluster.spec.plugins.get(component) {
            let plugin = self.pinned(component, choice, pin)?;
            return Ok(Planned { plugin, selection: Selection::Pinned, guardrails, stable: None });
        }
        let Some(choice) = choice else {
            let plugin = self.bundled.get(component).ok_or_else(|| SelectionError::NoPlugin { component: component.to_owned() })?;
            return Ok(Planned { plugin: plugin.clone(), selection: Selection::Bundled, guardrails, stable: None });
        };
        if let Some(minor) = berth_api::version::major_minor(&cluster.spec.version)
            && let Some(plugin) = choice.by_harbor_minor.get(minor)
        {
            let selection = Selection::ForHarbor { minor: minor.to_owned() };
            return Ok(Planned { plugin: plugin.clone(), selection, guardrails, stable: None });
        }
        if let Some(rollout) = &choice.rollout
            && rollout.chooses(cluster)
        {
            if rollout.rolled_back {
                let from = rollout.version.clone();
                return Ok(Planned { plugin: choice.stable.clone(), selection: Selection::RolledBack { from }, guardrails, stable: None });
            }
            return Ok(Planned {
                plugin: rollout.plugin.clone(),
                selection: Selection::Canary,
                guardrails,
                stable: Some(choice.stable.clone()),
            });
        }
        Ok(Planned { plugin: choice.stable.clone(), selection: Selection::Stable, guardrails, stable: None })
    }

    fn pinned(
        &self,
        component: &str,
        choice: Option<&ComponentChoice>,
        pin: &berth_api::spec::PluginPin,
    ) -> Result<Plugin, SelectionError> {
        let candidates: Vec<&Plugin> = match choice {
            Some(choice) => choice.ready.iter().chain(self.bundled.get(component)).collect(),
            None => self.bundled.get(component).into_iter().collect(),
        };
        // A digest that does not parse matches nothing, like one no plugin has.
        let digest = pin.digest.as_deref().map(|d| d.parse::<Digest>().ok());
        let found = match (&pin.version, digest) {
            (Some(version), None) => candidates.iter().find(|p| &p.description().version == version),
            (None, Some(digest)) => candidates.iter().find(|p| Some(p.digest()) == digest),
            (Some(version), Some(digest)) => candidates.iter().find(|p| &p.description().version == version && Some(p.digest()) == digest),
            (None, None) => {
                return Err(SelectionError::BadPin { component: component.to_owned(), reason: "name a version or a digest".to_owned() });
            }
        };
        found.map(|p| (*p).clone()).ok_or_else(|| SelectionError::PinUnavailable {
            component: component.to_owned(),
            pin: pin.version.clone().or_else(|| pin.digest.clone()).unwrap_or_default(),
            available: candidates.iter().map(|p| format!("{}@{}", p.description().version, p.digest())).collect(),
        })
    }
}
