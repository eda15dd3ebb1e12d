//! Leader election (`berth run --leader-election`) against a real API server, as the
//! ServiceAccount of deploy/rbac.yaml: its Role must be enough. In the first tests the
//! replicas are `LeaderElector`s in the test process, each with its own identity, and
//! what they do while leading stands in for the controller; the last runs two `berth run`
//! processes and stops the leader with SIGTERM, as a rolling update would.
//!
//! Ignored by default; `make e2e` runs it (and builds the `berth` binary it starts).

use std::time::Duration;

use berth::HarborCluster;
use berth::controller::leader::{LeaderElector, LeaderError, LeaseConfig};
use berth_tests::berth_process::{BerthProcess, Launcher};
use berth_tests::control_plane::ControlPlane;
use berth_tests::operator::{PATIENCE, apply_deploy_file, eventually, fail, install_crd, or_panic, service_account_client};
use berth_tests::read_example;
use futures::channel::oneshot;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};

const NS: &str = "berth-system";
const LEASE: &str = "berth-operator";

/// A control plane with deploy/'s namespace and RBAC; the admin client and the
/// ServiceAccount's.
async fn plane() -> Result<(ControlPlane, Client, Client), String> {
    let plane = ControlPlane::start(false).await?;
    let admin = plane.client()?;
    apply_deploy_file(&admin, "namespace.yaml").await?;
    apply_deploy_file(&admin, "rbac.yaml").await?;
    let operator = service_account_client(&plane).await?;
    Ok((plane, admin, operator))
}

fn replica(client: &Client, identity: &str, lease_duration: Duration) -> LeaderElector {
    let mut config = LeaseConfig::new(NS, LEASE, identity);
    config.lease_duration = lease_duration;
    config.renew_deadline = lease_duration * 2 / 3;
    config.retry_every = Duration::from_millis(250);
    LeaderElector::new(client.clone(), config)
}

async fn lease(admin: &Client) -> Result<(Option<String>, i32), String> {
    let lease = Api::<Lease>::namespaced(admin.clone(), NS).get(LEASE).await.map_err(fail("reading the Lease"))?;
    let spec = lease.spec.unwrap_or_default();
    Ok((spec.holder_identity, spec.lease_transitions.unwrap_or(0)))
}

/// A replica leading until told to stop; its work's outcome comes back on the handle.
fn lead_until_stopped(mut elector: LeaderElector) -> (oneshot::Sender<()>, tokio::task::JoinHandle<Result<(), LeaderError>>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        elector
            .lead(async move {
                let _ = stopped.await;
            })
            .await
    });
    (stop, task)
}

type Standby = tokio::task::JoinHandle<(LeaderElector, Result<(), LeaderError>)>;

/// replica-a leading until told to stop (or aborted), and replica-b trying to take over.
async fn leader_and_standby(
    client: &Client,
    lease_duration: Duration,
) -> Result<(oneshot::Sender<()>, tokio::task::JoinHandle<Result<(), LeaderError>>, Standby), String> {
    let mut first = replica(client, "replica-a", lease_duration);
    tokio::time::timeout(PATIENCE, first.acquire()).await.map_err(fail("replica-a acquiring a free Lease"))?.map_err(fail("acquire"))?;
    let (stop_first, first_task) = lead_until_stopped(first);
    let mut second = replica(client, "replica-b", lease_duration);
    let standby = tokio::spawn(async move {
        let acquired = second.acquire().await;
        (second, acquired)
    });
    Ok((stop_first, first_task, standby))
}

/// The standby once it holds the Lease.
async fn taken_over(standby: Standby, what: &str) -> Result<LeaderElector, String> {
    let (second, acquired) = tokio::time::timeout(PATIENCE, standby).await.map_err(fail(what))?.map_err(fail("replica-b's task"))?;
    acquired.map_err(fail("replica-b acquiring"))?;
    Ok(second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS)"]
async fn a_standby_waits_while_the_leader_renews_and_takes_over_when_it_steps_down() {
    let (_plane, admin, operator) = or_panic(plane().await);
    // A lease far longer than the test: only the leader's release can explain a handover.
    let (stop_first, first_task, standby) = or_panic(leader_and_standby(&operator, Duration::from_secs(120)).await);
    // Several of replica-a's renewals and replica-b's attempts go by.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!standby.is_finished(), "replica-b took a Lease replica-a holds");
    assert_eq!(or_panic(lease(&admin).await), (Some("replica-a".to_owned()), 0));

    let _ = stop_first.send(());
    or_panic(or_panic(first_task.await.map_err(fail("replica-a's task"))).map_err(fail("replica-a stepping down")));
    or_panic(taken_over(standby, "replica-b taking over a released Lease").await);
    assert_eq!(or_panic(lease(&admin).await), (Some("replica-b".to_owned()), 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS)"]
async fn a_crashed_leader_is_replaced_after_its_lease_and_a_usurped_one_stops() {
    let (_plane, admin, operator) = or_panic(plane().await);
    // Long enough that a busy machine's scheduling stalls (seconds, under load) cannot
    // pass for a missed renewal: renewals run every 250 ms.
    let lease_duration = Duration::from_secs(10);
    let (_keep_leading, first_task, standby) = or_panic(leader_and_standby(&operator, lease_duration).await);
    // Twice the lease duration: renewals, not luck, keep replica-b out.
    tokio::time::sleep(lease_duration * 2).await;
    assert!(!standby.is_finished(), "replica-b took the Lease while replica-a was renewing it");

    // A crash: replica-a stops renewing and never releases.
    first_task.abort();
    let second = or_panic(taken_over(standby, "replica-b taking over an expired Lease").await);
    assert_eq!(or_panic(lease(&admin).await), (Some("replica-b".to_owned()), 1));

    // Someone else writes themselves into the Lease: replica-b must stop its work.
    let (_keep_leading, second_task) = lead_until_stopped(second);
    let leases: Api<Lease> = Api::namespaced(admin.clone(), NS);
    or_panic(
        leases
            .patch(LEASE, &PatchParams::default(), &Patch::Merge(serde_json::json!({"spec": {"holderIdentity": "intruder"}})))
            .await
            .map_err(fail("writing another holder into the Lease")),
    );
    let outcome = or_panic(
        tokio::time::timeout(PATIENCE, second_task)
            .await
            .map_err(fail("replica-b noticing it lost the Lease"))
            .and_then(|joined| joined.map_err(fail("replica-b's task"))),
    );
    match outcome {
        Err(LeaderError::TakenBy(holder)) => assert_eq!(holder, "intruder"),
        other => panic!("replica-b went on leading: {other:?}"),
    }
    // It stopped without writing the Lease back.
    let (holder, _) = or_panic(eventually("the Lease to settle", || async { lease(&admin).await.ok() }).await);
    assert_eq!(holder.as_deref(), Some("intruder"));
}

/// `berth`, built beside this test (`make e2e` builds it first).
fn logs(replicas: &[&BerthProcess]) -> String {
    replicas.iter().map(|r| r.log()).collect()
}

async fn harbor_cluster(admin: &Client, name: &str) -> Result<(), String> {
    let mut cluster = read_example("minimal.yaml");
    cluster.metadata.name = Some(name.to_owned());
    cluster.metadata.namespace = Some("registry".to_owned());
    Api::<HarborCluster>::namespaced(admin.clone(), "registry")
        .create(&PostParams::default(), &cluster)
        .await
        .map_err(fail("creating a HarborCluster"))
        .map(drop)
}

async fn portal_applied(admin: &Client, cluster: &str) -> Option<()> {
    Api::<Deployment>::namespaced(admin.clone(), "registry").get_opt(&format!("{cluster}-harbor-portal")).await.ok()?.map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS)"]
async fn two_berth_processes_one_reconciles_and_sigterm_hands_over() {
    let (plane, admin, _) = or_panic(plane().await);
    or_panic(install_crd(&admin, berth::crd::harbor_cluster_crd_yaml()).await);
    let namespace: Namespace =
        or_panic(serde_json::from_value(serde_json::json!({"metadata": {"name": "registry"}})).map_err(fail("namespace")));
    or_panic(Api::<Namespace>::all(admin.clone()).create(&PostParams::default(), &namespace).await.map_err(fail("namespace")));
    // The processes act as deploy/rbac.yaml's ServiceAccount, by impersonation.
    let launcher = or_panic(Launcher::new(&plane));
    let start = |identity: &str| launcher.start(identity, &["--leader-election", "--leader-election-namespace", NS]);

    let mut first = or_panic(start("replica-a"));
    let held_by = |who: &'static str| {
        let admin = admin.clone();
        move || {
            let admin = admin.clone();
            async move { (lease(&admin).await.ok()?.0.as_deref() == Some(who)).then_some(()) }
        }
    };
    if let Err(e) = eventually("replica-a to lead", held_by("replica-a")).await {
        panic!("{e}\n{}", first.log());
    }
    let mut second = or_panic(start("replica-b"));
    or_panic(harbor_cluster(&admin, "first").await);
    if let Err(e) = eventually("the leader to reconcile", || portal_applied(&admin, "first")).await {
        panic!("{e}\n{}", logs(&[&first, &second]));
    }
    assert_eq!(or_panic(lease(&admin).await).0.as_deref(), Some("replica-a"), "replica-b took over a live leader");
    assert!(second.running(), "the standby exited\n{}", logs(&[&first, &second]));
    // Monitoring sees exactly one leader.
    assert_eq!(first.metric("berth_leader").as_deref(), Some("1"), "replica-a's berth_leader");
    let standby_gauge = eventually("the standby's /metrics", || async { second.metric("berth_leader") }).await;
    assert_eq!(or_panic(standby_gauge), "0", "replica-b's berth_leader");

    // A rolling update's SIGTERM: replica-a finishes, releases, exits 0.
    let status = or_panic(first.terminate().await);
    assert!(status.success(), "replica-a exited with {status}\n{}", logs(&[&first, &second]));
    // Well inside the 15 s lease: only the release explains it.
    if let Err(e) = eventually("replica-b to lead", held_by("replica-b")).await {
        panic!("{e}\n{}", logs(&[&first, &second]));
    }
    // (The gauge follows the Lease write by a moment.)
    let leading = eventually("replica-b's berth_leader to be 1", || async { (second.metric("berth_leader")? == "1").then_some(()) }).await;
    or_panic(leading);
    or_panic(harbor_cluster(&admin, "second").await);
    if let Err(e) = eventually("the new leader to reconcile", || portal_applied(&admin, "second")).await {
        panic!("{e}\n{}", logs(&[&first, &second]));
    }
    drop(second);
}
