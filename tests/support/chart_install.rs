//! A Harbor install as the official Helm chart (v1.19.1) leaves it in a namespace, laid
//! down the way Helm does: every object created by the field manager `helm`, so the API
//! server records Helm as the owner of each field and fills its defaults (a Deployment's
//! `strategy.rollingUpdate` among them).
//!
//! The objects come from Berth's own render of the imported HarborCluster, reshaped to
//! the chart's layout as `../shared/reference/harbor.md` §10 records it: the same names
//! (the chart's fullname), the chart's labels and pod selectors (`release`, `app`,
//! `component`), Helm's annotations, claim templates labelled exactly `{app, chart,
//! heritage, release}`, Deployments left on the default RollingUpdate, the chart's Secret
//! key layout (the registry password as `REGISTRY_CREDENTIAL_PASSWORD` in `-core` and
//! `-jobservice`, `-registry-htpasswd` holding only the bcrypt line, core's database
//! password in `-core`), and the chart-only objects nothing reads (`-registryctl`
//! ConfigMap and Secret, `-exporter` and `-trivy` Secrets). What the pods run is Berth's
//! render: no kubelet runs them here, and what an adoption must get right is the
//! objects' shape and ownership.

use std::collections::BTreeMap;

use berth::render::ClusterRender;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use serde_json::{Map, Value, json};

use crate::operator::fail;

/// One chart Secret's values, by key.
pub type SecretData = BTreeMap<String, String>;

/// What was laid down: every object, and the Secrets' values to compare with later.
pub struct ChartInstall {
    pub release: String,
    pub fullname: String,
    pub objects: Vec<Value>,
    pub secrets: BTreeMap<String, SecretData>,
}

fn chart_labels(release: &str) -> Map<String, Value> {
    let Value::Object(labels) = json!({
        "heritage": "Helm", "release": release, "chart": "harbor", "app": "harbor",
        "app.kubernetes.io/instance": release, "app.kubernetes.io/name": "harbor",
        "app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/part-of": "harbor",
        "app.kubernetes.io/version": "2.15.1",
    }) else {
        unreachable!()
    };
    labels
}

fn selector(release: &str, component: &str) -> Value {
    json!({"release": release, "app": "harbor", "component": component})
}

/// The chart's objects for `rendered` (Berth's render of the imported cluster).
pub fn chart_install(rendered: &ClusterRender, release: &str, namespace: &str) -> Result<ChartInstall, String> {
    let fullname = rendered.topology.fullname.clone();
    let mut objects = Vec::new();
    let mut rendered_names = Vec::new();
    for (component, result) in &rendered.components {
        let render = result.as_ref().map_err(|e| format!("component {component} did not render: {e}"))?;
        for object in &render.objects {
            rendered_names.push((object.kind().to_owned(), object.name().to_owned()));
            // The chart has no PodDisruptionBudgets and no NetworkPolicies.
            if matches!(object.kind(), "PodDisruptionBudget" | "NetworkPolicy") {
                continue;
            }
            objects.push(as_chart_object(Value::Object(object.object.clone()), component, release, namespace));
        }
    }
    let secrets = chart_secrets(rendered, &fullname)?;
    for (name, data) in &secrets {
        objects.push(secret(name, data, release, namespace));
    }
    // The chart-only objects nothing reads, unless Berth renders one of that name.
    let empty = SecretData::new();
    let chart_only = [
        ("ConfigMap", format!("{fullname}-registryctl"), empty.clone()),
        ("Secret", format!("{fullname}-registryctl"), empty.clone()),
        ("Secret", format!("{fullname}-exporter"), secrets.get(&format!("{fullname}-core")).map(exporter_values).unwrap_or_default()),
        (
            "Secret",
            format!("{fullname}-trivy"),
            [("redisURL", "redis://x:6379/5"), ("gitHubToken", "")].iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        ),
    ];
    for (kind, name, data) in chart_only {
        if rendered_names.iter().any(|(k, n)| k == kind && *n == name) {
            continue;
        }
        objects.push(match kind {
            "Secret" => secret(&name, &data, release, namespace),
            _ => labelled(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}),
                "registry",
                release,
                namespace,
            ),
        });
    }
    Ok(ChartInstall { release: release.to_owned(), fullname, objects, secrets })
}

fn exporter_values(core: &SecretData) -> SecretData {
    let mut data = SecretData::new();
    data.insert("HARBOR_ADMIN_PASSWORD".to_owned(), core.get("HARBOR_ADMIN_PASSWORD").cloned().unwrap_or_default());
    data.insert("HARBOR_DATABASE_PASSWORD".to_owned(), core.get("POSTGRESQL_PASSWORD").cloned().unwrap_or_default());
    data
}

/// The generated Secrets in the chart's layout, with fresh values.
fn chart_secrets(rendered: &ClusterRender, fullname: &str) -> Result<BTreeMap<String, SecretData>, String> {
    let mut generated: BTreeMap<String, SecretData> = BTreeMap::new();
    for declaration in &rendered.secrets {
        generated.insert(declaration.name.clone(), berth::secrets::generate(declaration).map_err(fail("generating"))?);
    }
    let names = &rendered.topology.secrets;
    let take = |generated: &mut BTreeMap<String, SecretData>, name: &str| {
        generated.remove(name).ok_or_else(|| format!("no {name} in the inventory"))
    };
    let htpasswd = take(&mut generated, &names.registry_htpasswd)?;
    let registry_password = htpasswd.get("REGISTRY_PASSWD").cloned().ok_or("no registry password")?;
    let mut core = take(&mut generated, &names.core)?;
    core.insert("REGISTRY_CREDENTIAL_PASSWORD".to_owned(), registry_password.clone());
    if let Some(database) = generated.get(&format!("{fullname}-database")) {
        core.insert("POSTGRESQL_PASSWORD".to_owned(), database.get("POSTGRES_PASSWORD").cloned().unwrap_or_default());
    }
    let mut jobservice = take(&mut generated, &names.jobservice)?;
    jobservice.insert("REGISTRY_CREDENTIAL_PASSWORD".to_owned(), registry_password);
    let only_line = htpasswd.into_iter().filter(|(k, _)| k == "REGISTRY_HTPASSWD").collect();
    generated.insert(names.core.clone(), core);
    generated.insert(names.jobservice.clone(), jobservice);
    generated.insert(names.registry_htpasswd.clone(), only_line);
    Ok(generated)
}

fn secret(name: &str, data: &SecretData, release: &str, namespace: &str) -> Value {
    labelled(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "Opaque", "stringData": data}),
        "core",
        release,
        namespace,
    )
}

/// The chart's labels and Helm's annotations on an object, Berth's own removed.
fn labelled(mut object: Value, component: &str, release: &str, namespace: &str) -> Value {
    let mut labels = chart_labels(release);
    labels.insert("component".to_owned(), json!(component));
    let metadata = &mut object["metadata"];
    metadata["namespace"] = json!(namespace);
    metadata["labels"] = Value::Object(labels);
    metadata["annotations"] = json!({"meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": namespace});
    object
}

fn as_chart_object(object: Value, component: &str, release: &str, namespace: &str) -> Value {
    let kind = object["kind"].as_str().unwrap_or_default().to_owned();
    let mut object = labelled(object, component, release, namespace);
    let mut pod_labels = chart_labels(release);
    pod_labels.insert("component".to_owned(), json!(component));
    match kind.as_str() {
        "Deployment" | "StatefulSet" => {
            let spec = &mut object["spec"];
            spec["selector"] = json!({"matchLabels": selector(release, component)});
            spec["template"]["metadata"]["labels"] = Value::Object(pod_labels);
            // The chart's config checksums, which Berth does not render.
            spec["template"]["metadata"]["annotations"] =
                json!({"checksum/configmap": "0123456789abcdef", "checksum/secret": "fedcba9876543210"});
            if let Some(spec) = spec.as_object_mut() {
                // The chart leaves every Deployment on the default RollingUpdate.
                spec.remove("strategy");
            }
            for template in object["spec"]["volumeClaimTemplates"].as_array_mut().into_iter().flatten() {
                template["metadata"]["labels"] = json!({"app": "harbor", "chart": "harbor", "heritage": "Helm", "release": release});
            }
        }
        "Service" => object["spec"]["selector"] = selector(release, component),
        "PersistentVolumeClaim" => {
            object["metadata"]["annotations"]["helm.sh/resource-policy"] = json!("keep");
        }
        _ => {}
    }
    object
}

/// Creates every object as Helm 3 does: a POST with the field manager `helm`.
pub async fn lay_down(client: &Client, namespace: &str, install: &ChartInstall) -> Result<(), String> {
    for object in &install.objects {
        let api = api_for(client, namespace, object)?;
        let typed: DynamicObject = serde_json::from_value(object.clone()).map_err(fail("object"))?;
        let name = typed.metadata.name.clone().unwrap_or_default();
        api.create(&PostParams { field_manager: Some("helm".to_owned()), ..PostParams::default() }, &typed)
            .await
            .map_err(fail(&format!("creating {} {name} as Helm", object["kind"])))?;
    }
    Ok(())
}

/// The API for an object, from its apiVersion and kind.
pub fn api_for(client: &Client, namespace: &str, object: &Value) -> Result<Api<DynamicObject>, String> {
    let api_version = object["apiVersion"].as_str().ok_or("no apiVersion")?;
    let kind = object["kind"].as_str().ok_or("no kind")?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let plural = match kind {
        "Ingress" => "ingresses".to_owned(),
        "NetworkPolicy" => "networkpolicies".to_owned(),
        other => format!("{}s", other.to_lowercase()),
    };
    let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), &plural);
    Ok(Api::namespaced_with(client.clone(), namespace, &resource))
}
