//! A portal renderer that oversteps on purpose, for the tests of the host's output
//! guardrails. It renders the real portal, then breaks one rule, chosen by the
//! HarborCluster's name (`request.cluster.name`) containing one of the words of
//! [`BREACHES`] (first match wins, so no word is another's substring before it). Any
//! other name renders just the portal, which shows the same plugin passes the
//! guardrails when it behaves.
//!
//! Appended objects are named `<topology.fullname>-portal-breaker` (inside the portal's
//! name space, so only the rule under test is broken) unless the breach is the name.

#![forbid(unsafe_code)]

// The real portal renderer, compiled in (see plugins/portal/src/render.rs for why not a
// dependency).
#[path = "../../../../plugins/portal/src/render.rs"]
mod portal;

use portal::Portal;

use berth_sdk::{GeneratedKey, GeneratedSecret, SecretValue};
use berth_sdk::{PluginDescription, RenderError, RenderRequest, Rendered, Renderer};
use serde_json::{Value, json};

/// An image outside every allowed registry.
const EVIL_IMAGE: &str = "evil.example.com/miner:1.0";

/// (word in the cluster name, what the render then does).
const BREACHES: &[(&str, &str)] = &[
    ("clusterscoped", "appends a v1 Namespace, a cluster-scoped kind"),
    ("rbac", "appends a rbac.authorization.k8s.io/v1 Role"),
    ("kind", "appends a batch/v1 CronJob, a kind the portal never renders"),
    ("registry", "points the portal container at evil.example.com"),
    ("initimage", "adds an init container from evil.example.com"),
    ("imagevolume", "mounts an image volume from evil.example.com"),
    ("apigroup", "appends a Deployment of evil.example.com/v1"),
    ("secretdecl", "declares core's Secret (its token-signing key)"),
    ("bigkey", "declares an 8192-bit RSA key"),
    ("secret", "appends a v1 Secret"),
    ("takeover", "appends ConfigMap/kube-root-ca.crt, outside its name space"),
    ("privileged", "makes the portal container privileged"),
    ("hostpath", "mounts the node's / as a hostPath"),
    ("hostnetwork", "puts the portal pod on the host network"),
    ("rootuser", "runs the portal as uid 0"),
    ("sysadmin", "adds the SYS_ADMIN capability"),
    ("nodename", "pins the portal pod to a node"),
    ("tolerate", "tolerates every taint"),
    ("token", "mounts a service-account token"),
    ("owner", "gives every object a bogus owner reference and a finalizer (stripped by the host)"),
];

pub struct GuardrailBreaker;

impl Renderer for GuardrailBreaker {
    fn describe() -> PluginDescription {
        PluginDescription { name: "guardrail-breaker".to_owned(), version: "0.9.0".to_owned(), ..Portal::describe() }
    }

    fn render(request: &RenderRequest) -> Result<Rendered, RenderError> {
        let cluster = &request.cluster.name;
        let Some((breach, _)) = BREACHES.iter().find(|(word, _)| cluster.contains(word)) else {
            return Portal::render(request);
        };
        let portal = Portal::render(request)?.into_output();
        let fullname = &request.topology.fullname;
        let name = format!("{fullname}-portal-breaker");
        let labels = request.topology.component("portal")?.labels();

        let mut out = Rendered::default();
        for json in &portal.objects {
            let mut object: Value = serde_json::from_str(json)
                .map_err(|e| RenderError::Internal(format!("the portal rendered an object that is not JSON: {e}")))?;
            if object.get("kind").and_then(Value::as_str) == Some("Deployment") {
                break_pod(breach, &mut object["spec"]["template"]["spec"]);
            }
            if *breach == "owner" {
                object["metadata"]["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "bait", "uid": "00000000-0000-0000-0000-000000000000", "controller": true}]);
                object["metadata"]["finalizers"] = json!(["example.com/never"]);
            }
            out.raw_object(&object);
        }
        for secret in portal.secrets {
            out.secret(secret);
        }
        for condition in portal.conditions {
            out.condition(condition);
        }
        let rsa = |bits| GeneratedKey {
            key: "tls.key".to_owned(),
            value: SecretValue::RsaKeyWithCert(berth_sdk::wit::RsaKeyWithCert {
                bits,
                common_name: "x".to_owned(),
                validity_days: 365,
                certificate_key: "tls.crt".to_owned(),
            }),
        };
        match *breach {
            "secretdecl" => {
                out.secret(GeneratedSecret { name: request.topology.secrets.core.clone(), keys: vec![rsa(2048)] });
            }
            "bigkey" => {
                out.secret(GeneratedSecret { name: name.clone(), keys: vec![rsa(8192)] });
            }
            _ => {}
        }
        let extra = match *breach {
            "clusterscoped" => Some(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})),
            "rbac" => Some(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name, "labels": labels},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
            })),
            "kind" => Some(json!({
                "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "labels": labels},
                "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                    "restartPolicy": "OnFailure",
                    "containers": [{"name": "breaker", "image": "docker.io/goharbor/harbor-portal:v2.14.0"}],
                }}}}},
            })),
            "apigroup" => Some(json!({
                "apiVersion": "evil.example.com/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
                "spec": {"template": {"spec": {"containers": [{"name": "x", "image": EVIL_IMAGE}]}}},
            })),
            "secret" => Some(json!({
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "labels": labels}, "stringData": {"a": "b"},
            })),
            "takeover" => Some(json!({
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt", "labels": labels},
                "data": {"ca.crt": "not the cluster's"},
            })),
            _ => None,
        };
        if let Some(extra) = extra {
            out.raw_object(&extra);
        }
        Ok(out)
    }
}

/// Breaks the portal's pod spec the way `breach` says (if it is about pods).
fn break_pod(breach: &str, pod: &mut Value) {
    let container = &mut pod["containers"][0];
    match breach {
        "registry" => container["image"] = json!(EVIL_IMAGE),
        "initimage" => {
            let mut init = container.clone();
            init["name"] = json!("init");
            init["image"] = json!(EVIL_IMAGE);
            pod["initContainers"] = json!([init]);
        }
        "imagevolume" => push(pod, "volumes", json!({"name": "payload", "image": {"reference": EVIL_IMAGE}})),
        "privileged" => container["securityContext"]["privileged"] = json!(true),
        "sysadmin" => container["securityContext"]["capabilities"]["add"] = json!(["SYS_ADMIN"]),
        "rootuser" => pod["securityContext"]["runAsUser"] = json!(0),
        "hostpath" => push(pod, "volumes", json!({"name": "root", "hostPath": {"path": "/"}})),
        "hostnetwork" => pod["hostNetwork"] = json!(true),
        "nodename" => pod["nodeName"] = json!("node-1"),
        "tolerate" => pod["tolerations"] = json!([{"operator": "Exists"}]),
        "token" => pod["automountServiceAccountToken"] = json!(true),
        _ => {}
    }
}

fn push(pod: &mut Value, list: &str, item: Value) {
    match pod.get_mut(list).and_then(Value::as_array_mut) {
        Some(items) => items.push(item),
        None => pod[list] = json!([item]),
    }
}

berth_sdk::export_renderer!(GuardrailBreaker);
