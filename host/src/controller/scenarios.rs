//! Reconcile scenarios against an API server stand-in ([`super::fixtures`]): every
//! request the controller sends is checked in order, and so is what it does not send.
//! The middle tier between the unit tests and the end-to-end suites: the real
//! reconcile, the bundled plugins, no control plane.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use serde_json::{Map, Value, json};

use super::apply::{APPLIED_HASH_ANNOTATION, AppliedCache};
use super::fixtures::{self, Expect, NAMESPACE, PATIENCE, Transcript, child, kind, reads};
use super::generated::GENERATED_LABEL;
use super::{Context, Error, HarborCluster};
use crate::render::{CLUSTER_LABEL, ClusterRender, ComponentRender};

/// One reconcile of `hc` against a server that expects `script`. `applied` is what this
/// operator process applied before (default: a fresh process); it comes back updated.
async fn reconcile(hc: &HarborCluster, applied: AppliedCache, script: Vec<Expect>) -> (Result<Action, Error>, Transcript, AppliedCache) {
    let (client, server) = fixtures::client();
    let server = server.serve(script);
    let mut ctx = Context::new(client, fixtures::plugins());
    ctx.applied = applied;
    let ctx = Arc::new(ctx);
    let result = tokio::time::timeout(PATIENCE, super::reconcile(Arc::new(hc.clone()), Arc::clone(&ctx)))
        .await
        .unwrap_or_else(|_| panic!("the reconcile did not finish in {PATIENCE:?}"));
    let Ok(mut ctx) = Arc::try_unwrap(ctx) else { panic!("the reconcile kept its context") };
    let applied = std::mem::take(&mut ctx.applied);
    // The server's script ends when the last client is gone.
    drop(ctx);
    let transcript = fixtures::transcript(server).await;
    if let Some(missing) = &transcript.missing {
        panic!("{missing}: the reconcile ended with {}", outcome(&result));
    }
    assert!(transcript.unexpected.is_empty(), "requests after the script: {:#?}", transcript.unexpected);
    (result, transcript, applied)
}

fn component<'r>(rendered: &'r ClusterRender, name: &str) -> &'r ComponentRender {
    let (_, result) = rendered.components.iter().find(|(c, _)| c == name).unwrap_or_else(|| panic!("{name} was not rendered"));
    result.as_ref().unwrap_or_else(|e| panic!("{name} failed to render: {e}"))
}

fn rendered_names(rendered: &ClusterRender) -> Vec<String> {
    rendered.components.iter().map(|(c, _)| c.clone()).collect()
}

/// Each generated Secret is looked up by name (metadata only: an adopted chart Secret
/// carries no Berth label), then created; one Event names them all.
fn secrets_created(rendered: &ClusterRender) -> Vec<Expect> {
    let secret = kind("v1", "Secret");
    let mut script = Vec::new();
    for declared in &rendered.secrets {
        script.push(Expect::lookup(secret, &declared.name));
        script.push(Expect::create_secret(&declared.name).body(|body| {
            let labels = &body["metadata"]["labels"];
            assert_eq!((&labels[CLUSTER_LABEL], &labels[GENERATED_LABEL]), (&json!("demo"), &json!("true")), "{labels}");
            assert_eq!(body["immutable"], true);
            // No owner: the garbage collector must never take the data-encryption key.
            assert!(body["metadata"].get("ownerReferences").is_none(), "{body:#}");
        }));
    }
    let names: Vec<&str> = rendered.secrets.iter().map(|s| s.name.as_str()).collect();
    script.push(Expect::event("Normal", "SecretsCreated", "Create", format!("generated {}", names.join(", "))));
    script
}

/// A component's objects, in render order: each is looked up (none is live yet, and
/// Berth takes over nothing it did not make), then applied exactly as rendered plus
/// the owner reference and the applied-hash annotation.
fn applies(render: &ComponentRender) -> Vec<Expect> {
    render
        .objects
        .iter()
        .flat_map(|object| {
            let api_version = object.object["apiVersion"].as_str().unwrap_or_default();
            let kind = kind(api_version, object.kind());
            let rendered = object.object.clone();
            [Expect::lookup(kind, object.name()), Expect::apply(kind, object.name()).body(move |body| applied_as(body, rendered))]
        })
        .collect()
}

fn applied_as(body: &Value, rendered: Map<String, Value>) {
    let what = format!("{} {}", body["kind"], body["metadata"]["name"]);
    let mut body = body.clone();
    let Some(metadata) = body.get_mut("metadata").and_then(Value::as_object_mut) else { panic!("{what}: no metadata") };
    let owners = metadata.remove("ownerReferences");
    if rendered["kind"] == "PersistentVolumeClaim" {
        // A claim holds data: never owned, so never garbage-collected with the cluster.
        assert_eq!(owners, None, "{what}");
    } else {
        assert_eq!(owners, Some(json!([fixtures::owner_reference()])), "{what}");
    }
    let annotations = metadata.get_mut("annotations").and_then(Value::as_object_mut);
    let hash = annotations.and_then(|a| a.remove(APPLIED_HASH_ANNOTATION)).unwrap_or_default();
    let hex = hash.as_str().and_then(|h| h.strip_prefix("sha256:")).unwrap_or_default();
    assert!(hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()), "{what}: applied hash {hash}");
    if metadata.get("annotations").and_then(Value::as_object).is_some_and(Map::is_empty)
        && rendered["metadata"].get("annotations").is_none()
    {
        metadata.remove("annotations");
    }
    assert_eq!(body, Value::Object(rendered), "{what} is not applied as rendered");
}

/// The condition of `type_` in a status: (status, reason, message).
fn condition(status: &Value, type_: &str) -> (String, String, String) {
    let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
    let found = conditions.iter().find(|c| c["type"] == type_).unwrap_or_else(|| panic!("no {type_} condition in {status:#}"));
    let text = |field: &str| found[field].as_str().unwrap_or_default().to_owned();
    (text("status"), text("reason"), text("message"))
}

fn status_and_reason(status: &Value, type_: &str) -> (String, String) {
    let (status, reason, _) = condition(status, type_);
    (status, reason)
}

fn pair(status: &str, reason: &str) -> (String, String) {
    (status.to_owned(), reason.to_owned())
}

fn outcome(result: &Result<Action, Error>) -> String {
    match result {
        Ok(action) => format!("{action:?}"),
        Err(e) => crate::error_chain::error_chain(e),
    }
}

fn succeeded(result: Result<Action, Error>) -> Action {
    result.unwrap_or_else(|e| panic!("the reconcile failed: {}", crate::error_chain::error_chain(&e)))
}

fn components_failed(result: &Result<Action, Error>) -> Vec<String> {
    match result {
        Err(Error::Finalizer(e)) => match e.as_ref() {
            kube::runtime::finalizer::Error::ApplyFailed(Error::ComponentsFailed(failed)) => failed.clone(),
            other => panic!("expected failed components, got {other}"),
        },
        other => panic!("expected failed components, got {other:?}"),
    }
}

const RESYNC: Duration = Duration::from_secs(600);

#[tokio::test]
async fn a_full_reconcile_creates_secrets_applies_every_component_prunes_and_writes_status() {
    let hc = fixtures::cluster();
    let rendered = fixtures::render(&hc);
    assert_eq!(rendered_names(&rendered), ["core", "jobservice", "portal", "registry", "trivy", "database", "redis", "expose"]);
    let configmap = kind("v1", "ConfigMap");
    let live = [
        // Owned and no longer rendered: pruned.
        child("v1", "ConfigMap", "demo-harbor-retired", "core", true),
        // Labelled but not owned (someone else made it): left alone.
        child("v1", "ConfigMap", "demo-harbor-handmade", "core", false),
        // A claim is data: never pruned.
        child("v1", "PersistentVolumeClaim", "demo-harbor-old-data", "registry", false),
    ];

    let mut script = reads(&live);
    script.extend(secrets_created(&rendered));
    for (_, result) in &rendered.components {
        script.extend(applies(result.as_ref().unwrap_or_else(|e| panic!("{e}"))));
    }
    script.push(Expect::delete(configmap, "demo-harbor-retired"));
    script.push(Expect::event("Normal", "Pruned", "Delete", "no longer rendered: ConfigMap/demo-harbor-retired"));
    let digests: Vec<(String, String)> =
        rendered.components.iter().map(|(c, r)| (c.clone(), r.as_ref().map(|r| r.digest.to_string()).unwrap_or_default())).collect();
    script.push(Expect::status(&hc, move |status| {
        assert_eq!(status["observedGeneration"], 1);
        // Nothing runs yet: every workload has 0 ready replicas.
        assert_eq!(status["phase"], "Provisioning");
        assert_eq!(status["readyComponents"], "0/8");
        assert_eq!(status_and_reason(status, "Ready"), pair("False", "Provisioning"));
        assert_eq!(
            condition(status, "Rendered"),
            ("True".to_owned(), "AllComponentsRendered".to_owned(), "8 components rendered".to_owned())
        );
        assert_eq!(status_and_reason(status, "Applied"), pair("True", "Applied"));
        assert_eq!(status_and_reason(status, "ComponentsReady"), pair("False", "NotReady"));
        assert_eq!(status_and_reason(status, "TLS"), pair("Unknown", "TerminatedOutside"));
        let components: Vec<(String, String)> = status["components"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| (c["name"].as_str().unwrap_or_default().to_owned(), c["pluginDigest"].as_str().unwrap_or_default().to_owned()))
            .collect();
        assert_eq!(components, digests);
        let core = &status["components"][0];
        assert_eq!((&core["plugin"], &core["selection"], &core["desiredReplicas"]), (&json!("berth-core"), &json!("bundled"), &json!(1)));
    }));

    let (result, transcript, _) = reconcile(&hc, AppliedCache::default(), script).await;
    assert_eq!(succeeded(result), Action::requeue(RESYNC));
    // The paths the scripts build are the API server's own.
    let paths: BTreeSet<&str> = transcript.seen.iter().map(|s| s.path.as_str()).collect();
    for path in [
        "/apis/apps/v1/namespaces/registry/deployments/demo-harbor-core",
        "/api/v1/namespaces/registry/secrets",
        "/apis/berth.dev/v1alpha1/namespaces/registry/harborclusters/demo/status",
    ] {
        assert!(paths.contains(path), "nothing sent to {path}");
    }
}

/// The objects a reconcile wrote, as the API server now lists them.
fn stored_objects(transcript: &Transcript) -> Vec<Value> {
    transcript
        .seen
        .iter()
        .filter(|s| {
            s.is_write() && s.answer["metadata"]["namespace"] == NAMESPACE && !s.path.ends_with("/status") && !s.path.contains("/events")
        })
        .map(|s| s.answer.clone())
        .collect()
}

fn with_status(hc: &HarborCluster, transcript: &Transcript) -> HarborCluster {
    let patch = transcript.seen.iter().rev().find(|s| s.path.ends_with("/status")).unwrap_or_else(|| panic!("no status was written"));
    let mut hc = hc.clone();
    hc.status = Some(serde_json::from_value(patch.body["status"].clone()).unwrap_or_else(|e| panic!("status: {e}")));
    hc
}

#[tokio::test]
async fn a_reconcile_with_nothing_to_change_sends_no_write() {
    let hc = fixtures::cluster();
    let rendered = fixtures::render(&hc);
    let mut script = reads(&[]);
    script.extend(secrets_created(&rendered));
    for (_, result) in &rendered.components {
        script.extend(applies(result.as_ref().unwrap_or_else(|e| panic!("{e}"))));
    }
    script.push(Expect::status(&hc, |_| {}));
    let (result, first, applied) = reconcile(&hc, AppliedCache::default(), script).await;
    assert_eq!(succeeded(result), Action::requeue(RESYNC));

    // Everything is now as the first reconcile left it: the children it applied and the
    // Secrets it created are listed, and the cluster carries the status it wrote.
    let live = stored_objects(&first);
    assert_eq!(live.len(), rendered.objects().len() + rendered.secrets.len());
    let settled = with_status(&hc, &first);
    // The same process (what it applied is remembered), then a restarted one (the hash
    // annotations alone decide).
    for (applied, process) in [(applied, "the same operator"), (AppliedCache::default(), "a restarted operator")] {
        let (result, transcript, _) = reconcile(&settled, applied, reads(&live)).await;
        assert_eq!(succeeded(result), Action::requeue(RESYNC), "{process}");
        let writes: Vec<String> = transcript.seen.iter().filter(|s| s.is_write()).map(|s| format!("{} {}", s.method, s.path)).collect();
        assert!(writes.is_empty(), "{process} wrote {writes:?}");
    }
}

#[tokio::test]
async fn a_component_its_plugin_refuses_is_named_and_nothing_of_it_is_applied() {
    let mut hc = fixtures::cluster();
    // Two replicas cannot share a ReadWriteOnce job-log volume: a rule only the
    // jobservice plugin knows, so the host renders the rest.
    hc.spec.jobservice.pod.replicas = Some(2);
    let rendered = fixtures::render(&hc);
    let live = [
        // The failed component's objects stay as they were: not pruned.
        child("v1", "ConfigMap", "demo-harbor-jobservice", "jobservice", true),
        child("v1", "ConfigMap", "demo-harbor-jobservice-retired", "jobservice", true),
    ];
    let mut script = reads(&live);
    script.extend(secrets_created(&rendered));
    for (name, result) in &rendered.components {
        match result {
            Ok(render) => script.extend(applies(render)),
            Err(_) => {
                assert_eq!(name, "jobservice", "only the jobservice plugin refuses");
                script.push(Expect::event("Warning", "RenderFailed", "Render", "spec.jobservice.replicas"));
            }
        }
    }
    script.push(Expect::status(&hc, |status| {
        assert_eq!(status["phase"], "Degraded");
        let (state, reason, message) = condition(status, "Rendered");
        assert_eq!((state.as_str(), reason.as_str()), ("False", "RenderFailed"));
        assert!(message.starts_with("jobservice: ") && message.contains("spec.jobservice.replicas"), "{message}");
        assert_eq!(status_and_reason(status, "Applied"), pair("False", "ComponentsSkipped"));
        assert_eq!(status_and_reason(status, "Ready"), pair("False", "Degraded"));
        let jobservice = status["components"].as_array().into_iter().flatten().find(|c| c["name"] == "jobservice").cloned();
        let jobservice = jobservice.unwrap_or_else(|| panic!("no jobservice in {status:#}"));
        // Named with the plugin that refused, so an operator knows where to look.
        assert_eq!((&jobservice["plugin"], &jobservice["ready"]), (&json!("berth-jobservice"), &json!(false)));
        assert!(jobservice["message"].as_str().unwrap_or_default().contains("spec.jobservice.replicas"), "{jobservice}");
    }));

    let (result, transcript, _) = reconcile(&hc, AppliedCache::default(), script).await;
    assert_eq!(components_failed(&result), ["jobservice"]);
    let touched: Vec<&str> =
        transcript.seen.iter().filter(|s| s.path.contains("jobservice") && s.is_write()).map(|s| s.path.as_str()).collect();
    assert!(touched.is_empty(), "wrote {touched:?}");
}

#[tokio::test]
async fn an_object_the_api_server_refuses_fails_its_component_and_no_other() {
    let hc = fixtures::cluster();
    let rendered = fixtures::render(&hc);
    let portal = component(&rendered, "portal");
    let refused = portal.objects.iter().position(|o| o.kind() == "Deployment").unwrap_or_else(|| panic!("no portal Deployment"));
    let refused_name = portal.objects[refused].name().to_owned();
    let live = [
        child("v1", "ConfigMap", "demo-harbor-portal-retired", "portal", true),
        child("v1", "ConfigMap", "demo-harbor-core-retired", "core", true),
    ];

    let mut script = reads(&live);
    script.extend(secrets_created(&rendered));
    for (name, result) in &rendered.components {
        let render = result.as_ref().unwrap_or_else(|e| panic!("{e}"));
        if name != "portal" {
            script.extend(applies(render));
            continue;
        }
        // What comes before the refused object is applied; what comes after is not sent.
        let mut portal_script = applies(render);
        portal_script.truncate(2 * refused + 2);
        let last = portal_script.pop().unwrap_or_else(|| panic!("empty portal script"));
        portal_script.push(last.answer(fixtures::Answer::Refuse(422, "spec.replicas: Invalid value: -1")));
        script.extend(portal_script);
        let note = format!("portal: Deployment {refused_name}: spec.replicas: Invalid value: -1 (422)");
        script.push(Expect::event("Warning", "ApplyFailed", "Apply", note));
    }
    // The core's stale object goes; the failed portal keeps its own.
    script.push(Expect::delete(kind("v1", "ConfigMap"), "demo-harbor-core-retired"));
    script.push(Expect::event("Normal", "Pruned", "Delete", "no longer rendered: ConfigMap/demo-harbor-core-retired"));
    let expected = format!("portal: Deployment {refused_name}: spec.replicas: Invalid value: -1 (422)");
    script.push(Expect::status(&hc, move |status| {
        assert_eq!(status["phase"], "Degraded");
        assert_eq!(status_and_reason(status, "Rendered"), pair("True", "AllComponentsRendered"));
        assert_eq!(condition(status, "Applied"), ("False".to_owned(), "ApplyFailed".to_owned(), expected));
    }));

    let (result, _, _) = reconcile(&hc, AppliedCache::default(), script).await;
    assert_eq!(components_failed(&result), ["portal"]);
}

#[tokio::test]
async fn a_spec_the_host_refuses_reads_nothing_and_is_reported_once() {
    let mut hc = fixtures::cluster();
    hc.spec.portal.replicas = Some(-2);
    let script = vec![
        Expect::no_restores(),
        Expect::status(&hc, |status| {
            assert_eq!(status["phase"], "Failed");
            let (state, reason, message) = condition(status, "Ready");
            assert_eq!((state.as_str(), reason.as_str()), ("False", "InvalidSpec"));
            assert!(message.contains("spec.portal.replicas"), "{message}");
            assert_eq!(status_and_reason(status, "Applied"), pair("False", "NotAttempted"));
        }),
        Expect::event("Warning", "InvalidSpec", "Render", "invalid spec: spec.portal.replicas"),
    ];
    let (result, first, _) = reconcile(&hc, AppliedCache::default(), script).await;
    assert_eq!(succeeded(result), Action::await_change());

    // Reconciled again with that status: neither the status nor the Event repeats; the
    // one read is whether a restore holds the cluster.
    let (result, transcript, _) = reconcile(&with_status(&hc, &first), AppliedCache::default(), vec![Expect::no_restores()]).await;
    assert_eq!(succeeded(result), Action::await_change());
    assert_eq!(transcript.seen.len(), 1);
}
