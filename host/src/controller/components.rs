//! The per-component step: each component that rendered is applied on its own, and each
//! one's outcome becomes a [`ComponentReport`] for status. A component that failed, to
//! render or to apply, is named in an Event and keeps the objects it had; the others go
//! on, so one broken plugin never takes the whole registry down.

use std::collections::BTreeSet;

use kube::runtime::controller::Action;

use super::failure::Failure;
use super::live::Live;
use super::resources::ChildKind;
use super::status::{self, ComponentReport};
use super::steps::Cluster;
use super::{Context, Error, RESYNC, Result, apply};
use crate::policy::{Planned, RenderPlan, SelectionError};
use crate::render::{ComponentError, ComponentRender};

/// What the step did, for the prune and the status after it.
#[derive(Debug, Default)]
pub struct Applied {
    pub reports: Vec<ComponentReport>,
    /// (kind, name) of every object a component rendered, applied or not: none of them
    /// is stale.
    pub desired: BTreeSet<(String, String)>,
    /// The components that failed.
    pub failed: BTreeSet<String>,
    /// (kind, name, applied hash) of every object prepared for applying.
    pub hashes: Vec<(&'static ChildKind, String, String)>,
    /// "Kind/name" of each object taken over from an adopted Helm release, with the
    /// fields the takeover removed.
    pub taken_over: Vec<(String, Vec<String>)>,
}

impl Applied {
    /// Status and Events already name the failed components; the error is what makes the
    /// controller retry them with backoff.
    pub fn into_action(self) -> Result<Action> {
        if self.failed.is_empty() { Ok(Action::requeue(RESYNC)) } else { Err(Error::ComponentsFailed(self.failed.into_iter().collect())) }
    }
}

/// Applies each component on its own: one that fails is reported, and the next still
/// applies.
pub async fn apply(
    ctx: &Context,
    cluster: &Cluster<'_>,
    plan: &RenderPlan,
    components: Vec<(String, std::result::Result<ComponentRender, ComponentError>)>,
    live: &Live,
) -> Applied {
    let mut applied = Applied::default();
    for (component, result) in components {
        let mut report = ComponentReport { name: component.clone(), ..Default::default() };
        let outcome = match result {
            Ok(render) => {
                describe_render(&mut report, &render);
                applied.desired.extend(render.objects.iter().map(|o| (o.kind().to_owned(), o.name().to_owned())));
                apply_one(ctx, cluster, &render, live, &mut applied.hashes)
                    .await
                    .map(|outcome| {
                        applied.taken_over.extend(outcome.taken_over);
                        outcome.patched
                    })
                    .map_err(|source| Failure::Apply { component: component.clone(), source })
            }
            Err(source) => {
                describe_plan(&mut report, plan.get(&component));
                Err(Failure::Render { component: component.clone(), source })
            }
        };
        match outcome {
            Ok(0) => {}
            Ok(patched) => tracing::info!(cluster = cluster.name, namespace = cluster.namespace, component, patched, "applied"),
            Err(failure) => {
                ctx.warn(cluster.hc, &failure).await;
                report.failure = Some(failure.message());
                report.render_failed = failure.during_render();
                applied.failed.insert(component);
            }
        }
        applied.reports.push(report);
    }
    applied
}

/// Every object is checked before any is applied, so a component never half-applies
/// because of an object the controller could never take.
async fn apply_one(
    ctx: &Context,
    cluster: &Cluster<'_>,
    render: &ComponentRender,
    live: &Live,
    hashes: &mut Vec<(&'static ChildKind, String, String)>,
) -> std::result::Result<apply::Outcome, apply::ApplyError> {
    let desired = apply::prepare(&render.objects, &cluster.owner)?;
    hashes.extend(desired.iter().map(|d| (d.kind, d.name.clone(), d.hash.clone())));
    let owner = apply::Owner { cluster: cluster.name, uid: &cluster.uid, release: super::adopt::Release::of(cluster.hc) };
    apply::apply_all(ctx, cluster.namespace, live, &desired, owner).await
}

fn describe_render(report: &mut ComponentReport, render: &ComponentRender) {
    report.plugin = render.plugin.clone();
    report.plugin_version = render.plugin_version.clone();
    report.plugin_digest = render.digest.to_string();
    report.selection = Some(render.selection.to_string());
    report.workloads = render
        .objects
        .iter()
        .filter(|o| matches!(o.kind(), "Deployment" | "StatefulSet"))
        .map(|o| (o.kind().to_owned(), o.name().to_owned(), status::desired_replicas(&o.object)))
        .collect();
}

/// A component that did not render still names the plugin chosen for it, when one was:
/// the plugin is what an operator looks at first.
fn describe_plan(report: &mut ComponentReport, planned: Option<&std::result::Result<Planned, SelectionError>>) {
    if let Some(Ok(planned)) = planned {
        report.plugin = planned.plugin.description().name.clone();
        report.plugin_version = planned.plugin.description().version.clone();
        report.plugin_digest = planned.plugin.digest().to_string();
        report.selection = Some(planned.selection.to_string());
    }
}
