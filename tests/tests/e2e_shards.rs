//! Sharding (`berth run --shards M`) with `berth run` processes on a real control plane,
//! as deploy/rbac.yaml's ServiceAccount: two shards split the fleet and a standby takes
//! over a killed replica's shard; changing the shard count under load hands every
//! cluster over with one writer at a time. Each cluster's status names the shard that
//! wrote it (`status.shard`), which is the writer identity the tests follow.
//!
//! Ignored by default; `make e2e` runs it (and builds the `berth` binary it starts).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use berth::HarborCluster;
use berth::controller::shard::Shard;
use berth_tests::berth_process::{BerthProcess, Launcher};
use berth_tests::control_plane::ControlPlane;
use berth_tests::operator::{apply_deploy_file, eventually, fail, install_crd, or_panic};
use berth_tests::read_example;
use futures::StreamExt as _;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Client, ResourceExt as _};
use serde_json::json;

const OPERATOR_NS: &str = "berth-system";
/// Clusters in the fleet, one per namespace (`fleet-N`, each named `demo`).
const FLEET: usize = 6;

async fn plane() -> Result<(ControlPlane, Client), String> {
    let plane = ControlPlane::start(false).await?;
    let admin = plane.client()?;
    apply_deploy_file(&admin, "namespace.yaml").await?;
    apply_deploy_file(&admin, "rbac.yaml").await?;
    install_crd(&admin, berth::crd::harbor_cluster_crd_yaml()).await?;
    for i in 0..FLEET {
        let namespace: Namespace =
            serde_json::from_value(json!({"metadata": {"name": format!("fleet-{i}")}})).map_err(fail("namespace"))?;
        Api::<Namespace>::all(admin.clone()).create(&PostParams::default(), &namespace).await.map_err(fail("namespace"))?;
    }
    let clusters: Api<HarborCluster> = Api::all(admin.clone());
    eventually("the CRD to be served", || async { clusters.list(&ListParams::default()).await.ok() }).await?;
    Ok((plane, admin))
}

async fn create_fleet(admin: &Client) -> Result<(), String> {
    for i in 0..FLEET {
        let namespace = format!("fleet-{i}");
        let mut cluster = read_example("minimal.yaml");
        cluster.metadata.namespace = Some(namespace.clone());
        Api::<HarborCluster>::namespaced(admin.clone(), &namespace)
            .create(&PostParams::default(), &cluster)
            .await
            .map_err(fail("creating a HarborCluster"))?;
    }
    Ok(())
}

/// Every cluster's status is of its current generation and written by the shard of
/// `count` its uid falls in.
async fn fleet_reconciled_by(admin: &Client, count: u32) -> Option<()> {
    let clusters = Api::<HarborCluster>::all(admin.clone()).list(&ListParams::default()).await.ok()?;
    if clusters.items.len() != FLEET {
        return None;
    }
    clusters
        .items
        .iter()
        .all(|hc| {
            let want = format!("{}/{count}", Shard::of(hc.uid().as_deref().unwrap_or_default(), count));
            hc.status.as_ref().is_some_and(|s| s.observed_generation == hc.metadata.generation && s.shard.as_deref() == Some(want.as_str()))
        })
        .then_some(())
}

/// Sets every cluster's core replicas: a new generation each cluster's shard must apply.
async fn change_fleet(admin: &Client, replicas: u32) -> Result<(), String> {
    let patch = json!({"spec": {"core": {"replicas": replicas}}});
    for i in 0..FLEET {
        Api::<HarborCluster>::namespaced(admin.clone(), &format!("fleet-{i}"))
            .patch("demo", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(fail("changing a HarborCluster"))?;
    }
    Ok(())
}

async fn holder(admin: &Client, lease: &str) -> Option<String> {
    let lease = Api::<Lease>::namespaced(admin.clone(), OPERATOR_NS).get_opt(lease).await.ok()??;
    lease.spec?.holder_identity.filter(|h| !h.is_empty())
}

fn reconciles(process: &BerthProcess) -> u64 {
    process.metric("berth_reconciles_total").and_then(|v| v.parse().ok()).unwrap_or_default()
}

fn logs(processes: &[&BerthProcess]) -> String {
    processes.iter().map(|p| p.log()).collect()
}

/// Panics with every process's log when `result` is an error.
fn or_logs<T>(result: Result<T, String>, processes: &[&BerthProcess]) -> T {
    result.unwrap_or_else(|e| panic!("{e}\n{}", logs(processes)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS)"]
async fn two_shards_split_the_fleet_and_a_standby_takes_over_a_killed_replica() {
    let (plane, admin) = or_panic(plane().await);
    let launcher = or_panic(Launcher::new(&plane));
    let start = |identity: &str| launcher.start(identity, &["--shards", "2"]);

    let mut first = or_panic(start("replica-a"));
    let mut second = or_panic(start("replica-b"));
    let both_held = || async {
        let held = (holder(&admin, "berth-shard-0-of-2").await?, holder(&admin, "berth-shard-1-of-2").await?);
        (held.0 != held.1).then_some(held)
    };
    or_logs(eventually("both shard Leases held", both_held).await, &[&first, &second]);
    let standby = or_panic(start("replica-c"));
    or_panic(create_fleet(&admin).await);
    or_logs(eventually("every cluster reconciled by its shard of 2", || fleet_reconciled_by(&admin, 2)).await, &[&first, &second]);
    // Both shards had clusters (with six uids, a shard left empty would prove little).
    let clusters = or_panic(Api::<HarborCluster>::all(admin.clone()).list(&ListParams::default()).await.map_err(fail("list")));
    let in_shard_one = clusters.items.iter().filter(|hc| Shard::of(hc.uid().as_deref().unwrap_or_default(), 2) == 1).count();
    assert!(in_shard_one > 0 && in_shard_one < FLEET, "all six clusters fell in one shard; the test proves nothing");
    let standby_metrics = eventually("the standby's /metrics", || async { standby.metric("berth_leader") }).await;
    assert_eq!(or_panic(standby_metrics), "0", "the standby leads");
    assert_eq!(reconciles(&standby), 0, "the standby reconciled");

    // Shard 1's replica dies without releasing its Lease.
    let shard_one = or_panic(holder(&admin, "berth-shard-1-of-2").await.ok_or_else(|| "no holder of shard 1".to_owned()));
    let (dead, alive) = if shard_one == first.identity { (&mut first, &second) } else { (&mut second, &first) };
    dead.kill();
    or_panic(change_fleet(&admin, 2).await);
    let processes = [alive, &standby];
    or_logs(
        eventually("the standby to hold shard 1", || async {
            (holder(&admin, "berth-shard-1-of-2").await? == standby.identity).then_some(())
        })
        .await,
        &processes,
    );
    or_logs(eventually("every cluster at its new generation", || fleet_reconciled_by(&admin, 2)).await, &processes);
    assert!(reconciles(&standby) > 0, "the standby took the Lease but reconciled nothing");
}

/// What `status.shard` each cluster showed, in order, with repeats folded.
type Writers = Arc<Mutex<BTreeMap<String, Vec<String>>>>;

fn record_writers(admin: &Client) -> (Writers, tokio::task::JoinHandle<()>) {
    let writers: Writers = Arc::default();
    let feed = writers.clone();
    let stream = watcher(Api::<HarborCluster>::all(admin.clone()), watcher::Config::default()).default_backoff().applied_objects();
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            let Ok(hc) = event else { continue };
            let Some(shard) = hc.status.as_ref().and_then(|s| s.shard.clone()) else { continue };
            let key = format!("{}/{}", hc.namespace().unwrap_or_default(), hc.name_any());
            if let Ok(mut writers) = feed.lock() {
                let seen = writers.entry(key).or_default();
                if seen.last() != Some(&shard) {
                    seen.push(shard);
                }
            }
        }
    });
    (writers, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS)"]
async fn changing_the_shard_count_under_load_hands_over_with_one_writer_at_a_time() {
    let (plane, admin) = or_panic(plane().await);
    let launcher = or_panic(Launcher::new(&plane));
    let start = |identity: &str, count: &str| launcher.start(identity, &["--shards", count]);

    let mut old = [or_panic(start("two-a", "2")), or_panic(start("two-b", "2"))];
    or_panic(create_fleet(&admin).await);
    or_logs(eventually("every cluster reconciled by its shard of 2", || fleet_reconciled_by(&admin, 2)).await, &[&old[0], &old[1]]);
    let (writers, recorder) = record_writers(&admin);

    // Load: a new generation on every cluster, over and over, while the count changes.
    let load = {
        let admin = admin.clone();
        tokio::spawn(async move {
            for round in 0u32.. {
                if let Err(e) = change_fleet(&admin, 1 + round % 2).await {
                    eprintln!("load: {e}");
                }
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
        })
    };
    let new = [or_panic(start("three-a", "3")), or_panic(start("three-b", "3")), or_panic(start("three-c", "3"))];
    let everyone = [&old[0], &old[1], &new[0], &new[1], &new[2]];
    // The replicas of 3 take their shard Leases, then wait for the count of 2 to go.
    or_logs(
        eventually("the three shard Leases of 3 held", || async {
            for i in 0..3 {
                holder(&admin, &format!("berth-shard-{i}-of-3")).await?;
            }
            Some(())
        })
        .await,
        &everyone,
    );
    // Overlap: both counts' replicas run while the load goes on; only the count in
    // force may reconcile.
    let before = reconciles(&old[0]) + reconciles(&old[1]);
    or_logs(
        eventually("the replicas of 2 to reconcile a few more rounds", || async {
            (reconciles(&old[0]) + reconciles(&old[1]) >= before + 2 * FLEET as u64).then_some(())
        })
        .await,
        &everyone,
    );
    for replica in &new {
        assert_eq!(reconciles(replica), 0, "{} reconciled while the count of 2 was in force\n{}", replica.identity, logs(&everyone));
        assert_eq!(replica.metric("berth_leader").as_deref(), Some("0"), "{} leads", replica.identity);
    }

    // The rolling update stops the old replicas; the new count takes over.
    for replica in &mut old {
        let status = or_panic(replica.terminate().await);
        assert!(status.success(), "{} exited with {status}", replica.identity);
    }
    let new_only = [&new[0], &new[1], &new[2]];
    or_logs(
        eventually("the count of 3 in force", || async { (holder(&admin, "berth-shards").await? == "3").then_some(()) }).await,
        &new_only,
    );
    load.abort();
    or_logs(eventually("every cluster reconciled by its shard of 3", || fleet_reconciled_by(&admin, 3)).await, &new_only);
    recorder.abort();

    // Each cluster had one writer at a time: its shard of 2, then its shard of 3, never
    // back and forth.
    let writers = writers.lock().map(|w| w.clone()).unwrap_or_default();
    let clusters = or_panic(Api::<HarborCluster>::all(admin.clone()).list(&ListParams::default()).await.map_err(fail("list")));
    assert_eq!(writers.len(), FLEET, "writers seen: {writers:?}");
    for hc in &clusters.items {
        let uid = hc.uid().unwrap_or_default();
        let key = format!("{}/{}", hc.namespace().unwrap_or_default(), hc.name_any());
        let expected = vec![format!("{}/2", Shard::of(&uid, 2)), format!("{}/3", Shard::of(&uid, 3))];
        assert_eq!(writers.get(&key), Some(&expected), "{key}: the writers of its status, in order");
    }
}
