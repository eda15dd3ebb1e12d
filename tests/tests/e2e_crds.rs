//! The CRDs as a user applies them (`kubectl apply --server-side -k crds/`) draw no warning
//! from a real kube-apiserver, and neither does any example HarborCluster: an unknown
//! format, an unknown field or a deprecated construct would each come back as a `Warning`
//! header, which kubectl prints on every apply. Needs etcd and kube-apiserver (envtest
//! convention); ignored by default, run by `.ci/run` when the binaries exist.

use berth_tests::control_plane::ControlPlane;
use berth_tests::operator::PATIENCE;
use berth_tests::{read_example, workspace};
use kube::Client;

/// Server-side applies `body` (YAML) at `path`: the status and the API server's warnings.
async fn try_apply(client: &Client, path: &str, body: &str) -> (http::StatusCode, Vec<String>) {
    let request = http::Request::patch(format!("{path}?fieldManager=berth-e2e&force=true"))
        .header("Content-Type", "application/apply-patch+yaml")
        .body(kube::client::Body::from(body.as_bytes().to_vec()))
        .unwrap_or_else(|e| panic!("building the request: {e}"));
    let response = client.send(request).await.unwrap_or_else(|e| panic!("applying {path}: {e}"));
    let warnings = response.headers().get_all("warning").iter().map(|w| String::from_utf8_lossy(w.as_bytes()).into_owned()).collect();
    (response.status(), warnings)
}

async fn apply(client: &Client, path: &str, body: &str) -> Vec<String> {
    let (status, warnings) = try_apply(client, path, body).await;
    assert!(status.is_success(), "applying {path}: {status}");
    warnings
}

/// The files `crds/kustomization.yaml` lists, as `kubectl apply -k crds/` reads them.
fn crd_files() -> Vec<(String, serde_yaml::Value)> {
    let dir = workspace().join("crds");
    let kustomization: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
    let resources = kustomization["resources"].as_sequence().cloned().unwrap_or_default();
    assert!(!resources.is_empty(), "crds/kustomization.yaml lists no resources");
    resources
        .iter()
        .map(|file| {
            let file = file.as_str().unwrap_or_else(|| panic!("a resource that is not a file name: {file:?}"));
            let text = std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            (file.to_owned(), serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}")))
        })
        .collect()
}

#[tokio::test]
#[ignore = "needs etcd and kube-apiserver (KUBEBUILDER_ASSETS); run by .ci/run when present"]
async fn the_crds_and_every_example_apply_without_a_warning() {
    let plane = ControlPlane::start(false).await.unwrap_or_else(|e| panic!("control plane: {e}"));
    let client = plane.client().unwrap_or_else(|e| panic!("{e}"));

    for (file, crd) in crd_files() {
        let name = crd["metadata"]["name"].as_str().unwrap_or_else(|| panic!("{file} has no name")).to_owned();
        let path = format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}");
        let body = serde_yaml::to_string(&crd).unwrap_or_else(|e| panic!("{e}"));
        let warnings = apply(&client, &path, &body).await;
        assert!(warnings.is_empty(), "applying {file} drew warnings: {warnings:#?}");
    }

    // The examples' HarborClusters, once the CRD is served (it takes the API server a
    // moment; the wait is bounded far above what it needs).
    let deadline = tokio::time::Instant::now() + PATIENCE;
    for example in ["minimal.yaml", "production.yaml", "swift.yaml", "gateway.yaml"] {
        let cluster = read_example(example);
        let namespace = cluster.metadata.namespace.clone().unwrap_or_else(|| "default".to_owned());
        let name = cluster.metadata.name.clone().unwrap_or_default();
        let ns_body = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n");
        apply(&client, &format!("/api/v1/namespaces/{namespace}"), &ns_body).await;
        let body = std::fs::read_to_string(workspace().join("examples").join(example)).unwrap_or_else(|e| panic!("{e}"));
        let path = format!("/apis/berth.dev/v1alpha1/namespaces/{namespace}/harborclusters/{name}");
        let warnings = loop {
            match try_apply(&client, &path, &body).await {
                (http::StatusCode::NOT_FOUND, _) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                (status, warnings) => {
                    assert!(status.is_success(), "applying {example}: {status}");
                    break warnings;
                }
            }
        };
        assert!(warnings.is_empty(), "applying {example} drew warnings: {warnings:#?}");
    }
}
