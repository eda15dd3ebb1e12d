//! Taking over a Helm chart install (`spec.adopt`) on a real control plane.
//!
//! Each test lays down a chart install the way Helm does (`berth_tests::chart_install`:
//! the chart's names, labels, selectors, Secret layout and chart-only objects, created by
//! the field manager `helm`), imports its values with `berth import`, and applies the
//! HarborCluster. Then every object Berth renders must be Berth's, no Secret value may
//! have changed, no StatefulSet may be recreated, no claim's spec touched, every key a
//! pod template references must exist, and the chart-only objects must go only once
//! nothing reads them.
//!
//! Ignored by default; `make e2e` runs every suite, or this one:
//! `cargo test -p berth-tests --test e2e_adopt -- --ignored --test-threads=1`.

use std::collections::BTreeMap;

use berth::HarborCluster;
use berth_tests::chart_install::{ChartInstall, api_for, chart_install, lay_down};
use berth_tests::operator::{
    Operator, apply_deploy_file, events, eventually, fail, or_panic, plane_with_clusters, service_account_client, wait_event,
};
use berth_tests::shared_catalog;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use serde_json::{Value, json};

const RELEASE: &str = "prod";

/// `berth import` of `values` for the release in `namespace`: what a user applies.
fn imported(values: Value, namespace: &str) -> HarborCluster {
    or_panic(berth::helm_import::import(values, RELEASE, namespace).map_err(fail("import"))).cluster
}

async fn live(client: &Client, namespace: &str, object: &Value) -> Option<Value> {
    let api = api_for(client, namespace, object).ok()?;
    let name = object["metadata"]["name"].as_str()?;
    api.get_opt(name).await.ok().flatten().and_then(|o| serde_json::to_value(o).ok())
}

/// (kind, name) -> (uid, spec) of every object laid down.
async fn snapshot(client: &Client, namespace: &str, install: &ChartInstall) -> BTreeMap<(String, String), (String, Value)> {
    let mut out = BTreeMap::new();
    for object in &install.objects {
        let found = or_panic(live(client, namespace, object).await.ok_or("an object laid down is missing".to_owned()));
        let key =
            (object["kind"].as_str().unwrap_or_default().to_owned(), object["metadata"]["name"].as_str().unwrap_or_default().to_owned());
        out.insert(key, (found["metadata"]["uid"].as_str().unwrap_or_default().to_owned(), found["spec"].clone()));
    }
    out
}

async fn adoption(client: &Client, namespace: &str) -> Option<berth_api::status::AdoptionStatus> {
    let hc = Api::<HarborCluster>::namespaced(client.clone(), namespace).get(RELEASE).await.ok()?;
    hc.status?.adoption
}

fn secret_values(secret: &Secret) -> BTreeMap<String, String> {
    secret.data.iter().flatten().map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned())).collect()
}

/// Every Secret key and ConfigMap key a live pod template references exists; every
/// Secret and ConfigMap it names whole exists.
async fn every_reference_resolves(client: &Client, namespace: &str, install: &ChartInstall) -> Result<usize, String> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let mut checked = 0;
    for object in install.objects.iter().filter(|o| matches!(o["kind"].as_str(), Some("Deployment" | "StatefulSet"))) {
        let workload = live(client, namespace, object).await.ok_or("a workload is gone")?;
        let name = workload["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        let mut refs = Vec::new();
        key_refs(&workload["spec"]["template"]["spec"], &mut refs);
        for (kind, target, key) in refs {
            let keys: Option<Vec<String>> = match kind {
                "Secret" => {
                    secrets.get_opt(&target).await.map_err(fail("secret"))?.map(|s| s.data.unwrap_or_default().into_keys().collect())
                }
                _ => maps.get_opt(&target).await.map_err(fail("configmap"))?.map(|m| m.data.unwrap_or_default().into_keys().collect()),
            };
            let keys = keys.ok_or_else(|| format!("{name} references {kind} {target}, which does not exist"))?;
            if let Some(key) = key.filter(|k| !keys.contains(k)) {
                return Err(format!("{name} references key {key} of {kind} {target}, which has only {keys:?}"));
            }
            checked += 1;
        }
    }
    Ok(checked)
}

/// (kind, name, key) of what a pod spec reads; the key is None for a whole object.
fn key_refs(value: &Value, out: &mut Vec<(&'static str, String, Option<String>)>) {
    match value {
        Value::Object(fields) => {
            for (field, inner) in fields {
                let name = inner.get("name").and_then(Value::as_str).map(str::to_owned);
                let optional = inner.get("optional").and_then(Value::as_bool) == Some(true);
                match field.as_str() {
                    _ if optional => {}
                    "secretKeyRef" => out.extend(name.map(|n| ("Secret", n, inner["key"].as_str().map(str::to_owned)))),
                    "configMapKeyRef" => out.extend(name.map(|n| ("ConfigMap", n, inner["key"].as_str().map(str::to_owned)))),
                    "secretRef" => out.extend(name.map(|n| ("Secret", n, None))),
                    "configMapRef" => out.extend(name.map(|n| ("ConfigMap", n, None))),
                    "secret" | "configMap" => {
                        let kind = if field == "secret" { "Secret" } else { "ConfigMap" };
                        let target = inner.get("secretName").and_then(Value::as_str).map(str::to_owned).or(name);
                        if let Some(target) = target {
                            let items: Vec<Option<String>> = match inner.get("items").and_then(Value::as_array) {
                                Some(items) => items.iter().map(|i| i["key"].as_str().map(str::to_owned)).collect(),
                                None => vec![None],
                            };
                            out.extend(items.into_iter().map(|key| (kind, target.clone(), key)));
                        }
                        continue;
                    }
                    _ => {}
                }
                key_refs(inner, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| key_refs(item, out)),
        _ => {}
    }
}

/// Lays the chart install down, starts the operator as deploy/rbac.yaml's ServiceAccount
/// and applies the imported HarborCluster; returns what it needs to look at after.
async fn adopt(
    values: Value,
    namespace: &str,
) -> (berth_tests::control_plane::ControlPlane, Client, Operator, ChartInstall, BTreeMap<(String, String), (String, Value)>) {
    let (plane, admin) = or_panic(plane_with_clusters(false, &[namespace]).await);
    or_panic(apply_deploy_file(&admin, "namespace.yaml").await);
    or_panic(apply_deploy_file(&admin, "rbac.yaml").await);
    let cluster = imported(values, namespace);
    assert_eq!(cluster.spec.adopt.as_ref().map(|a| a.helm_release.as_str()), Some(RELEASE), "berth import names the release to adopt");
    let rendered = or_panic(berth_tests::render(shared_catalog(), &cluster).map_err(fail("render")));
    let install = or_panic(chart_install(&rendered, RELEASE, namespace));
    or_panic(lay_down(&admin, namespace, &install).await);
    let before = snapshot(&admin, namespace, &install).await;
    let operator = Operator::start(&or_panic(service_account_client(&plane).await), shared_catalog().clone());
    or_panic(
        Api::<HarborCluster>::namespaced(admin.clone(), namespace)
            .create(&PostParams::default(), &cluster)
            .await
            .map(drop)
            .map_err(fail("creating the HarborCluster")),
    );
    (plane, admin, operator, install, before)
}

/// What every adoption must leave: every laid-down object Berth renders is Berth's and
/// has no field only Helm set, Secrets keep every value, StatefulSets and claims are
/// the same objects with the same spec, selectors are the chart's.
async fn check_taken_over(admin: &Client, namespace: &str, install: &ChartInstall, before: &BTreeMap<(String, String), (String, Value)>) {
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), namespace);
    for (name, values) in &install.secrets {
        let now = or_panic(secrets.get(name).await.map_err(fail("secret")));
        let now_values = secret_values(&now);
        for (key, value) in values {
            assert_eq!(now_values.get(key), Some(value), "Secret {name} key {key} changed or went");
        }
        assert_eq!(now.immutable, Some(true), "adopted Secret {name} is immutable");
        let labels = now.metadata.labels.unwrap_or_default();
        assert_eq!(labels.get("berth.dev/generated").map(String::as_str), Some("true"), "{name}: {labels:?}");
        assert!(!labels.contains_key("heritage"), "{name} still carries the chart's labels: {labels:?}");
    }
    let htpasswd = format!("{}-registry-htpasswd", install.fullname);
    let copied = secret_values(&or_panic(secrets.get(&htpasswd).await.map_err(fail("htpasswd"))));
    let core = &install.secrets[&format!("{}-core", install.fullname)];
    assert_eq!(
        copied.get("REGISTRY_PASSWD"),
        core.get("REGISTRY_CREDENTIAL_PASSWORD"),
        "the registry password is copied where Berth reads it"
    );

    for object in install.objects.iter().filter(|o| !matches!(o["kind"].as_str(), Some("Secret"))) {
        let kind = object["kind"].as_str().unwrap_or_default();
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let Some(now) = live(admin, namespace, object).await else {
            continue; // a chart-only object, checked by the caller
        };
        let labels = now["metadata"]["labels"].as_object().cloned().unwrap_or_default();
        if !labels.contains_key("berth.dev/cluster") {
            continue;
        }
        let (uid, spec) = &before[&(kind.to_owned(), name.to_owned())];
        assert_eq!(now["metadata"]["uid"].as_str(), Some(uid.as_str()), "{kind} {name} was recreated");
        let managers: Vec<&str> =
            now["metadata"]["managedFields"].as_array().into_iter().flatten().filter_map(|m| m["manager"].as_str()).collect();
        match kind {
            "PersistentVolumeClaim" => assert_eq!(&now["spec"], spec, "claim {name}'s spec changed"),
            _ => {
                assert!(!managers.contains(&"helm"), "{kind} {name} still has fields Helm owns: {managers:?}");
                assert!(
                    !labels.contains_key("heritage") && !labels.contains_key("chart"),
                    "{kind} {name} keeps Helm-only labels: {labels:?}"
                );
                let annotations = now["metadata"]["annotations"].as_object().cloned().unwrap_or_default();
                assert!(annotations.keys().all(|k| !k.starts_with("meta.helm.sh/")), "{kind} {name}: {annotations:?}");
                assert_eq!(annotations.get("berth.dev/adopted-from"), Some(&json!(format!("helm-release/{RELEASE}"))), "{kind} {name}");
            }
        }
        match kind {
            "StatefulSet" => {
                for template in now["spec"]["volumeClaimTemplates"].as_array().into_iter().flatten() {
                    assert_eq!(
                        template["metadata"]["labels"],
                        json!({"app": "harbor", "chart": "harbor", "heritage": "Helm", "release": RELEASE})
                    );
                }
                assert_eq!(now["spec"]["selector"], spec["selector"], "{name}'s selector is the chart's");
                assert!(
                    now["spec"]["template"]["metadata"]["annotations"].get("checksum/configmap").is_none(),
                    "the chart's checksum stays on {name}"
                );
            }
            "Deployment" => {
                assert_eq!(now["spec"]["selector"], spec["selector"], "{name}'s selector is the chart's");
                let pod_labels = &now["spec"]["template"]["metadata"]["labels"];
                for (key, value) in spec["selector"]["matchLabels"].as_object().into_iter().flatten() {
                    assert_eq!(&pod_labels[key], value, "{name}'s pods no longer match its selector");
                }
                if now["spec"]["strategy"]["type"] == "Recreate" {
                    assert!(now["spec"]["strategy"].get("rollingUpdate").is_none(), "{name}: {}", now["spec"]["strategy"]);
                }
            }
            "Service" => assert_eq!(now["spec"]["selector"], spec["selector"], "Service {name} selects what it selected"),
            _ => {}
        }
    }
    let checked = or_panic(every_reference_resolves(admin, namespace, install).await);
    assert!(checked > 10, "only {checked} references were checked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS)"]
async fn a_chart_install_with_default_values_is_taken_over_and_its_leftovers_go_once_unread() {
    const NS: &str = "registry";
    // What an old chart pod still running looks like to the sweep: it reads the
    // registryctl Secret, so that Secret must wait for it.
    let values = json!({"externalURL": "https://registry.example.com", "expose": {"ingress": {"hosts": {"core": "registry.example.com"}}}});
    let (_plane, admin, operator, install, before) = adopt(values, NS).await;
    let old_pod: Pod = or_panic(
        serde_json::from_value(json!({"metadata": {"name": "old-registry"}, "spec": {"containers": [{"name": "registryctl", "image": "goharbor/harbor-registryctl:v2.15.1",
            "envFrom": [{"secretRef": {"name": format!("{}-registryctl", install.fullname)}}]}]}}))
        .map_err(fail("pod")),
    );
    // No controller-manager runs here to make the namespace's default ServiceAccount.
    let account: k8s_openapi::api::core::v1::ServiceAccount =
        or_panic(serde_json::from_value(json!({"metadata": {"name": "default"}})).map_err(fail("sa")));
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(admin.clone(), NS);
    or_panic(accounts.create(&PostParams::default(), &account).await.map(drop).map_err(fail("service account")));
    let pods: Api<Pod> = Api::namespaced(admin.clone(), NS);
    or_panic(pods.create(&PostParams::default(), &old_pod).await.map(drop).map_err(fail("old pod")));

    let waiting = or_panic(
        eventually("the adoption to wait for the old pod", || async { adoption(&admin, NS).await.filter(|a| !a.waiting.is_empty()) }).await,
    );
    assert_eq!(waiting.phase, "Adopting");
    assert_eq!(waiting.waiting, [format!("Secret/{}-registryctl (read by Pod/old-registry)", install.fullname)]);
    check_taken_over(&admin, NS, &install, &before).await;
    let maps: Api<ConfigMap> = Api::namespaced(admin.clone(), NS);
    assert!(
        or_panic(maps.get_opt(&format!("{}-registryctl", install.fullname)).await.map_err(fail("cm"))).is_none(),
        "nothing reads the chart-only ConfigMap"
    );
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), NS);
    for chart_only in ["exporter", "trivy"] {
        assert!(
            or_panic(secrets.get_opt(&format!("{}-{chart_only}", install.fullname)).await.map_err(fail("secret"))).is_none(),
            "{chart_only} Secret left"
        );
    }
    let note = or_panic(wait_event(&admin, NS, RELEASE, "TakenOverFromHelm").await);
    assert!(note.contains("metadata.labels.chart"), "{note}");
    let note = or_panic(wait_event(&admin, NS, RELEASE, "SecretsAdopted").await);
    assert!(note.contains("REGISTRY_PASSWD from"), "{note}");

    or_panic(pods.delete("old-registry", &DeleteParams::default()).await.map(drop).map_err(fail("deleting the old pod")));
    let done =
        or_panic(eventually("the adoption to complete", || async { adoption(&admin, NS).await.filter(|a| a.phase == "Adopted") }).await);
    assert!(done.waiting.is_empty());
    assert!(or_panic(secrets.get_opt(&format!("{}-registryctl", install.fullname)).await.map_err(fail("secret"))).is_none());
    assert!(events(&admin, NS, RELEASE, "ChartObjectsRemoved").await.iter().any(|n| n.contains("registryctl")));
    // Settled: the takeover is not repeated, and what it left still holds.
    check_taken_over(&admin, NS, &install, &before).await;
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS)"]
async fn a_production_like_chart_install_is_taken_over() {
    const NS: &str = "prod";
    let values = json!({
        "externalURL": "https://harbor.example.com",
        "expose": {"type": "ingress", "tls": {"certSource": "secret", "secret": {"secretName": "harbor-tls"}},
                   "ingress": {"hosts": {"core": "harbor.example.com"}, "className": "nginx"}},
        "database": {"type": "external", "external": {"host": "pg.example.com", "username": "harbor", "existingSecret": "harbor-pg"}},
        "redis": {"type": "external", "external": {"addr": "redis.example.com:6379", "existingSecret": "harbor-redis"}},
        "persistence": {"imageChartStorage": {"type": "s3", "s3": {"region": "eu-west-1", "bucket": "harbor-blobs", "existingSecret": "harbor-s3"}}},
        "core": {"replicas": 2}, "portal": {"replicas": 2}, "registry": {"replicas": 2},
        "jobservice": {"replicas": 2, "jobLoggers": ["database"]},
    });
    let (_plane, admin, operator, install, before) = adopt(values, NS).await;
    // The user's own Secrets the values name.
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), NS);
    for (name, data) in [
        ("harbor-pg", json!({"password": "pg-pass"})),
        ("harbor-redis", json!({"REDIS_PASSWORD": "redis-pass"})),
        ("harbor-s3", json!({"REGISTRY_STORAGE_S3_ACCESSKEY": "a", "REGISTRY_STORAGE_S3_SECRETKEY": "s"})),
        ("harbor-tls", json!({"tls.crt": "c", "tls.key": "k"})),
    ] {
        let secret: Secret =
            or_panic(serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data})).map_err(fail("secret")));
        or_panic(secrets.create(&PostParams::default(), &secret).await.map(drop).map_err(fail("user secret")));
    }
    let done = eventually("the adoption to complete", || async { adoption(&admin, NS).await.filter(|a| a.phase == "Adopted") }).await;
    if let Err(e) = done {
        let status = Api::<HarborCluster>::namespaced(admin.clone(), NS).get(RELEASE).await.ok().and_then(|hc| hc.status);
        panic!("{e}\nstatus: {status:#?}");
    }
    check_taken_over(&admin, NS, &install, &before).await;
    assert!(
        install.objects.iter().all(|o| o["metadata"]["name"] != json!(format!("{}-database", install.fullname))),
        "no internal database"
    );
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS)"]
async fn without_spec_adopt_nothing_of_the_chart_install_is_touched() {
    const NS: &str = "untouched";
    let (plane, admin) = or_panic(plane_with_clusters(false, &[NS]).await);
    let mut cluster = imported(json!({}), NS);
    let rendered = or_panic(berth_tests::render(shared_catalog(), &cluster).map_err(fail("render")));
    let install = or_panic(chart_install(&rendered, RELEASE, NS));
    or_panic(lay_down(&admin, NS, &install).await);
    let versions =
        |objects: Vec<Option<Value>>| objects.into_iter().map(|o| o.map(|o| o["metadata"]["resourceVersion"].clone())).collect::<Vec<_>>();
    let mut before = Vec::new();
    for object in &install.objects {
        before.push(live(&admin, NS, object).await);
    }
    let before = versions(before);

    cluster.spec.adopt = None;
    drop(plane.client());
    let operator = Operator::start(&admin, shared_catalog().clone());
    or_panic(
        Api::<HarborCluster>::namespaced(admin.clone(), NS)
            .create(&PostParams::default(), &cluster)
            .await
            .map(drop)
            .map_err(fail("create")),
    );
    let note = or_panic(wait_event(&admin, NS, RELEASE, "AdoptionBlocked").await);
    assert!(note.contains("spec.adopt.helmRelease"), "{note}");
    let hc = or_panic(Api::<HarborCluster>::namespaced(admin.clone(), NS).get(RELEASE).await.map_err(fail("get")));
    let status = hc.status.unwrap_or_default();
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    assert!(status.conditions.iter().any(|c| c.reason == "AdoptionBlocked"), "{:?}", status.conditions);
    let mut after = Vec::new();
    for object in &install.objects {
        after.push(live(&admin, NS, object).await);
    }
    assert_eq!(versions(after), before, "an object of the chart install was written");
    let workloads: Api<DynamicObject> =
        api_for(&admin, NS, &json!({"apiVersion": "apps/v1", "kind": "Deployment"})).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        or_panic(workloads.list(&Default::default()).await.map_err(fail("list")))
            .items
            .iter()
            .all(|d| d.metadata.owner_references.is_none())
    );
    operator.stop().await;
}
