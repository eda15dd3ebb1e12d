//! What a reconcile does about plugin versions, besides applying: before a cluster moves
//! to another version of a component's plugin, an Event summarises what the move changes
//! (a shadow render with the previous plugin, diffed); when a canary fails to render
//! and the stable plugin renders the same spec fine, the failure counts towards the
//! rollout's threshold, and crossing it rolls the rollout back.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::ResourceExt as _;
use kube::runtime::events::EventType;

use super::{Context, HarborCluster, Result, render_blocking};
use crate::diff;
use crate::policy::{Planned, RenderPlan, Selection, Snapshot};
use crate::render::{ClusterRender, ComponentError};

/// Event notes are capped at 1 kB; leave room for the prefix.
const SUMMARY_CHARS: usize = 700;

/// For every component whose plugin differs from the one the status says rendered it
/// last, renders it with that previous plugin too and publishes the difference.
pub async fn announce_version_changes(
    ctx: &Context,
    hc: &HarborCluster,
    namespace: &str,
    snapshot: &Snapshot,
    plan: &RenderPlan,
    rendered: &ClusterRender,
) -> Result<()> {
    let previous: BTreeMap<&str, (&str, &str, Option<&str>)> = hc
        .status
        .iter()
        .flat_map(|s| s.components.iter())
        .map(|c| (c.name.as_str(), (c.plugin_digest.as_str(), c.plugin_version.as_str(), c.selection.as_deref())))
        .collect();
    let mut moves = Vec::new();
    let mut shadow = RenderPlan::default();
    for (component, result) in &rendered.components {
        let Ok(render) = result else { continue };
        let Some((old_digest, old_version, _)) = previous.get(component.as_str()) else {
            continue;
        };
        let new_digest = render.digest.to_string();
        if old_digest.is_empty() || *old_digest == new_digest {
            continue;
        }
        let Some(Ok(planned)) = plan.get(component) else {
            continue;
        };
        moves.push((
            component.clone(),
            old_version.to_string(),
            old_digest.to_string(),
            render.plugin_version.clone(),
            render.selection.clone(),
        ));
        if let Some(old) = old_digest.parse().ok().and_then(|d| snapshot.find(&d)) {
            let shadow_plan = Planned { plugin: old, selection: Selection::Stable, guardrails: planned.guardrails.clone(), stable: None };
            shadow.components.push((component.clone(), Ok(shadow_plan)));
        }
    }
    if moves.is_empty() {
        return Ok(());
    }
    let before = if shadow.components.is_empty() { None } else { render_blocking(hc, namespace, shadow).await?.ok() };
    for (component, old_version, old_digest, new_version, selection) in moves {
        let after = objects_of(rendered, &component);
        let summary = match before.as_ref().map(|b| objects_of(b, &component)) {
            Some(Some(before)) => match after {
                Some(after) => diff::diff(&before, &after).summary(SUMMARY_CHARS),
                None => "the new version did not render".to_owned(),
            },
            _ => format!("no shadow render: the previous plugin {old_digest} is no longer loaded"),
        };
        let reason = if matches!(selection, Selection::RolledBack { .. }) { "PluginRolledBack" } else { "PluginVersionChange" };
        let note = format!("{component}: {old_version} -> {new_version} ({selection}): {summary}");
        tracing::info!(cluster = %hc.name_any(), namespace, component, from = %old_version, to = %new_version, %selection, %summary, "plugin version change");
        let type_ = if reason == "PluginRolledBack" { EventType::Warning } else { EventType::Normal };
        ctx.event(hc, type_, reason, "Render", &note).await;
    }
    Ok(())
}

/// A component's objects as plain maps, if it rendered.
fn objects_of(render: &ClusterRender, component: &str) -> Option<Vec<serde_json::Map<String, serde_json::Value>>> {
    render
        .components
        .iter()
        .find(|(c, _)| c == component)
        .and_then(|(_, r)| r.as_ref().ok())
        .map(|r| r.objects.iter().map(|o| o.object.clone()).collect())
}

/// Counts each failed canary render whose spec the stable plugin renders fine.
pub async fn judge_canaries(ctx: &Context, hc: &HarborCluster, namespace: &str, plan: &RenderPlan, rendered: &ClusterRender) -> Result<()> {
    let mut suspects = Vec::new();
    let mut shadow = RenderPlan::default();
    for (component, result) in &rendered.components {
        let Err(error) = result else { continue };
        if !matches!(
            error,
            ComponentError::Plugin { .. }
                | ComponentError::Guardrail { .. }
                | ComponentError::Secrets { .. }
                | ComponentError::Conflict { .. }
        ) {
            continue;
        }
        let Some(Ok(planned)) = plan.get(component) else {
            continue;
        };
        let (Selection::Canary, Some(stable)) = (&planned.selection, &planned.stable) else {
            continue;
        };
        suspects.push((component.clone(), planned.plugin.clone(), crate::error_chain::error_chain(error)));
        shadow.components.push((
            component.clone(),
            Ok(Planned { plugin: stable.clone(), selection: Selection::Stable, guardrails: Arc::clone(&planned.guardrails), stable: None }),
        ));
    }
    if suspects.is_empty() {
        return Ok(());
    }
    let stable_render = render_blocking(hc, namespace, shadow).await?.ok();
    let key = format!("{namespace}/{}", hc.name_any());
    for (component, canary, error) in suspects {
        let stable_ok = stable_render.as_ref().is_some_and(|r| objects_of(r, &component).is_some());
        if !stable_ok {
            tracing::info!(cluster = %key, component, "canary and stable both fail: the spec, not the canary, is at fault");
            continue;
        }
        let version = &canary.description().version;
        match ctx.plugins.canary_failed(&component, canary.digest(), &key) {
            Some(rollback) => {
                let note = format!(
                    "{component} {version} failed on {} canary cluster(s) ({}); the rollout is stopped and canaries go back to the stable version. Last error: {error}",
                    rollback.failed_clusters.len(),
                    rollback.failed_clusters.join(", ")
                );
                ctx.event(hc, EventType::Warning, "RolloutRolledBack", "Render", &note).await;
            }
            None => {
                let note = format!("{component} {version} failed on this canary while the stable version renders it: {error}");
                ctx.event(hc, EventType::Warning, "CanaryFailed", "Render", &note).await;
            }
        }
    }
    Ok(())
}
