//! The HarborCluster status, computed from what happened in one reconcile and the live
//! workloads. Nothing in it changes by itself (no timestamps), so writing it only when it
//! differs keeps a settled cluster free of writes.

use berth_api::spec::HarborClusterSpec;
use berth_api::status::{ComponentStatus, HarborClusterStatus, StatusCondition};
use serde_json::Value;

use super::live::Live;

pub const PHASE_PROVISIONING: &str = "Provisioning";
pub const PHASE_READY: &str = "Ready";
pub const PHASE_DEGRADED: &str = "Degraded";
pub const PHASE_FAILED: &str = "Failed";

/// One enabled component's outcome in this reconcile.
#[derive(Debug, Clone, Default)]
pub struct ComponentReport {
    pub name: String,
    pub plugin: String,
    pub plugin_version: String,
    pub plugin_digest: String,
    /// How the plugin was chosen (bundled, stable, canary, pinned, rolled back).
    pub selection: Option<String>,
    /// Why it was not (fully) applied: a render, policy or apply failure.
    pub failure: Option<String>,
    /// Whether the failure happened while rendering (else while applying).
    pub render_failed: bool,
    /// (kind, name, desired replicas) of each Deployment and StatefulSet it renders.
    pub workloads: Vec<(String, String, i32)>,
}

/// Desired replicas of a rendered workload (Kubernetes defaults a missing count to 1).
pub fn desired_replicas(object: &serde_json::Map<String, Value>) -> i32 {
    object.get("spec").and_then(|s| s.get("replicas")).and_then(Value::as_i64).and_then(|n| i32::try_from(n).ok()).unwrap_or(1)
}

/// Ready replicas of a live workload that count: ready and already updated to the
/// current template, and none while the workload controller has not yet seen the
/// current spec (a rollout in flight is not "ready" on the old pods).
fn ready_replicas(live: &Live, kind: &str, name: &str) -> i32 {
    let Some(object) = live.get(kind, name) else {
        return 0;
    };
    let field = |f: &str| object.data.get("status").and_then(|s| s.get(f)).and_then(Value::as_i64);
    if let (Some(observed), Some(generation)) = (field("observedGeneration"), object.metadata.generation)
        && observed < generation
    {
        return 0;
    }
    let ready = field("readyReplicas").unwrap_or(0);
    let counted = field("updatedReplicas").map_or(ready, |updated| ready.min(updated));
    i32::try_from(counted).unwrap_or(0)
}

fn condition(type_: &str, ok: bool, reason: &str, message: impl Into<String>) -> StatusCondition {
    StatusCondition {
        type_: type_.to_owned(),
        status: if ok { "True" } else { "False" }.to_owned(),
        reason: reason.to_owned(),
        message: message.into(),
    }
}

/// Status after a reconcile that got as far as rendering.
pub fn build(generation: Option<i64>, spec: &HarborClusterSpec, reports: &[ComponentReport], live: &Live) -> HarborClusterStatus {
    let mut components = Vec::new();
    let mut waiting = Vec::new();
    for report in reports {
        let mut desired = 0;
        let mut ready = 0;
        let mut all_ready = report.failure.is_none();
        let mut message = report.failure.clone();
        for (kind, name, want) in &report.workloads {
            let have = ready_replicas(live, kind, name);
            desired += want;
            ready += have.min(*want);
            if have < *want {
                all_ready = false;
                message.get_or_insert_with(|| format!("{kind} {name}: {have}/{want} ready"));
            }
        }
        if !all_ready && report.failure.is_none() {
            waiting.push(report.name.clone());
        }
        components.push(ComponentStatus {
            name: report.name.clone(),
            plugin: report.plugin.clone(),
            plugin_version: report.plugin_version.clone(),
            plugin_digest: report.plugin_digest.clone(),
            desired_replicas: desired,
            ready_replicas: ready,
            ready: all_ready,
            selection: report.selection.clone(),
            message,
        });
    }
    let total = components.len();
    let ready_count = components.iter().filter(|c| c.ready).count();
    let render_failures: Vec<String> =
        reports.iter().filter(|r| r.render_failed).filter_map(|r| r.failure.as_ref().map(|f| format!("{}: {f}", r.name))).collect();
    let apply_failures: Vec<String> =
        reports.iter().filter(|r| !r.render_failed).filter_map(|r| r.failure.as_ref().map(|f| format!("{}: {f}", r.name))).collect();

    let phase = if !render_failures.is_empty() || !apply_failures.is_empty() {
        PHASE_DEGRADED
    } else if ready_count == total {
        PHASE_READY
    } else {
        PHASE_PROVISIONING
    };
    let rendered = if render_failures.is_empty() {
        condition("Rendered", true, "AllComponentsRendered", format!("{total} components rendered"))
    } else {
        condition("Rendered", false, "RenderFailed", render_failures.join("; "))
    };
    let applied = if apply_failures.is_empty() && render_failures.is_empty() {
        condition("Applied", true, "Applied", "every rendered object is applied")
    } else if apply_failures.is_empty() {
        condition("Applied", false, "ComponentsSkipped", "failed components were not applied; the others are")
    } else {
        condition("Applied", false, "ApplyFailed", apply_failures.join("; "))
    };
    let components_ready = if ready_count == total {
        condition("ComponentsReady", true, "AllReady", format!("{ready_count}/{total} components ready"))
    } else {
        let mut not_ready: Vec<String> = components.iter().filter(|c| !c.ready).map(|c| c.name.clone()).collect();
        not_ready.sort();
        condition("ComponentsReady", false, "NotReady", format!("not ready: {}", not_ready.join(", ")))
    };
    let ready_condition = match phase {
        PHASE_READY => condition("Ready", true, "Ready", "Harbor is running"),
        PHASE_DEGRADED => condition("Ready", false, "Degraded", "some components failed; see Rendered and Applied"),
        _ => condition("Ready", false, "Provisioning", format!("waiting for {}", waiting.join(", "))),
    };
    HarborClusterStatus {
        observed_generation: generation,
        phase: Some(phase.to_owned()),
        ready_components: Some(format!("{ready_count}/{total}")),
        external_url: Some(spec.external_url.clone()),
        version: Some(spec.version.clone()),
        upgrade: None,
        history: Vec::new(),
        conditions: [ready_condition, rendered, applied, components_ready].into_iter().chain(tls_condition(spec)).collect(),
        components,
        // The writer fills them in.
        shard: None,
        adoption: None,
    }
}

/// For an `https` externalURL, who terminates TLS: Berth's render (nginx or the Ingress
/// with `spec.expose.tlsSecret`: True) or something the user must put in front, which
/// the operator cannot see (Unknown, saying what). Core hands clients `https` token URLs
/// either way, so a registry nobody terminates TLS for takes no image.
pub fn tls_condition(spec: &HarborClusterSpec) -> Option<StatusCondition> {
    use berth_api::spec::ExposeType;
    if !spec.external_url.starts_with("https://") {
        return None;
    }
    let expose = &spec.expose;
    let outside = |message: &str| StatusCondition {
        type_: "TLS".to_owned(),
        status: "Unknown".to_owned(),
        reason: "TerminatedOutside".to_owned(),
        message: message.to_owned(),
    };
    Some(match (expose.type_, expose.tls_secret.as_deref()) {
        (ExposeType::Ingress, Some(secret)) => {
            condition("TLS", true, "TerminatedByIngress", format!("the Ingress terminates TLS with Secret {secret}"))
        }
        (ExposeType::Ingress, None) => outside(
            "spec.expose.tlsSecret is unset: the ingress controller must terminate TLS for the externalURL's host (its default certificate)",
        ),
        (ExposeType::Route, _) => {
            outside("the Gateway in spec.expose.route.parentRefs must terminate TLS (an HTTPS listener) for the externalURL's host")
        }
        (_, Some(secret)) => {
            condition("TLS", true, "TerminatedByNginx", format!("the nginx proxy terminates TLS on port 443 with Secret {secret}"))
        }
        (_, None) => outside(
            "spec.externalURL is https but spec.expose.tlsSecret is unset, so nothing Berth renders terminates TLS: a load balancer or \
             ingress in front of the nginx Service's http port must terminate it and send X-Forwarded-Proto: https",
        ),
    })
}

/// Status for a spec the host refuses before any plugin runs.
pub fn invalid_spec(generation: Option<i64>, spec: &HarborClusterSpec, message: &str) -> HarborClusterStatus {
    not_applied(generation, spec, "InvalidSpec", message, "nothing is applied for an invalid spec")
}

/// Nothing applied because the namespace holds Secrets Berth may not take as they are:
/// not its own and no adopted release's, or a release's it cannot take over.
pub fn adoption_blocked(generation: Option<i64>, spec: &HarborClusterSpec, message: &str) -> HarborClusterStatus {
    let mut status = not_applied(generation, spec, "AdoptionBlocked", message, "nothing is applied before the Secrets are Berth's");
    status.conditions[1] = condition("Rendered", true, "Rendered", "every component rendered");
    status
}

fn not_applied(generation: Option<i64>, spec: &HarborClusterSpec, reason: &str, message: &str, why: &str) -> HarborClusterStatus {
    HarborClusterStatus {
        observed_generation: generation,
        phase: Some(PHASE_FAILED.to_owned()),
        ready_components: None,
        external_url: Some(spec.external_url.clone()),
        version: Some(spec.version.clone()),
        upgrade: None,
        history: Vec::new(),
        conditions: vec![
            condition("Ready", false, reason, message),
            condition("Rendered", false, reason, message),
            condition("Applied", false, "NotAttempted", why),
            condition("ComponentsReady", false, "NotAttempted", why),
        ],
        shard: None,
        adoption: None,
        components: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_https_url_says_who_terminates_tls() {
        let spec = |expose: Value, url: &str| -> HarborClusterSpec {
            serde_json::from_value(serde_json::json!({"version": "2.15.1", "externalURL": url, "expose": expose}))
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let reason = |expose: Value| tls_condition(&spec(expose, "https://h.example.com")).map(|c| (c.status, c.reason));
        assert_eq!(tls_condition(&spec(serde_json::json!({}), "http://h.example.com")), None);
        assert_eq!(reason(serde_json::json!({})), Some(("Unknown".to_owned(), "TerminatedOutside".to_owned())));
        assert_eq!(reason(serde_json::json!({"tlsSecret": "t"})), Some(("True".to_owned(), "TerminatedByNginx".to_owned())));
        assert_eq!(
            reason(serde_json::json!({"type": "ingress", "tlsSecret": "t", "ingress": {"host": "h"}})),
            Some(("True".to_owned(), "TerminatedByIngress".to_owned()))
        );
        assert_eq!(reason(serde_json::json!({"type": "loadBalancer"})), Some(("Unknown".to_owned(), "TerminatedOutside".to_owned())));
    }
    use kube::api::DynamicObject;

    fn spec() -> HarborClusterSpec {
        serde_json::from_value(serde_json::json!({"version": "2.15.1", "externalURL": "https://h.example.com"}))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn report(name: &str, workload: &str, replicas: i32) -> ComponentReport {
        ComponentReport {
            name: name.to_owned(),
            plugin: format!("berth-{name}"),
            plugin_version: "0.1.0".to_owned(),
            plugin_digest: "sha256:00".to_owned(),
            workloads: vec![("Deployment".to_owned(), workload.to_owned(), replicas)],
            ..Default::default()
        }
    }

    fn live_with(name: &str, ready: i64) -> Live {
        let mut live = Live::default();
        let object: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "status": {"readyReplicas": ready}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let kind = super::super::resources::child_kind("apps/v1", "Deployment").unwrap_or_else(|| panic!("kind"));
        live.objects.insert(("Deployment", name.to_owned()), (kind, object));
        live
    }

    #[test]
    fn phases_follow_readiness_and_failures() {
        let reports = [report("core", "c", 2)];
        let s = build(Some(3), &spec(), &reports, &live_with("c", 1));
        assert_eq!(s.phase.as_deref(), Some(PHASE_PROVISIONING));
        assert_eq!(s.ready_components.as_deref(), Some("0/1"));
        assert_eq!(s.components[0].ready_replicas, 1);
        let s = build(Some(3), &spec(), &reports, &live_with("c", 2));
        assert_eq!(s.phase.as_deref(), Some(PHASE_READY));
        assert_eq!(s.observed_generation, Some(3));
        let mut failing = report("trivy", "t", 1);
        failing.failure = Some("trap".to_owned());
        failing.render_failed = true;
        let s = build(Some(3), &spec(), &[reports[0].clone(), failing], &live_with("c", 2));
        assert_eq!(s.phase.as_deref(), Some(PHASE_DEGRADED));
        let rendered = s.conditions.iter().find(|c| c.type_ == "Rendered").unwrap_or_else(|| panic!("no Rendered"));
        assert_eq!(rendered.status, "False");
        assert!(rendered.message.contains("trivy: trap"));
    }

    #[test]
    fn the_same_inputs_give_the_same_status() {
        let reports = [report("core", "c", 1)];
        assert_eq!(build(Some(1), &spec(), &reports, &live_with("c", 0)), build(Some(1), &spec(), &reports, &live_with("c", 0)));
    }

    #[test]
    fn a_rollout_in_flight_is_not_ready() {
        let mut live = live_with("c", 2);
        if let Some((_, object)) = live.objects.get_mut(&("Deployment", "c".to_owned())) {
            object.metadata.generation = Some(4);
            object.data["status"]["observedGeneration"] = serde_json::json!(3);
        }
        let s = build(Some(1), &spec(), &[report("core", "c", 2)], &live);
        assert_eq!(s.components[0].ready_replicas, 0);
        assert_eq!(s.phase.as_deref(), Some(PHASE_PROVISIONING));
    }
}
