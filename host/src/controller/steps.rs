//! One reconcile of a HarborCluster that is not being deleted, as a pipeline of named
//! steps. A step that cannot go on returns an [`Error`] and the controller retries with
//! backoff. A component's own failure is a [`Failure`] instead: status and an Event name
//! it, and the other components still apply.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource as _, ResourceExt as _};

use super::components::{self, Applied};
use super::failure::Failure;
use super::live::Live;
use super::render_cache::{self, Inputs, Settled};
use super::{Context, Error, FIELD_MANAGER, HarborCluster, Result, generated, prune, rollout, status, token_key, upgrade};
use crate::policy::RenderPlan;
use crate::render::{ClusterRender, ClusterRenderError};
use berth_api::status::{AdoptionStatus, UpgradePhase};

/// The HarborCluster being reconciled, with what every step reads off its metadata.
pub struct Cluster<'a> {
    pub hc: &'a HarborCluster,
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: String,
    /// The owner reference every prunable child carries.
    pub owner: OwnerReference,
}

impl<'a> Cluster<'a> {
    fn new(hc: &'a HarborCluster, namespace: &'a str, name: &'a str) -> Result<Cluster<'a>> {
        let uid = hc.uid().ok_or(Error::MissingMetadata("uid"))?;
        let mut owner = hc.controller_owner_ref(&()).ok_or(Error::MissingMetadata("name or uid"))?;
        // Foreground deletion of the HarborCluster then waits for its children.
        owner.block_owner_deletion = Some(true);
        Ok(Cluster { hc, namespace, name, uid, owner })
    }
}

/// The Apply arm of the finalizer.
pub async fn apply(hc: &HarborCluster, ctx: &Context, namespace: &str, name: &str) -> Result<Action> {
    // A restore into this cluster brings its Secrets and holds its database users at zero.
    let restore = super::backup::hold::holding_restore(ctx, namespace, name).await?;
    // Which version renders, and whether an upgrade holds the database writers at zero.
    let mut course = upgrade::begin(ctx, hc, namespace, name).await?;
    let as_rendered = course.cluster_as_rendered(hc);
    let as_rendered = match &restore {
        Some(_) => super::backup::hold::held(&as_rendered),
        None => as_rendered,
    };
    let cluster = Cluster::new(&as_rendered, namespace, name)?;
    // One snapshot for the whole reconcile: a swap meanwhile takes effect next time.
    let (snapshot, plan) = super::plan(ctx, &as_rendered);
    let key = super::name_key(namespace, name);
    let inputs = Inputs::of(&cluster, &plan);
    // Only a cluster nothing is happening to may skip its render: a restore or a
    // running upgrade changes what renders from one reconcile to the next.
    let quiet = restore.is_none() && course.quiet();
    if quiet && let Some(settled) = ctx.renders.lookup(&key, &inputs) {
        let live = Live::read(ctx, namespace, name).await?;
        if settled.still_applied(&ctx.applied, &cluster, &live) {
            ctx.metrics.render_skipped();
            let mut status = status::build(hc.metadata.generation, &as_rendered.spec, &settled.reports, &live);
            status.adoption = hc.status.as_ref().and_then(|s| s.adoption.clone());
            course.finish_status(&mut status);
            write_status(ctx, hc, namespace, status).await?;
            let next_backup = super::backup::schedule_tick(ctx, hc, namespace, name).await?;
            return Ok(Action::requeue(next_backup.map_or(super::RESYNC, |next| next.min(super::RESYNC))));
        }
    }
    ctx.renders.forget(&key);
    let rendered = match render(ctx, &cluster, &plan).await? {
        Ok(rendered) => rendered,
        Err(refusal) => return refuse(ctx, &cluster, &refusal, &course).await,
    };
    rollout::announce_version_changes(ctx, &as_rendered, namespace, &snapshot, &plan, &rendered).await?;
    rollout::judge_canaries(ctx, &as_rendered, namespace, &plan, &rendered).await?;
    let live = Live::read(ctx, namespace, name).await?;
    let converted = convert_token_key(ctx, &cluster, &rendered, &live).await?;
    let created = match restore {
        Some(_) => false,
        None => match ensure_secrets(ctx, &cluster, &rendered, &live).await {
            Err(Error::Adopt(e)) => return adoption_blocked(ctx, &cluster, e, &course).await,
            other => other?,
        },
    };
    let generated_secrets: BTreeSet<String> = rendered.secrets.iter().map(|s| s.name.clone()).collect();
    let fullname = rendered.topology.fullname.clone();
    let workloads = if course.upgrade.is_some() { upgrade::checks::workloads(&rendered) } else { Vec::new() };
    let applied = components::apply(ctx, &cluster, &plan, rendered.components, &live).await;
    prune_stale(ctx, &cluster, &live, &applied, &generated_secrets).await;
    let adoption = adopt(ctx, &cluster, &applied).await?;
    let mut status = status::build(hc.metadata.generation, &as_rendered.spec, &applied.reports, &live);
    status.adoption = adoption.clone();
    let not_ready = status.components.iter().filter(|c| !c.ready).map(|c| c.name.clone()).collect();
    let reconciled = upgrade::Reconciled { live: &live, workloads: &workloads, fullname: &fullname, not_ready, failed: &applied.failed };
    upgrade::advance(ctx, hc, namespace, &mut course, &reconciled).await?;
    course.finish_status(&mut status);
    write_status(ctx, hc, namespace, status).await?;
    // Settled when every component applied and the Secrets were all there already: the
    // next reconcile with the same inputs checks the live objects instead of rendering.
    let secrets = render_cache::secret_versions(generated_secrets, &live);
    let adopting = adoption.as_ref().is_some_and(|a| a.phase != ADOPTED);
    if let Some(secrets) = secrets.filter(|_| quiet && course.quiet() && !converted && !created && !adopting && applied.failed.is_empty()) {
        ctx.renders.remember(key, Settled { inputs, secrets, objects: applied.hashes.clone(), reports: applied.reports.clone() });
    }
    // No scheduled backup of a database an upgrade is migrating or left half-migrated.
    let next_backup = match &course.upgrade {
        Some(u) if matches!(u.phase, UpgradePhase::Running | UpgradePhase::Failed) => None,
        _ => super::backup::schedule_tick(ctx, hc, namespace, name).await?,
    };
    let action = applied.into_action()?;
    // Held: look again soon, to start the components once the restore completed.
    Ok(match (restore, next_backup, course.requeue) {
        (Some(_), _, _) => Action::requeue(std::time::Duration::from_secs(15)),
        (None, _, Some(upgrade)) => Action::requeue(upgrade.min(next_backup.unwrap_or(upgrade))),
        // Succeeded: the resync, or the next scheduled backup if that comes first.
        (None, Some(next), None) => Action::requeue(next.min(super::RESYNC)),
        // Adopting: the chart's leftovers wait for rollouts no watch of ours reports.
        (None, None, None) if adopting => Action::requeue(ADOPTION_RECHECK),
        (None, None, None) => action,
    })
}

/// How soon a cluster still adopting a Helm release looks again for the chart's objects.
const ADOPTION_RECHECK: std::time::Duration = std::time::Duration::from_secs(30);
const ADOPTED: &str = "Adopted";

/// With `spec.adopt`: reports the objects taken over this time, removes the chart's
/// leftovers once every component applied, and says how far the adoption has come.
async fn adopt(ctx: &Context, cluster: &Cluster<'_>, applied: &Applied) -> Result<Option<AdoptionStatus>> {
    let Some(release) = super::adopt::Release::of(cluster.hc) else { return Ok(None) };
    if !applied.taken_over.is_empty() {
        for (object, removed) in &applied.taken_over {
            tracing::info!(cluster = cluster.name, namespace = cluster.namespace, release = release.name, object, removed = ?removed, "taken over from Helm");
        }
        ctx.event(cluster.hc, EventType::Normal, "TakenOverFromHelm", "Adopt", &takeover_note(release.name, &applied.taken_over)).await;
    }
    let previous = cluster.hc.status.as_ref().and_then(|s| s.adoption.clone()).filter(|a| a.helm_release == release.name);
    if let Some(done) = previous.filter(|a| a.phase == ADOPTED) {
        return Ok(Some(done));
    }
    let mut status = AdoptionStatus { helm_release: release.name.to_owned(), phase: "Adopting".to_owned(), ..AdoptionStatus::default() };
    // Leftovers go only after every component applied: until then the chart's objects are
    // what a failed component still runs on.
    if !applied.failed.is_empty() {
        return Ok(Some(status));
    }
    let sweep = super::adopt::leftovers::sweep(ctx, cluster.namespace, release, &applied.desired)
        .await
        .map_err(Error::kube(format!("removing the chart-only objects of Helm release {}", release.name)))?;
    if !sweep.removed.is_empty() {
        let note =
            format!("removed the chart-only objects of Helm release {} that nothing reads: {}", release.name, sweep.removed.join(", "));
        ctx.event(cluster.hc, EventType::Normal, "ChartObjectsRemoved", "Delete", &note).await;
    }
    if sweep.waiting.is_empty() {
        status.phase = ADOPTED.to_owned();
    }
    (status.waiting, status.kept) = (sweep.waiting, sweep.kept);
    Ok(Some(status))
}

/// The Event note for objects taken over: each with how many fields went, then the
/// fields themselves while the note stays short (the log has them all).
fn takeover_note(release: &str, taken: &[(String, Vec<String>)]) -> String {
    let mut note = format!("took over {} objects of Helm release {release}; fields only Helm set, removed:", taken.len());
    for (object, removed) in taken.iter().filter(|(_, removed)| !removed.is_empty()) {
        let item = format!(" {object} ({}): {};", removed.len(), removed.join(", "));
        if note.len() + item.len() > 900 {
            note.push_str(" … (every field is in the operator's log)");
            break;
        }
        note.push_str(&item);
    }
    note
}

/// Every enabled component through its plugin. A spec the host refuses comes back as
/// the failure to report, not as an error: retrying cannot help until the spec changes.
async fn render(ctx: &Context, cluster: &Cluster<'_>, plan: &RenderPlan) -> Result<Result<ClusterRender, Failure>> {
    match super::render(ctx, cluster.hc, cluster.namespace, plan.clone()).await? {
        Ok(rendered) => Ok(Ok(rendered)),
        Err(ClusterRenderError::Spec(e)) => Ok(Err(Failure::InvalidSpec(e))),
        Err(e) => Err(Error::Render(e)),
    }
}

/// Nothing is applied or pruned for a refused spec. The change of spec that fixes it
/// triggers a reconcile by itself, so nothing is requeued.
async fn refuse(ctx: &Context, cluster: &Cluster<'_>, failure: &Failure, course: &upgrade::Course) -> Result<Action> {
    let mut status = status::invalid_spec(cluster.hc.metadata.generation, &cluster.hc.spec, &failure.message());
    course.finish_status(&mut status);
    // The Event goes with the status change: a resync of the same spec repeats neither.
    if write_status(ctx, cluster.hc, cluster.namespace, status).await? {
        ctx.warn(cluster.hc, failure).await;
    }
    Ok(Action::await_change())
}

/// A Secret Berth may not take stops the reconcile before anything applies; status and
/// a Warning Event say which and why, and the error retries with backoff (the chart's
/// Secret may be repaired, or `spec.adopt` set, without the HarborCluster changing).
async fn adoption_blocked(
    ctx: &Context,
    cluster: &Cluster<'_>,
    error: super::adopt::secrets::AdoptError,
    course: &upgrade::Course,
) -> Result<Action> {
    let message = error.to_string();
    let mut status = status::adoption_blocked(cluster.hc.metadata.generation, &cluster.hc.spec, &message);
    course.finish_status(&mut status);
    status.adoption = cluster.hc.status.as_ref().and_then(|s| s.adoption.clone());
    if write_status(ctx, cluster.hc, cluster.namespace, status).await? {
        ctx.event(cluster.hc, EventType::Warning, "AdoptionBlocked", "Adopt", &message).await;
    }
    Err(Error::Adopt(error))
}

/// Before [`ensure_secrets`]: an interrupted conversion leaves the core Secret briefly
/// absent, and `ensure` would fill the gap with a new key. Returns whether it converted.
async fn convert_token_key(ctx: &Context, cluster: &Cluster<'_>, rendered: &ClusterRender, live: &Live) -> Result<bool> {
    let core_workloads = workloads_of(rendered, "core");
    let target = token_key::Target { secret: &rendered.topology.secrets.core, key: berth_api::keys::TOKEN_KEY, workloads: &core_workloads };
    let Some(note) = token_key::convert(ctx, cluster.namespace, live, &target).await? else {
        return Ok(false);
    };
    ctx.event(cluster.hc, EventType::Normal, "TokenKeyConverted", "Replace", &note).await;
    Ok(true)
}

/// (kind, name) of a component's rendered Deployments and StatefulSets.
fn workloads_of(rendered: &ClusterRender, component: &str) -> Vec<(String, String)> {
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

/// Before any component applies: their pods reference these Secrets by name. Returns
/// whether it created any.
async fn ensure_secrets(ctx: &Context, cluster: &Cluster<'_>, rendered: &ClusterRender, live: &Live) -> Result<bool> {
    let adopting = super::adopt::Release::of(cluster.hc).map(|release| (release, &rendered.topology.secrets));
    let ensured = generated::ensure(
        ctx,
        cluster.namespace,
        cluster.name,
        &crate::labels::cluster_labels(cluster.name, &cluster.hc.spec.version),
        &rendered.secrets,
        live,
        adopting,
    )
    .await?;
    if !ensured.adopted.is_empty() {
        let described: Vec<String> = ensured
            .adopted
            .iter()
            .map(|a| if a.copied.is_empty() { a.name.clone() } else { format!("{} (copied {})", a.name, a.copied.join(", ")) })
            .collect();
        let note = format!("took over the chart's Secrets with every value kept: {}", described.join(", "));
        ctx.event(cluster.hc, EventType::Normal, "SecretsAdopted", "Adopt", &note).await;
    }
    if !ensured.created.is_empty() {
        ctx.event(cluster.hc, EventType::Normal, "SecretsCreated", "Create", &format!("generated {}", ensured.created.join(", "))).await;
    }
    Ok(!ensured.created.is_empty() || !ensured.adopted.is_empty())
}

/// A delete that fails is only logged: the object is still stale next reconcile.
async fn prune_stale(ctx: &Context, cluster: &Cluster<'_>, live: &Live, applied: &Applied, generated_secrets: &BTreeSet<String>) {
    // A failed component's objects stay as they are, so they are no candidates.
    let targets = prune::candidates(live, &cluster.uid, &applied.desired, &applied.failed, generated_secrets);
    if targets.is_empty() {
        return;
    }
    let (deleted, errors) = prune::delete(ctx, cluster.namespace, live, &targets).await;
    if !deleted.is_empty() {
        ctx.event(cluster.hc, EventType::Normal, "Pruned", "Delete", &format!("no longer rendered: {}", deleted.join(", "))).await;
    }
    for e in errors {
        tracing::warn!(cluster = cluster.name, namespace = cluster.namespace, error = %e, "prune failed");
    }
}

/// Writes status with server-side apply when it differs from the current one: a status
/// holds no timestamps, so a settled cluster costs no write. Returns whether it wrote.
async fn write_status(ctx: &Context, hc: &HarborCluster, namespace: &str, mut new: berth_api::status::HarborClusterStatus) -> Result<bool> {
    let shard = ctx.shard();
    new.shard = shard.is_split().then(|| shard.to_string());
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
