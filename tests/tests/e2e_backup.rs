//! Backups and restores against a real control plane. No kubelet runs here, so the test
//! plays the Job controller and the kubelet: it sets a Job's conditions and gives its pod
//! the termination message the backup container writes (the manifest), as the other
//! suites set readiness. What the Jobs run is proven against a real PostgreSQL in
//! `backup_postgres.rs`; this suite proves the orchestration: the Jobs Berth creates,
//! status that follows them, records, retention, schedules, and a restore into a new
//! namespace that brings the Secrets back and holds Harbor at zero until it completed.
//!
//! Ignored by default; `make e2e` runs it.

use std::collections::BTreeMap;

use berth::HarborCluster;
use berth::controller::Context;
use berth::controller::backup::escrow;
use berth::policy::{PluginSet, Snapshot};
use berth_api::backup::{BackupPhase, HarborBackup, HarborRestore, RestorePhase};
use berth_tests::control_plane::ControlPlane;
use berth_tests::kubelet::{job_failed, job_succeeded, set_ready, wait_job};
use berth_tests::operator::{Operator, eventually, fail, or_panic, wait_event};
use berth_tests::{read_example, shared_catalog};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const NS: &str = "registry";
const RECORDS: &str = "berth-system";
const SHA: &str = "4c4b5f6c1b0e9d1e3a7f1d2c5b8a9e0f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f";

async fn plane() -> Result<(ControlPlane, Client), String> {
    berth_tests::day_two::plane(&[NS, RECORDS, "restored", "elsewhere"]).await
}

fn operator(client: &Client) -> Operator {
    let plugins = std::sync::Arc::new(PluginSet::new(Snapshot::bundled(shared_catalog())));
    Operator::with_context(Context::new(client.clone(), plugins).with_records_namespace(RECORDS))
}

async fn create_cluster(client: &Client, namespace: &str, backup: Value) {
    let mut cluster = read_example("minimal.yaml");
    cluster.metadata.namespace = Some(namespace.to_owned());
    cluster.spec.backup = Some(serde_json::from_value(backup).unwrap_or_else(|e| panic!("{e}")));
    or_panic(
        Api::<HarborCluster>::namespaced(client.clone(), namespace)
            .create(&PostParams::default(), &cluster)
            .await
            .map(drop)
            .map_err(fail("cluster")),
    );
}

async fn create<K>(client: &Client, namespace: &str, object: Value)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let object: K = serde_json::from_value(object).unwrap_or_else(|e| panic!("{e}"));
    or_panic(
        Api::<K>::namespaced(client.clone(), namespace).create(&PostParams::default(), &object).await.map(drop).map_err(fail("create")),
    );
}

fn manifest() -> Value {
    json!({"format": 1, "harborVersion": "2.15.1", "database": "registry", "serverVersion": "15.18", "verified": true, "files": [
        {"name": "database.dump", "size": 1048576, "sha256": SHA},
        {"name": "secrets/demo-harbor-core/secretKey", "size": 16, "sha256": "a".repeat(64)},
    ]})
}

async fn wait_backup(client: &Client, namespace: &str, name: &str, phase: BackupPhase) -> HarborBackup {
    let api: Api<HarborBackup> = Api::namespaced(client.clone(), namespace);
    or_panic(
        eventually(&format!("HarborBackup {name} {}", phase.as_str()), || async {
            api.get_opt(name).await.ok()?.filter(|b| b.status.as_ref().is_some_and(|s| s.phase == phase))
        })
        .await,
    )
}

async fn secrets_of(client: &Client, namespace: &str) -> BTreeMap<String, BTreeMap<String, Vec<u8>>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let list = or_panic(api.list(&ListParams::default().labels("berth.dev/generated=true")).await.map_err(fail("secrets")));
    list.items
        .into_iter()
        .map(|s| (s.metadata.name.unwrap_or_default(), s.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect()))
        .collect()
}

/// The five generated Secrets of the in-cluster-database cluster, once all exist.
async fn all_generated(client: &Client, namespace: &str) -> BTreeMap<String, BTreeMap<String, Vec<u8>>> {
    or_panic(eventually("the generated Secrets", || async { Some(secrets_of(client, namespace).await).filter(|s| s.len() == 5) }).await)
}

/// Compares Secrets by name and key, naming what differs (never printing a value).
fn assert_same_secrets(
    found: &BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    expected: &BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    what: &str,
) {
    let keys = |s: &BTreeMap<String, BTreeMap<String, Vec<u8>>>| {
        s.iter().flat_map(|(n, d)| d.keys().map(move |k| format!("{n}/{k}"))).collect::<Vec<_>>()
    };
    assert_eq!(keys(found), keys(expected), "{what}: other Secrets or keys");
    for (name, data) in expected {
        for (key, value) in data {
            assert!(found[name].get(key) == Some(value), "{what}: {name}/{key} differs");
        }
    }
}

fn env(job: &Job, container: &str) -> BTreeMap<String, String> {
    let pod = job.spec.as_ref().and_then(|s| s.template.spec.clone()).unwrap_or_default();
    let all = pod.containers.iter().chain(pod.init_containers.iter().flatten());
    let found = all.filter(|c| c.name == container).flat_map(|c| c.env.clone().unwrap_or_default());
    found.map(|e| (e.name, e.value.unwrap_or_else(|| "<from a Secret>".to_owned()))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS)"]
async fn backups_run_their_jobs_fail_truthfully_expire_and_follow_a_schedule() {
    let (_plane, client) = or_panic(plane().await);
    let operator = operator(&client);
    create_cluster(&client, NS, json!({"keep": 1, "destination": {"volume": {}}, "volumeSnapshotClass": "csi-snapshots"})).await;
    let before = all_generated(&client, NS).await;

    // On demand: the Job the plugin renders, owned by the HarborBackup, with the mounts.
    create::<HarborBackup>(&client, NS, json!({"metadata": {"name": "b1"}, "spec": {"cluster": "demo"}})).await;
    let job = wait_job(&client, NS, "demo-harbor-backup-b1").await;
    let owner = job.metadata.owner_references.clone().unwrap_or_default();
    assert!(owner.iter().any(|o| o.kind == "HarborBackup" && o.name == "b1" && o.controller == Some(true)), "{owner:?}");
    let pod = job.spec.as_ref().and_then(|s| s.template.spec.clone()).unwrap_or_default();
    assert_eq!(pod.automount_service_account_token, Some(false));
    assert_eq!(pod.security_context.as_ref().and_then(|s| s.run_as_user), Some(999));
    let container = &pod.containers[0];
    assert_eq!(container.image.as_deref(), Some("docker.io/goharbor/harbor-db:v2.15.1"));
    assert_eq!(container.security_context.as_ref().and_then(|s| s.run_as_non_root), Some(true));
    let vars = env(&job, "backup");
    assert_eq!(vars.get("PGHOST").map(String::as_str), Some("demo-harbor-database"));
    assert_eq!(vars.get("BACKUP_PATH").map(String::as_str), Some("registry/demo/b1"));
    assert_eq!(vars.get("PGPASSWORD").map(String::as_str), Some("<from a Secret>"));
    let volumes = pod.volumes.clone().unwrap_or_default();
    assert!(volumes.iter().any(|v| v.persistent_volume_claim.as_ref().is_some_and(|c| c.claim_name == "demo-harbor-backup")));
    let mounted: Vec<String> = volumes.iter().filter_map(|v| v.secret.as_ref()?.secret_name.clone()).collect();
    for name in before.keys() {
        assert!(mounted.contains(name), "{name} is not mounted: {mounted:?}");
    }
    let running = wait_backup(&client, NS, "b1", BackupPhase::Running).await;
    assert_eq!(running.status.as_ref().and_then(|s| s.location.as_deref()), Some("pvc/demo-harbor-backup/registry/demo/b1"));
    // The registry's claim snapshotted beside it, owned by the backup as well.
    let snapshots = Api::<kube::api::DynamicObject>::namespaced_with(
        client.clone(),
        NS,
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("snapshot.storage.k8s.io", "v1", "VolumeSnapshot"),
            "volumesnapshots",
        ),
    );
    let snapshot = or_panic(snapshots.get("demo-harbor-backup-b1-registry").await.map_err(fail("the VolumeSnapshot")));
    assert_eq!(
        snapshot.data["spec"],
        json!({"volumeSnapshotClassName": "csi-snapshots", "source": {"persistentVolumeClaimName": "demo-harbor-registry"}})
    );
    assert!(snapshot.metadata.owner_references.unwrap_or_default().iter().any(|o| o.kind == "HarborBackup" && o.name == "b1"));
    let blobs = running.status.as_ref().and_then(|s| s.blobs.clone()).unwrap_or_default();
    assert!(blobs.contains("VolumeSnapshot demo-harbor-backup-b1-registry"), "{blobs}");
    // The record beside the operator holds the generated Secrets as they are.
    let record = or_panic(
        eventually("the backup's record", || async {
            let secret = Api::<Secret>::namespaced(client.clone(), RECORDS).get_opt(&escrow::record_name(NS, "b1")).await.ok()??;
            serde_json::from_slice::<escrow::Record>(&secret.data?.get("record.json")?.0).ok()
        })
        .await,
    );
    assert_eq!(record.secrets["core"].get("secretKey").map(|v| v.0.clone()), before["demo-harbor-core"].get("secretKey").cloned());
    assert_eq!(record.dump_sha256, None);

    // The Job succeeds and leaves its manifest: the backup is Complete with what it holds.
    job_succeeded(&client, NS, "demo-harbor-backup-b1", "backup", Some(&manifest().to_string())).await;
    let complete = wait_backup(&client, NS, "b1", BackupPhase::Complete).await;
    let status = complete.status.clone().unwrap_or_default();
    assert_eq!(status.size.as_deref(), Some("1.0 MiB"));
    assert_eq!(status.manifest.as_ref().map(|m| m.files.len()), Some(2));
    assert!(status.completion_time.is_some() && status.blobs.as_deref().is_some_and(|b| b.contains("VolumeSnapshot")));
    or_panic(wait_event(&client, NS, "b1", "BackupComplete").await);
    let described = berth::backup_cli::describe(&complete);
    assert!(described.contains("database.dump") && described.contains(SHA), "{described}");

    // A failed Job: the backup says so and why; the cluster and its Secrets are untouched.
    let generation =
        or_panic(Api::<HarborCluster>::namespaced(client.clone(), NS).get("demo").await.map_err(fail("cluster"))).metadata.generation;
    create::<HarborBackup>(&client, NS, json!({"metadata": {"name": "b2"}, "spec": {"cluster": "demo"}})).await;
    wait_job(&client, NS, "demo-harbor-backup-b2").await;
    job_failed(&client, NS, "demo-harbor-backup-b2", "backup", None).await;
    let failed = wait_backup(&client, NS, "b2", BackupPhase::Failed).await;
    let condition = failed.status.as_ref().map(|s| s.conditions[0].message.clone()).unwrap_or_default();
    assert!(condition.contains("BackoffLimitExceeded") && condition.contains("not changed"), "{condition}");
    assert_same_secrets(&secrets_of(&client, NS).await, &before, "after a failed backup");
    let after = or_panic(Api::<HarborCluster>::namespaced(client.clone(), NS).get("demo").await.map_err(fail("cluster")));
    assert_eq!(after.metadata.generation, generation);
    or_panic(wait_event(&client, NS, "b2", "BackupFailed").await);

    // keep: 1. A newer complete backup expires b1: its files go (a deletion Job), then
    // its record and its HarborBackup. The failed one, older than what is kept, goes too.
    create::<HarborBackup>(&client, NS, json!({"metadata": {"name": "b3"}, "spec": {"cluster": "demo"}})).await;
    wait_job(&client, NS, "demo-harbor-backup-b3").await;
    job_succeeded(&client, NS, "demo-harbor-backup-b3", "backup", Some(&manifest().to_string())).await;
    wait_backup(&client, NS, "b3", BackupPhase::Complete).await;
    let deletion = wait_job(&client, NS, "demo-harbor-backup-delete-b1").await;
    assert_eq!(deletion.metadata.owner_references, None, "a deletion outlives its HarborBackup");
    assert_eq!(deletion.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished), Some(3600));
    assert_eq!(env(&deletion, "delete").get("BACKUP_PATH").map(String::as_str), Some("registry/demo/b1"));
    let backups: Api<HarborBackup> = Api::namespaced(client.clone(), NS);
    or_panic(
        eventually("b1 and b2 gone, b3 kept", || async {
            let names: Vec<String> =
                backups.list(&ListParams::default()).await.ok()?.items.into_iter().filter_map(|b| b.metadata.name).collect();
            (names == ["b3"]).then_some(())
        })
        .await,
    );
    assert!(
        or_panic(Api::<Secret>::namespaced(client.clone(), RECORDS).get_opt(&escrow::record_name(NS, "b1")).await.map_err(fail("record")))
            .is_none()
    );

    // A schedule creates a HarborBackup of its own (every minute here), labelled as such.
    let clusters: Api<HarborCluster> = Api::namespaced(client.clone(), NS);
    let patch = json!({"spec": {"backup": {"keep": 1, "schedule": "* * * * *", "destination": {"volume": {}}}}});
    or_panic(clusters.patch("demo", &PatchParams::default(), &Patch::Merge(&patch)).await.map(drop).map_err(fail("schedule")));
    let scheduled = or_panic(
        eventually("a scheduled HarborBackup", || async {
            let list = backups.list(&ListParams::default().labels("berth.dev/scheduled=true")).await.ok()?;
            list.items.into_iter().next()
        })
        .await,
    );
    let name = scheduled.metadata.name.clone().unwrap_or_default();
    assert!(name.starts_with("demo-2"), "{name}");
    assert_eq!(scheduled.spec.cluster, "demo");
    or_panic(wait_event(&client, NS, "demo", "BackupScheduled").await);
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS)"]
async fn a_restore_into_a_new_namespace_brings_the_secrets_back_and_holds_harbor_until_it_completed() {
    let (_plane, client) = or_panic(plane().await);
    let operator = operator(&client);
    create_cluster(&client, NS, json!({"destination": {"volume": {}}, "restoreInto": ["restored"]})).await;
    let originals = all_generated(&client, NS).await;
    create::<HarborBackup>(&client, NS, json!({"metadata": {"name": "b1"}, "spec": {"cluster": "demo"}})).await;
    wait_job(&client, NS, "demo-harbor-backup-b1").await;
    job_succeeded(&client, NS, "demo-harbor-backup-b1", "backup", Some(&manifest().to_string())).await;
    wait_backup(&client, NS, "b1", BackupPhase::Complete).await;

    // A namespace the backup's cluster did not name is refused, and nothing is made there.
    create::<HarborRestore>(
        &client,
        "elsewhere",
        json!({"metadata": {"name": "r0"}, "spec": {"cluster": "demo", "backup": "b1", "backupNamespace": NS}}),
    )
    .await;
    create_cluster(&client, "elsewhere", json!({"destination": {"volume": {}}})).await;
    let refused = or_panic(
        eventually("r0 refused", || async {
            let r = Api::<HarborRestore>::namespaced(client.clone(), "elsewhere").get_opt("r0").await.ok()??;
            r.status.filter(|s| s.phase == RestorePhase::Refused)
        })
        .await,
    );
    assert!(refused.conditions[0].message.contains("restoreInto"), "{:?}", refused.conditions);

    // The restore first, then the cluster: its Secrets come from the backup, identical,
    // and core, jobservice and registry stay at zero replicas while the Job runs.
    create::<HarborRestore>(
        &client,
        "restored",
        json!({"metadata": {"name": "r1"}, "spec": {"cluster": "demo", "backup": "b1", "backupNamespace": NS}}),
    )
    .await;
    create_cluster(&client, "restored", json!({"destination": {"volume": {}}})).await;
    let job = wait_job(&client, "restored", "demo-harbor-restore-r1").await;
    assert_eq!(env(&job, "restore").get("DUMP_SHA256").map(String::as_str), Some(SHA));
    assert_eq!(env(&job, "restore").get("BACKUP_PATH").map(String::as_str), Some("registry/demo/b1"));
    assert_same_secrets(&secrets_of(&client, "restored").await, &originals, "the restored Secrets");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "restored");
    for component in ["core", "jobservice", "registry"] {
        let name = format!("demo-harbor-{component}");
        let replicas =
            or_panic(eventually(&name, || async { deployments.get_opt(&name).await.ok()?.and_then(|d| d.spec?.replicas) }).await);
        assert_eq!(replicas, 0, "{name} runs during the restore");
    }
    let restoring = or_panic(Api::<HarborRestore>::namespaced(client.clone(), "restored").get("r1").await.map_err(fail("r1")));
    assert_eq!(restoring.status.map(|s| s.phase), Some(RestorePhase::Restoring));

    // The Job completes: the restore is Complete and the components start.
    job_succeeded(&client, "restored", "demo-harbor-restore-r1", "restore", None).await;
    or_panic(
        eventually("r1 complete", || async {
            let r = Api::<HarborRestore>::namespaced(client.clone(), "restored").get_opt("r1").await.ok()??;
            r.status.filter(|s| s.phase == RestorePhase::Complete)
        })
        .await,
    );
    or_panic(
        eventually("core scaled up", || async {
            let replicas = deployments.get_opt("demo-harbor-core").await.ok()??.spec?.replicas?;
            (replicas > 0).then_some(())
        })
        .await,
    );
    assert_same_secrets(&secrets_of(&client, "restored").await, &originals, "after the restore");

    // Back in the first namespace, over the Harbor that runs there: refused without
    // overwrite; with it, Harbor is stopped first and the restore runs once it stopped.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    set_ready(&deployments, "demo-harbor-core", 1).await;
    create::<HarborRestore>(&client, NS, json!({"metadata": {"name": "r2"}, "spec": {"cluster": "demo", "backup": "b1"}})).await;
    let refused = wait_restore(&client, NS, "r2", RestorePhase::Refused).await;
    assert!(refused.conditions[0].message.contains("overwrite"), "{:?}", refused.conditions);
    create::<HarborRestore>(
        &client,
        NS,
        json!({"metadata": {"name": "r3"}, "spec": {"cluster": "demo", "backup": "b1", "overwrite": true}}),
    )
    .await;
    or_panic(
        eventually("core held at zero for the overwrite", || async {
            (deployments.get_opt("demo-harbor-core").await.ok()??.spec?.replicas? == 0).then_some(())
        })
        .await,
    );
    let jobs: Api<Job> = Api::namespaced(client.clone(), NS);
    assert!(or_panic(jobs.get_opt("demo-harbor-restore-r3").await.map_err(fail("job"))).is_none(), "the restore ran while core served");
    set_ready(&deployments, "demo-harbor-core", 0).await;
    wait_job(&client, NS, "demo-harbor-restore-r3").await;
    job_succeeded(&client, NS, "demo-harbor-restore-r3", "restore", None).await;
    wait_restore(&client, NS, "r3", RestorePhase::Complete).await;
    assert_same_secrets(&secrets_of(&client, NS).await, &originals, "after restoring over the running cluster");
    operator.stop().await;
}

/// What the Deployment controller would report: `ready` replicas ready.
async fn wait_restore(client: &Client, namespace: &str, name: &str, phase: RestorePhase) -> berth_api::backup::HarborRestoreStatus {
    or_panic(
        eventually(&format!("HarborRestore {name} {}", phase.as_str()), || async {
            let r = Api::<HarborRestore>::namespaced(client.clone(), namespace).get_opt(name).await.ok()??;
            r.status.filter(|s| s.phase == phase)
        })
        .await,
    )
}
