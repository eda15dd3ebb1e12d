//! Upgrades: a change of `spec.version` on a running cluster, carried out step by step
//! by the cluster's own reconcile and recorded in `status.upgrade`.
//!
//! Before it renders, a reconcile asks [`begin`] which version to render and whether the
//! database writers (core, jobservice) are held at zero; after it applied, [`advance`]
//! judges the current step against what is live and moves on. The step is read back from
//! status every time, so an operator that restarts resumes where the last one stopped;
//! what a step creates (the pre-upgrade backup, the migration Job) has a name derived from
//! the upgrade, so it is found again rather than made twice.
//!
//! The old version renders until the migration has succeeded; the target version renders
//! from the Roll step on. A failure before the migration returns to the old version (the
//! database is untouched); a failure in or after it leaves Harbor stopped on the old
//! version's objects until the pre-upgrade backup is restored.
//!
//! Modules: [`record`] the status transitions, [`checks`] what the steps read off live
//! workloads, [`tasks`] the backup and the migration Job, [`slots`] the fleet-wide limit.

pub mod checks;
pub mod record;
pub mod slots;
pub mod tasks;

use std::collections::BTreeSet;
use std::time::Duration;

use berth_api::backup::RestorePhase;
use berth_api::status::{HarborClusterStatus, UpgradePhase, UpgradeRecord, UpgradeStatus, UpgradeStep};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt as _;
use kube::runtime::events::EventType;

use super::error::Result;
use super::live::Live;
use super::{Context, HarborCluster};
use crate::render::RenderedObject;
use crate::upgrade_plan;
use tasks::{BackupProgress, MigrationProgress};

/// How often an upgrade under way is looked at besides the changes that wake it (a
/// HarborBackup's progress does not wake its cluster).
const FOLLOW: Duration = Duration::from_secs(10);
/// How often a cluster waiting for an upgrade slot asks again.
const SLOT_RETRY: Duration = Duration::from_secs(30);
pub const PHASE_UPGRADING: &str = "Upgrading";
pub const PHASE_UPGRADE_FAILED: &str = "UpgradeFailed";

/// The version a cluster runs: `status.version` once set. Before that, the spec's: a new
/// cluster installs what it asks for.
pub fn running_version(hc: &HarborCluster) -> String {
    hc.status.as_ref().and_then(|s| s.version.clone()).unwrap_or_else(|| hc.spec.version.clone())
}

/// The cluster at `version`.
pub fn at_version(hc: &HarborCluster, version: &str) -> HarborCluster {
    let mut hc = hc.clone();
    hc.spec.version = version.to_owned();
    hc
}

/// The cluster as its running version renders: what its backups and restores render
/// with while an upgrade has not yet rolled (the database is still that version's).
pub fn as_running(hc: &HarborCluster) -> HarborCluster {
    at_version(hc, &running_version(hc))
}

/// What one reconcile does about upgrades, decided before it renders.
pub struct Course {
    /// The version running.
    pub running: String,
    pub upgrade: Option<UpgradeStatus>,
    pub history: Vec<UpgradeRecord>,
    /// The condition reason of a refusal.
    refusal: Option<&'static str>,
    /// When to look again.
    pub requeue: Option<Duration>,
    /// "namespace/name", the key of the cluster's upgrade slot.
    key: String,
}

impl Course {
    fn running_step(&self) -> Option<UpgradeStep> {
        self.upgrade.as_ref().filter(|u| u.phase == UpgradePhase::Running).and_then(|u| u.step)
    }

    /// The version this reconcile renders: the target once the migration succeeded.
    pub fn render_version(&self) -> &str {
        match (&self.upgrade, self.running_step()) {
            (Some(upgrade), Some(step)) if step >= UpgradeStep::Roll => &upgrade.to,
            _ => &self.running,
        }
    }

    /// Whether core and jobservice are held at zero: from Quiesce through Migrate, and
    /// while a failed upgrade waits for its restore.
    pub fn writers_stopped(&self) -> bool {
        matches!(self.running_step(), Some(UpgradeStep::Quiesce | UpgradeStep::Migrate))
            || self.upgrade.as_ref().is_some_and(|u| u.phase == UpgradePhase::Failed)
    }

    /// The cluster as this reconcile renders it.
    pub fn cluster_as_rendered(&self, hc: &HarborCluster) -> HarborCluster {
        let mut hc = at_version(hc, self.render_version());
        if self.writers_stopped() {
            hc.spec.core.replicas = Some(0);
            hc.spec.jobservice.pod.replicas = Some(0);
        }
        hc
    }

    /// No upgrade under way or left failed, and nothing to look at again soon: what
    /// renders next time is what rendered this time.
    pub fn quiet(&self) -> bool {
        self.requeue.is_none() && !self.upgrade.as_ref().is_some_and(|u| matches!(u.phase, UpgradePhase::Running | UpgradePhase::Failed))
    }

    /// Writes the upgrade into the status the reconcile built: the version running, the
    /// upgrade, the history, the `Upgrade` condition and the phase while one is under way.
    pub fn finish_status(&self, status: &mut HarborClusterStatus) {
        status.version = Some(self.running.clone());
        status.upgrade = self.upgrade.clone();
        status.history = self.history.clone();
        let Some(upgrade) = &self.upgrade else { return };
        status.conditions.push(record::condition(upgrade, self.refusal));
        match upgrade.phase {
            UpgradePhase::Running => status.phase = Some(PHASE_UPGRADING.to_owned()),
            UpgradePhase::Failed => status.phase = Some(PHASE_UPGRADE_FAILED.to_owned()),
            UpgradePhase::Waiting | UpgradePhase::Refused | UpgradePhase::RolledBack => {}
        }
    }

    fn release(&self, ctx: &Context) {
        ctx.upgrade_slots.release(&self.key);
    }
}

fn now() -> Timestamp {
    Timestamp::now()
}

/// Decides, before the reconcile renders, where the cluster's upgrade stands: goes on
/// with one under way, cancels one whose target the spec no longer asks for, clears a
/// failed one that was restored, or plans a new one.
pub async fn begin(ctx: &Context, hc: &HarborCluster, namespace: &str, name: &str) -> Result<Course> {
    let status = hc.status.clone().unwrap_or_default();
    let now = now();
    let stamp = now.to_string();
    let wanted = hc.spec.version.clone();
    let mut course = Course {
        running: running_version(hc),
        upgrade: status.upgrade.clone(),
        history: status.history.clone(),
        refusal: None,
        requeue: None,
        key: format!("{namespace}/{name}"),
    };
    let phase = course.upgrade.as_ref().map(|u| u.phase);
    if let Some(upgrade) = course.upgrade.as_mut() {
        match upgrade.phase {
            UpgradePhase::Running if upgrade.to != wanted && upgrade.step.is_some_and(|s| s <= UpgradeStep::Quiesce) => {
                // Nothing has touched the database yet: the old version simply goes on.
                upgrade.message = Some(format!("cancelled: spec.version is now {wanted}"));
                record::remember(&mut course.history, upgrade, "Cancelled", &stamp);
                let note =
                    format!("{} -> {} cancelled at step {}: spec.version is now {wanted}", upgrade.from, upgrade.to, step_name(upgrade));
                ctx.event(hc, EventType::Normal, "UpgradeCancelled", "Upgrade", &note).await;
                course.upgrade = None;
                course.release(ctx);
            }
            UpgradePhase::Running => {
                // Resumed (after a restart, say) or going on: it keeps its slot.
                ctx.upgrade_slots.hold(&course.key);
                course.requeue = Some(FOLLOW);
            }
            UpgradePhase::Failed => {
                let force = hc.spec.upgrade.as_ref().is_some_and(|u| u.force);
                if wanted == upgrade.from && (force || restored(ctx, namespace, name, upgrade).await?) {
                    let how = if force { "spec.upgrade.force" } else { "the pre-upgrade backup was restored" };
                    upgrade.message = Some(format!("failed, then returned to {}: {how}", upgrade.from));
                    record::remember(&mut course.history, upgrade, "Recovered", &stamp);
                    let note = format!("{} running again after the failed upgrade to {} ({how})", upgrade.from, upgrade.to);
                    ctx.event(hc, EventType::Normal, "UpgradeRecovered", "Upgrade", &note).await;
                    course.upgrade = None;
                }
            }
            // Not retried until the spec changes.
            UpgradePhase::RolledBack if upgrade.to == wanted && upgrade.generation == hc.metadata.generation => {}
            UpgradePhase::RolledBack | UpgradePhase::Waiting | UpgradePhase::Refused => course.upgrade = None,
        }
    }
    if course.upgrade.is_none() && wanted != course.running {
        plan(ctx, hc, &mut course, phase, now).await;
    }
    Ok(course)
}

/// Plans the upgrade to `spec.version`: refused, waiting, or started.
async fn plan(ctx: &Context, hc: &HarborCluster, course: &mut Course, previous: Option<UpgradePhase>, now: Timestamp) {
    let wanted = hc.spec.version.clone();
    let generation = hc.metadata.generation;
    let target = at_version(hc, &wanted);
    let (snapshot, target_plan) = super::plan(ctx, &target);
    let plan = match upgrade_plan::plan(&course.running, &hc.spec, &snapshot, &target_plan) {
        Ok(plan) => plan,
        Err(refusal) => {
            let message = refusal.to_string();
            let before = hc.status.as_ref().and_then(|s| s.upgrade.as_ref()).and_then(|u| u.message.clone());
            if previous != Some(UpgradePhase::Refused) || before.as_deref() != Some(message.as_str()) {
                ctx.event(
                    hc,
                    EventType::Warning,
                    refusal.reason(),
                    "Upgrade",
                    &format!("{} -> {wanted} refused: {message}", course.running),
                )
                .await;
            }
            course.refusal = Some(refusal.reason());
            course.upgrade = Some(record::not_started(&course.running, &wanted, UpgradePhase::Refused, generation, message));
            return;
        }
    };
    let window = hc.spec.upgrade.as_ref().and_then(|u| u.window.as_deref());
    if let Some(opens) = window.and_then(|w| window_opens(w, now)) {
        let message = format!("outside spec.upgrade.window {:?}: starts when it opens, at {opens}", window.unwrap_or_default());
        course.upgrade = Some(record::not_started(&course.running, &wanted, UpgradePhase::Waiting, generation, message));
        course.requeue = Some(Duration::from_secs_f64(opens.duration_since(now).as_secs_f64().max(1.0)));
        return;
    }
    if let Err(full) = ctx.upgrade_slots.take(&course.key, ctx.max_concurrent_upgrades) {
        let message = format!(
            "{} upgrade(s) run ({}); at most {} at once (--max-concurrent-upgrades): starts when one ends",
            full.running.len(),
            full.running.join(", "),
            full.max
        );
        course.upgrade = Some(record::not_started(&course.running, &wanted, UpgradePhase::Waiting, generation, message));
        course.requeue = Some(SLOT_RETRY);
        return;
    }
    let upgrade = record::started(&plan, generation, &now.to_string());
    ctx.event(hc, EventType::Normal, "UpgradeStarted", "Upgrade", &plan.to_string()).await;
    tracing::info!(cluster = %hc.name_any(), from = %plan.from, to = %plan.to, "upgrade started");
    course.upgrade = Some(upgrade);
    course.requeue = Some(FOLLOW);
}

/// When a closed window next opens; `None` when it is open now (or never opens, which
/// the plan already refused as an invalid window).
fn window_opens(window: &str, now: Timestamp) -> Option<Timestamp> {
    let schedule = super::backup::schedule::Schedule::parse(window).ok()?;
    let minute = now.as_second() - now.as_second().rem_euclid(60);
    let this_minute = Timestamp::from_second(minute).ok()?;
    if schedule.latest_at_or_before(now) == Some(this_minute) {
        return None;
    }
    schedule.next_after(now)
}

/// Whether a HarborRestore of the upgrade's pre-upgrade backup into this cluster completed.
async fn restored(ctx: &Context, namespace: &str, name: &str, upgrade: &UpgradeStatus) -> Result<bool> {
    let Some(backup) = upgrade.backup.as_deref() else { return Ok(false) };
    let restores = super::backup::hold::restores(ctx, namespace).await?;
    Ok(restores.iter().any(|r| {
        r.spec.cluster == name
            && r.spec.backup == backup
            && r.spec.backup_namespace.as_deref().is_none_or(|ns| ns == namespace)
            && r.status.as_ref().is_some_and(|s| s.phase == RestorePhase::Complete)
    }))
}

fn step_name(upgrade: &UpgradeStatus) -> &'static str {
    upgrade.step.map_or("-", UpgradeStep::as_str)
}

/// What the reconcile did, for [`advance`] to judge the current step by.
pub struct Reconciled<'a> {
    pub live: &'a Live,
    /// The rendered workloads of core, jobservice and registry ([`checks::workloads`]).
    pub workloads: &'a [RenderedObject],
    /// The cluster's fullname (`<name>-harbor`).
    pub fullname: &'a str,
    /// Components not Ready on the version rendered.
    pub not_ready: Vec<String>,
    /// Components that failed to render or apply.
    pub failed: &'a BTreeSet<String>,
}

/// After the reconcile applied: judges the current step and moves on as far as this
/// reconcile's render allows.
pub async fn advance(ctx: &Context, hc: &HarborCluster, namespace: &str, course: &mut Course, done: &Reconciled<'_>) -> Result<()> {
    let Some(mut upgrade) = course.upgrade.clone().filter(|u| u.phase == UpgradePhase::Running) else { return Ok(()) };
    let spec = hc.spec.upgrade.clone().unwrap_or_default();
    let timeout = spec.timeout_seconds().unwrap_or(1800);
    let now = now();
    let stamp = now.to_string();
    let expired = |upgrade: &UpgradeStatus| {
        record::step_started(upgrade)
            .and_then(|started| started.parse::<Timestamp>().ok())
            .is_some_and(|started| now.duration_since(started).as_secs() >= i64::try_from(timeout).unwrap_or(i64::MAX))
    };
    let outcome = loop {
        let step = upgrade.step.unwrap_or(UpgradeStep::Done);
        match step {
            UpgradeStep::Preflight => {
                if done.not_ready.is_empty() || spec.force {
                    let note = if done.not_ready.is_empty() {
                        format!("every component Ready on {}", upgrade.from)
                    } else {
                        format!("spec.upgrade.force: going on with {} not Ready", done.not_ready.join(", "))
                    };
                    step_done(ctx, hc, &mut upgrade, note, &stamp).await;
                    continue;
                }
                let waiting = format!("waiting for {} to be Ready on {}", done.not_ready.join(", "), upgrade.from);
                if expired(&upgrade) {
                    break Outcome::RolledBack(format!("{waiting}, for longer than spec.upgrade.timeout {}", spec.timeout));
                }
                upgrade.message = Some(waiting);
                break Outcome::Going;
            }
            UpgradeStep::Backup => {
                let name = upgrade.backup.clone().unwrap_or_else(|| tasks::backup_name(hc, &upgrade));
                upgrade.backup = Some(name.clone());
                match tasks::backup(ctx, hc, namespace, &name, &upgrade).await? {
                    BackupProgress::Complete => {
                        step_done(ctx, hc, &mut upgrade, format!("HarborBackup {name} complete"), &stamp).await;
                        // Quiesce needs a render that stops the writers: the next reconcile.
                        break Outcome::Going;
                    }
                    BackupProgress::Failed(why) => break Outcome::RolledBack(format!("HarborBackup {name} failed: {why}")),
                    BackupProgress::Running => {
                        upgrade.message = Some(format!("waiting for HarborBackup {name}"));
                        break Outcome::Going;
                    }
                }
            }
            UpgradeStep::Quiesce => match checks::writers_stopped(ctx, namespace, done.live, done.workloads).await? {
                None => {
                    step_done(ctx, hc, &mut upgrade, "core and jobservice stopped".to_owned(), &stamp).await;
                    continue;
                }
                Some(waiting) if expired(&upgrade) => {
                    break Outcome::RolledBack(format!("the writers did not stop within spec.upgrade.timeout {}: {waiting}", spec.timeout));
                }
                Some(waiting) => {
                    upgrade.message = Some(format!("stopping core and jobservice: {waiting}"));
                    break Outcome::Going;
                }
            },
            UpgradeStep::Migrate => {
                let job = upgrade.migration_job.clone().unwrap_or_else(|| tasks::migration_job_name(done.fullname, hc, &upgrade));
                upgrade.migration_job = Some(job.clone());
                let target = at_version(hc, &upgrade.to);
                match tasks::migration(ctx, &target, namespace, &job, &upgrade.from).await? {
                    MigrationProgress::Succeeded => {
                        let note = format!("Job {job} migrated the schema to {}", upgrade.to);
                        step_done(ctx, hc, &mut upgrade, note, &stamp).await;
                        // Roll is the next render's.
                        break Outcome::Going;
                    }
                    MigrationProgress::Running => {
                        upgrade.message = Some(format!("Job {job} migrates the schema to {}", upgrade.to));
                        break Outcome::Going;
                    }
                    MigrationProgress::Failed(why) => break Outcome::Failed(format!("the migration Job {job} failed: {why}")),
                    MigrationProgress::NotRendered(why) => {
                        break Outcome::RolledBack(format!("the migration Job could not be rendered, so nothing ran: {why}"));
                    }
                }
            }
            UpgradeStep::Roll => {
                // This reconcile rendered and applied the target version.
                if done.failed.is_empty() {
                    let note = format!("every component applied at {}", upgrade.to);
                    step_done(ctx, hc, &mut upgrade, note, &stamp).await;
                    break Outcome::Going;
                }
                // An API hiccup must not stop Harbor: the apply is retried (with the
                // controller's backoff) until the timeout says it will not come.
                let failed: Vec<&str> = done.failed.iter().map(String::as_str).collect();
                let what =
                    format!("at {}, {} did not render or apply (see the Rendered and Applied conditions)", upgrade.to, failed.join(", "));
                if expired(&upgrade) {
                    break Outcome::Failed(format!("{what}, for longer than spec.upgrade.timeout {}", spec.timeout));
                }
                upgrade.message = Some(format!("{what}; retrying"));
                break Outcome::Going;
            }
            UpgradeStep::HealthGate => match checks::healthy(done.live, done.workloads) {
                None => {
                    let note = format!("core, registry and jobservice available on {}", upgrade.to);
                    step_done(ctx, hc, &mut upgrade, note, &stamp).await;
                    continue;
                }
                Some(waiting) if expired(&upgrade) => {
                    break Outcome::Failed(format!("not available within spec.upgrade.timeout {}: {waiting}", spec.timeout));
                }
                Some(waiting) => {
                    upgrade.message = Some(format!("waiting for the new version: {waiting}"));
                    break Outcome::Going;
                }
            },
            UpgradeStep::Done => break Outcome::Succeeded,
        }
    };
    match outcome {
        Outcome::Going => {
            // A step that needs a render of its own (Quiesce, Roll) gets it right away.
            if upgrade.step != course.upgrade.as_ref().and_then(|u| u.step) {
                course.requeue = Some(Duration::from_secs(1));
            }
            course.upgrade = Some(upgrade);
        }
        Outcome::Succeeded => {
            record::remember(&mut course.history, &upgrade, "Succeeded", &stamp);
            let note = format!("{} -> {} succeeded", upgrade.from, upgrade.to);
            ctx.event(hc, EventType::Normal, "UpgradeSucceeded", "Upgrade", &note).await;
            tracing::info!(cluster = %hc.name_any(), from = %upgrade.from, to = %upgrade.to, "upgrade succeeded");
            course.running = upgrade.to.clone();
            course.upgrade = None;
            course.release(ctx);
        }
        Outcome::RolledBack(why) => {
            let at = step_name(&upgrade);
            record::fail(&mut upgrade, UpgradePhase::RolledBack, &why, &stamp);
            // Tried again only for a spec newer than the one it failed with.
            upgrade.generation = hc.metadata.generation;
            record::remember(&mut course.history, &upgrade, "RolledBack", &stamp);
            let note = format!(
                "{} -> {} failed at step {at}, before the migration: {why}. {} runs again, its database untouched; change the spec to try again",
                upgrade.from, upgrade.to, upgrade.from
            );
            ctx.event(hc, EventType::Warning, "UpgradeRolledBack", "Upgrade", &note).await;
            tracing::warn!(cluster = %hc.name_any(), from = %upgrade.from, to = %upgrade.to, step = at, reason = %why, "upgrade rolled back");
            course.upgrade = Some(upgrade);
            course.release(ctx);
            // The writers come back with the next render.
            course.requeue = Some(Duration::from_secs(1));
        }
        Outcome::Failed(why) => {
            let at = step_name(&upgrade);
            record::fail(&mut upgrade, UpgradePhase::Failed, &why, &stamp);
            upgrade.restore = record::restore_manifest(namespace, &hc.name_any(), &upgrade);
            let way_back = match &upgrade.restore {
                Some(_) => format!(
                    "Harbor stays stopped. To return to {}: set spec.version: {} and apply the HarborRestore in status.upgrade.restore",
                    upgrade.from, upgrade.from
                ),
                None => format!(
                    "Harbor stays stopped, and no backup was taken: restore the database yourself, then set spec.version: {} and spec.upgrade.force: true",
                    upgrade.from
                ),
            };
            let note = format!("{} -> {} failed at step {at}: {why}. {way_back}", upgrade.from, upgrade.to);
            ctx.event(hc, EventType::Warning, "UpgradeFailed", "Upgrade", &note).await;
            tracing::error!(cluster = %hc.name_any(), from = %upgrade.from, to = %upgrade.to, step = at, reason = %why, "upgrade failed");
            upgrade.message = Some(format!("{why}. {way_back}"));
            course.upgrade = Some(upgrade);
            course.release(ctx);
            // The old version's objects, writers stopped, with the next render.
            course.requeue = Some(Duration::from_secs(1));
        }
    }
    Ok(())
}

enum Outcome {
    Going,
    Succeeded,
    /// Before the migration: back on the old version.
    RolledBack(String),
    /// In or after the migration: stopped until restored.
    Failed(String),
}

/// Completes the current step, with its Event.
async fn step_done(ctx: &Context, hc: &HarborCluster, upgrade: &mut UpgradeStatus, note: String, stamp: &str) {
    let step = step_name(upgrade);
    let next = record::complete(upgrade, Some(note.clone()), stamp);
    let note = format!("{} -> {}: {step} complete ({note}); next: {}", upgrade.from, upgrade.to, next.as_str());
    ctx.event(hc, EventType::Normal, "UpgradeStep", "Upgrade", &note).await;
}
