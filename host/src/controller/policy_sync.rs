//! Hot swap: follows PluginPolicies and the ConfigMaps that hold plugins, builds the
//! next plugin snapshot in the background and swaps it in, then writes each policy's
//! status, publishes Events about refused versions and rollbacks, and requeues exactly
//! the HarborClusters whose plan changed. Nothing restarts; renders in flight finish on
//! the snapshot they started with.

use std::collections::{BTreeMap, HashMap};
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::events::{Event as KubeEvent, EventType};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Resource as _, ResourceExt as _};

use super::error::{api_message, is_not_found};
use super::plugin_pull::{self, PullSettings};
use super::{Context, Error, FIELD_MANAGER, HarborCluster, Result};
use crate::plugin_dir::PluginDir;
use crate::policy::build::{self, Sources};
use crate::policy::resource::{ConfigMapSource, PLUGIN_SOURCE_LABEL, PluginPolicyStatus, ROLLOUT_ROLLED_BACK};
use crate::policy::{ClusterFacts, PluginPolicy};
use crate::sandbox::Sandbox;

/// Where plugins that policies list are loaded from.
#[derive(Clone)]
pub struct PolicySources {
    pub sandbox: Arc<Sandbox>,
    pub dir: Option<Arc<PluginDir>>,
    /// OCI sources: the local store and the bounds of a pull.
    pub pull: PullSettings,
}

/// Changes arriving closer together than this are handled as one rebuild.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// Retry after a failed rebuild (the API server unreachable, say).
const RETRY: Duration = Duration::from_secs(5);
/// A registry that could not be reached is asked again after 5 s, then twice as long
/// each time up to this.
const REGISTRY_RETRY_MAX: Duration = Duration::from_secs(300);

/// What a resync found.
pub struct Resynced {
    /// The PluginPolicy API is served (its CRD is installed).
    pub served: bool,
    pub policies: Vec<PluginPolicy>,
    /// A registry could not be reached: rebuild later.
    pub retry: bool,
}

/// A HarborCluster to reconcile again, for the controllers' `reconcile_on` streams.
pub type Requeue = futures::channel::mpsc::UnboundedSender<ObjectRef<HarborCluster>>;

/// Builds the snapshot the current policies describe and swaps it in. Returns false
/// when the PluginPolicy API is not served (its CRD is not installed): the operator then
/// runs on its bundled plugins.
pub async fn resync(ctx: &Context) -> Result<Resynced> {
    let Some(sources) = ctx.policy_sources.clone() else { return Ok(Resynced { served: false, policies: Vec::new(), retry: false }) };
    let api: Api<PluginPolicy> = Api::all(ctx.client.clone());
    let policies = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(e) if is_not_found(&e) => return Ok(Resynced { served: false, policies: Vec::new(), retry: false }),
        Err(e) => return Err(Error::kube("listing PluginPolicies")(e)),
    };
    let mut fetched = BTreeMap::new();
    for source in build::config_map_sources(&policies) {
        let bytes = fetch_config_map(ctx, &source).await;
        fetched.insert(source, bytes);
    }
    let started = Instant::now();
    let pulled = plugin_pull::fetch_all(ctx, &sources.pull, build::oci_requests(&policies)).await;
    let previous = ctx.plugins.current();
    let list = policies.clone();
    let next = tokio::task::spawn_blocking(move || {
        let dir = sources.dir.as_deref();
        build::build(&sources.sandbox, &previous, &list, &Sources { dir, config_maps: &fetched, oci: &pulled.results })
    })
    .await
    .map_err(Error::Join)?;
    let generation = next.generation;
    ctx.plugins.swap(next);
    tracing::info!(generation, elapsed_ms = started.elapsed().as_millis() as u64, "plugin snapshot swapped in");
    Ok(Resynced { served: true, policies, retry: pulled.retry })
}

async fn fetch_config_map(ctx: &Context, source: &ConfigMapSource) -> Result<Vec<u8>, String> {
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &source.namespace);
    let cm = api.get_opt(&source.name).await.map_err(|e| api_message(&e))?;
    let cm = cm.ok_or_else(|| "no such ConfigMap".to_owned())?;
    if !cm.labels().contains_key(PLUGIN_SOURCE_LABEL) {
        return Err(format!("the ConfigMap lacks the label {PLUGIN_SOURCE_LABEL}, so changes to it would go unnoticed"));
    }
    cm.binary_data
        .and_then(|mut data| data.remove(&source.key))
        .map(|bytes| bytes.0)
        .ok_or_else(|| format!("no binaryData key {:?}", source.key))
}

/// Follows policy and plugin-source changes until `shutdown`.
pub async fn run(
    ctx: Arc<Context>,
    mut policies: Vec<PluginPolicy>,
    stores: Vec<Store<HarborCluster>>,
    requeue: Vec<(Option<String>, Requeue)>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    // Only spec changes (a new generation) and deletions rebuild: the status this loop
    // writes comes back as a watch event too, and must not trigger another rebuild.
    let mut seen: HashMap<String, Option<i64>> = HashMap::new();
    // With backoff: an unreachable API server must not turn the retry into a busy loop.
    let policy_events =
        watcher(Api::<PluginPolicy>::all(ctx.client.clone()), watcher::Config::default()).default_backoff().filter_map(move |event| {
            let relevant = match &event {
                Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => {
                    seen.insert(p.name_any(), p.metadata.generation) != Some(p.metadata.generation)
                }
                Ok(watcher::Event::Delete(p)) => {
                    seen.remove(&p.name_any());
                    true
                }
                Ok(watcher::Event::Init | watcher::Event::InitDone) => false,
                Err(_) => true,
            };
            futures::future::ready(relevant.then_some(()))
        });
    let source_events = watcher(Api::<ConfigMap>::all(ctx.client.clone()), watcher::Config::default().labels(PLUGIN_SOURCE_LABEL))
        .default_backoff()
        .map(|_| ());
    let mut changes = pin!(futures::stream::select(policy_events, source_events));
    let mut swapped = ctx.plugins.subscribe();
    let mut shutdown = pin!(shutdown);
    let mut rebuild_at: Option<tokio::time::Instant> = None;
    let mut registry_retry = RETRY;
    tracing::info!("following PluginPolicies and plugin ConfigMaps");
    // The initial snapshot's statuses and requeues are due as well.
    let mut published = ctx.plugins.current();
    publish(&ctx, &mut policies, &stores, &requeue, &published).await;
    loop {
        let wait = async {
            match rebuild_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = &mut shutdown => break,
            change = changes.next() => {
                if change.is_none() {
                    break;
                }
                // Watch errors also land here; a rebuild after them is harmless.
                rebuild_at.get_or_insert_with(|| tokio::time::Instant::now() + DEBOUNCE);
            }
            () = wait => {
                rebuild_at = None;
                match resync(&ctx).await {
                    Ok(resynced) => {
                        policies = resynced.policies;
                        if resynced.retry {
                            tracing::info!(retry_in_s = registry_retry.as_secs(), "a plugin registry was unreachable; rebuilding later");
                            rebuild_at = Some(tokio::time::Instant::now() + registry_retry);
                            registry_retry = (registry_retry * 2).min(REGISTRY_RETRY_MAX);
                        } else {
                            registry_retry = RETRY;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, error_chain = ?e, "rebuilding the plugin snapshot failed; retrying");
                        rebuild_at = Some(tokio::time::Instant::now() + RETRY);
                    }
                }
            }
            changed = swapped.changed() => {
                if changed.is_err() {
                    break;
                }
                let previous = std::mem::replace(&mut published, ctx.plugins.current());
                publish(&ctx, &mut policies, &stores, &requeue, &previous).await;
            }
        }
    }
    tracing::info!("stopped following PluginPolicies");
}

/// After a swap: policy statuses and Events, then the clusters whose plan changed: other
/// plugins than their status names, or guardrails or limits changed for a component
/// they render (compared with `previous`, the snapshot published before).
async fn publish(
    ctx: &Context,
    policies: &mut [PluginPolicy],
    stores: &[Store<HarborCluster>],
    requeue: &[(Option<String>, Requeue)],
    previous: &crate::policy::Snapshot,
) {
    let snapshot = ctx.plugins.current();
    let rules_changed = snapshot.rules_changed(previous);
    for policy in policies.iter_mut() {
        let name = policy.name_any();
        let Some(new) = snapshot.policy_status.get(&name) else { continue };
        if policy.status.as_ref() == Some(new) {
            continue;
        }
        announce(ctx, policy, policy.status.as_ref(), new).await;
        match write_status(ctx, &name, new).await {
            Ok(()) => policy.status = Some(new.clone()),
            Err(e) => tracing::warn!(policy = %name, error = %e, "could not write PluginPolicy status"),
        }
    }

    let started = Instant::now();
    let mut requeued = 0usize;
    for store in stores {
        for hc in store.state() {
            let uid = hc.uid().unwrap_or_default();
            let plan = snapshot.plan(&ClusterFacts { uid: &uid, labels: hc.labels(), spec: &hc.spec });
            let last: BTreeMap<String, String> =
                hc.status.iter().flat_map(|s| s.components.iter()).map(|c| (c.name.clone(), c.plugin_digest.clone())).collect();
            let digests = plan.digests();
            if digests == last && !digests.keys().any(|c| rules_changed.contains(c)) {
                continue;
            }
            let namespace = hc.namespace();
            for (scope, tx) in requeue {
                if scope.is_none() || *scope == namespace {
                    let _ = tx.unbounded_send(ObjectRef::from_obj(hc.as_ref()));
                }
            }
            requeued += 1;
        }
    }
    if requeued > 0 {
        tracing::info!(
            generation = snapshot.generation,
            clusters = requeued,
            elapsed_us = started.elapsed().as_micros() as u64,
            "requeued the clusters whose plugins changed"
        );
    }
}

async fn write_status(ctx: &Context, name: &str, status: &PluginPolicyStatus) -> Result<()> {
    // Every shard loads the same policies into the same status; one writer is enough,
    // and two would take turns for ever when their views differ for a moment.
    if ctx.shard().index != 0 {
        return Ok(());
    }
    let api: Api<PluginPolicy> = Api::all(ctx.client.clone());
    let patch = serde_json::json!({
        "apiVersion": PluginPolicy::api_version(&()),
        "kind": PluginPolicy::kind(&()),
        "status": status,
    });
    ctx.metrics.write("patch", "PluginPolicy/status");
    api.patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch))
        .await
        .map(drop)
        .map_err(Error::kube(format!("writing status of PluginPolicy {name}")))
}

/// Events on the PluginPolicy for what changed: a version refused, a rollback, a new
/// stable plugin.
async fn announce(ctx: &Context, policy: &PluginPolicy, old: Option<&PluginPolicyStatus>, new: &PluginPolicyStatus) {
    let old_component = |component: &str| old.and_then(|s| s.components.iter().find(|c| c.component == component));
    for component in &new.components {
        let before = old_component(&component.component);
        for refused in &component.refused {
            let known = before.is_some_and(|b| b.refused.iter().any(|r| r.version == refused.version && r.reason == refused.reason));
            if !known {
                let note = format!("{} {}: {}: {}", component.component, refused.version, refused.reason, refused.message);
                publish_event(ctx, policy, EventType::Warning, "PluginRefused", &note).await;
            }
        }
        if let Some(rollout) = &component.rollout {
            let was_rolled_back =
                before.and_then(|b| b.rollout.as_ref()).is_some_and(|r| r.phase == ROLLOUT_ROLLED_BACK && r.digest == rollout.digest);
            if rollout.phase == ROLLOUT_ROLLED_BACK && !was_rolled_back {
                publish_event(
                    ctx,
                    policy,
                    EventType::Warning,
                    "RolloutRolledBack",
                    &format!("{}: {}", component.component, rollout.message),
                )
                .await;
            }
        }
        if before.is_none_or(|b| b.stable != component.stable) {
            publish_event(ctx, policy, EventType::Normal, "StablePlugin", &format!("{}: {}", component.component, component.stable)).await;
        }
    }
}

async fn publish_event(ctx: &Context, policy: &PluginPolicy, type_: EventType, reason: &str, note: &str) {
    let note: String = note.chars().take(1000).collect();
    let event = KubeEvent { type_, reason: reason.to_owned(), note: Some(note), action: "LoadPlugins".to_owned(), secondary: None };
    ctx.metrics.write("create", "Event");
    if let Err(e) = ctx.recorder.publish(&event, &policy.object_ref(&())).await {
        tracing::warn!(error = %e, reason, "could not publish an Event");
    }
}
