//! Benchmark: how long from a PluginPolicy change to every affected HarborCluster
//! re-rendered and applied, on a real control plane, with the operator in-process.
//!
//! `make bench-swap` (or `cargo run -p berth-tests --bin policy-swap-bench -- [CLUSTERS]
//! [ROUNDS]`). Creates CLUSTERS (default 100) minimal HarborClusters, then flips the
//! portal's stable version between 0.1.0 and 0.2.0 ROUNDS times (default 5), timing each
//! flip from the policy write to the last cluster whose status names the new version.
//! A last round rolls 0.2.0 out to 10 percent and counts the reconciles it caused, to
//! show that only the affected clusters re-render. Prints medians; asserts nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth::HarborCluster;
use berth::policy::PluginPolicy;
use berth_tests::control_plane::ControlPlane;
use berth_tests::operator::{Operator, api_server_requests, eventually, fail, install_crd};
use berth_tests::policies::{apply_policy, portal_policy};
use berth_tests::read_example;
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Client, ResourceExt as _};
use serde_json::json;

const NS: &str = "bench";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let clusters: usize = args.next().map(|a| a.parse().map_err(fail("CLUSTERS"))).transpose()?.unwrap_or(100);
    let rounds: usize = args.next().map(|a| a.parse().map_err(fail("ROUNDS"))).transpose()?.unwrap_or(5);

    let plane = ControlPlane::start(false).await?;
    let client = plane.client()?;
    install_crd(&client, berth::crd::harbor_cluster_crd_yaml()).await?;
    install_crd(&client, berth::crd::plugin_policy_crd_yaml()).await?;
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}})).map_err(fail("namespace"))?;
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &namespace).await.map_err(fail("namespace"))?;
    let policies: Api<PluginPolicy> = Api::all(client.clone());
    eventually("the CRDs", || async { policies.list(&ListParams::default()).await.ok() }).await?;
    apply_policy(&client, &portal_policy("0.1.0", None)).await?;

    let operator = Operator::with_policies(&client);

    let view = View::follow(&client);
    let api: Api<HarborCluster> = Api::namespaced(client.clone(), NS);
    for i in 0..clusters {
        let mut cluster = read_example("minimal.yaml");
        cluster.metadata.name = Some(format!("bench-{i:03}"));
        cluster.metadata.namespace = Some(NS.to_owned());
        // The expose Service is "harbor" by default: one per namespace.
        cluster.spec.expose.service.name = format!("bench-{i:03}-harbor");
        api.create(&PostParams::default(), &cluster).await.map_err(fail("create"))?;
    }
    let first = view.wait_all(clusters, "0.1.0", Duration::from_secs(600)).await?;
    eprintln!("{clusters} clusters created and converged in {:.1} s", first.as_secs_f64());

    let mut flips = Vec::new();
    let mut swaps = Vec::new();
    for round in 0..rounds {
        let target = if round.is_multiple_of(2) { "0.2.0" } else { "0.1.0" };
        let reconciles = operator.context.metrics.reconciles();
        let mut swapped = operator.context.plugins.subscribe();
        swapped.borrow_and_update();
        let t0 = Instant::now();
        apply_policy(&client, &portal_policy(target, None)).await?;
        swapped.changed().await.map_err(fail("the plugin set"))?;
        swaps.push(t0.elapsed());
        view.wait_all(clusters, target, Duration::from_secs(600)).await?;
        let elapsed = t0.elapsed();
        let reconciled = operator.context.metrics.reconciles() - reconciles;
        eprintln!(
            "round {}: stable -> {target}: snapshot swapped after {} ms, all {clusters} re-rendered in {:.2} s ({reconciled} reconciles)",
            round + 1,
            swaps.last().map_or(0, |d| d.as_millis()),
            elapsed.as_secs_f64()
        );
        flips.push(elapsed);
    }
    let stable = if rounds.is_multiple_of(2) { "0.1.0" } else { "0.2.0" };
    let canary = if stable == "0.1.0" { "0.2.0" } else { "0.1.0" };

    // A 10 percent rollout: only the canaries move.
    let reconciles = operator.context.metrics.reconciles();
    let t0 = Instant::now();
    apply_policy(&client, &portal_policy(stable, Some(json!({"version": canary, "percent": 10})))).await?;
    let moved = eventually("the canaries", || async {
        let (on_canary, current) = view.count(canary);
        // Each canary's status names the new version; the rest are unchanged.
        (current == clusters && on_canary > 0 && idle(&operator).await).then_some(on_canary)
    })
    .await?;
    let canary_time = t0.elapsed();
    let canary_reconciles = operator.context.metrics.reconciles() - reconciles;

    let mut sorted = flips.clone();
    sorted.sort();
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
    swaps.sort();
    let swap_median = swaps.get(swaps.len() / 2).copied().unwrap_or_default();
    println!("policy swap, {clusters} HarborClusters, {rounds} rounds");
    println!("  policy write -> new plugin snapshot in force: median {} ms", swap_median.as_millis());
    println!(
        "  stable version flip, every cluster re-rendered: median {:.2} s (min {:.2} s, max {:.2} s), {:.1} clusters/s at the median",
        median.as_secs_f64(),
        sorted.first().copied().unwrap_or_default().as_secs_f64(),
        sorted.last().copied().unwrap_or_default().as_secs_f64(),
        clusters as f64 / median.as_secs_f64().max(1e-9)
    );
    let (stayed, _) = view.count(stable);
    println!(
        "  10% rollout: {moved} canaries moved in {:.2} s with {canary_reconciles} reconciles; {stayed} clusters stayed on {stable}",
        canary_time.as_secs_f64()
    );
    print_api_server_time(&client).await;
    operator.stop().await;
    drop(plane);
    Ok(())
}

/// Whether the operator has been idle (no new reconcile) for a second.
async fn idle(operator: &Operator) -> bool {
    let before = operator.context.metrics.reconciles();
    tokio::time::sleep(Duration::from_secs(1)).await;
    operator.context.metrics.reconciles() == before
}

/// Where the API server spent its time over the whole run, by request kind: the
/// bottleneck of the numbers above.
async fn print_api_server_time(client: &Client) {
    let (Ok(seconds), Ok(counts)) = (
        api_server_requests(client, "apiserver_request_duration_seconds_sum").await,
        api_server_requests(client, "apiserver_request_duration_seconds_count").await,
    ) else {
        return;
    };
    let mut by_request: Vec<(&String, &f64)> = seconds.iter().filter(|(what, _)| !what.starts_with("WATCH")).collect();
    by_request.sort_by(|a, b| b.1.total_cmp(a.1));
    println!("  API server request time over the run (WATCH excluded), top 8:");
    for (what, seconds) in by_request.into_iter().take(8) {
        let count = counts.get(what).copied().unwrap_or_default();
        println!("    {what:<40} {count:>6} requests {seconds:>8.1} s");
    }
}

/// Each cluster's (portal plugin version, status current), kept by a watch so that
/// measuring puts no polling load on the API server being measured.
#[derive(Clone, Default)]
struct View(Arc<Mutex<HashMap<String, (String, bool)>>>);

impl View {
    fn follow(client: &Client) -> View {
        let view = View::default();
        let feed = view.clone();
        let api = Api::<HarborCluster>::namespaced(client.clone(), NS);
        tokio::spawn(async move {
            let mut events = std::pin::pin!(watcher(api, watcher::Config::default()).default_backoff().applied_objects());
            while let Some(event) = events.next().await {
                let Ok(hc) = event else { continue };
                let status = hc.status.clone().unwrap_or_default();
                let version = status.components.iter().find(|c| c.name == "portal").map(|c| c.plugin_version.clone()).unwrap_or_default();
                let current = status.observed_generation.is_some() && status.observed_generation == hc.metadata.generation;
                if let Ok(mut map) = feed.0.lock() {
                    map.insert(hc.name_any(), (version, current));
                }
            }
        });
        view
    }

    /// (clusters whose portal is on `version`, clusters whose status is current).
    fn count(&self, version: &str) -> (usize, usize) {
        let Ok(map) = self.0.lock() else { return (0, 0) };
        (map.values().filter(|(v, _)| v == version).count(), map.values().filter(|(_, current)| *current).count())
    }

    async fn wait_all(&self, clusters: usize, version: &str, timeout: Duration) -> Result<Duration, String> {
        let t0 = Instant::now();
        loop {
            let (on_version, _) = self.count(version);
            if on_version == clusters {
                return Ok(t0.elapsed());
            }
            if t0.elapsed() > timeout {
                return Err(format!("only {on_version}/{clusters} on {version} after {timeout:?}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
