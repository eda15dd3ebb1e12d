//! The operator run in-process for the end-to-end suites, and the waiting helpers they
//! share. `berth::controller::run_with` runs on a tokio task, so a test can stop it,
//! start it again, swap its plugins, and read its write counter.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth::catalog::Catalog;
use berth::controller::policy_sync::PolicySources;
use berth::controller::{Context, Options, run_with};
use berth::plugin_dir::PluginDir;
use berth::policy::{PluginSet, Snapshot};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt as _};
use serde_json::Value;

use crate::control_plane::ControlPlane;

/// Maps an error to "what: error", for `?` in tests that return `Result<_, String>`.
pub fn fail<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

pub fn or_panic<T>(result: Result<T, String>) -> T {
    result.unwrap_or_else(|e| panic!("{e}"))
}

/// How long a test waits for something to happen. What the end-to-end tests check is
/// that it happens, never how fast: on a busy 2-core machine a reconcile that takes a
/// second can take thirty, so every wait is this, far above what the work needs.
pub const PATIENCE: Duration = Duration::from_secs(180);

/// Polls `check` every 250 ms until it returns a value or [`PATIENCE`] runs out.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let timeout = PATIENCE;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if Instant::now() > deadline {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Creates a CRD from its generated YAML.
pub async fn install_crd(client: &Client, yaml: Result<String, serde_yaml::Error>) -> Result<(), String> {
    let yaml = yaml.map_err(fail("CRD"))?;
    let crd: CustomResourceDefinition = serde_yaml::from_str(&yaml).map_err(fail("CRD YAML"))?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &crd).await.map_err(fail("creating the CRD")).map(drop)
}

/// A control plane (with garbage collection when `gc`) serving the HarborCluster CRD,
/// with `namespaces` created.
pub async fn plane_with_clusters(gc: bool, namespaces: &[&str]) -> Result<(ControlPlane, Client), String> {
    let plane = ControlPlane::start(gc).await?;
    let client = plane.client()?;
    install_crd(&client, berth::crd::harbor_cluster_crd_yaml()).await?;
    for ns in namespaces {
        let namespace: k8s_openapi::api::core::v1::Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).map_err(fail("namespace"))?;
        Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .map_err(fail("namespace"))?;
    }
    let clusters: Api<berth::HarborCluster> = Api::all(client.clone());
    eventually("the CRD to be served", || async { clusters.list(&kube::api::ListParams::default()).await.ok() }).await?;
    Ok((plane, client))
}

/// As [`plane_with_clusters`], serving the PluginPolicy CRD too.
pub async fn plane_with_policies(gc: bool, namespaces: &[&str]) -> Result<(ControlPlane, Client), String> {
    let (plane, client) = plane_with_clusters(gc, namespaces).await?;
    install_crd(&client, berth::crd::plugin_policy_crd_yaml()).await?;
    let policies: Api<berth::policy::PluginPolicy> = Api::all(client.clone());
    eventually("the PluginPolicy CRD to be served", || async { policies.list(&kube::api::ListParams::default()).await.ok() }).await?;
    Ok((plane, client))
}

/// A permissive stand-in for the Gateway API HTTPRoute CRD (which a bare API server
/// lacks): it lets the dry run check the route's envelope, not its schema.
pub fn httproute_crd() -> Value {
    serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": "httproutes.gateway.networking.k8s.io",
            // The API server protects *.k8s.io groups; "unapproved" is the documented escape.
            "annotations": {"api-approved.kubernetes.io": "unapproved, berth test stand-in"}
        },
        "spec": {
            "group": "gateway.networking.k8s.io",
            "names": {"kind": "HTTPRoute", "plural": "httproutes", "singular": "httproute", "listKind": "HTTPRouteList"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    })
}

/// The operator running in-process.
pub struct Operator {
    pub context: Arc<Context>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Operator {
    /// With a fixed set of plugins and no PluginPolicy.
    pub fn start(client: &Client, catalog: Catalog) -> Operator {
        let plugins = Arc::new(PluginSet::new(Snapshot::bundled(&catalog)));
        Operator::with_context(Context::new(client.clone(), plugins))
    }

    /// Following PluginPolicies: the bundled plugins, and policy `file` sources in
    /// target/test-plugins.
    pub fn with_policies(client: &Client) -> Operator {
        let plugins = Arc::new(PluginSet::new(Snapshot::bundled(crate::shared_catalog())));
        let dir = PluginDir::open(&crate::test_plugins()).unwrap_or_else(|e| panic!("{e}"));
        let sources = PolicySources { sandbox: Arc::new(crate::sandbox()), dir: Some(Arc::new(dir)), pull: Default::default() };
        Operator::with_context(Context::new(client.clone(), plugins).with_policy(sources))
    }

    pub fn with_context(context: Context) -> Operator {
        Operator::with_options(context, Options { debounce: Duration::from_millis(200), ..Options::default() })
    }

    pub fn with_options(context: Context, options: Options) -> Operator {
        let context = Arc::new(context);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run_with(context.clone(), options, async move {
            let _ = stopped.await;
        }));
        Operator { context, stop: Some(stop), task }
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Graceful: reconciles in flight finish first.
        let _ = tokio::time::timeout(PATIENCE, &mut self.task).await;
    }

    /// Kills the operator mid-flight: no graceful shutdown.
    pub fn kill(&self) {
        self.task.abort();
    }

    pub fn writes(&self) -> u64 {
        self.context.metrics.total_writes()
    }

    /// Waits until the operator has made no write for `quiet`, after at least one more
    /// reconcile than `after`.
    pub async fn settle(&self, after: u64) -> Result<(), String> {
        let quiet = Duration::from_secs(3);
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut last = (self.writes(), Instant::now());
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let writes = self.writes();
            if writes != last.0 {
                last = (writes, Instant::now());
            } else if last.1.elapsed() >= quiet && self.context.metrics.reconciles() > after {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("the operator did not settle: writes {:?}", self.context.metrics.writes()));
            }
        }
    }
}

/// A client that acts as deploy/rbac.yaml's ServiceAccount (impersonation).
pub async fn service_account_client(plane: &ControlPlane) -> Result<Client, String> {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&plane.kubeconfig_yaml()).map_err(fail("kubeconfig"))?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default()).await.map_err(fail("kubeconfig"))?;
    config.auth_info.impersonate = Some("system:serviceaccount:berth-system:berth".to_owned());
    config.auth_info.impersonate_groups = Some(vec!["system:serviceaccounts".to_owned(), "system:authenticated".to_owned()]);
    Client::try_from(config).map_err(fail("client"))
}

/// Server-side applies every document of a deploy/ file.
pub async fn apply_deploy_file(client: &Client, file: &str) -> Result<(), String> {
    let path = crate::workspace().join("deploy").join(file);
    let text = std::fs::read_to_string(&path).map_err(fail("deploy file"))?;
    for document in text.split("\n---").filter(|d| d.lines().any(|l| l.starts_with("kind:"))) {
        let value: Value = serde_yaml::from_str(document).map_err(fail("YAML"))?;
        let object: DynamicObject = serde_json::from_value(value.clone()).map_err(fail("object"))?;
        let types = object.types.clone().ok_or("a document without apiVersion and kind")?;
        let (plural, namespaced) = match types.kind.as_str() {
            "Namespace" => ("namespaces", false),
            "ServiceAccount" => ("serviceaccounts", true),
            "ClusterRole" => ("clusterroles", false),
            "ClusterRoleBinding" => ("clusterrolebindings", false),
            "Role" => ("roles", true),
            "RoleBinding" => ("rolebindings", true),
            other => return Err(format!("the test does not apply {other}")),
        };
        let gvk = kube::api::GroupVersionKind::try_from(&types).map_err(fail("gvk"))?;
        let resource = kube::api::ApiResource::from_gvk_with_plural(&gvk, plural);
        let api: Api<DynamicObject> = match object.namespace() {
            Some(ns) if namespaced => Api::namespaced_with(client.clone(), &ns, &resource),
            _ => Api::all_with(client.clone(), &resource),
        };
        api.patch(&object.name_any(), &PatchParams::apply("e2e").force(), &Patch::Apply(&value))
            .await
            .map_err(fail("applying a deploy/ object"))?;
    }
    Ok(())
}

/// The API server's request counters or durations (`apiserver_request_total`,
/// `apiserver_request_duration_seconds_sum`, ...), summed by "VERB resource[/sub]".
pub async fn api_server_requests(client: &Client, metric: &str) -> Result<std::collections::BTreeMap<String, f64>, String> {
    let request = http::Request::get("/metrics").body(Vec::new()).map_err(fail("request"))?;
    let text = client.request_text(request).await.map_err(fail("API server metrics"))?;
    let mut sums = std::collections::BTreeMap::new();
    let prefix = format!("{metric}{{");
    for line in text.lines().filter(|l| l.starts_with(&prefix)) {
        let field = |name: &str| line.split(&format!("{name}=\"")).nth(1).and_then(|rest| rest.split('"').next()).unwrap_or_default();
        let value: f64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or_default();
        let subresource = field("subresource");
        let key = format!(
            "{} {}{}",
            field("verb"),
            field("resource"),
            if subresource.is_empty() { String::new() } else { format!("/{subresource}") }
        );
        *sums.entry(key).or_default() += value;
    }
    Ok(sums)
}

/// The notes of the Events with `reason` about the object named `regarding`.
pub async fn events(client: &Client, namespace: &str, regarding: &str, reason: &str) -> Vec<String> {
    use k8s_openapi::api::events::v1::Event;
    let list = Api::<Event>::namespaced(client.clone(), namespace).list(&kube::api::ListParams::default()).await;
    list.map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason) && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(regarding))
        .filter_map(|e| e.note)
        .collect()
}

/// Waits (up to [`PATIENCE`]) for an Event with `reason` about `regarding`; its note.
pub async fn wait_event(client: &Client, namespace: &str, regarding: &str, reason: &str) -> Result<String, String> {
    let what = format!("a {reason} Event about {regarding}");
    eventually(&what, || async { events(client, namespace, regarding, reason).await.into_iter().next() }).await
}
