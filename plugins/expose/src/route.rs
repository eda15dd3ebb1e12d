//! The chart's Gateway API HTTPRoute (`templates/gateway-apis/route.yaml`). k8s-openapi
//! does not model the Gateway API, so the route is built as JSON.

use berth_sdk::Topology;
use berth_sdk::k8s_openapi::serde_json::{Map, Value, json};
use berth_sdk::spec::{ParentRef, RouteExpose};

use crate::{Backend, Backends, CORE_PATHS};

pub(crate) const API_VERSION: &str = "gateway.networking.k8s.io/v1";

pub(crate) fn http_route(topology: &Topology, spec: &RouteExpose, backends: &Backends) -> Value {
    let mut metadata = Map::new();
    metadata.insert("name".to_owned(), json!(format!("{}-route", topology.fullname)));
    metadata.insert("labels".to_owned(), json!(berth_sdk::topology::to_map(&topology.labels)));
    if !spec.annotations.is_empty() {
        metadata.insert("annotations".to_owned(), json!(spec.annotations));
    }

    let mut route_spec = Map::new();
    route_spec.insert("parentRefs".to_owned(), Value::Array(spec.parent_refs.iter().map(parent_ref).collect()));
    // No hostnames means "every hostname the listener accepts", which Gateway API allows.
    if !spec.hostnames.is_empty() {
        route_spec.insert("hostnames".to_owned(), json!(spec.hostnames));
    }
    route_spec.insert("rules".to_owned(), json!([rule(&CORE_PATHS, &backends.core), rule(&["/"], &backends.portal)]));

    json!({
        "apiVersion": API_VERSION,
        "kind": "HTTPRoute",
        "metadata": metadata,
        "spec": route_spec,
    })
}

fn parent_ref(parent: &ParentRef) -> Value {
    let mut out = Map::new();
    out.insert("name".to_owned(), json!(parent.name));
    if let Some(namespace) = &parent.namespace {
        out.insert("namespace".to_owned(), json!(namespace));
    }
    if let Some(section) = &parent.section_name {
        out.insert("sectionName".to_owned(), json!(section));
    }
    Value::Object(out)
}

/// One rule: PathPrefix matches for `paths`, all sent to `backend`. The backend carries
/// no namespace: the route and the Services live in the HarborCluster's namespace, so
/// no ReferenceGrant is involved.
fn rule(paths: &[&str], backend: &Backend) -> Value {
    let matches: Vec<Value> = paths.iter().map(|path| json!({"path": {"type": "PathPrefix", "value": path}})).collect();
    json!({
        "matches": matches,
        "backendRefs": [{"name": backend.service, "port": backend.port}],
    })
}
