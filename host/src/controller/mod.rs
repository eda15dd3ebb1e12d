//! `berth run`: the controller that reconciles HarborClusters on a cluster.
//!
//! One reconcile ([`steps`]): render every enabled component (in a blocking task:
//! plugins run sync WASI) → make sure the generated Secrets exist → server-side apply
//! each component that rendered, skipping objects already applied with the same hash
//! ([`components`]) → prune owned children no longer rendered → write status if it
//! changed. Deletion goes through the finalizer [`FINALIZER`] (see [`cleanup`]).
//!
//! The plugins come from a [`PluginSet`]: each reconcile plans with the snapshot in
//! force when it starts, and [`policy_sync`] swaps in a new one when a PluginPolicy or
//! a plugin source changes, then requeues exactly the clusters whose plan changed.
//!
//! Modules: [`error`] the error type, [`failure`] what status and Warning Events name,
//! [`resources`] the child kinds, [`children`] their watch caches, [`live`] one
//! cluster's children as a reconcile sees them, [`generated`] the generated Secrets,
//! [`apply`] and [`prune`] the writes, [`render_cache`] the skip of a settled cluster's
//! render, [`status`] the status, [`cleanup`] the finalizer's work, [`metrics`] counters,
//! [`queue`] how long woken clusters wait, [`shard`] splitting the fleet between
//! replicas, [`rollout`] version-change Events and canary verdicts, [`policy_sync`] the
//! policy watch, [`events`] publishing Events, [`backup`]
//! backups and restores, [`upgrade`] a change of `spec.version` step by step.

pub mod adopt;
pub mod apply;
pub mod backup;
pub mod child_index;
pub mod children;
pub mod cleanup;
pub mod components;
pub mod error;
pub mod events;
pub mod failure;
pub mod finalizer_first;
pub mod generated;
pub mod http;
pub mod leader;
pub mod live;
pub mod metrics;
pub mod plugin_pull;
pub mod policy_sync;
pub mod prune;
pub mod queue;
pub mod render_cache;
pub mod resources;
pub mod rollout;
pub mod shard;
pub mod status;
pub mod steps;
pub mod token_key;
pub mod upgrade;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod scenarios;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use futures::TryStreamExt as _;
use kube::api::Api;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::{Event as KubeEvent, EventType, Reporter};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::watcher;
use kube::{Client, ResourceExt as _};

pub use berth_api::spec::HarborCluster;
pub use error::{Error, Result};
pub use metrics::Metrics;

use crate::policy::{ClusterFacts, PluginSet, RenderPlan};
use crate::render::{ClusterRender, ClusterRenderError, render_planned};

/// The one field manager for every write.
pub const FIELD_MANAGER: &str = "berth";
/// The finalizer that carries out the deletion policy.
pub const FINALIZER: &str = "berth.dev/cleanup";
/// How often a settled cluster is looked at again (a no-op: reads only).
const RESYNC: Duration = Duration::from_secs(600);
/// Upgrades at once across the fleet, unless `--max-concurrent-upgrades` says otherwise:
/// few, so a bad release stops a handful of registries rather than all of them.
pub const DEFAULT_MAX_CONCURRENT_UPGRADES: usize = 2;

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    /// The plugins in force; swapped whole by [`policy_sync`].
    pub plugins: Arc<PluginSet>,
    /// Where policy-listed plugins are loaded from; `None` runs on the snapshot given.
    pub policy_sources: Option<policy_sync::PolicySources>,
    pub recorder: events::Publisher,
    pub metrics: Arc<Metrics>,
    /// What was applied, to notice changes made by others (see [`apply::AppliedCache`]).
    applied: apply::AppliedCache,
    /// What each settled cluster's last full reconcile applied, to skip its next render.
    renders: render_cache::RenderCache,
    /// Consecutive failures per HarborCluster ("namespace/name"), for backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// The children's watch caches, per watch scope, once the controllers run.
    children: std::sync::RwLock<Vec<children::ScopeCaches>>,
    /// The HarborRestores of each watch scope, once the controllers run.
    restores: std::sync::RwLock<Vec<(Option<String>, kube::runtime::reflector::Store<berth_api::backup::HarborRestore>)>>,
    /// Per cluster ("namespace/name"), the latest scheduled time whose backup was seen made.
    scheduled: Mutex<HashMap<String, k8s_openapi::jiff::Timestamp>>,
    /// One lock per cluster ("namespace/name") for starting its backups one at a time.
    cluster_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Where backup records (copies of the generated Secrets) are kept: the operator's
    /// own namespace, which outlives any cluster's.
    pub records_namespace: String,
    /// The upgrades running across every cluster, against [`Context::max_concurrent_upgrades`].
    pub upgrade_slots: upgrade::slots::Slots,
    /// At most this many upgrades at once (`--max-concurrent-upgrades`).
    pub max_concurrent_upgrades: usize,
    /// The part of the fleet this replica reconciles; the whole of it until set.
    shard: std::sync::OnceLock<shard::Shard>,
}

impl Context {
    pub fn new(client: Client, plugins: Arc<PluginSet>) -> Context {
        let reporter = Reporter { controller: "berth".to_owned(), instance: std::env::var("POD_NAME").ok() };
        Context {
            recorder: events::Publisher::new(client.clone(), reporter),
            client,
            plugins,
            policy_sources: None,
            metrics: Arc::default(),
            applied: apply::AppliedCache::default(),
            renders: render_cache::RenderCache::default(),
            failures: Mutex::default(),
            children: std::sync::RwLock::default(),
            restores: std::sync::RwLock::default(),
            cluster_locks: Mutex::default(),
            scheduled: Mutex::default(),
            records_namespace: std::env::var("POD_NAMESPACE").unwrap_or_else(|_| "berth-system".to_owned()),
            upgrade_slots: upgrade::slots::Slots::default(),
            max_concurrent_upgrades: DEFAULT_MAX_CONCURRENT_UPGRADES,
            shard: std::sync::OnceLock::new(),
        }
    }

    /// The part of the fleet this replica reconciles.
    pub fn shard(&self) -> shard::Shard {
        self.shard.get().copied().unwrap_or_default()
    }

    /// Reconciles only `shard` from now on: set once, before the controllers start (a
    /// second call is ignored: a replica never changes shard, it restarts).
    pub fn set_shard(&self, shard: shard::Shard) {
        if self.shard.set(shard).is_err() {
            tracing::warn!(%shard, "the shard was already set; keeping the first");
        }
    }

    /// Runs at most `max` upgrades at once (at least one).
    pub fn with_max_concurrent_upgrades(mut self, max: usize) -> Context {
        self.max_concurrent_upgrades = max.max(1);
        self
    }

    /// Keeps backup records in `namespace` instead of the operator's own.
    pub fn with_records_namespace(mut self, namespace: impl Into<String>) -> Context {
        self.records_namespace = namespace.into();
        self
    }

    /// Publishes an Event about a HarborCluster (or a HarborBackup, a HarborRestore). A
    /// failure to publish is logged, never fatal: Events are advisory.
    pub async fn event<K>(&self, object: &K, type_: EventType, reason: &str, action: &str, note: &str)
    where
        K: kube::Resource<DynamicType = ()>,
    {
        // The API server caps a note at 1 kB.
        let note: String = note.chars().take(1000).collect();
        let event = KubeEvent { type_, reason: reason.to_owned(), note: Some(note), action: action.to_owned(), secondary: None };
        self.metrics.write("create", "Event");
        if let Err(e) = self.recorder.publish(&event, &object.object_ref(&())).await {
            tracing::warn!(error = %e, reason, "could not publish an Event");
        }
    }

    /// Publishes the Warning Event that names a failure; its reason comes from the
    /// failure itself.
    pub async fn warn(&self, hc: &HarborCluster, failure: &failure::Failure) {
        self.event(hc, EventType::Warning, failure.reason(), failure.action(), &failure.to_string()).await;
    }

    /// Follows PluginPolicies: plugins they list are loaded through `sandbox` from
    /// `dir` (files) or ConfigMaps.
    pub fn with_policy(mut self, sources: policy_sync::PolicySources) -> Context {
        self.policy_sources = Some(sources);
        self
    }

    /// The watch caches that cover `namespace`, if the controllers run.
    pub fn child_caches(&self, namespace: &str) -> Option<children::ScopeCaches> {
        let scopes = self.children.read().ok()?;
        scopes.iter().find(|s| s.covers(namespace)).cloned()
    }

    /// The latest scheduled time of this cluster whose backup was seen made, if any.
    pub fn scheduled_handled(&self, namespace: &str, cluster: &str) -> Option<k8s_openapi::jiff::Timestamp> {
        self.scheduled.lock().ok()?.get(&name_key(namespace, cluster)).copied()
    }

    /// Remembers that the backup of this scheduled time exists.
    pub fn schedule_handled(&self, namespace: &str, cluster: &str, due: k8s_openapi::jiff::Timestamp) {
        if let Ok(mut scheduled) = self.scheduled.lock() {
            scheduled.insert(name_key(namespace, cluster), due);
        }
    }

    /// The lock under which a cluster's next backup is chosen and started.
    pub fn cluster_lock(&self, namespace: &str, cluster: &str) -> Arc<tokio::sync::Mutex<()>> {
        match self.cluster_locks.lock() {
            Ok(mut locks) => locks.entry(name_key(namespace, cluster)).or_default().clone(),
            // A poisoned map only loses the mutual exclusion it gave; a fresh lock is no worse.
            Err(_) => Arc::default(),
        }
    }

    /// The watch of HarborRestores that covers `namespace`, if the controllers run.
    pub fn restore_store(&self, namespace: &str) -> Option<kube::runtime::reflector::Store<berth_api::backup::HarborRestore>> {
        let stores = self.restores.read().ok()?;
        stores.iter().find(|(scope, _)| scope.as_deref().is_none_or(|ns| ns == namespace)).map(|(_, store)| store.clone())
    }

    fn backoff(&self, key: &str) -> Duration {
        let Ok(mut failures) = self.failures.lock() else {
            return Duration::from_secs(60);
        };
        let n = failures.entry(key.to_owned()).or_default();
        *n = n.saturating_add(1);
        // 5 s, 10 s, 20 s ... capped at 5 minutes.
        Duration::from_secs(5u64.saturating_mul(1 << (*n - 1).min(6)).min(300))
    }

    fn succeeded(&self, key: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(key);
        }
    }
}

/// Renders the HarborCluster with `plan` on a blocking thread (plugins run sync WASI,
/// which must never block a runtime worker). The outer error is the task failing.
async fn render(ctx: &Context, hc: &HarborCluster, namespace: &str, plan: RenderPlan) -> Result<Result<ClusterRender, ClusterRenderError>> {
    let started = std::time::Instant::now();
    let joined = render_blocking(hc, namespace, plan).await;
    ctx.metrics.rendered(started.elapsed());
    if let Ok(Ok(render)) = &joined {
        for timing in &render.timings {
            ctx.metrics.plugin_rendered(timing);
        }
    }
    joined
}

/// The snapshot in force and the plan it makes for the cluster.
pub(crate) fn plan(ctx: &Context, hc: &HarborCluster) -> (Arc<crate::policy::Snapshot>, RenderPlan) {
    let snapshot = ctx.plugins.current();
    let uid = hc.uid().unwrap_or_default();
    let plan = snapshot.plan(&ClusterFacts { uid: &uid, labels: hc.labels(), spec: &hc.spec });
    (snapshot, plan)
}

/// [`render_planned`] on a blocking thread.
pub(crate) async fn render_blocking(
    hc: &HarborCluster,
    namespace: &str,
    plan: RenderPlan,
) -> Result<Result<ClusterRender, ClusterRenderError>> {
    let name = hc.name_any();
    let namespace = namespace.to_owned();
    let uid = hc.uid().unwrap_or_default();
    let spec = hc.spec.clone();
    tokio::task::spawn_blocking(move || {
        render_planned(&plan, &crate::render::ClusterRef { name: &name, namespace: &namespace, uid: &uid, spec: &spec })
    })
    .await
    .map_err(Error::Join)
}

/// The controller's entry point for one HarborCluster.
pub async fn reconcile(hc: Arc<HarborCluster>, ctx: Arc<Context>) -> Result<Action> {
    ctx.metrics.reconcile_started();
    let started = std::time::Instant::now();
    let namespace = hc.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    let api: Api<HarborCluster> = Api::namespaced(ctx.client.clone(), &namespace);
    let name = hc.name_any();
    ctx.metrics.waiting.done(&name_key(&namespace, &name));
    let result = async {
        let hc = finalizer_first::ensure(&ctx, &api, hc).await?;
        finalizer(&api, FINALIZER, hc, |event| async {
            match event {
                Finalizer::Apply(hc) => steps::apply(&hc, &ctx, &namespace, &name).await,
                Finalizer::Cleanup(hc) => cleanup::cleanup(&hc, &ctx, &namespace, &name).await,
            }
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e)))
    }
    .await;
    ctx.metrics.reconcile_finished(started.elapsed());
    if result.is_ok() {
        ctx.succeeded(&name_key(&namespace, &name));
    }
    result
}

/// A HarborCluster's key ("namespace/name") in the per-cluster maps.
fn key_of(hc: &HarborCluster) -> String {
    name_key(&hc.namespace().unwrap_or_default(), &hc.name_any())
}

fn name_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// Requeues a failed reconcile with exponential backoff per HarborCluster.
pub fn error_policy(hc: Arc<HarborCluster>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failure(error.metric_label());
    let delay = ctx.backoff(&key_of(&hc));
    tracing::warn!(cluster = %hc.name_any(), namespace = ?hc.namespace(), error = %error, error_chain = ?error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Namespaces to watch; empty means all.
    pub namespaces: Vec<String>,
    /// Reconciles at most this many HarborClusters at once.
    pub concurrency: u16,
    /// Waits this long for more changes to an object before reconciling it.
    pub debounce: Duration,
    /// Also stop gracefully on SIGTERM or Ctrl+C.
    pub on_signal: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { namespaces: Vec::new(), concurrency: 8, debounce: Duration::from_millis(500), on_signal: false }
    }
}

/// Runs the controller until `shutdown` resolves (or a signal, with `on_signal`), letting
/// reconciles in flight finish. With policy sources, the PluginPolicies are loaded before
/// the first reconcile (so no cluster renders first with a plugin a policy replaces) and
/// followed from then on.
pub async fn run_with(ctx: Arc<Context>, options: Options, shutdown: impl Future<Output = ()> + Send + 'static) {
    let mut follow_policies = None;
    if ctx.policy_sources.is_some() {
        match policy_sync::resync(&ctx).await {
            Ok(policy_sync::Resynced { served: true, policies, .. }) => follow_policies = Some(policies),
            // Followed anyway: the watch retries with backoff and picks the policies up
            // once the CRD is installed, without a restart.
            Ok(policy_sync::Resynced { served: false, .. }) => {
                tracing::warn!("the PluginPolicy API is not served (CRD not installed): bundled plugins until it is");
                follow_policies = Some(Vec::new());
            }
            // The watch retries; meanwhile the bundled plugins render.
            Err(e) => {
                tracing::warn!(error = %e, error_chain = ?e, "loading PluginPolicies failed; will retry");
                follow_policies = Some(Vec::new());
            }
        }
    }
    let scopes: Vec<Option<String>> =
        if options.namespaces.is_empty() { vec![None] } else { options.namespaces.iter().cloned().map(Some).collect() };
    // One controller per namespace; each needs its own shutdown trigger.
    let mut senders = Vec::new();
    let mut controllers = Vec::new();
    let mut stores = Vec::new();
    let mut requeues = Vec::new();
    for scope in scopes {
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        senders.push(tx);
        let (requeue, requeued) = futures::channel::mpsc::unbounded();
        requeues.push((scope.clone(), requeue));
        let (caches, child_streams) = children::watch_all(&ctx.client, scope.as_deref()).await;
        if let Ok(mut scopes) = ctx.children.write() {
            scopes.push(caches);
        }
        let (restores, restore_stream) = backup::hold::watch(&ctx.client, scope.as_deref());
        if let Ok(mut stores) = ctx.restores.write() {
            stores.push((scope.clone(), restores));
        }
        let (store, controller) = controller_for(ctx.clone(), scope, &options, requeued, child_streams, restore_stream, async move {
            let _ = rx.await;
        });
        ctx.upgrade_slots.watch(store.clone());
        stores.push(store);
        controllers.push(controller);
    }
    let (backup_stop, backup_stopped) = futures::channel::oneshot::channel::<()>();
    let backup_stopped = futures::FutureExt::shared(async move {
        let _ = backup_stopped.await;
    });
    let backup_tasks: Vec<_> =
        if options.namespaces.is_empty() { vec![None] } else { options.namespaces.iter().cloned().map(Some).collect() }
            .into_iter()
            .map(|scope| tokio::spawn(backup::run(ctx.clone(), scope, backup_stopped.clone())))
            .collect();
    let (policy_stop, policy_stopped) = futures::channel::oneshot::channel::<()>();
    let policy_task = follow_policies.map(|policies| {
        tokio::spawn(policy_sync::run(ctx.clone(), policies, stores, requeues, async move {
            let _ = policy_stopped.await;
        }))
    });
    let trigger = tokio::spawn(async move {
        shutdown.await;
        for tx in senders {
            let _ = tx.send(());
        }
        let _ = policy_stop.send(());
    });
    futures::future::join_all(controllers).await;
    // The cluster controllers stopped (on `shutdown`, or on a signal they heard
    // themselves): the backup controllers stop with them, letting their reconciles finish.
    let _ = backup_stop.send(());
    futures::future::join_all(backup_tasks).await;
    trigger.abort();
    if let Some(task) = policy_task {
        task.abort();
    }
}

/// What wakes a HarborCluster's reconcile: its spec (generation), labels (they choose
/// canaries), annotations, finalizers, deletion and identity. Not its status: only the
/// reconcile writes it, and waking on it cost every change a second, idle reconcile.
fn reconcile_relevant(hc: &HarborCluster) -> Option<u64> {
    use std::hash::{Hash as _, Hasher as _};
    let meta = &hc.metadata;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    meta.uid.hash(&mut hasher);
    meta.generation.hash(&mut hasher);
    meta.labels.hash(&mut hasher);
    meta.annotations.hash(&mut hasher);
    meta.finalizers.hash(&mut hasher);
    meta.deletion_timestamp.as_ref().map(|t| t.0.to_string()).hash(&mut hasher);
    Some(hasher.finish())
}

/// Whether a watch event is about a cluster of `shard` (the list markers always are).
fn event_in_shard(shard: &shard::Shard, event: &watcher::Event<HarborCluster>) -> bool {
    match event {
        watcher::Event::Apply(hc) | watcher::Event::Delete(hc) | watcher::Event::InitApply(hc) => {
            shard.owns(hc.metadata.uid.as_deref().unwrap_or_default())
        }
        watcher::Event::Init | watcher::Event::InitDone => true,
    }
}

/// The reference to the HarborCluster `name` in `namespace`, if the store holds it;
/// it is woken (see [`queue`]).
fn held(
    ctx: &Context,
    clusters: &kube::runtime::reflector::Store<HarborCluster>,
    name: &str,
    namespace: &str,
) -> Option<kube::runtime::reflector::ObjectRef<HarborCluster>> {
    let reference = kube::runtime::reflector::ObjectRef::new(name).within(namespace);
    clusters.get(&reference)?;
    ctx.metrics.waiting.woken(name_key(namespace, name));
    Some(reference)
}

fn controller_for<S, R>(
    ctx: Arc<Context>,
    namespace: Option<String>,
    options: &Options,
    requeued: futures::channel::mpsc::UnboundedReceiver<kube::runtime::reflector::ObjectRef<HarborCluster>>,
    child_streams: Vec<(&'static resources::ChildKind, S)>,
    restore_stream: R,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> (kube::runtime::reflector::Store<HarborCluster>, impl Future<Output = ()>)
where
    S: futures::Stream<Item = std::result::Result<kube::api::DynamicObject, watcher::Error>> + Send + 'static,
    R: futures::Stream<Item = std::result::Result<berth_api::backup::HarborRestore, watcher::Error>> + Send + 'static,
{
    let client = ctx.client.clone();
    let clusters: Api<HarborCluster> = match namespace.as_deref() {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    // The reflector sees every change (status included, so a reconcile compares against
    // the status it wrote last); only changes that can alter the outcome wake a reconcile.
    let (reader, writer) = kube::runtime::reflector::store();
    // Another shard's clusters never enter the store: not reconciled, not held in memory.
    let shard = ctx.shard();
    let trigger = watcher(clusters, watcher::Config::default().any_semantic())
        .default_backoff()
        .try_filter(move |event| std::future::ready(event_in_shard(&shard, event)))
        .inspect_ok({
            let ctx = ctx.clone();
            move |event| {
                if let watcher::Event::Delete(hc) = event {
                    ctx.metrics.waiting.done(&key_of(hc));
                }
            }
        })
        // Nothing reads a HarborCluster's managedFields; at a fleet's size they are memory.
        .modify(|hc| hc.metadata.managed_fields = None)
        .reflect(writer)
        .applied_objects()
        .predicate_filter(reconcile_relevant, kube::runtime::utils::PredicateConfig::default());
    let trigger = {
        let ctx = ctx.clone();
        trigger.inspect_ok(move |hc| ctx.metrics.waiting.woken(key_of(hc)))
    };
    let mut controller = Controller::for_stream(trigger, reader.clone());
    // A change to any child wakes its HarborCluster, through the stream that also keeps
    // the child cache the reconcile reads. By the cluster label, not the owner
    // reference: data claims and generated Secrets carry none, and a Secret changed by
    // hand must wake its cluster too. Only a cluster this controller holds is woken (the
    // children of one being deleted, or of another shard's, wake nothing).
    for (kind, stream) in child_streams {
        let (clusters, ctx) = (reader.clone(), ctx.clone());
        let wakes = move |child: kube::api::DynamicObject| {
            let cluster = child.labels().get(crate::render::CLUSTER_LABEL)?;
            held(&ctx, &clusters, cluster, &child.namespace()?)
        };
        controller = controller.watches_stream_with(stream, wakes, kind.api_resource());
    }
    // A HarborRestore holds its cluster (and lets it go when it completes): each of its
    // changes wakes the cluster it names.
    let (clusters, woken) = (reader.clone(), ctx.clone());
    let controller =
        controller.watches_stream(restore_stream, move |restore| held(&woken, &clusters, &restore.spec.cluster, &restore.namespace()?));
    let requeued = {
        let ctx = ctx.clone();
        requeued
            .inspect(move |cluster| ctx.metrics.waiting.woken(name_key(cluster.namespace.as_deref().unwrap_or_default(), &cluster.name)))
    };
    let mut controller = controller
        .reconcile_on(requeued)
        .with_config(controller::Config::default().concurrency(options.concurrency).debounce(options.debounce))
        .graceful_shutdown_on(shutdown);
    if options.on_signal {
        controller = controller.shutdown_on_signal();
    }
    let store = controller.store();
    let scope = namespace.unwrap_or_else(|| "(all namespaces)".to_owned());
    let run = async move {
        tracing::info!(namespace = %scope, "controller started");
        controller
            .run(reconcile, error_policy, ctx)
            .for_each(|result| async move {
                match result {
                    Ok((object, _)) => tracing::debug!(%object, "reconciled"),
                    // Reconcile errors are logged by error_policy; these are watch errors.
                    Err(controller::Error::ReconcilerFailed(..)) => {}
                    Err(e) => tracing::warn!(error = %e, "controller"),
                }
            })
            .await;
        tracing::info!(namespace = %scope, "controller stopped");
    };
    (store, run)
}
