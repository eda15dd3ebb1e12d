//! Plugin selection, rollout, rollback, guardrails and audit through real plugins, with
//! no cluster: PluginPolicies built into snapshots by the same code the operator runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth::HarborCluster;
use berth::catalog::Catalog;
use berth::plugin_dir::PluginDir;
use berth::policy::build::{self, Sources};
use berth::policy::pod_security::Control;
use berth::policy::{ClusterFacts, PluginPolicy, PluginSet, Rule, Selection, SelectionError, Snapshot};
use berth::render::{ClusterRef, ComponentError, render_planned};
use berth_tests::policies::{
    GUARDRAIL_BREAKER, PORTAL_BROKEN, PORTAL_NEXT, VENDOR_NETWORKPOLICY, digest_of, file_version, plugin_bytes, policy, portal_policy,
};
use berth_tests::{read_example, shared_catalog, shared_sandbox, test_plugins};
use serde_json::json;

fn snapshot_with(policies: &[PluginPolicy]) -> Snapshot {
    snapshot_after(&Snapshot::bundled(shared_catalog()), policies)
}

fn snapshot_after(previous: &Snapshot, policies: &[PluginPolicy]) -> Snapshot {
    let dir = PluginDir::open(&test_plugins()).unwrap_or_else(|e| panic!("{e}"));
    let config_maps = BTreeMap::new();
    build::build(shared_sandbox(), previous, policies, &Sources { dir: Some(&dir), config_maps: &config_maps, oci: &BTreeMap::new() })
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// (selection, version) the snapshot gives the cluster's portal.
fn portal_choice(
    snapshot: &Snapshot,
    uid: &str,
    labels: &BTreeMap<String, String>,
    cluster: &HarborCluster,
) -> Result<(Selection, String), SelectionError> {
    let plan = snapshot.plan(&ClusterFacts { uid, labels, spec: &cluster.spec });
    match plan.get("portal") {
        Some(Ok(p)) => Ok((p.selection.clone(), p.plugin.description().version.clone())),
        Some(Err(e)) => Err(e.clone()),
        None => panic!("portal is not planned"),
    }
}

fn refusals(snapshot: &Snapshot, policy: &str) -> Vec<(String, String)> {
    snapshot.policy_status[policy].components.iter().flat_map(|c| c.refused.iter().map(|r| (r.version.clone(), r.reason.clone()))).collect()
}

#[test]
fn without_a_policy_every_component_is_bundled() {
    let snapshot = Snapshot::bundled(shared_catalog());
    let cluster = read_example("minimal.yaml");
    let plan = snapshot.plan(&ClusterFacts { uid: "u", labels: &labels(&[]), spec: &cluster.spec });
    assert!(!plan.components.is_empty());
    for (component, planned) in &plan.components {
        let planned = planned.as_ref().unwrap_or_else(|e| panic!("{component}: {e}"));
        assert_eq!(planned.selection, Selection::Bundled, "{component}");
    }
}

#[test]
fn a_rollout_by_label_reaches_only_the_labelled_clusters() {
    let rollout = json!({"version": "0.2.0", "selector": {"matchLabels": {"tier": "canary"}}});
    let snapshot = snapshot_with(&[portal_policy("0.1.0", Some(rollout))]);
    assert!(refusals(&snapshot, "portal").is_empty(), "{:?}", refusals(&snapshot, "portal"));
    let cluster = read_example("minimal.yaml");
    let canary = portal_choice(&snapshot, "a", &labels(&[("tier", "canary")]), &cluster);
    assert_eq!(canary, Ok((Selection::Canary, "0.2.0".to_owned())));
    let other = portal_choice(&snapshot, "b", &labels(&[("tier", "prod")]), &cluster);
    assert_eq!(other, Ok((Selection::Stable, "0.1.0".to_owned())));
    // Only the portal is governed; the rest stay bundled.
    let plan = snapshot.plan(&ClusterFacts { uid: "a", labels: &labels(&[("tier", "canary")]), spec: &cluster.spec });
    assert!(matches!(plan.get("core"), Some(Ok(p)) if p.selection == Selection::Bundled));
}

#[test]
fn a_percentage_rollout_takes_a_stable_share_of_clusters() {
    let cluster = read_example("minimal.yaml");
    let canaries = |percent: u8| {
        let snapshot = snapshot_with(&[portal_policy("0.1.0", Some(json!({"version": "0.2.0", "percent": percent})))]);
        (0..400)
            .filter(|i| {
                let uid = format!("uid-{i}");
                matches!(portal_choice(&snapshot, &uid, &labels(&[]), &cluster), Ok((Selection::Canary, _)))
            })
            .map(|i| format!("uid-{i}"))
            .collect::<Vec<_>>()
    };
    let (none, quarter, half, all) = (canaries(0), canaries(25), canaries(50), canaries(100));
    assert!(none.is_empty());
    assert_eq!(all.len(), 400);
    assert!((60..140).contains(&quarter.len()), "25% gave {}", quarter.len());
    // Raising the share keeps every earlier canary a canary.
    assert!(quarter.iter().all(|uid| half.contains(uid)));
}

#[test]
fn a_pinned_cluster_stays_on_its_version() {
    let snapshot = snapshot_with(&[portal_policy("0.2.0", None)]);
    let mut cluster = read_example("minimal.yaml");
    assert_eq!(portal_choice(&snapshot, "u", &labels(&[]), &cluster), Ok((Selection::Stable, "0.2.0".to_owned())));
    cluster.spec.plugins.insert("portal".to_owned(), serde_json::from_value(json!({"version": "0.1.0"})).unwrap_or_default());
    assert_eq!(portal_choice(&snapshot, "u", &labels(&[]), &cluster), Ok((Selection::Pinned, "0.1.0".to_owned())));
    // A pin beats a rollout too.
    let rolling = snapshot_with(&[portal_policy("0.2.0", Some(json!({"version": "0.3.0", "percent": 100})))]);
    assert_eq!(portal_choice(&rolling, "u", &labels(&[]), &cluster), Ok((Selection::Pinned, "0.1.0".to_owned())));
    // By digest.
    cluster.spec.plugins.insert("portal".to_owned(), serde_json::from_value(json!({"digest": digest_of(PORTAL_NEXT)})).unwrap_or_default());
    assert_eq!(portal_choice(&rolling, "u", &labels(&[]), &cluster), Ok((Selection::Pinned, "0.2.0".to_owned())));
    // A version nobody lists is that component's error, naming what is available.
    cluster.spec.plugins.insert("portal".to_owned(), serde_json::from_value(json!({"version": "9.9.9"})).unwrap_or_default());
    match portal_choice(&rolling, "u", &labels(&[]), &cluster) {
        Err(SelectionError::PinUnavailable { pin, available, .. }) => {
            assert_eq!(pin, "9.9.9");
            assert!(available.iter().any(|a| a.starts_with("0.1.0@")), "{available:?}");
        }
        other => panic!("expected PinUnavailable, got {other:?}"),
    }
}

#[test]
fn harbor_versions_give_each_harbor_minor_its_renderer_and_an_upgrade_plans_with_the_target_ones() {
    let mut policy = portal_policy("0.1.0", Some(json!({"version": "0.3.0", "percent": 100})));
    policy.spec.components[0].harbor_versions = BTreeMap::from([
        ("2.15".to_owned(), "0.2.0".to_owned()),
        ("2.16".to_owned(), "0.2.0".to_owned()),
        ("2.14".to_owned(), "7.0.0".to_owned()),
    ]);
    let snapshot = snapshot_with(&[policy]);
    let mut cluster = read_example("minimal.yaml");
    // 2.15 has an entry: it wins over the stable version and the rollout.
    cluster.spec.version = "2.15.1".to_owned();
    let for_215 = Selection::ForHarbor { minor: "2.15".to_owned() };
    assert_eq!(portal_choice(&snapshot, "u", &labels(&[]), &cluster), Ok((for_215.clone(), "0.2.0".to_owned())));
    assert_eq!(for_215.to_string(), "for Harbor 2.15");
    // 2.13 has none: the rollout (here every cluster) as before.
    cluster.spec.version = "2.13.2".to_owned();
    assert_eq!(portal_choice(&snapshot, "u", &labels(&[]), &cluster), Ok((Selection::Canary, "0.3.0".to_owned())));
    // A pin still wins.
    cluster.spec.version = "2.15.1".to_owned();
    cluster.spec.plugins.insert("portal".to_owned(), serde_json::from_value(json!({"version": "0.1.0"})).unwrap_or_default());
    assert_eq!(portal_choice(&snapshot, "u", &labels(&[]), &cluster), Ok((Selection::Pinned, "0.1.0".to_owned())));
    // Entries that cannot be honoured are refused by name, and their clusters get stable.
    let refused = refusals(&snapshot, "portal");
    assert!(refused.contains(&("0.2.0".to_owned(), "HarborVersionNotRendered".to_owned())), "{refused:?}");
    assert!(refused.contains(&("7.0.0".to_owned(), "NotListed".to_owned())), "{refused:?}");
    cluster.spec.plugins.clear();
    cluster.spec.version = "2.14.2".to_owned();
    assert_eq!(portal_choice(&snapshot, "u", &labels(&[]), &cluster), Ok((Selection::Canary, "0.3.0".to_owned())));
    // The upgrade plan names the plugin of the target minor.
    cluster.spec.upgrade = Some(berth_api::spec::UpgradeSpec { backup: false, ..Default::default() });
    cluster.spec.version = "2.15.1".to_owned();
    let (plan, planned) = berth::upgrade_cli::plan(&snapshot, &cluster, None, Some("2.14.2"));
    assert!(planned, "{plan}");
    assert!(plan.lines().any(|l| l.contains("portal") && l.contains("berth-portal 0.2.0 (for Harbor 2.15)")), "{plan}");
    // A target no plugin renders: the refusal names every portal plugin loaded, and what each renders.
    cluster.spec.version = "2.16.0".to_owned();
    let (refused, planned) = berth::upgrade_cli::plan(&snapshot, &cluster, None, Some("2.15.1"));
    assert!(!planned && refused.contains("NoPluginForVersion"), "{refused}");
    assert!(refused.contains("also loaded: berth-portal 0.2.0 [2.13, 2.14, 2.15]"), "{refused}");
}

#[test]
fn a_digest_mismatch_is_refused_and_never_replaces_the_working_plugin() {
    let working = snapshot_with(&[portal_policy("0.2.0", None)]);
    let cluster = read_example("minimal.yaml");
    assert_eq!(portal_choice(&working, "u", &labels(&[]), &cluster), Ok((Selection::Stable, "0.2.0".to_owned())));
    // 0.3.0 claims portal-next's digest: its bytes do not match.
    let lying = policy(
        "portal",
        json!({"components": [{
            "component": "portal", "stable": "0.3.0",
            "versions": [
                file_version("0.2.0", PORTAL_NEXT),
                {"version": "0.3.0", "digest": digest_of(PORTAL_NEXT), "source": {"file": {"name": PORTAL_BROKEN}}},
            ],
        }]}),
    );
    let next = snapshot_after(&working, &[lying]);
    assert_eq!(refusals(&next, "portal"), vec![("0.3.0".to_owned(), "PluginDigestMismatch".to_owned())]);
    // The stable that worked before stays in force.
    assert_eq!(portal_choice(&next, "u", &labels(&[]), &cluster), Ok((Selection::Stable, "0.2.0".to_owned())));
    let ready = &next.policy_status["portal"].conditions[0];
    assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", "VersionsRefused"));
}

#[test]
fn with_signatures_required_file_sources_are_refused_as_unsigned_and_bundled_stays_trusted() {
    let cluster = read_example("minimal.yaml");
    let keys = json!([{"pem": "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"}]);
    let signed_only = policy(
        "portal",
        json!({"signatures": {"required": true, "keys": keys}, "components": [{
            "component": "portal", "stable": "0.2.0",
            "versions": [{"version": "0.1.0", "source": {"bundled": {}}}, file_version("0.2.0", PORTAL_NEXT)],
        }]}),
    );
    let snapshot = snapshot_with(&[signed_only]);
    assert_eq!(refusals(&snapshot, "portal"), vec![("0.2.0".to_owned(), "Unsigned".to_owned())]);
    // The refused stable never takes over: the bundled plugin keeps rendering.
    assert_eq!(portal_choice(&snapshot, "u", &labels(&[]), &cluster), Ok((Selection::Stable, "0.1.0".to_owned())));
    // A component's own requirement overrides the policy's.
    let relaxed = policy(
        "portal",
        json!({"signatures": {"required": true, "keys": keys}, "components": [{
            "component": "portal", "stable": "0.2.0", "signatures": {"required": false},
            "versions": [file_version("0.2.0", PORTAL_NEXT)],
        }]}),
    );
    assert_eq!(portal_choice(&snapshot_with(&[relaxed]), "u", &labels(&[]), &cluster), Ok((Selection::Stable, "0.2.0".to_owned())));
}

#[test]
fn an_oci_source_that_was_not_fetched_is_refused_with_the_fetch_reason() {
    let version = json!({"version": "0.2.0", "digest": digest_of(PORTAL_NEXT), "source": {"oci": {"reference": "localhost:1/p:0.2.0"}}});
    let oci = policy("portal", json!({"components": [{"component": "portal", "stable": "0.2.0", "versions": [version]}]}));
    let requests = build::oci_requests(std::slice::from_ref(&oci));
    assert_eq!(requests.len(), 1);
    let key = requests[0].key.clone();
    let dir = PluginDir::open(&test_plugins()).unwrap_or_else(|e| panic!("{e}"));
    let refused = BTreeMap::from([(
        key.clone(),
        Err(build::Refusal { reason: "RegistryUnreachable".to_owned(), message: "connection refused".to_owned() }),
    )]);
    let previous = Snapshot::bundled(shared_catalog());
    let sources = Sources { dir: Some(&dir), config_maps: &BTreeMap::new(), oci: &refused };
    let snapshot = build::build(shared_sandbox(), &previous, std::slice::from_ref(&oci), &sources);
    assert_eq!(refusals(&snapshot, "portal"), vec![("0.2.0".to_owned(), "RegistryUnreachable".to_owned())]);
    // Fetched (the digest is still checked by the build), it is ready.
    let fetched = BTreeMap::from([(
        key,
        Ok(build::OciBytes { wasm: plugin_bytes(PORTAL_NEXT), label: "oci@test".to_owned(), unreachable: Some("down".to_owned()) }),
    )]);
    let sources = Sources { dir: Some(&dir), config_maps: &BTreeMap::new(), oci: &fetched };
    let snapshot = build::build(shared_sandbox(), &previous, std::slice::from_ref(&oci), &sources);
    assert!(refusals(&snapshot, "portal").is_empty());
    let reachable = snapshot.policy_status["portal"].conditions.iter().find(|c| c.type_ == "SourcesReachable");
    assert_eq!(reachable.map(|c| c.status.as_str()), Some("False"));
}

#[test]
fn a_plugin_that_is_not_what_the_policy_says_is_refused() {
    let wrong = policy(
        "wrong",
        json!({"components": [{
            "component": "core",
            "versions": [
                file_version("0.2.0", PORTAL_NEXT),
                {"version": "0.1.0", "source": {"file": {"name": PORTAL_NEXT}}},
                {"version": "0.1.0", "digest": digest_of(PORTAL_NEXT), "source": {"file": {"name": "../plugins/berth_plugin_portal.wasm"}}},
                {"version": "0.1.0", "digest": digest_of(PORTAL_NEXT), "source": {"file": {"name": "x.wasm"}, "bundled": {}}},
                {"version": "0.4.0", "digest": digest_of(PORTAL_NEXT), "source": {"file": {"name": PORTAL_NEXT}}, "limits": {"memoryBytes": 1}},
            ],
        }]}),
    );
    let snapshot = snapshot_with(&[wrong]);
    let reasons: Vec<String> = refusals(&snapshot, "wrong").into_iter().map(|(_, r)| r).collect();
    assert_eq!(reasons, ["WrongComponent", "DigestRequired", "SourceUnavailable", "InvalidSource", "InvalidLimits"]);
    // Nothing listed is ready, so core stays on the bundled plugin.
    let cluster = read_example("minimal.yaml");
    let plan = snapshot.plan(&ClusterFacts { uid: "u", labels: &labels(&[]), spec: &cluster.spec });
    assert!(matches!(plan.get("core"), Some(Ok(p)) if p.plugin.description().name == "berth-core"));
}

#[test]
fn policy_limits_apply_to_the_plugin() {
    let limited = policy(
        "portal",
        json!({"components": [{
            "component": "portal", "stable": "0.2.0",
            "versions": [{"version": "0.2.0", "digest": digest_of(PORTAL_NEXT), "source": {"file": {"name": PORTAL_NEXT}},
                          "limits": {"deadlineMs": 250, "memoryBytes": 33554432, "objects": 2}}],
        }]}),
    );
    let snapshot = snapshot_with(&[limited]);
    let cluster = read_example("minimal.yaml");
    let plan = snapshot.plan(&ClusterFacts { uid: "u", labels: &labels(&[]), spec: &cluster.spec });
    let Some(Ok(portal)) = plan.get("portal") else { panic!("portal not planned") };
    let limits = portal.plugin.limits();
    assert_eq!((limits.deadline.as_millis(), limits.memory_bytes, limits.objects), (250, 33554432, 2));
    // The portal returns three objects: over the object cap of two.
    let rendered = render(&snapshot, "demo", &cluster, &labels(&[]));
    match component_error(&rendered, "portal") {
        Some(ComponentError::Plugin { source, .. }) => {
            assert_eq!(source.reason(), "PluginTooManyObjects")
        }
        other => panic!("expected the object cap, got {other:?}"),
    }
}

fn render(snapshot: &Snapshot, name: &str, cluster: &HarborCluster, labels: &BTreeMap<String, String>) -> berth::render::ClusterRender {
    let plan = snapshot.plan(&ClusterFacts { uid: "uid", labels, spec: &cluster.spec });
    render_planned(&plan, &ClusterRef { name, namespace: "registry", uid: "uid", spec: &cluster.spec }).unwrap_or_else(|e| panic!("{e}"))
}

fn component_error<'a>(rendered: &'a berth::render::ClusterRender, component: &str) -> Option<&'a ComponentError> {
    rendered.components.iter().find(|(c, _)| c == component).and_then(|(_, r)| r.as_ref().err())
}

#[test]
fn canary_failures_past_the_threshold_roll_the_rollout_back() {
    let rollout = json!({"version": "0.3.0", "selector": {"matchLabels": {"tier": "canary"}}, "failureThreshold": 2});
    let set = PluginSet::new(snapshot_with(&[portal_policy("0.1.0", Some(rollout.clone()))]));
    let cluster = read_example("minimal.yaml");
    let canary = labels(&[("tier", "canary")]);
    assert_eq!(portal_choice(&set.current(), "a", &canary, &cluster), Ok((Selection::Canary, "0.3.0".to_owned())));

    // The broken version traps.
    let rendered = render(&set.current(), "demo", &cluster, &canary);
    assert!(
        matches!(component_error(&rendered, "portal"), Some(ComponentError::Plugin { source, .. }) if source.reason() == "PluginTrapped")
    );

    let broken = berth::sandbox::Digest::of(&plugin_bytes(PORTAL_BROKEN));
    assert_eq!(set.canary_failed("portal", broken, "registry/a"), None);
    assert_eq!(set.canary_failed("portal", broken, "registry/a"), None, "one cluster counts once");
    let rollback = set.canary_failed("portal", broken, "registry/b").unwrap_or_else(|| panic!("no rollback at the threshold"));
    assert_eq!(rollback.failed_clusters, ["registry/a", "registry/b"]);
    assert_eq!(
        portal_choice(&set.current(), "a", &canary, &cluster),
        Ok((Selection::RolledBack { from: "0.3.0".to_owned() }, "0.1.0".to_owned()))
    );
    let status = set.current().policy_status["portal"].components[0].rollout.clone().unwrap_or_default();
    assert_eq!(status.phase, "RolledBack");

    // A policy edit that keeps the same rollout keeps it rolled back (in memory, and
    // from the status a restarted operator reads).
    let rebuilt = snapshot_after(&set.current(), &[portal_policy("0.1.0", Some(rollout.clone()))]);
    assert!(matches!(portal_choice(&rebuilt, "a", &canary, &cluster), Ok((Selection::RolledBack { .. }, _))));
    let mut restarted_policy = portal_policy("0.1.0", Some(rollout));
    restarted_policy.status = Some(set.current().policy_status["portal"].clone());
    let restarted = snapshot_with(&[restarted_policy]);
    assert!(matches!(portal_choice(&restarted, "a", &canary, &cluster), Ok((Selection::RolledBack { .. }, _))));
}

/// (cluster name that picks the breach, the rule it breaks, the kind of the object).
fn guardrail_cases() -> Vec<(&'static str, Rule, &'static str)> {
    vec![
        ("clusterscoped", Rule::ClusterScoped, "Namespace"),
        ("rbac", Rule::Rbac, "Role"),
        ("kind", Rule::AllowedKinds, "CronJob"),
        ("registry", Rule::AllowedRegistries, "Deployment"),
        ("initimage", Rule::AllowedRegistries, "Deployment"),
        ("imagevolume", Rule::AllowedRegistries, "Deployment"),
        ("apigroup", Rule::AllowedKinds, "Deployment"),
        ("secret", Rule::NoSecrets, "Secret"),
        ("takeover", Rule::NameSpace, "ConfigMap"),
        ("privileged", Rule::PodSecurity(Control::Privileged), "Deployment"),
        ("hostpath", Rule::PodSecurity(Control::HostPathVolumes), "Deployment"),
        ("hostnetwork", Rule::PodSecurity(Control::HostNamespaces), "Deployment"),
        ("rootuser", Rule::PodSecurity(Control::RunAsUser), "Deployment"),
        ("sysadmin", Rule::PodSecurity(Control::Capabilities), "Deployment"),
        ("nodename", Rule::PodSecurity(Control::NodeName), "Deployment"),
        ("tolerate", Rule::PodSecurity(Control::Tolerations), "Deployment"),
        ("token", Rule::PodSecurity(Control::ServiceAccountToken), "Deployment"),
    ]
}

/// With no PluginPolicy at all, the hostile portal loaded as the bundled one: every
/// default rule holds, and bad secret declarations fail the component naming the plugin.
#[test]
fn default_guardrails_hold_with_no_policy() {
    let sandbox = shared_sandbox();
    let wasm = std::fs::read(test_plugins().join(GUARDRAIL_BREAKER)).unwrap_or_else(|e| panic!("{e}"));
    let breaker = sandbox.load(GUARDRAIL_BREAKER, &wasm, None, berth_tests::patient_limits()).unwrap_or_else(|e| panic!("{e}"));
    let mut catalog = Catalog::default();
    for plugin in shared_catalog().plugins().filter(|p| p.description().component != "portal") {
        catalog.insert(plugin.clone()).unwrap_or_else(|e| panic!("{e}"));
    }
    catalog.insert(breaker).unwrap_or_else(|e| panic!("{e}"));
    let snapshot = Snapshot::bundled(&catalog);
    let cluster = read_example("minimal.yaml");
    for (name, rule, kind) in guardrail_cases() {
        let rendered = render(&snapshot, name, &cluster, &labels(&[]));
        match component_error(&rendered, "portal") {
            Some(ComponentError::Guardrail { violation, plugin, .. }) => {
                assert_eq!((violation.rule, violation.kind.as_str()), (rule, kind), "{name}");
                assert_eq!(plugin, "guardrail-breaker@0.9.0");
            }
            other => panic!("{name}: expected a guardrail violation, got {other:?}"),
        }
        assert!(rendered.objects().iter().all(|o| o.component != "portal"), "{name}");
    }
    for (name, expected) in [("secretdecl", "NotYours"), ("bigkey", "BadKeySize")] {
        let rendered = render(&snapshot, name, &cluster, &labels(&[]));
        match component_error(&rendered, "portal") {
            Some(e @ ComponentError::Secrets { source, .. }) => {
                assert!(format!("{source:?}").starts_with(expected), "{name}: {source:?}");
                assert!(e.to_string().contains("guardrail-breaker@0.9.0"), "{e}");
            }
            other => panic!("{name}: expected a bad declaration, got {other:?}"),
        }
        // The host's own core Secret keeps the host's token key, not the portal's.
        let core = rendered.secrets.iter().find(|s| s.name == format!("{name}-harbor-core")).unwrap_or_else(|| panic!("no core Secret"));
        assert!(
            core.keys
                .iter()
                .all(|k| !matches!(&k.value, berth::contract::SecretValue::RsaKeyWithCert(berth::contract::RsaKeyWithCert { common_name, .. }) if common_name == "x")),
            "{name}: the portal's declaration reached core's Secret"
        );
    }
    // Ownership and finalizers a plugin sets are stripped, not applied.
    let rendered = render(&snapshot, "owner", &cluster, &labels(&[]));
    let portal: Vec<_> = rendered.objects().into_iter().filter(|o| o.component == "portal").collect();
    assert!(!portal.is_empty());
    for o in portal {
        let metadata = o.object.get("metadata").cloned().unwrap_or_default();
        assert!(metadata.get("ownerReferences").is_none() && metadata.get("finalizers").is_none(), "{}", o.name());
    }
}

#[test]
fn each_guardrail_rule_stops_the_component_and_names_rule_and_object() {
    let breaker = policy(
        "portal",
        json!({
            "guardrails": {"allowedRegistries": ["docker.io/goharbor"]},
            "components": [{
                "component": "portal", "stable": "0.9.0",
                "versions": [file_version("0.9.0", GUARDRAIL_BREAKER)],
            }],
        }),
    );
    let snapshot = snapshot_with(&[breaker]);
    assert!(refusals(&snapshot, "portal").is_empty(), "{:?}", refusals(&snapshot, "portal"));
    let cluster = read_example("minimal.yaml");
    for (name, rule, kind) in guardrail_cases() {
        let rendered = render(&snapshot, name, &cluster, &labels(&[]));
        match component_error(&rendered, "portal") {
            Some(e @ ComponentError::Guardrail { violation, .. }) => {
                assert_eq!((violation.rule, violation.kind.as_str()), (rule, kind), "{name}");
                assert!(e.to_string().contains(rule.name()), "{e}");
                assert_eq!(e.reason(), "GuardrailViolation");
            }
            other => panic!("{name}: expected a guardrail violation, got {other:?}"),
        }
        // Nothing of the portal is applied; the other components are.
        assert!(rendered.objects().iter().all(|o| o.component != "portal"), "{name}");
        assert!(rendered.objects().iter().any(|o| o.component == "core"), "{name}");
    }
    // A name that breaks nothing renders the portal.
    let rendered = render(&snapshot, "fine", &cluster, &labels(&[]));
    assert!(component_error(&rendered, "portal").is_none());
}

#[test]
fn every_object_carries_plugin_version_and_digest_annotations() {
    let snapshot = snapshot_with(&[portal_policy("0.2.0", None)]);
    let cluster = read_example("minimal.yaml");
    let rendered = render(&snapshot, "demo", &cluster, &labels(&[]));
    let digest = digest_of(PORTAL_NEXT);
    let objects = rendered.objects();
    assert!(!objects.is_empty());
    for o in objects {
        let annotations = o.object.get("metadata").and_then(|m| m.get("annotations")).cloned().unwrap_or_default();
        let plugin = annotations.get("berth.dev/plugin").and_then(|v| v.as_str()).unwrap_or_default();
        let version = annotations.get("berth.dev/plugin-version").and_then(|v| v.as_str()).unwrap_or_default();
        let stamped_digest = annotations.get("berth.dev/plugin-digest").and_then(|v| v.as_str()).unwrap_or_default();
        assert!(!plugin.is_empty() && !version.is_empty() && stamped_digest.starts_with("sha256:"), "{}/{}", o.kind(), o.name());
        if o.component == "portal" {
            assert_eq!((plugin, version, stamped_digest), ("berth-portal", "0.2.0", digest.as_str()));
        }
    }
}

#[test]
fn a_vendor_component_renders_for_the_clusters_its_policy_selects() {
    let vendor = policy(
        "vendor-networkpolicy",
        json!({"components": [{
            "component": "network-policy", "stable": "0.1.0",
            "versions": [{"version": "0.1.0", "name": "vendor-networkpolicy", "digest": digest_of(VENDOR_NETWORKPOLICY),
                          "source": {"file": {"name": VENDOR_NETWORKPOLICY}}}],
            "guardrails": {"allowedKinds": ["NetworkPolicy"]},
            "clusterSelector": {"matchLabels": {"network": "locked"}},
        }]}),
    );
    let snapshot = snapshot_with(&[vendor]);
    assert!(refusals(&snapshot, "vendor-networkpolicy").is_empty(), "{:?}", refusals(&snapshot, "vendor-networkpolicy"));
    let cluster = read_example("minimal.yaml");
    let locked = render(&snapshot, "demo", &cluster, &labels(&[("network", "locked")]));
    assert!(locked.errors().next().is_none(), "{:?}", locked.errors().map(|e| e.to_string()).collect::<Vec<_>>());
    let policies: Vec<_> = locked.objects().into_iter().filter(|o| o.component == "network-policy").collect();
    assert!(!policies.is_empty());
    assert!(policies.iter().all(|o| o.kind() == "NetworkPolicy"));
    let open = render(&snapshot, "demo", &cluster, &labels(&[]));
    assert!(open.objects().iter().all(|o| o.component != "network-policy"));
}

#[test]
fn swapping_leaves_a_render_in_flight_on_its_snapshot() {
    let set = PluginSet::new(snapshot_with(&[portal_policy("0.1.0", None)]));
    let held: Arc<Snapshot> = set.current();
    let updates = set.subscribe();
    set.swap(snapshot_after(&held, &[portal_policy("0.2.0", None)]));
    assert!(updates.has_changed().unwrap_or(false));
    let cluster = read_example("minimal.yaml");
    assert_eq!(portal_choice(&held, "u", &labels(&[]), &cluster), Ok((Selection::Stable, "0.1.0".to_owned())));
    assert_eq!(portal_choice(&set.current(), "u", &labels(&[]), &cluster), Ok((Selection::Stable, "0.2.0".to_owned())));
}

#[test]
fn a_guardrail_or_limit_change_marks_the_component_for_re_rendering() {
    let before = snapshot_with(&[portal_policy("0.2.0", None)]);
    let same = snapshot_after(&before, &[portal_policy("0.2.0", None)]);
    assert!(same.rules_changed(&before).is_empty());
    let mut stricter = portal_policy("0.2.0", None);
    stricter.spec.guardrails = Some(serde_json::from_value(json!({"allowedRegistries": ["docker.io/goharbor"]})).unwrap_or_default());
    let after = snapshot_after(&before, &[stricter]);
    assert_eq!(after.rules_changed(&before).into_iter().collect::<Vec<_>>(), ["portal"]);
    // Dropping the policy hands the portal back to the bundled plugin: a change too.
    let dropped = snapshot_after(&before, &[]);
    assert_eq!(dropped.rules_changed(&before).into_iter().collect::<Vec<_>>(), ["portal"]);
}

/// The shipped example policy names the digest of the vendor plugin this workspace
/// builds: a rebuild that changes the plugin must update the policy with it.
#[test]
fn the_vendor_example_policy_pins_the_built_plugin() {
    let path = berth_tests::workspace().join("examples/vendor-plugin/policy.yaml");
    let policies = berth::manifest::read_policies(&path).unwrap_or_else(|e| panic!("{e}"));
    let pinned: Vec<Option<String>> =
        policies.iter().flat_map(|p| p.spec.components.iter()).flat_map(|c| c.versions.iter()).map(|v| v.digest.clone()).collect();
    assert_eq!(pinned, [Some(digest_of(VENDOR_NETWORKPOLICY))], "update examples/vendor-plugin/policy.yaml to the built digest");
}
