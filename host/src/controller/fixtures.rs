//! Test fixtures for the reconcile scenarios: the bundled plugins, the HarborCluster of
//! `examples/minimal.yaml`, and an API server stand-in that holds the controller to a
//! script: each request must be the next one expected (method, path, query and the body
//! fields that matter), and is answered as the API server would. Anything sent after
//! the script is refused and reported, so a scenario also proves what was *not* sent.
//!
//! No control plane and no clock: the only timeout, [`PATIENCE`], is there to turn a
//! hang into a failure.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

use super::resources::{CHILD_KINDS, ChildKind, child_kind};
use super::{FIELD_MANAGER, FINALIZER, HarborCluster};
use crate::catalog::Catalog;
use crate::plugin_dir::PluginDir;
use crate::policy::{ClusterFacts, PluginSet, Snapshot};
use crate::render::{CLUSTER_LABEL, COMPONENT_LABEL, ClusterRef, ClusterRender, render_planned};
use crate::sandbox::{CacheKey, EngineSettings, Limits, Sandbox};

/// Far above what any scenario needs (a reconcile with warm plugins takes well under a
/// second); it only turns a controller that stopped talking into a failure.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub const NAMESPACE: &str = "registry";
pub const NAME: &str = "demo";
pub const UID: &str = "5d9a4b6e-0000-4000-8000-000000000001";

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The bundled plugins from target/plugins, loaded once per test binary. A minute's
/// deadline: a render takes a millisecond, and a busy machine must not fail a test
/// whose subject is not time.
pub fn catalog() -> &'static Catalog {
    static SHARED: OnceLock<(Sandbox, Catalog)> = OnceLock::new();
    let (_, catalog) = SHARED.get_or_init(|| {
        let dir = workspace().join("target/plugins");
        assert!(dir.join("berth_plugin_core.wasm").is_file(), "no bundled plugins in {}: run `make plugins` first", dir.display());
        let sandbox = sandbox();
        let dir = PluginDir::open(&dir).unwrap_or_else(|e| panic!("{e}"));
        let limits = Limits { deadline: PATIENCE, ..Limits::default() };
        let catalog = Catalog::load_dir(&sandbox, &dir, limits).unwrap_or_else(|e| panic!("{e}"));
        (sandbox, catalog)
    });
    catalog
}

/// A sandbox on the precompiled cache the cross-crate tests keep in target/, so a
/// plugin is compiled once across test binaries and runs, not once per binary (seconds
/// each on a busy machine). Its key lies beside the cache, as a deployer's would.
fn sandbox() -> Sandbox {
    let target = workspace().join("target");
    let key = target.join("berth-test-cache.key");
    if !key.is_file() {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).unwrap_or_else(|e| panic!("{e}"));
        let tmp = key.with_extension(format!("key.{}", std::process::id()));
        std::fs::write(&tmp, bytes).unwrap_or_else(|e| panic!("{}: {e}", tmp.display()));
        // A link is never half-written; a binary that loses the race uses the winner's key.
        let _ = std::fs::hard_link(&tmp, &key);
        let _ = std::fs::remove_file(&tmp);
    }
    let cache = target.join("berth-test-cache");
    Sandbox::with_cache_key(EngineSettings::default(), Some(&cache), &CacheKey::File(key)).unwrap_or_else(|e| panic!("sandbox: {e}"))
}

/// The bundled plugins as the operator runs them without a PluginPolicy.
pub fn plugins() -> Arc<PluginSet> {
    Arc::new(PluginSet::new(Snapshot::bundled(catalog())))
}

/// `examples/minimal.yaml` as the API server hands it to the controller: with a uid, a
/// generation and the finalizer already added (adding it is kube's, not ours).
pub fn cluster() -> HarborCluster {
    let mut hc = crate::manifest::read_cluster(&workspace().join("examples/minimal.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((hc.metadata.name.as_deref(), hc.metadata.namespace.as_deref()), (Some(NAME), Some(NAMESPACE)));
    hc.metadata.uid = Some(UID.to_owned());
    hc.metadata.generation = Some(1);
    hc.metadata.resource_version = Some("1".to_owned());
    hc.metadata.finalizers = Some(vec![FINALIZER.to_owned()]);
    hc
}

/// What the bundled plugins render for `hc`: what the controller must apply.
pub fn render(hc: &HarborCluster) -> ClusterRender {
    let labels = Default::default();
    let plan = Snapshot::bundled(catalog()).plan(&ClusterFacts { uid: UID, labels: &labels, spec: &hc.spec });
    render_planned(&plan, &ClusterRef { name: NAME, namespace: NAMESPACE, uid: UID, spec: &hc.spec })
        .unwrap_or_else(|e| panic!("render: {e}"))
}

/// A client whose every request goes to the returned [`ApiServer`].
pub fn client() -> (Client, ApiServer) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, NAMESPACE), ApiServer { handle })
}

/// One request the controller must send next, and the answer it gets.
pub struct Expect {
    method: Method,
    path: String,
    /// Query parameters that must be present, decoded.
    query: Vec<(&'static str, String)>,
    /// The Accept header must contain this (metadata-only reads).
    accept: Option<&'static str>,
    check: Option<Check>,
    answer: Answer,
}

type Check = Box<dyn FnOnce(&Value) + Send>;

pub enum Answer {
    /// 200 with this body.
    Json(Value),
    /// 200 with the request's body as stored: resourceVersion (and generation, for
    /// workloads) added, as the API server answers a create or an apply.
    Stored,
    /// A refusal with this code and message.
    Refuse(u16, &'static str),
}

impl Expect {
    fn new(method: Method, path: String, answer: Answer) -> Expect {
        Expect { method, path, query: Vec::new(), accept: None, check: None, answer }
    }

    /// Checks the request body (JSON; `null` when empty).
    pub fn body(mut self, check: impl FnOnce(&Value) + Send + 'static) -> Expect {
        self.check = Some(Box::new(check));
        self
    }

    pub fn answer(mut self, answer: Answer) -> Expect {
        self.answer = answer;
        self
    }

    /// One kind's LIST of this cluster's children (by its label), answered with those
    /// of `live` that are of the kind.
    pub fn list(kind: &ChildKind, live: &[Value]) -> Expect {
        let items: Vec<Value> =
            live.iter().filter(|o| o["kind"] == kind.kind && o["apiVersion"] == kind.api_version().as_str()).cloned().collect();
        let list = json!({
            "apiVersion": kind.api_version(), "kind": format!("{}List", kind.kind),
            "metadata": {"resourceVersion": "1"}, "items": items,
        });
        let mut expect = Expect::new(Method::GET, collection(kind), Answer::Json(list));
        expect.query.push(("labelSelector", format!("{CLUSTER_LABEL}={NAME}")));
        expect
    }

    /// The LIST of the namespace's HarborRestores, answered empty: nothing holds the cluster.
    pub fn no_restores() -> Expect {
        let list =
            json!({"apiVersion": "berth.dev/v1alpha1", "kind": "HarborRestoreList", "metadata": {"resourceVersion": "1"}, "items": []});
        Expect::new(Method::GET, "/apis/berth.dev/v1alpha1/namespaces/registry/harborrestores".to_owned(), Answer::Json(list))
    }

    /// A metadata-only GET of one object, answered 404: it does not exist.
    pub fn lookup(kind: &ChildKind, name: &str) -> Expect {
        let mut expect = Expect::new(Method::GET, format!("{}/{name}", collection(kind)), Answer::Refuse(404, "not found"));
        expect.accept = Some("as=PartialObjectMetadata");
        expect
    }

    /// A server-side apply of one object with Berth's field manager, forced.
    pub fn apply(kind: &ChildKind, name: &str) -> Expect {
        let mut expect = Expect::new(Method::PATCH, format!("{}/{name}", collection(kind)), Answer::Stored);
        expect.query.push(("fieldManager", FIELD_MANAGER.to_owned()));
        expect.query.push(("force", "true".to_owned()));
        expect
    }

    /// A create of a Secret with Berth's field manager.
    pub fn create_secret(name: &str) -> Expect {
        let name = name.to_owned();
        let kind = kind("v1", "Secret");
        let mut expect = Expect::new(Method::POST, collection(kind), Answer::Stored);
        expect.query.push(("fieldManager", FIELD_MANAGER.to_owned()));
        expect.body(move |body| assert_eq!(body["metadata"]["name"], name.as_str(), "created another Secret"))
    }

    /// A background delete of one object.
    pub fn delete(kind: &ChildKind, name: &str) -> Expect {
        let success = json!({"apiVersion": "v1", "kind": "Status", "status": "Success", "code": 200});
        Expect::new(Method::DELETE, format!("{}/{name}", collection(kind)), Answer::Json(success))
            .body(|body| assert_eq!(body["propagationPolicy"], "Background", "{body}"))
    }

    /// An Event about the HarborCluster with this type and reason, whose note contains
    /// `note`.
    pub fn event(type_: &'static str, reason: &'static str, action: &'static str, note: impl Into<String>) -> Expect {
        let note = note.into();
        let path = format!("/apis/events.k8s.io/v1/namespaces/{NAMESPACE}/events");
        Expect::new(Method::POST, path, Answer::Stored).body(move |body| {
            assert_eq!((body["type"].as_str(), body["reason"].as_str()), (Some(type_), Some(reason)), "{body:#}");
            assert_eq!(body["action"], action, "{body:#}");
            assert_eq!(body["reportingController"], "berth", "{body:#}");
            assert_eq!((&body["regarding"]["kind"], &body["regarding"]["name"]), (&json!("HarborCluster"), &json!(NAME)));
            assert_eq!(body["regarding"]["uid"], UID);
            let text = body["note"].as_str().unwrap_or_default();
            assert!(text.contains(note.as_str()), "the {reason} Event says {text:?}, not {note:?}");
        })
    }

    /// The status, server-side applied with Berth's field manager; `check` gets the
    /// status. Answered with the HarborCluster carrying it.
    pub fn status(hc: &HarborCluster, check: impl FnOnce(&Value) + Send + 'static) -> Expect {
        let path = format!("/apis/berth.dev/v1alpha1/namespaces/{NAMESPACE}/harborclusters/{NAME}/status");
        let stored = serde_json::to_value(hc).unwrap_or_else(|e| panic!("{e}"));
        let mut expect = Expect::new(Method::PATCH, path, Answer::Json(stored));
        expect.query.push(("fieldManager", FIELD_MANAGER.to_owned()));
        expect.query.push(("force", "true".to_owned()));
        expect.body(move |body| {
            assert_eq!((body["apiVersion"].as_str(), body["kind"].as_str()), (Some("berth.dev/v1alpha1"), Some("HarborCluster")));
            check(&body["status"]);
        })
    }
}

/// The table entry for a kind, which a test names by hand.
pub fn kind(api_version: &str, kind: &str) -> &'static ChildKind {
    child_kind(api_version, kind).unwrap_or_else(|| panic!("{api_version} {kind} is not a child kind"))
}

/// What a reconcile reads first: whether a HarborRestore holds the cluster (none), then
/// the LISTs of the cluster's children, in the controller's kind order.
pub fn reads(live: &[Value]) -> Vec<Expect> {
    std::iter::once(Expect::no_restores()).chain(CHILD_KINDS.iter().map(|kind| Expect::list(kind, live))).collect()
}

/// A child of the cluster as the API server lists it. `owner` gives it this
/// HarborCluster's controller reference.
pub fn child(api_version: &str, kind: &str, name: &str, component: &str, owner: bool) -> Value {
    let mut object = json!({
        "apiVersion": api_version, "kind": kind,
        "metadata": {"name": name, "namespace": NAMESPACE, "resourceVersion": "1",
                     "labels": {CLUSTER_LABEL: NAME, COMPONENT_LABEL: component}},
    });
    if owner {
        object["metadata"]["ownerReferences"] = json!([owner_reference()]);
    }
    object
}

/// The owner reference every prunable child must carry.
pub fn owner_reference() -> Value {
    json!({"apiVersion": "berth.dev/v1alpha1", "kind": "HarborCluster", "name": NAME, "uid": UID,
           "controller": true, "blockOwnerDeletion": true})
}

fn collection(kind: &ChildKind) -> String {
    let group_version =
        if kind.group.is_empty() { format!("/api/{}", kind.version) } else { format!("/apis/{}/{}", kind.group, kind.version) };
    format!("{group_version}/namespaces/{NAMESPACE}/{}", kind.plural)
}

/// One request as the API server saw it, and the body it answered with.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub body: Value,
    pub answer: Value,
}

impl Seen {
    pub fn is_write(&self) -> bool {
        self.method != Method::GET
    }
}

/// What the API server saw: the script's requests, then any it did not expect.
#[derive(Debug, Default)]
pub struct Transcript {
    pub seen: Vec<Seen>,
    /// The first expected request that never came, if the controller stopped early.
    pub missing: Option<String>,
    pub unexpected: Vec<String>,
}

pub struct ApiServer {
    handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
}

impl ApiServer {
    /// Answers `script` in order; a request that is not the next one expected fails the
    /// scenario. After the script, each request is answered 500 and noted as unexpected,
    /// until the client is dropped.
    pub fn serve(mut self, script: Vec<Expect>) -> tokio::task::JoinHandle<Transcript> {
        tokio::spawn(async move {
            let mut transcript = Transcript::default();
            let total = script.len();
            for (step, expect) in script.into_iter().enumerate() {
                let Some((request, respond)) = self.handle.next_request().await else {
                    // Not a panic here: the reconcile's own result says why it stopped.
                    transcript.missing = Some(format!("request {} of {total} ({} {}) never came", step + 1, expect.method, expect.path));
                    return transcript;
                };
                let (parts, body) = request.into_parts();
                let body = read_body(body).await;
                let sent = format!("{} {}", parts.method, parts.uri);
                assert_eq!((&parts.method, parts.uri.path()), (&expect.method, expect.path.as_str()), "request {} of {total}", step + 1);
                let query = query_pairs(parts.uri.query().unwrap_or_default());
                for (key, value) in &expect.query {
                    assert!(query.iter().any(|(k, v)| k == key && v == value), "{sent}: no {key}={value}");
                }
                if let Some(accept) = expect.accept {
                    let header = parts.headers.get(http::header::ACCEPT).and_then(|h| h.to_str().ok()).unwrap_or_default();
                    assert!(header.contains(accept), "{sent}: Accept {header:?} lacks {accept}");
                }
                if let Some(check) = expect.check {
                    check(&body);
                }
                let (status, answer) = match expect.answer {
                    Answer::Json(value) => (StatusCode::OK, value),
                    Answer::Stored => (StatusCode::OK, stored(body.clone())),
                    Answer::Refuse(code, message) => refusal(code, message),
                };
                respond.send_response(response(status, &answer));
                transcript.seen.push(Seen { method: parts.method, path: parts.uri.path().to_owned(), body, answer });
            }
            while let Some((request, respond)) = self.handle.next_request().await {
                transcript.unexpected.push(format!("{} {}", request.method(), request.uri()));
                let (status, body) = refusal(500, "not in the scenario's script");
                respond.send_response(response(status, &body));
            }
            transcript
        })
    }
}

/// Waits for the script to end (the controller's client must be dropped first), passing
/// on a failed expectation as this test's failure.
pub async fn transcript(server: tokio::task::JoinHandle<Transcript>) -> Transcript {
    match tokio::time::timeout(PATIENCE, server).await {
        Ok(Ok(transcript)) => transcript,
        Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Ok(Err(e)) => panic!("the API server task: {e}"),
        Err(_) => panic!("the API server still had requests to answer after {PATIENCE:?}: is a Client still alive?"),
    }
}

async fn read_body(body: Body) -> Value {
    let bytes = body.collect_bytes().await.unwrap_or_else(|e| panic!("request body: {e}"));
    if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("request body: {e}")) }
}

/// A created or applied object as the API server stores it.
fn stored(mut object: Value) -> Value {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.insert("resourceVersion".to_owned(), json!("1"));
        metadata.entry("namespace").or_insert(json!(NAMESPACE));
    }
    if matches!(object["kind"].as_str(), Some("Deployment" | "StatefulSet")) {
        object["metadata"]["generation"] = json!(1);
    }
    object
}

/// A refusal as the API server words it: kube tells a missing object by its reason.
fn refusal(code: u16, message: &str) -> (StatusCode, Value) {
    let reason = match code {
        404 => "NotFound",
        409 => "AlreadyExists",
        422 => "Invalid",
        _ => "InternalError",
    };
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "message": message, "reason": reason, "code": code}))
}

fn response(status: StatusCode, body: &Value) -> Response<Body> {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|e| panic!("{e}"));
    Response::builder().status(status).body(Body::from(bytes)).unwrap_or_else(|e| panic!("{e}"))
}

fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect()
}

/// Percent-decoding of a query component (kube encodes `/` and `=` in selectors).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (byte, hex) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (other, _) => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
