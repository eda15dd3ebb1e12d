//! Plugin policy on a running operator against a real control plane: hot swap of a
//! component's plugin, a canary by label, a failing canary rolled back, each guardrail
//! rule, a digest mismatch refused, a pinned cluster, and the vendor plugin loaded from
//! a ConfigMap. The operator runs in-process and is never restarted within a test.
//!
//! Ignored by default; `make e2e` runs every suite, or this one:
//! `cargo test --workspace --test e2e_plugins -- --ignored --test-threads=1`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::Duration;

use berth::HarborCluster;
use berth::policy::PluginPolicy;
use berth_tests::control_plane::ControlPlane;
use berth_tests::operator::{
    Operator, apply_deploy_file, events, eventually, fail, install_crd, or_panic, plane_with_policies, service_account_client, wait_event,
};
use berth_tests::policies::{
    GUARDRAIL_BREAKER, PORTAL_BROKEN, PORTAL_NEXT, VENDOR_NETWORKPOLICY, apply_policy, digest_of, file_version, plugin_bytes, policy,
    portal_policy,
};
use berth_tests::{read_example, workspace};
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt as _};
use serde_json::{Value, json};

const NS: &str = "registry";

/// A control plane with both CRDs served and the namespaces `registry` and
/// `berth-system`.
async fn plane() -> Result<(ControlPlane, Client), String> {
    plane_with_policies(true, &[NS, "berth-system"]).await
}

/// The example vendor policy as shipped, and its plugin gzip-compressed in the ConfigMap
/// the policy names (created here; the policy is returned, not applied).
async fn vendor_setup(client: &Client) -> Result<Vec<PluginPolicy>, String> {
    let policies = berth::manifest::read_policies(&workspace().join("examples/vendor-plugin/policy.yaml")).map_err(|e| e.to_string())?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&plugin_bytes(VENDOR_NETWORKPOLICY)).map_err(fail("gzip"))?;
    let gz = gz.finish().map_err(fail("gzip"))?;
    let config_map = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some("vendor-networkpolicy-0.1.0".to_owned()),
            labels: Some(BTreeMap::from([("berth.dev/plugin-source".to_owned(), "true".to_owned())])),
            ..Default::default()
        },
        binary_data: Some(BTreeMap::from([("plugin.wasm.gz".to_owned(), ByteString(gz))])),
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(client.clone(), "berth-system")
        .create(&PostParams::default(), &config_map)
        .await
        .map_err(fail("plugin ConfigMap"))?;
    Ok(policies)
}

/// Waits for at least `at_least` NetworkPolicies of the cluster `demo`.
async fn network_policies(client: &Client, at_least: usize) -> Result<Vec<NetworkPolicy>, String> {
    let api = Api::<NetworkPolicy>::namespaced(client.clone(), NS);
    eventually("the vendor's NetworkPolicies", || async {
        let list = api.list(&ListParams::default().labels("berth.dev/cluster=demo")).await.ok()?;
        (list.items.len() >= at_least).then_some(list.items)
    })
    .await
}

async fn get_policy(client: &Client, name: &str) -> Option<PluginPolicy> {
    Api::<PluginPolicy>::all(client.clone()).get_opt(name).await.ok().flatten()
}

/// minimal.yaml as `name`, with labels and plugin pins.
async fn create_cluster(client: &Client, name: &str, labels: &[(&str, &str)], pins: Value) -> Result<(), String> {
    let mut cluster = read_example("minimal.yaml");
    cluster.metadata.name = Some(name.to_owned());
    cluster.metadata.namespace = Some(NS.to_owned());
    cluster.metadata.labels = Some(labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect());
    cluster.spec.plugins = serde_json::from_value(pins).map_err(fail("pins"))?;
    Api::<HarborCluster>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &cluster)
        .await
        .map(drop)
        .map_err(fail("creating the HarborCluster"))
}

/// The portal's (plugin version, selection, message) in the cluster's status.
async fn portal_status(client: &Client, name: &str) -> Option<(String, String, String)> {
    let hc = Api::<HarborCluster>::namespaced(client.clone(), NS).get_opt(name).await.ok()??;
    let status = hc.status?;
    if status.observed_generation != hc.metadata.generation {
        return None;
    }
    let portal = status.components.into_iter().find(|c| c.name == "portal")?;
    Some((portal.plugin_version, portal.selection.unwrap_or_default(), portal.message.unwrap_or_default()))
}

async fn wait_portal(client: &Client, name: &str, version: &str, selection: &str) -> Result<(), String> {
    let what = format!("{name}'s portal on {version} ({selection})");
    eventually(&what, || async {
        let (v, s, _) = portal_status(client, name).await?;
        (v == version && s == selection).then_some(())
    })
    .await
}

/// The renderer annotation portal-next adds to the pod template, if any.
async fn portal_template_marker(client: &Client, name: &str) -> Option<String> {
    let deployment = Api::<Deployment>::namespaced(client.clone(), NS).get_opt(&format!("{name}-harbor-portal")).await.ok()??;
    let annotations = deployment.spec?.template.metadata?.annotations?;
    annotations.get("portal.berth.dev/renderer").cloned()
}

/// Notes of the Events with `reason` about the object named `regarding` in `namespace`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn swapping_the_stable_version_re_renders_on_the_running_operator() {
    let (_plane, client) = or_panic(plane().await);
    or_panic(apply_policy(&client, &portal_policy("0.1.0", None)).await);
    let operator = Operator::with_policies(&client);
    or_panic(create_cluster(&client, "demo", &[], json!({})).await);
    or_panic(wait_portal(&client, "demo", "0.1.0", "stable").await);
    assert_eq!(portal_template_marker(&client, "demo").await, None);
    let reconciles = operator.context.metrics.reconciles();

    or_panic(apply_policy(&client, &portal_policy("0.2.0", None)).await);
    or_panic(wait_portal(&client, "demo", "0.2.0", "stable").await);
    let marker = or_panic(eventually("the 0.2.0 pod template", || portal_template_marker(&client, "demo")).await);
    assert_eq!(marker, "0.2.0");
    // Every portal object names the plugin that rendered it.
    let deployment = or_panic(Api::<Deployment>::namespaced(client.clone(), NS).get("demo-harbor-portal").await.map_err(fail("portal")));
    let annotations = deployment.annotations();
    assert_eq!(annotations.get("berth.dev/plugin-version").map(String::as_str), Some("0.2.0"));
    assert_eq!(annotations.get("berth.dev/plugin-digest"), Some(&digest_of(PORTAL_NEXT)));
    // The move was announced with the shadow diff.
    let note = or_panic(wait_event(&client, NS, "demo", "PluginVersionChange").await);
    assert!(note.contains("0.1.0 -> 0.2.0") && note.contains("portal.berth.dev/renderer"), "{note}");
    // The policy says what is in force, and nothing restarted: the same controller
    // reconciled on.
    let status = get_policy(&client, "portal").await.and_then(|p| p.status).unwrap_or_default();
    assert!(status.components.iter().any(|c| c.component == "portal" && c.stable.contains("berth-portal@0.2.0")), "{status:?}");
    assert!(operator.context.metrics.reconciles() > reconciles);
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn a_canary_by_label_gets_the_new_version_and_the_rest_stay() {
    let (_plane, client) = or_panic(plane().await);
    let rollout = json!({"version": "0.2.0", "selector": {"matchLabels": {"tier": "canary"}}});
    or_panic(apply_policy(&client, &portal_policy("0.1.0", Some(rollout))).await);
    let operator = Operator::with_policies(&client);
    or_panic(create_cluster(&client, "canary", &[("tier", "canary")], json!({})).await);
    or_panic(create_cluster(&client, "steady", &[("tier", "prod")], json!({})).await);
    or_panic(wait_portal(&client, "canary", "0.2.0", "canary").await);
    or_panic(wait_portal(&client, "steady", "0.1.0", "stable").await);
    assert_eq!(portal_template_marker(&client, "steady").await, None);

    // Labelling a cluster into the canary group moves it.
    let patch = json!({"metadata": {"labels": {"tier": "canary"}}});
    or_panic(
        Api::<HarborCluster>::namespaced(client.clone(), NS)
            .patch("steady", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(drop)
            .map_err(fail("labelling")),
    );
    or_panic(wait_portal(&client, "steady", "0.2.0", "canary").await);
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn a_failing_canary_is_rolled_back_and_status_says_so() {
    let (_plane, client) = or_panic(plane().await);
    or_panic(apply_policy(&client, &portal_policy("0.1.0", None)).await);
    let operator = Operator::with_policies(&client);
    or_panic(create_cluster(&client, "canary", &[("tier", "canary")], json!({})).await);
    or_panic(create_cluster(&client, "steady", &[], json!({})).await);
    or_panic(wait_portal(&client, "canary", "0.1.0", "stable").await);
    or_panic(wait_portal(&client, "steady", "0.1.0", "stable").await);

    let rollout = json!({"version": "0.3.0", "selector": {"matchLabels": {"tier": "canary"}}, "failureThreshold": 1});
    or_panic(apply_policy(&client, &portal_policy("0.1.0", Some(rollout))).await);
    // The canary trips over 0.3.0, the rollout stops, and it goes back to 0.1.0.
    or_panic(wait_portal(&client, "canary", "0.1.0", "rolled back from 0.3.0").await);
    let note = or_panic(wait_event(&client, NS, "canary", "RolloutRolledBack").await);
    assert!(note.contains("0.3.0"), "{note}");
    let rollout = or_panic(
        eventually("the policy's rollout to say RolledBack", || async {
            let status = get_policy(&client, "portal").await?.status?;
            let rollout = status.components.into_iter().find(|c| c.component == "portal")?.rollout?;
            (rollout.phase == "RolledBack").then_some(rollout)
        })
        .await,
    );
    assert_eq!(rollout.failed_clusters, [format!("{NS}/canary")]);
    // The rest never saw it.
    assert_eq!(portal_status(&client, "steady").await.map(|(v, s, _)| (v, s)), Some(("0.1.0".to_owned(), "stable".to_owned())));
    assert!(events(&client, NS, "steady", "PluginVersionChange").await.is_empty());
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn each_guardrail_violation_stops_the_component_and_is_named() {
    let (_plane, client) = or_panic(plane().await);
    let breaker = policy(
        "portal",
        json!({
            "guardrails": {"allowedRegistries": ["docker.io/goharbor"]},
            "components": [{"component": "portal", "stable": "0.1.0",
                            "versions": [{"version": "0.1.0", "source": {"bundled": {}}}, file_version("0.9.0", GUARDRAIL_BREAKER)]}],
        }),
    );
    or_panic(apply_policy(&client, &breaker).await);
    let operator = Operator::with_policies(&client);
    let cases = [
        ("clusterscoped", "allowClusterScoped", "Namespace/clusterscoped-harbor-portal-breaker"),
        ("rbac", "allowRBAC", "Role/rbac-harbor-portal-breaker"),
        ("kind", "allowedKinds", "CronJob/kind-harbor-portal-breaker"),
        ("registry", "allowedRegistries", "Deployment/registry-harbor-portal"),
        ("apigroup", "allowedKinds", "Deployment/apigroup-harbor-portal-breaker"),
        ("secret", "noSecrets", "Secret/secret-harbor-portal-breaker"),
        ("takeover", "componentNames", "ConfigMap/kube-root-ca.crt"),
        ("privileged", "podSecurity.privileged", "Deployment/privileged-harbor-portal"),
        ("hostpath", "podSecurity.hostPathVolumes", "Deployment/hostpath-harbor-portal"),
        ("token", "podSecurity.serviceAccountToken", "Deployment/token-harbor-portal"),
        ("initimage", "allowedRegistries", "Deployment/initimage-harbor-portal"),
    ];
    for (name, _, _) in cases {
        or_panic(create_cluster(&client, name, &[], json!({"portal": {"version": "0.9.0"}})).await);
    }
    for (name, rule, object) in cases {
        let message = or_panic(
            eventually(&format!("{name}'s portal to fail on {rule}"), || async {
                let (_, _, message) = portal_status(&client, name).await?;
                message.contains("guardrail").then_some(message)
            })
            .await,
        );
        assert!(message.contains(rule) && message.contains(object), "{name}: {message}");
        let note = or_panic(wait_event(&client, NS, name, "GuardrailViolation").await);
        assert!(note.contains(rule), "{note}");
        // Nothing of the portal was applied; the other components were.
        let deployments = Api::<Deployment>::namespaced(client.clone(), NS);
        assert!(or_panic(deployments.get_opt(&format!("{name}-harbor-portal")).await.map_err(fail("get"))).is_none(), "{name}");
        assert!(or_panic(deployments.get_opt(&format!("{name}-harbor-core")).await.map_err(fail("get"))).is_some(), "{name}");
    }
    // The namespace's own ConfigMap was neither taken over nor changed.
    let root_ca = or_panic(
        Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), NS).get_opt("kube-root-ca.crt").await.map_err(fail("get")),
    );
    if let Some(root_ca) = root_ca {
        assert!(root_ca.metadata.owner_references.is_none(), "kube-root-ca.crt was taken over");
        assert_ne!(root_ca.data.unwrap_or_default().get("ca.crt").map(String::as_str), Some("not the cluster's"));
    }
    operator.stop().await;
}

/// With no PluginPolicy, a pre-existing object of a name a component renders that Berth
/// did not make (a user's ConfigMap) is refused, not taken over, and left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn an_object_berth_did_not_create_is_never_taken_over() {
    let (_plane, client) = or_panic(plane().await);
    let config_maps = Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), NS);
    let mine: k8s_openapi::api::core::v1::ConfigMap = or_panic(
        serde_json::from_value(json!({"metadata": {"name": "demo-harbor-portal"}, "data": {"mine": "yes"}})).map_err(fail("configmap")),
    );
    or_panic(config_maps.create(&Default::default(), &mine).await.map_err(fail("create")));
    let operator = Operator::with_policies(&client);
    or_panic(create_cluster(&client, "demo", &[], json!({})).await);
    let message = or_panic(
        eventually("the portal to refuse the foreign ConfigMap", || async {
            let (_, _, message) = portal_status(&client, "demo").await?;
            message.contains("Berth did not create").then_some(message)
        })
        .await,
    );
    assert!(message.contains("ConfigMap demo-harbor-portal"), "{message}");
    let after = or_panic(config_maps.get("demo-harbor-portal").await.map_err(fail("get")));
    assert_eq!(after.data.unwrap_or_default().get("mine").map(String::as_str), Some("yes"));
    assert!(after.metadata.owner_references.is_none());
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn a_digest_mismatch_is_refused_and_the_working_version_stays() {
    let (_plane, client) = or_panic(plane().await);
    or_panic(apply_policy(&client, &portal_policy("0.2.0", None)).await);
    let operator = Operator::with_policies(&client);
    or_panic(create_cluster(&client, "demo", &[], json!({})).await);
    or_panic(wait_portal(&client, "demo", "0.2.0", "stable").await);

    // 0.3.0's bytes are portal-broken's; the policy claims portal-next's digest for them.
    let lying = policy(
        "portal",
        json!({"components": [{"component": "portal", "stable": "0.3.0", "versions": [
            file_version("0.2.0", PORTAL_NEXT),
            {"version": "0.3.0", "digest": digest_of(PORTAL_NEXT), "source": {"file": {"name": PORTAL_BROKEN}}},
        ]}]}),
    );
    or_panic(apply_policy(&client, &lying).await);
    let note = or_panic(wait_event(&client, "default", "portal", "PluginRefused").await);
    assert!(note.contains("PluginDigestMismatch"), "{note}");
    let status = get_policy(&client, "portal").await.and_then(|p| p.status).unwrap_or_default();
    let portal = status.components.iter().find(|c| c.component == "portal").cloned().unwrap_or_default();
    assert!(portal.refused.iter().any(|r| r.version == "0.3.0" && r.reason == "PluginDigestMismatch"), "{portal:?}");
    assert!(portal.stable.contains("berth-portal@0.2.0"), "{portal:?}");
    assert_eq!(status.conditions.first().map(|c| c.reason.as_str()), Some("VersionsRefused"));
    // The cluster stays on what worked.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(portal_status(&client, "demo").await.map(|(v, _, _)| v), Some("0.2.0".to_owned()));
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn a_pinned_cluster_stays_on_its_version_through_a_swap() {
    let (_plane, client) = or_panic(plane().await);
    or_panic(apply_policy(&client, &portal_policy("0.1.0", None)).await);
    let operator = Operator::with_policies(&client);
    or_panic(create_cluster(&client, "pinned", &[], json!({"portal": {"version": "0.1.0"}})).await);
    or_panic(create_cluster(&client, "follower", &[], json!({})).await);
    or_panic(wait_portal(&client, "pinned", "0.1.0", "pinned").await);
    or_panic(wait_portal(&client, "follower", "0.1.0", "stable").await);
    or_panic(apply_policy(&client, &portal_policy("0.2.0", None)).await);
    or_panic(wait_portal(&client, "follower", "0.2.0", "stable").await);
    assert_eq!(portal_status(&client, "pinned").await.map(|(v, s, _)| (v, s)), Some(("0.1.0".to_owned(), "pinned".to_owned())));
    assert_eq!(portal_template_marker(&client, "pinned").await, None);
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn the_vendor_plugin_from_a_configmap_applies_its_network_policies() {
    let (_plane, client) = or_panic(plane().await);
    let policies = or_panic(vendor_setup(&client).await);
    let operator = Operator::with_policies(&client);
    or_panic(create_cluster(&client, "demo", &[], json!({})).await);
    or_panic(wait_portal(&client, "demo", "0.1.0", "bundled").await);
    // Enabled on the running operator.
    for policy in &policies {
        or_panic(apply_policy(&client, policy).await);
    }
    let applied = or_panic(network_policies(&client, 4).await);
    for np in &applied {
        assert_eq!(np.labels().get("berth.dev/component").map(String::as_str), Some("network-policy"));
        assert_eq!(np.annotations().get("berth.dev/plugin").map(String::as_str), Some("vendor-networkpolicy"));
        let owner = np.owner_references().first().map(|o| (o.kind.clone(), o.name.clone()));
        assert_eq!(owner, Some(("HarborCluster".to_owned(), "demo".to_owned())));
    }
    // The status is written after the objects are applied: wait for it, not a moment.
    let component = or_panic(
        eventually("the network-policy component in demo's status", || async {
            let hc = Api::<HarborCluster>::namespaced(client.clone(), NS).get_opt("demo").await.ok()??;
            hc.status?.components.into_iter().find(|c| c.name == "network-policy")
        })
        .await,
    );
    assert_eq!((component.plugin, component.selection), ("vendor-networkpolicy".to_owned(), Some("stable".to_owned())));
    operator.stop().await;
}

/// deploy/rbac.yaml covers the policy path too: following PluginPolicies, reading a
/// plugin ConfigMap, writing the policy's status, applying NetworkPolicies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn the_deploy_rbac_is_enough_for_plugin_policies() {
    let (plane, admin) = or_panic(plane().await);
    or_panic(apply_deploy_file(&admin, "rbac.yaml").await);
    let policies = or_panic(vendor_setup(&admin).await);
    for policy in &policies {
        or_panic(apply_policy(&admin, policy).await);
    }
    let client = or_panic(service_account_client(&plane).await);
    let operator = Operator::with_policies(&client);
    or_panic(create_cluster(&admin, "demo", &[], json!({})).await);
    or_panic(network_policies(&admin, 4).await);
    let status = or_panic(eventually("the policy's status", || async { get_policy(&admin, "vendor-networkpolicy").await?.status }).await);
    assert_eq!(status.conditions.first().map(|c| c.status.as_str()), Some("True"), "{status:?}");
    assert!(operator.context.metrics.failures().is_empty(), "reconcile failures: {:?}", operator.context.metrics.failures());
    operator.stop().await;
}

/// An operator started before the PluginPolicy CRD exists renders with its bundled
/// plugins, and follows the first policy once the CRD is installed: no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd, kube-apiserver and kube-controller-manager (KUBEBUILDER_ASSETS)"]
async fn policies_are_followed_once_their_crd_is_installed_later() {
    let plane = or_panic(ControlPlane::start(true).await);
    let client = or_panic(plane.client());
    or_panic(install_crd(&client, berth::crd::harbor_cluster_crd_yaml()).await);
    let namespace: Namespace = or_panic(serde_json::from_value(json!({"metadata": {"name": NS}})).map_err(fail("namespace")));
    or_panic(Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &namespace).await.map_err(fail("namespace")));
    let clusters: Api<HarborCluster> = Api::all(client.clone());
    or_panic(eventually("the CRD", || async { clusters.list(&ListParams::default()).await.ok() }).await);

    let operator = Operator::with_policies(&client);
    or_panic(create_cluster(&client, "demo", &[], json!({})).await);
    or_panic(wait_portal(&client, "demo", "0.1.0", "bundled").await);

    or_panic(install_crd(&client, berth::crd::plugin_policy_crd_yaml()).await);
    let policies: Api<PluginPolicy> = Api::all(client.clone());
    or_panic(eventually("the PluginPolicy CRD", || async { policies.list(&ListParams::default()).await.ok() }).await);
    or_panic(apply_policy(&client, &portal_policy("0.2.0", None)).await);
    or_panic(wait_portal(&client, "demo", "0.2.0", "stable").await);
    operator.stop().await;
}
