//! The HarborCluster status the host writes. Plugins never see it; it lives here so the
//! CRD derive can name it next to the spec.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct HarborClusterStatus {
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Provisioning, Ready, Degraded or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// "ready/total" components, for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_components: Option<String>,
    #[serde(rename = "externalURL", default, skip_serializing_if = "Option::is_none")]
    pub external_url: Option<String>,
    /// The Harbor version running: `spec.version` once installed, then changed only when
    /// an upgrade completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The upgrade under way, waiting, refused or failed; absent when `version` is what
    /// the spec asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<UpgradeStatus>,
    /// The last upgrades that ended, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<UpgradeRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<StatusCondition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ComponentStatus>,
    /// How far taking over a Helm release (`spec.adopt`) has come.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adoption: Option<AdoptionStatus>,
    /// The shard ("index/count") whose replica reconciles this cluster, when the
    /// operator runs sharded (`berth run --shards`): the writer of this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
}

/// A condition as Kubernetes spells it, without the timestamp that would make status
/// change while nothing happens.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct StatusCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
    #[serde(default)]
    pub message: String,
}

/// What rendered a component and whether it runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    pub name: String,
    pub plugin: String,
    pub plugin_version: String,
    /// sha256 of the plugin's .wasm, "sha256:<hex>".
    pub plugin_digest: String,
    #[serde(default)]
    pub desired_replicas: i32,
    #[serde(default)]
    pub ready_replicas: i32,
    #[serde(default)]
    pub ready: bool,
    /// Why this plugin version: "bundled", "stable", "canary", "pinned", or
    /// "rolled back from <version>" after a failed canary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Where an upgrade is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum UpgradePhase {
    /// Planned, but outside `spec.upgrade.window` or behind other clusters' upgrades.
    Waiting,
    /// Refused up front: nothing was done. The message says why and what to do.
    Refused,
    Running,
    /// Failed in or after the migration: Harbor is stopped on the old version's objects
    /// until the pre-upgrade backup is restored (`restore` says how).
    Failed,
    /// Failed before the migration: back on `from`, the database untouched. Tried again
    /// once the spec changes.
    RolledBack,
}

/// The steps of an upgrade, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum UpgradeStep {
    Preflight,
    Backup,
    Quiesce,
    Migrate,
    Roll,
    HealthGate,
    Done,
}

impl UpgradeStep {
    pub const ALL: [UpgradeStep; 7] = [
        UpgradeStep::Preflight,
        UpgradeStep::Backup,
        UpgradeStep::Quiesce,
        UpgradeStep::Migrate,
        UpgradeStep::Roll,
        UpgradeStep::HealthGate,
        UpgradeStep::Done,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UpgradeStep::Preflight => "Preflight",
            UpgradeStep::Backup => "Backup",
            UpgradeStep::Quiesce => "Quiesce",
            UpgradeStep::Migrate => "Migrate",
            UpgradeStep::Roll => "Roll",
            UpgradeStep::HealthGate => "HealthGate",
            UpgradeStep::Done => "Done",
        }
    }

    /// The step after this one (Done is the last).
    pub fn next(self) -> UpgradeStep {
        let at = UpgradeStep::ALL.iter().position(|s| *s == self).unwrap_or(UpgradeStep::ALL.len() - 1);
        UpgradeStep::ALL.get(at + 1).copied().unwrap_or(UpgradeStep::Done)
    }
}

/// How one step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum StepState {
    Pending,
    Running,
    Complete,
    Skipped,
    Failed,
}

/// One step of an upgrade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStepStatus {
    pub name: UpgradeStep,
    pub state: StepState,
    /// RFC 3339, when the step started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    /// RFC 3339, when it completed, was skipped or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// An upgrade of this cluster from one version to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStatus {
    pub from: String,
    pub to: String,
    pub phase: UpgradePhase,
    /// The current step (the one that failed, for a failed upgrade).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<UpgradeStep>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<UpgradeStepStatus>,
    /// RFC 3339, when the first step started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    /// The spec generation the upgrade was planned for; for a rolled-back one, the
    /// generation it failed with (a newer spec tries again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// The HarborBackup taken before migrating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// The Job that migrates the schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration_job: Option<String>,
    /// Why it waits, was refused, or failed, and what to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// For a failed upgrade: the HarborRestore (YAML) that returns the cluster to the
    /// pre-upgrade backup, to apply together with `spec.version: <from>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<String>,
}

/// An upgrade that ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct UpgradeRecord {
    pub from: String,
    pub to: String,
    /// Succeeded, RolledBack (failed before the migration, back on `from`), Cancelled, or
    /// Recovered (failed, then restored to `from`).
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The spec generation it was planned for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
}

/// Taking over a Helm release: `Adopting` while any of its objects is not Berth's yet,
/// `Adopted` once every object Berth renders is Berth's and the chart-only ones are gone.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AdoptionStatus {
    pub helm_release: String,
    /// Adopting or Adopted.
    pub phase: String,
    /// "Kind/name" of the chart-only objects still waiting to be removed, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting: Vec<String>,
    /// "Kind/name" of the chart's objects Berth leaves in place: claims Berth does not
    /// render (data is never deleted) and kinds it does not remove.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<String>,
}
