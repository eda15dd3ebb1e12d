//! Benchmark: what a fleet of HarborClusters costs one operator, on a real control plane.
//!
//! `make bench-fleet N` (or `cargo run -p berth-tests --bin fleet-bench -- N BERTH_BINARY`).
//! Starts etcd and kube-apiserver only (no kube-controller-manager: no controller makes
//! Pods or collects garbage, so the API server's counters are the operator's and this
//! program's), creates N namespaces, runs `berth run` as a child process, and then:
//!
//! 1. creates one minimal HarborCluster per namespace and waits until every status says
//!    Applied: time, reconciles, the operator's writes and its requests to the API server
//!    by verb, its CPU seconds and RSS;
//! 2. touches every cluster (an annotation, no input of its render): each reconcile should
//!    find its cluster settled, call no plugin and write nothing;
//! 3. restarts the operator (SIGTERM, start, the precompiled plugins kept as deploy/
//!    keeps them): time until it reconciled every cluster once, and its writes while
//!    resyncing;
//! 4. changes every cluster's spec (`logLevel: debug`): time until all are applied again.
//!
//! Throughout, the operator's queue gauges are sampled every second: the most clusters
//! waiting at once and the longest wait, per phase.
//!
//! Prints the figures per cluster and in total; asserts nothing.

mod operator_process;
mod view;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use berth::HarborCluster;
use berth_tests::control_plane::ControlPlane;
use berth_tests::operator::{api_server_requests, eventually, fail, install_crd};
use berth_tests::{read_example, workspace};
use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use operator_process::{Counters, Launch, OperatorProcess};
use view::View;

/// How many API requests this program has in flight while creating or patching.
const PARALLEL: usize = 16;
/// Far above what any phase takes at 10,000 clusters: a phase that does not finish is
/// reported as where the run stopped, not waited on forever.
const PHASE_LIMIT: Duration = Duration::from_secs(3 * 3600);
const CLUSTER: &str = "registry";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let clusters: usize = args.next().map(|a| a.parse().map_err(fail("N"))).transpose()?.unwrap_or(100);
    let binary = args.next().map(std::path::PathBuf::from).unwrap_or_else(|| workspace().join("target/release/berth"));
    if !binary.is_file() {
        return Err(format!("no operator binary at {} (make bench-fleet builds it)", binary.display()));
    }
    let plane = ControlPlane::start(false).await?;
    let client = plane.client()?;
    install_crd(&client, berth::crd::harbor_cluster_crd_yaml()).await?;
    install_crd(&client, berth::crd::plugin_policy_crd_yaml()).await?;
    install_crd(&client, berth::crd::harbor_backup_crd_yaml()).await?;
    install_crd(&client, berth::crd::harbor_restore_crd_yaml()).await?;
    let served: Api<HarborCluster> = Api::all(client.clone());
    eventually("the HarborCluster CRD served", || async { served.list(&ListParams::default().limit(1)).await.ok() }).await?;
    let work = plane.log_dir().to_owned();
    let kubeconfig = work.join("bench-kubeconfig");
    std::fs::write(&kubeconfig, plane.kubeconfig_yaml()).map_err(fail("kubeconfig"))?;
    let launch = Launch {
        binary: binary.clone(),
        kubeconfig,
        plugins: workspace().join("target/plugins"),
        cache_dir: work.join("plugin-cache"),
        cache_key: work.join("plugin-cache.key"),
        log: work.join("operator.log"),
    };
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(fail("random bytes"))?;
    std::fs::write(&launch.cache_key, key).map_err(fail("cache key"))?;
    println!("fleet benchmark: {clusters} HarborClusters, one per namespace; operator {}", binary.display());
    println!("  machine: {}", machine());
    println!("  control plane: etcd and kube-apiserver only (no kube-controller-manager: no Pods, no garbage collection)");

    let started = Instant::now();
    stream_all(clusters, |i| create_namespace(&client, i)).await?;
    println!("  {clusters} namespaces created in {:.1} s", started.elapsed().as_secs_f64());

    let mut operator = OperatorProcess::start(&launch)?;
    let ready = operator.wait_ready(Duration::from_secs(600))?;
    let (rss_idle, _) = operator.rss_mib()?;
    println!("  operator ready in {:.1} s (plugins compiled into an empty cache), RSS {rss_idle:.0} MiB", ready.as_secs_f64());
    let view = View::follow(&client);

    // 1. Creation.
    let phase = Phase::begin(&client, &operator).await?;
    stream_all(clusters, |i| create_cluster(&client, i)).await?;
    let created = phase.started.elapsed();
    view.wait_applied(clusters, 1, PHASE_LIMIT).await?;
    let applied = phase.started.elapsed();
    let at_applied = operator.metrics()?.since(phase.counters);
    let last_activity = settle(&operator).await?;
    let report = phase.end(&client, &operator, last_activity, &[("POST harborclusters", clusters)]).await?;
    let (rss, peak) = operator.rss_mib()?;
    println!(
        "\n1. creation: {clusters} created in {:.1} s, all Applied {:.1} s after the first",
        created.as_secs_f64(),
        applied.as_secs_f64()
    );
    println!(
        "   reconciles per cluster until all Applied: {:.2} ({} in all)",
        at_applied.reconciles / clusters as f64,
        at_applied.reconciles
    );
    report.print(clusters);
    println!(
        "   RSS settled {rss:.0} MiB, peak {peak:.0} MiB; {:.1} KiB per cluster over the idle operator's {rss_idle:.0} MiB",
        (rss - rss_idle) * 1024.0 / clusters as f64
    );

    let cached = cached_json(&client).await?;
    println!(
        "   what the operator keeps per cluster, as JSON: {:.1} KiB of lean children ({:.1} objects) and {:.1} KiB of HarborCluster",
        cached.children_bytes / 1024.0 / clusters as f64,
        cached.children as f64 / clusters as f64,
        cached.cluster_bytes / 1024.0 / clusters as f64
    );

    // 2. A touch of every cluster: settled, so no plugin and no write.
    let phase = Phase::begin(&client, &operator).await?;
    stream_all(clusters, |i| touch(&client, i)).await?;
    wait_reconciles(&operator, phase.counters, clusters).await?;
    let last_activity = settle(&operator).await?;
    let report = phase.end(&client, &operator, last_activity, &[("PATCH harborclusters", clusters)]).await?;
    println!("\n2. a touch of every cluster (an annotation: nothing its render reads)");
    report.print(clusters);

    // 3. Restart.
    operator.terminate()?;
    let restarted = Instant::now();
    let mut operator = OperatorProcess::start(&launch)?;
    let ready = operator.wait_ready(Duration::from_secs(600))?;
    let phase = Phase::begin_at(&client, Counters::default(), 0.0, restarted).await?;
    wait_reconciled(&operator, clusters).await?;
    let resynced = restarted.elapsed();
    let at_resync = operator.metrics()?;
    let last_activity = settle(&operator).await?;
    let report = phase.end(&client, &operator, last_activity, &[]).await?;
    println!(
        "\n3. restart: ready after {:.1} s (plugins loaded from the precompiled cache); every cluster reconciled once {:.1} s after the process started",
        ready.as_secs_f64(),
        resynced.as_secs_f64()
    );
    println!("   writes until every cluster was reconciled: {}", at_resync.writes);
    report.print(clusters);
    let (rss, peak) = operator.rss_mib()?;
    println!("   RSS settled {rss:.0} MiB, peak {peak:.0} MiB (one render per cluster since the start)");

    // 4. One spec change on every cluster.
    let phase = Phase::begin(&client, &operator).await?;
    stream_all(clusters, |i| change_spec(&client, i)).await?;
    view.wait_applied(clusters, 2, PHASE_LIMIT).await?;
    let reapplied = phase.started.elapsed();
    let last_activity = settle(&operator).await?;
    let report = phase.end(&client, &operator, last_activity, &[("PATCH harborclusters", clusters)]).await?;
    let (rss, peak) = operator.rss_mib()?;
    println!("\n4. spec change on every cluster: all re-applied {:.1} s after the first change", reapplied.as_secs_f64());
    report.print(clusters);
    println!("   RSS {rss:.0} MiB, peak {peak:.0} MiB");

    operator.terminate()?;
    drop(plane);
    Ok(())
}

/// The JSON size of what the operator's caches hold: every child as `ChildKind::lean`
/// leaves it, every HarborCluster without its managedFields. Memory is a multiple of it
/// (maps, strings, allocator); the figure says what the caches are made of.
struct Cached {
    children: usize,
    children_bytes: f64,
    cluster_bytes: f64,
}

async fn cached_json(client: &Client) -> Result<Cached, String> {
    let mut cached = Cached { children: 0, children_bytes: 0.0, cluster_bytes: 0.0 };
    let labelled = ListParams::default().labels(berth::render::CLUSTER_LABEL);
    for kind in berth::controller::resources::CHILD_KINDS {
        let api: Api<kube::api::DynamicObject> = Api::all_with(client.clone(), &kind.api_resource());
        // A kind the API server does not serve (the Gateway API) has no children.
        let Ok(list) = api.list(&labelled).await else { continue };
        for mut object in list.items {
            kind.lean(&mut object);
            cached.children += 1;
            cached.children_bytes += serde_json::to_vec(&object).map_err(fail("JSON"))?.len() as f64;
        }
    }
    for mut hc in Api::<HarborCluster>::all(client.clone()).list(&ListParams::default()).await.map_err(fail("listing"))?.items {
        hc.metadata.managed_fields = None;
        cached.cluster_bytes += serde_json::to_vec(&hc).map_err(fail("JSON"))?.len() as f64;
    }
    Ok(cached)
}

/// Runs `make(i)` for every cluster index, [`PARALLEL`] at a time.
async fn stream_all<F, Fut>(clusters: usize, make: F) -> Result<(), String>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    futures::stream::iter(0..clusters).map(make).buffer_unordered(PARALLEL).try_collect::<Vec<()>>().await.map(drop)
}

fn namespace_of(i: usize) -> String {
    format!("fleet-{i:05}")
}

async fn create_namespace(client: &Client, i: usize) -> Result<(), String> {
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": namespace_of(i)}})).map_err(fail("namespace"))?;
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &namespace).await.map_err(fail("creating a namespace")).map(drop)
}

async fn create_cluster(client: &Client, i: usize) -> Result<(), String> {
    let namespace = namespace_of(i);
    let mut cluster = read_example("minimal.yaml");
    cluster.metadata.name = Some(CLUSTER.to_owned());
    cluster.metadata.namespace = Some(namespace.clone());
    let api: Api<HarborCluster> = Api::namespaced(client.clone(), &namespace);
    api.create(&PostParams::default(), &cluster).await.map_err(fail("creating a HarborCluster")).map(drop)
}

async fn change_spec(client: &Client, i: usize) -> Result<(), String> {
    let api: Api<HarborCluster> = Api::namespaced(client.clone(), &namespace_of(i));
    let patch = json!({"spec": {"logLevel": "debug"}});
    api.patch(CLUSTER, &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(fail("changing a spec")).map(drop)
}

async fn touch(client: &Client, i: usize) -> Result<(), String> {
    let api: Api<HarborCluster> = Api::namespaced(client.clone(), &namespace_of(i));
    let patch = json!({"metadata": {"annotations": {"bench.berth.dev/touched": "1"}}});
    api.patch(CLUSTER, &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(fail("touching a cluster")).map(drop)
}

/// Until the operator started `clusters` more reconciles than it had at `before`.
async fn wait_reconciles(operator: &OperatorProcess, before: Counters, clusters: usize) -> Result<(), String> {
    let started = Instant::now();
    loop {
        let done = operator.metrics()?.since(before).reconciles;
        if done >= clusters as f64 {
            return Ok(());
        }
        if started.elapsed() > PHASE_LIMIT {
            return Err(format!("only {done}/{clusters} reconciles after the touch"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Until the operator logged a successful reconcile of `clusters` distinct clusters.
async fn wait_reconciled(operator: &OperatorProcess, clusters: usize) -> Result<(), String> {
    let started = Instant::now();
    while operator.reconciled() < clusters {
        if started.elapsed() > PHASE_LIMIT {
            return Err(format!("only {}/{clusters} clusters reconciled after the restart", operator.reconciled()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Until the operator started no reconcile and made no write for five seconds (then
/// nothing is left in its queue but the hourly resync); when it last did either.
async fn settle(operator: &OperatorProcess) -> Result<Instant, String> {
    let quiet = Duration::from_secs(5);
    let started = Instant::now();
    let mut last = operator.metrics()?;
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = operator.metrics()?;
        if now.reconciles != last.reconciles || now.writes != last.writes {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() >= quiet {
            return Ok(since);
        }
        if started.elapsed() > PHASE_LIMIT {
            return Err("the operator never settled".to_owned());
        }
    }
}

/// What a phase starts from: the operator's counters and CPU, the API server's requests.
struct Phase {
    started: Instant,
    counters: Counters,
    cpu: f64,
    requests: BTreeMap<String, f64>,
}

impl Phase {
    async fn begin(client: &Client, operator: &OperatorProcess) -> Result<Phase, String> {
        let (counters, cpu) = (operator.metrics()?, operator.cpu_seconds()?);
        operator.take_queue_peak();
        Phase::begin_at(client, counters, cpu, Instant::now()).await
    }

    async fn begin_at(client: &Client, counters: Counters, cpu: f64, started: Instant) -> Result<Phase, String> {
        let requests = api_server_requests(client, "apiserver_request_total").await?;
        Ok(Phase { started, counters, cpu, requests })
    }

    /// The phase's costs, with this program's own `requests` taken out of the API
    /// server's counts (as "VERB resource", how many).
    async fn end(
        self,
        client: &Client,
        operator: &OperatorProcess,
        last_activity: Instant,
        own: &[(&str, usize)],
    ) -> Result<Report, String> {
        let after = api_server_requests(client, "apiserver_request_total").await?;
        let mut by_verb: BTreeMap<String, f64> = BTreeMap::new();
        let mut by_request: BTreeMap<String, f64> = BTreeMap::new();
        for (key, count) in &after {
            let (verb, resource) = key.split_once(' ').unwrap_or((key, ""));
            // Requests for no resource (/metrics, /readyz, discovery) are this program's.
            if resource.is_empty() {
                continue;
            }
            let own = own.iter().filter(|(k, _)| k == key).map(|(_, n)| *n as f64).sum::<f64>();
            let delta = count - self.requests.get(key).copied().unwrap_or_default() - own;
            *by_verb.entry(verb.to_owned()).or_default() += delta.max(0.0);
            *by_request.entry(key.clone()).or_default() += delta.max(0.0);
        }
        let counters = operator.metrics()?.since(self.counters);
        let cpu = operator.cpu_seconds()? - self.cpu;
        let queue_peak = operator.take_queue_peak();
        Ok(Report { counters, cpu, by_verb, by_request, took: last_activity.saturating_duration_since(self.started), queue_peak })
    }
}

struct Report {
    counters: Counters,
    cpu: f64,
    by_verb: BTreeMap<String, f64>,
    /// By "VERB resource".
    by_request: BTreeMap<String, f64>,
    took: Duration,
    /// (most clusters waiting at once, longest wait in seconds), sampled every second.
    queue_peak: (f64, f64),
}

impl Report {
    fn print(&self, clusters: usize) {
        let n = clusters as f64;
        let c = &self.counters;
        println!(
            "   until the last reconcile or write ({:.1} s): {:.2} reconciles, {:.2} renders, {:.2} writes per cluster ({} reconciles, {} renders, {} writes)",
            self.took.as_secs_f64(),
            c.reconciles / n,
            c.renders / n,
            c.writes / n,
            c.reconciles,
            c.renders,
            c.writes
        );
        let mut top: Vec<(&String, &f64)> = self.by_request.iter().filter(|(_, count)| **count > 0.0).collect();
        top.sort_by(|a, b| b.1.total_cmp(a.1));
        let top: Vec<String> = top.into_iter().take(6).map(|(what, count)| format!("{what} {count}")).collect();
        let verbs: Vec<String> = self
            .by_verb
            .iter()
            .filter(|(_, count)| **count > 0.0)
            .map(|(verb, count)| format!("{verb} {count} ({:.2})", count / n))
            .collect();
        println!("   API server requests by verb, in all (per cluster): {}", verbs.join(", "));
        println!("   the most frequent: {}", top.join(", "));
        println!("   operator CPU {:.1} s ({:.1} ms per cluster)", self.cpu, self.cpu * 1000.0 / n);
        println!(
            "   renders skipped (settled clusters): {}; queue: at most {} clusters waiting at once, the longest wait {:.1} s",
            c.renders_skipped, self.queue_peak.0, self.queue_peak.1
        );
    }
}

/// CPU model, cores and memory, from /proc.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).unwrap_or("?").trim().to_owned();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or("?".to_owned(), |kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0));
    format!("{cores} cores, {model}, {memory}")
}
