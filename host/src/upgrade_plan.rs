//! The plan of an upgrade from the Harbor version running to the one the spec asks for,
//! and what refuses one up front. Pure: the controller and `berth upgrade plan` both
//! call it, the latter without a cluster.

use std::fmt;

use berth_api::spec::{HarborClusterSpec, UpgradeSpec};
use berth_api::status::UpgradeStep;

use crate::policy::{RenderPlan, Snapshot};

/// A Harbor version, "major.minor.patch".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl Version {
    pub fn parse(text: &str) -> Option<Version> {
        let mut parts = text.split('.');
        let number = |part: Option<&str>| part.filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))?.parse().ok();
        let version = Version { major: number(parts.next())?, minor: number(parts.next())?, patch: number(parts.next())? };
        parts.next().is_none().then_some(version)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A component whose plugin for the target version cannot render it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub component: String,
    /// What the chosen plugin renders, or why none was chosen.
    pub detail: String,
}

/// Why an upgrade is refused before anything is done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{field} {value:?} is not a version \"major.minor.patch\"")]
    InvalidVersion { field: &'static str, value: String },
    #[error(
        "{to} is older than the running {from}: Harbor's schema migrations are forward-only. To go back, restore the backup taken before the upgrade instead (a HarborRestore, with spec.version: {from})"
    )]
    Downgrade { from: Version, to: Version },
    #[error(
        "{from} -> {to} skips a minor version: Harbor upgrades one minor at a time; upgrade to {next} first (or set spec.upgrade.allowSkippingMinors: true)"
    )]
    SkipsMinors { from: Version, to: Version, next: String },
    #[error("no plugin renders Harbor {to} for {}", list(.missing))]
    NoPlugin { to: Version, missing: Vec<Unsupported> },
    #[error(
        "a backup is taken before migrating, but spec.backup names no destination: set spec.backup, or spec.upgrade.backup: false to upgrade without a way back"
    )]
    NoBackupDestination,
    #[error("spec.upgrade.timeout {0:?} is not a duration such as \"90s\", \"30m\" or \"2h\"")]
    InvalidTimeout(String),
    #[error("spec.upgrade.window: {0}")]
    InvalidWindow(String),
}

fn list(missing: &[Unsupported]) -> String {
    missing.iter().map(|m| format!("{}: {}", m.component, m.detail)).collect::<Vec<_>>().join("; ")
}

impl Refusal {
    /// The reason of the condition and Event that report it.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::InvalidVersion { .. } => "InvalidVersion",
            Refusal::Downgrade { .. } => "DowngradeRefused",
            Refusal::SkipsMinors { .. } => "MinorVersionSkipped",
            Refusal::NoPlugin { .. } => "NoPluginForVersion",
            Refusal::NoBackupDestination => "NoBackupDestination",
            Refusal::InvalidTimeout(_) | Refusal::InvalidWindow(_) => "InvalidSpec",
        }
    }
}

/// One step of a plan, and whether the spec skips it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedStep {
    pub step: UpgradeStep,
    pub skipped: bool,
}

/// An upgrade that may go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub from: Version,
    pub to: Version,
    pub steps: Vec<PlannedStep>,
    pub timeout_seconds: u64,
}

/// The plan from `running` to `spec.version`, or why there is none. `target_plan` is the
/// plugins chosen for the cluster rendered at the target version, out of `snapshot`.
pub fn plan(running: &str, spec: &HarborClusterSpec, snapshot: &Snapshot, target_plan: &RenderPlan) -> Result<Plan, Refusal> {
    let upgrade = spec.upgrade.clone().unwrap_or_default();
    let from = Version::parse(running).ok_or_else(|| Refusal::InvalidVersion { field: "status.version", value: running.to_owned() })?;
    let to = Version::parse(&spec.version).ok_or_else(|| Refusal::InvalidVersion { field: "spec.version", value: spec.version.clone() })?;
    check_versions(from, to, &upgrade)?;
    let timeout_seconds = upgrade.timeout_seconds().ok_or_else(|| Refusal::InvalidTimeout(upgrade.timeout.clone()))?;
    if let Some(window) = &upgrade.window {
        crate::controller::backup::schedule::Schedule::parse(window).map_err(Refusal::InvalidWindow)?;
    }
    check_plugins(to, snapshot, target_plan)?;
    if upgrade.backup && spec.backup.is_none() {
        return Err(Refusal::NoBackupDestination);
    }
    let steps = UpgradeStep::ALL
        .into_iter()
        .filter(|step| *step != UpgradeStep::Done)
        .map(|step| PlannedStep { step, skipped: step == UpgradeStep::Backup && !upgrade.backup })
        .collect();
    Ok(Plan { from, to, steps, timeout_seconds })
}

/// Forward only, one minor at a time unless the spec allows more.
pub fn check_versions(from: Version, to: Version, upgrade: &UpgradeSpec) -> Result<(), Refusal> {
    if to < from {
        return Err(Refusal::Downgrade { from, to });
    }
    let next = if to.major == from.major { from.minor + 1 } else { 0 };
    let skips = to.major > from.major || to.minor > next;
    if skips && !upgrade.allow_skipping_minors {
        let next = if to.major == from.major { format!("{}.{}", from.major, next) } else { format!("the last {}.x", from.major) };
        return Err(Refusal::SkipsMinors { from, to, next });
    }
    Ok(())
}

/// Every enabled component has a plugin that renders the target version. A refusal names,
/// per component, what the chosen plugin renders and every plugin loaded for it.
pub fn check_plugins(to: Version, snapshot: &Snapshot, target_plan: &RenderPlan) -> Result<(), Refusal> {
    let version = to.to_string();
    let missing: Vec<Unsupported> = target_plan
        .components
        .iter()
        .filter_map(|(component, planned)| {
            let detail = match planned {
                Err(e) => e.to_string(),
                Ok(planned) => {
                    let d = planned.plugin.description();
                    if d.supports_harbor(&version) {
                        return None;
                    }
                    format!("{} {} ({}) renders Harbor {}", d.name, d.version, planned.selection, d.harbor_versions.join(", "))
                }
            };
            let chosen = planned.as_ref().ok().map(|p| p.plugin.digest());
            let others: Vec<String> = snapshot
                .available(component)
                .iter()
                .filter(|p| Some(p.digest()) != chosen)
                .map(|p| format!("{} {} [{}]", p.description().name, p.description().version, p.description().harbor_versions.join(", ")))
                .collect();
            let detail = if others.is_empty() { detail } else { format!("{detail}; also loaded: {}", others.join(", ")) };
            Some(Unsupported { component: component.clone(), detail })
        })
        .collect();
    if missing.is_empty() { Ok(()) } else { Err(Refusal::NoPlugin { to, missing }) }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "upgrade {} -> {}", self.from, self.to)?;
        for (i, planned) in self.steps.iter().enumerate() {
            let what = match planned.step {
                UpgradeStep::Preflight => "every component Ready on the running version",
                UpgradeStep::Backup if planned.skipped => "skipped (spec.upgrade.backup: false): no way back from a failed migration",
                UpgradeStep::Backup => "a HarborBackup taken and Complete",
                UpgradeStep::Quiesce => "core and jobservice scaled to zero (the database writers)",
                UpgradeStep::Migrate => "the target version's core runs -mode=migrate in a Job",
                UpgradeStep::Roll => "every component rendered by the target version's plugins and applied",
                UpgradeStep::HealthGate => "core, registry and jobservice available with the new image",
                UpgradeStep::Done => "status.version set",
            };
            writeln!(f, "  {}. {:<10} {what}", i + 1, planned.step.as_str())?;
        }
        write!(f, "health gate timeout: {} s", self.timeout_seconds)
    }
}

#[cfg(test)]
mod tests;
