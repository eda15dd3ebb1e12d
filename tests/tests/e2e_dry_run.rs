//! Every example's rendered objects are accepted by a real kube-apiserver (server-side
//! apply, dry run). Needs etcd and kube-apiserver (envtest convention); the tests are
//! ignored by default and `.ci/run` runs them with `--ignored` when the binaries exist.

use berth_tests::control_plane::ControlPlane;
use berth_tests::operator::httproute_crd;
use berth_tests::{bundled_catalog, read_example, render, sandbox};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::{Discovery, Scope};
use serde_json::Value;

async fn apply_crd(client: &kube::Client, crd: Value) {
    let api: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> = Api::all(client.clone());
    let crd = serde_json::from_value(crd).unwrap_or_else(|e| panic!("{e}"));
    api.create(&PostParams::default(), &crd).await.unwrap_or_else(|e| panic!("creating a CRD: {e}"));
}

#[tokio::test]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS); run by .ci/run when present"]
async fn every_example_passes_a_server_side_dry_run() {
    let plane = ControlPlane::start(false).await.unwrap_or_else(|e| panic!("control plane: {e}"));
    let client = plane.client().unwrap_or_else(|e| panic!("{e}"));
    apply_crd(&client, httproute_crd()).await;
    let harbor_crd: Value = serde_json::to_value(
        serde_yaml::from_str::<serde_yaml::Value>(&berth::crd::harbor_cluster_crd_yaml().unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    apply_crd(&client, harbor_crd).await;
    // CRDs take a moment to be served.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;

    let sandbox = sandbox();
    let catalog = bundled_catalog(&sandbox);
    let discovery = Discovery::new(client.clone()).run().await.unwrap_or_else(|e| panic!("discovery: {e}"));
    let mut checked = 0;
    for example in ["minimal.yaml", "production.yaml", "swift.yaml", "gateway.yaml"] {
        let cluster = read_example(example);
        let namespace = cluster.metadata.namespace.clone().unwrap_or_else(|| "default".to_owned());
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        let ns = serde_json::from_value(serde_json::json!({"metadata": {"name": namespace}})).unwrap_or_else(|e| panic!("{e}"));
        let _ = namespaces.create(&PostParams::default(), &ns).await;

        // The HarborCluster itself must pass the CRD's schema.
        let mut objects: Vec<Value> = vec![serde_json::to_value(&cluster).unwrap_or_else(|e| panic!("{e}"))];
        let rendered = render(&catalog, &cluster).unwrap_or_else(|e| panic!("{example}: {e}"));
        let errors: Vec<String> = rendered.errors().map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{example}: {errors:?}");
        objects.extend(rendered.objects().into_iter().map(|o| Value::Object(o.object.clone())));

        for object in objects {
            let api_version = object["apiVersion"].as_str().unwrap_or_default().to_owned();
            let kind = object["kind"].as_str().unwrap_or_default().to_owned();
            let name = object["metadata"]["name"].as_str().unwrap_or_default().to_owned();
            let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
            let gvk = kube::api::GroupVersionKind::gvk(group, version, &kind);
            let (resource, caps) =
                discovery.resolve_gvk(&gvk).unwrap_or_else(|| panic!("{example}: the API server does not serve {api_version} {kind}"));
            let api: Api<DynamicObject> = if caps.scope == Scope::Namespaced {
                Api::namespaced_with(client.clone(), &namespace, &resource)
            } else {
                Api::all_with(client.clone(), &resource)
            };
            let params = PatchParams::apply("berth").dry_run();
            api.patch(&name, &params, &Patch::Apply(&object))
                .await
                .unwrap_or_else(|e| panic!("{example}: {kind} {name} refused by the API server: {e}"));
            checked += 1;
        }
    }
    println!("server-side dry run accepted {checked} objects (logs: {})", plane.log_dir().display());
    assert!(checked > 20);
}
