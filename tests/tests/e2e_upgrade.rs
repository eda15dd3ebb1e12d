//! Harbor upgrades against a real control plane: a change of `spec.version` through
//! every step, refusals, a window, the fleet-wide limit, the failures and the way back,
//! and an operator killed mid-upgrade. No kubelet runs here: the test plays it (see
//! `berth_tests::kubelet`): workloads' status follows their spec while the stand-in
//! runs, and the test ends each Job as it wants. What the migration Job runs is proven
//! with Harbor's own binaries (`make harbor-upgrade-check`).
//!
//! Ignored by default; `make e2e` runs it.

use std::collections::BTreeMap;

use berth::HarborCluster;
use berth::controller::Context;
use berth::controller::upgrade::tasks::UPGRADE_LABEL;
use berth::policy::{PluginSet, Snapshot};
use berth_api::backup::{HarborBackup, HarborRestore, RestorePhase};
use berth_api::status::{HarborClusterStatus, StepState, UpgradePhase, UpgradeStep};
use berth_tests::control_plane::ControlPlane;
use berth_tests::kubelet::{Workloads, job_failed, job_succeeded, set_ready, wait_job};
use berth_tests::operator::{Operator, events, eventually, fail, or_panic, wait_event};
use berth_tests::{read_example, shared_catalog};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const NS: &str = "registry";
const RECORDS: &str = "berth-system";
const OLD: &str = "2.14.2";
const NEW: &str = "2.15.1";
const SHA: &str = "4c4b5f6c1b0e9d1e3a7f1d2c5b8a9e0f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f";

async fn plane() -> (ControlPlane, Client) {
    or_panic(berth_tests::day_two::plane(&[NS, RECORDS]).await)
}

fn operator(client: &Client, max_upgrades: usize) -> Operator {
    let plugins = std::sync::Arc::new(PluginSet::new(Snapshot::bundled(shared_catalog())));
    Operator::with_context(Context::new(client.clone(), plugins).with_records_namespace(RECORDS).with_max_concurrent_upgrades(max_upgrades))
}

/// `examples/minimal.yaml` as `name`, at the old version, with `spec` fields merged in.
async fn create_cluster(client: &Client, name: &str, spec: Value) {
    let mut cluster = read_example("minimal.yaml");
    cluster.metadata.name = Some(name.to_owned());
    let mut value = serde_json::to_value(&cluster.spec).unwrap_or_else(|e| panic!("{e}"));
    value["version"] = json!(OLD);
    if let (Some(value), Value::Object(extra)) = (value.as_object_mut(), spec) {
        value.extend(extra);
    }
    cluster.spec = serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"));
    let api: Api<HarborCluster> = Api::namespaced(client.clone(), NS);
    or_panic(api.create(&PostParams::default(), &cluster).await.map(drop).map_err(fail("cluster")));
}

async fn patch_spec(client: &Client, name: &str, spec: Value) {
    let api: Api<HarborCluster> = Api::namespaced(client.clone(), NS);
    or_panic(api.patch(name, &PatchParams::default(), &Patch::Merge(&json!({"spec": spec}))).await.map(drop).map_err(fail("spec")));
}

async fn status(client: &Client, name: &str) -> HarborClusterStatus {
    let api: Api<HarborCluster> = Api::namespaced(client.clone(), NS);
    or_panic(api.get(name).await.map_err(fail("cluster"))).status.unwrap_or_default()
}

/// Waits until the cluster's status satisfies `check`.
async fn wait_status(client: &Client, name: &str, what: &str, check: impl Fn(&HarborClusterStatus) -> bool) -> HarborClusterStatus {
    let api: Api<HarborCluster> = Api::namespaced(client.clone(), NS);
    match eventually(what, || async { api.get_opt(name).await.ok()??.status.filter(|s| check(s)) }).await {
        Ok(found) => found,
        Err(e) => panic!("{e}; the status now: {:#?}", status(client, name).await),
    }
}

fn at_step(step: UpgradeStep) -> impl Fn(&HarborClusterStatus) -> bool {
    move |s| s.upgrade.as_ref().is_some_and(|u| u.phase == UpgradePhase::Running && u.step == Some(step))
}

fn installed(s: &HarborClusterStatus) -> bool {
    s.version.as_deref() == Some(OLD) && s.phase.as_deref() == Some("Ready")
}

/// (image, replicas) of a component's Deployment.
async fn deployment(client: &Client, cluster: &str, component: &str) -> (String, i32) {
    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let d = or_panic(api.get(&format!("{cluster}-harbor-{component}")).await.map_err(fail("deployment")));
    let spec = d.spec.unwrap_or_default();
    let image = spec.template.spec.map(|p| p.containers[0].image.clone().unwrap_or_default()).unwrap_or_default();
    (image, spec.replicas.unwrap_or(1))
}

async fn upgrade_backups(client: &Client, cluster: &str) -> Vec<HarborBackup> {
    let api: Api<HarborBackup> = Api::namespaced(client.clone(), NS);
    let list = or_panic(api.list(&ListParams::default().labels(UPGRADE_LABEL)).await.map_err(fail("backups")));
    list.items.into_iter().filter(|b| b.spec.cluster == cluster).collect()
}

async fn migration_jobs(client: &Client) -> Vec<Job> {
    let api: Api<Job> = Api::namespaced(client.clone(), NS);
    or_panic(api.list(&ListParams::default().labels(UPGRADE_LABEL)).await.map_err(fail("jobs"))).items
}

fn manifest() -> String {
    json!({"format": 1, "harborVersion": OLD, "database": "registry", "serverVersion": "15.18", "verified": true, "files": [
        {"name": "database.dump", "size": 1048576, "sha256": SHA},
    ]})
    .to_string()
}

/// Plays the backup Job of the upgrade's backup to success, once it exists.
async fn backup_succeeds(client: &Client, cluster: &str) -> String {
    backup_succeeds_after(client, cluster, "").await
}

/// [`backup_succeeds`] for an upgrade's backup other than `earlier`.
async fn backup_succeeds_after(client: &Client, cluster: &str, earlier: &str) -> String {
    let backup = or_panic(
        eventually("the pre-upgrade HarborBackup", || async {
            upgrade_backups(client, cluster).await.into_iter().find(|b| b.metadata.name.as_deref() != Some(earlier))
        })
        .await,
    );
    let name = backup.metadata.name.clone().unwrap_or_default();
    let job = berth::controller::backup::jobs::job_name(&format!("{cluster}-harbor"), "backup", &name);
    wait_job(client, NS, &job).await;
    job_succeeded(client, NS, &job, "backup", Some(&manifest())).await;
    name
}

fn image(component: &str, version: &str) -> String {
    let repository = if component == "registry" { "registry-photon".to_owned() } else { format!("harbor-{component}") };
    format!("docker.io/goharbor/{repository}:v{version}")
}

fn old_image(component: &str) -> String {
    image(component, OLD)
}

fn new_image(component: &str) -> String {
    image(component, NEW)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS)"]
async fn an_upgrade_goes_through_every_step_in_order_and_a_killed_operator_never_redoes_one() {
    let (_plane, client, mut operator, kubelet) = installed_demo().await;
    assert_eq!(deployment(&client, "demo", "core").await.0, old_image("core"));

    // Preflight waits while a component is not Ready, and resumes after a kill.
    kubelet.stop().await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    set_ready(&deployments, "demo-harbor-portal", 0).await;
    patch_spec(&client, "demo", json!({"version": NEW})).await;
    let s = wait_status(&client, "demo", "Preflight waiting for the portal", |s| {
        at_step(UpgradeStep::Preflight)(s) && s.upgrade.as_ref().and_then(|u| u.message.as_deref()).is_some_and(|m| m.contains("portal"))
    })
    .await;
    assert_eq!((s.version.as_deref(), s.phase.as_deref()), (Some(OLD), Some("Upgrading")));
    let upgrade = s.upgrade.clone().unwrap_or_else(|| panic!("no upgrade"));
    assert_eq!((upgrade.from.as_str(), upgrade.to.as_str()), (OLD, NEW));
    let planned: Vec<UpgradeStep> = upgrade.steps.iter().map(|s| s.name).collect();
    assert_eq!(planned, UpgradeStep::ALL[..6]);
    or_panic(wait_event(&client, NS, "demo", "UpgradeStarted").await);
    operator.kill();
    operator = operator_again(&client, operator).await;
    let kubelet = Workloads::start(&client, NS);

    // Backup: the pre-upgrade HarborBackup; the operator killed while it runs.
    let s = wait_status(&client, "demo", "the Backup step", at_step(UpgradeStep::Backup)).await;
    let backup_name = s.upgrade.as_ref().and_then(|u| u.backup.clone()).unwrap_or_default();
    let backups =
        or_panic(eventually("the backup", || async { Some(upgrade_backups(&client, "demo").await).filter(|b| !b.is_empty()) }).await);
    assert_eq!(backups.len(), 1);
    assert_eq!(backups[0].metadata.name.as_deref(), Some(backup_name.as_str()));
    let backup_uid = backups[0].metadata.uid.clone();
    // The backup renders at the version running: its Job carries the old harbor-db image.
    let backup_job = wait_job(&client, NS, &berth::controller::backup::jobs::job_name("demo-harbor", "backup", &backup_name)).await;
    let image = backup_job.spec.and_then(|s| s.template.spec).map(|p| p.containers[0].image.clone().unwrap_or_default());
    assert_eq!(image, Some(old_image("db")));
    operator.kill();
    operator = operator_again(&client, operator).await;
    kubelet.stop().await;
    backup_succeeds(&client, "demo").await;

    // Quiesce: core and jobservice to zero, waiting until their pods are gone.
    let s = wait_status(&client, "demo", "the Quiesce step", at_step(UpgradeStep::Quiesce)).await;
    assert!(
        s.upgrade
            .as_ref()
            .and_then(|u| u.steps.iter().find(|s| s.name == UpgradeStep::Backup))
            .is_some_and(|s| s.state == StepState::Complete)
    );
    let writers = or_panic(
        eventually("core and jobservice scaled to zero", || async {
            let core = deployment(&client, "demo", "core").await;
            let jobservice = deployment(&client, "demo", "jobservice").await;
            (core.1 == 0 && jobservice.1 == 0).then_some(core)
        })
        .await,
    );
    assert_eq!(writers.0, old_image("core"), "still the old core while quiescing");
    operator.kill();
    operator = operator_again(&client, operator).await;
    assert_eq!(status(&client, "demo").await.upgrade.and_then(|u| u.step), Some(UpgradeStep::Quiesce), "the pods are not gone yet");
    let kubelet = Workloads::start(&client, NS);

    // Migrate: the Job of the new core image; nothing of the new version before it completed.
    let s = wait_status(&client, "demo", "the Migrate step", at_step(UpgradeStep::Migrate)).await;
    let job_name = s.upgrade.as_ref().and_then(|u| u.migration_job.clone()).unwrap_or_default();
    let job = wait_job(&client, NS, &job_name).await;
    let pod = job.spec.as_ref().and_then(|s| s.template.spec.clone()).unwrap_or_default();
    assert_eq!(pod.containers[0].image.as_deref(), Some(new_image("core").as_str()));
    assert_eq!(pod.containers[0].command.clone().unwrap_or_default(), ["/harbor/harbor_core", "-mode=migrate"]);
    assert!(job.metadata.owner_references.unwrap_or_default().iter().any(|o| o.kind == "HarborCluster" && o.name == "demo"));
    let job_uid = job.metadata.uid.clone();
    operator.kill();
    let after_kill = operator_again(&client, operator).await;
    operator = after_kill;
    or_panic(operator.settle(operator.context.metrics.reconciles()).await);
    for component in ["core", "jobservice"] {
        let (image, replicas) = deployment(&client, "demo", component).await;
        assert_eq!((image, replicas), (old_image(component), 0), "{component} during the migration");
    }
    assert_eq!(deployment(&client, "demo", "registry").await.0, old_image("registry"), "no new image before the migration completed");
    let jobs = migration_jobs(&client).await;
    assert_eq!((jobs.len(), jobs[0].metadata.uid.clone()), (1, job_uid), "the migration is never created twice");
    kubelet.stop().await;
    job_succeeded(&client, NS, &job_name, "migrate", None).await;

    // Roll, then the health gate waits for the new version to be available.
    wait_status(&client, "demo", "the HealthGate step waiting for the new version", |s| {
        at_step(UpgradeStep::HealthGate)(s)
            && s.upgrade.as_ref().and_then(|u| u.message.as_deref()).is_some_and(|m| m.contains("waiting for the new version"))
    })
    .await;
    for component in ["core", "jobservice", "registry"] {
        let (image, replicas) = deployment(&client, "demo", component).await;
        assert_eq!((image, replicas), (new_image(component), 1), "{component} rolled");
    }
    operator.kill();
    operator = operator_again(&client, operator).await;
    let _kubelet = Workloads::start(&client, NS);

    // Done: the version running is the new one, and the upgrade is in the history.
    let s = wait_status(&client, "demo", "the upgrade done", |s| s.version.as_deref() == Some(NEW) && s.upgrade.is_none()).await;
    let record = &s.history[0];
    assert_eq!((record.from.as_str(), record.to.as_str(), record.outcome.as_str()), (OLD, NEW, "Succeeded"));
    assert_eq!(record.backup.as_deref(), Some(backup_name.as_str()));
    let backups = upgrade_backups(&client, "demo").await;
    assert_eq!((backups.len(), backups[0].metadata.uid.clone()), (1, backup_uid), "one backup, never a second");
    assert_eq!(migration_jobs(&client).await.len(), 1);
    or_panic(wait_event(&client, NS, "demo", "UpgradeSucceeded").await);
    let steps = events(&client, NS, "demo", "UpgradeStep").await.join("\n");
    for step in ["Preflight complete", "Backup complete", "Quiesce complete", "Migrate complete", "Roll complete", "HealthGate complete"] {
        assert!(steps.contains(step), "no Event for {step}: {steps}");
    }
    operator.stop().await;
}

/// A control plane, the operator, the kubelet stand-in, and the cluster `demo` installed
/// at the old version with a backup destination.
async fn installed_demo() -> (ControlPlane, Client, Operator, Workloads) {
    let (plane, client) = plane().await;
    let operator = operator(&client, 2);
    let kubelet = Workloads::start(&client, NS);
    create_cluster(&client, "demo", json!({"backup": {"destination": {"volume": {}}}})).await;
    wait_status(&client, "demo", "installed at the old version", installed).await;
    (plane, client, operator, kubelet)
}

/// A fresh operator after `killed`, as a restarted pod: nothing carried over.
async fn operator_again(client: &Client, killed: Operator) -> Operator {
    drop(killed);
    operator(client, 2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS)"]
async fn a_failed_migration_stops_harbor_and_the_restore_it_prints_brings_the_old_version_back() {
    let (_plane, client, operator, kubelet) = installed_demo().await;
    patch_spec(&client, "demo", json!({"version": NEW})).await;
    let backup = backup_succeeds(&client, "demo").await;
    let s = wait_status(&client, "demo", "the Migrate step", at_step(UpgradeStep::Migrate)).await;
    let job = s.upgrade.as_ref().and_then(|u| u.migration_job.clone()).unwrap_or_default();
    wait_job(&client, NS, &job).await;
    job_failed(&client, NS, &job, "migrate", Some("failed to migrate the database, error: Dirty database version 150")).await;

    let s = wait_status(&client, "demo", "UpgradeFailed", |s| s.phase.as_deref() == Some("UpgradeFailed")).await;
    let upgrade = s.upgrade.clone().unwrap_or_else(|| panic!("no upgrade"));
    assert_eq!((upgrade.phase, upgrade.step), (UpgradePhase::Failed, Some(UpgradeStep::Migrate)));
    let message = upgrade.message.clone().unwrap_or_default();
    assert!(message.contains("BackoffLimitExceeded") && message.contains("Dirty database version 150"), "{message}");
    assert_eq!(s.version.as_deref(), Some(OLD));
    let condition = s.conditions.iter().find(|c| c.type_ == "Upgrade").cloned().unwrap_or_default();
    assert_eq!((condition.status.as_str(), condition.reason.as_str()), ("False", "UpgradeFailed"));
    or_panic(wait_event(&client, NS, "demo", "UpgradeFailed").await);
    // Stopped, never half-upgraded: the writers at zero, every image the old one.
    or_panic(
        eventually("Harbor stopped on the old version", || async {
            let core = deployment(&client, "demo", "core").await;
            let jobservice = deployment(&client, "demo", "jobservice").await;
            (core == (old_image("core"), 0) && jobservice == (old_image("jobservice"), 0)).then_some(())
        })
        .await,
    );
    assert_eq!(deployment(&client, "demo", "registry").await.0, old_image("registry"));

    // The way back is printed: apply it with the old version.
    let yaml = upgrade.restore.clone().unwrap_or_else(|| panic!("no restore printed"));
    let restore: HarborRestore = serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{e}: {yaml}"));
    assert_eq!((restore.spec.cluster.as_str(), restore.spec.backup.as_str(), restore.spec.overwrite), ("demo", backup.as_str(), true));
    let restore_name = restore.metadata.name.clone().unwrap_or_default();
    patch_spec(&client, "demo", json!({"version": OLD})).await;
    or_panic(
        Api::<HarborRestore>::namespaced(client.clone(), NS)
            .create(&PostParams::default(), &restore)
            .await
            .map(drop)
            .map_err(fail("restore")),
    );
    // Still stopped until the restore completed.
    let restore_job = berth::controller::backup::jobs::job_name("demo-harbor", "restore", &restore_name);
    wait_job(&client, NS, &restore_job).await;
    assert_eq!(status(&client, "demo").await.upgrade.map(|u| u.phase), Some(UpgradePhase::Failed));
    assert_eq!(deployment(&client, "demo", "core").await.1, 0);
    job_succeeded(&client, NS, &restore_job, "restore", None).await;
    or_panic(
        eventually("the restore complete", || async {
            let r = Api::<HarborRestore>::namespaced(client.clone(), NS).get_opt(&restore_name).await.ok()??;
            r.status.filter(|s| s.phase == RestorePhase::Complete)
        })
        .await,
    );
    let s = wait_status(&client, "demo", "recovered", |s| s.upgrade.is_none() && s.phase.as_deref() == Some("Ready")).await;
    assert_eq!((s.version.as_deref(), s.history[0].outcome.as_str()), (Some(OLD), "Recovered"));
    assert_eq!(deployment(&client, "demo", "core").await, (old_image("core"), 1));
    or_panic(wait_event(&client, NS, "demo", "UpgradeRecovered").await);

    // Again, and this time the migration succeeds but the new version never becomes
    // available (no kubelet): the health gate fails, and Harbor is stopped on the old
    // version's objects, with the restore of this upgrade's backup printed.
    patch_spec(&client, "demo", json!({"version": NEW})).await;
    let backup = backup_succeeds_after(&client, "demo", &backup).await;
    let s = wait_status(&client, "demo", "the second Migrate step", at_step(UpgradeStep::Migrate)).await;
    let job = s.upgrade.as_ref().and_then(|u| u.migration_job.clone()).unwrap_or_default();
    wait_job(&client, NS, &job).await;
    kubelet.stop().await;
    job_succeeded(&client, NS, &job, "migrate", None).await;
    wait_status(&client, "demo", "the HealthGate step", at_step(UpgradeStep::HealthGate)).await;
    assert_eq!(deployment(&client, "demo", "core").await.0, new_image("core"));
    patch_spec(&client, "demo", json!({"upgrade": {"timeout": "1s"}})).await;
    let s = wait_status(&client, "demo", "UpgradeFailed at the health gate", |s| s.phase.as_deref() == Some("UpgradeFailed")).await;
    let upgrade = s.upgrade.unwrap_or_else(|| panic!("no upgrade"));
    assert_eq!(upgrade.step, Some(UpgradeStep::HealthGate));
    assert!(upgrade.message.as_deref().is_some_and(|m| m.contains("not available within spec.upgrade.timeout 1s")), "{upgrade:?}");
    assert!(upgrade.restore.as_deref().is_some_and(|r| r.contains(&format!("backup: {backup}"))), "{upgrade:?}");
    or_panic(
        eventually("Harbor stopped on the old version after the health gate", || async {
            let core = deployment(&client, "demo", "core").await;
            let registry = deployment(&client, "demo", "registry").await;
            (core == (old_image("core"), 0) && registry.0 == old_image("registry")).then_some(())
        })
        .await,
    );
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS)"]
async fn failures_before_the_migration_return_to_the_old_version_by_themselves() {
    let (_plane, client, operator, kubelet) = installed_demo().await;

    // The backup fails: rolled back, nothing was stopped, and it is not tried again
    // until the spec changes.
    patch_spec(&client, "demo", json!({"version": NEW})).await;
    let backup = or_panic(eventually("the backup", || async { upgrade_backups(&client, "demo").await.into_iter().next() }).await);
    let name = backup.metadata.name.unwrap_or_default();
    let job = berth::controller::backup::jobs::job_name("demo-harbor", "backup", &name);
    wait_job(&client, NS, &job).await;
    job_failed(&client, NS, &job, "backup", None).await;
    let s = wait_status(&client, "demo", "rolled back", |s| s.upgrade.as_ref().is_some_and(|u| u.phase == UpgradePhase::RolledBack)).await;
    assert_eq!(s.version.as_deref(), Some(OLD));
    assert_eq!((s.history[0].outcome.as_str(), s.upgrade.and_then(|u| u.step)), ("RolledBack", Some(UpgradeStep::Backup)));
    or_panic(wait_event(&client, NS, "demo", "UpgradeRolledBack").await);
    or_panic(operator.settle(operator.context.metrics.reconciles()).await);
    assert_eq!(upgrade_backups(&client, "demo").await.len(), 1, "not retried on its own");
    assert_eq!(deployment(&client, "demo", "core").await, (old_image("core"), 1));

    // Tried again after a spec change, this time without a backup. The writers cannot
    // stop (no kubelet); once the timeout is short enough, it expires: rolled back again,
    // and the writers come back.
    kubelet.stop().await;
    patch_spec(&client, "demo", json!({"upgrade": {"backup": false}})).await;
    wait_status(&client, "demo", "the Quiesce step", at_step(UpgradeStep::Quiesce)).await;
    or_panic(
        eventually("core stopped while quiescing", || async { (deployment(&client, "demo", "core").await.1 == 0).then_some(()) }).await,
    );
    assert_eq!(status(&client, "demo").await.upgrade.and_then(|u| u.step), Some(UpgradeStep::Quiesce), "its pods are still there");
    patch_spec(&client, "demo", json!({"upgrade": {"timeout": "1s"}})).await;
    let s = wait_status(&client, "demo", "rolled back at Quiesce", |s| {
        s.upgrade.as_ref().is_some_and(|u| u.phase == UpgradePhase::RolledBack && u.step == Some(UpgradeStep::Quiesce))
    })
    .await;
    let message = s.upgrade.and_then(|u| u.message).unwrap_or_default();
    assert!(message.contains("did not stop within spec.upgrade.timeout 1s"), "{message}");
    or_panic(
        eventually("core back on the old version", || async {
            (deployment(&client, "demo", "core").await == (old_image("core"), 1)).then_some(())
        })
        .await,
    );
    assert!(migration_jobs(&client).await.is_empty(), "nothing migrated");

    // Changing spec.version back during an early step cancels cleanly.
    let _kubelet = Workloads::start(&client, NS);
    patch_spec(&client, "demo", json!({"upgrade": {"backup": true, "timeout": "30m"}})).await;
    wait_status(&client, "demo", "the Backup step again", at_step(UpgradeStep::Backup)).await;
    patch_spec(&client, "demo", json!({"version": OLD})).await;
    let s = wait_status(&client, "demo", "cancelled", |s| s.upgrade.is_none()).await;
    assert_eq!((s.version.as_deref(), s.history[0].outcome.as_str()), (Some(OLD), "Cancelled"));
    or_panic(wait_event(&client, NS, "demo", "UpgradeCancelled").await);
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS)"]
async fn refusals_a_closed_window_and_the_fleet_limit_hold_upgrades_back() {
    let (_plane, client) = plane().await;
    let operator = operator(&client, 1);
    let _kubelet = Workloads::start(&client, NS);
    for name in ["one", "two", "three"] {
        // Three in one namespace: each needs an expose Service of its own name.
        create_cluster(&client, name, json!({"upgrade": {"backup": false}, "expose": {"service": {"name": format!("{name}-harbor")}}}))
            .await;
    }
    for name in ["one", "two", "three"] {
        wait_status(&client, name, "installed", installed).await;
    }

    // A downgrade and a skipped minor: refused, with a condition and an Event.
    patch_spec(&client, "three", json!({"version": "2.13.1"})).await;
    let s = wait_status(&client, "three", "a refused downgrade", |s| s.upgrade.as_ref().is_some_and(|u| u.phase == UpgradePhase::Refused))
        .await;
    let condition = s.conditions.iter().find(|c| c.type_ == "Upgrade").cloned().unwrap_or_default();
    assert_eq!(condition.reason, "DowngradeRefused");
    assert!(condition.message.contains("restore the backup taken before the upgrade"), "{}", condition.message);
    assert_eq!(s.version.as_deref(), Some(OLD));
    or_panic(wait_event(&client, NS, "three", "DowngradeRefused").await);
    assert_eq!(deployment(&client, "three", "core").await.0, old_image("core"), "a refused upgrade changes nothing");

    // A window that is closed now: waiting, saying when it opens.
    let hour = (k8s_openapi::jiff::Timestamp::now().as_second() / 3600 + 12) % 24;
    patch_spec(&client, "three", json!({"version": NEW, "upgrade": {"backup": false, "window": format!("* {hour} * * *")}})).await;
    let s =
        wait_status(&client, "three", "waiting for the window", |s| s.upgrade.as_ref().is_some_and(|u| u.phase == UpgradePhase::Waiting))
            .await;
    let message = s.upgrade.and_then(|u| u.message).unwrap_or_default();
    assert!(message.contains("outside spec.upgrade.window") && message.contains(&format!("T{hour:02}:00:00")), "{message}");

    // --max-concurrent-upgrades 1: the second waits for the first.
    patch_spec(&client, "one", json!({"version": NEW})).await;
    wait_status(&client, "one", "one upgrading", |s| s.upgrade.as_ref().is_some_and(|u| u.phase == UpgradePhase::Running)).await;
    patch_spec(&client, "two", json!({"version": NEW})).await;
    let s = wait_status(&client, "two", "two waiting", |s| s.upgrade.as_ref().is_some_and(|u| u.phase == UpgradePhase::Waiting)).await;
    let message = s.upgrade.and_then(|u| u.message).unwrap_or_default();
    assert!(message.contains("registry/one") && message.contains("at most 1"), "{message}");
    let s = wait_status(&client, "one", "one migrating", at_step(UpgradeStep::Migrate)).await;
    assert_eq!(status(&client, "two").await.upgrade.map(|u| u.phase), Some(UpgradePhase::Waiting), "one at a time");
    let job = s.upgrade.and_then(|u| u.migration_job).unwrap_or_default();
    wait_job(&client, NS, &job).await;
    job_succeeded(&client, NS, &job, "migrate", None).await;
    wait_status(&client, "one", "one done", |s| s.version.as_deref() == Some(NEW) && s.upgrade.is_none()).await;
    let s = wait_status(&client, "two", "two migrating", at_step(UpgradeStep::Migrate)).await;
    let job = s.upgrade.and_then(|u| u.migration_job).unwrap_or_default();
    wait_job(&client, NS, &job).await;
    job_succeeded(&client, NS, &job, "migrate", None).await;
    wait_status(&client, "two", "two done", |s| s.version.as_deref() == Some(NEW) && s.upgrade.is_none()).await;
    let by_cluster: BTreeMap<String, usize> =
        migration_jobs(&client).await.into_iter().map(|j| j.metadata.name.unwrap_or_default()).fold(BTreeMap::new(), |mut seen, name| {
            *seen.entry(name.split('-').next().unwrap_or_default().to_owned()).or_default() += 1;
            seen
        });
    assert_eq!(by_cluster, BTreeMap::from([("one".to_owned(), 1), ("two".to_owned(), 1)]));
    // The closed window still holds three back.
    assert_eq!(status(&client, "three").await.upgrade.map(|u| u.phase), Some(UpgradePhase::Waiting));
    operator.stop().await;
}
