//! `berth run`: the controller that reconciles HarborClusters on a cluster.
//!
//! One reconcile: render every enabled component (in a blocking task: plugins run sync
//! WASI) → make sure the generated Secrets exist → server-side apply each component that
//! rendered, skipping objects already applied with the same hash → prune owned children
//! no longer rendered → write status if it changed. Deletion goes through the finalizer
//! [`FINALIZER`] (see [`cleanup`]).
//!
//! The plugins come from a [`PluginSet`]: each reconcile plans with the snapshot in
//! force when it starts, and [`policy_sync`] swaps in a new one when a PluginPolicy or
//! a plugin source changes, then requeues exactly the clusters whose plan changed.
//!
//! Modules: [`error`] the error type, [`resources`] the child kinds, [`children`] their
//! watch caches, [`live`] one cluster's children as a reconcile sees them,
//! [`generated`] the generated Secrets, [`apply`] and [`prune`] the writes,
//! [`status`] the status, [`cleanup`] the finalizer's work, [`metrics`] counters,
//! [`rollout`] version-change Events and canary verdicts, [`policy_sync`] the policy
//! watch.

pub mod apply;
pub mod child_index;
pub mod children;
pub mod cleanup;
pub mod error;
pub mod generated;
pub mod http;
pub mod leader;
pub mod live;
pub mod metrics;
pub mod policy_sync;
pub mod prune;
pub mod resources;
pub mod rollout;
pub mod status;
pub mod token_key;

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::WatchStreamExt as _;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::watcher;
use kube::{Client, Resource as _, ResourceExt as _};

pub use berth_sdk::spec::HarborCluster;
pub use error::{Error, Result};
pub use metrics::Metrics;

use crate::policy::{ClusterFacts, PluginSet, RenderPlan};
use crate::render::{ClusterRender, ClusterRenderError, render_planned};
use status::ComponentReport;

/// The one field manager for every write.
pub const FIELD_MANAGER: &str = "berth";
/// The finalizer that carries out the deletion policy.
pub const FINALIZER: &str = "berth.dev/cleanup";
/// How often a settled cluster is looked at again (a no-op: reads only).
const RESYNC: Duration = Duration::from_secs(600);

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    /// The plugins in force; swapped whole by [`policy_sync`].
    pub plugins: Arc<PluginSet>,
    /// Where policy-listed plugins are loaded from; `None` runs on the snapshot given.
    pub policy_sources: Option<policy_sync::PolicySources>,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// What was applied, to notice changes made by others (see [`apply::AppliedCache`]).
    applied: apply::AppliedCache,
    /// Consecutive failures per HarborCluster ("namespace/name"), for backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// The children's watch caches, per watch scope, once the controllers run.
    children: std::sync::RwLock<Vec<children::ScopeCaches>>,
}

impl Context {
    pub fn new(client: Client, plugins: Arc<PluginSet>) -> Context {
        let reporter = Reporter { controller: "berth".to_owned(), instance: std::env::var("POD_NAME").ok() };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            plugins,
            policy_sources: None,
            metrics: Arc::default(),
            applied: apply::AppliedCache::default(),
            failures: Mutex::default(),
            children: std::sync::RwLock::default(),
        }
    }

    /// Publishes an Event about the HarborCluster. A failure to publish is logged, never
    /// fatal: Events are advisory.
    pub async fn event(&self, hc: &HarborCluster, type_: EventType, reason: &str, action: &str, note: &str) {
        // The API server caps a note at 1 kB.
        let note: String = note.chars().take(1000).collect();
        let event = KubeEvent { type_, reason: reason.to_owned(), note: Some(note), action: action.to_owned(), secondary: None };
        self.metrics.write("create", "Event");
        if let Err(e) = self.recorder.publish(&event, &hc.object_ref(&())).await {
            tracing::warn!(error = %e, reason, "could not publish an Event");
        }
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
    let result = finalizer(&api, FINALIZER, hc, |event| async {
        match event {
            Finalizer::Apply(hc) => apply(&hc, &ctx, &namespace, &name).await,
            Finalizer::Cleanup(hc) => cleanup::cleanup(&hc, &ctx, &namespace, &name).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    ctx.metrics.reconcile_finished(started.elapsed());
    if result.is_ok() {
        ctx.succeeded(&name_key(&namespace, &name));
    }
    result
}

fn name_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// Requeues a failed reconcile with exponential backoff per HarborCluster.
pub fn error_policy(hc: Arc<HarborCluster>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failure(error.metric_label());
    let delay = ctx.backoff(&name_key(&hc.namespace().unwrap_or_default(), &hc.name_any()));
    tracing::warn!(cluster = %hc.name_any(), namespace = ?hc.namespace(), error = %error, error_chain = ?error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

async fn apply(hc: &HarborCluster, ctx: &Context, namespace: &str, name: &str) -> Result<Action> {
    let uid = hc.uid().ok_or(Error::MissingMetadata("uid"))?;
    let generation = hc.metadata.generation;
    // One snapshot for the whole reconcile: a swap meanwhile takes effect next time.
    let (snapshot, plan) = plan(ctx, hc);
    let rendered = match render(ctx, hc, namespace, plan.clone()).await? {
        Ok(rendered) => rendered,
        Err(ClusterRenderError::Spec(e)) => {
            // Nothing is applied or pruned for a spec the host refuses; retrying cannot
            // help until the spec changes, which triggers a reconcile by itself.
            let message = e.to_string();
            if write_status(ctx, hc, namespace, status::invalid_spec(generation, &hc.spec, &message)).await? {
                ctx.event(hc, EventType::Warning, "InvalidSpec", "Render", &message).await;
            }
            return Ok(Action::await_change());
        }
        Err(e) => return Err(Error::Render(e)),
    };

    rollout::announce_version_changes(ctx, hc, namespace, &snapshot, &plan, &rendered).await?;
    rollout::judge_canaries(ctx, hc, namespace, &plan, &rendered).await?;

    let live = live::Live::read(ctx, namespace, name).await?;
    // Before `ensure`: an interrupted conversion leaves the core Secret briefly absent.
    let core_workloads = workloads_of(&rendered, "core");
    let token_key = token_key::Target {
        secret: &rendered.topology.secrets.core,
        key: berth_sdk::topology::keys::TOKEN_KEY,
        workloads: &core_workloads,
    };
    if let Some(note) = token_key::convert(ctx, namespace, &live, &token_key).await? {
        ctx.event(hc, EventType::Normal, "TokenKeyConverted", "Replace", &note).await;
    }
    let created = generated::ensure(ctx, namespace, name, &rendered.topology.labels, &rendered.secrets, &live).await?;
    if !created.is_empty() {
        ctx.event(hc, EventType::Normal, "SecretsCreated", "Create", &format!("generated {}", created.join(", "))).await;
    }

    let mut owner = hc.controller_owner_ref(&()).ok_or(Error::MissingMetadata("name or uid"))?;
    // Foreground deletion of the HarborCluster then waits for its children.
    owner.block_owner_deletion = Some(true);
    let mut reports = Vec::new();
    let mut desired_keys = BTreeSet::new();
    let mut failed = BTreeSet::new();
    for (component, result) in &rendered.components {
        let mut report = ComponentReport { name: component.clone(), ..Default::default() };
        match result {
            Ok(render) => {
                report.plugin = render.plugin.clone();
                report.plugin_version = render.plugin_version.clone();
                report.plugin_digest = render.digest.to_string();
                report.selection = Some(render.selection.to_string());
                for object in &render.objects {
                    desired_keys.insert((object.kind().to_owned(), object.name().to_owned()));
                    if matches!(object.kind(), "Deployment" | "StatefulSet") {
                        report.workloads.push((
                            object.kind().to_owned(),
                            object.name().to_owned(),
                            status::desired_replicas(&object.object),
                        ));
                    }
                }
                let applied = match apply::prepare(&render.objects, &owner) {
                    Ok(desired) => apply::apply_all(ctx, namespace, &live, &desired, name, &uid).await,
                    Err(e) => Err(e),
                };
                match applied {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(cluster = name, namespace, component, patched = n, "applied")
                    }
                    Err(message) => {
                        ctx.event(hc, EventType::Warning, "ApplyFailed", "Apply", &format!("{component}: {message}")).await;
                        report.failure = Some(message.to_string());
                        failed.insert(component.clone());
                    }
                }
            }
            Err(error) => {
                if let Some(Ok(planned)) = plan.get(component) {
                    report.plugin = planned.plugin.description().name.clone();
                    report.plugin_version = planned.plugin.description().version.clone();
                    report.plugin_digest = planned.plugin.digest().to_string();
                    report.selection = Some(planned.selection.to_string());
                }
                let message = crate::error_chain::error_chain(error);
                let reason =
                    if matches!(error, crate::render::ComponentError::Guardrail { .. }) { "GuardrailViolation" } else { "RenderFailed" };
                ctx.event(hc, EventType::Warning, reason, "Render", &message).await;
                report.failure = Some(message);
                report.render_failed = true;
                failed.insert(component.clone());
            }
        }
        reports.push(report);
    }

    // Objects of a failed component stay as they are: keep them out of the prune.
    let generated_names: BTreeSet<String> = rendered.secrets.iter().map(|s| s.name.clone()).collect();
    let targets = prune::candidates(&live, &uid, &desired_keys, &failed, &generated_names);
    if !targets.is_empty() {
        let (deleted, errors) = prune::delete(ctx, namespace, &live, &targets).await;
        if !deleted.is_empty() {
            ctx.event(hc, EventType::Normal, "Pruned", "Delete", &format!("no longer rendered: {}", deleted.join(", "))).await;
        }
        for e in errors {
            tracing::warn!(cluster = name, namespace, error = %e, "prune failed");
        }
    }

    let new_status = status::build(generation, &hc.spec, &reports, &live);
    write_status(ctx, hc, namespace, new_status).await?;
    if failed.is_empty() {
        Ok(Action::requeue(RESYNC))
    } else {
        // Status and Events already name them; the error makes the controller back off.
        Err(Error::ComponentsFailed(failed.into_iter().collect()))
    }
}

/// (kind, name) of a component's rendered Deployments and StatefulSets.
fn workloads_of(rendered: &crate::render::ClusterRender, component: &str) -> Vec<(String, String)> {
    rendered
        .components
        .iter()
        .filter(|(name, _)| name == component)
        .filter_map(|(_, result)| result.as_ref().ok())
        .flat_map(|render| render.objects.iter())
        .filter(|o| matches!(o.kind(), "Deployment" | "StatefulSet"))
        .map(|o| (o.kind().to_owned(), o.name().to_owned()))
        .collect()
}

/// Writes status with server-side apply when it differs from the current one. Returns
/// whether it wrote.
async fn write_status(ctx: &Context, hc: &HarborCluster, namespace: &str, new: berth_sdk::status::HarborClusterStatus) -> Result<bool> {
    if hc.status.as_ref() == Some(&new) {
        return Ok(false);
    }
    let api: Api<HarborCluster> = Api::namespaced(ctx.client.clone(), namespace);
    let patch = serde_json::json!({
        "apiVersion": HarborCluster::api_version(&()),
        "kind": HarborCluster::kind(&()),
        "status": new,
    });
    ctx.metrics.write("patch", "HarborCluster/status");
    api.patch_status(&hc.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch))
        .await
        .map_err(Error::kube(format!("writing status of {namespace}/{}", hc.name_any())))?;
    Ok(true)
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
            Ok((true, policies)) => follow_policies = Some(policies),
            // Followed anyway: the watch retries with backoff and picks the policies up
            // once the CRD is installed, without a restart.
            Ok((false, _)) => {
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
        let (store, controller) = controller_for(ctx.clone(), scope, &options, requeued, child_streams, async move {
            let _ = rx.await;
        });
        stores.push(store);
        controllers.push(controller);
    }
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

fn controller_for<S>(
    ctx: Arc<Context>,
    namespace: Option<String>,
    options: &Options,
    requeued: futures::channel::mpsc::UnboundedReceiver<kube::runtime::reflector::ObjectRef<HarborCluster>>,
    child_streams: Vec<(&'static resources::ChildKind, S)>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> (kube::runtime::reflector::Store<HarborCluster>, impl Future<Output = ()>)
where
    S: futures::Stream<Item = std::result::Result<kube::api::DynamicObject, watcher::Error>> + Send + 'static,
{
    let client = ctx.client.clone();
    let clusters: Api<HarborCluster> = match namespace.as_deref() {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    // The reflector sees every change (status included, so a reconcile compares against
    // the status it wrote last); only changes that can alter the outcome wake a reconcile.
    let (reader, writer) = kube::runtime::reflector::store();
    let trigger = watcher(clusters, watcher::Config::default().any_semantic())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(reconcile_relevant, kube::runtime::utils::PredicateConfig::default());
    let mut controller = Controller::for_stream(trigger, reader);
    // A change to any child wakes its HarborCluster, through the stream that also keeps
    // the child cache the reconcile reads.
    for (kind, stream) in child_streams {
        controller = controller.owns_stream_with(stream, kind.api_resource());
    }
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
