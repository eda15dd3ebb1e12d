//! How an upgrade's status changes: steps start, complete, are skipped or fail; an
//! upgrade that ends goes to the history. Pure functions of the status and the time, so
//! every transition is tested without a cluster.

use berth_api::status::{StatusCondition, StepState, UpgradePhase, UpgradeRecord, UpgradeStatus, UpgradeStep, UpgradeStepStatus};

use crate::upgrade_plan::Plan;

/// How many ended upgrades `status.history` keeps.
pub const HISTORY: usize = 5;

/// A Running upgrade at its first step.
pub fn started(plan: &Plan, generation: Option<i64>, now: &str) -> UpgradeStatus {
    let steps = plan
        .steps
        .iter()
        .map(|planned| UpgradeStepStatus {
            name: planned.step,
            state: if planned.skipped { StepState::Skipped } else { StepState::Pending },
            started: None,
            finished: None,
            message: planned.skipped.then(|| "skipped: spec.upgrade.backup is false".to_owned()),
        })
        .collect();
    let mut upgrade = UpgradeStatus {
        from: plan.from.to_string(),
        to: plan.to.to_string(),
        phase: UpgradePhase::Running,
        step: None,
        steps,
        started: Some(now.to_owned()),
        generation,
        backup: None,
        migration_job: None,
        message: None,
        restore: None,
    };
    enter(&mut upgrade, UpgradeStep::Preflight, now);
    upgrade
}

/// An upgrade that is not under way: waiting for its window or a slot, or refused.
pub fn not_started(from: &str, to: &str, phase: UpgradePhase, generation: Option<i64>, message: String) -> UpgradeStatus {
    UpgradeStatus {
        from: from.to_owned(),
        to: to.to_owned(),
        phase,
        step: None,
        steps: Vec::new(),
        started: None,
        generation,
        backup: None,
        migration_job: None,
        message: Some(message),
        restore: None,
    }
}

fn step_mut(upgrade: &mut UpgradeStatus, step: UpgradeStep) -> Option<&mut UpgradeStepStatus> {
    upgrade.steps.iter_mut().find(|s| s.name == step)
}

/// Makes `step` (or the first step after it not skipped) the current one. Returns the
/// step entered; `Done` when none is left.
pub fn enter(upgrade: &mut UpgradeStatus, step: UpgradeStep, now: &str) -> UpgradeStep {
    let mut step = step;
    while step != UpgradeStep::Done && step_mut(upgrade, step).is_some_and(|s| s.state == StepState::Skipped) {
        step = step.next();
    }
    upgrade.step = Some(step);
    upgrade.message = None;
    if let Some(entry) = step_mut(upgrade, step) {
        entry.state = StepState::Running;
        entry.started = Some(now.to_owned());
    }
    step
}

/// Completes the current step and enters the next. Returns the step entered.
pub fn complete(upgrade: &mut UpgradeStatus, message: Option<String>, now: &str) -> UpgradeStep {
    let Some(current) = upgrade.step else { return UpgradeStep::Done };
    if let Some(entry) = step_mut(upgrade, current) {
        entry.state = StepState::Complete;
        entry.finished = Some(now.to_owned());
        entry.message = message;
    }
    enter(upgrade, current.next(), now)
}

/// Marks the current step failed and the upgrade `phase` (Failed or RolledBack).
pub fn fail(upgrade: &mut UpgradeStatus, phase: UpgradePhase, reason: &str, now: &str) {
    upgrade.phase = phase;
    upgrade.message = Some(reason.to_owned());
    if let Some(entry) = upgrade.step.and_then(|step| step_mut(upgrade, step)) {
        entry.state = StepState::Failed;
        entry.finished = Some(now.to_owned());
        entry.message = Some(reason.to_owned());
    }
}

/// When the current step started.
pub fn step_started(upgrade: &UpgradeStatus) -> Option<&str> {
    let step = upgrade.step?;
    upgrade.steps.iter().find(|s| s.name == step)?.started.as_deref()
}

/// Adds an ended upgrade to the front of the history, keeping the last [`HISTORY`].
pub fn remember(history: &mut Vec<UpgradeRecord>, upgrade: &UpgradeStatus, outcome: &str, now: &str) {
    history.insert(
        0,
        UpgradeRecord {
            from: upgrade.from.clone(),
            to: upgrade.to.clone(),
            outcome: outcome.to_owned(),
            started: upgrade.started.clone(),
            finished: Some(now.to_owned()),
            backup: upgrade.backup.clone(),
            message: upgrade.message.clone(),
            generation: upgrade.generation,
        },
    );
    history.truncate(HISTORY);
}

/// The HarborRestore that returns a cluster to its pre-upgrade backup, as YAML to apply.
pub fn restore_manifest(namespace: &str, cluster: &str, upgrade: &UpgradeStatus) -> Option<String> {
    let backup = upgrade.backup.as_deref()?;
    let name = crate::controller::backup::jobs::job_name(cluster, "undo", &upgrade.to.replace('.', "-"));
    Some(format!(
        "apiVersion: berth.dev/v1alpha1\nkind: HarborRestore\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  cluster: {cluster}\n  backup: {backup}\n  overwrite: true\n"
    ))
}

/// The `Upgrade` condition, when an upgrade is planned, under way or ended badly.
pub fn condition(upgrade: &UpgradeStatus, reason_refused: Option<&str>) -> StatusCondition {
    let (status, reason) = match upgrade.phase {
        UpgradePhase::Running => ("True", "Upgrading"),
        UpgradePhase::Waiting => ("False", "Waiting"),
        UpgradePhase::Refused => ("False", reason_refused.unwrap_or("UpgradeRefused")),
        UpgradePhase::Failed => ("False", "UpgradeFailed"),
        UpgradePhase::RolledBack => ("False", "UpgradeRolledBack"),
    };
    let step = upgrade.step.map(|s| format!(" at step {}", s.as_str())).unwrap_or_default();
    let mut message = format!("{} -> {}{step}", upgrade.from, upgrade.to);
    if let Some(detail) = &upgrade.message {
        message.push_str(": ");
        message.push_str(detail);
    }
    StatusCondition { type_: "Upgrade".to_owned(), status: status.to_owned(), reason: reason.to_owned(), message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upgrade_plan::{PlannedStep, Version};

    fn plan(skip_backup: bool) -> Plan {
        let v = |text: &str| Version::parse(text).unwrap_or_else(|| panic!("{text}"));
        let steps = UpgradeStep::ALL
            .into_iter()
            .filter(|s| *s != UpgradeStep::Done)
            .map(|step| PlannedStep { step, skipped: skip_backup && step == UpgradeStep::Backup })
            .collect();
        Plan { from: v("2.14.2"), to: v("2.15.1"), steps, timeout_seconds: 60 }
    }

    #[test]
    fn steps_run_in_order_and_a_skipped_one_is_passed_over() {
        let mut upgrade = started(&plan(true), Some(3), "t0");
        assert_eq!((upgrade.step, upgrade.phase), (Some(UpgradeStep::Preflight), UpgradePhase::Running));
        assert_eq!(step_started(&upgrade), Some("t0"));
        assert_eq!(complete(&mut upgrade, None, "t1"), UpgradeStep::Quiesce, "the backup is skipped");
        let backup = upgrade.steps.iter().find(|s| s.name == UpgradeStep::Backup).map(|s| s.state);
        assert_eq!(backup, Some(StepState::Skipped));
        for expected in [UpgradeStep::Migrate, UpgradeStep::Roll, UpgradeStep::HealthGate, UpgradeStep::Done] {
            assert_eq!(complete(&mut upgrade, None, "t2"), expected);
        }
        assert!(upgrade.steps.iter().all(|s| matches!(s.state, StepState::Complete | StepState::Skipped)), "{upgrade:?}");
    }

    #[test]
    fn a_failure_marks_its_step_and_the_history_keeps_the_last_few() {
        let mut upgrade = started(&plan(false), Some(3), "t0");
        complete(&mut upgrade, None, "t1");
        upgrade.backup = Some("demo-pre-upgrade".to_owned());
        fail(&mut upgrade, UpgradePhase::RolledBack, "backup failed", "t2");
        let entry = upgrade.steps.iter().find(|s| s.name == UpgradeStep::Backup);
        assert_eq!(entry.map(|s| (s.state, s.message.as_deref())), Some((StepState::Failed, Some("backup failed"))));
        let mut history = Vec::new();
        for _ in 0..(HISTORY + 2) {
            remember(&mut history, &upgrade, "RolledBack", "t3");
        }
        assert_eq!(history.len(), HISTORY);
        assert_eq!((history[0].outcome.as_str(), history[0].generation), ("RolledBack", Some(3)));
    }

    #[test]
    fn the_restore_names_the_pre_upgrade_backup_and_the_cluster() {
        let mut upgrade = started(&plan(false), None, "t0");
        assert_eq!(restore_manifest("registry", "demo", &upgrade), None, "no backup, no restore");
        upgrade.backup = Some("demo-pre-2-15-1-abc".to_owned());
        let yaml = restore_manifest("registry", "demo", &upgrade).unwrap_or_default();
        let restore: berth_api::backup::HarborRestore = serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{e}: {yaml}"));
        assert_eq!((restore.spec.cluster.as_str(), restore.spec.backup.as_str()), ("demo", "demo-pre-2-15-1-abc"));
        assert_eq!(restore.metadata.name.as_deref(), Some("demo-undo-2-15-1"));
    }
}
